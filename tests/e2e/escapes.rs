//! What servers send reaches no terminal raw, and dcconn's own limits on what it reads:
//! control and bidi characters in account names and error texts are shown escaped in every
//! human-facing output (result lines, titles, text logs, error messages, CSV); a closed pipe
//! stops the printing, not the command; `--set-file` and `identities load` read bounded
//! amounts whatever the file.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use dcsim::{Fault, FaultKind, User};
use serde_json::Value;

use crate::support::*;

const USAGE: i32 = 2;
const CONFIGURATION: i32 = 3;
const REMOTE: i32 = 5;

/// What must never reach a terminal raw: ESC, BEL, CR, the C1 CSI, bidi overrides and isolates.
const RAW: [char; 7] = [
    '\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{202e}', '\u{2066}', '\u{2069}',
];

/// An account name as a hostile Duck Creek sends it in XML (`&#13;&#10;` for the line break):
/// a C1 CSI (clear screen), a right-to-left override and an isolate, and a line break followed
/// by a forged log line.
const RELAYED: &str = "mallory\u{9b}2J\u{202e}cod.exe\u{2066}x\u{2069}\r\n2025-01-01T00:00:00.000000Z  INFO task complete task=99";
/// How every human-facing output shows it.
const RELAYED_SHOWN: &str = r"mallory\u{9b}2J\u{202e}cod.exe\u{2066}x\u{2069}\r\n2025-01-01T00:00:00.000000Z  INFO task complete task=99";

/// ESC and BEL, which XML cannot carry (the simulator writes U+FFFD for them): an OSC that
/// sets the terminal's title and a CSI that clears the screen.
const ESCAPES: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J";
const ESCAPES_SHOWN: &str = r"\u{1b}]0;pwned\u{7}\u{1b}[2J";

/// Asserts that no character of [`RAW`] is in `bytes` (what a command wrote on one stream),
/// and that it has exactly `lines` lines.
#[track_caller]
fn assert_clean(bytes: &[u8], lines: usize) {
    let text = String::from_utf8_lossy(bytes);
    for c in RAW {
        assert!(!text.contains(c), "raw {c:?} in:\n{text}");
    }
    assert_eq!(text.lines().count(), lines, "{text}");
}

/// A user named `name` with nothing else special.
fn user(id: u64, name: &str) -> User {
    User {
        id,
        name: name.into(),
        email: "mallory@example.com".into(),
        full_name: "Mallory".into(),
        status: "Active".into(),
        entities: Vec::new(),
        roles: Vec::new(),
    }
}

