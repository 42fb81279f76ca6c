//! Tests of provisioning tasks against real SQLite files in temporary folders.

use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::*;
use crate::model::{Account, ImportScope, Reconciliation};
use crate::store::schema;
use crate::store::sql::{later, modifier};

/// A lease long enough never to expire during a test.
const MINUTE: Duration = Duration::from_secs(60);

/// A time long past, as a stopped process's lease or a retry time that has come.
const PAST: &str = "2000-01-01T00:00:00.000Z";

fn s(text: &str) -> String {
    text.to_owned()
}

/// Imports `names` as the accounts of `endpoint` (active, lock unknown).
fn import_accounts(store: &mut Store, endpoint: &str, names: &[&str]) {
    let run = store.begin_run(endpoint, ImportScope::Accounts).unwrap();
    let accounts: Vec<Account> = names
        .iter()
        .map(|name| Account {
            name: s(name),
            columns: vec![(s("name"), s(name))],
            entitlements: Vec::new(),
        })
        .collect();
    store.stage_accounts(run, &accounts).unwrap();
    store.complete_run(run, &Reconciliation::default()).unwrap();
}

/// A store in a fresh temporary folder holding endpoint `prod` with accounts `asmith` and
/// `jdoe`; the folder lives as long as the returned guard.
fn store_with_accounts() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = crate::store::testing::store_path(&dir);
    let mut store = Store::open(&path).unwrap();
    import_accounts(&mut store, "prod", &["asmith", "jdoe"]);
    (dir, path, store)
}

/// The store's clock.
fn now(store: &Store) -> String {
    sql::now(&store.conn).unwrap()
}

/// `time` plus `delay`, by SQLite.
fn plus(store: &Store, time: &str, delay: Duration) -> String {
    later(&store.conn, time, delay).unwrap()
}

/// Milliseconds from `from` to `to`.
fn millis_between(store: &Store, from: &str, to: &str) -> i64 {
    let sql = match store.conn.backend() {
        db::Backend::Sqlite => {
            "SELECT CAST(round((julianday(?2) - julianday(?1)) * 86400000.0) AS INTEGER)"
        }
        db::Backend::Postgres => {
            "SELECT CAST(round(EXTRACT(EPOCH FROM (CAST(?2 AS timestamptz) - CAST(?1 AS timestamptz))) * 1000) AS BIGINT)"
        }
    };
    store
        .conn
        .query_row(sql, [from, to], |row| row.get(0))
        .unwrap()
}

/// Sets a column of a task directly: what time passing, or a stopped process, leaves behind.
/// Records that `owner`'s attempt at `task` let a request go (what a worker's lease check does
/// right before a request), so that its try counts when its lease runs out.
fn mark_sent(store: &mut Store, task: TaskId, owner: &str) {
    store
        .renew_task_lease(task, owner, Duration::from_millis(1))
        .unwrap();
}

