//! The native reference: the connector's own logic (the `duckcreek-connector` crate) built for
//! the host's target and driven through the same [`Connector`] trait as the component, so that
//! the benchmarks can put a number on the price of the sandbox.
//!
//! Only for measuring (feature `native-reference`, used by `dcbench`): it has no egress policy
//! and no limits. Secrets travel as in the sandbox: the connector sees placeholders, and
//! requests get the values written in on the way out.

// The connector's errors are large and travel by value, as in the connector crate itself (see
// its lib.rs): created once per failed job.
#![allow(clippy::result_large_err)]

use std::cell::RefCell;
use std::io::{BufReader, Read};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use duckcreek_connector::client::Client;
use duckcreek_connector::config::{self, Endpoint, HttpRequest};
use duckcreek_connector::import::ImportRun;
use duckcreek_connector::tokens::{Clock, TokenCache};
use duckcreek_connector::transport::{HttpResponse, Transport, TransportError};

use crate::runtime::{CallTimings, Connector, RuntimeError, wit};
use crate::secrets::Secrets;

mod convert {
    duckcreek_connector::wit_conversions!(crate::runtime::wit);
}

/// The connector logic, native, as one job's connector.
pub struct NativeConnector {
    tokens: Rc<RefCell<TokenCache>>,
    secrets: Arc<Secrets>,
    agent: ureq::Agent,
    timings: Rc<RefCell<CallTimings>>,
}

/// An import in progress.
pub struct NativeImport(RefCell<ImportRun<NativeHttp>>);

impl NativeConnector {
    /// A connector whose requests get `secrets` written in.
    pub fn new(secrets: Secrets) -> NativeConnector {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        NativeConnector {
            tokens: Rc::default(),
            secrets: Arc::new(secrets),
            agent,
            timings: Rc::default(),
        }
    }

    fn client(&self) -> Client<NativeHttp> {
        let http = NativeHttp {
            agent: self.agent.clone(),
            secrets: Arc::clone(&self.secrets),
            timings: Rc::clone(&self.timings),
        };
        Client::new(
            http,
            Rc::clone(&self.tokens),
            Rc::new(MonotonicClock::new()),
        )
    }

    /// Runs `call`, adding its wall time to the total.
    fn timed<R>(&self, call: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let result = call();
        self.timings.borrow_mut().total += started.elapsed();
        result
    }
}

/// The connection loaded by the connector: its configuration, if usable, and every problem.
fn loaded(connection: &[wit::Attribute]) -> config::Loaded {
    let pairs = connection
        .iter()
        .map(|attribute| (attribute.name.clone(), attribute.value.clone()));
    config::load(&config::Connection::from_pairs(pairs))
}

fn checked(connection: &[wit::Attribute]) -> Result<config::Config, wit::ConnectorError> {
    let loaded = loaded(connection);
    loaded.config.ok_or_else(|| {
        convert::error(
            duckcreek_connector::error::ConnectorError::invalid_configuration(loaded.problems),
        )
    })
}

impl Connector for NativeConnector {
    type Import = NativeImport;

    fn validate(
        &mut self,
        connection: &[wit::Attribute],
    ) -> Result<Vec<wit::Problem>, RuntimeError> {
        let problems = loaded(connection).problems;
        Ok(problems.into_iter().map(convert::problem).collect())
    }

    fn reconciliation(
        &mut self,
        connection: &[wit::Attribute],
    ) -> Result<Result<wit::ReconciliationPolicy, wit::ConnectorError>, RuntimeError> {
        Ok(checked(connection).map(|config| convert::policy(config.reconciliation)))
    }

    fn start_import(
        &mut self,
        connection: &[wit::Attribute],
        options: wit::ImportOptions,
    ) -> Result<Result<NativeImport, wit::ConnectorError>, RuntimeError> {
        let started = checked(connection).and_then(|config| {
            let scope = convert::scope(options.scope);
            ImportRun::new(config, self.client(), scope, options.max_batch as usize)
                .map_err(convert::error)
        });
        Ok(started.map(|run| NativeImport(RefCell::new(run))))
    }

    fn next_batch(
        &mut self,
        import: &NativeImport,
    ) -> Result<Result<Option<wit::Batch>, wit::ConnectorError>, RuntimeError> {
        let batch = self.timed(|| import.0.borrow_mut().next_batch());
        Ok(batch
            .map(|batch| batch.map(convert::batch))
            .map_err(convert::error))
    }

    fn finish_import(&mut self, import: NativeImport) -> Result<(), RuntimeError> {
        drop(import);
        Ok(())
    }

    fn denials(&self) -> Vec<String> {
        Vec::new()
    }

    fn timings(&self) -> CallTimings {
        let timings = *self.timings.borrow();
        CallTimings {
            in_component: timings.total.saturating_sub(timings.in_host_calls),
            ..timings
        }
    }
}

/// The monotonic clock the token cache reads.
struct MonotonicClock(Instant);

impl MonotonicClock {
    fn new() -> MonotonicClock {
        MonotonicClock(Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// HTTP/1.1 over ureq, with the connection's secrets written into each request and the time
/// spent in it (sending, and reading the body) counted as the host's.
pub struct NativeHttp {
    agent: ureq::Agent,
    secrets: Arc<Secrets>,
    timings: Rc<RefCell<CallTimings>>,
}

/// A response body whose reads are timed.
pub struct TimedBody {
    inner: Box<dyn Read + Send>,
    timings: Rc<RefCell<CallTimings>>,
}

impl Read for TimedBody {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let started = Instant::now();
        let read = self.inner.read(buffer);
        self.timings.borrow_mut().in_host_calls += started.elapsed();
        read
    }
}

/// The buffer between the socket and the XML reader: as the component's reads from wasi:io.
const BODY_BUFFER: usize = 64 * 1024;

impl Transport for NativeHttp {
    type Body = BufReader<TimedBody>;

    fn post(
        &mut self,
        endpoint: &Endpoint,
        request: &HttpRequest,
    ) -> Result<HttpResponse<Self::Body>, TransportError> {
        let started = Instant::now();
        let url = format!(
            "{}://{}{}",
            endpoint.scheme, endpoint.authority, endpoint.path_and_query
        );
        let content_type = request
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.as_str());
        let body = self
            .secrets
            .reveal_body(request.body.as_bytes(), content_type)
            .map_err(|error| TransportError::lasting(error.to_string()))?
            .unwrap_or_else(|| request.body.as_bytes().to_vec());
        let mut builder = self.agent.post(&url);
        for (name, value) in &request.headers {
            let value = self
                .secrets
                .reveal_header(value)
                .map_err(|error| TransportError::lasting(error.to_string()))?
                .unwrap_or_else(|| value.clone());
            builder = builder.header(name, value);
        }
        let response = builder
            .send(&body[..])
            .map_err(|error| TransportError::transient(error.to_string()))?;
        self.timings.borrow_mut().in_host_calls += started.elapsed();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok())
            .map(Duration::from_secs);
        let inner: Box<dyn Read + Send> = Box::new(response.into_body().into_reader());
        let body = TimedBody {
            inner,
            timings: Rc::clone(&self.timings),
        };
        Ok(HttpResponse {
            status,
            retry_after,
            body: BufReader::with_capacity(BODY_BUFFER, body),
        })
    }
}
