//! `dcconn report RUN --html FILE`: the page, rendered in headless Chromium, shows the run's
//! figures (tests/report/check.mjs reads them from the screenshot's layout and pixels).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

fn checker() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/report");
    assert!(
        dir.join("node_modules/playwright-core").exists()
            && Path::new("/usr/bin/chromium").exists(),
        "the report check is not set up: run `make browser` (`make test` does)"
    );
    dir.join("check.mjs")
}

fn number(value: &Value) -> String {
    dcconn::report::grouped(value.as_u64().unwrap())
}

#[test]
fn the_report_renders_with_the_runs_figures() {
    let harness = Harness::new(1200);
    assert_success(&harness.import(SOAP_PACKAGE));
    harness.sim.remove_user("no.access");
    let mut user = harness.sim.dataset().user("user000009").unwrap().clone();
    user.email = "olga@example.com".into();
    harness.sim.set_user(user);
    assert_success(&harness.import(SOAP_PACKAGE));

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("run-2.html");
    let output = harness.dcconn(&["report", "2", "--html", &page.display().to_string()]);
    assert_success(&output);

    let runs = harness.list("runs");
    let run = runs.iter().find(|r| r["id"] == 2).expect("run 2 listed");
    let accounts = harness.list("accounts");
    let count = |status: &str| accounts.iter().filter(|a| a["status"] == status).count();
    let (active, inactive) = (count("active"), count("inactive"));
    let suspended = count("SUSPENDED FROM IMPORT SERVICE");
    // The shipped package maps Duck Creek's status: `Active` is active, the rest inactive.
    let users = &harness.sim.dataset().users;
    let active_users = users.iter().filter(|u| u.status == "Active").count();
    assert_eq!(
        (active, inactive, suspended),
        (active_users, users.len() - active_users, 1)
    );
    assert!(inactive > 100, "{inactive}");
    let expected = json!({
        "run": "2",
        "outcome": "succeeded",
        "accounts": number(&run["accounts"]),
        "updated-accounts": "1",
        "suspended": "1",
        "links": number(&run["links"]),
        "status:active": number(&json!(active)),
        "status:inactive": number(&json!(inactive)),
        "status:SUSPENDED FROM IMPORT SERVICE": "1",
        "changes:accounts suspended": "1",
        "changes:account columns updated": "1",
    });
    let expected_file = dir.path().join("expected.json");
    std::fs::write(&expected_file, expected.to_string()).unwrap();
    let screenshot = dir.path().join("run-2.png");
    let check = Command::new("node")
        .arg(checker())
        .arg(&page)
        .arg(&expected_file)
        .arg(&screenshot)
        .output()
        .expect("node runs");
    assert!(
        check.status.success(),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    let summary: Value = serde_json::from_str(stdout(&check).trim()).unwrap();
    assert_eq!(summary["figures"], 11);
    assert!(summary["bars"].as_u64().unwrap() >= 4, "{summary}");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);

    // The first report lists 200 of its changes and counts the rest.
    let first = dir.path().join("run-1.html");
    assert_success(&harness.dcconn(&["report", "1", "--html", &first.display().to_string()]));
    let html = std::fs::read_to_string(&first).unwrap();
    assert!(html.contains("more: <code>dcconn changes 1</code>"));
    assert!(!html.contains("<script"), "the page runs no script");
}

#[test]
fn a_report_of_an_unknown_run_is_a_usage_error() {
    let harness = Harness::new(5);
    assert_success(&harness.import(SOAP_PACKAGE));
    let output = harness.dcconn(&["report", "9", "--html", "-"]);
    assert_failure(&output, 2, &["no run 9", "dcconn runs"]);
}
