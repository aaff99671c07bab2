//! # dfs: the POSIX namespace and the array layer
//!
//! The top of the seed: `dfs_write` (file -> array object, byte offset ->
//! array index) and the array layer (`dc_array_write`, `dc_array_io`,
//! `compute_dkey`, `create_sgl`: one object update per dkey, scheduled as a
//! task list) on top of [`obj`], and later the FUSE daemon.
//!
//! So far this crate holds the array layer:
//!
//! * [`array`]: its arithmetic, splitting record ranges and a
//!   scatter-gather list into per-dkey I/Os (`compute_dkey`, `create_sgl`)
//!   with views of the caller's buffers, and the error type
//!   [`ArrayError`];
//! * [`darray`]: the array object (DAOS's `daos_array_*`): [`Array`]
//!   creates and opens an array (cell and chunk sizes kept in dkey 0),
//!   writes and reads it as the seed's task graph (`dc_array_write` /
//!   `dc_array_read` -> `dc_array_io` -> one `dc_obj_update_task` or
//!   `dc_obj_fetch_task` per dkey, scheduled as a list), and gets, sets
//!   and punches its size and cells.
//!
//! The POSIX namespace (`dfs_*`) and the FUSE daemon come with the dfs
//! issue.

#![warn(missing_docs)]

pub mod array;
pub mod darray;

pub use array::{ArrayError, Range};
pub use darray::{Array, ReadOut, ReadResult};
pub use obj;
