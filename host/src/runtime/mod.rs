//! Loading and running the connector component under wasmtime.
//!
//! One [`Runtime`] per process: the engine, the compiled component (from the on-disk cache
//! when it is there) and a linker pre-instantiated for it. Each job gets a fresh
//! [`ConnectorInstance`] (its own `Store`) whose only way out is wasi:http under the job's
//! egress [`AllowList`]: no filesystem, no environment, no sockets, no stdio.

mod cache;
mod http_failure;
mod http_impl;
mod limits;
mod timing;

pub use cache::default_cache_dir;
pub use limits::{Limit, Limits};
pub use timing::CallTimings;

use std::path::{Path, PathBuf};

use wasmtime::component::{Linker, ResourceAny, ResourceTable};
use wasmtime::{Config, Engine, Store};

use limits::{EPOCH_TICK, Guard, on_epoch};
use timing::PhaseClock;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::policy::AllowList;
use crate::secrets::Secrets;
pub use http_impl::{EgressHooks, SendGate};

#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "duckcreek-connector",
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        require_store_data_send: true,
    });
}

/// The WIT types, as the host sees them.
pub use bindings::duckcreek::connector::types as wit;

/// Why the runtime could not do its part.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The component file could not be read.
    #[error(
        "cannot read the connector component {path}: {source}; pass --component (or DCCONN_COMPONENT) the connector's .wasm file (in a source checkout, `make component` builds it)"
    )]
    ComponentMissing {
        /// Where it was looked for.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The component file is not one dcconn loads: not a regular file, or too large to be a
    /// component.
    #[error(
        "cannot load the connector component {path}: {problem}; pass --component (or DCCONN_COMPONENT) the connector's .wasm file"
    )]
    ComponentRefused {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The file is WebAssembly but not the connector component this host runs: damaged, cut
    /// short, or another program.
    #[error(
        "cannot load the connector component {path}: it is not a valid connector component ({problem:#}); pass --component (or DCCONN_COMPONENT) the connector's .wasm file"
    )]
    ComponentInvalid {
        /// The path given.
        path: PathBuf,
        /// What wasmtime found wrong.
        problem: wasmtime::Error,
    },
    /// wasmtime refused the component or failed while running it (a trap).
    #[error("the connector component failed: {0:#}")]
    Wasm(#[from] wasmtime::Error),
    /// The component hit one of the host's limits and was stopped.
    #[error("the connector component {what}; it was stopped")]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The limit in words, with its value and flag.
        what: String,
    },
    /// The component broke the contract of the WIT (a batch larger than asked, ...).
    #[error("the connector component broke its contract: {0}")]
    Contract(String),
}

/// The largest component file read: the connector is a few MB; a path that names anything far
/// larger (a disk image, a log) names the wrong file.
pub const MAX_COMPONENT_BYTES: u64 = 64 * 1024 * 1024;

/// The first four bytes of every WebAssembly file, module or component.
const WASM_MAGIC: &[u8] = b"\0asm";

