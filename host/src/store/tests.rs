//! Tests of the store against real SQLite files in temporary folders.

use std::path::PathBuf;
use std::time::Instant;

use super::*;
use crate::identities::Identity;
use crate::model::{Account, Entitlement, ImportScope, Reconciliation};

/// A store in a fresh temporary folder; the folder lives as long as the returned guard.
fn temp_store() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = crate::store::testing::store_path(&dir);
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

fn cols(items: &[(&str, &str)]) -> Columns {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn ent_ref(entitlement_type: &str, value: &str) -> EntitlementRef {
    EntitlementRef {
        entitlement_type: entitlement_type.to_owned(),
        value: value.to_owned(),
    }
}

fn account(name: &str, columns: &[(&str, &str)], links: &[(&str, &str)]) -> Account {
    Account {
        name: name.to_owned(),
        columns: cols(columns),
        entitlements: links.iter().map(|(t, v)| ent_ref(t, v)).collect(),
    }
}

fn entitlement(entitlement_type: &str, value: &str, columns: &[(&str, &str)]) -> Entitlement {
    Entitlement {
        entitlement_type: entitlement_type.to_owned(),
        value: value.to_owned(),
        columns: cols(columns),
    }
}

fn stored(name: &str, columns: &[(&str, &str)], links: &[(&str, &str)]) -> StoredAccount {
    StoredAccount {
        name: name.to_owned(),
        columns: cols(columns),
        status: ACTIVE.to_owned(),
        present: true,
        locked: None,
        owner: None,
        entitlements: links.iter().map(|(t, v)| ent_ref(t, v)).collect(),
    }
}

/// Completes a run with the default policy.
fn complete(store: &mut Store, run: RunId) -> RunSummary {
    store.complete_run(run, &Reconciliation::default()).unwrap()
}

/// Every row of every table, as text, in a stable order: the whole state of the file.
fn dump(store: &Store, tables: &[&str]) -> Vec<String> {
    let mut rows = Vec::new();
    for table in tables {
        let mut stmt = store
            .conn
            .prepare(&format!("SELECT * FROM {table}"))
            .unwrap();
        let width = stmt.column_count();
        let table_rows = stmt
            .query_map([], |row| {
                let values: Vec<String> = (0..width)
                    .map(|i| {
                        let value: rusqlite::types::Value = row.get(i).unwrap();
                        format!("{value:?}")
                    })
                    .collect();
                Ok(format!("{table}: {}", values.join(" | ")))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let mut table_rows = table_rows;
        table_rows.sort();
        rows.extend(table_rows);
    }
    rows
}

const LIVE: &[&str] = &["endpoints", "accounts", "entitlements", "links"];
const STAGING: &[&str] = &["staged_accounts", "staged_links", "staged_entitlements"];

/// The live rows without timestamps: (endpoint, name, columns, status, first, last).
fn account_rows(store: &Store) -> Vec<(String, String, String, String, i64, i64)> {
    store
        .conn
        .prepare(
            "SELECT e.name, a.name, a.columns, a.status, a.first_seen_run, a.last_seen_run
             FROM accounts a JOIN endpoints e ON e.id = a.endpoint_id ORDER BY e.name, a.name",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn link_rows(store: &Store) -> Vec<(String, String, String, String, i64, i64)> {
    store
        .conn
        .prepare(
            "SELECT e.name, l.account_name, l.type, l.value, l.first_seen_run, l.last_seen_run
             FROM links l JOIN endpoints e ON e.id = l.endpoint_id ORDER BY 1, 2, 3, 4",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn s(text: &str) -> String {
    text.to_owned()
}

/// The first import used by several tests: two accounts, three links, two entitlements.
fn first_import(store: &mut Store, endpoint: &str) -> RunSummary {
    let run = store.begin_run(endpoint, ImportScope::All).unwrap();
    store
        .stage_accounts(
            run,
            &[
                account(
                    "jdoe",
                    &[("name", "jdoe"), ("displayname", "John Doe")],
                    &[("Role", "Underwriter"), ("Entity", "1")],
                ),
                account("asmith", &[("name", "asmith")], &[("Role", "Admin")]),
            ],
        )
        .unwrap();
    store
        .stage_entitlements(
            run,
            &[
                entitlement("Role", "Underwriter", &[("entitlementID", "10")]),
                entitlement("Role", "Admin", &[("entitlementID", "11")]),
            ],
        )
        .unwrap();
    complete(store, run)
}

#[test]
fn open_sets_up_the_file() {
    crate::store::testing::sqlite_only!();
    let (_dir, path, store) = temp_store();
    let pragma = |name: &str| -> String {
        store
            .conn
            .as_sqlite()
            .unwrap()
            .pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
            .map(|v| format!("{v:?}"))
            .unwrap()
    };
    assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
    assert_eq!(pragma("synchronous"), "Integer(1)");
    assert_eq!(pragma("foreign_keys"), "Integer(1)");
    assert_eq!(pragma("busy_timeout"), "Integer(5000)");
    assert_eq!(
        pragma("user_version"),
        format!("Integer({})", schema::VERSION)
    );
    drop(store);
    // Reopening an existing store is a no-op migration.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.endpoints().unwrap(), Vec::<String>::new());
}

#[test]
fn open_refuses_a_newer_schema() {
    crate::store::testing::sqlite_only!();
    let (_dir, path, store) = temp_store();
    store
        .conn
        .as_sqlite()
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(store);
    let err = Store::open(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the store at {} has schema version 99, newer than version {} that this dcconn knows; use a newer dcconn",
            path.display(),
            schema::VERSION
        )
    );
}

#[test]
fn open_refuses_what_is_not_a_store_and_leaves_it_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let not_db = dir.path().join("notes.txt");
    let text = "this is not a database, just some text that is long enough";
    std::fs::write(&not_db, text).unwrap();
    let other_app = dir.path().join("other.db");
    rusqlite::Connection::open(&other_app)
        .unwrap()
        .execute_batch(
            "CREATE TABLE settings (key TEXT, value TEXT); CREATE TABLE log (line TEXT);",
        )
        .unwrap();
    let other_bytes = std::fs::read(&other_app).unwrap();
    for mode in [OpenMode::Create, OpenMode::Existing, OpenMode::ReadOnly] {
        let err = Store::open_as(&not_db, mode).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the file {} is not a dcconn store: it is not a SQLite database; nothing was written to it; point --db at a dcconn store, or at a new file to create one",
                not_db.display()
            )
        );
        let err = Store::open_as(&other_app, mode).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the file {} is not a dcconn store: it is a SQLite database with other tables (log, settings) and no dcconn schema; nothing was written to it; point --db at a dcconn store, or at a new file to create one",
                other_app.display()
            )
        );
    }
    assert_eq!(std::fs::read_to_string(&not_db).unwrap(), text);
    assert_eq!(std::fs::read(&other_app).unwrap(), other_bytes);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["notes.txt", "other.db"]);

    let missing_folder = dir.path().join("no/such/folder/state.db");
    let err = Store::open(&missing_folder).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot open the store at {}: ",
            missing_folder.display()
        )),
        "{message}"
    );
    assert!(
        message.ends_with(
            "; check that its folder exists and is writable, and that the file is a dcconn store"
        ),
        "{message}"
    );
}

