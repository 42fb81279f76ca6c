//! The same `.wasm` under three hosts: the Python and Node example hosts (`examples/`, set up by
//! `make interop`, which `make test` runs) must give exactly what the Rust host gives for the
//! same simulator: the same accounts with the same columns and links, the same entitlements,
//! the same validation, the same provisioning and the same errors, and the same bytes on the
//! wire: every request with the same method, path, headers and body, whatever the host.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dcconn::connection::Connection;
use dcconn::jobs;
use dcconn::runtime::{Runtime, wit};
use dcsim::{SeenRequest, Simulator, TokenMode, TokenStats};
use serde_json::{Value, json};

use crate::support::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A foreign host: how to start it for a connection file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    let success = json!({
        "captured": [["STATUS", "Success"]],
        "comments": null,
        "accountUpdates": [],
        "skippedCalls": [],
    });
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

/// Any of the three hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AnyHost {
    /// dcconn's runtime: placeholders for the secrets, written in on the way out.
    Rust,
    /// An example host, handed the secrets as they are.
    Foreign(Host),
}

const EVERY_HOST: [AnyHost; 3] = [
    AnyHost::Rust,
    AnyHost::Foreign(Host::Python),
    AnyHost::Foreign(Host::Node),
];

/// One request as it arrived: method, path with query, headers (names lower-case, in order)
/// and body.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Wire {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What `host` sent, from the simulator's wire log (requests to the endpoint and to the token
/// gateway, in arrival order, calls turned away for their token included). Left out: `host`
/// and `user-agent` (the client's own; the value of Host is the endpoint's authority anyway), and
/// under Node the `connection: keep-alive` that Node's HTTP client writes on every request, which
/// is asserted and then dropped: `connection` is a hop-by-hop header a wasi:http guest may not
/// set (nor remove), and the preview2 shim sends through its own keep-alive `http.Agent` in a
/// worker thread it starts with no options a host could pass, so neither the component nor the
/// example host can control it. A bearer token becomes `Bearer <token N>`, N its rank among the
/// tokens the gateway issued since `issued_before` (tokens are random, their use is not).
fn wire(sim: &Simulator, host: AnyHost, issued_before: usize) -> Vec<Wire> {
    let issued = sim.issued_tokens().split_off(issued_before);
    sim.received()
        .into_iter()
        .map(
            |SeenRequest {
                 method,
                 path,
                 raw_headers,
                 body,
                 ..
             }| {
                let mut headers: Vec<(String, String)> = raw_headers
                    .into_iter()
                    .filter(|(name, _)| name != "host" && name != "user-agent")
                    .map(|(name, value)| {
                        let token = value
                            .strip_prefix("Bearer ")
                            .and_then(|token| issued.iter().position(|issued| issued == token));
                        match token {
                            Some(rank) if name == "authorization" => {
                                (name, format!("Bearer <token {}>", rank + 1))
                            }
                            _ => (name, value),
                        }
                    })
                    .collect();
                if host == AnyHost::Foreign(Host::Node) {
                    let connection = ("connection".to_string(), "keep-alive".to_string());
                    assert!(
                        headers.contains(&connection),
                        "Node sent no `connection: keep-alive`: {headers:?}"
                    );
                    headers.retain(|header| *header != connection);
                }
                Wire {
                    method,
                    path,
                    headers,
                    body,
                }
            },
        )
        .collect()
}

/// Runs `run` under every host, each time after `reset` and with an empty wire log, asserts
/// they all sent exactly the same requests and returns them. Every request declares its body's
/// exact length and none is chunked, under every host.
fn sent_alike(sim: &Simulator, reset: &dyn Fn(), run: &dyn Fn(AnyHost)) -> Vec<Wire> {
    let mut first: Option<(AnyHost, Vec<Wire>)> = None;
    for host in EVERY_HOST {
        reset();
        sim.clear_requests();
        let issued_before = sim.issued_tokens().len();
        run(host);
        let sent = wire(sim, host, issued_before);
        assert!(!sent.is_empty(), "{host:?} sent nothing");
        for request in &sent {
            assert_eq!(
                request.header("content-length"),
                Some(request.body.len().to_string().as_str()),
                "{host:?}: {request:?}"
            );
            assert_eq!(request.header("transfer-encoding"), None, "{host:?}");
        }
        match &first {
            None => first = Some((host, sent)),
            Some((reference, expected)) => {
                assert_eq!(expected.len(), sent.len(), "{host:?} and {reference:?}");
                for (expected, sent) in expected.iter().zip(&sent) {
                    assert_eq!(
                        sent, expected,
                        "{host:?} sent other bytes than {reference:?}"
                    );
                }
            }
        }
    }
    first.expect("three hosts ran").1
}

