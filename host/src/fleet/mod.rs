//! The fleet: Duck Creek jobs run by `dcconn worker` processes under Temporal.
//!
//! - [`workflows`]: what Temporal orchestrates. An endpoint's import is the workflow
//!   `import-<endpoint>` (one at a time per endpoint, anywhere); a schedule fire starts it as a
//!   child; a provisioning task is a workflow whose attempts follow Temporal's retry policy.
//! - [`activities`]: what a worker executes: the same jobs `dcconn import` and `dcconn
//!   disable` run (`crate::jobs`), against the worker's own connections and store.
//! - [`worker`]: `dcconn worker`: polls a task queue, runs activities within its concurrency
//!   limits, stops gracefully on SIGTERM, serves `--metrics`.
//! - [`client`]: `--via`: starts one job's workflow and waits for its outcome.
//! - [`schedules`]: `dcconn schedule add|list|remove|trigger`.
//! - [`metrics`]: the Prometheus series a worker serves.
//!
//! Secrets never pass through Temporal: inputs and outcomes carry connection and endpoint names,
//! options and texts that already passed the secrets mask, never an attribute value.

// The SDK's macros add an undocumented constant per activity and workflow method (and drop
// attributes on the impl), so the lint is allowed for these two modules: every item written
// here is documented.
#[allow(missing_docs)]
pub mod activities;
pub mod client;
pub mod metrics;
pub mod schedules;
pub mod worker;
#[allow(missing_docs)]
pub mod workflows;

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::jobs::exit_code as exit;

/// The task queue workers poll and clients start workflows on unless told otherwise.
pub const DEFAULT_TASK_QUEUE: &str = "dcconn";

/// The Temporal namespace used unless told otherwise (it always exists on a dev server).
pub const DEFAULT_NAMESPACE: &str = "default";

/// Where a Temporal frontend is and which namespace and task queue to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `HOST:PORT` of the Temporal frontend (gRPC).
    pub address: String,
    /// The namespace.
    pub namespace: String,
    /// The task queue.
    pub task_queue: String,
}

/// Why a fleet command failed (the client side: connecting, starting, waiting).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The address is not `HOST:PORT`.
    #[error("{address:?} is not a Temporal address: give HOST:PORT, e.g. 127.0.0.1:7233")]
    BadAddress {
        /// What was given.
        address: String,
    },
    /// Temporal cannot be reached.
    #[error(
        "cannot reach Temporal at {address}: {reason}; check that the Temporal server runs there (temporal server start-dev, or your cluster's frontend) and that --temporal names it"
    )]
    Unreachable {
        /// The address.
        address: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// A workflow with this id is running already.
    #[error(
        "{what} is already running in the fleet (workflow {workflow_id}); wait for it to end (temporal workflow describe --workflow-id {workflow_id})"
    )]
    AlreadyRunning {
        /// What was asked.
        what: String,
        /// The workflow id.
        workflow_id: String,
    },
    /// The schedule does not exist.
    #[error("there is no schedule {schedule}: see `dcconn schedule list`")]
    UnknownSchedule {
        /// The schedule id.
        schedule: String,
    },
    /// A schedule with this id exists already.
    #[error(
        "schedule {schedule} exists already: remove it first (dcconn schedule remove {endpoint})"
    )]
    ScheduleExists {
        /// The schedule id.
        schedule: String,
        /// Its endpoint.
        endpoint: String,
    },
    /// Temporal refused a schedule's times (cron expression or time zone).
    #[error(
        "Temporal refused the times of schedule {schedule}: {reason}; give --cron as a cron expression (minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\"; or @daily, @every 6h) and --timezone as an IANA name (e.g. Europe/Berlin)"
    )]
    BadScheduleTimes {
        /// The schedule id.
        schedule: String,
        /// What Temporal said.
        reason: String,
    },
    /// Temporal refused or failed a request.
    #[error("Temporal failed to {doing}: {reason}")]
    Temporal {
        /// What was being done.
        doing: String,
        /// What Temporal said.
        reason: String,
    },
}

impl FleetError {
    /// The exit code of a command that failed so.
    pub fn exit_code(&self) -> u8 {
        match self {
            FleetError::BadAddress { .. } | FleetError::UnknownSchedule { .. } => exit::USAGE,
            FleetError::ScheduleExists { .. } | FleetError::BadScheduleTimes { .. } => exit::USAGE,
            FleetError::AlreadyRunning { .. } => exit::BUSY,
            FleetError::Unreachable { .. } | FleetError::Temporal { .. } => exit::INTERNAL,
        }
    }

    /// A failure of Temporal while doing `doing`.
    pub(crate) fn temporal(
        doing: impl Into<String>,
        reason: impl std::error::Error + 'static,
    ) -> Self {
        FleetError::Temporal {
            doing: doing.into(),
            reason: in_words(&reason),
        }
    }
}

/// What went wrong, in words: the message of a gRPC status in `error`'s chain (the server's
/// own), else the chain's root cause (`Connection refused`), without the debug text of the
/// layers in between; secrets masked.
pub(crate) fn in_words(error: &(dyn std::error::Error + 'static)) -> String {
    let mut root = error;
    loop {
        if let Some(status) = root.downcast_ref::<temporalio_client::tonic::Status>() {
            return crate::secrets::mask(status.message());
        }
        match root.source() {
            Some(source) => root = source,
            None => break,
        }
    }
    let text = root.to_string();
    // "Connection refused (os error 111)": the number says nothing more to a reader.
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => &text[..at],
        _ => &text,
    };
    crate::secrets::mask(text)
}

