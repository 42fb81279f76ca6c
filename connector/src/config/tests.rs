use serde_json::Value;

use super::*;
use crate::error::Severity;

/// The package this project ships, as attribute pairs (nested JSON values become JSON text, as
/// the host's loader does).
pub(crate) fn shipped_package() -> Vec<(String, String)> {
    package_pairs(include_str!("../../../packages/duckcreek.json"))
}

/// A package file's attributes, with USERNAME and PASSWORD added.
fn package_pairs(text: &str) -> Vec<(String, String)> {
    let Value::Object(map) = serde_json::from_str(text).unwrap() else {
        panic!("the package is an object");
    };
    map.into_iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            (name, text)
        })
        .chain([
            ("USERNAME".to_string(), "svc".to_string()),
            ("PASSWORD".to_string(), "pw".to_string()),
        ])
        .collect()
}

/// The shipped package with `overrides` applied, loaded; it must load without any problem.
pub(crate) fn shipped_config(overrides: &[(&str, &str)]) -> Config {
    let loaded = load(&with(overrides));
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    loaded.config.expect("no problem, so a configuration")
}

fn with(overrides: &[(&str, &str)]) -> Connection {
    let mut pairs = shipped_package();
    // The shipped status mapping reads the shipped plan's `customproperty2`: another plan
    // brings its own, or none.
    if overrides
        .iter()
        .any(|(name, _)| *name == "ACCOUNTS_IMPORT_JSON")
    {
        pairs.retain(|(existing, _)| existing != "STATUS_THRESHOLD_CONFIG");
    }
    for (name, value) in overrides {
        pairs.retain(|(existing, _)| existing != name);
        pairs.push((name.to_string(), value.to_string()));
    }
    Connection::from_pairs(pairs)
}

fn problems(connection: &Connection) -> Vec<(Severity, String, Option<String>, String)> {
    load(connection)
        .problems
        .into_iter()
        .map(|p| (p.severity, p.attribute, p.location, p.message))
        .collect()
}

#[test]
fn the_shipped_package_loads_without_any_problem() {
    let loaded = load(&with(&[]));
    assert_eq!(loaded.problems, vec![]);
    let config = loaded.config.unwrap();
    let plan = config.import_plan.unwrap();
    let kinds: Vec<_> = plan
        .calls
        .iter()
        .map(|call| (call.number, call.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (1, CallKind::Accounts),
            (2, CallKind::Entitlements),
            (3, CallKind::Entitlements),
            (4, CallKind::Entitlements)
        ]
    );
    let columns: Vec<_> = plan.calls[0]
        .columns
        .iter()
        .map(|(c, _)| c.as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "name",
            "accountID",
            "customproperty1",
            "customproperty2",
            "displayname"
        ]
    );
    let links: Vec<_> = plan.calls[0]
        .links
        .iter()
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(links, ["Entity", "Role"]);
    assert_eq!(plan.calls[0].reconciliation_column, "name");
    assert_eq!(config.endpoint.authority, "duckcreek.example.com");
    assert!(config.enable_plan.is_some() && config.disable_plan.is_some());
}

#[test]
fn the_shipped_token_package_loads_and_every_call_uses_its_gateway() {
    let mut pairs = package_pairs(include_str!("../../../packages/duckcreek-token.json"));
    let without_secret = load(&Connection::from_pairs(pairs.clone()));
    // One problem: the secret. The calls naming the gateway are not warned of as if it were
    // undefined.
    let found: Vec<(&str, Option<&str>)> = without_secret
        .problems
        .iter()
        .map(|p| (p.attribute.as_str(), p.location.as_deref()))
        .collect();
    assert_eq!(
        found,
        [("CLIENT_SECRET", Some("CONNECTIONJSON dcGateway"))],
        "{:?}",
        without_secret.problems
    );
    assert!(
        without_secret.problems[0]
            .message
            .contains("--set-file CLIENT_SECRET=PATH")
    );
    pairs.push(("CLIENT_SECRET".into(), "cs".into()));
    let loaded = load(&Connection::from_pairs(pairs));
    assert_eq!(loaded.problems, vec![]);
    let config = loaded.config.unwrap();
    let gateway = config.connections.token("dcGateway").unwrap();
    assert_eq!(
        gateway.request.as_ref().unwrap().endpoint.url(),
        "https://gateway.example.com/oauth/token"
    );
    let plan = config.import_plan.unwrap();
    assert!(
        plan.calls
            .iter()
            .all(|call| call.connection.as_deref() == Some("dcGateway"))
    );
    for plan in [config.enable_plan.unwrap(), config.disable_plan.unwrap()] {
        assert!(
            plan.calls
                .iter()
                .all(|call| call.connection.as_deref() == Some("dcGateway"))
        );
    }
}

