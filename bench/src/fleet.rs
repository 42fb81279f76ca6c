//! `dcbench fleet`: the fleet's figures, with real parts only, all on loopback and started here:
//! a throwaway PostgreSQL cluster (a database per worker count), the Temporal development
//! server, one `dcsim` per endpoint, and `dcconn worker` processes of the release binary.
//!
//! For each worker count, every endpoint's import is started at once through the fleet and the
//! wall time until all completed gives imports per minute; then the same again into the same
//! store (unchanged data: the nightly case). With the last worker count, disable tasks through
//! the fleet give tasks per second. Around each measurement the driver samples what the
//! extrapolation needs: CPU time of the workers, PostgreSQL, Temporal and the simulators, the
//! WAL PostgreSQL wrote, the Temporal history of each workflow and the imports' own phases.
//!
//! The client side is the library's `dcconn::fleet::client` (what `--via` runs), in this
//! process: it measures the fleet, not the start-up of a thousand `dcconn` processes.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dcconn::fleet::{ImportJob, JobOutcome, ProvisionJob, RunOptions, Target, client};
use dcconn::store::{OpenMode, RunOutcome, Store, TaskStatus};
use futures::StreamExt;
use serde_json::{Value, json};
use test_servers::{PostgresCluster, TemporalServer};

use crate::PASSWORD_VARIABLE;
use crate::cpu;
use crate::simulator::{PASSWORD, Simulator};

/// `dcbench fleet`.
#[derive(clap::Args)]
pub struct FleetArgs {
    /// Duck Creek endpoints, each a simulator of its own.
    #[arg(long, default_value_t = 20)]
    endpoints: usize,
    /// Users of each endpoint.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Worker counts, measured one after the other (a fresh database each).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    workers: Vec<usize>,
    /// Imports each worker runs at once (`dcconn worker --max-imports`).
    #[arg(long, default_value_t = 2)]
    max_imports: u16,
    /// Disable tasks through the fleet, run with the last worker count (0: none).
    #[arg(long, default_value_t = 1000)]
    tasks: usize,
    /// Task attempts each worker runs at once (`dcconn worker --max-tasks`).
    #[arg(long, default_value_t = 8)]
    max_tasks: u16,
    /// Task workflows the client starts and awaits at once.
    #[arg(long, default_value_t = 100)]
    in_flight: usize,
    /// The built programs, the component and the connection.
    #[command(flatten)]
    built: crate::Built,
    /// The `temporal` CLI [default: target/interop/venv/bin/temporal of the workspace].
    #[arg(long)]
    temporal: Option<PathBuf>,
    /// Also write the figures as JSON into this file, as its `fleet` member (the file's other
    /// members, `dcbench run`'s, are kept).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The task queue of the benchmark's workers.
const TASK_QUEUE: &str = "dcbench";

/// How long a worker may take to start polling (it compiles the component on a cold cache).
const WORKER_READY_WITHIN: Duration = Duration::from_secs(180);

/// What a worker prints on stderr once it polls.
const WORKER_READY: &str = "worker polling task queue";

/// The parts every measurement shares.
struct Fleet<'a> {
    args: &'a FleetArgs,
    scratch: tempfile::TempDir,
    connections: PathBuf,
    postgres: PostgresCluster,
    temporal: TemporalServer,
    simulators: Vec<Simulator>,
    target: Target,
    tokio: tokio::runtime::Runtime,
}

/// Runs every fleet measurement, prints the figures and writes them to `--json`.
pub fn run(args: &FleetArgs) -> Result<()> {
    let fleet = Fleet::start(args)?;
    let mut imports = Vec::new();
    let mut provisioning = Value::Null;
    for (index, &workers) in args.workers.iter().enumerate() {
        let db = fleet
            .postgres
            .create_database()
            .context("creating the measurement's database")?;
        eprintln!("dcbench fleet: {workers} worker(s), {db}");
        let running = (0..workers)
            .map(|_| Worker::start(&fleet, &db))
            .collect::<Result<Vec<_>>>()?;
        let pids: Vec<u32> = running.iter().map(Worker::pid).collect();
        for round in ["first", "again"] {
            imports.push(fleet.import_round(&db, &pids, round)?);
        }
        if index + 1 == args.workers.len() && args.tasks > 0 {
            provisioning = fleet.provisioning(&db, &pids)?;
        }
    }
    let figures = json!({
        "endpoints": args.endpoints,
        "users": args.users,
        "maxImports": args.max_imports,
        "maxTasks": args.max_tasks,
        "cores": cpu::cores(),
        "imports": imports,
        "provisioning": provisioning,
    });
    print(&figures);
    if let Some(path) = &args.json {
        write_member(path, "fleet", figures)?;
    }
    Ok(())
}

