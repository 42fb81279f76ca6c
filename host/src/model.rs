//! Plain data about what a target reports: accounts, entitlements and the links between them.
//!
//! These types exist so the store (which keeps them) and the jobs (which receive them from the
//! connector) speak the same language without either depending on the other, and without any
//! wasmtime type leaking into the state layer. They hold data only; they decide nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Named column values in the order the target reported them.
///
/// A list of pairs rather than a map: column order is part of what users see and compare, and
/// Saviynt's mappings are ordered.
pub type Columns = Vec<(String, String)>;

/// One account as reported by the target in an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account name, the identifier the store keys accounts by.
    pub name: String,
    /// The account's columns (Saviynt's `name`, `accountID`, `displayname`, `customproperty1`...).
    pub columns: Columns,
    /// The entitlements the target reports the account has.
    pub entitlements: Vec<EntitlementRef>,
}

/// A reference to an entitlement by its type and value, as held by an account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntitlementRef {
    /// The entitlement type, such as `Role` or `Entity`.
    pub entitlement_type: String,
    /// The entitlement value, unique within its type.
    pub value: String,
}

/// One entitlement as reported by the target in an access import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// The entitlement type, such as `Role` or `Entity`.
    pub entitlement_type: String,
    /// The entitlement value, unique within its type.
    pub value: String,
    /// The entitlement's columns (`entitlementID`, `displayname`, `description`...).
    pub columns: Columns,
}

/// What an import brings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportScope {
    /// Accounts and the entitlements they hold (the `ACCOUNTS` and `EACHACCOUNT` calls).
    Accounts,
    /// The entitlement catalogue (the `ENTITLEMENTS` calls).
    Access,
    /// Both, accounts first.
    All,
}

impl ImportScope {
    /// Every scope, in the order they are usually listed.
    pub const ALL: [ImportScope; 3] =
        [ImportScope::Accounts, ImportScope::Access, ImportScope::All];

    /// The scope's name as written on the command line and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ImportScope::Accounts => "accounts",
            ImportScope::Access => "access",
            ImportScope::All => "all",
        }
    }
}

impl fmt::Display for ImportScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`ImportScope`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown import scope {given:?}: use accounts, access or all")]
pub struct ParseScopeError {
    /// The text that was given.
    pub given: String,
}

impl FromStr for ImportScope {
    type Err = ParseScopeError;

    /// Parses `accounts`, `access` or `all`, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        ImportScope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseScopeError {
                given: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parses_and_displays() {
        let cases: &[(&str, Option<ImportScope>)] = &[
            ("accounts", Some(ImportScope::Accounts)),
            ("access", Some(ImportScope::Access)),
            ("all", Some(ImportScope::All)),
            ("ALL", Some(ImportScope::All)),
            (" Accounts ", Some(ImportScope::Accounts)),
            ("", None),
            ("account", None),
            ("entitlements", None),
        ];
        for (input, expected) in cases {
            let parsed = input.parse::<ImportScope>();
            match expected {
                Some(scope) => {
                    assert_eq!(parsed.as_ref(), Ok(scope), "input {input:?}");
                    assert_eq!(parsed.unwrap().to_string(), input.trim().to_lowercase());
                }
                None => assert_eq!(
                    parsed,
                    Err(ParseScopeError {
                        given: input.to_string()
                    }),
                    "input {input:?}"
                ),
            }
        }
    }

    #[test]
    fn scope_error_says_what_is_accepted() {
        let err = "everything".parse::<ImportScope>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown import scope \"everything\": use accounts, access or all"
        );
    }

    #[test]
    fn scope_serializes_as_its_name() {
        for scope in ImportScope::ALL {
            let json = serde_json::to_string(&scope).unwrap();
            assert_eq!(json, format!("\"{scope}\""));
            assert_eq!(serde_json::from_str::<ImportScope>(&json).unwrap(), scope);
        }
    }

    #[test]
    fn account_round_trips_through_json() {
        let account = Account {
            name: "jdoe".into(),
            columns: vec![
                ("name".into(), "jdoe".into()),
                ("accountID".into(), "7".into()),
            ],
            entitlements: vec![EntitlementRef {
                entitlement_type: "Role".into(),
                value: "Underwriter".into(),
            }],
        };
        let json = serde_json::to_string(&account).unwrap();
        assert_eq!(
            json,
            r#"{"name":"jdoe","columns":[["name","jdoe"],["accountID","7"]],"entitlements":[{"entitlement_type":"Role","value":"Underwriter"}]}"#
        );
        assert_eq!(serde_json::from_str::<Account>(&json).unwrap(), account);
    }
}
