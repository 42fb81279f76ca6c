//! Identities, the people accounts belong to: reading an identity file (CSV or JSON) and matching
//! accounts to identities by a [`CorrelationRule`].
//!
//! The store keeps the identities and each endpoint's rule; this module only parses and matches,
//! so both are testable without a database.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::CorrelationRule;

/// The identity attributes with a field of their own; every other column is an attribute.
const KNOWN: [&str; 4] = ["username", "firstname", "lastname", "email"];

/// One identity (a person) as read from an identity file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The identity's unique name.
    pub username: String,
    /// The first name, `None` when absent or empty.
    pub firstname: Option<String>,
    /// The last name, `None` when absent or empty.
    pub lastname: Option<String>,
    /// The email address, `None` when absent or empty.
    pub email: Option<String>,
    /// Every other column (`customproperty1`...), in file order, by the name the file gives it.
    pub attributes: Vec<(String, String)>,
}

impl Identity {
    /// The value of an identity attribute: `username`, `firstname`, `lastname`, `email` (names
    /// compared ignoring ASCII case) or one of [`attributes`](Self::attributes) (exact name, else
    /// ignoring ASCII case). `None` when absent or empty.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        let value = if name.eq_ignore_ascii_case("username") {
            Some(self.username.as_str())
        } else if name.eq_ignore_ascii_case("firstname") {
            self.firstname.as_deref()
        } else if name.eq_ignore_ascii_case("lastname") {
            self.lastname.as_deref()
        } else if name.eq_ignore_ascii_case("email") {
            self.email.as_deref()
        } else {
            self.attributes
                .iter()
                .find(|(key, _)| key == name)
                .or_else(|| {
                    self.attributes
                        .iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(name))
                })
                .map(|(_, value)| value.as_str())
        };
        value.filter(|v| !v.is_empty())
    }
}

/// Where in an identity file something is: a CSV line or a JSON array entry (both from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A line of a CSV file.
    Line(u64),
    /// An entry of a JSON array.
    Entry(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(line) => write!(f, "line {line}"),
            Place::Entry(entry) => write!(f, "entry {entry}"),
        }
    }
}

/// A problem with an identity file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The file cannot be read.
    #[error("cannot read the identity file {}: {source}; check the path and that the file is readable", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file holds nothing.
    #[error("the identity file {} is empty: write a CSV header row naming the columns (username,firstname,lastname,email,...) and a row per identity, or a JSON array of objects", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file (detected as CSV) is not well-formed CSV.
    #[error("the identity file {}, {place}: {problem}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// Where.
        place: Place,
        /// What is wrong and what to do.
        problem: String,
    },
    /// The CSV header row has no `username` column.
    #[error("the identity file {} has no username column: its first line must name the columns, one of them username", path.display())]
    NoUsername {
        /// The file.
        path: PathBuf,
    },
    /// The CSV header names a column twice.
    #[error("the identity file {} names column {column:?} twice in its header: give each column once", path.display())]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
    },
    /// The file (detected as JSON by its leading `[`) is not valid JSON.
    #[error("the identity file {} is not valid JSON: {problem}; write an array of objects such as [{{\"username\": \"jdoe\", \"email\": \"jdoe@example.com\"}}]", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line and column.
        problem: String,
    },
    /// A JSON entry is not an object of strings.
    #[error("the identity file {}, {place}: {problem}", path.display())]
    JsonEntry {
        /// The file.
        path: PathBuf,
        /// Where.
        place: Place,
        /// What is wrong and what to do.
        problem: String,
    },
    /// An identity has no username.
    #[error("the identity file {}, {place}: the username is missing or empty; give every identity a username", path.display())]
    MissingUsername {
        /// The file.
        path: PathBuf,
        /// Where.
        place: Place,
    },
    /// Two identities have the same username.
    #[error("the identity file {}: username {username:?} appears at {first} and at {second}; each identity must appear once", path.display())]
    DuplicateUsername {
        /// The file.
        path: PathBuf,
        /// The username.
        username: String,
        /// Where it appears first.
        first: Place,
        /// Where it appears again.
        second: Place,
    },
}

