//! Embedded pool storage: the pools a user made with `rdaos pool create`,
//! kept in one storage directory, and an engine started on one of them
//! inside the calling process.
//!
//! # Where pools live
//!
//! The storage directory is, in order: the one the caller names
//! (`--storage DIR`), `$RDAOS_STORAGE`, `$XDG_DATA_HOME/rdaos`, or
//! `$HOME/.local/share/rdaos` ([`Storage::default_dir`]). Each pool is a
//! directory named after its label:
//!
//! ```text
//! <storage>/<label>/pool.meta   what the pool is (see below)
//! <storage>/<label>/pool.dev    its device: a file of the pool's size, its blocks reserved
//! ```
//!
//! A pool made with an explicit device (`--path FILE|/dev/...`) has no
//! `pool.dev`; the metadata names the device instead.
//!
//! # The metadata file
//!
//! Plain text, one `key value` per line, in this order, ending with a
//! crc32c (hex) of every byte before its line:
//!
//! ```text
//! rdaos-pool 1
//! label tank
//! uuid 2c0e4f4a-8d5e-4c1b-9a57-0f7b1e2d3c4b
//! size 4294967296
//! engines 1
//! targets_per_engine 4
//! device pool.dev
//! device_owned yes
//! created 1767225600
//! durability auto
//! crc32c 0x1a2b3c4d
//! ```
//!
//! The first line is the format and its version ([`META_VERSION`]); a
//! newer version is refused before anything else is read, and so is a
//! file whose crc, keys or values are wrong. `device` is relative to the
//! pool's directory unless absolute; `device_owned` says whether rdaos
//! created the device file (and so removes it with the pool); `created`
//! is in seconds since the Unix epoch; `durability` is the pool's
//! contract (`auto`, `device` or `flush`, see [`bio::Durability`]).
//! Version 1 files, written before the contracts, have no `durability`
//! line and read as `auto`.
//!
//! # Safety of the state on disk
//!
//! A pool is made in a hidden directory next to where it will live and
//! renamed into place only once its device is formatted and its metadata
//! written, so a failed or interrupted create leaves no pool behind (at
//! worst a hidden `.creating-*` directory). A destroy renames the pool
//! away first, then removes it. The next [`Storage::open`] removes what a
//! create or destroy that was killed midway left (see
//! [`Storage::sweep`]); it removes only directories rdaos marked as its
//! own, and labels starting with `.` are refused at create
//! ([`check_new_label`]), so no pool is taken for a leftover or hidden
//! from `pool list`. A process that runs an engine on a pool holds an
//! exclusive lock on the pool's directory: a second engine on the same
//! pool, or a destroy meanwhile, is refused with [`StorageError::Busy`].
//!
//! A pool is relabelled ([`Storage::pool_relabel`]) under its lock in
//! three durable steps: the metadata under the new label is written next
//! to the old one as `pool.meta.next`, the directory is renamed (never
//! over an existing entry), and `pool.meta.next` replaces `pool.meta`. A
//! `pool.meta.next` whose label is its directory's name is the truth
//! (the rename happened); one whose label is not is a relabel that never
//! happened. Readers go by that rule, and the next [`Storage::open`]
//! tidies either case up, so a relabel killed at any point leaves the
//! pool whole under one of its two labels.
//!
//! Containers are made, destroyed and relabelled the same way: a durable
//! intent file (`<label>/intent.create.<cont>`, `intent.destroy.<cont>`
//! or `intent.relabel.<cont>`) before the first change, removed after
//! the last; an engine that starts on the pool finds what a killed
//! process left and removes that container from every target that holds
//! it, or gives it its new label on every target (see
//! [`PoolConn::cont_create_posix`], [`PoolConn::cont_destroy`],
//! [`PoolConn::cont_relabel`]).

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bio::{Durability, WriteCache};
use obj::cli::ObjClient;
use obj::placement::PoolMap;
use obj::srv::{Engine, EngineConfig};
use obj::ObjError;
use tse::{Sched, SchedHandle};
use vos::ContId;

use crate::size::format_size;

/// The environment variable naming the storage directory.
pub const STORAGE_ENV: &str = "RDAOS_STORAGE";
/// The metadata file in a pool's directory.
pub const META_FILE: &str = "pool.meta";
/// The next metadata of a pool whose relabel is under way (see
/// [`Storage::pool_relabel`]).
pub const META_NEXT: &str = "pool.meta.next";
/// The device file in a pool's directory (when no `--path` was given).
pub const DEV_FILE: &str = "pool.dev";
/// The metadata format version this build writes, and the newest it reads.
pub const META_VERSION: u32 = 2;
/// Targets per engine when the caller does not say.
pub const DEFAULT_TARGETS_PER_ENGINE: u32 = 4;
/// Engines when the caller does not say.
pub const DEFAULT_ENGINES: u32 = 1;
/// Longest pool label (DAOS's `DAOS_PROP_LABEL_MAX_LEN`).
pub const MAX_LABEL_LEN: usize = 127;
/// Pool sizes are whole multiples of this (the file device's block).
pub const SIZE_ALIGN: u64 = 4096;

const META_MAGIC: &str = "rdaos-pool";
/// The file that marks a hidden `.creating-*` or `.destroying-*`
/// directory as made by rdaos: it holds the directory's own name. Only
/// such directories are swept.
const LEFTOVER_MARK: &str = "rdaos.leftover";
/// A container create in progress in a pool's directory: the file
/// `intent.create.<label>` (see [`PoolConn::cont_create_posix`]).
const INTENT_CREATE: &str = "intent.create.";
/// A container destroy in progress: `intent.destroy.<label>`.
const INTENT_DESTROY: &str = "intent.destroy.";
/// A container relabel in progress: `intent.relabel.<old label>`,
/// holding the container's id and its new label (see
/// [`PoolConn::cont_relabel`]).
const INTENT_RELABEL: &str = "intent.relabel.";
/// Where a relabel intent is written before it is renamed into place.
const INTENT_TMP: &str = "intent.tmp";
/// Largest metadata file read (a real one is a few hundred bytes).
const META_MAX: u64 = 64 << 10;

/// What can go wrong with the storage directory and its pools.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No storage directory was named and there is no default (neither
    /// `$XDG_DATA_HOME` nor `$HOME` is set).
    #[error("no storage directory: pass --storage DIR or set {STORAGE_ENV} (HOME is not set)")]
    NoDefaultDir,
    /// A label that breaks DAOS's rules.
    #[error("bad pool label {label:?}: {why}")]
    BadLabel {
        /// The label given.
        label: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// No pool by that label.
    #[error("pool {label:?} not found in {}", dir.display())]
    NotFound {
        /// The label.
        label: String,
        /// The storage directory looked in.
        dir: PathBuf,
    },
    /// A pool by that label exists already.
    #[error("pool {label:?} already exists in {}", dir.display())]
    Exists {
        /// The label.
        label: String,
        /// The storage directory.
        dir: PathBuf,
    },
    /// A pool size that cannot be used.
    #[error("bad pool size: {0}")]
    BadSize(String),
    /// Engines or targets that cannot make a pool.
    #[error("bad pool layout: {0}")]
    BadLayout(String),
    /// A device path that cannot be used.
    #[error("bad device {}: {why}", path.display())]
    BadDevice {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A metadata file that is damaged or not a pool's.
    #[error("pool metadata {}: {why}", path.display())]
    BadMeta {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A metadata file of a newer format than this build reads.
    #[error(
        "pool metadata {}: format version {found}, this rdaos reads up to {max}; use a newer rdaos",
        path.display()
    )]
    NewerMeta {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The newest version this build reads.
        max: u32,
    },
    /// Another process has an engine running on the pool.
    #[error("pool {label:?} is in use by another process (an rdaos dfuse mount?)")]
    Busy {
        /// The label.
        label: String,
    },
    /// The device holds another pool than the metadata says.
    #[error("pool {label:?}: device {} holds pool {found}, the metadata says {expected}", device.display())]
    WrongPool {
        /// The label.
        label: String,
        /// The device.
        device: PathBuf,
        /// The uuid on the device.
        found: String,
        /// The uuid in the metadata.
        expected: String,
    },
    /// A target's WAL lost records it had acknowledged: the engine does
    /// not start on it (nothing is written).
    #[error(
        "pool {label:?} will not start: target {target}: {source}; `rdaos pool check {label}` shows what a salvage would keep"
    )]
    Damaged {
        /// The label.
        label: String,
        /// The target whose log is damaged.
        target: u32,
        /// What its log found.
        source: bio::WalDamage,
    },
    /// No container by that label in the pool.
    #[error("container {label:?} not found in pool {pool:?}")]
    ContNotFound {
        /// The pool.
        pool: String,
        /// The container's label.
        label: String,
    },
    /// A container by that label exists already.
    #[error("container {label:?} already exists in pool {pool:?}")]
    ContExists {
        /// The pool.
        pool: String,
        /// The container's label.
        label: String,
    },
    /// A container on only some of the pool's targets (a create or
    /// destroy an older rdaos was killed in): it can only be destroyed.
    #[error(
        "container {label:?} of pool {pool:?} is half made (on {have} of {all} targets): \
         `rdaos cont destroy {pool} {label}` removes it"
    )]
    ContHalfMade {
        /// The pool.
        pool: String,
        /// The container's label.
        label: String,
        /// Targets holding it.
        have: u32,
        /// Targets of the pool.
        all: u32,
    },
    /// Creating, destroying or reading a container failed.
    #[error("container {label:?} in pool {pool:?}: {source}")]
    Cont {
        /// The pool.
        pool: String,
        /// The container's label.
        label: String,
        /// What the namespace or object layer said.
        source: dfs::DfsError,
    },
    /// A pool destroy without `recursive` found containers in the pool.
    #[error(
        "pool {label:?} holds {} container{} ({}): destroy {} first, or pass --recursive",
        conts.len(),
        if conts.len() == 1 { "" } else { "s" },
        conts.join(", "),
        if conts.len() == 1 { "it" } else { "them" }
    )]
    HasContainers {
        /// The pool.
        label: String,
        /// The containers' labels.
        conts: Vec<String>,
    },
    /// A pool destroy without `recursive` could not look for containers.
    #[error(
        "cannot tell whether pool {label:?} holds containers ({source}): pass --recursive to destroy it anyway"
    )]
    ContainersUnknown {
        /// The pool.
        label: String,
        /// Why its engine could not list them.
        source: Box<StorageError>,
    },
    /// Formatting the device or running the engine failed.
    #[error("pool {label:?}: {source}")]
    Engine {
        /// The label.
        label: String,
        /// The object layer's error.
        source: ObjError,
    },
    /// A file-system operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StorageError {
    let path = path.to_path_buf();
    move |source| StorageError::Io { what, path, source }
}

