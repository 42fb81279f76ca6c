//! The store's SQL: each function is one step on a connection, returning rusqlite's error, so
//! that [`super::Store`] only sequences steps, owns transactions and says what failed.
//!
//! Applying a run is set-based (`INSERT ... SELECT ... ON CONFLICT DO UPDATE`), so its cost is a
//! few index walks in SQLite rather than a round trip per row.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{ACTIVE, INTERRUPTED, RunId, RunRecord, RunSummary, count};
use crate::model::EntitlementRef;

/// The staging tables, children first.
const STAGING_TABLES: [&str; 3] = ["staged_links", "staged_accounts", "staged_entitlements"];

/// The current time as RFC 3339 UTC with milliseconds, from SQLite's clock.
pub(super) fn now(conn: &Connection) -> rusqlite::Result<String> {
    conn.prepare_cached("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")?
        .query_row([], |row| row.get(0))
}

/// The endpoint's id, `None` when the store has never seen it.
pub(super) fn endpoint_id(conn: &Connection, endpoint: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM endpoints WHERE name = ?1")?
        .query_row([endpoint], |row| row.get(0))
        .optional()
}

/// A run's endpoint id and stored outcome, `None` for an unknown run.
pub(super) fn run_state(conn: &Connection, run: RunId) -> rusqlite::Result<Option<(i64, String)>> {
    conn.prepare_cached("SELECT endpoint_id, outcome FROM runs WHERE id = ?1")?
        .query_row([run.0], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
}

/// Marks every running run interrupted and deletes all staging; returns the runs marked.
pub(super) fn mark_interrupted(conn: &Connection) -> rusqlite::Result<usize> {
    let now = now(conn)?;
    let marked = conn
        .prepare_cached(
            "UPDATE runs SET outcome = 'failed', error = ?1, finished_at = ?2
             WHERE outcome = 'running'",
        )?
        .execute(params![INTERRUPTED, now])?;
    for table in STAGING_TABLES {
        conn.prepare_cached(&format!("DELETE FROM {table}"))?
            .execute([])?;
    }
    Ok(marked)
}

/// Creates the endpoint if new and a running import run for it; returns the run id.
pub(super) fn insert_run(
    conn: &Connection,
    endpoint: &str,
    kind: &str,
    scope: &str,
) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT INTO endpoints (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")?
        .execute([endpoint])?;
    let now = now(conn)?;
    conn.prepare_cached(
        "INSERT INTO runs (endpoint_id, kind, scope, started_at, outcome)
         SELECT id, ?2, ?3, ?4, 'running' FROM endpoints WHERE name = ?1
         RETURNING id",
    )?
    .query_row(params![endpoint, kind, scope, now], |row| row.get(0))
}

/// The columns staged for an account in this run, else its live columns, else `None`.
pub(super) fn base_columns(
    conn: &Connection,
    endpoint: i64,
    run: RunId,
    name: &str,
) -> rusqlite::Result<Option<String>> {
    let staged = conn
        .prepare_cached("SELECT columns FROM staged_accounts WHERE run_id = ?1 AND name = ?2")?
        .query_row(params![run.0, name], |row| row.get(0))
        .optional()?;
    match staged {
        Some(columns) => Ok(Some(columns)),
        None => conn
            .prepare_cached("SELECT columns FROM accounts WHERE endpoint_id = ?1 AND name = ?2")?
            .query_row(params![endpoint, name], |row| row.get(0))
            .optional(),
    }
}

/// Stages an account's (encoded) columns, replacing what this run staged for it before, and adds
/// its links; returns how many links were given.
pub(super) fn stage_account(
    conn: &Connection,
    run: RunId,
    name: &str,
    columns: &str,
    links: &[EntitlementRef],
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO staged_accounts (run_id, name, columns) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, name) DO UPDATE SET columns = excluded.columns",
    )?
    .execute(params![run.0, name, columns])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO staged_links (run_id, account_name, type, value)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for link in links {
        insert.execute(params![run.0, name, link.entitlement_type, link.value])?;
    }
    Ok(i64::try_from(links.len()).unwrap_or(i64::MAX))
}

