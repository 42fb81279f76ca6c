//! The one way out: posting a request and reading the response as a stream.
//!
//! In the component this is wasi:http (see `guest::http`); natively it is whatever the caller
//! provides (tests use in-memory bodies, benchmarks a real client), so all logic above it runs
//! and is tested the same in both.

use std::io::BufRead;

use crate::config::{Endpoint, HttpRequest};

/// A response whose body is still to be read.
pub struct HttpResponse<B> {
    /// The HTTP status.
    pub status: u16,
    /// The body, read as it arrives.
    pub body: B,
}

/// Sends requests to the endpoint.
pub trait Transport {
    /// The response body: read incrementally, never held whole.
    type Body: BufRead;

    /// Posts `request` to `endpoint`. An error is a transport failure (refused, reset, denied by
    /// the host's policy) described for an operator.
    fn post(
        &mut self,
        endpoint: &Endpoint,
        request: &HttpRequest,
    ) -> Result<HttpResponse<Self::Body>, String>;
}

#[cfg(test)]
pub(crate) mod canned;
