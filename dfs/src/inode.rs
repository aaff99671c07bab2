//! The inode record: what a directory entry holds (DAOS's `DFS_INODE`
//! akey), its byte layout, and entry-name checks.
//!
//! Layout version 2 (little-endian, [`INODE_HDR_LEN`] bytes then the
//! symlink target):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 2 | layout version ([`INODE_VERSION`]) |
//! | 2 | 2 | reserved (0) |
//! | 4 | 4 | mode: type (`S_IFREG`, `S_IFDIR`, `S_IFLNK`, `S_IFIFO`, `S_IFCHR`, `S_IFBLK`, `S_IFSOCK`) + permission bits |
//! | 8 | 4 | uid |
//! | 12 | 4 | gid |
//! | 16 | 8 | child object id, `hi` |
//! | 24 | 8 | child object id, `lo` |
//! | 32 | 8 | atime (ns since the Unix epoch) |
//! | 40 | 8 | mtime (ns) |
//! | 48 | 8 | ctime (ns) |
//! | 56 | 8 | size hint (unused for files: their size is the array's) |
//! | 64 | 8 | chunk size in bytes (files; 0 otherwise) |
//! | 72 | 1 | object class: replicas per group |
//! | 73 | 1 | reserved (0) |
//! | 74 | 2 | object class: groups |
//! | 76 | 4 | length of the symlink target |
//! | 80 | 4 | link count ([`Inode::nlink`]) |
//! | 84 | 4 | flags ([`F_HLINK`], [`F_OBJ`], [`F_DEFACL`]) |
//! | 88 | 8 | device number of a character or block device (`st_rdev`) |
//! | 96 | n | symlink target (symlinks only) |
//!
//! Version 1 (what containers made before hard links, special files and
//! link counts hold) is the same up to offset 80, where its target
//! starts: it still decodes, as a record with link count 0 (unknown:
//! 1 for a non-directory, counted for a directory), no flags and no
//! device number. Records are written as version 2 whenever they change.
//!
//! **Where an inode lives.** An entry's record is its inode, except for
//! an entry flagged [`F_HLINK`] (one of several hard links to one
//! inode, or once was): then the inode's record, with the link count, is
//! kept in the inode's own object, dkey [`INODE_DKEY`], akey
//! [`INODE_AKEY`], and the entries only name it (their records are
//! copies made when the link was, used for the type and the object id).
//! An inode's extended attributes are akeys of that same dkey of its
//! object ([`XATTR_PREFIX`] + name), as DAOS keeps them next to the
//! inode. A symlink or special file has an object only once it needs one
//! (a hard link or an attribute): [`F_OBJ`].

use obj::oclass::ObjClass;
use obj::vos::ObjId;

use crate::errno::DfsError;

