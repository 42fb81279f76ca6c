//! The component's face: the WIT exports, each a few lines delegating to the plain modules,
//! and the conversions between WIT types and the crate's own.

mod clock;
mod convert;
mod http;

use std::cell::RefCell;
use std::rc::Rc;

use crate::client::Client;
use crate::config::{self, Connection};
use crate::error::ConnectorError;
use crate::import::ImportRun;
use crate::tokens::TokenCache;
use crate::{provision, session};

wit_bindgen::generate!({
    path: "../wit",
    world: "duckcreek-connector",
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
    },
});

use duckcreek::connector::types as wit;
use exports::duckcreek::connector::connector as api;

struct Component;

export!(Component);

thread_local! {
    /// The tokens of this instance's token connections, shared by all its calls: a job that
    /// keeps its instance asks for a token once per lifetime, not once per call.
    static TOKENS: Rc<RefCell<TokenCache>> = Rc::default();
}

/// A client over wasi:http sharing the instance's tokens.
fn client() -> Client<http::WasiHttp> {
    let tokens = TOKENS.with(Rc::clone);
    Client::new(http::WasiHttp, tokens, Rc::new(clock::WasiClock))
}

/// The state behind an `import-run` resource.
struct ImportRunResource {
    run: RefCell<ImportRun<http::WasiHttp>>,
}

impl api::GuestImportRun for ImportRunResource {
    fn next(&self) -> Result<Option<wit::Batch>, wit::ConnectorError> {
        let batch = self.run.borrow_mut().next_batch().map_err(convert::error)?;
        Ok(batch.map(convert::batch))
    }
}

/// A connection's attributes, and the configuration checked from them.
type CheckedConnection = (Vec<(String, String)>, Rc<config::Config>);

thread_local! {
    /// The last connection checked and its configuration: a job passes the same connection to
    /// every call (a retry job, thousands), and checking it costs more than the call's own work.
    /// Keyed by the whole attribute list, so any change is checked afresh.
    static CHECKED: RefCell<Option<CheckedConnection>> =
        const { RefCell::new(None) };
}

fn checked(connection: Vec<wit::Attribute>) -> Result<Rc<config::Config>, ConnectorError> {
    let connection: Vec<(String, String)> =
        connection.into_iter().map(|a| (a.name, a.value)).collect();
    let cached = CHECKED.with_borrow(|cached| match cached {
        Some((attributes, config)) if *attributes == connection => Some(Rc::clone(config)),
        _ => None,
    });
    if let Some(config) = cached {
        return Ok(config);
    }
    let loaded = config::load(&Connection::from_pairs(connection.iter().cloned()));
    let config = Rc::new(
        loaded
            .config
            .ok_or_else(|| ConnectorError::invalid_configuration(loaded.problems))?,
    );
    CHECKED.set(Some((connection, Rc::clone(&config))));
    Ok(config)
}

impl api::Guest for Component {
    type ImportRun = ImportRunResource;

    fn validate(connection: Vec<wit::Attribute>) -> Vec<wit::Problem> {
        let connection = Connection::from_pairs(connection.into_iter().map(|a| (a.name, a.value)));
        config::load(&connection)
            .problems
            .into_iter()
            .map(convert::problem)
            .collect()
    }

    fn destinations(
        connection: Vec<wit::Attribute>,
    ) -> Result<Vec<wit::Destination>, wit::ConnectorError> {
        let config = checked(connection).map_err(convert::error)?;
        let destinations = crate::destinations::destinations(&config);
        Ok(destinations.into_iter().map(convert::destination).collect())
    }

    fn test_connection(connection: Vec<wit::Attribute>) -> Result<(), wit::ConnectorError> {
        let config = checked(connection).map_err(convert::error)?;
        session::test_connection(&config, &mut client()).map_err(convert::error)
    }

