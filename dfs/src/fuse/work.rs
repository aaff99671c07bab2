//! The dfs thread: `dfuse_do_work`, the loop that runs every FUSE request
//! against the namespace, and one handler per operation (`dfuse_cb_*`).
//!
//! The thread owns the [`Dfs`] mount, its object client and scheduler.
//! Namespace operations (lookup, mkdir, rename, ...) use the blocking
//! [`Dfs`] calls: while one waits, the scheduler keeps running every
//! task already in flight. File data does not wait: `dfuse_cb_write` and
//! `dfuse_cb_read` start a `dfs_write` / `dfs_read` task and return; the
//! reply is sent by the task's completion callback, so any number of
//! reads and writes are in flight at once, and the loop goes on with the
//! next request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fuser::{
    Errno, FileAttr, FileHandle, FileType as FuseType, FopenFlags, Generation, INodeNo,
    RenameFlags, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyStatfs,
    ReplyWrite, TimeOrNow,
};
use obj::transport::BulkRef;
use obj::vos::ObjId;
use tse::{SchedHandle, Task};

use super::attr::{attr_of_record, attr_of_stat, fs_blocks, fuse_type, ns_of, FRSIZE};
use super::inodes::{InodeTable, ROOT_INO};
use super::log::{self, Level};
use super::ops::{Inbox, Req, SetAttr, Taken};
use super::perm::{change_owner_mode, new_mode, Attrs, Caller, OwnerChange};
use super::watch::Ticket;
use crate::darray::ReadOut;
use crate::errno::{der_to_errno, DfsError};
use crate::file::{array_of, Access, File, OpenFlags};
use crate::inode::{now_ns, FileType, Owner, PERM_MASK, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::namespace::{Dfs, DirCursor, Obj};

/// Entries fetched per `dfs_readdir` call when listing a directory.
const READDIR_BATCH: usize = 256;
/// How long a stopping daemon waits for the I/O in flight.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// How the dfs thread answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkerCfg {
    /// How long the kernel may cache entries and attributes.
    pub(crate) ttl: Duration,
    /// Open every file with `FOPEN_DIRECT_IO` (no page cache).
    pub(crate) direct_io: bool,
    /// What `statfs` reports as the size when the pool cannot say.
    pub(crate) capacity_hint: Option<u64>,
}

/// A failed request: the `errno` to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fail(i32);

impl From<DfsError> for Fail {
    /// The error's `errno`; the error itself goes to the log (an `EIO`
    /// as an error, anything else at debug level).
    fn from(e: DfsError) -> Fail {
        let errno = e.errno();
        let level = if errno == libc::EIO {
            Level::Error
        } else {
            Level::Debug
        };
        log::log(level, format_args!("request failed: {e}"));
        Fail(errno)
    }
}

/// Logs a read or write of file `oid` that the engine failed with `rc`.
fn log_io_failure(what: &str, oid: ObjId, offset: u64, len: u64, rc: i32) {
    let errno = der_to_errno(rc);
    let level = if errno == libc::EIO {
        Level::Error
    } else {
        Level::Debug
    };
    log::log(
        level,
        format_args!(
            "{what} of {len} bytes at {offset} of object {:#x}.{:#x} failed: {} (rc {rc})",
            oid.hi,
            oid.lo,
            std::io::Error::from_raw_os_error(errno)
        ),
    );
}

impl Fail {
    fn errno(self) -> Errno {
        Errno::from_i32(self.0)
    }
}

type R<T> = Result<T, Fail>;

