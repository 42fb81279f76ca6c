//! The sandbox against a hostile component (`tests/hostile`): each of its attempts is contained
//! by the host and reported, and leaves the simulator, the store and the machine as they were.
//!
//! Every test runs the real `dcconn` with the hostile component and a connection whose
//! `HOSTILE` attribute names the attempt its import makes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// How long a run may take before the test kills it and fails: the attempt was not contained.
const WATCHDOG: Duration = Duration::from_secs(120);

/// A generous bound on a run that the CPU or memory limit stops (compiling the component is
/// done beforehand, see [`hostile_component`]).
const CONTAINED_WITHIN: Duration = Duration::from_secs(30);

/// The file the `files` attempt tries to create.
const MARKER: &str = "/tmp/hostile-was-here";

/// The hostile component, built once per test run into a target folder of its own, and
/// compiled once into the shared cache so that timed runs measure the attempt, not the
/// compilation.
fn hostile_component() -> &'static Path {
    static HOSTILE: OnceLock<PathBuf> = OnceLock::new();
    HOSTILE.get_or_init(|| {
        let path = build_component("hostile-connector", "e2e-hostile");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let connection = dir.path().join("warm.json");
        std::fs::write(&connection, r#"{"connectionname": "warm"}"#).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_dcconn"))
            .arg("--db")
            .arg(dir.path().join("store.db"))
            .arg("--component")
            .arg(&path)
            .arg("validate")
            .arg("-c")
            .arg(&connection)
            .env("DCCONN_CACHE_DIR", cache_dir())
            .output()
            .expect("dcconn runs");
        assert_success(&output);
        path
    })
}

