//! The host's state: what imports brought in, kept in one embedded SQLite file.
//!
//! One file holds several Duck Creek instances side by side; everything belongs to an *endpoint*
//! (by default the connection's name), and an unknown endpoint simply has nothing.
//!
//! An import is a *run*. It streams batches, and each batch is written in its own transaction, so
//! memory stays flat and nothing received is lost; but batches go to staging tables keyed by the
//! run, not to the live tables. Only [`Store::complete_run`] applies the staging to the live data,
//! in one transaction, with set-based SQL. A failed run ([`Store::fail_run`]) or a killed process
//! therefore never changes live data: once its lease has expired, the next import of the endpoint
//! (or [`Store::recover_interrupted`]) marks such a run interrupted; its staging died with its
//! connection.
//!
//! Completing a run also reconciles, by the run's scope and a [`crate::model::Reconciliation`] policy: accounts
//! the import no longer reports are suspended (or inactivated), entitlements no longer reported
//! are inactivated, links the import no longer reports are deleted, and whatever reappears is
//! restored, unless a threshold withholds the removals. Nothing is deleted from `accounts` or
//! `entitlements`: removal sets `present = 0`. Every change a run makes is recorded in the
//! `changes` table ([`Store::run_changes`]). An import writes only what changed: unchanged
//! accounts are compared as they arrive and never written (`receive.rs`).
//!
//! A dry run ([`Store::begin_dry_run`] ... [`Store::end_dry_run`]) holds one outer transaction
//! around a whole import and rolls it back: every write method uses a savepoint when a
//! transaction is already open.
//!
//! Identities (the people accounts belong to) are kept for all endpoints; each endpoint has a
//! [`CorrelationRule`] by which its accounts are matched to them when read
//! ([`StoredAccount::owner`]).
//!
//! Concurrency: readers may use the file at any time (WAL journal). One import per endpoint at
//! a time: a run holds its endpoint's lease (`runs.rs`), and imports of different endpoints run
//! side by side. The path of a batch: [`Store::begin_import`] (`runs.rs`, then `receive.rs`),
//! [`Store::stage_accounts`] and the other stagings (`receive.rs`), [`Store::complete_run`]
//! (`apply.rs`), [`Store::run_changes`] (`audit.rs`).
//!
//! Provisioning tasks (enable or disable an account) are kept here too, with leases so that any
//! number of processes may work on them and none attempts a task another holds (`tasks.rs`:
//! [`Store::create_task`], [`Store::claim_due`], [`Store::complete_task`], ...).

mod apply;
mod audit;
pub(crate) mod db;
mod maintenance;
mod names;
mod open;
mod receive;
mod runs;
mod schema;
mod sql;
mod tasks;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use db::{Connection, Transaction};
use serde::{Deserialize, Serialize};

use crate::identities::{Correlator, Identity};
use crate::model::{Columns, CorrelationRule, EntitlementRef};

pub use crate::model::{ACTIVE, INACTIVE, SUSPENDED};
pub use maintenance::{
    BackupReport, CheckReport, EndpointCounts, ForeignKeyProblem, PruneReport, PruneRequest,
    PrunedRun, StatusCount, Vacuum, backup, check,
};
pub use open::{Location, Migrated, OpenMode, is_store_file};
pub use sql::is_store_time;
/// The schema version this dcconn writes and reads (`PRAGMA user_version` of its stores).
pub const SCHEMA_VERSION: i64 = schema::VERSION;
pub use runs::{BusyRun, DEFAULT_RUN_LEASE, LeaseKeeper, RunLease};
pub use tasks::{
    AttemptOutcome, Completion, EXPIRED, MAX_DELAY, MAX_TRIES, NextDue, ParseTaskKindError,
    Requested, Task, TaskAttempt, TaskChange, TaskFilter, TaskId, TaskKind, TaskStatus,
};

/// How long a statement waits for another connection's lock before failing: long enough to ride
/// out another process's batch commit, short enough to report a stuck writer.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`Store::reconnecting`] waits for a PostgreSQL server to come back (a restart takes
/// a few seconds), and how often it tries meanwhile.
const RECONNECT_WAIT: Duration = Duration::from_secs(15);
const RECONNECT_PAUSE: Duration = Duration::from_millis(250);

/// Prepared statements kept per connection; comfortably more than the statements this module has.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// The error recorded on runs whose process stopped before the import finished (their lease
/// expired), by [`Store::begin_run`] and [`Store::recover_interrupted`].
pub const INTERRUPTED: &str = "interrupted (the process stopped before the import finished)";

/// Identifies a run (an import) in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// Begun and neither completed nor failed (or interrupted and not yet recovered).
    Running,
    /// Completed; its data was applied and reconciled.
    Succeeded,
    /// Completed; its data was applied, but some removals were withheld by a threshold (see
    /// [`RunRecord::withheld`]).
    Withheld,
    /// Failed or interrupted; nothing it received was applied.
    Failed,
}

