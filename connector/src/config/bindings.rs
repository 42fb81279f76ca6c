//! What `${...}` can name, checked at load time and resolved at run time.
//!
//! Bound: connection attributes by name (`${USERNAME}`, `${PASSWORD}`), `account.*` (the
//! account's columns) in EACHACCOUNT calls and provisioning plans, `user.*` (the owner), the
//! values earlier provisioning calls captured, and `access_token` in calls whose CONNECTION is a
//! token connection of CONNECTIONJSON.

use crate::error::Problem;
use crate::model::Account;
use crate::template::{Bindings, Expr, Lookup, Template};

use super::Connection;

/// Where a template runs, which decides what it may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Which kind of call the template belongs to.
    pub kind: ScopeKind,
    /// Whether `${access_token}` is bound: the call's CONNECTION is a token connection.
    pub access_token: bool,
}

/// The kinds of call a template can belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeKind {
    /// ACCOUNTS and ENTITLEMENTS calls, and CONNECTIONJSON: connection attributes only.
    Import,
    /// EACHACCOUNT calls: also `account.*`.
    EachAccount,
    /// Provisioning calls: also `account.*`, `user.*`, `task.accountName`, `accountName` and
    /// the values earlier calls captured.
    Provisioning {
        /// Names captured by earlier calls' RESPONSEMAPPING.
        captured: Vec<String>,
    },
}

/// The name a token connection's current token is bound as.
pub const ACCESS_TOKEN: &str = "access_token";

const OBJECT_ROOTS: &[&str] = &["account", "user", "task", "endpoint"];

/// The properties of `task` a provisioning call can read.
const TASK_PROPERTIES: &[&str] = &["accountName"];

impl Scope {
    /// A scope of this kind, without a token.
    pub fn new(kind: ScopeKind) -> Self {
        Scope {
            kind,
            access_token: false,
        }
    }

    fn allows_object(&self, root: &str) -> bool {
        match self.kind {
            ScopeKind::Import => false,
            ScopeKind::EachAccount => root == "account",
            ScopeKind::Provisioning { .. } => OBJECT_ROOTS.contains(&root),
        }
    }

    fn allows_name(&self, name: &str) -> bool {
        if name == ACCESS_TOKEN {
            return self.access_token;
        }
        match &self.kind {
            ScopeKind::Provisioning { captured } => {
                name == "accountName" || captured.iter().any(|c| c == name)
            }
            _ => false,
        }
    }
}

