//! The Prometheus series a worker serves on `--metrics ADDR`, through the Temporal SDK's own
//! exporter (beside the SDK's `temporal_*` series): imports and tasks by outcome, their
//! durations, accounts imported and activities running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use temporalio_common::telemetry::metrics::{
    CoreMeter, Counter, Gauge, HistogramDuration, MetricKeyValue, MetricParameters, NewAttributes,
};

use crate::jobs::exit_code as exit;

/// The worker's own series; every method does nothing when `--metrics` was not given.
#[derive(Clone, Default)]
pub struct Metrics {
    series: Option<Arc<Series>>,
}

struct Series {
    meter: Arc<dyn CoreMeter>,
    imports: Counter,
    import_seconds: HistogramDuration,
    accounts: Counter,
    tasks: Counter,
    task_seconds: HistogramDuration,
    running: Gauge,
    running_now: AtomicU64,
}

impl Metrics {
    /// The series, registered on `meter`.
    pub fn new(meter: Arc<dyn CoreMeter>) -> Self {
        let param = |name: &'static str, description: &'static str| {
            MetricParameters::builder()
                .name(name)
                .description(description)
                .build()
        };
        let series = Series {
            imports: meter.counter(param("dcconn_imports", "Imports ended, by outcome")),
            import_seconds: meter
                .histogram_duration(param("dcconn_import_duration", "How long imports took")),
            accounts: meter.counter(param("dcconn_accounts_imported", "Accounts imported")),
            tasks: meter.counter(param(
                "dcconn_tasks",
                "Provisioning tasks ended, by outcome",
            )),
            task_seconds: meter.histogram_duration(param(
                "dcconn_task_attempt_duration",
                "How long the last attempt of a task took",
            )),
            running: meter.gauge(param("dcconn_activities_running", "Activities running now")),
            running_now: AtomicU64::new(0),
            meter,
        };
        Metrics {
            series: Some(Arc::new(series)),
        }
    }

    /// Counts an ended import.
    pub fn import_ended(&self, exit_code: u8, took: Duration, accounts: u64) {
        if let Some(series) = &self.series {
            let labels = series.outcome(exit_code);
            series.imports.add(1, &labels);
            series.import_seconds.record(took, &labels);
            if exit_code == exit::OK || exit_code == exit::WITHHELD {
                series.accounts.add(accounts, &series.none());
            }
        }
    }

    /// Counts an ended task.
    pub fn task_ended(&self, exit_code: u8, took: Duration) {
        if let Some(series) = &self.series {
            let labels = series.outcome(exit_code);
            series.tasks.add(1, &labels);
            series.task_seconds.record(took, &labels);
        }
    }

    /// Counts an activity as running until the guard is dropped.
    pub fn running(&self) -> Running {
        if let Some(series) = &self.series {
            let now = series.running_now.fetch_add(1, Ordering::SeqCst) + 1;
            series.running.record(now, &series.none());
        }
        Running {
            series: self.series.clone(),
        }
    }
}

impl Series {
    fn outcome(&self, exit_code: u8) -> temporalio_common::telemetry::metrics::MetricAttributes {
        let outcome = match exit_code {
            exit::OK => "succeeded",
            exit::WITHHELD => "withheld",
            exit::AUTHENTICATION => "authentication",
            exit::CONFIGURATION => "configuration",
            exit::BUSY => "busy",
            exit::REMOTE => "remote",
            _ => "failed",
        };
        self.meter
            .new_attributes(NewAttributes::from([MetricKeyValue::new(
                "outcome", outcome,
            )]))
    }

    fn none(&self) -> temporalio_common::telemetry::metrics::MetricAttributes {
        self.meter.new_attributes(NewAttributes::default())
    }
}

/// An activity counted as running.
pub struct Running {
    series: Option<Arc<Series>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(series) = &self.series {
            let now = series
                .running_now
                .fetch_sub(1, Ordering::SeqCst)
                .saturating_sub(1);
            series.running.record(now, &series.none());
        }
    }
}