/// Checks a pool label against DAOS's rules: 1 to 127 characters of
/// `A-Z a-z 0-9 _ . : -`, and not shaped like a UUID (which would be
/// ambiguous with a pool's uuid).
pub fn check_label(label: &str) -> Result<(), StorageError> {
    let bad = |why| {
        Err(StorageError::BadLabel {
            label: label.to_string(),
            why,
        })
    };
    if label.is_empty() || label.len() > MAX_LABEL_LEN {
        return bad("a pool label is 1 to 127 characters");
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
    {
        return bad("a pool label uses only A-Z a-z 0-9 _ . : -");
    }
    if label.parse::<ContId>().is_ok() {
        return bad("a pool label cannot be a UUID");
    }
    if label == "." || label == ".." {
        return bad("a pool label cannot be . or ..");
    }
    Ok(())
}

/// Checks the label of a pool about to be made: [`check_label`]'s rules,
/// and not starting with `.`, which rdaos keeps for its own entries in
/// the storage directory (a create or destroy in progress): such a pool
/// would be hidden from listings, or taken for a leftover.
pub fn check_new_label(label: &str) -> Result<(), StorageError> {
    check_label(label)?;
    if label.starts_with('.') {
        return Err(StorageError::BadLabel {
            label: label.to_string(),
            why: "a pool label cannot start with . (kept for rdaos's own entries)",
        });
    }
    Ok(())
}

/// The text form of a uuid (`8-4-4-4-12` hex digits).
pub fn uuid_string(uuid: u128) -> String {
    ContId(uuid).to_string()
}

/// A fresh random (version 4) uuid, from the kernel's random pool.
pub fn random_uuid() -> Result<u128, StorageError> {
    let path = Path::new("/dev/urandom");
    let mut b = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(io("reading", path))?;
    let u = u128::from_le_bytes(b);
    // Version 4 (bits 76..80), variant 0b10 (bits 62..64).
    let u = (u & !(0xfu128 << 76)) | (4u128 << 76);
    Ok((u & !(0x3u128 << 62)) | (0x2u128 << 62))
}

/// What to make: [`Storage::pool_create`]'s options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCreateOpts {
    /// Bytes: a multiple of 4 KiB, at least 16 MiB per target. The pool
    /// takes its whole device: a file already larger keeps its size, and
    /// a block device or NVMe namespace must have at least this many
    /// bytes.
    pub size: u64,
    /// Engines (fault domains) the targets are spread over.
    pub engines: u32,
    /// Targets per engine.
    pub targets_per_engine: u32,
    /// The device: `None` for `pool.dev` in the pool's directory; a
    /// regular file (created if missing, grown to `size`), a block device
    /// or an NVMe namespace otherwise.
    pub path: Option<PathBuf>,
    /// When an update is acknowledged (see [`bio::Durability`]).
    pub durability: Durability,
    /// Use `path` even where that is likely a mistake: a regular file
    /// that already holds data (it is overwritten), or a missing path
    /// under `/dev` (a regular file is made there).
    pub force: bool,
}

impl PoolCreateOpts {
    /// `size` bytes on one engine of [`DEFAULT_TARGETS_PER_ENGINE`]
    /// targets, in `pool.dev`.
    pub fn new(size: u64) -> PoolCreateOpts {
        PoolCreateOpts {
            size,
            engines: DEFAULT_ENGINES,
            targets_per_engine: DEFAULT_TARGETS_PER_ENGINE,
            path: None,
            durability: Durability::Auto,
            force: false,
        }
    }
}

/// A pool, as its metadata file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolInfo {
    /// Its label (also its directory's name).
    pub label: String,
    /// Its uuid (also in every target's superblock on the device).
    pub uuid: u128,
    /// Bytes of the device the pool was made on.
    pub size: u64,
    /// Engines.
    pub engines: u32,
    /// Targets per engine.
    pub targets_per_engine: u32,
    /// The device, absolute.
    pub device: PathBuf,
    /// True when rdaos created the device file (it goes with the pool).
    pub device_owned: bool,
    /// When it was made.
    pub created: SystemTime,
    /// Its durability contract as chosen at create (`Auto` is resolved
    /// against the device each time an engine starts).
    pub durability: Durability,
    /// Its directory in the storage directory.
    pub dir: PathBuf,
}

impl PoolInfo {
    /// Targets in the pool.
    pub fn targets(&self) -> u32 {
        self.engines * self.targets_per_engine
    }

    /// The uuid as text.
    pub fn uuid_string(&self) -> String {
        uuid_string(self.uuid)
    }

    /// The contract an engine on this pool keeps (`Auto` resolved against
    /// the device's write cache now), with what the device says about
    /// its cache.
    pub fn durability_in_force(&self) -> Result<(Durability, WriteCache), StorageError> {
        let dev = bio::Device::open(&self.device, &bio::DevOpts::default()).map_err(|e| {
            StorageError::BadDevice {
                path: self.device.clone(),
                why: e.to_string(),
            }
        })?;
        let cache = dev.write_cache();
        Ok((self.durability.resolve(cache.clone()), cache))
    }

    /// The metadata file.
    pub fn meta_path(&self) -> PathBuf {
        self.dir.join(META_FILE)
    }

    /// The metadata file's text.
    pub fn encode(&self) -> String {
        let device = if self.device == self.dir.join(DEV_FILE) {
            DEV_FILE.to_string()
        } else {
            self.device.to_string_lossy().into_owned()
        };
        let created = self
            .created
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut s = String::new();
        s += &format!("{META_MAGIC} {META_VERSION}\n");
        s += &format!("label {}\n", self.label);
        s += &format!("uuid {}\n", self.uuid_string());
        s += &format!("size {}\n", self.size);
        s += &format!("engines {}\n", self.engines);
        s += &format!("targets_per_engine {}\n", self.targets_per_engine);
        s += &format!("device {device}\n");
        s += &format!(
            "device_owned {}\n",
            if self.device_owned { "yes" } else { "no" }
        );
        s += &format!("created {created}\n");
        s += &format!("durability {}\n", self.durability);
        let crc = crc32c::crc32c(s.as_bytes());
        s += &format!("crc32c {crc:#010x}\n");
        s
    }

    /// Reads metadata text `text` of the pool in directory `dir` (`path`
    /// names the file in errors). Refuses a newer format first, then any
    /// damage: wrong crc, missing, unknown, repeated or misordered keys,
    /// bad values, a label other than the directory's name.
    pub fn decode(text: &[u8], dir: &Path, path: &Path) -> Result<PoolInfo, StorageError> {
        let bad = |why: String| StorageError::BadMeta {
            path: path.to_path_buf(),
            why,
        };
        let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8 text".into()))?;
        let first = text.lines().next().unwrap_or("");
        let version = match first.split_once(' ') {
            Some((META_MAGIC, v)) => v
                .parse::<u32>()
                .map_err(|_| bad(format!("bad format version {v:?}")))?,
            _ => return Err(bad("not an rdaos pool metadata file".into())),
        };
        if version > META_VERSION {
            return Err(StorageError::NewerMeta {
                path: path.to_path_buf(),
                found: version,
                max: META_VERSION,
            });
        }
        if version == 0 {
            return Err(bad("format version 0".into()));
        }
        // The crc line is the last; it covers every byte before it.
        let body_end = text
            .trim_end_matches('\n')
            .rfind('\n')
            .map(|i| i + 1)
            .ok_or_else(|| bad("no crc32c line".into()))?;
        let (body, crc_line) = text.split_at(body_end);
        // Exactly as written: `crc32c 0x` and 8 lowercase hex digits.
        let stored = crc_line
            .strip_suffix('\n')
            .and_then(|l| l.strip_prefix("crc32c 0x"))
            .filter(|h| h.len() == 8 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| bad("the last line is not a crc32c".into()))?;
        let computed = crc32c::crc32c(body.as_bytes());
        if stored != computed {
            return Err(bad(format!(
                "crc32c mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is damaged"
            )));
        }
        const KEYS: [&str; 9] = [
            "label",
            "uuid",
            "size",
            "engines",
            "targets_per_engine",
            "device",
            "device_owned",
            "created",
            "durability",
        ];
        // Version 1 ends before `durability`.
        let nkeys = if version == 1 { 8 } else { KEYS.len() };
        let lines: Vec<&str> = body.lines().skip(1).collect();
        if lines.len() != nkeys {
            return Err(bad(format!("{} fields, expected {nkeys}", lines.len())));
        }
        let mut vals = ["auto"; KEYS.len()];
        for (i, (line, key)) in lines.iter().zip(KEYS).enumerate() {
            vals[i] = match line.split_once(' ') {
                Some((k, v)) if k == key && !v.is_empty() => v,
                _ => return Err(bad(format!("line {:?} where {key} was expected", line))),
            };
        }
        let num = |i: usize| -> Result<u64, StorageError> {
            vals[i]
                .parse::<u64>()
                .map_err(|_| bad(format!("{} {:?} is not a number", KEYS[i], vals[i])))
        };
        let small = |i: usize| -> Result<u32, StorageError> {
            num(i)?
                .try_into()
                .map_err(|_| bad(format!("{} {} is too large", KEYS[i], vals[i])))
        };
        let label = vals[0].to_string();
        check_label(&label).map_err(|e| bad(e.to_string()))?;
        if dir.file_name().and_then(|n| n.to_str()) != Some(label.as_str()) {
            return Err(bad(format!(
                "label {label:?} does not match the pool's directory {}",
                dir.display()
            )));
        }
        let uuid = vals[1]
            .parse::<ContId>()
            .map_err(|_| bad(format!("uuid {:?} is not a uuid", vals[1])))?
            .0;
        let size = num(2)?;
        let (engines, targets_per_engine) = (small(3)?, small(4)?);
        PoolMap::new(engines, targets_per_engine).map_err(|e| bad(e.to_string()))?;
        let device = Path::new(vals[5]);
        let device = if device.is_absolute() {
            device.to_path_buf()
        } else {
            dir.join(device)
        };
        let device_owned = match vals[6] {
            "yes" => true,
            "no" => false,
            v => return Err(bad(format!("device_owned {v:?} is neither yes nor no"))),
        };
        let created = UNIX_EPOCH + Duration::from_secs(num(7)?);
        let durability = vals[8]
            .parse::<Durability>()
            .map_err(|e| bad(format!("durability: {e}")))?;
        Ok(PoolInfo {
            label,
            uuid,
            size,
            engines,
            targets_per_engine,
            device,
            device_owned,
            created,
            durability,
            dir: dir.to_path_buf(),
        })
    }
}

