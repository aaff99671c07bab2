//! Where rdaos follows DAOS's `tse.c` and where it keeps a choice of its
//! own, one test per rule: `tse_sched_complete` with and without cancel,
//! scheduler completion callbacks and user data, `reset` after a prep
//! callback completed the task, the task stack across a reinit, and the
//! two kept differences (a completed failed dependency still propagates;
//! other threads post to a scheduler's owner).

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use tse::{der, Error, Sched, Task};

/// Counts drops.
struct DropCount(Rc<Cell<u32>>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// What a completion callback saw: name, result, reinit refused.
type Seen = Rc<RefCell<Vec<(&'static str, i32, bool)>>>;

/// Registers a completion callback that records the task's name and
/// result, and tries (and records the refusal of) a reinit.
fn record(t: &Task, seen: &Seen) {
    let seen = seen.clone();
    t.register_comp_cb(move |t| {
        let reinit_refused = matches!(t.reinit(), Err(Error::NoPerm(_)));
        seen.borrow_mut()
            .push((t.name(), t.result(), reinit_refused));
        0
    })
    .unwrap();
}

#[test]
fn sched_complete_cancel_gives_each_task_its_result_and_runs_its_callbacks() {
    let s = Sched::new();
    let ran = Rc::new(Cell::new(0));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let body = |name: &'static str| {
        let ran = ran.clone();
        let t = s.create_named(name, move |t| {
            ran.set(ran.get() + 1);
            t.complete(0);
        });
        record(&t, &seen);
        t
    };
    let queued = body("queued");
    queued.schedule(false).unwrap();
    let sleeping = body("sleeping");
    sleeping
        .schedule_delayed(Duration::from_secs(3600))
        .unwrap();
    // Blocked on two dependencies, one of which already failed: the task
    // already has an error, which the cancel does not overwrite.
    let failed = s.create(|t| t.complete(-der::DER_IO));
    let gate = s.create_empty("gate");
    let blocked = body("blocked");
    blocked
        .register_deps(&[failed.clone(), gate.clone()])
        .unwrap();
    blocked.schedule(false).unwrap();
    failed.schedule(true).unwrap();
    // Ran, waiting for an external completion (an RPC reply).
    let waiting = s.create_named("waiting", |_| {});
    record(&waiting, &seen);
    waiting.schedule(true).unwrap();
    let sched_rc = Rc::new(Cell::new(None));
    let r = sched_rc.clone();
    s.register_comp_cb(move |_, rc| {
        r.set(Some(rc));
        0
    })
    .unwrap();

    s.complete(-der::DER_NO_PERM, true);

    assert_eq!(ran.get(), 0, "no canceled body runs");
    assert_eq!(queued.try_result(), Some(-der::DER_CANCELED));
    assert_eq!(sleeping.try_result(), Some(-der::DER_CANCELED));
    assert_eq!(blocked.try_result(), Some(-der::DER_IO), "its error stays");
    assert_eq!(waiting.try_result(), Some(-der::DER_CANCELED));
    let mut seen = seen.borrow().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("blocked", -der::DER_IO, true),
            ("queued", -der::DER_CANCELED, true),
            ("sleeping", -der::DER_CANCELED, true),
            ("waiting", -der::DER_CANCELED, true),
        ],
        "every callback ran once, saw the result, and could not re-init"
    );
    // The scheduler's result is the first task error (DER_IO completed
    // before the cancel), so `ret` did not replace it.
    assert_eq!(sched_rc.get(), Some(-der::DER_IO));
    assert_eq!(s.first_error(), -der::DER_IO);
    // Closed: nothing new runs, other threads' posts are refused.
    let late = s.create(|t| t.complete(0));
    assert_eq!(late.try_result(), Some(-der::DER_CANCELED));
    assert!(matches!(gate.schedule(false), Err(Error::NoPerm(_))));
    assert!(!s.remote().post(|_| {}));
    assert!(matches!(
        s.register_comp_cb(|_, _| 0),
        Err(Error::NoPerm(_))
    ));
}

#[test]
fn sched_complete_without_cancel_waits_for_every_task() {
    let s = Sched::new();
    let ran = Rc::new(Cell::new(0));
    let mk = |rc: i32| {
        let ran = ran.clone();
        s.create(move |t| {
            ran.set(ran.get() + 1);
            t.complete(rc);
        })
    };
    mk(0).schedule(false).unwrap();
    mk(0).schedule_delayed(Duration::from_millis(5)).unwrap();
    // Completed by another thread while the scheduler waits.
    let rpc = s.create_empty("rpc");
    rpc.schedule(false).unwrap();
    let reply = rpc.remote();
    let th = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        reply.complete_once(0);
    });
    let order = Rc::new(RefCell::new(Vec::new()));
    for n in [1, 2] {
        let o = order.clone();
        s.register_comp_cb(move |_, rc| {
            o.borrow_mut().push((n, rc));
            0
        })
        .unwrap();
    }
    s.complete(-der::DER_BUSY, false);
    th.join().unwrap();
    assert_eq!(ran.get(), 2, "both scheduled bodies ran");
    assert_eq!(rpc.try_result(), Some(0));
    assert!(s.is_idle());
    // No task failed: `ret` is the result; callbacks ran last first.
    assert_eq!(*order.borrow(), [(2, -der::DER_BUSY), (1, -der::DER_BUSY)]);
    assert_eq!(s.first_error(), -der::DER_BUSY);
    // A second call changes nothing.
    s.complete(0, true);
    assert_eq!(order.borrow().len(), 2);
}

