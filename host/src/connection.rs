//! Reading a Saviynt connection, the configuration users already have.
//!
//! A connection is a name plus a set of named string attributes (`SOAP_ENDPOINT`, `USERNAME`,
//! `PASSWORD`, `ACCOUNTS_IMPORT_JSON`...). Users bring it in one of three shapes, told apart by
//! content rather than by file name:
//!
//! 1. a plain JSON object of attributes, where a nested object or array stands for its compact
//!    JSON text so nobody has to write escaped JSON inside JSON;
//! 2. a Saviynt transport-package export, `{"<name>": {"connectionname": ..., "EXTERNAL_ATTR":
//!    [{"attributename": ..., "encryptedattributevalue": ...}]}}`;
//! 3. a zip archive holding exactly one `Connection_*.json` in shape 2.
//!
//! Attribute values may be secrets, so nothing in this module ever puts a value into an error
//! message, and [`Connection`]'s `Debug` masks secret values (see [`is_secret`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::policy::{Origin, UrlProblem};

mod exposed;

pub use exposed::{ExposedSecret, exposed_secrets};

/// The largest file, or zip entry once uncompressed, that is read. Real connections are a few
/// hundred kilobytes; the bound keeps a wrong path or a zip bomb from exhausting memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The largest file `--set-file` reads: a secret is a password, a key or a token, a few
/// kilobytes at most.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// What a secret value is shown as.
pub const MASK: &str = "********";

/// The attribute holding the URL requests are posted to.
pub const SOAP_ENDPOINT: &str = "SOAP_ENDPOINT";

/// The attribute holding the named connections (token URLs among them).
pub const CONNECTIONJSON: &str = "CONNECTIONJSON";

/// How many zip entry names an error lists before summarising the rest.
const MAX_LISTED_ENTRIES: usize = 20;

/// The key naming the connection, in both JSON shapes.
const NAME_KEY: &str = "connectionname";
/// The key holding the connection type (`SOAP`, `REST`...), in both JSON shapes.
const TYPE_KEY: &str = "externalconnectiontype";
/// The transport-package key holding the attribute list.
const ATTRS_KEY: &str = "EXTERNAL_ATTR";
/// The transport-package key naming one attribute.
const ATTR_NAME_KEY: &str = "attributename";
/// The transport-package key holding one attribute's value.
const ATTR_VALUE_KEY: &str = "encryptedattributevalue";

/// A Saviynt connection: its name, its type and its attributes.
///
/// `Debug` masks secret values; use [`Connection::masked`] to show attributes to people.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// The connection's name (the `connectionname`, else the file's stem).
    pub name: String,
    connection_type: Option<String>,
    attributes: BTreeMap<String, String>,
}

impl Connection {
    /// An empty connection with this name.
    pub fn new(name: impl Into<String>) -> Connection {
        Connection {
            name: name.into(),
            connection_type: None,
            attributes: BTreeMap::new(),
        }
    }

