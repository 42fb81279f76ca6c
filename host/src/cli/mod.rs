//! The `dcconn` command line: arguments in, jobs run, results printed, exit code out.
//! Exit codes are decided in one place, [`run`].

mod args;
mod assignment;
mod component;
mod db;
mod files;
mod filters;
mod fleet_commands;
mod help;
mod logs;
mod output;
mod profile;
mod tasks;
mod version;

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::FromArgMatches;
use indicatif::{ProgressBar, ProgressStyle};

use crate::connection::{self, Connection};
use crate::fleet;
use crate::jobs::exit_code as exit;
use crate::jobs::{self, JobError, check, import, provision};
use crate::runtime::{Runtime, default_cache_dir};
use crate::store::{OpenMode, Requested, RunLease, Store, TaskKind, TaskStatus};

pub use args::Cli;
use args::{Command, ConnectionArgs, Format, IdentitiesCommand, PackageCommand, ShowCommand};
use filters::{checked_name as checked_endpoint, endpoint};

/// Parses the process arguments, runs the command and returns the exit code.
///
/// The arguments are read twice: leniently first for `--version` and the profile, whose
/// values then become the defaults of the real parse (see [`profile`]).
pub fn main() -> u8 {
    forget_empty_variables();
    let arguments: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let early = profile::early_look(&arguments);
    let loaded = profile::load_chosen(&early);
    if early.version {
        let chosen = loaded.as_ref().ok().and_then(Option::as_ref);
        return print_version(early.component.clone(), chosen);
    }
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(failure) => {
            JSON_MESSAGES.store(json_logs_asked(), std::sync::atomic::Ordering::Relaxed);
            message_to_stderr("ERROR", &failure.message, Some(failure.code));
            return failure.code;
        }
    };
    match parse(&arguments, &early, loaded.as_ref()) {
        Ok(mut cli) => {
            cli.loaded_profile = loaded;
            run(cli)
        }
        Err(code) => code,
    }
}

/// Removes each `DCCONN_*` environment variable whose value is empty or only whitespace:
/// `DCCONN_DB=` in a unit file or a shell means "not set", as for most tools, rather than an
/// empty path (or a file named by a tab).
fn forget_empty_variables() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(name, value)| {
            value.to_str().is_some_and(|value| value.trim().is_empty())
                && name
                    .to_str()
                    .is_some_and(|name| name.starts_with("DCCONN_"))
        })
        .map(|(name, _)| name)
        .collect();
    for name in empty {
        // SAFETY: called first thing in `main`, before any thread that could read the
        // environment exists.
        unsafe { std::env::remove_var(name) };
    }
}

/// The command line parsed with the profile's defaults; or, when clap ends it (an error, help,
/// the version), the exit code once it has printed what it has to.
fn parse(
    arguments: &[std::ffi::OsString],
    early: &profile::Early,
    loaded: Option<&profile::Profile>,
) -> Result<Cli, u8> {
    let parsed = help::trimmed(profile::command(loaded))
        .try_get_matches_from(arguments)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    match parsed {
        Ok(cli) => Ok(cli),
        Err(error) if error.kind() == clap::error::ErrorKind::DisplayVersion => {
            Err(print_version(early.component.clone(), loaded))
        }
        Err(error) if error.use_stderr() && json_logs_asked() => {
            JSON_MESSAGES.store(true, std::sync::atomic::Ordering::Relaxed);
            let text = error.render().to_string();
            let text = text.trim_end().trim_start_matches("error: ");
            message_to_stderr("ERROR", text, Some(exit::USAGE));
            Err(exit::USAGE)
        }
        Err(error) => {
            let _ = error.print();
            Err(if error.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            })
        }
    }
}

/// `dcconn --version`, for the component `--component` or `DCCONN_COMPONENT` named, else the
/// profile's, else the one found (see [`component::find`]).
fn print_version(named: Option<PathBuf>, profile: Option<&profile::Profile>) -> u8 {
    let component = named
        .or_else(|| profile.and_then(|profile| profile.component.clone()))
        .map_or_else(component::find, Ok);
    match print(|out| out.write_all(version::text(component).as_bytes())) {
        Ok(code) => code,
        Err(failure) => failure.code,
    }
}

/// Whether the raw arguments ask for JSON logs, for a command line clap refused (so its usage
/// error is a JSON line too).
fn json_logs_asked() -> bool {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    args.iter().enumerate().any(|(index, arg)| {
        arg == "--log-format=json"
            || (arg == "--log-format" && args.get(index + 1).is_some_and(|next| next == "json"))
    })
}

/// Whether `--quiet` was given: notes and progress are not printed.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `--log-format json` was given: messages on stderr are JSON lines like the logs.
static JSON_MESSAGES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints a note (not a result, not an error) on stderr, unless `--quiet`.
fn note(message: impl std::fmt::Display) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        message_to_stderr("INFO", &message.to_string(), None);
    }
}

