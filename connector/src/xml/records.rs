//! Reading records out of a response while it streams in.
//!
//! A [`RecordReader`] pulls XML events from any `BufRead` (the HTTP body as it arrives) and
//! yields one [`Record`] per element that the record path selects, with the values of its value
//! paths. It never builds a tree of the document and holds only the current record, so memory
//! does not grow with the response.
//!
//! On the way it checks what the configuration does not mention but the import depends on: a
//! SOAP fault, an operation (`...Rs` element) whose `status` is not `Success`, a body that is not
//! XML, ends early, or does not contain the records' container at all.

use std::borrow::Cow;
use std::io::BufRead;

use quick_xml::errors::Error as XmlError;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use crate::error::{OperationFailure, SoapFault};
use crate::path::{Path, Step, Target};

/// Deeper nesting than this is refused: no Duck Creek response comes near it, and a hostile one
/// must not make the reader's stack grow without bound.
const MAX_DEPTH: usize = 256;

/// Messages and fault texts are cut at this many bytes: enough for any real message, bounded
/// for a hostile one.
const MAX_MESSAGE: usize = 1024;

/// The largest single piece of XML (a tag with its attributes, a text) a response may hold: far
/// beyond any Duck Creek record, and the bound on what one event takes in memory.
pub const MAX_EVENT_BYTES: u64 = 16 * 1024 * 1024;

/// How many successful operation names a reader keeps (for `test-connection` and messages).
const MAX_OPERATIONS_KEPT: usize = 64;

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// Reading the body failed (connection reset, timeout).
    Io(String),
    /// The body is a SOAP fault.
    Fault(SoapFault),
    /// An operation answered other than `Success`.
    OperationFailed(OperationFailure),
    /// `Session.loginRs` answered other than `Success`.
    LoginRefused(OperationFailure),
    /// The body is not XML, not well-formed, or ends early.
    Malformed(String),
    /// The record path's container element is not in the response.
    PathNotFound {
        /// The part of the record path that was found.
        found: String,
        /// The whole record path.
        wanted: String,
    },
}

/// What handling one event led to.
enum Handled {
    Record(Record),
    End,
    Continue,
}

/// The values one record yielded, one list per value path, in response order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// `values[i]` holds every match of value path `i`.
    pub values: Vec<Vec<String>>,
}

struct RecordInProgress {
    level: usize,
    values: Vec<Vec<String>>,
    /// For each value path, how many of its steps the open elements match.
    matched: Vec<usize>,
    /// Text being collected: (value path, level of the element whose text it is, text).
    captures: Vec<(usize, usize, String)>,
}

/// Streams records out of one response body.
pub struct RecordReader<R: BufRead> {
    reader: Reader<EventBound<R>>,
    buffer: Vec<u8>,
    record_steps: Vec<Step>,
    value_paths: Vec<Path>,
    /// Local names of the open elements; `open[0]` is the root.
    open: Vec<String>,
    matched: usize,
    most_matched: usize,
    record: Option<RecordInProgress>,
    root_closed: bool,
    done: bool,
    succeeded: Vec<String>,
}

impl<R: BufRead> RecordReader<R> {
    /// Reads `body`, yielding the elements `record_path` selects (below the document root) with
    /// the values of `value_paths` (relative to each record).
    pub fn new(body: R, record_path: &Path, value_paths: Vec<Path>) -> Self {
        let mut reader = Reader::from_reader(EventBound::new(body, MAX_EVENT_BYTES));
        reader.config_mut().check_end_names = true;
        RecordReader {
            reader,
            buffer: Vec::with_capacity(8 * 1024),
            record_steps: record_path.steps.clone(),
            value_paths,
            open: Vec::new(),
            matched: 0,
            most_matched: 0,
            record: None,
            root_closed: false,
            done: false,
            succeeded: Vec::new(),
        }
    }

    /// A reader that yields no records: it only checks the response (faults, statuses, syntax).
    pub fn checking_only(body: R) -> Self {
        let path = Path {
            steps: Vec::new(),
            target: Target::Element,
        };
        RecordReader::new(body, &path, Vec::new())
    }

