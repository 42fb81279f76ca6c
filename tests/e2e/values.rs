//! Values as they travel: a name holding a line break reaches Duck Creek as the same name (CR,
//! LF and TAB written as character references, which no XML parser normalises), a server's
//! texts reach the operator as the server wrote them (so the secrets mask still recognises an
//! echoed password), and `validate` reports first, with the attribute and the place, every URL
//! and header value the host's egress policy or its HTTP layer would refuse later.

use std::process::Output;

use dcsim::{Fault, User};
use serde_json::{Value, json};

use crate::support::*;

const CONFIGURATION: i32 = 3;
const REMOTE: i32 = 5;

/// An account name with a line break, and the one an XML parser would read from it written raw
/// in an attribute (CR and LF each normalised to a space).
const BROKEN_NAME: &str = "ab\r\ncd";
const NORMALISED_NAME: &str = "ab  cd";

fn user(id: u64, name: &str) -> User {
    User {
        id,
        name: name.into(),
        email: format!("user{id}@example.com"),
        full_name: format!("User {id}"),
        status: "Active".into(),
        entities: Vec::new(),
        roles: Vec::new(),
    }
}

/// A harness whose simulator also holds `ab\r\ncd` (id 9001) and `ab  cd` (id 9002), imported.
fn imported_with_line_break() -> Harness {
    let harness = Harness::new(3);
    harness.sim.set_user(user(9001, BROKEN_NAME));
    harness.sim.set_user(user(9002, NORMALISED_NAME));
    assert_success(&harness.import(SOAP_PACKAGE));
    harness.sim.clear_requests();
    harness
}

/// The shipped package with `changes` applied to its attributes, written next to the store.
fn package_with(harness: &Harness, changes: &[(&str, Value)]) -> String {
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    for (name, value) in changes {
        package[*name] = value.clone();
    }
    let path = harness.dir.path().join("package.json");
    std::fs::write(&path, package.to_string()).unwrap();
    path.display().to_string()
}

