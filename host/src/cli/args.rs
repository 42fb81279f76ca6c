//! The command-line arguments (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use std::time::Duration;

use super::assignment::Assignment;
use crate::model::{CorrelationRule, ImportScope};
use crate::runtime::Limits;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  internal failure: the store, the component or the host itself; db check: the store
     is damaged
  2  usage: wrong arguments, or no endpoint to choose; a filter naming an endpoint,
     entitlement type or account the store does not have; a run import --accept-removals
     cannot accept; a task tasks cancel cannot cancel (it has ended, or does not exist);
     no store at --db for a command that does not create one, a file that is not a dcconn
     store, or an older store a command that reads does not migrate (dcconn db migrate);
     --profile names no profile of the profiles file, or there is no such file
  3  configuration: the connection file or its attributes are invalid, or the profiles file
  4  authentication: Duck Creek or its token gateway refused the credentials (nothing is
     retried: fix them first)
  5  remote: HTTP error, SOAP fault, failed operation, unexpected response, network failure,
     or a request the egress policy denied
  6  withheld: the import completed, but a threshold (STATUS_THRESHOLD_CONFIG) withheld its
     removals; nothing was removed
  7  busy: another import of the endpoint is running (import --wait waits for it), the
     import lost its lease to another, another process held the store's write lock
     longer than 5 s, or a worker holds a task to cancel

Secrets: give PASSWORD (and any other secret) with --set-env PASSWORD=VARIABLE or
--set-file PASSWORD=PATH so it never appears on a command line.";

/// dcconn: imports Duck Creek accounts and access through the sandboxed connector component.
#[derive(Debug, Parser)]
#[command(name = "dcconn", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The store: a SQLite file, or a PostgreSQL database shared by a fleet
    /// (postgres://USER@HOST:PORT/DATABASE; a password from PGPASSWORD).
    #[arg(long, global = true, env = "DCCONN_DB", default_value = "dcconn.db")]
    pub db: PathBuf,
    /// The connector component (.wasm); default: beside dcconn, in <prefix>/share/dcconn, in
    /// $XDG_DATA_HOME/dcconn (~/.local/share/dcconn), or in the cargo target folder.
    #[arg(long, global = true, env = "DCCONN_COMPONENT")]
    pub component: Option<PathBuf>,
    /// Take defaults for the connection, its overrides, the store, the endpoint and the
    /// component from this profile of the profiles file; flags and their variables win.
    #[arg(long, global = true, env = "DCCONN_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// The profiles file (default: $XDG_CONFIG_HOME/dcconn/config.toml, else
    /// ~/.config/dcconn/config.toml); read only when a profile is chosen.
    #[arg(long, global = true, env = "DCCONN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The chosen profile, as loaded (not an argument).
    #[arg(skip)]
    pub loaded_profile: Option<super::profile::Profile>,
    /// Compile the component without reading or writing the compiled-component cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Print only results and errors: no progress, no notes, no logs.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log what the job does on stderr: -v for its steps, -vv for every batch and attempt.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// How logs are written: lines of text, or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The limits the component runs under.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The limits the component runs under (see the README's "Security model").
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// CPU time one call into the component may use.
    #[arg(long, global = true, value_name = "MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub limit_cpu_ms: u64,
    /// The most memory the component may have.
    #[arg(long, global = true, value_name = "MIB", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub limit_memory_mib: u64,
    /// The largest response body passed to the component.
    #[arg(long, global = true, value_name = "MIB", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub limit_response_mib: u64,
    /// How long a job may run.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 43_200,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub limit_job_secs: u64,
    /// The longest a connection attempt may take, whatever the component asks.
    #[arg(long, global = true, value_name = "MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub connect_timeout_ms: u64,
    /// The longest wait for the first byte of a response.
    #[arg(long, global = true, value_name = "MS", default_value_t = 300_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub first_byte_timeout_ms: u64,
    /// The longest pause between two parts of a response body.
    #[arg(long, global = true, value_name = "MS", default_value_t = 120_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub between_bytes_timeout_ms: u64,
}

