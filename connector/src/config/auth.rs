//! CONNECTIONJSON: the named connections a call refers to by `CONNECTIONn` (imports) or
//! `CONNECTION` (provisioning calls).
//!
//! The format follows Saviynt's REST connector: `{"authentications": {"<name>": {...}}}` (a flat
//! object of names is accepted too). A connection is either
//! - a **session** connection (`"authType": "session"`, the default): the request body carries
//!   the Duck Creek session (`Session.loginRq` with `${USERNAME}`/`${PASSWORD}`), as the known
//!   package does; nothing else is added; or
//! - a **token** connection (`oauth2`, `token`, `Bearer`, `Basic`): a token is obtained from
//!   `url` (or given as `accessToken`), sent as `Authorization: <tokenType> <token>` unless the
//!   call sets that header itself, and bound as `${access_token}`; it is refreshed shortly
//!   before it expires and when a call is refused with one of the configured errors.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{Problem, Severity};
use crate::path::Path;
use crate::template::Template;
use crate::xml::check_well_formed;

use super::bindings::{Scope, ScopeKind, check_variables, is_secret_attribute};
use super::endpoint::Endpoint;
use super::request::{RequestParts, parse_header_templates, parse_template};
use super::{CONNECTIONJSON, Connection, json};

/// Token requests tried for one refresh when they fail for a reason that may pass (a network
/// failure, HTTP 5xx or 429), unless `maxRefreshTryCount` says otherwise.
pub const DEFAULT_MAX_REFRESH_TRIES: u32 = 3;

/// The most `maxRefreshTryCount` may ask for.
const MAX_REFRESH_TRIES: u32 = 10;

const KNOWN_KEYS: &[&str] = &[
    "authType",
    "url",
    "httpMethod",
    "httpParams",
    "httpHeaders",
    "httpContentType",
    "requestXml",
    "tokenResponsePath",
    "tokenType",
    "expiresInPath",
    "tokenExpiry",
    "expiryError",
    "authError",
    "errorPath",
    "maxRefreshTryCount",
    "retryFailureStatusCode",
    "accessToken",
];

/// Keys of the REST connector's format that mean nothing for this connector.
const IGNORED_KEYS: &[&str] = &[
    "timeOutError",
    "properties",
    "jwtConfig",
    "cookies",
    "tokenAutoRefresh",
];

/// The named connections of CONNECTIONJSON.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    named: BTreeMap<String, Auth>,
    /// CONNECTIONJSON could not be read whole, or some definitions in it had errors: their
    /// errors are reported, so a call naming one is not warned of again.
    incomplete: bool,
}

/// How one named connection authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// The session in the request body; nothing is added.
    Session,
    /// A bearer (or other) token, obtained and refreshed by the component.
    Token(Box<TokenConnection>),
}

/// A token connection.
#[derive(Debug, Clone)]
pub struct TokenConnection {
    /// Its name in CONNECTIONJSON.
    pub name: String,
    /// Where tokens come from; `None` when only `accessToken` is configured.
    pub request: Option<TokenRequest>,
    /// `accessToken`: a token to start with, used as written (with its type, `Bearer abc`).
    pub initial_token: Option<Template>,
    /// `tokenType`: written before the token (`Bearer`, the default; empty: nothing).
    pub token_type: String,
    /// `tokenExpiry`: the token's lifetime when the token response does not tell it.
    pub lifetime: Option<Duration>,
    /// `expiryError`: text that, found in a refused call's error, means the token expired.
    pub expiry_error: Option<String>,
    /// `authError`: texts that, found in a refused call's error, mean the token was refused.
    pub auth_errors: Vec<String>,
    /// `errorPath`: where a refused call's response holds its error (a JSON or XML path);
    /// without it the errors are looked for in the whole response.
    pub error_path: Option<ResponsePath>,
    /// `retryFailureStatusCode`: HTTP statuses that mean the token was refused (default 401).
    pub retry_statuses: Vec<u16>,
    /// `maxRefreshTryCount`: token requests tried for one refresh.
    pub max_refresh_tries: u32,
    /// The definition as configured (compact JSON): with the values of [`Self::attributes`],
    /// what tells whether a cached token was obtained with the same configuration.
    pub definition: String,
    /// The connection attributes its templates read (`CLIENT_SECRET`), each once.
    pub attributes: Vec<String>,
}

