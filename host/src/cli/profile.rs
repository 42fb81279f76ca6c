//! Profiles: named defaults for the connection, its overrides, the store, the endpoint and the
//! component, kept in a TOML file, so that a scheduled job is `dcconn --profile prod import`.
//!
//! A profile's values are clap defaults: a flag beats its environment variable, which beats the
//! profile, which beats the built-in default. `--set`, `--set-env` and `--set-file` are merged
//! with the profile's by attribute name instead: a flag replaces the profile's entry for its
//! attribute, whatever its kind, and leaves the others.
//!
//! The file is read only when a profile is chosen. What the command line names and is not there
//! (the file, the profile) is a usage error (2); what the file says wrong is a configuration
//! error (3). No message quotes a value of the file: only key names, lines and columns.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, CommandFactory};
use serde::Deserialize;

use super::args::{Cli, ConnectionArgs};
use super::{Failure, exit};

/// The environment variable `-c/--connection` is read from when not given.
pub const CONNECTION_VARIABLE: &str = "DCCONN_CONNECTION";

/// The environment variable every `--endpoint` is read from when not given.
pub const ENDPOINT_VARIABLE: &str = "DCCONN_ENDPOINT";

/// The largest profiles file read: a few profiles take a few kilobytes.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The file as written: `[profiles.NAME]` tables and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, ProfileEntry>,
}

/// One `[profiles.NAME]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileEntry {
    connection: Option<PathBuf>,
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    set_env: BTreeMap<String, String>,
    #[serde(default)]
    set_file: BTreeMap<String, PathBuf>,
    db: Option<PathBuf>,
    endpoint: Option<String>,
    component: Option<PathBuf>,
}

/// A profile as loaded: its paths resolved against the folder of the file that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Its name (`--profile NAME`).
    pub name: String,
    /// The file it was read from.
    pub file: PathBuf,
    /// The connection (`-c`).
    pub connection: Option<PathBuf>,
    /// Its `set`, `set_env` and `set_file` entries, in that order.
    pub overrides: Vec<Override>,
    /// The store (`--db`).
    pub db: Option<PathBuf>,
    /// The endpoint (`--endpoint` of every command that takes one).
    pub endpoint: Option<String>,
    /// The component (`--component`).
    pub component: Option<PathBuf>,
}

/// How an override gives its attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideKind {
    /// `--set NAME=VALUE`: the value itself.
    Set,
    /// `--set-env NAME=VARIABLE`: an environment variable's value.
    SetEnv,
    /// `--set-file NAME=PATH`: a file's content.
    SetFile,
}

/// One override of a connection attribute, from a flag or from a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// How the value is given.
    pub kind: OverrideKind,
    /// `NAME=VALUE`, `NAME=VARIABLE` or `NAME=PATH`, as the flag takes it.
    pub spec: String,
    /// The profile it comes from (`None`: a flag).
    pub profile: Option<String>,
}

impl Override {
    /// The attribute it sets (what precedes the first `=`, trimmed).
    fn attribute(&self) -> &str {
        self.spec
            .split_once('=')
            .map_or("", |(name, _)| name.trim())
    }
}

/// What the command line says before it is parsed for real: whether `--version` was asked, and
/// which profile, profiles file and component were named. Read leniently: the real parse reports
/// what is wrong with the rest.
#[derive(Debug, Default)]
pub struct Early {
    /// `-V`/`--version` before the command.
    pub version: bool,
    /// `--profile`, else `DCCONN_PROFILE`.
    pub profile: Option<String>,
    /// `--config`, else `DCCONN_CONFIG`.
    pub config: Option<PathBuf>,
    /// `--component`, else `DCCONN_COMPONENT`.
    pub component: Option<PathBuf>,
}

/// Reads [`Early`] from the process arguments (the program name first).
pub fn early_look(args: &[OsString]) -> Early {
    let command = lenient(Cli::command())
        .ignore_errors(true)
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::SetTrue)
                .global(true),
        );
    let Ok(matches) = command.try_get_matches_from(args) else {
        return Early::default();
    };
    // A lenient parse may leave out what an error stopped it before: nothing here may panic.
    let path = |id: &str| matches.try_get_one::<PathBuf>(id).ok().flatten().cloned();
    Early {
        version: matches!(matches.try_get_one::<bool>("version"), Ok(Some(true))),
        profile: matches
            .try_get_one::<String>("profile")
            .ok()
            .flatten()
            .filter(|name| !name.is_empty())
            .cloned(),
        config: path("config"),
        component: path("component"),
    }
}

