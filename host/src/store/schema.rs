//! The store's SQL schema and its migrations, kept apart from the code that uses them.
//!
//! `PRAGMA user_version` holds the schema version. Each migration takes the schema from one
//! version to the next; [`migrate_after`] runs the missing ones in one `BEGIN IMMEDIATE` transaction
//! so two processes opening a new file at once cannot both create it, after the step it is given
//! (the store's backup, `open.rs`) has run under the same lock. A file written by a newer program
//! is refused rather than guessed at.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// Migrations in order: `MIGRATIONS[n]` takes the schema from version `n` to `n + 1`.
///
/// Version 1, the first schema:
/// - `endpoints`: one row per Duck Creek instance; everything else belongs to one.
/// - `runs`: one row per import; counts are rows received while `running`, distinct rows applied
///   once `succeeded`.
/// - `accounts`, `entitlements`, `links`: the live state. Nothing is ever deleted from them by an
///   import; `last_seen_run` marks what the latest import reported, so a later reconciliation can
///   find what it did not. `links` has no foreign key to `entitlements`: accounts are usually
///   imported before the entitlement catalogue, so a link may name an entitlement not yet known.
///   First and last seen runs carry no foreign key either, so old runs can be pruned some day.
/// - `staged_*`: what an import in progress has received, one merged row per account, link and
///   entitlement, keyed by run. Applied to the live tables and deleted in one transaction when
///   the import completes; deleted alone when it fails.
///
/// Version 2, full-import reconciliation:
/// - `runs` is rebuilt (SQLite cannot alter a CHECK) so that `outcome` may be `withheld`, with the
///   reconciliation counts and `withheld`, a JSON array of the removals the run did not apply.
/// - `accounts` gain `present` (0 once an import no longer reported them) and `locked` (NULL:
///   unknown); `entitlements` gain `present`.
/// - `staged_accounts` gain the `status` and `locked` derived from the policy when the run
///   completes.
/// - `endpoints` gain their correlation rule (`correlation`, NULL: the default rule) and
///   `correlate_inactive`.
/// - `changes`: every change each run made to the live tables, numbered by `seq` within the run.
/// - `identities`: the people accounts belong to, shared by all endpoints.
///
/// Version 3, provisioning tasks:
/// - `tasks`: one row per enable or disable of an account, with its status, tries and the lease
///   of the attempt in progress (`lease_owner` and `lease_until` are set exactly while the status
///   is `IN PROGRESS`). It references the account it provisions; accounts are never deleted.
/// - `task_attempts`: one row per try, numbered from 1 within the task: who made it, when, how
///   it ended (`complete`, `failed`, or `expired` when its lease ran out before it reported) and,
///   for a completed one, the account's status and lock before and after.
///
/// Version 4, speed:
/// - the `staged_*` tables leave the file: each connection stages in TEMP tables of its own
///   ([`STAGING`]), which SQLite writes without the WAL and deletes with the connection. A run
///   whose process died lost its staging with it, as recovery always treated it.
/// - `tasks_claimable` on (endpoint, status, id): claiming the oldest due task walks it rather
///   than every task the endpoint ever had.
///
/// Version 5, what provisioning plans report back:
/// - `tasks.comments`: what the plan's `TASK.PROVISIONINGCOMMENTS` captured when the task
///   completed; `task_attempts.comments` and `task_attempts.skipped_calls` (a JSON array of the
///   calls whose request rendered empty and was not sent) per completed attempt.
/// - `task_changes`: the account columns a completed attempt updated (`ACCOUNT.<column>`), with
///   the old and new value: part of the account's history beside the runs' `changes`.
///
/// Version 6, one import per endpoint at a time:
/// - `runs.lease_owner` and `runs.lease_until`: the lease a running import holds on its
///   endpoint, renewed while its process lives. Another import of the endpoint refuses while the
///   lease lasts, and marks the run interrupted once it has expired. A run left `running` by an
///   older version has no lease, so it counts as expired.
///
/// Version 7, provisioning in order and tries that count:
/// - `task_attempts.sent`: whether the attempt let a request go (its worker's lease was checked
///   and extended for it). An attempt whose lease ran out before it sent anything gives its try
///   back when the task is claimed again. Attempts older than this version count as sent.
/// - `tasks_by_account` on (endpoint, account, id): an account's tasks are attempted in the
///   order they were created, a task only once every earlier one of its account has ended.
///
/// Version 8, a store you can run for years:
/// - `runs.pruned_at` and `runs.changes_pruned`: when `dcconn db prune` deleted the run's
///   `changes` rows, and how many changes (as `dcconn changes` lists them) went; the run's row
///   and its totals stay.
///
/// Version 9, tasks an operator cancels:
/// - `tasks` is rebuilt (SQLite cannot alter a CHECK) so that `status` may be `CANCELLED`, an
///   end state like `COMPLETE` and `PROVISIONING FAILED`; its indexes are made again.
/// - a `COMPLETE` task no longer keeps the error of an earlier failed attempt in `last_error`
///   (its `task_attempts` keep every error): the copy leaves it out.
///
/// Since version 6, an import writes only what changed: an account it reports unchanged is not
/// written at all, so `last_seen_run` is the last run that applied the row, not the last that
/// reported it; removals are found against what the run reported (`temp.missing_accounts`). A
/// new account's links are recorded with its arrival: its `new` change holds them (a JSON array
/// of `[type, value]` pairs), not a `link-added` change each.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE endpoints (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE runs (
    id                   INTEGER PRIMARY KEY,
    endpoint_id          INTEGER NOT NULL REFERENCES endpoints (id),
    kind                 TEXT NOT NULL,
    scope                TEXT NOT NULL,
    started_at           TEXT NOT NULL,
    finished_at          TEXT,
    outcome              TEXT NOT NULL CHECK (outcome IN ('running', 'succeeded', 'failed')),
    error                TEXT,
    accounts             INTEGER NOT NULL DEFAULT 0,
    account_details      INTEGER NOT NULL DEFAULT 0,
    entitlements         INTEGER NOT NULL DEFAULT 0,
    links                INTEGER NOT NULL DEFAULT 0,
    new_accounts         INTEGER NOT NULL DEFAULT 0,
    updated_accounts     INTEGER NOT NULL DEFAULT 0,
    new_entitlements     INTEGER NOT NULL DEFAULT 0,
    updated_entitlements INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_endpoint ON runs (endpoint_id, id);

