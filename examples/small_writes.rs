//! small_writes: 4 KiB random writes into one dfs file through the event
//! queue, at queue depths 1, 2, 4 ... 64 from one thread, printing IOPS
//! and latency percentiles for each depth.
//!
//! Each write is `dfs_write` -> `dc_array_write` -> one object update ->
//! an engine target -> vos -> bio -> io_uring on an O_DIRECT pool file,
//! acknowledged as the pool's durability contract (`--durability`, the
//! first line says which one is in force) promises: under `device` once
//! the device completed the data and WAL writes (what fio `direct=1`
//! promises), under `flush` once a flush after them completed too.
//! The event queue (`File::write_ev` + `tse::Eq::poll`) keeps `qd` of
//! them in flight: each finished event launches the next write in its
//! slot.
//!
//! `--writes N` runs exactly N writes at each depth instead of `--secs`
//! (the count is exact, the time is whatever it takes), so two runs under
//! callgrind that differ only in N give the instructions of the extra
//! writes by their difference, without the start and the stop; with
//! `--qd-max 1` there is one depth, so that is N2 - N1 writes at QD1:
//! `valgrind --tool=callgrind target/release/examples/small_writes --qd-max 1 --writes 2000`
//! (and again with 4000). `bash benches/cpu_per_write.sh` does exactly
//! that for both contracts and prints instructions and allocations per
//! write.
//!
//! Every heap allocation of the process (all threads: the client and the
//! engine's targets) goes through a counting allocator, so each depth's
//! line also says how many allocations its writes made (`allocs`) and how
//! many that is per write (`allocs/w`, start-up effects of the depth
//! included; the difference of two `--writes` runs leaves those out).
//!
//! `cargo run --release --example small_writes -- [--secs S | --writes N] [--qd-max N] [--file-mib M] [--targets T] [--pool FILE] [--durability auto|device|flush]`

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use common::{drive, percentile, Embedded, Res, Rng};
use rdaos::bio::Durability;
use rdaos::dfs::{DfsAttr, OpenFlags};
use rdaos::tse::Eq;

const BS: u64 = 4096;

/// The system allocator, counting every allocation (`alloc`,
/// `alloc_zeroed` and `realloc`: each one a trip into the allocator).
struct Counting;

/// Allocations made so far by every thread of the process.
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is handed to the system allocator unchanged; the
// counter is a side effect that allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `layout` is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from System with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from System with this `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// 4 KiB random writes through dfs's event queue at growing queue depths.
#[derive(Parser)]
struct Args {
    /// Seconds of writes at each queue depth.
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// Exactly this many writes at each queue depth, instead of `--secs`.
    #[arg(long)]
    writes: Option<u64>,
    /// The pool's durability contract: auto, device or flush.
    #[arg(long, default_value_t = Durability::Auto)]
    durability: Durability,
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
    if a.qd_max == 0
        || a.file_mib == 0
        || a.pool_gib == 0
        || a.writes == Some(0)
        || a.secs.is_nan()
        || a.secs <= 0.0
    {
        return Err(
            "--qd-max, --file-mib, --pool-gib, --writes and --secs must be positive".into(),
        );
    }
    let emb = Embedded::start(
        &a.pool,
        a.pool_gib << 30,
        a.targets,
        "small",
        DfsAttr::default(),
        a.durability,
    )?;
    let f = emb
        .dfs
        .open(&emb.dfs.root(), "f", OpenFlags::read_write().create(0o644))?;
    let blocks = (a.file_mib << 20) / BS;
    let eq = Eq::new(&emb.sched());
    let mut rng = Rng::new(0x5eed);
    let per_depth = match a.writes {
        Some(n) => format!("{n} writes per depth"),
        None => format!("{} s per depth", a.secs),
    };
    println!(
        "small_writes: 4 KiB random writes into a {} MiB file, {} targets, {per_depth}",
        a.file_mib, a.targets
    );
    println!(
        "small_writes: durability {} ({} asked; the device has {}): a write is \
         acknowledged once {}",
        emb.durability,
        a.durability,
        emb.cache,
        match emb.durability {
            Durability::Flush => "a flush after its data and WAL writes completed",
            _ => "the device completed its data and WAL writes (no flush)",
        }
    );
    println!(
        "{:>4} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}",
        "qd", "IOPS", "p50 us", "p99 us", "p99.9 us", "max us", "allocs", "allocs/w"
    );
    let mut qd = 1;
    while qd <= a.qd_max {
        let mut lat: Vec<u64> = Vec::with_capacity(1 << 20);
        // With --writes: that many offsets, then None ends the run.
        let mut left = a.writes.unwrap_or(u64::MAX);
        let deadline = match a.writes {
            Some(_) => None,
            None => Some(Instant::now() + Duration::from_secs_f64(a.secs)),
        };
        let next = || {
            left = left.checked_sub(1)?;
            Some(rng.below(blocks) * BS)
        };
        let allocs0 = ALLOCS.load(Ordering::Relaxed);
        let (done, secs) = drive(&f, &eq, qd, BS as usize, next, deadline, |ns| lat.push(ns))?;
        let allocs = ALLOCS.load(Ordering::Relaxed) - allocs0;
        if a.writes.is_some_and(|n| n != done) {
            return Err(format!("{done} writes done at qd {qd}, not --writes").into());
        }
        lat.sort_unstable();
        let us = |p| percentile(&lat, p) as f64 / 1e3;
        println!(
            "{qd:>4} {:>9.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {allocs:>10} {:>8.1}",
            done as f64 / secs,
            us(50.0),
            us(99.0),
            us(99.9),
            us(100.0),
            allocs as f64 / done.max(1) as f64
        );
        qd *= 2;
    }
    f.close()?;
    emb.stop()
}
