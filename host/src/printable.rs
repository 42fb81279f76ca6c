//! Text as a person sees it: what a server sent, made safe for a terminal, a log or a page.

/// Whether `c` is shown escaped: the control characters (C0 such as ESC, BEL, CR and LF, DEL,
/// C1 such as U+009B, the 8-bit CSI), the bidirectional formatting characters (U+061C,
/// U+200E-U+200F, U+202A-U+202E, U+2066-U+2069, which reorder what follows them on screen) and
/// the Unicode line and paragraph separators (U+2028, U+2029), and the characters that show as
/// nothing (soft hyphen, zero-width spaces and joiners, the byte-order mark).
pub fn is_escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{00ad}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2060}'
                | '\u{feff}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `text` with the characters of [`is_escaped`] written as Rust writes them in a literal
/// (`\n`, `\r`, `\t`, `\u{1b}`, `\u{9b}`, `\u{202e}`), every other character as it is: a value
/// a server sent can neither break a line of output (forging a line of a log or of a table) nor
/// drive the terminal (ESC and OSC sequences, C1 controls) nor reorder what is shown (bidi
/// overrides). The one function every human-facing output passes (tables, result lines,
/// titles, notes, errors, CSV, the fields of text logs, the HTML report); JSON output escapes
/// by itself.
pub fn printable(text: &str) -> String {
    if !text.chars().any(is_escaped) {
        return text.to_owned();
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_escaped(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// A text of several lines (an error message, a request body) through [`printable`] line by
/// line: its line breaks stay, every other character [`is_escaped`] is escaped.
pub fn printable_lines(text: &str) -> String {
    text.split('\n')
        .map(printable)
        .collect::<Vec<_>>()
        .join("\n")
}
