//! One entry of a scheduler's task table: what a task is, independent of
//! how it is scheduled.
//!
//! Slots are reused: when a task's last reference goes, its slot returns to
//! the free list with its vectors' capacity intact, so a steady stream of
//! tasks allocates nothing once the table is warm (a boxed body or callback
//! allocates only if its closure captures something).
//!
//! `H` is the handle bodies and callbacks receive (the scheduler layer's
//! `Task`); this layer stores the closures but never calls them.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use async_task::Runnable;

use crate::data::pool::{BodyFn, CallOnce};
use crate::data::stack::TaskStack;

/// A completion or prep callback: returns a status; non-zero sets the
/// task's result if it is still 0.
pub(crate) type Cb<H> = Box<dyn CallOnce<H>>;

/// Takes the value out of `slot` if it is a `T`; another type stays.
pub(crate) fn take_if<T: Any>(slot: &mut Option<Box<dyn Any>>) -> Option<T> {
    match slot.take()?.downcast::<T>() {
        Ok(b) => Some(*b),
        Err(other) => {
            *slot = Some(other);
            None
        }
    }
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// On the free list.
    Free,
    /// Created, not scheduled.
    Created,
    /// Scheduled; runs when its dependency count is 0 (it is then on the
    /// ready queue).
    Queued,
    /// Scheduled with a delay, waiting for its wake-up time.
    Sleeping,
    /// Prep callbacks or body started; completes by `complete()` or, once it
    /// has registered dependencies, when the last one completes.
    Running,
    /// Done; the result is final until a `reinit` or `reset`.
    Completed,
}

/// What a task runs.
pub(crate) enum Body<H> {
    /// No body (a task that only joins its dependencies).
    None,
    /// Taken out while it runs.
    Taken,
    /// A callback body; re-runs after `reinit`.
    Fn(Box<dyn BodyFn<H>>),
    /// A spawned future: running the task polls it for the first time.
    Future(Runnable),
}

/// Where a dependency on another scheduler reports its completion: that
/// scheduler's inbox, which the scheduler layer implements.
pub(crate) trait DepSink: Send + Sync {
    /// Dependency `key` (a task of the sink's scheduler, waiting on a task
    /// of another scheduler) completed with `rc`.
    fn dep_done(&self, key: u32, rc: i32);
}

/// A dependent task that lives on another scheduler.
pub(crate) struct RemoteParent {
    pub(crate) sink: Arc<dyn DepSink>,
    pub(crate) key: u32,
}

impl RemoteParent {
    /// Tells the parent's scheduler that this dependency completed with `rc`.
    pub(crate) fn dep_done(self, rc: i32) {
        self.sink.dep_done(self.key, rc);
    }
}

/// A task waiting for this one.
pub(crate) enum Dependent {
    /// On the same scheduler (slot key).
    Local(u32),
    /// On another scheduler.
    Remote(RemoteParent),
}

/// Rarely used per-task state, boxed so the hot slot stays small. Kept with
/// the slot when it is reused.
pub(crate) struct Extra<H> {
    pub(crate) prep_cbs: VecDeque<Cb<H>>,
    pub(crate) wakers: Vec<Waker>,
    pub(crate) stack: TaskStack,
    pub(crate) private: Option<Box<dyn Any>>,
    /// Tracing: the creating task's id and the body's start time.
    pub(crate) parent: u64,
    pub(crate) start_ns: u64,
}

impl<H> Default for Extra<H> {
    fn default() -> Self {
        Extra {
            prep_cbs: VecDeque::new(),
            wakers: Vec::new(),
            stack: TaskStack::default(),
            private: None,
            parent: 0,
            start_ns: 0,
        }
    }
}

impl<H> Extra<H> {
    pub(crate) fn is_clear(&self) -> bool {
        self.prep_cbs.is_empty()
            && self.wakers.is_empty()
            && self.stack.is_clear()
            && self.private.is_none()
    }

    /// Resets the fields a new task must not inherit.
    pub(crate) fn reset_trace(&mut self) {
        self.parent = 0;
        self.start_ns = 0;
    }
}

pub(crate) struct Slot<H> {
    /// Bumped on every change that makes queued references or a running
    /// completion-callback pass stale (DAOS's `dtp_generation`).
    pub(crate) epoch: u32,
    /// Handles plus internal references (scheduler while in flight,
    /// dependency links).
    pub(crate) refs: u32,
    pub(crate) dep_cnt: u32,
    pub(crate) result: i32,
    pub(crate) state: State,
    /// Scheduled and not yet completed: holds one reference and counts in
    /// the scheduler's in-flight number.
    pub(crate) in_flight: bool,
    pub(crate) no_propagate: bool,
    /// A completion pass is running its callbacks; a nested `complete()`
    /// only records its status.
    pub(crate) completing: bool,
    /// Stable id for the task's life (tracing, debugging).
    pub(crate) id: u64,
    pub(crate) name: &'static str,
    pub(crate) body: Body<H>,
    pub(crate) comp_cbs: Vec<Cb<H>>,
    pub(crate) dependents: Vec<Dependent>,
    pub(crate) extra: Option<Box<Extra<H>>>,
}

impl<H> Slot<H> {
    pub(crate) fn new() -> Slot<H> {
        Slot {
            epoch: 0,
            refs: 0,
            dep_cnt: 0,
            result: 0,
            state: State::Free,
            in_flight: false,
            no_propagate: false,
            completing: false,
            id: 0,
            name: "",
            body: Body::None,
            comp_cbs: Vec::new(),
            dependents: Vec::new(),
            extra: None,
        }
    }

    pub(crate) fn extra(&mut self) -> &mut Extra<H> {
        self.extra.get_or_insert_with(Default::default)
    }

    pub(crate) fn has_prep(&self) -> bool {
        self.extra.as_ref().is_some_and(|x| !x.prep_cbs.is_empty())
    }
}

#[cfg(test)]
mod tests {
    /// The slot is touched for every task; keep it within two cache lines.
    #[test]
    fn slot_fits_two_cache_lines() {
        assert!(std::mem::size_of::<super::Slot<()>>() <= 128);
    }
}
