//! A throwaway PostgreSQL cluster: `initdb` in a temporary folder, `pg_ctl start` on a free
//! loopback port, trust authentication, stopped and removed when dropped.
//!
//! `initdb` and `pg_ctl` refuse to run as root, so a root process runs them as the `postgres`
//! user of Debian's package (`runuser`), in a folder that user owns.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The unprivileged user a root process runs the cluster as.
const CLUSTER_USER: &str = "postgres";

/// A running PostgreSQL cluster of its own.
pub struct PostgresCluster {
    folder: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_user: Option<&'static str>,
    databases: AtomicU32,
}

impl PostgresCluster {
    /// Creates and starts a cluster; fails with what to install when PostgreSQL is missing.
    pub fn start() -> io::Result<PostgresCluster> {
        let bin = server_bin()?;
        let as_user = is_root().then_some(CLUSTER_USER);
        let folder = tempfile::Builder::new().prefix("dcconn-pg-").tempdir()?;
        if let Some(user) = as_user {
            run(Command::new("chown").arg(user).arg(folder.path()))?;
        }
        let cluster = PostgresCluster {
            port: free_port()?,
            folder,
            bin,
            as_user,
            databases: AtomicU32::new(0),
        };
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` as the superuser `postgres`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The process id of the server's postmaster (its sessions are its children), from
    /// `postmaster.pid` in the data folder.
    pub fn server_pid(&self) -> io::Result<u32> {
        let file = self.folder.path().join("data/postmaster.pid");
        let text = std::fs::read_to_string(&file)?;
        text.lines()
            .next()
            .and_then(|line| line.trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("{} names no process", file.display())))
    }

    /// A new, empty database; returns its URL.
    pub fn create_database(&self) -> io::Result<String> {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            self.databases.fetch_add(1, Ordering::Relaxed)
        );
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(io::Error::other)?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(io::Error::other)?;
        Ok(self.url(&name))
    }

    /// Stops the server (fast: sessions are cut) and starts it again on the same port.
    pub fn restart(&self) -> io::Result<()> {
        self.stop()?;
        self.pg_ctl_start()
    }

    /// Stops the server, cutting its sessions.
    pub fn stop(&self) -> io::Result<()> {
        self.pg("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])
            .map(drop)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn pg_ctl_start(&self) -> io::Result<()> {
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            self.port,
            self.folder.path().display()
        );
        let log = self.folder.path().join("server.log");
        self.pg(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log.display().to_string(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map(drop)
    }

    /// The cluster's data folder.
    fn data(&self) -> String {
        self.folder.path().join("data").display().to_string()
    }

    /// Runs one of the server's programs, as the cluster's user when this process is root.
    fn pg(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        let program = self.bin.join(program);
        let mut command = match self.as_user {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        };
        command.args(args).current_dir(self.folder.path());
        run(&mut command)
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let _ = self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

/// The cluster [`shared_postgres`] started.
static SHARED: OnceLock<PostgresCluster> = OnceLock::new();

/// One cluster for the whole test process, started on first use and stopped when the process
/// exits.
pub fn shared_postgres() -> &'static PostgresCluster {
    SHARED.get_or_init(|| {
        let cluster = PostgresCluster::start()
            .unwrap_or_else(|error| panic!("cannot start PostgreSQL for the tests: {error}"));
        // SAFETY: registers a plain `extern "C"` function, which may run at any exit.
        unsafe { libc::atexit(stop_shared) };
        cluster
    })
}

/// Stops the shared cluster as the process exits: statics are never dropped.
extern "C" fn stop_shared() {
    if let Some(cluster) = SHARED.get() {
        let _ = cluster.pg(
            "pg_ctl",
            &["-D", &cluster.data(), "-m", "immediate", "-w", "stop"],
        );
        let _ = std::fs::remove_dir_all(cluster.folder.path());
    }
}

/// The folder of the newest PostgreSQL server installed from Debian's packages.
fn server_bin() -> io::Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map_err(|_| missing())?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(missing)
}

fn missing() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "PostgreSQL's server is not installed (/usr/lib/postgresql/*/bin/initdb); `make test` installs it (apt-get install postgresql)",
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A free loopback port (free when asked; the server binds it right after).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs `command`; its output, or an error with what it printed.
fn run(command: &mut Command) -> io::Result<Output> {
    let output = command.output()?;
    if output.status.success() {
        return Ok(output);
    }
    Err(io::Error::other(format!(
        "{:?} failed ({}): {}{}",
        command,
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}
