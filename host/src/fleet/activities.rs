//! What a worker executes: the jobs of `dcconn import` and `dcconn enable|disable`, on the
//! worker's own connections and store. Each job runs on a thread of its own (the component and
//! the store are synchronous); an import heartbeats its progress to Temporal while it runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use temporalio_common::error::ApplicationFailure;
use temporalio_sdk::activities::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::sync::Semaphore;

use super::metrics::Metrics;
use super::{ImportJob, JobOutcome, Message, ProvisionJob, failure_type};
use crate::cli::{
    ImportShown, blocked_task_outcome, import_outcome, pending_task_note, refused_import_outcome,
    task_outcome,
};
use crate::connection::Connection;
use crate::jobs::{JobError, exit_code as exit, import, provision};
use crate::model::{CorrelationRule, ImportScope};
use crate::runtime::Runtime;
use crate::store::{OpenMode, Requested, RunLease, Store, TaskId, TaskKind, TaskStatus};

/// The longest a task attempt waits for its task to become claimable: for the lease of an
/// attempt whose worker died to run out (the request deadline plus the job's lease, 12.5
/// minutes with the defaults), or for an earlier task of the account to end.
pub const CLAIMABLE_PATIENCE: Duration = Duration::from_secs(3600);

/// Where a worker finds the connections workflows name (`--connections DIR`).
pub trait Connections: Send + Sync {
    /// The connection called `name`, its secrets read on this machine; or what the job shows
    /// when it cannot be had (a worker without it, a file or secret that cannot be read).
    fn load(&self, name: &str) -> Result<Connection, JobOutcome>;
}

/// What an import heartbeats: how far it got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportProgress {
    /// Batches received.
    pub batches: u64,
    /// Accounts received.
    pub accounts: u64,
    /// Entitlements received.
    pub entitlements: u64,
}

/// The task of a provisioning job, as `create_task` found or made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedTask {
    /// The task's id in the store.
    pub id: i64,
    /// Whether it is the account's pending task, taken instead of creating one (the local
    /// command then prints a note).
    pub pending: bool,
}

/// A task created for a provisioning job, to be attempted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAttempt {
    /// The job.
    pub job: ProvisionJob,
    /// The task's id in the store.
    pub task: i64,
    /// Whether it is the account's pending task, taken instead of creating one.
    #[serde(default)]
    pub pending: bool,
}

/// The activities of a worker, with what they share: the component, the connections, the
/// store's location, the concurrency limits and the metrics.
pub struct FleetActivities {
    runtime: Arc<Runtime>,
    connections: Arc<dyn Connections>,
    db: PathBuf,
    imports: Semaphore,
    tasks: Semaphore,
    metrics: Metrics,
}

impl FleetActivities {
    /// The activities of a worker: imports and task attempts at most `max_imports` and
    /// `max_tasks` at once.
    pub fn new(
        runtime: Arc<Runtime>,
        connections: Arc<dyn Connections>,
        db: PathBuf,
        (max_imports, max_tasks): (usize, usize),
        metrics: Metrics,
    ) -> Self {
        FleetActivities {
            runtime,
            connections,
            db,
            imports: Semaphore::new(max_imports),
            tasks: Semaphore::new(max_tasks),
            metrics,
        }
    }
}

#[activities]
impl FleetActivities {
    /// Runs an endpoint's import, heartbeating its progress; fails retryably on what may pass
    /// (remote, busy, internal), non-retryably on authentication and configuration errors and
    /// on a connection this worker does not have.
    #[activity]
    pub async fn import(
        self: Arc<Self>,
        ctx: ActivityContext,
        job: ImportJob,
    ) -> Result<JobOutcome, ActivityError> {
        let _slot = self.imports.acquire().await.map_err(internal)?;
        let _running = self.metrics.running();
        let started = Instant::now();
        let subject = format!("the import of endpoint {}", job.endpoint);
        let (progress, mut seen) = tokio::sync::watch::channel(ImportProgress::default());
        let this = Arc::clone(&self);
        let ran = spawn_job("dcconn-import", move |_wanted| {
            let mut batches = 0;
            this.run_import(&job, &mut |step| {
                batches += 1;
                progress.send_replace(ImportProgress {
                    batches,
                    accounts: step.accounts,
                    entitlements: step.entitlements,
                });
            })
        })?;
        let outcome = heartbeat_until_done(&ctx, ran, &mut seen).await?;
        let accounts = seen.borrow().accounts;
        self.metrics
            .import_ended(outcome.exit_code, started.elapsed(), accounts);
        log_outcome(&subject, &outcome, None);
        into_result(outcome, None)
    }

