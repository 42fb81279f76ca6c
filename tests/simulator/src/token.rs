//! Token mode: a bearer-token gateway in front of the Duck Creek endpoint.
//!
//! With [`SimConfig::token`](crate::SimConfig::token) set, a client first
//! POSTs credentials to `/oauth/token`
//! ([`Simulator::token_url`](crate::Simulator::token_url)) and then sends
//! `Authorization: Bearer <token>` on every call to `/dc/services`. Without
//! it, `/oauth/token` answers 404 and the endpoint needs no token.
//!
//! # The token endpoint
//!
//! The request format is told apart by the `Content-Type` (parameters such
//! as `charset` ignored):
//!
//! - `application/x-www-form-urlencoded`: `grant_type=client_credentials`
//!   with `client_id` and `client_secret`, or `grant_type=password` with
//!   `username` and `password` (checked against
//!   [`SimConfig::username`](crate::SimConfig::username) and
//!   [`SimConfig::password`](crate::SimConfig::password)); `+` is a space,
//!   `%XX` a byte, and the decoded bytes must be UTF-8; a repeated field is
//!   malformed, unknown fields are ignored;
//! - `application/json`: an object with the same fields (string values);
//! - `text/xml`, `application/xml` or `application/soap+xml`:
//!   `<TokenRq clientId="…" clientSecret="…"/>` or
//!   `<TokenRq userName="…" password="…"/>`, bare or as the first element
//!   of the `Body` of a SOAP envelope (names matched by local name).
//!
//! | outcome | form / JSON | XML |
//! | --- | --- | --- |
//! | issued (200) | `{"access_token":"…","token_type":"Bearer","expires_in":N}` | `<TokenRs status="Success" token="…" expiresIn="N"/>` |
//! | wrong or missing credentials (401) | `{"error":"invalid_client","error_description":"client authentication failed"}` | `<TokenRs status="Failure" message="invalid credentials"/>` |
//! | malformed (400) | `{"error":"invalid_request" or "unsupported_grant_type","error_description":"…"}` | `<TokenRs status="Failure" message="malformed request: …"/>` |
//!
//! `N` is the lifetime in seconds: a whole number when the lifetime is
//! whole seconds, else with its fraction (`0.5`). XML answers are
//! wrapped in a SOAP 1.1 envelope (`soap:Envelope/soap:Body`) when the
//! request was one (a malformed request is answered bare), with
//! `Content-Type: text/xml; charset=utf-8`; form and JSON answers are
//! `application/json`. Any other content type answers 415. Every request
//! that gets no token counts as `refused`. No answer echoes a credential.
//!
//! Tokens look like `dctok-<counter>-<16 lowercase hex digits>`.
//!
//! # The endpoint
//!
//! The token is checked before the operations run and before any fault is
//! taken; a rejected call is recorded only in the wire log
//! ([`Simulator::received`](crate::Simulator::received)), not in the endpoint
//! log, and consumes no fault:
//!
//! - no `Authorization` header, another scheme than `Bearer` (any case), or
//!   an unknown token: 401, `WWW-Authenticate: Bearer error="invalid_token"`,
//!   body `invalid token` (counted `invalid`);
//! - an expired token (its lifetime has passed since it was issued, it was
//!   already accepted [`max_uses`](TokenMode::max_uses) times, or
//!   [`Simulator::expire_tokens`](crate::Simulator::expire_tokens) was called
//!   after it was issued): answered as [`TokenMode::expired_answer`] says
//!   (counted `expired`);
//! - otherwise the call is counted `accepted`, the token's use count goes
//!   up, and the request is handled as without token mode.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dataset::SplitMix64;
use crate::render::{SOAP_NS, attr};
use crate::server::{SeenRequest, Shared, lock, soap_fault_response};

/// The `faultstring` and `error_description` of an expired token.
const EXPIRED_REASON: &str = "The access token expired";

