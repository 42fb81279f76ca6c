//! Secrets stay in the host: the component works with placeholders, and the host writes the
//! real values into outgoing requests on their way out, after the egress policy allowed them.
//!
//! - A secret attribute (see [`is_secret`]; CONNECTIONJSON excepted, since the component must
//!   read it) reaches the component as a placeholder such as `dcconn-secret-3f2a…`, made only of
//!   characters that every escaping (XML, JSON, form encoding) leaves alone. A compromised or
//!   buggy component therefore never holds the password and cannot put it into a batch, an error
//!   or a log line.
//! - [`Secrets::reveal_header`] and [`Secrets::reveal_body`] replace placeholders by the real
//!   values, encoded for where they land: as is in headers (a line break is refused), and in a
//!   body as the body's Content-Type requires (form encoding, JSON string escaping, or XML
//!   escaping for everything else).
//! - Everything the host prints or stores passes [`mask`], which replaces every secret known to
//!   this process, in the forms a remote side could echo it, by `********`: the values of secret
//!   attributes, their placeholders, and the credentials seen in outgoing Authorization headers
//!   (the tokens the component obtained).

mod mask;
mod token_answer;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::OnceLock;

use crate::connection::{Connection, is_secret};

pub use mask::{StoredValues, mask, remember};
pub use token_answer::TokenAnswer;

/// The attribute the component needs in clear: it holds the named connections' definitions
/// (their secrets are written as `${NAME}` references to secret attributes).
const CONNECTIONJSON: &str = "CONNECTIONJSON";

/// Whether the component gets a placeholder instead of this attribute's value.
pub fn is_sealed(name: &str) -> bool {
    is_secret(name) && !name.eq_ignore_ascii_case(CONNECTIONJSON)
}

/// The placeholder the component sees for `value` of attribute `name`: the same for the same
/// pair within this process, unpredictable across processes.
pub fn placeholder(name: &str, value: &str) -> String {
    static KEY: OnceLock<RandomState> = OnceLock::new();
    let mut hasher = KEY.get_or_init(RandomState::new).build_hasher();
    hasher.write(name.as_bytes());
    hasher.write_u8(0);
    hasher.write(value.as_bytes());
    let high = hasher.finish();
    hasher.write_u8(1);
    format!("dcconn-secret-{high:016x}{:016x}", hasher.finish())
}

/// The secret values of one connection, by placeholder.
#[derive(Clone, Default)]
pub struct Secrets {
    by_placeholder: BTreeMap<String, String>,
    /// The token URLs of the connection, with the path of the token in their answers: their
    /// answers carry credentials.
    token_urls: Vec<(http::Uri, Option<String>)>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} sealed)", self.by_placeholder.len())
    }
}

/// Why a secret cannot be written into a body: nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownBodyType {
    /// The body's Content-Type says nothing of how to encode a secret in it.
    #[error(
        "a secret cannot be written into a body of Content-Type {0:?}: only XML, JSON and form-encoded bodies take secrets"
    )]
    Type(String),
    /// The secret holds a character XML 1.0 cannot carry, not even as a reference (a control
    /// character such as NUL or ESC): the body would not be XML.
    #[error(
        "a secret holds the character U+{0:04X}, which an XML body cannot carry; nothing was sent: check the secret's value (a file with a stray byte?)"
    )]
    NotXml(u32),
}

/// A secret that cannot be written where its placeholder is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a secret holds a line break or a NUL, which cannot go into an HTTP header")]
pub struct UnsafeHeaderValue;

impl Secrets {
    /// The sealed attributes of `connection`; their values and placeholders become known to
    /// [`mask`].
    pub fn of(connection: &Connection) -> Secrets {
        remember_connection(connection);
        let by_placeholder = connection
            .attributes()
            .filter(|(name, value)| is_sealed(name) && !value.is_empty())
            .map(|(name, value)| (placeholder(name, value), value.to_string()))
            .collect();
        let token_urls = connection
            .token_endpoints()
            .into_iter()
            .filter_map(|endpoint| Some((endpoint.url.parse().ok()?, endpoint.token_path)))
            .collect();
        Secrets {
            by_placeholder,
            token_urls,
        }
    }

