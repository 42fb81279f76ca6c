//! The wasi:http hooks: every request the component sends passes through
//! [`EgressHooks::send_request`], which asks the [`AllowList`] and either denies it
//! (`HttpRequestDenied`) or writes the connection's secrets into it (see [`crate::secrets`]) and
//! hands it to wasmtime's default client with the host's timeouts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http_body_util::{BodyExt, Full, Limited};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks, default_hooks,
};

use crate::policy::AllowList;
use crate::runtime::Limits;
use crate::secrets::{self, Secrets, TokenAnswer};

/// The largest request body the host holds to write secrets into: requests are small XML
/// documents; a larger one is refused rather than buffered.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// How many denial messages an instance keeps (a hostile guest could loop).
const MAX_DENIALS_KEPT: usize = 32;

type BoxedResponse = Box<
    dyn std::future::Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

/// The egress policy of one instance.
pub struct EgressHooks {
    allow: AllowList,
    secrets: Arc<Secrets>,
    limits: Limits,
    /// When the job's deadline passes: no network wait lasts beyond it.
    job_deadline: Option<Instant>,
    denials: Arc<Mutex<Vec<String>>>,
}

impl EgressHooks {
    /// Hooks that let through only what `allow` permits, with `secrets` written in, under the
    /// timeouts and response size of `limits`, for a job starting now.
    pub fn new(allow: AllowList, secrets: Secrets, limits: &Limits) -> Self {
        EgressHooks {
            allow,
            secrets: Arc::new(secrets),
            limits: *limits,
            job_deadline: Instant::now().checked_add(limits.job_deadline),
            denials: Arc::default(),
        }
    }

    /// The longest a network wait may last now: its own limit, and never past the job's
    /// deadline (at least a millisecond, so that a wait at the deadline fails at once).
    fn wait_limit(&self, own: Duration) -> Duration {
        match self.job_deadline {
            Some(deadline) => own
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1)),
            None => own,
        }
    }

    /// The denials so far, each with its reason.
    pub fn denials(&self) -> Vec<String> {
        self.denials
            .lock()
            .map(|list| list.clone())
            .unwrap_or_default()
    }

    fn record_denial(&self, reason: String) {
        if let Ok(mut list) = self.denials.lock()
            && list.len() < MAX_DENIALS_KEPT
        {
            list.push(reason);
        }
    }
}

fn clamp(asked: Option<Duration>, limit: Duration) -> Option<Duration> {
    Some(asked.map_or(limit, |asked| asked.min(limit)))
}

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>,
    ) -> BoxedResponse {
        if let Err(denied) = self.allow.allows_uri(request.uri()) {
            self.record_denial(denied.to_string());
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let asked = options.unwrap_or_default();
        let limits = &self.limits;
        let options = RequestOptions {
            connect_timeout: clamp(
                asked.connect_timeout,
                self.wait_limit(limits.connect_timeout),
            ),
            first_byte_timeout: clamp(
                asked.first_byte_timeout,
                self.wait_limit(limits.first_byte_timeout),
            ),
            between_bytes_timeout: clamp(
                asked.between_bytes_timeout,
                self.wait_limit(limits.between_bytes_timeout),
            ),
        };
        let secrets = self.secrets.clone();
        let max_response = self.limits.max_response_bytes;
        let token_answer = secrets
            .token_request(request.uri())
            .map(|path| path.map(str::to_string));
        Box::new(async move {
            let request = with_secrets(request, &secrets).await?;
            let (response, io) =
                Box::into_pin(default_hooks().send_request(request, Some(options), fut)).await?;
            let response = response.map(|body| {
                let body = limited(body, max_response);
                match &token_answer {
                    Some(token_path) => {
                        TokenAnswer::new(body, token_path.as_deref()).boxed_unsync()
                    }
                    None => body,
                }
            });
            Ok((response, io))
        })
    }
}

/// A response body that fails with `HttpResponseBodySize` once it passes `max` bytes.
fn limited(body: WasiBody, max: u64) -> WasiBody {
    let max_usize = usize::try_from(max).unwrap_or(usize::MAX);
    Limited::new(body, max_usize)
        .map_err(move |error| match error.downcast::<HttpError>() {
            Ok(error) => *error,
            Err(_) => HttpError::HttpResponseBodySize(Some(max)),
        })
        .boxed_unsync()
}

