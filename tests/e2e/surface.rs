//! A command line that never surprises: filters that name nothing the store has are usage
//! errors naming what it has, `validate` gives one problem per missing attribute, each
//! command's help shows what matters to it, the account of `enable`/`disable` is positional,
//! every file a command writes is `-o`, and `--set` without `=` is a usage error.

use serde_json::{Value, json};

use crate::support::*;

/// A store with the simulator imported twice: into `DuckCreek` (the connection's name) and into
/// `Other`.
fn two_endpoints(users: usize) -> Harness {
    let harness = Harness::new(users);
    assert_success(&harness.import(SOAP_PACKAGE));
    assert_success(&harness.with_connection("import", SOAP_PACKAGE, &["--endpoint", "Other"]));
    harness
}

#[test]
fn an_endpoint_the_store_does_not_have_is_a_usage_error_naming_those_it_has() {
    let harness = two_endpoints(10);
    let unknown = "error: the store has no endpoint Nope; its endpoints: DuckCreek, Other; choose one with --endpoint\n";
    let other_case = "error: the store has no endpoint duckcreek; did you mean DuckCreek? (endpoint names are matched exactly); its endpoints: DuckCreek, Other; choose one with --endpoint\n";
    for command in [
        &["accounts"][..],
        &["entitlements"],
        &["entitlements", "--type", "Role"],
        &["runs"],
        &["tasks"],
        &["tasks", "--account", "user000009"],
        &["show", "account", "user000009"],
        &["db", "prune", "--keep-runs", "0"],
    ] {
        for (name, message) in [("Nope", unknown), ("duckcreek", other_case)] {
            let mut args = command.to_vec();
            args.extend(["--endpoint", name]);
            let output = harness.dcconn(&args);
            assert_eq!(assert_failure(&output, 2, &[]), message, "{args:?}");
            assert_eq!(stdout(&output), "", "{args:?}");
        }
    }
    // Nothing was pruned.
    let runs = harness.dcconn(&["runs", "--endpoint", "DuckCreek", "--format", "json"]);
    let runs: Vec<Value> = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs[0]["prunedAt"], Value::Null);
    // A name the store has still lists.
    let listing = harness.dcconn(&["accounts", "--endpoint", "Other", "--format", "json"]);
    assert_success(&listing);
    let accounts: Vec<Value> = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(
        accounts.len(),
        harness.list_of("accounts", "DuckCreek").len()
    );
}

