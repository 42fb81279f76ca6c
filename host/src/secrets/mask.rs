//! The mask: every secret this process knows, hidden in any text before it is printed, logged
//! or stored, however a remote side echoed it.
//!
//! A server can echo a secret in many shapes: as written, XML-, HTML-, JSON- or URL-escaped,
//! with its line breaks normalised or spaces inserted, and cut short by a length limit. So the
//! mask does not look for a few spellings in the text as it stands; it looks at the text through
//! [views](View): the text decoded one way (none, XML/HTML references, JSON escapes, percent
//! encoding) with every whitespace character left out, each byte of a view remembering the span
//! of the text it came from. Each secret is known in the forms the host writes it in (as is,
//! XML-escaped, JSON-escaped, form-encoded), also without whitespace; wherever a form appears
//! in a view, the span of the text it came from is masked. Where the text was cut short (`…`, the
//! mark every cut in this project leaves), a beginning of a secret just before the cut is masked
//! too.

use std::ops::Range;
use std::sync::{Mutex, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};

use crate::connection::MASK;

/// Secrets shorter than this (whitespace left out) are not masked in free text: masking every
/// `ab` would garble messages while protecting nothing.
const MIN_MASKED_LEN: usize = 3;

/// A line of a secret of several lines is masked on its own from this length on.
const MIN_LINE_LEN: usize = 6;

/// The mark a cut leaves at the end of a shortened text.
const CUT_MARK: &str = "…";

/// How many bytes of an escape sequence a cut can leave unfinished just before its mark
/// (`&#x1F60`, `\uD83`, `%C`).
const MAX_UNFINISHED_ESCAPE: usize = 10;

/// Every secret known to this process, in every form the host writes it in.
#[derive(Default)]
struct Known {
    /// As written (whitespace kept, case kept): what [`StoredValues`] scans for.
    written: Vec<String>,
    /// Whitespace left out and ASCII lower case: what [`mask`] looks for in its views.
    compact: Vec<Vec<u8>>,
}

fn known() -> std::sync::MutexGuard<'static, Known> {
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    KNOWN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes `secret` known to [`mask`], in every form the host writes it in and in base64 (as a
/// Basic credential or a log echoes it); each line of a secret of several lines is a secret of
/// its own (servers echo line by line).
pub fn remember(secret: &str) {
    let lines: Vec<&str> = secret
        .lines()
        .map(str::trim)
        .filter(|line| line.len() >= MIN_LINE_LEN && line.len() < secret.trim().len())
        .collect();
    for line in lines {
        remember(line);
    }
    let forms = [
        secret.to_string(),
        super::xml_escaped(secret),
        form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        super::json_escaped(secret),
        STANDARD.encode(secret),
        STANDARD_NO_PAD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
    ];
    let mut known = known();
    for form in forms {
        let compact = without_whitespace(&form).to_ascii_lowercase();
        if compact.chars().count() >= MIN_MASKED_LEN
            && !known
                .compact
                .iter()
                .any(|known| known == compact.as_bytes())
        {
            known.compact.push(compact.into_bytes());
        }
        if form.chars().count() >= MIN_MASKED_LEN && !known.written.contains(&form) {
            known.written.push(form);
        }
    }
}

/// `text` with every secret known to this process replaced by `********`.
pub fn mask(text: &str) -> String {
    let known = known();
    if known.compact.is_empty() || text.is_empty() {
        return text.to_string();
    }
    let mut spans = Vec::new();
    for decoding in Decoding::ALL {
        if !decoding.applies_to(text) {
            continue;
        }
        let view = View::of(text, decoding);
        view.find_forms(&known.compact, &mut spans);
        view.find_cut_beginnings(&known.compact, &mut spans);
    }
    drop(known);
    replace_spans(text, spans)
}

/// The mask for values a server sent as data (the names, links and columns of imported
/// records): a value that holds a known secret as written or escaped is masked like free text;
/// the quick scan keeps the cost of the common case (no secret) to a few substring searches per
/// value.
pub struct StoredValues {
    finders: Vec<memchr::memmem::Finder<'static>>,
}

impl StoredValues {
    /// The secrets known now.
    pub fn now() -> StoredValues {
        StoredValues {
            finders: known()
                .written
                .iter()
                .map(|form| memchr::memmem::Finder::new(form.as_bytes()).into_owned())
                .collect(),
        }
    }

    /// `value`, masked when it holds a secret.
    pub fn mask(&self, value: String) -> String {
        if self
            .finders
            .iter()
            .any(|finder| finder.find(value.as_bytes()).is_some())
        {
            mask(&value)
        } else {
            value
        }
    }
}

/// `text` with the given byte spans (overlapping or not, in any order) replaced by the mask.
fn replace_spans(text: &str, mut spans: Vec<Range<usize>>) -> String {
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_by_key(|span| (span.start, span.end));
    let mut out = String::with_capacity(text.len());
    let mut written = 0;
    let mut current: Option<Range<usize>> = None;
    for span in spans {
        match &mut current {
            Some(open) if span.start <= open.end => open.end = open.end.max(span.end),
            _ => {
                if let Some(done) = current.take() {
                    out.push_str(&text[written..done.start]);
                    out.push_str(MASK);
                    written = done.end;
                }
                current = Some(span);
            }
        }
    }
    if let Some(done) = current {
        out.push_str(&text[written..done.start]);
        out.push_str(MASK);
        written = done.end;
    }
    out.push_str(&text[written..]);
    out
}

fn without_whitespace(text: &str) -> String {
    text.chars().filter(|c| !is_blank(*c)).collect()
}

/// Whitespace, and the characters that show as nothing (soft hyphen, zero-width spaces and
/// joiners, the byte-order mark): an echo with them between a secret's characters shows the
/// secret.
fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{ad}' | '\u{180e}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}'
        )
}