/// How the simulator issues and checks bearer tokens (see the
/// [module documentation](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenMode {
    /// How long a token stays valid after it is issued.
    pub lifetime: Duration,
    /// When set, a token expires once it has been accepted this many times.
    pub max_uses: Option<u64>,
    /// The `client_id` a `client_credentials` request must carry.
    pub client_id: String,
    /// The `client_secret` a `client_credentials` request must carry.
    pub client_secret: String,
    /// How the endpoint answers a call with an expired token.
    pub expired_answer: ExpiredAnswer,
    /// When set, endpoint calls carry the token as the whole value of this header (as some
    /// gateways ask, e.g. `X-Ticket`) instead of `Authorization: Bearer <token>`.
    pub ticket_header: Option<String>,
}

impl Default for TokenMode {
    /// Lifetime 300 s, no use limit, client `dcconn` / `gateway-secret`,
    /// expired tokens answered with HTTP 401.
    fn default() -> Self {
        TokenMode {
            lifetime: Duration::from_secs(300),
            max_uses: None,
            client_id: "dcconn".to_owned(),
            client_secret: "gateway-secret".to_owned(),
            expired_answer: ExpiredAnswer::Http401,
            ticket_header: None,
        }
    }
}

impl TokenMode {
    /// The `expires_in` announced with a token: the lifetime in seconds,
    /// a whole number when the lifetime is whole seconds (as real gateways
    /// write it), else with its fraction (so that tests can use short
    /// lifetimes), and at least 1 ms.
    pub fn expires_in(&self) -> serde_json::Number {
        let lifetime = self.lifetime.max(Duration::from_millis(1));
        if lifetime.subsec_nanos() == 0 {
            lifetime.as_secs().into()
        } else {
            serde_json::Number::from_f64(lifetime.as_secs_f64()).unwrap_or_else(|| 1.into())
        }
    }
}

/// How the endpoint answers a call whose token has expired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ExpiredAnswer {
    /// HTTP 401 with `WWW-Authenticate: Bearer error="invalid_token",
    /// error_description="The access token expired"` and the text body
    /// `token expired`.
    #[default]
    Http401,
    /// HTTP 500 with a SOAP 1.1 fault: `faultcode` `code` (`soap:` is
    /// prefixed when it has no prefix), `faultstring`
    /// `The access token expired`.
    SoapFault {
        /// The `faultcode`.
        code: String,
    },
}

impl FromStr for ExpiredAnswer {
    type Err = String;

    /// `http401`, or `soap-fault:<code>` with a non-empty code.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("http401") {
            return Ok(ExpiredAnswer::Http401);
        }
        match s.strip_prefix("soap-fault:") {
            Some(code) if !code.trim().is_empty() => Ok(ExpiredAnswer::SoapFault {
                code: code.trim().to_owned(),
            }),
            _ => Err(format!("{s:?}: expected `http401` or `soap-fault:<code>`")),
        }
    }
}

/// What the token gateway has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenStats {
    /// Tokens handed out.
    pub issued: u64,
    /// Token requests that got no token (wrong or missing credentials,
    /// malformed, unsupported content type).
    pub refused: u64,
    /// Endpoint calls that carried a valid token.
    pub accepted: u64,
    /// Endpoint calls rejected because their token had expired.
    pub expired: u64,
    /// Endpoint calls with no, a malformed or an unknown token.
    pub invalid: u64,
}

/// One issued token.
struct Issued {
    /// When it was issued.
    at: Instant,
    /// How many calls it was accepted for.
    uses: u64,
    /// Expired by [`Tokens::expire_all`].
    revoked: bool,
}

impl Issued {
    fn is_expired(&self, mode: &TokenMode) -> bool {
        self.revoked
            || self.at.elapsed() >= mode.lifetime
            || mode.max_uses.is_some_and(|max| self.uses >= max)
    }
}

/// The mutable side of [`Tokens`].
#[derive(Default)]
struct TokenState {
    /// Every token handed out, in order.
    issued: Vec<String>,
    /// The tokens by value.
    by_value: HashMap<String, Issued>,
    stats: TokenStats,
}

/// Why an endpoint call was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// No, a malformed or an unknown token.
    Invalid,
    /// An expired token.
    Expired,
}

/// The token gateway's state (inert when token mode is off).
pub(crate) struct Tokens {
    mode: Option<TokenMode>,
    seed: u64,
    state: Mutex<TokenState>,
}

