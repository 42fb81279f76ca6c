//! The import job: pull batches from the component and stage them in the store as they
//! arrive; apply them to the live data only once the component says the import is complete.
//!
//! Invariants: a configuration error writes nothing; any failure (remote, component, store)
//! leaves the live data exactly as it was and the run recorded as failed with its reason;
//! memory is bounded by the batch size, whatever the size of the target.

use std::time::{Duration, Instant};

use crate::connection::Connection;
use crate::model::{Account, Entitlement, EntitlementRef, ImportScope};
use crate::runtime::{ConnectorInstance, Runtime, wit};
use crate::store::{RunId, RunSummary, Store};

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
    let failure = |error: JobError| ImportFailure { error, run: None };
    let (mut instance, warnings) =
        validated_instance(runtime, request.connection).map_err(failure)?;
    store.recover_interrupted().map_err(|e| failure(e.into()))?;
    let run = store
        .begin_run(request.endpoint, request.scope)
        .map_err(|e| failure(e.into()))?;
    let outcome = pull_all(&mut instance, store, run, request, progress).and_then(|received| {
        progress(Progress {
            applying: true,
            ..received
        });
        Ok(store.complete_run(run)?)
    });
    match outcome {
        Ok(summary) => Ok(ImportReport {
            summary,
            warnings,
            elapsed: started.elapsed(),
        }),
        Err(error) => Err(record_failure(store, run, error, request.connection)),
    }
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
            stage(store, run, batch, &mut seen)?;
            progress(seen);
        }
        instance.finish_import(handle)?;
    }
    Ok(seen)
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
