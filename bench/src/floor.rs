//! The floor: what an administrator's own script would do, and nothing more. It posts the same
//! requests, streams the same response bytes through quick-xml into the same rows the import
//! stores (accounts with their columns, links, entitlements) and writes them into the same
//! SQLite schema with prepared statements in one transaction. No sandbox, no configuration, no
//! staging, no reconciliation, no audit trail.

use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result, bail};
use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use rusqlite::{Connection, Statement, params};
use serde_json::Value;

/// The requests of the shipped package, with the session around each.
const USERS: &str = r#"<OnlineData.listEntityUsersRq entityID="1"></OnlineData.listEntityUsersRq>"#;
const ROLES: &str = r#"<Security.listRolesRq includePrivileges="false"></Security.listRolesRq>"#;
const ENTITIES: &str = "<OnlineData.listEntitiesRq></OnlineData.listEntitiesRq>";
const PRIVILEGES: &str = "<Security.listPrivilegesRq></Security.listPrivilegesRq>";

/// What the floor stored, and the bytes it read.
#[derive(Debug, Default)]
pub struct FloorCounts {
    /// Accounts written.
    pub accounts: u64,
    /// Links written.
    pub links: u64,
    /// Entitlements written.
    pub entitlements: u64,
    /// Response bytes read.
    pub bytes: u64,
}

/// Imports everything from `endpoint` into a new store at `db`.
pub fn run(endpoint: &str, username: &str, password: &str, db: &Path) -> Result<FloorCounts> {
    // The store's own schema, created by the store itself; then plain SQL.
    drop(dcconn::store::Store::open(db)?);
    let mut conn = Connection::open(db)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let tx = conn.transaction()?;
    tx.execute("INSERT INTO endpoints (name) VALUES ('DuckCreek')", [])?;
    tx.execute(
        "INSERT INTO runs (endpoint_id, kind, scope, started_at, outcome)
         VALUES (1, 'import', 'all', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'succeeded')",
        [],
    )?;
    let mut counts = FloorCounts::default();
    {
        let mut rows = Rows::prepare(&tx)?;
        let body = post(endpoint, username, password, USERS)?;
        read_users(body, &mut rows, &mut counts)?;
        for (operation, element, kind, columns) in [
            (ROLES, "Role", "Role", &["id", "description"][..]),
            (ENTITIES, "", "Entity", &["id"][..]),
            (
                PRIVILEGES,
                "Privilege",
                "Privilege",
                &["id", "description", "type"][..],
            ),
        ] {
            let body = post(endpoint, username, password, operation)?;
            read_entitlements(body, element, kind, columns, &mut rows, &mut counts)?;
        }
    }
    tx.commit()?;
    Ok(counts)
}

/// The prepared inserts.
struct Rows<'c> {
    account: Statement<'c>,
    link: Statement<'c>,
    entitlement: Statement<'c>,
    now: String,
}

impl<'c> Rows<'c> {
    fn prepare(conn: &'c Connection) -> Result<Rows<'c>> {
        Ok(Rows {
            account: conn.prepare(
                "INSERT INTO accounts (endpoint_id, name, columns, status, locked,
                                       first_seen_run, last_seen_run, updated_at)
                 VALUES (1, ?1, ?2, ?3, ?4, 1, 1, ?5)",
            )?,
            link: conn.prepare(
                "INSERT OR IGNORE INTO links (endpoint_id, account_name, type, value,
                                              first_seen_run, last_seen_run)
                 VALUES (1, ?1, ?2, ?3, 1, 1)",
            )?,
            entitlement: conn.prepare(
                "INSERT OR REPLACE INTO entitlements (endpoint_id, type, value, columns, status,
                                                      first_seen_run, last_seen_run, updated_at)
                 VALUES (1, ?1, ?2, ?3, 'active', 1, 1, ?4)",
            )?,
            now: conn.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |row| {
                row.get(0)
            })?,
        })
    }
}

/// A response body, counted.
type Body = BufReader<Counted>;

/// Counts the bytes read through it.
pub struct Counted {
    inner: Box<dyn std::io::Read + Send>,
    read: u64,
}

impl std::io::Read for Counted {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.read += n as u64;
        Ok(n)
    }
}

fn post(endpoint: &str, username: &str, password: &str, operation: &str) -> Result<Body> {
    let body = format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><server><requests><Session.loginRq userName="{username}" password="{password}"></Session.loginRq>{operation}<Session.closeRq></Session.closeRq></requests></server></soapenv:Body></soapenv:Envelope>"#
    );
    let response = ureq::post(endpoint)
        .header("Content-Type", "text/xml; charset=utf-8")
        .send(body.as_bytes())
        .with_context(|| format!("POST {endpoint}"))?;
    let inner = Box::new(response.into_body().into_reader());
    Ok(BufReader::with_capacity(
        64 * 1024,
        Counted { inner, read: 0 },
    ))
}

