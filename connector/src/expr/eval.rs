//! Evaluation with Groovy's operators and Java's String methods.
//!
//! Never panics, whatever the expression (a hand-built [`Expr`] may break the invariants the
//! parser keeps: the mistakes become evaluation errors).

use super::{Bindings, Call, EqualityOp, Expr, Lookup, MAX_VALUE, Method, Value};

/// Messages quote sub-expressions up to this many characters.
const QUOTE_LIMIT: usize = 120;

pub(super) fn eval(expr: &Expr, bindings: &dyn Bindings) -> Result<Value, String> {
    match expr {
        Expr::Path(path) => {
            if path.is_empty() {
                return Err("empty property path".into());
            }
            match bindings.lookup(path) {
                Lookup::Value(value) => Ok(Value::Str(value)),
                Lookup::Missing => Ok(Value::Null),
                Lookup::Unbound => Err(format!("`{}` is not bound here", path.join("."))),
            }
        }
        Expr::Str(text) => Ok(Value::Str(text.clone())),
        Expr::Int(value) => Ok(Value::Int(*value)),
        Expr::Bool(value) => Ok(Value::Bool(*value)),
        Expr::Null => Ok(Value::Null),
        Expr::Not(operand) => Ok(Value::Bool(!eval(operand, bindings)?.is_true())),
        Expr::Plus(operands) => {
            let mut operands = operands.iter();
            let Some(first) = operands.next() else {
                return Ok(Value::Str(String::new()));
            };
            let mut sum = eval(first, bindings)?;
            for operand in operands {
                let right = eval(operand, bindings)?;
                sum = plus(sum, right).map_err(|message| format!("{}: {message}", quote(expr)))?;
            }
            Ok(sum)
        }
        Expr::Equality { first, rest } => {
            let mut left = eval(first, bindings)?;
            for (op, operand) in rest {
                let right = eval(operand, bindings)?;
                let equal = groovy_equals(&left, &right);
                left = Value::Bool(match op {
                    EqualityOp::Equal => equal,
                    EqualityOp::NotEqual => !equal,
                });
            }
            Ok(left)
        }
        Expr::And(operands) => {
            for operand in operands {
                if !eval(operand, bindings)?.is_true() {
                    return Ok(Value::Bool(false));
                }
            }
            Ok(Value::Bool(true))
        }
        Expr::Or(operands) => {
            for operand in operands {
                if eval(operand, bindings)?.is_true() {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        Expr::Conditional {
            condition,
            then,
            otherwise,
        } => {
            if eval(condition, bindings)?.is_true() {
                eval(then, bindings)
            } else {
                eval(otherwise, bindings)
            }
        }
        Expr::Elvis { value, fallback } => {
            let value = eval(value, bindings)?;
            if value.is_true() {
                Ok(value)
            } else {
                eval(fallback, bindings)
            }
        }
        Expr::Calls { receiver, calls } => eval_calls(receiver, calls, bindings),
    }
}

/// `left + right`: integer addition, else concatenation to a string (null adds nothing); a
/// boolean has no `+` and only concatenates to a string.
pub(super) fn plus(left: Value, right: Value) -> Result<Value, String> {
    match (left, right) {
        (Value::Int(a), Value::Int(b)) => a
            .checked_add(b)
            .map(Value::Int)
            .ok_or_else(|| format!("{a} + {b} overflows a 64-bit integer")),
        (left @ (Value::Str(_) | Value::Null), right)
        | (left @ Value::Int(_), right @ (Value::Str(_) | Value::Null)) => {
            let mut text = left.render();
            let right = right.render();
            let length = text.len() + right.len();
            if length > MAX_VALUE {
                return Err(too_long(length));
            }
            text.push_str(&right);
            Ok(Value::Str(text))
        }
        (left, right) => Err(format!(
            "cannot add `{}` and `{}`: `+` adds integers or concatenates to a string",
            left.render(),
            right.render()
        )),
    }
}

/// Groovy `==` on these values: by value within a type, never across types; null equals null.
fn groovy_equals(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Null, Value::Null) => true,
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Int(a), Value::Int(b)) => a == b,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        _ => false,
    }
}

fn eval_calls(receiver: &Expr, calls: &[Call], bindings: &dyn Bindings) -> Result<Value, String> {
    let mut value = eval(receiver, bindings)?;
    for (index, call) in calls.iter().enumerate() {
        let text = match value {
            Value::Str(text) => text,
            Value::Null if call.null_safe => continue,
            Value::Null => {
                let before = quote_calls(receiver, &calls[..index]);
                let args = if call.args.is_empty() { "" } else { "…" };
                return Err(format!(
                    "{before} is null: use `?.` to get null instead of this error, as in `?.{}({args})`",
                    call.method.name()
                ));
            }
            Value::Int(_) | Value::Bool(_) => {
                let before = quote_calls(receiver, &calls[..index]);
                return Err(format!(
                    "{before} is not a String: `{}` is a String method",
                    call.method.name()
                ));
            }
        };
        let mut args = Vec::with_capacity(call.args.len());
        for arg in &call.args {
            args.push(eval(arg, bindings)?);
        }
        value = apply(call, &text, &args)
            .map_err(|message| format!("{}: {message}", quote_calls(receiver, &calls[..=index])))?;
    }
    Ok(value)
}

