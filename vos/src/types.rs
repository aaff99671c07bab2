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
    /// crc32c of the bytes, checked on read; for an extent with
    /// [`ChunkCsums`] (whose chunks are checked instead), the crc32c of
    /// its chunk sums (see [`ChunkCsums::of`]).
    pub csum: u32,
}

/// Bytes per checksum chunk of a large array extent: one block, so a
/// 4 KiB read of a big extent reads 4 KiB. (DAOS defaults to 32 KiB; here
/// a random 4 KiB read then reads 32 KiB, and measured 18K reads/s
/// against 38K with 4 KiB chunks. The sums cost 1 KiB of index per MiB.)
pub const CSUM_CHUNK: u64 = 4 << 10;

/// Most chunk sums one extent carries: larger extents get larger chunks
/// (see [`ChunkCsums::of`]), so the sums of one update never exceed
/// 128 KiB of its WAL record.
pub const MAX_CHUNKS: usize = 1 << 15;

/// The crc32c of each `chunk`-byte piece of an extent's bytes (the last
/// piece may be shorter), kept for extents of more than one chunk: a read
/// of part of the extent, or of all of it, reads and checks only the
/// chunks it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkCsums {
    /// Bytes per chunk: a power of two of at least 4 KiB.
    pub chunk: u32,
    /// One crc32c per chunk, in order.
    pub sums: std::sync::Arc<[u32]>,
}

impl ChunkCsums {
    /// The checksum for [`DataAddr::csum`] and, when `data` spans more
    /// than one [`CSUM_CHUNK`], its chunk checksums (chunks of
    /// `CSUM_CHUNK`, or of the next power of two that keeps them to
    /// [`MAX_CHUNKS`]). One pass over the bytes either way: for chunked
    /// data the extent's checksum is the crc32c of the chunk sums
    /// (little-endian), which still tells one extent's content from
    /// another's.
    pub fn of(data: &[u8]) -> (u32, Option<ChunkCsums>) {
        let len = data.len() as u64;
        if len <= CSUM_CHUNK {
            return (crc32c::crc32c(data), None);
        }
        let chunk = CSUM_CHUNK.max(len.div_ceil(MAX_CHUNKS as u64).next_power_of_two());
        let sums: Vec<u32> = data.chunks(chunk as usize).map(crc32c::crc32c).collect();
        let c = ChunkCsums {
            chunk: chunk as u32,
            sums: sums.into(),
        };
        (c.sum_of_sums(), Some(c))
    }

    /// The crc32c of the sums, as little-endian bytes.
    pub fn sum_of_sums(&self) -> u32 {
        self.sums
            .iter()
            .fold(0, |crc, s| crc32c::crc32c_append(crc, &s.to_le_bytes()))
    }

    /// True if these sums can describe an extent of `len` bytes.
    pub fn fits(&self, len: u64) -> bool {
        self.chunk >= 4096
            && self.chunk.is_power_of_two()
            && self.sums.len() <= MAX_CHUNKS
            && self.sums.len() as u64 == len.div_ceil(u64::from(self.chunk))
    }
}

/// A container's id: a UUID, as DAOS names containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContId(pub u128);

impl std::fmt::Display for ContId {
    /// The usual 8-4-4-4-12 hexadecimal form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (x >> 96) as u32,
            (x >> 80) as u16,
            (x >> 64) as u16,
            (x >> 48) as u16,
            x & 0xffff_ffff_ffff
        )
    }
}

impl std::str::FromStr for ContId {
    type Err = crate::error::VosError;

    /// Parses the 8-4-4-4-12 form (or 32 hex digits without dashes).
    fn from_str(s: &str) -> Result<ContId, Self::Err> {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        let dashes_ok = s.len() == 32
            || (s.len() == 36 && [8, 13, 18, 23].iter().all(|&i| s.as_bytes()[i] == b'-'));
        if hex.len() != 32 || !dashes_ok || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(crate::error::VosError::Inval("not a UUID"));
        }
        u128::from_str_radix(&hex, 16)
            .map(ContId)
            .map_err(|_| crate::error::VosError::Inval("not a UUID"))
    }
}

/// Longest container label (DAOS's `DAOS_PROP_LABEL_MAX_LEN`).
pub const MAX_LABEL_LEN: usize = 127;

/// Checks a container label as DAOS does: 1 to [`MAX_LABEL_LEN`]
/// characters from `A-Z a-z 0-9 _ . : -`, and not itself a UUID (so a
/// name can never be mistaken for an id).
pub fn check_label(label: &str) -> Result<(), crate::error::VosError> {
    use crate::error::VosError::Inval;
    if label.is_empty() || label.len() > MAX_LABEL_LEN {
        return Err(Inval("a container label is 1 to 127 characters"));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
    {
        return Err(Inval("a container label uses only A-Z a-z 0-9 _ . : -"));
    }
    if label.parse::<ContId>().is_ok() {
        return Err(Inval("a container label cannot be a UUID"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sums_cover_the_data_and_stay_bounded() {
        let small = vec![1u8; CSUM_CHUNK as usize];
        assert_eq!(ChunkCsums::of(&small), (crc32c::crc32c(&small), None));
        let mib: Vec<u8> = (0..1 << 20).map(|i| (i * 7) as u8).collect();
        let (sum, c) = ChunkCsums::of(&mib);
        let c = c.unwrap();
        assert_eq!((c.chunk as u64, c.sums.len()), (CSUM_CHUNK, 256));
        assert_eq!(c.sums[3], crc32c::crc32c(&mib[3 * 4096..4 * 4096]));
        assert!(c.fits(1 << 20) && !c.fits((1 << 20) + 1) && !c.fits(1 << 19));
        assert_eq!(sum, c.sum_of_sums());
        // A different byte anywhere gives a different extent checksum.
        let mut other = mib.clone();
        other[700_000] ^= 1;
        assert_ne!(ChunkCsums::of(&other).0, sum);
        // Past MAX_CHUNKS blocks, the chunk grows instead of the sums.
        let huge = vec![0u8; MAX_CHUNKS * 4096 + 1];
        let c = ChunkCsums::of(&huge).1.unwrap();
        assert_eq!(c.chunk, 8192);
        assert!(c.sums.len() <= MAX_CHUNKS && c.fits(huge.len() as u64));
    }

    #[test]
    fn cont_id_text_round_trips() {
        let id = ContId(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        let s = id.to_string();
        assert_eq!(s, "01234567-89ab-cdef-0011-223344556677");
        assert_eq!(s.parse::<ContId>().unwrap(), id);
        assert_eq!(s.replace('-', "").parse::<ContId>().unwrap(), id);
        assert!("0123456789ab-cdef-0011-2233-44556677"
            .parse::<ContId>()
            .is_err());
        assert!("xyz".parse::<ContId>().is_err());
    }

    #[test]
    fn labels_follow_daos_rules() {
        assert!(check_label("scratch_1.a:b-c").is_ok());
        assert!(check_label("").is_err());
        assert!(check_label("has space").is_err());
        assert!(check_label(&"x".repeat(128)).is_err());
        assert!(check_label(&"x".repeat(127)).is_ok());
        assert!(check_label("01234567-89ab-cdef-0011-223344556677").is_err());
    }
}
