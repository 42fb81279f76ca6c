//! The host's state: what imports brought in, kept in one embedded SQLite file.
//!
//! One file holds several Duck Creek instances side by side; everything belongs to an *endpoint*
//! (by default the connection's name), and an unknown endpoint simply has nothing.
//!
//! An import is a *run*. It streams batches, and each batch is written in its own transaction, so
//! memory stays flat and nothing received is lost; but batches go to staging tables keyed by the
//! run, not to the live tables. Only [`Store::complete_run`] applies the staging to the live data,
//! in one transaction, with set-based SQL. A failed run ([`Store::fail_run`]) or a killed process
//! therefore never changes live data: [`Store::recover_interrupted`] later marks such runs failed
//! and drops their staging.
//!
//! Applying never deletes: accounts and entitlements are upserted, links inserted, and everything
//! reported gets `last_seen_run` set to the run, which is what a later reconciliation of removals
//! will build on.
//!
//! Concurrency: readers may use the file at any time (WAL journal). Imports are single-writer per
//! file: the importing process calls [`Store::recover_interrupted`] first, which would also fail a
//! run another process still has in progress. Nothing in this module enforces that; the host runs
//! one import at a time.

mod schema;
mod sql;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use serde::Serialize;

use crate::model::{Account, Columns, Entitlement, EntitlementRef, ImportScope};

/// How long a statement waits for another connection's lock before failing: long enough to ride
/// out another process's batch commit, short enough to report a stuck writer.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection; comfortably more than the statements this module has.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// The status of an account or entitlement the target reports.
pub const ACTIVE: &str = "active";

/// The error recorded on runs found `running` by [`Store::recover_interrupted`].
pub const INTERRUPTED: &str = "interrupted (the process stopped before the import finished)";

/// The kind recorded for import runs.
const IMPORT_KIND: &str = "import";

/// Identifies a run (an import) in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// Begun and neither completed nor failed (or interrupted and not yet recovered).
    Running,
    /// Completed; its data was applied.
    Succeeded,
    /// Failed or interrupted; nothing it received was applied.
    Failed,
}

impl RunOutcome {
    /// The outcome as stored and displayed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed => "failed",
        }
    }

    /// Parses a stored outcome.
    fn from_db(text: &str) -> Option<RunOutcome> {
        [
            RunOutcome::Running,
            RunOutcome::Succeeded,
            RunOutcome::Failed,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAccount {
    /// The account name.
    pub name: String,
    /// The account's columns, in the order they were reported (details appended).
    pub columns: Columns,
    /// `active` for accounts the target reports.
    pub status: String,
    /// The entitlements the account holds, sorted by type then value.
    pub entitlements: Vec<EntitlementRef>,
}

/// An entitlement as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredEntitlement {
    /// The entitlement type, such as `Role`.
    pub entitlement_type: String,
    /// The entitlement value, unique within its type.
    pub value: String,
    /// The entitlement's columns, in the order they were reported.
    pub columns: Columns,
    /// `active` for entitlements the target reports.
    pub status: String,
}

/// One run as recorded.
///
/// While a run is `running` its counts are the records received so far (duplicates included);
/// once it succeeded they are the distinct records applied, with the new/updated split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: i64,
    /// The endpoint the run imported from.
    pub endpoint: String,
    /// What the run did: `import`.
    pub kind: String,
    /// The import scope: `accounts`, `access` or `all`.
    pub scope: String,
    /// When it began, RFC 3339 UTC.
    pub started_at: String,
    /// When it ended, RFC 3339 UTC; `None` while running.
    pub finished_at: Option<String>,
    /// Where it stands.
    pub outcome: RunOutcome,
    /// Why it failed, for failed runs.
    pub error: Option<String>,
    /// Accounts reported.
    pub accounts: u64,
    /// Account detail records (per-account calls) received.
    pub account_details: u64,
    /// Entitlements reported.
    pub entitlements: u64,
    /// Account–entitlement links reported.
    pub links: u64,
    /// Accounts the store did not have before the run.
    pub new_accounts: u64,
    /// Accounts whose columns (or status) the run changed.
    pub updated_accounts: u64,
    /// Entitlements the store did not have before the run.
    pub new_entitlements: u64,
    /// Entitlements whose columns (or status) the run changed.
    pub updated_entitlements: u64,
}

