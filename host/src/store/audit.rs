//! Reading the audit trail: a new account's links are recorded with its arrival (the `new`
//! change's `new` holds them, a JSON array of `[type, value]` pairs), and read back as the
//! `link-added` changes they are, each with the `seq` of its account's arrival.

use super::db::{self, Connection, Row, params};

use super::{Change, Doing, RunId, RunReport, Store, StoreError, count, sql};

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
pub(super) fn change_counts(conn: &Connection, run: i64) -> db::Result<Vec<(String, String, u64)>> {
    let mut counts: Vec<(String, String, u64)> = conn
        .prepare_cached(
            "SELECT object, change, count(*) FROM changes WHERE run_id = ?1
             GROUP BY object, change ORDER BY object, change",
        )?
        .query_map([run], |row| {
            Ok((row.get(0)?, row.get(1)?, count(row.get(2)?)))
        })?
        .collect::<db::Result<_>>()?;
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

/// A run's changes ordered by `seq`.
fn change_rows(conn: &Connection, run: i64) -> db::Result<Vec<Change>> {
    conn.prepare_cached(
        "SELECT run_id, seq, object, account, entitlement_type, value, change, column_name,
                old, new
         FROM changes WHERE run_id = ?1 ORDER BY seq",
    )?
    .query_map([run], change_of)?
    .collect()
}

/// The changes of one account (its own and its links') over the endpoint's runs, oldest first,
/// each with when its run started.
pub(super) fn account_changes(
    conn: &Connection,
    endpoint: i64,
    account: &str,
) -> db::Result<Vec<(String, Change)>> {
    conn.prepare_cached(
        "SELECT c.run_id, c.seq, c.object, c.account, c.entitlement_type, c.value, c.change,
                c.column_name, c.old, c.new, r.started_at
         FROM changes AS c JOIN runs AS r ON r.id = c.run_id
         WHERE r.endpoint_id = ?1 AND c.account = ?2
         ORDER BY c.run_id, c.seq",
    )?
    .query_map(params![endpoint, account], |row| {
        Ok((row.get(10)?, change_of(row)?))
    })?
    .collect()
}

/// The first `limit` changes of a run, in order.
fn first_changes_stored(conn: &Connection, run: i64, limit: i64) -> db::Result<Vec<Change>> {
    conn.prepare_cached(
        "SELECT run_id, seq, object, account, entitlement_type, value, change, column_name,
                old, new
         FROM changes WHERE run_id = ?1 ORDER BY seq LIMIT ?2",
    )?
    .query_map(params![run, limit], change_of)?
    .collect()
}

/// A [`Change`] from the first ten columns of a `changes` row.
fn change_of(row: &Row<'_>) -> db::Result<Change> {
    Ok(Change {
        run_id: row.get(0)?,
        seq: count(row.get(1)?),
        object: row.get(2)?,
        account: row.get(3)?,
        entitlement_type: row.get(4)?,
        value: row.get(5)?,
        change: row.get(6)?,
        column_name: row.get(7)?,
        old: row.get(8)?,
        new: row.get(9)?,
    })
}

/// The first `limit` changes of a run, a new account's links counted one by one.
fn first_changes(
    conn: &Connection,
    run: i64,
    limit: i64,
    action: &dyn Fn() -> String,
) -> Result<Vec<Change>, StoreError> {
    let mut changes = expand(first_changes_stored(conn, run, limit).doing(action)?)?;
    changes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(changes)
}

impl Store {
    /// Every change the run made, in the order it made them (by `seq`). An unknown run is an
    /// error; a run that changed nothing has none.
    pub fn run_changes(&self, run: i64) -> Result<Vec<Change>, StoreError> {
        let action = || format!("reading the changes of run {run}");
        if super::runs::run_state(&self.conn, RunId(run))
            .doing(action)?
            .is_none()
        {
            return Err(StoreError::UnknownRun { run });
        }
        expand(change_rows(&self.conn, run).doing(action)?)
    }

    /// What a report of run `run` shows: the run, how many changes of each kind it made, its
    /// first `limit` changes, and its endpoint's accounts by status and entitlements by type as
    /// they are now. `None` for an unknown run.
    pub fn run_report(&self, run: i64, limit: usize) -> Result<Option<RunReport>, StoreError> {
        let Some(record) = self.run(run)? else {
            return Ok(None);
        };
        let action = || format!("reading the report of run {run}");
        let endpoint = super::runs::run_state(&self.conn, RunId(run))
            .doing(action)?
            .map(|(endpoint, ..)| endpoint)
            .unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (accounts_by_status, entitlements_by_type) =
            sql::endpoint_composition(&self.conn, endpoint).doing(action)?;
        Ok(Some(RunReport {
            change_counts: change_counts(&self.conn, run).doing(action)?,
            first_changes: first_changes(&self.conn, run, limit, &action)?,
            accounts_by_status,
            entitlements_by_type,
            run: record,
        }))
    }
}