    /// The operations (`...Rs` elements) that answered `Success` so far, in order (at most 64).
    pub fn succeeded_operations(&self) -> &[String] {
        &self.succeeded
    }

    /// How many bytes of the body were consumed.
    pub fn position(&self) -> u64 {
        self.reader.buffer_position()
    }

    /// The next record, or `None` once the whole response was read and found complete.
    pub fn next_record(&mut self) -> Result<Option<Record>, ResponseError> {
        if self.done {
            return Ok(None);
        }
        loop {
            // The buffer is taken out of `self` while its event is handled, so the handlers can
            // use `self` (and, on the rare paths that read ahead, `read_owned_event`) without
            // copying every event.
            let mut buffer = std::mem::take(&mut self.buffer);
            buffer.clear();
            self.reader.get_mut().start_event();
            let handled = match self.reader.read_event_into(&mut buffer) {
                Ok(event) => match self.forbidden_character(&event) {
                    Some(error) => Err(error),
                    None => self.handle(event),
                },
                Err(error) => Err(self.xml_error(error)),
            };
            self.buffer = buffer;
            match handled? {
                Handled::Record(record) => return Ok(Some(record)),
                Handled::End => return Ok(None),
                Handled::Continue => {}
            }
        }
    }

    fn handle(&mut self, event: Event<'_>) -> Result<Handled, ResponseError> {
        match event {
            Event::Start(start) => self.open_element(&start, false)?,
            Event::Empty(start) => {
                self.open_element(&start, true)?;
                if let Some(record) = self.close_element() {
                    return Ok(Handled::Record(record));
                }
            }
            Event::End(_) => {
                if let Some(record) = self.close_element() {
                    return Ok(Handled::Record(record));
                }
            }
            Event::Text(text) => self.text(&text.xml10_content())?,
            Event::CData(data) => self.text(&data.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = self.resolve(&reference)?;
                self.text(&resolved)?;
            }
            Event::DocType(_) => {
                return Err(self.malformed(
                    "the response has a DOCTYPE, which is refused (entity expansion)".into(),
                ));
            }
            Event::Eof => return self.finish().map(|()| Handled::End),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
        Ok(Handled::Continue)
    }

    fn open_element(&mut self, start: &BytesStart<'_>, empty: bool) -> Result<(), ResponseError> {
        if self.root_closed {
            return Err(self.malformed("a second root element after the document's end".into()));
        }
        if self.open.len() >= MAX_DEPTH {
            return Err(self.malformed(format!("elements nested deeper than {MAX_DEPTH} levels")));
        }
        let name = start.local_name().as_ref().to_string();
        let level = self.open.len() + 1;
        if name == "Fault" && self.open.last().is_some_and(|parent| parent == "Body") {
            return Err(ResponseError::Fault(self.read_fault(level, empty)?));
        }
        if name.ends_with("Rs") {
            self.check_status(start, &name, level, empty)?;
        }
        self.open.push(name);
        self.advance_record_path(start, level)?;
        self.advance_value_paths(start, level)
    }

    fn advance_record_path(
        &mut self,
        start: &BytesStart<'_>,
        level: usize,
    ) -> Result<(), ResponseError> {
        let name = &self.open[level - 1];
        let steps = self.record_steps.len();
        if level < 2 || self.record.is_some() || steps == 0 {
            return Ok(());
        }
        if self.matched == level - 2
            && level - 2 < steps
            && self.record_steps[level - 2].matches(name)
        {
            self.matched = level - 1;
            self.most_matched = self.most_matched.max(self.matched);
            if self.matched == steps {
                self.begin_record(start, level)?;
            }
        }
        Ok(())
    }

    fn begin_record(&mut self, start: &BytesStart<'_>, level: usize) -> Result<(), ResponseError> {
        let count = self.value_paths.len();
        let mut record = RecordInProgress {
            level,
            values: vec![Vec::new(); count],
            matched: vec![0; count],
            captures: Vec::new(),
        };
        // The record element's own attributes, read in one pass however many paths want one.
        let mut wanted = Vec::new();
        for (index, path) in self.value_paths.iter().enumerate() {
            if path.steps.is_empty() {
                match &path.target {
                    Target::Attribute(name) => wanted.push((index, name.as_str())),
                    Target::Element => record.captures.push((index, level, String::new())),
                }
            }
        }
        let values = attributes(start, &wanted).map_err(|m| self.malformed(m))?;
        for ((index, _), value) in wanted.iter().zip(values) {
            record.values[*index].extend(value);
        }
        self.record = Some(record);
        Ok(())
    }

    fn advance_value_paths(
        &mut self,
        start: &BytesStart<'_>,
        level: usize,
    ) -> Result<(), ResponseError> {
        let Some(record) = self.record.as_mut() else {
            return Ok(());
        };
        if level <= record.level {
            return Ok(());
        }
        let step_index = level - record.level - 1;
        let name = &self.open[level - 1];
        for (index, path) in self.value_paths.iter().enumerate() {
            let matched = &mut record.matched[index];
            if *matched != step_index
                || step_index >= path.steps.len()
                || !path.steps[step_index].matches(name)
            {
                continue;
            }
            *matched = step_index + 1;
            if *matched < path.steps.len() {
                continue;
            }
            match &path.target {
                Target::Attribute(wanted) => {
                    let found = attribute(start, wanted).map_err(|message| {
                        ResponseError::Malformed(format!(
                            "{message} (at byte {})",
                            self.reader.buffer_position()
                        ))
                    })?;
                    record.values[index].extend(found);
                }
                Target::Element => record.captures.push((index, level, String::new())),
            }
        }
        Ok(())
    }

    fn close_element(&mut self) -> Option<Record> {
        let level = self.open.len();
        self.open.pop();
        if level == 1 {
            self.root_closed = true;
        }
        if level >= 2 && self.matched >= level - 1 {
            self.matched = level - 2;
        }
        let record = self.record.as_mut()?;
        if level > record.level {
            let step_index = level - record.level - 1;
            for matched in record.matched.iter_mut() {
                if *matched > step_index {
                    *matched = step_index;
                }
            }
        }
        while let Some((index, capture_level, _)) = record.captures.last() {
            if *capture_level != level {
                break;
            }
            let index = *index;
            if let Some((_, _, text)) = record.captures.pop() {
                let text = text.trim();
                if !text.is_empty() {
                    record.values[index].push(text.to_string());
                }
            }
        }
        if level == record.level {
            return self.record.take().map(|record| Record {
                values: record.values,
            });
        }
        None
    }

    fn text(&mut self, text: &str) -> Result<(), ResponseError> {
        if self.open.is_empty() {
            if text.trim().is_empty() {
                return Ok(());
            }
            let what = if self.root_closed { "after" } else { "before" };
            return Err(self.malformed(format!(
                "the body is not XML: text {what} the root element: `{}`",
                crate::text::excerpt(text.as_bytes(), 80)
            )));
        }
        if let Some(record) = self.record.as_mut() {
            for (_, _, capture) in record.captures.iter_mut() {
                if capture.len() < MAX_MESSAGE * 64 {
                    capture.push_str(text);
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ResponseError> {
        if let Some(innermost) = self.open.last() {
            return Err(ResponseError::Malformed(format!(
                "the response ends inside `<{innermost}>` after {} bytes: it was cut short",
                self.reader.buffer_position()
            )));
        }
        if !self.root_closed {
            return Err(ResponseError::Malformed(
                "the response body is empty".into(),
            ));
        }
        self.done = true;
        let steps = self.record_steps.len();
        if steps > 0 && self.most_matched + 1 < steps {
            return Err(ResponseError::PathNotFound {
                found: describe_steps(&self.record_steps[..self.most_matched]),
                wanted: describe_steps(&self.record_steps),
            });
        }
        Ok(())
    }

    /// Checks the `status` of an `...Rs` element; a failing one ends the response.
    fn check_status(
        &mut self,
        start: &BytesStart<'_>,
        name: &str,
        level: usize,
        empty: bool,
    ) -> Result<(), ResponseError> {
        let Some(status) = attribute(start, "status").map_err(|m| self.malformed(m))? else {
            return Ok(());
        };
        if status.eq_ignore_ascii_case("success") {
            if self.succeeded.len() < MAX_OPERATIONS_KEPT {
                self.succeeded.push(name.to_string());
            }
            return Ok(());
        }
        let mut message = [
            "message",
            "errorMessage",
            "statusMessage",
            "error",
            "description",
        ]
        .iter()
        .find_map(|key| attribute(start, key).ok().flatten())
        .unwrap_or_default();
        if !empty {
            let texts = self.read_subtree_texts(level, |name| {
                let name = name.to_ascii_lowercase();
                name.contains("desc") || name.contains("message") || name.contains("msg")
            })?;
            if message.is_empty() {
                message = texts.join("; ");
            }
        }
        let failure = OperationFailure {
            operation: name.to_string(),
            status,
            message: (!message.is_empty()).then(|| bounded(message)),
        };
        if name == "Session.loginRs" {
            Err(ResponseError::LoginRefused(failure))
        } else {
            Err(ResponseError::OperationFailed(failure))
        }
    }

    /// The next event, owned: for the rare paths that read ahead inside a handler.
    fn read_owned_event(&mut self) -> Result<Event<'static>, ResponseError> {
        self.buffer.clear();
        self.reader.get_mut().start_event();
        let mut buffer = std::mem::take(&mut self.buffer);
        let read = match self.reader.read_event_into(&mut buffer) {
            Ok(event) => match self.forbidden_character(&event) {
                Some(error) => Err(error),
                None => Ok(event.into_owned()),
            },
            Err(error) => Err(self.xml_error(error)),
        };
        self.buffer = buffer;
        read
    }

    /// The error for the first character XML 1.0 forbids in `event` (a control character other
    /// than TAB, LF and CR, U+FFFE or U+FFFF), written as is in a tag (its attribute values) or
    /// a text, with its byte offset in the body; `None` when there is none. References to such
    /// characters (`&#0;`, `&#1;`) are refused where they are resolved.
    fn forbidden_character(&self, event: &Event<'_>) -> Option<ResponseError> {
        // The bytes of each kind of event, and how many bytes of markup follow them.
        let (raw, after): (&str, u64) = match event {
            Event::Start(start) => (start, 1),
            Event::Empty(start) => (start, 2),
            Event::Text(text) => (text, 0),
            Event::CData(data) => (data, 3),
            Event::Comment(comment) => (comment, 3),
            Event::PI(pi) => (pi, 2),
            Event::Decl(decl) => (decl, 2),
            // A reference's name and an end tag's name were checked as names by the parser.
            Event::GeneralRef(_) | Event::End(_) | Event::DocType(_) | Event::Eof => return None,
        };
        let bytes = raw.as_bytes();
        let at = forbidden_at(bytes)?;
        if self.reader.get_ref().is_gzip() {
            return Some(gzip_error());
        }
        let start = self.reader.buffer_position() - after - bytes.len() as u64;
        let place = match event {
            Event::Start(tag) | Event::Empty(tag) => {
                format!("in the tag `<{}>`", tag_name(tag))
            }
            Event::Text(_) | Event::CData(_) => match self.open.last() {
                Some(parent) => format!("in the text of `<{parent}>`"),
                None => "in text outside the root element".to_string(),
            },
            _ => "in the markup".to_string(),
        };
        Some(ResponseError::Malformed(format!(
            "the character {} {place}, which XML 1.0 forbids (at byte {})",
            describe_forbidden(&bytes[at..]),
            start + at as u64
        )))
    }

    fn read_fault(&mut self, level: usize, empty: bool) -> Result<SoapFault, ResponseError> {
        let mut fault = FaultTexts::default();
        if empty {
            return Ok(fault.finish());
        }
        let mut child: Option<String> = None;
        let mut depth = level;
        // The text since the last tag: one piece of the current child's text.
        let mut piece = Gathered::default();
        loop {
            let event = self.read_owned_event()?;
            match event {
                Event::Start(start) => {
                    fault.add(child.as_deref(), &mut piece);
                    depth += 1;
                    if depth == level + 1 {
                        child = Some(start.local_name().as_ref().to_string());
                    }
                }
                Event::Empty(_) => fault.add(child.as_deref(), &mut piece),
                Event::End(_) => {
                    fault.add(child.as_deref(), &mut piece);
                    depth -= 1;
                    if depth < level {
                        return Ok(fault.finish());
                    }
                    if depth == level {
                        child = None;
                    }
                }
                Event::Text(text) => piece.push(&text.xml10_content()),
                Event::CData(data) => piece.push(&data.xml10_content()),
                Event::GeneralRef(reference) => {
                    let resolved = self.resolve(&reference)?;
                    piece.push(&resolved);
                }
                Event::Eof => {
                    return Err(self.malformed("the response ends inside a SOAP fault".into()));
                }
                _ => {}
            }
        }
    }

    /// Reads to the end of the element at `level`, returning the texts of descendants whose
    /// name `wanted` accepts: each the text of one element (its text, CDATA sections and
    /// references, as written) up to the next tag, trimmed and bounded.
    fn read_subtree_texts(
        &mut self,
        level: usize,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, ResponseError> {
        let mut texts = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut piece = Gathered::default();
        let keep = |piece: &mut Gathered, texts: &mut Vec<String>| {
            if let Some(text) = piece.take().map(|(text, cut)| with_ellipsis(text, cut))
                && texts.len() < 16
            {
                texts.push(text);
            }
        };
        loop {
            let event = self.read_owned_event()?;
            let collecting = names.last().is_some_and(|name| wanted(name));
            match event {
                Event::Start(start) => {
                    keep(&mut piece, &mut texts);
                    names.push(start.local_name().as_ref().to_string());
                }
                Event::Empty(_) => keep(&mut piece, &mut texts),
                Event::End(_) => {
                    keep(&mut piece, &mut texts);
                    if names.pop().is_none() {
                        return Ok(texts);
                    }
                }
                Event::Text(text) if collecting => piece.push(&text.xml10_content()),
                Event::CData(data) if collecting => piece.push(&data.xml10_content()),
                Event::GeneralRef(reference) => {
                    let resolved = self.resolve(&reference)?;
                    if collecting {
                        piece.push(&resolved);
                    }
                }
                Event::Eof => {
                    return Err(self.malformed(format!(
                        "the response ends inside a failed operation (level {level})"
                    )));
                }
                _ => {}
            }
        }
    }

    /// The text a reference stands for; an unknown entity, or a character XML 1.0 forbids, is
    /// an error at the reference.
    fn resolve(
        &self,
        reference: &quick_xml::events::BytesRef<'_>,
    ) -> Result<String, ResponseError> {
        resolve_reference(reference).map_err(|message| {
            // The reference is `&name;`: it starts its length and two bytes before here.
            let start = self.reader.buffer_position() - reference.len() as u64 - 2;
            if self.reader.get_ref().is_gzip() {
                return gzip_error();
            }
            let place = match self.open.last() {
                Some(parent) => format!(" in the text of `<{parent}>`"),
                None => String::new(),
            };
            ResponseError::Malformed(format!("{message}{place} (at byte {start})"))
        })
    }

    fn malformed(&self, message: String) -> ResponseError {
        if self.reader.get_ref().is_gzip() {
            return gzip_error();
        }
        ResponseError::Malformed(format!(
            "{message} (at byte {})",
            self.reader.buffer_position()
        ))
    }

    fn xml_error(&self, error: XmlError) -> ResponseError {
        if self.reader.get_ref().is_gzip() {
            return gzip_error();
        }
        match error {
            XmlError::Io(_) if self.reader.get_ref().exceeded() => self.malformed(format!(
                "a single tag or text of the response is longer than {} MiB, which no Duck Creek answer needs",
                MAX_EVENT_BYTES >> 20
            )),
            XmlError::Io(io) => ResponseError::Io(io.to_string()),
            XmlError::Syntax(syntax) if self.open.is_empty() && !self.root_closed => {
                ResponseError::Malformed(format!(
                    "the body is not XML ({syntax} at byte {})",
                    self.reader.error_position()
                ))
            }
            // quick-xml reports a syntax error only when the input ends inside markup.
            XmlError::Syntax(syntax) => ResponseError::Malformed(format!(
                "the response ends inside markup after {} bytes: it was cut short ({syntax})",
                self.reader.buffer_position()
            )),
            other => ResponseError::Malformed(format!(
                "{other} (at byte {})",
                self.reader.error_position()
            )),
        }
    }
}

/// Text gathered piece by piece as the server wrote it (text, CDATA sections and references
/// concatenated, nothing inserted), bounded at [`MAX_MESSAGE`] bytes.
#[derive(Default)]
struct Gathered {
    text: String,
    /// More text came than the bound keeps.
    cut: bool,
}

impl Gathered {
    fn push(&mut self, piece: &str) {
        if self.cut {
            return;
        }
        let room = MAX_MESSAGE - self.text.len();
        if piece.len() <= room {
            self.text.push_str(piece);
            return;
        }
        let mut end = room;
        while !piece.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&piece[..end]);
        self.cut = true;
    }

    /// The text gathered, whitespace around it trimmed (only at its start when it was cut),
    /// and whether it was cut; `None` when it is blank. Starts again empty.
    fn take(&mut self) -> Option<(String, bool)> {
        let cut = std::mem::take(&mut self.cut);
        let text = std::mem::take(&mut self.text);
        let kept = if cut { text.trim_start() } else { text.trim() };
        (!kept.is_empty()).then(|| (kept.to_string(), cut))
    }
}

/// `text`, with `…` when it was cut.
fn with_ellipsis(mut text: String, cut: bool) -> String {
    if cut {
        text.push('…');
    }
    text
}

/// The texts of a SOAP fault's parts, each the pieces of text of its descendants (one piece:
/// the text up to the next tag, as written) joined with spaces.
#[derive(Default)]
struct FaultTexts {
    code: Gathered,
    reason: Gathered,
    detail: Option<Gathered>,
}

impl FaultTexts {
    /// Adds the text gathered in `piece` (and empties it) to the part `child` is.
    fn add(&mut self, child: Option<&str>, piece: &mut Gathered) {
        let Some((text, cut)) = piece.take() else {
            return;
        };
        let target = match child {
            Some("faultcode" | "Code") => &mut self.code,
            Some("faultstring" | "Reason") => &mut self.reason,
            Some("detail" | "Detail") => self.detail.get_or_insert_with(Gathered::default),
            _ => return,
        };
        if !target.text.is_empty() {
            target.push(" ");
        }
        target.push(&text);
        target.cut |= cut;
    }

    fn finish(self) -> SoapFault {
        let text = |mut part: Gathered| {
            part.take()
                .map(|(text, cut)| with_ellipsis(text, cut))
                .unwrap_or_default()
        };
        SoapFault {
            code: text(self.code),
            reason: text(self.reason),
            detail: self.detail.map(text).filter(|detail| !detail.is_empty()),
        }
    }
}

fn attribute(start: &BytesStart<'_>, wanted: &str) -> Result<Option<String>, String> {
    let mut values = attributes(start, &[((), wanted)])?;
    Ok(values.pop().flatten())
}

/// The values of the attributes `wanted` names (each with a tag of the caller's), in one pass
/// over the element's attributes: `values[i]` for `wanted[i]`, the first occurrence of each
/// name.
fn attributes<T>(
    start: &BytesStart<'_>,
    wanted: &[(T, &str)],
) -> Result<Vec<Option<String>>, String> {
    let mut values = vec![None; wanted.len()];
    let mut missing = wanted.len();
    for attribute in start.attributes() {
        if missing == 0 {
            break;
        }
        let attribute = attribute
            .map_err(|error| format!("bad attribute in `<{}>`: {error}", start.name().as_ref()))?;
        let key = attribute.key.local_name();
        for (slot, (_, name)) in values.iter_mut().zip(wanted) {
            if slot.is_some() || key.as_ref() != *name {
                continue;
            }
            *slot = Some(attribute_value(start, name, &attribute)?);
            missing -= 1;
        }
    }
    Ok(values)
}

/// An attribute's value with references resolved; an error for one that stands for a character
/// XML forbids.
fn attribute_value(
    start: &BytesStart<'_>,
    wanted: &str,
    attribute: &quick_xml::events::attributes::Attribute<'_>,
) -> Result<String, String> {
    let bad_value = |problem: String| {
        format!(
            "bad value of `{wanted}` in `<{}>`: {problem}",
            start.name().as_ref()
        )
    };
    let value = attribute
        .normalized_value(XmlVersion::Implicit1_0)
        .map_err(|error| match forbidden_reference(&attribute.value) {
            Some(code) => bad_value(forbidden_reference_message(code)),
            None => bad_value(error.to_string()),
        })?;
    // A value that changed had references resolved (or line breaks normalised): one
    // may stand for a character XML forbids. (One written as is was refused with its
    // tag, before.)
    if let Cow::Owned(resolved) = &value
        && let Some(at) = forbidden_at(resolved.as_bytes())
    {
        let code = resolved[at..].chars().next().map_or(0, u32::from);
        return Err(bad_value(forbidden_reference_message(code)));
    }
    Ok(value.into_owned())
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<String, String> {
    if let Some(code) = char_reference_code(reference).filter(|&code| is_forbidden_code(code)) {
        return Err(forbidden_reference_message(code));
    }
    if let Some(c) = reference
        .resolve_char_ref()
        .map_err(|error| error.to_string())?
    {
        return Ok(c.to_string());
    }
    let name = reference.xml10_content();
    resolve_predefined_entity(&name)
        .map(str::to_string)
        .ok_or_else(|| format!("unknown entity `&{name};`"))
}

/// The code point a character reference's name (`#65`, `#x41`) stands for; `None` for an
/// entity or a number that does not parse (the parser's own error then says why).
fn char_reference_code(name: &str) -> Option<u32> {
    let number = name.strip_prefix('#')?;
    match number.strip_prefix('x') {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => number.parse().ok(),
    }
}

/// Whether a character reference to `code` is refused: a control character other than TAB,
/// LF and CR, or U+FFFE, U+FFFF (surrogates and what is beyond Unicode are refused by the
/// parser).
fn is_forbidden_code(code: u32) -> bool {
    matches!(code, 0..=0x08 | 0x0B | 0x0C | 0x0E..=0x1F | 0xFFFE | 0xFFFF)
}

fn forbidden_reference_message(code: u32) -> String {
    format!("a character reference to U+{code:04X}, a character XML 1.0 forbids")
}

/// The first character reference in an attribute's raw value to a character XML 1.0 forbids
/// (for the message when the parser refused the value: it refuses `&#0;` itself).
fn forbidden_reference(raw: &str) -> Option<u32> {
    if !raw.contains("&#") {
        return None;
    }
    raw.split('&').skip(1).find_map(|after| {
        let name = after.split_once(';')?.0;
        char_reference_code(name).filter(|&code| is_forbidden_code(code))
    })
}

/// The offset of the first character XML 1.0 forbids in `bytes` (UTF-8): a control character
/// other than TAB, LF and CR, or U+FFFE, U+FFFF (EF BF BE, EF BF BF). Every byte of every
/// response passes here, so it is read eight bytes at a time, with a test for "a byte below
/// 0x20 or equal to 0xEF" that is exact for the word as a whole: only a word that holds one (a
/// line break, rare otherwise) is looked at byte by byte.
fn forbidden_at(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let suspicious = |word: u64| {
        // Some byte is below 0x20 ...
        let below = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
        // ... or is 0xEF (a zero byte in `word ^ EF…EF`).
        let ef = word ^ (ONES * 0xEF);
        let is_ef = ef.wrapping_sub(ONES) & !ef & HIGHS;
        below | is_ef != 0
    };
    let precise = |from: usize, to: usize| {
        (from..to).find(|&at| match bytes[at] {
            b'\t' | b'\n' | b'\r' => false,
            0..=0x1F => true,
            0xEF => {
                bytes.get(at + 1) == Some(&0xBF) && matches!(bytes.get(at + 2), Some(0xBE | 0xBF))
            }
            _ => false,
        })
    };
    let mut words = bytes.chunks_exact(8);
    let mut start = 0;
    for word in words.by_ref() {
        let word = u64::from_ne_bytes(word.try_into().unwrap_or_default());
        if suspicious(word)
            && let Some(at) = precise(start, start + 8)
        {
            return Some(at);
        }
        start += 8;
    }
    precise(start, bytes.len())
}

/// `U+0000`: the forbidden character `bytes` starts with.
fn describe_forbidden(bytes: &[u8]) -> String {
    let code = match bytes {
        [0xEF, 0xBF, last, ..] => 0xFFC0 | u32::from(*last & 0x3F),
        [first, ..] => u32::from(*first),
        [] => 0,
    };
    format!("U+{code:04X}")
}

/// A tag's name for a message: bounded, control characters escaped.
fn tag_name(tag: &BytesStart<'_>) -> String {
    let name = tag.name();
    let name: &str = name.as_ref();
    let mut shown: String = name.chars().take(80).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    shown.escape_debug().to_string()
}

fn bounded(mut text: String) -> String {
    if text.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn describe_steps(steps: &[Step]) -> String {
    if steps.is_empty() {
        return "(nothing below the root)".into();
    }
    steps
        .iter()
        .map(|step| match step {
            Step::Element(name) => name.replace('.', "~dot#"),
            Step::AnyChild => "children()".into(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn gzip_error() -> ResponseError {
    ResponseError::Malformed(
        "the body is not XML but gzip-compressed (Content-Encoding: gzip), which the connector never asks for: the server must send plain XML".into(),
    )
}

/// How a gzip stream starts.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A `BufRead` that fails once more than `limit` bytes were consumed since the last
/// [`EventBound::start_event`]: quick-xml collects a whole tag or text before it hands it over,
/// so this is what bounds the memory one event of a hostile response can take.
struct EventBound<R> {
    inner: R,
    limit: u64,
    consumed: u64,
    /// The body's first bytes, to recognise what is not XML at all.
    head: Vec<u8>,
}

impl<R: BufRead> EventBound<R> {
    fn new(inner: R, limit: u64) -> Self {
        EventBound {
            inner,
            limit,
            consumed: 0,
            head: Vec::new(),
        }
    }

    /// Whether the body starts like a gzip stream (a server that compressed it unasked).
    fn is_gzip(&self) -> bool {
        self.head.starts_with(&GZIP_MAGIC)
    }

    /// A new event starts: its bytes are counted from here.
    fn start_event(&mut self) {
        self.consumed = 0;
    }

    fn exceeded(&self) -> bool {
        self.consumed > self.limit
    }
}

impl<R: BufRead> std::io::Read for EventBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let count = available.len().min(buf.len());
        buf[..count].copy_from_slice(&available[..count]);
        self.consume(count);
        Ok(count)
    }
}

impl<R: BufRead> BufRead for EventBound<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.exceeded() {
            return Err(std::io::Error::other("XML event too large"));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if self.head.len() < GZIP_MAGIC.len()
            && let Ok(available) = self.inner.fill_buf()
        {
            let wanted = (GZIP_MAGIC.len() - self.head.len()).min(amount);
            self.head
                .extend_from_slice(&available[..wanted.min(available.len())]);
        }
        self.consumed += amount as u64;
        self.inner.consume(amount);
    }
}

/// The first value `path` selects in the document (paths start below the root); `None` when
/// it selects nothing.
pub fn first_value(body: &[u8], path: &Path) -> Result<Option<String>, ResponseError> {
    let (record, value) = split_path(path);
    let mut reader = RecordReader::new(body, &record, vec![value]);
    let mut found = None;
    while let Some(record) = reader.next_record()? {
        if found.is_none() {
            found = record
                .values
                .into_iter()
                .next()
                .and_then(|values| values.into_iter().next());
        }
    }
    Ok(found)
}

/// `a.b.@c` → (`a.b`, `@c`); `a.b` (text) → (`a.b`, the element's own text).
fn split_path(path: &Path) -> (Path, Path) {
    let record = Path {
        steps: path.steps.clone(),
        target: Target::Element,
    };
    let value = Path {
        steps: Vec::new(),
        target: path.target.clone(),
    };
    (record, value)
}

#[cfg(test)]
mod tests;
