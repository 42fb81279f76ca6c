//! Provisioning: enable and disable through the component, durable tasks and the retry job.

use std::collections::BTreeMap;

use dcsim::Fault;
use serde_json::{Value, json};

use crate::support::*;

const CONFIGURATION: i32 = 3;
pub(crate) const REMOTE: i32 = 5;

/// `dcconn <enable|disable|retry> <connection> <extra>` with a short backoff.
pub(crate) fn run(
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

pub(crate) fn shipped() -> String {
    package(SOAP_PACKAGE).display().to_string()
}

pub(crate) fn imported(users: usize) -> Harness {
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

pub(crate) fn sim_status(harness: &Harness, name: &str) -> String {
    harness.sim.dataset().user(name).unwrap().status.clone()
}

pub(crate) fn lock_requests(harness: &Harness, operation: &str) -> Vec<Vec<(String, String)>> {
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
        stdout(&output).contains(
            "2 attempts, 1 task completed, 0 failed for good, 1 failed try rescheduled\n"
        ),
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
        tasks[0]["lastError"]
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
    queue(&harness, &names);
    harness
        .sim
        .inject_fault(Fault::stall(10).for_operation(LOCK));
    // Short timeouts: the killed attempt's lease covers its request's deadline (5 s) and
    // --lease-ms more, and the test waits that out.
    let mut child = spawn_retry(
        &harness,
        &[&SHORT_TIMEOUTS[..], &["--lease-ms", "300"]].concat(),
    );
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
    let killed = in_progress[0]["account"].as_str().unwrap().to_string();

    wait_for_lease_expiry(&harness, in_progress[0]["id"].as_i64().unwrap());
    let output = run(&harness, "retry", &shipped(), &["--lease-ms", "300"]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("4 attempts, 4 tasks completed, 0 failed for good"),
        "{}",
        stdout(&output)
    );
    let tasks = harness.list("tasks");
    assert_eq!(tasks.len(), 4, "no task lost, none duplicated");
    assert!(tasks.iter().all(|t| t["status"] == "COMPLETE"), "{tasks:?}");
    let tries: u64 = tasks.iter().map(|t| t["tries"].as_u64().unwrap()).sum();
    assert_eq!(tries, 5, "the interrupted task was tried again once");
    // At least once: the killed attempt's lock reached the server before the process died
    // without recording it, so the task's next attempt sent it again.
    let expected = names
        .iter()
        .map(|name| (name.to_string(), if *name == killed { 2 } else { 1 }))
        .collect();
    assert_eq!(locks_per_account(&harness), expected);
    for name in names {
        assert_eq!(sim_status(&harness, name), "Locked");
    }
}

/// The operation a disable sends.
pub(crate) const LOCK: &str = "Security.lockUserAccountRq";

/// Timeouts that make a request's deadline 5 s (1 + 1 + 3), for tests that wait out a lease.
const SHORT_TIMEOUTS: [&str; 6] = [
    "--connect-timeout-ms",
    "1000",
    "--first-byte-timeout-ms",
    "1000",
    "--between-bytes-timeout-ms",
    "3000",
];

/// How long a test waits for something the processes under test do.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Queues a disable task for each of `names`, in order (task ids 1, 2, ...).
pub(crate) fn queue(harness: &Harness, names: &[&str]) {
    for name in names {
        assert_success(&run(
            harness,
            "disable",
            &shipped(),
            &["--account", name, "--queue"],
        ));
    }
}

/// `dcconn retry` of the shipped package with `extra` arguments, started in the background.
pub(crate) fn spawn_retry(harness: &Harness, extra: &[&str]) -> std::process::Child {
    spawn_retry_of(harness, &shipped(), extra)
}

/// `dcconn retry` of the package at `package_file` with `extra` arguments, in the background.
fn spawn_retry_of(harness: &Harness, package_file: &str, extra: &[&str]) -> std::process::Child {
    let mut args: Vec<String> = vec!["retry".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args[2] = package_file.to_string();
    args.extend(extra.iter().map(|s| s.to_string()));
    harness.command(&args).spawn().expect("dcconn starts")
}

/// How many lock requests the simulator received for each account.
pub(crate) fn locks_per_account(harness: &Harness) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for attributes in lock_requests(harness, LOCK) {
        if let Some((_, name)) = attributes.into_iter().find(|(name, _)| name == "userName") {
            *counts.entry(name).or_default() += 1;
        }
    }
    counts
}

/// Polls `condition` until it holds, failing the test with `what` after [`PATIENCE`].
pub(crate) fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether `sql` (one boolean) holds in the store, by the store's clock.
pub(crate) fn store_says(harness: &Harness, sql: &str, task: i64) -> bool {
    let connection = rusqlite::Connection::open(harness.db()).expect("the store opens");
    connection
        .query_row(sql, [task], |row| row.get::<_, Option<bool>>(0))
        .expect("the tasks table exists")
        .unwrap_or(false)
}

/// The store's clock, as SQL.
pub(crate) const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// Waits until the task's lease has expired by the store's clock.
fn wait_for_lease_expiry(harness: &Harness, task: i64) {
    let sql = format!("SELECT lease_until <= {NOW} FROM tasks WHERE id = ?1");
    wait_for(&format!("task {task}'s lease expired"), || {
        store_says(harness, &sql, task)
    });
}

/// Waits until the task's first attempt has run longer than `millis` by the store's clock.
fn wait_for_attempt_older_than(harness: &Harness, task: i64, millis: u64) {
    let sql = format!(
        "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', started_at, '+{}.{:03} seconds') < {NOW}
         FROM task_attempts WHERE task_id = ?1 AND try = 1",
        millis / 1000,
        millis % 1000
    );
    wait_for(&format!("task {task}'s attempt ran {millis} ms"), || {
        store_says(harness, &sql, task)
    });
}

/// Waits until `n` responses are held at their pause.
pub(crate) fn wait_for_held(harness: &Harness, n: usize) {
    wait_for(&format!("{n} responses paused"), || {
        harness.sim.held_stalls() >= n
    });
}

/// The tasks by id: (account, status, tries).
pub(crate) fn task_states(harness: &Harness) -> BTreeMap<i64, (String, String, u64)> {
    harness
        .list("tasks")
        .into_iter()
        .map(|t| {
            (
                t["id"].as_i64().unwrap(),
                (
                    t["account"].as_str().unwrap().to_string(),
                    t["status"].as_str().unwrap().to_string(),
                    t["tries"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

/// Counts per account, for comparing with [`locks_per_account`].
pub(crate) fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .map(|(name, count)| (name.to_string(), *count))
        .collect()
}

#[test]
fn a_lock_held_past_the_lease_is_not_sent_again_by_another_process() {
    let harness = imported(10);
    queue(&harness, &["no.access"]);
    harness
        .sim
        .inject_fault(Fault::pause(10).for_operation(LOCK));
    let first = spawn_retry(&harness, &["--lease-ms", "300"]);
    wait_for_held(&harness, 1);
    // The lock has been in flight three times --lease-ms: the lease was extended to cover
    // its deadline before it went out.
    wait_for_attempt_older_than(&harness, 1, 900);
    let second = run(&harness, "retry", &shipped(), &["--lease-ms", "300"]);
    assert_success(&second);
    assert!(
        stdout(&second).contains("0 attempts, 0 tasks completed, 0 failed for good\n"),
        "the task is the first process's: {}",
        stdout(&second)
    );
    assert_eq!(locks_per_account(&harness), counts(&[("no.access", 1)]));

    harness.sim.release_stall();
    let first = first.wait_with_output().unwrap();
    assert_success(&first);
    assert!(
        stdout(&first).contains("1 attempt, 1 task completed, 0 failed for good\n"),
        "{}",
        stdout(&first)
    );
    assert_eq!(locks_per_account(&harness), counts(&[("no.access", 1)]));
    assert_eq!(
        task_states(&harness),
        BTreeMap::from([(1, ("no.access".to_string(), "COMPLETE".to_string(), 1))])
    );
}

#[test]
fn the_workers_of_one_process_never_send_one_lock_twice() {
    let harness = imported(20);
    queue(&harness, &["user000007", "user000008"]);
    // The first lock sent is held (its task is P); the second fails (F), and F's worker tries
    // it again after a backoff longer than --lease-ms, then looks for more work while P's
    // lock is still held.
    harness
        .sim
        .inject_fault(Fault::pause(10).for_operation(LOCK));
    harness
        .sim
        .inject_fault(Fault::failure_status(LOCK, "Directory busy"));
    let process = spawn_retry(
        &harness,
        &[
            "--concurrency",
            "2",
            "--lease-ms",
            "500",
            "--backoff-ms",
            "1500",
            "--max-backoff-ms",
            "1500",
        ],
    );
    wait_for_held(&harness, 1);
    wait_for("one task complete", || {
        task_states(&harness)
            .values()
            .any(|(_, status, _)| status == "COMPLETE")
    });
    harness.sim.release_stall();
    let output = process.wait_with_output().unwrap();
    assert_success(&output);
    assert!(
        stdout(&output).contains(
            "3 attempts, 2 tasks completed, 0 failed for good, 1 failed try rescheduled\n"
        ),
        "{}",
        stdout(&output)
    );
    let tasks = task_states(&harness);
    let tries = |name: &str| {
        tasks
            .values()
            .find(|(account, ..)| account == name)
            .map(|(_, status, tries)| {
                assert_eq!(status, "COMPLETE");
                *tries
            })
            .unwrap()
    };
    let (held, failed) = match tries("user000007") {
        1 => ("user000007", "user000008"),
        _ => ("user000008", "user000007"),
    };
    assert_eq!((tries(held), tries(failed)), (1, 2));
    assert_eq!(
        locks_per_account(&harness),
        counts(&[(held, 1), (failed, 2)])
    );
}

/// A disable plan of two calls, `Security.listRolesRq` then the lock, in a package file.
fn two_call_package(harness: &Harness) -> String {
    let envelope = |operation: &str, attributes: &str| {
        format!(
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><server><requests><Session.loginRq userName=\"${{USERNAME}}\" password=\"${{PASSWORD}}\"></Session.loginRq><{operation} {attributes}></{operation}><Session.closeRq></Session.closeRq></requests></server></soapenv:Body></soapenv:Envelope>"
        )
    };
    let responses = "Body.processRequestsAsDOMResponse.result.server.responses.";
    let plan = json!([
        {"REQUESTXML": envelope("Security.listRolesRq", ""),
         "RESPONSEMAPPING": {"ROLES": format!("{responses}Security~dot#listRolesRs.@status")},
         "SUCCESSCRITERIA": "ROLES=Success"},
        {"REQUESTXML": envelope(LOCK, "userName=\"${account.name}\""),
         "RESPONSEMAPPING": {"STATUS": format!("{responses}Security~dot#lockUserAccountRs.@status")},
         "SUCCESSCRITERIA": "STATUS=Success"}
    ]);
    let path = harness.dir.path().join("two-calls.json");
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    package["DISABLEACCOUNTJSON"] = plan;
    std::fs::write(&path, package.to_string()).unwrap();
    path.display().to_string()
}

/// The state letter of the process (`R`, `S`, `T` for stopped, ...), from `/proc`.
fn process_state(child: &std::process::Child) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).ok()?;
    // `pid (comm) state ...`: the name may hold spaces and parentheses, the state follows the
    // last `)`.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Sends `signal` to the process.
fn signal(child: &std::process::Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on a child this test started and has not yet waited for.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

#[test]
fn a_process_resumed_after_sigstop_sends_nothing_for_a_task_another_took_over() {
    let harness = imported(10);
    queue(&harness, &["no.access"]);
    let plan = two_call_package(&harness);
    harness
        .sim
        .inject_fault(Fault::pause(10).for_operation("Security.listRolesRq"));
    let stopped = spawn_retry_of(
        &harness,
        &plan,
        &[&SHORT_TIMEOUTS[..], &["--lease-ms", "300"]].concat(),
    );
    wait_for_held(&harness, 1);
    signal(&stopped, libc::SIGSTOP); // before its lock went out
    // kill(2) returns before the process is stopped: released earlier, it could send its lock.
    wait_for("the process to stop", || {
        process_state(&stopped) == Some('T')
    });
    harness.sim.release_stall();
    wait_for_lease_expiry(&harness, 1);

    let other = spawn_retry_of(&harness, &plan, &["--lease-ms", "300"])
        .wait_with_output()
        .unwrap();
    assert_success(&other);
    assert!(
        stdout(&other).contains("1 attempt, 1 task completed, 0 failed for good\n"),
        "{}",
        stdout(&other)
    );

    signal(&stopped, libc::SIGCONT);
    let resumed = stopped.wait_with_output().unwrap();
    assert_success(&resumed);
    assert!(
        stdout(&resumed).contains(
            "1 attempt, 0 tasks completed, 0 failed for good, 1 lease lost to other workers"
        ),
        "{}",
        stdout(&resumed)
    );
    assert!(
        stdout(&resumed).contains("lease lost for task 1 (disable no.access, try 1)"),
        "{}",
        stdout(&resumed)
    );
    assert_eq!(locks_per_account(&harness), counts(&[("no.access", 1)]));
    assert_eq!(
        lock_requests(&harness, "Security.listRolesRq").len(),
        2,
        "each attempt sent its first call"
    );
    assert_eq!(
        task_states(&harness),
        BTreeMap::from([(1, ("no.access".to_string(), "COMPLETE".to_string(), 2))])
    );
    assert_eq!(sim_status(&harness, "no.access"), "Locked");
}

#[test]
fn retry_runs_started_together_share_the_queue_and_end_when_it_is_done() {
    let harness = imported(40);
    let names: Vec<String> = (11..=40).map(|n| format!("user{n:06}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    queue(&harness, &refs);
    let started = std::time::Instant::now();
    let runs: Vec<std::process::Child> = (0..3)
        .map(|_| spawn_retry(&harness, &["--concurrency", "4"]))
        .collect();
    let mut attempts = 0;
    for child in runs {
        let output = child.wait_with_output().unwrap();
        assert_success(&output);
        let text = stdout(&output);
        let done: usize = text
            .lines()
            .last()
            .and_then(|summary| summary.strip_prefix("retry of DuckCreek: "))
            .and_then(|counts| counts.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no summary: {text}"));
        let plural = |count: usize| if count == 1 { "" } else { "s" };
        assert!(
            text.ends_with(&format!(
                "retry of DuckCreek: {done} attempt{}, {done} task{} completed, 0 failed for good\n",
                plural(done),
                plural(done)
            )),
            "{text}"
        );
        attempts += done;
    }
    // None slept on the others' leases (the retry job sleeps up to 60 s at a time).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(45),
        "the runs took {:?}",
        started.elapsed()
    );
    assert_eq!(
        attempts, 30,
        "each task was attempted once, by one of the runs"
    );
    let expected: BTreeMap<String, usize> = names.iter().map(|n| (n.clone(), 1)).collect();
    assert_eq!(locks_per_account(&harness), expected);
    assert!(
        task_states(&harness)
            .values()
            .all(|(_, status, tries)| status == "COMPLETE" && *tries == 1)
    );
}

#[test]
fn a_busy_store_is_reported_as_busy_after_a_bounded_wait() {
    let harness = imported(10);
    queue(&harness, &["no.access", "party.parrot"]);
    // Another process paused in the middle of a write: it holds the write lock.
    let holder = rusqlite::Connection::open(harness.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let output = run(&harness, "retry", &shipped(), &[]);
    let message = assert_failure(
        &output,
        7,
        &["the store is busy: another process has held its write lock for more than 5 s"],
    );
    assert!(!message.contains("check that its folder"), "{message}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the wait is bounded: {:?}",
        started.elapsed()
    );
    assert!(harness.sim.requests().is_empty(), "nothing was sent");

    holder.execute_batch("ROLLBACK").unwrap();
    assert_success(&run(&harness, "retry", &shipped(), &[]));
    assert_eq!(
        locks_per_account(&harness),
        counts(&[("no.access", 1), ("party.parrot", 1)])
    );
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

/// The operations the simulator received for `name`, in order: `lock` or `unlock`.
fn lock_history(harness: &Harness, name: &str) -> Vec<&'static str> {
    harness
        .sim
        .requests()
        .iter()
        .flat_map(|request| request.operations.clone())
        .filter(|operation| {
            operation
                .attributes
                .iter()
                .any(|(key, value)| key == "userName" && value == name)
        })
        .filter_map(|operation| match operation.name.as_str() {
            LOCK => Some("lock"),
            "Security.unlockUserAccountRq" => Some("unlock"),
            _ => None,
        })
        .collect()
}

#[test]
fn an_accounts_disable_and_enable_reach_duck_creek_and_the_store_in_their_order() {
    let harness = imported(40);
    let names: Vec<String> = (11..=16).map(|n| format!("user{n:06}")).collect();
    for name in &names {
        for command in ["disable", "enable"] {
            assert_success(&run(
                &harness,
                command,
                &shipped(),
                &["--account", name, "--queue"],
            ));
        }
    }
    let output = run(&harness, "retry", &shipped(), &["--concurrency", "4"]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("12 tasks completed, 0 failed for good"),
        "{}",
        stdout(&output)
    );
    let accounts = harness.list("accounts");
    for name in &names {
        assert_eq!(lock_history(&harness, name), ["lock", "unlock"], "{name}");
        assert_eq!(sim_status(&harness, name), "Active", "{name}");
        assert_eq!(stored(&accounts, name)["status"], "active", "{name}");
    }
}