/// The request with the placeholders of `secrets` replaced in its headers and body, and the
/// credentials of its credential headers made known to [`secrets::mask`]. A body that changed gets
/// a Content-Length of its new length; an unchanged one keeps the component's (wasmtime checked
/// it against the bytes the component wrote).
async fn with_secrets(
    request: http::Request<WasiBody>,
    secrets: &Secrets,
) -> Result<http::Request<WasiBody>, HttpError> {
    let (mut parts, body) = request.into_parts();
    reveal_headers(&mut parts.headers, secrets)?;
    if secrets.is_empty() {
        return Ok(http::Request::from_parts(parts, body));
    }
    let bytes = Limited::new(body, MAX_REQUEST_BODY)
        .collect()
        .await
        .map_err(|error| match error.downcast::<HttpError>() {
            // The body's own failure, e.g. fewer or more bytes than its Content-Length declared.
            Ok(error) => *error,
            Err(_) => HttpError::HttpRequestBodySize(Some(MAX_REQUEST_BODY as u64)),
        })?
        .to_bytes();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let revealed = secrets
        .reveal_body(&bytes, content_type)
        .map_err(|error| HttpError::InternalError(Some(error.to_string())))?;
    let bytes = match revealed {
        Some(revealed) => {
            // The component declared the length of what it wrote; the wire carries the revealed
            // body, so it declares that one's (never chunked: many SOAP stacks refuse it).
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(revealed.len()));
            Bytes::from(revealed)
        }
        None => bytes,
    };
    let body = Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync();
    Ok(http::Request::from_parts(parts, body))
}

/// Replaces placeholders in header values, and remembers the credentials the credential
/// headers carry.
fn reveal_headers(headers: &mut HeaderMap, secrets: &Secrets) -> Result<(), HttpError> {
    let internal = |message: String| HttpError::InternalError(Some(message));
    for (name, value) in headers.iter_mut() {
        let Ok(text) = value.to_str() else { continue };
        if let Some(revealed) = secrets
            .reveal_header(text)
            .map_err(|error| internal(format!("the request header `{name}`: {error}")))?
        {
            *value =
                HeaderValue::from_str(&revealed).map_err(|error| internal(error.to_string()))?;
        }
        if secrets::is_credential_header(name.as_str())
            && let Ok(text) = value.to_str()
        {
            secrets::remember_credentials(text);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::connection::Connection;

    /// The output of a future that needs no I/O (bodies here are in memory).
    fn ready<T>(future: impl Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("an in-memory body is never pending"),
        }
    }

    /// A request as the component sends it: its Content-Length declared, before the SOAPAction.
    fn request(body: &str) -> http::Request<WasiBody> {
        http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:8080/dc/services")
            .header(CONTENT_TYPE, "text/xml; charset=utf-8")
            .header(CONTENT_LENGTH, body.len())
            .header("soapaction", "\"urn:x\"")
            .body(
                Full::new(Bytes::from(body.to_owned()))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .unwrap()
    }

    /// The headers and body `with_secrets` sends for `body` with the connection's `password`.
    fn sent(password: Option<&str>, body: &str) -> (Vec<(String, String)>, String) {
        let mut connection = Connection::new("c");
        connection.set("USERNAME", "svc");
        if let Some(password) = password {
            connection.set("PASSWORD", password);
        }
        let secrets = Secrets::of(&connection);
        let (parts, body) = ready(with_secrets(request(body), &secrets))
            .unwrap()
            .into_parts();
        let body = ready(body.collect()).unwrap().to_bytes();
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_string()))
            .collect();
        (headers, String::from_utf8(body.to_vec()).unwrap())
    }

    fn headers(length: usize) -> Vec<(String, String)> {
        [
            ("content-type", "text/xml; charset=utf-8".to_string()),
            ("content-length", length.to_string()),
            ("soapaction", "\"urn:x\"".to_string()),
        ]
        .map(|(name, value)| (name.to_string(), value))
        .to_vec()
    }

    #[test]
    fn a_revealed_body_declares_its_own_length_in_place() {
        let short = "p&<w";
        let long = "a-much-longer-password-than-any-placeholder-".repeat(3);
        for password in [short, long.as_str()] {
            let login =
                |password: &str| format!("<login userName=\"svc\" password=\"{password}\"/>");
            let written = login(&secrets::placeholder("PASSWORD", password));
            let expected = login(&password.replace('&', "&amp;").replace('<', "&lt;"));
            assert_ne!(expected.len(), written.len(), "the length changes");
            let (headers_sent, body) = sent(Some(password), &written);
            assert_eq!(body, expected);
            assert_eq!(headers_sent, headers(expected.len()), "{password}");
        }
    }

    #[test]
    fn an_unchanged_body_keeps_the_components_length() {
        let body = "<login userName=\"svc\"/>";
        for password in [Some("pw-123"), None] {
            assert_eq!(
                sent(password, body),
                (headers(body.len()), body.to_string()),
                "{password:?}"
            );
        }
    }
}
