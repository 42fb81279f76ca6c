//! The destinations of a connection: every URL its requests may go to, for a host's egress
//! policy (`destinations` in the WIT), so that no host reads the attribute format to find them.
//!
//! No template forms a URL: requests go to `SOAP_ENDPOINT` (every import and provisioning call,
//! and test-connection) and to the token URL of each token connection of CONNECTIONJSON, and
//! nowhere else.

use crate::config::{CONNECTIONJSON, Config, Endpoint, SOAP_ENDPOINT};

/// How a destination is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// One URL requests go to, split as an egress policy compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The attribute that names it (`SOAP_ENDPOINT`, `CONNECTIONJSON`).
    pub attribute: String,
    /// Where inside the attribute (`dcGateway.url`), when it applies.
    pub location: Option<String>,
    /// The scheme.
    pub scheme: Scheme,
    /// The host: lower case; an IPv6 address in brackets, canonical.
    pub host: String,
    /// The port, the scheme's default when the URL names none.
    pub port: u16,
    /// The path with its query, `/` at least.
    pub path_and_query: String,
}

impl Destination {
    fn of(attribute: &str, location: Option<String>, endpoint: &Endpoint) -> Destination {
        Destination {
            attribute: attribute.to_string(),
            location,
            scheme: if endpoint.scheme == "https" {
                Scheme::Https
            } else {
                Scheme::Http
            },
            host: endpoint.host(),
            port: endpoint.port(),
            path_and_query: endpoint.path_and_query.clone(),
        }
    }
}

/// Every destination of `config`: SOAP_ENDPOINT first, then the token URLs of its token
/// connections, by connection name.
pub fn destinations(config: &Config) -> Vec<Destination> {
    let endpoint = Destination::of(SOAP_ENDPOINT, None, &config.endpoint);
    let token_urls = config.connections.tokens().filter_map(|token| {
        let request = token.request.as_ref()?;
        let location = format!("{}.url", token.name);
        Some(Destination::of(
            CONNECTIONJSON,
            Some(location),
            &request.endpoint,
        ))
    });
    std::iter::once(endpoint).chain(token_urls).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Connection, load};

    fn config(pairs: &[(&str, &str)]) -> Config {
        let loaded = load(&Connection::from_pairs(pairs.iter().copied()));
        loaded
            .config
            .unwrap_or_else(|| panic!("{:?}", loaded.problems))
    }

    fn destination(
        attribute: &str,
        location: Option<&str>,
        (scheme, host, port, path): (Scheme, &str, u16, &str),
    ) -> Destination {
        Destination {
            attribute: attribute.into(),
            location: location.map(str::to_string),
            scheme,
            host: host.into(),
            port,
            path_and_query: path.into(),
        }
    }

    #[test]
    fn the_endpoint_alone_without_token_connections() {
        let config = config(&[(
            "SOAP_ENDPOINT",
            " HTTPS://DC.example.com/Duck/Server.svc?a=1 ",
        )]);
        assert_eq!(
            destinations(&config),
            [destination(
                "SOAP_ENDPOINT",
                None,
                (Scheme::Https, "dc.example.com", 443, "/Duck/Server.svc?a=1")
            )]
        );
    }

    #[test]
    fn the_endpoint_then_each_token_url_by_connection_name_and_no_session_connection() {
        let connections = r#"{"authentications": {
            "zGateway": {"authType": "oauth2", "url": "http://[::1]:8443/oauth/token"},
            "aGateway": {"url": "https://Auth.example.com/t#fragment"},
            "static": {"authType": "Bearer", "accessToken": "Bearer ${API_TOKEN}"},
            "session": {"authType": "session", "url": "https://ignored.example.com/"}
        }}"#;
        let config = config(&[
            ("SOAP_ENDPOINT", "http://127.0.0.1:8080/dc/services"),
            ("CONNECTIONJSON", connections),
            ("API_TOKEN", "t"),
        ]);
        assert_eq!(
            destinations(&config),
            [
                destination(
                    "SOAP_ENDPOINT",
                    None,
                    (Scheme::Http, "127.0.0.1", 8080, "/dc/services")
                ),
                destination(
                    "CONNECTIONJSON",
                    Some("aGateway.url"),
                    (Scheme::Https, "auth.example.com", 443, "/t")
                ),
                destination(
                    "CONNECTIONJSON",
                    Some("zGateway.url"),
                    (Scheme::Http, "[::1]", 8443, "/oauth/token")
                ),
            ]
        );
    }
}
