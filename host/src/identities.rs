//! Identities, the people accounts belong to: reading an identity file (CSV or JSON) and matching
//! accounts to identities by a [`CorrelationRule`].
//!
//! The store keeps the identities and each endpoint's rule; this module only parses and matches,
//! so both are testable without a database.

use std::cell::Cell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

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
    /// A record (a CSV row, a JSON entry) is longer than [`MAX_RECORD_BYTES`].
    #[error(
        "the identity file {}, {place}{}: the {} is longer than {limit} bytes, the most one identity may take; check that the file is an identity file: CSV with a header row, or a JSON array of objects",
        path.display(),
        line.map(|line| format!(" (from line {line})")).unwrap_or_default(),
        match place { Place::Line(_) => "row", Place::Entry(_) => "entry" }
    )]
    RecordTooLong {
        /// The file.
        path: PathBuf,
        /// The record: its first line (CSV) or its number (JSON).
        place: Place,
        /// The line a JSON entry starts on.
        line: Option<u64>,
        /// The most bytes a record may take.
        limit: u64,
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
///
/// The file is streamed: whatever its size, no more than one record (a CSV row, a JSON array
/// entry) of at most [`MAX_RECORD_BYTES`] is held besides the identities read, and the first
/// error stops the reading (a file that never ends, such as `/dev/zero`, is refused after
/// [`MAX_RECORD_BYTES`]).
pub fn load(path: &Path) -> Result<Vec<Identity>, IdentityError> {
    let file = std::fs::File::open(path).map_err(|source| IdentityError::Read {
        path: path.to_owned(),
        source,
    })?;
    read(path, file)
}

/// [`load`] on bytes already read; `path` names the file in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Identity>, IdentityError> {
    read(path, bytes)
}

/// [`load`] from any reader; `path` names the file in errors.
pub fn read(path: &Path, source: impl Read) -> Result<Vec<Identity>, IdentityError> {
    let mut source = Bounded::new(BufReader::with_capacity(READ_BUFFER_BYTES, source));
    let first = source.start().map_err(|source| IdentityError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut identities = Identities::new(path);
    match first {
        None => {
            return Err(IdentityError::Empty {
                path: path.to_owned(),
            });
        }
        Some(b'[') => read_json(&mut identities, source)?,
        Some(_) => read_csv(&mut identities, source)?,
    }
    Ok(identities.list)
}

/// The longest record of an identity file: a CSV row (from its first byte up to its line
/// break, which is not counted), or a JSON array entry (from the end of the entry before it,
/// so with the comma and the spaces before it). No identity needs a megabyte; the bound keeps
/// a wrong file (`/dev/zero`, a binary, a file without line breaks) from taking the memory.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// The read buffer under the parsers.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The identities read so far, with the place of each username, for the duplicate check.
struct Identities<'a> {
    path: &'a Path,
    list: Vec<Identity>,
    seen: HashMap<String, Place>,
}

impl<'a> Identities<'a> {
    fn new(path: &'a Path) -> Self {
        Identities {
            path,
            list: Vec::new(),
            seen: HashMap::new(),
        }
    }

    /// Adds an identity, refusing a username given before, naming both places.
    fn push(&mut self, place: Place, identity: Identity) -> Result<(), IdentityError> {
        match self.seen.entry(identity.username.clone()) {
            Entry::Occupied(first) => Err(IdentityError::DuplicateUsername {
                path: self.path.to_owned(),
                username: identity.username,
                first: *first.get(),
                second: place,
            }),
            Entry::Vacant(slot) => {
                slot.insert(place);
                self.list.push(identity);
                Ok(())
            }
        }
    }
}

/// The error of a record longer than [`MAX_RECORD_BYTES`].
fn too_long(path: &Path, place: Place, line: Option<u64>) -> IdentityError {
    IdentityError::RecordTooLong {
        path: path.to_owned(),
        place,
        line,
        limit: MAX_RECORD_BYTES,
    }
}

/// Where the reading of a file is, shared by the [`Bounded`] reader under a parser and the
/// code driving the parser.
#[derive(Debug, Default)]
struct Progress {
    /// Bytes handed to the parser.
    read: Cell<u64>,
    /// Where the record being parsed starts (a byte offset like `read`).
    record_start: Cell<u64>,
    /// Line breaks handed to the parser.
    line_breaks: Cell<u64>,
    /// The line of the first byte of the record that is neither space nor comma (JSON).
    record_line: Cell<Option<u64>>,
    /// Whether the reading stopped at [`MAX_RECORD_BYTES`].
    exceeded: Cell<bool>,
}

impl Progress {
    /// A record starts here: the next byte handed over.
    fn record_starts(&self) {
        self.record_starts_at(self.read.get());
    }

    /// A record starts at `offset` (not beyond what was handed over).
    fn record_starts_at(&self, offset: u64) {
        self.record_start.set(offset);
        self.record_line.set(None);
    }
}

