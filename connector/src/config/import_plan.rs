//! ACCOUNTS_IMPORT_JSON: a flat object of numbered keys, call n running in order n = 1, 2, ...

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{Problem, Severity};
use crate::path::Path;

use super::bindings::{Scope, ScopeKind};
use super::request::{RequestParts, RequestTemplate};
use super::{ACCOUNTS_IMPORT_JSON, Connection, Connections, Mode, json};

const ATTRIBUTE: &str = ACCOUNTS_IMPORT_JSON;

/// At most this many missing call numbers are listed in the message about gaps.
const MAX_MISSING_LISTED: usize = 8;

/// The keys of one call, without their number.
const CALL_KEYS: &[&str] = &[
    "CONNECTION",
    "REQUESTTYPE",
    "REQUESTXML",
    "REQUESTPARAMS",
    "SOAPACTION",
    "RESPONSEDATAPATH",
    "ACCOUNTMAPPING",
    "ENTITLEMENTMAPPING",
    "RECONCILIATIONFIELD",
];

/// What a call imports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Accounts with their columns and links.
    Accounts,
    /// Entitlements of one or more types.
    Entitlements,
    /// One call per imported account, adding columns and links to it.
    EachAccount,
}

/// How an ENTITLEMENTS call maps a record to an entitlement of one type.
#[derive(Debug, Clone)]
pub struct EntitlementMapping {
    /// The entitlement type.
    pub entitlement_type: String,
    /// The path of `entitlement_value`.
    pub value: Path,
    /// The other columns.
    pub columns: Vec<(String, Path)>,
}

/// One call of the import plan.
#[derive(Debug, Clone)]
pub struct ImportCall {
    /// n, as in REQUESTXMLn.
    pub number: u32,
    /// What it imports.
    pub kind: CallKind,
    /// CONNECTIONn, when given.
    pub connection: Option<String>,
    /// The request.
    pub request: RequestTemplate,
    /// RESPONSEDATAPATHn: the repeated record elements.
    pub record_path: Path,
    /// ACCOUNTMAPPINGn: account columns.
    pub columns: Vec<(String, Path)>,
    /// ENTITLEMENTMAPPINGn of an ACCOUNTS or EACHACCOUNT call: link type ← path.
    pub links: Vec<(String, Path)>,
    /// ENTITLEMENTMAPPINGn of an ENTITLEMENTS call.
    pub entitlements: Vec<EntitlementMapping>,
    /// The column that identifies an account (RECONCILIATIONFIELDn, `name` by default).
    pub reconciliation_column: String,
}

/// The whole import plan.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    /// The calls, in the order they run.
    pub calls: Vec<ImportCall>,
}

/// Parses the plan; `None` when it has errors (added to `problems`).
pub(crate) fn parse(
    text: &str,
    connection: &Connection,
    mode: Mode,
    connections: &Connections,
    problems: &mut Vec<Problem>,
) -> Option<ImportPlan> {
    let before = problems.len();
    let object = match json::parse(ATTRIBUTE, text, problems)? {
        Value::Object(object) => object,
        _ => {
            problems.push(Problem::error(
                ATTRIBUTE,
                None,
                "expected a JSON object of numbered keys (REQUESTXML1, ...)",
            ));
            return None;
        }
    };
    let calls = group_by_number(&object, problems);
    check_numbering(&calls, problems);
    let mut parsed = Vec::new();
    let mut accounts_seen = false;
    for (number, keys) in &calls {
        let context = CallContext {
            number: *number,
            keys,
            connection,
            mode,
        };
        if let Some(call) = context.parse(accounts_seen, connections, problems) {
            accounts_seen |= call.kind == CallKind::Accounts;
            parsed.push(call);
        }
    }
    let has_errors = problems[before..]
        .iter()
        .any(|p| p.severity == Severity::Error);
    (!has_errors).then_some(ImportPlan { calls: parsed })
}