/// The command without its help and version flags and help subcommand, which would end a
/// lenient parse before it reads the rest.
fn lenient(command: clap::Command) -> clap::Command {
    command
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .mut_subcommands(lenient)
}

/// The command line `dcconn` parses: every `-c` and `--endpoint` also read from
/// [`CONNECTION_VARIABLE`] and [`ENDPOINT_VARIABLE`], and the profile's values as defaults.
pub fn command(profile: Option<&Profile>) -> clap::Command {
    let connection = profile.and_then(|profile| profile.connection.clone());
    let endpoint = profile.and_then(|profile| profile.endpoint.clone());
    let edit = move |arg: Arg| match arg.get_id().as_str() {
        "connection" => {
            let arg = arg.env(CONNECTION_VARIABLE);
            match &connection {
                Some(path) => arg
                    .default_value(path.clone().into_os_string())
                    .required(false),
                None => arg,
            }
        }
        "endpoint" => {
            let arg = arg.env(ENDPOINT_VARIABLE);
            match &endpoint {
                Some(name) => arg.default_value(name.clone()),
                None => arg,
            }
        }
        _ => arg,
    };
    let mut command = each_command(Cli::command(), &edit);
    if let Some(db) = profile.and_then(|profile| profile.db.clone()) {
        command = command.mut_arg("db", |arg| arg.default_value(db.into_os_string()));
    }
    if let Some(component) = profile.and_then(|profile| profile.component.clone()) {
        command = command.mut_arg("component", |arg| {
            arg.default_value(component.into_os_string())
        });
    }
    command
}

/// Applies `edit` to the arguments of `command` and of every subcommand under it.
fn each_command(command: clap::Command, edit: &impl Fn(Arg) -> Arg) -> clap::Command {
    command
        .mut_args(edit)
        .mut_subcommands(|sub| each_command(sub, edit))
}

/// The overrides a connection gets: the profile's, less those whose attribute a flag sets, then
/// the flags' (`--set`, `--set-env`, `--set-file`, in that order).
pub fn connection_overrides(profile: Option<&Profile>, args: &ConnectionArgs) -> Vec<Override> {
    let flag = |kind, spec: &String| Override {
        kind,
        spec: spec.clone(),
        profile: None,
    };
    let flags: Vec<Override> = (args.set.iter().map(|spec| flag(OverrideKind::Set, spec)))
        .chain(
            args.set_env
                .iter()
                .map(|spec| flag(OverrideKind::SetEnv, spec)),
        )
        .chain(
            args.set_file
                .iter()
                .map(|spec| flag(OverrideKind::SetFile, spec)),
        )
        .collect();
    let flagged: BTreeSet<&str> = flags.iter().map(Override::attribute).collect();
    let kept = profile
        .into_iter()
        .flat_map(|profile| &profile.overrides)
        .filter(|entry| !flagged.contains(entry.attribute()))
        .cloned();
    kept.chain(flags.iter().cloned()).collect()
}

/// The profile the command line chose (`--profile`, else `DCCONN_PROFILE`), loaded from
/// `--config`, else `DCCONN_CONFIG`, else the default file ([`default_file`]). `None` when none
/// was chosen: then no file is read.
pub fn load_chosen(early: &Early) -> Result<Option<Profile>, Failure> {
    let Some(name) = early.profile.as_deref() else {
        return Ok(None);
    };
    let file = match &early.config {
        Some(file) => file.clone(),
        None => default_file(&|variable| std::env::var_os(variable)).ok_or_else(|| Failure {
            message: format!(
                "--profile {name}: no profiles file to read it from: neither XDG_CONFIG_HOME nor HOME is set; name the file with --config FILE or DCCONN_CONFIG"
            ),
            code: exit::USAGE,
        })?,
    };
    let text = read(&file, name)?;
    load(&text, &file, name).map(Some)
}