impl RunOutcome {
    /// The outcome as stored and displayed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Withheld => "withheld",
            RunOutcome::Failed => "failed",
        }
    }

    /// Parses a stored outcome.
    fn from_db(text: &str) -> Option<RunOutcome> {
        [
            RunOutcome::Running,
            RunOutcome::Succeeded,
            RunOutcome::Withheld,
            RunOutcome::Failed,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredAccount {
    /// The account name.
    pub name: String,
    /// The account's columns, in the order they were reported (details appended).
    pub columns: Columns,
    /// `active` or `inactive` (from the status column) while the target reports the account;
    /// once it no longer does, `SUSPENDED FROM IMPORT SERVICE` or `inactive`.
    pub status: String,
    /// Whether the latest account import reported it (false: suspended or inactivated).
    pub present: bool,
    /// Whether the target says it is locked; `None` when the policy has no locked column or the
    /// value is not mapped.
    pub locked: Option<bool>,
    /// The username of the identity the endpoint's correlation rule matches, if exactly one.
    pub owner: Option<String>,
    /// The entitlements the account holds, sorted by type then value.
    pub entitlements: Vec<EntitlementRef>,
}

/// What a run's report shows ([`Store::run_report`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The run as recorded.
    pub run: RunRecord,
    /// Changes by object and kind: (`account`, `new`, 40).
    pub change_counts: Vec<(String, String, u64)>,
    /// The run's first changes, in order.
    pub first_changes: Vec<Change>,
    /// The endpoint's accounts by status now, most frequent first.
    pub accounts_by_status: Vec<(String, u64)>,
    /// The endpoint's present entitlements by type now, most frequent first.
    pub entitlements_by_type: Vec<(String, u64)>,
}

/// One account with its history and tasks ([`Store::account_record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// The account as stored.
    pub account: StoredAccount,
    /// The changes runs made to it and its links, oldest first, with their run's start.
    pub history: Vec<(String, Change)>,
    /// The changes completed provisioning tasks made to it (status, columns), oldest first.
    pub provisioned: Vec<TaskChange>,
    /// Its provisioning tasks, newest first.
    pub tasks: Vec<Task>,
    /// The attempts of each of its tasks, in the order of `tasks`: (task id, attempts in order).
    pub attempts: Vec<(i64, Vec<TaskAttempt>)>,
}

/// An entitlement as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEntitlement {
    /// The entitlement type, such as `Role`.
    pub entitlement_type: String,
    /// The entitlement value, unique within its type.
    pub value: String,
    /// The entitlement's columns, in the order they were reported.
    pub columns: Columns,
    /// `active` for entitlements the target reports; `inactive` once it no longer does.
    pub status: String,
    /// Whether the latest access import reported it.
    pub present: bool,
}

/// Removals a completed run did not apply because a threshold (or the empty-list rule) withheld
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withheld {
    /// `accounts`, or the entitlement type.
    pub what: String,
    /// How many would have been removed.
    pub count: u64,
    /// The threshold reached; `None` for an empty account list.
    pub threshold: Option<u64>,
    /// The setting that withheld them: `accountThresholdValue`, `entThresholdValue.entType.<type>`
    /// or `allowEmptyAccountList`.
    pub setting: String,
}

/// One change a run made to the live data, as recorded in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The run.
    pub run_id: i64,
    /// The change's number within the run, from 1, in the order the run applied them.
    pub seq: u64,
    /// `account`, `entitlement` or `link`.
    pub object: String,
    /// The account (accounts and links).
    pub account: Option<String>,
    /// The entitlement type (entitlements and links).
    pub entitlement_type: Option<String>,
    /// The entitlement value (entitlements and links).
    pub value: Option<String>,
    /// `new`, `updated` (one per changed column), `status`, `suspended`, `inactivated`,
    /// `restored`, `link-added` or `link-removed`.
    pub change: String,
    /// The column, for `updated`.
    pub column_name: Option<String>,
    /// The value before: the column's (`updated`) or the status (`status`, `suspended`,
    /// `inactivated`, `restored`); `None` when there was none.
    pub old: Option<String>,
    /// The value after, likewise; `None` when the column was dropped.
    pub new: Option<String>,
}

