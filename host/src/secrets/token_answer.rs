//! Credentials a token URL answers with: the component reads them, so the host never writes
//! them, yet a server may echo them back (in a header of any name, or in a body). The host sees
//! every token answer pass, so it makes what the answer carries known to [`super::mask`] as the
//! component reads it.
//!
//! What counts as a credential in an answer: every value under a name that says so (`token`,
//! `ticket`, `session`, `secret`, `key`, `assertion`, `jwt`, `cookie`, `password`, `auth`,
//! `code`, `credential`; not `token_type` nor `expires_in`), and every value long enough and
//! free of whitespace to be one (JWTs and opaque tokens are). JSON, form-encoded and XML answers
//! are read, as the component reads them.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use serde_json::Value;

use super::remember;

/// The most of a token answer the host keeps to read it (the component reads 64 KiB at most).
const MAX_ANSWER: usize = 64 * 1024;

/// A value at least this long and without whitespace is remembered whatever its name.
const MIN_ANONYMOUS_TOKEN: usize = 20;

/// The words of a name under which a value is a credential.
const CREDENTIAL_WORDS: [&str; 12] = [
    "token",
    "ticket",
    "session",
    "secret",
    "key",
    "assertion",
    "jwt",
    "cookie",
    "password",
    "auth",
    "code",
    "credential",
];

/// A token answer's body on its way to the component: passed on unchanged, and read for
/// credentials once it ends.
pub struct TokenAnswer<B> {
    inner: B,
    seen: Vec<u8>,
    /// The name the connection's `tokenResponsePath` ends with: its value is the token.
    token_name: Option<String>,
}

impl<B> TokenAnswer<B> {
    /// Wraps the body of an answer from a token URL whose token is at `token_path` (the
    /// connection's `tokenResponsePath`, if it has one).
    pub fn new(inner: B, token_path: Option<&str>) -> TokenAnswer<B> {
        TokenAnswer {
            inner,
            seen: Vec::new(),
            token_name: token_path.map(last_name),
        }
    }
}

/// The name a response path ends with: `access_token` of `data.access_token`, `token` of
/// `TokenRs.@token`.
fn last_name(path: &str) -> String {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.trim_start_matches('@').to_string()
}

impl<B> Body for TokenAnswer<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(context));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = MAX_ANSWER.saturating_sub(this.seen.len());
                    this.seen
                        .extend_from_slice(&data.chunk()[..data.len().min(room)]);
                }
            }
            None => remember_answer(&std::mem::take(&mut this.seen), this.token_name.as_deref()),
            Some(Err(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for TokenAnswer<B> {
    /// A component may stop reading once it has what it needs: what arrived is read anyway.
    fn drop(&mut self) {
        if !self.seen.is_empty() {
            remember_answer(&std::mem::take(&mut self.seen), self.token_name.as_deref());
        }
    }
}

/// Makes the credentials of a token answer known to the mask; `token_name` is the name the
/// token is under (the end of the connection's `tokenResponsePath`), whatever it is.
pub fn remember_answer(body: &[u8], token_name: Option<&str>) {
    let text = String::from_utf8_lossy(body);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    let mut remember_value = |name: Option<&str>, value: &str| {
        let named = name.is_some_and(|name| {
            is_credential_name(name) || token_name.is_some_and(|token| token == name)
        });
        let long = value.len() >= MIN_ANONYMOUS_TOKEN && !value.contains(char::is_whitespace);
        if named || long {
            remember(value);
        }
    };
    match text.chars().next() {
        Some('{') | Some('[') => {
            if let Ok(json) = serde_json::from_str::<Value>(text) {
                json_values(None, &json, &mut remember_value);
            }
        }
        Some('<') => xml_values(text, &mut remember_value),
        Some(_) => {
            for (name, value) in form_urlencoded::parse(text.as_bytes()) {
                remember_value(Some(&name), &value);
            }
        }
        None => {}
    }
}

/// Every string of a JSON answer, with the name it is under.
fn json_values(name: Option<&str>, value: &Value, found: &mut impl FnMut(Option<&str>, &str)) {
    match value {
        Value::String(text) => found(name, text),
        Value::Array(items) => items.iter().for_each(|item| json_values(name, item, found)),
        Value::Object(fields) => fields
            .iter()
            .for_each(|(name, value)| json_values(Some(name), value, found)),
        _ => {}
    }
}

/// The texts and attribute values of an XML answer, each with its element's or attribute's
/// name (read loosely: this is a net for credentials, not a parser).
fn xml_values(text: &str, found: &mut impl FnMut(Option<&str>, &str)) {
    for piece in text.split('<') {
        let Some((tag, content)) = piece.split_once('>') else {
            continue;
        };
        let element = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .map(|name| name.rsplit(':').next().unwrap_or(name));
        found(element, content.trim());
        let mut rest = tag;
        while let Some(equals) = rest.find('=') {
            let name = rest[..equals].split_whitespace().last();
            let after = rest[equals + 1..].trim_start();
            let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                rest = &rest[equals + 1..];
                continue;
            };
            let Some(end) = after[1..].find(quote) else {
                break;
            };
            found(name, &after[1..1 + end]);
            rest = &after[end + 2..];
        }
    }
}

fn is_credential_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !name.ends_with("type")
        && !name.starts_with("expire")
        && CREDENTIAL_WORDS.iter().any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::mask;

    #[test]
    fn credentials_of_json_form_and_xml_answers_are_masked() {
        remember_answer(
            br#"{"access_token": "tok-JSON-1", "token_type": "Bearer", "expires_in": 3600, "scope": "read"}"#,
            None,
        );
        remember_answer(b"ticket=tick-FORM-2&expires_in=60", None);
        remember_answer(
            b"<Session.loginRs status=\"Success\"><Token>opaque-XML-token-0123456789</Token></Session.loginRs>",
            None,
        );
        remember_answer(br#"{"data": {"k": "Tk-42-zz", "n": "not-it"}}"#, Some("k"));
        remember_answer(
            b"<TokenRs status='Success' tkn='Xq-77-yy' expiresIn='60'/>",
            Some("tkn"),
        );
        assert_eq!(
            mask("tok-JSON-1 tick-FORM-2 opaque-XML-token-0123456789 Bearer read Success"),
            "******** ******** ******** Bearer read Success"
        );
        assert_eq!(
            mask("Tk-42-zz not-it Xq-77-yy 60"),
            "******** not-it ******** 60"
        );
    }

    #[test]
    fn a_body_read_through_passes_unchanged_and_is_remembered_at_its_end() {
        let body =
            http_body_util::Full::new(Bytes::from_static(br#"{"id_token": "id-token-STREAMED"}"#));
        let mut answer = TokenAnswer::new(body, None);
        let waker = std::task::Waker::noop();
        let mut context = Context::from_waker(waker);
        let mut read = Vec::new();
        while let Poll::Ready(Some(frame)) = Pin::new(&mut answer).poll_frame(&mut context) {
            read.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        assert_eq!(read, br#"{"id_token": "id-token-STREAMED"}"#);
        assert_eq!(mask("x id-token-STREAMED"), "x ********");
    }
}
