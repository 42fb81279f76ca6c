//! Provisioning: enable and disable tasks, run at once (instant provisioning) or by the retry
//! job.
//!
//! A task is created in the store before anything is sent, so a request is never lost: it ends
//! COMPLETE or PROVISIONING FAILED, or waits as PENDING PROVISIONING for the retry job. Each
//! attempt holds a lease on its task in its worker's own name. Immediately before each request
//! goes out, the lease is extended to cover the request's deadline and then the policy's lease
//! (`provision/lease.rs`); a worker whose task another took over sends nothing more and records
//! nothing. So no two live workers ever have one task's request in flight, and a task whose
//! attempt was cut short by a crash becomes claimable again when the lease expires.

mod lease;
mod stop;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::connection::Connection;
use crate::identities::Identity;
use crate::model::EntitlementRef;
use crate::runtime::{ConnectorInstance, Runtime, RuntimeError, wit};
use crate::store::{
    Completion, Requested, Store, StoreError, StoredAccount, Task, TaskId, TaskKind, TaskStatus,
};

use super::error::redact;
use super::{JobError, attributes, validated_instance};
use lease::Gate;
use stop::Stop;

/// The most tries a task may be given (the platform's limit).
pub const MAX_TRIES: u32 = 20;

/// How a task's tries are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries before a task is given up (1..=20).
    pub max_tries: u32,
    /// The wait after the first failed try; it doubles after each further one.
    pub backoff: Duration,
    /// The longest wait between two tries.
    pub max_backoff: Duration,
    /// How long an attempt holds its task: from its claim, and past the deadline of each request
    /// it sends (the lease is extended before each one). A crashed attempt's task is free again
    /// after it.
    pub lease: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 10,
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
            lease: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `tries + 1`: exponential, capped, with ±50 % jitter so that tasks
    /// failed together do not all retry at the same instant.
    pub fn delay(&self, tries: u32) -> Duration {
        let doubling = 2u32.saturating_pow(tries.saturating_sub(1));
        let delay = self.backoff.saturating_mul(doubling).min(self.max_backoff);
        delay.mul_f64(0.5 + jitter())
    }
}

/// A number in [0, 1) that differs between calls; good enough to spread retries.
fn jitter() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    // A multiplicative hash spreads consecutive nanosecond values over the range.
    f64::from(nanos.wrapping_mul(2_654_435_761) % 1_000_000) / 1_000_000.0
}

/// What to provision.
#[derive(Debug, Clone)]
pub struct ProvisionRequest<'a> {
    /// The connection.
    pub connection: &'a Connection,
    /// The endpoint the account belongs to in the store.
    pub endpoint: &'a str,
    /// The account's name.
    pub account: &'a str,
    /// Enable or disable.
    pub kind: TaskKind,
    /// Only create the task; the retry job runs it.
    pub queue: bool,
}

/// What [`request`] did: the task as it stands, and the refusal that stopped its attempt
/// (Duck Creek refused the credentials: the task waits for its next try).
#[derive(Debug)]
pub struct Provisioned {
    /// The task, as [`Requested::Pending`] when it was already there.
    pub requested: Requested,
    /// Why the attempt stopped the job, when it did.
    pub refused: Option<JobError>,
}

/// Creates a task, or takes the account's pending task of the same kind when its latest open
/// task is one ([`Store::request_task`]), and, unless queued, attempts it once, whatever its
/// due time. Configuration errors stop it before any task is created. Returns the task as it
/// stands; when another run takes the task over, the task is returned as it stands.
pub fn request(
    runtime: &Runtime,
    store: &mut Store,
    request: &ProvisionRequest<'_>,
    policy: &RetryPolicy,
) -> Result<Provisioned, JobError> {
    let (mut instance, _warnings) = validated_instance(runtime, request.connection)?;
    // A plan that cannot be rendered for this account (absent, empty, or an expression that
    // fails on its data) is a configuration error: refused before any task exists.
    render(&mut instance, store, request)?;
    let requested = store.request_task(
        request.endpoint,
        request.account,
        request.kind,
        policy.max_tries,
    )?;
    if request.queue {
        return Ok(Provisioned {
            requested,
            refused: None,
        });
    }
    let (task, refused) = attempt_now(
        store,
        instance,
        request.connection,
        requested.task(),
        policy,
    )?;
    let requested = match requested {
        Requested::Created(_) => Requested::Created(task),
        Requested::Pending(_) => Requested::Pending(task),
    };
    Ok(Provisioned { requested, refused })
}

