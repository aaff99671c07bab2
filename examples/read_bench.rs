//! read_bench: reads through dfs on the embedded engine (an O_DIRECT pool
//! file) against fio reads (io_uring, O_DIRECT, the same block size,
//! queue depth and file size) of a file in the same directory, in one run.
//!
//! Both sides read a file that was written first, front to back in 1 MiB
//! writes (ours through `dfs_write`, fio's by its layout pass, untimed):
//! * `rand4k`: 4 KiB reads at random aligned offsets, for a fixed time
//!   (reads/s);
//! * `seq1m`: the whole file front to back in 1 MiB reads (MiB/s).
//!
//! Ours: one thread keeps `--qd` `dfs_read`s in flight through the event
//! queue, and checks every byte it reads against what was written (each
//! 4 KiB block carries its own offset), so a wrong or stale block fails
//! the run. Each 32 KiB checksum chunk a read touches is read and
//! verified on the engine. Rounds alternate which side runs first; medians
//! are reported, with the ratio on the last lines. fio is installed with
//! apt-get if missing (as root).
//!
//! One durability contract suffices here (`--durability`, default
//! `auto`; the first line says which one is in force): a contract only
//! decides when a write is acknowledged, a flush or not after its data
//! and WAL writes. A read waits on no flush under either, reads the same
//! blocks and index, and the writes that fill the file happen before the
//! clock starts and are complete (and flushed under `flush`) by then.
//!
//! `cargo run --release --example read_bench -- [--dir D] [--rounds R] [--secs S] [--file-mib M] [--qd N] [--targets T] [--case rand4k|seq1m] [--durability auto|device|flush]`

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{check_dir, ensure_fio, in_force, median, Embedded, FioJob, Res, Rng};
use rdaos::bio::Durability;
use rdaos::dfs::{DfsAttr, File, OpenFlags, ReadOut};
use rdaos::obj::transport::BulkRef;
use rdaos::tse::Eq;

/// dfs reads on the embedded engine against fio reads on the same file
/// system.
#[derive(Parser)]
struct Args {
    /// Directory for the pool file and fio's file (O_DIRECT-capable).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Rounds per case (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of random reads per round.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Size in MiB of the file read.
    #[arg(long, default_value_t = 512)]
    file_mib: u64,
    /// Reads in flight.
    #[arg(long, default_value_t = 32)]
    qd: usize,
    /// Engine targets.
    #[arg(long, default_value_t = 4)]
    targets: u32,
    /// Run one case only.
    #[arg(long, value_parser = ["rand4k", "seq1m"])]
    case: Option<String>,
    /// The pool's durability contract (it decides when the untimed
    /// writes that fill the file are acknowledged): auto, device or flush.
    #[arg(long, default_value_t = Durability::Auto)]
    durability: Durability,
}

struct Case {
    name: &'static str,
    bs: u64,
    /// Time-based (random) or one pass (sequential).
    secs: Option<f64>,
}

/// The bytes written at file offset `off` (a multiple of 4 KiB), `len`
/// of them: each 4 KiB block starts with its own offset, then a pattern
/// of it.
fn pattern(off: u64, len: usize, out: &mut [u8]) {
    for (i, block) in out[..len].chunks_mut(4096).enumerate() {
        let at = off + (i as u64) * 4096;
        block[..8].copy_from_slice(&at.to_le_bytes());
        for (j, b) in block[8..].iter_mut().enumerate() {
            *b = (at / 4096) as u8 ^ j as u8;
        }
    }
}

/// Writes the file front to back in 1 MiB writes, 16 in flight.
fn fill(f: &File, eq: &Eq, mib: u64) -> Res<()> {
    let mut bytes = vec![0u8; 1 << 20];
    let mut next = 0u64;
    let bufs: Vec<BulkRef> = (0..mib)
        .map(|m| {
            pattern(m << 20, 1 << 20, &mut bytes);
            BulkRef::from_vec(bytes.clone())
        })
        .collect();
    let mut launched = 0usize;
    while launched < bufs.len() || eq.inflight() > 0 {
        while launched < bufs.len() && eq.inflight() < 16 {
            f.write_ev(eq, 0, next, bufs[launched].clone())?;
            next += 1 << 20;
            launched += 1;
        }
        for ev in eq.poll(16, Some(Duration::from_secs(30))) {
            if ev.rc != 0 {
                return Err(format!("a write failed with {}", ev.rc).into());
            }
        }
    }
    Ok(())
}

