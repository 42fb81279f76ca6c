//! Runs, and the lease a running import holds on its endpoint.
//!
//! One import per endpoint at a time: [`Store::begin_run`] takes the endpoint's lease in the same
//! transaction that records the run, after checking that no other run of the endpoint holds a
//! lease that has not expired. The importing process renews it while it lives: every staged
//! batch does, and a [`LeaseKeeper`] (on a connection of its own) does between batches, so a
//! long wait for Duck Creek keeps it too. A lease that expired means its process is gone (killed,
//! or paused longer than the lease): the next import of the endpoint marks that run interrupted
//! and goes on, and the paused process, if it ever resumes, finds its run ended and applies
//! nothing. Imports of different endpoints run side by side.
//!
//! Times are RFC 3339 UTC with milliseconds from SQLite's clock, as everywhere in the store, so
//! that every process compares leases on the same clock.

use std::fmt;
use std::time::Duration;

use super::db::{self, Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{
    Doing, INTERRUPTED, RunId, RunOutcome, RunRecord, Store, StoreError, count, parse_outcome, sql,
};
use crate::model::ImportScope;

/// The kind recorded for import runs.
const IMPORT_KIND: &str = "import";

/// How long a run's lease lasts unless renewed, by default: long enough to ride out a busy store
/// and a slow machine (the keeper renews it every third of it), short enough that a killed
/// import holds its endpoint for half a minute at most.
pub const DEFAULT_RUN_LEASE: Duration = Duration::from_secs(30);

/// Who holds a run's lease, and for how long each renewal lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLease {
    /// Names the process in messages: `dcconn process 4242 on host1`.
    pub owner: String,
    /// How long the lease lasts from each renewal (more than zero).
    pub ttl: Duration,
}

impl RunLease {
    /// A lease in this process's name.
    pub fn of_this_process(ttl: Duration) -> RunLease {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "this machine".to_owned());
        RunLease {
            owner: format!("dcconn process {} on {host}", std::process::id()),
            ttl,
        }
    }
}

impl Default for RunLease {
    fn default() -> Self {
        RunLease::of_this_process(DEFAULT_RUN_LEASE)
    }
}

/// A run that holds its endpoint's lease: what a second import of the endpoint is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BusyRun {
    /// The running run.
    pub run: i64,
    /// Its endpoint.
    pub endpoint: String,
    /// Who holds the lease.
    pub owner: String,
    /// When the run began.
    pub started_at: String,
    /// When its lease expires unless renewed.
    pub lease_until: String,
    /// Accounts received so far.
    pub accounts: u64,
    /// Entitlements received so far.
    pub entitlements: u64,
}

impl fmt::Display for BusyRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run {} (started {} by {}; {} accounts and {} entitlements received so far; its lease runs until {})",
            self.run,
            self.started_at,
            self.owner,
            self.accounts,
            self.entitlements,
            self.lease_until
        )
    }
}

/// The running run of `endpoint` whose lease has not expired at `now`, if any.
fn live_run(conn: &Connection, endpoint: &str, now: &str) -> db::Result<Option<BusyRun>> {
    conn.prepare_cached(
        "SELECT r.id, e.name, r.lease_owner, r.started_at, r.lease_until, r.accounts,
                r.entitlements
         FROM runs AS r JOIN endpoints AS e ON e.id = r.endpoint_id
         WHERE e.name = ?1 AND r.outcome = 'running' AND r.lease_until > ?2
         ORDER BY r.id LIMIT 1",
    )?
    .query_row(params![endpoint, now], |row| {
        Ok(BusyRun {
            run: row.get(0)?,
            endpoint: row.get(1)?,
            owner: row.get(2)?,
            started_at: row.get(3)?,
            lease_until: row.get(4)?,
            accounts: super::count(row.get(5)?),
            entitlements: super::count(row.get(6)?),
        })
    })
    .optional()
}

/// Marks interrupted every running run whose lease expired before `now` (or that has none),
/// of one endpoint or of all; returns how many.
fn mark_expired(conn: &Connection, endpoint: Option<&str>, now: &str) -> db::Result<usize> {
    conn.prepare_cached(
        "UPDATE runs SET outcome = 'failed', error = ?1, finished_at = ?2, lease_owner = NULL,
             lease_until = NULL
         WHERE outcome = 'running' AND (lease_until IS NULL OR lease_until <= ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR endpoint_id = (SELECT id FROM endpoints WHERE name = ?3))",
    )?
    .execute(params![INTERRUPTED, now, endpoint])
}

