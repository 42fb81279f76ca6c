//! The store's database connection: one API over its two backends, SQLite (one machine, the
//! embedded default) and PostgreSQL (a fleet's shared store).
//!
//! The API is rusqlite's in miniature (`prepare_cached`, `execute`, `query_row`, `query_map`,
//! `params!`, `Row::get`, `optional`), so that the store's modules keep one body of code and one
//! body of SQL for both. Values cross it dynamically typed, as SQLite types them ([`Value`]);
//! PostgreSQL's strict types are met at its edge (`postgres.rs`): a parameter is encoded as the
//! type the server expects, a cell decoded from whatever type it has.
//!
//! The SQL is SQLite's. `postgres.rs` rewrites the few idioms that differ (placeholders, the
//! clock, `temp.` tables) once per statement; the rest is written in the SQL both accept, and
//! the store's tests run against both backends to keep it so.
//!
//! Writes are serialized across every connection to a store, as SQLite does by its file lock:
//! [`Connection::begin_immediate`] takes SQLite's write lock or PostgreSQL's store-wide advisory
//! lock, each waited for no longer than the busy timeout.

mod postgres;
mod sqlite;
mod value;

use std::cell::RefCell;
use std::fmt;
use std::time::Duration;

pub use value::{FromValue, ToValue, Value};

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A database error, from either backend or from converting a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite's.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL's (or the connection's to it).
    #[error("{}", postgres::describe(.0))]
    Postgres(#[from] ::postgres::Error),
    /// A cell does not hold what the store reads from it.
    #[error("column {column} holds {found}, not {expected}")]
    Type {
        /// The column's index in the row.
        column: usize,
        /// What was read.
        expected: &'static str,
        /// What the cell holds.
        found: &'static str,
    },
    /// A statement meant to return a row returned none.
    #[error("the query returned no rows")]
    NoRows,
    /// The server took the connection and then said nothing (not PostgreSQL, or stuck).
    #[error(
        "the server accepted the connection but did not answer within {} s (is it PostgreSQL?)",
        waited.as_secs()
    )]
    Silent {
        /// How long it was waited for.
        waited: std::time::Duration,
    },
}

impl Error {
    /// Whether another connection held the store's write lock past the busy timeout.
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Sqlite(error) => {
                error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
            }
            Error::Postgres(error) => postgres::is_lock_timeout(error),
            _ => false,
        }
    }

    /// Whether the connection to the server is gone (PostgreSQL restarted, network cut): a new
    /// connection may succeed where this one cannot.
    pub fn is_disconnected(&self) -> bool {
        match self {
            Error::Postgres(error) => postgres::is_disconnected(error),
            Error::Silent { .. } => true,
            _ => false,
        }
    }
}

/// The result of a database step.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Ok(None)` for a query that returned no row, as rusqlite's `OptionalExtension`.
pub trait OptionalExtension<T> {
    /// The row's value, or `None` when there was no row.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(Error::NoRows | Error::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The parameters of a statement.
pub trait Params {
    /// The values, in order (`?1` first).
    fn values(&self) -> Vec<Value<'_>>;
}

impl Params for &[&dyn ToValue] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|value| value.to_value()).collect()
    }
}

impl Params for [&dyn ToValue; 0] {
    fn values(&self) -> Vec<Value<'_>> {
        Vec::new()
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToValue> Params for [T; $n] {
            fn values(&self) -> Vec<Value<'_>> {
                self.iter().map(ToValue::to_value).collect()
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8);

/// Parameters from an iterator of values, as rusqlite's `params_from_iter`.
pub struct ParamsFromIter<T>(Vec<T>);

/// Parameters from an iterator of values.
pub fn params_from_iter<T: ToValue>(values: impl IntoIterator<Item = T>) -> ParamsFromIter<T> {
    ParamsFromIter(values.into_iter().collect())
}

impl<T: ToValue> Params for ParamsFromIter<T> {
    fn values(&self) -> Vec<Value<'_>> {
        self.0.iter().map(ToValue::to_value).collect()
    }
}

/// A statement's parameters of mixed types: `params![run.0, name, None::<String>]`.
#[macro_export]
#[doc(hidden)]
macro_rules! store_params {
    () => { &[] as &[&dyn $crate::store::db::ToValue] };
    ($($value:expr),+ $(,)?) => { &[$(&$value as &dyn $crate::store::db::ToValue),+] as &[&dyn $crate::store::db::ToValue] };
}
pub use crate::store_params as params;

