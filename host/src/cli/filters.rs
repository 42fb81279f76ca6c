//! The listings' filters, checked against what the store has: an endpoint it does not have, an
//! entitlement type the endpoint does not have, an account it knows nothing of, is a usage
//! error (exit code 2) naming what it does have, never an empty listing that reads like an
//! answer. Endpoint names are matched exactly (they are the operator's own, and two may differ
//! in case only); entitlement types, Duck Creek's, in any case when that names one type.

use super::output::printable;
use super::{Failure, args, store_failure};
use crate::jobs::exit_code as exit;
use crate::store::Store;

/// The endpoint a command reads: the one named, which the store must have, or the only one in
/// the store.
pub(super) fn endpoint(store: &Store, named: Option<&str>) -> Result<String, Failure> {
    let named = named.map(checked_name).transpose()?;
    let endpoints = store.endpoints().map_err(store_failure)?;
    match (named, endpoints.as_slice()) {
        (Some(name), known) if known.contains(&name) => Ok(name),
        (_, []) => Err(usage(
            "the store holds no endpoint yet: run `dcconn import` first".into(),
        )),
        (Some(name), known) => Err(usage(unknown_endpoint(&name, known))),
        (None, [only]) => Ok(only.clone()),
        (None, many) => Err(usage(format!(
            "the store holds several endpoints ({}): choose one with --endpoint",
            listed(many)
        ))),
    }
}

/// `--endpoint`'s value, if it is a name every output can show (a usage error otherwise).
pub(super) fn checked_name(name: &str) -> Result<String, Failure> {
    args::endpoint_name(name).map_err(usage)
}

/// Why `name` names no endpoint of the store, and what it has.
fn unknown_endpoint(name: &str, known: &[String]) -> String {
    let mut message = format!("the store has no endpoint {}", printable(name));
    if let Some(close) = known
        .iter()
        .find(|k| k.to_lowercase() == name.to_lowercase())
    {
        message.push_str(&format!(
            "; did you mean {}? (endpoint names are matched exactly)",
            printable(close)
        ));
    }
    message.push_str(&format!(
        "; its endpoints: {}; choose one with --endpoint",
        listed(known)
    ));
    message
}

/// The entitlement type `--type` names, as the endpoint has it: written exactly, or in another
/// case when that matches one type only. `None` when no type was given.
pub(super) fn entitlement_type(
    store: &Store,
    endpoint: &str,
    named: Option<&str>,
) -> Result<Option<String>, Failure> {
    let Some(named) = named else {
        return Ok(None);
    };
    let types = store.entitlement_types(endpoint).map_err(store_failure)?;
    if types.iter().any(|known| known == named) {
        return Ok(Some(named.to_owned()));
    }
    let shown = printable(named);
    let endpoint = printable(endpoint);
    let same_letters: Vec<&String> = types
        .iter()
        .filter(|known| known.to_lowercase() == named.to_lowercase())
        .collect();
    match (same_letters.as_slice(), types.as_slice()) {
        ([only], _) => Ok(Some((*only).clone())),
        (_, []) => Err(usage(format!(
            "endpoint {endpoint} has no entitlements yet, so no type {shown}: import its access first (dcconn import --scope all, or --scope access)"
        ))),
        ([], known) => Err(usage(format!(
            "endpoint {endpoint} has no entitlement type {shown}; its types: {} (any case)",
            listed(known)
        ))),
        (several, _) => Err(usage(format!(
            "--type {shown} matches several entitlement types of endpoint {endpoint} ({}): write it exactly",
            listed(several)
        ))),
    }
}

/// Checks `--account` of a task listing: an account the endpoint has (with tasks or without,
/// whose listing may rightly be empty), or one it no longer has but whose tasks remain.
/// Anything else is a usage error: most likely a mistyped name.
pub(super) fn task_account(
    store: &Store,
    endpoint: &str,
    account: &str,
    has_tasks: bool,
) -> Result<(), Failure> {
    if has_tasks
        || store
            .account(endpoint, account)
            .map_err(store_failure)?
            .is_some()
    {
        return Ok(());
    }
    let endpoint = printable(endpoint);
    Err(usage(format!(
        "endpoint {endpoint} has no account {} and no task for one: check the name (see `dcconn accounts --endpoint {endpoint}`)",
        printable(&format!("{account:?}"))
    )))
}

/// Names for a message, escaped and comma-separated.
fn listed<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|name| printable(name.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn usage(message: String) -> Failure {
    Failure {
        message,
        code: exit::USAGE,
    }
}
