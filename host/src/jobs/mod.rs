//! The jobs `dcconn` runs: each takes a connection, instantiates the component under the
//! connection's egress policy, and reports a typed outcome. The CLI only parses arguments and
//! prints what the jobs return.

pub mod check;
mod error;
pub mod import;
pub mod provision;

pub use error::{JobError, describe_connector_error, describe_problem, exit_code};

use crate::connection::Connection;
use crate::policy::AllowList;
use crate::runtime::{ConnectorInstance, Runtime, wit};

/// The attribute holding the endpoint: the one authority the component may reach.
const SOAP_ENDPOINT: &str = "SOAP_ENDPOINT";

/// The connection as the WIT attribute list.
pub fn attributes(connection: &Connection) -> Vec<wit::Attribute> {
    connection
        .attributes()
        .map(|(name, value)| wit::Attribute {
            name: name.to_string(),
            value: value.to_string(),
        })
        .collect()
}

/// The egress policy of a job: the SOAP_ENDPOINT origin and nothing else. An endpoint that
/// does not parse allows nothing (validation reports why).
pub fn allow_list(connection: &Connection) -> AllowList {
    connection
        .get(SOAP_ENDPOINT)
        .and_then(|url| AllowList::from_labelled(&[(SOAP_ENDPOINT, url)]).ok())
        .unwrap_or_else(AllowList::none)
}

/// A fresh instance for `connection`, after validating it: configuration errors stop the job
/// before anything is sent or stored.
pub fn validated_instance(
    runtime: &Runtime,
    connection: &Connection,
) -> Result<(ConnectorInstance, Vec<wit::Problem>), JobError> {
    let mut instance = runtime.instantiate(allow_list(connection))?;
    let problems = instance.validate(&attributes(connection))?;
    let (errors, warnings): (Vec<_>, Vec<_>) = problems
        .into_iter()
        .partition(|problem| matches!(problem.severity, wit::Severity::Error));
    if !errors.is_empty() {
        return Err(JobError::InvalidConfiguration(errors));
    }
    Ok((instance, warnings))
}