/// The akey of the inode record in a directory entry's dkey.
pub const INODE_AKEY: &[u8] = b"DFS_INODE";
/// The dkey, in an inode's own object, of the inode's record when it has
/// several links, and of its extended attributes. Never an entry name
/// (it holds a `/`) nor an array chunk's dkey (those are 8 bytes).
pub const INODE_DKEY: &[u8] = b"/DFS_INODE";
/// The prefix of the akey of an extended attribute (`x:` + its name).
pub const XATTR_PREFIX: &[u8] = b"x:";
/// Longest extended attribute name in bytes (Linux's `XATTR_NAME_MAX`).
pub const XATTR_NAME_MAX: usize = 255;
/// Largest extended attribute value in bytes (Linux's `XATTR_SIZE_MAX`).
pub const XATTR_SIZE_MAX: usize = 65536;
/// The inode layout version this code writes (and the newest it reads).
pub const INODE_VERSION: u16 = 2;
/// Bytes before the symlink target.
pub const INODE_HDR_LEN: usize = 96;
/// Bytes before the symlink target in a version 1 record.
pub const INODE_V1_HDR_LEN: usize = 80;
/// Flag: the entry is a hard link; the inode's record is in its object
/// ([`INODE_DKEY`]).
pub const F_HLINK: u32 = 1;
/// Flag: a symlink or special file has an object (for its links or
/// extended attributes).
pub const F_OBJ: u32 = 2;
/// Flag: a directory has a default ACL
/// ([`XATTR_POSIX_ACL_DEFAULT`]), which its new entries inherit.
pub const F_DEFACL: u32 = 4;
/// The flags a record may carry.
const F_KNOWN: u32 = F_HLINK | F_OBJ | F_DEFACL;
/// The extended attribute of a directory's default POSIX ACL.
pub const XATTR_POSIX_ACL_DEFAULT: &str = "system.posix_acl_default";
/// Longest entry name in bytes (`NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Longest symlink target and path in bytes (`PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// File-type bits of a mode (`S_IFMT`).
pub const S_IFMT: u32 = 0o170_000;
/// Regular file.
pub const S_IFREG: u32 = 0o100_000;
/// Directory.
pub const S_IFDIR: u32 = 0o040_000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120_000;
/// FIFO (named pipe).
pub const S_IFIFO: u32 = 0o010_000;
/// Character device.
pub const S_IFCHR: u32 = 0o020_000;
/// Block device.
pub const S_IFBLK: u32 = 0o060_000;
/// Unix domain socket.
pub const S_IFSOCK: u32 = 0o140_000;
/// Permission bits (with set-id and sticky bits).
pub const PERM_MASK: u32 = 0o7777;
/// Set-user-ID bit.
pub const S_ISUID: u32 = 0o4000;
/// Set-group-ID bit.
pub const S_ISGID: u32 = 0o2000;

/// Who owns an entry: the uid and gid stored in its inode record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
}

impl Owner {
    /// The calling process's effective uid and gid (what the namespace
    /// calls without an `_as` use for new entries).
    pub fn process() -> Owner {
        // SAFETY: geteuid and getegid cannot fail and touch no memory.
        unsafe {
            Owner {
                uid: libc::geteuid(),
                gid: libc::getegid(),
            }
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file (a byte-array object).
    File,
    /// A directory (a hashed key-value object).
    Dir,
    /// A symbolic link (its target in the inode record, no object).
    Symlink,
    /// A FIFO (`mkfifo`; only its inode: the kernel runs the pipe).
    Fifo,
    /// A character device node (its device number in the inode).
    CharDev,
    /// A block device node (its device number in the inode).
    BlockDev,
    /// A unix domain socket's name (`bind`; only its inode).
    Socket,
}

impl FileType {
    /// The type of `mode`, if it is one the namespace holds.
    pub fn from_mode(mode: u32) -> Option<FileType> {
        match mode & S_IFMT {
            S_IFREG => Some(FileType::File),
            S_IFDIR => Some(FileType::Dir),
            S_IFLNK => Some(FileType::Symlink),
            S_IFIFO => Some(FileType::Fifo),
            S_IFCHR => Some(FileType::CharDev),
            S_IFBLK => Some(FileType::BlockDev),
            S_IFSOCK => Some(FileType::Socket),
            _ => None,
        }
    }

    /// The `S_IF*` bits.
    pub fn bits(self) -> u32 {
        match self {
            FileType::File => S_IFREG,
            FileType::Dir => S_IFDIR,
            FileType::Symlink => S_IFLNK,
            FileType::Fifo => S_IFIFO,
            FileType::CharDev => S_IFCHR,
            FileType::BlockDev => S_IFBLK,
            FileType::Socket => S_IFSOCK,
        }
    }

    /// True for a FIFO, device node or socket (an inode with no data of
    /// its own in the namespace).
    pub fn is_special(self) -> bool {
        matches!(
            self,
            FileType::Fifo | FileType::CharDev | FileType::BlockDev | FileType::Socket
        )
    }
}

/// One directory entry's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// The object the entry names (for a symlink: an id reserved for its
    /// inode number, with no object behind it).
    pub oid: ObjId,
    /// Last access, ns since the Unix epoch.
    pub atime: u64,
    /// Last data change, ns.
    pub mtime: u64,
    /// Last inode change, ns.
    pub ctime: u64,
    /// Size hint: unused for files (their size is the array's); 0 for
    /// directories; the target's length for symlinks.
    pub size: u64,
    /// Chunk size in bytes of a file (0 otherwise).
    pub chunk_size: u64,
    /// The object's class.
    pub oclass: ObjClass,
    /// A symlink's target (empty otherwise).
    pub target: Vec<u8>,
    /// Link count: of a directory, 2 + its subdirectories; of an inode
    /// with several links ([`F_HLINK`]), in the record in its object, the
    /// entries naming it; 1 otherwise. 0 in a version 1 record (not
    /// stored then).
    pub nlink: u32,
    /// [`F_HLINK`], [`F_OBJ`], [`F_DEFACL`].
    pub flags: u32,
    /// Device number (`st_rdev`) of a device node; 0 otherwise.
    pub rdev: u64,
}

impl Inode {
    /// The entry's type (the mode was checked when decoded or made).
    pub fn kind(&self) -> FileType {
        FileType::from_mode(self.mode).unwrap_or(FileType::File)
    }

