//! Traced steps that are function calls rather than tasks.

use crate::sched::tracing::OpenStep;

/// A traced step that is not a task of its own (a function call inside a
/// task's body, such as `obj_req_valid` or `process_epoch`), made by
/// [`SchedHandle::step`](crate::SchedHandle::step).
///
/// While it is open, tasks created (and steps opened) on its scheduler
/// have it as their trace parent. It records its span when ended (or
/// dropped, with status 0). Steps of one scheduler nest: end them in the
/// reverse order they were opened, which scoping does by itself. When the
/// scheduler is not tracing, a step costs one flag check and records
/// nothing.
#[must_use = "a step records its span when ended or dropped"]
pub struct Step {
    pub(crate) open: Option<OpenStep>,
}

impl Step {
    /// The step's span id (0 when not tracing).
    pub fn id(&self) -> u64 {
        self.open.as_ref().map_or(0, |o| o.id)
    }

    /// Ends the step with status `rc` (0 = success).
    pub fn end(mut self, rc: i32) {
        if let Some(o) = self.open.take() {
            let inner = o.inner.clone();
            inner.end_step(o, rc);
        }
    }

    /// Ends the step with the status of `r` (`rc_of` maps an error to a
    /// `-DER_*` status) and hands `r` back.
    pub fn end_with<T, E>(self, r: Result<T, E>, rc_of: impl FnOnce(&E) -> i32) -> Result<T, E> {
        let rc = r.as_ref().err().map_or(0, rc_of);
        self.end(rc);
        r
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(o) = self.open.take() {
            let inner = o.inner.clone();
            inner.end_step(o, 0);
        }
    }
}
