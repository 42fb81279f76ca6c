//! The HTTP side: shared state, the Duck Creek endpoint (`POST /dc/services`)
//! and the router (the admin routes live in [`crate::admin`]).
//!
//! Batch semantics: the first operation must be a successful
//! `Session.loginRq`; otherwise every following operation answers Failure
//! `NotAuthenticated`. A `Session.loginRq` later in an authenticated batch
//! only checks the credentials; `Session.closeRq` ends the session, so the
//! operations after it answer `NotAuthenticated`.
//!
//! Failure codes: `InvalidCredentials`, `NotAuthenticated`, `NotFound`,
//! `InvalidRequest` (a missing or non-numeric `entityID`/`userID`, or a lock
//! or get-user request naming no user), `UnknownOperation`, and `Injected`
//! (faults).
//!
//! Operations: `Session.loginRq`, `Session.closeRq`,
//! `OnlineData.listEntityUsersRq` (`entityID`), `OnlineData.listEntitiesRq`,
//! `OnlineData.getUserRq` (`userName`, or `userID`, found as for the lock
//! requests: one `<User>` element, rendered as in a user list),
//! `Security.listRolesRq` (`includePrivileges`), `Security.listPrivilegesRq`,
//! `Security.lockUserAccountRq` and `Security.unlockUserAccountRq`
//! (`userName` and/or `userID`).
//!
//! In token mode ([`crate::token`]) the bearer token is checked first: a
//! call without a valid token is answered 401 (or a SOAP fault) before its
//! operations run, and is neither recorded in the endpoint log nor consumes a
//! fault (the log of everything received has it).
//!
//! Two logs of [`SeenRequest`]s: the endpoint log (`requests`: the calls that
//! passed the token check) and the wire log (`received`: every request to the
//! endpoint or the token gateway in arrival order, calls turned away for their
//! token included).

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use crate::conn::Conn;
use crate::dataset::{Dataset, Entity, Privilege, Role, User};
use crate::echo;
use crate::fault::{EchoShape, Fault, FaultKind, LIST_USERS, Stalls};
use crate::render::{self, ChunkBody, Desc, Segments};
use crate::token::Tokens;
use crate::xml::{Malformed, Mode, Operation, ParsedRequest, parse_request};

/// The operation that opens a session.
const LOGIN: &str = "Session.loginRq";

/// The operation that fetches one user.
const GET_USER: &str = "OnlineData.getUserRq";

/// The body sent by the `non-xml` fault.
pub(crate) const NON_XML_BODY: &str = "Gateway says hello: not XML at all";

/// One request to the endpoint (or, in the wire log, to the token gateway),
/// as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeenRequest {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The path with its query, e.g. `/dc/services`.
    pub path: String,
    /// SOAP envelope or bare XML (`Xml` for a body that could not be told,
    /// and for a token request, whose body is not parsed as a Duck Creek
    /// request).
    pub mode: Mode,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `SOAPAction` header, if any (raw, quotes included).
    pub soap_action: Option<String>,
    /// All request headers, in order (names lower-case; the values of
    /// `Authorization` and `Cookie` replaced by `<redacted>`).
    pub headers: Vec<(String, String)>,
    /// All request headers as received, in order (names lower-case), nothing
    /// redacted: what went over the wire.
    pub raw_headers: Vec<(String, String)>,
    /// The body as received, unredacted (decoded as UTF-8; an invalid
    /// sequence would read as U+FFFD).
    pub body: String,
    /// The operations (empty for a malformed body and for a token request).
    pub operations: Vec<SeenOperation>,
}

impl SeenRequest {
    /// The request as received: `method`, `path` (with query), `headers`,
    /// `body`, and the Duck Creek operations `parsed` found (none: a token
    /// request).
    pub(crate) fn new(
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        parsed: Option<&Result<ParsedRequest, Malformed>>,
    ) -> SeenRequest {
        let (mode, operations) = match parsed {
            Some(Ok(p)) => (p.mode, p.operations.iter().map(seen_operation).collect()),
            Some(Err(m)) => (m.mode, Vec::new()),
            None => (Mode::Xml, Vec::new()),
        };
        let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        SeenRequest {
            method: method.as_str().to_owned(),
            path: path.to_owned(),
            mode,
            content_type: header_string(headers, header::CONTENT_TYPE),
            soap_action: header_string(headers, header::HeaderName::from_static("soapaction")),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    let value = if k == header::AUTHORIZATION || k == header::COOKIE {
                        "<redacted>".to_owned()
                    } else {
                        text(v)
                    };
                    (k.as_str().to_owned(), value)
                })
                .collect(),
            raw_headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), text(v)))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
            operations,
        }
    }
}

