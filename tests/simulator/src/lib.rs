//! `dcsim`: a Duck Creek simulator.
//!
//! A real HTTP server, bound to loopback only, that speaks the Duck Creek
//! XML interface (bare `<server><requests>` documents or SOAP 1.1 envelopes)
//! as used by an identity-governance connector, plus a JSON admin API to
//! inspect and change its state and to inject faults.
//!
//! ```no_run
//! use dcsim::{Fault, SimConfig, Simulator};
//!
//! let sim = Simulator::start(SimConfig { users: 1000, ..SimConfig::default() })?;
//! println!("endpoint: {}", sim.endpoint_url()); // http://127.0.0.1:PORT/dc/services
//! sim.inject_fault(Fault::http_status(503));
//! // ... drive a client against it, then look at what it sent:
//! for request in sim.requests() {
//!     println!("{:?}", request.operations);
//! }
//! # anyhow::Ok(())
//! ```
//!
//! Modules: [`dataset`] (data types, the deterministic generator and the
//! fixed special users), [`fault`] (fault injection), [`admin`] (admin API),
//! [`token`] (token mode: a bearer-token gateway in front of the endpoint)
//! and the endpoint semantics in `server`; the request parser is described
//! in `xml`.
//!
//! ```no_run
//! use dcsim::{SimConfig, Simulator, TokenMode};
//!
//! let sim = Simulator::start(SimConfig {
//!     token: Some(TokenMode { max_uses: Some(3), ..TokenMode::default() }),
//!     ..SimConfig::default()
//! })?;
//! // POST client credentials to sim.token_url(), then send
//! // `Authorization: Bearer <token>` to sim.endpoint_url().
//! println!("{:?}", sim.token_stats());
//! # anyhow::Ok(())
//! ```

pub mod admin;
mod conn;
pub mod dataset;
mod echo;
pub mod fault;
mod render;
mod server;
pub mod token;
mod xml;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;

pub use dataset::{Dataset, Entity, Privilege, Role, User};
pub use echo::echo_text;
pub use fault::{EchoShape, Fault, FaultKind};
pub use server::{SeenOperation, SeenRequest};
pub use token::{ExpiredAnswer, TokenMode, TokenStats};
pub use xml::Mode;

use server::{Shared, Store, lock};
use token::Tokens;

/// How to start a [`Simulator`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// How many users to generate.
    pub users: usize,
    /// The generator seed.
    pub seed: u64,
    /// The user name `Session.loginRq` accepts.
    pub username: String,
    /// The password `Session.loginRq` accepts (and the token endpoint,
    /// for `grant_type=password`).
    pub password: String,
    /// Token mode: when set, the endpoint wants a bearer token from
    /// `/oauth/token` (see [`token`]); `None` (the default): no token
    /// anywhere.
    pub token: Option<TokenMode>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            users: 50,
            seed: 1,
            username: "dcadmin".to_owned(),
            password: "dcadmin-secret".to_owned(),
            token: None,
        }
    }
}

