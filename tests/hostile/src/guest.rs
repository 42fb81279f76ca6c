//! The exports: a harmless connector, except for the first `next()` of an import, which makes
//! the attempt the connection attribute `HOSTILE` names, and `destinations`, which with `widen`
//! claims destinations the connection does not name.

use std::cell::Cell;
use std::io::Write;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

wit_bindgen::generate!({
    path: "../../wit",
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

/// The attribute naming the attempt.
const HOSTILE: &str = "HOSTILE";
/// The attribute whose origin the requests start from.
const SOAP_ENDPOINT: &str = "SOAP_ENDPOINT";
/// The file the `files` attempt tries to create.
const MARKER: &str = "/tmp/hostile-was-here";
/// How much the `flood` attempt writes to stdout, and again to stderr.
const FLOOD_BYTES: usize = 50 * 1024 * 1024;
/// How many accounts the `huge-batch` attempt returns in one batch.
const HUGE_BATCH: usize = 200_000;
/// The account an `admin` attempt returns when the admin API answered.
const ADMIN_REACHED: &str = "ADMIN-REACHED";

struct Component;

export!(Component);

/// An import whose first `next()` makes the attempt; every later `next()` ends the import.
struct HostileRun {
    /// The value of `HOSTILE`.
    mode: String,
    /// The value of `SOAP_ENDPOINT`.
    endpoint: String,
    /// Whether the attempt was made.
    done: Cell<bool>,
}

impl api::GuestImportRun for HostileRun {
    fn next(&self) -> Result<Option<wit::Batch>, wit::ConnectorError> {
        if self.done.replace(true) {
            return Ok(None);
        }
        match self.mode.as_str() {
            "other-host" => Err(other_hosts(&self.endpoint)),
            "admin" => admin(&self.endpoint),
            "loop" => spin(),
            "memory" => hoard(),
            "files" => Err(snoop()),
            "flood" => {
                flood();
                Ok(None)
            }
            "huge-batch" => Ok(Some(huge_batch())),
            "widen" => {
                let admin = admin(&self.endpoint);
                let others = other_hosts(&self.endpoint);
                admin.or(Err(others))
            }
            other => Err(unsupported(format!("unknown {HOSTILE} mode {other:?}"))),
        }
    }
}

impl api::Guest for Component {
    type ImportRun = HostileRun;

    fn validate(_connection: Vec<wit::Attribute>) -> Vec<wit::Problem> {
        Vec::new()
    }

    /// SOAP_ENDPOINT, as the real connector says; with `HOSTILE` = `widen`, also another host
    /// and the admin API on the endpoint's origin, which the connection does not name.
    fn destinations(
        connection: Vec<wit::Attribute>,
    ) -> Result<Vec<wit::Destination>, wit::ConnectorError> {
        let endpoint = attribute(&connection, SOAP_ENDPOINT);
        if endpoint.is_empty() {
            return Ok(Vec::new());
        }
        let (scheme, authority) = origin(&endpoint);
        let (host, port) = authority.rsplit_once(':').unwrap_or((&authority, "80"));
        let port = port.parse().unwrap_or(80);
        let path = endpoint.split_once("://").map_or("/", |(_, rest)| {
            rest.find('/').map_or("/", |start| &rest[start..])
        });
        let at = |host: &str, path: &str| wit::Destination {
            attribute: SOAP_ENDPOINT.into(),
            location: None,
            scheme: match scheme {
                Scheme::Https => wit::UrlScheme::Https,
                _ => wit::UrlScheme::Http,
            },
            host: host.into(),
            port,
            path_and_query: path.into(),
        };
        let mut claimed = vec![at(host, path)];
        if attribute(&connection, HOSTILE) == "widen" {
            claimed.push(at(host, "/admin/users"));
            claimed.push(at("127.0.0.2", "/x"));
        }
        Ok(claimed)
    }

    fn test_connection(_connection: Vec<wit::Attribute>) -> Result<(), wit::ConnectorError> {
        Err(unsupported("test-connection".into()))
    }

    fn start_import(
        connection: Vec<wit::Attribute>,
        _options: wit::ImportOptions,
    ) -> Result<api::ImportRun, wit::ConnectorError> {
        Ok(api::ImportRun::new(HostileRun {
            mode: attribute(&connection, HOSTILE),
            endpoint: attribute(&connection, SOAP_ENDPOINT),
            done: Cell::new(false),
        }))
    }

    /// The policy STATUS_THRESHOLD_CONFIG gives when it is absent.
    fn reconciliation(
        _connection: Vec<wit::Attribute>,
    ) -> Result<wit::ReconciliationPolicy, wit::ConnectorError> {
        Ok(wit::ReconciliationPolicy {
            status_column: None,
            active_statuses: Vec::new(),
            inactive_statuses: Vec::new(),
            account_threshold: None,
            inactivate_accounts_not_in_file: false,
            inactivate_entitlements_not_in_feed: true,
            entitlement_thresholds: Vec::new(),
            delete_links: true,
            locked_status_column: None,
            locked_values: Vec::new(),
            unlocked_values: Vec::new(),
            correlate_inactive_accounts: false,
            allow_empty_account_list: false,
        })
    }

    fn enable_account(
        _connection: Vec<wit::Attribute>,
        _request: wit::ProvisioningRequest,
    ) -> Result<wit::ProvisioningOutcome, wit::ConnectorError> {
        Err(unsupported("enable-account".into()))
    }

    fn render_provisioning(
        _connection: Vec<wit::Attribute>,
        _enable: bool,
        _request: wit::ProvisioningRequest,
    ) -> Result<Vec<wit::RenderedRequest>, wit::ConnectorError> {
        Err(unsupported("render-provisioning".into()))
    }

    fn disable_account(
        _connection: Vec<wit::Attribute>,
        _request: wit::ProvisioningRequest,
    ) -> Result<wit::ProvisioningOutcome, wit::ConnectorError> {
        Err(unsupported("disable-account".into()))
    }
}

/// `other-host`: a request to another loopback address on the endpoint's port, and one to the
/// internet; the error says what came of each.
fn other_hosts(endpoint: &str) -> wit::ConnectorError {
    let (_, authority) = origin(endpoint);
    let port = authority.rsplit_once(':').map_or("80", |(_, port)| port);
    let outcomes = [
        try_request(
            Method::Post,
            Scheme::Http,
            &format!("127.0.0.2:{port}"),
            "/x",
        ),
        try_request(Method::Post, Scheme::Https, "example.com", "/"),
    ];
    transport(outcomes.join("; "))
}

/// `admin`: the simulator's admin API, on the endpoint's own origin: a read and a write (the
/// write would add a user). An error says what came of each; an answer to either returns an
/// account named `ADMIN-REACHED` for the test to notice.
fn admin(endpoint: &str) -> Result<Option<wit::Batch>, wit::ConnectorError> {
    let (scheme, authority) = origin(endpoint);
    let read = send(Method::Get, &scheme, &authority, "/admin/users", b"");
    let write = send(
        Method::Put,
        &scheme,
        &authority,
        "/admin/users/hostile-admin",
        b"{}",
    );
    let reached = read.is_ok() || write.is_ok();
    let outcome = format!(
        "GET {authority}/admin/users: {}; PUT {authority}/admin/users/hostile-admin: {}",
        in_words(read),
        in_words(write)
    );
    if !reached {
        return Err(transport(outcome));
    }
    Ok(Some(wit::Batch::Accounts(vec![wit::Account {
        name: ADMIN_REACHED.into(),
        columns: vec![wit::Column {
            name: "outcome".into(),
            value: outcome,
        }],
        entitlements: Vec::new(),
    }])))
}

/// `loop`: never returns, and does work the optimiser cannot remove.
fn spin() -> ! {
    let mut turns: u64 = 0;
    loop {
        turns = core::hint::black_box(turns.wrapping_add(1));
    }
}

/// `memory`: keeps 1 MiB blocks of non-zero bytes until an allocation fails (Rust then aborts).
fn hoard() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![0xA5; 1024 * 1024]);
        core::hint::black_box(&hoard);
    }
}

