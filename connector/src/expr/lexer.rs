//! Tokens of the binding language, with the byte offset where each starts.
//!
//! Constructs outside the language are refused here when a character gives them away (`-`, `*`,
//! `<`, `=`, `[`, `{`, `;`, ...), each with a message saying what to write instead.

use super::{ExprError, MAX_LENGTH};

/// A token's kind and, for names and literals, its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// A name: a property, a method, or `null`, `true`, `false`, a keyword.
    Name(String),
    /// A string literal, escapes resolved.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// `.`
    Dot,
    /// `?.`
    SafeDot,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// `+`
    Plus,
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
    /// `&&`
    And,
    /// `||`
    Or,
    /// `!`
    Not,
    /// `?`
    Question,
    /// `:`
    Colon,
    /// `?:`
    Elvis,
    /// The end of the expression: the end of the text, or the `}` closing a placeholder.
    End,
}

impl Tok {
    /// How a message names the token.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Name(name) => format!("`{name}`"),
            Tok::Str(_) => "a string literal".into(),
            Tok::Int(value) => format!("`{value}`"),
            Tok::Dot => "`.`".into(),
            Tok::SafeDot => "`?.`".into(),
            Tok::Open => "`(`".into(),
            Tok::Close => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Plus => "`+`".into(),
            Tok::Equal => "`==`".into(),
            Tok::NotEqual => "`!=`".into(),
            Tok::And => "`&&`".into(),
            Tok::Or => "`||`".into(),
            Tok::Not => "`!`".into(),
            Tok::Question => "`?`".into(),
            Tok::Colon => "`:`".into(),
            Tok::Elvis => "`?:`".into(),
            Tok::End => "the end of the expression".into(),
        }
    }
}

/// A token and the byte offset of its first character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub tok: Tok,
    pub offset: usize,
}

/// The tokens of an expression.
pub(super) struct Lexed {
    /// The tokens, always ending with [`Tok::End`]: at the end of the text, at the `}` closing a
    /// placeholder, or where `error` happened.
    pub tokens: Vec<Token>,
    /// The offset of the `}` closing a placeholder.
    pub close: Option<usize>,
    /// The first character outside the language, if any: tokens stop there, so the parser can
    /// report an earlier mistake first.
    pub error: Option<ExprError>,
}

