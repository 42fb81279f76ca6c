//! Printing results as aligned tables, JSON or CSV.

pub(super) use crate::printable::{printable, printable_lines};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use serde_json::{Map, Value, json};
use unicode_width::UnicodeWidthStr;

use super::args::{Format, ShowFormat};
use crate::connection::Connection;
use crate::jobs::import::{ImportFailure, ImportReport};
use crate::jobs::problems::grouped;
use crate::jobs::provision::RetrySummary;
use crate::runtime::wit;
use crate::store::{
    AccountRecord, Change, RunRecord, StoredAccount, StoredEntitlement, Task, TaskAttempt, TaskId,
    TaskStatus, Withheld,
};

/// The fields every row of a listing has, in the order CSV headers start with (the JSON Schemas
/// in `schemas/` describe each).
const ACCOUNT_KEYS: &[&str] = &["name", "status", "present", "locked", "owner"];
const ENTITLEMENT_KEYS: &[&str] = &["type", "value", "status", "present"];
const CHANGE_KEYS: &[&str] = &[
    "object",
    "account",
    "entitlementType",
    "value",
    "change",
    "column",
    "old",
    "new",
];
const RUN_KEYS: &[&str] = &[
    "id",
    "endpoint",
    "kind",
    "scope",
    "startedAt",
    "finishedAt",
    "outcome",
    "error",
    "accounts",
    "accountDetails",
    "entitlements",
    "links",
    "newAccounts",
    "updatedAccounts",
    "newEntitlements",
    "updatedEntitlements",
    "suspended",
    "restored",
    "linksAdded",
    "linksRemoved",
    "entitlementsInactivated",
    "entitlementsRestored",
    "withheld",
    "prunedAt",
    "changesPruned",
];
const TASK_KEYS: &[&str] = &[
    "id",
    "endpoint",
    "account",
    "kind",
    "status",
    "tries",
    "maxTries",
    "lastError",
    "createdAt",
    "updatedAt",
    "nextTryAt",
    "leaseOwner",
    "leaseUntil",
    "completedAt",
    "comments",
    "skippedCalls",
];
const PROBLEM_KEYS: &[&str] = &["severity", "attribute", "locations", "message"];

/// How many changes a dry run lists as text; `--json` lists them all.
const DRY_RUN_CHANGES_SHOWN: usize = 50;

/// Rows of cells under a header, printed in the chosen format.
pub(super) struct Rows {
    pub(super) header: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
}

impl Rows {
    /// Prints a listing: these rows as a table, or `json_rows` as JSON or as CSV. A CSV record is
    /// its JSON row flattened ([`flat_fields`]), so CSV and JSON name every field alike; its
    /// header starts with `fixed_keys` (the fields every row has, so an empty listing still
    /// has its header), then the other keys in order of first appearance.
    fn write(
        &self,
        out: &mut dyn Write,
        format: Format,
        json_rows: Vec<Value>,
        fixed_keys: &[&str],
    ) -> io::Result<()> {
        match format {
            Format::Table => self.write_table(out),
            Format::Csv => csv_rows(&json_rows, fixed_keys).write_csv(out),
            Format::Json => {
                serde_json::to_writer_pretty(&mut *out, &Value::Array(json_rows))?;
                writeln!(out)
            }
        }
    }

