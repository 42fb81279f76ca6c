//! Profiles (`--profile NAME` from the profiles file): a scheduled job needs nothing else; flags
//! and their environment variables beat the profile; a wrong file or profile says what is wrong
//! and where, without quoting a value.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tempfile::TempDir;

use crate::support::*;

/// A simulator, a profiles folder holding the shipped package and the password's file, an empty
/// HOME, and a working folder elsewhere.
struct Setup {
    harness: Harness,
    /// `<xdg>/dcconn`: the profiles file's folder when XDG_CONFIG_HOME is `<xdg>`.
    xdg: TempDir,
    home: TempDir,
    work: TempDir,
}

impl Setup {
    fn new() -> Setup {
        let setup = Setup {
            harness: Harness::new(25),
            xdg: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
        };
        let folder = setup.folder();
        std::fs::create_dir_all(folder.join("secrets")).unwrap();
        std::fs::copy(package(SOAP_PACKAGE), folder.join("duckcreek.json")).unwrap();
        std::fs::write(folder.join("secrets/pw"), format!("{PASSWORD}\n")).unwrap();
        setup
    }

    fn folder(&self) -> PathBuf {
        self.xdg.path().join("dcconn")
    }

    fn config(&self) -> PathBuf {
        self.folder().join("config.toml")
    }

    /// Writes the profiles file; `{endpoint}` and `{component}` stand for the simulator's URL
    /// and the component under test.
    fn write(&self, text: &str) -> PathBuf {
        let text = text
            .replace("{endpoint}", &self.harness.sim.endpoint_url())
            .replace("{component}", &component().display().to_string());
        std::fs::write(self.config(), text).unwrap();
        self.config()
    }

    /// dcconn in the working folder, with nothing naming a store, component or profile.
    fn dcconn(&self) -> Command {
        let mut command = bare_dcconn(Path::new(env!("CARGO_BIN_EXE_dcconn")), self.home.path());
        command.current_dir(self.work.path());
        command
    }

    /// `dcconn --config <file> ARGS`.
    fn run(&self, args: &[&str]) -> Output {
        self.dcconn()
            .arg("--config")
            .arg(self.config())
            .args(args)
            .output()
            .unwrap()
    }
}

const NIGHTLY: &str = r#"
[profiles.nightly]
connection = "duckcreek.json"
set = { SOAP_ENDPOINT = "{endpoint}", USERNAME = "dcadmin" }
set_file = { PASSWORD = "secrets/pw" }
db = "nightly.db"
endpoint = "dc-nightly"
component = "{component}"
"#;

