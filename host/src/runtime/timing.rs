//! Where the time of the calls into a component goes: running its code, in the host functions
//! it calls (wasi:http and wasi:io, which is where it waits for the network), and crossing the
//! boundary (lowering arguments into its memory and lifting results out of it).
//!
//! wasmtime reports every transition through a call hook; each costs two clock reads, far
//! below the cost of the transition itself, so the accounting is always on.

use std::time::{Duration, Instant};

use wasmtime::CallHook;

/// The time spent in calls into a component, split by where it went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTimings {
    /// Wall time of the calls, from the host's call to its return.
    pub total: Duration,
    /// Running the component's own code.
    pub in_component: Duration,
    /// In host functions the component called (HTTP, streams, clocks), waiting included.
    pub in_host_calls: Duration,
}

impl CallTimings {
    /// What is left: lowering arguments, lifting results, and the component model's glue.
    pub fn crossing(&self) -> Duration {
        self.total
            .saturating_sub(self.in_component)
            .saturating_sub(self.in_host_calls)
    }
}

/// Accumulates [`CallTimings`] from the store's call hooks.
#[derive(Debug, Default)]
pub(super) struct PhaseClock {
    timings: CallTimings,
    /// When the component last started running (entered, or came back from a host call).
    component_since: Option<Instant>,
    /// When the component's current host call started.
    host_since: Option<Instant>,
}

impl PhaseClock {
    /// Records a transition.
    pub fn on_hook(&mut self, hook: CallHook) {
        let now = Instant::now();
        match hook {
            CallHook::CallingWasm | CallHook::ReturningFromHost => {
                if let Some(since) = self.host_since.take() {
                    self.timings.in_host_calls += now - since;
                }
                self.component_since = Some(now);
            }
            CallHook::CallingHost | CallHook::ReturningFromWasm => {
                if let Some(since) = self.component_since.take() {
                    self.timings.in_component += now - since;
                }
                if matches!(hook, CallHook::CallingHost) {
                    self.host_since = Some(now);
                }
            }
        }
    }

    /// Adds the wall time of one whole call.
    pub fn add_call(&mut self, elapsed: Duration) {
        self.timings.total += elapsed;
    }

    /// Everything recorded so far.
    pub fn timings(&self) -> CallTimings {
        self.timings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_between_hooks_goes_to_the_side_that_was_running() {
        let mut clock = PhaseClock::default();
        clock.on_hook(CallHook::CallingWasm);
        std::thread::sleep(Duration::from_millis(5));
        clock.on_hook(CallHook::CallingHost);
        std::thread::sleep(Duration::from_millis(20));
        clock.on_hook(CallHook::ReturningFromHost);
        clock.on_hook(CallHook::ReturningFromWasm);
        clock.add_call(Duration::from_millis(40));
        let timings = clock.timings();
        assert!(timings.in_component >= Duration::from_millis(5));
        assert!(timings.in_host_calls >= Duration::from_millis(20));
        assert!(timings.in_component < Duration::from_millis(20));
        assert_eq!(
            timings.crossing(),
            Duration::from_millis(40) - timings.in_component - timings.in_host_calls
        );
    }
}
