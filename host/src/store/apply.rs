//! Applying a completed run: upserting what it staged, reconciling removals by its scope and the
//! [`Reconciliation`] policy, and recording every change in `changes`.
//!
//! Set-based SQL throughout (`INSERT ... SELECT`, `UPDATE ... WHERE`), so the cost is a few index
//! walks rather than a round trip per row. Two steps need Rust and read rows instead: deriving
//! statuses from a status column (values are compared trimmed and ignoring case, which SQLite's
//! ASCII-only `lower` cannot do; decoding the columns in Rust is also several times faster than
//! `json_each`) and the per-column differences of updated rows.
//!
//! Change rows get `seq` numbers in the order of the steps below, and by key within a step.

use std::collections::HashSet;
use std::fmt;

use super::db::ToValue;
use super::db::{self, Connection, Row, params, params_from_iter};

use super::receive::Receiving;
use super::{Doing, RunId, RunSummary, Store, StoreError, Withheld, count, decode_columns, sql};
use crate::model::{ACTIVE, Columns, INACTIVE, ImportScope, Reconciliation, SUSPENDED};

/// Staged accounts read per round when deriving statuses, which bounds memory.
const DERIVE_CHUNK: i64 = 2_000;

/// Staged accounts and their columns, by name after ?2 (all when NULL). ?1 run, ?3 chunk size.
const STAGED_COLUMNS: &str = "
    SELECT name, columns FROM staged_accounts
    WHERE run_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR name > ?2)
    ORDER BY name
    LIMIT ?3";

/// Sets a staged account's derived status and lock. ?1 run, ?2 name, ?3 status, ?4 locked.
const SET_STAGED_STATUS: &str = "
    UPDATE staged_accounts SET status = ?3, locked = ?4 WHERE run_id = ?1 AND name = ?2";

/// Records staged accounts the endpoint does not have, each with the links it arrives with as
/// a JSON array of `[type, value]` pairs in `new` (NULL when none): a new account's links are
/// part of its arrival, not changes of their own. ?1 endpoint, ?2 run, ?3 seq so far.
const ACCOUNTS_NEW: &str = "
    INSERT INTO changes (run_id, seq, object, account, change, new)
    SELECT ?2, ?3 + row_number() OVER (ORDER BY s.name), 'account', s.name, 'new',
           nullif(coalesce(s.arrival,
                           (SELECT json_group_array(json_array(l.type, l.value))
                            FROM staged_links AS l
                            WHERE l.run_id = ?2 AND l.account_name = s.name)), '[]')
    FROM staged_accounts AS s
    WHERE s.run_id = ?2 AND s.is_new = 1";

/// Gives staged accounts that a provisioning task completed after the run began the status and
/// lock the task left: the run read Duck Creek before the task changed it, so its value is the
/// older one (the next import reads the new one). The tasks completed since the run began are
/// found once, not looked for per staged account. ?1 endpoint, ?2 run.
const KEEP_NEWER_PROVISIONING: &str = "
    UPDATE staged_accounts SET
        status = (SELECT a.status FROM accounts AS a
                  WHERE a.endpoint_id = ?1 AND a.name = staged_accounts.name),
        locked = (SELECT a.locked FROM accounts AS a
                  WHERE a.endpoint_id = ?1 AND a.name = staged_accounts.name)
    WHERE run_id = ?2
      AND name IN (SELECT t.account FROM tasks AS t
                   JOIN runs AS r ON r.id = ?2
                   JOIN accounts AS a ON a.endpoint_id = ?1 AND a.name = t.account
                   WHERE t.endpoint_id = ?1 AND t.status = 'COMPLETE'
                     AND t.completed_at > r.started_at)";

/// Records removed accounts reported again, with their old and new status.
const ACCOUNTS_RESTORED: &str = "
    INSERT INTO changes (run_id, seq, object, account, change, old, new)
    SELECT ?2, ?3 + row_number() OVER (ORDER BY s.name), 'account', s.name, 'restored',
           a.status, s.status
    FROM staged_accounts AS s JOIN accounts AS a ON a.endpoint_id = ?1 AND a.name = s.name
    WHERE s.run_id = ?2 AND a.present = 0";

/// Records present accounts whose status changes.
const ACCOUNTS_STATUS: &str = "
    INSERT INTO changes (run_id, seq, object, account, change, old, new)
    SELECT ?2, ?3 + row_number() OVER (ORDER BY s.name), 'account', s.name, 'status',
           a.status, s.status
    FROM staged_accounts AS s JOIN accounts AS a ON a.endpoint_id = ?1 AND a.name = s.name
    WHERE s.run_id = ?2 AND a.present = 1 AND a.status IS DISTINCT FROM s.status";

/// Existing accounts whose columns change: name, old and new columns. ?1 endpoint, ?2 run.
const ACCOUNTS_CHANGED_COLUMNS: &str = "
    SELECT s.name, a.columns, s.columns
    FROM staged_accounts AS s JOIN accounts AS a ON a.endpoint_id = ?1 AND a.name = s.name
    WHERE s.run_id = ?2 AND a.columns IS DISTINCT FROM s.columns
    ORDER BY s.name";

