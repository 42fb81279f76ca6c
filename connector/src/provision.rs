//! Running a provisioning plan (ENABLEACCOUNTJSON, DISABLEACCOUNTJSON) for one account.
//!
//! The calls run in order. Each call's request is rendered with the account, its owner, the
//! connection and the values earlier calls captured; a whole-envelope expression that renders
//! empty skips its call (nothing is sent). A response must be 2xx, free of SOAP faults and
//! failed operations; RESPONSEMAPPING captures values from it (`RESPONSECODE` like any other
//! name: the value at its path, the HTTP status only when its path is empty), and
//! SUCCESSCRITERIA must hold on them. The first call that fails ends the plan with an error
//! naming it.
//!
//! Provisioning responses are small: each is read whole, up to [`MAX_RESPONSE`].

use crate::client::{Client, with_authorization};
use crate::config::{
    Config, HttpRequest, ProvisioningCall, ProvisioningPlan, RuntimeBindings, Target,
};
use crate::error::{CallSite, ConnectorError, CriteriaFailure, ErrorKind, Problem};
use crate::exchange::{check_document, read_body, response_error};
use crate::model::Account;
use crate::text::TextError;

use crate::transport::Transport;
use crate::xml::first_value;

/// The largest provisioning response read; a larger one is an unexpected response.
pub const MAX_RESPONSE: u64 = 1024 * 1024;

/// What `${access_token}` renders as in a dry run: no token is requested for one.
pub const MASKED_TOKEN: &str = "${access_token}";

/// What a successful plan reported back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProvisioningOutcome {
    /// Values captured under ordinary names (`RESPONSECODE` included), the last of each name,
    /// in capture order.
    pub captured: Vec<(String, String)>,
    /// What `TASK.PROVISIONINGCOMMENTS` captured last.
    pub comments: Option<String>,
    /// What `ACCOUNT.<column>` targets captured: column (as Saviynt spells it) and value, the
    /// last of each column.
    pub account_updates: Vec<(String, String)>,
    /// The 1-based positions of the calls that rendered empty and were not sent.
    pub skipped_calls: Vec<u32>,
}

/// What the calls of a plan captured so far, every target by the name written in
/// RESPONSEMAPPING (what SUCCESSCRITERIA tests), with what each is for.
#[derive(Default)]
struct Captures {
    values: Vec<(String, Target, String)>,
    skipped_calls: Vec<u32>,
}

impl Captures {
    fn set(&mut self, name: &str, target: &Target, value: String) {
        self.values.retain(|(captured, ..)| captured != name);
        self.values.push((name.to_string(), target.clone(), value));
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(captured, ..)| captured == name)
            .map(|(.., value)| value.as_str())
    }

    /// The ordinary captures, bound as `${NAME}` in later calls.
    fn bound(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(_, target, _)| *target == Target::Value)
            .map(|(name, _, value)| (name.clone(), value.clone()))
            .collect()
    }

    fn into_outcome(self) -> ProvisioningOutcome {
        let mut outcome = ProvisioningOutcome {
            skipped_calls: self.skipped_calls,
            ..ProvisioningOutcome::default()
        };
        for (name, target, value) in self.values {
            match target {
                Target::Value => outcome.captured.push((name, value)),
                Target::Comments => outcome.comments = Some(value),
                Target::AccountColumn(column) => {
                    outcome
                        .account_updates
                        .retain(|(updated, _)| *updated != column);
                    outcome.account_updates.push((column, value));
                }
                Target::AccountName => {}
            }
        }
        outcome
    }
}

/// The account a plan runs for and its owner's attributes.
pub struct Provisioned<'a> {
    /// The account.
    pub account: &'a Account,
    /// The owner's attributes (`username`, `email`, ...); empty when unknown.
    pub user: &'a [(String, String)],
}

/// Runs `plan` (the attribute `attribute`) for `target`. Before anything is sent, the account
/// must have every column the plan reads without a fallback ([`account_columns::check`]).
pub fn run_plan<T: Transport>(
    config: &Config,
    attribute: &str,
    plan: &ProvisioningPlan,
    client: &mut Client<T>,
    target: &Provisioned<'_>,
) -> Result<ProvisioningOutcome, ConnectorError> {
    account_columns::check(attribute, plan, target.account)?;
    let mut captures = Captures::default();
    for (index, call) in plan.calls.iter().enumerate() {
        let number = index as u32 + 1;
        let site = CallSite {
            plan: attribute.to_string(),
            call: number,
            account: Some(target.account.name.clone()),
        };
        let placed = PlacedCall {
            attribute,
            number,
            call,
        };
        run_call(config, &placed, client, target, &mut captures)
            .map_err(|kind| ConnectorError::new(kind).at(site))?;
    }
    Ok(captures.into_outcome())
}

