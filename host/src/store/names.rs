//! The names the listings' filters are checked against: an endpoint's entitlement types. A
//! filter naming something the store does not have is a usage error that lists these, never an
//! empty listing that looks like an answer.

use super::db::{self, Connection};

use super::{Doing, Store, StoreError, sql};

impl Store {
    /// The types of the endpoint's entitlements (present or not), sorted; none for an unknown
    /// endpoint.
    pub fn entitlement_types(&self, endpoint: &str) -> Result<Vec<String>, StoreError> {
        let action = || format!("listing the entitlement types of endpoint {endpoint}");
        let Some(id) = sql::endpoint_id(&self.conn, endpoint).doing(action)? else {
            return Ok(Vec::new());
        };
        entitlement_types(&self.conn, id).doing(action)
    }
}

fn entitlement_types(conn: &Connection, endpoint: i64) -> db::Result<Vec<String>> {
    conn.prepare_cached(
        "SELECT DISTINCT type FROM entitlements WHERE endpoint_id = ?1 ORDER BY type",
    )?
    .query_map([endpoint], |row| row.get(0))?
    .collect()
}
