//! The O_DIRECT file device through the ring: write/read/verify at many
//! sizes and offsets, alignment and range errors up front, and more I/Os
//! in flight than DMA buffers (they wait, none fails).

use bio::{BioConfig, BioCtx, BioError, DevKind, DevOpts};
use tse::Sched;

mod common;
use common::TempFile;

fn open(s: &Sched, f: &TempFile, size: u64, cfg: &BioConfig) -> BioCtx {
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(size),
        iopoll: None,
    };
    BioCtx::open(s, &f.0, &opts, cfg).expect("open O_DIRECT file")
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn write_read_verify_many_sizes_and_offsets() {
    let s = Sched::new();
    let f = TempFile::new("bio-rw");
    let ctx = open(&s, &f, 64 << 20, &BioConfig::default());
    assert_eq!(ctx.device().block_size(), 4096);
    let sizes = [
        4096u64,
        8192,
        12288,
        65536,
        131072,
        1 << 20,
        (1 << 20) + 4096,
        3 << 20,
    ];
    let mut off = 0u64;
    let mut written = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let data = pattern(i as u64 + 1, len as usize);
        let t = ctx.write(off, &data).unwrap();
        assert_eq!(s.progress_until(&t), 0, "write {len} at {off}");
        written.push((off, data));
        off += len + 4096 * (i as u64 + 1); // leave gaps
    }
    for (off, data) in &written {
        let (t, iod) = ctx.read(*off, data.len() as u64).unwrap();
        assert_eq!(s.progress_until(&t), 0);
        assert_eq!(&iod.to_vec().unwrap(), data, "read back at {off}");
    }
    // A gap reads as zeros (never written).
    let (t, iod) = ctx.read(4096, 4096).unwrap();
    assert_eq!(s.progress_until(&t), 0);
    assert!(iod.to_vec().unwrap().iter().all(|&b| b == 0));
    // Multi-extent iod: three extents written as one I/O.
    let ext = [(40 << 20, 8192u64), (50 << 20, 4096), (41 << 20, 1 << 20)];
    let total: u64 = ext.iter().map(|e| e.1).sum();
    let data = pattern(99, total as usize);
    let iod = ctx.iod(&ext, Some(&data)).unwrap();
    let t = iod.prep_post(bio::Flush::After);
    assert_eq!(s.progress_until(&t), 0);
    let back = ctx.iod(&ext, None).unwrap();
    let t = back.prep_post(bio::Flush::Skip);
    assert_eq!(s.progress_until(&t), 0);
    assert_eq!(back.to_vec().unwrap(), data);
    let t = ctx.sync();
    assert_eq!(s.progress_until(&t), 0);
    // Zeroing a written range (fallocate ZERO_RANGE through the ring).
    let t = ctx.write_zeroes(40 << 20, 8192).unwrap();
    assert_eq!(s.progress_until(&t), 0);
    let (t, iod) = ctx.read(40 << 20, 8192).unwrap();
    assert_eq!(s.progress_until(&t), 0);
    assert!(iod.to_vec().unwrap().iter().all(|&b| b == 0));
    assert!(matches!(
        ctx.nvme_raw(bio::nvme::NvmeCmd::flush(1)),
        Err(BioError::Unsupported(_))
    ));
    assert_eq!(ctx.stats().errors, 0);
    assert_eq!(ctx.stats().stale, 0);
}