/// One run as recorded.
///
/// While a run is `running` its counts are the records received so far (duplicates included);
/// once it succeeded they are the distinct records applied, with the new/updated split.
/// Serialized with camelCase names (`startedAt`), as `dcconn runs --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The run's id.
    pub id: i64,
    /// The endpoint the run imported from.
    pub endpoint: String,
    /// What the run did: `import`.
    pub kind: String,
    /// The import scope: `accounts`, `access` or `all`.
    pub scope: String,
    /// When it began, RFC 3339 UTC.
    pub started_at: String,
    /// When it ended, RFC 3339 UTC; `None` while running.
    pub finished_at: Option<String>,
    /// Where it stands.
    pub outcome: RunOutcome,
    /// Why it failed, for failed runs.
    pub error: Option<String>,
    /// Accounts reported.
    pub accounts: u64,
    /// Account detail records (per-account calls) received.
    pub account_details: u64,
    /// Entitlements reported.
    pub entitlements: u64,
    /// Account–entitlement links reported.
    pub links: u64,
    /// Accounts the store did not have before the run.
    pub new_accounts: u64,
    /// Accounts whose columns (or status) the run changed.
    pub updated_accounts: u64,
    /// Entitlements the store did not have before the run.
    pub new_entitlements: u64,
    /// Entitlements whose columns (or status) the run changed.
    pub updated_entitlements: u64,
    /// Accounts the run marked no longer reported (suspended or inactivated).
    pub suspended: u64,
    /// Accounts no longer reported before that the run reported again.
    pub restored: u64,
    /// Links the run added.
    pub links_added: u64,
    /// Links the run deleted.
    pub links_removed: u64,
    /// Entitlements the run inactivated.
    pub entitlements_inactivated: u64,
    /// Entitlements no longer reported before that the run reported again.
    pub entitlements_restored: u64,
    /// Removals the run withheld.
    pub withheld: Vec<Withheld>,
    /// When `dcconn db prune` deleted the run's changes (its totals above stay); `None` while
    /// they are kept.
    pub pruned_at: Option<String>,
    /// How many changes pruning deleted, counted as `dcconn changes` lists them.
    pub changes_pruned: u64,
}

/// What [`Store::complete_run`] applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// The run's id.
    pub run: i64,
    /// Distinct accounts reported.
    pub accounts: u64,
    /// Of those, accounts the store did not have.
    pub new_accounts: u64,
    /// Of those, accounts that existed and whose columns, status or lock changed (restored ones
    /// included).
    pub updated_accounts: u64,
    /// Account detail records received.
    pub account_details: u64,
    /// Distinct entitlements reported.
    pub entitlements: u64,
    /// Of those, entitlements the store did not have.
    pub new_entitlements: u64,
    /// Of those, entitlements that existed and whose columns (or status) changed.
    pub updated_entitlements: u64,
    /// Distinct account–entitlement links reported.
    pub links: u64,
    /// Accounts no longer reported that the run suspended (or inactivated, per the policy).
    pub suspended: u64,
    /// Accounts no longer reported before that the run reported again.
    pub restored: u64,
    /// Links the store did not have.
    pub links_added: u64,
    /// Links of reported accounts that the run no longer reports, deleted.
    pub links_removed: u64,
    /// Entitlements no longer reported that the run inactivated.
    pub entitlements_inactivated: u64,
    /// Entitlements no longer reported before that the run reported again.
    pub entitlements_restored: u64,
    /// Removals the run did not apply, and why.
    pub withheld: Vec<Withheld>,
}

impl RunSummary {
    /// How the run ended: [`RunOutcome::Withheld`] when anything was withheld, else
    /// [`RunOutcome::Succeeded`].
    pub fn outcome(&self) -> RunOutcome {
        if self.withheld.is_empty() {
            RunOutcome::Succeeded
        } else {
            RunOutcome::Withheld
        }
    }
}

