//! Tests of the store's upkeep against real SQLite files in temporary folders: the copy taken
//! before a migration, copies, checks and pruning, each checked row by row.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::*;
use crate::store::{Migrated, OpenMode, RunOutcome, schema};

/// A folder with a store at schema version `version` holding one endpoint, one run and one
/// account, written as that version's dcconn would have.
fn store_at_version(version: i64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    schema::migrate_to(&mut conn, version).unwrap();
    conn.execute_batch(
        "INSERT INTO endpoints (id, name) VALUES (1, 'prod');
         INSERT INTO runs (id, endpoint_id, kind, scope, started_at, finished_at, outcome,
                           accounts, new_accounts)
         VALUES (1, 1, 'import', 'accounts', 't0', 't1', 'succeeded', 1, 1);
         INSERT INTO accounts (endpoint_id, name, columns, status, first_seen_run,
                               last_seen_run, updated_at)
         VALUES (1, 'jdoe', '[[\"name\",\"jdoe\"]]', 'active', 1, 1, 't1');",
    )
    .unwrap();
    (dir, path)
}

fn user_version(path: &Path) -> i64 {
    let conn =
        Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    schema::user_version(&conn).unwrap()
}

fn has_pruned_at(path: &Path) -> bool {
    let conn = rusqlite::Connection::open(path).unwrap();
    has_column(&conn, "runs", "pruned_at").unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect();
    names.sort();
    names
}

#[test]
fn an_older_store_is_copied_before_it_is_migrated() {
    assert_eq!(schema::VERSION, 9);
    let (dir, path) = store_at_version(7);
    let store = Store::open(&path).unwrap();
    let backup = dir.path().join("old.db.v7.bak");
    assert_eq!(
        store.migrated(),
        Some(&Migrated {
            from: 7,
            to: 9,
            backup: backup.clone(),
        })
    );
    assert_eq!(user_version(&path), 9);
    assert!(has_pruned_at(&path));
    // The copy is the store as version 7 left it.
    assert_eq!(user_version(&backup), 7);
    assert!(!has_pruned_at(&backup));
    let copy = rusqlite::Connection::open(&backup).unwrap();
    let rows: (String, String, i64) = copy
        .query_row(
            "SELECT e.name, a.name, r.accounts FROM accounts AS a
             JOIN endpoints AS e ON e.id = a.endpoint_id JOIN runs AS r ON r.id = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(rows, ("prod".into(), "jdoe".into(), 1));
    drop(copy);
    assert_eq!(files_in(dir.path()), ["old.db", "old.db.v7.bak"]);
    drop(store);
    // Opened again, there is nothing to migrate and no new copy.
    assert_eq!(Store::open(&path).unwrap().migrated(), None);
}

#[test]
fn a_store_of_every_older_version_is_copied_then_migrated() {
    for version in 1..schema::VERSION {
        let (dir, path) = store_at_version(version);
        let store = Store::open_as(&path, OpenMode::Existing).unwrap();
        let backup = dir.path().join(format!("old.db.v{version}.bak"));
        assert_eq!(store.migrated().map(|m| &m.backup), Some(&backup));
        assert_eq!(user_version(&backup), version);
        assert_eq!(user_version(&path), schema::VERSION);
        assert_eq!(store.runs("prod").unwrap().len(), 1);
    }
}

#[test]
fn a_command_that_reads_does_not_migrate_an_older_store() {
    let (dir, path) = store_at_version(7);
    let err = Store::open_as(&path, OpenMode::ReadOnly).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the store at {} has schema version 7, older than version 9 that this dcconn reads; migrate it with dcconn db migrate (it backs the store up first), or let the next import do it",
            path.display()
        )
    );
    assert_eq!(user_version(&path), 7);
    assert_eq!(files_in(dir.path()), ["old.db"]);
    // A check and a copy read it as it is.
    let report = check(&path).unwrap();
    assert_eq!((report.schema_version, report.sound), (7, true));
    assert_eq!(report.endpoints[0].pruned_runs, 0);
    assert_eq!(user_version(&path), 7);
}

#[test]
fn a_failed_copy_stops_the_migration() {
    let (dir, path) = store_at_version(7);
    // A folder where the copy should go: it cannot be written there.
    let backup = dir.path().join("old.db.v7.bak");
    std::fs::create_dir(&backup).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::MigrationBackup {
                found: 7,
                current: 9,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "the store at {} has schema version 7 and was not migrated to version 9, because its copy to {} could not be taken first: cannot rename ",
            path.display(),
            backup.display()
        )),
        "{message}"
    );
    assert!(
        message.ends_with("; make room or fix that folder's permissions, then run dcconn again"),
        "{message}"
    );
    assert_eq!(user_version(&path), 7);
    assert!(!has_pruned_at(&path));
    assert_eq!(files_in(dir.path()), ["old.db", "old.db.v7.bak"]);
    assert!(backup.is_dir());
}

