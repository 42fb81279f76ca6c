//! Recursive descent over the tokens, with the static typing that rejects method calls on
//! integers and booleans and arguments of the wrong type before anything runs.

use super::lexer::{Tok, Token};
use super::{Call, EqualityOp, Expr, ExprError, MAX_DEPTH, Method};

/// The types an expression may have at run time, as a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ty(u8);

impl Ty {
    const NONE: Ty = Ty(0);
    const STR: Ty = Ty(1);
    const INT: Ty = Ty(2);
    const BOOL: Ty = Ty(4);
    const NULL: Ty = Ty(8);
    /// A property path: a string, or null when missing.
    const PATH: Ty = Ty(1 | 8);

    fn has(self, other: Ty) -> bool {
        self.0 & other.0 != 0
    }

    fn union(self, other: Ty) -> Ty {
        Ty(self.0 | other.0)
    }

    fn without(self, other: Ty) -> Ty {
        Ty(self.0 & !other.0)
    }

    fn members(self) -> impl Iterator<Item = Ty> {
        [Ty::STR, Ty::INT, Ty::BOOL, Ty::NULL]
            .into_iter()
            .filter(move |member| self.has(*member))
    }

    /// What the value is, for messages about a value that may not be a string.
    fn describe_non_string(self) -> &'static str {
        if self.has(Ty::INT) {
            "an integer"
        } else if self.has(Ty::BOOL) {
            "a boolean"
        } else if self.has(Ty::STR) {
            "a String"
        } else {
            "always null"
        }
    }
}

/// The type of `a + b` for each combination of operand types; NONE when no combination is
/// valid. As in Groovy, a boolean on the left has no `+`, and one on the right only
/// concatenates to a string (or null, which adds nothing).
fn plus_type(left: Ty, right: Ty) -> Ty {
    let mut out = Ty::NONE;
    for l in left.members() {
        for r in right.members() {
            out = out.union(if l == Ty::INT && r == Ty::INT {
                Ty::INT
            } else if l == Ty::BOOL || (r == Ty::BOOL && l == Ty::INT) {
                Ty::NONE
            } else {
                Ty::STR
            });
        }
    }
    out
}

/// A parsed sub-expression with its static type and where it starts.
struct Parsed {
    expr: Expr,
    ty: Ty,
    offset: usize,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinaryOp {
    Or,
    And,
    Equality(EqualityOp),
    Plus,
}

impl BinaryOp {
    /// Higher binds tighter.
    fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 0,
            BinaryOp::And => 1,
            BinaryOp::Equality(_) => 2,
            BinaryOp::Plus => 3,
        }
    }
}

/// Builds `operands[0] ops[0] operands[1] ...` by precedence, each operator left-associative and
/// n-ary (`a + b + c` is one [`Expr::Plus`]). Recurses once per precedence level at most.
#[inline(never)]
fn group(operands: Vec<Parsed>, ops: Vec<(BinaryOp, usize)>) -> Result<Parsed, ExprError> {
    let mut operands = operands.into_iter();
    let Some(first) = operands.next() else {
        return Err(ExprError::new(0, "expected a value"));
    };
    let Some(loosest) = ops.iter().map(|(op, _)| op.precedence()).min() else {
        return Ok(first);
    };
    // Split at the loosest operators; each part is built from tighter ones.
    let mut parts = Vec::new();
    let mut joins = Vec::new();
    let mut part = (vec![first], Vec::new());
    for ((op, at), operand) in ops.into_iter().zip(operands) {
        if op.precedence() == loosest {
            let done = std::mem::replace(&mut part, (vec![operand], Vec::new()));
            parts.push(group(done.0, done.1)?);
            joins.push((op, at));
        } else {
            part.1.push((op, at));
            part.0.push(operand);
        }
    }
    parts.push(group(part.0, part.1)?);
    let offset = parts[0].offset;
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return Err(ExprError::new(0, "expected a value"));
    };
    let (expr, ty) = match joins.first().map(|(op, _)| *op) {
        Some(BinaryOp::Or) => (
            Expr::Or(
                std::iter::once(first)
                    .chain(parts)
                    .map(|p| p.expr)
                    .collect(),
            ),
            Ty::BOOL,
        ),
        Some(BinaryOp::And) => (
            Expr::And(
                std::iter::once(first)
                    .chain(parts)
                    .map(|p| p.expr)
                    .collect(),
            ),
            Ty::BOOL,
        ),
        Some(BinaryOp::Equality(_)) => (
            Expr::Equality {
                first: Box::new(first.expr),
                rest: joins
                    .iter()
                    .zip(parts)
                    .map(|((op, _), part)| match op {
                        BinaryOp::Equality(op) => (*op, part.expr),
                        _ => (EqualityOp::Equal, part.expr),
                    })
                    .collect(),
            },
            Ty::BOOL,
        ),
        Some(BinaryOp::Plus) => {
            let mut ty = first.ty;
            let mut sum = vec![first.expr];
            for ((_, at), part) in joins.iter().zip(parts) {
                let next = plus_type(ty, part.ty);
                if next == Ty::NONE {
                    return Err(plus_error(*at));
                }
                ty = next;
                sum.push(part.expr);
            }
            (Expr::Plus(sum), ty)
        }
        None => return Ok(first),
    };
    Ok(Parsed { expr, ty, offset })
}