/// `n` account names, `u1` to `un`, imported into `endpoint`.
fn many_accounts(store: &mut Store, endpoint: &str, n: usize) -> Vec<String> {
    let names: Vec<String> = (1..=n).map(|i| format!("u{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    import_accounts(store, endpoint, &refs);
    names
}

fn set(store: &Store, task: i64, column: &str, value: &str) {
    let changed = store
        .conn
        .execute(
            &format!("UPDATE tasks SET {column} = ?2 WHERE id = ?1"),
            crate::store::db::params![task, value],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

/// The account's status and lock.
fn account_state(store: &Store, name: &str) -> (String, Option<bool>) {
    let account = store.account("prod", name).unwrap().unwrap();
    (account.status, account.locked)
}

/// An attempt still in progress.
fn open_attempt(try_number: u32, owner: &str, started_at: &str) -> TaskAttempt {
    TaskAttempt {
        try_number,
        owner: s(owner),
        started_at: s(started_at),
        finished_at: None,
        outcome: None,
        error: None,
        old_status: None,
        new_status: None,
        old_locked: None,
        new_locked: None,
        comments: None,
        skipped_calls: Vec::new(),
    }
}

/// An attempt that ended without changing the account.
fn ended_attempt(
    try_number: u32,
    owner: &str,
    started_at: &str,
    finished_at: &str,
    outcome: AttemptOutcome,
    error: &str,
) -> TaskAttempt {
    TaskAttempt {
        finished_at: Some(s(finished_at)),
        outcome: Some(outcome),
        error: Some(s(error)),
        ..open_attempt(try_number, owner, started_at)
    }
}

/// Polls the store's clock until `time` has passed (at most 5 s).
fn wait_past(store: &Store, time: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.seconds_until(time).unwrap() >= 0.0 {
        assert!(
            Instant::now() < deadline,
            "the store's clock never passed {time}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn create_task_exact_and_refusals() {
    let (_dir, _path, mut store) = store_with_accounts();
    let before = now(&store);
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 5)
        .unwrap();
    let after = now(&store);
    assert!(before <= task.created_at && task.created_at <= after);
    let at = task.created_at.clone();
    assert_eq!(at.len(), "2025-01-01T00:00:00.000Z".len(), "{at}");
    assert!(
        at.ends_with('Z') && &at[10..11] == "T" && &at[19..20] == ".",
        "{at}"
    );
    assert_eq!(
        task,
        Task {
            id: 1,
            endpoint: s("prod"),
            account: s("jdoe"),
            kind: TaskKind::Disable,
            status: TaskStatus::New,
            tries: 0,
            max_tries: 5,
            last_error: None,
            created_at: at.clone(),
            updated_at: at.clone(),
            next_attempt_at: Some(at.clone()),
            lease_owner: None,
            lease_until: None,
            completed_at: None,
            comments: None,
            skipped_calls: Vec::new(),
        }
    );
    assert_eq!(store.task(TaskId(1)).unwrap(), Some(task.clone()));
    assert_eq!(store.task_attempts(TaskId(1)).unwrap(), vec![]);

    for (endpoint, account) in [("prod", "nobody"), ("test", "jdoe"), ("", "jdoe")] {
        let err = store
            .create_task(endpoint, account, TaskKind::Enable, 3)
            .unwrap_err();
        assert!(matches!(err, StoreError::UnknownAccount { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "the store holds no account {account:?} of endpoint {endpoint}: check the name (dcconn accounts --endpoint {endpoint}); an account new in Duck Creek is known after the next import (dcconn import)"
            )
        );
    }
    for max_tries in [0, 21, u32::MAX] {
        let err = store
            .create_task("prod", "jdoe", TaskKind::Enable, max_tries)
            .unwrap_err();
        assert!(
            matches!(err, StoreError::MaxTriesOutOfRange { max_tries: m } if m == max_tries),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("a task may be tried 1 to 20 times, not {max_tries}")
        );
    }
    for (id, max_tries) in [(2, 1), (3, MAX_TRIES)] {
        let task = store
            .create_task("prod", "asmith", TaskKind::Enable, max_tries)
            .unwrap();
        assert_eq!((task.id, task.max_tries), (id, max_tries));
    }
    // Refusals wrote nothing; listing is newest first.
    let ids: Vec<i64> = store.tasks("prod").unwrap().iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![3, 2, 1]);
    assert_eq!(store.tasks("test").unwrap(), vec![]);
}

#[test]
fn claim_once_then_refused_while_leased() {
    let (_dir, path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    let id = TaskId(task.id);
    let claimed = store.claim_task(id, "worker-a", MINUTE).unwrap().unwrap();
    let at = claimed.updated_at.clone();
    assert!(at >= task.updated_at);
    assert_eq!(
        claimed,
        Task {
            status: TaskStatus::InProgress,
            tries: 1,
            updated_at: at.clone(),
            lease_owner: Some(s("worker-a")),
            lease_until: Some(plus(&store, &at, MINUTE)),
            ..task.clone()
        }
    );
    assert_eq!(
        millis_between(&store, &at, claimed.lease_until.as_deref().unwrap()),
        60_000
    );

    // Nobody claims it again while the lease holds, the owner included, in any process.
    assert_eq!(store.claim_task(id, "worker-b", MINUTE).unwrap(), None);
    assert_eq!(store.claim_task(id, "worker-a", MINUTE).unwrap(), None);
    assert_eq!(
        store.claim_due("prod", "worker-b", MINUTE, 10).unwrap(),
        vec![]
    );
    let mut other = Store::open(&path).unwrap();
    assert_eq!(other.claim_task(id, "worker-c", MINUTE).unwrap(), None);
    assert_eq!(
        other.claim_due("prod", "worker-c", MINUTE, 10).unwrap(),
        vec![]
    );

    assert_eq!(store.task(id).unwrap(), Some(claimed));
    assert_eq!(
        store.task_attempts(id).unwrap(),
        vec![open_attempt(1, "worker-a", &at)]
    );

    let err = store
        .claim_task(TaskId(99), "worker-a", MINUTE)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownTask { task: 99 }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "there is no task 99 in the store");
}

#[test]
fn durations_are_exact_to_the_millisecond() {
    for (delay, expected) in [
        (Duration::ZERO, "+0.000 seconds"),
        (Duration::from_nanos(1), "+0.001 seconds"),
        (Duration::from_millis(1), "+0.001 seconds"),
        (Duration::from_micros(1_500), "+0.002 seconds"),
        (Duration::from_millis(1_500), "+1.500 seconds"),
        (Duration::from_millis(59_999), "+59.999 seconds"),
        (Duration::from_secs(60), "+60.000 seconds"),
        (MAX_DELAY, "+31622400.000 seconds"),
    ] {
        assert_eq!(modifier(delay), expected, "{delay:?}");
    }

    let (_dir, _path, mut store) = store_with_accounts();
    assert_eq!(
        plus(&store, "2024-12-31T23:59:59.999Z", Duration::from_millis(1)),
        "2025-01-01T00:00:00.000Z"
    );
    assert_eq!(
        plus(
            &store,
            "2024-02-28T23:59:59.500Z",
            Duration::from_millis(86_400_500)
        ),
        "2024-03-01T00:00:00.000Z"
    );
    for (round, (lease, millis)) in [
        (Duration::from_nanos(1), 1),
        (Duration::from_millis(1), 1),
        (Duration::from_micros(1_500), 2),
        (Duration::from_millis(1_500), 1_500),
        (
            Duration::from_secs(3_600) + Duration::from_millis(1),
            3_600_001,
        ),
        (MAX_DELAY, 31_622_400_000),
    ]
    .into_iter()
    .enumerate()
    {
        // Each on an account of its own: a claimed task holds up its account's later ones.
        let account = format!("u{round}");
        import_accounts(&mut store, "prod", &["asmith", "jdoe", &account]);
        let task = store
            .create_task("prod", &account, TaskKind::Enable, 1)
            .unwrap();
        let claimed = store
            .claim_task(TaskId(task.id), "worker", lease)
            .unwrap()
            .unwrap();
        let until = claimed.lease_until.unwrap();
        assert_eq!(
            millis_between(&store, &claimed.updated_at, &until),
            millis,
            "{lease:?}"
        );
    }

    let task = store
        .create_task("prod", "jdoe", TaskKind::Enable, 1)
        .unwrap();
    let id = TaskId(task.id);
    let too_long = MAX_DELAY + Duration::from_millis(1);
    for (lease, shown) in [(Duration::ZERO, "0ns"), (too_long, "31622400.001s")] {
        let expected = format!(
            "a lease of {shown} is out of range; it must be longer than zero and at most 366 days"
        );
        let err = store.claim_task(id, "worker", lease).unwrap_err();
        assert!(matches!(err, StoreError::DelayOutOfRange { .. }), "{err:?}");
        assert_eq!(err.to_string(), expected);
        let err = store.claim_due("prod", "worker", lease, 1).unwrap_err();
        assert_eq!(err.to_string(), expected);
    }
    let claimed = store.claim_task(id, "worker", MINUTE).unwrap().unwrap();
    let err = store
        .fail_attempt(id, "worker", "boom", Some(too_long))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "a retry delay of 31622400.001s is out of range; it must be at most 366 days"
    );
    // Refused before anything was written.
    assert_eq!(store.task(id).unwrap(), Some(claimed));
}

#[test]
fn two_stores_racing_claim_due_claim_each_task_exactly_once() {
    let (_dir, path, mut store) = store_with_accounts();
    let count = 60;
    for account in many_accounts(&mut store, "prod", count as usize) {
        store
            .create_task("prod", &account, TaskKind::Disable, 3)
            .unwrap();
    }
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = ["worker-a", "worker-b"]
        .into_iter()
        .map(|owner| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                barrier.wait();
                let mut claimed = Vec::new();
                loop {
                    let batch = store.claim_due("prod", owner, MINUTE, 2).unwrap();
                    if batch.is_empty() {
                        return claimed;
                    }
                    for task in batch {
                        assert_eq!(task.lease_owner.as_deref(), Some(owner));
                        assert_eq!(task.tries, 1);
                        claimed.push(task.id);
                    }
                    // Let the other store in between batches: SQLite's busy handler sleeps.
                    thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();
    let claims: Vec<Vec<i64>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let mut all: Vec<i64> = claims.concat();
    all.sort_unstable();
    assert_eq!(all, (1..=count).collect::<Vec<i64>>());
    for (owner, ids) in ["worker-a", "worker-b"].into_iter().zip(&claims) {
        for &id in ids {
            let task = store.task(TaskId(id)).unwrap().unwrap();
            assert_eq!(
                (task.status, task.tries, task.lease_owner.as_deref()),
                (TaskStatus::InProgress, 1, Some(owner))
            );
            assert_eq!(
                store.task_attempts(TaskId(id)).unwrap(),
                vec![open_attempt(1, owner, &task.updated_at)]
            );
        }
    }
}

#[test]
fn two_stores_racing_claim_task_for_the_same_task_claim_it_once() {
    let (_dir, path, mut store) = store_with_accounts();
    let count = 30;
    for account in many_accounts(&mut store, "prod", count as usize) {
        store
            .create_task("prod", &account, TaskKind::Enable, 3)
            .unwrap();
    }
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = ["worker-a", "worker-b"]
        .into_iter()
        .map(|owner| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                let mut claimed = Vec::new();
                for id in 1..=count {
                    barrier.wait();
                    if store
                        .claim_task(TaskId(id), owner, MINUTE)
                        .unwrap()
                        .is_some()
                    {
                        claimed.push(id);
                    }
                }
                claimed
            })
        })
        .collect();
    let claims: Vec<Vec<i64>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let mut all = claims.concat();
    all.sort_unstable();
    assert_eq!(all, (1..=count).collect::<Vec<i64>>());
    for id in 1..=count {
        assert_eq!(store.task_attempts(TaskId(id)).unwrap().len(), 1);
    }
}

#[test]
fn an_expired_lease_is_claimable_again_and_counted() {
    let (_dir, path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let id = TaskId(task.id);
    store
        .claim_task(id, "worker-a", Duration::from_millis(1))
        .unwrap()
        .unwrap();
    mark_sent(&mut store, id, "worker-a");
    let first = store.task(id).unwrap().unwrap();
    let first_until = first.lease_until.clone().unwrap();
    assert_eq!(store.next_due("prod").unwrap(), Some(first_until.clone()));
    wait_past(&store, &first_until);

    // Worker a stopped; another process takes the task over.
    let mut other = Store::open(&path).unwrap();
    let second = other.claim_task(id, "worker-b", MINUTE).unwrap().unwrap();
    mark_sent(&mut other, id, "worker-b");
    assert_eq!(
        (
            second.status,
            second.tries,
            second.lease_owner.as_deref(),
            second.last_error.as_deref()
        ),
        (TaskStatus::InProgress, 2, Some("worker-b"), Some(EXPIRED))
    );
    assert_eq!(
        store.task_attempts(id).unwrap(),
        vec![
            ended_attempt(
                1,
                "worker-a",
                &first.updated_at,
                &second.updated_at,
                AttemptOutcome::Expired,
                EXPIRED
            ),
            open_attempt(2, "worker-b", &second.updated_at),
        ]
    );

    // Worker a's late reports are refused and change nothing.
    for err in [
        store.complete_task(id, "worker-a").unwrap_err(),
        store
            .fail_attempt(id, "worker-a", "late", Some(MINUTE))
            .unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::LeaseLost { task: 1 }), "{err:?}");
    }
    assert_eq!(store.task(id).unwrap(), Some(second.clone()));

    // The same through claim_due, the lease left in the past as a stopped process leaves it.
    set(&store, id.0, "lease_until", PAST);
    assert_eq!(store.next_due("prod").unwrap(), Some(s(PAST)));
    let third = store.claim_due("prod", "worker-c", MINUTE, 10).unwrap();
    assert_eq!(third.len(), 1);
    let third = third.into_iter().next().unwrap();
    assert_eq!((third.id, third.tries), (1, 3));
    mark_sent(&mut store, id, "worker-c");

    // That was the last try: once it expires too, the task ends instead of being claimed.
    set(&store, id.0, "lease_until", PAST);
    assert_eq!(
        store.claim_due("prod", "worker-d", MINUTE, 10).unwrap(),
        vec![]
    );
    let ended = store.task(id).unwrap().unwrap();
    assert_eq!(
        ended,
        Task {
            status: TaskStatus::ProvisioningFailed,
            tries: 3,
            last_error: Some(s(EXPIRED)),
            updated_at: ended.updated_at.clone(),
            next_attempt_at: None,
            lease_owner: None,
            lease_until: None,
            ..third.clone()
        }
    );
    assert_eq!(
        store.task_attempts(id).unwrap(),
        vec![
            ended_attempt(
                1,
                "worker-a",
                &first.updated_at,
                &second.updated_at,
                AttemptOutcome::Expired,
                EXPIRED
            ),
            ended_attempt(
                2,
                "worker-b",
                &second.updated_at,
                &third.updated_at,
                AttemptOutcome::Expired,
                EXPIRED
            ),
            ended_attempt(
                3,
                "worker-c",
                &third.updated_at,
                &ended.updated_at,
                AttemptOutcome::Expired,
                EXPIRED
            ),
        ]
    );
    assert_eq!(store.claim_task(id, "worker-d", MINUTE).unwrap(), None);
    assert_eq!(store.next_due("prod").unwrap(), None);
    assert_eq!(account_state(&store, "jdoe"), (s(ACTIVE), None));
}

#[test]
fn an_expired_last_try_ends_the_task_when_claimed_directly() {
    let (_dir, _path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Enable, 1)
        .unwrap();
    let id = TaskId(task.id);
    let claimed = store.claim_task(id, "worker-a", MINUTE).unwrap().unwrap();
    mark_sent(&mut store, id, "worker-a");
    set(&store, id.0, "lease_until", PAST);
    assert_eq!(store.claim_task(id, "worker-b", MINUTE).unwrap(), None);
    let ended = store.task(id).unwrap().unwrap();
    assert_eq!(
        (ended.status, ended.tries, ended.lease_owner),
        (TaskStatus::ProvisioningFailed, 1, None)
    );
    assert_eq!(
        store.task_attempts(id).unwrap(),
        vec![ended_attempt(
            1,
            "worker-a",
            &claimed.updated_at,
            &ended.updated_at,
            AttemptOutcome::Expired,
            EXPIRED
        )]
    );
}

#[test]
fn a_completion_keeps_comments_skipped_calls_and_column_updates_in_the_history() {
    let (_dir, _path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let id = TaskId(task.id);
    store.claim_task(id, "worker", MINUTE).unwrap().unwrap();
    let completion = Completion {
        comments: Some(s("User jdoe locked")),
        // `NAME` matches the stored `name` column without regard to case: same value, no change.
        account_updates: vec![
            (s("accountID"), s("42")),
            (s("NAME"), s("jdoe")),
            (s("customproperty5"), s("x")),
        ],
        skipped_calls: vec![2],
    };
    let done = store.complete_task_with(id, "worker", &completion).unwrap();
    assert_eq!(done.comments.as_deref(), Some("User jdoe locked"));
    assert_eq!(done.skipped_calls, vec![2]);
    assert_eq!(store.task(id).unwrap().unwrap().comments, done.comments);
    let attempts = store.task_attempts(id).unwrap();
    assert_eq!(
        (
            attempts[0].comments.as_deref(),
            attempts[0].skipped_calls.clone()
        ),
        (Some("User jdoe locked"), vec![2])
    );
    let account = store.account("prod", "jdoe").unwrap().unwrap();
    assert_eq!(
        account.columns,
        vec![
            (s("name"), s("jdoe")),
            (s("accountID"), s("42")),
            (s("customproperty5"), s("x"))
        ]
    );
    let at = done.completed_at.clone().unwrap();
    let change = |column: &str, old: Option<&str>, new: &str| TaskChange {
        task_id: task.id,
        try_number: 1,
        at: at.clone(),
        column: s(column),
        old: old.map(s),
        new: s(new),
    };
    assert_eq!(
        store.task_changes("prod", "jdoe").unwrap(),
        vec![
            change("status", Some(ACTIVE), INACTIVE),
            change("locked", None, "yes"),
            change("accountID", None, "42"),
            change("customproperty5", None, "x"),
        ]
    );
    assert_eq!(
        store
            .account_record("prod", "jdoe")
            .unwrap()
            .unwrap()
            .provisioned,
        store.task_changes("prod", "jdoe").unwrap()
    );
    assert_eq!(store.task_changes("prod", "asmith").unwrap(), Vec::new());
}

#[test]
fn complete_updates_the_account() {
    let (_dir, _path, mut store) = store_with_accounts();
    assert_eq!(account_state(&store, "jdoe"), (s(ACTIVE), None));
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let id = TaskId(task.id);
    let claimed = store.claim_task(id, "worker", MINUTE).unwrap().unwrap();
    let done = store.complete_task(id, "worker").unwrap();
    let at = done.updated_at.clone();
    assert_eq!(
        done,
        Task {
            status: TaskStatus::Complete,
            updated_at: at.clone(),
            next_attempt_at: None,
            lease_owner: None,
            lease_until: None,
            completed_at: Some(at.clone()),
            comments: None,
            skipped_calls: Vec::new(),
            ..claimed.clone()
        }
    );
    assert_eq!(account_state(&store, "jdoe"), (s(INACTIVE), Some(true)));
    assert!(store.account("prod", "jdoe").unwrap().unwrap().present);
    let updated_at: String = store
        .conn
        .query_row(
            "SELECT updated_at FROM accounts WHERE name = 'jdoe'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(updated_at, at);
    assert_eq!(account_state(&store, "asmith"), (s(ACTIVE), None));
    assert_eq!(
        store.task_attempts(id).unwrap(),
        vec![TaskAttempt {
            finished_at: Some(at.clone()),
            outcome: Some(AttemptOutcome::Complete),
            old_status: Some(s(ACTIVE)),
            new_status: Some(s(INACTIVE)),
            old_locked: None,
            new_locked: Some(true),
            comments: None,
            skipped_calls: Vec::new(),
            ..open_attempt(1, "worker", &claimed.updated_at)
        }]
    );
    // Ended: no second report, no claim.
    let err = store.complete_task(id, "worker").unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { task: 1 }), "{err:?}");
    assert_eq!(store.claim_task(id, "worker", MINUTE).unwrap(), None);

    let task = store
        .create_task("prod", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    let id = TaskId(task.id);
    let claimed = store.claim_task(id, "worker", MINUTE).unwrap().unwrap();
    let done = store.complete_task(id, "worker").unwrap();
    assert_eq!(done.status, TaskStatus::Complete);
    assert_eq!(account_state(&store, "jdoe"), (s(ACTIVE), Some(false)));
    assert_eq!(
        store.task_attempts(id).unwrap(),
        vec![TaskAttempt {
            finished_at: Some(done.updated_at.clone()),
            outcome: Some(AttemptOutcome::Complete),
            old_status: Some(s(INACTIVE)),
            new_status: Some(s(ACTIVE)),
            old_locked: Some(true),
            new_locked: Some(false),
            comments: None,
            skipped_calls: Vec::new(),
            ..open_attempt(1, "worker", &claimed.updated_at)
        }]
    );
}

#[test]
fn fail_with_retry_is_pending_and_not_due_until_next_attempt() {
    let (_dir, _path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    let id = TaskId(task.id);
    let claimed = store.claim_due("prod", "worker", MINUTE, 10).unwrap();
    assert_eq!(claimed.len(), 1);
    let claimed = claimed.into_iter().next().unwrap();
    let delay = Duration::from_secs(600);
    let failed = store
        .fail_attempt(id, "worker", "HTTP 503 from Duck Creek", Some(delay))
        .unwrap();
    let at = failed.updated_at.clone();
    assert_eq!(
        failed,
        Task {
            status: TaskStatus::PendingProvisioning,
            last_error: Some(s("HTTP 503 from Duck Creek")),
            updated_at: at.clone(),
            next_attempt_at: Some(plus(&store, &at, delay)),
            lease_owner: None,
            lease_until: None,
            ..claimed.clone()
        }
    );
    let next = failed.next_attempt_at.clone().unwrap();
    assert_eq!(millis_between(&store, &at, &next), 600_000);
    assert_eq!(account_state(&store, "jdoe"), (s(ACTIVE), None));

    // Not due until its time.
    assert_eq!(
        store.claim_due("prod", "worker", MINUTE, 10).unwrap(),
        vec![]
    );
    assert_eq!(store.next_due("prod").unwrap(), Some(next.clone()));
    let wait = store.seconds_until(&next).unwrap();
    assert!(wait > 590.0 && wait <= 600.0, "{wait}");
    assert_eq!(store.task(id).unwrap(), Some(failed.clone()));

    // Due once the time has come.
    set(&store, id.0, "next_attempt_at", PAST);
    assert_eq!(store.next_due("prod").unwrap(), Some(s(PAST)));
    let again = store.claim_due("prod", "worker-2", MINUTE, 10).unwrap();
    assert_eq!(again.len(), 1);
    let again = again.into_iter().next().unwrap();
    assert_eq!(
        (again.status, again.tries, again.last_error.as_deref()),
        (TaskStatus::InProgress, 2, Some("HTTP 503 from Duck Creek"))
    );
    assert_eq!(
        store.task_attempts(id).unwrap(),
        vec![
            ended_attempt(
                1,
                "worker",
                &claimed.updated_at,
                &at,
                AttemptOutcome::Failed,
                "HTTP 503 from Duck Creek"
            ),
            open_attempt(2, "worker-2", &again.updated_at),
        ]
    );

    // claim_task takes a pending task at once, whatever its due time.
    let failed = store
        .fail_attempt(id, "worker-2", "timeout", Some(delay))
        .unwrap();
    assert_eq!(failed.status, TaskStatus::PendingProvisioning);
    let third = store.claim_task(id, "worker-3", MINUTE).unwrap().unwrap();
    assert_eq!(third.tries, 3);
}

#[test]
fn the_last_try_fails_for_good_even_with_retry_after() {
    let (_dir, _path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 2)
        .unwrap();
    let id = TaskId(task.id);
    let first = store.claim_task(id, "worker", MINUTE).unwrap().unwrap();
    let pending = store
        .fail_attempt(id, "worker", "first", Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(pending.status, TaskStatus::PendingProvisioning);
    set(&store, id.0, "next_attempt_at", PAST);
    let second = store.claim_due("prod", "worker", MINUTE, 10).unwrap();
    assert_eq!(second.len(), 1);
    let second = second.into_iter().next().unwrap();
    assert_eq!(second.tries, 2);
    let ended = store
        .fail_attempt(id, "worker", "second", Some(Duration::from_secs(1)))
        .unwrap();
    assert_eq!(
        ended,
        Task {
            status: TaskStatus::ProvisioningFailed,
            last_error: Some(s("second")),
            updated_at: ended.updated_at.clone(),
            next_attempt_at: None,
            lease_owner: None,
            lease_until: None,
            ..second.clone()
        }
    );
    // An ended task is due never again.
    assert_eq!(ended.next_attempt_at, None);
    assert_eq!(
        store.task_attempts(id).unwrap(),
        vec![
            ended_attempt(
                1,
                "worker",
                &first.updated_at,
                &pending.updated_at,
                AttemptOutcome::Failed,
                "first"
            ),
            ended_attempt(
                2,
                "worker",
                &second.updated_at,
                &ended.updated_at,
                AttemptOutcome::Failed,
                "second"
            ),
        ]
    );
    assert_eq!(store.claim_task(id, "worker", MINUTE).unwrap(), None);
    assert_eq!(
        store.claim_due("prod", "worker", MINUTE, 10).unwrap(),
        vec![]
    );
    assert_eq!(store.next_due("prod").unwrap(), None);
    assert_eq!(account_state(&store, "jdoe"), (s(ACTIVE), None));

    // Without retry_after a failure is final at once, tries left or not.
    let task = store
        .create_task("prod", "asmith", TaskKind::Enable, 5)
        .unwrap();
    let id = TaskId(task.id);
    store.claim_task(id, "worker", MINUTE).unwrap().unwrap();
    let ended = store.fail_attempt(id, "worker", "refused", None).unwrap();
    assert_eq!(
        (ended.status, ended.tries, ended.next_attempt_at),
        (TaskStatus::ProvisioningFailed, 1, None)
    );
}

#[test]
fn only_the_lease_owner_reports() {
    let (_dir, _path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let id = TaskId(task.id);
    let lost = "task 1 is not leased to this worker (its lease expired and it was claimed again, or it has ended); this attempt's result was not recorded";
    // Never claimed.
    for err in [
        store.complete_task(id, "worker-a").unwrap_err(),
        store.fail_attempt(id, "worker-a", "x", None).unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::LeaseLost { task: 1 }), "{err:?}");
        assert_eq!(err.to_string(), lost);
    }
    let claimed = store.claim_task(id, "worker-a", MINUTE).unwrap().unwrap();
    for err in [
        store.complete_task(id, "worker-b").unwrap_err(),
        store
            .fail_attempt(id, "worker-b", "x", Some(MINUTE))
            .unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::LeaseLost { task: 1 }), "{err:?}");
        assert_eq!(err.to_string(), lost);
    }
    assert_eq!(store.task(id).unwrap(), Some(claimed.clone()));
    assert_eq!(
        store.task_attempts(id).unwrap(),
        vec![open_attempt(1, "worker-a", &claimed.updated_at)]
    );
    assert_eq!(account_state(&store, "jdoe"), (s(ACTIVE), None));

    let unknown = TaskId(42);
    for err in [
        store.complete_task(unknown, "worker-a").unwrap_err(),
        store
            .fail_attempt(unknown, "worker-a", "x", None)
            .unwrap_err(),
        store.task_attempts(unknown).unwrap_err(),
    ] {
        assert!(
            matches!(err, StoreError::UnknownTask { task: 42 }),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "there is no task 42 in the store");
    }
    assert_eq!(store.task(unknown).unwrap(), None);

    // An owner whose lease ran out still reports while nobody took the task over.
    set(&store, id.0, "lease_until", PAST);
    let done = store.complete_task(id, "worker-a").unwrap();
    assert_eq!(done.status, TaskStatus::Complete);
    assert_eq!(account_state(&store, "jdoe"), (s(INACTIVE), Some(true)));
}

#[test]
fn claim_due_takes_the_oldest_first_up_to_the_limit() {
    let (_dir, _path, mut store) = store_with_accounts();
    import_accounts(&mut store, "test", &["jdoe"]);
    let accounts = many_accounts(&mut store, "prod", 5);
    let mut prod = accounts.iter();
    for endpoint in ["prod", "test", "prod", "prod", "prod", "prod"] {
        let account = match endpoint {
            "prod" => prod.next().unwrap().as_str(),
            _ => "jdoe",
        };
        store
            .create_task(endpoint, account, TaskKind::Enable, 3)
            .unwrap();
    }
    let ids = |tasks: Vec<Task>| -> Vec<i64> { tasks.into_iter().map(|t| t.id).collect() };
    assert_eq!(
        ids(store.claim_due("prod", "w", MINUTE, 0).unwrap()),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(store.claim_due("prod", "w", MINUTE, 2).unwrap()),
        vec![1, 3]
    );
    assert_eq!(
        ids(store.claim_due("prod", "w", MINUTE, 10).unwrap()),
        vec![4, 5, 6]
    );
    assert_eq!(
        ids(store.claim_due("prod", "w", MINUTE, 10).unwrap()),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(store.claim_due("test", "w", MINUTE, 10).unwrap()),
        vec![2]
    );
    assert_eq!(
        ids(store.claim_due("nowhere", "w", MINUTE, 10).unwrap()),
        Vec::<i64>::new()
    );
}

#[test]
fn listing_and_next_due() {
    let (_dir, _path, mut store) = store_with_accounts();
    import_accounts(&mut store, "test", &["jdoe"]);
    assert_eq!(store.next_due("prod").unwrap(), None);
    let one = store
        .create_task("prod", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    let two = store
        .create_task("test", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    let three = store
        .create_task("prod", "asmith", TaskKind::Disable, 3)
        .unwrap();
    assert_eq!(
        store.tasks("prod").unwrap(),
        vec![three.clone(), one.clone()]
    );
    assert_eq!(store.tasks("test").unwrap(), vec![two.clone()]);
    assert_eq!(store.tasks("nowhere").unwrap(), vec![]);
    assert_eq!(store.next_due("nowhere").unwrap(), None);

    assert_eq!(store.next_due("prod").unwrap(), one.next_attempt_at.clone());
    let one = store
        .claim_task(TaskId(one.id), "w", MINUTE)
        .unwrap()
        .unwrap();
    assert_eq!(
        store.next_due("prod").unwrap(),
        three.next_attempt_at.clone()
    );
    store
        .claim_task(TaskId(three.id), "w", Duration::from_secs(120))
        .unwrap()
        .unwrap();
    assert_eq!(store.next_due("prod").unwrap(), one.lease_until.clone());
    store.complete_task(TaskId(one.id), "w").unwrap();
    store
        .fail_attempt(TaskId(three.id), "w", "no", None)
        .unwrap();
    assert_eq!(store.next_due("prod").unwrap(), None);
    assert_eq!(store.next_due("test").unwrap(), two.next_attempt_at);
}

#[test]
fn seconds_until_uses_the_store_clock() {
    let (_dir, _path, store) = store_with_accounts();
    let at = plus(&store, &now(&store), Duration::from_secs(10));
    let wait = store.seconds_until(&at).unwrap();
    assert!(wait > 9.0 && wait <= 10.0, "{wait}");
    assert!(store.seconds_until(PAST).unwrap() < 0.0);
    let err = store.seconds_until("soon").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn a_dry_run_rolls_tasks_back() {
    let (_dir, _path, mut store) = store_with_accounts();
    store.begin_dry_run().unwrap();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    store
        .claim_task(TaskId(task.id), "w", MINUTE)
        .unwrap()
        .unwrap();
    store.complete_task(TaskId(task.id), "w").unwrap();
    assert_eq!(account_state(&store, "jdoe"), (s(INACTIVE), Some(true)));
    store.end_dry_run().unwrap();
    assert_eq!(store.tasks("prod").unwrap(), vec![]);
    assert_eq!(account_state(&store, "jdoe"), (s(ACTIVE), None));
}

#[test]
fn names_and_json() {
    for (kind, text) in [(TaskKind::Enable, "enable"), (TaskKind::Disable, "disable")] {
        assert_eq!(kind.to_string(), text);
        assert_eq!(text.parse::<TaskKind>().unwrap(), kind);
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{text}\""));
    }
    let err = "Enable".parse::<TaskKind>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown task kind \"Enable\"; expected enable or disable"
    );
    for (status, text) in [
        (TaskStatus::New, "NEW"),
        (TaskStatus::InProgress, "IN PROGRESS"),
        (TaskStatus::PendingProvisioning, "PENDING PROVISIONING"),
        (TaskStatus::Complete, "COMPLETE"),
        (TaskStatus::ProvisioningFailed, "PROVISIONING FAILED"),
        (TaskStatus::Cancelled, "CANCELLED"),
    ] {
        assert_eq!(status.to_string(), text);
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            format!("\"{text}\"")
        );
        assert_eq!(
            status.is_final(),
            matches!(text, "COMPLETE" | "PROVISIONING FAILED" | "CANCELLED")
        );
    }
    for (outcome, text) in [
        (AttemptOutcome::Complete, "complete"),
        (AttemptOutcome::Failed, "failed"),
        (AttemptOutcome::Expired, "expired"),
    ] {
        assert_eq!(outcome.to_string(), text);
        assert_eq!(
            serde_json::to_string(&outcome).unwrap(),
            format!("\"{text}\"")
        );
    }
    assert_eq!(TaskId(7).to_string(), "7");
    let task = Task {
        id: 7,
        endpoint: s("prod"),
        account: s("jdoe"),
        kind: TaskKind::Disable,
        status: TaskStatus::PendingProvisioning,
        tries: 1,
        max_tries: 3,
        last_error: Some(s("boom")),
        created_at: s("t0"),
        updated_at: s("t1"),
        next_attempt_at: Some(s("t2")),
        lease_owner: None,
        lease_until: None,
        completed_at: None,
        comments: None,
        skipped_calls: Vec::new(),
    };
    assert_eq!(
        serde_json::to_string(&task).unwrap(),
        r#"{"id":7,"endpoint":"prod","account":"jdoe","kind":"disable","status":"PENDING PROVISIONING","tries":1,"maxTries":3,"lastError":"boom","createdAt":"t0","updatedAt":"t1","nextTryAt":"t2","leaseOwner":null,"leaseUntil":null,"completedAt":null,"comments":null,"skippedCalls":[]}"#
    );
}

#[test]
fn unreadable_task_rows_are_reported_not_panicked_on() {
    let (_dir, _path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let unchecked_update = match store.conn.backend() {
        db::Backend::Sqlite => {
            "PRAGMA ignore_check_constraints = ON;
             UPDATE tasks SET status = 'DISCONTINUE';
             PRAGMA ignore_check_constraints = OFF;"
        }
        db::Backend::Postgres => {
            "ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
             UPDATE tasks SET status = 'DISCONTINUE';"
        }
    };
    store.conn.execute_batch(unchecked_update).unwrap();
    let err = store.task(TaskId(task.id)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the store holds unreadable data in the status of task 1: unknown status \"DISCONTINUE\"; was the file changed by another program?"
    );
    assert!(store.tasks("prod").is_err());
}

#[test]
fn a_version_2_store_is_migrated() {
    assert_eq!(schema::VERSION, 9);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        assert!(matches!(
            schema::migrate_to(&mut conn, 2).unwrap(),
            schema::Migration::Current
        ));
        conn.execute_batch(
            r#"
            INSERT INTO endpoints (id, name) VALUES (1, 'prod');
            INSERT INTO runs (id, endpoint_id, kind, scope, started_at, finished_at, outcome,
                              accounts, new_accounts)
            VALUES (1, 1, 'import', 'accounts', 't0', 't1', 'succeeded', 1, 1);
            INSERT INTO accounts (endpoint_id, name, columns, status, first_seen_run,
                                  last_seen_run, updated_at, present, locked)
            VALUES (1, 'jdoe', '[["name","jdoe"]]', 'inactive', 1, 1, 't1', 1, 1);
            "#,
        )
        .unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name IN ('tasks', 'task_attempts')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }
    let mut store = Store::open(&path).unwrap();
    let pragma = |store: &Store, name: &str| -> i64 {
        store
            .conn
            .as_sqlite()
            .unwrap()
            .pragma_query_value(None, name, |r| r.get(0))
            .unwrap()
    };
    assert_eq!(pragma(&store, "user_version"), schema::VERSION);
    assert_eq!(pragma(&store, "foreign_keys"), 1);
    let parents = |table: &str| -> Vec<String> {
        store
            .conn
            .prepare(&format!(
                "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list('{table}') ORDER BY 1"
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(parents("tasks"), vec![s("accounts"), s("endpoints")]);
    assert_eq!(parents("task_attempts"), vec![s("tasks")]);
    assert_eq!(parents("task_changes"), vec![s("task_attempts")]);
    // What was there is intact.
    assert_eq!(account_state(&store, "jdoe"), (s(INACTIVE), Some(true)));
    assert_eq!(store.runs("prod").unwrap().len(), 1);

    // The new tables work, and their constraints hold.
    let task = store
        .create_task("prod", "jdoe", TaskKind::Enable, 2)
        .unwrap();
    let id = TaskId(task.id);
    store.claim_task(id, "w", MINUTE).unwrap().unwrap();
    store.complete_task(id, "w").unwrap();
    assert_eq!(account_state(&store, "jdoe"), (s(ACTIVE), Some(false)));
    for statement in [
        "UPDATE tasks SET status = 'DISCONTINUE'",
        "UPDATE tasks SET tries = 3",
        "UPDATE tasks SET status = 'IN PROGRESS', completed_at = NULL",
        "UPDATE tasks SET lease_until = 'x'",
        "UPDATE task_attempts SET outcome = 'lost'",
        "UPDATE task_attempts SET finished_at = NULL",
        "INSERT INTO tasks (endpoint_id, account, kind, status, max_tries, created_at, updated_at,
                            next_attempt_at)
         VALUES (1, 'nobody', 'enable', 'NEW', 1, 't', 't', 't')",
        "INSERT INTO tasks (endpoint_id, account, kind, status, max_tries, created_at, updated_at,
                            next_attempt_at)
         VALUES (1, 'jdoe', 'enable', 'NEW', 21, 't', 't', 't')",
    ] {
        assert!(store.conn.execute(statement, []).is_err(), "{statement}");
    }
    drop(store);
    // Opening again migrates nothing.
    let store = Store::open(&path).unwrap();
    assert_eq!(pragma(&store, "user_version"), schema::VERSION);
    assert_eq!(store.tasks("prod").unwrap().len(), 1);
}

#[test]
fn a_lease_is_renewed_by_its_owner_only_and_never_shortened() {
    let (_dir, path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let id = TaskId(task.id);
    let lost = |err: StoreError| matches!(err, StoreError::LeaseLost { task } if task == id.0);
    // Never claimed: nothing to renew.
    assert!(lost(store.renew_task_lease(id, "w", MINUTE).unwrap_err()));

    let claimed = store.claim_task(id, "w", MINUTE).unwrap().unwrap();
    let before = now(&store);
    let until = store
        .renew_task_lease(id, "w", Duration::from_secs(120))
        .unwrap();
    let after = now(&store);
    assert!(
        plus(&store, &before, Duration::from_secs(120)) <= until
            && until <= plus(&store, &after, Duration::from_secs(120)),
        "{before} .. {until} .. {after}"
    );
    // A shorter renewal keeps the longer lease.
    assert_eq!(
        store
            .renew_task_lease(id, "w", Duration::from_millis(1))
            .unwrap(),
        until
    );
    let task_now = store.task(id).unwrap().unwrap();
    assert_eq!(
        (task_now.lease_until.as_deref(), task_now.tries),
        (Some(until.as_str()), 1)
    );
    assert_eq!(
        task_now.updated_at, claimed.updated_at,
        "a renewal is no change"
    );
    // Another worker, in this process or another, cannot renew it.
    assert!(lost(store.renew_task_lease(id, "v", MINUTE).unwrap_err()));
    let mut other = Store::open(&path).unwrap();
    assert!(lost(other.renew_task_lease(id, "v", MINUTE).unwrap_err()));
    assert!(matches!(
        store.renew_task_lease(id, "w", Duration::ZERO).unwrap_err(),
        StoreError::DelayOutOfRange { .. }
    ));

    // Expired but claimed by nobody: the owner still holds it, and renews it.
    set(&store, id.0, "lease_until", PAST);
    let renewed = store.renew_task_lease(id, "w", MINUTE).unwrap();
    assert!(renewed > now(&store));
    // Expired and claimed by another: lost for good, whatever the first owner does.
    set(&store, id.0, "lease_until", PAST);
    other.claim_task(id, "v", MINUTE).unwrap().unwrap();
    assert!(lost(store.renew_task_lease(id, "w", MINUTE).unwrap_err()));
    other.renew_task_lease(id, "v", MINUTE).unwrap();
    // Ended: nobody renews it.
    other.complete_task(id, "v").unwrap();
    assert!(lost(other.renew_task_lease(id, "v", MINUTE).unwrap_err()));
}

#[test]
fn next_unheld_due_leaves_out_the_tasks_workers_hold() {
    let (_dir, _path, mut store) = store_with_accounts();
    assert_eq!(store.next_unheld_due("prod").unwrap(), None);
    let one = store
        .create_task("prod", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    let two = store
        .create_task("prod", "asmith", TaskKind::Disable, 1)
        .unwrap();
    // The task waited for, and when.
    let next = |task: &Task| NextDue {
        task: TaskId(task.id),
        at: task.next_attempt_at.clone().unwrap(),
    };
    assert_eq!(store.next_unheld_due("prod").unwrap(), Some(next(&one)));
    store
        .claim_task(TaskId(one.id), "w", MINUTE)
        .unwrap()
        .unwrap();
    assert_eq!(store.next_unheld_due("prod").unwrap(), Some(next(&two)));
    store
        .claim_task(TaskId(two.id), "v", MINUTE)
        .unwrap()
        .unwrap();
    // Both held: nothing to wait for, though next_due names the first lease's end.
    assert_eq!(store.next_unheld_due("prod").unwrap(), None);
    assert!(store.next_due("prod").unwrap().is_some());
    let pending = store
        .fail_attempt(TaskId(one.id), "w", "down", Some(MINUTE))
        .unwrap();
    assert_eq!(store.next_unheld_due("prod").unwrap(), Some(next(&pending)));
    assert_eq!(store.next_unheld_due("nowhere").unwrap(), None);
}

#[test]
fn a_store_whose_write_lock_another_process_holds_is_reported_busy() {
    let (_dir, path, mut store) = store_with_accounts();
    store
        .create_task("prod", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    let holder = Store::open(&path).unwrap();
    holder.conn.begin_immediate().unwrap();
    let started = Instant::now();
    let err = store.claim_due("prod", "w", MINUTE, 1).unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(&err, StoreError::Busy { action, waited } if action == "claiming due tasks of endpoint prod" && *waited == crate::store::BUSY_TIMEOUT),
        "{err:?}"
    );
    assert!(
        (crate::store::BUSY_TIMEOUT..crate::store::BUSY_TIMEOUT * 4).contains(&waited),
        "{waited:?}"
    );
    assert_eq!(
        err.to_string(),
        "the store is busy: another process has held its write lock for more than 5 s (a dcconn paused or stuck in the middle of a write?) while claiming due tasks of endpoint prod; nothing of it was written to the store; try again once that process has finished or been stopped"
    );
    holder.conn.rollback().unwrap();
    assert_eq!(store.claim_due("prod", "w", MINUTE, 1).unwrap().len(), 1);
    crate::store::testing::sqlite_only!();

    // Opening a new store needs the lock too (to create the schema): said the same way.
    let fresh = path.with_file_name("fresh.db");
    let holder = rusqlite::Connection::open(&fresh).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = Store::open(&fresh).unwrap_err();
    assert!(
        matches!(&err, StoreError::Busy { action, .. } if *action == format!("opening the store at {}", fresh.display())),
        "{err:?}"
    );
}

#[test]
fn an_accounts_tasks_go_in_the_order_they_were_created() {
    let (_dir, _path, mut store) = store_with_accounts();
    let disable = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let enable = store
        .create_task("prod", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    let other = store
        .create_task("prod", "asmith", TaskKind::Disable, 3)
        .unwrap();
    let ids = |tasks: Vec<Task>| -> Vec<i64> { tasks.into_iter().map(|t| t.id).collect() };
    // The enable waits for the disable, held or not; the other account's task does not.
    assert_eq!(
        ids(store.claim_due("prod", "w1", MINUTE, 10).unwrap()),
        vec![disable.id, other.id]
    );
    assert_eq!(
        store.claim_task(TaskId(enable.id), "w2", MINUTE).unwrap(),
        None
    );
    assert_eq!(store.next_unheld_due("prod").unwrap(), None);
    // Failed for now (a retry later) still holds it up; ended, it lets it go.
    store
        .fail_attempt(TaskId(disable.id), "w1", "busy", Some(MINUTE))
        .unwrap();
    assert_eq!(
        ids(store.claim_due("prod", "w2", MINUTE, 10).unwrap()),
        Vec::<i64>::new()
    );
    set(&store, disable.id, "next_attempt_at", PAST);
    assert_eq!(
        ids(store.claim_due("prod", "w2", MINUTE, 10).unwrap()),
        vec![disable.id]
    );
    store.complete_task(TaskId(disable.id), "w2").unwrap();
    assert_eq!(
        ids(store.claim_due("prod", "w3", MINUTE, 10).unwrap()),
        vec![enable.id]
    );
}

#[test]
fn an_attempt_that_sent_nothing_before_its_lease_ran_out_gives_its_try_back() {
    let (_dir, _path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 1)
        .unwrap();
    let id = TaskId(task.id);
    store.claim_task(id, "slow", MINUTE).unwrap().unwrap();
    // The slow worker never reached its request; its lease runs out.
    set(&store, id.0, "lease_until", PAST);
    let again = store.claim_due("prod", "quick", MINUTE, 10).unwrap();
    assert_eq!(again.len(), 1, "its one try was not used up");
    let again = &again[0];
    assert_eq!(
        (again.tries, again.lease_owner.as_deref()),
        (1, Some("quick"))
    );
    assert_eq!(
        store.task_attempts(id).unwrap(),
        vec![open_attempt(1, "quick", &again.updated_at)],
        "the attempt that sent nothing is not history"
    );
    // The slow worker can neither send nor report any more.
    assert!(matches!(
        store.renew_task_lease(id, "slow", MINUTE),
        Err(StoreError::LeaseLost { .. })
    ));
    // An attempt that did send counts: expired at its last try, the task ends.
    mark_sent(&mut store, id, "quick");
    set(&store, id.0, "lease_until", PAST);
    assert_eq!(
        store.claim_due("prod", "late", MINUTE, 10).unwrap(),
        Vec::new()
    );
    assert_eq!(
        store.task(id).unwrap().unwrap().status,
        TaskStatus::ProvisioningFailed
    );
}

/// What `request_task` did, for comparisons: created or reused, and the task's id.
fn requested(store: &mut Store, account: &str, kind: TaskKind) -> (&'static str, i64) {
    match store.request_task("prod", account, kind, 3).unwrap() {
        Requested::Created(task) => ("created", task.id),
        Requested::Pending(task) => ("pending", task.id),
    }
}

#[test]
fn a_request_reuses_the_accounts_pending_task_of_its_kind_and_nothing_else() {
    let (_dir, _path, mut store) = store_with_accounts();
    assert_eq!(
        requested(&mut store, "jdoe", TaskKind::Disable),
        ("created", 1)
    );
    // NEW, then PENDING PROVISIONING: the same task, as it stands.
    assert_eq!(
        store
            .request_task("prod", "jdoe", TaskKind::Disable, 5)
            .unwrap(),
        Requested::Pending(store.task(TaskId(1)).unwrap().unwrap())
    );
    store.claim_task(TaskId(1), "w", MINUTE).unwrap().unwrap();
    let pending = store
        .fail_attempt(TaskId(1), "w", "busy", Some(MINUTE))
        .unwrap();
    assert_eq!(
        store
            .request_task("prod", "jdoe", TaskKind::Disable, 3)
            .unwrap(),
        Requested::Pending(pending)
    );
    // Another kind is a task of its own, and then the latest: a disable after it is a task
    // too, so that the account ends disabled.
    assert_eq!(
        requested(&mut store, "jdoe", TaskKind::Enable),
        ("created", 2)
    );
    assert_eq!(
        requested(&mut store, "jdoe", TaskKind::Disable),
        ("created", 3)
    );
    assert_eq!(
        requested(&mut store, "jdoe", TaskKind::Disable),
        ("pending", 3)
    );
    // Other accounts are not looked at.
    assert_eq!(
        requested(&mut store, "asmith", TaskKind::Disable),
        ("created", 4)
    );
    // A task a worker holds may be past the point that matters: the request is a new task.
    store.claim_task(TaskId(4), "w", MINUTE).unwrap().unwrap();
    assert_eq!(
        requested(&mut store, "asmith", TaskKind::Disable),
        ("created", 5)
    );
    // Ended tasks are not reused.
    store.complete_task(TaskId(4), "w").unwrap();
    store.cancel_task(TaskId(5)).unwrap();
    assert_eq!(
        requested(&mut store, "asmith", TaskKind::Disable),
        ("created", 6)
    );
    let ids: Vec<i64> = store.tasks("prod").unwrap().iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![6, 5, 4, 3, 2, 1], "nothing else was created");
    let err = store
        .request_task("prod", "nobody", TaskKind::Enable, 3)
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownAccount { .. }), "{err:?}");
    let err = store
        .request_task("prod", "jdoe", TaskKind::Enable, 0)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::MaxTriesOutOfRange { max_tries: 0 }),
        "{err:?}"
    );
}

