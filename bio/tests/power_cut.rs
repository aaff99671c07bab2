//! Crash models of the commit protocol, many seeds and cut points each.
//!
//! A workload of transactions (4 KiB to 1 MiB of data each, up to 16 in
//! flight) runs on a real O_DIRECT file while an [`IoWatch`] records every
//! write and flush the context submits and completes. At a random instant
//! (after a random number of completions) the power is cut, and the
//! device image is rebuilt from the record the way the device could have
//! kept it:
//!
//! * `power loss` (for the `flush` contract): every write covered by a
//!   completed flush is there; of the writes completed since, and of the
//!   writes still in flight, a random subset of their 4 KiB blocks is
//!   there (a volatile write cache that lost the rest).
//! * `process kill` (for the `device` contract): every completed write is
//!   there; of those still in flight, a random subset of blocks.
//!
//! The log is then replayed from the rebuilt image, and checked against
//! what was acknowledged: replay never refuses it (no false damage),
//! every acknowledged transaction replays, the replayed ones are a prefix
//! of the log, and every replayed transaction's data reads back whole (an
//! unacknowledged one is whole or absent, never torn).

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::rc::Rc;

use bio::{BioConfig, BioCtx, DevKind, DevOpts, Durability, IoWatch, TxLog, Wal, WalPos};
use tse::Sched;

mod common;
use common::TempFile;

const SIZE: u64 = 48 << 20;
const WAL: (u64, u64) = (1 << 20, 8 << 20);
const DATA: u64 = 12 << 20;
const BLOCK: usize = 4096;

/// Deterministic randomness for seeds.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Default)]
struct Record {
    /// Writes submitted and not completed: id -> (offset, bytes).
    inflight: HashMap<u64, (u64, Vec<u8>)>,
    /// Completed writes not yet covered by a completed flush, each with
    /// its completion number.
    volatile: Vec<(u64, u64, Vec<u8>)>,
    /// Writes on the media for sure, in completion order.
    durable: Vec<(u64, Vec<u8>)>,
    /// Flushes in flight: id -> completions seen when it was submitted.
    flushes: HashMap<u64, u64>,
    completions: u64,
}

#[derive(Default)]
struct Watch(RefCell<Record>);

impl IoWatch for Watch {
    fn write_submitted(&self, id: u64, off: u64, data: &[u8]) {
        self.0
            .borrow_mut()
            .inflight
            .insert(id, (off, data.to_vec()));
    }

    fn flush_submitted(&self, id: u64) {
        let mut r = self.0.borrow_mut();
        let seen = r.completions;
        r.flushes.insert(id, seen);
    }

    fn completed(&self, id: u64, rc: i32) {
        let mut r = self.0.borrow_mut();
        if let Some((off, data)) = r.inflight.remove(&id) {
            if rc == 0 {
                let n = r.completions;
                r.volatile.push((n, off, data));
            }
        } else if let Some(cut) = r.flushes.remove(&id) {
            if rc == 0 {
                // Every write completed before the flush was submitted.
                let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut r.volatile)
                    .into_iter()
                    .partition(|(n, _, _)| *n < cut);
                r.durable.extend(now.into_iter().map(|(_, o, d)| (o, d)));
                r.volatile = later;
            }
        }
        r.completions += 1;
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cut {
    PowerLoss,
    ProcessKill,
}

/// The device image after the cut, written to `out`.
fn rebuild(rec: &Record, cut: Cut, rng: &mut Rng, out: &TempFile) {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&out.0)
        .unwrap();
    f.set_len(SIZE).unwrap();
    let put = |off: u64, data: &[u8]| f.write_all_at(data, off).unwrap();
    for (off, data) in &rec.durable {
        put(*off, data);
    }
    // Some blocks of each write the device may or may not have kept, in
    // the order the writes completed (in-flight ones last).
    let maybe = |off: u64, data: &[u8], rng: &mut Rng| {
        for (i, b) in data.chunks(BLOCK).enumerate() {
            if rng.below(2) == 0 {
                put(off + (i * BLOCK) as u64, b);
            }
        }
    };
    for (_, off, data) in &rec.volatile {
        match cut {
            Cut::ProcessKill => put(*off, data),
            Cut::PowerLoss => maybe(*off, data, rng),
        }
    }
    let mut inflight: Vec<_> = rec.inflight.iter().collect();
    inflight.sort_by_key(|(id, _)| **id);
    for (_, (off, data)) in inflight {
        maybe(*off, data, rng);
    }
}

fn open(s: &Sched, f: &TempFile, durability: Durability) -> BioCtx {
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(SIZE),
        iopoll: None,
    };
    let cfg = BioConfig {
        durability,
        ..BioConfig::default()
    };
    BioCtx::open(s, &f.0, &opts, &cfg).unwrap()
}

/// One transaction of the workload: its data (offset, bytes).
fn tx_data(i: u64, rng: &mut Rng, next: &mut u64) -> (u64, Vec<u8>) {
    let len = match rng.below(8) {
        0 => 1 << 20,
        1 => 256 << 10,
        2 | 3 => 64 << 10,
        _ => 4096 * (1 + rng.below(3) as usize),
    };
    // Fresh space every time (vos never writes over live data).
    if *next + len as u64 > SIZE {
        *next = DATA;
    }
    let off = *next;
    *next += len as u64;
    let fill = (i as u8).wrapping_mul(37) | 1;
    let mut data = vec![fill; len];
    data[..8].copy_from_slice(&i.to_le_bytes());
    (off, data)
}

