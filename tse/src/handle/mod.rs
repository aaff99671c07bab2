//! Layer 3, handles: the public API of tasks ([`task`]) and schedulers
//! ([`sched`]), typed task outputs ([`output`]), traced steps ([`step`]),
//! task lists ([`list`]) and event queues ([`eq`]). Everything here is a thin layer over the scheduler
//! (layer 2); nothing below imports from it.

pub(crate) mod eq;
pub(crate) mod list;
pub(crate) mod output;
pub(crate) mod sched;
pub(crate) mod step;
pub(crate) mod task;
