//! A target on a real O_DIRECT file: updates of many sizes fetched back,
//! punches, close/reopen (checkpoint), reopen without close (WAL replay),
//! and a damaged superblock or checkpoint refused or recovered from.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use bio::{BioConfig, BioCtx, DevKind, DevOpts};
use tse::Sched;
use vos::{Cont, ContId, ObjId, Recx, Target, Version, VosError};

/// The container every test here writes into.
const CONT: ContId = ContId(0x5eed);

fn co(t: &Target) -> Cont {
    t.cont_open(CONT).expect("the test container exists")
}

struct TempFile(PathBuf);
impl TempFile {
    fn new(tag: &str) -> TempFile {
        let p = std::env::temp_dir().join(format!("rdaos-vos-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempFile(p)
    }
}
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const REGION: u64 = 64 << 20;

fn ctx(s: &Sched, f: &TempFile) -> BioCtx {
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(REGION),
        iopoll: None,
    };
    BioCtx::open(s, &f.0, &opts, &BioConfig::default()).unwrap()
}

fn oid() -> ObjId {
    ObjId::new(0x0201_0001_0000_0000, 42)
}

fn data(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed as usize * 7 + i * 13 + i / 1000) as u8)
        .collect()
}

fn dkey(d: u64) -> [u8; 8] {
    d.to_be_bytes()
}

#[test]
fn updates_survive_close_reopen_and_crash_replay() {
    let s = Sched::new();
    let f = TempFile::new("reopen");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 0xabc, 0, 1).unwrap();
    t.cont_create(CONT, "test").unwrap();
    let sizes = [
        1usize,
        100,
        4096,
        5000,
        32 << 10,
        (32 << 10) + 1,
        300 << 10,
        1 << 20,
    ];
    let mut epoch = 1;
    for (i, len) in sizes.iter().enumerate() {
        epoch += 1;
        let task = co(&t)
            .update_array(
                oid(),
                &dkey(i as u64 + 1),
                b"0",
                epoch,
                Recx::new(0, *len as u64),
                1,
                &data(i as u64, *len),
            )
            .unwrap();
        assert_eq!(s.progress_until(&task), 0, "update {len}");
    }
    // An overwrite at a later epoch, visible only from that epoch on.
    epoch += 1;
    let task = co(&t)
        .update_array(
            oid(),
            &dkey(3),
            b"0",
            epoch,
            Recx::new(10, 20),
            1,
            &[0xEE; 20],
        )
        .unwrap();
    assert_eq!(s.progress_until(&task), 0);
    let check = |t: &Target| {
        for (i, len) in sizes.iter().enumerate() {
            let (got, _) = co(t)
                .fetch_array(
                    oid(),
                    &dkey(i as u64 + 1),
                    b"0",
                    u64::MAX - 1,
                    Recx::new(0, *len as u64),
                )
                .unwrap();
            let mut want = data(i as u64, *len);

            if i == 2 {
                want[10..30].fill(0xEE);
            }
            assert_eq!(got, want, "dkey {} ({len} B)", i + 1);
        }
        let (old, _) = co(t)
            .fetch_array(oid(), &dkey(3), b"0", epoch - 1, Recx::new(10, 20))
            .unwrap();
        assert_eq!(old, data(2, 4096)[10..30]);
        let max = t.with_index(|ix| ix.query_key_max(CONT, oid(), b"0", u64::MAX - 1));
        assert_eq!(max, Some((dkey(8).to_vec(), 1 << 20)));
    };
    check(&t);
    // Reopen without close: everything comes back from the WAL.
    drop(t);
    let t = Target::open(&c, 0).unwrap();
    check(&t);
    // A punch, then close (checkpoint) and reopen.
    epoch += 1;
    let p = co(&t).punch(oid(), Some(&dkey(1)), None, epoch).unwrap();
    assert_eq!(s.progress_until(&p), 0);
    let r = co(&t)
        .punch_recx(oid(), &dkey(4), b"0", epoch, Recx::new(0, 1000), 1)
        .unwrap();
    assert_eq!(s.progress_until(&r), 0);
    t.close().unwrap();
    let t = Target::open(&c, 0).unwrap();
    let dkeys = t.with_index(|ix| ix.list_dkeys(CONT, oid(), u64::MAX - 1));
    assert!(!dkeys.contains(&dkey(1).to_vec()) && dkeys.contains(&dkey(2).to_vec()));
    let (got, segs) = co(&t)
        .fetch_array(oid(), &dkey(4), b"0", u64::MAX - 1, Recx::new(0, 5000))
        .unwrap();
    assert!(got[..1000].iter().all(|&b| b == 0) && segs[0].src.is_none());
    assert_eq!(got[1000..], data(3, 5000)[1000..]);
    // Bad input: clean errors.
    assert!(matches!(
        co(&t).update_array(oid(), b"", b"0", 5, Recx::new(0, 1), 1, &[1]),
        Err(VosError::Inval(_))
    ));
    assert!(matches!(
        co(&t).update_array(oid(), b"k", b"0", 0, Recx::new(0, 1), 1, &[1]),
        Err(VosError::BadEpoch(0))
    ));
    assert!(matches!(
        co(&t).update_array(oid(), b"k", b"0", 5, Recx::new(0, 2), 1, &[1]),
        Err(VosError::Inval(_))
    ));
    let huge = vec![0u8; 60 << 20];
    assert!(matches!(
        co(&t).update_array(
            oid(),
            b"k",
            b"0",
            9,
            Recx::new(0, huge.len() as u64),
            1,
            &huge
        ),
        Err(VosError::NoSpace { .. })
    ));
    // Still usable after ENOSPC.
    let ok = co(&t)
        .update_array(oid(), b"k", b"0", 9, Recx::new(0, 3), 1, b"abc")
        .unwrap();
    assert_eq!(s.progress_until(&ok), 0);
}

