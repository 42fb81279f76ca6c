use std::io::BufReader;

use super::*;

const SOAP_USERS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<processRequestsAsDOMResponse xmlns="http://www.duckcreek.com/"><result><server><responses>
<Session.loginRs status="Success"/>
<OnlineData.listEntityUsersRs status="Success"><Users>
<User id="1" name="o'brien&amp;co" fullName="Tom &quot;T&quot; O'Brien &lt;Claims&gt;" email="ob@example.com">
  <UserEntityMemberships><UserEntityMembership entityName="R&amp;D"/><UserEntityMembership entityName="Zürich"/></UserEntityMemberships>
  <Roles><Role name="Adjuster"/></Roles>
  <Note>first &#x263A; <![CDATA[<raw>]]> last</Note>
</User>
<User id="2" name="jürgen"><UserEntityMemberships/><Roles/></User>
</Users></OnlineData.listEntityUsersRs>
<Session.closeRs status="Success"/>
</responses></server></result></processRequestsAsDOMResponse></soap:Body></soap:Envelope>"#;

const USERS_PATH: &str = "Body.processRequestsAsDOMResponse.result.server.responses.OnlineData~dot#listEntityUsersRs.Users.User";

fn paths(texts: &[&str]) -> Vec<Path> {
    texts
        .iter()
        .map(|text| Path::parse(text).unwrap())
        .collect()
}

fn read_all(
    body: &str,
    record: &str,
    values: &[&str],
    chunk: usize,
) -> Result<Vec<Vec<Vec<String>>>, ResponseError> {
    let reader = BufReader::with_capacity(chunk, body.as_bytes());
    let mut records = RecordReader::new(reader, &Path::parse(record).unwrap(), paths(values));
    let mut found = Vec::new();
    while let Some(record) = records.next_record()? {
        found.push(record.values);
    }
    Ok(found)
}

