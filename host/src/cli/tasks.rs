//! `dcconn tasks`: the provisioning tasks, filtered by status and account, and `tasks cancel`;
//! and what `retry` prints as it goes.

use std::sync::{Mutex, PoisonError};

use clap::{Args, Subcommand, ValueEnum};

use super::args::Format;
use super::{Cli, Failure, message_to_stderr, note, open_store, output, print};
use crate::connection::Connection;
use crate::jobs::JobError;
use crate::jobs::exit_code as exit;
use crate::jobs::provision::RetryEvent;
use crate::store::{TaskFilter, TaskId, TaskStatus};

/// `tasks`: the listing, or `tasks cancel`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TasksArgs {
    /// What to do instead of listing.
    #[command(subcommand)]
    pub command: Option<TasksCommand>,
    /// The endpoint (default: the only one in the store).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Only tasks in this status (repeatable, or a comma-separated list; any case; `pending` and
    /// `failed` are short for pending-provisioning and provisioning-failed).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        ignore_case = true,
        value_name = "STATUS"
    )]
    pub status: Vec<StatusArg>,
    /// Only the tasks of this account.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// How to print.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `tasks` subcommands.
#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Cancel tasks that have not ended: they end CANCELLED and are never attempted.
    ///
    /// NEW and PENDING PROVISIONING tasks are cancelled. A task a worker holds (IN PROGRESS) is
    /// refused with exit code 7, one that has ended or does not exist with exit code 2; the exit
    /// code is that of the first refusal.
    Cancel {
        /// The tasks (see `dcconn tasks`).
        #[arg(required = true, value_name = "ID", value_parser = clap::value_parser!(i64).range(1..))]
        ids: Vec<i64>,
    },
}

/// A task status as `--status` takes it, in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// NEW: created, never attempted.
    New,
    /// IN PROGRESS: an attempt holds it.
    #[value(alias = "in progress")]
    InProgress,
    /// PENDING PROVISIONING: an attempt failed; the next try waits for its time.
    #[value(alias = "pending", alias = "pending provisioning")]
    PendingProvisioning,
    /// COMPLETE: done.
    Complete,
    /// PROVISIONING FAILED: given up.
    #[value(alias = "failed", alias = "provisioning failed")]
    ProvisioningFailed,
    /// CANCELLED: cancelled by `dcconn tasks cancel`.
    Cancelled,
}

impl From<StatusArg> for TaskStatus {
    fn from(status: StatusArg) -> TaskStatus {
        match status {
            StatusArg::New => TaskStatus::New,
            StatusArg::InProgress => TaskStatus::InProgress,
            StatusArg::PendingProvisioning => TaskStatus::PendingProvisioning,
            StatusArg::Complete => TaskStatus::Complete,
            StatusArg::ProvisioningFailed => TaskStatus::ProvisioningFailed,
            StatusArg::Cancelled => TaskStatus::Cancelled,
        }
    }
}

/// `dcconn tasks ...`.
pub(super) fn run(cli: &Cli, args: &TasksArgs) -> Result<u8, Failure> {
    match &args.command {
        Some(TasksCommand::Cancel { ids }) => cancel(cli, ids),
        None => {
            let filter = TaskFilter {
                statuses: args.status.iter().copied().map(TaskStatus::from).collect(),
                account: args.account.clone(),
            };
            super::list(
                cli,
                args.endpoint.as_deref(),
                |store, endpoint| {
                    let tasks = store
                        .tasks_matching(endpoint, &filter)
                        .map_err(super::store_failure)?;
                    if let Some(account) = &args.account {
                        super::filters::task_account(store, endpoint, account, !tasks.is_empty())?;
                    }
                    Ok(tasks)
                },
                |out, tasks| output::tasks(out, tasks, args.format),
            )
        }
    }
}

/// `dcconn tasks cancel ID...`: each task on its own; a line on stdout for each one cancelled,
/// an error on stderr for each one refused. The exit code is that of the first refusal.
fn cancel(cli: &Cli, ids: &[i64]) -> Result<u8, Failure> {
    let mut store = open_store(cli)?;
    let mut code = exit::OK;
    for id in ids {
        match store.cancel_task(TaskId(*id)) {
            Ok(task) => {
                print(|out| writeln!(out, "{}", output::task_line(&task)))?;
            }
            Err(error) => {
                let error = JobError::from(error);
                let mut message = error.to_string();
                if error.exit_code() == exit::USAGE {
                    message.push_str("; see `dcconn tasks`");
                }
                message_to_stderr("ERROR", &message, Some(error.exit_code()));
                if code == exit::OK {
                    code = error.exit_code();
                }
            }
        }
    }
    Ok(code)
}

/// What `retry` prints as it goes: each attempt's task line on stdout, as `enable` and
/// `disable` print theirs; and, unless `-v` logs every wait, a note on stderr when it starts
/// waiting for a task's next try (once per task and time, however many workers wait).
pub(super) fn retry_printer(verbose: u8) -> impl Fn(RetryEvent<'_>) + Sync {
    let noted: Mutex<Option<(TaskId, String)>> = Mutex::new(None);
    move |event| match event {
        RetryEvent::Recorded(task) => print_line(&output::task_line(task)),
        RetryEvent::LeaseLost(task) => print_line(&output::lease_lost_line(task)),
        RetryEvent::Waiting { task, at, wait } if verbose == 0 => {
            let mut noted = noted.lock().unwrap_or_else(PoisonError::into_inner);
            let waiting_for = Some((task, at.to_owned()));
            if *noted != waiting_for {
                *noted = waiting_for;
                note(output::waiting_line(task, at, wait));
            }
        }
        RetryEvent::Waiting { .. } => {}
    }
}

/// What a failed retry run says: its error, and after refused credentials what became of the
/// tasks and what to do.
pub(super) fn retry_failure(error: &JobError, connection: &Connection) -> Failure {
    let mut failure = Failure::from_job(error, Some(connection));
    if failure.code == exit::AUTHENTICATION {
        failure.message.push_str(
            "\nthe task waits for its next try, and no other task was attempted after the refusal: fix the credentials, then run `dcconn retry` again",
        );
    }
    failure
}

/// Prints a result line on stdout; a closed stdout does not stop the job.
fn print_line(line: &str) {
    let _ = print(|out| writeln!(out, "{line}"));
}
