//! The `echo-request` fault's shapes, over real HTTP: exact answers for a
//! login whose password holds XML specials, a non-ASCII and an astral
//! character, a CRLF and a tab.
//!
//! The expected escaped forms below are written out (they were produced by an
//! independent implementation of each escaping rule), not computed by the
//! simulator's own escaping code.

mod common;

use common::*;

use dcsim::{EchoShape, Fault, SimConfig, Simulator, TokenMode};

/// The `Authorization` header sent.
const AUTH: &str = "Basic ZGNhZG1pbjpzM2NyZXQ=";

/// The `X-Trace` header sent: blanks to normalise and a CDATA end.
const TRACE: &str = "a \t  b]]>c";

/// The request body: a bare login whose password is [`PASSWORD`], with line
/// breaks and a tab between the elements.
const BODY: &str = "<server><requests>\r\n\t<Session.loginRq userName=\"dcadmin\" password=\"p&amp;&lt;&gt;&quot;&apos;  ä𝄞&#13;&#10;&#9;!\"/>\r\n</requests></server>";

/// The password as the server's parser reads it.
const PASSWORD: &str = "p&<>\"'  ä𝄞\r\n\t!";

/// The echoed headers: all but Host, Connection, Content-Length and
/// Content-Type, in the order sent.
const HEADERS: &str =
    "soapaction: \"urn:dc/login\"; authorization: Basic ZGNhZG1pbjpzM2NyZXQ=; x-trace: a \t  b]]>c";

/// The `plain` shape's text (the fault's original answer).
const PLAIN: &str = "could not process: Authorization: Basic ZGNhZG1pbjpzM2NyZXQ=\n<server><requests>\r\n\t<Session.loginRq userName=\"dcadmin\" password=\"p&amp;&lt;&gt;&quot;&apos;  ä𝄞&#13;&#10;&#9;!\"/>\r\n</requests></server>";

/// [`PLAIN`] normalised.
const PLAIN_NORMALISED: &str = "could not process: Authorization: Basic ZGNhZG1pbjpzM2NyZXQ=\n<server><requests>\n <Session.loginRq userName=\"dcadmin\" password=\"p&amp;&lt;&gt;&quot;&apos; ä𝄞&#13;&#10;&#9;!\"/>\n</requests></server>";

/// ECHO normalised.
const ECHO_NORMALISED: &str = "could not process: soapaction: \"urn:dc/login\"; authorization: Basic ZGNhZG1pbjpzM2NyZXQ=; x-trace: a b]]>c body: <server><requests>\n <Session.loginRq userName=\"dcadmin\" password=\"p&amp;&lt;&gt;&quot;&apos; ä𝄞&#13;&#10;&#9;!\"/>\n</requests></server> password: p&<>\"' ä𝄞\n !";

/// ECHO, XML-escaped.
const ECHO_XML: &str = r##"could not process: soapaction: &quot;urn:dc/login&quot;; authorization: Basic ZGNhZG1pbjpzM2NyZXQ=; x-trace: a &#9;  b]]&gt;c body: &lt;server&gt;&lt;requests&gt;&#13;&#10;&#9;&lt;Session.loginRq userName=&quot;dcadmin&quot; password=&quot;p&amp;amp;&amp;lt;&amp;gt;&amp;quot;&amp;apos;  ä𝄞&amp;#13;&amp;#10;&amp;#9;!&quot;/&gt;&#13;&#10;&lt;/requests&gt;&lt;/server&gt; password: p&amp;&lt;&gt;&quot;&apos;  ä𝄞&#13;&#10;&#9;!"##;

/// [`ECHO_NORMALISED`], XML-escaped.
const ECHO_NORMALISED_XML: &str = r##"could not process: soapaction: &quot;urn:dc/login&quot;; authorization: Basic ZGNhZG1pbjpzM2NyZXQ=; x-trace: a b]]&gt;c body: &lt;server&gt;&lt;requests&gt;&#10; &lt;Session.loginRq userName=&quot;dcadmin&quot; password=&quot;p&amp;amp;&amp;lt;&amp;gt;&amp;quot;&amp;apos; ä𝄞&amp;#13;&amp;#10;&amp;#9;!&quot;/&gt;&#10;&lt;/requests&gt;&lt;/server&gt; password: p&amp;&lt;&gt;&quot;&apos; ä𝄞&#10; !"##;

