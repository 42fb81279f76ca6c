//! The same `.wasm` under three hosts: the Python and Node example hosts (`examples/`, set up by
//! `make interop`, which `make test` runs) must give exactly what the Rust host gives for the
//! same simulator: the same accounts with the same columns and links, the same entitlements,
//! the same validation, the same provisioning and the same errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dcconn::connection::Connection;
use dcconn::jobs;
use dcconn::runtime::{Runtime, wit};
use serde_json::{Value, json};

use crate::support::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A foreign host: how to start it for a connection file.
#[derive(Clone, Copy, Debug)]
enum Host {
    Python,
    Node,
}

impl Host {
    fn command(self, connection: &Path, args: &[&str]) -> Command {
        let (program, script) = match self {
            Host::Python => (
                workspace().join("target/interop/venv/bin/python"),
                workspace().join("examples/python/host.py"),
            ),
            Host::Node => (
                PathBuf::from("node"),
                workspace().join("examples/node/host.mjs"),
            ),
        };
        let ready = match self {
            Host::Python => program.exists(),
            Host::Node => workspace()
                .join("examples/node/out/duckcreek_connector.js")
                .exists(),
        };
        assert!(
            ready,
            "the {self:?} host is not set up: run `make interop` (`make test` does)"
        );
        let mut command = Command::new(program);
        command.arg(script);
        if let Host::Python = self {
            command.arg(component());
        }
        command.arg(connection).args(args);
        command
    }

    fn run(self, connection: &Path, args: &[&str]) -> Output {
        self.command(connection, args)
            .output()
            .unwrap_or_else(|e| panic!("{self:?} host: {e}"))
    }

    /// Runs a command that must succeed; its JSON output.
    fn json(self, connection: &Path, args: &[&str]) -> Value {
        let output = self.run(connection, args);
        assert!(
            output.status.success(),
            "{self:?} {args:?}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        serde_json::from_str(&stdout(&output)).unwrap()
    }
}

const HOSTS: [Host; 2] = [Host::Python, Host::Node];

/// The connection as the flat attribute file the example hosts read.
fn connection_file(connection: &Connection, dir: &Path) -> PathBuf {
    let attributes: serde_json::Map<String, Value> = connection
        .attributes()
        .map(|(name, value)| (name.to_string(), Value::from(value)))
        .collect();
    let path = dir.join("connection.json");
    std::fs::write(&path, Value::Object(attributes).to_string()).unwrap();
    path
}

fn columns(columns: &[wit::Column]) -> Value {
    columns.iter().map(|c| json!([c.name, c.value])).collect()
}

fn account(account: &wit::Account) -> Value {
    json!({
        "name": account.name,
        "columns": columns(&account.columns),
        "links": account.entitlements.iter()
            .map(|l| json!([l.entitlement_type, l.value]))
            .collect::<Vec<_>>(),
    })
}

/// What the Rust host's runtime receives from the component, in the example hosts' shape.
fn rust_import(connection: &Connection) -> Value {
    let runtime = Runtime::load(component(), Some(&cache_dir())).unwrap();
    let mut instance = jobs::instance(&runtime, connection).unwrap();
    let attributes = jobs::attributes(connection);
    let options = wit::ImportOptions {
        scope: wit::ImportScope::All,
        max_batch: 0,
    };
    let run = instance
        .start_import(&attributes, options)
        .unwrap()
        .unwrap();
    let (mut accounts, mut details, mut entitlements) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(batch) = instance.next_batch(&run).unwrap().unwrap() {
        match batch {
            wit::Batch::Accounts(records) => accounts.extend(records.iter().map(account)),
            wit::Batch::AccountDetails(records) => details.extend(records.iter().map(account)),
            wit::Batch::Entitlements(records) => entitlements.extend(records.iter().map(|e| {
                json!({"type": e.entitlement_type, "value": e.value, "columns": columns(&e.columns)})
            })),
        }
    }
    instance.finish_import(run).unwrap();
    json!({"accounts": accounts, "account-details": details, "entitlements": entitlements})
}

#[test]
fn python_and_node_import_exactly_what_the_rust_host_imports() {
    let harness = Harness::new(300);
    let dir = tempfile::tempdir().unwrap();
    let connection = harness.soap_connection(PASSWORD);
    let file = connection_file(&connection, dir.path());
    let expected = rust_import(&connection);
    assert_eq!(expected["accounts"].as_array().unwrap().len(), 300);
    assert!(!expected["entitlements"].as_array().unwrap().is_empty());
    for host in HOSTS {
        assert_eq!(host.json(&file, &["validate"]), json!([]), "{host:?}");
        let imported = host.json(&file, &["import"]);
        assert_eq!(imported, expected, "{host:?} imported something else");
    }
}

#[test]
fn python_and_node_disable_and_enable_through_the_same_plans() {
    let harness = Harness::new(20);
    let dir = tempfile::tempdir().unwrap();
    let file = connection_file(&harness.soap_connection(PASSWORD), dir.path());
    let status = |name: &str| harness.sim.dataset().user(name).unwrap().status.clone();
    let success = json!({"captured": [["STATUS", "Success"]]});
    for (host, name, id) in [
        (Host::Python, "user000007", "7"),
        (Host::Node, "user000008", "8"),
    ] {
        assert_eq!(
            host.json(&file, &["disable", name, id]),
            success,
            "{host:?}"
        );
        assert_eq!(status(name), "Locked", "{host:?}");
    }
    for (host, name) in [(Host::Node, "user000007"), (Host::Python, "user000008")] {
        assert_eq!(host.json(&file, &["enable", name]), success, "{host:?}");
        assert_eq!(status(name), "Active", "{host:?}");
    }
}

#[test]
fn python_and_node_report_the_connectors_errors() {
    let harness = Harness::new(5);
    let dir = tempfile::tempdir().unwrap();
    let file = connection_file(&harness.soap_connection("wrong-password"), dir.path());
    for host in HOSTS {
        let output = host.run(&file, &["import"]);
        assert_eq!(output.status.code(), Some(1), "{host:?}");
        let error: Value = serde_json::from_str(stderr(&output).trim()).unwrap();
        assert_eq!(error["kind"], "authentication", "{host:?}: {error}");
        assert_eq!(
            error["site"]["plan"], "ACCOUNTS_IMPORT_JSON",
            "{host:?}: {error}"
        );
    }
    // A configuration error: the same problems as the Rust host's validate.
    let mut broken = harness.soap_connection(PASSWORD);
    broken.set("SOAP_ENDPOINT", "ftp://nowhere");
    let file = connection_file(&broken, dir.path());
    let runtime = Runtime::load(component(), Some(&cache_dir())).unwrap();
    let mut instance = jobs::instance(&runtime, &broken).unwrap();
    let problems = instance.validate(&jobs::attributes(&broken)).unwrap();
    let expected: Vec<Value> = problems
        .iter()
        .map(|p| {
            json!({
                "severity": match p.severity { wit::Severity::Error => "error", wit::Severity::Warning => "warning" },
                "attribute": p.attribute,
                "location": p.location,
                "message": p.message,
            })
        })
        .collect();
    assert!(!expected.is_empty());
    for host in HOSTS {
        assert_eq!(
            host.json(&file, &["validate"]),
            Value::Array(expected.clone()),
            "{host:?}"
        );
    }
}
