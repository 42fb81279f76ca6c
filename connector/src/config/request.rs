//! One request of a plan: the body template, its headers and SOAPAction, checked at load and
//! rendered at run time.

use serde_json::Value;

use crate::error::Problem;
use crate::template::{Bindings, Escape, Template};
use crate::text::TextError;
use crate::xml::check_well_formed;

use super::bindings::{Scope, check_variables};
use super::{Connection, json};

/// SOAP 1.1 envelope namespace.
const SOAP_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// Headers the HTTP layer owns: a template may not set them.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "proxy-authorization",
];

/// How requests and responses are framed (SOAP_OR_XML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SOAP 1.1 envelopes (the default); response paths start with `Body`.
    Soap,
    /// Bare XML documents; response paths start below `server`.
    Xml,
}

impl Mode {
    /// Reads SOAP_OR_XML; absent means SOAP.
    pub fn parse(value: Option<&str>) -> Result<Mode, String> {
        match value.map(|v| v.trim().to_ascii_uppercase()).as_deref() {
            None | Some("SOAP") => Ok(Mode::Soap),
            Some("XML") => Ok(Mode::Xml),
            Some(other) => Err(format!("`{other}` is neither SOAP nor XML")),
        }
    }
}

/// A request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The XML body.
    pub body: String,
    /// Headers, `Content-Type` included.
    pub headers: Vec<(String, String)>,
}

impl HttpRequest {
    /// A request for an XML document with the default headers, wrapped in a SOAP envelope in
    /// SOAP mode.
    pub fn for_document(document: String, mode: Mode) -> HttpRequest {
        let body = match mode {
            Mode::Soap => wrap_in_envelope(&document),
            Mode::Xml => document,
        };
        HttpRequest {
            body,
            headers: vec![("Content-Type".into(), DEFAULT_CONTENT_TYPE.into())],
        }
    }
}

/// What Duck Creek expects when the configuration says nothing else.
const DEFAULT_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// A request template.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    body: Template,
    is_envelope: bool,
    headers: Vec<(String, Template)>,
    soap_action: Option<Template>,
}

/// The raw pieces of a request as configured.
pub(crate) struct RequestParts<'a> {
    /// The attribute holding them.
    pub attribute: &'a str,
    /// Turns a key (`REQUESTXML`) into a location (`REQUESTXML2`, `call 1 (REQUESTXML)`).
    pub locate: &'a dyn Fn(&str) -> String,
    /// REQUESTXML.
    pub xml: &'a str,
    /// REQUESTPARAMS.
    pub params: Option<&'a Value>,
    /// SOAPACTION.
    pub soap_action: Option<&'a str>,
}

impl RequestTemplate {
    /// Parses and checks a request; `None` when it has errors (added to `problems`).
    pub(crate) fn parse(
        parts: &RequestParts<'_>,
        scope: &Scope,
        connection: &Connection,
        mode: super::Mode,
        problems: &mut Vec<Problem>,
    ) -> Option<RequestTemplate> {
        let before = problems.len();
        let body_location = (parts.locate)("REQUESTXML");
        let body = parse_template(parts.attribute, &body_location, parts.xml, problems);
        let mut is_envelope = false;
        if let Some(body) = &body {
            check_variables(
                body,
                scope,
                connection,
                parts.attribute,
                &body_location,
                problems,
            );
            is_envelope = check_body_xml(body, parts.attribute, &body_location, mode, problems);
        }
        let headers = parse_header_templates(parts, "REQUESTPARAMS", scope, connection, problems);
        let soap_action = parts.soap_action.and_then(|text| {
            let location = (parts.locate)("SOAPACTION");
            let template = parse_template(parts.attribute, &location, text, problems)?;
            check_variables(
                &template,
                scope,
                connection,
                parts.attribute,
                &location,
                problems,
            );
            Some(template)
        });
        if problems[before..]
            .iter()
            .any(|p| p.severity == crate::error::Severity::Error)
        {
            return None;
        }
        Some(RequestTemplate {
            body: body?,
            is_envelope,
            headers,
            soap_action,
        })
    }