/// One entry of [`Storage::pool_list`]: a pool directory and what its
/// metadata says (or why it cannot be read).
#[derive(Debug)]
pub struct PoolListing {
    /// The directory's name.
    pub label: String,
    /// The pool, or why its metadata is unreadable.
    pub info: Result<PoolInfo, StorageError>,
}

/// A pool's space read from its device without starting its engine
/// ([`Storage::pool_space`]); the data regions only, as `pool query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSpaceAtRest {
    /// Bytes of the targets' data regions.
    pub data_space: u64,
    /// Bytes allocated to versions.
    pub used: u64,
    /// `data_space - used`.
    pub free: u64,
    /// The pool is not in use and every target was closed cleanly, so the
    /// numbers are what an engine would report; otherwise they are as of
    /// the targets' last checkpoints.
    pub exact: bool,
}

/// The storage directory and its pools.
#[derive(Debug, Clone)]
pub struct Storage {
    dir: PathBuf,
}

impl Storage {
    /// The default storage directory: `$RDAOS_STORAGE`, else
    /// `$XDG_DATA_HOME/rdaos`, else `$HOME/.local/share/rdaos`.
    pub fn default_dir() -> Result<PathBuf, StorageError> {
        let var = |k| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(d) = var(STORAGE_ENV) {
            return Ok(PathBuf::from(d));
        }
        if let Some(d) = var("XDG_DATA_HOME") {
            return Ok(PathBuf::from(d).join("rdaos"));
        }
        var("HOME")
            .map(|h| PathBuf::from(h).join(".local/share/rdaos"))
            .ok_or(StorageError::NoDefaultDir)
    }

