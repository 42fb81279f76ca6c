//! Provisioning tasks: enabling or disabling an account, kept durably in the store and never
//! attempted by two workers at once.
//!
//! A task is created `NEW` for an account the store holds ([`Store::create_task`], or
//! [`Store::request_task`], which reuses a pending task of the same kind). A worker
//! *claims* it for one attempt ([`Store::claim_task`], [`Store::claim_due`]): in one
//! `BEGIN IMMEDIATE` transaction the task becomes `IN PROGRESS` under a lease (the worker's name
//! and a time until which the attempt is the worker's), its try count goes up and the attempt is
//! logged. Two processes cannot both claim a task: the second transaction waits for the first
//! and then finds the task leased. Every worker has a lease owner name of its own. Before each
//! request it sends, the worker extends its lease to cover the request
//! ([`Store::renew_task_lease`]), which fails once another worker has taken the task over. The
//! worker then reports: [`Store::complete_task`] (`COMPLETE`; the account's status and lock
//! follow in the same transaction) or [`Store::fail_attempt`] (`PENDING PROVISIONING` until a
//! later time when a retry is wanted and tries remain, else `PROVISIONING FAILED`). Only the
//! lease owner may report or renew, and it still may past `lease_until`, provided nobody claimed
//! the task again. A task nobody holds may be cancelled ([`Store::cancel_task`]): it ends
//! `CANCELLED` and is never attempted again.
//!
//! A worker that stops mid-attempt leaves its task `IN PROGRESS`. Once the lease has expired,
//! the task is claimable again: the abandoned attempt is closed as `expired` (it counts as a
//! try), or, when it was the last try, the task ends `PROVISIONING FAILED`. [`Store::next_due`]
//! tells when the next task becomes claimable, [`Store::next_unheld_due`] when the next one that
//! nobody holds does (what a retry run waits for).
//!
//! A write that waits longer than the busy timeout for another process's write lock fails with
//! [`StoreError::Busy`].
//!
//! Times are RFC 3339 UTC with milliseconds from SQLite's clock, as everywhere in the store, and
//! are compared in SQL as text (the fixed format sorts in time order). Each transaction reads the
//! clock once, so the times one step writes agree with each other.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::db::{self, Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{ACTIVE, Doing, INACTIVE, Store, StoreError, sql};

mod manage;
pub use manage::{Requested, TaskFilter};

/// The most tries a task may be given (the retry job of Saviynt allows up to 20).
pub const MAX_TRIES: u32 = 20;

/// The longest lease or retry delay accepted, 366 days: anything longer is a mistake.
pub const MAX_DELAY: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// What a task's last error says, and its attempt's error, when the attempt's lease ran out
/// before the attempt reported.
pub const EXPIRED: &str = "the attempt did not report before its lease expired (did its process stop?); whether it changed the account is unknown";

/// Identifies a provisioning task in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TaskId(pub i64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a task does to its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Enable (unlock) the account: once complete it is `active` and not locked.
    Enable,
    /// Disable (lock) the account: once complete it is `inactive` and locked.
    Disable,
}

impl TaskKind {
    /// The kind as stored and displayed: `enable` or `disable`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Enable => "enable",
            TaskKind::Disable => "disable",
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task kind that is neither `enable` nor `disable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task kind {text:?}; expected enable or disable")]
pub struct ParseTaskKindError {
    /// The text given.
    pub text: String,
}

impl FromStr for TaskKind {
    type Err = ParseTaskKindError;

    fn from_str(text: &str) -> Result<TaskKind, ParseTaskKindError> {
        [TaskKind::Enable, TaskKind::Disable]
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| ParseTaskKindError {
                text: text.to_owned(),
            })
    }
}

/// Where a task stands (Saviynt's task statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TaskStatus {
    /// Created, never attempted.
    #[serde(rename = "NEW")]
    New,
    /// An attempt holds the lease (or held it and stopped; see [`Store::claim_task`]).
    #[serde(rename = "IN PROGRESS")]
    InProgress,
    /// An attempt failed; another is due at [`Task::next_attempt_at`].
    #[serde(rename = "PENDING PROVISIONING")]
    PendingProvisioning,
    /// Done: the account was changed. An end state.
    #[serde(rename = "COMPLETE")]
    Complete,
    /// Given up: an attempt failed with no retry wanted, or no tries were left. An end state.
    #[serde(rename = "PROVISIONING FAILED")]
    ProvisioningFailed,
    /// Cancelled by an operator before it completed ([`Store::cancel_task`]). An end state.
    #[serde(rename = "CANCELLED")]
    Cancelled,
}

impl TaskStatus {
    /// Every status.
    const ALL: [TaskStatus; 6] = [
        TaskStatus::New,
        TaskStatus::InProgress,
        TaskStatus::PendingProvisioning,
        TaskStatus::Complete,
        TaskStatus::ProvisioningFailed,
        TaskStatus::Cancelled,
    ];

    /// The status as stored and displayed, such as `PENDING PROVISIONING`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::New => "NEW",
            TaskStatus::InProgress => "IN PROGRESS",
            TaskStatus::PendingProvisioning => "PENDING PROVISIONING",
            TaskStatus::Complete => "COMPLETE",
            TaskStatus::ProvisioningFailed => "PROVISIONING FAILED",
            TaskStatus::Cancelled => "CANCELLED",
        }
    }

    /// Whether the task has ended (`COMPLETE`, `PROVISIONING FAILED` or `CANCELLED`): nothing
    /// more happens to it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Complete | TaskStatus::ProvisioningFailed | TaskStatus::Cancelled
        )
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    /// The attempt changed the account ([`Store::complete_task`]).
    Complete,
    /// The attempt failed ([`Store::fail_attempt`]).
    Failed,
    /// The attempt's lease expired before it reported, and the task was claimed again or given
    /// up; whether it changed the account is unknown.
    Expired,
}

impl AttemptOutcome {
    /// Every outcome.
    const ALL: [AttemptOutcome; 3] = [
        AttemptOutcome::Complete,
        AttemptOutcome::Failed,
        AttemptOutcome::Expired,
    ];

    /// The outcome as stored and displayed: `complete`, `failed` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Complete => "complete",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Expired => "expired",
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provisioning task as stored. Serialized with camelCase names, as `dcconn tasks --format
/// json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task's id.
    pub id: i64,
    /// The endpoint of the account.
    pub endpoint: String,
    /// The account's name.
    pub account: String,
    /// What the task does.
    pub kind: TaskKind,
    /// Where it stands.
    pub status: TaskStatus,
    /// Attempts made so far (claims), the one in progress included.
    pub tries: u32,
    /// The most attempts it may have, 1 to [`MAX_TRIES`].
    pub max_tries: u32,
    /// The error of the latest attempt that failed or expired; cleared when the task completes
    /// (its attempts keep their errors, [`Store::task_attempts`]).
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// When it is due: its creation for a new task, the retry time after a failure; `None` once
    /// it has ended.
    #[serde(rename = "nextTryAt")]
    pub next_attempt_at: Option<String>,
    /// Who holds the lease, while `IN PROGRESS`.
    pub lease_owner: Option<String>,
    /// Until when the lease holds, while `IN PROGRESS`; after it the task may be claimed again.
    pub lease_until: Option<String>,
    /// When it completed, for `COMPLETE` tasks.
    pub completed_at: Option<String>,
    /// What the plan's `TASK.PROVISIONINGCOMMENTS` captured when the task completed.
    pub comments: Option<String>,
    /// The calls the completing attempt skipped (their request rendered empty: nothing sent).
    pub skipped_calls: Vec<u32>,
}

