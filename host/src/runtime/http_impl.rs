//! The wasi:http hooks: every request the component sends passes through
//! [`EgressHooks::send_request`], which asks the [`AllowList`] and either denies it
//! (`HttpRequestDenied`) or writes the connection's secrets into it (see [`crate::secrets`]) and
//! hands it to wasmtime's default client with the host's timeouts. A job may add a [`SendGate`]:
//! asked immediately before each request goes out, it may refuse it, and every request it lets
//! through ends by its deadline, response body included.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, Limited};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks, default_hooks,
};

use super::http_failure::{Target, connect_error_code};
use crate::policy::AllowList;
use crate::runtime::Limits;
use crate::secrets::{self, Secrets, TokenAnswer};

/// The largest request body the host holds to write secrets into: requests are small XML
/// documents; a larger one is refused rather than buffered.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// How many denial messages an instance keeps (a hostile guest could loop).
const MAX_DENIALS_KEPT: usize = 32;

/// What drives a connection's I/O while its response is read.
type ConnectionIo = Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>;

/// A response with the I/O that delivers its body.
type Exchange = Result<(http::Response<WasiBody>, ConnectionIo), HttpError>;

type BoxedResponse = Box<dyn std::future::Future<Output = Exchange> + Send>;

/// A job's say on each request, asked immediately before it goes out.
pub trait SendGate: Send {
    /// Whether a request that ends at the latest `deadline` from now (its connect, first-byte
    /// and between-bytes timeouts together, within the job's deadline; the host cuts it there,
    /// response body included) may go out now. `Err` with the reason refuses it: nothing is sent.
    fn before_send(&mut self, deadline: Duration) -> Result<(), String>;
}

/// The egress policy of one instance.
pub struct EgressHooks {
    allow: AllowList,
    secrets: Arc<Secrets>,
    limits: Limits,
    /// When the job's deadline passes: no network wait lasts beyond it.
    job_deadline: Option<Instant>,
    denials: Arc<Mutex<Vec<String>>>,
    /// The job's check before each request, if it has one.
    gate: Option<Box<dyn SendGate>>,
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
            gate: None,
        }
    }

    /// Lets through only what `allow` permits from now on.
    pub(super) fn set_allow(&mut self, allow: AllowList) {
        self.allow = allow;
    }

    /// Asks `gate` before each request from now on, and cuts each request at its deadline.
    pub(super) fn set_gate(&mut self, gate: Box<dyn SendGate>) {
        self.gate = Some(gate);
    }

    /// Asks the gate, if any, whether a request with `options` may go out now: with a gate, the
    /// instant by which it must end; `Err` with the gate's reason when refused.
    fn pass_gate(&mut self, options: &RequestOptions) -> Result<Option<Instant>, String> {
        let started = Instant::now();
        let own = [
            options.connect_timeout,
            options.first_byte_timeout,
            options.between_bytes_timeout,
        ]
        .into_iter()
        .flatten()
        .fold(Duration::ZERO, Duration::saturating_add);
        let deadline = self.wait_limit(own);
        let Some(gate) = self.gate.as_mut() else {
            return Ok(None);
        };
        gate.before_send(deadline)?;
        Ok(Some(started + deadline))
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
        let deadline = match self.pass_gate(&options) {
            Ok(deadline) => deadline,
            Err(reason) => {
                tracing::debug!(%reason, "request refused before it was sent");
                return Box::new(async move { Err(HttpError::InternalError(Some(reason))) });
            }
        };
        let secrets = self.secrets.clone();
        let max_response = self.limits.max_response_bytes;
        let token_answer = secrets
            .token_request(request.uri())
            .map(|path| path.map(str::to_string));
        let target = Target::of(request.uri());
        let exchange = async move {
            let request = with_secrets(request, &secrets).await?;
            let (response, io) =
                Box::into_pin(default_hooks().send_request(request, Some(options), fut))
                    .await
                    .inspect_err(|error| target.log_failure(error))?;
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
        };
        match deadline {
            Some(deadline) => Box::new(until(deadline, exchange)),
            None => Box::new(exchange),
        }
    }

    // The failure was logged in words where the request is known (`Target::log_failure`);
    // wasmtime's defaults would log it again as debug text.
    fn p2_error_from_connect(&mut self, error: &std::io::Error) -> ErrorCode {
        connect_error_code(error)
    }

    fn p2_error_from_tls(&mut self, _error: &std::io::Error) -> ErrorCode {
        ErrorCode::TlsProtocolError
    }
}

