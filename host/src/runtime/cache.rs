//! The compiled-component cache: compiling the component takes seconds, loading a compiled
//! one milliseconds, so the first run compiles and writes the result, and later runs load it.
//!
//! A cache entry is named after a SHA-256 of the component bytes and the engine's
//! compatibility hash, so a rebuilt component or another wasmtime never loads a stale entry.
//! Entries are written to a temporary file and renamed, so concurrent runs never see half an
//! entry. Any cache failure falls back to compiling: the cache can only make things faster.
//!
//! A compiled component is native code that wasmtime maps and runs as it is, outside the
//! sandbox, in the process that holds the secrets; wasmtime checks that an entry was made for
//! its engine, not that its code is sound. So only what this user wrote, unchanged, is loaded:
//!
//! - the folder is created `0700`; a folder or an entry that is not owned by this user, or is
//!   writable by its group or by others, is not used: the component is compiled without the
//!   cache, with a warning that says what to change;
//! - an entry starts with a line holding the SHA-256 of the rest; an entry whose rest does not
//!   match (a damaged disk, a file cut short or overwritten) is compiled again and replaced,
//!   with a warning. The digest detects damage; it is no signature (whoever can write the
//!   folder can write a digest too), which is why only a folder no one else can write is used.

use std::fs::{self, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// What an entry starts with, before the SHA-256 (64 hex digits) of the rest and a line break.
const ENTRY_HEADER: &[u8] = b"dcconn compiled component sha256:";

/// The length of the first line of an entry.
const ENTRY_LINE_LEN: usize = ENTRY_HEADER.len() + 64 + 1;

/// The largest entry read: a compiled component is a few MB; anything far larger is not one.
const MAX_ENTRY_BYTES: u64 = 1 << 30;

/// Loads the component from `cache_dir` when a matching entry is there; otherwise compiles it
/// and stores an entry. A folder or an entry that is not safe to load code from is not used,
/// and a damaged entry is replaced (see the module's documentation); each with a warning.
pub fn load_component(
    engine: &Engine,
    bytes: &[u8],
    cache_dir: Option<&Path>,
) -> wasmtime::Result<Component> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes);
    };
    if let Err(problem) = private_dir(dir) {
        tracing::warn!(
            "not using the compiled-component cache {}: {problem}; compiling the component without it (the folder must be this user's and writable by no one else: chmod 700)",
            dir.display()
        );
        return Component::new(engine, bytes);
    }
    let entry = dir.join(entry_name(engine, bytes));
    match read_entry(&entry) {
        Ok(Some(compiled)) => {
            // SAFETY: the entry is this user's, writable by no one else, in a folder of the
            // same kind; its name is the hash of these very component bytes and of the
            // engine's settings, and its digest matched: it is what `store_entry` wrote from
            // `Component::serialize` of this component.
            match unsafe { Component::deserialize(engine, &compiled) } {
                Ok(component) => return Ok(component),
                Err(error) => tracing::warn!(
                    "the compiled-component cache entry {} was refused by wasmtime ({error}); compiling the component again and replacing it",
                    entry.display()
                ),
            }
        }
        Ok(None) => {}
        Err(EntryProblem::Damaged) => tracing::warn!(
            "the compiled-component cache entry {} is damaged (its content does not match its SHA-256); compiling the component again and replacing it",
            entry.display()
        ),
        Err(EntryProblem::Refused(reason)) => {
            tracing::warn!(
                "not using the compiled-component cache entry {}: {reason}; compiling the component without the cache (remove that file to cache again)",
                entry.display()
            );
            return Component::new(engine, bytes);
        }
    }
    let component = Component::new(engine, bytes)?;
    store_entry(&component, &entry);
    Ok(component)
}

/// Why an entry is not loaded.
#[derive(Debug, PartialEq, Eq)]
enum EntryProblem {
    /// It is not what `store_entry` wrote: compile and replace it.
    Damaged,
    /// It may have been written by someone else: compile, and leave it alone.
    Refused(String),
}

/// Creates `dir` (`0700`, with its missing parents) unless it exists; why it is not safe to
/// load code from, if it is not.
fn private_dir(dir: &Path) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|error| format!("it cannot be created ({error})"))?;
    let metadata = fs::metadata(dir).map_err(|error| format!("it cannot be read ({error})"))?;
    if !metadata.is_dir() {
        return Err("it is not a folder".into());
    }
    match unsafe_ownership(&metadata) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// Why a file or folder with this metadata may have been written by someone else than this
/// user: another owner, or write access for its group or others.
fn unsafe_ownership(metadata: &fs::Metadata) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    if metadata.uid() != user {
        return Some(format!(
            "it is owned by uid {}, not by this user (uid {user})",
            metadata.uid()
        ));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
            (true, true) => "its group and by others",
            (true, false) => "its group",
            _ => "others",
        };
        return Some(format!("it is writable by {who} (mode {mode:o})"));
    }
    None
}