/// Tokenizes `text[start..]`. With `in_placeholder`, stops at the first `}` outside a string
/// literal; without, a `}` is an error.
pub(super) fn lex(text: &str, start: usize, in_placeholder: bool) -> Lexed {
    let mut lexer = Lexer {
        text,
        pos: start.min(text.len()),
        chars: 0,
    };
    let mut tokens = Vec::new();
    let mut close = None;
    let mut error = None;
    if !text.is_char_boundary(lexer.pos) {
        error = Some(ExprError::new(lexer.pos, "not at a character boundary"));
    }
    while error.is_none() {
        if let Err(failed) = lexer.skip_whitespace() {
            error = Some(failed);
            break;
        }
        let Some(c) = lexer.peek() else {
            break;
        };
        if c == '}' && in_placeholder {
            close = Some(lexer.pos);
            break;
        }
        let offset = lexer.pos;
        match lexer.token(c) {
            Ok(tok) => tokens.push(Token { tok, offset }),
            Err(failed) => error = Some(failed),
        }
    }
    let end = match &error {
        Some(error) => error.offset,
        None => lexer.pos,
    };
    tokens.push(Token {
        tok: Tok::End,
        offset: end,
    });
    Lexed {
        tokens,
        close,
        error,
    }
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    /// Characters consumed so far, to enforce [`MAX_LENGTH`].
    chars: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.text[self.pos..].chars().nth(n)
    }

    fn starts_with(&self, prefix: &str) -> bool {
        self.text[self.pos..].starts_with(prefix)
    }

    /// Consumes one character, refusing expressions longer than [`MAX_LENGTH`].
    fn bump(&mut self) -> Result<Option<char>, ExprError> {
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        self.chars += 1;
        if self.chars > MAX_LENGTH {
            return Err(ExprError::new(
                self.pos,
                format!("expression longer than {MAX_LENGTH} characters"),
            ));
        }
        self.pos += c.len_utf8();
        Ok(Some(c))
    }

    fn bump_n(&mut self, n: usize) -> Result<(), ExprError> {
        for _ in 0..n {
            self.bump()?;
        }
        Ok(())
    }

    fn skip_whitespace(&mut self) -> Result<(), ExprError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump()?;
        }
        Ok(())
    }

    fn token(&mut self, c: char) -> Result<Tok, ExprError> {
        let offset = self.pos;
        let simple = |lexer: &mut Self, length: usize, tok: Tok| {
            lexer.bump_n(length)?;
            Ok(tok)
        };
        match c {
            'a'..='z' | 'A'..='Z' | '_' => {
                let mut name = String::new();
                while let Some(c) = self
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    self.bump()?;
                    name.push(c);
                }
                Ok(Tok::Name(name))
            }
            '0'..='9' => self.number(),
            '\'' | '"' => self.string(c),
            '(' => simple(self, 1, Tok::Open),
            ')' => simple(self, 1, Tok::Close),
            ',' => simple(self, 1, Tok::Comma),
            '.' => match self.peek_at(1) {
                Some('.') => Err(self.unsupported(
                    if self.starts_with("...") { "..." } else { ".." },
                    " (ranges and spreading)",
                )),
                Some('&') => Err(self.unsupported(".&", " (method pointers)")),
                Some('@') => Err(self.unsupported(".@", " (direct field access)")),
                _ => simple(self, 1, Tok::Dot),
            },
            '?' => match self.peek_at(1) {
                Some('.') => simple(self, 2, Tok::SafeDot),
                Some(':') => simple(self, 2, Tok::Elvis),
                Some('[') => Err(self.unsupported("?[", " (indexing)")),
                _ => simple(self, 1, Tok::Question),
            },
            ':' => match self.peek_at(1) {
                Some(':') => Err(self.unsupported("::", " (method references)")),
                _ => simple(self, 1, Tok::Colon),
            },
            '+' => match self.peek_at(1) {
                Some('+') => Err(self.unsupported("++", " (increment)")),
                Some('=') => Err(self.unsupported("+=", " (assignment)")),
                _ => simple(self, 1, Tok::Plus),
            },
            '=' => {
                if self.starts_with("===") {
                    Err(self.unsupported("===", " (identity): compare with `==`"))
                } else if self.starts_with("==~") {
                    Err(self.unsupported("==~", " (regular expressions)"))
                } else if self.starts_with("==") {
                    simple(self, 2, Tok::Equal)
                } else if self.starts_with("=~") {
                    Err(self.unsupported("=~", " (regular expressions)"))
                } else {
                    Err(self.unsupported("=", " (assignment): compare with `==`"))
                }
            }
            '!' => {
                if self.starts_with("!==") {
                    Err(self.unsupported("!==", " (identity): compare with `!=`"))
                } else if self.starts_with("!=") {
                    simple(self, 2, Tok::NotEqual)
                } else {
                    simple(self, 1, Tok::Not)
                }
            }
            '&' => match self.peek_at(1) {
                Some('&') => simple(self, 2, Tok::And),
                _ => Err(self.unsupported("&", ": logical and is `&&`")),
            },
            '|' => match self.peek_at(1) {
                Some('|') => simple(self, 2, Tok::Or),
                _ => Err(self.unsupported("|", ": logical or is `||`")),
            },
            '<' | '>' => {
                let op = ["<=>", ">>>", "<<", ">>", "<=", ">=", "<", ">"]
                    .into_iter()
                    .find(|op| self.starts_with(op))
                    .unwrap_or("<");
                if op.len() > 1 && (op.starts_with("<<") || op.starts_with(">>")) {
                    Err(self.unsupported(op, " (bit shifts)"))
                } else {
                    Err(self.unsupported(op, ": the only comparisons are `==` and `!=`"))
                }
            }
            '-' => match self.peek_at(1) {
                Some('>') => Err(self.unsupported("->", " (closures)")),
                _ => Err(self.unsupported("-", ": the only arithmetic is `+`")),
            },
            '*' => match self.peek_at(1) {
                Some('.') => Err(self.unsupported("*.", " (spreading)")),
                Some('*') => Err(self.unsupported("**", ": the only arithmetic is `+`")),
                _ => Err(self.unsupported("*", ": the only arithmetic is `+`")),
            },
            '/' => match self.peek_at(1) {
                Some('/') | Some('*') => Err(ExprError::new(offset, "comments are not supported")),
                _ => Err(self.unsupported("/", ": the only arithmetic is `+`")),
            },
            '%' => Err(self.unsupported("%", ": the only arithmetic is `+`")),
            '[' | ']' => Err(self.unsupported(
                if c == '[' { "[" } else { "]" },
                " (lists, maps and indexing): use String methods such as `substring`",
            )),
            '{' => Err(self.brace()),
            '}' => Err(ExprError::new(offset, "unexpected `}`")),
            ';' => Err(self.unsupported(";", ": `${...}` holds a single expression")),
            '$' => Err(self.unsupported("$", " here")),
            '@' => Err(self.unsupported("@", " (annotations)")),
            '^' | '~' => Err(self.unsupported(if c == '^' { "^" } else { "~" }, "")),
            _ => Err(ExprError::new(
                offset,
                format!("unexpected character `{}`", c.escape_debug()),
            )),
        }
    }

    /// A `{`: a Groovy closure when it follows a method name (`.collect{ it.name }`), which users
    /// write in grant and revoke plans; said so with what to write instead.
    fn brace(&self) -> ExprError {
        let before = self.text[..self.pos].trim_end();
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |index| index + 1);
        let method = &before[name_start..];
        if !method.is_empty() && before[..name_start].ends_with('.') {
            return ExprError::new(
                self.pos,
                format!(
                    "Groovy closures (`.{method}{{ }}`) are not supported: a plan runs for one account, with no collection to iterate; build the text with `+` and `? :` (`'<Role>' + account.name + '</Role>'`)"
                ),
            );
        }
        self.unsupported("{", " (closures and blocks)")
    }

    fn unsupported(&self, op: &str, hint: &str) -> ExprError {
        ExprError::new(self.pos, format!("`{op}` is not supported{hint}"))
    }

    fn number(&mut self) -> Result<Tok, ExprError> {
        let offset = self.pos;
        let mut digits = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            self.bump()?;
            digits.push(c);
        }
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            return Err(ExprError::new(
                offset,
                "decimal numbers are not supported: only integers",
            ));
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            let mut literal = digits;
            while let Some(c) = self
                .peek()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                self.bump()?;
                literal.push(c);
            }
            return Err(ExprError::new(
                offset,
                format!("unsupported number `{literal}`: only decimal integers such as `3`"),
            ));
        }
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(ExprError::new(
                offset,
                format!(
                    "`{digits}` is not supported: Groovy reads a leading zero as octal; write the number without it"
                ),
            ));
        }
        digits
            .parse::<i64>()
            .map(Tok::Int)
            .map_err(|_| ExprError::new(offset, format!("integer `{digits}` is too large")))
    }

    fn string(&mut self, quote: char) -> Result<Tok, ExprError> {
        let offset = self.pos;
        let triple: String = [quote; 3].iter().collect();
        if self.starts_with(&triple) {
            return Err(ExprError::new(
                offset,
                format!("triple-quoted strings (`{triple}`) are not supported"),
            ));
        }
        self.bump()?;
        let mut value = String::new();
        loop {
            let at = self.pos;
            match self.bump()? {
                None => {
                    return Err(ExprError::new(offset, "string literal is never closed"));
                }
                Some('\n' | '\r') => {
                    return Err(ExprError::new(
                        offset,
                        "string literal is never closed on its line (write `\\n` for a line break)",
                    ));
                }
                Some(c) if c == quote => return Ok(Tok::Str(value)),
                Some('\\') => match self.bump()? {
                    Some('\\') => value.push('\\'),
                    Some('\'') => value.push('\''),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some('r') => value.push('\r'),
                    Some('$') => value.push('$'),
                    None => {
                        return Err(ExprError::new(offset, "string literal is never closed"));
                    }
                    Some(other) => {
                        return Err(ExprError::new(
                            at,
                            format!(
                                "unknown escape `\\{}`: the escapes are \\\\ \\' \\\" \\n \\t \\r \\$",
                                other.escape_debug()
                            ),
                        ));
                    }
                },
                Some('$') if quote == '"' => {
                    return Err(ExprError::new(
                        at,
                        "`$` in a double-quoted string is Groovy interpolation, which is not \
                         supported: concatenate with `+`, write `\\$` for a dollar sign, or use \
                         single quotes",
                    ));
                }
                Some(c) => value.push(c),
            }
        }
    }
}
