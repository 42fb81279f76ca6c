//! SOAP_ENDPOINT, split into what an outgoing request needs.

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

impl Endpoint {
    /// Parses an absolute `http(s)://host[:port][/path][?query]` URL.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "`{url}` is not an absolute URL: write it as https://host[:port]/path"
            ));
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "the scheme `{scheme}` is not supported: use https (or http)"
            ));
        }
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        if authority.is_empty() {
            return Err(format!("`{url}` has no host"));
        }
        if authority.contains('@') {
            return Err(
                "credentials in the URL are not accepted: use USERNAME and PASSWORD".into(),
            );
        }
        if authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!("`{url}` has a space in its host"));
        }
        let tail = tail.split('#').next().unwrap_or_default();
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

    /// The URL again, for messages.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme, self.authority, self.path_and_query
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }

    #[test]
    fn refuses_what_is_not_an_http_url() {
        let cases = [
            ("dc.example.com/x", "not an absolute URL"),
            ("ftp://h/x", "not supported"),
            ("https:///x", "no host"),
            ("https://u:p@h/x", "credentials"),
            ("https://h st/x", "space"),
        ];
        for (url, message) in cases {
            let error = Endpoint::parse(url).unwrap_err();
            assert!(error.contains(message), "{url}: {error}");
        }
    }
}
