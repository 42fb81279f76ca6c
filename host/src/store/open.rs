//! Opening the store file the way a command needs it: creating it (the commands that write),
//! an existing one only (maintenance that writes), or an existing one without writing anything
//! (the commands that read). Whatever the way, what the file holds is looked at first, with
//! reads only: a file that is not a dcconn store is refused before anything is written to it,
//! and an older schema is copied with SQLite's online backup to `<file>.v<N>.bak` before it is
//! migrated, under the migration's own write lock.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

pub(super) mod postgres;

use std::fmt;

use super::maintenance::online_copy;
use super::{BUSY_TIMEOUT, RunLease, STATEMENT_CACHE_CAPACITY, Store, StoreError, is_busy, schema};

/// How a command opens the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Creates the file and its schema when there is none; migrates an older schema. For the
    /// commands that write: import, enable, disable, retry, identities load.
    Create,
    /// An existing store only: a missing file is [`StoreError::Missing`] and no file is
    /// created; migrates an older schema. For maintenance that writes (`db prune`, `db migrate`).
    Existing,
    /// An existing store at this program's schema version, on a connection that cannot write
    /// (`PRAGMA query_only`): no file is created, nothing is migrated. For the commands that
    /// read: the listings, `show`, `report`.
    ReadOnly,
}

/// The migration opening a store made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The schema version the file had.
    pub from: i64,
    /// The schema version it has now.
    pub to: i64,
    /// The copy of the file taken before migrating it (`<file>.v<from>.bak`).
    pub backup: PathBuf,
}

/// What a file holds, as far as the store is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StoreFile {
    /// A database without tables or schema version: a new file (SQLite reads an empty file as
    /// one).
    Empty,
    /// A dcconn store, with its schema version.
    Store {
        /// `PRAGMA user_version`.
        version: i64,
    },
    /// Something else, and what it is.
    Foreign(String),
}

/// The tables every schema version has, by which a dcconn store is known.
const OWN_TABLES: [&str; 2] = ["endpoints", "runs"];

/// Where a store is.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    File(PathBuf),
    /// A PostgreSQL database, by its URL (`postgres://user@host:port/database`).
    Postgres(String),
}

impl Location {
    /// What `--db` names: a PostgreSQL database when it is a `postgres://` or `postgresql://`
    /// URL, else a SQLite file.
    pub fn of(db: &Path) -> Location {
        match db.to_str() {
            Some(url) if is_postgres_url(url) => Location::Postgres(url.to_owned()),
            _ => Location::File(db.to_owned()),
        }
    }

    /// Whether it holds a password: a PostgreSQL URL with one (`postgres://u:SECRET@...`, or
    /// `?password=`), which the process list and shell history would show.
    pub fn holds_password(&self) -> bool {
        match self {
            Location::Postgres(url) => postgres::without_password(url) != *url,
            Location::File(_) => false,
        }
    }

