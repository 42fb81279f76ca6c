//! Response rendering: XML fragments for each operation, the SOAP/XML
//! envelopes, SOAP faults, the hostile documents of some faults, and a body
//! made of a list of [`Bytes`] chunks (so a cached user list is sent as is,
//! never copied), which can stall after its last chunk or end in an error.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Bytes, HttpBody};
use http_body::{Frame, SizeHint};

use crate::conn::Flushes;
use crate::dataset::{Entity, Privilege, Role, User};
use crate::fault::Stalls;
use crate::xml::{Mode, cdata_into, escape_into, is_simple_name};

/// The SOAP 1.1 envelope namespace.
pub(crate) const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The SOAP 1.2 envelope namespace.
pub(crate) const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The XML declaration every document starts with.
const DECLARATION: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// The largest chunk of a repeated run ([`repeat`]): 1 MiB.
const RUN_CHUNK: usize = 1 << 20;

/// The largest piece of a `chunked` fault's body ([`pieces`]): 16 KiB.
const PIECE: usize = 16 << 10;

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

/// The document start up to `<responses>`, with `<!DOCTYPE root [subset]>`
/// after the XML declaration (`root` being the root element's name).
pub(crate) fn prefix_with_doctype(mode: Mode, subset: &str) -> String {
    let root = match mode {
        Mode::Soap => "soap:Envelope",
        Mode::Xml => "server",
    };
    let rest = prefix(mode).strip_prefix(DECLARATION).unwrap_or_default();
    format!("{DECLARATION}<!DOCTYPE {root} [{subset}]>{rest}")
}

/// The internal DTD subset of the `billion-laughs` fault: `lol`, then
/// `lol1` to `lol9`, each ten references to the one before.
pub(crate) fn billion_laughs_subset() -> String {
    let mut out = String::from(r#"<!ENTITY lol "lol">"#);
    for level in 1..10 {
        let before = if level == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", level - 1)
        };
        out.push_str(&format!("<!ENTITY lol{level} \""));
        for _ in 0..10 {
            out.push_str(&format!("&{before};"));
        }
        out.push_str("\">");
    }
    out
}

/// The internal DTD subset of the `external-entity` fault.
pub(crate) const EXTERNAL_ENTITY_SUBSET: &str = r#"<!ENTITY xxe SYSTEM "file:///etc/passwd">"#;

/// The user list of the `billion-laughs` fault.
pub(crate) const BILLION_LAUGHS_USERS: &str = concat!(
    r#"<Users><User id="1" name="lol" email="lol@example.com" status="Active" fullName="Lol">"#,
    "&lol9;<UserEntityMemberships/><Roles/></User></Users>"
);

/// The user list of the `external-entity` fault.
pub(crate) const EXTERNAL_ENTITY_USERS: &str = concat!(
    r#"<Users><User id="1" name="xxe" email="xxe@example.com" status="Active" fullName="Xxe">"#,
    "&xxe;<UserEntityMemberships/><Roles/></User></Users>"
);

/// The start of the `huge-attribute` user list, up to the `name` value.
pub(crate) const HUGE_USERS_START: &str = r#"<Users><User id="1" name=""#;

/// The end of the `raw-name` user list, after the `name` value.
pub(crate) const RAW_USERS_END: &str = concat!(
    r#"" email="raw@example.com" status="Active" fullName="Raw">"#,
    "<UserEntityMemberships/><Roles/></User></Users>"
);

/// The end of the `huge-attribute` user list, after the `name` value.
pub(crate) const HUGE_USERS_END: &str = concat!(
    r#"" email="huge@example.com" status="Active" fullName="Huge">"#,
    "<UserEntityMemberships/><Roles/></User></Users>"
);