/// ECHO, JSON-escaped.
const ECHO_JSON: &str = r##"could not process: soapaction: \"urn:dc\/login\"; authorization: Basic ZGNhZG1pbjpzM2NyZXQ=; x-trace: a \t  b]]>c body: <server><requests>\r\n\t<Session.loginRq userName=\"dcadmin\" password=\"p&amp;&lt;&gt;&quot;&apos;  \u00e4\ud834\udd1e&#13;&#10;&#9;!\"\/>\r\n<\/requests><\/server> password: p&<>\"'  \u00e4\ud834\udd1e\r\n\t!"##;

/// [`ECHO_NORMALISED`], JSON-escaped.
const ECHO_NORMALISED_JSON: &str = r##"could not process: soapaction: \"urn:dc\/login\"; authorization: Basic ZGNhZG1pbjpzM2NyZXQ=; x-trace: a b]]>c body: <server><requests>\n <Session.loginRq userName=\"dcadmin\" password=\"p&amp;&lt;&gt;&quot;&apos; \u00e4\ud834\udd1e&#13;&#10;&#9;!\"\/>\n<\/requests><\/server> password: p&<>\"' \u00e4\ud834\udd1e\n !"##;

/// ECHO, HTML-escaped.
const ECHO_HTML: &str = r##"could not process&#x3a; soapaction&#x3a; &#x22;urn&#x3a;dc&#47;login&#x22;&#59; authorization&#x3a; Basic ZGNhZG1pbjpzM2NyZXQ&#61;&#59; x&#45;trace&#x3a; a &#9;  b&#93;&#93;&#x3e;c body&#x3a; &#x3c;server&#x3e;&#x3c;requests&#x3e;&#13;&#xa;&#9;&#x3c;Session&#x2e;loginRq userName&#61;&#x22;dcadmin&#x22; password&#61;&#x22;p&#x26;amp&#59;&#x26;lt&#59;&#x26;gt&#59;&#x26;quot&#59;&#x26;apos&#59;  &#xe4;&#x1d11e;&#x26;&#35;13&#59;&#x26;&#35;10&#59;&#x26;&#35;9&#59;&#33;&#x22;&#47;&#x3e;&#13;&#xa;&#x3c;&#47;requests&#x3e;&#x3c;&#47;server&#x3e; password&#x3a; p&#x26;&#x3c;&#x3e;&#x22;&#39;  &#xe4;&#x1d11e;&#13;&#xa;&#9;&#33;"##;

/// [`ECHO_NORMALISED`], HTML-escaped.
const ECHO_NORMALISED_HTML: &str = r##"could not process&#x3a; soapaction&#x3a; &#x22;urn&#x3a;dc&#47;login&#x22;&#59; authorization&#x3a; Basic ZGNhZG1pbjpzM2NyZXQ&#61;&#59; x&#45;trace&#x3a; a b&#93;&#93;&#x3e;c body&#x3a; &#x3c;server&#x3e;&#x3c;requests&#x3e;&#xa; &#x3c;Session&#x2e;loginRq userName&#61;&#x22;dcadmin&#x22; password&#61;&#x22;p&#x26;amp&#59;&#x26;lt&#59;&#x26;gt&#59;&#x26;quot&#59;&#x26;apos&#59; &#xe4;&#x1d11e;&#x26;&#35;13&#59;&#x26;&#35;10&#59;&#x26;&#35;9&#59;&#33;&#x22;&#47;&#x3e;&#xa;&#x3c;&#47;requests&#x3e;&#x3c;&#47;server&#x3e; password&#x3a; p&#x26;&#x3c;&#x3e;&#x22;&#39; &#xe4;&#x1d11e;&#xa; &#33;"##;

