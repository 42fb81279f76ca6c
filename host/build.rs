//! Build facts for `dcconn --version`: the git commit the binary was built from and the WIT
//! package the host was built against, as `DCCONN_GIT_COMMIT` and `DCCONN_WIT_PACKAGE`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let wit_dir = manifest_dir.join("../wit");
    println!("cargo:rerun-if-changed={}", wit_dir.display());
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("src").display()
    );
    watch_git(&manifest_dir);
    println!(
        "cargo:rustc-env=DCCONN_GIT_COMMIT={}",
        commit(&manifest_dir)
    );
    println!(
        "cargo:rustc-env=DCCONN_WIT_PACKAGE={}",
        wit_package(&wit_dir).unwrap_or_else(|| "unknown".to_owned())
    );
}

/// The commit: git's short hash, with `-dirty` when tracked files differed from it; `unknown`
/// without git or outside a repository (a build from a source archive).
fn commit(dir: &Path) -> String {
    let Some(hash) = git(dir, &["rev-parse", "--short", "HEAD"]) else {
        return "unknown".to_owned();
    };
    match git(dir, &["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if changes.is_empty() => hash,
        Some(_) => format!("{hash}-dirty"),
        None => "unknown".to_owned(),
    }
}

/// Reruns this script when the commit or the index moves (a commit, a checkout, `git add`);
/// edits of the host's sources rerun it through `src` above. Only files that exist are watched:
/// cargo takes a missing one as changed, and would rerun the script on every build.
fn watch_git(dir: &Path) {
    let git_path = |what: &str| {
        git(dir, &["rev-parse", "--git-path", what])
            .map(|path| dir.join(path))
            .filter(|path| path.exists())
    };
    for what in ["HEAD", "index", "packed-refs"] {
        if let Some(path) = git_path(what) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    if let Some(reference) = git(dir, &["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git_path(&reference)
    {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// What `git ARGS` printed in `dir`, trimmed; `None` when git is missing or fails. Optional
/// locks are off: `git status` would otherwise refresh the index it is watched through, and
/// every build would run this script again.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The `package` of the world's WIT files (`duckcreek:connector@0.2.1`): the first
/// `package NAME;` line of the `.wit` files directly in `dir`, in name order.
fn wit_package(dir: &Path) -> Option<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "wit"))
        .collect();
    files.sort();
    files.iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|line| {
            let name = line.trim().strip_prefix("package ")?;
            Some(name.trim_end_matches(';').trim().to_owned())
        })
    })
}
