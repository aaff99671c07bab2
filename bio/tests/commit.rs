//! Transaction commit: data and WAL record together, acknowledgements in
//! order, replay that checks the data of records past the acknowledged
//! mark and ends at a torn one, and a poisoned log after a failed data
//! write.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::os::unix::fs::FileExt;
use std::rc::Rc;

use bio::{BioConfig, BioCtx, BioError, DevKind, DevOpts, Durability, TxLog, Wal, WalPos};
use tse::{Sched, Task, Tracer};

mod common;
use common::TempFile;

const WAL: (u64, u64) = (1 << 20, 8 << 20);
const DATA: u64 = 16 << 20;

fn setup(s: &Sched, f: &TempFile) -> (BioCtx, TxLog) {
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(64 << 20),
        iopoll: None,
    };
    let ctx = BioCtx::open(
        s,
        &f.0,
        &opts,
        &BioConfig {
            durability: Durability::Flush,
            ..BioConfig::default()
        },
    )
    .unwrap();
    let wal = Wal::open(&ctx, WAL.0, WAL.1, WalPos::start(77), 0).unwrap();
    let tx = TxLog::new(&ctx, &wal);
    (ctx, tx)
}

fn bytes(seed: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seed as usize * 13 + i) as u8).collect()
}

#[test]
fn commits_complete_in_order_with_data_and_record_together() {
    let s = Sched::new();
    let tracer = Tracer::new();
    s.set_tracer("tgt0", Some(tracer.clone()));
    let f = TempFile::new("tx-order");
    let (_ctx, tx) = setup(&s, &f);
    let order = Rc::new(RefCell::new(Vec::new()));
    let mut tasks: Vec<Task> = Vec::new();
    for i in 0..24u64 {
        // Alternate 1 MiB and 4 KiB updates.
        let len = if i % 2 == 0 { 1 << 20 } else { 4096 };
        let data = bytes(i, len);
        let t = tx
            .commit(
                &[(DATA + i * (1 << 20), &data)],
                format!("tx{i}").as_bytes(),
            )
            .unwrap();
        let o = order.clone();
        t.register_comp_cb(move |t| {
            o.borrow_mut().push((i, t.result()));
            0
        })
        .unwrap();
        tasks.push(t);
    }
    let join = s.create(|t| t.complete(0));
    join.register_deps(&tasks).unwrap();
    join.schedule(false).unwrap();
    assert_eq!(s.progress_until(&join), 0);
    let got = order.borrow().clone();
    assert_eq!(got.len(), 24);
    assert!(got.iter().all(|(_, rc)| *rc == 0));
    // Every record was appended when its update was committed, not from
    // its data's completion: data and record are written together.
    let spans = tracer.spans();
    let data_done: Vec<_> = spans
        .iter()
        .filter(|x| x.name == "data_completion")
        .collect();
    assert_eq!(data_done.len(), 24);
    let after_data = spans
        .iter()
        .filter(|x| x.name == "wal_completion" && data_done.iter().any(|d| d.id == x.parent))
        .count();
    assert_eq!(after_data, 0, "no record waits for its data");
    // Replay returns every payload in order.
    let wal2 = Wal::open(&_ctx, WAL.0, WAL.1, WalPos::start(77), 0).unwrap();
    let tx2 = TxLog::new(&_ctx, &wal2);
    let back = tx2.replay(WalPos::start(77)).unwrap();
    assert_eq!(back.len(), 24);
    // Acknowledged in WAL order (the transaction order DAOS uses).
    let acked: Vec<Vec<u8>> = got
        .iter()
        .map(|(i, _)| format!("tx{i}").into_bytes())
        .collect();
    let logged: Vec<Vec<u8>> = back.into_iter().map(|(_, p)| p).collect();
    assert_eq!(acked, logged);
}