impl Tokens {
    /// A gateway for `mode` (`None`: off); `seed` feeds the token generator.
    pub fn new(mode: Option<TokenMode>, seed: u64) -> Self {
        Tokens {
            mode,
            seed,
            state: Mutex::default(),
        }
    }

    /// The token mode, when on.
    pub fn mode(&self) -> Option<&TokenMode> {
        self.mode.as_ref()
    }

    /// Hands out a new token.
    fn issue(&self) -> String {
        let mut state = lock(&self.state);
        let counter = state.issued.len() as u64 + 1;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut rng = SplitMix64::new(self.seed ^ counter.rotate_left(32) ^ nanos);
        let token = format!("dctok-{counter}-{:016x}", rng.next_u64());
        let issued = Issued {
            at: Instant::now(),
            uses: 0,
            revoked: false,
        };
        state.by_value.insert(token.clone(), issued);
        state.issued.push(token.clone());
        state.stats.issued += 1;
        token
    }

    /// Counts a token request that got no token.
    fn refuse(&self) {
        lock(&self.state).stats.refused += 1;
    }

    /// Checks (and counts) the token of an endpoint call; always passes
    /// when token mode is off.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let Some(mode) = &self.mode else {
            return Ok(());
        };
        let token = match &mode.ticket_header {
            Some(name) => headers
                .get(name.as_str())
                .and_then(|value| value.to_str().ok())
                .map(str::trim),
            None => bearer_token(headers),
        };
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let verdict = match token.and_then(|t| state.by_value.get_mut(t)) {
            None => Err(Rejection::Invalid),
            Some(issued) if issued.is_expired(mode) => Err(Rejection::Expired),
            Some(issued) => {
                issued.uses += 1;
                Ok(())
            }
        };
        let counter = match verdict {
            Ok(()) => &mut state.stats.accepted,
            Err(Rejection::Invalid) => &mut state.stats.invalid,
            Err(Rejection::Expired) => &mut state.stats.expired,
        };
        *counter += 1;
        verdict
    }

    /// The answer to a rejected endpoint call.
    pub fn reject(&self, rejection: Rejection) -> Response {
        match (rejection, self.mode.as_ref().map(|m| &m.expired_answer)) {
            (Rejection::Expired, Some(ExpiredAnswer::SoapFault { code })) => {
                soap_fault_response(code, EXPIRED_REASON, None)
            }
            (Rejection::Expired, _) => unauthorized(
                "Bearer error=\"invalid_token\", error_description=\"The access token expired\"",
                "token expired",
            ),
            (Rejection::Invalid, _) => {
                unauthorized("Bearer error=\"invalid_token\"", "invalid token")
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> TokenStats {
        lock(&self.state).stats
    }

    /// Every token handed out, in order.
    pub fn issued(&self) -> Vec<String> {
        lock(&self.state).issued.clone()
    }

    /// Makes every token issued so far count as expired.
    pub fn expire_all(&self) {
        for issued in lock(&self.state).by_value.values_mut() {
            issued.revoked = true;
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header, if any.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// HTTP 401 with `WWW-Authenticate: challenge` and a text body.
fn unauthorized(challenge: &'static str, body: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            ),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
        ],
        body,
    )
        .into_response()
}

// ---- the token endpoint ----

/// How a token request is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json`.
    Json,
    /// `text/xml`, `application/xml` or `application/soap+xml`.
    Xml,
}

/// The credentials of a token request.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Credentials {
    /// A client id and secret.
    Client { id: String, secret: String },
    /// A user name and password.
    User { name: String, password: String },
    /// Not all the credentials the request needs.
    Missing,
}

/// A well-formed token request.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TokenRequest {
    credentials: Credentials,
    /// An XML request inside a SOAP envelope.
    envelope: bool,
}

/// Why a token request is malformed: an OAuth error code and a short
/// description (never quoting the body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BadRequest {
    error: &'static str,
    message: &'static str,
}

fn bad(message: &'static str) -> BadRequest {
    BadRequest {
        error: "invalid_request",
        message,
    }
}