#[test]
fn a_cancelled_task_ends_and_lets_its_accounts_later_tasks_go() {
    let (_dir, _path, mut store) = store_with_accounts();
    let disable = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let enable = store
        .create_task("prod", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    assert_eq!(
        store.claim_task(TaskId(enable.id), "w", MINUTE).unwrap(),
        None,
        "the enable waits for the disable"
    );
    let cancelled = store.cancel_task(TaskId(disable.id)).unwrap();
    assert_eq!(
        cancelled,
        Task {
            status: TaskStatus::Cancelled,
            updated_at: cancelled.updated_at.clone(),
            next_attempt_at: None,
            ..disable.clone()
        }
    );
    assert_eq!(store.task(TaskId(disable.id)).unwrap(), Some(cancelled));
    assert_eq!(
        store.claim_task(TaskId(disable.id), "w", MINUTE).unwrap(),
        None
    );
    let claimed = store.claim_due("prod", "w", MINUTE, 10).unwrap();
    assert_eq!(
        claimed.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![enable.id]
    );
    assert_eq!(account_state(&store, "jdoe"), (s(ACTIVE), None));

    // A pending task keeps its attempts and last error.
    store
        .fail_attempt(TaskId(enable.id), "w", "busy", Some(MINUTE))
        .unwrap();
    let cancelled = store.cancel_task(TaskId(enable.id)).unwrap();
    assert_eq!(
        (
            cancelled.status,
            cancelled.tries,
            cancelled.last_error.as_deref()
        ),
        (TaskStatus::Cancelled, 1, Some("busy"))
    );
    assert_eq!(store.task_attempts(TaskId(enable.id)).unwrap().len(), 1);
    assert_eq!(store.next_unheld_due("prod").unwrap(), None);
    assert_eq!(store.next_due("prod").unwrap(), None);
}

#[test]
fn a_task_a_worker_holds_or_that_has_ended_is_not_cancelled() {
    let (_dir, _path, mut store) = store_with_accounts();
    let task = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let id = TaskId(task.id);
    let held = store.claim_task(id, "w", MINUTE).unwrap().unwrap();
    let err = store.cancel_task(id).unwrap_err();
    assert!(
        matches!(&err, StoreError::TaskHeld { task: 1, owner, until }
                 if owner == "w" && Some(until) == held.lease_until.as_ref()),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "task 1 is IN PROGRESS: worker w holds it until {}, and its attempt may be sending its request now; wait until the attempt has ended (see `dcconn tasks`), then try again",
            held.lease_until.unwrap()
        )
    );
    assert_eq!(
        store.task(id).unwrap().unwrap().status,
        TaskStatus::InProgress
    );

    // Its worker stopped after sending: once the lease has expired, nothing of the attempt can
    // be in flight; it is closed as expired.
    mark_sent(&mut store, id, "w");
    set(&store, id.0, "lease_until", PAST);
    let cancelled = store.cancel_task(id).unwrap();
    assert_eq!(
        (cancelled.status, cancelled.tries, cancelled.lease_owner),
        (TaskStatus::Cancelled, 1, None)
    );
    let attempts = store.task_attempts(id).unwrap();
    assert_eq!(
        (
            attempts.len(),
            attempts[0].outcome,
            attempts[0].error.as_deref()
        ),
        (1, Some(AttemptOutcome::Expired), Some(EXPIRED))
    );
    // A worker that stopped before sending: its attempt is not history.
    let task = store
        .create_task("prod", "asmith", TaskKind::Disable, 3)
        .unwrap();
    store.claim_task(TaskId(task.id), "v", MINUTE).unwrap();
    set(&store, task.id, "lease_until", PAST);
    let cancelled = store.cancel_task(TaskId(task.id)).unwrap();
    assert_eq!(
        (cancelled.status, cancelled.tries),
        (TaskStatus::Cancelled, 0)
    );
    assert_eq!(store.task_attempts(TaskId(task.id)).unwrap(), vec![]);

    // Ended, or unknown: refused.
    for (id, status) in [(1, TaskStatus::Cancelled), (task.id, TaskStatus::Cancelled)] {
        let err = store.cancel_task(TaskId(id)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("task {id} has already ended ({status}): there is nothing left to cancel")
        );
    }
    let done = store
        .create_task("prod", "asmith", TaskKind::Enable, 3)
        .unwrap();
    store.claim_task(TaskId(done.id), "w", MINUTE).unwrap();
    store.complete_task(TaskId(done.id), "w").unwrap();
    let err = store.cancel_task(TaskId(done.id)).unwrap_err();
    assert!(
        matches!(err, StoreError::TaskEnded { task, status: TaskStatus::Complete } if task == done.id),
        "{err:?}"
    );
    let err = store.cancel_task(TaskId(99)).unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownTask { task: 99 }),
        "{err:?}"
    );
}