impl LimitArgs {
    /// The limits these flags say.
    pub fn limits(&self) -> Limits {
        Limits {
            cpu_per_call: Duration::from_millis(self.limit_cpu_ms),
            memory_bytes: self.limit_memory_mib << 20,
            max_response_bytes: self.limit_response_mib << 20,
            job_deadline: Duration::from_secs(self.limit_job_secs),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            first_byte_timeout: Duration::from_millis(self.first_byte_timeout_ms),
            between_bytes_timeout: Duration::from_millis(self.between_bytes_timeout_ms),
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a connection without sending anything: every problem, with where it is.
    Validate(ValidateArgs),
    /// Log in to Duck Creek and out again.
    Test(TestArgs),
    /// Import accounts and access into the store.
    Import(ImportArgs),
    /// List the stored accounts with their columns, status and entitlements.
    Accounts(ListArgs),
    /// List the stored entitlements.
    Entitlements(EntitlementArgs),
    /// List the import runs.
    Runs(ListArgs),
    /// Show what an import run changed (its audit trail).
    Changes(ChangesArgs),
    /// Enable (unlock) an account: a task, run at once unless --queue.
    Enable(ProvisionArgs),
    /// Disable (lock) an account: a task, run at once unless --queue.
    Disable(ProvisionArgs),
    /// The retry job: run every pending provisioning task of the endpoint, with backoff
    /// between tries, until each is COMPLETE or PROVISIONING FAILED (--due-only: what is due
    /// now, once, then exit).
    Retry(RetryArgs),
    /// List the provisioning tasks (--status, --account), or cancel some.
    Tasks(super::tasks::TasksArgs),
    /// Manage the identities (the platform's users) accounts are correlated to.
    #[command(subcommand)]
    Identities(IdentitiesCommand),
    /// Show one stored object in full.
    #[command(subcommand)]
    Show(ShowCommand),
    /// Write an import run's report: counts by status and type, charts, what changed.
    Report(ReportArgs),
    /// Saviynt transport packages.
    #[command(subcommand)]
    Package(PackageCommand),
    /// The store's upkeep: check it, back it up, prune old runs' changes, migrate it.
    #[command(subcommand)]
    Db(super::db::DbCommand),
    /// Run a fleet worker: the imports and provisioning tasks Temporal hands out, on this
    /// machine's connections (--connections) and store (--db), until SIGTERM.
    Worker(super::fleet_commands::WorkerArgs),
    /// Endpoints' import schedules in the fleet (Temporal Schedules).
    #[command(subcommand)]
    Schedule(super::fleet_commands::ScheduleCommand),
    /// Print a completion script for a shell, e.g. `dcconn completions bash >
    /// /etc/bash_completion.d/dcconn`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `show`.
#[derive(Debug, Subcommand)]
pub enum ShowCommand {
    /// An account: its columns, entitlements, owner and status, every change runs made to it
    /// (its status history included) and its provisioning tasks.
    Account {
        /// The account's name, as stored.
        name: String,
        /// The endpoint (default: the only one in the store).
        #[arg(long)]
        endpoint: Option<String>,
        /// How to print (`csv` is not offered: the parts have different shapes).
        #[arg(long, value_enum, default_value_t = ShowFormat::Table)]
        format: ShowFormat,
    },
}

/// `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run (see `dcconn runs`).
    pub run: i64,
    /// Write the report as one self-contained HTML page to this file (`-`: standard output).
    #[arg(short, long, alias = "html", value_name = "FILE")]
    pub output: PathBuf,
}

/// `package`.
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Write the connection, with its overrides applied, as a Saviynt transport package the
    /// platform imports unchanged; secret attributes are left out (and named on stderr).
    Export {
        /// The connection.
        #[command(flatten)]
        connection: ConnectionArgs,
        /// The file to write (`-`: standard output).
        #[arg(long, short)]
        output: PathBuf,
    },
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, message, fields).
    Json,
}

