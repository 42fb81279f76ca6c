//! The fleet's commands: `dcconn worker`, `dcconn schedule add|list|remove|trigger`, and
//! `import|enable|disable --via`. The work is in [`crate::fleet`]; here are the arguments, the
//! worker's connections folder and the printing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::args::{ConnectionArgs, ImportArgs, ProvisionArgs};
use super::{Cli, Failure, apply_override, exit, load_runtime, note, present, print, profile};
use crate::connection::{self, Connection};
use crate::fleet::activities::Connections;
use crate::fleet::schedules::{self, NewSchedule};
use crate::fleet::{
    self, DEFAULT_NAMESPACE, DEFAULT_TASK_QUEUE, FleetError, ImportJob, JobOutcome, ProvisionJob,
    RunOptions, Target, worker,
};
use crate::jobs::JobError;
use crate::store::TaskKind;

/// Where Temporal is.
#[derive(Debug, Clone, Args)]
pub struct TemporalArgs {
    /// The Temporal frontend (gRPC), HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", env = "DCCONN_TEMPORAL")]
    pub temporal: String,
    /// The Temporal namespace.
    #[arg(long, value_name = "NS", default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// The task queue the workers poll.
    #[arg(long, value_name = "QUEUE", default_value = DEFAULT_TASK_QUEUE)]
    pub task_queue: String,
}

impl TemporalArgs {
    fn target(&self) -> Target {
        Target {
            address: self.temporal.clone(),
            namespace: self.namespace.clone(),
            task_queue: self.task_queue.clone(),
        }
    }
}

/// `--via`: run the job through the fleet instead of here.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Fleet")]
pub struct ViaArgs {
    /// Run this job on the fleet's workers through Temporal at HOST:PORT and wait for its
    /// outcome; -c then names a connection of the workers' --connections folder, whose
    /// secrets stay with the workers (no --set, --set-env, --set-file).
    #[arg(long, value_name = "HOST:PORT")]
    pub via: Option<String>,
    /// The Temporal namespace (with --via).
    #[arg(long, value_name = "NS", default_value = DEFAULT_NAMESPACE, requires = "via")]
    pub namespace: String,
    /// The task queue the workers poll (with --via).
    #[arg(long, value_name = "QUEUE", default_value = DEFAULT_TASK_QUEUE, requires = "via")]
    pub task_queue: String,
}

/// How an import runs in the fleet.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Fleet")]
pub struct FleetImportArgs {
    /// Seconds without a heartbeat after which a worker is taken for dead and the import is
    /// retried on another one.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub heartbeat_timeout_secs: u64,
    /// Attempts at most (a dead worker's included).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// The wait after a first failed attempt, in milliseconds; it doubles after each.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub attempt_backoff_ms: u64,
}

/// `dcconn worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Temporal.
    #[command(flatten)]
    pub temporal: TemporalArgs,
    /// The connections workflows name: `config.toml` in it, a profiles file whose profile NAME
    /// is the connection NAME (its file, --set, --set-env and --set-file entries), else
    /// `NAME.json` or `NAME.zip` as they are.
    #[arg(long, value_name = "DIR")]
    pub connections: PathBuf,
    /// Imports run at most at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_imports: u16,
    /// Provisioning attempts run at most at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_tasks: u16,
    /// Seconds running activities may take to finish after SIGTERM; those still running then
    /// are given back to Temporal, which retries them on another worker.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub grace_secs: u64,
    /// Serve Prometheus metrics on this address (`/metrics`), e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
}

/// `dcconn schedule`.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Import an endpoint on a schedule (cron expressions in a time zone); a fire that finds
    /// an import of the endpoint running is skipped.
    Add(ScheduleAddArgs),
    /// List the import schedules and their next fire times.
    List {
        /// Temporal.
        #[command(flatten)]
        temporal: TemporalArgs,
    },
    /// Delete an endpoint's import schedule.
    Remove(ScheduleEndpointArgs),
    /// Fire an endpoint's import schedule now.
    Trigger(ScheduleEndpointArgs),
}