#[test]
fn a_backup_copies_the_store_and_refuses_to_overwrite_or_copy_onto_itself() {
    let (dir, path) = store_at_version(schema::VERSION);
    let to = dir.path().join("copy.db");
    let report = backup(&path, &to, false).unwrap();
    assert_eq!(report.schema_version, schema::VERSION);
    assert_eq!(report.bytes, std::fs::metadata(&to).unwrap().len());
    assert_eq!(
        Store::open_as(&to, OpenMode::ReadOnly)
            .unwrap()
            .runs("prod")
            .unwrap()
            .len(),
        1
    );

    let err = backup(&path, &to, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "not backing up the store to {}: that file exists; give a new file, or --force to replace it",
            to.display()
        )
    );
    assert!(backup(&path, &to, true).is_ok());
    let err = backup(&path, &path, true).unwrap_err();
    assert!(matches!(err, StoreError::BackupRefused { .. }), "{err:?}");
    assert_eq!(files_in(dir.path()), ["copy.db", "old.db"]);
    let missing = dir.path().join("missing.db");
    assert!(matches!(
        backup(&missing, &to, true),
        Err(StoreError::Missing { .. })
    ));
    assert!(!missing.exists());
}

#[test]
fn check_reports_rows_without_their_parent_and_counts_by_endpoint() {
    let (_dir, path) = store_at_version(schema::VERSION);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        // Another program (or a damaged file) broke a reference dcconn keeps.
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO tasks (id, endpoint_id, account, kind, status, max_tries, created_at,
                                updated_at, next_attempt_at)
             VALUES (1, 1, 'jdoe', 'enable', 'NEW', 3, 't', 't', 't'),
                    (2, 1, 'nobody', 'disable', 'NEW', 3, 't', 't', 't'),
                    (3, 1, 'jdoe', 'disable', 'PENDING PROVISIONING', 3, 't', 't', 't');",
        )
        .unwrap();
    }
    let report = check(&path).unwrap();
    assert_eq!(
        report,
        CheckReport {
            store: path.display().to_string(),
            sound: false,
            schema_version: schema::VERSION,
            current_schema_version: schema::VERSION,
            integrity_problems: vec![],
            schema_problems: vec![],
            foreign_key_problems: vec![ForeignKeyProblem {
                table: "tasks".into(),
                rowid: Some(2),
                parent: "accounts".into(),
            }],
            endpoints: vec![EndpointCounts {
                endpoint: "prod".into(),
                runs: 1,
                pruned_runs: 0,
                accounts: 1,
                tasks: vec![
                    StatusCount {
                        status: "NEW".into(),
                        count: 2,
                    },
                    StatusCount {
                        status: "PENDING PROVISIONING".into(),
                        count: 1,
                    },
                ],
            }],
        }
    );
}

/// Two endpoints' runs with changes, written directly: `prod` has runs 1 to 6 (6 running, 5
/// its newest succeeded), `test` run 7 (its only, newest succeeded). Runs 1-4 and 7 started in
/// 2020, 5 and 6 now. Run 1 has a new account arriving with two links (4 changes as listed).
fn store_with_history() -> (tempfile::TempDir, PathBuf, Store) {
    let (dir, path) = store_at_version(schema::VERSION);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DELETE FROM runs;
         INSERT INTO endpoints (id, name) VALUES (2, 'test');
         INSERT INTO runs (id, endpoint_id, kind, scope, started_at, outcome, accounts)
         VALUES (1, 1, 'import', 'all', '2020-01-01T00:00:00.000Z', 'succeeded', 10),
                (2, 1, 'import', 'all', '2020-02-01T00:00:00.000Z', 'failed', 0),
                (3, 1, 'import', 'all', '2020-03-01T00:00:00.000Z', 'withheld', 10),
                (4, 1, 'import', 'all', '2020-04-01T00:00:00.000Z', 'succeeded', 10),
                (5, 1, 'import', 'all', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'succeeded', 10),
                (6, 1, 'import', 'all', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'running', 0),
                (7, 2, 'import', 'all', '2020-01-15T00:00:00.000Z', 'succeeded', 3);
         INSERT INTO changes (run_id, seq, object, account, change, column_name, old, new)
         VALUES (1, 1, 'account', 'jdoe', 'new', NULL, NULL, '[[\"Role\",\"R\"],[\"Role\",\"S\"]]'),
                (1, 2, 'account', 'mary', 'updated', 'email', 'a', 'b'),
                (3, 1, 'account', 'jdoe', 'suspended', NULL, 'active', 'SUSPENDED'),
                (4, 1, 'account', 'mary', 'updated', 'email', 'b', 'c'),
                (4, 2, 'account', 'mary', 'updated', 'title', 'x', 'y'),
                (5, 1, 'account', 'mary', 'updated', 'email', 'c', 'd'),
                (7, 1, 'account', 'ann', 'new', NULL, NULL, '[]');",
    )
    .unwrap();
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

