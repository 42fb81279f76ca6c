//! Running a provisioning plan (ENABLEACCOUNTJSON, DISABLEACCOUNTJSON) for one account.
//!
//! The calls run in order. Each call's request is rendered with the account, its owner, the
//! connection and the values earlier calls captured; its response must be 2xx, free of SOAP
//! faults and failed operations; RESPONSEMAPPING captures values from it, and SUCCESSCRITERIA
//! must hold on them. The first call that fails ends the plan with an error naming it.
//!
//! Provisioning responses are small: each is read whole, up to [`MAX_RESPONSE`].

use crate::client::{Client, with_authorization};
use crate::config::{Config, HttpRequest, ProvisioningCall, ProvisioningPlan, RuntimeBindings};
use crate::error::{CallSite, ConnectorError, CriteriaFailure, ErrorKind, Problem};
use crate::exchange::{check_document, read_body, response_error};
use crate::model::Account;

use crate::transport::Transport;
use crate::xml::first_value;

/// The largest provisioning response read; a larger one is an unexpected response.
pub const MAX_RESPONSE: u64 = 1024 * 1024;

/// What `${access_token}` renders as in a dry run: no token is requested for one.
pub const MASKED_TOKEN: &str = "${access_token}";

/// The RESPONSEMAPPING target that captures the HTTP status code instead of a path's value.
const RESPONSE_CODE: &str = "RESPONSECODE";

/// What a successful plan captured, special targets (`ACCOUNT.ACCOUNTID`, ...) included.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProvisioningOutcome {
    /// Captured name and value, in capture order.
    pub captured: Vec<(String, String)>,
}

/// The account a plan runs for and its owner's attributes.
pub struct Provisioned<'a> {
    /// The account.
    pub account: &'a Account,
    /// The owner's attributes (`username`, `email`, ...); empty when unknown.
    pub user: &'a [(String, String)],
}

/// Runs `plan` (the attribute `attribute`) for `target`.
pub fn run_plan<T: Transport>(
    config: &Config,
    attribute: &str,
    plan: &ProvisioningPlan,
    client: &mut Client<T>,
    target: &Provisioned<'_>,
) -> Result<ProvisioningOutcome, ConnectorError> {
    let mut outcome = ProvisioningOutcome::default();
    for (index, call) in plan.calls.iter().enumerate() {
        let site = CallSite {
            plan: attribute.to_string(),
            call: index as u32 + 1,
            account: Some(target.account.name.clone()),
        };
        run_call(config, attribute, call, client, target, &mut outcome)
            .map_err(|kind| ConnectorError::new(kind).at(site))?;
    }
    Ok(outcome)
}

/// A request as a call would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRequest {
    /// The call's 1-based position.
    pub call: u32,
    /// The URL.
    pub url: String,
    /// The request itself.
    pub request: HttpRequest,
}

/// Renders every call of `plan` for `target` without sending anything; what earlier calls
/// would capture is shown as `${NAME}`.
pub fn render_plan(
    config: &Config,
    attribute: &str,
    plan: &ProvisioningPlan,
    target: &Provisioned<'_>,
) -> Result<Vec<RenderedRequest>, ConnectorError> {
    let mut placeholders: Vec<(String, String)> = Vec::new();
    let mut rendered = Vec::with_capacity(plan.calls.len());
    for (index, call) in plan.calls.iter().enumerate() {
        let number = index as u32 + 1;
        let bindings = RuntimeBindings {
            connection: &config.connection,
            account: Some(target.account),
            user: target.user,
            captured: &placeholders,
            access_token: Some(MASKED_TOKEN),
        };
        let mut request = call
            .request
            .render(&bindings, config.mode)
            .map_err(|error| {
                ConnectorError::new(ErrorKind::InvalidConfiguration(vec![Problem::error(
                    attribute,
                    Some(format!("call {number} (REQUESTXML), {error}")),
                    "could not be rendered",
                )]))
            })?;
        let token_connection = config.connections.token_for(call.connection.as_deref());
        if token_connection.is_some() {
            with_authorization(&mut request, MASKED_TOKEN);
        }
        rendered.push(RenderedRequest {
            call: number,
            url: config.endpoint.url(),
            request,
        });
        for (name, _) in &call.response_mapping {
            placeholders.push((name.clone(), format!("${{{name}}}")));
        }
    }
    Ok(rendered)
}

fn run_call<T: Transport>(
    config: &Config,
    attribute: &str,
    call: &ProvisioningCall,
    client: &mut Client<T>,
    target: &Provisioned<'_>,
    outcome: &mut ProvisioningOutcome,
) -> Result<(), ErrorKind> {
    let captured = &outcome.captured;
    let render = |access_token: Option<&str>| {
        let bindings = RuntimeBindings {
            connection: &config.connection,
            account: Some(target.account),
            user: target.user,
            captured,
            access_token,
        };
        call.request
            .render(&bindings, config.mode)
            .map_err(|error| {
                ErrorKind::InvalidConfiguration(vec![Problem::error(
                    attribute,
                    Some(format!("REQUESTXML, {error}")),
                    "could not be rendered",
                )])
            })
    };
    let response = client.send(config, call.connection.as_deref(), &render)?;
    let status = response.status;
    let body = read_body(response.body, MAX_RESPONSE + 1)
        .map_err(|error| ErrorKind::Transport(format!("reading the response: {error}")))?;
    if body.len() as u64 > MAX_RESPONSE {
        return Err(ErrorKind::UnexpectedResponse(format!(
            "the response is larger than {MAX_RESPONSE} bytes, more than any provisioning answer"
        )));
    }
    check_document(&body).map_err(|error| response_error(error, "RESPONSEMAPPING"))?;
    for (name, path) in &call.response_mapping {
        let value = if name == RESPONSE_CODE {
            Some(status.to_string())
        } else {
            first_value(&body, path)
                .map_err(|error| response_error(error, &format!("RESPONSEMAPPING {name}")))?
        };
        if let Some(value) = value {
            outcome.captured.retain(|(captured, _)| captured != name);
            outcome.captured.push((name.clone(), value));
        }
    }
    for (name, expected) in &call.success_criteria {
        let found = outcome
            .captured
            .iter()
            .find(|(captured, _)| captured == name)
            .map(|(_, value)| value.clone());
        if found.as_deref() != Some(expected.as_str()) {
            return Err(ErrorKind::SuccessCriteriaNotMet(CriteriaFailure {
                name: name.clone(),
                expected: expected.clone(),
                found,
            }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
