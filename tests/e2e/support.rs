//! The harness: a simulator, a temporary store, and `dcconn` run as a subprocess.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use dcsim::{SimConfig, Simulator};
use serde_json::Value;
use tempfile::TempDir;

/// The simulator's password, handed to dcconn through this environment variable only.
pub const PASSWORD_VARIABLE: &str = "DC_E2E_PASSWORD";
pub const PASSWORD: &str = "e2e-Secret&<\"pw\">";
/// The password as it appears inside XML.
pub const PASSWORD_ESCAPED: &str = "e2e-Secret&amp;&lt;&quot;pw&quot;&gt;";
pub const USERNAME: &str = "dcadmin";

/// The SOAP package this project ships, and its XML-mode twin.
pub const SOAP_PACKAGE: &str = "duckcreek.json";
pub const XML_PACKAGE: &str = "duckcreek-xml.json";

pub fn package(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packages")
        .join(name)
}

fn target_dir() -> PathBuf {
    // The test executable lives in <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("the test executable has a path");
    exe.ancestors().nth(3).expect("target layout").to_path_buf()
}

/// The component under test: `DCCONN_COMPONENT` when the Makefile built it, else built here
/// (see [`build_component`]).
pub fn component() -> &'static Path {
    static COMPONENT: OnceLock<PathBuf> = OnceLock::new();
    COMPONENT.get_or_init(|| {
        if let Some(path) = std::env::var_os("DCCONN_COMPONENT") {
            return PathBuf::from(path);
        }
        build_component("duckcreek-connector", "e2e-component")
    })
}

/// Builds the workspace crate `package` for wasm32-wasip2 (release) into the target folder
/// `folder` of its own (no lock shared with the running `cargo test`); the component's path.
pub fn build_component(package: &str, folder: &str) -> PathBuf {
    let target = target_dir().join(folder);
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the component {package} failed");
    target
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}

/// Compiled-component cache shared by the tests of one target folder.
pub fn cache_dir() -> PathBuf {
    target_dir().join("e2e-cache")
}

/// A simulator, a store, and dcconn.
pub struct Harness {
    pub sim: Simulator,
    pub dir: TempDir,
    /// The store `--db` names: `store.db` in `dir` unless set (a PostgreSQL URL).
    pub store: Option<String>,
    /// The password the simulator accepts, handed to dcconn in [`PASSWORD_VARIABLE`].
    pub password: String,
}

impl Harness {
    pub fn new(users: usize) -> Harness {
        Harness::with_token(users, None)
    }

    /// A harness whose simulator sits behind a token gateway when `token` is set.
    pub fn with_token(users: usize, token: Option<dcsim::TokenMode>) -> Harness {
        Harness::with_password(users, PASSWORD, token)
    }

    /// A harness whose simulator accepts `password` (and dcconn is given it).
    pub fn with_password(users: usize, password: &str, token: Option<dcsim::TokenMode>) -> Harness {
        let sim = Simulator::start(SimConfig {
            users,
            seed: 7,
            username: USERNAME.into(),
            password: password.into(),
            token,
        })
        .expect("the simulator starts");
        Harness {
            sim,
            dir: tempfile::tempdir().expect("a temporary folder"),
            store: None,
            password: password.into(),
        }
    }

    pub fn db(&self) -> PathBuf {
        match &self.store {
            Some(url) => PathBuf::from(url),
            None => self.dir.path().join("store.db"),
        }
    }

    /// This harness with its store in a new database of the tests' PostgreSQL cluster.
    pub fn on_postgres(mut self) -> Harness {
        let url = test_servers::shared_postgres()
            .create_database()
            .expect("a database for the test");
        self.store = Some(url);
        self
    }