/// `dcconn <command> -c <file> --set SOAP_ENDPOINT=<simulator> ... <extra>`.
fn run_with(harness: &Harness, command: &str, file: &str, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![command.into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args[2] = file.to_string();
    args.extend(extra.iter().map(|s| s.to_string()));
    harness.dcconn(&args)
}

#[test]
fn a_name_with_a_line_break_is_disabled_as_itself_not_as_the_name_a_parser_would_read() {
    let harness = imported_with_line_break();
    let names: Vec<String> = harness
        .list("accounts")
        .iter()
        .filter_map(|a| a["name"].as_str().map(str::to_string))
        .filter(|name| name.starts_with("ab"))
        .collect();
    assert_eq!(names, [BROKEN_NAME, NORMALISED_NAME], "both stored exactly");

    let file = package(SOAP_PACKAGE).display().to_string();
    let output = run_with(&harness, "disable", &file, &["--account", BROKEN_NAME]);
    assert_success(&output);

    // The bytes on the wire: CR and LF as references in the attribute.
    let received = harness.sim.received();
    assert_eq!(received.len(), 1);
    assert!(
        holds(
            received[0].body.as_bytes(),
            r#"<Security.lockUserAccountRq userID="9001" userName="ab&#13;&#10;cd"></Security.lockUserAccountRq>"#
        ),
        "{}",
        received[0].body
    );
    assert!(!received[0].body.contains('\r') && !received[0].body.contains('\n'));
    // The simulator's parser reads the name back exactly, and locks that account only.
    let lock = &received[0].operations[1];
    assert_eq!(lock.name, "Security.lockUserAccountRq");
    assert_eq!(
        lock.attributes,
        [
            ("userID".to_string(), "9001".to_string()),
            ("userName".to_string(), BROKEN_NAME.to_string())
        ]
    );
    let dataset = harness.sim.dataset();
    assert_eq!(dataset.user(BROKEN_NAME).unwrap().status, "Locked");
    assert_eq!(dataset.user(NORMALISED_NAME).unwrap().status, "Active");
}

#[test]
fn a_bound_value_a_header_cannot_carry_fails_the_task_naming_the_header_and_sends_nothing() {
    let harness = imported_with_line_break();
    let plan = json!([{
        "REQUESTXML": "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><server><requests><Session.loginRq userName=\"${USERNAME}\" password=\"${PASSWORD}\"></Session.loginRq><Security.lockUserAccountRq userName=\"${account.name}\"></Security.lockUserAccountRq><Session.closeRq></Session.closeRq></requests></server></soapenv:Body></soapenv:Envelope>",
        "REQUESTPARAMS": {"X-Account": "${account.name}"}
    }]);
    let file = package_with(&harness, &[("DISABLEACCOUNTJSON", plan)]);
    let output = run_with(&harness, "disable", &file, &["--account", BROKEN_NAME]);
    assert_eq!(output.status.code(), Some(REMOTE), "{}", stderr(&output));
    let tasks = harness.list("tasks");
    assert_eq!(
        tasks[0]["lastError"].as_str(),
        Some(
            "DISABLEACCOUNTJSON call 1 (account \"ab\\r\\ncd\"): transport failure: the request header `X-Account` cannot be sent: its value holds a carriage return (CR) at byte 2, which an HTTP header value cannot carry (it came from a bound value or a token)"
        ),
        "{}",
        tasks[0]
    );
    assert_eq!(harness.sim.received(), Vec::new(), "nothing was sent");
    assert_eq!(
        harness.sim.dataset().user(NORMALISED_NAME).unwrap().status,
        "Active"
    );
}

#[test]
fn a_fault_string_reaches_the_operator_as_the_server_wrote_it() {
    let harness = Harness::new(3);
    // The simulator writes `Pw&quot;&lt;&amp;&gt;&apos;-SECRET-1234`.
    harness.sim.inject_fault(Fault::soap_fault(
        "soap:Client",
        "Invalid password Pw\"<&>'-SECRET-1234",
    ));
    let output = harness.with_connection("test", SOAP_PACKAGE, &[]);
    let err = assert_failure(&output, REMOTE, &[]);
    assert_eq!(
        err.lines().next(),
        Some(
            "error: the login test call 1: SOAP fault soap:Client: Invalid password Pw\"<&>'-SECRET-1234"
        ),
        "{err}"
    );
    // A fault echoing the real password: read whole, it is what the mask hides.
    harness.sim.inject_fault(Fault::soap_fault(
        "soap:Client",
        format!("Invalid password {PASSWORD}"),
    ));
    let output = harness.with_connection("test", SOAP_PACKAGE, &[]);
    let err = assert_failure(&output, REMOTE, &[]);
    assert_eq!(
        err.lines().next(),
        Some("error: the login test call 1: SOAP fault soap:Client: Invalid password ********"),
        "{err}"
    );
}

#[test]
fn a_failure_message_reaches_the_run_as_the_server_wrote_it() {
    let harness = Harness::new(3);
    harness.sim.inject_fault(Fault::failure_status(
        "Security.listRolesRq",
        "Role \"R&D\" <locked>\tby 'ops'",
    ));
    let output = harness.import(SOAP_PACKAGE);
    assert_failure(
        &output,
        REMOTE,
        &[
            "ACCOUNTS_IMPORT_JSON call 2: Security.listRolesRs answered status \"Failure\": Role \"R&D\" <locked>\\tby 'ops'",
        ],
    );
    let runs = harness.list("runs");
    assert_eq!(
        runs[0]["error"].as_str(),
        Some(
            "ACCOUNTS_IMPORT_JSON call 2: Security.listRolesRs answered status \"Failure\": Role \"R&D\" <locked>\tby 'ops'"
        ),
        "{}",
        runs[0]
    );
}

#[test]
fn a_character_xml_forbids_in_a_response_fails_the_import_with_its_place_and_stores_nothing() {
    for (name, character) in [("ali\u{0}ce", "U+0000"), ("esc\u{1b}[2J", "U+001B")] {
        let harness = Harness::new(3);
        harness.sim.inject_fault(Fault::raw_name(name));

        let output = harness.import(SOAP_PACKAGE);

        let message = assert_failure(
            &output,
            REMOTE,
            &[
                "ACCOUNTS_IMPORT_JSON call 1: unexpected response: ",
                &format!(
                    "the character {character} in the tag `<User>`, which XML 1.0 forbids (at byte "
                ),
            ],
        );
        assert!(!message.contains(name), "{message}");
        assert_eq!(harness.list("accounts"), Vec::<Value>::new());
        let runs = harness.list("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0]["outcome"], "failed", "{}", runs[0]);
    }
}

/// A value no XML document can carry (here an account name holding ESC, as a careless server
/// may have sent it before it was refused) is not bound into a request: changed, it would name
/// another account.
#[test]
fn a_value_xml_cannot_carry_is_not_sent_and_the_task_says_why() {
    let harness = Harness::new(10);
    assert_success(&harness.import(SOAP_PACKAGE));
    let store = rusqlite::Connection::open(harness.db()).unwrap();
    let renamed = store
        .execute(
            "UPDATE accounts SET name = 'esc' || char(27) || 'ape', \
             columns = json_set(columns, '$[0][1]', 'esc' || char(27) || 'ape') \
             WHERE name = 'party.parrot'",
            [],
        )
        .unwrap();
    assert_eq!(renamed, 1);
    drop(store);
    harness.sim.clear_requests();

    let output = run_with(
        &harness,
        "disable",
        &package(SOAP_PACKAGE).display().to_string(),
        &["--account", "esc\u{1b}ape"],
    );

    assert_failure(
        &output,
        CONFIGURATION,
        &["the value holds the character U+001B, which XML 1.0 cannot carry: it is not sent"],
    );
    assert_eq!(harness.sim.received(), Vec::new(), "nothing was sent");
}

/// `dcconn validate` of the shipped package with `sets` (`NAME=VALUE` each); its output.
fn validate(harness: &Harness, sets: &[String]) -> Output {
    let mut args: Vec<String> = vec!["validate".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    for set in sets {
        args.extend(["--set".to_string(), set.clone()]);
    }
    harness.dcconn(&args)
}

/// Asserts that validation fails as a configuration error and prints exactly `lines`.
#[track_caller]
fn assert_reported(output: &Output, lines: &[&str]) {
    assert_eq!(
        output.status.code(),
        Some(CONFIGURATION),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
    let printed: Vec<&str> = std::str::from_utf8(&output.stdout)
        .unwrap()
        .lines()
        .collect();
    assert_eq!(printed, lines);
}

#[test]
fn validate_reports_each_endpoint_url_the_host_would_refuse_with_its_place() {
    let harness = Harness::new(1);
    let cases: &[(&str, &str)] = &[
        (
            "http://127.0.0.1:65536/dc/services",
            "error: SOAP_ENDPOINT (character 18): the port `65536` is out of range: a port is 1 to 65535",
        ),
        (
            "http://127.0.0.1:+8080/dc/services",
            "error: SOAP_ENDPOINT (character 18): the port `+8080` is not a number: write digits only",
        ),
        (
            "http://dc.example.com:A:B/dc/services",
            "error: SOAP_ENDPOINT (character 24): a second `:` after the host: the port is one number, and an IPv6 address is written in brackets ([::1]:8080)",
        ),
        (
            "https://dc.example.com/Duck Creek/Server.svc",
            "error: SOAP_ENDPOINT (character 28): a space in the path: write it percent-encoded as %20",
        ),
        (
            "https://dc%3aexample.com/Server.svc",
            "error: SOAP_ENDPOINT (character 11): percent-encoding (`%3a`) in the host is not accepted: write the host name as it is",
        ),
        (
            "https://svc:pw@dc.example.com/Server.svc",
            "error: SOAP_ENDPOINT (character 15): credentials in the URL (user@host) are not accepted: use USERNAME and PASSWORD",
        ),
        (
            "https://dc.example.com/Server.svc?\r\nX-Evil: 1",
            "error: SOAP_ENDPOINT (character 35): a control character (U+000D) in the query",
        ),
        (
            "http://[::1/dc/services",
            "error: SOAP_ENDPOINT (character 8): a `[` opens an IPv6 address that no `]` closes: write it as [::1]:8080",
        ),
    ];
    for (url, line) in cases {
        let output = validate(&harness, &[format!("SOAP_ENDPOINT={url}")]);
        assert_reported(&output, &[line]);
    }
}

#[test]
fn validate_reports_a_token_url_the_host_would_refuse_with_its_connection_and_place() {
    let harness = Harness::new(1);
    let connection = |url: &str| {
        json!({"authentications": {"gw": {
            "authType": "oauth2",
            "url": url,
            "httpParams": {"grant_type": "client_credentials", "client_id": "${USERNAME}", "client_secret": "${PASSWORD}"}
        }}})
        .to_string()
    };
    let cases: &[(&str, &str)] = &[
        (
            "https://gw.example.com:99999/oauth/token",
            "error: CONNECTIONJSON (gw.url, character 24): the port `99999` is out of range: a port is 1 to 65535",
        ),
        (
            "https://gw.example.com/oauth/to ken",
            "error: CONNECTIONJSON (gw.url, character 32): a space in the path: write it percent-encoded as %20",
        ),
        (
            "https://gw%2eexample.com/oauth/token",
            "error: CONNECTIONJSON (gw.url, character 11): percent-encoding (`%2e`) in the host is not accepted: write the host name as it is",
        ),
    ];
    for (url, line) in cases {
        let output = validate(&harness, &[format!("CONNECTIONJSON={}", connection(url))]);
        let printed = stdout(&output);
        assert_eq!(
            output.status.code(),
            Some(CONFIGURATION),
            "{printed}{}",
            stderr(&output)
        );
        let errors: Vec<&str> = printed
            .lines()
            .filter(|line| line.starts_with("error:"))
            .collect();
        assert_eq!(errors, [*line]);
    }
}

#[test]
fn validate_reports_a_literal_header_value_a_header_cannot_carry_with_its_place() {
    let harness = Harness::new(1);
    let shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    let mut plan = shipped["ACCOUNTS_IMPORT_JSON"].clone();
    plan["REQUESTPARAMS1"] = json!({"X-Trace": "abc\r\nX-Evil: 1"});
    plan["SOAPACTION2"] = json!("urn:list\nroles");
    let output = validate(&harness, &[format!("ACCOUNTS_IMPORT_JSON={plan}")]);
    assert_reported(
        &output,
        &[
            "error: ACCOUNTS_IMPORT_JSON (REQUESTPARAMS1.X-Trace, line 1, column 4): the value of header `X-Trace` holds a carriage return (CR), which an HTTP header value cannot carry: remove it",
            "error: ACCOUNTS_IMPORT_JSON (SOAPACTION2, line 1, column 9): the value of SOAPACTION (the SOAPAction header) holds a line feed (LF), which an HTTP header value cannot carry: remove it",
        ],
    );
}

#[test]
fn good_urls_and_header_values_still_validate() {
    let harness = Harness::new(1);
    let shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    let mut plan = shipped["ACCOUNTS_IMPORT_JSON"].clone();
    plan["REQUESTPARAMS1"] = json!({"X-Trace": "a\tb ${USERNAME}"});
    plan["SOAPACTION2"] = json!("urn:listRoles");
    for endpoint in [
        "https://dc.example.com/DuckCreek/Server.svc",
        "http://127.0.0.1:65535/dc/services?x=1#top",
        "https://[2001:db8::1]:8443/Server.svc",
        "  https://DC.example.com:/a%20b/Server.svc  ",
    ] {
        let output = validate(
            &harness,
            &[
                format!("SOAP_ENDPOINT={endpoint}"),
                format!("ACCOUNTS_IMPORT_JSON={plan}"),
            ],
        );
        assert_success(&output);
        assert_eq!(stdout(&output), "no problems found\n", "{endpoint}");
    }
}
