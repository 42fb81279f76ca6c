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
//! the `Rq` suffix works too). Without it, `empty-users`, `billion-laughs`,
//! `external-entity`, `huge-attribute` and `raw-name` match requests containing
//! `OnlineData.listEntityUsersRq` (the answer to that operation carries the
//! fault), `failure-status` matches requests containing any operation outside
//! `Session.*`, and every other kind matches any request.
//!
//! JSON form (`kind` selects the variant; `count` defaults to 1 and a count
//! of 0 is treated as 1; `after_bytes` and `retry_after` may also be spelled
//! `afterBytes` and `retryAfter`):
//!
//! ```json
//! {"kind": "http-status", "status": 503, "body": "down", "operation": "OnlineData.listEntityUsersRq", "count": 2}
//! {"kind": "http-status", "status": 503, "retry_after": 1}
//! {"kind": "soap-fault", "code": "soap:Server", "reason": "Boom", "detail": "stack trace"}
//! {"kind": "soap12-fault", "code": "env:Receiver", "reason": "Boom"}
//! {"kind": "failure-status", "message": "Database timeout"}
//! {"kind": "non-xml"}
//! {"kind": "truncate", "after_bytes": 100}
//! {"kind": "reset", "after_bytes": 100}
//! {"kind": "stall", "after_bytes": 400000, "operation": "OnlineData.listEntityUsersRq"}
//! {"kind": "malformed"}
//! {"kind": "content-type", "value": "application/json"}
//! {"kind": "gzip"}
//! {"kind": "bom"}
//! {"kind": "chunked"}
//! {"kind": "billion-laughs"}
//! {"kind": "external-entity"}
//! {"kind": "deep-nesting", "depth": 10000}
//! {"kind": "huge-attribute", "bytes": 100000000}
//! {"kind": "empty-users"}
//! {"kind": "raw-name", "name": "ali\u0000ce"}
//! {"kind": "echo-request"}
//! {"kind": "echo-request", "shape": "plain", "pad": 500, "normalise": true}
//! {"kind": "echo-request", "shape": "soap11-fault"}
//! {"kind": "echo-request", "shape": "soap12-fault"}
//! {"kind": "echo-request", "shape": "failure"}
//! {"kind": "echo-request", "shape": "cdata"}
//! {"kind": "echo-request", "shape": "html"}
//! {"kind": "echo-request", "shape": "json"}
//! ```
//!
//! (`echo-request`: `shape` defaults to `plain`, `pad` to 0, `normalise` to
//! false; see [`FaultKind::EchoRequest`] and [`EchoShape`].)
//!
//! Framing: a normal response (no fault) is sent with a `Content-Length`,
//! and so is every fault's answer except those of `truncate`, `stall`,
//! `reset`, `chunked` and `huge-attribute`, which are sent chunked
//! (`Transfer-Encoding: chunked`, no `Content-Length`).
//!
//! The answers that follow the request's mode (a SOAP 1.1 envelope or a bare
//! `<server>` document, like the normal response) are those of
//! `failure-status`, `truncate`, `reset`, `stall`, `pause`, `malformed`,
//! `content-type`, `gzip`, `bom`, `chunked`, `billion-laughs`,
//! `external-entity`, `deep-nesting`, `huge-attribute`, `empty-users`, `raw-name` and
//! `echo-request` with the `failure` or `cdata` shape.
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

