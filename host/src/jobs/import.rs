//! The import job: pull batches from the component and stage them in the store as they
//! arrive; apply them to the live data only once the component says the import is complete.
//!
//! Invariants: a configuration error writes nothing; any failure (remote, component, store)
//! leaves the live data exactly as it was and the run recorded as failed with its reason;
//! reconciliation (removals, restores, thresholds) happens only when every call completed;
//! a dry run writes nothing; memory is bounded by the batch size, whatever the size of the
//! target.
//!
//! Receiving and writing overlap: the job's thread pulls batches from the connector while a
//! store thread stages the ones before, [`PIPELINE_DEPTH`] batches at most in between.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use crate::connection::Connection;
use crate::model::{
    AcceptedRemovals, Account, CorrelationRule, Entitlement, EntitlementRef, ImportScope,
    Reconciliation,
};
use crate::runtime::{CallTimings, Connector, Runtime, RuntimeError, wit};
use crate::secrets::StoredValues;
use crate::store::{BusyRun, Change, LeaseKeeper, RunId, RunSummary, Store, StoreError};

use super::{JobError, attributes, checked, instance};

/// Batches received but not yet staged, at most: enough to keep both threads busy, few enough
/// to keep memory bounded by the batch size.
const PIPELINE_DEPTH: usize = 2;

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest<'a> {
    /// The connection.
    pub connection: &'a Connection,
    /// The endpoint the data belongs to in the store.
    pub endpoint: &'a str,
    /// Accounts, access, or both (accounts first).
    pub scope: ImportScope,
    /// Records per batch (0: the component's default).
    pub max_batch: u32,
    /// Run everything, report the changes, and roll the store back.
    pub dry_run: bool,
    /// How accounts are matched to identities.
    pub correlation: &'a CorrelationRule,
    /// When another import of the endpoint is running: `None` refuses at once
    /// ([`StoreError::EndpointBusy`]); `Some(limit)` waits for it, at most `limit`.
    pub wait: Option<Duration>,
    /// The run whose withheld removals this import may apply despite the thresholds, as it
    /// finds them itself (see `jobs/accept.rs`).
    pub accept_removals: Option<i64>,
}

impl<'a> ImportRequest<'a> {
    /// Accounts then access, into the endpoint named after the connection, with the component's
    /// batch size, refusing at once if another import of the endpoint runs: what `dcconn
    /// import` does without options.
    pub fn everything(connection: &'a Connection, correlation: &'a CorrelationRule) -> Self {
        ImportRequest {
            connection,
            endpoint: &connection.name,
            scope: ImportScope::All,
            max_batch: 0,
            dry_run: false,
            correlation,
            wait: None,
            accept_removals: None,
        }
    }
}

/// How often a waiting import looks again whether the endpoint is free.
const WAIT_POLL: Duration = Duration::from_millis(250);

/// Progress as batches arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Accounts received so far.
    pub accounts: u64,
    /// Entitlements received so far.
    pub entitlements: u64,
    /// Everything was received; the run is being applied to the store.
    pub applying: bool,
    /// Waiting for this run, another import of the endpoint, to end before beginning.
    pub waiting_for: Option<WaitingFor>,
}

/// The run a waiting import waits for, as it last looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingFor {
    /// The running run.
    pub run: i64,
    /// Accounts it has received so far.
    pub accounts: u64,
    /// Entitlements it has received so far.
    pub entitlements: u64,
}

/// A completed import.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// What the run applied.
    pub summary: RunSummary,
    /// Configuration warnings.
    pub warnings: Vec<wit::Problem>,
    /// How long it took.
    pub elapsed: Duration,
    /// Whether this was a dry run (nothing was written).
    pub dry_run: bool,
    /// For a dry run, every change the run would have made.
    pub changes: Vec<Change>,
    /// Where the time went.
    pub timings: ImportTimings,
}

/// Where an import's time went. Receiving and staging overlap, so the parts add up to more
/// than the total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportTimings {
    /// The calls into the connector that produced the batches, split by where their time went
    /// (the connector's code, its HTTP and I/O calls, the boundary).
    pub connector: CallTimings,
    /// Writing the batches into the staging tables (the store thread).
    pub staging: Duration,
    /// Applying the completed run to the live data, reconciliation included.
    pub applying: Duration,
}

