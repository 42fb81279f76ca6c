//! Keeping a store for years: copies taken with SQLite's online backup ([`backup`]), the check
//! of the file ([`check`]), and pruning old runs' audit trail ([`Store::prune`]).
//!
//! A copy is taken by the backup API on a connection that holds one read transaction for the
//! whole copy, so it is the store as one commit left it, whatever other processes write
//! meanwhile (WAL: writers go on, the copy does not see them). It is written beside its
//! destination under a temporary name and renamed into place, so a file at the destination is
//! always a whole copy.
//!
//! Pruning deletes the `changes` rows of old runs and keeps the runs' rows, whose counts are the
//! runs' totals; each pruned run records when, and how many changes went. Then the file is
//! compacted with `VACUUM`: the store is created with `auto_vacuum` off (an incremental vacuum
//! would need a `VACUUM` first anyway), SQLite reuses freed pages but never returns them
//! otherwise, and a monthly prune can afford to rewrite the file once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::db::{self, OptionalExtension, params};
use serde::Serialize;

use super::open::{self, Location, OpenMode, shown};
use super::{Doing, Store, StoreError, count, schema, sql};

/// How long a copy waits, in all, for a source or destination that is busy.
const COPY_PATIENCE: Duration = Duration::from_secs(30);

/// The pause between two tries of a busy copy step.
const COPY_PAUSE: Duration = Duration::from_millis(50);

/// The name a copy to `dest` is written under until it is whole: beside it, so that renaming it
/// into place stays on one file system.
fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(format!(".partial-{}", std::process::id()));
    PathBuf::from(name)
}

/// Deletes `path` if it is there.
fn remove_if_present(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(format!(
            "cannot remove the leftover {}: {error}",
            shown(path)
        )),
        _ => Ok(()),
    }
}

/// Copies the database of `source` to `dest` with the online backup API: all pages in one step,
/// so in one read transaction; written to a partial file first, renamed to `dest` once whole
/// (replacing a file there). On failure no partial file is left; the error says what failed.
pub(super) fn online_copy(source: &Connection, dest: &Path) -> Result<(), String> {
    let partial = partial_path(dest);
    remove_if_present(&partial)?;
    let copied = copy_pages(source, &partial).and_then(|()| {
        std::fs::rename(&partial, dest).map_err(|error| {
            format!(
                "cannot rename {} to {}: {error}",
                shown(&partial),
                shown(dest)
            )
        })
    });
    if copied.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    copied
}

/// The pages of `source`'s main database into a new database file at `partial`.
fn copy_pages(source: &Connection, partial: &Path) -> Result<(), String> {
    let sqlite = |error: rusqlite::Error| format!("writing {} failed: {error}", shown(partial));
    let mut target = Connection::open(partial).map_err(sqlite)?;
    let backup = Backup::new(source, &mut target).map_err(sqlite)?;
    let deadline = std::time::Instant::now() + COPY_PATIENCE;
    loop {
        match backup.step(-1).map_err(sqlite)? {
            StepResult::Done => break,
            StepResult::Busy | StepResult::Locked if std::time::Instant::now() < deadline => {
                std::thread::sleep(COPY_PAUSE);
            }
            StepResult::More => {}
            _ => {
                return Err(format!(
                    "the store stayed locked for {} s",
                    COPY_PATIENCE.as_secs()
                ));
            }
        }
    }
    drop(backup);
    target.close().map_err(|(_, error)| sqlite(error))
}

/// What [`backup`] copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The copy.
    pub to: PathBuf,
    /// The schema version of the store (and so of the copy).
    pub schema_version: i64,
    /// The copy's size in bytes.
    pub bytes: u64,
}