/// Creates the endpoint if new and a running import run for it holding `lease`; returns the run.
fn insert_run(
    conn: &Connection,
    endpoint: &str,
    scope: &str,
    lease: &RunLease,
    now: &str,
) -> db::Result<i64> {
    conn.prepare_cached("INSERT INTO endpoints (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")?
        .execute([endpoint])?;
    let until = sql::later(conn, now, lease.ttl)?;
    conn.prepare_cached(
        "INSERT INTO runs (endpoint_id, kind, scope, started_at, outcome, lease_owner, lease_until)
         SELECT id, ?2, ?3, ?4, 'running', ?5, ?6 FROM endpoints WHERE name = ?1
         RETURNING id",
    )?
    .query_row(
        params![endpoint, IMPORT_KIND, scope, now, lease.owner, until],
        |row| row.get(0),
    )
}

/// A run's endpoint id, stored outcome, scope and error.
pub(super) type RunState = (i64, String, String, Option<String>);

/// A run's [`RunState`], `None` for an unknown run.
pub(super) fn run_state(conn: &Connection, run: RunId) -> db::Result<Option<RunState>> {
    conn.prepare_cached("SELECT endpoint_id, outcome, scope, error FROM runs WHERE id = ?1")?
        .query_row([run.0], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .optional()
}

/// Extends the run's lease by `lease.ttl` from now if `lease.owner` still holds it; whether it
/// does.
fn renew(conn: &Connection, run: RunId, lease: &RunLease) -> db::Result<bool> {
    let now = sql::now(conn)?;
    let until = sql::later(conn, &now, lease.ttl)?;
    let renewed = conn
        .prepare_cached(
            "UPDATE runs SET lease_until = ?3
             WHERE id = ?1 AND outcome = 'running' AND lease_owner = ?2",
        )?
        .execute(params![run.0, lease.owner, until])?;
    Ok(renewed == 1)
}

/// Adds what a batch brought to the run's running counts.
fn add_received(conn: &Connection, run: RunId, received: Received) -> db::Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET accounts = accounts + ?2, account_details = account_details + ?3,
            entitlements = entitlements + ?4, links = links + ?5
         WHERE id = ?1",
    )?
    .execute(params![
        run.0,
        received.accounts,
        received.account_details,
        received.entitlements,
        received.links
    ])?;
    Ok(())
}

/// What one staged batch brought, added to its run's counts.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Received {
    /// Account records.
    pub accounts: i64,
    /// Account detail records.
    pub account_details: i64,
    /// Entitlement records.
    pub entitlements: i64,
    /// Links of the account records.
    pub links: i64,
}

/// Adds a staged batch's counts to the run and renews its lease, inside the batch's write.
pub(super) fn record_received(
    conn: &Connection,
    lease: &RunLease,
    run: RunId,
    received: Received,
) -> db::Result<()> {
    add_received(conn, run, received)?;
    renew(conn, run, lease)?;
    Ok(())
}

/// The endpoint id and scope of a run that is still running; an error for unknown or ended
/// runs.
pub(super) fn running_run(
    conn: &Connection,
    run: RunId,
    action: &dyn Fn() -> String,
) -> Result<(i64, ImportScope), StoreError> {
    let Some((endpoint, outcome, scope, error)) = run_state(conn, run).doing(action)? else {
        return Err(StoreError::UnknownRun { run: run.0 });
    };
    match parse_outcome(run.0, &outcome)? {
        RunOutcome::Running => {
            let scope = scope.parse().map_err(|_| StoreError::Corrupt {
                what: format!("the scope of run {run}"),
                problem: format!("unknown scope {scope:?}"),
            })?;
            Ok((endpoint, scope))
        }
        RunOutcome::Failed if error.as_deref() == Some(INTERRUPTED) => {
            Err(StoreError::RunInterrupted { run: run.0 })
        }
        outcome => Err(StoreError::RunEnded {
            run: run.0,
            outcome,
        }),
    }
}

/// A run row with its outcome and withheld list still as text (checked by the caller).
type RunRow = (RunRecord, String, String);

