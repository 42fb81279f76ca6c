//! What each fuzz target does with its input, shared with the regression test
//! `connector/tests/fuzz_regressions.rs` (which includes this file), so a kept crashing input is
//! replayed through exactly the code that crashed.
//!
//! Each function takes the raw fuzz input and panics only when the connector misbehaves: a panic
//! inside it, or a broken invariant checked here (results that depend on how the body is
//! chunked, an expression that does not print back to itself). Errors the connector reports for
//! bad input are the expected outcome.

use std::io::BufReader;

use duckcreek_connector::config::{self, Connection};
use duckcreek_connector::path::Path;
use duckcreek_connector::template::{Bindings, Escape, Expr, Lookup, Template};
use duckcreek_connector::xml::{self, Record, RecordReader, ResponseError};

/// The `paths` target. The input is three parts separated by line breaks: a record path, value
/// paths separated by `,`, and the XML body (the rest).
///
/// The body is read by a [`RecordReader`] twice, once through a 7-byte `BufReader` (so every
/// chunk boundary is crossed) and once from a slice; both must give the same records and the
/// same outcome. [`xml::first_value`] runs with the record path and each value path.
pub fn paths(data: &[u8]) {
    let mut parts = data.splitn(3, |byte| *byte == b'\n');
    let record_text = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let values_text = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let body = parts.next().unwrap_or_default();
    let record_path = Path::parse(&record_text).ok();
    let value_paths: Vec<Path> = values_text
        .split(',')
        .filter_map(|text| Path::parse(text).ok())
        .collect();
    let record_path = record_path.unwrap_or_else(|| Path {
        steps: Vec::new(),
        target: duckcreek_connector::path::Target::Element,
    });
    let chunked = read_all(RecordReader::new(
        BufReader::with_capacity(7, body),
        &record_path,
        value_paths.clone(),
    ));
    let whole = read_all(RecordReader::new(body, &record_path, value_paths.clone()));
    assert_eq!(
        chunked, whole,
        "the outcome depends on how the body is chunked"
    );
    let _ = read_all(RecordReader::checking_only(BufReader::with_capacity(
        3, body,
    )));
    for path in std::iter::once(&record_path).chain(&value_paths) {
        // Errors are expected for most inputs; only panics matter.
        let _ = xml::first_value(body, path);
    }
}

/// Every record `reader` yields, and how it ended.
fn read_all<R: std::io::BufRead>(
    mut reader: RecordReader<R>,
) -> (Vec<Record>, Result<(), ResponseError>) {
    let mut records = Vec::new();
    loop {
        match reader.next_record() {
            Ok(Some(record)) => records.push(record),
            Ok(None) => return (records, Ok(())),
            Err(error) => return (records, Err(error)),
        }
    }
}

/// Fixed values for a few names: `account.*` and `user.*` properties not listed are missing,
/// names below `task` are unbound (an evaluation error), everything else is missing.
pub struct FuzzBindings;

impl Bindings for FuzzBindings {
    fn lookup(&self, path: &[String]) -> Lookup {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        match path.as_slice() {
            ["account", "name"] => Lookup::Value("Jäne \"O'Brien\" <x>&amp; ﬃ".into()),
            ["account", "id"] => Lookup::Value("42".into()),
            ["user", "email"] => Lookup::Value("jane@example.com".into()),
            ["USERNAME"] => Lookup::Value("svc".into()),
            ["PASSWORD"] => Lookup::Value("p<w>\"&'".into()),
            ["task", ..] => Lookup::Unbound,
            _ => Lookup::Missing,
        }
    }
}

/// The `templates` target. The input (as lossy UTF-8) is parsed as a [`Template`]; one that
/// parses is rendered with [`FuzzBindings`], escaped for XML and as is, its placeholders are
/// filled for the well-formedness check, and every expression must print back to itself; a
/// whole-envelope expression is rendered as markup and its skeletons listed. The
/// input is also parsed as one [`Expr`], evaluated and printed back.
pub fn templates(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(template) = Template::parse(&text) {
        let _ = template.render(&FuzzBindings, Escape::Xml);
        let _ = template.render(&FuzzBindings, Escape::None);
        let filled = template.with_placeholders_filled();
        assert_eq!(
            filled.chars().count(),
            text.chars().count(),
            "filling placeholders moves positions"
        );
        let _ = xml::check_well_formed(&filled);
        for (expr, _) in template.expressions() {
            assert_prints_back(expr);
        }
        if let Some((expr, _)) = template.whole_expression() {
            let _ = duckcreek_connector::expr::markup::render_markup(expr, &FuzzBindings);
            if let Some(skeletons) = duckcreek_connector::expr::markup::skeletons(expr) {
                assert!(skeletons.len() <= duckcreek_connector::expr::markup::MAX_SKELETONS);
            }
        }
    }
    if let Ok(expr) = Expr::parse(&text) {
        let _ = expr.eval(&FuzzBindings);
        let _ = expr.paths();
        assert_prints_back(&expr);
    }
}

/// `Display` promises text that parses back to the same expression, within the language's
/// length limit (the printed form spaces its operators, so it may be longer than the input).
fn assert_prints_back(expr: &Expr) {
    let printed = expr.to_string();
    if printed.chars().count() > duckcreek_connector::expr::MAX_LENGTH {
        return;
    }
    match Expr::parse(&printed) {
        Ok(again) => assert_eq!(&again, expr, "`{printed}` parses to another expression"),
        Err(error) => panic!("`{printed}` (printed from {expr:?}) does not parse: {error}"),
    }
}

/// The attributes the `config` target fills in order, one per line of the input.
pub const CONFIG_ATTRIBUTES: [&str; 8] = [
    "SOAP_ENDPOINT",
    "SOAP_OR_XML",
    "ACCOUNTS_IMPORT_JSON",
    "ENABLEACCOUNTJSON",
    "DISABLEACCOUNTJSON",
    "STATUS_THRESHOLD_CONFIG",
    "CONNECTIONJSON",
    "USERNAME",
];

/// The `config` target. The input (as lossy UTF-8) is split into lines; a line `NAME=value`
/// whose NAME is upper case, digits and `_` sets that attribute, every other line sets the next
/// attribute of [`CONFIG_ATTRIBUTES`] (the last one takes the rest of the input, line breaks
/// included). PASSWORD is `pw` unless set. The connection is then loaded.
pub fn config(data: &[u8]) {
    let connection = Connection::from_pairs(config_pairs(&String::from_utf8_lossy(data)));
    let loaded = config::load(&connection);
    let has_error = loaded
        .problems
        .iter()
        .any(|problem| problem.severity == duckcreek_connector::error::Severity::Error);
    assert_eq!(
        loaded.config.is_some(),
        !has_error,
        "a configuration is returned exactly when no problem is an error"
    );
}

/// The attribute pairs of a `config` input.
pub fn config_pairs(text: &str) -> Vec<(String, String)> {
    let mut pairs = vec![("PASSWORD".to_string(), "pw".to_string())];
    let mut positional = CONFIG_ATTRIBUTES.iter();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        if let Some((name, value)) = named_line(line) {
            pairs.push((name.to_string(), value.to_string()));
        } else if let Some(name) = positional.next() {
            let value = if positional.len() == 0 { rest } else { line };
            pairs.push((name.to_string(), value.to_string()));
            if positional.len() == 0 {
                break;
            }
        }
        rest = after;
    }
    pairs
}

/// `NAME=value` with NAME made of `A-Z`, `0-9` and `_`.
fn named_line(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once('=')?;
    let is_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    is_name.then_some((name, value))
}