impl Fleet<'_> {
    /// Starts PostgreSQL, Temporal and the simulators, and writes the workers' connections.
    fn start(args: &FleetArgs) -> Result<Fleet<'_>> {
        if args.endpoints == 0 || args.workers.contains(&0) {
            bail!("--endpoints and every --workers count must be at least 1");
        }
        let scratch = tempfile::tempdir()?;
        let postgres = PostgresCluster::start()
            .context("cannot start PostgreSQL (`make postgres` installs it)")?;
        let program = args
            .temporal
            .clone()
            .unwrap_or_else(TemporalServer::default_program);
        let temporal =
            TemporalServer::start_with(&program).context("cannot start the Temporal dev server")?;
        eprintln!(
            "dcbench fleet: {} simulators of {} users",
            args.endpoints, args.users
        );
        let simulators = (0..args.endpoints)
            .map(|index| Simulator::start(&args.built.bin, args.users, index as u64 + 1))
            .collect::<Result<Vec<_>>>()?;
        let connections = write_connections(scratch.path(), &args.built.package, &simulators)?;
        let target = Target {
            address: temporal.address().to_owned(),
            namespace: dcconn::fleet::DEFAULT_NAMESPACE.to_owned(),
            task_queue: TASK_QUEUE.to_owned(),
        };
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        Ok(Fleet {
            args,
            scratch,
            connections,
            postgres,
            temporal,
            simulators,
            target,
            tokio,
        })
    }

    /// Every endpoint's import started at once through the fleet; the wall time until all
    /// completed, what each import says of itself, and what the parts spent meanwhile.
    fn import_round(&self, db: &str, workers: &[u32], round: &str) -> Result<Value> {
        eprintln!("dcbench fleet: {} imports ({round})", self.args.endpoints);
        let (wal_before, temporal_before) = (self.wal_position()?, self.temporal_bytes());
        let activity = PgActivity::read(db)?;
        let before = self.cpu(workers)?;
        let started = Instant::now();
        let outcomes = self.tokio.block_on(futures::future::join_all(
            (0..self.args.endpoints).map(|index| client::import(&self.target, import_job(index))),
        ));
        let wall = started.elapsed();
        let cpu = self.cpu(workers)?.since(&before, wall);
        let wal = self.wal_position()? - wal_before;
        let activity = PgActivity::read(db)?.since(&activity, self.args.endpoints);
        let mut summaries = Vec::new();
        for (index, outcome) in outcomes.into_iter().enumerate() {
            let outcome =
                outcome.with_context(|| format!("the import of {} failed", endpoint(index)))?;
            summaries.push(self.summary(index, &outcome)?);
        }
        let phase = |key: &str| median(summaries.iter().map(|s| number(&s["timingsMs"][key])));
        let history = self.histories((0..self.args.endpoints).map(import_workflow_id))?;
        let endpoints = self.args.endpoints as f64;
        Ok(json!({
            "workers": workers.len(),
            "round": round,
            "wallS": wall.as_secs_f64(),
            "importsPerMinute": endpoints * 60.0 / wall.as_secs_f64(),
            "importMs": {
                "median": median(summaries.iter().map(|s| number(&s["elapsedMs"]))),
                "max": summaries.iter().map(|s| number(&s["elapsedMs"])).fold(0.0, f64::max),
            },
            "phasesMsMedian": {
                "connectorCalls": phase("connectorCalls"),
                "staging": phase("staging"),
                "applying": phase("applying"),
            },
            "failedAttempts": self.failed_runs(db)?,
            "cpuS": cpu,
            "walBytesPerImport": wal / endpoints,
            "postgresPerImport": activity,
            "databaseBytes": self.database_bytes(db)?,
            "history": history,
            "temporalDbBytesPerImport": (self.temporal_bytes() - temporal_before) / endpoints,
        }))
    }

    /// An import's JSON summary, checked: it succeeded with every user of its endpoint.
    fn summary(&self, index: usize, outcome: &JobOutcome) -> Result<Value> {
        let name = endpoint(index);
        if outcome.exit_code != 0 {
            bail!(
                "the import of {name} ended with exit code {}: {}",
                outcome.exit_code,
                outcome.error.as_deref().unwrap_or(&outcome.stdout)
            );
        }
        let summary: Value = serde_json::from_str(&outcome.stdout)
            .with_context(|| format!("{name}: the import's summary is not JSON"))?;
        if summary["accounts"].as_u64() != Some(self.args.users as u64) {
            bail!(
                "{name}: the import stored {} accounts, not {}",
                summary["accounts"],
                self.args.users
            );
        }
        Ok(summary)
    }

    /// `--tasks` disables through the fleet, spread over the endpoints (each endpoint's first
    /// active accounts), at most `--in-flight` workflows at once from one client; every task
    /// must end COMPLETE in the store.
    fn provisioning(&self, db: &str, workers: &[u32]) -> Result<Value> {
        let jobs = self.disable_jobs(db)?;
        eprintln!(
            "dcbench fleet: {} disables with {} worker(s)",
            jobs.len(),
            workers.len()
        );
        let (wal_before, temporal_before) = (self.wal_position()?, self.temporal_bytes());
        let activity = PgActivity::read(db)?;
        let before = self.cpu(workers)?;
        let started = Instant::now();
        let outcomes = self.tokio.block_on(async {
            let client = client::connect(&self.target, "dcbench").await?;
            let runs = jobs
                .iter()
                .map(|job| client::provision_with(&client, &self.target, job.clone()));
            let outcomes = futures::stream::iter(runs)
                .buffered(self.args.in_flight.max(1))
                .collect::<Vec<_>>()
                .await;
            Ok::<_, dcconn::fleet::FleetError>(outcomes)
        })?;
        let wall = started.elapsed();
        let cpu = self.cpu(workers)?.since(&before, wall);
        let wal = self.wal_position()? - wal_before;
        let activity = PgActivity::read(db)?.since(&activity, jobs.len());
        for (job, outcome) in jobs.iter().zip(outcomes) {
            let outcome = outcome.with_context(|| format!("disable {}", job.account))?;
            if outcome.exit_code != 0 || !outcome.stdout.contains(": COMPLETE after ") {
                bail!(
                    "disable {} of {} did not complete (exit code {}): {}{}",
                    job.account,
                    job.endpoint,
                    outcome.exit_code,
                    outcome.stdout,
                    outcome.error.unwrap_or_default()
                );
            }
        }
        let tries = self.check_tasks(db, &jobs)?;
        let tasks = jobs.len() as f64;
        let ids = jobs
            .iter()
            .step_by((jobs.len() / 20).max(1))
            .map(|job| format!("{}-{}-{}", job.kind, job.endpoint, job.account));
        Ok(json!({
            "workers": workers.len(),
            "tasks": jobs.len(),
            "inFlight": self.args.in_flight,
            "wallS": wall.as_secs_f64(),
            "tasksPerS": tasks / wall.as_secs_f64(),
            "tries": tries,
            "cpuS": cpu,
            "walBytesPerTask": wal / tasks,
            "postgresPerTask": activity,
            "history": self.histories(ids)?,
            "temporalDbBytesPerTask": (self.temporal_bytes() - temporal_before) / tasks,
        }))
    }

    /// The disable jobs: `--tasks` accounts, taken in turn from each endpoint's active ones.
    fn disable_jobs(&self, db: &str) -> Result<Vec<ProvisionJob>> {
        let store = open_store(db)?;
        let per_endpoint = self.args.tasks.div_ceil(self.args.endpoints);
        let mut lists = Vec::new();
        for index in 0..self.args.endpoints {
            let name = endpoint(index);
            let accounts: Vec<String> = store
                .accounts(&name)?
                .into_iter()
                .filter(|account| account.status == "active" && account.locked != Some(true))
                .take(per_endpoint)
                .map(|account| account.name)
                .collect();
            lists.push((name, accounts));
        }
        // Interleaved, so that every endpoint's tasks run side by side.
        let mut jobs = Vec::new();
        for position in 0..per_endpoint {
            for (name, accounts) in &lists {
                if let Some(account) = accounts.get(position) {
                    jobs.push(disable_job(name, account));
                }
            }
        }
        jobs.truncate(self.args.tasks);
        if jobs.len() < self.args.tasks {
            bail!(
                "the endpoints have {} active accounts, fewer than --tasks {}",
                jobs.len(),
                self.args.tasks
            );
        }
        Ok(jobs)
    }

    /// Checks in the store that each job's task is COMPLETE; the tries they took in all.
    fn check_tasks(&self, db: &str, jobs: &[ProvisionJob]) -> Result<u64> {
        let store = open_store(db)?;
        let (mut complete, mut tries) = (0, 0);
        for index in 0..self.args.endpoints {
            for task in store.tasks(&endpoint(index))? {
                if task.status != TaskStatus::Complete {
                    bail!(
                        "task {} ({} of {}) is {:?} in the store, not COMPLETE",
                        task.id,
                        task.account,
                        task.endpoint,
                        task.status
                    );
                }
                complete += 1;
                tries += u64::from(task.tries);
            }
        }
        if complete != jobs.len() {
            bail!(
                "the store holds {complete} tasks, the client ran {}",
                jobs.len()
            );
        }
        Ok(tries)
    }

    /// Failed runs in the store (attempts Temporal retried), over every endpoint.
    fn failed_runs(&self, db: &str) -> Result<usize> {
        let store = open_store(db)?;
        let mut failed = 0;
        for index in 0..self.args.endpoints {
            failed += store
                .runs(&endpoint(index))?
                .iter()
                .filter(|run| run.outcome == RunOutcome::Failed)
                .count();
        }
        Ok(failed)
    }

    /// The CPU time each part has used so far.
    fn cpu(&self, workers: &[u32]) -> Result<CpuSample> {
        Ok(CpuSample {
            workers: workers.iter().map(|&pid| cpu::process_seconds(pid)).sum(),
            postgres: cpu::tree_seconds(self.postgres.server_pid()?)?,
            temporal: cpu::process_seconds(self.temporal.pid()),
            simulators: self
                .simulators
                .iter()
                .map(|sim| cpu::process_seconds(sim.pid()))
                .sum(),
            driver: cpu::process_seconds(std::process::id()),
            machine: cpu::machine_busy_seconds()?,
        })
    }

    /// PostgreSQL's WAL position, in bytes since its start: the difference of two is what was
    /// written to the WAL between them (the cluster serves only the measurement).
    fn wal_position(&self) -> Result<f64> {
        let mut client = postgres::Client::connect(&self.postgres.url("postgres"), postgres::NoTls)
            .context("connecting to PostgreSQL for its WAL position")?;
        let row = client.query_one("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::float8", &[])?;
        Ok(row.get(0))
    }

    /// The size of the database at `url`, in bytes.
    fn database_bytes(&self, url: &str) -> Result<f64> {
        let mut client = postgres::Client::connect(url, postgres::NoTls)
            .context("connecting to PostgreSQL for the database's size")?;
        let row = client.query_one("SELECT pg_database_size(current_database())::float8", &[])?;
        Ok(row.get(0))
    }

    /// The size of Temporal's database with its WAL, in bytes.
    fn temporal_bytes(&self) -> f64 {
        let file = self.temporal.db_file();
        let mut wal = file.clone().into_os_string();
        wal.push("-wal");
        [file, PathBuf::from(wal)]
            .iter()
            .filter_map(|path| std::fs::metadata(path).ok())
            .map(|metadata| metadata.len() as f64)
            .sum()
    }

    /// The largest history (events and bytes) of the workflows `ids` (each id's latest run).
    fn histories(&self, ids: impl Iterator<Item = String>) -> Result<Value> {
        let (mut events, mut bytes) = (0.0_f64, 0.0_f64);
        for id in ids {
            let output = self
                .temporal
                .cli(&[
                    "workflow",
                    "describe",
                    "--workflow-id",
                    &id,
                    "--output",
                    "json",
                ])
                .output()
                .context("running temporal workflow describe")?;
            if !output.status.success() {
                bail!(
                    "temporal workflow describe {id} failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let described: Value = serde_json::from_slice(&output.stdout)
                .with_context(|| format!("temporal workflow describe {id}: not JSON"))?;
            let info = &described["workflowExecutionInfo"];
            events = events.max(number(&info["historyLength"]));
            bytes = bytes.max(number(&info["historySizeBytes"]));
        }
        Ok(json!({ "eventsMax": events, "bytesMax": bytes }))
    }
}

/// The name of endpoint `index` (and of its connection in the workers' folder).
fn endpoint(index: usize) -> String {
    format!("ep{index:02}")
}

fn import_workflow_id(index: usize) -> String {
    dcconn::fleet::import_workflow_id(&endpoint(index))
}

/// The import of endpoint `index` as `dcconn import --via … --json` would start it.
fn import_job(index: usize) -> ImportJob {
    ImportJob {
        connection: endpoint(index),
        endpoint: endpoint(index),
        scope: "all".to_owned(),
        batch: 0,
        json: true,
        run: RunOptions::default(),
    }
}

/// A disable of `account`, with short backoffs (a failed try would show in the tries).
fn disable_job(endpoint: &str, account: &str) -> ProvisionJob {
    ProvisionJob {
        connection: endpoint.to_owned(),
        endpoint: endpoint.to_owned(),
        account: account.to_owned(),
        kind: "disable".to_owned(),
        max_tries: 10,
        backoff_ms: 100,
        max_backoff_ms: 1_000,
        lease_ms: 30_000,
    }
}

fn open_store(db: &str) -> Result<Store> {
    Store::open_as(Path::new(db), OpenMode::ReadOnly)
        .with_context(|| format!("opening the store {db}"))
}

/// The workers' connections folder: a profile per simulator, its password read from
/// [`PASSWORD_VARIABLE`] of the worker's environment.
fn write_connections(scratch: &Path, package: &Path, simulators: &[Simulator]) -> Result<PathBuf> {
    let folder = scratch.join("connections");
    std::fs::create_dir_all(&folder)?;
    let package = std::path::absolute(package)
        .with_context(|| format!("the package {}", package.display()))?;
    let mut profiles = String::new();
    for (index, simulator) in simulators.iter().enumerate() {
        profiles.push_str(&format!(
            "[profiles.{}]\nconnection = {:?}\nset = {{ SOAP_ENDPOINT = {:?}, USERNAME = \"dcadmin\" }}\nset_env = {{ PASSWORD = {PASSWORD_VARIABLE:?} }}\n",
            endpoint(index),
            package.display().to_string(),
            simulator.endpoint,
        ));
    }
    std::fs::write(folder.join("config.toml"), profiles)?;
    Ok(folder)
}

/// A `dcconn worker` child process, killed when dropped. Its stderr is read on a thread of its
/// own (the last lines are kept for an error message).
struct Worker {
    child: Child,
}

/// Lines of a worker's stderr kept for an error message.
const KEPT_LINES: usize = 20;

impl Worker {
    /// Starts a worker on the fleet's queue and store `db`; returns once it polls.
    fn start(fleet: &Fleet<'_>, db: &str) -> Result<Worker> {
        let args = fleet.args;
        let mut child = Command::new(args.built.bin.join("dcconn"))
            .args(["--db", db, "worker", "--temporal", &fleet.target.address])
            .args(["--task-queue", TASK_QUEUE, "--connections"])
            .arg(&fleet.connections)
            .args(["--max-imports", &args.max_imports.to_string()])
            .args(["--max-tasks", &args.max_tasks.to_string()])
            .env(PASSWORD_VARIABLE, PASSWORD)
            .env("DCCONN_CACHE_DIR", fleet.scratch.path().join("cache"))
            .env("DCCONN_COMPONENT", &args.built.component)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start dcconn worker (build it with `make build`)")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let kept = Arc::new(Mutex::new(VecDeque::new()));
        let (ready, polling) = mpsc::channel();
        let lines = Arc::clone(&kept);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(WORKER_READY) {
                    let _ = ready.send(());
                }
                if let Ok(mut lines) = lines.lock() {
                    if lines.len() == KEPT_LINES {
                        lines.pop_front();
                    }
                    lines.push_back(line);
                }
            }
        });
        let worker = Worker { child };
        if polling.recv_timeout(WORKER_READY_WITHIN).is_err() {
            let said: Vec<String> = kept.lock().map(|l| l.clone().into()).unwrap_or_default();
            bail!(
                "dcconn worker did not start polling within {WORKER_READY_WITHIN:?}; it said:\n{}",
                said.join("\n")
            );
        }
        Ok(worker)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What PostgreSQL's statistics say of the measurement's database so far. The sessions report
