//! Opening a store in a PostgreSQL database (`--db postgres://…`): the fleet's shared store.
//!
//! The database holds one store. Its schema is created by the first command that writes, under
//! the store's write lock so that workers starting together create it once; `dcconn_schema`
//! holds its version. Each session that imports has its own TEMP staging tables, as each
//! SQLite connection has. A session of a command that only reads is read-only.

use std::path::PathBuf;

use super::super::{BUSY_TIMEOUT, RunLease, Store, StoreError, db, schema};
use super::{Location, OpenMode};

/// The schema, at [`schema::VERSION`].
const SCHEMA: &str = include_str!("../schema/postgres.sql");

/// The staging tables a session creates before its first import ([`Store::prepare_staging`]):
/// only then, since creating TEMP tables writes PostgreSQL's catalog, which a session that only
/// provisions would pay for at every opening.
pub(in crate::store) const STAGING: &str = include_str!("../schema/postgres-staging.sql");

/// Opens the store in the database `url` names, the way `mode` says.
pub(super) fn open(url: &str, mode: OpenMode) -> Result<Store, StoreError> {
    let shown = without_password(url);
    let failed = |source: db::Error| StoreError::Connect {
        store: shown.clone(),
        source,
    };
    let mut conn = db::Connection::postgres(url, BUSY_TIMEOUT).map_err(failed)?;
    match version(&conn).map_err(failed)? {
        Some(found) if found > schema::VERSION => {
            return Err(StoreError::TooNew {
                path: PathBuf::from(&shown),
                found,
                supported: schema::VERSION,
            });
        }
        Some(found) if found < schema::VERSION => {
            return Err(StoreError::NeedsMigration {
                path: PathBuf::from(&shown),
                found,
                current: schema::VERSION,
            });
        }
        Some(_) => {}
        None if mode == OpenMode::Create => create(&mut conn).map_err(failed)?,
        None => return Err(StoreError::NoStoreInDatabase { store: shown }),
    }
    if mode == OpenMode::ReadOnly {
        conn.execute_batch("SET default_transaction_read_only = on")
            .map_err(failed)?;
    }
    Ok(Store {
        conn,
        location: Location::Postgres(url.to_owned()),
        lease: RunLease::default(),
        receiving: None,
        migrated: None,
        staging_ready: false,
    })
}

/// The store's schema version, `None` when the database holds no store.
fn version(conn: &db::Connection) -> db::Result<Option<i64>> {
    // Not `to_regclass`: a name lookup without a lock may answer from this session's catalog
    // cache, which still holds "no such table" when another session created it while this
    // one waited for the write lock (taking an advisory lock does not refresh that cache); a
    // scan of pg_class sees what has been committed.
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class AS c
                        JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                        WHERE c.relname = 'dcconn_schema' AND n.nspname = current_schema())",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(None);
    }
    conn.query_row("SELECT max(version) FROM dcconn_schema", [], |row| {
        row.get(0)
    })
}

/// Creates the schema, unless another session did while this one waited for the write lock.
fn create(conn: &mut db::Connection) -> db::Result<()> {
    let tx = conn.write()?;
    if version(&tx)?.is_none() {
        tx.execute_batch(SCHEMA)?;
        tx.execute(
            "INSERT INTO dcconn_schema (version) VALUES (?1)",
            [schema::VERSION],
        )?;
    }
    tx.commit()
}

/// `url` without its password (`postgres://user:***@host/db`), for messages and logs.
pub(super) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The user's part ends at the last `@`, not at a `/` or `?` before it: a password may hold
    // those unencoded. What follows a `:` before it is masked (more than the password, should
    // a query hold an `@`: safe).
    let (authority, tail) = match rest.rsplit_once('@') {
        Some((user_info, after)) => {
            let user_info = match user_info.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => user_info.to_owned(),
            };
            let host_end = after.find(['/', '?']).unwrap_or(after.len());
            let (host, tail) = after.split_at(host_end);
            (format!("{user_info}@{host}"), tail)
        }
        None => {
            let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            (without_wrong_port(authority), tail)
        }
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// `authority` (`HOST:PORT`) with a port that is no number masked: `user:password` without its
/// `@host` reads as a host and a "port".
fn without_wrong_port(authority: &str) -> String {
    match authority.rsplit_once(':') {
        Some((host, port))
            if !authority.ends_with(']') && !port.chars().all(|c| c.is_ascii_digit()) =>
        {
            format!("{host}:***")
        }
        _ => authority.to_owned(),
    }
}

/// `text` without the passwords it may hold: a URL's (of any scheme) and `password=` values
/// (a key=value connection string, a query).
pub(super) fn without_credentials(text: &str) -> String {
    let text = if text.contains("://") {
        without_password(text)
    } else {
        text.to_owned()
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.to_ascii_lowercase().find("password=") {
        let value = at + "password=".len();
        out.push_str(&rest[..value]);
        out.push_str("***");
        let end = rest[value..]
            .find(|c: char| c.is_whitespace() || c == '&')
            .map_or(rest.len(), |end| value + end);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{without_credentials, without_password};

    #[test]
    fn what_looks_like_a_password_is_never_shown() {
        assert_eq!(
            without_credentials("http://dcconn:S3cret@127.0.0.1:5441/iga"),
            "http://dcconn:***@127.0.0.1:5441/iga"
        );
        assert_eq!(
            without_credentials("host=127.0.0.1 user=dc password=S3cret dbname=iga"),
            "host=127.0.0.1 user=dc password=*** dbname=iga"
        );
        assert_eq!(
            without_credentials("/var/lib/dcconn/dcconn.db"),
            "/var/lib/dcconn/dcconn.db"
        );
    }

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            without_password(
                "postgres://dc:s3cr%40t@db.example:5432/iga?sslmode=disable&password=x"
            ),
            "postgres://dc:***@db.example:5432/iga?sslmode=disable&password=***"
        );
        assert_eq!(
            without_password("postgresql://dc@127.0.0.1/iga"),
            "postgresql://dc@127.0.0.1/iga"
        );
        assert_eq!(without_password("postgres://h/db"), "postgres://h/db");
        // Unencoded `/`, `?` or `@` in the password, a password without `@host`.
        for (url, shown) in [
            (
                "postgres://dcpw:Pg/Pw-Xy7Rt5@127.0.0.1:15433/pwdb",
                "postgres://dcpw:***@127.0.0.1:15433/pwdb",
            ),
            (
                "postgres://dcpw:Pg?Pw@db/iga?sslmode=disable",
                "postgres://dcpw:***@db/iga?sslmode=disable",
            ),
            (
                "postgres://dcpw:P@g@db:5432/iga",
                "postgres://dcpw:***@db:5432/iga",
            ),
            ("postgres://dcpw:PgPw-Xy7Rt5", "postgres://dcpw:***"),
            (
                "postgres://db.example:5432/iga",
                "postgres://db.example:5432/iga",
            ),
            ("postgres://[::1]/iga", "postgres://[::1]/iga"),
        ] {
            assert_eq!(without_password(url), shown, "{url}");
        }
    }
}
