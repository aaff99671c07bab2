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
//!
//! Every reply a read, write, `fsync` / `flush` or `release` still owes
//! is kept in the thread's [`Deadlines`] table; a sweeper task on the
//! thread's scheduler (it runs inside any progress of the scheduler, so
//! also while a namespace call blocks) answers those older than the
//! mount's bound with `EIO` and logs them. A task completing later finds
//! its reply gone and only does its bookkeeping (sizes, counters, the
//! handle's writes in flight). `EIO` rather than `ETIMEDOUT`: it is what
//! `read(2)`, `write(2)`, `fsync(2)` and `close(2)` document for "the
//! data's state is unknown", so programs handle it; `ETIMEDOUT` is not
//! among their errors. Metadata requests are not bounded this way (see
//! `deadline.rs`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fuser::{
    Errno, FileAttr, FileHandle, FopenFlags, ReplyData, ReplyEmpty, ReplyStatfs, ReplyWrite,
};
use obj::transport::BulkRef;
use obj::vos::ObjId;
use tse::{SchedHandle, Task};

use super::attr::{attr_of_record, fs_blocks, FRSIZE};
use super::deadline::{Deadlines, Entry, Key, Owed};
use super::entries::DirHandle;
use super::inodes::InodeTable;
use super::log::{self, Level};
use super::ops::{Inbox, Req, Taken};
pub(super) use super::reply::{log_io_failure, name_str, reply_empty, reply_entry, Fail, R};
use super::watch::{Op, Ticket};
use crate::darray::ReadOut;
use crate::errno::{der_to_errno, DfsError};
use crate::file::{array_of, Access, File};
use crate::inode::FileType;
use crate::namespace::{Dfs, Obj};

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
    /// How long a read, write, `fsync`, `flush` or `release` may wait
    /// for its reply before the dfs thread answers it with `EIO`.
    pub(crate) request_timeout: Duration,
}

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
    /// Requests the dfs thread answered with `EIO` because their reply
    /// was overdue.
    pub(crate) timed_out: AtomicU64,
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
pub(super) struct OpenFile {
    pub(super) file: Rc<File>,
    /// Writes started whose tasks have not completed (answered or not).
    inflight: usize,
    /// `flush` / `fsync` replies waiting for those writes (keys in
    /// [`Live::owed`]; one answered early by the sweep is gone from there).
    waiters: Vec<Key>,
    /// A `release` waiting for them: the handle closes once they are
    /// done, whether or not its reply went out early.
    release: Option<Key>,
}

/// What the I/O completion callbacks share with the loop.
pub(super) struct Live {
    pub(super) files: RefCell<HashMap<u64, OpenFile>>,
    /// Sizes of files this mount has seen (all writes go through it),
    /// so a read needs no size query.
    pub(super) sizes: RefCell<HashMap<ObjId, u64>>,
    /// Files whose size is being asked of the engine, with the end of
    /// the writes that finished meanwhile: their replies went out, so
    /// the kernel counts them in the size, whether or not the engine's
    /// answer (taken at its own moment) does.
    racing: RefCell<HashMap<ObjId, u64>>,
    /// Handles whose last write finished with someone waiting on it.
    settled: RefCell<Vec<u64>>,
    /// The loop's wake-up task while it waits.
    bell: RefCell<Option<Task>>,
    counters: Arc<Counters>,
    /// The replies owed by reads, writes, syncs and releases in flight.
    owed: RefCell<Deadlines>,
    /// The sweeper task, while it is scheduled.
    sweeper: RefCell<Option<Task>>,
    /// Overdue entries being answered (reused).
    overdue: RefCell<Vec<Entry>>,
}

impl Live {
    /// Wakes the loop if it waits.
    fn ring(&self) {
        let b = self.bell.borrow_mut().take();
        if let Some(b) = b {
            b.complete(0);
        }
    }

    /// Keeps the reply `owed` of request `op` on handle `fh`; its key.
    fn owe(&self, owed: Owed, ticket: Ticket, op: Op, fh: u64) -> Key {
        self.owed.borrow_mut().insert(Entry {
            owed,
            _ticket: ticket,
            op,
            fh,
            since: Instant::now(),
        })
    }

    /// Takes back the reply kept under `key`, unless the sweep answered
    /// it already.
    fn take(&self, key: Key) -> Option<Entry> {
        self.owed.borrow_mut().take(key)
    }

