//! One test per TSE semantic, named after it (DAOS's sched.c tests and the
//! rules in tse.h, as rdaos implements them).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tse::{der, list_abort, list_sched, Eq, Error, Sched, Task};

type Log = Rc<RefCell<Vec<&'static str>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

/// A task whose body logs its name and completes with `rc`.
fn leaf(s: &Sched, log: &Log, name: &'static str, rc: i32) -> Task {
    let log = log.clone();
    s.create_named(name, move |t| {
        log.borrow_mut().push(name);
        t.complete(rc);
    })
}

#[test]
fn deps_order() {
    let s = Sched::new();
    let l = log();
    let a = leaf(&s, &l, "a", 0);
    let b = leaf(&s, &l, "b", 0);
    let c = leaf(&s, &l, "c", 0);
    // c depends on b, b depends on a; schedule in reverse order.
    c.register_dep(&b).unwrap();
    b.register_dep(&a).unwrap();
    c.schedule(false).unwrap();
    b.schedule(false).unwrap();
    assert_eq!(s.progress(), 0, "nothing ready before a is scheduled");
    assert!(l.borrow().is_empty());
    a.schedule(false).unwrap();
    assert_eq!(s.progress_until(&c), 0);
    assert_eq!(*l.borrow(), ["a", "b", "c"]);
    assert!(s.is_idle());
}

#[test]
fn already_complete_deps() {
    let s = Sched::new();
    let l = log();
    let ok = leaf(&s, &l, "ok", 0);
    let bad = leaf(&s, &l, "bad", -der::DER_IO);
    ok.schedule(true).unwrap();
    bad.schedule(true).unwrap();
    assert!(ok.is_completed() && bad.is_completed());
    let p = leaf(&s, &l, "p", 0);
    p.register_dep(&ok).unwrap();
    // Ready at once: an instant schedule runs the body inline.
    p.schedule(true).unwrap();
    assert_eq!(p.try_result(), Some(0));
    // A completed failed dep still hands its error over.
    let q = leaf(&s, &l, "q", 0);
    q.register_deps(&[bad]).unwrap();
    q.schedule(true).unwrap();
    assert_eq!(q.try_result(), Some(-der::DER_IO));
}

#[test]
fn failed_dep_propagates() {
    let s = Sched::new();
    let l = log();
    let d1 = leaf(&s, &l, "d1", -der::DER_IO);
    let d2 = leaf(&s, &l, "d2", -der::DER_NOSPACE);
    let seen = Rc::new(Cell::new(1));
    let seen2 = seen.clone();
    // The parent still runs (DAOS: it is not canceled) and sees the error.
    let p = s.create(move |t| {
        seen2.set(t.result());
        t.complete(0);
    });
    p.register_deps(&[d1.clone(), d2.clone()]).unwrap();
    p.schedule(false).unwrap();
    d1.schedule(false).unwrap();
    d2.schedule(false).unwrap();
    assert_eq!(s.progress_until(&p), -der::DER_IO, "first error wins");
    assert_eq!(seen.get(), -der::DER_IO);
    assert_eq!(s.first_error(), -der::DER_IO);

    // With propagation disabled the parent keeps its own result.
    let d3 = leaf(&s, &l, "d3", -der::DER_IO);
    let q = leaf(&s, &l, "q", 0);
    q.disable_propagate();
    q.register_dep(&d3).unwrap();
    q.schedule(false).unwrap();
    d3.schedule(false).unwrap();
    assert_eq!(s.progress_until(&q), 0);
    assert_eq!(d3.try_result(), Some(-der::DER_IO));
}

#[test]
fn lifo_completion_callbacks() {
    let s = Sched::new();
    let l = log();
    let t = s.create(|t| t.complete(0));
    for name in ["first", "second", "third"] {
        let l = l.clone();
        t.register_comp_cb(move |_| {
            l.borrow_mut().push(name);
            0
        })
        .unwrap();
    }
    let l2 = l.clone();
    t.register_comp_cb_last(move |_| {
        l2.borrow_mut().push("event");
        0
    })
    .unwrap();
    // A failing callback sets the result when it is still 0.
    t.register_comp_cb(|_| -der::DER_AGAIN).unwrap();
    t.schedule(true).unwrap();
    assert_eq!(*l.borrow(), ["third", "second", "first", "event"]);
    assert_eq!(t.try_result(), Some(-der::DER_AGAIN));
    // Completed: no more callbacks.
    assert!(matches!(t.register_comp_cb(|_| 0), Err(Error::NoPerm(_))));
}

