//! The scheduler: task table, ready queue, sleeping list, completion
//! processing and `progress()`.
//!
//! Everything here runs on the scheduler's own thread. The task table lives
//! in a `RefCell` that is borrowed only for short bookkeeping steps and never
//! while user code (a body, a callback, a waker, a poller) runs, so user code
//! may call back into the scheduler freely.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::der;
use crate::error::Error;
use crate::poller::{Poller, PollerId};
use crate::remote::{Msg, RemoteParent, RemoteSched, RemoteTask, Shared};
use crate::slot::{Body, Cb, Dependent, Extra, Slot, State};
use crate::task::Task;
use crate::trace::{OpenStep, Span, Step, Tracer};

/// Things freed from a slot, dropped after the table borrow is released
/// because they may hold task handles.
#[derive(Default)]
pub(crate) struct Garbage {
    body: Option<Body>,
    cbs: Vec<Cb>,
    extra: Option<Box<Extra>>,
}

/// What happened when a reference was dropped.
enum Release {
    /// Still referenced.
    Kept,
    /// The slot was freed.
    Freed(Garbage),
    /// The last reference to a never-scheduled task went away: it must be
    /// canceled so its dependents and callbacks see the end of it.
    Cancel,
}

pub(crate) struct Core {
    pub(crate) slots: Vec<Slot>,
    free: Vec<u32>,
    /// `(key, epoch)` of queued tasks whose dependencies are done; stale
    /// entries (epoch moved on) are skipped.
    ready: VecDeque<(u32, u32)>,
    sleeping: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Scheduled, not yet completed.
    pub(crate) inflight: usize,
    /// Teardown started: nothing new may be scheduled.
    pub(crate) closed: bool,
    pub(crate) first_error: i32,
    next_id: u64,
    dep_scratch: Vec<Dependent>,
    /// The running task's id while tracing (parent of tasks it creates).
    current: u64,
    tracing: bool,
}

/// Schedulers made so far: the high bits of task ids, so ids are unique
/// across the schedulers of a process.
/// Longest a scheduler with I/O in flight blocks in its poller before
/// looking at its inbox again (work from other threads does not end the
/// wait early).
const IO_WAIT: Duration = Duration::from_micros(50);

/// Idle polls (each followed by a yield) before a scheduler with I/O in
/// flight blocks in its poller: a completion that is microseconds away is
/// caught without a sleep and a wake-up, a longer wait costs no core.
const SPIN_WAITS: u32 = 64;

static NEXT_SCHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Core {
    #[inline]
    pub(crate) fn slot(&mut self, key: u32) -> &mut Slot {
        &mut self.slots[key as usize]
    }

    fn alloc(&mut self, name: &'static str, body: Body) -> u32 {
        let key = match self.free.pop() {
            Some(k) => k,
            None => {
                self.slots.push(Slot::new());
                (self.slots.len() - 1) as u32
            }
        };
        self.next_id += 1;
        let id = self.next_id;
        let closed = self.closed;
        let parent = if self.tracing { self.current } else { 0 };
        let s = self.slot(key);
        if parent != 0 || s.extra.is_some() {
            let x = s.extra();
            x.reset_trace();
            x.parent = parent;
        }
        s.refs = 1;
        s.id = id;
        s.name = name;
        s.body = body;
        if closed {
            // A task made on a torn-down scheduler is born canceled.
            s.state = State::Completed;
            s.result = -der::DER_CANCELED;
        } else {
            s.state = State::Created;
        }
        key
    }

    /// Drops one reference; frees the slot at zero.
    #[inline]
    fn release(&mut self, key: u32) -> Release {
        let s = self.slot(key);
        debug_assert!(s.refs > 0, "task reference count underflow");
        s.refs -= 1;
        if s.refs > 0 {
            return Release::Kept;
        }
        match s.state {
            State::Completed => Release::Freed(self.free_slot(key)),
            State::Created => {
                s.refs = 1;
                Release::Cancel
            }
            // In flight tasks hold a reference of the scheduler; unreachable
            // unless the counts are broken, in which case keep the slot.
            _ => Release::Kept,
        }
    }

    fn free_slot(&mut self, key: u32) -> Garbage {
        let s = self.slot(key);
        s.state = State::Free;
        s.epoch = s.epoch.wrapping_add(1);
        s.result = 0;
        s.dep_cnt = 0;
        s.no_propagate = false;
        s.completing = false;
        s.in_flight = false;
        s.name = "";
        let body = std::mem::replace(&mut s.body, Body::None);
        let cbs = if s.comp_cbs.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut s.comp_cbs)
        };
        let extra = if s.extra.as_ref().is_some_and(|x| !x.is_clear()) {
            s.extra.take()
        } else {
            None
        };
        debug_assert!(s.dependents.is_empty());
        self.free.push(key);
        Garbage {
            body: Some(body),
            cbs,
            extra,
        }
    }

    /// A dependency of `key` finished with `rc`: propagate, count down, and
    /// say whether `key` must now be auto-completed (it was running).
    fn dep_done(&mut self, key: u32, rc: i32) -> bool {
        let s = self.slot(key);
        if rc != 0 && !s.no_propagate && s.result == 0 {
            s.result = rc;
        }
        s.dep_cnt = s.dep_cnt.saturating_sub(1);
        if s.dep_cnt > 0 {
            return false;
        }
        match s.state {
            State::Queued => {
                let epoch = s.epoch;
                self.ready.push_back((key, epoch));
                false
            }
            State::Running => !s.completing,
            _ => false,
        }
    }
}

