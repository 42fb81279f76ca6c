//! Tokens of the token connections: obtained from their token URL, kept while they are valid,
//! refreshed shortly before they expire and when a call is refused.
//!
//! One [`TokenCache`] serves every call of one component instance, so a job that runs many
//! calls (an import, a burst of provisioning tasks) asks for a token once per lifetime, not
//! once per call. An instance runs one call at a time, so two refreshes of one connection never
//! overlap. Credentials the gateway refused are remembered: later calls fail without another
//! token request, so a refused login never turns into a storm of them. A token the endpoint
//! refuses right after it was issued fails its call without a further refresh.

mod answer;
mod login;

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{Connection, TokenConnection};
use crate::error::ErrorKind;
use crate::template::Escape;
use crate::transport::Transport;

use login::{Failure, Issued, render, render_request, request_token};

/// A token is refreshed this long before it expires at most...
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(30);
/// ...and at least this share of its lifetime before.
const REFRESH_MARGIN_SHARE: u32 = 10;

/// The wait before the second token request after a failure that may pass; it doubles after.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between two token requests.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Time as the token cache needs it: a monotonic now, and waiting.
pub trait Clock {
    /// Time since an arbitrary fixed origin; never goes back.
    fn now(&self) -> Duration;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration);
}

/// The tokens of one instance, by connection name.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: HashMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    /// What the token was obtained with: a changed configuration means another token.
    fingerprint: String,
    state: State,
}

#[derive(Debug)]
enum State {
    Valid(Token),
    /// The gateway refused the credentials; the message says so. Nothing is requested again.
    Refused(String),
}

#[derive(Debug, Clone)]
struct Token {
    /// What `${access_token}` and the Authorization header carry: `Bearer abc`.
    value: String,
    /// When to get the next one; `None`: only when refused.
    refresh_at: Option<Duration>,
    /// When it stops being valid; `None`: unknown.
    expires_at: Option<Duration>,
    /// Obtained because the previous token was refused, and no call has been answered with it
    /// yet: if it is refused too, refreshing again will not help.
    replaces_refused: bool,
}

impl Token {
    fn issued(issued: Issued, at: Duration, replaces_refused: bool) -> Token {
        let margin = |lifetime: Duration| (lifetime / REFRESH_MARGIN_SHARE).min(MAX_REFRESH_MARGIN);
        Token {
            value: issued.value,
            refresh_at: issued
                .lifetime
                .map(|lifetime| at + lifetime - margin(lifetime)),
            expires_at: issued.lifetime.map(|lifetime| at + lifetime),
            replaces_refused,
        }
    }

    fn is_due(&self, now: Duration) -> bool {
        self.refresh_at.is_some_and(|at| now >= at)
    }

    fn is_expired(&self, now: Duration) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

impl TokenCache {
    /// The token to send with a call of `auth`, obtaining or refreshing it when needed. A
    /// refresh that fails for a reason that may pass leaves the current token in use until it
    /// expires.
    pub fn current<T: Transport>(
        &mut self,
        auth: &TokenConnection,
        connection: &Connection,
        transport: &mut T,
        clock: &dyn Clock,
    ) -> Result<String, ErrorKind> {
        let fingerprint = fingerprint(auth, connection);
        let now = clock.now();
        let cached = self
            .entries
            .get(&auth.name)
            .filter(|entry| entry.fingerprint == fingerprint);
        let token = match cached.map(|entry| &entry.state) {
            Some(State::Refused(message)) => {
                return Err(ErrorKind::Authentication(message.clone()));
            }
            Some(State::Valid(token)) if !token.is_due(now) => return Ok(token.value.clone()),
            Some(State::Valid(token)) => Some(token.clone()),
            None => None,
        };
        if token.is_none()
            && let Some(template) = &auth.initial_token
        {
            let initial = render(auth, "accessToken", template, connection, Escape::None)?;
            let token = Token {
                value: initial.clone(),
                refresh_at: None,
                expires_at: None,
                replaces_refused: false,
            };
            self.store(auth, fingerprint, State::Valid(token));
            return Ok(initial);
        }
        match self.refresh(auth, connection, fingerprint, false, transport, clock) {
            Err(ErrorKind::Transport(_)) if token.as_ref().is_some_and(|t| !t.is_expired(now)) => {
                Ok(token.map(|token| token.value).unwrap_or_default())
            }
            result => result,
        }
    }