/// The default `depth` of a `deep-nesting` fault.
fn default_depth() -> usize {
    10_000
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
    /// Answer HTTP `status` with `body` (text/plain; default: the reason
    /// phrase), and a `Retry-After: <retry_after>` header when that is set.
    HttpStatus {
        /// The HTTP status code (100–999; an invalid one becomes 500).
        status: u16,
        /// The response body (text/plain).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        /// Seconds for a `Retry-After` header (JSON default: no header).
        #[serde(default, alias = "retryAfter", skip_serializing_if = "Option::is_none")]
        retry_after: Option<u32>,
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
    /// Answer HTTP 500 with `Content-Type: application/soap+xml;
    /// charset=utf-8` and a SOAP 1.2 fault (in XML mode too):
    /// `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>{code}</env:Value></env:Code><env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`
    /// after an XML declaration, values escaped.
    Soap12Fault {
        /// The `env:Code/env:Value` (`env:` is prefixed when it has no
        /// prefix), e.g. `env:Receiver`.
        code: String,
        /// The `env:Reason/env:Text`.
        reason: String,
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
    /// the normal body (sent chunked), then the connection is closed (an
    /// ordinary close, not a TCP RST) without the terminating chunk: the
    /// body ends in an error once those bytes have been written to the
    /// socket, and the server drops the connection.
    Reset {
        /// How many body bytes to send before the connection drops.
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
    /// The normal response (sent chunked), held after its first
    /// `after_bytes` bytes like a `stall` until released; then the rest
    /// follows and the response is complete: a slow server, not a broken one.
    Pause {
        /// How many body bytes to send before pausing.
        #[serde(alias = "afterBytes")]
        after_bytes: usize,
    },
    /// HTTP 200, text/xml, the normal response made ill-formed but not
    /// cut short: its `</responses>` end tag is misspelled `</response>`
    /// (everything before and after it is as usual).
    Malformed {},
    /// The normal response with `Content-Type: {value}` instead of
    /// `text/xml; charset=utf-8`. `POST /admin/faults` refuses a value that
    /// is not a valid header value (400); one injected through the Rust API
    /// makes the answer HTTP 500, text/plain.
    ContentType {
        /// The `Content-Type` header value, e.g. `application/json`.
        value: String,
    },
    /// The normal response body gzip-compressed, with `Content-Encoding:
    /// gzip` (and the normal `Content-Type`).
    Gzip {},
    /// The normal response body preceded by the UTF-8 byte-order mark
    /// (bytes EF BB BF).
    Bom {},
    /// The normal response sent chunked (no `Content-Length`) in several
    /// chunks: pieces of at most ⌈length / 8⌉ bytes and at most 16 KiB.
    Chunked {},
    /// HTTP 200, text/xml: the normal response with the classic
    /// entity-expansion DTD (`<!ENTITY lol "lol">`, then `lol1` to `lol9`,
    /// each ten references to the one before) after the XML declaration
    /// (`<!DOCTYPE soap:Envelope [...]>`, or `server` in XML mode), and
    /// `OnlineData.listEntityUsersRq` answering Success with one user
    /// whose element holds `&lol9;`:
    /// `<Users><User id="1" name="lol" email="lol@example.com" status="Active" fullName="Lol">&lol9;<UserEntityMemberships/><Roles/></User></Users>`.
    BillionLaughs {},
    /// HTTP 200, text/xml: like `billion-laughs`, with the DTD
    /// `<!ENTITY xxe SYSTEM "file:///etc/passwd">` and the user
    /// `<User id="1" name="xxe" email="xxe@example.com" status="Active" fullName="Xxe">&xxe;<UserEntityMemberships/><Roles/></User>`.
    ExternalEntity {},
    /// HTTP 200, text/xml: the normal document start down to `<responses>`,
    /// then `depth` nested `<a>` elements and their end tags, then the
    /// normal document end (well-formed, whatever the request asked).
    DeepNesting {
        /// How many nested `<a>` elements (JSON default: 10,000).
        #[serde(default = "default_depth")]
        depth: usize,
    },
    /// HTTP 200, text/xml, sent chunked: the normal response, with
    /// `OnlineData.listEntityUsersRq` answering Success with one user whose
    /// `name` attribute is `bytes` bytes of `x`:
    /// `<Users><User id="1" name="xxx…" email="huge@example.com" status="Active" fullName="Huge"><UserEntityMemberships/><Roles/></User></Users>`.
    /// The value goes out in chunks of at most 1 MiB that share one 1 MiB
    /// buffer, so the simulator never holds the whole value.
    HugeAttribute {
        /// The length of the `name` value, in bytes.
        bytes: usize,
    },
    /// `OnlineData.listEntityUsersRq` answers Success with `<Users/>`.
    EmptyUsers {},
    /// `OnlineData.listEntityUsersRq` answers Success with one user whose
    /// `name` attribute is `name` written raw, unescaped and unchecked (a
    /// NUL, an ESC, a quote), as a broken server writes it:
    /// `<Users><User id="1" name="NAME" email="raw@example.com" status="Active" fullName="Raw"><UserEntityMemberships/><Roles/></User></Users>`.
    RawName {
        /// The bytes of the `name` value, as they are sent.
        name: String,
    },
    /// Echoes the request, credentials included, as careless servers do in
    /// their error pages and messages: for testing that a client masks what a
    /// server echoes, wherever it shows up. Applies to any request (with
    /// `operation` set: to requests containing it).
    ///
    /// The echoed text, ECHO, is `pad` bytes of `E`, then
    /// `could not process: `, then `name: value` for each request header but
    /// `Host`, `Content-Length`, `Content-Type`, `User-Agent`, `Accept` and
    /// `Connection`, in the order received (names lower-case, as the HTTP
    /// stack gives them; values lossy UTF-8), joined by `; `, then ` body: `
    /// and the body (lossy UTF-8), then ` password: ` and the `password`
    /// attribute of the request's first `Session.loginRq` as the request
    /// parser reads it (unescaped; empty without one). The `plain` shape
    /// echoes what this fault always has instead: `pad` bytes of `E`, then
    /// `could not process: Authorization: {value}\n{body}` (an empty value
    /// without the header). With `normalise`, line breaks (`\r\n`, `\r`)
    /// become `\n` and every run of spaces and tabs one space, before any
    /// escaping. How ECHO is sent is `shape`'s to say ([`EchoShape`]).
    EchoRequest {
        /// How the echo is sent (JSON default: `plain`).
        #[serde(default, skip_serializing_if = "EchoShape::is_plain")]
        shape: EchoShape,
        /// How many filler bytes (`E`) start the echo (JSON default: 0): to
        /// make echoed credentials straddle a client's truncation limits.
        #[serde(default, skip_serializing_if = "is_zero")]
        pad: usize,
        /// Whether line breaks and runs of blanks are normalised (JSON
        /// default: false).
        #[serde(default, skip_serializing_if = "is_false")]
        normalise: bool,
    },
}

/// How an [`echo-request`](FaultKind::EchoRequest) fault sends its echo
/// (ECHO).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EchoShape {
    /// HTTP 500, `text/plain; charset=utf-8`: the echo as is (the fault's
    /// original answer; see [`FaultKind::EchoRequest`] for its text).
    #[default]
    Plain,
    /// HTTP 500, `text/xml; charset=utf-8`: a SOAP 1.1 fault (as the
    /// `soap-fault` fault sends it), `faultcode` `soap:Server`, ECHO
    /// XML-escaped as `faultstring`:
    /// `<soap:Fault><faultcode>soap:Server</faultcode><faultstring>ECHO</faultstring></soap:Fault>`.
    Soap11Fault,
    /// HTTP 500, `application/soap+xml; charset=utf-8`: a SOAP 1.2 fault (as
    /// the `soap12-fault` fault sends it), ECHO XML-escaped:
    /// `<env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text xml:lang="en">ECHO</env:Text></env:Reason></env:Fault>`.
    Soap12Fault,
    /// HTTP 200, the normal response of the request's mode, in which the
    /// operations answer `status="Failure"`, code `Injected`, with ECHO
    /// (XML-escaped) as `ExtendedStatusDesc`, as with `failure-status`. With
    /// `operation` set, only the matching operations fail (the rest of the
    /// batch is normal); without it, every operation fails (`Session.*`
    /// included, unlike `failure-status`).
    Failure,
    /// Like `failure`, with ECHO in a CDATA section:
    /// `<ExtendedStatusDesc><![CDATA[ECHO]]></ExtendedStatusDesc>`, each
    /// `]]>` of ECHO split as `]]]]><![CDATA[>` and each character XML
    /// cannot carry replaced by U+FFFD.
    Cdata,
    /// HTTP 500, `text/html; charset=utf-8`:
    /// `<html><body><h1>Error</h1><p>ECHO</p></body></html>`, every
    /// character of ECHO but ASCII letters, digits and space written as a
    /// character reference: decimal for odd code points (`&#39;`), lower-case
    /// hex for even ones (`&#x26;`, `&#xe4;`).
    Html,
    /// HTTP 500, `application/json`: `{"error":"ECHO"}`, ECHO escaped to
    /// ASCII: `\"`, `\\`, `\/`, `\n`, `\r`, `\t`, other control characters
    /// and all non-ASCII ones as `\uxxxx` (lower-case hex; a surrogate pair
    /// above U+FFFF).
    Json,
}

impl EchoShape {
    /// Every shape, in the order of their documentation.
    pub const ALL: [EchoShape; 7] = [
        EchoShape::Plain,
        EchoShape::Soap11Fault,
        EchoShape::Soap12Fault,
        EchoShape::Failure,
        EchoShape::Cdata,
        EchoShape::Html,
        EchoShape::Json,
    ];
}

impl EchoShape {
    /// Whether this is the default shape.
    fn is_plain(&self) -> bool {
        *self == EchoShape::Plain
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl FaultKind {
    /// Whether this kind changes the answer to `OnlineData.listEntityUsersRq`
    /// (and only that).
    pub(crate) fn in_user_list(&self) -> bool {
        matches!(
            self,
            FaultKind::EmptyUsers {}
                | FaultKind::BillionLaughs {}
                | FaultKind::ExternalEntity {}
                | FaultKind::HugeAttribute { .. }
                | FaultKind::RawName { .. }
        )
    }
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
        FaultKind::HttpStatus {
            status,
            body: None,
            retry_after: None,
        }
        .into()
    }

    /// This `http-status` fault, with a `Retry-After: <seconds>` header.
    ///
    /// # Panics
    ///
    /// When this is not an `http-status` fault.
    #[track_caller]
    pub fn with_retry_after(mut self, seconds: u32) -> Fault {
        match &mut self.kind {
            FaultKind::HttpStatus { retry_after, .. } => *retry_after = Some(seconds),
            other => panic!("with_retry_after needs an http-status fault, not {other:?}"),
        }
        self
    }

    /// A `soap12-fault` fault with `code` and `reason`.
    pub fn soap12_fault(code: impl Into<String>, reason: impl Into<String>) -> Fault {
        FaultKind::Soap12Fault {
            code: code.into(),
            reason: reason.into(),
        }
        .into()
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

    /// An `echo-request` fault (shape `plain`, no padding, not normalised).
    pub fn echo_request() -> Fault {
        Fault::echo(EchoShape::Plain)
    }

    /// An `echo-request` fault of `shape` (no padding, not normalised).
    pub fn echo(shape: EchoShape) -> Fault {
        FaultKind::EchoRequest {
            shape,
            pad: 0,
            normalise: false,
        }
        .into()
    }

    /// This `echo-request` fault, with `bytes` filler bytes before the echo.
    ///
    /// # Panics
    ///
    /// When this is not an `echo-request` fault.
    #[track_caller]
    pub fn with_pad(mut self, bytes: usize) -> Fault {
        match &mut self.kind {
            FaultKind::EchoRequest { pad, .. } => *pad = bytes,
            other => panic!("with_pad needs an echo-request fault, not {other:?}"),
        }
        self
    }

    /// This `echo-request` fault, normalising line breaks and blanks.
    ///
    /// # Panics
    ///
    /// When this is not an `echo-request` fault.
    #[track_caller]
    pub fn normalised(mut self) -> Fault {
        match &mut self.kind {
            FaultKind::EchoRequest { normalise, .. } => *normalise = true,
            other => panic!("normalised needs an echo-request fault, not {other:?}"),
        }
        self
    }

    /// A `non-xml` fault.
    pub fn non_xml() -> Fault {
        FaultKind::NonXml {}.into()
    }

    /// A `truncate` fault cutting the body after `after_bytes` bytes.
    pub fn truncate(after_bytes: usize) -> Fault {
        FaultKind::Truncate { after_bytes }.into()
    }

    /// A `reset` fault dropping the connection after `after_bytes` body
    /// bytes.
    pub fn reset(after_bytes: usize) -> Fault {
        FaultKind::Reset { after_bytes }.into()
    }

    /// A `malformed` fault.
    pub fn malformed() -> Fault {
        FaultKind::Malformed {}.into()
    }

    /// A `content-type` fault sending `value` as the `Content-Type`.
    pub fn content_type(value: impl Into<String>) -> Fault {
        FaultKind::ContentType {
            value: value.into(),
        }
        .into()
    }

    /// A `gzip` fault.
    pub fn gzip() -> Fault {
        FaultKind::Gzip {}.into()
    }

    /// A `bom` fault.
    pub fn bom() -> Fault {
        FaultKind::Bom {}.into()
    }

    /// A `chunked` fault.
    pub fn chunked() -> Fault {
        FaultKind::Chunked {}.into()
    }

    /// A `raw-name` fault: one listed user named `name`, written unescaped.
    pub fn raw_name(name: &str) -> Fault {
        FaultKind::RawName {
            name: name.to_owned(),
        }
        .into()
    }

    /// A `billion-laughs` fault.
    pub fn billion_laughs() -> Fault {
        FaultKind::BillionLaughs {}.into()
    }

    /// An `external-entity` fault.
    pub fn external_entity() -> Fault {
        FaultKind::ExternalEntity {}.into()
    }

    /// A `deep-nesting` fault with `depth` nested elements.
    pub fn deep_nesting(depth: usize) -> Fault {
        FaultKind::DeepNesting { depth }.into()
    }

    /// A `huge-attribute` fault with a `name` value of `bytes` bytes.
    pub fn huge_attribute(bytes: usize) -> Fault {
        FaultKind::HugeAttribute { bytes }.into()
    }

    /// A `stall` fault holding the response after `after_bytes` body bytes.
    pub fn stall(after_bytes: usize) -> Fault {
        FaultKind::Stall { after_bytes }.into()
    }

    /// A `pause` fault holding the response after `after_bytes` body bytes until released,
    /// then sending the rest.
    pub fn pause(after_bytes: usize) -> Fault {
        FaultKind::Pause { after_bytes }.into()
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
            (None, kind) if kind.in_user_list() => names.any(|n| n == LIST_USERS),
            (None, FaultKind::FailureStatus { .. }) => names.any(|n| !n.starts_with("Session.")),
            (None, _) => true,
        }
    }

    /// Whether operation `name` of a triggered request is the one that an
    /// injected failure (or empty user list, or echo in a Failure) applies
    /// to.
    pub(crate) fn applies_to_operation(&self, name: &str) -> bool {
        match (self.operation(), &self.kind) {
            (_, kind) if kind.in_user_list() => name == LIST_USERS,
            (Some(wanted), _) => op_matches(wanted, name),
            (None, FaultKind::EchoRequest { .. }) => true,
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

    /// Each JSON reads as its fault, and the fault's serialized form reads back the same.
    fn assert_round_trips(cases: &[(&str, Fault)]) {
        for (json, fault) in cases {
            assert_eq!(
                &serde_json::from_str::<Fault>(json).unwrap(),
                fault,
                "{json}"
            );
            let back = serde_json::to_string(fault).unwrap();
            assert_eq!(
                &serde_json::from_str::<Fault>(&back).unwrap(),
                fault,
                "{back}"
            );
        }
    }

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
    fn json_forms_of_the_matrix_faults() {
        let cases = [
            (
                r#"{"kind":"http-status","status":503,"retry_after":1}"#,
                Fault::http_status(503).with_retry_after(1),
            ),
            (
                r#"{"kind":"http-status","status":429,"retryAfter":7}"#,
                Fault::http_status(429).with_retry_after(7),
            ),
            (r#"{"kind":"reset","after_bytes":100}"#, Fault::reset(100)),
            (r#"{"kind":"reset","afterBytes":0}"#, Fault::reset(0)),
            (
                r#"{"kind":"soap12-fault","code":"env:Receiver","reason":"Boom"}"#,
                Fault::soap12_fault("env:Receiver", "Boom"),
            ),
            (r#"{"kind":"malformed"}"#, Fault::malformed()),
            (
                r#"{"kind":"content-type","value":"application/json"}"#,
                Fault::content_type("application/json"),
            ),
            (r#"{"kind":"gzip"}"#, Fault::gzip()),
            (r#"{"kind":"bom"}"#, Fault::bom()),
            (r#"{"kind":"chunked"}"#, Fault::chunked()),
            (r#"{"kind":"billion-laughs"}"#, Fault::billion_laughs()),
            (r#"{"kind":"external-entity"}"#, Fault::external_entity()),
            (r#"{"kind":"deep-nesting"}"#, Fault::deep_nesting(10_000)),
            (
                r#"{"kind":"deep-nesting","depth":3}"#,
                Fault::deep_nesting(3),
            ),
            (
                r#"{"kind":"huge-attribute","bytes":100000000}"#,
                Fault::huge_attribute(100_000_000),
            ),
        ];
        assert_round_trips(&cases);
        assert_eq!(
            serde_json::to_string(&Fault::http_status(503).with_retry_after(2)).unwrap(),
            r#"{"kind":"http-status","status":503,"retry_after":2,"count":1}"#
        );
        assert_eq!(
            serde_json::to_string(&Fault::http_status(503)).unwrap(),
            r#"{"kind":"http-status","status":503,"count":1}"#
        );
        assert_eq!(
            serde_json::to_string(&Fault::soap12_fault("c", "r")).unwrap(),
            r#"{"kind":"soap12-fault","code":"c","reason":"r","count":1}"#
        );
        for json in [
            r#"{"kind":"http-status","status":503,"retry_after":-1}"#,
            r#"{"kind":"http-status","status":503,"retry_after":1,"retryAfter":2}"#,
            r#"{"kind":"reset"}"#,
            r#"{"kind":"reset","after_bytes":1,"oops":1}"#,
            r#"{"kind":"soap12-fault","code":"c"}"#,
            r#"{"kind":"soap12-fault","code":"c","reason":"r","detail":"d"}"#,
            r#"{"kind":"malformed","x":1}"#,
            r#"{"kind":"content-type"}"#,
            r#"{"kind":"gzip","level":9}"#,
            r#"{"kind":"bom","x":1}"#,
            r#"{"kind":"chunked","size":1}"#,
            r#"{"kind":"billion-laughs","x":1}"#,
            r#"{"kind":"external-entity","x":1}"#,
            r#"{"kind":"deep-nesting","depth":"deep"}"#,
            r#"{"kind":"huge-attribute"}"#,
        ] {
            assert!(serde_json::from_str::<Fault>(json).is_err(), "{json}");
        }
    }

    #[test]
    fn json_forms_of_the_echo_fault() {
        let cases = [
            (r#"{"kind":"echo-request"}"#, Fault::echo_request()),
            (
                r#"{"kind":"echo-request","shape":"plain","pad":0,"normalise":false}"#,
                Fault::echo(EchoShape::Plain),
            ),
            (
                r#"{"kind":"echo-request","shape":"plain","pad":500,"normalise":true}"#,
                Fault::echo_request().with_pad(500).normalised(),
            ),
            (
                r#"{"kind":"echo-request","shape":"soap11-fault"}"#,
                Fault::echo(EchoShape::Soap11Fault),
            ),
            (
                r#"{"kind":"echo-request","shape":"soap12-fault","pad":3}"#,
                Fault::echo(EchoShape::Soap12Fault).with_pad(3),
            ),
            (
                r#"{"kind":"echo-request","shape":"failure","operation":"A","count":2}"#,
                Fault::echo(EchoShape::Failure).for_operation("A").times(2),
            ),
            (
                r#"{"kind":"echo-request","shape":"cdata","normalise":true}"#,
                Fault::echo(EchoShape::Cdata).normalised(),
            ),
            (
                r#"{"kind":"echo-request","shape":"html"}"#,
                Fault::echo(EchoShape::Html),
            ),
            (
                r#"{"kind":"echo-request","shape":"json"}"#,
                Fault::echo(EchoShape::Json),
            ),
        ];
        assert_round_trips(&cases);
        // The defaults are left out, so the plain fault serializes as before.
        assert_eq!(
            serde_json::to_string(&Fault::echo_request()).unwrap(),
            r#"{"kind":"echo-request","count":1}"#
        );
        assert_eq!(
            serde_json::to_string(&Fault::echo(EchoShape::Soap11Fault).with_pad(9).normalised())
                .unwrap(),
            r#"{"kind":"echo-request","shape":"soap11-fault","pad":9,"normalise":true,"count":1}"#
        );
        for json in [
            r#"{"kind":"echo-request","shape":"xml"}"#,
            r#"{"kind":"echo-request","shape":"Plain"}"#,
            r#"{"kind":"echo-request","shape":"soap-fault"}"#,
            r#"{"kind":"echo-request","shape":null}"#,
            r#"{"kind":"echo-request","shape":1}"#,
            r#"{"kind":"echo-request","pad":-1}"#,
            r#"{"kind":"echo-request","pad":"10"}"#,
            r#"{"kind":"echo-request","normalise":"yes"}"#,
            r#"{"kind":"echo-request","normalize":true}"#,
            r#"{"kind":"echo-request","message":"m"}"#,
            r#"{"kind":"echo-request","shape":"json","shape":"html"}"#,
        ] {
            assert!(serde_json::from_str::<Fault>(json).is_err(), "{json}");
        }
    }

    #[test]
    #[should_panic(expected = "with_pad needs an echo-request fault")]
    fn pad_needs_an_echo_fault() {
        let _ = Fault::non_xml().with_pad(1);
    }

    #[test]
    #[should_panic(expected = "normalised needs an echo-request fault")]
    fn normalised_needs_an_echo_fault() {
        let _ = Fault::non_xml().normalised();
    }

    #[test]
    #[should_panic(expected = "with_retry_after needs an http-status fault")]
    fn retry_after_needs_http_status() {
        let _ = Fault::non_xml().with_retry_after(1);
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
        // The faults carried by the user list wait for one.
        for f in [
            Fault::billion_laughs(),
            Fault::external_entity(),
            Fault::huge_attribute(1),
        ] {
            assert!(f.matches(ops.iter().copied()));
            assert!(!f.matches(["Session.loginRq"].into_iter()));
            assert!(f.applies_to_operation("OnlineData.listEntityUsersRq"));
            assert!(!f.applies_to_operation("Security.listRolesRq"));
        }
        for f in [Fault::reset(1), Fault::malformed(), Fault::deep_nesting(1)] {
            assert!(f.matches(["Session.loginRq"].into_iter()));
        }
        let f = Fault::from(FaultKind::FailureStatus {
            message: "m".into(),
        });
        assert!(f.matches(ops.iter().copied()));
        assert!(!f.applies_to_operation("Session.loginRq"));
        assert!(f.applies_to_operation("Security.listRolesRq"));
        // An echo in a Failure answer applies to every operation, logins
        // included, unless restricted to one.
        let f = Fault::echo(EchoShape::Failure);
        assert!(f.matches(["Session.loginRq"].into_iter()));
        assert!(f.applies_to_operation("Session.loginRq"));
        assert!(f.applies_to_operation("Security.listRolesRq"));
        let f = f.for_operation("Security.listRoles");
        assert!(!f.matches(["Session.loginRq"].into_iter()));
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
