//! Day two with provisioning tasks: `retry --due-only` for cron and timers, what `retry` says
//! while it waits, one pending task per account and kind, `tasks cancel`, the filters of
//! `tasks`, and refused credentials.

use dcsim::Fault;
use serde_json::Value;

use crate::provision::{
    LOCK, NOW, counts, imported, locks_per_account, queue, sim_status, spawn_retry, store_says,
    task_states, wait_for, wait_for_held,
};
use crate::support::*;

const USAGE: i32 = 2;
const AUTHENTICATION: i32 = 4;
const BUSY: i32 = 7;

/// `dcconn <command> <shipped package on the simulator> <extra>`.
fn dcconn(harness: &Harness, command: &str, extra: &[&str]) -> std::process::Output {
    harness.with_connection(command, SOAP_PACKAGE, extra)
}

/// The tasks as `dcconn tasks --format json` lists them (newest first), with `extra` filters.
fn listed(harness: &Harness, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["tasks", "--format", "json"];
    args.extend(extra);
    let output = harness.dcconn(&args);
    assert_success(&output);
    serde_json::from_slice::<Vec<Value>>(&output.stdout).expect("a JSON array")
}

/// The ids of the tasks `dcconn tasks` lists with `extra` filters.
fn listed_ids(harness: &Harness, extra: &[&str]) -> Vec<i64> {
    listed(harness, extra)
        .iter()
        .map(|task| task["id"].as_i64().unwrap())
        .collect()
}

/// The task's `nextTryAt` as listed.
fn next_try_at(harness: &Harness, task: i64) -> String {
    listed(harness, &[])
        .into_iter()
        .find(|listed| listed["id"] == task)
        .and_then(|listed| listed["nextTryAt"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("task {task} has a next try"))
}

/// Waits until the task is due by the store's clock.
fn wait_until_due(harness: &Harness, task: i64) {
    let sql = format!("SELECT next_attempt_at <= {NOW} FROM tasks WHERE id = ?1");
    wait_for(&format!("task {task} due"), || {
        store_says(harness, &sql, task)
    });
}

/// What the simulator answers a lock it fails, as a task's error says it.
fn directory_busy(account: &str) -> String {
    format!(
        "DISABLEACCOUNTJSON call 1 (account \"{account}\"): Security.lockUserAccountRs answered status \"Failure\": Directory busy"
    )
}

/// A disable of `account` whose lock the simulator fails once: the task waits
/// PENDING PROVISIONING for its next try, `backoff_ms` (give or take the jitter) later.
fn pending_disable(harness: &Harness, account: &str, backoff_ms: u64) {
    harness
        .sim
        .inject_fault(Fault::failure_status(LOCK, "Directory busy"));
    let backoff = backoff_ms.to_string();
    let failed = dcconn(harness, "disable", &[account, "--backoff-ms", &backoff]);
    assert_eq!(failed.status.code(), Some(5), "{}", stderr(&failed));
}

#[test]
fn retry_due_only_attempts_what_is_due_once_and_exits_without_waiting() {
    let harness = imported(20);
    // Task 1 is due in ten minutes or so: not for this run.
    pending_disable(&harness, "user000007", 600_000);
    queue(&harness, &["no.access", "party.parrot"]);
    // Task 2's lock fails: rescheduled 20 ms later, it is due again long before the run
    // ends, and still not attempted again.
    harness
        .sim
        .inject_fault(Fault::failure_status(LOCK, "Directory busy"));
    harness.sim.clear_requests();
    let started = std::time::Instant::now();
    let output = dcconn(
        &harness,
        "retry",
        &["--due-only", "--backoff-ms", "20", "--max-backoff-ms", "20"],
    );
    assert_success(&output);
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "task 2: disable no.access: PENDING PROVISIONING after 1 try: {} (next try at ",
            directory_busy("no.access")
        )),
        "{text}"
    );
    assert_eq!(
        &lines[1..],
        [
            "task 3: disable party.parrot: COMPLETE after 1 try",
            "retry of DuckCreek: 2 attempts, 1 task completed, 0 failed for good, 1 failed try rescheduled",
        ]
    );
    // It waited for nothing; it says when the next open task is due.
    let next_due = "the next waiting task of DuckCreek is due at ";
    assert!(stderr(&output).starts_with(next_due), "{}", stderr(&output));
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
    assert_eq!(
        locks_per_account(&harness),
        counts(&[("no.access", 1), ("party.parrot", 1)])
    );

    // The next run takes what has become due.
    wait_until_due(&harness, 2);
    let again = dcconn(&harness, "retry", &["--due-only"]);
    assert_success(&again);
    assert_eq!(
        stdout(&again),
        "task 2: disable no.access: COMPLETE after 2 tries\n\
         retry of DuckCreek: 1 attempt, 1 task completed, 0 failed for good\n"
    );
    assert!(stderr(&again).starts_with(next_due), "{}", stderr(&again));
    assert_eq!(sim_status(&harness, "no.access"), "Locked");
    assert_eq!(sim_status(&harness, "user000007"), "Active");
    assert_eq!(
        task_states(&harness)[&1],
        (
            "user000007".to_string(),
            "PENDING PROVISIONING".to_string(),
            1
        )
    );
}

