//! # bio: block I/O over io_uring (being built; see issue 3)
//!
//! The bottom of the seed: `bio_iod_prep`, `bio_iod_post`, `dma_rw`,
//! `nvme_rw` and their completions, over NVMe passthrough or O_DIRECT
//! io_uring.

pub use tse;
