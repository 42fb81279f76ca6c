//! The output contract: every command's JSON matches its schema in `schemas/` (which forbids
//! fields it does not name), every field is camelCase, a CSV header row names exactly the JSON
//! fields (nested ones by their path), and with `--log-format json` every line on stderr is a
//! JSON object, the final error included.

use std::path::{Path, PathBuf};

use dcsim::Fault;
use serde_json::Value;

use crate::support::*;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// Every schema of `schemas/`, by file name, registered under its `$id` so they refer to one
/// another.
fn schemas() -> Vec<(String, Value)> {
    let mut all: Vec<(String, Value)> = std::fs::read_dir(schemas_dir())
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let schema = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            (name, schema)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Asserts that `instance` is valid under the schema in `schemas/<name>.schema.json`.
fn assert_matches(name: &str, instance: &Value) {
    let all = schemas();
    let mut registry = jsonschema::Registry::new();
    for (_, schema) in &all {
        registry = registry
            .add(schema["$id"].as_str().unwrap(), schema.clone())
            .unwrap();
    }
    let registry = registry.prepare().unwrap();
    let file = format!("{name}.schema.json");
    let (_, schema) = all
        .iter()
        .find(|(name, _)| *name == file)
        .unwrap_or_else(|| panic!("no schemas/{file}"));
    let validator = jsonschema::options()
        .with_registry(&registry)
        .build(schema)
        .unwrap_or_else(|error| panic!("{file}: {error}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{file}: {errors:#?}\n{instance:#}");
}

/// The JSON a command printed on stdout, after checking it succeeded (or exited with `code`).
fn json_of(output: &std::process::Output, code: i32) -> Value {
    assert_eq!(output.status.code(), Some(code), "{}", stderr(output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}", stdout(output)))
}

/// The field names of a JSON row as CSV names them: nested objects by their path.
fn flat_names(prefix: &str, value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flat_names(&path, member, names);
            }
        }
        _ => names.push(prefix.to_owned()),
    }
}

/// Every field name of every object in `value`, but the names inside `columns` and
/// `entitlements` (which are Duck Creek's).
fn field_names(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                names.push(key.clone());
                if key != "columns" && key != "entitlements" {
                    field_names(member, names);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| field_names(item, names)),
        _ => {}
    }
}

fn assert_camel_case(what: &str, value: &Value) {
    let mut names = Vec::new();
    field_names(value, &mut names);
    for name in names {
        let camel = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_alphanumeric());
        assert!(camel, "{what}: the field {name:?} is not camelCase");
    }
}

/// A listing as JSON and as CSV: the JSON matches its schema, and the CSV header names exactly
/// the JSON rows' fields.
fn check_listing(harness: &Harness, args: &[&str], schema: &str) -> Value {
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let json = json_of(&harness.dcconn(&json_args), 0);
    assert!(
        !json.as_array().unwrap().is_empty(),
        "{args:?}: an empty listing proves nothing"
    );
    assert_matches(schema, &json);
    assert_camel_case(schema, &json);
    let mut csv_args = args.to_vec();
    csv_args.extend(["--format", "csv"]);
    let csv = harness.dcconn(&csv_args);
    assert_success(&csv);
    let text = stdout(&csv);
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let mut expected: Vec<String> = Vec::new();
    for row in json.as_array().unwrap() {
        let mut names = Vec::new();
        flat_names("", row, &mut names);
        for name in names {
            if !expected.contains(&name) {
                expected.push(name);
            }
        }
    }
    let mut sorted_header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    sorted_header.sort();
    expected.sort();
    assert_eq!(sorted_header, expected, "{args:?}: CSV header {header:?}");
    assert_eq!(
        text.lines().count(),
        1 + json.as_array().unwrap().len(),
        "{text}"
    );
    json
}

