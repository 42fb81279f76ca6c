//! Whole-envelope expressions: a REQUESTXML that is one `${...}` building the request by
//! concatenation, the way Saviynt users write conditional plans:
//!
//! ```text
//! ${account.customproperty2 == 'Active' ? '<Security.lockUserAccountRq userName="' + account.name + '"/>' : ''}
//! ```
//!
//! The string literals that make up the result are the template's markup, written by the plan's
//! author; every other value (a bound property, a method's result) is data and is XML-escaped, as
//! in any other template. So a user name holding `"/><` stays data here too.
//!
//! At load, [`skeletons`] lists the documents the expression can produce with each data value
//! replaced by a stand-in, so that each can be checked well-formed with a position in the
//! template.

use super::eval::{eval, plus};
use super::{Bindings, Expr, Value};
use crate::text::escape_xml;

/// The most skeletons [`skeletons`] lists; an expression with more branch combinations is checked
/// at run time only.
pub const MAX_SKELETONS: usize = 64;

/// Renders `expr` as markup: its string literals as written, every other value XML-escaped.
/// Conditions are evaluated as usual, and only the chosen branch is rendered.
pub fn render_markup(expr: &Expr, bindings: &dyn Bindings) -> Result<String, String> {
    Ok(markup(expr, bindings)?.1)
}

/// The value of `expr` and its markup.
fn markup(expr: &Expr, bindings: &dyn Bindings) -> Result<(Value, String), String> {
    match expr {
        Expr::Str(text) => Ok((Value::Str(text.clone()), text.clone())),
        Expr::Plus(operands) => {
            let mut operands = operands.iter();
            let Some(first) = operands.next() else {
                return Ok((Value::Str(String::new()), String::new()));
            };
            let (mut sum, mut text) = markup(first, bindings)?;
            for operand in operands {
                let (value, operand_text) = markup(operand, bindings)?;
                sum = plus(sum, value)?;
                text = match &sum {
                    // Integer addition: the sum is data, not the concatenation of its parts.
                    Value::Int(_) => escaped(&sum),
                    _ => text + &operand_text,
                };
            }
            Ok((sum, text))
        }
        Expr::Conditional {
            condition,
            then,
            otherwise,
        } => match eval(condition, bindings)?.is_true() {
            true => markup(then, bindings),
            false => markup(otherwise, bindings),
        },
        Expr::Elvis { value, fallback } => match eval(value, bindings)?.is_true() {
            true => markup(value, bindings),
            false => markup(fallback, bindings),
        },
        other => {
            let value = eval(other, bindings)?;
            let text = escaped(&value);
            Ok((value, text))
        }
    }
}

fn escaped(value: &Value) -> String {
    let mut out = String::new();
    escape_xml(&value.render(), &mut out);
    out
}

/// One part of a skeleton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Markup from a string literal, as written.
    Literal(String),
    /// A data value, known only at run time.
    Data,
}

/// The documents `expr` can render, one per combination of branches, each a list of pieces;
/// `None` when there are more than [`MAX_SKELETONS`].
pub fn skeletons(expr: &Expr) -> Option<Vec<Vec<Piece>>> {
    let listed = list(expr)?;
    (listed.len() <= MAX_SKELETONS).then_some(listed)
}

fn list(expr: &Expr) -> Option<Vec<Vec<Piece>>> {
    match expr {
        Expr::Str(text) => Some(vec![vec![Piece::Literal(text.clone())]]),
        Expr::Plus(operands) => {
            let mut combined = vec![Vec::new()];
            for operand in operands {
                let options = list(operand)?;
                if combined.len() * options.len() > MAX_SKELETONS {
                    return None;
                }
                combined = combined
                    .iter()
                    .flat_map(|prefix| {
                        options.iter().map(move |option| {
                            let mut joined = prefix.clone();
                            joined.extend(option.iter().cloned());
                            joined
                        })
                    })
                    .collect();
            }
            Some(combined)
        }
        Expr::Conditional {
            then, otherwise, ..
        } => branches(then, otherwise),
        Expr::Elvis { value, fallback } => branches(value, fallback),
        _ => Some(vec![vec![Piece::Data]]),
    }
}

fn branches(first: &Expr, second: &Expr) -> Option<Vec<Vec<Piece>>> {
    let mut listed = list(first)?;
    listed.extend(list(second)?);
    (listed.len() <= MAX_SKELETONS).then_some(listed)
}
