//! Provisioning plans (ENABLEACCOUNTJSON, DISABLEACCOUNTJSON, ...): an array of calls run in
//! order. This version checks them at load time (templates, paths, criteria); running them
//! arrives with the provisioning work.

use serde_json::Value;

use crate::error::{Problem, Severity};
use crate::path::Path;

use super::bindings::{Scope, ScopeKind};
use super::request::{RequestParts, RequestTemplate};
use super::{Connection, Connections, Mode, json};

const KNOWN_KEYS: &[&str] = &[
    "CONNECTION",
    "REQUESTXML",
    "REQUESTPARAMS",
    "SOAPACTION",
    "RESPONSEMAPPING",
    "SUCCESSCRITERIA",
];

/// Keys seen in the wild that this version does not act on.
const NOT_YET_SUPPORTED: &[&str] = &["RUNFOREACHENT", "COOKIEOPTIONS"];

/// One call of a provisioning plan.
#[derive(Debug, Clone)]
pub struct ProvisioningCall {
    /// CONNECTION: the named connection of CONNECTIONJSON the call uses.
    pub connection: Option<String>,
    /// The request.
    pub request: RequestTemplate,
    /// RESPONSEMAPPING: captured name ← path.
    pub response_mapping: Vec<(String, Path)>,
    /// SUCCESSCRITERIA: captured name = expected value.
    pub success_criteria: Vec<(String, String)>,
}

/// A provisioning plan.
#[derive(Debug, Clone)]
pub struct ProvisioningPlan {
    /// The calls, in order.
    pub calls: Vec<ProvisioningCall>,
}

/// Parses a plan; `None` when it has errors (added to `problems`).
pub(crate) fn parse(
    attribute: &str,
    text: &str,
    connection: &Connection,
    mode: Mode,
    connections: &Connections,
    problems: &mut Vec<Problem>,
) -> Option<ProvisioningPlan> {
    let before = problems.len();
    let calls = match json::parse(attribute, text, problems)? {
        Value::Array(calls) => calls,
        Value::Object(call) => vec![Value::Object(call)],
        _ => {
            problems.push(Problem::error(
                attribute,
                None,
                "expected a JSON array of calls",
            ));
            return None;
        }
    };
    let mut captured = Vec::new();
    let mut parsed = Vec::new();
    for (index, call) in calls.iter().enumerate() {
        let number = index + 1;
        let locate = |key: &str| format!("call {number} ({key})");
        let Value::Object(keys) = call else {
            problems.push(Problem::error(
                attribute,
                Some(format!("call {number}")),
                "expected an object",
            ));
            continue;
        };
        for key in keys.keys() {
            let upper = key.to_ascii_uppercase();
            if NOT_YET_SUPPORTED.contains(&upper.as_str()) {
                problems.push(Problem::warning(
                    attribute,
                    Some(locate(key)),
                    format!("`{key}` is not supported by this version and is ignored"),
                ));
            } else if !KNOWN_KEYS.contains(&upper.as_str()) {
                problems.push(Problem::warning(
                    attribute,
                    Some(locate(key)),
                    format!("unknown key `{key}` is ignored"),
                ));
            }
        }
        let get = |wanted: &str| {
            keys.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(wanted))
                .map(|(_, v)| v)
        };
        let Some(xml) = get("REQUESTXML").and_then(Value::as_str) else {
            problems.push(Problem::error(
                attribute,
                Some(locate("REQUESTXML")),
                "missing: each call needs REQUESTXML (a string)",
            ));
            continue;
        };
        let parts = RequestParts {
            attribute,
            locate: &locate,
            xml,
            params: get("REQUESTPARAMS"),
            soap_action: get("SOAPACTION").and_then(Value::as_str),
        };
        let connection_name =
            call_connection(attribute, &locate, get("CONNECTION"), connections, problems);
        let scope = Scope {
            kind: ScopeKind::Provisioning {
                captured: captured.clone(),
            },
            access_token: connections.token_for(connection_name.as_deref()).is_some(),
        };
        let request = RequestTemplate::parse(&parts, &scope, connection, mode, problems);
        let response_mapping = response_mapping(
            attribute,
            &locate("RESPONSEMAPPING"),
            get("RESPONSEMAPPING"),
            problems,
        );
        captured.extend(
            response_mapping
                .iter()
                .map(|(name, _)| name.clone())
                .filter(|name| !name.contains('.')),
        );
        let success_criteria = success_criteria(
            attribute,
            &locate("SUCCESSCRITERIA"),
            get("SUCCESSCRITERIA"),
            problems,
        );
        if let Some(request) = request {
            parsed.push(ProvisioningCall {
                connection: connection_name,
                request,
                response_mapping,
                success_criteria,
            });
        }
    }
    if parsed.is_empty() && problems[before..].is_empty() {
        problems.push(Problem::error(attribute, None, "the plan has no call"));
    }
    let has_errors = problems[before..]
        .iter()
        .any(|p| p.severity == Severity::Error);
    (!has_errors).then_some(ProvisioningPlan { calls: parsed })
}