/// Prints a warning on stderr, unless `--quiet`.
fn warn(message: impl std::fmt::Display) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        message_to_stderr("WARN", &message.to_string(), None);
    }
}

/// Writes a message on stderr: as text ([`to_stderr`]; an `ERROR` is prefixed with `error: `),
/// or under `--log-format json` as one JSON object in the logs' shape (`timestamp`, `level`,
/// `message`, and `exitCode` for the error that ends the command).
fn message_to_stderr(level: &str, message: &str, exit_code: Option<u8>) {
    if !JSON_MESSAGES.load(std::sync::atomic::Ordering::Relaxed) {
        match level {
            "ERROR" => to_stderr(&format!("error: {message}")),
            _ => to_stderr(message),
        }
        return;
    }
    let mut timestamp = String::new();
    let _ = tracing_subscriber::fmt::time::FormatTime::format_time(
        &tracing_subscriber::fmt::time::SystemTime,
        &mut tracing_subscriber::fmt::format::Writer::new(&mut timestamp),
    );
    let mut line = serde_json::json!({
        "timestamp": timestamp,
        "level": level,
        "message": output::printable_lines(message),
    });
    if let Some(code) = exit_code {
        line["exitCode"] = code.into();
    }
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Writes a message (an error, a warning, a note) and a line break on stderr: escaped by
/// [`output::printable_lines`], its line breaks kept, and every line after the first that
/// starts at the margin indented by two spaces. A message holds what servers sent (fault
/// texts, bodies), whose line breaks cannot be told from the message's own here: indented, a
/// line a server forged can never pass for a line of its own (a log line, another `error:`).
///
/// Nothing ever prints with `eprintln!`, which panics when stderr is closed: a closed or
/// failing stderr is no reason to fail or to stop a job, so its errors are dropped.
fn to_stderr(text: &str) {
    let escaped = output::printable_lines(text);
    let mut shown = String::with_capacity(escaped.len() + 16);
    for (index, line) in escaped.split('\n').enumerate() {
        if index > 0 {
            shown.push('\n');
            if !line.is_empty() && !line.starts_with(' ') {
                shown.push_str("  ");
            }
        }
        shown.push_str(line);
    }
    let _ = writeln!(io::stderr().lock(), "{shown}");
}

/// Sends logs to stderr: none with `--quiet`, warnings by default, steps with `-v`, every batch
/// and attempt with `-vv`, as text or JSON lines.
fn init_logs(cli: &Cli) {
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt;
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    JSON_MESSAGES.store(
        cli.log_format == args::LogFormat::Json,
        std::sync::atomic::Ordering::Relaxed,
    );
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => LevelFilter::OFF,
        (false, 0) => LevelFilter::WARN,
        (false, 1) => LevelFilter::INFO,
        (false, 2) => LevelFilter::DEBUG,
        (false, _) => LevelFilter::TRACE,
    };
    let logs = tracing_subscriber::fmt()
        .fmt_fields(logs::EscapedFields)
        .with_max_level(level)
        .with_writer(io::stderr)
        .with_target(false)
        // A closed stderr must not stop a job: the default reports failed writes with
        // `eprintln!`, which panics there.
        .log_internal_errors(false)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()));
    let filter = logs::own_events(level);
    // A second initialisation (tests running `run` twice in one process) keeps the first.
    let _ = match cli.log_format {
        args::LogFormat::Text => {
            tracing::subscriber::set_global_default(logs.finish().with(filter))
        }
        args::LogFormat::Json => tracing::subscriber::set_global_default(
            logs.json()
                .flatten_event(true)
                .with_writer(logs::JsonStderr::default)
                .finish()
                .with(filter),
        ),
    };
}

/// Runs a parsed command line; prints errors to stderr; returns the exit code.
pub fn run(cli: Cli) -> u8 {
    init_logs(&cli);
    db::warn_of_password_in_url(&cli.db);
    match dispatch(&cli) {
        Ok(code) => code,
        Err(failure) => {
            message_to_stderr("ERROR", &failure.message, Some(failure.code));
            failure.code
        }
    }
}

/// A failed command: what to print and the exit code.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn from_job(error: &JobError, connection: Option<&Connection>) -> Self {
        Failure {
            message: error.redacted(connection),
            code: error.exit_code(),
        }
    }
}