/// The bytes of the component file at `path`: a regular file of at most
/// [`MAX_COMPONENT_BYTES`], read without ever blocking on a FIFO or reading a device forever.
fn read_component(path: &Path) -> Result<Vec<u8>, RuntimeError> {
    let refused = |problem: String| RuntimeError::ComponentRefused {
        path: path.to_path_buf(),
        problem,
    };
    let file = crate::regular_file::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::InvalidInput {
            refused(source.to_string())
        } else {
            RuntimeError::ComponentMissing {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_COMPONENT_BYTES + 1),
        &mut bytes,
    )
    .map_err(|source| RuntimeError::ComponentMissing {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(refused(format!(
            "it holds more than {MAX_COMPONENT_BYTES} bytes, the most a component may hold"
        )));
    }
    // wasmtime's own error for other bytes shows them as a debug dump of numbers.
    if !bytes.starts_with(WASM_MAGIC) {
        return Err(refused(
            "it is not WebAssembly (a .wasm file begins with the bytes \\0asm)".to_string(),
        ));
    }
    Ok(bytes)
}

/// The data of one job's `Store`: WASI with nothing granted, wasi:http through the egress hooks.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: EgressHooks,
    guard: Guard,
    phases: PhaseClock,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The engine and the component, ready to instantiate.
pub struct Runtime {
    engine: Engine,
    pre: bindings::DuckcreekConnectorPre<HostState>,
    limits: Limits,
}

impl Runtime {
    /// Loads the component at `path`, compiling it or taking it from `cache_dir`.
    pub fn load(path: &Path, cache_dir: Option<&Path>) -> Result<Runtime, RuntimeError> {
        let bytes = read_component(path)?;
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        start_epoch_ticker(&engine).map_err(|error| {
            RuntimeError::Wasm(wasmtime::Error::msg(format!(
                "cannot start the thread that enforces the limits: {error}"
            )))
        })?;
        let invalid = |problem| RuntimeError::ComponentInvalid {
            path: path.to_path_buf(),
            problem,
        };
        let component = cache::load_component(&engine, &bytes, cache_dir).map_err(invalid)?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(bindings::DuckcreekConnectorPre::new)
            .map_err(invalid)?;
        Ok(Runtime {
            engine,
            pre,
            limits: Limits::default(),
        })
    }

    /// The same runtime, running its instances under `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Runtime {
        self.limits = limits;
        self
    }

    /// The limits instances run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The wasmtime engine (for tests that compile their own components).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A fresh instance whose requests may reach only what `allow` permits, with the values of
    /// `secrets` written into them on the way out.
    pub fn instantiate(
        &self,
        allow: AllowList,
        secrets: Secrets,
    ) -> Result<ConnectorInstance, RuntimeError> {
        let wasi = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = HostState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: EgressHooks::new(allow, secrets, &self.limits),
            guard: Guard::new(self.limits),
            phases: PhaseClock::default(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.guard);
        store.call_hook(|mut context, hook| {
            context.data_mut().phases.on_hook(hook);
            Ok(())
        });
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(on_epoch(|state: &mut HostState| &mut state.guard));
        let bindings = self.pre.instantiate(&mut store)?;
        Ok(ConnectorInstance { store, bindings })
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the engine lives, so that
/// running components are checked against their limits.
fn start_epoch_ticker(engine: &Engine) -> std::io::Result<()> {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("dcconn-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
}

/// What the jobs call a connector through: the WIT's functions as the host calls them. The
/// component instance is the implementation; the benchmarks add the same logic built natively
/// (the `native-reference` feature), so that the price of the sandbox is measured through the
/// same job code.
pub trait Connector {
    /// An import in progress.
    type Import;

    /// `validate`.
    fn validate(
        &mut self,
        connection: &[wit::Attribute],
    ) -> Result<Vec<wit::Problem>, RuntimeError>;

    /// `reconciliation`: the connection's reconciliation policy.
    fn reconciliation(
        &mut self,
        connection: &[wit::Attribute],
    ) -> Result<Result<wit::ReconciliationPolicy, wit::ConnectorError>, RuntimeError>;

    /// `start-import`.
    fn start_import(
        &mut self,
        connection: &[wit::Attribute],
        options: wit::ImportOptions,
    ) -> Result<Result<Self::Import, wit::ConnectorError>, RuntimeError>;

    /// `import-run.next`.
    fn next_batch(
        &mut self,
        import: &Self::Import,
    ) -> Result<Result<Option<wit::Batch>, wit::ConnectorError>, RuntimeError>;

    /// Ends an import.
    fn finish_import(&mut self, import: Self::Import) -> Result<(), RuntimeError>;

    /// The requests the egress policy denied so far, each with the reason.
    fn denials(&self) -> Vec<String>;

    /// Where the time of the calls went so far.
    fn timings(&self) -> CallTimings;
}

impl Connector for ConnectorInstance {
    type Import = ImportHandle;

    fn validate(
        &mut self,
        connection: &[wit::Attribute],
    ) -> Result<Vec<wit::Problem>, RuntimeError> {
        ConnectorInstance::validate(self, connection)
    }

    fn reconciliation(
        &mut self,
        connection: &[wit::Attribute],
    ) -> Result<Result<wit::ReconciliationPolicy, wit::ConnectorError>, RuntimeError> {
        ConnectorInstance::reconciliation(self, connection)
    }

    fn start_import(
        &mut self,
        connection: &[wit::Attribute],
        options: wit::ImportOptions,
    ) -> Result<Result<ImportHandle, wit::ConnectorError>, RuntimeError> {
        ConnectorInstance::start_import(self, connection, options)
    }

    fn next_batch(
        &mut self,
        import: &ImportHandle,
    ) -> Result<Result<Option<wit::Batch>, wit::ConnectorError>, RuntimeError> {
        ConnectorInstance::next_batch(self, import)
    }

    fn finish_import(&mut self, import: ImportHandle) -> Result<(), RuntimeError> {
        ConnectorInstance::finish_import(self, import)
    }

    fn denials(&self) -> Vec<String> {
        ConnectorInstance::denials(self)
    }

    fn timings(&self) -> CallTimings {
        ConnectorInstance::timings(self)
    }
}

/// One instance of the component, for one job.
pub struct ConnectorInstance {
    store: Store<HostState>,
    bindings: bindings::DuckcreekConnector,
}

/// An import in progress inside an instance.
pub struct ImportHandle(ResourceAny);

impl ConnectorInstance {
    /// Runs one call into the component, with its CPU time counted from now; a trap caused by
    /// a limit becomes [`RuntimeError::LimitExceeded`].
    fn call<R>(
        &mut self,
        call: impl FnOnce(&bindings::DuckcreekConnector, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, RuntimeError> {
        self.store.data_mut().guard.start_call();
        let started = std::time::Instant::now();
        let outcome = call(&self.bindings, &mut self.store);
        self.store.data_mut().phases.add_call(started.elapsed());
        let guard = &self.store.data().guard;
        let exceeded = |limit: Limit| RuntimeError::LimitExceeded {
            limit,
            what: limit.describe(guard.limits()),
        };
        // A call that waited on the network past the job's deadline (its waits are cut there,
        // see `EgressHooks`) ends the job like one stopped while it ran.
        if guard.past_job_deadline() {
            return Err(exceeded(Limit::JobDeadline));
        }
        outcome.map_err(|error| match guard.exceeded() {
            Some(limit) => exceeded(limit),
            None => RuntimeError::Wasm(error),
        })
    }

    /// `validate`.
    pub fn validate(
        &mut self,
        connection: &[wit::Attribute],
    ) -> Result<Vec<wit::Problem>, RuntimeError> {
        self.call(|api, store| {
            api.duckcreek_connector_connector()
                .call_validate(store, connection)
        })
    }

    /// `destinations`: every URL the connection's requests may go to, as the component says.
    pub fn destinations(
        &mut self,
        connection: &[wit::Attribute],
    ) -> Result<Result<Vec<wit::Destination>, wit::ConnectorError>, RuntimeError> {
        self.call(|api, store| {
            api.duckcreek_connector_connector()
                .call_destinations(store, connection)
        })
    }

    /// Lets this instance's requests reach only what `allow` permits from now on (it was
    /// instantiated with a list; a job sets the one the component's `destinations` gave).
    pub fn allow(&mut self, allow: AllowList) {
        self.store.data_mut().hooks.set_allow(allow);
    }

    /// `test-connection`.
    pub fn test_connection(
        &mut self,
        connection: &[wit::Attribute],
    ) -> Result<Result<(), wit::ConnectorError>, RuntimeError> {
        self.call(|api, store| {
            api.duckcreek_connector_connector()
                .call_test_connection(store, connection)
        })
    }

    /// `reconciliation`: the connection's reconciliation policy.
    pub fn reconciliation(
        &mut self,
        connection: &[wit::Attribute],
    ) -> Result<Result<wit::ReconciliationPolicy, wit::ConnectorError>, RuntimeError> {
        self.call(|api, store| {
            api.duckcreek_connector_connector()
                .call_reconciliation(store, connection)
        })
    }

    /// `enable-account` or `disable-account`.
    pub fn provision(
        &mut self,
        connection: &[wit::Attribute],
        enable: bool,
        request: &wit::ProvisioningRequest,
    ) -> Result<Result<wit::ProvisioningOutcome, wit::ConnectorError>, RuntimeError> {
        self.call(|api, store| {
            let api = api.duckcreek_connector_connector();
            if enable {
                api.call_enable_account(store, connection, request)
            } else {
                api.call_disable_account(store, connection, request)
            }
        })
    }

    /// `render-provisioning`: the requests a plan would send, sending nothing.
    pub fn render_provisioning(
        &mut self,
        connection: &[wit::Attribute],
        enable: bool,
        request: &wit::ProvisioningRequest,
    ) -> Result<Result<Vec<wit::RenderedRequest>, wit::ConnectorError>, RuntimeError> {
        self.call(|api, store| {
            api.duckcreek_connector_connector()
                .call_render_provisioning(store, connection, enable, request)
        })
    }

    /// `start-import`.
    pub fn start_import(
        &mut self,
        connection: &[wit::Attribute],
        options: wit::ImportOptions,
    ) -> Result<Result<ImportHandle, wit::ConnectorError>, RuntimeError> {
        let started = self.call(|api, store| {
            api.duckcreek_connector_connector()
                .call_start_import(store, connection, options)
        })?;
        Ok(started.map(ImportHandle))
    }

    /// `import-run.next`.
    pub fn next_batch(
        &mut self,
        import: &ImportHandle,
    ) -> Result<Result<Option<wit::Batch>, wit::ConnectorError>, RuntimeError> {
        self.call(|api, store| {
            api.duckcreek_connector_connector()
                .import_run()
                .call_next(store, import.0)
        })
    }

    /// Drops an import's resource inside the component.
    pub fn finish_import(&mut self, import: ImportHandle) -> Result<(), RuntimeError> {
        self.call(|_, store| import.0.resource_drop(store))
    }

    /// Where the time of the calls into this instance went so far.
    pub fn timings(&self) -> CallTimings {
        self.store.data().phases.timings()
    }

    /// The requests the egress policy denied so far, each with the reason.
    pub fn denials(&self) -> Vec<String> {
        self.store.data().hooks.denials()
    }

    /// Asks `gate` immediately before each request this instance sends from now on; each
    /// request it lets through is cut at its deadline (see [`SendGate`]).
    pub fn set_send_gate(&mut self, gate: Box<dyn SendGate>) {
        self.store.data_mut().hooks.set_gate(gate);
    }
}
