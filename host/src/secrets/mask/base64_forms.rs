//! A secret in base64: as a Basic credential, or inside a longer text a server or a log
//! encoded whole (the request body the host sent, with the XML-escaped password somewhere in
//! it).
//!
//! Base64 writes 3 bytes as 4 characters. A secret inside a longer text starts at byte 0, 1 or
//! 2 of a group of 3, and at each of these alignments its encoding has an inner part that
//! depends on the secret alone: the characters whose 6 bits all come from it. The characters
//! at either end of that part mix bits of the secret with bits of what surrounds it; the mask
//! finds the inner part and masks one character more at each end.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// The shortest inner part looked for: 4 characters, the encoding of 3 bytes. Shorter parts
/// would match unrelated text.
pub(super) const MIN_PART_LEN: usize = 4;

/// The inner parts of the base64 encodings of `bytes` at each of the 3 alignments, in the
/// standard and the URL-safe alphabet, each at least [`MIN_PART_LEN`] characters.
pub(super) fn inner_parts(bytes: &[u8]) -> Vec<String> {
    let mut parts = Vec::with_capacity(6);
    for offset in 0..3 {
        let mut aligned = vec![0; offset];
        aligned.extend_from_slice(bytes);
        let encoded = STANDARD_NO_PAD.encode(&aligned);
        // Character i holds the bits 6i..6i+6; the secret's bits are 8*offset..8*aligned.len().
        let first = (8 * offset).div_ceil(6);
        let end = 8 * aligned.len() / 6;
        if end < first + MIN_PART_LEN {
            continue;
        }
        let part = &encoded[first..end];
        let url_safe = part.replace('+', "-").replace('/', "_");
        if url_safe != part {
            parts.push(url_safe);
        }
        parts.push(part.to_string());
    }
    parts
}

/// Whether `byte` is a base64 character of either alphabet (any case: the mask compares
/// lower-cased text).
pub(super) fn is_base64_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'-' | b'_')
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    #[test]
    fn an_inner_part_is_found_in_the_encoding_of_every_longer_text() {
        let secret = b"Zq9&quot;S3cr&amp;t&lt;pw&gt;";
        let parts = inner_parts(secret);
        assert_eq!(parts.len(), 3, "{parts:?}");
        for before in ["", "a", "ab", "abc", "password=\"", "x password=\""] {
            for after in ["", "\"", "\"/>", "\" />"] {
                let text = [before.as_bytes(), secret, after.as_bytes()].concat();
                let encoded = STANDARD.encode(&text);
                assert!(
                    parts.iter().any(|part| encoded.contains(part.as_str())),
                    "{before:?} {after:?}: {encoded}"
                );
            }
        }
    }

    #[test]
    fn url_safe_parts_are_added_where_the_alphabets_differ() {
        let parts = inner_parts(&[0xfb, 0xff, 0xbf, 0xfb, 0xff, 0xbf]);
        assert!(parts.contains(&"-_-_-_-_".to_string()), "{parts:?}");
        assert!(parts.contains(&"+/+/+/+/".to_string()), "{parts:?}");
        assert_eq!(inner_parts(b"ab"), Vec::<String>::new());
        assert_eq!(inner_parts(b"abc"), vec!["YWJj".to_string()]);
    }
}
