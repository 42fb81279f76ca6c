//! A soak: many imports and provisioning runs in a row in one host process, through the `dcconn`
//! library (one `Runtime`, as an IGA platform embedding the host would keep), with the process's
//! memory and open files compared before and after. Built as its own test binary
//! (`tests/soak/main.rs`), so that no other test shares the process it measures.

use dcconn::connection::Connection;
use dcconn::jobs::{import, provision};
use dcconn::model::{CorrelationRule, ImportScope};
use dcconn::runtime::Runtime;
use dcconn::store::{Store, TaskKind};

use crate::support::*;

/// Rounds of one import and one disable/enable pair each.
const ROUNDS: usize = 200;

/// Rounds run before the first measurement, so that caches, pools and the allocator settle.
const WARM_UP: usize = 5;

/// Resident memory growth tolerated over the measured rounds: far below what a leak of one
/// instance, one response or one store connection per round would add.
const MAX_RSS_GROWTH_KIB: u64 = 16 * 1024;

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc is mounted");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS is reported")
}

/// Open descriptors: (sockets, everything else). The simulator runs in this process, so its
/// connections come and go with the clients'; files, pipes and event descriptors must not.
fn open_descriptors() -> (usize, usize) {
    let mut sockets = 0;
    let mut others = 0;
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc is mounted") {
        let Ok(entry) = entry else { continue };
        match std::fs::read_link(entry.path()) {
            Ok(target) if target.to_string_lossy().starts_with("socket:") => sockets += 1,
            Ok(_) => others += 1,
            // Closed between listing and reading: it was neither kept nor leaked.
            Err(_) => {}
        }
    }
    (sockets, others)
}

/// Sockets that may be open at a measurement without being leaked: connections still closing
/// on either side of the loopback.
const SOCKET_SLACK: usize = 4;

fn round(runtime: &Runtime, store: &mut Store, connection: &Connection) {
    let correlation = CorrelationRule::default();
    let request = import::ImportRequest {
        connection,
        endpoint: "soak",
        scope: ImportScope::All,
        max_batch: 0,
        dry_run: false,
        correlation: &correlation,
        wait: None,
        accept_removals: None,
    };
    let report = import::run(runtime, store, &request, &mut |_| {})
        .unwrap_or_else(|failure| panic!("import failed: {}", failure.error));
    assert_eq!(report.summary.accounts, 60);
    let policy = provision::RetryPolicy::default();
    for kind in [TaskKind::Disable, TaskKind::Enable] {
        let task = provision::request(
            runtime,
            store,
            &provision::ProvisionRequest {
                connection,
                endpoint: "soak",
                account: "party.parrot",
                kind,
                queue: false,
            },
            &policy,
        )
        .unwrap_or_else(|error| panic!("provisioning failed: {error}"));
        assert!(task.refused.is_none(), "{:?}", task.refused);
        assert_eq!(
            task.requested.into_task().status,
            dcconn::store::TaskStatus::Complete
        );
    }
}

#[test]
fn many_jobs_in_one_process_leak_neither_memory_nor_files() {
    let harness = Harness::new(60);
    let runtime = Runtime::load(component(), Some(&cache_dir())).expect("the component loads");
    let mut store = Store::open(&harness.db()).expect("the store opens");
    let connection = harness.soap_connection(PASSWORD);
    for _ in 0..WARM_UP {
        round(&runtime, &mut store, &connection);
    }
    let (rss_before, (sockets_before, files_before)) = (resident_kib(), open_descriptors());
    for _ in 0..ROUNDS {
        round(&runtime, &mut store, &connection);
    }
    let (rss_after, (sockets_after, files_after)) = (resident_kib(), open_descriptors());
    eprintln!(
        "soak: {ROUNDS} rounds (import of 60 users, disable, enable): RSS {rss_before} -> {rss_after} KiB, open files {files_before} -> {files_after}, sockets {sockets_before} -> {sockets_after}"
    );
    assert_eq!(files_after, files_before, "open files grew");
    assert!(
        sockets_after <= sockets_before + SOCKET_SLACK,
        "sockets grew from {sockets_before} to {sockets_after}"
    );
    assert!(
        rss_after <= rss_before + MAX_RSS_GROWTH_KIB,
        "resident memory grew from {rss_before} to {rss_after} KiB"
    );
    let lock_requests = harness
        .sim
        .requests()
        .iter()
        .flat_map(|r| r.operations.clone())
        .filter(|o| o.name == "Security.lockUserAccountRq")
        .count();
    assert_eq!(lock_requests, WARM_UP + ROUNDS);
}