/// A problem with the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file cannot be opened or prepared for use.
    #[error(
        "cannot open the store at {}: {source}; check that its folder exists and is writable, and that the file is a dcconn store",
        open::shown(path)
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// SQLite cannot read the file: its header or pages are damaged (or it was cut short).
    #[error(
        "the store at {} is damaged: SQLite cannot read it ({source}); restore it from a backup (dcconn db backup), or copy what SQLite can still read with `sqlite3 {} .recover`",
        open::shown(path),
        open::shown(path)
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file was written by a newer program with a schema this one does not know.
    #[error(
        "the store at {} has schema version {found}, newer than version {supported} that this dcconn knows; use a newer dcconn",
        open::shown(path)
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The newest schema version this program knows.
        supported: i64,
    },
    /// A command that reads (or maintains) the store found no file at the path: it creates none.
    #[error(
        "there is no store at {} (this command creates none): check --db (or DCCONN_DB) and the folder a relative path starts from, or create the store by importing (dcconn import -c CONNECTION --db {})",
        open::shown(path),
        open::shown(path)
    )]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The PostgreSQL database cannot be reached or set up.
    #[error(
        "cannot use the store at {store}: {source}; check the URL given as --db (or DCCONN_DB), that PostgreSQL runs there and that its user may connect (its password comes from PGPASSWORD, or from the URL)"
    )]
    Connect {
        /// The database's URL, without its password.
        store: String,
        /// What failed.
        source: db::Error,
    },
    /// A command that reads (or maintains) the store found a PostgreSQL database without one.
    #[error(
        "the database {store} holds no dcconn store (this command creates none): check --db (or DCCONN_DB), or create the store by importing (dcconn import -c CONNECTION --db URL)"
    )]
    NoStoreInDatabase {
        /// The database's URL, without its password.
        store: String,
    },
    /// The file is an empty database: no dcconn store yet.
    #[error(
        "the file {} is an empty database, not yet a dcconn store; an import creates the store in it (dcconn import -c CONNECTION --db {})",
        open::shown(path),
        open::shown(path)
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a dcconn store; nothing was written to it.
    #[error(
        "the file {} is not a dcconn store: {why}; nothing was written to it; point --db at a dcconn store, or at a new file to create one",
        open::shown(path)
    )]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        why: String,
    },
    /// A command that only reads found an older schema, which it does not migrate.
    #[error(
        "the store at {} has schema version {found}, older than version {current} that this dcconn reads; migrate it with dcconn db migrate (it backs the store up first), or let the next import do it",
        open::shown(path)
    )]
    NeedsMigration {
        /// The file.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The schema version this program reads.
        current: i64,
    },
    /// The copy taken before a migration failed, so the schema was not migrated.
    #[error(
        "the store at {} has schema version {found} and was not migrated to version {current}, because its copy to {} could not be taken first: {problem}; make room or fix that folder's permissions, then run dcconn again",
        open::shown(path),
        open::shown(backup)
    )]
    MigrationBackup {
        /// The store.
        path: PathBuf,
        /// Where the copy was to go.
        backup: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The schema version this program writes.
        current: i64,
        /// What failed.
        problem: String,
    },
    /// `dcconn db backup` was given a destination it does not write to; nothing was copied.
    #[error("not backing up the store to {}: {why}", open::shown(to))]
    BackupRefused {
        /// The destination given.
        to: PathBuf,
        /// Why not, and what to give instead.
        why: String,
    },
    /// `dcconn db backup` failed.
    #[error(
        "the store at {} could not be backed up to {}: {problem}; check that its folder exists, that dcconn may write there and that the disk has room",
        open::shown(path),
        open::shown(to)
    )]
    Backup {
        /// The store.
        path: PathBuf,
        /// Where the copy was to go.
        to: PathBuf,
        /// What failed, and what to do.
        problem: String,
    },
    /// A database operation failed.
    #[error("{} failed while {action}: {source}", backend_name(source))]
    Sqlite {
        /// What was being done, such as "staging accounts of run 7".
        action: String,
        /// What the database said.
        source: db::Error,
    },
    /// The run id is not in the store.
    #[error("there is no run {run} in the store")]
    UnknownRun {
        /// The run id.
        run: i64,
    },
    /// The run has already ended; nothing more can be staged, completed or failed in it.
    #[error("run {run} has already ended ({outcome}); start a new run")]
    RunEnded {
        /// The run id.
        run: i64,
        /// How it ended.
        outcome: RunOutcome,
    },
    /// Another import of the endpoint is running: its run holds the endpoint's lease.
    #[error(
        "endpoint {} is being imported by {}; wait for it (dcconn import --wait), or, if its process is gone, import again once its lease has expired",
        .0.endpoint, .0
    )]
    EndpointBusy(Box<BusyRun>),
    /// The run lost its endpoint's lease: its process was paused or cut off longer than the
    /// lease, and another import marked it interrupted.
    #[error(
        "run {run} lost its lease on the endpoint: it was stalled longer than the lease, and another import marked it interrupted; nothing it received was applied; import again"
    )]
    RunInterrupted {
        /// The run id.
        run: i64,
    },
    /// An endpoint name is empty.
    #[error("an endpoint name must not be empty")]
    EmptyEndpoint,
    /// [`Store::begin_dry_run`] while a dry run (or another transaction) is open.
    #[error("a dry run is already in progress on this store; end it before beginning another")]
    DryRunActive,
    /// [`Store::end_dry_run`] without a dry run.
    #[error("there is no dry run in progress to end")]
    NoDryRun,
    /// [`Store::replace_identities`] was given a username twice.
    #[error("identity {username:?} is given twice; each username must appear once")]
    DuplicateIdentity {
        /// The username.
        username: String,
    },
    /// A task names an account the store does not hold for the endpoint.
    #[error(
        "the store holds no account {account:?} of endpoint {endpoint}: check the name (dcconn accounts --endpoint {endpoint}); an account new in Duck Creek is known after the next import (dcconn import)"
    )]
    UnknownAccount {
        /// The endpoint.
        endpoint: String,
        /// The account name.
        account: String,
    },
    /// A task may be tried 1 to [`MAX_TRIES`] times.
    #[error("a task may be tried 1 to {MAX_TRIES} times, not {max_tries}")]
    MaxTriesOutOfRange {
        /// The number given.
        max_tries: u32,
    },
    /// A lease or retry delay is zero (leases) or longer than [`MAX_DELAY`].
    #[error("a {what} of {delay:?} is out of range; it must be {range}")]
    DelayOutOfRange {
        /// `lease` or `retry delay`.
        what: &'static str,
        /// The duration given.
        delay: Duration,
        /// What is accepted.
        range: &'static str,
    },
    /// The task id is not in the store.
    #[error("there is no task {task} in the store")]
    UnknownTask {
        /// The task id.
        task: i64,
    },
    /// A worker holds the task: its attempt may be sending a request now.
    #[error(
        "task {task} is IN PROGRESS: worker {owner} holds it until {until}, and its attempt may be sending its request now; wait until the attempt has ended (see `dcconn tasks`), then try again"
    )]
    TaskHeld {
        /// The task id.
        task: i64,
        /// The worker holding its lease.
        owner: String,
        /// Until when the lease holds.
        until: String,
    },
    /// The task has ended: nothing more can be done to it.
    #[error("task {task} has already ended ({status}): there is nothing left to cancel")]
    TaskEnded {
        /// The task id.
        task: i64,
        /// How it ended.
        status: TaskStatus,
    },
    /// The attempt's owner no longer holds the task's lease: the lease expired and the task was
    /// claimed again (or ended), or the owner never claimed it.
    #[error(
        "task {task} is not leased to this worker (its lease expired and it was claimed again, or it has ended); this attempt's result was not recorded"
    )]
    LeaseLost {
        /// The task id.
        task: i64,
    },
    /// Another process held the store's write lock longer than the busy timeout: a process
    /// paused or stuck in the middle of a write. Nothing was changed.
    #[error(
        "the store is busy: another process has held its write lock for more than {} s (a dcconn paused or stuck in the middle of a write?) while {action}; nothing of it was written to the store; try again once that process has finished or been stopped",
        waited.as_secs()
    )]
    Busy {
        /// What was being done, such as "claiming due tasks of endpoint prod".
        action: String,
        /// How long it waited for the lock.
        waited: Duration,
    },
    /// The file holds data this program cannot read back (edited by something else?).
    #[error(
        "the store holds unreadable data in {what}: {problem}; was the file changed by another program?"
    )]
    Corrupt {
        /// Where the data is, such as "the columns of account jdoe of endpoint prod".
        what: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl StoreError {
    /// Whether the connection to the database server was lost or could not be made: the same
    /// step may succeed on a new connection once the server is back.
    pub fn is_disconnected(&self) -> bool {
        match self {
            StoreError::Sqlite { source, .. } | StoreError::Connect { source, .. } => {
                source.is_disconnected()
            }
            _ => false,
        }
    }
}

/// Adds what was being done to a database error.
trait Doing<T> {
    /// Wraps the error in [`StoreError::Sqlite`] with the action `action` describes.
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> Doing<T> for db::Result<T> {
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|source| match source.is_busy() {
            // Another process held the write lock past the busy timeout: said as such.
            true => StoreError::Busy {
                action: action(),
                waited: BUSY_TIMEOUT,
            },
            false => StoreError::Sqlite {
                action: action(),
                source,
            },
        })
    }
}

