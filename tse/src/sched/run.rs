//! Scheduling and running: `tse_task_schedule`, `tse_task_reinit`,
//! `tse_task_register_deps`, and running a ready task's prep callbacks and
//! body.

use std::cell::RefMut;
use std::cmp::Reverse;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::data::pool;
use crate::data::slot::{Body, Cb, Dependent, RemoteParent, State};
use crate::error::Error;
use crate::sched::{send_or_bounce, Core, Inner, Msg, Shared, Task};

impl Inner {
    pub(crate) fn schedule(
        self: &Rc<Self>,
        key: u32,
        instant: bool,
        delay: Option<Duration>,
    ) -> Result<(), Error> {
        let mut core = self.core.borrow_mut();
        if core.closed {
            return Err(Error::NoPerm("scheduler is shutting down"));
        }
        if instant && delay.is_some() {
            return Err(Error::Inval("a delayed schedule cannot be instant"));
        }
        let s = core.slot(key);
        match s.state {
            State::Created => {}
            State::Completed => return Err(Error::NoPerm("task completed; reset it first")),
            _ => return Err(Error::NoPerm("task already scheduled")),
        }
        s.in_flight = true;
        s.refs += 1;
        if let Some(d) = delay {
            s.state = State::Sleeping;
            let epoch = s.epoch;
            core.inflight += 1;
            core.sleeping
                .push(Reverse((Instant::now() + d, key, epoch)));
            return Ok(());
        }
        let ready = s.dep_cnt == 0 && !s.has_prep();
        if ready && (instant || matches!(s.body, Body::None)) {
            s.state = State::Running;
            core.inflight += 1;
            drop(core);
            let task = self.handle(key);
            self.run_body(&task);
        } else {
            s.state = State::Queued;
            let (epoch, dep_cnt) = (s.epoch, s.dep_cnt);
            core.inflight += 1;
            if dep_cnt == 0 {
                core.ready.push_back((key, epoch));
            }
        }
        Ok(())
    }

    pub(crate) fn reinit(self: &Rc<Self>, key: u32, delay: Option<Duration>) -> Result<(), Error> {
        let mut core = self.core.borrow_mut();
        if core.closed {
            return Err(Error::NoPerm("scheduler is shutting down"));
        }
        let s = core.slot(key);
        if matches!(s.body, Body::None | Body::Future(_)) {
            return Err(Error::Inval(
                "only a task with a callback body can be re-initialised",
            ));
        }
        let was_completed = match s.state {
            State::Running => false,
            State::Completed => true,
            _ => return Err(Error::NoPerm("task has not started running")),
        };
        if was_completed {
            s.in_flight = true;
            s.refs += 1;
        }
        s.result = 0;
        s.epoch = s.epoch.wrapping_add(1);
        if let Some(x) = s.extra.as_mut() {
            // DAOS resets the stack's top; what was live stays readable
            // by the next attempt's pushes.
            x.stack.rewind();
        }
        let (epoch, dep_cnt) = (s.epoch, s.dep_cnt);
        if let Some(d) = delay {
            s.state = State::Sleeping;
            core.sleeping
                .push(Reverse((Instant::now() + d, key, epoch)));
        } else {
            s.state = State::Queued;
            if dep_cnt == 0 {
                core.ready.push_back((key, epoch));
            }
        }
        if was_completed {
            core.inflight += 1;
        }
        Ok(())
    }

    /// Makes `key` depend on each of `deps`.
    pub(crate) fn register_deps(self: &Rc<Self>, key: u32, deps: &[Task]) -> Result<(), Error> {
        for d in deps {
            if !Rc::ptr_eq(&d.inner, self) {
                // A task of another scheduler (of this thread): go through
                // its inbox, holding a reference on it until the message
                // that adds the dependent has been applied.
                d.inner.incref(d.key);
                let r = self.register_remote_dep(key, &d.inner.shared, d.key);
                let _ = d.inner.shared.send(Msg::Decref { key: d.key });
                r?;
                continue;
            }
            let mut core = self.core.borrow_mut();
            core.check_can_depend(key)?;
            if d.key == key {
                return Err(Error::Inval("a task cannot depend on itself"));
            }
            let ds = core.slot(d.key);
            if ds.state == State::Completed {
                let rc = ds.result;
                let s = core.slot(key);
                if rc != 0 && !s.no_propagate && s.result == 0 {
                    s.result = rc;
                }
                continue;
            }
            ds.dependents.push(Dependent::Local(key));
            let s = core.slot(key);
            s.dep_cnt += 1;
            s.refs += 1;
            s.epoch = s.epoch.wrapping_add(1);
        }
        Ok(())
    }