/// `$XDG_CONFIG_HOME/dcconn/config.toml` (when absolute, as the XDG specification asks), else
/// `$HOME/.config/dcconn/config.toml`.
pub fn default_file(env: &impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| {
        env(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    set("XDG_CONFIG_HOME")
        .filter(|dir| dir.is_absolute())
        .or_else(|| set("HOME").map(|home| home.join(".config")))
        .map(|dir| dir.join("dcconn").join("config.toml"))
}

/// The file's text, at most [`MAX_CONFIG_BYTES`].
fn read(file: &Path, name: &str) -> Result<String, Failure> {
    let shown = file.display();
    let mut bytes = Vec::new();
    let read = std::fs::File::open(file)
        .and_then(|opened| opened.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes));
    match read {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(Failure {
            message: format!(
                "--profile {name}: there is no profiles file {shown}; write one (see \"Profiles\" in the README), or name another with --config FILE or DCCONN_CONFIG"
            ),
            code: exit::USAGE,
        }),
        Err(error) => Err(configuration(format!(
            "cannot read the profiles file {shown}: {error}; check the path and its permissions"
        ))),
        Ok(_) if bytes.len() as u64 > MAX_CONFIG_BYTES => Err(configuration(format!(
            "the profiles file {shown} is larger than {MAX_CONFIG_BYTES} bytes, too large to be one; check that it is the right file"
        ))),
        Ok(_) => String::from_utf8(bytes).map_err(|_| {
            configuration(format!(
                "the profiles file {shown} is not UTF-8 text; save it as UTF-8"
            ))
        }),
    }
}

/// The profile `name` of the profiles file `file`, whose text is `text`.
pub fn load(text: &str, file: &Path, name: &str) -> Result<Profile, Failure> {
    let shown = file.display();
    let config: ConfigFile = toml::from_str(text).map_err(|error| {
        configuration(format!(
            "the profiles file {shown}: {}; fix it there",
            describe_toml_error(&error, text)
        ))
    })?;
    let defined: Vec<&str> = config.profiles.keys().map(String::as_str).collect();
    let Some(entry) = config.profiles.get(name) else {
        let message = match defined.as_slice() {
            [] => format!(
                "the profiles file {shown} defines no profile; add a [profiles.{name}] table, or choose none"
            ),
            _ => format!(
                "the profiles file {shown} has no profile {name:?}; it defines: {}",
                defined.join(", ")
            ),
        };
        return Err(Failure {
            message,
            code: exit::USAGE,
        });
    };
    resolve(entry, file, name).map_err(|problem| {
        configuration(format!(
            "the profile {name} in {shown}: {problem}; fix it there"
        ))
    })
}

/// The entry checked, its relative paths made relative to the file's folder.
fn resolve(entry: &ProfileEntry, file: &Path, name: &str) -> Result<Profile, String> {
    check_attribute_names(entry)?;
    check_values(entry)?;
    let folder = file.parent().unwrap_or(Path::new(""));
    let optional_path = |key: &str, value: &Option<PathBuf>| {
        value
            .as_deref()
            .map(|value| resolve_path(folder, key, value))
            .transpose()
    };
    Ok(Profile {
        name: name.to_owned(),
        file: file.to_path_buf(),
        connection: optional_path("connection", &entry.connection)?,
        overrides: overrides(entry, folder, name)?,
        // A PostgreSQL URL is no path: it is taken as it is.
        db: match &entry.db {
            Some(url)
                if matches!(
                    crate::store::Location::of(url),
                    crate::store::Location::Postgres(_)
                ) =>
            {
                Some(url.clone())
            }
            other => optional_path("db", other)?,
        },
        endpoint: entry.endpoint.clone(),
        component: optional_path("component", &entry.component)?,
    })
}

/// `path` (the value of `key`) relative to `folder` when relative; an empty one is refused.
fn resolve_path(folder: &Path, key: &str, path: &Path) -> Result<PathBuf, String> {
    if path.as_os_str().is_empty() {
        return Err(format!("{key} is empty; give a path"));
    }
    Ok(folder.join(path))
}

/// No secret in plain text, no empty variable name, an endpoint name every output can show.
fn check_values(entry: &ProfileEntry) -> Result<(), String> {
    if let Some(secret) = entry
        .set
        .keys()
        .find(|attribute| crate::connection::is_secret(attribute))
    {
        return Err(format!(
            "set.{secret} would hold a secret in plain text; give it with set_env (an environment variable) or set_file (a file only the job's user can read) instead"
        ));
    }
    if entry
        .db
        .as_deref()
        .is_some_and(|db| crate::store::Location::of(db).holds_password())
    {
        return Err(
            "db would hold the PostgreSQL password in plain text; give it with PGPASSWORD (an environment variable) instead".to_owned(),
        );
    }
    if let Some((attribute, _)) = entry
        .set_env
        .iter()
        .find(|(_, variable)| variable.trim().is_empty())
    {
        return Err(format!("set_env.{attribute} names no environment variable"));
    }
    if let Some(endpoint) = &entry.endpoint {
        super::args::endpoint_name(endpoint).map_err(|problem| format!("endpoint: {problem}"))?;
    }
    Ok(())
}

/// The entry's `set`, `set_env` and `set_file` as the flags would give them, in that order.
fn overrides(entry: &ProfileEntry, folder: &Path, name: &str) -> Result<Vec<Override>, String> {
    let from_profile = |kind, spec: String| Override {
        kind,
        spec,
        profile: Some(name.to_owned()),
    };
    let mut overrides: Vec<Override> = (entry.set.iter())
        .map(|(attribute, value)| from_profile(OverrideKind::Set, format!("{attribute}={value}")))
        .chain(entry.set_env.iter().map(|(attribute, variable)| {
            from_profile(OverrideKind::SetEnv, format!("{attribute}={variable}"))
        }))
        .collect();
    for (attribute, file) in &entry.set_file {
        let key = format!("set_file.{attribute}");
        let file = resolve_path(folder, &key, file)?;
        let file = file
            .to_str()
            .ok_or_else(|| format!("{key}: the path is not UTF-8"))?;
        overrides.push(from_profile(
            OverrideKind::SetFile,
            format!("{attribute}={file}"),
        ));
    }
    Ok(overrides)
}

/// Attribute names are not blank, hold no `=`, and each is set one way only.
fn check_attribute_names(entry: &ProfileEntry) -> Result<(), String> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let tables = [
        ("set", entry.set.keys().collect::<Vec<_>>()),
        ("set_env", entry.set_env.keys().collect()),
        ("set_file", entry.set_file.keys().collect()),
    ];
    for (table, attributes) in tables {
        for attribute in attributes {
            if attribute.trim().is_empty() || attribute.contains('=') {
                return Err(format!(
                    "{table} has the attribute name {attribute:?}; a name is not blank and holds no '='"
                ));
            }
            if let Some(first) = seen.insert(attribute.as_str(), table) {
                return Err(format!(
                    "{attribute} is under both {first} and {table}; keep one"
                ));
            }
        }
    }
    Ok(())
}