/// A running simulator; dropping it shuts the server down.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Generates the dataset and starts serving on an ephemeral loopback
    /// port; returns once the port is listening.
    pub fn start(config: SimConfig) -> anyhow::Result<Simulator> {
        Simulator::start_on(config, 0)
    }

    /// Like [`Simulator::start`], on `127.0.0.1:port` (0: ephemeral).
    pub fn start_on(config: SimConfig, port: u16) -> anyhow::Result<Simulator> {
        let data = Dataset::generate(config.users, config.seed);
        let shared = Arc::new(Shared {
            username: config.username,
            password: config.password,
            store: Mutex::new(Store::new(data)),
            requests: Mutex::new(Vec::new()),
            received: Mutex::new(Vec::new()),
            faults: Mutex::new(Default::default()),
            stalls: Default::default(),
            tokens: Tokens::new(config.token, config.seed),
        });

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        listener
            .set_nonblocking(true)
            .context("making the listener non-blocking")?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("dcsim")
            .enable_all()
            .build()
            .context("building the tokio runtime")?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).context("registering the listener")?
        };

        let app =
            server::router(shared.clone()).into_make_service_with_connect_info::<conn::Conn>();
        let listener = conn::SimListener(listener);
        let (shutdown, stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("dcsim-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        result = axum::serve(listener, app) => {
                            if let Err(e) = result {
                                eprintln!("dcsim: server error: {e}");
                            }
                        }
                        _ = stop => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .context("spawning the server thread")?;

        Ok(Simulator {
            shared,
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Duck Creek endpoint: base URL + `/dc/services`.
    pub fn endpoint_url(&self) -> String {
        format!("{}/dc/services", self.base_url())
    }

    /// The admin API root: base URL + `/admin`.
    pub fn admin_url(&self) -> String {
        format!("{}/admin", self.base_url())
    }

    /// The token endpoint: base URL + `/oauth/token` (it answers 404 unless
    /// token mode is on).
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    /// The token counters so far (like `GET /admin/tokens`; all zero unless
    /// token mode is on).
    pub fn token_stats(&self) -> TokenStats {
        self.shared.tokens.stats()
    }

    /// Every token handed out so far, in order.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.tokens.issued()
    }

    /// Makes every token issued so far count as expired from now on (like
    /// `POST /admin/tokens/expire`); tokens issued later are not affected.
    pub fn expire_tokens(&self) {
        self.shared.tokens.expire_all();
    }

    /// Every request POSTed to the endpoint so far, in order (calls
    /// rejected for their token are not recorded).
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The wire log: every request to the endpoint or the token gateway so
    /// far, in arrival order, calls rejected for their token and token
    /// requests included (like `GET /admin/received`). A token request has
    /// no operations and mode `Xml`.
    pub fn received(&self) -> Vec<SeenRequest> {
        lock(&self.shared.received).clone()
    }

    /// Forgets the recorded requests, both the endpoint log and the wire log.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
        lock(&self.shared.received).clear();
    }

    /// A snapshot of the current data.
    pub fn dataset(&self) -> Dataset {
        lock(&self.shared.store).data.clone()
    }

    /// Queues a fault (like `POST /admin/faults`).
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.inject_fault(fault);
    }

    /// The faults still pending, in order (like `GET /admin/faults`).
    pub fn pending_faults(&self) -> Vec<Fault> {
        lock(&self.shared.faults).iter().cloned().collect()
    }

    /// Drops all pending faults (like `DELETE /admin/faults`).
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Waits up to `timeout` for a response held by a `stall` fault to reach
    /// its stall point (every body byte before it handed to the connection);
    /// whether one has. True at once when one has stalled since the last
    /// [`release_stall`](Simulator::release_stall), even if its client has
    /// gone away since.
    pub fn wait_for_stall(&self, timeout: Duration) -> bool {
        self.shared.stalls.wait(timeout)
    }

    /// How many responses are held at their stall (or pause) point now (like the `held` of
    /// `GET /admin/stalls`).
    pub fn held_stalls(&self) -> usize {
        self.shared.stalls.held()
    }

    /// Lets every stalled response end (its body stops where it stalled)
    /// and clears the flag [`wait_for_stall`](Simulator::wait_for_stall)
    /// waits for (like `DELETE /admin/stalls`). A `stall` response that has
    /// not reached its stall point yet still stalls there.
    pub fn release_stall(&self) {
        self.shared.stalls.release();
    }

    /// Adds a user, or replaces the one with the same name (like
    /// `PUT /admin/users/{name}`, but the id is taken as given).
    pub fn set_user(&self, user: User) {
        lock(&self.shared.store).set_user(user);
    }

    /// Removes the user named `name`; whether it existed (like
    /// `DELETE /admin/users/{name}`).
    pub fn remove_user(&self, name: &str) -> bool {
        lock(&self.shared.store).remove_user(name)
    }

    /// Adds a role, or replaces the one with the same name (like
    /// `PUT /admin/roles/{name}`, but the id is taken as given).
    pub fn set_role(&self, role: Role) {
        lock(&self.shared.store).set_role(role);
    }

    /// Removes the role named `name` and takes it away from every user;
    /// whether it existed (like `DELETE /admin/roles/{name}`).
    pub fn remove_role(&self, name: &str) -> bool {
        lock(&self.shared.store).remove_role(name)
    }

    /// Adds a privilege, or replaces the one with the same name (like
    /// `PUT /admin/privileges/{name}`, but the id is taken as given).
    pub fn set_privilege(&self, privilege: Privilege) {
        lock(&self.shared.store).set_privilege(privilege);
    }

    /// Removes the privilege named `name` and takes it out of every role;
    /// whether it existed (like `DELETE /admin/privileges/{name}`).
    pub fn remove_privilege(&self, name: &str) -> bool {
        lock(&self.shared.store).remove_privilege(name)
    }

    /// Adds an entity, or replaces the one with the same name (like
    /// `PUT /admin/entities/{name}`, but the id is taken as given; a `kind`
    /// that is not a plain XML name is listed as `Entity`).
    pub fn set_entity(&self, entity: Entity) {
        lock(&self.shared.store).set_entity(entity);
    }

    /// Removes the entity named `name` and every membership in it; whether
    /// it existed (like `DELETE /admin/entities/{name}`).
    pub fn remove_entity(&self, name: &str) -> bool {
        lock(&self.shared.store).remove_entity(name)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
