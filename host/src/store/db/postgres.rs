//! PostgreSQL's side of the store's database API: the session (statement cache, transaction,
//! the store-wide write lock), SQLite's SQL rewritten for PostgreSQL, and values encoded as the
//! types the server expects and decoded from whatever types it sends.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::str::FromStr;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use postgres::error::SqlState;
use postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, NoTls, Statement};

use super::{Error, Result, Value};

/// The advisory lock every write of a store takes first (the bytes of "dcconn"): writes are
/// serialized across connections, as SQLite's file lock serializes them.
const WRITE_LOCK: i64 = 0x6463_636f_6e6e;

/// How long connecting may take before it is given up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The time format of the store's timestamps (RFC 3339 UTC with milliseconds), in `to_char`'s
/// terms.
macro_rules! timestamp_format {
    () => {
        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"
    };
}

/// SQLite idioms of the store's SQL and what PostgreSQL says instead. Every statement passes
/// through this table before its placeholders are renumbered (`?1` to `$1`).
const IDIOMS: [(&str, &str); 9] = [
    // SQLite keeps a column out of index selection by a unary `+`; PostgreSQL has none on text.
    ("+next_attempt_at", "next_attempt_at"),
    ("+lease_until", "lease_until"),
    // The clock, and a time plus a modifier such as `+1.500 seconds` or `-30 days`.
    (
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        concat!(
            "to_char(clock_timestamp() AT TIME ZONE 'UTC', ",
            timestamp_format!(),
            ")"
        ),
    ),
    (
        "strftime('%Y-%m-%dT%H:%M:%fZ', ?1, ?2)",
        concat!(
            "to_char((CAST(CAST(?1 AS text) AS timestamptz) + CAST(CAST(?2 AS text) AS interval))",
            " AT TIME ZONE 'UTC', ",
            timestamp_format!(),
            ")"
        ),
    ),
    // Seconds from now until a time, to the millisecond: the clock cut to the millisecond, as
    // the store's times are (to_char's `MS` cuts too).
    (
        "round((julianday(?1) - julianday('now')) * 86400000.0) / 1000.0",
        "round(EXTRACT(EPOCH FROM (CAST(CAST(?1 AS text) AS timestamptz) - date_trunc('milliseconds', clock_timestamp()))) * 1000) / 1000.0",
    ),
    // A new account's links as a JSON array of `[type, value]` pairs, written as compactly as
    // serde_json writes them; NULL (not `[]`) for none, which the statement treats alike.
    (
        "json_group_array(json_array(l.type, l.value))",
        "'[' || string_agg('[' || to_json(l.type)::text || ',' || to_json(l.value)::text || ']', ',' ORDER BY l.type, l.value) || ']'",
    ),
    (
        "json_array_length(new)",
        "json_array_length(CAST(new AS json))",
    ),
    (
        "json_array_length(c.new)",
        "json_array_length(CAST(c.new AS json))",
    ),
    (
        "SELECT value FROM json_each(?4)",
        "SELECT value FROM json_array_elements_text(CAST(?4 AS json))",
    ),
];

/// Connects as `config` says, waiting at most `limit`: its connect timeout bounds the TCP
/// connection only, and a server that takes it and then says nothing would be waited for
/// forever. The connecting thread is left behind when the server stays silent.
fn connect_within(config: Config, limit: Duration) -> Result<Client> {
    let (connected, result) = std::sync::mpsc::channel();
    let connecting = config.clone();
    let spawned = std::thread::Builder::new()
        .name("dcconn-pg-connect".to_owned())
        .spawn(move || {
            let _ = connected.send(connecting.connect(NoTls));
        });
    if spawned.is_err() {
        // No thread to spare: connect on this one, unbounded.
        return Ok(config.connect(NoTls)?);
    }
    match result.recv_timeout(limit) {
        Ok(client) => Ok(client?),
        Err(_) => Err(Error::Silent { waited: limit }),
    }
}

/// One connection to the server, with its prepared statements.
pub(super) struct Session {
    client: Client,
    statements: HashMap<String, Statement>,
    in_transaction: bool,
}

