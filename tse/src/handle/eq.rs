//! Event queues (DAOS's `daos_eq_*`): run many operations at once from one
//! thread without async.
//!
//! [`Eq::launch`] attaches an event to a task (its completion is recorded
//! after every other completion callback of the task has run, as
//! `dc_task_create` arranges) and schedules it; [`Eq::poll`] progresses the
//! scheduler and returns finished events.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sched::{SchedHandle, Task};

/// A finished operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EqEvent {
    /// The value given to [`Eq::launch`].
    pub user_data: u64,
    /// The task's result (0 or `-DER_*`).
    pub rc: i32,
}

#[derive(Default)]
struct EqState {
    done: VecDeque<EqEvent>,
    inflight: usize,
}

/// An event queue on a scheduler.
pub struct Eq {
    sched: SchedHandle,
    state: Rc<RefCell<EqState>>,
}

impl Eq {
    /// A new event queue driven through `sched`.
    pub fn new(sched: &SchedHandle) -> Eq {
        Eq {
            sched: sched.clone(),
            state: Rc::default(),
        }
    }

    /// Attaches an event tagged `user_data` to `task` and schedules it
    /// (instantly, as `dc_task_schedule` does). The event is reported by
    /// [`poll`](Self::poll) once the task completed.
    pub fn launch(&self, task: &Task, user_data: u64) -> Result<(), Error> {
        let state = self.state.clone();
        task.register_comp_cb_last(move |t| {
            let mut st = state.borrow_mut();
            st.inflight -= 1;
            st.done.push_back(EqEvent {
                user_data,
                rc: t.result(),
            });
            0
        })?;
        self.state.borrow_mut().inflight += 1;
        if let Err(e) = task.schedule(true) {
            // Reported through the event, as DAOS does.
            task.complete(e.rc());
        }
        Ok(())
    }

    /// Progresses until at least one event finished (or `timeout` passes;
    /// `None` waits as long as events are in flight) and returns up to `max`
    /// finished events.
    pub fn poll(&self, max: usize, timeout: Option<Duration>) -> Vec<EqEvent> {
        let mut out = Vec::new();
        self.poll_into(&mut out, max, timeout);
        out
    }

    /// [`poll`](Self::poll) into a caller's vector (no allocation once it
    /// has capacity); returns how many were appended.
    pub fn poll_into(
        &self,
        out: &mut Vec<EqEvent>,
        max: usize,
        timeout: Option<Duration>,
    ) -> usize {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let n = self.sched.progress();
            {
                let mut st = self.state.borrow_mut();
                if !st.done.is_empty() || st.inflight == 0 {
                    let k = max.min(st.done.len());
                    out.extend(st.done.drain(..k));
                    return k;
                }
            }
            let limit = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return 0;
                    }
                    Some(d - now)
                }
                None => None,
            };
            if n == 0 {
                self.sched.wait(limit);
            }
        }
    }

    /// Events launched and not yet finished.
    pub fn inflight(&self) -> usize {
        self.state.borrow().inflight
    }

    /// Finished events not yet returned by `poll`.
    pub fn ready(&self) -> usize {
        self.state.borrow().done.len()
    }
}
