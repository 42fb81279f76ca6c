//! Bad input gets a clear error, the right exit code, and changes nothing in the store.

use dcsim::Fault;
use serde_json::Value;

use crate::support::*;

/// Exit codes, as documented in `dcconn --help`.
const CONFIGURATION: i32 = 3;
const AUTHENTICATION: i32 = 4;
const REMOTE: i32 = 5;

/// A harness with one good import done, and the store's content at that point.
fn imported(users: usize) -> (Harness, (Vec<Value>, Vec<Value>)) {
    let harness = Harness::new(users);
    assert_success(&harness.import(SOAP_PACKAGE));
    let snapshot = harness.snapshot();
    harness.sim.clear_requests();
    (harness, snapshot)
}

/// The store is as it was, and the last run is recorded as failed with `error` in its message.
#[track_caller]
fn assert_unchanged_with_failed_run(
    harness: &Harness,
    before: &(Vec<Value>, Vec<Value>),
    error: &str,
) {
    assert_eq!(&harness.snapshot(), before, "the store changed");
    let runs = harness.list("runs");
    assert_eq!(runs[0]["outcome"], "failed", "{runs:?}");
    assert!(
        runs[0]["error"].as_str().unwrap().contains(error),
        "{:?}",
        runs[0]["error"]
    );
    assert_eq!(runs.len(), 2);
}

#[track_caller]
fn assert_no_new_run(harness: &Harness, before: &(Vec<Value>, Vec<Value>)) {
    assert_eq!(&harness.snapshot(), before, "the store changed");
    assert_eq!(harness.list("runs").len(), 1, "a run was recorded");
}

fn write_package(harness: &Harness, name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    edit(&mut package);
    let path = harness.dir.path().join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&package).unwrap()).unwrap();
    path.display().to_string()
}

