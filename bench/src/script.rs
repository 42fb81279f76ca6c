//! The script reference: `bench/script/import.py`, the import a Duck Creek administrator would
//! write by hand in Python (requests, lxml's `iterparse`, the standard `sqlite3`), run by the
//! Python of the interop tests' virtual environment, where `make bench` installs its packages.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The venv's Python: `target/interop/venv/bin/python` of the workspace.
pub fn python() -> PathBuf {
    workspace().join("target/interop/venv/bin/python")
}

/// The script: `bench/script/import.py`.
pub fn path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("script/import.py")
}

/// Fails, saying how to set it up, unless `python` exists and imports requests and lxml.
pub fn check(python: &Path) -> Result<()> {
    let ready = python.exists()
        && Command::new(python)
            .args(["-c", "import requests, lxml.etree"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
    if !ready {
        bail!(
            "the script reference needs {} with requests and lxml: run `make bench` (it installs \
             bench/script/requirements.txt into that venv)",
            python.display()
        );
    }
    Ok(())
}

/// `python script ENDPOINT USERNAME DB`; the password goes in the `PASSWORD_VARIABLE`
/// environment variable, which the caller sets.
pub fn command(python: &Path, script: &Path, endpoint: &str, username: &str, db: &Path) -> Command {
    let mut command = Command::new(python);
    command.arg(script).arg(endpoint).arg(username).arg(db);
    command
}