    /// dcconn with the store, component and cache of this harness, ready to run.
    pub fn command<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dcconn"));
        command
            .arg("--db")
            .arg(self.db())
            .arg("--component")
            .arg(component())
            .args(args)
            .env("DCCONN_CACHE_DIR", cache_dir())
            .env(PASSWORD_VARIABLE, &self.password)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        command
    }

    /// The shipped SOAP package pointed at this harness's simulator, with `password`, for tests
    /// that drive the `dcconn` library or other hosts directly.
    pub fn soap_connection(&self, password: &str) -> dcconn::connection::Connection {
        let mut connection =
            dcconn::connection::load(&package(SOAP_PACKAGE)).expect("the package loads");
        connection.set("SOAP_ENDPOINT", self.sim.endpoint_url());
        connection.set("USERNAME", USERNAME);
        connection.set("PASSWORD", password);
        connection
    }

    /// Runs dcconn to its end.
    pub fn dcconn<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        self.command(args).output().expect("dcconn runs")
    }

    /// Waits until an import in progress has committed staged batches (checking the store
    /// each time a short interval passes); false when `timeout` passes first.
    pub fn wait_for_staging(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.staged_rows() > 0 {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    /// Waits until every running run's lease has expired by the store's clock (checking each
    /// time a short interval passes); false when `timeout` passes first.
    pub fn wait_for_lease_expiry(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let connection = rusqlite::Connection::open(self.db()).expect("the store opens");
        while std::time::Instant::now() < deadline {
            let live: i64 = connection
                .query_row(
                    "SELECT count(*) FROM runs WHERE outcome = 'running'
                       AND lease_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                    [],
                    |row| row.get(0),
                )
                .expect("the runs table exists");
            if live == 0 {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }

    /// Records an import in progress has staged: the running counts of its run (the staging
    /// tables themselves are private to the importing connection).
    pub fn staged_rows(&self) -> i64 {
        let connection = rusqlite::Connection::open(self.db()).expect("the store opens");
        connection
            .query_row(
                "SELECT coalesce(sum(accounts + links), 0) FROM runs WHERE outcome = 'running'",
                [],
                |row| row.get(0),
            )
            .expect("the runs table exists")
    }

    /// `-c PACKAGE --set SOAP_ENDPOINT=<simulator> --set USERNAME=... --set-env PASSWORD=...`
    pub fn connection_args(&self, package_name: &str) -> Vec<String> {
        vec![
            "-c".into(),
            package(package_name).display().to_string(),
            "--set".into(),
            format!("SOAP_ENDPOINT={}", self.sim.endpoint_url()),
            "--set".into(),
            format!("USERNAME={USERNAME}"),
            "--set-env".into(),
            format!("PASSWORD={PASSWORD_VARIABLE}"),
        ]
    }

    /// `dcconn <command> <connection args> <extra>`.
    pub fn with_connection(&self, command: &str, package_name: &str, extra: &[&str]) -> Output {
        let mut args = vec![command.to_string()];
        args.extend(self.connection_args(package_name));
        args.extend(extra.iter().map(|s| s.to_string()));
        self.dcconn(&args)
    }

    pub fn import(&self, package_name: &str) -> Output {
        self.with_connection("import", package_name, &["--json"])
    }

    /// A listing (`accounts`, `entitlements`, `runs`) as JSON.
    pub fn list(&self, what: &str) -> Vec<Value> {
        let output = self.dcconn(&[what, "--format", "json"]);
        assert_success(&output);
        match serde_json::from_slice(&output.stdout).expect("JSON output") {
            Value::Array(rows) => rows,
            other => panic!("expected an array, got {other}"),
        }
    }

    /// Everything the store shows, for before/after comparisons.
    pub fn snapshot(&self) -> (Vec<Value>, Vec<Value>) {
        (self.list("accounts"), self.list("entitlements"))
    }
}

/// Each run's id and outcome, as `dcconn runs --format json` lists them.
pub fn run_outcomes(runs: &[Value]) -> Vec<(i64, &str)> {
    runs.iter()
        .map(|run| {
            (
                run["id"].as_i64().unwrap_or(0),
                run["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// Whether `haystack` holds `needle` anywhere.
pub fn holds(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
}

/// Asserts the exit code and that stderr holds every fragment; returns stderr.
#[track_caller]
pub fn assert_failure(output: &Output, code: i32, fragments: &[&str]) -> String {
    let err = stderr(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        stdout(output)
    );
    for fragment in fragments {
        assert!(err.contains(fragment), "stderr lacks {fragment:?}:\n{err}");
    }
    for form in [PASSWORD, PASSWORD_ESCAPED] {
        assert!(
            !err.contains(form) && !stdout(output).contains(form),
            "the password leaked"
        );
    }
    err
}

/// The variables through which dcconn finds its component, store, profile and connection.
pub const DCCONN_VARIABLES: [&str; 6] = [
    "DCCONN_COMPONENT",
    "DCCONN_DB",
    "DCCONN_PROFILE",
    "DCCONN_CONFIG",
    "DCCONN_CONNECTION",
    "DCCONN_ENDPOINT",
];

/// `program` (a dcconn) with none of [`DCCONN_VARIABLES`] and `home` as its HOME, with no
/// XDG_CONFIG_HOME or XDG_DATA_HOME: it finds only what its own rules find. The compiled
/// component cache and the password variable are those of the harness.
pub fn bare_dcconn(program: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    for variable in DCCONN_VARIABLES
        .iter()
        .chain(&["XDG_CONFIG_HOME", "XDG_DATA_HOME"])
    {
        command.env_remove(variable);
    }
    command
        .env("HOME", home)
        .env("DCCONN_CACHE_DIR", cache_dir())
        .env(PASSWORD_VARIABLE, PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    command
}

/// The repository's root folder.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is in the repository")
        .to_path_buf()
}