/// The request that obtains a token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `url`.
    pub endpoint: Endpoint,
    /// How the body is written (`httpContentType`).
    pub format: BodyFormat,
    /// `httpParams`: the fields of a form or JSON body.
    pub params: Vec<(String, Template)>,
    /// `requestXml`: the body of an XML or SOAP login.
    pub xml: Option<Template>,
    /// `httpHeaders`.
    pub headers: Vec<(String, Template)>,
    /// `tokenResponsePath`: where the response holds the token (default `access_token`).
    pub token_path: ResponsePath,
    /// `expiresInPath`: where the response holds the lifetime in seconds (default `expires_in`).
    pub expires_in_path: ResponsePath,
}

/// How a token request's body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded` (the default).
    Form,
    /// `application/json`.
    Json,
    /// An XML document (`text/xml`, `application/soap+xml`).
    Xml,
}

impl BodyFormat {
    /// The Content-Type the format is sent with unless configured otherwise.
    pub fn content_type(self) -> &'static str {
        match self {
            BodyFormat::Form => "application/x-www-form-urlencoded",
            BodyFormat::Json => "application/json",
            BodyFormat::Xml => "text/xml; charset=utf-8",
        }
    }
}

/// A path into a response that may be JSON (dotted keys), form-encoded (a key) or XML (a
/// GPath-style path, as in the plans).
#[derive(Debug, Clone)]
pub struct ResponsePath {
    /// The path as written.
    pub text: String,
    /// The dotted keys for JSON and form responses.
    pub keys: Vec<String>,
    /// The XML path, when the text is one.
    pub xml: Option<Path>,
}

impl ResponsePath {
    fn new(text: &str) -> ResponsePath {
        let text = text.trim();
        ResponsePath {
            text: text.to_string(),
            keys: text.split('.').map(str::to_string).collect(),
            xml: Path::parse(text).ok(),
        }
    }
}

/// A token lifetime from a number of seconds; `None` unless positive and below a billion.
pub fn lifetime_from_seconds(seconds: f64) -> Option<Duration> {
    (seconds.is_finite() && seconds > 0.0 && seconds < 1e9)
        .then(|| Duration::from_secs_f64(seconds))
}

impl Connections {
    /// Whether CONNECTIONJSON defines `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.named.contains_key(name)
    }

    /// The token connection `name`, when it is one.
    pub fn token(&self, name: &str) -> Option<&TokenConnection> {
        match self.named.get(name) {
            Some(Auth::Token(token)) => Some(token),
            _ => None,
        }
    }

    /// Warns when a call's CONNECTION (in `attribute`, at `location`) names a connection that
    /// CONNECTIONJSON does not define: such a call uses the session in its request body.
    pub(crate) fn check_reference(
        &self,
        name: &str,
        attribute: &str,
        location: String,
        problems: &mut Vec<Problem>,
    ) {
        if !self.contains(name) && !self.incomplete {
            problems.push(Problem::warning(
                attribute,
                Some(location),
                format!("connection `{name}` is not defined in CONNECTIONJSON: the session in the request body (USERNAME/PASSWORD) is used"),
            ));
        }
    }

    /// The token connections, by name.
    pub fn tokens(&self) -> impl Iterator<Item = &TokenConnection> {
        self.named.values().filter_map(|auth| match auth {
            Auth::Token(token) => Some(token.as_ref()),
            Auth::Session => None,
        })
    }

    /// The token connection a call naming `name` uses, if any.
    pub fn token_for(&self, name: Option<&str>) -> Option<&TokenConnection> {
        name.and_then(|name| self.token(name))
    }
}