#[test]
fn damaged_superblock_and_checkpoint() {
    let s = Sched::new();
    let f = TempFile::new("damage");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 7, 0, 1).unwrap();
    t.cont_create(CONT, "test").unwrap();
    let task = co(&t)
        .update_array(
            oid(),
            &dkey(1),
            b"0",
            2,
            Recx::new(0, 4096),
            1,
            &data(1, 4096),
        )
        .unwrap();
    assert_eq!(s.progress_until(&task), 0);
    t.close().unwrap(); // checkpoint generation 3 (slot 1); generation 2 in slot 0
    let geo = *Target::open(&c, 0).unwrap().superblock();
    let geo = geo.geo;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&f.0)
        .unwrap();
    let mut sb = vec![0u8; 4096];
    file.read_exact_at(&mut sb, 0).unwrap();

    // Superblock: bad magic, newer version, flipped byte -> each its error,
    // and nothing written (the region still opens after repair).
    for (at, val, want) in [
        (0usize, 0xffu8, "magic"),
        (8, 9, "newer"),
        (40, 0x5a, "checksum"),
    ] {
        let mut bad = sb.clone();
        bad[at] = val;
        file.write_all_at(&bad, 0).unwrap();
        let err = Target::open(&c, 0).err().expect("refused");
        let msg = err.to_string();
        assert!(
            match want {
                "magic" => matches!(err, VosError::BadMagic { .. }),
                "newer" => matches!(err, VosError::NewerFormat { .. }),
                _ => matches!(err, VosError::BadChecksum { .. }),
            },
            "{want}: {msg}"
        );
        let mut now = vec![0u8; 4096];
        file.read_exact_at(&mut now, 0).unwrap();
        assert_eq!(
            now, bad,
            "open never writes to a region it cannot understand"
        );
    }
    file.write_all_at(&sb, 0).unwrap();

    // The newest checkpoint damaged: open falls back to the older slot
    // and the WAL brings it up to date; the data is intact.
    let t = Target::open(&c, 0).unwrap();
    t.close().unwrap();
    let newest = {
        let mut h0 = vec![0u8; 4096];
        let mut h1 = vec![0u8; 4096];
        file.read_exact_at(&mut h0, geo.ckpt_off).unwrap();
        file.read_exact_at(&mut h1, geo.ckpt_off + geo.ckpt_len)
            .unwrap();
        let g = |h: &[u8]| u64::from_le_bytes(h[8..16].try_into().unwrap());
        if g(&h0) > g(&h1) {
            geo.ckpt_off
        } else {
            geo.ckpt_off + geo.ckpt_len
        }
    };
    file.write_all_at(&[0x42; 64], newest + 4096 + 8).unwrap();
    let t = Target::open(&c, 0).unwrap();
    let (got, _) = co(&t)
        .fetch_array(oid(), &dkey(1), b"0", 10, Recx::new(0, 4096))
        .unwrap();
    assert_eq!(got, data(1, 4096));
    drop(t);
    // Both checkpoints damaged: a clear error, no panic.
    let mut z = vec![0u8; 4096];
    z[0] = 1;
    file.write_all_at(&z, geo.ckpt_off).unwrap();
    file.write_all_at(&z, geo.ckpt_off + geo.ckpt_len).unwrap();
    assert!(matches!(Target::open(&c, 0), Err(VosError::Corrupt(_))));
}

