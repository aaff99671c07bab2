//! The store's error type.

use crate::types::{ContId, Epoch};

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
    /// The data region has no free extent large enough while a checkpoint
    /// further up this target's thread is about to return space: retry
    /// (`-DER_INPROGRESS`, which clients retry with a fresh epoch).
    #[error("no space until the checkpoint under way releases what it reclaimed")]
    Reclaiming,
    /// Bytes read back from the device do not form a valid structure.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// The device does not hold an rdaos pool (or not at this offset).
    #[error("not an rdaos pool: bad magic {found:#018x}")]
    BadMagic {
        /// What was found where the magic belongs.
        found: u64,
    },
    /// The pool was written by a newer rdaos.
    #[error("pool format version {found} is newer than this build supports ({supported})")]
    NewerFormat {
        /// Version on the device.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// A checksummed structure does not match its checksum.
    #[error("{what} checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    BadChecksum {
        /// Which structure.
        what: &'static str,
        /// Checksum stored on the device.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },
    /// A region is too small for the layout.
    #[error("{what} too small: {have} bytes, need at least {need}")]
    TooSmall {
        /// Which region.
        what: &'static str,
        /// Bytes available.
        have: u64,
        /// Bytes needed.
        need: u64,
    },
    /// Device I/O failed: bio's error, kept whole (its variant and errno
    /// stay readable through [`std::error::Error::source`]).
    #[error("I/O: {0}")]
    Io(#[from] bio::BioError),
    /// A device read or write, or a task waited on, ended with a `-DER_*`
    /// status instead of an error value.
    #[error("I/O: {what}: status {rc} ({})", tse::der_name(*rc))]
    IoStatus {
        /// What was being done.
        what: String,
        /// The status (`-DER_*`).
        rc: i32,
    },
    /// The target's WAL lost records it had acknowledged (damage, not a
    /// torn tail): the target is not opened, and nothing is written.
    #[error("target {target}: {source}")]
    WalDamaged {
        /// The target.
        target: u32,
        /// What the log found.
        source: bio::WalDamage,
    },
    /// No container with this id (or label) on the target.
    #[error("no container {0}")]
    NoCont(String),
    /// A container with this id or label exists already.
    #[error("container {0} exists already")]
    ContExists(String),
    /// The container is being destroyed; no new updates are taken.
    #[error("container {0} is being destroyed")]
    ContBusy(ContId),
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
            VosError::Reclaiming => -DER_INPROGRESS,
            // Every device failure is -DER_IO to the caller, as before bio's
            // errors were kept whole (a full WAL included).
            VosError::Io(_) | VosError::IoStatus { .. } | VosError::WalDamaged { .. } => -DER_IO,
            VosError::NoCont(_) => -DER_NONEXIST,
            VosError::ContExists(_) => -DER_EXIST,
            VosError::ContBusy(_) => -DER_BUSY,
            VosError::BadChecksum { .. } => -DER_CSUM,
            _ => -DER_INVAL,
        }
    }
}
