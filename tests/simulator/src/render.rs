//! Response rendering: XML fragments for each operation, the SOAP/XML
//! envelopes, SOAP faults, and a body made of a list of [`Bytes`] chunks
//! (so a cached user list is sent as is, never copied), which can stall
//! after its last chunk.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Bytes, HttpBody};
use http_body::{Frame, SizeHint};

use crate::dataset::{Entity, Privilege, Role, User};
use crate::fault::Stalls;
use crate::xml::{Mode, escape_into, is_simple_name};

/// The SOAP 1.1 envelope namespace.
pub(crate) const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// Collects a response as a list of chunks.
#[derive(Default)]
pub(crate) struct Segments {
    parts: Vec<Bytes>,
    cur: Vec<u8>,
}

impl Segments {
    /// The buffer for small, freshly rendered parts.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.cur
    }

    /// Appends raw markup.
    pub fn raw(&mut self, s: &str) {
        self.cur.extend_from_slice(s.as_bytes());
    }

    /// Appends a shared chunk without copying it.
    pub fn shared(&mut self, chunk: Bytes) {
        self.flush();
        if !chunk.is_empty() {
            self.parts.push(chunk);
        }
    }

    fn flush(&mut self) {
        if !self.cur.is_empty() {
            self.parts.push(Bytes::from(std::mem::take(&mut self.cur)));
        }
    }

    /// The chunks, in order.
    pub fn finish(mut self) -> Vec<Bytes> {
        self.flush();
        self.parts
    }
}

/// Appends ` name="value"` (value escaped).
pub(crate) fn attr(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    escape_into(out, value);
    out.push(b'"');
}

/// The response element name for request operation `op`.
pub(crate) fn rs_name(op: &str) -> String {
    match op.strip_suffix("Rq") {
        Some(base) => format!("{base}Rs"),
        None => format!("{op}Rs"),
    }
}

/// The document start up to `<responses>`.
pub(crate) fn prefix(mode: Mode) -> &'static str {
    match mode {
        Mode::Soap => concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#,
            r#"<processRequestsAsDOMResponse xmlns="http://www.duckcreek.com/"><result><server><responses>"#
        ),
        Mode::Xml => r#"<?xml version="1.0" encoding="utf-8"?><server><responses>"#,
    }
}

/// The document end after `</responses>`.
pub(crate) fn suffix(mode: Mode) -> &'static str {
    match mode {
        Mode::Soap => {
            "</responses></server></result></processRequestsAsDOMResponse></soap:Body></soap:Envelope>"
        }
        Mode::Xml => "</responses></server>",
    }
}

/// `<Name status="Success"/>`.
pub(crate) fn success_empty(out: &mut Vec<u8>, rs: &str) {
    out.push(b'<');
    out.extend_from_slice(rs.as_bytes());
    out.extend_from_slice(b" status=\"Success\"/>");
}

/// `<Name status="Success">` (caller closes it with [`close`]).
pub(crate) fn success_open(out: &mut Vec<u8>, rs: &str) {
    out.push(b'<');
    out.extend_from_slice(rs.as_bytes());
    out.extend_from_slice(b" status=\"Success\">");
}

/// `</Name>`.
pub(crate) fn close(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// An ACORD-style failure response element.
pub(crate) fn failure(out: &mut Vec<u8>, rs: &str, code: &str, desc: &str) {
    out.push(b'<');
    out.extend_from_slice(rs.as_bytes());
    out.extend_from_slice(b" status=\"Failure\"><ExtendedStatus><ExtendedStatusCd>");
    escape_into(out, code);
    out.extend_from_slice(b"</ExtendedStatusCd><ExtendedStatusDesc>");
    escape_into(out, desc);
    out.extend_from_slice(b"</ExtendedStatusDesc></ExtendedStatus>");
    close(out, rs);
}

/// Appends one `<User>` element.
pub(crate) fn user(out: &mut Vec<u8>, u: &User) {
    out.extend_from_slice(b"<User id=\"");
    out.extend_from_slice(u.id.to_string().as_bytes());
    out.push(b'"');
    attr(out, "name", &u.name);
    attr(out, "email", &u.email);
    attr(out, "status", &u.status);
    attr(out, "fullName", &u.full_name);
    out.push(b'>');
    list_element(
        out,
        "UserEntityMemberships",
        "UserEntityMembership",
        "entityName",
        &u.entities,
    );
    list_element(out, "Roles", "Role", "name", &u.roles);
    out.extend_from_slice(b"</User>");
}

/// Appends `<wrapper>` with one `<item attr_name="value"/>` per value
/// (`<wrapper/>` when there are none).
fn list_element(out: &mut Vec<u8>, wrapper: &str, item: &str, attr_name: &str, values: &[String]) {
    out.push(b'<');
    out.extend_from_slice(wrapper.as_bytes());
    if values.is_empty() {
        out.extend_from_slice(b"/>");
        return;
    }
    out.push(b'>');
    for value in values {
        out.push(b'<');
        out.extend_from_slice(item.as_bytes());
        attr(out, attr_name, value);
        out.extend_from_slice(b"/>");
    }
    close(out, wrapper);
}

/// A rough size estimate of one rendered user, for pre-allocation.
fn estimate(u: &User) -> usize {
    150 + u.name.len()
        + u.email.len()
        + u.full_name.len()
        + u.entities.iter().map(|e| 40 + e.len()).sum::<usize>()
        + u.roles.iter().map(|r| 20 + r.len()).sum::<usize>()
}

/// Renders the `<Users>…</Users>` element (`<Users/>` when empty).
pub(crate) fn users<'a>(list: impl Iterator<Item = &'a User> + Clone) -> Bytes {
    let capacity = 16 + list.clone().map(estimate).sum::<usize>();
    let mut out = Vec::with_capacity(capacity);
    let mut any = false;
    out.extend_from_slice(b"<Users>");
    for u in list {
        any = true;
        user(&mut out, u);
    }
    if any {
        out.extend_from_slice(b"</Users>");
    } else {
        out.clear();
        out.extend_from_slice(b"<Users/>");
    }
    Bytes::from(out)
}