fn configuration(message: String) -> Failure {
    Failure {
        message,
        code: exit::CONFIGURATION,
    }
}

/// The parser's message with its line and column, never the file's text: serde's "invalid
/// type" and "invalid value" messages quote the value found, which may be a secret, so only its
/// kind is kept (`invalid type: string, expected a map`).
fn describe_toml_error(error: &toml::de::Error, text: &str) -> String {
    let message = without_value(error.message().trim());
    match error.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            format!("{message} at line {line}, column {column}")
        }
        None => message,
    }
}

/// `message` without the value serde quotes in it.
fn without_value(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            // The last ", expected " is serde's: the value comes before it, and may hold one.
            let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
            let kind = found.split(['`', '"', '\'']).next().unwrap_or("").trim();
            return match expected {
                "" => format!("{prefix}{kind}"),
                expected => format!("{prefix}{kind}, expected {expected}"),
            };
        }
    }
    message.to_owned()
}

/// The 1-based line and column (in characters) of the byte `offset` of `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(set: &[&str], set_env: &[&str], set_file: &[&str]) -> ConnectionArgs {
        let owned = |specs: &[&str]| specs.iter().map(|spec| spec.to_string()).collect();
        ConnectionArgs {
            connection: PathBuf::from("c.json"),
            set: owned(set),
            set_env: owned(set_env),
            set_file: owned(set_file),
        }
    }

    const FILE: &str = r#"
[profiles.prod]
connection = "duckcreek.json"
db = "/var/lib/dcconn/dcconn.db"
endpoint = "prod"
set = { SOAP_ENDPOINT = "https://dc.example.com/Server.svc", USERNAME = "svc-iga" }
set_env = { PASSWORD = "DC_PASSWORD" }
set_file = { CLIENT_SECRET = "secrets/client" }

