//! Task lists for fan-outs (DAOS's `tse_task_list_*`).
//!
//! A list is a plain slice of task handles owned by the caller; the array
//! layer builds one update task per dkey, makes the parent depend on the
//! list, and schedules the list in one go.

use crate::error::Error;
use crate::sched::Task;

/// Schedules every task of `list`, in order (`tse_task_list_sched`).
/// Stops at the first refusal and returns it.
pub fn list_sched(list: &[Task], instant: bool) -> Result<(), Error> {
    list.iter().try_for_each(|t| t.schedule(instant))
}

/// Completes every task of `list` with `rc` without running it
/// (`tse_task_list_abort`), e.g. when building a fan-out failed half-way.
pub fn list_abort(list: &[Task], rc: i32) {
    for t in list {
        t.complete(rc);
    }
}

/// Makes every task of `list` depend on `task` (`tse_task_list_depend`).
pub fn list_depend(list: &[Task], task: &Task) -> Result<(), Error> {
    list.iter()
        .try_for_each(|t| t.register_deps(std::slice::from_ref(task)))
}

/// Makes `task` depend on every task of `list` (`tse_task_depend_list`).
pub fn depend_list(task: &Task, list: &[Task]) -> Result<(), Error> {
    task.register_deps(list)
}

/// Calls `f` on each task in order; stops at, and returns, the first
/// non-zero status (`tse_task_list_traverse`).
pub fn list_traverse(list: &[Task], mut f: impl FnMut(&Task) -> i32) -> i32 {
    for t in list {
        let rc = f(t);
        if rc != 0 {
            return rc;
        }
    }
    0
}