#[test]
fn corrupt_wal_record_of_acknowledged_updates_refuses_to_open() {
    let s = Sched::new();
    let f = TempFile::new("walrot");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 9, 0, 1).unwrap();
    t.cont_create(CONT, "test").unwrap();
    let geo = t.superblock().geo;
    // Ten updates, each acknowledged before the next: one WAL frame each,
    // in consecutive blocks after the container's creation (frame 0).
    for i in 0..10u64 {
        let task = co(&t)
            .update_array(
                oid(),
                &dkey(i + 1),
                b"0",
                10 + i,
                Recx::new(0, 4096),
                1,
                &data(i, 4096),
            )
            .unwrap();
        assert_eq!(s.progress_until(&task), 0);
    }
    // No close: everything is in the WAL only. Rot one byte inside the
    // 6th update's record.
    drop(t);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&f.0)
        .unwrap();
    let at = geo.wal_off + 6 * 4096 + 60;
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, at).unwrap();
    file.write_all_at(&[b[0] ^ 0x10], at).unwrap();
    // Every one of those updates was acknowledged, and the frames after
    // the rotten one say so: the target refuses to open (dropping the
    // rest silently would lose acknowledged writes), names the damage,
    // and writes nothing.
    let before = std::fs::read(&f.0).unwrap();
    match Target::open(&c, 0) {
        Err(VosError::WalDamaged { target: 0, source }) => {
            assert_eq!(source.off, geo.wal_off + 6 * 4096);
            assert_eq!(source.seq, 7, "the 6th update's record");
            assert!(source.frames_beyond >= 3);
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a target that lost acknowledged updates"),
    }
    assert!(std::fs::read(&f.0).unwrap() == before, "nothing written");
    // Repaired (the byte restored), it opens with every update.
    file.write_all_at(&b, at).unwrap();
    let t = Target::open(&c, 0).expect("intact again");
    for i in 0..10u64 {
        let (got, _) = co(&t)
            .fetch_array(oid(), &dkey(i + 1), b"0", 100, Recx::new(0, 4096))
            .unwrap();
        assert_eq!(got, data(i, 4096), "update {i}");
    }
    // The target keeps working after the recovery.
    let task = co(&t)
        .update_array(oid(), &dkey(6), b"0", 200, Recx::new(0, 3), 1, b"new")
        .unwrap();
    assert_eq!(s.progress_until(&task), 0);
    drop(t);
    let t = Target::open(&c, 0).unwrap();
    assert_eq!(
        co(&t)
            .fetch_array(oid(), &dkey(6), b"0", 300, Recx::new(0, 3))
            .unwrap()
            .0,
        b"new"
    );
}

#[test]
fn a_pool_of_four_targets_on_one_device() {
    let s = Sched::new();
    let f = TempFile::new("pool");
    let c = ctx(&s, &f);
    let info = vos::pool_create(&c, 0x77, 4).unwrap();
    assert_eq!(info.region_len, REGION / 4);
    assert_eq!(vos::pool_query(&c).unwrap(), info);
    for i in 0..4 {
        let t = vos::pool_open_target(&c, &info, i).unwrap();
        t.cont_create(CONT, "test").unwrap();
        let task = co(&t)
            .update_array(
                oid(),
                &dkey(1),
                b"0",
                5,
                Recx::new(0, 10),
                1,
                &[i as u8; 10],
            )
            .unwrap();
        assert_eq!(s.progress_until(&task), 0);
        t.close().unwrap();
    }
    for i in 0..4 {
        let t = vos::pool_open_target(&c, &info, i).unwrap();
        assert_eq!(
            co(&t)
                .fetch_array(oid(), &dkey(1), b"0", 9, Recx::new(0, 10))
                .unwrap()
                .0,
            [i as u8; 10]
        );
    }
    assert!(vos::pool_open_target(&c, &info, 4).is_err());
    let other = vos::PoolMapInfo { pool: 0x78, ..info };
    assert!(matches!(
        vos::pool_open_target(&c, &other, 1),
        Err(VosError::Corrupt(_))
    ));
    assert!(matches!(
        vos::pool_create(&c, 1, 64),
        Err(VosError::TooSmall { .. })
    ));
}

#[test]
fn background_aggregation_reclaims_overwritten_space() {
    let s = Sched::new();
    let f = TempFile::new("agg");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 3, 0, 1).unwrap();
    t.cont_create(CONT, "test").unwrap();
    let epoch = std::rc::Rc::new(std::cell::Cell::new(1u64));
    let e2 = epoch.clone();
    let agg = t.start_aggregation(std::time::Duration::from_millis(5), move || e2.get());
    let start_free = t.free_bytes();
    // 400 overwrites of the same 64 KiB value: 25 MiB written into a
    // region with ~49 MiB of data space; without reclaim, usage only grows.
    for i in 0..400u64 {
        epoch.set(epoch.get() + 1);
        let task = co(&t)
            .update_array(
                oid(),
                &dkey(1),
                b"0",
                epoch.get(),
                Recx::new(0, 65536),
                1,
                &data(i, 65536),
            )
            .unwrap();
        assert_eq!(s.progress_until(&task), 0);
    }
    // Let it run once more, then stop it.
    std::thread::sleep(std::time::Duration::from_millis(10));
    s.progress();
    agg.complete(0);
    s.progress();
    assert!(
        t.free_bytes() > start_free - (4 << 20),
        "old versions were reclaimed"
    );
    let (got, _) = co(&t)
        .fetch_array(oid(), &dkey(1), b"0", epoch.get(), Recx::new(0, 65536))
        .unwrap();
    assert_eq!(got, data(399, 65536));
    drop(t);
    let t = Target::open(&c, 0).unwrap();
    let (got, _) = co(&t)
        .fetch_array(oid(), &dkey(1), b"0", epoch.get(), Recx::new(0, 65536))
        .unwrap();
    assert_eq!(
        got,
        data(399, 65536),
        "the newest version survives aggregation and reopen"
    );
}