#[test]
fn only_the_writing_mode_creates_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    for mode in [OpenMode::Existing, OpenMode::ReadOnly] {
        let err = Store::open_as(&path, mode).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "there is no store at {} (this command creates none): check --db (or DCCONN_DB) and the folder a relative path starts from, or create the store by importing (dcconn import -c CONNECTION --db {})",
                path.display(),
                path.display()
            )
        );
        assert!(!path.exists());
    }
    // An empty file (SQLite's empty database) is not a store yet either.
    std::fs::write(&path, "").unwrap();
    for mode in [OpenMode::Existing, OpenMode::ReadOnly] {
        let err = Store::open_as(&path, mode).unwrap_err();
        assert!(matches!(err, StoreError::Empty { .. }), "{err:?}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
    let store = Store::open_as(&path, OpenMode::Create).unwrap();
    assert_eq!(store.migrated(), None);
    drop(store);
    // Once it exists, every mode opens it; the one that reads cannot write.
    let store = Store::open_as(&path, OpenMode::ReadOnly).unwrap();
    assert_eq!(store.endpoints().unwrap(), Vec::<String>::new());
    let err = store
        .conn
        .execute("INSERT INTO endpoints (name) VALUES ('x')", []);
    assert!(err.is_err(), "a read-only store wrote");
    drop(store);
    let mut store = Store::open_as(&path, OpenMode::Existing).unwrap();
    store.begin_run("prod", ImportScope::Accounts).unwrap();
    assert_eq!(store.endpoints().unwrap(), vec![s("prod")]);
}

#[test]
fn import_applies_exact_rows() {
    let (_dir, _path, mut store) = temp_store();
    let summary = first_import(&mut store, "prod");
    assert_eq!(
        summary,
        RunSummary {
            run: 1,
            accounts: 2,
            new_accounts: 2,
            updated_accounts: 0,
            account_details: 0,
            entitlements: 2,
            new_entitlements: 2,
            updated_entitlements: 0,
            links: 3,
            links_added: 3,
            ..RunSummary::default()
        }
    );
    assert_eq!(
        store.accounts("prod").unwrap(),
        vec![
            stored("asmith", &[("name", "asmith")], &[("Role", "Admin")]),
            stored(
                "jdoe",
                &[("name", "jdoe"), ("displayname", "John Doe")],
                &[("Entity", "1"), ("Role", "Underwriter")],
            ),
        ]
    );
    assert_eq!(
        account_rows(&store),
        vec![
            (
                s("prod"),
                s("asmith"),
                s(r#"[["name","asmith"]]"#),
                s("active"),
                1,
                1
            ),
            (
                s("prod"),
                s("jdoe"),
                s(r#"[["name","jdoe"],["displayname","John Doe"]]"#),
                s("active"),
                1,
                1
            ),
        ]
    );
    assert_eq!(
        link_rows(&store),
        vec![
            (s("prod"), s("asmith"), s("Role"), s("Admin"), 1, 1),
            (s("prod"), s("jdoe"), s("Entity"), s("1"), 1, 1),
            (s("prod"), s("jdoe"), s("Role"), s("Underwriter"), 1, 1),
        ]
    );
    assert_eq!(
        store.entitlements("prod", None).unwrap(),
        vec![
            StoredEntitlement {
                entitlement_type: s("Role"),
                value: s("Admin"),
                columns: cols(&[("entitlementID", "11")]),
                status: s("active"),
                present: true,
            },
            StoredEntitlement {
                entitlement_type: s("Role"),
                value: s("Underwriter"),
                columns: cols(&[("entitlementID", "10")]),
                status: s("active"),
                present: true,
            },
        ]
    );
    assert_eq!(store.entitlements("prod", Some("Entity")).unwrap(), vec![]);
    assert_eq!(
        store.account("prod", "jdoe").unwrap(),
        Some(stored(
            "jdoe",
            &[("name", "jdoe"), ("displayname", "John Doe")],
            &[("Entity", "1"), ("Role", "Underwriter")],
        ))
    );
    assert_eq!(store.account("prod", "nobody").unwrap(), None);
    assert_eq!(dump(&store, STAGING), Vec::<String>::new());

    let runs = store.runs("prod").unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(
        (
            run.id,
            run.endpoint.as_str(),
            run.kind.as_str(),
            run.scope.as_str(),
            run.outcome,
            run.error.as_deref()
        ),
        (1, "prod", "import", "all", RunOutcome::Succeeded, None)
    );
    assert_eq!(
        (
            run.accounts,
            run.account_details,
            run.entitlements,
            run.links,
            run.new_accounts,
            run.updated_accounts,
            run.new_entitlements,
            run.updated_entitlements
        ),
        (2, 0, 2, 3, 2, 0, 2, 0)
    );
    for timestamp in [&run.started_at, run.finished_at.as_ref().unwrap()] {
        let b = timestamp.as_bytes();
        assert_eq!(
            (b.len(), b[4], b[7], b[10], b[13], b[16], b[19], b[23]),
            (24, b'-', b'-', b'T', b':', b':', b'.', b'Z'),
            "{timestamp}"
        );
    }
    assert!(run.started_at <= *run.finished_at.as_ref().unwrap());
}

#[test]
fn details_merge_into_staged_live_or_new_accounts() {
    let (_dir, _path, mut store) = temp_store();
    first_import(&mut store, "prod");

    let run = store.begin_run("prod", ImportScope::Accounts).unwrap();
    store
        .stage_accounts(
            run,
            &[account(
                "jdoe",
                &[("name", "jdoe"), ("displayname", "J. Doe"), ("status", "1")],
                &[("Role", "Underwriter")],
            )],
        )
        .unwrap();
    store
        .stage_account_details(
            run,
            &[
                // Staged earlier in this run: override displayname in place, append email.
                account(
                    "jdoe",
                    &[("email", "jdoe@example.com"), ("displayname", "John Doe")],
                    &[("Role", "Claims")],
                ),
                // Only live: merge into the live columns.
                account("asmith", &[("email", "asmith@example.com")], &[]),
                // Unknown: a new account with the detail's columns.
                account("newbie", &[("name", "newbie")], &[("Role", "Admin")]),
            ],
        )
        .unwrap();
    // A second detail record for the same account merges on top of the first.
    store
        .stage_account_details(run, &[account("jdoe", &[("status", "0")], &[])])
        .unwrap();

    let running = &store.runs("prod").unwrap()[0];
    assert_eq!(
        (
            running.outcome,
            running.accounts,
            running.account_details,
            running.links
        ),
        (RunOutcome::Running, 1, 4, 3)
    );

    // Links are not deleted here, to see what merging reported.
    let keep_links = Reconciliation {
        delete_links: false,
        ..Reconciliation::default()
    };
    let summary = store.complete_run(run, &keep_links).unwrap();
    assert_eq!(
        summary,
        RunSummary {
            run: run.0,
            accounts: 3,
            new_accounts: 1,
            updated_accounts: 2,
            account_details: 4,
            entitlements: 0,
            new_entitlements: 0,
            updated_entitlements: 0,
            links: 3,
            links_added: 2,
            ..RunSummary::default()
        }
    );
    assert_eq!(
        store.accounts("prod").unwrap(),
        vec![
            stored(
                "asmith",
                &[("name", "asmith"), ("email", "asmith@example.com")],
                &[("Role", "Admin")],
            ),
            stored(
                "jdoe",
                &[
                    ("name", "jdoe"),
                    ("displayname", "John Doe"),
                    ("status", "0"),
                    ("email", "jdoe@example.com"),
                ],
                &[("Entity", "1"), ("Role", "Claims"), ("Role", "Underwriter")],
            ),
            stored("newbie", &[("name", "newbie")], &[("Role", "Admin")]),
        ]
    );
    // Links: reported ones get the new run; unreported ones keep theirs (deleteLinks is off).
    assert_eq!(
        link_rows(&store),
        vec![
            (s("prod"), s("asmith"), s("Role"), s("Admin"), 1, 1),
            (s("prod"), s("jdoe"), s("Entity"), s("1"), 1, 1),
            (s("prod"), s("jdoe"), s("Role"), s("Claims"), 2, 2),
            (s("prod"), s("jdoe"), s("Role"), s("Underwriter"), 1, 2),
            (s("prod"), s("newbie"), s("Role"), s("Admin"), 2, 2),
        ]
    );
}

#[test]
fn an_account_reported_twice_in_a_run_takes_the_later_columns_and_all_links() {
    let (_dir, _path, mut store) = temp_store();
    let run = store.begin_run("prod", ImportScope::Accounts).unwrap();
    store
        .stage_accounts(
            run,
            &[account("a", &[("x", "1"), ("y", "1")], &[("Role", "R1")])],
        )
        .unwrap();
    store
        .stage_accounts(
            run,
            &[account(
                "a",
                &[("x", "2")],
                &[("Role", "R2"), ("Role", "R1")],
            )],
        )
        .unwrap();
    let summary = complete(&mut store, run);
    assert_eq!((summary.accounts, summary.links), (1, 2));
    assert_eq!(
        store.accounts("prod").unwrap(),
        vec![stored(
            "a",
            &[("x", "2")],
            &[("Role", "R1"), ("Role", "R2")]
        )]
    );
}

#[test]
fn fail_run_leaves_live_data_exactly_as_before() {
    let (_dir, _path, mut store) = temp_store();
    first_import(&mut store, "prod");
    let before = dump(&store, LIVE);

    let run = store.begin_run("prod", ImportScope::All).unwrap();
    store
        .stage_accounts(
            run,
            &[
                account("jdoe", &[("name", "changed")], &[("Role", "Other")]),
                account("brandnew", &[("name", "brandnew")], &[]),
            ],
        )
        .unwrap();
    store
        .stage_account_details(run, &[account("asmith", &[("email", "x")], &[])])
        .unwrap();
    store
        .stage_entitlements(run, &[entitlement("Role", "Admin", &[("changed", "yes")])])
        .unwrap();
    store.fail_run(run, "the target said no").unwrap();

    assert_eq!(dump(&store, LIVE), before);
    assert_eq!(dump(&store, STAGING), Vec::<String>::new());
    let runs = store.runs("prod").unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| (r.id, r.outcome, r.error.clone()))
            .collect::<Vec<_>>(),
        vec![
            (2, RunOutcome::Failed, Some(s("the target said no"))),
            (1, RunOutcome::Succeeded, None),
        ]
    );
    assert!(runs[0].finished_at.is_some());
}

/// Moves every running run's lease into the past, as if its process had died long ago.
fn expire_leases(store: &Store) {
    store
        .conn
        .execute(
            "UPDATE runs SET lease_until = '2000-01-01T00:00:00.000Z' WHERE outcome = 'running'",
            [],
        )
        .unwrap();
}

#[test]
fn recover_interrupted_fails_running_runs_and_drops_their_staging() {
    let (_dir, path, mut store) = temp_store();
    first_import(&mut store, "prod");
    let before = dump(&store, LIVE);
    let run = store.begin_run("prod", ImportScope::Accounts).unwrap();
    store
        .stage_accounts(
            run,
            &[account("jdoe", &[("name", "changed")], &[("Role", "X")])],
        )
        .unwrap();
    store
        .stage_entitlements(run, &[entitlement("Role", "X", &[])])
        .unwrap();
    // The process dies: the store is dropped without completing or failing the run.
    drop(store);

    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.runs("prod").unwrap()[0].outcome, RunOutcome::Running);
    // While its lease lasts, the run is taken for alive: nothing is recovered, and another
    // import of the endpoint is refused, naming it.
    assert_eq!(store.recover_interrupted().unwrap(), 0);
    let busy = store.begin_run("prod", ImportScope::All).unwrap_err();
    let StoreError::EndpointBusy(running) = &busy else {
        panic!("{busy}");
    };
    assert_eq!(
        (running.run, running.accounts, running.entitlements),
        (run.0, 1, 1)
    );
    assert_eq!(running.owner, RunLease::default().owner);
    assert!(busy.to_string().starts_with(&format!(
        "endpoint prod is being imported by run {run} (started "
    )));
    expire_leases(&store);
    assert_eq!(store.recover_interrupted().unwrap(), 1);
    assert_eq!(dump(&store, LIVE), before);
    assert_eq!(dump(&store, STAGING), Vec::<String>::new());
    let latest = &store.runs("prod").unwrap()[0];
    assert_eq!(
        (latest.id, latest.outcome, latest.error.as_deref()),
        (run.0, RunOutcome::Failed, Some(INTERRUPTED))
    );
    assert!(latest.finished_at.is_some());
    // Nothing left to recover; the interrupted run cannot be continued.
    assert_eq!(store.recover_interrupted().unwrap(), 0);
    let err = store.stage_accounts(run, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "run {run} lost its lease on the endpoint: it was stalled longer than the lease, and another import marked it interrupted; nothing it received was applied; import again"
        )
    );
}

