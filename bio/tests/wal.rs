//! The WAL on a real O_DIRECT file: group commit, ordered durable
//! completions, replay, torn tail and corrupted middle frames (bytes
//! overwritten on disk), wrap-around after trims, and a full log.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::os::unix::fs::FileExt;
use std::rc::Rc;

use bio::{BioConfig, BioCtx, BioError, DevKind, DevOpts, Durability, Wal, WalPos};
use tse::{Sched, Task};

mod common;
use common::TempFile;

const WAL_OFF: u64 = 1 << 20;
const WAL_LEN: u64 = 4 << 20;

fn ctx(s: &Sched, f: &TempFile) -> BioCtx {
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(16 << 20),
        iopoll: None,
    };
    BioCtx::open(
        s,
        &f.0,
        &opts,
        &BioConfig {
            durability: Durability::Flush,
            ..BioConfig::default()
        },
    )
    .unwrap()
}

fn rec(i: u64) -> Vec<u8> {
    let len = 10 + (i * 37 % 3000) as usize;
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

fn wait_all(s: &Sched, tasks: &[Task]) -> Vec<i32> {
    let join = s.create(|t| t.complete(0));
    join.register_deps(tasks).unwrap();
    join.disable_propagate();
    join.schedule(false).unwrap();
    s.progress_until(&join);
    tasks.iter().map(|t| t.try_result().unwrap()).collect()
}

#[test]
fn group_commit_completes_in_order_and_replays() {
    let s = Sched::new();
    let f = TempFile::new("wal-group");
    let c = ctx(&s, &f);
    let wal = Wal::open(&c, WAL_OFF, WAL_LEN, WalPos::start(0x5eed), 0).unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let (seq, t) = wal.append(rec(i)).unwrap();
        assert_eq!(seq, i + 1);
        let o = order.clone();
        t.register_comp_cb(move |_| {
            o.borrow_mut().push(seq);
            0
        })
        .unwrap();
        tasks.push(t);
    }
    assert!(wait_all(&s, &tasks).iter().all(|&rc| rc == 0));
    assert_eq!(
        *order.borrow(),
        (1..=200).collect::<Vec<_>>(),
        "durable completions in order"
    );
    let (committed, frames) = wal.counters();
    assert_eq!(committed, 200);
    assert!(
        frames < 20,
        "records waiting for a write go out together ({frames} frames)"
    );
    let head = wal.head();
    drop(wal);

    // A new handle over the same region replays everything from the start.
    let wal2 = Wal::open(&c, WAL_OFF, WAL_LEN, WalPos::start(0x5eed), 0).unwrap();
    let got = wal2.replay(WalPos::start(0x5eed)).unwrap();
    assert_eq!(got.len(), 200);
    for (k, (seq, r)) in got.iter().enumerate() {
        assert_eq!((*seq, r), (k as u64 + 1, &rec(k as u64)));
    }
    // Same place, next generation (so nothing behind it can be replayed).
    assert_eq!(
        wal2.head(),
        WalPos {
            gen: head.gen + 1,
            ..head
        }
    );
    // Another generation sees nothing.
    let other = Wal::open(&c, WAL_OFF, WAL_LEN, WalPos::start(0xbad), 0).unwrap();
    assert!(other.replay(WalPos::start(0xbad)).unwrap().is_empty());
    // Appends continue after the replayed end.
    let (seq, t) = wal2.append(b"after".to_vec()).unwrap();
    assert_eq!(seq, 201);
    assert_eq!(s.progress_until(&t), 0);
}

/// Writes `n` frames of one record each; returns each frame's start block.
fn one_record_frames(s: &Sched, wal: &Wal, n: u64) -> Vec<u64> {
    let mut starts = Vec::new();
    for i in 0..n {
        starts.push(wal.head().vblock);
        let (_, t) = wal.append(rec(i + 1000)).unwrap();
        assert_eq!(s.progress_until(&t), 0);
    }
    starts
}