    /// True if this entry is a hard link: the inode's record is in its
    /// object.
    pub fn is_hlink(&self) -> bool {
        self.flags & F_HLINK != 0
    }

    /// True if the inode has an object of its own (files and
    /// directories always; symlinks and special files once flagged
    /// [`F_OBJ`] or [`F_HLINK`]).
    pub fn has_obj(&self) -> bool {
        matches!(self.kind(), FileType::File | FileType::Dir) || self.flags & (F_HLINK | F_OBJ) != 0
    }

    /// The record's bytes (always the current version).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(INODE_HDR_LEN + self.target.len());
        v.extend_from_slice(&INODE_VERSION.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&self.mode.to_le_bytes());
        v.extend_from_slice(&self.uid.to_le_bytes());
        v.extend_from_slice(&self.gid.to_le_bytes());
        v.extend_from_slice(&self.oid.hi.to_le_bytes());
        v.extend_from_slice(&self.oid.lo.to_le_bytes());
        v.extend_from_slice(&self.atime.to_le_bytes());
        v.extend_from_slice(&self.mtime.to_le_bytes());
        v.extend_from_slice(&self.ctime.to_le_bytes());
        v.extend_from_slice(&self.size.to_le_bytes());
        v.extend_from_slice(&self.chunk_size.to_le_bytes());
        v.push(self.oclass.grp_size);
        v.push(0);
        v.extend_from_slice(&self.oclass.nr_grps.to_le_bytes());
        v.extend_from_slice(&(self.target.len() as u32).to_le_bytes());
        v.extend_from_slice(&self.nlink.to_le_bytes());
        v.extend_from_slice(&self.flags.to_le_bytes());
        v.extend_from_slice(&self.rdev.to_le_bytes());
        v.extend_from_slice(&self.target);
        v
    }

    /// The record's bytes in layout version 1 (what containers made
    /// before version 2 hold; for tests of reading them). Link count,
    /// flags and device number are not kept.
    pub fn encode_v1(&self) -> Vec<u8> {
        let mut v = self.encode();
        v[0..2].copy_from_slice(&1u16.to_le_bytes());
        v.drain(INODE_V1_HDR_LEN..INODE_HDR_LEN);
        v
    }

