//! dfs_bench: writes through dfs on the embedded engine (an O_DIRECT pool
//! file) against fio (io_uring, O_DIRECT, the same block size, queue
//! depth and file size) on a file in the same directory, in one run.
//!
//! Cases:
//! * `seq1m`: a file written front to back in 1 MiB writes (MiB/s);
//! * `rand4k`: 4 KiB writes at random aligned offsets of a file, for a
//!   fixed time (writes/s).
//!
//! Ours: one thread keeps `--qd` `dfs_write`s in flight through the event
//! queue, on a fresh pool per round; every write is acknowledged once
//! durable (the engine's WAL flushes the device cache). fio's writes are
//! acknowledged when the device took them (its cache is not flushed): the
//! run also prints fio with `--fdatasync=1` per write as a reference for
//! what durability costs on this device. Rounds alternate which side runs
//! first; medians are reported. fio is installed with apt-get if missing
//! (as root).
//!
//! `cargo run --release --example dfs_bench -- [--dir D] [--rounds R] [--secs S] [--seq-mib M] [--rand-mib M] [--targets T] [--case seq1m|rand4k]`

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{check_dir, drive, ensure_fio, median, Embedded, FioJob, Res, Rng};
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
    /// Seconds of random writes per round.
    #[arg(long, default_value_t = 3.0)]
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
    #[arg(long, value_parser = ["seq1m", "rand4k"])]
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

/// Ours, one round: a fresh pool, one file, the case's writes. Returns
/// the rate (MiB/s for 1 MiB writes, writes/s otherwise).
fn ours(a: &Args, c: &Case) -> Res<f64> {
    let pool = a
        .dir
        .join(format!("rdaos-dfs-bench-{}.pool", std::process::id()));
    let size = (4u64 << 30).max((c.file_mib * 2) << 20);
    let emb = Embedded::start(&pool, size, a.targets, "bench", DfsAttr::default())?;
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
            "dfs_bench {}: {} B writes, qd {}, {} MiB file, {} rounds",
            c.name, c.bs, c.qd, c.file_mib, a.rounds
        );
        let (mut us, mut them, mut sync) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..a.rounds {
            if r % 2 == 0 {
                us.push(ours(&a, c)?);
                them.push(fio(&a, c, &[])?);
            } else {
                them.push(fio(&a, c, &[])?);
                us.push(ours(&a, c)?);
            }
            println!(
                "  round {}: ours {:.0} {unit}, fio {:.0} {unit}",
                r + 1,
                us[r],
                them[r]
            );
        }
        sync.push(fio(&a, c, &["--fdatasync=1"])?);
        let (o, b) = (median(us), median(them));
        println!("  reference: fio with an fdatasync after every write: {:.0} {unit} (ours/that = {:.2})", sync[0], o / sync[0]);
        lines.push(format!(
            "dfs_bench {}: ours={o:.0} baseline={b:.0} ratio={:.2}",
            c.name,
            o / b
        ));
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
