//! Tokens of the token connections: obtained from their token URL, kept while they are valid,
//! refreshed shortly before they expire and when a call is refused.
//!
//! One [`TokenCache`] serves every call of one component instance, so a job that runs many
//! calls (an import, a burst of provisioning tasks) asks for a token once per lifetime, not
//! once per call. An instance runs one call at a time, so two refreshes of one connection never
//! overlap. Wrong credentials fail at once and are remembered: later calls fail without
//! another token request, so a refused login never turns into a storm of them.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::config::{BodyFormat, Connection, ResponsePath, RuntimeBindings, TokenConnection};
use crate::config::{HttpRequest, TokenRequest};
use crate::error::ErrorKind;
use crate::exchange::read_body;
use crate::template::Escape;
use crate::transport::Transport;
use crate::xml::{ResponseError, first_value};

/// The most of a token response that is read.
const MAX_TOKEN_RESPONSE: u64 = 64 * 1024;

/// A token is refreshed this long before it expires at most...
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(30);
/// ...and at least this share of its lifetime before.
const REFRESH_MARGIN_SHARE: u32 = 10;

/// The wait before the second token request after a failure that may pass; it doubles after.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between two token requests.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Time as the token cache needs it: a monotonic now, and waiting.
pub trait Clock {
    /// Time since an arbitrary fixed origin; never goes back.
    fn now(&self) -> Duration;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration);
}

/// The process's monotonic clock (native builds; the component uses wasi:clocks).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug)]
pub struct SystemClock(std::time::Instant);

#[cfg(not(target_arch = "wasm32"))]
impl Default for SystemClock {
    fn default() -> Self {
        SystemClock(std::time::Instant::now())
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// The tokens of one instance, by connection name.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: HashMap<String, Entry>,
    requests: u64,
}

#[derive(Debug)]
struct Entry {
    /// What the token was obtained with: a changed configuration means another token.
    fingerprint: String,
    state: State,
}

#[derive(Debug)]
enum State {
    Valid(Token),
    /// The credentials were refused; the message says so. Nothing is requested again.
    Refused(String),
}

#[derive(Debug, Clone)]
struct Token {
    /// What `${access_token}` and the Authorization header carry: `Bearer abc`.
    value: String,
    /// When to get the next one; `None`: only when refused.
    refresh_at: Option<Duration>,
    /// Obtained because the previous token was refused, and not yet accepted by any call.
    replaces_refused: bool,
}

/// What a token request came to.
enum Obtained {
    Token(Token),
    /// The credentials were refused: fail now, ask no more.
    Refused(String),
    /// A failure that may pass (network, 5xx, 429).
    Transient(String),
    /// An answer that cannot hold a token as configured.
    Unusable(String),
}

impl TokenCache {
    /// Token requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The token to send with a call of `auth`, obtaining or refreshing it when needed.
    pub fn current<T: Transport>(
        &mut self,
        auth: &TokenConnection,
        connection: &Connection,
        transport: &mut T,
        clock: &dyn Clock,
    ) -> Result<String, ErrorKind> {
        let fingerprint = fingerprint(auth, connection)?;
        let now = clock.now();
        match self.entries.get(&auth.name) {
            Some(entry) if entry.fingerprint == fingerprint => match &entry.state {
                State::Refused(message) => return Err(ErrorKind::Authentication(message.clone())),
                State::Valid(token) if token.refresh_at.is_none_or(|at| now < at) => {
                    return Ok(token.value.clone());
                }
                State::Valid(_) => {}
            },
            _ => {
                if let Some(initial) = &auth.initial_token {
                    let value = initial
                        .render(&RuntimeBindings::connection(connection), Escape::None)
                        .map_err(|error| render_error(auth, "accessToken", &error))?;
                    let token = Token {
                        value,
                        refresh_at: None,
                        replaces_refused: false,
                    };
                    self.store(auth, fingerprint, State::Valid(token.clone()));
                    return Ok(token.value);
                }
            }
        }
        self.refresh(auth, connection, fingerprint, false, transport, clock)
    }