/// `schedule add`.
#[derive(Debug, Args)]
pub struct ScheduleAddArgs {
    /// The endpoint.
    pub endpoint: String,
    /// The connection's name in the workers' --connections folder (default: the endpoint).
    #[arg(long, short = 'c', value_name = "NAME")]
    pub connection: Option<String>,
    /// A cron expression (`MIN HOUR DAY MONTH WEEKDAY`), e.g. "0 2 * * *" (Temporal's forms:
    /// also @daily, @every 6h, a 6th field for the year); repeat for more.
    #[arg(long, required = true, value_name = "EXPR")]
    pub cron: Vec<String>,
    /// The IANA time zone the expressions are read in.
    #[arg(long, default_value = "UTC", value_name = "ZONE")]
    pub timezone: String,
    /// Records per batch (0: the component's default).
    #[arg(long, default_value_t = 0)]
    pub batch: u32,
    /// How long an import's lease on its endpoint lasts unless renewed, in milliseconds.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1_000..=3_600_000))]
    pub lease_ms: u64,
    /// How the import runs in the fleet.
    #[command(flatten)]
    pub fleet: FleetImportArgs,
    /// Temporal.
    #[command(flatten)]
    pub temporal: TemporalArgs,
}

/// `schedule remove|trigger`.
#[derive(Debug, Args)]
pub struct ScheduleEndpointArgs {
    /// The endpoint.
    pub endpoint: String,
    /// Temporal.
    #[command(flatten)]
    pub temporal: TemporalArgs,
}

/// `dcconn worker`: runs until SIGTERM.
pub(super) fn worker(cli: &Cli, args: &WorkerArgs) -> Result<u8, Failure> {
    let folder = ConnectionsFolder::new(&args.connections)?;
    // A store the worker cannot use is said now, not by the first job it takes.
    drop(super::open_store(cli)?);
    let runtime = Arc::new(load_runtime(cli)?);
    let settings = worker::WorkerSettings {
        target: args.temporal.target(),
        connections: Arc::new(folder),
        db: cli.db.clone(),
        runtime,
        max_imports: usize::from(args.max_imports),
        max_tasks: usize::from(args.max_tasks),
        grace: std::time::Duration::from_secs(args.grace_secs),
        metrics: args.metrics,
    };
    let queue = args.temporal.task_queue.clone();
    let address = args.temporal.temporal.clone();
    let store = crate::store::Location::of(&cli.db).shown();
    let ready = move |metrics: Option<SocketAddr>| {
        let served = metrics.map_or_else(String::new, |at| {
            format!("; metrics on http://{at}/metrics")
        });
        note(format!(
            "worker polling task queue {queue} at {address}; store {store}{served}"
        ));
    };
    worker::run(settings, &ready).map_err(|error| Failure {
        code: match &error {
            worker::WorkerError::Fleet(error) => error.exit_code(),
            worker::WorkerError::Metrics { .. } => exit::USAGE,
            _ => exit::INTERNAL,
        },
        message: error.to_string(),
    })?;
    note("worker stopped");
    Ok(exit::OK)
}

/// `dcconn schedule ...`.
pub(super) fn schedule(command: &ScheduleCommand) -> Result<u8, Failure> {
    match command {
        ScheduleCommand::Add(args) => {
            let endpoint = super::checked_endpoint(&args.endpoint)?;
            let connection = args.connection.clone().unwrap_or_else(|| endpoint.clone());
            checked_connection_name(&connection).map_err(|problem| usage(&problem))?;
            let job = ImportJob {
                connection,
                endpoint,
                scope: "all".to_owned(),
                batch: args.batch,
                json: false,
                run: run_options(&args.fleet, args.lease_ms),
            };
            let new = NewSchedule {
                job,
                cron: args.cron.clone(),
                timezone: args.timezone.clone(),
            };
            let target = args.temporal.target();
            let id = on_temporal(&args.temporal, |client| async move {
                schedules::add(&client, &target, new).await
            })?;
            print(|out| writeln!(out, "added schedule {id}"))
        }
        ScheduleCommand::List { temporal } => {
            let entries = on_temporal(
                temporal,
                |client| async move { schedules::list(&client).await },
            )?;
            print(|out| {
                writeln!(out, "SCHEDULE{:32}  PAUSED  NEXT{:17}  WHEN", "", "")?;
                for entry in &entries {
                    let paused = if entry.paused { "yes" } else { "no" };
                    let next = entry.next.first().map_or("", String::as_str);
                    let what = crate::printable::printable(&entry.what);
                    writeln!(out, "{:<40}  {paused:<6}  {next:<21}  {what}", entry.id)?;
                }
                Ok(())
            })
        }
        ScheduleCommand::Remove(args) => {
            let endpoint = args.endpoint.clone();
            let id = on_temporal(&args.temporal, |client| async move {
                schedules::remove(&client, &endpoint).await
            })?;
            print(|out| writeln!(out, "removed schedule {id}"))
        }
        ScheduleCommand::Trigger(args) => {
            let endpoint = args.endpoint.clone();
            let id = on_temporal(&args.temporal, |client| async move {
                schedules::trigger(&client, &endpoint).await
            })?;
            print(|out| writeln!(out, "triggered schedule {id}"))
        }
    }
}