/// Claims `task` and attempts it once on `instance`; the task as it stands afterwards, with
/// the refusal that must stop the job, if any.
fn attempt_now(
    store: &mut Store,
    instance: ConnectorInstance,
    connection: &Connection,
    task: &Task,
    policy: &RetryPolicy,
) -> Result<(Task, Option<JobError>), JobError> {
    let id = TaskId(task.id);
    let gate = Gate::new(store.reopen()?, lease::owners()(0), policy.lease);
    let mut worker = Worker::with_instance(instance, gate);
    let Some(claimed) = store.claim_task(id, worker.owner(), policy.lease)? else {
        // Another run holds it (or it waits for an earlier task of its account): it is in
        // good hands.
        return Ok((store.task(id)?.unwrap_or_else(|| task.clone()), None));
    };
    let attempted = worker.attempt(store, connection, &claimed, policy)?;
    if attempted.lost {
        return Ok((store.task(id)?.unwrap_or(attempted.task), None));
    }
    let refused = attempted.refused;
    // The task as the refusal left it (waiting for its next try), or as the attempt ended it.
    let task = store.task(id)?.unwrap_or(attempted.task);
    Ok((task, refused))
}

/// How long [`attempt_task`] waits for its task to become claimable, and whether its caller
/// still wants the attempt (a caller that went away is not waited for).
pub struct Patience<'a> {
    /// The longest wait.
    pub limit: Duration,
    /// Whether the caller still waits for the attempt.
    pub wanted: &'a dyn Fn() -> bool,
}

/// How often a waiting attempt looks again whether its task may be claimed.
const CLAIMABLE_POLL: Duration = Duration::from_secs(1);

/// What [`attempt_task`] came to.
#[derive(Debug)]
pub enum TaskAttempted {
    /// The task was attempted, or had ended: the task as it stands, with the refusal that must
    /// stop, if any.
    Ran {
        /// The task as it stands.
        task: Task,
        /// Why the attempt stopped the job, when it did.
        refused: Option<JobError>,
    },
    /// The task could not be claimed: the task as it stands, and what it waits for (the task
    /// itself while another attempt holds it, or an earlier open task of its account).
    Blocked {
        /// The task as it stands.
        task: Task,
        /// What it waits for.
        by: Task,
        /// Whether an attempt holds `by` (a live lease, which ends): trying again later may
        /// help. An earlier task that nobody holds waits for whoever runs it (`dcconn retry`,
        /// or its own workflow's next try), as a local `disable` leaves it.
        held: bool,
    },
}

/// Attempts the existing task `id` once, whatever its due time, as [`request`] attempts the task
/// it creates (the fleet's provisioning workflows). A task that has ended is returned as it
/// stands, and nothing is sent: a re-delivered attempt never sends a completed task's request
/// again. While an attempt holds the task or an earlier open task of its account (a dead
/// worker's lease runs out, a live attempt ends), it waits, within `patience`, without spending
/// a try; an earlier task that nobody holds is not waited for.
pub fn attempt_task(
    runtime: &Runtime,
    store: &mut Store,
    connection: &Connection,
    id: TaskId,
    policy: &RetryPolicy,
    patience: &Patience<'_>,
) -> Result<TaskAttempted, JobError> {
    let task = store
        .task(id)?
        .ok_or(JobError::Store(StoreError::UnknownTask { task: id.0 }))?;
    if task.status.is_final() {
        return Ok(TaskAttempted::Ran {
            task,
            refused: None,
        });
    }
    let (instance, _warnings) = validated_instance(runtime, connection)?;
    if let Some((by, held)) = wait_until_claimable(store, id, patience)? {
        let task = store.task(id)?.unwrap_or(task);
        return Ok(TaskAttempted::Blocked { task, by, held });
    }
    let (task, refused) = attempt_now(store, instance, connection, &task, policy)?;
    Ok(TaskAttempted::Ran { task, refused })
}

