//! SQLite's side of the store's database API: values to and from rusqlite's.

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::{Error, Result, Value};

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Integer(n) => ValueRef::Integer(n),
            Value::Real(x) => ValueRef::Real(x),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// The values as rusqlite's parameters.
pub(super) fn params<'a>(values: &'a [Value<'a>]) -> impl rusqlite::Params + 'a {
    rusqlite::params_from_iter(values.iter())
}

/// Column `column` of `row`.
pub(super) fn cell<'r>(row: &'r rusqlite::Row<'_>, column: usize) -> Result<Value<'r>> {
    Ok(match row.get_ref(column)? {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Integer(n),
        ValueRef::Real(x) => Value::Real(x),
        ValueRef::Text(bytes) => Value::Text(
            std::str::from_utf8(bytes)
                .map_err(|error| Error::Sqlite(rusqlite::Error::Utf8Error(column, error)))?,
        ),
        ValueRef::Blob(bytes) => Value::Blob(bytes),
    })
}
