//! Devices: an O_DIRECT file or block device, or an NVMe namespace driven
//! by passthrough commands (`/dev/ngXnY`). One type for the rest of rdaos.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::durability::{block_dev_cache, WriteCache};
use crate::error::BioError;
use crate::nvme;

/// `BLKGETSIZE64`: `_IOR(0x12, 114, size_t)`.
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;

/// Grows a regular file to `want` bytes with its blocks allocated
/// (`fallocate`), so the file system can never run out of space under an
/// update that the pool's own allocator already accepted (a failed WAL
/// write poisons the target), and data writes do not allocate blocks on
/// the way. Where the file system cannot allocate ahead (`EOPNOTSUPP`),
/// the file is only extended, sparse.
fn reserve(fd: RawFd, path: &Path, want: u64) -> Result<(), BioError> {
    let Ok(len) = libc::off_t::try_from(want) else {
        return Err(BioError::Inval(format!("file size {want} is too large")));
    };
    // SAFETY: fallocate on an open regular file, mode 0 (allocate and
    // extend).
    if unsafe { libc::fallocate(fd, 0, 0, len) } == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO);
    if err != libc::EOPNOTSUPP && err != libc::ENOSYS {
        return Err(BioError::os(
            format!("reserving {want} bytes for {}", path.display()),
            err,
        ));
    }
    // SAFETY: ftruncate on an open regular file.
    if unsafe { libc::ftruncate(fd, len) } != 0 {
        return Err(BioError::last_os(format!("sizing {}", path.display())));
    }
    Ok(())
}

/// Which backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevKind {
    /// `/dev/ng*` -> NVMe passthrough, anything else -> O_DIRECT file.
    Auto,
    /// O_DIRECT reads and writes on a file or block device.
    File,
    /// NVMe passthrough on a generic namespace character device.
    Nvme,
}

/// How to open a device.
#[derive(Debug, Clone)]
pub struct DevOpts {
    /// Backend choice.
    pub kind: DevKind,
    /// For a regular file: create it (or grow it) to this size, with its
    /// blocks allocated where the file system can.
    pub create_size: Option<u64>,
    /// For NVMe: use an IOPOLL ring (`None`: when the namespace's queue
    /// has poll queues, per sysfs `io_poll`).
    pub iopoll: Option<bool>,
}

impl Default for DevOpts {
    fn default() -> Self {
        DevOpts {
            kind: DevKind::Auto,
            create_size: None,
            iopoll: None,
        }
    }
}

/// What backs the device.
#[derive(Debug)]
pub enum Backend {
    /// O_DIRECT file or block device.
    File,
    /// NVMe namespace: its id and whether the ring polls.
    Nvme {
        /// Namespace id.
        nsid: u32,
        /// log2 of the LBA size.
        lba_shift: u32,
    },
}

/// An open device.
#[derive(Debug)]
pub struct Device {
    fd: OwnedFd,
    path: PathBuf,
    backend: Backend,
    block: u32,
    capacity: u64,
    iopoll: bool,
    max_io: u32,
}

