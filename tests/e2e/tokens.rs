//! Token connections: the shipped gateway package against the simulator's token mode. Tokens
//! outlived by long jobs, refreshed once for a burst, wrong credentials failing fast, and no
//! secret in anything the host prints or stores.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use dcsim::{ExpiredAnswer, TokenMode, TokenStats};
use serde_json::{Value, json};

use crate::support::*;

const AUTHENTICATION: i32 = 4;

/// The shipped token package.
const TOKEN_PACKAGE: &str = "duckcreek-token.json";

/// The client secret the simulator's gateway accepts (TokenMode's default).
const CLIENT_SECRET: &str = "gateway-secret";

/// An EACHACCOUNT call asking for each user on its own: one request per account.
fn each_account_call(connection: &mut Value) {
    let plan = connection["ACCOUNTS_IMPORT_JSON"]
        .as_object_mut()
        .expect("the plan is an object");
    plan.insert("CONNECTION5".into(), json!("dcGateway"));
    plan.insert("REQUESTTYPE5".into(), json!("EACHACCOUNT"));
    plan.insert(
        "REQUESTXML5".into(),
        json!("<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><server><requests><Session.loginRq userName=\"${USERNAME}\" password=\"${PASSWORD}\"></Session.loginRq><OnlineData.getUserRq userName=\"${account.name}\"></OnlineData.getUserRq><Session.closeRq></Session.closeRq></requests></server></soapenv:Body></soapenv:Envelope>"),
    );
    plan.insert(
        "RESPONSEDATAPATH5".into(),
        json!("Body.processRequestsAsDOMResponse.result.server.responses.OnlineData~dot#getUserRs.User"),
    );
    plan.insert("ACCOUNTMAPPING5".into(), json!("customproperty3:@fullName"));
}

/// A gateway harness: the simulator in token mode, the shipped token package pointed at it
/// (with `edit` applied), and the client secret in a file.
struct Gateway {
    harness: Harness,
    connection: PathBuf,
    secret_file: PathBuf,
}

impl Gateway {
    fn new(users: usize, token: TokenMode, edit: impl FnOnce(&mut Value)) -> Gateway {
        let harness = Harness::with_token(users, Some(token));
        let text = std::fs::read_to_string(package(TOKEN_PACKAGE)).expect("the package");
        let mut connection: Value = serde_json::from_str(&text).expect("JSON");
        connection["CONNECTIONJSON"]["authentications"]["dcGateway"]["url"] =
            json!(harness.sim.token_url());
        edit(&mut connection);
        let path = harness.dir.path().join("gateway.json");
        std::fs::write(&path, connection.to_string()).expect("written");
        let secret_file = harness.dir.path().join("client_secret");
        std::fs::write(&secret_file, format!("{CLIENT_SECRET}\n")).expect("written");
        Gateway {
            harness,
            connection: path,
            secret_file,
        }
    }

