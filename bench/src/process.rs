//! Running a measured program as a child process: its wall time, and from `wait4` its own peak
//! RSS and CPU time (user + system), which no other process's usage can blur.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// What one run of a child cost, and what it printed.
#[derive(Debug, Clone)]
pub struct Measured {
    /// From spawn to exit.
    pub wall: Duration,
    /// Its peak resident set, in bytes.
    pub peak_rss: u64,
    /// CPU time, user and system.
    pub cpu: Duration,
    /// Its standard output.
    pub stdout: String,
}

impl Measured {
    /// The standard output as JSON (the measured programs print one JSON object).
    pub fn json(&self) -> Result<serde_json::Value> {
        let start = self.stdout.find('{').unwrap_or(0);
        serde_json::from_str(&self.stdout[start..])
            .with_context(|| format!("the output is not JSON: {}", self.stdout))
    }
}

/// Runs `command` to its end in `scratch` (for its output files) and measures it; a failure
/// (non-zero exit) is an error with what it printed.
pub fn measure(mut command: Command, scratch: &Path) -> Result<Measured> {
    let out_path = scratch.join("child.out");
    let err_path = scratch.join("child.err");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(File::create(&out_path)?))
        .stderr(Stdio::from(File::create(&err_path)?));
    let started = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {command:?}"))?;
    let (status, usage) = wait4(child)?;
    let wall = started.elapsed();
    let stdout = std::fs::read_to_string(&out_path)?;
    if status != 0 {
        let stderr = std::fs::read_to_string(&err_path)?;
        bail!("{command:?} exited with {status}:\n{stdout}{stderr}");
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(Measured {
        wall,
        peak_rss: usage.ru_maxrss as u64 * 1024,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        stdout,
    })
}

/// Waits for `child`; its exit code (or 128 + signal) and its resource usage.
pub fn wait4(child: Child) -> Result<(i32, libc::rusage)> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for (`Child` never waits on its own), and
    // both out-pointers are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Ok((code, usage))
}
