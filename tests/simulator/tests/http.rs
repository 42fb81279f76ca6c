//! End-to-end tests over real HTTP on loopback.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use dcsim::{Dataset, Entity, Fault, FaultKind, Mode, Privilege, Role, SimConfig, Simulator, User};

/// Checks a `<User>` element against the dataset's user, exactly.
fn assert_user(el: &El, u: &User) {
    assert_eq!(el.name, "User");
    assert_eq!(el.attr("id"), Some(u.id.to_string().as_str()));
    assert_eq!(el.attr("name"), Some(u.name.as_str()));
    assert_eq!(el.attr("email"), Some(u.email.as_str()));
    assert_eq!(el.attr("status"), Some(u.status.as_str()));
    assert_eq!(el.attr("fullName"), Some(u.full_name.as_str()));
    assert_eq!(el.child_names(), ["UserEntityMemberships", "Roles"]);
    let entities = list_attrs(
        el,
        "UserEntityMemberships",
        "UserEntityMembership",
        "entityName",
    );
    assert_eq!(entities, u.entities);
    assert_eq!(list_attrs(el, "Roles", "Role", "name"), u.roles);
}

/// Attribute `attr` of each child of `el`'s `list` child, which must all be
/// `item` elements.
fn list_attrs<'a>(el: &'a El, list: &str, item: &str, attr: &str) -> Vec<&'a str> {
    el.child(list)
        .children
        .iter()
        .map(|c| {
            assert_eq!(c.name, item);
            c.attr(attr).unwrap()
        })
        .collect()
}

fn list_users(sim: &Simulator, entity: &str) -> El {
    let resp = post_xml(
        sim,
        &format!("{LOGIN}<OnlineData.listEntityUsersRq entityID=\"{entity}\"/>"),
    );
    let rs = responses(&resp);
    assert_eq!(rs.children.len(), 2);
    rs.children[1].clone()
}

