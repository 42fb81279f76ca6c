//! The egress allow-list: the only place that decides what may leave the host.
//!
//! The connector component performs all its I/O through outgoing HTTP requests, and every such
//! request is checked here before the host sends it. The list is built from the connection (its
//! `SOAP_ENDPOINT` and token URLs) and nothing else, so a configuration mistake or a hostile
//! template cannot make the host talk to another machine. The rules are deliberately blunt, in
//! the manner of Spin's outbound-HTTP allow-list:
//!
//! - an allowed destination is an *origin*: a scheme (`http` or `https`), a host, and a port (the
//!   scheme's default when not written), and with [`AllowList::allow_url`] one exact path and
//!   query on it (so a service's other pages on the same origin, such as an admin API, are not);
//! - a request is allowed only when its scheme, host and port all equal those of one allowed
//!   origin (and its path that of the allowed URL); hosts compare case-insensitively and exactly,
//!   with no subdomain or suffix matching; IPv6 literals compare by address;
//! - anything unparseable, carrying user info (`user@host`), or using another scheme is denied, and
//!   an empty list denies everything.
//!
//! This module knows nothing about wasmtime; the runtime's HTTP hooks call [`AllowList::allows`]
//! (or [`AllowList::allows_uri`]) and turn a [`Denied`] into the request's failure.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use http::uri::{Authority, Uri};

/// The longest piece of a request's authority quoted back in a denial, so a hostile guest cannot
/// flood logs through it.
const MAX_QUOTED_AUTHORITY: usize = 200;

/// A scheme the host can send requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP, default port 80.
    Http,
    /// HTTP over TLS, default port 443.
    Https,
}

impl Scheme {
    /// Parses `http` or `https`, ignoring ASCII case; any other scheme is `None`.
    pub fn parse(scheme: &str) -> Option<Scheme> {
        if scheme.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if scheme.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }

    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port a URL of this scheme means when it names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a request goes: scheme, host and port, normalised for comparison.
///
/// The host is lower-cased; an IPv6 literal keeps its brackets and is written in its canonical
/// form (`[::1]`); the port is always present, defaulted from the scheme.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: u16,
}

impl Origin {
    /// Builds an origin from its parts, normalising the host as [`Origin`] describes.
    pub fn new(scheme: Scheme, host: &str, port: Option<u16>) -> Result<Origin, UrlProblem> {
        Ok(Origin {
            scheme,
            host: canonical_host(host)?,
            port: port.unwrap_or(scheme.default_port()),
        })
    }