    /// When `uri` is one of the connection's token URLs, whose answers carry credentials (see
    /// [`TokenAnswer`]): the path of the token in its answers, if the connection gives one.
    pub fn token_request(&self, uri: &http::Uri) -> Option<Option<&str>> {
        let key = |uri: &http::Uri| {
            (
                uri.scheme_str().map(str::to_ascii_lowercase),
                uri.host().map(str::to_ascii_lowercase),
                uri.port_u16(),
                uri.path_and_query().map(|p| p.as_str().to_string()),
            )
        };
        self.token_urls
            .iter()
            .find(|(url, _)| key(url) == key(uri))
            .map(|(_, path)| path.as_deref())
    }

    /// Whether there is nothing to substitute.
    pub fn is_empty(&self) -> bool {
        self.by_placeholder.is_empty()
    }

    /// A header value with its placeholders replaced.
    pub fn reveal_header(&self, value: &str) -> Result<Option<String>, UnsafeHeaderValue> {
        self.reveal(value, |secret, out| {
            if secret.contains(['\r', '\n', '\0']) {
                return Err(UnsafeHeaderValue);
            }
            out.push_str(secret);
            Ok(())
        })
    }

    /// A body with its placeholders replaced, each value encoded as `content_type` requires;
    /// `None` when the body holds no placeholder (or is not text). A body of a type that has no
    /// known encoding (anything but XML, JSON and form encoding) cannot take a secret.
    pub fn reveal_body(
        &self,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Option<Vec<u8>>, UnknownBodyType> {
        let Ok(text) = std::str::from_utf8(body) else {
            return Ok(None);
        };
        let encoding = BodyEncoding::of(content_type);
        let revealed = self.reveal(text, |secret, out| match encoding {
            Some(BodyEncoding::Xml) if let Some(c) = secret.chars().find(|c| !is_xml_char(*c)) => {
                Err(UnknownBodyType::NotXml(u32::from(c)))
            }
            Some(encoding) => {
                encoding.write(secret, out);
                Ok(())
            }
            None => Err(UnknownBodyType::Type(
                content_type.unwrap_or("none").to_string(),
            )),
        })?;
        Ok(revealed.map(String::into_bytes))
    }

    fn reveal<E>(
        &self,
        text: &str,
        mut write: impl FnMut(&str, &mut String) -> Result<(), E>,
    ) -> Result<Option<String>, E> {
        if self.is_empty() || !text.contains(PLACEHOLDER_PREFIX) {
            return Ok(None);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(PLACEHOLDER_PREFIX) {
            out.push_str(&rest[..start]);
            let candidate = &rest[start..];
            match self
                .by_placeholder
                .iter()
                .find(|(placeholder, _)| candidate.starts_with(placeholder.as_str()))
            {
                Some((placeholder, secret)) => {
                    write(secret, &mut out)?;
                    rest = &candidate[placeholder.len()..];
                }
                None => {
                    out.push_str(PLACEHOLDER_PREFIX);
                    rest = &candidate[PLACEHOLDER_PREFIX.len()..];
                }
            }
        }
        out.push_str(rest);
        Ok(Some(out))
    }
}

const PLACEHOLDER_PREFIX: &str = "dcconn-secret-";

/// How a secret is written into a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyEncoding {
    Form,
    Json,
    Xml,
}

impl BodyEncoding {
    /// The encoding a media type calls for, judged by its type and subtype only (parameters
    /// such as `action="…/JsonBridge"` say nothing of it): form encoding, `json` or `+json`,
    /// `xml` or `+xml`; `None` for anything else.
    fn of(content_type: Option<&str>) -> Option<BodyEncoding> {
        let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
        let (kind, subtype) = essence.split_once('/')?;
        let is_token = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        if !is_token(kind) || !is_token(subtype) {
            return None;
        }
        match (kind, subtype) {
            ("application", "x-www-form-urlencoded") => Some(BodyEncoding::Form),
            (_, "json") => Some(BodyEncoding::Json),
            (_, "xml") => Some(BodyEncoding::Xml),
            _ if subtype.ends_with("+json") => Some(BodyEncoding::Json),
            _ if subtype.ends_with("+xml") => Some(BodyEncoding::Xml),
            _ => None,
        }
    }

