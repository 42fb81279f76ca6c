//! `dcconn worker`: polls a task queue for the fleet's workflows and activities, runs them
//! within its concurrency limits, serves `--metrics`, and stops gracefully on SIGTERM (or
//! Ctrl-C): it polls no more work, lets running activities finish within the grace period,
//! and gives back those that do not (Temporal retries them on another worker).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use temporalio_common::telemetry::metrics::CoreMeter;
use temporalio_common::telemetry::{
    PrometheusExporterOptions, TelemetryOptions, start_prometheus_metric_exporter,
};
use temporalio_sdk::runtime::RuntimeOptions;
use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{Runtime as TemporalRuntime, Worker, WorkerOptions};

use super::activities::{Connections, FleetActivities};
use super::client::{connect, identity};
use super::metrics::Metrics;
use super::workflows::{ImportWorkflow, ProvisionWorkflow, ScheduledImportWorkflow};
use super::{FleetError, Target};
use crate::runtime::Runtime;

/// What a worker is started with.
pub struct WorkerSettings {
    /// Temporal, the namespace and the task queue.
    pub target: Target,
    /// The connections workflows name.
    pub connections: Arc<dyn Connections>,
    /// The store (`--db`).
    pub db: PathBuf,
    /// The component.
    pub runtime: Arc<Runtime>,
    /// Imports run at most at once.
    pub max_imports: usize,
    /// Task attempts run at most at once.
    pub max_tasks: usize,
    /// How long running activities may take to finish once told to stop.
    pub grace: Duration,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<SocketAddr>,
}

/// Why a worker stopped other than when asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// Connecting, or the Temporal client, failed.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The metrics address could not be served.
    #[error("cannot serve metrics on {address}: {reason}; choose another --metrics address")]
    Metrics {
        /// The address.
        address: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The worker could not be set up or failed while running.
    #[error("the worker failed to {doing}: {reason}")]
    Worker {
        /// What it was doing.
        doing: &'static str,
        /// Why.
        reason: String,
    },
}

fn failed(doing: &'static str) -> impl Fn(&dyn std::fmt::Display) -> WorkerError {
    move |reason| WorkerError::Worker {
        doing,
        reason: crate::secrets::mask(&reason.to_string()),
    }
}

/// Runs a worker until SIGTERM or Ctrl-C; `ready` is told once it polls (with the metrics
/// address it serves, if any).
pub fn run(
    settings: WorkerSettings,
    ready: &dyn Fn(Option<SocketAddr>),
) -> Result<(), WorkerError> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dcconn-worker")
        .build()
        .map_err(|error| failed("start its runtime")(&error))?;
    tokio.block_on(serve(settings, ready))
}

async fn serve(
    settings: WorkerSettings,
    ready: &dyn Fn(Option<SocketAddr>),
) -> Result<(), WorkerError> {
    let (meter, served) = match settings.metrics {
        Some(address) => {
            let options = PrometheusExporterOptions::builder()
                .socket_addr(address)
                .build();
            let server = start_prometheus_metric_exporter(options).map_err(|error| {
                WorkerError::Metrics {
                    address,
                    reason: error.to_string(),
                }
            })?;
            (
                Some(server.meter as Arc<dyn CoreMeter>),
                Some(server.bound_addr),
            )
        }
        None => (None, None),
    };
    let telemetry = TelemetryOptions::builder()
        .maybe_metrics(meter.clone())
        .build();
    let options = RuntimeOptions::builder()
        .telemetry_options(telemetry)
        .build()
        .map_err(|error| failed("set up its telemetry")(&error))?;
    let temporal = TemporalRuntime::from_current_tokio(options)
        .map_err(|error| failed("start the Temporal runtime")(&error))?;
    let client = connect(&settings.target, &identity("worker")).await?;
    let metrics = meter.map(Metrics::new).unwrap_or_default();
    let activities = FleetActivities::new(
        settings.runtime,
        settings.connections,
        settings.db,
        (settings.max_imports, settings.max_tasks),
        metrics,
    );
    let options = WorkerOptions::new(settings.target.task_queue.clone())
        .register_activities(activities)
        .register_workflow::<ImportWorkflow>()
        .and_then(|options| options.register_workflow::<ScheduledImportWorkflow>())
        .and_then(|options| options.register_workflow::<ProvisionWorkflow>())
        .map_err(|error| failed("register its workflows")(&error))?
        .tuner(tuner(settings.max_imports + settings.max_tasks))
        // Activities come by polling only: under load, an activity handed over eagerly with a
        // workflow task was seen to wait for its start-to-close timeout before running.
        .max_eager_activity_reservations_per_workflow_task(0)
        .graceful_shutdown_period(settings.grace)
        .build();
    let mut worker =
        Worker::new(&temporal, client, options).map_err(|error| failed("start")(&error))?;
    let stop = worker.shutdown_handle();
    tokio::spawn(async move {
        stop_signal().await;
        tracing::warn!(
            "stopping: no new work; running activities may finish within the grace period"
        );
        stop();
    });
    ready(served);
    worker.run().await.map_err(|error| failed("run")(&error))
}

/// Workflow tasks are cheap (they only schedule); activities run at most `activities` at once
/// (imports and task attempts share them, each kind within its own limit), and as many local
/// activities (creating tasks).
fn tuner(activities: usize) -> TunerHolder {
    TunerHolder::builder()
        .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(WORKFLOW_TASK_SLOTS))
        .activity_task_slot_supplier(FixedSizeSlotSupplier::new(activities.max(1)))
        .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(activities.max(1)))
        .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
        .build()
}

/// Workflow tasks one worker handles at once.
const WORKFLOW_TASK_SLOTS: usize = 16;

/// Resolves on SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the worker runs until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
