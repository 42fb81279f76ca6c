//! `dcbench`: the benchmarks behind `make bench` (see BENCHMARKS.md).
//!
//! `dcbench run` is the driver: it starts the simulator, runs every measured program as a child
//! process (so each one's wall time and peak RSS are its own, read with `wait4`) and prints the
//! table. The other subcommands are the measured programs that are not `dcconn` itself: the
//! floor, the native reference and the instantiation loop.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use dcbench::{PASSWORD_VARIABLE, driver, fleet, floor, native};
use serde_json::json;

#[derive(Parser)]
#[command(about = "The Duck Creek connector's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every benchmark and print the results.
    Run(driver::RunArgs),
    /// The fleet: imports per minute of many endpoints with 1, 2, 3 workers, and provisioning
    /// tasks per second, through Temporal on PostgreSQL.
    Fleet(fleet::FleetArgs),
    /// The floor: the same responses parsed by quick-xml into the same rows, written to SQLite.
    Floor {
        /// The endpoint URL.
        #[arg(long)]
        endpoint: String,
        /// The store to create.
        #[arg(long)]
        db: PathBuf,
    },
    /// The native reference: dcconn's import job over the connector built natively.
    Native {
        /// The connection (as `dcconn -c`).
        #[arg(long)]
        connection: PathBuf,
        /// The endpoint URL.
        #[arg(long)]
        endpoint: String,
        /// The store to create.
        #[arg(long)]
        db: PathBuf,
    },
    /// Instantiates the component COUNT times from the compiled-component cache.
    Instantiate {
        /// The component.
        #[arg(long)]
        component: PathBuf,
        /// The compiled-component cache folder.
        #[arg(long)]
        cache: PathBuf,
        /// How many instantiations.
        #[arg(long, default_value_t = 1000)]
        count: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => driver::run(&args),
        Command::Fleet(args) => fleet::run(&args),
        Command::Floor { endpoint, db } => {
            let started = Instant::now();
            let counts = floor::run(&endpoint, "dcadmin", &password()?, &db)?;
            let elapsed = started.elapsed();
            println!(
                "{}",
                json!({
                    "accounts": counts.accounts,
                    "links": counts.links,
                    "entitlements": counts.entitlements,
                    "bytes": counts.bytes,
                    "elapsedMs": elapsed.as_secs_f64() * 1000.0,
                })
            );
            Ok(())
        }
        Command::Native {
            connection,
            endpoint,
            db,
        } => {
            let mut connection = dcconn::connection::load(&connection)?;
            connection.set("SOAP_ENDPOINT", endpoint);
            connection.set("USERNAME", "dcadmin");
            connection.set("PASSWORD", password()?);
            let report = native::run(&connection, &db)?;
            println!(
                "{}",
                json!({
                    "accounts": report.summary.accounts,
                    "links": report.summary.links,
                    "entitlements": report.summary.entitlements,
                    "elapsedMs": report.elapsed.as_secs_f64() * 1000.0,
                    "timingsMs": report.timings.milliseconds(),
                })
            );
            Ok(())
        }
        Command::Instantiate {
            component,
            cache,
            count,
        } => instantiate(&component, &cache, count),
    }
}

fn password() -> Result<String> {
    std::env::var(PASSWORD_VARIABLE).with_context(|| format!("{PASSWORD_VARIABLE} is not set"))
}

/// Times `count` instantiations of the cached component (each a fresh store and instance, as
/// every job gets) and prints the median and the 99th percentile in microseconds.
fn instantiate(component: &std::path::Path, cache: &std::path::Path, count: usize) -> Result<()> {
    let loading = Instant::now();
    let runtime = dcconn::runtime::Runtime::load(component, Some(cache))?;
    let load_ms = loading.elapsed().as_secs_f64() * 1000.0;
    let mut micros = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let started = Instant::now();
        let instance = runtime.instantiate(
            dcconn::policy::AllowList::none(),
            dcconn::secrets::Secrets::default(),
        )?;
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        drop(instance);
    }
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q) as usize];
    println!(
        "{}",
        json!({ "loadMs": load_ms, "medianUs": at(0.5), "p99Us": at(0.99), "count": micros.len() })
    );
    Ok(())
}