/// Counts existing accounts the run changes (columns, status, lock, or restored).
const COUNT_UPDATED_ACCOUNTS: &str = "
    SELECT count(*)
    FROM staged_accounts AS s JOIN accounts AS a ON a.endpoint_id = ?1 AND a.name = s.name
    WHERE s.run_id = ?2
      AND (a.columns IS DISTINCT FROM s.columns OR a.status IS DISTINCT FROM s.status OR a.locked IS DISTINCT FROM s.locked
           OR a.present = 0)";

/// Applies staged accounts. ?1 endpoint, ?2 run, ?3 now.
/// All SET expressions see the row as it was, so `updated_at` compares the old values.
const APPLY_ACCOUNTS: &str = "
    INSERT INTO accounts (endpoint_id, name, columns, status, locked, present, first_seen_run,
                          last_seen_run, updated_at)
    SELECT ?1, name, columns, status, locked, 1, ?2, ?2, ?3 FROM staged_accounts WHERE run_id = ?2
    ON CONFLICT (endpoint_id, name) DO UPDATE SET
        updated_at = CASE WHEN accounts.columns IS DISTINCT FROM excluded.columns
                            OR accounts.status IS DISTINCT FROM excluded.status
                            OR accounts.locked IS DISTINCT FROM excluded.locked
                            OR accounts.present = 0
                          THEN excluded.updated_at ELSE accounts.updated_at END,
        columns = excluded.columns,
        status = excluded.status,
        locked = excluded.locked,
        present = 1,
        last_seen_run = excluded.last_seen_run";

/// The endpoint's present accounts, by rowid: those the run did not see are missing. ?1
/// endpoint.
const PRESENT_ACCOUNTS: &str = "SELECT rowid FROM accounts WHERE endpoint_id = ?1 AND present = 1";

/// Notes a missing account. ?1 its rowid.
const NOTE_MISSING: &str = "INSERT INTO temp.missing_accounts (id) VALUES (?1)";

/// Records the removal of missing accounts. ?1 endpoint, ?2 run, ?3 seq so far, ?4 the change
/// (`suspended` or `inactivated`), ?5 the new status.
const ACCOUNTS_REMOVED: &str = "
    INSERT INTO changes (run_id, seq, object, account, change, old, new)
    SELECT ?2, ?3 + row_number() OVER (ORDER BY name), 'account', name, ?4, status, ?5
    FROM accounts
    WHERE rowid IN (SELECT id FROM temp.missing_accounts) AND endpoint_id = ?1";

/// Removes missing accounts. ?1 endpoint, ?2 new status, ?3 now.
const REMOVE_ACCOUNTS: &str = "
    UPDATE accounts SET present = 0, status = ?2, updated_at = ?3
    WHERE rowid IN (SELECT id FROM temp.missing_accounts) AND endpoint_id = ?1";

/// Records the links the run adds to accounts the endpoint had (run before [`APPLY_LINKS`]; a
/// new account's links are recorded with its arrival). ?1 endpoint, ?2 run, ?3 seq so far.
const LINKS_ADDED: &str = "
    INSERT INTO changes (run_id, seq, object, account, entitlement_type, value, change)
    SELECT ?2, ?3 + row_number() OVER (ORDER BY l.account_name, l.type, l.value), 'link',
           l.account_name, l.type, l.value, 'link-added'
    FROM staged_accounts AS s CROSS JOIN staged_links AS l
    WHERE s.run_id = ?2 AND s.is_new = 0 AND l.run_id = ?2 AND l.account_name = s.name
      AND NOT EXISTS (SELECT 1 FROM links AS k
                      WHERE k.endpoint_id = ?1 AND k.account_name = l.account_name
                        AND k.type = l.type AND k.value = l.value)";

/// Applies staged links. ?1 endpoint, ?2 run.
const APPLY_LINKS: &str = "
    INSERT INTO links (endpoint_id, account_name, type, value, first_seen_run, last_seen_run)
    SELECT ?1, account_name, type, value, ?2, ?2 FROM staged_links WHERE run_id = ?2
    ON CONFLICT (endpoint_id, account_name, type, value) DO UPDATE SET
        last_seen_run = excluded.last_seen_run";

/// Records the deletion of links of reported accounts that the run did not report (run after
/// [`APPLY_LINKS`]). ?1 endpoint, ?2 run, ?3 seq so far.
const LINKS_REMOVED: &str = "
    INSERT INTO changes (run_id, seq, object, account, entitlement_type, value, change)
    SELECT ?2, ?3 + row_number() OVER (ORDER BY l.account_name, l.type, l.value), 'link',
           l.account_name, l.type, l.value, 'link-removed'
    FROM links AS l
    WHERE l.endpoint_id = ?1 AND l.last_seen_run <> ?2
      AND l.account_name IN (SELECT name FROM staged_accounts WHERE run_id = ?2 AND is_new = 0)";

