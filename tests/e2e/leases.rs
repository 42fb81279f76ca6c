//! One import per endpoint at a time: a second import of a running endpoint is refused (or
//! waits with `--wait`), imports of different endpoints run side by side, and the lease of a
//! killed import holds its endpoint until it expires.

use std::io::{BufRead, BufReader};
use std::process::{Child, Output};
use std::time::Duration;

use dcsim::Fault;
use serde_json::Value;

use crate::provision::wait_for_held;
use crate::support::*;

/// Exit code of an import refused because another import of its endpoint is running.
const BUSY: i32 = 7;

/// The user list's response pauses after this many bytes, so an import is caught mid-run.
const PAUSE_AFTER: usize = 2_000;

/// `dcconn import` of the shipped SOAP package with `extra` arguments, started in the background.
fn spawn_import(harness: &Harness, extra: &[&str]) -> Child {
    let mut args: Vec<String> = vec!["import".into(), "--json".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args.extend(extra.iter().map(|s| s.to_string()));
    harness.command(&args).spawn().expect("dcconn starts")
}

/// The JSON summary of a finished import, after checking it succeeded.
fn summary(output: &Output) -> Value {
    assert_success(output);
    serde_json::from_slice(&output.stdout).expect("a JSON summary")
}

/// Pauses the next user list (`count` of them), so that imports hold their endpoint meanwhile.
fn pause_user_lists(harness: &Harness, count: u32) {
    harness.sim.inject_fault(
        Fault::pause(PAUSE_AFTER)
            .for_operation("OnlineData.listEntityUsersRq")
            .times(count),
    );
}

#[test]
fn a_second_import_of_a_running_endpoint_is_refused_and_the_first_completes_untouched() {
    let harness = Harness::new(300);
    pause_user_lists(&harness, 1);
    let first = spawn_import(&harness, &[]);
    wait_for_held(&harness, 1);
    let requests_before = harness.sim.requests().len();

    let second = harness.import(SOAP_PACKAGE);
    let message = assert_failure(
        &second,
        BUSY,
        &[
            "endpoint DuckCreek is being imported by run 1 (started ",
            &format!("by dcconn process {} on ", first.id()),
            "wait for it (dcconn import --wait)",
        ],
    );
    assert!(!message.contains("recorded as failed"), "{message}");
    assert_eq!(
        harness.sim.requests().len(),
        requests_before,
        "the refused import sent nothing"
    );

    harness.sim.release_stall();
    let first = summary(&first.wait_with_output().expect("the first import ends"));
    assert_eq!(
        (first["run"].as_i64(), first["accounts"].as_u64()),
        (Some(1), Some(300))
    );
    let runs = harness.list("runs");
    assert_eq!(
        runs.len(),
        1,
        "the refused import recorded no run: {runs:?}"
    );
    assert_eq!(runs[0]["outcome"], "succeeded");
    assert_eq!(harness.list("accounts").len(), 300);
}

#[test]
fn an_import_with_wait_waits_for_the_running_one_then_succeeds() {
    let harness = Harness::new(300);
    pause_user_lists(&harness, 1);
    let first = spawn_import(&harness, &[]);
    wait_for_held(&harness, 1);

    // A limited wait runs out, naming the run it waited for.
    let impatient = harness.with_connection("import", SOAP_PACKAGE, &["--wait=1"]);
    assert_failure(
        &impatient,
        BUSY,
        &[
            "waited 1 s for another import of endpoint DuckCreek, which is still running: run 1 (started ",
        ],
    );

    let mut waiting = spawn_import(&harness, &["--wait", "-v"]);
    let stderr = waiting.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let said_waiting = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("another import of the endpoint is running; waiting for it"));
    assert!(said_waiting, "the second import never said it waits");
    assert_eq!(
        harness.list("runs").len(),
        1,
        "the waiting import has no run yet"
    );

    harness.sim.release_stall();
    // Drain the log so the waiting import never blocks on a full pipe.
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).count());
    let first = summary(&first.wait_with_output().expect("the first import ends"));
    assert_eq!(first["newAccounts"], 300);
    let second = summary(&waiting.wait_with_output().expect("the second import ends"));
    drain.join().unwrap();
    assert_eq!(
        (second["run"].as_i64(), second["accounts"].as_u64()),
        (Some(2), Some(300))
    );
    assert_eq!(
        second["newAccounts"], 0,
        "the second imported after the first"
    );
    let outcomes: Vec<Value> = harness
        .list("runs")
        .iter()
        .map(|run| run["outcome"].clone())
        .collect();
    assert_eq!(outcomes, ["succeeded", "succeeded"]);
}