/// Waits while an attempt holds what keeps task `id` from being claimed; `None` once it may be
/// claimed (or has ended), else what still blocks it, and whether an attempt holds that, when
/// nobody holds it, the patience ran out or the caller went away.
fn wait_until_claimable(
    store: &Store,
    id: TaskId,
    patience: &Patience<'_>,
) -> Result<Option<(Task, bool)>, JobError> {
    let started = std::time::Instant::now();
    loop {
        let Some((by, held)) = store.claim_blocker(id)? else {
            return Ok(None);
        };
        let left = patience.limit.saturating_sub(started.elapsed());
        if !held || left.is_zero() || !(patience.wanted)() {
            return Ok(Some((by, held)));
        }
        std::thread::sleep(left.min(CLAIMABLE_POLL));
    }
}

/// The requests `request` would send, rendered by the component, with every secret value of
/// the connection masked. Creates no task and sends nothing.
pub fn dry_run(
    runtime: &Runtime,
    store: &Store,
    request: &ProvisionRequest<'_>,
) -> Result<Vec<wit::RenderedRequest>, JobError> {
    let (mut instance, _warnings) = validated_instance(runtime, request.connection)?;
    let rendered = render(&mut instance, store, request)?;
    let mask = |text: &str| redact(text, Some(request.connection));
    Ok(rendered
        .into_iter()
        .map(|request| wit::RenderedRequest {
            call: request.call,
            url: mask(&request.url),
            headers: request
                .headers
                .into_iter()
                .map(|header| wit::Column {
                    name: header.name,
                    value: mask(&header.value),
                })
                .collect(),
            body: mask(&request.body),
            skipped: request.skipped,
        })
        .collect())
}

/// The requests the component renders for `request`, unmasked; sends nothing.
fn render(
    instance: &mut ConnectorInstance,
    store: &Store,
    request: &ProvisionRequest<'_>,
) -> Result<Vec<wit::RenderedRequest>, JobError> {
    let account = store
        .account(request.endpoint, request.account)?
        .ok_or_else(|| {
            JobError::Store(crate::store::StoreError::UnknownAccount {
                endpoint: request.endpoint.to_string(),
                account: request.account.to_string(),
            })
        })?;
    let provisioning = provisioning_request(store, request.endpoint, &account)?;
    let enable = request.kind == TaskKind::Enable;
    instance
        .render_provisioning(&attributes(request.connection), enable, &provisioning)?
        .map_err(|error| JobError::Connector {
            error: Box::new(error),
            denials: Vec::new(),
        })
}

/// What a retry run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetrySummary {
    /// Attempts made.
    pub attempts: u64,
    /// Tasks that ended COMPLETE in this run.
    pub completed: u64,
    /// Tasks that ended PROVISIONING FAILED in this run.
    pub failed: u64,
    /// Attempts that failed and left their task PENDING PROVISIONING for a later try.
    pub rescheduled: u64,
    /// Attempts that lost their lease: another worker took the task over and finishes it.
    pub lost: u64,
}