pub(crate) struct PollerEntry {
    id: u64,
    poller: Option<Box<dyn Poller>>,
    removed: bool,
}

/// The scheduler state shared by [`Sched`], [`SchedHandle`] and [`Task`].
pub(crate) struct Inner {
    pub(crate) core: RefCell<Core>,
    /// Reference drops that came while the table was borrowed.
    deferred: RefCell<Vec<u32>>,
    pollers: RefCell<Vec<PollerEntry>>,
    next_poller: std::cell::Cell<u64>,
    msgs: RefCell<Vec<Msg>>,
    work: RefCell<Vec<u32>>,
    tracer: RefCell<Option<(Tracer, &'static str)>>,
    /// Waits with I/O in flight since progress last did something: the
    /// first few spin (yielding), later ones block in the poller.
    idle_waits: std::cell::Cell<u32>,
    pub(crate) shared: Arc<Shared>,
}

impl Inner {
    fn new() -> Rc<Inner> {
        Rc::new(Inner {
            core: RefCell::new(Core {
                slots: Vec::new(),
                free: Vec::new(),
                ready: VecDeque::new(),
                sleeping: BinaryHeap::new(),
                inflight: 0,
                closed: false,
                first_error: 0,
                next_id: NEXT_SCHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) << 40,
                dep_scratch: Vec::new(),
                current: 0,
                tracing: false,
            }),
            idle_waits: std::cell::Cell::new(0),
            tracer: RefCell::new(None),
            deferred: RefCell::new(Vec::new()),
            pollers: RefCell::new(Vec::new()),
            next_poller: std::cell::Cell::new(0),
            msgs: RefCell::new(Vec::new()),
            work: RefCell::new(Vec::new()),
            shared: Shared::new(),
        })
    }

    pub(crate) fn create(self: &Rc<Self>, name: &'static str, body: Body) -> Task {
        let key = self.core.borrow_mut().alloc(name, body);
        Task {
            inner: self.clone(),
            key,
        }
    }

    /// A new handle on `key` (one more reference).
    pub(crate) fn handle(self: &Rc<Self>, key: u32) -> Task {
        self.core.borrow_mut().slot(key).refs += 1;
        Task {
            inner: self.clone(),
            key,
        }
    }

    pub(crate) fn incref(&self, key: u32) {
        self.core.borrow_mut().slot(key).refs += 1;
    }

    /// While tracing: marks `key` as the running task (the parent of tasks
    /// it creates) and, for a body, notes its start. Returns what to give
    /// [`leave`](Self::leave).
    #[inline]
    fn enter(&self, key: u32, body: bool) -> Option<u64> {
        let mut core = self.core.borrow_mut();
        if !core.tracing {
            return None;
        }
        if body {
            let now = self.tracer.borrow().as_ref().map_or(0, |(t, _)| t.now_ns());
            core.slot(key).extra().start_ns = now;
        }
        let id = core.slot(key).id;
        Some(std::mem::replace(&mut core.current, id))
    }

