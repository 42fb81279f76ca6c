//! The compiled-component cache: compiling the component takes seconds, loading a compiled
//! one milliseconds, so the first run compiles and writes the result, and later runs load it.
//!
//! A cache entry is named after a SHA-256 of the component bytes and the engine's
//! compatibility hash, so a rebuilt component or another wasmtime never loads a stale entry.
//! Entries are written to a temporary file and renamed, so concurrent runs never see half an
//! entry. Any cache failure falls back to compiling: the cache can only make things faster.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Loads the component from `cache_dir` when a matching entry is there; otherwise compiles it
/// and stores an entry.
pub fn load_component(
    engine: &Engine,
    bytes: &[u8],
    cache_dir: Option<&Path>,
) -> wasmtime::Result<Component> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes);
    };
    let entry = dir.join(entry_name(engine, bytes));
    if entry.is_file() {
        // SAFETY: the entry was written by `store_entry` from `Component::serialize` of this
        // very component (its name is the hash of the bytes and of the engine's settings), and
        // entries are only ever replaced by an atomic rename.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &entry) } {
            return Ok(component);
        }
    }
    let component = Component::new(engine, bytes)?;
    store_entry(&component, dir, &entry);
    Ok(component)
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
    format!("connector-{hex}-{:016x}.cwasm", engine_hash.finish())
}

fn store_entry(component: &Component, dir: &Path, entry: &PathBuf) {
    let Ok(serialized) = component.serialize() else {
        return;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let temporary = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        entry
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    ));
    if std::fs::write(&temporary, serialized).is_ok() && std::fs::rename(&temporary, entry).is_err()
    {
        let _ = std::fs::remove_file(&temporary);
    }
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