    /// Creates the provisioning task (or takes the account's pending one of the same kind),
    /// after the checks of `dcconn disable`; returns its id, with the note of a pending task.
    #[activity]
    pub async fn create_task(
        self: Arc<Self>,
        _ctx: ActivityContext,
        job: ProvisionJob,
    ) -> Result<CreatedTask, ActivityError> {
        let this = Arc::clone(&self);
        let created = spawn_job("dcconn-task", move |_wanted| this.create(&job))?
            .await
            .map_err(internal)?;
        match created {
            Ok(task) => Ok(task),
            Err(outcome) => into_result(outcome, None).map(|_| CreatedTask {
                id: 0,
                pending: false,
            }),
        }
    }

    /// Attempts the task once, unless it has ended (a re-delivered attempt sends nothing once
    /// the store says it completed). A try that failed and may pass is a retryable failure
    /// whose next try follows the task's backoff with jitter.
    #[activity]
    pub async fn attempt_task(
        self: Arc<Self>,
        ctx: ActivityContext,
        attempt: TaskAttempt,
    ) -> Result<JobOutcome, ActivityError> {
        let _slot = self.tasks.acquire().await.map_err(internal)?;
        let _running = self.metrics.running();
        let started = Instant::now();
        // Temporal gives up after the job's tries: its last attempt ends the task's job.
        let last_try = ctx.info().attempt >= attempt.job.max_tries;
        let job = &attempt.job;
        let subject = format!(
            "task {} ({} {} of endpoint {})",
            attempt.task, job.kind, job.account, job.endpoint
        );
        let this = Arc::clone(&self);
        let ran = spawn_job("dcconn-task", move |wanted| this.attempt(&attempt, wanted))?;
        // Nothing to report but being alive: a dead worker's attempt is handed to another
        // after the heartbeat timeout rather than its start-to-close timeout.
        let (_alive, mut nothing) = tokio::sync::watch::channel(());
        let (outcome, retry_after) = heartbeat_until_done(&ctx, ran, &mut nothing).await?;
        if retry_after.is_none() || last_try {
            self.metrics
                .task_ended(outcome.exit_code, started.elapsed());
        }
        log_outcome(&subject, &outcome, retry_after.filter(|_| !last_try));
        into_result(outcome, retry_after)
    }
}

impl FleetActivities {
    /// The import, on this thread.
    fn run_import(
        &self,
        job: &ImportJob,
        progress: &mut dyn FnMut(import::Progress),
    ) -> JobOutcome {
        let refused = |outcome| refused_import_outcome(&job.endpoint, job.json, outcome);
        let connection = match self.connections.load(&job.connection) {
            Ok(connection) => connection,
            Err(outcome) => return refused(outcome),
        };
        let mut store = match self.open_store(OpenMode::Create) {
            Ok(store) => store,
            Err(outcome) => return refused(outcome),
        };
        let lease = Duration::from_millis(job.run.lease_ms);
        store.set_run_lease(RunLease::of_this_process(lease));
        let correlation = CorrelationRule::default();
        let request = import::ImportRequest {
            scope: scope(&job.scope),
            max_batch: job.batch,
            endpoint: &job.endpoint,
            // A retry after a dead worker finds its run's lease until it expires: wait for it.
            wait: Some(lease.saturating_mul(3)),
            ..import::ImportRequest::everything(&connection, &correlation)
        };
        let outcome = import::run(&self.runtime, &mut store, &request, progress);
        let shown = ImportShown {
            endpoint: &job.endpoint,
            json: job.json,
            dry_run: false,
            accepted: None,
        };
        import_outcome(&shown, outcome, &connection)
    }