/// `pattern` repeated `count` times, as chunks of at most 1 MiB (whole
/// patterns, at least one each) that all share one buffer.
pub(crate) fn repeat(pattern: &[u8], count: usize) -> Vec<Bytes> {
    if pattern.is_empty() || count == 0 {
        return Vec::new();
    }
    let per_chunk = (RUN_CHUNK / pattern.len()).max(1);
    let buffer = Bytes::from(pattern.repeat(per_chunk.min(count)));
    let mut left = count;
    let mut chunks = Vec::with_capacity(count.div_ceil(per_chunk));
    while left > 0 {
        let n = left.min(per_chunk);
        chunks.push(buffer.slice(..n * pattern.len()));
        left -= n;
    }
    chunks
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

/// The `malformed` fault's document end: [`suffix`] with `</responses>`
/// misspelled `</response>`.
pub(crate) fn malformed_suffix(mode: Mode) -> String {
    suffix(mode).replacen("</responses>", "</response>", 1)
}

/// `<Name status="Success"/>`.
pub(crate) fn success_empty(out: &mut Vec<u8>, rs: &str) {
    out.push(b'<');
    out.extend_from_slice(rs.as_bytes());
    out.extend_from_slice(b" status=\"Success\"/>");
}

/// The answer to a lock or unlock: `<Name status="Success" userID=".." userName="..">` with
/// the message Duck Creek gives (`User jdoe locked`), so that plans can capture the status, the
/// user's id and a text from the body.
pub(crate) fn account_status_changed(out: &mut Vec<u8>, rs: &str, user: &User, message: &str) {
    out.push(b'<');
    out.extend_from_slice(rs.as_bytes());
    out.extend_from_slice(b" status=\"Success\" userID=\"");
    escape_into(out, &user.id.to_string());
    out.extend_from_slice(b"\" userName=\"");
    escape_into(out, &user.name);
    out.extend_from_slice(
        b"\"><ExtendedStatus><ExtendedStatusCd>Success</ExtendedStatusCd><ExtendedStatusDesc>",
    );
    escape_into(out, message);
    out.extend_from_slice(b"</ExtendedStatusDesc></ExtendedStatus>");
    close(out, rs);
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
    failure_with(out, rs, code, Desc::Text(desc));
}

/// How a failure's `ExtendedStatusDesc` is written.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Desc<'a> {
    /// As escaped text.
    Text(&'a str),
    /// As a CDATA section ([`cdata_into`]).
    Cdata(&'a str),
}

/// An ACORD-style failure response element, its description written as
/// `desc` says.
pub(crate) fn failure_with(out: &mut Vec<u8>, rs: &str, code: &str, desc: Desc<'_>) {
    out.push(b'<');
    out.extend_from_slice(rs.as_bytes());
    out.extend_from_slice(b" status=\"Failure\"><ExtendedStatus><ExtendedStatusCd>");
    escape_into(out, code);
    out.extend_from_slice(b"</ExtendedStatusCd><ExtendedStatusDesc>");
    match desc {
        Desc::Text(text) => escape_into(out, text),
        Desc::Cdata(text) => cdata_into(out, text),
    }
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

/// A complete SOAP 1.2 fault document (`env:` is prefixed to a `code`
/// without a prefix).
pub(crate) fn soap12_fault(code: &str, reason: &str) -> String {
    let code = if code.contains(':') {
        code.to_owned()
    } else {
        format!("env:{code}")
    };
    let mut out = Vec::with_capacity(320);
    out.extend_from_slice(DECLARATION.as_bytes());
    out.extend_from_slice(b"<env:Envelope xmlns:env=\"");
    out.extend_from_slice(SOAP12_NS.as_bytes());
    out.extend_from_slice(b"\"><env:Body><env:Fault><env:Code><env:Value>");
    escape_into(&mut out, &code);
    out.extend_from_slice(b"</env:Value></env:Code><env:Reason><env:Text xml:lang=\"en\">");
    escape_into(&mut out, reason);
    out.extend_from_slice(b"</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>");
    String::from_utf8_lossy(&out).into_owned()
}

/// `parts` re-cut (without copying) into pieces of at most ⌈total / 8⌉
/// bytes and at most 16 KiB.
pub(crate) fn pieces(parts: Vec<Bytes>) -> Vec<Bytes> {
    let total: usize = parts.iter().map(Bytes::len).sum();
    let size = total.div_ceil(8).clamp(1, PIECE);
    let mut out = Vec::new();
    for part in parts {
        let mut start = 0;
        while start < part.len() {
            let end = (start + size).min(part.len());
            out.push(part.slice(start..end));
            start = end;
        }
    }
    out
}

/// A response body that yields a list of chunks; with `exact` its length is
/// announced (Content-Length), otherwise it is sent chunked. With a `stall`,
/// it holds after the last chunk until the stall is released; with a
/// `reset`, it fails after the last chunk once the connection has flushed
/// it (hyper then drops the connection without ending the body).
pub(crate) struct ChunkBody {
    parts: VecDeque<Bytes>,
    remaining: u64,
    exact: bool,
    stall: Option<Stall>,
    reset: Option<Arc<Flushes>>,
    /// What follows a pause once it is released.
    after_pause: VecDeque<Bytes>,
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
            reset: None,
            after_pause: VecDeque::new(),
        }
    }

    /// A body of `parts`, sent chunked (one chunk per part).
    pub fn chunked(parts: Vec<Bytes>) -> Self {
        ChunkBody {
            exact: false,
            ..ChunkBody::new(parts)
        }
    }

    /// The first `limit` bytes of `parts`, sent chunked.
    pub fn truncated(parts: Vec<Bytes>, limit: usize) -> Self {
        let (kept, _) = split_at(parts, limit);
        let remaining = kept.iter().map(|p| p.len() as u64).sum();
        ChunkBody {
            parts: kept,
            remaining,
            exact: false,
            stall: None,
            reset: None,
            after_pause: VecDeque::new(),
        }
    }

    /// `parts` sent chunked, held after the first `limit` bytes until the stall (in `stalls`)
    /// is released, then the rest: a slow but complete response.
    pub fn paused(parts: Vec<Bytes>, limit: usize, stalls: Arc<Stalls>) -> Self {
        let (kept, after_pause) = split_at(parts, limit);
        let remaining = kept
            .iter()
            .chain(&after_pause)
            .map(|p| p.len() as u64)
            .sum();
        ChunkBody {
            parts: kept,
            remaining,
            exact: false,
            stall: Some(Stall::Ahead(stalls)),
            reset: None,
            after_pause,
        }
    }

    /// The first `limit` bytes of `parts`, sent chunked, then an error once
    /// `flushes` reports them written (so no terminating chunk).
    pub fn reset(parts: Vec<Bytes>, limit: usize, flushes: Arc<Flushes>) -> Self {
        ChunkBody {
            reset: Some(flushes),
            ..ChunkBody::truncated(parts, limit)
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

/// The first `limit` bytes of `parts`, and the rest.
fn split_at(parts: Vec<Bytes>, limit: usize) -> (VecDeque<Bytes>, VecDeque<Bytes>) {
    let mut left = limit;
    let (mut kept, mut rest) = (VecDeque::new(), VecDeque::new());
    for p in parts {
        let take = p.len().min(left);
        left -= take;
        if take > 0 {
            kept.push_back(p.slice(..take));
        }
        if take < p.len() {
            rest.push_back(p.slice(take..));
        }
    }
    (kept, rest)
}

impl HttpBody for ChunkBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(p) = self.parts.pop_front() {
            self.remaining -= p.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(p))));
        }
        // Polled again after the last chunk, with a reset: hyper may still
        // buffer some of the bytes so far, and drops them unsent when the
        // body fails; so fail once the connection has flushed them (the
        // flush wakes this body).
        if let Some(flushes) = &self.reset {
            return flushes.poll_flushed(cx).map(|()| {
                Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "injected reset",
                )))
            });
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
            self.parts = std::mem::take(&mut self.after_pause);
            if let Some(p) = self.parts.pop_front() {
                self.remaining -= p.len() as u64;
                return Poll::Ready(Some(Ok(Frame::data(p))));
            }
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty() && self.stall.is_none() && self.reset.is_none()
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
    fn repeated_runs_share_one_buffer() {
        let chunks = repeat(b"x", 3 * RUN_CHUNK + 5);
        assert_eq!(chunks.len(), 4);
        assert!(chunks.iter().all(|c| c.len() <= RUN_CHUNK));
        assert_eq!(chunks[3].len(), 5);
        assert_eq!(
            chunks.iter().map(Bytes::len).sum::<usize>(),
            3 * RUN_CHUNK + 5
        );
        assert!(chunks.iter().all(|c| c.as_ptr() == chunks[0].as_ptr()));
        assert!(chunks.iter().all(|c| c.iter().all(|&b| b == b'x')));
        // A pattern is never split.
        let chunks = repeat(b"<a>", RUN_CHUNK);
        assert!(
            chunks
                .iter()
                .all(|c| c.len() % 3 == 0 && c.starts_with(b"<a>"))
        );
        assert_eq!(chunks.iter().map(Bytes::len).sum::<usize>(), 3 * RUN_CHUNK);
        assert_eq!(repeat(b"<a>", 2), [&b"<a><a>"[..]]);
        assert!(repeat(b"x", 0).is_empty());
    }

    #[test]
    fn hostile_prologues() {
        let subset = billion_laughs_subset();
        assert!(subset.starts_with(r#"<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;"#));
        assert!(subset.ends_with(&format!(r#"<!ENTITY lol9 "{}">"#, "&lol8;".repeat(10))));
        assert_eq!(subset.matches("<!ENTITY").count(), 10);
        assert_eq!(
            prefix_with_doctype(Mode::Xml, EXTERNAL_ENTITY_SUBSET),
            concat!(
                r#"<?xml version="1.0" encoding="utf-8"?>"#,
                r#"<!DOCTYPE server [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><server><responses>"#
            )
        );
        assert!(prefix_with_doctype(Mode::Soap, "").starts_with(
            r#"<?xml version="1.0" encoding="utf-8"?><!DOCTYPE soap:Envelope []><soap:Envelope "#
        ));
        assert_eq!(malformed_suffix(Mode::Xml), "</response></server>");
    }

    #[test]
    fn soap12_and_pieces() {
        assert_eq!(
            soap12_fault("Receiver", "a<b & \"c\""),
            concat!(
                r#"<?xml version="1.0" encoding="utf-8"?>"#,
                r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>"#,
                r#"<env:Code><env:Value>env:Receiver</env:Value></env:Code>"#,
                r#"<env:Reason><env:Text xml:lang="en">a&lt;b &amp; &quot;c&quot;</env:Text></env:Reason>"#,
                r#"</env:Fault></env:Body></env:Envelope>"#
            )
        );
        let parts = vec![Bytes::from(vec![b'a'; 50]), Bytes::from(vec![b'b'; 30])];
        let cut = pieces(parts);
        assert_eq!(
            cut.iter().map(Bytes::len).collect::<Vec<_>>(),
            [10, 10, 10, 10, 10, 10, 10, 10]
        );
        let cut = pieces(vec![Bytes::from(vec![0; 1 << 20])]);
        assert_eq!(cut.len(), 64);
        assert_eq!(pieces(vec![Bytes::from_static(b"abc")]).len(), 3);
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