#[test]
fn single_values_by_epoch_and_across_reopen() {
    let s = Sched::new();
    let f = TempFile::new("single");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 4, 0, 1).unwrap();
    t.cont_create(CONT, "test").unwrap();
    let (d, a) = (b"inode".as_slice(), b"size".as_slice());
    for (e, v) in [(5u64, b"five".as_slice()), (7, b"seven, longer"), (9, b"9")] {
        assert_eq!(
            s.progress_until(&co(&t).update_single(oid(), d, a, e, v).unwrap()),
            0
        );
    }
    assert_eq!(
        s.progress_until(&co(&t).punch_single(oid(), d, a, 11).unwrap()),
        0
    );
    let check = |t: &Target| {
        assert_eq!(co(t).fetch_single(oid(), d, a, 4).unwrap(), None);
        assert_eq!(
            co(t).fetch_single(oid(), d, a, 6).unwrap().as_deref(),
            Some(&b"five"[..])
        );
        assert_eq!(
            co(t).fetch_single(oid(), d, a, 8).unwrap().as_deref(),
            Some(&b"seven, longer"[..])
        );
        assert_eq!(
            co(t).fetch_single(oid(), d, a, 10).unwrap().as_deref(),
            Some(&b"9"[..])
        );
        assert_eq!(
            co(t).fetch_single(oid(), d, a, 12).unwrap(),
            None,
            "punched"
        );
    };
    check(&t);
    // An array write to a single-value akey is refused.
    assert!(matches!(
        co(&t).update_array(oid(), d, a, 20, Recx::new(0, 1), 1, b"x"),
        Err(VosError::TypeMismatch { .. })
    ));
    assert!(matches!(
        co(&t).update_single(oid(), d, a, 20, b""),
        Err(VosError::Inval(_))
    ));
    drop(t);
    check(&Target::open(&c, 0).unwrap());
}

#[test]
fn containers_keep_objects_apart_and_destroy_frees_their_space() {
    let s = Sched::new();
    let f = TempFile::new("conts");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 0xc0, 0, 1).unwrap();
    let free0 = t.free_bytes();
    let a = t.cont_create(ContId(1), "alpha").unwrap();
    let b = t.cont_create(ContId(2), "beta").unwrap();
    // Clear refusals: same id, same label, bad label, unknown container.
    assert!(matches!(
        t.cont_create(ContId(1), "gamma"),
        Err(VosError::ContExists(_))
    ));
    assert!(matches!(
        t.cont_create(ContId(3), "alpha"),
        Err(VosError::ContExists(_))
    ));
    assert!(matches!(
        t.cont_create(ContId(3), "no spaces"),
        Err(VosError::Inval(_))
    ));
    assert!(matches!(t.cont_open(ContId(9)), Err(VosError::NoCont(_))));
    assert!(matches!(
        t.cont_open_label("nope"),
        Err(VosError::NoCont(_))
    ));
    assert!(matches!(
        t.cont_destroy(ContId(9)),
        Err(VosError::NoCont(_))
    ));
    // The same object id in both containers holds different bytes.
    for (cont, byte) in [(&a, 0xAAu8), (&b, 0xBB)] {
        let task = cont
            .update_array(
                oid(),
                &dkey(1),
                b"0",
                5,
                Recx::new(0, 1 << 20),
                1,
                &vec![byte; 1 << 20],
            )
            .unwrap();
        assert_eq!(s.progress_until(&task), 0);
    }
    let used = free0 - t.free_bytes();
    assert_eq!(used, 2 << 20);
    let read = |c: &Cont| {
        c.fetch_array(oid(), &dkey(1), b"0", 9, Recx::new(0, 4))
            .unwrap()
            .0
    };
    assert_eq!(read(&a), [0xAA; 4]);
    assert_eq!(read(&b), [0xBB; 4]);
    assert_eq!(
        t.cont_list(),
        vec![
            (ContId(1), "alpha".to_string()),
            (ContId(2), "beta".to_string())
        ]
    );
    assert_eq!(t.cont_open_label("beta").unwrap().id(), ContId(2));

    // Destroy alpha: its space comes back, beta is untouched, and a stale
    // handle gets a clear error rather than data.
    t.cont_destroy(ContId(1)).unwrap();
    assert_eq!(free0 - t.free_bytes(), 1 << 20);
    assert_eq!(a.label(), None);
    assert!(matches!(
        a.update_array(oid(), &dkey(1), b"0", 6, Recx::new(0, 1), 1, b"x"),
        Err(VosError::NoCont(_))
    ));
    assert_eq!(read(&b), [0xBB; 4]);

    // The destroy is in the WAL only: replay brings back the same state,
    // and the label is free again.
    drop((a, b, t));
    let t = Target::open(&c, 0).unwrap();
    assert_eq!(t.cont_list(), vec![(ContId(2), "beta".to_string())]);
    assert_eq!(free0 - t.free_bytes(), 1 << 20);
    assert_eq!(read(&t.cont_open(ContId(2)).unwrap()), [0xBB; 4]);
    let a2 = t.cont_create(ContId(1), "alpha").unwrap();
    assert_eq!(
        a2.fetch_array(oid(), &dkey(1), b"0", 9, Recx::new(0, 4))
            .unwrap()
            .1[0]
            .src,
        None,
        "a re-created container starts empty"
    );
    t.close().unwrap();
    let t = Target::open(&c, 0).unwrap();
    assert_eq!(t.cont_list().len(), 2);
}

