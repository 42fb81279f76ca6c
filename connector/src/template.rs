//! Request templates: text with `${expression}` placeholders, bound at run time.
//!
//! Bound values are XML-escaped when rendered into XML (Saviynt does not escape, so a user name
//! holding `"` or `<` breaks or injects into its envelopes; here it stays data). Expressions are
//! parsed once, when the configuration is loaded, so a template that does not parse is a
//! configuration problem with a position, not a surprise at run time.
//!
//! This version's expressions are property paths (`USERNAME`, `account.name`, `account?.email`).
//! [`Expr`] is the seam where the full binding language (operators, literals, methods) plugs in.

use crate::text::{TextError, escape_xml, line_column};

/// A parsed `${...}` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A property path: `USERNAME`, `account.customproperty1`.
    Path(Vec<String>),
}

impl Expr {
    /// Parses the text between `${` and `}`.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("empty expression `${}`".into());
        }
        let segments: Vec<String> = trimmed
            .split('.')
            .map(|segment| segment.trim().trim_end_matches('?').trim().to_string())
            .collect();
        if segments.iter().all(|segment| is_identifier(segment)) {
            Ok(Expr::Path(segments))
        } else {
            Err(format!(
                "unsupported expression `{trimmed}`: this version binds property paths such as \
                 `USERNAME` or `account.name`"
            ))
        }
    }

    /// Every property path the expression reads.
    pub fn paths(&self) -> Vec<&[String]> {
        match self {
            Expr::Path(path) => vec![path.as_slice()],
        }
    }

    /// Evaluates the expression; `Ok(None)` when a path's root is not bound at all.
    pub fn eval(&self, bindings: &dyn Bindings) -> Result<String, String> {
        match self {
            Expr::Path(path) => match bindings.lookup(path) {
                Lookup::Value(value) => Ok(value),
                Lookup::Missing => Ok(String::new()),
                Lookup::Unbound => Err(format!("`{}` is not bound here", path.join("."))),
            },
        }
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What a property path resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A value.
    Value(String),
    /// The root object is bound but has no such property (renders as empty text).
    Missing,
    /// Nothing of that name is bound in this context.
    Unbound,
}

/// The variables visible to a template.
pub trait Bindings {
    /// Resolves a property path such as `["account", "name"]`.
    fn lookup(&self, path: &[String]) -> Lookup;
}

/// How bound values are written into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// XML-escaped: for request bodies.
    Xml,
    /// As is: for HTTP header values.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder {
        expr: Expr,
        offset: usize,
        length: usize,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    segments: Vec<Segment>,
}

impl Template {
    /// Parses every `${...}` of `source`.
    pub fn parse(source: &str) -> Result<Template, TextError> {
        let mut segments = Vec::new();
        let mut rest_start = 0;
        while let Some(found) = source[rest_start..].find("${") {
            let open = rest_start + found;
            if open > rest_start {
                segments.push(Segment::Literal(source[rest_start..open].to_string()));
            }
            let body_start = open + 2;
            let Some(length) = source[body_start..].find('}') else {
                return Err(TextError::at(
                    source,
                    open,
                    "`${` is never closed by `}`".into(),
                ));
            };
            let body = &source[body_start..body_start + length];
            let expr = Expr::parse(body).map_err(|message| TextError::at(source, open, message))?;
            segments.push(Segment::Placeholder {
                expr,
                offset: open,
                length: length + 3,
            });
            rest_start = body_start + length + 1;
        }
        if rest_start < source.len() {
            segments.push(Segment::Literal(source[rest_start..].to_string()));
        }
        Ok(Template {
            source: source.to_string(),
            segments,
        })
    }

