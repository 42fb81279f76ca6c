//! Small text helpers shared by the parsers: positioned errors, XML escaping and bounded
//! excerpts.

use std::fmt;

/// A mistake in a text (a template, a document), with its 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl TextError {
    /// A mistake at byte `offset` of `text`.
    pub fn at(text: &str, offset: usize, message: String) -> TextError {
        let (line, column) = line_column(text, offset);
        TextError {
            line,
            column,
            message,
        }
    }
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// The 1-based line and column of a byte offset in `text`, for error messages.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Escapes the five XML special characters, and CR, LF and TAB as character references, so the
/// value is data wherever it lands and reads back exactly: element text or an attribute in
/// either quote style. (A parser turns a CR, LF or TAB written as is in an attribute into a
/// space, and CR LF in text into LF; written as references they stay what they are.)
pub fn escape_xml(value: &str, out: &mut String) {
    let mut rest = value;
    while let Some(at) = rest.find(['&', '<', '>', '"', '\'', '\r', '\n', '\t']) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            b'\r' => "&#13;",
            b'\n' => "&#10;",
            _ => "&#9;",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// The first character of `value` that no XML 1.0 document can carry, raw or as a reference
/// (the C0 controls other than TAB, LF and CR; U+FFFE; U+FFFF): a value holding one cannot be
/// sent as data in XML, and changing it would address something else.
pub fn forbidden_in_xml(value: &str) -> Option<char> {
    value.chars().find(|c| {
        matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
    })
}

/// The message for a bound value holding `c` (see [`forbidden_in_xml`]).
pub fn forbidden_value_message(c: char) -> String {
    format!(
        "the value holds the character U+{:04X}, which XML 1.0 cannot carry: it is not sent (changed, it would name something else)",
        u32::from(c)
    )
}

/// Where in an XML document a bound value lands, which decides how it is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XmlContext {
    /// Element text or an attribute value: entity-escaped ([`escape_xml`]).
    #[default]
    Markup,
    /// Inside `<![CDATA[ ... ]]>`, where references are not decoded: written as is, except that
    /// a `]]>` in the value closes the section and opens another, and a CR (which a parser
    /// would read as LF, or drop before an LF) closes the section for a `&#13;` between two
    /// sections; so the text read is the value. LF and TAB are read back as they are there.
    CData,
    /// Inside `<!-- ... -->`, where `--` is forbidden: each `--` is split by a space. A comment
    /// is not data (no reader gets it back) and cannot hold references: line breaks are
    /// written as they are, and a parser reads a CR there as LF.
    Comment,
}

impl XmlContext {
    /// The context after the markup `text` (a template's literal text), from `self`.
    pub fn after(self, text: &str) -> XmlContext {
        let mut context = self;
        let mut rest = text;
        while let Some((at, marker, next)) = context.next_change(rest) {
            rest = &rest[at + marker.len()..];
            context = next;
        }
        context
    }

    /// The first marker in `text` that leaves this context: where, which, and the context after.
    fn next_change(self, text: &str) -> Option<(usize, &'static str, XmlContext)> {
        let find =
            |marker: &'static str, next: XmlContext| text.find(marker).map(|at| (at, marker, next));
        match self {
            XmlContext::Markup => {
                let cdata = find("<![CDATA[", XmlContext::CData);
                let comment = find("<!--", XmlContext::Comment);
                match (cdata, comment) {
                    (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
                    (found, None) | (None, found) => found,
                }
            }
            XmlContext::CData => find("]]>", XmlContext::Markup),
            XmlContext::Comment => find("-->", XmlContext::Markup),
        }
    }

    /// Appends `value` to `out` escaped for this context.
    pub fn escape(self, value: &str, out: &mut String) {
        match self {
            XmlContext::Markup => escape_xml(value, out),
            XmlContext::CData => out.push_str(
                &value
                    .replace("]]>", "]]]]><![CDATA[>")
                    .replace('\r', "]]>&#13;<![CDATA["),
            ),
            XmlContext::Comment => {
                let mut text = value.to_string();
                while text.contains("--") {
                    text = text.replace("--", "- -");
                }
                if text.ends_with('-') {
                    text.push(' ');
                }
                out.push_str(&text);
            }
        }
    }
}

/// At most `limit` bytes of `bytes` as lossy UTF-8, cut at a character boundary, with `…` when
/// cut.
pub fn excerpt(bytes: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(limit)]).into_owned();
    let mut text = text.trim().to_string();
    if bytes.len() > limit {
        text.push('…');
    }
    text
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 7), (2, 4));
        assert_eq!(line_column(text, 6), (2, 3), "inside é: floor to its start");
        assert_eq!(line_column(text, 100), (3, 2));
    }

    #[test]
    fn escapes_every_special_character() {
        let mut out = String::new();
        escape_xml("a&b<c>d\"e'f ü\r\n\tg\u{b}", &mut out);
        assert_eq!(out, "a&amp;b&lt;c&gt;d&quot;e&apos;f ü&#13;&#10;&#9;g\u{b}");
    }

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(excerpt(b" short ", 10), "short");
        assert_eq!(excerpt("aé".as_bytes(), 2), "a\u{fffd}…");
        assert_eq!(excerpt(b"abcdef", 3), "abc…");
    }
}