/// A connection to the store's database.
pub struct Connection {
    inner: Inner,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(Box<RefCell<postgres::Session>>),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("backend", &self.backend())
            .finish()
    }
}

impl Connection {
    /// A connection on an open SQLite database.
    pub fn sqlite(conn: rusqlite::Connection) -> Connection {
        Connection {
            inner: Inner::Sqlite(conn),
        }
    }

    /// A connection to the PostgreSQL database `url` names (`postgres://…`), waiting at most
    /// `lock_wait` for the store's write lock (and any other lock).
    pub fn postgres(url: &str, lock_wait: Duration) -> Result<Connection> {
        Ok(Connection {
            inner: Inner::Postgres(Box::new(RefCell::new(postgres::Session::connect(
                url, lock_wait,
            )?))),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, online backup); `None` on
    /// PostgreSQL.
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(conn) => Some(conn),
            Inner::Postgres(_) => None,
        }
    }

    /// A prepared statement for `sql`, from the connection's cache when it was prepared before.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            inner: match &self.inner {
                Inner::Sqlite(conn) => StatementInner::Sqlite(conn.prepare_cached(sql)?),
                Inner::Postgres(session) => StatementInner::Postgres {
                    sql: sql.to_owned(),
                    session,
                },
            },
        })
    }

    /// A prepared statement for `sql` ([`Connection::prepare_cached`]: every statement is cached).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
    }

    /// Runs one statement; returns how many rows it changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// Runs a query and maps its first row; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, map)
    }

    /// Runs statements without parameters, separated by semicolons.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Postgres(session) => session.borrow_mut().batch(sql),
        }
    }

    /// Whether no transaction is open.
    pub fn is_autocommit(&self) -> bool {
        match &self.inner {
            Inner::Sqlite(conn) => conn.is_autocommit(),
            Inner::Postgres(session) => !session.borrow().in_transaction(),
        }
    }

    /// Opens a transaction holding the store's write lock: SQLite's `BEGIN IMMEDIATE`, or on
    /// PostgreSQL a transaction that takes the store-wide advisory lock first.
    pub fn begin_immediate(&self) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch("BEGIN IMMEDIATE")?),
            Inner::Postgres(session) => session.borrow_mut().begin_locked(),
        }
    }

    /// Rolls the open transaction back.
    pub fn rollback(&self) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch("ROLLBACK")?),
            Inner::Postgres(session) => session.borrow_mut().end("ROLLBACK"),
        }
    }

    /// A write: a transaction holding the write lock ([`Connection::begin_immediate`]), or a
    /// savepoint when a transaction is already open. Dropped without
    /// [`Transaction::commit`], it rolls back.
    pub fn write(&mut self) -> Result<Transaction<'_>> {
        self.write_locking(true)
    }

    /// A write of what only its own session sees and rows only its own run changes (an
    /// import's staging): on PostgreSQL it leaves the store's write lock to the writes that
    /// need it, so that imports of different endpoints stage side by side. As
    /// [`Connection::write`] on SQLite, whose writes all take the file's lock.
    pub fn write_unlocked(&mut self) -> Result<Transaction<'_>> {
        self.write_locking(false)
    }

    /// [`Connection::write`], taking the store's write lock on PostgreSQL when `lock`.
    fn write_locking(&mut self, lock: bool) -> Result<Transaction<'_>> {
        let nested = !self.is_autocommit();
        if nested {
            self.execute_batch(&format!("SAVEPOINT {SAVEPOINT}"))?;
        } else if let (Inner::Postgres(session), false) = (&self.inner, lock) {
            session.borrow_mut().begin()?;
        } else {
            self.begin_immediate()?;
        }
        Ok(Transaction {
            conn: self,
            nested,
            open: true,
        })
    }
}

/// The name of the savepoints writes nest in an open transaction (a dry run's).
const SAVEPOINT: &str = "dcconn_write";

/// A write in progress ([`Connection::write`]): rolled back when dropped uncommitted.
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    nested: bool,
    open: bool,
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Transaction<'_> {
    /// Commits the transaction, or releases the savepoint into the enclosing one.
    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        if self.nested {
            self.conn.execute_batch(&format!("RELEASE {SAVEPOINT}"))
        } else {
            match &self.conn.inner {
                Inner::Sqlite(conn) => Ok(conn.execute_batch("COMMIT")?),
                Inner::Postgres(session) => session.borrow_mut().end("COMMIT"),
            }
        }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // A failed rollback leaves nothing to do here: SQLite rolls back with the connection,
        // PostgreSQL with the session, and the next write begins afresh.
        let _ = if self.nested {
            self.conn
                .execute_batch(&format!("ROLLBACK TO {SAVEPOINT}; RELEASE {SAVEPOINT}"))
        } else {
            self.conn.rollback()
        };
    }
}

