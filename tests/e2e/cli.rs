//! The command line's conveniences: shell completions, `show account`.

use std::process::Command;

use crate::support::*;

fn dcconn(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dcconn"))
        .args(args)
        .output()
        .expect("dcconn runs")
}

#[test]
fn completion_scripts_name_every_command_and_bash_accepts_its_own() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = dcconn(&["completions", shell]);
        assert_success(&output);
        let script = stdout(&output);
        for command in ["import", "retry", "accounts", "completions"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dcconn.bash");
    std::fs::write(&path, stdout(&dcconn(&["completions", "bash"]))).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(syntax.status.success(), "{}", stderr(&syntax));
}

#[test]
fn an_unknown_shell_is_a_usage_error_that_lists_the_shells() {
    let output = dcconn(&["completions", "tcsh"]);
    assert_failure(&output, 2, &["bash", "zsh", "fish"]);
}