/// Reads a [`RunRow`].
fn run_row(row: &Row<'_>) -> db::Result<RunRow> {
    Ok((
        RunRecord {
            id: row.get(0)?,
            endpoint: row.get(1)?,
            kind: row.get(2)?,
            scope: row.get(3)?,
            started_at: row.get(4)?,
            finished_at: row.get(5)?,
            outcome: RunOutcome::Running,
            error: row.get(7)?,
            accounts: count(row.get(8)?),
            account_details: count(row.get(9)?),
            entitlements: count(row.get(10)?),
            links: count(row.get(11)?),
            new_accounts: count(row.get(12)?),
            updated_accounts: count(row.get(13)?),
            new_entitlements: count(row.get(14)?),
            updated_entitlements: count(row.get(15)?),
            suspended: count(row.get(16)?),
            restored: count(row.get(17)?),
            links_added: count(row.get(18)?),
            links_removed: count(row.get(19)?),
            entitlements_inactivated: count(row.get(20)?),
            entitlements_restored: count(row.get(21)?),
            withheld: Vec::new(),
            pruned_at: row.get(23)?,
            changes_pruned: count(row.get(24)?),
        },
        row.get(6)?,
        row.get(22)?,
    ))
}

/// Runs, newest first: of one endpoint, or the one run, or (both `None`) all.
fn run_rows(
    conn: &Connection,
    endpoint: Option<&str>,
    run: Option<i64>,
) -> db::Result<Vec<RunRow>> {
    conn.prepare_cached(
        "SELECT r.id, e.name, r.kind, r.scope, r.started_at, r.finished_at, r.outcome, r.error,
                r.accounts, r.account_details, r.entitlements, r.links,
                r.new_accounts, r.updated_accounts, r.new_entitlements, r.updated_entitlements,
                r.suspended, r.restored, r.links_added, r.links_removed,
                r.entitlements_inactivated, r.entitlements_restored, r.withheld,
                r.pruned_at, r.changes_pruned
         FROM runs AS r JOIN endpoints AS e ON e.id = r.endpoint_id
         WHERE (CAST(?1 AS TEXT) IS NULL OR e.name = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR r.id = ?2)
         ORDER BY r.id DESC",
    )?
    .query_map(params![endpoint, run], run_row)?
    .collect()
}

/// Completes a run record read by [`run_rows`]: its outcome and withheld list from text.
fn finish_record(
    (mut record, outcome, withheld): (RunRecord, String, String),
) -> Result<RunRecord, StoreError> {
    record.outcome = parse_outcome(record.id, &outcome)?;
    record.withheld = serde_json::from_str(&withheld).map_err(|e| StoreError::Corrupt {
        what: format!("the withheld removals of run {}", record.id),
        problem: e.to_string(),
    })?;
    Ok(record)
}

impl Store {
    /// The endpoint's runs, newest first. An unknown endpoint has none.
    pub fn runs(&self, endpoint: &str) -> Result<Vec<RunRecord>, StoreError> {
        let action = || format!("reading the runs of endpoint {endpoint}");
        run_rows(&self.conn, Some(endpoint), None)
            .doing(action)?
            .into_iter()
            .map(finish_record)
            .collect()
    }

    /// One run, `None` if the store does not have it.
    pub fn run(&self, run: i64) -> Result<Option<RunRecord>, StoreError> {
        let action = || format!("reading run {run}");
        run_rows(&self.conn, None, Some(run))
            .doing(action)?
            .into_iter()
            .next()
            .map(finish_record)
            .transpose()
    }

    /// Sets the lease the runs this store begins will hold (default: [`RunLease::default`]).
    pub fn set_run_lease(&mut self, lease: RunLease) {
        self.lease = lease;
    }

    /// The lease the runs this store begins hold.
    pub fn run_lease(&self) -> &RunLease {
        &self.lease
    }

    /// Marks interrupted every run, of any endpoint, left `running` by a process that is gone
    /// (its lease expired) and deletes this connection's staging; returns how many runs it
    /// marked. [`Store::begin_run`] does the same for its endpoint; runs whose lease lasts are
    /// left alone.
    pub fn recover_interrupted(&mut self) -> Result<usize, StoreError> {
        self.prepare_staging()?;
        let action = || "recovering interrupted runs".to_owned();
        let tx = self.write(&action)?;
        let now = sql::now(&tx).doing(action)?;
        let marked = mark_expired(&tx, None, &now).doing(action)?;
        sql::delete_all_staging(&tx).doing(action)?;
        tx.commit().doing(action)?;
        Ok(marked)
    }