/// Calls a String method on `text`.
fn apply(call: &Call, text: &str, args: &[Value]) -> Result<Value, String> {
    let string_arg = |index: usize| -> Result<&str, String> {
        let arg_text = || call.args.get(index).map_or_else(|| "?".into(), quote);
        match args.get(index) {
            Some(Value::Str(arg)) => Ok(arg),
            Some(Value::Null) => Err(format!("the argument {} is null", arg_text())),
            Some(_) => Err(format!("the argument {} is not a String", arg_text())),
            None => Err("an argument is missing".into()),
        }
    };
    let int_arg = |index: usize| -> Result<i64, String> {
        match args.get(index) {
            Some(Value::Int(value)) => Ok(*value),
            _ => Err(format!(
                "the argument {} is not an integer",
                call.args.get(index).map_or_else(|| "?".into(), quote)
            )),
        }
    };
    let expect_args = |count: usize| -> Result<(), String> {
        if args.len() == count {
            Ok(())
        } else {
            Err(format!(
                "`{}` takes {count} argument(s), not {}",
                call.method.name(),
                args.len()
            ))
        }
    };
    Ok(match call.method {
        Method::Equals => {
            expect_args(1)?;
            Value::Bool(matches!(&args[0], Value::Str(other) if other == text))
        }
        Method::EqualsIgnoreCase => {
            expect_args(1)?;
            Value::Bool(match &args[0] {
                Value::Str(other) => equals_ignore_case(text, other),
                _ => false,
            })
        }
        Method::ToUpperCase => {
            expect_args(0)?;
            checked(text.to_uppercase())?
        }
        Method::ToLowerCase => {
            expect_args(0)?;
            checked(text.to_lowercase())?
        }
        Method::Substring => {
            let length = text.chars().count();
            let (begin, end) = match args.len() {
                1 => (int_arg(0)?, i64::try_from(length).unwrap_or(i64::MAX)),
                2 => (int_arg(0)?, int_arg(1)?),
                n => return Err(format!("`substring` takes 1 or 2 arguments, not {n}")),
            };
            Value::Str(substring(text, length, begin, end)?)
        }
        Method::Trim => {
            expect_args(0)?;
            Value::Str(text.trim_matches(|c: char| c <= ' ').to_string())
        }
        Method::Contains => {
            expect_args(1)?;
            Value::Bool(text.contains(string_arg(0)?))
        }
        Method::StartsWith => {
            expect_args(1)?;
            Value::Bool(text.starts_with(string_arg(0)?))
        }
        Method::EndsWith => {
            expect_args(1)?;
            Value::Bool(text.ends_with(string_arg(0)?))
        }
        Method::Replace => {
            expect_args(2)?;
            let (target, replacement) = (string_arg(0)?, string_arg(1)?);
            let length = replaced_length(text, target, replacement);
            if length > MAX_VALUE {
                return Err(too_long(length));
            }
            Value::Str(text.replace(target, replacement))
        }
        Method::Length => {
            expect_args(0)?;
            Value::Int(i64::try_from(text.chars().count()).unwrap_or(i64::MAX))
        }
    })
}

/// The length in bytes of `text.replace(target, replacement)`, computed without building it
/// (an empty target matches before each character and at the end, as in Java).
fn replaced_length(text: &str, target: &str, replacement: &str) -> usize {
    let count = text.matches(target).count();
    (text.len() - count * target.len()).saturating_add(count.saturating_mul(replacement.len()))
}

/// A string value, unless it is longer than [`MAX_VALUE`].
fn checked(text: String) -> Result<Value, String> {
    if text.len() > MAX_VALUE {
        return Err(too_long(text.len()));
    }
    Ok(Value::Str(text))
}

#[cold]
fn too_long(length: usize) -> String {
    format!("the value would be {length} bytes long, more than the {MAX_VALUE} a value may hold")
}

/// Java's `substring(begin, end)` in characters, with its bounds checks.
fn substring(text: &str, length: usize, begin: i64, end: i64) -> Result<String, String> {
    let in_range = |index: i64| usize::try_from(index).ok().filter(|index| *index <= length);
    match (in_range(begin), in_range(end)) {
        (Some(b), Some(e)) if b <= e => Ok(text.chars().skip(b).take(e - b).collect()),
        _ => Err(format!(
            "out of range (begin {begin}, end {end}, length {length}): Java throws \
             StringIndexOutOfBoundsException"
        )),
    }
}

/// Java's `equalsIgnoreCase`: character by character, comparing upper then lower case.
fn equals_ignore_case(a: &str, b: &str) -> bool {
    a.chars().count() == b.chars().count()
        && a.chars().zip(b.chars()).all(|(x, y)| {
            x == y || {
                let (ux, uy) = (simple_upper(x), simple_upper(y));
                ux == uy || simple_lower(ux) == simple_lower(uy)
            }
        })
}

/// Java's `Character.toUpperCase`: the one-character mapping, or the character itself.
fn simple_upper(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Java's `Character.toLowerCase`.
fn simple_lower(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// An expression in backquotes, cut to [`QUOTE_LIMIT`] characters.
fn quote(expr: &Expr) -> String {
    bounded(expr.to_string())
}

fn quote_calls(receiver: &Expr, calls: &[Call]) -> String {
    if calls.is_empty() {
        return quote(receiver);
    }
    bounded(
        Expr::Calls {
            receiver: Box::new(receiver.clone()),
            calls: calls.to_vec(),
        }
        .to_string(),
    )
}

fn bounded(text: String) -> String {
    if text.chars().count() <= QUOTE_LIMIT {
        format!("`{text}`")
    } else {
        let cut: String = text.chars().take(QUOTE_LIMIT).collect();
        format!("`{cut}…`")
    }
}
