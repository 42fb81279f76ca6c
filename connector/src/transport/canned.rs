//! A transport for tests: canned responses read in small chunks, requests recorded.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::BufReader;
use std::rc::Rc;
use std::time::Duration;

use crate::client::Client;
use crate::tokens::{Clock, TokenCache};

use crate::config::{Endpoint, HttpRequest};
use crate::transport::{HttpResponse, Transport, TransportError};

/// A status and body, or a transport failure.
pub(crate) type CannedResponse = Result<(u16, String), String>;

/// Answers each post with the next canned response, read in small chunks; records requests.
pub(crate) struct Canned {
    pub(crate) responses: VecDeque<Result<(u16, String), String>>,
    /// Every request posted, in order.
    pub(crate) seen: Vec<HttpRequest>,
    /// The URL of every request posted, in order.
    pub(crate) urls: Vec<String>,
}

impl Transport for &mut Canned {
    type Body = BufReader<std::io::Cursor<Vec<u8>>>;

    fn post(
        &mut self,
        endpoint: &Endpoint,
        request: &HttpRequest,
    ) -> Result<HttpResponse<Self::Body>, TransportError> {
        self.seen.push(request.clone());
        self.urls.push(endpoint.url());
        let (status, body) = self
            .responses
            .pop_front()
            .expect("a canned response per request")
            .map_err(TransportError::transient)?;
        Ok(HttpResponse {
            status,
            retry_after: None,
            body: BufReader::with_capacity(7, std::io::Cursor::new(body.into_bytes())),
        })
    }
}

pub(crate) fn canned(responses: Vec<Result<(u16, String), String>>) -> Canned {
    Canned {
        responses: responses.into(),
        seen: Vec::new(),
        urls: Vec::new(),
    }
}

/// A clock that moves only when told to (or when slept on).
#[derive(Debug, Default)]
pub(crate) struct ManualClock(Cell<Duration>);

impl ManualClock {
    /// Moves the clock forward.
    pub(crate) fn advance(&self, by: Duration) {
        self.0.set(self.0.get() + by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        self.0.get()
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }
}

/// A client over `transport` with a fresh token cache and a manual clock.
pub(crate) fn client(transport: &mut Canned) -> Client<&mut Canned> {
    client_with(transport, Rc::default(), Rc::default())
}

/// A client over `transport` sharing `tokens` and `clock`.
pub(crate) fn client_with(
    transport: &mut Canned,
    tokens: Rc<RefCell<TokenCache>>,
    clock: Rc<ManualClock>,
) -> Client<&mut Canned> {
    Client::new(transport, tokens, clock)
}