    /// A call of `auth` was refused with the current token: returns a new token to try once
    /// more, or the authentication error when trying again cannot help (the refused token was
    /// itself just issued, or there is nowhere to get another).
    pub fn refused<T: Transport>(
        &mut self,
        auth: &TokenConnection,
        connection: &Connection,
        transport: &mut T,
        clock: &dyn Clock,
    ) -> Result<String, ErrorKind> {
        let fingerprint = fingerprint(auth, connection)?;
        let just_issued = matches!(
            self.entries.get(&auth.name).map(|entry| &entry.state),
            Some(State::Valid(token)) if token.replaces_refused
        );
        let hopeless = if just_issued {
            Some(format!(
                "connection `{}`: the endpoint refused a token that was just issued: check tokenType and how the token is sent (the Authorization header, or `${{access_token}}`)",
                auth.name
            ))
        } else if auth.request.is_none() {
            Some(format!(
                "connection `{}`: the endpoint refused the configured accessToken, and the connection has no `url` to get another",
                auth.name
            ))
        } else {
            None
        };
        if let Some(message) = hopeless {
            self.store(auth, fingerprint, State::Refused(message.clone()));
            return Err(ErrorKind::Authentication(message));
        }
        self.refresh(auth, connection, fingerprint, true, transport, clock)
    }

    /// A call of `auth` succeeded with the current token.
    pub fn accepted(&mut self, auth: &TokenConnection) {
        if let Some(Entry {
            state: State::Valid(token),
            ..
        }) = self.entries.get_mut(&auth.name)
        {
            token.replaces_refused = false;
        }
    }

    fn store(&mut self, auth: &TokenConnection, fingerprint: String, state: State) {
        self.entries
            .insert(auth.name.clone(), Entry { fingerprint, state });
    }

    /// Requests a token, trying again (with backoff) after failures that may pass.
    fn refresh<T: Transport>(
        &mut self,
        auth: &TokenConnection,
        connection: &Connection,
        fingerprint: String,
        replaces_refused: bool,
        transport: &mut T,
        clock: &dyn Clock,
    ) -> Result<String, ErrorKind> {
        let Some(request) = &auth.request else {
            let message = format!(
                "connection `{}` has no `url` to get a token from",
                auth.name
            );
            return Err(ErrorKind::Authentication(message));
        };
        let mut backoff = FIRST_BACKOFF;
        let mut last_failure = String::new();
        for attempt in 1..=auth.max_refresh_tries {
            if attempt > 1 {
                clock.sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            self.requests += 1;
            match obtain(auth, request, connection, transport, clock) {
                Obtained::Token(mut token) => {
                    token.replaces_refused = replaces_refused;
                    let value = token.value.clone();
                    self.store(auth, fingerprint, State::Valid(token));
                    return Ok(value);
                }
                Obtained::Refused(message) => {
                    self.store(auth, fingerprint, State::Refused(message.clone()));
                    return Err(ErrorKind::Authentication(message));
                }
                Obtained::Unusable(message) => {
                    self.entries.remove(&auth.name);
                    return Err(ErrorKind::UnexpectedResponse(message));
                }
                Obtained::Transient(message) => last_failure = message,
            }
        }
        self.entries.remove(&auth.name);
        Err(ErrorKind::Transport(format!(
            "connection `{}`: no token from {} after {} tries (maxRefreshTryCount): {last_failure}",
            auth.name,
            request.endpoint.url(),
            auth.max_refresh_tries
        )))
    }
}

/// What identifies the credentials a token was obtained with.
fn fingerprint(auth: &TokenConnection, connection: &Connection) -> Result<String, ErrorKind> {
    let initial = match &auth.initial_token {
        Some(template) => template
            .render(&RuntimeBindings::connection(connection), Escape::None)
            .map_err(|error| render_error(auth, "accessToken", &error))?,
        None => String::new(),
    };
    let request = match &auth.request {
        Some(request) => {
            let rendered = render_request(auth, request, connection)?;
            format!(
                "{}\n{:?}\n{}",
                request.endpoint.url(),
                rendered.headers,
                rendered.body
            )
        }
        None => String::new(),
    };
    Ok(format!("{initial}\n{request}"))
}

fn render_error(auth: &TokenConnection, key: &str, error: &crate::text::TextError) -> ErrorKind {
    ErrorKind::InvalidConfiguration(vec![crate::error::Problem::error(
        crate::config::CONNECTIONJSON,
        Some(format!("{}.{key}, {error}", auth.name)),
        "could not be rendered",
    )])
}

/// The token request, rendered: fields form- or JSON-encoded, XML values XML-escaped.
pub fn render_request(
    auth: &TokenConnection,
    request: &TokenRequest,
    connection: &Connection,
) -> Result<HttpRequest, ErrorKind> {
    let bindings = RuntimeBindings::connection(connection);
    let mut fields = Vec::with_capacity(request.params.len());
    for (name, template) in &request.params {
        let value = template
            .render(&bindings, Escape::None)
            .map_err(|error| render_error(auth, &format!("httpParams.{name}"), &error))?;
        fields.push((name.as_str(), value));
    }
    let body = match request.format {
        BodyFormat::Form => form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(name, value)| (*name, value.as_str())))
            .finish(),
        BodyFormat::Json => {
            let object: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(name, value)| (name.to_string(), Value::String(value.clone())))
                .collect();
            Value::Object(object).to_string()
        }
        BodyFormat::Xml => match &request.xml {
            Some(template) => template
                .render(&bindings, Escape::Xml)
                .map_err(|error| render_error(auth, "requestXml", &error))?,
            None => String::new(),
        },
    };
    let mut headers = Vec::with_capacity(request.headers.len() + 1);
    for (name, template) in &request.headers {
        let value = template
            .render(&bindings, Escape::None)
            .map_err(|error| render_error(auth, &format!("httpHeaders.{name}"), &error))?;
        headers.push((name.clone(), value));
    }
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), request.format.content_type().into()));
    }
    Ok(HttpRequest { body, headers })
}

