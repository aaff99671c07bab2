//! The task table of one scheduler: slots, the free list, the ready queue
//! and the sleeping list, and the bookkeeping that needs nothing but them
//! (allocating and freeing slots, reference counts, a dependency's
//! completion counting down its dependent). Nothing here calls user code.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use crate::data::slot::{Body, Cb, Dependent, Extra, Slot, State};
use crate::der;
use crate::error::Error;

/// Things freed from a slot, dropped after the table borrow is released
/// because they may hold task handles.
#[derive(Default)]
pub(crate) struct Garbage<H> {
    pub(crate) body: Option<Body<H>>,
    pub(crate) cbs: Vec<Cb<H>>,
    pub(crate) extra: Option<Box<Extra<H>>>,
}

impl<H> Drop for Garbage<H> {
    fn drop(&mut self) {
        // Runs outside the table borrow: the body's captures may hold
        // task handles.
        if let Some(Body::Fn(f)) = self.body.take() {
            f.recycle();
        }
    }
}

/// What happened when a reference was dropped.
pub(crate) enum Release<H> {
    /// Still referenced.
    Kept,
    /// The slot was freed.
    Freed(Garbage<H>),
    /// The last reference to a never-scheduled task went away: it must be
    /// canceled so its dependents and callbacks see the end of it.
    Cancel,
}

/// A scheduler's task table and queues.
pub(crate) struct Table<H> {
    pub(crate) slots: Vec<Slot<H>>,
    free: Vec<u32>,
    /// `(key, epoch)` of queued tasks whose dependencies are done; stale
    /// entries (epoch moved on) are skipped.
    pub(crate) ready: VecDeque<(u32, u32)>,
    pub(crate) sleeping: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Scheduled, not yet completed.
    pub(crate) inflight: usize,
    /// Teardown started: nothing new may be scheduled.
    pub(crate) closed: bool,
    pub(crate) first_error: i32,
    pub(crate) next_id: u64,
    pub(crate) dep_scratch: Vec<Dependent>,
    /// The running task's id while tracing (parent of tasks it creates).
    pub(crate) current: u64,
    pub(crate) tracing: bool,
}

impl<H> Table<H> {
    /// An empty table whose task ids start above `first_id`.
    pub(crate) fn new(first_id: u64) -> Table<H> {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
            ready: VecDeque::new(),
            sleeping: BinaryHeap::new(),
            inflight: 0,
            closed: false,
            first_error: 0,
            next_id: first_id,
            dep_scratch: Vec::new(),
            current: 0,
            tracing: false,
        }
    }

    #[inline]
    pub(crate) fn slot(&mut self, key: u32) -> &mut Slot<H> {
        &mut self.slots[key as usize]
    }

    /// Takes a free slot (or a new one) for a task named `name` running
    /// `body`, with one reference; returns its key.
    #[inline]
    pub(crate) fn alloc(&mut self, name: &'static str, body: Body<H>) -> u32 {
        let key = match self.free.pop() {
            Some(k) => k,
            None => {
                self.slots.push(Slot::new());
                (self.slots.len() - 1) as u32
            }
        };
        self.next_id += 1;
        let id = self.next_id;
        let closed = self.closed;
        let parent = if self.tracing { self.current } else { 0 };
        let s = self.slot(key);
        if parent != 0 || s.extra.is_some() {
            let x = s.extra();
            x.reset_trace();
            x.parent = parent;
        }
        s.refs = 1;
        s.id = id;
        s.name = name;
        s.body = body;
        if closed {
            // A task made on a torn-down scheduler is born canceled.
            s.state = State::Completed;
            s.result = -der::DER_CANCELED;
        } else {
            s.state = State::Created;
        }
        key
    }

    /// Drops one reference; frees the slot at zero.
    #[inline]
    pub(crate) fn release(&mut self, key: u32) -> Release<H> {
        let s = self.slot(key);
        debug_assert!(s.refs > 0, "task reference count underflow");
        s.refs -= 1;
        if s.refs > 0 {
            return Release::Kept;
        }
        match s.state {
            State::Completed => Release::Freed(self.free_slot(key)),
            State::Created => {
                s.refs = 1;
                Release::Cancel
            }
            // In flight tasks hold a reference of the scheduler; unreachable
            // unless the counts are broken, in which case keep the slot.
            _ => Release::Kept,
        }
    }

    fn free_slot(&mut self, key: u32) -> Garbage<H> {
        let s = self.slot(key);
        s.state = State::Free;
        s.epoch = s.epoch.wrapping_add(1);
        s.result = 0;
        s.dep_cnt = 0;
        s.no_propagate = false;
        s.completing = false;
        s.in_flight = false;
        s.name = "";
        let body = std::mem::replace(&mut s.body, Body::None);
        let cbs = if s.comp_cbs.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut s.comp_cbs)
        };
        let extra = if s.extra.as_ref().is_some_and(|x| !x.is_clear()) {
            s.extra.take()
        } else {
            None
        };
        debug_assert!(s.dependents.is_empty());
        self.free.push(key);
        Garbage {
            body: Some(body),
            cbs,
            extra,
        }
    }

    /// A dependency of `key` finished with `rc`: propagate, count down, and
    /// say whether `key` must now be auto-completed (it was running).
    #[inline]
    pub(crate) fn dep_done(&mut self, key: u32, rc: i32) -> bool {
        let s = self.slot(key);
        if rc != 0 && !s.no_propagate && s.result == 0 {
            s.result = rc;
        }
        s.dep_cnt = s.dep_cnt.saturating_sub(1);
        if s.dep_cnt > 0 {
            return false;
        }
        match s.state {
            State::Queued => {
                let epoch = s.epoch;
                self.ready.push_back((key, epoch));
                false
            }
            State::Running => !s.completing,
            _ => false,
        }
    }

    /// Refuses a new dependency of `key` where DAOS does.
    #[inline]
    pub(crate) fn check_can_depend(&mut self, key: u32) -> Result<(), Error> {
        if self.closed {
            return Err(Error::NoPerm("scheduler is shutting down"));
        }
        let s = self.slot(key);
        if s.state == State::Completed {
            return Err(Error::NoPerm("cannot add a dependency to a completed task"));
        }
        if s.dep_cnt == u32::MAX {
            return Err(Error::Inval("too many dependencies"));
        }
        Ok(())
    }
}
