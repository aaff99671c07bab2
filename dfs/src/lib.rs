//! # dfs: the POSIX namespace and the array layer (placeholder until its issue lands)
//!
//! This crate will hold the top of the seed: `dfs_write` (file -> array
//! object, byte offset -> array index), the array layer (`dc_array_write`,
//! `dc_array_io`, `compute_dkey`, `create_sgl`, one object update per dkey
//! scheduled as a task list) on top of [`obj`], and later the FUSE daemon.
//!
//! Nothing is implemented yet; the crate exists so the workspace has its final
//! shape and the dependency direction `dfs -> obj -> vos -> bio -> tse` is fixed.

pub use obj;