/// Parses CONNECTIONJSON (empty when absent), adding every problem found.
pub(crate) fn parse(connection: &Connection, problems: &mut Vec<Problem>) -> Connections {
    let mut connections = Connections::default();
    let Some(text) = connection.get(CONNECTIONJSON) else {
        return connections;
    };
    connections.incomplete = true;
    let Some(value) = json::parse(CONNECTIONJSON, text, problems) else {
        return connections;
    };
    let before = problems.len();
    let Some(named) = named_objects(&value, problems) else {
        return connections;
    };
    for (name, definition) in named {
        let context = Definition {
            name: name.as_str(),
            keys: definition,
            connection,
        };
        if let Some(auth) = context.parse(problems) {
            connections.named.insert(name.clone(), auth);
        }
    }
    connections.incomplete = problems[before..]
        .iter()
        .any(|problem| problem.severity == Severity::Error);
    connections
}

/// The `name → definition` objects, under `authentications` or at the top level.
fn named_objects<'a>(
    value: &'a Value,
    problems: &mut Vec<Problem>,
) -> Option<Vec<(&'a String, &'a Map<String, Value>)>> {
    let Value::Object(top) = value else {
        problems.push(Problem::error(
            CONNECTIONJSON,
            None,
            "expected a JSON object: {\"authentications\": {\"<name>\": {...}}}",
        ));
        return None;
    };
    let named = match top.get("authentications") {
        Some(Value::Object(named)) => named,
        Some(_) => {
            problems.push(Problem::error(
                CONNECTIONJSON,
                Some("authentications".into()),
                "expected an object of named connections",
            ));
            return None;
        }
        None => top,
    };
    let mut found = Vec::new();
    for (name, definition) in named {
        match definition {
            Value::Object(keys) => found.push((name, keys)),
            _ => problems.push(Problem::error(
                CONNECTIONJSON,
                Some(name.clone()),
                "a connection must be a JSON object",
            )),
        }
    }
    Some(found)
}

/// One connection's definition being parsed.
struct Definition<'a> {
    name: &'a str,
    keys: &'a Map<String, Value>,
    connection: &'a Connection,
}

