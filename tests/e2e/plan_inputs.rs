//! A provisioning plan's inputs checked by the component before anything is sent: a template
//! that inserts a column the account does not have is a configuration error (exit 3), unless
//! it says what to send without it (`${account.X ?: 'default'}`).

use serde_json::{Value, json};

use crate::support::*;

const CONFIGURATION: i32 = 3;

/// The shipped SOAP package with `disable` as its DISABLEACCOUNTJSON's REQUESTXML, written
/// into the harness's folder; its path.
fn package_disabling_with(harness: &Harness, name: &str, request: &str) -> String {
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    package["DISABLEACCOUNTJSON"][0]["REQUESTXML"] = json!(request);
    let path = harness.dir.path().join(name);
    std::fs::write(&path, package.to_string()).unwrap();
    path.display().to_string()
}

/// A lock request whose `reason` is `reason`, in the shipped plan's envelope.
fn lock_envelope(reason: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><server><requests><Session.loginRq userName="${{USERNAME}}" password="${{PASSWORD}}"></Session.loginRq><Security.lockUserAccountRq userID="${{account.accountID}}" userName="${{account.name}}" reason="{reason}"></Security.lockUserAccountRq><Session.closeRq></Session.closeRq></requests></server></soapenv:Body></soapenv:Envelope>"#
    )
}

/// `dcconn <command> -c <package> --set ... <extra>` against the harness's simulator.
fn run(
    harness: &Harness,
    command: &str,
    package_file: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args: Vec<String> = vec![command.into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args[2] = package_file.to_string();
    args.extend(["--backoff-ms", "20", "--max-backoff-ms", "100"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    harness.dcconn(&args)
}

fn imported(users: usize) -> Harness {
    let harness = Harness::new(users);
    assert_success(&harness.import(SOAP_PACKAGE));
    harness.sim.clear_requests();
    harness
}

/// The attributes of every lock request the simulator received.
fn locks(harness: &Harness) -> Vec<Vec<(String, String)>> {
    harness
        .sim
        .requests()
        .iter()
        .flat_map(|request| request.operations.clone())
        .filter(|operation| operation.name == "Security.lockUserAccountRq")
        .map(|operation| operation.attributes)
        .collect()
}

const MISSING: &str = "error: invalid configuration:\n  error: DISABLEACCOUNTJSON (call 1 (REQUESTXML), line 1, column 283): reads `account.employeeNumber`, but the account `party.parrot` has no column `employeeNumber`: map `employeeNumber` in ACCOUNTS_IMPORT_JSON and import again, or say what to send without it: `${account.employeeNumber ?: 'default'}` (`?: ''` sends it empty)\n";

#[test]
fn a_plan_inserting_a_column_the_account_lacks_is_refused_before_anything_is_sent() {
    let harness = imported(10);
    let plan = package_disabling_with(
        &harness,
        "strict.json",
        &lock_envelope("${account.employeeNumber}"),
    );

    let output = run(&harness, "disable", &plan, &["--account", "party.parrot"]);

    assert_eq!(
        output.status.code(),
        Some(CONFIGURATION),
        "{}",
        stderr(&output)
    );
    assert_eq!(stderr(&output), MISSING);
    assert!(harness.sim.requests().is_empty(), "nothing was sent");
    assert!(harness.list("tasks").is_empty(), "no task was created");
}

#[test]
fn a_queued_task_whose_plan_now_reads_a_missing_column_fails_for_good_sending_nothing() {
    let harness = imported(10);
    let shipped = package(SOAP_PACKAGE).display().to_string();
    assert_success(&run(
        &harness,
        "disable",
        &shipped,
        &["--account", "party.parrot", "--queue"],
    ));
    let plan = package_disabling_with(
        &harness,
        "strict.json",
        &lock_envelope("${account.employeeNumber}"),
    );

    let output = run(&harness, "retry", &plan, &[]);

    let error = MISSING.trim_start_matches("error: ").trim_end();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "task 1: disable party.parrot: PROVISIONING FAILED after 1 try: {}\n\
             retry of DuckCreek: 1 attempt, 0 tasks completed, 1 failed for good\n",
            error.replace('\n', "\\n")
        )
    );
    assert_eq!(stderr(&output), "");
    assert!(harness.sim.requests().is_empty(), "nothing was sent");
    let store = rusqlite::Connection::open(harness.db()).unwrap();
    let task: (String, u32, String) = store
        .query_row("SELECT status, tries, last_error FROM tasks", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
    assert_eq!(
        task,
        ("PROVISIONING FAILED".to_string(), 1, error.to_string())
    );
}

#[test]
fn a_fallback_sends_its_default_when_the_column_is_missing_and_the_value_when_it_is_there() {
    let harness = imported(10);
    let plan = package_disabling_with(
        &harness,
        "fallback.json",
        &lock_envelope(
            "${account.employeeNumber ?: 'none given'} ${account.customproperty2 ?: 'none'}",
        ),
    );

    let output = run(&harness, "disable", &plan, &["--account", "party.parrot"]);

    assert_success(&output);
    assert_eq!(
        locks(&harness),
        [vec![
            ("userID".to_string(), "5".to_string()),
            ("userName".to_string(), "party.parrot".to_string()),
            ("reason".to_string(), "none given Active".to_string()),
        ]]
    );
}