    #[inline]
    fn leave(&self, prev: Option<u64>) {
        if let Some(p) = prev {
            self.core.borrow_mut().current = p;
        }
    }

    /// Records the span of a named task that just completed.
    fn trace_done(&self, core: &mut Core, key: u32) {
        let tracer = self.tracer.borrow();
        let Some((tracer, label)) = tracer.as_ref() else {
            return;
        };
        let s = core.slot(key);
        if s.name.is_empty() {
            return;
        }
        let end = tracer.now_ns();
        let (parent, start) = s.extra.as_ref().map_or((0, 0), |x| (x.parent, x.start_ns));
        tracer.record(Span {
            id: s.id,
            parent,
            name: s.name,
            sched: label,
            start_ns: if start == 0 { end } else { start },
            end_ns: end,
            rc: s.result,
        });
    }

    /// Opens a traced step under the running task (or open step).
    pub(crate) fn begin_step(self: &Rc<Self>, name: &'static str) -> Step {
        self.begin_step_under(None, name)
    }

    /// Opens a step whose trace parent is `parent` (or, with `None`, the
    /// running task or innermost open step).
    pub(crate) fn begin_step_under(
        self: &Rc<Self>,
        parent: Option<u64>,
        name: &'static str,
    ) -> Step {
        let mut core = self.core.borrow_mut();
        if !core.tracing {
            return Step { open: None };
        }
        let start_ns = self.tracer.borrow().as_ref().map_or(0, |(t, _)| t.now_ns());
        core.next_id += 1;
        let id = core.next_id;
        let prev = std::mem::replace(&mut core.current, id);
        Step {
            open: Some(OpenStep {
                inner: self.clone(),
                id,
                parent: parent.unwrap_or(prev),
                prev,
                name,
                start_ns,
            }),
        }
    }

    /// Closes a step: restores the trace parent and records its span.
    pub(crate) fn end_step(&self, o: OpenStep, rc: i32) {
        self.core.borrow_mut().current = o.prev;
        let tracer = self.tracer.borrow();
        if let Some((tracer, label)) = tracer.as_ref() {
            tracer.record(Span {
                id: o.id,
                parent: o.parent,
                name: o.name,
                sched: label,
                start_ns: o.start_ns,
                end_ns: tracer.now_ns().max(o.start_ns),
                rc,
            });
        }
    }

    pub(crate) fn set_tracer(&self, label: &'static str, tracer: Option<Tracer>) {
        self.core.borrow_mut().tracing = tracer.is_some();
        *self.tracer.borrow_mut() = tracer.map(|t| (t, label));
    }

    /// Drops one reference on `key`.
    #[inline]
    pub(crate) fn decref(self: &Rc<Self>, key: u32) {
        let release = match self.core.try_borrow_mut() {
            Ok(mut core) => core.release(key),
            Err(_) => {
                self.deferred.borrow_mut().push(key);
                return;
            }
        };
        if !matches!(release, Release::Kept) {
            self.after_release(key, release);
        }
    }

    fn after_release(self: &Rc<Self>, key: u32, release: Release) {
        match release {
            Release::Kept => {}
            Release::Freed(g) => drop(g),
            Release::Cancel => {
                self.complete(key, -der::DER_CANCELED);
                self.decref(key);
            }
        }
        self.drain_deferred();
    }

    fn drain_deferred(self: &Rc<Self>) {
        loop {
            let Some(key) = self.deferred.borrow_mut().pop() else {
                return;
            };
            let release = self.core.borrow_mut().release(key);
            self.after_release(key, release);
        }
    }

