//! SOAP_ENDPOINT and the token URLs, split into what an outgoing request needs, and checked
//! at load against what the host will refuse later: its egress policy (`host/src/policy.rs`,
//! which reads a URL with the `http` crate and wants a host and a port number) and the HTTP layer
//! (wasi:http's `set-authority` and `set-path-with-query`, the `http` crate's rules). So a URL
//! that could never be sent is a configuration problem with its place, found by `validate`.

use std::net::Ipv6Addr;

/// Where requests are posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`: the only authority the component asks the host to reach.
    pub authority: String,
    /// The path and query, `/` at least.
    pub path_and_query: String,
}

/// Why a URL cannot be used, and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    /// The 1-based position, in characters, of the mistake in the value as configured.
    pub character: usize,
    /// What is wrong and what to write instead. It never quotes the whole URL (it may carry
    /// credentials), only the offending part.
    pub message: String,
}

impl UrlError {
    /// Where the mistake is, for a problem's location: `character 24`, after `prefix` when
    /// given (`gw.url, character 24`).
    pub fn location(&self, prefix: Option<&str>) -> String {
        match prefix {
            Some(prefix) => format!("{prefix}, character {}", self.character),
            None => format!("character {}", self.character),
        }
    }
}

/// The longest URI the HTTP layer accepts (the `http` crate's limit).
const MAX_URL: usize = 65_534;

/// How an absolute URL is written, for messages.
const URL_SHAPE: &str = "write it as https://host[:port]/path";

impl Endpoint {
    /// Parses an absolute `http(s)://host[:port][/path][?query][#fragment]` URL (surrounding
    /// whitespace ignored, the fragment dropped), refusing what the host's policy or its HTTP
    /// layer would refuse when a request is sent.
    pub fn parse(url: &str) -> Result<Endpoint, UrlError> {
        let lead = url.len() - url.trim_start().len();
        let text = url.trim();
        // The mistake at byte `offset` of `text`.
        let at = |offset: usize, message: String| UrlError {
            character: url[..lead + offset].chars().count() + 1,
            message,
        };
        if text.is_empty() {
            return Err(at(0, format!("empty: {URL_SHAPE}")));
        }
        if text.len() > MAX_URL {
            return Err(at(
                MAX_URL,
                format!("longer than the {MAX_URL} bytes the HTTP layer accepts"),
            ));
        }
        let Some(scheme_end) = text.find("://") else {
            return Err(at(0, format!("not an absolute URL: {URL_SHAPE}")));
        };
        let scheme = text[..scheme_end].to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(at(
                0,
                format!(
                    "the scheme `{}` is not supported: use https (or http)",
                    quoted(&scheme)
                ),
            ));
        }
        let authority_start = scheme_end + 3;
        let rest = &text[authority_start..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        check_authority(authority)
            .map_err(|(offset, message)| at(authority_start + offset, message))?;
        let tail_start = authority_start + authority_end;
        let tail = &text[tail_start..];
        let tail = tail.split('#').next().unwrap_or_default();
        check_path_and_query(tail).map_err(|(offset, message)| at(tail_start + offset, message))?;
        let path_and_query = match tail {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        Ok(Endpoint {
            scheme,
            authority: authority.to_string(),
            path_and_query,
        })
    }

    /// The host as an egress policy compares it: lower case; an IPv6 address in brackets and in
    /// its canonical form (`[::1]`).
    pub fn host(&self) -> String {
        let (host, _) = self.host_and_port();
        let address = host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .and_then(|inner| inner.parse::<Ipv6Addr>().ok());
        match address {
            Some(address) => format!("[{address}]"),
            None => host.to_ascii_lowercase(),
        }
    }

    /// The port written in the URL, else the scheme's default (80 for http, 443 for https).
    pub fn port(&self) -> u16 {
        let default = if self.scheme == "https" { 443 } else { 80 };
        let (_, port) = self.host_and_port();
        port.and_then(|port| port.parse().ok()).unwrap_or(default)
    }

    /// The authority split into its host and its port, if one is written (`host:` names none).
    fn host_and_port(&self) -> (&str, Option<&str>) {
        let authority = self.authority.as_str();
        let host_end = if authority.starts_with('[') {
            authority
                .find(']')
                .map_or(authority.len(), |close| close + 1)
        } else {
            authority.find(':').unwrap_or(authority.len())
        };
        let (host, rest) = authority.split_at(host_end);
        (host, rest.strip_prefix(':').filter(|port| !port.is_empty()))
    }

    /// The URL again, for messages.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme, self.authority, self.path_and_query
        )
    }

    /// `host:port`, the port always written: where a connection is made.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host(), self.port())
    }

    /// The URL as a message shows it: `scheme://host:port/path`, without the query, which may
    /// carry a key or a token.
    pub fn shown_url(&self) -> String {
        let path = self
            .path_and_query
            .split_once('?')
            .map_or(self.path_and_query.as_str(), |(path, _)| path);
        format!("{}://{}{path}", self.scheme, self.address())
    }
}

