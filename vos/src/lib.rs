//! # vos: the versioned object store (placeholder until its issue lands)
//!
//! This crate will hold the engine-side store that `obj_local_rw` writes into:
//! `vos_update_begin` reserves data space and starts the data write through
//! [`bio`], `vos_update_end` appends the WAL record that publishes the index
//! change, and `fetch` reads the newest version at or below an epoch.
//! Data model: object -> dkey -> akey -> single value or array extents, each
//! version tagged with an epoch. The index lives in memory and is made durable
//! by the WAL plus periodic checkpoints (DAOS's metadata-on-SSD model).
//!
//! Nothing is implemented yet; the crate exists so the workspace has its final
//! shape and the dependency direction `dfs -> obj -> vos -> bio -> tse` is fixed.

pub use bio;