fn dispatch(cli: &Cli) -> Result<u8, Failure> {
    match &cli.command {
        Command::Validate(args) => validate(cli, &args.connection, args.format),
        Command::Test(args) => test(cli, &args.connection),
        Command::Import(args) => run_import(cli, args),
        Command::Accounts(args) => list(
            cli,
            args.endpoint.as_deref(),
            |store, endpoint| store.accounts(endpoint).map_err(store_failure),
            |out, accounts| output::accounts(out, accounts, args.format),
        ),
        Command::Entitlements(args) => list(
            cli,
            args.endpoint.as_deref(),
            |store, endpoint| {
                let named = args.entitlement_type.as_deref();
                let entitlement_type = filters::entitlement_type(store, endpoint, named)?;
                store
                    .entitlements(endpoint, entitlement_type.as_deref())
                    .map_err(store_failure)
            },
            |out, entitlements| output::entitlements(out, entitlements, args.format),
        ),
        Command::Enable(args) => provision(cli, args, TaskKind::Enable),
        Command::Disable(args) => provision(cli, args, TaskKind::Disable),
        Command::Retry(args) => retry(cli, args),
        Command::Tasks(args) => tasks::run(cli, args),
        Command::Changes(args) => {
            let store = db::open(cli, OpenMode::ReadOnly)?;
            let Some(run) = store.run(args.run).map_err(store_failure)? else {
                return Err(unknown_run(cli, args.run));
            };
            if let Some(pruned) = db::pruned_changes(&run) {
                return Err(pruned);
            }
            let changes = store.run_changes(args.run).map_err(store_failure)?;
            print(|out| output::changes(out, &changes, args.format))
        }
        Command::Show(ShowCommand::Account {
            name,
            endpoint: named,
            format,
        }) => {
            let store = db::open(cli, OpenMode::ReadOnly)?;
            let endpoint = endpoint(&store, named.as_deref())?;
            match store
                .account_record(&endpoint, name)
                .map_err(store_failure)?
            {
                Some(record) => {
                    let printed = print(|out| output::account_record(out, &record, *format))?;
                    note_pruned_history(&store, &endpoint)?;
                    Ok(printed)
                }
                None => Err(Failure {
                    message: format!(
                        "endpoint {endpoint} has no account {name:?}: see `dcconn accounts --endpoint {endpoint}`"
                    ),
                    code: exit::USAGE,
                }),
            }
        }
        Command::Report(args) => report(cli, args),
        Command::Db(command) => db::run(cli, command),
        Command::Package(PackageCommand::Export { connection, output }) => {
            export_package(cli, connection, output)
        }
        Command::Worker(args) => fleet_commands::worker(cli, args),
        Command::Schedule(command) => fleet_commands::schedule(command),
        Command::Completions { shell } => {
            let mut command = <args::Cli as clap::CommandFactory>::command();
            // Generated into memory: clap_complete panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "dcconn", &mut script);
            print(|out| out.write_all(&script))
        }
        Command::Identities(IdentitiesCommand::Load { file }) => {
            let identities = crate::identities::load(file).map_err(|error| Failure {
                message: error.to_string(),
                code: exit::CONFIGURATION,
            })?;
            let mut store = open_store(cli)?;
            let count = store
                .replace_identities(&identities)
                .map_err(store_failure)?;
            let file = output::printable(&file.display().to_string());
            print(|out| writeln!(out, "loaded {count} identities from {file}"))
        }
        Command::Runs(args) => list(
            cli,
            args.endpoint.as_deref(),
            |store, endpoint| store.runs(endpoint).map_err(store_failure),
            |out, runs| output::runs(out, runs, args.format),
        ),
    }
}

/// A listing of one endpoint's data: read it from the store (its filters checked), print it.
fn list<T>(
    cli: &Cli,
    named: Option<&str>,
    read: impl FnOnce(&Store, &str) -> Result<T, Failure>,
    write: impl FnOnce(&mut dyn Write, &T) -> io::Result<()>,
) -> Result<u8, Failure> {
    let store = db::open(cli, OpenMode::ReadOnly)?;
    let endpoint = endpoint(&store, named)?;
    let rows = read(&store, &endpoint)?;
    print(|out| write(out, &rows))
}

/// Prints a result on stdout. Nothing ever prints with `println!`, which panics when stdout is
/// closed: a closed pipe (`dcconn accounts | head`) stops the printing, not the command.
fn print(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<u8, Failure> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(exit::OK),
        // A closed pipe (`dcconn accounts | head`) is not an error.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(exit::OK),
        Err(error) => Err(Failure {
            message: format!("writing the output failed: {error}"),
            code: exit::INTERNAL,
        }),
    }
}

/// The connection of `-c` (or the profile's) with the profile's overrides, then the flags'.
fn load_connection(cli: &Cli, args: &ConnectionArgs) -> Result<Connection, Failure> {
    let failure =
        |error: connection::ConnectionError| Failure::from_job(&JobError::Connection(error), None);
    let (mut connection, shape) = connection::load_with_shape(&args.connection).map_err(failure)?;
    let profile = cli.loaded_profile.as_ref();
    let overrides = profile::connection_overrides(profile, args);
    warn_of_exposed_secrets(&connection, shape, &args.connection, &overrides);
    for entry in overrides {
        apply_override(&mut connection, &entry).map_err(|mut failure| {
            if let (Some(name), Some(profile)) = (&entry.profile, profile) {
                failure.message.push_str(&format!(
                    " (from the profile {name} in {})",
                    profile.file.display()
                ));
            }
            failure
        })?;
    }
    Ok(connection)
}

