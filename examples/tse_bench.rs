//! tse_bench: task-engine throughput on one core, against tokio's
//! current-thread runtime running the same graph in the same process.
//!
//! Cases (tasks per second, higher is better):
//! - `independent`: 1,000,000 independent tasks created and scheduled, then
//!   run by one `progress()`;
//! - `chain`: a chain of 100,000 tasks, each depending on the previous;
//! - `fanin64`: a parent with 64 dependencies, progressed to completion,
//!   repeated;
//! - `async_spawn`: case `independent` built from async fns via `spawn`;
//! - `write_shape`: the shape of one array write's client side: a parent
//!   task whose body and completion callback capture state, four update
//!   tasks (capturing bodies, a completion callback each, a value on the
//!   task stack), the parent depending on them; tasks counted per second
//!   (tokio: the same futures, each update awaited by the parent).
//!
//! `--case NAME` runs one case; `--ours` runs only rdaos's side (for `valgrind --tool=callgrind` or
//! `--tool=dhat`, whose instruction and allocation counts do not depend on
//! the machine's load).
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
const WRITE_ROUNDS: usize = 200_000;

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

/// Per-update state a layer keeps on the task stack (as `obj_auxi`).
struct Auxi {
    dkey: u64,
    len: u64,
}

fn ours_write_shape(s: &Sched, rounds: usize) -> f64 {
    let acked = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let mut kids: Vec<Task> = Vec::with_capacity(4);
    rate(rounds * 5, || {
        for r in 0..rounds {
            let off = r as u64;
            let parent = s.create_named("dc_array_write", move |t| {
                std::hint::black_box(off);
                t.complete(0)
            });
            let a = acked.clone();
            parent
                .register_comp_cb(move |t| {
                    a.set(a.get() + 1);
                    t.result()
                })
                .unwrap();
            kids.clear();
            for dkey in 0..4u64 {
                let k = s.create_named("dc_obj_update", move |t| {
                    t.stack_push(Auxi { dkey, len: off }).unwrap();
                    t.complete(0)
                });
                let a = acked.clone();
                k.register_comp_cb(move |t| {
                    let x: Auxi = t.stack_pop().unwrap();
                    a.set(a.get() + (x.dkey ^ x.len) % 2);
                    0
                })
                .unwrap();
                kids.push(k);
            }
            parent.register_deps(&kids).unwrap();
            parent.schedule(false).unwrap();
            for k in &kids {
                k.schedule(false).unwrap();
            }
            assert_eq!(s.progress_until(&parent), 0);
        }
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

fn tokio_write_shape(rounds: usize) -> f64 {
    let rt = rt();
    let acked = std::rc::Rc::new(std::cell::Cell::new(0u64));
    rate(rounds * 5, || {
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async {
            for r in 0..rounds {
                let off = r as u64;
                let kids: Vec<_> = (0..4u64)
                    .map(|dkey| {
                        let a = acked.clone();
                        tokio::task::spawn_local(async move {
                            let x = Auxi { dkey, len: off };
                            a.set(a.get() + (x.dkey ^ x.len) % 2);
                        })
                    })
                    .collect();
                let a = acked.clone();
                let parent = tokio::task::spawn_local(async move {
                    for k in kids {
                        k.await.unwrap();
                    }
                    std::hint::black_box(off);
                    a.set(a.get() + 1);
                });
                parent.await.unwrap();
            }
        })
    })
}

fn main() {
    let mut rounds = 5usize;
    let mut scale = 1.0f64;
    let mut only_ours = false;
    let mut only_case: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(rounds),
            "--scale" => scale = args.next().and_then(|v| v.parse().ok()).unwrap_or(scale),
            "--ours" => only_ours = true,
            "--case" => only_case = args.next(),
            "-h" | "--help" => {
                println!("usage: tse_bench [--rounds N] [--scale F] [--ours] [--case NAME]");
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
    let writes = sz(WRITE_ROUNDS);
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
        (
            "write_shape",
            Box::new(|| ours_write_shape(&s, writes)),
            Box::new(|| tokio_write_shape(writes)),
        ),
    ];
    let mut lines = Vec::new();
    for (name, ours, base) in &cases {
        if only_case.as_deref().is_some_and(|c| c != *name) {
            continue;
        }
        let (mut o, mut b) = (Vec::new(), Vec::new());
        if only_ours {
            for _ in 0..rounds {
                o.push(ours());
            }
            let o = median(o);
            eprintln!("{name:12} ours {:>7.2} M tasks/s", o / 1e6);
            lines.push(format!("tse_bench {name}: ours={o:.0}"));
            continue;
        }
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
