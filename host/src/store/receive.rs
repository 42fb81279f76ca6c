//! Receiving a run: staging its batches, each in a transaction of its own, and comparing each
//! account with the live one as it arrives.
//!
//! Every reported account is looked up in the live table once. Its live row is marked *seen*
//! (so that completing the run finds the missing accounts without the import rewriting the ones
//! it saw), and when the run was begun with its policy ([`Store::begin_import`]) an account
//! whose columns, derived status, lock and links all equal the live ones is not staged at all:
//! an unchanged account costs one lookup and no write. What is staged is what may change the
//! live data: new accounts (marked so, for the audit trail) and changed ones.
//!
//! An account reported again later in the run (a second record, or a detail record) after it
//! was skipped as unchanged is first staged as it is live (columns and links), so that merging
//! the later report gives exactly what staging both would have.

use super::db::{self, Connection, OptionalExtension, Value, params, params_from_iter};

use super::apply::StatusRules;
use super::{
    Doing, RunId, Store, StoreError, decode_columns, encode_columns, len_i64, merge_columns, runs,
};
use crate::model::{Account, Columns, Entitlement, EntitlementRef, Reconciliation};

/// A set of live rows (by rowid), one bit each.
#[derive(Debug, Default)]
pub(super) struct RowSet {
    words: Vec<u64>,
    len: u64,
}

impl RowSet {
    /// Adds `row`; whether it was new.
    fn insert(&mut self, row: i64) -> bool {
        let (word, bit) = Self::place(row);
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        let new = self.words[word] & bit == 0;
        self.words[word] |= bit;
        self.len += u64::from(new);
        new
    }

    /// Removes `row`; whether it was there.
    fn remove(&mut self, row: i64) -> bool {
        let (word, bit) = Self::place(row);
        let Some(slot) = self.words.get_mut(word) else {
            return false;
        };
        let was = *slot & bit != 0;
        *slot &= !bit;
        self.len -= u64::from(was);
        was
    }

    /// Whether `row` is in the set.
    pub(super) fn contains(&self, row: i64) -> bool {
        let (word, bit) = Self::place(row);
        self.words.get(word).is_some_and(|w| w & bit != 0)
    }

    fn place(row: i64) -> (usize, u64) {
        let row = u64::try_from(row).unwrap_or(0);
        ((row / 64) as usize, 1 << (row % 64))
    }
}

/// What the store knows of the run it receives.
#[derive(Debug)]
pub(super) struct Receiving {
    /// The run.
    pub run: RunId,
    /// The policy whose statuses the staged accounts carry; `None`: derived when applying, and
    /// nothing is skipped.
    pub rules: Option<StatusRules>,
    /// The live accounts the run reported.
    pub seen: RowSet,
    /// Of those, the ones skipped as unchanged (not staged).
    pub unchanged: RowSet,
    /// The links of the accounts skipped as unchanged.
    pub unchanged_links: u64,
    /// The links staged with new accounts.
    pub new_links: u64,
    /// Whether any account the endpoint had was staged (else applying has no changes of
    /// existing accounts or their links to look for).
    pub existing_staged: bool,
}

impl Receiving {
    /// A run received without its policy.
    pub(super) fn new(run: RunId, rules: Option<StatusRules>) -> Self {
        Receiving {
            run,
            rules,
            seen: RowSet::default(),
            unchanged: RowSet::default(),
            unchanged_links: 0,
            new_links: 0,
            existing_staged: false,
        }
    }

    /// What the store received of `run`, taken out of `receiving` (an empty state when it
    /// received nothing of it).
    pub(super) fn of(receiving: &mut Option<Receiving>, run: RunId) -> Receiving {
        receiving
            .take()
            .filter(|received| received.run == run)
            .unwrap_or_else(|| Receiving::new(run, None))
    }

    /// What the store knows of `run` as it receives it, kept in `receiving` (a fresh state for
    /// a run begun without [`Store::begin_import`]). Call it once the run is known to be running.
    fn for_run(receiving: &mut Option<Receiving>, run: RunId) -> &mut Receiving {
        if receiving.as_ref().is_none_or(|r| r.run != run) {
            *receiving = Some(Receiving::new(run, None));
        }
        receiving.get_or_insert_with(|| Receiving::new(run, None))
    }

    /// Accounts skipped as unchanged.
    pub(super) fn unchanged_accounts(&self) -> u64 {
        self.unchanged.len
    }
}

/// The two kinds of account records a run receives.
#[derive(Debug, Clone, Copy)]
enum AccountBatch {
    /// The account list.
    Accounts,
    /// Per-account detail records, merged into the accounts.
    Details,
}

impl AccountBatch {
    /// What a batch of them is called in messages.
    fn what(self) -> &'static str {
        match self {
            AccountBatch::Accounts => "accounts",
            AccountBatch::Details => "account details",
        }
    }
}