#[test]
fn bad_alignment_and_range_are_errors() {
    let s = Sched::new();
    let f = TempFile::new("bio-align");
    let ctx = open(&s, &f, 1 << 20, &BioConfig::default());
    assert!(matches!(
        ctx.write(100, &[0; 4096]),
        Err(BioError::Align { what: "offset", .. })
    ));
    assert!(matches!(
        ctx.write(0, &[0; 100]),
        Err(BioError::Align { what: "length", .. })
    ));
    assert!(matches!(
        ctx.write(0, &[]),
        Err(BioError::Align { what: "length", .. })
    ));
    assert!(matches!(
        ctx.read(1 << 20, 4096),
        Err(BioError::OutOfRange { .. })
    ));
    assert!(matches!(
        ctx.read(u64::MAX - 4095, 4096),
        Err(BioError::Inval(_) | BioError::OutOfRange { .. })
    ));
    assert!(matches!(
        ctx.iod(&[(0, 8192)], Some(&[0; 4096])),
        Err(BioError::Inval(_))
    ));
    let e = ctx.write(100, &[0; 4096]).unwrap_err();
    assert!(
        e.to_string()
            .contains("not a multiple of the 4096-byte block size"),
        "{e}"
    );
    let bad = BioCtx::open(
        &s,
        "/proc/self/nonexistent-rdaos",
        &DevOpts::default(),
        &BioConfig::default(),
    );
    assert!(matches!(bad, Err(BioError::Os { .. })));
}

#[test]
fn more_ios_in_flight_than_dma_buffers() {
    // 4 chunks of 64 KiB = 256 KiB of DMA; 64 writes of 64 KiB in flight.
    let s = Sched::new();
    let f = TempFile::new("bio-exhaust");
    let cfg = BioConfig {
        dma_chunks: 4,
        dma_chunk_size: 64 << 10,
        ring_entries: 32,
        ..BioConfig::default()
    };
    let ctx = open(&s, &f, 8 << 20, &cfg);
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            ctx.write(i * (64 << 10), &pattern(i + 7, 64 << 10))
                .unwrap()
        })
        .collect();
    let join = s.create(|t| t.complete(0));
    join.register_deps(&tasks).unwrap();
    join.schedule(false).unwrap();
    assert_eq!(s.progress_until(&join), 0, "none failed");
    assert_eq!(ctx.dma_free(), 4 * (64 << 10), "every buffer came back");
    for i in 0..64u64 {
        let (t, iod) = ctx.read(i * (64 << 10), 64 << 10).unwrap();
        assert_eq!(s.progress_until(&t), 0);
        assert_eq!(iod.to_vec().unwrap(), pattern(i + 7, 64 << 10));
    }
    // An iod larger than the whole pool can never be served: an error.
    let t = ctx.write(0, &vec![1; 512 << 10]).unwrap();
    assert_eq!(s.progress_until(&t), -tse::der::DER_OVERFLOW);
}

#[test]
fn a_created_file_has_its_space_reserved() {
    use std::os::unix::fs::MetadataExt;
    let s = Sched::new();
    let f = TempFile::new("bio-reserve");
    let size = 32u64 << 20;
    let _ctx = open(&s, &f, size, &BioConfig::default());
    let m = std::fs::metadata(&f.0).unwrap();
    assert_eq!(m.len(), size);
    // Allocated, not a hole: writes cannot meet ENOSPC later.
    assert!(
        m.blocks() * 512 >= size,
        "{} bytes allocated of {size}",
        m.blocks() * 512
    );
}

#[test]
fn a_pool_file_that_does_not_fit_is_refused_and_removed() {
    // A 16 MiB tmpfs: a 64 MiB file cannot be reserved there. Needs root
    // to mount; skipped (with a note) otherwise.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let dir = std::env::temp_dir().join(format!("bio-enospc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: could not mount a tmpfs");
        let _ = std::fs::remove_dir(&dir);
        return;
    }
    let path = dir.join("pool");
    let s = Sched::new();
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(64 << 20),
        iopoll: None,
    };
    // tmpfs has no O_DIRECT on older kernels: either way the open fails,
    // and it must leave no file behind.
    let r = BioCtx::open(&s, &path, &opts, &BioConfig::default());
    let exists = path.exists();
    let _ = std::process::Command::new("umount").arg(&dir).status();
    let _ = std::fs::remove_dir(&dir);
    let e = r.err().expect("a 64 MiB file on a 16 MiB file system");
    assert!(!exists, "the failed create left {}", path.display());
    let msg = e.to_string();
    eprintln!("refused: {msg}");
    assert!(
        msg.contains("No space left") || msg.contains("Invalid argument"),
        "{msg}"
    );
}