/// A relabel is one record: the container keeps its id and data under
/// its new label through WAL replay and through a checkpoint; a label
/// taken by another container, a bad label and an unknown container are
/// refused; relabelling as the same label changes nothing.
#[test]
fn a_container_relabel_keeps_its_data_through_replay_and_checkpoint() {
    let s = Sched::new();
    let f = TempFile::new("relabel");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 0xc1, 0, 1).unwrap();
    let a = t.cont_create(ContId(1), "alpha").unwrap();
    t.cont_create(ContId(2), "beta").unwrap();
    let task = a
        .update_array(oid(), &dkey(1), b"0", 5, Recx::new(0, 4096), 1, &[7; 4096])
        .unwrap();
    assert_eq!(s.progress_until(&task), 0);
    assert!(matches!(
        t.cont_relabel(ContId(1), "beta"),
        Err(VosError::ContExists(_))
    ));
    assert!(matches!(
        t.cont_relabel(ContId(1), "no spaces"),
        Err(VosError::Inval(_))
    ));
    assert!(matches!(
        t.cont_relabel(ContId(9), "gamma"),
        Err(VosError::NoCont(_))
    ));
    t.cont_relabel(ContId(1), "gamma").unwrap();
    t.cont_relabel(ContId(1), "gamma").unwrap();
    assert_eq!(a.label().as_deref(), Some("gamma"));
    let read = |t: &Target| {
        t.cont_open_label("gamma")
            .unwrap()
            .fetch_array(oid(), &dkey(1), b"0", 9, Recx::new(0, 4))
            .unwrap()
            .0
    };
    assert_eq!(read(&t), [7; 4]);
    assert!(matches!(
        t.cont_open_label("alpha"),
        Err(VosError::NoCont(_))
    ));
    // Replay (no close), then a checkpoint (close), show the same.
    drop((a, t));
    let t = Target::open(&c, 0).unwrap();
    let want = vec![
        (ContId(1), "gamma".to_string()),
        (ContId(2), "beta".to_string()),
    ];
    assert_eq!(t.cont_list(), want);
    assert_eq!(read(&t), [7; 4]);
    // The old label is free again.
    t.cont_relabel(ContId(2), "alpha").unwrap();
    t.close().unwrap();
    let t = Target::open(&c, 0).unwrap();
    assert_eq!(
        t.cont_list(),
        vec![
            (ContId(1), "gamma".to_string()),
            (ContId(2), "alpha".to_string())
        ]
    );
    assert_eq!(read(&t), [7; 4]);
}

/// Waits for `task` and returns its result.
fn wait(s: &Sched, task: tse::Task) -> i32 {
    s.progress_until(&task)
}

