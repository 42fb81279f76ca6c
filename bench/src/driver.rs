//! `dcbench run`: every benchmark, one after the other, against simulators it starts itself on
//! loopback, and the table of results.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::PASSWORD_VARIABLE;
use crate::process::{Measured, measure, wait4};
use crate::script;
use crate::simulator::{PASSWORD, Simulator};

/// `dcbench run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Dataset sizes, in users.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    users: Vec<usize>,
    /// Measured runs of each program per size; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Queued disable tasks for the provisioning benchmark.
    #[arg(long, default_value_t = 1000)]
    tasks: usize,
    /// Attempts in flight in the provisioning benchmark (`dcconn retry --concurrency`).
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// The built programs, the component and the connection.
    #[command(flatten)]
    built: crate::Built,
    /// Also write every figure as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The Python that runs the script reference [default: target/interop/venv/bin/python of
    /// the workspace, where `make bench` installs requests and lxml].
    #[arg(long)]
    python: Option<PathBuf>,
    /// The script reference [default: bench/script/import.py of the workspace].
    #[arg(long)]
    script: Option<PathBuf>,
}

/// Everything the programs share: where they are, the scratch folder and the component cache.
struct Setup<'a> {
    args: &'a RunArgs,
    scratch: PathBuf,
    cache: PathBuf,
    python: PathBuf,
    script: PathBuf,
}

impl Setup<'_> {
    fn program(&self, name: &str) -> Command {
        let mut command = Command::new(self.args.built.bin.join(name));
        command
            .env(PASSWORD_VARIABLE, PASSWORD)
            .env("DCCONN_CACHE_DIR", &self.cache)
            .env("DCCONN_COMPONENT", &self.args.built.component);
        command
    }

    fn db(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    /// `dcconn import --json` of everything from `endpoint` into `db`.
    fn dcconn_import(&self, endpoint: &str, db: &Path) -> Command {
        let mut command = self.program("dcconn");
        command.arg("--db").arg(db).arg("import").arg("--json");
        self.connection_args(&mut command, endpoint);
        command
    }

    /// The script reference importing everything from `endpoint` into `db`.
    fn script_import(&self, endpoint: &str, db: &Path) -> Command {
        let mut command = script::command(&self.python, &self.script, endpoint, "dcadmin", db);
        command.env(PASSWORD_VARIABLE, PASSWORD);
        command
    }

    fn connection_args(&self, command: &mut Command, endpoint: &str) {
        command
            .arg("-c")
            .arg(&self.args.built.package)
            .arg("--set")
            .arg(format!("SOAP_ENDPOINT={endpoint}"))
            .arg("--set")
            .arg("USERNAME=dcadmin")
            .arg("--set-env")
            .arg(format!("PASSWORD={PASSWORD_VARIABLE}"));
    }

    /// Measures `command`, after flushing what earlier runs wrote, so that no write-back of
    /// theirs is billed to it.
    fn measure(&self, command: Command) -> Result<Measured> {
        // SAFETY: sync has no preconditions.
        unsafe { libc::sync() };
        measure(command, &self.scratch)
    }
}

/// The median of `runs` by wall time.
fn median(mut runs: Vec<Measured>) -> Measured {
    runs.sort_by_key(|run| run.wall);
    runs.swap_remove(runs.len() / 2)
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Runs everything and prints the tables.
pub fn run(args: &RunArgs) -> Result<()> {
    let python = args.python.clone().unwrap_or_else(script::python);
    script::check(&python)?;
    let scratch = tempfile::tempdir()?;
    let setup = Setup {
        args,
        scratch: scratch.path().to_path_buf(),
        cache: scratch.path().join("cache"),
        python,
        script: args.script.clone().unwrap_or_else(script::path),
    };
    let mut results = serde_json::Map::new();
    let mut imports = Vec::new();
    for &users in &args.users {
        eprintln!("dcbench: import of {users} users");
        imports.push(import_size(&setup, users)?);
    }
    print_imports(&imports);
    results.insert("imports".into(), Value::Array(imports.clone()));

    eprintln!("dcbench: start-up");
    let startup = startup(&setup)?;
    print_startup(&startup);
    results.insert("startup".into(), startup);

    eprintln!("dcbench: provisioning");
    let provisioning = provisioning(&setup)?;
    print_provisioning(&provisioning);
    results.insert("provisioning".into(), provisioning);

    print_targets(&imports, &results);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&Value::Object(results))?)?;
    }
    Ok(())
}