/// Stages an entitlement's (encoded) columns, replacing what this run staged for it before.
pub(super) fn stage_entitlement(
    conn: &Connection,
    run: RunId,
    entitlement_type: &str,
    value: &str,
    columns: &str,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO staged_entitlements (run_id, type, value, columns) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (run_id, type, value) DO UPDATE SET columns = excluded.columns",
    )?
    .execute(params![run.0, entitlement_type, value, columns])?;
    Ok(())
}

/// Adds what a batch brought to the run's running counts.
pub(super) fn add_received(
    conn: &Connection,
    run: RunId,
    accounts: i64,
    account_details: i64,
    entitlements: i64,
    links: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET accounts = accounts + ?2, account_details = account_details + ?3,
            entitlements = entitlements + ?4, links = links + ?5
         WHERE id = ?1",
    )?
    .execute(params![
        run.0,
        accounts,
        account_details,
        entitlements,
        links
    ])?;
    Ok(())
}

/// Counts staged accounts the endpoint does not have. ?1 endpoint, ?2 run.
const COUNT_NEW_ACCOUNTS: &str = "
    SELECT count(*) FROM staged_accounts AS s
    WHERE s.run_id = ?2
      AND NOT EXISTS (SELECT 1 FROM accounts AS a WHERE a.endpoint_id = ?1 AND a.name = s.name)";

/// Counts staged accounts whose live row will change. ?1 endpoint, ?2 run, ?3 active status.
const COUNT_UPDATED_ACCOUNTS: &str = "
    SELECT count(*) FROM staged_accounts AS s
    JOIN accounts AS a ON a.endpoint_id = ?1 AND a.name = s.name
    WHERE s.run_id = ?2 AND (a.columns IS NOT s.columns OR a.status IS NOT ?3)";

/// Applies staged accounts. ?1 endpoint, ?2 run, ?3 active status, ?4 now.
/// All SET expressions see the row as it was, so `updated_at` compares the old columns.
const APPLY_ACCOUNTS: &str = "
    INSERT INTO accounts (endpoint_id, name, columns, status, first_seen_run, last_seen_run, updated_at)
    SELECT ?1, name, columns, ?3, ?2, ?2, ?4 FROM staged_accounts WHERE run_id = ?2
    ON CONFLICT (endpoint_id, name) DO UPDATE SET
        updated_at = CASE WHEN accounts.columns IS NOT excluded.columns
                            OR accounts.status IS NOT excluded.status
                          THEN excluded.updated_at ELSE accounts.updated_at END,
        columns = excluded.columns,
        status = excluded.status,
        last_seen_run = excluded.last_seen_run";

/// Counts staged entitlements the endpoint does not have. ?1 endpoint, ?2 run.
const COUNT_NEW_ENTITLEMENTS: &str = "
    SELECT count(*) FROM staged_entitlements AS s
    WHERE s.run_id = ?2
      AND NOT EXISTS (SELECT 1 FROM entitlements AS e
                      WHERE e.endpoint_id = ?1 AND e.type = s.type AND e.value = s.value)";

/// Counts staged entitlements whose live row will change. ?1 endpoint, ?2 run, ?3 active status.
const COUNT_UPDATED_ENTITLEMENTS: &str = "
    SELECT count(*) FROM staged_entitlements AS s
    JOIN entitlements AS e ON e.endpoint_id = ?1 AND e.type = s.type AND e.value = s.value
    WHERE s.run_id = ?2 AND (e.columns IS NOT s.columns OR e.status IS NOT ?3)";

/// Applies staged entitlements. ?1 endpoint, ?2 run, ?3 active status, ?4 now.
const APPLY_ENTITLEMENTS: &str = "
    INSERT INTO entitlements (endpoint_id, type, value, columns, status, first_seen_run, last_seen_run, updated_at)
    SELECT ?1, type, value, columns, ?3, ?2, ?2, ?4 FROM staged_entitlements WHERE run_id = ?2
    ON CONFLICT (endpoint_id, type, value) DO UPDATE SET
        updated_at = CASE WHEN entitlements.columns IS NOT excluded.columns
                            OR entitlements.status IS NOT excluded.status
                          THEN excluded.updated_at ELSE entitlements.updated_at END,
        columns = excluded.columns,
        status = excluded.status,
        last_seen_run = excluded.last_seen_run";