impl<T> Doing<T> for rusqlite::Result<T> {
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(db::Error::from).doing(action)
    }
}

/// The database an error came from, as messages name it.
fn backend_name(error: &db::Error) -> &'static str {
    match error {
        db::Error::Postgres(_) => "PostgreSQL",
        _ => "SQLite",
    }
}

/// Encodes columns as a JSON array of `[name, value]` pairs, which keeps their order.
fn encode_columns(columns: &[(String, String)]) -> String {
    use serde_json::Value;
    Value::Array(
        columns
            .iter()
            .map(|(k, v)| Value::Array(vec![Value::from(k.as_str()), Value::from(v.as_str())]))
            .collect(),
    )
    .to_string()
}

/// Decodes [`encode_columns`]'s text; `what` names the owner for the error.
fn decode_columns(text: &str, what: impl FnOnce() -> String) -> Result<Columns, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: what(),
        problem: e.to_string(),
    })
}

/// Merges detail columns into `base`: a same-named column takes the detail's value in place, a
/// new one is appended.
fn merge_columns(base: &mut Columns, detail: &[(String, String)]) {
    for (name, value) in detail {
        match base.iter_mut().find(|(existing, _)| existing == name) {
            Some((_, old)) => old.clone_from(value),
            None => base.push((name.clone(), value.clone())),
        }
    }
}

/// Converts a stored count (never negative) to `u64`.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Converts a length to what SQLite stores, saturating (a batch never comes near `i64::MAX`).
fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Parses a stored outcome; anything else means the file was edited.
fn parse_outcome(run: i64, text: &str) -> Result<RunOutcome, StoreError> {
    RunOutcome::from_db(text).ok_or_else(|| StoreError::Corrupt {
        what: format!("the outcome of run {run}"),
        problem: format!("unknown outcome {text:?}"),
    })
}

/// Whether SQLite gave up waiting for another connection's lock (after [`BUSY_TIMEOUT`]).
fn is_busy(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
}

/// A write in progress: a transaction of its own, or a savepoint inside an open one (a dry run).
type Write<'a> = Transaction<'a>;

/// Starts a write of an import's staging on `conn`: see [`db::Connection::write_unlocked`].
fn begin_staging_write<'c>(
    conn: &'c mut Connection,
    action: &dyn Fn() -> String,
) -> Result<Write<'c>, StoreError> {
    conn.write_unlocked().doing(action)
}