#[test]
fn abort_takes_back_one_update_across_crash_close_and_checkpoint() {
    let s = Sched::new();
    let f = TempFile::new("abort");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 0xab, 0, 1).unwrap();
    t.cont_create(CONT, "test").unwrap();
    let bs = t.superblock().geo.block_size as u64;
    let free0 = t.free_bytes();
    let (d1, d2, arr) = (dkey(1), dkey(2), b"0".as_slice());
    let (sd, sa) = (b"inode".as_slice(), b"size".as_slice());
    let other = ObjId::new(0x0201_0001_0000_0000, 43);
    let whole = Recx::new(0, 8192);

    // A at epoch 1, B at epoch 2 over the same extent; abort B.
    let (ta, va) = co(&t)
        .update_array_tx(oid(), &d1, arr, 1, whole, 1, &data(1, 8192))
        .unwrap();
    assert_eq!(wait(&s, ta), 0);
    let (tb, vb) = co(&t)
        .update_array_tx(oid(), &d1, arr, 2, whole, 1, &data(2, 8192))
        .unwrap();
    assert_eq!(wait(&s, tb), 0);
    assert!(va.epoch == 1 && vb.epoch == 2 && vb.seq > va.seq);
    // A single value at 3, replaced at 4; abort the replacement.
    let (t3, _) = co(&t).update_single_tx(oid(), sd, sa, 3, b"three").unwrap();
    assert_eq!(wait(&s, t3), 0);
    let (t4, v4) = co(&t).update_single_tx(oid(), sd, sa, 4, b"four").unwrap();
    assert_eq!(wait(&s, t4), 0);
    // Updates that created a dkey, and a whole object; abort them.
    let (t5, v5) = co(&t)
        .update_array_tx(oid(), &d2, arr, 5, Recx::new(0, 100), 1, &data(5, 100))
        .unwrap();
    assert_eq!(wait(&s, t5), 0);
    let (t6, v6) = co(&t).update_single_tx(other, sd, sa, 5, b"other").unwrap();
    assert_eq!(wait(&s, t6), 0);
    assert!(co(&t).list_dkeys(oid(), 9).contains(&d2.to_vec()));
    assert_eq!(co(&t).list_dkeys(other, 9), vec![sd.to_vec()]);
    assert_eq!(
        co(&t).query_key_max(oid(), arr, 9),
        Some((d2.to_vec(), 100))
    );
    let free_full = t.free_bytes();
    for (d, a, v) in [(&d1[..], arr, vb), (sd, sa, v4), (&d2[..], arr, v5)] {
        assert_eq!(wait(&s, co(&t).abort(oid(), d, a, v).unwrap()), 0);
    }
    assert_eq!(wait(&s, co(&t).abort(other, sd, sa, v6).unwrap()), 0);
    // Idempotent, and a version never applied here is a no-op success.
    assert_eq!(wait(&s, co(&t).abort(oid(), &d1, arr, vb).unwrap()), 0);
    let never = Version {
        epoch: 7,
        seq: vb.seq + 1000,
    };
    assert_eq!(wait(&s, co(&t).abort(oid(), &d1, arr, never).unwrap()), 0);
    // Bad input: clean errors, nothing logged.
    assert!(matches!(
        co(&t).abort(oid(), b"", arr, vb),
        Err(VosError::Inval(_))
    ));
    let bad = Version { epoch: 0, seq: 1 };
    assert!(matches!(
        co(&t).abort(oid(), &d1, arr, bad),
        Err(VosError::BadEpoch(0))
    ));
    // The space is not reused before a checkpoint trims the records
    // pointing into it.
    assert_eq!(t.free_bytes(), free_full, "aborted space held back");

    let check = |t: &Target| {
        for e in [1, 2, 9] {
            let (got, _) = co(t).fetch_array(oid(), &d1, arr, e, whole).unwrap();
            assert_eq!(got, data(1, 8192), "A shows through at epoch {e}");
        }
        for e in [3, 4, 9] {
            assert_eq!(
                co(t).fetch_single(oid(), sd, sa, e).unwrap().as_deref(),
                Some(&b"three"[..]),
                "epoch {e}"
            );
        }
        assert_eq!(co(t).list_dkeys(oid(), 9), vec![d1.to_vec(), sd.to_vec()]);
        assert_eq!(co(t).list_dkeys(other, 9), Vec::<Vec<u8>>::new());
        assert_eq!(co(t).fetch_single(other, sd, sa, 9).unwrap(), None);
        assert_eq!(
            co(t).query_key_max(oid(), arr, 9),
            Some((d1.to_vec(), 8192))
        );
        let (_, segs) = co(t)
            .fetch_array(oid(), &d2, arr, 9, Recx::new(0, 100))
            .unwrap();
        assert!(segs.iter().all(|s| s.src.is_none()));
        // Live: A's 8 KiB and one block for "three".
        assert_eq!(free0 - t.free_bytes(), 8192 + bs);
    };
    // Crash with the aborts in the WAL only: replay takes them back again.
    drop(t);
    let t = Target::open(&c, 0).unwrap();
    check(&t);

    // On the live path: an update C, aborted, then a checkpoint returns
    // its bytes.
    let (tc, vc) = co(&t)
        .update_array_tx(oid(), &d1, arr, 8, Recx::new(100, 5000), 1, &data(8, 5000))
        .unwrap();
    assert_eq!(wait(&s, tc), 0);
    assert_eq!(free0 - t.free_bytes(), 8192 + bs + round(5000, bs));
    assert_eq!(wait(&s, co(&t).abort(oid(), &d1, arr, vc).unwrap()), 0);
    assert_eq!(free0 - t.free_bytes(), 8192 + bs + round(5000, bs));
    t.checkpoint().unwrap();
    check(&t);

    // An abort that overtakes its update's completion still wins (both go
    // through the WAL in order).
    let (td, vd) = co(&t)
        .update_array_tx(oid(), &d1, arr, 8, Recx::new(0, 10), 1, &[0xDD; 10])
        .unwrap();
    let ab = co(&t).abort(oid(), &d1, arr, vd).unwrap();
    assert_eq!(wait(&s, td), 0);
    assert_eq!(wait(&s, ab), 0);
    assert_eq!(
        free0 - t.free_bytes(),
        8192 + 2 * bs,
        "held until a checkpoint"
    );
    t.checkpoint().unwrap();
    check(&t);

    t.close().unwrap();
    let t = Target::open(&c, 0).unwrap();
    check(&t);
    // The akey a removed single value had created takes an array now, as
    // on a replica that never saw it.
    let (t7, v7) = co(&t)
        .update_single_tx(oid(), b"new", b"k", 9, b"s")
        .unwrap();
    assert_eq!(wait(&s, t7), 0);
    assert_eq!(wait(&s, co(&t).abort(oid(), b"new", b"k", v7).unwrap()), 0);
    let t8 = co(&t)
        .update_array(oid(), b"new", b"k", 10, Recx::new(0, 2), 1, b"ar")
        .unwrap();
    assert_eq!(wait(&s, t8), 0);
}

fn round(x: u64, bs: u64) -> u64 {
    x.div_ceil(bs) * bs
}

#[test]
fn an_update_may_be_issued_from_the_previous_updates_completion() {
    let s = Sched::new();
    let f = TempFile::new("chain");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 1, 0, 1).unwrap();
    let cont = t.cont_create(CONT, "chain").unwrap();
    // Each completion callback issues the next update (a closed loop, as
    // an engine handler or a benchmark does): 50 links.
    fn link(cont: Cont, n: u64, done: tse::Task) {
        let t = cont
            .update_array(
                oid(),
                &dkey(1),
                b"0",
                10 + n,
                Recx::new(n * 8, 8),
                1,
                &data(n, 8),
            )
            .unwrap();
        t.register_comp_cb(move |t| {
            assert_eq!(t.result(), 0);
            if n < 49 {
                link(cont, n + 1, done);
            } else {
                done.complete(0);
            }
            0
        })
        .unwrap();
    }
    let done = s.create_empty("");
    link(cont.clone(), 0, done.clone());
    assert_eq!(s.progress_until(&done), 0);
    let (got, _) = cont
        .fetch_array(oid(), &dkey(1), b"0", 100, Recx::new(0, 400))
        .unwrap();
    let want: Vec<u8> = (0..50).flat_map(|n| data(n, 8)).collect();
    assert_eq!(got, want);
}

