//! `dcconn import --accept-removals RUN`: an operator accepts, for one import, the removals a
//! threshold withheld in RUN.
//!
//! The accepting import is a fresh, complete one: it finds the missing accounts and
//! entitlements itself, so it applies only removals that still hold (what came back since is
//! not removed), never the earlier run's list; and it applies them despite the threshold only
//! while they are, kind by kind, no more than RUN withheld (more would be removals nobody
//! looked at). RUN must be the endpoint's latest completed import: the accepting import becomes
//! the latest, so an acceptance is used once.

use super::JobError;
use crate::model::{AcceptedRemovals, ImportScope};
use crate::store::{RunOutcome, RunRecord, Store};

/// The removals `run` withheld, when an import of `endpoint` with `scope` may accept them.
pub fn accepted(
    store: &Store,
    endpoint: &str,
    scope: ImportScope,
    run: i64,
) -> Result<AcceptedRemovals, JobError> {
    let refuse = |why: String| JobError::NotAcceptable { run, why };
    let Some(record) = store.run(run)? else {
        return Err(refuse(
            "the store has no such run: see `dcconn runs`".into(),
        ));
    };
    if record.endpoint != endpoint {
        return Err(refuse(format!(
            "it is a run of endpoint {}, and this import is of endpoint {endpoint}",
            record.endpoint
        )));
    }
    if record.outcome != RunOutcome::Withheld {
        return Err(refuse(format!(
            "it withheld nothing (its outcome is {}): see `dcconn runs`",
            record.outcome
        )));
    }
    if let Some(later) = later_completed(store, &record)? {
        return Err(refuse(format!(
            "run {later} completed after it and found the target anew; accept that run's removals if it withheld any (see `dcconn runs`)"
        )));
    }
    let removals = removals(&record);
    check_scope(&removals, scope).map_err(refuse)?;
    Ok(removals)
}

/// The first import of the run's endpoint that completed after it, if any.
fn later_completed(store: &Store, record: &RunRecord) -> Result<Option<i64>, JobError> {
    let completed = [RunOutcome::Succeeded, RunOutcome::Withheld];
    Ok(store
        .runs(&record.endpoint)?
        .iter()
        .filter(|later| later.id > record.id && completed.contains(&later.outcome))
        .map(|later| later.id)
        .min())
}

/// What the run withheld, by kind.
fn removals(record: &RunRecord) -> AcceptedRemovals {
    let mut removals = AcceptedRemovals::default();
    for withheld in &record.withheld {
        match withheld.setting.as_str() {
            "accountThresholdValue" | "allowEmptyAccountList" => {
                removals.accounts = Some(withheld.count)
            }
            _ => removals
                .entitlements
                .push((withheld.what.clone(), withheld.count)),
        }
    }
    removals
}

/// Refuses an import whose scope does not make some of the removals accepted: accepting only
/// part of what a run withheld would leave the rest to look like it was dealt with.
fn check_scope(removals: &AcceptedRemovals, scope: ImportScope) -> Result<(), String> {
    let (left_out, scope) = match scope {
        ImportScope::All => return Ok(()),
        ImportScope::Accounts if !removals.entitlements.is_empty() => ("entitlement", "accounts"),
        ImportScope::Access if removals.accounts.is_some() => ("account", "access"),
        _ => return Ok(()),
    };
    Err(format!(
        "it withheld {left_out} removals, which an import of --scope {scope} does not make: import with --scope all"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_must_make_every_kind_of_removal_it_accepts() {
        let accounts = AcceptedRemovals {
            accounts: Some(12),
            entitlements: Vec::new(),
        };
        let roles = AcceptedRemovals {
            accounts: None,
            entitlements: vec![("Role".into(), 3)],
        };
        let both = AcceptedRemovals {
            accounts: Some(12),
            entitlements: vec![("Role".into(), 3)],
        };
        assert_eq!(check_scope(&accounts, ImportScope::Accounts), Ok(()));
        assert_eq!(check_scope(&roles, ImportScope::Access), Ok(()));
        assert_eq!(check_scope(&both, ImportScope::All), Ok(()));
        assert_eq!(
            check_scope(&both, ImportScope::Accounts),
            Err("it withheld entitlement removals, which an import of --scope accounts does not make: import with --scope all".into())
        );
        assert_eq!(
            check_scope(&accounts, ImportScope::Access),
            Err("it withheld account removals, which an import of --scope access does not make: import with --scope all".into())
        );
    }
}