#[test]
fn every_listing_matches_its_schema_and_its_csv_names_the_same_fields() {
    let harness = Harness::new(12);
    let import = json_of(&harness.import(SOAP_PACKAGE), 0);
    assert_matches("import", &import);
    assert_camel_case("import", &import);
    assert_success(&harness.with_connection("disable", SOAP_PACKAGE, &["--account", "user000009"]));
    harness.sim.inject_fault(Fault::http_status(500));
    let failed = harness.with_connection("disable", SOAP_PACKAGE, &["--account", "o'brien&co"]);
    assert_eq!(failed.status.code(), Some(5), "{}", stderr(&failed));
    assert!(harness.sim.remove_user("no.access"));

    let dry_run = harness.with_connection("import", SOAP_PACKAGE, &["--json", "--dry-run"]);
    let dry_run = json_of(&dry_run, 0);
    assert_matches("import", &dry_run);
    assert_eq!(dry_run["changes"].as_array().unwrap().len(), 2, "{dry_run}");
    assert_success(&harness.import(SOAP_PACKAGE));

    check_listing(&harness, &["accounts"], "accounts");
    check_listing(&harness, &["entitlements"], "entitlements");
    let runs = check_listing(&harness, &["runs"], "runs");
    assert_eq!(runs.as_array().unwrap().len(), 2);
    check_listing(&harness, &["changes", "2"], "changes");
    let tasks = check_listing(&harness, &["tasks"], "tasks");
    assert_eq!(tasks.as_array().unwrap().len(), 2);

    let shown = harness.dcconn(&["show", "account", "user000009", "--format", "json"]);
    let shown = json_of(&shown, 0);
    assert_matches("show-account", &shown);
    assert_camel_case("show-account", &shown);
    let history = shown["history"].as_array().unwrap();
    assert!(history.iter().any(|h| h["change"] == "provisioned"));
    assert!(history.iter().any(|h| h["run"] == 2), "{shown:#}");

    let check = json_of(&harness.dcconn(&["db", "check", "--format", "json"]), 0);
    assert_matches("db-check", &check);
    assert_camel_case("db-check", &check);
    let prune = harness.dcconn(&["db", "prune", "--keep-runs", "1", "--format", "json"]);
    let prune = json_of(&prune, 0);
    assert_matches("db-prune", &prune);
    assert_eq!(prune["runs"].as_array().unwrap().len(), 1, "{prune}");
    let runs = json_of(&harness.dcconn(&["runs", "--format", "json"]), 0);
    assert_matches("runs", &runs);

    let mut validate = vec!["validate".to_string()];
    validate.extend(harness.connection_args(SOAP_PACKAGE));
    validate.extend(["--set".into(), "SOAP_OR_XML=SOAP?".into()]);
    validate.extend(["--format".into(), "json".into()]);
    let problems = json_of(&harness.dcconn(&validate), 3);
    assert!(!problems.as_array().unwrap().is_empty());
    assert_matches("validate", &problems);

    // Problems at several places: one object each, with its `locations`; CSV names the same
    // fields.
    let without_credentials = [
        "validate".to_string(),
        "-c".into(),
        package(SOAP_PACKAGE).display().to_string(),
        "--set".into(),
        format!("SOAP_ENDPOINT={}", harness.sim.endpoint_url()),
    ];
    let mut json_args = without_credentials.to_vec();
    json_args.extend(["--format".into(), "json".into()]);
    let problems = json_of(&harness.dcconn(&json_args), 3);
    assert_matches("validate", &problems);
    assert_camel_case("validate", &problems);
    assert_eq!(problems.as_array().unwrap().len(), 2, "{problems:#}");
    assert_eq!(problems[1]["locations"].as_array().unwrap().len(), 6);
    let mut csv_args = without_credentials.to_vec();
    csv_args.extend(["--format".into(), "csv".into()]);
    let csv = harness.dcconn(&csv_args);
    assert_eq!(csv.status.code(), Some(3), "{}", stderr(&csv));
    assert_eq!(
        stdout(&csv).lines().next(),
        Some("severity,attribute,locations,message")
    );
}

#[test]
fn a_failed_import_prints_its_failure_as_json() {
    let harness = Harness::new(5);
    harness.sim.inject_fault(Fault::non_xml());
    let output = harness.import(SOAP_PACKAGE);
    let failure = json_of(&output, 5);
    assert_matches("import", &failure);
    assert_eq!(
        (&failure["outcome"], &failure["run"], &failure["exitCode"]),
        (&Value::from("failed"), &Value::from(1), &Value::from(5))
    );
}

#[test]
fn under_json_logs_every_line_on_stderr_is_a_json_object_and_the_error_is_one() {
    let harness = Harness::new(5);
    // Logs of every level -vv shows, then the final error.
    harness.sim.inject_fault(Fault::non_xml());
    let mut args = vec![
        "--log-format".to_string(),
        "json".into(),
        "-vv".into(),
        "import".into(),
    ];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    let output = harness.dcconn(&args);
    assert_eq!(output.status.code(), Some(5));
    let lines: Vec<Value> = stderr(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line:?}")))
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|l| l["message"].as_str().unwrap())
            .collect::<Vec<_>>()[..2],
        ["import started", "import failed"]
    );
    for line in &lines {
        assert_matches("log-line", line);
        assert_camel_case("log-line", line);
    }
    let last = lines.last().unwrap();
    assert_eq!(
        (&last["level"], &last["exitCode"]),
        (&Value::from("ERROR"), &Value::from(5))
    );
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("ACCOUNTS_IMPORT_JSON call 1: unexpected response: the body is not XML"),
        "{last}"
    );

    // A usage error clap reports is a JSON line too.
    let usage = harness.dcconn(&["--log-format=json", "acounts"]);
    assert_eq!(usage.status.code(), Some(2));
    let line: Value = serde_json::from_str(stderr(&usage).trim()).unwrap();
    assert_matches("log-line", &line);
    assert!(
        line["message"].as_str().unwrap().contains("'acounts'"),
        "{line}"
    );

    // So is each refusal of `tasks cancel`, and a panic-free start with an empty variable.
    let refused = harness
        .command(&["--log-format", "json", "tasks", "cancel", "999"])
        .env("DCCONN_CONFIG", "")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let line: Value = serde_json::from_str(stderr(&refused).trim()).unwrap();
    assert_matches("log-line", &line);
    assert_eq!(
        (&line["level"], &line["exitCode"], &line["message"]),
        (
            &Value::from("ERROR"),
            &Value::from(2),
            &Value::from("there is no task 999 in the store; see `dcconn tasks`")
        )
    );
}

#[test]
fn every_schema_is_a_valid_schema_with_camel_case_fields() {
    for (name, schema) in schemas() {
        assert!(
            jsonschema::meta::is_valid(&schema),
            "{name} is not a valid JSON Schema"
        );
        assert!(
            schema["$id"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{name}")),
            "{name}: $id"
        );
        let mut names = Vec::new();
        collect_properties(&schema, &mut names);
        for property in names {
            let camel = property.starts_with(|c: char| c.is_ascii_lowercase())
                && property.chars().all(|c| c.is_ascii_alphanumeric());
            assert!(camel, "{name}: {property:?} is not camelCase");
        }
    }
}

/// The names under every `properties` of a schema.
fn collect_properties(schema: &Value, names: &mut Vec<String>) {
    match schema {
        Value::Object(members) => {
            for (key, member) in members {
                if key == "properties" {
                    names.extend(member.as_object().unwrap().keys().cloned());
                }
                collect_properties(member, names);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_properties(item, names)),
        _ => {}
    }
}