/// Applies one `--set`, `--set-env` or `--set-file` (or a profile's entry) to `connection`.
fn apply_override(connection: &mut Connection, entry: &profile::Override) -> Result<(), Failure> {
    let spec = entry.spec.as_str();
    let applied = match entry.kind {
        profile::OverrideKind::Set => connection.apply_override(spec),
        profile::OverrideKind::SetEnv => {
            connection.apply_env_override(spec, |name| std::env::var(name).ok())
        }
        profile::OverrideKind::SetFile => {
            connection.apply_file_override(spec, crate::regular_file::open_secret)
        }
    };
    applied.map_err(|error| {
        // The argument names the wrong file, or an attribute a letter or two off one the
        // connection has: a usage error. Anything else is the connection's.
        let usage = matches!(
            error,
            connection::ConnectionError::SecretFileTooLarge { .. }
                | connection::ConnectionError::SecretFile { .. }
                | connection::ConnectionError::NearMiss { .. }
        );
        let failure = Failure::from_job(&JobError::Connection(error), None);
        if usage {
            Failure {
                code: exit::USAGE,
                ..failure
            }
        } else {
            failure
        }
    })
}

/// Warns of each secret the connection file or a `--set` exposes (unless `--quiet`).
fn warn_of_exposed_secrets(
    file: &Connection,
    shape: connection::FileShape,
    path: &std::path::Path,
    overrides: &[profile::Override],
) {
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let (set, elsewhere): (Vec<&profile::Override>, Vec<&profile::Override>) = overrides
        .iter()
        .partition(|entry| matches!(entry.kind, profile::OverrideKind::Set));
    let specs = |entries: Vec<&profile::Override>| -> Vec<String> {
        entries
            .into_iter()
            .map(|entry| entry.spec.clone())
            .collect()
    };
    for exposed in connection::exposed_secrets(file, shape, path, &specs(set), &specs(elsewhere)) {
        message_to_stderr("WARN", &format!("warning: {exposed}"), None);
    }
}

fn load_runtime(cli: &Cli) -> Result<Runtime, Failure> {
    let path = match &cli.component {
        Some(path) => path.clone(),
        None => component::find().map_err(|not_found| Failure {
            message: not_found.to_string(),
            code: exit::INTERNAL,
        })?,
    };
    let cache = if cli.no_cache {
        None
    } else {
        default_cache_dir()
    };
    Runtime::load(&path, cache.as_deref())
        .map(|runtime| runtime.with_limits(cli.limits.limits()))
        .map_err(|error| Failure::from_job(&error.into(), None))
}

fn open_store(cli: &Cli) -> Result<Store, Failure> {
    db::open(cli, OpenMode::Create)
}

fn store_failure(error: crate::store::StoreError) -> Failure {
    Failure::from_job(&error.into(), None)
}

fn validate(cli: &Cli, args: &ConnectionArgs, format: Format) -> Result<u8, Failure> {
    let connection = load_connection(cli, args)?;
    let runtime = load_runtime(cli)?;
    let problems = check::validate(&runtime, &connection)
        .map_err(|e| Failure::from_job(&e, Some(&connection)))?;
    print(|out| output::problems(out, &problems, format))?;
    let has_errors = problems
        .iter()
        .any(|p| matches!(p.severity, crate::runtime::wit::Severity::Error));
    Ok(if has_errors {
        exit::CONFIGURATION
    } else {
        exit::OK
    })
}

fn test(cli: &Cli, args: &ConnectionArgs) -> Result<u8, Failure> {
    let connection = load_connection(cli, args)?;
    let runtime = load_runtime(cli)?;
    let warnings = check::test_connection(&runtime, &connection)
        .map_err(|e| Failure::from_job(&e, Some(&connection)))?;
    print_warnings(&warnings);
    let endpoint = output::printable(connection.get("SOAP_ENDPOINT").unwrap_or("SOAP_ENDPOINT"));
    print(|out| writeln!(out, "connection ok: logged in to {endpoint} and out again"))
}

fn print_warnings(warnings: &[crate::runtime::wit::Problem]) {
    for warning in jobs::problems::grouped(warnings) {
        if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
            message_to_stderr("WARN", &warning.describe(), None);
        }
    }
}

/// What a job on a connection needs: the connection, the component, the store and the
/// endpoint (named, else the connection's name).
struct Job {
    connection: Connection,
    runtime: Runtime,
    store: Store,
    endpoint: String,
    /// The folder of a dry run's empty store when `--db` names no file: a dry run writes none.
    scratch: Option<tempfile::TempDir>,
}