impl Format {
    /// The format the `Content-Type` names, if it is one of ours.
    fn of(headers: &HeaderMap) -> Option<Format> {
        let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
        let essence = value.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-www-form-urlencoded" => Some(Format::Form),
            "application/json" => Some(Format::Json),
            "text/xml" | "application/xml" | "application/soap+xml" => Some(Format::Xml),
            _ => None,
        }
    }

    fn parse(self, body: &[u8]) -> Result<TokenRequest, BadRequest> {
        let credentials = match self {
            Format::Form => credentials_from(&form_fields(body)?)?,
            Format::Json => credentials_from(&json_fields(body)?)?,
            Format::Xml => return xml_request(body),
        };
        Ok(TokenRequest {
            credentials,
            envelope: false,
        })
    }

    /// 200 with a new token.
    fn issued(self, token: &str, expires_in: serde_json::Number, envelope: bool) -> Response {
        match self {
            Format::Form | Format::Json => Json(json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": expires_in,
            }))
            .into_response(),
            Format::Xml => xml_answer(
                StatusCode::OK,
                envelope,
                &[
                    ("status", "Success"),
                    ("token", token),
                    ("expiresIn", &expires_in.to_string()),
                ],
            ),
        }
    }

    /// 401 for wrong or missing credentials.
    fn refused(self, envelope: bool) -> Response {
        match self {
            Format::Form | Format::Json => (
                StatusCode::UNAUTHORIZED,
                Json(json!({
                    "error": "invalid_client",
                    "error_description": "client authentication failed",
                })),
            )
                .into_response(),
            Format::Xml => xml_answer(
                StatusCode::UNAUTHORIZED,
                envelope,
                &[("status", "Failure"), ("message", "invalid credentials")],
            ),
        }
    }

    /// 400 for a malformed request.
    fn malformed(self, bad: BadRequest) -> Response {
        match self {
            Format::Form | Format::Json => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": bad.error, "error_description": bad.message })),
            )
                .into_response(),
            Format::Xml => xml_answer(
                StatusCode::BAD_REQUEST,
                false,
                &[
                    ("status", "Failure"),
                    ("message", &format!("malformed request: {}", bad.message)),
                ],
            ),
        }
    }
}

/// A `<TokenRs>` with `attrs`, in a SOAP envelope when `envelope`.
fn xml_answer(status: StatusCode, envelope: bool, attrs: &[(&str, &str)]) -> Response {
    let mut out = Vec::with_capacity(256);
    if envelope {
        out.extend_from_slice(b"<soap:Envelope xmlns:soap=\"");
        out.extend_from_slice(SOAP_NS.as_bytes());
        out.extend_from_slice(b"\"><soap:Body>");
    }
    out.extend_from_slice(b"<TokenRs");
    for (name, value) in attrs {
        attr(&mut out, name, value);
    }
    out.extend_from_slice(b"/>");
    if envelope {
        out.extend_from_slice(b"</soap:Body></soap:Envelope>");
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        out,
    )
        .into_response()
}

/// `POST /oauth/token` (routed only in token mode). Every request is
/// recorded in the wire log ([`Simulator::received`](crate::Simulator::received)).
pub(crate) async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    lock(&shared.received).push(SeenRequest::new(&method, path, &headers, &body, None));
    let tokens = &shared.tokens;
    let Some(mode) = tokens.mode() else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let Some(format) = Format::of(&headers) else {
        tokens.refuse();
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content type: use application/x-www-form-urlencoded, application/json or text/xml\n",
        )
            .into_response();
    };
    let request = match format.parse(&body) {
        Ok(request) => request,
        Err(bad) => {
            tokens.refuse();
            return format.malformed(bad);
        }
    };
    let valid = match &request.credentials {
        Credentials::Client { id, secret } => {
            *id == mode.client_id && *secret == mode.client_secret
        }
        Credentials::User { name, password } => {
            *name == shared.username && *password == shared.password
        }
        Credentials::Missing => false,
    };
    if !valid {
        tokens.refuse();
        return format.refused(request.envelope);
    }
    format.issued(&tokens.issue(), mode.expires_in(), request.envelope)
}

/// The request fields of a form or JSON request, by name.
type Fields = HashMap<String, String>;

