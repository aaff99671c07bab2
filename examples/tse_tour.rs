//! A tour of the task engine in the seed's shape.
//!
//! One write of 3 MiB walks down the stack the way DAOS does it: a
//! `dfs_write` task runs `dc_array_io` inline, which cuts the range at 1 MiB
//! chunk boundaries and fans out one `dc_obj_update` task per dkey
//! (registered as dependencies of its own task, then scheduled as a list).
//! Each update pushes its per-layer state on the task stack and "sends" the
//! shard RPC to an engine target, a second scheduler on its own thread,
//! which runs `ds_obj_rw_handler` and completes the client task from there.
//! The completions unwind through the callbacks, last registered first.
//!
//! No storage is touched here: the point is the task graph, its threads and
//! its completion order. (The write examples arrive with the dfs layer.)
//!
//! Run: `cargo run --release --example tse_tour`

// A demonstration program: it stops at the first failure, with its message.
#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::time::Instant;

use tse::{depend_list, list_sched, RemoteSched, Sched, Task};

const CHUNK: u64 = 1 << 20;

fn say(start: Instant, who: &str, what: String) {
    println!(
        "{:>8.1} us  {who:<7} {what}",
        start.elapsed().as_secs_f64() * 1e6
    );
}

/// The per-layer state dc_obj_update keeps on the task stack.
struct ObjAuxi {
    dkey: u64,
    len: u64,
}

fn main() {
    let start = Instant::now();
    // The engine target: its own thread and scheduler.
    let (tx, rx) = mpsc::channel::<RemoteSched>();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let engine = std::thread::spawn(move || {
        let s = Sched::new();
        tx.send(s.remote()).unwrap();
        while stop_rx.try_recv().is_err() {
            if s.progress() == 0 {
                std::thread::yield_now();
            }
        }
    });
    let target = rx.recv().unwrap();

    let client = Sched::new();
    let (off, len) = (512 * 1024u64, 3 * CHUNK);
    let target2 = target.clone();
    let dfs_write = client.create_named("dfs_write", move |t| {
        say(
            start,
            "client",
            format!("dfs_write off={off} len={len}: dc_array_io inline"),
        );
        // dc_array_io: one dc_obj_update per dkey (dkey = idx / chunk + 1).
        let mut updates: Vec<Task> = Vec::new();
        let mut idx = off;
        while idx < off + len {
            let dkey = idx / CHUNK + 1;
            let n = (CHUNK - idx % CHUNK).min(off + len - idx);
            let target = target2.clone();
            let upd = t.sched().create_named("dc_obj_update", move |u| {
                u.stack_push(ObjAuxi { dkey, len: n }).unwrap();
                say(
                    start,
                    "client",
                    format!("dc_obj_update dkey={dkey} len={n}: shard rpc"),
                );
                // crt_req_send: the engine completes this task when done.
                let reply = u.remote();
                target.post(move |engine| {
                    let h = engine.create_named("ds_obj_rw_handler", move |h| {
                        say(start, "engine", format!("ds_obj_rw_handler dkey={dkey}"));
                        h.complete(0);
                    });
                    h.schedule(true).unwrap();
                    reply.complete(0); // obj_rw_reply
                });
            });
            upd.register_comp_cb(move |u| {
                let auxi: ObjAuxi = u.stack_pop().unwrap();
                say(
                    start,
                    "client",
                    format!("dc_rw_cb dkey={} len={}", auxi.dkey, auxi.len),
                );
                0
            })
            .unwrap();
            updates.push(upd);
            idx += n;
        }
        depend_list(t, &updates).unwrap();
        list_sched(&updates, true).unwrap();
    });
    dfs_write
        .register_comp_cb(move |t| {
            say(start, "client", format!("dfs_write done rc={}", t.result()));
            0
        })
        .unwrap();
    dfs_write.schedule(true).unwrap();
    let rc = client.progress_until(&dfs_write);
    stop_tx.send(()).unwrap();
    engine.join().unwrap();
    println!(
        "write completed with rc={rc}; client scheduler idle: {}",
        client.is_idle()
    );
    std::process::exit(if rc == 0 { 0 } else { 1 });
}