    // ---- scheduling -------------------------------------------------------

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
                // A task of another scheduler: go through its inbox.
                let remote = d.remote();
                self.register_remote_dep(key, &remote)?;
                continue;
            }
            let mut core = self.core.borrow_mut();
            check_can_depend(&mut core, key)?;
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

    pub(crate) fn register_remote_dep(
        self: &Rc<Self>,
        key: u32,
        dep: &RemoteTask,
    ) -> Result<(), Error> {
        {
            let mut core = self.core.borrow_mut();
            check_can_depend(&mut core, key)?;
            let s = core.slot(key);
            s.dep_cnt += 1;
            s.refs += 1;
            s.epoch = s.epoch.wrapping_add(1);
        }
        let parent = RemoteParent {
            shared: self.shared.clone(),
            key,
        };
        dep.shared.send_or_bounce(Msg::AddDependent {
            key: dep.key,
            parent,
        });
        Ok(())
    }

    // ---- running ----------------------------------------------------------

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
            let prev = self.enter(key, false);
            let rc = cb(task);
            self.leave(prev);
            let mut core = self.core.borrow_mut();
            let s = core.slot(key);
            if rc != 0 && s.result == 0 {
                s.result = rc;
            }
            if s.state != State::Running || s.epoch != epoch {
                // Completed, or re-initialised, by the prep callback.
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
                f(task);
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
                drop(spare);
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

    // ---- completion -------------------------------------------------------

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
            let prev = self.enter(key, false);
            let rc = cb(&task);
            self.leave(prev);
            let mut core = self.core.borrow_mut();
            let s = core.slot(key);
            if rc != 0 && s.result == 0 {
                s.result = rc;
            }
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
        let mut late: Vec<(u32, Release)> = Vec::new();
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
    fn remote_dep_done(self: &Rc<Self>, key: u32, rc: i32) {
        let autocomplete = self.core.borrow_mut().dep_done(key, rc);
        if autocomplete {
            self.complete(key, self.core.borrow_mut().slot(key).result);
        }
        self.decref(key);
    }

    // ---- progress ---------------------------------------------------------

    fn run_ready(self: &Rc<Self>) -> usize {
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

    fn run_runnables(&self) -> usize {
        let mut n = 0;
        let budget = self.shared.runq.len();
        while n < budget {
            let Ok(r) = self.shared.runq.pop() else { break };
            r.run();
            n += 1;
        }
        n
    }

    fn wake_sleepers(&self) -> usize {
        let mut core = self.core.borrow_mut();
        if core.sleeping.is_empty() {
            return 0;
        }
        let now = Instant::now();
        let mut n = 0;
        while let Some(Reverse((at, key, epoch))) = core.sleeping.peek().copied() {
            if at > now {
                break;
            }
            core.sleeping.pop();
            let s = core.slot(key);
            if s.epoch != epoch || s.state != State::Sleeping {
                continue;
            }
            s.state = State::Queued;
            if s.dep_cnt == 0 {
                core.ready.push_back((key, epoch));
            }
            n += 1;
        }
        n
    }

    fn process_msgs(self: &Rc<Self>) -> usize {
        let mut msgs = std::mem::take(&mut *self.msgs.borrow_mut());
        self.shared.take_msgs(&mut msgs);
        let n = msgs.len();
        for m in msgs.drain(..) {
            self.apply(m);
        }
        *self.msgs.borrow_mut() = msgs;
        n
    }

    fn apply(self: &Rc<Self>, m: Msg) {
        match m {
            Msg::Complete { key, rc } => self.complete(key, rc),
            Msg::CompleteRelease { key, rc } => {
                self.complete(key, rc);
                self.decref(key);
            }
            Msg::Incref { key } => self.incref(key),
            Msg::Decref { key } => self.decref(key),
            Msg::AddDependent { key, parent } => {
                let mut core = self.core.borrow_mut();
                let s = core.slot(key);
                if s.state == State::Completed {
                    let rc = s.result;
                    drop(core);
                    parent.dep_done(rc);
                } else {
                    s.dependents.push(Dependent::Remote(parent));
                }
            }
            Msg::DepDone { key, rc } => self.remote_dep_done(key, rc),
            Msg::Run(f) => f(&SchedHandle {
                inner: self.clone(),
            }),
        }
    }

    fn poll_pollers(&self) -> usize {
        let count = self.pollers.borrow().len();
        let mut n = 0;
        for i in 0..count {
            let Some(mut p) = self
                .pollers
                .borrow_mut()
                .get_mut(i)
                .and_then(|e| e.poller.take())
            else {
                continue;
            };
            n += p.poll();
            let mut pollers = self.pollers.borrow_mut();
            let e = &mut pollers[i];
            if e.removed {
                drop(pollers);
                drop(p);
            } else {
                e.poller = Some(p);
            }
        }
        n
    }

    /// Lets the one busy poller block for its next completion (bounded
    /// by [`IO_WAIT`], `limit` and the next sleeper); false if there is
    /// none that can.
    fn wait_in_poller(&self, limit: Option<Duration>) -> bool {
        let mut timeout = IO_WAIT;
        if let Some(l) = limit {
            timeout = timeout.min(l);
        }
        if let Some(Reverse((at, _, _))) = self.core.borrow().sleeping.peek() {
            timeout = timeout.min(at.saturating_duration_since(Instant::now()));
        }
        if timeout.is_zero() {
            return false;
        }
        let mut pollers = self.pollers.borrow_mut();
        let mut busy = pollers
            .iter_mut()
            .filter_map(|e| e.poller.as_mut())
            .filter(|p| p.busy());
        match (busy.next(), busy.next()) {
            (Some(p), None) => p.wait_io(timeout),
            _ => false,
        }
    }

    fn pollers_busy(&self) -> bool {
        self.pollers
            .borrow()
            .iter()
            .any(|e| e.poller.as_ref().is_some_and(|p| p.busy()))
    }

    pub(crate) fn progress(self: &Rc<Self>) -> usize {
        if self.core.borrow().closed {
            return 0;
        }
        let mut total = 0;
        loop {
            let mut n = self.poll_pollers();
            n += self.process_msgs();
            n += self.wake_sleepers();
            n += self.run_ready();
            n += self.run_runnables();
            if n == 0 {
                break;
            }
            total += n;
        }
        if total > 0 {
            self.idle_waits.set(0);
        }
        total
    }

    /// Blocks until there may be something to do: spins while a poller has
    /// I/O in flight, otherwise parks until a message, a wake-up or the next
    /// sleeping task is due (or `limit` passes).
    pub(crate) fn wait(&self, limit: Option<Duration>) {
        if self.pollers_busy() {
            // I/O in flight. A poller that can block waits for its next
            // completion, for at most IO_WAIT so that work posted by other
            // threads meanwhile is seen soon; otherwise keep polling, but
            // let other runnable threads (other targets, the client) have
            // the core in between: with more threads than cores a pure
            // spin holds the core for a whole time slice while the thread
            // that would complete the work waits for it.
            let n = self.idle_waits.get();
            self.idle_waits.set(n.saturating_add(1));
            if n >= SPIN_WAITS && !self.shared.has_work() && self.wait_in_poller(limit) {
                return;
            }
            std::thread::yield_now();
            return;
        }
        let next = {
            let core = self.core.borrow();
            if core.closed {
                return;
            }
            core.sleeping
                .peek()
                .map(|Reverse((at, _, _))| at.saturating_duration_since(Instant::now()))
        };
        let timeout = match (next, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if timeout == Some(Duration::ZERO) {
            return;
        }
        self.shared.park(timeout);
    }

    // ---- teardown ---------------------------------------------------------

    fn teardown(self: &Rc<Self>) {
        self.core.borrow_mut().closed = true;
        for m in self.shared.close() {
            self.apply(m);
        }
        // Cancel everything not yet complete, sleeping tasks included. Their
        // bodies never run; their completion callbacks see -DER_CANCELED.
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
        // Break reference cycles (bodies and callbacks holding handles) and
        // drop what the slots own, outside the table borrow.
        let pollers = std::mem::take(&mut *self.pollers.borrow_mut());
        drop(pollers);
        loop {
            let garbage: Vec<Garbage> = {
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

    pub(crate) fn register_poller(&self, p: Box<dyn Poller>) -> PollerId {
        let id = self.next_poller.get() + 1;
        self.next_poller.set(id);
        self.pollers.borrow_mut().push(PollerEntry {
            id,
            poller: Some(p),
            removed: false,
        });
        PollerId(id)
    }

    pub(crate) fn unregister_poller(&self, id: PollerId) -> bool {
        let mut pollers = self.pollers.borrow_mut();
        let Some(i) = pollers.iter().position(|e| e.id == id.0 && !e.removed) else {
            return false;
        };
        if pollers[i].poller.is_some() {
            let e = pollers.remove(i);
            drop(pollers);
            drop(e);
        } else {
            // Being polled right now: dropped when its poll returns.
            pollers[i].removed = true;
        }
        true
    }
}

fn check_can_depend(core: &mut Core, key: u32) -> Result<(), Error> {
    if core.closed {
        return Err(Error::NoPerm("scheduler is shutting down"));
    }
    let s = core.slot(key);
    if s.state == State::Completed {
        return Err(Error::NoPerm("cannot add a dependency to a completed task"));
    }
    if s.dep_cnt == u32::MAX {
        return Err(Error::Inval("too many dependencies"));
    }
    Ok(())
}

/// A cheap, clonable handle to a scheduler: create and spawn tasks, drive
/// progress. It does not own the scheduler's life; [`Sched`] does.
#[derive(Clone)]
pub struct SchedHandle {
    pub(crate) inner: Rc<Inner>,
}

impl SchedHandle {
    /// Creates a task that runs `body` once scheduled and ready. The body
    /// must complete the task ([`Task::complete`]), hand that job to someone
    /// else, or register dependencies on its own task, which then completes
    /// when the last of them does (DAOS's fan-out pattern).
    pub fn create(&self, body: impl FnMut(&Task) + 'static) -> Task {
        self.inner.create("", Body::Fn(Box::new(body)))
    }

    /// [`create`](Self::create) with a static name (the seed step it
    /// implements, for tracing).
    pub fn create_named(&self, name: &'static str, body: impl FnMut(&Task) + 'static) -> Task {
        self.inner.create(name, Body::Fn(Box::new(body)))
    }

    /// Creates a task without a body: it completes through
    /// [`Task::complete`] or, once dependencies are registered and it is
    /// scheduled, when its dependencies finish and someone completes it.
    pub fn create_empty(&self, name: &'static str) -> Task {
        self.inner.create(name, Body::None)
    }

    /// Runs what is ready: messages from other threads, due sleeping tasks,
    /// ready tasks (prep callbacks, then body), woken futures, and every
    /// registered poller; repeats until a pass finds nothing. Returns how
    /// much work was done (0 = idle). Never blocks.
    pub fn progress(&self) -> usize {
        self.inner.progress()
    }

    /// Progresses until `task` completes and returns its result. Parks the
    /// thread when there is nothing to do (other threads wake it), and spins
    /// while a poller has I/O in flight.
    pub fn progress_until(&self, task: &Task) -> i32 {
        loop {
            if let Some(rc) = task.try_result() {
                return rc;
            }
            if self.progress() == 0 {
                if let Some(rc) = task.try_result() {
                    return rc;
                }
                self.inner.wait(None);
            }
        }
    }

    /// Progresses until nothing is in flight (every scheduled task done, no
    /// sleeping task) or `timeout` passes; returns true if drained.
    pub fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.progress();
            if self.is_idle() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.inner.wait(Some(deadline - now));
        }
    }

    /// True if no scheduled task is waiting, running or sleeping and no
    /// woken future is queued (DAOS's `tse_sched_check_complete`).
    pub fn is_idle(&self) -> bool {
        let mut core = self.inner.core.borrow_mut();
        // A sleeping entry whose task was completed (or re-initialised)
        // meanwhile is stale: it will be skipped when due, so it does not
        // keep the scheduler busy.
        let core = &mut *core;
        let live_sleeper = core.sleeping.iter().any(|Reverse((_, key, epoch))| {
            let s = &core.slots[*key as usize];
            s.epoch == *epoch && s.state == State::Sleeping
        });
        core.inflight == 0 && !live_sleeper && self.inner.shared.runq.is_empty()
    }

    /// Number of tasks scheduled and not yet completed.
    pub fn inflight(&self) -> usize {
        self.inner.core.borrow().inflight
    }

    /// The first non-zero result of any task completed on this scheduler.
    pub fn first_error(&self) -> i32 {
        self.inner.core.borrow().first_error
    }

    /// Registers a poller, called by every `progress()`.
    pub fn register_poller(&self, p: Box<dyn Poller>) -> PollerId {
        self.inner.register_poller(p)
    }

    /// Removes a poller; returns false if it was not registered.
    pub fn unregister_poller(&self, id: PollerId) -> bool {
        self.inner.unregister_poller(id)
    }

    /// Opens a traced [`Step`] named `name` under the running task (or the
    /// innermost open step): a seed step that is a function call rather
    /// than a task of its own. Ends when the returned guard is ended or
    /// dropped.
    pub fn step(&self, name: &'static str) -> Step {
        self.inner.begin_step(name)
    }

    /// Opens a traced [`Step`] named `name` whose parent is `parent` (a
    /// task's or step's trace id), for steps that run outside that task's
    /// body, such as a completion the ring reaps for it. Tasks created
    /// and steps opened meanwhile hang below it, as with [`step`].
    ///
    /// [`step`]: Self::step
    pub fn step_under(&self, parent: u64, name: &'static str) -> Step {
        self.inner.begin_step_under(Some(parent), name)
    }

    /// True while a tracer records this scheduler's spans (so optional
    /// trace-only work can be skipped otherwise).
    pub fn tracing(&self) -> bool {
        self.inner.core.borrow().tracing
    }

    /// Starts (or with `None` stops) recording a [`Span`] for every named
    /// task that completes on this scheduler, labelled `label`.
    pub fn set_tracer(&self, label: &'static str, tracer: Option<Tracer>) {
        self.inner.set_tracer(label, tracer)
    }

    /// A `Send + Sync` handle for other threads.
    pub fn remote(&self) -> RemoteSched {
        RemoteSched {
            shared: self.inner.shared.clone(),
        }
    }

    /// Runs `fut` to completion on this thread, progressing the scheduler
    /// while it waits. The future need not be `'static`.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        crate::future::block_on(self, fut)
    }

    /// Spawns a future as a task of this scheduler. The returned handle is a
    /// future of its output and gives the task ([`JoinHandle::task`]) that
    /// other tasks may depend on.
    ///
    /// [`JoinHandle::task`]: crate::JoinHandle::task
    pub fn spawn<F>(&self, fut: F) -> crate::JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        crate::future::spawn(self, fut)
    }

    pub(crate) fn wait(&self, limit: Option<Duration>) {
        self.inner.wait(limit)
    }
}

impl std::fmt::Debug for SchedHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let core = self.inner.core.borrow();
        f.debug_struct("SchedHandle")
            .field("inflight", &core.inflight)
            .field("closed", &core.closed)
            .finish_non_exhaustive()
    }
}

/// A single-threaded scheduler (DAOS's `tse_sched_t`), owned by one thread.
///
/// Dropping it tears it down: every task not yet complete is completed with
/// `-DER_CANCELED` without running its body (sleeping tasks included),
/// spawned futures are dropped, and everything the tasks own is released.
/// Handles that outlive it see a closed scheduler: scheduling fails with
/// [`Error::NoPerm`] and new tasks are born canceled.
pub struct Sched {
    handle: SchedHandle,
}

impl Sched {
    /// A new scheduler owned by the calling thread.
    pub fn new() -> Sched {
        Sched {
            handle: SchedHandle {
                inner: Inner::new(),
            },
        }
    }

    /// A clonable handle (for bodies and callbacks that create tasks).
    pub fn handle(&self) -> SchedHandle {
        self.handle.clone()
    }
}

impl Default for Sched {
    fn default() -> Self {
        Sched::new()
    }
}

impl Deref for Sched {
    type Target = SchedHandle;
    fn deref(&self) -> &SchedHandle {
        &self.handle
    }
}

impl Drop for Sched {
    fn drop(&mut self) {
        self.handle.inner.teardown();
    }
}

impl std::fmt::Debug for Sched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle.fmt(f)
    }
}