    /// The storage in `dir` (made by the first pool create if missing).
    /// Fails if `dir` exists and is not a directory. What a create or
    /// destroy killed midway left behind is removed first (see
    /// [`Storage::sweep`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<Storage, StorageError> {
        let dir = dir.as_ref();
        let dir = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(io("finding the current directory for", dir))?
                .join(dir)
        };
        match fs::metadata(&dir) {
            Ok(m) if !m.is_dir() => Err(StorageError::Io {
                what: "opening the storage directory",
                path: dir,
                source: std::io::Error::from_raw_os_error(libc::ENOTDIR),
            }),
            _ => {
                let st = Storage { dir };
                st.sweep();
                Ok(st)
            }
        }
    }

    /// Removes the hidden `.creating-*` and `.destroying-*` directories of
    /// creates and destroys whose process is gone (each name carries the
    /// process id; a live process, or one that cannot be told, keeps its
    /// directory). A destroy that died after renaming its pool away also
    /// loses the device file rdaos had made for it outside the pool's
    /// directory, unless a pool of this storage uses that path now.
    /// Best effort: what cannot be removed stays for the next open, and
    /// listings skip hidden entries anyway. Returns what it removed.
    pub fn sweep(&self) -> Vec<PathBuf> {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        for ent in rd.flatten() {
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((kind, label, pid)) = leftover(name) else {
                // A pool a relabel was stopped in: finish or forget it,
                // unless a process holds the pool (it may be relabelling).
                let dir = ent.path();
                if dir.join(META_NEXT).exists() {
                    if let Some(_lock) = try_lock_dir(&dir) {
                        let _ = settle_relabel(&dir);
                    }
                }
                continue;
            };
            if process_alive(pid) || !ent.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = ent.path();
            if !self.made_by_rdaos(&path, name) {
                continue;
            }
            if kind == ".destroying" {
                self.remove_orphan_device(&path, label);
            }
            if fs::remove_dir_all(&path).is_ok() {
                removed.push(path);
            }
        }
        if !removed.is_empty() {
            let _ = sync_dir(&self.dir);
        }
        removed
    }

    /// Whether the hidden directory `path` (named `name`) is a leftover of
    /// rdaos's own create or destroy: it holds the mark naming it, or (made
    /// by a build before the mark) only what a create or destroy puts
    /// there and it is not a pool labelled `name` itself.
    fn made_by_rdaos(&self, path: &Path, name: &str) -> bool {
        let mark = path.join(LEFTOVER_MARK);
        match fs::read(&mark) {
            Ok(text) => return text == format!("{name}\n").as_bytes(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return false,
        }
        let Ok(rd) = fs::read_dir(path) else {
            return false;
        };
        let ours = ["pool.dev", "pool.meta", "pool.tmp"];
        let only_ours = rd
            .into_iter()
            .all(|e| e.is_ok_and(|e| ours.iter().any(|o| e.file_name() == *o)));
        only_ours && self.pool(name).is_err()
    }

    /// The device file of the pool renamed away to `gone`, if rdaos made it
    /// outside the pool's directory and no pool of this storage uses it.
    fn remove_orphan_device(&self, gone: &Path, label: &str) {
        let meta = gone.join(META_FILE);
        let Ok(text) = fs::read(&meta) else { return };
        let Ok(info) = PoolInfo::decode(&text, &self.pool_dir(label), &meta) else {
            return;
        };
        if !info.device_owned || !info.device.is_absolute() || info.device.starts_with(gone) {
            return;
        }
        // In doubt (the pools cannot be listed), keep it.
        let in_use = self.device_user(&info.device).map_or(true, |u| u.is_some());
        if !in_use && fs::metadata(&info.device).is_ok_and(|m| m.is_file()) {
            let _ = fs::remove_file(&info.device);
        }
    }

    /// The storage directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn pool_dir(&self, label: &str) -> PathBuf {
        self.dir.join(label)
    }

    fn not_found(&self, label: &str) -> StorageError {
        StorageError::NotFound {
            label: label.to_string(),
            dir: self.dir.clone(),
        }
    }

    /// The pool `label`.
    pub fn pool(&self, label: &str) -> Result<PoolInfo, StorageError> {
        check_label(label)?;
        let dir = self.pool_dir(label);
        // A relabel that renamed the directory and was stopped before
        // its last step: the next metadata is the pool's.
        if let Some(next) = read_next(&dir) {
            return Ok(next);
        }
        let path = dir.join(META_FILE);
        let text = match File::open(&path) {
            Ok(f) => {
                let mut v = Vec::new();
                f.take(META_MAX + 1)
                    .read_to_end(&mut v)
                    .map_err(io("reading", &path))?;
                if v.len() as u64 > META_MAX {
                    return Err(StorageError::BadMeta {
                        path,
                        why: "too large to be pool metadata".into(),
                    });
                }
                v
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(if dir.is_dir() {
                    StorageError::BadMeta {
                        path,
                        why: "missing: the directory is not a pool".into(),
                    }
                } else {
                    self.not_found(label)
                });
            }
            Err(e) => return Err(io("opening", &path)(e)),
        };
        PoolInfo::decode(&text, &dir, &path)
    }

    /// Every pool, by label. A directory whose metadata cannot be read is
    /// listed with the error; hidden entries (a create or destroy in
    /// progress) and plain files are skipped.
    pub fn pool_list(&self) -> Result<Vec<PoolListing>, StorageError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("listing", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.map_err(io("listing", &self.dir))?;
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            if !ent.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let info = self.pool(name);
            // A hidden entry is rdaos's own (a create or destroy in
            // progress), unless it is a whole pool labelled so (made
            // before such labels were refused).
            if name.starts_with('.') && info.is_err() {
                continue;
            }
            out.push(PoolListing {
                label: name.to_string(),
                info,
            });
        }
        out.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(out)
    }

    /// Makes pool `label`: checks everything first, formats the device
    /// (`obj::srv::pool_create`) in a hidden directory, writes the
    /// metadata, then renames the directory into place. On failure
    /// nothing is left behind but a device the caller named and that
    /// existed before (it may have been partly formatted).
    pub fn pool_create(
        &self,
        label: &str,
        opts: &PoolCreateOpts,
    ) -> Result<PoolInfo, StorageError> {
        check_new_label(label)?;
        let map = PoolMap::new(opts.engines, opts.targets_per_engine)
            .map_err(|e| StorageError::BadLayout(e.to_string()))?;
        let targets = map.targets();
        check_size(opts.size, targets)?;
        let final_dir = self.pool_dir(label);
        let exists = || StorageError::Exists {
            label: label.to_string(),
            dir: self.dir.clone(),
        };
        if final_dir.exists() {
            return Err(exists());
        }
        let external = match &opts.path {
            Some(p) => Some(self.check_device(p, opts.size, opts.force)?),
            None => None,
        };
        fs::create_dir_all(&self.dir).map_err(io("creating the storage directory", &self.dir))?;
        let now = SystemTime::now();
        let nanos = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let tmp = self
            .dir
            .join(format!(".creating-{label}-{}-{nanos}", std::process::id()));
        fs::create_dir(&tmp).map_err(io("creating", &tmp))?;
        let mark = tmp.join(LEFTOVER_MARK);
        if let Err(e) = mark_leftover(&tmp) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let device = match &external {
            Some((p, _)) => p.clone(),
            None => tmp.join(DEV_FILE),
        };
        let device_owned = external.as_ref().is_none_or(|e| !e.1);
        let r = (|| {
            let uuid = random_uuid()?;
            let pmi = obj::srv::pool_create(
                &device,
                opts.size,
                uuid,
                opts.engines,
                opts.targets_per_engine,
            )
            .map_err(|source| StorageError::Engine {
                label: label.to_string(),
                source,
            })?;
            // The pool takes the whole device: a file already larger than
            // asked stays so; on a block device or namespace, what the
            // targets' regions cover.
            let size = match fs::metadata(&device) {
                Ok(m) if m.is_file() => m.len(),
                _ => pmi.region_len * u64::from(pmi.nr_targets),
            };
            let mut info = PoolInfo {
                label: label.to_string(),
                uuid,
                size,
                engines: opts.engines,
                targets_per_engine: opts.targets_per_engine,
                device: device.clone(),
                device_owned,
                created: UNIX_EPOCH
                    + Duration::from_secs(
                        now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
                    ),
                durability: opts.durability,
                dir: tmp.clone(),
            };
            write_synced(&tmp.join(META_FILE), info.encode().as_bytes())?;
            // The pool goes without the mark (killed between the two, the
            // directory is still swept: it holds only a pool's files and
            // is no pool labelled as itself).
            fs::remove_file(&mark).map_err(io("removing", &mark))?;
            // Into place: fails if a pool of that label appeared meanwhile.
            fs::rename(&tmp, &final_dir).map_err(|e| match e.raw_os_error() {
                Some(libc::EEXIST | libc::ENOTEMPTY) => exists(),
                _ => io("renaming into place", &final_dir)(e),
            })?;
            sync_dir(&self.dir)?;
            info.dir = final_dir.clone();
            if external.is_none() {
                info.device = final_dir.join(DEV_FILE);
            }
            Ok(info)
        })();
        if r.is_err() {
            let _ = fs::remove_dir_all(&tmp);
            if external.is_some() && device_owned {
                let _ = fs::remove_file(&device);
            }
        }
        r
    }

    /// Checks an explicit device for a new pool of `size` bytes: absolute
    /// (made so), of a kind bio can open, big enough, and not another
    /// pool's; unless `force`, not a regular file holding data and not a
    /// missing path under `/dev` (a mistyped device name). Returns the
    /// absolute path and whether it already existed.
    fn check_device(
        &self,
        p: &Path,
        size: u64,
        force: bool,
    ) -> Result<(PathBuf, bool), StorageError> {
        let bad = |why: String| StorageError::BadDevice {
            path: p.to_path_buf(),
            why,
        };
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(io("finding the current directory for", p))?
                .join(p)
        };
        let text = abs
            .to_str()
            .ok_or_else(|| bad("the path is not UTF-8".into()))?;
        if text.contains('\n') {
            return Err(bad("the path contains a newline".into()));
        }
        // The length of a regular file holding data (refused below).
        let mut data = None;
        let existed = match fs::metadata(&abs) {
            Ok(m) => {
                let t = m.file_type();
                if t.is_block_device() {
                    let cap = File::open(&abs)
                        .and_then(|mut f| f.seek(SeekFrom::End(0)))
                        .map_err(io("reading the size of", &abs))?;
                    if cap < size {
                        return Err(bad(format!(
                            "it has {} ({cap} bytes), the pool needs {}",
                            format_size(cap),
                            format_size(size)
                        )));
                    }
                } else if !(t.is_file() || t.is_char_device()) {
                    return Err(bad(
                        "neither a regular file, a block device nor an NVMe namespace".into(),
                    ));
                } else if t.is_file() && !force && holds_data(&abs)? {
                    data = Some(m.len());
                }
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let parent = abs.parent().unwrap_or(Path::new("/"));
                if !parent.is_dir() {
                    return Err(bad(format!("{} is not a directory", parent.display())));
                }
                if abs.starts_with("/dev") && !force {
                    return Err(bad(
                        "no such device (a mistyped name?); rdaos would make a regular file \
                         there: pass --force to do so"
                            .into(),
                    ));
                }
                false
            }
            Err(e) => return Err(io("looking at", &abs)(e)),
        };
        // Not a device another pool of this storage uses.
        if let Some(label) = self.device_user(&abs)? {
            return Err(bad(format!("it is the device of pool {label:?}")));
        }
        if let Some(len) = data {
            return Err(bad(format!(
                "it is a file of {} holding data, which the pool would overwrite; \
                 pass --force to use it anyway",
                format_size(len)
            )));
        }
        Ok((abs, existed))
    }

    /// The label of the pool of this storage whose device is `dev` (paths
    /// compared once canonical), if any.
    fn device_user(&self, dev: &Path) -> Result<Option<String>, StorageError> {
        let canon = |q: &Path| fs::canonicalize(q).unwrap_or_else(|_| q.to_path_buf());
        let mine = canon(dev);
        Ok(self.pool_list()?.into_iter().find_map(|l| {
            l.info
                .ok()
                .filter(|i| canon(&i.device) == mine)
                .map(|i| i.label)
        }))
    }

    /// Removes pool `label`: its directory and, if rdaos created it, its
    /// device file. A device the user named and that existed before is
    /// left as it is. Refused while an engine runs on the pool. A pool
    /// whose metadata is damaged is removed too (its directory only).
    pub fn pool_destroy(&self, label: &str) -> Result<(), StorageError> {
        check_label(label)?;
        let dir = self.pool_dir(label);
        if !dir.is_dir() {
            return Err(self.not_found(label));
        }
        let lock = lock_dir(&dir, label)?;
        self.destroy_locked(label, lock)
    }

    /// [`pool_destroy`](Self::pool_destroy) of a pool without containers
    /// (DAOS's `dmg pool destroy` without `--recursive`): starts its
    /// engine to list them, and refuses with
    /// [`StorageError::HasContainers`], or
    /// [`StorageError::ContainersUnknown`] when the engine cannot start.
    /// The pool stays locked from the listing to its removal.
    pub fn pool_destroy_empty(&self, label: &str) -> Result<(), StorageError> {
        check_label(label)?;
        let dir = self.pool_dir(label);
        if !dir.is_dir() {
            return Err(self.not_found(label));
        }
        let lock = lock_dir(&dir, label)?;
        let unknown = |e: StorageError| StorageError::ContainersUnknown {
            label: label.to_string(),
            source: Box::new(e),
        };
        let info = self.pool(label).map_err(unknown)?;
        let pool = self.start_locked(info, lock, |_| {}).map_err(unknown)?;
        let conts = {
            let sched = Sched::new();
            let cli = pool.client(&sched.handle());
            cli.cont_list()
        };
        let lock = pool.stop_keep_lock()?;
        let conts = conts.map_err(|e| unknown(self.engine_err(label, e)))?;
        if !conts.is_empty() {
            return Err(StorageError::HasContainers {
                label: label.to_string(),
                conts: conts.into_iter().map(|(_, l)| l).collect(),
            });
        }
        self.destroy_locked(label, lock)
    }

    fn engine_err(&self, label: &str, source: ObjError) -> StorageError {
        StorageError::Engine {
            label: label.to_string(),
            source,
        }
    }

    /// Removes pool `label`, whose lock the caller holds.
    fn destroy_locked(&self, label: &str, _lock: File) -> Result<(), StorageError> {
        let dir = self.pool_dir(label);
        let info = self.pool(label).ok();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let gone = self.dir.join(format!(
            ".destroying-{label}-{}-{nanos}",
            std::process::id()
        ));
        // Marked before the rename: the name it will have. (A mark that
        // stays in a pool whose destroy died before the rename names
        // nothing and is overwritten by the next destroy.)
        let gone_name = gone.file_name().unwrap_or_default().to_string_lossy();
        fs::write(dir.join(LEFTOVER_MARK), format!("{gone_name}\n"))
            .map_err(io("marking", &dir))?;
        fs::rename(&dir, &gone).map_err(io("renaming away", &dir))?;
        sync_dir(&self.dir)?;
        if let Some(i) = info {
            if i.device_owned && i.device.parent() != Some(dir.as_path()) {
                match fs::remove_file(&i.device) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io("removing", &i.device)(e))
                    }
                    _ => {}
                }
            }
        }
        fs::remove_dir_all(&gone).map_err(io("removing", &gone))
    }

    /// Relabels pool `label` as `new` (DAOS's `dmg pool set-prop POOL
    /// label=NEW`): its directory is renamed and its metadata rewritten,
    /// under the pool's lock (refused with [`StorageError::Busy`] while an
    /// engine runs on it). Refuses a label taken by another pool or
    /// entry of the storage directory, and a pool whose directory holds
    /// another pool's device. Crash safe: killed at any point, the pool
    /// is whole under `label` or under `new` (see the module's docs).
    /// `step` is called after each durable step (`next`, `dir`).
    /// Relabelling a pool as its own label changes nothing.
    pub fn pool_relabel(
        &self,
        label: &str,
        new: &str,
        step: &mut dyn FnMut(&str),
    ) -> Result<PoolInfo, StorageError> {
        check_label(label)?;
        check_new_label(new)?;
        let old_dir = self.pool_dir(label);
        if !old_dir.is_dir() {
            return Err(self.not_found(label));
        }
        let lock = lock_dir(&old_dir, label)?;
        settle_relabel(&old_dir)?;
        let info = self.pool(label)?;
        if new == label {
            return Ok(info);
        }
        let new_dir = self.pool_dir(new);
        let exists = || StorageError::Exists {
            label: new.to_string(),
            dir: self.dir.clone(),
        };
        if fs::symlink_metadata(&new_dir).is_ok() {
            return Err(exists());
        }
        // A device another pool keeps in this pool's directory would
        // move away from under it.
        for other in self.pool_list()? {
            if let Ok(o) = other.info {
                if o.label != label && o.device.starts_with(&old_dir) {
                    return Err(StorageError::BadDevice {
                        path: o.device,
                        why: format!(
                            "pool {:?} keeps its device in pool {label:?}'s directory, \
                             which a relabel would move",
                            o.label
                        ),
                    });
                }
            }
        }
        let mut next = info.clone();
        next.label = new.to_string();
        next.dir = new_dir.clone();
        if info.device == old_dir.join(DEV_FILE) {
            next.device = new_dir.join(DEV_FILE);
        }
        let next_path = old_dir.join(META_NEXT);
        write_synced(&next_path, next.encode().as_bytes())?;
        step("next");
        if let Err(e) = rename_noreplace(&old_dir, &new_dir) {
            let _ = fs::remove_file(&next_path);
            let _ = sync_dir(&old_dir);
            return Err(match e.raw_os_error() {
                Some(libc::EEXIST | libc::ENOTEMPTY) => exists(),
                _ => io("renaming", &old_dir)(e),
            });
        }
        sync_dir(&self.dir)?;
        step("dir");
        settle_relabel(&new_dir)?;
        drop(lock);
        Ok(next)
    }

    /// Sets pool `label`'s durability contract (DAOS has no such
    /// property; rdaos's `pool set-prop POOL durability=...`): rewrites
    /// its metadata, under the pool's lock (refused with
    /// [`StorageError::Busy`] while an engine runs on it). The engine
    /// reads the contract when it starts, so it is in force from the
    /// next start on. Either contract reads the same log: nothing on
    /// the device changes. Returns the pool as it is now.
    pub fn pool_set_durability(
        &self,
        label: &str,
        durability: Durability,
    ) -> Result<PoolInfo, StorageError> {
        check_label(label)?;
        let dir = self.pool_dir(label);
        if !dir.is_dir() {
            return Err(self.not_found(label));
        }
        let _lock = lock_dir(&dir, label)?;
        settle_relabel(&dir)?;
        let mut info = self.pool(label)?;
        if info.durability != durability {
            info.durability = durability;
            write_synced(&info.meta_path(), info.encode().as_bytes())?;
        }
        Ok(info)
    }

    /// Checks pool `label` without starting its engine or writing
    /// anything: for each target, what opening it would replay, and
    /// whether its log lost acknowledged records (what a salvage would
    /// keep). Holds the pool's lock meanwhile, so no engine runs on it.
    pub fn pool_check(&self, label: &str) -> Result<Vec<vos::TargetCheck>, StorageError> {
        let info = self.pool(label)?;
        let _lock = lock_dir(&info.dir, &info.label)?;
        let sched = Sched::new();
        let ctx = open_offline(&info, &sched)?;
        vos::pool_check(&ctx).map_err(|e| engine_err(&info, e.into()))
    }

    /// Pool `label`'s space without starting its engine or writing
    /// anything, as each target's newest checkpoint records it (see
    /// [`vos::Target::space_at_checkpoint`]): exact when the pool is not in
    /// use and was closed cleanly (every engine stop checkpoints), else as
    /// of the last checkpoints (an engine in use checkpoints as it
    /// aggregates and as its log fills). Safe beside a running engine.
    pub fn pool_space(&self, label: &str) -> Result<PoolSpaceAtRest, StorageError> {
        let info = self.pool(label)?;
        let lock = try_lock_dir(&info.dir);
        let sched = Sched::new();
        let ctx = open_offline(&info, &sched)?;
        let targets = vos::pool_space(&ctx).map_err(|e| engine_err(&info, e.into()))?;
        let data_space: u64 = targets.iter().map(|t| t.data_space).sum();
        let used: u64 = targets.iter().map(|t| t.used).sum();
        Ok(PoolSpaceAtRest {
            data_space,
            used,
            free: data_space - used,
            exact: lock.is_some() && targets.iter().all(|t| t.clean),
        })
    }

    /// Starts an engine on pool `label` in this process (one thread per
    /// target) and holds the pool's lock until it stops. Checks that the
    /// device holds the pool the metadata names.
    pub fn start(&self, label: &str) -> Result<RunningPool, StorageError> {
        let info = self.pool(label)?;
        self.start_with(info, |_| {})
    }

    /// [`start`](Self::start) with the engine's configuration adjusted by
    /// `tune` first (tracing, DMA buffers, aggregation...). The device and
    /// the targets come from the metadata.
    pub fn start_with(
        &self,
        info: PoolInfo,
        tune: impl FnOnce(&mut EngineConfig),
    ) -> Result<RunningPool, StorageError> {
        let lock = lock_dir(&info.dir, &info.label)?;
        self.start_locked(info, lock, tune)
    }

    /// [`start_with`](Self::start_with) with the pool's lock taken. Once
    /// the engine runs, a container create or destroy that a killed
    /// process left half done is undone or finished (see
    /// [`PoolConn::cont_create_posix`]).
    fn start_locked(
        &self,
        info: PoolInfo,
        lock: File,
        tune: impl FnOnce(&mut EngineConfig),
    ) -> Result<RunningPool, StorageError> {
        let mut cfg = EngineConfig::new(&info.device, info.engines, info.targets_per_engine);
        cfg.bio.durability = info.durability;
        tune(&mut cfg);
        cfg.path = info.device.clone();
        cfg.engines = info.engines;
        cfg.targets_per_engine = info.targets_per_engine;
        let engine = Engine::start(cfg).map_err(|source| match source {
            // The object layer carries the store's error whole.
            ObjError::Vos(e) => match *e {
                vos::VosError::WalDamaged { target, source } => StorageError::Damaged {
                    label: info.label.clone(),
                    target,
                    source,
                },
                e => StorageError::Engine {
                    label: info.label.clone(),
                    source: e.into(),
                },
            },
            source => StorageError::Engine {
                label: info.label.clone(),
                source,
            },
        })?;
        let found = engine.pool_info().pool;
        if found != info.uuid {
            let _ = engine.stop();
            return Err(StorageError::WrongPool {
                label: info.label.clone(),
                device: info.device.clone(),
                found: uuid_string(found),
                expected: info.uuid_string(),
            });
        }
        let pool = RunningPool { engine, info, lock };
        if let Err(e) = pool.finish_intents() {
            let _ = pool.stop();
            return Err(e);
        }
        Ok(pool)
    }

    /// Starts an engine on pool `label` and makes an object client for
    /// the calling thread, on a new scheduler owned by the returned
    /// connection.
    pub fn connect(&self, label: &str) -> Result<PoolConn, StorageError> {
        let pool = self.start(label)?;
        let sched = Sched::new();
        let cli = pool.client(&sched.handle());
        Ok(PoolConn { cli, sched, pool })
    }
}

