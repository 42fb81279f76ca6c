use super::*;
use crate::error::OperationFailure;
use crate::transport::canned::{canned, client};

fn config(overrides: &[(&str, &str)]) -> Config {
    crate::config::tests::shipped_config(overrides)
}

fn account(name: &str, id: &str) -> Account {
    Account {
        name: name.into(),
        columns: vec![
            ("name".into(), name.into()),
            ("accountID".into(), id.into()),
        ],
        entitlements: Vec::new(),
    }
}

fn soap(inner: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><processRequestsAsDOMResponse><result><server><responses><Session.loginRs status="Success"/>{inner}<Session.closeRs status="Success"/></responses></server></result></processRequestsAsDOMResponse></soap:Body></soap:Envelope>"#
    )
}

fn disable(
    config: &Config,
    transport: &mut crate::transport::canned::Canned,
    account: &Account,
) -> Result<ProvisioningOutcome, ConnectorError> {
    let plan = config.disable_plan.as_ref().unwrap();
    let target = Provisioned { account, user: &[] };
    run_plan(
        config,
        "DISABLEACCOUNTJSON",
        plan,
        &mut client(transport),
        &target,
    )
}

#[test]
fn the_shipped_disable_plan_locks_the_account_with_its_name_as_data() {
    let config = config(&[]);
    let mut transport = canned(vec![Ok((
        200,
        soap(r#"<Security.lockUserAccountRs status="Success"/>"#),
    ))]);
    let name = r#""/><Security.lockUserAccountRq userName="x"#;
    let outcome = disable(&config, &mut transport, &account(name, "7")).unwrap();
    assert_eq!(
        outcome.captured,
        vec![("STATUS".to_string(), "Success".to_string())]
    );
    let body = &transport.seen[0].body;
    assert!(
        body.contains(r#"<Security.lockUserAccountRq userID="7" userName="&quot;/&gt;&lt;Security.lockUserAccountRq userName=&quot;x">"#),
        "{body}"
    );
}

#[test]
fn a_failed_operation_names_the_call_and_the_account() {
    let config = config(&[]);
    let mut transport = canned(vec![Ok((
        200,
        soap(
            r#"<Security.lockUserAccountRs status="Failure"><ExtendedStatus><ExtendedStatusDesc>User 9 not found</ExtendedStatusDesc></ExtendedStatus></Security.lockUserAccountRs>"#,
        ),
    ))]);
    let error = disable(&config, &mut transport, &account("ghost", "9")).unwrap_err();
    assert_eq!(
        error,
        ConnectorError {
            kind: ErrorKind::OperationFailed(OperationFailure {
                operation: "Security.lockUserAccountRs".into(),
                status: "Failure".into(),
                message: Some("User 9 not found".into()),
            }),
            site: Some(CallSite {
                plan: "DISABLEACCOUNTJSON".into(),
                call: 1,
                account: Some("ghost".into())
            }),
        }
    );
}

#[test]
fn success_criteria_report_the_value_seen() {
    let plan = r#"[{"REQUESTXML": "<server><requests><A.doRq/></requests></server>", "RESPONSEMAPPING": {"STATE": "Body.result.@state"}, "SUCCESSCRITERIA": {"STATE": "done"}}]"#;
    let config = config(&[("DISABLEACCOUNTJSON", plan)]);
    let cases = [
        (r#"<result state="pending"/>"#, Some("pending")),
        (r#"<other/>"#, None),
    ];
    for (inner, found) in cases {
        let body = format!(r#"<s:Envelope xmlns:s="x"><s:Body>{inner}</s:Body></s:Envelope>"#);
        let mut transport = canned(vec![Ok((200, body))]);
        let error = disable(&config, &mut transport, &account("a", "1")).unwrap_err();
        assert_eq!(
            error.kind,
            ErrorKind::SuccessCriteriaNotMet(CriteriaFailure {
                name: "STATE".into(),
                expected: "done".into(),
                found: found.map(str::to_string),
            }),
            "{inner}"
        );
    }
}

#[test]
fn captured_values_are_bound_for_later_calls() {
    let plan = r#"[
        {"REQUESTXML": "<server><requests><User.findRq name=\"${account.name}\"/></requests></server>",
         "RESPONSEMAPPING": {"USERKEY": "Body.found.@key", "RESPONSECODE": ""}},
        {"REQUESTXML": "<server><requests><User.lockRq key=\"${USERKEY}\"/></requests></server>",
         "RESPONSEMAPPING": {"ACCOUNT.ACCOUNTID": "Body.locked.@id"}, "SUCCESSCRITERIA": "RESPONSECODE=200"}
    ]"#;
    let config = config(&[("DISABLEACCOUNTJSON", plan)]);
    let envelope =
        |inner: &str| format!(r#"<s:Envelope xmlns:s="x"><s:Body>{inner}</s:Body></s:Envelope>"#);
    let mut transport = canned(vec![
        Ok((200, envelope(r#"<found key="k&amp;1"/>"#))),
        Ok((200, envelope(r#"<locked id="42"/>"#))),
    ]);
    let outcome = disable(&config, &mut transport, &account("a", "1")).unwrap();
    assert_eq!(
        outcome,
        ProvisioningOutcome {
            captured: vec![
                ("USERKEY".to_string(), "k&1".to_string()),
                ("RESPONSECODE".to_string(), "200".to_string()),
            ],
            account_updates: vec![("accountID".to_string(), "42".to_string())],
            ..ProvisioningOutcome::default()
        }
    );
    assert!(
        transport.seen[1]
            .body
            .contains(r#"<User.lockRq key="k&amp;1"/>"#),
        "{}",
        transport.seen[1].body
    );
}

#[test]
fn an_http_error_fails_the_call() {
    let config = config(&[]);
    let mut transport = canned(vec![Ok((503, "busy".into()))]);
    let error = disable(&config, &mut transport, &account("a", "1")).unwrap_err();
    assert_eq!(
        error.kind,
        ErrorKind::HttpStatus {
            status: 503,
            body_excerpt: "busy".into()
        }
    );
    assert_eq!(error.site.map(|s| s.call), Some(1));
}

fn envelope(inner: &str) -> String {
    format!(r#"<s:Envelope xmlns:s="x"><s:Body>{inner}</s:Body></s:Envelope>"#)
}

#[test]
fn responsecode_with_a_path_is_the_value_in_the_body() {
    let plan = r#"[{"REQUESTXML": "<server><requests><Security.lockUserAccountRq userName=\"${accountName}\"/></requests></server>",
        "RESPONSEMAPPING": {"RESPONSECODE": "Body.processRequestsAsDOMResponse.result.server.responses.Security~dot#lockUserAccountRs.@status",
                            "task.ProvisioningComments": "Body.processRequestsAsDOMResponse.result.server.responses.Security~dot#lockUserAccountRs.@message"},
        "SUCCESSCRITERIA": "RESPONSECODE=Success"}]"#;
    let config = config(&[("DISABLEACCOUNTJSON", plan)]);
    for (status, outcome) in [("Success", true), ("Failed", false)] {
        let mut transport = canned(vec![Ok((
            200,
            soap(&format!(
                r#"<Security.lockUserAccountRs status="{status}" message="locked by IGA"/>"#
            )),
        ))]);
        let result = disable(&config, &mut transport, &account("a", "1"));
        match outcome {
            true => assert_eq!(
                result.unwrap(),
                ProvisioningOutcome {
                    captured: vec![("RESPONSECODE".into(), "Success".into())],
                    comments: Some("locked by IGA".into()),
                    ..ProvisioningOutcome::default()
                }
            ),
            false => assert_eq!(
                result.unwrap_err().kind,
                ErrorKind::OperationFailed(OperationFailure {
                    operation: "Security.lockUserAccountRs".into(),
                    status: "Failed".into(),
                    message: Some("locked by IGA".into()),
                })
            ),
        }
    }
}

#[test]
fn a_whole_envelope_expression_escapes_its_data_and_an_empty_one_skips_its_call() {
    let plan = r#"[
        {"REQUESTXML": "${account.customproperty2 == 'Locked' ? '' : '<server><requests><U.lockRq n=\"' + task.accountName.toLowerCase() + '\"/></requests></server>'}"},
        {"REQUESTXML": "<server><requests><U.auditRq/></requests></server>", "RESPONSEMAPPING": {"RESPONSECODE": ""}, "SUCCESSCRITERIA": "RESPONSECODE=200"}
    ]"#;
    let config = config(&[("DISABLEACCOUNTJSON", plan)]);
    let mut active = account(r#"O"Brien<&>"#, "1");
    active
        .columns
        .push(("customproperty2".into(), "Active".into()));
    let mut transport = canned(vec![
        Ok((200, envelope("<ok/>"))),
        Ok((200, envelope("<ok/>"))),
    ]);
    let outcome = disable(&config, &mut transport, &active).unwrap();
    assert_eq!(outcome.skipped_calls, Vec::<u32>::new());
    assert!(
        transport.seen[0]
            .body
            .contains(r#"<U.lockRq n="o&quot;brien&lt;&amp;&gt;"/>"#),
        "{}",
        transport.seen[0].body
    );

    let mut locked = account("b", "2");
    locked
        .columns
        .push(("customproperty2".into(), "Locked".into()));
    let mut transport = canned(vec![Ok((200, envelope("<ok/>")))]);
    let outcome = disable(&config, &mut transport, &locked).unwrap();
    assert_eq!(outcome.skipped_calls, vec![1]);
    assert_eq!(transport.seen.len(), 1, "only call 2 is sent");
    assert!(transport.seen[0].body.contains("<U.auditRq/>"));
}

#[test]
fn a_whole_envelope_expression_that_renders_broken_xml_is_a_configuration_error() {
    // Data in a tag's name: well-formed as checked at load (`<x/>`), not once rendered empty.
    let plan = r#"[{"REQUESTXML": "${'<server><' + account.customproperty9 + '/></server>'}"}]"#;
    let config = config(&[("DISABLEACCOUNTJSON", plan)]);
    let mut transport = canned(Vec::new());
    let mut empty = account("a", "1");
    empty
        .columns
        .push(("customproperty9".into(), String::new()));
    let error = disable(&config, &mut transport, &empty).unwrap_err();
    let ErrorKind::InvalidConfiguration(problems) = error.kind else {
        panic!("{error:?}");
    };
    assert_eq!(
        (
            problems[0].location.as_deref(),
            problems[0].message.as_str()
        ),
        (
            Some("call 1 (REQUESTXML), line 1, column 1"),
            "could not be rendered: the expression rendered a request that is not well-formed XML (line 1, column 9 of the rendered request): mismatched closing tag: `<server>` is closed by `</>`"
        )
    );
    assert!(transport.seen.is_empty());
}

#[test]
fn a_name_with_a_line_break_is_sent_as_references_and_refused_in_a_header() {
    let config = config(&[]);
    let mut transport = canned(vec![Ok((
        200,
        soap(r#"<Security.lockUserAccountRs status="Success"/>"#),
    ))]);
    disable(&config, &mut transport, &account("ab\r\ncd\t", "7")).unwrap();
    let body = &transport.seen[0].body;
    assert!(
        body.contains(r#"<Security.lockUserAccountRq userID="7" userName="ab&#13;&#10;cd&#9;">"#),
        "{body}"
    );
    // The same name bound into a header cannot be sent: the error names the header.
    let plan = r#"[{"REQUESTXML": "<server><requests><Security.lockUserAccountRq userName=\"${account.name}\"/></requests></server>", "REQUESTPARAMS": {"X-User": "${account.name}"}}]"#;
    let config = crate::config::tests::shipped_config(&[("DISABLEACCOUNTJSON", plan)]);
    let mut transport = canned(vec![]);
    let error = disable(&config, &mut transport, &account("ab\r\ncd", "7")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "DISABLEACCOUNTJSON call 1 (account \"ab\\r\\ncd\"): transport failure: the request header `X-User` cannot be sent: its value holds a carriage return (CR) at byte 2, which an HTTP header value cannot carry (it came from a bound value or a token)"
    );
    assert!(transport.seen.is_empty(), "nothing was sent");
}

#[test]
fn a_plan_reading_a_column_the_account_lacks_sends_nothing_unless_it_has_a_fallback() {
    let plan = |id: &str| {
        format!(
            r#"[{{"REQUESTXML": "<server><requests><Security.lockUserAccountRq userID=\"${{{id}}}\"/></requests></server>"}}]"#
        )
    };
    let answer = || {
        Ok((
            200,
            soap(r#"<Security.lockUserAccountRs status="Success"/>"#),
        ))
    };
    let without_id = Account {
        name: "jdoe".into(),
        columns: vec![("name".into(), "jdoe".into())],
        entitlements: Vec::new(),
    };

    let strict = config(&[("DISABLEACCOUNTJSON", &plan("account.accountID"))]);
    let mut transport = canned(vec![answer()]);
    let error = disable(&strict, &mut transport, &without_id).unwrap_err();
    let ErrorKind::InvalidConfiguration(problems) = &error.kind else {
        panic!("{error:?}");
    };
    assert_eq!(
        problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "error: DISABLEACCOUNTJSON (call 1 (REQUESTXML), line 1, column 55): reads `account.accountID`, but the account `jdoe` has no column `accountID`: map `accountID` in ACCOUNTS_IMPORT_JSON and import again, or say what to send without it: `${account.accountID ?: 'default'}` (`?: ''` sends it empty)"
        ]
    );
    assert!(transport.seen.is_empty(), "nothing was sent");
    let target = Provisioned {
        account: &without_id,
        user: &[],
    };
    let plan_of = |config: &Config| config.disable_plan.clone().unwrap();
    let rendered = render_plan(&strict, "DISABLEACCOUNTJSON", &plan_of(&strict), &target);
    assert_eq!(rendered.unwrap_err(), error, "a dry run refuses it alike");

    let lenient = config(&[(
        "DISABLEACCOUNTJSON",
        &plan("account.accountID ?: 'unknown'"),
    )]);
    let mut transport = canned(vec![answer()]);
    disable(&lenient, &mut transport, &without_id).unwrap();
    assert!(
        transport.seen[0]
            .body
            .contains(r#"<Security.lockUserAccountRq userID="unknown"/>"#),
        "{}",
        transport.seen[0].body
    );
    let mut transport = canned(vec![answer()]);
    disable(&lenient, &mut transport, &account("jdoe", "7")).unwrap();
    assert!(
        transport.seen[0]
            .body
            .contains(r#"<Security.lockUserAccountRq userID="7"/>"#),
        "{}",
        transport.seen[0].body
    );
}