    /// Starts an import run for `endpoint` (created if new), holding the endpoint's lease, and
    /// returns its id. A run of the endpoint left by a process that is gone (its lease expired)
    /// is marked interrupted first; one whose lease lasts makes this fail with
    /// [`StoreError::EndpointBusy`], naming it.
    pub fn begin_run(&mut self, endpoint: &str, scope: ImportScope) -> Result<RunId, StoreError> {
        if endpoint.is_empty() {
            return Err(StoreError::EmptyEndpoint);
        }
        self.prepare_staging()?;
        let action = || format!("starting a run for endpoint {endpoint}");
        let lease = self.lease.clone();
        let tx = self.write(&action)?;
        let now = sql::now(&tx).doing(action)?;
        if let Some(busy) = live_run(&tx, endpoint, &now).doing(action)? {
            return Err(StoreError::EndpointBusy(Box::new(busy)));
        }
        let recovered = mark_expired(&tx, Some(endpoint), &now).doing(action)?;
        if recovered > 0 {
            tracing::info!(
                endpoint,
                runs = recovered,
                "runs whose lease expired marked interrupted"
            );
        }
        let run = insert_run(&tx, endpoint, scope.as_str(), &lease, &now).doing(action)?;
        tx.commit().doing(action)?;
        Ok(RunId(run))
    }

    /// The run of `endpoint` that holds its lease now, if any.
    pub fn busy_run(&self, endpoint: &str) -> Result<Option<BusyRun>, StoreError> {
        let action = || format!("looking for a running import of endpoint {endpoint}");
        let now = sql::now(&self.conn).doing(action)?;
        live_run(&self.conn, endpoint, &now).doing(action)
    }

    /// Extends the run's lease by the store's lease time; [`StoreError::RunInterrupted`] (or
    /// [`StoreError::RunEnded`]) when the run no longer holds it.
    pub fn renew_run_lease(&mut self, run: RunId) -> Result<(), StoreError> {
        self.reconnecting(|store| store.renew_run_lease_once(run))
    }

    /// [`Store::renew_run_lease`] on this connection.
    fn renew_run_lease_once(&mut self, run: RunId) -> Result<(), StoreError> {
        let action = || format!("renewing the lease of run {run}");
        let lease = self.lease.clone();
        let tx = self.write(&action)?;
        if !renew(&tx, run, &lease).doing(action)? {
            running_run(&tx, run, &action)?;
            return Err(StoreError::RunInterrupted { run: run.0 });
        }
        tx.commit().doing(action)
    }

    /// Deletes the run's staging and marks it failed with `error`; live data is untouched.
    /// When the connection to PostgreSQL was lost (a restarted server), it connects again to
    /// record the failure, so that the next import need not wait for the run's lease to expire.
    pub fn fail_run(&mut self, run: RunId, error: &str) -> Result<(), StoreError> {
        self.reconnecting(|store| store.fail_run_once(run, error))
    }

    /// [`Store::fail_run`] on this connection.
    fn fail_run_once(&mut self, run: RunId, error: &str) -> Result<(), StoreError> {
        self.prepare_staging()?;
        let action = || format!("recording the failure of run {run}");
        let tx = self.write(&action)?;
        running_run(&tx, run, &action)?;
        sql::delete_staging(&tx, run).doing(action)?;
        let now = sql::now(&tx).doing(action)?;
        tx.prepare_cached(
            "UPDATE runs SET outcome = 'failed', finished_at = ?2, error = ?3, lease_owner = NULL,
                 lease_until = NULL
             WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![run.0, now, error]))
        .doing(action)?;
        tx.commit().doing(action)
    }

    /// A keeper of the lease of `run`, on a connection of its own to this store's file, for a
    /// thread that renews it while the import waits on the network.
    pub fn lease_keeper(&self, run: RunId) -> Result<LeaseKeeper, StoreError> {
        Ok(LeaseKeeper {
            store: self.reopen()?,
            run,
        })
    }
}

/// Renews one run's lease from a connection of its own ([`Store::lease_keeper`]).
#[derive(Debug)]
pub struct LeaseKeeper {
    store: Store,
    run: RunId,
}

impl LeaseKeeper {
    /// How often to renew: a third of the lease, so that two renewals may fail (a busy store)
    /// before it expires.
    pub fn interval(&self) -> Duration {
        self.store.lease.ttl / 3
    }

    /// Renews the lease; an error when the run no longer holds it or the store failed.
    pub fn renew(&mut self) -> Result<(), StoreError> {
        self.store.renew_run_lease(self.run)
    }
}
