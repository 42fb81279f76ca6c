//! The mask: every secret this process knows, hidden in any text before it is printed, logged
//! or stored, however a remote side echoed it.
//!
//! A server can echo a secret in many shapes: as written, XML-, HTML-, JSON- or URL-escaped
//! (escaped again, or in HTML's forms without `;`), with its line breaks normalised or spaces
//! and invisible characters inserted, upper-cased or in another Unicode normal form, in base64,
//! and cut short by a length limit. So the mask does not look for a few spellings in the text
//! as it stands; it looks at the text through [views](View): the text decoded one way (none,
//! XML/HTML references, JSON escapes, percent encoding), every character [folded](fold::fold)
//! (whitespace and invisible characters left out, the rest case-folded and decomposed), each
//! byte of a view remembering the span of the text it came from. Each secret is known in the
//! forms the host writes it in (as is, XML-escaped, JSON-escaped, form-encoded), folded the same
//! way, and in base64 (the [inner parts](base64_forms) of each form's encoding at each
//! alignment); wherever one appears in a view, the span of the text it came from is masked.
//! Where the text was cut short (`…`, the mark every cut in this project leaves), a beginning
//! of a secret just before the cut is masked too.

mod base64_forms;
mod decode;
mod fold;

use std::collections::HashSet;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use aho_corasick::AhoCorasick;

use self::base64_forms::{inner_parts, is_base64_byte};
use self::decode::Decoding;
use self::fold::{fold, folded, without_left_out};
use crate::connection::MASK;

/// Secrets shorter than this many characters (whitespace and invisible characters not
/// counted) are never masked: masking every `ab` would garble every message while protecting
/// nothing, since a secret that short is guessed in a few thousand tries.
pub const MIN_MASKED_LEN: usize = 3;

/// A line of a secret of several lines is masked on its own from this length on.
const MIN_LINE_LEN: usize = 6;

/// The mark a cut leaves at the end of a shortened text.
const CUT_MARK: char = '…';

/// How many bytes of an escape sequence a cut can leave unfinished just before its mark
/// (`&#x1F60`, `\uD83`, `%C`).
const MAX_UNFINISHED_ESCAPE: usize = 10;

/// One form of a secret as the mask looks for it in a view.
#[derive(Clone)]
struct Pattern {
    bytes: Vec<u8>,
    /// An inner part of a base64 encoding: the characters on either side of it hold bits of
    /// the secret too.
    base64: bool,
}

/// Every form of every secret known at one time, and the automaton that finds them all in one
/// pass (ASCII case ignored, so that it also reads plain text as it stands).
#[derive(Default)]
struct Patterns {
    patterns: Vec<Pattern>,
    matcher: Option<AhoCorasick>,
}

/// The secrets known to this process, and their patterns.
#[derive(Default)]
struct Known {
    secrets: HashSet<String>,
    current: Arc<Patterns>,
}

fn known() -> std::sync::MutexGuard<'static, Known> {
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    KNOWN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The patterns of the secrets known now.
fn current() -> Arc<Patterns> {
    Arc::clone(&known().current)
}

/// Whether `secret` is too short to be masked (see [`MIN_MASKED_LEN`]).
pub fn too_short_to_mask(secret: &str) -> bool {
    without_left_out(secret).chars().count() < MIN_MASKED_LEN
}

/// Makes `secret` known to [`mask`], in every form the host writes it in and in base64 (as a
/// Basic credential or an encoded log echoes it); each line of a secret of several lines is a
/// secret of its own (servers echo line by line). A secret [too short](too_short_to_mask) is
/// not remembered.
pub fn remember(secret: &str) {
    let mut known = known();
    if known.secrets.contains(secret) {
        return;
    }
    known.secrets.insert(secret.to_string());
    let mut patterns = known.current.patterns.clone();
    let before = patterns.len();
    for pattern in patterns_of(secret) {
        if !patterns.iter().any(|known| known.bytes == pattern.bytes) {
            patterns.push(pattern);
        }
    }
    if patterns.len() != before {
        known.current = Arc::new(Patterns::new(patterns));
    }
}