/// Applies staged links. ?1 endpoint, ?2 run.
const APPLY_LINKS: &str = "
    INSERT INTO links (endpoint_id, account_name, type, value, first_seen_run, last_seen_run)
    SELECT ?1, account_name, type, value, ?2, ?2 FROM staged_links WHERE run_id = ?2
    ON CONFLICT (endpoint_id, account_name, type, value) DO UPDATE SET
        last_seen_run = excluded.last_seen_run";

/// Runs a `count(*)` query over `(endpoint, run)` or `(endpoint, run, active)`.
fn count_query(
    conn: &Connection,
    sql: &str,
    endpoint: i64,
    run: RunId,
    with_status: bool,
) -> rusqlite::Result<i64> {
    let mut stmt = conn.prepare_cached(sql)?;
    if with_status {
        stmt.query_row(params![endpoint, run.0, ACTIVE], |row| row.get(0))
    } else {
        stmt.query_row(params![endpoint, run.0], |row| row.get(0))
    }
}

/// Deletes a run's staging.
fn delete_staging(conn: &Connection, run: RunId) -> rusqlite::Result<()> {
    for table in STAGING_TABLES {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE run_id = ?1"))?
            .execute([run.0])?;
    }
    Ok(())
}

/// Applies a run's staging to the endpoint's live data, deletes the staging and marks the run
/// succeeded with its counts. Must run inside one transaction.
pub(super) fn apply_run(
    conn: &Connection,
    endpoint: i64,
    run: RunId,
) -> rusqlite::Result<RunSummary> {
    let now = now(conn)?;
    let new_accounts = count_query(conn, COUNT_NEW_ACCOUNTS, endpoint, run, false)?;
    let updated_accounts = count_query(conn, COUNT_UPDATED_ACCOUNTS, endpoint, run, true)?;
    let accounts = conn
        .prepare_cached(APPLY_ACCOUNTS)?
        .execute(params![endpoint, run.0, ACTIVE, now])?;
    let new_entitlements = count_query(conn, COUNT_NEW_ENTITLEMENTS, endpoint, run, false)?;
    let updated_entitlements = count_query(conn, COUNT_UPDATED_ENTITLEMENTS, endpoint, run, true)?;
    let entitlements = conn
        .prepare_cached(APPLY_ENTITLEMENTS)?
        .execute(params![endpoint, run.0, ACTIVE, now])?;
    let links = conn
        .prepare_cached(APPLY_LINKS)?
        .execute(params![endpoint, run.0])?;
    let account_details: i64 = conn
        .prepare_cached("SELECT account_details FROM runs WHERE id = ?1")?
        .query_row([run.0], |row| row.get(0))?;
    delete_staging(conn, run)?;
    let [accounts, entitlements, links] =
        [accounts, entitlements, links].map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    conn.prepare_cached(
        "UPDATE runs SET outcome = 'succeeded', finished_at = ?2, error = NULL,
            accounts = ?3, entitlements = ?4, links = ?5, new_accounts = ?6,
            updated_accounts = ?7, new_entitlements = ?8, updated_entitlements = ?9
         WHERE id = ?1",
    )?
    .execute(params![
        run.0,
        now,
        accounts,
        entitlements,
        links,
        new_accounts,
        updated_accounts,
        new_entitlements,
        updated_entitlements
    ])?;
    Ok(RunSummary {
        run: run.0,
        accounts: count(accounts),
        new_accounts: count(new_accounts),
        updated_accounts: count(updated_accounts),
        account_details: count(account_details),
        entitlements: count(entitlements),
        new_entitlements: count(new_entitlements),
        updated_entitlements: count(updated_entitlements),
        links: count(links),
    })
}

/// Deletes a run's staging and marks it failed with `error`.
pub(super) fn discard_run(conn: &Connection, run: RunId, error: &str) -> rusqlite::Result<()> {
    delete_staging(conn, run)?;
    let now = now(conn)?;
    conn.prepare_cached(
        "UPDATE runs SET outcome = 'failed', finished_at = ?2, error = ?3 WHERE id = ?1",
    )?
    .execute(params![run.0, now, error])?;
    Ok(())
}

/// An account row: name, encoded columns, status.
pub(super) type AccountRow = (String, String, String);