/// The credentials the `grant_type` of `fields` asks for.
fn credentials_from(fields: &Fields) -> Result<Credentials, BadRequest> {
    let pair = |a: &str, b: &str| match (fields.get(a), fields.get(b)) {
        (Some(a), Some(b)) => Some((a.clone(), b.clone())),
        _ => None,
    };
    let credentials = match fields.get("grant_type").map(String::as_str) {
        Some("client_credentials") => pair("client_id", "client_secret")
            .map(|(id, secret)| Credentials::Client { id, secret }),
        Some("password") => pair("username", "password")
            .map(|(name, password)| Credentials::User { name, password }),
        Some(_) => {
            return Err(BadRequest {
                error: "unsupported_grant_type",
                message: "grant_type must be client_credentials or password",
            });
        }
        None => return Err(bad("grant_type is required")),
    };
    Ok(credentials.unwrap_or(Credentials::Missing))
}

/// The fields of an `application/x-www-form-urlencoded` body.
fn form_fields(body: &[u8]) -> Result<Fields, BadRequest> {
    let mut fields = Fields::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        if fields
            .insert(percent_decode(key)?, percent_decode(value)?)
            .is_some()
        {
            return Err(bad("a form field is repeated"));
        }
    }
    Ok(fields)
}

/// Decodes one form-encoded component: `+` is a space, `%XX` a byte; the
/// result must be UTF-8.
fn percent_decode(text: &[u8]) -> Result<String, BadRequest> {
    let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let (Some(hi), Some(lo)) = (hex(text.get(i + 1)), hex(text.get(i + 2))) else {
                    return Err(bad("invalid percent-encoding in the form"));
                };
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad("a form field is not UTF-8"))
}

/// The string fields of a JSON object body (other values are ignored
/// unless they are one of the fields we read).
fn json_fields(body: &[u8]) -> Result<Fields, BadRequest> {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad("the body is not a JSON object"));
    };
    let mut fields = Fields::new();
    for (key, value) in object {
        match value {
            Value::String(s) => {
                fields.insert(key, s);
            }
            _ if KNOWN_FIELDS.contains(&key.as_str()) => {
                return Err(bad("credential fields must be strings"));
            }
            _ => {}
        }
    }
    Ok(fields)
}

/// The form and JSON fields a token request may carry.
const KNOWN_FIELDS: [&str; 5] = [
    "grant_type",
    "client_id",
    "client_secret",
    "username",
    "password",
];

/// Where an XML token request parse is.
#[derive(Default)]
struct XmlLogin {
    /// Local names of the open elements.
    stack: Vec<String>,
    /// Whether the root element has ended.
    root_done: bool,
    /// Whether the root is a SOAP envelope.
    envelope: bool,
    /// The `TokenRq` attributes (local names, values unescaped).
    login: Option<Vec<(String, String)>>,
}

impl XmlLogin {
    /// Handles a start (or empty) element.
    fn start(&mut self, e: &BytesStart<'_>) -> Result<(), BadRequest> {
        let local = e.local_name().as_ref().to_owned();
        if self.root_done {
            return Err(bad("more than one root element"));
        }
        let attrs = attributes(e)?;
        match self.stack.len() {
            0 if local == "Envelope" => self.envelope = true,
            0 if local == "TokenRq" => self.login = Some(attrs),
            0 => return Err(bad("expected <TokenRq> or a SOAP envelope")),
            2 if self.envelope && self.stack[1] == "Body" && self.login.is_none() => {
                if local != "TokenRq" {
                    return Err(bad("expected <TokenRq> in the SOAP body"));
                }
                self.login = Some(attrs);
            }
            _ => {}
        }
        self.stack.push(local);
        Ok(())
    }

    /// Handles an end tag (or the end of an empty element).
    fn end(&mut self) {
        self.stack.pop();
        self.root_done |= self.stack.is_empty();
    }

