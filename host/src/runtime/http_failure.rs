//! Failed requests in words, for the operator: where the request went and why it failed, as
//! `cannot connect to 127.0.0.1:9 (http://127.0.0.1:9/dc/services): connection refused`, never
//! Rust's debug text. The URL is shown without its query and user info, which may carry
//! credentials.

use std::io;

use wasmtime_wasi_http::Error as HttpError;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;

use crate::secrets;

/// Where a request went, as messages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// `host:port`, the port always written.
    address: String,
    /// `scheme://host:port/path`.
    url: String,
}

impl Target {
    /// The target of a request to `uri`.
    pub(super) fn of(uri: &http::Uri) -> Target {
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let default_port = if scheme == "https" { 443 } else { 80 };
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let address = format!("{host}:{}", uri.port_u16().unwrap_or(default_port));
        let url = format!("{scheme}://{address}{}", uri.path());
        Target { address, url }
    }

    /// Logs a failed request as a warning, in words, when the failure is the network's or the
    /// server's (a request the host itself refused or cut at its deadline is reported by the
    /// component's error alone).
    pub(super) fn log_failure(&self, error: &HttpError) {
        if let Some(message) = self.describe(error) {
            tracing::warn!("{}", secrets::mask(&message));
        }
    }

    /// What the warning for `error` says, if it deserves one.
    fn describe(&self, error: &HttpError) -> Option<String> {
        let Target { address, url } = self;
        let cannot_connect = |why: &str| format!("cannot connect to {address} ({url}): {why}");
        Some(match error {
            HttpError::Connect(error) => cannot_connect(&connect_reason(error)),
            HttpError::ConnectionTimeout => cannot_connect("connection timed out"),
            HttpError::Tls(error) => cannot_connect(&format!("the TLS handshake failed: {error}")),
            HttpError::InvalidDnsNameError(_) => {
                cannot_connect("the host name is not valid for TLS")
            }
            HttpError::Hyper(error) => format!("the request to {url} failed: {error}"),
            _ => return None,
        })
    }
}

/// Why a connection could not be made, in words.
fn connect_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut => "connection timed out".into(),
        io::ErrorKind::HostUnreachable => "the host is unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "the network is unreachable".into(),
        io::ErrorKind::AddrNotAvailable => "the address is not available".into(),
        _ if is_lookup_failure(error) => "the host name could not be resolved".into(),
        _ => error.to_string(),
    }
}

/// Whether a connect error is a failed host name lookup (tokio reports it as an `io::Error` of
/// no particular kind).
fn is_lookup_failure(error: &io::Error) -> bool {
    error
        .to_string()
        .starts_with("failed to lookup address information")
}

/// The wasi:http error code of a connect error, told to the component: as wasmtime's default,
/// but an unreachable host or network is not called a refused connection.
pub(super) fn connect_error_code(error: &io::Error) -> ErrorCode {
    match error.kind() {
        io::ErrorKind::AddrNotAvailable => dns_error("address not available"),
        _ if is_lookup_failure(error) => dns_error("address not available"),
        io::ErrorKind::TimedOut => ErrorCode::ConnectionTimeout,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            ErrorCode::DestinationUnavailable
        }
        _ => ErrorCode::ConnectionRefused,
    }
}

fn dns_error(rcode: &str) -> ErrorCode {
    ErrorCode::DnsError(
        wasmtime_wasi_http::p2::bindings::http::types::DnsErrorPayload {
            rcode: Some(rcode.to_owned()),
            info_code: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_shows_host_port_and_path_without_query_or_user_info() {
        let cases = [
            (
                "http://127.0.0.1:9/dc/services",
                "127.0.0.1:9",
                "http://127.0.0.1:9/dc/services",
            ),
            (
                "https://svc:pw@DC.example.com/Server.svc?apikey=k",
                "dc.example.com:443",
                "https://dc.example.com:443/Server.svc",
            ),
            ("http://[::1]/", "[::1]:80", "http://[::1]:80/"),
        ];
        for (uri, address, url) in cases {
            let target = Target::of(&uri.parse().unwrap());
            assert_eq!(
                target,
                Target {
                    address: address.into(),
                    url: url.into()
                },
                "{uri}"
            );
        }
    }

    #[test]
    fn failures_are_described_in_words() {
        let target = Target::of(&"http://127.0.0.1:9/dc/services".parse().unwrap());
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let unreachable = io::Error::from(io::ErrorKind::NetworkUnreachable);
        let cases = [
            (
                HttpError::Connect(refused),
                Some(
                    "cannot connect to 127.0.0.1:9 (http://127.0.0.1:9/dc/services): connection refused",
                ),
            ),
            (
                HttpError::Connect(unreachable),
                Some(
                    "cannot connect to 127.0.0.1:9 (http://127.0.0.1:9/dc/services): the network is unreachable",
                ),
            ),
            (
                HttpError::ConnectionTimeout,
                Some(
                    "cannot connect to 127.0.0.1:9 (http://127.0.0.1:9/dc/services): connection timed out",
                ),
            ),
            (HttpError::ConnectionReadTimeout, None),
            (HttpError::HttpRequestDenied, None),
        ];
        for (error, expected) in cases {
            assert_eq!(target.describe(&error).as_deref(), expected, "{error}");
        }
    }

    #[test]
    fn connect_errors_keep_wasmtimes_codes_but_for_unreachable_hosts() {
        let code = |kind| connect_error_code(&io::Error::from(kind));
        assert!(matches!(
            code(io::ErrorKind::ConnectionRefused),
            ErrorCode::ConnectionRefused
        ));
        assert!(matches!(
            code(io::ErrorKind::HostUnreachable),
            ErrorCode::DestinationUnavailable
        ));
        assert!(matches!(
            code(io::ErrorKind::TimedOut),
            ErrorCode::ConnectionTimeout
        ));
        assert!(matches!(
            code(io::ErrorKind::AddrNotAvailable),
            ErrorCode::DnsError(_)
        ));
    }
}