#[test]
fn prep_callbacks() {
    let s = Sched::new();
    let l = log();
    let lb = l.clone();
    let t = s.create(move |t| {
        lb.borrow_mut().push("body");
        t.complete(0);
    });
    for name in ["p1", "p2", "p3"] {
        let l = l.clone();
        t.register_prep_cb(move |_| {
            l.borrow_mut().push(name);
            0
        })
        .unwrap();
    }
    // Prep callbacks make the task not ready: instant is ignored.
    t.schedule(true).unwrap();
    assert!(l.borrow().is_empty());
    s.progress_until(&t);
    assert_eq!(*l.borrow(), ["p1", "p2", "p3", "body"]);

    // A prep callback that completes the task skips the rest and the body.
    let l = log();
    let lb = l.clone();
    let u = s.create(move |t| {
        lb.borrow_mut().push("body");
        t.complete(0);
    });
    let lp = l.clone();
    u.register_prep_cb(move |t| {
        lp.borrow_mut().push("stop");
        t.complete(-der::DER_CANCELED);
        0
    })
    .unwrap();
    let lp = l.clone();
    u.register_prep_cb(move |_| {
        lp.borrow_mut().push("never");
        0
    })
    .unwrap();
    u.schedule(false).unwrap();
    assert_eq!(s.progress_until(&u), -der::DER_CANCELED);
    assert_eq!(*l.borrow(), ["stop"]);
}

#[test]
fn reinit_reruns_body() {
    let s = Sched::new();
    let runs = Rc::new(Cell::new(0));
    let r = runs.clone();
    let t = s.create(move |t| {
        r.set(r.get() + 1);
        t.complete(-der::DER_AGAIN);
    });
    // The retry pattern: a completion callback re-inits until success.
    fn retry(t: &Task, left: Rc<Cell<u32>>) -> i32 {
        if t.result() == -der::DER_AGAIN && left.get() > 0 {
            left.set(left.get() - 1);
            let l = left.clone();
            t.register_comp_cb_and_reinit(move |t| retry(t, l), None)
                .unwrap();
        }
        0
    }
    let left = Rc::new(Cell::new(3));
    let l = left.clone();
    t.register_comp_cb(move |t| retry(t, l)).unwrap();
    t.schedule(false).unwrap();
    assert_eq!(s.progress_until(&t), -der::DER_AGAIN);
    assert_eq!(runs.get(), 4, "first run plus three retries");
    assert_eq!(left.get(), 0);

    // A body may re-init its own task; each run happens at a later pass,
    // never by recursion (DAOS sched test 3 does this millions of times).
    let n = Rc::new(Cell::new(0u32));
    let n2 = n.clone();
    let u = s.create(move |t| {
        n2.set(n2.get() + 1);
        if n2.get() < 100_000 {
            t.reinit().unwrap();
        } else {
            t.complete(0);
        }
    });
    u.schedule(true).unwrap();
    assert_eq!(n.get(), 1);
    s.progress();
    assert_eq!(n.get(), 100_000);
    assert!(u.is_completed());

    // A completed task can be re-initialised from outside, with a delay.
    let start = Instant::now();
    u.reinit_delayed(Duration::from_millis(30)).unwrap();
    assert_eq!(s.progress_until(&u), 0);
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(n.get(), 100_001);

    // Not allowed on a task that has not run yet.
    let v = s.create(|t| t.complete(0));
    assert!(matches!(v.reinit(), Err(Error::NoPerm(_))));
}

