//! The soak, in a test binary of its own: it measures this process's memory and open files, so
//! no other test may run beside it.

#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;

#[path = "../e2e/soak.rs"]
mod soak;
