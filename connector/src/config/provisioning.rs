//! Provisioning plans (ENABLEACCOUNTJSON, DISABLEACCOUNTJSON, ...): an array of calls run in
//! order, checked at load (templates, paths, capture targets, criteria). Enable and disable
//! plans run; the others are checked only, and their problems are warnings (see
//! [`super::load`]).
//!
//! RESPONSEMAPPING targets come in three kinds ([`Target`]): ordinary names, captured and bound
//! for later calls (`RESPONSECODE` among them: the value at its path, or the HTTP status when
//! its path is empty); `TASK.PROVISIONINGCOMMENTS`, a text for the task; and
//! `ACCOUNT.<column>`, a new value for a column of the stored account.

use serde_json::Value;

use crate::error::{Problem, Severity};
use crate::path::Path;

use super::bindings::{Scope, ScopeKind};
use super::request::{RequestParts, RequestTemplate};
use super::{Connection, Connections, Mode, RUN_PLANS, json};

const KNOWN_KEYS: &[&str] = &[
    "CONNECTION",
    "REQUESTXML",
    "REQUESTPARAMS",
    "SOAPACTION",
    "RESPONSEMAPPING",
    "SUCCESSCRITERIA",
    "RUNFOREACHENT",
    "COOKIEOPTIONS",
];

/// The name whose empty path captures the HTTP status.
pub const RESPONSE_CODE: &str = "RESPONSECODE";

/// One call of a provisioning plan.
#[derive(Debug, Clone)]
pub struct ProvisioningCall {
    /// CONNECTION: the named connection of CONNECTIONJSON the call uses.
    pub connection: Option<String>,
    /// The request.
    pub request: RequestTemplate,
    /// RESPONSEMAPPING, in configured order.
    pub response_mapping: Vec<Capture>,
    /// SUCCESSCRITERIA: captured name = expected value.
    pub success_criteria: Vec<(String, String)>,
}

/// One RESPONSEMAPPING entry.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The target as written (`RESPONSECODE`, `ACCOUNT.ACCOUNTID`): what SUCCESSCRITERIA names.
    pub name: String,
    /// What the captured value is for.
    pub target: Target,
    /// Where the value is; `None` for `RESPONSECODE` mapped to an empty path: the HTTP status.
    pub path: Option<Path>,
}

