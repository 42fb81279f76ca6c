//! Replays every input kept under `tests/fuzz_regressions/<target>/` through the code of the
//! fuzz target of that name (`fuzz/src/lib.rs`, included here), so an input that once crashed
//! the target (a panic, or more than [`DEADLINE`], as libFuzzer's `-timeout` of `make fuzz`)
//! fails this test if the bug comes back. `make fuzz` runs the targets themselves.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

#[path = "../../fuzz/src/lib.rs"]
mod harness;

/// How long one input may take, as `make fuzz` allows (its `FUZZ_TIMEOUT`).
const DEADLINE: Duration = Duration::from_secs(10);

/// The kept inputs of one target, with their file names.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| {
            let path = entry.expect("a readable folder").path();
            let bytes = std::fs::read(&path).expect("a readable input");
            (path.display().to_string(), bytes)
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "{} holds no input", folder.display());
    found
}

/// Runs `run` on every input of `target`, each on its own thread with [`DEADLINE`], naming the
/// input that panics or overruns.
fn replay(target: &str, run: fn(&[u8])) {
    for (name, bytes) in inputs(target) {
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            run(&bytes);
            let _ = done.send(());
        });
        match finished.recv_timeout(DEADLINE) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{name} takes more than {DEADLINE:?} in the `{target}` target again")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("{name} crashes the `{target}` target again")
            }
        }
    }
}

#[test]
fn paths_inputs_no_longer_crash() {
    replay("paths", harness::paths);
}

#[test]
fn templates_inputs_no_longer_crash() {
    replay("templates", harness::templates);
}

#[test]
fn config_inputs_no_longer_crash() {
    replay("config", harness::config);
}

#[test]
fn config_inputs_split_into_the_attributes() {
    let pairs = harness::config_pairs("https://h/p\nSOAP\nCLIENT_ID=c\n{}\nx\n\n\n\nsvc\nmore");
    let expected = [
        ("PASSWORD", "pw"),
        ("SOAP_ENDPOINT", "https://h/p"),
        ("SOAP_OR_XML", "SOAP"),
        ("CLIENT_ID", "c"),
        ("ACCOUNTS_IMPORT_JSON", "{}"),
        ("ENABLEACCOUNTJSON", "x"),
        ("DISABLEACCOUNTJSON", ""),
        ("STATUS_THRESHOLD_CONFIG", ""),
        ("CONNECTIONJSON", ""),
        ("USERNAME", "svc\nmore"),
    ];
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(pairs, expected);
}
