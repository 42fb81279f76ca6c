//! `validate` and `test`: checking a connection without and with the network.

use crate::connection::Connection;
use crate::runtime::{Runtime, wit};

use super::{JobError, attributes, validated_instance};

/// Every problem the component finds in `connection` (errors and warnings); sends nothing.
pub fn validate(runtime: &Runtime, connection: &Connection) -> Result<Vec<wit::Problem>, JobError> {
    let mut instance = super::instance(runtime, connection)?;
    Ok(instance.validate(&attributes(connection))?)
}

/// Logs in to Duck Creek and out again; returns the configuration warnings.
pub fn test_connection(
    runtime: &Runtime,
    connection: &Connection,
) -> Result<Vec<wit::Problem>, JobError> {
    let (mut instance, warnings) = validated_instance(runtime, connection)?;
    match instance.test_connection(&attributes(connection))? {
        Ok(()) => Ok(warnings),
        Err(error) => Err(JobError::Connector {
            error: Box::new(error),
            denials: instance.denials(),
        }),
    }
}
