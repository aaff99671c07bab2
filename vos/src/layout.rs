//! The on-device layout of a target region and its superblock.
//!
//! A pool is a file, block device or NVMe namespace split into one region
//! per target. Each target region is:
//!
//! ```text
//! | superblock (1 block) | WAL | checkpoint slot A | checkpoint slot B | data ... |
//! ```
//!
//! The superblock names the pool and target, the format version and the
//! geometry, and carries a crc32c of itself. Opening checks magic, version
//! and checksum before anything else is read, and never writes to a
//! region it cannot understand.

use crate::codec::{Dec, Enc};
use crate::error::VosError;

/// "rdaos_sb" as a little-endian u64.
pub const SB_MAGIC: u64 = u64::from_le_bytes(*b"rdaos_sb");
/// The newest on-device format this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// Smallest target region rdaos lays out.
pub const MIN_REGION: u64 = 16 << 20;

/// Where each part of a target region lives (offsets from the start of
/// the device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Device block size: every region and I/O is aligned to it.
    pub block_size: u32,
    /// Start of the target region (its superblock).
    pub region_off: u64,
    /// Length of the target region.
    pub region_len: u64,
    /// The write-ahead log.
    pub wal_off: u64,
    /// WAL length.
    pub wal_len: u64,
    /// Checkpoint slot A (slot B follows it).
    pub ckpt_off: u64,
    /// Length of one checkpoint slot.
    pub ckpt_len: u64,
    /// The data region.
    pub data_off: u64,
    /// Data region length.
    pub data_len: u64,
}

impl Geometry {
    /// Plans the layout of a target region of `region_len` bytes at
    /// `region_off`: WAL 1/16 of it (2 MiB..1 GiB, room for two full
    /// frames), each checkpoint slot 1/32 (1 MiB..4 GiB), the rest data.
    pub fn plan(region_off: u64, region_len: u64, block_size: u32) -> Result<Geometry, VosError> {
        let bs = block_size as u64;
        if !bs.is_power_of_two() || bs < 512 {
            return Err(VosError::Inval("block size must be a power of two >= 512"));
        }
        if region_off % bs != 0 {
            return Err(VosError::Inval("region offset not block aligned"));
        }
        let region_len = region_len / bs * bs;
        if region_len < MIN_REGION {
            return Err(VosError::TooSmall {
                what: "target region",
                have: region_len,
                need: MIN_REGION,
            });
        }
        let align = |x: u64| x / bs * bs;
        let wal_len = align((region_len / 16).clamp(2 << 20, 1 << 30));
        let ckpt_len = align((region_len / 32).clamp(1 << 20, 4 << 30));
        let wal_off = region_off + bs;
        let ckpt_off = wal_off + wal_len;
        let data_off = ckpt_off + 2 * ckpt_len;
        let data_len = region_off + region_len - data_off;
        Ok(Geometry {
            block_size,
            region_off,
            region_len,
            wal_off,
            wal_len,
            ckpt_off,
            ckpt_len,
            data_off,
            data_len,
        })
    }

    /// Offset of checkpoint slot `i` (0 or 1).
    pub fn ckpt_slot(&self, i: usize) -> u64 {
        self.ckpt_off + (i as u64 & 1) * self.ckpt_len
    }

    fn check(&self) -> Result<(), VosError> {
        let bs = self.block_size as u64;
        let end = self.region_off.checked_add(self.region_len);
        let ordered = self.wal_off == self.region_off + bs
            && self.ckpt_off == self.wal_off + self.wal_len
            && self.data_off == self.ckpt_off + 2 * self.ckpt_len
            && Some(self.data_off + self.data_len) == end;
        let aligned = [
            self.region_off,
            self.region_len,
            self.wal_len,
            self.ckpt_len,
            self.data_len,
        ]
        .iter()
        .all(|x| x % bs == 0);
        if !bs.is_power_of_two() || !ordered || !aligned || self.wal_len == 0 || self.data_len == 0
        {
            return Err(VosError::Corrupt(
                "superblock geometry is inconsistent".into(),
            ));
        }
        Ok(())
    }
}

/// A target region's superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// Format version that wrote it.
    pub version: u32,
    /// Pool uuid.
    pub pool: u128,
    /// This target's index in the pool.
    pub target: u32,
    /// Number of targets in the pool.
    pub nr_targets: u32,
    /// The region's layout.
    pub geo: Geometry,
    /// Creation time (nanoseconds since the Unix epoch).
    pub created_ns: u64,
}

/// Bytes of the encoded superblock (the rest of its block is zero).
const SB_BYTES: usize = 8 + 4 + 16 + 4 + 4 + 4 + 9 * 8 + 8 + 4;

