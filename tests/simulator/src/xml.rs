//! XML plumbing: escaping for the responses, and the streaming parser for
//! request documents (`<server><requests>…</requests></server>`, bare or
//! inside a SOAP 1.1 envelope).
//!
//! Parsing rules:
//! - the body must be UTF-8 and well-formed (end tags match, a single root,
//!   no text outside it, only predefined or character entity references);
//!   a `DOCTYPE` is rejected;
//! - names are matched by local name, so any namespace prefix works;
//! - SOAP mode: root `Envelope`, then the first `server` element at any depth
//!   under `Body` (so a wrapper element is tolerated); XML mode: root `server`;
//! - every child element of `server/requests` is one operation, named by its
//!   local name, with its attributes (`xmlns` declarations excluded) unescaped
//!   and normalised as XML requires, in document order.

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};

/// How a request was framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A SOAP 1.1 envelope around `<server><requests>`.
    Soap,
    /// A bare `<server><requests>` document.
    Xml,
}

/// One parsed operation (attribute values unescaped, not redacted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Operation {
    /// Local element name, e.g. `Session.loginRq`.
    pub name: String,
    /// Attributes in document order.
    pub attributes: Vec<(String, String)>,
}

impl Operation {
    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A well-formed request document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParsedRequest {
    /// SOAP or bare XML.
    pub mode: Mode,
    /// The operations, in order.
    pub operations: Vec<Operation>,
}

/// Why a request body was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Malformed {
    /// The framing, as far as it could be told (`Xml` when unknown).
    pub mode: Mode,
    /// A human-readable reason.
    pub message: String,
}

