//! The README lists, for each provisioning plan of the shipped packages (`packages/*.json`), the
//! account columns it reads. This test computes that table from the packages with the
//! connector's own reading of the plans, and fails when the README's differs.

use std::path::{Path, PathBuf};

use duckcreek_connector::config::{Connection, DISABLEACCOUNTJSON, ENABLEACCOUNTJSON, load};
use duckcreek_connector::provision::account_columns::{PlanColumn, columns};
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shipped packages, by file name.
fn packages() -> Vec<(String, Connection)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join("packages"))
        .expect("packages/ is readable")
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, connection(&path))
        })
        .collect()
}

/// A package as the connection a user gives: its attributes, with the credentials it leaves out.
fn connection(path: &Path) -> Connection {
    let text = std::fs::read_to_string(path).expect("a readable package");
    let Value::Object(attributes) = serde_json::from_str(&text).expect("a JSON package") else {
        panic!("{} is not a JSON object", path.display());
    };
    let given = [
        ("USERNAME", "svc"),
        ("PASSWORD", "pw"),
        ("CLIENT_SECRET", "cs"),
    ];
    let pairs = attributes.into_iter().map(|(name, value)| {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        (name, text)
    });
    Connection::from_pairs(pairs.chain(given.map(|(n, v)| (n.to_string(), v.to_string()))))
}

/// How the README writes a plan's columns: each in backticks, in the order the plan reads
/// them; `name` said to be always there, a column read only with a fallback said so.
fn written(columns: &[PlanColumn]) -> String {
    let column = |column: &PlanColumn| {
        let note = if column.column.eq_ignore_ascii_case("name") {
            " (the account's name: always there)"
        } else if column.required {
            ""
        } else {
            " (with a fallback: may be missing)"
        };
        format!("`{}`{note}", column.column)
    };
    let listed: Vec<String> = columns.iter().map(column).collect();
    if listed.is_empty() {
        "none".into()
    } else {
        listed.join(", ")
    }
}

/// The table the README must hold.
fn expected_table() -> String {
    let mut table = String::from("| package | plan | account columns it reads |\n|---|---|---|\n");
    for (name, connection) in packages() {
        let loaded = load(&connection);
        let config = loaded
            .config
            .unwrap_or_else(|| panic!("{name}: {:?}", loaded.problems));
        for (attribute, plan) in [
            (ENABLEACCOUNTJSON, &config.enable_plan),
            (DISABLEACCOUNTJSON, &config.disable_plan),
        ] {
            if let Some(plan) = plan {
                let columns = written(&columns(plan));
                table.push_str(&format!("| `{name}` | `{attribute}` | {columns} |\n"));
            }
        }
    }
    table
}

#[test]
fn the_readme_lists_the_account_columns_each_shipped_plan_reads() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let expected = expected_table();
    assert!(
        readme.contains(&expected),
        "README.md lacks this table (or holds another), under \"The WIT contract\":\n{expected}"
    );
}