    /// Handles any other event.
    fn other(&mut self, event: &Event<'_>) -> Result<(), BadRequest> {
        let outside = self.stack.is_empty();
        match event {
            Event::DocType(_) => Err(bad("DOCTYPE is not allowed")),
            Event::Text(t) if outside && !t.xml10_content().trim().is_empty() => {
                Err(bad("text outside the root element"))
            }
            Event::CData(_) | Event::GeneralRef(_) if outside => {
                Err(bad("text outside the root element"))
            }
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                let known = matches!(&*name, "amp" | "lt" | "gt" | "quot" | "apos")
                    || matches!(r.resolve_char_ref(), Ok(Some(_)));
                if known {
                    Ok(())
                } else {
                    Err(bad("unknown entity reference"))
                }
            }
            _ => Ok(()),
        }
    }

    /// The request, once the document has ended.
    fn finish(self) -> Result<TokenRequest, BadRequest> {
        if !self.stack.is_empty() || !self.root_done {
            return Err(bad("unexpected end of document"));
        }
        let attrs = self.login.ok_or(bad("no <TokenRq> element"))?;
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let credentials = match (get("clientId"), get("clientSecret")) {
            (Some(id), Some(secret)) => Credentials::Client { id, secret },
            (None, None) => match (get("userName"), get("password")) {
                (Some(name), Some(password)) => Credentials::User { name, password },
                _ => Credentials::Missing,
            },
            _ => Credentials::Missing,
        };
        Ok(TokenRequest {
            credentials,
            envelope: self.envelope,
        })
    }
}

/// The attributes of `e` (local names, `xmlns` declarations left out).
fn attributes(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, BadRequest> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|_| bad("malformed attribute"))?;
        let key = a.key.into_inner();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|_| bad("malformed attribute value"))?;
        out.push((a.key.local_name().as_ref().to_owned(), value.into_owned()));
    }
    Ok(out)
}

