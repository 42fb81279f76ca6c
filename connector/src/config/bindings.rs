//! What `${...}` can name, checked at load time and resolved at run time.
//!
//! Bound: connection attributes by name (`${USERNAME}`, `${PASSWORD}`), `account.*` (the
//! account's columns) in EACHACCOUNT calls and provisioning plans, `user.*` (the owner) and the
//! values earlier provisioning calls captured.

use crate::error::Problem;
use crate::model::Account;
use crate::template::{Bindings, Lookup, Template};

use super::Connection;

/// Where a template runs, which decides what it may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// ACCOUNTS and ENTITLEMENTS calls: connection attributes only.
    Import,
    /// EACHACCOUNT calls: also `account.*`.
    EachAccount,
    /// Provisioning calls: also `account.*`, `user.*`, `task.*`, `endpoint.*`, `accountName`
    /// and the values earlier calls captured.
    Provisioning {
        /// Names captured by earlier calls' RESPONSEMAPPING.
        captured: Vec<String>,
    },
}

const OBJECT_ROOTS: &[&str] = &["account", "user", "task", "endpoint"];

impl Scope {
    fn allows_object(&self, root: &str) -> bool {
        match self {
            Scope::Import => false,
            Scope::EachAccount => root == "account",
            Scope::Provisioning { .. } => OBJECT_ROOTS.contains(&root),
        }
    }

    fn allows_name(&self, name: &str) -> bool {
        match self {
            Scope::Provisioning { captured } => {
                name == "accountName" || captured.iter().any(|c| c == name)
            }
            _ => false,
        }
    }
}

/// Checks that every variable `template` names is bound in `scope`, adding a problem for each
/// one that is not.
pub(crate) fn check_variables(
    template: &Template,
    scope: &Scope,
    connection: &Connection,
    attribute: &str,
    location: &str,
    problems: &mut Vec<Problem>,
) {
    for (expr, (line, column)) in template.expressions() {
        for path in expr.paths() {
            let at = Some(format!("{location}, line {line}, column {column}"));
            if let Some(message) = unbound_reason(path, scope, connection) {
                problems.push(Problem::error(attribute, at, message));
            }
        }
    }
}

fn unbound_reason(path: &[String], scope: &Scope, connection: &Connection) -> Option<String> {
    let root = path[0].as_str();
    let written = path.join(".");
    if OBJECT_ROOTS.contains(&root) {
        if !scope.allows_object(root) {
            return Some(match scope {
                Scope::Import => format!(
                    "`${{{written}}}`: `{root}` is bound only in EACHACCOUNT calls and provisioning plans"
                ),
                _ => format!("`${{{written}}}`: `{root}` is not bound here"),
            });
        }
        return (path.len() != 2).then(|| format!("`${{{written}}}`: write `{root}.<column>`"));
    }
    if path.len() == 1 && (connection.get(root).is_some() || scope.allows_name(root)) {
        return None;
    }
    if path.len() == 1 && matches!(root, "USERNAME" | "PASSWORD") {
        return Some(format!(
            "`${{{root}}}` is used but the connection has no {root}: set it (for a secret, from an environment variable)"
        ));
    }
    Some(format!(
        "`${{{written}}}` names nothing: bound are connection attributes (`USERNAME`, `PASSWORD`, ...){}",
        match scope {
            Scope::Import => "",
            Scope::EachAccount => " and `account.<column>`",
            Scope::Provisioning { .. } => ", `account.*`, `user.*` and captured values",
        }
    ))
}

/// The values bound when a request is built.
pub struct RuntimeBindings<'a> {
    /// The connection's attributes.
    pub connection: &'a Connection,
    /// The account an EACHACCOUNT or provisioning call runs for.
    pub account: Option<&'a Account>,
    /// The account owner's attributes.
    pub user: &'a [(String, String)],
    /// Values captured by earlier calls.
    pub captured: &'a [(String, String)],
}

impl<'a> RuntimeBindings<'a> {
    /// Bindings of the connection alone.
    pub fn connection(connection: &'a Connection) -> Self {
        RuntimeBindings {
            connection,
            account: None,
            user: &[],
            captured: &[],
        }
    }
}

impl Bindings for RuntimeBindings<'_> {
    fn lookup(&self, path: &[String]) -> Lookup {
        match (path[0].as_str(), path.get(1), path.len()) {
            ("account", Some(column), 2) => match self.account {
                Some(account) => account
                    .column(column)
                    .or_else(|| {
                        column
                            .eq_ignore_ascii_case("name")
                            .then_some(account.name.as_str())
                    })
                    .map_or(Lookup::Missing, |value| Lookup::Value(value.to_string())),
                None => Lookup::Unbound,
            },
            ("user", Some(column), 2) => find(self.user, column),
            (name, None, 1) => match self.captured.iter().find(|(captured, _)| captured == name) {
                Some((_, value)) => Lookup::Value(value.clone()),
                None if name == "accountName" => self.account.map_or(Lookup::Unbound, |account| {
                    Lookup::Value(account.name.clone())
                }),
                None => self
                    .connection
                    .get(name)
                    .map_or(Lookup::Unbound, |value| Lookup::Value(value.to_string())),
            },
            _ => Lookup::Unbound,
        }
    }
}

fn find(columns: &[(String, String)], wanted: &str) -> Lookup {
    columns
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        .map_or(Lookup::Missing, |(_, value)| Lookup::Value(value.clone()))
}
