//! Tracing inside the scheduler: marking the running task as the parent
//! of what it creates, and recording the span of each named task and
//! traced step as it ends.

use std::rc::Rc;

use crate::sched::{Core, Inner};
use crate::trace::{Span, Tracer};

/// A traced step that is open: what [`crate::Step`] holds until it ends.
pub(crate) struct OpenStep {
    pub(crate) inner: Rc<Inner>,
    pub(crate) id: u64,
    pub(crate) parent: u64,
    pub(crate) prev: u64,
    pub(crate) name: &'static str,
    pub(crate) start_ns: u64,
}

impl Inner {
    /// While tracing: marks `key` as the running task (the parent of tasks
    /// it creates) and, for a body, notes its start. Returns what to give
    /// [`leave`](Self::leave).
    #[inline]
    pub(crate) fn enter(&self, key: u32, body: bool) -> Option<u64> {
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
    pub(crate) fn leave(&self, prev: Option<u64>) {
        if let Some(p) = prev {
            self.core.borrow_mut().current = p;
        }
    }

    /// Records the span of a named task that just completed.
    pub(crate) fn trace_done(&self, core: &mut Core, key: u32) {
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
    pub(crate) fn begin_step(self: &Rc<Self>, name: &'static str) -> Option<OpenStep> {
        self.begin_step_under(None, name)
    }

    /// Opens a step whose trace parent is `parent` (or, with `None`, the
    /// running task or innermost open step).
    pub(crate) fn begin_step_under(
        self: &Rc<Self>,
        parent: Option<u64>,
        name: &'static str,
    ) -> Option<OpenStep> {
        let mut core = self.core.borrow_mut();
        if !core.tracing {
            return None;
        }
        let start_ns = self.tracer.borrow().as_ref().map_or(0, |(t, _)| t.now_ns());
        core.next_id += 1;
        let id = core.next_id;
        let prev = std::mem::replace(&mut core.current, id);
        Some(OpenStep {
            inner: self.clone(),
            id,
            parent: parent.unwrap_or(prev),
            prev,
            name,
            start_ns,
        })
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
}