/// A run's id, `pruned` when it was, and how many changes went.
type PruneMark = (i64, Option<String>, i64);

/// Each run with changes left, how many rows, and each run's pruning mark.
fn history(store: &Store) -> (Vec<(i64, i64)>, Vec<PruneMark>) {
    let left = store
        .conn
        .prepare("SELECT run_id, count(*) FROM changes GROUP BY run_id ORDER BY run_id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let marks = store
        .conn
        .prepare("SELECT id, pruned_at IS NOT NULL, changes_pruned FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get::<_, bool>(1)?.then(|| "pruned".to_owned()),
                row.get(2)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (left, marks)
}

fn pruned(run: i64, endpoint: &str, started_at: &str, outcome: &str, changes: u64) -> PrunedRun {
    PrunedRun {
        run,
        endpoint: endpoint.into(),
        started_at: started_at.into(),
        outcome: outcome.into(),
        changes,
    }
}

#[test]
fn prune_keeps_what_either_rule_keeps_the_running_run_and_the_newest_succeeded() {
    let (_dir, _path, mut store) = store_with_history();
    let untouched = history(&store);
    let all_changes = vec![(1, 2), (3, 1), (4, 2), (5, 1), (7, 1)];
    assert_eq!(untouched.0, all_changes);

    // A dry run lists and changes nothing. Keeping 2 runs per endpoint leaves 4, 3 and 1 of
    // prod (2 has no changes), and test's only run.
    let request = PruneRequest {
        keep_runs: Some(2),
        dry_run: true,
        ..PruneRequest::default()
    };
    let report = store.prune(&request).unwrap();
    assert_eq!(
        report.runs,
        vec![
            pruned(1, "prod", "2020-01-01T00:00:00.000Z", "succeeded", 4),
            pruned(3, "prod", "2020-03-01T00:00:00.000Z", "withheld", 1),
            pruned(4, "prod", "2020-04-01T00:00:00.000Z", "succeeded", 2),
        ]
    );
    assert_eq!(
        (report.changes, report.dry_run, report.vacuum),
        (7, true, None)
    );
    assert_eq!(history(&store), untouched);

    // Both rules: run 4 is old but among the 3 newest, so kept.
    let request = PruneRequest {
        keep_runs: Some(3),
        older_than_days: Some(60),
        ..PruneRequest::default()
    };
    let report = store.prune(&request).unwrap();
    assert_eq!(
        report.runs.iter().map(|run| run.run).collect::<Vec<_>>(),
        [1, 3]
    );
    assert_eq!(report.changes, 5);
    let (left, marks) = history(&store);
    assert_eq!(left, vec![(4, 2), (5, 1), (7, 1)]);
    let mark = |id: i64, pruned: bool, n: i64| (id, pruned.then(|| "pruned".to_owned()), n);
    assert_eq!(
        marks,
        vec![
            mark(1, true, 4),
            mark(2, false, 0),
            mark(3, true, 1),
            mark(4, false, 0),
            mark(5, false, 0),
            mark(6, false, 0),
            mark(7, false, 0),
        ]
    );
    // The pruned run keeps its row and totals, and says it was pruned.
    let run = store.run(1).unwrap().unwrap();
    assert_eq!(
        (run.outcome, run.accounts, run.changes_pruned),
        (RunOutcome::Succeeded, 10, 4)
    );
    assert!(run.pruned_at.is_some());
    assert_eq!(store.run_changes(1).unwrap(), vec![]);

    // Test's only run is its newest succeeded: never pruned, whatever the rule.
    let request = PruneRequest {
        endpoint: Some("test".into()),
        keep_runs: Some(0),
        older_than_days: Some(0),
        ..PruneRequest::default()
    };
    assert_eq!(store.prune(&request).unwrap().runs, vec![]);

    // Everything started before now: only run 4 is left to prune (5 is the newest succeeded,
    // 6 runs).
    let request = PruneRequest {
        older_than_days: Some(0),
        ..PruneRequest::default()
    };
    let report = store.prune(&request).unwrap();
    assert_eq!(
        report.runs.iter().map(|run| run.run).collect::<Vec<_>>(),
        [4]
    );
    let (left, marks) = history(&store);
    assert_eq!(left, vec![(5, 1), (7, 1)]);
    assert_eq!(marks[3], mark(4, true, 2));
    assert_eq!(store.runs("prod").unwrap().len(), 6);

    // Without a rule, nothing.
    assert_eq!(store.prune(&PruneRequest::default()).unwrap().runs, vec![]);
}