#[test]
fn one_import_per_endpoint_others_side_by_side_and_a_lost_lease_ends_the_run() {
    let (_dir, path, mut first) = temp_store();
    let mut second = Store::open(&path).unwrap();
    second.set_run_lease(RunLease {
        owner: "the second process".to_owned(),
        ttl: std::time::Duration::from_secs(30),
    });
    let run = first.begin_run("prod", ImportScope::All).unwrap();
    first.stage_accounts(run, &[plain("jdoe", &[])]).unwrap();

    // The second store sees the run holding prod, and imports test meanwhile.
    let busy = second.busy_run("prod").unwrap().unwrap();
    assert_eq!((busy.run, busy.accounts), (run.0, 1));
    assert!(matches!(
        second.begin_run("prod", ImportScope::Accounts),
        Err(StoreError::EndpointBusy(_))
    ));
    let other = second.begin_run("test", ImportScope::All).unwrap();
    second.stage_accounts(other, &[plain("amy", &[])]).unwrap();
    second
        .complete_run(other, &Reconciliation::default())
        .unwrap();

    // Renewing moves the lease forward; its keeper renews from a connection of its own.
    let until = |store: &Store| store.busy_run("prod").unwrap().unwrap().lease_until;
    let before = until(&second);
    first.renew_run_lease(run).unwrap();
    let mut keeper = first.lease_keeper(run).unwrap();
    assert_eq!(keeper.interval(), std::time::Duration::from_secs(10));
    keeper.renew().unwrap();
    assert!(until(&second) >= before);

    // The first process stalls past its lease: the second takes prod over, and the first can
    // neither stage, nor renew, nor complete.
    expire_leases(&first);
    let taken = second.begin_run("prod", ImportScope::Accounts).unwrap();
    assert_eq!(
        second.run(run.0).unwrap().unwrap().error.as_deref(),
        Some(INTERRUPTED)
    );
    let lost = |result: Result<(), StoreError>| {
        assert!(
            matches!(result, Err(StoreError::RunInterrupted { run: r }) if r == run.0),
            "{result:?}"
        );
    };
    lost(first.stage_accounts(run, &[plain("late", &[])]));
    lost(first.renew_run_lease(run));
    lost(keeper.renew());
    lost(
        first
            .complete_run(run, &Reconciliation::default())
            .map(|_| ()),
    );
    assert_eq!(second.busy_run("prod").unwrap().unwrap().run, taken.0);
    second
        .complete_run(taken, &Reconciliation::default())
        .unwrap();
    assert_eq!(second.busy_run("prod").unwrap(), None);
    assert!(second.accounts("prod").unwrap().is_empty());
}

#[test]
fn recover_interrupted_after_a_killed_process() {
    // A child process (this test binary, re-run on the helper test below) stages a batch and is
    // killed with SIGKILL mid-run; the parent then recovers.
    let dir = tempfile::tempdir().unwrap();
    let path = crate::store::testing::store_path(&dir);
    let mut store = Store::open(&path).unwrap();
    first_import(&mut store, "prod");
    let before = dump(&store, LIVE);
    drop(store);

    /// Kills the child however the test ends, so a failure cannot leave it running.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let ready = dir.path().join("ready");
    let child = KillOnDrop(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::tests::killed_child_helper",
                "--nocapture",
                "--include-ignored",
            ])
            .env("DCCONN_TEST_STORE", &path)
            .env("DCCONN_TEST_READY", &ready)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the child never got ready");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Dropping the guard sends SIGKILL and reaps the child.
    drop(child);

    let mut store = Store::open(&path).unwrap();
    // The child had committed batches (its run counts them), in its own staging, which died
    // with it: nothing of them reached the live data.
    let received: i64 = store
        .conn
        .query_row(
            "SELECT accounts FROM runs WHERE outcome = 'running'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(received > 0);
    // This connection's own staging (made before its first import, on PostgreSQL) is empty.
    store.prepare_staging().unwrap();
    assert_eq!(dump(&store, STAGING), Vec::<String>::new());
    assert_eq!(dump(&store, LIVE), before);
    assert!(matches!(
        store.begin_run("prod", ImportScope::All),
        Err(StoreError::EndpointBusy(_))
    ));
    expire_leases(&store);
    assert_eq!(store.recover_interrupted().unwrap(), 1);
    assert_eq!(dump(&store, LIVE), before);
    assert_eq!(dump(&store, STAGING), Vec::<String>::new());
}

/// Run only as the child of `recover_interrupted_after_a_killed_process`.
#[test]
#[ignore = "helper process for recover_interrupted_after_a_killed_process"]
fn killed_child_helper() {
    let (Some(path), Some(ready)) = (
        std::env::var_os("DCCONN_TEST_STORE"),
        std::env::var_os("DCCONN_TEST_READY"),
    ) else {
        return;
    };
    let mut store = Store::open(std::path::Path::new(&path)).unwrap();
    let run = store.begin_run("prod", ImportScope::Accounts).unwrap();
    store
        .stage_accounts(run, &[account("jdoe", &[("name", "from the child")], &[])])
        .unwrap();
    std::fs::write(&ready, "").unwrap();
    // Keep staging until killed (or, should the parent be gone, for a minute at most).
    let started = Instant::now();
    for i in 0.. {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            break;
        }
        store
            .stage_accounts(run, &[account(&format!("a{i}"), &[], &[])])
            .unwrap();
    }
}