    /// Makes sure the sweeper runs by the time the oldest reply owed is
    /// due.
    fn arm(self: &Rc<Self>, sched: &SchedHandle) {
        if self.sweeper.borrow().is_some() {
            return;
        }
        let Some(at) = self.owed.borrow().next_due() else {
            return;
        };
        let live = self.clone();
        let t = sched.create_named("dfuse_deadlines", move |t| {
            let now = Instant::now();
            live.sweep(now);
            let next = live.owed.borrow().next_due();
            let again =
                next.is_some_and(|at| t.reinit_delayed(at.saturating_duration_since(now)).is_ok());
            if !again {
                live.sweeper.borrow_mut().take();
                t.complete(0);
            }
        });
        *self.sweeper.borrow_mut() = Some(t.clone());
        if t.schedule_delayed(at.saturating_duration_since(Instant::now()))
            .is_err()
        {
            self.sweeper.borrow_mut().take();
        }
    }

    /// Ends the sweeper (the dfs thread is stopping: what is still owed
    /// after the drain is answered then), so it does not keep the drain
    /// waiting for its next turn.
    fn stop_sweeper(&self) {
        let t = self.sweeper.borrow_mut().take();
        if let Some(t) = t {
            t.complete(0);
        }
    }

    /// Answers with `EIO` every reply owed longer than the bound, and
    /// logs each.
    fn sweep(&self, now: Instant) {
        let mut out = std::mem::take(&mut *self.overdue.borrow_mut());
        self.owed.borrow_mut().take_overdue(now, &mut out);
        let bound = self.owed.borrow().bound();
        for e in out.drain(..) {
            log::log(
                Level::Error,
                format_args!(
                    "{} on file handle {} unanswered for {:.1} s (over the bound of {:?}): \
                     answered EIO",
                    e.op.name(),
                    e.fh,
                    now.saturating_duration_since(e.since).as_secs_f64(),
                    bound
                ),
            );
            Counters::add(&self.counters.timed_out, 1);
            e.owed.error(libc::EIO);
        }
        *self.overdue.borrow_mut() = out;
    }