/// One operation of a [`SeenRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeenOperation {
    /// The element's local name, e.g. `Session.loginRq`.
    pub name: String,
    /// Attributes in document order, values unescaped; a `password`
    /// attribute's value is replaced by `<redacted>`.
    pub attributes: Vec<(String, String)>,
}

impl SeenOperation {
    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Locks a mutex, shrugging off poisoning (state stays usable after a
/// panicking thread; nothing here leaves it half-updated).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The dataset plus rendered user lists, cached per entity id.
pub(crate) struct Store {
    /// The current data.
    pub data: Dataset,
    cache: HashMap<u64, Bytes>,
}

impl Store {
    /// A store over `data`.
    pub fn new(data: Dataset) -> Self {
        Store {
            data,
            cache: HashMap::new(),
        }
    }

    /// Drops cached renderings; call after any change to `data`.
    pub fn changed(&mut self) {
        self.cache.clear();
    }

    /// The `<Users>` element for entity `entity_id`, or `None` when the
    /// entity does not exist. Entity 1 (the root) lists every user.
    pub fn users_xml(&mut self, entity_id: u64) -> Option<Bytes> {
        if let Some(b) = self.cache.get(&entity_id) {
            return Some(b.clone());
        }
        let entity = self.data.entities.iter().find(|e| e.id == entity_id)?;
        let rendered = if entity_id == 1 {
            render::users(self.data.users.iter())
        } else {
            let name = entity.name.as_str();
            render::users(
                self.data
                    .users
                    .iter()
                    .filter(|u| u.entities.iter().any(|e| e == name)),
            )
        };
        self.cache.insert(entity_id, rendered.clone());
        Some(rendered)
    }

    /// Adds or replaces (by name) a user; whether it was added.
    pub fn set_user(&mut self, user: User) -> bool {
        self.set(|d| &mut d.users, user)
    }

    /// Adds or replaces (by name) a role; whether it was added.
    pub fn set_role(&mut self, role: Role) -> bool {
        self.set(|d| &mut d.roles, role)
    }

    /// Adds or replaces (by name) a privilege; whether it was added.
    pub fn set_privilege(&mut self, privilege: Privilege) -> bool {
        self.set(|d| &mut d.privileges, privilege)
    }

    /// Adds or replaces (by name) an entity; whether it was added.
    pub fn set_entity(&mut self, entity: Entity) -> bool {
        self.set(|d| &mut d.entities, entity)
    }

    /// Removes the user named `name`; whether it existed.
    pub fn remove_user(&mut self, name: &str) -> bool {
        self.remove(|d| &mut d.users, name)
    }

    /// Removes the role named `name` and takes it away from every user;
    /// whether it existed.
    pub fn remove_role(&mut self, name: &str) -> bool {
        let removed = self.remove(|d| &mut d.roles, name);
        if removed {
            for u in &mut self.data.users {
                u.roles.retain(|r| r != name);
            }
        }
        removed
    }

    /// Removes the privilege named `name` and takes it out of every role;
    /// whether it existed.
    pub fn remove_privilege(&mut self, name: &str) -> bool {
        let removed = self.remove(|d| &mut d.privileges, name);
        if removed {
            for r in &mut self.data.roles {
                r.privileges.retain(|p| p != name);
            }
        }
        removed
    }

    /// Removes the entity named `name` and every membership in it; whether
    /// it existed.
    pub fn remove_entity(&mut self, name: &str) -> bool {
        let removed = self.remove(|d| &mut d.entities, name);
        if removed {
            for u in &mut self.data.users {
                u.entities.retain(|e| e != name);
            }
        }
        removed
    }

    /// Adds `item` to the list `list` picks, or replaces the item with its
    /// name; whether it was added.
    fn set<T: Item>(&mut self, list: impl FnOnce(&mut Dataset) -> &mut Vec<T>, item: T) -> bool {
        let list = list(&mut self.data);
        let added = match list.iter_mut().find(|i| i.name() == item.name()) {
            Some(slot) => {
                *slot = item;
                false
            }
            None => {
                list.push(item);
                true
            }
        };
        self.changed();
        added
    }

    /// Removes the item named `name` from the list `list` picks; whether it
    /// existed.
    fn remove<T: Item>(
        &mut self,
        list: impl FnOnce(&mut Dataset) -> &mut Vec<T>,
        name: &str,
    ) -> bool {
        let list = list(&mut self.data);
        let before = list.len();
        list.retain(|i| i.name() != name);
        let removed = list.len() != before;
        if removed {
            self.changed();
        }
        removed
    }
}

/// Something in the dataset with a unique id and name.
pub(crate) trait Item {
    /// The id.
    fn id(&self) -> u64;
    /// The name.
    fn name(&self) -> &str;
}

macro_rules! item {
    ($($t:ty),*) => {$(
        impl Item for $t {
            fn id(&self) -> u64 {
                self.id
            }
            fn name(&self) -> &str {
                &self.name
            }
        }
    )*};
}
item!(User, Role, Privilege, Entity);

/// State shared by the handlers and the [`Simulator`](crate::Simulator).
pub(crate) struct Shared {
    /// The accepted login name.
    pub username: String,
    /// The accepted password.
    pub password: String,
    /// The data.
    pub store: Mutex<Store>,
    /// Every endpoint request that passed the token check, in order.
    pub requests: Mutex<Vec<SeenRequest>>,
    /// Every request to the endpoint or the token gateway, in arrival order.
    pub received: Mutex<Vec<SeenRequest>>,
    /// Pending faults, in injection order.
    pub faults: Mutex<VecDeque<Fault>>,
    /// The responses held by `stall` faults.
    pub stalls: Arc<Stalls>,
    /// The bearer-token gateway (inert unless token mode is on).
    pub tokens: Tokens,
}

impl Shared {
    /// Queues a fault (a count of 0 counts as 1).
    pub fn inject_fault(&self, mut fault: Fault) {
        fault.count = fault.count.max(1);
        lock(&self.faults).push_back(fault);
    }

    /// Takes one use of the first pending fault that these operations match.
    fn take_fault(&self, ops: &[Operation]) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let index = faults
            .iter()
            .position(|f| f.matches(ops.iter().map(|o| o.name.as_str())))?;
        let fault = faults.get_mut(index)?;
        let taken = fault.clone();
        fault.count = fault.count.saturating_sub(1);
        if fault.count == 0 {
            faults.remove(index);
        }
        Some(taken)
    }
}

/// The router: endpoint, admin API, 404 for everything else.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new().route("/dc/services", post(endpoint));
    if shared.tokens.mode().is_some() {
        router = router.route("/oauth/token", post(crate::token::token_endpoint));
    }
    router
        .nest("/admin", crate::admin::routes())
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(shared)
}

