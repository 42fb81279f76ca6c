//! The files commands write (`report`, `package export`): never the store or its companions,
//! never another SQLite database, a device, a folder or a FIFO; a report file is replaced whole.

use std::path::Path;

use crate::support::*;

/// The store's bytes, to show a refused command left it as it was.
fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn report_and_package_export_never_write_over_the_store_a_database_or_a_device() {
    let harness = Harness::new(5);
    assert_success(&harness.import(SOAP_PACKAGE));
    let db = harness.db();
    let store = bytes(&db);
    let other_db = harness.dir.path().join("other.db");
    rusqlite::Connection::open(&other_db)
        .unwrap()
        .execute_batch("CREATE TABLE kept (x); INSERT INTO kept VALUES (1);")
        .unwrap();
    let other = bytes(&other_db);
    let folder = harness.dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let fifo = harness.dir.path().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let wal = db.with_file_name(format!("{}-wal", db.file_name().unwrap().to_string_lossy()));
    let nowhere = harness.dir.path().join("no-such-folder/report.html");
    let nowhere_folder = format!(
        "its folder {} does not exist",
        nowhere.parent().unwrap().display()
    );
    let cases: [(&Path, &str); 6] = [
        (&nowhere, nowhere_folder.as_str()),
        (&db, "it is the store"),
        (&wal, "it is the store"),
        (&other_db, "it holds a SQLite database"),
        (&folder, "it exists and is not a regular file"),
        (&fifo, "it exists and is not a regular file"),
    ];
    for (target, why) in cases {
        let shown = target.display().to_string();
        let report = harness.dcconn(&["report", "1", "--html", &shown]);
        assert_failure(
            &report,
            2,
            &[&format!("error: will not write {shown}: {why}")],
        );
        let mut export = vec!["package".to_string(), "export".into()];
        export.extend(harness.connection_args(SOAP_PACKAGE));
        export.extend(["-o".into(), shown.clone()]);
        assert_failure(
            &harness.dcconn(&export),
            2,
            &[&format!("error: will not write {shown}: {why}")],
        );
    }
    assert_eq!(bytes(&other_db), other);
    assert!(folder.is_dir());
    // The store answers as before (its WAL may have been checkpointed meanwhile, not replaced).
    assert_eq!(harness.list("accounts").len(), 5);
    assert!(bytes(&db).starts_with(b"SQLite format 3\0") && store.len() > 100);

    // An earlier report is replaced whole, and nothing is left beside it.
    let page = harness.dir.path().join("run-1.html");
    std::fs::write(&page, "old").unwrap();
    let shown = page.display().to_string();
    assert_success(&harness.dcconn(&["report", "1", "--html", &shown]));
    assert!(
        std::fs::read_to_string(&page)
            .unwrap()
            .starts_with("<!doctype html>")
    );
    let leftovers: Vec<_> = std::fs::read_dir(harness.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_import_that_cannot_begin_still_answers_json_with_its_error() {
    let harness = Harness::new(1);
    let missing = harness.dir.path().join("missing.json");
    let output = harness.dcconn(&["import", "--json", "-c", &missing.display().to_string()]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let failure: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (
            &failure["outcome"],
            &failure["endpoint"],
            &failure["run"],
            &failure["exitCode"]
        ),
        (
            &serde_json::json!("failed"),
            &serde_json::Value::Null,
            &serde_json::Value::Null,
            &serde_json::json!(3)
        )
    );
    assert!(
        failure["error"].as_str().unwrap().starts_with(&format!(
            "cannot read the connection file {}",
            missing.display()
        )),
        "{failure}"
    );
}