/// Checks that every variable `template` names is bound in `scope`, adding a problem for each
/// one that is not. `(attribute, location, site)`: the attribute holding the template, the place
/// inside it, and the call it belongs to as a person names it.
///
/// A connection attribute the template uses but the connection lacks (`${PASSWORD}` without
/// PASSWORD) is a problem of that attribute, reported once per call that uses it: the fix is
/// to set it, not to change the template, and a host can gather its calls into one problem.
pub(crate) fn check_variables(
    template: &Template,
    scope: &Scope,
    connection: &Connection,
    (attribute, location, site): (&str, &str, &str),
    problems: &mut Vec<Problem>,
) {
    for (expr, (line, column), raw) in template.placeholders() {
        let at = || Some(format!("{location}, line {line}, column {column}"));
        for path in expr.paths() {
            let problem = match unbound_reason(path, scope, connection) {
                Some(Unbound::NotSet { name, message }) => {
                    Problem::error(&name, Some(site.to_string()), message)
                }
                Some(Unbound::Elsewhere(message)) => Problem::error(attribute, at(), message),
                None => continue,
            };
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
        if let Some(message) = secret_not_whole(expr, raw, connection) {
            problems.push(Problem::error(attribute, at(), message));
        }
    }
}

/// Why a name a template uses is not bound.
enum Unbound {
    /// A connection attribute the connection lacks: set it.
    NotSet {
        /// The attribute.
        name: String,
        /// What to do, the same wherever it is used.
        message: String,
    },
    /// Anything else: a mistake in the template, where it is.
    Elsewhere(String),
}

/// Whether an attribute is secret, judged by its name (any case): it holds `PASSWORD`, or is or
/// ends in `SECRET`, `TOKEN`, `APIKEY`, `API_KEY`, `PRIVATEKEY` or `PRIVATE_KEY`. A host may
/// pass such attributes as placeholders that it replaces in outgoing requests (the WIT says so),
/// so templates may only insert them whole.
pub fn is_secret_attribute(name: &str) -> bool {
    const SECRET_SUFFIXES: [&str; 6] = [
        "SECRET",
        "TOKEN",
        "APIKEY",
        "API_KEY",
        "PRIVATEKEY",
        "PRIVATE_KEY",
    ];
    let upper = name.to_ascii_uppercase();
    upper.contains("PASSWORD") || SECRET_SUFFIXES.iter().any(|suffix| upper.ends_with(suffix))
}

/// Why an expression that reads a secret attribute is refused: a secret may only be inserted
/// as it is: the whole placeholder (`${PASSWORD}`), or an operand of `+` or a branch of `? :`
/// (`'<Session.loginRq password="' + PASSWORD + '"/>'`), where the host's placeholder passes
/// through unchanged. A placeholder would not survive `toUpperCase()`, a comparison or a
/// condition would test the placeholder, and `${raw:}` would not escape the real value.
fn secret_not_whole(expr: &Expr, raw: bool, connection: &Connection) -> Option<String> {
    let is_secret = |path: &[String]| {
        path.len() == 1 && is_secret_attribute(&path[0]) && connection.get(&path[0]).is_some()
    };
    let secret = expr.paths().into_iter().find(|&path| is_secret(path))?;
    let name = &secret[0];
    (raw || !inserted_as_is(expr, &is_secret)).then(|| {
        format!(
            "the secret `{name}` can only be inserted as it is: `${{{name}}}`, or an operand of `+` (`'<Session.loginRq password=\"' + {name} + '\"/>'`); the host writes its value in on the way out, so the component never sees it and cannot test or change it"
        )
    })
}

/// Whether every secret `expr` reads is inserted as it is: the expression itself, an operand
/// of `+`, or a branch of `? :` or the fallback of `?:`, never in a condition, a comparison or
/// a method call.
fn inserted_as_is(expr: &Expr, is_secret: &dyn Fn(&[String]) -> bool) -> bool {
    let reads_secret = |expr: &Expr| expr.paths().into_iter().any(is_secret);
    match expr {
        Expr::Path(_) => true,
        Expr::Plus(operands) => operands
            .iter()
            .all(|operand| inserted_as_is(operand, is_secret)),
        Expr::Conditional {
            condition,
            then,
            otherwise,
        } => {
            !reads_secret(condition)
                && inserted_as_is(then, is_secret)
                && inserted_as_is(otherwise, is_secret)
        }
        Expr::Elvis { value, fallback } => {
            !reads_secret(value) && inserted_as_is(fallback, is_secret)
        }
        other => !reads_secret(other),
    }
}

fn unbound_reason(path: &[String], scope: &Scope, connection: &Connection) -> Option<Unbound> {
    let root = path[0].as_str();
    let written = path.join(".");
    if OBJECT_ROOTS.contains(&root) {
        if !scope.allows_object(root) {
            return Some(Unbound::Elsewhere(match scope.kind {
                ScopeKind::Import => format!(
                    "`${{{written}}}`: `{root}` is bound only in EACHACCOUNT calls and provisioning plans"
                ),
                _ => format!("`${{{written}}}`: `{root}` is not bound here"),
            }));
        }
        if path.len() != 2 {
            return Some(Unbound::Elsewhere(format!(
                "`${{{written}}}`: write `{root}.<column>`"
            )));
        }
        return Some(Unbound::Elsewhere(match root {
            "task" if !TASK_PROPERTIES.contains(&path[1].as_str()) => format!(
                "`${{{written}}}`: the task of an enable or disable has {} (its account's name); for the account's columns write `account.<column>`",
                TASK_PROPERTIES
                    .iter()
                    .map(|p| format!("`task.{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "endpoint" => format!(
                "`${{{written}}}`: `endpoint` is not bound by this connector; write the value in the template, or take it from a connection attribute (`${{NAME}}`)"
            ),
            _ => return None,
        }));
    }
    if path.len() == 1 && (connection.get(root).is_some() || scope.allows_name(root)) {
        return None;
    }
    if path.len() == 1 && root == ACCESS_TOKEN {
        return Some(Unbound::Elsewhere(format!(
            "`${{{ACCESS_TOKEN}}}` is bound only in calls whose CONNECTION names a token connection of CONNECTIONJSON"
        )));
    }
    if path.len() == 1 && (root == "USERNAME" || is_secret_attribute(root)) {
        return Some(not_set(root, connection));
    }
    Some(Unbound::Elsewhere(format!(
        "`${{{written}}}` names nothing: bound are connection attributes (`USERNAME`, `PASSWORD`, ...){}",
        match scope.kind {
            ScopeKind::Import => "",
            ScopeKind::EachAccount => " and `account.<column>`",
            ScopeKind::Provisioning { .. } => ", `account.*`, `user.*` and captured values",
        }
    )))
}

/// `USERNAME` or a secret attribute such as `PASSWORD`, used but missing or empty, with what to
/// do: a secret from the environment or a file, never on the command line; an ordinary
/// attribute in the connection or with `--set`. The message is the same wherever it is used, so
/// the places group into one problem.
fn not_set(name: &str, connection: &Connection) -> Unbound {
    let what = if connection.is_blank(name) {
        "is empty"
    } else {
        "is not set"
    };
    let how = if is_secret_attribute(name) {
        format!(
            "give it from an environment variable or a file (--set-env {name}=VARIABLE or --set-file {name}=PATH), never on the command line"
        )
    } else {
        format!("set it in the connection, or with --set {name}=VALUE")
    };
    Unbound::NotSet {
        name: name.to_owned(),
        message: format!("{what} but is used there: {how}"),
    }
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
    /// The current token of the call's token connection (`${access_token}`).
    pub access_token: Option<&'a str>,
}

impl<'a> RuntimeBindings<'a> {
    /// Bindings of the connection alone.
    pub fn connection(connection: &'a Connection) -> Self {
        RuntimeBindings {
            connection,
            account: None,
            user: &[],
            captured: &[],
            access_token: None,
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
            ("task", Some(property), 2) if property == "accountName" => {
                self.account.map_or(Lookup::Unbound, |account| {
                    Lookup::Value(account.name.clone())
                })
            }
            (name, None, 1) => match self.captured.iter().find(|(captured, _)| captured == name) {
                Some((_, value)) => Lookup::Value(value.clone()),
                None if name == ACCESS_TOKEN => self
                    .access_token
                    .map_or(Lookup::Unbound, |token| Lookup::Value(token.to_string())),
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
