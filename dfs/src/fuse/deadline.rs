//! The replies the dfs thread still owes for file I/O, each with the
//! moment its request arrived, so the thread can answer any of them that
//! is older than the mount's bound (`--request-timeout`) itself, with
//! `EIO`, instead of waiting for an engine task that may never complete.
//!
//! What is kept here: the reply of every `READ` and `WRITE` whose task is
//! in flight, of every `FSYNC` / `FLUSH` waiting for a handle's writes,
//! and of a `RELEASE` waiting for them. Whoever answers first takes the
//! reply out: the task's completion callback, or the sweep (see
//! `work.rs`) once it is overdue; the other one finds the slot empty (the
//! key carries the slot's generation, so a slot reused meanwhile does not
//! match) and answers nothing.
//!
//! Metadata requests (`LOOKUP`, `CREATE`, `OPEN`, `MKDIR`, `RENAME`, ...)
//! are not kept here: they are answered by the blocking namespace call
//! that runs them, and an early answer would tell the kernel about (or
//! not about) an entry whose fate is still being decided, leaking or
//! losing the kernel's references to it. The watchdog still reports them.
//!
//! A slab: a vector of slots and a free list, both reused; no lock (the
//! table is the dfs thread's own) and no allocation once it has grown to
//! the most requests in flight at once.

use std::time::{Duration, Instant};

use fuser::{ReplyData, ReplyEmpty, ReplyWrite};

use super::watch::{Op, Ticket};

/// A reply owed.
#[derive(Debug)]
pub(super) enum Owed {
    Read(ReplyData),
    Write(ReplyWrite),
    /// `fsync` or `flush` (which [`Op`] the entry says).
    Sync(ReplyEmpty),
    Release(ReplyEmpty),
}

impl Owed {
    /// Answers with `errno`.
    pub(super) fn error(self, errno: i32) {
        let e = fuser::Errno::from_i32(errno);
        match self {
            Owed::Read(r) => r.error(e),
            Owed::Write(r) => r.error(e),
            Owed::Sync(r) | Owed::Release(r) => r.error(e),
        }
    }
}

/// What a slot holds while its reply is owed.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) owed: Owed,
    /// Watches the request until the entry is answered (dropped).
    pub(super) _ticket: Ticket,
    pub(super) op: Op,
    /// The file handle the request is about.
    pub(super) fh: u64,
    /// When the request was taken in.
    pub(super) since: Instant,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    entry: Option<Entry>,
}

/// Where a reply is kept: slot index and generation.
pub(super) type Key = u64;

/// The table of owed replies.
#[derive(Debug)]
pub(super) struct Deadlines {
    slots: Vec<Slot>,
    free: Vec<u32>,
    bound: Duration,
    /// No entry is overdue before this (a lower bound of every deadline).
    next_sweep: Option<Instant>,
}

impl Deadlines {
    /// An empty table whose entries are overdue after `bound`.
    pub(super) fn new(bound: Duration) -> Deadlines {
        Deadlines {
            slots: Vec::new(),
            free: Vec::new(),
            bound,
            next_sweep: None,
        }
    }

    /// The mount's bound.
    pub(super) fn bound(&self) -> Duration {
        self.bound
    }

    /// Keeps `e`; its key.
    pub(super) fn insert(&mut self, e: Entry) -> Key {
        let deadline = e.since + self.bound;
        if self.next_sweep.is_none_or(|n| deadline < n) {
            self.next_sweep = Some(deadline);
        }
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[idx as usize];
        s.entry = Some(e);
        u64::from(s.generation) << 32 | u64::from(idx)
    }

    /// Takes out the entry `key` names, if it is still there.
    pub(super) fn take(&mut self, key: Key) -> Option<Entry> {
        let idx = (key & u64::from(u32::MAX)) as usize;
        let generation = (key >> 32) as u32;
        let s = self.slots.get_mut(idx)?;
        if s.generation != generation {
            return None;
        }
        let e = s.entry.take()?;
        s.generation = s.generation.wrapping_add(1);
        self.free.push(idx as u32);
        Some(e)
    }

    /// Entries kept.
    pub(super) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// When the next entry falls due, if any is kept.
    pub(super) fn next_due(&self) -> Option<Instant> {
        if self.len() == 0 {
            None
        } else {
            self.next_sweep
        }
    }

    /// Takes out every entry older than the bound at `now` into `out`
    /// (reused by the caller); before the earliest deadline, a no-op.
    pub(super) fn take_overdue(&mut self, now: Instant, out: &mut Vec<Entry>) {
        match self.next_sweep {
            Some(n) if now >= n => {}
            _ => return,
        }
        let mut next: Option<Instant> = None;
        for (idx, s) in self.slots.iter_mut().enumerate() {
            let Some(e) = &s.entry else { continue };
            let deadline = e.since + self.bound;
            if deadline <= now {
                if let Some(e) = s.entry.take() {
                    out.push(e);
                }
                s.generation = s.generation.wrapping_add(1);
                self.free.push(idx as u32);
            } else if next.is_none_or(|n| deadline < n) {
                next = Some(deadline);
            }
        }
        self.next_sweep = next;
    }

    /// Takes out every entry (the dfs thread is stopping).
    pub(super) fn take_all(&mut self, out: &mut Vec<Entry>) {
        for (idx, s) in self.slots.iter_mut().enumerate() {
            if let Some(e) = s.entry.take() {
                out.push(e);
                s.generation = s.generation.wrapping_add(1);
                self.free.push(idx as u32);
            }
        }
        self.next_sweep = None;
    }
}