#[test]
fn replay_stops_at_a_torn_tail_and_at_a_corrupt_middle_frame() {
    let s = Sched::new();
    let f = TempFile::new("wal-torn");
    let c = ctx(&s, &f);
    let wal = Wal::open(&c, WAL_OFF, WAL_LEN, WalPos::start(7), 0).unwrap();
    let starts = one_record_frames(&s, &wal, 10);
    let file = std::fs::OpenOptions::new().write(true).open(&f.0).unwrap();

    // Torn tail: the last frame's payload half-written (garbage bytes).
    let last = WAL_OFF + starts[9] * 4096;
    file.write_all_at(&[0xA5; 700], last + 40).unwrap();
    let w = Wal::open(&c, WAL_OFF, WAL_LEN, WalPos::start(7), 0).unwrap();
    let got = w.replay(WalPos::start(7)).unwrap();
    assert_eq!(
        got.len(),
        9,
        "everything before the torn frame, nothing after"
    );
    assert!(got
        .iter()
        .enumerate()
        .all(|(k, (seq, r))| *seq == k as u64 + 1 && *r == rec(k as u64 + 1000)));
    // The next append goes at the torn frame, in the next generation.
    assert_eq!(
        w.head(),
        WalPos {
            seq: 10,
            vblock: starts[9],
            gen: 8
        }
    );

    // Corrupt middle: one flipped byte in frame 5's record.
    let mid = WAL_OFF + starts[4] * 4096;
    let mut b = [0u8; 1];
    std::fs::File::open(&f.0)
        .unwrap()
        .read_exact_at(&mut b, mid + 40)
        .unwrap();
    file.write_all_at(&[b[0] ^ 0x01], mid + 40).unwrap();
    let w = Wal::open(&c, WAL_OFF, WAL_LEN, WalPos::start(7), 0).unwrap();
    let got = w.replay(WalPos::start(7)).unwrap();
    assert_eq!(got.len(), 4, "stops cleanly before the corrupt frame");
    // A damaged header is an end of log too, never an error or garbage.
    file.write_all_at(&[0xff; 8], WAL_OFF).unwrap();
    let w = Wal::open(&c, WAL_OFF, WAL_LEN, WalPos::start(7), 0).unwrap();
    assert!(w.replay(WalPos::start(7)).unwrap().is_empty());
}

#[test]
fn wraps_around_after_trims_and_refuses_when_full() {
    let s = Sched::new();
    let f = TempFile::new("wal-wrap");
    let c = ctx(&s, &f);
    let wal = Wal::open(&c, WAL_OFF, WAL_LEN, WalPos::start(9), 0).unwrap();
    // 1024 blocks; records of ~100 KiB take 25 blocks per frame.
    let big = |i: u64| vec![(i % 251) as u8; 100 << 10];
    let mut checkpoint = WalPos::start(9);
    for round in 0..6u64 {
        for i in 0..30u64 {
            let (_, t) = wal.append(big(round * 30 + i)).unwrap();
            assert_eq!(s.progress_until(&t), 0);
        }
        // "Checkpoint": everything so far is applied; trim and remember.
        checkpoint = wal.head();
        wal.trim(checkpoint).unwrap();
    }
    assert!(checkpoint.vblock > 1024, "wrapped at least once");
    for i in 0..5u64 {
        let (_, t) = wal.append(big(1000 + i)).unwrap();
        assert_eq!(s.progress_until(&t), 0);
    }
    let w = Wal::open(&c, WAL_OFF, WAL_LEN, checkpoint, checkpoint.vblock).unwrap();
    let got = w.replay(checkpoint).unwrap();
    assert_eq!(got.len(), 5);
    assert!(got
        .iter()
        .enumerate()
        .all(|(k, (_, r))| *r == big(1000 + k as u64)));

    // Without trims the log fills and says so; nothing acknowledged is lost.
    let mut results = Vec::new();
    for i in 0..60u64 {
        let (_, t) = wal.append(big(i)).unwrap();
        results.push(s.progress_until(&t));
    }
    assert!(results.contains(&0) && results.contains(&BioError::WalFull { need: 0, free: 0 }.rc()));
    let ok = results.iter().take_while(|&&r| r == 0).count();
    let w = Wal::open(&c, WAL_OFF, WAL_LEN, checkpoint, checkpoint.vblock).unwrap();
    assert_eq!(w.replay(checkpoint).unwrap().len(), 5 + ok);
    // After a trim the log takes appends again, with no gap in sequence.
    let head = wal.head();
    wal.trim(head).unwrap();
    let (seq, t) = wal.append(b"after the checkpoint".to_vec()).unwrap();
    assert_eq!(seq, head.seq);
    assert_eq!(s.progress_until(&t), 0);
    let w = Wal::open(&c, WAL_OFF, WAL_LEN, head, head.vblock).unwrap();
    let all = w.replay(head).unwrap();
    assert_eq!(all, vec![(head.seq, b"after the checkpoint".to_vec())]);
}