#[test]
fn two_endpoints_side_by_side() {
    let (_dir, _path, mut store) = temp_store();
    first_import(&mut store, "prod");
    let run = store.begin_run("test", ImportScope::Accounts).unwrap();
    store
        .stage_accounts(
            run,
            &[account(
                "jdoe",
                &[("name", "jdoe (test)")],
                &[("Role", "Tester")],
            )],
        )
        .unwrap();
    let summary = complete(&mut store, run);
    assert_eq!((summary.accounts, summary.new_accounts), (1, 1));

    assert_eq!(store.endpoints().unwrap(), vec![s("prod"), s("test")]);
    assert_eq!(
        store.accounts("test").unwrap(),
        vec![stored(
            "jdoe",
            &[("name", "jdoe (test)")],
            &[("Role", "Tester")]
        )]
    );
    assert_eq!(
        store.account("prod", "jdoe").unwrap().unwrap().columns,
        cols(&[("name", "jdoe"), ("displayname", "John Doe")])
    );
    assert_eq!(store.accounts("prod").unwrap().len(), 2);
    assert_eq!(store.entitlements("test", None).unwrap(), vec![]);
    assert_eq!(
        store
            .runs("test")
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(
        store
            .runs("prod")
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![1]
    );
}

#[test]
fn unknown_endpoint_has_nothing() {
    let (_dir, _path, mut store) = temp_store();
    first_import(&mut store, "prod");
    assert_eq!(store.accounts("nope").unwrap(), vec![]);
    assert_eq!(store.account("nope", "jdoe").unwrap(), None);
    assert_eq!(store.entitlements("nope", None).unwrap(), vec![]);
    assert_eq!(store.runs("nope").unwrap(), vec![]);
}

#[test]
fn second_import_counts_new_and_updated() {
    let (_dir, _path, mut store) = temp_store();
    first_import(&mut store, "prod");
    let run = store.begin_run("prod", ImportScope::All).unwrap();
    store
        .stage_accounts(
            run,
            &[
                // Unchanged columns, one link new.
                account(
                    "jdoe",
                    &[("name", "jdoe"), ("displayname", "John Doe")],
                    &[("Role", "Underwriter"), ("Role", "Claims")],
                ),
                // Changed.
                account(
                    "asmith",
                    &[("name", "asmith"), ("email", "a@x")],
                    &[("Role", "Admin")],
                ),
                // New.
                account("bnew", &[("name", "bnew")], &[]),
            ],
        )
        .unwrap();
    store
        .stage_entitlements(
            run,
            &[
                entitlement("Role", "Underwriter", &[("entitlementID", "10")]),
                entitlement(
                    "Role",
                    "Admin",
                    &[("entitlementID", "11"), ("description", "all")],
                ),
                entitlement("Role", "Claims", &[("entitlementID", "12")]),
            ],
        )
        .unwrap();
    assert_eq!(
        complete(&mut store, run),
        RunSummary {
            run: 2,
            accounts: 3,
            new_accounts: 1,
            updated_accounts: 1,
            account_details: 0,
            entitlements: 3,
            new_entitlements: 1,
            updated_entitlements: 1,
            links: 3,
            links_added: 1,
            // jdoe no longer reports Entity 1.
            links_removed: 1,
            ..RunSummary::default()
        }
    );
    assert_eq!(
        account_rows(&store)
            .into_iter()
            .map(|(_, name, _, _, first, last)| (name, first, last))
            .collect::<Vec<_>>(),
        vec![(s("asmith"), 1, 2), (s("bnew"), 2, 2), (s("jdoe"), 1, 2)]
    );
}

#[test]
fn identical_reimport_changes_nothing_but_last_seen() {
    let (_dir, _path, mut store) = temp_store();
    first_import(&mut store, "prod");
    let updated_at = |store: &Store| -> Vec<String> {
        store
            .conn
            .prepare(
                "SELECT updated_at FROM accounts UNION ALL SELECT updated_at FROM entitlements",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let before = updated_at(&store);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let summary = first_import(&mut store, "prod");
    assert_eq!(
        summary,
        RunSummary {
            run: 2,
            accounts: 2,
            new_accounts: 0,
            updated_accounts: 0,
            account_details: 0,
            entitlements: 2,
            new_entitlements: 0,
            updated_entitlements: 0,
            links: 3,
            ..RunSummary::default()
        }
    );
    assert_eq!(store.run_changes(2).unwrap(), vec![]);
    assert_eq!(updated_at(&store), before);
    assert!(
        account_rows(&store)
            .iter()
            .all(|row| (row.4, row.5) == (1, 2))
    );
    assert!(link_rows(&store).iter().all(|row| (row.4, row.5) == (1, 2)));
}

#[test]
fn ended_and_unknown_runs_are_refused() {
    let (_dir, _path, mut store) = temp_store();
    let done = store.begin_run("prod", ImportScope::Accounts).unwrap();
    complete(&mut store, done);
    let failed = store.begin_run("prod", ImportScope::Accounts).unwrap();
    store.fail_run(failed, "boom").unwrap();
    let unknown = RunId(42);

    let cases: Vec<(Result<(), StoreError>, String)> = vec![
        (
            store.stage_accounts(done, &[]),
            s("run 1 has already ended (succeeded); start a new run"),
        ),
        (
            store.stage_account_details(done, &[]),
            s("run 1 has already ended (succeeded); start a new run"),
        ),
        (
            store.stage_entitlements(failed, &[]),
            s("run 2 has already ended (failed); start a new run"),
        ),
        (
            store
                .complete_run(failed, &Reconciliation::default())
                .map(|_| ()),
            s("run 2 has already ended (failed); start a new run"),
        ),
        (
            store.fail_run(done, "late"),
            s("run 1 has already ended (succeeded); start a new run"),
        ),
        (
            store.stage_accounts(unknown, &[]),
            s("there is no run 42 in the store"),
        ),
        (
            store
                .complete_run(unknown, &Reconciliation::default())
                .map(|_| ()),
            s("there is no run 42 in the store"),
        ),
        (
            store.begin_run("", ImportScope::All).map(|_| ()),
            s("an endpoint name must not be empty"),
        ),
    ];
    for (result, message) in cases {
        assert_eq!(result.unwrap_err().to_string(), message);
    }
}

#[test]
fn sqlite_errors_say_what_was_being_done() {
    let (_dir, _path, mut store) = temp_store();
    let run = store.begin_run("prod", ImportScope::Accounts).unwrap();
    store.conn.execute_batch("DROP TABLE staged_links").unwrap();
    let err = store
        .stage_accounts(run, &[account("a", &[], &[("Role", "R")])])
        .unwrap_err();
    let backend = match store.conn.backend() {
        db::Backend::Sqlite => "SQLite",
        db::Backend::Postgres => "PostgreSQL",
    };
    assert!(
        err.to_string().starts_with(&format!(
            "{backend} failed while staging accounts of run 1: "
        )),
        "{err}"
    );
}

#[test]
fn corrupt_columns_are_reported_not_panicked_on() {
    let (_dir, _path, mut store) = temp_store();
    first_import(&mut store, "prod");
    store
        .conn
        .execute(
            "UPDATE accounts SET columns = '{oops' WHERE name = 'jdoe'",
            [],
        )
        .unwrap();
    let err = store.accounts("prod").unwrap_err();
    assert!(
        err.to_string().starts_with(
            "the store holds unreadable data in the columns of account jdoe of endpoint prod: "
        ),
        "{err}"
    );
}

#[test]
fn merge_columns_table() {
    type Pairs<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Pairs, Pairs, Pairs)] = &[
        (&[], &[], &[]),
        (&[("a", "1")], &[], &[("a", "1")]),
        (&[], &[("a", "1")], &[("a", "1")]),
        (
            &[("a", "1"), ("b", "2")],
            &[("b", "3")],
            &[("a", "1"), ("b", "3")],
        ),
        (
            &[("a", "1"), ("b", "2")],
            &[("c", "4"), ("a", "0")],
            &[("a", "0"), ("b", "2"), ("c", "4")],
        ),
    ];
    for (base, detail, expected) in cases {
        let mut merged = cols(base);
        merge_columns(&mut merged, &cols(detail));
        assert_eq!(merged, cols(expected), "{base:?} + {detail:?}");
    }
}

#[test]
fn columns_encoding_round_trips_awkward_text() {
    let columns = cols(&[
        ("name", "O'Brien \"Bob\""),
        ("multi\nline", "tab\there, ünïcödé, \u{0}"),
        ("", ""),
    ]);
    let text = encode_columns(&columns);
    assert_eq!(
        text,
        r#"[["name","O'Brien \"Bob\""],["multi\nline","tab\there, ünïcödé, \u0000"],["",""]]"#
    );
    assert_eq!(decode_columns(&text, String::new).unwrap(), columns);
}

// ---- Reconciliation ----

/// A plain account with a `name` column and the given links.
fn plain(name: &str, links: &[(&str, &str)]) -> Account {
    account(name, &[("name", name)], links)
}

/// Runs a complete import of `scope` with `accounts` and `entitlements` under `policy`.
fn import(
    store: &mut Store,
    scope: ImportScope,
    accounts: &[Account],
    entitlements: &[Entitlement],
    policy: &Reconciliation,
) -> RunSummary {
    let run = store.begin_run("prod", scope).unwrap();
    store.stage_accounts(run, accounts).unwrap();
    store.stage_entitlements(run, entitlements).unwrap();
    store.complete_run(run, policy).unwrap()
}

/// (name, status, present) of every account of `prod`.
fn account_states(store: &Store) -> Vec<(String, String, bool)> {
    store
        .accounts("prod")
        .unwrap()
        .into_iter()
        .map(|a| (a.name, a.status, a.present))
        .collect()
}

/// (type, value, status, present) of every entitlement of `prod`.
fn entitlement_states(store: &Store) -> Vec<(String, String, String, bool)> {
    store
        .entitlements("prod", None)
        .unwrap()
        .into_iter()
        .map(|e| (e.entitlement_type, e.value, e.status, e.present))
        .collect()
}

fn state(name: &str, status: &str, present: bool) -> (String, String, bool) {
    (s(name), s(status), present)
}

fn ent_state(t: &str, v: &str, status: &str, present: bool) -> (String, String, String, bool) {
    (s(t), s(v), s(status), present)
}

/// A run's changes, one line each: `seq object account type value change column old new`,
/// `-` for none.
fn change_lines(store: &Store, run: i64) -> Vec<String> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| s("-"));
    store
        .run_changes(run)
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c.run_id, run);
            format!(
                "{} {} {} {} {} {} {} {} {}",
                c.seq,
                c.object,
                opt(&c.account),
                opt(&c.entitlement_type),
                opt(&c.value),
                c.change,
                opt(&c.column_name),
                opt(&c.old),
                opt(&c.new)
            )
        })
        .collect()
}

#[test]
fn account_threshold_at_just_below_and_above() {
    let five: Vec<Account> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| plain(n, &[]))
        .collect();
    // Two of five reported: three would be suspended.
    for (threshold, withheld) in [
        (Some(3), true),  // at the threshold
        (Some(4), false), // just below it
        (Some(2), true),  // above it
        (None, false),
    ] {
        let (_dir, _path, mut store) = temp_store();
        let policy = Reconciliation {
            account_threshold: threshold,
            ..Reconciliation::default()
        };
        import(&mut store, ImportScope::Accounts, &five, &[], &policy);
        let summary = import(&mut store, ImportScope::Accounts, &five[..2], &[], &policy);
        let record = store.run(2).unwrap().unwrap();
        if withheld {
            let expected = vec![Withheld {
                what: s("accounts"),
                count: 3,
                threshold,
                setting: s("accountThresholdValue"),
            }];
            assert_eq!(summary.suspended, 0, "{threshold:?}");
            assert_eq!(summary.withheld, expected);
            assert_eq!(summary.outcome(), RunOutcome::Withheld);
            assert_eq!(
                (record.outcome, record.suspended, record.withheld),
                (RunOutcome::Withheld, 0, expected)
            );
            assert!(
                account_states(&store)
                    .iter()
                    .all(|(_, status, present)| status == ACTIVE && *present)
            );
            assert_eq!(store.run_changes(2).unwrap(), vec![]);
        } else {
            assert_eq!(summary.suspended, 3, "{threshold:?}");
            assert_eq!(summary.withheld, vec![]);
            assert_eq!(
                (record.outcome, record.suspended, record.withheld),
                (RunOutcome::Succeeded, 3, vec![])
            );
            assert_eq!(
                account_states(&store),
                vec![
                    state("a", ACTIVE, true),
                    state("b", ACTIVE, true),
                    state("c", SUSPENDED, false),
                    state("d", SUSPENDED, false),
                    state("e", SUSPENDED, false),
                ]
            );
        }
    }
}

#[test]
fn entitlement_thresholds_per_type() {
    let catalogue: Vec<Entitlement> = ["R1", "R2", "R3", "R4", "R5"]
        .iter()
        .map(|v| entitlement("Role", v, &[]))
        .chain(["E1", "E2"].iter().map(|v| entitlement("Entity", v, &[])))
        .collect();
    // R1, R2 and E1 reported: three Roles and one Entity missing.
    let reported = [
        catalogue[0].clone(),
        catalogue[1].clone(),
        catalogue[5].clone(),
    ];
    let withheld = |what: &str, count, threshold| Withheld {
        what: s(what),
        count,
        threshold: Some(threshold),
        setting: format!("entThresholdValue.entType.{what}"),
    };
    type Case = (Vec<(String, u64)>, bool, Vec<Withheld>, u64);
    let cases: Vec<Case> = vec![
        // Role at its threshold: withheld; Entity has none: inactivated.
        (vec![(s("Role"), 3)], true, vec![withheld("Role", 3, 3)], 1),
        // Role just below its threshold.
        (vec![(s("Role"), 4)], true, vec![], 4),
        // Both above or at theirs.
        (
            vec![(s("Role"), 2), (s("Entity"), 1)],
            true,
            vec![withheld("Entity", 1, 1), withheld("Role", 3, 2)],
            0,
        ),
        // Not inactivating: nothing to withhold either.
        (vec![(s("Role"), 1)], false, vec![], 0),
    ];
    for (thresholds, inactivate, expected, inactivated) in cases {
        let (_dir, _path, mut store) = temp_store();
        let policy = Reconciliation {
            entitlement_thresholds: thresholds.clone(),
            inactivate_entitlements_not_in_feed: inactivate,
            ..Reconciliation::default()
        };
        import(&mut store, ImportScope::Access, &[], &catalogue, &policy);
        let summary = import(&mut store, ImportScope::Access, &[], &reported, &policy);
        assert_eq!(summary.withheld, expected, "{thresholds:?}");
        assert_eq!(
            summary.entitlements_inactivated, inactivated,
            "{thresholds:?}"
        );
        let record = store.run(2).unwrap().unwrap();
        assert_eq!(record.withheld, expected);
        assert_eq!(record.entitlements_inactivated, inactivated);
        let inactive: Vec<String> = entitlement_states(&store)
            .into_iter()
            .filter(|(_, _, status, present)| {
                assert_eq!(status == INACTIVE, !present);
                !present
            })
            .map(|(_, value, _, _)| value)
            .collect();
        let expected_inactive: &[&str] = match inactivated {
            0 => &[],
            1 => &["E2"],
            _ => &["E2", "R3", "R4", "R5"],
        };
        assert_eq!(inactive, expected_inactive, "{thresholds:?}");
    }
}

