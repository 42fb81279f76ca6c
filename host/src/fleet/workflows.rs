//! What Temporal orchestrates. Workflows are deterministic: they only schedule activities and
//! child workflows and turn their results into a [`JobOutcome`]. Every workflow completes with
//! the outcome the local command would have shown (a failed job included), so that `--via`
//! prints it and exits with its code.

use std::time::Duration;

use temporalio_common::RetryPolicy;
use temporalio_common::error::{ActivityExecutionError, IncomingError};
use temporalio_common::protos::temporal::api::failure::v1::Failure;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_sdk::workflows::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, ChildWorkflowOptions, LocalActivityOptions, WorkflowContext, WorkflowResult,
};

use super::activities::{FleetActivities, TaskAttempt};
use super::{ImportJob, JobOutcome, ProvisionJob, failure_type, import_workflow_id};
use crate::jobs::exit_code as exit;

/// The longest an import or a task attempt may take (an import's own deadline,
/// `--limit-job-secs`, is the same).
const JOB_DEADLINE: Duration = Duration::from_secs(43_200);

/// A task attempt heartbeats every second while it runs: one silent this long is taken for a
/// dead worker's, and handed to another (which finds the task's lease, or its end, in the store).
const ATTEMPT_HEARTBEAT: Duration = Duration::from_secs(10);

/// Creating a task is a few store statements: tried a few times, a second apart at first.
const CREATE_ATTEMPTS: u32 = 3;

/// An endpoint's import: the import activity, retried from the start on another worker when
/// its worker dies (heartbeat timeout) or the failure may pass, up to the job's attempts.
#[workflow]
#[derive(Default)]
pub struct ImportWorkflow;

#[workflow_methods]
impl ImportWorkflow {
    /// Runs the import; its outcome, failed or not.
    #[run(name = "dcconn.import")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        job: ImportJob,
    ) -> WorkflowResult<JobOutcome> {
        let run = job.run;
        let retry = RetryPolicy::builder()
            .initial_interval(Duration::from_millis(run.backoff_ms.max(1)))
            .backoff_coefficient(2.0)
            .maximum_interval(Duration::from_millis(run.backoff_ms.max(1)).saturating_mul(16))
            .maximum_attempts(run.max_attempts)
            .build();
        let options = ActivityOptions::with_start_to_close_timeout(JOB_DEADLINE)
            .heartbeat_timeout(Duration::from_secs(run.heartbeat_timeout_secs.max(1)))
            .retry_policy(retry)
            .build();
        let done = ctx
            .execute_activity(FleetActivities::import, job, options)
            .await;
        Ok(done.unwrap_or_else(|error| outcome_of_failure(&error, "import")))
    }
}

/// A schedule's fire: starts the endpoint's import as the child `import-<endpoint>`, so that
/// it never runs beside another import of the endpoint (one started with `--via`, or an
/// earlier fire's); a fire that finds one running is skipped, and says so.
#[workflow]
#[derive(Default)]
pub struct ScheduledImportWorkflow;

#[workflow_methods]
impl ScheduledImportWorkflow {
    /// Starts the import and waits for it; its outcome, or the skip.
    #[run(name = "dcconn.scheduled-import")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        job: ImportJob,
    ) -> WorkflowResult<JobOutcome> {
        let id = import_workflow_id(&job.endpoint);
        let options = ChildWorkflowOptions::workflow_id(id.clone());
        let started = ctx
            .start_child_workflow(ImportWorkflow::run, job, options)
            .await;
        let started = match started {
            Ok(started) => started,
            Err(error) => {
                let skipped = JobOutcome::failed(
                    exit::BUSY,
                    format!("skipped: {id} is running already, or could not start ({error})"),
                );
                return Ok(skipped);
            }
        };
        Ok(match started.result().await {
            Ok(outcome) => outcome,
            Err(error) => JobOutcome::failed(exit::INTERNAL, format!("{id} failed: {error}")),
        })
    }
}

/// A provisioning task: created in the store (after the checks of `dcconn disable`), then
/// attempted under Temporal's retry policy: backoff from `--backoff-ms` doubling up to
/// `--max-backoff-ms` with the task's jitter, at most `--max-tries` attempts; authentication
/// and configuration failures are not retried.
#[workflow]
#[derive(Default)]
pub struct ProvisionWorkflow;

