//! The task handle's API (DAOS's `tse_task_*`): scheduling, completion,
//! dependencies, callbacks, re-initialisation and the argument stack.

use std::any::Any;
use std::rc::Rc;
use std::time::Duration;

use crate::data::pool;
use crate::data::slot::{take_if, Body, State};
use crate::error::{rc_to_result, Error};
use crate::sched::{SchedHandle, Task};

impl Task {
    /// A stable id for the task's life.
    pub fn id(&self) -> u64 {
        self.inner.core.borrow_mut().slot(self.key).id
    }

    /// Names `parent` (a task id, possibly of another scheduler) as this
    /// task's parent in traces; by default it is the task that was running
    /// when this one was created.
    pub fn set_parent(&self, parent: u64) {
        self.inner.core.borrow_mut().slot(self.key).extra().parent = parent;
    }

    /// The name given at creation ("" if none).
    pub fn name(&self) -> &'static str {
        self.inner.core.borrow_mut().slot(self.key).name
    }

    /// The task's scheduler.
    pub fn sched(&self) -> SchedHandle {
        SchedHandle {
            inner: self.inner.clone(),
        }
    }

    /// Schedules the task (`tse_task_schedule`). With `instant`, the body
    /// runs inline now if the task is ready (no pending dependency and no
    /// prep callback); otherwise it runs at a later `progress()` once its
    /// dependencies are done.
    #[inline]
    pub fn schedule(&self, instant: bool) -> Result<(), Error> {
        self.inner.schedule(self.key, instant, None)
    }

    /// Schedules the task to become ready after `delay`.
    pub fn schedule_delayed(&self, delay: Duration) -> Result<(), Error> {
        self.inner.schedule(self.key, false, Some(delay))
    }

    /// Completes the task with `rc` (`tse_task_complete`): `0` for success,
    /// `-DER_*` for failure. The first non-zero result wins. Completion
    /// callbacks run now, last registered first; then dependents are
    /// released (and get the error unless they disabled propagation).
    /// A no-op on a completed task.
    #[inline]
    pub fn complete(&self, rc: i32) {
        self.inner.complete(self.key, rc)
    }

    /// The current result (0 until something sets it).
    #[inline]
    pub fn result(&self) -> i32 {
        self.inner.core.borrow_mut().slot(self.key).result
    }

    /// The result once completed.
    #[inline]
    pub fn try_result(&self) -> Option<i32> {
        let mut core = self.inner.core.borrow_mut();
        let s = core.slot(self.key);
        (s.state == State::Completed).then_some(s.result)
    }

    /// True once the task has completed (and until a reinit/reset).
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.inner.core.borrow_mut().slot(self.key).state == State::Completed
    }

    /// The result as a `Result`, or `None` if not completed yet.
    pub fn status(&self) -> Option<Result<(), Error>> {
        self.try_result().map(rc_to_result)
    }

    /// Makes this task depend on `deps` (`tse_task_register_deps`): it will
    /// not run before each of them completed. Deps may belong to other
    /// schedulers. An already completed dep adds nothing but its error.
    /// Register deps on children before scheduling them. A running body may
    /// register deps on its own task: the task then completes by itself when
    /// the last of them completes.
    #[inline]
    pub fn register_deps(&self, deps: &[Task]) -> Result<(), Error> {
        self.inner.register_deps(self.key, deps)
    }

    /// [`register_deps`](Self::register_deps) with one dependency.
    #[inline]
    pub fn register_dep(&self, dep: &Task) -> Result<(), Error> {
        self.inner
            .register_deps(self.key, std::slice::from_ref(dep))
    }

    /// Registers a completion callback. Callbacks run last-registered first;
    /// each runs once; a non-zero return sets the result if it is still 0.
    /// A callback may re-initialise the task ([`reinit`](Self::reinit)) or
    /// register new deps on it; completion then stops there and the
    /// callbacks not yet run stay attached.
    pub fn register_comp_cb(&self, cb: impl FnOnce(&Task) -> i32 + 'static) -> Result<(), Error> {
        let cb = pool::callback(cb);
        let mut core = self.inner.core.borrow_mut();
        let s = core.slot(self.key);
        if s.state == State::Completed {
            return Err(Error::NoPerm("task already completed"));
        }
        s.comp_cbs.push(cb);
        Ok(())
    }

    /// Registers a completion callback that runs after every callback
    /// registered so far and later (the bottom of the stack), as the event
    /// callback of `dc_task_create` does.
    pub fn register_comp_cb_last(
        &self,
        cb: impl FnOnce(&Task) -> i32 + 'static,
    ) -> Result<(), Error> {
        let cb = pool::callback(cb);
        let mut core = self.inner.core.borrow_mut();
        let s = core.slot(self.key);
        if s.state == State::Completed {
            return Err(Error::NoPerm("task already completed"));
        }
        s.comp_cbs.insert(0, cb);
        Ok(())
    }

    /// Registers a prep callback: prep callbacks run first-registered first,
    /// just before the body; one that completes or re-initialises the task
    /// stops the rest and the body.
    pub fn register_prep_cb(&self, cb: impl FnOnce(&Task) -> i32 + 'static) -> Result<(), Error> {
        let cb = pool::callback(cb);
        let mut core = self.inner.core.borrow_mut();
        let s = core.slot(self.key);
        if s.state == State::Completed {
            return Err(Error::NoPerm("task already completed"));
        }
        s.extra().prep_cbs.push_back(cb);
        Ok(())
    }

    /// Re-initialises a running or completed task so its body runs again
    /// (`tse_task_reinit`, DAOS's retry). Clears the result; the argument
    /// stack keeps its values. Register callbacks and dependencies first.
    pub fn reinit(&self) -> Result<(), Error> {
        self.inner.reinit(self.key, None)
    }

    /// [`reinit`](Self::reinit) with the re-run delayed by `delay` (retry
    /// with back-off).
    pub fn reinit_delayed(&self, delay: Duration) -> Result<(), Error> {
        self.inner.reinit(self.key, Some(delay))
    }

    /// Registers `cb` and re-initialises the task (with an optional delay)
    /// as one step; if the reinit is refused the callback is removed again
    /// (`tse_task_register_comp_cb_and_reinit`).
    pub fn register_comp_cb_and_reinit(
        &self,
        cb: impl FnOnce(&Task) -> i32 + 'static,
        delay: Option<Duration>,
    ) -> Result<(), Error> {
        self.register_comp_cb(cb)?;
        let r = match delay {
            Some(d) => self.reinit_delayed(d),
            None => self.reinit(),
        };
        if r.is_err() {
            let cb = self.inner.core.borrow_mut().slot(self.key).comp_cbs.pop();
            drop(cb);
        }
        r
    }

    /// Reuses a completed task with a new body (`tse_task_reset`). It must
    /// have no completion callback, prep callback or dependent left (prep
    /// callbacks that a task's completion by an earlier prep callback made
    /// moot are gone already, as in DAOS). The argument stack starts empty.
    pub fn reset(&self, body: impl FnMut(&Task) + 'static) -> Result<(), Error> {
        let old = {
            let mut core = self.inner.core.borrow_mut();
            if core.closed {
                return Err(Error::NoPerm("scheduler is shutting down"));
            }
            let s = core.slot(self.key);
            if s.state != State::Completed {
                return Err(Error::NoPerm("only a completed task can be reset"));
            }
            if !s.comp_cbs.is_empty() || !s.dependents.is_empty() || s.has_prep() {
                return Err(Error::NoPerm("task still has callbacks or dependents"));
            }
            s.state = State::Created;
            s.result = 0;
            s.dep_cnt = 0;
            s.epoch = s.epoch.wrapping_add(1);
            // A new job starts with an empty stack and no memory of the
            // last one's values.
            let stack = s.extra.as_mut().map(|x| x.stack.take_all());
            (
                std::mem::replace(&mut s.body, Body::Fn(pool::body(body))),
                stack,
            )
        };
        let (body, stack) = old;
        if let Body::Fn(f) = body {
            f.recycle();
        }
        drop(stack);
        Ok(())
    }

    /// Dependencies' errors no longer propagate to this task's result.
    pub fn disable_propagate(&self) {
        self.inner.core.borrow_mut().slot(self.key).no_propagate = true;
    }

    /// Pushes a typed value on the task's argument stack
    /// (`tse_task_stack_push`), for layers that stack per-layer state on one
    /// task, as `dc_obj_update` does. The stack holds [`TASK_STACK_SIZE`](crate::TASK_STACK_SIZE)
    /// bytes (sizes rounded up to 8). A value a previous attempt left at
    /// this depth is dropped; [`stack_push_with`](Self::stack_push_with)
    /// reads it back instead.
    pub fn stack_push<T: Any>(&self, v: T) -> Result<(), Error> {
        let displaced = {
            let mut core = self.inner.core.borrow_mut();
            core.slot(self.key).extra().stack.push(v)?
        };
        drop(displaced);
        Ok(())
    }

    /// Pushes the value `f` makes from what the previous attempt left at
    /// this depth of the stack: DAOS's idiom across `tse_task_reinit`,
    /// where a re-initialised task's stack is empty again but the next
    /// attempt's push of the same structure finds the bytes the last one
    /// left (a retry count, say). `f` gets `Some` if the value that was live
    /// at this depth when the task was re-initialised is a `T`, `None`
    /// otherwise (a first attempt, a popped value, another type).
    ///
    /// ```
    /// # use tse::Sched;
    /// # let s = Sched::new();
    /// let t = s.create(|t| {
    ///     t.stack_push_with(|prev: Option<u32>| prev.map_or(1, |n| n + 1))
    ///         .unwrap();
    ///     let tries: u32 = t.stack_with_top(|n: &mut u32| *n).unwrap();
    ///     // Leave the count on the stack; fail twice, then succeed.
    ///     t.complete(if tries < 3 { -tse::der::DER_AGAIN } else { 0 });
    /// });
    /// fn retry(t: &tse::Task) -> i32 {
    ///     if t.result() == -tse::der::DER_AGAIN {
    ///         t.register_comp_cb_and_reinit(retry, None).unwrap();
    ///     }
    ///     0
    /// }
    /// t.register_comp_cb(retry).unwrap();
    /// t.schedule(false).unwrap();
    /// assert_eq!(s.progress_until(&t), 0);
    /// assert_eq!(t.stack_pop::<u32>(), Ok(3));
    /// ```
    pub fn stack_push_with<T: Any>(&self, f: impl FnOnce(Option<T>) -> T) -> Result<(), Error> {
        let prev = {
            let mut core = self.inner.core.borrow_mut();
            let stack = &mut core.slot(self.key).extra().stack;
            stack.check_room(crate::data::stack::need_of::<T>())?;
            stack.take_at_top::<T>()
        };
        let v = f(prev);
        self.stack_push(v)
    }

    /// Pops the value on top of the argument stack (`tse_task_stack_pop`).
    /// If the top holds another type it is left in place and
    /// [`Error::StackType`] returned.
    pub fn stack_pop<T: Any>(&self) -> Result<T, Error> {
        let mut core = self.inner.core.borrow_mut();
        core.slot(self.key).extra().stack.pop()
    }

    /// Calls `f` with the value on top of the argument stack, in place.
    pub fn stack_with_top<T: Any, R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        let mut v: T = self.stack_pop()?;
        let r = f(&mut v);
        self.stack_push(v)?;
        Ok(r)
    }

    /// Bytes used on the argument stack.
    pub fn stack_used(&self) -> usize {
        let mut core = self.inner.core.borrow_mut();
        core.slot(self.key)
            .extra
            .as_ref()
            .map_or(0, |x| x.stack.used())
    }

    /// Sets the task's private argument (`tse_task_set_priv`); returns the
    /// previous one.
    pub fn set_priv<T: Any>(&self, v: T) -> Option<Box<dyn Any>> {
        let mut core = self.inner.core.borrow_mut();
        core.slot(self.key).extra().private.replace(Box::new(v))
    }

    /// Takes the private argument out if it is a `T`.
    pub fn take_priv<T: Any>(&self) -> Option<T> {
        let mut core = self.inner.core.borrow_mut();
        take_if(&mut core.slot(self.key).extra().private)
    }

    /// Calls `f` on the private argument if it is a `T`.
    pub fn with_priv<T: Any, R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut v: T = self.take_priv()?;
        let r = f(&mut v);
        let displaced = self.set_priv(v);
        drop(displaced);
        Some(r)
    }

    /// True if both handles are for the same task.
    pub fn same(&self, other: &Task) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner) && self.key == other.key
    }
}

impl Clone for Task {
    #[inline]
    fn clone(&self) -> Self {
        self.inner.incref(self.key);
        Task {
            inner: self.inner.clone(),
            key: self.key,
        }
    }
}

impl Drop for Task {
    #[inline]
    fn drop(&mut self) {
        self.inner.decref(self.key);
    }
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut core = self.inner.core.borrow_mut();
        let s = core.slot(self.key);
        f.debug_struct("Task")
            .field("id", &s.id)
            .field("name", &s.name)
            .field("state", &s.state)
            .field("result", &s.result)
            .field("dep_cnt", &s.dep_cnt)
            .finish()
    }
}
