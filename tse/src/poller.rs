//! Pollers and the in-flight operation table.
//!
//! A poller is anything `progress()` must poll to find completions: an
//! io_uring ring (with IOPOLL, polling is how completions are found at
//! all), a transport. Each in-flight operation sits in an [`OpTable`]; the
//! key it returns goes into the SQE's `user_data`, and the CQE's
//! `user_data` finds the operation (and the task to complete) again.

/// Something `progress()` polls.
pub trait Poller {
    /// Reaps completions (completing their tasks) and submits queued work;
    /// returns how many things it did (0 = nothing).
    fn poll(&mut self) -> usize;

    /// True while operations are in flight: a waiting scheduler then keeps
    /// polling instead of parking the thread.
    fn busy(&self) -> bool {
        false
    }

    /// Blocks for at most `timeout` until one of its operations completes
    /// (an io_uring ring: `io_uring_enter` waiting for one CQE). Returns
    /// false if it cannot block (the scheduler then keeps polling). The
    /// default cannot.
    fn wait_io(&mut self, timeout: std::time::Duration) -> bool {
        let _ = timeout;
        false
    }
}

/// Identifies a registered poller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PollerId(pub(crate) u64);

/// A slab of in-flight operations keyed by `user_data` values that carry a
/// generation, so a stale or duplicated completion cannot reach the
/// operation that reused its slot.
///
/// `user_data = (generation << 32) | index`.
#[derive(Debug)]
pub struct OpTable<T> {
    slab: slab::Slab<(u32, T)>,
    generation: u32,
}

impl<T> OpTable<T> {
    /// An empty table with room for `cap` operations before it grows.
    pub fn with_capacity(cap: usize) -> Self {
        OpTable {
            slab: slab::Slab::with_capacity(cap),
            generation: 0,
        }
    }

    /// Stores `op`; returns the `user_data` to put in its SQE.
    pub fn insert(&mut self, op: T) -> u64 {
        self.generation = self.generation.wrapping_add(1);
        let gen = self.generation;
        let idx = self.slab.insert((gen, op));
        ((gen as u64) << 32) | idx as u64
    }

    /// The `user_data` the next [`insert`](Self::insert) will return (to
    /// build an SQE before the operation is stored).
    pub fn peek_key(&self) -> u64 {
        let gen = self.generation.wrapping_add(1);
        ((gen as u64) << 32) | self.slab.vacant_key() as u64
    }

    /// Removes and returns the operation for `user_data`; `None` if unknown
    /// or stale.
    pub fn remove(&mut self, user_data: u64) -> Option<T> {
        let idx = (user_data & 0xffff_ffff) as usize;
        let gen = (user_data >> 32) as u32;
        match self.slab.get(idx) {
            Some((g, _)) if *g == gen => self.slab.try_remove(idx).map(|(_, op)| op),
            _ => None,
        }
    }

    /// The operation for `user_data`, if current.
    pub fn get_mut(&mut self, user_data: u64) -> Option<&mut T> {
        let idx = (user_data & 0xffff_ffff) as usize;
        let gen = (user_data >> 32) as u32;
        match self.slab.get_mut(idx) {
            Some((g, op)) if *g == gen => Some(op),
            _ => None,
        }
    }

    /// Operations in flight.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// True if nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }
}

impl<T> Default for OpTable<T> {
    fn default() -> Self {
        OpTable::with_capacity(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_table_rejects_stale_user_data() {
        let mut t = OpTable::with_capacity(4);
        let predicted = t.peek_key();
        let a = t.insert("a");
        assert_eq!(predicted, a);
        assert_eq!(t.remove(a), Some("a"));
        let b = t.insert("b");
        // Same slot, new generation: the old key must not find "b".
        assert_eq!(a & 0xffff_ffff, b & 0xffff_ffff);
        assert_eq!(t.remove(a), None);
        assert_eq!(t.get_mut(b).copied(), Some("b"));
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove(u64::MAX), None);
    }
}