/// A reader that hands a parser no more than [`MAX_RECORD_BYTES`] + 1 bytes past the start of
/// the record being parsed (an error after that), and counts lines.
struct Bounded<R> {
    inner: R,
    progress: Rc<Progress>,
}

impl<R: BufRead> Bounded<R> {
    fn new(inner: R) -> Self {
        Bounded {
            inner,
            progress: Rc::default(),
        }
    }

    /// Skips a byte-order mark, and peeks at the first byte that is not ASCII white space:
    /// `None` when there is none. The spaces stay to be read (lines keep their numbers); only
    /// when they fill the read buffer are they consumed.
    fn start(&mut self) -> io::Result<Option<u8>> {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        if self.inner.fill_buf()?.starts_with(BOM) {
            self.inner.consume(BOM.len());
        }
        loop {
            let buffer = self.inner.fill_buf()?;
            if buffer.is_empty() {
                return Ok(None);
            }
            if let Some(first) = buffer.iter().find(|b| !b.is_ascii_whitespace()) {
                return Ok(Some(*first));
            }
            let (length, line_breaks) = (buffer.len(), memchr::memchr_iter(b'\n', buffer).count());
            self.inner.consume(length);
            let progress = &self.progress;
            progress
                .line_breaks
                .set(progress.line_breaks.get() + line_breaks as u64);
        }
    }
}

impl<R: BufRead> Read for Bounded<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let progress = &self.progress;
        let end = progress.record_start.get() + MAX_RECORD_BYTES + 1;
        let allowed = end.saturating_sub(progress.read.get());
        if allowed == 0 && !buffer.is_empty() {
            progress.exceeded.set(true);
            return Err(io::Error::other("the record is too long"));
        }
        let wanted = buffer
            .len()
            .min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let count = self.inner.read(&mut buffer[..wanted])?;
        let mut line_breaks = progress.line_breaks.get();
        for &byte in &buffer[..count] {
            if byte == b'\n' {
                line_breaks += 1;
            } else if progress.record_line.get().is_none()
                && !byte.is_ascii_whitespace()
                && byte != b','
            {
                progress.record_line.set(Some(line_breaks + 1));
            }
        }
        progress.line_breaks.set(line_breaks);
        progress.read.set(progress.read.get() + count as u64);
        Ok(count)
    }
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

/// Reads CSV with a header row, a record at a time.
fn read_csv<R: BufRead>(
    identities: &mut Identities<'_>,
    source: Bounded<R>,
) -> Result<(), IdentityError> {
    let path = identities.path;
    let progress = Rc::clone(&source.progress);
    // The parser counts from where it starts; the spaces `start` consumed were before it.
    let lines_before = progress.line_breaks.get();
    progress.read.set(0);
    progress.record_starts_at(0);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(source);
    // The line the record being read starts on (the parser's position moves on within it).
    let mut record_line = lines_before + 1;
    let csv_error = |error: csv::Error, record_line: u64| {
        if progress.exceeded.get() {
            return too_long(path, Place::Line(record_line), None);
        }
        let line = lines_before + error.position().map_or(record_line, csv::Position::line);
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
    let header: Vec<String> = match reader.headers() {
        Ok(header) => header.iter().map(str::to_owned).collect(),
        Err(error) => return Err(csv_error(error, record_line)),
    };
    progress.record_starts_at(reader.position().byte());
    record_line = lines_before + reader.position().line();
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
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(error) => return Err(csv_error(error, record_line)),
        }
        progress.record_starts_at(reader.position().byte());
        record_line = lines_before + reader.position().line();
        let place = Place::Line(lines_before + record.position().map_or(0, csv::Position::line));
        let values = header
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_owned))
            .collect();
        let identity = identity_from(values).ok_or_else(|| IdentityError::MissingUsername {
            path: path.to_owned(),
            place,
        })?;
        identities.push(place, identity)?;
    }
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

/// Reads a JSON array of objects, an entry at a time.
fn read_json<R: BufRead>(
    identities: &mut Identities<'_>,
    source: Bounded<R>,
) -> Result<(), IdentityError> {
    let path = identities.path;
    let progress = Rc::clone(&source.progress);
    let mut entries = JsonEntries {
        identities,
        progress: &progress,
        error: None,
    };
    let mut deserializer = serde_json::Deserializer::from_reader(source);
    let outcome = serde::Deserializer::deserialize_seq(&mut deserializer, &mut entries)
        .and_then(|()| deserializer.end());
    match outcome {
        Ok(()) => Ok(()),
        Err(_) if entries.error.is_some() => Err(entries.error.take().expect("checked")),
        Err(_) if progress.exceeded.get() => {
            let entry = entries.identities.list.len() + 1;
            Err(too_long(
                path,
                Place::Entry(entry),
                Some(
                    progress
                        .record_line
                        .get()
                        .unwrap_or(progress.line_breaks.get() + 1),
                ),
            ))
        }
        Err(error) => Err(IdentityError::Json {
            path: path.to_owned(),
            problem: error.to_string(),
        }),
    }
}