    /// Creates the task of `job`, or the outcome that refuses it.
    fn create(&self, job: &ProvisionJob) -> Result<CreatedTask, JobOutcome> {
        let connection = self.connections.load(&job.connection)?;
        let mut store = self.open_store(OpenMode::Existing)?;
        let request = provision::ProvisionRequest {
            connection: &connection,
            endpoint: &job.endpoint,
            account: &job.account,
            kind: kind(&job.kind),
            queue: true,
        };
        provision::request(&self.runtime, &mut store, &request, &policy(job))
            .map(|provisioned| CreatedTask {
                pending: matches!(provisioned.requested, Requested::Pending(_)),
                id: provisioned.requested.into_task().id,
            })
            .map_err(|error| job_failed(&error, &connection))
    }

    /// One attempt of a task: its outcome, and when it must be tried again (`None`: it ended).
    /// While an attempt holds the task (a dead worker's lease has not run out) or an earlier
    /// task of its account, it waits up to [`CLAIMABLE_PATIENCE`] while `wanted`, without
    /// spending a try.
    fn attempt(
        &self,
        attempt: &TaskAttempt,
        wanted: &dyn Fn() -> bool,
    ) -> (JobOutcome, Option<Duration>) {
        let job = &attempt.job;
        let connection = match self.connections.load(&job.connection) {
            Ok(connection) => connection,
            Err(outcome) => return (outcome, None),
        };
        let mut store = match self.open_store(OpenMode::Existing) {
            Ok(store) => store,
            Err(outcome) => return (outcome, Some(Duration::ZERO)),
        };
        let policy = policy(job);
        let id = TaskId(attempt.task);
        let patience = provision::Patience {
            limit: CLAIMABLE_PATIENCE,
            wanted,
        };
        let attempted = provision::attempt_task(
            &self.runtime,
            &mut store,
            &connection,
            id,
            &policy,
            &patience,
        );
        // The local command's note on a pending task it took, first.
        let noted = |mut outcome: JobOutcome, task: &crate::store::Task| {
            if attempt.pending {
                outcome
                    .messages
                    .insert(0, Message::info(pending_task_note(task)));
            }
            outcome
        };
        match attempted {
            // Held past the patience: tried again later. Behind a task nobody holds: the
            // local command's outcome (the note says what runs it).
            Ok(provision::TaskAttempted::Blocked { task, by, held }) => (
                noted(blocked_task_outcome(&task, &by, held), &task),
                held.then_some(policy.backoff),
            ),
            Ok(provision::TaskAttempted::Ran { task, refused }) => {
                let outcome = noted(task_outcome(&task, refused.as_ref(), &connection), &task);
                let again = match task.status {
                    _ if refused.is_some() => None,
                    TaskStatus::PendingProvisioning | TaskStatus::New => {
                        Some(policy.delay(task.tries))
                    }
                    // Another attempt holds it: try again once its lease may have ended.
                    TaskStatus::InProgress => Some(policy.backoff),
                    _ => None,
                };
                (outcome, again)
            }
            Err(error) => {
                let outcome = job_failed(&error, &connection);
                let again = failure_type::of_exit_code(outcome.exit_code).1;
                (outcome, again.then_some(policy.backoff))
            }
        }
    }

    /// The store at `--db`, or the outcome of its failure (retryable: it is the store's).
    fn open_store(&self, mode: OpenMode) -> Result<Store, JobOutcome> {
        Store::open_as(&self.db, mode).map_err(|error| {
            let error = JobError::from(error);
            JobOutcome::failed(error.exit_code(), error.redacted(None))
        })
    }
}

/// The store's retry policy of a job (`--max-tries`, `--backoff-ms`...).
fn policy(job: &ProvisionJob) -> provision::RetryPolicy {
    provision::RetryPolicy {
        max_tries: job.max_tries,
        backoff: Duration::from_millis(job.backoff_ms),
        max_backoff: Duration::from_millis(job.max_backoff_ms),
        lease: Duration::from_millis(job.lease_ms),
    }
}

/// `enable` or `disable` (anything else is a disable: the client only sends these two).
fn kind(name: &str) -> TaskKind {
    if name == "enable" {
        TaskKind::Enable
    } else {
        TaskKind::Disable
    }
}

/// The import scope named by `dcconn import --scope`.
fn scope(name: &str) -> ImportScope {
    match name {
        "accounts" => ImportScope::Accounts,
        "access" => ImportScope::Access,
        _ => ImportScope::All,
    }
}

