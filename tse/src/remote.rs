//! The thread-safe side of a scheduler.
//!
//! A [`crate::Sched`] is single-threaded: its task table is touched only by
//! the thread that owns it, without locks. Everything that comes from other
//! threads goes through [`Shared`]: a message inbox (task completions,
//! dependency registrations and completions across schedulers, reference
//! drops, closures to run), the run queue of woken futures, and the parking
//! spot the owner sleeps on when it has nothing to do.
//!
//! [`RemoteSched`] and [`RemoteTask`] are the `Send + Sync` handles other
//! threads use; the owner applies their effects at its next `progress()`.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread, ThreadId};
use std::time::Duration;

use async_task::Runnable;
use concurrent_queue::ConcurrentQueue;

use crate::sched::SchedHandle;

/// Work for the owning scheduler, sent from any thread.
pub(crate) enum Msg {
    /// Complete task `key` with `rc` (a remote `tse_task_complete`).
    Complete { key: u32, rc: i32 },
    /// Complete task `key` with `rc`, then drop the sender's reference:
    /// what [`RemoteTask::complete_once`] sends, one message instead of
    /// two.
    CompleteRelease { key: u32, rc: i32 },
    /// A [`RemoteTask`] was cloned: one more reference on `key`.
    Incref { key: u32 },
    /// A [`RemoteTask`] was dropped: one reference less on `key`.
    Decref { key: u32 },
    /// Task `parent` of another scheduler depends on task `key` of this one.
    AddDependent { key: u32, parent: RemoteParent },
    /// A dependency of task `key` (of this scheduler) on another scheduler
    /// completed with `rc`.
    DepDone { key: u32, rc: i32 },
    /// Run a closure on the owning thread.
    Run(Box<dyn FnOnce(&SchedHandle) + Send>),
}

/// A dependent task that lives on another scheduler.
pub(crate) struct RemoteParent {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: u32,
}

impl RemoteParent {
    /// Tells the parent's scheduler that this dependency completed with `rc`.
    pub(crate) fn dep_done(self, rc: i32) {
        // A parent whose scheduler is gone has been canceled already.
        let _ = self.shared.send(Msg::DepDone { key: self.key, rc });
    }
}

struct Inbox {
    msgs: Vec<Msg>,
    closed: bool,
}

/// The part of a scheduler that other threads may touch.
pub(crate) struct Shared {
    inbox: Mutex<Inbox>,
    pending: AtomicBool,
    kicked: AtomicBool,
    parked: AtomicBool,
    pub(crate) runq: ConcurrentQueue<Runnable>,
    owner: Thread,
    owner_id: ThreadId,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            inbox: Mutex::new(Inbox {
                msgs: Vec::new(),
                closed: false,
            }),
            pending: AtomicBool::new(false),
            kicked: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            runq: ConcurrentQueue::unbounded(),
            owner: thread::current(),
            owner_id: thread::current().id(),
        })
    }

    /// True on the thread that owns the scheduler.
    pub(crate) fn on_owner(&self) -> bool {
        thread::current().id() == self.owner_id
    }

    /// Queues `msg` for the owner. Gives the message back if the scheduler
    /// has been torn down, so the sender can answer it itself.
    pub(crate) fn send(&self, msg: Msg) -> Result<(), Msg> {
        {
            let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
            if inbox.closed {
                return Err(msg);
            }
            inbox.msgs.push(msg);
            self.pending.store(true, Ordering::Release);
        }
        self.notify();
        Ok(())
    }

    /// Sends `msg`; if the scheduler is gone, answers what needs an answer.
    pub(crate) fn send_or_bounce(&self, msg: Msg) {
        if let Err(Msg::AddDependent { parent, .. }) = self.send(msg) {
            parent.dep_done(-crate::der::DER_CANCELED);
        }
    }

    /// Moves every queued message into `out`. Cheap when there is none.
    pub(crate) fn take_msgs(&self, out: &mut Vec<Msg>) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        self.pending.store(false, Ordering::Relaxed);
        out.append(&mut inbox.msgs);
    }

    /// Refuses further messages; returns those still queued.
    pub(crate) fn close(&self) -> Vec<Msg> {
        self.runq.close();
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        inbox.closed = true;
        self.pending.store(false, Ordering::Relaxed);
        std::mem::take(&mut inbox.msgs)
    }

    /// Wakes the owner if it is parked (or about to park).
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            self.owner.unpark();
        }
    }

    /// Marks that something outside the scheduler's queues (a `block_on`
    /// future) was woken, and wakes the owner.
    pub(crate) fn kick(&self) {
        self.kicked.store(true, Ordering::SeqCst);
        self.notify();
    }

    pub(crate) fn has_work(&self) -> bool {
        self.pending.load(Ordering::SeqCst)
            || !self.runq.is_empty()
            || self.kicked.swap(false, Ordering::SeqCst)
    }

    /// Parks the owner until another thread sends work or `timeout` passes.
    /// Must be called on the owner thread.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        debug_assert!(self.on_owner());
        self.parked.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if !self.has_work() {
            match timeout {
                Some(t) => thread::park_timeout(t),
                None => thread::park(),
            }
        }
        self.parked.store(false, Ordering::SeqCst);
    }

    /// The schedule function of every future spawned on this scheduler.
    pub(crate) fn schedule_runnable(&self, runnable: Runnable) {
        match self.runq.push(runnable) {
            Ok(()) => self.notify(),
            Err(err) => {
                // The scheduler was torn down. Dropping the runnable cancels
                // its future, which is only allowed on the owner thread;
                // elsewhere the (already canceled) future is leaked rather
                // than dropped on the wrong thread.
                let runnable = err.into_inner();
                if self.on_owner() {
                    drop(runnable);
                } else {
                    std::mem::forget(runnable);
                }
            }
        }
    }
}

