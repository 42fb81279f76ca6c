//! STATUS_THRESHOLD_CONFIG: how a complete import reconciles the store with the target and how
//! an account's status is read. The host applies the policy; only its parsing lives here.
//!
//! `{"statusAndThresholdConfig": {...}}` with Saviynt's keys. Exports write numbers and booleans
//! either as JSON values or as strings (`"100"`, `"true"`), and value lists either as arrays or as
//! comma-separated strings: both are accepted. Unknown keys are warnings.

use serde_json::{Map, Value};

use crate::error::{Problem, Severity};

use super::json;

/// The attribute.
pub const STATUS_THRESHOLD_CONFIG: &str = "STATUS_THRESHOLD_CONFIG";

const ROOT_KEY: &str = "statusAndThresholdConfig";

/// The reconciliation policy, with this project's defaults for what the attribute leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationPolicy {
    /// `statusColumn`: the account column holding the target's status.
    pub status_column: Option<String>,
    /// `activeStatus`: values of that column that mean active.
    pub active_statuses: Vec<String>,
    /// `inactiveStatus`: values that mean inactive.
    pub inactive_statuses: Vec<String>,
    /// `accountThresholdValue`: removals at or above this many are withheld.
    pub account_threshold: Option<u64>,
    /// `inactivateAccountsNotInFile`: missing accounts become inactive (true) or
    /// "SUSPENDED FROM IMPORT SERVICE" (false, the default).
    pub inactivate_accounts_not_in_file: bool,
    /// `inactivateEntsNotInFeed`: missing entitlements become inactive (default true).
    pub inactivate_entitlements_not_in_feed: bool,
    /// `entThresholdValue`: per entitlement type, removals at or above this many are withheld.
    pub entitlement_thresholds: Vec<(String, u64)>,
    /// `deleteLinks`: links the import no longer reports are removed (default true).
    pub delete_links: bool,
    /// `lockedStatusColumn`: the account column telling whether it is locked.
    pub locked_status_column: Option<String>,
    /// `lockedStatusMapping.Locked`: values meaning locked.
    pub locked_values: Vec<String>,
    /// `lockedStatusMapping.Unlocked`: values meaning unlocked.
    pub unlocked_values: Vec<String>,
    /// `correlateInactiveAccounts`: inactive accounts are correlated to identities too.
    pub correlate_inactive_accounts: bool,
    /// `allowEmptyAccountList` (this project's key): an account list with no account at all is
    /// legitimate; otherwise it is treated as a threshold case.
    pub allow_empty_account_list: bool,
}

impl Default for ReconciliationPolicy {
    fn default() -> Self {
        ReconciliationPolicy {
            status_column: None,
            active_statuses: Vec::new(),
            inactive_statuses: Vec::new(),
            account_threshold: None,
            inactivate_accounts_not_in_file: false,
            inactivate_entitlements_not_in_feed: true,
            entitlement_thresholds: Vec::new(),
            delete_links: true,
            locked_status_column: None,
            locked_values: Vec::new(),
            unlocked_values: Vec::new(),
            correlate_inactive_accounts: false,
            allow_empty_account_list: false,
        }
    }
}

const KNOWN_KEYS: &[&str] = &[
    "statusColumn",
    "activeStatus",
    "inactiveStatus",
    "accountThresholdValue",
    "inactivateAccountsNotInFile",
    "inactivateEntsNotInFeed",
    "entThresholdValue",
    "deleteLinks",
    "lockedStatusColumn",
    "lockedStatusMapping",
    "correlateInactiveAccounts",
    "allowEmptyAccountList",
];