/// Copies the store at `path` to `to` while it may be in use (SQLite's online backup: the copy
/// is the store as one commit left it, writes of running imports go on). Refuses a `to` that
/// exists unless `overwrite`, and `to` being the store itself. The store is never created,
/// migrated or written.
pub fn backup(path: &Path, to: &Path, overwrite: bool) -> Result<BackupReport, StoreError> {
    if let Location::Postgres(_) = Location::of(path) {
        return Err(StoreError::BackupRefused {
            to: to.to_owned(),
            why: "the store is in PostgreSQL, which dcconn does not copy: back it up with pg_dump"
                .to_owned(),
        });
    }
    let failed = |problem: String| StoreError::Backup {
        path: path.to_owned(),
        to: to.to_owned(),
        problem,
    };
    let (source, schema_version) = open::existing(path)?;
    let refused = |why: &str| StoreError::BackupRefused {
        to: to.to_owned(),
        why: why.to_owned(),
    };
    if is_same_file(path, to) {
        return Err(refused("that is the store itself; give another file"));
    }
    if open::is_store_file(path, to) {
        return Err(refused(
            "that is one of the store's own files (-wal, -shm, -journal); give another file",
        ));
    }
    if std::fs::metadata(to).is_ok_and(|metadata| !metadata.is_file()) {
        return Err(refused(
            "that exists and is not a regular file (a folder, a device, a FIFO); give a file",
        ));
    }
    if !overwrite && to.symlink_metadata().is_ok() {
        return Err(refused(
            "that file exists; give a new file, or --force to replace it",
        ));
    }
    online_copy(&source, to).map_err(failed)?;
    let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or_default();
    Ok(BackupReport {
        to: to.to_owned(),
        schema_version,
        bytes,
    })
}

/// Whether `a` and `b` name the same existing file.
fn is_same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A row `PRAGMA foreign_key_check` reports: it names a parent row that is not there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForeignKeyProblem {
    /// The table of the row.
    pub table: String,
    /// The row's rowid (`None` for a table without rowid).
    pub rowid: Option<i64>,
    /// The table its parent should be in.
    pub parent: String,
}

/// How many tasks of an endpoint have one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCount {
    /// The status as stored, such as `PENDING PROVISIONING`.
    pub status: String,
    /// How many tasks have it.
    pub count: u64,
}

/// What one endpoint holds, by count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointCounts {
    /// The endpoint.
    pub endpoint: String,
    /// Its import runs.
    pub runs: u64,
    /// Of those, the runs whose changes were pruned.
    pub pruned_runs: u64,
    /// Its accounts, whatever their status.
    pub accounts: u64,
    /// Its provisioning tasks by status, in status order.
    pub tasks: Vec<StatusCount>,
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    /// The store, as an absolute path.
    pub store: String,
    /// Whether the file is sound: no integrity problem and no row without its parent.
    pub sound: bool,
    /// The file's schema version.
    pub schema_version: i64,
    /// The schema version this dcconn writes.
    pub current_schema_version: i64,
    /// What `PRAGMA integrity_check` reported (empty when it said `ok`), and any check that
    /// could not run, with SQLite's reason.
    pub integrity_problems: Vec<String>,
    /// The tables and columns the file's schema version has that the file lacks.
    pub schema_problems: Vec<String>,
    /// What `PRAGMA foreign_key_check` reported.
    pub foreign_key_problems: Vec<ForeignKeyProblem>,
    /// The endpoints with their counts, by name.
    pub endpoints: Vec<EndpointCounts>,
}

/// Checks the store at `path` without writing to it: SQLite's integrity and foreign key checks,
/// its schema version, and what each endpoint holds. Any schema version this dcconn knows
/// (an older one too) is checked; a newer one is refused.
///
/// A store in PostgreSQL is checked for its schema version and counted: the server keeps its
/// integrity and foreign keys itself.
pub fn check(path: &Path) -> Result<CheckReport, StoreError> {
    if let Location::Postgres(_) = Location::of(path) {
        return check_postgres(path);
    }
    let (conn, schema_version) = open::existing(path)?;
    if schema_version > schema::VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: schema_version,
            supported: schema::VERSION,
        });
    }
    // Each check that cannot run (a damaged page, a missing table) is itself a finding: the
    // report is always made.
    let mut integrity_problems = integrity_problems(&conn)
        .unwrap_or_else(|error| vec![format!("PRAGMA integrity_check could not run: {error}")]);
    let foreign_key_problems = foreign_key_problems(&conn).unwrap_or_else(|error| {
        integrity_problems.push(format!("PRAGMA foreign_key_check could not run: {error}"));
        Vec::new()
    });
    let schema_problems = schema_problems(&conn, schema_version)
        .unwrap_or_else(|error| vec![format!("the tables could not be listed: {error}")]);
    let features = Features::of(&conn);
    let conn = db::Connection::sqlite(conn);
    let endpoints = features
        .map_err(db::Error::from)
        .and_then(|features| endpoint_counts(&conn, &features))
        .unwrap_or_else(|error| {
            integrity_problems.push(format!(
                "the endpoints' runs, accounts and tasks could not be counted: {error}"
            ));
            Vec::new()
        });
    Ok(CheckReport {
        store: shown(path),
        sound: integrity_problems.is_empty()
            && foreign_key_problems.is_empty()
            && schema_problems.is_empty(),
        schema_version,
        current_schema_version: schema::VERSION,
        integrity_problems,
        schema_problems,
        foreign_key_problems,
        endpoints,
    })
}