    /// Aligned columns under the header; without a header, just the aligned rows. Control
    /// characters in a cell are shown escaped ([`printable`]): they would break the table.
    pub(super) fn write_table(&self, out: &mut dyn Write) -> io::Result<()> {
        let header: Vec<String> = self.header.iter().map(|cell| printable(cell)).collect();
        let rows: Vec<Vec<String>> = (self.rows.iter())
            .map(|row| row.iter().map(|cell| printable(cell)).collect())
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|cell| cell.width()).collect();
        for row in &rows {
            if widths.len() < row.len() {
                widths.resize(row.len(), 0);
            }
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.width().min(MAX_COLUMN_WIDTH));
            }
        }
        if !header.is_empty() {
            write_aligned(out, &header, &widths)?;
        }
        for row in &rows {
            write_aligned(out, row, &widths)?;
        }
        Ok(())
    }

    /// RFC 4180 CSV, each field passed through [`csv_field`].
    fn write_csv(&self, out: &mut dyn Write) -> io::Result<()> {
        for record in std::iter::once(&self.header).chain(&self.rows) {
            let line = record
                .iter()
                .map(|field| csv_field(field, record.len()))
                .collect::<Vec<_>>()
                .join(",");
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}

/// The CSV records of JSON rows: the header is `fixed_keys`, then every other flattened key in
/// order of first appearance; a row without a key has an empty field there.
fn csv_rows(json_rows: &[Value], fixed_keys: &[&str]) -> Rows {
    let flat: Vec<Vec<(String, String)>> = json_rows.iter().map(flat_fields).collect();
    let mut header: Vec<String> = fixed_keys.iter().map(|key| key.to_string()).collect();
    let mut known: std::collections::HashSet<String> = header.iter().cloned().collect();
    // Grouped by their first part (`columns.`, `entitlements.`), groups and keys in order of
    // first appearance.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (key, _) in flat.iter().flatten() {
        if known.insert(key.clone()) {
            let group = key.split('.').next().unwrap_or_default().to_owned();
            match groups.iter_mut().find(|(name, _)| *name == group) {
                Some((_, keys)) => keys.push(key.clone()),
                None => groups.push((group, vec![key.clone()])),
            }
        }
    }
    header.extend(groups.into_iter().flat_map(|(_, keys)| keys));
    let rows = flat
        .iter()
        .map(|fields| {
            let by_key: std::collections::HashMap<&str, &str> = fields
                .iter()
                .map(|(key, value)| (key.as_str(), value.as_str()))
                .collect();
            header
                .iter()
                .map(|key| {
                    by_key
                        .get(key.as_str())
                        .copied()
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .collect();
    Rows { header, rows }
}

/// A JSON row as CSV fields: a nested object's fields are named by their path (`columns.email`,
/// `entitlements.Role`; an empty object has none), a list is its items joined by `;`, `null` is
/// empty, and numbers and booleans are written as JSON writes them.
fn flat_fields(row: &Value) -> Vec<(String, String)> {
    fn flatten(prefix: &str, value: &Value, fields: &mut Vec<(String, String)>) {
        match value {
            Value::Object(members) => {
                for (key, member) in members {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    flatten(&path, member, fields);
                }
            }
            other => fields.push((prefix.to_owned(), scalar_text(other))),
        }
    }
    let mut fields = Vec::new();
    flatten("", row, &mut fields);
    fields
}

/// A JSON value as one CSV field.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(";"),
        other => other.to_string(),
    }
}

/// One CSV field as `--format csv` writes it. CSV is read by people and spreadsheets as much
/// as by programs (`--format json` is the lossless format), so:
/// - control and bidi characters are escaped as everywhere else ([`printable`]): no raw ESC,
///   CR or LF reaches a terminal or splits a record, and no U+202E reorders a spreadsheet cell;
/// - a value a spreadsheet would take for a formula (starting with `=`, `+`, `-` or `@`, and not
///   a plain number such as `-5`) gets a leading `'`, so Excel and LibreOffice show it as text
///   instead of evaluating it (OWASP's advice against CSV injection);
/// - a field is quoted when it holds a comma or a quote (doubled inside), when it was changed
///   by either rule above (a reader sees it was, and a program can undo the `'`), and when it
///   is the empty only field of its record.
fn csv_field(value: &str, fields_in_record: usize) -> String {
    let escaped = printable(value);
    let formula = value.starts_with(['=', '+', '-', '@']) && value.parse::<f64>().is_err();
    let changed = formula || escaped != value;
    let text = if formula {
        format!("'{escaped}")
    } else {
        escaped
    };
    let quote = changed || text.contains([',', '"']) || (text.is_empty() && fields_in_record == 1);
    if quote {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The widest a column is padded to, in terminal columns: one value a server made huge (a
/// display name of megabytes) would otherwise pad every line of the table to its width. A
/// wider cell is shown whole; the cells after it on its line move right.
const MAX_COLUMN_WIDTH: usize = 120;

/// One line of a table: `cells` (already [`printable`]) padded to `widths`.
fn write_aligned(out: &mut dyn Write, cells: &[String], widths: &[usize]) -> io::Result<()> {
    let mut line = String::new();
    for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
        let last = index + 1 == cells.len();
        line.push_str(cell);
        if !last {
            line.push_str(&" ".repeat(width.saturating_sub(cell.width()) + 2));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

fn columns_object(columns: &[(String, String)]) -> Value {
    Value::Object(
        columns
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect::<Map<_, _>>(),
    )
}

/// The union of column names, in order of first appearance.
fn column_names<'a>(all: impl Iterator<Item = &'a [(String, String)]>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for columns in all {
        for (name, _) in columns {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

fn column_value(columns: &[(String, String)], name: &str) -> String {
    columns
        .iter()
        .find(|(column, _)| column == name)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

fn links_by_type(account: &StoredAccount) -> BTreeMap<&str, Vec<&str>> {
    let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for link in &account.entitlements {
        by_type
            .entry(&link.entitlement_type)
            .or_default()
            .push(&link.value);
    }
    by_type
}

/// An account as `accounts --format json` and `show account --format json` print it.
fn account_json(account: &StoredAccount) -> Value {
    json!({
        "name": account.name,
        "status": account.status,
        "present": account.present,
        "locked": account.locked,
        "owner": account.owner,
        "columns": columns_object(&account.columns),
        "entitlements": links_by_type(account),
    })
}

/// An account's lock as the tables show it: `yes`, `no`, or nothing when it is unknown (no
/// `lockedStatusColumn`).
fn locked_word(locked: Option<bool>) -> &'static str {
    match locked {
        Some(true) => "yes",
        Some(false) => "no",
        None => "",
    }
}

/// `dcconn accounts`.
pub fn accounts(out: &mut dyn Write, accounts: &[StoredAccount], format: Format) -> io::Result<()> {
    let json_rows = accounts.iter().map(account_json).collect();
    let rows = Rows {
        header: [
            "NAME",
            "STATUS",
            "LOCKED",
            "OWNER",
            "DISPLAYNAME",
            "ENTITLEMENTS",
        ]
        .map(String::from)
        .to_vec(),
        rows: accounts
            .iter()
            .map(|account| {
                let links = links_by_type(account)
                    .iter()
                    .map(|(t, values)| format!("{t}: {}", values.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; ");
                vec![
                    account.name.clone(),
                    account.status.clone(),
                    locked_word(account.locked).to_owned(),
                    account.owner.clone().unwrap_or_default(),
                    column_value(&account.columns, "displayname"),
                    links,
                ]
            })
            .collect(),
    };
    rows.write(out, format, json_rows, ACCOUNT_KEYS)
}

/// `dcconn entitlements`.
pub fn entitlements(
    out: &mut dyn Write,
    entitlements: &[StoredEntitlement],
    format: Format,
) -> io::Result<()> {
    let json_rows = entitlements
        .iter()
        .map(|e| json!({"type": e.entitlement_type, "value": e.value, "status": e.status, "present": e.present, "columns": columns_object(&e.columns)}))
        .collect();
    let names = column_names(entitlements.iter().map(|e| e.columns.as_slice()));
    let mut header: Vec<String> = ["TYPE", "VALUE", "STATUS"].map(String::from).to_vec();
    header.extend(names.iter().map(|name| name.to_uppercase()));
    let rows = entitlements
        .iter()
        .map(|e| {
            let mut row = vec![
                e.entitlement_type.clone(),
                e.value.clone(),
                e.status.clone(),
            ];
            row.extend(names.iter().map(|name| column_value(&e.columns, name)));
            row
        })
        .collect();
    Rows { header, rows }.write(out, format, json_rows, ENTITLEMENT_KEYS)
}

/// `dcconn runs`. The JSON is the whole record (camelCase); the table and CSV show its main
/// fields, the CSV under their JSON names. A run whose changes were pruned says when.
pub fn runs(out: &mut dyn Write, runs: &[RunRecord], format: Format) -> io::Result<()> {
    let json_rows = runs
        .iter()
        .map(|run| serde_json::to_value(run).unwrap_or(Value::Null))
        .collect();
    let header = [
        ("id", "RUN"),
        ("startedAt", "STARTED"),
        ("outcome", "OUTCOME"),
        ("scope", "SCOPE"),
        ("accounts", "ACCOUNTS"),
        ("entitlements", "ENTITLEMENTS"),
        ("links", "LINKS"),
        ("prunedAt", "PRUNED"),
        ("error", "REASON"),
    ]
    .map(|(field, title)| match format {
        Format::Table => title.to_owned(),
        _ => field.to_owned(),
    })
    .to_vec();
    let rows = runs
        .iter()
        .map(|run| {
            let reason = match run.error.as_deref() {
                Some(error) => error.lines().next().unwrap_or_default().to_owned(),
                None => withheld_reason(&run.withheld),
            };
            vec![
                run.id.to_string(),
                run.started_at.clone(),
                run.outcome.to_string(),
                run.scope.clone(),
                run.accounts.to_string(),
                run.entitlements.to_string(),
                run.links.to_string(),
                run.pruned_at.clone().unwrap_or_default(),
                reason,
            ]
        })
        .collect();
    Rows { header, rows }.write(out, format, json_rows, RUN_KEYS)
}

/// Why a run withheld removals, for the runs table: `withheld: 12 account removals reached
/// accountThresholdValue 10`; empty when it withheld none.
pub fn withheld_reason(withheld: &[Withheld]) -> String {
    let reasons: Vec<String> = withheld
        .iter()
        .map(|held| {
            let what = match held.what.as_str() {
                "accounts" => "account".to_owned(),
                entitlement_type => printable(entitlement_type),
            };
            match held.threshold {
                Some(threshold) => format!(
                    "{} {what} removals reached {} {threshold}",
                    held.count,
                    printable(&held.setting)
                ),
                None => format!(
                    "no account reported and {} is off: {} account removals",
                    held.setting, held.count
                ),
            }
        })
        .collect();
    match reasons.is_empty() {
        true => String::new(),
        false => format!("withheld: {}", reasons.join("; ")),
    }
}

fn change_json(change: &Change) -> Value {
    json!({
        "object": change.object,
        "account": change.account,
        "entitlementType": change.entitlement_type,
        "value": change.value,
        "change": change.change,
        "column": change.column_name,
        "old": change.old,
        "new": change.new,
    })
}

/// `dcconn changes RUN`.
pub fn changes(out: &mut dyn Write, changes: &[Change], format: Format) -> io::Result<()> {
    let json_rows = changes.iter().map(change_json).collect();
    let header = [
        "CHANGE", "OBJECT", "ACCOUNT", "TYPE", "VALUE", "COLUMN", "OLD", "NEW",
    ]
    .map(String::from)
    .to_vec();
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let rows = changes
        .iter()
        .map(|c| {
            vec![
                c.change.clone(),
                c.object.clone(),
                text(&c.account),
                text(&c.entitlement_type),
                text(&c.value),
                text(&c.column_name),
                text(&c.old),
                text(&c.new),
            ]
        })
        .collect();
    Rows { header, rows }.write(out, format, json_rows, CHANGE_KEYS)
}

/// `dcconn show account`: the account, then its history and its tasks.
pub fn account_record(
    out: &mut dyn Write,
    record: &AccountRecord,
    format: ShowFormat,
) -> io::Result<()> {
    let account = &record.account;
    if format == ShowFormat::Json {
        let mut history: Vec<(String, Value)> = record
            .history
            .iter()
            .map(|(started, change)| {
                let mut value = change_json(change);
                value["run"] = Value::from(change.run_id);
                value["runStarted"] = Value::from(started.as_str());
                (started.clone(), value)
            })
            .collect();
        history.extend(record.provisioned.iter().map(|change| {
            let value = json!({
                "object": "account",
                "account": account.name,
                "change": "provisioned",
                "column": change.column,
                "old": change.old,
                "new": change.new,
                "task": change.task_id,
                "try": change.try_number,
                "at": change.at,
            });
            (change.at.clone(), value)
        }));
        history.sort_by(|a, b| a.0.cmp(&b.0));
        let history = history.into_iter().map(|(_, value)| value).collect();
        let mut value = account_json(account);
        value["history"] = Value::Array(history);
        value["tasks"] = record
            .tasks
            .iter()
            .zip(&record.attempts)
            .map(|(task, (_, attempts))| {
                let mut task = serde_json::to_value(task).unwrap_or(Value::Null);
                task["attempts"] = serde_json::to_value(attempts).unwrap_or(Value::Null);
                task
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &value)?;
        return writeln!(out);
    }
    let yes_no = |flag: Option<bool>| match flag {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    writeln!(out, "account {}", printable(&account.name))?;
    let facts = [
        ("status", account.status.clone()),
        ("reported", yes_no(Some(account.present)).to_string()),
        ("locked", yes_no(account.locked).to_string()),
        (
            "owner",
            account.owner.clone().unwrap_or_else(|| "none".into()),
        ),
    ];
    let facts = facts
        .map(|(name, value)| vec![format!("  {name}"), value])
        .to_vec();
    let columns = account
        .columns
        .iter()
        .map(|(name, value)| vec![format!("  {name}"), value.clone()])
        .collect();
    let links = account
        .entitlements
        .iter()
        .map(|link| vec![format!("  {}", link.entitlement_type), link.value.clone()])
        .collect();
    for (title, rows) in [("", facts), ("columns", columns), ("entitlements", links)] {
        if !title.is_empty() {
            writeln!(out, "\n{title}")?;
        }
        Rows {
            header: Vec::new(),
            rows,
        }
        .write_table(out)?;
    }
    writeln!(out, "\nhistory")?;
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let mut history: Vec<Vec<String>> = record
        .history
        .iter()
        .map(|(started, c)| {
            vec![
                format!("run {}", c.run_id),
                started.clone(),
                c.change.clone(),
                match (&c.entitlement_type, &c.value) {
                    (Some(t), Some(v)) => format!("{t} {v}"),
                    _ => text(&c.column_name),
                },
                text(&c.old),
                text(&c.new),
            ]
        })
        .collect();
    history.extend(record.provisioned.iter().map(|c| {
        vec![
            format!("task {}", c.task_id),
            c.at.clone(),
            "provisioned".to_string(),
            c.column.clone(),
            text(&c.old),
            c.new.clone(),
        ]
    }));
    history.sort_by(|a, b| a[1].cmp(&b[1]));
    let header = ["BY", "AT", "CHANGE", "WHAT", "OLD", "NEW"]
        .map(String::from)
        .to_vec();
    Rows {
        header,
        rows: history,
    }
    .write_table(out)?;
    writeln!(out, "\ntasks")?;
    tasks(out, &record.tasks, Format::Table)?;
    writeln!(out, "\nattempts")?;
    task_attempts(out, &record.attempts)
}

/// The attempts of `show account`'s tasks, a row each: what every try came to, the errors of
/// tasks that completed later included.
fn task_attempts(out: &mut dyn Write, attempts: &[(i64, Vec<TaskAttempt>)]) -> io::Result<()> {
    let header = ["TASK", "TRY", "STARTED", "FINISHED", "OUTCOME", "ERROR"]
        .map(String::from)
        .to_vec();
    let rows = attempts
        .iter()
        .flat_map(|(task, attempts)| {
            attempts.iter().map(move |attempt| {
                vec![
                    task.to_string(),
                    attempt.try_number.to_string(),
                    attempt.started_at.clone(),
                    attempt.finished_at.clone().unwrap_or_default(),
                    attempt
                        .outcome
                        .map(|outcome| outcome.to_string())
                        .unwrap_or_else(|| "in progress".to_owned()),
                    attempt
                        .error
                        .as_deref()
                        .and_then(|error| error.lines().next())
                        .unwrap_or_default()
                        .to_owned(),
                ]
            })
        })
        .collect();
    Rows { header, rows }.write_table(out)
}

/// The line of an attempt that lost its lease on `task` (as claimed): another worker took the
/// task over; what that worker records stands.
pub fn lease_lost_line(task: &Task) -> String {
    format!(
        "lease lost for task {} ({} {}, try {}): another worker took it over; this attempt sent nothing more and recorded nothing",
        task.id,
        task.kind,
        printable(&task.account),
        task.tries
    )
}

/// One line about a task: `task 3: disable o'brien&co: COMPLETE after 1 try`.
pub fn task_line(task: &Task) -> String {
    let tries = if task.tries == 1 { "try" } else { "tries" };
    let mut line = format!(
        "task {}: {} {}: {} after {} {tries}",
        task.id,
        task.kind,
        printable(&task.account),
        task.status,
        task.tries
    );
    if !matches!(task.status, TaskStatus::Complete | TaskStatus::Cancelled)
        && let Some(error) = &task.last_error
    {
        line.push_str(&format!(": {}", printable(error)));
    }
    if task.status == TaskStatus::Complete
        && let Some(comments) = &task.comments
    {
        line.push_str(&format!(" ({})", printable(comments)));
    }
    if task.status == TaskStatus::Complete && !task.skipped_calls.is_empty() {
        let calls: Vec<String> = task.skipped_calls.iter().map(u32::to_string).collect();
        let (noun, verb) = match calls.len() {
            1 => ("call", "renders"),
            _ => ("calls", "render"),
        };
        line.push_str(&format!(
            "; {noun} {} skipped: {verb} empty, nothing sent",
            calls.join(", ")
        ));
    }
    if task.status == TaskStatus::PendingProvisioning
        && let Some(next) = &task.next_attempt_at
    {
        line.push_str(&format!(" (next try at {next}; `dcconn retry` runs it)"));
    }
    line
}

/// The note of `enable`/`disable` that found the account's pending task of that kind and
/// created no other (`queued`: with `--queue`, so it was left for the retry job).
pub fn pending_task_note(task: &Task, queued: bool) -> String {
    let then = if queued {
        "it stays queued for `dcconn retry`"
    } else if task.status == TaskStatus::New {
        "it waits for an earlier task of the account"
    } else {
        "this command attempted it"
    };
    format!(
        "account {} already had a pending {} task, task {}: no second task was created; {then}",
        printable(&task.account),
        task.kind,
        task.id
    )
}

/// The note of an `enable`/`disable` whose task was not attempted because an earlier task of
/// its account has not ended (an account's tasks run in the order they were made).
pub fn waiting_for_earlier_note(task: &Task, earlier: &Task) -> String {
    format!(
        "task {} waits for task {} of {} ({} {}): an account's tasks run in the order they were made; `dcconn retry` runs them in turn",
        task.id,
        earlier.id,
        printable(&task.account),
        earlier.kind,
        earlier.status
    )
}

/// Why a task was not attempted: another attempt holds it (a dead worker's lease runs out).
pub fn held_task_note(task: &Task) -> String {
    format!(
        "task {} of {} is held by another attempt ({}) until {}; it is tried again after that",
        task.id,
        printable(&task.account),
        printable(task.lease_owner.as_deref().unwrap_or("unknown")),
        task.lease_until.as_deref().unwrap_or("unknown"),
    )
}

/// `1 attempt`, `2 attempts`: a count and its noun.
pub(super) fn counted(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The note of a retry run that waits: `waiting 45 s for task 3 (next try at ...)`.
pub fn waiting_line(task: TaskId, at: &str, wait: Duration) -> String {
    let seconds = wait.as_secs_f64();
    let shown = if seconds < 10.0 {
        format!("{seconds:.1}")
    } else {
        format!("{seconds:.0}")
    };
    format!(
        "waiting {shown} s for task {task} (next try at {at}); `dcconn retry --due-only` runs only what is due and exits"
    )
}

/// The last line of `dcconn retry`: what the run did.
pub fn retry_summary(endpoint: &str, summary: &RetrySummary) -> String {
    let mut line = format!(
        "retry of {}: {}, {} completed, {} failed for good",
        printable(endpoint),
        counted(summary.attempts, "attempt", "attempts"),
        counted(summary.completed, "task", "tasks"),
        summary.failed,
    );
    if summary.rescheduled > 0 {
        line.push_str(&format!(
            ", {} rescheduled",
            counted(summary.rescheduled, "failed try", "failed tries")
        ));
    }
    if summary.lost > 0 {
        line.push_str(&format!(
            ", {} to other workers",
            counted(summary.lost, "lease lost", "leases lost")
        ));
    }
    line
}

/// `enable/disable --dry-run`: each request as it would be sent.
pub fn rendered_requests(out: &mut dyn Write, requests: &[wit::RenderedRequest]) -> io::Result<()> {
    writeln!(
        out,
        "dry run: nothing was sent and no task was created; the plan would send:"
    )?;
    for request in requests {
        if request.skipped {
            writeln!(
                out,
                "\n# call {}: skipped (its REQUESTXML renders empty: nothing is sent)",
                request.call
            )?;
            continue;
        }
        writeln!(
            out,
            "\n# call {}: POST {}",
            request.call,
            printable(&request.url)
        )?;
        for header in &request.headers {
            writeln!(
                out,
                "{}: {}",
                printable(&header.name),
                printable(&header.value)
            )?;
        }
        writeln!(out, "\n{}", printable_lines(&request.body))?;
    }
    Ok(())
}

/// `dcconn tasks`. JSON and CSV give every field of the task under the same camelCase names (the
/// CSV header row is the JSON keys); the table, for people, the main ones.
pub fn tasks(out: &mut dyn Write, tasks: &[Task], format: Format) -> io::Result<()> {
    let json_rows: Vec<Value> = tasks
        .iter()
        .map(|task| serde_json::to_value(task).unwrap_or(Value::Null))
        .collect();
    let header = [
        "TASK",
        "KIND",
        "ACCOUNT",
        "STATUS",
        "TRIES",
        "NEXT TRY",
        "LAST ERROR",
        "COMMENTS",
    ]
    .map(String::from)
    .to_vec();
    let first_line = |text: &Option<String>| {
        text.as_deref()
            .and_then(|e| e.lines().next())
            .unwrap_or_default()
            .to_string()
    };
    let rows = tasks
        .iter()
        .map(|task| {
            vec![
                task.id.to_string(),
                task.kind.to_string(),
                task.account.clone(),
                task.status.to_string(),
                format!("{}/{}", task.tries, task.max_tries),
                task.next_attempt_at.clone().unwrap_or_default(),
                first_line(&task.last_error),
                first_line(&task.comments),
            ]
        })
        .collect();
    Rows { header, rows }.write(out, format, json_rows, TASK_KEYS)
}

/// `dcconn validate`: one problem per line, the same problem at several places once with its
/// places (JSON and CSV: `locations`, every place as reported).
pub fn problems(out: &mut dyn Write, problems: &[wit::Problem], format: Format) -> io::Result<()> {
    let groups = grouped(problems);
    if format == Format::Table {
        if groups.is_empty() {
            return writeln!(out, "no problems found");
        }
        for group in &groups {
            writeln!(out, "{}", printable_lines(&group.describe()))?;
        }
        return Ok(());
    }
    let json_rows = groups
        .iter()
        .map(|group| {
            json!({
                "severity": group.severity_name(),
                "attribute": group.attribute,
                "locations": group.locations,
                "message": group.message,
            })
        })
        .collect();
    let no_table = Rows {
        header: Vec::new(),
        rows: Vec::new(),
    };
    no_table.write(out, format, json_rows, PROBLEM_KEYS)
}

/// The summary of a completed import.
pub fn import_summary(
    out: &mut dyn Write,
    endpoint: &str,
    report: &ImportReport,
    as_json: bool,
) -> io::Result<()> {
    let s = &report.summary;
    if as_json {
        let mut value = json!({
            "outcome": s.outcome().to_string(),
            "dryRun": report.dry_run,
            "endpoint": endpoint,
            // A dry run records no run: the number it used is rolled back and given again.
            "run": (!report.dry_run).then_some(s.run),
            "accounts": s.accounts,
            "newAccounts": s.new_accounts,
            "updatedAccounts": s.updated_accounts,
            "accountDetails": s.account_details,
            "suspended": s.suspended,
            "restored": s.restored,
            "entitlements": s.entitlements,
            "newEntitlements": s.new_entitlements,
            "updatedEntitlements": s.updated_entitlements,
            "entitlementsInactivated": s.entitlements_inactivated,
            "entitlementsRestored": s.entitlements_restored,
            "links": s.links,
            "linksAdded": s.links_added,
            "linksRemoved": s.links_removed,
            "withheld": s.withheld,
            "elapsedMs": report.elapsed.as_millis() as u64,
            "timingsMs": report.timings.milliseconds(),
            "warnings": grouped(&report.warnings).iter().map(|group| group.describe()).collect::<Vec<_>>(),
        });
        if report.dry_run {
            value["changes"] = Value::Array(report.changes.iter().map(change_json).collect());
        }
        serde_json::to_writer_pretty(&mut *out, &value)?;
        return writeln!(out);
    }
    let endpoint = printable(endpoint);
    let what = if report.dry_run {
        format!("dry run of {endpoint}")
    } else {
        format!("imported {endpoint} (run {})", s.run)
    };
    writeln!(
        out,
        "{what} in {:.1}s: {} accounts ({} new, {} updated, {} restored, {} suspended), \
         {} links ({} added, {} removed), {} entitlements ({} new, {} updated, {} restored, {} inactivated)",
        report.elapsed.as_secs_f64(),
        s.accounts,
        s.new_accounts,
        s.updated_accounts,
        s.restored,
        s.suspended,
        s.links,
        s.links_added,
        s.links_removed,
        s.entitlements,
        s.new_entitlements,
        s.updated_entitlements,
        s.entitlements_restored,
        s.entitlements_inactivated,
    )?;
    if report.dry_run {
        let shown = report.changes.len().min(DRY_RUN_CHANGES_SHOWN);
        writeln!(
            out,
            "nothing was written; the run would make {} changes:",
            report.changes.len()
        )?;
        changes(out, &report.changes[..shown], Format::Table)?;
        if shown < report.changes.len() {
            writeln!(
                out,
                "... and {} more (--json lists them all)",
                report.changes.len() - shown
            )?;
        }
    }
    Ok(())
}

/// An import that failed before it began (its connection, component or store), as JSON (with
/// `--json`): no run, and the endpoint only when `--endpoint` named it.
pub(super) fn import_refused(
    out: &mut dyn Write,
    endpoint: Option<&str>,
    failure: &super::Failure,
) -> io::Result<()> {
    let value = json!({
        "outcome": "failed",
        "endpoint": endpoint,
        "run": null,
        "exitCode": failure.code,
        "error": failure.message,
    });
    serde_json::to_writer_pretty(&mut *out, &value)?;
    writeln!(out)
}

/// A failed import as JSON (with `--json`).
pub fn import_failure(
    out: &mut dyn Write,
    endpoint: &str,
    failure: &ImportFailure,
    connection: &Connection,
    dry_run: bool,
) -> io::Result<()> {
    let value = json!({
        "outcome": "failed",
        "endpoint": endpoint,
        "run": if dry_run { None } else { failure.run },
        "exitCode": failure.error.exit_code(),
        "error": failure.error.redacted(Some(connection)),
    });
    serde_json::to_writer_pretty(&mut *out, &value)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_and_line_separators_are_escaped_and_nothing_else() {
        let cases = [
            (
                "o'brien&co \\ DOMAIN\\user é 🦜",
                "o'brien&co \\ DOMAIN\\user é 🦜",
            ),
            (
                "\u{1b}]0;pwned\u{7}\u{1b}[2J",
                "\\u{1b}]0;pwned\\u{7}\\u{1b}[2J",
            ),
            ("a\u{9b}31mb\u{85}c\u{7f}", "a\\u{9b}31mb\\u{85}c\\u{7f}"),
            ("a\r\nb\tc\0", "a\\r\\nb\\tc\\u{0}"),
            (
                "\u{202e}\u{202a}\u{202b}\u{202c}\u{202d}\u{2066}\u{2067}\u{2068}\u{2069}",
                "\\u{202e}\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{2066}\\u{2067}\\u{2068}\\u{2069}",
            ),
            (
                "\u{200e}\u{200f}\u{61c}\u{2028}\u{2029}",
                "\\u{200e}\\u{200f}\\u{61c}\\u{2028}\\u{2029}",
            ),
        ];
        for (text, shown) in cases {
            assert_eq!(printable(text), shown, "{text:?}");
        }
        assert_eq!(
            printable_lines("first\u{1b}[2J\nsecond\r\n\u{202e}third"),
            "first\\u{1b}[2J\nsecond\\r\n\\u{202e}third"
        );
    }

    /// A task with every field set, as `dcconn tasks` might list it.
    fn listed_task() -> Task {
        Task {
            id: 3,
            endpoint: "prod".into(),
            account: "o'brien&co".into(),
            kind: crate::store::TaskKind::Disable,
            status: TaskStatus::PendingProvisioning,
            tries: 1,
            max_tries: 10,
            last_error: Some("HTTP 503\nService Unavailable".into()),
            created_at: "t0".into(),
            updated_at: "t1".into(),
            next_attempt_at: Some("t2".into()),
            lease_owner: None,
            lease_until: None,
            completed_at: None,
            comments: Some("=cmd".into()),
            skipped_calls: vec![1, 2],
        }
    }

    #[test]
    fn the_tasks_csv_header_is_the_json_keys_and_its_cells_their_values() {
        let task = listed_task();
        let json = serde_json::to_value(&task).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, TASK_KEYS);
        let mut out = Vec::new();
        tasks(&mut out, &[task], Format::Csv).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id,endpoint,account,kind,status,tries,maxTries,lastError,createdAt,updatedAt,nextTryAt,leaseOwner,leaseUntil,completedAt,comments,skippedCalls\n\
             3,prod,o'brien&co,disable,PENDING PROVISIONING,1,10,\"HTTP 503\\nService Unavailable\",t0,t1,t2,,,,\"'=cmd\",1;2\n"
        );
        let mut out = Vec::new();
        tasks(&mut out, &[], Format::Csv).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap().lines().next(),
            Some(TASK_KEYS.join(",").as_str())
        );
    }

    #[test]
    fn an_ended_task_shows_no_next_try_and_a_cancelled_one_no_error() {
        let task = Task {
            status: TaskStatus::Cancelled,
            next_attempt_at: None,
            ..listed_task()
        };
        assert_eq!(
            task_line(&task),
            "task 3: disable o'brien&co: CANCELLED after 1 try"
        );
        let mut out = Vec::new();
        tasks(&mut out, &[task], Format::Table).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "TASK  KIND     ACCOUNT     STATUS     TRIES  NEXT TRY  LAST ERROR  COMMENTS\n\
             3     disable  o'brien&co  CANCELLED  1/10             HTTP 503    =cmd\n"
        );
    }

    #[test]
    fn retry_summaries_count_in_words() {
        let summary = |attempts, completed, failed, rescheduled, lost| RetrySummary {
            attempts,
            completed,
            failed,
            rescheduled,
            lost,
        };
        for (counts, line) in [
            (
                summary(0, 0, 0, 0, 0),
                "retry of prod: 0 attempts, 0 tasks completed, 0 failed for good",
            ),
            (
                summary(1, 1, 0, 0, 0),
                "retry of prod: 1 attempt, 1 task completed, 0 failed for good",
            ),
            (
                summary(3, 1, 1, 1, 0),
                "retry of prod: 3 attempts, 1 task completed, 1 failed for good, 1 failed try rescheduled",
            ),
            (
                summary(5, 2, 0, 2, 1),
                "retry of prod: 5 attempts, 2 tasks completed, 0 failed for good, 2 failed tries rescheduled, 1 lease lost to other workers",
            ),
            (
                summary(2, 0, 0, 0, 2),
                "retry of prod: 2 attempts, 0 tasks completed, 0 failed for good, 2 leases lost to other workers",
            ),
        ] {
            assert_eq!(retry_summary("prod", &counts), line);
        }
        assert_eq!(
            waiting_line(TaskId(3), "t2", Duration::from_millis(45_400)),
            "waiting 45 s for task 3 (next try at t2); `dcconn retry --due-only` runs only what is due and exits"
        );
        assert!(
            waiting_line(TaskId(3), "t2", Duration::from_millis(1_250))
                .starts_with("waiting 1.2 s for task 3")
        );
    }

    #[test]
    fn csv_fields_are_escaped_quoted_when_needed_and_never_formulas() {
        let cases = [
            ("plain", "plain"),
            ("", ""),
            ("a,b", "\"a,b\""),
            ("Tom \"T\"", "\"Tom \"\"T\"\"\""),
            ("a\r\nb", "\"a\\r\\nb\""),
            ("\u{1b}[2J\u{9b}\u{202e}", "\"\\u{1b}[2J\\u{9b}\\u{202e}\""),
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+1+cmd|' /C calc'!A0", "\"'+1+cmd|' /C calc'!A0\""),
            ("-2+3", "\"'-2+3\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("-5", "-5"),
            ("+1.5", "+1.5"),
            ("a=b", "a=b"),
        ];
        for (value, field) in cases {
            assert_eq!(csv_field(value, 3), field, "{value:?}");
        }
        assert_eq!(csv_field("", 1), "\"\"");
        let rows = Rows {
            header: vec!["name".into(), "note".into()],
            rows: vec![vec!["m\nINFO task complete".into(), "=1+1".into()]],
        };
        let mut out = Vec::new();
        rows.write_csv(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name,note\n\"m\\nINFO task complete\",\"'=1+1\"\n"
        );
    }

    #[test]
    fn a_huge_cell_is_shown_whole_without_padding_every_line_to_its_width() {
        let rows = Rows {
            header: vec!["NAME".into(), "DISPLAY".into(), "X".into()],
            rows: vec![
                vec!["a".into(), "x".repeat(100_000), "1".into()],
                vec!["b".into(), "short".into(), "2".into()],
            ],
        };
        let mut out = Vec::new();
        rows.write_table(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].len(), 4 + 2 + MAX_COLUMN_WIDTH + 2 + 1);
        assert_eq!(lines[1], format!("a     {}  1", "x".repeat(100_000)));
        assert_eq!(lines[2].len(), lines[0].len());
    }
}