    fn start_import(
        connection: Vec<wit::Attribute>,
        options: wit::ImportOptions,
    ) -> Result<api::ImportRun, wit::ConnectorError> {
        let config = checked(connection).map_err(convert::error)?;
        let scope = convert::scope(options.scope);
        let config = Rc::unwrap_or_clone(config);
        let run = ImportRun::new(config, client(), scope, options.max_batch as usize)
            .map_err(convert::error)?;
        Ok(api::ImportRun::new(ImportRunResource {
            run: RefCell::new(run),
        }))
    }

    fn reconciliation(
        connection: Vec<wit::Attribute>,
    ) -> Result<wit::ReconciliationPolicy, wit::ConnectorError> {
        let config = checked(connection).map_err(convert::error)?;
        Ok(convert::policy(config.reconciliation.clone()))
    }

    fn enable_account(
        connection: Vec<wit::Attribute>,
        request: wit::ProvisioningRequest,
    ) -> Result<wit::ProvisioningOutcome, wit::ConnectorError> {
        provision(connection, request, Plan::Enable).map_err(convert::error)
    }

    fn render_provisioning(
        connection: Vec<wit::Attribute>,
        enable: bool,
        request: wit::ProvisioningRequest,
    ) -> Result<Vec<wit::RenderedRequest>, wit::ConnectorError> {
        let which = if enable { Plan::Enable } else { Plan::Disable };
        render(connection, request, which).map_err(convert::error)
    }

    fn disable_account(
        connection: Vec<wit::Attribute>,
        request: wit::ProvisioningRequest,
    ) -> Result<wit::ProvisioningOutcome, wit::ConnectorError> {
        provision(connection, request, Plan::Disable).map_err(convert::error)
    }
}

/// Which provisioning plan to run.
enum Plan {
    Enable,
    Disable,
}

/// The plan's attribute and the plan, or the error saying the connection has none.
fn plan_of(
    config: &config::Config,
    which: Plan,
) -> Result<(&'static str, &config::ProvisioningPlan), ConnectorError> {
    let (attribute, plan) = match which {
        Plan::Enable => (config::ENABLEACCOUNTJSON, config.enable_plan.as_ref()),
        Plan::Disable => (config::DISABLEACCOUNTJSON, config.disable_plan.as_ref()),
    };
    let plan = plan.ok_or_else(|| {
        ConnectorError::invalid_configuration(vec![crate::error::Problem::error(
            attribute,
            None,
            "missing: this connection cannot provision that operation",
        )])
    })?;
    Ok((attribute, plan))
}

/// Runs `action` with the checked configuration, the plan `which` names and the request's
/// account and owner.
fn with_plan<R>(
    connection: Vec<wit::Attribute>,
    request: wit::ProvisioningRequest,
    which: Plan,
    action: impl FnOnce(
        &config::Config,
        &str,
        &config::ProvisioningPlan,
        &provision::Provisioned<'_>,
    ) -> Result<R, ConnectorError>,
) -> Result<R, ConnectorError> {
    let config = checked(connection)?;
    let (attribute, plan) = plan_of(&config, which)?;
    let account = convert::account_in(request.account);
    let user = convert::columns_in(request.user);
    let target = provision::Provisioned {
        account: &account,
        user: &user,
    };
    action(&config, attribute, plan, &target)
}

fn provision(
    connection: Vec<wit::Attribute>,
    request: wit::ProvisioningRequest,
    which: Plan,
) -> Result<wit::ProvisioningOutcome, ConnectorError> {
    with_plan(
        connection,
        request,
        which,
        |config, attribute, plan, target| {
            provision::run_plan(config, attribute, plan, &mut client(), target)
                .map(convert::outcome)
        },
    )
}

fn render(
    connection: Vec<wit::Attribute>,
    request: wit::ProvisioningRequest,
    which: Plan,
) -> Result<Vec<wit::RenderedRequest>, ConnectorError> {
    with_plan(
        connection,
        request,
        which,
        |config, attribute, plan, target| {
            let rendered = provision::render_plan(config, attribute, plan, target)?;
            Ok(rendered.into_iter().map(convert::rendered).collect())
        },
    )
}
