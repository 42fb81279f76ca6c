//! Values as they cross the store's database API: SQLite's dynamic types, which both backends
//! are read and written through.

/// One value: a parameter, or a cell of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// An integer (PostgreSQL's booleans too: 0 or 1).
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(&'a str),
    /// Bytes.
    Blob(&'a [u8]),
}

impl Value<'_> {
    /// What kind of value it is, for an error.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Integer(_) => "an integer",
            Value::Real(_) => "a real number",
            Value::Text(_) => "text",
            Value::Blob(_) => "a blob",
        }
    }
}

/// What can be a statement's parameter.
pub trait ToValue {
    /// The value to bind.
    fn to_value(&self) -> Value<'_>;
}

macro_rules! integer_to_value {
    ($($t:ty)*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value<'_> {
                Value::Integer(i64::from(*self))
            }
        }
    )*};
}
integer_to_value!(i64 i32 u32 i16 u16 u8 bool);

impl ToValue for u64 {
    fn to_value(&self) -> Value<'_> {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToValue for usize {
    fn to_value(&self) -> Value<'_> {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value<'_> {
        match self {
            Some(value) => value.to_value(),
            None => Value::Null,
        }
    }
}

impl ToValue for Value<'_> {
    fn to_value(&self) -> Value<'_> {
        *self
    }
}

/// What a cell can be read as. The error is (what was wanted, what the cell holds).
pub trait FromValue: Sized {
    /// Converts a cell.
    fn from_value(value: Value<'_>) -> Result<Self, (&'static str, &'static str)>;
}

impl FromValue for i64 {
    fn from_value(value: Value<'_>) -> Result<Self, (&'static str, &'static str)> {
        match value {
            Value::Integer(n) => Ok(n),
            other => Err(("an integer", other.kind())),
        }
    }
}

macro_rules! narrow_integer_from_value {
    ($($t:ty)*) => {$(
        impl FromValue for $t {
            fn from_value(value: Value<'_>) -> Result<Self, (&'static str, &'static str)> {
                let wanted = concat!("an integer that fits ", stringify!($t));
                match value {
                    Value::Integer(n) => <$t>::try_from(n).map_err(|_| (wanted, "an integer out of range")),
                    other => Err((wanted, other.kind())),
                }
            }
        }
    )*};
}
narrow_integer_from_value!(i32 u32 u64 usize);

impl FromValue for bool {
    fn from_value(value: Value<'_>) -> Result<Self, (&'static str, &'static str)> {
        match value {
            Value::Integer(n) => Ok(n != 0),
            other => Err(("a boolean", other.kind())),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: Value<'_>) -> Result<Self, (&'static str, &'static str)> {
        match value {
            Value::Real(x) => Ok(x),
            #[allow(clippy::cast_precision_loss)]
            Value::Integer(n) => Ok(n as f64),
            other => Err(("a number", other.kind())),
        }
    }
}

impl FromValue for String {
    fn from_value(value: Value<'_>) -> Result<Self, (&'static str, &'static str)> {
        match value {
            Value::Text(text) => Ok(text.to_owned()),
            other => Err(("text", other.kind())),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: Value<'_>) -> Result<Self, (&'static str, &'static str)> {
        match value {
            Value::Blob(bytes) => Ok(bytes.to_vec()),
            Value::Text(text) => Ok(text.as_bytes().to_vec()),
            other => Err(("bytes", other.kind())),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value<'_>) -> Result<Self, (&'static str, &'static str)> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Any cell, owned, as rusqlite holds it: for reading whole rows whatever their types.
impl FromValue for rusqlite::types::Value {
    fn from_value(value: Value<'_>) -> Result<Self, (&'static str, &'static str)> {
        use rusqlite::types::Value as Owned;
        Ok(match value {
            Value::Null => Owned::Null,
            Value::Integer(n) => Owned::Integer(n),
            Value::Real(x) => Owned::Real(x),
            Value::Text(text) => Owned::Text(text.to_owned()),
            Value::Blob(bytes) => Owned::Blob(bytes.to_vec()),
        })
    }
}