/// Ours, one round: a fresh pool, the file written, then the case's reads,
/// each checked. Returns the rate (MiB/s for 1 MiB reads, reads/s
/// otherwise).
fn ours(a: &Args, c: &Case) -> Res<f64> {
    let pool = a
        .dir
        .join(format!("rdaos-read-bench-{}.pool", std::process::id()));
    let size = (4u64 << 30).max((a.file_mib * 2) << 20);
    let emb = Embedded::start(
        &pool,
        size,
        a.targets,
        "bench",
        DfsAttr::default(),
        a.durability,
    )?;
    let f = emb
        .dfs
        .open(&emb.dfs.root(), "f", OpenFlags::read_write().create(0o644))?;
    let eq = Eq::new(&emb.sched());
    fill(&f, &eq, a.file_mib)?;
    let blocks = (a.file_mib << 20) / c.bs;
    let (mut seq, mut rng) = (0u64, Rng::new(0x7ead));
    let mut next = || match c.secs {
        Some(_) => Some(rng.below(blocks) * c.bs),
        None if seq < blocks => {
            seq += 1;
            Some((seq - 1) * c.bs)
        }
        None => None,
    };
    let deadline = c.secs.map(|s| Instant::now() + Duration::from_secs_f64(s));
    // One slot per read in flight: its offset and where its bytes land.
    let mut slots: Vec<Option<(u64, ReadOut)>> = (0..a.qd).map(|_| None).collect();
    let mut want = vec![0u8; c.bs as usize];
    let t0 = Instant::now();
    for (i, slot) in slots.iter_mut().enumerate() {
        if let Some(off) = next() {
            *slot = Some((off, f.read_ev(&eq, i as u64, off, c.bs)?));
        }
    }
    let mut done = 0u64;
    while eq.inflight() > 0 {
        for ev in eq.poll(a.qd, Some(Duration::from_secs(30))) {
            if ev.rc != 0 {
                return Err(format!("a read failed with {}", ev.rc).into());
            }
            let i = ev.user_data as usize;
            let (off, out) = slots[i].take().ok_or("an event for an idle slot")?;
            let got = out.borrow_mut().take().ok_or("a read without data")?;
            pattern(off, c.bs as usize, &mut want);
            if got.data != want {
                return Err(
                    format!("the {} bytes read at {off} are not what was written", c.bs).into(),
                );
            }
            done += 1;
            if deadline.is_none_or(|d| Instant::now() < d) {
                if let Some(off) = next() {
                    slots[i] = Some((off, f.read_ev(&eq, i as u64, off, c.bs)?));
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    f.close()?;
    emb.stop()?;
    let per_sec = done as f64 / secs;
    Ok(if c.bs == 1 << 20 {
        per_sec
    } else {
        per_sec.round()
    })
}

/// fio, one round, on a fresh file in the same directory.
fn fio(a: &Args, c: &Case) -> Res<f64> {
    let file = a
        .dir
        .join(format!("rdaos-read-bench-{}.fio", std::process::id()));
    let (mib_s, iops) = FioJob {
        file: &file,
        size_mib: a.file_mib,
        bs: c.bs,
        qd: a.qd,
        rw: if c.secs.is_some() { "randread" } else { "read" },
        secs: c.secs,
        extra: &[],
    }
    .run()?;
    Ok(if c.bs == 1 << 20 { mib_s } else { iops })
}

fn main() -> Res<()> {
    let a = Args::parse();
    if a.rounds == 0
        || a.targets == 0
        || a.qd == 0
        || a.file_mib == 0
        || a.secs.is_nan()
        || a.secs <= 0.0
    {
        return Err("--rounds, --targets, --qd, --file-mib and --secs must be positive".into());
    }
    check_dir(&a.dir)?;
    ensure_fio("read_bench")?;
    // What the contract comes to on the device under --dir (the pool file
    // is made there; a probe file of one block stands in for it).
    let probe = a
        .dir
        .join(format!("rdaos-read-bench-{}.probe", std::process::id()));
    std::fs::write(&probe, vec![0u8; 4096])?;
    let resolved = in_force(&probe, a.durability);
    let _ = std::fs::remove_file(&probe);
    let (d, cache) = resolved?;
    println!(
        "read_bench: durability {d} ({} asked; the device has {cache}); reads wait on \
         no flush under any contract, so one suffices",
        a.durability
    );
    let cases = [
        Case {
            name: "rand4k",
            bs: 4096,
            secs: Some(a.secs),
        },
        Case {
            name: "seq1m",
            bs: 1 << 20,
            secs: None,
        },
    ];
    let mut lines = Vec::new();
    for c in cases
        .iter()
        .filter(|c| a.case.as_deref().is_none_or(|n| n == c.name))
    {
        let unit = if c.bs == 1 << 20 { "MiB/s" } else { "reads/s" };
        println!(
            "read_bench {}: {} B reads, qd {}, {} MiB file, {} rounds",
            c.name, c.bs, a.qd, a.file_mib, a.rounds
        );
        let (mut us, mut them) = (Vec::new(), Vec::new());
        for r in 0..a.rounds {
            if r % 2 == 0 {
                us.push(ours(&a, c)?);
                them.push(fio(&a, c)?);
            } else {
                them.push(fio(&a, c)?);
                us.push(ours(&a, c)?);
            }
            println!(
                "  round {}: ours {:.0} {unit}, fio {:.0} {unit}",
                r + 1,
                us[r],
                them[r]
            );
        }
        let (o, b) = (median(us), median(them));
        lines.push(format!(
            "read_bench {}: ours={o:.0} baseline={b:.0} ratio={:.2}",
            c.name,
            o / b
        ));
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
