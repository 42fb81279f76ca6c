//! How the workers of one retry run stop together: when Duck Creek refuses the credentials, one
//! worker's refusal stops them all, so a wrong password costs one try of one task, not one of
//! every task the run would have attempted. A worker waiting for a task's next try wakes at
//! once instead of sleeping on.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// A flag the workers of a run share: raised once, it stays raised.
#[derive(Debug, Default)]
pub(super) struct Stop {
    raised: Mutex<bool>,
    raise: Condvar,
}

impl Stop {
    /// Raises the flag, waking every worker that is waiting.
    pub(super) fn raise(&self) {
        *self.raised.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.raise.notify_all();
    }

    /// Whether the flag is raised.
    pub(super) fn is_raised(&self) -> bool {
        *self.raised.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits `wait`, or less when the flag is raised meanwhile; whether it is raised.
    pub(super) fn wait(&self, wait: Duration) -> bool {
        let raised = self.raised.lock().unwrap_or_else(PoisonError::into_inner);
        let (raised, _) = self
            .raise
            .wait_timeout_while(raised, wait, |raised| !*raised)
            .unwrap_or_else(PoisonError::into_inner);
        *raised
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_raised_flag_ends_a_wait_at_once_and_stays_raised() {
        let stop = Stop::default();
        assert!(!stop.is_raised());
        assert!(!stop.wait(Duration::from_millis(1)));
        std::thread::scope(|scope| {
            let started = Instant::now();
            let waiter = scope.spawn(|| stop.wait(Duration::from_secs(600)));
            stop.raise();
            assert!(waiter.join().unwrap());
            assert!(started.elapsed() < Duration::from_secs(60));
        });
        assert!(stop.is_raised());
        assert!(stop.wait(Duration::from_secs(600)));
    }
}
