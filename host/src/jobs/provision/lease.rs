//! The lease side of a worker's requests. Immediately before each request goes out, the lease of
//! the attempt in flight is extended to cover the request's deadline (the host cuts the request
//! there) and then the policy's lease, from a store connection of the gate's own (the worker's
//! is in use by the attempt). A request outside an attempt, or of an attempt whose task another
//! worker took over, is refused: nothing is sent. So a request only goes out while its lease
//! outlasts its deadline, and no two live workers ever have one task's request in flight.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::runtime::SendGate;
use crate::store::{Store, StoreError, TaskId};

/// Names a run's workers in task leases, `dcconn-PID-NANOS-wK`: unique to the process, the
/// moment the run started and the worker, so that even the workers of one run tell their leases
/// apart.
pub(super) fn owners() -> impl Fn(usize) -> String + Sync {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let run = format!("dcconn-{}-{nanos}", std::process::id());
    move |worker| format!("{run}-w{worker}")
}

/// One worker's leases, shared by the worker (which says which attempt is in flight) and its
/// instance's egress (which asks before each request).
#[derive(Clone)]
pub(super) struct Gate(Arc<Mutex<State>>);

/// What a [`Gate`] knows.
struct State {
    /// Its own connection to the store.
    store: Store,
    /// The worker's name in leases.
    owner: String,
    /// How long the lease lasts past a request's deadline.
    lease: Duration,
    /// The task of the attempt in flight.
    task: Option<TaskId>,
    /// Whether a request of the attempt in flight was refused because its lease was lost.
    lost: bool,
}

impl Gate {
    /// A gate renewing `owner`'s leases through `store`, each to last `lease` past the deadline
    /// of the request about to go out.
    pub(super) fn new(store: Store, owner: String, lease: Duration) -> Gate {
        Gate(Arc::new(Mutex::new(State {
            store,
            owner,
            lease,
            task: None,
            lost: false,
        })))
    }

    /// The worker's name in leases.
    pub(super) fn owner(&self) -> String {
        self.state().owner.clone()
    }

    /// From now until [`Gate::end`], requests go out under the lease of `task`, if at all.
    pub(super) fn begin(&self, task: TaskId) {
        let mut state = self.state();
        state.task = Some(task);
        state.lost = false;
    }

    /// Ends the attempt in flight: whether it lost its lease (a request of it was refused).
    pub(super) fn end(&self) -> bool {
        let mut state = self.state();
        state.task = None;
        std::mem::take(&mut state.lost)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent whatever panicked while holding it: every change is one
        // assignment.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SendGate for Gate {
    fn before_send(&mut self, deadline: Duration) -> Result<(), String> {
        let mut state = self.state();
        let State {
            store,
            owner,
            lease,
            task,
            lost,
        } = &mut *state;
        let Some(task) = *task else {
            return Err("no attempt of a task is in flight, so nothing may be sent".into());
        };
        match store.renew_task_lease(task, owner, deadline.saturating_add(*lease)) {
            Ok(until) => {
                tracing::debug!(task = task.0, %until, "lease renewed for a request");
                Ok(())
            }
            Err(StoreError::LeaseLost { .. }) => {
                *lost = true;
                Err(format!(
                    "task {task} is no longer leased to this worker (another worker took it over), so the request was not sent"
                ))
            }
            Err(error) => Err(format!(
                "the lease of task {task} could not be renewed, so the request was not sent: {error}"
            )),
        }
    }
}
