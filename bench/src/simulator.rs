//! A `dcsim` child process on a free loopback port, stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

/// The password the simulators accept (the measured programs read it from
/// [`crate::PASSWORD_VARIABLE`]).
pub const PASSWORD: &str = "bench-secret";

/// A simulator child process, stopped when dropped.
pub struct Simulator {
    child: Child,
    /// `http://127.0.0.1:PORT`: its admin API is under `/admin`.
    pub base: String,
    /// Its Duck Creek endpoint, `{base}/dc/services`.
    pub endpoint: String,
}

impl Simulator {
    /// Starts `dcsim` of the folder `bin` with `users` generated users from `seed`, and waits
    /// until it accepts connections.
    pub fn start(bin: &Path, users: usize, seed: u64) -> Result<Simulator> {
        let mut child = Command::new(bin.join("dcsim"))
            .args(["--users", &users.to_string(), "--seed", &seed.to_string()])
            .env("DCSIM_PASSWORD", PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start dcsim (build it with `make build`)")?;
        // It prints `dcsim listening on http://127.0.0.1:PORT (...)` once it accepts.
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(url) = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
        else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("dcsim said {line:?}");
        };
        Ok(Simulator {
            base: url.to_owned(),
            endpoint: format!("{url}/dc/services"),
            child,
        })
    }

    /// Its process id (for its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