/// Flushes the tracer saw.
fn flushes(tr: &tse::Tracer) -> usize {
    tr.spans().iter().filter(|s| s.name == "bio_flush").count()
}

#[test]
fn each_frame_is_flushed_once_and_only_after_its_records_data() {
    let s = Sched::new();
    let tr = tse::Tracer::new();
    s.set_tracer("t", Some(tr.clone()));
    let f = TempFile::new("wal-flush");
    let c = ctx(&s, &f);
    let wal = Wal::open(&c, WAL_OFF, WAL_LEN, WalPos::start(0xb), 0).unwrap();

    // Records in flight and waiting: one flush per frame, issued as its
    // write completes, and none besides.
    let tasks: Vec<Task> = (0..8u64).map(|i| wal.append(rec(i)).unwrap().1).collect();
    assert!(wait_all(&s, &tasks).iter().all(|&rc| rc == 0));
    let frames = wal.counters().1;
    assert_eq!(flushes(&tr) as u64, frames);
    assert_eq!(wal.flushes(), frames);

    // A record whose data is still being written: its frame is written,
    // but not flushed (so not durable) until the data is in.
    tr.clear();
    let issued = wal.flushes();
    let (seq, t) = wal.append_awaiting_data(rec(50)).unwrap();
    let written0 = c.stats().completed;
    while c.stats().completed == written0 {
        s.progress();
    }
    for _ in 0..100 {
        s.progress();
    }
    assert!(!t.is_completed(), "durable before its data was written");
    assert_eq!(wal.flushes(), issued, "no flush before the data is in");
    wal.data_written(seq);
    assert_eq!(wait_all(&s, &[t]), [0]);
    assert_eq!(flushes(&tr), 1, "one flush covers the frame and the data");

    // Data written before the frame formed: no wait at all.
    tr.clear();
    let (seq, t) = wal.append_awaiting_data(rec(51)).unwrap();
    wal.data_written(seq);
    assert_eq!(wait_all(&s, &[t]), [0]);
    assert_eq!(flushes(&tr), 1);
}

#[test]
fn under_device_frames_are_not_flushed() {
    let s = Sched::new();
    let f = TempFile::new("wal-device");
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(16 << 20),
        iopoll: None,
    };
    let cfg = BioConfig {
        durability: Durability::Device,
        ..BioConfig::default()
    };
    let c = BioCtx::open(&s, &f.0, &opts, &cfg).unwrap();
    let wal = Wal::open(&c, WAL_OFF, WAL_LEN, WalPos::start(0xc), 0).unwrap();
    let mut tasks: Vec<Task> = (0..8u64).map(|i| wal.append(rec(i)).unwrap().1).collect();
    // append_awaiting_data is a plain append here: nothing waits for data.
    tasks.push(wal.append_awaiting_data(rec(9)).unwrap().1);
    assert!(wait_all(&s, &tasks).iter().all(|&rc| rc == 0));
    assert!(wal.counters().1 >= 1);
    assert_eq!(wal.flushes(), 0);
}
