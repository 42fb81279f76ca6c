//! Full imports through the component, checked against the simulator's dataset exactly.

use dcsim::Dataset;
use serde_json::{Map, Value, json};

use crate::support::*;

fn expected_accounts(dataset: &Dataset) -> Vec<Value> {
    let mut users = dataset.users.clone();
    users.sort_by(|a, b| a.name.cmp(&b.name));
    users
        .iter()
        .map(|user| {
            let mut entitlements = Map::new();
            let mut entities = user.entities.clone();
            entities.sort();
            let mut roles = user.roles.clone();
            roles.sort();
            if !entities.is_empty() {
                entitlements.insert("Entity".into(), json!(entities));
            }
            if !roles.is_empty() {
                entitlements.insert("Role".into(), json!(roles));
            }
            // The shipped packages map Duck Creek's status (customproperty2): only `Active`
            // is active, and `Locked` is locked.
            let status = if user.status == "Active" {
                "active"
            } else {
                "inactive"
            };
            json!({
                "name": user.name,
                "status": status,
                "present": true,
                "locked": user.status == "Locked",
                "owner": null,
                "columns": {
                    "name": user.name,
                    "accountID": user.id.to_string(),
                    "customproperty1": user.email,
                    "customproperty2": user.status,
                    "displayname": user.full_name,
                },
                "entitlements": entitlements,
            })
        })
        .collect()
}

fn expected_entitlements(dataset: &Dataset) -> Vec<Value> {
    let mut rows: Vec<(String, String, Value)> = Vec::new();
    for entity in &dataset.entities {
        rows.push((
            "Entity".into(),
            entity.name.clone(),
            json!({"entitlementID": entity.id.to_string()}),
        ));
    }
    for privilege in &dataset.privileges {
        rows.push((
            "Privilege".into(),
            privilege.name.clone(),
            json!({"entitlementID": privilege.id.to_string(), "description": privilege.description, "customproperty1": privilege.kind}),
        ));
    }
    for role in &dataset.roles {
        rows.push((
            "Role".into(),
            role.name.clone(),
            json!({"entitlementID": role.id.to_string(), "description": role.description}),
        ));
    }
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    rows.into_iter()
        .map(|(t, value, columns)| json!({"type": t, "value": value, "status": "active", "present": true, "columns": columns}))
        .collect()
}