/// An account's live row, as compared with a report.
struct LiveAccount {
    rowid: i64,
    columns: String,
    status: String,
    locked: Option<bool>,
    present: bool,
}

fn live_account(conn: &Connection, endpoint: i64, name: &str) -> db::Result<Option<LiveAccount>> {
    conn.prepare_cached(
        "SELECT rowid, columns, status, locked, present FROM accounts
         WHERE endpoint_id = ?1 AND name = ?2",
    )?
    .query_row(params![endpoint, name], |row| {
        Ok(LiveAccount {
            rowid: row.get(0)?,
            columns: row.get(1)?,
            status: row.get(2)?,
            locked: row.get(3)?,
            present: row.get(4)?,
        })
    })
    .optional()
}

/// Whether the account's live links are exactly `links` (in any order, repeats ignored): how
/// many there are if so.
fn same_links(
    conn: &Connection,
    endpoint: i64,
    name: &str,
    links: &[EntitlementRef],
) -> db::Result<Option<u64>> {
    let mut reported: Vec<(&str, &str)> = links
        .iter()
        .map(|link| (link.entitlement_type.as_str(), link.value.as_str()))
        .collect();
    reported.sort_unstable();
    reported.dedup();
    // Sorted here rather than by an ORDER BY, which makes SQLite prepare the statement anew
    // for every account.
    let mut live: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT type, value FROM links WHERE endpoint_id = ?1 AND account_name = ?2",
        )?
        .query_map(params![endpoint, name], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<db::Result<_>>()?;
    live.sort_unstable();
    let same = live.len() == reported.len()
        && live
            .iter()
            .zip(&reported)
            .all(|((t, v), (rt, rv))| t == rt && v == rv);
    Ok(same.then_some(live.len() as u64))
}

/// Stages an account's (encoded) columns with its status and lock, replacing what this run
/// staged for it before, and adds its links. A new account is staged with the links it arrives
/// with, as the audit trail records them (recomputed when applying if it is reported again).
fn stage_account(
    conn: &Connection,
    receiving: &mut Receiving,
    account: &Account,
    columns: &str,
    (status, locked): (&str, Option<bool>),
    is_new: bool,
) -> db::Result<()> {
    let run = receiving.run;
    let arrival = is_new.then(|| arrival_links(&account.entitlements));
    conn.prepare_cached(
        "INSERT INTO staged_accounts (run_id, name, columns, status, locked, is_new, arrival)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (run_id, name) DO UPDATE SET
             columns = excluded.columns, status = excluded.status, locked = excluded.locked,
             arrival = NULL",
    )?
    .execute(params![
        run.0,
        account.name,
        columns,
        status,
        locked,
        is_new,
        arrival
    ])?;
    let inserted = stage_links(conn, run, &account.name, &account.entitlements)?;
    match is_new {
        true => receiving.new_links += inserted as u64,
        false => receiving.existing_staged = true,
    }
    Ok(())
}

/// The most links one statement stages: an account's links go in few statements (round trips
/// to PostgreSQL), each a statement of a handful of sizes.
const LINKS_PER_STATEMENT: usize = 8;

/// The statement staging `n` links (1 to [`LINKS_PER_STATEMENT`]): ?1 run, ?2 account, then
/// each link's type and value.
fn stage_links_sql(n: usize) -> &'static str {
    static SQL: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        (1..=LINKS_PER_STATEMENT)
            .map(|n| {
                let rows: Vec<String> = (0..n)
                    .map(|i| format!("(?1, ?2, ?{}, ?{})", 3 + 2 * i, 4 + 2 * i))
                    .collect();
                format!(
                    "INSERT INTO staged_links (run_id, account_name, type, value) VALUES {}
                     ON CONFLICT DO NOTHING",
                    rows.join(", ")
                )
            })
            .collect()
    });
    &SQL[n.clamp(1, LINKS_PER_STATEMENT) - 1]
}

/// Stages an account's links, each once; returns how many were not staged before.
fn stage_links(
    conn: &Connection,
    run: RunId,
    account: &str,
    links: &[EntitlementRef],
) -> db::Result<usize> {
    let mut inserted = 0;
    for chunk in links.chunks(LINKS_PER_STATEMENT) {
        let mut values = Vec::with_capacity(2 + 2 * chunk.len());
        values.extend([Value::Integer(run.0), Value::Text(account)]);
        for link in chunk {
            values.extend([
                Value::Text(&link.entitlement_type),
                Value::Text(&link.value),
            ]);
        }
        inserted += conn
            .prepare_cached(stage_links_sql(chunk.len()))?
            .execute(params_from_iter(values))?;
    }
    Ok(inserted)
}

