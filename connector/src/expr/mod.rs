//! The binding-expression language of `${...}`: the subset of Groovy that Saviynt users write.
//!
//! # Grammar
//!
//! ```text
//! expression  := or ( "?" expression ":" expression     -- ternary, right-associative
//!                   | "?:" expression )?                -- Elvis, right-associative
//! or          := and ( "||" and )*
//! and         := equality ( "&&" equality )*
//! equality    := sum ( ( "==" | "!=" ) sum )*           -- left-associative
//! sum         := unary ( "+" unary )*                   -- left-associative
//! unary       := "!" unary | postfix
//! postfix     := primary ( ( "." | "?." ) NAME ( "(" arguments? ")" )? )*
//! arguments   := expression ( "," expression )*
//! primary     := NAME | STRING | INTEGER | "null" | "true" | "false" | "(" expression ")"
//! NAME        := [A-Za-z_][A-Za-z0-9_]*
//! STRING      := '...' | "..."  with the escapes \\ \' \" \n \t \r \$
//! INTEGER     := 0 | [1-9][0-9]*
//! ```
//!
//! Precedence, loosest first: `? :` and `?:`, `||`, `&&`, `==` `!=`, `+`, `!`, `.` `?.` and
//! calls; as in Groovy. A chain of names (`account.email`, `account?.email`) is a property path,
//! resolved by one [`Bindings::lookup`] of the whole path; `.name(...)` calls a String method.
//!
//! # Semantics
//!
//! Values are null, strings, integers and booleans ([`Value`]), with Groovy's rules:
//! - `+` adds two integers and otherwise concatenates (`'id' + 1` and `1 + 'id'` are `id1` and
//!   `1id`); a boolean can only be appended to a string (`'x' + true`), as in Groovy.
//! - `==` and `!=` compare by value; values of different types are unequal (`'1' != 1`), and
//!   null equals only null.
//! - `&&`, `||` and `!` give booleans and short-circuit; `c ? a : b` and `a ?: b` evaluate only
//!   the branch they return. Conditions use Groovy truth: null, `""`, `0` and `false` are false,
//!   everything else is true.
//! - The String methods have Java's semantics: `equals(x)`, `equalsIgnoreCase(x)`,
//!   `toUpperCase()`, `toLowerCase()`, `substring(begin)`, `substring(begin, end)`, `trim()`,
//!   `contains(x)`, `startsWith(x)`, `endsWith(x)`, `replace(target, replacement)` (literal, every
//!   occurrence) and `length()`. A `substring` out of range is an evaluation error naming the
//!   begin, end and length (Java's `StringIndexOutOfBoundsException`); so is a call on null
//!   without `?.` (Java's `NullPointerException`), and a null argument where Java throws.
//! - `?.` guards only its own step, as in Groovy: `a?.trim().length()` fails when `a` is null;
//!   write `a?.trim()?.length()`.
//!
//! Everything else (`-`, `*`, `<`, `=`, `[`, `{`, closures, `def`, `new`, `;`, GString
//! interpolation, unknown methods, a method on an integer or a boolean, a wrong number or type of
//! arguments) is rejected when the expression is parsed, with a message and its position.
//! Expressions are limited to [`MAX_LENGTH`] characters and [`MAX_DEPTH`] levels of nesting, so
//! hostile input cannot exhaust the stack, and a string value to [`MAX_VALUE`] bytes (longer is
//! an evaluation error), so chained `replace` calls cannot exhaust memory.
//!
//! # Deviations from Groovy
//!
//! - Null renders as empty text and `+` with null concatenates nothing: `'x' + account.missing`
//!   and `account.missing + 'x'` are `x`, `account.missing + 1` is `1` (Groovy writes `null`, or
//!   throws when null is on the left of anything but a string).
//! - A property path is resolved whole: a missing property anywhere in it is null (Groovy throws
//!   on `a.missing.b`); the bound objects only have one level of properties anyway.
//! - Types are checked when parsed: a method call on a value that may be an integer or a
//!   boolean, `substring` with arguments that are not integers, other methods' arguments that
//!   are not strings, and `+` with a boolean on its left are refused even where Groovy would
//!   fail only at run time, or only on some branch.
//! - Integers are 64-bit and overflow is an evaluation error (Groovy wraps `int`s); a string
//!   value longer than [`MAX_VALUE`] bytes is an evaluation error too.
//! - String indexes and `length()` count Unicode characters (Java counts UTF-16 code units: they
//!   differ only for characters outside the Basic Multilingual Plane).
//! - Octal (`010`), hexadecimal, decimal and suffixed number literals are rejected rather than
//!   read; `$` in a double-quoted string (a GString) is rejected rather than interpolated.
//! - `toUpperCase()` and `toLowerCase()` use Unicode's locale-independent mappings (Java uses
//!   the default locale: they differ for Turkish dotted and dotless i).
//! - Each `? :` or `?:` nested in another's branch adds a level of nesting, so a chain of more
//!   than about 60 of them is refused.

