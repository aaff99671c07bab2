//! vos_bench: update throughput of a vos target (space reservation, data
//! write, WAL record with group commit, index publish) against raw bio
//! writes of the same data at the same queue depth, on one O_DIRECT file,
//! in one run. Cases: `update1m` (1 MiB values, MiB/s) and `update4k`
//! (4 KiB values, updates/s); epochs in order. For context it also
//! prints raw writes each followed by its own flush (durable, without
//! group commit) and the WAL's records per frame.
//!
//! What each side promises when it counts an operation as done: a raw
//! bio write (the baseline) once the device completed it, no flush.
//! Ours runs under both durability contracts against that one baseline:
//! `device` (line `CASE`) promises the same for the data and the WAL
//! record; `flush` (line `CASE_flush`) promises a flush after them
//! completed too (group commit shares it), like the raw+own flush
//! context line but with one flush per group.
//!
//! Each round runs raw bio, ours under `device` and ours under `flush`
//! (rotating which goes first), then the raw+own-flush context. With the
//! second contract `--secs` went from 3 to 2 to keep the run's length.
//!
//! `cargo run --release -p vos --example vos_bench -- [--file F] [--secs S] [--rounds R] [--qd N]`

use std::time::{Duration, Instant};

use bio::{BioConfig, BioCtx, DevKind, DevOpts, Durability};
use tse::{Sched, Task};
use vos::{ContId, ObjId, Recx, Target};