#[test]
fn stack_push_pop_and_overflow() {
    let s = Sched::new();
    let t = s.create(|t| t.complete(0));
    #[derive(Debug, PartialEq)]
    struct ObjAuxi {
        retry: u32,
        map_ver: u64,
    }
    t.stack_push(7u8).unwrap();
    t.stack_push(ObjAuxi {
        retry: 1,
        map_ver: 9,
    })
    .unwrap();
    assert_eq!(t.stack_used(), 8 + 16);
    // Wrong type on top: an error, and the value stays.
    assert_eq!(t.stack_pop::<u8>(), Err(Error::StackType));
    t.stack_with_top(|a: &mut ObjAuxi| a.retry += 1).unwrap();
    assert_eq!(
        t.stack_pop::<ObjAuxi>(),
        Ok(ObjAuxi {
            retry: 2,
            map_ver: 9
        })
    );
    assert_eq!(t.stack_pop::<u8>(), Ok(7));
    assert_eq!(t.stack_pop::<u8>(), Err(Error::StackEmpty));
    // Bounded: 880 bytes, then an error value (not an assert).
    for _ in 0..(tse::TASK_STACK_SIZE / 64) {
        t.stack_push([0u8; 64]).unwrap();
    }
    let err = t.stack_push([0u8; 64]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::StackFull {
                need: 64,
                free: 48,
                cap: 880
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.rc(), -der::DER_NOMEM);
}

#[test]
fn private_args() {
    let s = Sched::new();
    let t = s.create(|t| {
        let sum = t
            .with_priv(|v: &mut Vec<u32>| v.iter().sum::<u32>())
            .unwrap();
        t.complete(-(sum as i32));
    });
    assert!(t.set_priv(vec![1u32, 2, 3]).is_none());
    assert!(
        t.take_priv::<String>().is_none(),
        "wrong type leaves it in place"
    );
    t.schedule(true).unwrap();
    assert_eq!(t.try_result(), Some(-6));
    assert_eq!(t.take_priv::<Vec<u32>>(), Some(vec![1, 2, 3]));
}

#[test]
fn list_sched_fanout() {
    // The dc_array_io shape: the body creates one child per dkey, registers
    // them as deps of its own task, and schedules the list instantly; the
    // parent completes by itself with the first child error.
    let s = Sched::new();
    let order = log();
    let o = order.clone();
    let parent = s.create_named("dc_array_io", move |t| {
        let sched = t.sched();
        let kids: Vec<Task> = (0..4)
            .map(|i| {
                let o = o.clone();
                sched.create_named("dc_obj_update", move |k| {
                    o.borrow_mut().push("child");
                    k.complete(if i == 2 { -der::DER_IO } else { 0 });
                })
            })
            .collect();
        tse::depend_list(t, &kids).unwrap();
        list_sched(&kids, true).unwrap();
        o.borrow_mut().push("body returns");
    });
    let o = order.clone();
    parent
        .register_comp_cb(move |_| {
            o.borrow_mut().push("parent done");
            0
        })
        .unwrap();
    parent.schedule(true).unwrap();
    // Everything ran inline: children, then the parent's auto-completion.
    assert_eq!(parent.try_result(), Some(-der::DER_IO));
    assert_eq!(
        *order.borrow(),
        [
            "child",
            "child",
            "child",
            "child",
            "parent done",
            "body returns"
        ]
    );

    // list_abort completes tasks that never ran; list_depend/traverse.
    let root = s.create(|t| t.complete(0));
    let ran = Rc::new(Cell::new(0));
    let kids: Vec<Task> = (0..3)
        .map(|_| {
            let r = ran.clone();
            s.create(move |t| {
                r.set(r.get() + 1);
                t.complete(0);
            })
        })
        .collect();
    tse::list_depend(&kids, &root).unwrap();
    list_sched(&kids, false).unwrap();
    list_abort(&kids[1..], -der::DER_CANCELED);
    root.schedule(false).unwrap();
    s.drain(Duration::from_secs(5));
    assert_eq!(ran.get(), 1);
    let mut seen = vec![];
    let rc = tse::list_traverse(&kids, |t| {
        seen.push(t.result());
        0
    });
    assert_eq!(rc, 0);
    assert_eq!(seen, [0, -der::DER_CANCELED, -der::DER_CANCELED]);
}

#[test]
fn instant_vs_deferred() {
    let s = Sched::new();
    let ran = Rc::new(Cell::new(0));
    let mk = |ran: &Rc<Cell<i32>>| {
        let r = ran.clone();
        s.create(move |t| {
            r.set(r.get() + 1);
            t.complete(0);
        })
    };
    let a = mk(&ran);
    a.schedule(true).unwrap();
    assert_eq!(ran.get(), 1, "instant + ready: ran inline");
    let b = mk(&ran);
    b.schedule(false).unwrap();
    assert_eq!(ran.get(), 1, "deferred: waits for progress");
    s.progress();
    assert_eq!(ran.get(), 2);
    // instant is ignored while a dependency is pending.
    let dep = s.create_empty("dep");
    let c = mk(&ran);
    c.register_dep(&dep).unwrap();
    c.schedule(true).unwrap();
    assert_eq!(ran.get(), 2);
    dep.complete(0);
    s.progress();
    assert_eq!(ran.get(), 3);
    // Scheduling twice is refused.
    assert!(matches!(c.schedule(false), Err(Error::NoPerm(_))));
    assert!(matches!(
        s.create(|_| {}).schedule_delayed(Duration::ZERO),
        Ok(())
    ));
}

#[test]
fn reset_reuses_task() {
    let s = Sched::new();
    let t = s.create(|t| t.complete(-1));
    t.schedule(true).unwrap();
    assert_eq!(t.try_result(), Some(-1));
    t.reset(|t| t.complete(0)).unwrap();
    assert!(!t.is_completed());
    t.schedule(true).unwrap();
    assert_eq!(t.try_result(), Some(0));
    let running = s.create(|_| {});
    running.schedule(true).unwrap();
    assert!(matches!(running.reset(|_| {}), Err(Error::NoPerm(_))));
    running.complete(0);
}

#[test]
fn delayed_schedule() {
    let s = Sched::new();
    let t = s.create(|t| t.complete(0));
    let start = Instant::now();
    t.schedule_delayed(Duration::from_millis(40)).unwrap();
    assert_eq!(s.progress(), 0);
    assert!(!t.is_completed());
    assert_eq!(s.progress_until(&t), 0);
    assert!(start.elapsed() >= Duration::from_millis(40));
}

/// Counts drops, to prove teardown releases everything.
struct DropCount(Rc<Cell<u32>>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn cancel_at_teardown() {
    let drops = Rc::new(Cell::new(0));
    let ran = Rc::new(Cell::new(false));
    let results = Rc::new(RefCell::new(Vec::new()));
    let handles;
    {
        let s = Sched::new();
        let mk = |name: &'static str| {
            let d = DropCount(drops.clone());
            let r = ran.clone();
            let t = s.create_named(name, move |t| {
                let _keep = &d;
                r.set(true);
                t.complete(0);
            });
            let res = results.clone();
            let d2 = DropCount(drops.clone());
            t.register_comp_cb(move |t| {
                let _keep = &d2;
                res.borrow_mut().push((t.name(), t.result()));
                0
            })
            .unwrap();
            t
        };
        let sleeping = mk("sleeping");
        sleeping
            .schedule_delayed(Duration::from_secs(3600))
            .unwrap();
        let blocker = s.create_empty("blocker");
        let blocked = mk("blocked");
        blocked.register_dep(&blocker).unwrap();
        blocked.schedule(false).unwrap();
        // A task that ran and waits for an external completion, and holds a
        // handle to itself (a cycle teardown must break).
        let waiting = s.create_named("waiting", |_| {});
        let me = waiting.clone();
        let d = DropCount(drops.clone());
        waiting
            .register_comp_cb(move |_| {
                let _keep = (&me, &d);
                0
            })
            .unwrap();
        waiting.schedule(true).unwrap();
        // A pending future.
        let fut_drop = DropCount(drops.clone());
        let never = s.create_empty("never");
        let jh = s.spawn(async move {
            let _keep = fut_drop;
            never.await
        });
        s.progress();
        // Scheduled after the last progress: never runs.
        let queued = mk("queued");
        queued.schedule(false).unwrap();
        handles = (queued, sleeping, blocked, waiting, jh.task().clone());
        // `s` dropped here: teardown.
    }
    assert!(!ran.get(), "no body ran");
    let (queued, sleeping, blocked, waiting, spawned) = handles;
    for t in [&queued, &sleeping, &blocked, &waiting, &spawned] {
        assert_eq!(t.try_result(), Some(-der::DER_CANCELED), "{t:?}");
    }
    let mut r = results.borrow().clone();
    r.sort();
    assert_eq!(
        r,
        [
            ("blocked", -der::DER_CANCELED),
            ("queued", -der::DER_CANCELED),
            ("sleeping", -der::DER_CANCELED)
        ]
    );
    // 3 tasks x (body + callback) + waiting's callback + the future.
    assert_eq!(
        drops.get(),
        3 * 2 + 1 + 1,
        "everything the tasks owned was dropped"
    );
    // Handles outliving the scheduler see it closed.
    assert!(matches!(queued.reinit(), Err(Error::NoPerm(_))));
    let late = queued.sched().create(|_| {});
    assert_eq!(late.try_result(), Some(-der::DER_CANCELED));
}

#[test]
fn event_queue_poll() {
    let s = Sched::new();
    let eq = Eq::new(&s);
    // 32 operations in flight from one thread, completed out of order by
    // an external party (as RPC replies would).
    let tasks: Vec<Task> = (0..32).map(|_| s.create_empty("op")).collect();
    for (i, t) in tasks.iter().enumerate() {
        eq.launch(t, i as u64).unwrap();
    }
    assert_eq!(eq.inflight(), 32);
    assert!(
        eq.poll(8, Some(Duration::from_millis(10))).is_empty(),
        "times out"
    );
    for (i, t) in tasks.iter().enumerate().rev() {
        t.complete(if i % 2 == 0 { 0 } else { -der::DER_IO });
    }
    let mut got = Vec::new();
    while got.len() < 32 {
        got.extend(eq.poll(5, None));
    }
    assert_eq!(eq.inflight(), 0);
    got.sort_by_key(|e| e.user_data);
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.user_data, i as u64);
        assert_eq!(e.rc, if i % 2 == 0 { 0 } else { -der::DER_IO });
    }
}