/// A mistake at a byte offset of the part being checked.
type Mistake = (usize, String);

/// Checks `host[:port]`: a host name (letters, digits, `-`, `.`, `_`), an IPv4 address or an
/// IPv6 address in brackets, and a port number when a `:` follows (an empty one means the
/// scheme's default, as the policy reads it).
fn check_authority(authority: &str) -> Result<(), Mistake> {
    if authority.is_empty() {
        return Err((0, format!("the URL names no host: {URL_SHAPE}")));
    }
    if let Some(at) = authority.find('@') {
        return Err((
            at,
            "credentials in the URL (user@host) are not accepted: use USERNAME and PASSWORD".into(),
        ));
    }
    let port_colon = if let Some(inner) = authority.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err((
                0,
                "a `[` opens an IPv6 address that no `]` closes: write it as [::1]:8080".into(),
            ));
        };
        let address = &inner[..close];
        if address.parse::<Ipv6Addr>().is_err() {
            return Err((
                1,
                format!(
                    "`[{}]` is not an IPv6 address (a zone such as %eth0 is not supported)",
                    quoted(address)
                ),
            ));
        }
        let after = close + 2;
        match authority[after..].chars().next() {
            None => None,
            Some(':') => Some(after),
            Some(other) => {
                return Err((
                    after,
                    format!(
                        "`{}` after the IPv6 address: only `:port` may follow `]`",
                        other.escape_debug()
                    ),
                ));
            }
        }
    } else {
        let host_end = authority.find(':').unwrap_or(authority.len());
        if host_end == 0 && authority[1..].contains(':') {
            return Err((
                0,
                "the URL names no host, or an IPv6 address without brackets: write it as [::1]:8080".into(),
            ));
        }
        check_host(&authority[..host_end])?;
        (host_end < authority.len()).then_some(host_end)
    };
    let Some(colon) = port_colon else {
        return Ok(());
    };
    let port = &authority[colon + 1..];
    if let Some(second) = port.find(':') {
        return Err((
            colon + 1 + second,
            "a second `:` after the host: the port is one number, and an IPv6 address is written in brackets ([::1]:8080)".into(),
        ));
    }
    if port.is_empty() {
        return Ok(());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err((
            colon + 1,
            format!(
                "the port `{}` is not a number: write digits only",
                quoted(port)
            ),
        ));
    }
    match port.parse::<u32>() {
        Ok(1..=65535) => Ok(()),
        _ => Err((
            colon + 1,
            format!(
                "the port `{}` is out of range: a port is 1 to 65535",
                quoted(port)
            ),
        )),
    }
}

/// Checks a host name or IPv4 address.
fn check_host(host: &str) -> Result<(), Mistake> {
    if host.is_empty() {
        return Err((0, format!("the URL names no host: {URL_SHAPE}")));
    }
    for (at, c) in host.char_indices() {
        let problem = match c {
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') => continue,
            '%' => format!(
                "percent-encoding (`{}`) in the host is not accepted: write the host name as it is",
                quoted(host[at..].get(..3).unwrap_or(&host[at..]))
            ),
            ' ' => "a space in the host".to_string(),
            c if c.is_control() => {
                format!("a control character (U+{:04X}) in the host", u32::from(c))
            }
            c if !c.is_ascii() => format!(
                "`{c}` in the host, which the HTTP layer refuses: write an internationalised host name in its ASCII form (xn--...)"
            ),
            c => format!("`{c}` is not allowed in a host name"),
        };
        return Err((at, problem));
    }
    Ok(())
}

