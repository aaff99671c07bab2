//! Completion: a task's completion callbacks, releasing its dependents
//! and waiters, and the end of the whole scheduler (teardown).

use std::rc::Rc;

use crate::data::slot::{Body, Dependent, RemoteParent, State};
use crate::data::table::{Garbage, Release};
use crate::der;
use crate::sched::{Inner, SchedHandle, SchedPhase, Task};

impl Inner {
    pub(crate) fn complete(self: &Rc<Self>, key: u32, rc: i32) {
        {
            let mut core = self.core.borrow_mut();
            let s = core.slot(key);
            if matches!(s.state, State::Completed | State::Free) {
                return;
            }
            if s.result == 0 {
                s.result = rc;
            }
            if s.completing {
                return;
            }
            let tracing = core.tracing;
            let s = core.slot(key);
            let quiet = !tracing
                && s.comp_cbs.is_empty()
                && s.dependents.is_empty()
                && s.extra.as_ref().is_none_or(|x| x.wakers.is_empty());
            if quiet {
                // Fast path: nothing to call back or release.
                s.state = State::Completed;
                s.epoch = s.epoch.wrapping_add(1);
                let result = s.result;
                let release_sched = std::mem::replace(&mut s.in_flight, false);
                if result != 0 && core.first_error == 0 {
                    core.first_error = result;
                }
                if release_sched {
                    core.inflight -= 1;
                    let release = core.release(key);
                    drop(core);
                    if !matches!(release, Release::Kept) {
                        self.after_release(key, release);
                    }
                }
                return;
            }
        }
        let mut work = std::mem::take(&mut *self.work.borrow_mut());
        work.push(key);
        while let Some(k) = work.pop() {
            self.complete_one(k, &mut work);
        }
        let mut slot = self.work.borrow_mut();
        if slot.capacity() < work.capacity() {
            *slot = work;
        }
    }

    /// Runs `key`'s completion callbacks (LIFO) and, unless one of them
    /// re-initialised it or gave it new dependencies, marks it completed and
    /// releases its dependents. Running parents whose last dependency this
    /// was are pushed onto `work`.
    fn complete_one(self: &Rc<Self>, key: u32, work: &mut Vec<u32>) {
        let (task, pre_state) = {
            let mut core = self.core.borrow_mut();
            let s = core.slot(key);
            if s.completing || matches!(s.state, State::Completed | State::Free) {
                return;
            }
            s.completing = true;
            s.refs += 1;
            (
                Task {
                    inner: self.clone(),
                    key,
                },
                s.state,
            )
        };
        loop {
            let (cb, epoch) = {
                let mut core = self.core.borrow_mut();
                let s = core.slot(key);
                let Some(cb) = s.comp_cbs.pop() else { break };
                (cb, s.epoch)
            };
            let mut core = self.call_cb(&task, cb);
            let s = core.slot(key);
            let reinit = s.state != pre_state;
            let new_deps = s.epoch != epoch && s.dep_cnt > 0;
            if reinit || new_deps {
                // Not complete yet; the callbacks not run yet stay attached
                // and run when it completes again.
                s.completing = false;
                drop(core);
                return;
            }
        }
        let mut remote: Vec<(RemoteParent, i32)> = Vec::new();
        let mut late: Vec<(u32, Release<Task>)> = Vec::new();
        let (wakers, release_sched) = {
            let mut guard = self.core.borrow_mut();
            let core = &mut *guard;
            let mut deps = std::mem::take(&mut core.dep_scratch);
            let s = &mut core.slots[key as usize];
            s.state = State::Completed;
            s.completing = false;
            s.epoch = s.epoch.wrapping_add(1);
            let result = s.result;
            std::mem::swap(&mut deps, &mut s.dependents);
            let wakers = match s.extra.as_mut() {
                Some(x) if !x.wakers.is_empty() => std::mem::take(&mut x.wakers),
                _ => Vec::new(),
            };
            let release_sched = std::mem::replace(&mut s.in_flight, false);
            if release_sched {
                core.inflight -= 1;
            }
            if result != 0 && core.first_error == 0 {
                core.first_error = result;
            }
            if core.tracing {
                self.trace_done(core, key);
            }
            for dep in deps.drain(..) {
                match dep {
                    Dependent::Local(p) => {
                        if core.dep_done(p, result) {
                            work.push(p);
                        }
                        // Drop the link's reference on the parent.
                        match core.release(p) {
                            Release::Kept => {}
                            other => late.push((p, other)),
                        }
                    }
                    Dependent::Remote(rp) => remote.push((rp, result)),
                }
            }
            core.dep_scratch = deps;
            (wakers, release_sched)
        };
        for (p, release) in late {
            self.after_release(p, release);
        }
        for (rp, rc) in remote {
            rp.dep_done(rc);
        }
        for w in wakers {
            w.wake();
        }
        if release_sched {
            self.decref(key);
        }
        drop(task);
    }

