//! One request of a plan: the body template, its headers and SOAPAction, checked at load and
//! rendered at run time.

use serde_json::Value;

use crate::error::Problem;
use crate::expr::markup::{self, Piece};
use crate::template::{Bindings, Escape, Template};
use crate::text::{TextError, line_column};
use crate::xml::check_well_formed;

use super::bindings::{Scope, ScopeKind, check_variables};
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
    body: Body,
    headers: Vec<(String, Template)>,
    soap_action: Option<Template>,
}

/// A template of a request and where it is configured.
#[derive(Debug, Clone, Copy)]
pub struct TemplatePlace<'a> {
    /// The key: `REQUESTXML`, `REQUESTPARAMS` or `SOAPACTION`.
    pub key: &'static str,
    /// The header's name, for a `REQUESTPARAMS` template.
    pub header: Option<&'a str>,
    /// The template.
    pub template: &'a Template,
}

/// The two ways a REQUESTXML is written.
#[derive(Debug, Clone)]
enum Body {
    /// Markup with placeholders, checked well-formed at load.
    Markup {
        template: Template,
        /// The markup is a SOAP envelope already: it is sent as is.
        is_envelope: bool,
    },
    /// One `${...}` that builds the whole request ([`markup`]): checked at load where its
    /// branches are literal enough, and its result at run time; empty means "send nothing".
    Expression(Template),
}

/// The raw pieces of a request as configured.
pub(crate) struct RequestParts<'a> {
    /// The attribute holding them.
    pub attribute: &'a str,
    /// Turns a key (`REQUESTXML`) into a location (`REQUESTXML2`, `call 1 (REQUESTXML)`).
    pub locate: &'a dyn Fn(&str) -> String,
    /// The call as a person names it (`ACCOUNTS_IMPORT_JSON call 2`, `CONNECTIONJSON gw`): where
    /// an attribute the request uses but the connection lacks is reported.
    pub site: &'a str,
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
        let body =
            parse_template(parts.attribute, &body_location, parts.xml, problems).map(|template| {
                check_variables(
                    &template,
                    scope,
                    connection,
                    (parts.attribute, &body_location, parts.site),
                    problems,
                );
                let at = Place {
                    attribute: parts.attribute,
                    location: &body_location,
                    mode,
                };
                if template.whole_expression().is_some() {
                    let may_skip = matches!(scope.kind, ScopeKind::Provisioning { .. });
                    check_expression_body(&template, &at, may_skip, problems);
                    Body::Expression(template)
                } else {
                    warn_about_placeholders(&template, scope, &at, problems);
                    let is_envelope = check_body_xml(&template, &at, problems);
                    Body::Markup {
                        template,
                        is_envelope,
                    }
                }
            });
        let mut headers =
            parse_header_templates(parts, "REQUESTPARAMS", scope, connection, problems);
        if parts.soap_action.is_some()
            && let Some(index) = headers
                .iter()
                .position(|(name, _)| name.eq_ignore_ascii_case("SOAPAction"))
        {
            problems.push(Problem::warning(
                parts.attribute,
                Some(format!("{}.{}", (parts.locate)("REQUESTPARAMS"), headers[index].0)),
                "SOAPACTION sets this header too: the SOAPACTION value is sent, this one is ignored",
            ));
            headers.remove(index);
        }
        let soap_action = parts.soap_action.and_then(|text| {
            let location = (parts.locate)("SOAPACTION");
            let template = parse_template(parts.attribute, &location, text, problems)?;
            check_variables(
                &template,
                scope,
                connection,
                (parts.attribute, &location, parts.site),
                problems,
            );
            check_header_literals(
                &template,
                parts.attribute,
                &location,
                "SOAPACTION (the SOAPAction header)",
                problems,
            )
            .then_some(template)
        });
        if problems[before..]
            .iter()
            .any(|p| p.severity == crate::error::Severity::Error)
        {
            return None;
        }
        Some(RequestTemplate {
            body: body?,
            headers,
            soap_action,
        })
    }

    /// Every template of the request with where it is configured: the body (`REQUESTXML`),
    /// each header (`REQUESTPARAMS` and the header's name) and `SOAPACTION`.
    pub fn templates(&self) -> Vec<TemplatePlace<'_>> {
        let body = match &self.body {
            Body::Markup { template, .. } | Body::Expression(template) => template,
        };
        let mut places = vec![TemplatePlace {
            key: "REQUESTXML",
            header: None,
            template: body,
        }];
        places.extend(self.headers.iter().map(|(name, template)| TemplatePlace {
            key: "REQUESTPARAMS",
            header: Some(name),
            template,
        }));
        places.extend(self.soap_action.iter().map(|template| TemplatePlace {
            key: "SOAPACTION",
            header: None,
            template,
        }));
        places
    }

    /// Renders the request of a call that must be sent (an import call): a whole-envelope
    /// expression that renders empty is an error here.
    pub fn render(&self, bindings: &dyn Bindings, mode: Mode) -> Result<HttpRequest, TextError> {
        self.render_or_skip(bindings, mode)?.ok_or_else(|| TextError {
            line: 1,
            column: 1,
            message: "the expression rendered nothing: only a provisioning call can be skipped this way; an import call must always send its request".into(),
        })
    }

    /// Renders the request: values XML-escaped into the body, wrapped in a SOAP envelope when
    /// `mode` is SOAP and the body is not one already. `None` when the body is a whole-envelope
    /// expression that rendered empty: the call sends nothing.
    pub fn render_or_skip(
        &self,
        bindings: &dyn Bindings,
        mode: Mode,
    ) -> Result<Option<HttpRequest>, TextError> {
        let (rendered, is_envelope) = match &self.body {
            Body::Markup {
                template,
                is_envelope,
            } => (template.render(bindings, Escape::Xml)?, *is_envelope),
            Body::Expression(template) => match render_expression(template, bindings, mode)? {
                Some(rendered) => rendered,
                None => return Ok(None),
            },
        };
        let body = if mode == Mode::Soap && !is_envelope {
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
        Ok(Some(HttpRequest { body, headers }))
    }
}

