//! Token mode and `OnlineData.getUserRq`, end to end over real HTTP on
//! loopback.

mod common;

use common::*;
use std::time::{Duration, Instant};

use dcsim::{ExpiredAnswer, Fault, SimConfig, Simulator, TokenMode, TokenStats};

const FORM: &str = "application/x-www-form-urlencoded";
const INVALID_CHALLENGE: &str = "Bearer error=\"invalid_token\"";
const EXPIRED_CHALLENGE: &str =
    "Bearer error=\"invalid_token\", error_description=\"The access token expired\"";

fn start_with_tokens(mode: TokenMode) -> Simulator {
    Simulator::start(SimConfig {
        users: 10,
        token: Some(mode),
        ..SimConfig::default()
    })
    .expect("start simulator")
}

/// POSTs `body` to the token URL with `content_type`.
fn token_request(sim: &Simulator, content_type: &str, body: &str) -> HttpResponse {
    http(
        "POST",
        &sim.token_url(),
        &[("Content-Type", content_type)],
        body.as_bytes(),
    )
}

/// A token for the default client, over a form request.
fn get_token(sim: &Simulator) -> String {
    let resp = token_request(
        sim,
        FORM,
        "grant_type=client_credentials&client_id=dcconn&client_secret=gateway-secret",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()["access_token"].as_str().unwrap().to_owned()
}

/// POSTs a SOAP envelope around `ops` with `authorization`, if any.
fn post_auth(sim: &Simulator, authorization: Option<&str>, ops: &str) -> HttpResponse {
    let mut headers = vec![("Content-Type", "text/xml; charset=utf-8")];
    if let Some(value) = authorization {
        headers.push(("Authorization", value));
    }
    http("POST", &sim.endpoint_url(), &headers, soap(ops).as_bytes())
}

/// A SOAP 1.1 envelope around `body`.
fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"#
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Asserts a successful JSON token answer; the token.
fn json_token(resp: &HttpResponse, expires_in: f64) -> String {
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let json = resp.json();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"].as_f64(), Some(expires_in));
    assert_eq!(json.as_object().unwrap().len(), 3);
    json["access_token"].as_str().unwrap().to_owned()
}

/// The `<TokenRs>` of an XML token answer, and whether it was enveloped.
fn token_rs(resp: &HttpResponse) -> (El, bool) {
    assert_eq!(resp.header("content-type"), Some("text/xml; charset=utf-8"));
    let root = parse_xml(&resp.body);
    if root.name == "Envelope" {
        (root.path(&["Body", "TokenRs"]).clone(), true)
    } else {
        assert_eq!(root.name, "TokenRs");
        (root, false)
    }
}

fn is_token(token: &str) -> bool {
    let mut parts = token.split('-');
    parts.next() == Some("dctok")
        && parts.next().is_some_and(|n| n.parse::<u64>().is_ok())
        && parts.next().is_some_and(|h| {
            h.len() == 16
                && h.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        })
        && parts.next().is_none()
}

#[test]
fn token_issued_for_each_format_and_grant() {
    let sim = Simulator::start(SimConfig {
        users: 5,
        username: "jürgen & co".into(),
        password: "p+w%d ü".into(),
        token: Some(TokenMode {
            lifetime: Duration::from_secs(90),
            client_secret: "s&=+ ü/".into(),
            ..TokenMode::default()
        }),
        ..SimConfig::default()
    })
    .unwrap();
    let mut tokens = Vec::new();
    // Form, both grants; percent-decoding of `+`, `%XX` and UTF-8.
    let resp = token_request(
        &sim,
        "application/x-www-form-urlencoded; charset=UTF-8",
        "grant_type=client_credentials&client_id=dcconn&client_secret=s%26%3D%2B+%C3%BC%2F",
    );
    tokens.push(json_token(&resp, 90.0));
    let resp = token_request(
        &sim,
        FORM,
        "username=j%C3%BCrgen+%26+co&password=p%2Bw%25d%20%C3%BC&grant_type=password",
    );
    tokens.push(json_token(&resp, 90.0));
    // JSON, both grants.
    let resp = token_request(
        &sim,
        "application/json",
        r#"{"grant_type":"client_credentials","client_id":"dcconn","client_secret":"s&=+ ü/"}"#,
    );
    tokens.push(json_token(&resp, 90.0));
    let resp = token_request(
        &sim,
        "application/json; charset=utf-8",
        r#"{"grant_type":"password","username":"jürgen & co","password":"p+w%d \u00fc"}"#,
    );
    tokens.push(json_token(&resp, 90.0));
    // XML, bare and in a SOAP envelope, both kinds of credentials.
    let resp = token_request(
        &sim,
        "text/xml",
        r#"<TokenRq clientId="dcconn" clientSecret="s&amp;=+ ü/"/>"#,
    );
    assert_eq!(resp.status, 200);
    assert!(
        resp.text()
            .starts_with("<TokenRs status=\"Success\" token=\"dctok-")
    );
    let (rs, enveloped) = token_rs(&resp);
    assert!(!enveloped);
    assert_eq!(rs.attr("expiresIn"), Some("90"));
    tokens.push(rs.attr("token").unwrap().to_owned());
    let resp = token_request(
        &sim,
        "application/soap+xml; charset=utf-8",
        &envelope(r#"<TokenRq userName="jürgen &amp; co" password="p+w%d ü"/>"#),
    );
    assert_eq!(resp.status, 200);
    let (rs, enveloped) = token_rs(&resp);
    assert!(enveloped);
    assert_eq!(rs.attr("status"), Some("Success"));
    tokens.push(rs.attr("token").unwrap().to_owned());

    assert!(tokens.iter().all(|t| is_token(t)), "{tokens:?}");
    assert_eq!(sim.issued_tokens(), tokens);
    let mut unique = tokens.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 6);
    assert_eq!(
        sim.token_stats(),
        TokenStats {
            issued: 6,
            ..TokenStats::default()
        }
    );
    // Every one of them opens the endpoint.
    for token in &tokens {
        let login = r#"<Session.loginRq userName="jürgen &amp; co" password="p+w%d ü"/>"#;
        let resp = post_auth(&sim, Some(&bearer(token)), login);
        assert_eq!(responses(&resp).children[0].attr("status"), Some("Success"));
    }
    assert_eq!(sim.token_stats().accepted, 6);
}

#[test]
fn wrong_or_missing_credentials_are_refused() {
    let sim = start_with_tokens(TokenMode::default());
    let refusals = [
        (
            FORM,
            "grant_type=client_credentials&client_id=dcconn&client_secret=wrong-secret",
        ),
        (FORM, "grant_type=client_credentials&client_id=dcconn"),
        (
            FORM,
            "grant_type=password&username=dcadmin&password=wrong-secret",
        ),
        (
            "application/json",
            r#"{"grant_type":"client_credentials","client_id":"other","client_secret":"gateway-secret"}"#,
        ),
        ("application/json", r#"{"grant_type":"password"}"#),
    ];
    for (content_type, body) in refusals {
        let resp = token_request(&sim, content_type, body);
        assert_eq!(resp.status, 401, "{body}");
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(
            resp.json(),
            serde_json::json!({"error": "invalid_client", "error_description": "client authentication failed"})
        );
    }
    for (body, enveloped) in [
        (
            r#"<TokenRq clientId="dcconn" clientSecret="wrong-secret"/>"#.to_owned(),
            false,
        ),
        (r#"<TokenRq/>"#.to_owned(), false),
        (
            envelope(r#"<TokenRq userName="dcadmin" password="wrong-secret"/>"#),
            true,
        ),
    ] {
        let resp = token_request(&sim, "text/xml; charset=utf-8", &body);
        assert_eq!(resp.status, 401, "{body}");
        let (rs, got_envelope) = token_rs(&resp);
        assert_eq!(got_envelope, enveloped);
        assert_eq!(rs.attrs.len(), 2);
        assert_eq!(rs.attr("status"), Some("Failure"));
        assert_eq!(rs.attr("message"), Some("invalid credentials"));
        assert!(!resp.text().contains("wrong-secret"));
    }
    // Malformed: 400 with a short message; unknown content type: 415.
    for (content_type, body) in [
        (
            FORM,
            "grant_type=client_credentials&client_id=%zz&client_secret=wrong-secret",
        ),
        (FORM, "grant_type=client_credentials&grant_type=password"),
        (FORM, "client_id=dcconn&client_secret=wrong-secret"),
        ("application/json", "{\"client_secret\": \"wrong-secret\""),
        ("application/json", "[\"wrong-secret\"]"),
        ("text/xml", "<TokenRq clientSecret=\"wrong-secret\">"),
        ("text/xml", "<Other clientSecret=\"wrong-secret\"/>"),
        ("application/soap+xml", "not xml wrong-secret"),
    ] {
        let resp = token_request(&sim, content_type, body);
        assert_eq!(resp.status, 400, "{body}");
        let text = resp.text();
        assert!(!text.contains("wrong-secret"), "{text}");
        assert!(text.len() < 200, "{text}");
    }
    let resp = token_request(&sim, FORM, "grant_type=implicit");
    assert_eq!(resp.json()["error"], "unsupported_grant_type");
    let resp = token_request(&sim, "text/xml", "<Other/>");
    assert_eq!(token_rs(&resp).0.attr("status"), Some("Failure"));
    assert_eq!(token_request(&sim, "text/plain", "x").status, 415);
    let resp = http("POST", &sim.token_url(), &[], b"grant_type=password");
    assert_eq!(resp.status, 415);

    assert_eq!(
        sim.token_stats(),
        TokenStats {
            refused: 20,
            ..TokenStats::default()
        }
    );
    assert!(sim.issued_tokens().is_empty());
    assert_eq!(http("GET", &sim.token_url(), &[], b"").status, 405);
}

#[test]
fn endpoint_wants_a_valid_token() {
    let sim = start_with_tokens(TokenMode::default());
    sim.inject_fault(Fault::http_status(503));
    let token = get_token(&sim);
    let unknown = bearer("dctok-1-0123456789abcdef");
    for auth in [
        None,
        Some("Basic ZGNjb25uOmdhdGV3YXktc2VjcmV0"),
        Some("Bearer"),
        Some(token.as_str()),
        Some(unknown.as_str()),
    ] {
        let resp = post_auth(&sim, auth, LOGIN);
        assert_eq!(resp.status, 401, "{auth:?}");
        assert_eq!(resp.header("www-authenticate"), Some(INVALID_CHALLENGE));
        assert_eq!(resp.text(), "invalid token");
    }
    // Checked before the body: a malformed body gets the same answer.
    let resp = http("POST", &sim.endpoint_url(), &[], b"<not-xml");
    assert_eq!(resp.status, 401);
    // Neither recorded in the endpoint log nor consuming the fault; the wire log has them all:
    // the token request, then the six calls turned away.
    assert!(sim.requests().is_empty());
    let received = sim.received();
    assert_eq!(received.len(), 7);
    assert_eq!(received[0].path, "/oauth/token");
    assert!(received[0].operations.is_empty());
    assert_eq!(
        received[0].body,
        "grant_type=client_credentials&client_id=dcconn&client_secret=gateway-secret"
    );
    assert!(
        received[1..]
            .iter()
            .all(|r| r.path == "/dc/services" && r.method == "POST")
    );
    assert!(
        received[4]
            .raw_headers
            .contains(&("authorization".to_owned(), token.clone()))
    );
    assert_eq!(received[6].body, "<not-xml");
    assert_eq!(sim.pending_faults().len(), 1);
    assert_eq!(sim.token_stats().invalid, 6);

    // A valid token (any case of the scheme): handled as usual.
    let auth = format!("bearer {token}");
    assert_eq!(post_auth(&sim, Some(&auth), LOGIN).status, 503);
    assert!(sim.pending_faults().is_empty());
    let resp = post_auth(
        &sim,
        Some(&auth),
        &format!("{LOGIN}<OnlineData.listEntitiesRq/>"),
    );
    let rs = responses(&resp);
    assert_eq!(outcome(&rs.children[1]).0, "Success");
    assert!(!resp.text().contains(&token));
    // The in-envelope login is still checked.
    let rs = responses(&post_auth(
        &sim,
        Some(&auth),
        r#"<Session.loginRq userName="dcadmin" password="nope"/><OnlineData.listEntitiesRq/>"#,
    ));
    assert_eq!(outcome(&rs.children[1]).1, "NotAuthenticated");

    let log = sim.requests();
    assert_eq!(log.len(), 3);
    assert!(
        log[0]
            .headers
            .contains(&("authorization".to_owned(), "<redacted>".to_owned()))
    );
    assert_eq!(
        sim.token_stats(),
        TokenStats {
            issued: 1,
            refused: 0,
            accepted: 3,
            expired: 0,
            invalid: 6,
        }
    );
}

#[test]
fn tokens_expire_after_max_uses_and_on_demand() {
    let sim = start_with_tokens(TokenMode {
        max_uses: Some(2),
        ..TokenMode::default()
    });
    let first = get_token(&sim);
    for _ in 0..2 {
        assert_eq!(post_auth(&sim, Some(&bearer(&first)), LOGIN).status, 200);
    }
    sim.inject_fault(Fault::http_status(502));
    let resp = post_auth(&sim, Some(&bearer(&first)), LOGIN);
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("www-authenticate"), Some(EXPIRED_CHALLENGE));
    assert_eq!(resp.text(), "token expired");
    assert_eq!(sim.pending_faults().len(), 1);
    assert_eq!(sim.requests().len(), 2);

    // A fresh token works, until every token is expired.
    let second = get_token(&sim);
    assert_eq!(post_auth(&sim, Some(&bearer(&second)), LOGIN).status, 502);
    sim.expire_tokens();
    let resp = post_auth(&sim, Some(&bearer(&second)), LOGIN);
    assert_eq!(resp.header("www-authenticate"), Some(EXPIRED_CHALLENGE));
    // Tokens issued later are not affected; the admin route does the same.
    let third = get_token(&sim);
    assert_eq!(post_auth(&sim, Some(&bearer(&third)), LOGIN).status, 200);
    let resp = http(
        "POST",
        &format!("{}/tokens/expire", sim.admin_url()),
        &[],
        b"",
    );
    assert_eq!(resp.status, 204);
    let resp = post_auth(&sim, Some(&bearer(&third)), LOGIN);
    assert_eq!(resp.status, 401);
    assert_eq!(resp.text(), "token expired");
    assert_eq!(sim.issued_tokens(), [first, second, third]);
    assert_eq!(
        sim.token_stats(),
        TokenStats {
            issued: 3,
            refused: 0,
            accepted: 4,
            expired: 3,
            invalid: 0,
        }
    );
}

#[test]
fn expired_token_as_soap_fault() {
    let sim = start_with_tokens(TokenMode {
        max_uses: Some(1),
        expired_answer: ExpiredAnswer::SoapFault {
            code: "wsse:FailedAuthentication".into(),
        },
        ..TokenMode::default()
    });
    let token = get_token(&sim);
    assert_eq!(post_auth(&sim, Some(&bearer(&token)), LOGIN).status, 200);
    let resp = post_auth(&sim, Some(&bearer(&token)), LOGIN);
    assert_eq!(
        soap_fault(&resp),
        (
            "wsse:FailedAuthentication".into(),
            "The access token expired".into(),
            None
        )
    );
    assert!(!resp.text().contains(&token));
    // Unknown tokens still get the plain 401.
    let resp = post_auth(&sim, None, LOGIN);
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("www-authenticate"), Some(INVALID_CHALLENGE));
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(sim.token_stats().expired, 1);
}

#[test]
fn tokens_expire_after_their_lifetime() {
    let lifetime = Duration::from_millis(300);
    let sim = start_with_tokens(TokenMode {
        lifetime,
        ..TokenMode::default()
    });
    let started = Instant::now();
    let resp = token_request(
        &sim,
        "application/json",
        r#"{"grant_type":"client_credentials","client_id":"dcconn","client_secret":"gateway-secret"}"#,
    );
    // A lifetime that is not whole seconds is announced with its fraction.
    let token = json_token(&resp, 0.3);
    let issued_by = Instant::now();
    let resp = post_auth(&sim, Some(&bearer(&token)), LOGIN);
    // Only meaningful when the machine was quick enough; else that call found it expired too.
    let expired_before = if started.elapsed() < lifetime {
        assert_eq!(resp.status, 200);
        0
    } else {
        u64::from(resp.status == 401)
    };
    // Wait for the clock: the token was issued before `issued_by`.
    let deadline = issued_by + lifetime;
    while Instant::now() <= deadline {
        std::thread::sleep(
            deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(5),
        );
    }
    let resp = post_auth(&sim, Some(&bearer(&token)), LOGIN);
    assert_eq!(resp.status, 401);
    assert_eq!(resp.header("www-authenticate"), Some(EXPIRED_CHALLENGE));
    assert_eq!(sim.token_stats().expired, expired_before + 1);
}

#[test]
fn admin_tokens_route() {
    // Off: no token endpoint, no token needed, the counters stay at zero.
    let sim = start(5);
    let admin = sim.admin_url();
    let resp = token_request(&sim, FORM, "grant_type=password");
    assert_eq!(resp.status, 404);
    assert_eq!(post_xml(&sim, LOGIN).status, 200);
    let json = http("GET", &format!("{admin}/tokens"), &[], b"").json();
    assert_eq!(
        json,
        serde_json::json!({"enabled": false, "issued": 0, "refused": 0, "accepted": 0, "expired": 0, "invalid": 0})
    );
    assert_eq!(sim.token_stats(), TokenStats::default());
    assert_eq!(
        http("POST", &format!("{admin}/tokens/expire"), &[], b"").status,
        204
    );

    // On.
    let sim = start_with_tokens(TokenMode::default());
    let admin = sim.admin_url();
    let token = get_token(&sim);
    token_request(&sim, FORM, "grant_type=password&username=x&password=y");
    post_auth(&sim, Some(&bearer(&token)), LOGIN);
    post_auth(&sim, None, LOGIN);
    sim.expire_tokens();
    post_auth(&sim, Some(&bearer(&token)), LOGIN);
    let resp = http("GET", &format!("{admin}/tokens"), &[], b"");
    assert_eq!(resp.status, 200);
    assert!(!resp.text().contains(&token));
    assert_eq!(
        resp.json(),
        serde_json::json!({"enabled": true, "issued": 1, "refused": 1, "accepted": 1, "expired": 1, "invalid": 1})
    );
    assert_eq!(
        serde_json::to_value(sim.token_stats()).unwrap(),
        serde_json::json!({"issued": 1, "refused": 1, "accepted": 1, "expired": 1, "invalid": 1})
    );
    assert_eq!(
        http("GET", &format!("{admin}/tokens/expire"), &[], b"").status,
        405
    );
}

/// The exact `<User …>…</User>` markup of user `name` in a list response.
fn user_markup(list: &str, id: u64) -> &str {
    let start = list
        .find(&format!("<User id=\"{id}\" "))
        .expect("the user is listed");
    let len = list[start..].find("</User>").unwrap() + "</User>".len();
    &list[start..start + len]
}

#[test]
fn get_user_matches_the_list() {
    let sim = start(12);
    let list = post_xml(
        &sim,
        &format!("{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\"/>"),
    )
    .text();
    let data = sim.dataset();
    for (id, escaped_name) in [
        (1, "jürgen.müller"),
        (2, "o&apos;brien&amp;co"),
        (3, "dev&lt;ops&gt;"),
        (4, "王伟"),
        (6, "no.access"),
        (11, "user000011"),
    ] {
        let resp = post_soap(
            &sim,
            &format!("{LOGIN}<OnlineData.getUserRq userName=\"{escaped_name}\"/>"),
        );
        let expected = format!(
            "<OnlineData.getUserRs status=\"Success\">{}</OnlineData.getUserRs>",
            user_markup(&list, id)
        );
        assert!(resp.text().contains(&expected), "{}", resp.text());
        let rs = responses(&resp);
        assert_eq!(rs.children[1].name, "OnlineData.getUserRs");
        assert_eq!(rs.children[1].children.len(), 1);
        let user = &rs.children[1].children[0];
        let u = data.users.iter().find(|u| u.id == id).unwrap();
        assert_eq!(user.attr("name"), Some(u.name.as_str()));
    }
    let rs = responses(&post_xml(
        &sim,
        &format!(
            "{LOGIN}<OnlineData.getUserRq userName=\"nobody\"/><OnlineData.getUserRq/>\
             <OnlineData.getUserRq userID=\"5\"/>"
        ),
    ));
    assert_eq!(
        outcome(&rs.children[1]),
        failure("NotFound", "User nobody does not exist")
    );
    assert_eq!(outcome(&rs.children[2]).1, "InvalidRequest");
    assert_eq!(
        rs.children[3].children[0].attr("name"),
        Some("party.parrot")
    );
    // Without a login, as for every operation.
    let rs = responses(&post_xml(
        &sim,
        "<OnlineData.getUserRq userName=\"no.access\"/>",
    ));
    assert_eq!(outcome(&rs.children[0]).1, "NotAuthenticated");
    let log = sim.requests();
    assert_eq!(log.len(), 9);
    let op = &log[7].operations[1];
    assert_eq!(op.name, "OnlineData.getUserRq");
    assert_eq!(op.attr("userName"), Some("nobody"));
    // Faults can target it.
    sim.inject_fault(Fault::failure_status(
        "OnlineData.getUserRq",
        "Database timeout",
    ));
    let rs = responses(&post_xml(
        &sim,
        &format!("{LOGIN}<OnlineData.getUserRq userName=\"no.access\"/>"),
    ));
    assert_eq!(
        outcome(&rs.children[1]),
        failure("Injected", "Database timeout")
    );
}

#[test]
fn get_user_in_token_mode() {
    let sim = start_with_tokens(TokenMode::default());
    let token = get_token(&sim);
    let ops = format!("{LOGIN}<OnlineData.getUserRq userName=\"user000008\"/>");
    assert_eq!(post_auth(&sim, None, &ops).status, 401);
    let rs = responses(&post_auth(&sim, Some(&bearer(&token)), &ops));
    assert_eq!(rs.children[1].children[0].attr("id"), Some("8"));
    assert_eq!(sim.requests().len(), 1);
}

#[test]
fn binary_token_mode() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_dcsim"))
        .args([
            "--users",
            "4",
            "--token-lifetime-ms",
            "60000",
            "--token-max-uses",
            "1",
            "--client-id",
            "bin-client",
            "--client-secret",
            "bin-gateway-secret",
            "--expired-answer",
            "soap-fault:Client",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .strip_prefix("dcsim listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    let second = lines.next().unwrap().unwrap();
    assert_eq!(
        second,
        format!("dcsim token URL: {base}/oauth/token (lifetime 60000 ms)")
    );
    assert!(!first.contains("bin-gateway-secret") && !second.contains("bin-gateway-secret"));

    let resp = http(
        "POST",
        &format!("{base}/oauth/token"),
        &[("Content-Type", "text/xml")],
        br#"<TokenRq clientId="bin-client" clientSecret="bin-gateway-secret"/>"#,
    );
    let (rs, _) = token_rs(&resp);
    assert_eq!(rs.attr("expiresIn"), Some("60"));
    let auth = bearer(rs.attr("token").unwrap());
    let post = || {
        http(
            "POST",
            &format!("{base}/dc/services"),
            &[("Authorization", &auth)],
            bare(LOGIN).as_bytes(),
        )
    };
    assert_eq!(post().status, 200);
    assert_eq!(
        soap_fault(&post()),
        (
            "soap:Client".into(),
            "The access token expired".into(),
            None
        )
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());

    // Token flags need --token-lifetime-ms; bad answers are rejected.
    for args in [
        &["--token-max-uses", "1"][..],
        &[
            "--token-lifetime-ms",
            "10",
            "--expired-answer",
            "soap-fault:",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dcsim"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
    }
}

#[test]
fn an_echo_fault_answers_the_authorization_header_and_the_body() {
    let sim = start_with_tokens(TokenMode::default());
    let token = get_token(&sim);
    sim.inject_fault(dcsim::Fault::echo_request());
    let resp = post_auth(&sim, Some(&bearer(&token)), LOGIN);
    assert_eq!(resp.status, 500);
    let text = resp.text();
    assert!(
        text.starts_with(&format!(
            "could not process: Authorization: Bearer {token}\n"
        )),
        "{text}"
    );
    assert!(text.contains("Session.loginRq"), "{text}");
    assert!(sim.pending_faults().is_empty());
}