fn response_mapping(
    attribute: &str,
    location: &str,
    value: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Vec<(String, Path)> {
    let Some(value) = value else {
        return Vec::new();
    };
    let map = match json::object(value) {
        Ok(map) => map,
        Err(message) => {
            problems.push(Problem::error(
                attribute,
                Some(location.to_string()),
                message,
            ));
            return Vec::new();
        }
    };
    let mut mapping = Vec::new();
    for (name, path) in &map {
        let parsed = json::string(path)
            .and_then(|text| Path::parse(text).map_err(|error| format!("path `{text}`: {error}")))
            .and_then(
                |parsed| match parsed.steps.is_empty() && name != "RESPONSECODE" {
                    true => Err(
                        "the path must name at least one element below the document root".into(),
                    ),
                    false => Ok(parsed),
                },
            );
        match parsed {
            Ok(path) => mapping.push((name.clone(), path)),
            Err(message) => problems.push(Problem::error(
                attribute,
                Some(format!("{location}.{name}")),
                message,
            )),
        }
    }
    mapping
}

fn success_criteria(
    attribute: &str,
    location: &str,
    value: Option<&Value>,
    problems: &mut Vec<Problem>,
) -> Vec<(String, String)> {
    match value {
        None => Vec::new(),
        Some(Value::String(text)) if text.trim().is_empty() => Vec::new(),
        Some(Value::String(text)) => match text.split_once('=') {
            Some((name, expected)) if !name.trim().is_empty() => {
                vec![(name.trim().to_string(), expected.trim().to_string())]
            }
            _ => {
                problems.push(Problem::error(
                    attribute,
                    Some(location.to_string()),
                    format!("`{text}` is not `NAME=value`"),
                ));
                Vec::new()
            }
        },
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(name, expected)| match expected {
                Value::String(text) => Some((name.clone(), text.clone())),
                other if !other.is_null() && !other.is_array() && !other.is_object() => {
                    Some((name.clone(), other.to_string()))
                }
                _ => {
                    problems.push(Problem::error(
                        attribute,
                        Some(format!("{location}.{name}")),
                        "expected a string value",
                    ));
                    None
                }
            })
            .collect(),
        Some(_) => {
            problems.push(Problem::error(
                attribute,
                Some(location.to_string()),
                "expected `NAME=value` or an object {\"NAME\": \"value\"}",
            ));
            Vec::new()
        }
    }
}

/// The call's CONNECTION (checked against CONNECTIONJSON).
fn call_connection(
    attribute: &str,
    locate: &dyn Fn(&str) -> String,
    value: Option<&Value>,
    connections: &Connections,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let name = match value? {
        Value::String(name) if name.trim().is_empty() => return None,
        Value::String(name) => name.trim().to_string(),
        _ => {
            problems.push(Problem::error(
                attribute,
                Some(locate("CONNECTION")),
                "expected the name of a connection of CONNECTIONJSON",
            ));
            return None;
        }
    };
    connections.check_reference(&name, attribute, locate("CONNECTION"), problems);
    Some(name)
}
