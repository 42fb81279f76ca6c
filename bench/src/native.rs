//! The native reference: the import job of `dcconn`, over the connector's logic built for the
//! host (no wasm), into the same store.

use std::path::Path;

use anyhow::{Result, anyhow};
use dcconn::connection::Connection;
use dcconn::jobs::import::{self, ImportReport, ImportRequest};
use dcconn::model::CorrelationRule;
use dcconn::native::NativeConnector;
use dcconn::secrets::Secrets;
use dcconn::store::Store;

/// Imports everything through `connection` into a new store at `db`.
pub fn run(connection: &Connection, db: &Path) -> Result<ImportReport> {
    let mut store = Store::open(db)?;
    let mut connector = NativeConnector::new(Secrets::of(connection));
    let correlation = CorrelationRule::default();
    let request = ImportRequest::everything(connection, &correlation);
    import::run_with(&mut connector, &mut store, &request, &mut |_| {})
        .map_err(|failure| anyhow!("{}", failure.error))
}