#[test]
fn retry_says_what_it_waits_for_and_logs_each_wait_with_v() {
    let harness = imported(20);
    pending_disable(&harness, "no.access", 1500);
    let at = next_try_at(&harness, 1);
    let output = dcconn(&harness, "retry", &[]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "task 1: disable no.access: COMPLETE after 2 tries\n\
         retry of DuckCreek: 1 attempt, 1 task completed, 0 failed for good\n"
    );
    let note = stderr(&output);
    let seconds = note
        .strip_prefix("waiting ")
        .and_then(|rest| rest.split_once(" s for task 1 "))
        .and_then(|(seconds, _)| seconds.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no waiting note: {note:?}"));
    assert!(seconds > 0.0 && seconds <= 2.3, "{note}");
    assert!(
        note.ends_with(&format!(
            " s for task 1 (next try at {at}); `dcconn retry --due-only` runs only what is due and exits\n"
        )),
        "{note}"
    );

    // With -v each wait is a log line, and the note is left out.
    pending_disable(&harness, "party.parrot", 1500);
    let at = next_try_at(&harness, 2);
    let mut args = vec!["-v".to_string(), "retry".to_string()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    let output = harness.dcconn(&args);
    assert_success(&output);
    let log = stderr(&output);
    assert!(
        !log.lines().any(|line| line.starts_with("waiting ")),
        "{log}"
    );
    let waits: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("waiting for the next task to become due"))
        .collect();
    assert_eq!(waits.len(), 1, "{log}");
    assert!(
        waits[0].contains(&format!(
            "INFO waiting for the next task to become due task=2 nextTryAt={at} waitMs="
        )),
        "{log}"
    );
    assert_eq!(
        stdout(&output),
        "task 2: disable party.parrot: COMPLETE after 2 tries\n\
         retry of DuckCreek: 1 attempt, 1 task completed, 0 failed for good\n"
    );
}

#[test]
fn an_account_gets_no_second_pending_task_of_one_kind() {
    let harness = imported(20);
    let queued = dcconn(&harness, "disable", &["--account", "no.access", "--queue"]);
    assert_success(&queued);
    assert_eq!(stderr(&queued), "");
    let again = dcconn(&harness, "disable", &["--account", "no.access", "--queue"]);
    assert_success(&again);
    assert_eq!(
        stdout(&again),
        "task 1: disable no.access: NEW after 0 tries\n"
    );
    assert_eq!(
        stderr(&again),
        "account no.access already had a pending disable task, task 1: no second task was created; it stays queued for `dcconn retry`\n"
    );
    assert!(harness.sim.requests().is_empty(), "nothing was sent");
    // Without --queue the task there is run.
    let run = dcconn(&harness, "disable", &["--account", "no.access"]);
    assert_success(&run);
    assert_eq!(
        stdout(&run),
        "task 1: disable no.access: COMPLETE after 1 try\n"
    );
    assert_eq!(
        stderr(&run),
        "account no.access already had a pending disable task, task 1: no second task was created; this command attempted it\n"
    );
    assert_eq!(listed_ids(&harness, &[]), vec![1]);

    // A PENDING task is run at once, whatever its next try.
    harness
        .sim
        .inject_fault(Fault::failure_status(LOCK, "Directory busy"));
    let failed = dcconn(
        &harness,
        "disable",
        &["--account", "party.parrot", "--backoff-ms", "600000"],
    );
    assert_eq!(failed.status.code(), Some(5));
    let run = dcconn(&harness, "disable", &["--account", "party.parrot"]);
    assert_success(&run);
    assert_eq!(
        stdout(&run),
        "task 2: disable party.parrot: COMPLETE after 2 tries\n"
    );

    // The other kind is a task of its own, and so is the same kind after it: tasks run in the
    // order they were created, and the account ends as last asked.
    harness.sim.clear_requests();
    for command in ["enable", "disable", "enable", "enable"] {
        assert_success(&dcconn(
            &harness,
            command,
            &["--account", "user000007", "--queue"],
        ));
    }
    assert_eq!(
        task_states(&harness)
            .into_iter()
            .filter(|(_, (account, ..))| account == "user000007")
            .map(|(id, _)| id)
            .collect::<Vec<_>>(),
        vec![3, 4, 5],
        "the second enable in a row was not a task"
    );
    assert_success(&dcconn(&harness, "retry", &[]));
    let operations: Vec<String> = harness
        .sim
        .requests()
        .iter()
        .flat_map(|request| request.operations.clone())
        .map(|operation| operation.name)
        .filter(|name| name.contains("ockUserAccountRq"))
        .collect();
    assert_eq!(
        operations,
        [
            "Security.unlockUserAccountRq",
            LOCK,
            "Security.unlockUserAccountRq"
        ]
    );
    assert_eq!(sim_status(&harness, "user000007"), "Active");
}

#[test]
fn tasks_are_cancelled_unless_a_worker_holds_them_or_they_ended() {
    let harness = imported(20);
    queue(&harness, &["no.access", "party.parrot", "user000007"]);
    let cancelled = harness.dcconn(&["tasks", "cancel", "1"]);
    assert_success(&cancelled);
    assert_eq!(
        stdout(&cancelled),
        "task 1: disable no.access: CANCELLED after 0 tries\n"
    );
    assert_eq!(stderr(&cancelled), "");

    // Task 2's lock is held at the simulator: its worker holds the task.
    harness
        .sim
        .inject_fault(Fault::pause(10).for_operation(LOCK));
    let retry = spawn_retry(&harness, &[]);
    wait_for_held(&harness, 1);
    let output = harness.dcconn(&["tasks", "cancel", "3", "2", "1", "99"]);
    assert_eq!(output.status.code(), Some(BUSY), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "task 3: disable user000007: CANCELLED after 0 tries\n"
    );
    let errors: Vec<String> = stderr(&output).lines().map(str::to_owned).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with("error: task 2 is IN PROGRESS: worker dcconn-")
            && errors[0].ends_with(
                ", and its attempt may be sending its request now; wait until the attempt has ended (see `dcconn tasks`), then try again"
            ),
        "{errors:?}"
    );
    assert_eq!(
        errors[1..],
        [
            "error: task 1 has already ended (CANCELLED): there is nothing left to cancel; see `dcconn tasks`",
            "error: there is no task 99 in the store; see `dcconn tasks`",
        ]
    );
    harness.sim.release_stall();
    let retry = retry.wait_with_output().unwrap();
    assert_success(&retry);
    assert_eq!(
        stdout(&retry),
        "task 2: disable party.parrot: COMPLETE after 1 try\n\
         retry of DuckCreek: 1 attempt, 1 task completed, 0 failed for good\n"
    );
    assert_eq!(locks_per_account(&harness), counts(&[("party.parrot", 1)]));
    assert_eq!(sim_status(&harness, "no.access"), "Active");
    assert_eq!(sim_status(&harness, "user000007"), "Active");

    // A task that ended is refused with a usage error; so is a malformed id.
    let ended = harness.dcconn(&["tasks", "cancel", "2"]);
    assert_failure(
        &ended,
        USAGE,
        &["error: task 2 has already ended (COMPLETE): there is nothing left to cancel"],
    );
    for bad in [
        &["tasks", "cancel"][..],
        &["tasks", "cancel", "x"],
        &["tasks", "cancel", "0"],
    ] {
        assert_eq!(harness.dcconn(bad).status.code(), Some(USAGE), "{bad:?}");
    }

    // Listed: no next try once ended; a cancelled task keeps nothing due.
    let tasks = listed(&harness, &[]);
    let shown: Vec<(i64, &str, &Value)> = tasks
        .iter()
        .map(|task| {
            (
                task["id"].as_i64().unwrap(),
                task["status"].as_str().unwrap(),
                &task["nextTryAt"],
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (3, "CANCELLED", &Value::Null),
            (2, "COMPLETE", &Value::Null),
            (1, "CANCELLED", &Value::Null)
        ]
    );
    let nothing = dcconn(&harness, "retry", &["--due-only"]);
    assert_eq!(
        stdout(&nothing),
        "retry of DuckCreek: 0 attempts, 0 tasks completed, 0 failed for good\n"
    );
}

#[test]
fn tasks_are_listed_by_status_and_account_in_every_format() {
    let harness = imported(20);
    queue(&harness, &["no.access", "party.parrot", "user000007"]);
    assert_success(&harness.dcconn(&["tasks", "cancel", "2"]));
    assert_success(&dcconn(&harness, "disable", &["--account", "user000008"]));
    assert_eq!(listed_ids(&harness, &[]), vec![4, 3, 2, 1]);
    assert_eq!(listed_ids(&harness, &["--status", "new"]), vec![3, 1]);
    assert_eq!(
        listed_ids(&harness, &["--status", "NEW,cancelled"]),
        vec![3, 2, 1]
    );
    assert_eq!(
        listed_ids(&harness, &["--status", "complete", "--status", "Cancelled"]),
        vec![4, 2]
    );
    assert_eq!(
        listed_ids(&harness, &["--status", "PENDING PROVISIONING,failed"]),
        Vec::<i64>::new()
    );
    assert_eq!(
        listed_ids(&harness, &["--account", "party.parrot"]),
        vec![2]
    );
    assert_eq!(
        listed_ids(&harness, &["--account", "party.parrot", "--status", "new"]),
        Vec::<i64>::new()
    );

    let table = harness.dcconn(&["tasks", "--status", "complete"]);
    assert_success(&table);
    let text = stdout(&table);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "TASK  KIND     ACCOUNT     STATUS    TRIES  NEXT TRY  LAST ERROR  COMMENTS"
    );
    assert_eq!(lines[1], "4     disable  user000008  COMPLETE  1/10");
    let csv = harness.dcconn(&["tasks", "--format", "csv", "--account", "user000008"]);
    assert_success(&csv);
    let task = &listed(&harness, &["--account", "user000008"])[0];
    let field = |name: &str| task[name].as_str().unwrap().to_owned();
    assert_eq!(
        stdout(&csv),
        format!(
            "id,endpoint,account,kind,status,tries,maxTries,lastError,createdAt,updatedAt,nextTryAt,leaseOwner,leaseUntil,completedAt,comments,skippedCalls\n\
             4,DuckCreek,user000008,disable,COMPLETE,1,10,,{},{},,,,{},,\n",
            field("createdAt"),
            field("updatedAt"),
            field("completedAt")
        )
    );
    let keys: Vec<&str> = task
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "endpoint",
            "account",
            "kind",
            "status",
            "tries",
            "maxTries",
            "lastError",
            "createdAt",
            "updatedAt",
            "nextTryAt",
            "leaseOwner",
            "leaseUntil",
            "completedAt",
            "comments",
            "skippedCalls"
        ]
    );

    let typo = harness.dcconn(&["tasks", "--status", "pendin"]);
    assert_failure(
        &typo,
        USAGE,
        &[
            "invalid value 'pendin' for '--status <STATUS>'",
            "new, in-progress, pending-provisioning, complete, provisioning-failed, cancelled",
        ],
    );
}