/// An engine running on a pool of the storage, in this process. Holds the
/// pool's lock; dropping it stops the engine (use [`stop`](Self::stop) to
/// see errors). It is `Send`: a daemon can start it on one thread and
/// make clients ([`client`](Self::client)) on the threads that serve
/// requests.
pub struct RunningPool {
    engine: Engine,
    info: PoolInfo,
    lock: File,
}

impl RunningPool {
    /// The pool.
    pub fn info(&self) -> &PoolInfo {
        &self.info
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// An object client whose tasks run on `sched` (the caller's thread's
    /// scheduler).
    pub fn client(&self, sched: &SchedHandle) -> ObjClient {
        ObjClient::new(sched, self.engine.transport())
    }

    /// Stops the engine (every target closes with a checkpoint), then
    /// releases the pool.
    pub fn stop(self) -> Result<(), StorageError> {
        self.stop_keep_lock().map(drop)
    }

    /// Stops the engine and hands back the pool's lock.
    fn stop_keep_lock(self) -> Result<File, StorageError> {
        let RunningPool { engine, info, lock } = self;
        engine.stop().map_err(|source| StorageError::Engine {
            label: info.label,
            source,
        })?;
        Ok(lock)
    }

    /// Undoes the container creates, and finishes the destroys and
    /// relabels, whose intent files a killed process left in the pool's
    /// directory: a created container is removed from every target that
    /// holds it, a destroyed one too, a relabelled one gets its new label
    /// on every target; then the intent goes. (The caller holds the
    /// pool's lock: no such operation is running.)
    fn finish_intents(&self) -> Result<(), StorageError> {
        let dir = &self.info.dir;
        let mut labels = Vec::new();
        let mut relabels = Vec::new();
        let tmp = dir.join(INTENT_TMP);
        if tmp.exists() {
            // A relabel intent never renamed into place: nothing was
            // changed after it.
            fs::remove_file(&tmp).map_err(io("removing", &tmp))?;
        }
        for ent in fs::read_dir(dir).map_err(io("listing", dir))? {
            let ent = ent.map_err(io("listing", dir))?;
            let name = ent.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(INTENT_RELABEL) {
                if let Some(r) = read_relabel_intent(&ent.path()) {
                    relabels.push((ent.path(), r));
                }
                continue;
            }
            let label = name
                .strip_prefix(INTENT_CREATE)
                .or_else(|| name.strip_prefix(INTENT_DESTROY));
            if let Some(label) = label.filter(|l| vos::check_label(l).is_ok()) {
                labels.push((ent.path(), label.to_string()));
            }
        }
        if labels.is_empty() && relabels.is_empty() {
            return Ok(());
        }
        let sched = Sched::new();
        let cli = self.client(&sched.handle());
        for (path, label) in labels {
            self.remove_cont(&cli, &label)?;
            fs::remove_file(&path).map_err(io("removing", &path))?;
        }
        for (path, (id, new)) in relabels {
            for to in cli.pool_targets() {
                cli.cont_relabel_on(to, id, &new)
                    .map_err(|e| self.cont_err(&new, "relabel", e))?;
            }
            fs::remove_file(&path).map_err(io("removing", &path))?;
        }
        sync_dir(dir)
    }

    /// Destroys container `label` on every target that holds it (none
    /// is fine).
    fn remove_cont(&self, cli: &ObjClient, label: &str) -> Result<(), StorageError> {
        for to in cli.pool_targets() {
            cli.cont_destroy_on(to, label)
                .map_err(|e| self.cont_err(label, "destroy", e))?;
        }
        Ok(())
    }

    fn cont_err(&self, label: &str, what: &str, e: ObjError) -> StorageError {
        StorageError::Cont {
            pool: self.info.label.clone(),
            label: label.to_string(),
            source: dfs::DfsError::obj(what, e),
        }
    }

    /// Writes the intent file `<prefix><label>`, durable before it
    /// returns.
    fn write_intent(&self, prefix: &str, label: &str) -> Result<PathBuf, StorageError> {
        let path = self.info.dir.join(format!("{prefix}{label}"));
        File::create(&path)
            .and_then(|mut f| {
                f.write_all(label.as_bytes())?;
                f.sync_all()
            })
            .map_err(io("writing", &path))?;
        sync_dir(&self.info.dir)?;
        Ok(path)
    }

    /// Writes the relabel intent of container `id` (now `label`, to be
    /// `new`): whole or not at all (written, synced, then renamed into
    /// place), durable before it returns.
    fn write_relabel_intent(
        &self,
        label: &str,
        id: ContId,
        new: &str,
    ) -> Result<PathBuf, StorageError> {
        let dir = &self.info.dir;
        let (tmp, path) = (
            dir.join(INTENT_TMP),
            dir.join(format!("{INTENT_RELABEL}{label}")),
        );
        File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(format!("{:032x}\n{new}\n", id.0).as_bytes())?;
                f.sync_all()
            })
            .map_err(io("writing", &tmp))?;
        fs::rename(&tmp, &path).map_err(io("renaming", &tmp))?;
        sync_dir(dir)?;
        Ok(path)
    }

    fn drop_intent(&self, path: &Path) -> Result<(), StorageError> {
        fs::remove_file(path).map_err(io("removing", path))?;
        sync_dir(&self.info.dir)
    }
}

/// A pool with a running engine and an object client on the calling
/// thread's own scheduler: what a command needs to talk to a pool.
/// Not `Send` (the client belongs to this thread). Dropping it drops the
/// client, then the scheduler, then stops the engine; use
/// [`close`](Self::close) to see errors.
pub struct PoolConn {
    // Fields drop in this order.
    cli: ObjClient,
    sched: Sched,
    pool: RunningPool,
}

impl PoolConn {
    /// The object client.
    pub fn client(&self) -> &ObjClient {
        &self.cli
    }

    /// The scheduler the client's tasks run on.
    pub fn sched(&self) -> &Sched {
        &self.sched
    }

    /// The pool.
    pub fn info(&self) -> &PoolInfo {
        self.pool.info()
    }

    /// The running engine.
    pub fn engine(&self) -> &Engine {
        self.pool.engine()
    }

