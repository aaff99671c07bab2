//! A task's typed output: the value a task produces besides its status.
//!
//! A task's result is an `i32` status, as in DAOS; what an operation hands
//! back (the bytes a fetch read, an RPC's reply, a `stat`) goes through a
//! cell the task's body fills and its caller takes. Each layer used to
//! keep its own such cell; these are the shared ones:
//!
//! * [`Output`]: a cell for one thread (the task and its caller share a
//!   scheduler);
//! * [`SendOutput`]: a cell another thread may fill (an engine target
//!   answering a client's RPC) before it completes the task through a
//!   [`RemoteTask`](crate::RemoteTask);
//! * [`TaskOut`]: a task with its output, which is the three uses of one
//!   operation: awaited (it is a `Future`), waited on ([`TaskOut::wait`]),
//!   or used as a task others depend on ([`TaskOut::task`]).
//!
//! ```
//! use tse::{Sched, TaskOut};
//!
//! let s = Sched::new();
//! // A fetch: the body produces bytes, the status says whether it worked.
//! let fetch: TaskOut<Vec<u8>> = s.create_out("vos_fetch", |t, out| {
//!     out.set(b"hello".to_vec());
//!     t.complete(0);
//! });
//! // Used as a task: something depends on it.
//! let after = s.create(|t| t.complete(0));
//! after.register_dep(fetch.task()).unwrap();
//! after.schedule(false).unwrap();
//! fetch.task().schedule(false).unwrap();
//! // Waited on: progress until it completes, then its value.
//! assert_eq!(fetch.wait(), Ok(b"hello".to_vec()));
//! assert_eq!(s.progress_until(&after), 0);
//!
//! // Awaited, from a future on the same scheduler; a failed status is the
//! // error, whatever the body left in the cell.
//! let failed: TaskOut<u32> = s.create_out("dc_obj_fetch", |t, out| {
//!     out.set(7);
//!     t.complete(-tse::der::DER_IO);
//! });
//! failed.task().schedule(false).unwrap();
//! let r = s.block_on(failed);
//! assert_eq!(r, Err(tse::Error::Failed(-tse::der::DER_IO)));
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use crate::error::{rc_to_result, Error};
use crate::sched::{SchedHandle, Task};

/// Where a task's value can be taken from once it completed.
pub trait OutputCell<T> {
    /// Takes the value out, if one was set.
    fn take_value(&self) -> Option<T>;
}

/// A task's output on one thread: a cell the task fills and its caller
/// takes. Cheap to clone; every clone is the same cell.
pub struct Output<T> {
    cell: Rc<RefCell<Option<T>>>,
}

impl<T> Output<T> {
    /// An empty output.
    pub fn new() -> Output<T> {
        Output {
            cell: Rc::new(RefCell::new(None)),
        }
    }

    /// Sets the value; returns the one it replaces.
    pub fn set(&self, v: T) -> Option<T> {
        self.cell.borrow_mut().replace(v)
    }

    /// Takes the value out.
    pub fn take(&self) -> Option<T> {
        self.cell.borrow_mut().take()
    }

    /// True if a value is set.
    pub fn is_set(&self) -> bool {
        self.cell.borrow().is_some()
    }
}

impl<T> OutputCell<T> for Output<T> {
    fn take_value(&self) -> Option<T> {
        self.take()
    }
}

impl<T> Clone for Output<T> {
    fn clone(&self) -> Self {
        Output {
            cell: self.cell.clone(),
        }
    }
}

impl<T> Default for Output<T> {
    fn default() -> Self {
        Output::new()
    }
}

impl<T> std::fmt::Debug for Output<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("set", &self.is_set())
            .finish()
    }
}

/// A task's output that other threads may fill: `Send + Sync` when `T`
/// is `Send`. Fill it before completing the task (the completion message
/// is ordered after the fill).
pub struct SendOutput<T> {
    cell: Arc<Mutex<Option<T>>>,
}

impl<T> SendOutput<T> {
    /// An empty output.
    pub fn new() -> SendOutput<T> {
        SendOutput {
            cell: Arc::new(Mutex::new(None)),
        }
    }

    /// Sets the value; returns the one it replaces.
    pub fn set(&self, v: T) -> Option<T> {
        self.cell
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(v)
    }

