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

/// The status an account or entitlement gets when the target reports it and nothing says
/// otherwise.
pub const ACTIVE: &str = "active";

/// The status of an account whose status column says inactive, of an account no longer reported
/// when `inactivateAccountsNotInFile` is set, and of an entitlement no longer reported.
pub const INACTIVE: &str = "inactive";

/// The status of an account no longer reported (unless `inactivateAccountsNotInFile` is set).
pub const SUSPENDED: &str = "SUSPENDED FROM IMPORT SERVICE";

/// How a complete import reconciles the store with the target (from `STATUS_THRESHOLD_CONFIG`,
/// parsed by the component).
///
/// Status and lock values are compared trimmed and ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reconciliation {
    /// The account column holding the target's status (`statusColumn`); `None`: every reported
    /// account is active.
    pub status_column: Option<String>,
    /// The values meaning active (`activeStatus`). Empty: every value not in
    /// [`inactive_statuses`](Self::inactive_statuses) is active.
    pub active_statuses: Vec<String>,
    /// The values meaning inactive (`inactiveStatus`); used when `active_statuses` is empty.
    pub inactive_statuses: Vec<String>,
    /// `accountThresholdValue`: when an import would remove this many accounts or more, it
    /// removes none of them (and reports it).
    pub account_threshold: Option<u64>,
    /// `inactivateAccountsNotInFile`: accounts no longer reported become `inactive` (true) or
    /// `SUSPENDED FROM IMPORT SERVICE` (false).
    pub inactivate_accounts_not_in_file: bool,
    /// `inactivateEntsNotInFeed`: entitlements no longer reported become `inactive`; false leaves
    /// them as they are.
    pub inactivate_entitlements_not_in_feed: bool,
    /// `entThresholdValue`: per entitlement type, the removal count at which an import removes
    /// none of that type's entitlements.
    pub entitlement_thresholds: Vec<(String, u64)>,
    /// `deleteLinks`: links of reported accounts that an import no longer reports are deleted.
    pub delete_links: bool,
    /// `lockedStatusColumn`: the account column saying whether the account is locked.
    pub locked_status_column: Option<String>,
    /// The values of the locked column meaning locked (`lockedStatusMapping.Locked`).
    pub locked_values: Vec<String>,
    /// The values of the locked column meaning unlocked (`lockedStatusMapping.Unlocked`).
    pub unlocked_values: Vec<String>,
    /// `correlateInactiveAccounts`: accounts that are not active are correlated to identities too.
    pub correlate_inactive_accounts: bool,
    /// An account import reporting no account at all is legitimate; otherwise it removes nothing
    /// (as if over a threshold).
    pub allow_empty_account_list: bool,
    /// Removals an operator accepted for this one import despite the thresholds (`dcconn import
    /// --accept-removals RUN`); none unless asked.
    pub accepted_removals: AcceptedRemovals,
}

/// Removals a threshold withheld in a run that an operator accepted, for one import: that
/// import applies its own removals of each accepted kind despite the threshold, as long as they
/// are no more than the run withheld. They are the import's own, found missing by it, never the
/// earlier run's list: what came back since is not removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedRemovals {
    /// The account removals the run withheld; `None`: none accepted.
    pub accounts: Option<u64>,
    /// Per entitlement type, the removals the run withheld.
    pub entitlements: Vec<(String, u64)>,
}

impl AcceptedRemovals {
    /// Whether removing `missing` accounts is accepted.
    pub fn covers_accounts(&self, missing: u64) -> bool {
        self.accounts.is_some_and(|accepted| missing <= accepted)
    }

    /// Whether removing `missing` entitlements of `entitlement_type` is accepted.
    pub fn covers_entitlements(&self, entitlement_type: &str, missing: u64) -> bool {
        self.entitlements.iter().any(|(accepted_type, accepted)| {
            accepted_type == entitlement_type && missing <= *accepted
        })
    }
}

impl Default for Reconciliation {
    /// Nothing configured: every reported account active, missing accounts suspended, missing
    /// entitlements inactivated, stale links deleted, no thresholds, an empty account list
    /// withheld.
    fn default() -> Self {
        Reconciliation {
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
            accepted_removals: AcceptedRemovals::default(),
        }
    }
}

/// How accounts are matched to identities: `(account column, identity attribute)` pairs, tried in
/// order.
///
/// The account column `name` means the account name; the identity attribute is `username`,
/// `firstname`, `lastname`, `email` or another column of the identity file (`customproperty1`...).
/// Written `name=username,customproperty1=email`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrelationRule(pub Vec<(String, String)>);

impl Default for CorrelationRule {
    /// `name=username,customproperty1=email`.
    fn default() -> Self {
        CorrelationRule(vec![
            ("name".to_owned(), "username".to_owned()),
            ("customproperty1".to_owned(), "email".to_owned()),
        ])
    }
}

impl fmt::Display for CorrelationRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (column, attribute)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{column}={attribute}")?;
        }
        Ok(())
    }
}

