use std::rc::Rc;

use super::*;
use crate::client::Client;
use crate::config::{Config, HttpRequest};
use crate::transport::canned::{Canned, ManualClock, canned, client_with};

const TOKEN_URL: &str = "https://gw.example.com/oauth/token";

fn gateway(extra: &str) -> String {
    format!(
        r#"{{"authentications": {{"gw": {{"authType": "oauth2", "url": "{TOKEN_URL}",
            "httpParams": {{"grant_type": "client_credentials", "client_id": "${{USERNAME}}", "client_secret": "${{PASSWORD}}"}},
            "expiryError": "TokenExpired" {extra}}}}}}}"#
    )
}

/// A token connection `gw` whose token request is a SOAP login with the user name, and whose
/// token is the `token` attribute of `TokenRs`.
fn soap_login_config() -> Config {
    config_with(&format!(
        r#"{{"gw": {{"url": "{TOKEN_URL}", "requestXml": "<TokenRq userName=\"${{USERNAME}}\"/>",
            "tokenResponsePath": "Body.TokenRs.@token"}}}}"#
    ))
}

fn config_with(connection_json: &str) -> Config {
    crate::config::tests::shipped_config(&[
        ("CONNECTIONJSON", connection_json),
        ("PASSWORD", "p&w=1 ü"),
    ])
}

fn config() -> Config {
    config_with(&gateway(""))
}

fn token_answer(token: &str, expires_in: u64) -> CannedResponseOk {
    Ok((
        200,
        format!(
            r#"{{"access_token": "{token}", "token_type": "Bearer", "expires_in": {expires_in}}}"#
        ),
    ))
}

type CannedResponseOk = Result<(u16, String), String>;

const OK: &str = "<ok/>";

fn ok() -> CannedResponseOk {
    Ok((200, OK.into()))
}

fn refused() -> CannedResponseOk {
    Ok((401, "token expired".into()))
}

/// One call of connection `gw` whose body carries `${access_token}`.
fn call(client: &mut Client<&mut Canned>, config: &Config) -> Result<(), ErrorKind> {
    let render = |token: Option<&str>| {
        Ok(HttpRequest {
            body: format!("<call token=\"{}\"/>", token.unwrap_or("none")),
            headers: Vec::new(),
        })
    };
    client.send(config, Some("gw"), &render).map(|_| ())
}

struct Setup {
    transport: Canned,
    tokens: Rc<std::cell::RefCell<TokenCache>>,
    clock: Rc<ManualClock>,
}

impl Setup {
    fn new(responses: Vec<CannedResponseOk>) -> Setup {
        Setup {
            transport: canned(responses),
            tokens: Rc::default(),
            clock: Rc::default(),
        }
    }

    fn call(&mut self, config: &Config) -> Result<(), ErrorKind> {
        let mut client = client_with(&mut self.transport, self.tokens.clone(), self.clock.clone());
        call(&mut client, config)
    }

    fn token_requests(&self) -> usize {
        self.transport
            .urls
            .iter()
            .filter(|url| *url == TOKEN_URL)
            .count()
    }

    fn header(&self, index: usize, name: &str) -> Option<String> {
        self.transport.seen[index]
            .headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    }
}