#[test]
fn the_known_packages_malformed_enable_plan_is_reported_with_the_mismatched_tags() {
    let enable = r#"[{"REQUESTXML": "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><server><requests><Session.loginRq userName=\"${USERNAME}\" password=\"${PASSWORD}\"></Session.loginRq><Security.unlockUserAccountRq userName=\"${account.name}\"></Security.lockUserAccountRq><Session.closeRq></Session.closeRq></requests></server></soapenv:Body></soapenv:Envelope>"}]"#;
    let loaded = load(&with(&[("ENABLEACCOUNTJSON", enable)]));
    assert!(loaded.config.is_none());
    assert_eq!(
        problems(&with(&[("ENABLEACCOUNTJSON", enable)])),
        vec![(
            Severity::Error,
            "ENABLEACCOUNTJSON".to_string(),
            Some("call 1 (REQUESTXML), line 1, column 247".to_string()),
            "not well-formed XML once bound: mismatched closing tag: `<Security.unlockUserAccountRq>` is closed by `</Security.lockUserAccountRq>`".to_string()
        )]
    );
}

/// Attribute overrides, then the problem they must cause: severity, attribute, location and
/// a fragment of the message.
type MistakeCase<'a> = (
    Vec<(&'a str, String)>,
    Severity,
    &'a str,
    Option<&'a str>,
    &'a str,
);

/// Asserts that each case's overrides cause its problem.
fn assert_each_reported(cases: Vec<MistakeCase>) {
    for (overrides, severity, attribute, location, message) in cases {
        let overrides: Vec<(&str, &str)> =
            overrides.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let found = problems(&with(&overrides));
        assert!(
            found.iter().any(|(s, a, l, m)| *s == severity
                && a == attribute
                && l.as_deref() == location
                && m.contains(message)),
            "{overrides:?}: wanted {severity:?} {attribute} {location:?} `{message}`, found {found:#?}"
        );
    }
}