#[test]
fn a_closed_loop_of_updates_passes_many_checkpoints_without_stalling() {
    // Updates issued from completion callbacks, qd 16, enough of them to
    // fill the WAL past half several times: each checkpoint must run as
    // its own task, hold the commits made while it waits, then let them
    // go. Mostly record punches (WAL records without data space); every
    // 100th op a real write, checked afterwards.
    use std::cell::Cell;
    use std::rc::Rc;
    const N: u64 = 40_000;
    struct Loop {
        cont: Cont,
        issued: Cell<u64>,
        acked: Cell<u64>,
        done: tse::Task,
    }
    fn issue(l: &Rc<Loop>) {
        let n = l.issued.get();
        if n >= N {
            return;
        }
        l.issued.set(n + 1);
        let e = 10 + n;
        let task = if n % 100 == 0 {
            let at = Recx::new(n / 100 * 8, 8);
            l.cont
                .update_array(oid(), &dkey(1), b"0", e, at, 1, &data(n, 8))
        } else {
            let at = Recx::new(n % 997, 3);
            l.cont.punch_recx(oid(), &dkey(2), b"0", e, at, 1)
        }
        .unwrap();
        let l2 = l.clone();
        task.register_comp_cb(move |t| {
            assert_eq!(t.result(), 0);
            l2.acked.set(l2.acked.get() + 1);
            if l2.acked.get() == N {
                l2.done.complete(0);
            }
            issue(&l2);
            0
        })
        .unwrap();
    }
    let s = Sched::new();
    let f = TempFile::new("ckloop");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 1, 0, 1).unwrap();
    let l = Rc::new(Loop {
        cont: t.cont_create(CONT, "loop").unwrap(),
        issued: Cell::new(0),
        acked: Cell::new(0),
        done: s.create_empty(""),
    });
    for _ in 0..16 {
        issue(&l);
    }
    assert_eq!(s.progress_until(&l.done), 0);
    assert!(s.drain(std::time::Duration::from_secs(10)));
    let want: Vec<u8> = (0..N / 100).flat_map(|k| data(k * 100, 8)).collect();
    let all = Recx::new(0, N / 100 * 8);
    let (got, _) = l
        .cont
        .fetch_array(oid(), &dkey(1), b"0", 10 + N, all)
        .unwrap();
    assert_eq!(got, want);
    // And after a crash-reopen (replay from the last checkpoint).
    drop(l);
    drop(t);
    let t = Target::open(&c, 0).unwrap();
    let (got, _) = co(&t)
        .fetch_array(oid(), &dkey(1), b"0", 10 + N, all)
        .unwrap();
    assert_eq!(got, want);
}

#[test]
fn punch_aborts_take_back_every_kind_of_punch_across_crash_replay() {
    let s = Sched::new();
    let f = TempFile::new("abort-punch");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 0xac, 0, 1).unwrap();
    t.cont_create(CONT, "test").unwrap();
    let (d1, d2, arr) = (dkey(1), dkey(2), b"0".as_slice());
    let (sa, whole) = (b"size".as_slice(), Recx::new(0, 4096));
    for d in [&d1, &d2] {
        let ta = co(&t)
            .update_array(oid(), d, arr, 1, whole, 1, &data(1, 4096))
            .unwrap();
        assert_eq!(wait(&s, ta), 0);
        let ts = co(&t).update_single(oid(), d, sa, 1, b"one").unwrap();
        assert_eq!(wait(&s, ts), 0);
    }
    // Every kind of punch at epoch 2 on d1, and on the whole object; each
    // one aborted (its version named), in turn.
    let c1 = co(&t);
    let punches = [
        c1.punch_recx_tx(oid(), &d1, arr, 2, Recx::new(10, 20), 1),
        c1.punch_single_tx(oid(), &d1, sa, 2),
        c1.punch_tx(oid(), Some(&d1), Some(arr), 2),
        c1.punch_tx(oid(), Some(&d1), None, 2),
        c1.punch_tx(oid(), None, None, 2),
    ];
    let mut undo = Vec::new();
    for (i, p) in punches.into_iter().enumerate() {
        let (task, v) = p.unwrap();
        assert_eq!(wait(&s, task), 0);
        undo.push((i, v));
    }
    assert!(
        co(&t).list_dkeys(oid(), 9).is_empty(),
        "the object is punched"
    );
    for (i, v) in undo {
        let task = match i {
            0 | 2 => co(&t).abort(oid(), &d1, arr, v),
            1 => co(&t).abort(oid(), &d1, sa, v),
            3 => co(&t).abort_punch(oid(), Some(&d1), v),
            _ => co(&t).abort_punch(oid(), None, v),
        };
        assert_eq!(wait(&s, task.unwrap()), 0);
    }
    // One punch that stays: d2's, at epoch 3.
    let kept = co(&t).punch(oid(), Some(&d2), None, 3).unwrap();
    assert_eq!(wait(&s, kept), 0);
    assert!(matches!(
        co(&t).abort_punch(oid(), Some(b""), Version { epoch: 3, seq: 1 }),
        Err(VosError::Inval(_))
    ));
    let check = |t: &Target| {
        let (got, _) = co(t).fetch_array(oid(), &d1, arr, 9, whole).unwrap();
        assert_eq!(got, data(1, 4096), "d1's records");
        assert_eq!(
            co(t).fetch_single(oid(), &d1, sa, 9).unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(co(t).list_dkeys(oid(), 9), vec![d1.to_vec()]);
        assert_eq!(co(t).fetch_single(oid(), &d2, sa, 9).unwrap(), None);
        assert_eq!(
            co(t).fetch_single(oid(), &d2, sa, 2).unwrap().as_deref(),
            Some(&b"one"[..]),
            "d2 before its punch"
        );
    };
    check(&t);
    // Crash with everything in the WAL only: replay gives the same.
    drop(t);
    let t = Target::open(&c, 0).unwrap();
    check(&t);
    t.close().unwrap();
    let t = Target::open(&c, 0).unwrap();
    check(&t);
}