/// `exchange` cut at `deadline`: waiting for the response, reading its body and driving its
/// connection all fail with `ConnectionReadTimeout` once it has passed.
async fn until(
    deadline: Instant,
    exchange: impl std::future::Future<Output = Exchange> + Send,
) -> Exchange {
    let (response, io) = before(deadline, exchange).await?;
    let response = response.map(|body| {
        UntilDeadline {
            body,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(deadline.into())),
        }
        .boxed_unsync()
    });
    let io: ConnectionIo = Box::new(before(deadline, Box::into_pin(io)));
    Ok((response, io))
}

/// `future`, or `ConnectionReadTimeout` once `deadline` has passed. The clock is read before
/// each poll, so nothing more of it runs after the deadline, even in a process that was paused
/// past it and is polled before the timer fires.
async fn before<T>(
    deadline: Instant,
    future: impl std::future::Future<Output = Result<T, HttpError>>,
) -> Result<T, HttpError> {
    let mut future = std::pin::pin!(future);
    let mut timer = std::pin::pin!(tokio::time::sleep_until(deadline.into()));
    std::future::poll_fn(|cx| {
        if passed(deadline, timer.as_mut(), cx) {
            return Poll::Ready(Err(HttpError::ConnectionReadTimeout));
        }
        future.as_mut().poll(cx)
    })
    .await
}

/// Whether `deadline` has passed: by the clock, read first so that a process paused past it
/// runs nothing more, or by `timer` (set to it), which also wakes `cx` when it comes.
fn passed(deadline: Instant, timer: Pin<&mut tokio::time::Sleep>, cx: &mut Context<'_>) -> bool {
    Instant::now() >= deadline || timer.poll(cx).is_ready()
}

/// A response body that fails with `ConnectionReadTimeout` once its deadline has passed, even
/// with more of it at hand.
struct UntilDeadline {
    body: WasiBody,
    deadline: Instant,
    /// Wakes a reader waiting for more at the deadline.
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Body for UntilDeadline {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let deadline = self.deadline;
        if passed(deadline, self.timer.as_mut(), cx) {
            return Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)));
        }
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
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
    fn nothing_more_runs_once_the_deadline_has_passed() {
        let polled = std::sync::atomic::AtomicUsize::new(0);
        let pending = || {
            std::future::poll_fn(|_| {
                polled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Poll::<Result<(), HttpError>>::Pending
            })
        };
        let past = Instant::now() - Duration::from_millis(1);
        let cut = wasmtime_wasi::runtime::in_tokio(before(past, pending()));
        assert!(
            matches!(cut, Err(HttpError::ConnectionReadTimeout)),
            "{cut:?}"
        );
        assert_eq!(polled.load(std::sync::atomic::Ordering::Relaxed), 0);

        let soon = Instant::now() + Duration::from_millis(50);
        let cut = wasmtime_wasi::runtime::in_tokio(before(soon, pending()));
        assert!(
            matches!(cut, Err(HttpError::ConnectionReadTimeout)),
            "{cut:?}"
        );
        assert!(Instant::now() >= soon);
        assert!(polled.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    }

    #[test]
    fn a_body_past_its_deadline_fails_though_more_of_it_is_at_hand() {
        let deadline = Instant::now() - Duration::from_millis(1);
        let body = wasmtime_wasi::runtime::in_tokio(async {
            UntilDeadline {
                body: Full::new(Bytes::from_static(b"all of it"))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
                deadline,
                timer: Box::pin(tokio::time::sleep_until(deadline.into())),
            }
        });
        let read = ready(body.collect());
        assert!(
            matches!(read, Err(HttpError::ConnectionReadTimeout)),
            "{read:?}"
        );
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