mod eval;
mod lexer;
pub mod markup;
mod parser;
mod reads;
#[cfg(test)]
mod tests;

use std::fmt;

pub use reads::Read;

/// The longest expression accepted, in characters.
pub const MAX_LENGTH: usize = 4096;

/// The deepest nesting accepted: parentheses, arguments, `!`, and the branches of `? :` and
/// `?:` each add a level.
pub const MAX_DEPTH: usize = 64;

/// The longest string value evaluation produces, in bytes: `'aaaaaaaa'.replace('a', 'aaaaaaaa')`
/// chained a dozen times (300 characters) would otherwise ask for 8^13 bytes.
pub const MAX_VALUE: usize = 1 << 20;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A property path: `USERNAME`, `account.customproperty1` (never empty when parsed).
    Path(Vec<String>),
    /// A string literal.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// `!operand`.
    Not(Box<Expr>),
    /// `a + b + ...`, evaluated left to right (so `1 + 2 + 'x'` is `3x`).
    Plus(Vec<Expr>),
    /// `first == a != b ...`, evaluated left to right.
    Equality {
        /// The leftmost operand.
        first: Box<Expr>,
        /// Each following operator and operand.
        rest: Vec<(EqualityOp, Expr)>,
    },
    /// `a && b && ...`.
    And(Vec<Expr>),
    /// `a || b || ...`.
    Or(Vec<Expr>),
    /// `condition ? then : otherwise`.
    Conditional {
        /// Tested with Groovy truth.
        condition: Box<Expr>,
        /// The value when the condition is true.
        then: Box<Expr>,
        /// The value when it is false.
        otherwise: Box<Expr>,
    },
    /// `value ?: fallback`: `value` when it is true (Groovy truth), else `fallback`.
    Elvis {
        /// The preferred value.
        value: Box<Expr>,
        /// The value when `value` is false.
        fallback: Box<Expr>,
    },
    /// `receiver.method(...)` followed by further calls on each result.
    Calls {
        /// What the first method is called on.
        receiver: Box<Expr>,
        /// The calls, in order (never empty when parsed).
        calls: Vec<Call>,
    },
}

/// `==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EqualityOp {
    /// `==`.
    Equal,
    /// `!=`.
    NotEqual,
}

/// One String method call of [`Expr::Calls`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Called with `?.`: null when the receiver is null, instead of an error.
    pub null_safe: bool,
    /// The method.
    pub method: Method,
    /// Its arguments.
    pub args: Vec<Expr>,
}

/// The supported String methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `equals(x)`: true when `x` is a string with the same characters.
    Equals,
    /// `equalsIgnoreCase(x)`.
    EqualsIgnoreCase,
    /// `toUpperCase()`.
    ToUpperCase,
    /// `toLowerCase()`.
    ToLowerCase,
    /// `substring(begin)` or `substring(begin, end)`, in characters.
    Substring,
    /// `trim()`: without leading and trailing characters up to U+0020.
    Trim,
    /// `contains(x)`.
    Contains,
    /// `startsWith(x)`.
    StartsWith,
    /// `endsWith(x)`.
    EndsWith,
    /// `replace(target, replacement)`: every occurrence, literally.
    Replace,
    /// `length()`, in characters.
    Length,
}

impl Method {
    /// Every method, in the order the documentation lists them.
    pub const ALL: [Method; 11] = [
        Method::Equals,
        Method::EqualsIgnoreCase,
        Method::ToUpperCase,
        Method::ToLowerCase,
        Method::Substring,
        Method::Trim,
        Method::Contains,
        Method::StartsWith,
        Method::EndsWith,
        Method::Replace,
        Method::Length,
    ];