/// `dcconn -v <enable|disable|retry> <connection> <extra>` with a short backoff.
fn provision(harness: &Harness, command: &str, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["-v".into(), command.into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args.extend(["--backoff-ms", "1", "--max-backoff-ms", "1"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    harness.dcconn(&args)
}

/// The text after the timestamp of a log line: `INFO task complete task=1 ...`.
fn logged(line: &str) -> &str {
    line.split_once("Z  ")
        .map(|(_, rest)| rest.trim_start())
        .unwrap_or(line)
}

#[test]
fn names_a_server_sends_are_escaped_in_task_lines_titles_logs_and_csv() {
    let harness = Harness::new(3);
    harness.sim.set_user(user(900, RELAYED));
    let import = harness.with_connection("import", SOAP_PACKAGE, &["-v"]);
    assert_success(&import);
    // The store holds the name exactly as sent (JSON output is lossless).
    let names: Vec<Value> = harness
        .list("accounts")
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert!(names.contains(&Value::from(RELAYED)), "{names:?}");
    assert_clean(&import.stderr, 2);

    let show = harness.dcconn(&["show", "account", RELAYED]);
    assert_success(&show);
    let text = stdout(&show);
    assert_eq!(
        text.lines().next(),
        Some(format!("account {RELAYED_SHOWN}").as_str())
    );
    assert!(
        text.contains(&format!("\n  name             {RELAYED_SHOWN}\n")),
        "{text}"
    );
    assert_clean(&show.stdout, text.lines().count());

    let csv = harness.dcconn(&["accounts", "--format", "csv"]);
    assert_success(&csv);
    let text = stdout(&csv);
    let row = format!(
        "\"{RELAYED_SHOWN}\",active,true,false,,\"{RELAYED_SHOWN}\",900,mallory@example.com,Active,Mallory,,"
    );
    assert!(text.lines().any(|line| line == row), "{text}");
    // A header and a line per account: the name's line break split no record.
    assert_clean(&csv.stdout, 1 + 4);

    let disable = provision(&harness, "disable", &["--account", RELAYED]);
    assert_success(&disable);
    assert_eq!(
        stdout(&disable),
        format!("task 1: disable {RELAYED_SHOWN}: COMPLETE after 1 try\n")
    );
    // One log line: the name forged none.
    assert_clean(&disable.stderr, 1);
    assert_eq!(
        logged(&stderr(&disable)),
        format!("INFO task complete task=1 account={RELAYED_SHOWN} kind=disable tries=1\n")
    );
    assert_eq!(
        harness.sim.dataset().user(RELAYED).unwrap().status,
        "Locked"
    );

    let queued = provision(&harness, "enable", &["--account", RELAYED, "--queue"]);
    assert_success(&queued);
    assert_eq!(
        stdout(&queued),
        format!("task 2: enable {RELAYED_SHOWN}: NEW after 0 tries\n")
    );
    let retry = provision(&harness, "retry", &[]);
    assert_success(&retry);
    // The task's line and the summary on stdout, its log line on stderr.
    assert_eq!(
        stdout(&retry),
        format!(
            "task 2: enable {RELAYED_SHOWN}: COMPLETE after 1 try\n\
             retry of DuckCreek: 1 attempt, 1 task completed, 0 failed for good\n"
        )
    );
    assert_clean(&retry.stdout, 2);
    assert_clean(&retry.stderr, 1);
    assert_eq!(
        logged(&stderr(&retry)),
        format!("INFO task complete task=2 account={RELAYED_SHOWN} kind=enable tries=1\n")
    );
}

/// A Duck Creek (or a proxy before it) answering an HTTP error with a text holding escape
/// sequences, C1 and bidi controls, and a line break before a forged log line.
const BODY: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2Jdenied\u{9b}31m\u{202e}\r\n2025-01-01T00:00:00.000000Z  INFO task complete task=99";
const BODY_SHOWN: &str = r"\u{1b}]0;pwned\u{7}\u{1b}[2Jdenied\u{9b}31m\u{202e}\r\n2025-01-01T00:00:00.000000Z  INFO task complete task=99";

/// `status` with [`BODY`] for the next request holding `operation` (400 is not retried).
fn http_error(status: u16, operation: &str) -> Fault {
    Fault {
        kind: FaultKind::HttpStatus {
            status,
            body: Some(BODY.into()),
            retry_after: None,
        },
        operation: Some(operation.into()),
        count: 1,
    }
}

#[test]
fn escape_sequences_in_server_error_texts_are_escaped_in_task_lines_logs_and_errors() {
    let harness = Harness::new(10);
    assert_success(&harness.import(SOAP_PACKAGE));
    harness
        .sim
        .inject_fault(http_error(500, "Security.lockUserAccountRq"));
    let disable = provision(
        &harness,
        "disable",
        &["--account", "party.parrot", "--max-tries", "1"],
    );
    assert_eq!(disable.status.code(), Some(REMOTE), "{}", stderr(&disable));
    let error = format!(
        "DISABLEACCOUNTJSON call 1 (account \"party.parrot\"): HTTP status 500: {BODY_SHOWN}"
    );
    assert_eq!(
        stdout(&disable),
        format!("task 1: disable party.parrot: PROVISIONING FAILED after 1 try: {error}\n")
    );
    assert_clean(&disable.stdout, 1);
    assert_clean(&disable.stderr, 1);
    assert_eq!(
        logged(&stderr(&disable)),
        format!(
            "INFO attempt failed task=1 account=party.parrot kind=disable status=PROVISIONING FAILED tries=1 error={error}\n"
        )
    );
    // The stored error is the server's text as it came but for its line breaks, written `\r`
    // and `\n` so that it stays one line wherever it is shown (JSON escapes the rest); the
    // tasks table and CSV show it escaped.
    let tasks = harness.list("tasks");
    assert_eq!(
        tasks[0]["lastError"],
        format!(
            "DISABLEACCOUNTJSON call 1 (account \"party.parrot\"): HTTP status 500: {}",
            BODY.replace('\r', "\\r").replace('\n', "\\n")
        )
    );
    let table = harness.dcconn(&["tasks"]);
    assert_success(&table);
    // The server's line break is part of the one line the error is.
    assert!(
        stdout(&table).ends_with(&format!("HTTP status 500: {BODY_SHOWN}\n")),
        "{}",
        stdout(&table)
    );
    assert_clean(&table.stdout, 2);
    let csv = harness.dcconn(&["tasks", "--format", "csv"]);
    assert_success(&csv);
    assert!(
        stdout(&csv).contains(&format!(
            ",PROVISIONING FAILED,1,1,\"DISABLEACCOUNTJSON call 1 (account \"\"party.parrot\"\"): HTTP status 500: {BODY_SHOWN}\","
        )),
        "{}",
        stdout(&csv)
    );
    assert_clean(&csv.stdout, 2);

    // An import the server fails: the error message, on stderr, on one line: the forged line
    // cannot pass for a log line or a note.
    harness
        .sim
        .inject_fault(http_error(400, "OnlineData.listEntityUsersRq"));
    let import = harness.with_connection("import", SOAP_PACKAGE, &[]);
    assert_failure(&import, REMOTE, &[]);
    assert_eq!(
        stderr(&import),
        format!(
            "error: ACCOUNTS_IMPORT_JSON call 1: HTTP status 400: {BODY_SHOWN}\n  run 2 is recorded as failed; the stored data is unchanged\n"
        )
    );
    assert_clean(&import.stderr, 2);
}

#[test]
fn escape_sequences_in_an_account_name_are_escaped_in_titles_task_lines_logs_and_csv() {
    let harness = Harness::new(3);
    harness.sim.set_user(user(901, "eve"));
    assert_success(&harness.import(SOAP_PACKAGE));
    // XML cannot carry ESC and BEL (the simulator sends U+FFFD for them; a server that does
    // not care about XML sends them raw, and the connector takes them): the account is renamed
    // in the store. Its `name` column stays `eve`, the name the disable plan sends.
    let name = format!("{ESCAPES}eve");
    let shown = format!("{ESCAPES_SHOWN}eve");
    let store = rusqlite::Connection::open(harness.db()).unwrap();
    let renamed = store
        .execute("UPDATE accounts SET name = ?1 WHERE name = 'eve'", [&name])
        .unwrap();
    assert_eq!(renamed, 1);
    drop(store);

    let show = harness.dcconn(&["show", "account", &name]);
    assert_success(&show);
    let text = stdout(&show);
    assert_eq!(
        text.lines().next(),
        Some(format!("account {shown}").as_str())
    );
    assert_clean(&show.stdout, text.lines().count());

    let csv = harness.dcconn(&["accounts", "--format", "csv"]);
    assert_success(&csv);
    let text = stdout(&csv);
    let row =
        format!("\"{shown}\",active,true,false,,eve,901,mallory@example.com,Active,Mallory,,");
    assert!(text.lines().any(|line| line == row), "{text}");
    assert_clean(&csv.stdout, 1 + 4);

    let table = harness.dcconn(&["accounts"]);
    assert_success(&table);
    assert!(
        stdout(&table).contains(&format!("\n{shown}  active")),
        "{}",
        stdout(&table)
    );
    assert_clean(&table.stdout, 1 + 4);

    let disable = provision(&harness, "disable", &["--account", &name]);
    assert_success(&disable);
    assert_eq!(
        stdout(&disable),
        format!("task 1: disable {shown}: COMPLETE after 1 try\n")
    );
    assert_clean(&disable.stderr, 1);
    assert_eq!(
        logged(&stderr(&disable)),
        format!("INFO task complete task=1 account={shown} kind=disable tries=1\n")
    );
    assert_eq!(harness.sim.dataset().user("eve").unwrap().status, "Locked");

    // A name the store does not have: the usage error quotes it escaped.
    let missing = harness.dcconn(&["show", "account", &format!("{ESCAPES}nobody")]);
    assert_failure(&missing, USAGE, &[]);
    assert_eq!(
        stderr(&missing),
        format!(
            "error: endpoint DuckCreek has no account \"{ESCAPES_SHOWN}nobody\": see `dcconn accounts --endpoint DuckCreek`\n"
        )
    );
}

/// Runs dcconn with its stdout and stderr pipes closed before it writes anything (their
/// reading ends dropped at once): its exit status.
fn with_closed_output<S: AsRef<std::ffi::OsStr>>(
    harness: &Harness,
    args: &[S],
) -> std::process::ExitStatus {
    let mut child = harness.command(args).spawn().expect("dcconn starts");
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().expect("dcconn ends")
}

#[test]
fn a_closed_stdout_and_stderr_stop_the_printing_not_the_command() {
    let harness = Harness::new(10);
    // An import, logging each step (-v).
    let mut import = vec!["-v".to_string(), "import".into()];
    import.extend(harness.connection_args(SOAP_PACKAGE));
    assert_eq!(with_closed_output(&harness, &import).code(), Some(0));
    let runs = harness.list("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["outcome"], "succeeded");

    // A task run at once: its line on stdout, its log on stderr.
    let mut disable = vec!["-v".to_string(), "disable".into()];
    disable.extend(harness.connection_args(SOAP_PACKAGE));
    disable.extend(["--account".into(), "party.parrot".into()]);
    assert_eq!(with_closed_output(&harness, &disable).code(), Some(0));
    assert_eq!(harness.list("tasks")[0]["status"], "COMPLETE");
    assert_eq!(
        harness.sim.dataset().user("party.parrot").unwrap().status,
        "Locked"
    );

    // The retry job: task lines as notes on stderr, its summary on stdout.
    let mut queue = vec!["enable".to_string()];
    queue.extend(harness.connection_args(SOAP_PACKAGE));
    queue.extend(["--account".into(), "party.parrot".into(), "--queue".into()]);
    assert_eq!(with_closed_output(&harness, &queue).code(), Some(0));
    let mut retry = vec!["-v".to_string(), "retry".into()];
    retry.extend(harness.connection_args(SOAP_PACKAGE));
    assert_eq!(with_closed_output(&harness, &retry).code(), Some(0));
    assert_eq!(harness.list("tasks")[1]["status"], "COMPLETE");
    assert_eq!(
        harness.sim.dataset().user("party.parrot").unwrap().status,
        "Active"
    );

    // Identities: the store holds them, whatever became of the line saying so.
    let identities = harness.dir.path().join("identities.csv");
    std::fs::write(
        &identities,
        "username,email\njdoe,j@example.com\nasmith,a@example.com\n",
    )
    .unwrap();
    let load = ["identities", "load", identities.to_str().unwrap()];
    assert_eq!(with_closed_output(&harness, &load).code(), Some(0));
    let store = rusqlite::Connection::open(harness.db()).unwrap();
    let count: i64 = store
        .query_row("SELECT count(*) FROM identities", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 2);

    // Results, listings, a connection test, and an error: each keeps its exit code.
    let mut test = vec!["test".to_string()];
    test.extend(harness.connection_args(SOAP_PACKAGE));
    assert_eq!(with_closed_output(&harness, &test).code(), Some(0));
    for args in [
        &["show", "account", "party.parrot"][..],
        &["accounts", "--format", "csv"],
        &["tasks"],
        &["completions", "bash"],
    ] {
        assert_eq!(
            with_closed_output(&harness, args).code(),
            Some(0),
            "{args:?}"
        );
    }
    let missing = ["show", "account", "nobody"];
    assert_eq!(with_closed_output(&harness, &missing).code(), Some(USAGE));
}

/// How long a command reading an endless file may take: it must stop after its limit, in
/// well under a second; the margin is for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `command` to its end, or kills it (by its process id) when it runs past [`DEADLINE`]
/// and fails; its output and its peak resident memory in KiB (from `wait4`).
fn measured(mut command: std::process::Command) -> (Output, u64) {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("dcconn starts");
    let pid = child.id();
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut bytes).expect("the pipe reads");
            }
            bytes
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills; the child is ours and not waited for
        // otherwise (`child` is never waited on).
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        assert_eq!(waited, pid as libc::pid_t, "wait4 failed");
        let _ = sender.send((status, usage.ru_maxrss as u64));
    });
    let Ok((status, peak_kib)) = receiver.recv_timeout(DEADLINE) else {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("dcconn still ran after {DEADLINE:?}: its input is not bounded");
    };
    drop(child);
    assert!(started.elapsed() < DEADLINE);
    let output = Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(status),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (output, peak_kib)
}

