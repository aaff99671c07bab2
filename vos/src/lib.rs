//! # vos: the versioned object store
//!
//! The engine-side store that `obj_local_rw` writes into. Data model
//! (DAOS's): object -> dkey -> akey -> a single value or an array of
//! fixed-size records, every version tagged with an epoch. A fetch at
//! epoch E sees, per key and per record, the newest version at or below E
//! that no punch at or below E hides; records never written read as holes.
//!
//! How a write flows (DAOS's metadata-on-SSD model): `vos_update_begin`
//! reserves space in the target's data region ([`ExtentAlloc`]) and starts
//! the data write through `bio`; `vos_update_end` logs the index change
//! (an [`IndexOp`], with the data's checksum) to the WAL and, once data and
//! record are on the device as the pool's durability contract promises
//! (`bio::Durability`), applies it to the in-memory [`Index`]. Replay re-applies the logged ops after the last
//! checkpoint. Aggregation drops versions no reader can still see and
//! frees their space. An abort (DAOS's `vos_dtx_abort`, [`Cont::abort`])
//! removes one update's or punch's version again ([`Cont::abort_punch`]
//! for object and dkey punches), for a DTX that did not succeed on every
//! replica.
//!
//! How a read flows: [`Cont::fetch_array_task`] (`vos_fetch_begin`)
//! resolves the records in the index, issues every device read at once
//! and completes once a `vos_fetch_end` task has checked them: an array
//! extent of more than one block keeps a crc32c per 4 KiB chunk
//! ([`ChunkCsums`]), so a read of part of it reads and checks only the
//! chunks it touches; a smaller extent or single value is read and
//! checked whole. A checksum mismatch is an error, never data.
//!
//! [`Target`] is one target's store on its device region (create, open
//! with replay, checkpoint, aggregation, containers); a [`Cont`] is an
//! open container on it (update/punch/fetch/enumerate its objects); the
//! pool functions split a device into target regions. A pool-wide
//! container is the same container id created on every target (the
//! engine does that, as DAOS's `ds_cont` does).

mod alloc;
mod codec;
mod cont;
mod error;
mod extent;
mod fetch;
mod ilog;
mod layout;
mod pool;
mod record;
mod target;
mod tree;
mod types;

pub use alloc::ExtentAlloc;
pub use codec::{Dec, Enc};
pub use cont::Cont;
pub use error::VosError;
pub use extent::{ExtentTree, Segment};
pub use fetch::{ArrayFetch, FetchSlot, SingleFetch};
pub use ilog::Ilog;
pub use layout::{Geometry, Superblock, FORMAT_VERSION, MIN_REGION, SB_MAGIC};
pub use pool::{pool_check, pool_create, pool_open_target, pool_query, pool_space, PoolMapInfo};
pub use record::MAX_KEY_LEN;
pub use target::{CheckpointSpace, Target, TargetCheck};
pub use tree::{Index, IndexOp, Value};
pub use types::{
    check_label, ChunkCsums, ContId, DataAddr, Epoch, ObjId, Recx, Version, CSUM_CHUNK, EPOCH_MAX,
    MAX_CHUNKS, MAX_LABEL_LEN,
};

pub use bio;