impl Job {
    /// The job's connection, component, store (opened as `mode` says) and endpoint; a
    /// `dry_run` without a store at `--db` gets an empty one in a temporary folder.
    fn prepare(
        cli: &Cli,
        args: &ConnectionArgs,
        endpoint: Option<&str>,
        mode: OpenMode,
        dry_run: bool,
    ) -> Result<Job, Failure> {
        let connection = load_connection(cli, args)?;
        let runtime = load_runtime(cli)?;
        if mode == OpenMode::Create && db::names_new_file(&cli.db) {
            // A connection the component refuses creates no store: exit 3 stores nothing.
            jobs::validated_instance(&runtime, &connection)
                .map_err(|error| Failure::from_job(&error, Some(&connection)))?;
        }
        let (store, scratch) = if dry_run && db::names_new_file(&cli.db) {
            let (store, scratch) = scratch_store()?;
            (store, Some(scratch))
        } else {
            (db::open(cli, mode)?, None)
        };
        let endpoint = match endpoint {
            Some(endpoint) => checked_endpoint(endpoint)?,
            // The connection's own name, checked as `--endpoint` would be.
            None => args::endpoint_name(&connection.name).map_err(|problem| Failure {
                message: format!(
                    "{problem}; the connection's name is the endpoint unless --endpoint gives one"
                ),
                code: exit::USAGE,
            })?,
        };
        Ok(Job {
            connection,
            runtime,
            store,
            endpoint,
            scratch,
        })
    }
}

/// An empty store in a new temporary folder, for a dry run where `--db` names no file.
fn scratch_store() -> Result<(Store, tempfile::TempDir), Failure> {
    let internal = |what: &str, error: &dyn std::fmt::Display| Failure {
        message: format!("{what} for the dry run failed: {error}"),
        code: exit::INTERNAL,
    };
    let scratch =
        tempfile::tempdir().map_err(|error| internal("creating a temporary folder", &error))?;
    let store = Store::open_as(&scratch.path().join("dry-run.db"), OpenMode::Create)
        .map_err(|error| internal("creating an empty store", &error))?;
    note("note: no store at --db yet: the dry run compares with an empty store");
    Ok((store, scratch))
}

fn run_import(cli: &Cli, args: &args::ImportArgs) -> Result<u8, Failure> {
    if let Some(via) = &args.via.via {
        return fleet_commands::import_via(args, via);
    }
    let Job {
        connection,
        runtime,
        mut store,
        endpoint,
        scratch: _scratch,
    } = Job::prepare(
        cli,
        &args.connection,
        args.endpoint.as_deref(),
        OpenMode::Create,
        args.dry_run,
    )
    .inspect_err(|failure| {
        if args.json {
            let _ = print(|out| output::import_refused(out, args.endpoint.as_deref(), failure));
        }
    })?;
    let request = import::ImportRequest {
        connection: &connection,
        endpoint: &endpoint,
        scope: args.scope.into(),
        max_batch: args.batch,
        dry_run: args.dry_run,
        correlation: &args.correlate,
        wait: args.wait.map(|seconds| match seconds {
            0 => Duration::MAX,
            seconds => Duration::from_secs(seconds),
        }),
        accept_removals: args.accept_removals,
    };
    store.set_run_lease(RunLease::of_this_process(Duration::from_millis(
        args.lease_ms,
    )));
    let bar = progress_bar();
    let outcome = import::run(&runtime, &mut store, &request, &mut |seen| {
        bar.set_message(progress_message(&seen));
    });
    bar.finish_and_clear();
    let shown = ImportShown {
        endpoint: &endpoint,
        json: args.json,
        dry_run: args.dry_run,
        accepted: args.accept_removals,
    };
    present(&import_outcome(&shown, outcome, &connection))
}