impl RetrySummary {
    /// Counts one attempt.
    fn add(&mut self, attempted: &Attempted) {
        self.attempts += 1;
        if attempted.lost {
            self.lost += 1;
            return;
        }
        match attempted.task.status {
            TaskStatus::Complete => self.completed += 1,
            TaskStatus::ProvisioningFailed => self.failed += 1,
            TaskStatus::PendingProvisioning => self.rescheduled += 1,
            _ => {}
        }
    }

    /// Adds another worker's counts.
    fn merge(&mut self, other: &RetrySummary) {
        self.attempts += other.attempts;
        self.completed += other.completed;
        self.failed += other.failed;
        self.rescheduled += other.rescheduled;
        self.lost += other.lost;
    }
}

/// What the retry job tells its caller as it goes.
#[derive(Debug, Clone, Copy)]
pub enum RetryEvent<'a> {
    /// An attempt recorded its outcome: the task as it left it.
    Recorded(&'a Task),
    /// An attempt lost its lease on the task (shown as claimed): another worker took it over,
    /// and this attempt sent nothing more and recorded nothing.
    LeaseLost(&'a Task),
    /// Nothing is due: the worker waits for the next task that becomes due (at most a minute
    /// at a time, then it looks again).
    Waiting {
        /// The task it waits for.
        task: TaskId,
        /// When that task is due, by the store's clock.
        at: &'a str,
        /// How long until then.
        wait: Duration,
    },
}

/// Which tasks a retry run attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryScope<'a> {
    /// The endpoint whose tasks it attempts.
    pub endpoint: &'a str,
    /// Only the tasks due when the run starts, each at most once (`retry --due-only`): a task
    /// that fails again is rescheduled and left for a later run, and the run ends without
    /// waiting for anything.
    pub due_only: bool,
}

/// The retry job: attempts every due task of the endpoint that nobody holds, waiting out
/// backoffs, until none is left to try (with [`RetryScope::due_only`], until none of the tasks
/// due when it started is left). Tasks other workers hold are theirs to finish (or, once their
/// lease has expired, a later run's): the run neither attempts nor waits for them.
pub fn retry(
    runtime: &Runtime,
    store: &mut Store,
    connection: &Connection,
    scope: RetryScope<'_>,
    policy: &RetryPolicy,
    progress: &mut dyn FnMut(RetryEvent<'_>),
) -> Result<RetrySummary, JobError> {
    let target = RetryTarget::new(connection, scope, policy, || store.now())?;
    let gate = Gate::new(store.reopen()?, lease::owners()(0), policy.lease);
    let worker = Worker::start(runtime, connection, gate)?;
    retry_as(runtime, store, worker, &target, progress)
}

/// What a retry run works on, shared by its workers.
struct RetryTarget<'a> {
    connection: &'a Connection,
    endpoint: &'a str,
    policy: &'a RetryPolicy,
    /// With `--due-only`: the run's start by the store's clock; only what was due then is
    /// claimed.
    due_by: Option<String>,
    /// Raised when a worker met refused credentials: every worker stops.
    stop: Stop,
}

impl<'a> RetryTarget<'a> {
    /// The target of a run of `scope`, which starts at the store's time `now` gives (asked
    /// only for `--due-only`).
    fn new(
        connection: &'a Connection,
        scope: RetryScope<'a>,
        policy: &'a RetryPolicy,
        now: impl FnOnce() -> Result<String, StoreError>,
    ) -> Result<RetryTarget<'a>, JobError> {
        let due_by = match scope.due_only {
            true => Some(now()?),
            false => None,
        };
        Ok(RetryTarget {
            connection,
            endpoint: scope.endpoint,
            policy,
            due_by,
            stop: Stop::default(),
        })
    }
}