/// Parses the attribute; the defaults when it is absent. `None` when it has errors.
pub(crate) fn parse(
    text: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<ReconciliationPolicy> {
    let Some(text) = text else {
        return Some(ReconciliationPolicy::default());
    };
    let before = problems.len();
    let root = json::parse(STATUS_THRESHOLD_CONFIG, text, problems)?;
    let Some(config) = root.get(ROOT_KEY).and_then(Value::as_object) else {
        problems.push(error(None, format!("expected {{\"{ROOT_KEY}\": {{...}}}}")));
        return None;
    };
    for key in config
        .keys()
        .filter(|key| !KNOWN_KEYS.contains(&key.as_str()))
    {
        problems.push(Problem::warning(
            STATUS_THRESHOLD_CONFIG,
            Some(key.clone()),
            format!(
                "unknown key `{key}` is ignored (known: {})",
                KNOWN_KEYS.join(", ")
            ),
        ));
    }
    let mut reader = Reader { config, problems };
    let defaults = ReconciliationPolicy::default();
    let locked_mapping = reader.locked_mapping();
    let policy = ReconciliationPolicy {
        status_column: reader.string("statusColumn"),
        active_statuses: reader.list("activeStatus"),
        inactive_statuses: reader.list("inactiveStatus"),
        account_threshold: reader.number("accountThresholdValue"),
        inactivate_accounts_not_in_file: reader
            .boolean("inactivateAccountsNotInFile")
            .unwrap_or(defaults.inactivate_accounts_not_in_file),
        inactivate_entitlements_not_in_feed: reader
            .boolean("inactivateEntsNotInFeed")
            .unwrap_or(defaults.inactivate_entitlements_not_in_feed),
        entitlement_thresholds: reader.entitlement_thresholds(),
        delete_links: reader
            .boolean("deleteLinks")
            .unwrap_or(defaults.delete_links),
        locked_status_column: reader.string("lockedStatusColumn"),
        locked_values: locked_mapping.0,
        unlocked_values: locked_mapping.1,
        correlate_inactive_accounts: reader
            .boolean("correlateInactiveAccounts")
            .unwrap_or(defaults.correlate_inactive_accounts),
        allow_empty_account_list: reader
            .boolean("allowEmptyAccountList")
            .unwrap_or(defaults.allow_empty_account_list),
    };
    if policy.status_column.is_some()
        && policy.active_statuses.is_empty()
        && policy.inactive_statuses.is_empty()
    {
        problems.push(error(
            Some("statusColumn"),
            "a status column needs `activeStatus` (or `inactiveStatus`): which values mean active?"
                .into(),
        ));
    }
    let has_errors = problems[before..]
        .iter()
        .any(|p| p.severity == Severity::Error);
    (!has_errors).then_some(policy)
}

fn error(key: Option<&str>, message: String) -> Problem {
    Problem::error(STATUS_THRESHOLD_CONFIG, key.map(str::to_string), message)
}

struct Reader<'a> {
    config: &'a Map<String, Value>,
    problems: &'a mut Vec<Problem>,
}

impl Reader<'_> {
    fn string(&mut self, key: &str) -> Option<String> {
        match self.config.get(key)? {
            Value::String(text) if text.trim().is_empty() => None,
            Value::String(text) => Some(text.trim().to_string()),
            _ => {
                self.problems
                    .push(error(Some(key), "expected a string".into()));
                None
            }
        }
    }

    fn list(&mut self, key: &str) -> Vec<String> {
        list_of(self.config.get(key)).unwrap_or_else(|message| {
            self.problems.push(error(Some(key), message));
            Vec::new()
        })
    }

    fn number(&mut self, key: &str) -> Option<u64> {
        let value = self.config.get(key)?;
        let parsed = match value {
            Value::Number(number) => number.as_u64(),
            Value::String(text) if text.trim().is_empty() => return None,
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.problems.push(error(
                Some(key),
                format!("expected a whole number, found {value}"),
            ));
        }
        parsed
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        let value = self.config.get(key)?;
        let parsed = match value {
            Value::Bool(flag) => Some(*flag),
            Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                "" => return None,
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.problems.push(error(
                Some(key),
                format!("expected true or false, found {value}"),
            ));
        }
        parsed
    }

    /// `{"entType": {"Role": {"ent": 100}}}`.
    fn entitlement_thresholds(&mut self) -> Vec<(String, u64)> {
        let Some(value) = self.config.get("entThresholdValue") else {
            return Vec::new();
        };
        let Some(types) = value.get("entType").and_then(Value::as_object) else {
            self.problems.push(error(
                Some("entThresholdValue"),
                "expected {\"entType\": {\"<type>\": {\"ent\": <number>}}}".into(),
            ));
            return Vec::new();
        };
        let mut thresholds = Vec::new();
        for (entitlement_type, setting) in types {
            let threshold = match setting.get("ent") {
                Some(Value::Number(number)) => number.as_u64(),
                Some(Value::String(text)) => text.trim().parse().ok(),
                _ => None,
            };
            match threshold {
                Some(threshold) => thresholds.push((entitlement_type.clone(), threshold)),
                None => self.problems.push(error(
                    Some(&format!("entThresholdValue.entType.{entitlement_type}")),
                    "expected {\"ent\": <whole number>}".into(),
                )),
            }
        }
        thresholds
    }

    fn locked_mapping(&mut self) -> (Vec<String>, Vec<String>) {
        let Some(value) = self.config.get("lockedStatusMapping") else {
            return (Vec::new(), Vec::new());
        };
        let Some(map) = value.as_object() else {
            self.problems.push(error(
                Some("lockedStatusMapping"),
                "expected {\"Locked\": [...], \"Unlocked\": [...]}".into(),
            ));
            return (Vec::new(), Vec::new());
        };
        let mut read = |key: &str| {
            list_of(map.get(key)).unwrap_or_else(|message| {
                self.problems
                    .push(error(Some(&format!("lockedStatusMapping.{key}")), message));
                Vec::new()
            })
        };
        (read("Locked"), read("Unlocked"))
    }
}