/// Three imports of three endpoints started together on a store that does not exist yet: each
/// process may find the file half made (created, its journal being switched to WAL, its schema
/// being written); all three complete, every time.
#[test]
fn imports_that_create_one_store_together_all_complete() {
    let harness = Harness::new(5);
    for round in 0..8 {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", harness.db().display()));
        }
        let imports: Vec<Child> = ["east", "west", "north"]
            .iter()
            .map(|endpoint| spawn_import(&harness, &["--endpoint", endpoint]))
            .collect();
        for import in imports {
            let output = import.wait_with_output().expect("the import ends");
            assert_eq!(summary(&output)["accounts"], 5, "round {round}");
        }
    }
}

#[test]
fn two_endpoints_import_at_once_and_both_complete() {
    let harness = Harness::new(300);
    pause_user_lists(&harness, 2);
    let east = spawn_import(&harness, &["--endpoint", "east"]);
    let west = spawn_import(&harness, &["--endpoint", "west"]);
    // Both are mid-run at once, each holding its own endpoint.
    wait_for_held(&harness, 2);
    harness.sim.release_stall();
    let east = summary(&east.wait_with_output().expect("east ends"));
    let west = summary(&west.wait_with_output().expect("west ends"));
    for summary in [&east, &west] {
        assert_eq!(summary["accounts"], 300);
        assert_eq!(summary["newAccounts"], 300);
    }
    let accounts = |endpoint: &str| {
        let output = harness.dcconn(&["accounts", "--endpoint", endpoint, "--format", "json"]);
        assert_success(&output);
        serde_json::from_slice::<Vec<Value>>(&output.stdout).expect("JSON accounts")
    };
    let (east, west) = (accounts("east"), accounts("west"));
    assert_eq!(east.len(), 300);
    assert_eq!(east, west, "both endpoints hold the same accounts");
}

#[test]
fn an_import_waiting_on_the_network_keeps_its_lease_past_its_first_term() {
    let harness = Harness::new(300);
    pause_user_lists(&harness, 1);
    let first = spawn_import(&harness, &["--lease-ms", "1000"]);
    wait_for_held(&harness, 1);
    let store = rusqlite::Connection::open(harness.db()).expect("the store opens");
    let lease_until = || -> String {
        store
            .query_row(
                "SELECT lease_until FROM runs WHERE outcome = 'running'",
                [],
                |row| row.get(0),
            )
            .expect("a running run")
    };
    let clock_passed = |time: &str| -> bool {
        store
            .query_row(
                "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now') > ?1",
                [time],
                |row| row.get(0),
            )
            .expect("the clock reads")
    };
    // No batch arrives while the response pauses; the lease keeper renews all the same.
    let first_term = lease_until();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !clock_passed(&first_term) {
        assert!(std::time::Instant::now() < deadline, "the clock stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lease_until() > first_term, "the lease was not renewed");
    assert_failure(
        &harness.with_connection("import", SOAP_PACKAGE, &[]),
        BUSY,
        &["endpoint DuckCreek is being imported by run 1"],
    );
    harness.sim.release_stall();
    assert_eq!(
        summary(&first.wait_with_output().expect("the import ends"))["accounts"],
        300
    );
}