    /// Decodes a record, checking its length, version, type and class.
    pub fn decode(b: &[u8]) -> Result<Inode, DfsError> {
        let bad = |why: String| Err(DfsError::Corrupt(format!("inode record: {why}")));
        if b.len() < INODE_V1_HDR_LEN {
            return bad(format!(
                "{} bytes, at least {INODE_V1_HDR_LEN} expected",
                b.len()
            ));
        }
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        let version = u16_at(0);
        if version > INODE_VERSION {
            return Err(DfsError::NewerLayout {
                what: "inode record",
                found: version.into(),
                max: INODE_VERSION.into(),
            });
        }
        if version == 0 {
            return bad("version 0".into());
        }
        let hdr = if version == 1 {
            INODE_V1_HDR_LEN
        } else {
            INODE_HDR_LEN
        };
        if b.len() < hdr {
            return bad(format!("{} bytes, at least {hdr} expected", b.len()));
        }
        let mode = u32_at(4);
        let Some(kind) = FileType::from_mode(mode) else {
            return bad(format!("mode {mode:#o} has an unknown type"));
        };
        let tlen = u32_at(76) as usize;
        if b.len() != hdr + tlen {
            return bad(format!("{} bytes, the header says {}", b.len(), hdr + tlen));
        }
        if (kind == FileType::Symlink) != (tlen > 0) {
            return bad("symlink target on a non-symlink, or a symlink without one".into());
        }
        let oclass = ObjClass {
            grp_size: b[72],
            nr_grps: u16_at(74),
        };
        if oclass.grp_size == 0 || oclass.nr_grps == 0 {
            return bad("no object class".into());
        }
        let chunk_size = u64_at(64);
        if kind == FileType::File && chunk_size == 0 {
            return bad("a file with chunk size 0".into());
        }
        let (nlink, flags, rdev) = if version == 1 {
            (0, 0, 0)
        } else {
            (u32_at(80), u32_at(84), u64_at(88))
        };
        if flags & !F_KNOWN != 0 {
            return bad(format!("unknown flags {flags:#x}"));
        }
        Ok(Inode {
            nlink,
            flags,
            rdev,
            mode,
            uid: u32_at(8),
            gid: u32_at(12),
            oid: ObjId::new(u64_at(16), u64_at(24)),
            atime: u64_at(32),
            mtime: u64_at(40),
            ctime: u64_at(48),
            size: u64_at(56),
            chunk_size,
            oclass,
            target: b[hdr..].to_vec(),
        })
    }
}

/// Checks a name for an entry to be made, removed or renamed: not empty,
/// no `/` or NUL, not `.` or `..` ([`DfsError::Inval`]), at most
/// [`NAME_MAX`] bytes ([`DfsError::NameTooLong`]).
pub fn check_name(name: &str) -> Result<(), DfsError> {
    check_component(name)?;
    if name == "." || name == ".." {
        return Err(DfsError::inval(format!("{name:?} cannot be an entry name")));
    }
    Ok(())
}