/// A prepared statement.
pub struct Statement<'c> {
    inner: StatementInner<'c>,
}

enum StatementInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    /// Prepared when run, with its parameters' types (`postgres::Session::prepare`).
    Postgres {
        session: &'c RefCell<postgres::Session>,
        sql: String,
    },
}

impl Statement<'_> {
    /// How many columns its rows have.
    #[cfg(test)]
    pub fn column_count(&self) -> usize {
        match &self.inner {
            StatementInner::Sqlite(stmt) => stmt.column_count(),
            StatementInner::Postgres { session, sql } => session
                .borrow_mut()
                .prepare(sql, &[])
                .map_or(0, |statement| statement.columns().len()),
        }
    }

    /// Runs the statement; returns how many rows it changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        let values = params.values();
        match &mut self.inner {
            StatementInner::Sqlite(stmt) => Ok(stmt.execute(sqlite::params(&values))?),
            StatementInner::Postgres { session, sql } => {
                let mut session = session.borrow_mut();
                let statement = session.prepare(sql, &values)?;
                session.execute(&statement, &values)
            }
        }
    }

    /// Runs the query and maps its first row; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(row) => map(&row),
            None => Err(Error::NoRows),
        }
    }

    /// Runs the query; its rows come one at a time from [`Rows::next`].
    pub fn query(&mut self, params: impl Params) -> Result<Rows<'_>> {
        let values = params.values();
        Ok(Rows {
            inner: match &mut self.inner {
                StatementInner::Sqlite(stmt) => {
                    RowsInner::Sqlite(stmt.query(sqlite::params(&values))?)
                }
                StatementInner::Postgres { session, sql } => {
                    let mut session = session.borrow_mut();
                    let statement = session.prepare(sql, &values)?;
                    RowsInner::Postgres {
                        rows: session.query(&statement, &values)?.into_iter(),
                        current: None,
                    }
                }
            },
        })
    }

    /// Runs the query and maps each row, as an iterator.
    pub fn query_map<T, F: FnMut(&Row<'_>) -> Result<T>>(
        &mut self,
        params: impl Params,
        map: F,
    ) -> Result<MappedRows<'_, F>> {
        Ok(MappedRows {
            rows: self.query(params)?,
            map,
        })
    }
}

/// The rows of a query.
///
/// PostgreSQL's come whole from the server before the first is read, so that the session is
/// free for the statements the reader runs in between (SQLite's are stepped one at a time).
pub struct Rows<'s> {
    inner: RowsInner<'s>,
}

enum RowsInner<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres {
        rows: std::vec::IntoIter<::postgres::Row>,
        current: Option<::postgres::Row>,
    },
}

impl Rows<'_> {
    /// The next row, `None` after the last.
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match &mut self.inner {
            RowsInner::Sqlite(rows) => Ok(rows.next()?.map(Row::Sqlite)),
            RowsInner::Postgres { rows, current } => {
                *current = rows.next();
                Ok(current.as_ref().map(Row::Postgres))
            }
        }
    }
}

/// The rows of a query, each mapped ([`Statement::query_map`]).
pub struct MappedRows<'s, F> {
    rows: Rows<'s>,
    map: F,
}

impl<T, F: FnMut(&Row<'_>) -> Result<T>> Iterator for MappedRows<'_, F> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match self.rows.next() {
            Ok(Some(row)) => Some((self.map)(&row)),
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        }
    }
}

/// One row of a query.
pub enum Row<'r> {
    /// SQLite's.
    Sqlite(&'r rusqlite::Row<'r>),
    /// PostgreSQL's.
    Postgres(&'r ::postgres::Row),
}

/// What names a column of a row: its index, from 0.
pub trait ColumnIndex {
    /// The index.
    fn index(self) -> usize;
}

impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

impl Row<'_> {
    /// The value of column `column`, converted as SQLite would.
    pub fn get<I: ColumnIndex, T: FromValue>(&self, column: I) -> Result<T> {
        let column = column.index();
        let value = match self {
            Row::Sqlite(row) => sqlite::cell(row, column)?,
            Row::Postgres(row) => postgres::cell(row, column)?,
        };
        T::from_value(value).map_err(|(expected, found)| Error::Type {
            column,
            expected,
            found,
        })
    }
}
