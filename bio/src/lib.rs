//! # bio: block I/O over io_uring
//!
//! The bottom of the seed. A target's [`BioCtx`] owns its device (an
//! O_DIRECT file or block device, or an NVMe namespace driven by
//! passthrough commands), an io_uring ring polled by the target's tse
//! scheduler, and a pool of registered DMA buffers.
//!
//! How an update's bytes flow: [`Iod::prep`] (`bio_iod_prep`) maps the I/O
//! descriptor onto DMA buffers, waiting in line when the pool is exhausted,
//! and copies the write data in once; [`Iod::post`] (`bio_iod_post`:
//! `dma_rw` -> `nvme_rw`) submits one SQE per contiguous run; each CQE is
//! matched to its operation by `user_data` (a slab key with a generation)
//! and completes that run's task (`rw_completion`); the post task completes
//! with the last of them (`iod_dma_completion`). The [`wal`] appends records
//! with group commit and completes each once it is on the device as the
//! pool's [`Durability`] contract promises (`wal_completion`: the frame
//! written under `device`, written and flushed under `flush`); [`TxLog`]
//! writes an update's data and its record together, the record carrying
//! the data's checksums, and acknowledges transactions in order once both
//! are there (`data_completion`; under `flush`, the frame's flush is
//! issued once its write and its records' data writes completed, so one
//! flush covers all of them). Frames carry the log's acknowledged mark, so
//! replay checks the data of every record past it and refuses a log that
//! lost acknowledged records instead of taking the loss for a torn tail.

mod commit;
mod ctx;
mod dev;
mod dma;
mod durability;
mod error;
pub mod nvme;
mod ring;
pub mod wal;
pub mod walfmt;
mod watch;

pub use commit::{DataSum, LogCheck, TxData, TxExtent, TxLog, DATA_FIRST, SUMS_CHUNKED};
pub use ctx::{BioConfig, BioCtx, Flush, Iod};
pub use dev::{Backend, DevKind, DevOpts, Device};
pub use dma::{DmaPool, DmaSeg, DMA_PAGE};
pub use durability::{Durability, WriteCache};
pub use error::{BioError, Errno};
pub use ring::RingStats;
pub use wal::{ReplayedFrame, Wal, WalDamage, WalPos, WalScan};
pub use watch::IoWatch;