/// The patterns of `secret` and of its lines.
fn patterns_of(secret: &str) -> Vec<Pattern> {
    if too_short_to_mask(secret) {
        return Vec::new();
    }
    let mut patterns: Vec<Pattern> = secret
        .lines()
        .map(str::trim)
        .filter(|line| line.len() >= MIN_LINE_LEN && line.len() < secret.trim().len())
        .flat_map(patterns_of)
        .collect();
    let forms = [
        secret.to_string(),
        super::xml_escaped(secret),
        form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        super::json_escaped(secret),
    ];
    for form in &forms {
        patterns.push(Pattern {
            bytes: folded(form).into_bytes(),
            base64: false,
        });
        patterns.extend(
            inner_parts(form.as_bytes())
                .into_iter()
                .map(|part| Pattern {
                    bytes: part.to_ascii_lowercase().into_bytes(),
                    base64: true,
                }),
        );
    }
    // A secret that looks escaped (`a&amp;b`) reads decoded in a view; echoed as written, it
    // must be found there too.
    for decoding in Decoding::ALL {
        if decoding != Decoding::None && decoding.applies_to(secret) {
            patterns.push(Pattern {
                bytes: View::of(secret, decoding).bytes,
                base64: false,
            });
        }
    }
    patterns.retain(|pattern| {
        String::from_utf8_lossy(&pattern.bytes).chars().count() >= MIN_MASKED_LEN
    });
    patterns
}

impl Patterns {
    fn new(patterns: Vec<Pattern>) -> Patterns {
        // A contiguous NFA: a DFA of a long secret's forms (a 64 KiB password) takes minutes
        // to build, and the masked texts are short.
        let matcher = AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
            .ascii_case_insensitive(true)
            .build(patterns.iter().map(|pattern| &pattern.bytes))
            .ok();
        Patterns { patterns, matcher }
    }

    /// `text` masked; `None` when it holds no secret.
    fn masked(&self, text: &str) -> Option<String> {
        let matcher = self.matcher.as_ref()?;
        if text.is_empty() || (is_plain(text) && !found_in_plain(matcher, text)) {
            return None;
        }
        let mut spans = Vec::new();
        for decoding in Decoding::ALL {
            if decoding.applies_to(text) {
                let view = View::of(text, decoding);
                view.find_patterns(matcher, &self.patterns, &mut spans);
                view.find_cut_beginnings(&self.patterns, &mut spans);
            }
        }
        (!spans.is_empty()).then(|| replace_spans(text, spans))
    }
}

/// Whether `text` is ASCII with nothing any decoding reads: then its one view is the text
/// itself, lower-cased, whitespace left out.
fn is_plain(text: &str) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii() && !matches!(byte, b'&' | b'\\' | b'%' | b'+'))
}

/// Whether a plain text holds a pattern: the matcher ignores ASCII case, so only whitespace
/// needs leaving out.
fn found_in_plain(matcher: &AhoCorasick, text: &str) -> bool {
    let is_blank = |byte: &u8| char::from(*byte).is_whitespace();
    if !text.bytes().any(|byte| is_blank(&byte)) {
        return matcher.is_match(text);
    }
    let compact: Vec<u8> = text.bytes().filter(|byte| !is_blank(byte)).collect();
    matcher.is_match(&compact)
}

/// `text` with every secret known to this process replaced by `********`.
pub fn mask(text: &str) -> String {
    current().masked(text).unwrap_or_else(|| text.to_string())
}

/// The mask for values a server sent as data (the names, links and columns of imported
/// records), taken once for a whole import: a plain value (ASCII, no escape) is checked in one
/// pass of the automaton, any other value is masked like free text.
pub struct StoredValues {
    patterns: Arc<Patterns>,
}

impl StoredValues {
    /// The secrets known now.
    pub fn now() -> StoredValues {
        StoredValues {
            patterns: current(),
        }
    }

