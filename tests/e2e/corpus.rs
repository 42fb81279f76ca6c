//! The corpus: provisioning plans as Saviynt users write them.
//!
//! `tests/corpus/*.json` are connection files (objects of Saviynt attributes like
//! `packages/duckcreek.json`, with its account import and no STATUS_THRESHOLD_CONFIG, and without
//! SOAP_ENDPOINT or a password: the tests give those with `--set` and `--set-env`), each named
//! after the shape of plan it shows. Between them they cover RESPONSECODE captured from the body
//! (a text, a number bound in the next call) or as the HTTP status (an empty path),
//! SUCCESSCRITERIA as `"NAME=value"` and as an object, `TASK.PROVISIONINGCOMMENTS` in upper, lower
//! and mixed case, `ACCOUNT.<column>` captures, the bound variables (`${account.accountID}`,
//! `${accountName}`, `${task.accountName.toLowerCase()}`, `${user.email}` of the owner), empty
//! and quoted SOAPACTIONs and a SOAPAction in REQUESTPARAMS, a whole-envelope ternary that skips
//! its call, an XML declaration, comments and CDATA in pretty-printed templates, a bare `<server>`
//! template wrapped in SOAP, and the XML mode. `tests/corpus/refused/` holds plans that must fail:
//! a criterion the body does not meet, an unknown special target, a secret inside an expression.
//!
//! One table says what each file must do ([`CASES`]) and one function checks it ([`check`])
//! against the simulator and the real dcconn binary: `validate` reports exactly the expected
//! problems; after an import, `disable --dry-run` renders the plan with the password masked and
//! sends nothing; `disable` (then `enable`, when the file has an enable plan) sends exactly the
//! expected requests, its task ends COMPLETE after one try with its comments and skipped calls,
//! the stored account follows (status, lock, the `ACCOUNT.<column>` changes in its history) and
//! so does the simulated Duck Creek user.

use std::path::{Path, PathBuf};
use std::process::Output;

use dcconn::store::{Store, TaskId};
use dcsim::{Mode, User};
use serde_json::Value;

use crate::support::*;

const CONFIGURATION: i32 = 3;
const REMOTE: i32 = 5;

/// What a dry run shows in place of a secret.
const MASK: &str = "********";

const SOAP_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The headers of a request that sets none: only the default Content-Type.
const DEFAULT_HEADERS: Headers = &[("content-type", SOAP_CONTENT_TYPE)];

type Headers = &'static [(&'static str, &'static str)];

/// One operation of a request: its name and its attributes in document order (as the simulator
/// records them: the password redacted).
type Operation = (&'static str, &'static [(&'static str, &'static str)]);

const LOGIN: Operation = (
    "Session.loginRq",
    &[("userName", USERNAME), ("password", "<redacted>")],
);
const CLOSE: Operation = ("Session.closeRq", &[]);

/// A request the simulator must receive.
struct Request {
    mode: Mode,
    /// Every header but `host` and `content-length` (names in lower case; compared sorted).
    headers: Headers,
    /// The Duck Creek operations, in order.
    operations: &'static [Operation],
    /// Fragments the body must hold as received.
    body: &'static [&'static str],
}

/// A SOAP request with the default headers and these operations.
const fn soap(operations: &'static [Operation]) -> Request {
    Request {
        mode: Mode::Soap,
        headers: DEFAULT_HEADERS,
        operations,
        body: &[],
    }
}

/// What one `disable` or `enable` must do.
struct Run {
    /// Every request received, in order.
    requests: &'static [Request],
    /// The calls that rendered empty and were not sent.
    skipped: &'static [u32],
    /// What the task keeps from `TASK.PROVISIONINGCOMMENTS`.
    comments: Option<&'static str>,
    /// The `provisioned` entries of the account's history for this task: column, old value, new
    /// value, sorted by column. The shipped package maps no lock column, so a disable takes the
    /// lock from unknown to `yes`, and the enable after it back to `no`.
    changes: &'static [(&'static str, Option<&'static str>, &'static str)],
    /// The simulated user's status afterwards.
    sim_status: &'static str,
}

/// A corpus file and what it must do.
struct Case {
    /// The file under `tests/corpus/`.
    file: &'static str,
    /// The account disabled, then enabled.
    account: &'static str,
    /// Runs before the import (a Duck Creek user to add, identities to load).
    setup: Option<fn(&Harness)>,
    /// Exactly what `validate` reports: severity, attribute, locations (joined by `; `),
    /// message.
    problems: &'static [(&'static str, &'static str, &'static str, &'static str)],
    /// Fragments of the output of `disable --dry-run`.
    dry_run: &'static [&'static str],
    disable: Run,
    /// Run after the disable, for files with an ENABLEACCOUNTJSON (except the owner file: see
    /// [`corpus_owner_of_a_disabled_account_is_bound_when_it_is_enabled`]).
    enable: Option<Run>,
}

const UNDEFINED_SESSION: &str = "connection `dcSession` is not defined in CONNECTIONJSON: the session in the request body (USERNAME/PASSWORD) is used";