    /// Takes the value out.
    pub fn take(&self) -> Option<T> {
        self.cell.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// True if a value is set.
    pub fn is_set(&self) -> bool {
        self.cell
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

impl<T> OutputCell<T> for SendOutput<T> {
    fn take_value(&self) -> Option<T> {
        self.take()
    }
}

impl<T> Clone for SendOutput<T> {
    fn clone(&self) -> Self {
        SendOutput {
            cell: self.cell.clone(),
        }
    }
}

impl<T> Default for SendOutput<T> {
    fn default() -> Self {
        SendOutput::new()
    }
}

impl<T> std::fmt::Debug for SendOutput<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendOutput")
            .field("set", &self.is_set())
            .finish()
    }
}

/// A task and its typed output: one operation that can be awaited (it is
/// a `Future` of `Result<T, Error>`), waited on ([`wait`](Self::wait)), or
/// used as a task with dependencies ([`task`](Self::task)); DAOS's three
/// uses of one call (no event, an event, `daos_task_create`).
///
/// Its value is `Ok` when the task completed with status 0 and set a
/// value; a non-zero status is the error (a value the task set anyway is
/// dropped); status 0 without a value is [`Error::NoPerm`]. A layer with
/// its own error type puts a `Result` in the output and maps
/// [`Error`] into it.
pub struct TaskOut<T, C: OutputCell<T> = Output<T>> {
    pub(crate) task: Task,
    pub(crate) out: C,
    pub(crate) _value: std::marker::PhantomData<fn() -> T>,
}

impl<T, C: OutputCell<T>> TaskOut<T, C> {
    /// Pairs `task` with the cell `out` it fills.
    pub fn new(task: Task, out: C) -> TaskOut<T, C> {
        TaskOut {
            task,
            out,
            _value: std::marker::PhantomData,
        }
    }

    /// The task: schedule it, launch it on an [`Eq`](struct@crate::Eq), or
    /// make other tasks depend on it.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// The cell the task fills.
    pub fn output(&self) -> &C {
        &self.out
    }

    /// The value once the task completed (`None` before), as described
    /// on the type.
    pub fn try_take(&self) -> Option<Result<T, Error>> {
        let rc = self.task.try_result()?;
        Some(self.finish(rc))
    }

    /// Progresses the task's scheduler until the task completed, then
    /// gives its value. The task must have been scheduled (or be completed
    /// by someone else), as with [`SchedHandle::progress_until`].
    pub fn wait(self) -> Result<T, Error> {
        let rc = self.task.sched().progress_until(&self.task);
        self.finish(rc)
    }

    pub(crate) fn finish(&self, rc: i32) -> Result<T, Error> {
        let v = self.out.take_value();
        rc_to_result(rc)?;
        v.ok_or(Error::NoPerm(
            "the task completed without setting its output",
        ))
    }
}

impl<T, C: OutputCell<T>> std::fmt::Debug for TaskOut<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskOut").field("task", &self.task).finish()
    }
}

impl SchedHandle {
    /// Creates a task named `name` with a typed output: `body` gets the
    /// task and its [`Output`] to fill, and must complete the task (or
    /// hand that on) as with [`create`](Self::create).
    pub fn create_out<T: 'static>(
        &self,
        name: &'static str,
        mut body: impl FnMut(&Task, &Output<T>) + 'static,
    ) -> TaskOut<T> {
        let out = Output::new();
        let o = out.clone();
        let task = self.create_named(name, move |t| body(t, &o));
        TaskOut::new(task, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{der, Sched};

    #[test]
    fn another_thread_fills_a_send_output_then_completes_the_task() {
        let s = Sched::new();
        let reply = s.create_empty("crt_req_send");
        reply.schedule(false).unwrap();
        let op = TaskOut::new(reply.clone(), SendOutput::<String>::new());
        let (remote, out) = (reply.remote(), op.output().clone());
        std::thread::spawn(move || {
            out.set("obj_rw_reply".to_string());
            remote.complete_once(0);
        })
        .join()
        .unwrap();
        assert!(op.try_take().is_none(), "not before the owner's progress");
        assert_eq!(op.wait(), Ok("obj_rw_reply".to_string()));
    }

    #[test]
    fn status_zero_without_a_value_is_an_error_and_a_value_is_taken_once() {
        let s = Sched::new();
        let none: TaskOut<u8> = s.create_out("empty", |t, _| t.complete(0));
        none.task().schedule(true).unwrap();
        assert!(matches!(none.try_take(), Some(Err(Error::NoPerm(_)))));
        let one: TaskOut<u8> = s.create_out("one", |t, o| {
            o.set(1);
            t.complete(0)
        });
        one.task().schedule(true).unwrap();
        assert_eq!(one.try_take(), Some(Ok(1)));
        assert!(matches!(one.try_take(), Some(Err(Error::NoPerm(_)))));
        let canceled: TaskOut<u8> = s.create_out("never", |_, _| {});
        canceled.task().complete(-der::DER_CANCELED);
        assert_eq!(canceled.wait(), Err(Error::Canceled));
    }
}
