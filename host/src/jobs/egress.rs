//! The egress policy of a job: what the component says the connection needs (`destinations`),
//! each admitted only where the connection itself writes that URL. The component knows the
//! attribute format, so the host does not re-derive the URLs; the host still decides, so a
//! component cannot name a destination the connection does not.

use serde_json::Value;

use crate::connection::Connection;
use crate::policy::{AllowList, Destination, Origin, Scheme};
use crate::runtime::{ConnectorInstance, RuntimeError, wit};
use crate::secrets::is_sealed;

use super::{JobError, attributes};

/// The allow-list of `connection`, from the component's `destinations`. A connection with
/// configuration errors allows nothing (the job's validation reports them; nothing is sent).
pub(super) fn allow_list(
    instance: &mut ConnectorInstance,
    connection: &Connection,
) -> Result<AllowList, JobError> {
    let declared = match instance.destinations(&attributes(connection))? {
        Ok(declared) => declared,
        Err(error) if matches!(error.kind, wit::ErrorKind::InvalidConfiguration(_)) => {
            return Ok(AllowList::none());
        }
        Err(error) => {
            return Err(JobError::Connector {
                error: Box::new(error),
                denials: Vec::new(),
            });
        }
    };
    let mut list = AllowList::none();
    for destination in &declared {
        let checked = destination_of(destination)?;
        let written = written_urls(connection, &destination.attribute);
        let written: Vec<&str> = written.iter().map(String::as_str).collect();
        list.allow_declared(&checked, &written)
            .map_err(|error| broken(format!("`destinations` says {error}")))?;
    }
    Ok(list)
}

/// A declared destination as the policy reads it.
fn destination_of(declared: &wit::Destination) -> Result<Destination, JobError> {
    let scheme = match declared.scheme {
        wit::UrlScheme::Http => Scheme::Http,
        wit::UrlScheme::Https => Scheme::Https,
    };
    let label = match &declared.location {
        Some(location) => format!("{} {location}", declared.attribute),
        None => declared.attribute.clone(),
    };
    let origin = Origin::new(scheme, &declared.host, Some(declared.port)).map_err(|problem| {
        broken(format!(
            "`destinations` gives a destination whose host cannot be allowed: {problem}"
        ))
    })?;
    Ok(Destination {
        label,
        origin,
        path_and_query: declared.path_and_query.clone(),
    })
}

/// The URLs the attribute `name` of `connection` writes: its whole value and, when it is JSON,
/// each of its strings. A secret attribute writes none: the component only ever sees its
/// placeholder.
fn written_urls(connection: &Connection, name: &str) -> Vec<String> {
    let Some(value) = connection.get(name).filter(|_| !is_sealed(name)) else {
        return Vec::new();
    };
    let mut written = vec![value.trim().to_string()];
    if let Ok(json) = serde_json::from_str::<Value>(value) {
        collect_strings(&json, &mut written);
    }
    written
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.trim().to_string()),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(fields) => fields.values().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}

fn broken(message: String) -> JobError {
    JobError::Runtime(RuntimeError::Contract(format!(
        "{message}; nothing was sent"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_urls_an_attribute_writes_are_its_value_and_its_json_strings() {
        let mut connection = Connection::new("c");
        connection.set("SOAP_ENDPOINT", " https://dc.example.com/x ");
        connection.set(
            "CONNECTIONJSON",
            r#"{"authentications": {"gw": {"url": "https://gw.example.com/t", "retryFailureStatusCode": [401], "httpParams": {"scope": [" https://api.example.com/.default"]}}}}"#,
        );
        connection.set("TOKEN_URL_SECRET", "https://hidden.example.com/");
        assert_eq!(
            written_urls(&connection, "SOAP_ENDPOINT"),
            ["https://dc.example.com/x"]
        );
        assert_eq!(
            written_urls(&connection, "CONNECTIONJSON")[1..],
            [
                "https://gw.example.com/t",
                "https://api.example.com/.default"
            ]
        );
        assert!(written_urls(&connection, "TOKEN_URL_SECRET").is_empty());
        assert!(written_urls(&connection, "ABSENT").is_empty());
    }
}
