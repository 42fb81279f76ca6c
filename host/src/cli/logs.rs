//! The fields of text logs, escaped.
//!
//! Log events carry what servers sent (account names, fault texts in `error`). The fmt layer
//! writes its own ANSI colours when stderr is a terminal, so the escaping cannot happen at the
//! writer: it happens here, value by value, through [`printable`], and the layout is
//! tracing-subscriber's own ([`DefaultVisitor`]: the message, then `name=value` pairs). JSON logs
//! (`--log-format json`) have their own field formatter and escape through JSON; what JSON
//! leaves as it is (C1 controls, bidi and invisible characters) is escaped on the way out
//! ([`JsonStderr`]).

use std::fmt;
use std::io;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

use super::output::printable;
use crate::secrets;

/// The events logged at `level`, but wasmtime-wasi-http's own below TRACE: it logs failed
/// requests as Rust debug text without saying where they went, and the host logs each of them
/// in words with its URL (`runtime::http_failure`).
pub(super) fn own_events(level: LevelFilter) -> Targets {
    let wasmtime_http = if level == LevelFilter::TRACE {
        LevelFilter::TRACE
    } else {
        LevelFilter::OFF
    };
    Targets::new()
        .with_default(level)
        .with_target("wasmtime_wasi_http", wasmtime_http)
}

/// The text logs' field formatter: [`DefaultVisitor`]'s layout with every value escaped.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor(DefaultVisitor::new(writer, true));
        fields.record(&mut visitor);
        visitor.0.finish()
    }
}

/// Hands every value to the inner visitor escaped.
struct EscapingVisitor<'writer>(DefaultVisitor<'writer>);

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // As the default visitor writes a string: quoted, but for the message.
        if field.name() == "message" {
            self.0
                .record_debug(field, &Escaped(&format_args!("{value}")));
        } else {
            self.0.record_debug(field, &Escaped(&value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .record_debug(field, &Escaped(&format_args!("{value}")));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.record_debug(field, &Escaped(value));
    }
}

/// A value's `Debug` text through the secrets mask (whatever an event carries, no secret is
/// logged) and [`printable`].
struct Escaped<'a>(&'a dyn fmt::Debug);

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable(&secrets::mask(&format!("{:?}", self.0))))
    }
}

/// Standard error for JSON log lines: each character [`printable`] escapes that JSON leaves as
/// it is (a C1 control such as U+009B, which a terminal may obey; a bidi override) is written as
/// a `\uXXXX` escape. In a JSON line such characters appear only inside strings, where the
/// escape means the same character, so the line still parses to the same values.
#[derive(Default)]
pub(super) struct JsonStderr;

impl io::Write for JsonStderr {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut stderr = io::stderr().lock();
        match std::str::from_utf8(bytes) {
            Ok(text) if text.chars().any(crate::printable::is_escaped) => {
                stderr.write_all(json_escaped(text).as_bytes())?
            }
            _ => stderr.write_all(bytes)?,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// `line` with the characters JSON may carry raw but [`printable`] escapes written as `\uXXXX`
/// (every one is in the Basic Multilingual Plane); line breaks, which end the line, are kept.
fn json_escaped(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        if c != '\n' && crate::printable::is_escaped(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer that keeps what the subscriber wrote.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_field_value_is_escaped_and_the_layout_is_the_default_one() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(EscapedFields)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_target(false)
            .finish();
        let name = "a\u{1b}]0;pwned\u{7}\u{9b}2J\u{202e}b\nINFO task complete";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(account = %name, plain = name, number = 3, flag = true, "task {}", "done\r");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "task done\\r account=a\\u{1b}]0;pwned\\u{7}\\u{9b}2J\\u{202e}b\\nINFO task complete \
             plain=\"a\\u{1b}]0;pwned\\u{7}\\u{9b}2J\\u{202e}b\\nINFO task complete\" number=3 flag=true\n"
        );
    }

    #[test]
    fn json_lines_escape_what_json_leaves_raw_and_still_parse_to_the_same_values() {
        let line = serde_json::json!({"account": "a\u{9b}2Jb\u{202e}c", "n": 1}).to_string() + "\n";
        let escaped = json_escaped(&line);
        assert_eq!(escaped, "{\"account\":\"a\\u009b2Jb\\u202ec\",\"n\":1}\n");
        let parsed: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(
            parsed,
            serde_json::from_str::<serde_json::Value>(&line).unwrap()
        );
    }
}