impl Superblock {
    /// The superblock as one device block.
    pub fn encode(&self) -> Vec<u8> {
        let g = &self.geo;
        let mut e = Enc::new();
        e.u64(SB_MAGIC);
        e.u32(self.version);
        e.u128(self.pool);
        e.u32(self.target);
        e.u32(self.nr_targets);
        e.u32(g.block_size);
        for x in [
            g.region_off,
            g.region_len,
            g.wal_off,
            g.wal_len,
            g.ckpt_off,
            g.ckpt_len,
            g.data_off,
            g.data_len,
            0,
        ] {
            e.u64(x);
        }
        e.u64(self.created_ns);
        let csum = crc32c::crc32c(&e.buf);
        e.u32(csum);
        debug_assert_eq!(e.buf.len(), SB_BYTES);
        e.buf.resize(g.block_size as usize, 0);
        e.buf
    }

    /// Reads a superblock block: magic first, then version, then checksum,
    /// then geometry, each with its own error.
    pub fn decode(block: &[u8]) -> Result<Superblock, VosError> {
        if block.len() < SB_BYTES {
            return Err(VosError::TooSmall {
                what: "superblock",
                have: block.len() as u64,
                need: SB_BYTES as u64,
            });
        }
        let mut d = Dec::new(&block[..SB_BYTES], "superblock");
        let magic = d.u64()?;
        if magic != SB_MAGIC {
            return Err(VosError::BadMagic { found: magic });
        }
        let version = d.u32()?;
        if version > FORMAT_VERSION {
            return Err(VosError::NewerFormat {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version < FORMAT_VERSION {
            // Version 1 had no containers; nothing was released with it.
            return Err(VosError::Corrupt(format!(
                "pool format version {version} predates containers (this build reads {FORMAT_VERSION})"
            )));
        }
        let stored = u32::from_le_bytes(block[SB_BYTES - 4..SB_BYTES].try_into().unwrap_or([0; 4]));
        let computed = crc32c::crc32c(&block[..SB_BYTES - 4]);
        if stored != computed {
            return Err(VosError::BadChecksum {
                what: "superblock",
                stored,
                computed,
            });
        }
        let pool = d.u128()?;
        let target = d.u32()?;
        let nr_targets = d.u32()?;
        let block_size = d.u32()?;
        let mut f = [0u64; 9];
        for x in &mut f {
            *x = d.u64()?;
        }
        let created_ns = d.u64()?;
        let geo = Geometry {
            block_size,
            region_off: f[0],
            region_len: f[1],
            wal_off: f[2],
            wal_len: f[3],
            ckpt_off: f[4],
            ckpt_len: f[5],
            data_off: f[6],
            data_len: f[7],
        };
        geo.check()?;
        if target >= nr_targets {
            return Err(VosError::Corrupt(
                "superblock target id out of range".into(),
            ));
        }
        Ok(Superblock {
            version,
            pool,
            target,
            nr_targets,
            geo,
            created_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb() -> Superblock {
        Superblock {
            version: FORMAT_VERSION,
            pool: 0x1234_5678_9abc_def0_1122_3344_5566_7788,
            target: 1,
            nr_targets: 4,
            geo: Geometry::plan(1 << 30, 1 << 30, 4096).unwrap(),
            created_ns: 42,
        }
    }

    #[test]
    fn plan_is_aligned_and_ordered() {
        let g = Geometry::plan(0, 1 << 30, 4096).unwrap();
        assert_eq!(g.wal_off, 4096);
        assert_eq!(g.wal_len, 64 << 20);
        assert_eq!(g.ckpt_len, 32 << 20);
        assert_eq!(g.data_off + g.data_len, 1 << 30);
        assert!(matches!(
            Geometry::plan(0, 1 << 20, 4096),
            Err(VosError::TooSmall {
                what: "target region",
                ..
            })
        ));
        assert!(Geometry::plan(100, 1 << 30, 4096).is_err());
    }

    #[test]
    fn superblock_round_trips_and_each_damage_has_its_error() {
        let block = sb().encode();
        assert_eq!(block.len(), 4096);
        assert_eq!(Superblock::decode(&block).unwrap(), sb());

        let mut bad = block.clone();
        bad[0] ^= 0xff;
        assert!(matches!(
            Superblock::decode(&bad),
            Err(VosError::BadMagic { .. })
        ));

        let mut newer = sb();
        newer.version = FORMAT_VERSION + 1;
        assert!(matches!(
            Superblock::decode(&newer.encode()),
            Err(VosError::NewerFormat {
                found: 3,
                supported: 2
            })
        ));
        let mut older = sb();
        older.version = 1;
        assert!(matches!(
            Superblock::decode(&older.encode()),
            Err(VosError::Corrupt(m)) if m.contains("predates containers")
        ));

        for at in [20, 40, 100, SB_BYTES - 1] {
            let mut flip = block.clone();
            flip[at] ^= 0x01;
            assert!(
                matches!(Superblock::decode(&flip), Err(VosError::BadChecksum { .. })),
                "flip at {at}"
            );
        }
        assert!(matches!(
            Superblock::decode(&block[..10]),
            Err(VosError::TooSmall { .. })
        ));
    }
}