    /// The template text as configured.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every placeholder's expression with the position of its `${`.
    pub fn expressions(&self) -> impl Iterator<Item = (&Expr, (usize, usize))> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Placeholder { expr, offset, .. } => {
                Some((expr, line_column(&self.source, *offset)))
            }
            Segment::Literal(_) => None,
        })
    }

    /// The template with each placeholder replaced by as many `x` as it has characters, so a
    /// position in the result is the same position in the template: used to check that the
    /// template is well-formed once bound, and to point at the mistake in the template itself.
    pub fn with_placeholders_filled(&self) -> String {
        let mut out = String::with_capacity(self.source.len());
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder { length, .. } => {
                    out.extend(std::iter::repeat_n('x', *length))
                }
            }
        }
        out
    }

    /// Renders the template with `bindings`.
    pub fn render(&self, bindings: &dyn Bindings, escape: Escape) -> Result<String, TextError> {
        let mut out = String::with_capacity(self.source.len() + 64);
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder { expr, offset, .. } => {
                    let value = expr
                        .eval(bindings)
                        .map_err(|message| TextError::at(&self.source, *offset, message))?;
                    match escape {
                        Escape::Xml => escape_xml(&value, &mut out),
                        Escape::None => out.push_str(&value),
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Bindings for Fixed {
        fn lookup(&self, path: &[String]) -> Lookup {
            match path
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["USERNAME"] => Lookup::Value("svc".into()),
                ["account", "name"] => {
                    Lookup::Value(r#""/><Security.lockUserAccountRq userName="x"#.into())
                }
                ["account", _] => Lookup::Missing,
                _ => Lookup::Unbound,
            }
        }
    }

    #[test]
    fn renders_escaped_values() {
        let template =
            Template::parse(r#"<a u="${USERNAME}" n="${ account?.name }">${account.nothing}</a>"#)
                .unwrap();
        assert_eq!(
            template.render(&Fixed, Escape::Xml).unwrap(),
            r#"<a u="svc" n="&quot;/&gt;&lt;Security.lockUserAccountRq userName=&quot;x"></a>"#
        );
        let header = Template::parse("Bearer ${account.name}").unwrap();
        assert_eq!(
            header.render(&Fixed, Escape::None).unwrap(),
            r#"Bearer "/><Security.lockUserAccountRq userName="x"#
        );
    }

    #[test]
    fn filled_placeholders_keep_positions() {
        let template = Template::parse("<a b=\"${USERNAME}\">${x}</a>").unwrap();
        assert_eq!(
            template.with_placeholders_filled(),
            "<a b=\"xxxxxxxxxxx\">xxxx</a>"
        );
    }

    #[test]
    fn keeps_text_without_placeholders() {
        let template = Template::parse("costs $5 {not} a placeholder $").unwrap();
        assert_eq!(
            template.render(&Fixed, Escape::Xml).unwrap(),
            "costs $5 {not} a placeholder $"
        );
    }

    #[test]
    fn reports_parse_errors_with_positions() {
        let cases: &[(&str, (usize, usize), &str)] = &[
            ("<a>\n  ${USERNAME</a>", (2, 3), "never closed"),
            ("x ${}", (1, 3), "empty expression"),
            ("${a + b}", (1, 1), "unsupported expression `a + b`"),
            (
                "<r>${account.name.toUpperCase()}</r>",
                (1, 4),
                "unsupported expression",
            ),
        ];
        for (source, (line, column), message) in cases {
            let error = Template::parse(source).expect_err(source);
            assert_eq!(
                (error.line, error.column),
                (*line, *column),
                "{source}: {error}"
            );
            assert!(error.message.contains(message), "{source}: {error}");
        }
    }

    #[test]
    fn unbound_names_fail_to_render_with_their_position() {
        let template = Template::parse("<a>\n${task.id}</a>").unwrap();
        let error = template.render(&Fixed, Escape::Xml).unwrap_err();
        assert_eq!((error.line, error.column), (2, 1));
        assert_eq!(error.message, "`task.id` is not bound here");
    }

    #[test]
    fn lists_expressions_with_positions() {
        let template = Template::parse("${USERNAME}\n ${account.name}").unwrap();
        let found: Vec<_> = template
            .expressions()
            .map(|(expr, at)| (expr.paths()[0].join("."), at))
            .collect();
        assert_eq!(
            found,
            vec![
                ("USERNAME".to_string(), (1, 1)),
                ("account.name".to_string(), (2, 2))
            ]
        );
    }
}