/// The most memory (KiB) dcconn may take to refuse an endless file, beyond what the kernel
/// counts for it before it runs (see [`inherited_peak_kib`]).
const REFUSING_PEAK_KIB: u64 = 64 * 1024;

/// The peak a spawned child's `ru_maxrss` starts from: Linux carries the spawning process's
/// high-water mark (this test process's, large while other tests run) into the child at
/// `exec`. A child that grows without bound passes it, whatever it is, within the deadline.
fn inherited_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

#[test]
fn a_secret_file_is_read_up_to_64_kib() {
    let harness = Harness::new(1);
    // `validate` with the password from `file`, and no password in the environment.
    let validate_command = |file: &str| {
        let mut command = harness.command(&[
            "validate",
            "-c",
            &package(SOAP_PACKAGE).display().to_string(),
            "--set",
            &format!("SOAP_ENDPOINT={}", harness.sim.endpoint_url()),
            "--set",
            "USERNAME=dcadmin",
            "--set-file",
            &format!("PASSWORD={file}"),
        ]);
        command.env_remove(PASSWORD_VARIABLE);
        command
    };
    let validate = |file: &str| measured(validate_command(file));
    let refused = |file: &str| {
        format!(
            "error: cannot set PASSWORD from the file {file}: it holds more than 65536 bytes, the most a secret file may hold; check that the path names the secret's file\n"
        )
    };
    // A device is no secret's file: refused before a byte is read.
    let (output, peak_kib) = validate("/dev/zero");
    assert_eq!(output.status.code(), Some(USAGE), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "error: cannot set PASSWORD from the file /dev/zero: it is a character device; only a regular file is read\n"
    );
    assert_eq!(stdout(&output), "");
    assert!(
        peak_kib < REFUSING_PEAK_KIB + inherited_peak_kib(),
        "peak RSS {peak_kib} KiB"
    );

    // A named pipe would wait for a writer: refused at once. A pipe the shell made is read.
    let fifo = harness.dir.path().join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let (output, _) = validate(fifo.to_str().unwrap());
    assert_eq!(output.status.code(), Some(USAGE), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("it is a named pipe (FIFO), which would wait for a writer"),
        "{}",
        stderr(&output)
    );
    let mut piped = validate_command("/dev/stdin");
    piped
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = piped.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"from-a-pipe\n").unwrap();
    assert_success(&child.wait_with_output().unwrap());

    // A byte over the limit is refused; exactly the limit (and one line break) is read.
    let over = harness.dir.path().join("over");
    std::fs::write(&over, vec![b'p'; 64 * 1024 + 1]).unwrap();
    let over = over.display().to_string();
    let (output, _) = validate(&over);
    assert_eq!(output.status.code(), Some(USAGE));
    assert_eq!(stderr(&output), refused(&over));
    let full = harness.dir.path().join("full");
    std::fs::write(&full, vec![b'p'; 64 * 1024]).unwrap();
    let (output, _) = validate(&full.display().to_string());
    assert_success(&output);
}

