//! Layer 2, the scheduler: runs tasks. It owns the task table (layer 1)
//! and calls bodies, callbacks, wakers and pollers, never while the table
//! is borrowed, so user code may call back into the scheduler freely.
//!
//! This module defines the scheduler's state ([`Inner`]) and the two
//! references to it that user code holds: [`Task`] (a scheduler and a slot
//! key) and [`SchedHandle`]. Their public methods live one layer up, in
//! `handle`; the work is split by concept:
//!
//! * [`run`]: scheduling, re-initialisation, dependencies, running prep
//!   callbacks and bodies;
//! * [`complete`]: completion callbacks, releasing dependents, completing
//!   the whole scheduler (`tse_sched_complete`) and teardown;
//! * [`progress`]: one pass over inbox, sleepers, ready queue, woken
//!   futures and pollers, and waiting when there is nothing to do;
//! * [`tracing`]: spans of named tasks and steps.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::data::mailbox::Mailbox;
use crate::data::slot::{Body, DepSink, RemoteParent};
use crate::data::table::{Release, Table};
use crate::der;
use crate::trace::Tracer;

pub(crate) mod complete;
pub(crate) mod progress;
pub(crate) mod run;
pub(crate) mod tracing;

use progress::PollerEntry;

/// The task table of a scheduler, with its task handle type.
pub(crate) type Core = Table<Task>;

/// Schedulers made so far: the high bits of task ids, so ids are unique
/// across the schedulers of a process.
static NEXT_SCHED: AtomicU64 = AtomicU64::new(1);

/// Work for the owning scheduler, sent from any thread.
pub(crate) enum Msg {
    /// Complete task `key` with `rc` (a remote `tse_task_complete`).
    Complete { key: u32, rc: i32 },
    /// Complete task `key` with `rc`, then drop the sender's reference:
    /// what `RemoteTask::complete_once` sends, one message instead of two.
    CompleteRelease { key: u32, rc: i32 },
    /// A `RemoteTask` was cloned: one more reference on `key`.
    Incref { key: u32 },
    /// A `RemoteTask` was dropped: one reference less on `key`.
    Decref { key: u32 },
    /// Task `parent` of another scheduler depends on task `key` of this one.
    AddDependent { key: u32, parent: RemoteParent },
    /// A dependency of task `key` (of this scheduler) on another scheduler
    /// completed with `rc`.
    DepDone { key: u32, rc: i32 },
    /// Run a closure on the owning thread.
    Run(Box<dyn FnOnce(&SchedHandle) + Send>),
}

/// A scheduler completion callback (`tse_sched_comp_cb_t`): gets the
/// scheduler and its result; a non-zero return becomes the result if it
/// is still 0.
pub(crate) type SchedCb = Box<dyn FnOnce(&SchedHandle, i32) -> i32>;

/// Where a scheduler is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SchedPhase {
    /// Running tasks.
    Running,
    /// `tse_sched_complete` is waiting for (or canceling) its tasks.
    Completing,
    /// Completed: closed, completion callbacks run.
    Done,
}

/// The part of a scheduler that other threads may touch.
pub(crate) type Shared = Mailbox<Msg>;

impl DepSink for Shared {
    fn dep_done(&self, key: u32, rc: i32) {
        // A parent whose scheduler is gone has been canceled already.
        let _ = self.send(Msg::DepDone { key, rc });
    }
}

/// Sends `msg` to `shared`; if that scheduler is gone, answers what needs
/// an answer (a dependent is told its dependency was canceled).
pub(crate) fn send_or_bounce(shared: &Shared, msg: Msg) {
    if let Err(Msg::AddDependent { parent, .. }) = shared.send(msg) {
        parent.dep_done(-der::DER_CANCELED);
    }
}

/// A handle to a task of a [`crate::Sched`].
///
/// Cheap to clone (a reference count); every handle keeps the task alive.
/// Handles are not `Send`: use [`Task::remote`] to reach the task from
/// another thread. A task handle is also a future of the task's result.
pub struct Task {
    pub(crate) inner: Rc<Inner>,
    pub(crate) key: u32,
}

