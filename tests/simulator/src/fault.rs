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
//! {"kind": "stall", "after_bytes": 400000, "operation": "OnlineData.listEntityUsersRq"}
//! {"kind": "empty-users"}
//! {"kind": "echo-request"}
//! ```
//!
//! A `stall` holds its response open after `after_bytes` body bytes until
//! it is released ([`Simulator::release_stall`](crate::Simulator::release_stall)
//! or `DELETE /admin/stalls`), the client goes away, or the simulator shuts
//! down; [`Simulator::wait_for_stall`](crate::Simulator::wait_for_stall)
//! waits for one to reach that point. Only the connection carrying it waits:
//! other requests are served as usual.

use std::fmt;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::server::lock;

fn one() -> u32 {
    1
}

/// The operation that lists users.
pub(crate) const LIST_USERS: &str = "OnlineData.listEntityUsersRq";

/// A fault to inject into the next matching endpoint request(s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// What the fault does (the `kind` tag and its own fields).
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Only requests containing this operation trigger the fault (JSON
    /// default: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// How many matching requests it applies to (JSON default: 1).
    pub count: u32,
}

/// What a [`Fault`] does.
///
/// Every variant has braces, even when empty: `deny_unknown_fields` only
/// applies to struct variants of an internally tagged enum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultKind {
    /// Answer HTTP `status` with `body` (text/plain; default: the reason phrase).
    HttpStatus {
        /// The HTTP status code (100–999; an invalid one becomes 500).
        status: u16,
        /// The response body (text/plain).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// Answer HTTP 500 with a SOAP 1.1 fault envelope (in XML mode too).
    SoapFault {
        /// The `faultcode` (`soap:` is prefixed when it has no prefix).
        code: String,
        /// The `faultstring`.
        reason: String,
        /// Text for `<detail><message>`; no `detail` element when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The matching operations answer `status="Failure"`, code `Injected`,
    /// with `message` as `ExtendedStatusDesc`; the rest of the batch is normal.
    /// An injected failure of `Session.loginRq` leaves the batch
    /// unauthenticated. Without an operation filter, every operation but
    /// `Session.*` fails.
    FailureStatus {
        /// The `ExtendedStatusDesc`.
        message: String,
    },
    /// HTTP 200 with `Content-Type: text/html; charset=utf-8` and the body
    /// `Gateway says hello: not XML at all`.
    NonXml {},
    /// The normal response, cut after `after_bytes` bytes of body (sent
    /// chunked, so the HTTP framing is complete but the XML is not).
    Truncate {
        /// How many body bytes to send.
        #[serde(alias = "afterBytes")]
        after_bytes: usize,
    },
    /// The normal status and headers and the first `after_bytes` bytes of
    /// the body (sent chunked), then nothing until the stall is released,
    /// the client goes away or the simulator shuts down; once released, the
    /// body ends there (as with `truncate`).
    Stall {
        /// How many body bytes to send before stalling.
        #[serde(alias = "afterBytes")]
        after_bytes: usize,
    },
    /// `OnlineData.listEntityUsersRq` answers Success with `<Users/>`.
    EmptyUsers {},
    /// HTTP 500, text/plain, echoing the request's `Authorization` header and its whole body
    /// (credentials included), as careless servers do in their error pages: for testing that a
    /// client masks what a server echoes.
    EchoRequest {},
}

impl<'de> Deserialize<'de> for Fault {
    /// Reads the JSON object (a repeated field is an error), takes
    /// `operation` and `count` out of it and reads the rest as the
    /// [`FaultKind`], whose `deny_unknown_fields` then rejects any other
    /// field. (A derived `#[serde(flatten)]` would not reject a numeric
    /// `kind`: it buffers the fields, and then takes a number for a variant
    /// index.)
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fault, D::Error> {
        let mut fields = deserializer.deserialize_map(FieldsVisitor)?;
        let operation = take(&mut fields, "operation")?.flatten();
        let count = take(&mut fields, "count")?.unwrap_or_else(one);
        let kind = serde_json::from_value(Value::Object(fields)).map_err(de::Error::custom)?;
        Ok(Fault {
            kind,
            operation,
            count,
        })
    }
}

/// Removes field `name` from `fields` and reads it, if present.
fn take<T: DeserializeOwned, E: de::Error>(
    fields: &mut Map<String, Value>,
    name: &str,
) -> Result<Option<T>, E> {
    fields
        .remove(name)
        .map(serde_json::from_value)
        .transpose()
        .map_err(E::custom)
}

/// Reads a map into a JSON object, rejecting repeated keys.
struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fault object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Map::new();
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            if fields.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            fields.insert(key, value);
        }
        Ok(fields)
    }
}

