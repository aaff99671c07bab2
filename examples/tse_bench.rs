//! tse_bench: task-engine throughput on one core, against tokio's
//! current-thread runtime running the same graph in the same process.
//!
//! Cases (tasks per second, higher is better):
//! - `independent`: 1,000,000 independent tasks created and scheduled, then
//!   run by one `progress()`;
//! - `chain`: a chain of 100,000 tasks, each depending on the previous;
//! - `fanin64`: a parent with 64 dependencies, progressed to completion,
//!   repeated;
//! - `async_spawn`: case `independent` built from async fns via `spawn`.
//!
//! Each case runs `--rounds` times (default 5) and the median is reported.
//! Run: `cargo run --release --example tse_bench [-- --rounds N --scale F]`.

// A benchmark: it stops at the first failure, with its message.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use tse::{Sched, Task};

const INDEPENDENT: usize = 1_000_000;
const CHAIN: usize = 100_000;
const FANIN_DEPS: usize = 64;
const FANIN_ROUNDS: usize = 15_000;

fn rate(tasks: usize, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    tasks as f64 / t.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

// ---- ours -------------------------------------------------------------------

fn ours_independent(s: &Sched, n: usize) -> f64 {
    rate(n, || {
        for _ in 0..n {
            s.create(|t| t.complete(0)).schedule(false).unwrap();
        }
        s.progress();
        assert!(s.is_idle());
    })
}

fn ours_chain(s: &Sched, n: usize) -> f64 {
    rate(n, || {
        let mut prev = s.create(|t| t.complete(0));
        let first = prev.clone();
        for _ in 1..n {
            let t = s.create(|t| t.complete(0));
            t.register_dep(&prev).unwrap();
            t.schedule(false).unwrap();
            prev = t;
        }
        first.schedule(false).unwrap();
        assert_eq!(s.progress_until(&prev), 0);
    })
}

fn ours_fanin(s: &Sched, deps: usize, rounds: usize) -> f64 {
    let mut kids: Vec<Task> = Vec::with_capacity(deps);
    rate(rounds * (deps + 1), || {
        for _ in 0..rounds {
            let parent = s.create(|t| t.complete(0));
            kids.clear();
            kids.extend((0..deps).map(|_| s.create(|t| t.complete(0))));
            parent.register_deps(&kids).unwrap();
            parent.schedule(false).unwrap();
            for k in &kids {
                k.schedule(false).unwrap();
            }
            assert_eq!(s.progress_until(&parent), 0);
        }
    })
}

fn ours_async(s: &Sched, n: usize) -> f64 {
    rate(n, || {
        for i in 0..n {
            let jh = s.spawn(async move { std::hint::black_box(i) });
            drop(jh);
        }
        s.progress();
        assert!(s.is_idle());
    })
}

// ---- tokio baseline -----------------------------------------------------------

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn tokio_independent(n: usize) -> f64 {
    let rt = rt();
    rate(n, || {
        rt.block_on(async {
            let hs: Vec<_> = (0..n)
                .map(|i| tokio::spawn(async move { std::hint::black_box(i) }))
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        })
    })
}

fn tokio_chain(n: usize) -> f64 {
    let rt = rt();
    rate(n, || {
        rt.block_on(async {
            let mut prev = tokio::spawn(async {});
            for _ in 1..n {
                let p = prev;
                prev = tokio::spawn(async move { p.await.unwrap() });
            }
            prev.await.unwrap();
        })
    })
}

fn tokio_fanin(deps: usize, rounds: usize) -> f64 {
    let rt = rt();
    rate(rounds * (deps + 1), || {
        rt.block_on(async {
            for _ in 0..rounds {
                let kids: Vec<_> = (0..deps).map(|_| tokio::spawn(async {})).collect();
                let parent = tokio::spawn(async move {
                    for k in kids {
                        k.await.unwrap();
                    }
                });
                parent.await.unwrap();
            }
        })
    })
}

fn main() {
    let mut rounds = 5usize;
    let mut scale = 1.0f64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(rounds),
            "--scale" => scale = args.next().and_then(|v| v.parse().ok()).unwrap_or(scale),
            "-h" | "--help" => {
                println!("usage: tse_bench [--rounds N] [--scale F]");
                return;
            }
            other => {
                eprintln!("tse_bench: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    let sz = |n: usize| ((n as f64 * scale) as usize).max(1);
    let (ind, chain, fanr) = (sz(INDEPENDENT), sz(CHAIN), sz(FANIN_ROUNDS));
    // One long-lived scheduler, as an engine target or client thread has;
    // tokio likewise allocates its tasks from the process's warm heap.
    let s = Sched::new();
    type Case<'a> = (
        &'static str,
        Box<dyn Fn() -> f64 + 'a>,
        Box<dyn Fn() -> f64 + 'a>,
    );
    let cases: Vec<Case> = vec![
        (
            "independent",
            Box::new(|| ours_independent(&s, ind)),
            Box::new(|| tokio_independent(ind)),
        ),
        (
            "chain",
            Box::new(|| ours_chain(&s, chain)),
            Box::new(|| tokio_chain(chain)),
        ),
        (
            "fanin64",
            Box::new(|| ours_fanin(&s, FANIN_DEPS, fanr)),
            Box::new(|| tokio_fanin(FANIN_DEPS, fanr)),
        ),
        (
            "async_spawn",
            Box::new(|| ours_async(&s, ind)),
            Box::new(|| tokio_independent(ind)),
        ),
    ];
    let mut lines = Vec::new();
    for (name, ours, base) in &cases {
        let (mut o, mut b) = (Vec::new(), Vec::new());
        for r in 0..rounds {
            // Alternate which goes first so neither always gets a warm cache.
            if r % 2 == 0 {
                o.push(ours());
                b.push(base());
            } else {
                b.push(base());
                o.push(ours());
            }
        }
        let (o, b) = (median(o), median(b));
        eprintln!(
            "{name:12} ours {:>7.2} M tasks/s   tokio {:>7.2} M tasks/s",
            o / 1e6,
            b / 1e6
        );
        lines.push(format!(
            "tse_bench {name}: ours={o:.0} baseline={b:.0} ratio={:.2}",
            o / b
        ));
    }
    for l in lines {
        println!("{l}");
    }
}