    /// A dependency on another scheduler finished.
    pub(crate) fn remote_dep_done(self: &Rc<Self>, key: u32, rc: i32) {
        let autocomplete = self.core.borrow_mut().dep_done(key, rc);
        if autocomplete {
            self.complete(key, self.core.borrow_mut().slot(key).result);
        }
        self.decref(key);
    }

    /// `tse_sched_complete`: `ret` becomes the scheduler's result unless
    /// it has one; then, with `cancel`, every task not yet complete is
    /// canceled ([`cancel_all`](Self::cancel_all)), without it the
    /// scheduler progresses until nothing is in flight. Either way it then
    /// closes (nothing new is scheduled; other threads' messages are
    /// refused), runs the scheduler's completion callbacks and drops its
    /// user data. A second call only records `ret`.
    pub(crate) fn sched_complete(self: &Rc<Self>, ret: i32, cancel: bool) {
        {
            let mut core = self.core.borrow_mut();
            if core.first_error == 0 {
                core.first_error = ret;
            }
        }
        if self.phase.get() != SchedPhase::Running {
            return;
        }
        self.phase.set(SchedPhase::Completing);
        if cancel {
            self.cancel_all();
        } else {
            loop {
                self.progress();
                if self.is_idle() {
                    break;
                }
                self.wait(None);
            }
            self.close();
        }
        let handle = SchedHandle {
            inner: self.clone(),
        };
        // Last registered first, as DAOS adds each to the head of its list.
        loop {
            let Some(cb) = self.sched_cbs.borrow_mut().pop() else {
                break;
            };
            let rc = self.core.borrow().first_error;
            let out = cb(&handle, rc);
            let mut core = self.core.borrow_mut();
            if core.first_error == 0 {
                core.first_error = out;
            }
        }
        self.phase.set(SchedPhase::Done);
        let udata = self.udata.borrow_mut().take();
        drop(udata);
    }

    /// Refuses new work: scheduling fails, new tasks are born canceled and
    /// other threads' messages bounce; those already queued are applied.
    fn close(self: &Rc<Self>) {
        self.core.borrow_mut().closed = true;
        for m in self.shared.close() {
            self.apply(m);
        }
    }

    /// Cancels everything not yet complete, sleeping tasks included: their
    /// bodies never run; each completes with `-DER_CANCELED` (unless it
    /// already has an error), its completion callbacks run (a reinit in
    /// them is refused) and its dependents and waiters are released.
    /// Woken futures are dropped.
    pub(crate) fn cancel_all(self: &Rc<Self>) {
        self.close();
        loop {
            while let Ok(r) = self.shared.runq.pop() {
                drop(r); // cancels the future
            }
            let victims: Vec<u32> = {
                let core = self.core.borrow();
                (0..core.slots.len() as u32)
                    .filter(|&k| {
                        let s = &core.slots[k as usize];
                        s.refs > 0
                            && !s.completing
                            && !matches!(s.state, State::Free | State::Completed)
                    })
                    .collect()
            };
            if victims.is_empty() && self.shared.runq.is_empty() {
                break;
            }
            for k in victims {
                self.incref(k);
                self.complete(k, -der::DER_CANCELED);
                self.decref(k);
            }
        }
    }

    /// What dropping a [`crate::Sched`] does: `tse_sched_complete(0,
    /// cancel)` if it was not completed, the cancellation of any task
    /// left (an unscheduled one that still has handles), then the release
    /// of everything the slots and pollers own.
    pub(crate) fn teardown(self: &Rc<Self>) {
        self.sched_complete(0, true);
        self.cancel_all();
        // Break reference cycles (bodies and callbacks holding handles) and
        // drop what the slots own, outside the table borrow.
        let pollers = std::mem::take(&mut *self.pollers.borrow_mut());
        drop(pollers);
        loop {
            let garbage: Vec<Garbage<Task>> = {
                let mut core = self.core.borrow_mut();
                core.ready.clear();
                core.sleeping.clear();
                core.slots
                    .iter_mut()
                    .filter_map(|s| {
                        let g = Garbage {
                            body: match s.body {
                                Body::None => None,
                                _ => Some(std::mem::replace(&mut s.body, Body::None)),
                            },
                            cbs: std::mem::take(&mut s.comp_cbs),
                            extra: s.extra.take(),
                        };
                        s.dependents.clear();
                        (g.body.is_some() || !g.cbs.is_empty() || g.extra.is_some()).then_some(g)
                    })
                    .collect()
            };
            if garbage.is_empty() {
                break;
            }
            drop(garbage);
        }
        self.drain_deferred();
    }
}
