//! The references measure what they claim: the native reference, the floor and the script
//! reference store exactly the rows the component's import stores, from the same simulator.

use std::path::{Path, PathBuf};

use dcconn::connection::{self, Connection};
use dcconn::jobs::import::{self, ImportReport, ImportRequest};
use dcconn::model::CorrelationRule;
use dcconn::runtime::Runtime;
use dcconn::store::Store;
use dcsim::{SimConfig, Simulator};

const PASSWORD: &str = "references-secret";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn simulator() -> Simulator {
    Simulator::start(SimConfig {
        users: 300,
        password: PASSWORD.into(),
        ..SimConfig::default()
    })
    .unwrap()
}

fn connection(sim: &Simulator) -> Connection {
    let mut connection =
        connection::load(&workspace().join("packages/duckcreek.json")).expect("the package loads");
    connection.set("SOAP_ENDPOINT", sim.endpoint_url());
    connection.set("USERNAME", "dcadmin");
    connection.set("PASSWORD", PASSWORD);
    connection
}

/// The component's import through `connection` into a new store at `db`.
fn component_import(connection: &Connection, db: &Path) -> ImportReport {
    let component = std::env::var_os("DCCONN_COMPONENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace().join("target/wasm32-wasip2/release/duckcreek_connector.wasm")
        });
    let runtime = Runtime::load(&component, None).expect("the component loads (make component)");
    let correlation = CorrelationRule::default();
    let request = ImportRequest::everything(connection, &correlation);
    let mut store = Store::open(db).unwrap();
    let report = import::run(&runtime, &mut store, &request, &mut |_| {}).unwrap();
    drop(store);
    assert_eq!(report.summary.accounts, 300);
    report
}

/// The live rows, without timestamps and run numbers.
fn rows(db: &Path) -> Vec<String> {
    rows_of(
        db,
        [
            "SELECT 'account', name, columns, status || ' ' || coalesce(locked, 'unknown') FROM accounts ORDER BY name",
            "SELECT 'link', account_name, type, value FROM links ORDER BY account_name, type, value",
            "SELECT 'entitlement', type, value, columns FROM entitlements ORDER BY type, value",
        ],
    )
}

/// The rows the script reference wrote into its own tables, as [`rows`] gives the store's.
fn script_rows(db: &Path) -> Vec<String> {
    rows_of(
        db,
        [
            "SELECT 'account', name, columns, status || ' ' || locked FROM accounts ORDER BY name",
            "SELECT 'link', account, type, value FROM links ORDER BY account, type, value",
            "SELECT 'entitlement', type, value, columns FROM entitlements ORDER BY type, value",
        ],
    )
}

/// The rows of `queries` (four text columns each), joined.
fn rows_of(db: &Path, queries: [&str; 3]) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut rows = Vec::new();
    for query in queries {
        let mut statement = conn.prepare(query).unwrap();
        let found = statement
            .query_map([], |row| {
                Ok((0..4)
                    .map(|i| row.get::<_, String>(i).unwrap())
                    .collect::<Vec<_>>()
                    .join(" | "))
            })
            .unwrap();
        rows.extend(found.map(Result::unwrap));
    }
    rows
}

#[test]
fn the_native_reference_and_the_floor_store_what_the_component_stores() {
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let connection = connection(&sim);

    let component_db = dir.path().join("component.db");
    let report = component_import(&connection, &component_db);

    let native_db = dir.path().join("native.db");
    let native = dcbench::native::run(&connection, &native_db).unwrap();
    assert_eq!(native.summary, report.summary);

    let floor_db = dir.path().join("floor.db");
    let floor = dcbench::floor::run(&sim.endpoint_url(), "dcadmin", PASSWORD, &floor_db).unwrap();
    assert_eq!(
        (floor.accounts, floor.links, floor.entitlements),
        (300, report.summary.links, report.summary.entitlements)
    );

    let expected = rows(&component_db);
    let entitlements = report.summary.entitlements as usize;
    assert_eq!(
        expected.len(),
        300 + report.summary.links as usize + entitlements
    );
    assert_eq!(rows(&native_db), expected);
    assert_eq!(rows(&floor_db), expected);
}

#[test]
fn the_script_reference_stores_what_the_component_stores() {
    // The venv's Python, which `make test` sets up before `cargo test`: missing is a failure.
    let python = dcbench::script::python();
    if let Err(error) = dcbench::script::check(&python) {
        panic!("{error:#} (`make test` does too)");
    }
    let sim = simulator();
    let dir = tempfile::tempdir().unwrap();
    let component_db = dir.path().join("component.db");
    let report = component_import(&connection(&sim), &component_db);

    let script_db = dir.path().join("script.db");
    let output = dcbench::script::command(
        &python,
        &dcbench::script::path(),
        &sim.endpoint_url(),
        "dcadmin",
        &script_db,
    )
    .env(dcbench::PASSWORD_VARIABLE, PASSWORD)
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "the script reference failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let counts: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let count = |key: &str| counts[key].as_u64().unwrap();
    assert_eq!(
        (count("accounts"), count("links"), count("entitlements")),
        (300, report.summary.links, report.summary.entitlements)
    );
    assert!(count("bytes") > 0);
    assert_eq!(script_rows(&script_db), rows(&component_db));
}
