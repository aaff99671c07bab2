//! The bridges: tasks as futures, and tasks and schedulers reached from
//! other threads (split from `semantics.rs`).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use tse::{der, Error, Sched};

#[test]
fn waker_from_another_thread() {
    let s = Sched::new();
    let (tx, rx) = mpsc::channel::<std::task::Waker>();
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f2 = flag.clone();
    // A future that parks its waker with another thread, which sets the
    // flag and wakes it 50 ms later.
    let fut = std::future::poll_fn(move |cx| {
        if f2.load(std::sync::atomic::Ordering::Acquire) {
            std::task::Poll::Ready(42)
        } else {
            tx.send(cx.waker().clone()).unwrap();
            std::task::Poll::Pending
        }
    });
    let f3 = flag.clone();
    let waker_thread = std::thread::spawn(move || {
        let w = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        f3.store(true, std::sync::atomic::Ordering::Release);
        w.wake();
    });
    let jh = s.spawn(fut);
    let task = jh.task().clone();
    // progress_until parks; the remote wake must unpark it.
    assert_eq!(s.progress_until(&task), 0);
    assert_eq!(s.block_on(jh), Ok(42));
    waker_thread.join().unwrap();
}

#[test]
fn async_awaits_callback_task() {
    let s = Sched::new();
    let cb_task = s.create(|t| t.complete(-der::DER_NOSPACE));
    let t2 = cb_task.clone();
    let jh = s.spawn(async move {
        let r = t2.clone().await;
        (r, t2.result())
    });
    s.progress();
    assert!(!jh.is_finished(), "waits for the callback task");
    cb_task.schedule(false).unwrap();
    let (r, rc) = s.block_on(jh).unwrap();
    assert_eq!(r, Err(Error::Failed(-der::DER_NOSPACE)));
    assert_eq!(rc, -der::DER_NOSPACE);
}

#[test]
fn callback_task_depends_on_async() {
    let s = Sched::new();
    let gate = s.create_empty("gate");
    let g = gate.clone();
    let jh = s.spawn(async move {
        g.await.unwrap();
        7
    });
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let after = s.create(move |t| {
        r.set(true);
        t.complete(0);
    });
    after.register_deps(&[jh.task().clone()]).unwrap();
    after.schedule(false).unwrap();
    s.progress();
    assert!(!ran.get());
    gate.complete(0);
    assert_eq!(s.progress_until(&after), 0);
    assert!(ran.get());
    assert_eq!(s.block_on(jh), Ok(7));
}

#[test]
fn cross_sched_deps() {
    // A task on this thread's scheduler depends on a task of a scheduler
    // driven by another thread, and that thread completes it.
    let client = Sched::new();
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let engine = std::thread::spawn(move || {
        let s = Sched::new();
        let t = s.create_named("ds_obj_rw_handler", |t| t.complete(-der::DER_IO));
        tx.send(t.remote()).unwrap();
        // Let the client register its dependency first, then run.
        done_rx.recv().unwrap();
        t.schedule(false).unwrap();
        assert_eq!(s.progress_until(&t), -der::DER_IO);
        assert!(s.drain(Duration::from_secs(5)), "engine scheduler drains");
    });
    let remote = rx.recv().unwrap();
    let parent = client.create_named("dc_obj_shard_rw", |t| t.complete(0));
    parent
        .register_remote_deps(std::slice::from_ref(&remote))
        .unwrap();
    parent.schedule(false).unwrap();
    drop(remote);
    done_tx.send(()).unwrap();
    assert_eq!(
        client.progress_until(&parent),
        -der::DER_IO,
        "error crossed threads"
    );
    assert!(
        client.drain(Duration::from_secs(5)),
        "client scheduler drains"
    );
    engine.join().unwrap();
}

#[test]
fn remote_complete_and_post() {
    // An engine thread completes a client task (the RPC reply), and posts
    // a closure to run on the client's thread.
    let client = Sched::new();
    let rpc = client.create_empty("crt_req_send");
    rpc.schedule(false).unwrap();
    let remote = rpc.remote();
    let rs = client.remote();
    let hit = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let h = hit.clone();
    let th = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        assert!(rs.post(move |_| {
            h.store(1, std::sync::atomic::Ordering::SeqCst);
        }));
        remote.complete(0);
    });
    assert_eq!(client.progress_until(&rpc), 0);
    th.join().unwrap();
    client.progress();
    assert_eq!(hit.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn remote_complete_once_completes_and_releases() {
    // The task's body owns a guard: it is dropped when the task's slot
    // is freed, i.e. when the last reference (here the remote one) goes.
    struct Guard(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let client = Sched::new();
    for once in [true, false] {
        let freed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let guard = Guard(freed.clone());
        let rpc = client.create_named("crt_req_send", move |_| {
            let _ = &guard;
        });
        rpc.schedule(false).unwrap();
        let seen = std::rc::Rc::new(std::cell::Cell::new(0));
        let s2 = seen.clone();
        rpc.register_comp_cb(move |t| {
            s2.set(t.result());
            0
        })
        .unwrap();
        let remote = rpc.remote();
        drop(rpc);
        let (tx, rx) = std::sync::mpsc::channel();
        let th = std::thread::spawn(move || {
            if once {
                remote.complete_once(-der::DER_IO);
            } else {
                remote.complete(-der::DER_IO);
                // Still held: the task cannot be freed yet.
                rx.recv().unwrap();
                drop(remote);
            }
        });
        while seen.get() == 0 {
            client.progress();
        }
        assert_eq!(seen.get(), -der::DER_IO);
        client.progress();
        assert_eq!(
            freed.load(std::sync::atomic::Ordering::SeqCst),
            once,
            "freed with the completion only when the handle went with it"
        );
        tx.send(()).ok();
        th.join().unwrap();
        client.progress();
        assert!(freed.load(std::sync::atomic::Ordering::SeqCst));
    }
}
