//! The SQL of what `mod.rs` reads and writes (accounts and entitlements as stored, identities,
//! correlation rules, endpoints) and the clock and staging helpers every part shares: each
//! function one step on a connection, returning rusqlite's error, so that [`super::Store`] only
//! sequences steps, owns transactions and says what failed.
//!
//! Runs and leases, receiving, applying, the audit trail and tasks keep their SQL with them
//! (`runs.rs`, `receive.rs`, `apply.rs`, `audit.rs`, `tasks.rs`).

use std::time::Duration;

use super::db::{self, Connection, OptionalExtension, Row, params};

use super::{RunId, count};
use crate::identities::Identity;
use crate::model::EntitlementRef;

/// The staging tables, children first.
const STAGING_TABLES: [&str; 3] = ["staged_links", "staged_accounts", "staged_entitlements"];

/// The current time as RFC 3339 UTC with milliseconds, from SQLite's clock.
pub(super) fn now(conn: &Connection) -> db::Result<String> {
    conn.prepare_cached("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")?
        .query_row([], |row| row.get(0))
}

/// The SQLite date modifier that adds `delay`, rounded up to the millisecond (the clock's
/// precision), such as `+1.500 seconds`.
pub(super) fn modifier(delay: Duration) -> String {
    let millis = delay.as_nanos().div_ceil(1_000_000);
    format!("+{}.{:03} seconds", millis / 1000, millis % 1000)
}

/// The time `delay` after `time` (both RFC 3339 UTC with milliseconds), by SQLite's date
/// functions.
pub(super) fn later(conn: &Connection, time: &str, delay: Duration) -> db::Result<String> {
    conn.prepare_cached("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1, ?2)")?
        .query_row(params![time, modifier(delay)], |row| row.get(0))
}

/// Whether `time` has the form of the store's times, `2026-12-05T09:30:00.000Z` (whatever
/// the digits): what both databases read the same way.
pub fn is_store_time(time: &str) -> bool {
    const FORM: &[u8] = b"0000-00-00T00:00:00.000Z";
    time.len() == FORM.len()
        && time.bytes().zip(FORM).all(|(c, form)| {
            if *form == b'0' {
                c.is_ascii_digit()
            } else {
                c == *form
            }
        })
}

/// The endpoint's id, `None` when the store has never seen it.
pub(super) fn endpoint_id(conn: &Connection, endpoint: &str) -> db::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM endpoints WHERE name = ?1")?
        .query_row([endpoint], |row| row.get(0))
        .optional()
}

/// Deletes every staging row of this connection.
pub(super) fn delete_all_staging(conn: &Connection) -> db::Result<()> {
    for table in STAGING_TABLES {
        conn.prepare_cached(&format!("DELETE FROM {table}"))?
            .execute([])?;
    }
    Ok(())
}

/// Deletes a run's staging. When it is the only run staged (always, but for tests), the tables
/// are emptied whole, which SQLite does without visiting their rows.
pub(super) fn delete_staging(conn: &Connection, run: RunId) -> db::Result<()> {
    let others_staged: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM staged_accounts WHERE run_id <> ?1)
                 OR EXISTS (SELECT 1 FROM staged_links WHERE run_id <> ?1)
                 OR EXISTS (SELECT 1 FROM staged_entitlements WHERE run_id <> ?1)",
        )?
        .query_row([run.0], |row| row.get(0))?;
    for table in STAGING_TABLES {
        if others_staged {
            conn.prepare_cached(&format!("DELETE FROM {table} WHERE run_id = ?1"))?
                .execute([run.0])?;
        } else {
            conn.prepare_cached(&format!("DELETE FROM {table}"))?
                .execute([])?;
        }
    }
    Ok(())
}

/// An account row as stored.
pub(super) struct AccountRow {
    /// The account name.
    pub name: String,
    /// The encoded columns.
    pub columns: String,
    /// The status.
    pub status: String,
    /// Whether the latest account import reported it.
    pub present: bool,
    /// Locked, unlocked or unknown.
    pub locked: Option<bool>,
}

/// Reads an [`AccountRow`] from `SELECT name, columns, status, present, locked`.
fn account_row_of(row: &Row<'_>) -> db::Result<AccountRow> {
    Ok(AccountRow {
        name: row.get(0)?,
        columns: row.get(1)?,
        status: row.get(2)?,
        present: row.get(3)?,
        locked: row.get(4)?,
    })
}

/// The endpoint's account rows ordered by name.
pub(super) fn account_rows(conn: &Connection, endpoint: i64) -> db::Result<Vec<AccountRow>> {
    conn.prepare_cached(
        "SELECT name, columns, status, present, locked FROM accounts WHERE endpoint_id = ?1
         ORDER BY name",
    )?
    .query_map([endpoint], account_row_of)?
    .collect()
}

/// One account row, `None` if absent.
pub(super) fn account_row(
    conn: &Connection,
    endpoint: i64,
    name: &str,
) -> db::Result<Option<AccountRow>> {
    conn.prepare_cached(
        "SELECT name, columns, status, present, locked FROM accounts
         WHERE endpoint_id = ?1 AND name = ?2",
    )?
    .query_row(params![endpoint, name], account_row_of)
    .optional()
}

