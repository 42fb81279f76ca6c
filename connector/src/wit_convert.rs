//! The conversions between the crate's types and the WIT's, written once for both sides of
//! the boundary: the component converts to wit-bindgen's types, a host that runs this logic
//! natively (the benchmarks' native reference) to wasmtime's. Both bindings generate the same
//! names from the same WIT, so one macro body serves both.

/// Defines, where it is invoked, the conversion functions between this crate's types and the
/// WIT types of the module named by its argument (e.g. `crate::guest::wit`).
#[macro_export]
macro_rules! wit_conversions {
    ($($wit:ident)::+) => {
        use $($wit)::+ as wit;
        #[allow(unused_imports)]
        use $crate::config::ReconciliationPolicy;
        #[allow(unused_imports)]
        use $crate::error::{ConnectorError, ErrorKind, Problem, Severity};
        #[allow(unused_imports)]
        use $crate::model::{Account, Batch, Entitlement, EntitlementRef, ImportScope};

        #[allow(dead_code)]
        fn columns(pairs: Vec<(String, String)>) -> Vec<wit::Column> {
            pairs
                .into_iter()
                .map(|(name, value)| wit::Column { name, value })
                .collect()
        }

        #[allow(dead_code)]
        fn link(link: EntitlementRef) -> wit::EntitlementRef {
            wit::EntitlementRef {
                entitlement_type: link.entitlement_type,
                value: link.value,
            }
        }

        #[allow(dead_code)]
        fn account(account: Account) -> wit::Account {
            wit::Account {
                name: account.name,
                columns: columns(account.columns),
                entitlements: account.entitlements.into_iter().map(link).collect(),
            }
        }

        #[allow(dead_code)]
        fn entitlement(entitlement: Entitlement) -> wit::Entitlement {
            wit::Entitlement {
                entitlement_type: entitlement.entitlement_type,
                value: entitlement.value,
                columns: columns(entitlement.columns),
            }
        }

        #[allow(dead_code)]
        pub fn batch(batch: Batch) -> wit::Batch {
            match batch {
                Batch::Accounts(records) => {
                    wit::Batch::Accounts(records.into_iter().map(account).collect())
                }
                Batch::AccountDetails(records) => {
                    wit::Batch::AccountDetails(records.into_iter().map(account).collect())
                }
                Batch::Entitlements(records) => {
                    wit::Batch::Entitlements(records.into_iter().map(entitlement).collect())
                }
            }
        }

        #[allow(dead_code)]
        pub fn scope(scope: wit::ImportScope) -> ImportScope {
            match scope {
                wit::ImportScope::Accounts => ImportScope::Accounts,
                wit::ImportScope::Access => ImportScope::Access,
                wit::ImportScope::All => ImportScope::All,
            }
        }

        #[allow(dead_code)]
        pub fn problem(problem: Problem) -> wit::Problem {
            wit::Problem {
                severity: match problem.severity {
                    Severity::Error => wit::Severity::Error,
                    Severity::Warning => wit::Severity::Warning,
                },
                attribute: problem.attribute,
                location: problem.location,
                message: problem.message,
            }
        }

        #[allow(dead_code)]
        pub fn error(error: ConnectorError) -> wit::ConnectorError {
            let kind = match error.kind {
                ErrorKind::InvalidConfiguration(problems) => {
                    wit::ErrorKind::InvalidConfiguration(problems.into_iter().map(problem).collect())
                }
                ErrorKind::Transport(message) => wit::ErrorKind::Transport(message),
                ErrorKind::HttpStatus {
                    status,
                    body_excerpt,
                } => wit::ErrorKind::HttpStatus(wit::HttpStatusError {
                    status,
                    body_excerpt,
                }),
                ErrorKind::SoapFault(fault) => wit::ErrorKind::SoapFault(wit::SoapFault {
                    code: fault.code,
                    reason: fault.reason,
                    detail: fault.detail,
                }),
                ErrorKind::OperationFailed(failure) => {
                    wit::ErrorKind::OperationFailed(wit::OperationFailure {
                        operation: failure.operation,
                        status: failure.status,
                        message: failure.message,
                    })
                }
                ErrorKind::Authentication(message) => wit::ErrorKind::Authentication(message),
                ErrorKind::UnexpectedResponse(message) => wit::ErrorKind::UnexpectedResponse(message),
                ErrorKind::Unsupported(message) => wit::ErrorKind::Unsupported(message),
                ErrorKind::SuccessCriteriaNotMet(failure) => {
                    wit::ErrorKind::SuccessCriteriaNotMet(wit::CriteriaFailure {
                        name: failure.name,
                        expected: failure.expected,
                        found: failure.found,
                    })
                }
                // A kind added after the host was built (the enum is non-exhaustive outside
                // this crate).
                #[allow(unreachable_patterns)]
                other => wit::ErrorKind::Unsupported(format!("{other:?}")),
            };
            wit::ConnectorError {
                kind,
                site: error.site.map(|site| wit::CallSite {
                    plan: site.plan,
                    call: site.call,
                    account: site.account,
                }),
            }
        }

        #[allow(dead_code)]
        pub fn policy(policy: ReconciliationPolicy) -> wit::ReconciliationPolicy {
            wit::ReconciliationPolicy {
                status_column: policy.status_column,
                active_statuses: policy.active_statuses,
                inactive_statuses: policy.inactive_statuses,
                account_threshold: policy.account_threshold,
                inactivate_accounts_not_in_file: policy.inactivate_accounts_not_in_file,
                inactivate_entitlements_not_in_feed: policy.inactivate_entitlements_not_in_feed,
                entitlement_thresholds: policy
                    .entitlement_thresholds
                    .into_iter()
                    .map(|(entitlement_type, threshold)| wit::EntitlementThreshold {
                        entitlement_type,
                        threshold,
                    })
                    .collect(),
                delete_links: policy.delete_links,
                locked_status_column: policy.locked_status_column,
                locked_values: policy.locked_values,
                unlocked_values: policy.unlocked_values,
                correlate_inactive_accounts: policy.correlate_inactive_accounts,
                allow_empty_account_list: policy.allow_empty_account_list,
            }
        }

        #[allow(dead_code)]
        pub fn columns_in(columns: Vec<wit::Column>) -> Vec<(String, String)> {
            columns
                .into_iter()
                .map(|column| (column.name, column.value))
                .collect()
        }

        #[allow(dead_code)]
        pub fn account_in(account: wit::Account) -> Account {
            Account {
                name: account.name,
                columns: columns_in(account.columns),
                entitlements: account
                    .entitlements
                    .into_iter()
                    .map(|link| EntitlementRef {
                        entitlement_type: link.entitlement_type,
                        value: link.value,
                    })
                    .collect(),
            }
        }

        #[allow(dead_code)]
        pub fn outcome(outcome: $crate::provision::ProvisioningOutcome) -> wit::ProvisioningOutcome {
            wit::ProvisioningOutcome {
                captured: columns(outcome.captured),
                comments: outcome.comments,
                account_updates: columns(outcome.account_updates),
                skipped_calls: outcome.skipped_calls,
            }
        }

        #[allow(dead_code)]
        pub fn rendered(rendered: $crate::provision::RenderedRequest) -> wit::RenderedRequest {
            let skipped = rendered.request.is_none();
            let request = rendered.request.unwrap_or_else(|| $crate::config::HttpRequest {
                body: String::new(),
                headers: Vec::new(),
            });
            wit::RenderedRequest {
                call: rendered.call,
                url: rendered.url,
                headers: columns(request.headers),
                body: request.body,
                skipped,
            }
        }

        #[allow(dead_code)]
        pub fn destination(destination: $crate::destinations::Destination) -> wit::Destination {
            use $crate::destinations::Scheme;
            wit::Destination {
                attribute: destination.attribute,
                location: destination.location,
                scheme: match destination.scheme {
                    Scheme::Http => wit::UrlScheme::Http,
                    Scheme::Https => wit::UrlScheme::Https,
                },
                host: destination.host,
                port: destination.port,
                path_and_query: destination.path_and_query,
            }
        }
    };
}
