//! The store's error type.

use crate::types::Epoch;

/// What can go wrong in the versioned object store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VosError {
    /// Epoch 0 and `EPOCH_MAX` cannot be written.
    #[error("epoch {0} cannot be written (0 and EPOCH_MAX are reserved)")]
    BadEpoch(Epoch),
    /// An empty key or a zero-length extent/value.
    #[error("invalid argument: {0}")]
    Inval(&'static str),
    /// The akey holds a different kind of value or record size.
    #[error("akey holds {have}, update asks for {want}")]
    TypeMismatch {
        /// What the akey already holds.
        have: String,
        /// What the update asked for.
        want: String,
    },
    /// The data region has no free extent large enough.
    #[error("no space: {need} bytes asked, {free} free in the data region")]
    NoSpace {
        /// Bytes asked for.
        need: u64,
        /// Bytes free (possibly fragmented).
        free: u64,
    },
    /// A freed extent was not allocated (double free or corruption).
    #[error("extent {off}+{len} was not allocated")]
    BadFree {
        /// Offset.
        off: u64,
        /// Length.
        len: u64,
    },
}

impl VosError {
    /// The DAOS-style status (`-DER_*`).
    pub fn rc(&self) -> i32 {
        use tse::der::*;
        match self {
            VosError::NoSpace { .. } => -DER_NOSPACE,
            _ => -DER_INVAL,
        }
    }
}
