//! The incarnation log of a key (DAOS's `ilog`): when a key came into
//! existence and when it was punched, by version.
//!
//! A key exists for a reader at epoch E if the newest entry at or below E
//! is a creation. The newest punch at or below E is the key's *punch
//! floor*: every version below it, in this key and below, is hidden.

use crate::types::{Epoch, Version};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Create,
    Punch,
}

/// Creation and punch records of one key, sorted by version.
#[derive(Debug, Clone, Default)]
pub struct Ilog {
    entries: Vec<(Version, Entry)>,
}

impl Ilog {
    fn insert(&mut self, v: Version, e: Entry) {
        // Updates mostly arrive in version order: append is the common case.
        // Repeated creations are kept (a punch may still arrive between
        // them out of order); aggregation folds them.
        let pos = self.entries.partition_point(|(x, _)| *x <= v);
        self.entries.insert(pos, (v, e));
    }

    /// Entries as `(version, is_punch)`, for checkpoints.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (Version, bool)> + '_ {
        self.entries.iter().map(|(v, e)| (*v, *e == Entry::Punch))
    }

    /// Rebuilds a log from checkpointed entries (must be sorted).
    pub(crate) fn from_entries(list: Vec<(Version, bool)>) -> Option<Ilog> {
        if list.windows(2).any(|w| w[0].0 > w[1].0) {
            return None;
        }
        let entries = list
            .into_iter()
            .map(|(v, p)| (v, if p { Entry::Punch } else { Entry::Create }))
            .collect();
        Some(Ilog { entries })
    }

    /// Records that the key was written at `v`.
    pub fn create(&mut self, v: Version) {
        self.insert(v, Entry::Create)
    }

    /// Records that the key was punched at `v`.
    pub fn punch(&mut self, v: Version) {
        self.insert(v, Entry::Punch)
    }

    /// Removes the creation recorded at exactly `v` (an aborted update's);
    /// true if there was one.
    pub fn remove_create(&mut self, v: Version) -> bool {
        self.remove_where(v, |e| e == Entry::Create)
    }

    /// Removes the punch recorded at exactly `v` (an aborted punch's); true
    /// if there was one.
    pub fn remove_punch(&mut self, v: Version) -> bool {
        self.remove_where(v, |e| e == Entry::Punch)
    }

    /// Removes every entry (creation or punch) recorded at exactly `v`;
    /// true if there was any.
    pub fn remove_all(&mut self, v: Version) -> bool {
        self.remove_where(v, |_| true)
    }

    fn remove_where(&mut self, v: Version, pick: impl Fn(Entry) -> bool) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(x, e)| !(*x == v && pick(*e)));
        self.entries.len() != before
    }

    /// The newest version recorded (a creation or a punch).
    pub fn newest(&self) -> Option<Version> {
        self.entries.last().map(|(v, _)| *v)
    }

    /// True if nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn latest(&self, at: Version) -> Option<(Version, Entry)> {
        let pos = self.entries.partition_point(|(x, _)| *x <= at);
        pos.checked_sub(1).map(|i| self.entries[i])
    }

    /// The creation that makes the key exist for a reader at `epoch`, if it
    /// exists and that creation is newer than `floor` (a parent's punch).
    pub fn visible(&self, epoch: Epoch, floor: Option<Version>) -> Option<Version> {
        match self.latest(Version::read_bound(epoch)) {
            Some((v, Entry::Create)) if floor.is_none_or(|f| v > f) => Some(v),
            _ => None,
        }
    }

    /// True if the key exists for a reader at `epoch`.
    pub fn exists(&self, epoch: Epoch) -> bool {
        matches!(
            self.latest(Version::read_bound(epoch)),
            Some((_, Entry::Create))
        )
    }

    /// The newest punch at or below `epoch`, if any.
    pub fn punch_floor(&self, epoch: Epoch) -> Option<Version> {
        let at = Version::read_bound(epoch);
        let pos = self.entries.partition_point(|(x, _)| *x <= at);
        self.entries[..pos]
            .iter()
            .rev()
            .find(|(_, e)| *e == Entry::Punch)
            .map(|(v, _)| *v)
    }

    /// Drops entries that no reader at or above `horizon` can tell apart:
    /// everything below the newest entry at or below the horizon.
    pub fn aggregate(&mut self, horizon: Epoch) {
        let pos = self
            .entries
            .partition_point(|(x, _)| *x <= Version::read_bound(horizon));
        if pos > 1 {
            // Keep the newest punch below the horizon too: it still hides
            // older versions in the subtree until those are aggregated.
            let keep_punch = self.entries[..pos - 1]
                .iter()
                .rposition(|(_, e)| *e == Entry::Punch)
                .filter(|_| self.entries[pos - 1].1 == Entry::Create);
            let mut kept: Vec<(Version, Entry)> = Vec::with_capacity(self.entries.len() - pos + 2);
            if let Some(p) = keep_punch {
                kept.push(self.entries[p]);
            }
            kept.extend_from_slice(&self.entries[pos - 1..]);
            self.entries = kept;
        }
    }

    /// True if no reader at or above `horizon` can see the key, and nothing
    /// newer than the horizon is recorded: the whole subtree can go.
    pub fn dead_at(&self, horizon: Epoch) -> bool {
        match self.entries.last() {
            None => true,
            Some((v, e)) => *e == Entry::Punch && v.epoch <= horizon,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(epoch: Epoch, seq: u64) -> Version {
        Version { epoch, seq }
    }

    #[test]
    fn exists_and_punch_floor_follow_versions() {
        let mut l = Ilog::default();
        assert!(!l.exists(10));
        l.create(v(5, 1));
        l.punch(v(8, 2));
        l.create(v(12, 3));
        assert!(!l.exists(4));
        assert!(l.exists(5) && l.exists(7));
        assert!(!l.exists(8) && !l.exists(11));
        assert!(l.exists(12));
        assert_eq!(l.punch_floor(7), None);
        assert_eq!(l.punch_floor(20), Some(v(8, 2)));
        // Out of order arrival lands in order.
        l.punch(v(6, 4));
        assert!(!l.exists(6));
        assert_eq!(l.punch_floor(7), Some(v(6, 4)));
    }

    #[test]
    fn aggregate_keeps_what_readers_above_the_horizon_need() {
        let mut l = Ilog::default();
        l.create(v(1, 1));
        l.punch(v(2, 2));
        l.create(v(3, 3));
        l.create(v(9, 4));
        l.aggregate(5);
        assert!(l.exists(5) && l.exists(100));
        assert_eq!(l.punch_floor(5), Some(v(2, 2)));
        assert!(!l.dead_at(5));
        l.punch(v(10, 5));
        assert!(l.dead_at(10) && !l.dead_at(9));
    }

    #[test]
    fn removing_a_version_takes_only_its_entries() {
        let mut l = Ilog::default();
        l.create(v(1, 1));
        l.punch(v(2, 2));
        l.create(v(3, 3));
        assert!(!l.remove_create(v(2, 2)), "a punch is not a creation");
        assert!(!l.remove_create(v(3, 4)), "same epoch, other version");
        assert!(l.exists(3));
        assert!(l.remove_create(v(3, 3)));
        assert!(!l.exists(3) && l.exists(1));
        assert!(!l.remove_create(v(3, 3)), "idempotent");
        assert!(l.remove_all(v(2, 2)));
        assert!(l.exists(3) && l.punch_floor(3).is_none());
        assert!(l.remove_all(v(1, 1)) && l.is_empty());
    }
}