CREATE TABLE accounts (
    endpoint_id    INTEGER NOT NULL REFERENCES endpoints (id),
    name           TEXT NOT NULL,
    columns        TEXT NOT NULL,
    status         TEXT NOT NULL,
    first_seen_run INTEGER NOT NULL,
    last_seen_run  INTEGER NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, name)
);

CREATE TABLE entitlements (
    endpoint_id    INTEGER NOT NULL REFERENCES endpoints (id),
    type           TEXT NOT NULL,
    value          TEXT NOT NULL,
    columns        TEXT NOT NULL,
    status         TEXT NOT NULL,
    first_seen_run INTEGER NOT NULL,
    last_seen_run  INTEGER NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, type, value)
);

CREATE TABLE links (
    endpoint_id    INTEGER NOT NULL REFERENCES endpoints (id),
    account_name   TEXT NOT NULL,
    type           TEXT NOT NULL,
    value          TEXT NOT NULL,
    first_seen_run INTEGER NOT NULL,
    last_seen_run  INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, account_name, type, value)
) WITHOUT ROWID;

CREATE TABLE staged_accounts (
    run_id  INTEGER NOT NULL REFERENCES runs (id),
    name    TEXT NOT NULL,
    columns TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE staged_links (
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    account_name TEXT NOT NULL,
    type         TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (run_id, account_name, type, value)
) WITHOUT ROWID;

CREATE TABLE staged_entitlements (
    run_id  INTEGER NOT NULL REFERENCES runs (id),
    type    TEXT NOT NULL,
    value   TEXT NOT NULL,
    columns TEXT NOT NULL,
    PRIMARY KEY (run_id, type, value)
);
",
    "
CREATE TABLE runs_v2 (
    id                       INTEGER PRIMARY KEY,
    endpoint_id              INTEGER NOT NULL REFERENCES endpoints (id),
    kind                     TEXT NOT NULL,
    scope                    TEXT NOT NULL,
    started_at               TEXT NOT NULL,
    finished_at              TEXT,
    outcome                  TEXT NOT NULL
                             CHECK (outcome IN ('running', 'succeeded', 'withheld', 'failed')),
    error                    TEXT,
    accounts                 INTEGER NOT NULL DEFAULT 0,
    account_details          INTEGER NOT NULL DEFAULT 0,
    entitlements             INTEGER NOT NULL DEFAULT 0,
    links                    INTEGER NOT NULL DEFAULT 0,
    new_accounts             INTEGER NOT NULL DEFAULT 0,
    updated_accounts         INTEGER NOT NULL DEFAULT 0,
    new_entitlements         INTEGER NOT NULL DEFAULT 0,
    updated_entitlements     INTEGER NOT NULL DEFAULT 0,
    suspended                INTEGER NOT NULL DEFAULT 0,
    restored                 INTEGER NOT NULL DEFAULT 0,
    links_added              INTEGER NOT NULL DEFAULT 0,
    links_removed            INTEGER NOT NULL DEFAULT 0,
    entitlements_inactivated INTEGER NOT NULL DEFAULT 0,
    entitlements_restored    INTEGER NOT NULL DEFAULT 0,
    withheld                 TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO runs_v2 (id, endpoint_id, kind, scope, started_at, finished_at, outcome, error,
                     accounts, account_details, entitlements, links, new_accounts,
                     updated_accounts, new_entitlements, updated_entitlements)
SELECT id, endpoint_id, kind, scope, started_at, finished_at, outcome, error,
       accounts, account_details, entitlements, links, new_accounts,
       updated_accounts, new_entitlements, updated_entitlements
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
CREATE INDEX runs_by_endpoint ON runs (endpoint_id, id);

ALTER TABLE accounts ADD COLUMN present INTEGER NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN locked INTEGER;
ALTER TABLE entitlements ADD COLUMN present INTEGER NOT NULL DEFAULT 1;
ALTER TABLE staged_accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE staged_accounts ADD COLUMN locked INTEGER;
ALTER TABLE endpoints ADD COLUMN correlation TEXT;
ALTER TABLE endpoints ADD COLUMN correlate_inactive INTEGER NOT NULL DEFAULT 0;

CREATE TABLE changes (
    run_id           INTEGER NOT NULL REFERENCES runs (id),
    seq              INTEGER NOT NULL,
    object           TEXT NOT NULL CHECK (object IN ('account', 'entitlement', 'link')),
    account          TEXT,
    entitlement_type TEXT,
    value            TEXT,
    change           TEXT NOT NULL,
    column_name      TEXT,
    old              TEXT,
    new              TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE identities (
    username   TEXT PRIMARY KEY,
    firstname  TEXT,
    lastname   TEXT,
    email      TEXT,
    attributes TEXT NOT NULL
);
",
    "
CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY,
    endpoint_id     INTEGER NOT NULL REFERENCES endpoints (id),
    account         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('enable', 'disable')),
    status          TEXT NOT NULL
                    CHECK (status IN ('NEW', 'IN PROGRESS', 'PENDING PROVISIONING', 'COMPLETE',
                                      'PROVISIONING FAILED')),
    tries           INTEGER NOT NULL DEFAULT 0,
    max_tries       INTEGER NOT NULL CHECK (max_tries BETWEEN 1 AND 20),
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    completed_at    TEXT,
    CHECK (tries BETWEEN 0 AND max_tries),
    CHECK ((status = 'IN PROGRESS') = (lease_owner IS NOT NULL)),
    CHECK ((lease_owner IS NULL) = (lease_until IS NULL)),
    CHECK ((status = 'COMPLETE') = (completed_at IS NOT NULL)),
    FOREIGN KEY (endpoint_id, account) REFERENCES accounts (endpoint_id, name)
);
CREATE INDEX tasks_by_endpoint ON tasks (endpoint_id, id);
CREATE INDEX tasks_due ON tasks (endpoint_id, status, next_attempt_at);

CREATE TABLE task_attempts (
    task_id     INTEGER NOT NULL REFERENCES tasks (id),
    try         INTEGER NOT NULL CHECK (try >= 1),
    owner       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT CHECK (outcome IN ('complete', 'failed', 'expired')),
    error       TEXT,
    old_status  TEXT,
    new_status  TEXT,
    old_locked  INTEGER,
    new_locked  INTEGER,
    CHECK ((finished_at IS NULL) = (outcome IS NULL)),
    PRIMARY KEY (task_id, try)
) WITHOUT ROWID;
",
    "
DROP TABLE staged_links;
DROP TABLE staged_accounts;
DROP TABLE staged_entitlements;
CREATE INDEX tasks_claimable ON tasks (endpoint_id, status, id);
",
    "
ALTER TABLE tasks ADD COLUMN comments TEXT;
ALTER TABLE task_attempts ADD COLUMN comments TEXT;
ALTER TABLE task_attempts ADD COLUMN skipped_calls TEXT;

CREATE TABLE task_changes (
    task_id     INTEGER NOT NULL,
    try         INTEGER NOT NULL,
    column_name TEXT NOT NULL,
    old         TEXT,
    new         TEXT NOT NULL,
    PRIMARY KEY (task_id, try, column_name),
    FOREIGN KEY (task_id, try) REFERENCES task_attempts (task_id, try)
) WITHOUT ROWID;
",
    "
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_until TEXT;
CREATE INDEX runs_running ON runs (endpoint_id) WHERE outcome = 'running';
",
    "
ALTER TABLE task_attempts ADD COLUMN sent INTEGER NOT NULL DEFAULT 1;
CREATE INDEX tasks_by_account ON tasks (endpoint_id, account, id);
",
    "
ALTER TABLE runs ADD COLUMN pruned_at TEXT;
ALTER TABLE runs ADD COLUMN changes_pruned INTEGER NOT NULL DEFAULT 0;
",
    "
CREATE TABLE tasks_v9 (
    id              INTEGER PRIMARY KEY,
    endpoint_id     INTEGER NOT NULL REFERENCES endpoints (id),
    account         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('enable', 'disable')),
    status          TEXT NOT NULL
                    CHECK (status IN ('NEW', 'IN PROGRESS', 'PENDING PROVISIONING', 'COMPLETE',
                                      'PROVISIONING FAILED', 'CANCELLED')),
    tries           INTEGER NOT NULL DEFAULT 0,
    max_tries       INTEGER NOT NULL CHECK (max_tries BETWEEN 1 AND 20),
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    completed_at    TEXT,
    comments        TEXT,
    CHECK (tries BETWEEN 0 AND max_tries),
    CHECK ((status = 'IN PROGRESS') = (lease_owner IS NOT NULL)),
    CHECK ((lease_owner IS NULL) = (lease_until IS NULL)),
    CHECK ((status = 'COMPLETE') = (completed_at IS NOT NULL)),
    FOREIGN KEY (endpoint_id, account) REFERENCES accounts (endpoint_id, name)
);
INSERT INTO tasks_v9 (id, endpoint_id, account, kind, status, tries, max_tries, last_error,
                      created_at, updated_at, next_attempt_at, lease_owner, lease_until,
                      completed_at, comments)
