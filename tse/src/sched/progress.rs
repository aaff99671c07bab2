//! One pass of `progress()` and waiting for work: the inbox of other
//! threads, due sleepers, the ready queue, woken futures and pollers.

use std::cmp::Reverse;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::data::slot::{Dependent, State};
use crate::poller::{Poller, PollerId};
use crate::sched::{Inner, Msg, SchedHandle};

/// Longest a scheduler with I/O in flight blocks in its poller before
/// looking at its inbox again (work from other threads does not end the
/// wait early).
const IO_WAIT: Duration = Duration::from_micros(50);

/// Idle polls (each followed by a yield) before a scheduler with I/O in
/// flight blocks in its poller: a completion that is microseconds away is
/// caught without a sleep and a wake-up, a longer wait costs no core.
const SPIN_WAITS: u32 = 64;

/// A registered poller.
pub(crate) struct PollerEntry {
    pub(crate) id: u64,
    pub(crate) poller: Option<Box<dyn Poller>>,
    pub(crate) removed: bool,
}

impl Inner {
    /// True if no scheduled task is waiting, running or sleeping and no
    /// woken future is queued.
    pub(crate) fn is_idle(&self) -> bool {
        let mut core = self.core.borrow_mut();
        // A sleeping entry whose task was completed (or re-initialised)
        // meanwhile is stale: it will be skipped when due, so it does not
        // keep the scheduler busy.
        let core = &mut *core;
        let live_sleeper = core.sleeping.iter().any(|Reverse((_, key, epoch))| {
            let s = &core.slots[*key as usize];
            s.epoch == *epoch && s.state == State::Sleeping
        });
        core.inflight == 0 && !live_sleeper && self.shared.runq.is_empty()
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

    pub(crate) fn process_msgs(self: &Rc<Self>) -> usize {
        let mut msgs = std::mem::take(&mut *self.msgs.borrow_mut());
        self.shared.take_msgs(&mut msgs);
        let n = msgs.len();
        for m in msgs.drain(..) {
            self.apply(m);
        }
        *self.msgs.borrow_mut() = msgs;
        n
    }

    pub(crate) fn apply(self: &Rc<Self>, m: Msg) {
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
