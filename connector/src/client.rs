//! Sending the calls of a plan: as rendered for a session connection, or with the token of the
//! call's token connection, refreshed and sent once more when the endpoint refuses it. Read
//! calls (imports, test-connection) are also sent again, with backoff, after a failure that may
//! pass; provisioning calls are not (their retries are the host's task queue).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::config::{Config, HttpRequest, TokenConnection, check_headers};
use crate::error::ErrorKind;
use crate::exchange::{ERROR_BODY_LIMIT, error_from_body, read_body};
use crate::tokens::{Clock, TokenCache, is_refusal};
use crate::transport::{HttpResponse, Transport};

/// The header a token goes in, unless the call sets it itself.
const AUTHORIZATION: &str = "Authorization";

/// How many times a read call is sent at most when it fails for a reason that may pass.
pub const READ_TRIES: u32 = 3;
/// The wait before the second try of a read call; it doubles after each further one.
const READ_FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// The longest `Retry-After` that is honoured; a longer one is waited this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// HTTP statuses that say "try again later".
const TRANSIENT_STATUSES: &[u16] = &[408, 429, 502, 503, 504];

/// A transport with the token cache and the clock its token connections need.
pub struct Client<T: Transport> {
    transport: T,
    tokens: Rc<RefCell<TokenCache>>,
    clock: Rc<dyn Clock>,
}

/// A failed send, with what is needed to decide whether to send again.
struct Failed {
    kind: ErrorKind,
    may_pass: bool,
    retry_after: Option<Duration>,
}

impl From<ErrorKind> for Failed {
    fn from(kind: ErrorKind) -> Self {
        Failed {
            kind,
            may_pass: false,
            retry_after: None,
        }
    }
}

impl<T: Transport> Client<T> {
    /// A client sharing `tokens` with the other calls of the instance.
    pub fn new(transport: T, tokens: Rc<RefCell<TokenCache>>, clock: Rc<dyn Clock>) -> Self {
        Client {
            transport,
            tokens,
            clock,
        }
    }

    /// Sends the request `render` builds (given the token, for a token connection) to
    /// SOAP_ENDPOINT. A 2xx answer is returned unread; any other is read and turned into its
    /// error. When the call's connection is a token connection and the answer says the token was
    /// refused, the token is refreshed and the request sent once more.
    pub fn send(
        &mut self,
        config: &Config,
        connection: Option<&str>,
        render: &dyn Fn(Option<&str>) -> Result<HttpRequest, ErrorKind>,
    ) -> Result<HttpResponse<T::Body>, ErrorKind> {
        self.send_once(config, connection, render)
            .map_err(|failed| failed.kind)
    }

    /// [`Client::send`] for a call that only reads: after a failure that may pass (a refused
    /// or reset connection, a timeout, HTTP 408, 429, 500 without a SOAP fault, 502, 503, 504)
    /// it is sent again, up to [`READ_TRIES`] times, after `Retry-After` when the answer gave
    /// one (at most 30 s), else after a backoff from 500 ms.
    pub fn send_read(
        &mut self,
        config: &Config,
        connection: Option<&str>,
        render: &dyn Fn(Option<&str>) -> Result<HttpRequest, ErrorKind>,
    ) -> Result<HttpResponse<T::Body>, ErrorKind> {
        let mut backoff = READ_FIRST_BACKOFF;
        let mut tries = 1;
        loop {
            match self.send_once(config, connection, render) {
                Err(failed) if failed.may_pass && tries < READ_TRIES => {
                    let wait = failed
                        .retry_after
                        .map_or(backoff, |asked| asked.min(MAX_RETRY_AFTER));
                    self.clock.sleep(wait);
                    backoff *= 2;
                    tries += 1;
                }
                result => return result.map_err(|failed| failed.kind),
            }
        }
    }

    fn send_once(
        &mut self,
        config: &Config,
        connection: Option<&str>,
        render: &dyn Fn(Option<&str>) -> Result<HttpRequest, ErrorKind>,
    ) -> Result<HttpResponse<T::Body>, Failed> {
        let Some(auth) = config.connections.token_for(connection) else {
            let request = render(None)?;
            return self.post(config, &request)?.into_result();
        };
        let mut token = self.tokens.borrow_mut().current(
            auth,
            &config.connection,
            &mut self.transport,
            &*self.clock,
        )?;
        // At most two sends: `refused` fails rather than refresh a token it just issued.
        loop {
            let mut request = render(Some(&token))?;
            with_authorization(&mut request, &token);
            let answer = self.post(config, &request)?;
            if answer.is_refusal(auth) {
                token = self.tokens.borrow_mut().refused(
                    auth,
                    &config.connection,
                    &mut self.transport,
                    &*self.clock,
                )?;
                continue;
            }
            self.tokens.borrow_mut().answered(auth);
            return answer.into_result();
        }
    }

    fn post(&mut self, config: &Config, request: &HttpRequest) -> Result<Answer<T::Body>, Failed> {
        check_headers(request).map_err(ErrorKind::Transport)?;
        let response = self
            .transport
            .post(&config.endpoint, request)
            .map_err(|error| Failed {
                kind: ErrorKind::Transport(error.message),
                may_pass: error.may_pass,
                retry_after: None,
            })?;
        if (200..300).contains(&response.status) {
            return Ok(Answer::Success(response));
        }
        Ok(Answer::Failure {
            status: response.status,
            retry_after: response.retry_after,
            body: read_body(response.body, ERROR_BODY_LIMIT).map_err(|error| error.to_string()),
        })
    }
}

/// An answer: a 2xx response still to be read, or a failure with the start of its body.
enum Answer<B> {
    Success(HttpResponse<B>),
    Failure {
        status: u16,
        retry_after: Option<Duration>,
        /// The start of the body, or why it could not be read.
        body: Result<Vec<u8>, String>,
    },
}

impl<B> Answer<B> {
    fn is_refusal(&self, auth: &TokenConnection) -> bool {
        match self {
            Answer::Success(_) => false,
            Answer::Failure { status, body, .. } => {
                is_refusal(auth, *status, body.as_deref().unwrap_or_default())
            }
        }
    }

    fn into_result(self) -> Result<HttpResponse<B>, Failed> {
        let (status, retry_after, body) = match self {
            Answer::Success(response) => return Ok(response),
            Answer::Failure {
                status,
                retry_after,
                body,
            } => (status, retry_after, body),
        };
        let kind = match body {
            Ok(body) => error_from_body(status, &body),
            Err(error) => ErrorKind::Transport(format!(
                "HTTP status {status} and the body could not be read: {error}"
            )),
        };
        let may_pass = TRANSIENT_STATUSES.contains(&status)
            || (status == 500 && matches!(kind, ErrorKind::HttpStatus { .. }));
        Err(Failed {
            kind,
            may_pass,
            retry_after,
        })
    }
}

/// Adds `Authorization: <token>` unless the request sets that header itself.
pub fn with_authorization(request: &mut HttpRequest, token: &str) {
    if !request
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case(AUTHORIZATION))
    {
        request
            .headers
            .push((AUTHORIZATION.to_string(), token.to_string()));
    }
}