/// `dcconn <command> <connection args> <extra>` with a password Duck Creek refuses.
fn with_wrong_password(harness: &Harness, command: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![command.to_string()];
    args.extend(extra.iter().map(|arg| arg.to_string()));
    args.extend(harness.connection_args(SOAP_PACKAGE));
    harness
        .command(&args)
        .env(PASSWORD_VARIABLE, "not-the-password")
        .output()
        .unwrap()
}

/// What Duck Creek's refusal of the login says when `account`'s disable meets it.
fn refused_login(account: &str) -> String {
    format!(
        "DISABLEACCOUNTJSON call 1 (account \"{account}\"): authentication failed: Session.loginRs answered Failure: Invalid user name or password"
    )
}

#[test]
fn refused_credentials_stop_the_retry_job_at_the_first_task_which_waits() {
    let harness = imported(20);
    queue(&harness, &["no.access", "party.parrot", "user000007"]);
    let output = with_wrong_password(&harness, "retry", &[]);
    let error = refused_login("no.access");
    assert_failure(
        &output,
        AUTHENTICATION,
        &[&format!("error: {error}"), "no other task was attempted"],
    );
    assert!(
        stdout(&output).starts_with(&format!(
            "task 1: disable no.access: PENDING PROVISIONING after 1 try: {error} (next try at "
        )),
        "{}",
        stdout(&output)
    );
    assert_eq!(stdout(&output).lines().count(), 1, "{}", stdout(&output));
    assert_eq!(harness.sim.requests().len(), 1, "one login, refused");
    let states: Vec<(String, u64)> = task_states(&harness)
        .into_values()
        .map(|(_, status, tries)| (status, tries))
        .collect();
    assert_eq!(
        states,
        [
            ("PENDING PROVISIONING".to_string(), 1),
            ("NEW".to_string(), 0),
            ("NEW".to_string(), 0)
        ]
    );
    // Fixed, the next run does the others; the refused task waits for its next try.
    let output = dcconn(&harness, "retry", &["--due-only"]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "task 2: disable party.parrot: COMPLETE after 1 try\n\
         task 3: disable user000007: COMPLETE after 1 try\n\
         retry of DuckCreek: 2 attempts, 2 tasks completed, 0 failed for good\n"
    );
    assert_eq!(
        task_states(&harness)[&1],
        (
            "no.access".to_string(),
            "PENDING PROVISIONING".to_string(),
            1
        )
    );
}