    fn write(self, secret: &str, out: &mut String) {
        match self {
            BodyEncoding::Form => out.extend(form_urlencoded::byte_serialize(secret.as_bytes())),
            BodyEncoding::Json => out.push_str(&json_escaped(secret)),
            BodyEncoding::Xml => out.push_str(&xml_escaped(secret)),
        }
    }
}

/// Makes the secret attributes of `connection` and their placeholders known to [`mask`]; warns
/// (once per attribute) of a secret value too short to be masked.
pub fn remember_connection(connection: &Connection) {
    for (name, value) in connection.attributes() {
        if is_secret(name) {
            if !value.is_empty() && mask::too_short_to_mask(value) {
                warn_too_short_once(name);
            }
            remember(value);
        }
        if is_sealed(name) && !value.is_empty() {
            remember(&placeholder(name, value));
        }
    }
}

/// Warns that the secret attribute `name` is too short to be masked, once per process.
fn warn_too_short_once(name: &str) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if warned.iter().any(|warned| warned == name) {
        return;
    }
    warned.push(name.to_string());
    tracing::warn!(
        "the secret attribute {name} has fewer than {} characters, too few to be masked: a server that echoes it shows it in messages and logs; give it a longer value",
        mask::MIN_MASKED_LEN
    );
}

/// Whether a header carries credentials, judged by its name: `Cookie`, and names holding
/// `auth`, `token`, `key`, `secret` or `session` (`Authorization`, `X-Auth-Token`, `X-Api-Key`).
pub fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "cookie"
        || ["auth", "token", "key", "secret", "session"]
            .iter()
            .any(|word| name.contains(word))
}

/// Makes the credentials of an outgoing credential header known to [`mask`]: the whole value
/// and the part after its scheme (`Bearer <token>`).
pub fn remember_credentials(header_value: &str) {
    remember(header_value);
    if let Some((_, credentials)) = header_value.split_once(' ') {
        remember(credentials.trim());
    }
}

/// The value as it stands inside a JSON string (without the quotes).
fn json_escaped(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// The value XML-escaped, as the component escapes bound values (`connector/src/text.rs`; the
/// host does not link the component's crate). Line breaks and tabs are character references:
/// raw, an XML parser would turn them into spaces inside an attribute value.
/// Whether XML 1.0 can carry `c` (its `Char` production): tab, line feed, carriage return and
/// everything from U+0020 on but U+FFFE and U+FFFF.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{fffe}' | '\u{ffff}'))
}

