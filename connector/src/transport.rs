//! The one way out: posting a request and reading the response as a stream.
//!
//! In the component this is wasi:http (see `guest::http`); natively it is whatever the caller
//! provides (tests use in-memory bodies, benchmarks a real client), so all logic above it runs
//! and is tested the same in both.

use std::io::BufRead;
use std::time::Duration;

use crate::config::{Endpoint, HttpRequest};

/// A response whose body is still to be read.
pub struct HttpResponse<B> {
    /// The HTTP status.
    pub status: u16,
    /// `Retry-After`, when the response gave one in seconds.
    pub retry_after: Option<Duration>,
    /// The body, read as it arrives.
    pub body: B,
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What happened, for an operator.
    pub message: String,
    /// Whether sending again may work (a refused or reset connection, a timeout); not for a
    /// request the host's policy denied.
    pub may_pass: bool,
}

impl TransportError {
    /// A failure that may pass.
    pub fn transient(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            may_pass: true,
        }
    }

    /// A failure that will not pass by sending again.
    pub fn lasting(message: impl Into<String>) -> Self {
        TransportError {
            message: message.into(),
            may_pass: false,
        }
    }
}

/// Sends requests to the endpoint.
pub trait Transport {
    /// The response body: read incrementally, never held whole.
    type Body: BufRead;

    /// Posts `request` to `endpoint`. An error is a transport failure (refused, reset, denied by
    /// the host's policy).
    fn post(
        &mut self,
        endpoint: &Endpoint,
        request: &HttpRequest,
    ) -> Result<HttpResponse<Self::Body>, TransportError>;
}

#[cfg(test)]
pub(crate) mod canned;