/// ECHO for a request with body `body` and the headers [`send`] sends.
fn echo_of(body: &str) -> String {
    format!("could not process: {HEADERS} body: {body} password: {PASSWORD}")
}

/// ECHO for [`BODY`].
fn echo() -> String {
    echo_of(BODY)
}

/// POSTs `body` with the headers that get echoed.
fn send(sim: &Simulator, body: &str) -> HttpResponse {
    http(
        "POST",
        &sim.endpoint_url(),
        &[
            ("Content-Type", "text/xml; charset=utf-8"),
            ("SOAPAction", "\"urn:dc/login\""),
            ("Authorization", AUTH),
            ("X-Trace", TRACE),
        ],
        body.as_bytes(),
    )
}

/// The answer to [`BODY`] under `fault`, which it must use up.
fn echoed(sim: &Simulator, fault: Fault) -> HttpResponse {
    sim.inject_fault(fault);
    let resp = send(sim, BODY);
    assert!(sim.pending_faults().is_empty());
    resp
}

/// The echo in each of its written forms.
struct Forms {
    plain: String,
    xml: String,
    cdata: String,
    html: String,
    json: String,
}

impl Forms {
    /// Every form with `pad` in front.
    fn padded(self, pad: &str) -> Forms {
        Forms {
            plain: format!("{pad}{}", self.plain),
            xml: format!("{pad}{}", self.xml),
            cdata: format!("{pad}{}", self.cdata),
            html: format!("{pad}{}", self.html),
            json: format!("{pad}{}", self.json),
        }
    }
}

/// The forms of ECHO for [`BODY`].
fn forms() -> Forms {
    Forms {
        plain: PLAIN.into(),
        xml: ECHO_XML.into(),
        cdata: format!(
            "could not process: soapaction: \"urn:dc/login\"; authorization: {AUTH}; x-trace: a \t  b]]]]><![CDATA[>c body: {BODY} password: {PASSWORD}"
        ),
        html: ECHO_HTML.into(),
        json: ECHO_JSON.into(),
    }
}

/// The forms of ECHO for [`BODY`], normalised.
fn normalised_forms() -> Forms {
    Forms {
        plain: PLAIN_NORMALISED.into(),
        xml: ECHO_NORMALISED_XML.into(),
        cdata: ECHO_NORMALISED.replace("]]>", "]]]]><![CDATA[>"),
        html: ECHO_NORMALISED_HTML.into(),
        json: ECHO_NORMALISED_JSON.into(),
    }
}

/// The bare `<server>` document with one `Session.loginRs` failing with
/// description `desc` (as written).
fn login_failure(desc: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><server><responses><Session.loginRs status="Failure"><ExtendedStatus><ExtendedStatusCd>Injected</ExtendedStatusCd><ExtendedStatusDesc>{desc}</ExtendedStatusDesc></ExtendedStatus></Session.loginRs></responses></server>"#
    )
}

