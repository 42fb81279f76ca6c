//! The host of the Duck Creek connector component: loads it under wasmtime, lets it reach only
//! its endpoint, runs the jobs and keeps the state in SQLite. `dcconn` is a thin binary over it.
#![deny(missing_docs)]

pub mod cli;
pub mod connection;
pub mod fleet;
pub mod identities;
pub mod jobs;
pub mod model;
#[cfg(feature = "native-reference")]
pub mod native;
pub mod policy;
pub mod printable;
pub mod regular_file;
pub mod report;
pub mod runtime;
pub mod secrets;
pub mod store;
