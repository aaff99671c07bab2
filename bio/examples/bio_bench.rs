//! bio_bench: O_DIRECT writes through bio (ring, DMA pool, iod prep/post)
//! against fio on the same file in the same run.
//!
//! Cases: `seq1m_qd1` and `seq1m_qd32` (MiB/s), `rand4k_qd32` (IOPS).
//! Each case alternates ours and fio `--rounds` times and reports medians.
//! fio must be installed (`bio/bench/run.sh` installs it and runs this).
//!
//! `cargo run --release -p bio --example bio_bench -- [--file F] [--size-mib N] [--secs S] [--rounds R]`

use std::process::Command;
use std::time::{Duration, Instant};

use bio::{BioConfig, BioCtx, DevKind, DevOpts};
use tse::{Sched, Task};

struct Args {
    case: Option<String>,
    /// A device to open as is (NVMe passthrough for /dev/ng*), instead of
    /// creating the bench file.
    dev: Option<String>,
    iopoll: Option<bool>,
    no_fio: bool,
    file: String,
    size: u64,
    secs: f64,
    rounds: usize,
}

fn parse() -> Args {
    let mut a = Args {
        case: None,
        dev: None,
        iopoll: None,
        no_fio: false,
        file: "/tmp/rdaos-bio-bench.dat".into(),
        size: 2048 << 20,
        secs: 5.0,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--no-fio" {
            a.no_fio = true;
            continue;
        }
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--file" => a.file = v,
            "--size-mib" => a.size = v.parse::<u64>().expect("--size-mib N") << 20,
            "--secs" => a.secs = v.parse().expect("--secs S"),
            "--rounds" => a.rounds = v.parse().expect("--rounds R"),
            "--case" => a.case = Some(v),
            "--dev" => a.dev = Some(v),
            "--iopoll" => a.iopoll = Some(v == "1"),
            _ => {
                eprintln!("usage: bio_bench [--file F] [--size-mib N] [--secs S] [--rounds R] [--case NAME] [--dev PATH [--iopoll 0|1] --no-fio]");
                std::process::exit(2);
            }
        }
    }
    a
}

/// Keeps `qd` writes of `bs` bytes in flight for `secs` (sequential offsets
/// wrapping over the file, or random ones); returns (bytes, ops, seconds).
fn ours(
    ctx: &BioCtx,
    s: &Sched,
    bs: u64,
    qd: usize,
    random: bool,
    size: u64,
    secs: f64,
) -> (u64, u64, f64) {
    // A write that cannot even be submitted ends the benchmark with the
    // reason, rather than a panic.
    let submit = |r: Result<Task, bio::BioError>| {
        r.unwrap_or_else(|e| {
            eprintln!("bio_bench: write failed to submit: {e}");
            std::process::exit(1)
        })
    };
    let data = vec![0x5au8; bs as usize];
    let blocks = size / bs;
    let mut next = 0u64;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut off = move || {
        if random {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % blocks) * bs
        } else {
            let o = (next % blocks) * bs;
            next += 1;
            o
        }
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut inflight: Vec<Task> = (0..qd).map(|_| submit(ctx.write(off(), &data))).collect();
    let mut ops = 0u64;
    while !inflight.is_empty() {
        s.progress();
        let mut i = 0;
        while i < inflight.len() {
            if let Some(rc) = inflight[i].try_result() {
                assert_eq!(rc, 0, "write failed");
                ops += 1;
                if Instant::now() < deadline {
                    inflight[i] = submit(ctx.write(off(), &data));
                    i += 1;
                } else {
                    inflight.swap_remove(i);
                }
            } else {
                i += 1;
            }
        }
    }
    (ops * bs, ops, start.elapsed().as_secs_f64())
}

