//! The references measure what they claim: the native reference and the floor store exactly
//! the rows the component's import stores, from the same simulator.

use std::path::{Path, PathBuf};

use dcconn::connection::{self, Connection};
use dcconn::jobs::import::{self, ImportRequest};
use dcconn::model::{CorrelationRule, ImportScope};
use dcconn::runtime::Runtime;
use dcconn::store::Store;
use dcsim::{SimConfig, Simulator};

const PASSWORD: &str = "references-secret";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn connection(sim: &Simulator) -> Connection {
    let mut connection =
        connection::load(&workspace().join("packages/duckcreek.json")).expect("the package loads");
    connection.set("SOAP_ENDPOINT", sim.endpoint_url());
    connection.set("USERNAME", "dcadmin");
    connection.set("PASSWORD", PASSWORD);
    connection
}

/// The live rows, without timestamps and run numbers.
fn rows(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut rows = Vec::new();
    for query in [
        "SELECT 'account', name, columns, status FROM accounts ORDER BY name",
        "SELECT 'link', account_name, type, value FROM links ORDER BY account_name, type, value",
        "SELECT 'entitlement', type, value, columns FROM entitlements ORDER BY type, value",
    ] {
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
    let sim = Simulator::start(SimConfig {
        users: 300,
        password: PASSWORD.into(),
        ..SimConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let connection = connection(&sim);

    let component_db = dir.path().join("component.db");
    let component = std::env::var_os("DCCONN_COMPONENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace().join("target/wasm32-wasip2/release/duckcreek_connector.wasm")
        });
    let runtime = Runtime::load(&component, None).expect("the component loads (make component)");
    let correlation = CorrelationRule::default();
    let request = ImportRequest {
        connection: &connection,
        endpoint: &connection.name,
        scope: ImportScope::All,
        max_batch: 0,
        dry_run: false,
        correlation: &correlation,
        wait: None,
    };
    let mut store = Store::open(&component_db).unwrap();
    let report = import::run(&runtime, &mut store, &request, &mut |_| {}).unwrap();
    drop(store);
    assert_eq!(report.summary.accounts, 300);

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
