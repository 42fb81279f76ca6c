//! The fleet: a real Temporal development server (from the interop venv), `dcconn worker`
//! processes of the built binary, dcsim on loopback, and `--via` clients.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dcsim::{Fault, SimConfig, Simulator};
use futures::StreamExt;
use serde_json::Value;

use crate::support::{
    Harness, PASSWORD_VARIABLE, SOAP_PACKAGE, USERNAME, cache_dir, component, package,
    run_outcomes, stderr, stdout,
};

/// A Temporal development server of the test's own (`tests/servers`).
type Temporal = test_servers::TemporalServer;

/// Starts a Temporal development server for one test.
fn temporal() -> Temporal {
    Temporal::start().expect("the Temporal dev server starts")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// A worker's connections folder: profile `name` is the shipped package pointed at `sim`,
/// its password read from [`PASSWORD_VARIABLE`] of the worker's environment.
fn connections_folder(dir: &Path, name: &str, harness: &Harness) -> PathBuf {
    connections_of(dir, &[(name.to_owned(), harness.sim.endpoint_url())])
}

/// A connections folder with a profile per `(name, endpoint URL)`.
fn connections_of(dir: &Path, endpoints: &[(String, String)]) -> PathBuf {
    let folder = dir.join("connections");
    std::fs::create_dir_all(&folder).expect("the folder is created");
    let mut profiles = String::new();
    for (name, url) in endpoints {
        profiles.push_str(&format!(
            "[profiles.{name}]\nconnection = {:?}\nset = {{ SOAP_ENDPOINT = {url:?}, USERNAME = {USERNAME:?} }}\nset_env = {{ PASSWORD = {PASSWORD_VARIABLE:?} }}\n",
            package(SOAP_PACKAGE).display().to_string(),
        ));
    }
    std::fs::write(folder.join("config.toml"), profiles).expect("the profiles file is written");
    folder
}

/// A new database in the tests' PostgreSQL cluster, as `--db` names it: the fleet's shared store.
fn shared_store() -> PathBuf {
    PathBuf::from(
        test_servers::shared_postgres()
            .create_database()
            .expect("a database for the test"),
    )
}

/// `dcconn` on store `db`.
fn dcconn(db: &Path, password: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dcconn"));
    command
        .arg("--db")
        .arg(db)
        .arg("--component")
        .arg(component())
        .env("DCCONN_CACHE_DIR", cache_dir())
        .env(PASSWORD_VARIABLE, password)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// `dcconn ARGS` run through the fleet: `--via` the test's Temporal on `queue`, connection
/// `dc` (the client needs no secret: the workers have theirs).
fn via_fleet(db: &Path, temporal: &Temporal, queue: &str, args: &[&str]) -> Command {
    let mut command = dcconn(db, "");
    command.args(args).args([
        "--via",
        temporal.address(),
        "--task-queue",
        queue,
        "-c",
        "dc",
    ]);
    command
}

/// `dcconn schedule ARGS` on the test's Temporal, task queue `queue`.
fn schedule_command(db: &Path, temporal: &Temporal, queue: &str, args: &[&str]) -> Command {
    let mut command = dcconn(db, "");
    command.arg("schedule").args(args).args([
        "--temporal",
        temporal.address(),
        "--task-queue",
        queue,
    ]);
    command
}

/// `dcconn ARGS` run on this machine against the harness's simulator as endpoint `dc`, with
/// `password`: what `--via` must match.
fn run_locally(db: &Path, harness: &Harness, password: &str, args: &[&str]) -> Output {
    dcconn(db, password)
        .args(args)
        .args(harness.connection_args(SOAP_PACKAGE))
        .args(["--endpoint", "dc"])
        .output()
        .expect("dcconn runs")
}

/// A worker child process, killed when dropped: a failed test leaves none behind. Its stderr
/// goes to a file (a pipe nobody reads while it runs would fill and stop it).
struct WorkerProcess {
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl WorkerProcess {
    /// Sends `signal` to the worker.
    fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on the child's own pid.
            unsafe { libc::kill(child.id() as i32, signal) };
        }
    }

    /// What the worker wrote on stderr so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Stops the worker with SIGTERM and waits for it to exit by itself; its exit code and
    /// what it wrote on stderr.
    fn terminate(mut self) -> (Option<i32>, String) {
        self.signal(libc::SIGTERM);
        let child = self.child.take().expect("the worker is there");
        let code = wait_with_limit(child, Duration::from_secs(30))
            .status
            .code();
        (code, self.log())
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A worker child process on `queue`.
fn start_worker(
    db: &Path,
    temporal: &Temporal,
    queue: &str,
    folder: &Path,
    password: &str,
) -> WorkerProcess {
    start_worker_with(db, temporal, queue, folder, password, &[])
}

/// A worker child process on `queue`, with `extra` arguments.
fn start_worker_with(
    db: &Path,
    temporal: &Temporal,
    queue: &str,
    folder: &Path,
    password: &str,
    extra: &[&str],
) -> WorkerProcess {
    let log = tempfile::NamedTempFile::new().expect("a log file");
    let child = dcconn(db, password)
        .args([
            "worker",
            "--temporal",
            temporal.address(),
            "--task-queue",
            queue,
        ])
        .arg("--connections")
        .arg(folder)
        .args(["--grace-secs", "10"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(log.reopen().expect("the log file opens"))
        .spawn()
        .expect("the worker starts");
    WorkerProcess {
        child: Some(child),
        log,
    }
}

/// The value of the Prometheus series `name` whose labels include `label` (e.g.
/// `outcome="succeeded"`), as `/metrics` at `address` serves it.
fn metric(address: &str, name: &str, label: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .filter(|line| line.starts_with(name) && !line.starts_with('#'))
        .filter(|line| line[name.len()..].starts_with(['{', ' ']) && line.contains(label))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

/// The summary line with its elapsed time left out (`in 0.1s`), which differs between runs.
fn without_elapsed(text: &str) -> String {
    text.lines()
        .map(|line| match (line.find(" in "), line.find("s: ")) {
            (Some(start), Some(end)) if start < end => {
                format!("{}{}", &line[..start], &line[end + 1..])
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `dcconn LISTING --format json` lists from store `db` (`accounts`, `runs --endpoint
/// dc`...); `None` while the store cannot be read.
fn listed(db: &Path, listing: &[&str]) -> Option<Vec<Value>> {
    let output = dcconn(db, "")
        .args(listing)
        .args(["--format", "json"])
        .output()
        .expect("dcconn runs");
    if !output.status.success() {
        return None;
    }
    Some(serde_json::from_slice(&output.stdout).expect("a JSON listing"))
}

/// Waits for `child` to exit, at most `limit`; its output.
fn wait_with_limit(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child
            .try_wait()
            .expect("the child can be waited for")
            .is_some()
        {
            return child.wait_with_output().expect("its output");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the process did not exit within {limit:?}");
}

#[test]
fn fleet_via_gives_the_local_output_and_exit_code_and_sigterm_stops_the_worker() {
    let temporal = temporal();
    let harness = Harness::new(25);
    let folder = connections_folder(harness.dir.path(), "dc", &harness);
    // One machine: the workers may share a SQLite file.
    let fleet_db = harness.dir.path().join("fleet.db");
    let local_db = harness.dir.path().join("local.db");
    let metrics = format!("127.0.0.1:{}", free_port());
    let worker = start_worker_with(
        &fleet_db,
        &temporal,
        "via",
        &folder,
        &harness.password,
        &["--metrics", &metrics],
    );

    let local = run_locally(&local_db, &harness, &harness.password, &["import"]);
    let via = via_fleet(&fleet_db, &temporal, "via", &["import"])
        .output()
        .expect("runs");
    assert_eq!(via.status.code(), Some(0), "{}", stderr(&via));
    assert_eq!(via.status.code(), local.status.code());
    assert_eq!(
        without_elapsed(&stdout(&via)),
        without_elapsed(&stdout(&local))
    );
    assert!(
        stdout(&via).starts_with("imported dc (run 1) in "),
        "{}",
        stdout(&via)
    );
    assert_eq!(
        endpoint_content(&fleet_db, "dc"),
        endpoint_content(&local_db, "dc")
    );

    // A refusal: the same message and exit code (2: the store has no such account).
    let local = run_locally(
        &local_db,
        &harness,
        &harness.password,
        &["disable", "nobody"],
    );
    let via = via_fleet(&fleet_db, &temporal, "via", &["disable", "nobody"])
        .output()
        .expect("runs");
    assert_eq!(local.status.code(), Some(2), "{}", stderr(&local));
    assert_eq!(via.status.code(), Some(2), "{}", stderr(&via));
    assert_eq!(stderr(&via), stderr(&local));

    // A disable: the task line, exit 0, the account locked on the simulator.
    let account = harness.sim.dataset().users[3].name.clone();
    let via = via_fleet(&fleet_db, &temporal, "via", &["disable", &account])
        .output()
        .expect("runs");
    assert_eq!(via.status.code(), Some(0), "{}", stderr(&via));
    let line = format!("task 1: disable {account}: COMPLETE after 1 try\n");
    assert_eq!(stdout(&via), line);
    assert_eq!(harness.sim.dataset().users[3].status, "Locked");

    // A pending task of the account is taken, with the local command's note; a task behind
    // an earlier one that nobody holds is not waited for: exit 5 at once, with the note.
    let account = harness.sim.dataset().users[4].name.clone();
    // Queues a task of `kind` locally, then disables the account through the fleet.
    let queue_then_disable = |kind: &str| {
        let queue = [kind, account.as_str(), "--queue"];
        let queued = run_locally(&fleet_db, &harness, &harness.password, &queue);
        assert_eq!(queued.status.code(), Some(0), "{}", stderr(&queued));
        let via = via_fleet(&fleet_db, &temporal, "via", &["disable", &account])
            .output()
            .expect("runs");
        (via.status.code(), stdout(&via), stderr(&via))
    };
    assert_eq!(
        queue_then_disable("disable"),
        (
            Some(0),
            format!("task 2: disable {account}: COMPLETE after 1 try\n"),
            format!(
                "account {account} already had a pending disable task, task 2: no second task was created; this command attempted it\n"
            )
        )
    );
    assert_eq!(
        queue_then_disable("enable"),
        (
            Some(5),
            format!("task 4: disable {account}: NEW after 0 tries\n"),
            format!(
                "task 4 waits for task 3 of {account} (enable NEW): an account's tasks run in the order they were made; `dcconn retry` runs them in turn\n"
            )
        )
    );

    // The worker's metrics: one import and one task, succeeded; 25 accounts imported.
    let succeeded = r#"outcome="succeeded""#;
    assert_eq!(metric(&metrics, "dcconn_imports", succeeded), Some(1.0));
    assert_eq!(metric(&metrics, "dcconn_tasks", succeeded), Some(2.0));
    assert_eq!(metric(&metrics, "dcconn_accounts_imported", ""), Some(25.0));
    assert_eq!(metric(&metrics, "dcconn_activities_running", ""), Some(0.0));

    // SIGTERM: the worker stops by itself, exit 0.
    let (code, log) = worker.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("worker stopped"), "{log}");
}

#[test]
fn fleet_import_with_a_wrong_secret_fails_once_with_the_authentication_error() {
    let temporal = temporal();
    let harness = Harness::new(5);
    let folder = connections_folder(harness.dir.path(), "dc", &harness);
    let fleet_db = shared_store();
    let local_db = harness.dir.path().join("local.db");
    let _worker = start_worker(&fleet_db, &temporal, "auth", &folder, "not-the-password");

    let local = run_locally(&local_db, &harness, "not-the-password", &["import"]);
    let local_requests = harness.sim.requests().len();
    harness.sim.clear_requests();
    let via = via_fleet(&fleet_db, &temporal, "auth", &["import"])
        .args(["--attempt-backoff-ms", "100"])
        .output()
        .expect("runs");
    assert_eq!(local.status.code(), Some(4), "{}", stderr(&local));
    assert_eq!(via.status.code(), Some(4), "{}", stderr(&via));
    assert_eq!(stderr(&via), stderr(&local));
    // One attempt: exactly the requests of one local import, none retried.
    assert_eq!(harness.sim.requests().len(), local_requests);
    assert!(!stderr(&via).contains("not-the-password"));
}

/// Endpoint `dc` of `users` users on a simulator of its own, a workers' connections folder for
/// it, and its local import into `local.db`: what the fleet's store must come to.
fn endpoint_with_reference(users: usize) -> (Harness, PathBuf, PathBuf) {
    endpoint_imported_into(users, None)
}

/// Endpoint `dc` of `users` users on a simulator of its own, a workers' connections folder for
/// it, and its local import into `store` (default: `local.db` of the harness's folder).
fn endpoint_imported_into(users: usize, store: Option<PathBuf>) -> (Harness, PathBuf, PathBuf) {
    let harness = Harness::new(users);
    let folder = connections_folder(harness.dir.path(), "dc", &harness);
    let store = store.unwrap_or_else(|| harness.dir.path().join("local.db"));
    import_locally(&store, &harness.sim.endpoint_url(), "dc", &harness.password);
    (harness, folder, store)
}

/// `count` worker child processes on `queue`.
fn start_workers(
    count: usize,
    db: &Path,
    temporal: &Temporal,
    (queue, folder): (&str, &Path),
    password: &str,
) -> Vec<WorkerProcess> {
    (0..count)
        .map(|_| start_worker(db, temporal, queue, folder, password))
        .collect()
}

/// A local `dcconn import` of `url` into `db` as endpoint `endpoint`: the single-machine
/// reference.
fn import_locally(db: &Path, url: &str, endpoint: &str, password: &str) -> Output {
    let output = dcconn(db, password)
        .args(["import", "-c"])
        .arg(package(SOAP_PACKAGE))
        .args([
            "--set",
            &format!("SOAP_ENDPOINT={url}"),
            "--set",
            &format!("USERNAME={USERNAME}"),
        ])
        .args([
            "--set-env",
            &format!("PASSWORD={PASSWORD_VARIABLE}"),
            "--endpoint",
            endpoint,
        ])
        .output()
        .expect("dcconn runs");
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

/// An endpoint's runs (newest first), as `dcconn runs` lists them; none while the store
/// cannot be read.
fn runs(db: &Path, endpoint: &str) -> Vec<Value> {
    listed(db, &["runs", "--endpoint", endpoint]).unwrap_or_default()
}

/// An endpoint's accounts and entitlements, as `dcconn accounts|entitlements` list them.
fn endpoint_content(db: &Path, endpoint: &str) -> (Vec<Value>, Vec<Value>) {
    let list = |what: &str| listed(db, &[what, "--endpoint", endpoint]).expect("the store reads");
    (list("accounts"), list("entitlements"))
}

/// Waits until `done` holds, looking again every 200 ms; panics after `limit`.
fn await_condition(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what} did not happen within {limit:?}");
}

#[test]
fn fleet_import_whose_worker_is_killed_finishes_on_another_worker() {
    let temporal = temporal();
    let (harness, folder, local_db) = endpoint_with_reference(300);
    let fleet_db = shared_store();

    // The first worker's user list pauses mid-response: the import is caught mid-run.
    harness
        .sim
        .inject_fault(Fault::pause(2_000).for_operation("OnlineData.listEntityUsersRq"));
    let first = start_worker(&fleet_db, &temporal, "kill", &folder, &harness.password);
    let client = via_fleet(&fleet_db, &temporal, "kill", &["import"])
        .args(["--heartbeat-timeout-secs", "2", "--lease-ms", "2000"])
        .args(["--attempt-backoff-ms", "200", "--batch", "50"])
        .spawn()
        .expect("the client starts");
    assert!(
        harness.sim.wait_for_stall(Duration::from_secs(30)),
        "the import never paused"
    );
    await_condition(Duration::from_secs(30), "the first run's record", || {
        runs(&fleet_db, "dc").len() == 1
    });
    first.signal(libc::SIGKILL);
    drop(first);
    harness.sim.release_stall();
    let second = start_worker(&fleet_db, &temporal, "kill", &folder, &harness.password);

    let finished = wait_with_limit(client, Duration::from_secs(90));
    assert_eq!(finished.status.code(), Some(0), "{}", stderr(&finished));
    assert!(
        stdout(&finished).starts_with("imported dc (run 2) in "),
        "{}",
        stdout(&finished)
    );
    let history = runs(&fleet_db, "dc");
    assert_eq!(run_outcomes(&history), [(2, "succeeded"), (1, "failed")]);
    assert_eq!(history[0]["accounts"], 300);
    // Nothing duplicated or lost: exactly what a single-machine import stores.
    assert_eq!(
        endpoint_content(&fleet_db, "dc"),
        endpoint_content(&local_db, "dc")
    );
    stop(second);
}

#[test]
fn fleet_task_whose_worker_is_killed_mid_request_completes_on_another_worker() {
    let temporal = temporal();
    let (harness, folder, fleet_db) = endpoint_imported_into(5, Some(shared_store()));
    let account = harness.sim.dataset().users[2].name.clone();
    // The lock call's answer is held back: the attempt is caught with its request in flight
    // and its lease in the store, to last 3 s of request deadline plus the 20 s lease, well
    // past the 10 s in which Temporal hands a silent attempt to another worker.
    harness
        .sim
        .inject_fault(Fault::pause(0).for_operation("Security.lockUserAccountRq"));
    let timeouts = [
        "--connect-timeout-ms",
        "1000",
        "--first-byte-timeout-ms",
        "1000",
        "--between-bytes-timeout-ms",
        "1000",
    ];
    let worker = |password: &str| {
        start_worker_with(&fleet_db, &temporal, "held", &folder, password, &timeouts)
    };
    let first = worker(&harness.password);
    // Three tries 100 ms apart: spent at once if a held task cost a try.
    let client = via_fleet(&fleet_db, &temporal, "held", &["disable", &account])
        .args([
            "--lease-ms",
            "20000",
            "--max-tries",
            "3",
            "--backoff-ms",
            "100",
        ])
        .spawn()
        .expect("the client starts");
    assert!(
        harness.sim.wait_for_stall(Duration::from_secs(30)),
        "the lock call never came"
    );
    first.signal(libc::SIGKILL);
    drop(first);
    harness.sim.release_stall();
    let second = worker(&harness.password);

    let finished = wait_with_limit(client, Duration::from_secs(90));
    assert_eq!(finished.status.code(), Some(0), "{}", stderr(&finished));
    assert_eq!(
        stdout(&finished),
        format!("task 1: disable {account}: COMPLETE after 2 tries\n")
    );
    // The dead attempt's try counts; the second worker waited out its lease, then sent the
    // lock once more.
    let tasks = tasks(&fleet_db);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["status"], "COMPLETE");
    assert_eq!(lock_calls(&harness.sim), tries_by_account(&tasks));
    assert_eq!(lock_calls(&harness.sim)[&account], 2);
    assert_eq!(harness.sim.dataset().users[2].status, "Locked");
    stop(second);
}

#[test]
fn fleet_commands_say_plainly_what_they_cannot_reach() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let closed = format!("127.0.0.1:{}", free_port());
    let db = dir.path().join("fleet.db");
    let client = dcconn(&db, "")
        .args(["import", "--via", &closed, "-c", "dc"])
        .output()
        .expect("dcconn runs");
    assert_eq!(client.status.code(), Some(1), "{}", stderr(&client));
    assert_eq!(
        stderr(&client),
        format!(
            "error: cannot reach Temporal at {closed}: Connection refused; check that the Temporal server runs there (temporal server start-dev, or your cluster's frontend) and that --temporal names it\n"
        )
    );
    // With --json, the JSON object of an import that could not begin.
    let client = dcconn(&db, "")
        .args(["import", "--via", &closed, "-c", "dc", "--json"])
        .output()
        .expect("dcconn runs");
    assert_eq!(client.status.code(), Some(1), "{}", stderr(&client));
    let refused: Value = serde_json::from_slice(&client.stdout).expect("one JSON object");
    assert_eq!(
        (
            &refused["outcome"],
            &refused["endpoint"],
            &refused["exitCode"]
        ),
        (&Value::from("failed"), &Value::from("dc"), &Value::from(1))
    );
    // A server that is no Temporal frontend (the simulator's HTTP port) is said so in words.
    let harness = Harness::new(1);
    let not_temporal = harness
        .sim
        .endpoint_url()
        .split('/')
        .nth(2)
        .expect("HOST:PORT in the URL")
        .to_owned();
    let client = dcconn(&db, "")
        .args(["import", "--via", &not_temporal, "-c", "dc"])
        .output()
        .expect("dcconn runs");
    assert_eq!(client.status.code(), Some(1), "{}", stderr(&client));
    assert!(
        stderr(&client).starts_with(&format!(
            "error: cannot reach Temporal at {not_temporal}: the server there does not answer as a Temporal frontend ("
        )),
        "{}",
        stderr(&client)
    );
    assert!(
        !stderr(&client).contains("MetadataMap"),
        "{}",
        stderr(&client)
    );

    // A worker whose store cannot be used says so at once, before it takes any work.
    let unusable = dir.path().join("no-such-folder").join("fleet.db");
    let worker = dcconn(&unusable, "")
        .args(["worker", "--temporal", &closed, "--connections"])
        .arg(dir.path())
        .output()
        .expect("dcconn runs");
    assert_eq!(worker.status.code(), Some(1), "{}", stderr(&worker));
    assert!(
        stderr(&worker).starts_with(&format!(
            "error: cannot open the store at {}",
            unusable.display()
        )),
        "{}",
        stderr(&worker)
    );
}

/// Stops a worker with SIGTERM and checks it stopped by itself.
fn stop(worker: WorkerProcess) {
    let (code, log) = worker.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// Accounts disabled through the fleet at once.
const DISABLES: usize = 1_000;

#[test]
fn fleet_runs_a_thousand_disables_on_three_workers_through_failures() {
    let temporal = temporal();
    let (harness, folder, fleet_db) = endpoint_imported_into(DISABLES, Some(shared_store()));
    // A third of the lock calls fail (HTTP 503): 500 of the 1,500 calls that then lock every
    // account once, the first 500 to come, from tasks in any order. Their tasks complete
    // through retries (a task may fail more than once).
    let failing = (DISABLES / 2) as u32;
    harness.sim.inject_fault(
        Fault::http_status(503)
            .for_operation("Security.lockUserAccountRq")
            .times(failing),
    );
    let workers: Vec<WorkerProcess> = (0..3)
        .map(|_| {
            let extra = ["--max-tasks", "8"];
            start_worker_with(
                &fleet_db,
                &temporal,
                "many",
                &folder,
                &harness.password,
                &extra,
            )
        })
        .collect();

    let accounts: Vec<String> = harness
        .sim
        .dataset()
        .users
        .iter()
        .map(|user| user.name.clone())
        .collect();
    let outcomes = disable_all_via(temporal.address(), "many", &accounts, 30_000);
    for (account, outcome) in accounts.iter().zip(&outcomes) {
        assert_eq!((outcome.exit_code, &outcome.error), (0, &None), "{account}");
        assert!(
            outcome
                .stdout
                .contains(&format!(": disable {account}: COMPLETE after ")),
            "{}",
            outcome.stdout
        );
    }

    // Every task COMPLETE, one per account; every account locked on the simulator.
    let tasks = listed(&fleet_db, &["tasks"]).expect("the store reads");
    assert_eq!(tasks.len(), DISABLES);
    assert!(
        tasks.iter().all(|task| task["status"] == "COMPLETE"),
        "{tasks:?}"
    );
    assert!(
        harness
            .sim
            .dataset()
            .users
            .iter()
            .all(|user| user.status == "Locked")
    );
    // Exactly one successful lock per account: its lock calls are its tries, and the failed
    // ones are the injected failures.
    let calls = lock_calls(&harness.sim);
    let tries = tries_by_account(&tasks);
    assert_eq!(calls, tries);
    assert_eq!(
        calls.values().sum::<u64>(),
        (DISABLES + DISABLES / 2) as u64
    );
    assert!(harness.sim.pending_faults().is_empty());
    // Each failed try is a warning in its worker's log, with its reason and its next try.
    let logs: String = workers.iter().map(WorkerProcess::log).collect();
    let warned = logs
        .lines()
        .filter(|line| line.contains(" failed, tried again in ") && line.contains("503"))
        .count();
    assert_eq!(warned, DISABLES / 2, "{logs}");
    for worker in workers {
        stop(worker);
    }
}

/// Disables in flight at once from the test's client.
const IN_FLIGHT: usize = 100;

/// `disable --via` of every account at once, from one client, each attempt holding its task for
/// `lease_ms`: their outcomes, in order.
fn disable_all_via(
    address: &str,
    queue: &str,
    accounts: &[String],
    lease_ms: u64,
) -> Vec<dcconn::fleet::JobOutcome> {
    let target = dcconn::fleet::Target {
        address: address.to_owned(),
        namespace: dcconn::fleet::DEFAULT_NAMESPACE.to_owned(),
        task_queue: queue.to_owned(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let client = dcconn::fleet::client::connect(&target, "e2e")
            .await
            .expect("Temporal answers");
        let jobs = accounts.iter().map(|account| {
            let job = dcconn::fleet::ProvisionJob {
                connection: "dc".to_owned(),
                endpoint: "dc".to_owned(),
                account: account.clone(),
                kind: "disable".to_owned(),
                max_tries: 10,
                backoff_ms: 100,
                max_backoff_ms: 1_000,
                lease_ms,
            };
            dcconn::fleet::client::provision_with(&client, &target, job)
        });
        // At most IN_FLIGHT workflows started and awaited at once: a thousand gRPC calls at
        // once time out on a 2-core machine.
        futures::stream::iter(jobs)
            .buffered(IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .map(|outcome| outcome.expect("the workflow ends"))
            .collect()
    })
}

/// Endpoints of the scheduled-imports test, each a simulator of its own.
const ENDPOINTS: usize = 20;

#[test]
fn fleet_schedules_import_twenty_endpoints_once_per_fire_on_three_workers() {
    let temporal = temporal();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let password = crate::support::PASSWORD;
    let sims: Vec<Simulator> = (0..ENDPOINTS)
        .map(|index| {
            Simulator::start(SimConfig {
                users: 20 + index,
                seed: index as u64,
                username: USERNAME.into(),
                password: password.into(),
                token: None,
            })
            .expect("the simulator starts")
        })
        .collect();
    let names: Vec<(String, String)> = sims
        .iter()
        .enumerate()
        .map(|(index, sim)| (format!("ep{index:02}"), sim.endpoint_url()))
        .collect();
    let folder = connections_of(dir.path(), &names);
    let fleet_db = shared_store();
    let local_db = dir.path().join("local.db");
    for (name, url) in &names {
        import_locally(&local_db, url, name, password);
    }
    let workers = start_workers(3, &fleet_db, &temporal, ("scheduled", &folder), password);
    let schedule = |args: &[&str]| {
        let output = schedule_command(&fleet_db, &temporal, "scheduled", args)
            .output()
            .expect("dcconn runs");
        assert!(output.status.success(), "{}", stderr(&output));
        stdout(&output)
    };
    for (name, _) in &names {
        let added = schedule(&[
            "add",
            name,
            "--cron",
            "0 3 * * *",
            "--timezone",
            "Europe/Berlin",
        ]);
        assert_eq!(added, format!("added schedule import-schedule-{name}\n"));
    }
    // Listing is eventually consistent in Temporal: wait for all of them.
    await_condition(Duration::from_secs(30), "every schedule listed", || {
        schedule(&["list"]).lines().count() == ENDPOINTS + 1
    });
    let listed = schedule(&["list"]);
    assert!(listed.starts_with("SCHEDULE"), "{listed}");
    assert!(
        listed.contains("  0 3 * * * in Europe/Berlin, connection ep07\n"),
        "{listed}"
    );
    // Times Temporal cannot read are a usage error, in its words; nothing is added.
    for (cron, zone, said) in [
        ("61 3 * * *", "UTC", "Minute is not in range [0-59]"),
        ("0 3 * *", "UTC", "CronString does not have 5-7 fields"),
        (
            "0 3 * * *",
            "Mars/Olympus",
            "unknown time zone Mars/Olympus",
        ),
    ] {
        let add = ["add", "extra", "--cron", cron, "--timezone", zone];
        let refused = schedule_command(&fleet_db, &temporal, "scheduled", &add)
            .output()
            .expect("dcconn runs");
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(
            stderr(&refused).starts_with(&format!(
                "error: Temporal refused the times of schedule import-schedule-extra: Invalid schedule spec: {said}; give --cron as a cron expression (minute hour"
            )),
            "{}",
            stderr(&refused)
        );
    }
    let never_added = schedule_command(&fleet_db, &temporal, "scheduled", &["remove", "extra"])
        .output()
        .expect("dcconn runs");
    assert_eq!(
        (never_added.status.code(), stderr(&never_added)),
        (
            Some(2),
            "error: there is no schedule import-schedule-extra: see `dcconn schedule list`\n"
                .to_owned()
        )
    );
    for fire in 1..=2 {
        for (name, _) in &names {
            schedule(&["trigger", name]);
        }
        await_condition(Duration::from_secs(120), "every scheduled import", || {
            names.iter().all(|(name, _)| {
                let history = runs(&fleet_db, name);
                history.len() == fire && history.iter().all(|run| run["outcome"] != "running")
            })
        });
    }
    for (name, _) in &names {
        let history = runs(&fleet_db, name);
        assert_eq!(history.len(), 2, "{name}: {history:?}");
        assert!(
            history.iter().all(|run| run["outcome"] == "succeeded"),
            "{name}: {history:?}"
        );
        assert_eq!(
            endpoint_content(&fleet_db, name),
            endpoint_content(&local_db, name),
            "{name}"
        );
        schedule(&["remove", name]);
    }
    for worker in workers {
        stop(worker);
    }
}

#[test]
fn fleet_schedules_fire_by_the_clock_once_per_fire_and_skip_while_the_import_runs() {
    let temporal = temporal();
    let (harness, folder, local_db) = endpoint_with_reference(30);
    let fleet_db = shared_store();
    let workers = start_workers(
        2,
        &fleet_db,
        &temporal,
        ("clock", &folder),
        &harness.password,
    );
    // The first fire's import pauses mid-response, so that the fires meanwhile find it running.
    harness
        .sim
        .inject_fault(Fault::pause(2_000).for_operation("OnlineData.listEntityUsersRq"));
    let added = schedule_command(
        &fleet_db,
        &temporal,
        "clock",
        &["add", "dc", "--cron", "@every 2s"],
    )
    .output()
    .expect("dcconn runs");
    assert!(added.status.success(), "{}", stderr(&added));
    let info = || -> Value {
        let output = temporal
            .cli(&[
                "schedule",
                "describe",
                "-s",
                "import-schedule-dc",
                "-o",
                "json",
            ])
            .output()
            .expect("the temporal CLI runs");
        assert!(output.status.success(), "{}", stderr(&output));
        let described: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        described["info"].clone()
    };
    // Temporal's counts come as JSON strings (64-bit integers).
    let count = |info: &Value, name: &str| -> usize {
        info[name]
            .as_str()
            .and_then(|text| text.parse().ok())
            .unwrap_or(0)
    };
    assert!(
        harness.sim.wait_for_stall(Duration::from_secs(30)),
        "the first fire's import never came"
    );
    await_condition(Duration::from_secs(30), "two fires skipped", || {
        count(&info(), "overlapSkipped") >= 2
    });
    harness.sim.release_stall();
    await_condition(
        Duration::from_secs(60),
        "three imports by the clock",
        || runs(&fleet_db, "dc").len() >= 3,
    );
    let paused = temporal
        .cli(&["schedule", "toggle", "--pause", "-s", "import-schedule-dc"])
        .args(["--reason", "the test has seen enough fires"])
        .output()
        .expect("the temporal CLI runs");
    assert!(paused.status.success(), "{}", stderr(&paused));

    // Each fire (action) imported once: a run per fire, none for the fires skipped.
    let fires = count(&info(), "actionCount");
    await_condition(Duration::from_secs(60), "a finished run per fire", || {
        let history = runs(&fleet_db, "dc");
        history.len() == fires && history.iter().all(|run| run["outcome"] != "running")
    });
    for worker in workers {
        stop(worker);
    }
    let history = runs(&fleet_db, "dc");
    assert_eq!(history.len(), fires);
    assert!(
        history.iter().all(|run| run["outcome"] == "succeeded"),
        "{history:?}"
    );
    assert_eq!(
        endpoint_content(&fleet_db, "dc"),
        endpoint_content(&local_db, "dc")
    );
}

/// The tasks of store `db` as `dcconn tasks` lists them; none while the store cannot be read.
fn tasks(db: &Path) -> Vec<Value> {
    listed(db, &["tasks"]).unwrap_or_default()
}

/// Each task's tries by its account (one task per account).
fn tries_by_account(tasks: &[Value]) -> std::collections::BTreeMap<String, u64> {
    tasks
        .iter()
        .map(|task| {
            (
                task["account"].as_str().unwrap_or_default().to_owned(),
                task["tries"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// How many lock calls the simulator received per account.
fn lock_calls(sim: &Simulator) -> std::collections::BTreeMap<String, u64> {
    let mut calls = std::collections::BTreeMap::new();
    for request in sim.requests() {
        for operation in request
            .operations
            .iter()
            .filter(|o| o.name == "Security.lockUserAccountRq")
        {
            *calls
                .entry(operation.attr("userName").unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    calls
}

#[test]
fn fleet_jobs_complete_through_a_postgres_restart() {
    let temporal = temporal();
    let cluster = test_servers::PostgresCluster::start().expect("a PostgreSQL cluster of its own");
    let store = PathBuf::from(cluster.create_database().expect("a database"));
    let (harness, folder, local_db) = endpoint_with_reference(300);
    let workers = start_workers(
        2,
        &store,
        &temporal,
        ("restart", &folder),
        &harness.password,
    );

    // An import caught mid-run when PostgreSQL restarts: its attempt fails, the worker records
    // the run as failed on a new connection, and the retry imports at once.
    harness
        .sim
        .inject_fault(Fault::pause(2_000).for_operation("OnlineData.listEntityUsersRq"));
    let client = via_fleet(&store, &temporal, "restart", &["import"])
        .args(["--attempt-backoff-ms", "200"])
        .spawn()
        .expect("the client starts");
    assert!(
        harness.sim.wait_for_stall(Duration::from_secs(30)),
        "the import never paused"
    );
    await_condition(Duration::from_secs(30), "the first run's record", || {
        runs(&store, "dc").len() == 1
    });
    cluster.restart().expect("PostgreSQL restarts");
    harness.sim.release_stall();
    let finished = wait_with_limit(client, Duration::from_secs(90));
    assert_eq!(finished.status.code(), Some(0), "{}", stderr(&finished));
    assert!(
        stdout(&finished).starts_with("imported dc (run 2) in "),
        "{}",
        stdout(&finished)
    );
    let history = runs(&store, "dc");
    assert_eq!(run_outcomes(&history), [(2, "succeeded"), (1, "failed")]);
    let error = history[1]["error"].as_str().unwrap_or_default();
    assert!(error.contains("PostgreSQL failed while "), "{error}");
    assert_eq!(
        endpoint_content(&store, "dc"),
        endpoint_content(&local_db, "dc")
    );

    // Disables in flight when PostgreSQL restarts: every one completes, each account locked.
    let accounts: Vec<String> = harness.sim.dataset().users[..60]
        .iter()
        .map(|user| user.name.clone())
        .collect();
    let address = temporal.address().to_owned();
    let to_disable = accounts.clone();
    let disabling =
        std::thread::spawn(move || disable_all_via(&address, "restart", &to_disable, 2_000));
    await_condition(Duration::from_secs(60), "ten completed tasks", || {
        tasks(&store)
            .iter()
            .filter(|task| task["status"] == "COMPLETE")
            .count()
            >= 10
    });
    cluster.restart().expect("PostgreSQL restarts");
    let outcomes = disabling.join().expect("the client thread ends");
    for (account, outcome) in accounts.iter().zip(&outcomes) {
        assert_eq!((outcome.exit_code, &outcome.error), (0, &None), "{account}");
    }
    let tasks = tasks(&store);
    assert_eq!(tasks.len(), accounts.len());
    assert!(
        tasks.iter().all(|task| task["status"] == "COMPLETE"),
        "{tasks:?}"
    );
    let users = harness.sim.dataset().users;
    assert!(users[..60].iter().all(|user| user.status == "Locked"));
    // An attempt cut off before it recorded its end is tried again: a lock is sent once per try.
    let tries = tries_by_account(&tasks);
    assert_eq!(lock_calls(&harness.sim), tries);
    for worker in workers {
        stop(worker);
    }
}
