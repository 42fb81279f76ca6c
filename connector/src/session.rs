//! `test-connection`: one Duck Creek session opened and closed, nothing else. It goes through
//! the connection of the import plan's first call, so a token connection proves its token
//! request too.

use crate::client::Client;
use crate::config::{Config, HttpRequest, RuntimeBindings};
use crate::error::{CallSite, ConnectorError, ErrorKind, Problem};
use crate::exchange::{exchange, response_error};
use crate::path::{Path, Target};
use crate::template::{Escape, Template};
use crate::transport::Transport;

/// What errors of the test name as their place: the login `dcconn test` sends.
const LOGIN_TEST: &str = "the login test";

const LOGIN_AND_CLOSE: &str = "<server><requests><Session.loginRq userName=\"${USERNAME}\" password=\"${PASSWORD}\"></Session.loginRq><Session.closeRq></Session.closeRq></requests></server>";

/// Logs in and out once; fails with `authentication` on refused credentials.
pub fn test_connection<T: Transport>(
    config: &Config,
    client: &mut Client<T>,
) -> Result<(), ConnectorError> {
    let site = CallSite {
        plan: LOGIN_TEST.to_string(),
        call: 1,
        account: None,
    };
    let request = login_request(config)?;
    let nothing = Path {
        steps: Vec::new(),
        target: Target::Element,
    };
    let connection = config
        .import_plan
        .as_ref()
        .and_then(|plan| plan.calls.first())
        .and_then(|call| call.connection.as_deref());
    let render = |_access_token: Option<&str>| Ok(request.clone());
    let mut reader = exchange(client, config, connection, &render, &nothing, Vec::new())
        .map_err(|kind| ConnectorError::new(kind).at(site.clone()))?;
    loop {
        match reader.next_record() {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(error) => {
                return Err(
                    ConnectorError::new(response_error(error, "the login response")).at(site),
                );
            }
        }
    }
    if reader
        .succeeded_operations()
        .iter()
        .any(|name| name == "Session.loginRs")
    {
        Ok(())
    } else {
        Err(ConnectorError::new(ErrorKind::UnexpectedResponse(
            "the response has no successful `Session.loginRs`: is SOAP_ENDPOINT the Duck Creek endpoint?".into(),
        ))
        .at(site))
    }
}

fn login_request(config: &Config) -> Result<HttpRequest, ConnectorError> {
    let mut missing = Vec::new();
    for name in ["USERNAME", "PASSWORD"] {
        if config.connection.get(name).is_none() {
            missing.push(Problem::error(
                name,
                None,
                "missing: a session needs USERNAME and PASSWORD",
            ));
        }
    }
    if !missing.is_empty() {
        return Err(ConnectorError::invalid_configuration(missing));
    }
    let template = Template::parse(LOGIN_AND_CLOSE)
        .map_err(|error| ErrorKind::Unsupported(error.to_string()))?;
    let bindings = RuntimeBindings::connection(&config.connection);
    let body = template
        .render(&bindings, Escape::Xml)
        .map_err(|error| ErrorKind::Unsupported(error.to_string()))?;
    Ok(HttpRequest::for_document(body, config.mode))
}