/// The corpus, file by file.
const CASES: &[Case] = &[
    Case {
        file: "responsecode-text-from-body.json",
        account: "o'brien&co",
        setup: None,
        problems: &[],
        dry_run: &[
            r#"<Session.loginRq userName="dcadmin" password="********"/><Security.lockUserAccountRq userID="2" userName="o&apos;brien&amp;co"/><Session.closeRq/>"#,
        ],
        disable: Run {
            requests: &[soap(&[
                LOGIN,
                (
                    "Security.lockUserAccountRq",
                    &[("userID", "2"), ("userName", "o'brien&co")],
                ),
                CLOSE,
            ])],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[soap(&[
                LOGIN,
                (
                    "Security.unlockUserAccountRq",
                    &[("userID", "2"), ("userName", "o'brien&co")],
                ),
                CLOSE,
            ])],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        file: "responsecode-http-status-empty-path.json",
        account: "party.parrot",
        setup: None,
        problems: &[],
        dry_run: &[
            r#"<Security.lockUserAccountRq userName="party.parrot"/>"#,
            r#"password="********""#,
        ],
        disable: Run {
            requests: &[soap(&[
                LOGIN,
                (
                    "Security.lockUserAccountRq",
                    &[("userName", "party.parrot")],
                ),
                CLOSE,
            ])],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[soap(&[
                LOGIN,
                (
                    "Security.unlockUserAccountRq",
                    &[("userName", "party.parrot")],
                ),
                CLOSE,
            ])],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        // Call 1 captures the user's numeric id as RESPONSECODE; call 2 locks by that id.
        file: "responsecode-number-from-body-bound-in-call-2.json",
        account: "王伟",
        setup: None,
        problems: &[],
        dry_run: &[
            "# call 1: POST ",
            r#"<OnlineData.getUserRq userName="王伟"/>"#,
            "# call 2: POST ",
            // What call 1 would capture is shown as its placeholder.
            r#"<Security.lockUserAccountRq userID="${RESPONSECODE}"/>"#,
        ],
        disable: Run {
            requests: &[
                soap(&[
                    LOGIN,
                    ("OnlineData.getUserRq", &[("userName", "王伟")]),
                    CLOSE,
                ]),
                soap(&[
                    LOGIN,
                    ("Security.lockUserAccountRq", &[("userID", "4")]),
                    CLOSE,
                ]),
            ],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[
                soap(&[
                    LOGIN,
                    ("OnlineData.getUserRq", &[("userName", "王伟")]),
                    CLOSE,
                ]),
                soap(&[
                    LOGIN,
                    ("Security.unlockUserAccountRq", &[("userID", "4")]),
                    CLOSE,
                ]),
            ],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        file: "successcriteria-object-two-values.json",
        account: "no.access",
        setup: None,
        problems: &[],
        dry_run: &[r#"<Security.lockUserAccountRq userName="no.access"/>"#],
        disable: Run {
            requests: &[soap(&[
                LOGIN,
                ("Security.lockUserAccountRq", &[("userName", "no.access")]),
                CLOSE,
            ])],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[soap(&[
                LOGIN,
                ("Security.unlockUserAccountRq", &[("userName", "no.access")]),
                CLOSE,
            ])],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        // `task.provisioningcomments` in the disable plan, `Task.ProvisioningComments` in the
        // enable plan.
        file: "provisioningcomments-any-case.json",
        account: "party.parrot",
        setup: None,
        problems: &[],
        dry_run: &[r#"<Security.lockUserAccountRq userName="party.parrot"/>"#],
        disable: Run {
            requests: &[soap(&[
                LOGIN,
                (
                    "Security.lockUserAccountRq",
                    &[("userName", "party.parrot")],
                ),
                CLOSE,
            ])],
            skipped: &[],
            comments: Some("User party.parrot locked"),
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[soap(&[
                LOGIN,
                (
                    "Security.unlockUserAccountRq",
                    &[("userName", "party.parrot")],
                ),
                CLOSE,
            ])],
            skipped: &[],
            comments: Some("User party.parrot unlocked"),
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        // ACCOUNT.ACCOUNTID captures the id the store already has (no change recorded),
        // ACCOUNT.CUSTOMPROPERTY5 a new column, and call 2 reads the Duck Creek status back
        // into ACCOUNT.CUSTOMPROPERTY2.
        file: "account-columns-captured.json",
        account: "user000008",
        setup: None,
        problems: &[],
        dry_run: &[
            r#"<Security.lockUserAccountRq userID="8" userName="user000008"/>"#,
            r#"<OnlineData.getUserRq userID="8"/>"#,
        ],
        disable: Run {
            requests: &[
                soap(&[
                    LOGIN,
                    (
                        "Security.lockUserAccountRq",
                        &[("userID", "8"), ("userName", "user000008")],
                    ),
                    CLOSE,
                ]),
                soap(&[LOGIN, ("OnlineData.getUserRq", &[("userID", "8")]), CLOSE]),
            ],
            skipped: &[],
            comments: None,
            changes: &[
                ("customproperty2", Some("Active"), "Locked"),
                ("customproperty5", None, "User user000008 locked"),
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[
                soap(&[
                    LOGIN,
                    (
                        "Security.unlockUserAccountRq",
                        &[("userID", "8"), ("userName", "user000008")],
                    ),
                    CLOSE,
                ]),
                soap(&[LOGIN, ("OnlineData.getUserRq", &[("userID", "8")]), CLOSE]),
            ],
            skipped: &[],
            comments: None,
            changes: &[
                ("customproperty2", Some("Locked"), "Active"),
                (
                    "customproperty5",
                    Some("User user000008 locked"),
                    "User user000008 unlocked",
                ),
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        // A mixed-case account with an owner: `${task.accountName.toLowerCase()}`,
        // `${accountName}`, `${user.email}`, `${user.firstname}`, `${user.lastname}`,
        // `${account.accountID}`.
        file: "owner-and-task-variables.json",
        account: "Ada.Lovelace",
        setup: Some(ada_lovelace_with_owner),
        problems: &[],
        dry_run: &[
            r#"<Security.lockUserAccountRq userID="100" requestedFor="ada.lovelace" requestedBy="ada.lovelace@corp.example" reason="Saviynt disabled Ada.Lovelace for Ada Lovelace"/>"#,
        ],
        disable: Run {
            requests: &[soap(&[
                LOGIN,
                (
                    "Security.lockUserAccountRq",
                    &[
                        ("userID", "100"),
                        ("requestedFor", "ada.lovelace"),
                        ("requestedBy", "ada.lovelace@corp.example"),
                        ("reason", "Saviynt disabled Ada.Lovelace for Ada Lovelace"),
                    ],
                ),
                CLOSE,
            ])],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        // Its enable plan binds `${user.email}` too, but once disabled the account is inactive
        // and has no owner: see `corpus_owner_of_a_disabled_account_is_bound_when_it_is_enabled`.
        enable: None,
    },
    Case {
        // `"SOAPACTION": ""` sends an empty SOAPAction header.
        file: "soapaction-empty.json",
        account: "jürgen.müller",
        setup: None,
        problems: &[],
        dry_run: &[
            "\nSOAPAction: \n",
            "Content-Type: text/xml; charset=utf-8\n",
        ],
        disable: Run {
            requests: &[Request {
                mode: Mode::Soap,
                headers: &[("content-type", SOAP_CONTENT_TYPE), ("soapaction", "")],
                operations: &[
                    LOGIN,
                    (
                        "Security.lockUserAccountRq",
                        &[("userName", "jürgen.müller")],
                    ),
                    CLOSE,
                ],
                body: &[],
            }],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[Request {
                mode: Mode::Soap,
                headers: &[("content-type", SOAP_CONTENT_TYPE), ("soapaction", "")],
                operations: &[
                    LOGIN,
                    (
                        "Security.unlockUserAccountRq",
                        &[("userName", "jürgen.müller")],
                    ),
                    CLOSE,
                ],
                body: &[],
            }],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        // A quoted SOAPACTION is sent with its quotes; the enable plan spells the key
        // `soapAction`.
        file: "soapaction-quoted.json",
        account: "user000007",
        setup: None,
        problems: &[],
        dry_run: &["\nSOAPAction: \"urn:lockUser\"\n"],
        disable: Run {
            requests: &[Request {
                mode: Mode::Soap,
                headers: &[
                    ("content-type", SOAP_CONTENT_TYPE),
                    ("soapaction", "\"urn:lockUser\""),
                ],
                operations: &[
                    LOGIN,
                    ("Security.lockUserAccountRq", &[("userName", "user000007")]),
                    CLOSE,
                ],
                body: &[],
            }],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[Request {
                mode: Mode::Soap,
                headers: &[
                    ("content-type", SOAP_CONTENT_TYPE),
                    ("soapaction", "\"urn:unlockUser\""),
                ],
                operations: &[
                    LOGIN,
                    (
                        "Security.unlockUserAccountRq",
                        &[("userName", "user000007")],
                    ),
                    CLOSE,
                ],
                body: &[],
            }],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        // SOAPAction, a trace header and the Content-Type in REQUESTPARAMS; the enable plan's
        // trace header is a template.
        file: "soapaction-in-requestparams.json",
        account: "user000009",
        setup: None,
        problems: &[],
        dry_run: &["\nSOAPAction: urn:x\nX-Trace: corpus\nContent-Type: text/xml;charset=UTF-8\n"],
        disable: Run {
            requests: &[Request {
                mode: Mode::Soap,
                headers: &[
                    ("content-type", "text/xml;charset=UTF-8"),
                    ("soapaction", "urn:x"),
                    ("x-trace", "corpus"),
                ],
                operations: &[
                    LOGIN,
                    ("Security.lockUserAccountRq", &[("userName", "user000009")]),
                    CLOSE,
                ],
                body: &[],
            }],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[Request {
                mode: Mode::Soap,
                headers: &[
                    ("content-type", SOAP_CONTENT_TYPE),
                    ("soapaction", "urn:x"),
                    ("x-trace", "corpus-user000009"),
                ],
                operations: &[
                    LOGIN,
                    (
                        "Security.unlockUserAccountRq",
                        &[("userName", "user000009")],
                    ),
                    CLOSE,
                ],
                body: &[],
            }],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        // The shape users write for a conditional plan: one `${...}` building the whole
        // envelope, the login inside it (`' + PASSWORD + '`: the host's placeholder passes
        // through a concatenation unchanged). The account is Active, so the envelope is sent.
        file: "whole-envelope-ternary-with-login.json",
        account: "o'brien&co",
        setup: None,
        problems: &[],
        dry_run: &[
            r#"<Session.loginRq userName="dcadmin" password="********"/><Security.lockUserAccountRq userName="o&apos;brien&amp;co"/><Session.closeRq/>"#,
        ],
        disable: Run {
            requests: &[soap(&[
                LOGIN,
                ("Security.lockUserAccountRq", &[("userName", "o'brien&co")]),
                CLOSE,
            ])],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: None,
    },
    Case {
        // `dev<ops>` is Locked in Duck Creek (customproperty2): call 2's ternary chooses `''`,
        // so only call 1 (a login check in ordinary markup) is sent; the task still completes.
        file: "whole-envelope-ternary-skips-locked.json",
        account: "dev<ops>",
        setup: None,
        problems: &[],
        dry_run: &[
            "# call 1: POST ",
            r#"<Session.loginRq userName="dcadmin" password="********"/><Session.closeRq/>"#,
            "\n# call 2: skipped (its REQUESTXML renders empty: nothing is sent)\n",
        ],
        disable: Run {
            requests: &[soap(&[LOGIN, CLOSE])],
            skipped: &[2],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[soap(&[
                LOGIN,
                ("Security.unlockUserAccountRq", &[("userName", "dev<ops>")]),
                CLOSE,
            ])],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        // Pretty-printed templates: an XML declaration, comments, CDATA; the disable template is
        // a whole envelope (sent as written), the enable template a bare `<server>` document
        // (wrapped in an envelope, its declaration dropped).
        file: "cdata-declaration-comment.json",
        account: "o'brien&co",
        setup: None,
        problems: &[],
        dry_run: &[
            "\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- Saviynt: disable the Duck Creek user -->\n<soapenv:Envelope",
            r#"<Session.loginRq userName="dcadmin" password="********"/>"#,
            "<Security.lockUserAccountRq userName=\"o&apos;brien&amp;co\">\n          <Reason><![CDATA[Disabled by Saviynt <IGA> & friends: o'brien&co]]></Reason>",
        ],
        disable: Run {
            requests: &[Request {
                mode: Mode::Soap,
                headers: DEFAULT_HEADERS,
                operations: &[
                    LOGIN,
                    ("Security.lockUserAccountRq", &[("userName", "o'brien&co")]),
                    CLOSE,
                ],
                body: &[
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- Saviynt: disable the Duck Creek user -->\n<soapenv:Envelope",
                    "<!-- lock by name; the reason is free text -->",
                    "<Reason><![CDATA[Disabled by Saviynt <IGA> & friends: o'brien&co]]></Reason>",
                ],
            }],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[Request {
                mode: Mode::Soap,
                headers: DEFAULT_HEADERS,
                operations: &[
                    LOGIN,
                    (
                        "Security.unlockUserAccountRq",
                        &[("userName", "o'brien&co")],
                    ),
                    CLOSE,
                ],
                body: &[
                    "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>\n<server>",
                    "<!-- unlock by name: the name is XML-escaped in the attribute -->",
                    "<Note><![CDATA[<enabled/>]]></Note>",
                ],
            }],
            skipped: &[],
            comments: None,
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        file: "xml-mode-bare-server.json",
        account: "user000010",
        setup: None,
        problems: &[],
        dry_run: &[
            "\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><server><requests><Session.loginRq userName=\"dcadmin\" password=\"********\"/><Security.lockUserAccountRq userID=\"10\" userName=\"user000010\"/><Session.closeRq/></requests></server>\n",
        ],
        disable: Run {
            requests: &[Request {
                mode: Mode::Xml,
                headers: DEFAULT_HEADERS,
                operations: &[
                    LOGIN,
                    (
                        "Security.lockUserAccountRq",
                        &[("userID", "10"), ("userName", "user000010")],
                    ),
                    CLOSE,
                ],
                body: &["<?xml version=\"1.0\" encoding=\"UTF-8\"?><server><requests>"],
            }],
            skipped: &[],
            comments: Some("User user000010 locked"),
            changes: &[
                ("customproperty5", None, "Success"),
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[Request {
                mode: Mode::Xml,
                headers: DEFAULT_HEADERS,
                operations: &[
                    LOGIN,
                    (
                        "Security.unlockUserAccountRq",
                        &[("userID", "10"), ("userName", "user000010")],
                    ),
                    CLOSE,
                ],
                body: &["<server><requests>"],
            }],
            skipped: &[],
            comments: Some("User user000010 unlocked"),
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
    Case {
        // The README's example: a bare `<server>` template in SOAP mode, an empty SOAPACTION,
        // and a CONNECTION that names no connection of CONNECTIONJSON (a warning: the session
        // in the body is used). ACCOUNT.ACCOUNTID captures the id the store has: no change.
        file: "bare-server-wrapped-in-soap.json",
        account: "user000007",
        setup: None,
        problems: &[
            (
                "warning",
                "ENABLEACCOUNTJSON",
                "call 1 (CONNECTION)",
                UNDEFINED_SESSION,
            ),
            (
                "warning",
                "DISABLEACCOUNTJSON",
                "call 1 (CONNECTION)",
                UNDEFINED_SESSION,
            ),
        ],
        dry_run: &[
            "\nSOAPAction: \n",
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><server><requests><Session.loginRq userName="dcadmin" password="********"/><Security.lockUserAccountRq userID="7" userName="user000007"/><Session.closeRq/></requests></server></soapenv:Body></soapenv:Envelope>"#,
        ],
        disable: Run {
            requests: &[Request {
                mode: Mode::Soap,
                headers: &[("content-type", SOAP_CONTENT_TYPE), ("soapaction", "")],
                operations: &[
                    LOGIN,
                    (
                        "Security.lockUserAccountRq",
                        &[("userID", "7"), ("userName", "user000007")],
                    ),
                    CLOSE,
                ],
                body: &[],
            }],
            skipped: &[],
            comments: Some("User user000007 locked"),
            changes: &[
                ("locked", None, "yes"),
                ("status", Some("active"), "inactive"),
            ],
            sim_status: "Locked",
        },
        enable: Some(Run {
            requests: &[Request {
                mode: Mode::Soap,
                headers: &[("content-type", SOAP_CONTENT_TYPE), ("soapaction", "")],
                operations: &[
                    LOGIN,
                    (
                        "Security.unlockUserAccountRq",
                        &[("userID", "7"), ("userName", "user000007")],
                    ),
                    CLOSE,
                ],
                body: &[],
            }],
            skipped: &[],
            comments: Some("User user000007 unlocked"),
            changes: &[
                ("locked", Some("yes"), "no"),
                ("status", Some("inactive"), "active"),
            ],
            sim_status: "Active",
        }),
    },
];

/// What enabling `Ada.Lovelace` with `owner-and-task-variables.json` must send after a disable:
/// the owner's e-mail in `requestedBy`.
const OWNER_ENABLE: Run = Run {
    requests: &[soap(&[
        LOGIN,
        (
            "Security.unlockUserAccountRq",
            &[
                ("userID", "100"),
                ("userName", "Ada.Lovelace"),
                ("requestedBy", "ada.lovelace@corp.example"),
            ],
        ),
        CLOSE,
    ])],
    skipped: &[],
    comments: None,
    changes: &[
        ("locked", Some("yes"), "no"),
        ("status", Some("inactive"), "active"),
    ],
    sim_status: "Active",
};

fn corpus(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/corpus")
        .join(file)
}

/// `dcconn <command> -c FILE --set SOAP_ENDPOINT=... --set USERNAME=... --set-env PASSWORD=...
/// <extra>`.
fn run(harness: &Harness, command: &str, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec![command.to_string()];
    let mut connection = harness.connection_args(SOAP_PACKAGE);
    connection[1] = file.display().to_string();
    args.extend(connection);
    args.extend(extra.iter().map(|s| s.to_string()));
    harness.dcconn(&args)
}

/// What `validate --format json` reports: severity, attribute, locations (joined by `; `),
/// message.
fn problems(output: &Output) -> Vec<(String, String, String, String)> {
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("validate prints JSON ({e}): {}", stdout(output)));
    rows.iter()
        .map(|p| {
            let text = |key: &str| p[key].as_str().unwrap_or_default().to_string();
            let locations: Vec<&str> = p["locations"]
                .as_array()
                .map(|places| places.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            (
                text("severity"),
                text("attribute"),
                locations.join("; "),
                text("message"),
            )
        })
        .collect()
}

/// The tasks, newest first, as `dcconn tasks --format json` lists them.
fn tasks(harness: &Harness) -> Vec<Value> {
    harness.list("tasks")
}

/// `dcconn show account NAME --format json`.
fn show_account(harness: &Harness, name: &str) -> Value {
    let output = harness.dcconn(&["show", "account", name, "--format", "json"]);
    assert_success(&output);
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

/// The `provisioned` entries of an account's history for task `task`: column, old, new, sorted
/// by column.
fn provisioned(account: &Value, task: i64) -> Vec<(String, Option<String>, String)> {
    let mut changes: Vec<(String, Option<String>, String)> = account["history"]
        .as_array()
        .expect("a history")
        .iter()
        .filter(|entry| entry["change"] == "provisioned" && entry["task"] == task)
        .map(|entry| {
            (
                entry["column"].as_str().unwrap_or_default().to_string(),
                entry["old"].as_str().map(str::to_string),
                entry["new"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    changes.sort();
    changes
}

fn sim_status(harness: &Harness, name: &str) -> String {
    harness
        .sim
        .dataset()
        .user(name)
        .unwrap_or_else(|| panic!("{name} in the simulator"))
        .status
        .clone()
}

/// The test of one corpus file.
fn check(file: &str) {
    let case = CASES
        .iter()
        .find(|case| case.file == file)
        .unwrap_or_else(|| panic!("{file} is in the table"));
    let harness = Harness::new(10);
    if let Some(setup) = case.setup {
        setup(&harness);
    }
    let path = corpus(case.file);

    // 1. validate: exactly the expected problems, and nothing sent.
    let output = run(&harness, "validate", &path, &["--format", "json"]);
    assert_success(&output);
    let expected: Vec<(String, String, String, String)> = case
        .problems
        .iter()
        .map(|(s, a, l, m)| (s.to_string(), a.to_string(), l.to_string(), m.to_string()))
        .collect();
    assert_eq!(problems(&output), expected, "{file}: validate");
    assert!(harness.sim.requests().is_empty(), "validate sends nothing");

    // 2. import, then a dry run: the plan rendered, the password masked, nothing sent.
    assert_success(&run(&harness, "import", &path, &["--json"]));
    harness.sim.clear_requests();
    let output = run(
        &harness,
        "disable",
        &path,
        &["--account", case.account, "--dry-run"],
    );
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.starts_with(
            "dry run: nothing was sent and no task was created; the plan would send:\n"
        ),
        "{text}"
    );
    for fragment in case.dry_run {
        assert!(
            text.contains(fragment),
            "{file}: the dry run lacks {fragment:?}:\n{text}"
        );
    }
    let logs_in = case.disable.requests.iter().any(|request| {
        request
            .operations
            .iter()
            .any(|(name, _)| *name == "Session.loginRq")
    });
    if logs_in {
        assert!(text.contains(&format!("password=\"{MASK}\"")), "{text}");
    }
    assert!(
        !text.contains(PASSWORD_ESCAPED) && !text.contains("e2e-Secret"),
        "the password leaked: {text}"
    );
    assert!(harness.sim.requests().is_empty(), "a dry run sends nothing");
    assert!(tasks(&harness).is_empty(), "a dry run creates no task");

    // 3. disable, then enable.
    provision(&harness, case, &path, "disable", &case.disable, 1);
    if let Some(enable) = &case.enable {
        provision(&harness, case, &path, "enable", enable, 2);
    }
}

/// Runs `kind` for the case's account (its task is `task`) and checks everything it did.
fn provision(harness: &Harness, case: &Case, path: &Path, kind: &str, expected: &Run, task: i64) {
    let file = case.file;
    harness.sim.clear_requests();
    let output = run(harness, kind, path, &["--account", case.account]);
    assert_success(&output);
    let comments = expected
        .comments
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let skipped = match expected.skipped {
        [] => String::new(),
        [call] => format!("; call {call} skipped: renders empty, nothing sent"),
        calls => format!(
            "; calls {} skipped: render empty, nothing sent",
            calls
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    assert_eq!(
        stdout(&output),
        format!(
            "task {task}: {kind} {}: COMPLETE after 1 try{comments}{skipped}\n",
            case.account
        ),
        "{file}: {kind}"
    );

    // The requests, exactly.
    let received = harness.sim.requests();
    assert_eq!(
        received.len(),
        expected.requests.len(),
        "{file}: {kind}: requests received: {received:#?}"
    );
    for (number, (seen, wanted)) in received.iter().zip(expected.requests).enumerate() {
        let at = format!("{file}: {kind}: request {}", number + 1);
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str(), seen.mode),
            ("POST", "/dc/services", wanted.mode),
            "{at}"
        );
        let mut headers: Vec<(String, String)> = seen
            .raw_headers
            .iter()
            .filter(|(name, _)| name != "host" && name != "content-length")
            .cloned()
            .collect();
        headers.sort();
        let mut wanted_headers: Vec<(String, String)> = wanted
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        wanted_headers.sort();
        assert_eq!(headers, wanted_headers, "{at}: headers");
        let operations: Vec<(String, Vec<(String, String)>)> = seen
            .operations
            .iter()
            .map(|o| (o.name.clone(), o.attributes.clone()))
            .collect();
        let wanted_operations: Vec<(String, Vec<(String, String)>)> = wanted
            .operations
            .iter()
            .map(|(name, attributes)| {
                (
                    name.to_string(),
                    attributes
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(operations, wanted_operations, "{at}: operations");
        for fragment in wanted.body {
            assert!(
                seen.body.contains(fragment),
                "{at}: the body lacks {fragment:?}:\n{}",
                seen.body
            );
        }
        if seen.operations.iter().any(|o| o.name == "Session.loginRq") {
            // The host wrote the real password in, XML-escaped.
            assert!(
                seen.body
                    .contains(&format!("password=\"{PASSWORD_ESCAPED}\"")),
                "{at}: {}",
                seen.body
            );
        }
    }

    // The task: COMPLETE after one try, with its comments and skipped calls.
    let listed = tasks(harness);
    let row = listed
        .iter()
        .find(|t| t["id"] == task)
        .unwrap_or_else(|| panic!("{file}: task {task} in {listed:#?}"));
    assert_eq!(
        (
            row["kind"].as_str(),
            row["account"].as_str(),
            row["status"].as_str(),
            row["tries"].as_u64(),
            row["lastError"].as_str(),
            row["comments"].as_str(),
        ),
        (
            Some(kind),
            Some(case.account),
            Some("COMPLETE"),
            Some(1),
            None,
            expected.comments
        ),
        "{file}: {kind}: the task"
    );
    let store = Store::open(&harness.db()).expect("the store opens");
    let attempts = store.task_attempts(TaskId(task)).expect("the attempts");
    assert_eq!(attempts.len(), 1, "{file}: {kind}: {attempts:?}");
    assert_eq!(
        (
            attempts[0].skipped_calls.as_slice(),
            attempts[0].comments.as_deref()
        ),
        (expected.skipped, expected.comments),
        "{file}: {kind}: the attempt"
    );
    drop(store);

    // The stored account and its history.
    let account = show_account(harness, case.account);
    let (status, locked) = match kind {
        "disable" => ("inactive", true),
        _ => ("active", false),
    };
    assert_eq!(
        (account["status"].as_str(), account["locked"].as_bool()),
        (Some(status), Some(locked)),
        "{file}: {kind}: the stored account"
    );
    let wanted_changes: Vec<(String, Option<String>, String)> = expected
        .changes
        .iter()
        .map(|(c, o, n)| (c.to_string(), o.map(str::to_string), n.to_string()))
        .collect();
    assert_eq!(
        provisioned(&account, task),
        wanted_changes,
        "{file}: {kind}: the account's history"
    );
    for (column, _, new) in expected.changes {
        if !matches!(*column, "status" | "locked") {
            assert_eq!(
                account["columns"][column].as_str(),
                Some(*new),
                "{file}: {kind}: column {column}"
            );
        }
    }

    // And Duck Creek itself.
    assert_eq!(
        sim_status(harness, case.account),
        expected.sim_status,
        "{file}: {kind}: the simulated user"
    );
}

/// A mixed-case Duck Creek user, `Ada.Lovelace` (id 100), owned by the identity of the same
/// name (loaded before the import, matched by the default rule `name=username`).
fn ada_lovelace_with_owner(harness: &Harness) {
    harness.sim.set_user(User {
        id: 100,
        name: "Ada.Lovelace".into(),
        email: "ada@duckcreek.example".into(),
        full_name: "Ada Lovelace".into(),
        status: "Active".into(),
        entities: Vec::new(),
        roles: Vec::new(),
    });
    let csv = harness.dir.path().join("identities.csv");
    std::fs::write(
        &csv,
        "username,firstname,lastname,email\nAda.Lovelace,Ada,Lovelace,ada.lovelace@corp.example\n",
    )
    .expect("the identities file is written");
    let output = harness.dcconn(&[
        "identities".to_string(),
        "load".to_string(),
        csv.display().to_string(),
    ]);
    assert_success(&output);
}

#[test]
fn corpus_responsecode_text_from_body() {
    check("responsecode-text-from-body.json");
}

#[test]
fn corpus_responsecode_http_status_empty_path() {
    check("responsecode-http-status-empty-path.json");
}

#[test]
fn corpus_responsecode_number_from_body_bound_in_call_2() {
    check("responsecode-number-from-body-bound-in-call-2.json");
}

#[test]
fn corpus_successcriteria_object_two_values() {
    check("successcriteria-object-two-values.json");
}

#[test]
fn corpus_provisioningcomments_any_case() {
    check("provisioningcomments-any-case.json");
}

#[test]
fn corpus_account_columns_captured() {
    check("account-columns-captured.json");
}

#[test]
fn corpus_owner_and_task_variables() {
    check("owner-and-task-variables.json");
}

#[test]
fn corpus_soapaction_empty() {
    check("soapaction-empty.json");
}

#[test]
fn corpus_soapaction_quoted() {
    check("soapaction-quoted.json");
}

#[test]
fn corpus_soapaction_in_requestparams() {
    check("soapaction-in-requestparams.json");
}

#[test]
fn corpus_whole_envelope_ternary_with_login() {
    check("whole-envelope-ternary-with-login.json");
}

#[test]
fn corpus_whole_envelope_ternary_skips_locked() {
    check("whole-envelope-ternary-skips-locked.json");
}

#[test]
fn corpus_cdata_declaration_comment() {
    check("cdata-declaration-comment.json");
}

#[test]
fn corpus_xml_mode_bare_server() {
    check("xml-mode-bare-server.json");
}

#[test]
fn corpus_bare_server_wrapped_in_soap() {
    check("bare-server-wrapped-in-soap.json");
}

/// Every file of the corpus has its row in the table, and every row its file.
#[test]
fn corpus_table_lists_every_file() {
    let folder = corpus("");
    let mut files: Vec<String> = std::fs::read_dir(&folder)
        .expect("tests/corpus")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|case| case.file.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
    assert!(files.len() >= 12, "{files:?}");
    // No file carries an endpoint or a password: the tests give them.
    for file in &files {
        let value: Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join(file)).unwrap()).unwrap();
        for key in ["SOAP_ENDPOINT", "PASSWORD", "STATUS_THRESHOLD_CONFIG"] {
            assert!(value.get(key).is_none(), "{file} sets {key}");
        }
    }
}

/// A criterion the body does not meet (`RESPONSECODE=1` against `Success`): the try fails, the
/// task waits as PENDING PROVISIONING with an error naming the criterion and the value found,
/// and the stored account is unchanged (Duck Creek did lock the user: the criterion is checked
/// on its answer).
#[test]
fn corpus_refused_a_criterion_the_body_does_not_meet_leaves_the_task_pending() {
    let harness = Harness::new(10);
    let path = corpus("refused/successcriteria-value-not-in-body.json");
    let output = run(&harness, "validate", &path, &["--format", "json"]);
    assert_success(&output);
    assert_eq!(problems(&output), Vec::new());
    assert_success(&run(&harness, "import", &path, &["--json"]));
    harness.sim.clear_requests();
    let output = run(
        &harness,
        "disable",
        &path,
        &["--account", "no.access", "--backoff-ms", "20"],
    );
    let error = "DISABLEACCOUNTJSON call 1 (account \"no.access\"): SUCCESSCRITERIA RESPONSECODE=1 not met: found \"Success\"";
    assert_eq!(output.status.code(), Some(REMOTE), "{}", stderr(&output));
    let line = stdout(&output);
    assert!(
        line.starts_with(&format!(
            "task 1: disable no.access: PENDING PROVISIONING after 1 try: {error} (next try at "
        )),
        "{line}"
    );
    let listed = tasks(&harness);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0]["status"].as_str(),
            listed[0]["tries"].as_u64(),
            listed[0]["lastError"].as_str(),
            listed[0]["comments"].as_str(),
        ),
        (Some("PENDING PROVISIONING"), Some(1), Some(error), None)
    );
    let requests = harness.sim.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].operations[1].attributes,
        vec![("userName".to_string(), "no.access".to_string())]
    );
    let account = show_account(&harness, "no.access");
    assert_eq!(
        (account["status"].as_str(), account["locked"].as_bool()),
        (Some("active"), None)
    );
    assert_eq!(provisioned(&account, 1), Vec::new());
    assert_eq!(sim_status(&harness, "no.access"), "Locked");
}

/// `TASK.FOO` is no target the connector knows: validate names it with its place, and disable
/// refuses the plan before a task is created or anything sent.
#[test]
fn corpus_refused_an_unknown_special_target_is_named_at_its_place() {
    let harness = Harness::new(10);
    let path = corpus("refused/unknown-special-target.json");
    let output = run(&harness, "validate", &path, &["--format", "json"]);
    assert_eq!(
        output.status.code(),
        Some(CONFIGURATION),
        "{}",
        stderr(&output)
    );
    let message = "`TASK.FOO` is not a RESPONSEMAPPING target this connector knows: the special targets are `TASK.PROVISIONINGCOMMENTS` (a text kept on the task) and `ACCOUNT.<column>` (e.g. `ACCOUNT.ACCOUNTID`: a new value for a column of the stored account); any other name is an ordinary capture and has no dot (`STATUS`, `RESPONSECODE`)";
    assert_eq!(
        problems(&output),
        vec![(
            "error".to_string(),
            "DISABLEACCOUNTJSON".to_string(),
            "call 1 (RESPONSEMAPPING).TASK.FOO".to_string(),
            message.to_string()
        )]
    );
    // The import with this file is refused as well: the connection is invalid as a whole.
    let output = run(&harness, "import", &path, &["--json"]);
    assert_failure(&output, CONFIGURATION, &["TASK.FOO"]);
    assert!(harness.sim.requests().is_empty());
    // With the endpoint imported by the shipped package, disable refuses the plan before a task
    // is created or anything sent.
    assert_success(&run(
        &harness,
        "import",
        &package(SOAP_PACKAGE),
        &["--json", "--endpoint", "corpus-unknown-target"],
    ));
    harness.sim.clear_requests();
    let output = run(&harness, "disable", &path, &["--account", "no.access"]);
    assert_failure(
        &output,
        CONFIGURATION,
        &[
            "DISABLEACCOUNTJSON (call 1 (RESPONSEMAPPING).TASK.FOO)",
            "TASK.FOO",
        ],
    );
    assert!(harness.sim.requests().is_empty());
    assert!(tasks(&harness).is_empty(), "no task for a refused plan");
}

/// `owner-and-task-variables.json`'s enable plan binds `${user.email}`: enabling the account it
/// disabled still sends its owner's e-mail, although the disabled account is inactive (and so
/// has no owner in listings unless `correlateInactiveAccounts`): a provisioning plan is given
/// the account's owner whatever its status.
#[test]
fn corpus_owner_of_a_disabled_account_is_bound_when_it_is_enabled() {
    let case = CASES
        .iter()
        .find(|case| case.file == "owner-and-task-variables.json")
        .expect("in the table");
    let harness = Harness::new(10);
    ada_lovelace_with_owner(&harness);
    let path = corpus(case.file);
    assert_success(&run(&harness, "import", &path, &["--json"]));
    provision(&harness, case, &path, "disable", &case.disable, 1);
    provision(&harness, case, &path, "enable", &OWNER_ENABLE, 2);
}