impl From<FaultKind> for Fault {
    /// A fault of this kind for any request, applying once.
    fn from(kind: FaultKind) -> Fault {
        Fault {
            kind,
            operation: None,
            count: 1,
        }
    }
}

/// Whether operation `name` (from a request) is the operation `wanted`
/// (as named in a fault).
pub(crate) fn op_matches(wanted: &str, name: &str) -> bool {
    name == wanted || name.strip_suffix("Rq") == Some(wanted)
}

impl Fault {
    /// An `http-status` fault answering `status` with the default body.
    pub fn http_status(status: u16) -> Fault {
        FaultKind::HttpStatus { status, body: None }.into()
    }

    /// A `soap-fault` fault with `code` and `reason`, no detail.
    pub fn soap_fault(code: impl Into<String>, reason: impl Into<String>) -> Fault {
        FaultKind::SoapFault {
            code: code.into(),
            reason: reason.into(),
            detail: None,
        }
        .into()
    }

    /// A `failure-status` fault for `operation` with `message`.
    pub fn failure_status(operation: impl Into<String>, message: impl Into<String>) -> Fault {
        Fault::from(FaultKind::FailureStatus {
            message: message.into(),
        })
        .for_operation(operation)
    }

    /// An `echo-request` fault.
    pub fn echo_request() -> Fault {
        FaultKind::EchoRequest {}.into()
    }

    /// A `non-xml` fault.
    pub fn non_xml() -> Fault {
        FaultKind::NonXml {}.into()
    }

    /// A `truncate` fault cutting the body after `after_bytes` bytes.
    pub fn truncate(after_bytes: usize) -> Fault {
        FaultKind::Truncate { after_bytes }.into()
    }

    /// A `stall` fault holding the response after `after_bytes` body bytes.
    pub fn stall(after_bytes: usize) -> Fault {
        FaultKind::Stall { after_bytes }.into()
    }

    /// An `empty-users` fault.
    pub fn empty_users() -> Fault {
        FaultKind::EmptyUsers {}.into()
    }

    /// This fault, restricted to requests containing `operation`.
    pub fn for_operation(mut self, operation: impl Into<String>) -> Fault {
        self.operation = Some(operation.into());
        self
    }

    /// This fault, applying to `count` matching requests.
    pub fn times(mut self, count: u32) -> Fault {
        self.count = count;
        self
    }

    /// The operation filter, if any.
    pub fn operation(&self) -> Option<&str> {
        self.operation.as_deref()
    }

    /// How many more matching requests this fault applies to.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether a request with these operation names triggers this fault.
    pub(crate) fn matches<'a>(&self, mut names: impl Iterator<Item = &'a str>) -> bool {
        match (self.operation(), &self.kind) {
            (Some(wanted), _) => names.any(|n| op_matches(wanted, n)),
            (None, FaultKind::EmptyUsers {}) => names.any(|n| n == LIST_USERS),
            (None, FaultKind::FailureStatus { .. }) => names.any(|n| !n.starts_with("Session.")),
            (None, _) => true,
        }
    }

    /// Whether operation `name` of a triggered request is the one that an
    /// injected failure (or empty user list) applies to.
    pub(crate) fn applies_to_operation(&self, name: &str) -> bool {
        match (self.operation(), &self.kind) {
            (_, FaultKind::EmptyUsers {}) => name == LIST_USERS,
            (Some(wanted), _) => op_matches(wanted, name),
            (None, _) => !name.starts_with("Session."),
        }
    }
}

/// The responses held by `stall` faults.
///
/// A response reaching its stall point [`reach`](Stalls::reach)es: it sets
/// the `reached` flag and subscribes to the release counter, whose next
/// change ([`release`](Stalls::release)) lets it end. Both happen under the
/// flag's lock, so a release either sees a stalled response (and frees it)
/// or comes before it (and the response waits for the next one).
pub(crate) struct Stalls {
    /// Whether a response has reached its stall point since the last release.
    reached: Mutex<bool>,
    /// Signalled when `reached` becomes true.
    reached_changed: Condvar,
    /// Bumped by every release.
    releases: watch::Sender<u64>,
}

impl Default for Stalls {
    fn default() -> Self {
        Stalls {
            reached: Mutex::new(false),
            reached_changed: Condvar::new(),
            releases: watch::Sender::new(0),
        }
    }
}