/// One dataset size: the component, the native reference, the floor and the script reference,
/// `repeat` times each; then a re-import of unchanged data into each round's component store
/// (with the store's growth), and, once 1 % of the users changed in the simulator, an import of
/// that change into each of those stores.
fn import_size(setup: &Setup<'_>, users: usize) -> Result<Value> {
    let simulator = Simulator::start(&setup.args.built.bin, users, 1)?;
    let endpoint = &simulator.endpoint;
    let warm = setup.db(&format!("warm-{users}.db"));
    // Compiles the component into the cache (first size only) and warms the simulator.
    setup.measure(setup.dcconn_import(endpoint, &warm))?;
    let rounds = setup.args.repeat.max(1);
    let component_db = |round: usize| setup.db(&format!("component-{users}-{round}.db"));
    let (mut component, mut native, mut floor, mut script) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let db = |kind: &str| setup.db(&format!("{kind}-{users}-{round}.db"));
        component.push(setup.measure(setup.dcconn_import(endpoint, &component_db(round)))?);
        let mut command = setup.program("dcbench");
        command
            .arg("native")
            .arg("--connection")
            .arg(&setup.args.built.package)
            .arg("--endpoint")
            .arg(endpoint)
            .arg("--db")
            .arg(db("native"));
        native.push(setup.measure(command)?);
        let mut command = setup.program("dcbench");
        command
            .args(["floor", "--endpoint", endpoint])
            .arg("--db")
            .arg(db("floor"));
        floor.push(setup.measure(command)?);
        script.push(setup.measure(setup.script_import(endpoint, &db("script")))?);
    }
    // Unchanged data into a store that has it, the daily case: each round's store once, and
    // how much the store (with its WAL) grew, measured once the import exited.
    let (mut reimport, mut growth) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let db = component_db(round);
        let before = store_bytes(&db)?;
        reimport.push(setup.measure(setup.dcconn_import(endpoint, &db))?);
        growth.push(store_bytes(&db)? as i64 - before as i64);
    }
    growth.sort_unstable();
    let growth = growth[growth.len() / 2];
    // 1 % of the users changed (columns, links added and removed), imported into each round's
    // store, which holds the re-imported state.
    let names = changed_names(users);
    let expected = change_users(&simulator, &names, &warm)?;
    let mut changed = Vec::new();
    for round in 0..rounds {
        let run = setup.measure(setup.dcconn_import(endpoint, &component_db(round)))?;
        let summary = run.json()?;
        if summary["updatedAccounts"].as_u64() != Some(names.len() as u64) {
            bail!(
                "{users} users: after changing {} users in the simulator, the import reported \
                 {} updated accounts (round {round}):\n{}",
                names.len(),
                summary["updatedAccounts"],
                run.stdout
            );
        }
        changed.push(run);
    }
    for entry in std::fs::read_dir(&setup.scratch)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e != "out" && e != "err") && path.is_file() {
            std::fs::remove_file(path)?;
        }
    }
    let (component, native, floor, script, reimport, changed) = (
        median(component),
        median(native),
        median(floor),
        median(script),
        median(reimport),
        median(changed),
    );
    let component_json = component.json()?;
    let floor_json = floor.json()?;
    let script_json = script.json()?;
    let changed_json = changed.json()?;
    let bytes = floor_json["bytes"].as_f64().unwrap_or(0.0);
    let accounts = component_json["accounts"].as_u64().unwrap_or(0);
    if accounts != users as u64 || floor_json["accounts"].as_u64() != Some(accounts) {
        bail!(
            "{users} users: the component stored {accounts} accounts, the floor {}",
            floor_json["accounts"]
        );
    }
    let stored = |json: &Value| {
        ["accounts", "links", "entitlements"].map(|key| json[key].as_u64().unwrap_or(0))
    };
    let (by_script, by_floor) = (stored(&script_json), stored(&floor_json));
    if by_script != by_floor || Some(by_script[1]) != component_json["links"].as_u64() {
        bail!(
            "{users} users: the script reference stored {by_script:?} (accounts, links, \
             entitlements), the floor {by_floor:?}, the component {} links",
            component_json["links"]
        );
    }
    let links = |key: &str| changed_json[key].as_u64().unwrap_or(0);
    let (added, removed) = (links("linksAdded"), links("linksRemoved"));
    if (added, removed) != (expected.links_added, expected.links_removed) {
        eprintln!(
            "dcbench: {users} users: the change import reported {added} links added and \
             {removed} removed; the simulator's changes were {} and {}",
            expected.links_added, expected.links_removed
        );
    }
    let figures = |run: &Measured| {
        json!({
            "wallS": seconds(run.wall),
            "accountsPerS": users as f64 / seconds(run.wall),
            "mbPerS": bytes / 1e6 / seconds(run.wall),
            "peakRssMiB": mib(run.peak_rss),
            "cpuS": seconds(run.cpu),
        })
    };
    Ok(json!({
        "users": users,
        "links": component_json["links"],
        "responseBytes": bytes,
        "component": figures(&component),
        "componentPhasesMs": component_json["timingsMs"],
        "native": figures(&native),
        "nativePhasesMs": native.json()?["timingsMs"],
        "floor": figures(&floor),
        "reimport": figures(&reimport),
        "reimportPhasesMs": reimport.json()?["timingsMs"],
        // Store plus WAL after minus before a re-import of unchanged data, median.
        "reimportGrowthBytes": growth,
        "changed": figures(&changed),
        "changedPhasesMs": changed_json["timingsMs"],
        "changedUsers": names.len(),
        "changedUpdatedAccounts": changed_json["updatedAccounts"],
        "changedLinksAdded": added,
        "changedLinksRemoved": removed,
        "script": figures(&script),
        // How many times faster dcconn is than the script: script wall ÷ dcconn wall.
        "scriptOverComponent": seconds(script.wall) / seconds(component.wall),
        "scriptOverReimport": seconds(script.wall) / seconds(reimport.wall),
    }))
}