impl Session {
    /// Connects to `url`; every lock is waited for at most `lock_wait`.
    pub(super) fn connect(url: &str, lock_wait: Duration) -> Result<Session> {
        let mut config = Config::from_str(url)?;
        config
            .application_name("dcconn")
            .connect_timeout(CONNECT_TIMEOUT);
        if config.get_password().is_none()
            && let Some(password) = std::env::var_os("PGPASSWORD")
        {
            config.password(password.as_encoded_bytes());
        }
        let mut client = connect_within(config, CONNECT_TIMEOUT.saturating_mul(2))?;
        client.batch_execute(&format!(
            "SET lock_timeout = '{}ms'; SET TIME ZONE 'UTC'",
            lock_wait.as_millis()
        ))?;
        Ok(Session {
            client,
            statements: HashMap::new(),
            in_transaction: false,
        })
    }

    /// The statement for `sql` (SQLite's) with parameters of the kinds `values` have, prepared
    /// once per session and kinds.
    ///
    /// Each parameter is declared with its value's type (a NULL's is left to the server to
    /// infer), as SQLite takes any value anywhere: a parameter the server could not type from
    /// its place alone (`SELECT ?2, ?3 ...`, `?1 IS NULL`) is typed by its value.
    pub(super) fn prepare(&mut self, sql: &str, values: &[Value<'_>]) -> Result<Statement> {
        let types: Vec<Type> = values.iter().map(declared_type).collect();
        let mut key = String::with_capacity(sql.len() + types.len() + 1);
        key.push_str(sql);
        key.push('\0');
        key.extend(values.iter().map(|value| kind_letter(value)));
        if let Some(statement) = self.statements.get(&key) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare_typed(&translate(sql), &types)?;
        self.statements.insert(key, statement.clone());
        Ok(statement)
    }

    /// Runs a prepared statement; returns how many rows it changed.
    pub(super) fn execute(&mut self, statement: &Statement, values: &[Value<'_>]) -> Result<usize> {
        let changed = self.client.execute(statement, &bound(values))?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    /// Runs a prepared query; returns all its rows.
    pub(super) fn query(
        &mut self,
        statement: &Statement,
        values: &[Value<'_>],
    ) -> Result<Vec<postgres::Row>> {
        Ok(self.client.query(statement, &bound(values))?)
    }

    /// Runs statements without parameters.
    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.client.batch_execute(&translate(sql))?)
    }

    /// Whether a transaction is open.
    pub(super) fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Opens a transaction.
    pub(super) fn begin(&mut self) -> Result<()> {
        self.client.batch_execute("BEGIN")?;
        self.in_transaction = true;
        Ok(())
    }

    /// Opens a transaction and takes the store's write lock in it.
    pub(super) fn begin_locked(&mut self) -> Result<()> {
        self.begin()?;
        let locked = self
            .client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]);
        if let Err(error) = locked {
            self.end("ROLLBACK")?;
            return Err(error.into());
        }
        Ok(())
    }

    /// Ends the open transaction with `COMMIT` or `ROLLBACK`.
    pub(super) fn end(&mut self, how: &str) -> Result<()> {
        self.in_transaction = false;
        Ok(self.client.batch_execute(how)?)
    }
}

/// The type a parameter holding `value` is declared with: `unknown` (inferred) for NULL.
fn declared_type(value: &Value<'_>) -> Type {
    match value {
        Value::Null => Type::UNKNOWN,
        Value::Integer(_) => Type::INT8,
        Value::Real(_) => Type::FLOAT8,
        Value::Text(_) => Type::TEXT,
        Value::Blob(_) => Type::BYTEA,
    }
}

/// A letter for the kind of `value`, for the statement cache's key.
fn kind_letter(value: &Value<'_>) -> char {
    match value {
        Value::Null => 'n',
        Value::Integer(_) => 'i',
        Value::Real(_) => 'r',
        Value::Text(_) => 't',
        Value::Blob(_) => 'b',
    }
}

/// The values as the client binds them.
fn bound<'a>(values: &'a [Value<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    values
        .iter()
        .map(|value| value as &(dyn ToSql + Sync))
        .collect()
}

