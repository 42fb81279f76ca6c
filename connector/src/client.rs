//! Sending the calls of a plan: as rendered for a session connection, or with the token of the
//! call's token connection, refreshed and sent once more when the endpoint refuses it.

use std::cell::RefCell;
use std::rc::Rc;

use crate::config::{Config, HttpRequest};
use crate::error::ErrorKind;
use crate::exchange::{ERROR_BODY_LIMIT, error_from_body, read_body};
use crate::tokens::{Clock, TokenCache, is_refusal};
use crate::transport::{HttpResponse, Transport};

/// The header a token goes in, unless the call sets it itself.
const AUTHORIZATION: &str = "Authorization";

/// A transport with the token cache and the clock its token connections need.
pub struct Client<T: Transport> {
    /// The way out.
    pub transport: T,
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

    /// The token cache (for tests and figures).
    pub fn tokens(&self) -> Rc<RefCell<TokenCache>> {
        self.tokens.clone()
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
            let response = self.post(config, &request)?;
            return checked(response).map_err(|(status, body)| error_from_body(status, &body));
        };
        let mut token = self.tokens.borrow_mut().current(
            auth,
            &config.connection,
            &mut self.transport,
            &*self.clock,
        )?;
        loop {
            let mut request = render(Some(&token))?;
            with_authorization(&mut request, &token);
            match checked(self.post(config, &request)?) {
                Ok(response) => {
                    self.tokens.borrow_mut().accepted(auth);
                    return Ok(response);
                }
                Err((status, body)) if is_refusal(auth, status, &body) => {
                    token = self.tokens.borrow_mut().refused(
                        auth,
                        &config.connection,
                        &mut self.transport,
                        &*self.clock,
                    )?;
                }
                Err((status, body)) => return Err(error_from_body(status, &body)),
            }
        }
    }

    fn post(
        &mut self,
        config: &Config,
        request: &HttpRequest,
    ) -> Result<HttpResponse<T::Body>, ErrorKind> {
        self.transport
            .post(&config.endpoint, request)
            .map_err(ErrorKind::Transport)
    }
}

/// The response when 2xx; otherwise its status and the start of its body.
fn checked<B: std::io::BufRead>(
    response: HttpResponse<B>,
) -> Result<HttpResponse<B>, (u16, Vec<u8>)> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let status = response.status;
    // A body that cannot be read still leaves the status to judge by.
    let body = read_body(response.body, ERROR_BODY_LIMIT).unwrap_or_default();
    Err((status, body))
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