    /// The method's Java name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Equals => "equals",
            Method::EqualsIgnoreCase => "equalsIgnoreCase",
            Method::ToUpperCase => "toUpperCase",
            Method::ToLowerCase => "toLowerCase",
            Method::Substring => "substring",
            Method::Trim => "trim",
            Method::Contains => "contains",
            Method::StartsWith => "startsWith",
            Method::EndsWith => "endsWith",
            Method::Replace => "replace",
            Method::Length => "length",
        }
    }

    /// The method called `name`, if it is supported.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|method| method.name() == name)
    }
}

/// A value an expression evaluates to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Null: a missing property, `null`, or a `?.` call on null.
    Null,
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl Value {
    /// The value as template text: null is empty (Groovy would write `null`).
    pub fn render(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Str(text) => text.clone(),
            Value::Int(value) => value.to_string(),
            Value::Bool(value) => value.to_string(),
        }
    }

    /// Groovy truth: null, `""`, `0` and `false` are false.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Str(text) => !text.is_empty(),
            Value::Int(value) => *value != 0,
            Value::Bool(value) => *value,
        }
    }
}

/// An expression that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Byte offset of the offending character in the parsed text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl ExprError {
    fn new(offset: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for ExprError {}

/// What a property path resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A value.
    Value(String),
    /// The root object is bound but has no such property (null: renders as empty text).
    Missing,
    /// Nothing of that name is bound in this context.
    Unbound,
}

/// The variables visible to an expression.
pub trait Bindings {
    /// Resolves a property path such as `["account", "name"]` (never empty).
    fn lookup(&self, path: &[String]) -> Lookup;
}

impl Expr {
    /// Parses a whole expression (the text between `${` and `}`).
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let lexed = lexer::lex(text, 0, false);
        first_error(parser::parse(&lexed.tokens), lexed.error)
    }

    /// Every property path the expression reads, in order of first appearance, each once.
    pub fn paths(&self) -> Vec<&[String]> {
        let mut out: Vec<&[String]> = Vec::new();
        self.collect_paths(&mut out);
        out
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a [String]>) {
        match self {
            Expr::Path(path) => {
                if !out.contains(&path.as_slice()) {
                    out.push(path);
                }
            }
            Expr::Str(_) | Expr::Int(_) | Expr::Bool(_) | Expr::Null => {}
            Expr::Not(operand) => operand.collect_paths(out),
            Expr::Plus(operands) | Expr::And(operands) | Expr::Or(operands) => {
                for operand in operands {
                    operand.collect_paths(out);
                }
            }
            Expr::Equality { first, rest } => {
                first.collect_paths(out);
                for (_, operand) in rest {
                    operand.collect_paths(out);
                }
            }
            Expr::Conditional {
                condition,
                then,
                otherwise,
            } => {
                condition.collect_paths(out);
                then.collect_paths(out);
                otherwise.collect_paths(out);
            }
            Expr::Elvis { value, fallback } => {
                value.collect_paths(out);
                fallback.collect_paths(out);
            }
            Expr::Calls { receiver, calls } => {
                receiver.collect_paths(out);
                for call in calls {
                    for arg in &call.args {
                        arg.collect_paths(out);
                    }
                }
            }
        }
    }

    /// Evaluates the expression against `bindings`; the error says what failed, naming the
    /// sub-expression.
    pub fn eval(&self, bindings: &dyn Bindings) -> Result<Value, String> {
        eval::eval(self, bindings)
    }

    /// How tightly the expression binds, for printing parentheses only where needed.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Conditional { .. } | Expr::Elvis { .. } => 1,
            Expr::Or(_) => 2,
            Expr::And(_) => 3,
            Expr::Equality { .. } => 4,
            Expr::Plus(_) => 5,
            Expr::Not(_) => 6,
            Expr::Calls { .. } => 7,
            Expr::Path(_) | Expr::Str(_) | Expr::Int(_) | Expr::Bool(_) | Expr::Null => 8,
        }
    }

    /// Writes the expression, parenthesised unless it binds at least as tightly as `min`.
    fn write_at(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            write!(f, "(")?;
            self.write(f)?;
            write!(f, ")")
        } else {
            self.write(f)
        }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Path(path) => write!(f, "{}", path.join(".")),
            Expr::Str(text) => write_string_literal(text, f),
            Expr::Int(value) => write!(f, "{value}"),
            Expr::Bool(value) => write!(f, "{value}"),
            Expr::Null => write!(f, "null"),
            Expr::Not(operand) => {
                write!(f, "!")?;
                operand.write_at(f, 6)
            }
            Expr::Plus(operands) => write_operands(operands, " + ", 6, f),
            Expr::And(operands) => write_operands(operands, " && ", 4, f),
            Expr::Or(operands) => write_operands(operands, " || ", 3, f),
            Expr::Equality { first, rest } => {
                first.write_at(f, 5)?;
                for (op, operand) in rest {
                    match op {
                        EqualityOp::Equal => write!(f, " == ")?,
                        EqualityOp::NotEqual => write!(f, " != ")?,
                    }
                    operand.write_at(f, 5)?;
                }
                Ok(())
            }
            Expr::Conditional {
                condition,
                then,
                otherwise,
            } => {
                condition.write_at(f, 2)?;
                write!(f, " ? ")?;
                then.write_at(f, 1)?;
                write!(f, " : ")?;
                otherwise.write_at(f, 1)
            }
            Expr::Elvis { value, fallback } => {
                value.write_at(f, 2)?;
                write!(f, " ?: ")?;
                fallback.write_at(f, 1)
            }
            Expr::Calls { receiver, calls } => write_calls(receiver, calls, f),
        }
    }
}

