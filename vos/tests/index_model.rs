//! Model-based property test of the versioned index: random updates,
//! punches, range punches, aborts (of versions that are there, on the
//! right key or a wrong one, again, or never handed out), fetches,
//! enumerations, `query_key_max` and aggregations at random (out of order)
//! epochs, checked against a
//! brute-force reference that keeps every event and answers each question
//! from its definition:
//!
//! * a record, at epoch E, is what the newest event at or below E that
//!   touches it says (a write's byte, or a hole for a range punch or any
//!   punch of its akey, dkey or object); no event means a hole;
//! * a key exists at E if the newest of its creations (a data write below
//!   it) and the punches of it and of its parents at or below E is a
//!   creation;
//! * an abort of version V on an akey removes the event at V if it is an
//!   update (or akey punch) of that akey, and nothing otherwise; an abort
//!   of a punch at V on a dkey (or the object) removes the event at V if
//!   it is a punch of that dkey (or of the object), and nothing otherwise.
//!
//! Data bytes live in a real buffer standing in for the data region, at
//! addresses from the real allocator; aggregation frees space that later
//! writes reuse, so freeing live data would show up as wrong bytes.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use vos::{ContId, DataAddr, Enc, Epoch, ExtentAlloc, Index, IndexOp, ObjId, Recx, Version};

const RSIZE: u64 = 2;
const REGION: u64 = 1 << 20;