impl Harness {
    /// A listing of `endpoint` as JSON.
    fn list_of(&self, what: &str, endpoint: &str) -> Vec<Value> {
        let output = self.dcconn(&[what, "--endpoint", endpoint, "--format", "json"]);
        assert_success(&output);
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

#[test]
fn an_entitlement_type_is_matched_in_any_case_and_an_unknown_one_lists_the_types() {
    let harness = Harness::new(10);
    assert_success(&harness.import(SOAP_PACKAGE));
    let exact = harness.dcconn(&["entitlements", "--type", "Role", "--format", "json"]);
    assert_success(&exact);
    let roles: Vec<Value> = serde_json::from_slice(&exact.stdout).unwrap();
    assert!(!roles.is_empty() && roles.iter().all(|role| role["type"] == "Role"));
    let lower = harness.dcconn(&["entitlements", "--type", "role", "--format", "json"]);
    assert_success(&lower);
    assert_eq!(stdout(&lower), stdout(&exact));

    let unknown = harness.dcconn(&["entitlements", "--type", "Roles"]);
    assert_eq!(
        assert_failure(&unknown, 2, &[]),
        "error: endpoint DuckCreek has no entitlement type Roles; its types: Entity, Privilege, Role (any case)\n"
    );
    // An endpoint with accounts only has no type at all yet.
    let accounts_only = harness.with_connection(
        "import",
        SOAP_PACKAGE,
        &["--endpoint", "Fresh", "--scope", "accounts"],
    );
    assert_success(&accounts_only);
    let none = harness.dcconn(&["entitlements", "--endpoint", "Fresh", "--type", "Role"]);
    assert_eq!(
        assert_failure(&none, 2, &[]),
        "error: endpoint Fresh has no entitlements yet, so no type Role: import its access first (dcconn import --scope all, or --scope access)\n"
    );
}

#[test]
fn the_tasks_of_an_unknown_account_are_a_usage_error_and_of_a_known_one_may_be_none() {
    let harness = Harness::new(12);
    assert_success(&harness.import(SOAP_PACKAGE));
    let unknown = harness.dcconn(&["tasks", "--account", "nobody"]);
    assert_eq!(
        assert_failure(&unknown, 2, &[]),
        "error: endpoint DuckCreek has no account \"nobody\" and no task for one: check the name (see `dcconn accounts --endpoint DuckCreek`)\n"
    );
    let none = harness.dcconn(&["tasks", "--account", "user000009", "--format", "json"]);
    assert_success(&none);
    assert_eq!(stdout(&none), "[]\n");

    let queued = harness.with_connection("disable", SOAP_PACKAGE, &["user000009", "--queue"]);
    assert_success(&queued);
    let listed = |status: &str| {
        let output = harness.dcconn(&[
            "tasks",
            "--account",
            "user000009",
            "--status",
            status,
            "--format",
            "json",
        ]);
        assert_success(&output);
        serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap()
    };
    assert_eq!(listed("complete"), Vec::<Value>::new());
    assert_eq!(listed("new").len(), 1);
}

/// `validate` (or another command) of the shipped package pointed at the simulator, without
/// USERNAME and PASSWORD.
fn without_credentials(harness: &Harness, command: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        command.to_string(),
        "-c".into(),
        package(SOAP_PACKAGE).display().to_string(),
        "--set".into(),
        format!("SOAP_ENDPOINT={}", harness.sim.endpoint_url()),
    ];
    args.extend(extra.iter().map(|arg| arg.to_string()));
    harness.dcconn(&args)
}

pub(crate) const USERNAME_NOT_SET: &str =
    "is not set but is used there: set it in the connection, or with --set USERNAME=VALUE";
pub(crate) const PASSWORD_NOT_SET: &str = "is not set but is used there: give it from an environment variable or a file (--set-env PASSWORD=VARIABLE or --set-file PASSWORD=PATH), never on the command line";
pub(crate) const CALLS: &str =
    "ACCOUNTS_IMPORT_JSON calls 1-4; ENABLEACCOUNTJSON call 1; DISABLEACCOUNTJSON call 1";

#[test]
fn validate_reports_each_missing_attribute_once_with_the_calls_that_use_it() {
    let harness = Harness::new(5);
    let table = without_credentials(&harness, "validate", &[]);
    assert_eq!(table.status.code(), Some(3), "{}", stderr(&table));
    assert_eq!(
        stdout(&table),
        format!(
            "error: USERNAME ({CALLS}): {USERNAME_NOT_SET}\nerror: PASSWORD ({CALLS}): {PASSWORD_NOT_SET}\n"
        )
    );

    let json = without_credentials(&harness, "validate", &["--format", "json"]);
    assert_eq!(json.status.code(), Some(3));
    let calls = json!([
        "ACCOUNTS_IMPORT_JSON call 1",
        "ACCOUNTS_IMPORT_JSON call 2",
        "ACCOUNTS_IMPORT_JSON call 3",
        "ACCOUNTS_IMPORT_JSON call 4",
        "ENABLEACCOUNTJSON call 1",
        "DISABLEACCOUNTJSON call 1"
    ]);
    assert_eq!(
        serde_json::from_slice::<Value>(&json.stdout).unwrap(),
        json!([
            {"severity": "error", "attribute": "USERNAME", "locations": calls, "message": USERNAME_NOT_SET},
            {"severity": "error", "attribute": "PASSWORD", "locations": calls, "message": PASSWORD_NOT_SET},
        ])
    );

    // A job stops on them the same way, and sends nothing.
    let import = without_credentials(&harness, "import", &[]);
    assert_eq!(
        assert_failure(&import, 3, &[]),
        format!(
            "error: the connection is not valid:\n  error: USERNAME ({CALLS}): {USERNAME_NOT_SET}\n  error: PASSWORD ({CALLS}): {PASSWORD_NOT_SET}\n"
        )
    );
    assert!(harness.sim.requests().is_empty());
}

/// The flags a help text lists (the first word of each option line).
fn flags(help: &str) -> Vec<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-') && !line.starts_with("- "))
        .map(|line| {
            let flag = line
                .split([' ', '=', '['])
                .find(|word| word.starts_with("--"));
            flag.unwrap_or(line).trim_end_matches(',').to_string()
        })
        .collect()
}

