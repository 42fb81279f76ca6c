//! `dcconn schedule add|list|remove|trigger`: an endpoint's import as a Temporal Schedule
//! (cron expressions in a time zone, overlap policy Skip). Each fire runs
//! [`ScheduledImportWorkflow`], which starts `import-<endpoint>` as its child: a fire that
//! finds an import of the endpoint running (scheduled or not) is skipped.

use futures_util::StreamExt;
use temporalio_client::Client;
use temporalio_client::schedules::{
    CreateScheduleOptions, ListSchedulesOptions, ScheduleAction, ScheduleError,
    ScheduleOverlapPolicy, ScheduleSpec,
};

use super::workflows::ScheduledImportWorkflow;
use super::{FleetError, ImportJob, Target, schedule_id};

/// What `schedule add` asks for.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    /// The import each fire runs.
    pub job: ImportJob,
    /// Cron expressions (`0 2 * * *`).
    pub cron: Vec<String>,
    /// The IANA time zone they are read in (`Europe/Berlin`; empty: UTC).
    pub timezone: String,
}

/// A schedule as `schedule list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleEntry {
    /// The schedule's id.
    pub id: String,
    /// Whether it is paused.
    pub paused: bool,
    /// Its next fire times (RFC 3339, UTC).
    pub next: Vec<String>,
    /// When it fires and what it imports, as `schedule add` noted it (`0 2 * * * in
    /// Europe/Berlin, connection dc`); empty for a schedule made otherwise.
    pub what: String,
}

/// Creates the endpoint's import schedule.
pub async fn add(
    client: &Client,
    target: &Target,
    schedule: NewSchedule,
) -> Result<String, FleetError> {
    let id = schedule_id(&schedule.job.endpoint);
    let endpoint = schedule.job.endpoint.clone();
    let note = described(&schedule);
    let spec = ScheduleSpec::builder()
        .cron_strings(schedule.cron)
        .timezone_name(schedule.timezone)
        .build();
    let action = ScheduleAction::start_workflow(
        ScheduledImportWorkflow::run,
        schedule.job,
        target.task_queue.clone(),
        format!("scheduled-{}", super::import_workflow_id(&endpoint)),
    );
    let options = CreateScheduleOptions::builder()
        .action(action)
        .spec(spec)
        .overlap_policy(ScheduleOverlapPolicy::Skip)
        .note(note)
        .build();
    match client.create_schedule(id.clone(), options).await {
        Ok(_) => Ok(id),
        Err(ScheduleError::Rpc(status)) if status.code() == tonic_code::ALREADY_EXISTS => {
            Err(FleetError::ScheduleExists {
                schedule: id,
                endpoint,
            })
        }
        Err(ScheduleError::Rpc(status)) if status.code() == tonic_code::INVALID_ARGUMENT => {
            Err(FleetError::BadScheduleTimes {
                schedule: id,
                reason: super::in_words(&status),
            })
        }
        Err(error) => Err(FleetError::temporal(format!("create schedule {id}"), error)),
    }
}

/// When a schedule fires and what it imports, in a line: `0 2 * * * in Europe/Berlin,
/// connection dc`.
fn described(schedule: &NewSchedule) -> String {
    let zone = match schedule.timezone.as_str() {
        "" => "UTC",
        zone => zone,
    };
    format!(
        "{} in {zone}, connection {}",
        schedule.cron.join(" and "),
        schedule.job.connection
    )
}

/// Deletes the endpoint's import schedule.
pub async fn remove(client: &Client, endpoint: &str) -> Result<String, FleetError> {
    let id = schedule_id(endpoint);
    let handle = client.get_schedule_handle(id.clone());
    handle
        .delete(Default::default())
        .await
        .map_err(|error| schedule_failed(error, &id, "delete"))?;
    Ok(id)
}

/// Fires the endpoint's import schedule now (overlap policy Skip, as its own fires).
pub async fn trigger(client: &Client, endpoint: &str) -> Result<String, FleetError> {
    let id = schedule_id(endpoint);
    let handle = client.get_schedule_handle(id.clone());
    handle
        .trigger(ScheduleOverlapPolicy::Skip, Default::default())
        .await
        .map_err(|error| schedule_failed(error, &id, "trigger"))?;
    Ok(id)
}

/// The import schedules (`import-schedule-*`), as Temporal's visibility lists them (it may lag
/// a second behind a change).
pub async fn list(client: &Client) -> Result<Vec<ScheduleEntry>, FleetError> {
    let mut stream = client.list_schedules(ListSchedulesOptions::default());
    let mut entries = Vec::new();
    while let Some(entry) = stream.next().await {
        let entry = entry.map_err(|error| FleetError::temporal("list schedules", error))?;
        if !entry.schedule_id().starts_with("import-schedule-") {
            continue;
        }
        entries.push(ScheduleEntry {
            id: entry.schedule_id().to_owned(),
            paused: entry.paused(),
            next: entry
                .future_action_times()
                .iter()
                .map(|time| rfc3339(*time))
                .collect(),
            what: entry.note().unwrap_or_default().to_owned(),
        });
    }
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(entries)
}

/// A failure on an existing schedule: "not found" said plainly.
fn schedule_failed(error: ScheduleError, id: &str, doing: &str) -> FleetError {
    match error {
        ScheduleError::Rpc(status) if status.code() == tonic_code::NOT_FOUND => {
            FleetError::UnknownSchedule {
                schedule: id.to_owned(),
            }
        }
        error => FleetError::temporal(format!("{doing} schedule {id}"), error),
    }
}

/// gRPC status codes, as tonic names them.
mod tonic_code {
    pub use temporalio_client::tonic::Code;
    pub const ALREADY_EXISTS: Code = Code::AlreadyExists;
    pub const NOT_FOUND: Code = Code::NotFound;
    pub const INVALID_ARGUMENT: Code = Code::InvalidArgument;
}

/// A time as RFC 3339 in UTC, to the second.
fn rfc3339(time: std::time::SystemTime) -> String {
    let seconds = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let days = seconds / 86_400;
    let (hour, minute, second) = (seconds % 86_400 / 3600, seconds % 3600 / 60, seconds % 60);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