#[derive(Debug, Clone)]
enum Op {
    Write {
        o: u8,
        d: u8,
        idx: u64,
        nr: u64,
        e: Epoch,
        fill: u8,
    },
    RangePunch {
        o: u8,
        d: u8,
        idx: u64,
        nr: u64,
        e: Epoch,
    },
    SetSingle {
        o: u8,
        d: u8,
        len: u64,
        e: Epoch,
        fill: u8,
    },
    PunchSingle {
        o: u8,
        d: u8,
        e: Epoch,
    },
    PunchAkey {
        o: u8,
        d: u8,
        array: bool,
        e: Epoch,
    },
    PunchDkey {
        o: u8,
        d: u8,
        e: Epoch,
    },
    PunchObj {
        o: u8,
        e: Epoch,
    },
    Read {
        o: u8,
        d: u8,
        e: Epoch,
    },
    Aggregate {
        e: Epoch,
    },
    /// Abort a version: `how` picks an event's own (0, 1), an event's on
    /// the key `o`/`d`/`array` (2), one aborted before (3) or a version
    /// never handed out, at epoch `e` (4).
    Abort {
        how: u8,
        pick: usize,
        o: u8,
        d: u8,
        array: bool,
        e: Epoch,
    },
    /// Abort an object (`d` `None`) or dkey punch: `how` picks a punch's
    /// own version and scope (0, 1), an event's version on the scope
    /// `o`/`d` (2) or a version never handed out, at epoch `e` (3).
    AbortPunch {
        how: u8,
        pick: usize,
        o: u8,
        d: Option<u8>,
        e: Epoch,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let o = 0u8..2;
    let d = 0u8..4;
    let e = 1u64..40;
    prop_oneof![
        8 => (o.clone(), d.clone(), 0u64..48, 1u64..16, e.clone(), any::<u8>())
            .prop_map(|(o, d, idx, nr, e, fill)| Op::Write { o, d, idx, nr, e, fill }),
        2 => (o.clone(), d.clone(), 0u64..48, 1u64..16, e.clone())
            .prop_map(|(o, d, idx, nr, e)| Op::RangePunch { o, d, idx, nr, e }),
        3 => (o.clone(), d.clone(), 1u64..64, e.clone(), any::<u8>())
            .prop_map(|(o, d, len, e, fill)| Op::SetSingle { o, d, len, e, fill }),
        1 => (o.clone(), d.clone(), e.clone()).prop_map(|(o, d, e)| Op::PunchSingle { o, d, e }),
        1 => (o.clone(), d.clone(), any::<bool>(), e.clone())
            .prop_map(|(o, d, array, e)| Op::PunchAkey { o, d, array, e }),
        1 => (o.clone(), d.clone(), e.clone()).prop_map(|(o, d, e)| Op::PunchDkey { o, d, e }),
        1 => (o.clone(), e.clone()).prop_map(|(o, e)| Op::PunchObj { o, e }),
        6 => (o.clone(), d.clone(), 1u64..45).prop_map(|(o, d, e)| Op::Read { o, d, e }),
        1 => (1u64..30).prop_map(|e| Op::Aggregate { e }),
        3 => (0u8..5, any::<usize>(), o.clone(), d.clone(), any::<bool>(), e.clone())
            .prop_map(|(how, pick, o, d, array, e)| Op::Abort { how, pick, o, d, array, e }),
        2 => (0u8..4, any::<usize>(), o, proptest::option::of(d), e)
            .prop_map(|(how, pick, o, d, e)| Op::AbortPunch { how, pick, o, d, e }),
    ]
}

// Objects 0 and 1 share one object id, in two containers: the model
// keeps them apart, so the index must too.
fn oid(_o: u8) -> ObjId {
    ObjId::new(0x100, 7)
}
fn cont(o: u8) -> ContId {
    ContId(1 + o as u128)
}
fn dkey(d: u8) -> Vec<u8> {
    (d as u64 + 1).to_be_bytes().to_vec()
}
/// The index's checkpoint form (its first 8 bytes are the sequence).
fn encoded(idx: &Index) -> Vec<u8> {
    let mut e = Enc::new();
    idx.encode(&mut e);
    e.buf
}

const AK_ARRAY: &[u8] = b"a";
const AK_SINGLE: &[u8] = b"s";

/// What the reference keeps: every event with its version.
#[derive(Debug, Clone)]
enum Ev {
    Rec {
        o: u8,
        d: u8,
        idx: u64,
        nr: u64,
        bytes: Option<Vec<u8>>,
    },
    Single {
        o: u8,
        d: u8,
        bytes: Option<Vec<u8>>,
    },
    PunchA {
        o: u8,
        d: u8,
        array: bool,
    },
    PunchD {
        o: u8,
        d: u8,
    },
    PunchO {
        o: u8,
    },
}

struct Model {
    evs: Vec<(Version, Ev)>,
}

/// The akey an event is a version of (object, dkey, array?), if an abort
/// on that akey may remove it (updates and akey punches).
fn akey_of(ev: &Ev) -> Option<(u8, u8, bool)> {
    match *ev {
        Ev::Rec { o, d, .. } => Some((o, d, true)),
        Ev::Single { o, d, .. } => Some((o, d, false)),
        Ev::PunchA { o, d, array } => Some((o, d, array)),
        Ev::PunchD { .. } | Ev::PunchO { .. } => None,
    }
}

impl Model {
    /// Removes the event an abort of `v` on akey (`o`, `d`, `array`)
    /// takes back, if any.
    fn abort(&mut self, v: Version, o: u8, d: u8, array: bool) -> Option<Ev> {
        let at = self
            .evs
            .iter()
            .position(|(ev_v, ev)| *ev_v == v && akey_of(ev) == Some((o, d, array)))?;
        Some(self.evs.remove(at).1)
    }

    /// Removes the punch an abort of `v` on dkey `d` (or the object, `d`
    /// `None`) of `o` takes back, if any; true if there was one.
    fn abort_punch(&mut self, v: Version, o: u8, d: Option<u8>) -> bool {
        let hit = |ev: &Ev| match (ev, d) {
            (Ev::PunchD { o: o2, d: d2 }, Some(d)) => *o2 == o && *d2 == d,
            (Ev::PunchO { o: o2 }, None) => *o2 == o,
            _ => false,
        };
        match self.evs.iter().position(|(ev_v, ev)| *ev_v == v && hit(ev)) {
            Some(at) => {
                self.evs.remove(at);
                true
            }
            None => false,
        }
    }

    /// The newest event at or below `e` matching `f`.
    fn newest(&self, e: Epoch, f: impl Fn(&Ev) -> bool) -> Option<&(Version, Ev)> {
        self.evs
            .iter()
            .filter(|(v, ev)| v.epoch <= e && f(ev))
            .max_by_key(|(v, _)| *v)
    }

