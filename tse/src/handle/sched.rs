//! The scheduler's public API: [`Sched`] (DAOS's `tse_sched_t`, owned by
//! one thread) and the methods of [`SchedHandle`] that create tasks, drive
//! progress and register pollers.

use std::any::Any;
use std::ops::Deref;
use std::time::{Duration, Instant};

use crate::data::pool;
use crate::data::slot::{take_if, Body};
use crate::error::Error;
use crate::handle::step::Step;
use crate::poller::{Poller, PollerId};
use crate::sched::{Inner, SchedHandle, SchedPhase, Task};
use crate::trace::Tracer;

impl SchedHandle {
    /// Creates a task that runs `body` once scheduled and ready. The body
    /// must complete the task ([`Task::complete`]), hand that job to someone
    /// else, or register dependencies on its own task, which then completes
    /// when the last of them does (DAOS's fan-out pattern).
    #[inline]
    pub fn create(&self, body: impl FnMut(&Task) + 'static) -> Task {
        self.inner.create("", Body::Fn(pool::body(body)))
    }

    /// [`create`](Self::create) with a static name (the seed step it
    /// implements, for tracing).
    #[inline]
    pub fn create_named(&self, name: &'static str, body: impl FnMut(&Task) + 'static) -> Task {
        self.inner.create(name, Body::Fn(pool::body(body)))
    }

    /// Creates a task without a body: it completes through
    /// [`Task::complete`] or, once dependencies are registered and it is
    /// scheduled, when its dependencies finish and someone completes it.
    #[inline]
    pub fn create_empty(&self, name: &'static str) -> Task {
        self.inner.create(name, Body::None)
    }

    /// Runs what is ready: messages from other threads, due sleeping tasks,
    /// ready tasks (prep callbacks, then body), woken futures, and every
    /// registered poller; repeats until a pass finds nothing. Returns how
    /// much work was done (0 = idle). Never blocks.
    #[inline]
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
        self.inner.is_idle()
    }

    /// Number of tasks scheduled and not yet completed.
    pub fn inflight(&self) -> usize {
        self.inner.core.borrow().inflight
    }

    /// The scheduler's result (DAOS's `ds_result`): the first non-zero
    /// result of any task completed on it, else the `ret` given to
    /// [`complete`](Self::complete), else the first non-zero return of a
    /// scheduler completion callback; 0 if none.
    pub fn first_error(&self) -> i32 {
        self.inner.core.borrow().first_error
    }

    /// Completes the scheduler (`tse_sched_complete`). `ret` becomes its
    /// result unless it has one. Without `cancel` it progresses (blocking
    /// as [`progress_until`](Self::progress_until) does) until nothing is
    /// in flight; with `cancel` every task not yet complete, sleeping ones
    /// included, is completed at once without running its body: its
    /// result is `-DER_CANCELED` unless it already had an error, and its
    /// completion callbacks run (and cannot re-initialise it). Then the
    /// scheduler closes (scheduling fails with [`Error::NoPerm`], new tasks
    /// are born canceled, [`RemoteSched::post`](crate::RemoteSched::post)
    /// returns false), its completion callbacks
    /// ([`register_comp_cb`](Self::register_comp_cb)) run last registered
    /// first, and its user data is dropped. A second call only records
    /// `ret`. Dropping a [`Sched`] does `complete(0, true)` if nothing did.
    ///
    /// DAOS marks the tasks it cancels complete without their completion
    /// callbacks and with their result untouched (0 for one that never
    /// ran). rdaos runs the callbacks and gives the result: in Rust the
    /// callbacks own what they captured and the layers above count on them
    /// to learn of the end (an [`Eq`](struct@crate::Eq) event, a reply), and a
    /// canceled write must not read as a success to whoever awaits it.
    pub fn complete(&self, ret: i32, cancel: bool) {
        self.inner.sched_complete(ret, cancel)
    }

    /// Registers a scheduler completion callback
    /// (`tse_sched_register_comp_cb`): [`complete`](Self::complete) (or the
    /// drop of the [`Sched`]) calls it once with the scheduler and its
    /// result; a non-zero return becomes the result if it is still 0.
    /// Refused once the scheduler's callbacks have run.
    pub fn register_comp_cb(
        &self,
        cb: impl FnOnce(&SchedHandle, i32) -> i32 + 'static,
    ) -> Result<(), Error> {
        if self.inner.phase.get() == SchedPhase::Done {
            return Err(Error::NoPerm("scheduler already completed"));
        }
        self.inner.sched_cbs.borrow_mut().push(Box::new(cb));
        Ok(())
    }

    /// Sets the scheduler's user data (DAOS's `ds_udata`, which the client
    /// uses for the scheduler's network context); returns the previous one.
    /// It lives until the scheduler completes.
    pub fn set_udata<T: Any>(&self, v: T) -> Option<Box<dyn Any>> {
        self.inner.udata.borrow_mut().replace(Box::new(v))
    }

    /// Takes the user data out if it is a `T`.
    pub fn take_udata<T: Any>(&self) -> Option<T> {
        take_if(&mut self.inner.udata.borrow_mut())
    }

    /// Calls `f` on the user data if it is a `T` (`f` may use the
    /// scheduler; the data is out of it meanwhile).
    pub fn with_udata<T: Any, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut v: T = self.take_udata()?;
        let r = f(&mut v);
        let displaced = self.set_udata(v);
        drop(displaced);
        Some(r)
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
/// Dropping it tears it down: [`SchedHandle::complete`]`(0, true)` if it
/// was not completed (every task not yet complete is completed with
/// `-DER_CANCELED` without running its body, sleeping tasks included, and
/// the scheduler's completion callbacks run), spawned futures are dropped,
/// and everything the tasks own is released.
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

    /// `tse_sched_init`: a scheduler whose completion callback `comp_cb`
    /// runs when it completes, with `udata` as its user data
    /// ([`SchedHandle::set_udata`]).
    pub fn init<T: Any>(
        comp_cb: impl FnOnce(&SchedHandle, i32) -> i32 + 'static,
        udata: T,
    ) -> Sched {
        let s = Sched::new();
        // A new scheduler is running: the registration cannot be refused.
        let _ = s.register_comp_cb(comp_cb);
        drop(s.set_udata(udata));
        s
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