/// Reads an identity file: JSON when its first non-space character is `[` (an array of objects
/// whose values are strings; `null` counts as absent), else CSV with a header row. Either way
/// `username` is required and unique; `firstname`, `lastname` and `email` (names compared
/// ignoring ASCII case) have fields of their own and every other column or key becomes an
/// attribute (a column without a name is ignored). CSV values are trimmed; empty values count
/// as absent.
pub fn load(path: &Path) -> Result<Vec<Identity>, IdentityError> {
    let bytes = std::fs::read(path).map_err(|source| IdentityError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &bytes)
}

/// [`load`] on bytes already read; `path` names the file in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Identity>, IdentityError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let identities = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(IdentityError::Empty {
                path: path.to_owned(),
            });
        }
        Some(b'[') => parse_json(path, bytes)?,
        Some(_) => parse_csv(path, bytes)?,
    };
    check_unique(path, &identities)?;
    Ok(identities
        .into_iter()
        .map(|(_, identity)| identity)
        .collect())
}

/// Refuses a username given twice, naming both places.
fn check_unique(path: &Path, identities: &[(Place, Identity)]) -> Result<(), IdentityError> {
    let mut seen: HashMap<&str, Place> = HashMap::with_capacity(identities.len());
    for (place, identity) in identities {
        if let Some(first) = seen.insert(&identity.username, *place) {
            return Err(IdentityError::DuplicateUsername {
                path: path.to_owned(),
                username: identity.username.clone(),
                first,
                second: *place,
            });
        }
    }
    Ok(())
}

/// Builds an identity from named values in file order; `None` when the username is missing.
fn identity_from(values: Vec<(String, String)>) -> Option<Identity> {
    let mut identity = Identity {
        username: String::new(),
        firstname: None,
        lastname: None,
        email: None,
        attributes: Vec::new(),
    };
    let some = |value: String| Some(value).filter(|v| !v.is_empty());
    for (key, value) in values.into_iter().filter(|(key, _)| !key.is_empty()) {
        match KNOWN
            .iter()
            .position(|known| known.eq_ignore_ascii_case(&key))
        {
            Some(0) => identity.username = value,
            Some(1) => identity.firstname = some(value),
            Some(2) => identity.lastname = some(value),
            Some(_) => identity.email = some(value),
            None => identity.attributes.push((key, value)),
        }
    }
    (!identity.username.is_empty()).then_some(identity)
}

/// Parses CSV with a header row.
fn parse_csv(path: &Path, bytes: &[u8]) -> Result<Vec<(Place, Identity)>, IdentityError> {
    let csv_error = |error: csv::Error| {
        let line = error.position().map_or(1, csv::Position::line);
        let problem = match error.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!(
                "the row has {len} fields where the header has {expected_len}; quote values that contain commas"
            ),
            csv::ErrorKind::Utf8 { .. } => {
                "the text is not UTF-8; save the file as UTF-8".to_owned()
            }
            _ => format!("{error}; check the quoting"),
        };
        IdentityError::Csv {
            path: path.to_owned(),
            place: Place::Line(line),
            problem,
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(str::to_owned)
        .collect();
    for (i, name) in header.iter().enumerate() {
        let same = |other: &String| {
            let known = KNOWN.iter().any(|k| k.eq_ignore_ascii_case(name));
            other == name || (known && other.eq_ignore_ascii_case(name))
        };
        if header[..i].iter().any(same) {
            return Err(IdentityError::DuplicateColumn {
                path: path.to_owned(),
                column: name.clone(),
            });
        }
    }
    if !header.iter().any(|h| h.eq_ignore_ascii_case("username")) {
        return Err(IdentityError::NoUsername {
            path: path.to_owned(),
        });
    }
    let mut identities = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let place = Place::Line(record.position().map_or(0, csv::Position::line));
        let values = header
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_owned))
            .collect();
        let identity = identity_from(values).ok_or_else(|| IdentityError::MissingUsername {
            path: path.to_owned(),
            place,
        })?;
        identities.push((place, identity));
    }
    Ok(identities)
}