/// The links a new account arrives with, as its `new` change records them: a JSON array of
/// `[type, value]` pairs, sorted, each once.
fn arrival_links(links: &[EntitlementRef]) -> String {
    let mut pairs: Vec<[&str; 2]> = links
        .iter()
        .map(|link| [link.entitlement_type.as_str(), link.value.as_str()])
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    // A list of string pairs always serializes.
    serde_json::to_string(&pairs).unwrap_or_default()
}

/// Stages a live account as it is, columns, status, lock and links: one skipped as unchanged
/// that the run reports again. Returns how many links it staged.
fn stage_live(conn: &Connection, run: RunId, endpoint: i64, rowid: i64) -> db::Result<u64> {
    conn.prepare_cached(
        "INSERT INTO staged_accounts (run_id, name, columns, status, locked, is_new)
         SELECT ?1, name, columns, status, locked, 0 FROM accounts WHERE rowid = ?2",
    )?
    .execute(params![run.0, rowid])?;
    let links = conn
        .prepare_cached(
            "INSERT INTO staged_links (run_id, account_name, type, value)
             SELECT ?1, l.account_name, l.type, l.value
             FROM accounts AS a JOIN links AS l ON l.endpoint_id = ?2 AND l.account_name = a.name
             WHERE a.rowid = ?3
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![run.0, endpoint, rowid])?;
    Ok(links as u64)
}

/// The columns staged for an account in this run, if any.
fn staged_columns(conn: &Connection, run: RunId, name: &str) -> db::Result<Option<String>> {
    conn.prepare_cached("SELECT columns FROM staged_accounts WHERE run_id = ?1 AND name = ?2")?
        .query_row(params![run.0, name], |row| row.get(0))
        .optional()
}

/// Stages an entitlement's (encoded) columns, replacing what this run staged for it before.
fn stage_entitlement(
    conn: &Connection,
    run: RunId,
    entitlement: &Entitlement,
    columns: &str,
) -> db::Result<()> {
    conn.prepare_cached(
        "INSERT INTO staged_entitlements (run_id, type, value, columns) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (run_id, type, value) DO UPDATE SET columns = excluded.columns",
    )?
    .execute(params![
        run.0,
        entitlement.entitlement_type,
        entitlement.value,
        columns
    ])?;
    Ok(())
}

/// The status and lock staged with an account: derived by `rules` when the run has them, else
/// the defaults, which applying derives afterwards.
fn derived(rules: Option<&StatusRules>, columns: &Columns) -> (&'static str, Option<bool>) {
    rules.map_or((super::ACTIVE, None), |rules| rules.derive(columns))
}

impl Store {
    /// [`Store::begin_run`], with the policy the run will be completed with: staging then
    /// derives statuses as batches arrive and skips the accounts that did not change.
    pub fn begin_import(
        &mut self,
        endpoint: &str,
        scope: crate::model::ImportScope,
        policy: &Reconciliation,
    ) -> Result<RunId, StoreError> {
        let run = self.begin_run(endpoint, scope)?;
        self.receiving = Some(Receiving::new(run, Some(StatusRules::new(policy))));
        Ok(run)
    }

    /// Stages a batch of accounts in one transaction, skipping the unchanged ones (see the
    /// module's note). An account staged again in the same run has its columns replaced by the
    /// later report; its links add up.
    pub fn stage_accounts(&mut self, run: RunId, accounts: &[Account]) -> Result<(), StoreError> {
        self.stage_account_batch(run, accounts, AccountBatch::Accounts)
    }

    /// Stages a batch of account details in one transaction. Each account's columns merge into
    /// the account staged earlier in this run, else into the live account, else start a new one:
    /// a same-named column takes the detail's value in place, a new column is appended. Its links
    /// add up.
    pub fn stage_account_details(
        &mut self,
        run: RunId,
        accounts: &[Account],
    ) -> Result<(), StoreError> {
        self.stage_account_batch(run, accounts, AccountBatch::Details)
    }

    /// Stages a batch of account records of either kind in one transaction, and counts it.
    fn stage_account_batch(
        &mut self,
        run: RunId,
        accounts: &[Account],
        kind: AccountBatch,
    ) -> Result<(), StoreError> {
        let action = || format!("staging {} of run {run}", kind.what());
        let lease = self.lease.clone();
        let Store {
            conn, receiving, ..
        } = self;
        let tx = super::begin_staging_write(conn, &action)?;
        let (endpoint, _) = runs::running_run(&tx, run, &action)?;
        let receiving = Receiving::for_run(receiving, run);
        let mut links = 0;
        for account in accounts {
            links += len_i64(account.entitlements.len());
            match kind {
                AccountBatch::Accounts => {
                    stage_reported(&tx, endpoint, receiving, account).doing(action)?
                }
                AccountBatch::Details => stage_detail(&tx, endpoint, receiving, account, &action)?,
            }
        }
        let records = len_i64(accounts.len());
        let received = match kind {
            AccountBatch::Accounts => runs::Received {
                accounts: records,
                links,
                ..runs::Received::default()
            },
            AccountBatch::Details => runs::Received {
                account_details: records,
                links,
                ..runs::Received::default()
            },
        };
        runs::record_received(&tx, &lease, run, received).doing(action)?;
        tx.commit().doing(action)
    }

