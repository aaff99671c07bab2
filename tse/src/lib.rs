//! # tse: the task scheduler engine
//!
//! The core of rdaos, modelled on DAOS's TSE (`src/common/tse.c`): every
//! step of the write path (`dfs_write` -> `dc_array_io` -> `dc_obj_update`
//! -> `dc_obj_shard_rw` -> `ds_obj_rw_handler` -> `vos_update_begin` ->
//! `bio_iod_post` -> `nvme_rw`) is a [`Task`] with registered dependencies
//! and completion callbacks, and the completions unwind the same stack.
//!
//! ## How work flows
//!
//! * A [`Sched`] is single-threaded and owned by one thread (a client
//!   thread or an engine target). It is driven by [`SchedHandle::progress`],
//!   which runs what is ready and polls the registered [`Poller`]s (io_uring
//!   rings, transports); it never blocks. [`SchedHandle::progress_until`]
//!   and [`SchedHandle::block_on`] wait for one task or future, parking the
//!   thread when there is nothing to do.
//! * A task is created with a body ([`SchedHandle::create`]) and scheduled
//!   ([`Task::schedule`]). It runs once every dependency
//!   ([`Task::register_deps`]) completed: prep callbacks first-registered
//!   first, then the body. The body completes it ([`Task::complete`]),
//!   leaves that to someone else (an RPC reply, a CQE), or registers
//!   dependencies on its own task, which then completes with the last of
//!   them. Completion callbacks run last-registered first and may
//!   re-initialise the task to run again ([`Task::reinit`]: DAOS's retry).
//!   The first error wins and propagates to dependents unless they
//!   [`Task::disable_propagate`].
//! * The task table is a slab of reused slots; handles are reference
//!   counts. The ready queue, the dependents lists and the completion work
//!   list make every step O(1) per task whatever the graph's shape.
//! * Futures run on the same engine: a task handle is a `Future` of its
//!   result, and [`SchedHandle::spawn`] makes a future a task that others
//!   may depend on. An async task may await callback tasks and callback
//!   tasks may depend on async tasks.
//! * Other threads reach a scheduler through [`RemoteSched`] and
//!   [`RemoteTask`] (`Send + Sync`): their completions, dependency
//!   registrations and wake-ups go through a message inbox the owner drains
//!   in `progress()`, so tasks of different schedulers may depend on each
//!   other across threads.
//! * A task's value besides its status (the bytes a fetch read, a reply)
//!   goes through an [`Output`] (or, filled from another thread, a
//!   [`SendOutput`]); a [`TaskOut`] pairs a task with its output and can
//!   be awaited, waited on, or depended on ([`SchedHandle::create_out`]).
//! * [`Eq`](struct@Eq) is the event-queue style: launch many tasks, poll for finished
//!   events, no async needed.
//! * With a [`Tracer`] set ([`SchedHandle::set_tracer`]), every named
//!   task that completes records a [`Span`]: name, parent task, scheduler
//!   label, start and end. One tracer may serve many threads.
//! * Dropping a `Sched` cancels what has not run: every task not yet
//!   complete (sleeping ones included) completes with `-DER_CANCELED`
//!   without running its body ([`SchedHandle::complete`] with `cancel`).
//!
//! ## Layers
//!
//! The modules stack strictly downward; none imports from a layer above it.
//!
//! 0. Vocabulary: `error` (status codes, [`Error`]), `poller` ([`Poller`],
//!    [`OpTable`]) and `trace` ([`Span`], [`Tracer`]).
//! 1. `data`: what a task is (its slot: state, body, callbacks, dependents,
//!    argument stack), the task table with its queues, and the mailbox
//!    other threads post to. It stores closures and never calls them;
//!    it is generic over the handle the closures receive.
//! 2. `sched`: the scheduler that runs tasks: scheduling, running,
//!    completion, progress and teardown. It defines the two references
//!    user code holds, [`Task`] and [`SchedHandle`].
//! 3. `handle`: the public API of those references (DAOS's `tse_task_*`
//!    and `tse_sched_*`), [`Sched`], typed outputs ([`TaskOut`]), [`Step`],
//!    task lists and [`Eq`](struct@Eq).
//! 4. `bridge`: tasks as futures ([`JoinHandle`], `spawn`, `block_on`) and
//!    the `Send + Sync` handles for other threads ([`RemoteSched`],
//!    [`RemoteTask`]).
//!
//! Rendering traces as diagrams is not the engine's business: the
//! `tse-puml` crate draws what a [`Tracer`] recorded.
//!
//! ## What follows DAOS's `tse.c`
//!
//! * [`SchedHandle::complete`] is `tse_sched_complete(ret, cancel)`:
//!   `ret` becomes the scheduler's result unless it has one; without
//!   `cancel` it waits for every task in flight, with it every task not
//!   yet complete is completed without running its body; then the
//!   scheduler's completion callbacks ([`SchedHandle::register_comp_cb`],
//!   [`Sched::init`]) run, last registered first, and its user data
//!   ([`SchedHandle::set_udata`], DAOS's `ds_udata`) is dropped.
//! * A prep callback that completes its task drops the prep callbacks
//!   after it uncalled, so the task can be [`Task::reset`].
//! * [`Task::reinit`] empties the argument stack (DAOS resets its top), and
//!   the next attempt reads back what was live at each depth with
//!   [`Task::stack_push_with`], as DAOS's next push finds the bytes the
//!   last attempt left.
//!
//! ## Differences from DAOS, on purpose
//!
//! * A dependency that is already complete still propagates its error (DAOS
//!   ignores it): a fan-out that registers a part after it failed must not
//!   report success. [`Task::disable_propagate`] opts out as usual.
//! * A scheduler belongs to one thread; other threads post to it
//!   ([`RemoteSched`], [`RemoteTask`]) and the owner applies their messages
//!   at its next `progress()`. DAOS takes the scheduler's mutex for every
//!   call from any thread; here the task table needs no lock, and a
//!   thread never runs another thread's callbacks.
//! * A task canceled by [`SchedHandle::complete`]`(ret, true)` (or by
//!   dropping the [`Sched`]) completes with `-DER_CANCELED` (unless it
//!   already had an error) and its completion callbacks run; DAOS leaves
//!   its result as it was (0 if it never ran) and skips its callbacks. In
//!   Rust the callbacks own what they captured and the layers above count
//!   on them to hear of the end, and a canceled write must not look like
//!   a success.
//! * A prep callback that re-initialises its task leaves the prep
//!   callbacks after it for the next attempt, where they run just before
//!   the body (DAOS runs them at once, before the new dependencies are
//!   done).
//! * A bounded stack overflow is an error value, not an assert; the stack
//!   holds typed values ([`Task::stack_push`]).
//! * The last handle of a never-scheduled task cancels it, so its dependents
//!   are released instead of waiting forever.
//!
//! `tests/daos_match.rs` has one test per rule of both lists.

mod bridge;
mod data;
mod error;
mod handle;
mod poller;
mod sched;
mod trace;

pub use bridge::future::JoinHandle;
pub use bridge::remote::{RemoteSched, RemoteTask};
pub use data::stack::TASK_STACK_SIZE;
pub use error::{der, der_name, rc_to_result, Error};
pub use handle::eq::{Eq, EqEvent};
pub use handle::list::{depend_list, list_abort, list_depend, list_sched, list_traverse};
pub use handle::output::{Output, OutputCell, SendOutput, TaskOut};
pub use handle::sched::Sched;
pub use handle::step::Step;
pub use poller::{OpTable, Poller, PollerId};
pub use sched::{SchedHandle, Task};
pub use trace::{Span, Tracer};
