//! Typed errors and configuration problems, mirroring the WIT `connector-error` and `problem`.
//!
//! Every error knows where it happened (the plan and call) so that an operator reading it at
//! 2 a.m. knows which part of the configuration or which response to look at.

use std::fmt;

/// How serious a configuration problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The connection cannot be used until it is fixed.
    Error,
    /// Probably not what the author meant, but usable.
    Warning,
}

/// A problem found in a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// How serious it is.
    pub severity: Severity,
    /// The attribute at fault (`ACCOUNTS_IMPORT_JSON`).
    pub attribute: String,
    /// Where inside the attribute (`REQUESTXML2, line 1, column 40`).
    pub location: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// An error-severity problem.
    pub fn error(attribute: &str, location: Option<String>, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Error,
            attribute: attribute.to_string(),
            location,
            message: message.into(),
        }
    }

    /// A warning.
    pub fn warning(attribute: &str, location: Option<String>, message: impl Into<String>) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(attribute, location, message)
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity}: {}", self.attribute)?;
        if let Some(location) = &self.location {
            write!(f, " ({location})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A SOAP 1.1 or 1.2 fault.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SoapFault {
    /// `faultcode` or `Code/Value`.
    pub code: String,
    /// `faultstring` or `Reason/Text`.
    pub reason: String,
    /// The text of `detail`.
    pub detail: Option<String>,
}

/// A Duck Creek operation that answered other than `Success`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationFailure {
    /// The response element (`OnlineData.listEntityUsersRs`).
    pub operation: String,
    /// Its `status`.
    pub status: String,
    /// The message Duck Creek gave, if any was found.
    pub message: Option<String>,
}

/// A SUCCESSCRITERIA that a provisioning call's response did not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriteriaFailure {
    /// The captured name the criterion tests.
    pub name: String,
    /// The value it must have.
    pub expected: String,
    /// The value captured; `None` when the response had none.
    pub found: Option<String>,
}

/// What went wrong; the cases of the WIT `error-kind`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection is unusable.
    #[error("invalid configuration: {}", join_problems(.0))]
    InvalidConfiguration(Vec<Problem>),
    /// The request could not be sent or the response not read.
    #[error("transport failure: {0}")]
    Transport(String),
    /// A non-2xx status without a SOAP fault.
    #[error("HTTP status {status}: {body_excerpt}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// The first bytes of the body.
        body_excerpt: String,
    },
    /// A SOAP fault.
    #[error("SOAP fault {}: {}", .0.code, .0.reason)]
    SoapFault(SoapFault),
    /// An operation answered other than `Success`.
    #[error("{} answered status {:?}{}", .0.operation, .0.status, .0.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    OperationFailed(OperationFailure),
    /// The login was refused.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The response was not what the configuration expects.
    #[error("unexpected response: {0}")]
    UnexpectedResponse(String),
    /// Not implemented in this version.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A provisioning call's SUCCESSCRITERIA did not hold.
    #[error("SUCCESSCRITERIA {}={} not met: {}", .0.name, .0.expected, .0.found.as_deref().map_or_else(|| "no value was captured".to_string(), |found| format!("found {found:?}")))]
    SuccessCriteriaNotMet(CriteriaFailure),
}

fn join_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The call of a plan where a failure happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSite {
    /// The plan attribute (`ACCOUNTS_IMPORT_JSON`).
    pub plan: String,
    /// The call number.
    pub call: u32,
    /// The account an EACHACCOUNT or provisioning call ran for.
    pub account: Option<String>,
}

/// A failure and where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The call it happened in.
    pub site: Option<CallSite>,
}

impl ConnectorError {
    /// An error outside any call.
    pub fn new(kind: ErrorKind) -> Self {
        ConnectorError { kind, site: None }
    }

    /// The same error, placed at a call.
    pub fn at(mut self, site: CallSite) -> Self {
        self.site = Some(site);
        self
    }

    /// A configuration error from the problems found; only errors, warnings dropped.
    pub fn invalid_configuration(problems: Vec<Problem>) -> Self {
        let errors = problems
            .into_iter()
            .filter(|problem| problem.severity == Severity::Error)
            .collect();
        ConnectorError::new(ErrorKind::InvalidConfiguration(errors))
    }
}

impl From<ErrorKind> for ConnectorError {
    fn from(kind: ErrorKind) -> Self {
        ConnectorError::new(kind)
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(site) = &self.site {
            write!(f, "{} call {}", site.plan, site.call)?;
            if let Some(account) = &site.account {
                write!(f, " (account {account:?})")?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for ConnectorError {}