impl Definition<'_> {
    fn location(&self, key: &str) -> Option<String> {
        Some(format!("{}.{key}", self.name))
    }

    /// The token connection as a person names it, where an attribute its request uses but the
    /// connection lacks is reported.
    fn site(&self) -> String {
        format!("{CONNECTIONJSON} {}", self.name)
    }

    fn error(&self, key: &str, message: impl Into<String>, problems: &mut Vec<Problem>) {
        problems.push(Problem::error(CONNECTIONJSON, self.location(key), message));
    }

    fn warning(&self, key: &str, message: impl Into<String>, problems: &mut Vec<Problem>) {
        problems.push(Problem::warning(
            CONNECTIONJSON,
            self.location(key),
            message,
        ));
    }

    /// The value of `key`, matched ignoring case, as the REST connector's users vary it.
    fn get(&self, key: &str) -> Option<&Value> {
        self.keys
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value)
            .filter(|value| !value.is_null() && value.as_str().is_none_or(|s| !s.trim().is_empty()))
    }

    fn string(&self, key: &str, problems: &mut Vec<Problem>) -> Option<String> {
        match self.get(key)? {
            Value::String(text) => Some(text.trim().to_string()),
            Value::Number(number) => Some(number.to_string()),
            other => {
                self.error(
                    key,
                    format!("expected a string, found {}", json::kind(other)),
                    problems,
                );
                None
            }
        }
    }

    fn parse(&self, problems: &mut Vec<Problem>) -> Option<Auth> {
        self.check_keys(problems);
        let kind = self.auth_kind(problems)?;
        if kind == AuthKind::Session {
            return Some(Auth::Session);
        }
        let before = problems.len();
        let request = match self.get("url") {
            Some(_) => self.token_request(problems),
            None => None,
        };
        let initial_token = self.initial_token(problems);
        if self.get("url").is_none() && initial_token.is_none() {
            self.error(
                "url",
                "missing: a token connection needs `url` (where tokens come from) or `accessToken`",
                problems,
            );
        }
        let attributes = attributes_read(request.as_ref(), initial_token.as_ref());
        let token = TokenConnection {
            name: self.name.to_string(),
            definition: Value::Object(self.keys.clone()).to_string(),
            attributes,
            request,
            initial_token,
            token_type: self.token_type(kind),
            lifetime: self.lifetime(problems),
            expiry_error: self.string("expiryError", problems),
            auth_errors: self.strings("authError", problems),
            error_path: self
                .string("errorPath", problems)
                .map(|text| ResponsePath::new(&text)),
            retry_statuses: self.statuses(problems),
            max_refresh_tries: self.max_refresh_tries(problems),
        };
        let failed = problems[before..]
            .iter()
            .any(|p| p.severity == crate::error::Severity::Error);
        (!failed).then(|| Auth::Token(Box::new(token)))
    }

    /// `tokenType`; written empty, it means no prefix at all.
    fn token_type(&self, kind: AuthKind) -> String {
        let written = self
            .keys
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("tokenType"))
            .and_then(|(_, value)| value.as_str());
        written.map_or_else(
            || kind.default_token_type().to_string(),
            |t| t.trim().to_string(),
        )
    }

    fn check_keys(&self, problems: &mut Vec<Problem>) {
        for key in self.keys.keys() {
            if IGNORED_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                self.warning(
                    key,
                    format!("`{key}` is not used by this connector"),
                    problems,
                );
            } else if !KNOWN_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                self.warning(key, format!("unknown key `{key}` is ignored"), problems);
            }
        }
    }

    fn auth_kind(&self, problems: &mut Vec<Problem>) -> Option<AuthKind> {
        let written = self.string("authType", problems);
        let kind = match written.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None if self.get("url").is_some() => AuthKind::OAuth2,
            None if self.get("accessToken").is_some() => AuthKind::Bearer,
            None | Some("session") | Some("none") => AuthKind::Session,
            Some("oauth2") | Some("token") => AuthKind::OAuth2,
            Some("bearer") => AuthKind::Bearer,
            Some("basic") => AuthKind::Basic,
            Some(other) => {
                self.error(
                    "authType",
                    format!("`{other}` is not supported: use session, oauth2 (or token), Bearer or Basic"),
                    problems,
                );
                return None;
            }
        };
        if kind == AuthKind::OAuth2 && self.get("url").is_none() {
            self.error(
                "url",
                "missing: an oauth2 connection needs the token URL",
                problems,
            );
            return None;
        }
        Some(kind)
    }

    fn token_request(&self, problems: &mut Vec<Problem>) -> Option<TokenRequest> {
        let url = self.string("url", problems)?;
        // Positions are given in the value as written (untrimmed).
        let written = match self.get("url") {
            Some(Value::String(text)) => text.as_str(),
            _ => url.as_str(),
        };
        let endpoint = Endpoint::parse(written)
            .map_err(|error| {
                let location = error.location(self.location("url").as_deref());
                problems.push(Problem::error(
                    CONNECTIONJSON,
                    Some(location),
                    error.message,
                ));
            })
            .ok();
        if let Some(method) = self.string("httpMethod", problems)
            && !method.eq_ignore_ascii_case("POST")
        {
            self.error(
                "httpMethod",
                format!("`{method}` is not supported: tokens are requested with POST"),
                problems,
            );
        }
        let format = self.format(problems);
        let params = self.params(format, problems);
        let xml = self.login_xml(format, problems);
        let headers = self.headers(problems);
        let token_path = ResponsePath::new(
            &self
                .string("tokenResponsePath", problems)
                .unwrap_or_else(|| "access_token".into()),
        );
        let expires_in_path = ResponsePath::new(
            &self
                .string("expiresInPath", problems)
                .unwrap_or_else(|| "expires_in".into()),
        );
        if format == BodyFormat::Xml && token_path.xml.is_none() {
            self.error(
                "tokenResponsePath",
                format!(
                    "`{}` is not a path into an XML response (e.g. `Body.TokenRs.@token`)",
                    token_path.text
                ),
                problems,
            );
        }
        Some(TokenRequest {
            endpoint: endpoint?,
            format,
            params,
            xml,
            headers,
            token_path,
            expires_in_path,
        })
    }

    fn format(&self, problems: &mut Vec<Problem>) -> BodyFormat {
        let content_type = self.string("httpContentType", problems).or_else(|| {
            let headers = self.get("httpHeaders")?.as_object()?;
            headers
                .iter()
                .find(|(name, _)| {
                    name.eq_ignore_ascii_case("contentType")
                        || name.eq_ignore_ascii_case("content-type")
                })
                .and_then(|(_, value)| value.as_str().map(str::to_string))
        });
        match content_type.map(|c| c.to_ascii_lowercase()) {
            None if self.get("requestXml").is_some() => BodyFormat::Xml,
            None => BodyFormat::Form,
            Some(c) if c.contains("x-www-form-urlencoded") => BodyFormat::Form,
            Some(c) if c.contains("json") => BodyFormat::Json,
            Some(c) if c.contains("xml") => BodyFormat::Xml,
            Some(other) => {
                self.error(
                    "httpContentType",
                    format!("`{other}` is not supported: use application/x-www-form-urlencoded, application/json or text/xml"),
                    problems,
                );
                BodyFormat::Form
            }
        }
    }

    fn template(&self, key: &str, text: &str, problems: &mut Vec<Problem>) -> Option<Template> {
        let location = format!("{}.{key}", self.name);
        let template = parse_template(CONNECTIONJSON, &location, text, problems)?;
        let scope = Scope::new(ScopeKind::Import);
        check_variables(
            &template,
            &scope,
            self.connection,
            (CONNECTIONJSON, &location, &self.site()),
            problems,
        );
        Some(template)
    }

    fn params(&self, format: BodyFormat, problems: &mut Vec<Problem>) -> Vec<(String, Template)> {
        let Some(value) = self.get("httpParams") else {
            return Vec::new();
        };
        let Value::Object(map) = value else {
            self.error("httpParams", "expected an object of fields", problems);
            return Vec::new();
        };
        if format == BodyFormat::Xml && !map.is_empty() {
            self.warning(
                "httpParams",
                "ignored: an XML login sends `requestXml` as its body",
                problems,
            );
            return Vec::new();
        }
        let mut params = Vec::new();
        for (name, value) in map {
            let key = format!("httpParams.{name}");
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(_) | Value::Bool(_) => value.to_string(),
                _ => {
                    self.error(&key, "a field value must be a string", problems);
                    continue;
                }
            };
            if is_secret_attribute(name) && !text.contains("${") && !text.is_empty() {
                self.warning(
                    &key,
                    format!("a literal secret: write `${{{}}}` and give that attribute from an environment variable or a file, so it never sits in the configuration", name.to_ascii_uppercase()),
                    problems,
                );
            }
            if let Some(template) = self.template(&key, &text, problems) {
                params.push((name.clone(), template));
            }
        }
        params
    }

    fn login_xml(&self, format: BodyFormat, problems: &mut Vec<Problem>) -> Option<Template> {
        let text = self.string("requestXml", problems);
        match (format, text) {
            (BodyFormat::Xml, None) => {
                self.error(
                    "requestXml",
                    "missing: an XML login needs its request body",
                    problems,
                );
                None
            }
            (BodyFormat::Xml, Some(text)) => {
                let template = self.template("requestXml", &text, problems)?;
                if let Err(error) = check_well_formed(&template.with_placeholders_filled()) {
                    problems.push(Problem::error(
                        CONNECTIONJSON,
                        Some(format!(
                            "{}.requestXml, line {}, column {}",
                            self.name, error.line, error.column
                        )),
                        format!("not well-formed XML once bound: {}", error.message),
                    ));
                    return None;
                }
                Some(template)
            }
            (_, Some(_)) => {
                self.warning(
                    "requestXml",
                    "ignored: the token request is not XML (see httpContentType)",
                    problems,
                );
                None
            }
            (_, None) => None,
        }
    }

    fn headers(&self, problems: &mut Vec<Problem>) -> Vec<(String, Template)> {
        let Some(value) = self.get("httpHeaders") else {
            return Vec::new();
        };
        let locate = |key: &str| format!("{}.{key}", self.name);
        let site = self.site();
        let parts = RequestParts {
            attribute: CONNECTIONJSON,
            locate: &locate,
            site: &site,
            xml: "",
            params: Some(value),
            soap_action: None,
        };
        let mut headers = parse_header_templates(
            &parts,
            "httpHeaders",
            &Scope::new(ScopeKind::Import),
            self.connection,
            problems,
        );
        // The content type is the format's (see `format`, which reads it from httpContentType
        // or from this header, written `contentType` by the REST connector's users).
        headers.retain(|(name, _)| {
            !name.eq_ignore_ascii_case("contentType") && !name.eq_ignore_ascii_case("content-type")
        });
        headers
    }

    fn initial_token(&self, problems: &mut Vec<Problem>) -> Option<Template> {
        let text = self.string("accessToken", problems)?;
        if !text.contains("${") {
            self.warning(
                "accessToken",
                "a literal token: write `${ACCESS_TOKEN}` and give that attribute from an environment variable or a file, so it never sits in the configuration",
                problems,
            );
        }
        self.template("accessToken", &text, problems)
    }

    fn lifetime(&self, problems: &mut Vec<Problem>) -> Option<Duration> {
        let text = self.string("tokenExpiry", problems)?;
        match text.parse::<f64>().ok().and_then(lifetime_from_seconds) {
            Some(lifetime) => Some(lifetime),
            None => {
                self.error(
                    "tokenExpiry",
                    format!("`{text}` is not a lifetime in seconds (a positive number)"),
                    problems,
                );
                None
            }
        }
    }

    fn strings(&self, key: &str, problems: &mut Vec<Problem>) -> Vec<String> {
        match self.get(key) {
            None => Vec::new(),
            Some(Value::String(text)) => vec![text.trim().to_string()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| match item {
                    Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
                    _ => {
                        self.error(key, "expected a list of strings", problems);
                        None
                    }
                })
                .collect(),
            Some(_) => {
                self.error(key, "expected a list of strings", problems);
                Vec::new()
            }
        }
    }

    fn statuses(&self, problems: &mut Vec<Problem>) -> Vec<u16> {
        let items = match self.get("retryFailureStatusCode") {
            None => return vec![401],
            Some(Value::Array(items)) => items.clone(),
            Some(single) => vec![single.clone()],
        };
        let mut statuses = Vec::new();
        for item in items {
            let parsed = match &item {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            match parsed
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| (400..600).contains(n))
            {
                Some(status) => statuses.push(status),
                None => self.error(
                    "retryFailureStatusCode",
                    format!("`{item}` is not an HTTP error status (400 to 599)"),
                    problems,
                ),
            }
        }
        statuses
    }

    fn max_refresh_tries(&self, problems: &mut Vec<Problem>) -> u32 {
        let Some(text) = self.string("maxRefreshTryCount", problems) else {
            return DEFAULT_MAX_REFRESH_TRIES;
        };
        match text.parse::<u32>() {
            Ok(n) if (1..=MAX_REFRESH_TRIES).contains(&n) => n,
            _ => {
                self.error(
                    "maxRefreshTryCount",
                    format!("`{text}` is not a number from 1 to {MAX_REFRESH_TRIES}"),
                    problems,
                );
                DEFAULT_MAX_REFRESH_TRIES
            }
        }
    }
}

/// The connection attributes the token request and the initial token read, sorted, each once.
fn attributes_read(request: Option<&TokenRequest>, initial: Option<&Template>) -> Vec<String> {
    let request_templates = request.into_iter().flat_map(|request| {
        request
            .params
            .iter()
            .chain(&request.headers)
            .map(|(_, template)| template)
            .chain(&request.xml)
    });
    let mut names: Vec<String> = request_templates
        .chain(initial)
        .flat_map(Template::expressions)
        .flat_map(|(expr, _)| expr.paths())
        .filter(|path| path.len() == 1)
        .map(|path| path[0].clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthKind {
    Session,
    OAuth2,
    Bearer,
    Basic,
}

impl AuthKind {
    fn default_token_type(self) -> &'static str {
        match self {
            AuthKind::Basic => "Basic",
            _ => "Bearer",
        }
    }
}