/// `files`: reads a system file and the root folder, writes a file, reads the environment; the
/// error lists what came of each.
fn snoop() -> wit::ConnectorError {
    let passwd = std::fs::read("/etc/passwd").map(|bytes| bytes.len());
    let root = std::fs::read_dir("/").map(|entries| entries.count());
    let written = std::fs::write(MARKER, b"hostile");
    let variables = std::env::vars_os().count();
    let home = std::env::var("HOME");
    unsupported(format!(
        "files: read /etc/passwd: {passwd:?}; read_dir /: {root:?}; write {MARKER}: {written:?}; \
         env: {variables} variables, HOME: {home:?}"
    ))
}

/// `flood`: writes `FLOOD_BYTES` to stdout and as much to stderr, ignoring every failure.
fn flood() {
    let mut line = [b'!'; 1024];
    line[1023] = b'\n';
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for _ in 0..FLOOD_BYTES / line.len() {
        let _ = out.write_all(&line);
        let _ = err.write_all(&line);
    }
    let _ = out.flush();
}

/// `huge-batch`: `HUGE_BATCH` accounts in one batch, whatever `max-batch` the host asked for.
fn huge_batch() -> wit::Batch {
    wit::Batch::Accounts(
        (0..HUGE_BATCH)
            .map(|i| wit::Account {
                name: format!("u{i}"),
                columns: Vec::new(),
                entitlements: Vec::new(),
            })
            .collect(),
    )
}

