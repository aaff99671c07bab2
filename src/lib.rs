//! # rdaos
//!
//! DAOS's user-space file-system write path, re-implemented in Rust as a
//! library. An application write travels `dfs_write` -> `dc_array_io` ->
//! `dc_obj_update` -> `dc_obj_shard_rw` -> RPC -> `ds_obj_rw_handler` ->
//! `obj_local_rw` -> `vos_update_begin` -> `bio_iod_prep`/`bio_iod_post` ->
//! io_uring (NVMe passthrough or O_DIRECT), and the completions come back up
//! the same way. Every step is a task of the [`tse`] task engine.
//!
//! This facade re-exports the layers, top to bottom:
//! [`dfs`] (POSIX namespace + array layer), [`obj`] (object client and
//! engine), [`vos`] (versioned object store), [`bio`] (block I/O over
//! io_uring) and [`tse`] (the task engine everything runs on).
//!
//! Beside them: [`storage`], the pools of a storage directory and an
//! engine started on one in-process (what the `rdaos` command uses), and
//! [`size`], byte sizes as people write and read them.

pub mod size;
pub mod storage;

pub use bio;
pub use dfs;
pub use obj;
pub use tse;
pub use vos;