/// Text that is not a [`CorrelationRule`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseCorrelationError {
    /// Nothing was given.
    #[error(
        "the correlation rule is empty: write pairs such as name=username,customproperty1=email"
    )]
    Empty,
    /// A pair has no `=`.
    #[error(
        "correlation pair {pair:?} has no '=': write account column=identity attribute, such as name=username"
    )]
    MissingEquals {
        /// The pair as given.
        pair: String,
    },
    /// A pair has nothing on one side of its `=`.
    #[error(
        "correlation pair {pair:?} lacks an account column or an identity attribute: write account column=identity attribute, such as customproperty1=email"
    )]
    EmptySide {
        /// The pair as given.
        pair: String,
    },
}

impl FromStr for CorrelationRule {
    type Err = ParseCorrelationError;

    /// Parses comma-separated `column=attribute` pairs; spaces around names are ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(ParseCorrelationError::Empty);
        }
        s.split(',')
            .map(|pair| {
                let (column, attribute) =
                    pair.split_once('=')
                        .ok_or_else(|| ParseCorrelationError::MissingEquals {
                            pair: pair.trim().to_owned(),
                        })?;
                let (column, attribute) = (column.trim(), attribute.trim());
                if column.is_empty() || attribute.is_empty() {
                    return Err(ParseCorrelationError::EmptySide {
                        pair: pair.trim().to_owned(),
                    });
                }
                Ok((column.to_owned(), attribute.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(CorrelationRule)
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

    #[test]
    fn reconciliation_default_is_the_documented_one() {
        let policy = Reconciliation::default();
        assert_eq!(
            policy,
            Reconciliation {
                status_column: None,
                active_statuses: vec![],
                inactive_statuses: vec![],
                account_threshold: None,
                inactivate_accounts_not_in_file: false,
                inactivate_entitlements_not_in_feed: true,
                entitlement_thresholds: vec![],
                delete_links: true,
                locked_status_column: None,
                locked_values: vec![],
                unlocked_values: vec![],
                correlate_inactive_accounts: false,
                allow_empty_account_list: false,
                accepted_removals: AcceptedRemovals::default(),
            }
        );
        // Missing fields take the defaults.
        let parsed: Reconciliation = serde_json::from_str(
            r#"{"account_threshold":5,"entitlement_thresholds":[["Role",3]]}"#,
        )
        .unwrap();
        assert_eq!(
            parsed,
            Reconciliation {
                account_threshold: Some(5),
                entitlement_thresholds: vec![("Role".into(), 3)],
                ..Reconciliation::default()
            }
        );
    }

    #[test]
    fn correlation_rule_parses_and_displays() {
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        type Case<'a> = (&'a str, Vec<(String, String)>, &'a str);
        let ok: &[Case] = &[
            (
                "name=username,customproperty1=email",
                vec![pair("name", "username"), pair("customproperty1", "email")],
                "name=username,customproperty1=email",
            ),
            (
                " name = username , displayname=lastname",
                vec![pair("name", "username"), pair("displayname", "lastname")],
                "name=username,displayname=lastname",
            ),
            ("email=email", vec![pair("email", "email")], "email=email"),
        ];
        for (input, pairs, shown) in ok {
            let rule: CorrelationRule = input.parse().unwrap();
            assert_eq!(rule.0, *pairs, "{input:?}");
            assert_eq!(rule.to_string(), *shown);
            assert_eq!(shown.parse::<CorrelationRule>().unwrap(), rule);
        }
        assert_eq!(
            CorrelationRule::default().to_string(),
            "name=username,customproperty1=email"
        );
        let bad: &[(&str, ParseCorrelationError, &str)] = &[
            (
                " ",
                ParseCorrelationError::Empty,
                "the correlation rule is empty: write pairs such as name=username,customproperty1=email",
            ),
            (
                "name=username,email",
                ParseCorrelationError::MissingEquals {
                    pair: "email".into(),
                },
                "correlation pair \"email\" has no '=': write account column=identity attribute, such as name=username",
            ),
            (
                "name=username,",
                ParseCorrelationError::MissingEquals { pair: "".into() },
                "correlation pair \"\" has no '=': write account column=identity attribute, such as name=username",
            ),
            (
                "=username",
                ParseCorrelationError::EmptySide {
                    pair: "=username".into(),
                },
                "correlation pair \"=username\" lacks an account column or an identity attribute: write account column=identity attribute, such as customproperty1=email",
            ),
            (
                "name= ",
                ParseCorrelationError::EmptySide {
                    pair: "name=".into(),
                },
                "correlation pair \"name=\" lacks an account column or an identity attribute: write account column=identity attribute, such as customproperty1=email",
            ),
        ];
        for (input, error, message) in bad {
            let err = input.parse::<CorrelationRule>().unwrap_err();
            assert_eq!(err, *error, "{input:?}");
            assert_eq!(err.to_string(), *message);
        }
    }
}