/// A cheap, clonable handle to a scheduler: create and spawn tasks, drive
/// progress. It does not own the scheduler's life; [`crate::Sched`] does.
#[derive(Clone)]
pub struct SchedHandle {
    pub(crate) inner: Rc<Inner>,
}

/// The scheduler state shared by [`crate::Sched`], [`SchedHandle`] and [`Task`].
pub(crate) struct Inner {
    pub(crate) core: RefCell<Core>,
    /// Reference drops that came while the table was borrowed.
    pub(crate) deferred: RefCell<Vec<u32>>,
    pub(crate) pollers: RefCell<Vec<PollerEntry>>,
    pub(crate) next_poller: Cell<u64>,
    pub(crate) msgs: RefCell<Vec<Msg>>,
    pub(crate) work: RefCell<Vec<u32>>,
    pub(crate) tracer: RefCell<Option<(Tracer, &'static str)>>,
    /// Waits with I/O in flight since progress last did something: the
    /// first few spin (yielding), later ones block in the poller.
    pub(crate) idle_waits: Cell<u32>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) phase: Cell<SchedPhase>,
    /// Scheduler completion callbacks, run by `tse_sched_complete`.
    pub(crate) sched_cbs: RefCell<Vec<SchedCb>>,
    /// The scheduler's user data (`ds_udata`).
    pub(crate) udata: RefCell<Option<Box<dyn Any>>>,
}

impl Inner {
    pub(crate) fn new() -> Rc<Inner> {
        let first_id = NEXT_SCHED.fetch_add(1, Ordering::Relaxed) << 40;
        Rc::new(Inner {
            core: RefCell::new(Table::new(first_id)),
            idle_waits: Cell::new(0),
            tracer: RefCell::new(None),
            deferred: RefCell::new(Vec::new()),
            pollers: RefCell::new(Vec::new()),
            next_poller: Cell::new(0),
            msgs: RefCell::new(Vec::new()),
            work: RefCell::new(Vec::new()),
            shared: Arc::new(Mailbox::new()),
            phase: Cell::new(SchedPhase::Running),
            sched_cbs: RefCell::new(Vec::new()),
            udata: RefCell::new(None),
        })
    }

    #[inline]
    pub(crate) fn create(self: &Rc<Self>, name: &'static str, body: Body<Task>) -> Task {
        let key = self.core.borrow_mut().alloc(name, body);
        Task {
            inner: self.clone(),
            key,
        }
    }

    /// A new handle on `key` (one more reference).
    #[inline]
    pub(crate) fn handle(self: &Rc<Self>, key: u32) -> Task {
        self.core.borrow_mut().slot(key).refs += 1;
        Task {
            inner: self.clone(),
            key,
        }
    }

    #[inline]
    pub(crate) fn incref(&self, key: u32) {
        self.core.borrow_mut().slot(key).refs += 1;
    }

    /// Drops one reference on `key`.
    #[inline]
    pub(crate) fn decref(self: &Rc<Self>, key: u32) {
        let release = match self.core.try_borrow_mut() {
            Ok(mut core) => core.release(key),
            Err(_) => {
                self.deferred.borrow_mut().push(key);
                return;
            }
        };
        if !matches!(release, Release::Kept) {
            self.after_release(key, release);
        }
    }

    pub(crate) fn after_release(self: &Rc<Self>, key: u32, release: Release<Task>) {
        match release {
            Release::Kept => {}
            Release::Freed(g) => drop(g),
            Release::Cancel => {
                self.complete(key, -der::DER_CANCELED);
                self.decref(key);
            }
        }
        self.drain_deferred();
    }

    pub(crate) fn drain_deferred(self: &Rc<Self>) {
        loop {
            let Some(key) = self.deferred.borrow_mut().pop() else {
                return;
            };
            let release = self.core.borrow_mut().release(key);
            self.after_release(key, release);
        }
    }
}