/// What [`Store::complete_run`] applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The run's id.
    pub run: i64,
    /// Distinct accounts reported.
    pub accounts: u64,
    /// Of those, accounts the store did not have.
    pub new_accounts: u64,
    /// Of those, accounts that existed and whose columns (or status) changed.
    pub updated_accounts: u64,
    /// Account detail records received.
    pub account_details: u64,
    /// Distinct entitlements reported.
    pub entitlements: u64,
    /// Of those, entitlements the store did not have.
    pub new_entitlements: u64,
    /// Of those, entitlements that existed and whose columns (or status) changed.
    pub updated_entitlements: u64,
    /// Distinct account–entitlement links reported.
    pub links: u64,
}

/// A problem with the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file cannot be opened or prepared for use.
    #[error("cannot open the store at {}: {source}; check that its folder exists and is writable, and that the file is a dcconn store", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file was written by a newer program with a schema this one does not know.
    #[error("the store at {} has schema version {found}, newer than version {supported} that this dcconn knows; use a newer dcconn", path.display())]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The newest schema version this program knows.
        supported: i64,
    },
    /// A database operation failed.
    #[error("SQLite failed while {action}: {source}")]
    Sqlite {
        /// What was being done, such as "staging accounts of run 7".
        action: String,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The run id is not in the store.
    #[error("there is no run {run} in the store")]
    UnknownRun {
        /// The run id.
        run: i64,
    },
    /// The run has already ended; nothing more can be staged, completed or failed in it.
    #[error("run {run} has already {outcome}; start a new run")]
    RunEnded {
        /// The run id.
        run: i64,
        /// How it ended.
        outcome: RunOutcome,
    },
    /// An endpoint name is empty.
    #[error("an endpoint name must not be empty")]
    EmptyEndpoint,
    /// The file holds data this program cannot read back (edited by something else?).
    #[error(
        "the store holds unreadable data in {what}: {problem}; was the file changed by another program?"
    )]
    Corrupt {
        /// Where the data is, such as "the columns of account jdoe of endpoint prod".
        what: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Adds what was being done to a rusqlite error.
trait Doing<T> {
    /// Wraps the error in [`StoreError::Sqlite`] with the action `action` describes.
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> Doing<T> for rusqlite::Result<T> {
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite {
            action: action(),
            source,
        })
    }
}

/// Encodes columns as a JSON array of `[name, value]` pairs, which keeps their order.
fn encode_columns(columns: &[(String, String)]) -> String {
    use serde_json::Value;
    Value::Array(
        columns
            .iter()
            .map(|(k, v)| Value::Array(vec![Value::from(k.as_str()), Value::from(v.as_str())]))
            .collect(),
    )
    .to_string()
}

/// Decodes [`encode_columns`]'s text; `what` names the owner for the error.
fn decode_columns(text: &str, what: impl FnOnce() -> String) -> Result<Columns, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: what(),
        problem: e.to_string(),
    })
}

/// Merges detail columns into `base`: a same-named column takes the detail's value in place, a
/// new one is appended.
fn merge_columns(base: &mut Columns, detail: &[(String, String)]) {
    for (name, value) in detail {
        match base.iter_mut().find(|(existing, _)| existing == name) {
            Some((_, old)) => old.clone_from(value),
            None => base.push((name.clone(), value.clone())),
        }
    }
}

/// Converts a stored count (never negative) to `u64`.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Converts a length to what SQLite stores, saturating (a batch never comes near `i64::MAX`).
fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The endpoint id of a run that is still running; an error for unknown or ended runs.
fn running_run(
    conn: &Connection,
    run: RunId,
    action: &dyn Fn() -> String,
) -> Result<i64, StoreError> {
    let Some((endpoint, outcome)) = sql::run_state(conn, run).doing(action)? else {
        return Err(StoreError::UnknownRun { run: run.0 });
    };
    match parse_outcome(run.0, &outcome)? {
        RunOutcome::Running => Ok(endpoint),
        outcome => Err(StoreError::RunEnded {
            run: run.0,
            outcome,
        }),
    }
}

/// Parses a stored outcome; anything else means the file was edited.
fn parse_outcome(run: i64, text: &str) -> Result<RunOutcome, StoreError> {
    RunOutcome::from_db(text).ok_or_else(|| StoreError::Corrupt {
        what: format!("the outcome of run {run}"),
        problem: format!("unknown outcome {text:?}"),
    })
}

/// The state of one or more Duck Creek instances, in one SQLite file.
pub struct Store {
    conn: Connection,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.conn.path())
            .finish()
    }
}