    /// The origin of an absolute `http` or `https` URL such as `https://dc.example.com/path`.
    ///
    /// Surrounding whitespace is ignored. The path and query do not matter. A URL carrying user
    /// info is refused: credentials belong in the connection's attributes, not in the URL.
    pub fn parse_url(url: &str) -> Result<Origin, UrlProblem> {
        let url = url.trim();
        if url.is_empty() {
            return Err(UrlProblem::Empty);
        }
        if !url.contains("://") {
            return Err(UrlProblem::NoScheme);
        }
        let uri = Uri::from_str(url).map_err(|_| diagnose(url))?;
        let scheme = match uri.scheme_str() {
            None => return Err(UrlProblem::NoScheme),
            Some(s) => {
                Scheme::parse(s).ok_or_else(|| UrlProblem::UnsupportedScheme(s.to_owned()))?
            }
        };
        let authority = uri.authority().ok_or(UrlProblem::NoHost)?;
        if authority.as_str().contains('@') {
            return Err(UrlProblem::UserInfo);
        }
        let port = port_of(authority)?;
        Origin::new(scheme, authority.host(), port)
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The normalised host (lower case; IPv6 literals in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, defaulted from the scheme when the URL named none.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for Origin {
    /// Writes `scheme://host:port`, always with the port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The port an authority names, `None` when it names none (or an empty one, as in `host:`); an
/// error when what follows the host is not a port number. (`Authority::port_u16` alone would
/// take `host:abc` for a host without a port.)
fn port_of(authority: &Authority) -> Result<Option<u16>, UrlProblem> {
    let text = authority.as_str();
    let host_and_port = text.rsplit('@').next().unwrap_or(text);
    let after_host = host_and_port
        .strip_prefix(authority.host())
        .ok_or(UrlProblem::NotAUrl)?;
    match after_host.strip_prefix(':') {
        None if after_host.is_empty() => Ok(None),
        Some("") => Ok(None),
        Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => match port.parse() {
            Ok(0) | Err(_) => Err(UrlProblem::BadPort),
            Ok(port) => Ok(Some(port)),
        },
        Some(_) => Err(UrlProblem::BadPort),
        None => Err(UrlProblem::NotAUrl),
    }
}

/// Why a URL the `http` crate refuses is not a URL, as precisely as can be told without quoting
/// it: a bad character in its host or in its path or query, a port that is not a number, or
/// (anything else) not a URL.
fn diagnose(url: &str) -> UrlProblem {
    let Some((_, rest)) = url.split_once("://") else {
        return UrlProblem::NoScheme;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        return UrlProblem::UserInfo;
    }
    if authority.is_empty() {
        return UrlProblem::NoHost;
    }
    let bracketed = authority.starts_with('[');
    let host_end = if bracketed {
        authority
            .find(']')
            .map_or(authority.len(), |close| close + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    if bracketed && !host.ends_with(']') {
        return UrlProblem::BadIpv6;
    }
    if !bracketed && !host.bytes().all(is_host_byte) {
        return UrlProblem::BadHost;
    }
    if !port.is_empty() && !port[1..].bytes().all(|b| b.is_ascii_digit()) {
        return UrlProblem::BadPort;
    }
    if tail
        .bytes()
        .any(|b| b <= b' ' || matches!(b, b'<' | b'>' | 0x7f))
    {
        return UrlProblem::BadPath;
    }
    UrlProblem::NotAUrl
}

/// Whether a byte may appear in a host name (or an IPv4 address) as written in a URL.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// Lower-cases a host and writes IPv6 literals canonically.
fn canonical_host(host: &str) -> Result<String, UrlProblem> {
    if host.is_empty() {
        return Err(UrlProblem::NoHost);
    }
    if let Some(inner) = host.strip_prefix('[') {
        let address = inner
            .strip_suffix(']')
            .and_then(|a| Ipv6Addr::from_str(a).ok())
            .ok_or(UrlProblem::BadIpv6)?;
        return Ok(format!("[{address}]"));
    }
    Ok(host.to_ascii_lowercase())
}

/// Why a URL cannot be an allowed destination.
///
/// The problems never quote the URL itself: it may carry credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlProblem {
    /// The URL is empty or only whitespace.
    #[error("it is empty")]
    Empty,
    /// The text does not parse as a URL.
    #[error("it is not a valid URL")]
    NotAUrl,
    /// The URL has no scheme, as in `dc.example.com/path`.
    #[error("it has no scheme; write it as https://host/path")]
    NoScheme,
    /// The scheme is neither `http` nor `https`.
    #[error("its scheme is {0:?}; only http and https are supported")]
    UnsupportedScheme(String),
    /// The URL names no host.
    #[error("it names no host")]
    NoHost,
    /// The URL carries user info (`user:password@host`).
    #[error("it carries user info (user@host); put credentials in USERNAME and PASSWORD instead")]
    UserInfo,
    /// A bracketed host is not an IPv6 address.
    #[error("its host is in brackets but is not an IPv6 address")]
    BadIpv6,
    /// The host holds a character a host name cannot have (percent-encoding, a space, a
    /// character beyond ASCII).
    #[error(
        "its host holds a character a host name cannot have (percent-encoding, a space, a character beyond ASCII)"
    )]
    BadHost,
    /// What follows the host's `:` is not a port number from 1 to 65535.
    #[error("its port is not a number from 1 to 65535")]
    BadPort,
    /// The path or query holds a character that must be percent-encoded.
    #[error(
        "its path or query holds a character that must be percent-encoded (a space, a control character, `<`, `>`...)"
    )]
    BadPath,
}

/// A problem building an [`AllowList`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// One of the URLs the list was built from cannot be an allowed destination.
    #[error("cannot allow requests to {which}: {problem}")]
    InvalidUrl {
        /// Which URL: its label (such as `SOAP_ENDPOINT`) or its position in the list.
        which: String,
        /// What is wrong with it.
        problem: UrlProblem,
    },
}

/// One allowed origin and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    origin: Origin,
    label: Option<String>,
    /// The one path (with its query) allowed on the origin; `None`: any path.
    path: Option<String>,
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.label {
            Some(label) => write!(f, "{} ({label})", self.origin),
            None => write!(f, "{}", self.origin),
        }
    }
}

