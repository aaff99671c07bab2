//! The FUSE session side: [`DfuseOps`] is the [`fuser::Filesystem`] the
//! session thread calls for each request the kernel sends (libfuse's
//! `fuse_session_process_buf_int` -> `se->op.*`). It does no namespace
//! work itself: every request becomes a [`Req`] (a write's data copied,
//! once, into the buffer that goes to the engine) and is posted to the
//! dfs thread's [`Inbox`], and the session thread goes back to reading
//! the next request. Replies are sent by the dfs thread.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use fuser::{
    FileHandle, Filesystem, INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use obj::transport::BulkRef;

pub(crate) use super::inbox::{Inbox, Req, SetAttr, Taken};
use super::perm::Caller;
use super::watch::{Op, Ticket, Watch};

/// Longest FUSE write asked of the kernel: 1 MiB, a chunk of the default
/// container (the kernel caps it at its `max_pages` limit, 256 pages on
/// Linux by default, which is 1 MiB too).
pub const DEFAULT_MAX_WRITE: u32 = 1 << 20;

/// Background requests (async direct I/O, readahead) the kernel keeps in
/// flight to the daemon.
const MAX_BACKGROUND: u16 = 64;

/// How the kernel is asked to talk to the daemon.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KernelWishes {
    pub(crate) max_write: u32,
}

/// The [`fuser::Filesystem`] of a dfuse mount: posts each request to the
/// dfs thread.
pub(crate) struct DfuseOps {
    inbox: Arc<Inbox>,
    wishes: KernelWishes,
    watch: Arc<Watch>,
}

impl DfuseOps {
    pub(crate) fn new(inbox: Arc<Inbox>, wishes: KernelWishes, watch: Arc<Watch>) -> DfuseOps {
        DfuseOps {
            inbox,
            wishes,
            watch,
        }
    }

    /// Posts `r` with the ticket of request `req` (`op` on inode `ino`).
    fn post(&self, req: &Request, op: Op, ino: u64, r: Req) {
        let t = self.watch.enter(req.unique().0, op, ino);
        self.inbox.post(r, t)
    }
}

impl Drop for DfuseOps {
    /// The session is over (unmounted, or it failed to start): the dfs
    /// thread finishes what is in flight and stops.
    fn drop(&mut self) {
        self.inbox.close();
    }
}

