//! Reading what a server answered: the token and its lifetime from a token answer (JSON,
//! form-encoded or XML), and the error a refused call's answer holds.

use std::time::Duration;

use serde_json::Value;

use crate::config::{ResponsePath, lifetime_from_seconds};
use crate::error::ErrorKind;
use crate::exchange::check_document;
use crate::xml::{ResponseError, first_value};

/// What a 2xx token answer held.
pub(super) struct TokenAnswer {
    /// The token, without its type.
    pub token: Option<String>,
    /// The lifetime it announced.
    pub lifetime: Option<Duration>,
}

/// Why a 2xx answer holds no usable token.
pub(super) enum NoToken {
    /// An XML login answered `Failure` or a SOAP fault: the credentials were refused.
    Refused(String),
    /// The answer is not what a token answer looks like.
    Unreadable(String),
}

/// The token at `token_path` and the lifetime at `expires_in_path` of a 2xx answer, told
/// apart by its first character: `{` JSON, `<` XML, anything else form-encoded.
pub(super) fn read_token(
    body: &[u8],
    token_path: &ResponsePath,
    expires_in_path: &ResponsePath,
) -> Result<TokenAnswer, NoToken> {
    let body = without_bom(body);
    let (token, expires_in) = match first_significant_byte(body) {
        Some(b'{') => {
            let json: Value = serde_json::from_slice(body).map_err(|error| {
                NoToken::Unreadable(format!("the answer is not valid JSON: {error}"))
            })?;
            (
                json_text(&json, token_path),
                json_text(&json, expires_in_path),
            )
        }
        Some(b'<') => (
            xml_text(body, token_path)?,
            xml_text(body, expires_in_path).unwrap_or(None),
        ),
        _ => (
            form_field(body, token_path),
            form_field(body, expires_in_path),
        ),
    };
    Ok(TokenAnswer {
        token: token.filter(|token| !token.trim().is_empty()),
        lifetime: expires_in
            .and_then(|text| text.trim().parse::<f64>().ok())
            .and_then(lifetime_from_seconds),
    })
}

fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

fn first_significant_byte(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// The text at a dotted path of a JSON document (strings, numbers, booleans).
fn json_text(json: &Value, path: &ResponsePath) -> Option<String> {
    let mut value = json;
    for key in &path.keys {
        value = value.get(key)?;
    }
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn form_field(body: &[u8], path: &ResponsePath) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(name, _)| *name == path.text)
        .map(|(_, value)| value.into_owned())
}

/// The first value at an XML path; a refused login or a fault means refused credentials.
fn xml_text(body: &[u8], path: &ResponsePath) -> Result<Option<String>, NoToken> {
    let Some(xml) = &path.xml else {
        return Ok(None);
    };
    first_value(body, xml).map_err(|error| match failure_text(&error) {
        Some(text) => NoToken::Refused(text),
        None => NoToken::Unreadable(
            match crate::exchange::response_error(error, "tokenResponsePath") {
                ErrorKind::UnexpectedResponse(message) | ErrorKind::Transport(message) => message,
                _ => "the answer is not the XML expected".into(),
            },
        ),
    })
}

/// What a SOAP fault or a failed operation says, in a few words; `None` for other errors.
fn failure_text(error: &ResponseError) -> Option<String> {
    match error {
        ResponseError::Fault(fault) => Some(format!(
            "SOAP fault {}: {}{}",
            fault.code,
            fault.reason,
            fault
                .detail
                .as_deref()
                .map(|detail| format!(" ({detail})"))
                .unwrap_or_default()
        )),
        ResponseError::LoginRefused(failure) | ResponseError::OperationFailed(failure) => {
            Some(match &failure.message {
                Some(message) => format!("{} {}: {message}", failure.operation, failure.status),
                None => format!("{} {}", failure.operation, failure.status),
            })
        }
        _ => None,
    }
}

/// Why a token request was refused, from what the answer says (OAuth's `error` and
/// `error_description`, a SOAP fault, a failed operation), in parentheses; never the whole
/// body, which could echo what was sent.
pub(super) fn refusal_reason(body: &[u8]) -> String {
    let body = without_bom(body);
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_string);
        return match (text("error"), text("error_description")) {
            (Some(error), Some(description)) => format!(" ({error}: {description})"),
            (Some(error), None) | (None, Some(error)) => format!(" ({error})"),
            (None, None) => String::new(),
        };
    }
    check_document(body)
        .err()
        .as_ref()
        .and_then(failure_text)
        .map(|text| format!(" ({text})"))
        .unwrap_or_default()
}

/// The error a failed call's answer holds: at `path` in JSON; in XML, a SOAP fault's or a
/// failed operation's texts, else the value at `path`; without a path, the whole answer.
pub(super) fn error_text(body: &[u8], path: Option<&ResponsePath>) -> Option<String> {
    let body = without_bom(body);
    let Some(path) = path else {
        return Some(String::from_utf8_lossy(body).into_owned());
    };
    match first_significant_byte(body) {
        Some(b'{') => serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|json| json_text(&json, path)),
        Some(b'<') => match check_document(body) {
            Err(error) => failure_text(&error),
            Ok(()) => path
                .xml
                .as_ref()
                .and_then(|xml| first_value(body, xml).ok().flatten()),
        },
        _ => None,
    }
}