    /// Stages a batch of entitlements in one transaction. An entitlement staged again in the
    /// same run has its columns replaced by the later report.
    pub fn stage_entitlements(
        &mut self,
        run: RunId,
        entitlements: &[Entitlement],
    ) -> Result<(), StoreError> {
        let action = || format!("staging entitlements of run {run}");
        let lease = self.lease.clone();
        let tx = super::begin_staging_write(&mut self.conn, &action)?;
        runs::running_run(&tx, run, &action)?;
        for entitlement in entitlements {
            let columns = encode_columns(&entitlement.columns);
            stage_entitlement(&tx, run, entitlement, &columns).doing(action)?;
        }
        let received = runs::Received {
            entitlements: len_i64(entitlements.len()),
            ..runs::Received::default()
        };
        runs::record_received(&tx, &lease, run, received).doing(action)?;
        tx.commit().doing(action)
    }
}

/// Stages one reported account, or skips it when the run has its policy and nothing of it
/// changed.
fn stage_reported(
    conn: &Connection,
    endpoint: i64,
    receiving: &mut Receiving,
    account: &Account,
) -> db::Result<()> {
    let columns = encode_columns(&account.columns);
    let status = derived(receiving.rules.as_ref(), &account.columns);
    let Some(live) = live_account(conn, endpoint, &account.name)? else {
        return stage_account(conn, receiving, account, &columns, status, true);
    };
    let first_report = receiving.seen.insert(live.rowid);
    if !first_report {
        restage_unchanged(conn, endpoint, receiving, live.rowid)?;
    }
    let same_row = first_report
        && receiving.rules.is_some()
        && live.present
        && live.columns == columns
        && live.status == status.0
        && live.locked == status.1;
    let unchanged_links = match same_row {
        true => same_links(conn, endpoint, &account.name, &account.entitlements)?,
        false => None,
    };
    if let Some(links) = unchanged_links {
        receiving.unchanged.insert(live.rowid);
        receiving.unchanged_links += links;
        return Ok(());
    }
    stage_account(conn, receiving, account, &columns, status, false)
}

/// Stages the live account `rowid` as it is if the run skipped it as unchanged: it reports the
/// account again, and the later report merges into the earlier one.
fn restage_unchanged(
    conn: &Connection,
    endpoint: i64,
    receiving: &mut Receiving,
    rowid: i64,
) -> db::Result<()> {
    if receiving.unchanged.remove(rowid) {
        let links = stage_live(conn, receiving.run, endpoint, rowid)?;
        receiving.unchanged_links -= links;
        receiving.existing_staged = true;
    }
    Ok(())
}

/// Stages one account detail record, merged into what the run staged for the account, else
/// into the live account, else as a new one.
fn stage_detail(
    conn: &Connection,
    endpoint: i64,
    receiving: &mut Receiving,
    account: &Account,
    action: &dyn Fn() -> String,
) -> Result<(), StoreError> {
    let run = receiving.run;
    let live = live_account(conn, endpoint, &account.name).doing(action)?;
    if let Some(live) = &live {
        receiving.seen.insert(live.rowid);
        restage_unchanged(conn, endpoint, receiving, live.rowid).doing(action)?;
    }
    let base = match staged_columns(conn, run, &account.name).doing(action)? {
        Some(staged) => Some(staged),
        None => live.as_ref().map(|live| live.columns.clone()),
    };
    let mut columns = match base {
        Some(text) => decode_columns(&text, || {
            format!("the columns of account {} (run {run})", account.name)
        })?,
        None => Vec::new(),
    };
    merge_columns(&mut columns, &account.columns);
    let status = derived(receiving.rules.as_ref(), &columns);
    let encoded = encode_columns(&columns);
    stage_account(conn, receiving, account, &encoded, status, live.is_none()).doing(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_set_holds_what_was_inserted() {
        let mut set = RowSet::default();
        assert!(set.insert(3));
        assert!(!set.insert(3));
        assert!(set.insert(700));
        assert!(set.contains(3) && set.contains(700) && !set.contains(4));
        assert_eq!(set.len, 2);
        assert!(set.remove(3));
        assert!(!set.remove(3) && !set.remove(10_000));
        assert_eq!((set.len, set.contains(3)), (1, false));
    }
}
