//! The durability contract of a pool: when an update is acknowledged.
//!
//! * [`Durability::Device`] (DAOS's): once the device completed every
//!   write of the update, data and WAL record. No flush on the write path.
//!   Survives any process or engine crash; survives power loss only where
//!   the device has no volatile write cache (power-loss-protected SSDs),
//!   as `dd oflag=direct` and fio `direct=1` do.
//! * [`Durability::Flush`]: once a flush issued after those writes
//!   completed is done. Survives power loss on any device. Group commit
//!   shares each flush among every update completed before it.
//! * [`Durability::Auto`]: `Device` where the device says it has no
//!   volatile write cache (sysfs `queue/write_cache` is "write through";
//!   for an NVMe namespace, Identify Controller's VWC bit is clear),
//!   `Flush` everywhere else, including where it cannot tell.

use std::path::{Path, PathBuf};

/// When an update is acknowledged: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `Device` on a device without a volatile write cache, else `Flush`.
    #[default]
    Auto,
    /// Acknowledged once the device completed the writes.
    Device,
    /// Acknowledged once a flush after the writes completed.
    Flush,
}

impl Durability {
    /// The name used in pool properties and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Durability::Auto => "auto",
            Durability::Device => "device",
            Durability::Flush => "flush",
        }
    }

    /// `Device` or `Flush` for a device whose write cache is `cache`.
    pub fn resolve(self, cache: WriteCache) -> Durability {
        match (self, cache) {
            (Durability::Auto, WriteCache::WriteThrough) => Durability::Device,
            (Durability::Auto, _) => Durability::Flush,
            (d, _) => d,
        }
    }
}

impl std::fmt::Display for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Durability {
    type Err = String;

    fn from_str(s: &str) -> Result<Durability, String> {
        match s {
            "auto" => Ok(Durability::Auto),
            "device" => Ok(Durability::Device),
            "flush" => Ok(Durability::Flush),
            _ => Err(format!(
                "unknown durability {s:?} (expected auto, device or flush)"
            )),
        }
    }
}

/// What a device says about its write cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCache {
    /// A completed write is on the media (or power-loss protected).
    WriteThrough,
    /// Completed writes may sit in a volatile cache until a flush.
    WriteBack,
    /// The device could not be asked (e.g. a file on tmpfs or overlayfs),
    /// with the reason.
    Unknown(String),
}

impl std::fmt::Display for WriteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteCache::WriteThrough => f.write_str("no volatile write cache"),
            WriteCache::WriteBack => f.write_str("a volatile write cache"),
            WriteCache::Unknown(why) => write!(f, "an unknown write cache ({why})"),
        }
    }
}

/// Reads a sysfs `queue/write_cache` file.
fn read_write_cache(path: &Path) -> WriteCache {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim() == "write through" => WriteCache::WriteThrough,
        Ok(s) if s.trim() == "write back" => WriteCache::WriteBack,
        Ok(s) => WriteCache::Unknown(format!("{} says {:?}", path.display(), s.trim())),
        Err(e) => WriteCache::Unknown(format!("{}: {e}", path.display())),
    }
}

/// The `queue` directory of the block device `major:minor` (a partition's
/// is its whole disk's).
fn queue_dir(major: u32, minor: u32) -> Option<PathBuf> {
    let dev = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    let dev = std::fs::canonicalize(&dev).ok()?;
    [dev.join("queue"), dev.parent()?.join("queue")]
        .into_iter()
        .find(|q| q.join("write_cache").exists())
}

/// The write cache of the block device `major:minor`.
pub(crate) fn block_dev_cache(major: u32, minor: u32) -> WriteCache {
    if major == 0 {
        return WriteCache::Unknown("not on a block device".into());
    }
    match queue_dir(major, minor) {
        Some(q) => read_write_cache(&q.join("write_cache")),
        None => WriteCache::Unknown(format!(
            "no sysfs queue/write_cache for block device {major}:{minor}"
        )),
    }
}