#[test]
fn replay_ends_at_a_torn_data_write_past_the_acknowledged_mark() {
    let s = Sched::new();
    let f = TempFile::new("tx-torn");
    let (ctx, tx) = setup(&s, &f);
    for i in 0..8u64 {
        let data = bytes(i, 8192);
        let t = tx
            .commit(&[(DATA + i * 8192, &data)], &i.to_le_bytes())
            .unwrap();
        assert_eq!(s.progress_until(&t), 0);
    }
    // One record past the mark (the log never wrote that the last update
    // was acknowledged), whose data only half reached the disk: a torn,
    // unacknowledged update, as a crash leaves one.
    let back = TxLog::new(
        &ctx,
        &Wal::open(&ctx, WAL.0, WAL.1, WalPos::start(77), 0).unwrap(),
    )
    .check(WalPos::start(77))
    .unwrap();
    assert_eq!((back.replayable, back.acked, back.torn), (8, 8, None));
    let file = std::fs::OpenOptions::new().write(true).open(&f.0).unwrap();
    file.write_all_at(&[0u8; 4096], DATA + 7 * 8192 + 4096)
        .unwrap();
    // Rot in an acknowledged update's data does not end the log: the
    // record is below the mark (readers' own checksums catch the rot).
    file.write_all_at(&[0u8; 4096], DATA + 5 * 8192 + 4096)
        .unwrap();
    drop(file);
    let wal = Wal::open(&ctx, WAL.0, WAL.1, WalPos::start(77), 0).unwrap();
    let tx2 = TxLog::new(&ctx, &wal);
    let check = tx2.check(WalPos::start(77)).unwrap();
    assert_eq!(
        (check.replayable, check.torn, check.damage),
        (7, Some((8, 0)), None)
    );
    let back = tx2.replay(WalPos::start(77)).unwrap();
    let seqs: Vec<u64> = back
        .iter()
        .map(|(_, p)| u64::from_le_bytes(p[..8].try_into().unwrap()))
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5, 6], "stops before the torn update");
    // What an open persists (with the replayed state) before committing more.
    let ckpt = tx2.wal().head();
    assert_eq!((ckpt.seq, ckpt.gen), (8, 78));
    // New commits continue where the log ended.
    let t = tx2
        .commit(&[(DATA + 7 * 8192, &bytes(55, 8192))], &55u64.to_le_bytes())
        .unwrap();
    assert_eq!(s.progress_until(&t), 0);
    let wal3 = Wal::open(&ctx, WAL.0, WAL.1, ckpt, ckpt.vblock).unwrap();
    let back = TxLog::new(&ctx, &wal3).replay(ckpt).unwrap();
    let seqs: Vec<u64> = back
        .iter()
        .map(|(_, p)| u64::from_le_bytes(p[..8].try_into().unwrap()))
        .collect();
    assert_eq!(seqs, [55], "the new commit, and no stale record behind it");
}

#[test]
fn damage_to_a_large_update_after_its_acknowledgement_does_not_end_the_replay() {
    let s = Sched::new();
    let f = TempFile::new("tx-rot");
    let (ctx, tx) = setup(&s, &f);
    // Small, large, small.
    let sizes = [8192usize, 256 << 10, 8192];
    let mut at = DATA;
    let mut offs = Vec::new();
    for (i, len) in sizes.iter().enumerate() {
        let t = tx
            .commit(&[(at, &bytes(i as u64, *len))], &(i as u64).to_le_bytes())
            .unwrap();
        assert_eq!(s.progress_until(&t), 0);
        offs.push(at);
        at += *len as u64;
    }
    // The large update's data rots on the device afterwards: its record
    // still replays (it is below the acknowledged mark of the frame after
    // it; a reader's own checksums catch the rot), and so does the one
    // after.
    let file = std::fs::OpenOptions::new().write(true).open(&f.0).unwrap();
    file.write_all_at(&[0xEE; 4096], offs[1] + 8192).unwrap();
    drop(file);
    let wal = Wal::open(&ctx, WAL.0, WAL.1, WalPos::start(77), 0).unwrap();
    let back = TxLog::new(&ctx, &wal).replay(WalPos::start(77)).unwrap();
    let seqs: Vec<u64> = back
        .iter()
        .map(|(_, p)| u64::from_le_bytes(p[..8].try_into().unwrap()))
        .collect();
    assert_eq!(seqs, [0, 1, 2]);
}

/// A small tmpfs mounted for one test (root only), unmounted on drop.
struct SmallFs(std::path::PathBuf);