/// Prints the expression in Groovy syntax, with parentheses only where they are needed; it
/// parses back to the same expression.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

fn write_operands(
    operands: &[Expr],
    separator: &str,
    min: u8,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    for (index, operand) in operands.iter().enumerate() {
        if index > 0 {
            write!(f, "{separator}")?;
        }
        operand.write_at(f, min)?;
    }
    Ok(())
}

fn write_calls(receiver: &Expr, calls: &[Call], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    receiver.write_at(f, 7)?;
    for call in calls {
        let dot = if call.null_safe { "?." } else { "." };
        write!(f, "{dot}{}(", call.method.name())?;
        for (index, arg) in call.args.iter().enumerate() {
            if index > 0 {
                write!(f, ", ")?;
            }
            arg.write_at(f, 1)?;
        }
        write!(f, ")")?;
    }
    Ok(())
}

fn write_string_literal(text: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "'")?;
    for c in text.chars() {
        match c {
            '\\' => write!(f, "\\\\")?,
            '\'' => write!(f, "\\'")?,
            '\n' => write!(f, "\\n")?,
            '\t' => write!(f, "\\t")?,
            '\r' => write!(f, "\\r")?,
            _ => write!(f, "{c}")?,
        }
    }
    write!(f, "'")
}

/// The parser's result, unless the lexer stopped at a mistake that comes first in the text.
fn first_error(
    parsed: Result<Expr, ExprError>,
    lexed: Option<ExprError>,
) -> Result<Expr, ExprError> {
    match (parsed, lexed) {
        (Err(error), Some(lexed)) if error.offset < lexed.offset => Err(error),
        (_, Some(lexed)) => Err(lexed),
        (parsed, None) => parsed,
    }
}

/// Parses the expression of a template placeholder: `text[start..]` up to the `}` that closes it
/// (a `}` inside a string literal does not). Returns the offset of that `}`; offsets in errors
/// are offsets in `text`.
pub(crate) fn parse_placeholder(
    text: &str,
    start: usize,
) -> Result<(Expr, usize), PlaceholderError> {
    let lexed = lexer::lex(text, start, true);
    let brace_after = text.get(start..).is_some_and(|rest| rest.contains('}'));
    if lexed.close.is_none() && (lexed.error.is_none() || !brace_after) {
        // The text ends first, or a mistake with no `}` anywhere after it: most likely the `}`
        // was forgotten.
        return Err(PlaceholderError::NeverClosed);
    }
    if lexed.error.is_none() && lexed.tokens.len() == 1 {
        return Err(PlaceholderError::Empty);
    }
    let expr = first_error(parser::parse(&lexed.tokens), lexed.error)
        .map_err(PlaceholderError::Invalid)?;
    let close = lexed.close.ok_or(PlaceholderError::NeverClosed)?;
    Ok((expr, close))
}

/// Why a placeholder's expression does not parse.
#[derive(Debug)]
pub(crate) enum PlaceholderError {
    /// No `}` closes it.
    NeverClosed,
    /// Nothing between `${` and `}`.
    Empty,
    /// A mistake, at an offset of the template.
    Invalid(ExprError),
}