fn help(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dcconn"))
        .args(args)
        .output()
        .expect("dcconn runs");
    assert_success(&output);
    stdout(&output)
}

const GLOBAL_FLAGS: [&str; 6] = [
    "--db",
    "--component",
    "--no-cache",
    "--quiet",
    "--verbose...",
    "--log-format",
];

const LIMIT_FLAGS: [&str; 7] = [
    "--limit-cpu-ms",
    "--limit-memory-mib",
    "--limit-response-mib",
    "--limit-job-secs",
    "--connect-timeout-ms",
    "--first-byte-timeout-ms",
    "--between-bytes-timeout-ms",
];

#[test]
fn each_help_lists_what_matters_to_its_command_and_the_top_level_help_every_global_flag() {
    let top = flags(&help(&["--help"]));
    for flag in GLOBAL_FLAGS.iter().chain(&LIMIT_FLAGS) {
        assert!(top.contains(&flag.to_string()), "{flag}: {top:?}");
    }
    assert_eq!(
        flags(&help(&["accounts", "--help"])),
        ["--db", "--endpoint", "--format", "--help"]
    );
    let import = flags(&help(&["import", "--help"]));
    let mut expected: Vec<&str> = vec![
        "--connection",
        "--db",
        "--component",
        "--set",
        "--set-env",
        "--set-file",
        "--endpoint",
        "--scope",
        "--batch",
        "--json",
        "--dry-run",
        "--correlate",
        "--wait",
        "--lease-ms",
        "--accept-removals",
        "--help",
        // Through the fleet (`--via`).
        "--via",
        "--namespace",
        "--task-queue",
        "--heartbeat-timeout-secs",
        "--max-attempts",
        "--attempt-backoff-ms",
    ];
    expected.extend(LIMIT_FLAGS);
    assert_eq!(import, expected);
    // The summary of -h leaves the limits to --help.
    let short = flags(&help(&["import", "-h"]));
    assert_eq!(short, expected[..expected.len() - LIMIT_FLAGS.len()]);
    assert!(help(&["accounts", "--help"]).ends_with(
        "Options every command takes (--db, --component, --no-cache, -q, -v, --log-format) and the component's limits: dcconn --help\n"
    ));
    assert_eq!(
        flags(&help(&["db", "check", "--help"])),
        ["--db", "--format", "--help"]
    );
}

#[test]
fn global_flags_are_still_accepted_after_the_command() {
    let harness = Harness::new(5);
    assert_success(&harness.import(SOAP_PACKAGE));
    let db = harness.db().display().to_string();
    let output = harness.dcconn(&[
        "accounts",
        "--db",
        &db,
        "-q",
        "--no-cache",
        "--log-format",
        "json",
        "--limit-cpu-ms",
        "5000",
        "--format",
        "json",
    ]);
    assert_success(&output);
    assert_eq!(
        serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap(),
        harness.list("accounts")
    );
    let check = harness.dcconn(&["db", "check", "-v", "--db", &db, "--format", "json"]);
    assert_success(&check);
    let refused = harness.dcconn(&["runs", "-q", "-v"]);
    assert_failure(
        &refused,
        2,
        &["'--quiet' cannot be used with '--verbose...'"],
    );
}

#[test]
fn the_account_of_enable_and_disable_is_positional_or_given_with_account_but_not_both() {
    let harness = Harness::new(12);
    assert_success(&harness.import(SOAP_PACKAGE));
    let disabled = harness.with_connection("disable", SOAP_PACKAGE, &["user000009"]);
    assert_success(&disabled);
    assert_eq!(
        stdout(&disabled),
        "task 1: disable user000009: COMPLETE after 1 try\n"
    );
    let enabled = harness.with_connection("enable", SOAP_PACKAGE, &["--account", "user000009"]);
    assert_success(&enabled);
    assert_eq!(
        stdout(&enabled),
        "task 2: enable user000009: COMPLETE after 1 try\n"
    );
    let requests = harness.sim.requests().len();
    let both = harness.with_connection(
        "disable",
        SOAP_PACKAGE,
        &["user000009", "--account", "user000010"],
    );
    assert_failure(
        &both,
        2,
        &["error: the argument '[ACCOUNT]' cannot be used with '--account <NAME>'"],
    );
    let neither = harness.with_connection("disable", SOAP_PACKAGE, &[]);
    assert_failure(
        &neither,
        2,
        &["error: the following required arguments were not provided:\n  <ACCOUNT>"],
    );
    assert_eq!(harness.sim.requests().len(), requests, "nothing was sent");
    assert_eq!(harness.list("tasks").len(), 2, "no task was created");
}