/// Checks the path and query (without the fragment) byte by byte as the HTTP layer does: in
/// the path, printable ASCII but space, `<`, `>` and `` ` `` (`"`, `{` and `}` are tolerated);
/// in the query, printable ASCII but space, `"`, `<` and `>`; UTF-8 beyond ASCII in both.
fn check_path_and_query(tail: &str) -> Result<(), Mistake> {
    let mut in_query = false;
    for (at, c) in tail.char_indices() {
        let allowed = match c {
            '?' => {
                in_query = true;
                true
            }
            ' ' | '<' | '>' => false,
            '`' => in_query,
            '"' => !in_query,
            c if c.is_ascii_control() => false,
            _ => true,
        };
        if allowed {
            continue;
        }
        let part = if in_query { "query" } else { "path" };
        let problem = match c {
            ' ' => format!("a space in the {part}: write it percent-encoded as %20"),
            c if c.is_ascii_control() => {
                format!("a control character (U+{:04X}) in the {part}", u32::from(c))
            }
            '`' => {
                format!("a backtick is not allowed in the {part}: write it percent-encoded as %60")
            }
            c => format!(
                "`{c}` is not allowed in the {part}: write it percent-encoded as %{:02X}",
                u32::from(c)
            ),
        };
        return Err((at, problem));
    }
    Ok(())
}