/// The origins requests may go to. Empty by default: deny everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    allowed: Vec<Allowed>,
}

impl AllowList {
    /// A list that allows nothing.
    pub fn none() -> AllowList {
        AllowList::default()
    }

    /// Allows the origins of the given URLs (`https://dc.example.com/path` allows
    /// `https://dc.example.com:443`). Any URL that cannot be an origin is an error.
    pub fn from_urls(urls: &[&str]) -> Result<AllowList, PolicyError> {
        let mut list = AllowList::none();
        for (index, url) in urls.iter().enumerate() {
            let origin = Origin::parse_url(url).map_err(|problem| PolicyError::InvalidUrl {
                which: format!("allowed URL {}", index + 1),
                problem,
            })?;
            list.allow(None, origin);
        }
        Ok(list)
    }

    /// Allows the origins of the given `(label, url)` pairs; the label (such as `SOAP_ENDPOINT`)
    /// names the URL in errors and denials.
    pub fn from_labelled(urls: &[(&str, &str)]) -> Result<AllowList, PolicyError> {
        let mut list = AllowList::none();
        for (label, url) in urls {
            let origin = Origin::parse_url(url).map_err(|problem| PolicyError::InvalidUrl {
                which: (*label).to_owned(),
                problem,
            })?;
            list.allow(Some(label), origin);
        }
        Ok(list)
    }

    /// Adds an origin, optionally labelled with where it came from. Adding one twice is harmless.
    pub fn allow(&mut self, label: Option<&str>, origin: Origin) {
        if !self
            .allowed
            .iter()
            .any(|a| a.origin == origin && a.path.is_none())
        {
            self.allowed.push(Allowed {
                origin,
                label: label.map(str::to_owned),
                path: None,
            });
        }
    }

    /// Allows exactly one URL: its origin, and on it only its path and query (`/` when it has
    /// none), so that a service's other pages on the same origin (an admin API) stay out of
    /// reach.
    pub fn allow_url(&mut self, label: &str, url: &str) -> Result<(), UrlProblem> {
        let (origin, path) = exact_url(url)?;
        self.allow_exact(label, origin, path);
        Ok(())
    }

    /// Allows `destination`, which a connector declares its connection needs, when one of
    /// `written` (the URLs as the connection writes them: the value of its attribute, the
    /// strings of a JSON attribute) is that very URL. So a connector tells what a connection
    /// needs, and the host still allows nothing the connection does not name.
    pub fn allow_declared(
        &mut self,
        destination: &Destination,
        written: &[&str],
    ) -> Result<(), NotWritten> {
        let wanted = (&destination.origin, destination.path_and_query.as_str());
        let named = |url: &&str| {
            exact_url(url).is_ok_and(|(origin, path)| (&origin, path.as_str()) == wanted)
        };
        if !written.iter().any(named) {
            return Err(NotWritten(destination.to_string()));
        }
        self.allow_exact(
            &destination.label,
            destination.origin.clone(),
            destination.path_and_query.clone(),
        );
        Ok(())
    }

    /// Adds one origin and path, unless it is there already.
    fn allow_exact(&mut self, label: &str, origin: Origin, path: String) {
        if !self
            .allowed
            .iter()
            .any(|a| a.origin == origin && a.path.as_deref() == Some(path.as_str()))
        {
            self.allowed.push(Allowed {
                origin,
                label: Some(label.to_owned()),
                path: Some(path),
            });
        }
    }

    /// The allowed origins, in the order they were added.
    pub fn origins(&self) -> impl Iterator<Item = &Origin> {
        self.allowed.iter().map(|a| &a.origin)
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }

    /// Decides whether a request with this scheme and authority (`host`, `host:port`,
    /// `[v6]:port`) may be sent; the error says why not.
    pub fn allows(&self, scheme: &str, authority: &str) -> Result<(), Denied> {
        let Some(parsed_scheme) = Scheme::parse(scheme) else {
            return Err(Denied {
                target: quote_target(scheme, authority),
                reason: DenyReason::UnsupportedScheme,
            });
        };
        if authority.contains('@') {
            return Err(Denied {
                target: quote_target(scheme, authority),
                reason: DenyReason::UserInfo,
            });
        }
        let origin = origin_of(parsed_scheme, authority);
        let Some(origin) = origin else {
            return Err(Denied {
                target: quote_target(scheme, authority),
                reason: DenyReason::BadAuthority,
            });
        };
        if self.allowed.iter().any(|a| a.origin == origin) {
            return Ok(());
        }
        let reason = if self.allowed.is_empty() {
            DenyReason::NothingAllowed
        } else {
            DenyReason::NotAllowed {
                allowed: self.allowed.iter().map(Allowed::to_string).collect(),
            }
        };
        Err(Denied {
            target: origin.to_string(),
            reason,
        })
    }