impl SmallFs {
    fn mount(tag: &str, size: &str) -> Option<SmallFs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("rdaos-bio-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(SmallFs(dir))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazily: a file a failed test left open must not keep it mounted.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_small_update_whose_data_write_fails_takes_no_later_acknowledgement_with_it() {
    // The device really fails one data write: the pool file lives on a
    // tmpfs with no space left, and the block that write goes to is a
    // hole, so the kernel answers ENOSPC while every WAL write lands on
    // allocated blocks.
    let Some(fs) = SmallFs::mount("tx-enospc", "80m") else {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    };
    // Everything that holds a file open there lives inside, so it is
    // closed (also on a panic) before the file system is unmounted.
    fail_one_small_data_write(&fs);
    drop(fs);
}

fn fail_one_small_data_write(fs: &SmallFs) {
    let s = Sched::new();
    let f = TempFile(fs.0.join("pool"));
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(64 << 20),
        iopoll: None,
    };
    let ctx = match BioCtx::open(&s, &f.0, &opts, &BioConfig::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipped: no O_DIRECT file on tmpfs here ({e})");
            return;
        }
    };
    let wal = Wal::open(&ctx, WAL.0, WAL.1, WalPos::start(77), 0).unwrap();
    let tx = TxLog::new(&ctx, &wal);
    let hole = DATA + 3 * 8192;
    let file = std::fs::OpenOptions::new().write(true).open(&f.0).unwrap();
    // SAFETY: fallocate on an open file: punch 8 KiB, keep the size.
    let rc = unsafe {
        libc::fallocate(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            hole as libc::off_t,
            8192,
        )
    };
    assert_eq!(rc, 0, "punch a hole");
    // Fill what is left of the file system.
    let filler = std::fs::File::create(fs.0.join("filler")).unwrap();
    let mut chunk = 64u64 << 20;
    let mut at = 0u64;
    while chunk >= 4096 {
        // SAFETY: fallocate on an open file, mode 0.
        let r = unsafe {
            libc::fallocate(
                std::os::fd::AsRawFd::as_raw_fd(&filler),
                0,
                at as libc::off_t,
                chunk as libc::off_t,
            )
        };
        if r == 0 {
            at += chunk;
        } else {
            chunk /= 2;
        }
    }
    // Eight small updates in flight at once; the fourth one's data write
    // fails.
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let data = bytes(i, 8192);
        tasks.push(
            tx.commit(&[(DATA + i * 8192, &data)], &i.to_le_bytes())
                .unwrap(),
        );
    }
    let join = s.create(|t| t.complete(0));
    join.disable_propagate();
    join.register_deps(&tasks).unwrap();
    join.schedule(false).unwrap();
    s.progress_until(&join);
    let rcs: Vec<i32> = tasks.iter().map(|t| t.result()).collect();
    assert_ne!(rcs[3], 0, "the write into the hole fails: {rcs:?}");
    assert!(rcs[..3].iter().all(|&r| r == 0), "{rcs:?}");
    // The log is poisoned: a new commit is refused with a clear error.
    let later = tx.commit(&[(DATA, &bytes(9, 4096))], b"later");
    assert!(
        later
            .as_ref()
            .is_err_and(|e| e.to_string().contains("poisoned")),
        "{:?}",
        later.err()
    );
    // Everything acknowledged replays; nothing that failed does.
    let wal2 = Wal::open(&ctx, WAL.0, WAL.1, WalPos::start(77), 0).unwrap();
    let back = TxLog::new(&ctx, &wal2).replay(WalPos::start(77)).unwrap();
    let replayed: Vec<u64> = back
        .iter()
        .map(|(_, p)| u64::from_le_bytes(p[..8].try_into().unwrap()))
        .collect();
    let acked: Vec<u64> = (0..8).filter(|&i| rcs[i as usize] == 0).collect();
    assert_eq!(replayed, acked, "results {rcs:?}");
}

/// A small deterministic generator for damage positions.
fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn wal_damage_before_the_mark_refuses_to_open_and_after_it_is_a_torn_tail() {
    let s = Sched::new();
    let f = TempFile::new("tx-damage");
    let (ctx, tx) = setup(&s, &f);
    // One update per frame, each acknowledged before the next: every
    // frame but the last carries a mark past the records before it.
    const N: u64 = 40;
    let mut starts = Vec::new();
    for i in 0..N {
        starts.push(WAL.0 + tx.wal().head().vblock * 4096);
        let t = tx
            .commit(&[(DATA + i * 4096, &bytes(i, 4096))], &i.to_le_bytes())
            .unwrap();
        assert_eq!(s.progress_until(&t), 0);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&f.0)
        .unwrap();
    // Bytes of a frame that its checksums cover: header, one record of
    // a 4-byte length, the 28-byte extent list and the 8-byte payload.
    let covered = 48 + 4 + 28 + 8;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..24 {
        let j = if round < 2 {
            [0, N - 1][round as usize]
        } else {
            xorshift(&mut x) % N
        };
        let off = starts[j as usize];
        let mut saved = vec![0u8; 4096];
        file.read_exact_at(&mut saved, off).unwrap();
        let mut bad = saved.clone();
        if round % 2 == 0 {
            bad.fill(0);
        } else {
            let at = (xorshift(&mut x) % covered) as usize;
            bad[at] ^= 1 + (xorshift(&mut x) % 255) as u8;
        }
        file.write_all_at(&bad, off).unwrap();
        let wal = Wal::open(&ctx, WAL.0, WAL.1, WalPos::start(77), 0).unwrap();
        let log = TxLog::new(&ctx, &wal);
        let check = log.check(WalPos::start(77)).unwrap();
        let replay = log.replay(WalPos::start(77));
        if j < N - 1 {
            // Later frames say record j + 1 was acknowledged: damage,
            // never a silent end of the log.
            let d = check.damage.expect("damage found by check");
            assert_eq!((d.seq, d.off, check.replayable), (j + 1, off, j));
            match replay {
                Err(BioError::WalDamaged(e)) => {
                    assert_eq!(e, d);
                    let msg = BioError::WalDamaged(e).to_string();
                    assert!(msg.contains(&format!("offset {off}")), "{msg}");
                }
                other => panic!("frame {j} damaged: replay gave {other:?}"),
            }
        } else {
            // The last frame: nothing after it says it was acknowledged,
            // so it is indistinguishable from a torn tail.
            assert_eq!((check.damage, check.replayable), (None, N - 1));
            assert_eq!(replay.unwrap().len() as u64, N - 1);
        }
        file.write_all_at(&saved, off).unwrap();
    }
    // Restored, everything replays.
    let wal = Wal::open(&ctx, WAL.0, WAL.1, WalPos::start(77), 0).unwrap();
    assert_eq!(
        TxLog::new(&ctx, &wal)
            .replay(WalPos::start(77))
            .unwrap()
            .len() as u64,
        N
    );
}