async fn endpoint(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let worker = tokio::task::spawn_blocking(move || {
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        handle(&shared, &conn, &method, path, &headers, &body)
    });
    match worker.await {
        Ok(response) => response,
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "simulator error\n").into_response(),
    }
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn seen_operation(op: &Operation) -> SeenOperation {
    SeenOperation {
        name: op.name.clone(),
        attributes: op
            .attributes
            .iter()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "<redacted>".to_owned()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect(),
    }
}

/// The normal response's `Content-Type`.
const XML_TYPE: &str = "text/xml; charset=utf-8";

fn xml_response(body: ChunkBody) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, XML_TYPE)],
        Body::new(body),
    )
        .into_response()
}

/// HTTP 200, text/xml, with `body` (sent with a Content-Length).
fn xml_bytes(body: Vec<u8>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, XML_TYPE)], body).into_response()
}

/// `parts` gzip-compressed.
fn gzip(parts: &[Bytes]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for p in parts {
        // Writing to a Vec cannot fail.
        let _ = encoder.write_all(p);
    }
    encoder.finish().unwrap_or_default()
}

/// The `malformed` fault's body: the normal `parts` (which end with the
/// document end for `mode`) with `</responses>` misspelled.
fn malformed(mut parts: Vec<Bytes>, mode: Mode) -> Vec<Bytes> {
    let end = render::suffix(mode).as_bytes();
    if let Some(last) = parts.pop() {
        let keep = if last.ends_with(end) {
            last.len() - end.len()
        } else {
            last.len()
        };
        parts.push(last.slice(..keep));
    }
    parts.push(Bytes::from(render::malformed_suffix(mode)));
    parts
}

