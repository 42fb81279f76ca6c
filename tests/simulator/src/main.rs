//! The `dcsim` binary: runs the Duck Creek simulator until SIGINT/SIGTERM.
//!
//! ```text
//! dcsim [--users N] [--seed S] [--port P] [--username U] [--port-file PATH]
//!       [--token-lifetime-ms N [--token-max-uses N] [--client-id ID]
//!        [--client-secret SECRET] [--expired-answer http401|soap-fault:CODE]]
//! ```
//!
//! The password comes from `DCSIM_PASSWORD` (default `dcadmin-secret`) and is
//! never printed. Once listening it prints
//! `dcsim listening on http://127.0.0.1:PORT (N users, seed S)` and, with
//! `--port-file`, writes the port number to that file (atomically, via a
//! temporary file and a rename).
//!
//! `--token-lifetime-ms` turns token mode on (see `dcsim::token`); the other
//! token flags need it, and default to the [`TokenMode`] defaults. In token
//! mode a second line follows:
//! `dcsim token URL: http://127.0.0.1:PORT/oauth/token (lifetime N ms)`.
//! The client secret is never printed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use std::time::Duration;

use dcsim::{ExpiredAnswer, SimConfig, Simulator, TokenMode};

/// What `dcsim --help` says after the options: where things are and how to drive it.
const AFTER_HELP: &str = "\
Endpoint:
  POST http://127.0.0.1:PORT/dc/services   the Duck Creek XML/SOAP endpoint (SOAP 1.1 or a bare
                                           <server> document); point dcconn at it with
                                           --set SOAP_ENDPOINT=http://127.0.0.1:PORT/dc/services

Credentials (what Session.loginRq accepts):
  user name   --username (default dcadmin)
  password    the environment variable DCSIM_PASSWORD (default dcadmin-secret); never printed

Admin API (JSON, on the same port; the README's \"Try it by hand\" shows it in use):
  GET|PUT|DELETE /admin/users/NAME          a user; a PUT body is the whole user as GET
                                            returns it (fields left out take their defaults)
  GET|PUT|DELETE /admin/roles/NAME, /admin/privileges/NAME, /admin/entities/NAME
  POST /admin/faults                        make the next matching requests misbehave, e.g.
                                            {\"kind\": \"http-status\", \"status\": 503, \"count\": 1}
                                            (also soap-fault, failure-status, reset, truncate,
                                            stall, pause, ...); GET lists, DELETE clears them
  DELETE /admin/stalls                      release stalled and paused responses
  GET|DELETE /admin/requests                the Duck Creek operations received (with the
                                            request bodies as they came, credentials included)
  GET /admin/state                          counts of users, roles, privileges, entities, requests
  The full table: tests/simulator/src/admin.rs; every fault: tests/simulator/src/fault.rs.

Token gateway:
  --token-lifetime-ms N turns it on: POST http://127.0.0.1:PORT/oauth/token issues tokens
  (grant_type=client_credentials with --client-id and --client-secret, defaults dcconn and
  gateway-secret; or grant_type=password with the credentials above), and the endpoint then
  wants `Authorization: Bearer TOKEN`; GET /admin/tokens counts them.

Example:
  DCSIM_PASSWORD=demo-secret dcsim --users 20 --port 8099
  curl -s -X POST http://127.0.0.1:8099/admin/faults -d '{\"kind\": \"http-status\", \"status\": 503}'
";

/// A Duck Creek simulator (loopback only).
#[derive(Parser, Debug)]
#[command(name = "dcsim", version, about, after_help = AFTER_HELP)]
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
    /// Token mode on: tokens from /oauth/token live this many milliseconds.
    #[arg(long, value_name = "N")]
    token_lifetime_ms: Option<u64>,
    /// Token mode: a token expires after this many accepted calls.
    #[arg(long, value_name = "N", requires = "token_lifetime_ms")]
    token_max_uses: Option<u64>,
    /// Token mode: the accepted client_id (default dcconn).
    #[arg(long, requires = "token_lifetime_ms")]
    client_id: Option<String>,
    /// Token mode: the accepted client_secret (default gateway-secret).
    #[arg(long, requires = "token_lifetime_ms")]
    client_secret: Option<String>,
    /// Token mode: how an expired token is answered: http401 or
    /// soap-fault:<code>.
    #[arg(long, value_name = "ANSWER", requires = "token_lifetime_ms")]
    expired_answer: Option<ExpiredAnswer>,
}

impl Args {
    /// The token mode the flags ask for, if any.
    fn token_mode(&self) -> Option<TokenMode> {
        let defaults = TokenMode::default();
        Some(TokenMode {
            lifetime: Duration::from_millis(self.token_lifetime_ms?),
            max_uses: self.token_max_uses,
            client_id: self.client_id.clone().unwrap_or(defaults.client_id),
            client_secret: self.client_secret.clone().unwrap_or(defaults.client_secret),
            expired_answer: self
                .expired_answer
                .clone()
                .unwrap_or(defaults.expired_answer),
            ticket_header: None,
        })
    }
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
    let token = args.token_mode();
    let config = SimConfig {
        users: args.users,
        seed: args.seed,
        username: args.username,
        password,
        token,
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
    if let Some(ms) = args.token_lifetime_ms {
        println!("dcsim token URL: {} (lifetime {ms} ms)", sim.token_url());
    }
    runtime.block_on(stop);
    drop(sim);
    Ok(())
}