/// A call with its place in the plan.
struct PlacedCall<'a> {
    attribute: &'a str,
    number: u32,
    call: &'a ProvisioningCall,
}

impl PlacedCall<'_> {
    /// A rendering mistake: a configuration error at its line and column of this call's
    /// REQUESTXML.
    fn render_error(&self, error: TextError) -> ErrorKind {
        ErrorKind::InvalidConfiguration(vec![Problem::error(
            self.attribute,
            Some(format!(
                "call {} (REQUESTXML), line {}, column {}",
                self.number, error.line, error.column
            )),
            format!("could not be rendered: {}", error.message),
        )])
    }
}

/// A request as a call would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRequest {
    /// The call's 1-based position.
    pub call: u32,
    /// The URL.
    pub url: String,
    /// The request itself; `None` when the call would be skipped (its REQUESTXML rendered
    /// empty).
    pub request: Option<HttpRequest>,
}

/// Renders every call of `plan` for `target` without sending anything, after the check of the
/// account's columns [`run_plan`] makes; what earlier calls would capture is shown as `${NAME}`.
pub fn render_plan(
    config: &Config,
    attribute: &str,
    plan: &ProvisioningPlan,
    target: &Provisioned<'_>,
) -> Result<Vec<RenderedRequest>, ConnectorError> {
    account_columns::check(attribute, plan, target.account)?;
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
        let placed = PlacedCall {
            attribute,
            number,
            call,
        };
        let mut request = call
            .request
            .render_or_skip(&bindings, config.mode)
            .map_err(|error| ConnectorError::new(placed.render_error(error)))?;
        let token_connection = config.connections.token_for(call.connection.as_deref());
        if let (Some(request), Some(_)) = (&mut request, token_connection) {
            with_authorization(request, MASKED_TOKEN);
        }
        rendered.push(RenderedRequest {
            call: number,
            url: config.endpoint.url(),
            request,
        });
        for capture in &call.response_mapping {
            if capture.target == Target::Value {
                let name = &capture.name;
                placeholders.push((name.clone(), format!("${{{name}}}")));
            }
        }
    }
    Ok(rendered)
}

fn run_call<T: Transport>(
    config: &Config,
    placed: &PlacedCall<'_>,
    client: &mut Client<T>,
    target: &Provisioned<'_>,
    captures: &mut Captures,
) -> Result<(), ErrorKind> {
    let call = placed.call;
    let bound = captures.bound();
    let bindings = |access_token| RuntimeBindings {
        connection: &config.connection,
        account: Some(target.account),
        user: target.user,
        captured: &bound,
        access_token,
    };
    // Whether the call is skipped is decided before any token is asked for.
    let planned = call
        .request
        .render_or_skip(&bindings(Some(MASKED_TOKEN)), config.mode)
        .map_err(|error| placed.render_error(error))?;
    if planned.is_none() {
        captures.skipped_calls.push(placed.number);
        return Ok(());
    }
    let render = |access_token: Option<&str>| {
        let bindings = RuntimeBindings {
            access_token,
            ..bindings(None)
        };
        call.request
            .render_or_skip(&bindings, config.mode)
            .map_err(|error| placed.render_error(error))?
            .ok_or_else(|| {
                placed.render_error(TextError {
                    line: 1,
                    column: 1,
                    message: "the request rendered empty only with the token".into(),
                })
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
    for capture in &call.response_mapping {
        let value = match &capture.path {
            None => Some(status.to_string()),
            Some(path) => first_value(&body, path).map_err(|error| {
                response_error(error, &format!("RESPONSEMAPPING {}", capture.name))
            })?,
        };
        if let Some(value) = value {
            captures.set(&capture.name, &capture.target, value);
        }
    }
    for (name, expected) in &call.success_criteria {
        let found = captures.get(name);
        if found.map(str::trim) != Some(expected.as_str()) {
            return Err(ErrorKind::SuccessCriteriaNotMet(CriteriaFailure {
                name: name.clone(),
                expected: expected.clone(),
                found: found.map(str::to_string),
            }));
        }
    }
    Ok(())
}

pub mod account_columns;

#[cfg(test)]
mod tests;