    /// A write on `fh` to file `oid` ending at `end` finished with `rc`.
    fn write_done(&self, fh: u64, oid: ObjId, end: u64, rc: i32) {
        self.counters.io_done();
        {
            let mut sizes = self.sizes.borrow_mut();
            if rc == 0 {
                if let Some(s) = sizes.get_mut(&oid) {
                    *s = (*s).max(end);
                } else if let Some(r) = self.racing.borrow_mut().get_mut(&oid) {
                    *r = (*r).max(end);
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

/// The dfs thread's state.
pub(crate) struct Worker {
    pub(super) dfs: Dfs,
    pub(super) sched: SchedHandle,
    pub(super) cfg: WorkerCfg,
    pub(super) inodes: InodeTable,
    pub(super) live: Rc<Live>,
    pub(super) dirs: HashMap<u64, DirHandle>,
    pub(super) next_fh: u64,
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
                racing: RefCell::default(),
                settled: RefCell::default(),
                bell: RefCell::default(),
                counters,
                owed: RefCell::new(Deadlines::new(cfg.request_timeout)),
                sweeper: RefCell::default(),
                overdue: RefCell::default(),
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
        self.live.stop_sweeper();
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
            // Writes still in flight here never completed: their data's
            // state is unknown.
            let r = if of.inflight > 0 {
                Err(Fail(libc::EIO))
            } else {
                Ok(())
            };
            for w in of.waiters {
                if let Some(e) = self.live.take(w) {
                    answer_empty(e, r);
                }
            }
            let closed = close_file(of.file);
            if let Some(e) = of.release.and_then(|k| self.live.take(k)) {
                answer_empty(e, closed.clone().map_err(Fail::from));
            }
            if first.is_ok() {
                first = closed;
            }
        }
        // Reads and writes whose tasks never completed.
        let mut rest = Vec::new();
        self.live.owed.borrow_mut().take_all(&mut rest);
        for e in rest {
            e.owed.error(libc::EIO);
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
            for w in waiters {
                if let Some(e) = self.live.take(w) {
                    answer_empty(e, Ok(()));
                }
            }
            if let Some((key, file)) = release {
                let r = close_file(file).map_err(Fail::from);
                if let Some(e) = self.live.take(key) {
                    answer_empty(e, r);
                }
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
                rdev,
                reply,
            } => reply_entry(
                reply,
                self.cfg.ttl,
                self.dfuse_cb_mknod(parent, &name, mode, umask, rdev, &caller),
            ),
            Req::Link {
                ino,
                newparent,
                newname,
                reply,
            } => reply_entry(
                reply,
                self.cfg.ttl,
                self.dfuse_cb_link(ino, newparent, &newname),
            ),
            Req::SetXattr {
                ino,
                name,
                value,
                flags,
                reply,
            } => reply_empty(reply, self.dfuse_cb_setxattr(ino, &name, &value, flags)),
            Req::GetXattr {
                ino,
                name,
                size,
                reply,
            } => self.dfuse_cb_getxattr(ino, &name, size, reply),
            Req::ListXattr { ino, size, reply } => self.dfuse_cb_listxattr(ino, size, reply),
            Req::RemoveXattr { ino, name, reply } => {
                reply_empty(reply, self.dfuse_cb_removexattr(ino, &name))
            }
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
            } => self.dfuse_cb_create(parent, &name, (mode, umask), flags, &caller, reply),
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
            Req::Sync { fh, fsync, reply } => {
                let op = if fsync { Op::Fsync } else { Op::Flush };
                self.dfuse_cb_sync(fh, op, reply, ticket)
            }
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

    pub(super) fn fopen_flags(&self) -> FopenFlags {
        let mut f = FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES;
        if self.cfg.direct_io {
            f |= FopenFlags::FOPEN_DIRECT_IO;
        } else {
            // Every write of this mount passes through the kernel's page
            // cache, which the kernel keeps right itself (truncates, hole
            // punches and direct writes drop what they change), so an
            // open need not throw it away. Throwing it away raced an
            // append in flight: the page the append had filled left the
            // cache, a read brought it back from before the append, and
            // readers saw zeros where the append went until they opened
            // the file again.
            f |= FopenFlags::FOPEN_KEEP_CACHE;
        }
        f
    }

    pub(super) fn new_fh(&mut self) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        fh
    }

    /// The entry inode `ino` names (`ESTALE` for one the kernel should
    /// not be asking about).
    pub(super) fn obj(&self, ino: u64) -> R<Obj> {
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
        Ok(self.size_and_newest(obj)?.0)
    }

    /// A file's size as [`size_of`](Self::size_of) gives it, the epoch of
    /// its newest write (for its times) and the bytes it holds (for its
    /// blocks), in one query.
    fn size_and_newest(&self, obj: &Obj) -> R<(u64, obj::vos::Epoch, u64)> {
        if obj.kind() != FileType::File {
            return Ok((0, 0, 0));
        }
        // While the query is out, the scheduler runs on: writes to the
        // file may finish (and be answered) after the engine took its
        // answer. Their ends count too, or a read would be answered short
        // and the kernel keep zeros in the page past it.
        let oid = obj.oid();
        self.live.racing.borrow_mut().entry(oid).or_insert(0);
        let q = array_of(&self.dfs, obj.inode())?
            .stat_alloc()
            .map_err(|e| DfsError::array("dfuse: file size", e));
        let raced = self.live.racing.borrow_mut().remove(&oid).unwrap_or(0);
        let (s, newest, alloc) = q?;
        let mut sizes = self.live.sizes.borrow_mut();
        Ok((*sizes.entry(oid).or_insert(s.max(raced)), newest, alloc))
    }

    /// Records `obj` as looked up once more and gives its attributes.
    pub(super) fn entry(&mut self, obj: Obj) -> R<FileAttr> {
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

    pub(super) fn add_file(&mut self, file: File) -> u64 {
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
            // The kernel opens FIFOs, devices and sockets itself.
            _ => return Err(Fail(libc::ENXIO)),
        }
        let access = access_of(flags);
        let file = File::new(&self.dfs, o, access)?;
        if flags & libc::O_TRUNC != 0 && access != Access::ReadOnly {
            file.truncate(0)?;
            self.live.sizes.borrow_mut().insert(file.obj().oid(), 0);
        }
        Ok(self.add_file(file))
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
        let live = self.live.clone();
        live.counters.io_started();
        let key = live.owe(Owed::Read(reply), ticket, Op::Read, fh);
        let cb = t.register_comp_cb(move |t| {
            let rc = t.result();
            let data = out.borrow_mut().take();
            live.counters.io_done();
            // Answered already (overdue): only the bookkeeping is left.
            let Some(Entry {
                owed: Owed::Read(reply),
                ..
            }) = live.take(key)
            else {
                return 0;
            };
            match (rc, data) {
                (0, Some(r)) => {
                    Counters::add(&live.counters.reads, 1);
                    Counters::add(&live.counters.read_bytes, r.data.len() as u64);
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
        match cb {
            Ok(()) => {
                self.live.arm(&self.sched);
                if let Err(e) = t.schedule(true) {
                    t.complete(e.rc());
                }
            }
            // A fresh task takes callbacks; if it did not, nothing runs.
            Err(_) => {
                self.live.counters.io_done();
                if let Some(e) = self.live.take(key) {
                    e.owed.error(libc::EIO);
                }
            }
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
        let key = live.owe(Owed::Write(reply), ticket, Op::Write, fh);
        let cb = t.register_comp_cb(move |t| {
            let rc = t.result();
            if rc != 0 {
                log_io_failure("write", oid, offset, u64::from(n), rc);
            }
            // Answered already when overdue: only the bookkeeping is left.
            if let Some(Entry {
                owed: Owed::Write(reply),
                ..
            }) = live.take(key)
            {
                if rc == 0 {
                    reply.written(n);
                } else {
                    reply.error(Errno::from_i32(der_to_errno(rc)));
                }
            }
            if rc == 0 {
                Counters::add(&live.counters.writes, 1);
                Counters::add(&live.counters.write_bytes, u64::from(n));
            }
            live.write_done(fh, oid, end, rc);
            0
        });
        if cb.is_err() {
            // A fresh task takes callbacks; if it did not, nothing runs.
            if let Some(e) = self.live.take(key) {
                e.owed.error(libc::EIO);
            }
            self.live.write_done(fh, oid, end, -tse::der::DER_INVAL);
            return;
        }
        self.live.arm(&self.sched);
        if let Err(e) = t.schedule(true) {
            t.complete(e.rc());
        }
    }

    fn dfuse_cb_sync(&mut self, fh: u64, op: Op, reply: ReplyEmpty, ticket: Ticket) {
        {
            let mut files = self.live.files.borrow_mut();
            match files.get_mut(&fh) {
                Some(of) if of.inflight > 0 => {
                    let key = self.live.owe(Owed::Sync(reply), ticket, op, fh);
                    of.waiters.push(key);
                }
                Some(_) => return reply.ok(),
                None => return reply.error(Errno::EBADF),
            }
        }
        self.live.arm(&self.sched);
    }

    fn dfuse_cb_release(&mut self, fh: u64, reply: ReplyEmpty, ticket: Ticket) {
        let file = {
            let mut files = self.live.files.borrow_mut();
            match files.get_mut(&fh) {
                Some(of) if of.inflight > 0 => {
                    let key = self.live.owe(Owed::Release(reply), ticket, Op::Release, fh);
                    of.release = Some(key);
                    drop(files);
                    self.live.arm(&self.sched);
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
        // Plain allocation: the pool reserves nothing ahead, so it is the
        // size change `posix_fallocate` promises. A hole punch
        // (`PUNCH_HOLE | KEEP_SIZE`): the bytes become a hole, the size
        // stays. Nothing else.
        let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        if mode != 0 && mode != punch {
            return Err(Fail(libc::EOPNOTSUPP));
        }
        let file = self.file(fh)?;
        let end = offset.checked_add(length).ok_or(Fail(libc::EFBIG))?;
        let size = self.size_of(file.obj())?;
        if mode == punch {
            if offset < size && end < size {
                file.punch(offset, length)?;
            } else if offset < size {
                // To the end: `dfs_punch` would truncate; the size stays.
                file.truncate(offset)?;
                file.truncate(size)?;
            }
            return Ok(());
        }
        if end > size {
            file.truncate(end)?;
            self.live.sizes.borrow_mut().insert(file.obj().oid(), end);
        }
        Ok(())
    }

    fn dfuse_cb_statfs(&mut self, reply: ReplyStatfs) {
        match self.dfs.statfs() {
            Ok(st) => {
                let b = fs_blocks(&st, self.cfg.capacity_hint);
                reply.statfs(
                    b.blocks,
                    b.bfree,
                    b.bfree,
                    b.files,
                    b.ffree,
                    b.bsize,
                    b.namemax,
                    FRSIZE as u32,
                );
            }
            Err(e) => reply.error(Fail::from(e).errno()),
        }
    }
}

pub(super) fn access_of(flags: i32) -> Access {
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY => Access::WriteOnly,
        libc::O_RDWR => Access::ReadWrite,
        _ => Access::ReadOnly,
    }
}

/// Answers a kept `fsync` / `flush` / `release` with `r`.
fn answer_empty(e: Entry, r: R<()>) {
    match e.owed {
        Owed::Sync(reply) | Owed::Release(reply) => reply_empty(reply, r),
        other => other.error(libc::EIO),
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