    fn punches_akey(ev: &Ev, o: u8, d: u8, array: bool) -> bool {
        match ev {
            Ev::PunchO { o: o2 } => *o2 == o,
            Ev::PunchD { o: o2, d: d2 } => *o2 == o && *d2 == d,
            Ev::PunchA {
                o: o2,
                d: d2,
                array: a2,
            } => *o2 == o && *d2 == d && *a2 == array,
            Ev::Single {
                o: o2,
                d: d2,
                bytes: None,
            } => !array && *o2 == o && *d2 == d,
            _ => false,
        }
    }

    fn record(&self, o: u8, d: u8, r: u64, e: Epoch) -> Option<[u8; RSIZE as usize]> {
        let ev = self.newest(e, |ev| match ev {
            Ev::Rec {
                o: o2,
                d: d2,
                idx,
                nr,
                ..
            } => *o2 == o && *d2 == d && *idx <= r && r < idx + nr,
            other => Self::punches_akey(other, o, d, true),
        })?;
        match &ev.1 {
            Ev::Rec {
                idx,
                bytes: Some(b),
                ..
            } => {
                let at = ((r - idx) * RSIZE) as usize;
                Some([b[at], b[at + 1]])
            }
            _ => None,
        }
    }

    fn single(&self, o: u8, d: u8, e: Epoch) -> Option<Vec<u8>> {
        let ev = self.newest(e, |ev| match ev {
            Ev::Single { o: o2, d: d2, .. } => *o2 == o && *d2 == d,
            other => Self::punches_akey(other, o, d, false),
        })?;
        match &ev.1 {
            Ev::Single { bytes: Some(b), .. } => Some(b.clone()),
            _ => None,
        }
    }

    fn creates(ev: &Ev, o: u8, d: Option<u8>, array: Option<bool>) -> bool {
        let (eo, ed, ea) = match ev {
            Ev::Rec {
                o,
                d,
                bytes: Some(_),
                ..
            } => (*o, *d, true),
            Ev::Single {
                o,
                d,
                bytes: Some(_),
            } => (*o, *d, false),
            _ => return false,
        };
        eo == o && d.is_none_or(|d| d == ed) && array.is_none_or(|a| a == ea)
    }

    fn dkey_exists(&self, o: u8, d: u8, e: Epoch) -> bool {
        let ev = self.newest(e, |ev| {
            Self::creates(ev, o, Some(d), None)
                || matches!(ev, Ev::PunchO { o: o2 } if *o2 == o)
                || matches!(ev, Ev::PunchD { o: o2, d: d2 } if *o2 == o && *d2 == d)
        });
        ev.is_some_and(|(_, ev)| Self::creates(ev, o, Some(d), None))
    }

    fn akey_exists(&self, o: u8, d: u8, array: bool, e: Epoch) -> bool {
        let ev = self.newest(e, |ev| {
            Self::creates(ev, o, Some(d), Some(array)) || Self::punches_akey(ev, o, d, array)
        });
        ev.is_some_and(|(_, ev)| Self::creates(ev, o, Some(d), Some(array)))
    }
}

struct Harness {
    idx: Index,
    alloc: ExtentAlloc,
    region: Vec<u8>,
    model: Model,
    horizon: Epoch,
    /// Versions aborted so far, with their akey (to abort them again).
    aborted: Vec<(Version, u8, u8, bool)>,
}

impl Harness {
    fn store(&mut self, bytes: &[u8]) -> DataAddr {
        let off = self
            .alloc
            .alloc(bytes.len() as u64)
            .expect("region large enough");
        self.region[off as usize..off as usize + bytes.len()].copy_from_slice(bytes);
        DataAddr {
            off,
            len: bytes.len() as u64,
            csum: 0,
        }
    }