/// The JSON type of a value, for messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parses a JSON array of objects.
fn parse_json(path: &Path, bytes: &[u8]) -> Result<Vec<(Place, Identity)>, IdentityError> {
    let entries: Vec<Value> = serde_json::from_slice(bytes).map_err(|e| IdentityError::Json {
        path: path.to_owned(),
        problem: e.to_string(),
    })?;
    let entry_error = |place, problem| IdentityError::JsonEntry {
        path: path.to_owned(),
        place,
        problem,
    };
    let mut identities = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let place = Place::Entry(i + 1);
        let Value::Object(object) = entry else {
            return Err(entry_error(
                place,
                format!(
                    "it is a {} where an object such as {{\"username\": \"jdoe\"}} is expected",
                    json_type(&entry)
                ),
            ));
        };
        let mut values = Vec::with_capacity(object.len());
        for (key, value) in object {
            match value {
                Value::String(text) => values.push((key, text)),
                Value::Null => {}
                other => {
                    return Err(entry_error(
                        place,
                        format!(
                            "the value of {key:?} is a {}; write it as a string",
                            json_type(&other)
                        ),
                    ));
                }
            }
        }
        let identity = identity_from(values).ok_or(IdentityError::MissingUsername {
            path: path.to_owned(),
            place,
        })?;
        identities.push((place, identity));
    }
    Ok(identities)
}

/// What one value of an identity attribute matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Matches {
    /// Exactly one identity, by username.
    One(String),
    /// Several identities: ambiguous, matches none.
    Several,
}

/// The identities by the value of one attribute.
#[derive(Debug)]
struct AttributeIndex {
    /// The account column, or `name` for the account name.
    column: String,
    /// Whether values are compared ignoring case (`email`).
    fold_case: bool,
    /// Identities by attribute value (lowercased when `fold_case`).
    by_value: HashMap<String, Matches>,
}

/// Finds the owner of accounts: the identity matched by a [`CorrelationRule`], with the
/// identities indexed once (hash maps per rule pair), so each account costs a few lookups.
#[derive(Debug)]
pub struct Correlator {
    /// One index per rule pair, in rule order.
    pairs: Vec<AttributeIndex>,
}

impl Correlator {
    /// Indexes `identities` for each pair of `rule`.
    pub fn new(identities: &[Identity], rule: &CorrelationRule) -> Correlator {
        let pairs = rule
            .0
            .iter()
            .map(|(column, attribute)| {
                let fold_case = attribute.eq_ignore_ascii_case("email");
                let mut by_value = HashMap::new();
                for identity in identities {
                    let Some(value) = identity.attribute(attribute) else {
                        continue;
                    };
                    let key = if fold_case {
                        value.to_lowercase()
                    } else {
                        value.to_owned()
                    };
                    match by_value.entry(key) {
                        Entry::Vacant(slot) => {
                            slot.insert(Matches::One(identity.username.clone()));
                        }
                        Entry::Occupied(mut slot) => {
                            slot.insert(Matches::Several);
                        }
                    }
                }
                AttributeIndex {
                    column: column.clone(),
                    fold_case,
                    by_value,
                }
            })
            .collect();
        Correlator { pairs }
    }

