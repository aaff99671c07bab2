//! The versions of one array value (DAOS's evtree, in a simpler form).
//!
//! Every update of records `[idx, idx + nr)` at a version is kept as one
//! extent, pointing at its bytes in the data region, or marking a hole (a
//! range punch). A read at epoch E resolves each record to the newest
//! extent at or below E that covers it and is above the punch floor of the
//! keys above it; records nothing covers are holes.

use std::collections::BTreeMap;

use crate::types::{DataAddr, Recx, Version};

/// One stored version of a record range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// One past the last record.
    pub end: u64,
    /// The bytes of records `[start, end)`, or `None` for a hole.
    pub data: Option<DataAddr>,
}

/// What a read sees for a run of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// The records.
    pub recx: Recx,
    /// Where the bytes of `recx` start in the data region (`None`: a hole,
    /// read as zeros) and the extent they belong to (for its checksum).
    pub src: Option<(u64, DataAddr)>,
}

/// All versions of one array akey.
#[derive(Debug, Clone, Default)]
pub struct ExtentTree {
    /// Keyed by (first record, version).
    map: BTreeMap<(u64, Version), Extent>,
    /// Longest extent ever stored, to bound the search for overlaps.
    max_len: u64,
}

impl ExtentTree {
    /// Stores a version of `recx` (data or hole).
    pub fn insert(&mut self, recx: Recx, v: Version, data: Option<DataAddr>) {
        self.max_len = self.max_len.max(recx.nr);
        self.map.insert(
            (recx.idx, v),
            Extent {
                end: recx.end(),
                data,
            },
        );
    }