    /// Makes `key` depend on task `dep_key` of the scheduler whose mailbox
    /// is `dep_sched` (possibly driven by another thread).
    pub(crate) fn register_remote_dep(
        self: &Rc<Self>,
        key: u32,
        dep_sched: &Arc<Shared>,
        dep_key: u32,
    ) -> Result<(), Error> {
        {
            let mut core = self.core.borrow_mut();
            core.check_can_depend(key)?;
            let s = core.slot(key);
            s.dep_cnt += 1;
            s.refs += 1;
            s.epoch = s.epoch.wrapping_add(1);
        }
        let parent = RemoteParent {
            sink: self.shared.clone(),
            key,
        };
        send_or_bounce(
            dep_sched,
            Msg::AddDependent {
                key: dep_key,
                parent,
            },
        );
        Ok(())
    }

    /// Calls a prep or completion callback of `task` (the task being the
    /// trace parent meanwhile), recycles its box, and records a non-zero
    /// return as the task's result if it has none. Gives back the table,
    /// borrowed again, for the caller's checks.
    pub(crate) fn call_cb(&self, task: &Task, cb: Cb<Task>) -> RefMut<'_, Core> {
        let prev = self.enter(task.key, false);
        let (rc, spare) = cb.call(task);
        if let Some(b) = spare {
            pool::give(b);
        }
        self.leave(prev);
        let mut core = self.core.borrow_mut();
        let s = core.slot(task.key);
        if rc != 0 && s.result == 0 {
            s.result = rc;
        }
        core
    }

    /// Runs prep callbacks (FIFO), then the body, of a task just taken off
    /// the ready queue.
    fn run_started(self: &Rc<Self>, task: &Task) {
        let key = task.key;
        loop {
            let (cb, epoch) = {
                let mut core = self.core.borrow_mut();
                let s = core.slot(key);
                let Some(cb) = s.extra.as_mut().and_then(|x| x.prep_cbs.pop_front()) else {
                    break;
                };
                (cb, s.epoch)
            };
            let mut core = self.call_cb(task, cb);
            let s = core.slot(key);
            if s.state == State::Completed {
                // Completed by the prep callback: the prep callbacks after
                // it never run (DAOS drops them uncalled), so nothing is
                // left attached that would refuse a reset.
                let moot = s.extra.as_mut().map(|x| std::mem::take(&mut x.prep_cbs));
                drop(core);
                drop(moot);
                return;
            }
            if s.state != State::Running || s.epoch != epoch {
                // Re-initialised by the prep callback: the prep callbacks
                // after it stay attached and run before the next attempt's
                // body, once its dependencies are done.
                return;
            }
        }
        self.run_body(task);
    }

    fn run_body(self: &Rc<Self>, task: &Task) {
        let key = task.key;
        let body = {
            let mut core = self.core.borrow_mut();
            std::mem::replace(&mut core.slot(key).body, Body::Taken)
        };
        match body {
            Body::Fn(mut f) => {
                let prev = self.enter(key, true);
                f.run(task);
                self.leave(prev);
                let spare = {
                    let mut core = self.core.borrow_mut();
                    let s = core.slot(key);
                    if matches!(s.body, Body::Taken) {
                        s.body = Body::Fn(f);
                        None
                    } else {
                        Some(f) // reset gave it a new body meanwhile
                    }
                };
                if let Some(f) = spare {
                    f.recycle();
                }
            }
            Body::Future(runnable) => {
                self.core.borrow_mut().slot(key).body = Body::None;
                let prev = self.enter(key, true);
                runnable.run();
                self.leave(prev);
            }
            Body::None => self.core.borrow_mut().slot(key).body = Body::None,
            Body::Taken => {
                // The body is already on the stack (a nested progress() picked
                // its re-initialised task): run it again later.
                let mut core = self.core.borrow_mut();
                let s = core.slot(key);
                s.state = State::Queued;
                let epoch = s.epoch;
                core.ready.push_back((key, epoch));
            }
        }
    }

    pub(crate) fn run_ready(self: &Rc<Self>) -> usize {
        let mut n = 0;
        loop {
            let (task, prep) = {
                let mut core = self.core.borrow_mut();
                let Some((key, epoch)) = core.ready.pop_front() else {
                    break;
                };
                let s = core.slot(key);
                if s.epoch != epoch || s.state != State::Queued || s.dep_cnt != 0 {
                    continue;
                }
                s.state = State::Running;
                s.refs += 1;
                (
                    Task {
                        inner: self.clone(),
                        key,
                    },
                    s.has_prep(),
                )
            };
            if prep {
                self.run_started(&task);
            } else {
                self.run_body(&task);
            }
            n += 1;
        }
        n
    }
}