fn imports_everything_exactly(package: &str, mode: dcsim::Mode) {
    let harness = Harness::new(300);
    let output = harness.import(package);
    assert_success(&output);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    let dataset = harness.sim.dataset();
    let links: usize = dataset
        .users
        .iter()
        .map(|u| u.entities.len() + u.roles.len())
        .sum();
    assert_eq!(summary["outcome"], "succeeded");
    assert_eq!(summary["accounts"], 300);
    assert_eq!(summary["newAccounts"], 300);
    assert_eq!(summary["links"], links as u64);
    assert_eq!(
        summary["entitlements"],
        (dataset.entities.len() + dataset.roles.len() + dataset.privileges.len()) as u64
    );

    let accounts = harness.list("accounts");
    assert_eq!(accounts.len(), 300);
    assert_eq!(accounts, expected_accounts(&dataset));
    assert_eq!(
        harness.list("entitlements"),
        expected_entitlements(&dataset)
    );

    // The special characters, spelled out rather than derived from the dataset.
    let obrien = accounts
        .iter()
        .find(|a| a["name"] == "o'brien&co")
        .expect("o'brien&co imported");
    assert_eq!(
        obrien["columns"]["displayname"],
        r#"Tom "T" O'Brien <Claims>"#
    );
    assert_eq!(
        obrien["entitlements"]["Role"],
        json!(["Underwriter", r#"Underwriter "Senior" & <Lead>"#])
    );
    assert_eq!(
        obrien["entitlements"]["Entity"],
        json!([r#"R&D <Claims> "East""#])
    );
    let jurgen = accounts
        .iter()
        .find(|a| a["name"] == "jürgen.müller")
        .expect("jürgen.müller imported");
    assert_eq!(jurgen["columns"]["displayname"], "Jürgen Müller");
    assert_eq!(
        jurgen["entitlements"]["Entity"],
        json!([r#"R&D <Claims> "East""#, "Zürich Süd – Ålesund"])
    );
    let chinese = accounts
        .iter()
        .find(|a| a["name"] == "王伟")
        .expect("王伟 imported");
    assert_eq!(chinese["columns"]["customproperty2"], "Inactive");
    let no_access = accounts
        .iter()
        .find(|a| a["name"] == "no.access")
        .expect("no.access imported");
    assert_eq!(no_access["entitlements"], json!({}));

    // Four calls, each a whole session, in the configured mode, with the password as data.
    let requests = harness.sim.requests();
    assert_eq!(requests.len(), 4);
    let operations: Vec<Vec<String>> = requests
        .iter()
        .map(|r| r.operations.iter().map(|o| o.name.clone()).collect())
        .collect();
    assert_eq!(
        operations,
        [
            "OnlineData.listEntityUsersRq",
            "Security.listRolesRq",
            "OnlineData.listEntitiesRq",
            "Security.listPrivilegesRq"
        ]
        .map(|op| vec![
            "Session.loginRq".to_string(),
            op.to_string(),
            "Session.closeRq".to_string()
        ])
    );
    for request in &requests {
        assert_eq!(request.mode, mode);
        assert_eq!(
            request.content_type.as_deref(),
            Some("text/xml; charset=utf-8")
        );
        assert_eq!(
            request.operations[0].attributes,
            vec![
                ("userName".to_string(), USERNAME.to_string()),
                ("password".to_string(), "<redacted>".to_string())
            ]
        );
    }
}

#[test]
fn soap_mode_imports_every_account_column_link_and_entitlement() {
    imports_everything_exactly(SOAP_PACKAGE, dcsim::Mode::Soap);
}

#[test]
fn xml_mode_imports_every_account_column_link_and_entitlement() {
    imports_everything_exactly(XML_PACKAGE, dcsim::Mode::Xml);
}

#[test]
fn a_second_identical_import_changes_nothing_and_both_runs_are_recorded() {
    let harness = Harness::new(50);
    assert_success(&harness.import(SOAP_PACKAGE));
    let before = harness.snapshot();
    let output = harness.import(SOAP_PACKAGE);
    assert_success(&output);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (
            summary["newAccounts"].as_u64(),
            summary["updatedAccounts"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(
        (
            summary["newEntitlements"].as_u64(),
            summary["updatedEntitlements"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(harness.snapshot(), before);
    let runs = harness.list("runs");
    let outcomes: Vec<&str> = runs
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["succeeded", "succeeded"]);
}

#[test]
fn a_changed_user_is_updated_by_the_next_import() {
    let harness = Harness::new(20);
    assert_success(&harness.import(SOAP_PACKAGE));
    let mut user = harness.sim.dataset().user("party.parrot").cloned().unwrap();
    user.full_name = "Polly <Renamed> & Co".into();
    user.roles.push("Actuary".into());
    harness.sim.set_user(user);
    let output = harness.import(SOAP_PACKAGE);
    assert_success(&output);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["updatedAccounts"], 1);
    let accounts = harness.list("accounts");
    let parrot = accounts
        .iter()
        .find(|a| a["name"] == "party.parrot")
        .unwrap();
    assert_eq!(parrot["columns"]["displayname"], "Polly <Renamed> & Co");
    assert_eq!(
        parrot["entitlements"]["Role"],
        json!(["Actuary", "CustomerServiceRep"])
    );
}

#[test]
fn scopes_import_one_half_each() {
    let harness = Harness::new(10);
    assert_success(&harness.with_connection("import", SOAP_PACKAGE, &["--scope", "accounts"]));
    assert_eq!(harness.list("accounts").len(), 10);
    assert!(harness.list("entitlements").is_empty());
    assert_success(&harness.with_connection("import", SOAP_PACKAGE, &["--scope", "access"]));
    assert_eq!(harness.list("entitlements").len(), 69);
    let ops: Vec<String> = harness
        .sim
        .requests()
        .iter()
        .map(|r| r.operations[1].name.clone())
        .collect();
    assert_eq!(
        ops,
        [
            "OnlineData.listEntityUsersRq",
            "Security.listRolesRq",
            "OnlineData.listEntitiesRq",
            "Security.listPrivilegesRq"
        ]
    );
}

#[test]
fn small_batches_give_the_same_result() {
    let harness = Harness::new(120);
    assert_success(&harness.with_connection("import", SOAP_PACKAGE, &["--batch", "7"]));
    assert_eq!(
        harness.list("accounts"),
        expected_accounts(&harness.sim.dataset())
    );
}

#[test]
fn test_connection_logs_in_and_out() {
    let harness = Harness::new(5);
    let output = harness.with_connection("test", SOAP_PACKAGE, &[]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("connection ok"),
        "{}",
        stdout(&output)
    );
    let requests = harness.sim.requests();
    assert_eq!(requests.len(), 1);
    let names: Vec<&str> = requests[0]
        .operations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(names, ["Session.loginRq", "Session.closeRq"]);
}

#[test]
fn listings_print_csv_and_tables() {
    let harness = Harness::new(8);
    assert_success(&harness.import(SOAP_PACKAGE));
    let csv = harness.dcconn(&["accounts", "--format", "csv"]);
    assert_success(&csv);
    let text = stdout(&csv);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "name,status,present,locked,owner,columns.name,columns.accountID,columns.customproperty1,columns.customproperty2,columns.displayname,entitlements.Entity,entitlements.Role"
        )
    );
    assert!(text.contains(r#"o'brien&co,active,true,false,,o'brien&co,2,o'brien&co@example.com,Active,"Tom ""T"" O'Brien <Claims>","R&D <Claims> ""East""","Underwriter;Underwriter ""Senior"" & <Lead>""#), "{text}");
    let table = harness.dcconn(&["entitlements", "--type", "Role"]);
    assert_success(&table);
    let table = stdout(&table);
    assert!(table.starts_with("TYPE  VALUE"), "{table}");
    assert!(
        table.lines().skip(1).all(|line| line.starts_with("Role  ")),
        "{table}"
    );
}

/// The shipped package as a Saviynt transport-package export (JSON attributes as JSON text,
/// attributes without a value lacking `encryptedattributevalue`), zipped as Saviynt ships it.
fn transport_package_zip(harness: &Harness) -> std::path::PathBuf {
    use std::io::Write;
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    let mut attributes: Vec<Value> = package
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "connectionname" | "externalconnectiontype"))
        .map(|(name, value)| {
            let text = value.as_str().map_or_else(
                || serde_json::to_string_pretty(value).unwrap(),
                str::to_string,
            );
            json!({"attributename": name, "encryptedattributevalue": text})
        })
        .collect();
    attributes.push(json!({"attributename": "PAGE_SIZE"}));
    let export = json!({"DuckCreekProd": {"connectionname": "DuckCreekProd", "externalconnectiontype": "SOAP", "EXTERNAL_ATTR": attributes}});
    let path = harness.dir.path().join("TransportPackage.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    zip.start_file(
        "Connections/Connection_20261126101500.json",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(serde_json::to_string_pretty(&export).unwrap().as_bytes())
        .unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn a_saviynt_transport_package_zip_imports_as_is() {
    let harness = Harness::new(40);
    let zip = transport_package_zip(&harness);
    let mut args: Vec<String> = vec!["import".into(), "--json".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args[3] = zip.display().to_string();
    let output = harness.dcconn(&args);
    assert_success(&output);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        summary["endpoint"], "DuckCreekProd",
        "the endpoint is named after the connection"
    );
    assert_eq!(summary["accounts"], 40);
    assert_eq!(
        harness.list("accounts"),
        expected_accounts(&harness.sim.dataset())
    );
}

#[test]
fn the_password_is_never_printed_or_stored() {
    let harness = Harness::new(30);
    let output = harness.import(SOAP_PACKAGE);
    assert_success(&output);
    for form in [PASSWORD, PASSWORD_ESCAPED] {
        for suffix in ["", "-wal"] {
            let path = format!("{}{suffix}", harness.db().display());
            if let Ok(bytes) = std::fs::read(&path) {
                assert!(
                    !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                    "{path} holds the password"
                );
            }
        }
        assert!(!stdout(&output).contains(form) && !stderr(&output).contains(form));
    }
}
