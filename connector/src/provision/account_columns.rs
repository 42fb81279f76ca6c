//! The account columns a provisioning plan reads, checked against the account a call is given
//! before anything is sent: a template that inserts `${account.accountID}` for an account
//! without that column would send an empty ID. A read that says what to do without the column
//! (a fallback, `${account.accountID ?: 'none'}`, or a test; see [`crate::expr::Read`]) needs
//! nothing. The account's name is always there (`account.name`, any case).

use crate::config::ProvisioningPlan;
use crate::error::{ConnectorError, Problem};
use crate::model::Account;

/// The object whose properties are the account's columns.
const ACCOUNT: &str = "account";

/// One place a plan reads a column of its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRead {
    /// The column as the template writes it (`accountID`).
    pub column: String,
    /// Where: `call 1 (REQUESTXML), line 1, column 120`.
    pub location: String,
    /// Whether the template says what to do when the account lacks the column.
    pub has_fallback: bool,
}

/// A column a plan reads, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanColumn {
    /// The column as first written (`accountID`).
    pub column: String,
    /// Whether the account must have it: some read has no fallback, and it is not the name.
    pub required: bool,
}

/// Every place `plan` reads a column of its account, in call order.
pub fn reads(plan: &ProvisioningPlan) -> Vec<ColumnRead> {
    let mut reads = Vec::new();
    for (index, call) in plan.calls.iter().enumerate() {
        for place in call.request.templates() {
            let header = place
                .header
                .map(|name| format!(".{name}"))
                .unwrap_or_default();
            for (expr, (line, column), _) in place.template.placeholders() {
                for read in expr.reads() {
                    if let [root, name] = read.path
                        && root == ACCOUNT
                    {
                        reads.push(ColumnRead {
                            column: name.clone(),
                            location: format!(
                                "call {} ({}){header}, line {line}, column {column}",
                                index + 1,
                                place.key
                            ),
                            has_fallback: read.has_fallback,
                        });
                    }
                }
            }
        }
    }
    reads
}

/// The columns `plan` reads, each once (compared without regard to case), in order.
pub fn columns(plan: &ProvisioningPlan) -> Vec<PlanColumn> {
    let mut columns: Vec<PlanColumn> = Vec::new();
    for read in reads(plan) {
        let required = !read.has_fallback && !is_name(&read.column);
        match columns
            .iter_mut()
            .find(|known| known.column.eq_ignore_ascii_case(&read.column))
        {
            Some(known) => known.required |= required,
            None => columns.push(PlanColumn {
                column: read.column,
                required,
            }),
        }
    }
    columns
}

/// Checks that `account` has every column `plan` (the attribute `attribute`) reads without a
/// fallback; otherwise the configuration error lists each read it lacks, with its place and
/// what to do.
pub fn check(
    attribute: &str,
    plan: &ProvisioningPlan,
    account: &Account,
) -> Result<(), ConnectorError> {
    let problems: Vec<Problem> = reads(plan)
        .into_iter()
        .filter(|read| !read.has_fallback && !has(account, &read.column))
        .map(|read| missing(attribute, read, &account.name))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConnectorError::invalid_configuration(problems))
    }
}

fn has(account: &Account, column: &str) -> bool {
    is_name(column) || account.column(column).is_some()
}

fn is_name(column: &str) -> bool {
    column.eq_ignore_ascii_case("name")
}

