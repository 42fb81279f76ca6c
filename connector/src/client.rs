//! Sending the calls of a plan: as rendered for a session connection, or with the token of the
//! call's token connection, refreshed and sent once more when the endpoint refuses it.

use std::cell::RefCell;
use std::rc::Rc;

use crate::config::{Config, HttpRequest, TokenConnection};
use crate::error::ErrorKind;
use crate::exchange::{ERROR_BODY_LIMIT, error_from_body, read_body};
use crate::tokens::{Clock, TokenCache, is_refusal};
use crate::transport::{HttpResponse, Transport};

/// The header a token goes in, unless the call sets it itself.
const AUTHORIZATION: &str = "Authorization";

/// A transport with the token cache and the clock its token connections need.
pub struct Client<T: Transport> {
    transport: T,
    tokens: Rc<RefCell<TokenCache>>,
    clock: Rc<dyn Clock>,
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

    fn post(
        &mut self,
        config: &Config,
        request: &HttpRequest,
    ) -> Result<Answer<T::Body>, ErrorKind> {
        let response = self
            .transport
            .post(&config.endpoint, request)
            .map_err(ErrorKind::Transport)?;
        if (200..300).contains(&response.status) {
            return Ok(Answer::Success(response));
        }
        let status = response.status;
        Ok(Answer::Failure {
            status,
            body: read_body(response.body, ERROR_BODY_LIMIT).map_err(|error| error.to_string()),
        })
    }
}

/// An answer: a 2xx response still to be read, or a failure with the start of its body.
enum Answer<B> {
    Success(HttpResponse<B>),
    Failure {
        status: u16,
        /// The start of the body, or why it could not be read.
        body: Result<Vec<u8>, String>,
    },
}

impl<B> Answer<B> {
    fn is_refusal(&self, auth: &TokenConnection) -> bool {
        match self {
            Answer::Success(_) => false,
            Answer::Failure { status, body } => {
                is_refusal(auth, *status, body.as_deref().unwrap_or_default())
            }
        }
    }

    fn into_result(self) -> Result<HttpResponse<B>, ErrorKind> {
        match self {
            Answer::Success(response) => Ok(response),
            Answer::Failure {
                status,
                body: Ok(body),
            } => Err(error_from_body(status, &body)),
            Answer::Failure {
                status,
                body: Err(error),
            } => Err(ErrorKind::Transport(format!(
                "HTTP status {status} and the body could not be read: {error}"
            ))),
        }
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
