//! Property test: random DAGs of up to ~2,000 tasks with random failures,
//! retries, propagation switches, instant/deferred schedules and random
//! schedule orders. Every task runs exactly as often as its retries ask,
//! never before all of its deps completed, and ends with the result that
//! the failures imply.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::rc::Rc;

use proptest::prelude::*;
use tse::{Sched, Task};

#[derive(Debug, Clone)]
struct Node {
    /// Each value picks a dependency among the earlier nodes.
    deps: Vec<u32>,
    fails: bool,
    retries: u8,
    instant: bool,
    no_propagate: bool,
    /// The body registers a child on its own task instead of completing
    /// (the dc_array_io fan-out shape): the task completes with the child.
    fan_out: bool,
}

fn node() -> impl Strategy<Value = Node> {
    (
        prop::collection::vec(any::<u32>(), 0..4),
        prop::bool::weighted(0.1),
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(deps, fails, retries, instant, no_propagate, fan_out)| Node {
                deps,
                fails,
                retries,
                instant,
                no_propagate,
                fan_out,
            },
        )
}

#[derive(Default)]
struct World {
    /// Completion order, as node indices.
    completed: Vec<usize>,
    done: Vec<bool>,
    runs: Vec<u32>,
    violations: Vec<String>,
    /// For each node, the first non-zero dep result, in completion order.
    first_dep_error: Vec<i32>,
}

fn own_rc(i: usize, n: &Node) -> i32 {
    if n.fails {
        -(10_000 + i as i32)
    } else {
        0
    }
}

fn run_dag(nodes: &[Node], order_seed: u64) -> Result<(), TestCaseError> {
    let s = Sched::new();
    let count = nodes.len();
    let deps: Vec<Vec<usize>> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut d: Vec<usize> = if i == 0 {
                vec![]
            } else {
                n.deps.iter().map(|r| i - 1 - (*r as usize % i)).collect()
            };
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    let mut dependents: Vec<Vec<usize>> = vec![vec![]; count];
    for (i, d) in deps.iter().enumerate() {
        for &p in d {
            dependents[p].push(i);
        }
    }
    let world = Rc::new(RefCell::new(World {
        done: vec![false; count],
        runs: vec![0; count],
        first_dep_error: vec![0; count],
        ..World::default()
    }));
    let deps = Rc::new(deps);
    let dependents = Rc::new(dependents);

    let tasks: Vec<Task> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let w = world.clone();
            let d = deps.clone();
            let rc = own_rc(i, n);
            let fan_out = n.fan_out;
            let t = s.create(move |t| {
                {
                    let mut w = w.borrow_mut();
                    w.runs[i] += 1;
                    if let Some(&p) = d[i].iter().find(|&&p| !w.done[p]) {
                        w.violations
                            .push(format!("task {i} ran before its dep {p}"));
                    }
                }
                if fan_out {
                    let child = t.sched().create(move |c| c.complete(rc));
                    t.register_dep(&child).unwrap();
                    child.schedule(false).unwrap();
                } else {
                    t.complete(rc);
                }
            });
            if n.no_propagate {
                t.disable_propagate();
            }
            // Retries: a completion callback re-inits `retries` times.
            fn retry(t: &Task, left: u8) -> i32 {
                if left > 0 {
                    t.register_comp_cb_and_reinit(move |t| retry(t, left - 1), None)
                        .unwrap();
                }
                0
            }
            let left = n.retries;
            t.register_comp_cb(move |t| retry(t, left)).unwrap();
            // Registered first, so it runs last: records the final completion.
            let w = world.clone();
            let dd = dependents.clone();
            t.register_comp_cb_last(move |t| {
                let mut w = w.borrow_mut();
                let r = t.result();
                w.done[i] = true;
                w.completed.push(i);
                if r != 0 {
                    for &c in &dd[i] {
                        if w.first_dep_error[c] == 0 {
                            w.first_dep_error[c] = r;
                        }
                    }
                }
                0
            })
            .unwrap();
            t
        })
        .collect();
    for (i, t) in tasks.iter().enumerate() {
        let ds: Vec<Task> = deps[i].iter().map(|&p| tasks[p].clone()).collect();
        t.register_deps(&ds).unwrap();
    }
    // Schedule in a random order (a simple LCG permutation).
    let mut order: Vec<usize> = (0..count).collect();
    let mut x = order_seed | 1;
    for k in (1..count).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        order.swap(k, (x >> 33) as usize % (k + 1));
    }
    for &i in &order {
        tasks[i].schedule(nodes[i].instant).unwrap();
    }
    prop_assert!(
        s.drain(std::time::Duration::from_secs(30)),
        "scheduler did not drain"
    );

    let w = world.borrow();
    prop_assert!(
        w.violations.is_empty(),
        "{:?}",
        &w.violations[..w.violations.len().min(5)]
    );
    prop_assert_eq!(
        w.completed.len(),
        count,
        "every task completes exactly once"
    );
    for (i, n) in nodes.iter().enumerate() {
        prop_assert_eq!(w.runs[i], n.retries as u32 + 1, "runs of task {}", i);
        // A reinit clears the result, so only a task that never retried
        // keeps a propagated error.
        let expect = if n.retries == 0 && !n.no_propagate && w.first_dep_error[i] != 0 {
            w.first_dep_error[i]
        } else if n.fan_out && n.no_propagate {
            0 // its own status only reaches it through the child's propagation
        } else {
            own_rc(i, n)
        };
        prop_assert_eq!(tasks[i].try_result(), Some(expect), "result of task {}", i);
    }
    prop_assert!(s.is_idle());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_dags_run_each_task_as_asked_and_in_order(
        nodes in prop::collection::vec(node(), 1..2000),
        order_seed in any::<u64>(),
    ) {
        run_dag(&nodes, order_seed)?;
    }
}