    /// Creates POSIX container `label` (`dfs` mkfs with `attr`) so that a
    /// process killed at any point leaves it whole or absent: an intent
    /// file in the pool's directory is made durable first and removed
    /// only once the superblock is; the next engine started on the pool
    /// removes a container whose intent is still there. `step` is called
    /// after each step (`intent`, `container`, `root`, `superblock`).
    /// Refuses a label that is taken, naming a half-made container.
    pub fn cont_create_posix(
        &self,
        label: &str,
        attr: dfs::DfsAttr,
        step: &mut dyn FnMut(&str),
    ) -> Result<ContId, StorageError> {
        let pool = &self.pool;
        let (pl, cli) = (pool.info.label.clone(), &self.cli);
        let err = |source| StorageError::Cont {
            pool: pl.clone(),
            label: label.to_string(),
            source,
        };
        vos::check_label(label)
            .map_err(|e| err(dfs::DfsError::inval(format!("bad container label: {e}"))))?;
        let (have, all) = cli
            .cont_targets(label)
            .map_err(|e| pool.cont_err(label, "create", e))?;
        if have == all && have > 0 {
            return Err(StorageError::ContExists {
                pool: pl,
                label: label.to_string(),
            });
        }
        if have > 0 {
            return Err(StorageError::ContHalfMade {
                pool: pl,
                label: label.to_string(),
                have,
                all,
            });
        }
        let intent = pool.write_intent(INTENT_CREATE, label)?;
        step("intent");
        let made = cli
            .sched()
            .block_on(dfs::Dfs::mkfs_steps(cli, label, attr, |s| step(s.name())));
        if let Err(e) = made {
            // Nothing of it was there before: take away what was made.
            pool.remove_cont(cli, label)?;
            pool.drop_intent(&intent)?;
            return Err(err(e));
        }
        pool.drop_intent(&intent)?;
        cli.cont_open(label)
            .map_err(|e| pool.cont_err(label, "open", e))
    }

    /// Destroys container `label` and its data (DAOS's `daos cont
    /// destroy`), whole or half made, so that a process killed at any
    /// point leaves it destroyed or still destroyable: an intent file
    /// made durable first is removed once every target dropped it; the
    /// next engine started on the pool finishes the destroy. `step` is
    /// called after each step (`intent`, then `target-N` per target).
    /// No other process can have it open meanwhile: the engine's lock
    /// on the pool keeps them out.
    pub fn cont_destroy(
        &self,
        label: &str,
        step: &mut dyn FnMut(&str),
    ) -> Result<(), StorageError> {
        let (pool, cli) = (&self.pool, &self.cli);
        let (have, _) = cli
            .cont_targets(label)
            .map_err(|e| pool.cont_err(label, "destroy", e))?;
        if have == 0 {
            return Err(StorageError::ContNotFound {
                pool: pool.info.label.clone(),
                label: label.to_string(),
            });
        }
        let intent = pool.write_intent(INTENT_DESTROY, label)?;
        step("intent");
        for (i, to) in cli.pool_targets().into_iter().enumerate() {
            cli.cont_destroy_on(to, label)
                .map_err(|e| pool.cont_err(label, "destroy", e))?;
            step(&format!("target-{i}"));
        }
        pool.drop_intent(&intent)
    }

    /// Relabels container `label` as `new` (DAOS's `daos cont set-prop
    /// POOL CONT label:NEW`) on every target, so that a process killed at
    /// any point leaves it whole under one of the two labels once an
    /// engine starts on the pool: an intent file naming the container's
    /// id and its new label is made durable first (whole, by a rename)
    /// and removed once every target has the new label; the next engine
    /// started on the pool finishes a relabel whose intent is still
    /// there (each target's relabel is one log record, and redoing it is
    /// harmless). `step` is called after each step (`intent`, then
    /// `target-N` per target). Refuses a label taken by another
    /// container, and a container not whole. Relabelling a container as
    /// its own label changes nothing. Returns its id.
    pub fn cont_relabel(
        &self,
        label: &str,
        new: &str,
        step: &mut dyn FnMut(&str),
    ) -> Result<ContId, StorageError> {
        let (pool, cli) = (&self.pool, &self.cli);
        let pl = &pool.info.label;
        for l in [label, new] {
            vos::check_label(l).map_err(|e| StorageError::Cont {
                pool: pl.clone(),
                label: l.to_string(),
                source: dfs::DfsError::inval(format!("bad container label: {e}")),
            })?;
        }
        let targets = |l: &str| {
            cli.cont_targets(l)
                .map_err(|e| pool.cont_err(l, "relabel", e))
        };
        let (have, all) = targets(label)?;
        if have == 0 {
            return Err(StorageError::ContNotFound {
                pool: pl.clone(),
                label: label.to_string(),
            });
        }
        if have < all {
            return Err(StorageError::ContHalfMade {
                pool: pl.clone(),
                label: label.to_string(),
                have,
                all,
            });
        }
        let id = cli
            .cont_open(label)
            .map_err(|e| pool.cont_err(label, "open", e))?;
        if new == label {
            return Ok(id);
        }
        if targets(new)?.0 > 0 {
            return Err(StorageError::ContExists {
                pool: pl.clone(),
                label: new.to_string(),
            });
        }
        let intent = pool.write_relabel_intent(label, id, new)?;
        step("intent");
        for (i, to) in cli.pool_targets().into_iter().enumerate() {
            cli.cont_relabel_on(to, id, new)
                .map_err(|e| pool.cont_err(label, "relabel", e))?;
            step(&format!("target-{i}"));
        }
        pool.drop_intent(&intent)?;
        Ok(id)
    }

    /// Drops the client and its scheduler, then stops the engine and
    /// reports how that went.
    pub fn close(self) -> Result<(), StorageError> {
        let PoolConn { cli, sched, pool } = self;
        drop(cli);
        drop(sched);
        pool.stop()
    }
}

/// The container id and new label a relabel intent file holds; `None`
/// for a file that is not one.
fn read_relabel_intent(path: &Path) -> Option<(ContId, String)> {
    let text = fs::read_to_string(path).ok()?;
    let mut lines = text.strip_suffix('\n')?.split('\n');
    let (id, new) = (lines.next()?, lines.next()?);
    if lines.next().is_some() || id.len() != 32 || vos::check_label(new).is_err() {
        return None;
    }
    let id = u128::from_str_radix(id, 16).ok()?;
    Some((ContId(id), new.to_string()))
}

/// Checks a pool size for `targets` targets.
fn check_size(size: u64, targets: u32) -> Result<(), StorageError> {
    if size == 0 {
        return Err(StorageError::BadSize("the size is 0".into()));
    }
    if size % SIZE_ALIGN != 0 {
        return Err(StorageError::BadSize(format!(
            "{size} bytes is not a multiple of 4 KiB"
        )));
    }
    let need = vos::MIN_REGION * u64::from(targets);
    if size < need {
        return Err(StorageError::BadSize(format!(
            "{} is too small for {targets} targets: at least {} ({} per target)",
            format_size(size),
            format_size(need),
            format_size(vos::MIN_REGION)
        )));
    }
    Ok(())
}

/// Marks the new hidden directory `dir` as rdaos's own (see
/// [`LEFTOVER_MARK`]).
fn mark_leftover(dir: &Path) -> Result<(), StorageError> {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let mark = dir.join(LEFTOVER_MARK);
    fs::write(&mark, format!("{name}\n")).map_err(io("writing", &mark))
}

/// True when the regular file `path` holds any data: a byte of it is not
/// a hole (a file only grown with `truncate` holds none).
fn holds_data(path: &Path) -> Result<bool, StorageError> {
    let f = File::open(path).map_err(io("opening", path))?;
    // SAFETY: lseek on a file descriptor owned by `f`, alive for the
    // call; it touches no memory.
    let off = unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_DATA) };
    if off >= 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        // No data past offset 0: empty, or all holes.
        Some(libc::ENXIO) => Ok(false),
        // A file system without SEEK_DATA: any length is data.
        Some(libc::EINVAL) => Ok(f.metadata().map_err(io("looking at", path))?.len() > 0),
        _ => Err(io("looking for data in", path)(e)),
    }
}

/// Writes `bytes` to `path` through a temporary file, synced and renamed
/// into place.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let tmp = path.with_extension("tmp");
    let r = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(io("writing", &tmp))
        .and_then(|_| fs::rename(&tmp, path).map_err(io("renaming into place", path)));
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes a directory's entries (a rename, a new file) durable.
fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io("syncing", dir))
}

/// Takes the exclusive lock of a pool's directory, waiting at most
/// [`LOCK_WAIT`] for another process to release it.
fn lock_dir(dir: &Path, label: &str) -> Result<File, StorageError> {
    let f = File::open(dir).map_err(io("opening", dir))?;
    // A process that just let go of the pool (a dfuse daemon after its
    // umount) still stops its engine for a moment: wait that long.
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        // SAFETY: flock on a file descriptor this function owns; it
        // touches no memory.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(f);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io("locking", dir)(e));
        }
        if std::time::Instant::now() >= deadline {
            return Err(StorageError::Busy {
                label: label.to_string(),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The pool's lock if no other process holds it now (no waiting).
fn try_lock_dir(dir: &Path) -> Option<File> {
    let f = File::open(dir).ok()?;
    // SAFETY: flock on a file descriptor this function owns; it touches
    // no memory.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    (rc == 0).then_some(f)
}

/// The metadata a relabel left in `dir`, if its label is the
/// directory's name: then the rename happened, and it is the pool's.
fn read_next(dir: &Path) -> Option<PoolInfo> {
    let path = dir.join(META_NEXT);
    let mut text = Vec::new();
    File::open(&path)
        .ok()?
        .take(META_MAX)
        .read_to_end(&mut text)
        .ok()?;
    PoolInfo::decode(&text, dir, &path).ok()
}

/// Ends what a stopped relabel left in pool directory `dir` (whose lock
/// the caller holds): a `pool.meta.next` that is the pool's replaces
/// `pool.meta`; one that is not (the rename never happened) is removed.
fn settle_relabel(dir: &Path) -> Result<(), StorageError> {
    let next = dir.join(META_NEXT);
    if !next.exists() {
        return Ok(());
    }
    if read_next(dir).is_some() {
        let meta = dir.join(META_FILE);
        fs::rename(&next, &meta).map_err(io("renaming into place", &meta))?;
    } else {
        fs::remove_file(&next).map_err(io("removing", &next))?;
    }
    sync_dir(dir)
}

/// Renames `from` to `to`, failing with `EEXIST` if `to` exists (a plain
/// rename would replace an empty directory). Where the file system has
/// no `RENAME_NOREPLACE`, checks first and renames.
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
    };
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: both paths are NUL-terminated strings alive for the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(std::io::Error::from_raw_os_error(libc::EEXIST));
            }
            fs::rename(from, to)
        }
        _ => Err(e),
    }
}

/// How long taking a pool waits for another process to release it.
/// An error of pool `info`'s engine or store.
fn engine_err(info: &PoolInfo, source: ObjError) -> StorageError {
    StorageError::Engine {
        label: info.label.clone(),
        source,
    }
}

