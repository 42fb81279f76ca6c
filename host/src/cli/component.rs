//! Where the connector component is when neither `--component`, `DCCONN_COMPONENT` nor a profile
//! names it: beside `dcconn`, in `<prefix>/share/dcconn` (`make install`), in the user's data
//! folder, or, for a `dcconn` that cargo built, in the cargo target folder.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The component's file name, wherever it is installed.
pub const COMPONENT_FILE: &str = "duckcreek_connector.wasm";

/// No component in any of the places looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    /// Every path looked at, in order.
    pub looked: Vec<PathBuf>,
}

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "cannot find the connector component {COMPONENT_FILE}; looked in:"
        )?;
        for path in &self.looked {
            writeln!(f, "  {}", path.display())?;
        }
        write!(
            f,
            "install it there (`make install` puts it in <prefix>/share/dcconn), or give its path with --component FILE or DCCONN_COMPONENT"
        )
    }
}

/// The component for this process: the first of [`candidates`] that is a file.
pub fn find() -> Result<PathBuf, NotFound> {
    let exe = std::env::current_exe().ok();
    let looked = candidates(exe.as_deref(), |name| std::env::var_os(name));
    match looked.iter().find(|path| path.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(NotFound { looked }),
    }
}

/// The places the component is looked for, in order, for the executable `exe`:
/// 1. beside it;
/// 2. `<exe's folder>/../share/dcconn` (`make install PREFIX=...` puts it there);
/// 3. the data folder: `$XDG_DATA_HOME/dcconn`, else `~/.local/share/dcconn`;
/// 4. when `exe` is in a cargo profile folder (`<target>/<profile>`, which holds
///    `.fingerprint`): `<target>/wasm32-wasip2/<profile>`, then `<target>/wasm32-wasip2/release`.
pub fn candidates(exe: Option<&Path>, env: impl Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let mut folders = Vec::new();
    let exe_dir = exe.and_then(Path::parent);
    if let Some(exe_dir) = exe_dir {
        folders.push(exe_dir.to_path_buf());
        if let Some(prefix) = exe_dir.parent() {
            folders.push(prefix.join("share").join("dcconn"));
        }
    }
    if let Some(data) = data_dir(&env) {
        folders.push(data);
    }
    if let Some(exe_dir) = exe_dir.filter(|dir| dir.join(".fingerprint").is_dir()) {
        folders.extend(cargo_target_folders(exe_dir));
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    for folder in folders {
        let path = folder.join(COMPONENT_FILE);
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

/// `$XDG_DATA_HOME/dcconn` (when absolute, as the XDG specification asks), else
/// `$HOME/.local/share/dcconn`.
pub fn data_dir(env: &impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| {
        env(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    set("XDG_DATA_HOME")
        .filter(|dir| dir.is_absolute())
        .or_else(|| set("HOME").map(|home| home.join(".local").join("share")))
        .map(|dir| dir.join("dcconn"))
}

/// Where `cargo build --release --target wasm32-wasip2` puts the component, for a `dcconn` in the
/// cargo profile folder `exe_dir`.
fn cargo_target_folders(exe_dir: &Path) -> Vec<PathBuf> {
    let (Some(target), Some(profile)) = (exe_dir.parent(), exe_dir.file_name()) else {
        return Vec::new();
    };
    let wasm = target.join("wasm32-wasip2");
    vec![wasm.join(profile), wasm.join("release")]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        }
    }

    #[test]
    fn an_installed_dcconn_looks_beside_itself_then_in_share_then_in_the_data_folder() {
        let looked = candidates(
            Some(Path::new("/usr/local/bin/dcconn")),
            env(&[("HOME", "/home/ops"), ("XDG_DATA_HOME", "/data")]),
        );
        assert_eq!(
            looked,
            [
                "/usr/local/bin/duckcreek_connector.wasm",
                "/usr/local/share/dcconn/duckcreek_connector.wasm",
                "/data/dcconn/duckcreek_connector.wasm",
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn the_data_folder_is_under_home_when_xdg_data_home_is_unset_empty_or_relative() {
        for xdg in [None, Some(""), Some("relative/data")] {
            let mut pairs = vec![("HOME", "/home/ops")];
            pairs.extend(xdg.map(|value| ("XDG_DATA_HOME", value)));
            assert_eq!(
                data_dir(&env(&pairs)),
                Some(PathBuf::from("/home/ops/.local/share/dcconn")),
                "XDG_DATA_HOME={xdg:?}"
            );
        }
        assert_eq!(data_dir(&env(&[])), None);
    }

    #[test]
    fn a_dcconn_in_a_cargo_profile_folder_also_looks_in_the_wasm_target_folder() {
        let target = tempfile::tempdir().expect("a temporary folder");
        let profile = target.path().join("profiling");
        std::fs::create_dir_all(profile.join(".fingerprint")).expect("a profile folder");
        let looked = candidates(Some(&profile.join("dcconn")), env(&[]));
        let wasm = target.path().join("wasm32-wasip2");
        assert_eq!(
            looked,
            [
                profile.join(COMPONENT_FILE),
                target.path().join("share/dcconn").join(COMPONENT_FILE),
                wasm.join("profiling").join(COMPONENT_FILE),
                wasm.join("release").join(COMPONENT_FILE),
            ]
        );
    }
}
