//! The thread-safe part of a scheduler: a message inbox, the run queue of
//! woken futures, and the parking spot the owner sleeps on when it has
//! nothing to do.
//!
//! A scheduler's task table is touched only by the thread that owns it,
//! without locks. Everything that comes from other threads goes through a
//! [`Mailbox`]; the owner drains it in `progress()`. The message type is
//! the scheduler layer's, so this layer does not know what a message says.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread::{self, Thread, ThreadId};
use std::time::Duration;

use async_task::Runnable;
use concurrent_queue::ConcurrentQueue;

struct Inbox<M> {
    msgs: Vec<M>,
    closed: bool,
}

/// The part of a scheduler that other threads may touch; `M` is the
/// message type.
pub(crate) struct Mailbox<M> {
    inbox: Mutex<Inbox<M>>,
    pending: AtomicBool,
    kicked: AtomicBool,
    parked: AtomicBool,
    pub(crate) runq: ConcurrentQueue<Runnable>,
    owner: Thread,
    owner_id: ThreadId,
}

impl<M> Mailbox<M> {
    /// A mailbox owned by the calling thread.
    pub(crate) fn new() -> Mailbox<M> {
        Mailbox {
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
        }
    }

    /// True on the thread that owns the scheduler.
    pub(crate) fn on_owner(&self) -> bool {
        thread::current().id() == self.owner_id
    }

    /// Queues `msg` for the owner. Gives the message back if the scheduler
    /// has been torn down, so the sender can answer it itself.
    pub(crate) fn send(&self, msg: M) -> Result<(), M> {
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

    /// Moves every queued message into `out`. Cheap when there is none.
    pub(crate) fn take_msgs(&self, out: &mut Vec<M>) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        self.pending.store(false, Ordering::Relaxed);
        out.append(&mut inbox.msgs);
    }

    /// Refuses further messages; returns those still queued.
    pub(crate) fn close(&self) -> Vec<M> {
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

    /// True if a message, a woken future or a kick is waiting.
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