/// Sorts the keys into calls by number; warns about keys that belong to no call.
fn group_by_number<'a>(
    object: &'a Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<u32, BTreeMap<&'static str, &'a Value>> {
    let mut calls: BTreeMap<u32, BTreeMap<&'static str, &'a Value>> = BTreeMap::new();
    for (key, value) in object {
        let digits_at = key.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (prefix, digits) = key.split_at(digits_at);
        let known = CALL_KEYS
            .iter()
            .find(|known| known.eq_ignore_ascii_case(prefix));
        match (known, digits.parse::<u32>()) {
            (Some(known), Ok(number)) if number > 0 => {
                calls.entry(number).or_default().insert(known, value);
            }
            (Some(_), _) => problems.push(Problem::error(
                ATTRIBUTE,
                Some(key.clone()),
                format!(
                    "`{key}` has no call number: write it as {}1, {}2, ...",
                    prefix.to_ascii_uppercase(),
                    prefix.to_ascii_uppercase()
                ),
            )),
            (None, _) => problems.push(Problem::warning(
                ATTRIBUTE,
                Some(key.clone()),
                format!(
                    "unknown key `{key}` is ignored (known: {}, each followed by its call number)",
                    CALL_KEYS.join(", ")
                ),
            )),
        }
    }
    calls
}

fn check_numbering(
    calls: &BTreeMap<u32, BTreeMap<&'static str, &Value>>,
    problems: &mut Vec<Problem>,
) {
    if calls.is_empty() {
        problems.push(Problem::error(
            ATTRIBUTE,
            None,
            "the plan has no call: add REQUESTXML1, RESPONSEDATAPATH1 and ACCOUNTMAPPING1",
        ));
        return;
    }
    let missing = missing_numbers(calls.keys().copied());
    if !missing.is_empty() {
        let present: Vec<String> = calls.keys().map(u32::to_string).collect();
        problems.push(Problem::error(
            ATTRIBUTE,
            None,
            format!(
                "calls are numbered {} : call {} missing; number the calls 1, 2, 3 ... without gaps",
                present.join(", "),
                missing.join(", ")
            ),
        ));
    }
}

/// The call numbers missing below the last of `present` (ascending), at most
/// [`MAX_MISSING_LISTED`] of them and then `…`: a key such as `REQUESTXML414996502` must not
/// make a list of four hundred million numbers.
fn missing_numbers(present: impl Iterator<Item = u32>) -> Vec<String> {
    let mut missing = Vec::new();
    let mut expected = 1u32;
    for number in present {
        for gap in expected..number {
            if missing.len() == MAX_MISSING_LISTED {
                missing.push("…".to_string());
                return missing;
            }
            missing.push(gap.to_string());
        }
        expected = number.saturating_add(1);
    }
    missing
}

struct CallContext<'a> {
    number: u32,
    keys: &'a BTreeMap<&'static str, &'a Value>,
    connection: &'a Connection,
    mode: Mode,
}

