//! One request/response exchange with Duck Creek, shared by imports, provisioning and
//! `test-connection`: send, then turn a failing status into the typed error that fits it.

use std::io::{BufRead, Read};

use crate::client::Client;
use crate::config::{Config, HttpRequest};
use crate::error::ErrorKind;
use crate::path::Path;
use crate::text::excerpt;
use crate::transport::Transport;
use crate::xml::{RecordReader, ResponseError};

/// How much of an error response is read to look for a SOAP fault.
pub const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// How much of an error body is quoted in an `http-status` error.
const EXCERPT_LIMIT: usize = 512;

/// Sends the read request `render` builds through `client` (see [`Client::send_read`]: tried
/// again after failures that may pass); on a 2xx status
/// returns a reader of the response's records, otherwise the error the response amounts to.
pub fn exchange<T: Transport>(
    client: &mut Client<T>,
    config: &Config,
    connection: Option<&str>,
    render: &dyn Fn(Option<&str>) -> Result<HttpRequest, ErrorKind>,
    record_path: &Path,
    value_paths: Vec<Path>,
) -> Result<RecordReader<T::Body>, ErrorKind> {
    let response = client.send_read(config, connection, render)?;
    Ok(RecordReader::new(response.body, record_path, value_paths))
}

/// Reads at most `limit` bytes of a body.
pub fn read_body<B: BufRead>(body: B, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    body.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads `body` to its end, checking for faults, failed operations and syntax.
pub fn check_document(body: &[u8]) -> Result<(), ResponseError> {
    let mut checker = RecordReader::checking_only(body);
    while checker.next_record()?.is_some() {}
    Ok(())
}

/// The error a non-2xx response with this (start of a) body amounts to.
pub fn error_from_body(status: u16, body: &[u8]) -> ErrorKind {
    match check_document(body).err() {
        Some(ResponseError::Fault(fault)) => ErrorKind::SoapFault(fault),
        Some(ResponseError::LoginRefused(failure)) => {
            ErrorKind::Authentication(login_message(&failure))
        }
        Some(ResponseError::OperationFailed(failure)) => ErrorKind::OperationFailed(failure),
        _ if matches!(status, 401 | 403) => ErrorKind::Authentication(format!(
            "the endpoint answered HTTP {status}: check USERNAME and PASSWORD"
        )),
        _ => ErrorKind::HttpStatus {
            status,
            body_excerpt: excerpt(body, EXCERPT_LIMIT),
        },
    }
}

/// The message of a refused login.
pub fn login_message(failure: &crate::error::OperationFailure) -> String {
    match &failure.message {
        Some(message) => format!(
            "{} answered {}: {message}",
            failure.operation, failure.status
        ),
        None => format!(
            "{} answered {}: check USERNAME and PASSWORD",
            failure.operation, failure.status
        ),
    }
}

/// The error kind a response-reading failure amounts to; `path_name` names the configured path
/// (`RESPONSEDATAPATH2`) for a path that matched nothing.
pub fn response_error(error: ResponseError, path_name: &str) -> ErrorKind {
    match error {
        ResponseError::Io(message) => {
            ErrorKind::Transport(format!("reading the response: {message}"))
        }
        ResponseError::Fault(fault) => ErrorKind::SoapFault(fault),
        ResponseError::OperationFailed(failure) => ErrorKind::OperationFailed(failure),
        ResponseError::LoginRefused(failure) => ErrorKind::Authentication(login_message(&failure)),
        ResponseError::Malformed(message) => ErrorKind::UnexpectedResponse(message),
        ResponseError::PathNotFound { found, wanted } => ErrorKind::UnexpectedResponse(format!(
            "{path_name} matched nothing: the response has no `{wanted}` (it has `{found}`); check the path against the response"
        )),
    }
}
