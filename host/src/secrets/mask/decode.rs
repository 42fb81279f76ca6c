//! The encodings a remote side may have echoed a secret in, and how the mask decodes each one
//! character at a time, so that every decoded character keeps the span of the text it came
//! from.

/// How many times a character reference may have been escaped again (`&amp;amp;lt;` is `<`
/// escaped three times): servers that escape what was escaped do so a few times, not more.
const MAX_REESCAPED: usize = 4;

use super::CUT_MARK;

/// The longest name (or number) between `&` and `;` that is read as a reference.
const MAX_REFERENCE_BODY: usize = 10;

/// One way a remote side may have encoded what it echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decoding {
    /// The text as it stands.
    None,
    /// XML and HTML character references (`&#39;`, `&#x27;`, `&#39` without its `;` as HTML
    /// reads it), the predefined entities (`&amp;`, and HTML's legacy `&amp` without `;`), and
    /// references escaped again (`&amp;amp;lt;`).
    References,
    /// JSON string escapes (`\"`, `\/`, `\u00e4`, surrogate pairs).
    JsonEscapes,
    /// Percent encoding (`%C3%A4`) and `+` for a space.
    Percent,
}

impl Decoding {
    pub(super) const ALL: [Decoding; 4] = [
        Decoding::None,
        Decoding::References,
        Decoding::JsonEscapes,
        Decoding::Percent,
    ];

    /// Whether decoding could change `text` (otherwise its view is the plain one).
    pub(super) fn applies_to(self, text: &str) -> bool {
        match self {
            Decoding::None => true,
            Decoding::References => text.contains('&'),
            Decoding::JsonEscapes => text.contains('\\'),
            Decoding::Percent => text.contains(['%', '+']),
        }
    }

    /// The character that `text` starts with once decoded, and how many bytes it takes; `None`
    /// when `text` does not start with an escape of this decoding.
    pub(super) fn decode_at(self, text: &str) -> Option<(char, usize)> {
        match self {
            Decoding::None => None,
            Decoding::References => {
                let (c, len) = reference_body(text.strip_prefix('&')?, MAX_REESCAPED, true)?;
                Some((c, len + 1))
            }
            Decoding::JsonEscapes => json_escape(text),
            Decoding::Percent => percent(text),
        }
    }
}

/// The reference whose `&` was just read, at the start of `body`, and the bytes it takes in
/// `body`. When it is `&amp;` and what follows is a reference once more (`&amp;lt;`: the `&`
/// of `&lt;` escaped), that reference, up to `again` times over. A name without its `;`
/// (`&amp;quot`) counts only where `legacy` allows it: after a named `&amp;`, not after a number
/// (`&#x26;amp&#59;` is `&amp;` escaped once, its `;` too).
fn reference_body(body: &str, again: usize, legacy: bool) -> Option<(char, usize)> {
    let (c, len) = one_reference_body(body, legacy)?;
    if c == '&' && again > 0 {
        let named_whole = !body.starts_with('#') && body[..len].ends_with(';');
        if let Some((inner, inner_len)) = reference_body(&body[len..], again - 1, named_whole) {
            return Some((inner, len + inner_len));
        }
    }
    Some((c, len))
}

/// One reference without its `&`: a number (decimal or `x` and hex, its `;` optional as HTML
/// reads it), or a name followed by `;`, or, when `legacy`, one of HTML's legacy names written
/// without `;`.
fn one_reference_body(body: &str, legacy: bool) -> Option<(char, usize)> {
    if let Some(number) = body.strip_prefix('#') {
        return numeric_reference(number).map(|(c, len)| (c, len + 1));
    }
    let named = body
        .find(';')
        .filter(|end| *end <= MAX_REFERENCE_BODY)
        .and_then(|end| named_entity(&body[..end]).map(|c| (c, end + 1)));
    named.or_else(|| legacy.then(|| legacy_entity(body)).flatten())
}