/// The retry job, run by `worker`.
fn retry_as(
    runtime: &Runtime,
    store: &mut Store,
    mut worker: Worker,
    target: &RetryTarget<'_>,
    progress: &mut dyn FnMut(RetryEvent<'_>),
) -> Result<RetrySummary, JobError> {
    let RetryTarget {
        connection,
        endpoint,
        policy,
        ..
    } = *target;
    let mut summary = RetrySummary::default();
    while !target.stop.is_raised() {
        let due = store.claim_due_by(
            endpoint,
            worker.owner(),
            policy.lease,
            CLAIM_BATCH,
            target.due_by.as_deref(),
        )?;
        if due.is_empty() {
            if target.due_by.is_some() || !wait_for_next(store, target, progress)? {
                break;
            }
            continue;
        }
        for task in &due {
            let attempted = worker.attempt(store, connection, task, policy)?;
            summary.add(&attempted);
            progress(attempted.report());
            if attempted.trapped {
                // A trapped instance cannot be entered again: the next task gets a fresh one.
                worker.restart(runtime, connection)?;
            }
            if attempted.refused.is_some() {
                target.stop.raise();
            }
            attempted.into_result()?;
        }
    }
    Ok(summary)
}

/// Waits until the endpoint's next unheld task is due (at most [`MAX_IDLE`], or until the run
/// stops), saying so; false when there is nothing left to wait for.
fn wait_for_next(
    store: &Store,
    target: &RetryTarget<'_>,
    progress: &mut dyn FnMut(RetryEvent<'_>),
) -> Result<bool, JobError> {
    let Some(next) = store.next_unheld_due(target.endpoint)? else {
        return Ok(false);
    };
    let seconds = store.seconds_until(&next.at)?;
    if seconds > 0.0 {
        // A time too far to be a number of seconds is waited for a minute at a time anyway.
        let wait = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
        tracing::info!(task = next.task.0, "nextTryAt" = %next.at, "waitMs" = wait.as_millis() as u64, "waiting for the next task to become due");
        progress(RetryEvent::Waiting {
            task: next.task,
            at: &next.at,
            wait,
        });
        target.stop.wait(wait.min(MAX_IDLE));
    }
    Ok(true)
}

/// The retry job with up to `workers` attempts in flight at once. Each worker is a retry run of
/// its own, with its own instance, its own store connections (from `open_store`) and its own
/// name in leases: tasks are claimed and held exactly as by separate processes, so none is
/// attempted by two at once. Every worker runs to its end, except that refused credentials stop
/// them all (attempts in flight end first); the first error any of them stopped with is
/// returned.
pub fn retry_concurrently(
    runtime: &Runtime,
    open_store: &(dyn Fn() -> Result<Store, StoreError> + Sync),
    connection: &Connection,
    scope: RetryScope<'_>,
    policy: &RetryPolicy,
    workers: usize,
    progress: &(dyn Fn(RetryEvent<'_>) + Sync),
) -> Result<RetrySummary, JobError> {
    let owners = lease::owners();
    let target = RetryTarget::new(connection, scope, policy, || open_store()?.now())?;
    let worker = |number: usize| -> Result<RetrySummary, JobError> {
        let mut store = open_store()?;
        let gate = Gate::new(open_store()?, owners(number), policy.lease);
        let worker = Worker::start(runtime, connection, gate)?;
        retry_as(runtime, &mut store, worker, &target, &mut |report| {
            progress(report)
        })
    };
    let worker = &worker;
    let outcomes: Vec<Result<RetrySummary, JobError>> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for number in 0..workers.max(1) {
            let spawned = std::thread::Builder::new()
                .name(format!("dcconn-retry-{number}"))
                .spawn_scoped(scope, move || worker(number));
            handles.push(spawned);
        }
        handles
            .into_iter()
            .map(|handle| match handle {
                Ok(handle) => handle.join().unwrap_or_else(|_| {
                    Err(JobError::Thread {
                        what: "runs retry attempts",
                        source: std::io::Error::other("it panicked"),
                    })
                }),
                Err(source) => Err(JobError::Thread {
                    what: "runs retry attempts",
                    source,
                }),
            })
            .collect()
    });
    let mut total = RetrySummary::default();
    for outcome in outcomes {
        total.merge(&outcome?);
    }
    Ok(total)
}

/// Tasks claimed at once by the retry job: one, so that a claim is an attempt (a try is
/// counted when claimed) and a long run leaves the rest of the queue to other runs.
const CLAIM_BATCH: usize = 1;

/// The longest the retry job sleeps at once, so that it notices tasks other runs add.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// A worker: a component instance whose requests go out only under the lease of the attempt
/// in flight, held in the worker's own name.
struct Worker {
    instance: ConnectorInstance,
    gate: Gate,
    /// The worker's name in leases.
    owner: String,
}

impl Worker {
    /// A worker on a fresh instance for `connection`.
    fn start(runtime: &Runtime, connection: &Connection, gate: Gate) -> Result<Worker, JobError> {
        let (instance, _warnings) = validated_instance(runtime, connection)?;
        Ok(Worker::with_instance(instance, gate))
    }

    /// A worker on `instance`, whose requests from now on pass `gate`.
    fn with_instance(mut instance: ConnectorInstance, gate: Gate) -> Worker {
        instance.set_send_gate(Box::new(gate.clone()));
        let owner = gate.owner();
        Worker {
            instance,
            gate,
            owner,
        }
    }

    /// A fresh instance in place of one a trap left unusable.
    fn restart(&mut self, runtime: &Runtime, connection: &Connection) -> Result<(), JobError> {
        *self = Worker::start(runtime, connection, self.gate.clone())?;
        Ok(())
    }

    fn owner(&self) -> &str {
        &self.owner
    }

    /// One attempt of a claimed task.
    fn attempt(
        &mut self,
        store: &mut Store,
        connection: &Connection,
        task: &Task,
        policy: &RetryPolicy,
    ) -> Result<Attempted, JobError> {
        let id = TaskId(task.id);
        let Some(account) = store.account(&task.endpoint, &task.account)? else {
            let error = format!("account {} is no longer in the store", task.account);
            let recorded = store.fail_attempt(id, &self.owner, &error, None);
            return Attempted::recorded(task, recorded, false, None);
        };
        let request = provisioning_request(store, &task.endpoint, &account)?;
        tracing::debug!(task = task.id, account = %task.account, kind = %task.kind, "tryNumber" = task.tries, owner = %self.owner, "attempt started");
        let (outcome, lost) = self.provision(connection, task, &request);
        let trapped = outcome.is_err();
        if lost {
            return Ok(Attempted::lost(task, trapped, None));
        }
        let (message, retry_after, refused) = match outcome {
            Ok(Ok(outcome)) => {
                let completion = completion(&outcome, connection);
                let recorded = store.complete_task_with(id, &self.owner, &completion);
                return Attempted::recorded(task, recorded, false, None);
            }
            Ok(Err(error)) => self.failure(error, connection, policy.delay(task.tries)),
            // A trap: the instance is unusable, but the task must still end in a definite state.
            Err(runtime) => (
                JobError::from(runtime).redacted(Some(connection)),
                Some(policy.delay(task.tries)),
                None,
            ),
        };
        let recorded = store.fail_attempt(id, &self.owner, &message, retry_after);
        Attempted::recorded(task, recorded, trapped, refused)
    }

    /// What a failed plan comes to: the task's error, the wait before its next try (`delay`,
    /// unless trying again cannot help), and the error that stops the job, if it must stop.
    fn failure(
        &self,
        error: wit::ConnectorError,
        connection: &Connection,
        delay: Duration,
    ) -> (String, Option<Duration>, Option<JobError>) {
        let next = after_failure(&error.kind);
        let job_error = JobError::Connector {
            error: Box::new(error),
            denials: self.instance.denials(),
        };
        (
            job_error.redacted(Some(connection)),
            (next != AfterFailure::GiveUp).then_some(delay),
            (next == AfterFailure::Stop).then_some(job_error),
        )
    }

    /// Runs the task's plan, its requests going out under the task's lease; and whether the
    /// lease was lost on the way (then a request was refused: nothing more was sent).
    fn provision(
        &mut self,
        connection: &Connection,
        task: &Task,
        request: &wit::ProvisioningRequest,
    ) -> (ProvisionOutcome, bool) {
        self.gate.begin(TaskId(task.id));
        let enable = task.kind == TaskKind::Enable;
        let outcome = self
            .instance
            .provision(&attributes(connection), enable, request);
        (outcome, self.gate.end())
    }
}

/// What running a provisioning plan in the component comes to.
type ProvisionOutcome = Result<Result<wit::ProvisioningOutcome, wit::ConnectorError>, RuntimeError>;

/// What one attempt came to.
struct Attempted {
    /// The task as the attempt left it; as claimed when the lease was lost.
    task: Task,
    /// The attempt lost its lease: another worker took the task over; nothing was recorded.
    lost: bool,
    /// The component trapped (a limit, a bug): its instance is unusable.
    trapped: bool,
    /// Set when the credentials were refused ([`AfterFailure::Stop`]).
    refused: Option<JobError>,
}

impl Attempted {
    /// The attempt of `claimed` whose outcome the store recorded, or refused to record because
    /// another worker took the task over (what that worker records stands).
    fn recorded(
        claimed: &Task,
        recorded: Result<Task, StoreError>,
        trapped: bool,
        refused: Option<JobError>,
    ) -> Result<Attempted, JobError> {
        let task = match recorded {
            Ok(task) => task,
            Err(StoreError::LeaseLost { .. }) => {
                return Ok(Attempted::lost(claimed, trapped, refused));
            }
            Err(error) => return Err(error.into()),
        };
        match task.status {
            TaskStatus::Complete => {
                // Log fields are scalars: the skipped calls as `2;3`, as the CSV writes lists,
                // and only when there are some.
                let skipped = (task.skipped_calls.iter())
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(";");
                let skipped = (!skipped.is_empty()).then(|| tracing::field::display(skipped));
                tracing::info!(task = task.id, account = %task.account, kind = %task.kind, tries = task.tries, "skippedCalls" = skipped, "task complete");
            }
            _ => {
                tracing::info!(task = task.id, account = %task.account, kind = %task.kind, status = %task.status, tries = task.tries, error = %task.last_error.as_deref().unwrap_or_default(), "attempt failed");
            }
        }
        Ok(Attempted {
            task,
            lost: false,
            trapped,
            refused,
        })
    }

    /// The attempt of `claimed` that lost its lease.
    fn lost(claimed: &Task, trapped: bool, refused: Option<JobError>) -> Attempted {
        tracing::warn!(task = claimed.id, account = %claimed.account, "tryNumber" = claimed.tries, "lease lost: another worker took the task over; this attempt recorded nothing");
        Attempted {
            task: claimed.clone(),
            lost: true,
            trapped,
            refused,
        }
    }

    /// What the caller is told.
    fn report(&self) -> RetryEvent<'_> {
        if self.lost {
            RetryEvent::LeaseLost(&self.task)
        } else {
            RetryEvent::Recorded(&self.task)
        }
    }

    /// The task, or the refusal that must stop the job.
    fn into_result(self) -> Result<Task, JobError> {
        match self.refused {
            Some(error) => Err(error),
            None => Ok(self.task),
        }
    }
}

/// What a completed plan reported back, as the store keeps it: every text the server sent
/// passes the secrets mask, since a server may echo a secret into a comment or a column.
fn completion(outcome: &wit::ProvisioningOutcome, connection: &Connection) -> Completion {
    let mask = |text: &str| redact(text, Some(connection));
    Completion {
        comments: outcome.comments.as_deref().map(mask),
        account_updates: outcome
            .account_updates
            .iter()
            .map(|column| (column.name.clone(), mask(&column.value)))
            .collect(),
        skipped_calls: outcome.skipped_calls.clone(),
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterFailure {
    /// Try again after the backoff: the failure may pass.
    Retry,
    /// The task fails for good: trying again cannot help (a configuration mistake).
    GiveUp,
    /// The credentials were refused: the task waits for its next try, and the job stops rather
    /// than fail every other task the same way.
    Stop,
}

fn after_failure(kind: &wit::ErrorKind) -> AfterFailure {
    match kind {
        wit::ErrorKind::Authentication(_) => AfterFailure::Stop,
        wit::ErrorKind::InvalidConfiguration(_) | wit::ErrorKind::Unsupported(_) => {
            AfterFailure::GiveUp
        }
        _ => AfterFailure::Retry,
    }
}

/// What the component is given to provision `account`: the account and its owner.
fn provisioning_request(
    store: &Store,
    endpoint: &str,
    account: &StoredAccount,
) -> Result<wit::ProvisioningRequest, JobError> {
    Ok(wit::ProvisioningRequest {
        account: wit_account(account),
        user: owner_attributes(store, endpoint, account)?,
    })
}

fn wit_account(account: &StoredAccount) -> wit::Account {
    wit::Account {
        name: account.name.clone(),
        columns: columns(&account.columns),
        entitlements: account
            .entitlements
            .iter()
            .map(
                |EntitlementRef {
                     entitlement_type,
                     value,
                 }| wit::EntitlementRef {
                    entitlement_type: entitlement_type.clone(),
                    value: value.clone(),
                },
            )
            .collect(),
    }
}

fn columns(pairs: &[(String, String)]) -> Vec<wit::Column> {
    pairs
        .iter()
        .map(|(name, value)| wit::Column {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// The owner's attributes, bound as `${user.*}`; empty when the account has no owner. An
/// inactive account keeps its owner here (enabling it is when it is inactive).
fn owner_attributes(
    store: &Store,
    endpoint: &str,
    account: &StoredAccount,
) -> Result<Vec<wit::Column>, JobError> {
    Ok(store
        .provisioning_owner(endpoint, account)?
        .map(|identity| columns(&identity_attributes(identity)))
        .unwrap_or_default())
}

fn identity_attributes(identity: Identity) -> Vec<(String, String)> {
    let mut attributes = vec![("username".to_string(), identity.username)];
    for (name, value) in [
        ("firstname", identity.firstname),
        ("lastname", identity.lastname),
        ("email", identity.email),
    ] {
        if let Some(value) = value {
            attributes.push((name.to_string(), value));
        }
    }
    attributes.extend(identity.attributes);
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for (tries, nominal) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            for _ in 0..50 {
                let delay = policy.delay(tries).as_secs_f64() * 1000.0;
                let nominal = f64::from(nominal);
                assert!(
                    (nominal * 0.5..nominal * 1.5).contains(&delay),
                    "try {tries}: {delay} ms is not within 50% of {nominal} ms"
                );
            }
        }
    }

    #[test]
    fn only_failures_that_trying_again_can_fix_are_retried() {
        let cases = [
            (
                wit::ErrorKind::Transport("reset".into()),
                AfterFailure::Retry,
            ),
            (
                wit::ErrorKind::HttpStatus(wit::HttpStatusError {
                    status: 503,
                    body_excerpt: String::new(),
                }),
                AfterFailure::Retry,
            ),
            (
                wit::ErrorKind::Authentication("refused".into()),
                AfterFailure::Stop,
            ),
            (
                wit::ErrorKind::InvalidConfiguration(Vec::new()),
                AfterFailure::GiveUp,
            ),
            (
                wit::ErrorKind::Unsupported("x".into()),
                AfterFailure::GiveUp,
            ),
        ];
        for (kind, expected) in cases {
            assert_eq!(after_failure(&kind), expected, "{kind:?}");
        }
    }
}