/// Counters of a mount, updated by the dfs thread, read by anyone.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) write_bytes: AtomicU64,
    pub(crate) reads: AtomicU64,
    pub(crate) read_bytes: AtomicU64,
    pub(crate) io_inflight: AtomicU64,
    pub(crate) max_io_inflight: AtomicU64,
    /// File and directory handles open (not yet released by the
    /// kernel), as of the dfs thread's last batch of requests.
    pub(crate) open_handles: AtomicU64,
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// One more read or write in flight.
    fn io_started(&self) {
        let n = self.io_inflight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_io_inflight.fetch_max(n, Ordering::Relaxed);
    }

    fn io_done(&self) {
        self.io_inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An open file handle.
struct OpenFile {
    file: Rc<File>,
    /// Writes started and not yet answered.
    inflight: usize,
    /// `flush` / `fsync` replies waiting for those writes (with their
    /// tickets).
    waiters: Vec<(ReplyEmpty, Ticket)>,
    /// A `release` waiting for them.
    release: Option<(ReplyEmpty, Ticket)>,
}

/// What the I/O completion callbacks share with the loop.
struct Live {
    files: RefCell<HashMap<u64, OpenFile>>,
    /// Sizes of files this mount has seen (all writes go through it),
    /// so a read needs no size query.
    sizes: RefCell<HashMap<ObjId, u64>>,
    /// Handles whose last write finished with someone waiting on it.
    settled: RefCell<Vec<u64>>,
    /// The loop's wake-up task while it waits.
    bell: RefCell<Option<Task>>,
    counters: Arc<Counters>,
}

impl Live {
    /// Wakes the loop if it waits.
    fn ring(&self) {
        let b = self.bell.borrow_mut().take();
        if let Some(b) = b {
            b.complete(0);
        }
    }

    /// A write on `fh` to file `oid` ending at `end` finished with `rc`.
    fn write_done(&self, fh: u64, oid: ObjId, end: u64, rc: i32) {
        self.counters.io_done();
        {
            let mut sizes = self.sizes.borrow_mut();
            if rc == 0 {
                if let Some(s) = sizes.get_mut(&oid) {
                    *s = (*s).max(end);
                }
            } else {
                // Part of it may have landed: ask the engine next time.
                sizes.remove(&oid);
            }
        }
        let wake = {
            let mut files = self.files.borrow_mut();
            match files.get_mut(&fh) {
                Some(of) => {
                    of.inflight = of.inflight.saturating_sub(1);
                    of.inflight == 0 && (!of.waiters.is_empty() || of.release.is_some())
                }
                None => false,
            }
        };
        if wake {
            self.settled.borrow_mut().push(fh);
            self.ring();
        }
    }
}

/// An open directory: its listing as of `opendir` (or the last rewind).
struct DirHandle {
    entries: Vec<(u64, FuseType, OsString)>,
}

/// The dfs thread's state.
pub(crate) struct Worker {
    dfs: Dfs,
    sched: SchedHandle,
    cfg: WorkerCfg,
    inodes: InodeTable,
    live: Rc<Live>,
    dirs: HashMap<u64, DirHandle>,
    next_fh: u64,
}

fn name_str(name: &OsStr) -> R<&str> {
    name.to_str().ok_or(Fail(libc::EINVAL))
}

impl Worker {
    /// A worker serving `dfs`.
    pub(crate) fn new(dfs: Dfs, cfg: WorkerCfg, counters: Arc<Counters>) -> Worker {
        let sched = dfs.client().sched().clone();
        let inodes = InodeTable::new(dfs.root());
        Worker {
            dfs,
            sched,
            cfg,
            inodes,
            live: Rc::new(Live {
                files: RefCell::default(),
                sizes: RefCell::default(),
                settled: RefCell::default(),
                bell: RefCell::default(),
                counters,
            }),
            dirs: HashMap::new(),
            next_fh: 1,
        }
    }

    /// `dfuse_do_work`: runs the requests the session posts until it ends,
    /// then waits for the I/O in flight, closes what is open and unmounts
    /// the container.
    pub(crate) fn dfuse_do_work(mut self, inbox: &Inbox) -> Result<(), DfsError> {
        loop {
            self.settle();
            self.count_open();
            let live = self.live.clone();
            let sched = self.sched.clone();
            let taken = inbox.take(|| {
                let b = sched.create_empty("dfuse_wait");
                let r = b.remote();
                *live.bell.borrow_mut() = Some(b);
                r
            });
            match taken {
                Taken::Reqs(reqs) => {
                    for (r, t) in reqs {
                        self.dispatch(r, t);
                    }
                    self.sched.progress();
                }
                Taken::Wait => {
                    let bell = self.live.bell.borrow().clone();
                    if let Some(b) = bell {
                        self.sched.progress_until(&b);
                    }
                    self.live.bell.borrow_mut().take();
                }
                Taken::Closed => break,
            }
            self.count_open();
        }
        self.shutdown()
    }

    /// Publishes how many handles are open ([`Counters::open_handles`]).
    fn count_open(&self) {
        let open = self.live.files.borrow().len() + self.dirs.len();
        (self.live.counters.open_handles).store(open as u64, Ordering::Relaxed);
    }

    /// After the session: every reply in flight is sent, every handle
    /// closed (unlinked files punched), the container unmounted.
    fn shutdown(mut self) -> Result<(), DfsError> {
        self.sched.drain(DRAIN_TIMEOUT);
        self.settle();
        let files: Vec<OpenFile> = self
            .live
            .files
            .borrow_mut()
            .drain()
            .map(|(_, f)| f)
            .collect();
        let mut first = Ok(());
        for of in files {
            for (w, _ticket) in of.waiters {
                w.ok();
            }
            let r = close_file(of.file);
            if let Some((rel, _ticket)) = of.release {
                reply_empty(rel, r.clone().map_err(Fail::from));
            }
            if first.is_ok() {
                first = r;
            }
        }
        self.dirs.clear();
        self.dfs.umount().and(first)
    }

    /// Answers the `flush` / `fsync` / `release` of handles whose writes
    /// all finished.
    fn settle(&mut self) {
        let fhs = std::mem::take(&mut *self.live.settled.borrow_mut());
        for fh in fhs {
            let (waiters, release) = {
                let mut files = self.live.files.borrow_mut();
                let Some(of) = files.get_mut(&fh) else {
                    continue;
                };
                if of.inflight > 0 {
                    continue;
                }
                let waiters = std::mem::take(&mut of.waiters);
                let release = match of.release.take() {
                    Some(r) => files.remove(&fh).map(|of| (r, of.file)),
                    None => None,
                };
                (waiters, release)
            };
            for (w, _ticket) in waiters {
                w.ok();
            }
            if let Some(((reply, _ticket), file)) = release {
                reply_empty(reply, close_file(file).map_err(Fail::from));
            }
        }
    }

    /// Runs request `r`; `ticket` goes with its reply (dropped once it
    /// is sent).
    fn dispatch(&mut self, r: Req, ticket: Ticket) {
        Counters::add(&self.live.counters.requests, 1);
        match r {
            Req::Lookup {
                parent,
                name,
                reply,
            } => reply_entry(reply, self.cfg.ttl, self.dfuse_cb_lookup(parent, &name)),
            Req::Forget { ino, nlookup } => self.inodes.forget(ino, nlookup),
            Req::GetAttr { ino, reply } => match self.dfuse_cb_getattr(ino) {
                Ok(a) => reply.attr(&self.cfg.ttl, &a),
                Err(e) => reply.error(e.errno()),
            },
            Req::SetAttr {
                ino,
                fh,
                caller,
                set,
                reply,
            } => match self.dfuse_cb_setattr(ino, fh, set, &caller) {
                Ok(a) => reply.attr(&self.cfg.ttl, &a),
                Err(e) => reply.error(e.errno()),
            },
            Req::ReadLink { ino, reply } => self.dfuse_cb_readlink(ino, reply),
            Req::Mknod {
                parent,
                name,
                caller,
                mode,
                umask,
                reply,
            } => reply_entry(
                reply,
                self.cfg.ttl,
                self.dfuse_cb_mknod(parent, &name, mode, umask, &caller),
            ),
            Req::Mkdir {
                parent,
                name,
                caller,
                mode,
                umask,
                reply,
            } => reply_entry(
                reply,
                self.cfg.ttl,
                self.dfuse_cb_mkdir(parent, &name, mode, umask, &caller),
            ),
            Req::Unlink {
                parent,
                name,
                reply,
            } => reply_empty(reply, self.dfuse_cb_unlink(parent, &name)),
            Req::Rmdir {
                parent,
                name,
                reply,
            } => reply_empty(reply, self.dfuse_cb_rmdir(parent, &name)),
            Req::Symlink {
                parent,
                name,
                caller,
                target,
                reply,
            } => reply_entry(
                reply,
                self.cfg.ttl,
                self.dfuse_cb_symlink(parent, &name, &target, &caller),
            ),
            Req::Rename {
                parent,
                name,
                newparent,
                newname,
                flags,
                reply,
            } => reply_empty(
                reply,
                self.dfuse_cb_rename(parent, &name, newparent, &newname, flags),
            ),
            Req::Open { ino, flags, reply } => match self.dfuse_cb_open(ino, flags) {
                Ok(fh) => reply.opened(FileHandle(fh), self.fopen_flags()),
                Err(e) => reply.error(e.errno()),
            },
            Req::Create {
                parent,
                name,
                caller,
                mode,
                umask,
                flags,
                reply,
            } => self.dfuse_cb_create(parent, &name, mode & !umask, flags, &caller, reply),
            Req::Read {
                fh,
                offset,
                size,
                reply,
            } => self.dfuse_cb_read(fh, offset, size, reply, ticket),
            Req::Write {
                fh,
                offset,
                data,
                reply,
            } => self.dfuse_cb_write(fh, offset, data, reply, ticket),
            Req::Sync { fh, reply } => self.dfuse_cb_sync(fh, reply, ticket),
            Req::Release { fh, reply } => self.dfuse_cb_release(fh, reply, ticket),
            Req::Fallocate {
                fh,
                offset,
                length,
                mode,
                reply,
            } => reply_empty(reply, self.dfuse_cb_fallocate(fh, offset, length, mode)),
            Req::OpenDir { ino, reply } => match self.dfuse_cb_opendir(ino) {
                Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
                Err(e) => reply.error(e.errno()),
            },
            Req::ReadDir {
                ino,
                fh,
                offset,
                reply,
            } => self.dfuse_cb_readdir(ino, fh, offset, reply),
            Req::ReleaseDir { fh, reply } => {
                self.dirs.remove(&fh);
                reply.ok();
            }
            Req::StatFs { reply } => self.dfuse_cb_statfs(reply),
        }
    }

    fn fopen_flags(&self) -> FopenFlags {
        let mut f = FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES;
        if self.cfg.direct_io {
            f |= FopenFlags::FOPEN_DIRECT_IO;
        }
        f
    }

    fn new_fh(&mut self) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        fh
    }

    /// The entry inode `ino` names (`ESTALE` for one the kernel should
    /// not be asking about).
    fn obj(&self, ino: u64) -> R<Obj> {
        self.inodes.get(ino).cloned().ok_or(Fail(libc::ESTALE))
    }

    /// A file's size: what this mount knows, else the engine's (then
    /// remembered).
    fn size_of(&self, obj: &Obj) -> R<u64> {
        if obj.kind() != FileType::File {
            return Ok(0);
        }
        if let Some(s) = self.live.sizes.borrow().get(&obj.oid()) {
            return Ok(*s);
        }
        let s = array_of(&self.dfs, obj.inode())?
            .get_size()
            .map_err(|e| DfsError::array("dfuse: file size", e))?;
        self.live.sizes.borrow_mut().insert(obj.oid(), s);
        Ok(s)
    }

    /// A file's size as [`size_of`](Self::size_of) gives it, and the
    /// epoch of its newest write (for its times), in one query.
    fn size_and_newest(&self, obj: &Obj) -> R<(u64, obj::vos::Epoch)> {
        if obj.kind() != FileType::File {
            return Ok((0, 0));
        }
        let (s, newest) = array_of(&self.dfs, obj.inode())?
            .stat()
            .map_err(|e| DfsError::array("dfuse: file size", e))?;
        let mut sizes = self.live.sizes.borrow_mut();
        Ok((*sizes.entry(obj.oid()).or_insert(s), newest))
    }

    /// Records `obj` as looked up once more and gives its attributes.
    fn entry(&mut self, obj: Obj) -> R<FileAttr> {
        let size = self.size_and_newest(&obj)?;
        let rec = obj.inode().clone();
        let ino = self.inodes.intern(obj, true);
        Ok(attr_of_record(ino, &rec, size, self.dfs.attr().chunk_size))
    }

    fn dfuse_cb_lookup(&mut self, parent: u64, name: &OsStr) -> R<FileAttr> {
        let dir = self.obj(parent)?;
        // A name that is not UTF-8 cannot have been made here.
        let name = name.to_str().ok_or(Fail(libc::ENOENT))?;
        let o = self.dfs.lookup_rel(&dir, name)?;
        self.entry(o)
    }

    fn dfuse_cb_getattr(&mut self, ino: u64) -> R<FileAttr> {
        let o = self.obj(ino)?;
        let st = self.dfs.stat(&o)?;
        Ok(attr_of_stat(ino, &st))
    }

    fn dfuse_cb_setattr(
        &mut self,
        ino: u64,
        fh: Option<u64>,
        set: SetAttr,
        caller: &Caller,
    ) -> R<FileAttr> {
        let mut o = self.obj(ino)?;
        // Owner and mode: checked against the record as stored now (the
        // kernel's copy may be older), before anything changes.
        let owner_change = if set.mode.is_some() || set.uid.is_some() || set.gid.is_some() {
            let st = self.dfs.stat(&o)?;
            let cur = Attrs {
                mode: st.mode,
                uid: st.uid,
                gid: st.gid,
            };
            let want = OwnerChange {
                mode: set.mode,
                uid: set.uid,
                gid: set.gid,
            };
            let new = change_owner_mode(caller, cur, want, |g| caller.in_group(g)).map_err(Fail)?;
            Some((cur, new))
        } else {
            None
        };
        if let Some(size) = set.size {
            match o.kind() {
                FileType::File => {}
                FileType::Dir => return Err(Fail(libc::EISDIR)),
                FileType::Symlink => return Err(Fail(libc::EINVAL)),
            }
            let open = fh.and_then(|fh| self.live.files.borrow().get(&fh).map(|f| f.file.clone()));
            match open {
                Some(f) if f.obj().oid() == o.oid() => f.truncate(size)?,
                _ => {
                    let f = File::new(&self.dfs, o.clone(), Access::WriteOnly)?;
                    let r = f.truncate(size);
                    f.close()?;
                    r?;
                }
            }
            self.live.sizes.borrow_mut().insert(o.oid(), size);
        }
        if let Some((cur, new)) = owner_change {
            if (new.uid, new.gid) != (cur.uid, cur.gid) {
                let uid = (new.uid != cur.uid).then_some(new.uid);
                let gid = (new.gid != cur.gid).then_some(new.gid);
                o = self.dfs.chown(&o, uid, gid)?;
            }
            if new.mode != cur.mode || set.mode.is_some() {
                o = self.dfs.chmod(&o, new.mode & PERM_MASK)?;
            }
        }
        if set.atime.is_some() || set.mtime.is_some() {
            let t = |x: Option<TimeOrNow>| {
                x.map(|x| match x {
                    TimeOrNow::Now => now_ns(),
                    TimeOrNow::SpecificTime(t) => ns_of(t),
                })
            };
            o = self.dfs.utimens(&o, t(set.atime), t(set.mtime))?;
        }
        self.inodes.refresh(ino, o.clone());
        let st = self.dfs.stat(&o)?;
        Ok(attr_of_stat(ino, &st))
    }

    fn dfuse_cb_readlink(&mut self, ino: u64, reply: ReplyData) {
        match self
            .obj(ino)
            .and_then(|o| self.dfs.readlink(&o).map_err(Fail::from))
        {
            Ok(t) => reply.data(t.as_bytes()),
            Err(e) => reply.error(e.errno()),
        }
    }

    fn dfuse_cb_mknod(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        caller: &Caller,
    ) -> R<FileAttr> {
        // Regular files only: the namespace holds no devices, FIFOs or
        // sockets.
        if mode & S_IFMT != S_IFREG {
            return Err(Fail(libc::EPERM));
        }
        let dir = self.obj(parent)?;
        let (owner, perm) = new_entry(&dir, caller, S_IFREG, mode & !umask & PERM_MASK);
        let flags = OpenFlags::write_only().excl().create(perm);
        let f = self.dfs.open_as(&dir, name_str(name)?, flags, owner)?;
        let o = f.obj().clone();
        f.close()?;
        self.live.sizes.borrow_mut().insert(o.oid(), 0);
        self.entry(o)
    }

    fn dfuse_cb_mkdir(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        caller: &Caller,
    ) -> R<FileAttr> {
        let dir = self.obj(parent)?;
        let (owner, perm) = new_entry(&dir, caller, S_IFDIR, mode & !umask & PERM_MASK);
        let o = self.dfs.mkdir_as(&dir, name_str(name)?, perm, owner)?;
        self.entry(o)
    }

    fn dfuse_cb_unlink(&mut self, parent: u64, name: &OsStr) -> R<()> {
        let dir = self.obj(parent)?;
        Ok(self.dfs.unlink(&dir, name_str(name)?)?)
    }

    fn dfuse_cb_rmdir(&mut self, parent: u64, name: &OsStr) -> R<()> {
        let dir = self.obj(parent)?;
        Ok(self.dfs.rmdir(&dir, name_str(name)?)?)
    }

    fn dfuse_cb_symlink(
        &mut self,
        parent: u64,
        name: &OsStr,
        target: &OsStr,
        caller: &Caller,
    ) -> R<FileAttr> {
        let dir = self.obj(parent)?;
        let (owner, _) = new_entry(&dir, caller, S_IFLNK, 0o777);
        let o = self
            .dfs
            .symlink_as(&dir, name_str(name)?, name_str(target)?, owner)?;
        self.entry(o)
    }

    fn dfuse_cb_rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> R<()> {
        if !(flags - RenameFlags::RENAME_NOREPLACE).is_empty() {
            // No atomic exchange or whiteouts in the namespace.
            return Err(Fail(libc::EINVAL));
        }
        let src = self.obj(parent)?;
        let dst = self.obj(newparent)?;
        let (name, newname) = (name_str(name)?, name_str(newname)?);
        if flags.contains(RenameFlags::RENAME_NOREPLACE) {
            match self.dfs.lookup_rel(&dst, newname) {
                Ok(_) => return Err(Fail(libc::EEXIST)),
                Err(DfsError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.dfs.rename(&src, name, &dst, newname)?;
        // The moved entry's handle names it by parent and name: refresh
        // it if the kernel holds it.
        let moved = self.dfs.lookup_rel(&dst, newname)?;
        if let Some(ino) = self.inodes.ino_of(moved.oid()) {
            self.inodes.refresh(ino, moved);
        }
        Ok(())
    }

    fn add_file(&mut self, file: File) -> u64 {
        let fh = self.new_fh();
        self.live.files.borrow_mut().insert(
            fh,
            OpenFile {
                file: Rc::new(file),
                inflight: 0,
                waiters: Vec::new(),
                release: None,
            },
        );
        fh
    }

    fn dfuse_cb_open(&mut self, ino: u64, flags: i32) -> R<u64> {
        let o = self.obj(ino)?;
        match o.kind() {
            FileType::File => {}
            FileType::Dir => return Err(Fail(libc::EISDIR)),
            FileType::Symlink => return Err(Fail(libc::ELOOP)),
        }
        let access = access_of(flags);
        let file = File::new(&self.dfs, o, access)?;
        if flags & libc::O_TRUNC != 0 && access != Access::ReadOnly {
            file.truncate(0)?;
            self.live.sizes.borrow_mut().insert(file.obj().oid(), 0);
        }
        Ok(self.add_file(file))
    }

    /// `O_CREAT` open of `name` in `parent` with permission bits `mode`
    /// (the umask applied).
    fn dfuse_cb_create(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        caller: &Caller,
        reply: ReplyCreate,
    ) {
        let r = (|| -> R<(FileAttr, u64)> {
            let dir = self.obj(parent)?;
            let (owner, perm) = new_entry(&dir, caller, S_IFREG, mode & PERM_MASK);
            let access = access_of(flags);
            let oflags = OpenFlags {
                access,
                create: true,
                excl: flags & libc::O_EXCL != 0,
                trunc: flags & libc::O_TRUNC != 0 && access != Access::ReadOnly,
                mode: perm,
            };
            let file = self.dfs.open_as(&dir, name_str(name)?, oflags, owner)?;
            let o = file.obj().clone();
            if oflags.trunc {
                self.live.sizes.borrow_mut().insert(o.oid(), 0);
            }
            let attr = self.entry(o)?;
            Ok((attr, self.add_file(file)))
        })();
        match r {
            Ok((attr, fh)) => reply.created(
                &self.cfg.ttl,
                &attr,
                Generation(0),
                FileHandle(fh),
                self.fopen_flags(),
            ),
            Err(e) => reply.error(e.errno()),
        }
    }

    fn file(&self, fh: u64) -> R<Rc<File>> {
        self.live
            .files
            .borrow()
            .get(&fh)
            .map(|f| f.file.clone())
            .ok_or(Fail(libc::EBADF))
    }

    /// `dfuse_cb_read`: starts a `dfs_read` task for the bytes before the
    /// end of the file; its completion sends the data.
    fn dfuse_cb_read(&mut self, fh: u64, offset: u64, size: u32, reply: ReplyData, ticket: Ticket) {
        let _step = self.sched.step("dfuse_cb_read");
        let started = (|| -> R<Option<((Task, ReadOut), ObjId)>> {
            let file = self.file(fh)?;
            let end = self.size_of(file.obj())?;
            if offset >= end || size == 0 {
                return Ok(None);
            }
            let n = u64::from(size).min(end - offset);
            Ok(Some((file.read_task(offset, n)?, file.obj().oid())))
        })();
        let ((t, out), oid) = match started {
            Ok(Some(x)) => x,
            Ok(None) => return reply.data(&[]),
            Err(e) => return reply.error(e.errno()),
        };
        let counters = self.live.counters.clone();
        counters.io_started();
        let cb = t.register_comp_cb(move |t| {
            let _ticket = ticket;
            let rc = t.result();
            let data = out.borrow_mut().take();
            counters.io_done();
            match (rc, data) {
                (0, Some(r)) => {
                    Counters::add(&counters.reads, 1);
                    Counters::add(&counters.read_bytes, r.data.len() as u64);
                    reply.data(&r.data)
                }
                (0, None) => reply.error(Errno::EIO),
                (rc, _) => {
                    log_io_failure("read", oid, offset, u64::from(size), rc);
                    reply.error(Errno::from_i32(der_to_errno(rc)))
                }
            }
            0
        });
        // A fresh task takes callbacks; if it did not, the reply went with
        // the refused callback (answered EIO by the session).
        match cb {
            Ok(()) => {
                if let Err(e) = t.schedule(true) {
                    t.complete(e.rc());
                }
            }
            Err(_) => self.live.counters.io_done(),
        }
    }

    /// `dfuse_cb_write`: the `dfs_write` task of the request's data (the
    /// one copy made on the session thread), answered by its completion
    /// callback.
    fn dfuse_cb_write(
        &mut self,
        fh: u64,
        offset: u64,
        data: BulkRef,
        reply: ReplyWrite,
        ticket: Ticket,
    ) {
        let _step = self.sched.step("dfuse_cb_write");
        let len = data.len();
        let file = match self.file(fh) {
            Ok(f) => f,
            Err(e) => return reply.error(e.errno()),
        };
        if len == 0 {
            return reply.written(0);
        }
        let Some(end) = offset.checked_add(len as u64) else {
            return reply.error(Errno::EFBIG);
        };
        let Ok(n) = u32::try_from(len) else {
            return reply.error(Errno::EINVAL);
        };
        let t = match file.write_task(offset, data) {
            Ok(t) => t,
            Err(e) => return reply.error(Fail::from(e).errno()),
        };
        let oid = file.obj().oid();
        drop(file);
        if let Some(of) = self.live.files.borrow_mut().get_mut(&fh) {
            of.inflight += 1;
        }
        self.live.counters.io_started();
        let live = self.live.clone();
        let cb = t.register_comp_cb(move |t| {
            let _ticket = ticket;
            let rc = t.result();
            if rc == 0 {
                reply.written(n);
            } else {
                log_io_failure("write", oid, offset, u64::from(n), rc);
                reply.error(Errno::from_i32(der_to_errno(rc)));
            }
            if rc == 0 {
                Counters::add(&live.counters.writes, 1);
                Counters::add(&live.counters.write_bytes, u64::from(n));
            }
            live.write_done(fh, oid, end, rc);
            0
        });
        if cb.is_err() {
            // A fresh task takes callbacks; if it did not, the reply went
            // with the refused callback (answered EIO by the session).
            self.live.write_done(fh, oid, end, -tse::der::DER_INVAL);
            return;
        }
        if let Err(e) = t.schedule(true) {
            t.complete(e.rc());
        }
    }

    fn dfuse_cb_sync(&mut self, fh: u64, reply: ReplyEmpty, ticket: Ticket) {
        let mut files = self.live.files.borrow_mut();
        match files.get_mut(&fh) {
            Some(of) if of.inflight > 0 => of.waiters.push((reply, ticket)),
            Some(_) => reply.ok(),
            None => reply.error(Errno::EBADF),
        }
    }

    fn dfuse_cb_release(&mut self, fh: u64, reply: ReplyEmpty, ticket: Ticket) {
        let file = {
            let mut files = self.live.files.borrow_mut();
            match files.get_mut(&fh) {
                Some(of) if of.inflight > 0 => {
                    of.release = Some((reply, ticket));
                    return;
                }
                Some(_) => files.remove(&fh).map(|of| (reply, of.file)),
                None => {
                    drop(files);
                    return reply.error(Errno::EBADF);
                }
            }
        };
        if let Some((reply, file)) = file {
            reply_empty(reply, close_file(file).map_err(Fail::from));
        }
    }

    fn dfuse_cb_fallocate(&mut self, fh: u64, offset: u64, length: u64, mode: i32) -> R<()> {
        // Plain allocation only; the pool reserves nothing ahead, so it
        // is the size change `posix_fallocate` promises.
        if mode != 0 {
            return Err(Fail(libc::EOPNOTSUPP));
        }
        let file = self.file(fh)?;
        let end = offset.checked_add(length).ok_or(Fail(libc::EFBIG))?;
        let size = self.size_of(file.obj())?;
        if end > size {
            file.truncate(end)?;
            self.live.sizes.borrow_mut().insert(file.obj().oid(), end);
        }
        Ok(())
    }

    fn dfuse_cb_opendir(&mut self, ino: u64) -> R<u64> {
        let entries = self.list(ino)?;
        let fh = self.new_fh();
        self.dirs.insert(fh, DirHandle { entries });
        Ok(fh)
    }

    /// The listing of directory `ino`: `.`, `..`, then its entries.
    fn list(&self, ino: u64) -> R<Vec<(u64, FuseType, OsString)>> {
        let dir = self.obj(ino)?;
        if !dir.is_dir() {
            return Err(Fail(libc::ENOTDIR));
        }
        let up = if ino == ROOT_INO {
            ROOT_INO
        } else {
            self.inodes.ino_of(dir.parent()).unwrap_or(dir.parent().lo)
        };
        let mut v = vec![
            (ino, FuseType::Directory, OsString::from(".")),
            (up, FuseType::Directory, OsString::from("..")),
        ];
        let mut cursor = DirCursor::start();
        loop {
            let (es, next) = self.dfs.readdir(&dir, &cursor, READDIR_BATCH)?;
            v.extend(
                es.into_iter()
                    .map(|e| (e.ino, fuse_type(e.kind), OsString::from(e.name))),
            );
            match next {
                Some(c) => cursor = c,
                None => return Ok(v),
            }
        }
    }

    fn dfuse_cb_readdir(&mut self, ino: u64, fh: u64, offset: u64, mut reply: ReplyDirectory) {
        if offset == 0 {
            // A rewind: list again.
            match self.list(ino) {
                Ok(entries) => {
                    self.dirs.insert(fh, DirHandle { entries });
                }
                Err(e) => return reply.error(e.errno()),
            }
        }
        let Some(d) = self.dirs.get(&fh) else {
            return reply.error(Errno::EBADF);
        };
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (ino, kind, name)) in d.entries.iter().enumerate().skip(skip) {
            if reply.add(INodeNo(*ino), i as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn dfuse_cb_statfs(&mut self, reply: ReplyStatfs) {
        match self.dfs.statfs() {
            Ok(st) => {
                let b = fs_blocks(&st, self.cfg.capacity_hint);
                reply.statfs(
                    b.blocks,
                    b.bfree,
                    b.bfree,
                    0,
                    0,
                    b.bsize,
                    b.namemax,
                    FRSIZE as u32,
                );
            }
            Err(e) => reply.error(Fail::from(e).errno()),
        }
    }
}

/// The owner and permission bits of an entry of type `ty` that `caller`
/// makes in `dir` with permission bits `perm` (see [`super::perm`]).
fn new_entry(dir: &Obj, caller: &Caller, ty: u32, perm: u32) -> (Owner, u32) {
    let d = dir.inode();
    let owner = caller.new_owner(d.mode, d.gid);
    (owner, new_mode(caller, ty, perm, owner, d.mode))
}

fn access_of(flags: i32) -> Access {
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY => Access::WriteOnly,
        libc::O_RDWR => Access::ReadWrite,
        _ => Access::ReadOnly,
    }
}

/// Closes a handle (`dfs_release`); an unlinked file's object goes with
/// its last handle.
fn close_file(file: Rc<File>) -> Result<(), DfsError> {
    match Rc::try_unwrap(file) {
        Ok(f) => f.close(),
        // Someone still holds it (cannot happen between requests): it
        // closes when they drop it.
        Err(_) => Ok(()),
    }
}

fn reply_entry(reply: ReplyEntry, ttl: Duration, r: R<FileAttr>) {
    match r {
        Ok(a) => reply.entry(&ttl, &a, Generation(0)),
        Err(e) => reply.error(e.errno()),
    }
}

fn reply_empty(reply: ReplyEmpty, r: R<()>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e.errno()),
    }
}