    /// The username of the account's owner: for each rule pair in order, the account's value
    /// (its name for `name`, else the first column of that name) is looked up; the first pair
    /// matching exactly one identity wins. Empty values and ambiguous matches are skipped.
    pub fn owner(&self, account_name: &str, columns: &[(String, String)]) -> Option<&str> {
        self.pairs.iter().find_map(|pair| {
            let value = if pair.column == "name" {
                account_name
            } else {
                columns
                    .iter()
                    .find(|(name, _)| *name == pair.column)
                    .map(|(_, value)| value.as_str())?
            };
            if value.is_empty() {
                return None;
            }
            let found = if pair.fold_case {
                pair.by_value.get(&value.to_lowercase())
            } else {
                pair.by_value.get(value)
            };
            match found? {
                Matches::One(username) => Some(username.as_str()),
                Matches::Several => None,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(username: &str, email: Option<&str>, attributes: &[(&str, &str)]) -> Identity {
        Identity {
            username: username.to_owned(),
            firstname: None,
            lastname: None,
            email: email.map(str::to_owned),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn csv_parses_known_columns_and_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "people.csv",
            "\u{feff}UserName, firstname,lastname,Email,customproperty1,department\n\
             jdoe,John,Doe,JDoe@Example.com,C-1,Claims\n\
             \"smith, a\",,Smith,,,\n",
        );
        assert_eq!(
            load(&path).unwrap(),
            vec![
                Identity {
                    username: "jdoe".into(),
                    firstname: Some("John".into()),
                    lastname: Some("Doe".into()),
                    email: Some("JDoe@Example.com".into()),
                    attributes: vec![
                        ("customproperty1".into(), "C-1".into()),
                        ("department".into(), "Claims".into()),
                    ],
                },
                Identity {
                    username: "smith, a".into(),
                    firstname: None,
                    lastname: Some("Smith".into()),
                    email: None,
                    attributes: vec![
                        ("customproperty1".into(), "".into()),
                        ("department".into(), "".into()),
                    ],
                },
            ]
        );
        // A column without a name (a trailing comma) is ignored.
        let path = write(&dir, "trailing.csv", "username,email,\njdoe,j@x,\n");
        assert_eq!(
            load(&path).unwrap(),
            vec![identity("jdoe", Some("j@x"), &[])]
        );
        // A header alone: no identities.
        let path = write(&dir, "none.csv", "username,email\n");
        assert_eq!(load(&path).unwrap(), vec![]);
    }

    #[test]
    fn json_parses_known_keys_and_attributes() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "people.json",
            r#"  [
                {"username": "jdoe", "email": "jdoe@example.com", "customproperty1": "C-1", "firstname": null},
                {"lastname": "Smith", "USERNAME": "asmith"}
            ]"#,
        );
        assert_eq!(
            load(&path).unwrap(),
            vec![
                identity(
                    "jdoe",
                    Some("jdoe@example.com"),
                    &[("customproperty1", "C-1")]
                ),
                Identity {
                    lastname: Some("Smith".into()),
                    ..identity("asmith", None, &[])
                },
            ]
        );
        assert_eq!(load(&write(&dir, "empty.json", "[]")).unwrap(), vec![]);
    }

    #[test]
    fn identity_file_errors_say_where_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &str, &str)] = &[
            (
                "empty.csv",
                " \n",
                "the identity file {} is empty: write a CSV header row naming the columns (username,firstname,lastname,email,...) and a row per identity, or a JSON array of objects",
            ),
            (
                "nouser.csv",
                "name,email\njdoe,j@x\n",
                "the identity file {} has no username column: its first line must name the columns, one of them username",
            ),
            (
                "twice.csv",
                "username,Email,email\njdoe,a,b\n",
                "the identity file {} names column \"email\" twice in its header: give each column once",
            ),
            (
                "short.csv",
                "username,email\njdoe,j@x\nasmith\n",
                "the identity file {}, line 3: the row has 1 fields where the header has 2; quote values that contain commas",
            ),
            (
                "blank.csv",
                "username,email\njdoe,j@x\n ,a@x\n",
                "the identity file {}, line 3: the username is missing or empty; give every identity a username",
            ),
            (
                "dup.csv",
                "username,email\njdoe,a\nasmith,b\njdoe,c\n",
                "the identity file {}: username \"jdoe\" appears at line 2 and at line 4; each identity must appear once",
            ),
            (
                "bad.json",
                "[{\"username\": \"jdoe\",}]",
                "the identity file {} is not valid JSON: trailing comma at line 1 column 22; write an array of objects such as [{\"username\": \"jdoe\", \"email\": \"jdoe@example.com\"}]",
            ),
            (
                "scalar.json",
                "[{\"username\": \"jdoe\"}, \"asmith\"]",
                "the identity file {}, entry 2: it is a string where an object such as {\"username\": \"jdoe\"} is expected",
            ),
            (
                "number.json",
                "[{\"username\": \"jdoe\", \"customproperty1\": 7}]",
                "the identity file {}, entry 1: the value of \"customproperty1\" is a number; write it as a string",
            ),
            (
                "nouser.json",
                "[{\"username\": \"jdoe\"}, {\"email\": \"a@x\"}]",
                "the identity file {}, entry 2: the username is missing or empty; give every identity a username",
            ),
            (
                "dup.json",
                "[{\"username\": \"jdoe\"}, {\"username\": \"a\"}, {\"username\": \"jdoe\"}]",
                "the identity file {}: username \"jdoe\" appears at entry 1 and at entry 3; each identity must appear once",
            ),
        ];
        for (name, text, message) in cases {
            let path = write(&dir, name, text);
            let err = load(&path).unwrap_err();
            assert_eq!(
                err.to_string(),
                message.replace("{}", &path.display().to_string()),
                "{name}"
            );
        }
        let missing = dir.path().join("missing.csv");
        let err = load(&missing).unwrap_err();
        assert!(matches!(err, IdentityError::Read { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with(&format!(
                "cannot read the identity file {}: ",
                missing.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn invalid_utf8_csv_is_an_error() {
        let err = parse(Path::new("x.csv"), b"username\njd\xFFoe\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the identity file x.csv, line 2: the text is not UTF-8; save the file as UTF-8"
        );
    }

    #[test]
    fn correlation_by_name_then_email_ignoring_case() {
        let identities = vec![
            identity("jdoe", Some("John.Doe@Example.com"), &[]),
            identity("asmith", Some("a.smith@example.com"), &[]),
            // Two identities share an email: ambiguous for that pair.
            identity("twin1", Some("twins@example.com"), &[]),
            identity("twin2", Some("TWINS@example.com"), &[]),
            identity("nomail", None, &[("customproperty1", "")]),
        ];
        let correlator = Correlator::new(&identities, &CorrelationRule::default());
        let cols = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        type Case<'a> = (&'a str, Vec<(String, String)>, Option<&'a str>);
        let cases: &[Case] = &[
            // By account name = username, exact.
            (
                "jdoe",
                cols(&[("customproperty1", "a.smith@example.com")]),
                Some("jdoe"),
            ),
            // Usernames are compared exactly: JDOE is not jdoe; the email decides.
            (
                "JDOE",
                cols(&[("customproperty1", "JOHN.DOE@example.COM")]),
                Some("jdoe"),
            ),
            // Email ignoring case.
            (
                "x1",
                cols(&[("customproperty1", "A.Smith@Example.com")]),
                Some("asmith"),
            ),
            // Ambiguous email: no owner.
            (
                "x2",
                cols(&[("customproperty1", "twins@example.com")]),
                None,
            ),
            // Ambiguous email but the name matches first.
            (
                "twin1",
                cols(&[("customproperty1", "twins@example.com")]),
                Some("twin1"),
            ),
            // Empty values never match (nomail has no email).
            ("x3", cols(&[("customproperty1", "")]), None),
            // The column `name` is not the account name.
            ("x4", cols(&[("name", "jdoe")]), None),
            ("x5", cols(&[]), None),
        ];
        for (name, columns, owner) in cases {
            assert_eq!(correlator.owner(name, columns), *owner, "{name}");
        }
        // Another rule: a custom attribute, exact.
        let rule: CorrelationRule = "employeeid=customproperty2".parse().unwrap();
        let identities = vec![
            identity("p1", None, &[("customproperty2", "E-1")]),
            identity("p2", None, &[("CustomProperty2", "E-2")]),
        ];
        let correlator = Correlator::new(&identities, &rule);
        assert_eq!(
            correlator.owner("a", &cols(&[("employeeid", "E-1")])),
            Some("p1")
        );
        assert_eq!(
            correlator.owner("a", &cols(&[("employeeid", "E-2")])),
            Some("p2")
        );
        assert_eq!(correlator.owner("a", &cols(&[("employeeid", "e-1")])), None);
    }
}
