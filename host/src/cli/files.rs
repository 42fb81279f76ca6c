//! The files commands write (`report -o`, `package export -o`): never the store, never a
//! device or a folder, never half a file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{Failure, exit, print};

/// The first bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Writes `text` to `path`, or to standard output for `-`. The file is written beside its
/// target and renamed into place, so it is whole or absent. Refused (exit 2), with nothing
/// written: the store (`store`) or one of its companion files, any other SQLite database, and a
/// path that exists but is not a regular file (a folder, a device, a FIFO).
pub(super) fn write_output(store: &Path, path: &Path, text: &str) -> Result<u8, Failure> {
    if path == Path::new("-") {
        return print(|out| out.write_all(text.as_bytes()));
    }
    refuse_unsafe_target(store, path)?;
    let partial = partial_path(path);
    let written = std::fs::File::create(&partial)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&partial, path));
    written.map_err(|error| {
        let _ = std::fs::remove_file(&partial);
        Failure {
            message: format!(
                "cannot write {}: {error}; check the folder and its permissions",
                path.display()
            ),
            code: exit::INTERNAL,
        }
    })?;
    Ok(exit::OK)
}

/// Refuses a target that must not be replaced by an output file.
fn refuse_unsafe_target(store: &Path, path: &Path) -> Result<(), Failure> {
    let refuse = |why: String| Failure {
        message: format!(
            "will not write {}: {why}; choose another file",
            path.display()
        ),
        code: exit::USAGE,
    };
    if crate::store::is_store_file(store, path) {
        return Err(refuse(format!(
            "it is the store ({}) or one of its files",
            store.display()
        )));
    }
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(refuse(format!(
            "its folder {} does not exist",
            folder.display()
        )));
    }
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    let regular = std::fs::metadata(path)
        .map(|m| m.is_file())
        .unwrap_or(false);
    if !regular {
        return Err(refuse("it exists and is not a regular file".to_owned()));
    }
    if is_sqlite_database(path) {
        return Err(refuse("it holds a SQLite database".to_owned()));
    }
    Ok(())
}

/// Whether the file starts with SQLite's header.
fn is_sqlite_database(path: &Path) -> bool {
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut header))
        .is_ok_and(|()| &header == SQLITE_HEADER)
}

/// Where a file is written before it is renamed to `path`: beside it, named after this process.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".partial-{}", std::process::id()));
    PathBuf::from(name)
}