    /// The value of an attribute; names are case-sensitive, as in Saviynt.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// Sets an attribute, replacing any previous value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.attributes.insert(name.into(), value.into());
    }

    /// Removes an attribute, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.attributes.remove(name)
    }

    /// All attributes with their real values, ordered by name.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The connection type from a transport package (`externalconnectiontype`, such as `SOAP`).
    pub fn connection_type(&self) -> Option<&str> {
        self.connection_type.as_deref()
    }

    /// All attributes ordered by name, secret values replaced by [`MASK`]: safe to display.
    pub fn masked(&self) -> Vec<(String, String)> {
        self.attributes
            .iter()
            .map(|(name, value)| (name.clone(), masked_value(name, value).to_owned()))
            .collect()
    }

    /// The connection as a Saviynt transport package (shape 2), which the platform imports
    /// unchanged, without its secret attributes (see [`is_secret`]): those are left out, and
    /// their names returned so that the user can set them again where the package goes.
    pub fn to_transport_package(&self) -> (Value, Vec<String>) {
        let mut omitted = Vec::new();
        let mut entries = Vec::new();
        for (name, value) in &self.attributes {
            if is_secret(name) {
                omitted.push(name.clone());
                continue;
            }
            let mut entry = Map::new();
            entry.insert(ATTR_NAME_KEY.into(), Value::from(name.as_str()));
            entry.insert(ATTR_VALUE_KEY.into(), Value::from(value.as_str()));
            entries.push(Value::Object(entry));
        }
        let mut body = Map::new();
        body.insert(NAME_KEY.into(), Value::from(self.name.as_str()));
        if let Some(kind) = &self.connection_type {
            body.insert(TYPE_KEY.into(), Value::from(kind.as_str()));
        }
        body.insert(ATTRS_KEY.into(), Value::Array(entries));
        let mut package = Map::new();
        package.insert(self.name.clone(), Value::Object(body));
        (Value::Object(package), omitted)
    }

    /// Applies a `--set NAME=VALUE` argument: the name is what precedes the first `=`.
    pub fn apply_override(&mut self, spec: &str) -> Result<(), ConnectionError> {
        let (name, value) = split_override("--set", spec)?;
        self.refuse_near_miss("--set", name)?;
        self.set(name, value);
        Ok(())
    }

    /// Refuses an override of an attribute the connection does not have whose name is one or
    /// two letters (or only the case) off one it has: `--set SOAP_ENDPIONT=...` would leave
    /// SOAP_ENDPOINT as the file has it and send the login there.
    fn refuse_near_miss(&self, flag: &'static str, name: &str) -> Result<(), ConnectionError> {
        const MAX_DISTANCE: usize = 2;
        if self.get(name).is_some() {
            return Ok(());
        }
        let upper = name.to_ascii_uppercase();
        let nearest = self
            .attributes()
            .map(|(existing, _)| existing)
            .filter(|existing| existing.len() > MAX_DISTANCE * 2)
            .map(|existing| {
                let distance = strsim::levenshtein(&upper, &existing.to_ascii_uppercase());
                (distance, existing)
            })
            .filter(|(distance, _)| *distance <= MAX_DISTANCE)
            .min();
        match nearest {
            Some((_, existing)) => Err(ConnectionError::NearMiss {
                flag,
                name: name.to_owned(),
                existing: existing.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Applies a `--set-env NAME=ENVVAR` argument: the attribute's value is read from the
    /// environment variable through `env` (pass `|v| std::env::var(v).ok()` in production).
    pub fn apply_env_override(
        &mut self,
        spec: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConnectionError> {
        let (name, variable) = split_override("--set-env", spec)?;
        self.refuse_near_miss("--set-env", name)?;
        if variable.is_empty() {
            return Err(ConnectionError::Override {
                flag: "--set-env",
                problem: OverrideProblem::EmptyVariable,
            });
        }
        let value = env(variable).ok_or_else(|| ConnectionError::MissingEnv {
            attribute: name.to_owned(),
            variable: variable.to_owned(),
        })?;
        if value.trim().is_empty() {
            // Told apart from an unset variable: the variable is right, its value is not.
            return Err(ConnectionError::EmptyEnv {
                attribute: name.to_owned(),
                variable: variable.to_owned(),
                blank: Blank::of(&value),
            });
        }
        self.set(name, value);
        Ok(())
    }

    /// Applies a `--set-file NAME=PATH` argument: the attribute's value is the file's content,
    /// without its trailing line break (the way secret files are usually written). The file is
    /// opened through `open` (pass `|p| std::fs::File::open(p)` in production) and read up to
    /// [`MAX_SECRET_FILE_BYTES`]: a larger file (a wrong path such as `/dev/zero`, a log file)
    /// is refused after that many bytes, whatever its size.
    pub fn apply_file_override<R: Read>(
        &mut self,
        spec: &str,
        open: impl Fn(&Path) -> io::Result<R>,
    ) -> Result<(), ConnectionError> {
        let (name, path) = split_override("--set-file", spec)?;
        self.refuse_near_miss("--set-file", name)?;
        if path.is_empty() {
            return Err(ConnectionError::Override {
                flag: "--set-file",
                problem: OverrideProblem::EmptyPath,
            });
        }
        let path = Path::new(path);
        let unreadable = |source| ConnectionError::SecretFile {
            attribute: name.to_owned(),
            path: path.to_path_buf(),
            source,
        };
        // The limit counts the secret, not the line break `echo` or a here-doc ends it with.
        const LINE_BREAK: u64 = 2;
        let mut bytes = Vec::new();
        open(path)
            .and_then(|file| {
                file.take(MAX_SECRET_FILE_BYTES + LINE_BREAK + 1)
                    .read_to_end(&mut bytes)
            })
            .map_err(unreadable)?;
        for ending in [&b"\n"[..], b"\r"] {
            if bytes.ends_with(ending) {
                bytes.pop();
            }
        }
        if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
            return Err(ConnectionError::SecretFileTooLarge {
                attribute: name.to_owned(),
                path: path.to_path_buf(),
                limit: MAX_SECRET_FILE_BYTES,
            });
        }
        let value = String::from_utf8(bytes).map_err(|_| {
            unreadable(io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ))
        })?;
        let value = value.as_str();
        if value.trim().is_empty() {
            return Err(ConnectionError::EmptySecretFile {
                attribute: name.to_owned(),
                path: path.to_path_buf(),
                blank: Blank::of(value),
            });
        }
        self.set(name, value);
        Ok(())
    }

    /// The token URLs of CONNECTIONJSON's named connections (those that are not `session`
    /// connections), each labelled with where it is (`CONNECTIONJSON gw.url`), with the path of
    /// the token in their answers (`tokenResponsePath`, if given), which the host reads to mask
    /// the token. The component checks the rest of the format; an attribute that is not JSON
    /// yields nothing.
    pub fn token_endpoints(&self) -> Vec<TokenEndpoint> {
        let Some(text) = self.get(CONNECTIONJSON) else {
            return Vec::new();
        };
        let Ok(Value::Object(top)) = serde_json::from_str::<Value>(text) else {
            return Vec::new();
        };
        let named = match top.get("authentications") {
            Some(Value::Object(named)) => named,
            _ => &top,
        };
        named
            .iter()
            .filter_map(|(name, definition)| {
                let keys = definition.as_object()?;
                let text = |wanted: &str| {
                    keys.iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(wanted))
                        .and_then(|(_, value)| value.as_str())
                        .map(str::trim)
                };
                let session = text("authType").is_some_and(|kind| {
                    kind.eq_ignore_ascii_case("session") || kind.eq_ignore_ascii_case("none")
                });
                let url = text("url").filter(|url| !url.is_empty() && !session)?;
                Some(TokenEndpoint {
                    label: format!("{CONNECTIONJSON} {name}.url"),
                    url: url.to_string(),
                    token_path: text("tokenResponsePath")
                        .filter(|path| !path.is_empty())
                        .map(str::to_string),
                })
            })
            .collect()
    }

    /// The origin (`scheme://host:port`) of `SOAP_ENDPOINT`, the one place requests may go.
    pub fn endpoint_origin(&self) -> Result<Origin, ConnectionError> {
        let url = self.get(SOAP_ENDPOINT).ok_or(ConnectionError::Endpoint {
            problem: EndpointProblem::Missing,
        })?;
        Origin::parse_url(url).map_err(|problem| ConnectionError::Endpoint {
            problem: EndpointProblem::Invalid(problem),
        })
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attributes: BTreeMap<&str, &str> = self
            .attributes
            .iter()
            .map(|(name, value)| (name.as_str(), masked_value(name, value)))
            .collect();
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("connection_type", &self.connection_type)
            .field("attributes", &attributes)
            .finish()
    }
}

/// A token URL of CONNECTIONJSON and what the host knows of its answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEndpoint {
    /// Where it is: `CONNECTIONJSON gw.url`.
    pub label: String,
    /// The URL, as written.
    pub url: String,
    /// The `tokenResponsePath` of its answers (`access_token`, `data.token`), if given.
    pub token_path: Option<String>,
}

/// The value to show for an attribute: [`MASK`] for secrets.
fn masked_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret(name) { MASK } else { value }
}

/// Whether an attribute holds a secret, judged by its name (ignoring ASCII case): the rule the
/// WIT contract states for secret attributes (the component refuses expressions on them), plus
/// CONNECTIONJSON, which is masked whole.
///
/// Secret: names containing `PASSWORD`; names equal to or ending in `SECRET`, `TOKEN`, `APIKEY`,
/// `API_KEY`, `PRIVATEKEY` or `PRIVATE_KEY`; and `CONNECTIONJSON`, which holds the named
/// connections' credentials (client secrets, access tokens). Names that merely contain one of the
/// other words, such as `TOKEN_URL` or `RECONCILIATIONFIELD`, are not secret.
pub fn is_secret(attribute_name: &str) -> bool {
    const SECRET_SUFFIXES: [&str; 6] = [
        "SECRET",
        "TOKEN",
        "APIKEY",
        "API_KEY",
        "PRIVATEKEY",
        "PRIVATE_KEY",
    ];
    let upper = attribute_name.to_ascii_uppercase();
    upper.contains("PASSWORD")
        || upper == "CONNECTIONJSON"
        || SECRET_SUFFIXES.iter().any(|suffix| upper.ends_with(suffix))
}