/// The tables and columns that schema version `version` has and the file on `conn` lacks,
/// found by building that version's schema in memory.
fn schema_problems(conn: &Connection, version: i64) -> rusqlite::Result<Vec<String>> {
    let mut expected = Connection::open_in_memory()?;
    schema::migrate_to(&mut expected, version)?;
    let mut problems = Vec::new();
    for table in table_names(&expected)? {
        if !has_table(conn, &table)? {
            problems.push(format!("table {table} is missing"));
            continue;
        }
        let present = column_names(conn, &table)?;
        for column in column_names(&expected, &table)? {
            if !present.contains(&column) {
                problems.push(format!("column {table}.{column} is missing"));
            }
        }
    }
    Ok(problems)
}

/// The names of the database's own tables.
fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare(
        "SELECT name FROM sqlite_schema
         WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )?
    .query_map([], |row| row.get(0))?
    .collect()
}

/// The names of a table's columns.
fn column_names(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT name FROM pragma_table_info(?1)")?
        .query_map([table], |row| row.get(0))?
        .collect()
}

/// `PRAGMA integrity_check`'s findings, none when it says `ok`.
fn integrity_problems(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let found: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(found.into_iter().filter(|line| line != "ok").collect())
}

/// `PRAGMA foreign_key_check`'s findings.
fn foreign_key_problems(conn: &Connection) -> rusqlite::Result<Vec<ForeignKeyProblem>> {
    conn.prepare("PRAGMA foreign_key_check")?
        .query_map([], |row| {
            Ok(ForeignKeyProblem {
                table: row.get(0)?,
                rowid: row.get(1)?,
                parent: row.get(2)?,
            })
        })?
        .collect()
}

/// Whether the database has a table of that name (a table of a later schema version).
fn has_table(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)",
        [table],
        |row| row.get(0),
    )
}

/// Whether `table` has a column of that name (a column of a later schema version).
fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
        [table, column],
        |row| row.get(0),
    )
}

/// [`check`] of a store in PostgreSQL.
fn check_postgres(path: &Path) -> Result<CheckReport, StoreError> {
    let store = Store::open_as(path, OpenMode::ReadOnly)?;
    let endpoints = endpoint_counts(&store.conn, &Features::CURRENT)
        .doing(|| "counting the endpoints' runs, accounts and tasks".to_owned())?;
    Ok(CheckReport {
        store: shown(path),
        sound: true,
        schema_version: schema::VERSION,
        current_schema_version: schema::VERSION,
        integrity_problems: Vec::new(),
        schema_problems: Vec::new(),
        foreign_key_problems: Vec::new(),
        endpoints,
    })
}

/// What tables and columns of the newer schemas a store has: a store is checked at any
/// version this dcconn knows.
struct Features {
    /// `runs.pruned_at` (version 8).
    pruned: bool,
    /// `tasks` (version 3).
    tasks: bool,
}

impl Features {
    /// What the SQLite store on `conn` has.
    fn of(conn: &Connection) -> rusqlite::Result<Features> {
        Ok(Features {
            pruned: has_column(conn, "runs", "pruned_at")?,
            tasks: has_table(conn, "tasks")?,
        })
    }

    /// Everything: the schema at this dcconn's version.
    const CURRENT: Features = Features {
        pruned: true,
        tasks: true,
    };
}

/// Every endpoint with its runs, accounts and tasks by status, in a store with `features`.
fn endpoint_counts(conn: &db::Connection, features: &Features) -> db::Result<Vec<EndpointCounts>> {
    let pruned = if features.pruned {
        "(SELECT count(*) FROM runs WHERE endpoint_id = e.id AND pruned_at IS NOT NULL)"
    } else {
        "0"
    };
    let mut endpoints: Vec<(i64, EndpointCounts)> = conn
        .prepare(&format!(
            "SELECT e.id, e.name,
                    (SELECT count(*) FROM runs WHERE endpoint_id = e.id), {pruned},
                    (SELECT count(*) FROM accounts WHERE endpoint_id = e.id)
             FROM endpoints AS e ORDER BY e.name"
        ))?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                EndpointCounts {
                    endpoint: row.get(1)?,
                    runs: count(row.get(2)?),
                    pruned_runs: count(row.get(3)?),
                    accounts: count(row.get(4)?),
                    tasks: Vec::new(),
                },
            ))
        })?
        .collect::<db::Result<_>>()?;
    if features.tasks {
        let mut statement = conn.prepare(
            "SELECT status, count(*) FROM tasks WHERE endpoint_id = ?1
             GROUP BY status ORDER BY status",
        )?;
        for (id, counts) in &mut endpoints {
            counts.tasks = statement
                .query_map([*id], |row| {
                    Ok(StatusCount {
                        status: row.get(0)?,
                        count: count(row.get(1)?),
                    })
                })?
                .collect::<db::Result<_>>()?;
        }
    }
    Ok(endpoints.into_iter().map(|(_, counts)| counts).collect())
}