/// Appends `s` to `out`, escaped for use in XML text or a double- or
/// single-quoted attribute value. Tab, newline and carriage return become
/// character references (so attribute values survive normalisation);
/// characters XML 1.0 cannot represent become U+FFFD.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (rep, len): (&[u8], usize) = match b {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'"' => (b"&quot;", 1),
            b'\'' => (b"&apos;", 1),
            b'\t' => (b"&#9;", 1),
            b'\n' => (b"&#10;", 1),
            b'\r' => (b"&#13;", 1),
            0..=0x1F => ("\u{FFFD}".as_bytes(), 1),
            // U+FFFE and U+FFFF (EF BF BE / EF BF BF) are not XML characters.
            0xEF if bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
            {
                ("\u{FFFD}".as_bytes(), 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(rep);
        i += len;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` as a CDATA section, `<![CDATA[s]]>`, as some servers write
/// text: each `]]>` of `s` is split across two sections (`]]]]><![CDATA[>`),
/// and characters XML 1.0 cannot represent become U+FFFD (as in
/// [`escape_into`]); nothing else is escaped.
pub(crate) fn cdata_into(out: &mut Vec<u8>, s: &str) {
    let representable = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
    };
    let clean: String = s
        .chars()
        .map(|c| if representable(c) { c } else { '\u{FFFD}' })
        .collect();
    out.extend_from_slice(b"<![CDATA[");
    out.extend_from_slice(clean.replace("]]>", "]]]]><![CDATA[>").as_bytes());
    out.extend_from_slice(b"]]>");
}

/// `s` escaped for XML, as a new string.
#[cfg(test)]
pub(crate) fn escape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 8);
    escape_into(&mut out, s);
    String::from_utf8(out).unwrap_or_default()
}

/// Whether `name` is acceptable as an element name that we echo back
/// (a conservative subset of XML `Name`, without `:`).
pub(crate) fn is_simple_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    NotSeen,
    Open(usize),
    Closed,
}

impl Slot {
    /// Notes that the element at `depth` ended.
    fn end(&mut self, depth: usize) {
        if *self == Slot::Open(depth) {
            *self = Slot::Closed;
        }
    }
}

fn malformed(mode: Mode, message: impl Into<String>) -> Malformed {
    Malformed {
        mode,
        message: message.into(),
    }
}

fn operation_from(e: &BytesStart<'_>, mode: Mode) -> Result<Operation, Malformed> {
    let name = e.local_name().into_inner().to_owned();
    if !is_simple_name(&name) {
        return Err(malformed(mode, format!("invalid operation name {name:?}")));
    }
    let mut attributes = Vec::new();
    for attr in e.attributes() {
        let attr =
            attr.map_err(|err| malformed(mode, format!("bad attribute in <{name}>: {err}")))?;
        let key = attr.key.into_inner();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| malformed(mode, format!("bad attribute {key:?} in <{name}>: {err}")))?;
        attributes.push((key.to_owned(), value.into_owned()));
    }
    Ok(Operation { name, attributes })
}

/// Parses a request body.
pub(crate) fn parse_request(body: &[u8]) -> Result<ParsedRequest, Malformed> {
    let mut mode = Mode::Xml;
    let text = std::str::from_utf8(body)
        .map_err(|e| malformed(mode, format!("body is not UTF-8: {e}")))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_comments = true;

    let mut stack: Vec<String> = Vec::new();
    let mut root_done = false;
    let mut server = Slot::NotSeen;
    let mut requests = Slot::NotSeen;
    let mut operations = Vec::new();

    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(mode, format!("{e} (at byte {})", reader.error_position())))?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let local = e.local_name().into_inner().to_owned();
            if root_done {
                return Err(malformed(mode, "more than one root element"));
            }
            let depth = stack.len();
            if depth == 0 {
                match local.as_str() {
                    "Envelope" => mode = Mode::Soap,
                    "server" => {
                        mode = Mode::Xml;
                        server = Slot::Open(0);
                    }
                    other => {
                        return Err(malformed(
                            mode,
                            format!("unexpected root element <{other}>"),
                        ));
                    }
                }
            } else if server == Slot::NotSeen
                && mode == Mode::Soap
                && local == "server"
                && stack.get(1).is_some_and(|s| s == "Body")
            {
                server = Slot::Open(depth);
            } else if server == Slot::Open(depth - 1) && local == "requests" {
                requests = Slot::Open(depth);
            } else if requests == Slot::Open(depth - 1) {
                operations.push(operation_from(e, mode)?);
            }
            // Check attribute syntax of every element, not only operations.
            for attr in e.attributes() {
                attr.map_err(|err| malformed(mode, format!("bad attribute in <{local}>: {err}")))?;
            }
            if empty {
                root_done |= depth == 0;
                server.end(depth);
                requests.end(depth);
            } else {
                stack.push(local);
            }
            continue;
        }
        match event {
            Event::End(_) => {
                stack.pop();
                let depth = stack.len();
                root_done |= depth == 0;
                server.end(depth);
                requests.end(depth);
            }
            Event::DocType(_) => {
                return Err(malformed(mode, "DOCTYPE is not allowed"));
            }
            Event::Text(t) if stack.is_empty() && !t.xml10_content().trim().is_empty() => {
                return Err(malformed(mode, "text outside the root element"));
            }
            Event::GeneralRef(r) => {
                if stack.is_empty() {
                    return Err(malformed(mode, "text outside the root element"));
                }
                let name = r.xml10_content();
                let known = matches!(&*name, "amp" | "lt" | "gt" | "quot" | "apos")
                    || matches!(r.resolve_char_ref(), Ok(Some(_)));
                if !known {
                    return Err(malformed(mode, format!("unknown entity &{name};")));
                }
            }
            Event::CData(_) if stack.is_empty() => {
                return Err(malformed(mode, "CDATA outside the root element"));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(malformed(
            mode,
            format!("unexpected end of document inside <{}>", stack.join("/")),
        ));
    }
    if !root_done {
        return Err(malformed(mode, "empty document"));
    }
    if server == Slot::NotSeen {
        return Err(malformed(mode, "no <server> element"));
    }
    if requests == Slot::NotSeen {
        return Err(malformed(mode, "no <server><requests> element"));
    }
    Ok(ParsedRequest { mode, operations })
}

/// Calls `check` with every prefix of `body` and with `body` damaged at each byte by each of a
/// few bytes that matter to XML: what a parser must survive without panicking.
#[cfg(test)]
pub(crate) fn for_each_damaged(body: &[u8], mut check: impl FnMut(&[u8])) {
    for end in 0..body.len() {
        check(&body[..end]);
    }
    for i in 0..body.len() {
        for b in [b'<', b'>', b'&', b'"', b'/', 0xFF, b' '] {
            let mut damaged = body.to_vec();
            damaged[i] = b;
            check(&damaged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            escape("a&b<c>d\"e'f\tg\nh\u{1}i"),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f&#9;g&#10;h\u{FFFD}i"
        );
        assert_eq!(escape("Zürich 王伟 🦜"), "Zürich 王伟 🦜");
        assert_eq!(escape("x\u{FFFE}"), "x\u{FFFD}");
    }

    #[test]
    fn cdata_sections() {
        let cdata = |s: &str| {
            let mut out = Vec::new();
            cdata_into(&mut out, s);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(cdata("a&<>\"'ä\r\n\t"), "<![CDATA[a&<>\"'ä\r\n\t]]>");
        assert_eq!(
            cdata("x]]>y]]>"),
            "<![CDATA[x]]]]><![CDATA[>y]]]]><![CDATA[>]]>"
        );
        assert_eq!(cdata("]]]>"), "<![CDATA[]]]]]><![CDATA[>]]>");
        assert_eq!(cdata("a\u{1}b\u{FFFF}"), "<![CDATA[a\u{FFFD}b\u{FFFD}]]>");
        assert_eq!(cdata(""), "<![CDATA[]]>");
    }

    #[test]
    fn soap_request() {
        let body = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body>
  <server><requests>
    <Session.loginRq userName="o&apos;brien&amp;co" password="p&lt;w"></Session.loginRq>
    <OnlineData.listEntityUsersRq entityID="1"/>
    <!-- a comment -->
    <Session.closeRq></Session.closeRq>
  </requests></server>
</s:Body></s:Envelope>"#;
        let p = parse_request(body.as_bytes()).unwrap();
        assert_eq!(p.mode, Mode::Soap);
        let names: Vec<_> = p.operations.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Session.loginRq",
                "OnlineData.listEntityUsersRq",
                "Session.closeRq"
            ]
        );
        assert_eq!(p.operations[0].attr("userName"), Some("o'brien&co"));
        assert_eq!(p.operations[0].attr("password"), Some("p<w"));
        assert_eq!(p.operations[1].attr("entityID"), Some("1"));
    }

    #[test]
    fn wrapped_soap_and_bare_xml() {
        let body = r#"<Envelope><Body><processRequests xmlns="x"><server><requests><A.b c="1"/></requests></server></processRequests></Body></Envelope>"#;
        let p = parse_request(body.as_bytes()).unwrap();
        assert_eq!(p.operations.len(), 1);
        let p = parse_request(b"<server><requests><A.bRq/></requests></server>").unwrap();
        assert_eq!(p.mode, Mode::Xml);
        assert_eq!(p.operations[0].name, "A.bRq");
        let p = parse_request(b"<server><requests/></server>").unwrap();
        assert!(p.operations.is_empty());
    }

    #[test]
    fn rejects_malformed() {
        let cases: &[&[u8]] = &[
            b"",
            b"not xml",
            b"<server><requests></server>",
            b"<server><requests><A.b></requests></server>",
            b"<server><requests></requests></server><x/>",
            b"<server><requests></requests>",
            b"<!DOCTYPE server [<!ENTITY x \"y\">]><server><requests/></server>",
            b"<server><requests><A.b x=\"&foo;\"/></requests></server>",
            b"<server><requests><A.b x=\"1\" x=\"2\"/></requests></server>",
            b"<server><nothing/></server>",
            b"<Envelope><Body><other/></Body></Envelope>",
            b"<html><body/></html>",
            b"<server><requests>&bogus;</requests></server>",
            b"\xff\xfe<server/>",
        ];
        for case in cases {
            assert!(
                parse_request(case).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(case)
            );
        }
        let err = parse_request(b"<soap:Envelope xmlns:soap=\"u\"><soap:Body>").unwrap_err();
        assert_eq!(err.mode, Mode::Soap);
    }

    #[test]
    fn never_panics_on_damaged_input() {
        let body = r#"<?xml version="1.0"?><s:Envelope xmlns:s="u"><s:Body><server><requests><Session.loginRq userName="a&amp;b" password="x&#10;y"/><A.bRq>t&lt;<![CDATA[x]]></A.bRq></requests></server></s:Body></s:Envelope>"#;
        assert!(parse_request(body.as_bytes()).is_ok());
        for_each_damaged(body.as_bytes(), |damaged| {
            let _ = parse_request(damaged);
        });
    }

    #[test]
    fn names() {
        assert!(is_simple_name("Session.loginRq"));
        assert!(is_simple_name("Agency"));
        assert!(!is_simple_name("1abc"));
        assert!(!is_simple_name("a\"b"));
        assert!(!is_simple_name(""));
    }
}