/// A job error as the local command shows it.
fn job_failed(error: &JobError, connection: &Connection) -> JobOutcome {
    JobOutcome::failed(error.exit_code(), error.redacted(Some(connection)))
}

/// Logs how a job ended: a failure (any exit code but 0) as a warning with its reason (the
/// error, else the result line: a task's line carries its last error) and when it is tried
/// again; a success as information.
fn log_outcome(subject: &str, outcome: &JobOutcome, again_in: Option<Duration>) {
    let printable = crate::printable::printable_lines;
    let line = outcome.stdout.lines().next().unwrap_or("done");
    if outcome.exit_code == exit::OK {
        tracing::info!("{subject}: {}", printable(line));
        return;
    }
    let reason = printable(outcome.error.as_deref().unwrap_or(line));
    match again_in {
        Some(delay) => tracing::warn!(
            exit_code = outcome.exit_code,
            "{subject} failed, tried again in {:.1} s: {reason}",
            delay.as_secs_f64(),
        ),
        None => tracing::warn!(exit_code = outcome.exit_code, "{subject} failed: {reason}"),
    }
}

/// Runs `job` on a thread of its own; its result arrives on the returned channel. The job is
/// given whether its result is still wanted (the receiver is gone once the activity stopped
/// waiting: cancelled, or its worker stopping).
fn spawn_job<T: Send + 'static>(
    name: &str,
    job: impl FnOnce(&dyn Fn() -> bool) -> T + Send + 'static,
) -> Result<tokio::sync::oneshot::Receiver<T>, ActivityError> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let ran = job(&|| !done.is_closed());
            let _ = done.send(ran);
        })
        .map_err(internal)?;
    Ok(result)
}

/// Waits for a job on its thread, heartbeating what `seen` holds at each change and at least
/// every second (a long apply included). A cancelled activity (the worker stops past its grace
/// period) gives the job back: Temporal retries it elsewhere, and the run or task lease this
/// process leaves behind expires.
async fn heartbeat_until_done<T, P>(
    ctx: &ActivityContext,
    mut ran: tokio::sync::oneshot::Receiver<T>,
    seen: &mut tokio::sync::watch::Receiver<P>,
) -> Result<T, ActivityError>
where
    P: Clone + Serialize + Send + Sync + 'static,
{
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            outcome = &mut ran => return outcome.map_err(internal),
            _ = seen.changed() => {}
            _ = tick.tick() => {}
        }
        if ctx.is_cancelled() {
            return Err(ActivityError::cancelled());
        }
        let progress = seen.borrow().clone();
        ctx.record_heartbeat(progress).await.map_err(internal)?;
    }
}

/// An activity's result: a job that succeeded (or ended for good, like a task that failed
/// its last try) is the outcome; a failure is an `ApplicationFailure` typed after its exit
/// code, carrying the outcome, retryable when trying again may help.
fn into_result(
    outcome: JobOutcome,
    retry_after: Option<Duration>,
) -> Result<JobOutcome, ActivityError> {
    let (type_name, retryable) = failure_type::of_exit_code(outcome.exit_code);
    match (retry_after, outcome.error.is_some()) {
        (Some(delay), _) => Err(failure(outcome, type_name, true, Some(delay))),
        (None, true) => Err(failure(outcome, type_name, retryable, None)),
        (None, false) => Ok(outcome),
    }
}

/// The failure of an activity whose job came to `outcome`.
fn failure(
    outcome: JobOutcome,
    type_name: &str,
    retryable: bool,
    next_retry: Option<Duration>,
) -> ActivityError {
    let message = outcome
        .error
        .clone()
        .unwrap_or_else(|| outcome.stdout.trim_end().to_owned());
    let builder = ApplicationFailure::builder(message)
        .type_name(type_name.to_owned())
        .non_retryable(!retryable)
        .maybe_next_retry_delay(next_retry.filter(|delay| !delay.is_zero()))
        .details(outcome);
    ActivityError::application(builder.build())
}

/// A failure of the worker itself (a thread that could not start): retryable elsewhere.
fn internal(error: impl std::fmt::Display) -> ActivityError {
    let outcome = JobOutcome::failed(exit::INTERNAL, format!("the worker failed: {error}"));
    failure(outcome, failure_type::INTERNAL, true, None)
}