/// One way a remote side may have encoded what it echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoding {
    /// The text as it stands.
    None,
    /// XML and HTML character references (`&#39;`, `&#x27;`) and the predefined entities.
    References,
    /// JSON string escapes (`\"`, `\/`, `\u00e4`, surrogate pairs).
    JsonEscapes,
    /// Percent encoding (`%C3%A4`) and `+` for a space.
    Percent,
}

impl Decoding {
    const ALL: [Decoding; 4] = [
        Decoding::None,
        Decoding::References,
        Decoding::JsonEscapes,
        Decoding::Percent,
    ];

    /// Whether decoding could change `text` (otherwise its view is the plain one).
    fn applies_to(self, text: &str) -> bool {
        match self {
            Decoding::None => true,
            Decoding::References => text.contains('&'),
            Decoding::JsonEscapes => text.contains('\\'),
            Decoding::Percent => text.contains(['%', '+']),
        }
    }

    /// The character that `text` starts with once decoded, and how many bytes it takes; `None`
    /// when `text` does not start with an escape of this decoding.
    fn decode_at(self, text: &str) -> Option<(Decoded, usize)> {
        match self {
            Decoding::None => None,
            Decoding::References => reference(text).map(|(c, len)| (Decoded::Char(c), len)),
            Decoding::JsonEscapes => json_escape(text).map(|(c, len)| (Decoded::Char(c), len)),
            Decoding::Percent => percent(text),
        }
    }
}

/// What one escape decodes to: a character, or one byte of a percent-encoded UTF-8 sequence.
enum Decoded {
    Char(char),
    Byte(u8),
}

/// A text decoded one way, whitespace left out; each byte knows the span of the text it came
/// from.
struct View {
    bytes: Vec<u8>,
    origin: Vec<Range<usize>>,
}

impl View {
    fn of(text: &str, decoding: Decoding) -> View {
        let mut view = View {
            bytes: Vec::with_capacity(text.len()),
            origin: Vec::with_capacity(text.len()),
        };
        let mut at = 0;
        while at < text.len() {
            let rest = &text[at..];
            match decoding.decode_at(rest) {
                Some((Decoded::Char(c), len)) => {
                    view.push_char(c, at..at + len);
                    at += len;
                }
                Some((Decoded::Byte(byte), len)) => {
                    // A percent-encoded space (`%20`, `+`) is whitespace too.
                    if !byte.is_ascii_whitespace() {
                        view.bytes.push(byte.to_ascii_lowercase());
                        view.origin.push(at..at + len);
                    }
                    at += len;
                }
                None => {
                    let c = rest.chars().next().unwrap_or_default();
                    view.push_char(c, at..at + c.len_utf8());
                    at += c.len_utf8().max(1);
                }
            }
        }
        view
    }

    fn push_char(&mut self, c: char, from: Range<usize>) {
        if is_blank(c) {
            return;
        }
        let mut buffer = [0; 4];
        for byte in c.to_ascii_lowercase().encode_utf8(&mut buffer).bytes() {
            self.bytes.push(byte);
            self.origin.push(from.clone());
        }
    }

    /// The span of the text that the view's bytes `range` came from.
    fn span(&self, range: Range<usize>) -> Range<usize> {
        self.origin[range.start].start..self.origin[range.end - 1].end
    }

