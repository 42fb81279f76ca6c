//! Injectable faults.
//!
//! A fault is queued (admin `POST /admin/faults` or
//! [`Simulator::inject_fault`](crate::Simulator::inject_fault)) and applies
//! to the next `count` well-formed endpoint requests that it matches; when
//! several pending faults match a request, the earliest injected one applies
//! (one fault per request). Malformed requests never consume a fault.
//!
//! Matching: with `operation` set, a request matches when one of its
//! operations has that name (`OnlineData.listEntityUsersRq`; the name without
//! the `Rq` suffix works too). Without it, `empty-users` matches requests
//! containing `OnlineData.listEntityUsersRq`, `failure-status` matches
//! requests containing any operation outside `Session.*`, and every other
//! kind matches any request.
//!
//! JSON form (`kind` selects the variant; `count` defaults to 1 and a count
//! of 0 is treated as 1):
//!
//! ```json
//! {"kind": "http-status", "status": 503, "body": "down", "operation": "OnlineData.listEntityUsersRq", "count": 2}
//! {"kind": "soap-fault", "code": "soap:Server", "reason": "Boom", "detail": "stack trace"}
//! {"kind": "failure-status", "message": "Database timeout"}
//! {"kind": "non-xml"}
//! {"kind": "truncate", "after_bytes": 100}
//! {"kind": "empty-users"}
//! ```

use serde::{Deserialize, Serialize};

fn one() -> u32 {
    1
}

fn is_none<T>(v: &Option<T>) -> bool {
    v.is_none()
}

/// The operation that lists users.
pub(crate) const LIST_USERS: &str = "OnlineData.listEntityUsersRq";

/// A fault to inject into the next matching endpoint request(s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// Answer HTTP `status` with `body` (text/plain; default: the reason phrase).
    HttpStatus {
        /// The HTTP status code (100–999; an invalid one becomes 500).
        status: u16,
        /// The response body (text/plain).
        #[serde(default, skip_serializing_if = "is_none")]
        body: Option<String>,
        /// Only requests containing this operation trigger the fault.
        #[serde(default, skip_serializing_if = "is_none")]
        operation: Option<String>,
        /// How many matching requests it applies to.
        #[serde(default = "one")]
        count: u32,
    },
    /// Answer HTTP 500 with a SOAP 1.1 fault envelope (in XML mode too).
    SoapFault {
        /// The `faultcode` (`soap:` is prefixed when it has no prefix).
        code: String,
        /// The `faultstring`.
        reason: String,
        /// Text for `<detail><message>`; no `detail` element when absent.
        #[serde(default, skip_serializing_if = "is_none")]
        detail: Option<String>,
        /// Only requests containing this operation trigger the fault.
        #[serde(default, skip_serializing_if = "is_none")]
        operation: Option<String>,
        /// How many matching requests it applies to.
        #[serde(default = "one")]
        count: u32,
    },
    /// The matching operations answer `status="Failure"`, code `Injected`,
    /// with `message` as `ExtendedStatusDesc`; the rest of the batch is normal.
    /// An injected failure of `Session.loginRq` leaves the batch
    /// unauthenticated.
    FailureStatus {
        /// The `ExtendedStatusDesc`.
        message: String,
        /// The operation that fails (all but `Session.*` when absent).
        #[serde(default, skip_serializing_if = "is_none")]
        operation: Option<String>,
        /// How many matching requests it applies to.
        #[serde(default = "one")]
        count: u32,
    },
    /// HTTP 200 with `Content-Type: text/html; charset=utf-8` and the body
    /// `Gateway says hello: not XML at all`.
    NonXml {
        /// Only requests containing this operation trigger the fault.
        #[serde(default, skip_serializing_if = "is_none")]
        operation: Option<String>,
        /// How many matching requests it applies to.
        #[serde(default = "one")]
        count: u32,
    },
    /// The normal response, cut after `after_bytes` bytes of body (sent
    /// chunked, so the HTTP framing is complete but the XML is not).
    Truncate {
        /// How many body bytes to send.
        #[serde(alias = "afterBytes")]
        after_bytes: usize,
        /// Only requests containing this operation trigger the fault.
        #[serde(default, skip_serializing_if = "is_none")]
        operation: Option<String>,
        /// How many matching requests it applies to.
        #[serde(default = "one")]
        count: u32,
    },
    /// `OnlineData.listEntityUsersRq` answers Success with `<Users/>`.
    EmptyUsers {
        /// Only requests containing this operation trigger the fault.
        #[serde(default, skip_serializing_if = "is_none")]
        operation: Option<String>,
        /// How many matching requests it applies to.
        #[serde(default = "one")]
        count: u32,
    },
}