/// Splits `NAME=VALUE` at the first `=`; the name is trimmed, the value kept as is.
fn split_override<'a>(
    flag: &'static str,
    spec: &'a str,
) -> Result<(&'a str, &'a str), ConnectionError> {
    let (name, value) = spec.split_once('=').ok_or(ConnectionError::Override {
        flag,
        problem: OverrideProblem::NoEquals,
    })?;
    let name = name.trim();
    if name.is_empty() {
        return Err(ConnectionError::Override {
            flag,
            problem: OverrideProblem::EmptyName,
        });
    }
    Ok((name, value))
}

/// Reads a connection from a file in any of the three shapes the module describes.
pub fn load(path: &Path) -> Result<Connection, ConnectionError> {
    load_with_shape(path).map(|(connection, _)| connection)
}

/// Which shape a connection file has: it tells how its attribute values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileShape {
    /// A JSON object of attributes (shape 1): values are written as they are.
    Attributes,
    /// A Saviynt transport package (shape 2, or in a zip: shape 3): values are Saviynt's
    /// `encryptedattributevalue`, which Saviynt may have encrypted with its own key.
    TransportPackage,
}

/// Reads a connection from a file, as [`load`], with the shape it was written in.
pub fn load_with_shape(path: &Path) -> Result<(Connection, FileShape), ConnectionError> {
    let bytes = read_bounded(path)?;
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return load_zip(path, bytes);
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_json(&bytes, &path.display().to_string(), &stem)
}

/// Reads a whole file, refusing one larger than [`MAX_FILE_BYTES`].
fn read_bounded(path: &Path) -> Result<Vec<u8>, ConnectionError> {
    let read_error = |source| ConnectionError::Read {
        path: path.to_owned(),
        source,
    };
    let file = crate::regular_file::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ConnectionError::TooLarge {
            location: path.display().to_string(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(bytes)
}

/// Whether a zip entry's name is a transport package's connection file.
fn is_connection_entry(entry_name: &str) -> bool {
    let base = entry_name.rsplit(['/', '\\']).next().unwrap_or(entry_name);
    let lower = base.to_ascii_lowercase();
    lower.starts_with("connection_") && lower.ends_with(".json")
}

/// Finds the one `Connection_*.json` in a zip archive and parses it.
fn load_zip(path: &Path, bytes: Vec<u8>) -> Result<(Connection, FileShape), ConnectionError> {
    let zip_error = |source| ConnectionError::Zip {
        path: path.to_owned(),
        source,
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
    let mut entries = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let name = match archive.name_for_index(index) {
            Some(Ok(name)) => name.into_owned(),
            Some(Err(source)) => return Err(zip_error(source)),
            None => continue,
        };
        entries.push((index, name));
    }
    let candidates: Vec<&(usize, String)> = entries
        .iter()
        .filter(|(_, name)| !name.ends_with('/') && is_connection_entry(name))
        .collect();
    let [(index, entry_name)] = candidates.as_slice() else {
        return Err(ConnectionError::ZipContents {
            path: path.to_owned(),
            found: candidates.len(),
            entries: entries.into_iter().map(|(_, name)| name).collect(),
        });
    };
    let location = format!("{} (entry {entry_name})", path.display());
    let mut file = archive.by_index(*index).map_err(zip_error)?;
    if file.size() > MAX_FILE_BYTES {
        return Err(ConnectionError::TooLarge {
            location,
            limit: MAX_FILE_BYTES,
        });
    }
    let mut json = Vec::new();
    // The declared size can lie; the bound on the reader is what protects.
    (&mut file)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|source| ConnectionError::Zip {
            path: path.to_owned(),
            source: source.into(),
        })?;
    if json.len() as u64 > MAX_FILE_BYTES {
        return Err(ConnectionError::TooLarge {
            location,
            limit: MAX_FILE_BYTES,
        });
    }
    let stem = entry_name
        .rsplit(['/', '\\'])
        .next()
        .and_then(|base| base.rsplit_once('.'))
        .map(|(stem, _)| stem.to_owned())
        .unwrap_or_default();
    parse_json(&json, &location, &stem)
}

/// Parses JSON text in shape 1 or 2; `location` names it in errors, `stem` is the fallback name.
fn parse_json(
    bytes: &[u8],
    location: &str,
    stem: &str,
) -> Result<(Connection, FileShape), ConnectionError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value = serde_json::from_slice(bytes).map_err(|e| json_error(location, &e))?;
    let Value::Object(top) = value else {
        return Err(shape(location, ShapeProblem::NotAnObject));
    };
    let packaged: Vec<(&String, &Map<String, Value>)> = top
        .iter()
        .filter_map(|(k, v)| v.as_object().map(|o| (k, o)))
        .filter(|(_, o)| o.contains_key(ATTRS_KEY))
        .collect();
    let package = |connection| (connection, FileShape::TransportPackage);
    match packaged.as_slice() {
        [] if top.contains_key(ATTRS_KEY) => from_package(&top, location, stem).map(package),
        [] => from_plain(&top, location, stem).map(|c| (c, FileShape::Attributes)),
        [(key, inner)] if top.len() == 1 => from_package(inner, location, key).map(package),
        [(key, _)] => Err(shape(
            location,
            ShapeProblem::PackageWithOtherKeys((*key).clone()),
        )),
        several => Err(shape(
            location,
            ShapeProblem::SeveralConnections(several.iter().map(|(k, _)| (*k).clone()).collect()),
        )),
    }
}

/// Builds the [`ConnectionError::Json`] for a syntax error, keeping serde's words but not its
/// position suffix (the position has its own fields).
fn json_error(location: &str, error: &serde_json::Error) -> ConnectionError {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    ConnectionError::Json {
        location: location.to_owned(),
        line: error.line(),
        column: error.column(),
        message,
    }
}

/// Builds a [`ConnectionError::Shape`].
fn shape(location: &str, problem: ShapeProblem) -> ConnectionError {
    ConnectionError::Shape {
        location: location.to_owned(),
        problem,
    }
}

/// The attribute text for a JSON value; `None` for null (the attribute is absent).
fn attribute_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
            Some(value.to_string())
        }
    }
}

