//! What the speed work relies on: an import reports where its time went, and an instance that
//! keeps its checked connection between calls still notices when the connection changes.

use dcconn::connection::Connection;
use dcconn::jobs;
use dcconn::runtime::{Runtime, wit};
use serde_json::Value;

use crate::support::*;

#[test]
fn an_import_reports_where_its_time_went() {
    let harness = Harness::new(2000);
    let mut args: Vec<String> = vec!["import".into(), "--json".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    let output = harness.dcconn(&args);
    assert_success(&output);
    let summary: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let timings = &summary["timingsMs"];
    let ms = |name: &str| {
        timings[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} in {timings}"))
    };
    for part in [
        "connectorCalls",
        "inConnector",
        "connectorHttpAndIo",
        "staging",
        "applying",
    ] {
        assert!(ms(part) > 0.0, "{part} was not measured: {timings}");
    }
    // The connector's calls are its code, its host calls and the crossing, nothing else.
    let parts = ms("inConnector") + ms("connectorHttpAndIo") + ms("boundaryCrossing");
    assert!((parts - ms("connectorCalls")).abs() < 0.01, "{timings}");
    assert!(ms("boundaryCrossing") >= 0.0);
    assert!(ms("connectorCalls") <= summary["elapsedMs"].as_f64().unwrap() + 1.0);
}

/// `connection` with its disable plan sending `Security.unlockUserAccountRq` instead.
fn unlocking(connection: &Connection) -> Connection {
    let mut changed = connection.clone();
    let plan = connection
        .get("DISABLEACCOUNTJSON")
        .unwrap()
        .replace("lockUserAccountR", "unlockUserAccountR");
    changed.set("DISABLEACCOUNTJSON", plan);
    changed
}

fn operations(harness: &Harness) -> Vec<String> {
    harness
        .sim
        .requests()
        .iter()
        .flat_map(|request| request.operations.iter().map(|o| o.name.clone()))
        .filter(|name| name.contains("UserAccount"))
        .collect()
}

#[test]
fn one_instance_checks_a_changed_connection_again() {
    let harness = Harness::new(10);
    let runtime = Runtime::load(component(), Some(&cache_dir())).unwrap();
    let locking = harness.soap_connection(PASSWORD);
    let mut instance = jobs::instance(&runtime, &locking).unwrap();
    let request = wit::ProvisioningRequest {
        account: wit::Account {
            name: "user000007".into(),
            columns: vec![wit::Column {
                name: "accountID".into(),
                value: "7".into(),
            }],
            entitlements: Vec::new(),
        },
        user: Vec::new(),
    };
    for connection in [&locking, &unlocking(&locking), &locking] {
        let outcome = instance
            .provision(&jobs::attributes(connection), false, &request)
            .unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    assert_eq!(
        operations(&harness),
        [
            "Security.lockUserAccountRq",
            "Security.unlockUserAccountRq",
            "Security.lockUserAccountRq"
        ]
    );
}
