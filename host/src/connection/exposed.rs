//! Secrets given where others can read them: on the command line (`--set PASSWORD=...`, seen in
//! the process list and the shell history) or in the connection file. Each is a warning, never
//! an error: the value still works, and the warning names the attribute and the file, never
//! the value.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{Connection, FileShape};
use crate::secrets::is_sealed;

/// A secret attribute given where others can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExposedSecret {
    /// `--set NAME=VALUE` with a secret NAME.
    CommandLine {
        /// The attribute.
        attribute: String,
    },
    /// A secret written in a connection file of attributes, which holds values as they are.
    InClear {
        /// The attribute.
        attribute: String,
        /// The connection file.
        file: PathBuf,
    },
    /// A secret in a transport package and given nowhere else, so its value is used as written:
    /// Saviynt may have exported it encrypted with its own key, which dcconn cannot decrypt, so
    /// it is not called clear text.
    FromPackage {
        /// The attribute.
        attribute: String,
        /// The transport package.
        file: PathBuf,
    },
}

impl fmt::Display for ExposedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let advice = |attribute: &str| {
            format!("--set-env {attribute}=VARIABLE or --set-file {attribute}=PATH")
        };
        match self {
            ExposedSecret::CommandLine { attribute } => write!(
                f,
                "--set {attribute}=... puts a secret on the command line, where the process list and the shell history show it: give it with {} instead",
                advice(attribute)
            ),
            ExposedSecret::InClear { attribute, file } => write!(
                f,
                "{attribute} is stored in clear in {}, where anyone who can read the file can read it: remove it from the file and give it with {}",
                file.display(),
                advice(attribute)
            ),
            ExposedSecret::FromPackage { attribute, file } => write!(
                f,
                "{attribute} is taken from the transport package {} as written: dcconn cannot decrypt a value Saviynt exported encrypted, and would send it as it is; give it with {}",
                file.display(),
                advice(attribute)
            ),
        }
    }
}

/// The secrets a command line exposes: those the connection `file` (read from `path` in
/// `shape`) holds, and those `--set` gives (`set`, its `NAME=VALUE` arguments). `elsewhere`
/// are the `NAME=...` arguments of `--set-env` and `--set-file`: a package value they replace
/// is not used, so it is not reported (a value in clear in a file is, used or not). Secrets
/// are the attributes the component gets as placeholders ([`is_sealed`]); empty values expose
/// nothing.
pub fn exposed_secrets(
    file: &Connection,
    shape: FileShape,
    path: &Path,
    set: &[String],
    elsewhere: &[String],
) -> Vec<ExposedSecret> {
    let named = |specs: &[String], attribute: &str| {
        specs
            .iter()
            .any(|spec| override_name(spec) == Some(attribute))
    };
    let in_file = file
        .attributes()
        .filter(|(name, value)| is_sealed(name) && !value.trim().is_empty())
        .filter_map(|(name, _)| match shape {
            FileShape::Attributes => Some(ExposedSecret::InClear {
                attribute: name.to_owned(),
                file: path.to_path_buf(),
            }),
            FileShape::TransportPackage if named(set, name) || named(elsewhere, name) => None,
            FileShape::TransportPackage => Some(ExposedSecret::FromPackage {
                attribute: name.to_owned(),
                file: path.to_path_buf(),
            }),
        });
    let mut on_command_line: Vec<ExposedSecret> = Vec::new();
    for spec in set {
        let Some((name, value)) = spec.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let exposed = ExposedSecret::CommandLine {
            attribute: name.to_owned(),
        };
        if is_sealed(name) && !value.is_empty() && !on_command_line.contains(&exposed) {
            on_command_line.push(exposed);
        }
    }
    in_file.chain(on_command_line).collect()
}

/// The attribute an override argument names (`PASSWORD` of `PASSWORD=...`), as the overrides
/// read it.
fn override_name(spec: &str) -> Option<&str> {
    spec.split_once('=').map(|(name, _)| name.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Connection {
        let mut connection = Connection::new("c");
        connection.set("USERNAME", "svc");
        connection.set("PASSWORD", "hunter2");
        connection.set("CLIENT_SECRET", " ");
        connection.set("CONNECTIONJSON", r#"{"gw": {"client_secret": "abc"}}"#);
        connection
    }

    fn specs(specs: &[&str]) -> Vec<String> {
        specs.iter().map(|spec| spec.to_string()).collect()
    }

    #[test]
    fn a_secret_in_an_attribute_file_is_in_clear_used_or_not() {
        let path = Path::new("prod.json");
        let in_clear = ExposedSecret::InClear {
            attribute: "PASSWORD".into(),
            file: path.into(),
        };
        for elsewhere in [specs(&[]), specs(&["PASSWORD=DC_PASSWORD"])] {
            assert_eq!(
                exposed_secrets(&file(), FileShape::Attributes, path, &[], &elsewhere),
                std::slice::from_ref(&in_clear)
            );
        }
        assert_eq!(
            in_clear.to_string(),
            "PASSWORD is stored in clear in prod.json, where anyone who can read the file can read it: remove it from the file and give it with --set-env PASSWORD=VARIABLE or --set-file PASSWORD=PATH"
        );
    }

    #[test]
    fn a_package_secret_is_reported_only_when_its_value_is_used() {
        let path = Path::new("Connection_1.json");
        let used = exposed_secrets(&file(), FileShape::TransportPackage, path, &[], &[]);
        assert_eq!(
            used,
            [ExposedSecret::FromPackage {
                attribute: "PASSWORD".into(),
                file: path.into()
            }]
        );
        assert_eq!(
            used[0].to_string(),
            "PASSWORD is taken from the transport package Connection_1.json as written: dcconn cannot decrypt a value Saviynt exported encrypted, and would send it as it is; give it with --set-env PASSWORD=VARIABLE or --set-file PASSWORD=PATH"
        );
        let replaced = specs(&[" PASSWORD =/run/secrets/pw"]);
        assert_eq!(
            exposed_secrets(&file(), FileShape::TransportPackage, path, &[], &replaced),
            []
        );
    }

    #[test]
    fn set_reports_each_secret_once_and_never_a_plain_attribute_or_an_empty_value() {
        let set = specs(&[
            "PASSWORD=a",
            "PASSWORD=b",
            "USERNAME=svc",
            "API_TOKEN=",
            "CONNECTIONJSON={}",
            "x_api_key=k",
            "no-equals",
        ]);
        let exposed = exposed_secrets(
            &Connection::new("c"),
            FileShape::Attributes,
            Path::new("c.json"),
            &set,
            &[],
        );
        assert_eq!(
            exposed,
            [
                ExposedSecret::CommandLine {
                    attribute: "PASSWORD".into()
                },
                ExposedSecret::CommandLine {
                    attribute: "x_api_key".into()
                }
            ]
        );
        assert_eq!(
            exposed[0].to_string(),
            "--set PASSWORD=... puts a secret on the command line, where the process list and the shell history show it: give it with --set-env PASSWORD=VARIABLE or --set-file PASSWORD=PATH instead"
        );
    }
}