#[test]
fn tasks_are_listed_by_status_and_account() {
    let (_dir, _path, mut store) = store_with_accounts();
    import_accounts(&mut store, "test", &["jdoe"]);
    let new = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let other = store
        .create_task("prod", "asmith", TaskKind::Disable, 3)
        .unwrap();
    store
        .create_task("test", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    store.cancel_task(TaskId(other.id)).unwrap();
    let listed = |store: &Store, statuses: &[TaskStatus], account: Option<&str>| -> Vec<i64> {
        let filter = TaskFilter {
            statuses: statuses.to_vec(),
            account: account.map(s),
        };
        store
            .tasks_matching("prod", &filter)
            .unwrap()
            .iter()
            .map(|task| task.id)
            .collect()
    };
    assert_eq!(listed(&store, &[], None), vec![other.id, new.id]);
    assert_eq!(listed(&store, &[TaskStatus::New], None), vec![new.id]);
    assert_eq!(
        listed(&store, &[TaskStatus::Cancelled, TaskStatus::New], None),
        vec![other.id, new.id]
    );
    assert_eq!(
        listed(&store, &[TaskStatus::Complete], None),
        Vec::<i64>::new()
    );
    assert_eq!(listed(&store, &[], Some("jdoe")), vec![new.id]);
    assert_eq!(
        listed(&store, &[TaskStatus::Cancelled], Some("jdoe")),
        Vec::<i64>::new()
    );
    assert_eq!(listed(&store, &[], Some("nobody")), Vec::<i64>::new());
    assert_eq!(store.tasks("prod").unwrap().len(), 2);
}

#[test]
fn a_run_that_claims_what_was_due_at_its_start_leaves_what_became_due_later() {
    let (_dir, _path, mut store) = store_with_accounts();
    let due = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let start = now(&store);
    wait_past(&store, &start);
    let later = store
        .create_task("prod", "asmith", TaskKind::Disable, 3)
        .unwrap();
    let claim = |store: &mut Store, due_by: Option<&str>| -> Vec<i64> {
        store
            .claim_due_by("prod", "w", MINUTE, 10, due_by)
            .unwrap()
            .iter()
            .map(|task| task.id)
            .collect()
    };
    assert_eq!(claim(&mut store, Some(&start)), vec![due.id]);
    // Failed and due again at once, it is still past the run's start.
    store
        .fail_attempt(TaskId(due.id), "w", "busy", Some(Duration::ZERO))
        .unwrap();
    assert_eq!(claim(&mut store, Some(&start)), Vec::<i64>::new());
    // A time still to come counts as now.
    let future = plus(&store, &now(&store), MINUTE);
    assert_eq!(claim(&mut store, Some(&future)), vec![due.id, later.id]);
}

#[test]
fn a_completed_task_drops_its_last_error_and_its_history_shows_the_lock() {
    let (_dir, _path, mut store) = store_with_accounts();
    let disable = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let id = TaskId(disable.id);
    store.claim_task(id, "w", MINUTE).unwrap().unwrap();
    store
        .fail_attempt(id, "w", "HTTP 503", Some(Duration::ZERO))
        .unwrap();
    store.claim_task(id, "w", MINUTE).unwrap().unwrap();
    let done = store.complete_task(id, "w").unwrap();
    assert_eq!(
        (done.status, done.last_error.as_deref()),
        (TaskStatus::Complete, None)
    );
    assert_eq!(
        store
            .task_attempts(id)
            .unwrap()
            .iter()
            .map(|attempt| attempt.error.as_deref())
            .collect::<Vec<_>>(),
        vec![Some("HTTP 503"), None],
        "the failed attempt keeps its error"
    );
    // An inactive account that only gets its lock: the lock alone is its history.
    store
        .conn
        .execute("UPDATE accounts SET locked = 0 WHERE name = 'jdoe'", [])
        .unwrap();
    let again = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    store
        .claim_task(TaskId(again.id), "w", MINUTE)
        .unwrap()
        .unwrap();
    let again = store.complete_task(TaskId(again.id), "w").unwrap();
    let enable = store
        .create_task("prod", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    store
        .claim_task(TaskId(enable.id), "w", MINUTE)
        .unwrap()
        .unwrap();
    let enable = store.complete_task(TaskId(enable.id), "w").unwrap();
    let change = |task: &Task, column: &str, old: Option<&str>, new: &str| TaskChange {
        task_id: task.id,
        try_number: task.tries,
        at: task.completed_at.clone().unwrap(),
        column: s(column),
        old: old.map(s),
        new: s(new),
    };
    assert_eq!(
        store.task_changes("prod", "jdoe").unwrap(),
        vec![
            change(&done, "status", Some(ACTIVE), INACTIVE),
            change(&done, "locked", None, "yes"),
            change(&again, "locked", Some("no"), "yes"),
            change(&enable, "status", Some(INACTIVE), ACTIVE),
            change(&enable, "locked", Some("yes"), "no"),
        ]
    );
}

#[test]
fn a_version_7_store_keeps_its_tasks_and_can_cancel_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v7.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        assert!(matches!(
            schema::migrate_to(&mut conn, 7).unwrap(),
            schema::Migration::Current
        ));
        conn.execute_batch(
            r#"
            INSERT INTO endpoints (id, name) VALUES (1, 'prod');
            INSERT INTO runs (id, endpoint_id, kind, scope, started_at, finished_at, outcome)
            VALUES (1, 1, 'import', 'accounts', 't0', 't1', 'succeeded');
            INSERT INTO accounts (endpoint_id, name, columns, status, first_seen_run,
                                  last_seen_run, updated_at, present, locked)
            VALUES (1, 'jdoe', '[["name","jdoe"]]', 'inactive', 1, 1, 't1', 1, 1),
                   (1, 'asmith', '[["name","asmith"]]', 'active', 1, 1, 't1', 1, NULL);
            INSERT INTO tasks (id, endpoint_id, account, kind, status, tries, max_tries,
                               last_error, created_at, updated_at, next_attempt_at,
                               completed_at, comments)
            VALUES (1, 1, 'jdoe', 'disable', 'COMPLETE', 2, 3, 'HTTP 503', 't2', 't4', 't3',
                    't4', 'locked'),
                   (2, 1, 'asmith', 'disable', 'PENDING PROVISIONING', 1, 3, 'HTTP 503', 't5',
                    't6', '2000-01-01T00:00:00.000Z', NULL, NULL);
            INSERT INTO task_attempts (task_id, try, owner, started_at, finished_at, outcome,
                                       error)
            VALUES (1, 1, 'w', 't2', 't3', 'failed', 'HTTP 503'),
                   (2, 1, 'w', 't5', 't6', 'failed', 'HTTP 503');
            INSERT INTO task_attempts (task_id, try, owner, started_at, finished_at, outcome,
                                       old_status, new_status, old_locked, new_locked)
            VALUES (1, 2, 'w', 't3', 't4', 'complete', 'active', 'inactive', NULL, 1);
            "#,
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let version: i64 = store
        .conn
        .as_sqlite()
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 9);
    let complete = store.task(TaskId(1)).unwrap().unwrap();
    assert_eq!(
        (
            complete.status,
            complete.tries,
            complete.last_error,
            complete.comments.as_deref(),
            complete.completed_at.as_deref()
        ),
        (TaskStatus::Complete, 2, None, Some("locked"), Some("t4"))
    );
    assert_eq!(store.task_attempts(TaskId(1)).unwrap().len(), 2);
    let pending = store.task(TaskId(2)).unwrap().unwrap();
    assert_eq!(
        (pending.status, pending.last_error.as_deref()),
        (TaskStatus::PendingProvisioning, Some("HTTP 503"))
    );
    // The rebuilt table keeps its references and indexes, and takes the new status.
    let indexes: Vec<String> = store
        .conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'tasks' ORDER BY 1",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        indexes,
        vec![
            s("tasks_by_account"),
            s("tasks_by_endpoint"),
            s("tasks_claimable"),
            s("tasks_due")
        ]
    );
    let broken: Option<String> = store
        .conn
        .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
        .optional()
        .unwrap();
    assert_eq!(broken, None);
    assert_eq!(
        store.cancel_task(TaskId(2)).unwrap().status,
        TaskStatus::Cancelled
    );
    assert!(
        store
            .conn
            .execute("UPDATE tasks SET status = 'DISCONTINUE' WHERE id = 2", [])
            .is_err()
    );
}