/// A list given as a JSON array of strings or as a comma-separated string.
fn list_of(value: Option<&Value>) -> Result<Vec<String>, String> {
    let split = |text: &str| -> Vec<String> {
        text.split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(split(text)),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.trim().to_string()),
                Value::Number(number) => Ok(number.to_string()),
                _ => Err("expected a list of strings".to_string()),
            })
            .collect(),
        Some(_) => Err("expected a list of strings or a comma-separated string".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (Option<ReconciliationPolicy>, Vec<Problem>) {
        let mut problems = Vec::new();
        (parse(Some(text), &mut problems), problems)
    }

    #[test]
    fn absent_means_the_documented_defaults() {
        let mut problems = Vec::new();
        assert_eq!(
            parse(None, &mut problems),
            Some(ReconciliationPolicy::default())
        );
        assert!(problems.is_empty());
    }

    #[test]
    fn reads_every_key_in_both_spellings() {
        let (policy, problems) = parsed(
            r#"{"statusAndThresholdConfig": {"statusColumn": "customproperty2", "activeStatus": ["Active", "Enabled"],
                "inactiveStatus": "Inactive, Disabled", "accountThresholdValue": "25", "inactivateAccountsNotInFile": "true",
                "inactivateEntsNotInFeed": false, "entThresholdValue": {"entType": {"Role": {"ent": 3}, "Entity": {"ent": "7"}}},
                "deleteLinks": "false", "lockedStatusColumn": "customproperty2",
                "lockedStatusMapping": {"Locked": ["Locked"], "Unlocked": "Active,Inactive"},
                "correlateInactiveAccounts": true, "allowEmptyAccountList": true}}"#,
        );
        assert_eq!(problems, vec![]);
        assert_eq!(
            policy,
            Some(ReconciliationPolicy {
                status_column: Some("customproperty2".into()),
                active_statuses: vec!["Active".into(), "Enabled".into()],
                inactive_statuses: vec!["Inactive".into(), "Disabled".into()],
                account_threshold: Some(25),
                inactivate_accounts_not_in_file: true,
                inactivate_entitlements_not_in_feed: false,
                entitlement_thresholds: vec![("Role".into(), 3), ("Entity".into(), 7)],
                delete_links: false,
                locked_status_column: Some("customproperty2".into()),
                locked_values: vec!["Locked".into()],
                unlocked_values: vec!["Active".into(), "Inactive".into()],
                correlate_inactive_accounts: true,
                allow_empty_account_list: true,
            })
        );
    }

    #[test]
    fn reports_mistakes_with_the_key() {
        let cases = [
            (
                r#"{"other": {}}"#,
                Severity::Error,
                None,
                "expected {\"statusAndThresholdConfig\"",
            ),
            (
                r#"{"statusAndThresholdConfig": {"accountThresholdValue": "many"}}"#,
                Severity::Error,
                Some("accountThresholdValue"),
                "whole number",
            ),
            (
                r#"{"statusAndThresholdConfig": {"deleteLinks": "yes"}}"#,
                Severity::Error,
                Some("deleteLinks"),
                "true or false",
            ),
            (
                r#"{"statusAndThresholdConfig": {"statusColumn": "x"}}"#,
                Severity::Error,
                Some("statusColumn"),
                "needs `activeStatus`",
            ),
            (
                r#"{"statusAndThresholdConfig": {"entThresholdValue": {"entType": {"Role": 5}}}}"#,
                Severity::Error,
                Some("entThresholdValue.entType.Role"),
                "ent",
            ),
            (
                r#"{"statusAndThresholdConfig": {"thresholdValue": 5}}"#,
                Severity::Warning,
                Some("thresholdValue"),
                "unknown key",
            ),
        ];
        for (text, severity, key, message) in cases {
            let (_, problems) = parsed(text);
            assert!(
                problems.iter().any(|p| p.severity == severity
                    && p.location.as_deref() == key
                    && p.message.contains(message)),
                "{text}: {problems:?}"
            );
        }
    }
}
