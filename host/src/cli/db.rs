//! `dcconn db`: the store's maintenance (check, backup, prune, migrate), and how every command
//! opens the store: the commands that read never create or migrate it.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::output::{Rows, counted, printable};
use super::{Cli, Failure, note, print, store_failure};
use crate::jobs::exit_code as exit;
use crate::report::grouped;
use crate::store::{
    self, CheckReport, Migrated, OpenMode, PruneReport, PruneRequest, RunRecord, Store,
};

/// `db`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Check the store: SQLite's integrity and foreign key checks, the schema version, and each
    /// endpoint's runs, accounts and tasks by status. Exit code 0 when sound, 1 when not.
    Check {
        /// How to print.
        #[arg(long, value_enum, default_value_t = DbFormat::Table)]
        format: DbFormat,
    },
    /// Copy the store to FILE while it is in use (SQLite's online backup): the copy is the
    /// store as one commit left it, even while an import writes.
    Backup {
        /// The copy to write; refused when it exists, unless --force.
        file: PathBuf,
        /// Replace FILE when it exists (once the new copy is whole).
        #[arg(long)]
        force: bool,
    },
    /// Delete the changes (audit trail) of old runs, keeping each run with its totals, then
    /// compact the file. Never prunes a running run or an endpoint's newest succeeded run.
    Prune(PruneArgs),
    /// Bring an older store to this dcconn's schema version, after copying it to
    /// FILE.v<VERSION>.bak (the commands that write do the same on their way).
    Migrate,
}

/// `db prune`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("rule").required(true).multiple(true)))]
pub struct PruneArgs {
    /// Keep the changes of each endpoint's N newest runs.
    #[arg(long, value_name = "N", group = "rule")]
    pub keep_runs: Option<u32>,
    /// Keep the changes of runs that started less than DAYS days ago. With --keep-runs too, a
    /// run is pruned only when both say so.
    #[arg(long, value_name = "DAYS", group = "rule",
          value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub older_than: Option<u32>,
    /// Only this endpoint's runs (default: every endpoint's).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Say which runs' changes would go; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How to print.
    #[arg(long, value_enum, default_value_t = DbFormat::Table)]
    pub format: DbFormat,
}

/// How `db check` and `db prune` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DbFormat {
    /// Text for people.
    Table,
    /// One JSON object.
    Json,
}

/// Whether `--db` names a file that does not exist yet (a PostgreSQL database never does: its
/// store is created on the server).
pub(super) fn names_new_file(db: &std::path::Path) -> bool {
    matches!(store::Location::of(db), store::Location::File(path) if !path.exists())
}

/// `--db` as messages show it: a file's absolute path, a URL without its password.
pub(super) fn shown(cli: &Cli) -> String {
    printable(&store::Location::of(&cli.db).shown())
}

/// Runs a `db` command.
pub(super) fn run(cli: &Cli, command: &DbCommand) -> Result<u8, Failure> {
    match command {
        DbCommand::Check { format } => check(cli, *format),
        DbCommand::Backup { file, force } => backup(cli, file, *force),
        DbCommand::Prune(args) => prune(cli, args),
        DbCommand::Migrate => migrate(cli),
    }
}

/// Opens the store at `--db` the way `mode` says; a migration on the way is said in a note.
pub(super) fn open(cli: &Cli, mode: OpenMode) -> Result<Store, Failure> {
    let store = Store::open_as(&cli.db, mode).map_err(store_failure)?;
    if let Some(migrated) = store.migrated() {
        note(migration_note(migrated));
    }
    Ok(store)
}

/// Warns (unless `--quiet`) that a `--db` URL holding a password exposes it on the command
/// line: once per command, whatever it does with the store. `DCCONN_DB` is an environment
/// variable as PGPASSWORD is, and a profile's `db` may not hold a password at all.
pub(super) fn warn_of_password_in_url(db: &std::path::Path) {
    let from_environment = std::env::var_os("DCCONN_DB").is_some_and(|value| value == db);
    if !from_environment && crate::store::Location::of(db).holds_password() {
        super::warn(
            "warning: --db holds the PostgreSQL password, which the process list and shell history show; give it with PGPASSWORD instead",
        );
    }
}