/// The exact (status, Content-Type, body) of `shape` for a bare login
/// request, given the echo's forms.
fn expected(shape: EchoShape, forms: &Forms) -> (u16, &'static str, String) {
    match shape {
        EchoShape::Plain => (500, "text/plain; charset=utf-8", forms.plain.clone()),
        EchoShape::Soap11Fault => (
            500,
            "text/xml; charset=utf-8",
            format!(
                r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>{}</faultstring></soap:Fault></soap:Body></soap:Envelope>"#,
                forms.xml
            ),
        ),
        EchoShape::Soap12Fault => (
            500,
            "application/soap+xml; charset=utf-8",
            format!(
                r#"<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text xml:lang="en">{}</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>"#,
                forms.xml
            ),
        ),
        EchoShape::Failure => (200, "text/xml; charset=utf-8", login_failure(&forms.xml)),
        EchoShape::Cdata => (
            200,
            "text/xml; charset=utf-8",
            login_failure(&format!("<![CDATA[{}]]>", forms.cdata)),
        ),
        EchoShape::Html => (
            500,
            "text/html; charset=utf-8",
            format!(
                "<html><body><h1>Error</h1><p>{}</p></body></html>",
                forms.html
            ),
        ),
        EchoShape::Json => (
            500,
            "application/json",
            format!(r#"{{"error":"{}"}}"#, forms.json),
        ),
    }
}

/// Decodes the numeric character references of an `html` answer's text.
fn html_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').expect("reference end") + at;
        let number = &rest[at + 2..end];
        let code = match number.strip_prefix('x') {
            Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
            None => number.parse().unwrap(),
        };
        out.push(char::from_u32(code).unwrap());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The text a client reads out of `shape`'s answer `resp`.
fn decoded(shape: EchoShape, resp: &HttpResponse) -> String {
    match shape {
        EchoShape::Plain => resp.text(),
        EchoShape::Soap11Fault => soap_fault(resp).1,
        EchoShape::Soap12Fault => parse_xml(&resp.body)
            .path(&["Body", "Fault", "Reason", "Text"])
            .text
            .clone(),
        EchoShape::Failure | EchoShape::Cdata => outcome(&responses(resp).children[0]).2,
        EchoShape::Html => {
            let page = resp.text();
            let inner = page
                .strip_prefix("<html><body><h1>Error</h1><p>")
                .and_then(|p| p.strip_suffix("</p></body></html>"))
                .expect("the page around the echo");
            html_unescape(inner)
        }
        EchoShape::Json => {
            let json = resp.json();
            assert_eq!(json.as_object().unwrap().len(), 1);
            json["error"].as_str().unwrap().to_owned()
        }
    }
}

/// `text` as an XML parser reads it out of a CDATA section (line ends
/// normalised); unchanged for the other shapes.
fn as_read(shape: EchoShape, text: &str) -> String {
    match shape {
        EchoShape::Cdata => text.replace("\r\n", "\n").replace('\r', "\n"),
        _ => text.to_owned(),
    }
}

/// Checks every shape's answer to [`BODY`] under `fault(shape)`, exactly,
/// and what a client reads out of it (`echo`, for all but `plain`).
fn check_every_shape(fault: impl Fn(EchoShape) -> Fault, forms: &Forms, echo: &str, plain: &str) {
    let sim = start(5);
    for shape in EchoShape::ALL {
        let resp = echoed(&sim, fault(shape));
        let (status, content_type, body) = expected(shape, forms);
        assert_eq!(resp.status, status, "{shape:?}");
        assert_eq!(resp.header("content-type"), Some(content_type), "{shape:?}");
        assert_eq!(resp.text(), body, "{shape:?}");
        assert!(!resp.chunked, "{shape:?}");
        let text = if shape == EchoShape::Plain {
            plain
        } else {
            echo
        };
        assert_eq!(decoded(shape, &resp), as_read(shape, text), "{shape:?}");
        if matches!(shape, EchoShape::Html | EchoShape::Json) {
            assert!(resp.body.is_ascii(), "{shape:?}");
        }
    }
}

#[test]
fn every_shape_answers_exactly() {
    check_every_shape(Fault::echo, &forms(), &echo(), PLAIN);
}

#[test]
fn pad_comes_first_in_every_shape() {
    let pad = "EEEEEEE";
    check_every_shape(
        |shape| Fault::echo(shape).with_pad(7),
        &forms().padded(pad),
        &format!("{pad}{}", echo()),
        &format!("{pad}{PLAIN}"),
    );
}

#[test]
fn normalise_in_every_shape() {
    check_every_shape(
        |shape| Fault::echo(shape).normalised(),
        &normalised_forms(),
        ECHO_NORMALISED,
        PLAIN_NORMALISED,
    );
    check_every_shape(
        |shape| Fault::echo(shape).with_pad(3).normalised(),
        &normalised_forms().padded("EEE"),
        &format!("EEE{ECHO_NORMALISED}"),
        &format!("EEE{PLAIN_NORMALISED}"),
    );
}

#[test]
fn plain_is_the_original_answer() {
    let sim = start(5);
    let resp = echoed(&sim, Fault::echo_request());
    assert_eq!(resp.status, 500);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        resp.text(),
        format!("could not process: Authorization: {AUTH}\n{BODY}")
    );
    // Without an Authorization header, its value is empty.
    sim.inject_fault(Fault::echo_request());
    let resp = post_xml(&sim, LOGIN);
    assert_eq!(resp.status, 500);
    assert_eq!(
        resp.text(),
        format!("could not process: Authorization: \n{}", bare(LOGIN))
    );
}

