//! A store you can run for years: commands that read never create (or migrate) a store, a file
//! that is not a dcconn store is refused by every command and left as it was, an older schema is
//! copied before it is migrated, and `dcconn db check`, `db backup`, `db prune`, `db migrate`.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use dcsim::Fault;
use rusqlite::Connection;
use serde_json::{Value, json};

use crate::support::*;

const INTERNAL: i32 = 1;
const USAGE: i32 = 2;

/// The schema version this dcconn writes.
const VERSION: i64 = 9;

/// dcconn run in `dir` with the given arguments (no `--db` unless they give one), the
/// harness's component and cache.
fn dcconn_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dcconn"))
        .arg("--component")
        .arg(component())
        .args(args)
        .current_dir(dir)
        .env("DCCONN_CACHE_DIR", cache_dir())
        .env_remove("DCCONN_DB")
        .env(PASSWORD_VARIABLE, PASSWORD)
        .output()
        .expect("dcconn runs")
}

/// The names in a folder, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every command that only reads the store; `db backup` copies it to `out`.
fn reading_commands(out: &Path) -> Vec<Vec<String>> {
    let out = out.display().to_string();
    [
        vec!["accounts"],
        vec!["entitlements"],
        vec!["runs"],
        vec!["tasks"],
        vec!["changes", "1"],
        vec!["show", "account", "jdoe"],
        vec!["report", "1", "--html", "-"],
        vec!["db", "check"],
        vec!["db", "backup", &out],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(String::from).collect())
    .collect()
}

/// A CSV of identities `identities load` accepts.
fn identities_file(dir: &Path) -> PathBuf {
    let path = dir.join("identities.csv");
    std::fs::write(&path, "username,email\nolga,olga@example.com\n").unwrap();
    path
}

/// The schema version of a store file, read without writing.
fn user_version(path: &Path) -> i64 {
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the file opens");
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap()
}

/// Turns a store of this version back into what version 7's dcconn wrote: undoes migration 8
/// (the two columns of pruning).
fn back_to_version_7(db: &Path) {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch(
        "ALTER TABLE runs DROP COLUMN pruned_at;
         ALTER TABLE runs DROP COLUMN changes_pruned;
         PRAGMA user_version = 7;",
    )
    .unwrap();
}

/// Whether the runs of a store file have the pruning columns (schema version 8).
fn has_pruning_columns(db: &Path) -> bool {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(
        "SELECT count(*) FROM pragma_table_info('runs') WHERE name IN ('pruned_at', 'changes_pruned')",
        [],
        |row| row.get::<_, i64>(0),
    )
    .unwrap()
        == 2
}