/// Renders a whole-envelope expression and checks its result: `None` when it is empty, else the
/// document and whether it is a SOAP envelope. A result that is not well-formed is reported at
/// its line and column in the result, and at the expression in the template.
fn render_expression(
    template: &Template,
    bindings: &dyn Bindings,
    mode: Mode,
) -> Result<Option<(String, bool)>, TextError> {
    let Some((expr, offset)) = template.whole_expression() else {
        return Ok(None);
    };
    let at = |message: String| TextError::at(template.source(), offset, message);
    let rendered = markup::render_markup(expr, bindings).map_err(at)?;
    if rendered.trim().is_empty() {
        return Ok(None);
    }
    let root = check_well_formed(&rendered).map_err(|error| {
        at(format!(
            "the expression rendered a request that is not well-formed XML (line {}, column {} of the rendered request): {}",
            error.line, error.column, error.message
        ))
    })?;
    let is_envelope = root == "Envelope";
    if is_envelope && mode == Mode::Xml {
        return Err(at(ENVELOPE_IN_XML_MODE.into()));
    }
    Ok(Some((rendered, is_envelope)))
}

/// Where a request body is configured, for its problems.
struct Place<'a> {
    attribute: &'a str,
    location: &'a str,
    mode: Mode,
}

impl Place<'_> {
    fn warning(&self, (line, column): (usize, usize), message: String) -> Problem {
        Problem::warning(
            self.attribute,
            Some(format!("{}, line {line}, column {column}", self.location)),
            message,
        )
    }

    fn error(&self, (line, column): (usize, usize), message: String) -> Problem {
        Problem::error(
            self.attribute,
            Some(format!("{}, line {line}, column {column}", self.location)),
            message,
        )
    }
}

const ENVELOPE_IN_XML_MODE: &str = "SOAP_OR_XML is XML but this request is a SOAP envelope: send the bare `<server>` document, or set SOAP_OR_XML to SOAP";