impl ImportTimings {
    /// The timings in milliseconds (microsecond precision), as `dcconn import --json` prints
    /// them under `timingsMs`.
    pub fn milliseconds(&self) -> serde_json::Value {
        // To the microsecond: finer digits are noise of the float conversion.
        let ms = |duration: Duration| (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        let connector = &self.connector;
        serde_json::json!({
            "connectorCalls": ms(connector.total),
            "inConnector": ms(connector.in_component),
            "connectorHttpAndIo": ms(connector.in_host_calls),
            "boundaryCrossing": ms(connector.crossing()),
            "staging": ms(self.staging),
            "applying": ms(self.applying),
        })
    }
}

/// A failed import: the error and the run it was recorded as (none when it failed before a
/// run began, e.g. on configuration errors).
#[derive(Debug)]
pub struct ImportFailure {
    /// What went wrong.
    pub error: JobError,
    /// The run recorded as failed.
    pub run: Option<i64>,
}

/// Runs an import.
pub fn run(
    runtime: &Runtime,
    store: &mut Store,
    request: &ImportRequest<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport, ImportFailure> {
    let started = Instant::now();
    let mut instance = instance(runtime, request.connection)
        .map_err(|error| ImportFailure { error, run: None })?;
    run_with(&mut instance, store, request, progress).map(|report| ImportReport {
        elapsed: started.elapsed(),
        ..report
    })
}

/// Runs an import through `connector` (the component's instance, or the benchmarks' native
/// reference).
pub fn run_with<C: Connector>(
    connector: &mut C,
    store: &mut Store,
    request: &ImportRequest<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport, ImportFailure> {
    let started = Instant::now();
    let before_run = |error: JobError| ImportFailure { error, run: None };
    let warnings = checked(connector, request.connection).map_err(before_run)?;
    let mut policy = reconciliation_policy(connector, request.connection).map_err(before_run)?;
    check_order(store, request).map_err(before_run)?;
    policy.accepted_removals = accepted_removals(store, request).map_err(before_run)?;
    if request.dry_run {
        store.begin_dry_run().map_err(|e| before_run(e.into()))?;
    }
    tracing::info!(
        endpoint = request.endpoint,
        scope = request.scope.as_str(),
        "dryRun" = request.dry_run,
        "import started"
    );
    let outcome = execute(connector, store, request, &policy, progress);
    if request.dry_run {
        // Rolls back everything the run wrote, staging and run record included.
        store.end_dry_run().map_err(|e| before_run(e.into()))?;
    }
    let (summary, changes, mut timings) = outcome.inspect_err(|failure| {
        tracing::info!(
            endpoint = request.endpoint,
            run = failure.run.filter(|_| !request.dry_run),
            "import failed"
        );
    })?;
    timings.connector = connector.timings();
    tracing::info!(
        endpoint = request.endpoint,
        run = (!request.dry_run).then_some(summary.run),
        accounts = summary.accounts,
        links = summary.links,
        entitlements = summary.entitlements,
        "newAccounts" = summary.new_accounts,
        suspended = summary.suspended,
        withheld = summary.withheld.len(),
        "elapsedMs" = started.elapsed().as_millis() as u64,
        "stagingMs" = timings.staging.as_millis() as u64,
        "applyingMs" = timings.applying.as_millis() as u64,
        "import completed"
    );
    Ok(ImportReport {
        summary,
        warnings,
        elapsed: started.elapsed(),
        dry_run: request.dry_run,
        changes,
        timings,
    })
}

/// The guide's rule: an access import needs a prior successful account import, whose links
/// the entitlements complete.
fn check_order(store: &Store, request: &ImportRequest<'_>) -> Result<(), JobError> {
    if request.scope == ImportScope::Access && !store.has_account_import(request.endpoint)? {
        return Err(JobError::AccessBeforeAccounts {
            endpoint: request.endpoint.to_string(),
        });
    }
    Ok(())
}

/// The removals the request accepts (`--accept-removals RUN`), checked against the store.
fn accepted_removals(
    store: &Store,
    request: &ImportRequest<'_>,
) -> Result<AcceptedRemovals, JobError> {
    match request.accept_removals {
        Some(run) => super::accept::accepted(store, request.endpoint, request.scope, run),
        None => Ok(AcceptedRemovals::default()),
    }
}

/// Pulls every batch into a new run and completes it; for a dry run, also reads back the
/// changes before the caller rolls them back.
fn execute<C: Connector>(
    connector: &mut C,
    store: &mut Store,
    request: &ImportRequest<'_>,
    policy: &Reconciliation,
    progress: &mut dyn FnMut(Progress),
) -> Result<(RunSummary, Vec<Change>, ImportTimings), ImportFailure> {
    let before_run = |error: JobError| ImportFailure { error, run: None };
    store
        .recover_interrupted()
        .map_err(|e| before_run(e.into()))?;
    store
        .set_correlation(
            request.endpoint,
            request.correlation,
            policy.correlate_inactive_accounts,
        )
        .map_err(|e| before_run(e.into()))?;
    let run = begin_run(store, request, policy, progress).map_err(before_run)?;
    // Checked again under the endpoint's lease: no import completed since the first check.
    let accepted = accepted_removals(store, request).map(|_| ());
    let received = accepted.and_then(|()| pull_all(connector, store, run, request, progress));
    let outcome = received.and_then(|received| {
        progress(Progress {
            applying: true,
            ..received.progress
        });
        let applying = Instant::now();
        let summary = store.complete_run(run, policy)?;
        let timings = ImportTimings {
            connector: CallTimings::default(),
            staging: received.staging,
            applying: applying.elapsed(),
        };
        let changes = if request.dry_run {
            store.run_changes(run.0)?
        } else {
            Vec::new()
        };
        Ok((summary, changes, timings))
    });
    outcome.map_err(|error| match request.dry_run {
        true => before_run(error),
        false => record_failure(store, run, error, request.connection),
    })
}

/// Begins the run, waiting as the request says while another import of the endpoint runs.
fn begin_run(
    store: &mut Store,
    request: &ImportRequest<'_>,
    policy: &Reconciliation,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunId, JobError> {
    let started = Instant::now();
    let mut waited = false;
    loop {
        let busy = match store.begin_import(request.endpoint, request.scope, policy) {
            Err(StoreError::EndpointBusy(busy)) => busy,
            begun => return Ok(begun?),
        };
        let Some(limit) = request.wait else {
            return Err(StoreError::EndpointBusy(busy).into());
        };
        if !std::mem::replace(&mut waited, true) {
            tracing::info!(
                endpoint = request.endpoint,
                run = busy.run,
                "another import of the endpoint is running; waiting for it"
            );
        }
        if started.elapsed() >= limit {
            return Err(JobError::WaitedTooLong {
                waited: started.elapsed(),
                busy,
            });
        }
        progress(waiting(&busy));
        std::thread::sleep(WAIT_POLL.min(limit.saturating_sub(started.elapsed())));
    }
}

/// The progress of an import waiting for `busy`.
fn waiting(busy: &BusyRun) -> Progress {
    Progress {
        accounts: 0,
        entitlements: 0,
        applying: false,
        waiting_for: Some(WaitingFor {
            run: busy.run,
            accounts: busy.accounts,
            entitlements: busy.entitlements,
        }),
    }
}

/// Renews the run's lease every [`LeaseKeeper::interval`] until `stop` says (or its sender is
/// gone), so that an import waiting long on the network keeps its endpoint. A lease found lost
/// ends it: the store thread's next write reports it.
fn keep_lease(mut keeper: LeaseKeeper, stop: &Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(keeper.interval()) {
        match keeper.renew() {
            Ok(()) => {}
            Err(error @ (StoreError::RunInterrupted { .. } | StoreError::RunEnded { .. })) => {
                tracing::warn!(%error, "the import's lease is lost");
                return;
            }
            // A busy store: the next renewal may pass, and the lease outlasts two misses.
            Err(error) => tracing::warn!(%error, "renewing the import's lease failed"),
        }
    }
}

/// The connection's reconciliation policy, from the component.
fn reconciliation_policy(
    connector: &mut impl Connector,
    connection: &Connection,
) -> Result<Reconciliation, JobError> {
    let policy = connector
        .reconciliation(&attributes(connection))?
        .map_err(|error| JobError::Connector {
            error: Box::new(error),
            denials: Vec::new(),
        })?;
    Ok(Reconciliation {
        status_column: policy.status_column,
        active_statuses: policy.active_statuses,
        inactive_statuses: policy.inactive_statuses,
        account_threshold: policy.account_threshold,
        inactivate_accounts_not_in_file: policy.inactivate_accounts_not_in_file,
        inactivate_entitlements_not_in_feed: policy.inactivate_entitlements_not_in_feed,
        entitlement_thresholds: policy
            .entitlement_thresholds
            .into_iter()
            .map(|threshold| (threshold.entitlement_type, threshold.threshold))
            .collect(),
        delete_links: policy.delete_links,
        locked_status_column: policy.locked_status_column,
        locked_values: policy.locked_values,
        unlocked_values: policy.unlocked_values,
        correlate_inactive_accounts: policy.correlate_inactive_accounts,
        allow_empty_account_list: policy.allow_empty_account_list,
        accepted_removals: Default::default(),
    })
}

fn record_failure(
    store: &mut Store,
    run: RunId,
    error: JobError,
    connection: &Connection,
) -> ImportFailure {
    // If even recording the failure fails, the run stays `running` and the next import's
    // recovery marks it interrupted: nothing is lost either way.
    let _ = store.fail_run(run, &error.redacted(Some(connection)));
    ImportFailure {
        error,
        run: Some(run.0),
    }
}

fn phases(scope: ImportScope) -> &'static [wit::ImportScope] {
    match scope {
        ImportScope::Accounts => &[wit::ImportScope::Accounts],
        ImportScope::Access => &[wit::ImportScope::Access],
        ImportScope::All => &[wit::ImportScope::Accounts, wit::ImportScope::Access],
    }
}

/// What the batches brought, and the time the store thread spent staging them.
struct Received {
    progress: Progress,
    staging: Duration,
}

/// Pulls every batch of every phase from the connector on this thread while a store thread
/// stages them. The first failure of either side ends both.
fn pull_all<C: Connector>(
    connector: &mut C,
    store: &mut Store,
    run: RunId,
    request: &ImportRequest<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Received, JobError> {
    let (batches, to_stage) = sync_channel(PIPELINE_DEPTH);
    // A dry run holds the store's write lock throughout and its run is invisible to others.
    let keeper = match request.dry_run {
        true => None,
        false => Some(store.lease_keeper(run)?),
    };
    let (stop_keeper, keeper_stop) = sync_channel::<()>(1);
    std::thread::scope(|scope| {
        if let Some(keeper) = keeper {
            std::thread::Builder::new()
                .name("dcconn-lease".into())
                .spawn_scoped(scope, move || keep_lease(keeper, &keeper_stop))
                .map_err(|source| JobError::Thread {
                    what: "keeps the import's lease",
                    source,
                })?;
        }
        let _stop_keeper_on_return = stop_keeper;
        let writer = std::thread::Builder::new()
            .name("dcconn-store".into())
            .spawn_scoped(scope, move || stage_all(store, run, &to_stage))
            .map_err(|source| JobError::Thread {
                what: "writes the import into the store",
                source,
            })?;
        let pulled = pull_batches(connector, request, &batches, progress);
        drop(batches);
        let staged = writer.join().unwrap_or_else(|_| {
            Err(JobError::Thread {
                what: "writes the import into the store",
                source: std::io::Error::other("it panicked"),
            })
        });
        match (pulled, staged) {
            (Ok(progress), Ok(staging)) => Ok(Received { progress, staging }),
            // The store's failure is the cause when the puller only saw the store thread gone.
            (Err(PullError::StoreGone), Err(error)) | (Ok(_), Err(error)) => Err(error),
            (Err(PullError::StoreGone), Ok(_)) => Err(JobError::Thread {
                what: "writes the import into the store",
                source: std::io::Error::other("it stopped early"),
            }),
            (Err(PullError::Job(error)), _) => Err(error),
        }
    })
}

/// Why pulling stopped.
enum PullError {
    /// The connector or the runtime failed.
    Job(JobError),
    /// The store thread stopped taking batches (it failed; its error says why).
    StoreGone,
}

impl From<JobError> for PullError {
    fn from(error: JobError) -> Self {
        PullError::Job(error)
    }
}

impl From<RuntimeError> for PullError {
    fn from(error: RuntimeError) -> Self {
        PullError::Job(error.into())
    }
}

/// The job thread's side: every batch of every phase, sent to the store thread.
fn pull_batches<C: Connector>(
    connector: &mut C,
    request: &ImportRequest<'_>,
    batches: &SyncSender<wit::Batch>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Progress, PullError> {
    let connection = attributes(request.connection);
    let mut seen = Progress {
        accounts: 0,
        entitlements: 0,
        applying: false,
        waiting_for: None,
    };
    for scope in phases(request.scope) {
        let options = wit::ImportOptions {
            scope: *scope,
            max_batch: request.max_batch,
        };
        let handle = connector
            .start_import(&connection, options)?
            .map_err(|error| connector_error(connector, error))?;
        loop {
            let batch = match connector.next_batch(&handle)? {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(error) => return Err(connector_error(connector, error).into()),
            };
            check_batch_size(&batch, request.max_batch)?;
            count(&batch, &mut seen);
            batches.send(batch).map_err(|_| PullError::StoreGone)?;
            progress(seen);
        }
        connector.finish_import(handle)?;
    }
    Ok(seen)
}

/// The store thread's side: stages each batch as it comes; returns the time spent staging.
fn stage_all(
    store: &mut Store,
    run: RunId,
    batches: &Receiver<wit::Batch>,
) -> Result<Duration, JobError> {
    let mut staging = Duration::ZERO;
    for batch in batches {
        let started = Instant::now();
        let (kind, records) = match &batch {
            wit::Batch::Accounts(records) => ("accounts", records.len()),
            wit::Batch::AccountDetails(records) => ("account-details", records.len()),
            wit::Batch::Entitlements(records) => ("entitlements", records.len()),
        };
        stage(store, run, batch)?;
        staging += started.elapsed();
        tracing::debug!(run = run.0, kind, records, "batch staged");
    }
    Ok(staging)
}

/// The records per batch a component sends when the host asks for 0 (the WIT's default).
const DEFAULT_MAX_BATCH: usize = 500;

/// The most records per batch the WIT allows, whatever the host asks.
const MAX_BATCH: usize = 10_000;

/// A batch larger than the host asked for breaks the WIT contract (it is how a component could
/// exhaust the host's memory): refused.
fn check_batch_size(batch: &wit::Batch, asked: u32) -> Result<(), JobError> {
    let allowed = match asked {
        0 => DEFAULT_MAX_BATCH,
        n => (n as usize).min(MAX_BATCH),
    };
    let size = match batch {
        wit::Batch::Accounts(records) | wit::Batch::AccountDetails(records) => records.len(),
        wit::Batch::Entitlements(records) => records.len(),
    };
    if size > allowed {
        return Err(JobError::Runtime(RuntimeError::Contract(format!(
            "it returned a batch of {size} records, more than the {allowed} asked"
        ))));
    }
    Ok(())
}

fn connector_error(connector: &impl Connector, error: wit::ConnectorError) -> JobError {
    JobError::Connector {
        error: Box::new(error),
        denials: connector.denials(),
    }
}

/// Adds a batch's records to the counts.
fn count(batch: &wit::Batch, seen: &mut Progress) {
    match batch {
        wit::Batch::Accounts(records) => seen.accounts += records.len() as u64,
        wit::Batch::AccountDetails(_) => {}
        wit::Batch::Entitlements(records) => seen.entitlements += records.len() as u64,
    }
}

/// Stages a batch, every name, value and column value through the secrets mask: a server may
/// echo a secret into a record's data as well as into an error.
fn stage(store: &mut Store, run: RunId, batch: wit::Batch) -> Result<(), JobError> {
    let values = StoredValues::now();
    let account = |record| account(record, &values);
    match batch {
        wit::Batch::Accounts(records) => {
            store.stage_accounts(run, &records.into_iter().map(account).collect::<Vec<_>>())?;
        }
        wit::Batch::AccountDetails(records) => {
            store.stage_account_details(
                run,
                &records.into_iter().map(account).collect::<Vec<_>>(),
            )?;
        }
        wit::Batch::Entitlements(records) => {
            store.stage_entitlements(
                run,
                &records
                    .into_iter()
                    .map(|record| entitlement(record, &values))
                    .collect::<Vec<_>>(),
            )?;
        }
    }
    Ok(())
}

fn columns(columns: Vec<wit::Column>, values: &StoredValues) -> Vec<(String, String)> {
    columns
        .into_iter()
        .map(|column| (column.name, values.mask(column.value)))
        .collect()
}

fn account(account: wit::Account, values: &StoredValues) -> Account {
    Account {
        name: values.mask(account.name),
        columns: columns(account.columns, values),
        entitlements: account
            .entitlements
            .into_iter()
            .map(|link| EntitlementRef {
                entitlement_type: link.entitlement_type,
                value: values.mask(link.value),
            })
            .collect(),
    }
}

fn entitlement(entitlement: wit::Entitlement, values: &StoredValues) -> Entitlement {
    Entitlement {
        entitlement_type: entitlement.entitlement_type,
        value: values.mask(entitlement.value),
        columns: columns(entitlement.columns, values),
    }
}