#[test]
fn identity_files_stream_and_a_record_over_1_mib_is_refused_with_its_place() {
    let harness = Harness::new(1);
    let load = |file: &std::path::Path| {
        measured(harness.command(&["identities", "load", file.to_str().unwrap()]))
    };
    let (output, peak_kib) = load(std::path::Path::new("/dev/zero"));
    assert_eq!(
        output.status.code(),
        Some(CONFIGURATION),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        stderr(&output),
        format!(
            "error: the identity file /dev/zero, line 1: the row is longer than 1048576 bytes, the most one identity may take; check that the file is an identity file: CSV with a header row, or a JSON array of objects\n"
        )
    );
    assert!(
        peak_kib < REFUSING_PEAK_KIB + inherited_peak_kib(),
        "peak RSS {peak_kib} KiB"
    );

    // A CSV row of 16 MiB on line 3, and a JSON entry of 16 MiB starting on line 3.
    let huge = "x".repeat(16 << 20);
    let csv = harness.dir.path().join("long.csv");
    std::fs::write(
        &csv,
        format!("username,email\njdoe,j@example.com\n{huge},a@example.com\n"),
    )
    .unwrap();
    let (output, peak_kib) = load(&csv);
    assert_eq!(output.status.code(), Some(CONFIGURATION));
    assert_eq!(
        stderr(&output),
        format!(
            "error: the identity file {}, line 3: the row is longer than 1048576 bytes, the most one identity may take; check that the file is an identity file: CSV with a header row, or a JSON array of objects\n",
            csv.display()
        )
    );
    assert!(
        peak_kib < REFUSING_PEAK_KIB + inherited_peak_kib(),
        "peak RSS {peak_kib} KiB"
    );
    let json = harness.dir.path().join("long.json");
    std::fs::write(
        &json,
        format!("[\n  {{\"username\": \"jdoe\"}},\n  {{\"username\": \"{huge}\"}}\n]\n"),
    )
    .unwrap();
    let (output, peak_kib) = load(&json);
    assert_eq!(output.status.code(), Some(CONFIGURATION));
    assert_eq!(
        stderr(&output),
        format!(
            "error: the identity file {}, entry 2 (from line 3): the entry is longer than 1048576 bytes, the most one identity may take; check that the file is an identity file: CSV with a header row, or a JSON array of objects\n",
            json.display()
        )
    );
    assert!(
        peak_kib < REFUSING_PEAK_KIB + inherited_peak_kib(),
        "peak RSS {peak_kib} KiB"
    );

    // A valid file loads whole.
    let mut text = String::from("username,firstname,lastname,email,customproperty1\n");
    for i in 0..20_000 {
        text.push_str(&format!(
            "user{i:06},First{i},Last{i},user{i}@example.com,C-{i}\n"
        ));
    }
    let many = harness.dir.path().join("many.csv");
    std::fs::write(&many, text).unwrap();
    let (output, _) = load(&many);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        format!("loaded 20000 identities from {}\n", many.display())
    );
}