fn open_raw(path: &Path, flags: i32) -> Result<OwnedFd, BioError> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| BioError::Inval(format!("path {path:?} contains a NUL byte")))?;
    // SAFETY: a valid NUL-terminated path and plain flags.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        return Err(BioError::last_os(format!("opening {}", path.display())));
    }
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Device {
    /// Opens `path` as asked.
    pub fn open(path: impl AsRef<Path>, opts: &DevOpts) -> Result<Device, BioError> {
        let path = path.as_ref();
        let is_ng = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("ng"))
            && path.starts_with("/dev");
        match (opts.kind, is_ng) {
            (DevKind::Nvme, _) | (DevKind::Auto, true) => Device::open_nvme(path, opts),
            _ => Device::open_file(path, opts),
        }
    }

    fn open_file(path: &Path, opts: &DevOpts) -> Result<Device, BioError> {
        let mut flags = libc::O_RDWR | libc::O_DIRECT;
        if opts.create_size.is_some() {
            flags |= libc::O_CREAT;
        }
        // A create that fails removes the file only if it made it.
        let existed = opts.create_size.is_none() || path.exists();
        let fd = open_raw(path, flags)?;
        // SAFETY: fstat on an open fd into a zeroed struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(BioError::last_os(format!("stat {}", path.display())));
        }
        let (block, capacity) = if st.st_mode & libc::S_IFMT == libc::S_IFBLK {
            let mut bs: libc::c_int = 0;
            let mut size: u64 = 0;
            // SAFETY: BLKSSZGET writes an int, BLKGETSIZE64 a u64.
            let ok = unsafe {
                libc::ioctl(fd.as_raw_fd(), libc::BLKSSZGET, &mut bs) == 0
                    && libc::ioctl(fd.as_raw_fd(), BLKGETSIZE64 as _, &mut size) == 0
            };
            if !ok {
                return Err(BioError::last_os(format!(
                    "block device geometry of {}",
                    path.display()
                )));
            }
            (bs.max(512) as u32, size)
        } else if st.st_mode & libc::S_IFMT == libc::S_IFREG {
            let mut size = st.st_size as u64;
            if let Some(want) = opts.create_size {
                if want % 4096 != 0 {
                    return Err(BioError::Align {
                        what: "file size",
                        value: want,
                        align: 4096,
                    });
                }
                if size < want {
                    if let Err(e) = reserve(fd.as_raw_fd(), path, want) {
                        if !existed {
                            // Ours, and of no use: leave nothing behind.
                            let _ = std::fs::remove_file(path);
                        }
                        return Err(e);
                    }
                    size = want;
                }
            }
            // 4 KiB covers the logical block size of the file systems we
            // run on (ext4, xfs with 4 KiB blocks) for O_DIRECT.
            (4096, size / 4096 * 4096)
        } else {
            return Err(BioError::Unsupported(format!(
                "{} is neither a regular file nor a block device",
                path.display()
            )));
        };
        Ok(Device {
            fd,
            path: path.to_owned(),
            backend: Backend::File,
            block,
            capacity,
            iopoll: false,
            max_io: u32::MAX,
        })
    }

    fn open_nvme(path: &Path, opts: &DevOpts) -> Result<Device, BioError> {
        let fd = open_raw(path, libc::O_RDWR)?;
        let nsid = nvme::namespace_id(fd.as_raw_fd())
            .map_err(|e| BioError::os(format!("NVME_IOCTL_ID on {}", path.display()), e))?;
        let id = nvme::identify_namespace(fd.as_raw_fd(), nsid).map_err(|e| {
            BioError::os(
                format!("identify namespace {nsid} on {}", path.display()),
                e,
            )
        })?;
        let iopoll = match opts.iopoll {
            Some(v) => v,
            None => nvme::has_poll_queues(path),
        };
        Ok(Device {
            fd,
            path: path.to_owned(),
            backend: Backend::Nvme {
                nsid,
                lba_shift: id.lba_shift,
            },
            block: 1 << id.lba_shift,
            capacity: id.nsze << id.lba_shift,
            iopoll,
            max_io: nvme::max_transfer(path),
        })
    }

    /// The raw fd (for SQEs).
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Block size: offsets and lengths must be multiples of it.
    pub fn block_size(&self) -> u32 {
        self.block
    }

    /// Bytes addressable.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// True for NVMe passthrough.
    pub fn is_nvme(&self) -> bool {
        matches!(self.backend, Backend::Nvme { .. })
    }

    /// True if the ring must poll for completions (IOPOLL).
    pub fn iopoll(&self) -> bool {
        self.iopoll
    }

    /// The largest transfer one SQE may carry (NVMe: the controller's
    /// limit; files: unlimited).
    pub fn max_io(&self) -> u32 {
        self.max_io
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the device says about its write cache: for a file, the block
    /// device holding it (sysfs `queue/write_cache`); for an NVMe
    /// namespace, Identify Controller's VWC bit.
    pub fn write_cache(&self) -> WriteCache {
        if self.is_nvme() {
            return match nvme::volatile_write_cache(self.fd()) {
                Ok(true) => WriteCache::WriteBack,
                Ok(false) => WriteCache::WriteThrough,
                Err(e) => WriteCache::Unknown(format!(
                    "identify controller on {}: errno {e}",
                    self.path.display()
                )),
            };
        }
        // SAFETY: fstat on an open fd into a zeroed struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstat(self.fd(), &mut st) } != 0 {
            return WriteCache::Unknown(format!("stat {}", self.path.display()));
        }
        let dev = if st.st_mode & libc::S_IFMT == libc::S_IFBLK {
            st.st_rdev
        } else {
            st.st_dev
        };
        block_dev_cache(libc::major(dev), libc::minor(dev))
    }

    /// Checks an I/O's alignment and range up front.
    pub fn check(&self, off: u64, len: u64) -> Result<(), BioError> {
        let b = self.block as u64;
        if off % b != 0 {
            return Err(BioError::Align {
                what: "offset",
                value: off,
                align: b,
            });
        }
        if len == 0 || len % b != 0 {
            return Err(BioError::Align {
                what: "length",
                value: len,
                align: b,
            });
        }
        let end = off
            .checked_add(len)
            .ok_or_else(|| BioError::Inval("offset + length overflows".into()))?;
        if end > self.capacity {
            return Err(BioError::OutOfRange {
                off,
                end,
                cap: self.capacity,
            });
        }
        Ok(())
    }
}