fn xml_escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        let mut connection = Connection::new("c");
        connection.set("USERNAME", "svc");
        connection.set("PASSWORD", "p&<\"w'> =+ü");
        connection.set("CLIENT_SECRET", "cs-123");
        connection.set("CONNECTIONJSON", "{\"gw\": {}}");
        connection
    }

    #[test]
    fn only_secret_attributes_other_than_connectionjson_are_sealed() {
        assert!(is_sealed("PASSWORD") && is_sealed("CLIENT_SECRET") && is_sealed("API_TOKEN"));
        assert!(!is_sealed("CONNECTIONJSON") && !is_sealed("USERNAME"));
        let secrets = Secrets::of(&connection());
        assert_eq!(secrets.by_placeholder.len(), 2);
        let placeholder = placeholder("PASSWORD", "p&<\"w'> =+ü");
        assert_eq!(placeholder, super::placeholder("PASSWORD", "p&<\"w'> =+ü"));
        assert_ne!(placeholder, super::placeholder("PASSWORD", "other"));
        assert!(
            placeholder
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        );
    }

    #[test]
    fn bodies_get_the_value_encoded_for_their_content_type() {
        let secrets = Secrets::of(&connection());
        let p = placeholder("PASSWORD", "p&<\"w'> =+ü");
        let body = format!("a={p}&b={p}");
        let cases = [
            (
                Some("text/xml; charset=utf-8"),
                "a=p&amp;&lt;&quot;w&apos;&gt; =+ü&b=p&amp;&lt;&quot;w&apos;&gt; =+ü",
            ),
            (
                Some("application/soap+xml"),
                "a=p&amp;&lt;&quot;w&apos;&gt; =+ü&b=p&amp;&lt;&quot;w&apos;&gt; =+ü",
            ),
            (
                Some("application/x-www-form-urlencoded"),
                "a=p%26%3C%22w%27%3E+%3D%2B%C3%BC&b=p%26%3C%22w%27%3E+%3D%2B%C3%BC",
            ),
            (
                Some("application/json"),
                "a=p&<\\\"w'> =+ü&b=p&<\\\"w'> =+ü",
            ),
        ];
        for (content_type, expected) in cases {
            let revealed = secrets
                .reveal_body(body.as_bytes(), content_type)
                .unwrap()
                .unwrap();
            assert_eq!(
                String::from_utf8(revealed).unwrap(),
                expected,
                "{content_type:?}"
            );
        }
        assert_eq!(secrets.reveal_body(b"no secret here", None), Ok(None));
        for content_type in [None, Some("text/plain"), Some("multipart/form-data")] {
            assert!(secrets.reveal_body(body.as_bytes(), content_type).is_err());
        }
    }

    #[test]
    fn the_encoding_follows_the_media_type_not_its_parameters() {
        let cases = [
            (
                "application/soap+xml; action=\"urn:x/JsonBridge/Login\"",
                Some(BodyEncoding::Xml),
            ),
            ("text/xml; charset=utf-8", Some(BodyEncoding::Xml)),
            ("Application/XML", Some(BodyEncoding::Xml)),
            (
                "application/json; profile=\"urn:xml\"",
                Some(BodyEncoding::Json),
            ),
            ("application/problem+json", Some(BodyEncoding::Json)),
            (
                "application/x-www-form-urlencoded",
                Some(BodyEncoding::Form),
            ),
            ("text/x-www-form-urlencoded", None),
            ("text/plain; note=json", None),
            ("application/jsonp", None),
            ("xml", None),
            ("application/ xml", None),
            ("/xml", None),
        ];
        for (content_type, expected) in cases {
            assert_eq!(
                BodyEncoding::of(Some(content_type)),
                expected,
                "{content_type}"
            );
        }
    }

    #[test]
    fn line_breaks_and_tabs_are_references_in_xml() {
        assert_eq!(xml_escaped("a\r\nb\tc"), "a&#13;&#10;b&#9;c");
    }

    #[test]
    fn a_secret_holding_a_character_xml_cannot_carry_is_refused_for_xml_only() {
        for (value, code) in [
            ("try\0it", 0x0),
            ("try\u{1b}[31mit", 0x1b),
            ("a\u{ffff}", 0xffff),
        ] {
            let mut connection = Connection::new("c");
            connection.set("PASSWORD", value);
            let secrets = Secrets::of(&connection);
            let body = format!("<a p=\"{}\"/>", placeholder("PASSWORD", value));
            assert_eq!(
                secrets.reveal_body(body.as_bytes(), Some("text/xml")),
                Err(UnknownBodyType::NotXml(code))
            );
            let json = format!("{{\"p\": \"{}\"}}", placeholder("PASSWORD", value));
            assert!(
                secrets
                    .reveal_body(json.as_bytes(), Some("application/json"))
                    .is_ok()
            );
        }
    }

    #[test]
    fn headers_get_the_value_as_is_and_refuse_line_breaks() {
        let secrets = Secrets::of(&connection());
        let header = format!("Basic {}", placeholder("CLIENT_SECRET", "cs-123"));
        assert_eq!(
            secrets.reveal_header(&header),
            Ok(Some("Basic cs-123".into()))
        );
        let mut evil = Connection::new("e");
        evil.set("API_TOKEN", "x\r\nHost: evil");
        let secrets = Secrets::of(&evil);
        let header = placeholder("API_TOKEN", "x\r\nHost: evil");
        assert_eq!(secrets.reveal_header(&header), Err(UnsafeHeaderValue));
    }

    #[test]
    fn an_unknown_placeholder_is_left_alone() {
        let secrets = Secrets::of(&connection());
        let text = "dcconn-secret-0000 and dcconn-secret-";
        assert_eq!(secrets.reveal_header(text), Ok(Some(text.to_string())));
    }

    #[test]
    fn mask_hides_values_placeholders_and_seen_credentials() {
        let connection = connection();
        let _ = Secrets::of(&connection);
        remember_credentials("Bearer tok-abcdef");
        let p = placeholder("PASSWORD", "p&<\"w'> =+ü");
        let text = format!(
            "raw p&<\"w'> =+ü xml p&amp;&lt;&quot;w&apos;&gt; =+ü ph {p} tok tok-abcdef user svc"
        );
        assert_eq!(
            mask(&text),
            "raw ******** xml ******** ph ******** tok ******** user svc"
        );
    }
}
