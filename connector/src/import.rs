//! Running an import plan as a stream of batches.
//!
//! [`ImportRun`] sends one call at a time and reads its response record by record, handing out
//! a batch as soon as it holds `max_batch` records, so neither side of the component boundary
//! ever holds a whole response. An import is complete only when every selected call ran and
//! every response was read to its end; any failure ends the run with an error that names the
//! call, and the run stays failed.

use std::collections::HashSet;
use std::io::BufRead;

use crate::client::Client;
use crate::config::{
    ACCOUNTS_IMPORT_JSON, CallKind, Config, ImportCall, ImportPlan, RuntimeBindings,
};
use crate::error::{CallSite, ConnectorError, ErrorKind};
use crate::exchange::{exchange, response_error};
use crate::model::{Account, Batch, Entitlement, EntitlementRef, ImportScope};
use crate::path::Path;
use crate::transport::Transport;
use crate::xml::{Record, RecordReader};

/// Records per batch when the host does not say.
pub const DEFAULT_MAX_BATCH: usize = 500;

/// The largest batch the component hands out, whatever the host asks: bounds the memory a
/// batch takes on both sides of the boundary.
pub const MAX_BATCH: usize = 10_000;

struct ActiveCall<B: BufRead> {
    call: usize,
    account: Option<usize>,
    reader: RecordReader<B>,
    records: u64,
}

/// An import in progress.
pub struct ImportRun<T: Transport> {
    config: Config,
    plan: ImportPlan,
    client: Client<T>,
    selected: Vec<usize>,
    position: usize,
    each_account: usize,
    max_batch: usize,
    /// Accounts delivered so far, kept only when an EACHACCOUNT call will need them.
    delivered: Vec<Account>,
    keep_delivered: bool,
    active: Option<ActiveCall<T::Body>>,
    /// Entitlements of the last record that did not fit in the last batch (one record yields
    /// one entitlement per mapped type).
    carry: Vec<Entitlement>,
    failed: Option<ConnectorError>,
    complete: bool,
}

impl<T: Transport> ImportRun<T> {
    /// Prepares an import of the calls `scope` selects; sends nothing yet.
    pub fn new(
        mut config: Config,
        client: Client<T>,
        scope: ImportScope,
        max_batch: usize,
    ) -> Result<Self, ConnectorError> {
        let Some(plan) = config.import_plan.take() else {
            return Err(ConnectorError::invalid_configuration(vec![
                crate::error::Problem::error(
                    ACCOUNTS_IMPORT_JSON,
                    None,
                    "missing: this connection has no import plan",
                ),
            ]));
        };
        let selected: Vec<usize> = plan
            .calls
            .iter()
            .enumerate()
            .filter(|(_, call)| in_scope(call.kind, scope))
            .map(|(index, _)| index)
            .collect();
        let keep_delivered = selected
            .iter()
            .any(|&index| plan.calls[index].kind == CallKind::EachAccount);
        let max_batch = match max_batch {
            0 => DEFAULT_MAX_BATCH,
            n => n.min(MAX_BATCH),
        };
        Ok(ImportRun {
            config,
            plan,
            client,
            selected,
            position: 0,
            each_account: 0,
            max_batch,
            delivered: Vec::new(),
            keep_delivered,
            active: None,
            carry: Vec::new(),
            failed: None,
            complete: false,
        })
    }

