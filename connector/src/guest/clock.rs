//! The token cache's clock over wasi:clocks/monotonic-clock.

use std::time::Duration;

use wasip2::clocks::monotonic_clock;

use crate::tokens::Clock;

/// The host's monotonic clock.
pub struct WasiClock;

impl Clock for WasiClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(monotonic_clock::now())
    }

    fn sleep(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        monotonic_clock::subscribe_duration(nanos).block();
    }
}
