//! One entry of a scheduler's task table.
//!
//! Slots are reused: when a task's last reference goes, its slot returns to
//! the free list with its vectors' capacity intact, so a steady stream of
//! tasks allocates nothing once the table is warm (a boxed body or callback
//! allocates only if its closure captures something).

use std::any::Any;
use std::collections::VecDeque;
use std::task::Waker;

use async_task::Runnable;

use crate::remote::RemoteParent;
use crate::task::Task;

/// A completion or prep callback: returns a status; non-zero sets the
/// task's result if it is still 0.
pub(crate) type Cb = Box<dyn FnOnce(&Task) -> i32>;

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
pub(crate) enum Body {
    /// No body (a task that only joins its dependencies).
    None,
    /// Taken out while it runs.
    Taken,
    /// A callback body; re-runs after `reinit`.
    Fn(Box<dyn FnMut(&Task)>),
    /// A spawned future: running the task polls it for the first time.
    Future(Runnable),
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
#[derive(Default)]
pub(crate) struct Extra {
    pub(crate) prep_cbs: VecDeque<Cb>,
    pub(crate) wakers: Vec<Waker>,
    pub(crate) stack: Vec<(Box<dyn Any>, usize)>,
    pub(crate) stack_used: usize,
    pub(crate) private: Option<Box<dyn Any>>,
    /// Tracing: the creating task's id and the body's start time.
    pub(crate) parent: u64,
    pub(crate) start_ns: u64,
}

impl Extra {
    pub(crate) fn is_clear(&self) -> bool {
        self.prep_cbs.is_empty()
            && self.wakers.is_empty()
            && self.stack.is_empty()
            && self.private.is_none()
    }

    /// Resets the fields a new task must not inherit.
    pub(crate) fn reset_trace(&mut self) {
        self.parent = 0;
        self.start_ns = 0;
    }
}

pub(crate) struct Slot {
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
    pub(crate) body: Body,
    pub(crate) comp_cbs: Vec<Cb>,
    pub(crate) dependents: Vec<Dependent>,
    pub(crate) extra: Option<Box<Extra>>,
}

impl Slot {
    pub(crate) fn new() -> Slot {
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

    pub(crate) fn extra(&mut self) -> &mut Extra {
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
        assert!(std::mem::size_of::<super::Slot>() <= 128);
    }
}