#[test]
fn missing_accounts_are_suspended_or_inactivated() {
    for (inactivate, status, change) in [
        (false, SUSPENDED, "suspended"),
        (true, INACTIVE, "inactivated"),
    ] {
        let (_dir, _path, mut store) = temp_store();
        let policy = Reconciliation {
            inactivate_accounts_not_in_file: inactivate,
            ..Reconciliation::default()
        };
        let both = [plain("a", &[]), plain("b", &[("Role", "R")])];
        import(&mut store, ImportScope::Accounts, &both, &[], &policy);
        let summary = import(&mut store, ImportScope::Accounts, &both[..1], &[], &policy);
        assert_eq!((summary.suspended, summary.links_removed), (1, 0));
        assert_eq!(
            account_states(&store),
            vec![state("a", ACTIVE, true), state("b", status, false)]
        );
        // The suspended account keeps its link.
        assert_eq!(
            store.account("prod", "b").unwrap().unwrap().entitlements,
            vec![ent_ref("Role", "R")]
        );
        assert_eq!(
            change_lines(&store, 2),
            vec![format!("1 account b - - {change} - active {status}")]
        );
    }
}

#[test]
fn delete_links_on_and_off() {
    for delete_links in [true, false] {
        let (_dir, _path, mut store) = temp_store();
        let policy = Reconciliation {
            delete_links,
            ..Reconciliation::default()
        };
        import(
            &mut store,
            ImportScope::Accounts,
            &[
                plain("a", &[("Role", "R1"), ("Role", "R2")]),
                plain("b", &[("Role", "R1")]),
            ],
            &[],
            &policy,
        );
        // a drops R2 and gains R3; b is no longer reported.
        let summary = import(
            &mut store,
            ImportScope::Accounts,
            &[plain("a", &[("Role", "R1"), ("Role", "R3")])],
            &[],
            &policy,
        );
        let links = |name: &str| store.account("prod", name).unwrap().unwrap().entitlements;
        // b's link is kept either way: b is suspended, not stripped.
        assert_eq!(links("b"), vec![ent_ref("Role", "R1")]);
        if delete_links {
            assert_eq!((summary.links_added, summary.links_removed), (1, 1));
            assert_eq!(
                links("a"),
                vec![ent_ref("Role", "R1"), ent_ref("Role", "R3")]
            );
            assert_eq!(
                change_lines(&store, 2),
                vec![
                    "1 account b - - suspended - active SUSPENDED FROM IMPORT SERVICE",
                    "2 link a Role R3 link-added - - -",
                    "3 link a Role R2 link-removed - - -",
                ]
            );
        } else {
            assert_eq!((summary.links_added, summary.links_removed), (1, 0));
            assert_eq!(
                links("a"),
                vec![
                    ent_ref("Role", "R1"),
                    ent_ref("Role", "R2"),
                    ent_ref("Role", "R3")
                ]
            );
        }
    }
}

#[test]
fn withheld_account_removal_still_reconciles_reported_links() {
    let (_dir, _path, mut store) = temp_store();
    let policy = Reconciliation {
        account_threshold: Some(1),
        ..Reconciliation::default()
    };
    import(
        &mut store,
        ImportScope::Accounts,
        &[plain("a", &[("Role", "R1")]), plain("b", &[("Role", "R1")])],
        &[],
        &policy,
    );
    let summary = import(
        &mut store,
        ImportScope::Accounts,
        &[plain("a", &[])],
        &[],
        &policy,
    );
    assert_eq!(
        (summary.suspended, summary.links_removed, summary.outcome()),
        (0, 1, RunOutcome::Withheld)
    );
    assert_eq!(
        account_states(&store),
        vec![state("a", ACTIVE, true), state("b", ACTIVE, true)]
    );
    assert_eq!(
        store.account("prod", "a").unwrap().unwrap().entitlements,
        vec![]
    );
    assert_eq!(
        store.account("prod", "b").unwrap().unwrap().entitlements,
        vec![ent_ref("Role", "R1")]
    );
}