/// Whether operation `name` (from a request) is the operation `wanted`
/// (as named in a fault).
pub(crate) fn op_matches(wanted: &str, name: &str) -> bool {
    name == wanted || name.strip_suffix("Rq") == Some(wanted)
}

impl Fault {
    /// An `http-status` fault answering `status` with the default body.
    pub fn http_status(status: u16) -> Fault {
        Fault::HttpStatus {
            status,
            body: None,
            operation: None,
            count: 1,
        }
    }

    /// A `soap-fault` fault with `code` and `reason`, no detail.
    pub fn soap_fault(code: impl Into<String>, reason: impl Into<String>) -> Fault {
        Fault::SoapFault {
            code: code.into(),
            reason: reason.into(),
            detail: None,
            operation: None,
            count: 1,
        }
    }

    /// A `failure-status` fault for `operation` with `message`.
    pub fn failure_status(operation: impl Into<String>, message: impl Into<String>) -> Fault {
        Fault::FailureStatus {
            message: message.into(),
            operation: Some(operation.into()),
            count: 1,
        }
    }

    /// A `non-xml` fault.
    pub fn non_xml() -> Fault {
        Fault::NonXml {
            operation: None,
            count: 1,
        }
    }

    /// A `truncate` fault cutting the body after `after_bytes` bytes.
    pub fn truncate(after_bytes: usize) -> Fault {
        Fault::Truncate {
            after_bytes,
            operation: None,
            count: 1,
        }
    }

    /// An `empty-users` fault.
    pub fn empty_users() -> Fault {
        Fault::EmptyUsers {
            operation: None,
            count: 1,
        }
    }

    /// This fault, restricted to requests containing `operation`.
    pub fn for_operation(mut self, operation: impl Into<String>) -> Fault {
        *self.operation_mut() = Some(operation.into());
        self
    }

    /// This fault, applying to `count` matching requests.
    pub fn times(mut self, count: u32) -> Fault {
        *self.count_mut() = count;
        self
    }

    /// The operation filter, if any.
    pub fn operation(&self) -> Option<&str> {
        match self {
            Fault::HttpStatus { operation, .. }
            | Fault::SoapFault { operation, .. }
            | Fault::FailureStatus { operation, .. }
            | Fault::NonXml { operation, .. }
            | Fault::Truncate { operation, .. }
            | Fault::EmptyUsers { operation, .. } => operation.as_deref(),
        }
    }

    /// How many more matching requests this fault applies to.
    pub fn count(&self) -> u32 {
        match self {
            Fault::HttpStatus { count, .. }
            | Fault::SoapFault { count, .. }
            | Fault::FailureStatus { count, .. }
            | Fault::NonXml { count, .. }
            | Fault::Truncate { count, .. }
            | Fault::EmptyUsers { count, .. } => *count,
        }
    }

    fn operation_mut(&mut self) -> &mut Option<String> {
        match self {
            Fault::HttpStatus { operation, .. }
            | Fault::SoapFault { operation, .. }
            | Fault::FailureStatus { operation, .. }
            | Fault::NonXml { operation, .. }
            | Fault::Truncate { operation, .. }
            | Fault::EmptyUsers { operation, .. } => operation,
        }
    }

