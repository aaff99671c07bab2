//! NVMe passthrough (`IORING_OP_URING_CMD` on `/dev/ngXnY`, SQE128/CQE32).
//! Runs against the namespace named by `RDAOS_NVME_DEV` (the NVMe lane,
//! `tests/nvme-vm/run.sh`, boots a guest with an emulated controller and
//! sets it), with IOPOLL when `RDAOS_NVME_IOPOLL=1`. Without the variable
//! each test says it is skipped and passes.

use bio::nvme::NvmeCmd;
use bio::{
    Backend, BioConfig, BioCtx, BioError, DevKind, DevOpts, Durability, Wal, WalPos, WriteCache,
};
use tse::Sched;

fn open(s: &Sched, cfg: &BioConfig) -> Option<BioCtx> {
    let Ok(dev) = std::env::var("RDAOS_NVME_DEV") else {
        eprintln!("skipped: RDAOS_NVME_DEV is not set (the NVMe lane sets it)");
        return None;
    };
    let iopoll = std::env::var("RDAOS_NVME_IOPOLL").ok().map(|v| v == "1");
    let opts = DevOpts {
        kind: DevKind::Auto,
        create_size: None,
        iopoll,
    };
    let ctx = BioCtx::open(s, &dev, &opts, cfg).expect("open the NVMe namespace");
    assert!(
        matches!(ctx.device().backend(), Backend::Nvme { .. }),
        "passthrough backend"
    );
    eprintln!(
        "{dev}: {} B blocks, {} MiB, iopoll={}, fixed buffers={}",
        ctx.device().block_size(),
        ctx.device().capacity() >> 20,
        ctx.device().iopoll(),
        ctx.fixed_buffers()
    );
    if let Some(want) = iopoll {
        assert_eq!(ctx.device().iopoll(), want);
    }
    Some(ctx)
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed as usize * 131 + i * 7 + i / 509) as u8)
        .collect()
}

#[test]
fn nvme_write_read_verify_and_flush() {
    let s = Sched::new();
    let Some(ctx) = open(&s, &BioConfig::default()) else {
        return;
    };
    let bs = ctx.device().block_size() as u64;
    let mut off = 0;
    let mut done = Vec::new();
    for (i, len) in [bs, 2 * bs, 4096, 65536, 128 << 10, 1 << 20, 3 << 20]
        .into_iter()
        .enumerate()
    {
        let data = pattern(i as u64, len as usize);
        let t = ctx.write(off, &data).unwrap();
        assert_eq!(s.progress_until(&t), 0, "write {len} at {off}");
        done.push((off, data));
        off += len + bs;
    }
    let t = ctx.sync();
    assert_eq!(s.progress_until(&t), 0, "flush");
    for (off, data) in &done {
        let (t, iod) = ctx.read(*off, data.len() as u64).unwrap();
        assert_eq!(s.progress_until(&t), 0);
        assert_eq!(&iod.to_vec().unwrap(), data, "read back at {off}");
    }
    assert_eq!(ctx.stats().errors, 0);
    // Identify Controller answers whether the controller has a volatile
    // write cache, and `auto` follows it.
    let cache = ctx.device().write_cache();
    eprintln!(
        "write cache: {cache}; auto resolves to {}",
        ctx.durability()
    );
    let want = match cache {
        WriteCache::WriteBack => Durability::Flush,
        WriteCache::WriteThrough => Durability::Device,
        WriteCache::Unknown(why) => panic!("identify controller failed: {why}"),
    };
    assert_eq!(ctx.durability(), want);
    assert!(matches!(
        ctx.write(bs / 2, &vec![0; bs as usize]),
        Err(BioError::Align { .. })
    ));
    let cap = ctx.device().capacity();
    assert!(matches!(
        ctx.read(cap, bs),
        Err(BioError::OutOfRange { .. })
    ));
}

#[test]
fn nvme_many_in_flight_with_few_buffers() {
    let s = Sched::new();
    let cfg = BioConfig {
        dma_chunks: 2,
        dma_chunk_size: 64 << 10,
        ring_entries: 16,
        ..BioConfig::default()
    };
    let Some(ctx) = open(&s, &cfg) else { return };
    let base = 16 << 20;
    let tasks: Vec<_> = (0..32u64)
        .map(|i| {
            ctx.write(base + i * (32 << 10), &pattern(i, 32 << 10))
                .unwrap()
        })
        .collect();
    let join = s.create(|t| t.complete(0));
    join.register_deps(&tasks).unwrap();
    join.schedule(false).unwrap();
    assert_eq!(s.progress_until(&join), 0);
    for i in 0..32u64 {
        let (t, iod) = ctx.read(base + i * (32 << 10), 32 << 10).unwrap();
        assert_eq!(s.progress_until(&t), 0);
        assert_eq!(iod.to_vec().unwrap(), pattern(i, 32 << 10));
    }
}

#[test]
fn nvme_wal_group_commit_and_replay() {
    let s = Sched::new();
    let Some(ctx) = open(&s, &BioConfig::default()) else {
        return;
    };
    let (off, len) = (32 << 20, 8 << 20);
    let gen = std::process::id();
    let wal = Wal::open(&ctx, off, len, WalPos::start(gen), 0).unwrap();
    let tasks: Vec<_> = (0..100u64)
        .map(|i| wal.append(pattern(i, 100 + i as usize)).unwrap().1)
        .collect();
    let join = s.create(|t| t.complete(0));
    join.register_deps(&tasks).unwrap();
    join.schedule(false).unwrap();
    assert_eq!(s.progress_until(&join), 0);
    assert!(wal.counters().1 < 100, "group commit");
    let again = Wal::open(&ctx, off, len, WalPos::start(gen), 0).unwrap();
    let got = again.replay(WalPos::start(gen)).unwrap();
    assert_eq!(got.len(), 100);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, (seq, r))| *seq == i as u64 + 1 && *r == pattern(i as u64, 100 + i)));
}

#[test]
fn nvme_status_comes_back_and_write_zeroes_zeroes() {
    let s = Sched::new();
    let Some(ctx) = open(&s, &BioConfig::default()) else {
        return;
    };
    let bs = ctx.device().block_size() as u64;
    let nsid = match ctx.device().backend() {
        Backend::Nvme { nsid, .. } => *nsid,
        Backend::File => unreachable!(),
    };
    // A command past the end of the namespace: the controller answers
    // with LBA Out of Range (status code 0x80), which must come back.
    let lbas = ctx.device().capacity() / bs;
    let t = ctx
        .nvme_raw(NvmeCmd::write_zeroes(nsid, lbas + 8, 1))
        .unwrap();
    assert_eq!(s.progress_until(&t), -tse::der::DER_NVME_IO);
    let st = ctx.stats().last_error;
    eprintln!("NVMe status for an out-of-range command: {st:#x}");
    assert!(st > 0 && st & 0xff == 0x80, "status {st:#x}");
    // Write Zeroes over written data reads back zeros.
    let off = 40 << 20;
    let t = ctx.write(off, &pattern(9, 64 << 10)).unwrap();
    assert_eq!(s.progress_until(&t), 0);
    let t = ctx.write_zeroes(off, 64 << 10).unwrap();
    assert_eq!(s.progress_until(&t), 0);
    let (t, iod) = ctx.read(off, 64 << 10).unwrap();
    assert_eq!(s.progress_until(&t), 0);
    assert!(iod.to_vec().unwrap().iter().all(|&b| b == 0));
}