/// Starts a write on `conn`: see [`Store::write`].
fn begin_write<'c>(
    conn: &'c mut Connection,
    action: &dyn Fn() -> String,
) -> Result<Write<'c>, StoreError> {
    conn.write().doing(action)
}

/// The state of one or more Duck Creek instances, in one SQLite file or one PostgreSQL database.
pub struct Store {
    conn: Connection,
    /// Where the store is, for another connection to it.
    location: Location,
    /// The lease the runs this store begins hold.
    lease: RunLease,
    /// What the store knows of the run it receives.
    receiving: Option<receive::Receiving>,
    /// The migration opening it made, if any.
    migrated: Option<Migrated>,
    /// Whether this connection's staging tables exist (SQLite's are made at opening,
    /// PostgreSQL's before the session's first import: [`Store::prepare_staging`]).
    staging_ready: bool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish()
    }
}

impl Store {
    /// Another connection to this store's file, holding the same run lease: for what must reach
    /// the store while this connection is in use, such as the check a worker makes before each
    /// request it sends, or the renewals of an import's lease between batches.
    pub fn reopen(&self) -> Result<Store, StoreError> {
        let mut store = Store::open_location(&self.location, OpenMode::Create)?;
        store.set_run_lease(self.lease.clone());
        Ok(store)
    }