#[test]
fn reported_again_is_restored() {
    let (_dir, _path, mut store) = temp_store();
    let policy = Reconciliation::default();
    let both = [plain("a", &[]), plain("b", &[])];
    let ents = [
        entitlement("Role", "R1", &[]),
        entitlement("Role", "R2", &[]),
    ];
    import(&mut store, ImportScope::All, &both, &ents, &policy);
    import(
        &mut store,
        ImportScope::All,
        &both[..1],
        &ents[..1],
        &policy,
    );
    assert_eq!(
        account_states(&store),
        vec![state("a", ACTIVE, true), state("b", SUSPENDED, false)]
    );
    assert_eq!(
        entitlement_states(&store),
        vec![
            ent_state("Role", "R1", ACTIVE, true),
            ent_state("Role", "R2", INACTIVE, false)
        ]
    );
    // A removed account not reported again stays as it is.
    let summary = import(
        &mut store,
        ImportScope::All,
        &both[..1],
        &ents[..1],
        &policy,
    );
    assert_eq!(
        (summary.suspended, summary.entitlements_inactivated),
        (0, 0)
    );
    assert_eq!(change_lines(&store, 3), Vec::<String>::new());

    let summary = import(&mut store, ImportScope::All, &both, &ents, &policy);
    assert_eq!(
        (
            summary.restored,
            summary.updated_accounts,
            summary.entitlements_restored,
            summary.updated_entitlements
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(
        account_states(&store),
        vec![state("a", ACTIVE, true), state("b", ACTIVE, true)]
    );
    assert_eq!(
        entitlement_states(&store),
        vec![
            ent_state("Role", "R1", ACTIVE, true),
            ent_state("Role", "R2", ACTIVE, true)
        ]
    );
    assert_eq!(
        change_lines(&store, 4),
        vec![
            "1 account b - - restored - SUSPENDED FROM IMPORT SERVICE active",
            "2 entitlement - Role R2 restored - inactive active",
        ]
    );
    let record = store.run(4).unwrap().unwrap();
    assert_eq!((record.restored, record.entitlements_restored), (1, 1));
}

#[test]
fn status_and_lock_come_from_their_columns() {
    let accounts = [
        account("a", &[("status", " active "), ("lock", "Y")], &[]),
        account("b", &[("status", "Disabled"), ("lock", "n")], &[]),
        account("c", &[("lock", "?")], &[]),
    ];
    let active_listed = Reconciliation {
        status_column: Some(s("status")),
        active_statuses: vec![s("Active")],
        inactive_statuses: vec![s("Disabled")],
        locked_status_column: Some(s("lock")),
        locked_values: vec![s("y")],
        unlocked_values: vec![s("N")],
        ..Reconciliation::default()
    };
    let inactive_only = Reconciliation {
        status_column: Some(s("status")),
        inactive_statuses: vec![s("DISABLED")],
        ..Reconciliation::default()
    };
    let states = |store: &Store| -> Vec<(String, String, Option<bool>)> {
        store
            .accounts("prod")
            .unwrap()
            .into_iter()
            .map(|a| (a.name, a.status, a.locked))
            .collect()
    };
    let (_dir, _path, mut store) = temp_store();
    import(
        &mut store,
        ImportScope::Accounts,
        &accounts,
        &[],
        &active_listed,
    );
    assert_eq!(
        states(&store),
        vec![
            (s("a"), s(ACTIVE), Some(true)),
            (s("b"), s(INACTIVE), Some(false)),
            // No status column: an empty value, not listed active. Unmapped lock: unknown.
            (s("c"), s(INACTIVE), None),
        ]
    );
    // Only inactive values listed: everything else is active; no locked column: unknown.
    let summary = import(
        &mut store,
        ImportScope::Accounts,
        &accounts,
        &[],
        &inactive_only,
    );
    assert_eq!(
        states(&store),
        vec![
            (s("a"), s(ACTIVE), None),
            (s("b"), s(INACTIVE), None),
            (s("c"), s(ACTIVE), None),
        ]
    );
    assert_eq!(summary.updated_accounts, 3);
    assert_eq!(
        change_lines(&store, 2),
        vec!["1 account c - - status - inactive active"]
    );
    // b becomes active through its column: a status change and a column change.
    let summary = import(
        &mut store,
        ImportScope::Accounts,
        &[
            accounts[0].clone(),
            account("b", &[("status", "ACTIVE"), ("lock", "n")], &[]),
            accounts[2].clone(),
        ],
        &[],
        &active_listed,
    );
    assert_eq!(summary.updated_accounts, 3);
    assert_eq!(
        states(&store),
        vec![
            (s("a"), s(ACTIVE), Some(true)),
            (s("b"), s(ACTIVE), Some(false)),
            (s("c"), s(INACTIVE), None),
        ]
    );
    assert_eq!(
        change_lines(&store, 3),
        vec![
            "1 account b - - status - inactive active",
            "2 account c - - status - active inactive",
            "3 account b - - updated status Disabled ACTIVE",
        ]
    );
}

#[test]
fn an_empty_account_list_is_withheld_unless_allowed() {
    let both = [plain("a", &[]), plain("b", &[])];
    for allow in [false, true] {
        let (_dir, _path, mut store) = temp_store();
        let policy = Reconciliation {
            allow_empty_account_list: allow,
            ..Reconciliation::default()
        };
        // Nothing live yet: an empty list withholds nothing.
        let summary = import(&mut store, ImportScope::Accounts, &[], &[], &policy);
        assert_eq!(summary.outcome(), RunOutcome::Succeeded);
        import(&mut store, ImportScope::Accounts, &both, &[], &policy);
        let summary = import(&mut store, ImportScope::Accounts, &[], &[], &policy);
        if allow {
            assert_eq!((summary.suspended, summary.withheld), (2, vec![]));
            assert_eq!(
                account_states(&store),
                vec![state("a", SUSPENDED, false), state("b", SUSPENDED, false)]
            );
        } else {
            let expected = vec![Withheld {
                what: s("accounts"),
                count: 2,
                threshold: None,
                setting: s("allowEmptyAccountList"),
            }];
            assert_eq!((summary.suspended, &summary.withheld), (0, &expected));
            assert_eq!(store.run(3).unwrap().unwrap().outcome, RunOutcome::Withheld);
            assert_eq!(
                account_states(&store),
                vec![state("a", ACTIVE, true), state("b", ACTIVE, true)]
            );
        }
    }
}

#[test]
fn access_import_leaves_accounts_and_accounts_import_leaves_entitlements() {
    let (_dir, _path, mut store) = temp_store();
    let policy = Reconciliation::default();
    import(
        &mut store,
        ImportScope::All,
        &[plain("a", &[("Role", "R1")])],
        &[entitlement("Role", "R1", &[])],
        &policy,
    );
    // An access import reports no account: accounts and links are not reconciled.
    let summary = import(&mut store, ImportScope::Access, &[], &[], &policy);
    assert_eq!(
        (
            summary.suspended,
            summary.links_removed,
            summary.entitlements_inactivated
        ),
        (0, 0, 1)
    );
    assert_eq!(account_states(&store), vec![state("a", ACTIVE, true)]);
    // An account import reports no entitlement: they are not reconciled.
    let summary = import(
        &mut store,
        ImportScope::Accounts,
        &[plain("a", &[])],
        &[],
        &policy,
    );
    assert_eq!(
        (summary.links_removed, summary.entitlements_inactivated),
        (1, 0)
    );
}

#[test]
fn audit_records_every_change_exactly() {
    let (_dir, _path, mut store) = temp_store();
    let policy = Reconciliation::default();
    import(
        &mut store,
        ImportScope::All,
        &[
            account(
                "jdoe",
                &[("name", "jdoe"), ("displayname", "John")],
                &[("Role", "Underwriter"), ("Entity", "1")],
            ),
            account("asmith", &[("name", "asmith")], &[("Role", "Admin")]),
            account("bgone", &[("name", "bgone")], &[]),
        ],
        &[
            entitlement("Role", "Underwriter", &[("id", "10")]),
            entitlement("Role", "Admin", &[("id", "11")]),
            entitlement("Role", "Old", &[("id", "12")]),
        ],
        &policy,
    );
    assert_eq!(
        change_lines(&store, 1),
        // A new account's links are part of its arrival: they carry its number.
        vec![
            "1 account asmith - - new - - -",
            "1 link asmith Role Admin link-added - - -",
            "2 account bgone - - new - - -",
            "3 account jdoe - - new - - -",
            "3 link jdoe Entity 1 link-added - - -",
            "3 link jdoe Role Underwriter link-added - - -",
            "4 entitlement - Role Admin new - - -",
            "5 entitlement - Role Old new - - -",
            "6 entitlement - Role Underwriter new - - -",
        ]
    );
    let run2_accounts = [
        account(
            "jdoe",
            &[
                ("name", "jdoe"),
                ("displayname", "Johnny"),
                ("email", "j@x"),
            ],
            &[("Role", "Underwriter"), ("Role", "Claims")],
        ),
        account("asmith", &[("name", "asmith")], &[("Role", "Admin")]),
        account("cnew", &[("name", "cnew")], &[]),
    ];
    let run2_entitlements = [
        entitlement("Role", "Underwriter", &[("id", "10")]),
        entitlement("Role", "Admin", &[("id", "11"), ("description", "all")]),
        entitlement("Role", "Claims", &[("id", "13")]),
    ];
    let summary = import(
        &mut store,
        ImportScope::All,
        &run2_accounts,
        &run2_entitlements,
        &policy,
    );
    assert_eq!(
        summary,
        RunSummary {
            run: 2,
            accounts: 3,
            new_accounts: 1,
            updated_accounts: 1,
            account_details: 0,
            entitlements: 3,
            new_entitlements: 1,
            updated_entitlements: 1,
            links: 3,
            suspended: 1,
            restored: 0,
            links_added: 1,
            links_removed: 1,
            entitlements_inactivated: 1,
            entitlements_restored: 0,
            withheld: vec![],
        }
    );
    assert_eq!(
        change_lines(&store, 2),
        vec![
            "1 account cnew - - new - - -",
            "2 account jdoe - - updated displayname John Johnny",
            "3 account jdoe - - updated email - j@x",
            "4 account bgone - - suspended - active SUSPENDED FROM IMPORT SERVICE",
            "5 link jdoe Role Claims link-added - - -",
            "6 link jdoe Entity 1 link-removed - - -",
            "7 entitlement - Role Claims new - - -",
            "8 entitlement - Role Admin updated description - all",
            "9 entitlement - Role Old inactivated - active inactive",
        ]
    );
    // The rows as the API gives them.
    assert_eq!(
        store.run_changes(2).unwrap()[1],
        Change {
            run_id: 2,
            seq: 2,
            object: s("account"),
            account: Some(s("jdoe")),
            entitlement_type: None,
            value: None,
            change: s("updated"),
            column_name: Some(s("displayname")),
            old: Some(s("John")),
            new: Some(s("Johnny")),
        }
    );
    let record = store.run(2).unwrap().unwrap();
    assert_eq!(
        (
            record.outcome,
            record.suspended,
            record.restored,
            record.links_added,
            record.links_removed,
            record.entitlements_inactivated,
            record.entitlements_restored
        ),
        (RunOutcome::Succeeded, 1, 0, 1, 1, 1, 0)
    );

    // bgone and Old come back; a column is dropped.
    let mut run3_accounts = run2_accounts.to_vec();
    run3_accounts[0].columns.pop();
    run3_accounts.push(account("bgone", &[("name", "bgone")], &[]));
    let mut run3_entitlements = run2_entitlements.to_vec();
    run3_entitlements.push(entitlement("Role", "Old", &[("id", "12")]));
    import(
        &mut store,
        ImportScope::All,
        &run3_accounts,
        &run3_entitlements,
        &policy,
    );
    assert_eq!(
        change_lines(&store, 3),
        vec![
            "1 account bgone - - restored - SUSPENDED FROM IMPORT SERVICE active",
            "2 account jdoe - - updated email j@x -",
            "3 entitlement - Role Old restored - inactive active",
        ]
    );
    // The same again changes nothing.
    import(
        &mut store,
        ImportScope::All,
        &run3_accounts,
        &run3_entitlements,
        &policy,
    );
    assert_eq!(change_lines(&store, 4), Vec::<String>::new());
    let err = store.run_changes(99).unwrap_err();
    assert_eq!(err.to_string(), "there is no run 99 in the store");
    assert_eq!(store.run(99).unwrap(), None);
}

#[test]
fn has_account_import_needs_a_completed_account_run() {
    let (_dir, _path, mut store) = temp_store();
    let policy = Reconciliation::default();
    assert!(!store.has_account_import("prod").unwrap());
    import(&mut store, ImportScope::Access, &[], &[], &policy);
    assert!(!store.has_account_import("prod").unwrap());
    let failed = store.begin_run("prod", ImportScope::Accounts).unwrap();
    store.fail_run(failed, "no").unwrap();
    let running = store.begin_run("prod", ImportScope::All).unwrap();
    assert!(!store.has_account_import("prod").unwrap());
    store.fail_run(running, "no").unwrap();
    // Withheld counts: the accounts were applied.
    import(&mut store, ImportScope::Accounts, &[], &[], &policy);
    assert!(store.has_account_import("prod").unwrap());
    assert!(!store.has_account_import("test").unwrap());

    let (_dir, _path, mut store) = temp_store();
    import(
        &mut store,
        ImportScope::All,
        &[plain("a", &[])],
        &[],
        &policy,
    );
    assert!(store.has_account_import("prod").unwrap());
}

// ---- Dry run ----

/// Every row of every table and the schema itself.
fn full_dump(store: &Store) -> Vec<String> {
    let (tables, schema) = match store.conn.backend() {
        db::Backend::Sqlite => (
            "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
            "sqlite_schema",
        ),
        db::Backend::Postgres => (
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
             WHERE table_schema = current_schema() ORDER BY 1",
            "information_schema.columns WHERE table_schema = current_schema()",
        ),
    };
    let tables: Vec<String> = store
        .conn
        .prepare(tables)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    let mut rows = dump(store, &[schema]);
    rows.extend(dump(store, &tables));
    if let Some(conn) = store.conn.as_sqlite() {
        rows.push(format!(
            "user_version {}",
            conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
                .unwrap()
        ));
    }
    rows
}

#[test]
fn a_dry_run_leaves_the_file_exactly_as_it_was() {
    let (_dir, path, mut store) = temp_store();
    first_import(&mut store, "prod");
    store
        .replace_identities(&[identity("jdoe", Some("j@x"), &[])])
        .unwrap();
    // A run left running, which the dry run's recovery marks failed.
    let left = store.begin_run("prod", ImportScope::Accounts).unwrap();
    store.stage_accounts(left, &[plain("zed", &[])]).unwrap();
    expire_leases(&store);
    let before = full_dump(&store);
    assert!(before.len() > 20);

    store.begin_dry_run().unwrap();
    assert_eq!(
        store.begin_dry_run().unwrap_err().to_string(),
        "a dry run is already in progress on this store; end it before beginning another"
    );
    assert_eq!(store.recover_interrupted().unwrap(), 1);
    let run = store.begin_run("prod", ImportScope::All).unwrap();
    assert_eq!(run, RunId(3));
    store
        .stage_accounts(
            run,
            &[plain("jdoe", &[("Role", "Claims")]), plain("new", &[])],
        )
        .unwrap();
    store
        .stage_account_details(run, &[account("new", &[("email", "n@x")], &[])])
        .unwrap();
    store
        .stage_entitlements(run, &[entitlement("Role", "Claims", &[])])
        .unwrap();
    // A failed write inside the dry run rolls back its savepoint only.
    assert!(store.stage_accounts(left, &[]).is_err());
    let summary = complete(&mut store, run);
    assert_eq!(
        (
            summary.new_accounts,
            summary.suspended,
            summary.entitlements_inactivated
        ),
        (1, 1, 2)
    );
    assert_eq!(store.run_changes(3).unwrap().len(), 9);
    store
        .set_correlation("prod", &"name=username".parse().unwrap(), true)
        .unwrap();
    store.replace_identities(&[]).unwrap();
    assert!(
        store
            .accounts("prod")
            .unwrap()
            .iter()
            .any(|a| a.name == "new")
    );
    store.end_dry_run().unwrap();

    assert_eq!(full_dump(&store), before);
    assert_eq!(
        store.end_dry_run().unwrap_err().to_string(),
        "there is no dry run in progress to end"
    );
    // Also as another connection sees the file.
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(full_dump(&store), before);
    // The store works normally afterwards; the dry run's ids are reused by SQLite (PostgreSQL's
    // sequences do not roll back).
    store.recover_interrupted().unwrap();
    let next = store.begin_run("prod", ImportScope::All).unwrap();
    assert_eq!(next, RunId(if testing::on_postgres() { 4 } else { 3 }));
}

#[test]
fn dropping_the_store_in_a_dry_run_rolls_back() {
    let (_dir, path, mut store) = temp_store();
    first_import(&mut store, "prod");
    let before = full_dump(&store);
    store.begin_dry_run().unwrap();
    let run = store.begin_run("prod", ImportScope::Accounts).unwrap();
    complete(&mut store, run);
    drop(store);
    assert_eq!(full_dump(&Store::open(&path).unwrap()), before);
}

// ---- Identities and correlation ----

fn identity(username: &str, email: Option<&str>, attributes: &[(&str, &str)]) -> Identity {
    Identity {
        username: s(username),
        firstname: None,
        lastname: None,
        email: email.map(s),
        attributes: attributes.iter().map(|(k, v)| (s(k), s(v))).collect(),
    }
}

#[test]
fn identities_are_replaced_whole() {
    let (_dir, path, mut store) = temp_store();
    assert_eq!(store.identities().unwrap(), vec![]);
    let first = vec![
        Identity {
            firstname: Some(s("John")),
            lastname: Some(s("Doe")),
            ..identity(
                "jdoe",
                Some("j@x"),
                &[("customproperty1", "C1"), ("dept", "")],
            )
        },
        identity("asmith", None, &[]),
    ];
    assert_eq!(store.replace_identities(&first).unwrap(), 2);
    assert_eq!(
        store.identities().unwrap(),
        vec![first[1].clone(), first[0].clone()]
    );
    let second = vec![identity("zed", None, &[])];
    assert_eq!(store.replace_identities(&second).unwrap(), 1);
    drop(store);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.identities().unwrap(), second);
    let err = store
        .replace_identities(&[identity("a", None, &[]), identity("a", None, &[])])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "identity \"a\" is given twice; each username must appear once"
    );
    assert_eq!(store.identities().unwrap(), second);
}

