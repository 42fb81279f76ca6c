//! Full-import reconciliation: removals, restores, statuses, thresholds, the audit trail, and
//! imports that fail or are killed changing nothing.

use dcsim::Fault;
use serde_json::{Value, json};

use crate::support::*;

/// Exit code of a run whose removals a threshold withheld.
const WITHHELD: i32 = 6;
const REMOTE: i32 = 5;

fn policy(config: Value) -> String {
    format!(
        "STATUS_THRESHOLD_CONFIG={}",
        json!({ "statusAndThresholdConfig": config })
    )
}

/// `import --json` with extra `--set`s; returns the exit code and the summary.
fn import(harness: &Harness, sets: &[String], extra: &[&str]) -> (i32, Value) {
    let mut args: Vec<String> = vec!["import".into(), "--json".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    for set in sets {
        args.push("--set".into());
        args.push(set.clone());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let output = harness.dcconn(&args);
    let summary = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("JSON summary: {}{}", stdout(&output), stderr(&output)));
    (output.status.code().unwrap_or(-1), summary)
}

fn account<'a>(accounts: &'a [Value], name: &str) -> &'a Value {
    accounts
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("{name} is stored"))
}

fn changes(harness: &Harness, run: &Value) -> Vec<Value> {
    let output = harness.dcconn(&["changes", &run.to_string(), "--format", "json"]);
    assert_success(&output);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// An audit row; `status` is the (old, new) status of a status change.
fn change(
    object: &str,
    account: Option<&str>,
    entitlement: Option<(&str, &str)>,
    kind: &str,
    status: Option<(&str, &str)>,
) -> Value {
    json!({
        "object": object,
        "account": account,
        "entitlementType": entitlement.map(|e| e.0),
        "value": entitlement.map(|e| e.1),
        "change": kind,
        "column": null,
        "old": status.map(|s| s.0),
        "new": status.map(|s| s.1),
    })
}

fn removes_and_restores(inactivate: bool, delete_links: bool) {
    let harness = Harness::new(20);
    let sets = [policy(
        json!({"inactivateAccountsNotInFile": inactivate, "deleteLinks": delete_links}),
    )];
    assert_eq!(import(&harness, &sets, &[]).0, 0);
    let dataset = harness.sim.dataset();
    let removed_user = dataset.user("party.parrot").unwrap().clone();
    // Removing a role also takes it from the users holding it.
    let actuaries: Vec<String> = dataset
        .users
        .iter()
        .filter(|u| u.roles.iter().any(|r| r == "Actuary"))
        .map(|u| u.name.clone())
        .collect();
    assert!(!actuaries.is_empty() && !actuaries.contains(&removed_user.name));
    let mut changed = dataset.user("o'brien&co").unwrap().clone();
    changed.roles.retain(|role| role != "Underwriter");
    harness.sim.set_user(changed);
    assert!(harness.sim.remove_user("party.parrot"));
    assert!(harness.sim.remove_role("Actuary"));
    assert!(harness.sim.remove_privilege("Billing & Refunds 'Override'"));

    let (code, summary) = import(&harness, &sets, &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["suspended"], 1);
    let links_removed = if delete_links { 1 + actuaries.len() } else { 0 };
    assert_eq!(summary["linksRemoved"], links_removed);
    assert_eq!(summary["entitlementsInactivated"], 2);
    let accounts = harness.list("accounts");
    let parrot = account(&accounts, "party.parrot");
    let removed_status = if inactivate {
        "inactive"
    } else {
        "SUSPENDED FROM IMPORT SERVICE"
    };
    assert_eq!(
        (parrot["status"].as_str(), parrot["present"].as_bool()),
        (Some(removed_status), Some(false))
    );
    assert_eq!(
        parrot["entitlements"]["Role"],
        json!(["CustomerServiceRep"]),
        "a suspended account keeps its links"
    );
    let obrien = account(&accounts, "o'brien&co");
    let expected_roles = if delete_links {
        json!([r#"Underwriter "Senior" & <Lead>"#])
    } else {
        json!(["Underwriter", r#"Underwriter "Senior" & <Lead>"#])
    };
    assert_eq!(obrien["entitlements"]["Role"], expected_roles);
    let entitlements = harness.list("entitlements");
    let actuary = entitlements
        .iter()
        .find(|e| e["type"] == "Role" && e["value"] == "Actuary")
        .unwrap();
    assert_eq!(
        (actuary["status"].as_str(), actuary["present"].as_bool()),
        (Some("inactive"), Some(false))
    );

    let mut expected = vec![change(
        "account",
        Some("party.parrot"),
        None,
        if inactivate {
            "inactivated"
        } else {
            "suspended"
        },
        Some(("active", removed_status)),
    )];
    if delete_links {
        expected.push(change(
            "link",
            Some("o'brien&co"),
            Some(("Role", "Underwriter")),
            "link-removed",
            None,
        ));
        for holder in &actuaries {
            expected.push(change(
                "link",
                Some(holder),
                Some(("Role", "Actuary")),
                "link-removed",
                None,
            ));
        }
    }
    expected.push(change(
        "entitlement",
        None,
        Some(("Privilege", "Billing & Refunds 'Override'")),
        "inactivated",
        Some(("active", "inactive")),
    ));
    expected.push(change(
        "entitlement",
        None,
        Some(("Role", "Actuary")),
        "inactivated",
        Some(("active", "inactive")),
    ));
    let mut found = changes(&harness, &summary["run"]);
    found.sort_by_key(|c| c.to_string());
    expected.sort_by_key(|c| c.to_string());
    assert_eq!(found, expected);

    // Restore: the user and the role come back.
    harness.sim.set_user(removed_user);
    harness
        .sim
        .set_role(dataset.role("Actuary").unwrap().clone());
    let (code, summary) = import(&harness, &sets, &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(
        (
            summary["restored"].as_u64(),
            summary["entitlementsRestored"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let accounts = harness.list("accounts");
    let parrot = account(&accounts, "party.parrot");
    assert_eq!(
        (parrot["status"].as_str(), parrot["present"].as_bool()),
        (Some("active"), Some(true))
    );
    let restored: Vec<String> = changes(&harness, &summary["run"])
        .iter()
        .map(|c| c["change"].as_str().unwrap().to_string())
        .collect();
    assert!(restored.contains(&"restored".to_string()), "{restored:?}");
}

#[test]
fn removed_accounts_are_suspended_links_removed_and_restored() {
    removes_and_restores(false, true);
}

#[test]
fn removed_accounts_are_inactivated_when_configured_and_links_kept() {
    removes_and_restores(true, false);
}

#[test]
fn account_status_follows_the_status_column() {
    let harness = Harness::new(12);
    let sets = [policy(
        json!({"statusColumn": "customproperty2", "activeStatus": ["Active"],
        "lockedStatusColumn": "customproperty2", "lockedStatusMapping": {"Locked": ["Locked"], "Unlocked": ["Active", "Inactive"]}}),
    )];
    assert_eq!(import(&harness, &sets, &[]).0, 0);
    let accounts = harness.list("accounts");
    let devops = account(&accounts, "dev<ops>");
    assert_eq!(
        (devops["status"].as_str(), devops["locked"].as_bool()),
        (Some("inactive"), Some(true))
    );
    let wang = account(&accounts, "王伟");
    assert_eq!(
        (wang["status"].as_str(), wang["locked"].as_bool()),
        (Some("inactive"), Some(false))
    );
    let jurgen = account(&accounts, "jürgen.müller");
    assert_eq!(
        (jurgen["status"].as_str(), jurgen["locked"].as_bool()),
        (Some("active"), Some(false))
    );
}

/// Removes `count` generated users (user000007 on) after a first import.
fn remove_generated(harness: &Harness, count: usize) {
    for index in 0..count {
        assert!(harness.sim.remove_user(&format!("user{:06}", 7 + index)));
    }
}

fn threshold_case(removed: usize, threshold: u64) -> (i32, Value, Harness) {
    let harness = Harness::new(30);
    let sets = [policy(json!({"accountThresholdValue": threshold}))];
    assert_eq!(import(&harness, &sets, &[]).0, 0);
    let before = harness.list("accounts");
    remove_generated(&harness, removed);
    let (code, summary) = import(&harness, &sets, &[]);
    if code == WITHHELD {
        assert_eq!(
            harness.list("accounts"),
            before,
            "withheld removals change nothing"
        );
    }
    (code, summary, harness)
}

#[test]
fn the_account_threshold_withholds_removals_at_and_above_it() {
    let (code, summary, _) = threshold_case(4, 5);
    assert_eq!(
        (code, summary["suspended"].as_u64()),
        (0, Some(4)),
        "just below: applied"
    );
    for (removed, label) in [(5, "at"), (6, "above")] {
        let (code, summary, harness) = threshold_case(removed, 5);
        assert_eq!(code, WITHHELD, "{label}: {summary}");
        assert_eq!(summary["outcome"], "withheld");
        assert_eq!(summary["suspended"], 0);
        assert_eq!(
            summary["withheld"],
            json!([{"what": "accounts", "count": removed, "threshold": 5, "setting": "accountThresholdValue"}])
        );
        let runs = harness.list("runs");
        assert_eq!(runs[0]["outcome"], "withheld");
    }
}

/// Removes the first `roles` roles and one privilege after a first import under a Role
/// threshold of 2; returns the exit code, the summary and the harness.
fn entitlement_threshold_case(roles: usize) -> (i32, Value, Harness) {
    let harness = Harness::new(10);
    let sets = [policy(
        json!({"entThresholdValue": {"entType": {"Role": {"ent": 2}}}}),
    )];
    assert_eq!(import(&harness, &sets, &[]).0, 0);
    for role in ["Actuary", "BrokerLiaison", "DocumentManager"]
        .iter()
        .take(roles)
    {
        assert!(harness.sim.remove_role(role));
    }
    assert!(harness.sim.remove_privilege("Billing & Refunds 'Override'"));
    let (code, summary) = import(&harness, &sets, &[]);
    (code, summary, harness)
}

#[test]
fn an_entitlement_type_threshold_withholds_that_type_only() {
    let (code, summary, _) = entitlement_threshold_case(1);
    assert_eq!(code, 0, "just below: applied: {summary}");
    assert_eq!(summary["entitlementsInactivated"], 2);
    for (roles, label) in [(2, "at"), (3, "above")] {
        let (code, summary, harness) = entitlement_threshold_case(roles);
        assert_eq!(code, WITHHELD, "{label}: {summary}");
        assert_eq!(
            summary["entitlementsInactivated"], 1,
            "{label}: the privilege is inactivated all the same"
        );
        assert_eq!(
            summary["withheld"],
            json!([{"what": "Role", "count": roles, "threshold": 2, "setting": "entThresholdValue.entType.Role"}])
        );
        let entitlements = harness.list("entitlements");
        assert!(
            entitlements
                .iter()
                .filter(|e| e["type"] == "Role")
                .all(|e| e["status"] == "active"),
            "{label}: no role inactivated"
        );
    }
}

/// After a good import, a failing one suspends nothing and loses nothing, and says why.
fn nothing_suspended_after(fault: Fault, code: i32, why: &str) {
    let harness = Harness::new(25);
    assert_eq!(import(&harness, &[], &[]).0, 0);
    let before = harness.snapshot();
    harness.sim.inject_fault(fault);
    let (found, summary) = import(&harness, &[], &[]);
    assert_eq!(found, code, "{summary}");
    assert!(
        summary["error"].as_str().unwrap_or_default().contains(why)
            || summary["withheld"].to_string().contains(why),
        "{summary}"
    );
    assert_eq!(harness.snapshot(), before);
}

#[test]
fn a_body_cut_midway_suspends_nothing() {
    nothing_suspended_after(
        Fault::truncate(3000).for_operation("OnlineData.listEntityUsersRq"),
        REMOTE,
        "cut short",
    );
}

#[test]
fn an_error_status_suspends_nothing() {
    nothing_suspended_after(
        Fault::http_status(500)
            .for_operation("OnlineData.listEntityUsersRq")
            .times(3),
        REMOTE,
        "HTTP status 500",
    );
}

#[test]
fn a_soap_fault_suspends_nothing() {
    nothing_suspended_after(
        Fault::soap_fault("soap:Server", "Timeout").for_operation("OnlineData.listEntityUsersRq"),
        REMOTE,
        "SOAP fault",
    );
}

#[test]
fn an_empty_user_list_is_a_threshold_case() {
    nothing_suspended_after(Fault::empty_users(), WITHHELD, "allowEmptyAccountList");
}

#[test]
fn an_empty_user_list_is_applied_when_the_configuration_allows_it() {
    let harness = Harness::new(8);
    let sets = [policy(json!({"allowEmptyAccountList": true}))];
    assert_eq!(import(&harness, &sets, &[]).0, 0);
    harness.sim.inject_fault(Fault::empty_users());
    let (code, summary) = import(&harness, &sets, &["--scope", "accounts"]);
    assert_eq!(
        (code, summary["suspended"].as_u64()),
        (0, Some(8)),
        "{summary}"
    );
}

#[test]
fn a_dry_run_reports_the_changes_and_writes_nothing() {
    let harness = Harness::new(15);
    assert_eq!(import(&harness, &[], &[]).0, 0);
    let runs_before = harness.list("runs");
    let before = harness.snapshot();
    assert!(harness.sim.remove_user("no.access"));
    let (code, summary) = import(&harness, &[], &["--dry-run"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["dryRun"], true);
    // A dry run records no run, so it names none (the number it used is given again).
    assert_eq!(summary["run"], Value::Null);
    assert_eq!(summary["suspended"], 1);
    assert_eq!(
        summary["changes"],
        json!([change(
            "account",
            Some("no.access"),
            None,
            "suspended",
            Some(("active", "SUSPENDED FROM IMPORT SERVICE"))
        )])
    );
    assert_eq!(harness.snapshot(), before);
    assert_eq!(harness.list("runs"), runs_before);
    let text = harness.with_connection("import", SOAP_PACKAGE, &["--dry-run"]);
    assert_success(&text);
    assert!(
        stdout(&text).starts_with("dry run of DuckCreek in "),
        "{}",
        stdout(&text)
    );
    assert!(!stdout(&text).contains("(run "), "{}", stdout(&text));
}

#[test]
fn an_access_import_needs_an_account_import_first() {
    let harness = Harness::new(5);
    let output = harness.with_connection("import", SOAP_PACKAGE, &["--scope", "access"]);
    assert_failure(&output, 2, &["run the account import first"]);
    assert!(harness.sim.requests().is_empty());
}

#[test]
fn accounts_are_correlated_to_identities() {
    let harness = Harness::new(10);
    let identities = harness.dir.path().join("identities.csv");
    std::fs::write(
        &identities,
        "username,firstname,lastname,email\njürgen.müller,Jürgen,Müller,other@example.com\nTPARROT,Polly,Parrot,PARTY.PARROT@EXAMPLE.COM\nghost,No,Body,ghost@example.com\n",
    )
    .unwrap();
    let output = harness.dcconn(&["identities", "load", &identities.display().to_string()]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("3 identities"),
        "{}",
        stdout(&output)
    );
    assert_eq!(import(&harness, &[], &[]).0, 0);
    let accounts = harness.list("accounts");
    assert_eq!(
        account(&accounts, "jürgen.müller")["owner"],
        "jürgen.müller",
        "by name = username"
    );
    assert_eq!(
        account(&accounts, "party.parrot")["owner"],
        "TPARROT",
        "then by email, case-insensitively"
    );
    assert_eq!(
        account(&accounts, "no.access")["owner"],
        Value::Null,
        "no identity matches"
    );
}

/// The killed import's lease holds its endpoint until it expires: an import at once is refused
/// (exit code 7, naming the run), one after the expiry recovers it.
#[test]
fn a_killed_import_leaves_the_store_as_it_was() {
    let harness = Harness::new(3000);
    assert_eq!(import(&harness, &[], &[]).0, 0);
    let before = harness.snapshot();
    let runs_before = harness.list("runs").len();
    harness.sim.remove_user("no.access");
    // The response stalls after part of the user list: dcconn has staged batches by then.
    harness
        .sim
        .inject_fault(Fault::stall(400_000).for_operation("OnlineData.listEntityUsersRq"));
    let mut args: Vec<String> = vec!["import".into(), "--lease-ms".into(), "1000".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    let mut child = harness.command(&args).spawn().unwrap();
    assert!(
        harness
            .sim
            .wait_for_stall(std::time::Duration::from_secs(30)),
        "the response never stalled"
    );
    assert!(
        harness.wait_for_staging(std::time::Duration::from_secs(30)),
        "batches were staged before the kill"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    harness.sim.release_stall();
    assert_eq!(
        harness.snapshot(),
        before,
        "the killed run changed the store"
    );
    let refused = harness.with_connection("import", SOAP_PACKAGE, &[]);
    assert_failure(
        &refused,
        7,
        &[&format!(
            "endpoint DuckCreek is being imported by run {}",
            runs_before + 1
        )],
    );
    assert!(
        harness.wait_for_lease_expiry(std::time::Duration::from_secs(30)),
        "the killed run's lease never expired"
    );
    let (code, summary) = import(&harness, &[], &[]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["suspended"], 1);
    let runs = harness.list("runs");
    assert_eq!(runs.len(), runs_before + 2);
    assert_eq!(runs[1]["outcome"], "failed");
    assert!(runs[1]["error"].as_str().unwrap().contains("interrupted"));
}

/// The accounts whose status is `SUSPENDED FROM IMPORT SERVICE`, by name.
fn suspended(harness: &Harness) -> Vec<String> {
    harness
        .list("accounts")
        .iter()
        .filter(|a| a["status"] == "SUSPENDED FROM IMPORT SERVICE")
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

/// A first import of 30 users under an account threshold of 3, then five of them gone
/// (user000007 to user000011): run 2 withholds their removal.
/// Returns the harness, the policy's `--set` and the users removed.
fn withheld_five() -> (Harness, [String; 1], Vec<dcsim::User>) {
    let harness = Harness::new(30);
    let sets = [policy(json!({"accountThresholdValue": 3}))];
    assert_eq!(import(&harness, &sets, &[]).0, 0);
    let dataset = harness.sim.dataset();
    let removed = (7..12)
        .map(|n| dataset.user(&format!("user{n:06}")).unwrap().clone())
        .collect();
    remove_generated(&harness, 5);
    let (code, summary) = import(&harness, &sets, &[]);
    assert_eq!(code, WITHHELD, "{summary}");
    (harness, sets, removed)
}

/// `import --accept-removals RUN` (text output) with `sets`.
fn accept(harness: &Harness, sets: &[String], run: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--set", &sets[0], "--accept-removals", run];
    args.extend(extra);
    harness.with_connection("import", SOAP_PACKAGE, &args)
}

#[test]
fn a_withheld_run_says_why_in_the_runs_table() {
    let (harness, _, _) = withheld_five();
    let output = harness.dcconn(&["runs"]);
    assert_success(&output);
    let table = stdout(&output);
    let withheld = table.lines().nth(1).unwrap();
    assert!(
        withheld.starts_with("2 ")
            && withheld.ends_with("  withheld: 5 account removals reached accountThresholdValue 3"),
        "{table}"
    );
    assert!(
        table.lines().next().unwrap().ends_with("  REASON"),
        "{table}"
    );
}

#[test]
fn accepting_a_withheld_run_removes_the_accounts_still_missing_once() {
    let (harness, sets, removed) = withheld_five();
    // One of the five comes back before the acceptance: it is not removed.
    harness.sim.set_user(removed[0].clone());
    let output = accept(&harness, &sets, "2", &[]);
    assert_success(&output);
    assert!(stdout(&output).starts_with("imported DuckCreek (run 3)"));
    assert!(
        stdout(&output).contains("(0 new, 0 updated, 0 restored, 4 suspended)"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        stderr(&output),
        "accepted the removals run 2 withheld: this import applied them as it found them (4 accounts suspended or inactivated, 0 entitlements inactivated)\n"
    );
    let gone = ["user000008", "user000009", "user000010", "user000011"];
    assert_eq!(suspended(&harness), gone);
    let runs = harness.list("runs");
    assert_eq!(runs[0]["outcome"], "succeeded");
    let removed: Vec<Value> = gone
        .iter()
        .map(|name| {
            change(
                "account",
                Some(name),
                None,
                "suspended",
                Some(("active", "SUSPENDED FROM IMPORT SERVICE")),
            )
        })
        .collect();
    let recorded: Vec<Value> = changes(&harness, &runs[0]["id"])
        .into_iter()
        .filter(|c| c["change"] == "suspended")
        .collect();
    assert_eq!(recorded, removed);

    // Once: run 3 is the latest now, so run 2's removals cannot be accepted again.
    let requests = harness.sim.requests().len();
    let again = accept(&harness, &sets, "2", &[]);
    assert_eq!(
        assert_failure(&again, 2, &[]),
        "error: cannot accept the removals run 2 withheld: run 3 completed after it and found the target anew; accept that run's removals if it withheld any (see `dcconn runs`)\n"
    );
    assert_eq!(harness.sim.requests().len(), requests, "nothing was sent");

    // The next ordinary import obeys the threshold again.
    for name in ["user000012", "user000013", "user000014"] {
        assert!(harness.sim.remove_user(name));
    }
    let (code, summary) = import(&harness, &sets, &[]);
    assert_eq!(code, WITHHELD, "{summary}");
    assert_eq!(
        (&summary["suspended"], &summary["withheld"]),
        (
            &json!(0),
            &json!([{"what": "accounts", "count": 3, "threshold": 3, "setting": "accountThresholdValue"}])
        )
    );
    assert_eq!(suspended(&harness), gone);
}

#[test]
fn an_acceptance_covers_no_more_removals_than_the_run_withheld() {
    let (harness, sets, _) = withheld_five();
    for name in ["user000012", "user000013"] {
        assert!(harness.sim.remove_user(name));
    }
    let output = accept(&harness, &sets, "2", &["--json"]);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(WITHHELD), "{}", stderr(&output));
    assert_eq!(
        (&summary["suspended"], &summary["withheld"]),
        (
            &json!(0),
            &json!([{"what": "accounts", "count": 7, "threshold": 3, "setting": "accountThresholdValue"}])
        )
    );
    assert!(
        stderr(&output).contains(
            "\n  --accept-removals 2 accepts, kind by kind, no more removals than run 2 withheld\n"
        ),
        "{}",
        stderr(&output)
    );
    assert!(suspended(&harness).is_empty());
}

#[test]
fn an_accepted_entitlement_type_is_inactivated_as_this_import_finds_it() {
    let (code, _, harness) = entitlement_threshold_case(2);
    assert_eq!(code, WITHHELD);
    let sets = [policy(
        json!({"entThresholdValue": {"entType": {"Role": {"ent": 2}}}}),
    )];
    let (code, summary) = import(&harness, &sets, &["--accept-removals", "2"]);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(
        (&summary["entitlementsInactivated"], &summary["withheld"]),
        (&json!(2), &json!([]))
    );
    let entitlements = harness.list("entitlements");
    let inactive: Vec<&str> = entitlements
        .iter()
        .filter(|e| e["type"] == "Role" && e["status"] == "inactive")
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(inactive, ["Actuary", "BrokerLiaison"]);
}

#[test]
fn removals_that_cannot_be_accepted_are_refused_before_anything_is_sent() {
    let (harness, sets, _) = withheld_five();
    let mut other: Vec<String> = vec!["import".into(), "--endpoint".into(), "Other".into()];
    other.extend(harness.connection_args(SOAP_PACKAGE));
    assert_success(&harness.dcconn(&other));
    let requests = harness.sim.requests().len();
    for (run, extra, why) in [
        (
            "99",
            &[][..],
            "the store has no such run: see `dcconn runs`",
        ),
        (
            "1",
            &[][..],
            "it withheld nothing (its outcome is succeeded): see `dcconn runs`",
        ),
        (
            "3",
            &[][..],
            "it is a run of endpoint Other, and this import is of endpoint DuckCreek",
        ),
        (
            "2",
            &["--scope", "access"][..],
            "it withheld account removals, which an import of --scope access does not make: import with --scope all",
        ),
    ] {
        let output = accept(&harness, &sets, run, extra);
        assert_eq!(
            assert_failure(&output, 2, &[]),
            format!("error: cannot accept the removals run {run} withheld: {why}\n")
        );
    }
    assert_eq!(harness.sim.requests().len(), requests, "nothing was sent");
    let runs = harness.dcconn(&["runs", "--endpoint", "DuckCreek", "--format", "json"]);
    let runs: Vec<Value> = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(runs.len(), 2, "no run was recorded");
}