#[test]
fn sched_comp_cb_return_sets_the_result_and_udata_lives_until_completion() {
    let drops = Rc::new(Cell::new(0));
    let seen = Rc::new(Cell::new(None));
    let s2 = seen.clone();
    // tse_sched_init(comp_cb, udata): the callback reads the user data.
    let s = Sched::init(
        move |sched, rc| {
            let got = sched.with_udata(|u: &mut (u32, DropCount)| u.0);
            s2.set(Some((got, rc)));
            -der::DER_AGAIN
        },
        (7u32, DropCount(drops.clone())),
    );
    assert_eq!(s.with_udata(|u: &mut (u32, DropCount)| u.0), Some(7));
    assert!(s.take_udata::<String>().is_none(), "wrong type stays");
    let t = s.create(|t| t.complete(0));
    t.schedule(true).unwrap();
    s.complete(0, false);
    assert_eq!(seen.get(), Some((Some(7), 0)));
    assert_eq!(s.first_error(), -der::DER_AGAIN, "the callback's return");
    assert_eq!(drops.get(), 1, "user data dropped at completion");
    assert!(s.with_udata(|u: &mut (u32, DropCount)| u.0).is_none());
}

#[test]
fn dropping_a_sched_runs_its_completion_callbacks_once() {
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let handle;
    {
        let s = Sched::new();
        s.register_comp_cb(move |_, rc| {
            // The canceled task's result is the scheduler's.
            assert_eq!(rc, -der::DER_CANCELED);
            c.set(c.get() + 1);
            0
        })
        .unwrap();
        let t = s.create_empty("never");
        t.schedule(false).unwrap();
        handle = t;
    }
    assert_eq!(calls.get(), 1);
    assert_eq!(handle.try_result(), Some(-der::DER_CANCELED));
}

#[test]
fn reset_works_after_a_prep_callback_completed_the_task() {
    let s = Sched::new();
    let later_prep = Rc::new(Cell::new(false));
    let body_ran = Rc::new(Cell::new(false));
    let b = body_ran.clone();
    let t = s.create(move |t| {
        b.set(true);
        t.complete(0);
    });
    t.register_prep_cb(|t| {
        t.complete(-der::DER_INVAL);
        0
    })
    .unwrap();
    let lp = later_prep.clone();
    t.register_prep_cb(move |_| {
        lp.set(true);
        0
    })
    .unwrap();
    t.schedule(false).unwrap();
    assert_eq!(s.progress_until(&t), -der::DER_INVAL);
    assert!(!later_prep.get() && !body_ran.get(), "neither ran");
    // DAOS dropped the moot prep callback, so reset is allowed.
    t.reset(|t| t.complete(0)).unwrap();
    t.schedule(false).unwrap();
    assert_eq!(s.progress_until(&t), 0);
    assert!(
        !later_prep.get(),
        "a dropped prep callback never comes back"
    );
}

#[test]
fn a_prep_callback_that_reinits_leaves_the_later_ones_for_the_next_attempt() {
    // rdaos's choice (DAOS runs the later prep callbacks at once, before
    // the new attempt's dependencies are done): they run just before the
    // body they prepare.
    let s = Sched::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let t = s.create(move |t| {
        l.borrow_mut().push("body");
        t.complete(0);
    });
    let gate = s.create_empty("gate");
    let (g, l) = (gate.clone(), log.clone());
    t.register_prep_cb(move |t| {
        l.borrow_mut().push("prep1");
        t.register_dep(&g).unwrap();
        t.reinit().unwrap();
        0
    })
    .unwrap();
    let l = log.clone();
    t.register_prep_cb(move |_| {
        l.borrow_mut().push("prep2");
        0
    })
    .unwrap();
    t.schedule(false).unwrap();
    s.progress();
    assert_eq!(*log.borrow(), ["prep1"], "prep2 waits for the gate");
    gate.complete(0);
    assert_eq!(s.progress_until(&t), 0);
    assert_eq!(*log.borrow(), ["prep1", "prep2", "body"]);
}