    /// [`AllowList::allows`] for a full request URI; a URI without scheme or authority is denied.
    pub fn allows_uri(&self, uri: &Uri) -> Result<(), Denied> {
        match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) => {
                self.allows(scheme, authority.as_str())?;
                self.allows_path(scheme, authority.as_str(), uri)
            }
            (scheme, authority) => Err(Denied {
                target: quote_target(
                    scheme.unwrap_or(""),
                    authority.map(Authority::as_str).unwrap_or(""),
                ),
                reason: DenyReason::BadAuthority,
            }),
        }
    }
}

impl AllowList {
    /// Whether the URI's path is allowed on its (allowed) origin.
    fn allows_path(&self, scheme: &str, authority: &str, uri: &Uri) -> Result<(), Denied> {
        let origin = Scheme::parse(scheme).and_then(|scheme| origin_of(scheme, authority));
        let on_origin: Vec<&Allowed> = self
            .allowed
            .iter()
            .filter(|a| Some(&a.origin) == origin.as_ref())
            .collect();
        let path = request_path(uri);
        let path = path.as_str();
        if on_origin
            .iter()
            .any(|a| a.path.as_deref().is_none_or(|allowed| allowed == path))
        {
            return Ok(());
        }
        let mut target = quote_target(scheme, authority);
        target.push_str(&quote_path(path));
        Err(Denied {
            target,
            reason: DenyReason::PathNotAllowed {
                allowed: on_origin
                    .iter()
                    .map(|a| {
                        let path = quote_path(a.path.as_deref().unwrap_or("/"));
                        match &a.label {
                            Some(label) => format!("{path} ({label})"),
                            None => path,
                        }
                    })
                    .collect(),
            },
        })
    }
}

/// The origin of an absolute URL and the path and query a request to it asks for.
fn exact_url(url: &str) -> Result<(Origin, String), UrlProblem> {
    let origin = Origin::parse_url(url)?;
    let uri = Uri::from_str(url.trim()).map_err(|_| UrlProblem::NotAUrl)?;
    Ok((origin, request_path(&uri)))
}

/// One exact URL a connector declares a connection needs (the WIT's `destination`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Where the connection names it: `SOAP_ENDPOINT`, `CONNECTIONJSON gw.url`.
    pub label: String,
    /// Its scheme, host and port.
    pub origin: Origin,
    /// Its path and query (`/` at least).
    pub path_and_query: String,
}

impl fmt::Display for Destination {
    /// `scheme://host:port/path (label)`, control characters escaped and length bounded: the
    /// parts come from the connector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = format!("{}{}", self.origin, self.path_and_query);
        write!(f, "{} ({})", quote_path(&url), quote_path(&self.label))
    }
}

/// A declared destination that no URL written in the connection names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a URL the connection names")]
pub struct NotWritten(String);

/// The origin a request's scheme and authority name; `None` when the authority does not parse.
fn origin_of(scheme: Scheme, authority: &str) -> Option<Origin> {
    let authority = Authority::from_str(authority).ok()?;
    let port = port_of(&authority).ok()?;
    Origin::new(scheme, authority.host(), port).ok()
}

/// The path and query a request to `uri` asks for, as an HTTP client sends it: `/` at least,
/// and `/` before a bare query.
fn request_path(uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("", |p| p.as_str());
    match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    }
}

/// A request path for a denial: control characters escaped, length bounded.
fn quote_path(path: &str) -> String {
    let mut quoted: String = path.chars().take(MAX_QUOTED_AUTHORITY).collect();
    if path.chars().count() > MAX_QUOTED_AUTHORITY {
        quoted.push_str("...");
    }
    quoted.escape_debug().to_string()
}

