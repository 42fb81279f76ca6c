//! The Saviynt connection format: attributes in, a checked configuration out.
//!
//! Everything a connection can get wrong is found here, when it is loaded, and reported as a
//! [`Problem`] with the attribute and the place inside it: JSON syntax, templates that are not
//! well-formed XML once bound, paths and mappings that do not parse, calls numbered with gaps,
//! variables that nothing binds. Unknown keys are warnings, never silently ignored.

mod auth;
mod bindings;
mod endpoint;
mod import_plan;
mod json;
mod provisioning;
mod reconciliation;
mod request;

use std::collections::BTreeMap;

pub use auth::{
    Auth, BodyFormat, Connections, ResponsePath, TokenConnection, TokenRequest,
    lifetime_from_seconds,
};
pub use bindings::{ACCESS_TOKEN, RuntimeBindings, Scope, ScopeKind, is_secret_attribute};
pub use endpoint::{Endpoint, UrlError};
pub use import_plan::{CallKind, EntitlementMapping, ImportCall, ImportPlan};
pub use provisioning::{Capture, ProvisioningCall, ProvisioningPlan, RESPONSE_CODE, Target};
pub use reconciliation::{ReconciliationPolicy, STATUS_THRESHOLD_CONFIG};
pub use request::{HttpRequest, Mode, RequestTemplate, TemplatePlace, check_headers};

use crate::error::{Problem, Severity};

/// The attribute holding the endpoint URL.
pub const SOAP_ENDPOINT: &str = "SOAP_ENDPOINT";
/// The attribute choosing SOAP envelopes or bare XML.
pub const SOAP_OR_XML: &str = "SOAP_OR_XML";
/// The import plan attribute.
pub const ACCOUNTS_IMPORT_JSON: &str = "ACCOUNTS_IMPORT_JSON";
/// The named connections attribute.
pub const CONNECTIONJSON: &str = "CONNECTIONJSON";
/// The enable plan attribute.
pub const ENABLEACCOUNTJSON: &str = "ENABLEACCOUNTJSON";
/// The disable plan attribute.
pub const DISABLEACCOUNTJSON: &str = "DISABLEACCOUNTJSON";

/// The provisioning plans this version runs.
const RUN_PLANS: &[&str] = &[ENABLEACCOUNTJSON, DISABLEACCOUNTJSON];

/// Provisioning plans checked at load; only enable and disable run in this version.
const PROVISIONING_PLANS: &[&str] = &[
    ENABLEACCOUNTJSON,
    DISABLEACCOUNTJSON,
    "CREATEACCOUNTJSON",
    "UPDATEACCOUNTJSON",
    "DELETEACCOUNTJSON",
    "GRANTACCESSJSON",
    "REVOKEACCESSJSON",
    "ADDACCESSJSON",
    "REMOVEACCESSJSON",
];

/// Paging attributes: empty in every known package, not supported.
const PAGING_ATTRIBUTES: &[&str] = &[
    "PAGE_SIZE",
    "RESPONSEPATH_TOTALRESULTS",
    "RESPONSEPATH_PAGERESULTS",
    "RESPONSEPATH_USERLIST",
];

/// A connection: Saviynt attributes by name.
#[derive(Clone, Default)]
pub struct Connection {
    attributes: BTreeMap<String, String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets: only names are shown.
        f.debug_struct("Connection")
            .field("attributes", &self.attributes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Connection {
    /// A connection from name/value pairs; a later pair of the same name wins.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        Connection {
            attributes: pairs
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }

    /// An attribute's value; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.trim().is_empty())
    }

    /// Whether an attribute is given but empty (or only whitespace), which counts as absent.
    pub fn is_blank(&self, name: &str) -> bool {
        self.attributes
            .get(name)
            .is_some_and(|value| value.trim().is_empty())
    }
}

/// A checked configuration, ready to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The connection it was loaded from (bound into templates).
    pub connection: Connection,
    /// Where requests go.
    pub endpoint: Endpoint,
    /// SOAP envelopes or bare XML.
    pub mode: Mode,
    /// CONNECTIONJSON's named connections.
    pub connections: Connections,
    /// ACCOUNTS_IMPORT_JSON, when present.
    pub import_plan: Option<ImportPlan>,
    /// ENABLEACCOUNTJSON, when present.
    pub enable_plan: Option<ProvisioningPlan>,
    /// DISABLEACCOUNTJSON, when present.
    pub disable_plan: Option<ProvisioningPlan>,
    /// STATUS_THRESHOLD_CONFIG, or its defaults.
    pub reconciliation: ReconciliationPolicy,
}

/// The outcome of loading: the configuration when it has no error, and every problem found.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// `Some` when no problem is an error.
    pub config: Option<Config>,
    /// Errors and warnings, in attribute order.
    pub problems: Vec<Problem>,
}

