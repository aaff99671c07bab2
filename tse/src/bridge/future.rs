//! Layer 4, the bridge to futures: a [`Task`] is a future of its result
//! (and a [`TaskOut`] of its typed output),
//! [`SchedHandle::spawn`] turns a future into a task, and
//! [`SchedHandle::block_on`] drives a future from a plain thread.
//!
//! A spawned future is a task whose "body" is its first poll: it runs when
//! the task is ready, and the task completes when the future finishes.
//! Wake-ups go through the scheduler's run queue, which any thread may push
//! to (`async-task` supplies the runnable/waker plumbing), so a waker fired
//! by an engine thread wakes the client's `progress()`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::data::slot::{Body, State};
use crate::error::{rc_to_result, Error};
use crate::handle::output::{OutputCell, TaskOut};
use crate::sched::{SchedHandle, Shared, Task};

/// Polls `task` for completion: its status once completed, else the
/// waker is kept (once per distinct waker) and woken at completion.
fn poll_status(task: &Task, cx: &mut Context<'_>) -> Poll<i32> {
    let mut core = task.inner.core.borrow_mut();
    let s = core.slot(task.key);
    if s.state == State::Completed {
        return Poll::Ready(s.result);
    }
    let wakers = &mut s.extra().wakers;
    if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
        wakers.push(cx.waker().clone());
    }
    Poll::Pending
}

impl Future for Task {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        poll_status(&self, cx).map(rc_to_result)
    }
}

impl<T, C: OutputCell<T>> Future for TaskOut<T, C> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        poll_status(&self.task, cx).map(|rc| self.finish(rc))
    }
}

/// The handle of a spawned future: a future of its output, plus the task
/// that represents it in the dependency graph.
///
/// Dropping the handle detaches the future (it keeps running).
pub struct JoinHandle<T> {
    task: Task,
    fut: Option<async_task::FallibleTask<T>>,
}

impl<T> JoinHandle<T> {
    /// The task that completes when the future finishes; other tasks may
    /// depend on it.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// True once the future has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_completed()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Ready(Err(Error::NoPerm("output already taken")));
        };
        match Pin::new(fut).poll(cx) {
            Poll::Ready(out) => {
                self.fut = None;
                Poll::Ready(out.ok_or(Error::Canceled))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(f) = self.fut.take() {
            f.detach();
        }
    }
}

fn spawn<F>(sched: &SchedHandle, fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let task = sched.inner.create("spawn", Body::None);
    let done = task.clone();
    let wrapped = async move {
        let out = fut.await;
        done.complete(0);
        out
    };
    let shared = sched.inner.shared.clone();
    let (runnable, handle) = async_task::spawn_local(wrapped, move |r| shared.schedule_runnable(r));
    sched.inner.core.borrow_mut().slot(task.key).body = Body::Future(runnable);
    if let Err(e) = task.schedule(false) {
        // Torn-down scheduler: the future never runs.
        sched.inner.core.borrow_mut().slot(task.key).body = Body::None;
        task.complete(e.rc());
    }
    JoinHandle {
        task,
        fut: Some(handle.fallible()),
    }
}

struct BlockOnWaker {
    woken: AtomicBool,
    shared: Arc<Shared>,
}

impl Wake for BlockOnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.shared.kick();
    }
}

fn block_on<F: Future>(sched: &SchedHandle, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let state = Arc::new(BlockOnWaker {
        woken: AtomicBool::new(true),
        shared: sched.inner.shared.clone(),
    });
    let waker = Waker::from(state.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if state.woken.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        }
        if sched.progress() == 0 && !state.woken.load(Ordering::Acquire) {
            sched.wait(None);
        }
    }
}

impl SchedHandle {
    /// Runs `fut` to completion on this thread, progressing the scheduler
    /// while it waits. The future need not be `'static`.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        block_on(self, fut)
    }

    /// Spawns a future as a task of this scheduler. The returned handle is a
    /// future of its output and gives the task ([`JoinHandle::task`]) that
    /// other tasks may depend on.
    ///
    pub fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn(self, fut)
    }
}