#[test]
fn report_writes_with_output_as_package_export_does_and_html_still_works() {
    let harness = Harness::new(5);
    assert_success(&harness.import(SOAP_PACKAGE));
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.html");
    let long = dir.path().join("long.html");
    let old = dir.path().join("old.html");
    for (flag, file) in [("-o", &short), ("--output", &long), ("--html", &old)] {
        let output = harness.dcconn(&["report", "1", flag, &file.display().to_string()]);
        assert_success(&output);
        assert_eq!(
            stderr(&output),
            format!("wrote the report of run 1 to {}\n", file.display())
        );
    }
    let page = std::fs::read_to_string(&short).unwrap();
    assert!(page.starts_with("<!doctype html>"), "{}", &page[..40]);
    assert_eq!(std::fs::read_to_string(&long).unwrap(), page);
    assert_eq!(std::fs::read_to_string(&old).unwrap(), page);
}

#[test]
fn an_attribute_flag_without_equals_is_a_usage_error_that_never_quotes_it() {
    let harness = Harness::new(5);
    for (flag, value, message) in [
        (
            "--set",
            "PASSWORD:hunter2",
            "error: --set takes NAME=VALUE (e.g. --set SOAP_ENDPOINT=https://dc.example.com/Server.svc), but it has no '='\n",
        ),
        (
            "--set-env",
            "hunter2",
            "error: --set-env takes NAME=VARIABLE (e.g. --set-env PASSWORD=DC_PASSWORD), but it has no '='\n",
        ),
        (
            "--set-file",
            "=hunter2",
            "error: --set-file takes NAME=PATH (e.g. --set-file PASSWORD=/run/secrets/dc_password), but the attribute name before '=' is empty\n",
        ),
    ] {
        let output = harness.with_connection("validate", SOAP_PACKAGE, &[flag, value]);
        assert_eq!(assert_failure(&output, 2, &[]), message, "{flag}");
        let mut args = vec!["--log-format", "json", "validate"];
        args.extend(["-c", "connection.json", flag, value]);
        let json = harness.dcconn(&args);
        assert_eq!(json.status.code(), Some(2));
        let line: Value = serde_json::from_slice(&json.stderr).unwrap();
        assert_eq!(
            (&line["level"], &line["exitCode"], &line["message"]),
            (
                &json!("ERROR"),
                &json!(2),
                &json!(message.trim_start_matches("error: ").trim_end())
            )
        );
        assert!(!stderr(&json).contains("hunter2"));
    }
}

/// A misspelled `--set` would leave the connection's own SOAP_ENDPOINT (a placeholder) in
/// place and send the login there: refused before anything is sent or stored.
#[test]
fn an_override_a_letter_or_two_off_an_attribute_is_refused_before_anything_is_sent() {
    let harness = Harness::new(5);
    let args = [
        "import".to_string(),
        "-c".into(),
        package(SOAP_PACKAGE).display().to_string(),
        "--set".into(),
        format!("SOAP_ENDPIONT={}", harness.sim.endpoint_url()),
        "--set".into(),
        "USERNAME=dcadmin".into(),
        "--set-env".into(),
        format!("PASSWORD={PASSWORD_VARIABLE}"),
    ];
    let output = harness.dcconn(&args);
    assert_failure(
        &output,
        2,
        &[
            "error: --set SOAP_ENDPIONT: the connection has no attribute SOAP_ENDPIONT; did you mean SOAP_ENDPOINT? Nothing was sent (an attribute new to the connection belongs in the connection file)",
        ],
    );
    assert!(harness.sim.requests().is_empty());
    assert!(!harness.db().exists(), "no store was created");
    // A name of its own, far from every attribute, is added as before.
    let mut args = vec!["validate".to_string()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args.extend(["--set".into(), "MY_TENANT=acme".into()]);
    assert_success(&harness.dcconn(&args));
}