#[test]
fn soap_login_list_close() {
    let sim = start(50);
    let resp = post_soap(
        &sim,
        &format!(
            "{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\"></OnlineData.listEntityUsersRq><Session.closeRq></Session.closeRq>"
        ),
    );
    assert!(!resp.chunked && resp.header("content-length").is_some());
    let text = resp.text();
    assert!(text.starts_with(concat!(
        r#"<?xml version="1.0" encoding="utf-8"?>"#,
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#,
        r#"<processRequestsAsDOMResponse xmlns="http://www.duckcreek.com/"><result><server><responses>"#
    )));
    // Exact escaping of the special users.
    assert!(text.contains(
        r#"<User id="2" name="o&apos;brien&amp;co" email="o&apos;brien&amp;co@example.com" status="Active" fullName="Tom &quot;T&quot; O&apos;Brien &lt;Claims&gt;"><UserEntityMemberships><UserEntityMembership entityName="R&amp;D &lt;Claims&gt; &quot;East&quot;"/></UserEntityMemberships><Roles><Role name="Underwriter &quot;Senior&quot; &amp; &lt;Lead&gt;"/><Role name="Underwriter"/></Roles></User>"#
    ));
    assert!(text.contains(r#"name="jürgen.müller""#));
    assert!(text.contains(r#"name="dev&lt;ops&gt;""#));
    assert!(text.contains(r#"fullName="Polly 🦜 Parrot""#));
    assert!(text.contains(
        r#"<User id="6" name="no.access" email="no.access@example.com" status="Active" fullName="No Access"><UserEntityMemberships/><Roles/></User>"#
    ));

    let rs = responses(&resp);
    assert_eq!(
        rs.child_names(),
        [
            "Session.loginRs",
            "OnlineData.listEntityUsersRs",
            "Session.closeRs"
        ]
    );
    for r in &rs.children {
        assert_eq!(r.attr("status"), Some("Success"));
    }
    let data = sim.dataset();
    let users = rs.children[1].child("Users");
    assert_eq!(users.children.len(), 50);
    for (el, u) in users.children.iter().zip(&data.users) {
        assert_user(el, u);
    }
    assert_eq!(users.children[3].attr("name"), Some("王伟"));
}

#[test]
fn xml_mode_lists() {
    let sim = start(20);
    let resp = post_xml(
        &sim,
        &format!(
            "{LOGIN}<OnlineData.listEntitiesRq/><Security.listRolesRq includePrivileges=\"true\"/>\
             <Security.listRolesRq includePrivileges=\"false\"/><Security.listPrivilegesRq/>"
        ),
    );
    assert!(
        resp.text()
            .starts_with(r#"<?xml version="1.0" encoding="utf-8"?><server><responses>"#)
    );
    let rs = responses(&resp);
    let data = sim.dataset();

    let entities = rs.children[1].child("Entities");
    assert_eq!(entities.children.len(), data.entities.len());
    for (el, e) in entities.children.iter().zip(&data.entities) {
        assert_eq!(el.name, e.kind);
        assert_eq!(el.attr("id"), Some(e.id.to_string().as_str()));
        assert_eq!(el.attr("name"), Some(e.name.as_str()));
    }
    assert_eq!(entities.children[0].attr("name"), Some("Head Office"));
    assert_eq!(entities.children[3].name, "Agency");
    assert!(
        resp.text()
            .contains(r#"name="R&amp;D &lt;Claims&gt; &quot;East&quot;""#)
    );

    let with = rs.children[2].child("Roles");
    let without = rs.children[3].child("Roles");
    assert_eq!(with.children.len(), 24);
    for ((w, wo), r) in with.children.iter().zip(&without.children).zip(&data.roles) {
        for el in [w, wo] {
            assert_eq!(el.attr("id"), Some(r.id.to_string().as_str()));
            assert_eq!(el.attr("name"), Some(r.name.as_str()));
            assert_eq!(el.attr("description"), Some(r.description.as_str()));
        }
        assert!(wo.children.is_empty());
        let privs: Vec<&str> = w
            .child("Privileges")
            .children
            .iter()
            .map(|p| p.attr("name").unwrap())
            .collect();
        assert_eq!(privs, r.privileges);
    }

    let privileges = rs.children[4].child("Privileges");
    assert_eq!(privileges.children.len(), 40);
    for (el, p) in privileges.children.iter().zip(&data.privileges) {
        assert_eq!(el.attr("id"), Some(p.id.to_string().as_str()));
        assert_eq!(el.attr("name"), Some(p.name.as_str()));
        assert_eq!(el.attr("description"), Some(p.description.as_str()));
        assert_eq!(el.attr("type"), Some(p.kind.as_str()));
    }
    assert!(
        resp.text()
            .contains(r#"name="Billing &amp; Refunds &apos;Override&apos;""#)
    );
}

#[test]
fn entity_filter_and_errors() {
    let sim = start(1_000);
    let data = sim.dataset();
    let rs = list_users(&sim, "2");
    let expected: Vec<&User> = data
        .users
        .iter()
        .filter(|u| u.entities.iter().any(|e| e == "R&D <Claims> \"East\""))
        .collect();
    let got = &rs.child("Users").children;
    assert!(expected.len() > 2);
    assert_eq!(got.len(), expected.len());
    for (el, u) in got.iter().zip(expected) {
        assert_user(el, u);
    }
    assert_eq!(got[0].attr("name"), Some("jürgen.müller"));

    let rs = list_users(&sim, "5");
    assert_eq!(rs.attr("status"), Some("Success"));

    let rs = list_users(&sim, "9999");
    assert_eq!(
        outcome(&rs),
        failure("NotFound", "Entity 9999 does not exist")
    );
    let rs = list_users(&sim, "abc");
    assert_eq!(outcome(&rs).1, "InvalidRequest");
    let resp = post_xml(&sim, &format!("{LOGIN}<OnlineData.listEntityUsersRq/>"));
    assert_eq!(outcome(&responses(&resp).children[1]).1, "InvalidRequest");
}

#[test]
fn authentication() {
    let sim = start(10);
    let resp = post_soap(
        &sim,
        r#"<Session.loginRq userName="dcadmin" password="wrong"/><OnlineData.listEntitiesRq/><Session.closeRq/>"#,
    );
    let rs = responses(&resp);
    assert_eq!(
        outcome(&rs.children[0]),
        failure("InvalidCredentials", "Invalid user name or password")
    );
    for r in &rs.children[1..] {
        assert_eq!(outcome(r).1, "NotAuthenticated");
    }
    assert_eq!(rs.children[1].name, "OnlineData.listEntitiesRs");

    // No login at all.
    let rs = responses(&post_xml(&sim, "<Security.listPrivilegesRq/>"));
    assert_eq!(outcome(&rs.children[0]).1, "NotAuthenticated");

    // After close, the session is over; unknown operations are reported.
    let rs = responses(&post_xml(
        &sim,
        &format!("{LOGIN}<Foo.barRq x=\"1\"/><Session.closeRq/><Security.listPrivilegesRq/>"),
    ));
    assert_eq!(
        outcome(&rs.children[1]),
        failure("UnknownOperation", "Unknown operation Foo.barRq")
    );
    assert_eq!(rs.children[1].name, "Foo.barRs");
    assert_eq!(outcome(&rs.children[2]).0, "Success");
    assert_eq!(outcome(&rs.children[3]).1, "NotAuthenticated");

    // Custom credentials, with characters that need escaping.
    let sim = Simulator::start(SimConfig {
        users: 3,
        seed: 1,
        username: "a&b".into(),
        password: "p\"<w>'".into(),
        ..SimConfig::default()
    })
    .unwrap();
    let rs = responses(&post_xml(
        &sim,
        r#"<Session.loginRq userName="a&amp;b" password="p&quot;&lt;w&gt;&apos;"/>"#,
    ));
    assert_eq!(outcome(&rs.children[0]).0, "Success");
}

#[test]
fn request_log() {
    let sim = start(5);
    post_soap(
        &sim,
        &format!("{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\" note=\"a&amp;b&lt;c\"/>"),
    );
    post_xml(&sim, "<Session.closeRq/>");
    let log = sim.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].mode, Mode::Soap);
    assert_eq!(
        log[0].content_type.as_deref(),
        Some("text/xml; charset=utf-8")
    );
    assert_eq!(
        log[0].soap_action.as_deref(),
        Some("\"http://www.duckcreek.com/processRequestsAsDOM\"")
    );
    assert!(
        log[0]
            .headers
            .iter()
            .any(|(k, v)| k == "host" && v.starts_with("127.0.0.1:"))
    );
    let ops = &log[0].operations;
    assert_eq!(ops[0].name, "Session.loginRq");
    assert_eq!(
        ops[0].attributes,
        [
            ("userName".to_owned(), "dcadmin".to_owned()),
            ("password".to_owned(), "<redacted>".to_owned())
        ]
    );
    assert_eq!(ops[1].attr("note"), Some("a&b<c"));
    assert_eq!(log[1].mode, Mode::Xml);
    assert_eq!(log[1].soap_action, None);

    let json = http("GET", &format!("{}/requests", sim.admin_url()), &[], b"").json();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["mode"], "soap");
    assert_eq!(
        json[0]["soapAction"],
        "\"http://www.duckcreek.com/processRequestsAsDOM\""
    );
    assert_eq!(json[0]["operations"][0]["attributes"][1][1], "<redacted>");
    let state = http("GET", &format!("{}/state", sim.admin_url()), &[], b"").json();
    assert_eq!(
        state,
        serde_json::json!({"users": 5, "entities": 5, "roles": 24, "privileges": 40, "requests": 2})
    );
    let resp = http("DELETE", &format!("{}/requests", sim.admin_url()), &[], b"");
    assert_eq!(resp.status, 204);
    assert!(sim.requests().is_empty());

    // Credentials in headers are not recorded either.
    http(
        "POST",
        &sim.endpoint_url(),
        &[("Authorization", "Basic c2VjcmV0"), ("X-Trace", "t1")],
        bare(LOGIN).as_bytes(),
    );
    let log = sim.requests();
    let headers = &log[0].headers;
    assert!(headers.contains(&("authorization".to_owned(), "<redacted>".to_owned())));
    assert!(headers.contains(&("x-trace".to_owned(), "t1".to_owned())));
    // ...only the wire as received (raw headers and body) carries them.
    let body = bare(LOGIN);
    let host = sim.base_url().trim_start_matches("http://").to_owned();
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/dc/services");
    assert_eq!(log[0].body, body);
    assert_eq!(
        log[0].raw_headers,
        [
            ("host", host.as_str()),
            ("connection", "close"),
            ("content-length", &body.len().to_string()),
            ("authorization", "Basic c2VjcmV0"),
            ("x-trace", "t1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert_eq!(sim.received(), log, "the wire log holds the same request");
    let json = http("GET", &format!("{}/received", sim.admin_url()), &[], b"").json();
    assert_eq!(json[0]["method"], "POST");
    assert_eq!(json[0]["path"], "/dc/services");
    assert_eq!(json[0]["body"], body.as_str());
    assert_eq!(json[0]["rawHeaders"][3][1], "Basic c2VjcmV0");
    // The query is part of the path.
    http(
        "POST",
        &format!("{}?trace=1", sim.endpoint_url()),
        &[],
        body.as_bytes(),
    );
    assert_eq!(sim.requests()[1].path, "/dc/services?trace=1");
    let resp = http("DELETE", &format!("{}/requests", sim.admin_url()), &[], b"");
    assert_eq!(resp.status, 204);
    assert!(sim.requests().is_empty() && sim.received().is_empty());
}

#[test]
fn lock_and_unlock() {
    let sim = start(30);
    let before = list_users(&sim, "1");
    assert_eq!(
        before.child("Users").children[9].attr("name"),
        Some("user000010")
    );
    let rs = responses(&post_xml(
        &sim,
        &format!(
            "{LOGIN}<Security.lockUserAccountRq userID=\"10\" userName=\"user000010\"/>\
             <Security.lockUserAccountRq userName=\"nobody\"/>\
             <Security.lockUserAccountRq userID=\"11\" userName=\"user000010\"/>\
             <Security.lockUserAccountRq userID=\"x\" userName=\"user000010\"/>"
        ),
    ));
    assert_eq!(rs.children[1].name, "Security.lockUserAccountRs");
    assert_eq!(outcome(&rs.children[1]).0, "Success");
    assert_eq!(
        outcome(&rs.children[2]),
        failure("NotFound", "User nobody does not exist")
    );
    assert_eq!(outcome(&rs.children[3]).1, "NotFound");
    assert_eq!(outcome(&rs.children[4]).1, "InvalidRequest");
    assert_eq!(sim.dataset().user("user000010").unwrap().status, "Locked");
    // The cached user list was invalidated.
    let after = list_users(&sim, "1");
    assert_eq!(
        after.child("Users").children[9].attr("status"),
        Some("Locked")
    );

    let rs = responses(&post_xml(
        &sim,
        &format!(
            "{LOGIN}<Security.unlockUserAccountRq userName=\"user000010\"/><Security.unlockUserAccountRq userName=\"dev&lt;ops&gt;\"/>"
        ),
    ));
    assert_eq!(rs.children[1].name, "Security.unlockUserAccountRs");
    assert_eq!(outcome(&rs.children[1]).0, "Success");
    assert_eq!(outcome(&rs.children[2]).0, "Success");
    let data = sim.dataset();
    assert_eq!(data.user("user000010").unwrap().status, "Active");
    assert_eq!(data.user("dev<ops>").unwrap().status, "Active");
}

#[test]
fn fault_http_status_and_filters() {
    let sim = start(5);
    let faults_url = format!("{}/faults", sim.admin_url());
    let resp = http(
        "POST",
        &faults_url,
        &[("Content-Type", "application/json")],
        br#"{"kind":"http-status","status":503,"body":"maintenance","operation":"OnlineData.listEntityUsersRq","count":2}"#,
    );
    assert_eq!(resp.status, 201);
    let pending = http("GET", &faults_url, &[], b"").json();
    assert_eq!(pending[0]["kind"], "http-status");
    assert_eq!(pending[0]["count"], 2);

    // Not triggered by a request without the operation.
    let resp = post_xml(&sim, &format!("{LOGIN}<OnlineData.listEntitiesRq/>"));
    assert_eq!(resp.status, 200);
    for _ in 0..2 {
        let resp = post_xml(
            &sim,
            &format!("{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\"/>"),
        );
        assert_eq!(resp.status, 503);
        assert_eq!(
            resp.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(resp.text(), "maintenance");
    }
    let resp = post_xml(
        &sim,
        &format!("{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\"/>"),
    );
    assert_eq!(resp.status, 200);
    assert!(sim.pending_faults().is_empty());

    // Faults apply in injection order; DELETE clears them.
    sim.inject_fault(Fault::http_status(500));
    sim.inject_fault(Fault::http_status(502));
    assert_eq!(post_xml(&sim, LOGIN).status, 500);
    assert_eq!(
        http("GET", &faults_url, &[], b"")
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(http("DELETE", &faults_url, &[], b"").status, 204);
    assert_eq!(post_xml(&sim, LOGIN).status, 200);

    // Bad fault JSON is rejected.
    for bad in [
        &br#"{"kind":"nope"}"#[..],
        br#"{"kind":"http-status","status":42}"#,
        b"not json",
    ] {
        assert_eq!(http("POST", &faults_url, &[], bad).status, 400);
    }
}

#[test]
fn fault_soap_fault_non_xml_failure_empty() {
    let sim = start(5);
    sim.inject_fault(
        FaultKind::SoapFault {
            code: "Server".into(),
            reason: "Database <down> & out".into(),
            detail: Some("ORA-12345".into()),
        }
        .into(),
    );
    let resp = post_xml(&sim, LOGIN);
    assert_eq!(
        soap_fault(&resp),
        (
            "soap:Server".into(),
            "Database <down> & out".into(),
            Some("ORA-12345".into())
        )
    );

    sim.inject_fault(Fault::non_xml());
    let resp = post_soap(&sim, LOGIN);
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(resp.text(), "Gateway says hello: not XML at all");

    sim.inject_fault(Fault::failure_status(
        "OnlineData.listEntityUsersRq",
        "Database timeout",
    ));
    let rs = responses(&post_soap(
        &sim,
        &format!(
            "{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\"/><OnlineData.listEntitiesRq/>"
        ),
    ));
    assert_eq!(outcome(&rs.children[0]).0, "Success");
    assert_eq!(
        outcome(&rs.children[1]),
        failure("Injected", "Database timeout")
    );
    assert_eq!(outcome(&rs.children[2]).0, "Success");

    sim.inject_fault(Fault::empty_users());
    let resp = post_xml(
        &sim,
        &format!("{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\"/>"),
    );
    assert!(resp.text().contains(
        r#"<OnlineData.listEntityUsersRs status="Success"><Users/></OnlineData.listEntityUsersRs>"#
    ));
    let rs = responses(&resp);
    assert!(rs.children[1].child("Users").children.is_empty());
    // Consumed: the next list is full again.
    assert_eq!(list_users(&sim, "1").child("Users").children.len(), 5);
}

#[test]
fn fault_truncate() {
    let sim = start(50);
    let ops = format!("{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\"/>");
    let full = post_soap(&sim, &ops);
    assert!(full.body.len() > 1000);
    sim.inject_fault(Fault::truncate(700));
    let cut = post_soap(&sim, &ops);
    assert_eq!(cut.status, 200);
    assert!(cut.chunked);
    assert_eq!(cut.body, full.body[..700]);
    // Larger than the body: everything arrives.
    sim.inject_fault(Fault::truncate(10_000_000));
    assert_eq!(post_soap(&sim, &ops).body, full.body);
}

#[test]
fn malformed_requests() {
    let sim = start(5);
    let cases: &[&[u8]] = &[
        b"this is not xml",
        b"<server><requests><Session.loginRq></requests></server>",
        b"<!DOCTYPE server><server><requests/></server>",
        b"<server><nope/></server>",
        b"",
    ];
    for case in cases {
        let resp = http(
            "POST",
            &sim.endpoint_url(),
            &[("Content-Type", "text/xml")],
            case,
        );
        let (code, reason, detail) = soap_fault(&resp);
        assert_eq!(code, "soap:Client");
        assert!(reason.starts_with("Malformed request: "), "{reason}");
        assert!(detail.is_some_and(|d| !d.is_empty()));
    }
    assert_eq!(sim.requests().len(), cases.len());
    // A malformed request does not consume a fault.
    sim.inject_fault(Fault::http_status(503));
    assert_eq!(http("POST", &sim.endpoint_url(), &[], b"<x").status, 500);
    assert_eq!(sim.pending_faults().len(), 1);

    assert_eq!(http("GET", &sim.endpoint_url(), &[], b"").status, 405);
    assert_eq!(
        http("POST", &format!("{}/other", sim.base_url()), &[], b"").status,
        404
    );
    assert_eq!(
        http("GET", &format!("{}/", sim.base_url()), &[], b"").status,
        404
    );
}

#[test]
fn admin_users() {
    let sim = start(8);
    let url = |name: &str| format!("{}/users/{name}", sim.admin_url());
    let body = r#"{"email":"nya@example.com","fullName":"Nyå & <Co> \"x\"","status":"Inactive","entities":["Agency 004"],"roles":["Actuary"]}"#;
    let resp = http("PUT", &url("ny%C3%A5%20%26%20co"), &[], body.as_bytes());
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(resp.json()["id"], 9);
    assert_eq!(resp.json()["name"], "nyå & co");

    let rs = list_users(&sim, "1");
    let users = &rs.child("Users").children;
    assert_eq!(users.len(), 9);
    let added = sim.dataset().user("nyå & co").unwrap().clone();
    assert_eq!(added.full_name, "Nyå & <Co> \"x\"");
    assert_user(&users[8], &added);
    let rs = list_users(&sim, "4");
    assert!(
        rs.child("Users")
            .children
            .iter()
            .any(|u| u.attr("name") == Some("nyå & co"))
    );

    // Replace keeps the id; GET returns it.
    let resp = http(
        "PUT",
        &url("ny%C3%A5%20%26%20co"),
        &[],
        br#"{"status":"Locked"}"#,
    );
    assert_eq!(resp.status, 200);
    let got = http("GET", &url("ny%C3%A5%20%26%20co"), &[], b"").json();
    assert_eq!(got["id"], 9);
    assert_eq!(got["status"], "Locked");
    assert_eq!(got["email"], "nyå & co@example.com");

    // Errors.
    assert_eq!(http("PUT", &url("x"), &[], b"{").status, 400);
    assert_eq!(http("PUT", &url("x"), &[], br#"{"name":"y"}"#).status, 400);
    assert_eq!(http("PUT", &url("x"), &[], br#"{"id":1}"#).status, 409);
    assert_eq!(http("PUT", &url("x"), &[], br#"{"bogus":1}"#).status, 400);
    assert_eq!(http("GET", &url("nobody"), &[], b"").status, 404);

    // Delete.
    assert_eq!(http("DELETE", &url("o%27brien%26co"), &[], b"").status, 204);
    assert_eq!(http("DELETE", &url("o%27brien%26co"), &[], b"").status, 404);
    let rs = list_users(&sim, "1");
    assert_eq!(rs.child("Users").children.len(), 8);
    assert!(
        !rs.child("Users")
            .children
            .iter()
            .any(|u| u.attr("name") == Some("o'brien&co"))
    );

    // The library API does the same.
    let mut u = sim.dataset().user("user000007").unwrap().clone();
    u.full_name = "Changed Name".into();
    sim.set_user(u);
    assert!(sim.remove_user("user000008"));
    assert!(!sim.remove_user("user000008"));
    let rs = list_users(&sim, "1");
    let names: Vec<_> = rs
        .child("Users")
        .children
        .iter()
        .map(|u| u.attr("fullName").unwrap().to_owned())
        .collect();
    assert!(names.contains(&"Changed Name".to_owned()));
    assert_eq!(names.len(), 7);
}

#[test]
fn admin_roles_privileges_entities() {
    let sim = start(10);
    let admin = sim.admin_url();
    // Deleting a role removes it from users.
    let role = "Underwriter%20%22Senior%22%20%26%20%3CLead%3E";
    assert_eq!(
        http("GET", &format!("{admin}/roles/{role}"), &[], b"").status,
        200
    );
    assert_eq!(
        http("DELETE", &format!("{admin}/roles/{role}"), &[], b"").status,
        204
    );
    let data = sim.dataset();
    assert_eq!(data.roles.len(), 23);
    assert_eq!(data.user("o'brien&co").unwrap().roles, ["Underwriter"]);

    // Deleting an entity removes memberships and the entity.
    let entity = "R%26D%20%3CClaims%3E%20%22East%22";
    assert_eq!(
        http("DELETE", &format!("{admin}/entities/{entity}"), &[], b"").status,
        204
    );
    let data = sim.dataset();
    assert!(
        data.users
            .iter()
            .all(|u| !u.entities.iter().any(|e| e.starts_with("R&D")))
    );
    assert_eq!(list_users(&sim, "2").attr("status"), Some("Failure"));

    // Add an entity; users can join it.
    let resp = http(
        "PUT",
        &format!("{admin}/entities/Sales%20Agency"),
        &[],
        br#"{"kind":"Agency"}"#,
    );
    assert_eq!(resp.status, 201);
    assert_eq!(resp.json()["id"], 6);
    assert_eq!(
        http(
            "PUT",
            &format!("{admin}/entities/Bad"),
            &[],
            br#"{"kind":"a b"}"#
        )
        .status,
        400
    );
    let resp = http(
        "PUT",
        &format!("{admin}/users/user000009"),
        &[],
        br#"{"entities":["Sales Agency"]}"#,
    );
    assert_eq!(resp.status, 200);
    let rs = list_users(&sim, "6");
    let users = &rs.child("Users").children;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].attr("name"), Some("user000009"));

    // Privileges: add with `type`, delete removes from roles.
    let resp = http(
        "PUT",
        &format!("{admin}/privileges/Claims.Reopen"),
        &[],
        br#"{"description":"Reopen claims","type":"Action"}"#,
    );
    assert_eq!(resp.status, 201);
    assert_eq!(resp.json()["kind"], "Action");
    assert_eq!(resp.json()["id"], 41);
    let resp = http(
        "PUT",
        &format!("{admin}/roles/Reopener"),
        &[],
        br#"{"description":"d","privileges":["Claims.Reopen"]}"#,
    );
    assert_eq!(resp.status, 201);
    assert_eq!(
        http(
            "DELETE",
            &format!("{admin}/privileges/Claims.Reopen"),
            &[],
            b""
        )
        .status,
        204
    );
    assert!(
        sim.dataset()
            .role("Reopener")
            .unwrap()
            .privileges
            .is_empty()
    );
    assert_eq!(
        http(
            "DELETE",
            &format!("{admin}/privileges/Claims.Reopen"),
            &[],
            b""
        )
        .status,
        404
    );
    let state = http("GET", &format!("{admin}/state"), &[], b"").json();
    assert_eq!(state["roles"], 24);
    assert_eq!(state["privileges"], 40);
    assert_eq!(state["entities"], 5);
}

#[test]
fn deterministic_over_http() {
    let a = start(40);
    let b = start(40);
    let c = Simulator::start(SimConfig {
        users: 40,
        seed: 2,
        ..SimConfig::default()
    })
    .unwrap();
    let ops = format!("{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\"/>");
    let (ra, rb, rc) = (post_xml(&a, &ops), post_xml(&b, &ops), post_xml(&c, &ops));
    assert_eq!(ra.body, rb.body);
    assert_ne!(ra.body, rc.body);
    assert_eq!(a.dataset(), Dataset::generate(40, 1));
}

#[test]
fn large_listing_is_cached_and_streamed() {
    let sim = start(100_000);
    let ops = format!("{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\"/><Session.closeRq/>");
    let first = post_xml(&sim, &ops);
    assert_eq!(first.status, 200);
    assert!(first.body.len() > 20_000_000, "{}", first.body.len());
    let count = first.body.windows(6).filter(|w| w == b"<User ").count();
    assert_eq!(count, 100_000);
    assert!(
        first
            .body
            .ends_with(b"<Session.closeRs status=\"Success\"/></responses></server>")
    );
    let second = post_xml(&sim, &ops);
    assert_eq!(first.body, second.body);
}

#[test]
fn binary_runs_and_stops() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let dir = std::env::temp_dir().join(format!("dcsim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port_file = dir.join("port");
    let _ = std::fs::remove_file(&port_file);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dcsim"))
        .args(["--users", "12", "--seed", "3", "--username", "bin"])
        .arg("--port-file")
        .arg(&port_file)
        .env("DCSIM_PASSWORD", "bin-secret")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let port: u16 = loop {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            break text.trim().parse().unwrap();
        }
        assert!(Instant::now() < deadline, "no port file");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim_end(),
        format!("dcsim listening on http://127.0.0.1:{port} (12 users, seed 3)")
    );
    assert!(!line.contains("bin-secret"));
    let resp = http(
        "POST",
        &format!("http://127.0.0.1:{port}/dc/services"),
        &[],
        bare(r#"<Session.loginRq userName="bin" password="bin-secret"/><OnlineData.listEntityUsersRq entityID="1"/>"#)
            .as_bytes(),
    );
    let rs = responses(&resp);
    assert_eq!(rs.children[1].child("Users").children.len(), 12);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- stall ----

/// A response read piecemeal over a raw connection.
struct RawResponse {
    stream: TcpStream,
    head: String,
    /// The body bytes received so far, still chunk-encoded.
    raw: Vec<u8>,
}

/// Decodes the complete chunks at the start of `raw`: (body, bytes used,
/// whether the last chunk was seen).
fn complete_chunks(raw: &[u8]) -> (Vec<u8>, usize, bool) {
    let mut body = Vec::new();
    let mut used = 0;
    loop {
        let rest = &raw[used..];
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return (body, used, false);
        };
        let size_text = std::str::from_utf8(&rest[..line_end]).expect("chunk size");
        let size = usize::from_str_radix(size_text.trim(), 16).expect("hex chunk size");
        let end = line_end + 2 + size + 2;
        if rest.len() < end {
            return (body, used, false);
        }
        assert_eq!(&rest[end - 2..end], b"\r\n", "chunk not followed by CRLF");
        body.extend_from_slice(&rest[line_end + 2..end - 2]);
        used += end;
        if size == 0 {
            return (body, used, true);
        }
    }
}

impl RawResponse {
    /// POSTs a SOAP envelope around `ops` (`Connection: close`) and reads
    /// the response head.
    fn post(sim: &Simulator, ops: &str) -> RawResponse {
        let body = soap(ops);
        let mut stream = TcpStream::connect(("127.0.0.1", sim.port())).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "POST /dc/services HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = Vec::new();
        let split = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut buf = [0; 4096];
            let n = stream.read(&mut buf).expect("read the head");
            assert!(n > 0, "connection closed before the end of the head");
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        raw.drain(..split + 4);
        RawResponse { stream, head, raw }
    }

    /// Reads until `n` body bytes (or the whole body) have arrived; the body
    /// so far.
    fn read_body(&mut self, n: usize) -> Vec<u8> {
        loop {
            let (body, _, done) = complete_chunks(&self.raw);
            if body.len() >= n || done {
                return body;
            }
            let mut buf = [0; 65536];
            let got = self.stream.read(&mut buf).expect("read the body");
            assert!(got > 0, "connection closed after {} body bytes", body.len());
            self.raw.extend_from_slice(&buf[..got]);
        }
    }

    /// Reads until the server closes the connection (an end of stream or a
    /// reset both count; a timeout does not).
    fn read_until_closed(&mut self) {
        let mut buf = [0; 65536];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => self.raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    assert!(
                        !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                        "the connection stayed open: {e}"
                    );
                    return;
                }
            }
        }
    }

    /// Reads the chunked body to its end, handing each chunk's data to `f`
    /// (without keeping the body); panics if the connection closes first.
    fn for_each_chunk(&mut self, mut f: impl FnMut(&[u8])) {
        let mut buf = std::mem::take(&mut self.raw);
        let mut read = vec![0; 1 << 18];
        loop {
            while let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") {
                let size_text = std::str::from_utf8(&buf[..line_end]).expect("chunk size");
                let size = usize::from_str_radix(size_text.trim(), 16).expect("hex chunk size");
                let end = line_end + 2 + size + 2;
                if buf.len() < end {
                    break;
                }
                assert_eq!(&buf[end - 2..end], b"\r\n", "chunk not followed by CRLF");
                if size == 0 {
                    return;
                }
                f(&buf[line_end + 2..end - 2]);
                buf.drain(..end);
            }
            let n = self.stream.read(&mut read).expect("read the body");
            assert!(n > 0, "connection closed before the last chunk");
            buf.extend_from_slice(&read[..n]);
        }
    }

    /// Asserts that nothing more arrives within `wait`.
    fn assert_quiet(&mut self, wait: Duration) {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0; 1024];
        match self.stream.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected nothing more, got {other:?}"),
        }
        self.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
    }
}

fn list_all_users() -> String {
    format!("{LOGIN}<OnlineData.listEntityUsersRq entityID=\"1\"/>")
}

fn admin_stalls(sim: &Simulator) -> serde_json::Value {
    http("GET", &format!("{}/stalls", sim.admin_url()), &[], b"").json()
}

#[test]
fn fault_stall_holds_then_releases() {
    let sim = start(200);
    let full = post_soap(&sim, &list_all_users());
    assert!(full.body.len() > 30_000, "{}", full.body.len());
    let after = 20_000;
    sim.inject_fault(Fault::stall(after).for_operation("OnlineData.listEntityUsersRq"));
    // The fault ignores requests without the operation.
    assert_eq!(post_soap(&sim, LOGIN).status, 200);
    assert_eq!(sim.pending_faults().len(), 1);

    let mut resp = RawResponse::post(&sim, &list_all_users());
    assert!(resp.head.starts_with("HTTP/1.1 200"), "{}", resp.head);
    let head = resp.head.to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(head.contains("content-type: text/xml"), "{head}");
    assert!(sim.wait_for_stall(Duration::from_secs(30)));
    let body = resp.read_body(after);
    assert_eq!(body, full.body[..after]);
    // Exactly `after` bytes in complete chunks, and nothing more.
    let (_, used, done) = complete_chunks(&resp.raw);
    assert_eq!((used, done), (resp.raw.len(), false));
    resp.assert_quiet(Duration::from_millis(300));
    assert!(sim.wait_for_stall(Duration::ZERO), "the flag stays up");

    // The rest of the server carries on.
    assert_eq!(post_soap(&sim, &list_all_users()).body, full.body);
    assert_eq!(
        admin_stalls(&sim),
        serde_json::json!({"stalled": true, "held": 1})
    );
    assert!(sim.pending_faults().is_empty());

    sim.release_stall();
    assert!(
        !sim.wait_for_stall(Duration::ZERO),
        "release clears the flag"
    );
    resp.stream.read_to_end(&mut resp.raw).unwrap();
    let (body, used, done) = complete_chunks(&resp.raw);
    assert!(done, "the body ends after the release");
    assert_eq!(used, resp.raw.len());
    assert_eq!(body, full.body[..after]);
    assert_eq!(
        admin_stalls(&sim),
        serde_json::json!({"stalled": false, "held": 0})
    );
}

#[test]
fn fault_pause_holds_then_sends_the_rest() {
    let sim = start(200);
    let full = post_soap(&sim, &list_all_users());
    let after = 20_000;
    sim.inject_fault(Fault::pause(after).for_operation("OnlineData.listEntityUsersRq"));
    let mut resp = RawResponse::post(&sim, &list_all_users());
    assert!(resp.head.starts_with("HTTP/1.1 200"), "{}", resp.head);
    assert!(sim.wait_for_stall(Duration::from_secs(30)));
    assert_eq!(resp.read_body(after), full.body[..after]);
    resp.assert_quiet(Duration::from_millis(200));

    sim.release_stall();
    resp.stream.read_to_end(&mut resp.raw).unwrap();
    let (body, used, done) = complete_chunks(&resp.raw);
    assert!(done, "the body ends after the release");
    assert_eq!(used, resp.raw.len());
    assert_eq!(body, full.body, "the whole response, once released");
}

#[test]
fn fault_stall_over_admin_and_beyond_the_body() {
    let sim = start(5);
    let full = post_soap(&sim, &list_all_users());
    // Injected as JSON; larger than the body: all of it, then the stall.
    let resp = http(
        "POST",
        &format!("{}/faults", sim.admin_url()),
        &[],
        br#"{"kind":"stall","after_bytes":10000000}"#,
    );
    assert_eq!(resp.status, 201);
    assert_eq!(sim.pending_faults(), [Fault::stall(10_000_000)]);
    let mut raw = RawResponse::post(&sim, &list_all_users());
    assert_eq!(raw.read_body(full.body.len()), full.body);
    assert!(sim.wait_for_stall(Duration::from_secs(30)));
    raw.assert_quiet(Duration::from_millis(200));
    let released = http("DELETE", &format!("{}/stalls", sim.admin_url()), &[], b"");
    assert_eq!(released.status, 204);
    raw.stream.read_to_end(&mut raw.raw).unwrap();
    let (body, _, done) = complete_chunks(&raw.raw);
    assert!(done);
    assert_eq!(body, full.body);

    // after_bytes 0: the head, then the stall.
    sim.inject_fault(Fault::stall(0));
    let mut raw = RawResponse::post(&sim, &list_all_users());
    assert!(raw.head.starts_with("HTTP/1.1 200"), "{}", raw.head);
    assert!(sim.wait_for_stall(Duration::from_secs(30)));
    raw.assert_quiet(Duration::from_millis(200));
    sim.release_stall();
    raw.stream.read_to_end(&mut raw.raw).unwrap();
    assert_eq!(complete_chunks(&raw.raw), (Vec::new(), raw.raw.len(), true));
}

#[test]
fn wait_for_stall_times_out() {
    let sim = start(5);
    let started = Instant::now();
    assert!(!sim.wait_for_stall(Duration::from_millis(200)));
    assert!(started.elapsed() >= Duration::from_millis(200));
    // A stall fault that nothing triggers does not count.
    sim.inject_fault(Fault::stall(10).for_operation("Security.listRolesRq"));
    assert_eq!(post_soap(&sim, &list_all_users()).status, 200);
    assert!(!sim.wait_for_stall(Duration::from_millis(100)));
    // Nor does a release with nothing stalled.
    sim.release_stall();
    assert!(!sim.wait_for_stall(Duration::ZERO));
}

#[test]
fn stall_ends_when_the_client_goes_away() {
    let sim = start(50);
    sim.inject_fault(Fault::stall(100));
    let mut resp = RawResponse::post(&sim, &list_all_users());
    resp.read_body(100);
    assert!(sim.wait_for_stall(Duration::from_secs(30)));
    assert_eq!(admin_stalls(&sim)["held"], 1);
    drop(resp);
    let deadline = Instant::now() + Duration::from_secs(10);
    while admin_stalls(&sim)["held"] != 0 {
        assert!(
            Instant::now() < deadline,
            "the stalled response outlived its client"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The flag stays up until a release.
    assert!(sim.wait_for_stall(Duration::ZERO));
    sim.release_stall();
    assert_eq!(post_soap(&sim, LOGIN).status, 200);
}

#[test]
fn drop_with_a_pending_stall_returns() {
    let sim = start(50);
    sim.inject_fault(Fault::stall(100));
    let mut resp = RawResponse::post(&sim, &list_all_users());
    resp.read_body(100);
    assert!(sim.wait_for_stall(Duration::from_secs(30)));
    let started = Instant::now();
    drop(sim);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "dropping took {took:?}");
    // The client is not left hanging either.
    resp.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    if let Err(e) = resp.stream.read_to_end(&mut rest) {
        assert!(
            !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{e}"
        );
    }
}

// ---- the fault matrix ----

/// The normal SOAP document start, down to `<responses>`.
const SOAP_PREFIX: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#,
    r#"<processRequestsAsDOMResponse xmlns="http://www.duckcreek.com/"><result><server><responses>"#
);

/// The normal SOAP document end, after `</responses>`.
const SOAP_SUFFIX: &str =
    "</responses></server></result></processRequestsAsDOMResponse></soap:Body></soap:Envelope>";

/// The path of a SOAP answer's `<responses>` element.
const SOAP_RESPONSES: [&str; 6] = [
    "Envelope",
    "Body",
    "processRequestsAsDOMResponse",
    "result",
    "server",
    "responses",
];

/// Queues `json` through the admin API.
fn inject_json(sim: &Simulator, json: &str) {
    let resp = http(
        "POST",
        &format!("{}/faults", sim.admin_url()),
        &[("Content-Type", "application/json")],
        json.as_bytes(),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
}

/// What [`scan_xml`] finds in a document.
struct Scan {
    /// The entity references, each with the path of the element it is in.
    refs: Vec<(Vec<String>, String)>,
    /// The DOCTYPE's content, if any.
    doctype: Option<String>,
    /// The greatest element depth.
    depth: usize,
}

/// Reads `body` with quick-xml, which reports entity references without
/// expanding them.
fn scan_xml(body: &[u8]) -> Scan {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut path: Vec<String> = Vec::new();
    let mut refs = Vec::new();
    let mut doctype = None;
    let mut depth = 0;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed XML") {
            Event::Start(e) => {
                path.push(e.local_name().into_inner().to_owned());
                depth = depth.max(path.len());
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Empty(_) => depth = depth.max(path.len() + 1),
            Event::GeneralRef(r) => {
                refs.push((path.clone(), r.into_inner().into_owned()));
            }
            Event::DocType(d) => doctype = Some(d.into_inner().into_owned()),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    assert!(path.is_empty(), "unclosed elements");
    Scan {
        refs,
        doctype,
        depth,
    }
}

/// Whether quick-xml finds `body` well-formed.
fn well_formed(body: &[u8]) -> bool {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Err(_) => return false,
            Ok(quick_xml::events::Event::Eof) => return true,
            Ok(_) => buf.clear(),
        }
    }
}

#[test]
fn fault_http_status_retry_after() {
    let sim = start(5);
    inject_json(
        &sim,
        r#"{"kind":"http-status","status":503,"retryAfter":1}"#,
    );
    assert_eq!(
        sim.pending_faults(),
        [Fault::http_status(503).with_retry_after(1)]
    );
    let resp = post_soap(&sim, LOGIN);
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("retry-after"), Some("1"));
    assert_eq!(resp.text(), "Service Unavailable\n");

    sim.inject_fault(Fault::http_status(429).with_retry_after(30).times(2));
    for _ in 0..2 {
        let resp = post_xml(&sim, LOGIN);
        assert_eq!((resp.status, resp.header("retry-after")), (429, Some("30")));
    }
    // Without it, no header.
    sim.inject_fault(Fault::http_status(503));
    let resp = post_xml(&sim, LOGIN);
    assert_eq!((resp.status, resp.header("retry-after")), (503, None));
    assert_eq!(post_xml(&sim, LOGIN).status, 200);
}

#[test]
fn fault_reset_drops_the_connection_mid_body() {
    let sim = start(200);
    let full = post_soap(&sim, &list_all_users());
    assert!(full.body.len() > 30_000, "{}", full.body.len());
    sim.inject_fault(Fault::reset(700));
    let mut resp = RawResponse::post(&sim, &list_all_users());
    assert!(resp.head.starts_with("HTTP/1.1 200"), "{}", resp.head);
    let head = resp.head.to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    assert!(head.contains("content-type: text/xml"), "{head}");
    resp.read_until_closed();
    // Exactly the first 700 bytes in complete chunks, and no last chunk.
    let (body, used, done) = complete_chunks(&resp.raw);
    assert_eq!(body, full.body[..700]);
    assert_eq!((used, done), (resp.raw.len(), false));
    assert!(!resp.raw.ends_with(b"0\r\n\r\n"));

    // More than the body: all of it, still without the last chunk.
    inject_json(&sim, r#"{"kind":"reset","after_bytes":10000000}"#);
    let mut resp = RawResponse::post(&sim, &list_all_users());
    resp.read_until_closed();
    let (body, used, done) = complete_chunks(&resp.raw);
    assert_eq!(body, full.body);
    assert_eq!((used, done), (resp.raw.len(), false));

    // Zero: the head, then the connection closes.
    inject_json(&sim, r#"{"kind":"reset","afterBytes":0}"#);
    let mut resp = RawResponse::post(&sim, &list_all_users());
    assert!(resp.head.starts_with("HTTP/1.1 200"), "{}", resp.head);
    resp.read_until_closed();
    assert_eq!(resp.raw, b"");

    // The server carries on.
    assert!(sim.pending_faults().is_empty());
    assert_eq!(post_soap(&sim, &list_all_users()).body, full.body);
}

#[test]
fn fault_reset_after_megabytes() {
    // A body far larger than the socket buffers: the connection writes it
    // in many rounds, and still drops only after the last byte asked for.
    let sim = start(20_000);
    let full = post_soap(&sim, &list_all_users());
    assert!(full.body.len() > 3_000_000, "{}", full.body.len());
    let after = full.body.len() - 12_345;
    sim.inject_fault(Fault::reset(after));
    let mut resp = RawResponse::post(&sim, &list_all_users());
    resp.read_until_closed();
    let (body, used, done) = complete_chunks(&resp.raw);
    assert_eq!(body.len(), after);
    assert!(body == full.body[..after]);
    assert_eq!((used, done), (resp.raw.len(), false));
}

#[test]
fn fault_soap12_fault() {
    let sim = start(5);
    inject_json(
        &sim,
        r#"{"kind":"soap12-fault","code":"env:Receiver","reason":"Database <down> & \"out\""}"#,
    );
    for resp in [post_soap(&sim, LOGIN), {
        sim.inject_fault(Fault::soap12_fault("Sender", "Bad <request>"));
        post_xml(&sim, LOGIN)
    }] {
        assert_eq!(resp.status, 500);
        assert_eq!(
            resp.header("content-type"),
            Some("application/soap+xml; charset=utf-8")
        );
        assert!(resp.header("content-length").is_some());
    }
    sim.inject_fault(Fault::soap12_fault(
        "env:Receiver",
        "Database <down> & \"out\"",
    ));
    let resp = post_xml(&sim, LOGIN);
    assert_eq!(
        resp.text(),
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>"#,
            r#"<env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason>"#,
            r#"<env:Text xml:lang="en">Database &lt;down&gt; &amp; &quot;out&quot;</env:Text>"#,
            r#"</env:Reason></env:Fault></env:Body></env:Envelope>"#
        )
    );
    let root = parse_xml(&resp.body);
    assert_eq!(root.name, "Envelope");
    assert_eq!(
        root.attr("xmlns:env"),
        Some("http://www.w3.org/2003/05/soap-envelope")
    );
    let fault = root.path(&["Body", "Fault"]);
    assert_eq!(fault.path(&["Code", "Value"]).text, "env:Receiver");
    let text = fault.path(&["Reason", "Text"]);
    assert_eq!(text.text, "Database <down> & \"out\"");
    assert_eq!(text.attr("xml:lang"), Some("en"));
    assert_eq!(post_xml(&sim, LOGIN).status, 200);
}

#[test]
fn fault_malformed() {
    let sim = start(20);
    let ops = list_all_users();
    for (mode, post) in [
        ("soap", post_soap as fn(&Simulator, &str) -> HttpResponse),
        ("xml", post_xml),
    ] {
        let full = post(&sim, &ops);
        if mode == "soap" {
            inject_json(&sim, r#"{"kind":"malformed"}"#);
        } else {
            sim.inject_fault(Fault::malformed());
        }
        let bad = post(&sim, &ops);
        assert_eq!(bad.status, 200);
        assert_eq!(bad.header("content-type"), Some("text/xml; charset=utf-8"));
        assert!(!bad.chunked && bad.header("content-length").is_some());
        let text = bad.text();
        assert_eq!(text, full.text().replacen("</responses>", "</response>", 1));
        // Complete (not cut short), yet not well-formed.
        assert!(well_formed(&full.body));
        assert!(!well_formed(&bad.body), "{mode}");
        assert!(!full.body.starts_with(&bad.body));
        assert!(text.ends_with("</server>") || text.ends_with("</soap:Envelope>"));
    }
}

#[test]
fn fault_content_type_gzip_bom() {
    use std::io::Read as _;
    let sim = start(20);
    let ops = list_all_users();
    let full = post_soap(&sim, &ops);

    inject_json(
        &sim,
        r#"{"kind":"content-type","value":"application/json"}"#,
    );
    let resp = post_soap(&sim, &ops);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.body, full.body);
    sim.inject_fault(Fault::content_type("text/html; charset=iso-8859-1"));
    assert_eq!(
        post_soap(&sim, &ops).header("content-type"),
        Some("text/html; charset=iso-8859-1")
    );
    // Not a header value: refused.
    let resp = http(
        "POST",
        &format!("{}/faults", sim.admin_url()),
        &[],
        br#"{"kind":"content-type","value":"a\nb"}"#,
    );
    assert_eq!(resp.status, 400);

    inject_json(&sim, r#"{"kind":"gzip"}"#);
    let resp = post_soap(&sim, &ops);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-encoding"), Some("gzip"));
    assert_eq!(resp.header("content-type"), Some("text/xml; charset=utf-8"));
    assert_ne!(resp.body, full.body);
    assert!(resp.body.len() < full.body.len());
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&resp.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, full.body);
    sim.inject_fault(Fault::gzip());
    assert_eq!(
        post_soap(&sim, &ops).header("content-encoding"),
        Some("gzip")
    );
    assert_eq!(post_soap(&sim, &ops).header("content-encoding"), None);

    inject_json(&sim, r#"{"kind":"bom"}"#);
    let resp = post_soap(&sim, &ops);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/xml; charset=utf-8"));
    assert_eq!(resp.body[..3], [0xEF, 0xBB, 0xBF]);
    assert_eq!(resp.body[3..], full.body);
    sim.inject_fault(Fault::bom());
    let resp = post_xml(&sim, LOGIN);
    assert!(resp.body.starts_with(b"\xEF\xBB\xBF<?xml"));
}

#[test]
fn normal_responses_have_a_content_length_and_chunked_is_chunked() {
    let sim = start(50);
    let full = post_soap(&sim, &list_all_users());
    assert!(!full.chunked);
    assert_eq!(
        full.header("content-length"),
        Some(full.body.len().to_string().as_str())
    );
    let login = post_xml(&sim, LOGIN);
    assert!(!login.chunked && login.header("content-length").is_some());

    inject_json(&sim, r#"{"kind":"chunked"}"#);
    let mut resp = RawResponse::post(&sim, &list_all_users());
    assert!(resp.head.starts_with("HTTP/1.1 200"), "{}", resp.head);
    let head = resp.head.to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    let mut sizes = Vec::new();
    let mut body = Vec::new();
    resp.for_each_chunk(|chunk| {
        sizes.push(chunk.len());
        body.extend_from_slice(chunk);
    });
    assert_eq!(body, full.body);
    assert!(sizes.len() >= 8, "{sizes:?}");
    // A short answer comes in several chunks too.
    sim.inject_fault(Fault::chunked());
    let resp = post_xml(&sim, LOGIN);
    assert!(resp.chunked);
    assert_eq!(resp.body, login.body);
}

#[test]
fn fault_billion_laughs() {
    let sim = start(5);
    let mut subset = r#"<!ENTITY lol "lol">"#.to_owned();
    for level in 1..10 {
        let before = match level {
            1 => "lol".to_owned(),
            n => format!("lol{}", n - 1),
        };
        subset.push_str(&format!(
            r#"<!ENTITY lol{level} "{}">"#,
            format!("&{before};").repeat(10)
        ));
    }
    // Only a user list triggers it (without an operation filter).
    inject_json(&sim, r#"{"kind":"billion-laughs"}"#);
    assert_eq!(post_soap(&sim, LOGIN).status, 200);
    let resp = post_soap(
        &sim,
        &format!("{}<OnlineData.listEntitiesRq/>", list_all_users()),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/xml; charset=utf-8"));
    let text = resp.text();
    assert!(text.starts_with(&format!(
        r#"<?xml version="1.0" encoding="utf-8"?><!DOCTYPE soap:Envelope [{subset}]><soap:Envelope "#
    )));
    assert!(text.contains(concat!(
        r#"<Session.loginRs status="Success"/><OnlineData.listEntityUsersRs status="Success">"#,
        r#"<Users><User id="1" name="lol" email="lol@example.com" status="Active" fullName="Lol">"#,
        r#"&lol9;<UserEntityMemberships/><Roles/></User></Users></OnlineData.listEntityUsersRs>"#,
        r#"<OnlineData.listEntitiesRs status="Success"><Entities>"#
    )));
    assert!(text.ends_with(SOAP_SUFFIX));
    let Scan { refs, doctype, .. } = scan_xml(&resp.body);
    let mut path: Vec<String> = SOAP_RESPONSES.iter().map(|s| s.to_string()).collect();
    path.extend(["OnlineData.listEntityUsersRs", "Users", "User"].map(String::from));
    assert_eq!(refs, [(path, "lol9".to_owned())]);
    assert_eq!(doctype.unwrap().trim(), format!("soap:Envelope [{subset}]"));

    // XML mode: the root is `server`.
    sim.inject_fault(Fault::billion_laughs());
    let text = post_xml(&sim, &list_all_users()).text();
    assert!(text.starts_with(&format!(
        r#"<?xml version="1.0" encoding="utf-8"?><!DOCTYPE server [{subset}]><server><responses><Session.loginRs "#
    )));
    let refs = scan_xml(text.as_bytes()).refs;
    assert_eq!(refs.len(), 1);
    assert_eq!(
        refs[0].0[..3],
        ["server", "responses", "OnlineData.listEntityUsersRs"]
    );
}

#[test]
fn fault_external_entity() {
    let sim = start(5);
    inject_json(
        &sim,
        r#"{"kind":"external-entity","operation":"OnlineData.listEntityUsersRq"}"#,
    );
    let resp = post_soap(&sim, &list_all_users());
    assert_eq!(resp.status, 200);
    let text = resp.text();
    assert!(text.starts_with(concat!(
        r#"<?xml version="1.0" encoding="utf-8"?>"#,
        r#"<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><soap:Envelope "#
    )));
    assert!(text.contains(concat!(
        r#"<OnlineData.listEntityUsersRs status="Success"><Users><User id="1" name="xxe" email="xxe@example.com" status="Active" fullName="Xxe">"#,
        r#"&xxe;<UserEntityMemberships/><Roles/></User></Users></OnlineData.listEntityUsersRs>"#
    )));
    let Scan { refs, doctype, .. } = scan_xml(&resp.body);
    let mut path: Vec<String> = SOAP_RESPONSES.iter().map(|s| s.to_string()).collect();
    path.extend(["OnlineData.listEntityUsersRs", "Users", "User"].map(String::from));
    assert_eq!(refs, [(path, "xxe".to_owned())]);
    assert!(
        doctype
            .unwrap()
            .contains(r#"<!ENTITY xxe SYSTEM "file:///etc/passwd">"#)
    );

    sim.inject_fault(Fault::external_entity());
    let text = post_xml(&sim, &list_all_users()).text();
    assert!(text.starts_with(
        r#"<?xml version="1.0" encoding="utf-8"?><!DOCTYPE server [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><server><responses>"#
    ));
    assert!(text.contains("&xxe;"));
    assert!(!post_xml(&sim, &list_all_users()).text().contains("&xxe;"));
}

#[test]
fn fault_deep_nesting() {
    let sim = start(5);
    inject_json(&sim, r#"{"kind":"deep-nesting"}"#);
    assert_eq!(sim.pending_faults(), [Fault::deep_nesting(10_000)]);
    let resp = post_soap(&sim, LOGIN);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/xml; charset=utf-8"));
    let expected = format!(
        "{SOAP_PREFIX}{}{}{SOAP_SUFFIX}",
        "<a>".repeat(10_000),
        "</a>".repeat(10_000)
    );
    assert!(resp.text() == expected, "{} bytes", resp.body.len());
    assert_eq!(scan_xml(&resp.body).depth, SOAP_RESPONSES.len() + 10_000);

    sim.inject_fault(Fault::deep_nesting(3));
    assert_eq!(
        post_xml(&sim, LOGIN).text(),
        r#"<?xml version="1.0" encoding="utf-8"?><server><responses><a><a><a></a></a></a></responses></server>"#
    );
}

#[test]
fn fault_huge_attribute_is_streamed() {
    let sim = start(5);
    let bytes = 100_000_000;
    inject_json(&sim, r#"{"kind":"huge-attribute","bytes":100000000}"#);
    // Not triggered without a user list.
    assert_eq!(post_soap(&sim, LOGIN).status, 200);
    let mut resp = RawResponse::post(&sim, &list_all_users());
    assert!(resp.head.starts_with("HTTP/1.1 200"), "{}", resp.head);
    let head = resp.head.to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(head.contains("content-type: text/xml"), "{head}");
    // The value arrives in chunks of `x` of at most 1 MiB; the rest of the
    // document around it is kept, with `{X}` in place of the value.
    let (mut xs, mut x_chunks, mut largest) = (0, 0, 0);
    let mut rest = Vec::new();
    resp.for_each_chunk(|chunk| {
        if !chunk.is_empty() && chunk.iter().all(|&b| b == b'x') {
            if x_chunks == 0 {
                rest.extend_from_slice(b"{X}");
            }
            xs += chunk.len();
            x_chunks += 1;
            largest = largest.max(chunk.len());
        } else {
            rest.extend_from_slice(chunk);
        }
    });
    assert_eq!(xs, bytes);
    assert!(largest <= 1 << 20, "{largest}");
    assert_eq!(x_chunks, bytes.div_ceil(1 << 20));
    assert_eq!(
        String::from_utf8(rest).unwrap(),
        format!(
            "{SOAP_PREFIX}{}{}{SOAP_SUFFIX}",
            r#"<Session.loginRs status="Success"/><OnlineData.listEntityUsersRs status="Success">"#,
            r#"<Users><User id="1" name="{X}" email="huge@example.com" status="Active" fullName="Huge"><UserEntityMemberships/><Roles/></User></Users></OnlineData.listEntityUsersRs>"#
        )
    );

    // A small one, whole, in XML mode.
    sim.inject_fault(Fault::huge_attribute(5));
    let resp = post_xml(&sim, &list_all_users());
    assert!(resp.chunked);
    let users = responses(&resp).children[1].child("Users").clone();
    assert_eq!(users.children.len(), 1);
    assert_eq!(users.children[0].attr("name"), Some("xxxxx"));
}

// ---- data changes through the Rust API ----

#[test]
fn rust_api_roles_privileges_entities() {
    let sim = start(10);
    let senior = "Underwriter \"Senior\" & <Lead>";
    assert_eq!(sim.dataset().user("o'brien&co").unwrap().roles.len(), 2);
    // Cached listings follow the change.
    let before = list_users(&sim, "1");
    assert!(sim.remove_role(senior));
    assert!(!sim.remove_role(senior));
    let data = sim.dataset();
    assert!(data.role(senior).is_none());
    assert_eq!(data.user("o'brien&co").unwrap().roles, ["Underwriter"]);
    assert!(
        data.users
            .iter()
            .all(|u| !u.roles.iter().any(|r| r == senior))
    );
    let after = list_users(&sim, "1");
    let roles_of = |list: &El, name: &str| {
        let user = list.child("Users").children.iter();
        let user = user.clone().find(|u| u.attr("name") == Some(name)).unwrap();
        list_attrs(user, "Roles", "Role", "name").len()
    };
    assert_eq!(roles_of(&before, "o'brien&co"), 2);
    assert_eq!(roles_of(&after, "o'brien&co"), 1);
    for (el, u) in after.child("Users").children.iter().zip(&data.users) {
        assert_user(el, u);
    }

    // set_role adds, then replaces by name (id as given).
    let role = Role {
        id: 500,
        name: "Reopener".into(),
        description: "d".into(),
        privileges: vec![],
    };
    sim.set_role(role.clone());
    assert_eq!(sim.dataset().role("Reopener"), Some(&role));
    let count = sim.dataset().roles.len();
    let replaced = Role {
        description: "Reopens claims".into(),
        privileges: vec!["Claims.Reopen".into()],
        ..role
    };
    sim.set_role(replaced.clone());
    assert_eq!(sim.dataset().role("Reopener"), Some(&replaced));
    assert_eq!(sim.dataset().roles.len(), count);

    // Privileges: set, replace, remove (also from roles).
    let privilege = Privilege {
        id: 600,
        name: "Claims.Reopen".into(),
        description: "Reopen".into(),
        kind: "Action".into(),
    };
    sim.set_privilege(privilege.clone());
    let replaced = Privilege {
        kind: "Screen".into(),
        ..privilege
    };
    sim.set_privilege(replaced.clone());
    let data = sim.dataset();
    assert_eq!(data.privilege("Claims.Reopen"), Some(&replaced));
    assert_eq!(
        data.privileges
            .iter()
            .filter(|p| p.name == "Claims.Reopen")
            .count(),
        1
    );
    assert!(sim.remove_privilege("Claims.Reopen"));
    assert!(!sim.remove_privilege("Claims.Reopen"));
    assert!(
        sim.dataset()
            .role("Reopener")
            .unwrap()
            .privileges
            .is_empty()
    );

    // Entities: add one, list its members, remove it (and the memberships).
    sim.set_entity(Entity {
        id: 70,
        name: "Sales Agency".into(),
        kind: "Agency".into(),
    });
    let mut user = sim.dataset().user("user000009").unwrap().clone();
    user.entities.push("Sales Agency".into());
    sim.set_user(user);
    let users = list_users(&sim, "70");
    assert_eq!(users.child("Users").children.len(), 1);
    sim.set_entity(Entity {
        id: 70,
        name: "Sales Agency".into(),
        kind: "Entity".into(),
    });
    assert_eq!(sim.dataset().entity("Sales Agency").unwrap().kind, "Entity");
    assert!(sim.remove_entity("Sales Agency"));
    assert!(!sim.remove_entity("Sales Agency"));
    let data = sim.dataset();
    assert!(data.entity("Sales Agency").is_none());
    assert!(
        data.users
            .iter()
            .all(|u| !u.entities.iter().any(|e| e == "Sales Agency"))
    );
    assert_eq!(list_users(&sim, "70").attr("status"), Some("Failure"));
}

/// `dcsim --help` says where the endpoint is, how credentials are set, the admin API with a
/// pointer to the README, the token gateway, and an example.
#[test]
fn help_names_the_endpoint_credentials_admin_api_and_token_gateway() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dcsim"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = help.lines().map(str::trim_end).collect();
    for expected in [
        "  POST http://127.0.0.1:PORT/dc/services   the Duck Creek XML/SOAP endpoint (SOAP 1.1 or a bare",
        "                                           --set SOAP_ENDPOINT=http://127.0.0.1:PORT/dc/services",
        "  user name   --username (default dcadmin)",
        "  password    the environment variable DCSIM_PASSWORD (default dcadmin-secret); never printed",
        "Admin API (JSON, on the same port; the README's \"Try it by hand\" shows it in use):",
        "  GET|PUT|DELETE /admin/users/NAME          a user; a PUT body is the whole user as GET",
        "  POST /admin/faults                        make the next matching requests misbehave, e.g.",
        "  DELETE /admin/stalls                      release stalled and paused responses",
        "  The full table: tests/simulator/src/admin.rs; every fault: tests/simulator/src/fault.rs.",
        "  --token-lifetime-ms N turns it on: POST http://127.0.0.1:PORT/oauth/token issues tokens",
        "  DCSIM_PASSWORD=demo-secret dcsim --users 20 --port 8099",
    ] {
        assert!(
            lines.contains(&expected),
            "the help lacks {expected:?}:\n{help}"
        );
    }
}