/// An attribute's unescaped value.
fn attribute(element: &BytesStart<'_>, name: &str) -> Result<Option<String>> {
    for attribute in element.attributes() {
        let attribute = attribute?;
        if attribute.key.local_name().as_ref() == name {
            let value = attribute.normalized_value(XmlVersion::Implicit1_0)?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

/// The columns as the store encodes them: a JSON array of `[name, value]` pairs.
fn encode(columns: &[(&str, String)]) -> String {
    Value::Array(
        columns
            .iter()
            .map(|(name, value)| {
                Value::Array(vec![Value::from(*name), Value::from(value.as_str())])
            })
            .collect(),
    )
    .to_string()
}

/// The users and their links: `User` elements, `UserEntityMembership@entityName` and `Role@name`
/// inside.
fn read_users(body: Body, rows: &mut Rows<'_>, counts: &mut FloorCounts) -> Result<()> {
    let mut reader = Reader::from_reader(body);
    let mut buffer = Vec::new();
    let mut user: Option<String> = None;
    loop {
        let event = reader.read_event_into(&mut buffer)?;
        match &event {
            Event::Start(element) | Event::Empty(element) => match element.local_name().as_ref() {
                "User" => {
                    let get = |name| -> Result<String> {
                        Ok(attribute(element, name)?.unwrap_or_default())
                    };
                    let name = get("name")?;
                    let status = get("status")?;
                    // The shipped package's STATUS_THRESHOLD_CONFIG: only `Active` is active,
                    // and `Locked` is locked.
                    let (derived, locked) = (
                        if status == "Active" {
                            "active"
                        } else {
                            "inactive"
                        },
                        status == "Locked",
                    );
                    let columns = [
                        ("name", name.clone()),
                        ("accountID", get("id")?),
                        ("customproperty1", get("email")?),
                        ("customproperty2", status),
                        ("displayname", get("fullName")?),
                    ];
                    rows.account.execute(params![
                        name,
                        encode(&columns),
                        derived,
                        locked,
                        rows.now
                    ])?;
                    counts.accounts += 1;
                    user = matches!(event, Event::Start(_)).then_some(name);
                }
                "UserEntityMembership" | "Role" => {
                    let (kind, key) = match element.local_name().as_ref() {
                        "Role" => ("Role", "name"),
                        _ => ("Entity", "entityName"),
                    };
                    if let (Some(account), Some(value)) = (&user, attribute(element, key)?) {
                        counts.links += rows.link.execute(params![account, kind, value])? as u64;
                    }
                }
                _ => {}
            },
            Event::End(element) if element.local_name().as_ref() == "User" => user = None,
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    counts.bytes += reader.into_inner().into_inner().read;
    Ok(())
}

/// Entitlements of one kind: elements named `element` (any element directly inside
/// `<Entities>` when empty), valued by `@name`, with `columns` as further columns.
fn read_entitlements(
    body: Body,
    element_name: &str,
    kind: &str,
    columns: &[&str],
    rows: &mut Rows<'_>,
    counts: &mut FloorCounts,
) -> Result<()> {
    let mut reader = Reader::from_reader(body);
    let mut buffer = Vec::new();
    let mut depth_in_list: Option<usize> = None;
    let mut depth = 0usize;
    loop {
        let event = reader.read_event_into(&mut buffer)?;
        match &event {
            Event::Start(element) | Event::Empty(element) => {
                let local = element.local_name();
                let wanted = match element_name {
                    "" => depth_in_list == Some(depth),
                    name => local.as_ref() == name,
                };
                if wanted {
                    let Some(value) = attribute(element, "name")? else {
                        bail!("a {kind} without a name");
                    };
                    let mut mapped = Vec::new();
                    for column in columns {
                        let name = if *column == "id" {
                            "entitlementID"
                        } else {
                            column
                        };
                        let name = if *column == "type" {
                            "customproperty1"
                        } else {
                            name
                        };
                        mapped.push((name, attribute(element, column)?.unwrap_or_default()));
                    }
                    rows.entitlement
                        .execute(params![kind, value, encode(&mapped), rows.now])?;
                    counts.entitlements += 1;
                }
                if matches!(event, Event::Start(_)) {
                    if local.as_ref() == "Entities" {
                        depth_in_list = Some(depth + 1);
                    }
                    depth += 1;
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    counts.bytes += reader.into_inner().into_inner().read;
    Ok(())
}
