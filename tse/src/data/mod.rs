//! Layer 1, data: what a scheduler knows, without the code that runs
//! tasks. A task's slot ([`slot`]) with its argument stack ([`stack`]),
//! the task table with its queues
//! ([`table`]), and the mailbox through which other threads reach a
//! scheduler ([`mailbox`]), and the per-thread pool that recycles the
//! boxes of bodies and callbacks ([`pool`]). Nothing here calls a body, a callback or a
//! waker; the modules above import from here and never the reverse.

pub(crate) mod mailbox;
pub(crate) mod pool;
pub(crate) mod slot;
pub(crate) mod stack;
pub(crate) mod table;