    /// `dcconn <command> -c gateway.json --set SOAP_ENDPOINT=... --set-env PASSWORD=...
    /// --set-file CLIENT_SECRET=... <extra>`.
    fn run(&self, command: &str, extra: &[&str]) -> Output {
        let mut args = vec![command.to_string()];
        args.extend(self.harness.connection_args(SOAP_PACKAGE));
        args[2] = self.connection.display().to_string();
        args.push("--set-file".into());
        args.push(format!("CLIENT_SECRET={}", self.secret_file.display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        self.harness.dcconn(&args)
    }

    fn stats(&self) -> TokenStats {
        self.harness.sim.token_stats()
    }
}

fn minus(after: TokenStats, before: TokenStats) -> TokenStats {
    TokenStats {
        issued: after.issued - before.issued,
        refused: after.refused - before.refused,
        accepted: after.accepted - before.accepted,
        expired: after.expired - before.expired,
        invalid: after.invalid - before.invalid,
    }
}

fn lifetime(duration: Duration) -> TokenMode {
    TokenMode {
        lifetime: duration,
        ..TokenMode::default()
    }
}

#[test]
fn an_import_outliving_many_tokens_completes_with_a_bounded_number_of_token_requests() {
    let users = 6000;
    let lifetime_secs = 0.5;
    let gateway = Gateway::new(
        users,
        lifetime(Duration::from_secs_f64(lifetime_secs)),
        each_account_call,
    );
    let started = Instant::now();
    let output = gateway.run("import", &["--json"]);
    let elapsed = started.elapsed().as_secs_f64();
    assert_success(&output);

    let stats = gateway.stats();
    // Proactive refresh at 90 % of the lifetime: at most one token per 0.9 s, plus the first,
    // plus one per call the gateway found expired (a refresh that lost a race with the clock).
    let bound = (elapsed / (0.9 * lifetime_secs)).ceil() as u64 + 1 + stats.expired;
    eprintln!(
        "token import: {users} users, {} calls, {elapsed:.2} s with a {lifetime_secs} s token: {} token requests ({} calls found their token expired)",
        stats.accepted, stats.issued, stats.expired
    );
    assert!(
        elapsed > 2.0 * lifetime_secs,
        "the import ({elapsed:.2} s) must outlive several tokens"
    );
    assert!(stats.issued >= 2, "{stats:?}");
    assert!(stats.issued <= bound, "{stats:?} in {elapsed:.2} s");
    assert_eq!((stats.refused, stats.invalid), (0, 0));
    assert_eq!(stats.accepted, gateway.harness.sim.requests().len() as u64);
    assert_eq!(stats.accepted, 4 + users as u64);

    let dataset = gateway.harness.sim.dataset();
    let accounts = gateway.harness.list("accounts");
    assert_eq!(accounts.len(), users);
    for account in &accounts {
        let name = account["name"].as_str().unwrap();
        let user = dataset.user(name).unwrap();
        assert_eq!(
            account["columns"]["customproperty3"], user.full_name,
            "{name}: the EACHACCOUNT value"
        );
    }
}

#[test]
fn a_burst_of_provisioning_tasks_across_an_expiry_refreshes_once() {
    let token = TokenMode {
        max_uses: Some(25),
        ..TokenMode::default()
    };
    let gateway = Gateway::new(60, token, |_| {});
    assert_success(&gateway.run("import", &[]));
    let names: Vec<String> = gateway
        .harness
        .list("accounts")
        .iter()
        .take(40)
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    for name in &names {
        assert_success(&gateway.run("disable", &["--account", name, "--queue"]));
    }
    let before = gateway.stats();
    gateway.harness.sim.clear_requests();

    let output = gateway.run("retry", &["--backoff-ms", "20"]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("40 attempts, 40 tasks completed, 0 failed"),
        "{}",
        stdout(&output)
    );
    let burst = minus(gateway.stats(), before);
    eprintln!("token burst: 40 tasks, token valid for 25 calls: {burst:?}");
    assert_eq!(
        (burst.issued, burst.expired, burst.accepted),
        (2, 1, 40),
        "one token for the job, one refresh when it expired mid-burst: {burst:?}"
    );
    let locked: Vec<String> = gateway
        .harness
        .sim
        .requests()
        .iter()
        .flat_map(|r| r.operations.clone())
        .filter(|o| o.name == "Security.lockUserAccountRq")
        .map(|o| {
            o.attributes
                .iter()
                .find(|(n, _)| n == "userName")
                .unwrap()
                .1
                .clone()
        })
        .collect();
    assert_eq!(locked, names);
}

#[test]
fn an_expiry_told_by_a_soap_fault_is_refreshed_like_a_401() {
    let token = TokenMode {
        max_uses: Some(3),
        expired_answer: ExpiredAnswer::SoapFault {
            code: "TokenExpired".into(),
        },
        ..TokenMode::default()
    };
    let gateway = Gateway::new(20, token, |connection| {
        let gateway = &mut connection["CONNECTIONJSON"]["authentications"]["dcGateway"];
        gateway["retryFailureStatusCode"] = json!([]);
        // A JSON login this time: the host writes the secret into a JSON body.
        gateway["httpContentType"] = json!("application/json");
    });
    assert_success(&gateway.run("import", &[]));
    let stats = gateway.stats();
    assert_eq!((stats.issued, stats.expired, stats.accepted), (2, 1, 4));
    let dataset = gateway.harness.sim.dataset();
    assert_eq!(
        gateway.harness.list("entitlements").len(),
        dataset.roles.len() + dataset.entities.len() + dataset.privileges.len(),
        "calls 2 to 4 ran to their end"
    );
}

#[test]
fn a_soap_login_gets_its_token_from_an_xml_answer() {
    let gateway = Gateway::new(15, TokenMode::default(), |connection| {
        let gateway = &mut connection["CONNECTIONJSON"]["authentications"]["dcGateway"];
        let object = gateway.as_object_mut().unwrap();
        object.remove("httpParams");
        object.insert("httpContentType".into(), json!("text/xml"));
        object.insert(
            "requestXml".into(),
            json!("<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><TokenRq clientId=\"${CLIENT_ID}\" clientSecret=\"${CLIENT_SECRET}\"/></soapenv:Body></soapenv:Envelope>"),
        );
        object.insert("tokenResponsePath".into(), json!("Body.TokenRs.@token"));
        object.insert("expiresInPath".into(), json!("Body.TokenRs.@expiresIn"));
    });
    assert_success(&gateway.run("import", &[]));
    let stats = gateway.stats();
    assert_eq!((stats.issued, stats.accepted), (1, 4));
    assert_eq!(gateway.harness.list("accounts").len(), 15);
}

#[test]
fn wrong_credentials_fail_after_one_token_request_with_exit_code_4() {
    let gateway = Gateway::new(10, TokenMode::default(), |_| {});
    std::fs::write(&gateway.secret_file, "not-the-secret\n").unwrap();
    let output = gateway.run("import", &[]);
    let message = format!(
        "ACCOUNTS_IMPORT_JSON call 1: authentication failed: connection `dcGateway`, token request to {}: refused with HTTP 401 (invalid_client: client authentication failed): check the credentials it sends",
        gateway.harness.sim.token_url()
    );
    assert_failure(&output, AUTHENTICATION, &[&message]);
    let stats = gateway.stats();
    assert_eq!((stats.refused, stats.issued), (1, 0));
    assert!(gateway.harness.sim.requests().is_empty());
    assert!(gateway.harness.list("accounts").is_empty());
}

#[test]
fn refused_credentials_stop_the_retry_job_and_keep_its_tasks() {
    let gateway = Gateway::new(10, TokenMode::default(), |_| {});
    assert_success(&gateway.run("import", &[]));
    for name in ["party.parrot", "no.access", "dev<ops>"] {
        assert_success(&gateway.run("disable", &["--account", name, "--queue"]));
    }
    std::fs::write(&gateway.secret_file, "rotated-away").unwrap();
    gateway.harness.sim.clear_requests();
    let before = gateway.stats();

    let output = gateway.run("retry", &["--backoff-ms", "20"]);
    assert_failure(
        &output,
        AUTHENTICATION,
        &["authentication failed", "invalid_client"],
    );
    let after = minus(gateway.stats(), before);
    assert_eq!((after.refused, after.issued), (1, 0), "no retry storm");
    assert!(gateway.harness.sim.requests().is_empty());
    let tasks = gateway.harness.list("tasks");
    let statuses: Vec<&str> = tasks
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses
            .iter()
            .all(|s| *s == "PENDING PROVISIONING" || *s == "NEW"),
        "no task is given up on refused credentials: {statuses:?}"
    );

    // With the secret fixed, the same queue completes.
    std::fs::write(&gateway.secret_file, CLIENT_SECRET).unwrap();
    let output = gateway.run("retry", &["--backoff-ms", "20", "--max-backoff-ms", "50"]);
    assert_success(&output);
    let tasks = gateway.harness.list("tasks");
    assert!(tasks.iter().all(|t| t["status"] == "COMPLETE"), "{tasks:?}");
}

#[test]
fn no_password_secret_or_token_is_printed_or_stored_during_a_full_run() {
    let token = TokenMode {
        max_uses: Some(5),
        ..TokenMode::default()
    };
    let gateway = Gateway::new(30, token, |_| {});
    let mut outputs = Vec::new();
    let mut run = |command: &str, extra: &[&str]| {
        let output = gateway.run(command, extra);
        outputs.push(output.clone());
        output
    };
    assert_success(&run("validate", &[]));
    assert_success(&run("test", &[]));
    assert_success(&run("import", &["--json"]));
    let dry = run("disable", &["--account", "party.parrot", "--dry-run"]);
    assert_success(&dry);
    assert!(
        stdout(&dry).contains("password=\"********\"") && stdout(&dry).contains("${access_token}"),
        "the dry run shows where secrets go, masked:\n{}",
        stdout(&dry)
    );
    assert_success(&run("disable", &["--account", "party.parrot"]));
    assert_success(&run("enable", &["--account", "party.parrot"]));
    // A careless server echoes the request, credentials and all, in its error page.
    gateway
        .harness
        .sim
        .inject_fault(dcsim::Fault::echo_request());
    let failed = run("disable", &["--account", "no.access", "--max-tries", "1"]);
    assert_eq!(failed.status.code(), Some(5), "{}", stderr(&failed));
    let echoed = stdout(&failed) + &stderr(&failed);
    assert!(
        echoed.contains("Authorization: ********") && echoed.contains("password=\"********\""),
        "the echo reached the output, masked:\n{echoed}"
    );
    for listing in [
        &["accounts", "--format", "json"][..],
        &["entitlements", "--format", "json"],
        &["runs", "--format", "json"],
        &["tasks", "--format", "json"],
        &["tasks"],
        &["changes", "1"],
    ] {
        let output = gateway.harness.dcconn(listing);
        assert_success(&output);
        outputs.push(output);
    }

    let tokens = gateway.harness.sim.issued_tokens();
    assert!(
        tokens.len() >= 3,
        "the run went through several tokens: {tokens:?}"
    );
    let mut secrets: Vec<String> = vec![
        PASSWORD.into(),
        PASSWORD_ESCAPED.into(),
        CLIENT_SECRET.into(),
    ];
    secrets.extend(tokens);
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    for (index, output) in outputs.iter().enumerate() {
        places.push((format!("stdout of command {index}"), output.stdout.clone()));
        places.push((format!("stderr of command {index}"), output.stderr.clone()));
    }
    for entry in std::fs::read_dir(gateway.harness.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("store.db"))
        {
            places.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    assert!(
        places.len() > 2 * outputs.len(),
        "the store files were read"
    );
    for (place, bytes) in &places {
        for secret in &secrets {
            assert!(
                !holds(bytes, secret),
                "{place} holds a secret ({} chars)",
                secret.len()
            );
        }
    }
}