/// SQLite's `sql` as PostgreSQL takes it: [`IDIOMS`] replaced, `temp.` tables as `pg_temp.`,
/// `rowid` as `id`,
/// then `?N` placeholders as `$N` (a bare `?` numbered after the one before), outside quotes.
pub(super) fn translate(sql: &str) -> String {
    let sql = IDIOMS
        .iter()
        .fold(sql.to_owned(), |sql, (sqlite, postgres)| {
            sql.replace(sqlite, postgres)
        });
    let mut out = String::with_capacity(sql.len() + 16);
    let mut quote = None;
    let mut last = 0_u32;
    let mut chars = sql.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if let Some(open) = quote {
            quote = (c != open).then_some(open);
            out.push(c);
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '?' => {
                let mut digits = String::new();
                while let Some((_, d)) = chars.next_if(|(_, d)| d.is_ascii_digit()) {
                    digits.push(d);
                }
                last = digits.parse().unwrap_or(last + 1);
                out.push('$');
                out.push_str(&last.to_string());
                continue;
            }
            't' if sql[at..].starts_with("temp.") && !out.ends_with(is_identifier_char) => {
                out.push_str("pg_");
            }
            'r' if is_word(&sql, at, "rowid") && !out.ends_with(is_identifier_char) => {
                // SQLite's implicit row id is the `id` column of PostgreSQL's tables.
                out.push_str("id");
                for _ in 0.."rowid".len() - 1 {
                    chars.next();
                }
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Whether `word` is at `at` in `sql`, and not the start of a longer name.
fn is_word(sql: &str, at: usize, word: &str) -> bool {
    sql[at..].starts_with(word)
        && !sql[at + word.len()..]
            .chars()
            .next()
            .is_some_and(is_identifier_char)
}

/// Whether `c` may be part of an unquoted SQL name.
fn is_identifier_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Column `column` of `row`.
pub(super) fn cell(row: &postgres::Row, column: usize) -> Result<Value<'_>> {
    Ok(row.try_get::<_, Cell<'_>>(column)?.0)
}

/// What the server said, for a message: its message, detail and code.
pub(super) fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let detail = db.detail().map(|d| format!(" ({d})")).unwrap_or_default();
            format!("{}{detail} [SQLSTATE {}]", db.message(), db.code().code())
        }
        None => {
            let mut text = error.to_string();
            let mut source = error.source();
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}

/// Whether the error is a lock waited for past `lock_timeout`.
pub(super) fn is_lock_timeout(error: &postgres::Error) -> bool {
    error.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
}

/// Whether the connection is gone: closed, cut, or the server shutting down.
pub(super) fn is_disconnected(error: &postgres::Error) -> bool {
    error.is_closed()
        || error.code().is_some_and(|code| {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                ]
                .contains(code)
        })
        || error
            .source()
            .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some())
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(n) => integer_to_sql(n, ty, out),
            Value::Real(x) if *ty == Type::FLOAT8 => x.to_sql(ty, out),
            #[allow(clippy::cast_possible_truncation)]
            Value::Real(x) if *ty == Type::FLOAT4 => (x as f32).to_sql(ty, out),
            Value::Text(text) if *ty == Type::JSON => {
                out.put_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            Value::Text(text) if *ty == Type::JSONB => {
                out.put_u8(1);
                out.put_slice(text.as_bytes());
                Ok(IsNull::No)
            }
            Value::Text(text) if <&str as ToSql>::accepts(ty) => text.to_sql(ty, out),
            Value::Blob(bytes) if *ty == Type::BYTEA => bytes.to_sql(ty, out),
            other => {
                Err(format!("cannot bind {} to a parameter of type {ty}", other.kind()).into())
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// An integer as a parameter of type `ty`.
fn integer_to_sql(n: i64, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    if *ty == Type::INT8 {
        n.to_sql(ty, out)
    } else if *ty == Type::INT4 {
        i32::try_from(n)?.to_sql(ty, out)
    } else if *ty == Type::INT2 {
        i16::try_from(n)?.to_sql(ty, out)
    } else if *ty == Type::BOOL {
        (n != 0).to_sql(ty, out)
    } else if *ty == Type::FLOAT8 {
        #[allow(clippy::cast_precision_loss)]
        (n as f64).to_sql(ty, out)
    } else if <&str as ToSql>::accepts(ty) {
        n.to_string().as_str().to_sql(ty, out)
    } else {
        Err(format!("cannot bind an integer to a parameter of type {ty}").into())
    }
}

/// A cell of any type, read as SQLite would hold it.
struct Cell<'a>(Value<'a>);

impl<'a> FromSql<'a> for Cell<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let value = if *ty == Type::BOOL {
            Value::Integer(i64::from(bool::from_sql(ty, raw)?))
        } else if *ty == Type::INT2 {
            Value::Integer(i64::from(i16::from_sql(ty, raw)?))
        } else if *ty == Type::INT4 {
            Value::Integer(i64::from(i32::from_sql(ty, raw)?))
        } else if *ty == Type::INT8 {
            Value::Integer(i64::from_sql(ty, raw)?)
        } else if *ty == Type::OID {
            Value::Integer(i64::from(u32::from_sql(ty, raw)?))
        } else if *ty == Type::FLOAT4 {
            Value::Real(f64::from(f32::from_sql(ty, raw)?))
        } else if *ty == Type::FLOAT8 {
            Value::Real(f64::from_sql(ty, raw)?)
        } else if *ty == Type::NUMERIC {
            numeric(raw)?
        } else if *ty == Type::BYTEA {
            Value::Blob(raw)
        } else if *ty == Type::JSONB {
            Value::Text(std::str::from_utf8(raw.get(1..).unwrap_or_default())?)
        } else {
            Value::Text(std::str::from_utf8(raw)?)
        };
        Ok(Cell(value))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A NUMERIC in PostgreSQL's binary form (base-10000 digits): an integer when it has no
/// fraction and fits, else the nearest float. `sum()` of integers is one.
fn numeric(raw: &[u8]) -> Result<Value<'static>, BoxError> {
    let word = |i: usize| -> Result<i16, BoxError> {
        let bytes = raw.get(2 * i..2 * i + 2).ok_or("a NUMERIC cut short")?;
        Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
    };
    let (ndigits, weight, sign, scale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut integer: Option<i64> = Some(0);
    let mut real = 0.0_f64;
    for i in 0..usize::try_from(ndigits).unwrap_or(0) {
        let digit = i64::from(word(4 + i)?);
        let power = i32::from(weight) - i32::try_from(i).unwrap_or(i32::MAX);
        real += digit as f64 * 10_000_f64.powi(power);
        integer = match u32::try_from(power) {
            Ok(power) => integer.and_then(|n| {
                10_000_i64
                    .checked_pow(power)
                    .and_then(|p| digit.checked_mul(p))
                    .and_then(|d| n.checked_add(d))
            }),
            Err(_) if digit == 0 => integer,
            Err(_) => None,
        };
    }
    let negative = sign == 0x4000;
    Ok(match integer {
        Some(n) if scale == 0 => Value::Integer(if negative { -n } else { n }),
        _ => Value::Real(if negative { -real } else { real }),
    })
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn placeholders_are_renumbered_outside_quotes() {
        assert_eq!(
            translate("SELECT ?1, '?2', \"a?\" FROM t WHERE x = ? AND y = ?3 AND z = ?"),
            "SELECT $1, '?2', \"a?\" FROM t WHERE x = $2 AND y = $3 AND z = $4"
        );
        assert_eq!(translate("SELECT 'it''s ?'"), "SELECT 'it''s ?'");
        assert_eq!(
            translate("SELECT a.attempt FROM task_attempts a, temp.x, (temp.y)"),
            "SELECT a.attempt FROM task_attempts a, pg_temp.x, (pg_temp.y)"
        );
        assert_eq!(
            translate("SELECT rowid, a.rowid, rowids FROM accounts a"),
            "SELECT id, a.id, rowids FROM accounts a"
        );
    }

    #[test]
    fn sqlite_idioms_become_postgres() {
        assert_eq!(
            translate(
                "DELETE FROM temp.missing_accounts WHERE x < strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
            ),
            "DELETE FROM pg_temp.missing_accounts WHERE x < to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        );
    }
}