/// What a migration did, and where the copy from before it is.
fn migration_note(migrated: &Migrated) -> String {
    format!(
        "note: the store had schema version {}: copied it to {} before migrating it to version {}",
        migrated.from,
        migrated.backup.display(),
        migrated.to
    )
}

/// The failure of `changes RUN` for a run whose changes were pruned: saying so beats an empty
/// list.
pub(super) fn pruned_changes(run: &RunRecord) -> Option<Failure> {
    let pruned_at = run.pruned_at.as_deref()?;
    Some(Failure {
        message: format!(
            "the changes of run {} were pruned on {} (dcconn db prune; {} changes); its totals remain: see `dcconn runs`",
            run.id,
            printable(pruned_at),
            grouped(run.changes_pruned)
        ),
        code: exit::USAGE,
    })
}

fn check(cli: &Cli, format: DbFormat) -> Result<u8, Failure> {
    let report = store::check(&cli.db).map_err(store_failure)?;
    print(|out| match format {
        DbFormat::Table => write_check(out, &report),
        DbFormat::Json => write_json(out, &report),
    })?;
    if report.sound {
        return Ok(exit::OK);
    }
    Err(Failure {
        message: format!(
            "the store at {} is damaged: {}, {}, {} (listed above); restore it from a backup (dcconn db backup), or copy what SQLite can still read with `sqlite3 {} .recover`",
            report.store,
            counted(
                report.integrity_problems.len() as u64,
                "integrity problem",
                "integrity problems"
            ),
            counted(
                report.schema_problems.len() as u64,
                "missing table or column",
                "missing tables or columns"
            ),
            counted(
                report.foreign_key_problems.len() as u64,
                "row without its parent",
                "rows without their parent"
            ),
            report.store
        ),
        code: exit::INTERNAL,
    })
}

fn write_json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// `db check` for people: the file's state, then the endpoints.
fn write_check(out: &mut dyn Write, report: &CheckReport) -> io::Result<()> {
    let version = if report.schema_version == report.current_schema_version {
        format!("{} (this dcconn's)", report.schema_version)
    } else {
        format!(
            "{} (older than this dcconn's {}: dcconn db migrate migrates it, after a copy)",
            report.schema_version, report.current_schema_version
        )
    };
    let foreign_keys: Vec<String> = report
        .foreign_key_problems
        .iter()
        .map(|problem| {
            let row = problem
                .rowid
                .map(|rowid| format!(" row {rowid}"))
                .unwrap_or_default();
            format!("{}{row} has no parent in {}", problem.table, problem.parent)
        })
        .collect();
    let mut lines = vec![
        ("store", vec![report.store.clone()]),
        ("schema version", vec![version]),
        ("integrity", or_ok(&report.integrity_problems)),
        ("tables", or_ok(&report.schema_problems)),
        ("foreign keys", or_ok(&foreign_keys)),
    ];
    lines.push((
        "verdict",
        vec![if report.sound { "sound" } else { "damaged" }.to_owned()],
    ));
    for (label, values) in lines {
        for (index, value) in values.iter().enumerate() {
            let label = if index == 0 { label } else { "" };
            writeln!(out, "{label:<16}{}", printable(value))?;
        }
    }
    writeln!(out)?;
    let rows = report
        .endpoints
        .iter()
        .map(|endpoint| {
            let tasks = endpoint
                .tasks
                .iter()
                .map(|tasks| format!("{} {}", tasks.status, tasks.count))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                endpoint.endpoint.clone(),
                endpoint.runs.to_string(),
                endpoint.pruned_runs.to_string(),
                endpoint.accounts.to_string(),
                tasks,
            ]
        })
        .collect();
    Rows {
        header: ["ENDPOINT", "RUNS", "PRUNED", "ACCOUNTS", "TASKS"]
            .map(String::from)
            .to_vec(),
        rows,
    }
    .write_table(out)
}

