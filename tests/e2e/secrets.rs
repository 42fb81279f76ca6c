//! Secrets stay secret: how the host writes a secret into a request, and what it lets out of
//! whatever a server answers.

use std::time::{Duration, Instant};

use dcsim::Fault;
use serde_json::Value;

use crate::support::*;

/// A password that closes its attribute and injects an operation when it is escaped for the
/// wrong format.
const INJECTING_PASSWORD: &str = "a\"/><Security.deleteUserRq userName='victim'/>x";

/// `dcconn <command> -c <file> …` against the harness's simulator.
fn run_with(harness: &Harness, command: &str, file: &str, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec![command.into()];
    args.extend(harness.connection_args(SOAP_PACKAGE));
    args[2] = file.to_string();
    args.extend(extra.iter().map(|s| s.to_string()));
    harness.dcconn(&args)
}

/// The shipped package with the disable call's headers set to `params`, written next to the
/// store.
fn disable_with_params(harness: &Harness, params: Value) -> String {
    let mut package: Value =
        serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
    package["DISABLEACCOUNTJSON"][0]["REQUESTPARAMS"] = params;
    let path = harness.dir.path().join("disable-params.json");
    std::fs::write(&path, serde_json::to_string_pretty(&package).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn a_secret_is_escaped_by_its_bodys_media_type_not_by_a_word_in_a_parameter() {
    let harness = Harness::with_password(5, INJECTING_PASSWORD, None);
    assert_success(&harness.import(SOAP_PACKAGE));
    harness.sim.clear_requests();
    let file = disable_with_params(
        &harness,
        serde_json::json!({"Content-Type": "application/soap+xml; action=\"urn:dc/JsonBridge/Login\""}),
    );

    let output = run_with(&harness, "disable", &file, &["--account", "party.parrot"]);

    assert_success(&output);
    let requests = harness.sim.requests();
    assert_eq!(requests.len(), 1);
    let operations: Vec<&str> = requests[0]
        .operations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(
        operations,
        [
            "Session.loginRq",
            "Security.lockUserAccountRq",
            "Session.closeRq"
        ]
    );
    assert!(
        requests[0].body.contains(
            "password=\"a&quot;/&gt;&lt;Security.deleteUserRq userName=&apos;victim&apos;/&gt;x\""
        ),
        "{}",
        requests[0].body
    );
    assert_eq!(
        harness.sim.dataset().user("party.parrot").unwrap().status,
        "Locked",
        "the simulator read the password back exactly and let the session in"
    );
}

#[test]
fn a_secret_is_never_written_into_a_body_of_unknown_encoding() {
    let harness = Harness::new(5);
    assert_success(&harness.import(SOAP_PACKAGE));
    harness.sim.clear_requests();
    let file = disable_with_params(
        &harness,
        serde_json::json!({"Content-Type": "text/plain; note=xml"}),
    );

    let output = run_with(
        &harness,
        "disable",
        &file,
        &["--account", "party.parrot", "--max-tries", "1"],
    );

    let text = stdout(&output) + &stderr(&output);
    assert!(
        text.contains(
            "a secret cannot be written into a body of Content-Type \"text/plain; note=xml\""
        ),
        "{text}"
    );
    assert_eq!(harness.sim.received(), Vec::new(), "nothing was sent");
}

#[test]
fn the_job_deadline_cuts_a_network_wait() {
    let harness = Harness::new(5);
    harness.sim.inject_fault(Fault::stall(10));
    let started = Instant::now();

    let output = run_with(
        &harness,
        "import",
        &package(SOAP_PACKAGE).display().to_string(),
        &["--limit-job-secs", "2"],
    );

    let elapsed = started.elapsed();
    harness.sim.release_stall();
    assert_failure(&output, 1, &["job", "2 s (--limit-job-secs)"]);
    assert!(
        elapsed < Duration::from_secs(8),
        "stopped after {elapsed:?}, the between-bytes limit being 120 s"
    );
    assert_eq!(harness.list("accounts"), Vec::<Value>::new());
}

/// Echoed secrets: a server that echoes the request (the password in it) back in every shape
/// careless servers use, cut at every limit where a client shortens what it quotes, never
/// gets the secret, or any 6-character piece of it, into dcconn's output, logs or store.
mod echoes {
    use std::path::Path;

    use dcsim::{EchoShape, Fault};
    use proptest::prelude::*;

    use crate::support::*;

    /// How long a piece of the secret may be found anywhere.
    const PIECE: usize = 6;

    /// Where dcconn cuts what it quotes of a server: an HTTP error body, a Failure message.
    const EXCERPT_CUT: usize = 512;
    const MESSAGE_CUT: usize = 1024;

    /// Secrets with XML, JSON and URL metacharacters, whitespace, line breaks and non-ASCII
    /// letters (no `E`: the simulator pads with it), starting and ending with a letter.
    fn secret() -> impl Strategy<Value = String> {
        let inner = proptest::collection::vec(
            prop_oneof![
                4 => proptest::char::ranges(vec!['a'..='z', 'F'..='Z', '0'..='9'].into()),
                3 => proptest::sample::select(vec![
                    '&', '<', '>', '"', '\'', '\\', '/', '%', '+', '=', ';', '#', ':', '?', ']',
                ]),
                2 => proptest::sample::select(vec![' ', '\t', '\r', '\n']),
                1 => proptest::sample::select(vec!['ä', 'é', '€', '𝄞', '\u{a0}']),
            ],
            8..20,
        );
        ("[a-z]", inner, "[0-9]").prop_map(|(first, inner, last)| {
            format!("{first}{}{last}", inner.into_iter().collect::<String>())
        })
    }

    /// A store with three imported accounts, and dcconn given `secret` as its password.
    fn imported(secret: &str) -> Harness {
        let harness = Harness::with_password(3, secret, None);
        assert_success(&harness.import(SOAP_PACKAGE));
        harness.sim.clear_requests();
        harness
    }

    /// Runs `command` (`import`, or `disable` of one account) with verbose logs against an
    /// echo `fault`; everything dcconn printed.
    fn echoed_run(harness: &Harness, fault: Fault, command: &str) -> String {
        harness.sim.clear_faults();
        harness.sim.inject_fault(Fault {
            count: 100,
            ..fault
        });
        let mut args = vec!["-v".to_string(), command.to_string()];
        args.extend(harness.connection_args(SOAP_PACKAGE));
        if command == "disable" {
            args.extend(["--account", "party.parrot", "--max-tries", "1"].map(String::from));
        }
        let output = harness.dcconn(&args);
        assert!(!output.status.success(), "the echo failed the {command}");
        harness.sim.clear_faults();
        stdout(&output) + &stderr(&output)
    }

    /// JSON logs mask like text logs: with `--log-format json -vv`, no line on stderr holds the
    /// echoed password, neither as written nor once its JSON string escapes are decoded.
    #[test]
    fn echoed_secrets_stay_masked_in_json_logs() {
        let secret = "pw-Ech0&<\"json\">\\x";
        for shape in EchoShape::ALL {
            let harness = imported(secret);
            harness.sim.inject_fault(Fault {
                count: 100,
                ..Fault::echo(shape)
            });
            let mut args = vec!["-vv".to_string(), "--log-format".into(), "json".into()];
            args.push("import".into());
            args.extend(harness.connection_args(SOAP_PACKAGE));
            let output = harness.dcconn(&args);
            assert!(
                !output.status.success(),
                "{shape:?}: the echo failed the import"
            );
            let text = stderr(&output);
            assert!(
                text.contains("********"),
                "{shape:?}: nothing echoed\n{text}"
            );
            for line in text.lines() {
                let value: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("{shape:?}: {error}: {line}"));
                let decoded = value.to_string();
                for haystack in [line, decoded.as_str()] {
                    assert!(!haystack.contains("Ech0"), "{shape:?}: {line}");
                }
                for field in value.as_object().unwrap().values() {
                    if let Some(field) = field.as_str() {
                        assert!(!field.contains("Ech0"), "{shape:?}: {line}");
                    }
                }
            }
        }
    }

    /// What dcconn shows of the store afterwards, and the store's files themselves.
    fn stored(harness: &Harness) -> Vec<String> {
        let mut texts: Vec<String> = ["runs", "tasks"]
            .iter()
            .map(|what| stdout(&harness.dcconn(&[what, "--format", "json"])))
            .collect();
        let db = harness.db();
        for file in [db.clone(), db.with_extension("db-wal")] {
            if Path::new(&file).exists() {
                texts.push(String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned());
            }
        }
        texts
    }

    /// The pads that put `cut` `at` bytes into each of `occurrences` (offsets in the text the
    /// cut applies to, when nothing pads it).
    fn straddling_pads(cut: usize, occurrences: &[(usize, usize)]) -> Vec<usize> {
        occurrences
            .iter()
            .flat_map(|&(start, len)| [3, len / 2, len - 1].map(|into| start + into))
            .filter_map(|at| cut.checked_sub(at))
            .collect()
    }

    /// The text the `failure` echo of the last request makes, without pad (see the
    /// simulator's echo fault).
    fn failure_echo(harness: &Harness) -> String {
        let request = harness
            .sim
            .received()
            .pop()
            .expect("a request reached the simulator");
        let headers = request
            .raw_headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone()));
        dcsim::echo_text(headers, &request.body, &harness.password)
    }

    /// The offset and length of the password's value in the last request's body.
    fn password_in_body(harness: &Harness) -> (usize, usize) {
        let body = harness.sim.received().pop().expect("a request").body;
        let start = body.find("password=\"").expect("a login") + "password=\"".len();
        let len = body[start..].find('"').expect("the value ends");
        (start, len)
    }

    fn assert_nothing_of(secret: &str, texts: &[String]) {
        let compact: Vec<char> = secret.chars().filter(|c| !c.is_whitespace()).collect();
        let pieces: Vec<String> = compact
            .windows(PIECE.min(compact.len()))
            .map(|piece| piece.iter().collect())
            .collect();
        for text in texts {
            for view in views(text) {
                if let Some(piece) = pieces.iter().find(|piece| view.contains(piece.as_str())) {
                    panic!("{piece:?} of secret {secret:?} found in:\n{text}");
                }
            }
        }
    }

    /// `text` decoded each way a server may have encoded it, whitespace left out.
    fn views(text: &str) -> Vec<String> {
        let compact = |text: String| text.chars().filter(|c| !c.is_whitespace()).collect();
        vec![
            compact(text.to_string()),
            compact(unescape_references(text)),
            compact(unescape_json(text)),
            compact(percent_decoded(text)),
        ]
    }

    fn unescape_references(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('&') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            let decoded = rest.find(';').filter(|end| *end < 12).and_then(|end| {
                let name = &rest[1..end];
                let c = match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    _ => name.strip_prefix('#').and_then(|n| {
                        match n.strip_prefix('x') {
                            Some(hex) => u32::from_str_radix(hex, 16).ok(),
                            None => n.parse().ok(),
                        }
                        .and_then(char::from_u32)
                    }),
                };
                c.map(|c| (c, end + 1))
            });
            match decoded {
                Some((c, len)) => {
                    out.push(c);
                    rest = &rest[len..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
        out + rest
    }

    fn unescape_json(text: &str) -> String {
        let mut units: Vec<u16> = Vec::new();
        let mut out = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            let escape = (c == '\\').then(|| text.get(at + 1..at + 2)).flatten();
            let unit = match escape {
                Some("u") => text
                    .get(at + 2..at + 6)
                    .and_then(|hex| u16::from_str_radix(hex, 16).ok()),
                _ => None,
            };
            if let Some(unit) = unit {
                units.push(unit);
                for _ in 0..5 {
                    chars.next();
                }
                continue;
            }
            out.extend(char::decode_utf16(units.drain(..)).map(|c| c.unwrap_or('\u{fffd}')));
            let simple = match escape {
                Some("n") => Some('\n'),
                Some("r") => Some('\r'),
                Some("t") => Some('\t'),
                Some("\"") => Some('"'),
                Some("\\") => Some('\\'),
                Some("/") => Some('/'),
                _ => None,
            };
            match simple {
                Some(decoded) => {
                    out.push(decoded);
                    chars.next();
                }
                None => out.push(c),
            }
        }
        out.extend(char::decode_utf16(units).map(|c| c.unwrap_or('\u{fffd}')));
        out
    }

    fn percent_decoded(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        while at < bytes.len() {
            let hex = text
                .get(at + 1..at + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            match (bytes[at], hex) {
                (b'%', Some(byte)) => {
                    out.push(byte);
                    at += 3;
                }
                (b'+', _) => {
                    out.push(b' ');
                    at += 1;
                }
                (byte, _) => {
                    out.push(byte);
                    at += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Every shape, with a pad and normalised or not, once on an import and the Failure and
    /// HTML shapes on a disable; then the pads that cut each echoed password in the middle.
    fn check(secret: &str, pad: usize, normalise: bool) {
        let mut texts: Vec<String> = Vec::new();
        let per_shape: Vec<Vec<String>> = std::thread::scope(|scope| {
            let runs: Vec<_> = EchoShape::ALL
                .iter()
                .map(|&shape| {
                    scope.spawn(move || {
                        let harness = imported(secret);
                        let fault = Fault::echo(shape).with_pad(pad);
                        let fault = if normalise { fault.normalised() } else { fault };
                        let mut texts = vec![echoed_run(&harness, fault.clone(), "import")];
                        if matches!(shape, EchoShape::Failure | EchoShape::Html) {
                            texts.push(echoed_run(&harness, fault, "disable"));
                        }
                        texts.extend(stored(&harness));
                        texts
                    })
                })
                .collect();
            runs.into_iter().map(|run| run.join().unwrap()).collect()
        });
        texts.extend(per_shape.into_iter().flatten());

        let harness = imported(secret);
        echoed_run(&harness, Fault::echo(EchoShape::Failure), "import");
        let echo = failure_echo(&harness);
        let in_message = [(echo.len() - secret.len(), secret.len())];
        for pad in straddling_pads(MESSAGE_CUT, &in_message) {
            let fault = Fault::echo(EchoShape::Failure).with_pad(pad);
            texts.push(echoed_run(&harness, fault, "import"));
        }
        let (start, len) = password_in_body(&harness);
        let plain_prefix = "could not process: Authorization: \n".len();
        for pad in straddling_pads(EXCERPT_CUT, &[(plain_prefix + start, len)]) {
            let fault = Fault::echo(EchoShape::Plain).with_pad(pad);
            texts.push(echoed_run(&harness, fault, "import"));
        }
        texts.extend(stored(&harness));
        assert_nothing_of(secret, &texts);
    }

    proptest! {
        // Four cases from a fixed seed in `make test`; `ECHO_CASES=N ECHO_SEED=S` explores
        // more (30 random cases took 217 s on two cores).
        #![proptest_config(ProptestConfig {
            cases: env_number("ECHO_CASES").unwrap_or(4) as u32,
            rng_seed: proptest::test_runner::RngSeed::Fixed(env_number("ECHO_SEED").unwrap_or(14)),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn no_echo_of_a_secret_reaches_output_logs_or_the_store(
            secret in secret(),
            pad in 0usize..1100,
            normalise in any::<bool>(),
        ) {
            check(&secret, pad, normalise);
        }
    }

    fn env_number(name: &str) -> Option<u64> {
        std::env::var(name).ok()?.parse().ok()
    }

    /// Found by the property test: a pad that cut the HTTP error quote inside a two-byte
    /// character of the echoed password.
    #[test]
    fn a_cut_inside_a_character_of_the_secret_leaves_nothing_of_it() {
        check("a> 0?6𝄞uä>P\nP=8=3", 498, true);
    }

    #[test]
    fn a_known_awkward_secret_is_never_echoed() {
        check("Pw\"<&>'-SÉCRET\r\n-1234 \\u00e4 %41+", 700, false);
    }
}

/// A token the component sends in a header whose name says nothing of credentials is known to
/// the mask all the same: the host read it from the token answer on its way in.
#[test]
fn a_token_echoed_from_a_header_of_any_name_is_masked() {
    use dcsim::{EchoShape, TokenMode};

    let token_mode = TokenMode {
        ticket_header: Some("x-ticket".into()),
        ..TokenMode::default()
    };
    let harness = Harness::with_token(5, Some(token_mode));
    let mut connection: Value =
        serde_json::from_str(&std::fs::read_to_string(package("duckcreek-token.json")).unwrap())
            .unwrap();
    connection["CONNECTIONJSON"]["authentications"]["dcGateway"]["url"] =
        serde_json::json!(harness.sim.token_url());
    connection["CONNECTIONJSON"]["authentications"]["dcGateway"]["tokenType"] =
        serde_json::json!("");
    let ticket = serde_json::json!({
        "Authorization": "Basic c3ZjOm5vdC11c2Vk",
        "X-Ticket": "${access_token}",
    });
    let plan = connection["ACCOUNTS_IMPORT_JSON"].as_object_mut().unwrap();
    let calls: Vec<String> = plan
        .keys()
        .filter_map(|key| key.strip_prefix("REQUESTXML").map(str::to_string))
        .collect();
    for call in calls {
        plan.insert(format!("REQUESTPARAMS{call}"), ticket.clone());
    }
    connection["DISABLEACCOUNTJSON"][0]["REQUESTPARAMS"] = ticket;
    let file = harness.dir.path().join("ticket.json");
    std::fs::write(&file, connection.to_string()).unwrap();
    let secret_file = harness.dir.path().join("client_secret");
    std::fs::write(&secret_file, "gateway-secret").unwrap();
    let run = |command: &str, extra: &[&str]| {
        let mut args = vec!["-v".to_string(), command.to_string()];
        args.extend(harness.connection_args(SOAP_PACKAGE));
        args[3] = file.display().to_string();
        args.push("--set-file".into());
        args.push(format!("CLIENT_SECRET={}", secret_file.display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        harness.dcconn(&args)
    };
    assert_success(&run("import", &[]));
    harness.sim.inject_fault(
        Fault::echo(EchoShape::Soap11Fault).for_operation("Security.lockUserAccountRq"),
    );

    let output = run(
        "disable",
        &["--account", "party.parrot", "--max-tries", "1"],
    );

    let tokens = harness.sim.issued_tokens();
    assert_eq!(tokens.len(), 2, "one for the import, one for the disable");
    let echoed = harness.sim.received().pop().unwrap();
    assert!(
        echoed
            .raw_headers
            .contains(&("x-ticket".to_string(), tokens[1].clone())),
        "the token went out in X-Ticket: {:?}",
        echoed.raw_headers
    );
    let printed = stdout(&output) + &stderr(&output);
    assert!(printed.contains("x-ticket: ********"), "{printed}");
    let tasks = stdout(&harness.dcconn(&["tasks", "--format", "json"]));
    let db = String::from_utf8_lossy(&std::fs::read(harness.db()).unwrap()).into_owned();
    for text in [&printed, &tasks, &db] {
        for token in &tokens {
            assert!(!text.contains(token.as_str()), "the token leaked:\n{text}");
        }
    }
}

/// A server that returns the password as a record's data (its e-mail, its full name, a role
/// link, an account's name) has it stored masked.
#[test]
fn a_secret_in_imported_data_is_stored_masked() {
    let harness = Harness::new(5);
    let mut user = harness.sim.dataset().user("party.parrot").unwrap().clone();
    user.email = PASSWORD.to_string();
    user.full_name = format!("Echo {PASSWORD_ESCAPED} here");
    user.roles.push(PASSWORD.to_string());
    harness.sim.set_user(user.clone());
    let mut echo = user;
    echo.id = 4242;
    echo.name = PASSWORD.to_string();
    echo.roles.clear();
    harness.sim.set_user(echo);

    assert_success(&harness.import(SOAP_PACKAGE));

    let accounts = harness.list("accounts");
    let parrot = accounts
        .iter()
        .find(|a| a["name"] == "party.parrot")
        .unwrap();
    assert_eq!(parrot["columns"]["customproperty1"], "********", "{parrot}");
    assert_eq!(
        parrot["columns"]["displayname"], "Echo ******** here",
        "{parrot}"
    );
    assert!(
        parrot["entitlements"]["Role"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("********")),
        "{parrot}"
    );
    assert!(
        accounts.iter().any(|a| a["name"] == "********"),
        "the account named after the password is stored masked"
    );
    let db = String::from_utf8_lossy(&std::fs::read(harness.db()).unwrap()).into_owned();
    assert!(!db.contains(PASSWORD) && !db.contains(PASSWORD_ESCAPED));
}

/// Where a secret is given: the command line and the connection file are warned of (the value
/// never printed), an empty variable or file is refused as such, and a missing attribute's hint
/// is worded for its kind.
mod given {
    use std::process::Output;

    use serde_json::{Value, json};

    use crate::support::*;

    const CONFIGURATION: i32 = 3;
    const AUTHENTICATION: i32 = 4;

    /// `dcconn <command> -c <file> --set SOAP_ENDPOINT=... <extra>`: the password only as
    /// `extra` gives it.
    fn run(harness: &Harness, command: &str, file: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            command.to_string(),
            "-c".into(),
            file.into(),
            "--set".into(),
            format!("SOAP_ENDPOINT={}", harness.sim.endpoint_url()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        harness.dcconn(&args)
    }

    /// Neither output holds the password, as written or escaped.
    #[track_caller]
    fn assert_never_printed(output: &Output, secret: &str) {
        for text in [stdout(output), stderr(output)] {
            assert!(!text.contains(secret), "the secret was printed:\n{text}");
            assert!(
                !text.contains(PASSWORD_ESCAPED),
                "the secret was printed:\n{text}"
            );
        }
    }

    /// The shipped package with `attributes` added, written next to the store as `name`.
    fn package_with(harness: &Harness, name: &str, attributes: Value) -> String {
        let mut package: Value =
            serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
        for (key, value) in attributes.as_object().unwrap() {
            package[key] = value.clone();
        }
        let path = harness.dir.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&package).unwrap()).unwrap();
        path.display().to_string()
    }

    #[test]
    fn a_secret_given_with_set_is_warned_of_and_still_works() {
        let harness = Harness::new(5);
        let set_password = format!("PASSWORD={PASSWORD}");
        let output = run(
            &harness,
            "test",
            &package(SOAP_PACKAGE).display().to_string(),
            &["--set", "USERNAME=dcadmin", "--set", &set_password],
        );
        assert_success(&output);
        assert_eq!(
            stderr(&output),
            "warning: --set PASSWORD=... puts a secret on the command line, where the process list and the shell history show it: give it with --set-env PASSWORD=VARIABLE or --set-file PASSWORD=PATH instead\n"
        );
        assert_never_printed(&output, PASSWORD);

        // As a JSON line, and not at all with --quiet.
        let mut args = vec!["--log-format", "json", "test", "-c"];
        let file = package(SOAP_PACKAGE).display().to_string();
        let endpoint = format!("SOAP_ENDPOINT={}", harness.sim.endpoint_url());
        args.extend([
            file.as_str(),
            "--set",
            &endpoint,
            "--set",
            "USERNAME=dcadmin",
        ]);
        args.extend(["--set", &set_password]);
        let output = harness.dcconn(&args);
        assert_success(&output);
        let line: Value = serde_json::from_str(stderr(&output).trim_end()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert!(
            line["message"]
                .as_str()
                .unwrap()
                .starts_with("warning: --set PASSWORD=... puts a secret on the command line"),
            "{line}"
        );
        assert_never_printed(&output, PASSWORD);
        args[0] = "-q";
        args.remove(1);
        let output = harness.dcconn(&args);
        assert_success(&output);
        assert_eq!(stderr(&output), "");
    }

    #[test]
    fn a_secret_in_clear_in_the_connection_file_is_warned_of_with_the_file() {
        let harness = Harness::new(5);
        let file = package_with(
            &harness,
            "with-password.json",
            json!({"USERNAME": USERNAME, "PASSWORD": PASSWORD}),
        );
        let output = run(&harness, "test", &file, &[]);
        assert_success(&output);
        assert_eq!(
            stderr(&output),
            format!(
                "warning: PASSWORD is stored in clear in {file}, where anyone who can read the file can read it: remove it from the file and give it with --set-env PASSWORD=VARIABLE or --set-file PASSWORD=PATH\n"
            )
        );
        assert_never_printed(&output, PASSWORD);

        // Replaced from the environment, it is still in clear in the file.
        let variable = format!("PASSWORD={PASSWORD_VARIABLE}");
        let output = run(&harness, "test", &file, &["--set-env", &variable]);
        assert_success(&output);
        assert!(
            stderr(&output).starts_with("warning: PASSWORD is stored in clear in "),
            "{}",
            stderr(&output)
        );
    }

    /// A transport package's values are Saviynt's `encryptedattributevalue`: its secret is not
    /// called clear text, and is warned of only when it is the value used.
    #[test]
    fn a_transport_package_secret_is_warned_of_only_when_its_value_is_sent() {
        let harness = Harness::new(5);
        let mut attributes: Vec<Value> = [("USERNAME", USERNAME), ("PASSWORD", "ENC(9f8a2c==)")]
            .iter()
            .map(|(name, value)| json!({"attributename": name, "encryptedattributevalue": value}))
            .collect();
        let shipped: Value =
            serde_json::from_str(&std::fs::read_to_string(package(SOAP_PACKAGE)).unwrap()).unwrap();
        for (name, value) in shipped.as_object().unwrap() {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            attributes.push(json!({"attributename": name, "encryptedattributevalue": text}));
        }
        let export = json!({"DuckCreekProd": {"connectionname": "DuckCreekProd", "EXTERNAL_ATTR": attributes}});
        let path = harness.dir.path().join("Connection_20261126101500.json");
        std::fs::write(&path, export.to_string()).unwrap();
        let file = path.display().to_string();

        let variable = format!("PASSWORD={PASSWORD_VARIABLE}");
        let output = run(&harness, "test", &file, &["--set-env", &variable]);
        assert_success(&output);
        assert_eq!(stderr(&output), "", "the package's value is not used");

        let output = run(&harness, "test", &file, &[]);
        assert_eq!(
            output.status.code(),
            Some(AUTHENTICATION),
            "{}",
            stderr(&output)
        );
        assert_eq!(
            stderr(&output),
            format!(
                "warning: PASSWORD is taken from the transport package {file} as written: dcconn cannot decrypt a value Saviynt exported encrypted, and would send it as it is; give it with --set-env PASSWORD=VARIABLE or --set-file PASSWORD=PATH\n\
                 error: the login test call 1: authentication failed: Session.loginRs answered Failure: Invalid user name or password\n"
            )
        );
        assert!(!stderr(&output).contains("in clear"));
    }

    #[test]
    fn an_empty_variable_or_file_is_refused_as_empty_not_as_unset() {
        let harness = Harness::new(5);
        let file = package(SOAP_PACKAGE).display().to_string();
        let empty_file = harness.dir.path().join("empty-secret");
        std::fs::write(&empty_file, "\n").unwrap();
        let from_file = format!("PASSWORD={}", empty_file.display());
        let cases: [(&[&str], String); 3] = [
            (
                &["--set-env", "PASSWORD=DC_E2E_EMPTY"],
                "error: cannot set PASSWORD: the environment variable DC_E2E_EMPTY is empty; give it the value, or name the variable that holds it\n".to_string(),
            ),
            (
                &["--set-env", "PASSWORD=DC_E2E_UNSET"],
                "error: cannot set PASSWORD: the environment variable DC_E2E_UNSET is not set (or not valid UTF-8)\n".to_string(),
            ),
            (
                &["--set-file", &from_file],
                format!(
                    "error: cannot set PASSWORD from the file {}: the file is empty; write the value into it, or name the file that holds it\n",
                    empty_file.display()
                ),
            ),
        ];
        for (extra, expected) in cases {
            let mut args = vec!["import", "-c", &file, "--set", "USERNAME=dcadmin"];
            args.extend(extra);
            let output = harness
                .command(&args)
                .env("DC_E2E_EMPTY", "")
                .env_remove("DC_E2E_UNSET")
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(CONFIGURATION), "{extra:?}");
            assert_eq!(stderr(&output), expected, "{extra:?}");
            assert_eq!(stdout(&output), "", "{extra:?}");
        }
        assert!(harness.sim.requests().is_empty(), "nothing was sent");
        assert!(!harness.db().exists(), "nothing was stored");
    }

    /// USERNAME is not a secret: its hint says `--set`; a secret's says the environment or a
    /// file; an attribute given empty is called empty.
    #[test]
    fn a_missing_attributes_hint_is_worded_for_its_kind() {
        let harness = Harness::new(5);
        let file = package(SOAP_PACKAGE).display().to_string();
        let output = run(&harness, "validate", &file, &["--set", "PASSWORD="]);
        assert_eq!(output.status.code(), Some(CONFIGURATION));
        let calls = crate::surface::CALLS;
        let username = crate::surface::USERNAME_NOT_SET;
        assert_eq!(
            stdout(&output),
            format!(
                "error: USERNAME ({calls}): {username}\nerror: PASSWORD ({calls}): is empty but is used there: give it from an environment variable or a file (--set-env PASSWORD=VARIABLE or --set-file PASSWORD=PATH), never on the command line\n"
            )
        );
        assert_eq!(
            stderr(&output),
            "",
            "an empty value is no secret on the command line"
        );
        let output = run(&harness, "validate", &file, &["--set", "USERNAME=dcadmin"]);
        assert!(
            stdout(&output).contains(&format!(
                "error: PASSWORD ({}): {}",
                crate::surface::CALLS,
                crate::surface::PASSWORD_NOT_SET
            )),
            "{}",
            stdout(&output)
        );
    }
}