impl CallContext<'_> {
    fn location(&self, key: &str) -> String {
        format!("{key}{}", self.number)
    }

    fn error(&self, key: &str, message: impl Into<String>, problems: &mut Vec<Problem>) {
        problems.push(Problem::error(ATTRIBUTE, Some(self.location(key)), message));
    }

    fn string(&self, key: &str, problems: &mut Vec<Problem>) -> Option<&str> {
        let value = self.keys.get(key)?;
        match json::string(value) {
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => Some(text),
            Err(message) => {
                self.error(key, message, problems);
                None
            }
        }
    }

    fn required(&self, key: &str, why: &str, problems: &mut Vec<Problem>) -> Option<&str> {
        let found = self.string(key, problems);
        if found.is_none() && self.keys.get(key).is_none_or(|v| v.is_string()) {
            self.error(
                key,
                format!(
                    "missing: call {} needs {key}{} ({why})",
                    self.number, self.number
                ),
                problems,
            );
        }
        found
    }

    fn path(&self, key: &str, text: &str, problems: &mut Vec<Problem>) -> Option<Path> {
        Path::parse(text)
            .map_err(|error| self.error(key, format!("path `{text}`: {error}"), problems))
            .ok()
    }

    fn parse(
        &self,
        accounts_seen: bool,
        connections: &Connections,
        problems: &mut Vec<Problem>,
    ) -> Option<ImportCall> {
        let before = problems.len();
        let kind = self.kind(problems)?;
        if kind == CallKind::EachAccount && !accounts_seen {
            self.error("REQUESTTYPE", "an EACHACCOUNT call runs once per imported account, so an ACCOUNTS call must come before it", problems);
        }
        let connection_name = self.string("CONNECTION", problems).map(str::to_string);
        if let Some(name) = &connection_name {
            connections.check_reference(name, ATTRIBUTE, self.location("CONNECTION"), problems);
        }
        let uses_token = connections.token_for(connection_name.as_deref()).is_some();
        let request = self.request(kind, uses_token, problems);
        let record_path = self.record_path(problems);
        let reconciliation_column = self.string("RECONCILIATIONFIELD", problems).map_or_else(
            || "name".to_string(),
            |field| field.trim().to_ascii_lowercase(),
        );
        let columns = self.columns(kind, problems);
        let (links, entitlements) = self.entitlement_mapping(kind, problems);
        self.check_mapping_present(
            kind,
            &columns,
            &links,
            &entitlements,
            &reconciliation_column,
            problems,
        );
        if problems[before..]
            .iter()
            .any(|p| p.severity == Severity::Error)
        {
            return None;
        }
        Some(ImportCall {
            number: self.number,
            kind,
            connection: connection_name,
            request: request?,
            record_path: record_path?,
            columns,
            links,
            entitlements,
            reconciliation_column,
        })
    }

    fn kind(&self, problems: &mut Vec<Problem>) -> Option<CallKind> {
        match self
            .string("REQUESTTYPE", problems)
            .map(|t| t.trim().to_ascii_uppercase())
            .as_deref()
        {
            None | Some("ACCOUNTS") | Some("ACCOUNT") => Some(CallKind::Accounts),
            Some("ENTITLEMENTS") | Some("ENTITLEMENT") => Some(CallKind::Entitlements),
            Some("EACHACCOUNT") => Some(CallKind::EachAccount),
            Some(other) => {
                self.error(
                    "REQUESTTYPE",
                    format!(
                        "`{other}` is not a request type: use ACCOUNTS, ENTITLEMENTS or EACHACCOUNT"
                    ),
                    problems,
                );
                None
            }
        }
    }

    fn request(
        &self,
        kind: CallKind,
        uses_token: bool,
        problems: &mut Vec<Problem>,
    ) -> Option<RequestTemplate> {
        let xml = self.required("REQUESTXML", "the request body", problems)?;
        let locate = |key: &str| self.location(key);
        let site = format!("{ATTRIBUTE} call {}", self.number);
        let parts = RequestParts {
            attribute: ATTRIBUTE,
            locate: &locate,
            site: &site,
            xml,
            params: self.keys.get("REQUESTPARAMS").copied(),
            soap_action: self.string("SOAPACTION", problems),
        };
        let scope = Scope {
            kind: if kind == CallKind::EachAccount {
                ScopeKind::EachAccount
            } else {
                ScopeKind::Import
            },
            access_token: uses_token,
        };
        RequestTemplate::parse(&parts, &scope, self.connection, self.mode, problems)
    }

    fn record_path(&self, problems: &mut Vec<Problem>) -> Option<Path> {
        let text = self.required(
            "RESPONSEDATAPATH",
            "the path to the repeated records in the response",
            problems,
        )?;
        let path = self.path("RESPONSEDATAPATH", text, problems)?;
        if !path.selects_elements() {
            self.error(
                "RESPONSEDATAPATH",
                format!("`{text}` must select elements (the records), not an attribute"),
                problems,
            );
            return None;
        }
        let starts_with_body =
            matches!(path.steps.first(), Some(crate::path::Step::Element(name)) if name == "Body");
        let hint = match (self.mode, starts_with_body) {
            (Mode::Soap, false) => {
                Some("in SOAP mode paths start below the Envelope, normally with `Body`")
            }
            (Mode::Xml, true) => Some(
                "in XML mode there is no SOAP Body: paths start below `server`, e.g. `responses...`",
            ),
            _ => None,
        };
        if let Some(hint) = hint {
            problems.push(Problem::warning(
                ATTRIBUTE,
                Some(self.location("RESPONSEDATAPATH")),
                hint,
            ));
        }
        Some(path)
    }

    /// ACCOUNTMAPPINGn: `"col:path, col:path"`.
    fn columns(&self, kind: CallKind, problems: &mut Vec<Problem>) -> Vec<(String, Path)> {
        let Some(text) = self.string("ACCOUNTMAPPING", problems) else {
            return Vec::new();
        };
        if kind == CallKind::Entitlements {
            problems.push(Problem::warning(
                ATTRIBUTE,
                Some(self.location("ACCOUNTMAPPING")),
                "an ENTITLEMENTS call maps no account columns: ignored",
            ));
            return Vec::new();
        }
        let mut columns: Vec<(String, Path)> = Vec::new();
        for pair in text
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let Some((column, path_text)) = pair.split_once(':') else {
                self.error(
                    "ACCOUNTMAPPING",
                    format!("`{pair}` is not `column:path`"),
                    problems,
                );
                continue;
            };
            let column = column.trim();
            if column.is_empty() {
                self.error(
                    "ACCOUNTMAPPING",
                    format!("`{pair}` has no column name"),
                    problems,
                );
                continue;
            }
            if columns
                .iter()
                .any(|(known, _)| known.eq_ignore_ascii_case(column))
            {
                self.error(
                    "ACCOUNTMAPPING",
                    format!("column `{column}` is mapped twice"),
                    problems,
                );
                continue;
            }
            if let Some(path) = self.path("ACCOUNTMAPPING", path_text, problems) {
                columns.push((column.to_string(), path));
            }
        }
        columns
    }

    fn entitlement_mapping(
        &self,
        kind: CallKind,
        problems: &mut Vec<Problem>,
    ) -> (Vec<(String, Path)>, Vec<EntitlementMapping>) {
        let Some(value) = self.keys.get("ENTITLEMENTMAPPING") else {
            return (Vec::new(), Vec::new());
        };
        let map = match json::object(value) {
            Ok(map) => map,
            Err(message) => {
                self.error("ENTITLEMENTMAPPING", message, problems);
                return (Vec::new(), Vec::new());
            }
        };
        let mut links = Vec::new();
        let mut entitlements = Vec::new();
        for (entitlement_type, mapping) in &map {
            match (kind, mapping) {
                (CallKind::Entitlements, Value::Object(columns)) => {
                    if let Some(mapping) = self.entitlement_columns(entitlement_type, columns, problems) {
                        entitlements.push(mapping);
                    }
                }
                (CallKind::Entitlements, _) => self.error(
                    "ENTITLEMENTMAPPING",
                    format!("`{entitlement_type}`: an ENTITLEMENTS call maps each type to an object {{\"entitlement_value\": \"<path>\", \"<column>\": \"<path>\"}}"),
                    problems,
                ),
                (_, Value::String(path_text)) => {
                    if let Some(path) = self.path("ENTITLEMENTMAPPING", path_text, problems) {
                        links.push((entitlement_type.clone(), path));
                    }
                }
                (_, _) => self.error(
                    "ENTITLEMENTMAPPING",
                    format!("`{entitlement_type}`: an ACCOUNTS call maps each type to the path of its values inside the account record"),
                    problems,
                ),
            }
        }
        (links, entitlements)
    }

    fn entitlement_columns(
        &self,
        entitlement_type: &str,
        columns: &Map<String, Value>,
        problems: &mut Vec<Problem>,
    ) -> Option<EntitlementMapping> {
        let mut value = None;
        let mut mapped = Vec::new();
        for (column, path_value) in columns {
            let Ok(path_text) = json::string(path_value) else {
                self.error(
                    "ENTITLEMENTMAPPING",
                    format!("`{entitlement_type}.{column}`: the path must be a string"),
                    problems,
                );
                continue;
            };
            let Some(path) = self.path("ENTITLEMENTMAPPING", path_text, problems) else {
                continue;
            };
            if column.eq_ignore_ascii_case("entitlement_value") {
                value = Some(path);
            } else {
                mapped.push((column.clone(), path));
            }
        }
        if value.is_none() {
            self.error(
                "ENTITLEMENTMAPPING",
                format!("`{entitlement_type}` maps no `entitlement_value`"),
                problems,
            );
        }
        Some(EntitlementMapping {
            entitlement_type: entitlement_type.to_string(),
            value: value?,
            columns: mapped,
        })
    }

    fn check_mapping_present(
        &self,
        kind: CallKind,
        columns: &[(String, Path)],
        links: &[(String, Path)],
        entitlements: &[EntitlementMapping],
        reconciliation_column: &str,
        problems: &mut Vec<Problem>,
    ) {
        match kind {
            CallKind::Accounts if !columns.iter().any(|(c, _)| c.eq_ignore_ascii_case(reconciliation_column)) => self.error(
                "ACCOUNTMAPPING",
                format!("the account column `{reconciliation_column}` that identifies accounts (RECONCILIATIONFIELD) is not mapped"),
                problems,
            ),
            CallKind::Entitlements if entitlements.is_empty() => {
                self.error("ENTITLEMENTMAPPING", "an ENTITLEMENTS call needs ENTITLEMENTMAPPING with at least one type", problems)
            }
            CallKind::EachAccount if columns.is_empty() && links.is_empty() => {
                self.error("ACCOUNTMAPPING", "an EACHACCOUNT call needs ACCOUNTMAPPING or ENTITLEMENTMAPPING", problems)
            }
            _ => {}
        }
    }
}
