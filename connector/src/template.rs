//! Request templates: text with `${expression}` placeholders, bound at run time.
//!
//! Bound values are XML-escaped when rendered into XML (Saviynt does not escape, so a user name
//! holding `"` or `<` breaks or injects into its envelopes; here it stays data). Expressions are
//! parsed once, when the configuration is loaded, so a template that does not parse is a
//! configuration problem with a position, not a surprise at run time.
//!
//! A placeholder holds an expression of the binding language ([`crate::expr`]): property paths
//! (`${account.name}`, `${account?.email}`), literals, `+`, `==`, `!=`, `&&`, `||`, `!`, `? :`,
//! `?:` and String methods (`${user.firstname.toUpperCase()}`). Null renders as empty text. The
//! `}` closing a placeholder is the first one outside a string literal, so
//! `${account.x ?: '}'}` works.
//!
//! `${raw: expression}` renders the value without XML escaping. It is only for templates that
//! must inject markup they fully control (a fragment built from literals and trusted values):
//! a raw value that comes from an account or a user is an injection hole, exactly the one this
//! module otherwise closes. The load-time well-formedness check sees a raw placeholder as text,
//! so markup it injects is not checked.

pub use crate::expr::{Bindings, Expr, ExprError, Lookup, Value};
use crate::expr::{PlaceholderError, parse_placeholder};
use crate::text::{TextError, XmlContext, line_column};

/// The longest text a template renders to, in bytes: each value is bounded
/// ([`crate::expr::MAX_VALUE`]), and so is their sum over many placeholders.
pub const MAX_RENDERED: usize = 16 << 20;

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
        /// Byte offset of the `${`.
        offset: usize,
        /// Bytes from `${` to `}` inclusive.
        length: usize,
        /// `${raw: ...}`: never escaped.
        raw: bool,
        /// Where in the XML the value lands (after the literal text before it): element text or
        /// attribute, CDATA section or comment.
        context: XmlContext,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    segments: Vec<Segment>,
}