/// One attempt at a task, as logged. Serialized with camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAttempt {
    /// The attempt's number within its task, from 1.
    pub try_number: u32,
    /// The lease owner that made it.
    pub owner: String,
    /// When it was claimed.
    pub started_at: String,
    /// When it ended; `None` while in progress.
    pub finished_at: Option<String>,
    /// How it ended; `None` while in progress.
    pub outcome: Option<AttemptOutcome>,
    /// Why it failed (or [`EXPIRED`]).
    pub error: Option<String>,
    /// The account's status before a completed attempt changed it.
    pub old_status: Option<String>,
    /// The account's status after a completed attempt.
    pub new_status: Option<String>,
    /// Whether the account was locked before a completed attempt (`None` also when unknown).
    pub old_locked: Option<bool>,
    /// Whether the account is locked after a completed attempt.
    pub new_locked: Option<bool>,
    /// What `TASK.PROVISIONINGCOMMENTS` captured in a completed attempt.
    pub comments: Option<String>,
    /// The calls of a completed attempt whose request rendered empty and was not sent.
    pub skipped_calls: Vec<u32>,
}

/// What a completed attempt reported back, kept with the task ([`Store::complete_task_with`]).
/// Every text must hold no secret (the provisioning job masks them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    /// `TASK.PROVISIONINGCOMMENTS`: stored on the task and the attempt.
    pub comments: Option<String>,
    /// `ACCOUNT.<column>` values: each updates that column of the stored account (matched
    /// without regard to case; added when the account has no such column), recorded in
    /// `task_changes` with the old value.
    pub account_updates: Vec<(String, String)>,
    /// The calls whose request rendered empty and was not sent.
    pub skipped_calls: Vec<u32>,
}

/// A column of an account changed by a completed provisioning attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskChange {
    /// The task.
    pub task_id: i64,
    /// The attempt's number.
    pub try_number: u32,
    /// When the attempt completed.
    pub at: String,
    /// The column, as stored.
    pub column: String,
    /// Its value before; `None` when the account had no such column.
    pub old: Option<String>,
    /// Its value after.
    pub new: String,
}

/// Applies `updates` to `columns` (a column matched without regard to case keeps its stored
/// name; a new one is appended): the columns whose value changed, with old and new values.
fn update_columns(
    columns: &mut super::Columns,
    updates: &[(String, String)],
) -> Vec<(String, Option<String>, String)> {
    let mut changed = Vec::new();
    for (name, value) in updates {
        match columns
            .iter_mut()
            .find(|(existing, _)| existing.eq_ignore_ascii_case(name))
        {
            Some((existing, old)) if old != value => {
                changed.push((existing.clone(), Some(old.clone()), value.clone()));
                old.clone_from(value);
            }
            Some(_) => {}
            None => {
                changed.push((name.clone(), None, value.clone()));
                columns.push((name.clone(), value.clone()));
            }
        }
    }
    changed
}

/// Checks a lease (`positive`) or a retry delay against [`MAX_DELAY`].
fn check_delay(what: &'static str, delay: Duration, positive: bool) -> Result<(), StoreError> {
    if delay > MAX_DELAY || (positive && delay.is_zero()) {
        return Err(StoreError::DelayOutOfRange {
            what,
            delay,
            range: if positive {
                "longer than zero and at most 366 days"
            } else {
                "at most 366 days"
            },
        });
    }
    Ok(())
}

/// A task row with its kind and status still as text.
struct TaskRow {
    /// The task, with placeholder kind and status.
    task: Task,
    /// The stored kind.
    kind: String,
    /// The stored status.
    status: String,
    /// The completing attempt's skipped calls, as stored (a JSON array).
    skipped_calls: Option<String>,
}

impl TaskRow {
    /// The task, its kind and status parsed; anything unknown means the file was edited.
    fn into_task(self) -> Result<Task, StoreError> {
        let TaskRow {
            mut task,
            kind,
            status,
            skipped_calls,
        } = self;
        let corrupt = |what: &str, problem: String| StoreError::Corrupt {
            what: format!("the {what} of task {}", task.id),
            problem,
        };
        task.kind = kind
            .parse()
            .map_err(|e: ParseTaskKindError| corrupt("kind", e.to_string()))?;
        task.status = TaskStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
            .ok_or_else(|| corrupt("status", format!("unknown status {status:?}")))?;
        if let Some(skipped) = skipped_calls {
            task.skipped_calls = serde_json::from_str(&skipped)
                .map_err(|e| corrupt("skipped calls", e.to_string()))?;
        }
        if task.status.is_final() {
            task.next_attempt_at = None;
        }
        Ok(task)
    }
}

