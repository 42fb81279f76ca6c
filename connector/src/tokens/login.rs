//! The token request: rendered from the connection, sent, and its answer classified.

use std::time::Duration;

use serde_json::Value;

use crate::config::{
    BodyFormat, CONNECTIONJSON, Connection, HttpRequest, RuntimeBindings, TokenConnection,
    TokenRequest,
};
use crate::error::{ErrorKind, Problem};
use crate::exchange::read_body;
use crate::template::{Escape, Template};
use crate::transport::Transport;

use super::answer::{NoToken, read_token, refusal_reason};

/// The most of a token answer that is read.
const MAX_TOKEN_ANSWER: u64 = 64 * 1024;

/// A token the gateway issued.
pub(super) struct Issued {
    /// What the calls send: `<tokenType> <token>`.
    pub value: String,
    /// Its lifetime: announced by the answer, else `tokenExpiry`.
    pub lifetime: Option<Duration>,
}

/// Why a token request gave no token.
pub(super) enum Failure {
    /// The credentials were refused (HTTP 400, 401, 403, or a login answered `Failure`).
    Refused(String),
    /// A failure that may pass: the network, HTTP 408, 429 or 5xx.
    Transient(String),
    /// Another answer: trying again will not help until something changes.
    Unusable(ErrorKind),
}

/// Sends the rendered token request `login` and reads the token from the answer.
pub(super) fn request_token<T: Transport>(
    auth: &TokenConnection,
    request: &TokenRequest,
    login: &HttpRequest,
    transport: &mut T,
) -> Result<Issued, Failure> {
    crate::config::check_headers(login)
        .map_err(|message| Failure::Unusable(ErrorKind::Transport(message)))?;
    let response =
        transport
            .post(&request.endpoint, login)
            .map_err(|error| match error.may_pass {
                true => Failure::Transient(error.message),
                false => Failure::Unusable(ErrorKind::Transport(error.message)),
            })?;
    let status = response.status;
    let body = read_body(response.body, MAX_TOKEN_ANSWER)
        .map_err(|error| Failure::Transient(format!("reading the answer: {error}")))?;
    let context = || {
        format!(
            "connection `{}`, token request to {}",
            auth.name,
            request.endpoint.url()
        )
    };
    match status {
        200..=299 => {}
        400 | 401 | 403 => {
            return Err(Failure::Refused(format!(
                "{}: refused with HTTP {status}{}: check the credentials it sends",
                context(),
                refusal_reason(&body)
            )));
        }
        408 | 429 | 500..=599 => return Err(Failure::Transient(format!("HTTP {status}"))),
        _ => {
            return Err(Failure::Unusable(ErrorKind::UnexpectedResponse(format!(
                "{}: answered HTTP {status}: check `url`",
                context()
            ))));
        }
    }
    let answer =
        read_token(&body, &request.token_path, &request.expires_in_path).map_err(|no_token| {
            match no_token {
                NoToken::Refused(reason) => Failure::Refused(format!(
                    "{}: the login was refused ({reason}): check the credentials it sends",
                    context()
                )),
                NoToken::Unreadable(message) => Failure::Unusable(ErrorKind::UnexpectedResponse(
                    format!("{}: {message}", context()),
                )),
            }
        })?;
    let token = answer.token.ok_or_else(|| {
        Failure::Unusable(ErrorKind::InvalidConfiguration(vec![Problem::error(
            CONNECTIONJSON,
            Some(format!("{}.tokenResponsePath", auth.name)),
            format!(
                "the token answer has nothing at `{}`: check the path against the answer",
                request.token_path.text
            ),
        )]))
    })?;
    Ok(Issued {
        value: with_type(&auth.token_type, &token),
        lifetime: answer.lifetime.or(auth.lifetime),
    })
}

/// What the calls send: the token after its type (`Bearer abc`), or alone.
fn with_type(token_type: &str, token: &str) -> String {
    if token_type.is_empty() {
        token.to_string()
    } else {
        format!("{token_type} {token}")
    }
}

/// Renders a template of the connection `auth` with the connection's attributes.
pub(super) fn render(
    auth: &TokenConnection,
    key: &str,
    template: &Template,
    connection: &Connection,
    escape: Escape,
) -> Result<String, ErrorKind> {
    template
        .render(&RuntimeBindings::connection(connection), escape)
        .map_err(|error| {
            ErrorKind::InvalidConfiguration(vec![Problem::error(
                CONNECTIONJSON,
                Some(format!("{}.{key}, {error}", auth.name)),
                "could not be rendered",
            )])
        })
}

/// The token request, rendered: fields form- or JSON-encoded, XML values XML-escaped.
pub(super) fn render_request(
    auth: &TokenConnection,
    request: &TokenRequest,
    connection: &Connection,
) -> Result<HttpRequest, ErrorKind> {
    let mut fields = Vec::with_capacity(request.params.len());
    for (name, template) in &request.params {
        let key = format!("httpParams.{name}");
        fields.push((
            name.as_str(),
            render(auth, &key, template, connection, Escape::None)?,
        ));
    }
    let body = match (request.format, &request.xml) {
        (BodyFormat::Form, _) => form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(name, value)| (*name, value.as_str())))
            .finish(),
        (BodyFormat::Json, _) => Value::Object(
            fields
                .into_iter()
                .map(|(name, value)| (name.to_string(), Value::String(value)))
                .collect(),
        )
        .to_string(),
        (BodyFormat::Xml, Some(xml)) => render(auth, "requestXml", xml, connection, Escape::Xml)?,
        (BodyFormat::Xml, None) => String::new(),
    };
    let mut headers = Vec::with_capacity(request.headers.len() + 1);
    for (name, template) in &request.headers {
        let key = format!("httpHeaders.{name}");
        headers.push((
            name.clone(),
            render(auth, &key, template, connection, Escape::None)?,
        ));
    }
    headers.push(("Content-Type".into(), request.format.content_type().into()));
    Ok(HttpRequest { body, headers })
}