/// Which runs [`Store::prune`] prunes. A run is pruned only when every rule given says so (so
/// with both, it is older than the period *and* not among the newest); without a rule nothing
/// is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneRequest {
    /// Only this endpoint's runs (default: every endpoint's).
    pub endpoint: Option<String>,
    /// Keep the changes of each endpoint's newest runs, this many.
    pub keep_runs: Option<u32>,
    /// Keep the changes of runs that started less than this many days ago.
    pub older_than_days: Option<u32>,
    /// Only say what would be pruned.
    pub dry_run: bool,
}

/// A run whose changes were (or would be) pruned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrunedRun {
    /// The run.
    pub run: i64,
    /// Its endpoint.
    pub endpoint: String,
    /// When it started.
    pub started_at: String,
    /// How it ended.
    pub outcome: String,
    /// Its changes, counted as `dcconn changes` lists them.
    pub changes: u64,
}

/// The store's size before and after it was compacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vacuum {
    /// Bytes before (pages times page size).
    pub bytes_before: u64,
    /// Bytes after.
    pub bytes_after: u64,
}

/// What [`Store::prune`] did, or would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    /// Whether nothing was changed (`--dry-run`).
    pub dry_run: bool,
    /// The runs whose changes went (would go), by endpoint then run.
    pub runs: Vec<PrunedRun>,
    /// Their changes in all.
    pub changes: u64,
    /// The compaction after pruning, when there was one.
    pub vacuum: Option<Vacuum>,
    /// Why the file was not compacted though pages were freed, when it was not.
    pub not_vacuumed: Option<String>,
}

/// How many changes a run has, each new account's links counted one by one as `dcconn changes`
/// lists them.
const CHANGE_COUNT: &str = "(SELECT count(*) + coalesce(sum(CASE WHEN c.object = 'account'
        AND c.change = 'new' AND c.new IS NOT NULL THEN json_array_length(c.new) END), 0)
    FROM changes AS c WHERE c.run_id = r.id)";

/// The runs whose changes `request` prunes, as of `now`: never a running run nor the newest
/// succeeded run of an endpoint, and only runs that have changes.
fn prunable(
    conn: &db::Connection,
    request: &PruneRequest,
    now: &str,
) -> db::Result<Vec<PrunedRun>> {
    if request.keep_runs.is_none() && request.older_than_days.is_none() {
        return Ok(Vec::new());
    }
    let cutoff: Option<String> = request
        .older_than_days
        .map(|days| {
            conn.query_row(
                "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1, ?2)",
                params![now, format!("-{days} days")],
                |row| row.get(0),
            )
        })
        .transpose()?;
    conn.prepare_cached(&format!(
        "SELECT r.id, e.name, r.started_at, r.outcome, {CHANGE_COUNT}
         FROM (SELECT id, endpoint_id, started_at, outcome,
                      row_number() OVER (PARTITION BY endpoint_id ORDER BY id DESC) AS newest
               FROM runs) AS r
         JOIN endpoints AS e ON e.id = r.endpoint_id
         WHERE (CAST(?1 AS TEXT) IS NULL OR e.name = ?1)
           AND r.outcome <> 'running'
           AND r.id NOT IN (SELECT max(id) FROM runs WHERE outcome = 'succeeded'
                            GROUP BY endpoint_id)
           AND (CAST(?2 AS BIGINT) IS NULL OR r.newest > ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR r.started_at < ?3)
           AND EXISTS (SELECT 1 FROM changes AS c WHERE c.run_id = r.id)
         ORDER BY e.name, r.id"
    ))?
    .query_map(
        params![request.endpoint, request.keep_runs, cutoff],
        |row| {
            Ok(PrunedRun {
                run: row.get(0)?,
                endpoint: row.get(1)?,
                started_at: row.get(2)?,
                outcome: row.get(3)?,
                changes: count(row.get(4)?),
            })
        },
    )?
    .collect()
}