/// The `deep-nesting` fault's body: the document start down to
/// `<responses>`, `depth` nested `<a>` elements, the document end.
fn deep_nesting(mode: Mode, depth: usize) -> Vec<Bytes> {
    let mut parts = vec![Bytes::from_static(render::prefix(mode).as_bytes())];
    parts.extend(render::repeat(b"<a>", depth));
    parts.extend(render::repeat(b"</a>", depth));
    parts.push(Bytes::from_static(render::suffix(mode).as_bytes()));
    parts
}

/// HTTP 500 with a SOAP 1.1 fault document.
pub(crate) fn soap_fault_response(code: &str, reason: &str, detail: Option<&str>) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        render::soap_fault(code, reason, detail),
    )
        .into_response()
}

/// HTTP 500 with a SOAP 1.2 fault document.
pub(crate) fn soap12_fault_response(code: &str, reason: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/soap+xml; charset=utf-8")],
        render::soap12_fault(code, reason),
    )
        .into_response()
}

/// Handles one endpoint request on connection `conn` (runs on a blocking
/// thread).
fn handle(
    shared: &Shared,
    conn: &Conn,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let parsed = parse_request(body);
    let seen = SeenRequest::new(method, path, headers, body, Some(&parsed));
    lock(&shared.received).push(seen.clone());
    if let Err(rejection) = shared.tokens.check(headers) {
        return shared.tokens.reject(rejection);
    }
    lock(&shared.requests).push(seen);
    let parsed = match parsed {
        Ok(p) => p,
        Err(m) => {
            return soap_fault_response(
                "soap:Client",
                &format!("Malformed request: {}", m.message),
                Some(&m.message),
            );
        }
    };
    let Some(fault) = shared.take_fault(&parsed.operations) else {
        return xml_response(ChunkBody::new(execute(shared, &parsed, None, None)));
    };
    let normal = || execute(shared, &parsed, None, None);
    match &fault.kind {
        FaultKind::HttpStatus {
            status,
            body,
            retry_after,
        } => {
            let code = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = body.clone().unwrap_or_else(|| {
                format!("{}\n", code.canonical_reason().unwrap_or("Injected fault"))
            });
            let mut response = (
                code,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                body,
            )
                .into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            response
        }
        FaultKind::SoapFault {
            code,
            reason,
            detail,
        } => soap_fault_response(code, reason, detail.as_deref()),
        FaultKind::Soap12Fault { code, reason } => soap12_fault_response(code, reason),
        FaultKind::EchoRequest {
            shape,
            pad,
            normalise,
        } => {
            let text = || echo::text(headers, body, &parsed, *pad, *normalise);
            let failure = |desc: Desc<'_>| {
                xml_response(ChunkBody::new(execute(
                    shared,
                    &parsed,
                    Some(&fault),
                    Some(desc),
                )))
            };
            match shape {
                EchoShape::Plain => echo::plain(headers, body, *pad, *normalise),
                EchoShape::Soap11Fault => soap_fault_response("soap:Server", &text(), None),
                EchoShape::Soap12Fault => soap12_fault_response("env:Receiver", &text()),
                EchoShape::Failure => failure(Desc::Text(&text())),
                EchoShape::Cdata => failure(Desc::Cdata(&text())),
                EchoShape::Html => echo::html(&text()),
                EchoShape::Json => echo::json(&text()),
            }
        }
        FaultKind::NonXml {} => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            NON_XML_BODY,
        )
            .into_response(),
        FaultKind::Truncate { after_bytes } => {
            xml_response(ChunkBody::truncated(normal(), *after_bytes))
        }
        FaultKind::Reset { after_bytes } => {
            xml_response(ChunkBody::reset(normal(), *after_bytes, conn.0.clone()))
        }
        FaultKind::Stall { after_bytes } => xml_response(ChunkBody::stalled(
            normal(),
            *after_bytes,
            shared.stalls.clone(),
        )),
        FaultKind::Pause { after_bytes } => xml_response(ChunkBody::paused(
            normal(),
            *after_bytes,
            shared.stalls.clone(),
        )),
        FaultKind::Malformed {} => xml_response(ChunkBody::new(malformed(normal(), parsed.mode))),
        FaultKind::ContentType { value } => match HeaderValue::from_str(value) {
            Ok(value) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, value)],
                Body::new(ChunkBody::new(normal())),
            )
                .into_response(),
            Err(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the injected Content-Type is not a valid header value\n",
            )
                .into_response(),
        },
        FaultKind::Gzip {} => {
            let mut response = xml_bytes(gzip(&normal()));
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            response
        }
        FaultKind::Bom {} => {
            let mut parts = normal();
            parts.insert(0, Bytes::from_static(b"\xEF\xBB\xBF"));
            xml_response(ChunkBody::new(parts))
        }
        FaultKind::Chunked {} => xml_response(ChunkBody::chunked(render::pieces(normal()))),
        FaultKind::DeepNesting { depth } => {
            xml_response(ChunkBody::new(deep_nesting(parsed.mode, *depth)))
        }
        FaultKind::HugeAttribute { .. } => xml_response(ChunkBody::chunked(execute(
            shared,
            &parsed,
            Some(&fault),
            None,
        ))),
        FaultKind::FailureStatus { .. }
        | FaultKind::EmptyUsers {}
        | FaultKind::BillionLaughs {}
        | FaultKind::ExternalEntity {}
        | FaultKind::RawName { .. } => {
            xml_response(ChunkBody::new(execute(shared, &parsed, Some(&fault), None)))
        }
    }
}