    /// `value`, masked when it holds a secret.
    pub fn mask(&self, value: String) -> String {
        self.patterns.masked(&value).unwrap_or(value)
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

/// A text decoded one way, each character [folded](fold); each byte knows the span of the text
/// it came from.
struct View {
    bytes: Vec<u8>,
    origin: Vec<Range<usize>>,
    /// Where each cut mark starts in `bytes`.
    cuts: Vec<usize>,
}

impl View {
    fn of(text: &str, decoding: Decoding) -> View {
        let mut view = View {
            bytes: Vec::with_capacity(text.len()),
            origin: Vec::with_capacity(text.len()),
            cuts: Vec::new(),
        };
        let mut at = 0;
        while at < text.len() {
            let rest = &text[at..];
            let (c, len) = decoding.decode_at(rest).unwrap_or_else(|| {
                let c = rest.chars().next().unwrap_or_default();
                (c, c.len_utf8())
            });
            view.push_char(c, at..at + len);
            at += len.max(1);
        }
        view
    }

    fn push_char(&mut self, c: char, from: Range<usize>) {
        if c == CUT_MARK {
            self.cuts.push(self.bytes.len());
        }
        let mut buffer = [0; 4];
        fold(c, |folded| {
            for byte in folded.encode_utf8(&mut buffer).bytes() {
                self.bytes.push(byte);
                self.origin.push(from.clone());
            }
        });
    }

    /// The span of the text that the view's bytes `range` came from.
    fn span(&self, range: Range<usize>) -> Range<usize> {
        self.origin[range.start].start..self.origin[range.end - 1].end
    }

    /// Adds the span of every occurrence of every pattern; for an inner part of base64, with
    /// the characters on either side that hold bits of the secret too, and the padding.
    fn find_patterns(
        &self,
        matcher: &AhoCorasick,
        patterns: &[Pattern],
        spans: &mut Vec<Range<usize>>,
    ) {
        for found in matcher.find_overlapping_iter(&self.bytes) {
            let range = found.range();
            let range = if patterns[found.pattern().as_usize()].base64 {
                self.with_base64_neighbours(range)
            } else {
                range
            };
            spans.push(self.span(range));
        }
    }

    /// `range` with the base64 character written right before it and right after it in the
    /// text (nothing left out between), and the `=` padding after that.
    fn with_base64_neighbours(&self, range: Range<usize>) -> Range<usize> {
        let touches = |left: usize, right: usize| self.origin[left].end == self.origin[right].start;
        let mut start = range.start;
        if start > 0 && is_base64_byte(self.bytes[start - 1]) && touches(start - 1, start) {
            start -= 1;
        }
        let mut end = range.end;
        while end < range.end + 3
            && end < self.bytes.len()
            && touches(end - 1, end)
            && (self.bytes[end] == b'=' || (end == range.end && is_base64_byte(self.bytes[end])))
        {
            end += 1;
        }
        start..end
    }

    /// Adds, before each cut mark, the span of the longest beginning of a pattern that ends
    /// there (an unfinished escape sequence between them included).
    fn find_cut_beginnings(&self, patterns: &[Pattern], spans: &mut Vec<Range<usize>>) {
        for &cut in &self.cuts {
            let unfinished = unfinished_len(&self.bytes[..cut]);
            let found = (0..=unfinished).find_map(|skipped| {
                longest_beginning_before(&self.bytes[..cut - skipped], patterns)
                    .map(|len| cut - skipped - len)
            });
            if let Some(start) = found {
                spans.push(self.span(start..cut));
            }
        }
    }
}

/// The length of the longest beginning (at least [`MIN_MASKED_LEN`] bytes) of any pattern that
/// `bytes` ends with.
fn longest_beginning_before(bytes: &[u8], patterns: &[Pattern]) -> Option<usize> {
    patterns
        .iter()
        .filter_map(|pattern| {
            let form = &pattern.bytes;
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

    /// An XML-escaped secret in a request body that a server echoes HTML-escaped, every
    /// character but letters and digits as a reference (the `&` of `&amp;` too).
    #[test]
    fn an_xml_escaped_secret_echoed_html_escaped_is_masked() {
        remember("pw-Ech0&<\"json\">\\x");
        let echoed = "password&#61;&#x22;pw&#45;Ech0&#x26;amp&#59;&#x26;lt&#59;&#x26;quot&#59;json&#x26;quot&#59;&#x26;gt&#59;&#x5c;x&#x22;&#x3e;";
        assert_eq!(mask(echoed), "password&#61;&#x22;********&#x22;&#x3e;");
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

    /// The attacker's password: its XML-escaped form is what the host writes into a SOAP body.
    const ATTACKED: &str = "Zq9\"S3cr&t<pw>";
    const ATTACKED_XML: &str = "Zq9&quot;S3cr&amp;t&lt;pw&gt;";

    /// Asserts that `masked` is `encoded` with one span masked that holds every character of
    /// `encoded` carrying a bit of the bytes `secret` of the text it encodes.
    fn assert_base64_hidden(encoded: &str, masked: &str, secret: Range<usize>) {
        let (before, after) = masked
            .split_once(MASK)
            .unwrap_or_else(|| panic!("nothing masked in {masked} ({encoded})"));
        assert!(
            encoded.starts_with(before) && encoded.ends_with(after),
            "{masked} is not {encoded} masked"
        );
        assert!(
            before.len() * 6 <= secret.start * 8,
            "{masked}: its start shows"
        );
        let hidden_up_to = encoded.len() - after.len();
        assert!(
            hidden_up_to * 6 >= secret.end * 8,
            "{masked}: its end shows"
        );
    }

    #[test]
    fn base64_of_every_form_is_masked_at_every_alignment_inside_a_longer_text() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};

        remember(ATTACKED);
        assert_eq!(
            mask("x WnE5JnF1b3Q7UzNjciZhbXA7dCZsdDtwdyZndDs= y"),
            "x ******** y",
            "base64 of exactly the XML-escaped form"
        );
        let forms = [
            ATTACKED.to_string(),
            ATTACKED_XML.to_string(),
            "Zq9\\\"S3cr&t<pw>".to_string(),
            "Zq9%22S3cr%26t%3Cpw%3E".to_string(),
        ];
        for form in &forms {
            for before in ["", "p", "pw", "<Session.loginRq password=\""] {
                for after in ["", "\"", "\"/></Session>"] {
                    let sent = format!("{before}{form}{after}");
                    let secret = before.len()..before.len() + form.len();
                    for encoded in [STANDARD.encode(&sent), URL_SAFE.encode(&sent)] {
                        let masked = mask(&encoded);
                        assert_base64_hidden(&encoded, &masked, secret.clone());
                    }
                }
            }
        }
        // Wrapped at 76 characters, as MIME writes base64.
        let sent = format!("<Envelope><Body>password=\"{ATTACKED_XML}\"</Body></Envelope>");
        let encoded = STANDARD.encode(&sent);
        let wrapped = format!("{}\r\n{}", &encoded[..30], &encoded[30..]);
        assert!(mask(&wrapped).contains(MASK), "{wrapped}");
        assert!(!mask(&wrapped).contains("UzNjciZhbXA7"), "{wrapped}");
    }

    #[test]
    fn unicode_case_and_normal_forms_of_a_secret_are_masked() {
        remember("Grüße-Straße-9é");
        for echo in [
            "Grüße-Straße-9é",
            "Gru\u{308}ße-Straße-9e\u{301}",
            "GRÜSSE-STRASSE-9É",
            "grüsse-strasse-9é",
            "GRÜẞE-STRAẞE-9É",
            "Ｇｒüße-Ｓｔｒａße-９é",
            "GRU\u{308}SSE-STRASSE-9E\u{301}",
            "GR&#xDC;SSE-STRASSE-9&#xC9;",
            "GRU%CC%88SSE-STRASSE-9%C3%89",
        ] {
            assert_eq!(mask(&format!("x {echo} y")), "x ******** y", "{echo}");
        }
        // The span of a character that folds to several is masked whole.
        assert_eq!(mask("a Straße-9é!"), "a Straße-9é!", "not the secret");
        remember("9é-Straße");
        assert_eq!(mask("a 9É-STRASSE!"), "a ********!");
        assert_eq!(mask("a 9é-Straße!"), "a ********!");
    }

    #[test]
    fn invisible_characters_between_the_characters_are_left_out() {
        remember("Inv1sible-Pw");
        for invisible in [
            '\u{34f}',
            '\u{fe0f}',
            '\u{fe00}',
            '\u{e0100}',
            '\u{e0020}',
            '\u{e0001}',
            '\u{2062}',
            '\u{2064}',
            '\u{3164}',
            '\u{115f}',
            '\u{ffa0}',
            '\u{61c}',
            '\u{202e}',
            '\u{2066}',
            '\u{ad}',
            '\u{200b}',
            '\u{200d}',
            '\u{180e}',
            '\u{feff}',
        ] {
            let echo = "Inv1sible-Pw"
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(&invisible.to_string());
            assert_eq!(
                mask(&format!("x {echo} y")),
                "x ******** y",
                "U+{:04X}",
                u32::from(invisible)
            );
        }
    }

    #[test]
    fn references_without_semicolons_and_escaped_again_are_decoded() {
        remember(ATTACKED);
        for echo in [
            "&#90&#113&#57&#34&#83&#51&#99&#114&#38&#116&#60&#112&#119&#62",
            "&#x5a&#x71&#x39&#x22S3cr&#x26t&#x3cpw&#x3e",
            "Zq9&quotS3cr&ampt&ltpw&gt",
            "Zq9&amp;amp;quot;S3cr&amp;amp;amp;t&amp;amp;lt;pw&amp;amp;gt;",
            "Zq9&amp;amp;amp;quot;S3cr&amp;amp;amp;amp;t&amp;amp;amp;lt;pw&amp;amp;amp;gt;",
            "Zq9&amp;quotS3cr&amp;#38;t&amp;amp;#x3c;pw&gt;",
        ] {
            assert_eq!(mask(&format!("x {echo} y")), "x ******** y", "{echo}");
        }
    }

    #[test]
    fn a_secret_that_reads_as_escaped_is_masked_decoded_too() {
        remember("a&amp;b-&lt;literal");
        assert_eq!(mask("x a&amp;b-&lt;literal y"), "x ******** y");
        assert_eq!(mask("x a&b-<LITERAL y"), "x ******** y");
        assert_eq!(mask("x a&amp;amp;b-&amp;lt;literal y"), "x ******** y");
    }

    #[test]
    fn secrets_under_three_characters_are_never_masked() {
        assert!(too_short_to_mask("ab"));
        assert!(too_short_to_mask(" a\u{200b}b\n"));
        assert!(!too_short_to_mask("abc"));
        remember("q7");
        assert_eq!(mask("q7 and Q7 and cT c3E3"), "q7 and Q7 and cT c3E3");
        remember("q7z");
        assert_eq!(mask("a q7z b Q\u{200b}7Z"), "a ******** b ********");
    }

    #[test]
    fn stored_values_are_masked_in_every_shape() {
        remember("Stored-Plain-Secret");
        let values = StoredValues::now();
        for (value, expected) in [
            ("stored-plain-secret", "********"),
            ("x STORED-PLAIN-SECRET y", "x ******** y"),
            ("x Stored-Plain-\tSecret y", "x ******** y"),
            ("x St\u{200b}ored-Plain-Secret y", "x ******** y"),
            ("x U3RvcmVkLVBsYWluLVNlY3JldA== y", "x ******** y"),
            ("x Stored&#45Plain-Secret y", "x ******** y"),
            ("stored plain secret", "stored plain secret"),
        ] {
            assert_eq!(values.mask(value.to_string()), expected, "{value}");
        }
    }
}
