//! The transport over wasi:http/outgoing-handler: the component's only way out.
//!
//! The response body is read through `std::io::Read` in chunks as the host delivers them, so
//! the XML reader above streams it; nothing holds a whole body.

use std::io::{self, BufReader, Read};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, HeaderError, IncomingBody, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, Scheme,
};
use wasip2::io::streams::{InputStream, StreamError};

use crate::config::{Endpoint, HttpRequest};
use crate::transport::{HttpResponse, Transport, TransportError};

/// The size of one read from the body stream and of the XML reader's buffer.
const READ_CHUNK: u64 = 64 * 1024;

/// blocking-write-and-flush accepts at most 4096 bytes per call (wasi:io/streams).
const WRITE_CHUNK: usize = 4096;

/// The header every request carries with its body's length in bytes.
const CONTENT_LENGTH: &str = "content-length";

/// Posts through the host's wasi:http.
pub struct WasiHttp;

impl Transport for WasiHttp {
    type Body = BufReader<BodyReader>;

    fn post(
        &mut self,
        endpoint: &Endpoint,
        request: &HttpRequest,
    ) -> Result<HttpResponse<Self::Body>, TransportError> {
        let response = send(endpoint, request)?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let taken =
            |what: &str| TransportError::lasting(format!("the response {what} was already taken"));
        let body = response.consume().map_err(|()| taken("body"))?;
        let stream = body.stream().map_err(|()| taken("body stream"))?;
        let reader = BodyReader {
            stream: Some(stream),
            pending: Vec::new(),
            offset: 0,
            body: Some(body),
            _response: response,
        };
        Ok(HttpResponse {
            status,
            retry_after,
            body: BufReader::with_capacity(READ_CHUNK as usize, reader),
        })
    }
}

/// `Retry-After` in seconds (its date form is not used by Duck Creek gateways).
fn retry_after(response: &IncomingResponse) -> Option<std::time::Duration> {
    let values = response.headers().get("retry-after");
    let text = std::str::from_utf8(values.first()?).ok()?;
    text.trim()
        .parse::<u64>()
        .ok()
        .map(std::time::Duration::from_secs)
}

/// Sends `request` and waits for the response's head. Every request (a call's or a token
/// request, both come through here) declares its body's length: the bytes on the wire then do not
/// depend on the host's HTTP client (one that sends a body of unknown length chunked would reach
/// SOAP stacks that refuse chunked requests), and the host can check what the component writes.
fn send(endpoint: &Endpoint, request: &HttpRequest) -> Result<IncomingResponse, TransportError> {
    let body = request.body.as_bytes();
    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_bytes().to_vec()))
        // Templates may not set Content-Length (refused at load); the one declared is ours.
        .filter(|(name, _)| name != CONTENT_LENGTH)
        .chain([(
            CONTENT_LENGTH.to_string(),
            body.len().to_string().into_bytes(),
        )])
        .collect();
    let headers = Fields::from_list(&entries).map_err(|error| {
        // Name the header the host refused (one that is forbidden to set, or that it cannot
        // carry): the first that is refused on its own.
        let refused = entries
            .iter()
            .find(|entry| Fields::from_list(std::slice::from_ref(*entry)).is_err())
            .map_or_else(
                || "a request header".to_string(),
                |(name, _)| format!("the request header `{name}`"),
            );
        let why = match error {
            HeaderError::InvalidSyntax => "it is not a valid header",
            HeaderError::Forbidden => "a component may not set it",
            HeaderError::Immutable => "the headers can no longer change",
        };
        TransportError::lasting(format!("{refused} was refused by the host: {why}"))
    })?;
    let outgoing = OutgoingRequest::new(headers);
    let scheme = if endpoint.scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let refused =
        |what: &str| TransportError::lasting(format!("the host refused the request's {what}"));
    outgoing
        .set_method(&Method::Post)
        .map_err(|()| refused("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    outgoing
        .set_authority(Some(&endpoint.authority))
        .map_err(|()| refused("authority"))?;
    outgoing
        .set_path_with_query(Some(&endpoint.path_and_query))
        .map_err(|()| refused("path"))?;
    let outgoing_body = outgoing
        .body()
        .map_err(|()| TransportError::lasting("the request body was already taken"))?;
    // No timeouts are asked for: the host's limits apply (it knows its network and its users'
    // Duck Creek; a component could not lengthen them anyway).
    let future = outgoing_handler::handle(outgoing, None).map_err(|code| error(&code, endpoint))?;
    // When the host refuses the request, writing fails with a closed stream; the response
    // future then says why, which is the error worth reporting.
    let written = write_body(&outgoing_body, body);
    let finished = OutgoingBody::finish(outgoing_body, None).map_err(|code| error(&code, endpoint));
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(error(&code, endpoint)),
        Some(Err(())) | None => {
            return Err(TransportError::lasting("the response was already taken"));
        }
    };
    written.map_err(TransportError::transient)?;
    finished?;
    Ok(response)
}

fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), String> {
    let stream = body
        .write()
        .map_err(|()| "the request body stream was already taken".to_string())?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|error| format!("sending the request body failed: {}", stream_error(error)))?;
    }
    Ok(())
}

fn stream_error(error: StreamError) -> String {
    match error {
        StreamError::Closed => "the connection was closed".into(),
        StreamError::LastOperationFailed(error) => error.to_debug_string(),
    }
}

