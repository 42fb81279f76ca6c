//! The Duck Creek connector: the Saviynt SOAP connection format, its templates, response paths
//! and import plans, run against Duck Creek over HTTP.
//!
//! Everything here is plain Rust that builds and tests natively; only [`guest`] (the WIT
//! exports and the wasi:http client) is specific to the wasm32-wasip2 component.
#![deny(missing_docs)]
// A `ConnectorError` carries its call site and the remote side's words; it is created once per
// failed job, so its size on the error path costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

pub mod client;
pub mod config;
pub mod destinations;
pub mod error;
pub mod exchange;
pub mod expr;
pub mod import;
pub mod model;
pub mod path;
pub mod provision;
pub mod session;
pub mod template;
pub mod text;
pub mod tokens;
pub mod transport;
mod wit_convert;
pub mod xml;

#[cfg(target_arch = "wasm32")]
mod guest;