SELECT id, endpoint_id, account, kind, status, tries, max_tries,
       CASE WHEN status = 'COMPLETE' THEN NULL ELSE last_error END,
       created_at, updated_at, next_attempt_at, lease_owner, lease_until, completed_at, comments
FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_v9 RENAME TO tasks;
CREATE INDEX tasks_by_endpoint ON tasks (endpoint_id, id);
CREATE INDEX tasks_due ON tasks (endpoint_id, status, next_attempt_at);
CREATE INDEX tasks_claimable ON tasks (endpoint_id, status, id);
CREATE INDEX tasks_by_account ON tasks (endpoint_id, account, id);
",
];

/// The staging tables of an import in progress: TEMP tables, created by every connection that
/// opens the store. What an import has received, one merged row per account, link and
/// entitlement, keyed by run; applied to the live tables and deleted when the import completes,
/// deleted alone when it fails. Nothing here needs to survive the process: a run whose process
/// died is marked interrupted by the next import.
pub(super) const STAGING: &str = "
CREATE TEMP TABLE IF NOT EXISTS staged_accounts (
    run_id  INTEGER NOT NULL,
    name    TEXT NOT NULL,
    columns TEXT NOT NULL,
    status  TEXT NOT NULL DEFAULT 'active',
    locked  INTEGER,
    is_new  INTEGER NOT NULL DEFAULT 0,
    arrival TEXT,
    PRIMARY KEY (run_id, name)
);
CREATE TEMP TABLE IF NOT EXISTS staged_links (
    run_id       INTEGER NOT NULL,
    account_name TEXT NOT NULL,
    type         TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (run_id, account_name, type, value)
) WITHOUT ROWID;
CREATE TEMP TABLE IF NOT EXISTS missing_accounts (
    id INTEGER PRIMARY KEY
);
CREATE TEMP TABLE IF NOT EXISTS staged_entitlements (
    run_id  INTEGER NOT NULL,
    type    TEXT NOT NULL,
    value   TEXT NOT NULL,
    columns TEXT NOT NULL,
    PRIMARY KEY (run_id, type, value)
);
";