    pub(crate) fn count_mut(&mut self) -> &mut u32 {
        match self {
            Fault::HttpStatus { count, .. }
            | Fault::SoapFault { count, .. }
            | Fault::FailureStatus { count, .. }
            | Fault::NonXml { count, .. }
            | Fault::Truncate { count, .. }
            | Fault::EmptyUsers { count, .. } => count,
        }
    }

    /// Whether a request with these operation names triggers this fault.
    pub(crate) fn matches<'a>(&self, mut names: impl Iterator<Item = &'a str>) -> bool {
        match (self.operation(), self) {
            (Some(wanted), _) => names.any(|n| op_matches(wanted, n)),
            (None, Fault::EmptyUsers { .. }) => names.any(|n| n == LIST_USERS),
            (None, Fault::FailureStatus { .. }) => names.any(|n| !n.starts_with("Session.")),
            (None, _) => true,
        }
    }

    /// Whether operation `name` of a triggered request is the one that an
    /// injected failure (or empty user list) applies to.
    pub(crate) fn applies_to_operation(&self, name: &str) -> bool {
        match (self.operation(), self) {
            (_, Fault::EmptyUsers { .. }) => name == LIST_USERS,
            (Some(wanted), _) => op_matches(wanted, name),
            (None, _) => !name.starts_with("Session."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        let f: Fault = serde_json::from_str(
            r#"{"kind":"http-status","status":503,"operation":"OnlineData.listEntityUsersRq"}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            Fault::http_status(503).for_operation("OnlineData.listEntityUsersRq")
        );
        let f: Fault =
            serde_json::from_str(r#"{"kind":"truncate","after_bytes":10,"count":3}"#).unwrap();
        assert_eq!(f, Fault::truncate(10).times(3));
        let f: Fault = serde_json::from_str(r#"{"kind":"truncate","afterBytes":10}"#).unwrap();
        assert_eq!(f, Fault::truncate(10));
        let f: Fault = serde_json::from_str(r#"{"kind":"non-xml"}"#).unwrap();
        assert_eq!(f, Fault::non_xml());
        let f: Fault = serde_json::from_str(r#"{"kind":"empty-users"}"#).unwrap();
        assert_eq!(f, Fault::empty_users());
        let f: Fault = serde_json::from_str(
            r#"{"kind":"soap-fault","code":"soap:Server","reason":"r","detail":"d"}"#,
        )
        .unwrap();
        assert!(matches!(
            f,
            Fault::SoapFault {
                detail: Some(_),
                ..
            }
        ));
        let f: Fault = serde_json::from_str(r#"{"kind":"failure-status","message":"m"}"#).unwrap();
        assert_eq!(f.count(), 1);
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"bogus"}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"non-xml","oops":1}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"http-status"}"#).is_err());
        let json = serde_json::to_string(&Fault::truncate(5)).unwrap();
        assert_eq!(json, r#"{"kind":"truncate","after_bytes":5,"count":1}"#);
    }

    #[test]
    fn matching() {
        let ops = ["Session.loginRq", "OnlineData.listEntityUsersRq"];
        assert!(Fault::non_xml().matches(ops.iter().copied()));
        assert!(Fault::empty_users().matches(ops.iter().copied()));
        assert!(!Fault::empty_users().matches(["Session.loginRq"].into_iter()));
        assert!(
            Fault::non_xml()
                .for_operation("OnlineData.listEntityUsers")
                .matches(ops.iter().copied())
        );
        assert!(
            !Fault::non_xml()
                .for_operation("Security.listRolesRq")
                .matches(ops.iter().copied())
        );
        let f = Fault::FailureStatus {
            message: "m".into(),
            operation: None,
            count: 1,
        };
        assert!(f.matches(ops.iter().copied()));
        assert!(!f.applies_to_operation("Session.loginRq"));
        assert!(f.applies_to_operation("Security.listRolesRq"));
    }
}