#[test]
fn part_of_a_large_extent_is_read_and_checked_by_its_chunks_alone() {
    let s = Sched::new();
    let f = TempFile::new("chunks");
    let c = ctx(&s, &f);
    let t = Target::create(&c, 0, REGION, 0xcc, 0, 1).unwrap();
    t.cont_create(CONT, "test").unwrap();
    let (d1, arr) = (dkey(1), b"0".as_slice());
    let mib = 1usize << 20;
    let (big, over) = (data(1, mib), data(2, 50_000));
    let up = |t: &Target, e, recx: Recx, bytes: &[u8]| {
        let task = co(t)
            .update_array(oid(), &d1, arr, e, recx, 1, bytes)
            .unwrap();
        assert_eq!(wait(&s, task), 0);
    };
    up(&t, 1, Recx::new(0, mib as u64), &big);
    up(&t, 2, Recx::new(100_000, 50_000), &over);
    let mut newest = big.clone();
    newest[100_000..150_000].copy_from_slice(&over);
    // Both extents are larger than one chunk: each has chunk checksums.
    let chunked = t.with_index(|i| {
        let mut v: Vec<(u64, u64)> = i
            .data_extents()
            .into_iter()
            .filter(|a| i.chunk_csums(a).is_some_and(|c| c.fits(a.len)))
            .map(|a| (a.off, a.len))
            .collect();
        v.sort_by_key(|x| x.1);
        v
    });
    assert_eq!(
        chunked.iter().map(|x| x.1).collect::<Vec<_>>(),
        [50_000, mib as u64]
    );
    let big_off = chunked[1].0;
    let reads = |t: &Target| {
        // Inside one chunk, across a chunk boundary, across the newer
        // extent's edges, the tail, and the whole range, at both epochs.
        for (idx, nr) in [
            (0u64, 4096u64),
            (32_760, 20),
            (99_990, 20),
            (149_990, 40_000),
            (mib as u64 - 10, 10),
            (0, mib as u64),
        ] {
            for (e, want) in [(9, &newest), (1, &big)] {
                let (got, _) = co(t)
                    .fetch_array(oid(), &d1, arr, e, Recx::new(idx, nr))
                    .unwrap();
                let r = idx as usize..(idx + nr) as usize;
                assert!(got == want[r], "records {idx}+{nr} at epoch {e}");
            }
        }
    };
    reads(&t);
    // The chunk checksums come back from WAL replay after a crash.
    drop(t);
    let t = Target::open(&c, 0).unwrap();
    reads(&t);
    // Damage the 1 MiB extent's chunk 20 on the device: a read of other
    // chunks still succeeds (it never reads chunk 20), one that touches it
    // fails its check instead of returning the wrong bytes.
    let data_off = t.superblock().geo.data_off;
    let file = std::fs::OpenOptions::new().write(true).open(&f.0).unwrap();
    file.write_all_at(&[0xAB; 512], data_off + big_off + 20 * 32_768 + 1000)
        .unwrap();
    drop(file);
    let damaged = |t: &Target| {
        let (ok, _) = co(t)
            .fetch_array(oid(), &d1, arr, 9, Recx::new(19 * 32_768, 32_768))
            .unwrap();
        assert!(ok == newest[19 * 32_768..20 * 32_768]);
        for recx in [Recx::new(20 * 32_768 + 5, 1), Recx::new(0, mib as u64)] {
            let err = co(t).fetch_array(oid(), &d1, arr, 9, recx).unwrap_err();
            assert!(
                matches!(
                    err,
                    VosError::BadChecksum {
                        what: "data chunk",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    };
    damaged(&t);
    // And from the checkpoint after a clean close.
    t.close().unwrap();
    let t = Target::open(&c, 0).unwrap();
    damaged(&t);
    // Rewritten whole, it reads back whole again.
    up(&t, 3, Recx::new(0, mib as u64), &big);
    let (got, _) = co(&t)
        .fetch_array(oid(), &d1, arr, 9, Recx::new(0, mib as u64))
        .unwrap();
    assert!(got == big);
}
