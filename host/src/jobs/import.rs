//! The import job: pull batches from the component and stage them in the store as they
//! arrive; apply them to the live data only once the component says the import is complete.
//!
//! Invariants: a configuration error writes nothing; any failure (remote, component, store)
//! leaves the live data exactly as it was and the run recorded as failed with its reason;
//! reconciliation (removals, restores, thresholds) happens only when every call completed;
//! a dry run writes nothing; memory is bounded by the batch size, whatever the size of the
//! target.

use std::time::{Duration, Instant};

use crate::connection::Connection;
use crate::model::{
    Account, CorrelationRule, Entitlement, EntitlementRef, ImportScope, Reconciliation,
};
use crate::runtime::{ConnectorInstance, Runtime, RuntimeError, wit};
use crate::store::{Change, RunId, RunSummary, Store};

use super::{JobError, attributes, validated_instance};

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
}

/// Progress as batches arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Accounts received so far.
    pub accounts: u64,
    /// Entitlements received so far.
    pub entitlements: u64,
    /// Everything was received; the run is being applied to the store.
    pub applying: bool,
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
    let before_run = |error: JobError| ImportFailure { error, run: None };
    let (mut instance, warnings) =
        validated_instance(runtime, request.connection).map_err(before_run)?;
    let policy = reconciliation_policy(&mut instance, request.connection).map_err(before_run)?;
    check_order(store, request).map_err(before_run)?;
    if request.dry_run {
        store.begin_dry_run().map_err(|e| before_run(e.into()))?;
    }
    let outcome = execute(&mut instance, store, request, &policy, progress);
    if request.dry_run {
        // Rolls back everything the run wrote, staging and run record included.
        store.end_dry_run().map_err(|e| before_run(e.into()))?;
    }
    let (summary, changes) = outcome?;
    Ok(ImportReport {
        summary,
        warnings,
        elapsed: started.elapsed(),
        dry_run: request.dry_run,
        changes,
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

/// Pulls every batch into a new run and completes it; for a dry run, also reads back the
/// changes before the caller rolls them back.
fn execute(
    instance: &mut ConnectorInstance,
    store: &mut Store,
    request: &ImportRequest<'_>,
    policy: &Reconciliation,
    progress: &mut dyn FnMut(Progress),
) -> Result<(RunSummary, Vec<Change>), ImportFailure> {
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
    let run = store
        .begin_run(request.endpoint, request.scope)
        .map_err(|e| before_run(e.into()))?;
    let outcome = pull_all(instance, store, run, request, progress).and_then(|received| {
        progress(Progress {
            applying: true,
            ..received
        });
        let summary = store.complete_run(run, policy)?;
        let changes = if request.dry_run {
            store.run_changes(run.0)?
        } else {
            Vec::new()
        };
        Ok((summary, changes))
    });
    outcome.map_err(|error| match request.dry_run {
        true => before_run(error),
        false => record_failure(store, run, error, request.connection),
    })
}

/// The connection's reconciliation policy, from the component.
fn reconciliation_policy(
    instance: &mut ConnectorInstance,
    connection: &Connection,
) -> Result<Reconciliation, JobError> {
    let policy = instance
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

fn pull_all(
    instance: &mut ConnectorInstance,
    store: &mut Store,
    run: RunId,
    request: &ImportRequest<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Progress, JobError> {
    let connection = attributes(request.connection);
    let mut seen = Progress {
        accounts: 0,
        entitlements: 0,
        applying: false,
    };
    for scope in phases(request.scope) {
        let options = wit::ImportOptions {
            scope: *scope,
            max_batch: request.max_batch,
        };
        let handle = instance
            .start_import(&connection, options)?
            .map_err(|error| connector_error(instance, error))?;
        loop {
            let batch = match instance.next_batch(&handle)? {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                Err(error) => return Err(connector_error(instance, error)),
            };
            check_batch_size(&batch, request.max_batch)?;
            stage(store, run, batch, &mut seen)?;
            progress(seen);
        }
        instance.finish_import(handle)?;
    }
    Ok(seen)
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

fn connector_error(instance: &ConnectorInstance, error: wit::ConnectorError) -> JobError {
    JobError::Connector {
        error: Box::new(error),
        denials: instance.denials(),
    }
}

fn stage(
    store: &mut Store,
    run: RunId,
    batch: wit::Batch,
    seen: &mut Progress,
) -> Result<(), JobError> {
    match batch {
        wit::Batch::Accounts(records) => {
            seen.accounts += records.len() as u64;
            store.stage_accounts(run, &records.into_iter().map(account).collect::<Vec<_>>())?;
        }
        wit::Batch::AccountDetails(records) => {
            store.stage_account_details(
                run,
                &records.into_iter().map(account).collect::<Vec<_>>(),
            )?;
        }
        wit::Batch::Entitlements(records) => {
            seen.entitlements += records.len() as u64;
            store.stage_entitlements(
                run,
                &records.into_iter().map(entitlement).collect::<Vec<_>>(),
            )?;
        }
    }
    Ok(())
}

fn columns(columns: Vec<wit::Column>) -> Vec<(String, String)> {
    columns
        .into_iter()
        .map(|column| (column.name, column.value))
        .collect()
}

fn account(account: wit::Account) -> Account {
    Account {
        name: account.name,
        columns: columns(account.columns),
        entitlements: account
            .entitlements
            .into_iter()
            .map(|link| EntitlementRef {
                entitlement_type: link.entitlement_type,
                value: link.value,
            })
            .collect(),
    }
}

fn entitlement(entitlement: wit::Entitlement) -> Entitlement {
    Entitlement {
        entitlement_type: entitlement.entitlement_type,
        value: entitlement.value,
        columns: columns(entitlement.columns),
    }
}