const TARGET_LEN: u64 = 1 << 30;
const RAW_OFF: u64 = 1 << 30;
const RAW_LEN: u64 = 1 << 30;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Keeps `qd` operations from `submit` in flight for `secs`; ops/s.
fn drive(s: &Sched, qd: usize, secs: f64, mut submit: impl FnMut(u64) -> Task) -> f64 {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut n = 0u64;
    let mut inflight: Vec<Task> = (0..qd)
        .map(|_| {
            n += 1;
            submit(n)
        })
        .collect();
    let mut done = 0u64;
    while !inflight.is_empty() {
        s.progress();
        let mut i = 0;
        while i < inflight.len() {
            match inflight[i].try_result() {
                Some(rc) => {
                    assert_eq!(rc, 0, "operation failed");
                    done += 1;
                    if Instant::now() < deadline {
                        n += 1;
                        inflight[i] = submit(n);
                        i += 1;
                    } else {
                        inflight.swap_remove(i);
                    }
                }
                None => i += 1,
            }
        }
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let mut file = "/tmp/rdaos-vos-bench.dat".to_string();
    let (mut secs, mut rounds, mut qd) = (2.0f64, 3usize, 32usize);
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--file" => file = v,
            "--secs" => secs = v.parse().expect("--secs S"),
            "--rounds" => rounds = v.parse().expect("--rounds R"),
            "--qd" => qd = v.parse().expect("--qd N"),
            _ => {
                eprintln!("usage: vos_bench [--file F] [--secs S] [--rounds R] [--qd N]");
                std::process::exit(2);
            }
        }
    }
    let s = Sched::new();
    let opts = DevOpts {
        kind: DevKind::File,
        create_size: Some(TARGET_LEN + RAW_LEN),
        iopoll: None,
    };
    // One context per contract on the same file (the targets of each are
    // made fresh in the same region, one at a time); raw writes go
    // through the first, they never flush under either.
    let contracts = [Durability::Device, Durability::Flush];
    let ctxs: Vec<BioCtx> = contracts
        .iter()
        .map(|&durability| {
            let cfg = BioConfig {
                durability,
                ..BioConfig::default()
            };
            let ctx = BioCtx::open(&s, &file, &opts, &cfg).expect("open the bench file");
            assert_eq!(ctx.durability(), durability);
            ctx
        })
        .collect();
    let ctx = &ctxs[0];
    eprintln!(
        "vos_bench: raw bio writes (done once the device completed them, no flush) against \
         vos updates under device (the same promise) and flush (a flush after them)"
    );
    let mut epoch = 1u64;
    let mut lines = Vec::new();
    for (name, len, unit) in [
        ("update1m", 1usize << 20, "MiB/s"),
        ("update4k", 4096, "updates/s"),
    ] {
        let data = vec![0x6bu8; len];
        let (mut base, mut flushed) = (Vec::new(), Vec::new());
        let mut ours: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for r in 0..rounds {
            let oid = ObjId::new(0x0201_0001_0000_0000, 1);
            let dkeys = (TARGET_LEN / 2 / len as u64).max(1);
            // Ours under the contract of `ctxs[i]`: a fresh target so
            // space never runs out. Returns updates/s and records per
            // WAL frame.
            let mut run_ours = |i: usize| {
                let t = Target::create(&ctxs[i], 0, TARGET_LEN, 1, 0, 1).expect("create target");
                let c = t.cont_create(ContId(1), "bench").expect("create container");
                let rate = drive(&s, qd, secs, |n| {
                    epoch += 1;
                    // Aggregate (and reuse space) every ~quarter of the target.
                    if n % (dkeys / 2).max(64) == 0 {
                        t.aggregate(epoch - qd as u64).expect("aggregate");
                    }
                    let dkey = (n % dkeys + 1).to_be_bytes();
                    c.update_array(oid, &dkey, b"0", epoch, Recx::new(0, len as u64), 1, &data)
                        .expect("update")
                });
                let (recs, frames) = t.wal_counters();
                (rate, recs as f64 / frames.max(1) as f64)
            };
            let slots = RAW_LEN / len as u64;
            let run_raw = || {
                drive(&s, qd, secs, |n| {
                    ctx.write(RAW_OFF + (n % slots) * len as u64, &data)
                        .expect("write")
                })
            };
            // Context, not the baseline: raw writes each made durable by
            // a flush after it completes (durability without group
            // commit), at the same queue depth.
            let run_raw_flush = || {
                drive(&s, qd, secs, |n| {
                    let w = ctx
                        .write(RAW_OFF + (n % slots) * len as u64, &data)
                        .expect("write");
                    let done = s.create_empty("write_then_flush");
                    let (d, c) = (done.clone(), ctx.clone());
                    w.register_comp_cb(move |w| {
                        if w.result() != 0 {
                            d.complete(w.result());
                            return 0;
                        }
                        let d = d.clone();
                        let _ = c.sync().register_comp_cb(move |f| {
                            d.complete(f.result());
                            0
                        });
                        0
                    })
                    .expect("callback");
                    done.schedule(true).expect("schedule");
                    done
                })
            };
            // Sides: 0 raw, 1 ours under device, 2 ours under flush; the
            // first one moves along each round.
            let (mut b, mut o, mut per_frame) = (0.0, [0.0; 2], [0.0; 2]);
            for k in 0..3 {
                match (r + k) % 3 {
                    0 => b = run_raw(),
                    i => (o[i - 1], per_frame[i - 1]) = run_ours(i - 1),
                }
            }
            let bf = run_raw_flush();
            flushed.push(bf);
            // 1 MiB values: ops/s is MiB/s.
            eprintln!(
                "  {name} round {r}: raw bio {b:.0}, ours device {:.0} flush {:.0}, \
                 raw+own flush {bf:.0} {unit} ({:.1} / {:.1} records per WAL frame)",
                o[0], o[1], per_frame[0], per_frame[1]
            );
            base.push(b);
            for i in 0..2 {
                ours[i].push(o[i]);
            }
        }
        let b = median(base);
        let bf = median(flushed);
        for (d, v) in contracts.iter().zip(ours) {
            let o = median(v);
            if *d == Durability::Flush {
                eprintln!(
                    "  {name}: raw bio, each write then its own flush: {bf:.0}; ours flush/that = {:.2}",
                    o / bf
                );
            }
            let suffix = if *d == Durability::Flush {
                "_flush"
            } else {
                ""
            };
            lines.push(format!(
                "vos_bench {name}{suffix}: ours={o:.0} baseline={b:.0} ratio={:.2}",
                o / b
            ));
        }
    }
    for l in lines {
        println!("{l}");
    }
}