/// The component's headers of a call of the shipped packages, in the order it sends them.
fn call_headers(body: &str, authorization: Option<&str>) -> Vec<(String, String)> {
    let mut headers = vec![("content-type", "text/xml; charset=utf-8".to_string())];
    if let Some(authorization) = authorization {
        headers.push(("authorization", authorization.to_string()));
    }
    headers.push(("content-length", body.len().to_string()));
    headers
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
}

#[test]
fn every_host_sends_the_same_bytes_for_an_import() {
    let harness = Harness::new(30);
    let dir = tempfile::tempdir().unwrap();
    let connection = harness.soap_connection(PASSWORD);
    let file = connection_file(&connection, dir.path());
    let expected = rust_import(&connection);
    let sent = sent_alike(&harness.sim, &|| {}, &|host| match host {
        AnyHost::Rust => assert_eq!(rust_import(&connection), expected),
        AnyHost::Foreign(host) => assert_eq!(host.json(&file, &["import"]), expected),
    });
    let operations = [
        "OnlineData.listEntityUsersRq entityID=\"1\"",
        "Security.listRolesRq includePrivileges=\"false\"",
        "OnlineData.listEntitiesRq",
        "Security.listPrivilegesRq",
    ];
    assert_eq!(sent.len(), operations.len());
    for (request, operation) in sent.iter().zip(operations) {
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/dc/services")
        );
        assert!(
            request.body.contains(&format!(
                "<Session.loginRq userName=\"{USERNAME}\" password=\"{PASSWORD_ESCAPED}\">"
            )) && request.body.contains(&format!("<{operation}>")),
            "{}",
            request.body
        );
        assert_eq!(request.headers, call_headers(&request.body, None));
    }
}

#[test]
fn every_host_sends_the_same_bytes_to_disable_an_account() {
    let harness = Harness::new(10);
    let dir = tempfile::tempdir().unwrap();
    let connection = harness.soap_connection(PASSWORD);
    let file = connection_file(&connection, dir.path());
    // A name that escaping must take care of.
    let (name, id) = ("o'brien&co", "2");
    let user = harness
        .sim
        .dataset()
        .user(name)
        .expect("a special user")
        .clone();
    assert_eq!(
        (user.id.to_string().as_str(), user.status.as_str()),
        (id, "Active")
    );
    let success = json!({
        "captured": [["STATUS", "Success"]],
        "comments": null,
        "accountUpdates": [],
        "skippedCalls": [],
    });
    let runtime = Runtime::load(component(), Some(&cache_dir())).unwrap();
    let sent = sent_alike(
        &harness.sim,
        &|| harness.sim.set_user(user.clone()),
        &|host| {
            match host {
                AnyHost::Rust => {
                    let mut instance = jobs::instance(&runtime, &connection).unwrap();
                    let request = wit::ProvisioningRequest {
                        account: wit::Account {
                            name: name.into(),
                            columns: vec![wit::Column {
                                name: "accountID".into(),
                                value: id.into(),
                            }],
                            entitlements: Vec::new(),
                        },
                        user: Vec::new(),
                    };
                    let outcome = instance
                        .provision(&jobs::attributes(&connection), false, &request)
                        .unwrap()
                        .unwrap();
                    assert_eq!(columns(&outcome.captured), success["captured"]);
                    assert_eq!(outcome.comments, None);
                    assert!(outcome.account_updates.is_empty() && outcome.skipped_calls.is_empty());
                }
                AnyHost::Foreign(foreign) => {
                    assert_eq!(
                        foreign.json(&file, &["disable", name, id]),
                        success,
                        "{host:?}"
                    );
                }
            }
            let status = harness.sim.dataset().user(name).unwrap().status.clone();
            assert_eq!(status, "Locked", "{host:?}");
        },
    );
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/dc/services")
    );
    assert!(
        request.body.contains(&format!(
            "<Security.lockUserAccountRq userID=\"{id}\" userName=\"o&apos;brien&amp;co\">"
        )) && request.body.contains(PASSWORD_ESCAPED),
        "{}",
        request.body
    );
    assert_eq!(request.headers, call_headers(&request.body, None));
}

/// The client secret of the token test: characters form encoding changes, and longer than the
/// placeholder dcconn's component sees, so the body grows when the host writes it in (the
/// password, shorter, makes the calls' bodies shrink).
const CLIENT_SECRET: &str = "gateway secret &=+/ü% longer than any placeholder";

/// [`CLIENT_SECRET`] form-encoded.
const CLIENT_SECRET_FORM: &str = "gateway+secret+%26%3D%2B%2F%C3%BC%25+longer+than+any+placeholder";