/// Reads the optional metadata keys shared by both shapes; they must be strings.
fn metadata(
    object: &Map<String, Value>,
    key: &'static str,
    location: &str,
) -> Result<Option<String>, ConnectionError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(shape(location, ShapeProblem::NotAString(key.to_owned()))),
    }
}

/// Shape 1: every key is an attribute except `connectionname` and `externalconnectiontype`.
fn from_plain(
    object: &Map<String, Value>,
    location: &str,
    stem: &str,
) -> Result<Connection, ConnectionError> {
    let mut connection = Connection::new(stem);
    if let Some(name) = metadata(object, NAME_KEY, location)? {
        connection.name = name;
    }
    connection.connection_type = metadata(object, TYPE_KEY, location)?;
    for (key, value) in object {
        if key == NAME_KEY || key == TYPE_KEY {
            continue;
        }
        if let Some(text) = attribute_text(value) {
            connection.set(key.clone(), text);
        }
    }
    Ok(connection)
}

/// Shape 2: the attributes are the `EXTERNAL_ATTR` entries; a later entry for the same name wins.
fn from_package(
    object: &Map<String, Value>,
    location: &str,
    fallback_name: &str,
) -> Result<Connection, ConnectionError> {
    let mut connection = Connection::new(
        metadata(object, NAME_KEY, location)?.unwrap_or_else(|| fallback_name.to_owned()),
    );
    connection.connection_type = metadata(object, TYPE_KEY, location)?;
    let Some(Value::Array(entries)) = object.get(ATTRS_KEY) else {
        return Err(shape(location, ShapeProblem::AttributesNotAList));
    };
    for (index, entry) in entries.iter().enumerate() {
        let Some(entry) = entry.as_object() else {
            return Err(shape(location, ShapeProblem::BadAttributeEntry(index)));
        };
        let Some(Value::String(name)) = entry.get(ATTR_NAME_KEY) else {
            return Err(shape(location, ShapeProblem::BadAttributeEntry(index)));
        };
        match entry.get(ATTR_VALUE_KEY).and_then(attribute_text) {
            Some(text) => connection.set(name.clone(), text),
            None => {
                connection.remove(name);
            }
        }
    }
    Ok(connection)
}

/// A problem reading a connection or applying an override.
///
/// No message ever includes an attribute's value: values may be secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The file cannot be opened or read.
    #[error("cannot read the connection file {}: {source}; check the path and its permissions", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The file, or the zip entry, is larger than [`MAX_FILE_BYTES`].
    #[error(
        "{location} is larger than {limit} bytes, too large to be a connection; check that it is the right file"
    )]
    TooLarge {
        /// The file, or the file and entry.
        location: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The JSON text has a syntax error.
    #[error(
        "{location} is not valid JSON: {message} at line {line}, column {column}; fix the JSON there"
    )]
    Json {
        /// The file, or the zip file and entry.
        location: String,
        /// The 1-based line of the error.
        line: usize,
        /// The 1-based column of the error.
        column: usize,
        /// The parser's description of the error.
        message: String,
    },
    /// The JSON is valid but is not a connection in any accepted shape.
    #[error("{location} is not a Saviynt connection: {problem}")]
    Shape {
        /// The file, or the zip file and entry.
        location: String,
        /// What is wrong with it.
        problem: ShapeProblem,
    },
    /// The file looks like a zip archive but cannot be read as one.
    #[error("cannot read the zip archive {}: {source}; check that the file is a complete zip archive", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// What the zip reader said.
        source: zip::result::ZipError,
    },
    /// The zip archive holds no `Connection_*.json`, or more than one.
    #[error(
        "the zip archive {} holds {} Connection_*.json files where exactly one is needed; it holds: {}. {}",
        path.display(),
        found,
        list_entries(entries),
        if *found == 0 { "Export the connection from Saviynt again, or pass the connection JSON file itself" }
        else { "Extract the one you want and pass that file" }
    )]
    ZipContents {
        /// The archive.
        path: PathBuf,
        /// How many `Connection_*.json` entries it holds.
        found: usize,
        /// The names of all its entries.
        entries: Vec<String>,
    },
    /// An override names an attribute the connection lacks, a letter or two from one it has.
    #[error(
        "{flag} {name}: the connection has no attribute {name}; did you mean {existing}? Nothing was sent (an attribute new to the connection belongs in the connection file)"
    )]
    NearMiss {
        /// The flag.
        flag: &'static str,
        /// The name given.
        name: String,
        /// The attribute it is close to.
        existing: String,
    },
    /// A `--set` or `--set-env` argument is malformed.
    #[error("{flag} expects NAME=VALUE: {problem}")]
    Override {
        /// The flag, `--set` or `--set-env`.
        flag: &'static str,
        /// What is wrong with the argument.
        problem: OverrideProblem,
    },
    /// A `--set-env` names an environment variable that is not set.
    #[error(
        "cannot set {attribute}: the environment variable {variable} is not set (or not valid UTF-8)"
    )]
    MissingEnv {
        /// The attribute being set.
        attribute: String,
        /// The environment variable it was to be read from.
        variable: String,
    },
    /// A `--set-env` names an environment variable that is set but empty (or blank).
    #[error(
        "cannot set {attribute}: the environment variable {variable} {blank}; give it the value, or name the variable that holds it"
    )]
    EmptyEnv {
        /// The attribute being set.
        attribute: String,
        /// The environment variable it was to be read from.
        variable: String,
        /// Whether it is empty or holds only whitespace.
        blank: Blank,
    },
    /// A `--set-file` names a file that is empty (or blank) once its trailing line break is
    /// dropped.
    #[error(
        "cannot set {attribute} from the file {}: the file {blank}; write the value into it, or name the file that holds it",
        path.display()
    )]
    EmptySecretFile {
        /// The attribute being set.
        attribute: String,
        /// The file.
        path: PathBuf,
        /// Whether it is empty or holds only whitespace.
        blank: Blank,
    },
    /// A `--set-file` names a file that cannot be read.
    #[error("cannot set {attribute} from the file {}: {source}", path.display())]
    SecretFile {
        /// The attribute being set.
        attribute: String,
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: io::Error,
    },
    /// A `--set-file` names a file larger than [`MAX_SECRET_FILE_BYTES`].
    #[error(
        "cannot set {attribute} from the file {}: it holds more than {limit} bytes, the most a secret file may hold; check that the path names the secret's file",
        path.display()
    )]
    SecretFileTooLarge {
        /// The attribute being set.
        attribute: String,
        /// The file.
        path: PathBuf,
        /// The most bytes a secret file may hold.
        limit: u64,
    },
    /// `SOAP_ENDPOINT` is missing or not an http(s) URL with a host.
    #[error("SOAP_ENDPOINT {problem}")]
    Endpoint {
        /// What is wrong with it.
        problem: EndpointProblem,
    },
}