/// The endpoint's account rows ordered by name.
pub(super) fn account_rows(conn: &Connection, endpoint: i64) -> rusqlite::Result<Vec<AccountRow>> {
    conn.prepare_cached(
        "SELECT name, columns, status FROM accounts WHERE endpoint_id = ?1 ORDER BY name",
    )?
    .query_map([endpoint], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })?
    .collect()
}

/// One account row, `None` if absent.
pub(super) fn account_row(
    conn: &Connection,
    endpoint: i64,
    name: &str,
) -> rusqlite::Result<Option<AccountRow>> {
    conn.prepare_cached(
        "SELECT name, columns, status FROM accounts WHERE endpoint_id = ?1 AND name = ?2",
    )?
    .query_row(params![endpoint, name], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
    .optional()
}

/// The endpoint's links as (account name, entitlement), ordered by account, type, value.
pub(super) fn link_rows(
    conn: &Connection,
    endpoint: i64,
) -> rusqlite::Result<Vec<(String, EntitlementRef)>> {
    conn.prepare_cached(
        "SELECT account_name, type, value FROM links WHERE endpoint_id = ?1
         ORDER BY account_name, type, value",
    )?
    .query_map([endpoint], |row| {
        Ok((
            row.get(0)?,
            EntitlementRef {
                entitlement_type: row.get(1)?,
                value: row.get(2)?,
            },
        ))
    })?
    .collect()
}

/// One account's links ordered by type then value.
pub(super) fn account_links(
    conn: &Connection,
    endpoint: i64,
    name: &str,
) -> rusqlite::Result<Vec<EntitlementRef>> {
    conn.prepare_cached(
        "SELECT type, value FROM links WHERE endpoint_id = ?1 AND account_name = ?2
         ORDER BY type, value",
    )?
    .query_map(params![endpoint, name], |row| {
        Ok(EntitlementRef {
            entitlement_type: row.get(0)?,
            value: row.get(1)?,
        })
    })?
    .collect()
}

/// An entitlement row: type, value, encoded columns, status.
pub(super) type EntitlementRow = (String, String, String, String);

/// The endpoint's entitlement rows, of one type or all, ordered by type then value.
pub(super) fn entitlement_rows(
    conn: &Connection,
    endpoint: i64,
    entitlement_type: Option<&str>,
) -> rusqlite::Result<Vec<EntitlementRow>> {
    conn.prepare_cached(
        "SELECT type, value, columns, status FROM entitlements
         WHERE endpoint_id = ?1 AND (?2 IS NULL OR type = ?2)
         ORDER BY type, value",
    )?
    .query_map(params![endpoint, entitlement_type], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })?
    .collect()
}

/// Reads a run row with its outcome still as text (checked by the caller).
fn run_row(row: &Row<'_>) -> rusqlite::Result<(RunRecord, String)> {
    Ok((
        RunRecord {
            id: row.get(0)?,
            endpoint: row.get(1)?,
            kind: row.get(2)?,
            scope: row.get(3)?,
            started_at: row.get(4)?,
            finished_at: row.get(5)?,
            outcome: super::RunOutcome::Running,
            error: row.get(7)?,
            accounts: count(row.get(8)?),
            account_details: count(row.get(9)?),
            entitlements: count(row.get(10)?),
            links: count(row.get(11)?),
            new_accounts: count(row.get(12)?),
            updated_accounts: count(row.get(13)?),
            new_entitlements: count(row.get(14)?),
            updated_entitlements: count(row.get(15)?),
        },
        row.get(6)?,
    ))
}

/// The endpoint's runs, newest first, each with its stored outcome text.
pub(super) fn run_rows(
    conn: &Connection,
    endpoint: &str,
) -> rusqlite::Result<Vec<(RunRecord, String)>> {
    conn.prepare_cached(
        "SELECT r.id, e.name, r.kind, r.scope, r.started_at, r.finished_at, r.outcome, r.error,
                r.accounts, r.account_details, r.entitlements, r.links,
                r.new_accounts, r.updated_accounts, r.new_entitlements, r.updated_entitlements
         FROM runs AS r JOIN endpoints AS e ON e.id = r.endpoint_id
         WHERE e.name = ?1
         ORDER BY r.id DESC",
    )?
    .query_map([endpoint], run_row)?
    .collect()
}

/// All endpoint names, sorted.
pub(super) fn endpoint_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached("SELECT name FROM endpoints ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect()
}