#[test]
fn dropped_unscheduled_task_releases_dependents() {
    let s = Sched::new();
    let dep = s.create(|t| t.complete(0));
    let parent = s.create(|t| t.complete(0));
    parent.register_dep(&dep).unwrap();
    parent.schedule(false).unwrap();
    drop(dep); // never scheduled: canceled, and the parent learns it
    assert_eq!(s.progress_until(&parent), -der::DER_CANCELED);
}

#[test]
fn self_dependency_is_an_error() {
    let s = Sched::new();
    let t = s.create(|t| t.complete(0));
    assert!(matches!(t.register_dep(&t), Err(Error::Inval(_))));
}

#[test]
fn tracing_records_named_spans_with_parents() {
    let tracer = tse::Tracer::new();
    let s = Sched::new();
    s.set_tracer("client", Some(tracer.clone()));
    let (tx, rx) = mpsc::channel::<tse::RemoteSched>();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let t2 = tracer.clone();
    let engine = std::thread::spawn(move || {
        let e = Sched::new();
        e.set_tracer("tgt0", Some(t2));
        tx.send(e.remote()).unwrap();
        while stop_rx.try_recv().is_err() {
            if e.progress() == 0 {
                std::thread::yield_now();
            }
        }
    });
    let target = rx.recv().unwrap();
    let parent = s.create_named("dc_array_io", move |t| {
        let upd = t.sched().create_named("dc_obj_update", |_| {});
        let reply = upd.remote();
        let parent_id = upd.id();
        target.post(move |e| {
            let h = e.create_named("ds_obj_rw_handler", |h| h.complete(0));
            h.set_parent(parent_id);
            h.schedule(true).unwrap();
            reply.complete(0);
        });
        t.register_dep(&upd).unwrap();
        upd.schedule(true).unwrap();
        // Unnamed tasks are not traced.
        s_unnamed(t);
    });
    fn s_unnamed(t: &Task) {
        t.sched().create(|u| u.complete(0)).schedule(true).unwrap();
    }
    parent.schedule(true).unwrap();
    assert_eq!(s.progress_until(&parent), 0);
    stop_tx.send(()).unwrap();
    engine.join().unwrap();
    let spans = tracer.spans();
    let by = |n: &str| spans.iter().find(|x| x.name == n).cloned().unwrap();
    let (array, update, handler) = (
        by("dc_array_io"),
        by("dc_obj_update"),
        by("ds_obj_rw_handler"),
    );
    assert_eq!(spans.len(), 3, "{spans:?}");
    assert_eq!(update.parent, array.id);
    assert_eq!(handler.parent, update.id);
    assert_eq!((array.sched, handler.sched), ("client", "tgt0"));
    assert!(update.start_ns <= handler.end_ns && handler.end_ns <= update.end_ns);
    assert!(array.end_ns >= update.end_ns);
    assert_ne!(
        array.id >> 40,
        handler.id >> 40,
        "ids carry their scheduler"
    );
}