/// One token request.
fn obtain<T: Transport>(
    auth: &TokenConnection,
    request: &TokenRequest,
    connection: &Connection,
    transport: &mut T,
    clock: &dyn Clock,
) -> Obtained {
    let rendered = match render_request(auth, request, connection) {
        Ok(rendered) => rendered,
        Err(error) => return Obtained::Unusable(format!("{error:?}")),
    };
    let context = || {
        format!(
            "connection `{}`, token request to {}",
            auth.name,
            request.endpoint.url()
        )
    };
    let response = match transport.post(&request.endpoint, &rendered) {
        Ok(response) => response,
        Err(message) => return Obtained::Transient(message),
    };
    let status = response.status;
    let body = match read_body(response.body, MAX_TOKEN_RESPONSE) {
        Ok(body) => body,
        Err(error) => return Obtained::Transient(format!("reading the answer: {error}")),
    };
    match status {
        200..=299 => {}
        429 | 500..=599 => return Obtained::Transient(format!("HTTP {status}")),
        _ => {
            return Obtained::Refused(format!(
                "{}: refused with HTTP {status}{}: check the credentials it sends",
                context(),
                refusal_reason(&body)
            ));
        }
    }
    let issued_at = clock.now();
    match read_token(auth, request, &body) {
        Ok((token, lifetime)) => Obtained::Token(Token {
            value: with_type(&auth.token_type, &token),
            refresh_at: lifetime
                .or(auth.lifetime)
                .map(|lifetime| issued_at + lifetime - refresh_margin(lifetime)),
            replaces_refused: false,
        }),
        Err(TokenAnswer::Refused(reason)) => Obtained::Refused(format!(
            "{}: the login was refused{reason}: check the credentials it sends",
            context()
        )),
        Err(TokenAnswer::Unusable(message)) => {
            Obtained::Unusable(format!("{}: {message}", context()))
        }
    }
}

/// How long before expiry a token is replaced.
fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / REFRESH_MARGIN_SHARE).min(MAX_REFRESH_MARGIN)
}

fn with_type(token_type: &str, token: &str) -> String {
    if token_type.is_empty() {
        token.to_string()
    } else {
        format!("{token_type} {token}")
    }
}

enum TokenAnswer {
    Refused(String),
    Unusable(String),
}

/// The token and its lifetime from a 2xx answer: JSON, XML or form-encoded, told apart by
/// their first character.
fn read_token(
    auth: &TokenConnection,
    request: &TokenRequest,
    body: &[u8],
) -> Result<(String, Option<Duration>), TokenAnswer> {
    let (token, expires_in) = match first_significant_byte(body) {
        Some(b'{') => {
            let json: Value = serde_json::from_slice(body).map_err(|error| {
                TokenAnswer::Unusable(format!("the answer is not valid JSON: {error}"))
            })?;
            (
                json_text(&json, &request.token_path),
                json_text(&json, &request.expires_in_path),
            )
        }
        Some(b'<') => (
            xml_text(body, &request.token_path)?,
            xml_text(body, &request.expires_in_path).unwrap_or(None),
        ),
        _ => {
            let field = |path: &ResponsePath| {
                form_urlencoded::parse(body)
                    .find(|(name, _)| *name == path.text)
                    .map(|(_, value)| value.into_owned())
            };
            (field(&request.token_path), field(&request.expires_in_path))
        }
    };
    let token = token
        .filter(|token| !token.trim().is_empty())
        .ok_or_else(|| {
            TokenAnswer::Unusable(format!(
                "the answer has no token at tokenResponsePath `{}` of connection `{}`",
                request.token_path.text, auth.name
            ))
        })?;
    let lifetime = expires_in
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0 && *seconds < 1e9)
        .map(Duration::from_secs_f64);
    Ok((token, lifetime))
}