impl Stalls {
    /// Marks a response as stalled; it may end once the receiver sees a
    /// change (or its sender is gone).
    pub fn reach(&self) -> watch::Receiver<u64> {
        let mut reached = lock(&self.reached);
        let releases = self.releases.subscribe();
        *reached = true;
        self.reached_changed.notify_all();
        releases
    }

    /// Whether a response has stalled since the last release.
    pub fn stalled(&self) -> bool {
        *lock(&self.reached)
    }

    /// How many responses are held at their stall point right now.
    pub fn held(&self) -> usize {
        self.releases.receiver_count()
    }

    /// Waits up to `timeout` for a response to stall; whether one has.
    pub fn wait(&self, timeout: Duration) -> bool {
        let reached = lock(&self.reached);
        let (reached, _) = self
            .reached_changed
            .wait_timeout_while(reached, timeout, |reached| !*reached)
            .unwrap_or_else(PoisonError::into_inner);
        *reached
    }

    /// Lets every stalled response end, and clears the flag.
    pub fn release(&self) {
        let mut reached = lock(&self.reached);
        *reached = false;
        self.releases.send_modify(|n| *n = n.wrapping_add(1));
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
        let f: Fault = serde_json::from_str(
            r#"{"kind":"stall","after_bytes":400000,"operation":"A","count":2}"#,
        )
        .unwrap();
        assert_eq!(f, Fault::stall(400_000).for_operation("A").times(2));
        let f: Fault = serde_json::from_str(r#"{"kind":"stall","afterBytes":7}"#).unwrap();
        assert_eq!(f, Fault::stall(7));
        assert_eq!(
            serde_json::to_string(&Fault::stall(9)).unwrap(),
            r#"{"kind":"stall","after_bytes":9,"count":1}"#
        );
        let f: Fault = serde_json::from_str(r#"{"kind":"empty-users"}"#).unwrap();
        assert_eq!(f, Fault::empty_users());
        let f: Fault = serde_json::from_str(
            r#"{"kind":"soap-fault","code":"soap:Server","reason":"r","detail":"d"}"#,
        )
        .unwrap();
        assert!(matches!(
            f.kind,
            FaultKind::SoapFault {
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
        let json = serde_json::to_string(&Fault::failure_status("A", "m").times(2)).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"failure-status","message":"m","operation":"A","count":2}"#
        );
        let f: Fault =
            serde_json::from_str(r#"{"count":2,"operation":"A","kind":"empty-users"}"#).unwrap();
        assert_eq!(f, Fault::empty_users().for_operation("A").times(2));
        // Unknown and repeated fields are rejected for every kind, also
        // next to the shared `operation` and `count`.
        for json in [
            r#"{"kind":"http-status","status":500,"oops":1}"#,
            r#"{"kind":"soap-fault","code":"c","reason":"r","message":"m"}"#,
            r#"{"kind":"failure-status","message":"m","status":1}"#,
            r#"{"kind":"non-xml","count":2,"oops":1}"#,
            r#"{"kind":"truncate","after_bytes":1,"operation":"A","oops":1}"#,
            r#"{"kind":"empty-users","x":null}"#,
            r#"{"kind":"non-xml","count":1,"count":2}"#,
            r#"{"kind":"truncate","afterBytes":1,"after_bytes":2}"#,
            r#"{"kind":"stall"}"#,
            r#"{"kind":"stall","after_bytes":1,"oops":1}"#,
            r#"{"kind":5}"#,
            r#"{"kind":0,"status":500}"#,
        ] {
            assert!(serde_json::from_str::<Fault>(json).is_err(), "{json}");
        }
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
        let f = Fault::from(FaultKind::FailureStatus {
            message: "m".into(),
        });
        assert!(f.matches(ops.iter().copied()));
        assert!(!f.applies_to_operation("Session.loginRq"));
        assert!(f.applies_to_operation("Security.listRolesRq"));
    }

    #[test]
    fn stalls_flag_and_release() {
        let stalls = Stalls::default();
        assert!(!stalls.stalled());
        assert!(!stalls.wait(Duration::from_millis(10)));
        let mut first = stalls.reach();
        assert!(stalls.stalled());
        assert_eq!(stalls.held(), 1);
        assert!(stalls.wait(Duration::ZERO));
        assert!(!first.has_changed().unwrap());
        stalls.release();
        assert!(!stalls.stalled());
        assert!(first.has_changed().unwrap());
        // A stall after a release waits for the next one.
        let second = stalls.reach();
        assert!(!second.has_changed().unwrap());
        first.mark_unchanged();
        stalls.release();
        assert!(second.has_changed().unwrap());
        drop((first, second));
        assert_eq!(stalls.held(), 0);
    }
}