#[cold]
#[inline(never)]
fn plus_error(at: usize) -> ExprError {
    ExprError::new(
        at,
        "`+` cannot take a boolean here: it adds integers or concatenates to a string (`'' + x` \
         makes a string)",
    )
}

/// Parses a token list ending with [`Tok::End`].
pub(super) fn parse(tokens: &[Token]) -> Result<Expr, ExprError> {
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    if matches!(parser.peek(), Tok::End) {
        return Err(ExprError::new(parser.offset(), "empty expression"));
    }
    let parsed = parser.expression()?;
    match parser.peek() {
        Tok::End => Ok(parsed.expr),
        Tok::Close => Err(parser.error("unmatched `)`")),
        Tok::Name(name) if is_keyword(name) => Err(parser.error(keyword_message(name))),
        other => Err(parser.error(format!(
            "unexpected {}: expected an operator (`+`, `==`, `!=`, `&&`, `||`, `? :`, `?:`), \
             `.method(...)` or the end of the expression",
            other.describe()
        ))),
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        // The list ends with `End`, which is never consumed.
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(&Tok::End, |token| &token.tok)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(0, |token| token.offset)
    }

    fn advance(&mut self) {
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
    }

    fn error(&self, message: impl Into<String>) -> ExprError {
        ExprError::new(self.offset(), message)
    }

    /// Enters a nesting level, refusing more than [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!(
                "expression nested too deeply (more than {MAX_DEPTH} levels)"
            )));
        }
        Ok(())
    }

    /// expression := or ( "?" expression ":" expression | "?:" expression )?
    fn expression(&mut self) -> Result<Parsed, ExprError> {
        self.enter()?;
        let parsed = self.conditional();
        self.depth -= 1;
        parsed
    }

    fn conditional(&mut self) -> Result<Parsed, ExprError> {
        let condition = self.binary()?;
        match self.peek() {
            Tok::Question => {
                self.advance();
                let then = self.expression()?;
                if !matches!(self.peek(), Tok::Colon) {
                    return Err(self.error(format!(
                        "expected the `:` of `? :`, found {}",
                        self.peek().describe()
                    )));
                }
                self.advance();
                let otherwise = self.expression()?;
                Ok(Parsed {
                    ty: then.ty.union(otherwise.ty),
                    offset: condition.offset,
                    expr: Expr::Conditional {
                        condition: Box::new(condition.expr),
                        then: Box::new(then.expr),
                        otherwise: Box::new(otherwise.expr),
                    },
                })
            }
            Tok::Elvis => {
                self.advance();
                let fallback = self.expression()?;
                Ok(Parsed {
                    ty: condition.ty.without(Ty::NULL).union(fallback.ty),
                    offset: condition.offset,
                    expr: Expr::Elvis {
                        value: Box::new(condition.expr),
                        fallback: Box::new(fallback.expr),
                    },
                })
            }
            _ => Ok(condition),
        }
    }

    /// or, and, equality and sum: the operands and operators are read in one loop and grouped
    /// by precedence afterwards, so that a nesting level costs one stack frame, not four.
    fn binary(&mut self) -> Result<Parsed, ExprError> {
        let first = self.unary()?;
        if self.binary_op().is_none() {
            return Ok(first);
        }
        let mut operands = vec![first];
        let mut ops = Vec::new();
        while let Some(op) = self.binary_op() {
            ops.push((op, self.offset()));
            self.advance();
            operands.push(self.unary()?);
        }
        group(operands, ops)
    }

    fn binary_op(&self) -> Option<BinaryOp> {
        Some(match self.peek() {
            Tok::Or => BinaryOp::Or,
            Tok::And => BinaryOp::And,
            Tok::Equal => BinaryOp::Equality(EqualityOp::Equal),
            Tok::NotEqual => BinaryOp::Equality(EqualityOp::NotEqual),
            Tok::Plus => BinaryOp::Plus,
            _ => return None,
        })
    }

    /// unary := "!" unary | postfix
    fn unary(&mut self) -> Result<Parsed, ExprError> {
        let mut nots = Vec::new();
        while matches!(self.peek(), Tok::Not) {
            nots.push(self.offset());
            if let Err(error) = self.enter() {
                self.depth -= nots.len();
                return Err(error);
            }
            self.advance();
        }
        let operand = self.postfix();
        self.depth -= nots.len();
        let mut operand = operand?;
        while let Some(offset) = nots.pop() {
            operand = Parsed {
                expr: Expr::Not(Box::new(operand.expr)),
                ty: Ty::BOOL,
                offset,
            };
        }
        Ok(operand)
    }

    /// postfix := primary ( ( "." | "?." ) NAME ( "(" arguments? ")" )? )*
    fn postfix(&mut self) -> Result<Parsed, ExprError> {
        let mut current = self.primary()?;
        loop {
            let null_safe = match self.peek() {
                Tok::Dot => false,
                Tok::SafeDot => true,
                Tok::Open => return Err(call_without_receiver(&current, self.offset())),
                _ => return Ok(current),
            };
            let dot = self.offset();
            self.advance();
            let name_offset = self.offset();
            let Tok::Name(name) = self.peek() else {
                return Err(name_expected(self.peek(), null_safe, name_offset));
            };
            let name = name.clone();
            self.advance();
            if !matches!(self.peek(), Tok::Open) {
                // A property: only of a property path.
                let Expr::Path(path) = &mut current.expr else {
                    return Err(property_of_value(&current, &name, null_safe, dot));
                };
                path.push(name);
                continue;
            }
            let Some(method) = Method::from_name(&name) else {
                return Err(unknown_method(&name, name_offset));
            };
            if !current.ty.has(Ty::STR) || current.ty.has(Ty::INT) || current.ty.has(Ty::BOOL) {
                return Err(method_on_non_string(&current, &name, name_offset));
            }
            self.advance();
            let args = self.arguments(&name)?;
            check_arguments(method, &args, name_offset)?;
            let call = Call {
                null_safe,
                method,
                args: args.into_iter().map(|arg| arg.expr).collect(),
            };
            // Calls chain flat: `(a.trim()).trim()` is `a.trim().trim()`.
            match &mut current.expr {
                Expr::Calls { calls, .. } => calls.push(call),
                receiver => {
                    let receiver = std::mem::replace(receiver, Expr::Null);
                    current.expr = Expr::Calls {
                        receiver: Box::new(receiver),
                        calls: vec![call],
                    };
                }
            }
            current.ty = result_type(method, null_safe);
        }
    }

    /// arguments? ")" after the `(` of method `name`.
    fn arguments(&mut self, name: &str) -> Result<Vec<Parsed>, ExprError> {
        let mut args = Vec::new();
        if matches!(self.peek(), Tok::Close) {
            self.advance();
            return Ok(args);
        }
        loop {
            args.push(self.expression()?);
            match self.peek() {
                Tok::Comma => self.advance(),
                Tok::Close => {
                    self.advance();
                    return Ok(args);
                }
                other => {
                    return Err(self.error(format!(
                        "expected `,` or the `)` closing the arguments of `{name}`, found {}",
                        other.describe()
                    )));
                }
            }
        }
    }

    fn primary(&mut self) -> Result<Parsed, ExprError> {
        let offset = self.offset();
        let (expr, ty) = match self.peek().clone() {
            Tok::Str(text) => (Expr::Str(text), Ty::STR),
            Tok::Int(value) => (Expr::Int(value), Ty::INT),
            Tok::Name(name) => match name.as_str() {
                "null" => (Expr::Null, Ty::NULL),
                "true" => (Expr::Bool(true), Ty::BOOL),
                "false" => (Expr::Bool(false), Ty::BOOL),
                _ if is_keyword(&name) => return Err(self.error(keyword_message(&name))),
                _ => (Expr::Path(vec![name]), Ty::PATH),
            },
            Tok::Open => {
                self.advance();
                let inner = self.expression()?;
                if !matches!(self.peek(), Tok::Close) {
                    return Err(self.error(format!(
                        "expected the `)` closing a `(`, found {}",
                        self.peek().describe()
                    )));
                }
                self.advance();
                return Ok(Parsed { offset, ..inner });
            }
            other => {
                return Err(self.error(format!("expected a value, found {}", other.describe())));
            }
        };
        self.advance();
        Ok(Parsed { expr, ty, offset })
    }
}

