//! The jobs `dcconn` runs: each takes a connection, instantiates the component under the
//! connection's egress policy, and reports a typed outcome. The CLI only parses arguments and
//! prints what the jobs return.

mod accept;
pub mod check;
mod egress;
mod error;
pub mod import;
pub mod problems;
pub mod provision;

pub use error::{JobError, describe_connector_error, describe_problem, exit_code};

use crate::connection::Connection;
use crate::policy::AllowList;
use crate::runtime::{Connector, ConnectorInstance, Runtime, wit};
use crate::secrets::{Secrets, is_sealed, placeholder};

/// The connection as the WIT attribute list, secret values replaced by their placeholders
/// (the host writes the values into requests; see [`crate::secrets`]).
pub fn attributes(connection: &Connection) -> Vec<wit::Attribute> {
    connection
        .attributes()
        .map(|(name, value)| wit::Attribute {
            name: name.to_string(),
            value: if is_sealed(name) && !value.is_empty() {
                placeholder(name, value)
            } else {
                value.to_string()
            },
        })
        .collect()
}

/// A fresh instance for `connection`: its secrets, and its egress policy: exactly the URLs the
/// component's `destinations` gives for the connection (SOAP_ENDPOINT and the token URLs), each
/// only where the connection writes it, and nothing else; nothing when the connection has
/// configuration errors (validation reports them).
pub fn instance(runtime: &Runtime, connection: &Connection) -> Result<ConnectorInstance, JobError> {
    let mut instance = runtime.instantiate(AllowList::none(), Secrets::of(connection))?;
    let allowed = egress::allow_list(&mut instance, connection)?;
    instance.allow(allowed);
    Ok(instance)
}

/// A fresh instance for `connection`, after validating it: configuration errors stop the job
/// before anything is sent or stored.
pub fn validated_instance(
    runtime: &Runtime,
    connection: &Connection,
) -> Result<(ConnectorInstance, Vec<wit::Problem>), JobError> {
    let mut instance = instance(runtime, connection)?;
    let warnings = checked(&mut instance, connection)?;
    Ok((instance, warnings))
}

/// Validates `connection` with `connector`: its warnings, or the configuration errors that
/// stop a job before anything is sent or stored.
pub fn checked(
    connector: &mut impl Connector,
    connection: &Connection,
) -> Result<Vec<wit::Problem>, JobError> {
    let problems = connector.validate(&attributes(connection))?;
    let (errors, warnings): (Vec<_>, Vec<_>) = problems
        .into_iter()
        .partition(|problem| matches!(problem.severity, wit::Severity::Error));
    if !errors.is_empty() {
        return Err(JobError::InvalidConfiguration(errors));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        let mut connection = Connection::new("c");
        connection.set("SOAP_ENDPOINT", "https://dc.example.com/Server.svc");
        connection.set("USERNAME", "svc");
        connection.set("PASSWORD", "hunter2");
        connection.set("CLIENT_SECRET", "cs-1");
        connection.set(
            "CONNECTIONJSON",
            r#"{"authentications": {"gw": {"url": "https://gw.example.com:8443/token"}}}"#,
        );
        connection
    }

    #[test]
    fn the_component_gets_placeholders_for_secrets_and_everything_else_as_is() {
        let attributes = attributes(&connection());
        let value = |name: &str| {
            attributes
                .iter()
                .find(|a| a.name == name)
                .map(|a| a.value.clone())
                .unwrap()
        };
        assert_eq!(value("PASSWORD"), placeholder("PASSWORD", "hunter2"));
        assert_eq!(value("CLIENT_SECRET"), placeholder("CLIENT_SECRET", "cs-1"));
        assert_eq!(value("USERNAME"), "svc");
        assert!(value("CONNECTIONJSON").contains("gw.example.com"));
        assert!(attributes.iter().all(|a| !a.value.contains("hunter2")));
    }
}