/// The size of the store at `db` plus its write-ahead log (when there is one), in bytes.
fn store_bytes(db: &Path) -> Result<u64> {
    let store = std::fs::metadata(db)
        .with_context(|| format!("no store at {}", db.display()))?
        .len();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let wal = match std::fs::metadata(&wal) {
        Ok(metadata) => metadata.len(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
        Err(error) => return Err(error).context("reading the size of the store's WAL"),
    };
    Ok(store + wal)
}

/// The users the 1 % scenario changes: every 100th in the simulator's order (ids 100, 200, …,
/// generated users, named `user` and their id on at least six digits).
fn changed_names(users: usize) -> Vec<String> {
    (1..=users / 100)
        .map(|k| format!("user{:06}", k * 100))
        .collect()
}

/// The links the 1 % scenario added and removed in the simulator.
struct Changes {
    links_added: u64,
    links_removed: u64,
}

/// Changes each user of `names` through the simulator's admin API (a GET, then a PUT of the
/// whole user): a new email (a column), one role added that it did not have, and one of its
/// roles removed, or, when it had no role, an entity membership added. The roles and entities
/// to pick from are those imported into `store`. Checks with a GET that the first change took.
fn change_users(simulator: &Simulator, names: &[String], store: &Path) -> Result<Changes> {
    let store = dcconn::store::Store::open(store)?;
    let values = |kind: &str| -> Result<Vec<String>> {
        let values: Vec<String> = store
            .entitlements("DuckCreek", Some(kind))?
            .into_iter()
            .map(|entitlement| entitlement.value)
            // The root entity, of which generated users are never members.
            .filter(|value| value != "Head Office")
            .collect();
        if values.is_empty() {
            bail!("the store holds no entitlement of type {kind}");
        }
        Ok(values)
    };
    let (roles, entities) = (values("Role")?, values("Entity")?);
    drop(store);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let admin = |method: &str, name: &str, body: Option<&Value>| -> Result<Value> {
        let url = format!("{}/admin/users/{name}", simulator.base);
        let response = match body {
            None => agent.get(&url).call(),
            Some(body) => agent
                .put(&url)
                .header("content-type", "application/json")
                .send(body.to_string()),
        };
        let mut response = response.with_context(|| format!("{method} {url}"))?;
        let text = response.body_mut().read_to_string()?;
        if !response.status().is_success() {
            bail!("{method} {url} answered {}: {text}", response.status());
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {url} answered {text}"))
    };
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let mut changes = Changes {
        links_added: 0,
        links_removed: 0,
    };
    let mut first = None;
    // The first value, from the `i`th on (so the changes spread over every value), that is not
    // in `held`.
    let pick = |values: &[String], i: usize, held: &[String]| {
        (0..values.len())
            .map(|k| &values[(i + k) % values.len()])
            .find(|value| !held.contains(value))
            .cloned()
    };
    for (i, name) in names.iter().enumerate() {
        let mut user = admin("GET", name, None)?;
        user["email"] = format!("{name}.changed@example.com").into();
        let mut held = strings(&user["roles"]);
        let Some(role) = pick(&roles, i, &held) else {
            bail!("user {name} already has every role");
        };
        if held.is_empty() {
            let mut memberships = strings(&user["entities"]);
            let Some(entity) = pick(&entities, i, &memberships) else {
                bail!("user {name} is already a member of every entity");
            };
            memberships.push(entity);
            user["entities"] = memberships.into();
            changes.links_added += 1;
        } else {
            held.remove(0);
            changes.links_removed += 1;
        }
        held.push(role);
        changes.links_added += 1;
        user["roles"] = held.into();
        admin("PUT", name, Some(&user))?;
        first.get_or_insert(user);
    }
    if let Some(user) = first {
        let name = user["name"].as_str().unwrap_or_default();
        let now = admin("GET", name, None)?;
        if now != user {
            bail!("the simulator did not keep the change of {name}: sent {user}, now {now}");
        }
    }
    eprintln!(
        "dcbench: changed {} users in the simulator ({} links added, {} removed)",
        names.len(),
        changes.links_added,
        changes.links_removed
    );
    Ok(changes)
}

/// Warm instantiation (in process, from the cache) and `dcconn` start to first request.
fn startup(setup: &Setup<'_>) -> Result<Value> {
    let mut command = setup.program("dcbench");
    command
        .arg("instantiate")
        .arg("--component")
        .arg(&setup.args.built.component)
        .arg("--cache")
        .arg(&setup.cache);
    let instantiation = setup.measure(command)?.json()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let endpoint = format!("http://{}/dc/services", listener.local_addr()?);
    let mut firsts = Vec::new();
    for _ in 0..11 {
        let mut command = setup.program("dcconn");
        command.arg("--db").arg(setup.db("startup.db")).arg("test");
        setup.connection_args(&mut command, &endpoint);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let started = Instant::now();
        let child = command.spawn()?;
        let (stream, _) = listener.accept()?;
        firsts.push(started.elapsed());
        refuse(stream)?;
        wait4(child)?;
    }
    firsts.sort();
    Ok(json!({
        "instantiation": instantiation,
        "firstRequestMs": firsts[firsts.len() / 2].as_secs_f64() * 1000.0,
    }))
}

/// Reads a request's head and answers 401, which ends `dcconn test` at once (a refusal is not
/// retried).
fn refuse(stream: std::net::TcpStream) -> Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 && line != "\r\n" {
        line.clear();
    }
    let mut stream = stream;
    stream.write_all(
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )?;
    Ok(())
}

/// `tasks` queued disable tasks run by `dcconn retry --concurrency N`, `repeat` times from a
/// fresh store; the median run.
fn provisioning(setup: &Setup<'_>) -> Result<Value> {
    let tasks = setup.args.tasks;
    let mut runs = Vec::new();
    for round in 0..setup.args.repeat.max(1) {
        let simulator = Simulator::start(&setup.args.built.bin, tasks, 1)?;
        runs.push(retry_run(
            setup,
            &simulator,
            &setup.db(&format!("provisioning-{round}.db")),
        )?);
    }
    let run = median(runs);
    Ok(json!({
        "tasks": tasks,
        "concurrency": setup.args.concurrency,
        "wallS": seconds(run.wall),
        "opsPerS": tasks as f64 / seconds(run.wall),
        "cpuMsPerOp": seconds(run.cpu) * 1000.0 / tasks as f64,
        "peakRssMiB": mib(run.peak_rss),
    }))
}

/// One retry run over `tasks` queued disable tasks in a new store at `db`.
fn retry_run(setup: &Setup<'_>, simulator: &Simulator, db: &Path) -> Result<Measured> {
    let tasks = setup.args.tasks;
    let db = db.to_path_buf();
    setup.measure(setup.dcconn_import(&simulator.endpoint, &db))?;
    let mut store = dcconn::store::Store::open(&db)?;
    let accounts = store.accounts("DuckCreek")?;
    for account in accounts.iter().take(tasks) {
        store.create_task(
            "DuckCreek",
            &account.name,
            dcconn::store::TaskKind::Disable,
            1,
        )?;
    }
    drop(store);
    let mut command = setup.program("dcconn");
    command
        .arg("--db")
        .arg(&db)
        .arg("retry")
        .arg("--concurrency")
        .arg(setup.args.concurrency.to_string());
    setup.connection_args(&mut command, &simulator.endpoint);
    let run = setup.measure(command)?;
    let completed = format!("{tasks} tasks completed");
    if !run.stdout.contains(&completed) {
        bail!("the retry job did not complete every task: {}", run.stdout);
    }
    Ok(run)
}

fn print_imports(imports: &[Value]) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\nImport, first into an empty store (median of the runs; wall s, accounts/s, MB/s of response, peak RSS MiB; script: the Python script reference, wall s and peak RSS MiB; ÷dcconn, ÷re-imp: its wall time over dcconn's first import and re-import, how many times faster dcconn is)"
    );
    let _ = writeln!(
        out,
        "{:>9} {:>9} {:>10}  {:>30}  {:>30}  {:>30}  {:>8} {:>8}  {:>13}  {:>8} {:>8}",
        "users",
        "links",
        "MB",
        "component (dcconn)",
        "native reference",
        "floor",
        "÷floor",
        "÷native",
        "script",
        "÷dcconn",
        "÷re-imp",
    );
    let cell = |import: &Value, kind: &str| {
        let f = &import[kind];
        format!(
            "{:>6.2} {:>8.0} {:>6.1} {:>6.1}",
            f["wallS"].as_f64().unwrap_or(0.0),
            f["accountsPerS"].as_f64().unwrap_or(0.0),
            f["mbPerS"].as_f64().unwrap_or(0.0),
            f["peakRssMiB"].as_f64().unwrap_or(0.0)
        )
    };
    let wall = |import: &Value, kind: &str| import[kind]["wallS"].as_f64().unwrap_or(f64::NAN);
    for import in imports {
        let ratio = |key: &str| import[key].as_f64().unwrap_or(f64::NAN);
        let _ = writeln!(
            out,
            "{:>9} {:>9} {:>10.1}  {:>30}  {:>30}  {:>30}  {:>7.2}× {:>7.2}×  {:>6.2} {:>6.1}  {:>7.2}× {:>7.2}×",
            import["users"].to_string(),
            import["links"].to_string(),
            import["responseBytes"].as_f64().unwrap_or(0.0) / 1e6,
            cell(import, "component"),
            cell(import, "native"),
            cell(import, "floor"),
            wall(import, "component") / wall(import, "floor"),
            wall(import, "component") / wall(import, "native"),
            wall(import, "script"),
            import["script"]["peakRssMiB"].as_f64().unwrap_or(0.0),
            ratio("scriptOverComponent"),
            ratio("scriptOverReimport"),
        );
    }
    let _ = writeln!(
        out,
        "\nRe-import with dcconn into each run's store (median of the runs; wall s, accounts/s, MB/s of response, peak RSS MiB; ÷floor: over the floor's first import): of unchanged data, with the store's growth (store + WAL after the import exited, minus before); then of 1 % of the users changed (every 100th: email, a role added, a role removed or a membership added), with the users the import reported updated and the links added/removed"
    );
    let _ = writeln!(
        out,
        "{:>9}  {:>30}  {:>8}  {:>10}  {:>30}  {:>8}  {:>8} {:>8}  {:>13}",
        "users",
        "re-import (unchanged)",
        "÷floor",
        "growth",
        "1% changed",
        "÷floor",
        "changed",
        "updated",
        "links +/-",
    );
    for import in imports {
        let _ = writeln!(
            out,
            "{:>9}  {:>30}  {:>7.2}×  {:>10}  {:>30}  {:>7.2}×  {:>8} {:>8}  {:>13}",
            import["users"].to_string(),
            cell(import, "reimport"),
            wall(import, "reimport") / wall(import, "floor"),
            signed_bytes(import["reimportGrowthBytes"].as_i64().unwrap_or(0)),
            cell(import, "changed"),
            wall(import, "changed") / wall(import, "floor"),
            import["changedUsers"].to_string(),
            import["changedUpdatedAccounts"].to_string(),
            format!(
                "+{} -{}",
                import["changedLinksAdded"], import["changedLinksRemoved"]
            ),
        );
    }
    let _ = writeln!(
        out,
        "\nWhere the time goes (ms; the connector's calls and staging overlap, applying follows)"
    );
    let _ = writeln!(
        out,
        "{:>9} {:>10}  {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "users", "", "connector", "parse+map", "HTTP+I/O", "boundary", "staging", "applying"
    );
    for import in imports {
        for (label, key) in [
            ("component", "componentPhasesMs"),
            ("native", "nativePhasesMs"),
            ("re-import", "reimportPhasesMs"),
            ("1% changed", "changedPhasesMs"),
        ] {
            let p = &import[key];
            let v = |name: &str| p[name].as_f64().unwrap_or(0.0);
            let _ = writeln!(
                out,
                "{:>9} {:>10}  {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>12.0}",
                import["users"].to_string(),
                label,
                v("connectorCalls"),
                v("inConnector"),
                v("connectorHttpAndIo"),
                v("boundaryCrossing"),
                v("staging"),
                v("applying"),
            );
        }
    }
}