[profiles.test]
"#;

    #[test]
    fn a_profile_resolves_its_paths_against_the_files_folder() {
        let profile = load(FILE, Path::new("/etc/dcconn/config.toml"), "prod")
            .unwrap_or_else(|failure| panic!("{}", failure.message));
        assert_eq!(
            profile.connection.as_deref(),
            Some(Path::new("/etc/dcconn/duckcreek.json"))
        );
        assert_eq!(
            profile.db.as_deref(),
            Some(Path::new("/var/lib/dcconn/dcconn.db"))
        );
        assert_eq!(profile.endpoint.as_deref(), Some("prod"));
        let specs: Vec<(OverrideKind, &str)> = profile
            .overrides
            .iter()
            .map(|entry| (entry.kind, entry.spec.as_str()))
            .collect();
        assert_eq!(
            specs,
            [
                (
                    OverrideKind::Set,
                    "SOAP_ENDPOINT=https://dc.example.com/Server.svc"
                ),
                (OverrideKind::Set, "USERNAME=svc-iga"),
                (OverrideKind::SetEnv, "PASSWORD=DC_PASSWORD"),
                (
                    OverrideKind::SetFile,
                    "CLIENT_SECRET=/etc/dcconn/secrets/client"
                ),
            ]
        );
    }

    #[test]
    fn a_flag_replaces_the_profiles_entry_for_its_attribute_whatever_its_kind() {
        let profile = load(FILE, Path::new("/etc/dcconn/config.toml"), "prod")
            .unwrap_or_else(|failure| panic!("{}", failure.message));
        let merged = connection_overrides(
            Some(&profile),
            &args(&["USERNAME=other"], &[], &["PASSWORD=/run/pw"]),
        );
        let specs: Vec<&str> = merged.iter().map(|entry| entry.spec.as_str()).collect();
        assert_eq!(
            specs,
            [
                "SOAP_ENDPOINT=https://dc.example.com/Server.svc",
                "CLIENT_SECRET=/etc/dcconn/secrets/client",
                "USERNAME=other",
                "PASSWORD=/run/pw",
            ]
        );
        assert_eq!(merged[2].profile, None);
        assert_eq!(merged[0].profile.as_deref(), Some("prod"));
    }

    #[test]
    fn a_type_error_names_the_kind_of_value_never_the_value() {
        for (text, expected) in [
            (
                "[profiles.p]\nset = \"PASSWORD=hunter2\"\n",
                "invalid type: string, expected a map at line 2, column 7",
            ),
            (
                "[profiles.p]\nset = 'a, expected hunter2'\n",
                "invalid type: string, expected a map at line 2, column 7",
            ),
            (
                "[profiles.p]\n[profiles.p.set_env]\nX = 5\n",
                "invalid type: integer, expected a string at line 3, column 5",
            ),
        ] {
            let failure = load(text, Path::new("c.toml"), "p").expect_err("refused");
            assert_eq!(
                failure.message,
                format!("the profiles file c.toml: {expected}; fix it there")
            );
            assert!(!failure.message.contains("hunter2"));
            assert_eq!(failure.code, exit::CONFIGURATION);
        }
    }

    #[test]
    fn the_example_profiles_file_loads() {
        let text = include_str!("../../../examples/config.toml");
        for name in ["prod", "test"] {
            let profile = load(text, Path::new("/etc/dcconn/config.toml"), name)
                .unwrap_or_else(|failure| panic!("{name}: {}", failure.message));
            assert!(
                profile.connection.is_some() && profile.db.is_some(),
                "{name}"
            );
        }
    }

    #[test]
    fn the_default_file_follows_xdg_config_home_else_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| OsString::from(value))
            }
        };
        assert_eq!(
            default_file(&env(&[("XDG_CONFIG_HOME", "/cfg"), ("HOME", "/home/ops")])),
            Some(PathBuf::from("/cfg/dcconn/config.toml"))
        );
        assert_eq!(
            default_file(&env(&[("XDG_CONFIG_HOME", "cfg"), ("HOME", "/home/ops")])),
            Some(PathBuf::from("/home/ops/.config/dcconn/config.toml"))
        );
        assert_eq!(default_file(&env(&[])), None);
    }
}