/// Lists zip entry names for an error, summarising a long list.
fn list_entries(entries: &[String]) -> String {
    if entries.is_empty() {
        return "nothing".to_owned();
    }
    let mut listed = entries
        .iter()
        .take(MAX_LISTED_ENTRIES)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if entries.len() > MAX_LISTED_ENTRIES {
        listed.push_str(&format!(" and {} more", entries.len() - MAX_LISTED_ENTRIES));
    }
    listed
}

/// What is wrong with the shape of a connection's JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeProblem {
    /// The top level is not a JSON object.
    #[error("expected a JSON object of attributes or a Saviynt transport-package export")]
    NotAnObject,
    /// The file holds several transport-package connections; their names are listed.
    #[error("it holds several connections ({}); keep the one you want in its own file", .0.join(", "))]
    SeveralConnections(Vec<String>),
    /// A transport-package connection (named) sits beside other top-level keys.
    #[error(
        "it holds the transport-package connection {0} beside other keys; keep only that connection in the file"
    )]
    PackageWithOtherKeys(String),
    /// `EXTERNAL_ATTR` is not an array.
    #[error(
        "EXTERNAL_ATTR must be a list of {{\"attributename\": ..., \"encryptedattributevalue\": ...}} entries"
    )]
    AttributesNotAList,
    /// An `EXTERNAL_ATTR` entry (0-based index) is not an object with a string `attributename`.
    #[error(
        "EXTERNAL_ATTR entry {0} (counting from 0) must be an object with a string \"attributename\""
    )]
    BadAttributeEntry(usize),
    /// A metadata key (`connectionname`, `externalconnectiontype`) is not a string.
    #[error("\"{0}\" must be a string")]
    NotAString(String),
}

/// What is wrong with a `--set` or `--set-env` argument. Never quotes the argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OverrideProblem {
    /// There is no `=` in the argument.
    #[error("the argument has no '='")]
    NoEquals,
    /// Nothing (or only whitespace) precedes the `=`.
    #[error("the attribute name before '=' is empty")]
    EmptyName,
    /// `--set-env NAME=` names no environment variable.
    #[error("the environment variable name after '=' is empty")]
    EmptyVariable,
    /// `--set-file NAME=` names no file.
    #[error("the file name after '=' is empty")]
    EmptyPath,
}

/// How a value from `--set-env` or `--set-file` is unusable: nothing in it, or only
/// whitespace (which the connector reads as no value at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Blank {
    /// Nothing at all.
    #[error("is empty")]
    Empty,
    /// Spaces, tabs or line breaks only.
    #[error("holds only whitespace")]
    Whitespace,
}

impl Blank {
    /// How `value`, known to be blank, is blank.
    fn of(value: &str) -> Blank {
        if value.is_empty() {
            Blank::Empty
        } else {
            Blank::Whitespace
        }
    }
}

