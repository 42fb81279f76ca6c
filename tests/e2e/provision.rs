//! Provisioning: enable and disable through the component, durable tasks and the retry job.

use dcsim::Fault;
use serde_json::{Value, json};

use crate::support::*;

const CONFIGURATION: i32 = 3;
const REMOTE: i32 = 5;

/// `dcconn <enable|disable|retry> <connection> <extra>` with a short backoff.
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

fn shipped() -> String {
    package(SOAP_PACKAGE).display().to_string()
}

fn imported(users: usize) -> Harness {
    let harness = Harness::new(users);
    assert_success(&harness.import(SOAP_PACKAGE));
    harness.sim.clear_requests();
    harness
}

fn stored<'a>(accounts: &'a [Value], name: &str) -> &'a Value {
    accounts
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("{name} stored"))
}

fn sim_status(harness: &Harness, name: &str) -> String {
    harness.sim.dataset().user(name).unwrap().status.clone()
}

fn lock_requests(harness: &Harness, operation: &str) -> Vec<Vec<(String, String)>> {
    harness
        .sim
        .requests()
        .iter()
        .flat_map(|r| {
            r.operations
                .iter()
                .filter(|o| o.name == operation)
                .map(|o| o.attributes.clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn disable_then_enable_a_user_through_the_shipped_package() {
    let harness = imported(10);
    let output = run(
        &harness,
        "disable",
        &shipped(),
        &["--account", "party.parrot"],
    );
    assert_success(&output);
    assert!(
        stdout(&output).contains("disable party.parrot: COMPLETE after 1 try"),
        "{}",
        stdout(&output)
    );
    assert_eq!(sim_status(&harness, "party.parrot"), "Locked");
    let accounts = harness.list("accounts");
    let parrot = stored(&accounts, "party.parrot");
    assert_eq!(
        (parrot["status"].as_str(), parrot["locked"].as_bool()),
        (Some("inactive"), Some(true))
    );
    assert_eq!(
        lock_requests(&harness, "Security.lockUserAccountRq"),
        vec![vec![
            ("userID".to_string(), "5".to_string()),
            ("userName".to_string(), "party.parrot".to_string())
        ]]
    );

    let output = run(
        &harness,
        "enable",
        &shipped(),
        &["--account", "party.parrot"],
    );
    assert_success(&output);
    assert_eq!(sim_status(&harness, "party.parrot"), "Active");
    let accounts = harness.list("accounts");
    let parrot = stored(&accounts, "party.parrot");
    assert_eq!(
        (parrot["status"].as_str(), parrot["locked"].as_bool()),
        (Some("active"), Some(false))
    );
    let tasks = harness.list("tasks");
    let summary: Vec<(&str, &str, u64)> = tasks
        .iter()
        .map(|t| {
            (
                t["kind"].as_str().unwrap(),
                t["status"].as_str().unwrap(),
                t["tries"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("enable", "COMPLETE", 1), ("disable", "COMPLETE", 1)]
    );
}

#[test]
fn a_two_call_plan_binds_what_the_first_call_captured() {
    let harness = imported(10);
    let envelope = |operation: &str, attributes: &str| {
        format!(
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><server><requests><Session.loginRq userName=\"${{USERNAME}}\" password=\"${{PASSWORD}}\"></Session.loginRq><{operation} {attributes}></{operation}><Session.closeRq></Session.closeRq></requests></server></soapenv:Body></soapenv:Envelope>"
        )
    };
    let responses = "Body.processRequestsAsDOMResponse.result.server.responses.";
    let plan = json!([
        {"REQUESTXML": envelope("Security.lockUserAccountRq", "userName=\"${account.name}\""),
         "RESPONSEMAPPING": {"FIRST": format!("{responses}Security~dot#lockUserAccountRs.@status")},
         "SUCCESSCRITERIA": "FIRST=Success"},
        {"REQUESTXML": envelope("Security.lockUserAccountRq", "userName=\"${account.name}\" note=\"first was ${FIRST}\""),
         "RESPONSEMAPPING": {"SECOND": format!("{responses}Security~dot#lockUserAccountRs.@status")},
         "SUCCESSCRITERIA": {"SECOND": "Success"}}
    ]);
    let path = harness.dir.path().join("two-calls.json");
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    package["DISABLEACCOUNTJSON"] = plan;
    std::fs::write(&path, package.to_string()).unwrap();
    let output = run(
        &harness,
        "disable",
        &path.display().to_string(),
        &["--account", "no.access"],
    );
    assert_success(&output);
    let locks = lock_requests(&harness, "Security.lockUserAccountRq");
    assert_eq!(locks.len(), 2);
    assert_eq!(
        locks[1][1],
        ("note".to_string(), "first was Success".to_string())
    );
}

#[test]
fn a_task_that_fails_twice_then_succeeds_ends_complete_with_three_tries() {
    let harness = imported(10);
    harness.sim.inject_fault(
        Fault::http_status(503)
            .for_operation("Security.lockUserAccountRq")
            .times(2),
    );
    let output = run(&harness, "disable", &shipped(), &["--account", "no.access"]);
    assert_eq!(output.status.code(), Some(REMOTE), "{}", stderr(&output));
    assert!(stdout(&output).contains("PENDING PROVISIONING after 1 try: DISABLEACCOUNTJSON call 1 (account \"no.access\"): HTTP status 503"), "{}", stdout(&output));
    let output = run(&harness, "retry", &shipped(), &[]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("2 attempts, 1 tasks completed, 0 failed for good"),
        "{}",
        stdout(&output)
    );
    let tasks = harness.list("tasks");
    assert_eq!(
        (tasks[0]["status"].as_str(), tasks[0]["tries"].as_u64()),
        (Some("COMPLETE"), Some(3))
    );
    assert_eq!(
        lock_requests(&harness, "Security.lockUserAccountRq").len(),
        3
    );
    assert_eq!(sim_status(&harness, "no.access"), "Locked");
}

#[test]
fn a_task_that_always_fails_ends_failed_after_its_tries() {
    let harness = imported(10);
    harness.sim.inject_fault(
        Fault::failure_status("Security.lockUserAccountRq", "Directory offline").times(100),
    );
    let output = run(
        &harness,
        "disable",
        &shipped(),
        &["--account", "no.access", "--queue", "--max-tries", "3"],
    );
    assert_success(&output);
    assert!(
        stdout(&output).contains("NEW after 0 tries"),
        "{}",
        stdout(&output)
    );
    assert!(harness.sim.requests().is_empty(), "--queue sends nothing");
    let output = run(&harness, "retry", &shipped(), &[]);
    assert_eq!(output.status.code(), Some(REMOTE));
    let tasks = harness.list("tasks");
    assert_eq!(
        (tasks[0]["status"].as_str(), tasks[0]["tries"].as_u64()),
        (Some("PROVISIONING FAILED"), Some(3))
    );
    assert!(
        tasks[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("Directory offline"),
        "{}",
        tasks[0]
    );
    assert_eq!(
        lock_requests(&harness, "Security.lockUserAccountRq").len(),
        3
    );
    assert_eq!(sim_status(&harness, "no.access"), "Active");
}

#[test]
fn a_killed_retry_run_loses_no_task_and_duplicates_none() {
    let harness = imported(20);
    let names = ["user000007", "user000008", "user000009", "user000010"];
    for name in names {
        assert_success(&run(
            &harness,
            "disable",
            &shipped(),
            &["--account", name, "--queue"],
        ));
    }
    harness
        .sim
        .inject_fault(Fault::stall(10).for_operation("Security.lockUserAccountRq"));
    let mut args: Vec<String> = vec!["retry".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args.extend(["--lease-ms", "300"].map(String::from));
    let mut child = harness.command(&args).spawn().unwrap();
    assert!(
        harness
            .sim
            .wait_for_stall(std::time::Duration::from_secs(30))
    );
    child.kill().unwrap(); // SIGKILL in the middle of an attempt
    child.wait().unwrap();
    harness.sim.release_stall();
    let in_progress: Vec<Value> = harness
        .list("tasks")
        .into_iter()
        .filter(|t| t["status"] == "IN PROGRESS")
        .collect();
    assert_eq!(in_progress.len(), 1, "the attempt cut short holds its task");

    let output = run(&harness, "retry", &shipped(), &["--lease-ms", "300"]);
    assert_success(&output);
    let tasks = harness.list("tasks");
    assert_eq!(tasks.len(), 4, "no task lost, none duplicated");
    assert!(tasks.iter().all(|t| t["status"] == "COMPLETE"), "{tasks:?}");
    let tries: u64 = tasks.iter().map(|t| t["tries"].as_u64().unwrap()).sum();
    assert_eq!(tries, 5, "the interrupted task was tried again once");
    for name in names {
        assert_eq!(sim_status(&harness, name), "Locked");
    }
}

#[test]
fn the_known_packages_malformed_enable_plan_is_refused_before_any_request() {
    let harness = imported(10);
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    let xml = package["ENABLEACCOUNTJSON"][0]["REQUESTXML"]
        .as_str()
        .unwrap()
        .replace(
            "</Security.unlockUserAccountRq>",
            "</Security.lockUserAccountRq>",
        );
    package["ENABLEACCOUNTJSON"][0]["REQUESTXML"] = Value::String(xml);
    let path = harness.dir.path().join("known.json");
    std::fs::write(&path, package.to_string()).unwrap();
    let output = run(
        &harness,
        "enable",
        &path.display().to_string(),
        &["--account", "no.access"],
    );
    assert_failure(
        &output,
        CONFIGURATION,
        &[
            "ENABLEACCOUNTJSON (call 1 (REQUESTXML), line 1, column 247)",
            "mismatched closing tag",
        ],
    );
    assert!(harness.sim.requests().is_empty());
    assert!(
        harness.list("tasks").is_empty(),
        "no task for a refused configuration"
    );
}

#[test]
fn an_injected_account_name_stays_data() {
    let harness = Harness::new(10);
    let name = r#""/><Security.lockUserAccountRq userName="x"#;
    let locked_before = harness
        .sim
        .dataset()
        .users
        .iter()
        .filter(|u| u.status == "Locked")
        .count();
    let mut user = harness.sim.dataset().user("no.access").unwrap().clone();
    user.name = name.to_string();
    user.id = 99;
    harness.sim.set_user(user);
    assert_success(&harness.import(SOAP_PACKAGE));
    harness.sim.clear_requests();
    let output = run(&harness, "disable", &shipped(), &["--account", name]);
    assert_success(&output);
    assert_eq!(
        lock_requests(&harness, "Security.lockUserAccountRq"),
        vec![vec![
            ("userID".to_string(), "99".to_string()),
            ("userName".to_string(), name.to_string())
        ]],
        "one lock request, carrying the whole name as its userName"
    );
    let locked_after = harness
        .sim
        .dataset()
        .users
        .iter()
        .filter(|u| u.status == "Locked")
        .count();
    assert_eq!(locked_after, locked_before + 1, "only that user was locked");
    assert_eq!(sim_status(&harness, name), "Locked");
}

#[test]
fn an_unknown_account_is_refused() {
    let harness = imported(10);
    let output = run(&harness, "disable", &shipped(), &["--account", "nobody"]);
    assert_failure(&output, 2, &["nobody", "import"]);
    assert!(harness.sim.requests().is_empty());
}

#[test]
fn a_dry_run_prints_the_exact_requests_with_secrets_masked() {
    let harness = imported(10);
    let output = run(
        &harness,
        "disable",
        &shipped(),
        &["--account", "o'brien&co", "--dry-run"],
    );
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains(&format!("# call 1: POST {}", harness.sim.endpoint_url())),
        "{text}"
    );
    assert!(
        text.contains("Content-Type: text/xml; charset=utf-8"),
        "{text}"
    );
    assert!(
        text.contains(r#"<Session.loginRq userName="dcadmin" password="********"></Session.loginRq><Security.lockUserAccountRq userID="2" userName="o&apos;brien&amp;co"></Security.lockUserAccountRq>"#),
        "{text}"
    );
    assert!(!text.contains("e2e-Secret"), "the password leaked: {text}");
    assert!(harness.sim.requests().is_empty(), "a dry run sends nothing");
    assert!(
        harness.list("tasks").is_empty(),
        "a dry run creates no task"
    );
}

#[test]
fn a_concurrent_retry_run_attempts_each_task_once_and_completes_all() {
    let harness = imported(60);
    let names: Vec<String> = (11..=50).map(|n| format!("user{n:06}")).collect();
    for name in &names {
        assert_success(&run(
            &harness,
            "disable",
            &shipped(),
            &["--account", name, "--queue"],
        ));
    }
    let output = run(&harness, "retry", &shipped(), &["--concurrency", "4"]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("40 attempts, 40 tasks completed, 0 failed for good"),
        "{}",
        stdout(&output)
    );
    let tasks = harness.list("tasks");
    assert_eq!(tasks.len(), 40);
    assert!(
        tasks
            .iter()
            .all(|t| t["status"] == "COMPLETE" && t["tries"] == 1),
        "{tasks:?}"
    );
    // Each account was locked by exactly one request: no task was attempted twice.
    let mut locked: Vec<String> = lock_requests(&harness, "Security.lockUserAccountRq")
        .into_iter()
        .filter_map(|attributes| {
            attributes
                .into_iter()
                .find(|(name, _)| name == "userName")
                .map(|(_, value)| value)
        })
        .collect();
    locked.sort();
    assert_eq!(locked, names);
    for name in &names {
        assert_eq!(sim_status(&harness, name), "Locked");
    }
}

#[test]
fn concurrency_outside_its_range_is_a_usage_error() {
    let harness = Harness::new(5);
    for bad in ["0", "65", "many"] {
        let output = run(&harness, "retry", &shipped(), &["--concurrency", bad]);
        assert_failure(&output, 2, &["--concurrency"]);
    }
}

#[test]
fn a_plan_that_cannot_be_rendered_for_the_account_is_refused_before_a_task_exists() {
    let harness = imported(10);
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    // Fails on this account's data only: `no.access` is shorter than 40 characters.
    package["DISABLEACCOUNTJSON"] = json!([{"REQUESTXML":
        "<server><requests><Security.lockUserAccountRq userName=\"${account.name.substring(40)}\"/></requests></server>"}]);
    package["ENABLEACCOUNTJSON"] = Value::String(String::new());
    let path = harness.dir.path().join("unrenderable.json");
    std::fs::write(&path, package.to_string()).unwrap();
    let path = path.display().to_string();
    let disable = run(&harness, "disable", &path, &["--account", "no.access"]);
    assert_failure(
        &disable,
        CONFIGURATION,
        &[
            "DISABLEACCOUNTJSON (call 1 (REQUESTXML), line 1, column 57): could not be rendered: `account.name.substring(40)`: out of range",
        ],
    );
    let enable = run(&harness, "enable", &path, &["--account", "no.access"]);
    assert_failure(&enable, CONFIGURATION, &["ENABLEACCOUNTJSON"]);
    assert!(harness.list("tasks").is_empty(), "no task was created");
    assert!(harness.sim.requests().is_empty(), "nothing was sent");
}
