//! small_writes: 4 KiB random writes into one dfs file through the event
//! queue, at queue depths 1, 2, 4 ... 64 from one thread, printing IOPS
//! and latency percentiles for each depth.
//!
//! Each write is `dfs_write` -> `dc_array_write` -> one object update ->
//! an engine target -> vos -> bio -> io_uring on an O_DIRECT pool file,
//! acknowledged once durable. The event queue (`File::write_ev` +
//! `tse::Eq::poll`) keeps `qd` of them in flight: each finished event
//! launches the next write in its slot.
//!
//! `cargo run --release --example small_writes -- [--secs S] [--qd-max N] [--file-mib M] [--targets T] [--pool FILE]`

mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::{drive, percentile, Embedded, Res, Rng};
use rdaos::dfs::{DfsAttr, OpenFlags};
use rdaos::tse::Eq;

const BS: u64 = 4096;

/// 4 KiB random writes through dfs's event queue at growing queue depths.
#[derive(Parser)]
struct Args {
    /// Seconds of writes at each queue depth.
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// The deepest queue (depths double from 1 up to it).
    #[arg(long, default_value_t = 64)]
    qd_max: usize,
    /// The file's size in MiB (writes land at random 4 KiB blocks of it).
    #[arg(long, default_value_t = 256)]
    file_mib: u64,
    /// Engine targets.
    #[arg(long, default_value_t = 4)]
    targets: u32,
    /// The pool's size in GiB (a sparse file; overwritten versions use
    /// space until aggregation reclaims it).
    #[arg(long, default_value_t = 4)]
    pool_gib: u64,
    /// The pool file (made, then removed; needs a file system with
    /// O_DIRECT).
    #[arg(long, default_value_os_t = std::env::temp_dir().join("rdaos-small-writes.pool"))]
    pool: std::path::PathBuf,
}

fn main() -> Res<()> {
    let a = Args::parse();
    if a.qd_max == 0 || a.file_mib == 0 || a.pool_gib == 0 || a.secs.is_nan() || a.secs <= 0.0 {
        return Err("--qd-max, --file-mib, --pool-gib and --secs must be positive".into());
    }
    let emb = Embedded::start(
        &a.pool,
        a.pool_gib << 30,
        a.targets,
        "small",
        DfsAttr::default(),
    )?;
    let f = emb
        .dfs
        .open(&emb.dfs.root(), "f", OpenFlags::read_write().create(0o644))?;
    let blocks = (a.file_mib << 20) / BS;
    let eq = Eq::new(&emb.sched());
    let mut rng = Rng::new(0x5eed);
    println!(
        "small_writes: 4 KiB random writes into a {} MiB file, {} targets, {} s per depth",
        a.file_mib, a.targets, a.secs
    );
    println!(
        "{:>4} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "qd", "IOPS", "p50 us", "p99 us", "p99.9 us", "max us"
    );
    let mut qd = 1;
    while qd <= a.qd_max {
        let mut lat: Vec<u64> = Vec::with_capacity(1 << 20);
        let deadline = Instant::now() + Duration::from_secs_f64(a.secs);
        let next = || Some(rng.below(blocks) * BS);
        let (done, secs) = drive(&f, &eq, qd, BS as usize, next, Some(deadline), |ns| {
            lat.push(ns)
        })?;
        lat.sort_unstable();
        let us = |p| percentile(&lat, p) as f64 / 1e3;
        println!(
            "{qd:>4} {:>9.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            done as f64 / secs,
            us(50.0),
            us(99.0),
            us(99.9),
            us(100.0)
        );
        qd *= 2;
    }
    f.close()?;
    emb.stop()
}