/// The visitor of the JSON array: each entry is turned into an identity as it is read.
struct JsonEntries<'i, 'p> {
    identities: &'i mut Identities<'p>,
    progress: &'i Progress,
    /// The error that stopped the reading, when it is not the parser's.
    error: Option<IdentityError>,
}

impl JsonEntries<'_, '_> {
    fn entry(&mut self, place: Place, entry: Value) -> Result<(), IdentityError> {
        let path = self.identities.path;
        let entry_error = |problem| IdentityError::JsonEntry {
            path: path.to_owned(),
            place,
            problem,
        };
        let Value::Object(object) = entry else {
            return Err(entry_error(format!(
                "it is a {} where an object such as {{\"username\": \"jdoe\"}} is expected",
                json_type(&entry)
            )));
        };
        let mut values = Vec::with_capacity(object.len());
        for (key, value) in object {
            match value {
                Value::String(text) => values.push((key, text)),
                Value::Null => {}
                other => {
                    return Err(entry_error(format!(
                        "the value of {key:?} is a {}; write it as a string",
                        json_type(&other)
                    )));
                }
            }
        }
        let identity = identity_from(values).ok_or(IdentityError::MissingUsername {
            path: path.to_owned(),
            place,
        })?;
        self.identities.push(place, identity)
    }
}

impl<'de> serde::de::Visitor<'de> for &mut JsonEntries<'_, '_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            self.progress.record_starts();
            let Some(entry) = seq.next_element::<Value>()? else {
                return Ok(());
            };
            let place = Place::Entry(self.identities.list.len() + 1);
            if let Err(error) = self.entry(place, entry) {
                self.error = Some(error);
                return Err(serde::de::Error::custom("the entry is refused"));
            }
        }
    }
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
    fn a_record_longer_than_the_limit_is_refused_with_its_place() {
        let limit = MAX_RECORD_BYTES as usize;
        let path = Path::new("x");
        // A row of exactly the limit (its line break not counted) is read, a byte more is not.
        let name = |length: usize| "j".repeat(length);
        let text = format!("username\n{}\nasmith\n", name(limit));
        let read = parse(path, text.as_bytes()).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[0].username.len(), limit);
        let text = format!("username\njdoe\n{}\nasmith\n", name(limit + 1));
        assert_eq!(
            parse(path, text.as_bytes()).unwrap_err().to_string(),
            "the identity file x, line 3: the row is longer than 1048576 bytes, the most one identity may take; check that the file is an identity file: CSV with a header row, or a JSON array of objects"
        );
        // A row of several lines (a quoted line break) counts whole, from its first line.
        let text = format!(
            "username,note\njdoe,\"a\n{}\nb\"\n",
            name(limit / 2 + 1) + "\n" + &name(limit / 2)
        );
        assert_eq!(
            parse(path, text.as_bytes()).unwrap_err().to_string(),
            "the identity file x, line 2: the row is longer than 1048576 bytes, the most one identity may take; check that the file is an identity file: CSV with a header row, or a JSON array of objects"
        );
        // NUL bytes without an end (/dev/zero): the header row.
        let zeros = std::io::repeat(0);
        assert_eq!(
            read_from(path, zeros).to_string(),
            "the identity file x, line 1: the row is longer than 1048576 bytes, the most one identity may take; check that the file is an identity file: CSV with a header row, or a JSON array of objects"
        );
        // A JSON entry: its number and the line it starts on.
        let text = format!(
            "[\n  {{\"username\": \"jdoe\"}},\n  {{\"username\":\n \"{}\"}}\n]",
            name(limit)
        );
        assert_eq!(
            parse(path, text.as_bytes()).unwrap_err().to_string(),
            "the identity file x, entry 2 (from line 3): the entry is longer than 1048576 bytes, the most one identity may take; check that the file is an identity file: CSV with a header row, or a JSON array of objects"
        );
        let text = format!("[{{\"username\": \"{}\"}}]", name(limit - 20));
        assert_eq!(parse(path, text.as_bytes()).unwrap().len(), 1);
        // Leading space beyond the read buffer still leaves the lines their numbers.
        let text = format!(
            "{}username\njdoe\njdoe\n",
            "\n".repeat(READ_BUFFER_BYTES + 5)
        );
        let blank = READ_BUFFER_BYTES as u64 + 5;
        assert_eq!(
            parse(path, text.as_bytes()).unwrap_err().to_string(),
            format!(
                "the identity file x: username \"jdoe\" appears at line {} and at line {}; each identity must appear once",
                blank + 2,
                blank + 3
            )
        );
    }

    /// The error of reading an endless source.
    fn read_from(path: &Path, source: impl Read) -> IdentityError {
        read(path, source.take(64 << 20)).unwrap_err()
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
