use super::*;
use crate::error::{OperationFailure, SoapFault};
use crate::transport::canned::{Canned, CannedResponse, canned, client};

fn soap(responses: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><processRequestsAsDOMResponse><result><server><responses><Session.loginRs status="Success"/>{responses}<Session.closeRs status="Success"/></responses></server></result></processRequestsAsDOMResponse></soap:Body></soap:Envelope>"#
    )
}

fn ok(responses: &str) -> Result<(u16, String), String> {
    Ok((200, soap(responses)))
}

const USERS: &str = r#"<OnlineData.listEntityUsersRs status="Success"><Users>
<User id="1" name="o'brien&amp;co" email="ob@example.com" status="Active" fullName="Tom &quot;T&quot; &lt;Claims&gt;"><UserEntityMemberships><UserEntityMembership entityName="R&amp;D"/></UserEntityMemberships><Roles><Role name="Adjuster"/><Role name="Adjuster"/><Role name="Lead"/></Roles></User>
<User id="2" name="jürgen" email="j@example.com" status="Locked" fullName="Jürgen"><UserEntityMemberships/><Roles/></User>
<User id="3" name="c" status="Active"><UserEntityMemberships/><Roles/></User>
</Users></OnlineData.listEntityUsersRs>"#;

fn config(overrides: &[(&str, &str)]) -> Config {
    crate::config::tests::shipped_config(overrides)
}

fn run_all(
    config: Config,
    transport: &mut Canned,
    scope: ImportScope,
    max_batch: usize,
) -> (Vec<Batch>, Option<ConnectorError>) {
    let mut run = ImportRun::new(config, client(transport), scope, max_batch).unwrap();
    let mut batches = Vec::new();
    loop {
        match run.next_batch() {
            Ok(Some(batch)) => batches.push(batch),
            Ok(None) => return (batches, None),
            Err(error) => {
                assert_eq!(
                    run.next_batch(),
                    Err(error.clone()),
                    "a failed run stays failed"
                );
                return (batches, Some(error));
            }
        }
    }
}

fn link(entitlement_type: &str, value: &str) -> EntitlementRef {
    EntitlementRef {
        entitlement_type: entitlement_type.into(),
        value: value.into(),
    }
}

