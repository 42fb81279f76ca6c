//! The command line's conveniences: shell completions, `show account`.

use std::process::Command;

use serde_json::Value;

use crate::support::*;

fn dcconn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dcconn"))
        .args(args)
        .output()
        .expect("dcconn runs")
}

#[test]
fn completion_scripts_name_every_command_and_bash_accepts_its_own() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = dcconn(&["completions", shell]);
        assert_success(&output);
        let script = stdout(&output);
        for command in ["import", "retry", "accounts", "completions"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dcconn.bash");
    std::fs::write(&path, stdout(&dcconn(&["completions", "bash"]))).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(syntax.status.success(), "{}", stderr(&syntax));
}

#[test]
fn an_unknown_shell_is_a_usage_error_that_lists_the_shells() {
    let output = dcconn(&["completions", "tcsh"]);
    assert_failure(&output, 2, &["bash", "zsh", "fish"]);
}

#[test]
fn show_account_gives_columns_links_status_history_and_tasks() {
    let harness = Harness::new(20);
    assert_success(&harness.import(SOAP_PACKAGE));
    let disable = harness.with_connection("disable", SOAP_PACKAGE, &["--account", "user000009"]);
    assert_success(&disable);
    let mut user = harness.sim.dataset().user("user000009").unwrap().clone();
    user.email = "olga@example.com".into();
    harness.sim.set_user(user);
    assert_success(&harness.import(SOAP_PACKAGE));

    let output = harness.dcconn(&["show", "account", "user000009", "--format", "json"]);
    assert_success(&output);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(shown["name"], "user000009");
    assert_eq!(shown["columns"]["customproperty1"], "olga@example.com");
    assert_eq!(shown["columns"]["customproperty2"], "Locked");
    assert_eq!(
        (&shown["status"], &shown["locked"]),
        (&serde_json::json!("inactive"), &serde_json::json!(true))
    );
    let user = harness.sim.dataset().user("user000009").unwrap().clone();
    let mut roles: Vec<String> = user.roles.clone();
    roles.sort();
    assert_eq!(shown["entitlements"]["Role"], serde_json::json!(roles));
    let history: Vec<(String, String, String)> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                match c["run"].as_u64() {
                    Some(run) => format!("run {run}"),
                    None => format!("task {}", c["task"]),
                },
                c["change"].as_str().unwrap().to_string(),
                c["column"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let links = user.entities.len() + user.roles.len();
    let entry = |by: &str, change: &str, column: &str| (by.into(), change.into(), column.into());
    let mut expected = vec![entry("run 1", "new", "")];
    expected.extend((0..links).map(|_| entry("run 1", "link-added", "")));
    // The disable task's outcome is part of the account's history: its status and its lock.
    expected.push(entry("task 1", "provisioned", "status"));
    expected.push(entry("task 1", "provisioned", "locked"));
    // The next import reads Duck Creek's `Locked` through the shipped package's status mapping:
    // the account stays inactive and locked, so the run changes no status.
    expected.push(entry("run 2", "updated", "customproperty1"));
    expected.push(entry("run 2", "updated", "customproperty2"));
    assert_eq!(history, expected, "{}", shown["history"]);
    let locked = &shown["history"][links + 2];
    assert_eq!(
        (
            &locked["old"],
            &locked["new"],
            &locked["task"],
            &locked["try"]
        ),
        (
            &Value::from("no"),
            &Value::from("yes"),
            &Value::from(1),
            &Value::from(1)
        )
    );
    let tasks = shown["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["kind"], "disable");
    assert_eq!(tasks[0]["status"], "COMPLETE");
    assert_eq!(tasks[0]["nextTryAt"], Value::Null);
    let attempts = tasks[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (
            &attempts[0]["tryNumber"],
            &attempts[0]["outcome"],
            &attempts[0]["newLocked"]
        ),
        (
            &Value::from(1),
            &Value::from("complete"),
            &Value::from(true)
        )
    );

    let table = harness.dcconn(&["show", "account", "user000009"]);
    assert_success(&table);
    let text = stdout(&table);
    let at = attempts[0]["finishedAt"].as_str().unwrap();
    let task_rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|line| line.starts_with("task 1 "))
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(
        task_rows,
        [
            [
                "task",
                "1",
                at,
                "provisioned",
                "status",
                "active",
                "inactive"
            ]
            .to_vec(),
            ["task", "1", at, "provisioned", "locked", "no", "yes"].to_vec(),
        ],
        "{text}"
    );
    let started = attempts[0]["startedAt"].as_str().unwrap();
    assert!(
        text.ends_with(&format!(
            "\nattempts\nTASK  TRY  STARTED                   FINISHED                  OUTCOME   ERROR\n1     1    {started}  {at}  complete\n"
        )),
        "{text}"
    );
    for section in [
        "columns",
        "entitlements",
        "history",
        "tasks",
        "olga@example.com",
    ] {
        assert!(
            stdout(&table).contains(section),
            "no {section}: {}",
            stdout(&table)
        );
    }
    let unknown = harness.dcconn(&["show", "account", "nobody"]);
    assert_failure(&unknown, 2, &["no account \"nobody\"", "dcconn accounts"]);
}

#[test]
fn an_exported_package_imports_like_the_connection_it_came_from() {
    let harness = Harness::new(40);
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("Connection_export.json");
    let mut args: Vec<String> = vec!["package".into(), "export".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args.extend(["--output".into(), exported.display().to_string()]);
    let output = harness.dcconn(&args);
    assert_success(&output);
    assert!(
        stderr(&output)
            .contains("left out (secrets; set them again where the package goes): PASSWORD")
    );
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(!text.contains(PASSWORD) && !text.contains(PASSWORD_ESCAPED));
    let package: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(package["DuckCreek"]["connectionname"], "DuckCreek");

    // Exporting the export (with the secret given again) gives the same file.
    let again = dir.path().join("Connection_again.json");
    let with_secret = |connection: &std::path::Path, rest: &[&str]| {
        let mut args: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
        args.extend([
            "-c".into(),
            connection.display().to_string(),
            "--set-env".into(),
            format!("PASSWORD={PASSWORD_VARIABLE}"),
        ]);
        harness.dcconn(&args)
    };
    let output = with_secret(
        &exported,
        &["package", "export", "-o", &again.display().to_string()],
    );
    assert_success(&output);
    assert_eq!(std::fs::read_to_string(&again).unwrap(), text);

    // It validates and imports as the original does.
    assert_success(&with_secret(&exported, &["validate"]));
    let output = with_secret(&exported, &["import", "--json"]);
    assert_success(&output);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["accounts"], 40);
    assert_eq!(summary["endpoint"], "DuckCreek");
}

#[test]
fn verbose_json_logs_say_what_the_import_did_and_quiet_prints_only_the_result() {
    let harness = Harness::new(30);
    let mut args: Vec<String> = ["-vv", "--log-format", "json", "import"]
        .map(String::from)
        .to_vec();
    args.extend(harness.connection_args(SOAP_PACKAGE));
    let output = harness.dcconn(&args);
    assert_success(&output);
    let logs: Vec<serde_json::Value> = stderr(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    let messages: Vec<&str> = logs.iter().filter_map(|l| l["message"].as_str()).collect();
    assert_eq!(messages.first(), Some(&"import started"));
    assert_eq!(messages.last(), Some(&"import completed"));
    assert!(messages.contains(&"batch staged"), "{messages:?}");
    let completed = logs.last().unwrap();
    assert_eq!(completed["level"], "INFO");
    assert_eq!(completed["accounts"], 30);
    assert_eq!(completed["run"], 1);
    let staged: u64 = logs
        .iter()
        .filter(|l| l["message"] == "batch staged" && l["kind"] == "accounts")
        .map(|l| l["records"].as_u64().unwrap())
        .sum();
    assert_eq!(staged, 30);
    assert!(!stderr(&output).contains(PASSWORD) && !stderr(&output).contains(PASSWORD_ESCAPED));

    // By default: no logs; with -q: not even notes, and the result still on stdout.
    let output = harness.import(SOAP_PACKAGE);
    assert_success(&output);
    assert_eq!(stderr(&output), "");
    let mut args: Vec<String> = vec!["-q".into(), "import".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    let output = harness.dcconn(&args);
    assert_success(&output);
    assert_eq!(stderr(&output), "");
    assert!(stdout(&output).starts_with("imported DuckCreek (run 3)"));
    assert_failure(
        &harness.dcconn(&["-q", "-v", "runs"]),
        2,
        &["--quiet", "--verbose"],
    );
}

/// A shell word: `'...'` with single quotes escaped.
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[test]
fn the_spinner_is_drawn_on_a_terminal_only() {
    let harness = Harness::new(20_000);
    let mut args: Vec<String> = vec![
        env!("CARGO_BIN_EXE_dcconn").into(),
        "--db".into(),
        harness.db().display().to_string(),
        "--component".into(),
        component().display().to_string(),
        "import".into(),
    ];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    let line = args.iter().map(|a| quoted(a)).collect::<Vec<_>>().join(" ");
    // `script` runs the command on a pseudo-terminal.
    let output = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("DCCONN_CACHE_DIR", cache_dir())
        .env(PASSWORD_VARIABLE, PASSWORD)
        .output()
        .expect("script (util-linux) runs");
    assert_success(&output);
    let terminal = stdout(&output);
    assert!(terminal.contains("import: receiving"), "{terminal}");
    assert!(
        terminal.contains("imported DuckCreek (run 1)"),
        "{terminal}"
    );
    // Piped, the same import draws nothing.
    let piped = harness.import(SOAP_PACKAGE);
    assert_success(&piped);
    assert_eq!(stderr(&piped), "");
}

#[test]
fn an_endpoint_name_that_cannot_be_shown_as_it_is_is_a_usage_error() {
    let harness = Harness::new(5);
    for (name, problem) in [
        ("", "an endpoint name must not be blank"),
        ("   ", "an endpoint name must not be blank"),
        (
            "evil\nFAKE: ok",
            "the endpoint name evil\\nFAKE: ok holds a line break",
        ),
        ("red\u{1b}[31m", "the endpoint name red\\u{1b}[31m holds"),
        ("ab\u{202e}c", "the endpoint name ab\\u{202e}c holds"),
    ] {
        let output = harness.with_connection("import", SOAP_PACKAGE, &["--endpoint", name]);
        assert_failure(&output, 2, &[problem]);
        let listing = harness.dcconn(&["runs", "--endpoint", name]);
        assert_failure(&listing, 2, &[problem]);
    }
    assert!(
        harness.sim.requests().is_empty(),
        "nothing was sent for a refused name"
    );
}