/// A number after `&#`: its character and the bytes it takes, `;` included when there is one.
fn numeric_reference(number: &str) -> Option<(char, usize)> {
    let (digits_at, radix) = match number.as_bytes().first()? {
        b'x' | b'X' => (1, 16),
        _ => (0, 10),
    };
    let digits = &number[digits_at..];
    let len = digits
        .bytes()
        .take_while(|byte| (*byte as char).is_digit(radix))
        .count();
    if len == 0 || len > 8 {
        return None;
    }
    let end = digits_at + len;
    let after = &number[end..];
    // Digits cut short (`&#3…` of `&#39;`) are not a number yet.
    if after.is_empty() || after.starts_with(CUT_MARK) {
        return None;
    }
    let c = char::from_u32(u32::from_str_radix(&digits[..len], radix).ok()?)?;
    let semicolon = usize::from(after.starts_with(';'));
    Some((c, end + semicolon))
}

/// HTML's names that a browser reads without their `;` (`&amp`, `&lt`, `&gt`, `&quot`), at
/// the start of `body`.
fn legacy_entity(body: &str) -> Option<(char, usize)> {
    const LEGACY: [(&str, char); 4] = [("amp", '&'), ("lt", '<'), ("gt", '>'), ("quot", '"')];
    LEGACY.iter().find_map(|(name, c)| {
        let start = body.get(..name.len())?;
        start.eq_ignore_ascii_case(name).then_some((*c, name.len()))
    })
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

/// A `+` (a space), or a character percent-encoded as the escapes of its UTF-8 bytes
/// (`%C3%A4`), at the start of `text`, and its length. Escapes that do not make a character
/// (a sequence cut short, a Latin-1 byte) read as U+FFFD, one escape at a time.
fn percent(text: &str) -> Option<(char, usize)> {
    if text.starts_with('+') {
        return Some((' ', 1));
    }
    let first = percent_byte(text)?;
    let width = match first {
        0x00..=0x7f => return Some((char::from(first), 3)),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Some(('\u{fffd}', 3)),
    };
    let mut bytes = [first, 0, 0, 0];
    for (index, byte) in bytes.iter_mut().enumerate().take(width).skip(1) {
        match text.get(index * 3..).and_then(percent_byte) {
            Some(next) => *byte = next,
            None => return Some(('\u{fffd}', 3)),
        }
    }
    match std::str::from_utf8(&bytes[..width]) {
        Ok(decoded) => decoded.chars().next().map(|c| (c, width * 3)),
        Err(_) => Some(('\u{fffd}', 3)),
    }
}

/// The byte of a `%XX` escape at the start of `text`.
fn percent_byte(text: &str) -> Option<u8> {
    let hex = text.strip_prefix('%')?.get(..2)?;
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(decoding: Decoding, text: &str) -> String {
        let mut out = String::new();
        let mut at = 0;
        while at < text.len() {
            match decoding.decode_at(&text[at..]) {
                Some((c, len)) => {
                    out.push(c);
                    at += len;
                }
                None => {
                    let c = text[at..].chars().next().unwrap();
                    out.push(c);
                    at += c.len_utf8();
                }
            }
        }
        out
    }

    #[test]
    fn references_without_semicolons_and_escaped_again_are_read() {
        let cases = [
            ("&#90&#113&#x39;x", "Zq9x"),
            ("&quot&amp&lt&gt&QUOT;", "\"&<>\""),
            ("&amp;amp;amp;lt;", "<"),
            ("&amp;amp;quot;S&amp;#51;", "\"S3"),
            ("&amp;amp;amp;amp;amp;amp;lt;", "&amp;lt;"),
            ("&ampx &#; &#x; &unknown; &l", "&x &#; &#x; &unknown; &l"),
            ("&#x26;amp&#59;&#x26;lt&#59;", "&amp;&lt;"),
            ("&#1114112; &#99999999999;", "&#1114112; &#99999999999;"),
            ("&#34&#3…&#3", "\"&#3…&#3"),
        ];
        for (text, expected) in cases {
            assert_eq!(decoded(Decoding::References, text), expected, "{text}");
        }
    }

    #[test]
    fn percent_escapes_make_characters_of_their_utf8_bytes() {
        let cases = [
            ("a%C3%A4+%F0%9D%84%9E", "aä 𝄞"),
            ("%C3", "\u{fffd}"),
            ("%C3%41", "\u{fffd}A"),
            ("%FC%zz", "\u{fffd}%zz"),
        ];
        for (text, expected) in cases {
            assert_eq!(decoded(Decoding::Percent, text), expected, "{text}");
        }
    }
}