    /// Renders the request: values XML-escaped into the body, wrapped in a SOAP envelope when
    /// `mode` is SOAP and the template is not one already.
    pub fn render(&self, bindings: &dyn Bindings, mode: Mode) -> Result<HttpRequest, TextError> {
        let rendered = self.body.render(bindings, Escape::Xml)?;
        let body = if mode == Mode::Soap && !self.is_envelope {
            wrap_in_envelope(&rendered)
        } else {
            rendered
        };
        let mut headers = Vec::with_capacity(self.headers.len() + 2);
        for (name, value) in &self.headers {
            headers.push((name.clone(), value.render(bindings, Escape::None)?));
        }
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), DEFAULT_CONTENT_TYPE.into()));
        }
        if let Some(action) = &self.soap_action {
            headers.push(("SOAPAction".into(), action.render(bindings, Escape::None)?));
        }
        Ok(HttpRequest { body, headers })
    }
}

/// Parses one template, adding a problem at its position when it does not parse.
pub(crate) fn parse_template(
    attribute: &str,
    location: &str,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Option<Template> {
    Template::parse(text)
        .map_err(|error| {
            problems.push(Problem::error(
                attribute,
                Some(format!(
                    "{location}, line {}, column {}",
                    error.line, error.column
                )),
                error.message,
            ))
        })
        .ok()
}

/// Checks the body is well-formed once bound and fits the mode; returns whether it is a SOAP
/// envelope.
fn check_body_xml(
    body: &Template,
    attribute: &str,
    location: &str,
    mode: Mode,
    problems: &mut Vec<Problem>,
) -> bool {
    match check_well_formed(&body.with_placeholders_filled()) {
        Ok(root) => {
            let is_envelope = root == "Envelope";
            if is_envelope && mode == Mode::Xml {
                problems.push(Problem::error(
                    attribute,
                    Some(location.to_string()),
                    "SOAP_OR_XML is XML but this request is a SOAP envelope: send the bare `<server>` document, or set SOAP_OR_XML to SOAP",
                ));
            }
            is_envelope
        }
        Err(error) => {
            problems.push(Problem::error(
                attribute,
                Some(format!(
                    "{location}, line {}, column {}",
                    error.line, error.column
                )),
                format!("not well-formed XML once bound: {}", error.message),
            ));
            false
        }
    }
}

/// Parses the header templates of `parts.params` (the key `key`): names checked, values
/// parsed and their variables checked against `scope`.
pub(crate) fn parse_header_templates(
    parts: &RequestParts<'_>,
    key: &str,
    scope: &Scope,
    connection: &Connection,
    problems: &mut Vec<Problem>,
) -> Vec<(String, Template)> {
    let Some(params) = parts.params else {
        return Vec::new();
    };
    let location = (parts.locate)(key);
    let map = match json::object(params) {
        Ok(map) => map,
        Err(message) => {
            problems.push(Problem::error(
                parts.attribute,
                Some(location),
                format!("HTTP headers: {message}"),
            ));
            return Vec::new();
        }
    };
    let mut headers = Vec::new();
    for (name, value) in &map {
        let at = format!("{location}.{name}");
        if !is_header_name(name) {
            problems.push(Problem::error(
                parts.attribute,
                Some(at),
                format!("`{name}` is not a valid HTTP header name"),
            ));
            continue;
        }
        if FORBIDDEN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            problems.push(Problem::error(
                parts.attribute,
                Some(at),
                format!("`{name}` is set by the HTTP layer and cannot be configured"),
            ));
            continue;
        }
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            _ => {
                problems.push(Problem::error(
                    parts.attribute,
                    Some(at),
                    "a header value must be a string",
                ));
                continue;
            }
        };
        if let Some(template) = parse_template(parts.attribute, &at, &text, problems) {
            check_variables(&template, scope, connection, parts.attribute, &at, problems);
            headers.push((name.clone(), template));
        }
    }
    headers
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn wrap_in_envelope(body: &str) -> String {
    let trimmed = body.trim_start();
    let without_declaration = match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(trimmed, |(_, after)| after),
        None => trimmed,
    };
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"{SOAP_ENVELOPE_NS}\"><soapenv:Body>{without_declaration}</soapenv:Body></soapenv:Envelope>"
    )
}