#[test]
fn steps_nest_under_the_running_task_and_parent_new_tasks() {
    let tracer = tse::Tracer::new();
    let s = Sched::new();
    // Not tracing: a step records nothing and has no id.
    let quiet = s.step("ignored");
    assert_eq!(quiet.id(), 0);
    quiet.end(0);
    s.set_tracer("client", Some(tracer.clone()));
    let t = s.create_named("dc_obj_update", |t| {
        let h = t.sched();
        let outer = h.step("obj_req_fanout");
        let inner = h.step("dc_obj_shard_rw");
        let child = h.create_named("crt_req_send", |c| c.complete(0));
        child.schedule(true).unwrap();
        inner.end(-5);
        let r: Result<(), i32> = Err(-7);
        let _ = outer.end_with(r, |e| *e);
        // After the steps closed, new tasks hang off the task again.
        h.create_named("dc_rw_cb", |c| c.complete(0))
            .schedule(true)
            .unwrap();
        t.complete(0);
    });
    t.schedule(true).unwrap();
    assert_eq!(s.progress_until(&t), 0);
    let spans = tracer.spans();
    let by = |n: &str| spans.iter().find(|x| x.name == n).cloned().unwrap();
    let (task, outer, inner, child, cb) = (
        by("dc_obj_update"),
        by("obj_req_fanout"),
        by("dc_obj_shard_rw"),
        by("crt_req_send"),
        by("dc_rw_cb"),
    );
    assert!(spans.iter().all(|x| x.name != "ignored"));
    assert_eq!(outer.parent, task.id);
    assert_eq!(inner.parent, outer.id);
    assert_eq!(child.parent, inner.id);
    assert_eq!(cb.parent, task.id);
    assert_eq!((inner.rc, outer.rc), (-5, -7));
    assert!(outer.start_ns <= inner.start_ns && inner.end_ns <= outer.end_ns);
    let mut ids: Vec<u64> = spans.iter().map(|x| x.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), spans.len(), "step ids are unique among task ids");
}