    /// A call of `auth` was refused with the current token: returns a new token to send the
    /// call with once more, or the authentication error when that cannot help (the refused
    /// token was itself just issued, or there is nowhere to get another).
    pub fn refused<T: Transport>(
        &mut self,
        auth: &TokenConnection,
        connection: &Connection,
        transport: &mut T,
        clock: &dyn Clock,
    ) -> Result<String, ErrorKind> {
        let just_issued = matches!(
            self.entries.get(&auth.name).map(|entry| &entry.state),
            Some(State::Valid(token)) if token.replaces_refused
        );
        if just_issued {
            return Err(ErrorKind::Authentication(format!(
                "connection `{}`: the endpoint refused a token that was just issued: check tokenType and how the token is sent (the Authorization header, or `${{access_token}}`)",
                auth.name
            )));
        }
        if auth.request.is_none() {
            return Err(ErrorKind::Authentication(format!(
                "connection `{}`: the endpoint refused the configured accessToken, and the connection has no `url` to get another",
                auth.name
            )));
        }
        let fingerprint = fingerprint(auth, connection);
        self.refresh(auth, connection, fingerprint, true, transport, clock)
    }

    /// A call of `auth` was answered without its token being refused.
    pub fn answered(&mut self, auth: &TokenConnection) {
        if let Some(Entry {
            state: State::Valid(token),
            ..
        }) = self.entries.get_mut(&auth.name)
        {
            token.replaces_refused = false;
        }
    }

    fn store(&mut self, auth: &TokenConnection, fingerprint: String, state: State) {
        self.entries
            .insert(auth.name.clone(), Entry { fingerprint, state });
    }

    /// Requests a token, trying again with backoff after failures that may pass, up to
    /// `maxRefreshTryCount` times.
    fn refresh<T: Transport>(
        &mut self,
        auth: &TokenConnection,
        connection: &Connection,
        fingerprint: String,
        replaces_refused: bool,
        transport: &mut T,
        clock: &dyn Clock,
    ) -> Result<String, ErrorKind> {
        let Some(request) = &auth.request else {
            return Err(ErrorKind::Authentication(format!(
                "connection `{}` has no `url` to get a token from",
                auth.name
            )));
        };
        let login = render_request(auth, request, connection)?;
        let mut backoff = FIRST_BACKOFF;
        let mut last_failure = String::new();
        for attempt in 1..=auth.max_refresh_tries {
            if attempt > 1 {
                clock.sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            let sent_at = clock.now();
            match request_token(auth, request, &login, transport) {
                Ok(issued) => {
                    let token = Token::issued(issued, sent_at, replaces_refused);
                    let value = token.value.clone();
                    self.store(auth, fingerprint, State::Valid(token));
                    return Ok(value);
                }
                Err(Failure::Refused(message)) => {
                    let state = State::Refused(message.clone());
                    self.store(auth, fingerprint, state);
                    return Err(ErrorKind::Authentication(message));
                }
                Err(Failure::Unusable(kind)) => return Err(kind),
                Err(Failure::Transient(message)) => last_failure = message,
            }
        }
        Err(ErrorKind::Transport(format!(
            "connection `{}`: no token from {} after {} tries (maxRefreshTryCount): {last_failure}",
            auth.name,
            request.endpoint.url(),
            auth.max_refresh_tries
        )))
    }
}

/// What tells whether a cached token was obtained with the same configuration and
/// credentials: the connection's definition and the values of the attributes it reads. Nothing
/// is rendered, so a call whose cached token is still good costs no template work.
fn fingerprint(auth: &TokenConnection, connection: &Connection) -> String {
    let mut fingerprint = auth.definition.clone();
    for name in &auth.attributes {
        fingerprint.push('\n');
        fingerprint.push_str(connection.get(name).unwrap_or_default());
    }
    fingerprint
}

/// Whether a call's failed answer says its token was refused: its status is one of
/// `retryFailureStatusCode`, or its error (at `errorPath`, else anywhere in the answer) holds
/// `expiryError` or one of `authError`.
pub fn is_refusal(auth: &TokenConnection, status: u16, body: &[u8]) -> bool {
    if auth.retry_statuses.contains(&status) {
        return true;
    }
    let mut wanted = auth.expiry_error.iter().chain(&auth.auth_errors).peekable();
    if wanted.peek().is_none() {
        return false;
    }
    answer::error_text(body, auth.error_path.as_ref())
        .is_some_and(|error| wanted.any(|wanted| error.contains(wanted.as_str())))
}

#[cfg(test)]
mod tests;