/// A failure: (code, description).
type Failure = (&'static str, String);

fn parse_id(op: &Operation, name: &str) -> Result<Option<u64>, Failure> {
    match op.attr(name).map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ("InvalidRequest", format!("{name} {s:?} is not a number"))),
    }
}

/// Finds the user a lock/unlock or get-user request names: by `userName`
/// (and, when `userID` is given too, it must be that user's id), or by
/// `userID` alone.
fn find_user(data: &Dataset, op: &Operation) -> Result<usize, Failure> {
    let id = parse_id(op, "userID")?;
    match (op.attr("userName"), id) {
        (Some(name), id) => {
            let index = data
                .users
                .iter()
                .position(|u| u.name == name)
                .ok_or_else(|| ("NotFound", format!("User {name} does not exist")))?;
            match id {
                Some(id) if data.users[index].id != id => Err((
                    "NotFound",
                    format!("User {name} with id {id} does not exist"),
                )),
                _ => Ok(index),
            }
        }
        (None, Some(id)) => data
            .users
            .iter()
            .position(|u| u.id == id)
            .ok_or_else(|| ("NotFound", format!("User with id {id} does not exist"))),
        (None, None) => Err((
            "InvalidRequest",
            "userName or userID is required".to_owned(),
        )),
    }
}

fn is_true(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        v.eq_ignore_ascii_case("true") || v == "1"
    })
}