/// A `Send + Sync` handle to a scheduler, for other threads.
///
/// It can wake the scheduler and run closures on its thread; this is how an
/// engine target hands work to another target or back to a client.
#[derive(Clone)]
pub struct RemoteSched {
    pub(crate) shared: Arc<Shared>,
}

impl RemoteSched {
    /// Runs `f` on the scheduler's thread at its next `progress()`.
    /// Returns `false` if the scheduler has been torn down (then `f` is dropped).
    pub fn post(&self, f: impl FnOnce(&SchedHandle) + Send + 'static) -> bool {
        self.shared.send(Msg::Run(Box::new(f))).is_ok()
    }

    /// Wakes the scheduler's thread if it is waiting for work.
    pub fn wake(&self) {
        self.shared.kick();
    }

    /// True if both handles are for the same scheduler.
    pub fn same(&self, other: &RemoteSched) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl std::fmt::Debug for RemoteSched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSched").finish_non_exhaustive()
    }
}

/// A `Send + Sync` handle to a task, for other threads.
///
/// It keeps the task alive like a [`crate::Task`] does. From any thread it
/// can complete the task (as an RPC reply completes a client task in DAOS),
/// and a task of another scheduler can depend on it
/// ([`crate::Task::register_remote_deps`]).
pub struct RemoteTask {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: u32,
    /// The reference was handed over by [`complete_once`](Self::complete_once).
    pub(crate) released: bool,
}

impl RemoteTask {
    /// Completes the task with `rc` on its scheduler's thread (at its next
    /// `progress()`). A no-op if the task is already complete.
    pub fn complete(&self, rc: i32) {
        let _ = self.shared.send(Msg::Complete { key: self.key, rc });
    }

    /// Completes the task with `rc` and gives up this handle, in one
    /// message to the task's scheduler (`complete` followed by a drop
    /// sends two, and each can wake the scheduler's thread). This is how
    /// an RPC reply ends its task.
    pub fn complete_once(mut self, rc: i32) {
        let sent = self
            .shared
            .send(Msg::CompleteRelease { key: self.key, rc })
            .is_ok();
        // The message carries this handle's reference; Drop sends nothing.
        self.released = sent;
    }

    /// The task's scheduler.
    pub fn sched(&self) -> RemoteSched {
        RemoteSched {
            shared: self.shared.clone(),
        }
    }
}

impl Clone for RemoteTask {
    fn clone(&self) -> Self {
        // The increment is queued before the clone exists, so it is applied
        // before any decrement of the clone: the count cannot reach zero early.
        let _ = self.shared.send(Msg::Incref { key: self.key });
        RemoteTask {
            shared: self.shared.clone(),
            key: self.key,
            released: false,
        }
    }
}

impl Drop for RemoteTask {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let _ = self.shared.send(Msg::Decref { key: self.key });
    }
}

impl std::fmt::Debug for RemoteTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTask")
            .field("key", &self.key)
            .finish()
    }
}