/// `bytes` with its sign, in B, kB or MB (powers of 1,000).
fn signed_bytes(bytes: i64) -> String {
    let sign = if bytes < 0 { "-" } else { "+" };
    let magnitude = bytes.unsigned_abs() as f64;
    if magnitude >= 1e6 {
        format!("{sign}{:.2} MB", magnitude / 1e6)
    } else if magnitude >= 1e3 {
        format!("{sign}{:.1} kB", magnitude / 1e3)
    } else {
        format!("{sign}{magnitude} B")
    }
}

fn print_startup(startup: &Value) {
    let i = &startup["instantiation"];
    println!(
        "\nStart-up: warm instantiation median {:.0} µs (p99 {:.0} µs, {} runs; loading the cached component {:.1} ms); dcconn start to first request {:.1} ms (median of 11)",
        i["medianUs"].as_f64().unwrap_or(0.0),
        i["p99Us"].as_f64().unwrap_or(0.0),
        i["count"],
        i["loadMs"].as_f64().unwrap_or(0.0),
        startup["firstRequestMs"].as_f64().unwrap_or(0.0),
    );
}

fn print_provisioning(p: &Value) {
    println!(
        "\nProvisioning: {} queued disable tasks, retry job with concurrency {}: {:.2} s, {:.0} ops/s, host CPU {:.2} ms per op, peak RSS {:.1} MiB",
        p["tasks"],
        p["concurrency"],
        p["wallS"].as_f64().unwrap_or(0.0),
        p["opsPerS"].as_f64().unwrap_or(0.0),
        p["cpuMsPerOp"].as_f64().unwrap_or(0.0),
        p["peakRssMiB"].as_f64().unwrap_or(0.0),
    );
}