/// Checks each document a whole-envelope expression can render (with its data values standing
/// in as `x`) when there are few enough branch combinations to list: each must be empty or
/// well-formed XML. A mistake is reported in the template, inside the string literal that holds
/// it when that literal can be found.
fn check_expression_body(
    template: &Template,
    at: &Place<'_>,
    may_skip: bool,
    problems: &mut Vec<Problem>,
) {
    let Some((expr, offset)) = template.whole_expression() else {
        return;
    };
    let Some(skeletons) = markup::skeletons(expr) else {
        problems.push(Problem::warning(
            at.attribute,
            Some(at.location.to_string()),
            format!(
                "this expression has more than {} combinations of branches, too many to check each at load: its result is checked when it is rendered",
                markup::MAX_SKELETONS
            ),
        ));
        return;
    };
    for pieces in skeletons {
        if pieces.iter().all(|piece| *piece == Piece::Data) {
            continue; // Nothing literal to check: the result is checked when it is rendered.
        }
        let text: String = pieces.iter().map(stand_in).collect();
        if text.trim().is_empty() && !may_skip {
            problems.push(at.error(
                line_column(template.source(), offset),
                "this expression can render empty, which skips a provisioning call, but an import call must always send its request".into(),
            ));
            return;
        }
        if text.trim().is_empty() {
            continue;
        }
        let problem = match check_well_formed(&text) {
            Ok(root) if root == "Envelope" && at.mode == Mode::Xml => Some((
                line_column(template.source(), offset),
                ENVELOPE_IN_XML_MODE.to_string(),
            )),
            Ok(_) => None,
            Err(error) => Some((
                template_position(template, offset, &pieces, byte_offset(&text, &error)),
                format!(
                    "not well-formed XML once bound, when the expression renders `{}`: {}",
                    crate::text::excerpt(text.as_bytes(), 80),
                    error.message
                ),
            )),
        };
        if let Some((position, message)) = problem {
            problems.push(at.error(position, message));
            return;
        }
    }
}

/// Warnings about placeholders of a markup body: `${raw: ...}` on a value that comes from Duck
/// Creek, the identity store or a response (an injection hole), and a string literal holding
/// markup inside `${...}`, which is escaped as text there (a trap: the author meant markup).
fn warn_about_placeholders(
    template: &Template,
    scope: &Scope,
    at: &Place<'_>,
    problems: &mut Vec<Problem>,
) {
    let captured: &[String] = match &scope.kind {
        ScopeKind::Provisioning { captured } => captured,
        _ => &[],
    };
    let untrusted = |path: &[String]| {
        matches!(
            path[0].as_str(),
            "account" | "user" | "task" | "accountName"
        ) || captured.contains(&path[0])
    };
    for (expr, position, raw) in template.placeholders() {
        if raw && let Some(path) = expr.paths().into_iter().find(|path| untrusted(path)) {
            problems.push(at.warning(
                position,
                format!(
                    "`${{raw: ...}}` inserts `{}` without escaping: a value from Duck Creek, the identity store or a response could inject markup (`\"/><...`); drop `raw:` unless the value is trusted",
                    path.join(".")
                ),
            ));
        }
        let markup_literal = !raw
            && markup::skeletons(expr).is_some_and(|skeletons| {
                skeletons
                    .iter()
                    .flatten()
                    .any(|piece| matches!(piece, Piece::Literal(text) if text.contains('<')))
            });
        if markup_literal {
            problems.push(at.warning(
                position,
                "a string literal holding markup (`<...`) inside `${...}` is escaped as text here: to build markup with an expression, write the whole REQUESTXML as one `${...}` expression (its literals are markup), or use `${raw: ...}` for literals you control".into(),
            ));
        }
    }
}

/// The text a skeleton's piece stands for at load: a literal as written, a data value as `x`.
fn stand_in(piece: &Piece) -> &str {
    match piece {
        Piece::Literal(text) => text,
        Piece::Data => "x",
    }
}