/// Reads a [`TaskRow`] from [`TASK_COLUMNS`].
fn task_row(row: &Row<'_>) -> db::Result<TaskRow> {
    Ok(TaskRow {
        task: Task {
            id: row.get(0)?,
            endpoint: row.get(1)?,
            account: row.get(2)?,
            kind: TaskKind::Enable,
            status: TaskStatus::New,
            tries: row.get(5)?,
            max_tries: row.get(6)?,
            last_error: row.get(7)?,
            created_at: row.get(8)?,
            updated_at: row.get(9)?,
            next_attempt_at: row.get(10)?,
            lease_owner: row.get(11)?,
            lease_until: row.get(12)?,
            completed_at: row.get(13)?,
            comments: row.get(14)?,
            skipped_calls: Vec::new(),
        },
        skipped_calls: row.get(15)?,
        kind: row.get(3)?,
        status: row.get(4)?,
    })
}

/// Tasks, newest first: of one endpoint (those `filter` lets through), or the one task.
fn task_rows(
    conn: &Connection,
    endpoint: Option<&str>,
    task: Option<i64>,
    filter: &TaskFilter,
) -> db::Result<Vec<TaskRow>> {
    let statuses = (!filter.statuses.is_empty()).then(|| {
        serde_json::Value::from_iter(filter.statuses.iter().map(|status| status.as_str()))
            .to_string()
    });
    conn.prepare_cached(
        "SELECT t.id, e.name, t.account, t.kind, t.status, t.tries, t.max_tries, t.last_error,
                t.created_at, t.updated_at, t.next_attempt_at, t.lease_owner, t.lease_until,
                t.completed_at, t.comments,
                (SELECT a.skipped_calls FROM task_attempts AS a
                 WHERE a.task_id = t.id AND a.outcome = 'complete' ORDER BY a.try DESC LIMIT 1)
         FROM tasks AS t JOIN endpoints AS e ON e.id = t.endpoint_id
         WHERE (CAST(?1 AS TEXT) IS NULL OR e.name = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR t.id = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR t.account = ?3)
           AND (CAST(?4 AS TEXT) IS NULL OR t.status IN (SELECT value FROM json_each(?4)))
         ORDER BY t.id DESC",
    )?
    .query_map(params![endpoint, task, filter.account, statuses], task_row)?
    .collect()
}

/// Reads one task that must exist.
fn read_task(
    conn: &Connection,
    task: TaskId,
    action: &dyn Fn() -> String,
) -> Result<Task, StoreError> {
    task_rows(conn, None, Some(task.0), &TaskFilter::default())
        .doing(action)?
        .into_iter()
        .next()
        .ok_or(StoreError::UnknownTask { task: task.0 })?
        .into_task()
}

/// A task may be tried 1 to [`MAX_TRIES`] times.
fn check_max_tries(max_tries: u32) -> Result<(), StoreError> {
    if !(1..=MAX_TRIES).contains(&max_tries) {
        return Err(StoreError::MaxTriesOutOfRange { max_tries });
    }
    Ok(())
}

/// Inserts a `NEW` task to `kind` `account` of `endpoint`, due now, and reads it back;
/// [`StoreError::UnknownAccount`] unless the store holds the account.
fn insert_task(
    conn: &Connection,
    endpoint: &str,
    account: &str,
    kind: TaskKind,
    max_tries: u32,
    action: &dyn Fn() -> String,
) -> Result<Task, StoreError> {
    let now = sql::now(conn).doing(action)?;
    let id: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO tasks (endpoint_id, account, kind, status, max_tries, created_at,
                                updated_at, next_attempt_at)
             SELECT a.endpoint_id, a.name, ?3, 'NEW', ?4, ?5, ?5, ?5
             FROM accounts AS a JOIN endpoints AS e ON e.id = a.endpoint_id
             WHERE e.name = ?1 AND a.name = ?2
             RETURNING id",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![endpoint, account, kind.as_str(), max_tries, now],
                |row| row.get(0),
            )
            .optional()
        })
        .doing(action)?;
    let Some(id) = id else {
        return Err(StoreError::UnknownAccount {
            endpoint: endpoint.to_owned(),
            account: account.to_owned(),
        });
    };
    read_task(conn, TaskId(id), action)
}

/// Ends `IN PROGRESS` tasks whose lease expired with no tries left as `PROVISIONING FAILED`
/// (of one task, or of one endpoint) and closes their attempts as expired.
fn give_up_expired(
    conn: &Connection,
    task: Option<i64>,
    endpoint: Option<i64>,
    now: &str,
) -> db::Result<()> {
    let ids: Vec<i64> = conn
        .prepare_cached(
            // One task by its id, or an endpoint's through the index on (endpoint, status): a
            // claim must not scan every task the endpoint ever had.
            match (task, endpoint) {
                (Some(_), _) => {
                    "UPDATE tasks SET status = 'PROVISIONING FAILED', lease_owner = NULL,
                         lease_until = NULL, last_error = ?4, updated_at = ?3
                     WHERE id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR endpoint_id = ?2)
                       AND status = 'IN PROGRESS' AND lease_until <= ?3 AND tries >= max_tries
                       AND NOT EXISTS (SELECT 1 FROM task_attempts AS a
                                       WHERE a.task_id = tasks.id AND a.try = tasks.tries
                                         AND a.sent = 0 AND a.finished_at IS NULL)
                     RETURNING id"
                }
                (None, _) => {
                    "UPDATE tasks SET status = 'PROVISIONING FAILED', lease_owner = NULL,
                         lease_until = NULL, last_error = ?4, updated_at = ?3
                     WHERE CAST(?1 AS BIGINT) IS NULL AND endpoint_id = ?2
                       AND status = 'IN PROGRESS' AND lease_until <= ?3 AND tries >= max_tries
                       AND NOT EXISTS (SELECT 1 FROM task_attempts AS a
                                       WHERE a.task_id = tasks.id AND a.try = tasks.tries
                                         AND a.sent = 0 AND a.finished_at IS NULL)
                     RETURNING id"
                }
            },
        )?
        .query_map(params![task, endpoint, now, EXPIRED], |row| row.get(0))?
        .collect::<db::Result<_>>()?;
    for id in ids {
        close_abandoned(conn, id, now)?;
    }
    Ok(())
}

