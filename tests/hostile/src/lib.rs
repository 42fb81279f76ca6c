//! A deliberately hostile connector component, built by the end-to-end tests and never shipped.
//!
//! It exports the `duckcreek-connector` world like the real connector and behaves like a
//! harmless one everywhere except in the first `next()` of an import, which attempts what the
//! connection attribute `HOSTILE` names (see `guest`): reaching other hosts or the
//! simulator's admin API, looping forever, growing memory without bound, reading files and the
//! environment, flooding stdout and stderr, or returning a batch far larger than asked; with
//! `widen`, its `destinations` also claims URLs the connection does not name. The host must
//! contain each attempt and report it; `tests/e2e/hostile.rs` checks that it does.
//!
//! Natively the crate is empty: everything lives in the wasm32-only `guest` module.

#[cfg(target_arch = "wasm32")]
mod guest;