/// Deletes the links [`LINKS_REMOVED`] recorded. ?1 endpoint, ?2 run.
const DELETE_LINKS: &str = "
    DELETE FROM links
    WHERE endpoint_id = ?1 AND last_seen_run <> ?2
      AND account_name IN (SELECT name FROM staged_accounts WHERE run_id = ?2 AND is_new = 0)";

/// Records staged entitlements the endpoint does not have. ?1 endpoint, ?2 run, ?3 seq so far.
const ENTITLEMENTS_NEW: &str = "
    INSERT INTO changes (run_id, seq, object, entitlement_type, value, change)
    SELECT ?2, ?3 + row_number() OVER (ORDER BY s.type, s.value), 'entitlement', s.type,
           s.value, 'new'
    FROM staged_entitlements AS s
    WHERE s.run_id = ?2
      AND NOT EXISTS (SELECT 1 FROM entitlements AS e
                      WHERE e.endpoint_id = ?1 AND e.type = s.type AND e.value = s.value)";

/// Records removed entitlements reported again. ?4 the active status.
const ENTITLEMENTS_RESTORED: &str = "
    INSERT INTO changes (run_id, seq, object, entitlement_type, value, change, old, new)
    SELECT ?2, ?3 + row_number() OVER (ORDER BY s.type, s.value), 'entitlement', s.type,
           s.value, 'restored', e.status, ?4
    FROM staged_entitlements AS s
    JOIN entitlements AS e ON e.endpoint_id = ?1 AND e.type = s.type AND e.value = s.value
    WHERE s.run_id = ?2 AND e.present = 0";

/// Records present entitlements whose status changes to active. ?4 the active status.
const ENTITLEMENTS_STATUS: &str = "
    INSERT INTO changes (run_id, seq, object, entitlement_type, value, change, old, new)
    SELECT ?2, ?3 + row_number() OVER (ORDER BY s.type, s.value), 'entitlement', s.type,
           s.value, 'status', e.status, ?4
    FROM staged_entitlements AS s
    JOIN entitlements AS e ON e.endpoint_id = ?1 AND e.type = s.type AND e.value = s.value
    WHERE s.run_id = ?2 AND e.present = 1 AND e.status IS DISTINCT FROM ?4";

/// Existing entitlements whose columns change: type, value, old and new columns.
const ENTITLEMENTS_CHANGED_COLUMNS: &str = "
    SELECT s.type, s.value, e.columns, s.columns
    FROM staged_entitlements AS s
    JOIN entitlements AS e ON e.endpoint_id = ?1 AND e.type = s.type AND e.value = s.value
    WHERE s.run_id = ?2 AND e.columns IS DISTINCT FROM s.columns
    ORDER BY s.type, s.value";

/// Counts existing entitlements the run changes. ?3 the active status.
const COUNT_UPDATED_ENTITLEMENTS: &str = "
    SELECT count(*) FROM staged_entitlements AS s
    JOIN entitlements AS e ON e.endpoint_id = ?1 AND e.type = s.type AND e.value = s.value
    WHERE s.run_id = ?2 AND (e.columns IS DISTINCT FROM s.columns OR e.status IS DISTINCT FROM ?3 OR e.present = 0)";

/// Applies staged entitlements. ?1 endpoint, ?2 run, ?3 active status, ?4 now.
const APPLY_ENTITLEMENTS: &str = "
    INSERT INTO entitlements (endpoint_id, type, value, columns, status, present, first_seen_run,
                              last_seen_run, updated_at)
    SELECT ?1, type, value, columns, ?3, 1, ?2, ?2, ?4 FROM staged_entitlements WHERE run_id = ?2
    ON CONFLICT (endpoint_id, type, value) DO UPDATE SET
        updated_at = CASE WHEN entitlements.columns IS DISTINCT FROM excluded.columns
                            OR entitlements.status IS DISTINCT FROM excluded.status
                            OR entitlements.present = 0
                          THEN excluded.updated_at ELSE entitlements.updated_at END,
        columns = excluded.columns,
        status = excluded.status,
        present = 1,
        last_seen_run = excluded.last_seen_run";

/// Present entitlements the run did not report, counted by type (run after
/// [`APPLY_ENTITLEMENTS`]). ?1 endpoint, ?2 run.
const MISSING_ENTITLEMENTS_BY_TYPE: &str = "
    SELECT type, count(*) FROM entitlements
    WHERE endpoint_id = ?1 AND present = 1 AND last_seen_run <> ?2
    GROUP BY type ORDER BY type";

/// Records the inactivation of one type's missing entitlements. ?1 endpoint, ?2 run, ?3 seq so
/// far, ?4 type, ?5 the inactive status.
const ENTITLEMENTS_INACTIVATED: &str = "
    INSERT INTO changes (run_id, seq, object, entitlement_type, value, change, old, new)
    SELECT ?2, ?3 + row_number() OVER (ORDER BY value), 'entitlement', type, value,
           'inactivated', status, ?5
    FROM entitlements
    WHERE endpoint_id = ?1 AND type = ?4 AND present = 1 AND last_seen_run <> ?2";