impl Template {
    /// Parses every `${...}` of `source`; a mistake is reported at the line and column of the
    /// offending character.
    pub fn parse(source: &str) -> Result<Template, TextError> {
        let mut segments = Vec::new();
        let mut rest_start = 0;
        let mut context = XmlContext::Markup;
        while let Some(found) = source[rest_start..].find("${") {
            let open = rest_start + found;
            if open > rest_start {
                let literal = &source[rest_start..open];
                context = context.after(literal);
                segments.push(Segment::Literal(literal.to_string()));
            }
            let (raw, body_start) = raw_prefix(source, open + 2);
            let (expr, close) =
                parse_placeholder(source, body_start).map_err(|error| match error {
                    PlaceholderError::NeverClosed => {
                        TextError::at(source, open, "`${` is never closed by `}`".into())
                    }
                    PlaceholderError::Empty => TextError::at(
                        source,
                        open,
                        if raw {
                            "empty expression `${raw:}`".into()
                        } else {
                            "empty expression `${}`".into()
                        },
                    ),
                    PlaceholderError::Invalid(error) => {
                        TextError::at(source, error.offset, error.message)
                    }
                })?;
            segments.push(Segment::Placeholder {
                expr,
                offset: open,
                length: close + 1 - open,
                raw,
                context,
            });
            rest_start = close + 1;
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
        self.placeholders()
            .map(|(expr, position, _raw)| (expr, position))
    }

    /// Every placeholder: its expression, the position of its `${`, and whether it is
    /// `${raw: ...}`.
    pub fn placeholders(&self) -> impl Iterator<Item = (&Expr, (usize, usize), bool)> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Placeholder {
                expr, offset, raw, ..
            } => Some((expr, line_column(&self.source, *offset), *raw)),
            Segment::Literal(_) => None,
        })
    }

    /// Every literal part (the text outside placeholders) with the byte offset where it starts.
    pub fn literals(&self) -> impl Iterator<Item = (usize, &str)> {
        let mut next = 0;
        self.segments
            .iter()
            .filter_map(move |segment| match segment {
                Segment::Literal(text) => {
                    let start = next;
                    next += text.len();
                    Some((start, text.as_str()))
                }
                Segment::Placeholder { offset, length, .. } => {
                    next = offset + length;
                    None
                }
            })
    }

    /// The expression of a template that is one `${...}` and nothing else (whitespace aside),
    /// not `${raw: ...}`, with the byte offset of its `${`: a whole-envelope expression
    /// ([`crate::expr::markup`]).
    pub fn whole_expression(&self) -> Option<(&Expr, usize)> {
        let mut found = None;
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) if text.trim().is_empty() => {}
                Segment::Placeholder {
                    expr,
                    offset,
                    raw: false,
                    ..
                } if found.is_none() => found = Some((expr, *offset)),
                _ => return None,
            }
        }
        found
    }

    /// The template with each placeholder replaced by as many `x` as it has characters (line
    /// breaks inside it kept), so a position in the result is the same position in the
    /// template: used to check that the template is well-formed once bound, and to point at the
    /// mistake in the template itself.
    pub fn with_placeholders_filled(&self) -> String {
        let mut out = String::with_capacity(self.source.len());
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder { offset, length, .. } => {
                    let placeholder = self.source.get(*offset..offset + length).unwrap_or("");
                    out.extend(
                        placeholder
                            .chars()
                            .map(|c| if c == '\n' { '\n' } else { 'x' }),
                    );
                }
            }
        }
        out
    }

    /// Renders the template with `bindings`: values escaped as `escape` says, except in
    /// `${raw: ...}` placeholders.
    pub fn render(&self, bindings: &dyn Bindings, escape: Escape) -> Result<String, TextError> {
        let mut out = String::with_capacity(self.source.len() + 64);
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Placeholder {
                    expr,
                    offset,
                    raw,
                    context,
                    ..
                } => {
                    let value = expr
                        .eval(bindings)
                        .map_err(|message| TextError::at(&self.source, *offset, message))?
                        .render();
                    match (escape, raw) {
                        (Escape::Xml, false) => {
                            if let Some(c) = crate::text::forbidden_in_xml(&value) {
                                return Err(TextError::at(
                                    &self.source,
                                    *offset,
                                    crate::text::forbidden_value_message(c),
                                ));
                            }
                            context.escape(&value, &mut out)
                        }
                        (Escape::None, _) | (_, true) => out.push_str(&value),
                    }
                    if out.len() > MAX_RENDERED {
                        return Err(TextError::at(
                            &self.source,
                            *offset,
                            format!("the rendered text would be longer than {MAX_RENDERED} bytes"),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Whether the placeholder body at `body_start` opens with `raw:`, and where its expression
/// starts.
fn raw_prefix(source: &str, body_start: usize) -> (bool, usize) {
    let body = &source[body_start..];
    let trimmed = body.trim_start();
    if let Some(after) = trimmed.strip_prefix("raw")
        && let Some(expression) = after.trim_start().strip_prefix(':')
    {
        return (true, body_start + body.len() - expression.len());
    }
    (false, body_start)
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
                ["account", "special"] => Lookup::Value(r#"a&b<c>d"e'f"#.into()),
                ["account", "first"] => Lookup::Value("jane".into()),
                ["account", "tricky"] => Lookup::Value("o'b&c ]]> -- x-".into()),
                ["account", "lines"] => Lookup::Value("a\r\nb\tc\rd\n".into()),
                ["account", "control"] => Lookup::Value("ali\u{1b}[2Jce".into()),
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
    fn values_are_escaped_for_where_they_land() {
        let template = Template::parse(
            "<a t=\"${account.tricky}\"><![CDATA[${account.tricky}]]><!-- ${account.tricky}-->${account.tricky}</a>",
        )
        .unwrap();
        let rendered = template.render(&Fixed, Escape::Xml).unwrap();
        assert_eq!(
            rendered,
            "<a t=\"o&apos;b&amp;c ]]&gt; -- x-\"><![CDATA[o'b&c ]]]]><![CDATA[> -- x-]]><!-- o'b&c ]]> - - x- -->o&apos;b&amp;c ]]&gt; -- x-</a>"
        );
        crate::xml::check_well_formed(&rendered).unwrap();
        let whole = Template::parse(
            "${'<a><![CDATA[' + account.tricky + ']]><!--' + account.tricky + '-->' + account.tricky + '</a>'}",
        )
        .unwrap();
        let (expr, _) = whole.whole_expression().unwrap();
        let rendered = crate::expr::markup::render_markup(expr, &Fixed).unwrap();
        assert_eq!(
            rendered,
            "<a><![CDATA[o'b&c ]]]]><![CDATA[> -- x-]]><!--o'b&c ]]> - - x- -->o&apos;b&amp;c ]]&gt; -- x-</a>"
        );
        crate::xml::check_well_formed(&rendered).unwrap();
    }

    #[test]
    fn line_breaks_and_tabs_in_values_read_back_exactly() {
        let template = Template::parse(
            "<a t=\"${account.lines}\"><![CDATA[${account.lines}]]><!--${account.lines}-->${account.lines}<b/>${raw: account.lines}</a>",
        )
        .unwrap();
        let rendered = template.render(&Fixed, Escape::Xml).unwrap();
        assert_eq!(
            rendered,
            "<a t=\"a&#13;&#10;b&#9;c&#13;d&#10;\"><![CDATA[a]]>&#13;<![CDATA[\nb\tc]]>&#13;<![CDATA[d\n]]><!--a\r\nb\tc\rd\n-->a&#13;&#10;b&#9;c&#13;d&#10;<b/>a\r\nb\tc\rd\n</a>"
        );
        crate::xml::check_well_formed(&rendered).unwrap();
        // An XML parser reads back the value from the attribute, from the CDATA sections with
        // the reference between them, and from the text.
        // (Wrapped in a root, without the raw part, which is the author's markup.)
        let document = format!("<r>{}</r>", rendered.replace("<b/>a\r\nb\tc\rd\n", ""));
        let read = |path: &str| {
            crate::xml::first_value(
                document.as_bytes(),
                &crate::path::Path::parse(path).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(read("a.@t"), Some("a\r\nb\tc\rd\n".into()));
        // The CDATA sections with the references between them, then the text: the element's
        // one text, trimmed.
        assert_eq!(read("a"), Some("a\r\nb\tc\rd\na\r\nb\tc\rd".into()));
        let whole =
            Template::parse("${'<a t=\"' + account.lines + '\">' + account.lines + '</a>'}")
                .unwrap();
        let (expr, _) = whole.whole_expression().unwrap();
        assert_eq!(
            crate::expr::markup::render_markup(expr, &Fixed).unwrap(),
            "<a t=\"a&#13;&#10;b&#9;c&#13;d&#10;\">a&#13;&#10;b&#9;c&#13;d&#10;</a>"
        );
    }

    #[test]
    fn a_value_xml_cannot_carry_is_refused_not_sent() {
        let message = "the value holds the character U+001B, which XML 1.0 cannot carry: it is not sent (changed, it would name something else)";
        let template = Template::parse("<a n=\"${account.control}\"/>").unwrap();
        let error = template.render(&Fixed, Escape::Xml).unwrap_err();
        assert_eq!(error.to_string(), format!("line 1, column 7: {message}"));
        let whole = Template::parse("${'<a n=\"' + account.control + '\"/>'}").unwrap();
        let (expr, _) = whole.whole_expression().unwrap();
        assert_eq!(
            crate::expr::markup::render_markup(expr, &Fixed).unwrap_err(),
            message
        );
        // Unescaped output (a JSON or form body) carries it.
        let plain = Template::parse("${account.control}").unwrap();
        assert_eq!(
            plain.render(&Fixed, Escape::None).unwrap(),
            "ali\u{1b}[2Jce"
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
            (
                "<a>\n  ${USERNAME</a>",
                (2, 3),
                "`${` is never closed by `}`",
            ),
            ("<a>${USERNAME", (1, 4), "`${` is never closed by `}`"),
            ("<a>${x == '}'", (1, 4), "`${` is never closed by `}`"),
            ("x ${}", (1, 3), "empty expression `${}`"),
            ("x ${ \n }", (1, 3), "empty expression `${}`"),
            ("x ${raw: }", (1, 3), "empty expression `${raw:}`"),
            (
                "<r>\n  ${account.name - 1}</r>",
                (2, 18),
                "`-` is not supported: the only arithmetic is `+`",
            ),
            (
                "<r>\n${account.name ==\n   'x' * 2}</r>",
                (3, 8),
                "`*` is not supported: the only arithmetic is `+`",
            ),
            (
                "<r>${account.name.toUpper()}</r>",
                (1, 19),
                "unknown method `toUpper`: the supported String methods are equals, \
                 equalsIgnoreCase, toUpperCase, toLowerCase, substring, trim, contains, \
                 startsWith, endsWith, replace, length",
            ),
            (
                "<a>${account.name == 'x}</a>",
                (1, 22),
                "string literal is never closed",
            ),
            (
                "<a>${account.name == 'x}\n</a>${y}",
                (1, 22),
                "string literal is never closed on its line (write `\\n` for a line break)",
            ),
            (
                "<a>${raw:  a < b}</a>",
                (1, 14),
                "`<` is not supported: the only comparisons are `==` and `!=`",
            ),
            (
                "é ü ${a * b}",
                (1, 9),
                "`*` is not supported: the only arithmetic is `+`",
            ),
            (
                "${ def x }",
                (1, 4),
                "`def` is not supported: `${...}` holds one expression of property paths, \
                 literals, `+`, `==`, `!=`, `&&`, `||`, `!`, `? :`, `?:` and String methods",
            ),
            (
                "${a.substring(b)}",
                (1, 15),
                "the arguments of `substring` are integers, but `b` is a String",
            ),
            (
                "${a}${b c}",
                (1, 9),
                "unexpected `c`: expected an operator (`+`, `==`, `!=`, `&&`, `||`, `? :`, `?:`), \
                 `.method(...)` or the end of the expression",
            ),
        ];
        for (source, (line, column), message) in cases {
            let error = Template::parse(source).expect_err(source);
            assert_eq!(
                (error.line, error.column),
                (*line, *column),
                "{source}: {error}"
            );
            assert_eq!(error.message, *message, "{source}");
        }
    }

    #[test]
    fn closing_brace_inside_a_string_literal_does_not_close() {
        let template =
            Template::parse(r#"<a>${account.missing ?: '}'}</a><b>${"{" + "}}" + 'x'}</b>"#)
                .unwrap();
        assert_eq!(
            template.render(&Fixed, Escape::Xml).unwrap(),
            "<a>}</a><b>{}}x</b>"
        );
        assert_eq!(
            template.with_placeholders_filled(),
            format!("<a>{}</a><b>{}</b>", "x".repeat(25), "x".repeat(19))
        );
    }

    #[test]
    fn evaluates_expressions() {
        let cases: &[(&str, &str)] = &[
            (
                "${USERNAME + '-' + account.first.toUpperCase()}",
                "svc-JANE",
            ),
            (
                "${account.first.substring(0, 1).toUpperCase() + account.first.substring(1)}",
                "Jane",
            ),
            ("${account.missing?.trim() ?: 'none'}", "none"),
            (
                "${account.missing}|${account?.missing}|${'a' + account.missing}",
                "||a",
            ),
            ("${account.first == 'jane' ? 'yes' : 'no'}", "yes"),
            ("${account.first.length() + 1}", "5"),
            (
                "${account.first.contains('an') && !account.missing}",
                "true",
            ),
            ("${null}${false}${0}", "false0"),
        ];
        for (source, expected) in cases {
            let template = Template::parse(source).expect(source);
            assert_eq!(
                template.render(&Fixed, Escape::Xml).as_deref(),
                Ok(*expected),
                "{source}"
            );
        }
    }

    #[test]
    fn escapes_every_value_unless_raw() {
        let source = "<a v=\"${account.special}\" w='${'<' + account.special + '>'}'>\
                      ${raw: '<b>' + account.first + '</b>'}${raw:account.special}</a>";
        let template = Template::parse(source).unwrap();
        assert_eq!(
            template.render(&Fixed, Escape::Xml).unwrap(),
            "<a v=\"a&amp;b&lt;c&gt;d&quot;e&apos;f\" \
             w='&lt;a&amp;b&lt;c&gt;d&quot;e&apos;f&gt;'><b>jane</b>a&b<c>d\"e'f</a>"
        );
        // Headers are never escaped.
        let header = Template::parse("${account.special} ${raw: account.special}").unwrap();
        assert_eq!(
            header.render(&Fixed, Escape::None).unwrap(),
            r#"a&b<c>d"e'f a&b<c>d"e'f"#
        );
        // `raw` is only a prefix when a `:` follows it.
        let named = Template::parse("${raw}|${ raw ?: 'r' }|${rawx}").unwrap();
        let paths: Vec<String> = named
            .expressions()
            .flat_map(|(expr, _)| expr.paths())
            .map(|path| path.join("."))
            .collect();
        assert_eq!(paths, ["raw", "raw", "rawx"]);
    }

    #[test]
    fn evaluation_errors_point_at_the_placeholder() {
        let template = Template::parse("<a>\n  <b>${account.missing.trim()}</b></a>").unwrap();
        let error = template.render(&Fixed, Escape::Xml).unwrap_err();
        assert_eq!((error.line, error.column), (2, 6));
        assert_eq!(
            error.message,
            "`account.missing` is null: use `?.` to get null instead of this error, as in \
             `?.trim()`"
        );
        let template = Template::parse("${account.first.substring(2, 9)}").unwrap();
        let error = template.render(&Fixed, Escape::Xml).unwrap_err();
        assert_eq!((error.line, error.column), (1, 1));
        assert_eq!(
            error.message,
            "`account.first.substring(2, 9)`: out of range (begin 2, end 9, length 4): Java \
             throws StringIndexOutOfBoundsException"
        );
    }

    #[test]
    fn rendered_text_is_bounded() {
        let mib = format!("${{'a'{}}}", ".replace('a', 'aa')".repeat(20));
        // 16 values of 1 MiB fit alone, not after the 4 bytes of `<a>\n`: the 16th is refused.
        let template = Template::parse(&format!("<a>\n{}</a>", mib.repeat(16))).unwrap();
        let error = template.render(&Fixed, Escape::None).unwrap_err();
        assert_eq!(
            (error.line, error.column),
            (2, 1 + 15 * mib.chars().count())
        );
        assert_eq!(
            error.message,
            "the rendered text would be longer than 16777216 bytes"
        );
        let template = Template::parse(&mib.repeat(16)).unwrap();
        assert_eq!(
            template.render(&Fixed, Escape::Xml).map(|text| text.len()),
            Ok(MAX_RENDERED)
        );
    }

    #[test]
    fn filled_placeholders_keep_positions_across_lines_and_characters() {
        let template = Template::parse("<a>${x ?:\n'é'}</a>\n<b/>").unwrap();
        assert_eq!(
            template.with_placeholders_filled(),
            "<a>xxxxxx\nxxxx</a>\n<b/>"
        );
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