/// The type of a method's result.
fn result_type(method: Method, null_safe: bool) -> Ty {
    let ty = match method {
        Method::Length => Ty::INT,
        Method::Equals
        | Method::EqualsIgnoreCase
        | Method::Contains
        | Method::StartsWith
        | Method::EndsWith => Ty::BOOL,
        Method::ToUpperCase
        | Method::ToLowerCase
        | Method::Substring
        | Method::Trim
        | Method::Replace => Ty::STR,
    };
    if null_safe { ty.union(Ty::NULL) } else { ty }
}

// The messages are built out of line, so that the recursive parsing functions keep small stack
// frames.

#[cold]
#[inline(never)]
fn call_without_receiver(current: &Parsed, open: usize) -> ExprError {
    match &current.expr {
        Expr::Path(path) if path.len() == 1 => ExprError::new(
            current.offset,
            format!(
                "`{}(...)`: function calls are not supported; call String methods on a value, as \
                 in `account.name.trim()`",
                path[0]
            ),
        ),
        _ => ExprError::new(open, "unexpected `(`"),
    }
}

#[cold]
#[inline(never)]
fn name_expected(found: &Tok, null_safe: bool, at: usize) -> ExprError {
    ExprError::new(
        at,
        format!(
            "expected a property or method name after {}, found {}",
            if null_safe { "`?.`" } else { "`.`" },
            found.describe()
        ),
    )
}