/// Inactivates one type's missing entitlements. ?1 endpoint, ?2 run, ?3 type, ?4 inactive
/// status, ?5 now.
const INACTIVATE_ENTITLEMENTS: &str = "
    UPDATE entitlements SET present = 0, status = ?4, updated_at = ?5
    WHERE endpoint_id = ?1 AND type = ?3 AND present = 1 AND last_seen_run <> ?2";

/// One `updated` change row.
const INSERT_UPDATE: &str = "
    INSERT INTO changes (run_id, seq, object, account, entitlement_type, value, change,
                         column_name, old, new)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'updated', ?7, ?8, ?9)";

/// Marks the run completed with its counts.
const FINISH_RUN: &str = "
    UPDATE runs SET outcome = ?2, finished_at = ?3, error = NULL, lease_owner = NULL, lease_until = NULL,
        accounts = ?4, entitlements = ?5, links = ?6, new_accounts = ?7, updated_accounts = ?8,
        new_entitlements = ?9, updated_entitlements = ?10, suspended = ?11, restored = ?12,
        links_added = ?13, links_removed = ?14, entitlements_inactivated = ?15,
        entitlements_restored = ?16, withheld = ?17
    WHERE id = ?1";

/// A value compared with a policy's list: trimmed, lowercased.
fn normalized(value: &str) -> String {
    value.trim().to_lowercase()
}

/// The policy's status and lock rules, with the value lists normalized once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StatusRules {
    /// The status column, if any.
    status_column: Option<String>,
    /// Values meaning active.
    active: HashSet<String>,
    /// Values meaning inactive.
    inactive: HashSet<String>,
    /// The locked column, if any.
    locked_column: Option<String>,
    /// Values meaning locked.
    locked: HashSet<String>,
    /// Values meaning unlocked.
    unlocked: HashSet<String>,
}

impl StatusRules {
    /// The rules of `policy`.
    pub(super) fn new(policy: &Reconciliation) -> Self {
        let set = |list: &[String]| list.iter().map(|v| normalized(v)).collect();
        StatusRules {
            status_column: policy.status_column.clone(),
            active: set(&policy.active_statuses),
            inactive: set(&policy.inactive_statuses),
            locked_column: policy.locked_status_column.clone(),
            locked: set(&policy.locked_values),
            unlocked: set(&policy.unlocked_values),
        }
    }

    /// The status of a reported account whose status column holds `raw` (`None`: the account
    /// has no such column, which counts as an empty value). Without a status column, active;
    /// with a list of active values, active only if listed; else active unless listed inactive.
    fn status(&self, raw: Option<&str>) -> &'static str {
        if self.status_column.is_none() {
            return ACTIVE;
        }
        let value = normalized(raw.unwrap_or_default());
        let active = if self.active.is_empty() {
            !self.inactive.contains(&value)
        } else {
            self.active.contains(&value)
        };
        if active { ACTIVE } else { INACTIVE }
    }

    /// Whether an account whose locked column holds `raw` is locked; `None` without a locked
    /// column, without the column on the account, or for a value in neither list.
    fn locked(&self, raw: Option<&str>) -> Option<bool> {
        self.locked_column.as_ref()?;
        let value = normalized(raw?);
        if self.locked.contains(&value) {
            Some(true)
        } else if self.unlocked.contains(&value) {
            Some(false)
        } else {
            None
        }
    }

    /// The status and lock of an account reported with `columns`.
    pub(super) fn derive(&self, columns: &Columns) -> (&'static str, Option<bool>) {
        let value = |wanted: Option<&str>| {
            let wanted = wanted?;
            columns
                .iter()
                .find(|(name, _)| name == wanted)
                .map(|(_, value)| value.as_str())
        };
        (
            self.status(value(self.status_column.as_deref())),
            self.locked(value(self.locked_column.as_deref())),
        )
    }

    /// Whether the rules derive anything but `active` and an unknown lock.
    fn derive_anything(&self) -> bool {
        self.status_column.is_some() || self.locked_column.is_some()
    }
}

/// The differences between two column lists, one per changed column in the new list's order
/// then dropped ones in the old list's: `(column, old value, new value)`. A column repeated in a
/// list is matched with the same occurrence in the other.
fn column_changes(old: &Columns, new: &Columns) -> Vec<(String, Option<String>, Option<String>)> {
    let occurrence = |columns: &Columns, i: usize| {
        columns[..i]
            .iter()
            .filter(|(name, _)| *name == columns[i].0)
            .count()
    };
    let nth = |columns: &'_ Columns, name: &str, n: usize| {
        columns
            .iter()
            .filter(|(other, _)| other == name)
            .nth(n)
            .map(|(_, value)| value.clone())
    };
    let mut changes = Vec::new();
    for (i, (name, value)) in new.iter().enumerate() {
        let before = nth(old, name, occurrence(new, i));
        if before.as_ref() != Some(value) {
            changes.push((name.clone(), before, Some(value.clone())));
        }
    }
    for (i, (name, value)) in old.iter().enumerate() {
        if nth(new, name, occurrence(old, i)).is_none() {
            changes.push((name.clone(), Some(value.clone()), None));
        }
    }
    changes
}

