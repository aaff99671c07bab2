//! The scheduler's public API: [`Sched`] (DAOS's `tse_sched_t`, owned by
//! one thread) and the methods of [`SchedHandle`] that create tasks, drive
//! progress and register pollers.

use std::cmp::Reverse;
use std::ops::Deref;
use std::time::{Duration, Instant};

use crate::data::slot::{Body, State};
use crate::handle::step::Step;
use crate::poller::{Poller, PollerId};
use crate::sched::{Inner, SchedHandle, Task};
use crate::trace::Tracer;

impl SchedHandle {
    /// Creates a task that runs `body` once scheduled and ready. The body
    /// must complete the task ([`Task::complete`]), hand that job to someone
    /// else, or register dependencies on its own task, which then completes
    /// when the last of them does (DAOS's fan-out pattern).
    pub fn create(&self, body: impl FnMut(&Task) + 'static) -> Task {
        self.inner.create("", Body::Fn(Box::new(body)))
    }

    /// [`create`](Self::create) with a static name (the seed step it
    /// implements, for tracing).
    pub fn create_named(&self, name: &'static str, body: impl FnMut(&Task) + 'static) -> Task {
        self.inner.create(name, Body::Fn(Box::new(body)))
    }

    /// Creates a task without a body: it completes through
    /// [`Task::complete`] or, once dependencies are registered and it is
    /// scheduled, when its dependencies finish and someone completes it.
    pub fn create_empty(&self, name: &'static str) -> Task {
        self.inner.create(name, Body::None)
    }

    /// Runs what is ready: messages from other threads, due sleeping tasks,
    /// ready tasks (prep callbacks, then body), woken futures, and every
    /// registered poller; repeats until a pass finds nothing. Returns how
    /// much work was done (0 = idle). Never blocks.
    pub fn progress(&self) -> usize {
        self.inner.progress()
    }

    /// Progresses until `task` completes and returns its result. Parks the
    /// thread when there is nothing to do (other threads wake it), and spins
    /// while a poller has I/O in flight.
    pub fn progress_until(&self, task: &Task) -> i32 {
        loop {
            if let Some(rc) = task.try_result() {
                return rc;
            }
            if self.progress() == 0 {
                if let Some(rc) = task.try_result() {
                    return rc;
                }
                self.inner.wait(None);
            }
        }
    }

    /// Progresses until nothing is in flight (every scheduled task done, no
    /// sleeping task) or `timeout` passes; returns true if drained.
    pub fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.progress();
            if self.is_idle() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.inner.wait(Some(deadline - now));
        }
    }

    /// True if no scheduled task is waiting, running or sleeping and no
    /// woken future is queued (DAOS's `tse_sched_check_complete`).
    pub fn is_idle(&self) -> bool {
        let mut core = self.inner.core.borrow_mut();
        // A sleeping entry whose task was completed (or re-initialised)
        // meanwhile is stale: it will be skipped when due, so it does not
        // keep the scheduler busy.
        let core = &mut *core;
        let live_sleeper = core.sleeping.iter().any(|Reverse((_, key, epoch))| {
            let s = &core.slots[*key as usize];
            s.epoch == *epoch && s.state == State::Sleeping
        });
        core.inflight == 0 && !live_sleeper && self.inner.shared.runq.is_empty()
    }

    /// Number of tasks scheduled and not yet completed.
    pub fn inflight(&self) -> usize {
        self.inner.core.borrow().inflight
    }

    /// The first non-zero result of any task completed on this scheduler.
    pub fn first_error(&self) -> i32 {
        self.inner.core.borrow().first_error
    }

    /// Registers a poller, called by every `progress()`.
    pub fn register_poller(&self, p: Box<dyn Poller>) -> PollerId {
        self.inner.register_poller(p)
    }

    /// Removes a poller; returns false if it was not registered.
    pub fn unregister_poller(&self, id: PollerId) -> bool {
        self.inner.unregister_poller(id)
    }

    /// Opens a traced [`Step`] named `name` under the running task (or the
    /// innermost open step): a seed step that is a function call rather
    /// than a task of its own. Ends when the returned guard is ended or
    /// dropped.
    pub fn step(&self, name: &'static str) -> Step {
        Step {
            open: self.inner.begin_step(name),
        }
    }

    /// Opens a traced [`Step`] named `name` whose parent is `parent` (a
    /// task's or step's trace id), for steps that run outside that task's
    /// body, such as a completion the ring reaps for it. Tasks created
    /// and steps opened meanwhile hang below it, as with [`step`].
    ///
    /// [`step`]: Self::step
    pub fn step_under(&self, parent: u64, name: &'static str) -> Step {
        Step {
            open: self.inner.begin_step_under(Some(parent), name),
        }
    }

    /// True while a tracer records this scheduler's spans (so optional
    /// trace-only work can be skipped otherwise).
    pub fn tracing(&self) -> bool {
        self.inner.core.borrow().tracing
    }

    /// Starts (or with `None` stops) recording a [`Span`](crate::Span) for every named
    /// task that completes on this scheduler, labelled `label`.
    pub fn set_tracer(&self, label: &'static str, tracer: Option<Tracer>) {
        self.inner.set_tracer(label, tracer)
    }

    pub(crate) fn wait(&self, limit: Option<Duration>) {
        self.inner.wait(limit)
    }
}

impl std::fmt::Debug for SchedHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let core = self.inner.core.borrow();
        f.debug_struct("SchedHandle")
            .field("inflight", &core.inflight)
            .field("closed", &core.closed)
            .finish_non_exhaustive()
    }
}

/// A single-threaded scheduler (DAOS's `tse_sched_t`), owned by one thread.
///
/// Dropping it tears it down: every task not yet complete is completed with
/// `-DER_CANCELED` without running its body (sleeping tasks included),
/// spawned futures are dropped, and everything the tasks own is released.
/// Handles that outlive it see a closed scheduler: scheduling fails with
/// [`Error::NoPerm`](crate::Error::NoPerm) and new tasks are born canceled.
pub struct Sched {
    handle: SchedHandle,
}

impl Sched {
    /// A new scheduler owned by the calling thread.
    pub fn new() -> Sched {
        Sched {
            handle: SchedHandle {
                inner: Inner::new(),
            },
        }
    }

    /// A clonable handle (for bodies and callbacks that create tasks).
    pub fn handle(&self) -> SchedHandle {
        self.handle.clone()
    }
}

impl Default for Sched {
    fn default() -> Self {
        Sched::new()
    }
}

impl Deref for Sched {
    type Target = SchedHandle;
    fn deref(&self) -> &SchedHandle {
        &self.handle
    }
}

impl Drop for Sched {
    fn drop(&mut self) {
        self.handle.inner.teardown();
    }
}

impl std::fmt::Debug for Sched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle.fmt(f)
    }
}