/// them when they go idle (within a second while busy), so a short measurement may miss the last.
struct PgActivity {
    commits: f64,
    rows_written: f64,
    rows_read_by_seq_scans: f64,
    autovacuums: f64,
}

impl PgActivity {
    /// The statistics of the database at `url`.
    fn read(url: &str) -> Result<PgActivity> {
        let mut client = postgres::Client::connect(url, postgres::NoTls)
            .context("connecting to PostgreSQL for its statistics")?;
        let database = client.query_one(
            "SELECT xact_commit::float8, (tup_inserted + tup_updated + tup_deleted)::float8 \
             FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )?;
        let tables = client.query_one(
            "SELECT coalesce(sum(seq_tup_read), 0)::float8, \
             coalesce(sum(autovacuum_count + autoanalyze_count), 0)::float8 FROM pg_stat_user_tables",
            &[],
        )?;
        Ok(PgActivity {
            commits: database.get(0),
            rows_written: database.get(1),
            rows_read_by_seq_scans: tables.get(0),
            autovacuums: tables.get(1),
        })
    }

    /// What happened since `before`, per job of `jobs` (autovacuum and autoanalyze runs: in all).
    fn since(&self, before: &PgActivity, jobs: usize) -> Value {
        let per = |now: f64, then: f64| (now - then) / jobs.max(1) as f64;
        json!({
            "commits": per(self.commits, before.commits),
            "rowsWritten": per(self.rows_written, before.rows_written),
            "rowsReadBySeqScans": per(self.rows_read_by_seq_scans, before.rows_read_by_seq_scans),
            "autovacuumsInAll": self.autovacuums - before.autovacuums,
        })
    }
}

/// CPU seconds used so far, by part.
struct CpuSample {
    workers: f64,
    postgres: f64,
    temporal: f64,
    simulators: f64,
    driver: f64,
    machine: f64,
}

impl CpuSample {
    /// What each part used since `before`, over `wall`: seconds, and the machine's busy time
    /// left to other processes (the other engineers' builds and tests on a shared machine).
    fn since(&self, before: &CpuSample, wall: Duration) -> Value {
        let parts = [
            ("workers", self.workers - before.workers),
            ("postgres", self.postgres - before.postgres),
            ("temporal", self.temporal - before.temporal),
            ("simulators", self.simulators - before.simulators),
            ("driver", self.driver - before.driver),
        ];
        let ours: f64 = parts.iter().map(|(_, seconds)| seconds).sum();
        let machine = self.machine - before.machine;
        let mut figures: serde_json::Map<String, Value> = parts
            .iter()
            .map(|(name, seconds)| ((*name).to_owned(), json!(seconds)))
            .collect();
        figures.insert("machineBusy".into(), json!(machine));
        figures.insert("others".into(), json!((machine - ours).max(0.0)));
        figures.insert(
            "machineCapacity".into(),
            json!(wall.as_secs_f64() * cpu::cores() as f64),
        );
        Value::Object(figures)
    }
}

/// A JSON number, or one written as a string (protobuf's JSON writes 64-bit integers so); 0
/// otherwise.
fn number(value: &Value) -> f64 {
    value
        .as_f64()
        .or_else(|| value.as_str()?.parse().ok())
        .unwrap_or(0.0)
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Sets `member` of the JSON object in `path` (a new object when the file is missing).
fn write_member(path: &Path, member: &str, value: Value) -> Result<()> {
    let mut object = match std::fs::read_to_string(path) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(Value::Object(object)) => object,
            _ => bail!(
                "{} does not hold a JSON object; remove it or give another --json",
                path.display()
            ),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => serde_json::Map::new(),
        Err(error) => return Err(error).context(format!("reading {}", path.display())),
    };
    object.insert(member.to_owned(), value);
    std::fs::write(path, serde_json::to_string_pretty(&Value::Object(object))?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Prints the figures as tables.
fn print(figures: &Value) {
    let mut out = std::io::stdout().lock();
    let cpu = |row: &Value, part: &str| number(&row["cpuS"][part]);
    let _ = writeln!(
        out,
        "\nFleet: {} endpoints × {} users, imports started together through Temporal (wall s until all completed; an import's own time, median and max; its phases, median ms; CPU s of the workers, PostgreSQL, Temporal, the simulators and the rest of the machine over the machine's capacity, {} cores; PostgreSQL WAL and Temporal history per import)",
        figures["endpoints"], figures["users"], figures["cores"]
    );
    let _ = writeln!(
        out,
        "{:>7} {:>6} {:>7} {:>9}  {:>12}  {:>8} {:>8} {:>8}  {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}  {:>9} {:>7} {:>10} {:>6}",
        "workers",
        "round",
        "wall s",
        "imp/min",
        "import s",
        "connect",
        "staging",
        "applying",
        "workers",
        "postgres",
        "temporal",
        "sims",
        "others",
        "capacity",
        "WAL MB",
        "events",
        "hist bytes",
        "failed",
    );
    for row in figures["imports"].as_array().into_iter().flatten() {
        let phase = |key: &str| number(&row["phasesMsMedian"][key]);
        let _ = writeln!(
            out,
            "{:>7} {:>6} {:>7.1} {:>9.1}  {:>5.1} {:>6.1}  {:>8.0} {:>8.0} {:>8.0}  {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1}  {:>9.1} {:>7.0} {:>10.0} {:>6}",
            row["workers"],
            row["round"].as_str().unwrap_or_default(),
            number(&row["wallS"]),
            number(&row["importsPerMinute"]),
            number(&row["importMs"]["median"]) / 1000.0,
            number(&row["importMs"]["max"]) / 1000.0,
            phase("connectorCalls"),
            phase("staging"),
            phase("applying"),
            cpu(row, "workers"),
            cpu(row, "postgres"),
            cpu(row, "temporal"),
            cpu(row, "simulators"),
            cpu(row, "others"),
            cpu(row, "machineCapacity"),
            number(&row["walBytesPerImport"]) / 1e6,
            number(&row["history"]["eventsMax"]),
            number(&row["history"]["bytesMax"]),
            row["failedAttempts"],
        );
    }
    let _ = writeln!(
        out,
        "\nPostgreSQL per import (from its statistics): commits, rows written, rows read by sequential scans; autovacuum and autoanalyze runs during the round; the database's size after it"
    );
    for row in figures["imports"].as_array().into_iter().flatten() {
        let pg = &row["postgresPerImport"];
        let _ = writeln!(
            out,
            "{:>7} {:>6}  {:>8.0} {:>10.0} {:>12.0} {:>4}  {:>8.1} MB",
            row["workers"],
            row["round"].as_str().unwrap_or_default(),
            number(&pg["commits"]),
            number(&pg["rowsWritten"]),
            number(&pg["rowsReadBySeqScans"]),
            pg["autovacuumsInAll"],
            number(&row["databaseBytes"]) / 1e6,
        );
    }
    let p = &figures["provisioning"];
    if p.is_object() {
        let _ = writeln!(
            out,
            "\nFleet provisioning: {} disable tasks, {} workers, {} in flight: {:.2} s, {:.0} tasks/s, {} tries; CPU s: workers {:.1}, PostgreSQL {:.1}, Temporal {:.1}, simulators {:.1}, driver {:.1}, others {:.1} of {:.1}; per task: WAL {:.0} B, Temporal history {} events ({} B), Temporal database {:.0} B",
            p["tasks"],
            p["workers"],
            p["inFlight"],
            number(&p["wallS"]),
            number(&p["tasksPerS"]),
            p["tries"],
            cpu(p, "workers"),
            cpu(p, "postgres"),
            cpu(p, "temporal"),
            cpu(p, "simulators"),
            cpu(p, "driver"),
            cpu(p, "others"),
            cpu(p, "machineCapacity"),
            number(&p["walBytesPerTask"]),
            number(&p["history"]["eventsMax"]),
            number(&p["history"]["bytesMax"]),
            number(&p["temporalDbBytesPerTask"]),
        );
        let pg = &p["postgresPerTask"];
        let _ = writeln!(
            out,
            "PostgreSQL per task: {:.1} commits, {:.1} rows written, {:.0} rows read by sequential scans; autovacuum and autoanalyze runs meanwhile: {}",
            number(&pg["commits"]),
            number(&pg["rowsWritten"]),
            number(&pg["rowsReadBySeqScans"]),
            pg["autovacuumsInAll"],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_may_be_strings_as_protobuf_writes_them() {
        assert_eq!(number(&json!("11")), 11.0);
        assert_eq!(number(&json!(2.5)), 2.5);
        assert_eq!(number(&Value::Null), 0.0);
    }

    #[test]
    fn a_member_is_added_beside_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.json");
        std::fs::write(&path, r#"{"imports": [1]}"#).unwrap();
        write_member(&path, "fleet", json!({"endpoints": 20})).unwrap();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written, json!({"imports": [1], "fleet": {"endpoints": 20}}));
    }
}
