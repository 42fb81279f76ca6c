//! What can stop a job, each case with its exit code and a message that says what failed,
//! where, and what to do. Secret values never appear: messages are built from names and from
//! what the remote side said, and [`JobError::redacted`] masks any secret value that a remote
//! side echoed back.

use std::fmt::Write as _;

use crate::connection::{Connection, ConnectionError};
use crate::runtime::{RuntimeError, wit};
use crate::secrets;
use crate::store::StoreError;

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The connection file could not be read or an override is wrong.
    #[error("{0}")]
    Connection(#[from] ConnectionError),
    /// The connection has configuration errors; nothing was sent.
    #[error("the connection is not valid:\n{}", describe_problems(.0))]
    InvalidConfiguration(Vec<wit::Problem>),
    /// The connector reported a failure while talking to Duck Creek.
    #[error("{}", describe_connector_error(.error, .denials))]
    Connector {
        /// The component's error (boxed: it is large, and errors travel by value).
        error: Box<wit::ConnectorError>,
        /// Requests the egress policy denied during the job, with reasons.
        denials: Vec<String>,
    },
    /// The component could not be loaded or trapped.
    #[error("{0}")]
    Runtime(#[from] RuntimeError),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The host could not start a thread a job needs.
    #[error("cannot start the thread that {what}: {source}")]
    Thread {
        /// What the thread is for.
        what: &'static str,
        /// Why it could not start.
        source: std::io::Error,
    },
    /// An access import was asked for before any account import of the endpoint succeeded.
    #[error(
        "endpoint {endpoint} has no successful account import yet: run the account import first (dcconn import --scope accounts, or --scope all); entitlement links need the accounts"
    )]
    AccessBeforeAccounts {
        /// The endpoint.
        endpoint: String,
    },
    /// `import --accept-removals RUN` named a run whose removals this import cannot accept.
    #[error("cannot accept the removals run {run} withheld: {why}")]
    NotAcceptable {
        /// The run named.
        run: i64,
        /// Why not, and what to do.
        why: String,
    },
    /// `--wait` ran out while another import of the endpoint was still running.
    #[error(
        "waited {} s for another import of endpoint {}, which is still running: {busy}; wait longer (--wait=SECONDS), or without a limit (--wait)",
        waited.as_secs(), busy.endpoint
    )]
    WaitedTooLong {
        /// How long the import waited.
        waited: std::time::Duration,
        /// The run still holding the endpoint.
        busy: Box<crate::store::BusyRun>,
    },
}

/// Exit codes, documented in `dcconn --help` and the README.
pub mod exit_code {
    /// Success.
    pub const OK: u8 = 0;
    /// The store, the component or the host itself failed.
    pub const INTERNAL: u8 = 1;
    /// The command line is wrong.
    pub const USAGE: u8 = 2;
    /// The connection is invalid: fix the configuration.
    pub const CONFIGURATION: u8 = 3;
    /// Duck Creek refused the credentials.
    pub const AUTHENTICATION: u8 = 4;
    /// Duck Creek or the network failed: HTTP error, SOAP fault, failed operation, unexpected
    /// response, connection problem, or a request the egress policy denied.
    pub const REMOTE: u8 = 5;
    /// The import completed but a threshold withheld its removals.
    pub const WITHHELD: u8 = 6;
    /// Another import of the endpoint is running (its run holds the endpoint's lease), another
    /// process held the store's write lock longer than the busy timeout, or a worker holds the
    /// task to be cancelled.
    pub const BUSY: u8 = 7;
}

impl JobError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            JobError::Connection(_) | JobError::InvalidConfiguration(_) => exit_code::CONFIGURATION,
            JobError::Connector { error, .. } => match error.kind {
                wit::ErrorKind::InvalidConfiguration(_) => exit_code::CONFIGURATION,
                wit::ErrorKind::Authentication(_) => exit_code::AUTHENTICATION,
                wit::ErrorKind::Unsupported(_) => exit_code::INTERNAL,
                _ => exit_code::REMOTE,
            },
            JobError::Store(
                StoreError::UnknownAccount { .. }
                | StoreError::Missing { .. }
                | StoreError::NoStoreInDatabase { .. }
                | StoreError::Empty { .. }
                | StoreError::NotAStore { .. }
                | StoreError::NeedsMigration { .. }
                | StoreError::BackupRefused { .. }
                | StoreError::UnknownTask { .. }
                | StoreError::TaskEnded { .. },
            ) => exit_code::USAGE,
            JobError::Store(
                StoreError::EndpointBusy(_)
                | StoreError::Busy { .. }
                | StoreError::RunInterrupted { .. }
                | StoreError::TaskHeld { .. },
            )
            | JobError::WaitedTooLong { .. } => exit_code::BUSY,
            JobError::Runtime(_) | JobError::Store(_) | JobError::Thread { .. } => {
                exit_code::INTERNAL
            }
            JobError::AccessBeforeAccounts { .. } | JobError::NotAcceptable { .. } => {
                exit_code::USAGE
            }
        }
    }

    /// The message with every secret value of `connection` masked.
    pub fn redacted(&self, connection: Option<&Connection>) -> String {
        redact(&self.to_string(), connection)
    }
}

