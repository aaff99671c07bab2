//! Layer 4, bridges: tasks as futures ([`future`]) and handles for other
//! threads ([`remote`]). They use the handles below them and add methods to
//! [`crate::Task`] and [`crate::SchedHandle`] (`remote`, `spawn`,
//! `block_on`, ...) without the layers below knowing about them.

pub(crate) mod future;
pub(crate) mod remote;