fn first_significant_byte(body: &[u8]) -> Option<u8> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// The text at a dotted path of a JSON document (strings and numbers).
pub fn json_text(json: &Value, path: &ResponsePath) -> Option<String> {
    let mut value = json;
    for key in &path.keys {
        value = value.get(key)?;
    }
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// The first value at an XML path; a refused login or a fault is a refusal.
fn xml_text(body: &[u8], path: &ResponsePath) -> Result<Option<String>, TokenAnswer> {
    let Some(xml) = &path.xml else {
        return Ok(None);
    };
    first_value(body, xml).map_err(|error| match error {
        ResponseError::LoginRefused(failure) | ResponseError::OperationFailed(failure) => {
            TokenAnswer::Refused(match failure.message {
                Some(message) => format!(" ({} {}: {message})", failure.operation, failure.status),
                None => format!(" ({} {})", failure.operation, failure.status),
            })
        }
        ResponseError::Fault(fault) => {
            TokenAnswer::Refused(format!(" (SOAP fault {}: {})", fault.code, fault.reason))
        }
        other => TokenAnswer::Unusable(
            match crate::exchange::response_error(other, "tokenResponsePath") {
                ErrorKind::UnexpectedResponse(message) | ErrorKind::Transport(message) => message,
                kind => format!("{kind:?}"),
            },
        ),
    })
}

/// Why a token request was refused, from what the answer says (OAuth's `error` and
/// `error_description`, a SOAP fault, a failed operation); never the whole body, which could
/// echo what was sent.
fn refusal_reason(body: &[u8]) -> String {
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_string);
        return match (text("error"), text("error_description")) {
            (Some(error), Some(description)) => format!(" ({error}: {description})"),
            (Some(error), None) | (None, Some(error)) => format!(" ({error})"),
            (None, None) => String::new(),
        };
    }
    match crate::exchange::check_document(body) {
        Err(ResponseError::Fault(fault)) => {
            format!(" (SOAP fault {}: {})", fault.code, fault.reason)
        }
        Err(ResponseError::LoginRefused(failure) | ResponseError::OperationFailed(failure)) => {
            match failure.message {
                Some(message) => format!(" ({}: {message})", failure.status),
                None => format!(" ({})", failure.status),
            }
        }
        _ => String::new(),
    }
}

/// Whether a call's failed answer says its token was refused: its status is one of
/// `retryFailureStatusCode`, or its error (at `errorPath`, else anywhere in the answer) holds
/// `expiryError` or one of `authError`.
pub fn is_refusal(auth: &TokenConnection, status: u16, body: &[u8]) -> bool {
    if auth.retry_statuses.contains(&status) {
        return true;
    }
    let wanted: Vec<&str> = auth
        .expiry_error
        .iter()
        .chain(&auth.auth_errors)
        .map(String::as_str)
        .collect();
    if wanted.is_empty() {
        return false;
    }
    let error = match &auth.error_path {
        Some(path) => error_at(body, path),
        None => Some(String::from_utf8_lossy(body).into_owned()),
    };
    error.is_some_and(|error| wanted.iter().any(|wanted| error.contains(wanted)))
}

/// The error a refused call's answer holds: at `path` in JSON; in XML, a SOAP fault's or a
/// failed operation's texts, else the value at `path`.
fn error_at(body: &[u8], path: &ResponsePath) -> Option<String> {
    match first_significant_byte(body) {
        Some(b'{') => serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|json| json_text(&json, path)),
        Some(b'<') => match crate::exchange::check_document(body) {
            Err(ResponseError::Fault(fault)) => Some(format!(
                "{} {} {}",
                fault.code,
                fault.reason,
                fault.detail.unwrap_or_default()
            )),
            Err(ResponseError::LoginRefused(failure) | ResponseError::OperationFailed(failure)) => {
                Some(format!(
                    "{} {}",
                    failure.status,
                    failure.message.unwrap_or_default()
                ))
            }
            _ => path
                .xml
                .as_ref()
                .and_then(|xml| first_value(body, xml).ok().flatten()),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests;