/// `text` with every secret masked: the secret attributes of `connection` and everything else
/// this process knows to be secret (placeholders, tokens seen going out; see
/// [`crate::secrets::mask`]).
pub fn redact(text: &str, connection: Option<&Connection>) -> String {
    if let Some(connection) = connection {
        secrets::remember_connection(connection);
    }
    secrets::mask(text)
}

/// The problems, one line each, the same problem at several places once ([`super::problems`]).
fn describe_problems(problems: &[wit::Problem]) -> String {
    let mut out = String::new();
    for group in super::problems::grouped(problems) {
        let _ = writeln!(out, "  {}", group.describe());
    }
    out.trim_end().to_string()
}

/// One problem on one line: `error: ACCOUNTS_IMPORT_JSON (REQUESTXML2, line 1, column 4): ...`.
pub fn describe_problem(problem: &wit::Problem) -> String {
    let severity = match problem.severity {
        wit::Severity::Error => "error",
        wit::Severity::Warning => "warning",
    };
    match &problem.location {
        Some(location) => format!(
            "{severity}: {} ({location}): {}",
            problem.attribute, problem.message
        ),
        None => format!("{severity}: {}: {}", problem.attribute, problem.message),
    }
}

/// A text a server wrote, on one line: its line breaks written as `\r` and `\n`, so that it
/// cannot pass for a line of dcconn's own (a note, a log line) wherever the message is shown.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['\r', '\n', '\u{85}', '\u{2028}', '\u{2029}']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\u{85}' | '\u{2028}' | '\u{2029}' => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A connector error in words, with where it happened and what to do.
pub fn describe_connector_error(error: &wit::ConnectorError, denials: &[String]) -> String {
    let mut out = String::new();
    if let Some(site) = &error.site {
        let _ = write!(out, "{} call {}", site.plan, site.call);
        if let Some(account) = &site.account {
            let _ = write!(out, " (account {account:?})");
        }
        out.push_str(": ");
    }
    match &error.kind {
        wit::ErrorKind::InvalidConfiguration(problems) => {
            let _ = write!(
                out,
                "invalid configuration:\n{}",
                describe_problems(problems)
            );
        }
        wit::ErrorKind::Transport(message) => {
            let _ = write!(out, "transport failure: {message}");
        }
        wit::ErrorKind::HttpStatus(status) => {
            let _ = write!(
                out,
                "HTTP status {}: {}",
                status.status,
                one_line(&status.body_excerpt)
            );
        }
        wit::ErrorKind::SoapFault(fault) => {
            let _ = write!(
                out,
                "SOAP fault {}: {}",
                one_line(&fault.code),
                one_line(&fault.reason)
            );
            if let Some(detail) = &fault.detail {
                let _ = write!(out, " ({})", one_line(detail));
            }
        }
        wit::ErrorKind::OperationFailed(failure) => {
            let _ = write!(
                out,
                "{} answered status {:?}",
                one_line(&failure.operation),
                failure.status
            );
            if let Some(message) = &failure.message {
                let _ = write!(out, ": {}", one_line(message));
            }
        }
        wit::ErrorKind::Authentication(message) => {
            let _ = write!(out, "authentication failed: {message}");
        }
        wit::ErrorKind::UnexpectedResponse(message) => {
            let _ = write!(out, "unexpected response: {message}");
        }
        wit::ErrorKind::Unsupported(message) => {
            let _ = write!(out, "unsupported: {message}");
        }
        wit::ErrorKind::SuccessCriteriaNotMet(failure) => {
            let found = failure.found.as_deref().map_or_else(
                || "nothing was captured".to_string(),
                |found| format!("found {found:?}"),
            );
            let _ = write!(
                out,
                "SUCCESSCRITERIA {}={} not met: {found}",
                failure.name, failure.expected
            );
        }
    }
    for denial in denials {
        let _ = write!(out, "\n  denied by the egress policy: {denial}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_as_written_and_as_escaped() {
        let mut connection = Connection::new("c");
        connection.set("PASSWORD", "p&<\"w'>");
        connection.set("USERNAME", "svc");
        let text = "raw p&<\"w'> escaped p&amp;&lt;&quot;w&apos;&gt; user svc";
        assert_eq!(
            redact(text, Some(&connection)),
            "raw ******** escaped ******** user svc"
        );
    }
}