/// The host's error code as a transport error: a denial by the host's policy, a malformed
/// request or a refused TLS certificate will not pass by sending again; the rest may.
fn error(code: &ErrorCode, endpoint: &Endpoint) -> TransportError {
    let message = describe(code, endpoint);
    match code {
        ErrorCode::HttpRequestDenied
        | ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestBodySize(_)
        | ErrorCode::HttpResponseBodySize(_)
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsAlertReceived(_)
        | ErrorCode::InternalError(_) => TransportError::lasting(message),
        _ => TransportError::transient(message),
    }
}

/// The host's error code in plain words, naming where the request went (`host:port` and the
/// URL without its query): `cannot connect to 127.0.0.1:9 (http://127.0.0.1:9/dc/services):
/// connection refused`. A denial by the host's egress policy reads as such.
fn describe(code: &ErrorCode, endpoint: &Endpoint) -> String {
    let url = endpoint.shown_url();
    match code {
        ErrorCode::HttpRequestDenied => {
            "the host's policy denied the request (only SOAP_ENDPOINT and the token URLs of CONNECTIONJSON may be reached)".into()
        }
        ErrorCode::InternalError(Some(message)) => format!("the host refused the request: {message}"),
        code => match connect_failure(code) {
            Some(reason) => format!("cannot connect to {} ({url}): {reason}", endpoint.address()),
            None => format!("the request to {url} failed: {}", exchange_failure(code)),
        },
    }
}

/// Why no connection could be made, when `code` says so.
fn connect_failure(code: &ErrorCode) -> Option<String> {
    Some(match code {
        ErrorCode::DnsTimeout => "the host name lookup timed out".into(),
        ErrorCode::DnsError(payload) => match &payload.rcode {
            Some(rcode) => format!("the host name could not be resolved ({rcode})"),
            None => "the host name could not be resolved".into(),
        },
        ErrorCode::DestinationNotFound => "no such host".into(),
        ErrorCode::DestinationUnavailable => "the host is unreachable".into(),
        ErrorCode::DestinationIpProhibited => "the address is prohibited".into(),
        ErrorCode::DestinationIpUnroutable => "the address is unroutable".into(),
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::ConnectionLimitReached => "the host's connection limit is reached".into(),
        ErrorCode::TlsProtocolError => "the TLS handshake failed".into(),
        ErrorCode::TlsCertificateError => "the server's TLS certificate is not trusted".into(),
        ErrorCode::TlsAlertReceived(alert) => match &alert.alert_message {
            Some(message) => format!("the server sent a TLS alert: {message}"),
            None => "the server sent a TLS alert".into(),
        },
        _ => return None,
    })
}

/// What went wrong once connected, in plain words.
fn exchange_failure(code: &ErrorCode) -> String {
    match code {
        ErrorCode::ConnectionTerminated => "the connection was closed".into(),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            "timed out waiting for the response".into()
        }
        ErrorCode::ConnectionWriteTimeout => "timed out sending the request".into(),
        ErrorCode::HttpResponseBodySize(limit) => format!(
            "the response is larger than the host allows ({} bytes)",
            limit.map_or_else(|| "its limit".to_string(), |l| l.to_string())
        ),
        ErrorCode::HttpResponseIncomplete => "the response ended early".into(),
        ErrorCode::HttpResponseHeaderSectionSize(_) | ErrorCode::HttpResponseHeaderSize(_) => {
            "the response headers are too large".into()
        }
        ErrorCode::HttpResponseTransferCoding(_) => {
            "the response's transfer coding is not supported".into()
        }
        ErrorCode::HttpResponseContentCoding(_) => {
            "the response's content coding is not supported".into()
        }
        ErrorCode::HttpRequestBodySize(_) => "the request is larger than the host allows".into(),
        ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpRequestUriTooLong => {
            "the host refused its URL".into()
        }
        ErrorCode::HttpProtocolError => "the server broke the HTTP protocol".into(),
        ErrorCode::HttpUpgradeFailed => "an HTTP upgrade failed".into(),
        ErrorCode::LoopDetected => "a loop was detected".into(),
        ErrorCode::InternalError(None) => "the host failed".into(),
        _ => "the host refused the request".into(),
    }
}

/// The response body as `std::io::Read`. Field order matters: the stream must be dropped
/// before the body, and the body before the response (child resources first).
pub struct BodyReader {
    stream: Option<InputStream>,
    pending: Vec<u8>,
    offset: usize,
    body: Option<IncomingBody>,
    _response: IncomingResponse,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.offset == self.pending.len() {
            let Some(stream) = &self.stream else {
                return Ok(0);
            };
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    self.pending = chunk;
                    self.offset = 0;
                }
                Err(StreamError::Closed) => {
                    self.stream = None;
                    if let Some(body) = self.body.take() {
                        drop(IncomingBody::finish(body));
                    }
                    return Ok(0);
                }
                Err(StreamError::LastOperationFailed(error)) => {
                    return Err(io::Error::other(error.to_debug_string()));
                }
            }
        }
        let count = buf.len().min(self.pending.len() - self.offset);
        buf[..count].copy_from_slice(&self.pending[self.offset..self.offset + count]);
        self.offset += count;
        Ok(count)
    }
}