/// `dcconn import --via`.
pub(super) fn import_via(args: &ImportArgs, via: &str) -> Result<u8, Failure> {
    let outcome = import_through_fleet(args, via).inspect_err(|failure| {
        // What the local command prints with --json when the import cannot begin.
        if args.json {
            // The endpoint is --endpoint, else the connection's name.
            let endpoint = args
                .endpoint
                .as_deref()
                .or(args.connection.connection.to_str());
            let _ = super::print(|out| super::output::import_refused(out, endpoint, failure));
        }
    })?;
    present(&outcome)
}

/// Runs the import of `import --via` and waits for its outcome.
fn import_through_fleet(args: &ImportArgs, via: &str) -> Result<JobOutcome, Failure> {
    let connection = connection_name(&args.connection)?;
    if args.dry_run || args.accept_removals.is_some() || args.wait.is_some() {
        return Err(usage(
            "--dry-run, --accept-removals and --wait are not offered with --via",
        ));
    }
    let endpoint = super::checked_endpoint(args.endpoint.as_deref().unwrap_or(&connection))?;
    let job = ImportJob {
        connection,
        endpoint,
        scope: scope_name(args.scope).to_owned(),
        batch: args.batch,
        json: args.json,
        run: run_options(&args.fleet, args.lease_ms),
    };
    let target = via_target(via, &args.via);
    run_async(fleet::client::import(&target, job))
}

/// `dcconn enable|disable --via`.
pub(super) fn provision_via(
    args: &ProvisionArgs,
    kind: TaskKind,
    via: &str,
) -> Result<u8, Failure> {
    let connection = connection_name(&args.connection)?;
    if args.dry_run || args.queue {
        return Err(usage("--dry-run and --queue are not offered with --via"));
    }
    let endpoint = super::checked_endpoint(args.endpoint.as_deref().unwrap_or(&connection))?;
    let job = ProvisionJob {
        connection,
        endpoint,
        account: args.account().to_owned(),
        kind: kind.to_string(),
        max_tries: args.max_tries,
        backoff_ms: args.retry.backoff_ms,
        max_backoff_ms: args.retry.max_backoff_ms,
        lease_ms: args.retry.lease_ms,
    };
    let target = via_target(via, &args.via);
    let outcome = run_async(fleet::client::provision(&target, job))?;
    present(&outcome)
}

fn via_target(via: &str, args: &ViaArgs) -> Target {
    Target {
        address: via.to_owned(),
        namespace: args.namespace.clone(),
        task_queue: args.task_queue.clone(),
    }
}

fn run_options(args: &FleetImportArgs, lease_ms: u64) -> RunOptions {
    RunOptions {
        heartbeat_timeout_secs: args.heartbeat_timeout_secs,
        max_attempts: args.max_attempts,
        backoff_ms: args.attempt_backoff_ms,
        lease_ms,
    }
}

fn scope_name(scope: super::args::ScopeArg) -> &'static str {
    match scope {
        super::args::ScopeArg::All => "all",
        super::args::ScopeArg::Accounts => "accounts",
        super::args::ScopeArg::Access => "access",
    }
}

/// The connection `-c` names with `--via`: a name of the workers' folder; its secrets stay there.
fn connection_name(args: &ConnectionArgs) -> Result<String, Failure> {
    if !(args.set.is_empty() && args.set_env.is_empty() && args.set_file.is_empty()) {
        return Err(usage(
            "--set, --set-env and --set-file are not offered with --via: the workers' connections folder holds each connection's attributes and where its secrets are",
        ));
    }
    let name = args.connection.to_string_lossy().into_owned();
    checked_connection_name(&name).map_err(|problem| usage(&problem))?;
    Ok(name)
}