#[test]
fn a_sleeping_task_completed_early_does_not_keep_the_scheduler_busy() {
    let s = Sched::new();
    let t = s.create(|t| t.complete(0));
    t.schedule_delayed(Duration::from_secs(60)).unwrap();
    assert!(!s.is_idle());
    t.complete(0);
    let start = Instant::now();
    assert!(s.drain(Duration::from_secs(10)));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "drain waited for a stale sleeper"
    );
}

#[test]
fn a_busy_poller_is_polled_a_while_then_allowed_to_block() {
    // A poller with an operation in flight that only "completes" once the
    // scheduler has let it block: progress_until must first poll it
    // repeatedly (a completion microseconds away is caught without a
    // sleep), then call wait_io, then see the completion.
    struct Slow {
        polls: Rc<Cell<u32>>,
        waited: Rc<Cell<u32>>,
        task: Option<Task>,
    }
    impl tse::Poller for Slow {
        fn poll(&mut self) -> usize {
            self.polls.set(self.polls.get() + 1);
            if self.waited.get() > 0 {
                if let Some(t) = self.task.take() {
                    t.complete(0);
                    return 1;
                }
            }
            0
        }
        fn busy(&self) -> bool {
            self.task.is_some()
        }
        fn wait_io(&mut self, timeout: Duration) -> bool {
            assert!(timeout <= Duration::from_millis(1));
            self.waited.set(self.waited.get() + 1);
            true
        }
    }
    let s = Sched::new();
    let t = s.create_empty("io");
    let (polls, waited) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    s.register_poller(Box::new(Slow {
        polls: polls.clone(),
        waited: waited.clone(),
        task: Some(t.clone()),
    }));
    assert_eq!(s.progress_until(&t), 0);
    assert_eq!(waited.get(), 1);
    assert!(polls.get() > 32, "blocked after only {} polls", polls.get());
}