/// What is wrong with `SOAP_ENDPOINT`. Never quotes the URL (it may carry credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointProblem {
    /// The attribute is absent.
    #[error("is not set; add it to the connection or pass --set SOAP_ENDPOINT=https://host/path")]
    Missing,
    /// The attribute is not a usable URL.
    #[error("is not usable: {0}")]
    Invalid(UrlProblem),
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn attrs(connection: &Connection) -> Vec<(String, String)> {
        connection
            .attributes()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in entries {
            if name.ends_with('/') {
                writer.add_directory(*name, options).unwrap();
            } else {
                writer.start_file(*name, options).unwrap();
                writer.write_all(content).unwrap();
            }
        }
        writer.finish().unwrap().into_inner()
    }

    const PACKAGE: &str = r#"{
      "DuckCreekProd": {
        "connectionname": "DuckCreekProd",
        "externalconnectiontype": "SOAP",
        "description": "not an attribute",
        "EXTERNAL_ATTR": [
          {"attributename": "SOAP_ENDPOINT", "encryptedattributevalue": "https://dc.example.com/Server.asmx"},
          {"attributename": "PASSWORD", "encryptedattributevalue": "hunter2"},
          {"attributename": "PAGE_SIZE"},
          {"attributename": "ACCOUNTS_IMPORT_JSON", "encryptedattributevalue": "{\n  \"CONNECTION1\": \"c\"\n}"}
        ]
      }
    }"#;

    #[test]
    fn plain_json_object() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "prod.conn",
            br#"{
                "SOAP_ENDPOINT": "https://dc.example.com/x",
                "USERNAME": "svc",
                "ACCOUNTS_IMPORT_JSON": {"CONNECTION1": "c", "LIST": [1, "a"]},
                "PAGE_SIZE": 500,
                "VERBOSE": true,
                "EMPTY": "",
                "NOTHING": null
            }"#,
        );
        let connection = load(&path).unwrap();
        assert_eq!(connection.name, "prod");
        assert_eq!(connection.connection_type(), None);
        assert_eq!(
            attrs(&connection),
            pairs(&[
                (
                    "ACCOUNTS_IMPORT_JSON",
                    r#"{"CONNECTION1":"c","LIST":[1,"a"]}"#
                ),
                ("EMPTY", ""),
                ("PAGE_SIZE", "500"),
                ("SOAP_ENDPOINT", "https://dc.example.com/x"),
                ("USERNAME", "svc"),
                ("VERBOSE", "true"),
            ])
        );
    }

    #[test]
    fn plain_json_name_and_type_are_not_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "file.json",
            "\u{FEFF}{\"connectionname\": \"Named\", \"externalconnectiontype\": \"SOAP\", \"USERNAME\": \"u\"}".as_bytes(),
        );
        let connection = load(&path).unwrap();
        assert_eq!(connection.name, "Named");
        assert_eq!(connection.connection_type(), Some("SOAP"));
        assert_eq!(attrs(&connection), pairs(&[("USERNAME", "u")]));
    }

    fn assert_is_package(connection: &Connection) {
        assert_eq!(connection.name, "DuckCreekProd");
        assert_eq!(connection.connection_type(), Some("SOAP"));
        assert_eq!(
            attrs(connection),
            pairs(&[
                ("ACCOUNTS_IMPORT_JSON", "{\n  \"CONNECTION1\": \"c\"\n}"),
                ("PASSWORD", "hunter2"),
                ("SOAP_ENDPOINT", "https://dc.example.com/Server.asmx"),
            ])
        );
    }

    #[test]
    fn transport_package_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "Connection_20240101.json", PACKAGE.as_bytes());
        assert_is_package(&load(&path).unwrap());
    }

    #[test]
    fn transport_package_name_falls_back_to_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "x.json",
            br#"{"KeyName": {"EXTERNAL_ATTR": [{"attributename": "A", "encryptedattributevalue": "1"}, {"attributename": "A", "encryptedattributevalue": "2"}]}}"#,
        );
        let connection = load(&path).unwrap();
        assert_eq!(connection.name, "KeyName");
        assert_eq!(attrs(&connection), pairs(&[("A", "2")]));
    }

    #[test]
    fn unwrapped_transport_package_object() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "inner.json",
            br#"{"connectionname": "Inner", "EXTERNAL_ATTR": [{"attributename": "USERNAME", "encryptedattributevalue": "u"}]}"#,
        );
        let connection = load(&path).unwrap();
        assert_eq!(connection.name, "Inner");
        assert_eq!(attrs(&connection), pairs(&[("USERNAME", "u")]));
    }

    #[test]
    fn zip_with_one_connection_anywhere() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = zip_of(&[
            ("export/", b""),
            ("export/SAVRoles_1.json", b"{}"),
            ("export/conn/Connection_20240101.json", PACKAGE.as_bytes()),
        ]);
        // The extension does not matter: content decides.
        let path = write(dir.path(), "package.json", &bytes);
        assert_is_package(&load(&path).unwrap());
    }

    #[test]
    fn zip_with_zero_or_several_connections() {
        let dir = tempfile::tempdir().unwrap();
        type ZipEntries<'a> = &'a [(&'a str, &'a [u8])];
        let cases: &[(ZipEntries, &str)] = &[
            (
                &[("readme.txt", b"hi")],
                "holds 0 Connection_*.json files where exactly one is needed; it holds: readme.txt. Export the connection from Saviynt again, or pass the connection JSON file itself",
            ),
            (
                &[],
                "holds 0 Connection_*.json files where exactly one is needed; it holds: nothing. Export",
            ),
            (
                &[
                    ("a/Connection_1.json", b"{}"),
                    ("b/Connection_2.json", b"{}"),
                ],
                "holds 2 Connection_*.json files where exactly one is needed; it holds: a/Connection_1.json, b/Connection_2.json. Extract the one you want and pass that file",
            ),
        ];
        for (entries, expected) in cases {
            let path = write(dir.path(), "p.zip", &zip_of(entries));
            let message = load(&path).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("the zip archive {} {expected}", path.display())),
                "{message}"
            );
        }
    }

    #[test]
    fn zip_entry_errors_name_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "p.zip",
            &zip_of(&[("Connection_1.json", b"{\n  \"a\": ,\n}")]),
        );
        match load(&path).unwrap_err() {
            ConnectionError::Json {
                location,
                line,
                column,
                message,
            } => {
                assert_eq!(
                    location,
                    format!("{} (entry Connection_1.json)", path.display())
                );
                assert_eq!((line, column), (2, 8));
                assert_eq!(message, "expected value");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn truncated_zip_is_a_zip_error() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = zip_of(&[("Connection_1.json", PACKAGE.as_bytes())]);
        let path = write(dir.path(), "p.zip", &bytes[..bytes.len() / 2]);
        let err = load(&path).unwrap_err();
        assert!(matches!(err, ConnectionError::Zip { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read the zip archive {}: ", path.display()))
        );
    }

    #[test]
    fn zip_bomb_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        writer.start_file("Connection_big.json", options).unwrap();
        let chunk = vec![b' '; 1024 * 1024];
        for _ in 0..=MAX_FILE_BYTES / chunk.len() as u64 {
            writer.write_all(&chunk).unwrap();
        }
        let bytes = writer.finish().unwrap().into_inner();
        assert!(bytes.len() < 1024 * 1024, "compressed to {}", bytes.len());
        let path = write(dir.path(), "bomb.zip", &bytes);
        let message = load(&path).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "{} (entry Connection_big.json) is larger than 67108864 bytes, too large to be a connection; check that it is the right file",
                path.display()
            )
        );
    }

    #[test]
    fn oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.json");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        assert_eq!(
            load(&path).unwrap_err().to_string(),
            format!(
                "{} is larger than 67108864 bytes, too large to be a connection; check that it is the right file",
                path.display()
            )
        );
    }

    #[test]
    fn malformed_json_carries_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "bad.json",
            b"{\n  \"USERNAME\": \"u\",\n  \"PASSWORD\": \"hunter2\"\n  \"X\": 1\n}",
        );
        let err = load(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is not valid JSON: expected `,` or `}}` at line 4, column 3; fix the JSON there",
                path.display()
            )
        );
    }

    #[test]
    fn shape_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &str)] = &[
            (
                "[1, 2]",
                "expected a JSON object of attributes or a Saviynt transport-package export",
            ),
            (
                "\"text\"",
                "expected a JSON object of attributes or a Saviynt transport-package export",
            ),
            (
                r#"{"A": {"EXTERNAL_ATTR": []}, "B": {"EXTERNAL_ATTR": []}}"#,
                "it holds several connections (A, B); keep the one you want in its own file",
            ),
            (
                r#"{"A": {"EXTERNAL_ATTR": []}, "USERNAME": "u"}"#,
                "it holds the transport-package connection A beside other keys; keep only that connection in the file",
            ),
            (
                r#"{"A": {"EXTERNAL_ATTR": {}}}"#,
                r#"EXTERNAL_ATTR must be a list of {"attributename": ..., "encryptedattributevalue": ...} entries"#,
            ),
            (
                r#"{"A": {"EXTERNAL_ATTR": [{"attributename": "X"}, {"encryptedattributevalue": "secret"}]}}"#,
                r#"EXTERNAL_ATTR entry 1 (counting from 0) must be an object with a string "attributename""#,
            ),
            (
                r#"{"A": {"EXTERNAL_ATTR": ["x"]}}"#,
                r#"EXTERNAL_ATTR entry 0 (counting from 0) must be an object with a string "attributename""#,
            ),
            (
                r#"{"connectionname": 5}"#,
                r#""connectionname" must be a string"#,
            ),
        ];
        for (json, expected) in cases {
            let path = write(dir.path(), "c.json", json.as_bytes());
            assert_eq!(
                load(&path).unwrap_err().to_string(),
                format!("{} is not a Saviynt connection: {expected}", path.display()),
                "json {json}"
            );
        }
    }

    #[test]
    fn unreadable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.json");
        let err = load(&path).unwrap_err();
        assert!(matches!(&err, ConnectionError::Read { path: p, .. } if *p == path));
        assert!(err.to_string().starts_with(&format!(
            "cannot read the connection file {}: ",
            path.display()
        )));
        assert!(
            err.to_string()
                .ends_with("; check the path and its permissions")
        );
    }

    #[test]
    fn secret_names() {
        let cases: &[(&str, bool)] = &[
            ("PASSWORD", true),
            ("password", true),
            ("ADMIN_PASSWORD", true),
            ("PASSWORD_HINT", true),
            ("CLIENT_SECRET", true),
            ("clientSecret", true),
            ("SECRET", true),
            ("ACCESS_TOKEN", true),
            ("accessToken", true),
            ("TOKEN", true),
            ("APIKEY", true),
            ("X_API_KEY", true),
            ("PRIVATE_KEY", true),
            ("CONNECTIONJSON", true),
            ("TOKEN_URL", false),
            ("SECRET_NAME", false),
            ("RECONCILIATIONFIELD", false),
            ("KEYSTORE", false),
            ("MONKEY", false),
            ("USERNAME", false),
            ("SOAP_ENDPOINT", false),
            ("ACCOUNTS_IMPORT_JSON", false),
            ("", false),
        ];
        for (name, secret) in cases {
            assert_eq!(is_secret(name), *secret, "{name}");
        }
    }

    #[test]
    fn masking_for_display_and_debug() {
        let mut connection = Connection::new("c");
        connection.set("USERNAME", "svc");
        connection.set("PASSWORD", "hunter2");
        connection.set("CLIENT_SECRET", "s3");
        assert_eq!(
            connection.masked(),
            pairs(&[
                ("CLIENT_SECRET", MASK),
                ("PASSWORD", MASK),
                ("USERNAME", "svc")
            ])
        );
        let debug = format!("{connection:?}");
        assert_eq!(
            debug,
            r#"Connection { name: "c", connection_type: None, attributes: {"CLIENT_SECRET": "********", "PASSWORD": "********", "USERNAME": "svc"} }"#
        );
        assert_eq!(connection.get("PASSWORD"), Some("hunter2"));
    }

    #[test]
    fn overrides() {
        type Expected<'a> = Result<(&'a str, &'a str), &'a str>;
        let cases: &[(&str, Expected)] = &[
            ("USERNAME=svc", Ok(("USERNAME", "svc"))),
            ("URL=https://x/?a=b", Ok(("URL", "https://x/?a=b"))),
            (" PAGE_SIZE =", Ok(("PAGE_SIZE", ""))),
            (
                "PASSWORD",
                Err("--set expects NAME=VALUE: the argument has no '='"),
            ),
            (
                "=hunter2",
                Err("--set expects NAME=VALUE: the attribute name before '=' is empty"),
            ),
            (
                " =x",
                Err("--set expects NAME=VALUE: the attribute name before '=' is empty"),
            ),
        ];
        for (spec, expected) in cases {
            let mut connection = Connection::new("c");
            connection.set("USERNAME", "old");
            let got = connection.apply_override(spec);
            match expected {
                Ok((name, value)) => {
                    got.unwrap();
                    assert_eq!(connection.get(name), Some(*value), "{spec}");
                }
                Err(message) => assert_eq!(got.unwrap_err().to_string(), *message, "{spec}"),
            }
        }
    }

    #[test]
    fn env_overrides() {
        let env = |name: &str| match name {
            "DC_PASSWORD" => Some("hunter2".to_owned()),
            "DC_EMPTY" => Some(String::new()),
            "DC_BLANK" => Some(" \n".to_owned()),
            _ => None,
        };
        let mut connection = Connection::new("c");
        connection
            .apply_env_override("PASSWORD=DC_PASSWORD", env)
            .unwrap();
        assert_eq!(connection.get("PASSWORD"), Some("hunter2"));

        let cases: &[(&str, &str)] = &[
            (
                "PASSWORD=DC_NOPE",
                "cannot set PASSWORD: the environment variable DC_NOPE is not set (or not valid UTF-8)",
            ),
            (
                "PASSWORD=DC_EMPTY",
                "cannot set PASSWORD: the environment variable DC_EMPTY is empty; give it the value, or name the variable that holds it",
            ),
            (
                "PASSWORD=DC_BLANK",
                "cannot set PASSWORD: the environment variable DC_BLANK holds only whitespace; give it the value, or name the variable that holds it",
            ),
            (
                "PASSWORD",
                "--set-env expects NAME=VALUE: the argument has no '='",
            ),
            (
                "=DC_PASSWORD",
                "--set-env expects NAME=VALUE: the attribute name before '=' is empty",
            ),
            (
                "PASSWORD=",
                "--set-env expects NAME=VALUE: the environment variable name after '=' is empty",
            ),
        ];
        for (spec, message) in cases {
            let err = connection.apply_env_override(spec, env).unwrap_err();
            assert_eq!(err.to_string(), *message, "{spec}");
        }
    }

    #[test]
    fn file_overrides_drop_one_trailing_line_break_and_name_the_file_on_failure() {
        let limit = MAX_SECRET_FILE_BYTES as usize;
        let read = |path: &Path| match path.to_str() {
            Some("/run/secrets/pw") => Ok(Cursor::new(b"hunter2\r\n".to_vec())),
            Some("/run/secrets/two") => Ok(Cursor::new(b"a\n\n".to_vec())),
            Some("/run/secrets/full") => Ok(Cursor::new(vec![b'k'; limit])),
            Some("/run/secrets/over") => Ok(Cursor::new(vec![b'k'; limit + 1])),
            Some("/run/secrets/latin1") => Ok(Cursor::new(b"caf\xe9".to_vec())),
            Some("/run/secrets/empty") => Ok(Cursor::new(b"\n".to_vec())),
            Some("/run/secrets/blank") => Ok(Cursor::new(b" \t\n".to_vec())),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "No such file")),
        };
        let mut connection = Connection::new("c");
        connection
            .apply_file_override("PASSWORD=/run/secrets/pw", read)
            .unwrap();
        assert_eq!(connection.get("PASSWORD"), Some("hunter2"));
        connection
            .apply_file_override("TOKEN=/run/secrets/two", read)
            .unwrap();
        assert_eq!(connection.get("TOKEN"), Some("a\n"));
        // Exactly the limit is read whole; a byte more is refused.
        connection
            .apply_file_override("API_KEY=/run/secrets/full", read)
            .unwrap();
        assert_eq!(connection.get("API_KEY").map(str::len), Some(limit));
        let cases = [
            (
                "PASSWORD=/run/secrets/over",
                "cannot set PASSWORD from the file /run/secrets/over: it holds more than 65536 bytes, the most a secret file may hold; check that the path names the secret's file",
            ),
            (
                "PASSWORD=/run/secrets/latin1",
                "cannot set PASSWORD from the file /run/secrets/latin1: stream did not contain valid UTF-8",
            ),
            (
                "PASSWORD=/nope",
                "cannot set PASSWORD from the file /nope: No such file",
            ),
            (
                "PASSWORD=/run/secrets/empty",
                "cannot set PASSWORD from the file /run/secrets/empty: the file is empty; write the value into it, or name the file that holds it",
            ),
            (
                "PASSWORD=/run/secrets/blank",
                "cannot set PASSWORD from the file /run/secrets/blank: the file holds only whitespace; write the value into it, or name the file that holds it",
            ),
            (
                "PASSWORD=",
                "--set-file expects NAME=VALUE: the file name after '=' is empty",
            ),
            (
                "PASSWORD",
                "--set-file expects NAME=VALUE: the argument has no '='",
            ),
        ];
        for (spec, message) in cases {
            let error = connection.apply_file_override(spec, read).unwrap_err();
            assert_eq!(error.to_string(), message, "{spec}");
        }
    }

    #[test]
    fn token_endpoints_are_read_from_connectionjson_in_both_shapes() {
        let mut connection = Connection::new("c");
        let token_urls = |connection: &Connection| -> Vec<(String, String)> {
            connection
                .token_endpoints()
                .into_iter()
                .map(|endpoint| (endpoint.label, endpoint.url))
                .collect()
        };
        assert_eq!(token_urls(&connection), Vec::<(String, String)>::new());
        connection.set(
            "CONNECTIONJSON",
            r#"{"authentications": {"gw": {"URL": "https://gw/token"}, "s": {"authType": "session", "url": "https://s/"}, "x": 3}}"#,
        );
        assert_eq!(
            token_urls(&connection),
            [(
                "CONNECTIONJSON gw.url".to_owned(),
                "https://gw/token".to_owned()
            )]
        );
        connection.set(
            "CONNECTIONJSON",
            r#"{"gw": {"url": "http://127.0.0.1:9/t"}}"#,
        );
        assert_eq!(
            token_urls(&connection),
            [(
                "CONNECTIONJSON gw.url".to_owned(),
                "http://127.0.0.1:9/t".to_owned()
            )]
        );
        connection.set("CONNECTIONJSON", "not json");
        assert!(token_urls(&connection).is_empty());
    }

    #[test]
    fn endpoint_origin() {
        let cases: &[(Option<&str>, Result<&str, &str>)] = &[
            (
                Some("https://dc.example.com/Server.asmx"),
                Ok("https://dc.example.com:443"),
            ),
            (
                Some("http://127.0.0.1:8080/soap"),
                Ok("http://127.0.0.1:8080"),
            ),
            (
                None,
                Err(
                    "SOAP_ENDPOINT is not set; add it to the connection or pass --set SOAP_ENDPOINT=https://host/path",
                ),
            ),
            (
                Some("ftp://dc.example.com/"),
                Err(
                    "SOAP_ENDPOINT is not usable: its scheme is \"ftp\"; only http and https are supported",
                ),
            ),
            (
                Some("https://svc:hunter2@dc.example.com/"),
                Err(
                    "SOAP_ENDPOINT is not usable: it carries user info (user@host); put credentials in USERNAME and PASSWORD instead",
                ),
            ),
            (
                Some("dc.example.com"),
                Err("SOAP_ENDPOINT is not usable: it has no scheme; write it as https://host/path"),
            ),
        ];
        for (url, expected) in cases {
            let mut connection = Connection::new("c");
            if let Some(url) = url {
                connection.set(SOAP_ENDPOINT, *url);
            }
            let got = connection
                .endpoint_origin()
                .map(|o| o.to_string())
                .map_err(|e| e.to_string());
            assert_eq!(
                got,
                expected.map(str::to_owned).map_err(str::to_owned),
                "{url:?}"
            );
        }
    }

    #[test]
    fn the_shape_of_a_file_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let plain = write(dir.path(), "c.json", br#"{"PASSWORD": "p"}"#);
        let package = write(
            dir.path(),
            "Connection_1.json",
            br#"{"A": {"EXTERNAL_ATTR": [{"attributename": "PASSWORD", "encryptedattributevalue": "p"}]}}"#,
        );
        let shape = |path: &Path| load_with_shape(path).unwrap().1;
        assert_eq!(shape(&plain), FileShape::Attributes);
        assert_eq!(shape(&package), FileShape::TransportPackage);
    }

    #[test]
    fn errors_never_include_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "c.json",
            br#"{"A": {"EXTERNAL_ATTR": [{"attributename": "PASSWORD", "encryptedattributevalue": "hunter2"}, 7]}}"#,
        );
        let message = load(&path).unwrap_err().to_string();
        assert!(!message.contains("hunter2"), "{message}");
        let path = write(dir.path(), "d.json", br#"{"PASSWORD": "hunter2" "#);
        let message = load(&path).unwrap_err().to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_transport_package_export_reads_back_as_the_connection_without_its_secrets() {
        let mut original = Connection::new("Prod DC");
        original.connection_type = Some("SOAP".into());
        original.set("SOAP_ENDPOINT", "https://dc.example.com/Server.svc");
        original.set("USERNAME", "svc");
        original.set("PASSWORD", "hunter2");
        original.set("CONNECTIONJSON", r#"{"gw": {"url": "https://gw"}}"#);
        original.set("ACCOUNTS_IMPORT_JSON", r#"{"REQUESTTYPE1": "ACCOUNTS"}"#);
        let (package, omitted) = original.to_transport_package();
        assert_eq!(omitted, ["CONNECTIONJSON", "PASSWORD"]);
        let text = package.to_string();
        assert!(!text.contains("hunter2"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Connection_export.json");
        std::fs::write(&path, text).unwrap();
        let read = load(&path).unwrap();
        let mut expected = original.clone();
        expected.remove("PASSWORD");
        expected.remove("CONNECTIONJSON");
        assert_eq!(read, expected);
    }
}