/// Gives an `IN PROGRESS` task whose lease expired its try back when that attempt sent nothing
/// (its worker was too slow to reach its first request within the lease): the attempt is
/// forgotten, so the claim that follows takes its number.
fn refund_unsent(conn: &Connection, task: i64, now: &str) -> db::Result<()> {
    let forgotten = conn
        .prepare_cached(
            "DELETE FROM task_attempts
             WHERE task_id = ?1 AND sent = 0 AND finished_at IS NULL
               AND try = (SELECT tries FROM tasks
                          WHERE id = ?1 AND status = 'IN PROGRESS' AND lease_until <= ?2)",
        )?
        .execute(params![task, now])?;
    if forgotten > 0 {
        conn.prepare_cached("UPDATE tasks SET tries = tries - 1 WHERE id = ?1")?
            .execute([task])?;
    }
    Ok(())
}

/// Closes the task's open attempts other than the one holding the lease now, as expired.
fn close_abandoned(conn: &Connection, task: i64, now: &str) -> db::Result<()> {
    conn.prepare_cached(
        "UPDATE task_attempts SET finished_at = ?2, outcome = 'expired', error = ?3
         WHERE task_id = ?1 AND finished_at IS NULL
           AND try <> (SELECT CASE WHEN status = 'IN PROGRESS' THEN tries ELSE 0 END
                       FROM tasks WHERE id = ?1)",
    )?
    .execute(params![task, now, EXPIRED])?;
    Ok(())
}

/// Claims the task for `owner` until `until` if it is claimable at `now` (`NEW`, `PENDING
/// PROVISIONING`, or `IN PROGRESS` with an expired lease, and tries left); logs the attempt and
/// closes an abandoned one. Returns whether it claimed.
fn claim(conn: &Connection, task: i64, owner: &str, now: &str, until: &str) -> db::Result<bool> {
    refund_unsent(conn, task, now)?;
    let tries: Option<i64> = conn
        .prepare_cached(
            "UPDATE tasks SET status = 'IN PROGRESS', lease_owner = ?2, lease_until = ?3,
                 tries = tries + 1, updated_at = ?4,
                 last_error = CASE WHEN status = 'IN PROGRESS' THEN ?5 ELSE last_error END
             WHERE id = ?1 AND tries < max_tries
               AND (status IN ('NEW', 'PENDING PROVISIONING')
                    OR (status = 'IN PROGRESS' AND lease_until <= ?4))
               AND NOT EXISTS (SELECT 1 FROM tasks AS earlier
                               WHERE earlier.endpoint_id = tasks.endpoint_id
                                 AND earlier.account = tasks.account AND earlier.id < tasks.id
                                 AND earlier.status IN ('NEW', 'PENDING PROVISIONING',
                                                        'IN PROGRESS'))
             RETURNING tries",
        )?
        .query_row(params![task, owner, until, now, EXPIRED], |row| row.get(0))
        .optional()?;
    let Some(tries) = tries else {
        return Ok(false);
    };
    close_abandoned(conn, task, now)?;
    conn.prepare_cached(
        "INSERT INTO task_attempts (task_id, try, owner, started_at, sent)
         VALUES (?1, ?2, ?3, ?4, 0)",
    )?
    .execute(params![task, tries, owner, now])?;
    Ok(true)
}

/// What reporting an attempt needs to know about its task.
struct Lease {
    /// The task's endpoint id.
    endpoint: i64,
    /// The account's name.
    account: String,
    /// The stored kind.
    kind: String,
    /// Attempts so far; the one being reported is this one.
    tries: i64,
    /// The most attempts allowed.
    max_tries: i64,
    /// Who holds the lease.
    owner: Option<String>,
}

/// The task's lease and what reporting needs; an error for unknown tasks and for anyone but the
/// lease owner.
fn leased(
    conn: &Connection,
    task: TaskId,
    owner: &str,
    action: &dyn Fn() -> String,
) -> Result<Lease, StoreError> {
    let lease = conn
        .prepare_cached(
            "SELECT endpoint_id, account, kind, tries, max_tries, lease_owner FROM tasks
             WHERE id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([task.0], |row| {
                Ok(Lease {
                    endpoint: row.get(0)?,
                    account: row.get(1)?,
                    kind: row.get(2)?,
                    tries: row.get(3)?,
                    max_tries: row.get(4)?,
                    owner: row.get(5)?,
                })
            })
            .optional()
        })
        .doing(action)?
        .ok_or(StoreError::UnknownTask { task: task.0 })?;
    if lease.owner.as_deref() != Some(owner) {
        return Err(StoreError::LeaseLost { task: task.0 });
    }
    Ok(lease)
}

impl Store {
    /// Creates a `NEW` task to enable or disable `account` of `endpoint`, due now, that may be
    /// tried up to `max_tries` times (1 to [`MAX_TRIES`]). The store must hold the account.
    pub fn create_task(
        &mut self,
        endpoint: &str,
        account: &str,
        kind: TaskKind,
        max_tries: u32,
    ) -> Result<Task, StoreError> {
        check_max_tries(max_tries)?;
        let action =
            || format!("creating a task to {kind} account {account} of endpoint {endpoint}");
        let tx = self.write(&action)?;
        let task = insert_task(&tx, endpoint, account, kind, max_tries, &action)?;
        tx.commit().doing(action)?;
        Ok(task)
    }

