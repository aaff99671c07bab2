//! dfs_bench: writes through dfs on the embedded engine (an O_DIRECT pool
//! file) against fio (io_uring, O_DIRECT, the same block size, queue
//! depth and file size) on a file in the same directory, in one run.
//!
//! Cases:
//! * `seq1m`: a file written front to back in 1 MiB writes (MiB/s);
//! * `rand4k`: 4 KiB writes at random aligned offsets of a file, for a
//!   fixed time (writes/s);
//! * `rand4k_qd1_fdatasync`: 4 KiB random writes one at a time, ours under
//!   the `flush` contract against fio with `--fdatasync=1` (each write
//!   followed by an fdatasync): the same promise on both sides, so ours
//!   should never be below it.
//!
//! What each side promises when it counts a write as done: fio
//! (`direct=1`, no fsync option) once the device completed it, with no
//! flush, so a volatile device cache may still hold it. Ours runs under
//! both durability contracts of a pool against that same fio baseline:
//! `device` (line `CASE`) promises what fio promises; `flush` (line
//! `CASE_flush`) promises more, a flush after the write (shared by a
//! group commit) completed.
//!
//! Ours: one thread keeps the queue depth's `dfs_write`s in flight
//! through the event queue, on a fresh pool per round. Each round runs
//! fio, ours under `device` and ours under `flush`, rotating which goes
//! first; medians are reported. Against the old single-contract run each
//! round has a third side; `--secs` went from 3 to 2 to keep the random
//! case's time, the sequential case takes half as long again, and the
//! old fdatasync reference at the case's depth gave way to the QD1 case.
//! fio is installed with apt-get if missing (as root).
//!
//! `cargo run --release --example dfs_bench -- [--dir D] [--rounds R] [--secs S] [--seq-mib M] [--rand-mib M] [--targets T] [--case seq1m|rand4k|rand4k_qd1_fdatasync]`

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{
    case_suffix, check_dir, drive, ensure_fio, median, Embedded, FioJob, Res, Rng, CONTRACTS,
};
use rdaos::bio::Durability;
use rdaos::dfs::{DfsAttr, OpenFlags};
use rdaos::tse::Eq;

/// dfs writes on the embedded engine against fio on the same file system.
#[derive(Parser)]
struct Args {
    /// Directory for the pool file and fio's file (O_DIRECT-capable).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Rounds per case (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of random writes per round and side.
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// MiB written by the sequential case.
    #[arg(long, default_value_t = 1024)]
    seq_mib: u64,
    /// Size in MiB of the random case's file.
    #[arg(long, default_value_t = 1024)]
    rand_mib: u64,
    /// Queue depth of the sequential case.
    #[arg(long, default_value_t = 16)]
    seq_qd: usize,
    /// Queue depth of the random case.
    #[arg(long, default_value_t = 32)]
    rand_qd: usize,
    /// Engine targets.
    #[arg(long, default_value_t = 4)]
    targets: u32,
    /// Run one case only.
    #[arg(long, value_parser = ["seq1m", "rand4k", "rand4k_qd1_fdatasync"])]
    case: Option<String>,
}

struct Case {
    name: &'static str,
    bs: u64,
    qd: usize,
    file_mib: u64,
    /// Time-based (random) or one pass (sequential).
    secs: Option<f64>,
}

/// Ours, one round under contract `d`: a fresh pool, one file, the
/// case's writes. Returns the rate (MiB/s for 1 MiB writes, writes/s
/// otherwise).
fn ours(a: &Args, c: &Case, d: Durability) -> Res<f64> {
    let pool = a
        .dir
        .join(format!("rdaos-dfs-bench-{}.pool", std::process::id()));
    let size = (4u64 << 30).max((c.file_mib * 2) << 20);
    let emb = Embedded::start(&pool, size, a.targets, "bench", DfsAttr::default(), d)?;
    if emb.durability != d {
        return Err(format!("the engine keeps {} instead of {d}", emb.durability).into());
    }
    let f = emb
        .dfs
        .open(&emb.dfs.root(), "f", OpenFlags::read_write().create(0o644))?;
    let eq = Eq::new(&emb.sched());
    let blocks = (c.file_mib << 20) / c.bs;
    let (mut seq, mut rng) = (0u64, Rng::new(0xd15c));
    let next = || match c.secs {
        Some(_) => Some(rng.below(blocks) * c.bs),
        None if seq < blocks => {
            seq += 1;
            Some((seq - 1) * c.bs)
        }
        None => None,
    };
    let deadline = c.secs.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let (n, secs) = drive(&f, &eq, c.qd, c.bs as usize, next, deadline, |_| ())?;
    f.close()?;
    emb.stop()?;
    Ok(rate(c, n as f64 / secs))
}

