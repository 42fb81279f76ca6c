//! The egress policy: the component reaches only what the host allows, whatever it asks.

use dcconn::connection::Connection;
use dcconn::jobs::attributes;
use dcconn::policy::AllowList;
use dcconn::runtime::{Runtime, wit};

use crate::support::*;

#[test]
fn a_request_to_a_host_other_than_the_allowed_one_is_denied_and_never_sent() {
    let harness = Harness::new(3);
    let runtime = Runtime::load(component(), Some(&cache_dir())).unwrap();
    // The host allows another origin than the one the connection names.
    let allowed = AllowList::from_urls(&["http://127.0.0.1:9/"]).unwrap();
    let mut instance = runtime
        .instantiate(allowed, dcconn::secrets::Secrets::default())
        .unwrap();

    let mut connection = Connection::new("policy");
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    for (name, value) in package.as_object().unwrap() {
        let text = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        connection.set(name.clone(), text);
    }
    connection.set("SOAP_ENDPOINT", harness.sim.endpoint_url());
    connection.set("USERNAME", USERNAME);
    connection.set("PASSWORD", PASSWORD);

    let options = wit::ImportOptions {
        scope: wit::ImportScope::Accounts,
        max_batch: 0,
    };
    let import = instance
        .start_import(&attributes(&connection), options)
        .unwrap()
        .unwrap();
    let error = instance.next_batch(&import).unwrap().unwrap_err();
    match &error.kind {
        wit::ErrorKind::Transport(message) => assert!(message.contains("denied"), "{message}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert_eq!(error.site.as_ref().map(|s| s.call), Some(1));
    let denials = instance.denials();
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert!(
        denials[0].contains(&format!("127.0.0.1:{}", harness.sim.port())),
        "{denials:?}"
    );
    assert!(
        harness.sim.requests().is_empty(),
        "the request must never reach the simulator"
    );
}