fn json_of(output: &Output) -> Value {
    assert_success(output);
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

#[test]
fn commands_that_read_create_no_store_and_say_how_to_make_one() {
    let harness = Harness::new(5);
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let db = dir.path().join("dcconn.db");
    let missing = format!(
        "error: there is no store at {db} (this command creates none): check --db (or DCCONN_DB) and the folder a relative path starts from, or create the store by importing (dcconn import -c CONNECTION --db {db})\n",
        db = db.display()
    );
    let mut commands = reading_commands(&copy);
    commands.push(
        ["db", "prune", "--keep-runs", "1"]
            .map(String::from)
            .to_vec(),
    );
    commands.push(vec!["db".into(), "migrate".into()]);
    // Provisioning acts on accounts an import stored: without a store it has none.
    for job in ["disable", "retry"] {
        let mut command = vec![job.to_string()];
        command.extend(harness.connection_args(SOAP_PACKAGE));
        if job == "disable" {
            command.push("user000001".into());
        }
        commands.push(command);
    }
    for command in &commands {
        // As cron runs it: a relative --db, from another folder than the store's.
        let mut args = vec!["--db", "dcconn.db"];
        args.extend(command.iter().map(String::as_str));
        let output = dcconn_in(dir.path(), &args);
        assert_eq!(output.status.code(), Some(USAGE), "{command:?}");
        assert_eq!(stderr(&output), missing, "{command:?}");
        assert_eq!(stdout(&output), "", "{command:?}");
        assert_eq!(files_in(dir.path()), Vec::<String>::new(), "{command:?}");
    }

    // A dry run without a store compares with an empty one, and leaves no file.
    let mut dry_run = vec!["--db", "dcconn.db", "import", "--dry-run"];
    let connection = harness.connection_args(SOAP_PACKAGE);
    dry_run.extend(connection.iter().map(String::as_str));
    let output = dcconn_in(dir.path(), &dry_run);
    assert_success(&output);
    assert!(
        stderr(&output).contains("no store at --db yet: the dry run compares with an empty store"),
        "{}",
        stderr(&output)
    );
    assert!(
        stdout(&output).starts_with("dry run of DuckCreek"),
        "{}",
        stdout(&output)
    );
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
    harness.sim.clear_requests();

    // An empty file is no store either, and stays empty.
    std::fs::write(&db, "").unwrap();
    let output = dcconn_in(dir.path(), &["--db", "dcconn.db", "accounts"]);
    assert_failure(
        &output,
        USAGE,
        &[&format!(
            "error: the file {} is an empty database, not yet a dcconn store; an import creates the store in it (dcconn import -c CONNECTION --db {})",
            db.display(),
            db.display()
        )],
    );
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
    assert_eq!(files_in(dir.path()), ["dcconn.db"]);

    // A command that writes still creates the store.
    std::fs::remove_file(&db).unwrap();
    let identities = identities_file(harness.dir.path());
    let output = dcconn_in(
        dir.path(),
        &[
            "--db",
            "dcconn.db",
            "identities",
            "load",
            &identities.display().to_string(),
        ],
    );
    assert_success(&output);
    assert_eq!(user_version(&db), VERSION);
    let output = dcconn_in(dir.path(), &["--db", "dcconn.db", "db", "check"]);
    assert_success(&output);
    assert!(
        harness.sim.requests().is_empty(),
        "nothing was sent to Duck Creek"
    );
}

#[test]
fn a_file_that_is_not_a_store_is_refused_by_every_command_and_left_as_it_was() {
    let harness = Harness::new(5);
    let dir = harness.dir.path();
    let other = dir.join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch(
            "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT);
             INSERT INTO settings VALUES ('theme', 'dark');",
        )
        .unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, "shopping list: eggs, milk, a new dcconn store\n").unwrap();
    let identities = identities_file(dir);
    let copy = dir.join("copy.db");
    let mut commands = reading_commands(&copy);
    let identities = identities.display().to_string();
    let mut import = vec!["import".to_string()];
    import.extend(harness.connection_args(SOAP_PACKAGE));
    let mut disable = vec!["disable".to_string()];
    disable.extend(harness.connection_args(SOAP_PACKAGE));
    disable.extend(["--account".into(), "user000001".into()]);
    let mut retry = vec!["retry".to_string()];
    retry.extend(harness.connection_args(SOAP_PACKAGE));
    commands.extend([
        import,
        disable,
        retry,
        vec!["identities".into(), "load".into(), identities],
        ["db", "prune", "--keep-runs", "1"]
            .map(String::from)
            .to_vec(),
        vec!["db".into(), "migrate".into()],
    ]);
    let files_before = files_in(dir);
    for (file, why) in [
        (
            &other,
            "it is a SQLite database with other tables (settings) and no dcconn schema",
        ),
        (&text, "it is not a SQLite database"),
    ] {
        let bytes = std::fs::read(file).unwrap();
        for command in &commands {
            let mut args = vec!["--db".to_string(), file.display().to_string()];
            args.extend(command.iter().cloned());
            let output = dcconn_in(dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(output.status.code(), Some(USAGE), "{command:?}");
            assert_eq!(
                stderr(&output),
                format!(
                    "error: the file {} is not a dcconn store: {why}; nothing was written to it; point --db at a dcconn store, or at a new file to create one\n",
                    file.display()
                ),
                "{command:?}"
            );
            assert_eq!(std::fs::read(file).unwrap(), bytes, "{command:?}");
            assert_eq!(files_in(dir), files_before, "{command:?}");
        }
    }
    // A folder or a FIFO is no store either: refused before SQLite opens it (and would
    // write a journal beside it).
    let fifo = dir.join("fifo.db");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let files_before = files_in(dir);
    let folder = dir.join("folder.db");
    std::fs::create_dir(&folder).unwrap();
    for (file, why) in [
        (&folder, "it is a folder"),
        (
            &fifo,
            "it is not a regular file (a device, a FIFO, a socket)",
        ),
    ] {
        for command in &commands {
            let mut args = vec!["--db".to_string(), file.display().to_string()];
            args.extend(command.iter().cloned());
            let output = dcconn_in(dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(output.status.code(), Some(USAGE), "{command:?}");
            assert!(
                stderr(&output).starts_with(&format!(
                    "error: the file {} is not a dcconn store: {why}; nothing was written to it",
                    file.display()
                )),
                "{command:?}: {}",
                stderr(&output)
            );
        }
    }
    std::fs::remove_dir(&folder).unwrap();
    assert_eq!(files_in(dir), files_before, "no journal beside the FIFO");
    assert!(harness.sim.requests().is_empty(), "nothing was sent");
}

#[test]
fn an_older_store_is_copied_before_a_command_that_writes_migrates_it() {
    let harness = Harness::new(40);
    assert_success(&harness.import(SOAP_PACKAGE));
    let accounts = harness.list("accounts");
    let db = harness.db();
    back_to_version_7(&db);
    let backup = PathBuf::from(format!("{}.v7.bak", db.display()));

    // Commands that read do not migrate it; they say how.
    let output = harness.dcconn(&["accounts"]);
    assert_failure(
        &output,
        USAGE,
        &[&format!(
            "error: the store at {} has schema version 7, older than version {VERSION} that this dcconn reads; migrate it with dcconn db migrate (it backs the store up first), or let the next import do it",
            db.display()
        )],
    );
    assert_eq!(user_version(&db), 7);
    assert!(!backup.exists());

    // A copy that cannot be taken stops the migration, before anything is sent.
    std::fs::create_dir(&backup).unwrap();
    harness.sim.clear_requests();
    let output = harness.import(SOAP_PACKAGE);
    let message = assert_failure(
        &output,
        INTERNAL,
        &[&format!(
            "error: the store at {} has schema version 7 and was not migrated to version {VERSION}, because its copy to {} could not be taken first: cannot rename ",
            db.display(),
            backup.display()
        )],
    );
    assert!(
        message.ends_with("; make room or fix that folder's permissions, then run dcconn again\n"),
        "{message}"
    );
    assert_eq!(user_version(&db), 7);
    assert!(!has_pruning_columns(&db));
    assert!(harness.sim.requests().is_empty(), "nothing was sent");
    std::fs::remove_dir(&backup).unwrap();

    // An import copies it, says where, then migrates and imports.
    let output = harness.import(SOAP_PACKAGE);
    assert_success(&output);
    assert_eq!(
        stderr(&output),
        format!(
            "note: the store had schema version 7: copied it to {} before migrating it to version {VERSION}\n",
            backup.display()
        )
    );
    assert_eq!(user_version(&db), VERSION);
    assert_eq!(harness.list("runs").len(), 2);
    // The copy is the store as version 7 left it: its schema, its one run, its accounts.
    assert_eq!(user_version(&backup), 7);
    assert!(!has_pruning_columns(&backup));
    let copy =
        Connection::open_with_flags(&backup, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let runs: Vec<(i64, String)> = copy
        .prepare("SELECT id, outcome FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(runs, vec![(1, "succeeded".to_string())]);
    let names: Vec<String> = copy
        .prepare("SELECT name FROM accounts ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let listed: Vec<&str> = accounts
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, listed);

    // Once migrated, nothing more is copied.
    let output = harness.import(SOAP_PACKAGE);
    assert_success(&output);
    assert_eq!(stderr(&output), "");
}

#[test]
fn db_migrate_copies_then_migrates_and_says_so() {
    let harness = Harness::new(5);
    assert_success(&harness.import(SOAP_PACKAGE));
    let db = harness.db();
    back_to_version_7(&db);
    let output = harness.dcconn(&["db", "migrate"]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        format!(
            "migrated {db} from schema version 7 to {VERSION}; the copy from before is {db}.v7.bak\n",
            db = db.display()
        )
    );
    assert_eq!(stderr(&output), "");
    let backup = PathBuf::from(format!("{}.v7.bak", db.display()));
    assert_eq!((user_version(&db), user_version(&backup)), (VERSION, 7));
    let output = harness.dcconn(&["db", "migrate"]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        format!(
            "{} is at this dcconn's schema version ({VERSION}) already\n",
            db.display()
        )
    );
}

/// Pauses the next user list, so that an import is caught mid-run.
fn pause_user_list(harness: &Harness) {
    harness.sim.inject_fault(
        Fault::pause(2_000)
            .for_operation("OnlineData.listEntityUsersRq")
            .times(1),
    );
}

/// `dcconn import --json` started in the background.
fn spawn_import(harness: &Harness) -> std::process::Child {
    let mut args: Vec<String> = vec!["import".into(), "--json".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    harness.command(&args).spawn().expect("dcconn starts")
}

/// An import that read Duck Creek before a disable completed does not undo it in the store:
/// the task's status and lock stand until an import that began after it.
#[test]
fn an_import_that_began_before_a_disable_keeps_the_disables_outcome() {
    let harness = Harness::new(100);
    assert_success(&harness.import(SOAP_PACKAGE));
    pause_user_list(&harness);
    let import = spawn_import(&harness);
    assert!(
        harness.sim.wait_for_stall(Duration::from_secs(60)),
        "the import never paused"
    );
    let disabled = harness.with_connection("disable", SOAP_PACKAGE, &["user000016"]);
    assert_success(&disabled);
    harness.sim.release_stall();
    assert_success(&import.wait_with_output().unwrap());
    let state = |harness: &Harness| {
        let account = harness
            .list("accounts")
            .into_iter()
            .find(|account| account["name"] == "user000016")
            .unwrap();
        (account["status"].clone(), account["locked"].clone())
    };
    assert_eq!(state(&harness), (json!("inactive"), json!(true)));
    let changes = harness.dcconn(&["changes", "2", "--format", "json"]);
    assert!(
        !stdout(&changes).contains("user000016"),
        "run 2 changed nothing of user000016: {}",
        stdout(&changes)
    );
    // The next import reads Duck Creek's Locked: the same.
    assert_success(&harness.import(SOAP_PACKAGE));
    assert_eq!(state(&harness), (json!("inactive"), json!(true)));
}

#[test]
fn a_backup_taken_during_an_import_is_the_store_as_it_was_before_it() {
    let harness = Harness::new(300);
    assert_success(&harness.import(SOAP_PACKAGE));
    let before = harness.snapshot();
    harness.sim.remove_user("no.access");
    pause_user_list(&harness);
    let import = spawn_import(&harness);
    assert!(
        harness.sim.wait_for_stall(Duration::from_secs(60)),
        "the import never paused"
    );

    let copy = harness.dir.path().join("copy.db");
    let output = harness.dcconn(&["db", "backup", &copy.display().to_string()]);
    assert_success(&output);
    let bytes = std::fs::metadata(&copy).unwrap().len();
    assert_eq!(
        stdout(&output),
        format!(
            "backed up {} (schema version {VERSION}) to {}: {} bytes\n",
            harness.db().display(),
            copy.display(),
            dcconn::report::grouped(bytes)
        )
    );
    harness.sim.release_stall();
    let finished = import.wait_with_output().unwrap();
    assert_success(&finished);
    assert_eq!(harness.list("accounts").len(), 300);

    // The copy opens, is sound, and holds the store before the import: its accounts and
    // entitlements, and the import's run as it was, running.
    let conn =
        Connection::open_with_flags(&copy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let runs: Vec<(i64, String)> = conn
        .prepare("SELECT id, outcome FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(runs, vec![(1, "succeeded".into()), (2, "running".into())]);
    drop(conn);
    let copy_arg = copy.display().to_string();
    let list = |what: &str| -> Vec<Value> {
        let output = dcconn_in(
            harness.dir.path(),
            &["--db", &copy_arg, what, "--format", "json"],
        );
        json_of(&output).as_array().unwrap().clone()
    };
    assert_eq!((list("accounts"), list("entitlements")), before);

    // An existing copy is not overwritten unless --force.
    let kept = std::fs::read(&copy).unwrap();
    let output = harness.dcconn(&["db", "backup", &copy_arg]);
    assert_failure(
        &output,
        USAGE,
        &[&format!(
            "error: not backing up the store to {}: that file exists; give a new file, or --force to replace it",
            copy.display()
        )],
    );
    assert_eq!(std::fs::read(&copy).unwrap(), kept);
    let output = harness.dcconn(&["db", "backup", &copy_arg, "--force"]);
    assert_success(&output);
    let suspended: Vec<Value> = list("accounts")
        .into_iter()
        .filter(|a| a["name"] == "no.access")
        .collect();
    assert_eq!(suspended[0]["status"], "SUSPENDED FROM IMPORT SERVICE");
    let output = harness.dcconn(&[
        "db",
        "backup",
        &harness.db().display().to_string(),
        "--force",
    ]);
    assert_failure(
        &output,
        USAGE,
        &["that is the store itself; give another file"],
    );
    // Nor, even with --force, one of the store's own files, a device or a folder.
    let wal = format!("{}-wal", harness.db().display());
    let refusals = [
        (
            wal.as_str(),
            "that is one of the store's own files (-wal, -shm, -journal)",
        ),
        ("/dev/null", "that exists and is not a regular file"),
        (".", "that exists and is not a regular file"),
    ];
    for (target, why) in refusals {
        let output = harness.dcconn(&["db", "backup", target, "--force"]);
        assert_failure(&output, USAGE, &[why]);
    }
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    // A folder that is not there: what failed, where, and what to check.
    let nowhere = harness.dir.path().join("no-such-folder/copy.db");
    let output = harness.dcconn(&["db", "backup", &nowhere.display().to_string()]);
    let message = assert_failure(
        &output,
        INTERNAL,
        &[&format!(
            "error: the store at {} could not be backed up to {}: writing {}.partial-",
            harness.db().display(),
            nowhere.display(),
            nowhere.display()
        )],
    );
    assert!(
        message.ends_with("; check that its folder exists, that dcconn may write there and that the disk has room\n"),
        "{message}"
    );
    assert_eq!(files_in(harness.dir.path()), ["copy.db", "store.db"]);
}

/// The number of changes `dcconn changes RUN` lists.
fn listed_changes(harness: &Harness, run: u64) -> u64 {
    let output = harness.dcconn(&["changes", &run.to_string(), "--format", "json"]);
    json_of(&output).as_array().unwrap().len() as u64
}

/// The store's `changes` rows by run.
fn change_rows(db: &Path) -> Vec<(i64, i64)> {
    let conn = Connection::open(db).unwrap();
    conn.prepare("SELECT run_id, count(*) FROM changes GROUP BY run_id ORDER BY run_id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The runs as `dcconn runs --format json` lists them, without what pruning sets.
fn totals(runs: &[Value]) -> Vec<Value> {
    runs.iter()
        .map(|run| {
            let mut run = run.clone();
            let fields = run.as_object_mut().unwrap();
            fields.remove("prunedAt");
            fields.remove("changesPruned");
            run
        })
        .collect()
}

/// Changes a user's e-mail in the simulator, so that the next import updates the account.
fn change_email(harness: &Harness, name: &str, email: &str) {
    let mut user = harness.sim.dataset().user(name).unwrap().clone();
    user.email = email.into();
    harness.sim.set_user(user);
}

#[test]
fn prune_deletes_old_runs_changes_keeps_their_totals_and_every_view_says_so() {
    let harness = Harness::new(300);
    let db = harness.db();
    assert_success(&harness.import(SOAP_PACKAGE));
    change_email(&harness, "user000009", "olga@example.com");
    assert_success(&harness.import(SOAP_PACKAGE));
    harness.sim.remove_user("no.access");
    assert_success(&harness.import(SOAP_PACKAGE));
    let counts: Vec<u64> = (1..=3).map(|run| listed_changes(&harness, run)).collect();
    assert_eq!(counts[1..], [1, 1]);
    let runs_before = harness.list("runs");
    let started = |run: u64| {
        runs_before.iter().find(|r| r["id"] == run).unwrap()["startedAt"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let rows_before = change_rows(&db);
    let bytes_before = std::fs::metadata(&db).unwrap().len();

    // A dry run says what would go and changes nothing. Run 3 is the newest succeeded: kept.
    let output = harness.dcconn(&["db", "prune", "--keep-runs", "0", "--dry-run"]);
    assert_success(&output);
    let width = started(1).len();
    assert_eq!(
        stdout(&output),
        format!(
            "RUN  ENDPOINT   {:<width$}  OUTCOME    CHANGES\n\
             1    DuckCreek  {}  succeeded  {}\n\
             2    DuckCreek  {}  succeeded  1\n\
             would prune the changes of 2 runs ({} changes); nothing was changed (dry run)\n",
            "STARTED",
            started(1),
            counts[0],
            started(2),
            dcconn::report::grouped(counts[0] + 1),
        )
    );
    assert_eq!(change_rows(&db), rows_before);
    assert_eq!(std::fs::metadata(&db).unwrap().len(), bytes_before);

    // Keeping the newest run prunes runs 1 and 2, then compacts the file.
    let output = harness.dcconn(&["db", "prune", "--keep-runs", "1", "--format", "json"]);
    let report = json_of(&output);
    let bytes_after = report["vacuum"]["bytesAfter"].as_u64().unwrap();
    assert_eq!(
        report,
        json!({
            "dryRun": false,
            "runs": [
                {"run": 1, "endpoint": "DuckCreek", "startedAt": started(1), "outcome": "succeeded", "changes": counts[0]},
                {"run": 2, "endpoint": "DuckCreek", "startedAt": started(2), "outcome": "succeeded", "changes": 1},
            ],
            "changes": counts[0] + 1,
            "vacuum": {"bytesBefore": bytes_before, "bytesAfter": bytes_after},
            "notVacuumed": null,
        })
    );
    assert!(bytes_after < bytes_before, "{bytes_after} < {bytes_before}");
    assert_eq!(std::fs::metadata(&db).unwrap().len(), bytes_after);
    assert_eq!(change_rows(&db), vec![(3, rows_before[2].1)]);

    // Every run stays with its totals; the pruned ones say when and how many changes went.
    let runs = harness.list("runs");
    assert_eq!(totals(&runs), totals(&runs_before));
    let pruned_at = runs[2]["prunedAt"].as_str().unwrap().to_owned();
    let marks: Vec<(Value, Value, Value)> = runs
        .iter()
        .map(|r| {
            (
                r["id"].clone(),
                r["prunedAt"].clone(),
                r["changesPruned"].clone(),
            )
        })
        .collect();
    assert_eq!(
        marks,
        vec![
            (json!(3), Value::Null, json!(0)),
            (json!(2), json!(pruned_at), json!(1)),
            (json!(1), json!(pruned_at), json!(counts[0])),
        ]
    );
    let table = stdout(&harness.dcconn(&["runs"]));
    let line = table.lines().find(|l| l.starts_with("1 ")).unwrap();
    assert!(line.ends_with(&pruned_at), "{table}");
    let csv = stdout(&harness.dcconn(&["runs", "--format", "csv"]));
    assert_eq!(
        csv.lines().next(),
        Some(
            "id,endpoint,kind,scope,startedAt,finishedAt,outcome,error,accounts,accountDetails,\
             entitlements,links,newAccounts,updatedAccounts,newEntitlements,updatedEntitlements,\
             suspended,restored,linksAdded,linksRemoved,entitlementsInactivated,\
             entitlementsRestored,withheld,prunedAt,changesPruned"
        )
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("2,") && l.ends_with(&format!(",{pruned_at},1")))
    );

    // `changes` says the list was pruned rather than showing nothing; the kept run's stay.
    let output = harness.dcconn(&["changes", "1"]);
    assert_failure(
        &output,
        USAGE,
        &[&format!(
            "error: the changes of run 1 were pruned on {pruned_at} (dcconn db prune; {} changes); its totals remain: see `dcconn runs`",
            dcconn::report::grouped(counts[0])
        )],
    );
    assert_eq!(stdout(&output), "");
    assert_eq!(listed_changes(&harness, 3), 1);
    // So does the report.
    let output = harness.dcconn(&["report", "1", "--html", "-"]);
    assert_success(&output);
    let page = stdout(&output);
    assert!(
        page.contains(&format!(
            "<h2>What changed (<span data-figure=\"changes\">{}</span>)</h2><p data-figure=\"pruned\">The list of these changes was pruned on {pruned_at} (<code>dcconn db prune</code>); the counts above are the run's totals.</p>",
            dcconn::report::grouped(counts[0])
        )),
        "{page}"
    );
    assert!(page.contains(&format!("<dd data-figure=\"accounts\">{}</dd>", 300)));
    // And `show account`, whose history lacks what the pruned runs changed.
    let output = harness.dcconn(&["show", "account", "user000009"]);
    assert_success(&output);
    assert_eq!(
        stderr(&output),
        "note: the history holds no change of the 2 pruned runs of DuckCreek (runs 1 to 2; dcconn db prune): their totals remain in dcconn runs\n"
    );

    // By age: nothing is old enough, until run 3 is; run 4 is then the newest succeeded.
    change_email(&harness, "user000010", "ivan@example.com");
    assert_success(&harness.import(SOAP_PACKAGE));
    let output = harness.dcconn(&["db", "prune", "--older-than", "30"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "no run's changes to prune\n");
    Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE runs SET started_at = '2020-01-01T00:00:00.000Z' WHERE id = 3",
            [],
        )
        .unwrap();
    let output = harness.dcconn(&["db", "prune", "--older-than", "30", "--format", "json"]);
    let report = json_of(&output);
    assert_eq!(report["runs"][0]["run"], 3);
    assert_eq!(report["runs"].as_array().unwrap().len(), 1);
    assert_eq!(change_rows(&db), vec![(4, 1)]);
}

#[test]
fn prune_during_an_import_leaves_the_running_run_and_does_not_compact() {
    let harness = Harness::new(300);
    assert_success(&harness.import(SOAP_PACKAGE));
    change_email(&harness, "user000009", "olga@example.com");
    assert_success(&harness.import(SOAP_PACKAGE));
    let changes = listed_changes(&harness, 1);
    let started = harness.list("runs")[1]["startedAt"]
        .as_str()
        .unwrap()
        .to_owned();
    pause_user_list(&harness);
    let import = spawn_import(&harness);
    assert!(harness.sim.wait_for_stall(Duration::from_secs(60)));

    // Run 2 is the newest succeeded, run 3 is running: only run 1 goes, and the file is not
    // rewritten under the import.
    let output = harness.dcconn(&["db", "prune", "--keep-runs", "0"]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        format!(
            "RUN  ENDPOINT   {:<width$}  OUTCOME    CHANGES\n\
             1    DuckCreek  {started}  succeeded  {changes}\n\
             pruned the changes of 1 run ({} changes); the runs and their totals stay\n\
             not compacted: run 3 of endpoint DuckCreek is importing; the freed pages are reused by later imports, and the next prune compacts the file\n",
            "STARTED",
            dcconn::report::grouped(changes),
            width = started.len(),
        )
    );
    assert_eq!(change_rows(&harness.db()), vec![(2, 1)]);

    harness.sim.release_stall();
    let finished = import.wait_with_output().unwrap();
    assert_success(&finished);
    let runs = harness.list("runs");
    assert_eq!(runs[0]["outcome"], "succeeded");
    // With the import done, the next prune compacts the file.
    let report = json_of(&harness.dcconn(&["db", "prune", "--keep-runs", "5", "--format", "json"]));
    assert_eq!(report["runs"], json!([]));
    assert!(report["vacuum"]["bytesAfter"].as_u64() < report["vacuum"]["bytesBefore"].as_u64());
}

#[test]
fn db_check_reports_the_schema_and_counts_and_fails_on_a_damaged_store() {
    let harness = Harness::new(20);
    assert_success(&harness.import(SOAP_PACKAGE));
    assert_success(&harness.with_connection("disable", SOAP_PACKAGE, &["--account", "user000009"]));
    let db = harness.db();
    let bytes = std::fs::read(&db).unwrap();
    let output = harness.dcconn(&["db", "check"]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        format!(
            "store           {}\n\
             schema version  {VERSION} (this dcconn's)\n\
             integrity       ok\n\
             tables          ok\n\
             foreign keys    ok\n\
             verdict         sound\n\
             \n\
             ENDPOINT   RUNS  PRUNED  ACCOUNTS  TASKS\n\
             DuckCreek  1     0       20        COMPLETE 1\n",
            db.display()
        )
    );
    let report = json_of(&harness.dcconn(&["db", "check", "--format", "json"]));
    assert_eq!(
        report,
        json!({
            "store": db.display().to_string(),
            "sound": true,
            "schemaVersion": VERSION,
            "currentSchemaVersion": VERSION,
            "integrityProblems": [],
            "schemaProblems": [],
            "foreignKeyProblems": [],
            "endpoints": [{"endpoint": "DuckCreek", "runs": 1, "prunedRuns": 0, "accounts": 20,
                           "tasks": [{"status": "COMPLETE", "count": 1}]}],
        })
    );
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "checking wrote nothing");

    // A task whose account is gone (written with references off, as another program might).
    Connection::open(&db)
        .unwrap()
        .execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO tasks (id, endpoint_id, account, kind, status, max_tries, created_at,
                                updated_at, next_attempt_at)
             VALUES (9, 1, 'ghost', 'enable', 'NEW', 3, 't', 't', 't');",
        )
        .unwrap();
    let output = harness.dcconn(&["db", "check"]);
    assert_failure(
        &output,
        INTERNAL,
        &[&format!(
            "error: the store at {db} is damaged: 0 integrity problems, 0 missing tables or columns, 1 row without its parent (listed above); restore it from a backup (dcconn db backup), or copy what SQLite can still read with `sqlite3 {db} .recover`",
            db = db.display()
        )],
    );
    let out = stdout(&output);
    assert!(
        out.contains(
            "\nforeign keys    tasks row 9 has no parent in accounts\nverdict         damaged\n"
        ),
        "{out}"
    );

    // An index that no longer matches its table.
    {
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch(
            "DELETE FROM tasks WHERE id = 9;
             PRAGMA writable_schema = ON;
             UPDATE sqlite_schema SET sql = 'CREATE INDEX runs_by_endpoint ON runs (endpoint_id, kind)'
             WHERE name = 'runs_by_endpoint';
             PRAGMA writable_schema = OFF;",
        )
        .unwrap();
    }
    let expected: Vec<String> = Connection::open(&db)
        .unwrap()
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_ne!(expected, ["ok"]);
    let output = harness.dcconn(&["db", "check", "--format", "json"]);
    assert_eq!(output.status.code(), Some(INTERNAL), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["sound"], false);
    assert_eq!(report["integrityProblems"], json!(expected));
    assert_eq!(report["foreignKeyProblems"], json!([]));

    // A table dropped by another program: named, and the report is still made.
    Connection::open(&db)
        .unwrap()
        .execute_batch("PRAGMA foreign_keys = OFF; DROP TABLE task_attempts; DROP TABLE tasks;")
        .unwrap();
    let output = harness.dcconn(&["db", "check", "--format", "json"]);
    assert_eq!(output.status.code(), Some(INTERNAL), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["sound"], false);
    assert_eq!(
        report["schemaProblems"],
        json!(["table task_attempts is missing", "table tasks is missing"])
    );
    assert_eq!(report["endpoints"][0]["accounts"], 20);
}

/// A store cut short or with a damaged header: `db check` says it is damaged and what to do,
/// never "check that its folder exists".
#[test]
fn db_check_calls_a_store_sqlite_cannot_read_damaged() {
    let harness = Harness::new(300);
    assert_success(&harness.import(SOAP_PACKAGE));
    let db = harness.db();
    let cut_short: fn(&mut Vec<u8>) = |bytes| bytes.truncate(50_000);
    let damaged_header: fn(&mut Vec<u8>) = |bytes| bytes[100..400].fill(0xff);
    for (what, damage) in [
        ("cut short", cut_short),
        ("a damaged header", damaged_header),
    ] {
        let damaged = harness.dir.path().join("damaged.db");
        let mut bytes = std::fs::read(&db).unwrap();
        damage(&mut bytes);
        std::fs::write(&damaged, &bytes).unwrap();
        let output = dcconn_in(
            harness.dir.path(),
            &["--db", damaged.to_str().unwrap(), "db", "check"],
        );
        assert_eq!(
            output.status.code(),
            Some(INTERNAL),
            "{what}: {}",
            stderr(&output)
        );
        let message = stderr(&output);
        assert!(message.contains("is damaged"), "{what}: {message}");
        assert!(message.contains(".recover"), "{what}: {message}");
        assert!(!message.contains("folder"), "{what}: {message}");
        std::fs::remove_file(&damaged).unwrap();
    }
}
