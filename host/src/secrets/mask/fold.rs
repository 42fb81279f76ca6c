//! How the mask compares characters: whitespace and the characters that show as nothing left
//! out, the rest case-folded and decomposed, so that every spelling a reader would take for the
//! same text compares equal.

use std::iter;

use caseless::Caseless;
use unicode_normalization::UnicodeNormalization;

/// The Default_Ignorable_Code_Point set of Unicode (DerivedCoreProperties.txt): characters a
/// renderer shows as nothing (soft hyphen, zero-width spaces and joiners, bidi marks, the
/// combining grapheme joiner, variation selectors, invisible operators, tags, the Hangul
/// fillers), unassigned code points of the set included, so that a later Unicode changes
/// nothing.
const DEFAULT_IGNORABLE: [(char, char); 17] = [
    ('\u{ad}', '\u{ad}'),
    ('\u{34f}', '\u{34f}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{115f}', '\u{1160}'),
    ('\u{17b4}', '\u{17b5}'),
    ('\u{180b}', '\u{180f}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{206f}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{fe00}', '\u{fe0f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{ffa0}', '\u{ffa0}'),
    ('\u{fff0}', '\u{fff8}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0000}', '\u{e0fff}'),
];

/// Whether the mask leaves `c` out of what it compares: whitespace, and every character of
/// [`DEFAULT_IGNORABLE`]. An echo with them between a secret's characters shows the secret.
pub(super) fn is_left_out(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_whitespace() || c == '\u{b}';
    }
    c.is_whitespace()
        || DEFAULT_IGNORABLE
            .binary_search_by(|&(first, last)| {
                if last < c {
                    std::cmp::Ordering::Less
                } else if first > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

/// Writes what `c` compares as: nothing when it is [left out](is_left_out); else its
/// compatibility caseless form (Unicode 3.13: NFD, case folding, NFKD, case folding, NFKD), so
/// that `ß`, `SS` and `ss`, `É` and `e` followed by U+0301, `ﬁ` and `fi`, a fullwidth `Ａ` and
/// `a` all write the same. One character may write several (`ß` writes `ss`).
pub(super) fn fold(c: char, mut write: impl FnMut(char)) {
    if c.is_ascii() {
        if !is_left_out(c) {
            write(c.to_ascii_lowercase());
        }
        return;
    }
    if is_left_out(c) {
        return;
    }
    iter::once(c)
        .nfd()
        .default_case_fold()
        .nfkd()
        .default_case_fold()
        .nfkd()
        .filter(|folded| !is_left_out(*folded))
        .for_each(&mut write);
}

/// `text` as the mask compares it: each character [folded](fold).
pub(super) fn folded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold(c, |folded| out.push(folded));
    }
    out
}

/// `text` with the characters the mask leaves out removed, nothing else changed.
pub(super) fn without_left_out(text: &str) -> String {
    text.chars().filter(|c| !is_left_out(*c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_normalisation_fold_to_one_spelling() {
        let spellings = [
            "Grüße-Straße-9é",
            "GRÜSSE-STRASSE-9É",
            "grüsse-strasse-9é",
            "Gru\u{308}ße-Straße-9e\u{301}",
            "ＧＲÜＳＳＥ-Straẞe-9é",
        ];
        for spelling in spellings {
            assert_eq!(folded(spelling), folded(spellings[0]), "{spelling}");
        }
        assert_eq!(folded("Grüße"), "gru\u{308}sse");
    }

    #[test]
    fn every_default_ignorable_character_is_left_out() {
        for c in [
            '\u{ad}',
            '\u{34f}',
            '\u{61c}',
            '\u{115f}',
            '\u{1160}',
            '\u{17b4}',
            '\u{180b}',
            '\u{180e}',
            '\u{180f}',
            '\u{200b}',
            '\u{200d}',
            '\u{200f}',
            '\u{202e}',
            '\u{2060}',
            '\u{2062}',
            '\u{2065}',
            '\u{206f}',
            '\u{3164}',
            '\u{fe00}',
            '\u{fe0f}',
            '\u{feff}',
            '\u{ffa0}',
            '\u{fff0}',
            '\u{1bca0}',
            '\u{1d173}',
            '\u{e0001}',
            '\u{e0020}',
            '\u{e007f}',
            '\u{e0100}',
            '\u{e01ef}',
            '\u{e0fff}',
            ' ',
            '\t',
            '\u{b}',
            '\u{a0}',
            '\u{3000}',
        ] {
            assert!(is_left_out(c), "U+{:04X}", u32::from(c));
            assert_eq!(folded(&format!("a{c}b")), "ab", "U+{:04X}", u32::from(c));
        }
        for c in [
            'a',
            '-',
            '\u{fffd}',
            '\u{2026}',
            '\u{301}',
            '\u{1100}',
            '\u{e1000}',
        ] {
            assert!(!is_left_out(c), "U+{:04X}", u32::from(c));
        }
    }
}
