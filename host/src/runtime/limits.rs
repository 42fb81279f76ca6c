//! The limits a component runs under: CPU time per call, linear memory, HTTP timeouts, response
//! size and a deadline per job. Each has a documented default and a command-line flag; hitting
//! one stops the call with an error naming it, and the host carries on.
//!
//! CPU time is measured with the calling thread's CPU clock, checked whenever the engine's epoch
//! ticks (every [`EPOCH_TICK`]) while the component runs: time spent waiting for the network
//! costs no CPU, so a slow Duck Creek never trips it, while a loop does within a tick.

use std::time::{Duration, Instant};

use wasmtime::{ResourceLimiter, StoreContextMut, UpdateDeadline};

/// How often the engine's epoch advances, which is how often a running component is checked.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Table elements a component may have: far more than any real component needs.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The limits of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU time one call into the component may use (`--limit-cpu-ms`, default 60 s).
    pub cpu_per_call: Duration,
    /// The most linear memory the component may have (`--limit-memory-mib`, default 512 MiB).
    pub memory_bytes: u64,
    /// The longest a connection attempt may take, whatever the component asks
    /// (`--connect-timeout-ms`, default 30 s).
    pub connect_timeout: Duration,
    /// The longest wait for the first byte of a response (`--first-byte-timeout-ms`, default
    /// 300 s: Duck Creek renders large lists before it sends anything).
    pub first_byte_timeout: Duration,
    /// The longest pause between two parts of a response body (`--between-bytes-timeout-ms`,
    /// default 120 s).
    pub between_bytes_timeout: Duration,
    /// The largest response body the host passes on (`--limit-response-mib`, default 4 GiB: a
    /// million users is about 400 MB).
    pub max_response_bytes: u64,
    /// How long a job may run (`--limit-job-secs`, default 12 h).
    pub job_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_per_call: Duration::from_secs(60),
            memory_bytes: 512 << 20,
            connect_timeout: Duration::from_secs(30),
            first_byte_timeout: Duration::from_secs(300),
            between_bytes_timeout: Duration::from_secs(120),
            max_response_bytes: 4 << 30,
            job_deadline: Duration::from_secs(12 * 3600),
        }
    }
}

/// A limit that stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// [`Limits::cpu_per_call`].
    CpuTime,
    /// [`Limits::memory_bytes`].
    Memory,
    /// [`Limits::job_deadline`].
    JobDeadline,
}

impl Limit {
    /// The limit in words, with its value and the flag that sets it.
    pub fn describe(self, limits: &Limits) -> String {
        match self {
            Limit::CpuTime => format!(
                "used more than its CPU time limit of {} ms in one call (--limit-cpu-ms)",
                limits.cpu_per_call.as_millis()
            ),
            Limit::Memory => format!(
                "tried to grow its memory beyond the memory limit of {} MiB (--limit-memory-mib)",
                limits.memory_bytes >> 20
            ),
            Limit::JobDeadline => format!(
                "ran past the job's time limit of {} s (--limit-job-secs)",
                limits.job_deadline.as_secs()
            ),
        }
    }
}

/// The store-side state that enforces the limits of one instance.
#[derive(Debug)]
pub struct Guard {
    limits: Limits,
    job_started: Instant,
    call_started_cpu: Duration,
    exceeded: Option<Limit>,
}

impl Guard {
    /// A guard for a job starting now. Instantiation is the first call: its CPU time counts
    /// from here, not from the start of a thread that may have run other jobs before.
    pub fn new(limits: Limits) -> Guard {
        Guard {
            limits,
            job_started: Instant::now(),
            call_started_cpu: thread_cpu_time(),
            exceeded: None,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Marks the start of a call into the component.
    pub fn start_call(&mut self) {
        self.call_started_cpu = thread_cpu_time();
        self.exceeded = None;
    }

    /// Whether the job has run longer than its deadline.
    pub fn past_job_deadline(&self) -> bool {
        self.job_started.elapsed() > self.limits.job_deadline
    }

    /// The limit that stopped the last call, if one did.
    pub fn exceeded(&self) -> Option<Limit> {
        self.exceeded
    }

    /// Called on each epoch tick while the component runs: carries on, or stops the call when a
    /// limit is passed.
    fn on_tick(&mut self) -> UpdateDeadline {
        let exceeded =
            if thread_cpu_time().saturating_sub(self.call_started_cpu) > self.limits.cpu_per_call {
                Some(Limit::CpuTime)
            } else if self.past_job_deadline() {
                Some(Limit::JobDeadline)
            } else {
                None
            };
        match exceeded {
            Some(limit) => {
                self.exceeded = Some(limit);
                UpdateDeadline::Interrupt
            }
            None => UpdateDeadline::Continue(1),
        }
    }
}

impl ResourceLimiter for Guard {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired as u64 <= self.limits.memory_bytes;
        if !allowed {
            self.exceeded = Some(Limit::Memory);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The epoch callback of a store whose data holds a [`Guard`].
pub fn on_epoch<T>(
    guard: impl Fn(&mut T) -> &mut Guard + Send + Sync + 'static,
) -> impl FnMut(StoreContextMut<'_, T>) -> wasmtime::Result<UpdateDeadline> + Send + Sync + 'static
{
    move |mut context| Ok(guard(context.data_mut()).on_tick())
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always available
    // on Linux.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) };
    if result != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(time.tv_sec).unwrap_or(0),
        u32::try_from(time.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_cpu_clock_counts_work_not_waiting() {
        let start = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(50));
        let waited = thread_cpu_time() - start;
        assert!(waited < Duration::from_millis(20), "{waited:?}");
        let start = thread_cpu_time();
        let mut x = 0u64;
        while thread_cpu_time() - start < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu_time() - start >= Duration::from_millis(30));
    }

    #[test]
    fn a_guard_counts_cpu_from_its_creation_not_from_the_threads_start() {
        let limits = Limits {
            cpu_per_call: Duration::from_millis(20),
            ..Limits::default()
        };
        let start = thread_cpu_time();
        let mut x = 0u64;
        while thread_cpu_time() - start < Duration::from_millis(40) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let mut guard = Guard::new(limits);
        assert!(matches!(guard.on_tick(), UpdateDeadline::Continue(1)));
        assert_eq!(guard.exceeded(), None);
    }

    #[test]
    fn each_limit_names_its_value_and_flag() {
        let limits = Limits {
            cpu_per_call: Duration::from_millis(500),
            memory_bytes: 64 << 20,
            job_deadline: Duration::from_secs(30),
            ..Limits::default()
        };
        assert_eq!(
            Limit::CpuTime.describe(&limits),
            "used more than its CPU time limit of 500 ms in one call (--limit-cpu-ms)"
        );
        assert!(
            Limit::Memory
                .describe(&limits)
                .contains("64 MiB (--limit-memory-mib)")
        );
        assert!(
            Limit::JobDeadline
                .describe(&limits)
                .contains("30 s (--limit-job-secs)")
        );
    }

    #[test]
    fn memory_beyond_the_limit_is_refused_and_recorded() {
        let mut guard = Guard::new(Limits {
            memory_bytes: 1 << 20,
            ..Limits::default()
        });
        assert!(guard.memory_growing(0, 1 << 20, None).unwrap());
        assert_eq!(guard.exceeded(), None);
        assert!(
            !guard
                .memory_growing(1 << 20, (1 << 20) + 65536, None)
                .unwrap()
        );
        assert_eq!(guard.exceeded(), Some(Limit::Memory));
    }
}