    /// Runs `step`; when it failed because the connection to PostgreSQL was lost, connects
    /// again (waiting up to [`RECONNECT_WAIT`] for the server) and runs it once more. Only for
    /// steps that stand alone: what the lost session staged is gone with it.
    fn reconnecting<T>(
        &mut self,
        step: impl Fn(&mut Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match step(self) {
            Err(error) if error.is_disconnected() => {
                self.reconnect()?;
                step(self)
            }
            done => done,
        }
    }

    /// Replaces the connection with a new one to the same store, waiting up to
    /// [`RECONNECT_WAIT`] for the server to accept it.
    fn reconnect(&mut self) -> Result<(), StoreError> {
        let deadline = std::time::Instant::now() + RECONNECT_WAIT;
        loop {
            match Store::open_location(&self.location, OpenMode::Create) {
                Ok(fresh) => {
                    self.conn = fresh.conn;
                    self.receiving = None;
                    self.staging_ready = fresh.staging_ready;
                    return Ok(());
                }
                Err(error) if error.is_disconnected() && std::time::Instant::now() < deadline => {
                    std::thread::sleep(RECONNECT_PAUSE);
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Creates this connection's staging tables if it has none yet: before anything stages or
    /// deletes staging (beginning, failing or recovering runs, a dry run).
    fn prepare_staging(&mut self) -> Result<(), StoreError> {
        if !self.staging_ready {
            self.conn
                .execute_batch(open::postgres::STAGING)
                .doing(|| "creating this session's staging tables".to_owned())?;
            self.staging_ready = true;
        }
        Ok(())
    }

    /// Starts a write. Outside a dry run, a transaction that takes the write lock at once, so
    /// that another writer is waited for (busy timeout) rather than failing a lock upgrade
    /// halfway; inside one, a savepoint nested in the dry run's transaction.
    fn write(&mut self, action: &dyn Fn() -> String) -> Result<Write<'_>, StoreError> {
        begin_write(&mut self.conn, action)
    }

    /// Begins a dry run: an outer transaction (taking the write lock) that every write joins
    /// until [`Store::end_dry_run`] rolls all of it back. In between, an import runs as usual.
    /// Dropping the store in a dry run rolls it back too.
    pub fn begin_dry_run(&mut self) -> Result<(), StoreError> {
        if !self.conn.is_autocommit() {
            return Err(StoreError::DryRunActive);
        }
        // Made before the dry run's transaction, whose rollback would take them away.
        self.prepare_staging()?;
        self.conn
            .begin_immediate()
            .doing(|| "beginning a dry run".to_owned())
    }

    /// Ends a dry run, rolling back everything written since [`Store::begin_dry_run`].
    pub fn end_dry_run(&mut self) -> Result<(), StoreError> {
        if self.conn.is_autocommit() {
            return Err(StoreError::NoDryRun);
        }
        self.conn
            .rollback()
            .doing(|| "rolling back the dry run".to_owned())
    }

    /// The correlator for the endpoint's accounts and whether inactive accounts are correlated;
    /// `None` when there are no identities.
    fn correlator(
        &self,
        endpoint: i64,
        name: &str,
    ) -> Result<Option<(Correlator, bool)>, StoreError> {
        let identities = self.identities()?;
        if identities.is_empty() {
            return Ok(None);
        }
        let (rule, inactive) = self.correlation_of(endpoint, name)?;
        Ok(Some((Correlator::new(&identities, &rule), inactive)))
    }

    /// The endpoint's correlation rule and flag (defaults when never set).
    fn correlation_of(
        &self,
        endpoint: i64,
        name: &str,
    ) -> Result<(CorrelationRule, bool), StoreError> {
        let action = || format!("reading the correlation rule of endpoint {name}");
        let (rule, inactive) = sql::correlation(&self.conn, endpoint).doing(action)?;
        let rule = match rule {
            None => CorrelationRule::default(),
            Some(text) => text
                .parse()
                .map_err(
                    |e: crate::model::ParseCorrelationError| StoreError::Corrupt {
                        what: format!("the correlation rule of endpoint {name}"),
                        problem: e.to_string(),
                    },
                )?,
        };
        Ok((rule, inactive))
    }

    /// Turns an account row and its links into a [`StoredAccount`], finding its owner.
    fn stored_account(
        endpoint: &str,
        row: sql::AccountRow,
        entitlements: Vec<EntitlementRef>,
        correlator: Option<&(Correlator, bool)>,
    ) -> Result<StoredAccount, StoreError> {
        let sql::AccountRow {
            name,
            columns,
            status,
            present,
            locked,
        } = row;
        let columns = decode_columns(&columns, || {
            format!("the columns of account {name} of endpoint {endpoint}")
        })?;
        let owner = correlator
            .filter(|(_, inactive)| *inactive || status == ACTIVE)
            .and_then(|(correlator, _)| correlator.owner(&name, &columns))
            .map(str::to_owned);
        Ok(StoredAccount {
            name,
            columns,
            status,
            present,
            locked,
            owner,
            entitlements,
        })
    }

    /// The endpoint's accounts ordered by name, each with its links sorted by type then value
    /// and its owner. An unknown endpoint has none.
    pub fn accounts(&self, endpoint: &str) -> Result<Vec<StoredAccount>, StoreError> {
        let action = || format!("reading the accounts of endpoint {endpoint}");
        let Some(id) = sql::endpoint_id(&self.conn, endpoint).doing(action)? else {
            return Ok(Vec::new());
        };
        let correlator = self.correlator(id, endpoint)?;
        let rows = sql::account_rows(&self.conn, id).doing(action)?;
        let links = sql::link_rows(&self.conn, id).doing(action)?;
        // Both lists are sorted by account name (SQLite's BINARY collation is byte order, as is
        // `str`'s), so one pass pairs them.
        let mut links = links.into_iter().peekable();
        let mut accounts = Vec::with_capacity(rows.len());
        for row in rows {
            let mut entitlements = Vec::new();
            while let Some((account, _)) = links.peek() {
                if account.as_str() > row.name.as_str() {
                    break;
                }
                if let Some((account, link)) = links.next()
                    && account == row.name
                {
                    entitlements.push(link);
                }
            }
            accounts.push(Self::stored_account(
                endpoint,
                row,
                entitlements,
                correlator.as_ref(),
            )?);
        }
        Ok(accounts)
    }

    /// One account of the endpoint with its links and owner, `None` if the store does not have
    /// it.
    pub fn account(&self, endpoint: &str, name: &str) -> Result<Option<StoredAccount>, StoreError> {
        let action = || format!("reading account {name} of endpoint {endpoint}");
        let Some(id) = sql::endpoint_id(&self.conn, endpoint).doing(action)? else {
            return Ok(None);
        };
        let Some(row) = sql::account_row(&self.conn, id, name).doing(action)? else {
            return Ok(None);
        };
        let entitlements = sql::account_links(&self.conn, id, &row.name).doing(action)?;
        let correlator = self.correlator(id, endpoint)?;
        Self::stored_account(endpoint, row, entitlements, correlator.as_ref()).map(Some)
    }

    /// The identity `account` correlates to, whatever its status: the owner a provisioning plan
    /// binds as `${user.*}`. Unlike [`StoredAccount::owner`], which follows
    /// `correlateInactiveAccounts`, an inactive account keeps its owner here, because enabling
    /// an account is exactly when it is inactive.
    pub fn provisioning_owner(
        &self,
        endpoint: &str,
        account: &StoredAccount,
    ) -> Result<Option<Identity>, StoreError> {
        let action = || format!("reading endpoint {endpoint}");
        let Some(id) = sql::endpoint_id(&self.conn, endpoint).doing(action)? else {
            return Ok(None);
        };
        let identities = self.identities()?;
        if identities.is_empty() {
            return Ok(None);
        }
        let (rule, _) = self.correlation_of(id, endpoint)?;
        let owner = Correlator::new(&identities, &rule)
            .owner(&account.name, &account.columns)
            .map(str::to_owned);
        Ok(owner.and_then(|owner| {
            identities
                .into_iter()
                .find(|identity| identity.username == owner)
        }))
    }

    /// The endpoint's entitlements, of one type or of all, ordered by type then value. An
    /// unknown endpoint has none.
    pub fn entitlements(
        &self,
        endpoint: &str,
        entitlement_type: Option<&str>,
    ) -> Result<Vec<StoredEntitlement>, StoreError> {
        let action = || format!("reading the entitlements of endpoint {endpoint}");
        let Some(id) = sql::endpoint_id(&self.conn, endpoint).doing(action)? else {
            return Ok(Vec::new());
        };
        sql::entitlement_rows(&self.conn, id, entitlement_type)
            .doing(action)?
            .into_iter()
            .map(|(entitlement_type, value, columns, status, present)| {
                let columns = decode_columns(&columns, || {
                    format!(
                        "the columns of entitlement {entitlement_type} {value} of endpoint {endpoint}"
                    )
                })?;
                Ok(StoredEntitlement {
                    entitlement_type,
                    value,
                    columns,
                    status,
                    present,
                })
            })
            .collect()
    }

    /// Everything the store knows of one account: as stored, the changes every run made to it
    /// and its links (each with when its run started), what its completed provisioning tasks
    /// changed, and its tasks with their attempts. `None` when the endpoint has no such account.
    pub fn account_record(
        &self,
        endpoint: &str,
        name: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let Some(account) = self.account(endpoint, name)? else {
            return Ok(None);
        };
        let action = || format!("reading the history of account {name} of endpoint {endpoint}");
        let id = sql::endpoint_id(&self.conn, endpoint)
            .doing(action)?
            .unwrap_or_default();
        let history =
            audit::expand_paired(audit::account_changes(&self.conn, id, name).doing(action)?)?;
        let tasks = self.tasks_matching(
            endpoint,
            &TaskFilter {
                account: Some(name.to_owned()),
                ..TaskFilter::default()
            },
        )?;
        let attempts = tasks
            .iter()
            .map(|task| Ok((task.id, self.task_attempts(TaskId(task.id))?)))
            .collect::<Result<_, StoreError>>()?;
        let provisioned = self.task_changes(endpoint, name)?;
        Ok(Some(AccountRecord {
            account,
            history,
            provisioned,
            tasks,
            attempts,
        }))
    }

    /// Whether an account import (scope `accounts` or `all`) of the endpoint has completed,
    /// `succeeded` or `withheld`: the integration guide's rule that an access import comes after
    /// an account import.
    pub fn has_account_import(&self, endpoint: &str) -> Result<bool, StoreError> {
        sql::has_account_import(&self.conn, endpoint)
            .doing(|| format!("looking for an account import of endpoint {endpoint}"))
    }

    /// Replaces all identities with `identities` in one transaction; returns how many there are.
    pub fn replace_identities(&mut self, identities: &[Identity]) -> Result<usize, StoreError> {
        let mut seen = HashSet::with_capacity(identities.len());
        if let Some(twice) = identities
            .iter()
            .find(|identity| !seen.insert(identity.username.as_str()))
        {
            return Err(StoreError::DuplicateIdentity {
                username: twice.username.clone(),
            });
        }
        let action = || "replacing the identities".to_owned();
        let tx = self.write(&action)?;
        sql::delete_identities(&tx).doing(action)?;
        for identity in identities {
            sql::insert_identity(&tx, identity, &encode_columns(&identity.attributes))
                .doing(action)?;
        }
        tx.commit().doing(action)?;
        Ok(identities.len())
    }

    /// All identities, ordered by username.
    pub fn identities(&self) -> Result<Vec<Identity>, StoreError> {
        sql::identity_rows(&self.conn)
            .doing(|| "reading the identities".to_owned())?
            .into_iter()
            .map(|(mut identity, attributes)| {
                identity.attributes = decode_columns(&attributes, || {
                    format!("the attributes of identity {}", identity.username)
                })?;
                Ok(identity)
            })
            .collect()
    }

    /// Sets how the endpoint's accounts are matched to identities (the endpoint is created if
    /// new): the rule, and whether accounts that are not active are matched too.
    pub fn set_correlation(
        &mut self,
        endpoint: &str,
        rule: &CorrelationRule,
        correlate_inactive: bool,
    ) -> Result<(), StoreError> {
        if endpoint.is_empty() {
            return Err(StoreError::EmptyEndpoint);
        }
        let action = || format!("setting the correlation rule of endpoint {endpoint}");
        let tx = self.write(&action)?;
        sql::set_correlation(&tx, endpoint, &rule.to_string(), correlate_inactive).doing(action)?;
        tx.commit().doing(action)
    }

    /// The endpoint's correlation rule and whether inactive accounts are correlated: the
    /// defaults (`name=username,customproperty1=email`, false) until set.
    pub fn correlation(&self, endpoint: &str) -> Result<(CorrelationRule, bool), StoreError> {
        let action = || format!("reading the correlation rule of endpoint {endpoint}");
        match sql::endpoint_id(&self.conn, endpoint).doing(action)? {
            Some(id) => self.correlation_of(id, endpoint),
            None => Ok((CorrelationRule::default(), false)),
        }
    }

    /// The names of all endpoints the store knows, sorted.
    pub fn endpoints(&self) -> Result<Vec<String>, StoreError> {
        sql::endpoint_names(&self.conn).doing(|| "listing endpoints".to_owned())
    }
}