    /// Claims this task for one attempt by `owner`, whatever its due time, if it is claimable:
    /// `NEW`, `PENDING PROVISIONING`, or `IN PROGRESS` with an expired lease (an attempt that
    /// stopped; it is closed as [`AttemptOutcome::Expired`]). The task becomes `IN PROGRESS`,
    /// leased to `owner` for `lease` (more than zero, at most [`MAX_DELAY`]; rounded up to the
    /// millisecond), with one more try, and the attempt is logged.
    ///
    /// `None` when it is not claimable: leased to someone whose lease has not expired, or ended.
    /// An expired attempt that was the last try ends the task `PROVISIONING FAILED` instead.
    /// One `BEGIN IMMEDIATE` transaction: two processes can never both claim the task.
    pub fn claim_task(
        &mut self,
        task: TaskId,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Task>, StoreError> {
        check_delay("lease", lease, true)?;
        let action = || format!("claiming task {task}");
        let tx = self.write(&action)?;
        let exists = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM tasks WHERE id = ?1)")
            .and_then(|mut stmt| stmt.query_row([task.0], |row| row.get::<_, bool>(0)))
            .doing(action)?;
        if !exists {
            return Err(StoreError::UnknownTask { task: task.0 });
        }
        let now = sql::now(&tx).doing(action)?;
        let until = sql::later(&tx, &now, lease).doing(action)?;
        give_up_expired(&tx, Some(task.0), None, &now).doing(action)?;
        let claimed = if claim(&tx, task.0, owner, &now, &until).doing(action)? {
            Some(read_task(&tx, task, &action)?)
        } else {
            None
        };
        tx.commit().doing(action)?;
        Ok(claimed)
    }