fn strings(values: &[&[&str]]) -> Vec<Vec<String>> {
    values
        .iter()
        .map(|list| list.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[test]
fn reads_records_with_unescaped_values_whatever_the_chunk_size() {
    let values = [
        "@name",
        "@fullName",
        "UserEntityMemberships.UserEntityMembership.@entityName",
        "Roles.Role.@name",
        "Note",
        "@missing",
    ];
    for chunk in [1, 2, 3, 7, 64, 8192] {
        let records = read_all(SOAP_USERS, USERS_PATH, &values, chunk).unwrap();
        assert_eq!(
            records,
            vec![
                strings(&[
                    &["o'brien&co"],
                    &[r#"Tom "T" O'Brien <Claims>"#],
                    &["R&D", "Zürich"],
                    &["Adjuster"],
                    &["first ☺ <raw> last"],
                    &[]
                ]),
                strings(&[&["jürgen"], &[], &[], &[], &[], &[]]),
            ],
            "chunk size {chunk}"
        );
    }
}

#[test]
fn children_matches_any_element_name() {
    let body = r#"<server><responses><OnlineData.listEntitiesRs status="Success"><Entities>
        <Entity id="1" name="Head Office"/><Agency id="4" name="Agency 4"/></Entities></OnlineData.listEntitiesRs></responses></server>"#;
    let records = read_all(
        body,
        "responses.OnlineData~dot#listEntitiesRs.Entities.children()",
        &["@id", "@name"],
        16,
    )
    .unwrap();
    assert_eq!(
        records,
        vec![
            strings(&[&["1"], &["Head Office"]]),
            strings(&[&["4"], &["Agency 4"]])
        ]
    );
}

#[test]
fn an_empty_container_yields_no_record_and_no_error() {
    let body =
        r#"<server><responses><X.listRs status="Success"><Users/></X.listRs></responses></server>"#;
    assert_eq!(
        read_all(body, "responses.X~dot#listRs.Users.User", &["@id"], 8).unwrap(),
        Vec::<Vec<Vec<String>>>::new()
    );
}

#[test]
fn a_missing_container_is_reported_with_what_was_found() {
    let body = r#"<server><responses><X.listRs status="Success"></X.listRs></responses></server>"#;
    assert_eq!(
        read_all(body, "responses.X~dot#listRs.Users.User", &["@id"], 8),
        Err(ResponseError::PathNotFound {
            found: "responses.X~dot#listRs".into(),
            wanted: "responses.X~dot#listRs.Users.User".into()
        })
    );
}

#[test]
fn failing_status_is_an_operation_failure_with_its_message() {
    let body = r#"<server><responses><Session.loginRs status="Success"/>
        <OnlineData.listEntityUsersRs status="Failure"><ExtendedStatus><ExtendedStatusCd>NotFound</ExtendedStatusCd>
        <ExtendedStatusDesc>Entity 9 does not exist</ExtendedStatusDesc></ExtendedStatus></OnlineData.listEntityUsersRs></responses></server>"#;
    assert_eq!(
        read_all(body, "responses.x", &[], 8),
        Err(ResponseError::OperationFailed(OperationFailure {
            operation: "OnlineData.listEntityUsersRs".into(),
            status: "Failure".into(),
            message: Some("Entity 9 does not exist".into()),
        }))
    );
}

#[test]
fn a_refused_login_is_told_apart() {
    let body = r#"<server><responses><Session.loginRs status="Failure" message="Invalid user name or password"/></responses></server>"#;
    assert_eq!(
        read_all(body, "responses.x", &[], 8),
        Err(ResponseError::LoginRefused(OperationFailure {
            operation: "Session.loginRs".into(),
            status: "Failure".into(),
            message: Some("Invalid user name or password".into()),
        }))
    );
}

#[test]
fn soap_faults_of_both_versions_are_read() {
    let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
        <faultcode>s:Client</faultcode><faultstring>Malformed request: x &amp; y</faultstring><detail><message>line 1</message></detail>
        </s:Fault></s:Body></s:Envelope>"#;
    let soap12 = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>
        <env:Code><env:Value>env:Sender</env:Value></env:Code><env:Reason><env:Text xml:lang="en">Bad</env:Text></env:Reason>
        </env:Fault></env:Body></env:Envelope>"#;
    assert_eq!(
        read_all(soap11, "Body.x", &[], 5),
        Err(ResponseError::Fault(SoapFault {
            code: "s:Client".into(),
            reason: "Malformed request: x & y".into(),
            detail: Some("line 1".into())
        }))
    );
    assert_eq!(
        read_all(soap12, "Body.x", &[], 5),
        Err(ResponseError::Fault(SoapFault {
            code: "env:Sender".into(),
            reason: "Bad".into(),
            detail: None
        }))
    );
}

#[test]
fn broken_bodies_are_malformed_not_panics() {
    let cases = [
        ("Gateway says hello: not XML at all", "not XML"),
        ("", "empty"),
        (
            "<server><responses><X.listRs status=\"Success\"><Users><User id=\"1\"/>",
            "cut short",
        ),
        ("<server><responses></server>", "expected `</responses>`"),
        (
            "<!DOCTYPE lolz [<!ENTITY lol \"lol\">]><server/>",
            "DOCTYPE",
        ),
        ("<server>&lol;</server>", "unknown entity"),
        ("<server/><server/>", "second root"),
        ("<server/>trailing", "after the root"),
    ];
    for (body, message) in cases {
        match read_all(body, "responses.x", &[], 4) {
            Err(ResponseError::Malformed(found)) => {
                assert!(found.contains(message), "{body}: {found}")
            }
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn deep_nesting_is_refused() {
    let body = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    match read_all(&body, "a.a", &[], 4096) {
        Err(ResponseError::Malformed(found)) => {
            assert!(found.contains("deeper than 256"), "{found}")
        }
        other => panic!("{other:?}"),
    }
}