/// Appends `<Entities>…</Entities>`.
pub(crate) fn entities(out: &mut Vec<u8>, list: &[Entity]) {
    out.extend_from_slice(b"<Entities>");
    for e in list {
        let kind = if is_simple_name(&e.kind) {
            e.kind.as_str()
        } else {
            "Entity"
        };
        out.push(b'<');
        out.extend_from_slice(kind.as_bytes());
        attr(out, "id", &e.id.to_string());
        attr(out, "name", &e.name);
        out.extend_from_slice(b"/>");
    }
    out.extend_from_slice(b"</Entities>");
}

/// Appends `<Roles>…</Roles>`, with each role's privileges when asked.
pub(crate) fn roles(out: &mut Vec<u8>, list: &[Role], with_privileges: bool) {
    out.extend_from_slice(b"<Roles>");
    for r in list {
        out.extend_from_slice(b"<Role");
        attr(out, "id", &r.id.to_string());
        attr(out, "name", &r.name);
        attr(out, "description", &r.description);
        if with_privileges {
            out.extend_from_slice(b"><Privileges>");
            for p in &r.privileges {
                out.extend_from_slice(b"<Privilege");
                attr(out, "name", p);
                out.extend_from_slice(b"/>");
            }
            out.extend_from_slice(b"</Privileges></Role>");
        } else {
            out.extend_from_slice(b"/>");
        }
    }
    out.extend_from_slice(b"</Roles>");
}

/// Appends `<Privileges>…</Privileges>`.
pub(crate) fn privileges(out: &mut Vec<u8>, list: &[Privilege]) {
    out.extend_from_slice(b"<Privileges>");
    for p in list {
        out.extend_from_slice(b"<Privilege");
        attr(out, "id", &p.id.to_string());
        attr(out, "name", &p.name);
        attr(out, "description", &p.description);
        attr(out, "type", &p.kind);
        out.extend_from_slice(b"/>");
    }
    out.extend_from_slice(b"</Privileges>");
}

