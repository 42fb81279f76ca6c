//! What the store's tests share: where a test's store goes, on the backend under test.
//!
//! The tests run on SQLite by default; with `DCCONN_TEST_STORE=postgres` (a second pass of
//! `make test`) the same tests run on a PostgreSQL database of their own, in a cluster the test
//! process starts. Tests of what only SQLite has (its file, pragmas, migrations of old files,
//! online backup) return at once on that pass, by [`sqlite_only`].

use std::path::PathBuf;

/// Whether this test process runs the store's tests on PostgreSQL.
pub(super) fn on_postgres() -> bool {
    std::env::var("DCCONN_TEST_STORE").is_ok_and(|backend| backend == "postgres")
}

/// Where a test's new store goes: `state.db` in `dir`, or on PostgreSQL a new database (its
/// URL, which `Store::open` takes as it takes a path).
pub(super) fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    if on_postgres() {
        let url = test_servers::shared_postgres()
            .create_database()
            .expect("a database for the test");
        PathBuf::from(url)
    } else {
        dir.path().join("state.db")
    }
}

/// Returns from a test of what only SQLite has when the tests run on PostgreSQL.
macro_rules! sqlite_only {
    () => {
        if $crate::store::testing::on_postgres() {
            return;
        }
    };
}
pub(super) use sqlite_only;
