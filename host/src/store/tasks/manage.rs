//! What an operator does to the task queue, beside what workers do: asking for a task without
//! queueing a second one of the same kind ([`Store::request_task`]), cancelling a task nobody
//! holds ([`Store::cancel_task`]), and choosing which tasks to list ([`TaskFilter`]).

use crate::store::db::{OptionalExtension, params};

use super::{
    Doing, Store, StoreError, Task, TaskId, TaskKind, TaskStatus, check_max_tries, close_abandoned,
    insert_task, read_task, refund_unsent, sql,
};

/// Which of an endpoint's tasks a listing shows ([`Store::tasks_matching`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only tasks in one of these statuses; every status when empty.
    pub statuses: Vec<TaskStatus>,
    /// Only the tasks of this account.
    pub account: Option<String>,
}

/// What [`Store::request_task`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// It created this task.
    Created(Task),
    /// The account's latest open task already was a pending task of the same kind (`NEW` or
    /// `PENDING PROVISIONING`): this one, and nothing was created.
    Pending(Task),
}

impl Requested {
    /// The task created or found.
    pub fn task(&self) -> &Task {
        match self {
            Requested::Created(task) | Requested::Pending(task) => task,
        }
    }

    /// The task created or found, by value.
    pub fn into_task(self) -> Task {
        match self {
            Requested::Created(task) | Requested::Pending(task) => task,
        }
    }
}

impl Store {
    /// Asks for `account` of `endpoint` to be enabled or disabled, as `enable` and `disable`
    /// do: when the account's latest task that has not ended is one of the same `kind` that
    /// nobody holds (`NEW` or `PENDING PROVISIONING`), that task will do, and it is returned as
    /// [`Requested::Pending`] unchanged (its tries included). Otherwise a task is created as by
    /// [`Store::create_task`]: when there is no open task, when the latest is of the other kind
    /// (tasks run in the order they were created, so a disable after a pending enable must be a
    /// task of its own), and when the latest is `IN PROGRESS` (its attempt may already be past
    /// the point that matters). One `BEGIN IMMEDIATE` transaction, so two requests at once
    /// create one task.
    pub fn request_task(
        &mut self,
        endpoint: &str,
        account: &str,
        kind: TaskKind,
        max_tries: u32,
    ) -> Result<Requested, StoreError> {
        check_max_tries(max_tries)?;
        let action =
            || format!("asking for a task to {kind} account {account} of endpoint {endpoint}");
        let tx = self.write(&action)?;
        let latest: Option<(i64, String, String)> = tx
            .prepare_cached(
                "SELECT t.id, t.kind, t.status
                 FROM tasks AS t JOIN endpoints AS e ON e.id = t.endpoint_id
                 WHERE e.name = ?1 AND t.account = ?2
                   AND t.status IN ('NEW', 'PENDING PROVISIONING', 'IN PROGRESS')
                 ORDER BY t.id DESC LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![endpoint, account], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .optional()
            })
            .doing(action)?;
        let requested = match latest {
            Some((id, latest_kind, status))
                if latest_kind == kind.as_str() && status != TaskStatus::InProgress.as_str() =>
            {
                Requested::Pending(read_task(&tx, TaskId(id), &action)?)
            }
            _ => Requested::Created(insert_task(
                &tx, endpoint, account, kind, max_tries, &action,
            )?),
        };
        tx.commit().doing(action)?;
        Ok(requested)
    }

    /// Cancels a task that nobody holds: a `NEW` or `PENDING PROVISIONING` task, or an `IN
    /// PROGRESS` one whose lease has expired (its worker stopped: nothing of its attempt can
    /// still be in flight; that attempt is closed as expired, or forgotten when it sent
    /// nothing). The task ends `CANCELLED` and is never attempted again; later tasks of its
    /// account no longer wait for it.
    ///
    /// [`StoreError::TaskHeld`] while a worker's lease on it lasts, [`StoreError::TaskEnded`]
    /// once it has ended, [`StoreError::UnknownTask`] for an id the store does not have.
    pub fn cancel_task(&mut self, task: TaskId) -> Result<Task, StoreError> {
        let action = || format!("cancelling task {task}");
        let tx = self.write(&action)?;
        let current = read_task(&tx, task, &action)?;
        let now = sql::now(&tx).doing(action)?;
        if current.status.is_final() {
            return Err(StoreError::TaskEnded {
                task: task.0,
                status: current.status,
            });
        }
        if let (TaskStatus::InProgress, Some(owner), Some(until)) =
            (current.status, &current.lease_owner, &current.lease_until)
            && until.as_str() > now.as_str()
        {
            return Err(StoreError::TaskHeld {
                task: task.0,
                owner: owner.clone(),
                until: until.clone(),
            });
        }
        refund_unsent(&tx, task.0, &now).doing(action)?;
        tx.prepare_cached(
            "UPDATE tasks SET status = 'CANCELLED', updated_at = ?2, lease_owner = NULL,
                 lease_until = NULL
             WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![task.0, now]))
        .doing(action)?;
        close_abandoned(&tx, task.0, &now).doing(action)?;
        let cancelled = read_task(&tx, task, &action)?;
        tx.commit().doing(action)?;
        Ok(cancelled)
    }

    /// The time now by the store's clock (RFC 3339 UTC with milliseconds), as the store writes
    /// and compares times.
    pub fn now(&self) -> Result<String, StoreError> {
        sql::now(&self.conn).doing(|| "reading the store's clock".to_owned())
    }
}