#[test]
fn owners_by_username_then_email() {
    let (_dir, _path, mut store) = temp_store();
    let policy = Reconciliation {
        status_column: Some(s("status")),
        inactive_statuses: vec![s("0")],
        ..Reconciliation::default()
    };
    import(
        &mut store,
        ImportScope::Accounts,
        &[
            account("jdoe", &[("customproperty1", "twins@x.com")], &[]),
            account("A123", &[("customproperty1", "A.Smith@X.com")], &[]),
            account("t1", &[("customproperty1", "twins@x.com")], &[]),
            account("nobody", &[("customproperty1", "")], &[]),
            account(
                "off",
                &[("customproperty1", "a.smith@x.com"), ("status", "0")],
                &[],
            ),
            account("gone", &[("customproperty1", "a.smith@x.com")], &[]),
        ],
        &[],
        &policy,
    );
    // gone is suspended.
    let kept: Vec<Account> = store
        .accounts("prod")
        .unwrap()
        .into_iter()
        .filter(|a| a.name != "gone")
        .map(|a| Account {
            name: a.name,
            columns: a.columns,
            entitlements: vec![],
        })
        .collect();
    import(&mut store, ImportScope::Accounts, &kept, &[], &policy);
    let owners = |store: &Store| -> Vec<(String, Option<String>)> {
        store
            .accounts("prod")
            .unwrap()
            .into_iter()
            .map(|a| (a.name, a.owner))
            .collect()
    };
    let owner = |name: &str, who: Option<&str>| (s(name), who.map(s));
    // No identities: no owners.
    assert!(owners(&store).iter().all(|(_, o)| o.is_none()));
    store
        .replace_identities(&[
            identity("jdoe", Some("john@x.com"), &[]),
            identity("asmith", Some("a.smith@x.com"), &[]),
            identity("twin1", Some("twins@x.com"), &[]),
            identity("twin2", Some("TWINS@x.com"), &[]),
        ])
        .unwrap();
    assert_eq!(
        owners(&store),
        vec![
            // Email ignoring case.
            owner("A123", Some("asmith")),
            owner("gone", None),
            // By name first, although its email is ambiguous.
            owner("jdoe", Some("jdoe")),
            owner("nobody", None),
            owner("off", None),
            // Ambiguous email.
            owner("t1", None),
        ]
    );
    // Inactive and suspended accounts are correlated when the endpoint says so.
    store
        .set_correlation("prod", &CorrelationRule::default(), true)
        .unwrap();
    assert_eq!(
        store.correlation("prod").unwrap(),
        (CorrelationRule::default(), true)
    );
    let all = owners(&store);
    assert_eq!(
        (&all[1], &all[4]),
        (
            &owner("gone", Some("asmith")),
            &owner("off", Some("asmith"))
        )
    );
    assert_eq!(
        store.account("prod", "off").unwrap().unwrap().owner,
        Some(s("asmith"))
    );
    // Another rule: by email only; jdoe's email is ambiguous.
    store
        .set_correlation("prod", &"customproperty1=email".parse().unwrap(), false)
        .unwrap();
    assert_eq!(
        owners(&store),
        vec![
            owner("A123", Some("asmith")),
            owner("gone", None),
            owner("jdoe", None),
            owner("nobody", None),
            owner("off", None),
            owner("t1", None),
        ]
    );
    assert_eq!(store.account("prod", "jdoe").unwrap().unwrap().owner, None);
    assert_eq!(
        store.correlation("other").unwrap(),
        (CorrelationRule::default(), false)
    );
}

// ---- Migration ----

#[test]
fn a_version_1_store_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        assert!(matches!(
            schema::migrate_to(&mut conn, 1).unwrap(),
            schema::Migration::Current
        ));
        conn.execute_batch(
            r#"
            INSERT INTO endpoints (id, name) VALUES (1, 'prod');
            INSERT INTO runs (id, endpoint_id, kind, scope, started_at, finished_at, outcome,
                              accounts, links, new_accounts, new_entitlements, entitlements)
            VALUES (1, 1, 'import', 'all', 't0', 't1', 'succeeded', 2, 1, 2, 1, 1);
            INSERT INTO runs (id, endpoint_id, kind, scope, started_at, outcome)
            VALUES (2, 1, 'import', 'accounts', 't2', 'running');
            INSERT INTO accounts VALUES (1, 'a', '[["name","a"]]', 'active', 1, 1, 't1');
            INSERT INTO accounts VALUES (1, 'b', '[["name","b"]]', 'active', 1, 1, 't1');
            INSERT INTO entitlements VALUES (1, 'Role', 'R', '[]', 'active', 1, 1, 't1');
            INSERT INTO links VALUES (1, 'a', 'Role', 'R', 1, 1);
            INSERT INTO staged_accounts VALUES (2, 'x', '[]');
            INSERT INTO staged_links VALUES (2, 'x', 'Role', 'R');
            "#,
        )
        .unwrap();
        // The version 1 schema refuses the new outcome.
        assert!(
            conn.execute("UPDATE runs SET outcome = 'withheld' WHERE id = 1", [])
                .is_err()
        );
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1);
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
    // Version 4 moved staging out of the file: what a version 1 import had staged is gone (its
    // run is still `running`, for recovery to mark interrupted), and the file has no staging
    // tables, only the connection's TEMP ones.
    assert_eq!(dump(&store, STAGING), Vec::<String>::new());
    let in_file: i64 = store
        .conn
        .query_row(
            "SELECT count(*) FROM main.sqlite_schema WHERE name LIKE 'staged_%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(in_file, 0);
    let runs = store.runs("prod").unwrap();
    assert_eq!(
        runs[1],
        RunRecord {
            id: 1,
            endpoint: s("prod"),
            kind: s("import"),
            scope: s("all"),
            started_at: s("t0"),
            finished_at: Some(s("t1")),
            outcome: RunOutcome::Succeeded,
            error: None,
            accounts: 2,
            account_details: 0,
            entitlements: 1,
            links: 1,
            new_accounts: 2,
            updated_accounts: 0,
            new_entitlements: 1,
            updated_entitlements: 0,
            suspended: 0,
            restored: 0,
            links_added: 0,
            links_removed: 0,
            entitlements_inactivated: 0,
            entitlements_restored: 0,
            withheld: vec![],
            pruned_at: None,
            changes_pruned: 0,
        }
    );
    assert_eq!(runs[0].outcome, RunOutcome::Running);
    assert_eq!(
        account_states(&store),
        vec![state("a", ACTIVE, true), state("b", ACTIVE, true)]
    );
    assert_eq!(
        store.account("prod", "a").unwrap().unwrap(),
        stored("a", &[("name", "a")], &[("Role", "R")])
    );
    assert_eq!(
        entitlement_states(&store),
        vec![ent_state("Role", "R", ACTIVE, true)]
    );
    assert!(store.has_account_import("prod").unwrap());

    // The migrated store runs the new code: recovery, then a withheld run.
    assert_eq!(store.recover_interrupted().unwrap(), 1);
    let policy = Reconciliation {
        account_threshold: Some(1),
        ..Reconciliation::default()
    };
    let summary = import(
        &mut store,
        ImportScope::Accounts,
        &[plain("a", &[])],
        &[],
        &policy,
    );
    assert_eq!(summary.outcome(), RunOutcome::Withheld);
    assert_eq!(store.run(3).unwrap().unwrap().outcome, RunOutcome::Withheld);
    assert!(
        store
            .conn
            .execute("UPDATE runs SET outcome = 'bogus' WHERE id = 1", [])
            .is_err()
    );
    drop(store);
    // Opening again migrates nothing.
    let store = Store::open(&path).unwrap();
    assert_eq!(pragma(&store, "user_version"), schema::VERSION);
}