/// Runs fio with the same shape; returns (MiB/s, IOPS).
fn fio(file: &str, bs: &str, qd: usize, rw: &str, size: u64, secs: f64) -> (f64, f64) {
    let out = Command::new("fio")
        .args([
            "--name=bio_bench",
            &format!("--filename={file}"),
            &format!("--size={size}"),
            &format!("--rw={rw}"),
            &format!("--bs={bs}"),
            "--direct=1",
            "--ioengine=io_uring",
            &format!("--iodepth={qd}"),
            "--time_based",
            &format!("--runtime={secs}"),
            "--randrepeat=0",
            "--output-format=json",
        ])
        .output()
        .expect("run fio (bio/bench/run.sh installs it)");
    assert!(
        out.status.success(),
        "fio failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8_lossy(&out.stdout);
    // The "write" section's bw_bytes and iops (fio's JSON, read without a parser).
    let w = &json[json.find("\"write\" : {").expect("fio write section")..];
    let num = |key: &str| -> f64 {
        let at = w.find(&format!("\"{key}\"")).expect("fio field") + key.len() + 3;
        let rest = w[at..].trim_start_matches([' ', ':']);
        let end = rest.find([',', '\n', '}']).unwrap_or(rest.len());
        rest[..end].trim().parse().expect("fio number")
    };
    (num("bw_bytes") / (1 << 20) as f64, num("iops"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let a = parse();
    let s = Sched::new();
    let (path, opts) = match &a.dev {
        Some(d) => (
            d.clone(),
            DevOpts {
                kind: DevKind::Auto,
                create_size: None,
                iopoll: a.iopoll,
            },
        ),
        None => (
            a.file.clone(),
            DevOpts {
                kind: DevKind::File,
                create_size: Some(a.size),
                iopoll: None,
            },
        ),
    };
    let ctx = BioCtx::open(&s, &path, &opts, &BioConfig::default()).expect("open the bench target");
    let size = ctx.device().capacity().min(a.size);
    let a = Args {
        size,
        file: path,
        ..a
    };
    eprintln!(
        "bio_bench: {} ({} B blocks, iopoll={}, fixed buffers={})",
        a.file,
        ctx.device().block_size(),
        ctx.device().iopoll(),
        ctx.fixed_buffers()
    );
    // Lay the file out once so neither side pays for allocation.
    eprintln!("bio_bench: laying out {} MiB at {}", a.size >> 20, a.file);
    ours(&ctx, &s, 1 << 20, 8, false, a.size, 0.0);
    let _ = ours(
        &ctx,
        &s,
        1 << 20,
        8,
        false,
        a.size,
        a.size as f64 / (1500.0 * 1048576.0),
    );
    let cases: [(&str, u64, usize, bool, &str, &str); 3] = [
        ("seq1m_qd1", 1 << 20, 1, false, "1M", "write"),
        ("seq1m_qd32", 1 << 20, 32, false, "1M", "write"),
        ("rand4k_qd32", 4096, 32, true, "4k", "randwrite"),
    ];
    let mut lines = Vec::new();
    for (name, bs, qd, random, fbs, frw) in cases {
        if a.case.as_deref().is_some_and(|c| c != name) {
            continue;
        }
        let (mut o, mut b) = (Vec::new(), Vec::new());
        for r in 0..a.rounds {
            let run_ours = || {
                let (bytes, ops, secs) = ours(&ctx, &s, bs, qd, random, a.size, a.secs);
                if random {
                    ops as f64 / secs
                } else {
                    bytes as f64 / secs / (1 << 20) as f64
                }
            };
            let run_fio = || {
                if a.no_fio {
                    return f64::NAN;
                }
                let (mib, iops) = fio(&a.file, fbs, qd, frw, a.size, a.secs);
                if random {
                    iops
                } else {
                    mib
                }
            };
            if r % 2 == 0 {
                o.push(run_ours());
                b.push(run_fio());
            } else {
                b.push(run_fio());
                o.push(run_ours());
            }
            eprintln!("  {name} round {r}: ours {:.0} fio {:.0}", o[r], b[r]);
        }
        let (o, b) = (median(o), median(b));
        let unit = if random { "IOPS" } else { "MiB/s" };
        eprintln!("{name}: ours {o:.0} {unit}, fio {b:.0} {unit}");
        if a.no_fio {
            lines.push(format!(
                "bio_bench {name}: ours={o:.0} {unit} (no baseline)"
            ));
        } else {
            lines.push(format!(
                "bio_bench {name}: ours={o:.0} baseline={b:.0} ratio={:.2}",
                o / b
            ));
        }
    }
    for l in lines {
        println!("{l}");
    }
}