#[test]
fn reports_each_mistake_with_its_place() {
    let plan = |body: &str| {
        format!(
            r#"{{"REQUESTXML1": "<server><requests/></server>", "RESPONSEDATAPATH1": "responses.a.b", "ACCOUNTMAPPING1": "name:@name", {body}}}"#
        )
    };
    let cases: Vec<MistakeCase> = vec![
        (vec![("SOAP_ENDPOINT", String::new())], Severity::Error, "SOAP_ENDPOINT", None, "missing"),
        (vec![("SOAP_ENDPOINT", "ftp://x".into())], Severity::Error, "SOAP_ENDPOINT", Some("character 1"), "not supported"),
        (vec![("SOAP_OR_XML", "REST".into())], Severity::Error, "SOAP_OR_XML", None, "neither SOAP nor XML"),
        (vec![("ACCOUNTS_IMPORT_JSON", "{\n \"REQUESTXML1\": \"x\",,\n}".into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("line 2, column 21"), "not valid JSON"),
        (vec![("ACCOUNTS_IMPORT_JSON", "[]".into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", None, "expected a JSON object"),
        (vec![("ACCOUNTS_IMPORT_JSON", plan(r#""REQUESTXML3": "<a/>", "RESPONSEDATAPATH3": "a.b", "ACCOUNTMAPPING3": "name:@n""#))], Severity::Error, "ACCOUNTS_IMPORT_JSON", None, "call 2 missing"),
        // A huge call number lists the first gaps only (it used to list four billion).
        (vec![("ACCOUNTS_IMPORT_JSON", plan(r#""REQUESTXML4000000000": "<a/>""#))], Severity::Error, "ACCOUNTS_IMPORT_JSON", None, "numbered 1, 4000000000 : call 2, 3, 4, 5, 6, 7, 8, 9, … missing"),
        (vec![("ACCOUNTS_IMPORT_JSON", plan(r#""FOO1": "x""#))], Severity::Warning, "ACCOUNTS_IMPORT_JSON", Some("FOO1"), "unknown key `FOO1`"),
        (vec![("ACCOUNTS_IMPORT_JSON", plan(r#""REQUESTTYPE1": "USERS""#))], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("REQUESTTYPE1"), "not a request type"),
        (vec![("ACCOUNTS_IMPORT_JSON", plan(r#""RECONCILIATIONFIELD1": "accountID""#))], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("ACCOUNTMAPPING1"), "`accountid` that identifies accounts"),
        (vec![("ACCOUNTS_IMPORT_JSON", r#"{"REQUESTXML1": "<server><requests/></server>", "RESPONSEDATAPATH1": "Body.a..b", "ACCOUNTMAPPING1": "name:@name"}"#.into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("RESPONSEDATAPATH1"), "column 8: empty step"),
        (vec![("ACCOUNTS_IMPORT_JSON", r#"{"REQUESTXML1": "<server><requests/></server>", "RESPONSEDATAPATH1": "Body.a.@id", "ACCOUNTMAPPING1": "name:@name"}"#.into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("RESPONSEDATAPATH1"), "must select elements"),
        (vec![("ACCOUNTS_IMPORT_JSON", r#"{"REQUESTXML1": "<server><x>${account.name}</x></server>", "RESPONSEDATAPATH1": "Body.a", "ACCOUNTMAPPING1": "name:@name"}"#.into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("REQUESTXML1, line 1, column 12"), "only in EACHACCOUNT"),
        (vec![("ACCOUNTS_IMPORT_JSON", r#"{"REQUESTXML1": "<server>${NOPE}</server>", "RESPONSEDATAPATH1": "Body.a", "ACCOUNTMAPPING1": "name:@name"}"#.into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("REQUESTXML1, line 1, column 9"), "`${NOPE}` names nothing"),
        (vec![("ACCOUNTS_IMPORT_JSON", r#"{"REQUESTXML1": "<server><a></b></server>", "RESPONSEDATAPATH1": "Body.a", "ACCOUNTMAPPING1": "name:@name"}"#.into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("REQUESTXML1, line 1, column 12"), "mismatched closing tag: `<a>` is closed by `</b>`"),
        (vec![("ACCOUNTS_IMPORT_JSON", r#"{"REQUESTXML1": "<server/>", "RESPONSEDATAPATH1": "Body.a", "ACCOUNTMAPPING1": "name:@name", "REQUESTPARAMS1": {"Host": "evil"}}"#.into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("REQUESTPARAMS1.Host"), "set by the HTTP layer"),
        (vec![("ACCOUNTS_IMPORT_JSON", r#"{"REQUESTTYPE1": "EACHACCOUNT", "REQUESTXML1": "<server/>", "RESPONSEDATAPATH1": "Body.a", "ACCOUNTMAPPING1": "x:@x"}"#.into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("REQUESTTYPE1"), "ACCOUNTS call must come before"),
        (vec![("ACCOUNTS_IMPORT_JSON", r#"{"REQUESTTYPE1": "ENTITLEMENTS", "REQUESTXML1": "<server/>", "RESPONSEDATAPATH1": "Body.a", "ENTITLEMENTMAPPING1": {"Role": {"description": "@d"}}}"#.into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("ENTITLEMENTMAPPING1"), "maps no `entitlement_value`"),
        (vec![("PASSWORD", String::new())], Severity::Error, "PASSWORD", Some("ACCOUNTS_IMPORT_JSON call 1"), "is empty but is used there: give it from an environment variable or a file (--set-env PASSWORD=VARIABLE or --set-file PASSWORD=PATH), never on the command line"),
        (vec![("SOAP_OR_XML", "XML".into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("REQUESTXML1"), "SOAP_OR_XML is XML but this request is a SOAP envelope"),
        (vec![("PAGE_SIZE", "100".into())], Severity::Warning, "PAGE_SIZE", None, "paging is not supported"),
        (vec![("STATUS_THRESHOLD_CONFIG", r#"{"statusAndThresholdConfig": {"statusColumn": "customproperty9", "activeStatus": "Active"}}"#.into())], Severity::Error, "STATUS_THRESHOLD_CONFIG", Some("statusColumn"), "not a column any ACCOUNTMAPPING"),
        (vec![("STATUS_THRESHOLD_CONFIG", "{\"statusAndThresholdConfig\": ".into())], Severity::Error, "STATUS_THRESHOLD_CONFIG", Some("line 1, column 29"), "not valid JSON"),
        (vec![("ACCOUNTS_IMPORT_JSON", String::new())], Severity::Warning, "ACCOUNTS_IMPORT_JSON", None, "cannot import"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "RUNFOREACHENT": "true"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (RUNFOREACHENT)"), "no entitlement to iterate: remove it"),
        (vec![("ENABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "COOKIEOPTIONS": {"SAVEFROMRESPONSE": "JSESSIONID"}}]"#.into())], Severity::Error, "ENABLEACCOUNTJSON", Some("call 1 (COOKIEOPTIONS)"), "pass values between calls with RESPONSEMAPPING"),
        (vec![("GRANTACCESSJSON", r#"[{"REQUESTXML": "<server/>", "COOKIEOPTIONS": {"SAVEFROMRESPONSE": "JSESSIONID"}}]"#.into())], Severity::Warning, "GRANTACCESSJSON", Some("call 1 (COOKIEOPTIONS)"), "is not supported"),
        (vec![("GRANTACCESSJSON", r#"[{"REQUESTXML": "<a>${account.roles.collect{ it }}</a>"}]"#.into())], Severity::Warning, "GRANTACCESSJSON", Some("call 1 (REQUESTXML), line 1, column 27"), "Groovy closures (`.collect{ }`) are not supported: a plan runs for one account, with no collection to iterate; build the text with `+` and `? :` (`'<Role>' + account.name + '</Role>'`) (this version does not run this plan"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<a>${USERNAME.each { it }}</a>"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 20"), "Groovy closures (`.each{ }`)"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "RESPONSEMAPPING": {"TASK.COMMENT": "Body.a"}}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (RESPONSEMAPPING).TASK.COMMENT"), "the special targets are `TASK.PROVISIONINGCOMMENTS`"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "RESPONSEMAPPING": {"ACCOUNT.NAME": "Body.a"}}]"#.into())], Severity::Warning, "DISABLEACCOUNTJSON", Some("call 1 (RESPONSEMAPPING).ACCOUNT.NAME"), "never change"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "SUCCESSCRITERIA": "RESPONSECODE=1"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (SUCCESSCRITERIA)"), "tests `RESPONSECODE`, which no RESPONSEMAPPING of this call or an earlier one captures"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "RESPONSEMAPPING": {"RESPONSECODE": ""}, "SUCCESSCRITERIA": "RESPONSECODE=Success"}]"#.into())], Severity::Warning, "DISABLEACCOUNTJSON", Some("call 1 (SUCCESSCRITERIA)"), "captures the HTTP status (200, 500, ...), which never equals `Success`"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "RESPONSEMAPPING": {"STATUS": ""}}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (RESPONSEMAPPING).STATUS"), "only RESPONSECODE may have an empty path"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<a n=\"${task.accountKey}\"/>"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 7"), "has `task.accountName`"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<a n=\"${endpoint.name}\"/>"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 7"), "`endpoint` is not bound"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "${account.name == 'x' ? '<a><b></a>' : ''}"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 32"), "when the expression renders `<a><b></a>`: mismatched closing tag"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "${account.name ? '<a/><b/>' : ''}"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 23"), "a second root element"),
        (vec![("ACCOUNTS_IMPORT_JSON", r#"{"REQUESTXML1": "${USERNAME == 'x' ? '' : '<server/>'}", "RESPONSEDATAPATH1": "Body.a", "ACCOUNTMAPPING1": "name:@name"}"#.into())], Severity::Error, "ACCOUNTS_IMPORT_JSON", Some("REQUESTXML1, line 1, column 1"), "an import call must always send its request"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "RESPONSEMAPPING": {"STATUS": "Body.a"}, "SUCCESSCRITERIA": "STATUS==Success"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (SUCCESSCRITERIA)"), "is not one `NAME=value`"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "RESPONSEMAPPING": {"STATUS": "Body.a"}, "SUCCESSCRITERIA": "STATUS = Success && CODE = 1"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (SUCCESSCRITERIA)"), "several criteria as an object"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "SOAPACTION": "urn:a", "REQUESTPARAMS": {"SOAPAction": "urn:b"}}]"#.into())], Severity::Warning, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTPARAMS).SOAPAction"), "the SOAPACTION value is sent"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server><a n=\"${raw: account.displayname}\"/></server>"}]"#.into())], Severity::Warning, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 15"), "`${raw: ...}` inserts `account.displayname` without escaping"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server>${account.x == 'y' ? '<a/>' : ''}</server>"}]"#.into())], Severity::Warning, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 9"), "a string literal holding markup (`<...`) inside `${...}` is escaped as text here"),
        (vec![("DISABLEACCOUNTJSON", format!("[{{\"REQUESTXML\": \"${{'<a>' + {}'</a>'}}\"}}]", "(account.x == 'y' ? '<b/>' : '') + ".repeat(7)))], Severity::Warning, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML)"), "more than 64 combinations of branches"),
        (vec![("SOAP_OR_XML", "XML".into()), ("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "${'<s:Envelope xmlns:s=\"x\"><s:Body/></s:Envelope>'}"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 1"), "SOAP_OR_XML is XML but this request is a SOAP envelope"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "SUCCESSCRITERIA": "nope"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (SUCCESSCRITERIA)"), "not `NAME=value`"),
    ];
    assert_each_reported(cases);
}

#[test]
fn an_attribute_the_connection_lacks_is_its_own_problem_once_per_call_that_uses_it() {
    // USERNAME is used twice in REQUESTXML1 of the header-bearing plan below: one problem.
    let plan = r#"{"REQUESTXML1": "<server><a u=\"${USERNAME}\" v=\"${USERNAME}\"/></server>", "REQUESTPARAMS1": {"X-User": "${USERNAME}"}, "RESPONSEDATAPATH1": "Body.a", "ACCOUNTMAPPING1": "name:@name"}"#;
    let found = problems(&with(&[
        ("USERNAME", ""),
        ("PASSWORD", ""),
        ("ACCOUNTS_IMPORT_JSON", plan),
    ]));
    let username =
        "is empty but is used there: set it in the connection, or with --set USERNAME=VALUE";
    let password = "is empty but is used there: give it from an environment variable or a file (--set-env PASSWORD=VARIABLE or --set-file PASSWORD=PATH), never on the command line";
    let not_set = |attribute: &str, site: &str, message: &str| {
        (
            Severity::Error,
            attribute.to_string(),
            Some(site.to_string()),
            message.to_string(),
        )
    };
    assert_eq!(
        found,
        vec![
            not_set("USERNAME", "ACCOUNTS_IMPORT_JSON call 1", username),
            not_set("USERNAME", "ENABLEACCOUNTJSON call 1", username),
            not_set("PASSWORD", "ENABLEACCOUNTJSON call 1", password),
            not_set("USERNAME", "DISABLEACCOUNTJSON call 1", username),
            not_set("PASSWORD", "DISABLEACCOUNTJSON call 1", password),
        ]
    );
}

#[test]
fn real_plan_shapes_load_without_problems() {
    let plans = [
        r#"[{"REQUESTXML": "<server><requests><A.bRq n=\"${accountName}\"/></requests></server>", "RUNFOREACHENT": "false", "SOAPACTION": "",
             "RESPONSEMAPPING": {"RESPONSECODE": "Body.r.@status", "TASK.PROVISIONINGCOMMENTS": "Body.r.@message", "ACCOUNT.ACCOUNTID": "Body.r.@id"},
             "SUCCESSCRITERIA": "RESPONSECODE=Success"}]"#,
        r#"[{"REQUESTXML": "${account.customproperty2.equalsIgnoreCase('locked') ? '' : '<server><requests><A.bRq n=\"' + task.accountName.toLowerCase() + '\"/></requests></server>'}",
             "RESPONSEMAPPING": {"RESPONSECODE": ""}, "SUCCESSCRITERIA": {"RESPONSECODE": "200"}}]"#,
    ];
    let login = r#"[{"REQUESTXML": "${account.customproperty2 == 'Locked' ? '' : '<server><requests><Session.loginRq userName=\"' + USERNAME + '\" password=\"' + PASSWORD + '\"/><Security.lockUserAccountRq userName=\"' + accountName + '\"/><Session.closeRq/></requests></server>'}"}]"#;
    let plans = [plans[0], plans[1], login];
    for plan in plans {
        let found = problems(&with(&[("DISABLEACCOUNTJSON", plan)]));
        assert_eq!(found, Vec::new(), "{plan}");
    }
}

#[test]
fn reports_each_connectionjson_mistake_with_its_place() {
    let gw = |keys: &str| format!(r#"{{"authentications": {{"gw": {{{keys}}}}}}}"#);
    let url = r#""url": "https://gw.example.com/token""#;
    let disable_with = |body: &str| {
        format!(r#"[{{"CONNECTION": "gw", "REQUESTXML": "<server><a t=\"{body}\"/></server>"}}]"#)
    };
    let cases: Vec<MistakeCase> = vec![
        (
            vec![("CONNECTIONJSON", "[1]".into())],
            Severity::Error,
            "CONNECTIONJSON",
            None,
            "expected a JSON object",
        ),
        (
            vec![("CONNECTIONJSON", r#"{"gw": 3}"#.into())],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw"),
            "must be a JSON object",
        ),
        (
            vec![("CONNECTIONJSON", gw(r#""authType": "kerberos""#))],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.authType"),
            "`kerberos` is not supported",
        ),
        (
            vec![("CONNECTIONJSON", gw(r#""authType": "oauth2""#))],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.url"),
            "needs the token URL",
        ),
        (
            vec![("CONNECTIONJSON", gw(r#""authType": "Bearer""#))],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.url"),
            "needs `url`",
        ),
        (
            vec![("CONNECTIONJSON", gw(r#""url": "gw.example.com/token""#))],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.url, character 1"),
            "not an absolute URL",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(r#"{url}, "httpMethod": "GET""#)),
            )],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.httpMethod"),
            "requested with POST",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(r#"{url}, "httpContentType": "text/plain""#)),
            )],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.httpContentType"),
            "not supported",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(
                    r#"{url}, "httpParams": {{"client_secret": "s3cr3t"}}"#
                )),
            )],
            Severity::Warning,
            "CONNECTIONJSON",
            Some("gw.httpParams.client_secret"),
            "a literal secret: write `${CLIENT_SECRET}`",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(
                    r#"{url}, "httpParams": {{"client_id": "${{NOPE}}"}}"#
                )),
            )],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.httpParams.client_id, line 1, column 1"),
            "`${NOPE}` names nothing",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(r#"{url}, "httpContentType": "text/xml""#)),
            )],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.requestXml"),
            "needs its request body",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(r#"{url}, "requestXml": "<a></b>""#)),
            )],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.requestXml, line 1, column 4"),
            "not well-formed",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(
                    r#"{url}, "requestXml": "<a/>", "tokenResponsePath": "a..b""#
                )),
            )],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.tokenResponsePath"),
            "not a path into an XML response",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(r#"{url}, "tokenExpiry": "soon""#)),
            )],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.tokenExpiry"),
            "not a lifetime in seconds",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(r#"{url}, "maxRefreshTryCount": 50"#)),
            )],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.maxRefreshTryCount"),
            "from 1 to 10",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(r#"{url}, "retryFailureStatusCode": [200]"#)),
            )],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.retryFailureStatusCode"),
            "not an HTTP error status",
        ),
        (
            vec![("CONNECTIONJSON", gw(&format!(r#"{url}, "authError": [1]"#)))],
            Severity::Error,
            "CONNECTIONJSON",
            Some("gw.authError"),
            "list of strings",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(&format!(r#"{url}, "timeOutError": "x""#)),
            )],
            Severity::Warning,
            "CONNECTIONJSON",
            Some("gw.timeOutError"),
            "not used",
        ),
        (
            vec![(
                "CONNECTIONJSON",
                gw(r#""authType": "Bearer", "accessToken": "Bearer abc""#),
            )],
            Severity::Warning,
            "CONNECTIONJSON",
            Some("gw.accessToken"),
            "a literal token",
        ),
        (
            vec![
                ("CONNECTIONJSON", gw(url)),
                (
                    "DISABLEACCOUNTJSON",
                    r#"[{"REQUESTXML": "<server><a t=\"${access_token}\"/></server>"}]"#.into(),
                ),
            ],
            Severity::Error,
            "DISABLEACCOUNTJSON",
            Some("call 1 (REQUESTXML), line 1, column 15"),
            "bound only in calls whose CONNECTION names a token connection",
        ),
        (
            vec![
                ("CONNECTIONJSON", gw(r#""authType": "session""#)),
                ("DISABLEACCOUNTJSON", disable_with("${access_token}")),
            ],
            Severity::Error,
            "DISABLEACCOUNTJSON",
            Some("call 1 (REQUESTXML), line 1, column 15"),
            "bound only in calls",
        ),
        (
            vec![(
                "DISABLEACCOUNTJSON",
                r#"[{"CONNECTION": "nope", "REQUESTXML": "<server/>"}]"#.into(),
            )],
            Severity::Warning,
            "DISABLEACCOUNTJSON",
            Some("call 1 (CONNECTION)"),
            "not defined in CONNECTIONJSON",
        ),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server><a p=\"${PASSWORD.trim()}\"/></server>"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 15"), "the secret `PASSWORD` can only be inserted as it is: `${PASSWORD}`, or an operand of `+`"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server><a p=\"${raw: PASSWORD}\"/></server>"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 15"), "can only be inserted as it is"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "${PASSWORD ? '<a/>' : ''}"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 1"), "the secret `PASSWORD` can only be inserted as it is"),
        (vec![("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "${'<a p=\"' + PASSWORD.toLowerCase() + '\"/>'}"}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTXML), line 1, column 1"), "the secret `PASSWORD` can only be inserted as it is"),
        (vec![("API_KEY", "k".into()), ("DISABLEACCOUNTJSON", r#"[{"REQUESTXML": "<server/>", "REQUESTPARAMS": {"X-Key": "${API_KEY == 'k' ? 'a' : 'b'}"}}]"#.into())], Severity::Error, "DISABLEACCOUNTJSON", Some("call 1 (REQUESTPARAMS).X-Key, line 1, column 1"), "the secret `API_KEY` can only be inserted as it is"),
    ];
    assert_each_reported(cases);
}

#[test]
fn a_token_connection_binds_access_token_in_its_calls() {
    let json = r#"{"authentications": {"gw": {"url": "https://gw.example.com/token", "httpParams": {"client_secret": "${PASSWORD}"}}, "plain": {"authType": "session"}}}"#;
    let disable =
        r#"[{"CONNECTION": "gw", "REQUESTXML": "<server><a t=\"${access_token}\"/></server>"}]"#;
    let config = shipped_config(&[("CONNECTIONJSON", json), ("DISABLEACCOUNTJSON", disable)]);
    assert!(config.connections.token("gw").is_some());
    assert!(config.connections.contains("plain") && config.connections.token("plain").is_none());
    let gateway = config.connections.token("gw").unwrap();
    assert_eq!(
        gateway.request.as_ref().unwrap().endpoint.url(),
        "https://gw.example.com/token"
    );
    assert_eq!(
        config.disable_plan.unwrap().calls[0].connection.as_deref(),
        Some("gw")
    );
}

#[test]
fn warnings_alone_leave_a_usable_configuration() {
    let loaded = load(&with(&[("PAGE_SIZE", "100")]));
    assert_eq!(loaded.problems.len(), 1);
    assert!(loaded.config.is_some());
}

#[test]
fn debug_output_never_shows_values() {
    let connection = with(&[("PASSWORD", "s3cret-value")]);
    assert!(!format!("{connection:?}").contains("s3cret-value"));
}

#[test]
fn urls_and_header_values_the_host_would_refuse_are_reported_at_their_place() {
    let gw = |url: &str| {
        format!(
            r#"{{"authentications": {{"gw": {{"url": "{url}", "httpParams": {{"grant_type": "client_credentials"}}}}}}}}"#
        )
    };
    let plan = |extra: &str| {
        format!(
            r#"{{"REQUESTXML1": "<server><requests/></server>", "RESPONSEDATAPATH1": "responses.a.b", "ACCOUNTMAPPING1": "name:@name", {extra}}}"#
        )
    };
    let disable = |extra: &str| {
        format!(r#"[{{"REQUESTXML": "<server><a n=\"${{account.name}}\"/></server>", {extra}}}]"#)
    };
    let cases: Vec<(&str, String, (&str, &str, &str))> = vec![
        (
            "SOAP_ENDPOINT",
            "http://dc.example.com:65536/x".into(),
            (
                "SOAP_ENDPOINT",
                "character 23",
                "the port `65536` is out of range: a port is 1 to 65535",
            ),
        ),
        (
            "SOAP_ENDPOINT",
            "http://dc.example.com:+8080/x".into(),
            (
                "SOAP_ENDPOINT",
                "character 23",
                "the port `+8080` is not a number: write digits only",
            ),
        ),
        (
            "SOAP_ENDPOINT",
            "http://host:A:B/x".into(),
            (
                "SOAP_ENDPOINT",
                "character 14",
                "a second `:` after the host: the port is one number, and an IPv6 address is written in brackets ([::1]:8080)",
            ),
        ),
        (
            "SOAP_ENDPOINT",
            "https://dc.example.com/Duck Creek/Server.svc".into(),
            (
                "SOAP_ENDPOINT",
                "character 28",
                "a space in the path: write it percent-encoded as %20",
            ),
        ),
        (
            "SOAP_ENDPOINT",
            "https://dc%3aexample.com/x".into(),
            (
                "SOAP_ENDPOINT",
                "character 11",
                "percent-encoding (`%3a`) in the host is not accepted: write the host name as it is",
            ),
        ),
        (
            "SOAP_ENDPOINT",
            "https://svc:pw@dc.example.com/x".into(),
            (
                "SOAP_ENDPOINT",
                "character 15",
                "credentials in the URL (user@host) are not accepted: use USERNAME and PASSWORD",
            ),
        ),
        (
            "CONNECTIONJSON",
            gw("https://gw.example.com:70000/token"),
            (
                "CONNECTIONJSON",
                "gw.url, character 24",
                "the port `70000` is out of range: a port is 1 to 65535",
            ),
        ),
        (
            "CONNECTIONJSON",
            gw(" https://gw.example.com/to ken"),
            (
                "CONNECTIONJSON",
                "gw.url, character 27",
                "a space in the path: write it percent-encoded as %20",
            ),
        ),
        (
            "ACCOUNTS_IMPORT_JSON",
            plan(r#""REQUESTPARAMS1": {"X-Trace": "a\r\nX-Evil: 1"}"#),
            (
                "ACCOUNTS_IMPORT_JSON",
                "REQUESTPARAMS1.X-Trace, line 1, column 2",
                "the value of header `X-Trace` holds a carriage return (CR), which an HTTP header value cannot carry: remove it",
            ),
        ),
        (
            "ACCOUNTS_IMPORT_JSON",
            plan(r#""SOAPACTION1": "urn:list\nX-Evil: 1""#),
            (
                "ACCOUNTS_IMPORT_JSON",
                "SOAPACTION1, line 1, column 9",
                "the value of SOAPACTION (the SOAPAction header) holds a line feed (LF), which an HTTP header value cannot carry: remove it",
            ),
        ),
        (
            "DISABLEACCOUNTJSON",
            disable(r#""REQUESTPARAMS": {"X-User": "${account.name}\u0000"}"#),
            (
                "DISABLEACCOUNTJSON",
                "call 1 (REQUESTPARAMS).X-User, line 1, column 16",
                "the value of header `X-User` holds a control character (U+0000), which an HTTP header value cannot carry: remove it",
            ),
        ),
        (
            "CONNECTIONJSON",
            r#"{"gw": {"url": "https://gw.example.com/t", "httpHeaders": {"X-A": "1\r"}}}"#.into(),
            (
                "CONNECTIONJSON",
                "gw.httpHeaders.X-A, line 1, column 2",
                "the value of header `X-A` holds a carriage return (CR), which an HTTP header value cannot carry: remove it",
            ),
        ),
    ];
    for (name, value, (attribute, location, message)) in cases {
        let found = problems(&with(&[(name, &value)]));
        let errors: Vec<_> = found
            .iter()
            .filter(|(severity, ..)| *severity == Severity::Error)
            .collect();
        assert_eq!(
            errors,
            vec![&(
                Severity::Error,
                attribute.to_string(),
                Some(location.to_string()),
                message.to_string()
            )],
            "{name}={value:?}"
        );
    }
    // Good values still load; a tab is a header value character.
    for (name, value) in [
        (
            "SOAP_ENDPOINT",
            "https://dc.example.com:8443/DuckCreek/Server.svc?wsdl=1#top".to_string(),
        ),
        (
            "ACCOUNTS_IMPORT_JSON",
            plan(r#""REQUESTPARAMS1": {"X-Trace": "a\tb ${USERNAME}"}, "SOAPACTION1": "urn:list""#),
        ),
    ] {
        let loaded = load(&with(&[(name, &value)]));
        assert!(
            loaded
                .problems
                .iter()
                .all(|p| p.severity == Severity::Warning),
            "{value}: {:?}",
            loaded.problems
        );
        assert!(loaded.config.is_some());
    }
}

#[test]
fn an_attribute_name_a_letter_or_two_off_one_the_connector_reads_is_warned_of() {
    let found = problems(&with(&[
        ("SOAP_ENDPIONT", "https://dc.example.com/Server.svc"),
        ("status_threshold_config", "{}"),
        ("MY_TENANT", "acme"),
        ("USER", "x"),
    ]));
    let warning = |attribute: &str, meant: &str| {
        (
            Severity::Warning,
            attribute.to_string(),
            None,
            format!(
                "this connector reads no attribute of that name: did you mean {meant}? (an attribute of your own, read by templates as ${{{attribute}}}, may keep its name)"
            ),
        )
    };
    assert_eq!(
        found,
        vec![
            warning("SOAP_ENDPIONT", "SOAP_ENDPOINT"),
            warning("status_threshold_config", "STATUS_THRESHOLD_CONFIG"),
        ]
    );
}
