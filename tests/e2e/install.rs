//! Installing: `scripts/install.sh` (what `make install` runs) lays out a prefix; the installed
//! `dcconn`, run from elsewhere with nothing naming its component, finds it and imports; where it
//! looks, in order, and what it says when it finds nothing; `--version`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

use crate::support::*;

/// Runs `scripts/install.sh` with `DESTDIR=stage PREFIX=/usr` and the binary and component
/// under test; the prefix's folder in the stage.
fn install_into(stage: &Path) -> PathBuf {
    let output = Command::new("bash")
        .arg(repository().join("scripts/install.sh"))
        .env("DESTDIR", stage)
        .env("PREFIX", "/usr")
        .env("DCCONN_BIN", env!("CARGO_BIN_EXE_dcconn"))
        .env("DCCONN_COMPONENT", component())
        .env_remove("DCCONN_PROFILE")
        .output()
        .expect("bash runs");
    assert_success(&output);
    let root = stage.join("usr");
    assert_eq!(
        stdout(&output),
        format!(
            "installed dcconn in {}/bin and its component, packages, schemas and example profiles in {}/share/dcconn\n",
            root.display(),
            root.display()
        )
    );
    root
}

/// Every file under `root`, relative to it, sorted.
fn files_under(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a readable folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("under root");
                files.push(relative.display().to_string());
            }
        }
    }
    files.sort();
    files
}

/// The names of the repository folder's files ending in `suffix`, under `prefix`.
fn shipped(folder: &str, suffix: &str, prefix: &str) -> Vec<String> {
    std::fs::read_dir(repository().join(folder))
        .expect("the folder exists")
        .map(|entry| entry.expect("an entry").file_name().into_string().unwrap())
        .filter(|name| name.ends_with(suffix))
        .map(|name| format!("{prefix}{name}"))
        .collect()
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("the file reads");
    Sha256::digest(&bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `dcconn --version`'s lines.
fn version_lines(output: &Output) -> Vec<String> {
    assert_success(output);
    stdout(output).lines().map(str::to_owned).collect()
}

/// The WIT package `wit/connector.wit` declares.
fn wit_package() -> String {
    let text = std::fs::read_to_string(repository().join("wit/connector.wit")).unwrap();
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("package "))
        .expect("a package line");
    line.trim_end_matches(';').to_owned()
}

/// `commit: <short hash>` or `commit: <short hash>-dirty`, the hash git gives for HEAD; any
/// `commit: ` line when git cannot say (no git, no repository: the binary says `unknown`).
fn assert_commit_line(line: &str) {
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repository())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| stdout(&output).trim().to_owned());
    match head {
        Some(hash) => assert!(
            line == format!("commit: {hash}") || line == format!("commit: {hash}-dirty"),
            "{line:?} is not commit {hash}"
        ),
        None => assert!(line.starts_with("commit: "), "{line:?}"),
    }
}

#[test]
fn an_installed_dcconn_finds_its_component_from_any_folder_and_imports() {
    let harness = Harness::new(25);
    let stage = tempfile::tempdir().unwrap();
    let root = install_into(stage.path());

    let mut expected: Vec<String> = [
        "bin/dcconn",
        "share/bash-completion/completions/dcconn",
        "share/dcconn/config.example.toml",
        "share/dcconn/duckcreek_connector.wasm",
        "share/fish/vendor_completions.d/dcconn.fish",
        "share/zsh/site-functions/_dcconn",
    ]
    .map(str::to_owned)
    .to_vec();
    expected.extend(shipped("packages", ".json", "share/dcconn/packages/"));
    expected.extend(shipped("schemas", ".schema.json", "share/dcconn/schemas/"));
    expected.sort();
    assert_eq!(files_under(&root), expected);
    let installed_component = root.join("share/dcconn/duckcreek_connector.wasm");
    assert_eq!(sha256_hex(&installed_component), sha256_hex(component()));
    let bash =
        std::fs::read_to_string(root.join("share/bash-completion/completions/dcconn")).unwrap();
    assert!(bash.contains("_dcconn()"), "{bash}");

    // From another folder, with no --component, DCCONN_COMPONENT or profile.
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let dcconn = root.join("bin/dcconn");
    let package = root.join("share/dcconn/packages/duckcreek.json");
    let output = bare_dcconn(&dcconn, home.path())
        .current_dir(elsewhere.path())
        .args(["import", "--json", "-c"])
        .arg(&package)
        .args([
            "--set",
            &format!("SOAP_ENDPOINT={}", harness.sim.endpoint_url()),
            "--set",
            &format!("USERNAME={USERNAME}"),
            "--set-env",
            &format!("PASSWORD={PASSWORD_VARIABLE}"),
        ])
        .output()
        .unwrap();
    assert_success(&output);
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (
            &summary["outcome"],
            &summary["accounts"],
            &summary["newAccounts"]
        ),
        (
            &serde_json::json!("succeeded"),
            &serde_json::json!(25),
            &serde_json::json!(25)
        )
    );
    assert!(
        elsewhere.path().join("dcconn.db").is_file(),
        "the default store is in the working folder"
    );

    let lines = version_lines(
        &bare_dcconn(&dcconn, home.path())
            .current_dir(elsewhere.path())
            .arg("--version")
            .output()
            .unwrap(),
    );
    assert_eq!(
        lines[3..],
        [
            format!("component: {}", installed_component.display()),
            format!("component-sha256: {}", sha256_hex(component())),
        ]
    );
}