/// Renders a request's destination for a denial: user info dropped, control characters escaped,
/// length bounded.
fn quote_target(scheme: &str, authority: &str) -> String {
    let host_part = authority.rsplit('@').next().unwrap_or("");
    let raw = format!("{scheme}://{host_part}");
    let mut quoted: String = raw.chars().take(MAX_QUOTED_AUTHORITY).collect();
    if raw.chars().count() > MAX_QUOTED_AUTHORITY {
        quoted.push_str("...");
    }
    quoted.escape_debug().to_string()
}

/// A request the allow-list refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("request to {target} denied: {reason}")]
pub struct Denied {
    /// Where the request was going, as `scheme://host:port` when it parsed (user info is never
    /// included).
    pub target: String,
    /// Why it was refused.
    pub reason: DenyReason,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// The list is empty.
    NothingAllowed,
    /// The destination is none of the allowed origins.
    NotAllowed {
        /// The allowed origins with their labels, as `https://host:443 (SOAP_ENDPOINT)`.
        allowed: Vec<String>,
    },
    /// The scheme is neither `http` nor `https`.
    UnsupportedScheme,
    /// The authority carries user info (`user@host`).
    UserInfo,
    /// The authority is missing or does not parse.
    BadAuthority,
    /// The origin is allowed, but only for other paths (listed, with their labels).
    PathNotAllowed {
        /// The allowed paths on that origin, as `/dc/services (SOAP_ENDPOINT)`.
        allowed: Vec<String>,
    },
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::NothingAllowed => f.write_str("no destination is allowed"),
            DenyReason::NotAllowed { allowed } => match allowed.as_slice() {
                [one] => write!(f, "only {one} is allowed"),
                many => write!(f, "only {} are allowed", many.join(", ")),
            },
            DenyReason::UnsupportedScheme => f.write_str("only http and https are allowed"),
            DenyReason::UserInfo => f.write_str("user info (user@host) is not allowed in requests"),
            DenyReason::BadAuthority => f.write_str("the destination is not a valid host and port"),
            DenyReason::PathNotAllowed { allowed } => {
                write!(
                    f,
                    "on this origin only {} may be requested",
                    allowed.join(", ")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soap(url: &str) -> AllowList {
        AllowList::from_labelled(&[("SOAP_ENDPOINT", url)]).unwrap()
    }

    #[test]
    fn an_allowed_url_admits_its_path_only() {
        let mut list = AllowList::none();
        list.allow_url("SOAP_ENDPOINT", "http://127.0.0.1:8080/dc/services")
            .unwrap();
        list.allow_url(
            "CONNECTIONJSON gw.url",
            "http://127.0.0.1:8080/oauth/token?x=1",
        )
        .unwrap();
        let allowed = |uri: &str| list.allows_uri(&Uri::from_str(uri).unwrap());
        assert_eq!(allowed("http://127.0.0.1:8080/dc/services"), Ok(()));
        assert_eq!(allowed("http://127.0.0.1:8080/oauth/token?x=1"), Ok(()));
        let denied = allowed("http://127.0.0.1:8080/admin/users").unwrap_err();
        assert_eq!(
            denied.to_string(),
            "request to http://127.0.0.1:8080/admin/users denied: on this origin only /dc/services (SOAP_ENDPOINT), /oauth/token?x=1 (CONNECTIONJSON gw.url) may be requested"
        );
        assert!(allowed("http://127.0.0.1:8080/oauth/token").is_err());
        assert!(allowed("http://127.0.0.1:8081/dc/services").is_err());
        let mut query = AllowList::none();
        query.allow_url("SOAP_ENDPOINT", "http://h?q=1").unwrap();
        assert_eq!(
            query.allows_uri(&Uri::from_str("http://h/?q=1").unwrap()),
            Ok(())
        );
        let mut root = AllowList::none();
        root.allow_url("SOAP_ENDPOINT", "https://dc.example.com")
            .unwrap();
        assert_eq!(
            root.allows_uri(&Uri::from_str("https://dc.example.com/").unwrap()),
            Ok(())
        );
    }

    fn declared(label: &str, url: &str) -> Destination {
        let (origin, path_and_query) = exact_url(url).unwrap();
        Destination {
            label: label.into(),
            origin,
            path_and_query,
        }
    }

    #[test]
    fn a_declared_destination_is_allowed_only_when_the_connection_writes_that_very_url() {
        let written = [
            " HTTP://DC.example.com:80/dc/services ",
            "https://gw.example.com/oauth/token?tenant=a#section",
            "not a url",
        ];
        let mut list = AllowList::none();
        for (label, url) in [
            ("SOAP_ENDPOINT", "http://dc.example.com/dc/services"),
            (
                "CONNECTIONJSON gw.url",
                "https://gw.example.com:443/oauth/token?tenant=a",
            ),
        ] {
            assert_eq!(list.allow_declared(&declared(label, url), &written), Ok(()));
        }
        let allowed = |uri: &str| list.allows_uri(&Uri::from_str(uri).unwrap()).is_ok();
        assert!(allowed("http://dc.example.com/dc/services"));
        assert!(allowed("https://gw.example.com/oauth/token?tenant=a"));
        assert!(!allowed("http://dc.example.com/admin/users"));

        let refused = [
            (
                "http://127.0.0.2/dc/services",
                "http://127.0.0.2:80/dc/services (SOAP_ENDPOINT)",
            ),
            (
                "http://dc.example.com/admin/users",
                "http://dc.example.com:80/admin/users (SOAP_ENDPOINT)",
            ),
            (
                "http://dc.example.com:8080/dc/services",
                "http://dc.example.com:8080/dc/services (SOAP_ENDPOINT)",
            ),
            (
                "https://dc.example.com/dc/services",
                "https://dc.example.com:443/dc/services (SOAP_ENDPOINT)",
            ),
            (
                "https://gw.example.com/oauth/token",
                "https://gw.example.com:443/oauth/token (SOAP_ENDPOINT)",
            ),
        ];
        for (url, shown) in refused {
            assert_eq!(
                list.allow_declared(&declared("SOAP_ENDPOINT", url), &written)
                    .unwrap_err()
                    .to_string(),
                format!("{shown} is not a URL the connection names"),
                "{url}"
            );
        }
        assert_eq!(list.origins().count(), 2, "nothing refused was added");
    }

    #[test]
    fn a_declared_destination_is_shown_escaped() {
        let destination = Destination {
            label: "CONNECTIONJSON \u{1b}[31mgw.url".into(),
            origin: Origin::new(Scheme::Http, "h\nx", Some(1)).unwrap(),
            path_and_query: "/\u{7}".into(),
        };
        assert_eq!(
            AllowList::none()
                .allow_declared(&destination, &[])
                .unwrap_err()
                .to_string(),
            "http://h\\nx:1/\\u{7} (CONNECTIONJSON \\u{1b}[31mgw.url) is not a URL the connection names"
        );
    }

    #[test]
    fn origin_of_urls() {
        let cases: &[(&str, Result<&str, UrlProblem>)] = &[
            (
                "https://dc.example.com/path",
                Ok("https://dc.example.com:443"),
            ),
            ("https://DC.Example.COM", Ok("https://dc.example.com:443")),
            ("HTTPS://dc.example.com", Ok("https://dc.example.com:443")),
            ("http://dc.example.com", Ok("http://dc.example.com:80")),
            (
                "http://dc.example.com:8080/a?b=c",
                Ok("http://dc.example.com:8080"),
            ),
            (
                "https://dc.example.com:443/",
                Ok("https://dc.example.com:443"),
            ),
            (
                "  https://dc.example.com/x \n",
                Ok("https://dc.example.com:443"),
            ),
            ("https://10.0.0.5/", Ok("https://10.0.0.5:443")),
            ("http://[::1]:8080/", Ok("http://[::1]:8080")),
            ("http://[0:0:0:0:0:0:0:1]/", Ok("http://[::1]:80")),
            ("https://[2001:DB8::A]/", Ok("https://[2001:db8::a]:443")),
            ("", Err(UrlProblem::Empty)),
            ("   ", Err(UrlProblem::Empty)),
            ("dc.example.com/path", Err(UrlProblem::NoScheme)),
            ("/relative/path", Err(UrlProblem::NoScheme)),
            (
                "ftp://dc.example.com/",
                Err(UrlProblem::UnsupportedScheme("ftp".into())),
            ),
            ("https://user:pw@dc.example.com/", Err(UrlProblem::UserInfo)),
            ("https://[not-v6]/", Err(UrlProblem::BadIpv6)),
            ("https://[::1%25eth0]/", Err(UrlProblem::BadIpv6)),
            ("http://1:1/", Ok("http://1:1")),
            ("http://dc.example.com:/", Ok("http://dc.example.com:80")),
            ("http://dc.example.com:+80/", Err(UrlProblem::BadPort)),
            ("https://dc example.com/", Err(UrlProblem::BadHost)),
            ("https://dc.example.com:99999/", Err(UrlProblem::BadPort)),
            ("https://", Err(UrlProblem::NoHost)),
            ("http://h:65536/x", Err(UrlProblem::BadPort)),
            ("http://h:0/x", Err(UrlProblem::BadPort)),
            ("http://h:65535/x", Ok("http://h:65535")),
            ("http://host:A:B/x", Err(UrlProblem::BadPort)),
            ("http://host:80:81/x", Err(UrlProblem::BadPort)),
            ("http://dc%3aexample.com/x", Err(UrlProblem::BadHost)),
            ("http://bücher.example/x", Err(UrlProblem::BadHost)),
            ("https://h/Duck Creek/x", Err(UrlProblem::BadPath)),
            ("https://h/a\r\nX: 1", Err(UrlProblem::BadPath)),
            ("https://h/a<b", Err(UrlProblem::BadPath)),
            ("https://h/a?b=c d", Err(UrlProblem::BadPath)),
            ("http://[::1/x", Err(UrlProblem::BadIpv6)),
        ];
        for (url, expected) in cases {
            let got = Origin::parse_url(url).map(|o| o.to_string());
            assert_eq!(got, expected.clone().map(str::to_owned), "url {url:?}");
        }
    }

    #[test]
    fn origin_accessors() {
        let origin = Origin::parse_url("https://DC.example.com:8443/x").unwrap();
        assert_eq!(origin.scheme(), Scheme::Https);
        assert_eq!(origin.host(), "dc.example.com");
        assert_eq!(origin.port(), 8443);
    }

    #[test]
    fn requests_against_one_https_endpoint() {
        let list = soap("https://dc.example.com/DuckCreek/Server.asmx");
        let cases: &[(&str, &str, bool)] = &[
            ("https", "dc.example.com", true),
            ("https", "dc.example.com:443", true),
            ("HTTPS", "DC.EXAMPLE.COM", true),
            ("https", "dc.example.com.", false),
            ("http", "dc.example.com", false),
            ("http", "dc.example.com:443", false),
            ("https", "dc.example.com:8443", false),
            ("https", "evil.dc.example.com", false),
            ("https", "example.com", false),
            ("https", "dc.example.com.evil.net", false),
            ("https", "xdc.example.com", false),
            ("https", "user@dc.example.com", false),
            ("https", "dc.example.com@evil.net", false),
            ("https", "", false),
            ("https", "dc.example.com:", true),
            ("https", "dc.example.com:abc", false),
            ("ftp", "dc.example.com", false),
            ("", "dc.example.com", false),
            ("https", "10.0.0.5", false),
        ];
        for (scheme, authority, allowed) in cases {
            assert_eq!(
                list.allows(scheme, authority).is_ok(),
                *allowed,
                "{scheme}://{authority}"
            );
        }
    }

    #[test]
    fn requests_against_an_http_endpoint_with_port() {
        let list = soap("http://127.0.0.1:8080/soap");
        let cases: &[(&str, &str, bool)] = &[
            ("http", "127.0.0.1:8080", true),
            ("http", "127.0.0.1", false),
            ("http", "127.0.0.1:80", false),
            ("https", "127.0.0.1:8080", false),
            ("http", "localhost:8080", false),
            ("http", "127.0.0.2:8080", false),
        ];
        for (scheme, authority, allowed) in cases {
            assert_eq!(
                list.allows(scheme, authority).is_ok(),
                *allowed,
                "{scheme}://{authority}"
            );
        }
    }

    #[test]
    fn requests_against_an_ipv6_endpoint() {
        let list = soap("http://[::1]:9000/");
        let cases: &[(&str, &str, bool)] = &[
            ("http", "[::1]:9000", true),
            ("http", "[0::1]:9000", true),
            ("http", "[::1]", false),
            ("http", "[::2]:9000", false),
            ("http", "::1:9000", false),
            ("http", "[::1:9000", false),
            ("http", "127.0.0.1:9000", false),
        ];
        for (scheme, authority, allowed) in cases {
            assert_eq!(
                list.allows(scheme, authority).is_ok(),
                *allowed,
                "{scheme}://{authority}"
            );
        }
    }

    #[test]
    fn empty_list_denies_everything() {
        for list in [AllowList::none(), AllowList::from_urls(&[]).unwrap()] {
            assert!(list.is_empty());
            assert_eq!(
                list.allows("https", "dc.example.com")
                    .unwrap_err()
                    .to_string(),
                "request to https://dc.example.com:443 denied: no destination is allowed"
            );
        }
    }

    #[test]
    fn denial_messages() {
        let one = soap("https://dc.example.com/x");
        let two = AllowList::from_labelled(&[
            ("SOAP_ENDPOINT", "https://dc.example.com/x"),
            ("TOKEN_URL", "https://auth.example.com/token"),
        ])
        .unwrap();
        let unlabelled = AllowList::from_urls(&["https://dc.example.com"]).unwrap();
        let cases: &[(&AllowList, &str, &str, &str)] = &[
            (
                &one,
                "http",
                "10.0.0.5:80",
                "request to http://10.0.0.5:80 denied: only https://dc.example.com:443 (SOAP_ENDPOINT) is allowed",
            ),
            (
                &two,
                "https",
                "evil.net",
                "request to https://evil.net:443 denied: only https://dc.example.com:443 (SOAP_ENDPOINT), https://auth.example.com:443 (TOKEN_URL) are allowed",
            ),
            (
                &unlabelled,
                "https",
                "evil.net",
                "request to https://evil.net:443 denied: only https://dc.example.com:443 is allowed",
            ),
            (
                &one,
                "https",
                "admin:hunter2@dc.example.com",
                "request to https://dc.example.com denied: user info (user@host) is not allowed in requests",
            ),
            (
                &one,
                "gopher",
                "dc.example.com",
                "request to gopher://dc.example.com denied: only http and https are allowed",
            ),
            (
                &one,
                "https",
                "bad host\n",
                "request to https://bad host\\n denied: the destination is not a valid host and port",
            ),
        ];
        for (list, scheme, authority, expected) in cases {
            assert_eq!(
                list.allows(scheme, authority).unwrap_err().to_string(),
                *expected,
                "{scheme}://{authority}"
            );
        }
    }

    #[test]
    fn denial_quotes_a_bounded_authority() {
        let long = "a".repeat(1000);
        let denied = soap("https://dc.example.com")
            .allows("https", &format!("{long}:x"))
            .unwrap_err();
        assert_eq!(denied.reason, DenyReason::BadAuthority);
        assert_eq!(
            denied.target,
            format!(
                "https://{}...",
                "a".repeat(MAX_QUOTED_AUTHORITY - "https://".len())
            )
        );
    }

    #[test]
    fn allows_uri() {
        let list = soap("https://dc.example.com/x");
        let cases: &[(&str, bool)] = &[
            ("https://dc.example.com/anything?q=1", true),
            ("https://dc.example.com:443/", true),
            ("http://dc.example.com/", false),
            ("/just/a/path", false),
            ("https://other.example.com/", false),
        ];
        for (uri, allowed) in cases {
            let uri: Uri = uri.parse().unwrap();
            assert_eq!(list.allows_uri(&uri).is_ok(), *allowed, "{uri}");
        }
    }

    #[test]
    fn building_errors_name_the_url_but_not_its_text() {
        assert_eq!(
            AllowList::from_labelled(&[("SOAP_ENDPOINT", "https://admin:hunter2@dc.example.com/")])
                .unwrap_err()
                .to_string(),
            "cannot allow requests to SOAP_ENDPOINT: it carries user info (user@host); put credentials in USERNAME and PASSWORD instead"
        );
        assert_eq!(
            AllowList::from_urls(&["https://ok.example.com", "ftp://x"]).unwrap_err(),
            PolicyError::InvalidUrl {
                which: "allowed URL 2".into(),
                problem: UrlProblem::UnsupportedScheme("ftp".into()),
            }
        );
    }

    #[test]
    fn duplicates_are_kept_once() {
        let list =
            AllowList::from_urls(&["https://dc.example.com", "https://DC.example.com:443/x"])
                .unwrap();
        assert_eq!(
            list.origins().map(Origin::to_string).collect::<Vec<_>>(),
            vec!["https://dc.example.com:443"]
        );
    }
}