#[test]
fn every_host_sends_the_same_bytes_for_a_token_and_its_refresh() {
    // Each token expires after two calls: the third call of the import is refused, and the
    // component asks for a new token and sends it again.
    let token = TokenMode {
        max_uses: Some(2),
        client_secret: CLIENT_SECRET.into(),
        ..TokenMode::default()
    };
    let harness = Harness::with_token(10, Some(token));
    let dir = tempfile::tempdir().unwrap();
    let mut connection = dcconn::connection::load(&package("duckcreek-token.json")).unwrap();
    let mut gateways: Value =
        serde_json::from_str(connection.get("CONNECTIONJSON").unwrap()).unwrap();
    gateways["authentications"]["dcGateway"]["url"] = json!(harness.sim.token_url());
    connection.set("CONNECTIONJSON", gateways.to_string());
    connection.set("SOAP_ENDPOINT", harness.sim.endpoint_url());
    connection.set("USERNAME", USERNAME);
    connection.set("PASSWORD", PASSWORD);
    connection.set("CLIENT_SECRET", CLIENT_SECRET);
    let file = connection_file(&connection, dir.path());
    let expected = rust_import(&connection);
    assert_eq!(expected["accounts"].as_array().unwrap().len(), 10);
    let sent = sent_alike(&harness.sim, &|| {}, &|host| {
        let before = harness.sim.token_stats();
        match host {
            AnyHost::Rust => assert_eq!(rust_import(&connection), expected),
            AnyHost::Foreign(host) => assert_eq!(host.json(&file, &["import"]), expected),
        }
        let after = harness.sim.token_stats();
        let during = TokenStats {
            issued: after.issued - before.issued,
            refused: after.refused - before.refused,
            accepted: after.accepted - before.accepted,
            expired: after.expired - before.expired,
            invalid: after.invalid - before.invalid,
        };
        let refreshed_once = TokenStats {
            issued: 2,
            refused: 0,
            accepted: 4,
            expired: 1,
            invalid: 0,
        };
        assert_eq!(during, refreshed_once, "{host:?}");
    });
    let token_body = format!(
        "grant_type=client_credentials&client_id=dcconn&client_secret={CLIENT_SECRET_FORM}"
    );
    // Under dcconn the component wrote placeholders and declared that length; the host wrote
    // the values in and declared the new length: longer for the client secret, shorter for the
    // password.
    let placeholder = |name: &str, value: &str| dcconn::secrets::placeholder(name, value).len();
    assert!(placeholder("CLIENT_SECRET", CLIENT_SECRET) < CLIENT_SECRET_FORM.len());
    assert!(placeholder("PASSWORD", PASSWORD) > PASSWORD_ESCAPED.len());
    let token_request = Wire {
        method: "POST".into(),
        path: "/oauth/token".into(),
        headers: vec![
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("content-length".into(), token_body.len().to_string()),
        ],
        body: token_body,
    };
    let call = |operation: &str, token: usize| {
        let request = sent
            .iter()
            .find(|r| r.body.contains(operation))
            .unwrap_or_else(|| panic!("no {operation} call"));
        assert!(request.body.contains(PASSWORD_ESCAPED), "{}", request.body);
        Wire {
            headers: call_headers(&request.body, Some(&format!("Bearer <token {token}>"))),
            ..request.clone()
        }
    };
    assert_eq!(
        sent,
        [
            token_request.clone(),
            call("OnlineData.listEntityUsersRq", 1),
            call("Security.listRolesRq", 1),
            call("OnlineData.listEntitiesRq", 1),
            token_request,
            call("OnlineData.listEntitiesRq", 2),
            call("Security.listPrivilegesRq", 2),
        ]
    );
}

#[test]
fn dcconn_declares_the_length_of_a_body_it_has_no_secret_to_write_into() {
    // With no secret to write in, dcconn hands the component's body on as it streams (it only
    // buffers a body to reveal secrets): the length on the wire is the one the component
    // declared, never a chunked body. Here the templates hold the password themselves.
    let harness = Harness::new(5);
    let mut connection = harness.soap_connection(PASSWORD);
    connection.remove("PASSWORD");
    let templates: Vec<(String, String)> = connection
        .attributes()
        .filter(|(_, value)| value.contains("${PASSWORD}"))
        .map(|(name, value)| {
            (
                name.to_string(),
                value.replace("${PASSWORD}", PASSWORD_ESCAPED),
            )
        })
        .collect();
    assert!(!templates.is_empty());
    for (name, value) in templates {
        connection.set(name, value);
    }
    let imported = rust_import(&connection);
    assert_eq!(imported["accounts"].as_array().unwrap().len(), 5);
    let sent = wire(&harness.sim, AnyHost::Rust, 0);
    assert_eq!(sent.len(), 4);
    for request in sent {
        assert!(
            request.body.contains(&format!(
                "<Session.loginRq userName=\"{USERNAME}\" password=\"{PASSWORD_ESCAPED}\">"
            )),
            "{}",
            request.body
        );
        assert_eq!(request.headers, call_headers(&request.body, None));
    }
}

