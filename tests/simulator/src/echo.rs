//! The `echo-request` fault's echo (see
//! [`FaultKind::EchoRequest`](crate::FaultKind::EchoRequest)): the text it
//! echoes, its escapes, and the `plain`, `html` and `json` pages that carry
//! it. The SOAP faults are those of the `soap-fault` and `soap12-fault`
//! faults, and the `failure` and `cdata` shapes are rendered with the normal
//! response (both in [`crate::server`]).

use std::fmt::Write as _;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::xml::ParsedRequest;

/// The operation whose `password` is echoed.
const LOGIN: &str = "Session.loginRq";

/// The request headers left out of the echo (lower-case, as the HTTP stack
/// names them).
const NOT_ECHOED: [&str; 6] = [
    "host",
    "content-length",
    "content-type",
    "user-agent",
    "accept",
    "connection",
];

/// ECHO for every shape but `plain`: `pad` bytes of `E`, then
/// [`echo_text`] of the request, the password being the `password` attribute
/// of its first `Session.loginRq` (unescaped, as parsed); [`normalise`]d when
/// asked.
pub(crate) fn text(
    headers: &HeaderMap,
    body: &[u8],
    request: &ParsedRequest,
    pad: usize,
    normalise: bool,
) -> String {
    let password = request
        .operations
        .iter()
        .find(|op| op.name == LOGIN)
        .and_then(|op| op.attr("password"))
        .unwrap_or_default();
    let headers = headers.iter().map(|(name, value)| {
        (
            name.as_str(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )
    });
    let mut out = String::new();
    pad_into(&mut out, pad);
    out.push_str(&echo_text(
        headers,
        &String::from_utf8_lossy(body),
        password,
    ));
    finish(out, normalise)
}

/// The text an `echo-request` fault of every shape but `plain` echoes for a
/// request with these headers (name lower-case, value), body and login
/// password, before its pad and escaping: `could not process: `, the headers
/// (but [`NOT_ECHOED`]) as `name: value` joined by `; `, ` body: ` and the
/// body, ` password: ` and the password. Public so that a test can tell where
/// a part of it will be from a [`SeenRequest`](crate::SeenRequest).
pub fn echo_text<'a>(
    headers: impl IntoIterator<Item = (&'a str, String)>,
    body: &str,
    password: &str,
) -> String {
    let echoed: Vec<String> = headers
        .into_iter()
        .filter(|(name, _)| !NOT_ECHOED.contains(name))
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    format!(
        "could not process: {} body: {body} password: {password}",
        echoed.join("; ")
    )
}

/// The `plain` shape's answer, the fault's original one: HTTP 500,
/// text/plain, `pad` bytes of `E`, then
/// `could not process: Authorization: {value}\n{body}` ([`normalise`]d when
/// asked).
pub(crate) fn plain(headers: &HeaderMap, body: &[u8], pad: usize, normalise: bool) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|value| String::from_utf8_lossy(value.as_bytes()))
        .unwrap_or_default();
    let body = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(pad + authorization.len() + body.len() + 64);
    pad_into(&mut out, pad);
    out.push_str("could not process: Authorization: ");
    out.push_str(&authorization);
    out.push('\n');
    out.push_str(&body);
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/plain; charset=utf-8",
        finish(out, normalise),
    )
}

/// The `html` shape's answer: HTTP 500, text/html,
/// `<html><body><h1>Error</h1><p>ECHO</p></body></html>` ([`html_escape`]).
pub(crate) fn html(echo: &str) -> Response {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/html; charset=utf-8",
        format!(
            "<html><body><h1>Error</h1><p>{}</p></body></html>",
            html_escape(echo)
        ),
    )
}

/// The `json` shape's answer: HTTP 500, application/json,
/// `{"error":"ECHO"}` ([`json_escape`]).
pub(crate) fn json(echo: &str) -> Response {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "application/json",
        format!(r#"{{"error":"{}"}}"#, json_escape(echo)),
    )
}

fn page(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Appends the filler: `pad` bytes of `E`.
fn pad_into(out: &mut String, pad: usize) {
    out.extend(std::iter::repeat_n('E', pad));
}

/// `text`, [`normalise`]d when asked.
fn finish(text: String, normalise_it: bool) -> String {
    if normalise_it { normalise(&text) } else { text }
}

/// `s` with `\r\n` and `\r` turned into `\n`, and each run of spaces and
/// tabs into one space.
pub(crate) fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            ' ' | '\t' => {
                while chars.next_if(|c| matches!(c, ' ' | '\t')).is_some() {}
                out.push(' ');
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` escaped as some HTML frameworks do: every character but ASCII
/// letters, digits and space as a character reference, decimal for odd code
/// points (`&#39;`), lower-case hex for even ones (`&#x26;`).
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        let code = u32::from(c);
        if c.is_ascii_alphanumeric() || c == ' ' {
            out.push(c);
        } else if code % 2 == 1 {
            let _ = write!(out, "&#{code};");
        } else {
            let _ = write!(out, "&#x{code:x};");
        }
    }
    out
}

/// `s` as the inside of a JSON string, in ASCII: `\"`, `\\`, `\/`, `\n`,
/// `\r`, `\t`, and other control characters and every non-ASCII one as
/// `\uxxxx` (lower-case hex; a surrogate pair above U+FFFF).
pub(crate) fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_breaks_and_blanks() {
        assert_eq!(normalise("a\r\nb\rc\nd"), "a\nb\nc\nd");
        assert_eq!(normalise("a  \t b\t\tc d"), "a b c d");
        assert_eq!(normalise("\r\r\n\n"), "\n\n\n");
        assert_eq!(normalise(" \r\n \t"), " \n ");
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn escapes_html_with_decimal_and_hex_references() {
        assert_eq!(
            html_escape("aZ 9&<>\"'ä𝄞\r\n\t"),
            "aZ 9&#x26;&#x3c;&#x3e;&#x22;&#39;&#xe4;&#x1d11e;&#13;&#xa;&#9;"
        );
    }

    #[test]
    fn escapes_json_to_ascii() {
        let s = "a\"\\/\n\r\t\u{1}\u{7f}äé€𝄞 b";
        let escaped = json_escape(s);
        assert_eq!(
            escaped,
            r#"a\"\\\/\n\r\t\u0001\u007f\u00e4\u00e9\u20ac\ud834\udd1e b"#
        );
        let back: String = serde_json::from_str(&format!("\"{escaped}\"")).unwrap();
        assert_eq!(back, s);
    }
}