#[test]
fn the_stack_is_empty_after_a_reinit_and_the_next_attempt_reads_back_its_values() {
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    struct ObjAuxi {
        retry_cnt: u32,
        map_ver: u64,
    }
    let s = Sched::new();
    let used_at_start = Rc::new(RefCell::new(Vec::new()));
    let u = used_at_start.clone();
    let t = s.create(move |t| {
        u.borrow_mut().push(t.stack_used());
        // obj_task_init_common: push the per-operation state; the fields
        // a retry keeps come from the last attempt.
        t.stack_push_with(|prev: Option<ObjAuxi>| {
            let prev = prev.unwrap_or_default();
            ObjAuxi {
                retry_cnt: prev.retry_cnt,
                map_ver: 9,
            }
        })
        .unwrap();
        // A popped value is gone: it is not read back.
        t.stack_push(0xdead_u64).unwrap();
        assert_eq!(t.stack_pop::<u64>(), Ok(0xdead));
        t.complete(-der::DER_STALE);
    });
    // obj_comp_cb: bump the retry count in place and retry, leaving the
    // state on the stack.
    fn comp(t: &Task) -> i32 {
        let retries = t
            .stack_with_top(|a: &mut ObjAuxi| {
                a.retry_cnt += 1;
                a.retry_cnt
            })
            .unwrap();
        if t.result() == -der::DER_STALE && retries < 3 {
            t.register_comp_cb_and_reinit(comp, None).unwrap();
            return 0;
        }
        t.stack_pop::<ObjAuxi>().unwrap();
        0
    }
    t.register_comp_cb(comp).unwrap();
    t.schedule(false).unwrap();
    assert_eq!(s.progress_until(&t), -der::DER_STALE);
    assert_eq!(
        *used_at_start.borrow(),
        [0, 0, 0],
        "every attempt starts with an empty stack"
    );
    assert_eq!(t.stack_used(), 0);

    // Another type at the same depth reads back nothing.
    let saw = Rc::new(Cell::new(None));
    let w = saw.clone();
    let first = Cell::new(true);
    let v = s.create(move |t| {
        if first.replace(false) {
            t.stack_push(5u32).unwrap();
            t.reinit().unwrap();
            return;
        }
        t.stack_push_with(|prev: Option<u64>| {
            w.set(Some(prev));
            1
        })
        .unwrap();
        t.complete(0);
    });
    v.schedule(false).unwrap();
    assert_eq!(s.progress_until(&v), 0);
    assert_eq!(saw.get(), Some(None));
    // reset starts a new job with nothing to read back.
    let r = s.create(|t| {
        t.stack_push(11u32).unwrap();
        t.complete(0);
    });
    r.schedule(true).unwrap();
    assert_eq!(r.stack_pop::<u32>(), Ok(11));
    r.stack_push(12u32).unwrap();
    let got = Rc::new(Cell::new(Some(0)));
    let g = got.clone();
    r.reset(move |t| {
        t.stack_push_with(|prev: Option<u32>| {
            g.set(prev);
            0
        })
        .unwrap();
        t.complete(0);
    })
    .unwrap();
    assert_eq!(r.stack_used(), 0);
    r.schedule(true).unwrap();
    assert_eq!(got.get(), None);
}

#[test]
fn kept_choice_a_completed_failed_dependency_still_propagates() {
    // DAOS ignores a dependency that completed before the registration;
    // rdaos hands its error over, so a fan-out that registers late cannot
    // report success over a failed part.
    let s = Sched::new();
    let failed = s.create(|t| t.complete(-der::DER_NOSPACE));
    failed.schedule(true).unwrap();
    assert!(failed.is_completed());
    let parent = s.create(|t| t.complete(0));
    parent.register_dep(&failed).unwrap();
    parent.schedule(true).unwrap();
    assert_eq!(parent.try_result(), Some(-der::DER_NOSPACE));
    // Opting out works as for a running dependency.
    let tolerant = s.create(|t| t.complete(0));
    tolerant.disable_propagate();
    tolerant.register_dep(&failed).unwrap();
    tolerant.schedule(true).unwrap();
    assert_eq!(tolerant.try_result(), Some(0));
}

#[test]
fn kept_choice_other_threads_post_and_the_owner_applies_at_progress() {
    // DAOS locks the scheduler for any thread; rdaos's scheduler belongs
    // to one thread and others post: nothing they send takes effect
    // before the owner's next progress().
    let s = Sched::new();
    let t = s.create_empty("rpc");
    t.schedule(false).unwrap();
    let remote = t.remote();
    let rs = s.remote();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        remote.complete_once(0);
        assert!(rs.post(move |_| r.store(true, Ordering::SeqCst)));
        tx.send(()).unwrap();
    })
    .join()
    .unwrap();
    rx.recv().unwrap();
    assert!(!t.is_completed(), "not before the owner's progress");
    assert!(!ran.load(Ordering::SeqCst));
    assert_eq!(s.progress(), 2, "the completion and the closure");
    assert_eq!(t.try_result(), Some(0));
    assert!(ran.load(Ordering::SeqCst));
}