    /// Returns freed extents to the allocator and poisons their bytes (a
    /// read that still uses them fails); they must have been live.
    fn release(&mut self, before: &[DataAddr], freed: &[DataAddr]) -> Result<(), TestCaseError> {
        let after: std::collections::HashSet<u64> =
            self.idx.data_extents().iter().map(|x| x.off).collect();
        for f in freed {
            prop_assert!(before.contains(f) && !after.contains(&f.off));
            self.alloc.free(f.off, f.len).unwrap();
            self.region[f.off as usize..(f.off + f.len) as usize].fill(0xEE);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn abort(
        &mut self,
        how: u8,
        pick: usize,
        o: u8,
        d: u8,
        array: bool,
        e: Epoch,
    ) -> Result<(), TestCaseError> {
        let (v, o, d, array) = match how {
            0..=2 if !self.model.evs.is_empty() => {
                let (v, ev) = &self.model.evs[pick % self.model.evs.len()];
                let own = akey_of(ev).filter(|_| how < 2);
                let (o, d, array) = own.unwrap_or((o, d, array));
                (*v, o, d, array)
            }
            3 if !self.aborted.is_empty() => self.aborted[pick % self.aborted.len()],
            _ => {
                let seq = self.idx.seq() + 1 + (pick % 3) as u64;
                (Version { epoch: e, seq }, o, d, array)
            }
        };
        if v.epoch <= self.horizon {
            return Ok(()); // aggregation may have folded it: never aborted
        }
        let op = IndexOp::Abort {
            cont: cont(o),
            oid: oid(o),
            dkey: dkey(d),
            akey: if array { AK_ARRAY } else { AK_SINGLE }.to_vec(),
            v,
        };
        let before = self.idx.data_extents();
        let snapshot = encoded(&self.idx);
        let freed = self.idx.apply(&op).unwrap();
        prop_assert!(self.idx.seq() >= v.seq, "a named version is never reused");
        let gone = self.model.abort(v, o, d, array);
        let want_freed = match &gone {
            Some(Ev::Rec { bytes: Some(_), .. } | Ev::Single { bytes: Some(_), .. }) => 1,
            _ => 0,
        };
        prop_assert_eq!(
            freed.len(),
            want_freed,
            "{:?} at {:?} freed {:?}",
            op,
            v,
            freed
        );
        self.release(&before, &freed)?;
        match gone {
            Some(_) => self.aborted.push((v, o, d, array)),
            // Nothing to take back: nothing changes but the sequence.
            None => prop_assert!(
                encoded(&self.idx)[8..] == snapshot[8..],
                "no-op abort changed the index"
            ),
        }
        Ok(())
    }

    fn abort_punch(
        &mut self,
        how: u8,
        pick: usize,
        o: u8,
        d: Option<u8>,
        e: Epoch,
    ) -> Result<(), TestCaseError> {
        let punches: Vec<(Version, u8, Option<u8>)> = self
            .model
            .evs
            .iter()
            .filter_map(|(v, ev)| match *ev {
                Ev::PunchD { o, d } => Some((*v, o, Some(d))),
                Ev::PunchO { o } => Some((*v, o, None)),
                _ => None,
            })
            .collect();
        let evs = &self.model.evs;
        let (v, o, d) = match how {
            0 | 1 if !punches.is_empty() => punches[pick % punches.len()],
            2 if !evs.is_empty() => (evs[pick % evs.len()].0, o, d),
            _ => {
                let seq = self.idx.seq() + 1 + (pick % 3) as u64;
                (Version { epoch: e, seq }, o, d)
            }
        };
        if v.epoch <= self.horizon {
            return Ok(()); // aggregation may have folded it: never aborted
        }
        let op = IndexOp::AbortPunch {
            cont: cont(o),
            oid: oid(o),
            dkey: d.map(dkey),
            v,
        };
        let snapshot = encoded(&self.idx);
        let freed = self.idx.apply(&op).unwrap();
        prop_assert!(freed.is_empty(), "a punch holds no data: {:?}", freed);
        prop_assert!(self.idx.seq() >= v.seq, "a named version is never reused");
        if !self.model.abort_punch(v, o, d) {
            prop_assert!(
                encoded(&self.idx)[8..] == snapshot[8..],
                "no-op punch abort changed the index"
            );
        }
        Ok(())
    }

    fn apply(&mut self, op: IndexOp, ev: Ev) {
        let v = op.version().expect("object ops are versioned");
        self.idx.apply(&op).unwrap();
        self.model.evs.push((v, ev));
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        // Writes below the aggregation horizon would be invisible history
        // rewriting; the engine refuses them (epoch check), so do we here.
        let too_old = |e: Epoch| e <= self.horizon;
        match *op {
            Op::Write {
                o,
                d,
                idx,
                nr,
                e,
                fill,
            } if !too_old(e) => {
                let bytes: Vec<u8> = (0..nr * RSIZE)
                    .map(|i| fill.wrapping_add(i as u8))
                    .collect();
                let data = Some(self.store(&bytes));
                let v = self.idx.next_version(e).unwrap();
                let op = IndexOp::UpdateArray {
                    cont: cont(o),
                    oid: oid(o),
                    dkey: dkey(d),
                    akey: AK_ARRAY.to_vec(),
                    v,
                    recx: Recx::new(idx, nr),
                    rsize: RSIZE,
                    data,
                    chunks: None,
                };
                self.apply(
                    op,
                    Ev::Rec {
                        o,
                        d,
                        idx,
                        nr,
                        bytes: Some(bytes),
                    },
                );
            }
            Op::RangePunch { o, d, idx, nr, e } if !too_old(e) => {
                let v = self.idx.next_version(e).unwrap();
                let op = IndexOp::UpdateArray {
                    cont: cont(o),
                    oid: oid(o),
                    dkey: dkey(d),
                    akey: AK_ARRAY.to_vec(),
                    v,
                    recx: Recx::new(idx, nr),
                    rsize: RSIZE,
                    data: None,
                    chunks: None,
                };
                self.apply(
                    op,
                    Ev::Rec {
                        o,
                        d,
                        idx,
                        nr,
                        bytes: None,
                    },
                );
            }
            Op::SetSingle { o, d, len, e, fill } if !too_old(e) => {
                let bytes: Vec<u8> = (0..len).map(|i| fill ^ i as u8).collect();
                let data = Some(self.store(&bytes));
                let v = self.idx.next_version(e).unwrap();
                let op = IndexOp::UpdateSingle {
                    cont: cont(o),
                    oid: oid(o),
                    dkey: dkey(d),
                    akey: AK_SINGLE.to_vec(),
                    v,
                    data,
                };
                self.apply(
                    op,
                    Ev::Single {
                        o,
                        d,
                        bytes: Some(bytes),
                    },
                );
            }
            Op::PunchSingle { o, d, e } if !too_old(e) => {
                let v = self.idx.next_version(e).unwrap();
                let op = IndexOp::UpdateSingle {
                    cont: cont(o),
                    oid: oid(o),
                    dkey: dkey(d),
                    akey: AK_SINGLE.to_vec(),
                    v,
                    data: None,
                };
                self.apply(op, Ev::Single { o, d, bytes: None });
            }
            Op::PunchAkey { o, d, array, e } if !too_old(e) => {
                let v = self.idx.next_version(e).unwrap();
                let akey = if array { AK_ARRAY } else { AK_SINGLE }.to_vec();
                let op = IndexOp::PunchAkey {
                    cont: cont(o),
                    oid: oid(o),
                    dkey: dkey(d),
                    akey,
                    v,
                };
                self.apply(op, Ev::PunchA { o, d, array });
            }
            Op::PunchDkey { o, d, e } if !too_old(e) => {
                let v = self.idx.next_version(e).unwrap();
                self.apply(
                    IndexOp::PunchDkey {
                        cont: cont(o),
                        oid: oid(o),
                        dkey: dkey(d),
                        v,
                    },
                    Ev::PunchD { o, d },
                );
            }
            Op::PunchObj { o, e } if !too_old(e) => {
                let v = self.idx.next_version(e).unwrap();
                self.apply(
                    IndexOp::PunchObj {
                        cont: cont(o),
                        oid: oid(o),
                        v,
                    },
                    Ev::PunchO { o },
                );
            }
            Op::Read { o, d, e } if e >= self.horizon => self.check_read(o, d, e)?,
            Op::Aggregate { e } if e > self.horizon => {
                let before = self.idx.data_extents();
                let freed = self.idx.aggregate(e);
                self.release(&before, &freed)?;
                self.horizon = e;
            }
            Op::Abort {
                how,
                pick,
                o,
                d,
                array,
                e,
            } => self.abort(how, pick, o, d, array, e)?,
            Op::AbortPunch { how, pick, o, d, e } => self.abort_punch(how, pick, o, d, e)?,
            _ => {}
        }
        Ok(())
    }

    fn check_read(&self, o: u8, d: u8, e: Epoch) -> Result<(), TestCaseError> {
        // Array records.
        let segs = self
            .idx
            .fetch_array(cont(o), oid(o), &dkey(d), AK_ARRAY, e, Recx::new(0, 64))
            .unwrap();
        let mut next = 0;
        for s in &segs {
            prop_assert_eq!(s.recx.idx, next, "segments must tile the range");
            next = s.recx.end();
            for r in s.recx.idx..s.recx.end() {
                let got = s.src.map(|(off, _)| {
                    let at = (off + (r - s.recx.idx) * RSIZE) as usize;
                    [self.region[at], self.region[at + 1]]
                });
                prop_assert_eq!(
                    got,
                    self.model.record(o, d, r, e),
                    "o{} d{} rec {} at e{}",
                    o,
                    d,
                    r,
                    e
                );
            }
        }
        prop_assert_eq!(next, 64);
        // Single value.
        let sv = self
            .idx
            .fetch_single(cont(o), oid(o), &dkey(d), AK_SINGLE, e)
            .unwrap();
        let got = sv.map(|a| self.region[a.off as usize..(a.off + a.len) as usize].to_vec());
        prop_assert_eq!(
            got,
            self.model.single(o, d, e),
            "single o{} d{} at e{}",
            o,
            d,
            e
        );
        // Enumeration.
        let dkeys = self.idx.list_dkeys(cont(o), oid(o), e);
        let want: Vec<Vec<u8>> = (0..4)
            .filter(|&dd| self.model.dkey_exists(o, dd, e))
            .map(dkey)
            .collect();
        prop_assert_eq!(dkeys, want, "dkeys of o{} at e{}", o, e);
        let akeys = self.idx.list_akeys(cont(o), oid(o), &dkey(d), e);
        let mut want = vec![];
        if self.model.dkey_exists(o, d, e) {
            if self.model.akey_exists(o, d, true, e) {
                want.push(AK_ARRAY.to_vec());
            }
            if self.model.akey_exists(o, d, false, e) {
                want.push(AK_SINGLE.to_vec());
            }
        }
        prop_assert_eq!(akeys, want, "akeys of o{} d{} at e{}", o, d, e);
        // query_key_max over the array akey.
        let want = (0..4u8).rev().find_map(|dd| {
            (0..64u64)
                .rev()
                .find(|&r| self.model.record(o, dd, r, e).is_some())
                .map(|r| (dkey(dd), r + 1))
        });
        prop_assert_eq!(
            self.idx.query_key_max(cont(o), oid(o), AK_ARRAY, e),
            want,
            "key max o{} e{}",
            o,
            e
        );
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn index_matches_the_reference_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut h = Harness {
            idx: Index::new(),
            alloc: ExtentAlloc::new(REGION, 2).unwrap(),
            region: vec![0; REGION as usize],
            model: Model { evs: vec![] },
            horizon: 0,
            aborted: vec![],
        };
        for o in 0..2 {
            let create = IndexOp::ContCreate { cont: cont(o), label: format!("c{o}") };
            h.idx.apply(&create).unwrap();
            prop_assert!(h.idx.check(&create).is_err(), "a container is created once");
        }
        for op in &ops {
            h.step(op)?;
        }
        // A final sweep of reads at every epoch above the horizon.
        for e in h.horizon.max(1)..45 {
            for o in 0..2 {
                for d in 0..4 {
                    h.check_read(o, d, e)?;
                }
            }
        }
    }
}