/// Parses an XML token request.
fn xml_request(body: &[u8]) -> Result<TokenRequest, BadRequest> {
    let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_comments = true;
    let mut parse = XmlLogin::default();
    loop {
        match reader.read_event().map_err(|_| bad("malformed XML"))? {
            Event::Start(e) => parse.start(&e)?,
            Event::Empty(e) => {
                parse.start(&e)?;
                parse.end();
            }
            Event::End(_) => parse.end(),
            Event::Eof => return parse.finish(),
            other => parse.other(&other)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str, secret: &str) -> Credentials {
        Credentials::Client {
            id: id.into(),
            secret: secret.into(),
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"a+b%20c%2B%26%3d").unwrap(), "a b c+&=");
        assert_eq!(
            percent_decode(b"Z%C3%BCrich%F0%9F%A6%9C").unwrap(),
            "Zürich🦜"
        );
        assert_eq!(percent_decode(b"").unwrap(), "");
        for bad in [&b"%"[..], b"%2", b"%zz", b"%+1", b"%C3", b"\xff", b"a%-1"] {
            assert!(percent_decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn form_requests() {
        let f = form_fields(
            b"grant_type=client_credentials&client_id=dc+conn&client_secret=s%26%3D%2B&&x",
        )
        .unwrap();
        assert_eq!(credentials_from(&f).unwrap(), client("dc conn", "s&=+"));
        assert_eq!(f["x"], "");
        let f = form_fields(b"grant_type=password&username=j%C3%BCrgen&password=p%20w").unwrap();
        assert_eq!(
            credentials_from(&f).unwrap(),
            Credentials::User {
                name: "jürgen".into(),
                password: "p w".into()
            }
        );
        let f = form_fields(b"grant_type=password&username=a").unwrap();
        assert_eq!(credentials_from(&f).unwrap(), Credentials::Missing);
        assert!(form_fields(b"a=1&a=2").is_err());
        let f = form_fields(b"client_id=a&client_secret=b").unwrap();
        assert_eq!(credentials_from(&f).unwrap_err().error, "invalid_request");
        let f = form_fields(b"grant_type=implicit").unwrap();
        assert_eq!(
            credentials_from(&f).unwrap_err().error,
            "unsupported_grant_type"
        );
    }

    #[test]
    fn json_requests() {
        let f = json_fields(
            br#"{"grant_type":"client_credentials","client_id":"a","client_secret":"b","scope":["x"]}"#,
        )
        .unwrap();
        assert_eq!(credentials_from(&f).unwrap(), client("a", "b"));
        for bad in [
            &b"[]"[..],
            b"nope",
            b"",
            br#"{"grant_type":"password","password":5}"#,
        ] {
            assert!(json_fields(bad).is_err());
        }
    }

    #[test]
    fn xml_requests() {
        let r = xml_request(br#"<TokenRq clientId="a&amp;b" clientSecret="s"/>"#).unwrap();
        assert_eq!(r.credentials, client("a&b", "s"));
        assert!(!r.envelope);
        let r = xml_request(
            br#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body><d:TokenRq xmlns:d="urn:x" d:userName="u" password="p"></d:TokenRq></s:Body></s:Envelope>"#,
        )
        .unwrap();
        assert!(r.envelope);
        assert_eq!(
            r.credentials,
            Credentials::User {
                name: "u".into(),
                password: "p".into()
            }
        );
        let r = xml_request(br#"<TokenRq clientId="a"/>"#).unwrap();
        assert_eq!(r.credentials, Credentials::Missing);
        for bad in [
            &b""[..],
            b"<Other/>",
            b"<TokenRq>",
            b"<TokenRq/><x/>",
            b"<TokenRq a=\"&foo;\"/>",
            b"<!DOCTYPE x><TokenRq/>",
            b"<Envelope><Body><Other/></Body></Envelope>",
            b"<Envelope><Body/></Envelope>",
            b"text<TokenRq/>",
            b"\xff<TokenRq/>",
        ] {
            assert!(
                xml_request(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn xml_never_panics_on_damaged_input() {
        let body = br#"<?xml version="1.0"?><s:Envelope xmlns:s="u"><s:Body><TokenRq clientId="a&amp;b" clientSecret="x&#10;y"/></s:Body></s:Envelope>"#;
        assert!(xml_request(body).is_ok());
        crate::xml::for_each_damaged(body, |damaged| {
            let _ = xml_request(damaged);
        });
    }

    #[test]
    fn bearer_headers() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert_eq!(bearer_token(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with("bEARER   abc ")), Some("abc"));
        assert_eq!(bearer_token(&with("Basic abc")), None);
        assert_eq!(bearer_token(&with("Bearer")), None);
        assert_eq!(bearer_token(&with("Bearer  ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn expired_answer_from_str() {
        assert_eq!("http401".parse(), Ok(ExpiredAnswer::Http401));
        assert_eq!(
            "soap-fault:soap:Client".parse(),
            Ok(ExpiredAnswer::SoapFault {
                code: "soap:Client".into()
            })
        );
        assert!("soap-fault:".parse::<ExpiredAnswer>().is_err());
        assert!("401".parse::<ExpiredAnswer>().is_err());
    }

    #[test]
    fn tokens_expire() {
        let mode = TokenMode {
            max_uses: Some(2),
            ..TokenMode::default()
        };
        let tokens = Tokens::new(Some(mode), 7);
        let a = tokens.issue();
        let b = tokens.issue();
        assert!(a.starts_with("dctok-1-") && b.starts_with("dctok-2-"));
        assert_eq!(a.len(), "dctok-1-".len() + 16);
        let call = |t: &str| {
            let mut h = HeaderMap::new();
            let v = HeaderValue::from_str(&format!("Bearer {t}")).unwrap();
            h.insert(header::AUTHORIZATION, v);
            tokens.check(&h)
        };
        assert_eq!(call(&a), Ok(()));
        assert_eq!(call(&a), Ok(()));
        assert_eq!(call(&a), Err(Rejection::Expired));
        assert_eq!(call("dctok-9-0000000000000000"), Err(Rejection::Invalid));
        tokens.expire_all();
        assert_eq!(call(&b), Err(Rejection::Expired));
        let c = tokens.issue();
        assert_eq!(call(&c), Ok(()));
        assert_eq!(
            tokens.stats(),
            TokenStats {
                issued: 3,
                refused: 0,
                accepted: 3,
                expired: 2,
                invalid: 1
            }
        );
        assert_eq!(tokens.issued(), [a, b, c]);
        // Off: everything passes, nothing is counted.
        let off = Tokens::new(None, 1);
        assert_eq!(off.check(&HeaderMap::new()), Ok(()));
        assert_eq!(off.stats(), TokenStats::default());
    }
}