/// Where, in the template, the mistake at byte `error_at` of a rendered skeleton is: inside the
/// string literal holding it when that literal is written in the template as is, else at the
/// expression's `${`.
fn template_position(
    template: &Template,
    offset: usize,
    pieces: &[Piece],
    error_at: usize,
) -> (usize, usize) {
    let mut start = 0;
    for piece in pieces {
        let end = start + stand_in(piece).len();
        if let Piece::Literal(text) = piece
            && (start..end.max(start + 1)).contains(&error_at)
            && let Some(found) = template.source()[offset..].find(text.as_str())
        {
            return line_column(template.source(), offset + found + (error_at - start));
        }
        start = end;
    }
    line_column(template.source(), offset)
}

/// The byte offset in `text` of the 1-based line and column (in characters) of `error`, at most
/// the text's end.
fn byte_offset(text: &str, error: &TextError) -> usize {
    let line_start = match error.line {
        0 | 1 => 0,
        line => text
            .match_indices('\n')
            .nth(line - 2)
            .map_or(text.len(), |(index, _)| index + 1),
    };
    let within = text[line_start..]
        .char_indices()
        .nth(error.column.saturating_sub(1))
        .map_or(text.len() - line_start, |(index, _)| index);
    line_start + within
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
fn check_body_xml(body: &Template, at: &Place<'_>, problems: &mut Vec<Problem>) -> bool {
    match check_well_formed(&body.with_placeholders_filled()) {
        Ok(root) => {
            let is_envelope = root == "Envelope";
            if is_envelope && at.mode == Mode::Xml {
                problems.push(Problem::error(
                    at.attribute,
                    Some(at.location.to_string()),
                    ENVELOPE_IN_XML_MODE,
                ));
            }
            is_envelope
        }
        Err(error) => {
            problems.push(at.error(
                (error.line, error.column),
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
            check_variables(
                &template,
                scope,
                connection,
                (parts.attribute, &at, parts.site),
                problems,
            );
            if check_header_literals(
                &template,
                parts.attribute,
                &at,
                &format!("header `{name}`"),
                problems,
            ) {
                headers.push((name.clone(), template));
            }
        }
    }
    headers
}

/// Checks that the literal text of a header value's template holds only what an HTTP header
/// value can carry (no CR, LF or other control character but TAB): the HTTP layer would refuse
/// the request, and a line break in a header is how headers are injected. A problem is reported
/// at the character; `what` names the header. Whether it is clean.
fn check_header_literals(
    template: &Template,
    attribute: &str,
    location: &str,
    what: &str,
    problems: &mut Vec<Problem>,
) -> bool {
    for (start, text) in template.literals() {
        if let Some((at, character)) = header_value_problem(text) {
            let (line, column) = line_column(template.source(), start + at);
            problems.push(Problem::error(
                attribute,
                Some(format!("{location}, line {line}, column {column}")),
                format!(
                    "the value of {what} holds {character}, which an HTTP header value cannot carry: remove it"
                ),
            ));
            return false;
        }
    }
    true
}

/// The first byte of a header value that HTTP cannot carry (a control character other than
/// TAB, or DEL), with its offset and what it is.
pub(crate) fn header_value_problem(value: &str) -> Option<(usize, String)> {
    let at = value
        .bytes()
        .position(|b| (b < 0x20 && b != b'\t') || b == 0x7f)?;
    let character = match value.as_bytes()[at] {
        b'\r' => "a carriage return (CR)".to_string(),
        b'\n' => "a line feed (LF)".to_string(),
        other => format!("a control character (U+{other:04X})"),
    };
    Some((at, character))
}

/// Checks every header of a request about to be sent (their values come from templates bound
/// to data, and from tokens): the error names the first header HTTP cannot carry, and why,
/// without quoting its value (it may be a credential).
pub fn check_headers(request: &HttpRequest) -> Result<(), String> {
    for (name, value) in &request.headers {
        if !is_header_name(name) {
            return Err(format!(
                "the request header `{}` cannot be sent: it is not a valid HTTP header name",
                name.escape_debug()
            ));
        }
        if let Some((at, character)) = header_value_problem(value) {
            return Err(format!(
                "the request header `{name}` cannot be sent: its value holds {character} at byte {at}, which an HTTP header value cannot carry (it came from a bound value or a token)"
            ));
        }
    }
    Ok(())
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