/// Pool `info`'s device opened for reading without an engine (`pool
/// check`, `pool list`'s space), on `sched`; room for the largest data
/// extent a record's check reads back.
fn open_offline(info: &PoolInfo, sched: &Sched) -> Result<bio::BioCtx, StorageError> {
    let cfg = bio::BioConfig {
        dma_chunks: 16,
        ..bio::BioConfig::default()
    };
    bio::BioCtx::open(
        &sched.handle(),
        &info.device,
        &bio::DevOpts::default(),
        &cfg,
    )
    .map_err(|e| engine_err(info, e.into()))
}

const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A hidden leftover's kind (`.creating` or `.destroying`), label and
/// process id, from its name `<kind>-<label>-<pid>-<nanos>` (labels may
/// hold dashes: the fields are taken from the right).
fn leftover(name: &str) -> Option<(&str, &str, i32)> {
    let mut it = name.rsplitn(3, '-');
    let nanos = it.next()?;
    let pid = it.next()?.parse::<i32>().ok().filter(|&p| p > 0)?;
    let rest = it.next()?;
    nanos.parse::<u128>().ok()?;
    [".creating", ".destroying"].into_iter().find_map(|kind| {
        let label = rest.strip_prefix(kind)?.strip_prefix('-')?;
        (!label.is_empty()).then_some((kind, label, pid))
    })
}