/// Checks a path component to look up: as [`check_name`] but `.` and `..`
/// pass.
pub fn check_component(name: &str) -> Result<(), DfsError> {
    if name.is_empty() {
        return Err(DfsError::inval("empty name"));
    }
    if name.len() > NAME_MAX {
        return Err(DfsError::NameTooLong(name.len()));
    }
    if name.bytes().any(|c| c == b'/' || c == 0) {
        return Err(DfsError::inval(format!("{name:?} holds '/' or NUL")));
    }
    Ok(())
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A file's mtime and ctime from its record and the epoch of the newest
/// write to its array (0 if none): data written after the record last
/// changed (creation, chmod, utimens, truncate: each sets ctime) gives
/// both, as DAOS derives them from the array's newest epoch; otherwise
/// the record's, so a utimens after the writes (cp -p, rsync -t) holds.
pub fn file_times(rec: &Inode, newest_write: obj::vos::Epoch) -> (u64, u64) {
    let written = obj::hlc::hlc2ns(newest_write);
    if written > rec.ctime {
        (written, written)
    } else {
        (rec.mtime, rec.ctime)
    }
}

/// What `stat` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Inode number: the low 64 bits of the object id (unique in the
    /// container, see [`crate::oidalloc`]).
    pub ino: u64,
    /// Type and permission bits.
    pub mode: u32,
    /// Links: the entries naming the inode (hard links) for a
    /// non-directory, 2 + its subdirectories for a directory, 0 for an
    /// unlinked file still open.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Bytes: a file's array size, a symlink's target length, 0 for a
    /// directory or special file.
    pub size: u64,
    /// Device number of a device node (0 otherwise).
    pub rdev: u64,
    /// 512-byte blocks the inode's data takes: a file's written (not
    /// punched) bytes, rounded up; 0 for others (`st_blocks`).
    pub blocks: u64,
    /// Preferred I/O size: the file's chunk size (the container's for
    /// others).
    pub blksize: u64,
    /// Last access, ns since the Unix epoch.
    pub atime: u64,
    /// Last data change, ns (see [`crate::namespace`] on what updates it).
    pub mtime: u64,
    /// Last inode change, ns.
    pub ctime: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(kind: FileType) -> Inode {
        Inode {
            mode: kind.bits() | 0o644,
            uid: 7,
            gid: 8,
            oid: ObjId::new(0x0201_0001_0000_0005, 99),
            atime: 1,
            mtime: 2,
            ctime: 3,
            size: if kind == FileType::Symlink { 3 } else { 0 },
            chunk_size: if kind == FileType::File { 1 << 20 } else { 0 },
            oclass: ObjClass::SX,
            target: if kind == FileType::Symlink {
                b"a/b".to_vec()
            } else {
                Vec::new()
            },
            nlink: if kind == FileType::Dir { 3 } else { 1 },
            flags: if kind == FileType::File { F_HLINK } else { 0 },
            rdev: if kind == FileType::CharDev { 0x0103 } else { 0 },
        }
    }

    const KINDS: [FileType; 7] = [
        FileType::File,
        FileType::Dir,
        FileType::Symlink,
        FileType::Fifo,
        FileType::CharDev,
        FileType::BlockDev,
        FileType::Socket,
    ];

    #[test]
    fn version_1_records_still_decode() {
        for k in KINDS {
            let i = sample(k);
            let b = i.encode_v1();
            assert_eq!(b.len(), INODE_V1_HDR_LEN + i.target.len());
            let d = Inode::decode(&b).unwrap();
            assert_eq!((d.nlink, d.flags, d.rdev), (0, 0, 0), "{k:?}");
            let i = Inode {
                nlink: 0,
                flags: 0,
                rdev: 0,
                ..i
            };
            assert_eq!(d, i);
        }
        // A version 1 header is too short for version 2.
        let mut b = sample(FileType::Dir).encode_v1();
        b[0] = 2;
        assert!(matches!(Inode::decode(&b), Err(DfsError::Corrupt(_))));
    }

    #[test]
    fn inode_round_trips() {
        for k in KINDS {
            let i = sample(k);
            let b = i.encode();
            assert_eq!(b.len(), INODE_HDR_LEN + i.target.len());
            assert_eq!(Inode::decode(&b).unwrap(), i);
            assert_eq!(Inode::decode(&b).unwrap().kind(), k);
        }
    }

    #[test]
    fn bad_records_are_refused() {
        let b = sample(FileType::Symlink).encode();
        assert!(matches!(Inode::decode(&b[..10]), Err(DfsError::Corrupt(_))));
        assert!(matches!(
            Inode::decode(&b[..b.len() - 1]),
            Err(DfsError::Corrupt(_))
        ));
        let mut n = b.clone();
        n[0] = 9;
        assert!(matches!(
            Inode::decode(&n),
            Err(DfsError::NewerLayout { found: 9, .. })
        ));
        let mut n = b.clone();
        n[6] = 0o01; // no type bits: unknown
        n[5] = 0;
        assert!(Inode::decode(&n).is_err());
        let mut n = b.clone();
        n[84] = 0x80; // an unknown flag
        assert!(matches!(Inode::decode(&n), Err(DfsError::Corrupt(_))));
        let mut f = sample(FileType::File).encode();
        f[64..72].fill(0);
        assert!(matches!(Inode::decode(&f), Err(DfsError::Corrupt(_))));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("a").is_ok());
        assert!(check_name(&"x".repeat(NAME_MAX)).is_ok());
        assert_eq!(
            check_name(&"x".repeat(NAME_MAX + 1)).unwrap_err().errno(),
            libc::ENAMETOOLONG
        );
        for bad in ["", "a/b", ".", "..", "a\0"] {
            assert_eq!(
                check_name(bad).unwrap_err().errno(),
                libc::EINVAL,
                "{bad:?}"
            );
        }
        assert!(check_component(".").is_ok());
        assert!(check_component("..").is_ok());
    }
}