    /// The next batch; `None` once the import is complete. After a failure every call returns
    /// the same error.
    pub fn next_batch(&mut self) -> Result<Option<Batch>, ConnectorError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        match self.advance() {
            Ok(batch) => Ok(batch),
            Err(error) => {
                self.active = None;
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    fn advance(&mut self) -> Result<Option<Batch>, ConnectorError> {
        loop {
            if self.complete {
                return Ok(None);
            }
            if self.active.is_none() && !self.start_next_request()? {
                self.complete = true;
                return Ok(None);
            }
            if let Some(batch) = self.fill_batch()? {
                return Ok(Some(batch));
            }
        }
    }

    fn plan_call(&self, index: usize) -> &ImportCall {
        &self.plan.calls[index]
    }

    /// Sends the next request of the plan; `false` when there is none left.
    fn start_next_request(&mut self) -> Result<bool, ConnectorError> {
        while let Some(&call_index) = self.selected.get(self.position) {
            let account = match self.plan_call(call_index).kind {
                CallKind::EachAccount if self.each_account < self.delivered.len() => {
                    self.each_account += 1;
                    Some(self.each_account - 1)
                }
                CallKind::EachAccount => {
                    self.position += 1;
                    self.each_account = 0;
                    continue;
                }
                _ => {
                    self.position += 1;
                    None
                }
            };
            let reader = self
                .send(call_index, account)
                .map_err(|kind| self.error_at(call_index, account, kind))?;
            self.active = Some(ActiveCall {
                call: call_index,
                account,
                reader,
                records: 0,
            });
            return Ok(true);
        }
        Ok(false)
    }

    fn send(
        &mut self,
        call_index: usize,
        account: Option<usize>,
    ) -> Result<RecordReader<T::Body>, ErrorKind> {
        let call = &self.plan.calls[call_index];
        let account = account.map(|index| &self.delivered[index]);
        let connection = &self.config.connection;
        let mode = self.config.mode;
        let render = |access_token: Option<&str>| {
            let bindings = RuntimeBindings {
                account,
                access_token,
                ..RuntimeBindings::connection(connection)
            };
            call.request.render(&bindings, mode).map_err(|error| {
                ErrorKind::InvalidConfiguration(vec![crate::error::Problem::error(
                    ACCOUNTS_IMPORT_JSON,
                    Some(format!("REQUESTXML{}, {error}", call.number)),
                    "could not be rendered",
                )])
            })
        };
        exchange(
            &mut self.client,
            &self.config,
            call.connection.as_deref(),
            &render,
            &call.record_path,
            value_paths(call),
        )
    }

    /// Reads records of the active call into one batch; `None` when the call ended without
    /// another record.
    fn fill_batch(&mut self) -> Result<Option<Batch>, ConnectorError> {
        let Some(mut active) = self.active.take() else {
            return Ok(None);
        };
        let call = &self.plan.calls[active.call];
        let mut accounts = Vec::new();
        let mut entitlements = std::mem::take(&mut self.carry);
        let mut finished = false;
        while accounts.len() + entitlements.len() < self.max_batch {
            let record = match active.reader.next_record() {
                Ok(Some(record)) => record,
                Ok(None) => {
                    finished = true;
                    break;
                }
                Err(error) => {
                    let kind = response_error(error, &format!("RESPONSEDATAPATH{}", call.number));
                    return Err(self.error_at(active.call, active.account, kind));
                }
            };
            active.records += 1;
            let mapped = match call.kind {
                CallKind::Accounts => {
                    account_from(call, record, None).map(|account| accounts.push(account))
                }
                CallKind::EachAccount => {
                    let name = active
                        .account
                        .map(|index| self.delivered[index].name.clone());
                    account_from(call, record, name).map(|account| accounts.push(account))
                }
                CallKind::Entitlements => {
                    entitlements_from(call, record).map(|found| entitlements.extend(found))
                }
            };
            mapped.map_err(|message| {
                let kind = ErrorKind::UnexpectedResponse(format!(
                    "record {} of the response: {message}",
                    active.records
                ));
                self.error_at(active.call, active.account, kind)
            })?;
        }
        let kind = call.kind;
        if entitlements.len() > self.max_batch {
            self.carry = entitlements.split_off(self.max_batch);
        }
        if !finished || !self.carry.is_empty() {
            self.active = Some(active);
        }
        Ok(self.batch(kind, accounts, entitlements))
    }

    fn batch(
        &mut self,
        kind: CallKind,
        accounts: Vec<Account>,
        entitlements: Vec<Entitlement>,
    ) -> Option<Batch> {
        let batch = match kind {
            CallKind::Accounts => {
                if self.keep_delivered {
                    self.delivered.extend(accounts.iter().cloned());
                }
                Batch::Accounts(accounts)
            }
            CallKind::EachAccount => Batch::AccountDetails(accounts),
            CallKind::Entitlements => Batch::Entitlements(entitlements),
        };
        (!batch.is_empty()).then_some(batch)
    }

    fn error_at(
        &self,
        call_index: usize,
        account: Option<usize>,
        kind: ErrorKind,
    ) -> ConnectorError {
        ConnectorError::new(kind).at(CallSite {
            plan: ACCOUNTS_IMPORT_JSON.to_string(),
            call: self.plan_call(call_index).number,
            account: account.map(|index| self.delivered[index].name.clone()),
        })
    }
}

fn in_scope(kind: CallKind, scope: ImportScope) -> bool {
    match scope {
        ImportScope::All => true,
        ImportScope::Accounts => kind != CallKind::Entitlements,
        ImportScope::Access => kind == CallKind::Entitlements,
    }
}

/// The value paths a record reader needs, in the order the mappers below read them.
fn value_paths(call: &ImportCall) -> Vec<Path> {
    match call.kind {
        CallKind::Accounts | CallKind::EachAccount => call
            .columns
            .iter()
            .chain(&call.links)
            .map(|(_, path)| path.clone())
            .collect(),
        CallKind::Entitlements => call
            .entitlements
            .iter()
            .flat_map(|mapping| {
                std::iter::once(&mapping.value).chain(mapping.columns.iter().map(|(_, path)| path))
            })
            .cloned()
            .collect(),
    }
}

/// Several matches of a column path are joined with this.
const MULTI_VALUE_SEPARATOR: &str = ",";

fn joined(mut values: Vec<String>) -> Option<String> {
    match values.len() {
        0 => None,
        1 => values.pop(),
        _ => Some(values.join(MULTI_VALUE_SEPARATOR)),
    }
}

/// Links of one account above which duplicates are found by hashing rather than by scanning
/// the links so far (accounts have a handful; a hostile response may send thousands).
const LINKS_SCANNED: usize = 32;

fn account_from(
    call: &ImportCall,
    record: Record,
    name: Option<String>,
) -> Result<Account, String> {
    let mut values = record.values.into_iter();
    let mut columns = Vec::with_capacity(call.columns.len());
    for ((column, _), found) in call.columns.iter().zip(values.by_ref()) {
        if let Some(value) = joined(found) {
            columns.push((column.clone(), value));
        }
    }
    let mut entitlements: Vec<EntitlementRef> = Vec::new();
    let mut seen = HashSet::new();
    for ((entitlement_type, _), found) in call.links.iter().zip(values) {
        for value in found.into_iter().filter(|value| !value.is_empty()) {
            let new = if entitlements.len() < LINKS_SCANNED {
                !entitlements
                    .iter()
                    .any(|link| link.value == value && link.entitlement_type == *entitlement_type)
            } else {
                if seen.is_empty() {
                    seen.extend(
                        entitlements
                            .iter()
                            .map(|link| (link.entitlement_type.clone(), link.value.clone())),
                    );
                }
                seen.insert((entitlement_type.clone(), value.clone()))
            };
            if new {
                entitlements.push(EntitlementRef {
                    entitlement_type: entitlement_type.clone(),
                    value,
                });
            }
        }
    }
    let name = match name {
        Some(name) => name,
        None => columns
            .iter()
            .find(|(column, _)| column.eq_ignore_ascii_case(&call.reconciliation_column))
            .map(|(_, value)| value.clone())
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| {
                format!(
                    "no value for `{}`, the column that identifies accounts",
                    call.reconciliation_column
                )
            })?,
    };
    Ok(Account {
        name,
        columns,
        entitlements,
    })
}

fn entitlements_from(call: &ImportCall, record: Record) -> Result<Vec<Entitlement>, String> {
    let mut values = record.values.into_iter();
    let mut found = Vec::with_capacity(call.entitlements.len());
    for mapping in &call.entitlements {
        let value = values
            .next()
            .and_then(joined)
            .filter(|value| !value.trim().is_empty());
        let mut columns = Vec::with_capacity(mapping.columns.len());
        for ((column, _), column_values) in mapping.columns.iter().zip(values.by_ref()) {
            if let Some(value) = joined(column_values) {
                columns.push((column.clone(), value));
            }
        }
        let value = value.ok_or_else(|| {
            format!(
                "no `entitlement_value` for type `{}`",
                mapping.entitlement_type
            )
        })?;
        found.push(Entitlement {
            entitlement_type: mapping.entitlement_type.clone(),
            value,
            columns,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