#[test]
fn pad_makes_the_password_straddle_a_truncation_limit() {
    let sim = start(5);
    // The 512-byte excerpt of an error body: the escaped password in the
    // plain echo starts 4 bytes before the cut.
    let escaped = "p&amp;&lt;";
    let at = PLAIN.find(escaped).unwrap();
    let pad = 512 - at - 4;
    let resp = echoed(&sim, Fault::echo_request().with_pad(pad));
    let text = resp.text();
    assert_eq!(text, format!("{}{PLAIN}", "E".repeat(pad)));
    assert_eq!(text.find(escaped), Some(508));
    // The 1,024-byte cut of a Failure message: the password (as parsed)
    // starts 3 bytes before it.
    let at = echo().len() - PASSWORD.len();
    let pad = 1024 - at - 3;
    let resp = echoed(&sim, Fault::echo(EchoShape::Failure).with_pad(pad));
    let message = outcome(&responses(&resp).children[0]).2;
    assert_eq!(message, format!("{}{}", "E".repeat(pad), echo()));
    assert_eq!(message.rfind(PASSWORD), Some(1021));
}

#[test]
fn failure_and_cdata_follow_the_soap_mode() {
    let sim = start(5);
    let login = r#"<Session.loginRq userName="dcadmin" password="p&amp;&lt;&gt;&quot;&apos;  ä𝄞&#13;&#10;&#9;!"/>"#;
    let body = soap(login);
    let echo = echo_of(&body);
    for shape in [EchoShape::Failure, EchoShape::Cdata] {
        sim.inject_fault(Fault::echo(shape));
        let resp = send(&sim, &body);
        assert!(
            resp.text().starts_with(concat!(
                r#"<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#,
                r#"<processRequestsAsDOMResponse xmlns="http://www.duckcreek.com/"><result><server><responses><Session.loginRs status="Failure">"#
            )),
            "{shape:?}: {}",
            resp.text()
        );
        let rs = responses(&resp);
        assert_eq!(rs.child_names(), ["Session.loginRs"]);
        assert_eq!(
            outcome(&rs.children[0]),
            failure("Injected", &as_read(shape, &echo)),
            "{shape:?}"
        );
    }
}

#[test]
fn failure_with_an_operation_fails_only_that_operation() {
    let sim = start(5);
    let body = bare(concat!(
        r#"<Session.loginRq userName="dcadmin" password="dcadmin-secret"/>"#,
        "<OnlineData.listEntitiesRq/><Security.listPrivilegesRq/>"
    ));
    sim.inject_fault(Fault::echo(EchoShape::Failure).for_operation("OnlineData.listEntitiesRq"));
    // A batch without the operation is not touched.
    assert_eq!(
        outcome(&responses(&send(&sim, BODY)).children[0]),
        failure("InvalidCredentials", "Invalid user name or password")
    );
    let resp = send(&sim, &body);
    assert!(sim.pending_faults().is_empty());
    let rs = responses(&resp);
    let outcomes: Vec<_> = rs.children.iter().map(outcome).collect();
    let echo = format!("could not process: {HEADERS} body: {body} password: dcadmin-secret");
    assert_eq!(
        outcomes,
        [
            ("Success".into(), String::new(), String::new()),
            failure("Injected", &echo),
            ("Success".into(), String::new(), String::new()),
        ]
    );
}

