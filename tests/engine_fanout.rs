//! Cross-crate: a client scheduler fans a write out over engine targets,
//! each a scheduler on its own thread, the way the object layer will (one
//! update task per dkey, one shard RPC each, the reply completing the
//! client task from the target's thread). Checks that results and errors
//! come back to the right tasks, that the callback, event-queue and async
//! styles agree, and that every scheduler drains.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rdaos::tse::{depend_list, der, list_sched, Eq, RemoteSched, Sched, Task};

const TARGETS: usize = 4;

struct Engine {
    targets: Vec<RemoteSched>,
    stop: Arc<AtomicBool>,
    handled: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<bool>>,
}

impl Engine {
    /// Starts `TARGETS` target threads.
    fn start() -> Engine {
        let stop = Arc::new(AtomicBool::new(false));
        let handled = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        let threads = (0..TARGETS)
            .map(|_| {
                let (stop, tx) = (stop.clone(), tx.clone());
                std::thread::spawn(move || {
                    let s = Sched::new();
                    tx.send(s.remote()).unwrap();
                    while !stop.load(Ordering::Acquire) {
                        if s.progress() == 0 {
                            std::thread::yield_now();
                        }
                    }
                    s.drain(Duration::from_secs(5))
                })
            })
            .collect();
        let targets: Vec<RemoteSched> = (0..TARGETS).map(|_| rx.recv().unwrap()).collect();
        Engine {
            targets,
            stop,
            handled,
            threads,
        }
    }

    /// dc_obj_shard_rw: sends the update for `dkey` to its target; the
    /// target's handler task (delayed a little, to shuffle the replies)
    /// completes the client task from the target thread. Target
    /// `fail_target` fails every update whose dkey is odd.
    fn shard_rw(&self, client_task: &Task, dkey: u64, fail_target: usize) {
        let tgt = (dkey as usize * 2654435761) % TARGETS;
        let reply = client_task.remote();
        let handled = self.handled.clone();
        self.targets[tgt].post(move |s| {
            let h = s.create_named("ds_obj_rw_handler", move |h| {
                handled.fetch_add(1, Ordering::Relaxed);
                let rc = if tgt == fail_target && dkey % 2 == 1 {
                    -der::DER_IO
                } else {
                    0
                };
                reply.complete(rc);
                h.complete(rc);
            });
            h.schedule_delayed(Duration::from_micros(dkey % 7 * 50))
                .unwrap();
        });
    }

    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Release);
        for t in &self.targets {
            t.wake();
        }
        for th in self.threads {
            assert!(th.join().unwrap(), "an engine target did not drain");
        }
        self.handled.load(Ordering::Relaxed)
    }
}

/// dc_array_io: one update per dkey, each depending on its shard RPC.
fn array_write(client: &Sched, engine: &Engine, dkeys: std::ops::Range<u64>, fail: usize) -> Task {
    let parent = client.create_named("dc_array_io", |t| t.complete(0));
    let updates: Vec<Task> = dkeys
        .map(|dkey| {
            let upd = client.create_named("dc_obj_update", |_| {});
            engine.shard_rw(&upd, dkey, fail);
            upd
        })
        .collect();
    depend_list(&parent, &updates).unwrap();
    list_sched(&updates, true).unwrap();
    parent.schedule(false).unwrap();
    parent
}

#[test]
fn fanout_over_engine_targets_returns_first_error_and_drains() {
    let client = Sched::new();
    let engine = Engine::start();

    // 1. Callback style: the parent runs once every update is in and
    //    completes with the first error (none here).
    let w = array_write(&client, &engine, 1..65, usize::MAX);
    assert_eq!(client.progress_until(&w), 0);

    // 2. Event queue: 8 writes in flight from one thread; target 1 fails odd dkeys.
    let eq = Eq::new(&client);
    for w in 0..8u64 {
        let t = client.create(|t| t.complete(0));
        let base = w * 16 + 1;
        let parts: Vec<Task> = (base..base + 16)
            .map(|dkey| {
                let upd = client.create_named("dc_obj_update", |_| {});
                engine.shard_rw(&upd, dkey, 1);
                upd.schedule(true).unwrap();
                upd
            })
            .collect();
        t.register_deps(&parts).unwrap();
        eq.launch(&t, w).unwrap();
    }
    let mut events = Vec::new();
    while events.len() < 8 {
        events.extend(eq.poll(8, Some(Duration::from_secs(10))));
    }
    // Each write covers 16 dkeys; some odd dkey lands on target 1 in each.
    for e in &events {
        let base = e.user_data * 16 + 1;
        let expect_fail =
            (base..base + 16).any(|d| (d as usize * 2654435761) % TARGETS == 1 && d % 2 == 1);
        assert_eq!(
            e.rc,
            if expect_fail { -der::DER_IO } else { 0 },
            "write {}",
            e.user_data
        );
    }

    // 3. Async style over the same engine.
    let parts: Vec<Task> = (1000..1032)
        .map(|dkey| {
            let upd = client.create_named("dc_obj_update", |_| {});
            engine.shard_rw(&upd, dkey, usize::MAX);
            upd.schedule(true).unwrap();
            upd
        })
        .collect();
    let jh = client.spawn(async move {
        let mut ok = 0;
        for p in parts {
            if p.await.is_ok() {
                ok += 1;
            }
        }
        ok
    });
    assert_eq!(client.block_on(jh), Ok(32));

    assert!(client.drain(Duration::from_secs(5)), "client drains");
    let handled = engine.stop();
    assert_eq!(handled, 64 + 8 * 16 + 32);
}