/// A complete SOAP 1.1 fault document.
pub(crate) fn soap_fault(code: &str, reason: &str, detail: Option<&str>) -> String {
    let code = if code.contains(':') {
        code.to_owned()
    } else {
        format!("soap:{code}")
    };
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(r#"<?xml version="1.0" encoding="utf-8"?>"#.as_bytes());
    out.extend_from_slice(b"<soap:Envelope xmlns:soap=\"");
    out.extend_from_slice(SOAP_NS.as_bytes());
    out.extend_from_slice(b"\"><soap:Body><soap:Fault><faultcode>");
    escape_into(&mut out, &code);
    out.extend_from_slice(b"</faultcode><faultstring>");
    escape_into(&mut out, reason);
    out.extend_from_slice(b"</faultstring>");
    if let Some(detail) = detail {
        out.extend_from_slice(b"<detail><message>");
        escape_into(&mut out, detail);
        out.extend_from_slice(b"</message></detail>");
    }
    out.extend_from_slice(b"</soap:Fault></soap:Body></soap:Envelope>");
    String::from_utf8_lossy(&out).into_owned()
}

/// A response body that yields a list of chunks; with `exact` its length is
/// announced (Content-Length), otherwise it is sent chunked. With a `stall`,
/// it holds after the last chunk until the stall is released.
pub(crate) struct ChunkBody {
    parts: VecDeque<Bytes>,
    remaining: u64,
    exact: bool,
    stall: Option<Stall>,
}

/// Where a stalling body is in its stall.
enum Stall {
    /// Still sending its chunks.
    Ahead(Arc<Stalls>),
    /// All chunks handed over: waiting for the release.
    Held(Pin<Box<dyn Future<Output = ()> + Send>>),
}

impl ChunkBody {
    /// A body of `parts`, sent with a Content-Length.
    pub fn new(parts: Vec<Bytes>) -> Self {
        let remaining = parts.iter().map(|p| p.len() as u64).sum();
        ChunkBody {
            parts: parts.into(),
            remaining,
            exact: true,
            stall: None,
        }
    }

    /// The first `limit` bytes of `parts`, sent chunked.
    pub fn truncated(parts: Vec<Bytes>, limit: usize) -> Self {
        let mut left = limit;
        let mut kept = VecDeque::new();
        for p in parts {
            if left == 0 {
                break;
            }
            let take = p.len().min(left);
            left -= take;
            kept.push_back(p.slice(..take));
        }
        let remaining = kept.iter().map(|p| p.len() as u64).sum();
        ChunkBody {
            parts: kept,
            remaining,
            exact: false,
            stall: None,
        }
    }

    /// The first `limit` bytes of `parts`, sent chunked, then a stall (in
    /// `stalls`) before the end.
    pub fn stalled(parts: Vec<Bytes>, limit: usize, stalls: Arc<Stalls>) -> Self {
        ChunkBody {
            stall: Some(Stall::Ahead(stalls)),
            ..ChunkBody::truncated(parts, limit)
        }
    }
}

impl HttpBody for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(p) = self.parts.pop_front() {
            self.remaining -= p.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(p))));
        }
        // Polled again after the last chunk: the connection has taken every
        // byte, so this is the stall point.
        if let Some(Stall::Ahead(stalls)) = &self.stall {
            let mut releases = stalls.reach();
            self.stall = Some(Stall::Held(Box::pin(async move {
                // An error means the simulator is gone: end too.
                let _ = releases.changed().await;
            })));
        }
        if let Some(Stall::Held(release)) = &mut self.stall {
            if release.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.stall = None;
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty() && self.stall.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.remaining)
        } else {
            let mut hint = SizeHint::new();
            hint.set_lower(self.remaining);
            hint
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_user() -> User {
        User {
            id: 2,
            name: "o'brien&co".into(),
            email: "o'brien&co@example.com".into(),
            full_name: "Tom \"T\" O'Brien <Claims>".into(),
            status: "Active".into(),
            entities: vec!["R&D <Claims> \"East\"".into()],
            roles: vec![],
        }
    }

    #[test]
    fn user_element() {
        let mut out = Vec::new();
        user(&mut out, &sample_user());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<User id=\"2\" name=\"o&apos;brien&amp;co\" email=\"o&apos;brien&amp;co@example.com\" \
             status=\"Active\" fullName=\"Tom &quot;T&quot; O&apos;Brien &lt;Claims&gt;\">\
             <UserEntityMemberships><UserEntityMembership entityName=\"R&amp;D &lt;Claims&gt; &quot;East&quot;\"/>\
             </UserEntityMemberships><Roles/></User>"
        );
        assert_eq!(&users(std::iter::empty())[..], b"<Users/>");
    }

    #[test]
    fn names_and_faults() {
        assert_eq!(rs_name("Session.loginRq"), "Session.loginRs");
        assert_eq!(rs_name("Foo.bar"), "Foo.barRs");
        let f = soap_fault("Server", "a<b", Some("x&y"));
        assert!(f.contains("<faultcode>soap:Server</faultcode><faultstring>a&lt;b</faultstring><detail><message>x&amp;y</message></detail>"));
        let f = soap_fault("soap:Client", "r", None);
        assert!(f.contains(
            "<faultcode>soap:Client</faultcode><faultstring>r</faultstring></soap:Fault>"
        ));
    }

    #[test]
    fn truncation() {
        let parts = vec![Bytes::from_static(b"abc"), Bytes::from_static(b"defgh")];
        let b = ChunkBody::truncated(parts.clone(), 5);
        assert_eq!(b.remaining, 5);
        assert_eq!(b.parts, [&b"abc"[..], &b"de"[..]]);
        let b = ChunkBody::truncated(parts.clone(), 100);
        assert_eq!(b.remaining, 8);
        let b = ChunkBody::truncated(parts, 0);
        assert!(b.parts.is_empty());
    }
}