/// The problems found, or `ok`.
fn or_ok(problems: &[String]) -> Vec<String> {
    if problems.is_empty() {
        vec!["ok".to_owned()]
    } else {
        problems.to_vec()
    }
}

fn backup(cli: &Cli, file: &std::path::Path, force: bool) -> Result<u8, Failure> {
    let report = store::backup(&cli.db, file, force).map_err(store_failure)?;
    let store = shown(cli);
    let to = printable(&report.to.display().to_string());
    print(|out| {
        writeln!(
            out,
            "backed up {store} (schema version {}) to {to}: {} bytes",
            report.schema_version,
            grouped(report.bytes)
        )
    })
}

fn prune(cli: &Cli, args: &PruneArgs) -> Result<u8, Failure> {
    let endpoint = args
        .endpoint
        .as_deref()
        .map(super::checked_endpoint)
        .transpose()?;
    let mut store = open(cli, OpenMode::Existing)?;
    if let Some(named) = &endpoint {
        super::endpoint(&store, Some(named))?;
    }
    let request = PruneRequest {
        endpoint,
        keep_runs: args.keep_runs,
        older_than_days: args.older_than,
        dry_run: args.dry_run,
    };
    let report = store.prune(&request).map_err(store_failure)?;
    print(|out| match args.format {
        DbFormat::Table => write_prune(out, &report),
        DbFormat::Json => write_json(out, &report),
    })
}

/// `db prune` for people: the runs, then what happened.
fn write_prune(out: &mut dyn Write, report: &PruneReport) -> io::Result<()> {
    if report.runs.is_empty() {
        writeln!(out, "no run's changes to prune")?;
    } else {
        let rows = report
            .runs
            .iter()
            .map(|run| {
                vec![
                    run.run.to_string(),
                    run.endpoint.clone(),
                    run.started_at.clone(),
                    run.outcome.clone(),
                    run.changes.to_string(),
                ]
            })
            .collect();
        Rows {
            header: ["RUN", "ENDPOINT", "STARTED", "OUTCOME", "CHANGES"]
                .map(String::from)
                .to_vec(),
            rows,
        }
        .write_table(out)?;
        let runs = plural(report.runs.len() as u64, "run", "runs");
        let changes = plural(report.changes, "change", "changes");
        if report.dry_run {
            writeln!(
                out,
                "would prune the changes of {runs} ({changes}); nothing was changed (dry run)"
            )?;
        } else {
            writeln!(
                out,
                "pruned the changes of {runs} ({changes}); the runs and their totals stay"
            )?;
        }
    }
    if let Some(vacuum) = &report.vacuum {
        writeln!(
            out,
            "compacted the store from {} to {} bytes",
            grouped(vacuum.bytes_before),
            grouped(vacuum.bytes_after)
        )?;
    }
    if let Some(why) = &report.not_vacuumed {
        writeln!(out, "not compacted: {}", printable(why))?;
    }
    Ok(())
}

/// `n` with the word for one or for several.
fn plural(n: u64, one: &str, several: &str) -> String {
    format!("{} {}", grouped(n), if n == 1 { one } else { several })
}

fn migrate(cli: &Cli) -> Result<u8, Failure> {
    let store = Store::open_as(&cli.db, OpenMode::Existing).map_err(store_failure)?;
    let shown = shown(cli);
    print(|out| match store.migrated() {
        Some(migrated) => writeln!(
            out,
            "migrated {shown} from schema version {} to {}; the copy from before is {}",
            migrated.from,
            migrated.to,
            printable(&migrated.backup.display().to_string())
        ),
        None => writeln!(
            out,
            "{shown} is at this dcconn's schema version ({}) already",
            store::SCHEMA_VERSION
        ),
    })
}