/// The targets, each with its figure and whether it holds.
fn print_targets(imports: &[Value], results: &serde_json::Map<String, Value>) {
    let mut rows: Vec<(String, String, bool)> = Vec::new();
    let wall = |import: &Value, kind: &str| import[kind]["wallS"].as_f64().unwrap_or(f64::NAN);
    for import in imports
        .iter()
        .filter(|i| i["users"].as_u64() >= Some(100_000))
    {
        for (what, kind, at_most) in [
            ("first import", "component", 1.5),
            ("re-import", "reimport", 1.2),
            ("1 % changed", "changed", 1.3),
        ] {
            let to_floor = wall(import, kind) / wall(import, "floor");
            rows.push((
                format!("{} users: {what} ≤ {at_most}× floor", import["users"]),
                format!("{to_floor:.2}×"),
                to_floor <= at_most,
            ));
        }
    }
    if let Some(import) = imports.iter().find(|i| i["users"] == 100_000) {
        let growth = import["reimportGrowthBytes"].as_i64();
        rows.push((
            "100k re-import store growth < 1 MB".into(),
            growth.map_or_else(|| "–".into(), signed_bytes),
            growth.is_some_and(|bytes| bytes < 1_000_000),
        ));
        for (target, key, at_least) in [
            (
                "100k first import ≥ 1.5× faster than script",
                "scriptOverComponent",
                1.5,
            ),
            (
                "100k re-import ≥ 2× faster than script",
                "scriptOverReimport",
                2.0,
            ),
        ] {
            let faster = import[key].as_f64().unwrap_or(f64::NAN);
            rows.push((target.into(), format!("{faster:.2}×"), faster >= at_least));
        }
    }
    for import in imports {
        let to_native = wall(import, "component") / wall(import, "native");
        rows.push((
            format!("{} users: component ≤ 1.3× native", import["users"]),
            format!("{to_native:.2}×"),
            to_native <= 1.3,
        ));
    }
    let rss = |import: &Value| {
        import["component"]["peakRssMiB"]
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    if let (Some(small), Some(large)) = (imports.first(), imports.last()) {
        let ratio = rss(large) / rss(small);
        rows.push((
            format!(
                "peak RSS at {} ≤ 1.2× at {}, < 100 MiB",
                large["users"], small["users"]
            ),
            format!("{ratio:.2}× ({:.1} MiB)", rss(large)),
            ratio <= 1.2 && rss(large) < 100.0,
        ));
    }
    let startup = &results["startup"];
    let instantiation = startup["instantiation"]["medianUs"]
        .as_f64()
        .unwrap_or(f64::NAN);
    rows.push((
        "warm instantiation < 1 ms".into(),
        format!("{instantiation:.0} µs"),
        instantiation < 1000.0,
    ));
    let first = startup["firstRequestMs"].as_f64().unwrap_or(f64::NAN);
    rows.push((
        "start to first request < 50 ms".into(),
        format!("{first:.1} ms"),
        first < 50.0,
    ));
    let p = &results["provisioning"];
    let ops = p["opsPerS"].as_f64().unwrap_or(f64::NAN);
    rows.push((
        "provisioning ≥ 500 ops/s".into(),
        format!("{ops:.0} ops/s"),
        ops >= 500.0,
    ));
    let cpu = p["cpuMsPerOp"].as_f64().unwrap_or(f64::NAN);
    rows.push((
        "host overhead < 1 ms per op".into(),
        format!("{cpu:.2} ms"),
        cpu < 1.0,
    ));
    println!("\nTargets");
    for (target, figure, holds) in rows {
        println!(
            "  {:<48} {:>22}  {}",
            target,
            figure,
            if holds { "holds" } else { "MISSED" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changed_users_are_every_hundredth_by_id() {
        assert!(changed_names(99).is_empty());
        assert_eq!(
            changed_names(300),
            ["user000100", "user000200", "user000300"]
        );
        let million = changed_names(1_000_000);
        assert_eq!(million.len(), 10_000);
        assert_eq!(million.last().map(String::as_str), Some("user1000000"));
    }

    #[test]
    fn growth_keeps_its_sign() {
        assert_eq!(signed_bytes(0), "+0 B");
        assert_eq!(signed_bytes(4096), "+4.1 kB");
        assert_eq!(signed_bytes(-2_500_000), "-2.50 MB");
    }
}