    /// As messages show it: a file's absolute path, a URL without its password.
    pub fn shown(&self) -> String {
        match self {
            // A path is shown without what looks like a password in it: `--db` given a URL of
            // another scheme, or a key=value connection string, is taken for a file name.
            Location::File(path) => {
                let path = PathBuf::from(postgres::without_credentials(&path.to_string_lossy()));
                std::path::absolute(&path)
                    .unwrap_or(path)
                    .display()
                    .to_string()
            }
            Location::Postgres(url) => postgres::without_password(url),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

/// Whether `db` is a PostgreSQL URL.
fn is_postgres_url(db: &str) -> bool {
    ["postgres://", "postgresql://"].iter().any(|scheme| {
        db.get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    })
}

/// `path` as messages show it: absolute, so that a store looked for in the wrong folder (cron
/// starts in the home folder) says which folder; a PostgreSQL URL without its password.
pub(super) fn shown(path: &Path) -> String {
    Location::of(path).shown()
}

/// What the database on `conn` holds. Reads only: nothing is written, whatever the file is.
/// Both reads see one snapshot: another process creating the store between them would
/// otherwise show tables without their schema version, a file that is not a store.
pub(super) fn inspect(conn: &Connection) -> rusqlite::Result<StoreFile> {
    let snapshot = conn.unchecked_transaction()?;
    let found = inspect_snapshot(&snapshot);
    snapshot.rollback()?;
    found
}

/// [`inspect`], inside its read transaction.
fn inspect_snapshot(conn: &Connection) -> rusqlite::Result<StoreFile> {
    let version = match schema::user_version(conn) {
        Err(error) if error.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            return Ok(StoreFile::Foreign("it is not a SQLite database".to_owned()));
        }
        version => version?,
    };
    let tables: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_schema
             WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let own = OWN_TABLES
        .iter()
        .all(|table| tables.iter().any(|name| name == table));
    Ok(match (version, tables.is_empty()) {
        (0, true) => StoreFile::Empty,
        (1.., _) if own => StoreFile::Store { version },
        (_, true) => StoreFile::Foreign(format!(
            "it is a SQLite database with schema version {version} and no tables"
        )),
        (_, false) => StoreFile::Foreign(format!(
            "it is a SQLite database with other tables ({}) and no dcconn schema",
            listed(&tables)
        )),
    })
}

/// The first few names of a list, for a message.
fn listed(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(|name| crate::printable::printable(name))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// Turns an error of opening `path` into a [`StoreError`]: a lock another process held is said
/// as such, not blamed on the folder.
fn open_error(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| {
        if is_busy(&source) {
            StoreError::Busy {
                action: format!("opening the store at {}", shown(path)),
                waited: BUSY_TIMEOUT,
            }
        } else {
            if source.sqlite_error_code() == Some(ErrorCode::DatabaseCorrupt) {
                return StoreError::Damaged {
                    path: path.to_owned(),
                    source,
                };
            }
            StoreError::Open {
                path: path.to_owned(),
                source,
            }
        }
    }
}

/// A connection to the file at `path`, created when missing only if `create`; with the busy
/// timeout and statement cache every connection has. Nothing is written yet.
fn connect(path: &Path, create: bool) -> Result<Connection, StoreError> {
    match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !create => {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        // SQLite would open a device as an empty database and write its journal beside it.
        Ok(metadata) if !metadata.is_file() => {
            let what = if metadata.is_dir() {
                "it is a folder"
            } else {
                "it is not a regular file (a device, a FIFO, a socket)"
            };
            return Err(StoreError::NotAStore {
                path: path.to_owned(),
                why: what.to_owned(),
            });
        }
        _ => {}
    }
    let mut flags = OpenFlags::default();
    if !create {
        flags.remove(OpenFlags::SQLITE_OPEN_CREATE);
    }
    let conn = Connection::open_with_flags(path, flags).map_err(open_error(path))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error(path))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(conn)
}

/// A connection to an existing dcconn store of any schema version (newer ones included) that
/// writes nothing, with the version: for copying and checking the file.
pub(super) fn existing(path: &Path) -> Result<(Connection, i64), StoreError> {
    let conn = connect(path, false)?;
    let version = match inspect(&conn).map_err(open_error(path))? {
        StoreFile::Store { version } => version,
        StoreFile::Empty => {
            return Err(StoreError::Empty {
                path: path.to_owned(),
            });
        }
        StoreFile::Foreign(why) => {
            return Err(StoreError::NotAStore {
                path: path.to_owned(),
                why,
            });
        }
    };
    conn.pragma_update(None, "query_only", true)
        .map_err(open_error(path))?;
    Ok((conn, version))
}

/// Why a migration did not happen: SQLite failed, or the copy taken before it did.
enum MigrationFailure {
    Sqlite(rusqlite::Error),
    Backup(StoreError),
}

impl From<rusqlite::Error> for MigrationFailure {
    fn from(error: rusqlite::Error) -> Self {
        MigrationFailure::Sqlite(error)
    }
}

/// Where the copy of `path` taken before migrating it from schema version `found` goes.
pub(super) fn migration_backup_path(path: &Path, found: i64) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".v{found}.bak"));
    PathBuf::from(name)
}

/// Copies the store at `path` (schema version `found`) to its migration backup, on a
/// connection of its own: the migrating one holds the write lock, readers still see the file as
/// it is.
fn back_up_before_migrating(path: &Path, found: i64) -> Result<PathBuf, StoreError> {
    let backup = migration_backup_path(path, found);
    let failed = |problem: String| StoreError::MigrationBackup {
        path: path.to_owned(),
        backup: backup.clone(),
        found,
        current: schema::VERSION,
        problem,
    };
    let source = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|error| failed(format!("cannot read the store: {error}")))?;
    source
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(|error| failed(error.to_string()))?;
    online_copy(&source, &backup).map_err(failed)?;
    Ok(backup)
}