fn rate(c: &Case, per_sec: f64) -> f64 {
    if c.bs == 1 << 20 {
        per_sec
    } else {
        per_sec.round()
    }
}

/// fio, one round, on a fresh file in `dir`; `extra` adds options.
fn fio(a: &Args, c: &Case, extra: &[&str]) -> Res<f64> {
    let file = a
        .dir
        .join(format!("rdaos-dfs-bench-{}.fio", std::process::id()));
    let (mib_s, iops) = FioJob {
        file: &file,
        size_mib: c.file_mib,
        bs: c.bs,
        qd: c.qd,
        rw: if c.secs.is_some() {
            "randwrite"
        } else {
            "write"
        },
        secs: c.secs,
        extra,
    }
    .run()?;
    Ok(if c.bs == 1 << 20 { mib_s } else { iops })
}

fn main() -> Res<()> {
    let a = Args::parse();
    if a.rounds == 0
        || a.targets == 0
        || a.seq_qd == 0
        || a.rand_qd == 0
        || a.seq_mib == 0
        || a.rand_mib == 0
        || a.secs.is_nan()
        || a.secs <= 0.0
    {
        return Err(
            "--rounds, --targets, the queue depths, the sizes and --secs must be positive".into(),
        );
    }
    check_dir(&a.dir)?;
    ensure_fio("dfs_bench")?;
    let cases = [
        Case {
            name: "seq1m",
            bs: 1 << 20,
            qd: a.seq_qd,
            file_mib: a.seq_mib,
            secs: None,
        },
        Case {
            name: "rand4k",
            bs: 4096,
            qd: a.rand_qd,
            file_mib: a.rand_mib,
            secs: Some(a.secs),
        },
    ];
    let mut lines = Vec::new();
    for c in cases
        .iter()
        .filter(|c| a.case.as_deref().is_none_or(|n| n == c.name))
    {
        let unit = if c.bs == 1 << 20 { "MiB/s" } else { "writes/s" };
        println!(
            "dfs_bench {}: {} B writes, qd {}, {} MiB file, {} rounds; fio direct=1 without \
             flush against ours under device (promises the same) and flush (a flush after it)",
            c.name, c.bs, c.qd, c.file_mib, a.rounds
        );
        let mut them = Vec::new();
        let mut us: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for r in 0..a.rounds {
            // Sides: 0 fio, 1 ours under device, 2 ours under flush; the
            // first one moves along each round.
            for k in 0..3 {
                match (r + k) % 3 {
                    0 => them.push(fio(&a, c, &[])?),
                    i => us[i - 1].push(ours(&a, c, CONTRACTS[i - 1])?),
                }
            }
            println!(
                "  round {}: fio {:.0}, ours device {:.0}, ours flush {:.0} {unit}",
                r + 1,
                them[r],
                us[0][r],
                us[1][r]
            );
        }
        let b = median(them);
        for (d, v) in CONTRACTS.iter().zip(us) {
            let o = median(v);
            lines.push(format!(
                "dfs_bench {}{}: ours={o:.0} baseline={b:.0} ratio={:.2}",
                c.name,
                case_suffix(*d),
                o / b
            ));
        }
    }
    // Writes one at a time, each durable past a power loss on both sides:
    // ours under flush, fio with an fdatasync after every write.
    let qd1 = Case {
        name: "rand4k_qd1_fdatasync",
        bs: 4096,
        qd: 1,
        file_mib: a.rand_mib,
        secs: Some(a.secs),
    };
    if a.case.as_deref().is_none_or(|n| n == qd1.name) {
        println!(
            "dfs_bench {}: 4096 B writes, qd 1, {} MiB file, {} rounds; fio direct=1 \
             fdatasync=1 against ours under flush (both: the write, then a flush)",
            qd1.name, qd1.file_mib, a.rounds
        );
        let (mut us, mut them) = (Vec::new(), Vec::new());
        for r in 0..a.rounds {
            if r % 2 == 0 {
                us.push(ours(&a, &qd1, Durability::Flush)?);
                them.push(fio(&a, &qd1, &["--fdatasync=1"])?);
            } else {
                them.push(fio(&a, &qd1, &["--fdatasync=1"])?);
                us.push(ours(&a, &qd1, Durability::Flush)?);
            }
            println!(
                "  round {}: fio+fdatasync {:.0}, ours flush {:.0} writes/s",
                r + 1,
                them[r],
                us[r]
            );
        }
        let (o, b) = (median(us), median(them));
        lines.push(format!(
            "dfs_bench {}: ours={o:.0} baseline={b:.0} ratio={:.2}",
            qd1.name,
            o / b
        ));
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