/// A connection name: a file name in the folder, without a path.
fn checked_connection_name(name: &str) -> Result<(), String> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(crate::printable::is_escaped);
    if plain {
        return Ok(());
    }
    Err(format!(
        "{} is not a connection name: with --via or in a schedule, the connection (-c, else the endpoint) is one of the workers' --connections folder (NAME, as in NAME.json or a profile NAME of its config.toml)",
        crate::printable::printable(name)
    ))
}

fn usage(message: &str) -> Failure {
    Failure {
        message: message.to_owned(),
        code: exit::USAGE,
    }
}

/// Runs `job` with a client of `temporal`.
fn on_temporal<T, F>(
    temporal: &TemporalArgs,
    job: impl FnOnce(temporalio_client::Client) -> F,
) -> Result<T, Failure>
where
    F: std::future::Future<Output = Result<T, FleetError>>,
{
    let target = temporal.target();
    run_async(async move {
        let client = fleet::client::connect(&target, &fleet::client::identity("client")).await?;
        job(client).await
    })
}

/// Runs a client future on a runtime of its own.
fn run_async<T>(
    future: impl std::future::Future<Output = Result<T, FleetError>>,
) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| Failure {
            message: format!("cannot start the client's runtime: {error}"),
            code: exit::INTERNAL,
        })?;
    runtime.block_on(future).map_err(|error| Failure {
        code: error.exit_code(),
        message: error.to_string(),
    })
}

/// A worker's connections folder (`--connections DIR`).
struct ConnectionsFolder {
    dir: PathBuf,
}

impl ConnectionsFolder {
    fn new(dir: &Path) -> Result<Self, Failure> {
        if !dir.is_dir() {
            return Err(usage(&format!(
                "--connections {} is not a folder: give the folder of the connections workflows name",
                dir.display()
            )));
        }
        Ok(ConnectionsFolder {
            dir: dir.to_path_buf(),
        })
    }

    /// The connection of profile `name` in `config.toml`, when there is that profile.
    fn profile_named(&self, name: &str) -> Option<Result<Connection, Failure>> {
        let config = self.dir.join("config.toml");
        if !config.is_file() {
            return None;
        }
        let early = profile::Early {
            profile: Some(name.to_owned()),
            config: Some(config),
            ..profile::Early::default()
        };
        let profile = match profile::load_chosen(&early) {
            Ok(Some(profile)) => profile,
            Ok(None) => return None,
            Err(failure) if failure.code == exit::USAGE => return None,
            Err(failure) => return Some(Err(failure)),
        };
        Some(profile_connection(&profile))
    }

    /// `NAME.json` or `NAME.zip` in the folder, as it is.
    fn file_named(&self, name: &str) -> Option<Result<Connection, Failure>> {
        let path = ["json", "zip"]
            .iter()
            .map(|extension| self.dir.join(format!("{name}.{extension}")))
            .find(|path| path.is_file())?;
        Some(
            connection::load(&path)
                .map_err(|error| Failure::from_job(&JobError::Connection(error), None)),
        )
    }
}

impl Connections for ConnectionsFolder {
    fn load(&self, name: &str) -> Result<Connection, JobOutcome> {
        let refused = |failure: Failure| JobOutcome::failed(failure.code, failure.message);
        if let Err(problem) = checked_connection_name(name) {
            return Err(JobOutcome::failed(exit::CONFIGURATION, problem));
        }
        let found = self.profile_named(name).or_else(|| self.file_named(name));
        match found {
            Some(loaded) => loaded.map_err(refused),
            None => Err(JobOutcome::failed(
                exit::CONFIGURATION,
                format!(
                    "this worker has no connection {name}: its --connections folder {} holds neither a profile {name} in config.toml nor {name}.json; add it there (on every worker)",
                    self.dir.display()
                ),
            )),
        }
    }
}

/// A profile's connection with its overrides applied (secrets read from this machine's
/// environment and files, as `--profile` does).
fn profile_connection(profile: &profile::Profile) -> Result<Connection, Failure> {
    let Some(path) = &profile.connection else {
        return Err(Failure {
            message: format!(
                "the profile {} in {} names no connection file (connection = \"...\")",
                profile.name,
                profile.file.display()
            ),
            code: exit::CONFIGURATION,
        });
    };
    let mut connection = connection::load(path)
        .map_err(|error| Failure::from_job(&JobError::Connection(error), None))?;
    for entry in &profile.overrides {
        apply_override(&mut connection, entry)?;
    }
    Ok(connection)
}