    /// Extents overlapping `recx` whose version is in `(floor, bound]`.
    fn overlapping(
        &self,
        recx: Recx,
        floor: Option<Version>,
        bound: Version,
    ) -> impl Iterator<Item = (u64, Version, Extent)> + '_ {
        let lo = recx.idx.saturating_sub(self.max_len);
        let lo_key = (lo, Version { epoch: 0, seq: 0 });
        let hi_key = (recx.end(), Version { epoch: 0, seq: 0 });
        self.map
            .range(lo_key..hi_key)
            .filter_map(move |(&(start, v), &e)| {
                let visible = v <= bound && floor.is_none_or(|f| v > f);
                (visible && e.end > recx.idx && start < recx.end()).then_some((start, v, e))
            })
    }

    /// Resolves `recx` for a reader bounded by `bound`, hiding versions at
    /// or below `floor`. Returns segments in record order covering `recx`
    /// exactly; `rsize` converts records to bytes.
    pub fn fetch(
        &self,
        recx: Recx,
        floor: Option<Version>,
        bound: Version,
        rsize: u64,
    ) -> Vec<Segment> {
        let mut cands: Vec<(u64, Version, Extent)> = self.overlapping(recx, floor, bound).collect();
        cands.sort_by_key(|c| std::cmp::Reverse(c.1)); // newest first
                                                       // Paint newest first into the still-uncovered gaps.
        let mut gaps: Vec<(u64, u64)> = vec![(recx.idx, recx.end())];
        let mut out: Vec<Segment> = Vec::new();
        for (start, _v, e) in cands {
            if gaps.is_empty() {
                break;
            }
            let mut next = Vec::with_capacity(gaps.len() + 1);
            for (g0, g1) in gaps {
                let (a, b) = (g0.max(start), g1.min(e.end));
                if a >= b {
                    next.push((g0, g1));
                    continue;
                }
                out.push(Segment {
                    recx: Recx::new(a, b - a),
                    src: e.data.map(|d| (d.off + (a - start) * rsize, d)),
                });
                if g0 < a {
                    next.push((g0, a));
                }
                if b < g1 {
                    next.push((b, g1));
                }
            }
            gaps = next;
        }
        out.extend(gaps.into_iter().map(|(a, b)| Segment {
            recx: Recx::new(a, b - a),
            src: None,
        }));
        out.sort_by_key(|s| s.recx.idx);
        // Merge neighbouring holes.
        let mut merged: Vec<Segment> = Vec::with_capacity(out.len());
        for s in out {
            match merged.last_mut() {
                Some(m) if m.src.is_none() && s.src.is_none() && m.recx.end() == s.recx.idx => {
                    m.recx.nr += s.recx.nr
                }
                _ => merged.push(s),
            }
        }
        merged
    }

    /// The records holding data for the reader (what is written and not
    /// punched or overwritten by a hole), counted once each.
    pub fn data_records(&self, floor: Option<Version>, bound: Version) -> u64 {
        let Some(end) = self.max_end(floor, bound) else {
            return 0;
        };
        self.fetch(Recx::new(0, end), floor, bound, 1)
            .iter()
            .filter(|s| s.src.is_some())
            .map(|s| s.recx.nr)
            .sum()
    }

    /// One past the highest record holding data for the reader, if any.
    pub fn max_end(&self, floor: Option<Version>, bound: Version) -> Option<u64> {
        // Candidate ends, highest first; the end counts if that record is
        // data (not hidden under a newer hole).
        let mut ends: Vec<u64> = self
            .map
            .iter()
            .filter(|((_, v), e)| *v <= bound && floor.is_none_or(|f| *v > f) && e.data.is_some())
            .map(|(_, e)| e.end)
            .collect();
        ends.sort_unstable_by(|a, b| b.cmp(a));
        ends.dedup();
        for end in ends {
            // The highest data record at or below `end`.
            let lo = end.saturating_sub(self.max_len.max(1));
            let segs = self.fetch(Recx::new(lo, end - lo), floor, bound, 1);
            if let Some(s) = segs.iter().rev().find(|s| s.src.is_some()) {
                return Some(s.recx.end());
            }
        }
        None
    }

    /// Removes versions no reader at or above `horizon` can see: those at or
    /// below `floor` (punched), and those wholly covered by newer versions
    /// at or below the horizon. Returns the data they held.
    pub fn aggregate(&mut self, floor: Option<Version>, horizon: Version) -> Vec<DataAddr> {
        let mut dead: Vec<(u64, Version)> = Vec::new();
        for (&(start, v), e) in &self.map {
            if v > horizon {
                continue;
            }
            if floor.is_some_and(|f| v <= f) {
                dead.push((start, v));
                continue;
            }
            // Covered by newer versions visible to every reader above the horizon?
            if self.covered_by_newer(Recx::new(start, e.end - start), v, horizon) {
                dead.push((start, v));
            }
        }
        let mut freed = Vec::new();
        for k in dead {
            if let Some(e) = self.map.remove(&k) {
                freed.extend(e.data);
            }
        }
        freed
    }

    /// True if every record of `recx` is covered by some version newer than
    /// `v` and at or below `horizon` (data or hole).
    fn covered_by_newer(&self, recx: Recx, v: Version, horizon: Version) -> bool {
        let mut spans: Vec<(u64, u64)> = self
            .overlapping(recx, Some(v), horizon)
            .map(|(s, _, e)| (s.max(recx.idx), e.end.min(recx.end())))
            .collect();
        spans.sort_unstable();
        let mut at = recx.idx;
        for (a, b) in spans {
            if a > at {
                return false;
            }
            at = at.max(b);
        }
        at >= recx.end()
    }

    /// Removes every extent stored at exactly version `v` (an aborted
    /// update's), returning them; the versions beneath show through again.
    pub fn remove_version(&mut self, v: Version) -> Vec<(Recx, Option<DataAddr>)> {
        // Keyed by start first: an update's extents can be anywhere.
        let keys: Vec<u64> = self.map.keys().filter(|k| k.1 == v).map(|k| k.0).collect();
        keys.into_iter()
            .filter_map(|s| {
                let e = self.map.remove(&(s, v))?;
                Some((Recx::new(s, e.end - s), e.data))
            })
            .collect()
    }

    /// True if no version is left.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of stored versions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Every stored version (for checkpoints and space accounting).
    pub fn iter(&self) -> impl Iterator<Item = (Recx, Version, Option<DataAddr>)> + '_ {
        self.map
            .iter()
            .map(|(&(s, v), e)| (Recx::new(s, e.end - s), v, e.data))
    }

    /// Removes everything, returning the data held.
    pub fn clear(&mut self) -> Vec<DataAddr> {
        let freed = self.map.values().filter_map(|e| e.data).collect();
        self.map.clear();
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(epoch: u64, seq: u64) -> Version {
        Version { epoch, seq }
    }
    fn d(off: u64, len: u64) -> Option<DataAddr> {
        Some(DataAddr { off, len, csum: 0 })
    }

    #[test]
    fn newest_version_at_or_below_the_epoch_wins_per_record() {
        let mut t = ExtentTree::default();
        t.insert(Recx::new(0, 10), v(1, 1), d(1000, 10));
        t.insert(Recx::new(4, 4), v(3, 2), d(2000, 4));
        t.insert(Recx::new(6, 6), v(2, 3), d(3000, 6));
        let segs = t.fetch(Recx::new(0, 14), None, Version::read_bound(5), 1);
        let got: Vec<(u64, u64, Option<u64>)> = segs
            .iter()
            .map(|s| (s.recx.idx, s.recx.nr, s.src.map(|x| x.0)))
            .collect();
        assert_eq!(
            got,
            [
                (0, 4, Some(1000)),
                (4, 4, Some(2000)),
                (8, 4, Some(3002)),
                (12, 2, None)
            ]
        );
        // At epoch 1 only the first version exists.
        let segs = t.fetch(Recx::new(2, 10), None, Version::read_bound(1), 1);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].src.map(|x| x.0), Some(1002));
        assert_eq!(segs[1].src, None);
        assert_eq!(t.max_end(None, Version::read_bound(5)), Some(12));
        assert_eq!(t.max_end(None, Version::read_bound(1)), Some(10));
    }

    #[test]
    fn data_records_count_what_is_written_once() {
        let mut t = ExtentTree::default();
        assert_eq!(t.data_records(None, Version::read_bound(9)), 0);
        t.insert(Recx::new(0, 8), v(1, 1), d(0, 8));
        t.insert(Recx::new(4, 8), v(2, 2), d(100, 8)); // overlaps 4 records
        t.insert(Recx::new(100, 2), v(3, 3), d(200, 2)); // far away: sparse
        assert_eq!(t.data_records(None, Version::read_bound(9)), 14);
        t.insert(Recx::new(2, 4), v(4, 4), None); // a punched hole
        assert_eq!(t.data_records(None, Version::read_bound(9)), 10);
        // Older readers and punched floors see less.
        assert_eq!(t.data_records(None, Version::read_bound(1)), 8);
        assert_eq!(t.data_records(Some(v(3, 3)), Version::read_bound(9)), 0);
    }

    #[test]
    fn holes_and_floors_hide_older_data() {
        let mut t = ExtentTree::default();
        t.insert(Recx::new(0, 8), v(1, 1), d(0, 8));
        t.insert(Recx::new(4, 4), v(2, 2), None); // truncate to 4
        assert_eq!(t.max_end(None, Version::read_bound(9)), Some(4));
        let segs = t.fetch(Recx::new(0, 8), Some(v(1, 1)), Version::read_bound(9), 1);
        assert_eq!(
            segs,
            [Segment {
                recx: Recx::new(0, 8),
                src: None
            }]
        );
    }

    #[test]
    fn aggregation_frees_only_fully_covered_versions() {
        let mut t = ExtentTree::default();
        t.insert(Recx::new(0, 8), v(1, 1), d(0, 8));
        t.insert(Recx::new(0, 4), v(2, 2), d(100, 4));
        t.insert(Recx::new(4, 4), v(3, 3), None);
        t.insert(Recx::new(0, 2), v(9, 4), d(200, 2)); // above the horizon
        let freed = t.aggregate(None, Version::read_bound(5));
        assert_eq!(
            freed,
            vec![DataAddr {
                off: 0,
                len: 8,
                csum: 0
            }]
        );
        assert_eq!(t.len(), 3);
        let segs = t.fetch(Recx::new(0, 8), None, Version::read_bound(5), 1);
        assert_eq!(segs[0].src.map(|x| x.0), Some(100));
    }

    #[test]
    fn removing_a_version_uncovers_the_one_beneath() {
        let mut t = ExtentTree::default();
        t.insert(Recx::new(0, 8), v(1, 1), d(0, 8));
        t.insert(Recx::new(2, 4), v(2, 2), d(100, 4));
        t.insert(Recx::new(6, 2), v(2, 3), None);
        assert_eq!(
            t.remove_version(v(2, 2)),
            vec![(Recx::new(2, 4), d(100, 4))]
        );
        assert!(t.remove_version(v(2, 2)).is_empty(), "idempotent");
        let segs = t.fetch(Recx::new(0, 8), None, Version::read_bound(5), 1);
        assert_eq!(segs[0].src.map(|x| x.0), Some(0));
        assert_eq!(segs[0].recx, Recx::new(0, 6));
        assert_eq!(t.remove_version(v(2, 3)), vec![(Recx::new(6, 2), None)]);
        assert_eq!(t.max_end(None, Version::read_bound(5)), Some(8));
    }
}