fn import_with(harness: &Harness, connection_file: &str, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["import".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args[2] = connection_file.to_string();
    args.extend(extra.iter().map(|s| s.to_string()));
    harness.dcconn(&args)
}

#[test]
fn malformed_connection_json_is_refused_with_its_position() {
    let (harness, before) = imported(5);
    let path = harness.dir.path().join("broken.json");
    std::fs::write(&path, "{\n  \"SOAP_ENDPOINT\": \"http://x\",,\n}").unwrap();
    let output = import_with(&harness, &path.display().to_string(), &[]);
    assert_failure(&output, CONFIGURATION, &["broken.json", "line 2, column"]);
    assert_no_new_run(&harness, &before);
    assert!(harness.sim.requests().is_empty());
}

/// The known Duck Creek package's ENABLEACCOUNTJSON opens one tag and closes another.
fn malformed_enable(package: &mut Value) {
    let xml = package["ENABLEACCOUNTJSON"][0]["REQUESTXML"]
        .as_str()
        .unwrap()
        .replace(
            "</Security.unlockUserAccountRq>",
            "</Security.lockUserAccountRq>",
        );
    package["ENABLEACCOUNTJSON"][0]["REQUESTXML"] = Value::String(xml);
}

const MISMATCH: &str = "ENABLEACCOUNTJSON (call 1 (REQUESTXML), line 1, column 247): not well-formed XML once bound: mismatched closing tag: `<Security.unlockUserAccountRq>` is closed by `</Security.lockUserAccountRq>`";

#[test]
fn the_malformed_template_of_the_known_package_is_caught_at_load() {
    let (harness, before) = imported(5);
    let path = write_package(&harness, "known.json", malformed_enable);
    let mut args: Vec<String> = vec!["validate".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args[2] = path.clone();
    let output = harness.dcconn(&args);
    assert_eq!(
        output.status.code(),
        Some(CONFIGURATION),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output).trim(), format!("error: {MISMATCH}"));

    let output = import_with(&harness, &path, &[]);
    assert_failure(
        &output,
        CONFIGURATION,
        &["the connection is not valid", MISMATCH],
    );
    assert!(harness.sim.requests().is_empty(), "nothing may be sent");
    assert_no_new_run(&harness, &before);
}

#[test]
fn a_missing_endpoint_is_named() {
    let (harness, before) = imported(5);
    let output = harness.with_connection("import", SOAP_PACKAGE, &["--set", "SOAP_ENDPOINT="]);
    assert_failure(
        &output,
        CONFIGURATION,
        &["error: SOAP_ENDPOINT: missing: set it to the Duck Creek endpoint URL"],
    );
    assert_no_new_run(&harness, &before);
}

/// A first import whose connection the component refuses stores nothing: not even a new store.
#[test]
fn a_refused_first_import_creates_no_store() {
    let harness = Harness::new(5);
    let output = harness.with_connection("import", SOAP_PACKAGE, &["--set", "SOAP_ENDPOINT="]);
    assert_failure(
        &output,
        CONFIGURATION,
        &["error: SOAP_ENDPOINT: missing: set it to the Duck Creek endpoint URL"],
    );
    assert!(!harness.db().exists(), "no store was created");
    assert!(harness.sim.requests().is_empty());
}

#[test]
fn wrong_credentials_are_an_authentication_failure() {
    let (harness, before) = imported(5);
    let mut args: Vec<String> = vec!["import".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    let at = args.iter().position(|a| a == "--set-env").unwrap();
    args.splice(
        at..at + 2,
        ["--set".to_string(), "PASSWORD=wrong-password".to_string()],
    );
    let output = harness.dcconn(&args);
    let err = assert_failure(
        &output,
        AUTHENTICATION,
        &[
            "ACCOUNTS_IMPORT_JSON call 1: authentication failed: Session.loginRs answered Failure: Invalid user name or password",
        ],
    );
    assert!(!err.contains("wrong-password"));
    assert_eq!(harness.sim.requests().len(), 1, "one attempt, no retry");
    assert_unchanged_with_failed_run(&harness, &before, "authentication failed");
}

fn fails_remotely(fault: Fault, fragments: &[&str]) {
    let (harness, before) = imported(30);
    // A change the failed import must not apply.
    let mut user = harness.sim.dataset().user("no.access").cloned().unwrap();
    user.full_name = "Changed".into();
    harness.sim.set_user(user);
    harness.sim.inject_fault(fault);
    let output = harness.import(SOAP_PACKAGE);
    assert_failure(&output, REMOTE, fragments);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["outcome"], "failed");
    assert_eq!(summary["exitCode"], REMOTE);
    assert_unchanged_with_failed_run(&harness, &before, fragments[0]);
}

#[test]
fn a_non_xml_response_fails_the_import() {
    fails_remotely(
        Fault::non_xml(),
        &["ACCOUNTS_IMPORT_JSON call 1: unexpected response: the body is not XML"],
    );
}

#[test]
fn http_500_fails_the_import_after_its_tries() {
    // A read call is tried three times before the import gives up.
    fails_remotely(
        Fault::http_status(500).times(3),
        &["ACCOUNTS_IMPORT_JSON call 1: HTTP status 500"],
    );
}

#[test]
fn a_soap_fault_fails_the_import() {
    fails_remotely(
        Fault::soap_fault("soap:Server", "Database unavailable"),
        &["ACCOUNTS_IMPORT_JSON call 1: SOAP fault soap:Server: Database unavailable"],
    );
}

#[test]
fn a_failure_status_after_a_good_call_applies_nothing() {
    fails_remotely(
        Fault::failure_status("Security.listRolesRq", "Role catalogue locked"),
        &[
            "ACCOUNTS_IMPORT_JSON call 2: Security.listRolesRs answered status \"Failure\": Role catalogue locked",
        ],
    );
}

#[test]
fn a_truncated_response_fails_the_import() {
    fails_remotely(
        Fault::truncate(2000).for_operation("OnlineData.listEntityUsersRq"),
        &[
            "ACCOUNTS_IMPORT_JSON call 1: unexpected response",
            "cut short",
        ],
    );
}

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A text log line without its timestamp: `WARN message`.
fn without_timestamp(line: &str) -> &str {
    match line.split_once("Z  ") {
        Some((stamp, rest)) if stamp.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => line,
    }
}

/// A refused connection is told in words with where it went, in the warnings of each try and
/// in the error, in text and in JSON logs: no Rust debug text.
#[test]
fn a_refused_connection_names_the_address_and_url_in_words() {
    let (harness, before) = imported(5);
    let port = closed_port();
    let failure = format!(
        "cannot connect to 127.0.0.1:{port} (http://127.0.0.1:{port}/dc/services): connection refused"
    );
    let endpoint = format!("SOAP_ENDPOINT=http://127.0.0.1:{port}/dc/services?key=k");
    let output = harness.with_connection("import", SOAP_PACKAGE, &["--set", &endpoint]);
    assert_eq!(output.status.code(), Some(REMOTE), "{}", stderr(&output));
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().map(without_timestamp).collect();
    let warning = format!("WARN {failure}");
    assert_eq!(
        lines,
        [
            warning.as_str(),
            &warning,
            &warning,
            &format!("error: ACCOUNTS_IMPORT_JSON call 1: transport failure: {failure}"),
            "  run 2 is recorded as failed; the stored data is unchanged",
        ]
    );
    assert_unchanged_with_failed_run(&harness, &before, &failure);

    let mut args: Vec<String> = vec!["--log-format".into(), "json".into(), "import".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args.extend(["--set".into(), endpoint]);
    let output = harness.dcconn(&args);
    assert_eq!(output.status.code(), Some(REMOTE));
    let logs: Vec<(String, String)> = stderr(&output)
        .lines()
        .map(|line| {
            let log: Value = serde_json::from_str(line).unwrap();
            (
                log["level"].as_str().unwrap().to_owned(),
                log["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let warning = ("WARN".to_string(), failure.clone());
    assert_eq!(
        logs,
        [
            warning.clone(),
            warning.clone(),
            warning,
            (
                "ERROR".into(),
                format!(
                    "ACCOUNTS_IMPORT_JSON call 1: transport failure: {failure}\nrun 3 is recorded as failed; the stored data is unchanged"
                )
            ),
        ]
    );
}
