//! Which property paths an expression reads, and whether it says what to do when one is missing
//! (null): it gives a fallback (`account.accountID ?: 'none'`) or tests the value (the condition
//! of `? :`, an operand of `==`, `!=`, `!`, `&&` or `||`) rather than only inserting it. A
//! branch of `c ? a : b` that `c` chose knows what `c` read is there:
//! `account.x ? account.x : 'none'` has its fallback too.

use super::Expr;

/// A property path an expression reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read<'a> {
    /// The path, as `["account", "accountID"]`.
    pub path: &'a [String],
    /// Whether every place that reads it says what to do when it is missing.
    pub has_fallback: bool,
}

impl Expr {
    /// Every property path the expression reads, in order of first appearance, each once.
    pub fn reads(&self) -> Vec<Read<'_>> {
        let mut reads = Vec::new();
        visit(self, false, &[], &mut reads);
        reads
    }
}

/// Records the paths `expr` reads: `handled` when its value is tested or has a fallback where
/// it stands, `guarded` the paths a condition enclosing it found there.
fn visit<'a>(expr: &'a Expr, handled: bool, guarded: &[&'a [String]], out: &mut Vec<Read<'a>>) {
    match expr {
        Expr::Path(path) => record(out, path, handled || guarded.contains(&path.as_slice())),
        Expr::Str(_) | Expr::Int(_) | Expr::Bool(_) | Expr::Null => {}
        Expr::Not(operand) => visit(operand, true, guarded, out),
        Expr::Plus(operands) => {
            for operand in operands {
                visit(operand, handled, guarded, out);
            }
        }
        Expr::Equality { first, rest } => {
            visit(first, true, guarded, out);
            for (_, operand) in rest {
                visit(operand, true, guarded, out);
            }
        }
        Expr::And(operands) | Expr::Or(operands) => {
            for operand in operands {
                visit(operand, true, guarded, out);
            }
        }
        Expr::Conditional {
            condition,
            then,
            otherwise,
        } => {
            visit(condition, true, guarded, out);
            let mut tested = guarded.to_vec();
            tested.extend(condition.paths());
            visit(then, handled, &tested, out);
            visit(otherwise, handled, guarded, out);
        }
        Expr::Elvis { value, fallback } => {
            visit(value, true, guarded, out);
            visit(fallback, handled, guarded, out);
        }
        Expr::Calls { receiver, calls } => {
            visit(receiver, handled, guarded, out);
            for arg in calls.iter().flat_map(|call| &call.args) {
                visit(arg, handled, guarded, out);
            }
        }
    }
}

/// Adds a read of `path`; a path read twice has a fallback only when both reads have one.
fn record<'a>(out: &mut Vec<Read<'a>>, path: &'a [String], has_fallback: bool) {
    match out.iter_mut().find(|read| read.path == path) {
        Some(read) => read.has_fallback &= has_fallback,
        None => out.push(Read { path, has_fallback }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(path, has_fallback)` of each read of `text`.
    fn reads(text: &str) -> Vec<(String, bool)> {
        let expr = Expr::parse(text).unwrap();
        expr.reads()
            .into_iter()
            .map(|read| (read.path.join("."), read.has_fallback))
            .collect()
    }

    fn read(path: &str, has_fallback: bool) -> (String, bool) {
        (path.to_string(), has_fallback)
    }

    #[test]
    fn an_inserted_value_has_no_fallback() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            ("account.accountID", &[("account.accountID", false)]),
            ("'id-' + account.accountID", &[("account.accountID", false)]),
            ("account.accountID?.trim()", &[("account.accountID", false)]),
            (
                "task.accountName.replace('x', account.y)",
                &[("task.accountName", false), ("account.y", false)],
            ),
            (
                "account.a == 'A' ? '' : '<x id=\"' + account.b + '\"/>'",
                &[("account.a", true), ("account.b", false)],
            ),
            (
                "account.a ?: account.b",
                &[("account.a", true), ("account.b", false)],
            ),
            ("account.a ? 'y' : account.a", &[("account.a", false)]),
            ("account.a + (account.a ?: '')", &[("account.a", false)]),
        ];
        for (text, expected) in cases {
            let expected: Vec<_> = expected.iter().map(|(p, f)| read(p, *f)).collect();
            assert_eq!(reads(text), expected, "{text}");
        }
    }

    #[test]
    fn a_fallback_or_a_test_says_what_to_do_when_the_value_is_missing() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            (
                "account.accountID ?: 'none'",
                &[("account.accountID", true)],
            ),
            (
                "account.accountID?.trim() ?: ''",
                &[("account.accountID", true)],
            ),
            ("account.a ? account.a : 'none'", &[("account.a", true)]),
            (
                "account.a == 'x' && account.b ? account.a + account.b : ''",
                &[("account.a", true), ("account.b", true)],
            ),
            ("!account.a", &[("account.a", true)]),
            (
                "account.a != null || account.b",
                &[("account.a", true), ("account.b", true)],
            ),
            ("(account.a ?: 'n').toUpperCase()", &[("account.a", true)]),
            ("'x' + (account.a ?: '')", &[("account.a", true)]),
        ];
        for (text, expected) in cases {
            let expected: Vec<_> = expected.iter().map(|(p, f)| read(p, *f)).collect();
            assert_eq!(reads(text), expected, "{text}");
        }
    }
}