fn missing(attribute: &str, read: ColumnRead, account: &str) -> Problem {
    let column = read.column;
    Problem::error(
        attribute,
        Some(read.location),
        format!(
            "reads `account.{column}`, but the account `{account}` has no column `{column}`: map `{column}` in ACCOUNTS_IMPORT_JSON and import again, or say what to send without it: `${{account.{column} ?: 'default'}}` (`?: ''` sends it empty)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Connection, DISABLEACCOUNTJSON, load};
    use crate::error::ErrorKind;

    fn plan(calls: &str) -> ProvisioningPlan {
        let connection = Connection::from_pairs([
            ("SOAP_ENDPOINT", "http://dc.example.com/dc"),
            ("USERNAME", "svc"),
            ("PASSWORD", "pw"),
            (DISABLEACCOUNTJSON, calls),
        ]);
        let loaded = load(&connection);
        let config = loaded
            .config
            .unwrap_or_else(|| panic!("{:?}", loaded.problems));
        config.disable_plan.unwrap()
    }

    fn account(columns: &[(&str, &str)]) -> Account {
        Account {
            name: "jdoe".into(),
            columns: columns
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            entitlements: Vec::new(),
        }
    }

    const TWO_CALLS: &str = r#"[
        {"REQUESTXML": "<server><requests><Security.lockUserAccountRq userID=\"${account.accountID}\" userName=\"${account.NAME}\"/></requests></server>"},
        {"REQUESTXML": "<server><requests><x mail=\"${account.customproperty1 ?: 'none'}\" id=\"${account.ACCOUNTID}\"/></requests></server>",
         "REQUESTPARAMS": {"X-Status": "${account.customproperty2}"}}
    ]"#;

    #[test]
    fn every_read_with_its_place_and_whether_it_has_a_fallback() {
        let read = |column: &str, location: &str, has_fallback| ColumnRead {
            column: column.into(),
            location: location.into(),
            has_fallback,
        };
        assert_eq!(
            reads(&plan(TWO_CALLS)),
            [
                read("accountID", "call 1 (REQUESTXML), line 1, column 55", false),
                read("NAME", "call 1 (REQUESTXML), line 1, column 87", false),
                read(
                    "customproperty1",
                    "call 2 (REQUESTXML), line 1, column 28",
                    true
                ),
                read("ACCOUNTID", "call 2 (REQUESTXML), line 1, column 70", false),
                read(
                    "customproperty2",
                    "call 2 (REQUESTPARAMS).X-Status, line 1, column 1",
                    false
                ),
            ]
        );
        let column = |column: &str, required| PlanColumn {
            column: column.into(),
            required,
        };
        assert_eq!(
            columns(&plan(TWO_CALLS)),
            [
                column("accountID", true),
                column("NAME", false),
                column("customproperty1", false),
                column("customproperty2", true),
            ]
        );
    }

    #[test]
    fn an_account_with_every_column_read_without_fallback_passes_whatever_their_case() {
        let account = account(&[("AccountId", "7"), ("customproperty2", "")]);
        assert_eq!(
            check(DISABLEACCOUNTJSON, &plan(TWO_CALLS), &account),
            Ok(())
        );
    }

    #[test]
    fn each_missing_column_is_a_configuration_problem_at_its_place() {
        let error = check(DISABLEACCOUNTJSON, &plan(TWO_CALLS), &account(&[])).unwrap_err();
        assert_eq!(error.site, None);
        let ErrorKind::InvalidConfiguration(problems) = error.kind else {
            panic!("{error:?}");
        };
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let hint = |column: &str| {
            format!(
                "reads `account.{column}`, but the account `jdoe` has no column `{column}`: map `{column}` in ACCOUNTS_IMPORT_JSON and import again, or say what to send without it: `${{account.{column} ?: 'default'}}` (`?: ''` sends it empty)"
            )
        };
        assert_eq!(
            shown,
            [
                format!(
                    "error: DISABLEACCOUNTJSON (call 1 (REQUESTXML), line 1, column 55): {}",
                    hint("accountID")
                ),
                format!(
                    "error: DISABLEACCOUNTJSON (call 2 (REQUESTXML), line 1, column 70): {}",
                    hint("ACCOUNTID")
                ),
                format!(
                    "error: DISABLEACCOUNTJSON (call 2 (REQUESTPARAMS).X-Status, line 1, column 1): {}",
                    hint("customproperty2")
                ),
            ]
        );
    }
}