/// Runs one workload with at most `qd` transactions in flight, cuts it,
/// replays the rebuilt image and checks it. Returns how many transactions
/// were acknowledged and replayed.
fn one_cut_qd(seed: u64, durability: Durability, cut: Cut, qd: usize) -> (u64, u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let s = Sched::new();
    let f = TempFile::new(&format!("cut-{seed}-{durability}-{cut:?}-{qd}"));
    let ctx = open(&s, &f, durability);
    let watch = Rc::new(Watch::default());
    ctx.set_watch(Some(watch.clone()));
    let wal = Wal::open(&ctx, WAL.0, WAL.1, WalPos::start(5), 0).unwrap();
    let tx = TxLog::new(&ctx, &wal);
    const TXS: u64 = 48;
    // A run takes about 1.5 completions per transaction.
    let stop_at = 8 + rng.below(TXS * 3 / 2);
    let acked = Rc::new(RefCell::new(Vec::new()));
    let mut written: HashMap<Vec<u8>, (u64, Vec<u8>)> = HashMap::new();
    let mut next_off = DATA;
    let mut issued = 0u64;
    let mut inflight = Vec::new();
    while watch.0.borrow().completions < stop_at {
        inflight.retain(|t: &tse::Task| !t.is_completed());
        while issued < TXS && inflight.len() < qd {
            let (off, data) = tx_data(issued, &mut rng, &mut next_off);
            let payload = issued.to_le_bytes().to_vec();
            let t = tx.commit(&[(off, &data)], &payload).unwrap();
            let a = acked.clone();
            let me = issued;
            t.register_comp_cb(move |t| {
                if t.result() == 0 {
                    a.borrow_mut().push(me);
                }
                0
            })
            .unwrap();
            written.insert(payload, (off, data));
            inflight.push(t);
            issued += 1;
        }
        if inflight.is_empty() {
            break;
        }
        s.progress();
    }
    // The cut: nothing more happens as far as the image is concerned.
    let acked: Vec<u64> = acked.borrow().clone();
    let image = TempFile::new(&format!("cut-{seed}-{durability}-{cut:?}-{qd}-image"));
    rebuild(&watch.0.borrow(), cut, &mut rng, &image);
    ctx.set_watch(None);

    // Replay the rebuilt image.
    let s2 = Sched::new();
    let ctx2 = open(&s2, &image, durability);
    let wal2 = Wal::open(&ctx2, WAL.0, WAL.1, WalPos::start(5), 0).unwrap();
    let back = match TxLog::new(&ctx2, &wal2).replay(WalPos::start(5)) {
        Ok(b) => b,
        Err(e) => panic!("seed {seed} {durability} {cut:?}: replay refused: {e}"),
    };
    let replayed: Vec<u64> = back
        .iter()
        .map(|(_, p)| u64::from_le_bytes(p[..8].try_into().unwrap()))
        .collect();
    let ctx_msg = format!("seed {seed} {durability} {cut:?} stop {stop_at}");
    // Transactions are committed in order, so the log is 0, 1, 2, ...
    assert!(
        replayed.iter().enumerate().all(|(i, &t)| t == i as u64),
        "{ctx_msg}: replay is not a prefix: {replayed:?}"
    );
    for a in &acked {
        assert!(
            replayed.contains(a),
            "{ctx_msg}: acknowledged transaction {a} lost (replayed {})",
            replayed.len()
        );
    }
    let file = std::fs::File::open(&image.0).unwrap();
    for (_, p) in &back {
        let (off, data) = &written[p];
        let mut got = vec![0u8; data.len()];
        file.read_exact_at(&mut got, *off).unwrap();
        assert!(
            got == *data,
            "{ctx_msg}: replayed transaction {} has torn data",
            u64::from_le_bytes(p[..8].try_into().unwrap())
        );
    }
    (acked.len() as u64, replayed.len() as u64)
}

fn many_cuts(durability: Durability, cut: Cut) {
    many_cuts_qd(durability, cut, 16)
}

/// [`many_cuts`] with at most `qd` transactions in flight.
fn many_cuts_qd(durability: Durability, cut: Cut, qd: usize) {
    let seeds: u64 = std::env::var("RDAOS_CUT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let (mut acked, mut replayed, mut partial) = (0, 0, 0);
    for seed in 1..=seeds {
        let (a, r) = one_cut_qd(seed, durability, cut, qd);
        acked += a;
        replayed += r;
        partial += u64::from(a > 0 && a < 48);
    }
    eprintln!(
        "{durability} {cut:?} qd {qd}: {seeds} cuts, {acked} acknowledged, {replayed} replayed, {partial} cut mid-run"
    );
    // The cuts landed inside the runs, not only before or after them.
    assert!(
        partial > seeds / 4,
        "only {partial} of {seeds} cuts mid-run"
    );
}

#[test]
fn flush_contract_survives_power_loss_at_any_instant() {
    many_cuts(Durability::Flush, Cut::PowerLoss);
}

#[test]
fn flush_contract_at_queue_depth_one_survives_power_loss() {
    // One transaction at a time: its frame's flush waits for its data,
    // so one flush covers both.
    many_cuts_qd(Durability::Flush, Cut::PowerLoss, 1);
}

#[test]
fn device_contract_survives_a_process_kill_at_any_instant() {
    many_cuts(Durability::Device, Cut::ProcessKill);
}

#[test]
fn flush_contract_survives_a_process_kill_at_any_instant() {
    many_cuts(Durability::Flush, Cut::ProcessKill);
}