#[test]
fn the_token_request_is_form_encoded_and_the_token_is_sent_and_bound() {
    let config = config();
    let mut setup = Setup::new(vec![token_answer("t1", 3600), ok()]);
    setup.call(&config).unwrap();
    assert_eq!(setup.transport.urls[0], TOKEN_URL);
    assert_eq!(
        setup.transport.seen[0].body,
        "grant_type=client_credentials&client_id=svc&client_secret=p%26w%3D1+%C3%BC"
    );
    assert_eq!(
        setup.header(0, "content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        setup.header(1, "authorization").as_deref(),
        Some("Bearer t1")
    );
    assert_eq!(setup.transport.seen[1].body, "<call token=\"Bearer t1\"/>");
}

#[test]
fn a_token_serves_every_call_until_shortly_before_it_expires() {
    let config = config();
    let mut setup = Setup::new(vec![
        token_answer("t1", 100),
        ok(),
        ok(),
        token_answer("t2", 100),
        ok(),
    ]);
    setup.call(&config).unwrap();
    // 100 s lifetime: refreshed 10 s (a tenth, at most 30 s) before it ends.
    setup.clock.advance(Duration::from_secs(89));
    setup.call(&config).unwrap();
    setup.clock.advance(Duration::from_secs(1));
    setup.call(&config).unwrap();
    assert_eq!(setup.token_requests(), 2);
    assert_eq!(
        setup.header(4, "authorization").as_deref(),
        Some("Bearer t2")
    );
}

#[test]
fn tokenexpiry_gives_the_lifetime_when_the_answer_does_not() {
    let config = config_with(&gateway(r#", "tokenExpiry": "60""#));
    let mut setup = Setup::new(vec![
        Ok((200, r#"{"access_token": "t1"}"#.into())),
        ok(),
        Ok((200, r#"{"access_token": "t2"}"#.into())),
        ok(),
    ]);
    setup.call(&config).unwrap();
    setup.clock.advance(Duration::from_secs(55));
    setup.call(&config).unwrap();
    assert_eq!(setup.token_requests(), 2);
}

#[test]
fn a_refused_token_is_refreshed_and_the_call_sent_once_more() {
    let config = config();
    let mut setup = Setup::new(vec![
        token_answer("t1", 3600),
        refused(),
        token_answer("t2", 3600),
        ok(),
        ok(),
    ]);
    setup.call(&config).unwrap();
    setup.call(&config).unwrap();
    assert_eq!(setup.token_requests(), 2);
    assert_eq!(
        setup.header(3, "authorization").as_deref(),
        Some("Bearer t2")
    );
    assert_eq!(
        setup.header(4, "authorization").as_deref(),
        Some("Bearer t2")
    );
}

#[test]
fn an_expiry_error_in_a_soap_fault_counts_as_a_refusal() {
    let config = config_with(&gateway(r#", "retryFailureStatusCode": []"#));
    let fault = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>TokenExpired</faultcode><faultstring>The access token expired</faultstring></soap:Fault></soap:Body></soap:Envelope>"#;
    let mut setup = Setup::new(vec![
        token_answer("t1", 3600),
        Ok((500, fault.into())),
        token_answer("t2", 3600),
        ok(),
    ]);
    setup.call(&config).unwrap();
    assert_eq!(setup.token_requests(), 2);
}

#[test]
fn other_failures_are_not_refusals() {
    let config = config();
    let mut setup = Setup::new(vec![token_answer("t1", 3600), Ok((503, "busy".into()))]);
    let error = setup.call(&config).unwrap_err();
    assert_eq!(
        error,
        ErrorKind::HttpStatus {
            status: 503,
            body_excerpt: "busy".into()
        }
    );
    assert_eq!(setup.token_requests(), 1);
}

#[test]
fn a_freshly_issued_token_that_is_refused_fails_and_is_not_refreshed_again() {
    let config = config();
    let mut setup = Setup::new(vec![
        token_answer("t1", 3600),
        refused(),
        token_answer("t2", 3600),
        refused(),
        refused(),
    ]);
    let error = setup.call(&config).unwrap_err();
    assert!(
        matches!(&error, ErrorKind::Authentication(m) if m.contains("just issued")),
        "{error:?}"
    );
    // The next call is refused too, and fails without asking for a third token.
    assert_eq!(setup.call(&config).unwrap_err(), error);
    assert_eq!(setup.token_requests(), 2);
    assert_eq!(setup.transport.seen.len(), 5);
}

#[test]
fn wrong_credentials_fail_after_one_token_request_and_are_remembered() {
    let config = config();
    let mut setup = Setup::new(vec![Ok((
        401,
        r#"{"error": "invalid_client", "error_description": "client authentication failed"}"#
            .into(),
    ))]);
    let error = setup.call(&config).unwrap_err();
    let ErrorKind::Authentication(message) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        message,
        "connection `gw`, token request to https://gw.example.com/oauth/token: refused with HTTP 401 (invalid_client: client authentication failed): check the credentials it sends"
    );
    for _ in 0..5 {
        assert_eq!(setup.call(&config).unwrap_err(), error);
    }
    assert_eq!(
        setup.transport.seen.len(),
        1,
        "one token request, no retry storm"
    );
}

#[test]
fn token_requests_that_may_pass_are_tried_again_with_backoff() {
    let config = config();
    let mut setup = Setup::new(vec![
        Ok((503, String::new())),
        Err("connection refused".into()),
        token_answer("t1", 3600),
        ok(),
    ]);
    setup.call(&config).unwrap();
    assert_eq!(setup.token_requests(), 3);
    assert_eq!(setup.clock.now(), Duration::from_millis(200 + 400));
}

#[test]
fn max_refresh_try_count_bounds_the_token_requests() {
    let config = config_with(&gateway(r#", "maxRefreshTryCount": 2"#));
    let mut setup = Setup::new(vec![Ok((502, String::new())), Ok((502, String::new()))]);
    let error = setup.call(&config).unwrap_err();
    assert!(
        matches!(&error, ErrorKind::Transport(m) if m.contains("after 2 tries (maxRefreshTryCount): HTTP 502")),
        "{error:?}"
    );
    assert_eq!(setup.token_requests(), 2);
}

#[test]
fn a_json_login_sends_a_json_object() {
    let config = config_with(&gateway(r#", "httpContentType": "application/json""#));
    let mut setup = Setup::new(vec![token_answer("t1", 3600), ok()]);
    setup.call(&config).unwrap();
    let body: serde_json::Value = serde_json::from_str(&setup.transport.seen[0].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"grant_type": "client_credentials", "client_id": "svc", "client_secret": "p&w=1 ü"})
    );
    assert_eq!(
        setup.header(0, "content-type").as_deref(),
        Some("application/json")
    );
}

#[test]
fn a_soap_login_takes_the_token_and_its_lifetime_from_paths() {
    let json = format!(
        r#"{{"authentications": {{"gw": {{"authType": "token", "url": "{TOKEN_URL}",
            "httpContentType": "text/xml",
            "requestXml": "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><TokenRq userName=\"${{USERNAME}}\" password=\"${{PASSWORD}}\"/></soapenv:Body></soapenv:Envelope>",
            "tokenResponsePath": "Body.TokenRs.@token", "expiresInPath": "Body.TokenRs.@expiresIn", "tokenType": ""}}}}}}"#
    );
    let config = config_with(&json);
    let answer = |token: &str| {
        Ok((
            200,
            format!(
                r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><TokenRs status="Success" token="{token}" expiresIn="20"/></soap:Body></soap:Envelope>"#
            ),
        ))
    };
    let mut setup = Setup::new(vec![answer("x1"), ok(), answer("x2"), ok()]);
    setup.call(&config).unwrap();
    assert!(
        setup.transport.seen[0]
            .body
            .contains(r#"<TokenRq userName="svc" password="p&amp;w=1 ü"/>"#),
        "{}",
        setup.transport.seen[0].body
    );
    assert_eq!(setup.header(1, "authorization").as_deref(), Some("x1"));
    setup.clock.advance(Duration::from_secs(18));
    setup.call(&config).unwrap();
    assert_eq!(setup.header(3, "authorization").as_deref(), Some("x2"));
}

#[test]
fn a_refused_soap_login_is_an_authentication_error() {
    let config = soap_login_config();
    let answer = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><TokenRs status="Failure" message="invalid credentials"/></soap:Body></soap:Envelope>"#;
    let mut setup = Setup::new(vec![Ok((200, answer.into()))]);
    let error = setup.call(&config).unwrap_err();
    assert!(
        matches!(&error, ErrorKind::Authentication(m) if m.contains("login was refused (TokenRs Failure: invalid credentials)")),
        "{error:?}"
    );
}

#[test]
fn an_answer_without_a_token_points_at_tokenresponsepath() {
    let config = config();
    let mut setup = Setup::new(vec![Ok((200, r#"{"token": "x"}"#.into()))]);
    let error = setup.call(&config).unwrap_err();
    let ErrorKind::InvalidConfiguration(problems) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        problems[0].location.as_deref(),
        Some("gw.tokenResponsePath")
    );
    assert!(problems[0].message.contains("nothing at `access_token`"));
}

#[test]
fn a_token_url_answering_404_is_reported_and_not_remembered() {
    let config = config();
    let mut setup = Setup::new(vec![Ok((404, String::new())), token_answer("t1", 60), ok()]);
    let error = setup.call(&config).unwrap_err();
    assert!(
        matches!(&error, ErrorKind::UnexpectedResponse(m) if m.ends_with("answered HTTP 404: check `url`")),
        "{error:?}"
    );
    setup.call(&config).unwrap();
    assert_eq!(setup.token_requests(), 2);
}

#[test]
fn a_refused_fresh_token_fails_its_call_but_does_not_poison_the_connection() {
    let config = config();
    let mut setup = Setup::new(vec![
        token_answer("t1", 3600),
        refused(),
        token_answer("t2", 3600),
        refused(),
        ok(),
    ]);
    assert!(matches!(
        setup.call(&config),
        Err(ErrorKind::Authentication(_))
    ));
    setup.call(&config).unwrap();
    assert_eq!(
        setup.header(4, "authorization").as_deref(),
        Some("Bearer t2")
    );
    assert_eq!(setup.token_requests(), 2);
}

#[test]
fn any_answer_that_is_not_a_refusal_clears_the_just_issued_mark() {
    let config = config();
    let mut setup = Setup::new(vec![
        token_answer("t1", 3600),
        refused(),
        token_answer("t2", 3600),
        Ok((503, "busy".into())),
        refused(),
        token_answer("t3", 3600),
        ok(),
    ]);
    assert!(matches!(
        setup.call(&config),
        Err(ErrorKind::HttpStatus { status: 503, .. })
    ));
    setup.call(&config).unwrap();
    assert_eq!(setup.token_requests(), 3);
    assert_eq!(
        setup.header(6, "authorization").as_deref(),
        Some("Bearer t3")
    );
}

#[test]
fn a_failed_refresh_keeps_the_current_token_until_it_expires() {
    let config = config_with(&gateway(r#", "maxRefreshTryCount": 1"#));
    let mut setup = Setup::new(vec![
        token_answer("t1", 100),
        ok(),
        Ok((503, String::new())),
        ok(),
        Ok((503, String::new())),
    ]);
    setup.call(&config).unwrap();
    setup.clock.advance(Duration::from_secs(95));
    setup.call(&config).unwrap();
    assert_eq!(
        setup.header(3, "authorization").as_deref(),
        Some("Bearer t1")
    );
    setup.clock.advance(Duration::from_secs(6));
    let error = setup.call(&config).unwrap_err();
    assert!(
        matches!(&error, ErrorKind::Transport(m) if m.contains("HTTP 503")),
        "{error:?}"
    );
}

#[test]
fn a_static_access_token_is_used_as_written_and_refusal_is_final_without_url() {
    let json = r#"{"authentications": {"gw": {"authType": "Bearer", "accessToken": "Bearer ${API_TOKEN}"}}}"#;
    let config = crate::config::tests::shipped_config(&[
        ("CONNECTIONJSON", json),
        ("API_TOKEN", "static-1"),
    ]);
    let mut setup = Setup::new(vec![ok(), refused()]);
    setup.call(&config).unwrap();
    assert_eq!(
        setup.header(0, "authorization").as_deref(),
        Some("Bearer static-1")
    );
    let error = setup.call(&config).unwrap_err();
    assert!(
        matches!(&error, ErrorKind::Authentication(m) if m.contains("no `url` to get another")),
        "{error:?}"
    );
}

#[test]
fn a_changed_configuration_gets_its_own_token() {
    let first = config();
    let second = crate::config::tests::shipped_config(&[
        ("CONNECTIONJSON", &gateway("")),
        ("PASSWORD", "another"),
    ]);
    let mut setup = Setup::new(vec![
        token_answer("t1", 3600),
        ok(),
        token_answer("t2", 3600),
        ok(),
    ]);
    setup.call(&first).unwrap();
    setup.call(&second).unwrap();
    assert_eq!(setup.token_requests(), 2);
}

#[test]
fn a_token_answers_fault_and_error_texts_are_kept_as_the_server_wrote_them() {
    let config = soap_login_config();
    let fault = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>Invalid password Pw&quot;&lt;&amp;&gt;'-SECRET-1234</faultstring></s:Fault></s:Body></s:Envelope>"#;
    let mut setup = Setup::new(vec![Ok((200, fault.into()))]);
    assert_eq!(
        setup.call(&config).unwrap_err(),
        ErrorKind::Authentication(
            r#"connection `gw`, token request to https://gw.example.com/oauth/token: the login was refused (SOAP fault s:Client: Invalid password Pw"<&>'-SECRET-1234): check the credentials it sends"#
                .into()
        )
    );
    let failure = r#"<TokenRs status="Failure"><ExtendedStatusDesc>Pw&quot;&lt;&amp;&gt; <![CDATA[x]]></ExtendedStatusDesc></TokenRs>"#;
    let mut setup = Setup::new(vec![Ok((400, failure.into()))]);
    assert_eq!(
        setup.call(&config).unwrap_err(),
        ErrorKind::Authentication(
            r#"connection `gw`, token request to https://gw.example.com/oauth/token: refused with HTTP 400 (TokenRs Failure: Pw"<&> x): check the credentials it sends"#
                .into()
        )
    );
}
