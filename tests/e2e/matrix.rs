//! The fault-injection matrix: every way the remote side misbehaves, for an import and for a
//! provisioning task. Each fault gives a typed error or a correct result, never a panic or a
//! hang; a failed import changes nothing (no reconciliation on anything partial), a failed
//! provisioning attempt leaves its task queued for the retry job.

use std::time::{Duration, Instant};

use dcsim::Fault;

use crate::support::*;

const REMOTE: i32 = 5;

/// What a fault must lead to.
enum Expect {
    /// The import completes with the right data (the failure passed or was harmless).
    Success,
    /// The import fails with exit code 5 and this fragment in its message.
    Failure(&'static str),
}

/// One row: a name, the fault, extra `dcconn` arguments, what must happen.
type Row = (&'static str, Fault, &'static [&'static str], Expect);

fn users_call(fault: Fault) -> Fault {
    fault.for_operation("OnlineData.listEntityUsersRq")
}

fn rows() -> Vec<Row> {
    use Expect::*;
    vec![
        (
            "HTTP 500 once",
            users_call(Fault::http_status(500)),
            &[],
            Success,
        ),
        (
            "HTTP 502 once",
            users_call(Fault::http_status(502)),
            &[],
            Success,
        ),
        (
            "HTTP 503 with Retry-After",
            users_call(Fault::http_status(503).with_retry_after(1)),
            &[],
            Success,
        ),
        (
            "HTTP 503 on every try",
            users_call(Fault::http_status(503).times(3)),
            &[],
            Failure("call 1: HTTP status 503"),
        ),
        (
            "HTTP 429 with Retry-After",
            users_call(Fault::http_status(429).with_retry_after(1)),
            &[],
            Success,
        ),
        (
            "reset in the middle of the body",
            users_call(Fault::reset(3000)),
            &[],
            Failure("call 1: transport failure: reading the response"),
        ),
        (
            "a body that stalls",
            users_call(Fault::stall(3000)),
            &["--between-bytes-timeout-ms", "300"],
            Failure("call 1: transport failure: reading the response"),
        ),
        (
            "truncated XML",
            users_call(Fault::truncate(3000)),
            &[],
            Failure("it was cut short"),
        ),
        (
            "malformed XML",
            Fault::malformed(),
            &[],
            Failure("call 1: unexpected response: ill-formed document: expected `</responses>`"),
        ),
        (
            "a non-XML body",
            Fault::non_xml(),
            &[],
            Failure("call 1: unexpected response: the body is not XML"),
        ),
        (
            "a SOAP 1.1 fault",
            Fault::soap_fault("soap:Server", "Database unavailable"),
            &[],
            Failure("call 1: SOAP fault soap:Server: Database unavailable"),
        ),
        (
            "a SOAP 1.2 fault",
            Fault::soap12_fault("env:Receiver", "Overloaded"),
            &[],
            Failure("call 1: SOAP fault env:Receiver: Overloaded"),
        ),
        (
            "Failure on one operation of the batch",
            Fault::failure_status("Security.listRolesRq", "Role catalogue locked"),
            &[],
            Failure(
                "call 2: Security.listRolesRs answered status \"Failure\": Role catalogue locked",
            ),
        ),
        (
            "a wrong content type",
            Fault::content_type("application/json"),
            &[],
            Success,
        ),
        (
            "a gzip-encoded body",
            users_call(Fault::gzip()),
            &[],
            Failure("call 1: unexpected response: the body is not XML but gzip-compressed"),
        ),
        (
            "chunked transfer",
            users_call(Fault::chunked()),
            &[],
            Success,
        ),
        (
            "a UTF-8 byte-order mark",
            users_call(Fault::bom()),
            &[],
            Success,
        ),
        (
            "entity expansion (billion laughs)",
            Fault::billion_laughs(),
            &[],
            Failure("DOCTYPE, which is refused"),
        ),
        (
            "an external entity (XXE)",
            Fault::external_entity(),
            &[],
            Failure("DOCTYPE, which is refused"),
        ),
        (
            "nesting 10,000 levels deep",
            users_call(Fault::deep_nesting(10_000)),
            &[],
            Failure("nested deeper than 256 levels"),
        ),
        // Within 64 MiB of component memory although the attribute is 100 MB.
        (
            "a 100 MB attribute value",
            Fault::huge_attribute(100_000_000),
            &["--limit-memory-mib", "64"],
            Failure("longer than 16 MiB"),
        ),
    ]
}

/// Every row against one simulator: a good import first, then for each row a changed user and
/// the fault; the import either applies exactly the change or fails and changes nothing.
#[test]
fn each_fault_gives_a_typed_error_or_a_correct_result_for_an_import() {
    let harness = Harness::new(30);
    assert_success(&harness.import(SOAP_PACKAGE));
    for (index, (name, fault, extra, expect)) in rows().into_iter().enumerate() {
        let before = harness.snapshot();
        let mut user = harness.sim.dataset().user("no.access").cloned().unwrap();
        user.full_name = format!("Changed {index}");
        harness.sim.set_user(user);
        harness.sim.clear_faults();
        harness.sim.inject_fault(fault);
        let started = Instant::now();
        let output = harness.with_connection("import", SOAP_PACKAGE, extra);
        let elapsed = started.elapsed();
        harness.sim.release_stall();
        assert!(
            elapsed < Duration::from_secs(60),
            "{name}: took {elapsed:?}"
        );
        assert!(
            harness.sim.pending_faults().is_empty(),
            "{name}: the fault never fired"
        );
        if name.contains("Retry-After") {
            assert!(
                elapsed >= Duration::from_secs(1),
                "{name}: Retry-After was not waited for ({elapsed:?})"
            );
        }
        match expect {
            Expect::Success => {
                assert_success(&output);
                let accounts = harness.list("accounts");
                let changed = accounts.iter().find(|a| a["name"] == "no.access").unwrap();
                assert_eq!(
                    changed["columns"]["displayname"],
                    format!("Changed {index}"),
                    "{name}: the import applied the change"
                );
            }
            Expect::Failure(fragment) => {
                assert_failure(&output, REMOTE, &[fragment]);
                assert_eq!(harness.snapshot(), before, "{name}: the store changed");
                let runs = harness.list("runs");
                assert_eq!(runs[0]["outcome"], "failed", "{name}: {:?}", runs[0]);
            }
        }
    }
}

/// A disable under each fault: the attempt fails with a typed error and the task waits in the
/// queue; the retry job then completes every one of them.
#[test]
fn each_fault_leaves_a_provisioning_task_queued_for_the_retry_job() {
    let harness = Harness::new(30);
    assert_success(&harness.import(SOAP_PACKAGE));
    let lock = "Security.lockUserAccountRq";
    let faults: Vec<(&str, Fault, &str)> = vec![
        ("HTTP 500", Fault::http_status(500), "HTTP status 500"),
        (
            "HTTP 503 with Retry-After",
            Fault::http_status(503).with_retry_after(1),
            "HTTP status 503",
        ),
        ("HTTP 429", Fault::http_status(429), "HTTP status 429"),
        (
            "reset",
            Fault::reset(100).for_operation(lock),
            "transport failure",
        ),
        (
            "malformed XML",
            Fault::malformed().for_operation(lock),
            "ill-formed document",
        ),
        ("non-XML", Fault::non_xml(), "the body is not XML"),
        (
            "SOAP 1.2 fault",
            Fault::soap12_fault("env:Receiver", "Busy"),
            "SOAP fault env:Receiver: Busy",
        ),
        (
            "Failure status",
            Fault::failure_status(lock, "Record locked"),
            "answered status \"Failure\": Record locked",
        ),
        ("gzip", Fault::gzip().for_operation(lock), "gzip-compressed"),
        (
            "deep nesting",
            Fault::deep_nesting(10_000).for_operation(lock),
            "nested deeper than 256 levels",
        ),
    ];
    let accounts: Vec<String> = harness
        .list("accounts")
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .take(faults.len())
        .collect();
    for ((name, fault, fragment), account) in faults.into_iter().zip(&accounts) {
        harness.sim.clear_faults();
        harness.sim.inject_fault(fault);
        let mut args: Vec<String> = vec!["disable".into(), "--account".into(), account.clone()];
        args.extend(harness.connection_args(SOAP_PACKAGE));
        let output = harness.dcconn(&args);
        assert_eq!(
            output.status.code(),
            Some(REMOTE),
            "{name}: {}",
            stderr(&output)
        );
        assert!(
            stdout(&output).contains("PENDING PROVISIONING") && stdout(&output).contains(fragment),
            "{name}: {}",
            stdout(&output)
        );
    }
    harness.sim.clear_faults();
    let mut args: Vec<String> = vec!["retry".into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args.extend(["--backoff-ms", "10", "--max-backoff-ms", "20"].map(String::from));
    assert_success(&harness.dcconn(&args));
    let tasks = harness.list("tasks");
    assert_eq!(tasks.len(), accounts.len());
    assert!(
        tasks.iter().all(|t| t["status"] == "COMPLETE"),
        "{tasks:#?}"
    );
    let dataset = harness.sim.dataset();
    for account in &accounts {
        assert_eq!(dataset.user(account).unwrap().status, "Locked", "{account}");
    }
}

/// A port nothing listens on: bound, then released.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("its address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/dc/services")
}

/// Connection refused: the import fails after its tries and changes nothing; a provisioning
/// attempt leaves its task queued.
#[test]
fn a_refused_connection_is_a_typed_failure_for_an_import_and_a_task() {
    let harness = Harness::new(10);
    assert_success(&harness.import(SOAP_PACKAGE));
    let before = harness.snapshot();
    let url = closed_port_url();
    let endpoint = format!("SOAP_ENDPOINT={url}");
    let output = harness.with_connection("import", SOAP_PACKAGE, &["--set", &endpoint]);
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches("/dc/services");
    assert_failure(
        &output,
        REMOTE,
        &[&format!(
            "ACCOUNTS_IMPORT_JSON call 1: transport failure: cannot connect to {address} ({url}): connection refused"
        )],
    );
    assert_eq!(harness.snapshot(), before);
    let output = harness.with_connection(
        "disable",
        SOAP_PACKAGE,
        &["--account", "party.parrot", "--set", &endpoint],
    );
    assert_eq!(output.status.code(), Some(REMOTE), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("PENDING PROVISIONING")
            && stdout(&output).contains("connection refused"),
        "{}",
        stdout(&output)
    );
}