#[test]
fn the_component_is_looked_for_beside_dcconn_then_in_share_then_in_the_data_folder() {
    let place = tempfile::tempdir().unwrap();
    let bin = place.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let dcconn = bin.join("dcconn");
    std::fs::copy(env!("CARGO_BIN_EXE_dcconn"), &dcconn).unwrap();
    let home = tempfile::tempdir().unwrap();
    let beside = bin.join("duckcreek_connector.wasm");
    let share = place.path().join("share/dcconn/duckcreek_connector.wasm");
    let xdg_data = tempfile::tempdir().unwrap();
    let in_xdg = xdg_data.path().join("dcconn/duckcreek_connector.wasm");
    let in_home = home
        .path()
        .join(".local/share/dcconn/duckcreek_connector.wasm");
    // Each copy differs by its trailing bytes, so the digest tells which one was found.
    for (index, path) in [&beside, &share, &in_xdg, &in_home].into_iter().enumerate() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("component {index}")).unwrap();
    }
    let found = |xdg: bool| {
        let mut command = bare_dcconn(&dcconn, home.path());
        if xdg {
            command.env("XDG_DATA_HOME", xdg_data.path());
        }
        let lines = version_lines(&command.arg("--version").output().unwrap());
        lines[3].clone()
    };
    for (path, xdg) in [
        (&beside, true),
        (&share, true),
        (&in_xdg, true),
        (&in_home, false),
    ] {
        assert_eq!(found(xdg), format!("component: {}", path.display()));
        std::fs::remove_file(path).unwrap();
    }

    let looked = [
        beside.display().to_string(),
        share.display().to_string(),
        in_home.display().to_string(),
    ];
    let output = bare_dcconn(&dcconn, home.path())
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        version_lines(&output)[3..],
        [
            format!("component: not found (looked in {})", looked.join(", ")),
            "component-sha256: none".to_owned(),
        ]
    );

    let output = bare_dcconn(&dcconn, home.path())
        .args(["validate", "-c"])
        .arg(package(SOAP_PACKAGE))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        format!(
            "error: cannot find the connector component duckcreek_connector.wasm; looked in:\n  {}\n  {}\n  {}\n  install it there (`make install` puts it in <prefix>/share/dcconn), or give its path with --component FILE or DCCONN_COMPONENT\n",
            looked[0], looked[1], looked[2]
        )
    );
    assert_eq!(stdout(&output), "");
}

#[test]
fn version_names_the_commit_the_wit_package_and_the_components_path_and_digest() {
    let home = tempfile::tempdir().unwrap();
    let dcconn = Path::new(env!("CARGO_BIN_EXE_dcconn"));
    for flag in ["--version", "-V"] {
        let lines = version_lines(
            &bare_dcconn(dcconn, home.path())
                .args(["--component"])
                .arg(component())
                .arg(flag)
                .output()
                .unwrap(),
        );
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert_eq!(lines[0], format!("dcconn {}", env!("CARGO_PKG_VERSION")));
        assert_commit_line(&lines[1]);
        assert_eq!(lines[2], format!("wit-package: {}", wit_package()));
        assert_eq!(lines[3], format!("component: {}", component().display()));
        assert_eq!(
            lines[4],
            format!("component-sha256: {}", sha256_hex(component()))
        );
    }

    // DCCONN_COMPONENT is read too; a component that is not there is said, not an error.
    let missing = home.path().join("missing.wasm");
    let lines = version_lines(
        &bare_dcconn(dcconn, home.path())
            .env("DCCONN_COMPONENT", &missing)
            .arg("--version")
            .output()
            .unwrap(),
    );
    assert_eq!(
        lines[3..],
        [
            format!(
                "component: not found at {} (No such file or directory (os error 2))",
                missing.display()
            ),
            "component-sha256: none".to_owned(),
        ]
    );
}