/// Runs a batch and renders its response document as chunks; `echoed` is
/// the description of the Failure answers of an injected `echo-request`
/// fault.
fn execute(
    shared: &Shared,
    request: &ParsedRequest,
    injected: Option<&Fault>,
    echoed: Option<Desc<'_>>,
) -> Vec<Bytes> {
    let mut seg = Segments::default();
    match injected.map(|f| &f.kind) {
        Some(FaultKind::BillionLaughs {}) => seg.raw(&render::prefix_with_doctype(
            request.mode,
            &render::billion_laughs_subset(),
        )),
        Some(FaultKind::ExternalEntity {}) => seg.raw(&render::prefix_with_doctype(
            request.mode,
            render::EXTERNAL_ENTITY_SUBSET,
        )),
        _ => seg.raw(render::prefix(request.mode)),
    }
    let mut store = lock(&shared.store);
    let mut authenticated = false;
    for (i, op) in request.operations.iter().enumerate() {
        let rs = render::rs_name(&op.name);
        let injected = injected.filter(|f| f.applies_to_operation(&op.name));
        let injected_failure = match injected.map(|f| &f.kind) {
            Some(FaultKind::FailureStatus { message }) => Some(Desc::Text(message)),
            Some(FaultKind::EchoRequest { .. }) => echoed,
            _ => None,
        };
        if let Some(desc) = injected_failure {
            render::failure_with(seg.buf(), &rs, "Injected", desc);
            continue;
        }
        let credentials_ok = || {
            op.attr("userName") == Some(shared.username.as_str())
                && op.attr("password") == Some(shared.password.as_str())
        };
        if i == 0 && op.name == LOGIN {
            if credentials_ok() {
                authenticated = true;
                render::success_empty(seg.buf(), &rs);
            } else {
                render::failure(
                    seg.buf(),
                    &rs,
                    "InvalidCredentials",
                    "Invalid user name or password",
                );
            }
            continue;
        }
        if !authenticated {
            render::failure(
                seg.buf(),
                &rs,
                "NotAuthenticated",
                "Not authenticated: the batch must start with a successful Session.loginRq",
            );
            continue;
        }
        let result: Result<(), Failure> = match op.name.as_str() {
            LOGIN => {
                if credentials_ok() {
                    render::success_empty(seg.buf(), &rs);
                    Ok(())
                } else {
                    Err((
                        "InvalidCredentials",
                        "Invalid user name or password".to_owned(),
                    ))
                }
            }
            "Session.closeRq" => {
                authenticated = false;
                render::success_empty(seg.buf(), &rs);
                Ok(())
            }
            LIST_USERS => match parse_id(op, "entityID") {
                Err(f) => Err(f),
                Ok(None) => Err(("InvalidRequest", "entityID is required".to_owned())),
                Ok(Some(id)) => {
                    if let Some(kind) = injected.map(|f| &f.kind).filter(|k| k.in_user_list()) {
                        render::success_open(seg.buf(), &rs);
                        match kind {
                            FaultKind::BillionLaughs {} => seg.raw(render::BILLION_LAUGHS_USERS),
                            FaultKind::ExternalEntity {} => seg.raw(render::EXTERNAL_ENTITY_USERS),
                            FaultKind::HugeAttribute { bytes } => {
                                seg.raw(render::HUGE_USERS_START);
                                for chunk in render::repeat(b"x", *bytes) {
                                    seg.shared(chunk);
                                }
                                seg.raw(render::HUGE_USERS_END);
                            }
                            FaultKind::RawName { name } => {
                                seg.raw(render::HUGE_USERS_START);
                                seg.raw(name);
                                seg.raw(render::RAW_USERS_END);
                            }
                            _ => seg.raw("<Users/>"),
                        }
                        render::close(seg.buf(), &rs);
                        Ok(())
                    } else if let Some(users) = store.users_xml(id) {
                        render::success_open(seg.buf(), &rs);
                        seg.shared(users);
                        render::close(seg.buf(), &rs);
                        Ok(())
                    } else {
                        Err(("NotFound", format!("Entity {id} does not exist")))
                    }
                }
            },
            GET_USER => find_user(&store.data, op).map(|index| {
                render::success_open(seg.buf(), &rs);
                render::user(seg.buf(), &store.data.users[index]);
                render::close(seg.buf(), &rs);
            }),
            "OnlineData.listEntitiesRq" => {
                render::success_open(seg.buf(), &rs);
                render::entities(seg.buf(), &store.data.entities);
                render::close(seg.buf(), &rs);
                Ok(())
            }
            "Security.listRolesRq" => {
                let with_privileges = is_true(op.attr("includePrivileges"));
                render::success_open(seg.buf(), &rs);
                render::roles(seg.buf(), &store.data.roles, with_privileges);
                render::close(seg.buf(), &rs);
                Ok(())
            }
            "Security.listPrivilegesRq" => {
                render::success_open(seg.buf(), &rs);
                render::privileges(seg.buf(), &store.data.privileges);
                render::close(seg.buf(), &rs);
                Ok(())
            }
            "Security.lockUserAccountRq" | "Security.unlockUserAccountRq" => {
                let (status, done) = if op.name == "Security.lockUserAccountRq" {
                    ("Locked", "locked")
                } else {
                    ("Active", "unlocked")
                };
                find_user(&store.data, op).map(|index| {
                    if store.data.users[index].status != status {
                        store.data.users[index].status = status.to_owned();
                        store.changed();
                    }
                    let user = &store.data.users[index];
                    let message = format!("User {} {done}", user.name);
                    render::account_status_changed(seg.buf(), &rs, user, &message);
                })
            }
            other => Err(("UnknownOperation", format!("Unknown operation {other}"))),
        };
        if let Err((code, desc)) = result {
            render::failure(seg.buf(), &rs, code, &desc);
        }
    }
    drop(store);
    seg.raw(render::suffix(request.mode));
    seg.finish()
}