/// `disable` refused by Duck Creek's login still says where its task stands (on stdout, as
/// every task line), then fails with the authentication error.
#[test]
fn a_disable_with_refused_credentials_prints_its_waiting_task() {
    let harness = imported(20);
    let output = with_wrong_password(&harness, "disable", &["no.access"]);
    let error = refused_login("no.access");
    assert_failure(&output, AUTHENTICATION, &[&format!("error: {error}")]);
    let printed = stdout(&output);
    assert!(
        printed.starts_with(&format!(
            "task 1: disable no.access: PENDING PROVISIONING after 1 try: {error} (next try at "
        )),
        "{printed}"
    );
    assert_eq!(printed.lines().count(), 1, "{printed}");
    assert_eq!(
        task_states(&harness)[&1],
        (
            "no.access".to_string(),
            "PENDING PROVISIONING".to_string(),
            1
        )
    );
}

#[test]
fn refused_credentials_wake_and_stop_a_worker_waiting_for_a_later_task() {
    let harness = imported(20);
    // Task 1 is due in 10 to 30 s; task 2 now.
    pending_disable(&harness, "user000007", 20_000);
    queue(&harness, &["no.access"]);
    harness.sim.clear_requests();
    let started = std::time::Instant::now();
    let output = with_wrong_password(&harness, "retry", &["--concurrency", "2"]);
    assert_failure(
        &output,
        AUTHENTICATION,
        &["no.access", "authentication failed"],
    );
    // The other worker, waiting for task 1, stopped at once: task 1 was not tried.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the run took {:?}",
        started.elapsed()
    );
    assert_eq!(harness.sim.requests().len(), 1, "one login, refused");
    assert_eq!(
        task_states(&harness),
        std::collections::BTreeMap::from([
            (
                1,
                (
                    "user000007".to_string(),
                    "PENDING PROVISIONING".to_string(),
                    1
                )
            ),
            (
                2,
                (
                    "no.access".to_string(),
                    "PENDING PROVISIONING".to_string(),
                    1
                )
            ),
        ])
    );
}

/// An enable asked for while the account's disable is still pending waits for it: not
/// attempted, a note names the task it waits for, and the command says it did not complete.
#[test]
fn an_enable_behind_a_pending_disable_says_what_it_waits_for_and_exits_5() {
    let harness = imported(20);
    pending_disable(&harness, "user000007", 600_000);
    harness.sim.clear_requests();
    let waiting = dcconn(&harness, "enable", &["user000007"]);
    assert_eq!(waiting.status.code(), Some(5), "{}", stderr(&waiting));
    assert_eq!(
        stdout(&waiting),
        "task 2: enable user000007: NEW after 0 tries\n"
    );
    assert_eq!(
        stderr(&waiting),
        "task 2 waits for task 1 of user000007 (disable PENDING PROVISIONING): an account's tasks run in the order they were made; `dcconn retry` runs them in turn\n"
    );
    assert!(harness.sim.requests().is_empty(), "nothing was sent");
}