/// How `show` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// Sections of aligned text.
    Table,
    /// One JSON object.
    Json,
}

/// `identities`.
#[derive(Debug, Subcommand)]
pub enum IdentitiesCommand {
    /// Replace the identities with those of a CSV (header row) or JSON (array of objects) file
    /// with `username`, `firstname`, `lastname`, `email`, `customproperty1`...
    Load {
        /// The file.
        file: PathBuf,
    },
}

/// How tries are spaced (enable, disable, retry).
#[derive(Debug, Args)]
pub struct RetryOptions {
    /// The wait after a first failed try, in milliseconds; it doubles after each further one
    /// (with jitter), up to --max-backoff-ms.
    #[arg(long, default_value_t = 30_000)]
    pub backoff_ms: u64,
    /// The longest wait between two tries, in milliseconds.
    #[arg(long, default_value_t = 3_600_000)]
    pub max_backoff_ms: u64,
    /// How long an attempt holds its task, in milliseconds: from its claim, and past the
    /// deadline of each request it sends. Before each request the lease is extended to cover
    /// the request's deadline (--connect-timeout-ms + --first-byte-timeout-ms +
    /// --between-bytes-timeout-ms, by default 450 s; the request is cut there) plus this, so
    /// it always outlasts the request. A task whose attempt was cut short (a crash) is tried
    /// again once its lease has passed.
    #[arg(long, default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1..=31_622_400_000))]
    pub lease_ms: u64,
}

/// `enable` and `disable`.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The connection.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The account, as stored by an import.
    #[arg(value_name = "ACCOUNT", required_unless_present = "account_flag")]
    pub account: Option<String>,
    /// The account, as `--account NAME` (the same as giving it as ACCOUNT).
    #[arg(
        long = "account",
        id = "account_flag",
        value_name = "NAME",
        conflicts_with = "account"
    )]
    pub account_flag: Option<String>,
    /// The endpoint the account belongs to (default: the connection's name).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Only create the task; `dcconn retry` runs it.
    #[arg(long)]
    pub queue: bool,
    /// Print the exact requests that would be sent (secrets masked); create no task, send
    /// nothing.
    #[arg(long, conflicts_with = "queue")]
    pub dry_run: bool,
    /// Tries before the task is given up (1-20).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_tries: u32,
    /// Tries and backoff.
    #[command(flatten)]
    pub retry: RetryOptions,
    /// Through the fleet.
    #[command(flatten)]
    pub via: super::fleet_commands::ViaArgs,
}

/// `retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The connection.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The endpoint (default: the connection's name).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Attempts in flight at once (1-64): each has its own component instance and store
    /// connection, and tasks are claimed with leases, so none is attempted twice.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Attempt only the tasks due now, each once, then exit: a task that fails again is
    /// rescheduled for a later run, not waited for (for cron or a systemd timer).
    #[arg(long)]
    pub due_only: bool,
    /// Tries and backoff.
    #[command(flatten)]
    pub retry: RetryOptions,
}

/// `changes`.
#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// The run (see `dcconn runs`).
    pub run: i64,
    /// How to print.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Where the connection comes from.
#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// A connection: a JSON object of Saviynt attributes, a Saviynt transport-package export
    /// (Connection_*.json) or the zip holding it.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub connection: PathBuf,
    /// Set an attribute, e.g. --set SOAP_ENDPOINT=https://dc.example.com/Server.svc (not a
    /// secret: the process list shows it; use --set-env or --set-file)
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = Assignment::SET)]
    pub set: Vec<String>,
    /// Set an attribute from an environment variable, e.g. --set-env PASSWORD=DC_PASSWORD
    #[arg(long = "set-env", value_name = "NAME=VARIABLE", value_parser = Assignment::SET_ENV)]
    pub set_env: Vec<String>,
    /// Set an attribute from a file's content (one trailing line break dropped), e.g.
    /// --set-file PASSWORD=/run/secrets/dc_password
    #[arg(long = "set-file", value_name = "NAME=PATH", value_parser = Assignment::SET_FILE)]
    pub set_file: Vec<String>,
}