#[workflow_methods]
impl ProvisionWorkflow {
    /// Creates and attempts the task; its outcome.
    #[run(name = "dcconn.provision")]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        job: ProvisionJob,
    ) -> WorkflowResult<JobOutcome> {
        let create_limit = Duration::from_millis(job.lease_ms).max(Duration::from_secs(60));
        // A few store statements: a local activity, run by the worker of the workflow task
        // and recorded as one marker (a thousand tasks at once cost Temporal far less).
        let create = LocalActivityOptions::builder()
            .start_to_close_timeout(create_limit)
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(1))
                    .maximum_attempts(CREATE_ATTEMPTS)
                    .build(),
            )
            .build();
        let created = ctx
            .execute_local_activity(FleetActivities::create_task, job.clone(), create)
            .await;
        let created = match created {
            Ok(created) => created,
            Err(error) => return Ok(outcome_of_failure(&error, "creating the task")),
        };
        let backoff = Duration::from_millis(job.backoff_ms.max(1));
        let retry = RetryPolicy::builder()
            .initial_interval(backoff)
            .backoff_coefficient(2.0)
            .maximum_interval(Duration::from_millis(job.max_backoff_ms.max(1)).max(backoff))
            .maximum_attempts(job.max_tries)
            .build();
        // An attempt may wait for its task (a dead worker's lease) and then send requests that
        // each may last their deadline: the heartbeat, not this limit, tells a dead worker.
        let attempt = ActivityOptions::with_start_to_close_timeout(JOB_DEADLINE)
            .heartbeat_timeout(ATTEMPT_HEARTBEAT)
            .retry_policy(retry)
            .build();
        let attempted = ctx
            .execute_activity(
                FleetActivities::attempt_task,
                TaskAttempt {
                    job,
                    task: created.id,
                    pending: created.pending,
                },
                attempt,
            )
            .await;
        Ok(attempted.unwrap_or_else(|error| outcome_of_failure(&error, "the task")))
    }
}

/// The outcome an activity's final failure carries, or one made of the failure itself (a
/// timeout: no worker finished it).
fn outcome_of_failure(error: &ActivityExecutionError, what: &str) -> JobOutcome {
    if let Some(outcome) = error.failure().and_then(carried_outcome) {
        return outcome;
    }
    match error.reason() {
        Some(IncomingError::Timeout(_)) => JobOutcome::failed(
            exit::INTERNAL,
            format!(
                "{what} timed out in the fleet: no worker finished it in time (its workers died or stopped); see the workflow's history in Temporal, and whether workers run (dcconn worker)"
            ),
        ),
        _ => JobOutcome::failed(
            exit::INTERNAL,
            format!("{what} failed in the fleet: {error}"),
        ),
    }
}

/// The [`JobOutcome`] an application failure in `failure`'s chain carries as its details (the
/// activity's own failure, or its cause, depending on how the failure came: from an activity
/// or a local one); or, without details, one made of its message and type.
fn carried_outcome(failure: &Failure) -> Option<JobOutcome> {
    let mut next = Some(failure);
    while let Some(failure) = next {
        if let Some(FailureInfo::ApplicationFailureInfo(info)) = &failure.failure_info {
            let details = info
                .details
                .as_ref()
                .and_then(|details| details.payloads.first());
            let carried = details.and_then(|payload| serde_json::from_slice(&payload.data).ok());
            return Some(carried.unwrap_or_else(|| {
                JobOutcome::failed(exit_code_of(&info.r#type), failure.message.clone())
            }));
        }
        next = failure.cause.as_deref();
    }
    None
}

/// The exit code of a failure type.
fn exit_code_of(type_name: &str) -> u8 {
    match type_name {
        failure_type::AUTHENTICATION => exit::AUTHENTICATION,
        failure_type::CONFIGURATION => exit::CONFIGURATION,
        failure_type::USAGE => exit::USAGE,
        failure_type::BUSY => exit::BUSY,
        failure_type::REMOTE => exit::REMOTE,
        _ => exit::INTERNAL,
    }
}
