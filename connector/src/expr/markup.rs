//! Whole-envelope expressions: a REQUESTXML that is one `${...}` building the request by
//! concatenation, the way Saviynt users write conditional plans:
//!
//! ```text
//! ${account.customproperty2 == 'Active' ? '<Security.lockUserAccountRq userName="' + account.name + '"/>' : ''}
//! ```
//!
//! The string literals that make up the result are the template's markup, written by the plan's
//! author; every other value (a bound property, a method's result) is data and is escaped for
//! where it lands, as in any other template. So a user name holding `"/><` stays data here too.
//!
//! At load, [`skeletons`] lists the documents the expression can produce with each data value
//! replaced by a stand-in, so that each can be checked well-formed with a position in the
//! template.

use super::eval::{eval, plus};
use super::{Bindings, Expr, Value};
use crate::text::XmlContext;

/// The most skeletons [`skeletons`] lists; an expression with more branch combinations is checked
/// at run time only.
pub const MAX_SKELETONS: usize = 64;

/// Renders `expr` as markup: its string literals as written, every other value escaped for
/// where it lands (element text or attribute, CDATA section, comment). Conditions are evaluated
/// as usual, and only the chosen branch is rendered.
pub fn render_markup(expr: &Expr, bindings: &dyn Bindings) -> Result<String, String> {
    let mut out = Markup::default();
    markup(expr, bindings, &mut out)?;
    Ok(out.text)
}

/// The markup rendered so far, and where in the XML its end is.
#[derive(Default)]
struct Markup {
    text: String,
    context: XmlContext,
}

impl Markup {
    fn literal(&mut self, text: &str) {
        self.context = self.context.after(text);
        self.text.push_str(text);
    }

    fn data(&mut self, value: &Value) -> Result<(), String> {
        let text = value.render();
        if let Some(c) = crate::text::forbidden_in_xml(&text) {
            return Err(crate::text::forbidden_value_message(c));
        }
        self.context.escape(&text, &mut self.text);
        Ok(())
    }
}

/// Renders `expr` into `out`; returns its value.
fn markup(expr: &Expr, bindings: &dyn Bindings, out: &mut Markup) -> Result<Value, String> {
    match expr {
        Expr::Str(text) => {
            out.literal(text);
            Ok(Value::Str(text.clone()))
        }
        Expr::Plus(operands) => {
            let (start, context) = (out.text.len(), out.context);
            let mut operands = operands.iter();
            let Some(first) = operands.next() else {
                return Ok(Value::Str(String::new()));
            };
            let mut sum = markup(first, bindings, out)?;
            for operand in operands {
                let value = markup(operand, bindings, out)?;
                sum = plus(sum, value)?;
                if let Value::Int(_) = sum {
                    // Integer addition: the sum is data, not the concatenation of its parts.
                    out.text.truncate(start);
                    out.context = context;
                    out.data(&sum)?;
                }
            }
            Ok(sum)
        }
        Expr::Conditional {
            condition,
            then,
            otherwise,
        } => match eval(condition, bindings)?.is_true() {
            true => markup(then, bindings, out),
            false => markup(otherwise, bindings, out),
        },
        Expr::Elvis { value, fallback } => match eval(value, bindings)?.is_true() {
            true => markup(value, bindings, out),
            false => markup(fallback, bindings, out),
        },
        other => {
            let value = eval(other, bindings)?;
            out.data(&value)?;
            Ok(value)
        }
    }
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
