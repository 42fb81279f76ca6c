//! End-to-end tests: the real `dcconn` binary, the real component, a real SQLite file, and the
//! Duck Creek simulator on an ephemeral loopback port. One entry point; one module per theme.

mod cli;
mod contract;
mod corpus;
mod escapes;
mod failures;
mod files;
mod fleet;
mod hostile;
mod import;
mod install;
mod interop;
mod leases;
mod matrix;
mod output;
mod plan_inputs;
mod policy;
mod postgres_store;
mod profiles;
mod provision;
mod reconcile;
mod report;
mod secrets;
mod store_ops;
mod support;
mod surface;
mod tasks;
mod timings;
mod tokens;
mod values;
