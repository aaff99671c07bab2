//! Layer 4, the bridge to other threads: `Send + Sync` handles.
//!
//! A [`crate::Sched`] is single-threaded: its task table is touched only by
//! the thread that owns it, without locks. [`RemoteSched`] and
//! [`RemoteTask`] are what other threads hold; their effects (task
//! completions, dependency registrations and completions across
//! schedulers, reference drops, closures to run) go through the
//! scheduler's mailbox, and the owner applies them at its next
//! `progress()`.

use std::sync::Arc;

use crate::error::Error;
use crate::sched::{Msg, SchedHandle, Shared, Task};

/// A `Send + Sync` handle to a scheduler, for other threads.
///
/// It can wake the scheduler and run closures on its thread; this is how an
/// engine target hands work to another target or back to a client.
#[derive(Clone)]
pub struct RemoteSched {
    pub(crate) shared: Arc<Shared>,
}

impl RemoteSched {
    /// Runs `f` on the scheduler's thread at its next `progress()`.
    /// Returns `false` if the scheduler has been torn down (then `f` is dropped).
    pub fn post(&self, f: impl FnOnce(&SchedHandle) + Send + 'static) -> bool {
        self.shared.send(Msg::Run(Box::new(f))).is_ok()
    }

    /// Wakes the scheduler's thread if it is waiting for work.
    pub fn wake(&self) {
        self.shared.kick();
    }

    /// True if both handles are for the same scheduler.
    pub fn same(&self, other: &RemoteSched) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl std::fmt::Debug for RemoteSched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSched").finish_non_exhaustive()
    }
}

/// A `Send + Sync` handle to a task, for other threads.
///
/// It keeps the task alive like a [`crate::Task`] does. From any thread it
/// can complete the task (as an RPC reply completes a client task in DAOS),
/// and a task of another scheduler can depend on it
/// ([`crate::Task::register_remote_deps`]).
pub struct RemoteTask {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: u32,
    /// The reference was handed over by [`complete_once`](Self::complete_once).
    pub(crate) released: bool,
}

impl RemoteTask {
    /// Completes the task with `rc` on its scheduler's thread (at its next
    /// `progress()`). A no-op if the task is already complete.
    pub fn complete(&self, rc: i32) {
        let _ = self.shared.send(Msg::Complete { key: self.key, rc });
    }

    /// Completes the task with `rc` and gives up this handle, in one
    /// message to the task's scheduler (`complete` followed by a drop
    /// sends two, and each can wake the scheduler's thread). This is how
    /// an RPC reply ends its task.
    pub fn complete_once(mut self, rc: i32) {
        let sent = self
            .shared
            .send(Msg::CompleteRelease { key: self.key, rc })
            .is_ok();
        // The message carries this handle's reference; Drop sends nothing.
        self.released = sent;
    }

    /// The task's scheduler.
    pub fn sched(&self) -> RemoteSched {
        RemoteSched {
            shared: self.shared.clone(),
        }
    }
}

impl Clone for RemoteTask {
    fn clone(&self) -> Self {
        // The increment is queued before the clone exists, so it is applied
        // before any decrement of the clone: the count cannot reach zero early.
        let _ = self.shared.send(Msg::Incref { key: self.key });
        RemoteTask {
            shared: self.shared.clone(),
            key: self.key,
            released: false,
        }
    }
}

impl Drop for RemoteTask {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let _ = self.shared.send(Msg::Decref { key: self.key });
    }
}

impl std::fmt::Debug for RemoteTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTask")
            .field("key", &self.key)
            .finish()
    }
}

impl Task {
    /// Like [`register_deps`](Self::register_deps) for tasks of schedulers
    /// driven by other threads.
    pub fn register_remote_deps(&self, deps: &[RemoteTask]) -> Result<(), Error> {
        for d in deps {
            self.inner.register_remote_dep(self.key, &d.shared, d.key)?;
        }
        Ok(())
    }

    /// A `Send + Sync` handle to this task for other threads.
    pub fn remote(&self) -> RemoteTask {
        self.inner.incref(self.key);
        RemoteTask {
            shared: self.inner.shared.clone(),
            key: self.key,
            released: false,
        }
    }
}

impl SchedHandle {
    /// A `Send + Sync` handle for other threads.
    pub fn remote(&self) -> RemoteSched {
        RemoteSched {
            shared: self.inner.shared.clone(),
        }
    }
}
