//! JSON helpers shared by the plan parsers: syntax errors with positions, and values that
//! Saviynt writes either as JSON or as a string holding JSON.

use serde_json::{Map, Value};

use crate::error::Problem;

/// Parses an attribute's JSON text, adding a problem with line and column when it is not JSON.
pub(crate) fn parse(attribute: &str, text: &str, problems: &mut Vec<Problem>) -> Option<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => Some(value),
        Err(error) => {
            problems.push(Problem::error(
                attribute,
                Some(format!("line {}, column {}", error.line(), error.column())),
                format!("not valid JSON: {}", strip_position(&error.to_string())),
            ));
            None
        }
    }
}

fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}

/// An object given either as a JSON object or as a string holding one (both are seen in
/// exported packages).
pub(crate) fn object(value: &Value) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        Value::String(text) if text.trim().is_empty() => Ok(Map::new()),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err("expected a JSON object".into()),
            Err(error) => Err(format!("the string does not hold valid JSON: {error}")),
        },
        _ => Err("expected a JSON object".into()),
    }
}

/// A value that must be a string.
pub(crate) fn string(value: &Value) -> Result<&str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("expected a string, found {}", kind(value)))
}

/// What kind of JSON value this is, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