/// The compiled component in `entry`, its digest checked; `None` when there is no entry (or
/// it cannot be read: it is then compiled and written anew).
fn read_entry(entry: &Path) -> Result<Option<Vec<u8>>, EntryProblem> {
    // No symbolic link is followed, and a FIFO does not block the open.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(entry)
    {
        Ok(file) => file,
        Err(error) if error.raw_os_error() == Some(libc::ELOOP) => {
            return Err(EntryProblem::Refused("it is a symbolic link".into()));
        }
        Err(_) => return Ok(None),
    };
    let Ok(metadata) = file.metadata() else {
        return Ok(None);
    };
    if !metadata.is_file() {
        return Err(EntryProblem::Refused("it is not a regular file".into()));
    }
    if let Some(problem) = unsafe_ownership(&metadata) {
        return Err(EntryProblem::Refused(problem));
    }
    let mut content = Vec::new();
    if file
        .take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut content)
        .is_err()
    {
        return Ok(None);
    }
    checked(content).map(Some)
}

/// The compiled component of an entry's `content`, when it matches the digest of its first line.
fn checked(mut content: Vec<u8>) -> Result<Vec<u8>, EntryProblem> {
    let line = content.get(..ENTRY_LINE_LEN).ok_or(EntryProblem::Damaged)?;
    let digest = line
        .strip_prefix(ENTRY_HEADER)
        .and_then(|rest| rest.strip_suffix(b"\n"))
        .ok_or(EntryProblem::Damaged)?;
    if digest != hex_digest(&content[ENTRY_LINE_LEN..]).as_bytes() {
        return Err(EntryProblem::Damaged);
    }
    content.drain(..ENTRY_LINE_LEN);
    Ok(content)
}

fn hex_digest(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn entry_name(engine: &Engine, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut engine_hash = DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let hex: String = digest
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    // `-v2`: entries with a digest; those of earlier versions (without) are never read.
    format!("connector-{hex}-{:016x}-v2.cwasm", engine_hash.finish())
}

/// Writes the entry of `component` (`0600`, its digest first) to a temporary file in the
/// entry's folder and renames it over `entry`.
fn store_entry(component: &Component, entry: &Path) {
    let Ok(serialized) = component.serialize() else {
        return;
    };
    let (Some(dir), Some(name)) = (entry.parent(), entry.file_name()) else {
        return;
    };
    let temporary = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        name.to_string_lossy()
    ));
    let _ = fs::remove_file(&temporary);
    let written = write_entry(&temporary, &serialized).and_then(|()| fs::rename(&temporary, entry));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
}

fn write_entry(path: &Path, serialized: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(ENTRY_HEADER)?;
    file.write_all(hex_digest(serialized).as_bytes())?;
    file.write_all(b"\n")?;
    file.write_all(serialized)
}

/// The default cache folder: `$DCCONN_CACHE_DIR`, else `$XDG_CACHE_HOME/dcconn`, else
/// `$HOME/.cache/dcconn`; none when no such variable is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    let from = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    from("DCCONN_CACHE_DIR")
        .or_else(|| from("XDG_CACHE_HOME").map(|dir| dir.join("dcconn")))
        .or_else(|| from("HOME").map(|home| home.join(".cache").join("dcconn")))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn entry(content: &[u8]) -> Vec<u8> {
        let mut entry = ENTRY_HEADER.to_vec();
        entry.extend_from_slice(hex_digest(content).as_bytes());
        entry.push(b'\n');
        entry.extend_from_slice(content);
        entry
    }

    #[test]
    fn an_entry_is_read_only_when_its_digest_matches() {
        assert_eq!(
            checked(entry(b"compiled code")),
            Ok(b"compiled code".to_vec())
        );
        let mut flipped = entry(b"compiled code");
        let last = flipped.len() - 1;
        flipped[last] ^= 0x20;
        assert_eq!(checked(flipped), Err(EntryProblem::Damaged));
        let whole = entry(b"compiled code");
        assert_eq!(
            checked(whole[..whole.len() - 1].to_vec()),
            Err(EntryProblem::Damaged)
        );
        assert_eq!(checked(b"\x7fELF".to_vec()), Err(EntryProblem::Damaged));
        assert_eq!(checked(Vec::new()), Err(EntryProblem::Damaged));
    }

    #[test]
    fn a_folder_or_entry_others_can_write_or_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("a/b/cache");
        assert_eq!(private_dir(&cache), Ok(()));
        assert_eq!(
            fs::metadata(&cache).unwrap().mode() & 0o777,
            0o700,
            "created 0700"
        );
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            private_dir(&cache),
            Err("it is writable by its group and by others (mode 777)".into())
        );
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o1757)).unwrap();
        assert_eq!(
            private_dir(&cache),
            Err("it is writable by others (mode 1757)".into())
        );
        fs::set_permissions(&cache, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(private_dir(&cache), Ok(()));

        let file = cache.join("entry.cwasm");
        fs::write(&file, entry(b"code")).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o664)).unwrap();
        assert_eq!(
            read_entry(&file),
            Err(EntryProblem::Refused(
                "it is writable by its group (mode 664)".into()
            ))
        );
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read_entry(&file), Ok(Some(b"code".to_vec())));
        let link = cache.join("link.cwasm");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(
            read_entry(&link),
            Err(EntryProblem::Refused("it is a symbolic link".into()))
        );
        assert_eq!(read_entry(&cache.join("none.cwasm")), Ok(None));

        // Another owner: only root can make one here.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
            assert_eq!(
                read_entry(&file),
                Err(EntryProblem::Refused(
                    "it is owned by uid 65534, not by this user (uid 0)".into()
                ))
            );
            std::os::unix::fs::chown(&cache, Some(65534), None).unwrap();
            assert_eq!(
                private_dir(&cache),
                Err("it is owned by uid 65534, not by this user (uid 0)".into())
            );
        }
    }
}
