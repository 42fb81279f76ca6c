//! The fields of text logs, escaped.
//!
//! Log events carry what servers sent (account names, fault texts in `error`). The fmt layer
//! writes its own ANSI colours when stderr is a terminal, so the escaping cannot happen at the
//! writer: it happens here, value by value, through [`printable`], and the layout is
//! tracing-subscriber's own ([`DefaultVisitor`]: the message, then `name=value` pairs). JSON logs
//! (`--log-format json`) have their own field formatter and escape through JSON.

use std::fmt;

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
}