impl Filesystem for DfuseOps {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        // Each is a wish: a kernel that refuses one still works, only
        // slower (smaller writes, synchronous direct I/O).
        let _ = config.set_max_write(self.wishes.max_write);
        let _ = config.set_max_readahead(self.wishes.max_write);
        let _ = config.set_max_background(MAX_BACKGROUND);
        let _ = config.set_congestion_threshold(MAX_BACKGROUND / 4 * 3);
        for f in [
            // Direct I/O from aio / io_uring reaches the daemon as many
            // requests at once instead of one at a time.
            InitFlags::FUSE_ASYNC_DIO,
            // Lookups and readdirs of one directory may overlap.
            InitFlags::FUSE_PARALLEL_DIROPS,
            // The kernel enforces POSIX ACLs kept as extended attributes;
            // the daemon applies the umask or a default ACL to new
            // entries (`super::acl`).
            InitFlags::FUSE_POSIX_ACL,
            InitFlags::FUSE_DONT_MASK,
        ] {
            let _ = config.add_capabilities(f);
        }
        Ok(())
    }

    fn lookup(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.post(
            req,
            Op::Lookup,
            parent.0,
            Req::Lookup {
                parent: parent.0,
                name: name.to_owned(),
                reply,
            },
        );
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inbox.post(
            Req::Forget {
                ino: ino.0,
                nlookup,
            },
            Ticket::none(),
        );
    }

    fn getattr(&self, req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.post(req, Op::GetAttr, ino.0, Req::GetAttr { ino: ino.0, reply });
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        self.post(
            req,
            Op::SetAttr,
            ino.0,
            Req::SetAttr {
                ino: ino.0,
                caller: Caller::of(req),
                fh: fh.map(|f| f.0),
                set: SetAttr {
                    mode,
                    uid,
                    gid,
                    size,
                    atime,
                    mtime,
                },
                reply,
            },
        );
    }

    fn readlink(&self, req: &Request, ino: INodeNo, reply: ReplyData) {
        self.post(
            req,
            Op::ReadLink,
            ino.0,
            Req::ReadLink { ino: ino.0, reply },
        );
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        self.post(
            req,
            Op::Mknod,
            parent.0,
            Req::Mknod {
                parent: parent.0,
                caller: Caller::of(req),
                name: name.to_owned(),
                mode,
                umask,
                rdev,
                reply,
            },
        );
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        self.post(
            req,
            Op::Mkdir,
            parent.0,
            Req::Mkdir {
                parent: parent.0,
                caller: Caller::of(req),
                name: name.to_owned(),
                mode,
                umask,
                reply,
            },
        );
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.post(
            req,
            Op::Unlink,
            parent.0,
            Req::Unlink {
                parent: parent.0,
                name: name.to_owned(),
                reply,
            },
        );
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.post(
            req,
            Op::Rmdir,
            parent.0,
            Req::Rmdir {
                parent: parent.0,
                name: name.to_owned(),
                reply,
            },
        );
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        self.post(
            req,
            Op::Symlink,
            parent.0,
            Req::Symlink {
                parent: parent.0,
                caller: Caller::of(req),
                name: link_name.to_owned(),
                target: target.as_os_str().to_owned(),
                reply,
            },
        );
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        self.post(
            req,
            Op::Rename,
            parent.0,
            Req::Rename {
                parent: parent.0,
                name: name.to_owned(),
                newparent: newparent.0,
                newname: newname.to_owned(),
                flags,
                reply,
            },
        );
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        self.post(
            req,
            Op::Link,
            ino.0,
            Req::Link {
                ino: ino.0,
                newparent: newparent.0,
                newname: newname.to_owned(),
                reply,
            },
        );
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        self.post(
            req,
            Op::SetXattr,
            ino.0,
            Req::SetXattr {
                ino: ino.0,
                name: name.to_owned(),
                value: value.to_vec(),
                flags,
                reply,
            },
        );
    }

    fn getxattr(&self, req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        self.post(
            req,
            Op::GetXattr,
            ino.0,
            Req::GetXattr {
                ino: ino.0,
                name: name.to_owned(),
                size,
                reply,
            },
        );
    }

    fn listxattr(&self, req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        self.post(
            req,
            Op::ListXattr,
            ino.0,
            Req::ListXattr {
                ino: ino.0,
                size,
                reply,
            },
        );
    }

    fn removexattr(&self, req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.post(
            req,
            Op::RemoveXattr,
            ino.0,
            Req::RemoveXattr {
                ino: ino.0,
                name: name.to_owned(),
                reply,
            },
        );
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.post(
            req,
            Op::Open,
            ino.0,
            Req::Open {
                ino: ino.0,
                flags: flags.0,
                reply,
            },
        );
    }

    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.post(
            req,
            Op::Read,
            ino.0,
            Req::Read {
                fh: fh.0,
                offset,
                size,
                reply,
            },
        );
    }

    /// `write_buf` -> `dfuse_cb_write`'s first half: the one copy of the
    /// data (`fuse_buf_copy`), straight into the buffer the engine reads.
    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        self.post(
            req,
            Op::Write,
            ino.0,
            Req::Write {
                fh: fh.0,
                offset,
                data: BulkRef::from_vec(data.to_vec()),
                reply,
            },
        );
    }

    fn flush(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        self.post(
            req,
            Op::Flush,
            ino.0,
            Req::Sync {
                fh: fh.0,
                fsync: false,
                reply,
            },
        );
    }

    fn release(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.post(req, Op::Release, ino.0, Req::Release { fh: fh.0, reply });
    }

    fn fsync(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.post(
            req,
            Op::Fsync,
            ino.0,
            Req::Sync {
                fh: fh.0,
                fsync: true,
                reply,
            },
        );
    }

    fn opendir(&self, req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.post(req, Op::OpenDir, ino.0, Req::OpenDir { ino: ino.0, reply });
    }

    fn readdir(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        reply: ReplyDirectory,
    ) {
        self.post(
            req,
            Op::ReadDir,
            ino.0,
            Req::ReadDir {
                ino: ino.0,
                fh: fh.0,
                offset,
                reply,
            },
        );
    }

    fn releasedir(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.post(
            req,
            Op::ReleaseDir,
            ino.0,
            Req::ReleaseDir { fh: fh.0, reply },
        );
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Directory operations are durable when they are answered.
        reply.ok();
    }

    fn statfs(&self, req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        self.post(req, Op::StatFs, ino.0, Req::StatFs { reply });
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        self.post(
            req,
            Op::Create,
            parent.0,
            Req::Create {
                parent: parent.0,
                caller: Caller::of(req),
                name: name.to_owned(),
                mode,
                umask,
                flags,
                reply,
            },
        );
    }

    fn fallocate(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        self.post(
            req,
            Op::Fallocate,
            ino.0,
            Req::Fallocate {
                fh: fh.0,
                offset,
                length,
                mode,
                reply,
            },
        );
    }
}
