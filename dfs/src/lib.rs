//! # dfs: the POSIX namespace and the array layer
//!
//! The top of the seed: `dfs_write` (file -> array object, byte offset ->
//! array index) and the array layer (`dc_array_write`, `dc_array_io`,
//! `compute_dkey`, `create_sgl`: one object update per dkey, scheduled as a
//! task list) on top of [`obj`], and later the FUSE daemon.
//!
//! So far this crate holds the array layer's arithmetic ([`array`]):
//! splitting a byte range and a scatter-gather list into per-dkey I/Os
//! with zero-copy views of the caller's buffers. The namespace, the array
//! tasks and the examples come with the dfs issue.

#![warn(missing_docs)]

pub mod array;

pub use obj;