/// The frontend's URL for `HOST:PORT` (the SDK wants a scheme).
pub fn frontend_url(address: &str) -> Result<url::Url, FleetError> {
    let bad = || FleetError::BadAddress {
        address: address.to_owned(),
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    url::Url::from_str(&format!("http://{address}")).map_err(|_| bad())
}

/// The workflow id of an endpoint's import: one import of an endpoint at a time, fleet-wide.
pub fn import_workflow_id(endpoint: &str) -> String {
    format!("import-{endpoint}")
}

/// The id of an endpoint's import schedule.
pub fn schedule_id(endpoint: &str) -> String {
    format!("import-schedule-{endpoint}")
}

/// What a job came to, as the local command would show it: what it prints on stdout, its
/// notes and warnings on stderr, its final error and its exit code. Every text passed the
/// secrets mask on the worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// The exit code the local command would have returned.
    pub exit_code: u8,
    /// What it prints on stdout.
    pub stdout: String,
    /// Warnings and notes it prints on stderr before the result, with their level.
    pub messages: Vec<Message>,
    /// Warnings and notes it prints on stderr after the result.
    pub trailing: Vec<Message>,
    /// The error that ended it, printed last.
    pub error: Option<String>,
}

/// A line on stderr: its level (`WARN`, `INFO`) and text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `WARN` or `INFO`.
    pub level: String,
    /// The text.
    pub text: String,
}

impl Message {
    /// A warning.
    pub fn warn(text: impl Into<String>) -> Self {
        Message {
            level: "WARN".to_owned(),
            text: text.into(),
        }
    }

    /// A note.
    pub fn info(text: impl Into<String>) -> Self {
        Message {
            level: "INFO".to_owned(),
            text: text.into(),
        }
    }
}

impl JobOutcome {
    /// A job that failed with `message` and `exit_code`, having printed nothing.
    pub fn failed(exit_code: u8, message: impl Into<String>) -> Self {
        JobOutcome {
            exit_code,
            error: Some(message.into()),
            ..JobOutcome::default()
        }
    }
}

/// An import through the fleet: the connection (by name, from the worker's `--connections`),
/// the endpoint and the options of `dcconn import`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportJob {
    /// The connection's name in the workers' connections folder.
    pub connection: String,
    /// The endpoint the data belongs to in the store.
    pub endpoint: String,
    /// `all`, `accounts` or `access`.
    pub scope: String,
    /// Records per batch (0: the component's default).
    pub batch: u32,
    /// Print the summary as JSON.
    pub json: bool,
    /// How Temporal runs it.
    pub run: RunOptions,
}

/// How Temporal runs an import's activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOptions {
    /// A worker that sent no heartbeat for this long is taken for dead; the import is
    /// retried on another, from the start.
    pub heartbeat_timeout_secs: u64,
    /// Attempts at most (a dead worker's included).
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each further one.
    pub backoff_ms: u64,
    /// How long an attempt's run lease in the store lasts unless renewed: a retry after a dead
    /// worker waits for the dead run's lease to expire.
    pub lease_ms: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            heartbeat_timeout_secs: 30,
            max_attempts: 5,
            backoff_ms: 5_000,
            lease_ms: 30_000,
        }
    }
}

/// A provisioning task through the fleet: enable or disable an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionJob {
    /// The connection's name in the workers' connections folder.
    pub connection: String,
    /// The endpoint the account belongs to.
    pub endpoint: String,
    /// The account.
    pub account: String,
    /// `enable` or `disable`.
    pub kind: String,
    /// Tries before the task is given up (`--max-tries`): Temporal's maximum attempts.
    pub max_tries: u32,
    /// The wait after the first failed try (Temporal's initial interval; it doubles).
    pub backoff_ms: u64,
    /// The longest wait between two tries.
    pub max_backoff_ms: u64,
    /// How long an attempt holds its task in the store.
    pub lease_ms: u64,
}

/// The names of the failure types activities raise (`ApplicationFailure::type_name`), each
/// with the exit code of the local command.
pub mod failure_type {
    use crate::jobs::exit_code as exit;

    /// Duck Creek or its token gateway refused the credentials: not retried.
    pub const AUTHENTICATION: &str = "Authentication";
    /// The connection is invalid, or the worker has none of that name: not retried.
    pub const CONFIGURATION: &str = "Configuration";
    /// The request names something the store does not have (an account, a task): not retried.
    pub const USAGE: &str = "Usage";
    /// Duck Creek or the network failed: retried with backoff.
    pub const REMOTE: &str = "Remote";
    /// Another import or attempt holds the endpoint or task: retried with backoff.
    pub const BUSY: &str = "Busy";
    /// The store, the component or the host failed: retried with backoff.
    pub const INTERNAL: &str = "Internal";

    /// The type of a job failure with this exit code, and whether it is retried.
    pub fn of_exit_code(code: u8) -> (&'static str, bool) {
        match code {
            exit::AUTHENTICATION => (AUTHENTICATION, false),
            exit::CONFIGURATION => (CONFIGURATION, false),
            exit::USAGE => (USAGE, false),
            exit::REMOTE => (REMOTE, true),
            exit::BUSY => (BUSY, true),
            _ => (INTERNAL, true),
        }
    }
}
