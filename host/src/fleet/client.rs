//! The client side of the fleet: connecting to Temporal, and `--via`: starting one job's
//! workflow and waiting for its outcome.

use temporalio_client::errors::{ClientConnectError, WorkflowStartError};
use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, WorkflowGetResultOptions,
    WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowStartOptions,
};

use temporalio_common::HasWorkflowDefinition;

use super::workflows::{ImportWorkflow, ProvisionWorkflow};
use super::{
    FleetError, ImportJob, JobOutcome, ProvisionJob, Target, frontend_url, import_workflow_id,
};

/// How long connecting to Temporal may take: a server that takes the connection and says
/// nothing is not waited for forever.
const CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// A client of the target's namespace; `identity` names this process in Temporal.
pub async fn connect(target: &Target, identity: &str) -> Result<Client, FleetError> {
    let url = frontend_url(&target.address)?;
    let options = ConnectionOptions::new(url)
        .identity(identity.to_owned())
        .build();
    let unreachable = |reason: String| FleetError::Unreachable {
        address: target.address.clone(),
        reason,
    };
    let connection = match tokio::time::timeout(CONNECT_WAIT, Connection::connect(options)).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(ClientConnectError::SystemInfoCallError(status))) => {
            return Err(unreachable(format!(
                "the server there does not answer as a Temporal frontend ({})",
                crate::secrets::mask(status.message())
            )));
        }
        Ok(Err(error)) => return Err(unreachable(super::in_words(&error))),
        Err(_) => {
            return Err(unreachable(format!(
                "no answer within {} s",
                CONNECT_WAIT.as_secs()
            )));
        }
    };
    Client::new(
        connection,
        ClientOptions::new(target.namespace.clone()).build(),
    )
    .map_err(|error| FleetError::temporal("create a client", error))
}

/// This process's identity in Temporal: `dcconn-<role>@<host>:<pid>`.
pub fn identity(role: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    format!("dcconn-{role}@{host}:{}", std::process::id())
}

/// Runs an endpoint's import through the fleet (`import --via`) and waits for its outcome.
/// Refused when an import of the endpoint runs already anywhere in the fleet.
pub async fn import(target: &Target, job: ImportJob) -> Result<JobOutcome, FleetError> {
    let client = connect(target, &identity("client")).await?;
    let id = import_workflow_id(&job.endpoint);
    let what = format!("an import of endpoint {}", job.endpoint);
    start_and_wait(&client, target, ImportWorkflow::run, job, (&id, &what)).await
}

/// Runs a provisioning task through the fleet (`enable|disable --via`) and waits for its
/// outcome.
pub async fn provision(target: &Target, job: ProvisionJob) -> Result<JobOutcome, FleetError> {
    let client = connect(target, &identity("client")).await?;
    provision_with(&client, target, job).await
}

/// [`provision`] on a client already connected (many tasks at once share one). One workflow
/// per account and kind at a time: `<kind>-<endpoint>-<account>`.
pub async fn provision_with(
    client: &Client,
    target: &Target,
    job: ProvisionJob,
) -> Result<JobOutcome, FleetError> {
    let id = format!("{}-{}-{}", job.kind, job.endpoint, job.account);
    let what = format!(
        "a {} of account {} of {}",
        job.kind, job.account, job.endpoint
    );
    start_and_wait(client, target, ProvisionWorkflow::run, job, (&id, &what)).await
}

/// Starts `workflow` as `id` (never beside a running one of the same id) and waits for its
/// outcome; `what` names the job when the start is refused.
async fn start_and_wait<W>(
    client: &Client,
    target: &Target,
    workflow: W,
    input: W::Input,
    (id, what): (&str, &str),
) -> Result<JobOutcome, FleetError>
where
    W: HasWorkflowDefinition<Output = JobOutcome>,
    W::Input: Send,
{
    let handle = client
        .start_workflow(workflow, input, start_options(target, id))
        .await
        .map_err(|error| start_failed(error, what, id))?;
    handle
        .get_result(WorkflowGetResultOptions::default())
        .await
        .map_err(|error| FleetError::temporal(format!("wait for workflow {id}"), error))
}

/// Start options: never beside a running workflow of the same id; again once it has ended.
fn start_options(target: &Target, id: &str) -> WorkflowStartOptions {
    WorkflowStartOptions::new(target.task_queue.clone(), id.to_owned())
        .id_conflict_policy(WorkflowIdConflictPolicy::Fail)
        .id_reuse_policy(WorkflowIdReusePolicy::AllowDuplicate)
        .build()
}

/// A refused start, said plainly.
fn start_failed(error: WorkflowStartError, what: &str, id: &str) -> FleetError {
    match error {
        WorkflowStartError::AlreadyStarted { .. } => FleetError::AlreadyRunning {
            what: what.to_owned(),
            workflow_id: id.to_owned(),
        },
        error => FleetError::temporal(format!("start workflow {id}"), error),
    }
}