/// How an import's outcome is shown: what `dcconn import` was asked.
pub(crate) struct ImportShown<'a> {
    /// The endpoint.
    pub endpoint: &'a str,
    /// `--json`.
    pub json: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--accept-removals`.
    pub accepted: Option<i64>,
}

/// What `dcconn import` shows for `outcome`, locally or through the fleet (the worker builds
/// it; `--via` prints it): every text masked.
pub(crate) fn import_outcome(
    shown: &ImportShown<'_>,
    outcome: Result<import::ImportReport, import::ImportFailure>,
    connection: &Connection,
) -> fleet::JobOutcome {
    let mut stdout = Vec::new();
    match outcome {
        Ok(report) => {
            let _ = output::import_summary(&mut stdout, shown.endpoint, &report, shown.json);
            let mut job = fleet::JobOutcome {
                messages: warning_messages(&report.warnings),
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                ..fleet::JobOutcome::default()
            };
            if report.summary.withheld.is_empty() {
                if let Some(run) = shown.accepted {
                    job.trailing
                        .push(fleet::Message::info(accepted_note(run, &report)));
                }
                return job;
            }
            let message = withheld_message(&report, shown.accepted);
            job.trailing.push(fleet::Message::warn(message));
            job.exit_code = exit::WITHHELD;
            job
        }
        Err(failure) => {
            if shown.json {
                let _ = output::import_failure(
                    &mut stdout,
                    shown.endpoint,
                    &failure,
                    connection,
                    shown.dry_run,
                );
            }
            let mut message = failure.error.redacted(Some(connection));
            if shown.dry_run {
                message.push_str("\nnothing was written (dry run)");
            } else if let Some(run) = failure.run {
                message.push_str(&format!(
                    "\nrun {run} is recorded as failed; the stored data is unchanged"
                ));
            }
            fleet::JobOutcome {
                exit_code: failure.error.exit_code(),
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                error: Some(message),
                ..fleet::JobOutcome::default()
            }
        }
    }
}

/// Prints a job's outcome as the local command does: messages, stdout, trailing messages,
/// then the error; returns its exit code (an error as a [`Failure`]).
fn present(outcome: &fleet::JobOutcome) -> Result<u8, Failure> {
    let quiet = QUIET.load(std::sync::atomic::Ordering::Relaxed);
    let say = |message: &fleet::Message, code: Option<u8>| {
        if message.level == "WARN" || !quiet {
            message_to_stderr(&message.level, &message.text, code);
        }
    };
    if !quiet {
        for message in &outcome.messages {
            message_to_stderr(&message.level, &message.text, None);
        }
    }
    print(|out| out.write_all(outcome.stdout.as_bytes()))?;
    for message in &outcome.trailing {
        let code = (message.level == "WARN" && outcome.error.is_none())
            .then_some(outcome.exit_code)
            .filter(|code| *code != exit::OK);
        say(message, code);
    }
    match &outcome.error {
        Some(message) => Err(Failure {
            message: message.clone(),
            code: outcome.exit_code,
        }),
        None => Ok(outcome.exit_code),
    }
}

/// Configuration warnings as the messages `print_warnings` prints.
fn warning_messages(warnings: &[crate::runtime::wit::Problem]) -> Vec<fleet::Message> {
    jobs::problems::grouped(warnings)
        .iter()
        .map(|warning| fleet::Message::warn(warning.describe()))
        .collect()
}

/// What an import that accepted a run's withheld removals applied.
fn accepted_note(run: i64, report: &import::ImportReport) -> String {
    let summary = &report.summary;
    let applied = if report.dry_run {
        "would apply"
    } else {
        "applied"
    };
    format!(
        "accepted the removals run {run} withheld: this import {applied} them as it found them ({} accounts suspended or inactivated, {} entitlements inactivated)",
        summary.suspended, summary.entitlements_inactivated
    )
}

/// What a threshold withheld, which setting did it, and what to do.
fn withheld_message(report: &import::ImportReport, accepted: Option<i64>) -> String {
    let mut message = format!(
        "warning: run {} completed, but removals were withheld; nothing was removed:",
        report.summary.run
    );
    for withheld in &report.summary.withheld {
        let what = if withheld.what == "accounts" {
            "accounts".to_string()
        } else {
            format!("{} entitlements", withheld.what)
        };
        let reason = match withheld.threshold {
            Some(threshold) => format!("{} is {threshold}", withheld.setting),
            None => format!(
                "the import reported no account at all and {} is not set",
                withheld.setting
            ),
        };
        message.push_str(&format!(
            "\n  {} {what} would have been removed; {reason} (STATUS_THRESHOLD_CONFIG)",
            withheld.count
        ));
    }
    if let Some(run) = accepted {
        message.push_str(&format!(
            "\n--accept-removals {run} accepts, kind by kind, no more removals than run {run} withheld"
        ));
    }
    message.push_str("\ncheck that the target really lost them, then raise the threshold (or fix the target) and import again");
    if !report.dry_run {
        message.push_str(&format!(
            ", or accept them for one import: dcconn import ... --accept-removals {}",
            report.summary.run
        ));
    }
    message
}

fn retry_policy(options: &args::RetryOptions, max_tries: u32) -> provision::RetryPolicy {
    provision::RetryPolicy {
        max_tries,
        backoff: Duration::from_millis(options.backoff_ms),
        max_backoff: Duration::from_millis(options.max_backoff_ms),
        lease: Duration::from_millis(options.lease_ms),
    }
}

fn provision(cli: &Cli, args: &args::ProvisionArgs, kind: TaskKind) -> Result<u8, Failure> {
    if let Some(via) = &args.via.via {
        return fleet_commands::provision_via(args, kind, via);
    }
    let Job {
        connection,
        runtime,
        mut store,
        endpoint,
        ..
    } = Job::prepare(
        cli,
        &args.connection,
        args.endpoint.as_deref(),
        OpenMode::Existing,
        false,
    )?;
    let request = provision::ProvisionRequest {
        connection: &connection,
        endpoint: &endpoint,
        account: args.account(),
        kind,
        queue: args.queue,
    };
    if args.dry_run {
        let rendered = provision::dry_run(&runtime, &store, &request)
            .map_err(|error| Failure::from_job(&error, Some(&connection)))?;
        return print(|out| output::rendered_requests(out, &rendered));
    }
    let policy = retry_policy(&args.retry, args.max_tries);
    let provisioned = provision::request(&runtime, &mut store, &request, &policy)
        .map_err(|error| Failure::from_job(&error, Some(&connection)))?;
    if let Requested::Pending(task) = &provisioned.requested {
        note(output::pending_task_note(task, args.queue));
    }
    let task = provisioned.requested.into_task();
    print(|out| writeln!(out, "{}", output::task_line(&task)))?;
    if let Some(refused) = provisioned.refused {
        return Err(Failure::from_job(&refused, Some(&connection)));
    }
    if !args.queue && task.status == TaskStatus::New {
        note_earlier_task(&store, &endpoint, &task)?;
    }
    // Queued: nothing was meant to be attempted. Else the task completed now, or it did not.
    Ok(if args.queue || task.status == TaskStatus::Complete {
        exit::OK
    } else {
        exit::REMOTE
    })
}

/// What `dcconn enable|disable` shows for a task attempted through the fleet: its line, and
/// the refusal that stopped it; exit code 0 once COMPLETE, 5 otherwise (or the refusal's).
pub(crate) fn task_outcome(
    task: &crate::store::Task,
    refused: Option<&JobError>,
    connection: &Connection,
) -> fleet::JobOutcome {
    let failed = Failure::from_job;
    let (exit_code, error) = match refused {
        Some(refused) => {
            let failure = failed(refused, Some(connection));
            (failure.code, Some(failure.message))
        }
        None if task.status == TaskStatus::Complete => (exit::OK, None),
        None => (exit::REMOTE, None),
    };
    fleet::JobOutcome {
        exit_code,
        stdout: format!("{}\n", output::task_line(task)),
        error,
        ..fleet::JobOutcome::default()
    }
}

/// An import that failed before it began (on a worker: its connection, its store), with
/// `--json` given the JSON object the local command prints for it.
pub(crate) fn refused_import_outcome(
    endpoint: &str,
    json: bool,
    mut outcome: fleet::JobOutcome,
) -> fleet::JobOutcome {
    if json && outcome.stdout.is_empty() {
        let failure = Failure {
            message: outcome.error.clone().unwrap_or_default(),
            code: outcome.exit_code,
        };
        let mut stdout = Vec::new();
        let _ = output::import_refused(&mut stdout, Some(endpoint), &failure);
        outcome.stdout = String::from_utf8_lossy(&stdout).into_owned();
    }
    outcome
}

/// The note `dcconn enable|disable` prints when it took the account's pending task `task` (as
/// it stands after the attempt) instead of creating one.
pub(crate) fn pending_task_note(task: &crate::store::Task) -> String {
    output::pending_task_note(task, false)
}

/// What `dcconn enable|disable --via` shows for a task its attempt could not claim: its line,
/// and what it waits for, exit code 5. Behind an earlier task that nobody holds, as the local
/// command shows it (a note after the line); held by an attempt past the wait, as an error.
pub(crate) fn blocked_task_outcome(
    task: &crate::store::Task,
    by: &crate::store::Task,
    held: bool,
) -> fleet::JobOutcome {
    let reason = if by.id == task.id {
        output::held_task_note(task)
    } else {
        output::waiting_for_earlier_note(task, by)
    };
    let (error, trailing) = match held {
        true => (Some(reason), Vec::new()),
        false => (None, vec![fleet::Message::info(reason)]),
    };
    fleet::JobOutcome {
        exit_code: exit::REMOTE,
        stdout: format!("{}\n", output::task_line(task)),
        trailing,
        error,
        ..fleet::JobOutcome::default()
    }
}

/// Says which earlier task of its account `task` (not attempted) waits for.
fn note_earlier_task(
    store: &Store,
    endpoint: &str,
    task: &crate::store::Task,
) -> Result<(), Failure> {
    let tasks = store.tasks(endpoint).map_err(store_failure)?;
    let earlier = tasks
        .iter()
        .filter(|other| other.account == task.account && other.id < task.id)
        .filter(|other| !other.status.is_final())
        .max_by_key(|other| other.id);
    if let Some(earlier) = earlier {
        note(output::waiting_for_earlier_note(task, earlier));
    }
    Ok(())
}

fn retry(cli: &Cli, args: &args::RetryArgs) -> Result<u8, Failure> {
    let Job {
        connection,
        runtime,
        store,
        endpoint,
        ..
    } = Job::prepare(
        cli,
        &args.connection,
        args.endpoint.as_deref(),
        OpenMode::Existing,
        false,
    )?;
    drop(store);
    let policy = retry_policy(&args.retry, provision::MAX_TRIES);
    let scope = provision::RetryScope {
        endpoint: &endpoint,
        due_only: args.due_only,
    };
    let summary = provision::retry_concurrently(
        &runtime,
        &|| Store::open(&cli.db),
        &connection,
        scope,
        &policy,
        usize::from(args.concurrency),
        &tasks::retry_printer(cli.verbose),
    )
    .map_err(|error| tasks::retry_failure(&error, &connection))?;
    print(|out| writeln!(out, "{}", output::retry_summary(&endpoint, &summary)))?;
    if args.due_only {
        note_next_due(cli, &endpoint)?;
    }
    Ok(if summary.failed == 0 {
        exit::OK
    } else {
        exit::REMOTE
    })
}

/// After `retry --due-only`: when the endpoint's next waiting task (NEW or PENDING
/// PROVISIONING; one another run holds is in its hands) is due, so that a run that found
/// nothing due says when there will be.
fn note_next_due(cli: &Cli, endpoint: &str) -> Result<(), Failure> {
    let store = db::open(cli, OpenMode::ReadOnly)?;
    let tasks = store.tasks(endpoint).map_err(store_failure)?;
    let next = tasks
        .iter()
        .filter(|task| {
            matches!(
                task.status,
                TaskStatus::New | TaskStatus::PendingProvisioning
            )
        })
        .filter_map(|task| task.next_attempt_at.as_deref())
        .min();
    if let Some(due) = next {
        note(format!(
            "the next waiting task of {endpoint} is due at {due}; the next `dcconn retry --due-only` after that runs it"
        ));
    }
    Ok(())
}

/// A run the store does not have: a usage error that says where to look.
fn unknown_run(cli: &Cli, run: i64) -> Failure {
    Failure {
        message: format!(
            "there is no run {run} in {}: see `dcconn runs`",
            db::shown(cli)
        ),
        code: exit::USAGE,
    }
}

/// `dcconn report RUN -o FILE`.
fn report(cli: &Cli, args: &args::ReportArgs) -> Result<u8, Failure> {
    let store = db::open(cli, OpenMode::ReadOnly)?;
    let Some(report) = store
        .run_report(args.run, crate::report::CHANGES_SHOWN)
        .map_err(store_failure)?
    else {
        return Err(unknown_run(cli, args.run));
    };
    let page = crate::report::html(&report);
    files::write_output(&cli.db, &args.output, &page)?;
    if args.output != std::path::Path::new("-") {
        note(format!(
            "wrote the report of run {} to {}",
            args.run,
            args.output.display()
        ));
    }
    Ok(exit::OK)
}

/// After `show account`: a note that the history lacks what pruned runs changed, if any was
/// pruned (their totals remain in `dcconn runs`).
fn note_pruned_history(store: &Store, endpoint: &str) -> Result<(), Failure> {
    let runs = store.runs(endpoint).map_err(store_failure)?;
    let pruned: Vec<i64> = runs
        .iter()
        .filter(|run| run.pruned_at.is_some())
        .map(|run| run.id)
        .collect();
    if let (Some(first), Some(last)) = (pruned.iter().min(), pruned.iter().max()) {
        note(format!(
            "note: the history holds no change of the {} pruned runs of {endpoint} (runs {first} to {last}; dcconn db prune): their totals remain in dcconn runs",
            pruned.len()
        ));
    }
    Ok(())
}

/// `dcconn package export`.
fn export_package(
    cli: &Cli,
    args: &ConnectionArgs,
    output: &std::path::Path,
) -> Result<u8, Failure> {
    let connection = load_connection(cli, args)?;
    let (package, omitted) = connection.to_transport_package();
    let mut text = serde_json::to_string_pretty(&package).unwrap_or_default();
    text.push('\n');
    files::write_output(&cli.db, output, &text)?;
    if output != std::path::Path::new("-") {
        note(format!("wrote {} ({})", output.display(), connection.name));
    }
    if !omitted.is_empty() {
        note(format!(
            "left out (secrets; set them again where the package goes): {}",
            omitted.join(", ")
        ));
    }
    Ok(exit::OK)
}

/// A spinner on stderr when it is a terminal; indicatif draws nothing otherwise.
/// What the spinner of an import says.
fn progress_message(seen: &import::Progress) -> String {
    if let Some(busy) = seen.waiting_for {
        return format!(
            "waiting for run {}, another import of this endpoint ({} accounts, {} entitlements received)",
            busy.run, busy.accounts, busy.entitlements
        );
    }
    let stage = if seen.applying {
        "applying"
    } else {
        "receiving"
    };
    format!(
        "{stage} {} accounts, {} entitlements",
        seen.accounts, seen.entitlements
    )
}

fn progress_bar() -> ProgressBar {
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} import: {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