/// Measures the sizes the module promises: 500-account batches in a few ms, 100k accounts with
/// 3.5 links each applied in a few seconds, reconciliation included. Run with
/// `cargo test --release -p dcconn --lib -- --ignored --nocapture store_scale`.
///
/// Rounds: 0 a first import (every account and link new, all recorded as changes); 1 the same
/// again (nothing changes); 2 with a status column and lock mapping, 10% of the accounts gone
/// (suspended), 10% with a changed column and a changed link; then reading the accounts with
/// 100k identities to correlate.
#[test]
#[ignore = "a measurement, not a check; run it by hand"]
fn store_scale() {
    let (_dir, _path, mut store) = temp_store();
    let batch_of = |start: usize, round: usize| -> Vec<Account> {
        (start..start + 500)
            .filter(|i| round < 2 || i % 10 != 0)
            .map(|i| {
                let changed = round == 2 && i % 10 == 1;
                let mut columns: Columns = (0..12)
                    .map(|c| {
                        (
                            format!("customproperty{c}"),
                            format!("value {c} of user {i}"),
                        )
                    })
                    .collect();
                columns.push((
                    s("status"),
                    s(if i % 7 == 0 { "Disabled" } else { "Active" }),
                ));
                columns.push((s("locked"), s(if i % 5 == 0 { "Y" } else { "N" })));
                columns.push((s("email"), format!("user{i}@example.com")));
                if changed {
                    columns[3].1.push_str(" (changed)");
                }
                Account {
                    name: format!("user{i:06}"),
                    columns,
                    entitlements: (0..(3 + i % 2))
                        .map(|l| {
                            ent_ref(
                                "Role",
                                &format!("Role{}", (i + l + usize::from(changed && l == 0)) % 200),
                            )
                        })
                        .collect(),
                }
            })
            .collect()
    };
    let reconciling = Reconciliation {
        status_column: Some(s("status")),
        active_statuses: vec![s("active")],
        locked_status_column: Some(s("locked")),
        locked_values: vec![s("y")],
        unlocked_values: vec![s("n")],
        ..Reconciliation::default()
    };
    for round in 0..3 {
        let policy = if round == 2 {
            reconciling.clone()
        } else {
            Reconciliation::default()
        };
        let run = store.begin_run("prod", ImportScope::Accounts).unwrap();
        let started = Instant::now();
        let mut slowest = std::time::Duration::ZERO;
        for start in (0..100_000).step_by(500) {
            let batch = batch_of(start, round);
            let t = Instant::now();
            store.stage_accounts(run, &batch).unwrap();
            slowest = slowest.max(t.elapsed());
        }
        let staged = started.elapsed();
        let t = Instant::now();
        let summary = store.complete_run(run, &policy).unwrap();
        let applied = t.elapsed();
        let t = Instant::now();
        let changes = store.run_changes(run.0).unwrap().len();
        let read_changes = t.elapsed();
        let t = Instant::now();
        let accounts = store.accounts("prod").unwrap();
        let read = t.elapsed();
        println!(
            "round {round}: staged 200 batches in {staged:?} (slowest {slowest:?}), applied in {applied:?}, {changes} changes read in {read_changes:?}, read {} accounts in {read:?}; {summary:?}",
            accounts.len()
        );
    }
    let identities: Vec<Identity> = (0..100_000)
        .map(|i| {
            identity(
                &format!("person{i}"),
                Some(&format!("USER{i}@example.com")),
                &[],
            )
        })
        .collect();
    store.replace_identities(&identities).unwrap();
    store
        .set_correlation("prod", &"name=username,email=email".parse().unwrap(), false)
        .unwrap();
    let t = Instant::now();
    let accounts = store.accounts("prod").unwrap();
    let owned = accounts.iter().filter(|a| a.owner.is_some()).count();
    println!(
        "read {} accounts with 100k identities in {:?}; {owned} have an owner",
        accounts.len(),
        t.elapsed()
    );
}

/// One import of a scenario: its accounts, then its detail records, with a policy.
struct Step {
    accounts: Vec<Account>,
    details: Vec<Account>,
    policy: Reconciliation,
}

/// Runs `steps` into a new store, each begun with its policy (`begin_import`: unchanged accounts
/// skipped while receiving) or without (`begin_run`: every record staged); what each run
/// summarized and recorded, and the accounts at the end.
fn run_steps(
    steps: &[Step],
    with_policy: bool,
) -> (Vec<RunSummary>, Vec<Vec<String>>, Vec<StoredAccount>) {
    let (_dir, _path, mut store) = temp_store();
    let mut summaries = Vec::new();
    let mut changes = Vec::new();
    for step in steps {
        let run = match with_policy {
            true => store.begin_import("prod", ImportScope::Accounts, &step.policy),
            false => store.begin_run("prod", ImportScope::Accounts),
        }
        .unwrap();
        for batch in step.accounts.chunks(2) {
            store.stage_accounts(run, batch).unwrap();
        }
        store.stage_account_details(run, &step.details).unwrap();
        let mut summary = store.complete_run(run, &step.policy).unwrap();
        summary.run = 0;
        summaries.push(summary);
        changes.push(change_lines(&store, run.0));
    }
    (summaries, changes, store.accounts("prod").unwrap())
}

#[test]
fn skipping_unchanged_accounts_changes_nothing_but_the_work() {
    let status_policy = Reconciliation {
        status_column: Some("status".into()),
        inactive_statuses: vec!["disabled".into()],
        ..Reconciliation::default()
    };
    let base = || {
        vec![
            account(
                "jdoe",
                &[("name", "J"), ("status", "disabled")],
                &[("Role", "U"), ("Entity", "1")],
            ),
            account("asmith", &[("name", "A")], &[("Role", "Admin")]),
            account("bgone", &[("name", "B")], &[]),
            account("carl", &[("name", "C")], &[("Role", "U")]),
        ]
    };
    let step = |accounts: Vec<Account>, details: Vec<Account>, policy: &Reconciliation| Step {
        accounts,
        details,
        policy: policy.clone(),
    };
    let default = Reconciliation::default();
    let steps = [
        step(base(), vec![], &default),
        // Nothing changed.
        step(base(), vec![], &default),
        // A column, a link added, an account gone, a new one with links; a link given twice.
        step(
            vec![
                account(
                    "jdoe",
                    &[("name", "J2"), ("status", "disabled")],
                    &[("Role", "U"), ("Entity", "1")],
                ),
                account(
                    "asmith",
                    &[("name", "A")],
                    &[("Role", "Admin"), ("Role", "X"), ("Role", "X")],
                ),
                account("carl", &[("name", "C")], &[("Role", "U")]),
                account("dora", &[("name", "D")], &[("Role", "U"), ("Entity", "2")]),
                account("erin", &[("name", "E")], &[("Role", "U")]),
                account("erin", &[("name", "E2")], &[("Role", "X"), ("Role", "U")]),
            ],
            vec![],
            &default,
        ),
        // Restored; a link removed; an unchanged account reported twice, the second time with
        // one more link; an unchanged account completed by a detail record.
        step(
            vec![
                account(
                    "jdoe",
                    &[("name", "J2"), ("status", "disabled")],
                    &[("Role", "U"), ("Entity", "1")],
                ),
                account("asmith", &[("name", "A")], &[("Role", "Admin")]),
                account("bgone", &[("name", "B")], &[]),
                account("carl", &[("name", "C")], &[("Role", "U")]),
                account("dora", &[("name", "D")], &[("Role", "U"), ("Entity", "2")]),
                account(
                    "jdoe",
                    &[("name", "J2"), ("status", "disabled")],
                    &[("Entity", "3")],
                ),
            ],
            vec![account("carl", &[("email", "c@x")], &[("Role", "Y")])],
            &default,
        ),
        // The same data under a policy with a status column: statuses change though no column
        // did.
        step(
            vec![
                account(
                    "jdoe",
                    &[("name", "J2"), ("status", "disabled")],
                    &[("Role", "U"), ("Entity", "1"), ("Entity", "3")],
                ),
                account("asmith", &[("name", "A")], &[("Role", "Admin")]),
                account("bgone", &[("name", "B")], &[]),
                account(
                    "carl",
                    &[("name", "C"), ("email", "c@x")],
                    &[("Role", "U"), ("Role", "Y")],
                ),
                account("dora", &[("name", "D")], &[("Role", "U"), ("Entity", "2")]),
            ],
            vec![],
            &status_policy,
        ),
        // Again, unchanged under that policy.
        step(
            vec![
                account(
                    "jdoe",
                    &[("name", "J2"), ("status", "disabled")],
                    &[("Entity", "3"), ("Role", "U"), ("Entity", "1")],
                ),
                account("asmith", &[("name", "A")], &[("Role", "Admin")]),
                account("bgone", &[("name", "B")], &[]),
                account(
                    "carl",
                    &[("name", "C"), ("email", "c@x")],
                    &[("Role", "Y"), ("Role", "U")],
                ),
                account("dora", &[("name", "D")], &[("Role", "U"), ("Entity", "2")]),
            ],
            vec![],
            &status_policy,
        ),
    ];
    let skipping = run_steps(&steps, true);
    let staging_all = run_steps(&steps, false);
    assert_eq!(skipping, staging_all);
    let (summaries, changes, _) = skipping;
    assert_eq!(
        changes[1],
        Vec::<String>::new(),
        "an unchanged import records nothing"
    );
    assert_eq!(changes[5], Vec::<String>::new());
    assert_eq!(
        (
            summaries[1].accounts,
            summaries[1].links,
            summaries[1].updated_accounts
        ),
        (4, 4, 0)
    );
    assert_eq!(
        (
            summaries[3].restored,
            summaries[3].links_added,
            summaries[3].links_removed
        ),
        (1, 2, 1)
    );
    assert_eq!(
        summaries[4].updated_accounts, 1,
        "jdoe becomes inactive: {:?}",
        changes[4]
    );
    // New accounts arrive with their links, once each, however often they were reported.
    let arrivals: Vec<&String> = changes[2]
        .iter()
        .filter(|line| line.contains("dora") || line.contains("erin"))
        .collect();
    assert_eq!(
        arrivals,
        [
            "1 account dora - - new - - -",
            "1 link dora Entity 2 link-added - - -",
            "1 link dora Role U link-added - - -",
            "2 account erin - - new - - -",
            "2 link erin Role U link-added - - -",
            "2 link erin Role X link-added - - -",
        ]
    );
    assert_eq!(
        summaries[2].links_added, 5,
        "asmith's X and the arrivals' four"
    );
}
