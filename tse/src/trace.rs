//! Tracing of named tasks: each completed task that has a name (the seed
//! step it implements) becomes a [`Span`] with its parent, its
//! scheduler's label and its start and end times. One [`Tracer`] may be
//! shared by the schedulers of several threads (client and engine
//! targets), so one operation's whole path lands in one place.

use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One traced step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The task's id (unique across schedulers of the process).
    pub id: u64,
    /// The id of the task that created it (or that
    /// [`Task::set_parent`](crate::Task::set_parent) named); 0 for none.
    pub parent: u64,
    /// The task's name.
    pub name: &'static str,
    /// The label of the scheduler it ran on (e.g. `client`, `tgt0`).
    pub sched: &'static str,
    /// When its body started (ns since the tracer was made); equal to
    /// `end_ns` for a task completed without running.
    pub start_ns: u64,
    /// When it completed.
    pub end_ns: u64,
    /// Its result.
    pub rc: i32,
}

struct TracerInner {
    t0: Instant,
    spans: Mutex<Vec<Span>>,
}

/// Collects spans from any number of schedulers.
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<TracerInner>,
}

impl Tracer {
    /// An empty tracer; its clock starts now.
    pub fn new() -> Tracer {
        Tracer {
            inner: Arc::new(TracerInner {
                t0: Instant::now(),
                spans: Mutex::new(Vec::new()),
            }),
        }
    }

    pub(crate) fn now_ns(&self) -> u64 {
        self.inner.t0.elapsed().as_nanos() as u64
    }

    pub(crate) fn record(&self, span: Span) {
        self.inner
            .spans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(span);
    }

    /// The spans recorded so far, in completion order.
    pub fn spans(&self) -> Vec<Span> {
        self.inner
            .spans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forgets every span recorded so far.
    pub fn clear(&self) {
        self.inner
            .spans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Default for Tracer {
    fn default() -> Self {
        Tracer::new()
    }
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").finish_non_exhaustive()
    }
}