#[cold]
#[inline(never)]
fn property_of_value(current: &Parsed, name: &str, null_safe: bool, at: usize) -> ExprError {
    ExprError::new(
        at,
        format!(
            "`{}{name}`: only bound objects have properties (`account.name`); `{}` is {}{}",
            if null_safe { "?." } else { "." },
            current.expr,
            current.ty.describe_non_string(),
            if Method::from_name(name).is_some() {
                format!(" (to call the method, write `{name}(...)`)")
            } else {
                String::new()
            }
        ),
    )
}

#[cold]
#[inline(never)]
fn unknown_method(name: &str, at: usize) -> ExprError {
    ExprError::new(
        at,
        format!(
            "unknown method `{name}`: the supported String methods are {}",
            Method::ALL.map(Method::name).join(", ")
        ),
    )
}

#[cold]
#[inline(never)]
fn method_on_non_string(current: &Parsed, name: &str, at: usize) -> ExprError {
    ExprError::new(
        at,
        format!(
            "`{name}()` is a String method, but `{}` is {}",
            current.expr,
            current.ty.describe_non_string()
        ),
    )
}

/// Checks the number and the types of a method's arguments.
#[inline(never)]
fn check_arguments(method: Method, args: &[Parsed], at: usize) -> Result<(), ExprError> {
    let name = method.name();
    let expected: &[usize] = match method {
        Method::ToUpperCase | Method::ToLowerCase | Method::Trim | Method::Length => &[0],
        Method::Equals
        | Method::EqualsIgnoreCase
        | Method::Contains
        | Method::StartsWith
        | Method::EndsWith => &[1],
        Method::Substring => &[1, 2],
        Method::Replace => &[2],
    };
    if !expected.contains(&args.len()) {
        let wanted = match method {
            Method::Substring => "1 or 2 arguments (begin, end)".to_string(),
            Method::Replace => "2 arguments (target, replacement)".to_string(),
            _ if expected == [0] => "no arguments".to_string(),
            _ => "1 argument".to_string(),
        };
        return Err(ExprError::new(
            at,
            format!("`{name}` takes {wanted}, not {}", args.len()),
        ));
    }
    for arg in args {
        let fits = match method {
            Method::Equals => true,
            Method::Substring => arg.ty == Ty::INT,
            _ => !arg.ty.has(Ty::INT) && !arg.ty.has(Ty::BOOL),
        };
        if !fits {
            let (wanted, actual) = match method {
                Method::Substring => ("integers", describe_non_int(arg.ty)),
                _ => ("strings", arg.ty.describe_non_string()),
            };
            return Err(ExprError::new(
                arg.offset,
                format!(
                    "the arguments of `{name}` are {wanted}, but `{}` is {actual}",
                    arg.expr
                ),
            ));
        }
    }
    Ok(())
}

fn describe_non_int(ty: Ty) -> &'static str {
    if ty.has(Ty::STR) {
        "a String"
    } else if ty.has(Ty::BOOL) {
        "a boolean"
    } else if ty.has(Ty::NULL) {
        "null"
    } else {
        "an integer"
    }
}

/// Groovy and Java keywords, refused where a value is expected.
fn is_keyword(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "abstract",
        "as",
        "assert",
        "boolean",
        "break",
        "byte",
        "case",
        "catch",
        "char",
        "class",
        "const",
        "continue",
        "def",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extends",
        "final",
        "finally",
        "float",
        "for",
        "goto",
        "if",
        "implements",
        "import",
        "in",
        "instanceof",
        "int",
        "interface",
        "long",
        "native",
        "new",
        "package",
        "private",
        "protected",
        "public",
        "return",
        "short",
        "static",
        "super",
        "switch",
        "synchronized",
        "this",
        "throw",
        "throws",
        "transient",
        "try",
        "void",
        "volatile",
        "while",
    ];
    KEYWORDS.contains(&name)
}

fn keyword_message(name: &str) -> String {
    format!(
        "`{name}` is not supported: `${{...}}` holds one expression of property paths, literals, \
         `+`, `==`, `!=`, `&&`, `||`, `!`, `? :`, `?:` and String methods"
    )
}