/// The schema version this program writes and reads.
pub(super) const VERSION: i64 = MIGRATIONS.len() as i64;

/// What [`migrate`] found.
pub(super) enum Migration {
    /// The schema is at [`VERSION`] (possibly after migrating).
    Current,
    /// The file has a newer schema than this program knows; nothing was changed.
    TooNew(i64),
}

/// The schema version recorded in the file.
pub(super) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings the schema to version `target` (at most [`VERSION`]) with nothing run before; tests
/// build older schemas with it, and `db check` the schema a version should have.
pub(super) fn migrate_to(conn: &mut Connection, target: i64) -> rusqlite::Result<Migration> {
    migrate_after(conn, target, |_| Ok(()))
}

/// Brings the schema to version `target` (at most [`VERSION`]).
///
/// When a schema older than `target` is there (version 1 or later: a new file has nothing to
/// keep), `before` runs first with its version, inside the migration's write lock, so that no
/// other process migrates or writes in between; its error stops the migration, nothing changed.
///
/// Call it with foreign keys off (`PRAGMA foreign_keys` cannot change inside a transaction):
/// rebuilding a table that others reference is SQLite's documented procedure only then. The
/// references are checked before committing.
pub(super) fn migrate_after<E: From<rusqlite::Error>>(
    conn: &mut Connection,
    target: i64,
    before: impl FnOnce(i64) -> Result<(), E>,
) -> Result<Migration, E> {
    let found = user_version(conn)?;
    if found > VERSION {
        return Ok(Migration::TooNew(found));
    }
    if found >= target {
        return Ok(Migration::Current);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated between the check above and taking the write lock.
    let found = user_version(&tx)?;
    if found > VERSION {
        return Ok(Migration::TooNew(found));
    }
    if found >= target {
        return Ok(Migration::Current);
    }
    if found > 0 {
        before(found)?;
    }
    let start = usize::try_from(found).unwrap_or(0);
    let end = usize::try_from(target).unwrap_or(0).min(MIGRATIONS.len());
    for migration in MIGRATIONS.get(start..end).unwrap_or_default() {
        tx.execute_batch(migration)?;
    }
    let broken: Option<String> = tx
        .prepare("PRAGMA foreign_key_check")?
        .query_row([], |row| row.get(0))
        .optional()?;
    if let Some(table) = broken {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
            Some(format!(
                "migrating to schema version {target} left rows of {table} without their parent"
            )),
        )
        .into());
    }
    tx.pragma_update(None, "user_version", target)?;
    tx.commit()?;
    Ok(Migration::Current)
}