    /// Adds the span of every occurrence of every form.
    fn find_forms(&self, forms: &[Vec<u8>], spans: &mut Vec<Range<usize>>) {
        for form in forms {
            for start in memchr::memmem::find_iter(&self.bytes, form) {
                spans.push(self.span(start..start + form.len()));
            }
        }
    }

    /// Adds, before each cut mark, the span of the longest beginning of a form that ends
    /// there (an unfinished escape sequence between them included).
    fn find_cut_beginnings(&self, forms: &[Vec<u8>], spans: &mut Vec<Range<usize>>) {
        for cut in memchr::memmem::find_iter(&self.bytes, CUT_MARK.as_bytes()) {
            let unfinished = unfinished_len(&self.bytes[..cut]);
            let found = (0..=unfinished).find_map(|skipped| {
                longest_beginning_before(&self.bytes[..cut - skipped], forms)
                    .map(|len| cut - skipped - len)
            });
            if let Some(start) = found {
                spans.push(self.span(start..cut));
            }
        }
    }
}

/// The length of the longest beginning (at least [`MIN_MASKED_LEN`] bytes) of any form that
/// `bytes` ends with.
fn longest_beginning_before(bytes: &[u8], forms: &[Vec<u8>]) -> Option<usize> {
    forms
        .iter()
        .filter_map(|form| {
            (MIN_MASKED_LEN..form.len().min(bytes.len() + 1))
                .rev()
                .find(|len| bytes.ends_with(&form[..*len]))
        })
        .max()
}

/// How many bytes at the end of `bytes` a cut may have left unfinished: the start of an escape
/// sequence, or a character cut in the middle (read as U+FFFD).
fn unfinished_len(bytes: &[u8]) -> usize {
    const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();
    let mut len = 0;
    while len < MAX_UNFINISHED_ESCAPE {
        let rest = &bytes[..bytes.len() - len];
        if rest.ends_with(REPLACEMENT) {
            len += REPLACEMENT.len();
        } else if rest.last().is_some_and(|byte| is_escape_byte(*byte)) {
            len += 1;
        } else {
            break;
        }
    }
    len.min(bytes.len())
}

/// A byte that may belong to an escape sequence a cut left unfinished.
fn is_escape_byte(byte: u8) -> bool {
    byte.is_ascii_hexdigit() || matches!(byte, b'&' | b'#' | b'x' | b'X' | b'\\' | b'u' | b'%')
}

/// A character reference or predefined entity at the start of `text`, and its length.
fn reference(text: &str) -> Option<(char, usize)> {
    let body = text.strip_prefix('&')?;
    let end = body.find(';').filter(|end| *end <= 10)?;
    let name = &body[..end];
    let c = if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        char::from_u32(code)?
    } else {
        named_entity(name)?
    };
    Some((c, end + 2))
}

/// The character of an entity name: XML's five (any case, as HTML reads them) and HTML's
/// names of ASCII punctuation and of the spaces.
fn named_entity(name: &str) -> Option<char> {
    const NAMES: [(&str, char); 33] = [
        ("amp", '&'),
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("nbsp", '\u{a0}'),
        ("excl", '!'),
        ("num", '#'),
        ("dollar", '$'),
        ("percnt", '%'),
        ("lpar", '('),
        ("rpar", ')'),
        ("ast", '*'),
        ("plus", '+'),
        ("comma", ','),
        ("period", '.'),
        ("sol", '/'),
        ("colon", ':'),
        ("semi", ';'),
        ("equals", '='),
        ("quest", '?'),
        ("commat", '@'),
        ("lsqb", '['),
        ("bsol", '\\'),
        ("rsqb", ']'),
        ("hat", '^'),
        ("lowbar", '_'),
        ("grave", '`'),
        ("lcub", '{'),
        ("verbar", '|'),
        ("rcub", '}'),
        ("tilde", '~'),
        ("shy", '\u{ad}'),
    ];
    NAMES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, c)| *c)
}

/// A JSON string escape at the start of `text`, and its length (a surrogate pair is one).
fn json_escape(text: &str) -> Option<(char, usize)> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'\\') {
        return None;
    }
    let simple = match bytes.get(1)? {
        b'"' => Some('"'),
        b'\\' => Some('\\'),
        b'/' => Some('/'),
        b'b' => Some('\u{8}'),
        b'f' => Some('\u{c}'),
        b'n' => Some('\n'),
        b'r' => Some('\r'),
        b't' => Some('\t'),
        b'u' => None,
        _ => return None,
    };
    if let Some(c) = simple {
        return Some((c, 2));
    }
    let unit = |at: usize| {
        text.get(at..at + 4)
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
    };
    let first = unit(2)?;
    if let Some(c) = char::from_u32(u32::from(first)) {
        return Some((c, 6));
    }
    let second = text.get(6..8).filter(|s| *s == "\\u").and(unit(8))?;
    let c = char::decode_utf16([first, second]).next()?.ok()?;
    Some((c, 12))
}