/// The endpoint's links as (account name, entitlement), ordered by account, type, value.
pub(super) fn link_rows(
    conn: &Connection,
    endpoint: i64,
) -> db::Result<Vec<(String, EntitlementRef)>> {
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
) -> db::Result<Vec<EntitlementRef>> {
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

/// An entitlement row: type, value, encoded columns, status, present.
pub(super) type EntitlementRow = (String, String, String, String, bool);

/// The endpoint's entitlement rows, of one type or all, ordered by type then value.
pub(super) fn entitlement_rows(
    conn: &Connection,
    endpoint: i64,
    entitlement_type: Option<&str>,
) -> db::Result<Vec<EntitlementRow>> {
    conn.prepare_cached(
        "SELECT type, value, columns, status, present FROM entitlements
         WHERE endpoint_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR type = ?2)
         ORDER BY type, value",
    )?
    .query_map(params![endpoint, entitlement_type], |row| {
        Ok((
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
        ))
    })?
    .collect()
}

/// Values with how often each occurs, most frequent first.
type Counts = Vec<(String, u64)>;

/// An endpoint's accounts by status, and its entitlements by type (present ones), with counts.
pub(super) fn endpoint_composition(
    conn: &Connection,
    endpoint: i64,
) -> db::Result<(Counts, Counts)> {
    let grouped = |sql: &str| -> db::Result<Counts> {
        conn.prepare_cached(sql)?
            .query_map([endpoint], |row| Ok((row.get(0)?, count(row.get(1)?))))?
            .collect()
    };
    Ok((
        grouped(
            "SELECT status, count(*) FROM accounts WHERE endpoint_id = ?1
             GROUP BY status ORDER BY count(*) DESC, status",
        )?,
        grouped(
            "SELECT type, count(*) FROM entitlements WHERE endpoint_id = ?1 AND present = 1
             GROUP BY type ORDER BY count(*) DESC, type",
        )?,
    ))
}

/// Whether the endpoint has an account import (scope `accounts` or `all`) that completed.
pub(super) fn has_account_import(conn: &Connection, endpoint: &str) -> db::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (
             SELECT 1 FROM runs AS r JOIN endpoints AS e ON e.id = r.endpoint_id
             WHERE e.name = ?1 AND r.scope IN ('accounts', 'all')
               AND r.outcome IN ('succeeded', 'withheld'))",
    )?
    .query_row([endpoint], |row| row.get(0))
}

/// Deletes every identity.
pub(super) fn delete_identities(conn: &Connection) -> db::Result<()> {
    conn.prepare_cached("DELETE FROM identities")?.execute([])?;
    Ok(())
}

/// Inserts an identity with its (encoded) attributes.
pub(super) fn insert_identity(
    conn: &Connection,
    identity: &Identity,
    attributes: &str,
) -> db::Result<()> {
    conn.prepare_cached(
        "INSERT INTO identities (username, firstname, lastname, email, attributes)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        identity.username,
        identity.firstname,
        identity.lastname,
        identity.email,
        attributes
    ])?;
    Ok(())
}

/// Every identity ordered by username, with its attributes still encoded (left empty in the
/// identity).
pub(super) fn identity_rows(conn: &Connection) -> db::Result<Vec<(Identity, String)>> {
    conn.prepare_cached(
        "SELECT username, firstname, lastname, email, attributes FROM identities
         ORDER BY username",
    )?
    .query_map([], |row| {
        Ok((
            Identity {
                username: row.get(0)?,
                firstname: row.get(1)?,
                lastname: row.get(2)?,
                email: row.get(3)?,
                attributes: Vec::new(),
            },
            row.get(4)?,
        ))
    })?
    .collect()
}

/// Creates the endpoint if new and sets its correlation rule (as text) and flag.
pub(super) fn set_correlation(
    conn: &Connection,
    endpoint: &str,
    rule: &str,
    correlate_inactive: bool,
) -> db::Result<()> {
    conn.prepare_cached(
        "INSERT INTO endpoints (name, correlation, correlate_inactive) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET
             correlation = excluded.correlation,
             correlate_inactive = excluded.correlate_inactive",
    )?
    .execute(params![endpoint, rule, correlate_inactive])?;
    Ok(())
}

/// The endpoint's correlation rule text (`None`: the default) and flag.
pub(super) fn correlation(conn: &Connection, endpoint: i64) -> db::Result<(Option<String>, bool)> {
    conn.prepare_cached("SELECT correlation, correlate_inactive FROM endpoints WHERE id = ?1")?
        .query_row([endpoint], |row| Ok((row.get(0)?, row.get(1)?)))
}

/// All endpoint names, sorted.
pub(super) fn endpoint_names(conn: &Connection) -> db::Result<Vec<String>> {
    conn.prepare_cached("SELECT name FROM endpoints ORDER BY name")?
        .query_map([], |row| row.get(0))?
        .collect()
}
