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

/// Reads `body` (in chunks of `chunk` bytes) to its end or its first error.
fn check(body: &str, chunk: usize) -> Result<(), ResponseError> {
    let reader = BufReader::with_capacity(chunk, body.as_bytes());
    let mut checker = RecordReader::checking_only(reader);
    while checker.next_record()?.is_some() {}
    Ok(())
}

const SECRET_REASON: &str = r#"Invalid password Pw"<&>'-SECRET-1234"#;

#[test]
fn a_fault_string_is_kept_as_the_server_wrote_it() {
    let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
        <faultcode>s:Client</faultcode><faultstring>Invalid password Pw&quot;&lt;&amp;&gt;'-SECRET-1234</faultstring>
        <detail><message>  line&#32;1:&#x9;<![CDATA[<b>]]>&amp;
  next  </message><code>7</code></detail></s:Fault></s:Body></s:Envelope>"#;
    let soap12 = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault>
        <env:Code><env:Value>env:Sender</env:Value></env:Code><env:Reason><env:Text xml:lang="en">
        Invalid password Pw&quot;&lt;&amp;&gt;&apos;-SECRET-1234 </env:Text></env:Reason>
        </env:Fault></env:Body></env:Envelope>"#;
    for chunk in [1, 3, 7, 8192] {
        assert_eq!(
            check(soap11, chunk),
            Err(ResponseError::Fault(SoapFault {
                code: "s:Client".into(),
                reason: SECRET_REASON.into(),
                detail: Some("line 1:\t<b>&\n  next 7".into()),
            })),
            "chunk {chunk}"
        );
        assert_eq!(
            check(soap12, chunk),
            Err(ResponseError::Fault(SoapFault {
                code: "env:Sender".into(),
                reason: SECRET_REASON.into(),
                detail: None,
            })),
            "chunk {chunk}"
        );
    }
}

#[test]
fn a_long_fault_string_is_cut_at_the_bound_with_an_ellipsis() {
    let long = "&amp;".repeat(MAX_MESSAGE + 10);
    let body = format!(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>{long}</faultstring></s:Fault></s:Body></s:Envelope>"#
    );
    assert_eq!(
        check(&body, 64),
        Err(ResponseError::Fault(SoapFault {
            code: "s:Server".into(),
            reason: format!("{}…", "&".repeat(MAX_MESSAGE)),
            detail: None,
        }))
    );
}

#[test]
fn a_failure_message_is_kept_as_the_server_wrote_it() {
    let body = r#"<server><responses><Session.loginRs status="Success"/>
        <Security.lockUserAccountRs status="Failure"><ExtendedStatus><ExtendedStatusCd>Denied</ExtendedStatusCd>
        <ExtendedStatusDesc> Invalid password Pw&quot;&lt;&amp;&gt;'-SECRET-1234
</ExtendedStatusDesc><ExtendedStatusDesc><![CDATA[a<b]]>&#13;&#10;c</ExtendedStatusDesc></ExtendedStatus></Security.lockUserAccountRs></responses></server>"#;
    for chunk in [1, 5, 8192] {
        assert_eq!(
            check(body, chunk),
            Err(ResponseError::OperationFailed(OperationFailure {
                operation: "Security.lockUserAccountRs".into(),
                status: "Failure".into(),
                message: Some(format!("{SECRET_REASON}; a<b\r\nc")),
            })),
            "chunk {chunk}"
        );
    }
}

#[test]
fn a_token_answers_fault_is_kept_as_the_server_wrote_it() {
    let body = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>Invalid password Pw&quot;&lt;&amp;&gt;'-SECRET-1234</faultstring></s:Fault></s:Body></s:Envelope>"#;
    assert_eq!(
        first_value(body, &Path::parse("Body.TokenRs.@token").unwrap()),
        Err(ResponseError::Fault(SoapFault {
            code: "s:Client".into(),
            reason: SECRET_REASON.into(),
            detail: None,
        }))
    );
}