fn json(output: &Output) -> Value {
    assert_success(output);
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// The endpoints of `runs --format json`, in order.
fn run_endpoints(output: &Output) -> Vec<String> {
    json(output)
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["endpoint"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_profile_alone_imports_and_every_command_uses_its_store_and_endpoint() {
    let setup = Setup::new();
    setup.write(NIGHTLY);
    let summary = json(&setup.run(&["--profile", "nightly", "import", "--json"]));
    assert_eq!(
        (
            &summary["endpoint"],
            &summary["accounts"],
            &summary["outcome"]
        ),
        (
            &Value::from("dc-nightly"),
            &Value::from(25),
            &Value::from("succeeded")
        )
    );
    // Relative paths are the profiles file's folder's, not the working folder's.
    assert!(setup.folder().join("nightly.db").is_file());
    assert!(!setup.work.path().join("nightly.db").exists());
    assert!(!setup.work.path().join("dcconn.db").exists());

    // A second endpoint in the same store, by flag: the flag beats the profile's endpoint.
    let other = setup.run(&[
        "--profile",
        "nightly",
        "import",
        "--json",
        "--endpoint",
        "dc-other",
    ]);
    assert_eq!(json(&other)["endpoint"], "dc-other");

    // The default file ($XDG_CONFIG_HOME/dcconn/config.toml) and DCCONN_PROFILE: the listings
    // read the profile's store and endpoint, though the store now holds two.
    let listed = setup
        .dcconn()
        .env("XDG_CONFIG_HOME", setup.xdg.path())
        .env("DCCONN_PROFILE", "nightly")
        .args(["runs", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(run_endpoints(&listed), ["dc-nightly"]);
    let accounts = setup
        .dcconn()
        .env("XDG_CONFIG_HOME", setup.xdg.path())
        .args(["--profile", "nightly", "accounts", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(json(&accounts).as_array().unwrap().len(), 25);
    // Without the profile, the store would be ./dcconn.db: nothing there.
    let without = setup.dcconn().args(["runs"]).output().unwrap();
    assert_eq!(without.status.code(), Some(2), "{}", stderr(&without));
}

const DEFAULTS_TO_OVERRIDE: &str = r#"
[profiles.p]
connection = "missing.json"
set = { SOAP_ENDPOINT = "{endpoint}", USERNAME = "nobody" }
set_env = { PASSWORD = "DCCONN_E2E_UNSET_VARIABLE" }
db = "profile.db"
endpoint = "from-profile"
component = "{component}"
"#;

#[test]
fn flags_then_their_variables_beat_the_profile_and_set_flags_replace_its_entries_by_name() {
    let setup = Setup::new();
    let config = setup.write(DEFAULTS_TO_OVERRIDE);
    let password_file = setup.folder().join("secrets/pw");
    let password_file = format!("PASSWORD={}", password_file.display());
    let connection = package(SOAP_PACKAGE).display().to_string();
    let by_flags = setup.run(&[
        "--profile",
        "p",
        "--db",
        "flag.db",
        "import",
        "--json",
        "-c",
        &connection,
        "--endpoint",
        "from-flag",
        "--set",
        "USERNAME=dcadmin",
        "--set-file",
        &password_file,
    ]);
    assert_eq!(json(&by_flags)["endpoint"], "from-flag");
    assert!(setup.work.path().join("flag.db").is_file());
    assert!(!setup.folder().join("profile.db").exists());

    // The variables, where no flag is given.
    let by_variables = setup
        .dcconn()
        .env("DCCONN_DB", "variable.db")
        .env("DCCONN_ENDPOINT", "from-variable")
        .env("DCCONN_CONNECTION", &connection)
        .args(["--config"])
        .arg(&config)
        .args([
            "--profile",
            "p",
            "import",
            "--json",
            "--set",
            "USERNAME=dcadmin",
            "--set-file",
            &password_file,
        ])
        .output()
        .unwrap();
    assert_eq!(json(&by_variables)["endpoint"], "from-variable");
    assert!(setup.work.path().join("variable.db").is_file());
    assert!(!setup.folder().join("profile.db").exists());

    // The profile's own entries, not replaced: its variable is not set, and it says so.
    let output = setup.run(&[
        "--profile",
        "p",
        "import",
        "-c",
        &connection,
        "--set",
        "USERNAME=dcadmin",
    ]);
    assert_eq!(
        assert_failure(&output, 3, &[]),
        format!(
            "error: cannot set PASSWORD: the environment variable DCCONN_E2E_UNSET_VARIABLE is not set (or not valid UTF-8) (from the profile p in {})\n",
            config.display()
        )
    );
    // Its connection, where no flag or variable replaces it.
    let output = setup.run(&["--profile", "p", "validate"]);
    let missing = setup.folder().join("missing.json");
    assert_failure(
        &output,
        3,
        &[&format!(
            "cannot read the connection file {}",
            missing.display()
        )],
    );
    assert!(!setup.folder().join("profile.db").exists());
}

#[test]
fn version_reports_the_profiles_component() {
    let setup = Setup::new();
    setup.write(NIGHTLY);
    let output = setup.run(&["--profile", "nightly", "--version"]);
    assert_success(&output);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[3], format!("component: {}", component().display()));
}

/// Each bad profiles file with the exit code and the exact error.
#[test]
fn a_wrong_profiles_file_or_profile_is_refused_with_what_and_where() {
    let setup = Setup::new();
    let file = setup.config().display().to_string();
    let cases: [(&str, &str, i32, String); 8] = [
        (
            "[profiles.p]\nconnection = \"duckcreek.json\"\nconection = \"x\"\n",
            "p",
            3,
            format!(
                "the profiles file {file}: unknown field `conection`, expected one of `connection`, `set`, `set_env`, `set_file`, `db`, `endpoint`, `component` at line 3, column 1; fix it there"
            ),
        ),
        (
            "[profile.p]\n",
            "p",
            3,
            format!(
                "the profiles file {file}: unknown field `profile`, expected `profiles` at line 1, column 2; fix it there"
            ),
        ),
        (
            "[profiles.b]\n[profiles.a]\n",
            "c",
            2,
            format!("the profiles file {file} has no profile \"c\"; it defines: a, b"),
        ),
        (
            "# nothing yet\n",
            "c",
            2,
            format!(
                "the profiles file {file} defines no profile; add a [profiles.c] table, or choose none"
            ),
        ),
        (
            "[profiles.p]\nset = { USERNAME = \"u\", PASSWORD = \"hunter2\" }\n",
            "p",
            3,
            format!(
                "the profile p in {file}: set.PASSWORD would hold a secret in plain text; give it with set_env (an environment variable) or set_file (a file only the job's user can read) instead; fix it there"
            ),
        ),
        (
            "[profiles.p]\ndb = \"postgres://dcconn:hunter2@db.internal/iga\"\n",
            "p",
            3,
            format!(
                "the profile p in {file}: db would hold the PostgreSQL password in plain text; give it with PGPASSWORD (an environment variable) instead; fix it there"
            ),
        ),
        (
            "[profiles.p]\nset_env = { PASSWORD = \"DC_PW\" }\nset_file = { PASSWORD = \"pw\" }\n",
            "p",
            3,
            format!(
                "the profile p in {file}: PASSWORD is under both set_env and set_file; keep one; fix it there"
            ),
        ),
        (
            "[profiles.p]\nset_env = \"PASSWORD=hunter2\"\n",
            "p",
            3,
            format!(
                "the profiles file {file}: invalid type: string, expected a map at line 2, column 11; fix it there"
            ),
        ),
    ];
    for (text, profile, code, message) in cases {
        setup.write(text);
        let output = setup.run(&["--profile", profile, "accounts"]);
        let err = assert_failure(&output, code, &[]);
        assert_eq!(err, format!("error: {message}\n"), "{text}");
        assert!(!err.contains("hunter2"));
        assert_eq!(stdout(&output), "");
    }

    // No file where --config points, and none at the default place.
    let missing = setup.work.path().join("none.toml");
    let output = setup
        .dcconn()
        .arg("--config")
        .arg(&missing)
        .args(["--profile", "p", "accounts"])
        .output()
        .unwrap();
    assert_eq!(
        assert_failure(&output, 2, &[]),
        format!(
            "error: --profile p: there is no profiles file {}; write one (see \"Profiles\" in the README), or name another with --config FILE or DCCONN_CONFIG\n",
            missing.display()
        )
    );
    let output = setup
        .dcconn()
        .args(["--profile", "p", "accounts"])
        .output()
        .unwrap();
    let default = setup.home.path().join(".config/dcconn/config.toml");
    assert_failure(
        &output,
        2,
        &[&format!("there is no profiles file {}", default.display())],
    );

    // Under --log-format json, the error is a JSON line with its exit code.
    setup.write("[profiles.a]\n");
    let output = setup.run(&["--log-format", "json", "--profile", "b", "accounts"]);
    let line: Value = serde_json::from_str(assert_failure(&output, 2, &[]).trim()).unwrap();
    assert_eq!(
        (&line["level"], &line["exitCode"], &line["message"]),
        (
            &Value::from("ERROR"),
            &Value::from(2),
            &Value::from(format!(
                "the profiles file {file} has no profile \"b\"; it defines: a"
            ))
        )
    );
}

#[test]
fn without_a_profile_the_profiles_file_is_not_read() {
    let setup = Setup::new();
    setup.write("this is not TOML");
    let output = setup
        .dcconn()
        .env("XDG_CONFIG_HOME", setup.xdg.path())
        .env("DCCONN_PROFILE", "")
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert_success(&output);
}