/// One run being applied.
struct Apply<'a> {
    /// The connection, inside the caller's transaction.
    conn: &'a Connection,
    /// The run's endpoint.
    endpoint: i64,
    /// The run.
    run: RunId,
    /// The time recorded on changed rows.
    now: String,
    /// Changes recorded so far (the last `seq`).
    seq: i64,
    /// What is being done, for errors.
    action: &'a dyn Fn() -> String,
}

impl Apply<'_> {
    /// Runs a statement with `params`, returning the rows it changed.
    fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> Result<i64, StoreError> {
        let changed = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params_from_iter(params)))
            .doing(self.action)?;
        Ok(i64::try_from(changed).unwrap_or(i64::MAX))
    }

    /// Runs a `count(*)` query with `params`.
    fn count(&self, sql: &str, params: &[&dyn ToValue]) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_row(params_from_iter(params), |row| row.get(0)))
            .doing(self.action)
    }

    /// Runs an `INSERT INTO changes ... SELECT` taking (endpoint, run, seq so far, `extra`...);
    /// returns how many changes it recorded.
    fn record(&mut self, sql: &str, extra: &[&dyn ToValue]) -> Result<i64, StoreError> {
        let mut params: Vec<&dyn ToValue> = vec![&self.endpoint, &self.run.0, &self.seq];
        params.extend_from_slice(extra);
        let recorded = self.execute(sql, &params)?;
        self.seq += recorded;
        Ok(recorded)
    }

    /// Records an `updated` change of one column of `subject`.
    fn record_update(
        &mut self,
        subject: &Subject,
        column: &str,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<(), StoreError> {
        let (object, account, key) = match subject {
            Subject::Account(name) => ("account", Some(name.as_str()), None),
            Subject::Entitlement(t, v) => ("entitlement", None, Some((t.as_str(), v.as_str()))),
        };
        self.seq += 1;
        self.conn
            .prepare_cached(INSERT_UPDATE)
            .and_then(|mut stmt| {
                stmt.execute(params![
                    self.run.0,
                    self.seq,
                    object,
                    account,
                    key.map(|(t, _)| t),
                    key.map(|(_, v)| v),
                    column,
                    old,
                    new
                ])
            })
            .doing(self.action)?;
        Ok(())
    }

    /// Sets the staged accounts' status and lock from their columns, a chunk at a time. Without
    /// a status or locked column every staged account keeps the default, `active` and unknown.
    fn derive_statuses(&self, rules: &StatusRules) -> Result<(), StoreError> {
        if !rules.derive_anything() {
            return Ok(());
        }
        let mut after: Option<String> = None;
        loop {
            let rows: Vec<(String, String)> = self
                .conn
                .prepare_cached(STAGED_COLUMNS)
                .and_then(|mut stmt| {
                    stmt.query_map(params![self.run.0, after, DERIVE_CHUNK], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?
                    .collect()
                })
                .doing(self.action)?;
            let Some((last, _)) = rows.last() else {
                return Ok(());
            };
            after = Some(last.clone());
            for (name, columns) in &rows {
                let columns = decode_columns(columns, || {
                    format!("the columns of account {name} (run {})", self.run)
                })?;
                let (status, locked) = rules.derive(&columns);
                if status != ACTIVE || locked.is_some() {
                    self.execute(SET_STAGED_STATUS, &[&self.run.0, name, &status, &locked])?;
                }
            }
        }
    }

    /// Records an `updated` change per changed column of the rows `sql` returns: the subject's
    /// key (the account name, or the entitlement type and value) then its old and new encoded
    /// columns.
    fn record_column_changes(
        &mut self,
        sql: &str,
        subject_of: fn(&Row<'_>) -> db::Result<(Subject, usize)>,
    ) -> Result<(), StoreError> {
        let (conn, action) = (self.conn, self.action);
        let mut stmt = conn.prepare_cached(sql).doing(action)?;
        let mut rows = stmt
            .query(params![self.endpoint, self.run.0])
            .doing(action)?;
        while let Some(row) = rows.next().doing(action)? {
            let (subject, first) = subject_of(&row).doing(action)?;
            let old: String = row.get(first).doing(action)?;
            let new: String = row.get(first + 1).doing(action)?;
            let what = || format!("the columns of {subject}");
            let (old, new) = (decode_columns(&old, what)?, decode_columns(&new, what)?);
            for (column, before, after) in column_changes(&old, &new) {
                self.record_update(&subject, &column, before.as_deref(), after.as_deref())?;
            }
        }
        Ok(())
    }
}

/// What an `updated` change is about.
enum Subject {
    /// An account, by name.
    Account(String),
    /// An entitlement, by type and value.
    Entitlement(String, String),
}

impl Subject {
    /// An account named by column 0; its columns follow from column 1.
    fn account(row: &Row<'_>) -> db::Result<(Subject, usize)> {
        Ok((Subject::Account(row.get(0)?), 1))
    }

    /// An entitlement keyed by columns 0 and 1; its columns follow from column 2.
    fn entitlement(row: &Row<'_>) -> db::Result<(Subject, usize)> {
        Ok((Subject::Entitlement(row.get(0)?, row.get(1)?), 2))
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Account(name) => write!(f, "account {name}"),
            Subject::Entitlement(t, v) => write!(f, "entitlement {t} {v}"),
        }
    }
}

impl Apply<'_> {
    /// The accounts part: derives statuses (unless staging did), records and upserts the staged
    /// accounts, then (when `reconcile`) suspends or withholds the missing ones: the present
    /// accounts the run did not report.
    fn accounts(
        &mut self,
        policy: &Reconciliation,
        received: &Receiving,
        reconcile: bool,
        summary: &mut RunSummary,
    ) -> Result<(), StoreError> {
        let (endpoint, run) = (self.endpoint, self.run.0);
        let key: [&dyn ToValue; 2] = [&endpoint, &run];
        let rules = StatusRules::new(policy);
        if received.rules.as_ref() != Some(&rules) {
            self.derive_statuses(&rules)?;
        }
        self.execute(KEEP_NEWER_PROVISIONING, &key)?;
        let missing = if reconcile {
            self.note_missing(received)?
        } else {
            0
        };
        summary.new_accounts = count(self.record(ACCOUNTS_NEW, &[])?);
        if received.existing_staged {
            summary.restored = count(self.record(ACCOUNTS_RESTORED, &[])?);
            self.record(ACCOUNTS_STATUS, &[])?;
            self.record_column_changes(ACCOUNTS_CHANGED_COLUMNS, Subject::account)?;
            summary.updated_accounts = count(self.count(COUNT_UPDATED_ACCOUNTS, &key)?);
        }
        let applied = count(self.execute(APPLY_ACCOUNTS, &[&key[0], &key[1], &self.now])?);
        summary.accounts = applied + received.unchanged_accounts();
        if missing == 0 {
            return Ok(());
        }
        let withheld = |threshold, setting: &str| Withheld {
            what: "accounts".to_owned(),
            count: missing,
            threshold,
            setting: setting.to_owned(),
        };
        let held = if summary.accounts == 0 && !policy.allow_empty_account_list {
            Some(withheld(None, "allowEmptyAccountList"))
        } else {
            let threshold = policy.account_threshold.filter(|t| missing >= *t);
            threshold.map(|threshold| withheld(Some(threshold), "accountThresholdValue"))
        };
        if let Some(held) = held.filter(|_| !policy.accepted_removals.covers_accounts(missing)) {
            summary.withheld.push(held);
        } else {
            let (change, status) = if policy.inactivate_accounts_not_in_file {
                ("inactivated", INACTIVE)
            } else {
                ("suspended", SUSPENDED)
            };
            self.record(ACCOUNTS_REMOVED, &[&change, &status])?;
            let removed = self.execute(REMOVE_ACCOUNTS, &[&endpoint, &status, &self.now])?;
            summary.suspended = count(removed);
        }
        Ok(())
    }

    /// Notes in `temp.missing_accounts` the endpoint's present accounts the run did not report
    /// (before the run's own are applied); returns how many.
    fn note_missing(&self, received: &Receiving) -> Result<u64, StoreError> {
        self.execute("DELETE FROM temp.missing_accounts", &[])?;
        // Streamed, not collected: memory stays flat whatever the number of accounts.
        let mut present = self
            .conn
            .prepare_cached(PRESENT_ACCOUNTS)
            .doing(self.action)?;
        let mut rows = present.query([self.endpoint]).doing(self.action)?;
        let mut missing = 0;
        while let Some(row) = rows.next().doing(self.action)? {
            let rowid: i64 = row.get(0).doing(self.action)?;
            if !received.seen.contains(rowid) {
                self.execute(NOTE_MISSING, &[&rowid])?;
                missing += 1;
            }
        }
        Ok(missing)
    }

    /// The links part: records the links added to accounts the endpoint had (a new account's
    /// arrive with it), adds the staged links, then (when `reconcile` and the policy deletes
    /// links) deletes the reported accounts' links the run did not report.
    fn links(
        &mut self,
        policy: &Reconciliation,
        received: &Receiving,
        reconcile: bool,
        summary: &mut RunSummary,
    ) -> Result<(), StoreError> {
        let (endpoint, run) = (self.endpoint, self.run.0);
        let key: [&dyn ToValue; 2] = [&endpoint, &run];
        let added = match received.existing_staged {
            true => count(self.record(LINKS_ADDED, &[])?),
            false => 0,
        };
        summary.links_added = added + received.new_links;
        summary.links = count(self.execute(APPLY_LINKS, &key)?) + received.unchanged_links;
        if reconcile && policy.delete_links && received.existing_staged {
            self.record(LINKS_REMOVED, &[])?;
            summary.links_removed = count(self.execute(DELETE_LINKS, &key)?);
        }
        Ok(())
    }

    /// The entitlements part: records and upserts the staged entitlements, then (when
    /// `reconcile` and the policy inactivates) inactivates or withholds the missing ones, type by
    /// type.
    fn entitlements(
        &mut self,
        policy: &Reconciliation,
        reconcile: bool,
        summary: &mut RunSummary,
    ) -> Result<(), StoreError> {
        let (endpoint, run) = (self.endpoint, self.run.0);
        summary.new_entitlements = count(self.record(ENTITLEMENTS_NEW, &[])?);
        summary.entitlements_restored = count(self.record(ENTITLEMENTS_RESTORED, &[&ACTIVE])?);
        self.record(ENTITLEMENTS_STATUS, &[&ACTIVE])?;
        self.record_column_changes(ENTITLEMENTS_CHANGED_COLUMNS, Subject::entitlement)?;
        let updated = self.count(COUNT_UPDATED_ENTITLEMENTS, &[&endpoint, &run, &ACTIVE])?;
        summary.updated_entitlements = count(updated);
        let applied = self.execute(APPLY_ENTITLEMENTS, &[&endpoint, &run, &ACTIVE, &self.now])?;
        summary.entitlements = count(applied);
        if !(reconcile && policy.inactivate_entitlements_not_in_feed) {
            return Ok(());
        }
        let missing: Vec<(String, i64)> = self
            .conn
            .prepare_cached(MISSING_ENTITLEMENTS_BY_TYPE)
            .and_then(|mut stmt| {
                stmt.query_map(params![endpoint, run], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .doing(self.action)?;
        for (entitlement_type, n) in missing {
            let threshold = policy
                .entitlement_thresholds
                .iter()
                .find(|(t, _)| *t == entitlement_type)
                .map(|(_, threshold)| *threshold)
                .filter(|threshold| count(n) >= *threshold)
                .filter(|_| {
                    !(policy.accepted_removals).covers_entitlements(&entitlement_type, count(n))
                });
            if let Some(threshold) = threshold {
                summary.withheld.push(Withheld {
                    setting: format!("entThresholdValue.entType.{entitlement_type}"),
                    what: entitlement_type,
                    count: count(n),
                    threshold: Some(threshold),
                });
                continue;
            }
            self.record(ENTITLEMENTS_INACTIVATED, &[&entitlement_type, &INACTIVE])?;
            let inactivated = self.execute(
                INACTIVATE_ENTITLEMENTS,
                &[&endpoint, &run, &entitlement_type, &INACTIVE, &self.now],
            )?;
            summary.entitlements_inactivated += count(inactivated);
        }
        Ok(())
    }
}

impl Store {
    /// Applies the run's staging to the live data and reconciles, deletes the staging and marks
    /// the run `succeeded` (or `withheld`), all in one transaction.
    ///
    /// Whatever was staged is upserted: accounts with the status and lock `policy` derives from
    /// their columns, entitlements as `active`, both with `present = 1` (restoring those an
    /// earlier import removed), and links added. Then, by the run's scope:
    /// - `accounts` or `all`: the endpoint's present accounts this run did not report are
    ///   marked `present = 0` with status `SUSPENDED FROM IMPORT SERVICE` (or `inactive`), unless
    ///   their count reaches `policy.account_threshold`, or the run reported no account and
    ///   `policy.allow_empty_account_list` is off: then they are withheld, kept as they are. With
    ///   `policy.delete_links`, the links of reported accounts that the run did not report are
    ///   deleted (those of unreported accounts are kept).
    /// - `access` or `all`: with `policy.inactivate_entitlements_not_in_feed`, per type, the
    ///   present entitlements this run did not report become `present = 0`, `inactive`, unless
    ///   their count reaches the type's threshold (withheld).
    ///
    /// Removals of a kind `policy.accepted_removals` accepts are made despite its threshold (or
    /// the empty-list rule) while they are no more than it accepts.
    ///
    /// Every change is recorded ([`Store::run_changes`]); withheld removals are not changes but
    /// are listed in the summary and on the run.
    pub fn complete_run(
        &mut self,
        run: RunId,
        policy: &Reconciliation,
    ) -> Result<RunSummary, StoreError> {
        let action = || format!("applying run {run}");
        let received = Receiving::of(&mut self.receiving, run);
        let tx = self.write(&action)?;
        let (endpoint, scope) = super::runs::running_run(&tx, run, &action)?;
        let summary = apply_run(&tx, endpoint, run, scope, policy, &received, &action)?;
        tx.commit().doing(action)?;
        Ok(summary)
    }
}

/// Applies a run's staging to the endpoint's live data and reconciles by `scope` and `policy`
/// (see [`super::Store::complete_run`]), records every change, deletes the staging and marks the
/// run completed. Must run inside one transaction.
pub(super) fn apply_run(
    conn: &Connection,
    endpoint: i64,
    run: RunId,
    scope: ImportScope,
    policy: &Reconciliation,
    received: &Receiving,
    action: &dyn Fn() -> String,
) -> Result<RunSummary, StoreError> {
    let now = sql::now(conn).doing(action)?;
    let mut apply = Apply {
        conn,
        endpoint,
        run,
        now,
        seq: 0,
        action,
    };
    let accounts_scope = matches!(scope, ImportScope::Accounts | ImportScope::All);
    let access_scope = matches!(scope, ImportScope::Access | ImportScope::All);
    let mut summary = RunSummary {
        run: run.0,
        ..RunSummary::default()
    };
    apply.accounts(policy, received, accounts_scope, &mut summary)?;
    apply.links(policy, received, accounts_scope, &mut summary)?;
    apply.entitlements(policy, access_scope, &mut summary)?;
    summary.account_details =
        count(apply.count("SELECT account_details FROM runs WHERE id = ?1", &[&run.0])?);
    sql::delete_staging(conn, run).doing(action)?;

    // A list of plain structs always serializes.
    let withheld = serde_json::to_string(&summary.withheld).unwrap_or_else(|_| "[]".to_owned());
    let s = &summary;
    let counts = [
        s.accounts,
        s.entitlements,
        s.links,
        s.new_accounts,
        s.updated_accounts,
        s.new_entitlements,
        s.updated_entitlements,
        s.suspended,
        s.restored,
        s.links_added,
        s.links_removed,
        s.entitlements_inactivated,
        s.entitlements_restored,
    ]
    .map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let outcome = s.outcome().as_str();
    let mut params: Vec<&dyn ToValue> = vec![&run.0, &outcome, &apply.now];
    params.extend(counts.iter().map(|n| n as &dyn ToValue));
    params.push(&withheld);
    apply.execute(FINISH_RUN, &params)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(items: &[(&str, &str)]) -> Columns {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn column_changes_table() {
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        type Diff<'a> = &'a [(&'a str, Option<&'a str>, Option<&'a str>)];
        let cases: &[(Pairs, Pairs, Diff)] = &[
            (&[("a", "1")], &[("a", "1")], &[]),
            (&[("a", "1")], &[("a", "2")], &[("a", Some("1"), Some("2"))]),
            (
                &[("a", "1"), ("b", "2")],
                &[("c", "3"), ("a", "1")],
                &[("c", None, Some("3")), ("b", Some("2"), None)],
            ),
            // Order alone is no column change.
            (&[("a", "1"), ("b", "2")], &[("b", "2"), ("a", "1")], &[]),
            // Repeated columns pair by occurrence.
            (
                &[("m", "1"), ("m", "2")],
                &[("m", "1"), ("m", "3"), ("m", "4")],
                &[("m", Some("2"), Some("3")), ("m", None, Some("4"))],
            ),
        ];
        for (old, new, expected) in cases {
            let expected: Vec<_> = expected
                .iter()
                .map(|(c, o, n)| ((*c).to_owned(), o.map(str::to_owned), n.map(str::to_owned)))
                .collect();
            assert_eq!(
                column_changes(&cols(old), &cols(new)),
                expected,
                "{old:?} -> {new:?}"
            );
        }
    }

    #[test]
    fn status_rules_table() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let none = Reconciliation::default();
        let active_list = Reconciliation {
            status_column: Some("status".into()),
            active_statuses: s(&["Active", " 1 "]),
            inactive_statuses: s(&["Inactive"]),
            ..Reconciliation::default()
        };
        let inactive_only = Reconciliation {
            status_column: Some("status".into()),
            inactive_statuses: s(&["DISABLED", "Ärger"]),
            ..Reconciliation::default()
        };
        let cases: &[(&Reconciliation, Option<&str>, &str)] = &[
            (&none, Some("whatever"), ACTIVE),
            (&none, None, ACTIVE),
            (&active_list, Some("active"), ACTIVE),
            (&active_list, Some("  ACTIVE "), ACTIVE),
            (&active_list, Some("1"), ACTIVE),
            (&active_list, Some("inactive"), INACTIVE),
            // Listed nowhere: only listed values are active.
            (&active_list, Some("pending"), INACTIVE),
            (&active_list, None, INACTIVE),
            (&inactive_only, Some("disabled"), INACTIVE),
            (&inactive_only, Some("ärger"), INACTIVE),
            (&inactive_only, Some("pending"), ACTIVE),
            (&inactive_only, None, ACTIVE),
        ];
        for (policy, raw, status) in cases {
            assert_eq!(StatusRules::new(policy).status(*raw), *status, "{raw:?}");
        }
        let locked = Reconciliation {
            locked_status_column: Some("lock".into()),
            locked_values: s(&["Locked", "Y"]),
            unlocked_values: s(&["unlocked", "N"]),
            ..Reconciliation::default()
        };
        let cases: &[(&Reconciliation, Option<&str>, Option<bool>)] = &[
            (&none, Some("Locked"), None),
            (&locked, Some(" locked"), Some(true)),
            (&locked, Some("y"), Some(true)),
            (&locked, Some("UNLOCKED"), Some(false)),
            (&locked, Some("n"), Some(false)),
            (&locked, Some("maybe"), None),
            (&locked, None, None),
        ];
        for (policy, raw, expected) in cases {
            assert_eq!(StatusRules::new(policy).locked(*raw), *expected, "{raw:?}");
        }
    }
}
