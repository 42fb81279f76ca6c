//! The `config` fuzz target: see [`duckcreek_connector_fuzz::config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| duckcreek_connector_fuzz::config(data));