/// A percent-encoded byte or a `+` at the start of `text`, and its length.
fn percent(text: &str) -> Option<(Decoded, usize)> {
    if text.starts_with('+') {
        return Some((Decoded::Byte(b' '), 1));
    }
    let hex = text.strip_prefix('%')?.get(..2)?;
    let byte = u8::from_str_radix(hex, 16).ok()?;
    Some((Decoded::Byte(byte), 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each test remembers secrets of its own: the set is process-wide.
    const PASSWORD: &str = "Pw\"<&>'-SÉCRET\r\n-1234";

    fn masked(text: &str) -> String {
        remember(PASSWORD);
        mask(text)
    }

    #[test]
    fn every_echoed_shape_of_a_secret_is_masked() {
        let shapes = [
            "Pw\"<&>'-SÉCRET\r\n-1234",
            "Pw&quot;&lt;&amp;&gt;&apos;-SÉCRET&#13;&#10;-1234",
            "Pw&#34;&#x3c;&amp;&gt;&#39;-S&#201;CRET\n-1234",
            "Pw \" < & > ' -SÉCRET\n-1234",
            "Pw\\\"<&>'-S\\u00c9CRET\\r\\n-1234",
            "Pw%22%3C%26%3E%27-S%C3%89CRET%0D%0A-1234",
            "Pw\"<&>'-SÉCRET  -1234",
        ];
        for shape in shapes {
            assert_eq!(
                masked(&format!("Invalid password {shape}.")),
                "Invalid password ********.",
                "{shape}"
            );
        }
    }

    #[test]
    fn a_beginning_cut_short_is_masked_with_an_unfinished_escape() {
        for cut in [
            "EEEEPw\"<&…",
            "EEEEPw&quot;&l…",
            "EEEEPw&#34;&#3…",
            "EEEEPw\\\"<&>'-S\\u00…",
            "EEEEPw\"<&>'-S\u{fffd}…",
        ] {
            assert_eq!(masked(cut), format!("EEEE{MASK}…"), "{cut}");
        }
        assert_eq!(masked("EEEEPw…"), "EEEEPw…", "two bytes are not a secret");
    }

    #[test]
    fn text_around_secrets_is_kept_as_written() {
        assert_eq!(
            masked("a  &amp; b\r\n Pw\"<&>'-SÉCRET\n-1234 c"),
            "a  &amp; b\r\n ******** c"
        );
        assert_eq!(
            masked("no secret here: &#x; \\u12 %zz +"),
            "no secret here: &#x; \\u12 %zz +"
        );
    }

    #[test]
    fn astral_characters_in_json_are_one_character() {
        remember("clé𝄞secret");
        assert_eq!(mask("x cl\\u00e9\\ud834\\udd1esecret y"), "x ******** y");
        assert_eq!(mask("x cl&#233;&#x1D11E;secret y"), "x ******** y");
    }

    #[test]
    fn stored_values_are_masked_only_when_they_hold_a_secret() {
        remember("stored value secret");
        let values = StoredValues::now();
        assert_eq!(values.mask("a stored value secret!".into()), "a ********!");
        assert_eq!(values.mask("stored value".into()), "stored value");
    }

    #[test]
    fn case_base64_invisible_characters_named_entities_and_lines_are_masked() {
        remember("Hunter-Two\r\n-XYZ-123");
        assert_eq!(mask("x HUNTER-TWO-xyz-123 y"), "x ******** y");
        assert_eq!(
            mask("x SHVudGVyLVR3bw0KLVhZWi0xMjM= y"),
            "x ******** y",
            "base64"
        );
        assert_eq!(
            mask("x H\u{200b}u\u{ad}n\u{feff}ter-Two-XYZ-123 y"),
            "x ******** y"
        );
        assert_eq!(
            mask("x Hunter-Two rejected"),
            "x ******** rejected",
            "a line"
        );
        assert_eq!(mask("x -XYZ-123 rejected"), "x ******** rejected", "a line");
        assert_eq!(mask("x Hunter&lowbar;Two y"), "x Hunter&lowbar;Two y");
        remember("at@sign_pw");
        assert_eq!(mask("x at&commat;sign&LOWBAR;pw y"), "x ******** y");
    }

    #[test]
    fn overlapping_forms_become_one_mask() {
        remember("abcdef-overlap");
        remember("def-overlap-xyz");
        assert_eq!(mask("abcdef-overlap-xyz!"), "********!");
    }
}
