//! The `dcsim` binary: runs the Duck Creek simulator until SIGINT/SIGTERM.
//!
//! ```text
//! dcsim [--users N] [--seed S] [--port P] [--username U] [--port-file PATH]
//! ```
//!
//! The password comes from `DCSIM_PASSWORD` (default `dcadmin-secret`) and is
//! never printed. Once listening it prints
//! `dcsim listening on http://127.0.0.1:PORT (N users, seed S)` and, with
//! `--port-file`, writes the port number to that file (atomically, via a
//! temporary file and a rename).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use dcsim::{SimConfig, Simulator};

/// A Duck Creek simulator (loopback only).
#[derive(Parser, Debug)]
#[command(name = "dcsim", version, about)]
struct Args {
    /// Number of users to generate.
    #[arg(long, default_value_t = 50)]
    users: usize,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Port on 127.0.0.1 (0: ephemeral).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// User name accepted by Session.loginRq (password: env DCSIM_PASSWORD).
    #[arg(long, default_value = "dcadmin")]
    username: String,
    /// Write the listening port to this file once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
}

fn write_port_file(path: &Path, port: u16) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{port}\n"))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Waits for SIGINT or SIGTERM (handlers are installed before the server
/// announces itself, so an early signal is not lost).
#[cfg(unix)]
fn signal_waiter(
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<impl Future<Output = ()> + use<>> {
    use tokio::signal::unix::{SignalKind, signal};
    let _guard = runtime.enter();
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// Waits for Ctrl-C.
#[cfg(not(unix))]
fn signal_waiter(
    _runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<impl Future<Output = ()> + use<>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let password = std::env::var("DCSIM_PASSWORD").unwrap_or_else(|_| "dcadmin-secret".to_owned());
    let config = SimConfig {
        users: args.users,
        seed: args.seed,
        username: args.username,
        password,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the signal runtime")?;
    let stop = signal_waiter(&runtime)?;
    let sim = Simulator::start_on(config, args.port)?;
    if let Some(path) = &args.port_file {
        write_port_file(path, sim.port())?;
    }
    println!(
        "dcsim listening on {} ({} users, seed {})",
        sim.base_url(),
        args.users,
        args.seed
    );
    runtime.block_on(stop);
    drop(sim);
    Ok(())
}