impl Store {
    /// Opens the store at `path` as the commands that write do ([`OpenMode::Create`]):
    /// creating the file and its schema when there is none, migrating an older schema after
    /// copying the file (see [`Store::migrated`]). Sets WAL journaling, `synchronous=NORMAL`,
    /// foreign keys and a busy timeout. A file that is not a dcconn store is refused, unchanged.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_as(path, OpenMode::Create)
    }

    /// Opens the store at `path` the way `mode` says. Every mode refuses a file that is not a
    /// dcconn store ([`StoreError::NotAStore`]) or has a newer schema, before writing anything.
    ///
    /// While another process creates the file or turns on its WAL journal, SQLite answers
    /// "busy" at once rather than through the busy timeout; the opening is then tried again,
    /// for as long as the busy timeout.
    pub fn open_as(path: &Path, mode: OpenMode) -> Result<Store, StoreError> {
        Store::open_location(&Location::of(path), mode)
    }

    /// Opens the store at `location` the way `mode` says (see [`Store::open_as`]).
    pub fn open_location(location: &Location, mode: OpenMode) -> Result<Store, StoreError> {
        let path = match location {
            Location::File(path) => path,
            Location::Postgres(url) => return postgres::open(url, mode),
        };
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match Store::open_once(path, mode) {
                Err(StoreError::Busy { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                opened => return opened,
            }
        }
    }

    /// One try of [`Store::open_as`].
    fn open_once(path: &Path, mode: OpenMode) -> Result<Store, StoreError> {
        let conn = connect(path, mode == OpenMode::Create)?;
        match inspect(&conn).map_err(open_error(path))? {
            StoreFile::Foreign(why) => Err(StoreError::NotAStore {
                path: path.to_owned(),
                why,
            }),
            StoreFile::Store { version } if version > schema::VERSION => Err(StoreError::TooNew {
                path: path.to_owned(),
                found: version,
                supported: schema::VERSION,
            }),
            StoreFile::Empty if mode != OpenMode::Create => Err(StoreError::Empty {
                path: path.to_owned(),
            }),
            StoreFile::Store { version } if mode == OpenMode::ReadOnly => {
                if version < schema::VERSION {
                    return Err(StoreError::NeedsMigration {
                        path: path.to_owned(),
                        found: version,
                        current: schema::VERSION,
                    });
                }
                conn.pragma_update(None, "query_only", true)
                    .map_err(open_error(path))?;
                Ok(Store::on(conn, path, None))
            }
            StoreFile::Empty | StoreFile::Store { .. } => Store::prepare_for_writing(conn, path),
        }
    }

    /// Sets a connection to a new or dcconn file up for writing: journal, schema (migrated after
    /// a copy when older), foreign keys, staging.
    fn prepare_for_writing(mut conn: Connection, path: &Path) -> Result<Store, StoreError> {
        let open_error = open_error(path);
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
            .map_err(&open_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(&open_error)?;
        // Migrations rebuild tables that others reference, which SQLite supports with foreign
        // keys off; they check the references themselves before committing.
        conn.pragma_update(None, "foreign_keys", false)
            .map_err(&open_error)?;
        let mut migrated = None;
        let migration = schema::migrate_after(&mut conn, schema::VERSION, |found| {
            let backup = back_up_before_migrating(path, found).map_err(MigrationFailure::Backup)?;
            migrated = Some(Migrated {
                from: found,
                to: schema::VERSION,
                backup,
            });
            Ok(())
        })
        .map_err(|failure| match failure {
            MigrationFailure::Sqlite(error) => open_error(error),
            MigrationFailure::Backup(error) => error,
        })?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(&open_error)?;
        match migration {
            schema::Migration::Current => {
                conn.execute_batch(schema::STAGING).map_err(&open_error)?;
                Ok(Store::on(conn, path, migrated))
            }
            schema::Migration::TooNew(found) => Err(StoreError::TooNew {
                path: path.to_owned(),
                found,
                supported: schema::VERSION,
            }),
        }
    }

    /// A store on a connection that is ready.
    fn on(conn: Connection, path: &Path, migrated: Option<Migrated>) -> Store {
        Store {
            conn: super::db::Connection::sqlite(conn),
            location: Location::File(path.to_owned()),
            lease: RunLease::default(),
            receiving: None,
            migrated,
            staging_ready: true,
        }
    }

    /// The migration opening this store made (its schema was older), with where the copy taken
    /// before it is; `None` when there was nothing to migrate.
    pub fn migrated(&self) -> Option<&Migrated> {
        self.migrated.as_ref()
    }
}

/// Whether `path` names the store at `store` or one of SQLite's files beside it (`-wal`,
/// `-shm`, `-journal`), links followed, whether or not `path` exists yet.
pub fn is_store_file(store: &Path, path: &Path) -> bool {
    let Ok(store) = std::fs::canonicalize(store) else {
        return false;
    };
    let target = resolved(path);
    ["", "-wal", "-shm", "-journal"].into_iter().any(|suffix| {
        let mut name = store.clone().into_os_string();
        name.push(suffix);
        name == target.as_os_str()
    })
}

/// The absolute path `path` names, whether or not the file exists yet: its folder resolved
/// (links followed), then its name; the file itself resolved when it exists.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(existing) = std::fs::canonicalize(path) {
        return existing;
    }
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(folder), path.file_name()) {
        (Ok(folder), Some(name)) => folder.join(name),
        _ => path.to_owned(),
    }
}
