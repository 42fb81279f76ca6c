//! Reading the audit trail: a new account's links are recorded with its arrival (the `new`
//! change's `new` holds them, a JSON array of `[type, value]` pairs), and read back as the
//! `link-added` changes they are, each with the `seq` of its account's arrival.

use rusqlite::{Connection, params};

use super::{Change, StoreError, count};

/// The links a new account's arrival records, from its change's `new`.
fn arrival_links(change: &Change) -> Result<Vec<(String, String)>, StoreError> {
    let Some(links) = change.new.as_deref() else {
        return Ok(Vec::new());
    };
    serde_json::from_str(links).map_err(|e| StoreError::Corrupt {
        what: format!(
            "the links of new account {} (run {})",
            change.account.as_deref().unwrap_or_default(),
            change.run_id
        ),
        problem: e.to_string(),
    })
}

/// Whether `change` is a new account's arrival.
fn is_arrival(change: &Change) -> bool {
    change.object == "account" && change.change == "new"
}

/// `changes` with each new account's links read back as `link-added` changes right after it.
pub(super) fn expand(changes: Vec<Change>) -> Result<Vec<Change>, StoreError> {
    let mut expanded = Vec::with_capacity(changes.len());
    for mut change in changes {
        if !is_arrival(&change) {
            expanded.push(change);
            continue;
        }
        let links = arrival_links(&change)?;
        change.new = None;
        let account = change.account.clone();
        let (run_id, seq) = (change.run_id, change.seq);
        expanded.push(change);
        expanded.extend(links.into_iter().map(|(entitlement_type, value)| Change {
            run_id,
            seq,
            object: "link".to_owned(),
            account: account.clone(),
            entitlement_type: Some(entitlement_type),
            value: Some(value),
            change: "link-added".to_owned(),
            column_name: None,
            old: None,
            new: None,
        }));
    }
    Ok(expanded)
}

/// [`expand`] for changes paired with something (their run's start).
pub(super) fn expand_paired<T: Clone>(
    changes: Vec<(T, Change)>,
) -> Result<Vec<(T, Change)>, StoreError> {
    let mut expanded = Vec::with_capacity(changes.len());
    for (tag, change) in changes {
        expanded.extend(expand(vec![change])?.into_iter().map(|c| (tag.clone(), c)));
    }
    Ok(expanded)
}

/// How many changes of each (object, change) a run made, e.g. (`account`, `new`, 40), the links
/// new accounts arrived with counted as `link-added`.
pub(super) fn change_counts(
    conn: &Connection,
    run: i64,
) -> rusqlite::Result<Vec<(String, String, u64)>> {
    let mut counts: Vec<(String, String, u64)> = conn
        .prepare_cached(
            "SELECT object, change, count(*) FROM changes WHERE run_id = ?1
             GROUP BY object, change ORDER BY object, change",
        )?
        .query_map([run], |row| {
            Ok((row.get(0)?, row.get(1)?, count(row.get(2)?)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let arrived: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(json_array_length(new)), 0) FROM changes
             WHERE run_id = ?1 AND object = 'account' AND change = 'new' AND new IS NOT NULL",
        )?
        .query_row(params![run], |row| row.get(0))?;
    if arrived > 0 {
        match counts
            .iter_mut()
            .find(|(object, change, _)| object == "link" && change == "link-added")
        {
            Some((_, _, n)) => *n += count(arrived),
            None => counts.push(("link".into(), "link-added".into(), count(arrived))),
        }
        counts.sort();
    }
    Ok(counts)
}