#[test]
fn characters_xml_forbids_are_refused_with_their_place() {
    let users = |user: &str| {
        format!(
            "<server><responses><X.listRs status=\"Success\"><Users>{user}</Users></X.listRs></responses></server>"
        )
    };
    let prefix = users("").find("</Users>").unwrap();
    let cases: Vec<(String, String)> = vec![
        (
            users("<User id=\"1\" name=\"ali\u{0}ce\"/>"),
            format!(
                "the character U+0000 in the tag `<User>`, which XML 1.0 forbids (at byte {})",
                prefix + 22
            ),
        ),
        (
            users("<User id=\"1\" name=\"alice\"><Note>x\u{1}</Note></User>"),
            format!(
                "the character U+0001 in the text of `<Note>`, which XML 1.0 forbids (at byte {})",
                prefix + 33
            ),
        ),
        (
            users("<User id=\"1\" name=\"a\u{b}\"></User>"),
            format!(
                "the character U+000B in the tag `<User>`, which XML 1.0 forbids (at byte {})",
                prefix + 20
            ),
        ),
        (
            users("<User name=\"\u{FFFE}\"/>"),
            format!(
                "the character U+FFFE in the tag `<User>`, which XML 1.0 forbids (at byte {})",
                prefix + 12
            ),
        ),
        (
            users("<User>\u{FFFF}</User>"),
            format!(
                "the character U+FFFF in the text of `<User>`, which XML 1.0 forbids (at byte {})",
                prefix + 6
            ),
        ),
        (
            users("<User><![CDATA[\u{1F}]]></User>"),
            format!(
                "the character U+001F in the text of `<User>`, which XML 1.0 forbids (at byte {})",
                prefix + 15
            ),
        ),
        (
            users("<User>&#0;</User>"),
            format!(
                "a character reference to U+0000, a character XML 1.0 forbids in the text of `<User>` (at byte {})",
                prefix + 6
            ),
        ),
        (
            users("<User>ab&#x1b;</User>"),
            format!(
                "a character reference to U+001B, a character XML 1.0 forbids in the text of `<User>` (at byte {})",
                prefix + 8
            ),
        ),
    ];
    for (body, message) in cases {
        for chunk in [1, 7, 8192] {
            assert_eq!(
                check(&body, chunk),
                Err(ResponseError::Malformed(message.clone())),
                "{body:?}, chunk {chunk}"
            );
        }
    }
    // What XML allows stays allowed: TAB, LF, CR (as references too), other characters of
    // U+E000-U+FFFD, and the characters beyond.
    let allowed = users(
        "<User id=\"1\" name=\"a&#9;&#10;&#13;b\" note=\"\u{FFFD}\u{EFFF}\u{10FFFF}\">\t\r\n&#xD;\u{FEFF}</User>",
    );
    let records = read_all(
        &allowed,
        "responses.X~dot#listRs.Users.User",
        &["@name", "@note"],
        7,
    )
    .unwrap();
    assert_eq!(
        records,
        vec![strings(&[&["a\t\n\rb"], &["\u{FFFD}\u{EFFF}\u{10FFFF}"]])]
    );
}

#[test]
fn a_reference_to_a_forbidden_character_in_a_value_read_is_refused() {
    let body = "<server><responses><X.listRs status=\"Success\"><Users><User name=\"ali&#0;ce\"/><User name=\"b&#x7;\"/></Users></X.listRs></responses></server>";
    let first_tag_end = body.find("<User name=\"b").unwrap();
    for chunk in [1, 7, 8192] {
        assert_eq!(
            read_all(body, "responses.X~dot#listRs.Users.User", &["@name"], chunk),
            Err(ResponseError::Malformed(format!(
                "bad value of `name` in `<User>`: a character reference to U+0000, a character XML 1.0 forbids (at byte {first_tag_end})"
            )))
        );
    }
    let second = body.replace("ali&#0;ce", "alice");
    let second_tag_end = second.find("</Users>").unwrap();
    assert_eq!(
        read_all(&second, "responses.X~dot#listRs.Users.User", &["@name"], 7),
        Err(ResponseError::Malformed(format!(
            "bad value of `name` in `<User>`: a character reference to U+0007, a character XML 1.0 forbids (at byte {second_tag_end})"
        )))
    );
}

#[test]
fn the_forbidden_character_scan_looks_at_every_byte() {
    // Every position in and across the 8-byte words.
    for length in [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100] {
        for at in 0..length {
            let mut bytes = vec![b'a'; length];
            bytes[at] = 0;
            assert_eq!(forbidden_at(&bytes), Some(at), "{length} {at}");
            let mut text = "a".repeat(length).into_bytes();
            text.splice(at..at + 1, "\u{FFFF}".bytes());
            assert_eq!(forbidden_at(&text), Some(at), "{length} {at}");
        }
        assert_eq!(forbidden_at(&vec![b'\n'; length]), None);
    }
    assert_eq!(forbidden_at("\u{FEFF}\u{FFFD}\u{EFBF}".as_bytes()), None);
    // Every byte value at every place of a word, whatever the bytes around it.
    for background in [b'a', 0x00, 0x1F, 0x20, 0x7F, 0x80, 0xBF, 0xEE, 0xF0, 0xFF] {
        for at in 0..16 {
            for value in 0..=255u8 {
                let mut bytes = vec![background; 16];
                bytes[at] = value;
                let expected = (0..bytes.len()).find(|&i| match bytes[i] {
                    b'\t' | b'\n' | b'\r' => false,
                    0..=0x1F => true,
                    0xEF => {
                        bytes[i + 1..].starts_with(&[0xBF, 0xBE])
                            || bytes[i + 1..].starts_with(&[0xBF, 0xBF])
                    }
                    _ => false,
                });
                assert_eq!(
                    forbidden_at(&bytes),
                    expected,
                    "{background:#x} {at} {value:#x}"
                );
            }
        }
    }
}