fn columns(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn imports_accounts_and_entitlements_in_bounded_batches() {
    let mut transport = canned(vec![
        ok(USERS),
        ok(
            r#"<Security.listRolesRs status="Success"><Roles><Role id="7" name="Adjuster" description="Adjusts &amp; settles"/></Roles></Security.listRolesRs>"#,
        ),
        ok(
            r#"<OnlineData.listEntitiesRs status="Success"><Entities><Entity id="1" name="Head Office"/><Agency id="2" name="R&amp;D"/></Entities></OnlineData.listEntitiesRs>"#,
        ),
        ok(
            r#"<Security.listPrivilegesRs status="Success"><Privileges/></Security.listPrivilegesRs>"#,
        ),
    ]);
    let (batches, error) = run_all(config(&[]), &mut transport, ImportScope::All, 2);
    assert_eq!(error, None);
    let obrien = Account {
        name: "o'brien&co".into(),
        columns: columns(&[
            ("name", "o'brien&co"),
            ("accountID", "1"),
            ("customproperty1", "ob@example.com"),
            ("customproperty2", "Active"),
            ("displayname", r#"Tom "T" <Claims>"#),
        ]),
        entitlements: vec![
            link("Entity", "R&D"),
            link("Role", "Adjuster"),
            link("Role", "Lead"),
        ],
    };
    let jurgen = Account {
        name: "jürgen".into(),
        columns: columns(&[
            ("name", "jürgen"),
            ("accountID", "2"),
            ("customproperty1", "j@example.com"),
            ("customproperty2", "Locked"),
            ("displayname", "Jürgen"),
        ]),
        entitlements: vec![],
    };
    let c = Account {
        name: "c".into(),
        columns: columns(&[
            ("name", "c"),
            ("accountID", "3"),
            ("customproperty2", "Active"),
        ]),
        entitlements: vec![],
    };
    let entitlement = |entitlement_type: &str, value: &str, cols: &[(&str, &str)]| Entitlement {
        entitlement_type: entitlement_type.into(),
        value: value.into(),
        columns: columns(cols),
    };
    assert_eq!(
        batches,
        vec![
            Batch::Accounts(vec![obrien, jurgen]),
            Batch::Accounts(vec![c]),
            Batch::Entitlements(vec![entitlement(
                "Role",
                "Adjuster",
                &[("entitlementID", "7"), ("description", "Adjusts & settles")]
            )]),
            Batch::Entitlements(vec![
                entitlement("Entity", "Head Office", &[("entitlementID", "1")]),
                entitlement("Entity", "R&D", &[("entitlementID", "2")])
            ]),
        ]
    );
    assert_eq!(transport.seen.len(), 4);
}

#[test]
fn bound_credentials_are_escaped_in_the_envelope() {
    let mut transport = canned(vec![ok(USERS)]);
    let (_, error) = run_all(
        config(&[("USERNAME", "svc\"/><x y=\""), ("PASSWORD", "p<&>'")]),
        &mut transport,
        ImportScope::Accounts,
        0,
    );
    assert_eq!(error, None);
    let body = &transport.seen[0].body;
    assert!(body.contains(r#"<Session.loginRq userName="svc&quot;/&gt;&lt;x y=&quot;" password="p&lt;&amp;&gt;&apos;">"#), "{body}");
    assert_eq!(
        transport.seen[0].headers,
        vec![(
            "Content-Type".to_string(),
            "text/xml; charset=utf-8".to_string()
        )]
    );
}

#[test]
fn scope_selects_calls() {
    let mut transport = canned(vec![
        ok(r#"<Security.listRolesRs status="Success"><Roles/></Security.listRolesRs>"#),
        ok(
            r#"<OnlineData.listEntitiesRs status="Success"><Entities/></OnlineData.listEntitiesRs>"#,
        ),
        ok(
            r#"<Security.listPrivilegesRs status="Success"><Privileges/></Security.listPrivilegesRs>"#,
        ),
    ]);
    let (batches, error) = run_all(config(&[]), &mut transport, ImportScope::Access, 0);
    assert_eq!((batches, error), (vec![], None));
    let operations: Vec<bool> = transport
        .seen
        .iter()
        .map(|r| r.body.contains("listEntityUsersRq"))
        .collect();
    assert_eq!(operations, vec![false, false, false]);
}

#[test]
fn each_account_calls_bind_the_account_and_deliver_details() {
    let plan = r#"{
        "REQUESTXML1": "<server><requests><OnlineData.listEntityUsersRq entityID=\"1\"/></requests></server>",
        "RESPONSEDATAPATH1": "responses.OnlineData~dot#listEntityUsersRs.Users.User",
        "ACCOUNTMAPPING1": "name:@name,accountID:@id",
        "REQUESTTYPE2": "EACHACCOUNT",
        "REQUESTXML2": "<server><requests><Detail.getRq userID=\"${account.accountID}\" name=\"${account.name}\"/></requests></server>",
        "RESPONSEDATAPATH2": "responses.Detail~dot#getRs.Detail",
        "ACCOUNTMAPPING2": "customproperty9:@title",
        "ENTITLEMENTMAPPING2": {"Role": "Extra.@role"}
    }"#;
    let xml = |inner: &str| {
        Ok((
            200,
            format!("<server><responses>{inner}</responses></server>"),
        ))
    };
    let mut transport = canned(vec![
        xml(
            r#"<OnlineData.listEntityUsersRs status="Success"><Users><User id="1" name="a&amp;b"/><User id="2" name="c"/></Users></OnlineData.listEntityUsersRs>"#,
        ),
        xml(
            r#"<Detail.getRs status="Success"><Detail title="Boss"><Extra role="X"/></Detail></Detail.getRs>"#,
        ),
        xml(r#"<Detail.getRs status="Success"><Detail title="Clerk"/></Detail.getRs>"#),
    ]);
    let (batches, error) = run_all(
        config(&[
            ("SOAP_OR_XML", "XML"),
            ("ACCOUNTS_IMPORT_JSON", plan),
            ("ENABLEACCOUNTJSON", ""),
            ("DISABLEACCOUNTJSON", ""),
        ]),
        &mut transport,
        ImportScope::Accounts,
        0,
    );
    assert_eq!(error, None);
    assert_eq!(batches.len(), 3);
    assert_eq!(
        batches[1],
        Batch::AccountDetails(vec![Account {
            name: "a&b".into(),
            columns: columns(&[("customproperty9", "Boss")]),
            entitlements: vec![link("Role", "X")]
        }])
    );
    assert_eq!(
        transport.seen[1].body,
        r#"<server><requests><Detail.getRq userID="1" name="a&amp;b"/></requests></server>"#
    );
    assert_eq!(
        transport.seen[2].body,
        r#"<server><requests><Detail.getRq userID="2" name="c"/></requests></server>"#
    );
}

fn failure(responses: Vec<Result<(u16, String), String>>) -> ConnectorError {
    let mut transport = canned(responses);
    let (_, error) = run_all(config(&[]), &mut transport, ImportScope::All, 0);
    error.expect("the import fails")
}

fn at_call(call: u32) -> Option<CallSite> {
    Some(CallSite {
        plan: "ACCOUNTS_IMPORT_JSON".into(),
        call,
        account: None,
    })
}

#[test]
fn failures_are_typed_and_placed() {
    let fault = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>Boom</faultstring></s:Fault></s:Body></s:Envelope>"#;
    let cases: Vec<(Vec<CannedResponse>, ErrorKind, u32)> = vec![
        // Failures that may pass are tried READ_TRIES (3) times.
        (vec![Err("connection refused".into()); 3], ErrorKind::Transport("connection refused".into()), 1),
        (vec![Ok((500, "Internal Server Error".into())); 3], ErrorKind::HttpStatus { status: 500, body_excerpt: "Internal Server Error".into() }, 1),
        (vec![Ok((500, fault.into()))], ErrorKind::SoapFault(SoapFault { code: "s:Server".into(), reason: "Boom".into(), detail: None }), 1),
        (vec![Ok((200, fault.into()))], ErrorKind::SoapFault(SoapFault { code: "s:Server".into(), reason: "Boom".into(), detail: None }), 1),
        (vec![Ok((401, String::new()))], ErrorKind::Authentication("the endpoint answered HTTP 401: check USERNAME and PASSWORD".into()), 1),
        (
            vec![Ok((200, soap("").replace(r#"<Session.loginRs status="Success"/>"#, r#"<Session.loginRs status="Failure"><ExtendedStatusDesc>Invalid user name or password</ExtendedStatusDesc></Session.loginRs>"#)))],
            ErrorKind::Authentication("Session.loginRs answered Failure: Invalid user name or password".into()),
            1,
        ),
        (
            vec![ok(USERS), ok(r#"<Security.listRolesRs status="Failure" message="no access"/>"#)],
            ErrorKind::OperationFailed(OperationFailure { operation: "Security.listRolesRs".into(), status: "Failure".into(), message: Some("no access".into()) }),
            2,
        ),
        (vec![Ok((200, "Gateway says hello".into()))], ErrorKind::UnexpectedResponse("the body is not XML: text before the root element: `Gateway says hello` (at byte 18)".into()), 1),
        (
            vec![ok("<Other.listRs status=\"Success\"/>")],
            ErrorKind::UnexpectedResponse("RESPONSEDATAPATH1 matched nothing: the response has no `Body.processRequestsAsDOMResponse.result.server.responses.OnlineData~dot#listEntityUsersRs.Users.User` (it has `Body.processRequestsAsDOMResponse.result.server.responses`); check the path against the response".into()),
            1,
        ),
    ];
    for (responses, kind, call) in cases {
        let error = failure(responses);
        assert_eq!(
            error,
            ConnectorError {
                kind: kind.clone(),
                site: at_call(call)
            },
            "{kind}"
        );
    }
}

#[test]
fn a_read_call_that_fails_for_a_reason_that_may_pass_is_sent_again() {
    let mut transport = canned(vec![
        Ok((503, "busy".into())),
        Err("connection reset".into()),
        ok(USERS),
        ok(""),
        ok(""),
        ok(""),
    ]);
    let (batches, error) = run_all(config(&[]), &mut transport, ImportScope::Accounts, 0);
    assert_eq!(error, None);
    assert_eq!(batches.len(), 1);
    assert_eq!(transport.seen.len(), 3, "two failures, then the answer");
}

#[test]
fn batches_never_exceed_the_maximum_when_a_record_maps_several_types() {
    let plan = r#"{"REQUESTTYPE1": "ENTITLEMENTS", "REQUESTXML1": "<server/>",
        "RESPONSEDATAPATH1": "Body.processRequestsAsDOMResponse.result.server.responses.Security~dot#listRolesRs.Roles.Role",
        "ENTITLEMENTMAPPING1": {"Role": {"entitlement_value": "@name"}, "RoleId": {"entitlement_value": "@id"}, "RoleText": {"entitlement_value": "@description"}}}"#;
    let roles = r#"<Security.listRolesRs status="Success"><Roles><Role id="1" name="a" description="x"/><Role id="2" name="b" description="y"/><Role id="3" name="c" description="z"/></Roles></Security.listRolesRs>"#;
    for max_batch in [1, 2, 4] {
        let mut transport = canned(vec![ok(roles)]);
        let (batches, error) = run_all(
            config(&[("ACCOUNTS_IMPORT_JSON", plan)]),
            &mut transport,
            ImportScope::Access,
            max_batch,
        );
        assert_eq!(error, None);
        let sizes: Vec<usize> = batches
            .iter()
            .map(|batch| match batch {
                Batch::Entitlements(found) => found.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(
            sizes.iter().all(|&size| size <= max_batch),
            "{max_batch}: {sizes:?}"
        );
        assert_eq!(
            sizes.iter().sum::<usize>(),
            9,
            "{max_batch}: every entitlement"
        );
    }
}

#[test]
fn a_truncated_response_fails_after_the_records_read_so_far() {
    let body = soap(USERS);
    let cut = body.find("<User id=\"3\"").unwrap() + 10;
    let mut transport = canned(vec![Ok((200, body[..cut].to_string()))]);
    let (batches, error) = run_all(config(&[]), &mut transport, ImportScope::All, 1);
    assert_eq!(batches.len(), 2, "the two complete records were delivered");
    let error = error.unwrap();
    assert_eq!(error.site, at_call(1));
    assert!(
        matches!(&error.kind, ErrorKind::UnexpectedResponse(m) if m.contains("cut short")),
        "{error}"
    );
}

#[test]
fn a_record_without_its_identity_is_an_error_not_a_silent_skip() {
    let error = failure(vec![ok(
        r#"<OnlineData.listEntityUsersRs status="Success"><Users><User id="9"/></Users></OnlineData.listEntityUsersRs>"#,
    )]);
    assert_eq!(
        error.kind,
        ErrorKind::UnexpectedResponse(
            "record 1 of the response: no value for `name`, the column that identifies accounts"
                .into()
        )
    );
}

#[test]
fn a_user_name_holding_a_character_xml_forbids_fails_the_call_with_its_place() {
    let users = USERS.replace(r#"name="jürgen""#, "name=\"jür\u{0}gen\"");
    let body = soap(&users);
    let at = body.find('\u{0}').unwrap();
    let mut transport = canned(vec![Ok((200, body.clone()))]);
    let (batches, error) = run_all(config(&[]), &mut transport, ImportScope::All, 0);
    assert_eq!(
        error.map(|error| error.to_string()),
        Some(format!(
            "ACCOUNTS_IMPORT_JSON call 1: unexpected response: the character U+0000 in the tag `<User>`, which XML 1.0 forbids (at byte {at})"
        ))
    );
    assert!(
        batches.iter().all(|batch| match batch {
            Batch::Accounts(accounts) => accounts.iter().all(|a| !a.name.contains('\u{0}')),
            _ => true,
        }),
        "{batches:?}"
    );
    assert_eq!(
        transport.seen.len(),
        1,
        "a malformed answer is not sent again"
    );
}