/// Loads and checks a connection.
pub fn load(connection: &Connection) -> Loaded {
    let mut problems = Vec::new();
    let endpoint = match connection.get(SOAP_ENDPOINT) {
        None => {
            problems.push(Problem::error(
                SOAP_ENDPOINT,
                None,
                "missing: set it to the Duck Creek endpoint URL (e.g. --set SOAP_ENDPOINT=https://host/path)",
            ));
            None
        }
        Some(url) => Endpoint::parse(url)
            .map_err(|error| {
                problems.push(Problem::error(
                    SOAP_ENDPOINT,
                    Some(error.location(None)),
                    error.message,
                ))
            })
            .ok(),
    };
    let mode = match Mode::parse(connection.get(SOAP_OR_XML)) {
        Ok(mode) => mode,
        Err(message) => {
            problems.push(Problem::error(SOAP_OR_XML, None, message));
            Mode::Soap
        }
    };
    let connections = auth::parse(connection, &mut problems);
    let import_plan = match connection.get(ACCOUNTS_IMPORT_JSON) {
        Some(text) => import_plan::parse(text, connection, mode, &connections, &mut problems),
        None => {
            problems.push(Problem::warning(
                ACCOUNTS_IMPORT_JSON,
                None,
                "missing: this connection cannot import accounts",
            ));
            None
        }
    };
    let mut plans = BTreeMap::new();
    for name in PROVISIONING_PLANS {
        let Some(text) = connection.get(name) else {
            continue;
        };
        let before = problems.len();
        let plan = provisioning::parse(name, text, connection, mode, &connections, &mut problems);
        if RUN_PLANS.contains(name) {
            plans.extend(plan.map(|plan| (*name, plan)));
        } else {
            demote_to_warnings(&mut problems[before..]);
        }
    }
    let reconciliation =
        reconciliation::parse(connection.get(STATUS_THRESHOLD_CONFIG), &mut problems);
    if let (Some(policy), Some(plan)) = (&reconciliation, &import_plan) {
        check_status_columns(policy, plan, &mut problems);
    }
    warn_about_unsupported_attributes(connection, &mut problems);
    let has_error = problems
        .iter()
        .any(|problem| problem.severity == Severity::Error);
    let config = match (has_error, endpoint, reconciliation) {
        (false, Some(endpoint), Some(reconciliation)) => Some(Config {
            connection: connection.clone(),
            endpoint,
            mode,
            connections,
            import_plan,
            enable_plan: plans.remove(ENABLEACCOUNTJSON),
            disable_plan: plans.remove(DISABLEACCOUNTJSON),
            reconciliation,
        }),
        _ => None,
    };
    Loaded { config, problems }
}

/// The status columns the policy reads must be columns some call maps, or every account would
/// read as having no status.
fn check_status_columns(
    policy: &ReconciliationPolicy,
    plan: &ImportPlan,
    problems: &mut Vec<Problem>,
) {
    let mapped = |wanted: &str| {
        plan.calls
            .iter()
            .flat_map(|call| &call.columns)
            .any(|(column, _)| column.eq_ignore_ascii_case(wanted))
    };
    for (key, column) in [
        ("statusColumn", &policy.status_column),
        ("lockedStatusColumn", &policy.locked_status_column),
    ] {
        if let Some(column) = column.as_deref().filter(|column| !mapped(column)) {
            problems.push(Problem::error(
                STATUS_THRESHOLD_CONFIG,
                Some(key.to_string()),
                format!(
                    "`{column}` is not a column any ACCOUNTMAPPING of ACCOUNTS_IMPORT_JSON maps"
                ),
            ));
        }
    }
}

/// The problems of a plan this version does not run: warnings, so that a connection brought as
/// it is (with grant or create plans this connector cannot run yet) still imports, enables and
/// disables.
fn demote_to_warnings(problems: &mut [Problem]) {
    for problem in problems {
        if problem.severity == Severity::Error {
            problem.severity = Severity::Warning;
            problem.message = format!(
                "{} (this version does not run this plan, so it does not stop the connection)",
                problem.message
            );
        }
    }
}

fn warn_about_unsupported_attributes(connection: &Connection, problems: &mut Vec<Problem>) {
    for name in PAGING_ATTRIBUTES {
        if connection.get(name).is_some() {
            problems.push(Problem::warning(
                name,
                None,
                "paging is not supported by this version: the attribute is ignored and each list is read in one response",
            ));
        }
    }
    warn_about_misspelled_attributes(connection, problems);
}

/// The attributes this connector reads by name (templates may read any other as `${NAME}`).
fn read_attributes() -> impl Iterator<Item = &'static str> {
    [
        SOAP_ENDPOINT,
        SOAP_OR_XML,
        ACCOUNTS_IMPORT_JSON,
        CONNECTIONJSON,
        STATUS_THRESHOLD_CONFIG,
        "USERNAME",
        "PASSWORD",
    ]
    .into_iter()
    .chain(PROVISIONING_PLANS.iter().copied())
    .chain(PAGING_ATTRIBUTES.iter().copied())
}

/// A warning for each attribute whose name is one or two letters (or only the case) off a name
/// this connector reads: `SOAP_ENDPIONT` is ignored, and the connection then lacks
/// `SOAP_ENDPOINT`.
fn warn_about_misspelled_attributes(connection: &Connection, problems: &mut Vec<Problem>) {
    const MAX_DISTANCE: usize = 2;
    for name in connection.attributes.keys() {
        if read_attributes().any(|read| read == name) {
            continue;
        }
        let upper = name.to_ascii_uppercase();
        let nearest = read_attributes()
            .map(|read| (strsim::levenshtein(&upper, read), read))
            .filter(|(distance, read)| *distance <= MAX_DISTANCE && read.len() > MAX_DISTANCE * 2)
            .min();
        if let Some((_, read)) = nearest {
            problems.push(Problem::warning(
                name,
                None,
                format!(
                    "this connector reads no attribute of that name: did you mean {read}? (an attribute of your own, read by templates as ${{{name}}}, may keep its name)"
                ),
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