/// The scheme and authority of `url` (`http://127.0.0.1:8080/dc` gives http and
/// `127.0.0.1:8080`).
fn origin(url: &str) -> (Scheme, String) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next().unwrap_or_default();
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else {
        Scheme::Http
    };
    (scheme, authority.to_string())
}

/// `scheme://authority/path: <what came of a request to it>`.
fn try_request(method: Method, scheme: Scheme, authority: &str, path: &str) -> String {
    let name = match scheme {
        Scheme::Https => "https",
        _ => "http",
    };
    let outcome = send(method, &scheme, authority, path, b"hostile");
    format!("{name}://{authority}{path}: {}", in_words(outcome))
}

/// What came of a request, in words.
fn in_words(outcome: Result<u16, String>) -> String {
    match outcome {
        Ok(status) => format!("answered with HTTP status {status}"),
        Err(error) => error,
    }
}

/// Sends one request through wasi:http, as the connector does; the response status, or why
/// there was none.
fn send(
    method: Method,
    scheme: &Scheme,
    authority: &str,
    path: &str,
    body: &[u8],
) -> Result<u16, String> {
    let headers = Fields::from_list(&[("content-type".into(), b"application/json".to_vec())])
        .map_err(|error| format!("headers refused: {error:?}"))?;
    let request = OutgoingRequest::new(headers);
    let refused = |what: &str| format!("the host refused the request's {what}");
    request
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    request
        .set_scheme(Some(scheme))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| refused("path"))?;
    let outgoing = request.body().map_err(|()| refused("body"))?;
    let future = outgoing_handler::handle(request, None).map_err(|code| describe(&code))?;
    if let Ok(stream) = outgoing.write() {
        // A denied request's body stream is closed; what the response says matters more.
        let _ = stream.blocking_write_and_flush(body);
    }
    let _ = OutgoingBody::finish(outgoing, None);
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(code))) => Err(describe(&code)),
        Some(Err(())) | None => Err("the response was already taken".into()),
    }
}

/// The host's error code in words.
fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::HttpRequestDenied => "denied by the host (HttpRequestDenied)".into(),
        other => format!("{other:?}"),
    }
}

/// The value of the attribute `name`; empty when absent.
fn attribute(connection: &[wit::Attribute], name: &str) -> String {
    connection
        .iter()
        .find(|attribute| attribute.name == name)
        .map(|attribute| attribute.value.clone())
        .unwrap_or_default()
}

fn transport(message: String) -> wit::ConnectorError {
    wit::ConnectorError {
        kind: wit::ErrorKind::Transport(message),
        site: None,
    }
}

fn unsupported(message: String) -> wit::ConnectorError {
    wit::ConnectorError {
        kind: wit::ErrorKind::Unsupported(message),
        site: None,
    }
}
