//! Identifiers and small value types of the store.

/// An epoch (a hybrid-logical-clock timestamp). Epoch 0 is reserved, and
/// [`EPOCH_MAX`] means "the newest".
pub type Epoch = u64;

/// The newest epoch: a read at `EPOCH_MAX` sees every acknowledged update.
pub const EPOCH_MAX: Epoch = u64::MAX;

/// An object id (DAOS's 128-bit `daos_obj_id_t`; the object class lives
/// in the high bits of `hi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjId {
    /// High 64 bits (class and type bits in DAOS).
    pub hi: u64,
    /// Low 64 bits.
    pub lo: u64,
}

impl ObjId {
    /// An object id from its two halves.
    pub const fn new(hi: u64, lo: u64) -> ObjId {
        ObjId { hi, lo }
    }
}

/// A record extent of an array value: records `[idx, idx + nr)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Recx {
    /// First record.
    pub idx: u64,
    /// Number of records.
    pub nr: u64,
}

impl Recx {
    /// `[idx, idx + nr)`.
    pub const fn new(idx: u64, nr: u64) -> Recx {
        Recx { idx, nr }
    }

    /// One past the last record.
    pub const fn end(&self) -> u64 {
        self.idx + self.nr
    }
}

/// The order of versions: by epoch, then by the store's update sequence
/// (a "minor epoch"), so that two updates at the same epoch resolve
/// deterministically: **the one applied later wins**.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// The update's epoch.
    pub epoch: Epoch,
    /// Applied order within the store.
    pub seq: u64,
}

impl Version {
    /// The newest version a reader at `epoch` may see.
    pub const fn read_bound(epoch: Epoch) -> Version {
        Version {
            epoch,
            seq: u64::MAX,
        }
    }
}

/// Where a version's bytes live in the target's data region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataAddr {
    /// Byte offset in the data region.
    pub off: u64,
    /// Length in bytes.
    pub len: u64,
    /// crc32c of the bytes, checked on read.
    pub csum: u32,
}
