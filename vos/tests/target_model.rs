//! Model-based test of a target on a real O_DIRECT file: random writes,
//! range punches, dkey and object punches, aborts of earlier writes (some
//! already aborted, or from a destroyed container) and reads at random
//! epochs,
//! with checkpoints, clean closes, reopens without close (WAL replay) and
//! aggregation at random points, and the container destroyed and created
//! again (all space back, nothing of it visible after); every read must
//! match a reference model
//! that keeps every event and answers from the definition (a record is
//! what the newest event at or below the read epoch that touches it says).

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use bio::{BioConfig, BioCtx, DevKind, DevOpts};
use proptest::prelude::*;
use tse::Sched;
use vos::{Cont, ContId, Epoch, ObjId, Recx, Target, Version};

/// The container every test here writes into.
const CONT: ContId = ContId(0x5eed);

fn co(t: &Target) -> Cont {
    t.cont_open(CONT).expect("the test container exists")
}

const REGION: u64 = 32 << 20;
const RECS: u64 = 64;

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
    Checkpoint,
    Close,
    Crash,
    Aggregate {
        e: Epoch,
    },
    Recreate,
    /// Abort an earlier write (picked among all made so far).
    Abort {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let (o, d, e) = (0u8..2, 0u8..3, 1u64..30);
    prop_oneof![
        10 => (o.clone(), d.clone(), 0u64..48, 1u64..16, e.clone(), any::<u8>())
            .prop_map(|(o, d, idx, nr, e, fill)| Op::Write { o, d, idx, nr, e, fill }),
        2 => (o.clone(), d.clone(), 0u64..48, 1u64..16, e.clone())
            .prop_map(|(o, d, idx, nr, e)| Op::RangePunch { o, d, idx, nr, e }),
        1 => (o.clone(), d.clone(), e.clone()).prop_map(|(o, d, e)| Op::PunchDkey { o, d, e }),
        1 => (o.clone(), e.clone()).prop_map(|(o, e)| Op::PunchObj { o, e }),
        6 => (o, d, 1u64..35).prop_map(|(o, d, e)| Op::Read { o, d, e }),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Close),
        2 => Just(Op::Crash),
        1 => (1u64..25).prop_map(|e| Op::Aggregate { e }),
        1 => Just(Op::Recreate),
        3 => any::<usize>().prop_map(|pick| Op::Abort { pick }),
    ]
}

fn oid(o: u8) -> ObjId {
    ObjId::new(0x0201_0001_0000_0000, o as u64 + 1)
}
fn dkey(d: u8) -> [u8; 8] {
    (d as u64 + 1).to_be_bytes()
}

#[derive(Debug, Clone)]
enum Ev {
    Rec {
        o: u8,
        d: u8,
        idx: u64,
        nr: u64,
        fill: Option<u8>,
    },
    PunchD {
        o: u8,
        d: u8,
    },
    PunchO {
        o: u8,
    },
}

/// Every event with (epoch, order applied).
struct Model(Vec<(Epoch, usize, Ev)>);

impl Model {
    fn record(&self, o: u8, d: u8, r: u64, e: Epoch) -> Option<u8> {
        let ev = self
            .0
            .iter()
            .filter(|(ep, _, ev)| {
                *ep <= e
                    && match ev {
                        Ev::Rec {
                            o: o2,
                            d: d2,
                            idx,
                            nr,
                            ..
                        } => *o2 == o && *d2 == d && *idx <= r && r < idx + nr,
                        Ev::PunchD { o: o2, d: d2 } => *o2 == o && *d2 == d,
                        Ev::PunchO { o: o2 } => *o2 == o,
                    }
            })
            .max_by_key(|(ep, n, _)| (*ep, *n))?;
        match &ev.2 {
            Ev::Rec {
                idx, fill: Some(f), ..
            } => Some(f.wrapping_add((r - idx) as u8)),
            _ => None,
        }
    }
}