    /// Claims up to `limit` of the endpoint's tasks that are due, oldest (lowest id) first, as
    /// [`Store::claim_task`] does: `NEW` and `PENDING PROVISIONING` tasks whose `next_attempt_at`
    /// has come, and `IN PROGRESS` tasks whose lease expired. Expired attempts that were the last
    /// try end their tasks `PROVISIONING FAILED`. One `BEGIN IMMEDIATE` transaction.
    pub fn claim_due(
        &mut self,
        endpoint: &str,
        owner: &str,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Task>, StoreError> {
        self.claim_due_by(endpoint, owner, lease, limit, None)
    }

    /// [`Store::claim_due`], counting as due only what was due by `due_by` (a time of the
    /// store's clock, [`Store::now`]) when it is given: a run that claims only what was due
    /// when it started (`retry --due-only`) passes its start, so a task it failed and
    /// rescheduled, or one created since, waits for a later run.
    pub fn claim_due_by(
        &mut self,
        endpoint: &str,
        owner: &str,
        lease: Duration,
        limit: usize,
        due_by: Option<&str>,
    ) -> Result<Vec<Task>, StoreError> {
        check_delay("lease", lease, true)?;
        let action = || format!("claiming due tasks of endpoint {endpoint}");
        let tx = self.write(&action)?;
        let Some(endpoint_id) = sql::endpoint_id(&tx, endpoint).doing(action)? else {
            return Ok(Vec::new());
        };
        let now = sql::now(&tx).doing(action)?;
        let until = sql::later(&tx, &now, lease).doing(action)?;
        give_up_expired(&tx, None, Some(endpoint_id), &now).doing(action)?;
        // Times of the store's clock have one format, so they compare as text.
        let cutoff = due_by
            .filter(|due_by| *due_by < now.as_str())
            .unwrap_or(&now);
        let due: Vec<i64> = tx
            .prepare_cached(
                // Each status walks the index on (endpoint, status, id) from its oldest task, so
                // a claim costs the same with a thousand completed tasks behind it as with none.
                // `+next_attempt_at` keeps the time out of index selection: a bound value there
                // would make SQLite prepare the statement again for every new time.
                // An account's tasks go in the order they were created: one whose account has
                // an earlier task that has not ended waits for it.
                "SELECT id FROM (
                     SELECT * FROM (SELECT id FROM tasks AS t
                                    WHERE endpoint_id = ?1 AND status = 'NEW'
                                      AND +next_attempt_at <= ?2 AND tries < max_tries
                                      AND NOT EXISTS (SELECT 1 FROM tasks AS earlier
                                          WHERE earlier.endpoint_id = ?1
                                            AND earlier.account = t.account AND earlier.id < t.id
                                            AND earlier.status IN ('NEW', 'PENDING PROVISIONING',
                                                                   'IN PROGRESS'))
                                    ORDER BY id LIMIT ?3) AS new_tasks
                     UNION ALL
                     SELECT * FROM (SELECT id FROM tasks AS t
                                    WHERE endpoint_id = ?1 AND status = 'PENDING PROVISIONING'
                                      AND +next_attempt_at <= ?2 AND tries < max_tries
                                      AND NOT EXISTS (SELECT 1 FROM tasks AS earlier
                                          WHERE earlier.endpoint_id = ?1
                                            AND earlier.account = t.account AND earlier.id < t.id
                                            AND earlier.status IN ('NEW', 'PENDING PROVISIONING',
                                                                   'IN PROGRESS'))
                                    ORDER BY id LIMIT ?3) AS pending_tasks
                     UNION ALL
                     SELECT * FROM (SELECT id FROM tasks AS t
                                    WHERE endpoint_id = ?1 AND status = 'IN PROGRESS'
                                      AND +lease_until <= ?2
                                      AND (tries < max_tries
                                           OR EXISTS (SELECT 1 FROM task_attempts AS a
                                                      WHERE a.task_id = t.id AND a.try = t.tries
                                                        AND a.sent = 0
                                                        AND a.finished_at IS NULL))
                                    ORDER BY id LIMIT ?3) AS expired_tasks) AS due
                 ORDER BY id LIMIT ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![
                        endpoint_id,
                        cutoff,
                        i64::try_from(limit).unwrap_or(i64::MAX)
                    ],
                    |row| row.get(0),
                )?
                .collect()
            })
            .doing(action)?;
        let mut claimed = Vec::with_capacity(due.len());
        for id in due {
            if claim(&tx, id, owner, &now, &until).doing(action)? {
                claimed.push(read_task(&tx, TaskId(id), &action)?);
            }
        }
        tx.commit().doing(action)?;
        Ok(claimed)
    }

    /// Records that `owner`'s attempt succeeded: the task becomes `COMPLETE`, its lease is
    /// released and its last error cleared (the failed attempts keep theirs), the attempt is closed as [`AttemptOutcome::Complete`], and the account follows
    /// in the same transaction: disabled, it is `inactive` and locked; enabled, `active` and not
    /// locked. The attempt row keeps the account's status and lock before and after.
    ///
    /// [`StoreError::LeaseLost`] unless `owner` holds the task's lease (it still does past
    /// `lease_until` as long as nobody claimed the task again).
    pub fn complete_task(&mut self, task: TaskId, owner: &str) -> Result<Task, StoreError> {
        self.complete_task_with(task, owner, &Completion::default())
    }

    /// [`Store::complete_task`], keeping what the plan reported back: its comments on the task
    /// and the attempt, its skipped calls on the attempt, and its account column updates applied
    /// to the account in the same transaction (each recorded in the account's history).
    pub fn complete_task_with(
        &mut self,
        task: TaskId,
        owner: &str,
        completion: &Completion,
    ) -> Result<Task, StoreError> {
        let action = || format!("completing task {task}");
        let tx = self.write(&action)?;
        let lease = leased(&tx, task, owner, &action)?;
        let kind: TaskKind =
            lease
                .kind
                .parse()
                .map_err(|e: ParseTaskKindError| StoreError::Corrupt {
                    what: format!("the kind of task {task}"),
                    problem: e.to_string(),
                })?;
        let (new_status, new_locked) = match kind {
            TaskKind::Enable => (ACTIVE, false),
            TaskKind::Disable => (INACTIVE, true),
        };
        let now = sql::now(&tx).doing(action)?;
        let before: Option<(String, Option<bool>, String)> = tx
            .prepare_cached(
                "SELECT status, locked, columns FROM accounts
                 WHERE endpoint_id = ?1 AND name = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![lease.endpoint, lease.account], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
            })
            .doing(action)?;
        let Some((old_status, old_locked, columns)) = before else {
            return Err(StoreError::Corrupt {
                what: format!("task {task}"),
                problem: format!("its account {} is not in the store", lease.account),
            });
        };
        let mut columns = super::decode_columns(&columns, || {
            format!("the columns of account {}", lease.account)
        })?;
        let changed = update_columns(&mut columns, &completion.account_updates);
        tx.prepare_cached(
            "UPDATE accounts SET status = ?3, locked = ?4, updated_at = ?5, columns = ?6
             WHERE endpoint_id = ?1 AND name = ?2",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                lease.endpoint,
                lease.account,
                new_status,
                new_locked,
                now,
                super::encode_columns(&columns)
            ])
        })
        .doing(action)?;
        let skipped =
            serde_json::to_string(&completion.skipped_calls).unwrap_or_else(|_| "[]".to_owned());
        tx.prepare_cached(
            "UPDATE task_attempts SET finished_at = ?3, outcome = 'complete', old_status = ?4,
                 new_status = ?5, old_locked = ?6, new_locked = ?7, comments = ?8,
                 skipped_calls = ?9
             WHERE task_id = ?1 AND try = ?2",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                task.0,
                lease.tries,
                now,
                old_status,
                new_status,
                old_locked,
                new_locked,
                completion.comments,
                skipped
            ])
        })
        .doing(action)?;
        for (column, old, new) in &changed {
            tx.prepare_cached(
                "INSERT INTO task_changes (task_id, try, column_name, old, new)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut stmt| stmt.execute(params![task.0, lease.tries, column, old, new]))
            .doing(action)?;
        }
        tx.prepare_cached(
            "UPDATE tasks SET status = 'COMPLETE', completed_at = ?2, updated_at = ?2,
                 lease_owner = NULL, lease_until = NULL, comments = ?3, last_error = NULL
             WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![task.0, now, completion.comments]))
        .doing(action)?;
        let task = read_task(&tx, task, &action)?;
        tx.commit().doing(action)?;
        Ok(task)
    }

    /// Records that `owner`'s attempt failed with `error` (which must hold no secret): the
    /// attempt is closed as [`AttemptOutcome::Failed`] and the lease released. With `retry_after`
    /// (at most [`MAX_DELAY`]) and tries left, the task becomes `PENDING PROVISIONING`, due that
    /// long from now; otherwise it ends `PROVISIONING FAILED`. Either way `last_error` is `error`.
    ///
    /// [`StoreError::LeaseLost`] unless `owner` holds the task's lease.
    pub fn fail_attempt(
        &mut self,
        task: TaskId,
        owner: &str,
        error: &str,
        retry_after: Option<Duration>,
    ) -> Result<Task, StoreError> {
        if let Some(delay) = retry_after {
            check_delay("retry delay", delay, false)?;
        }
        let action = || format!("recording a failed attempt of task {task}");
        let tx = self.write(&action)?;
        let lease = leased(&tx, task, owner, &action)?;
        let now = sql::now(&tx).doing(action)?;
        let retry_at = match retry_after.filter(|_| lease.tries < lease.max_tries) {
            Some(delay) => Some(sql::later(&tx, &now, delay).doing(action)?),
            None => None,
        };
        let status = match retry_at {
            Some(_) => TaskStatus::PendingProvisioning,
            None => TaskStatus::ProvisioningFailed,
        };
        tx.prepare_cached(
            "UPDATE task_attempts SET finished_at = ?3, outcome = 'failed', error = ?4
             WHERE task_id = ?1 AND try = ?2",
        )
        .and_then(|mut stmt| stmt.execute(params![task.0, lease.tries, now, error]))
        .doing(action)?;
        tx.prepare_cached(
            "UPDATE tasks SET status = ?2, next_attempt_at = coalesce(?3, next_attempt_at),
                 last_error = ?4, updated_at = ?5, lease_owner = NULL, lease_until = NULL
             WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![task.0, status.as_str(), retry_at, error, now]))
        .doing(action)?;
        let task = read_task(&tx, task, &action)?;
        tx.commit().doing(action)?;
        Ok(task)
    }

    /// Extends `owner`'s lease on the task to last at least `lease` from now (it is never
    /// shortened) and returns the new `lease_until`: what a worker does immediately before each
    /// request it sends, `lease` covering the longest the request may take, so that nobody else
    /// may claim the task while it may still be in flight. `lease` is more than zero and at most
    /// [`MAX_DELAY`].
    ///
    /// [`StoreError::LeaseLost`] unless `owner` holds the task's lease. Past `lease_until` it still
    /// does while nobody claimed the task again: then nobody else can have a request in flight.
    pub fn renew_task_lease(
        &mut self,
        task: TaskId,
        owner: &str,
        lease: Duration,
    ) -> Result<String, StoreError> {
        check_delay("lease", lease, true)?;
        let action = || format!("renewing the lease of task {task}");
        let tx = self.write(&action)?;
        let now = sql::now(&tx).doing(action)?;
        let until = sql::later(&tx, &now, lease).doing(action)?;
        let renewed: Option<String> = tx
            .prepare_cached(
                "UPDATE tasks SET lease_until = CASE WHEN lease_until > ?3 THEN lease_until ELSE ?3 END
                 WHERE id = ?1 AND status = 'IN PROGRESS' AND lease_owner = ?2
                 RETURNING lease_until",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![task.0, owner, until], |row| row.get(0))
                    .optional()
            })
            .doing(action)?;
        let until = renewed.ok_or(StoreError::LeaseLost { task: task.0 })?;
        // The worker renews right before a request goes: from now on its attempt counts.
        tx.prepare_cached(
            "UPDATE task_attempts SET sent = 1
             WHERE task_id = ?1 AND try = (SELECT tries FROM tasks WHERE id = ?1)",
        )
        .and_then(|mut stmt| stmt.execute([task.0]))
        .doing(action)?;
        tx.commit().doing(action)?;
        Ok(until)
    }

    /// What completed provisioning attempts changed on one account, oldest first: its status
    /// (column `status`), its lock (column `locked`: `yes`, `no`, or `None` for unknown) and the
    /// columns `ACCOUNT.<column>` targets updated, in that order within an attempt.
    pub fn task_changes(
        &self,
        endpoint: &str,
        account: &str,
    ) -> Result<Vec<TaskChange>, StoreError> {
        let action =
            || format!("reading what tasks changed on account {account} of endpoint {endpoint}");
        self.conn
            .prepare_cached(
                "WITH completed AS (
                     SELECT a.* FROM task_attempts AS a JOIN tasks AS t ON t.id = a.task_id
                     JOIN endpoints AS e ON e.id = t.endpoint_id
                     WHERE e.name = ?1 AND t.account = ?2 AND a.outcome = 'complete')
                 SELECT task_id, try, finished_at, 'status', old_status, new_status, 0
                 FROM completed WHERE old_status IS DISTINCT FROM new_status
                 UNION ALL
                 SELECT task_id, try, finished_at, 'locked',
                        CASE old_locked WHEN 1 THEN 'yes' WHEN 0 THEN 'no' END,
                        CASE new_locked WHEN 1 THEN 'yes' ELSE 'no' END, 1
                 FROM completed WHERE old_locked IS DISTINCT FROM new_locked
                 UNION ALL
                 SELECT c.task_id, c.try, a.finished_at, c.column_name, c.old, c.new, 2
                 FROM task_changes AS c
                 JOIN completed AS a ON a.task_id = c.task_id AND a.try = c.try
                 ORDER BY 3, 1, 2, 7, 4",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![endpoint, account], |row| {
                    Ok(TaskChange {
                        task_id: row.get(0)?,
                        try_number: row.get(1)?,
                        at: row.get(2)?,
                        column: row.get(3)?,
                        old: row.get(4)?,
                        new: row.get(5)?,
                    })
                })?
                .collect()
            })
            .doing(action)
    }

    /// The endpoint's tasks, newest first. An unknown endpoint has none.
    pub fn tasks(&self, endpoint: &str) -> Result<Vec<Task>, StoreError> {
        self.tasks_matching(endpoint, &TaskFilter::default())
    }

    /// The endpoint's tasks that `filter` lets through, newest first.
    pub fn tasks_matching(
        &self,
        endpoint: &str,
        filter: &TaskFilter,
    ) -> Result<Vec<Task>, StoreError> {
        let action = || format!("reading the tasks of endpoint {endpoint}");
        task_rows(&self.conn, Some(endpoint), None, filter)
            .doing(action)?
            .into_iter()
            .map(TaskRow::into_task)
            .collect()
    }

    /// One task, `None` if the store does not have it.
    pub fn task(&self, task: TaskId) -> Result<Option<Task>, StoreError> {
        let action = || format!("reading task {task}");
        task_rows(&self.conn, None, Some(task.0), &TaskFilter::default())
            .doing(action)?
            .into_iter()
            .next()
            .map(TaskRow::into_task)
            .transpose()
    }

    /// What keeps `task` from being claimed now, if anything, and whether an attempt holds it
    /// (`IN PROGRESS`, its lease not expired): the task itself while one does, else the latest
    /// earlier open task of its account (an account's tasks run in the order they were made).
    /// `None` when it is claimable or has ended; an unknown task is an error.
    pub fn claim_blocker(&self, task: TaskId) -> Result<Option<(Task, bool)>, StoreError> {
        let action = || format!("finding what task {task} waits for");
        if self.task(task)?.is_none() {
            return Err(StoreError::UnknownTask { task: task.0 });
        }
        let now = sql::now(&self.conn).doing(action)?;
        let blocker: Option<(i64, bool)> = self
            .conn
            .prepare_cached(
                "SELECT t.id, t.status = 'IN PROGRESS' AND t.lease_until > ?2
                 FROM tasks AS t JOIN tasks AS this ON this.id = ?1
                 WHERE this.status IN ('NEW', 'PENDING PROVISIONING', 'IN PROGRESS')
                   AND ((t.id = this.id AND t.status = 'IN PROGRESS' AND t.lease_until > ?2)
                        OR (t.id < this.id AND t.endpoint_id = this.endpoint_id
                            AND t.account = this.account
                            AND t.status IN ('NEW', 'PENDING PROVISIONING', 'IN PROGRESS')))
                 ORDER BY t.id DESC LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![task.0, now], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .doing(action)?;
        match blocker {
            Some((id, held)) => Ok(self.task(TaskId(id))?.map(|blocker| (blocker, held))),
            None => Ok(None),
        }
    }

    /// The task's attempts in order. An unknown task is an error; a task never claimed has none.
    pub fn task_attempts(&self, task: TaskId) -> Result<Vec<TaskAttempt>, StoreError> {
        let action = || format!("reading the attempts of task {task}");
        if self.task(task)?.is_none() {
            return Err(StoreError::UnknownTask { task: task.0 });
        }
        // Each attempt with its stored outcome and skipped calls, still as text.
        type AttemptRow = (TaskAttempt, (Option<String>, Option<String>));
        let rows: Vec<AttemptRow> = self
            .conn
            .prepare_cached(
                "SELECT try, owner, started_at, finished_at, outcome, error, old_status,
                        new_status, old_locked, new_locked, comments, skipped_calls
                 FROM task_attempts WHERE task_id = ?1 ORDER BY try",
            )
            .and_then(|mut stmt| {
                stmt.query_map([task.0], |row| {
                    Ok((
                        TaskAttempt {
                            try_number: row.get(0)?,
                            owner: row.get(1)?,
                            started_at: row.get(2)?,
                            finished_at: row.get(3)?,
                            outcome: None,
                            error: row.get(5)?,
                            old_status: row.get(6)?,
                            new_status: row.get(7)?,
                            old_locked: row.get(8)?,
                            new_locked: row.get(9)?,
                            comments: row.get(10)?,
                            skipped_calls: Vec::new(),
                        },
                        (row.get(4)?, row.get(11)?),
                    ))
                })?
                .collect()
            })
            .doing(action)?;
        rows.into_iter()
            .map(|(mut attempt, (outcome, skipped))| {
                if let Some(skipped) = skipped {
                    attempt.skipped_calls =
                        serde_json::from_str(&skipped).map_err(|e| StoreError::Corrupt {
                            what: format!(
                                "the skipped calls of attempt {} of task {task}",
                                attempt.try_number
                            ),
                            problem: e.to_string(),
                        })?;
                }
                attempt.outcome = match outcome {
                    None => None,
                    Some(text) => Some(
                        AttemptOutcome::ALL
                            .into_iter()
                            .find(|o| o.as_str() == text)
                            .ok_or_else(|| StoreError::Corrupt {
                                what: format!(
                                    "the outcome of attempt {} of task {task}",
                                    attempt.try_number
                                ),
                                problem: format!("unknown outcome {text:?}"),
                            })?,
                    ),
                };
                Ok(attempt)
            })
            .collect()
    }

    /// Seconds from now by the store's clock until `at` (an RFC 3339 time, such as
    /// [`Store::next_due`] gives), to the millisecond, negative when `at` is past: how long a
    /// retry loop sleeps.
    pub fn seconds_until(&self, at: &str) -> Result<f64, StoreError> {
        let action = || format!("measuring the time until {at}");
        let unreadable = || StoreError::Corrupt {
            what: format!("the time {at:?}"),
            problem: "it is not a time the store can read".to_owned(),
        };
        if !sql::is_store_time(at) {
            return Err(unreadable());
        }
        let seconds: Option<f64> = self
            .conn
            .prepare_cached(
                "SELECT round((julianday(?1) - julianday('now')) * 86400000.0) / 1000.0",
            )
            .and_then(|mut stmt| stmt.query_row([at], |row| row.get(0)))
            .doing(action)?;
        seconds.ok_or_else(unreadable)
    }

    /// When the endpoint's next task becomes claimable: the earliest `next_attempt_at` of its
    /// `NEW` and `PENDING PROVISIONING` tasks and `lease_until` of its `IN PROGRESS` ones
    /// (possibly already past). `None` when no task is open.
    pub fn next_due(&self, endpoint: &str) -> Result<Option<String>, StoreError> {
        let action = || format!("finding the next due task of endpoint {endpoint}");
        self.conn
            .prepare_cached(
                "SELECT min(CASE WHEN t.status = 'IN PROGRESS' THEN t.lease_until
                                 ELSE t.next_attempt_at END)
                 FROM tasks AS t JOIN endpoints AS e ON e.id = t.endpoint_id
                 WHERE e.name = ?1
                   AND t.status IN ('NEW', 'PENDING PROVISIONING', 'IN PROGRESS')",
            )
            .and_then(|mut stmt| stmt.query_row([endpoint], |row| row.get(0)))
            .doing(action)
    }

    /// The endpoint's next task that nobody holds, and when it becomes due, for a retry run to
    /// wait for: of its `NEW` and `PENDING PROVISIONING` tasks with tries left and no earlier
    /// task of their account still open, the one with the earliest `next_attempt_at` (possibly
    /// already past; the oldest task among equals). `IN PROGRESS` tasks are left out: their
    /// workers finish them, and a task whose lease has expired is claimable at once. `None`
    /// when there is none.
    pub fn next_unheld_due(&self, endpoint: &str) -> Result<Option<NextDue>, StoreError> {
        let action = || format!("finding the next due task of endpoint {endpoint}");
        self.conn
            .prepare_cached(
                "SELECT t.id, t.next_attempt_at
                 FROM tasks AS t JOIN endpoints AS e ON e.id = t.endpoint_id
                 WHERE e.name = ?1 AND t.status IN ('NEW', 'PENDING PROVISIONING')
                   AND t.tries < t.max_tries
                   AND NOT EXISTS (SELECT 1 FROM tasks AS earlier
                                   WHERE earlier.endpoint_id = t.endpoint_id
                                     AND earlier.account = t.account AND earlier.id < t.id
                                     AND earlier.status IN ('NEW', 'PENDING PROVISIONING',
                                                            'IN PROGRESS'))
                 ORDER BY t.next_attempt_at, t.id LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([endpoint], |row| {
                    Ok(NextDue {
                        task: TaskId(row.get(0)?),
                        at: row.get(1)?,
                    })
                })
                .optional()
            })
            .doing(action)
    }
}

/// The task a retry run waits for ([`Store::next_unheld_due`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextDue {
    /// The task.
    pub task: TaskId,
    /// When it becomes due (RFC 3339, the store's clock); possibly already past.
    pub at: String,
}

#[cfg(test)]
mod tests;