/// `dcconn` with the harness's store, the hostile component and the shared cache; `global`
/// (limits) before `args`.
fn hostile_command(harness: &Harness, global: &[&str], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dcconn"));
    command
        .arg("--db")
        .arg(harness.db())
        .arg("--component")
        .arg(hostile_component())
        .args(global)
        .args(args)
        .env("DCCONN_CACHE_DIR", cache_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Writes the connection `{"connectionname": "hostile", "SOAP_ENDPOINT": <simulator>,
/// "HOSTILE": mode}` into the harness's folder; its path.
fn connection_file(harness: &Harness, mode: &str) -> PathBuf {
    let path = harness.dir.path().join(format!("hostile-{mode}.json"));
    let connection = json!({
        "connectionname": "hostile",
        "SOAP_ENDPOINT": harness.sim.endpoint_url(),
        "HOSTILE": mode,
    });
    std::fs::write(&path, connection.to_string()).expect("the connection is written");
    path
}

/// `dcconn <global> import -c <connection of mode> --scope accounts` with the hostile
/// component.
fn import_command(harness: &Harness, mode: &str, global: &[&str]) -> Command {
    let connection = connection_file(harness, mode);
    let connection = connection.to_str().expect("a UTF-8 path");
    hostile_command(
        harness,
        global,
        &["import", "-c", connection, "--scope", "accounts"],
    )
}

/// [`import_command`] run to its end: its output and how long it took.
fn hostile_import(harness: &Harness, mode: &str, global: &[&str]) -> (Output, Duration) {
    run_bounded(import_command(harness, mode, global))
}

/// Runs `command` to its end and measures it; kills it and fails when it outlives [`WATCHDOG`].
fn run_bounded(mut command: Command) -> (Output, Duration) {
    let started = Instant::now();
    let child = command.spawn().expect("dcconn starts");
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(WATCHDOG) {
        Ok(output) => (output.expect("dcconn runs"), started.elapsed()),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("dcconn was still running after {WATCHDOG:?}: the attempt was not contained");
        }
    }
}

/// The accounts the store holds for the endpoint `hostile`.
fn stored_accounts(harness: &Harness) -> Vec<Value> {
    let (output, _) = run_bounded(hostile_command(
        harness,
        &[],
        &["accounts", "--endpoint", "hostile", "--format", "json"],
    ));
    // A store that never held the endpoint (the import was refused before it began) holds
    // none of its accounts.
    let never_imported = [
        "the store holds no endpoint yet",
        "the store has no endpoint hostile",
        "there is no store at",
    ];
    if output.status.code() == Some(2)
        && never_imported
            .iter()
            .any(|message| stderr(&output).contains(message))
    {
        return Vec::new();
    }
    assert_success(&output);
    serde_json::from_slice(&output.stdout).expect("a JSON array of accounts")
}

/// Asserts that nothing reached the simulator and nothing was stored.
#[track_caller]
fn assert_untouched(harness: &Harness, before: &dcsim::Dataset) {
    assert!(
        harness.sim.requests().is_empty(),
        "the simulator saw requests: {:?}",
        harness.sim.requests()
    );
    assert!(
        harness.sim.dataset() == *before,
        "the simulator's data changed"
    );
    assert_eq!(stored_accounts(harness), Vec::<Value>::new());
}

#[test]
fn requests_to_other_hosts_are_denied_and_never_sent() {
    let harness = Harness::new(3);
    let before = harness.sim.dataset();

    let (output, _) = hostile_import(&harness, "other-host", &[]);

    let port = harness.sim.port();
    let err = assert_failure(
        &output,
        5,
        &[
            "transport failure",
            &format!("http://127.0.0.2:{port}/x: denied by the host (HttpRequestDenied)"),
            "https://example.com/: denied by the host (HttpRequestDenied)",
            &format!("denied by the egress policy: request to http://127.0.0.2:{port}"),
            "denied by the egress policy: request to https://example.com",
        ],
    );
    assert_eq!(
        err.matches("denied by the egress policy").count(),
        2,
        "{err}"
    );
    assert_untouched(&harness, &before);
}

#[test]
fn the_admin_api_on_the_endpoints_own_origin_is_denied() {
    let harness = Harness::new(3);
    let before = harness.sim.dataset();

    let (output, _) = hostile_import(&harness, "admin", &[]);

    assert!(
        !holds(&output.stdout, "ADMIN-REACHED"),
        "the admin API answered:\n{}",
        stdout(&output)
    );
    let port = harness.sim.port();
    let err = assert_failure(
        &output,
        5,
        &[
            "transport failure",
            "/admin/users: denied by the host (HttpRequestDenied)",
            &format!(
                "denied by the egress policy: request to http://127.0.0.1:{port}/admin/users denied"
            ),
            "/admin/users/hostile-admin: denied by the host (HttpRequestDenied)",
        ],
    );
    assert_eq!(
        err.matches("denied by the egress policy").count(),
        2,
        "{err}"
    );
    assert_untouched(&harness, &before);
}

#[test]
fn a_destination_the_connection_does_not_name_is_refused_before_anything_is_sent() {
    let harness = Harness::new(3);
    let before = harness.sim.dataset();

    let (output, _) = hostile_import(&harness, "widen", &[]);

    let port = harness.sim.port();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        format!(
            "error: the connector component broke its contract: `destinations` says http://127.0.0.1:{port}/admin/users (SOAP_ENDPOINT) is not a URL the connection names; nothing was sent\n"
        )
    );
    assert!(
        !holds(&output.stdout, "ADMIN-REACHED"),
        "{}",
        stdout(&output)
    );
    assert_untouched(&harness, &before);
}

#[test]
fn an_infinite_loop_is_stopped_by_the_cpu_limit_and_the_next_job_runs() {
    let harness = Harness::new(3);

    let (output, elapsed) = hostile_import(&harness, "loop", &["--limit-cpu-ms", "500"]);

    assert_failure(&output, 1, &["CPU time limit"]);
    assert!(elapsed < CONTAINED_WITHIN, "the loop ran for {elapsed:?}");
    assert_eq!(stored_accounts(&harness), Vec::<Value>::new());
    assert_success(&harness.with_connection("validate", SOAP_PACKAGE, &[]));
}