#[test]
fn claim_blocker_names_the_live_lease_or_the_earlier_open_task() {
    let (_dir, _path, mut store) = store_with_accounts();
    let disable = store
        .create_task("prod", "jdoe", TaskKind::Disable, 3)
        .unwrap();
    let enable = store
        .create_task("prod", "jdoe", TaskKind::Enable, 3)
        .unwrap();
    let blocker = |store: &Store, task: &Task| {
        store
            .claim_blocker(TaskId(task.id))
            .unwrap()
            .map(|(blocker, held)| (blocker.id, blocker.status, held))
    };
    // A new task nobody holds is claimable; the later one waits for it.
    assert_eq!(blocker(&store, &disable), None);
    assert_eq!(
        blocker(&store, &enable),
        Some((disable.id, TaskStatus::New, false))
    );
    // Held: by its own live lease, until the lease has run out.
    store
        .claim_task(TaskId(disable.id), "w1", MINUTE)
        .unwrap()
        .unwrap();
    assert_eq!(
        blocker(&store, &disable),
        Some((disable.id, TaskStatus::InProgress, true))
    );
    set(&store, disable.id, "lease_until", PAST);
    assert_eq!(blocker(&store, &disable), None);
    assert_eq!(
        blocker(&store, &enable),
        Some((disable.id, TaskStatus::InProgress, false))
    );
    // Ended, it lets the later one go; an ended task waits for nothing.
    store
        .claim_task(TaskId(disable.id), "w2", MINUTE)
        .unwrap()
        .unwrap();
    store.complete_task(TaskId(disable.id), "w2").unwrap();
    assert_eq!(blocker(&store, &disable), None);
    assert_eq!(blocker(&store, &enable), None);
    assert!(matches!(
        store.claim_blocker(TaskId(9_999)),
        Err(StoreError::UnknownTask { task: 9_999 })
    ));
}