impl Store {
    /// Opens the store at `path`, creating the file and its schema, or migrating an older schema,
    /// as needed. Sets WAL journaling, `synchronous=NORMAL`, foreign keys and a busy timeout.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(open_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_error)?;
        match schema::migrate(&mut conn).map_err(open_error)? {
            schema::Migration::Current => Ok(Store { conn }),
            schema::Migration::TooNew(found) => Err(StoreError::TooNew {
                path: path.to_owned(),
                found,
                supported: schema::VERSION,
            }),
        }
    }

    /// Starts a write transaction that takes the write lock at once, so that another writer is
    /// waited for (busy timeout) rather than failing a lock upgrade halfway.
    fn write(&mut self, action: &dyn Fn() -> String) -> Result<Transaction<'_>, StoreError> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .doing(action)
    }

    /// Marks every `running` run failed with [`INTERRUPTED`] and deletes all staging; returns how
    /// many runs it marked. The importing process calls it before it begins a run (see the
    /// module's note on concurrency).
    pub fn recover_interrupted(&mut self) -> Result<usize, StoreError> {
        let action = || "recovering interrupted runs".to_owned();
        let tx = self.write(&action)?;
        let marked = sql::mark_interrupted(&tx).doing(action)?;
        tx.commit().doing(action)?;
        Ok(marked)
    }

    /// Starts an import run for `endpoint` (created if new) and returns its id.
    pub fn begin_run(&mut self, endpoint: &str, scope: ImportScope) -> Result<RunId, StoreError> {
        if endpoint.is_empty() {
            return Err(StoreError::EmptyEndpoint);
        }
        let action = || format!("starting a run for endpoint {endpoint}");
        let tx = self.write(&action)?;
        let run = sql::insert_run(&tx, endpoint, IMPORT_KIND, scope.as_str()).doing(action)?;
        tx.commit().doing(action)?;
        Ok(RunId(run))
    }

    /// Stages a batch of accounts in one transaction. An account staged again in the same run
    /// has its columns replaced by the later report; its links add up.
    pub fn stage_accounts(&mut self, run: RunId, accounts: &[Account]) -> Result<(), StoreError> {
        let action = || format!("staging accounts of run {run}");
        let tx = self.write(&action)?;
        running_run(&tx, run, &action)?;
        let mut links = 0;
        for account in accounts {
            let columns = encode_columns(&account.columns);
            links += sql::stage_account(&tx, run, &account.name, &columns, &account.entitlements)
                .doing(action)?;
        }
        sql::add_received(&tx, run, len_i64(accounts.len()), 0, 0, links).doing(action)?;
        tx.commit().doing(action)
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
        let action = || format!("staging account details of run {run}");
        let tx = self.write(&action)?;
        let endpoint = running_run(&tx, run, &action)?;
        let mut links = 0;
        for account in accounts {
            let base = sql::base_columns(&tx, endpoint, run, &account.name).doing(action)?;
            let mut columns = match base {
                Some(text) => decode_columns(&text, || {
                    format!("the columns of account {} (run {run})", account.name)
                })?,
                None => Vec::new(),
            };
            merge_columns(&mut columns, &account.columns);
            let columns = encode_columns(&columns);
            links += sql::stage_account(&tx, run, &account.name, &columns, &account.entitlements)
                .doing(action)?;
        }
        sql::add_received(&tx, run, 0, len_i64(accounts.len()), 0, links).doing(action)?;
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
        let tx = self.write(&action)?;
        running_run(&tx, run, &action)?;
        for entitlement in entitlements {
            let columns = encode_columns(&entitlement.columns);
            sql::stage_entitlement(
                &tx,
                run,
                &entitlement.entitlement_type,
                &entitlement.value,
                &columns,
            )
            .doing(action)?;
        }
        sql::add_received(&tx, run, 0, 0, len_i64(entitlements.len()), 0).doing(action)?;
        tx.commit().doing(action)
    }

    /// Applies the run's staging to the live data (accounts and entitlements upserted as
    /// `active`, links added, `last_seen_run` set on all of them; nothing deleted), deletes the
    /// staging and marks the run succeeded, all in one transaction.
    pub fn complete_run(&mut self, run: RunId) -> Result<RunSummary, StoreError> {
        let action = || format!("applying run {run}");
        let tx = self.write(&action)?;
        let endpoint = running_run(&tx, run, &action)?;
        let summary = sql::apply_run(&tx, endpoint, run).doing(action)?;
        tx.commit().doing(action)?;
        Ok(summary)
    }

    /// Deletes the run's staging and marks it failed with `error`; live data is untouched.
    pub fn fail_run(&mut self, run: RunId, error: &str) -> Result<(), StoreError> {
        let action = || format!("recording the failure of run {run}");
        let tx = self.write(&action)?;
        running_run(&tx, run, &action)?;
        sql::discard_run(&tx, run, error).doing(action)?;
        tx.commit().doing(action)
    }

    /// The endpoint's accounts ordered by name, each with its links sorted by type then value.
    /// An unknown endpoint has none.
    pub fn accounts(&self, endpoint: &str) -> Result<Vec<StoredAccount>, StoreError> {
        let action = || format!("reading the accounts of endpoint {endpoint}");
        let Some(id) = sql::endpoint_id(&self.conn, endpoint).doing(action)? else {
            return Ok(Vec::new());
        };
        let rows = sql::account_rows(&self.conn, id).doing(action)?;
        let links = sql::link_rows(&self.conn, id).doing(action)?;
        // Both lists are sorted by account name (SQLite's BINARY collation is byte order, as is
        // `str`'s), so one pass pairs them.
        let mut links = links.into_iter().peekable();
        let mut accounts = Vec::with_capacity(rows.len());
        for (name, columns, status) in rows {
            let mut entitlements = Vec::new();
            while let Some((account, _)) = links.peek() {
                if account.as_str() > name.as_str() {
                    break;
                }
                if let Some((account, link)) = links.next()
                    && account == name
                {
                    entitlements.push(link);
                }
            }
            let columns = decode_columns(&columns, || {
                format!("the columns of account {name} of endpoint {endpoint}")
            })?;
            accounts.push(StoredAccount {
                name,
                columns,
                status,
                entitlements,
            });
        }
        Ok(accounts)
    }

    /// One account of the endpoint with its links, `None` if the store does not have it.
    pub fn account(&self, endpoint: &str, name: &str) -> Result<Option<StoredAccount>, StoreError> {
        let action = || format!("reading account {name} of endpoint {endpoint}");
        let Some(id) = sql::endpoint_id(&self.conn, endpoint).doing(action)? else {
            return Ok(None);
        };
        let Some((name, columns, status)) = sql::account_row(&self.conn, id, name).doing(action)?
        else {
            return Ok(None);
        };
        let entitlements = sql::account_links(&self.conn, id, &name).doing(action)?;
        let columns = decode_columns(&columns, || {
            format!("the columns of account {name} of endpoint {endpoint}")
        })?;
        Ok(Some(StoredAccount {
            name,
            columns,
            status,
            entitlements,
        }))
    }

    /// The endpoint's entitlements, of one type or of all, ordered by type then value. An
    /// unknown endpoint has none.
    pub fn entitlements(
        &self,
        endpoint: &str,
        entitlement_type: Option<&str>,
    ) -> Result<Vec<StoredEntitlement>, StoreError> {
        let action = || format!("reading the entitlements of endpoint {endpoint}");
        let Some(id) = sql::endpoint_id(&self.conn, endpoint).doing(action)? else {
            return Ok(Vec::new());
        };
        sql::entitlement_rows(&self.conn, id, entitlement_type)
            .doing(action)?
            .into_iter()
            .map(|(entitlement_type, value, columns, status)| {
                let columns = decode_columns(&columns, || {
                    format!(
                        "the columns of entitlement {entitlement_type} {value} of endpoint {endpoint}"
                    )
                })?;
                Ok(StoredEntitlement {
                    entitlement_type,
                    value,
                    columns,
                    status,
                })
            })
            .collect()
    }

    /// The endpoint's runs, newest first. An unknown endpoint has none.
    pub fn runs(&self, endpoint: &str) -> Result<Vec<RunRecord>, StoreError> {
        let action = || format!("reading the runs of endpoint {endpoint}");
        sql::run_rows(&self.conn, endpoint)
            .doing(action)?
            .into_iter()
            .map(|(mut record, outcome)| {
                record.outcome = parse_outcome(record.id, &outcome)?;
                Ok(record)
            })
            .collect()
    }

    /// The names of all endpoints the store knows, sorted.
    pub fn endpoints(&self) -> Result<Vec<String>, StoreError> {
        sql::endpoint_names(&self.conn).doing(|| "listing endpoints".to_owned())
    }
}
