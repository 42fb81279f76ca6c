//! The store in PostgreSQL (`--db postgres://…`): every command reads and writes it as it does
//! a SQLite file, and a server that goes away is said plainly.

use std::process::Output;

use dcconn::store::is_store_time;

use crate::support::{
    Harness, SOAP_PACKAGE, assert_failure, assert_success, run_outcomes, stderr, stdout,
};

/// What differs between any two runs: the store's times as `<time>`, a worker's name
/// (`dcconn-PID-NONCE-wN`) as `<worker>`.
fn without_times(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if rest.get(..24).is_some_and(is_store_time) {
            out.push_str("<time>");
            rest = &rest[24..];
        } else if let Some(after) = rest.strip_prefix("dcconn-")
            && after.starts_with(|c: char| c.is_ascii_digit())
        {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(after.len());
            out.push_str("<worker>");
            rest = &after[end..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// A job's summary without how long it took (`in 0.2s:`).
fn without_duration(summary: &str) -> String {
    match summary.split_once(" in ") {
        Some((before, after)) => {
            let rest = after.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
            format!(
                "{before} in <duration>{}",
                rest.strip_prefix('s').unwrap_or(rest)
            )
        }
        None => summary.to_owned(),
    }
}

/// The same history on a harness: import, disable an account, import again.
fn history(harness: &Harness) -> Vec<Output> {
    vec![
        harness.with_connection("import", SOAP_PACKAGE, &[]),
        harness.with_connection("disable", SOAP_PACKAGE, &["user000010"]),
        harness.with_connection("import", SOAP_PACKAGE, &[]),
    ]
}

/// What every reading command prints of a harness's store, times left out.
fn readings(harness: &Harness) -> Vec<(String, String)> {
    let commands: &[&[&str]] = &[
        &["runs"],
        &["runs", "--format", "json"],
        &["changes", "1"],
        &["changes", "2", "--format", "json"],
        &["accounts"],
        &["accounts", "--format", "json"],
        &["entitlements", "--type", "Role"],
        &["tasks"],
        &["tasks", "--format", "json"],
        &["show", "account", "user000010"],
        &["show", "account", "user000010", "--format", "json"],
        &["report", "2", "--output", "-"],
        &["db", "check"],
    ];
    commands
        .iter()
        .map(|args| {
            let output = harness.dcconn(args);
            assert_success(&output);
            (args.join(" "), without_times(&stdout(&output)))
        })
        .collect()
}

#[test]
fn every_command_reads_postgres_as_it_reads_sqlite() {
    let sqlite = Harness::new(40);
    let postgres = Harness::new(40).on_postgres();
    for (on_sqlite, on_postgres) in history(&sqlite).iter().zip(history(&postgres)) {
        assert_success(on_sqlite);
        assert_success(&on_postgres);
        assert_eq!(
            without_duration(&without_times(&stdout(on_sqlite))),
            without_duration(&without_times(&stdout(&on_postgres)))
        );
    }
    let (expected, found) = (readings(&sqlite), readings(&postgres));
    for ((command, expected), (_, found)) in expected.iter().zip(&found) {
        let expected = expected.replace(&sqlite.db().display().to_string(), "<store>");
        let found = found.replace(&postgres.store.clone().unwrap_or_default(), "<store>");
        assert_eq!(expected, found, "dcconn {command}");
    }
}

#[test]
fn a_store_url_never_shows_its_password() {
    let mut harness = Harness::new(5);
    harness.store = Some(format!(
        "postgres://postgres:pg-Secret-9@127.0.0.1:{}/no_such_database",
        test_servers::shared_postgres().port()
    ));
    let mut dry_run = vec!["import".to_owned(), "--dry-run".to_owned()];
    dry_run.extend(harness.connection_args(SOAP_PACKAGE));
    let commands = [
        vec!["runs".to_owned()],
        vec!["db".to_owned(), "check".to_owned()],
        dry_run,
    ];
    for args in &commands {
        let output = harness.dcconn(args);
        let text = assert_failure(&output, 1, &["postgres://postgres:***@127.0.0.1:"]);
        assert!(!text.contains("pg-Secret-9"), "{text}");
        assert!(
            stderr(&output).starts_with("warning: --db holds the PostgreSQL password, which the process list and shell history show; give it with PGPASSWORD instead\n"),
            "{}",
            stderr(&output)
        );
        assert!(text.contains("no_such_database"), "{text}");
    }
    // A database without a store is a usage error (exit 2), as a missing file is.
    harness.store = Some(
        test_servers::shared_postgres()
            .create_database()
            .expect("a database"),
    );
    assert_failure(&harness.dcconn(&["runs"]), 2, &["holds no dcconn store"]);
    // What looks like a password in a --db that is no PostgreSQL URL is not shown either.
    for db in [
        "http://dcconn:pg-Secret-9@127.0.0.1:5441/iga",
        "host=127.0.0.1 user=dcconn password=pg-Secret-9 dbname=iga",
    ] {
        harness.store = Some(db.to_owned());
        let text = assert_failure(&harness.dcconn(&["runs"]), 2, &["there is no store at "]);
        assert!(!text.contains("pg-Secret-9"), "{text}");
    }
}

#[test]
fn an_import_cut_off_by_a_postgres_restart_fails_plainly_and_the_next_runs_at_once() {
    let cluster = test_servers::PostgresCluster::start().expect("a cluster of its own");
    let mut harness = Harness::new(300);
    harness.store = Some(cluster.create_database().expect("a database"));
    harness.sim.inject_fault(
        dcsim::Fault::pause(2_000)
            .for_operation("OnlineData.listEntityUsersRq")
            .times(1),
    );
    let mut args = vec!["import".to_owned(), "--json".to_owned()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    let first = harness.command(&args).spawn().expect("dcconn starts");
    crate::provision::wait_for_held(&harness, 1);

    cluster.restart().expect("PostgreSQL restarts");
    harness.sim.release_stall();
    let first = first.wait_with_output().expect("the first import ends");
    let message = assert_failure(&first, 1, &["PostgreSQL failed while "]);
    assert!(message.contains("run 1"), "{message}");

    let second = harness.import(SOAP_PACKAGE);
    assert_success(&second);
    let runs = harness.list("runs");
    assert_eq!(run_outcomes(&runs), [(2, "succeeded"), (1, "failed")]);
    assert_eq!(runs[0]["accounts"].as_u64(), Some(300));
    let error = runs[1]["error"].as_str().unwrap_or_default();
    assert!(error.contains("PostgreSQL"), "{error}");
}