/// `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The connection.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// How to print the problems.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The connection.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The connection.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The endpoint the data belongs to in the store (default: the connection's name).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// What to import: accounts then access (all), or one of them.
    #[arg(long, value_enum, default_value_t = ScopeArg::All)]
    pub scope: ScopeArg,
    /// Records per batch crossing the component boundary (0: the component's default).
    #[arg(long, default_value_t = 0)]
    pub batch: u32,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the whole import and report what it would change, writing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How accounts are matched to identities: `account column=identity attribute` pairs tried
    /// in order (`name` is the account name).
    #[arg(
        long,
        value_name = "RULE",
        default_value = "name=username,customproperty1=email"
    )]
    pub correlate: CorrelationRule,
    /// When another import of the endpoint is running, wait for it to end (at most SECONDS
    /// when given) instead of stopping at once with exit code 7.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, require_equals = true, default_missing_value = "0")]
    pub wait: Option<u64>,
    /// How long this import's lease on its endpoint lasts unless renewed, in milliseconds; the
    /// import renews it every third of that while it runs. Another import takes over an
    /// endpoint whose lease expired (its process is gone).
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1_000..=3_600_000))]
    pub lease_ms: u64,
    /// Accept the removals a threshold withheld in RUN (the endpoint's latest completed
    /// import), for this import only: it applies the removals it finds itself despite the
    /// threshold, as long as they are no more than RUN withheld.
    #[arg(long, value_name = "RUN")]
    pub accept_removals: Option<i64>,
    /// Through the fleet.
    #[command(flatten)]
    pub via: super::fleet_commands::ViaArgs,
    /// How the import runs in the fleet (with --via).
    #[command(flatten)]
    pub fleet: super::fleet_commands::FleetImportArgs,
}

/// `accounts` and `runs`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The endpoint (default: the only one in the store).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// How to print.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `entitlements`.
#[derive(Debug, Args)]
pub struct EntitlementArgs {
    /// The endpoint (default: the only one in the store).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Only this entitlement type (Role, Entity, Privilege, ...).
    #[arg(long = "type", value_name = "TYPE")]
    pub entitlement_type: Option<String>,
    /// How to print.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// A JSON array, one object per row.
    Json,
    /// CSV with a header row.
    Csv,
}

/// The import scope as an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// Accounts, then access.
    All,
    /// Accounts and their links only.
    Accounts,
    /// The entitlements only.
    Access,
}

impl ProvisionArgs {
    /// The account, given as ACCOUNT or with `--account` (clap requires one, and not both).
    pub fn account(&self) -> &str {
        self.account
            .as_deref()
            .or(self.account_flag.as_deref())
            .unwrap_or_default()
    }
}

impl From<ScopeArg> for ImportScope {
    fn from(scope: ScopeArg) -> Self {
        match scope {
            ScopeArg::All => ImportScope::All,
            ScopeArg::Accounts => ImportScope::Accounts,
            ScopeArg::Access => ImportScope::Access,
        }
    }
}

/// An endpoint name as `--endpoint` takes it: not blank, and without the characters no output
/// may show as they are (line breaks, controls, bidi and invisible characters), since the name is
/// printed in tables and messages. Checked by the commands rather than by clap, whose message
/// would repeat the value as it is.
pub fn endpoint_name(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("an endpoint name must not be blank".to_owned());
    }
    if text.chars().any(crate::printable::is_escaped) {
        return Err(format!(
            "the endpoint name {} holds a line break, control, bidi or invisible character; use printable characters only",
            crate::printable::printable(text)
        ));
    }
    Ok(text.to_owned())
}