#[test]
fn the_password_is_empty_without_a_login() {
    let sim = start(5);
    let body = bare("<OnlineData.listEntitiesRq/>");
    sim.inject_fault(Fault::echo(EchoShape::Json));
    let resp = send(&sim, &body);
    assert_eq!(
        resp.json()["error"],
        format!("could not process: {HEADERS} body: {body} password: ")
    );
}

#[test]
fn admin_json_forms() {
    let sim = start(5);
    let faults_url = format!("{}/faults", sim.admin_url());
    let post = |json: &str| {
        http(
            "POST",
            &faults_url,
            &[("Content-Type", "application/json")],
            json.as_bytes(),
        )
    };
    for (json, fault) in [
        (r#"{"kind":"echo-request"}"#, Fault::echo_request()),
        (
            r#"{"kind":"echo-request","shape":"plain","pad":500,"normalise":true}"#,
            Fault::echo_request().with_pad(500).normalised(),
        ),
        (
            r#"{"kind":"echo-request","shape":"soap11-fault"}"#,
            Fault::echo(EchoShape::Soap11Fault),
        ),
        (
            r#"{"kind":"echo-request","shape":"soap12-fault"}"#,
            Fault::echo(EchoShape::Soap12Fault),
        ),
        (
            r#"{"kind":"echo-request","shape":"failure","pad":1}"#,
            Fault::echo(EchoShape::Failure).with_pad(1),
        ),
        (
            r#"{"kind":"echo-request","shape":"cdata","normalise":false}"#,
            Fault::echo(EchoShape::Cdata),
        ),
        (
            r#"{"kind":"echo-request","shape":"html"}"#,
            Fault::echo(EchoShape::Html),
        ),
        (
            r#"{"kind":"echo-request","shape":"json","operation":"Session.loginRq"}"#,
            Fault::echo(EchoShape::Json).for_operation("Session.loginRq"),
        ),
    ] {
        assert_eq!(post(json).status, 201, "{json}");
        assert_eq!(sim.pending_faults(), [fault], "{json}");
        assert_eq!(http("DELETE", &faults_url, &[], b"").status, 204);
    }
    for bad in [
        r#"{"kind":"echo-request","shape":"xml"}"#,
        r#"{"kind":"echo-request","shape":"SOAP11-fault"}"#,
        r#"{"kind":"echo-request","pad":-1}"#,
        r#"{"kind":"echo-request","normalise":1}"#,
        r#"{"kind":"echo-request","oops":1}"#,
    ] {
        assert_eq!(post(bad).status, 400, "{bad}");
    }
    assert!(sim.pending_faults().is_empty());
    // The listing shows the new fields, the defaults left out.
    sim.inject_fault(Fault::echo(EchoShape::Html).with_pad(2));
    sim.inject_fault(Fault::echo_request());
    let listed = http("GET", &faults_url, &[], b"").json();
    assert_eq!(
        listed,
        serde_json::json!([
            {"kind": "echo-request", "shape": "html", "pad": 2, "count": 1},
            {"kind": "echo-request", "count": 1},
        ])
    );
}

#[test]
fn the_token_endpoint_takes_no_echo_fault() {
    let sim = Simulator::start(SimConfig {
        users: 5,
        token: Some(TokenMode::default()),
        ..SimConfig::default()
    })
    .expect("start simulator");
    sim.inject_fault(Fault::echo(EchoShape::Json));
    let resp = http(
        "POST",
        &sim.token_url(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"grant_type=client_credentials&client_id=dcconn&client_secret=gateway-secret",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let token = resp.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(sim.pending_faults(), [Fault::echo(EchoShape::Json)]);
    // The next endpoint call takes it, and echoes the bearer token.
    let resp = http(
        "POST",
        &sim.endpoint_url(),
        &[
            ("Content-Type", "text/xml"),
            ("Authorization", &format!("Bearer {token}")),
        ],
        BODY.as_bytes(),
    );
    assert_eq!(resp.status, 500);
    assert_eq!(
        resp.json()["error"],
        format!(
            "could not process: authorization: Bearer {token} body: {BODY} password: {PASSWORD}"
        )
    );
    assert!(sim.pending_faults().is_empty());
}
