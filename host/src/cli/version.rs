//! `dcconn --version`: what was built (version, commit, WIT package) and which component this
//! `dcconn` would run, with its digest. It never fails: a missing component is reported as such.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::component::NotFound;

/// The git commit `dcconn` was built from (`-dirty` when tracked files differed), or `unknown`.
pub const COMMIT: &str = env!("DCCONN_GIT_COMMIT");

/// The WIT package the host was built against (`duckcreek:connector@0.2.1`).
pub const WIT_PACKAGE: &str = env!("DCCONN_WIT_PACKAGE");

/// The version text: one `key: value` line per fact after the first line.
///
/// ```text
/// dcconn 0.1.0
/// commit: 5f9da7e-dirty
/// wit-package: duckcreek:connector@0.2.1
/// component: /usr/local/share/dcconn/duckcreek_connector.wasm
/// component-sha256: 3b4c...
/// ```
pub fn text(component: Result<PathBuf, NotFound>) -> String {
    let (location, digest) = match component {
        Ok(path) => match sha256_of(&path) {
            Ok(digest) => (path.display().to_string(), digest),
            Err(error) => (
                format!("not found at {} ({error})", path.display()),
                "none".to_owned(),
            ),
        },
        Err(not_found) => (
            format!("not found (looked in {})", list(&not_found.looked)),
            "none".to_owned(),
        ),
    };
    format!(
        "dcconn {}\ncommit: {COMMIT}\nwit-package: {WIT_PACKAGE}\ncomponent: {location}\ncomponent-sha256: {digest}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The file's SHA-256, in lower-case hex: of a regular file of at most the size a component
/// may have (`--component /dev/zero` or a FIFO is refused at once, never read forever).
fn sha256_of(path: &Path) -> std::io::Result<String> {
    let file = crate::regular_file::open(path)?;
    let limit = crate::runtime::MAX_COMPONENT_BYTES;
    let mut hasher = Sha256::new();
    let copied = std::io::copy(&mut std::io::Read::take(file, limit + 1), &mut hasher)?;
    if copied > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it holds more than {limit} bytes, the most a component may hold"),
        ));
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
