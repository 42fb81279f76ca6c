//! The wasi:http hooks: every request the component sends passes through
//! [`EgressHooks::send_request`], which asks the [`AllowList`] and either denies it
//! (`HttpRequestDenied`) or hands it to wasmtime's default client with the host's timeouts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks, default_hooks,
};

use crate::policy::AllowList;

/// The longest the host lets a connection attempt take, whatever the component asks.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest the host waits for the first byte of a response: Duck Creek renders large
/// lists before it sends anything.
const MAX_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest pause the host accepts between two parts of a response body.
const MAX_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(120);

/// How many denial messages an instance keeps (a hostile guest could loop).
const MAX_DENIALS_KEPT: usize = 32;

type BoxedResponse = Box<
    dyn std::future::Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

/// The egress policy of one instance.
pub struct EgressHooks {
    allow: AllowList,
    denials: Arc<Mutex<Vec<String>>>,
}

impl EgressHooks {
    /// Hooks that let through only what `allow` permits.
    pub fn new(allow: AllowList) -> Self {
        EgressHooks {
            allow,
            denials: Arc::default(),
        }
    }

    /// The denials so far, each with its reason.
    pub fn denials(&self) -> Vec<String> {
        self.denials
            .lock()
            .map(|list| list.clone())
            .unwrap_or_default()
    }

    fn record_denial(&self, reason: String) {
        if let Ok(mut list) = self.denials.lock()
            && list.len() < MAX_DENIALS_KEPT
        {
            list.push(reason);
        }
    }
}

fn clamp(asked: Option<Duration>, limit: Duration) -> Option<Duration> {
    Some(asked.map_or(limit, |asked| asked.min(limit)))
}

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>,
    ) -> BoxedResponse {
        if let Err(denied) = self.allow.allows_uri(request.uri()) {
            self.record_denial(denied.to_string());
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let asked = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: clamp(asked.connect_timeout, MAX_CONNECT_TIMEOUT),
            first_byte_timeout: clamp(asked.first_byte_timeout, MAX_FIRST_BYTE_TIMEOUT),
            between_bytes_timeout: clamp(asked.between_bytes_timeout, MAX_BETWEEN_BYTES_TIMEOUT),
        };
        default_hooks().send_request(request, Some(options), fut)
    }
}