struct TempFile(PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run(ops: &[Op], case: u64) -> Result<(), TestCaseError> {
    let f = TempFile(
        std::env::temp_dir().join(format!("rdaos-vos-model-{}-{case}", std::process::id())),
    );
    let s = Sched::new();
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(REGION),
        iopoll: None,
    };
    let ctx = BioCtx::open(&s, &f.0, &opts, &BioConfig::default()).unwrap();
    let mut t = Target::create(&ctx, 0, REGION, 5, 0, 1).unwrap();
    let free_empty = t.free_bytes();
    t.cont_create(CONT, "test").unwrap();
    let mut model = Model(Vec::new());
    // Every write made: (its op number, object, dkey, version).
    let mut writes: Vec<(usize, u8, u8, Version)> = Vec::new();
    let mut horizon = 0;
    let wait = |task: tse::Task| s.progress_until(&task);
    for (n, op) in ops.iter().enumerate() {
        let too_old = |e: Epoch| e <= horizon;
        match *op {
            Op::Write {
                o,
                d,
                idx,
                nr,
                e,
                fill,
            } if !too_old(e) => {
                let bytes: Vec<u8> = (0..nr).map(|i| fill.wrapping_add(i as u8)).collect();
                let (task, v) = co(&t)
                    .update_array_tx(oid(o), &dkey(d), b"0", e, Recx::new(idx, nr), 1, &bytes)
                    .unwrap();
                prop_assert_eq!(wait(task), 0);
                writes.push((n, o, d, v));
                model.0.push((
                    e,
                    n,
                    Ev::Rec {
                        o,
                        d,
                        idx,
                        nr,
                        fill: Some(fill),
                    },
                ));
            }
            Op::RangePunch { o, d, idx, nr, e } if !too_old(e) => {
                let task = co(&t)
                    .punch_recx(oid(o), &dkey(d), b"0", e, Recx::new(idx, nr), 1)
                    .unwrap();
                prop_assert_eq!(wait(task), 0);
                model.0.push((
                    e,
                    n,
                    Ev::Rec {
                        o,
                        d,
                        idx,
                        nr,
                        fill: None,
                    },
                ));
            }
            Op::PunchDkey { o, d, e } if !too_old(e) => {
                prop_assert_eq!(
                    wait(co(&t).punch(oid(o), Some(&dkey(d)), None, e).unwrap()),
                    0
                );
                model.0.push((e, n, Ev::PunchD { o, d }));
            }
            Op::PunchObj { o, e } if !too_old(e) => {
                prop_assert_eq!(wait(co(&t).punch(oid(o), None, None, e).unwrap()), 0);
                model.0.push((e, n, Ev::PunchO { o }));
            }
            Op::Read { o, d, e } if e >= horizon => {
                let (got, _) = co(&t)
                    .fetch_array(oid(o), &dkey(d), b"0", e, Recx::new(0, RECS))
                    .unwrap();
                for r in 0..RECS {
                    let want = model.record(o, d, r, e).unwrap_or(0);
                    prop_assert_eq!(
                        got[r as usize],
                        want,
                        "o{} d{} rec {} at e{} (op {})",
                        o,
                        d,
                        r,
                        e,
                        n
                    );
                }
            }
            Op::Checkpoint => {
                t.checkpoint().unwrap();
                // Everything released (aborts included) is free again, and
                // nothing live is.
                let bs = t.superblock().geo.block_size as u64;
                let live: u64 = t.with_index(|i| {
                    i.data_extents()
                        .iter()
                        .map(|a| a.len.div_ceil(bs) * bs)
                        .sum()
                });
                prop_assert_eq!(t.free_bytes(), free_empty - live, "op {}", n);
            }
            Op::Close => {
                t.close().unwrap();
                t = Target::open(&ctx, 0).unwrap();
            }
            Op::Crash => {
                drop(t);
                t = Target::open(&ctx, 0).unwrap();
            }
            Op::Aggregate { e } if e > horizon => {
                t.aggregate(e).unwrap();
                horizon = e;
            }
            Op::Abort { pick } if !writes.is_empty() => {
                let (wn, o, d, v) = writes[pick % writes.len()];
                // Aggregation never passes an unresolved update.
                if v.epoch > horizon {
                    prop_assert_eq!(wait(co(&t).abort(oid(o), &dkey(d), b"0", v).unwrap()), 0);
                    model.0.retain(|(_, en, _)| *en != wn);
                }
            }
            Op::Recreate => {
                t.cont_destroy(CONT).unwrap();
                prop_assert_eq!(t.free_bytes(), free_empty, "destroy frees everything");
                t.cont_create(CONT, "test").unwrap();
                model.0.clear();
            }
            _ => {}
        }
    }
    // Final sweep after one more crash-reopen.
    drop(t);
    let t = Target::open(&ctx, 0).unwrap();
    for e in horizon.max(1)..35 {
        for o in 0..2 {
            for d in 0..3 {
                let (got, _) = co(&t)
                    .fetch_array(oid(o), &dkey(d), b"0", e, Recx::new(0, RECS))
                    .unwrap();
                for r in 0..RECS {
                    prop_assert_eq!(
                        got[r as usize],
                        model.record(o, d, r, e).unwrap_or(0),
                        "final o{} d{} rec {} e{}",
                        o,
                        d,
                        r,
                        e
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn target_matches_the_model_across_reopens(ops in prop::collection::vec(op(), 1..60), case in any::<u64>()) {
        run(&ops, case)?;
    }
}