/// Deletes the run's changes and records that they were pruned, and how many.
fn prune_run(conn: &db::Connection, run: &PrunedRun, now: &str) -> db::Result<()> {
    conn.prepare_cached("DELETE FROM changes WHERE run_id = ?1")?
        .execute([run.run])?;
    conn.prepare_cached(
        "UPDATE runs SET pruned_at = ?2, changes_pruned = changes_pruned + ?3 WHERE id = ?1",
    )?
    .execute(params![
        run.run,
        now,
        i64::try_from(run.changes).unwrap_or(i64::MAX)
    ])?;
    Ok(())
}

/// A running import that holds its lease now, as `run N of endpoint E`, if any.
fn importing(conn: &db::Connection) -> db::Result<Option<String>> {
    conn.query_row(
        "SELECT 'run ' || r.id || ' of endpoint ' || e.name
         FROM runs AS r JOIN endpoints AS e ON e.id = r.endpoint_id
         WHERE r.outcome = 'running' AND r.lease_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         ORDER BY r.id LIMIT 1",
        [],
        |row| row.get(0),
    )
    .optional()
}

/// The database's size in bytes and its free pages.
fn size_and_free_pages(conn: &Connection) -> rusqlite::Result<(u64, u64)> {
    let pragma = |name: &str| conn.pragma_query_value(None, name, |row| row.get::<_, i64>(0));
    let bytes = pragma("page_count")?.saturating_mul(pragma("page_size")?);
    Ok((count(bytes), count(pragma("freelist_count")?)))
}

impl Store {
    /// Prunes the audit trail of old runs as `request` says: deletes their `changes` rows in one
    /// transaction, keeping each run's row and totals, marked with when and how many changes
    /// went (`runs.pruned_at`, `runs.changes_pruned`). Never touches a running run or the newest
    /// succeeded run of an endpoint. Then compacts the file (`VACUUM`) when pages were freed,
    /// unless an import is running (it would wait for the rewrite): the freed pages are reused
    /// by later writes meanwhile. A dry run only says which runs would go.
    pub fn prune(&mut self, request: &PruneRequest) -> Result<PruneReport, StoreError> {
        let action = || "pruning old runs' changes".to_owned();
        let tx = self.write(&action)?;
        let now = sql::now(&tx).doing(action)?;
        let runs = prunable(&tx, request, &now).doing(action)?;
        let changes = runs.iter().map(|run| run.changes).sum();
        if request.dry_run {
            return Ok(PruneReport {
                dry_run: true,
                runs,
                changes,
                vacuum: None,
                not_vacuumed: None,
            });
        }
        for run in &runs {
            prune_run(&tx, run, &now).doing(action)?;
        }
        tx.commit().doing(action)?;
        let (vacuum, not_vacuumed) = self.compact()?;
        Ok(PruneReport {
            dry_run: false,
            runs,
            changes,
            vacuum,
            not_vacuumed,
        })
    }

    /// `VACUUM` when the file has free pages and no import runs; then the WAL is checkpointed so
    /// the file shrinks now. Returns the sizes, or why it did not.
    fn compact(&mut self) -> Result<(Option<Vacuum>, Option<String>), StoreError> {
        let action = || "compacting the store (VACUUM)".to_owned();
        // PostgreSQL's autovacuum reuses the space of deleted rows: nothing to do here.
        let Some(conn) = self.conn.as_sqlite() else {
            return Ok((None, None));
        };
        let (bytes_before, free_pages) = size_and_free_pages(conn).doing(action)?;
        if free_pages == 0 {
            return Ok((None, None));
        }
        if let Some(run) = importing(&self.conn).doing(action)? {
            return Ok((
                None,
                Some(format!(
                    "{run} is importing; the freed pages are reused by later imports, and the next prune compacts the file"
                )),
            ));
        }
        conn.execute_batch("VACUUM").doing(action)?;
        // Best effort: a reader still in the old file keeps the WAL until it is done.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let (bytes_after, _) = size_and_free_pages(conn).doing(action)?;
        Ok((
            Some(Vacuum {
                bytes_before,
                bytes_after,
            }),
            None,
        ))
    }
}

#[cfg(test)]
mod tests;