#[test]
fn unbounded_memory_growth_is_stopped_by_the_memory_limit() {
    let harness = Harness::new(3);

    let (output, elapsed) = hostile_import(&harness, "memory", &["--limit-memory-mib", "64"]);

    assert_failure(&output, 1, &["memory limit"]);
    assert!(elapsed < CONTAINED_WITHIN, "the growth ran for {elapsed:?}");
    assert_eq!(stored_accounts(&harness), Vec::<Value>::new());
}

#[test]
fn files_and_environment_variables_are_out_of_reach() {
    let harness = Harness::new(3);
    let _ = std::fs::remove_file(MARKER);
    assert!(!Path::new(MARKER).exists(), "{MARKER} exists beforehand");

    // dcconn itself has variables (HOME, and one of its own); the component must see none.
    let mut command = import_command(&harness, "files", &[]);
    command.env("HOSTILE_CANARY", "visible");
    let (output, _) = run_bounded(command);

    assert_failure(
        &output,
        1,
        &[
            "unsupported: files:",
            "read /etc/passwd: Err(",
            "read_dir /: Err(",
            &format!("write {MARKER}: Err("),
            "env: 0 variables",
            "HOME: Err(NotPresent)",
        ],
    );
    assert!(!Path::new(MARKER).exists(), "the component wrote {MARKER}");
    assert_eq!(stored_accounts(&harness), Vec::<Value>::new());
}

#[test]
fn a_flood_on_stdout_and_stderr_goes_nowhere() {
    let harness = Harness::new(3);

    let (output, _) = hostile_import(&harness, "flood", &[]);

    assert_success(&output);
    let printed = output.stdout.len() + output.stderr.len();
    assert!(
        printed < 64 * 1024,
        "dcconn printed {printed} bytes: the component's output reached it"
    );
    assert!(!holds(&output.stdout, "!!!!") && !holds(&output.stderr, "!!!!"));
    assert_eq!(stored_accounts(&harness), Vec::<Value>::new());
}

#[test]
fn a_batch_larger_than_asked_is_refused() {
    let harness = Harness::new(3);

    let (output, _) = hostile_import(&harness, "huge-batch", &[]);

    assert_failure(&output, 1, &["more than the"]);
    assert_eq!(stored_accounts(&harness), Vec::<Value>::new());
}

/// In one host process (the `dcconn` library, as a platform embeds it): a component stopped by
/// the CPU limit, then by the memory limit, and the same runtime runs the next job.
#[test]
fn the_host_process_survives_each_limit_and_runs_the_next_job() {
    use dcconn::runtime::{Limit, Limits, Runtime, RuntimeError, wit};

    let limits = Limits {
        cpu_per_call: Duration::from_millis(300),
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let runtime = Runtime::load(hostile_component(), Some(&cache_dir()))
        .expect("the hostile component loads")
        .with_limits(limits);
    let attributes = |mode: &str| {
        vec![
            wit::Attribute {
                name: "SOAP_ENDPOINT".into(),
                value: "http://127.0.0.1:9/x".into(),
            },
            wit::Attribute {
                name: "HOSTILE".into(),
                value: mode.into(),
            },
        ]
    };
    let options = wit::ImportOptions {
        scope: wit::ImportScope::Accounts,
        max_batch: 0,
    };
    for (mode, limit) in [("loop", Limit::CpuTime), ("memory", Limit::Memory)] {
        let mut instance = runtime
            .instantiate(dcconn::policy::AllowList::none(), Default::default())
            .expect("an instance");
        let import = instance
            .start_import(&attributes(mode), options)
            .expect("no trap")
            .expect("started");
        match instance.next_batch(&import) {
            Err(RuntimeError::LimitExceeded { limit: hit, .. }) => assert_eq!(hit, limit, "{mode}"),
            other => panic!("{mode}: {other:?}"),
        }
    }
    let mut instance = runtime
        .instantiate(dcconn::policy::AllowList::none(), Default::default())
        .expect("an instance after two stopped ones");
    let problems = instance
        .validate(&attributes("loop"))
        .expect("validate runs");
    assert!(problems.is_empty(), "{problems:?}");
}