/// A part of a URL for a message: at most 40 characters, control characters escaped.
fn quoted(part: &str) -> String {
    let mut shown: String = part.chars().take(40).collect();
    if shown.len() < part.len() {
        shown.push('…');
    }
    shown.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn a_url_is_shown_with_its_port_and_without_its_query() {
        let cases = [
            (
                "http://127.0.0.1:9/dc/services",
                "127.0.0.1:9",
                "http://127.0.0.1:9/dc/services",
            ),
            (
                "https://DC.example.com/Server.svc?apikey=k",
                "dc.example.com:443",
                "https://dc.example.com:443/Server.svc",
            ),
            (
                "http://[::1]:8080/x?y=1#frag",
                "[::1]:8080",
                "http://[::1]:8080/x",
            ),
            ("http://h:/a", "h:80", "http://h:80/a"),
            ("http://h?q", "h:80", "http://h:80/"),
        ];
        for (url, address, shown) in cases {
            let endpoint = Endpoint::parse(url).unwrap();
            assert_eq!(
                (endpoint.address().as_str(), endpoint.shown_url().as_str()),
                (address, shown),
                "{url}"
            );
        }
    }

    #[test]
    fn splits_urls() {
        let cases = [
            (
                "https://dc.example.com/DuckCreek/Services.svc",
                "https",
                "dc.example.com",
                "/DuckCreek/Services.svc",
            ),
            ("HTTP://127.0.0.1:8080", "http", "127.0.0.1:8080", "/"),
            ("http://[::1]:9/x?y=1#frag", "http", "[::1]:9", "/x?y=1"),
            ("http://h?q", "http", "h", "/?q"),
            ("  http://h:/a \n", "http", "h:", "/a"),
            (
                "https://dc_1.example.com./a%20b/{x}/\"q\"/ü?a=`{}`|^",
                "https",
                "dc_1.example.com.",
                "/a%20b/{x}/\"q\"/ü?a=`{}`|^",
            ),
            ("https://h:65535/#x y", "https", "h:65535", "/"),
        ];
        for (url, scheme, authority, path) in cases {
            let endpoint = Endpoint::parse(url).unwrap();
            assert_eq!(
                (
                    endpoint.scheme.as_str(),
                    endpoint.authority.as_str(),
                    endpoint.path_and_query.as_str()
                ),
                (scheme, authority, path),
                "{url}"
            );
            http_layer_accepts(&endpoint);
        }
    }

    #[test]
    fn hosts_and_ports_as_a_policy_compares_them() {
        let cases = [
            ("https://DC.Example.com/x", "dc.example.com", 443),
            ("http://dc.example.com/x", "dc.example.com", 80),
            ("HTTP://127.0.0.1:8080", "127.0.0.1", 8080),
            ("http://h:/a", "h", 80),
            ("https://[0:0:0:0:0:0:0:1]/", "[::1]", 443),
            ("http://[2001:DB8::A]:9/x", "[2001:db8::a]", 9),
            ("https://h:65535/", "h", 65535),
        ];
        for (url, host, port) in cases {
            let endpoint = Endpoint::parse(url).unwrap();
            assert_eq!(
                (endpoint.host().as_str(), endpoint.port()),
                (host, port),
                "{url}"
            );
        }
    }

    /// What wasi:http checks (`set-authority`, `set-path-with-query`) and what the host's policy
    /// parses (the whole URI, a port number).
    fn http_layer_accepts(endpoint: &Endpoint) {
        http::uri::Authority::from_str(&endpoint.authority).unwrap();
        http::uri::PathAndQuery::from_str(&endpoint.path_and_query).unwrap();
        let uri = http::Uri::from_str(&endpoint.url()).unwrap();
        if let Some(port) = uri.authority().unwrap().port() {
            assert!(port.as_str().parse::<u16>().is_ok(), "{}", endpoint.url());
        }
    }

    #[test]
    fn refuses_what_the_host_would_refuse_with_its_place() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "dc.example.com/x",
                1,
                "not an absolute URL: write it as https://host[:port]/path",
            ),
            (
                "ftp://h/x",
                1,
                "the scheme `ftp` is not supported: use https (or http)",
            ),
            (
                "https:///x",
                9,
                "the URL names no host: write it as https://host[:port]/path",
            ),
            (
                "https://:8080/x",
                9,
                "the URL names no host: write it as https://host[:port]/path",
            ),
            (
                "https://u:p@h/x",
                12,
                "credentials in the URL (user@host) are not accepted: use USERNAME and PASSWORD",
            ),
            ("https://h st/x", 10, "a space in the host"),
            (
                "http://h:65536/x",
                10,
                "the port `65536` is out of range: a port is 1 to 65535",
            ),
            (
                "http://h:0/x",
                10,
                "the port `0` is out of range: a port is 1 to 65535",
            ),
            (
                "http://h:99999999999999999999/x",
                10,
                "the port `99999999999999999999` is out of range: a port is 1 to 65535",
            ),
            (
                "http://h:+8080/x",
                10,
                "the port `+8080` is not a number: write digits only",
            ),
            (
                "http://h:80a/x",
                10,
                "the port `80a` is not a number: write digits only",
            ),
            (
                "http://host:A:B/x",
                14,
                "a second `:` after the host: the port is one number, and an IPv6 address is written in brackets ([::1]:8080)",
            ),
            (
                "http://::1/x",
                8,
                "the URL names no host, or an IPv6 address without brackets: write it as [::1]:8080",
            ),
            (
                "http://dc%3aexample.com/x",
                10,
                "percent-encoding (`%3a`) in the host is not accepted: write the host name as it is",
            ),
            (
                "http://dc.example.com%/x",
                22,
                "percent-encoding (`%`) in the host is not accepted: write the host name as it is",
            ),
            (
                "http://bücher.example/x",
                9,
                "`ü` in the host, which the HTTP layer refuses: write an internationalised host name in its ASCII form (xn--...)",
            ),
            ("http://h!/x", 9, "`!` is not allowed in a host name"),
            (
                "http://h\t/x",
                9,
                "a control character (U+0009) in the host",
            ),
            (
                "http://[::1/x",
                8,
                "a `[` opens an IPv6 address that no `]` closes: write it as [::1]:8080",
            ),
            (
                "http://[::g]/x",
                9,
                "`[::g]` is not an IPv6 address (a zone such as %eth0 is not supported)",
            ),
            (
                "http://[::1%25eth0]/x",
                9,
                "`[::1%25eth0]` is not an IPv6 address (a zone such as %eth0 is not supported)",
            ),
            (
                "http://[::1]x/y",
                13,
                "`x` after the IPv6 address: only `:port` may follow `]`",
            ),
            (
                "http://[::1]:99999/",
                14,
                "the port `99999` is out of range: a port is 1 to 65535",
            ),
            (
                "https://h/Duck Creek/x",
                15,
                "a space in the path: write it percent-encoded as %20",
            ),
            (
                "https://h/a<b",
                12,
                "`<` is not allowed in the path: write it percent-encoded as %3C",
            ),
            (
                "https://h/a`b",
                12,
                "a backtick is not allowed in the path: write it percent-encoded as %60",
            ),
            (
                "https://h/a?b=\"c\"",
                15,
                "`\"` is not allowed in the query: write it percent-encoded as %22",
            ),
            (
                "https://h/a?b=c d",
                16,
                "a space in the query: write it percent-encoded as %20",
            ),
            (
                "https://h/a\r\nX-Evil: 1",
                12,
                "a control character (U+000D) in the path",
            ),
            (
                "https://h/a\u{7f}",
                12,
                "a control character (U+007F) in the path",
            ),
            (
                "  https://h:+1/",
                13,
                "the port `+1` is not a number: write digits only",
            ),
        ];
        for (url, character, message) in cases {
            assert_eq!(
                Endpoint::parse(url),
                Err(UrlError {
                    character: *character,
                    message: message.to_string()
                }),
                "{url:?}"
            );
        }
        let long = format!("https://h/{}", "a".repeat(MAX_URL));
        assert_eq!(
            Endpoint::parse(&long).unwrap_err().message,
            "longer than the 65534 bytes the HTTP layer accepts"
        );
    }

    #[test]
    fn messages_never_quote_credentials() {
        let error = Endpoint::parse("https://admin:hunter2@dc.example.com:bad/").unwrap_err();
        assert!(!error.message.contains("hunter2"), "{error:?}");
    }
}