/// A destination as the example hosts print it.
fn destination_json(destination: &wit::Destination) -> Value {
    json!({
        "attribute": destination.attribute,
        "location": destination.location,
        "scheme": match destination.scheme {
            wit::UrlScheme::Http => "http",
            wit::UrlScheme::Https => "https",
        },
        "host": destination.host,
        "port": destination.port,
        "pathAndQuery": destination.path_and_query,
    })
}

#[test]
fn every_host_gets_the_same_destinations_from_the_connector() {
    let harness = Harness::new(1);
    let dir = tempfile::tempdir().unwrap();
    let mut connection = dcconn::connection::load(&package("duckcreek-token.json")).unwrap();
    let mut gateways: Value =
        serde_json::from_str(connection.get("CONNECTIONJSON").unwrap()).unwrap();
    gateways["authentications"]["dcGateway"]["url"] =
        json!(format!("{}?tenant=a", harness.sim.token_url()));
    connection.set("CONNECTIONJSON", gateways.to_string());
    connection.set("SOAP_ENDPOINT", harness.sim.endpoint_url());
    connection.set("USERNAME", USERNAME);
    connection.set("PASSWORD", PASSWORD);
    connection.set("CLIENT_SECRET", CLIENT_SECRET);
    let file = connection_file(&connection, dir.path());
    let port = harness.sim.port();
    let expected = json!([
        {"attribute": "SOAP_ENDPOINT", "location": null, "scheme": "http", "host": "127.0.0.1",
         "port": port, "pathAndQuery": "/dc/services"},
        {"attribute": "CONNECTIONJSON", "location": "dcGateway.url", "scheme": "http",
         "host": "127.0.0.1", "port": port, "pathAndQuery": "/oauth/token?tenant=a"},
    ]);
    let runtime = Runtime::load(component(), Some(&cache_dir())).unwrap();
    let mut instance = jobs::instance(&runtime, &connection).unwrap();
    let declared = instance
        .destinations(&jobs::attributes(&connection))
        .unwrap()
        .unwrap();
    let rust: Vec<Value> = declared.iter().map(destination_json).collect();
    assert_eq!(Value::Array(rust), expected, "Rust");
    for host in HOSTS {
        assert_eq!(host.json(&file, &["destinations"]), expected, "{host:?}");
    }
    assert!(harness.sim.received().is_empty(), "nothing was sent");
}

#[test]
fn the_node_hosts_egress_policy_lets_through_exactly_the_destinations() {
    // Requests as the bindings hand them to wasi:http/outgoing-handler: scheme, authority and
    // path with query; `handle` refuses what is not allowed before the shim sees it.
    let script = r#"
import { allowOnly, allows, outgoingHandler } from './egress.mjs';
allowOnly([
  { scheme: 'http', host: '127.0.0.1', port: 8080, pathAndQuery: '/dc/services' },
  { scheme: 'https', host: 'gw.example.com', port: 443, pathAndQuery: '/t?tenant=a' },
  { scheme: 'http', host: '[::1]', port: 9000, pathAndQuery: '/' },
]);
const request = ([scheme, authority, path]) => ({
  scheme: () => (scheme ? { tag: scheme } : undefined),
  authority: () => authority,
  pathWithQuery: () => path,
});
const cases = JSON.parse(process.argv[1]);
const refused = (() => {
  try { outgoingHandler.handle(request(cases[1])); return 'sent'; } catch (e) { return e; }
})();
console.log(JSON.stringify({ allowed: cases.map((c) => allows(request(c))), refused }));
"#;
    let cases = json!([
        ["HTTP", "127.0.0.1:8080", "/dc/services"],
        ["HTTP", "127.0.0.1:8080", "/admin/users"],
        ["HTTP", "127.0.0.1:8081", "/dc/services"],
        ["HTTPS", "127.0.0.1:8080", "/dc/services"],
        ["HTTP", "127.0.0.2:8080", "/dc/services"],
        ["HTTP", "admin@127.0.0.1:8080", "/dc/services"],
        ["HTTP", "127.0.0.1:8080", "/dc/services?x=1"],
        ["HTTPS", "GW.example.com", "/t?tenant=a"],
        ["HTTPS", "gw.example.com:443", "/t?tenant=a"],
        ["HTTPS", "gw.example.com", "/t"],
        ["HTTP", "[0:0::1]:9000", null],
        [null, "127.0.0.1:8080", "/dc/services"],
        ["other", "127.0.0.1:8080", "/dc/services"],
    ]);
    let output = Command::new("node")
        .current_dir(workspace().join("examples/node"))
        .args(["--input-type=module", "-e", script])
        .arg(cases.to_string())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let outcome: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(
        outcome,
        json!({
            "allowed": [true, false, false, false, false, false, false, true, true, false, true,
                        false, false],
            "refused": {"tag": "HTTP-request-denied"},
        })
    );
}
