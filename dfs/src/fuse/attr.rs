//! Namespace attributes in FUSE's shapes: [`Stat`] and inode records to
//! [`fuser::FileAttr`], [`StatFs`] to a `statfs` reply, times.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType as FuseType, INodeNo};

use crate::inode::{FileType, Inode, Stat, PERM_MASK};
use crate::namespace::StatFs;

/// The unit `statfs` counts blocks in (`f_frsize`).
pub(crate) const FRSIZE: u64 = 4096;

/// A time in ns since the Unix epoch.
pub(crate) fn time_of(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

/// A time as ns since the Unix epoch (0 for one before it, the largest
/// value for one past 2554).
pub(crate) fn ns_of(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// FUSE's name for a namespace type.
pub(crate) fn fuse_type(k: FileType) -> FuseType {
    match k {
        FileType::File => FuseType::RegularFile,
        FileType::Dir => FuseType::Directory,
        FileType::Symlink => FuseType::Symlink,
        FileType::Fifo => FuseType::NamedPipe,
        FileType::CharDev => FuseType::CharDevice,
        FileType::BlockDev => FuseType::BlockDevice,
        FileType::Socket => FuseType::Socket,
    }
}

/// The attributes of `st` as inode `ino`.
pub(crate) fn attr_of_stat(ino: u64, st: &Stat) -> FileAttr {
    let kind = FileType::from_mode(st.mode).unwrap_or(FileType::File);
    FileAttr {
        ino: INodeNo(ino),
        size: st.size,
        blocks: st.blocks,
        atime: time_of(st.atime),
        mtime: time_of(st.mtime),
        ctime: time_of(st.ctime),
        crtime: time_of(st.ctime),
        kind: fuse_type(kind),
        perm: (st.mode & PERM_MASK) as u16,
        nlink: st.nlink,
        uid: st.uid,
        gid: st.gid,
        // The kernel's dev_t as FUSE carries it (new_encode_dev).
        rdev: u32::try_from(st.rdev).unwrap_or(0),
        blksize: u32::try_from(st.blksize).unwrap_or(1 << 20),
        flags: 0,
    }
}

/// The attributes of an entry from its inode record and (files) size,
/// as [`crate::Dfs::stat`] would give them for a linked entry, without
/// reading the record again (a directory of a version 1 container, whose
/// record has no link count, shows 2 here: `stat` counts).
pub(crate) fn attr_of_record(
    ino: u64,
    rec: &Inode,
    (size, newest_write, alloc): (u64, obj::vos::Epoch, u64),
    default_blksize: u64,
) -> FileAttr {
    let kind = rec.kind();
    let (mtime, ctime) = crate::inode::file_times(rec, newest_write);
    let st = Stat {
        ino,
        mode: rec.mode,
        nlink: match kind {
            FileType::Dir => rec.nlink.max(2),
            _ if rec.is_hlink() => rec.nlink,
            _ => 1,
        },
        uid: rec.uid,
        gid: rec.gid,
        size: match kind {
            FileType::File => size,
            FileType::Symlink => rec.target.len() as u64,
            _ => 0,
        },
        rdev: rec.rdev,
        blocks: alloc.div_ceil(512),
        blksize: if rec.chunk_size > 0 {
            rec.chunk_size
        } else {
            default_blksize
        },
        atime: rec.atime,
        mtime,
        ctime,
    };
    attr_of_stat(ino, &st)
}

/// What a `statfs` reply says, in [`FRSIZE`] blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FsBlocks {
    /// Total blocks.
    pub(crate) blocks: u64,
    /// Free blocks (also what is available to unprivileged users).
    pub(crate) bfree: u64,
    /// Preferred I/O size (`f_bsize`).
    pub(crate) bsize: u32,
    /// Longest name.
    pub(crate) namemax: u32,
    /// Inodes: those counted as used plus those that could still be made.
    pub(crate) files: u64,
    /// Inodes that could still be made: one per free block (each takes
    /// at least a block for its entry).
    pub(crate) ffree: u64,
}

/// The `statfs` numbers: the pool's capacity and use when the namespace
/// knows them; otherwise `capacity_hint` (e.g. the pool file's size) with
/// nothing counted as used; otherwise 0 blocks (`df` shows a size of 0:
/// unknown, rather than a made-up number). Inodes: the ids handed out
/// ([`StatFs::inodes_used`]) as used, one per free block as free.
pub(crate) fn fs_blocks(st: &StatFs, capacity_hint: Option<u64>) -> FsBlocks {
    let cap = st.capacity.or(capacity_hint).unwrap_or(0);
    let used = st.used.unwrap_or(0).min(cap);
    let bfree = (cap - used) / FRSIZE;
    FsBlocks {
        blocks: cap / FRSIZE,
        bfree,
        files: st.inodes_used.saturating_add(bfree),
        ffree: bfree,
        bsize: u32::try_from(st.bsize).unwrap_or(1 << 20).max(512),
        namemax: st.namemax,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statfs(capacity: Option<u64>, used: Option<u64>) -> StatFs {
        StatFs {
            bsize: 1 << 20,
            namemax: 255,
            targets: 4,
            capacity,
            used,
            inodes_used: 10,
        }
    }

    #[test]
    fn statfs_uses_the_pool_numbers_then_the_hint_then_zero() {
        let b = fs_blocks(&statfs(Some(1 << 30), Some(1 << 28)), Some(5 << 30));
        assert_eq!(b.blocks, (1 << 30) / FRSIZE);
        assert_eq!(b.bfree, (3 << 28) / FRSIZE);
        assert_eq!((b.files, b.ffree), (10 + b.bfree, b.bfree));
        let b = fs_blocks(&statfs(None, None), Some(1 << 30));
        assert_eq!(
            (b.blocks, b.bfree),
            ((1 << 30) / FRSIZE, (1 << 30) / FRSIZE)
        );
        let b = fs_blocks(&statfs(None, None), None);
        assert_eq!((b.blocks, b.bfree), (0, 0));
        // More used than the capacity (a racing query) is not an underflow.
        let b = fs_blocks(&statfs(Some(4096), Some(1 << 20)), None);
        assert_eq!((b.blocks, b.bfree), (1, 0));
    }

    #[test]
    fn times_round_trip() {
        let t = 1_700_000_000_123_456_789;
        assert_eq!(ns_of(time_of(t)), t);
        assert_eq!(ns_of(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
