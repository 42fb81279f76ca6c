//! What each command's `--help` shows. The global options (`--db`, `--component`,
//! `--no-cache`, `-q`, `-v`, `--log-format`) and the seven limit flags are accepted anywhere on
//! the command line, but listed in full by `dcconn --help` only; a command's help lists its own
//! options, plus `--db` when it uses the store and `--component` and the limits when it runs
//! the component (the limits in `--help`, not in the summary `-h` gives).

use clap::{Arg, Command};

/// The commands that read or write the store: their help shows `--db`.
const USE_THE_STORE: &[&str] = &[
    "import",
    "accounts",
    "entitlements",
    "runs",
    "changes",
    "enable",
    "disable",
    "retry",
    "tasks",
    "identities",
    "show",
    "report",
    "db",
];

/// The commands that run the component: their help shows `--component` and the limits.
const RUN_THE_COMPONENT: &[&str] = &["validate", "test", "import", "enable", "disable", "retry"];

/// The limits' help heading (see `args::LimitArgs`).
const LIMITS: &str = "Limits";

/// Where a command's help sends a reader for the options it does not list.
const GLOBAL_OPTIONS: &str = "Options every command takes (--db, --component, --no-cache, -q, -v, --log-format) and the component's limits: dcconn --help";

/// `command` (the command line as clap parses it) with each command's help trimmed as the
/// module says.
pub(super) fn trimmed(mut command: Command) -> Command {
    let globals: Vec<Arg> = command
        .get_arguments()
        .filter(|arg| arg.is_global_set())
        .cloned()
        .collect();
    for subcommand in command.get_subcommands_mut() {
        let name = subcommand.get_name().to_owned();
        // A command that has an argument already is not given the global one (clap's rule), so
        // a copy of it decides how this command's help (and its subcommands', which inherit it)
        // shows it, while the command line still accepts it here.
        let copies: Vec<Arg> = globals
            .iter()
            .filter_map(|arg| shown_in(&name, arg))
            .collect();
        let trimmed = std::mem::take(subcommand)
            .args(copies)
            .after_help(GLOBAL_OPTIONS);
        *subcommand = trimmed;
    }
    command
}

/// How the help of `command` shows the global argument `arg`: `None` as every global
/// argument is shown (`--db` of a command that uses the store, `--component` of one that runs
/// the component), else a copy that shows it only in `--help` (the limits of a command that
/// runs the component) or not at all.
fn shown_in(command: &str, arg: &Arg) -> Option<Arg> {
    let runs_the_component = RUN_THE_COMPONENT.contains(&command);
    match arg.get_id().as_str() {
        "db" if USE_THE_STORE.contains(&command) => None,
        "component" if runs_the_component => None,
        _ if arg.get_help_heading() == Some(LIMITS) && runs_the_component => {
            Some(arg.clone().hide_short_help(true))
        }
        _ => Some(arg.clone().hide(true)),
    }
}