/// False only when process `pid` is known not to exist.
fn process_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    static N: AtomicU32 = AtomicU32::new(0);

    /// A fresh storage directory in the temp directory (a real file
    /// system: O_DIRECT needs one), removed when dropped.
    struct Tmp(PathBuf);

    impl Tmp {
        fn new(tag: &str) -> Tmp {
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir()
                .join(format!("rdaos-storage-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            Tmp(p)
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn sample(dir: &Path) -> PoolInfo {
        PoolInfo {
            label: "tank".into(),
            uuid: 0x2c0e_4f4a_8d5e_4c1b_9a57_0f7b_1e2d_3c4b,
            size: 4 << 30,
            engines: 2,
            targets_per_engine: 4,
            device: dir.join(DEV_FILE),
            device_owned: true,
            created: UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            durability: Durability::Flush,
            dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn only_a_whole_relabel_intent_is_acted_on() {
        let t = Tmp::new("relabel-intent");
        fs::create_dir_all(&t.0).unwrap();
        let p = t.0.join("intent.relabel.a");
        let id = "0123456789abcdef0123456789abcdef";
        let read = |text: &str| {
            fs::write(&p, text).unwrap();
            read_relabel_intent(&p)
        };
        assert_eq!(
            read(&format!("{id}\nnew-label\n")),
            Some((
                ContId(0x0123456789abcdef0123456789abcdef),
                "new-label".into()
            ))
        );
        for bad in [
            String::new(),
            format!("{id}\nnew-label"),
            format!("{id}\n\n"),
            format!("{id}\nno spaces\n"),
            format!("{id}\nb\nextra\n"),
            format!("{}\nb\n", &id[1..]),
            format!("{}x\nb\n", &id[1..]),
        ] {
            assert_eq!(read(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn open_sweeps_what_dead_creates_and_destroys_left() {
        let t = Tmp::new("sweep");
        fs::create_dir_all(&t.0).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        let mk = |name: &str| {
            let d = t.0.join(name);
            fs::create_dir(&d).unwrap();
            d
        };
        // A pool's metadata naming `device` (made by rdaos when `owned`).
        let meta = |dir: &Path, label: &str, device: &Path, owned: bool| {
            let mut i = sample(&t.0.join(label));
            i.label = label.into();
            i.device = device.to_path_buf();
            i.device_owned = owned;
            fs::write(dir.join(META_FILE), i.encode()).unwrap();
        };
        let dead_create = mk(&format!(".creating-my-tank-{dead}-1"));
        fs::write(dead_create.join(DEV_FILE), b"partial").unwrap();
        let live_create = mk(&format!(".creating-tank-{me}-2"));
        // A destroy that died before removing the device it owned.
        let (ext, used) = (t.0.join("ext.dev"), t.0.join("used.dev"));
        fs::write(&ext, b"old").unwrap();
        fs::write(&used, b"live").unwrap();
        let dead_destroy = mk(&format!(".destroying-old-{dead}-3"));
        meta(&dead_destroy, "old", &ext, true);
        // Another one whose device path a live pool uses now.
        let dead_destroy2 = mk(&format!(".destroying-old2-{dead}-4"));
        meta(&dead_destroy2, "old2", &used, true);
        let live = mk("live");
        meta(&live, "live", &used, false);
        // Names that are not leftovers, and a leftover name that is a file.
        let odd = mk(&format!(".creating-x-notapid-{dead}"));
        let file = t.0.join(format!(".creating-y-{dead}-6"));
        fs::write(&file, b"").unwrap();

        let st = Storage::open(&t.0).unwrap();
        for gone in [&dead_create, &dead_destroy, &dead_destroy2, &ext] {
            assert!(!gone.exists(), "{} should be gone", gone.display());
        }
        for kept in [&live_create, &used, &live, &odd, &file] {
            assert!(kept.exists(), "{} should stay", kept.display());
        }
        assert_eq!(st.pool_list().unwrap().len(), 1);
        assert!(st.sweep().is_empty(), "nothing left to sweep");
        assert_eq!(
            leftover(&format!(".destroying-a-b-{me}-9")),
            Some((".destroying", "a-b", me as i32))
        );
        assert_eq!(leftover(".creating--1-2"), None);
        assert_eq!(leftover("tank"), None);
    }

    #[test]
    fn a_running_pool_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<RunningPool>();
        send::<Storage>();
        send::<StorageError>();
    }

    #[test]
    fn labels_follow_daos_rules() {
        for ok in ["tank", "a", "A-b_c.d:e", &"x".repeat(127), "123"] {
            check_label(ok).unwrap();
        }
        let why = |l: &str| match check_label(l) {
            Err(StorageError::BadLabel { why, .. }) => why,
            r => panic!("{l:?}: {r:?}"),
        };
        assert!(why("").contains("1 to 127"));
        assert!(why(&"x".repeat(128)).contains("1 to 127"));
        assert!(why("a/b").contains("only"));
        assert!(why("a b").contains("only"));
        assert!(why("é").contains("only"));
        assert!(why("2c0e4f4a-8d5e-4c1b-9a57-0f7b1e2d3c4b").contains("UUID"));
        assert!(why(".").contains(". or .."));
        assert!(why("..").contains(". or .."));
        // Existing pools are looked up by DAOS's rules; new ones also
        // keep off rdaos's own `.` prefix.
        check_label(".old").unwrap();
        for hidden in [".old", ".creating-x-999999-1", ".destroying-a-1-2"] {
            match check_new_label(hidden) {
                Err(StorageError::BadLabel { why, .. }) => {
                    assert!(why.contains("start with ."), "{why}")
                }
                r => panic!("{hidden:?}: {r:?}"),
            }
        }
        check_new_label("a.b").unwrap();
        let e = check_label("a/b").unwrap_err().to_string();
        assert_eq!(
            e,
            "bad pool label \"a/b\": a pool label uses only A-Z a-z 0-9 _ . : -"
        );
    }

    #[test]
    fn random_uuids_are_version_4_and_differ() {
        let (a, b) = (random_uuid().unwrap(), random_uuid().unwrap());
        assert_ne!(a, b);
        for u in [a, b] {
            assert_eq!((u >> 76) & 0xf, 4);
            assert_eq!((u >> 62) & 0x3, 2);
            assert_eq!(uuid_string(u).len(), 36);
        }
    }

    #[test]
    fn metadata_round_trips() {
        let dir = Path::new("/storage/tank");
        let path = dir.join(META_FILE);
        let i = sample(dir);
        let text = i.encode();
        assert!(text
            .starts_with("rdaos-pool 2\nlabel tank\nuuid 2c0e4f4a-8d5e-4c1b-9a57-0f7b1e2d3c4b\n"));
        assert!(text.contains("\ndevice pool.dev\n"), "{text}");
        assert!(text.contains("\ndurability flush\ncrc32c "), "{text}");
        assert_eq!(PoolInfo::decode(text.as_bytes(), dir, &path).unwrap(), i);
        // A version 1 file (before the contracts) reads as `auto`.
        let body = &text[..text.find("durability").unwrap()];
        let v1 = reseal(&body.replacen("rdaos-pool 2", "rdaos-pool 1", 1));
        let old = PoolInfo::decode(v1.as_bytes(), dir, &path).unwrap();
        assert_eq!(old.durability, Durability::Auto);
        assert_eq!(
            old,
            PoolInfo {
                durability: Durability::Auto,
                ..i.clone()
            }
        );
        // An external device is kept absolute.
        let j = PoolInfo {
            device: "/dev/vdb".into(),
            device_owned: false,
            ..i.clone()
        };
        let text = j.encode();
        assert!(text.contains("\ndevice /dev/vdb\ndevice_owned no\n"));
        assert_eq!(PoolInfo::decode(text.as_bytes(), dir, &path).unwrap(), j);
    }

    /// Re-seals `body` (everything but the crc line) with a good crc.
    fn reseal(body: &str) -> String {
        format!("{body}crc32c {:#010x}\n", crc32c::crc32c(body.as_bytes()))
    }

    #[test]
    fn damaged_foreign_and_newer_metadata_is_refused() {
        let dir = Path::new("/storage/tank");
        let path = dir.join(META_FILE);
        let text = sample(dir).encode();
        let dec = |t: &str| PoolInfo::decode(t.as_bytes(), dir, &path);
        // Any flipped bit anywhere is caught.
        for i in 0..text.len() {
            for bit in 0..8 {
                let mut b = text.clone().into_bytes();
                b[i] ^= 1 << bit;
                assert!(
                    PoolInfo::decode(&b, dir, &path).is_err(),
                    "flip at byte {i} bit {bit} accepted"
                );
            }
        }
        // Truncated anywhere.
        for cut in 0..text.len() - 1 {
            assert!(dec(&text[..cut]).is_err(), "cut at {cut} accepted");
        }
        // A newer format is refused as such, whatever follows.
        let newer = text.replacen("rdaos-pool 2", "rdaos-pool 3", 1);
        match dec(&newer) {
            Err(StorageError::NewerMeta {
                found: 3, max: 2, ..
            }) => {}
            r => panic!("{r:?}"),
        }
        assert!(dec(&newer)
            .unwrap_err()
            .to_string()
            .contains("format version 3, this rdaos reads up to 2"));
        // Well sealed but wrong inside.
        let body = &text[..text.rfind("crc32c").unwrap()];
        for (from, to, want) in [
            ("label tank", "label other", "does not match"),
            ("engines 2", "engines 0", "at least one engine"),
            ("engines 2", "engines 99999999999", "too large"),
            ("size 4294967296", "size lots", "not a number"),
            (
                "device_owned yes",
                "device_owned maybe",
                "neither yes nor no",
            ),
            ("uuid 2c0e", "uuid zz0e", "not a uuid"),
            (
                "engines 2\ntargets_per_engine 4",
                "targets_per_engine 4\nengines 2",
                "expected",
            ),
            (
                "created 1767225600\n",
                "created 1767225600\nextra 1\n",
                "fields",
            ),
            ("durability flush", "durability fast", "unknown durability"),
            ("rdaos-pool 2", "rdaos-pool 0", "version 0"),
            ("rdaos-pool 2", "something 2", "not an rdaos pool"),
        ] {
            let t = reseal(&body.replacen(from, to, 1));
            let e = dec(&t).unwrap_err().to_string();
            assert!(e.contains(want), "{from:?} -> {to:?}: {e}");
            assert!(e.contains("/storage/tank/pool.meta"), "{e}");
        }
        assert!(PoolInfo::decode(&[0xff, 0xfe], dir, &path).is_err());
    }

    #[test]
    fn bad_create_requests_name_what_is_wrong() {
        let t = Tmp::new("bad");
        let s = Storage::open(&t.0).unwrap();
        let e = |l: &str, o: PoolCreateOpts| s.pool_create(l, &o).unwrap_err().to_string();
        assert!(e("a b", PoolCreateOpts::new(256 << 20)).contains("bad pool label"));
        assert!(e("p", PoolCreateOpts::new(0)).contains("the size is 0"));
        assert!(e("p", PoolCreateOpts::new((256 << 20) + 1)).contains("multiple of 4 KiB"));
        let small = e("p", PoolCreateOpts::new(32 << 20));
        assert!(
            small.contains("32.0 MiB is too small for 4 targets: at least 64.0 MiB"),
            "{small}"
        );
        let o = PoolCreateOpts {
            engines: 0,
            ..PoolCreateOpts::new(256 << 20)
        };
        assert!(e("p", o).contains("bad pool layout"));
        let o = PoolCreateOpts {
            path: Some("/nonexistent-dir/x".into()),
            ..PoolCreateOpts::new(256 << 20)
        };
        assert!(e("p", o).contains("/nonexistent-dir is not a directory"));
        // Nothing was made, not even the storage directory.
        assert!(!t.0.exists());
        assert!(s.pool_list().unwrap().is_empty());
        let nf = s.pool("nope").unwrap_err().to_string();
        assert_eq!(nf, format!("pool \"nope\" not found in {}", t.0.display()));
        assert!(matches!(
            s.pool_destroy("nope"),
            Err(StorageError::NotFound { .. })
        ));
    }

    #[test]
    fn a_failed_format_leaves_nothing_and_keeps_the_users_device() {
        let t = Tmp::new("fail");
        let s = Storage::open(&t.0).unwrap();
        // /dev/null passes the checks (a character device could be an
        // NVMe namespace) but cannot be formatted.
        let o = PoolCreateOpts {
            path: Some("/dev/null".into()),
            ..PoolCreateOpts::new(64 << 20)
        };
        let e = s.pool_create("p", &o).unwrap_err();
        assert!(matches!(e, StorageError::Engine { .. }), "{e}");
        assert!(Path::new("/dev/null").exists());
        assert_eq!(fs::read_dir(&t.0).unwrap().count(), 0, "leftovers");
    }

    #[test]
    fn pools_are_created_listed_locked_and_destroyed() {
        let t = Tmp::new("life");
        let s = Storage::open(&t.0).unwrap();
        let o = PoolCreateOpts {
            targets_per_engine: 2,
            ..PoolCreateOpts::new(64 << 20)
        };
        let a = s.pool_create("a", &o).unwrap();
        assert_eq!((a.size, a.targets(), a.device_owned), (64 << 20, 2, true));
        assert_eq!(a.device, t.0.join("a").join(DEV_FILE));
        assert_eq!(fs::metadata(&a.device).unwrap().len(), 64 << 20);
        assert_eq!(s.pool("a").unwrap(), a);
        assert!(matches!(
            s.pool_create("a", &o),
            Err(StorageError::Exists { .. })
        ));
        // An external file, made by rdaos, goes with the pool.
        let ext = t.0.join("ext.img");
        let b = s
            .pool_create(
                "b",
                &PoolCreateOpts {
                    path: Some(ext.clone()),
                    ..o.clone()
                },
            )
            .unwrap();
        assert_eq!((b.device.as_path(), b.device_owned), (ext.as_path(), true));
        // ... and cannot back a second pool.
        let e = s
            .pool_create(
                "c",
                &PoolCreateOpts {
                    path: Some(ext.clone()),
                    ..o.clone()
                },
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("it is the device of pool \"b\""), "{e}");
        // An existing file is used whole, and stays when the pool goes.
        let mine = t.0.join("mine.img");
        File::create(&mine).unwrap().set_len(96 << 20).unwrap();
        let d = s
            .pool_create(
                "d",
                &PoolCreateOpts {
                    path: Some(mine.clone()),
                    ..o.clone()
                },
            )
            .unwrap();
        assert_eq!((d.size, d.device_owned), (96 << 20, false));
        s.pool_destroy("d").unwrap();
        assert_eq!(fs::metadata(&mine).unwrap().len(), 96 << 20);
        fs::remove_file(&mine).unwrap();
        // A damaged pool is listed with its error.
        fs::create_dir(t.0.join("junk")).unwrap();
        let l = s.pool_list().unwrap();
        let labels: Vec<&str> = l.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["a", "b", "junk"]);
        assert!(l[0].info.is_ok() && l[1].info.is_ok());
        assert!(l[2]
            .info
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("not a pool"));

        // A running engine holds the pool: no second one, no destroy.
        let c = s.connect("a").unwrap();
        assert_eq!(c.info().label, "a");
        assert!(matches!(s.start("a"), Err(StorageError::Busy { .. })));
        assert!(matches!(
            s.pool_destroy("a"),
            Err(StorageError::Busy { .. })
        ));
        let space = c.client().pool_query().unwrap();
        assert_eq!(space.targets, 2);
        assert!(space.total > 0 && space.total < 64 << 20);
        c.close().unwrap();

        s.pool_destroy("a").unwrap();
        s.pool_destroy("b").unwrap();
        s.pool_destroy("junk").unwrap();
        assert!(!ext.exists());
        assert_eq!(fs::read_dir(&t.0).unwrap().count(), 0, "leftovers");
        assert!(matches!(s.pool("a"), Err(StorageError::NotFound { .. })));
    }

    #[test]
    fn relabel_moves_the_pool_and_a_stopped_one_reads_as_one_pool() {
        let t = Tmp::new("relabel");
        let s = Storage::open(&t.0).unwrap();
        let o = PoolCreateOpts {
            targets_per_engine: 1,
            ..PoolCreateOpts::new(32 << 20)
        };
        let a = s.pool_create("a", &o).unwrap();
        let mut steps = Vec::new();
        let b = s
            .pool_relabel("a", "b", &mut |st| steps.push(st.to_string()))
            .unwrap();
        assert_eq!(steps, ["next", "dir"]);
        assert_eq!((b.uuid, b.label.as_str()), (a.uuid, "b"));
        assert_eq!(b.device, t.0.join("b").join(DEV_FILE));
        assert_eq!(s.pool("b").unwrap(), b);
        assert!(matches!(s.pool("a"), Err(StorageError::NotFound { .. })));
        assert!(!t.0.join("b").join(META_NEXT).exists());
        s.start("b").unwrap().stop().unwrap();

        // Stopped after its first step: the next metadata names another
        // directory, so it is ignored, and a later open removes it.
        let mut next = b.clone();
        next.label = "c".into();
        next.dir = t.0.join("c");
        next.device = next.dir.join(DEV_FILE);
        fs::write(t.0.join("b").join(META_NEXT), next.encode()).unwrap();
        assert_eq!(s.pool("b").unwrap(), b);
        Storage::open(&t.0).unwrap();
        assert!(!t.0.join("b").join(META_NEXT).exists());
        // Stopped after the rename: the next metadata is the pool's,
        // and a later open puts it in place.
        fs::rename(t.0.join("b"), t.0.join("c")).unwrap();
        fs::write(t.0.join("c").join(META_NEXT), next.encode()).unwrap();
        assert_eq!(s.pool("c").unwrap(), next);
        // ... unless a process holds the pool (it may be relabelling).
        let held = s.start("c").unwrap();
        Storage::open(&t.0).unwrap();
        assert!(t.0.join("c").join(META_NEXT).exists());
        held.stop().unwrap();
        Storage::open(&t.0).unwrap();
        assert!(!t.0.join("c").join(META_NEXT).exists());
        assert_eq!(s.pool("c").unwrap(), next);

        // Refused: a taken label, a running engine, a pool whose
        // directory holds another pool's device.
        s.pool_create("d", &o).unwrap();
        let nop = &mut |_: &str| {};
        assert!(matches!(
            s.pool_relabel("c", "d", nop),
            Err(StorageError::Exists { .. })
        ));
        let held = s.start("c").unwrap();
        assert!(matches!(
            s.pool_relabel("c", "e", nop),
            Err(StorageError::Busy { .. })
        ));
        assert!(matches!(
            s.pool_set_durability("c", Durability::Flush),
            Err(StorageError::Busy { .. })
        ));
        held.stop().unwrap();
        let inside = PoolCreateOpts {
            path: Some(t.0.join("c").join("e.img")),
            ..o.clone()
        };
        s.pool_create("e", &inside).unwrap();
        let e = s.pool_relabel("c", "f", nop).unwrap_err().to_string();
        assert!(e.contains("pool \"e\" keeps its device"), "{e}");
        assert_eq!(s.pool("c").unwrap(), next);

        // The contract is rewritten in place.
        let f = s.pool_set_durability("c", Durability::Flush).unwrap();
        assert_eq!(f.durability, Durability::Flush);
        assert_eq!(s.pool("c").unwrap().durability, Durability::Flush);
    }

    #[test]
    fn an_engine_refuses_a_device_holding_another_pool() {
        let t = Tmp::new("swap");
        let s = Storage::open(&t.0).unwrap();
        let o = PoolCreateOpts {
            targets_per_engine: 1,
            ..PoolCreateOpts::new(32 << 20)
        };
        s.pool_create("a", &o).unwrap();
        s.pool_create("b", &o).unwrap();
        fs::rename(t.0.join("b/pool.dev"), t.0.join("a/pool.dev")).unwrap();
        match s.start("a") {
            Err(StorageError::WrongPool { label, .. }) => assert_eq!(label, "a"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("started on another pool's device"),
        }
    }
}