/// What a RESPONSEMAPPING target does with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An ordinary name: bound as `${NAME}` in later calls and reported back.
    Value,
    /// `TASK.PROVISIONINGCOMMENTS` (any case): a text the host keeps on the task.
    Comments,
    /// `ACCOUNT.<column>`: the column's new value (named as Saviynt spells it, `accountID`).
    AccountColumn(String),
    /// `ACCOUNT.NAME`: the account's identity, which enable and disable never change; usable in
    /// SUCCESSCRITERIA only.
    AccountName,
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
    // Ordinary names captured so far (bound in later calls), every target captured so far (what
    // criteria may test), and the names whose latest capture is the HTTP status.
    let mut captured: Vec<String> = Vec::new();
    let mut tested: Vec<String> = Vec::new();
    let mut http_status: Vec<String> = Vec::new();
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
        for (key, value) in keys {
            let upper = key.to_ascii_uppercase();
            if let Some(problem) = unsupported_key(attribute, &locate(key), &upper, value) {
                problems.push(problem);
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
        let site = format!("{attribute} call {number}");
        let parts = RequestParts {
            attribute,
            locate: &locate,
            site: &site,
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
        for capture in &response_mapping {
            http_status.retain(|name| name != &capture.name);
            if capture.path.is_none() {
                http_status.push(capture.name.clone());
            }
            if capture.target == Target::Value && !captured.contains(&capture.name) {
                captured.push(capture.name.clone());
            }
            if !tested.contains(&capture.name) {
                tested.push(capture.name.clone());
            }
        }
        let success_criteria = success_criteria(
            attribute,
            &locate("SUCCESSCRITERIA"),
            get("SUCCESSCRITERIA"),
            problems,
        );
        check_criteria(
            attribute,
            &locate("SUCCESSCRITERIA"),
            &success_criteria,
            (&tested, &http_status),
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
) -> Vec<Capture> {
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
        let at = Some(format!("{location}.{name}"));
        let target = match target(name) {
            Ok(target) => target,
            Err(message) => {
                problems.push(Problem::error(attribute, at, message));
                continue;
            }
        };
        if target == Target::AccountName {
            problems.push(Problem::warning(
                attribute,
                at.clone(),
                "`ACCOUNT.NAME` is the account's identity in the store, which enable and disable never change: the value is captured for SUCCESSCRITERIA only",
            ));
        }
        let text = match json::string(path) {
            Ok(text) => text,
            Err(message) => {
                problems.push(Problem::error(attribute, at, message));
                continue;
            }
        };
        if text.trim().is_empty() && name == RESPONSE_CODE {
            mapping.push(Capture {
                name: name.clone(),
                target,
                path: None,
            });
            continue;
        }
        match Path::parse(text) {
            Ok(path) if path.steps.is_empty() => problems.push(Problem::error(
                attribute,
                at,
                "the path must name at least one element below the document root (only RESPONSECODE may have an empty path: it then captures the HTTP status)",
            )),
            Ok(path) => mapping.push(Capture {
                name: name.clone(),
                target,
                path: Some(path),
            }),
            Err(error) if text.trim().is_empty() => problems.push(Problem::error(
                attribute,
                at,
                format!("{error} (only RESPONSECODE may have an empty path: it then captures the HTTP status)"),
            )),
            Err(error) => problems.push(Problem::error(
                attribute,
                at,
                format!("path `{text}`: {error}"),
            )),
        }
    }
    mapping
}

/// What a RESPONSEMAPPING target is; an error message for a dotted name that is no known
/// special target.
fn target(name: &str) -> Result<Target, String> {
    let Some((object, property)) = name.split_once('.') else {
        return Ok(Target::Value);
    };
    let is_column = !property.is_empty()
        && property
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match (
        object.to_ascii_uppercase().as_str(),
        property.to_ascii_uppercase().as_str(),
    ) {
        ("TASK", "PROVISIONINGCOMMENTS") => Ok(Target::Comments),
        ("ACCOUNT", "NAME") => Ok(Target::AccountName),
        ("ACCOUNT", "ACCOUNTID") => Ok(Target::AccountColumn("accountID".into())),
        ("ACCOUNT", _) if is_column => Ok(Target::AccountColumn(property.to_ascii_lowercase())),
        _ => Err(format!(
            "`{name}` is not a RESPONSEMAPPING target this connector knows: the special targets are `TASK.PROVISIONINGCOMMENTS` (a text kept on the task) and `ACCOUNT.<column>` (e.g. `ACCOUNT.ACCOUNTID`: a new value for a column of the stored account); any other name is an ordinary capture and has no dot (`STATUS`, `RESPONSECODE`)"
        )),
    }
}

/// A key seen in real plans that this version does not act on, named with what to do.
fn unsupported_key(attribute: &str, location: &str, upper: &str, value: &Value) -> Option<Problem> {
    let runs = RUN_PLANS.contains(&attribute);
    let problem = |message: String| {
        Some(match runs {
            true => Problem::error(attribute, Some(location.to_string()), message),
            false => Problem::warning(attribute, Some(location.to_string()), message),
        })
    };
    match upper {
        "RUNFOREACHENT" => {
            let on = match value {
                Value::Bool(on) => *on,
                Value::String(text) => text.trim().eq_ignore_ascii_case("true"),
                _ => true,
            };
            (on && runs).then(|| {
                Problem::error(
                    attribute,
                    Some(location.to_string()),
                    "RUNFOREACHENT runs a call once per entitlement of the task, but an enable or disable task has no entitlement to iterate: remove it (or set it to \"false\") and the call runs once for the account",
                )
            })
        }
        "COOKIEOPTIONS" => problem(
            "COOKIEOPTIONS (SAVEFROMRESPONSE, SENDFROMSAVED) is not supported: this connector sends no cookies between calls. Duck Creek carries its session in the envelope (Session.loginRq and Session.closeRq in each request); pass values between calls with RESPONSEMAPPING and `${NAME}` instead".into(),
        ),
        _ => None,
    }
}

/// Every criterion must test something this call or an earlier one captures; one testing a
/// path-less RESPONSECODE (the HTTP status) against anything but a status code is a warning.
fn check_criteria(
    attribute: &str,
    location: &str,
    criteria: &[(String, String)],
    (tested, http_status): (&[String], &[String]),
    problems: &mut Vec<Problem>,
) {
    for (name, expected) in criteria {
        if !tested.contains(name) {
            problems.push(Problem::error(
                attribute,
                Some(location.to_string()),
                format!(
                    "SUCCESSCRITERIA tests `{name}`, which no RESPONSEMAPPING of this call or an earlier one captures: map it to the path of the value in the response (`\"{name}\": \"Body....@status\"`){}",
                    if name == RESPONSE_CODE { ", or to an empty path for the HTTP status" } else { "" }
                ),
            ));
        } else if http_status.contains(name) && !is_status_code(expected) {
            problems.push(Problem::warning(
                attribute,
                Some(location.to_string()),
                format!(
                    "`{name}` is mapped to an empty path, so it captures the HTTP status (200, 500, ...), which never equals `{expected}`: map it to the path of the status in the response body, e.g. `Body.processRequestsAsDOMResponse.result.server.responses.Security~dot#lockUserAccountRs.@status`"
                ),
            ));
        }
    }
}

fn is_status_code(text: &str) -> bool {
    text.len() == 3
        && text
            .parse::<u16>()
            .is_ok_and(|code| (100..600).contains(&code))
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
            Some((_, expected)) if expected.contains('=') || expected.contains("&&") => {
                problems.push(Problem::error(
                    attribute,
                    Some(location.to_string()),
                    format!(
                        "`{text}` is not one `NAME=value`: write a single `=`, and several criteria as an object {{\"STATUS\": \"Success\", \"CODE\": \"1\"}}"
                    ),
                ));
                Vec::new()
            }
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
