//! # dfuse: a container mounted as a file system (DAOS's `dfuse`)
//!
//! [`Dfuse::mount`] mounts a POSIX container at a directory through the
//! kernel's FUSE driver (the [`fuser`] crate, pure Rust: as root it
//! mounts with `mount(2)` on `/dev/fuse`, no libfuse needed; any other
//! user mounts a directory it owns through libfuse's setuid helper
//! `fusermount3`, package `fuse3`, and unmounts with `fusermount3 -u`),
//! so ordinary tools (`dd`, `cp`, `fio`, ...) read and write it.
//!
//! ## How a request flows (the top of the seed)
//!
//! ```text
//! APP write(2) -> kernel FUSE -> /dev/fuse
//!   session thread (fuser, libfuse's fuse_session_loop):
//!     read one request -> DfuseOps::write (se->op.write_buf)
//!       copy the data once into a Vec        (fuse_buf_copy)
//!       -> BulkRef::from_vec -> Req::Write -> Inbox::post (wakes the dfs thread)
//!     read the next request (no waiting for the write)
//!   dfs thread (Worker::dfuse_do_work):
//!     dfuse_cb_write -> File::write_task (dfs_write) -> schedule
//!       -> dc_array_write -> dc_obj_update ... engine ... io_uring
//!     next request; the scheduler runs every task in flight meanwhile
//!   write task completes (the update is durable on every replica)
//!     -> completion callback -> ReplyWrite::written -> /dev/fuse -> APP
//! ```
//!
//! Two threads and a queue: the session thread (`fuse/ops.rs`) turns each
//! request into a `Req` and posts it; the dfs thread (`fuse/work.rs`)
//! owns the [`Dfs`] mount (which is not `Send`), its object client and
//! its scheduler. Reads and writes are tasks whose completion callbacks
//! send the reply, so as many are in flight as the kernel sends
//! (`FUSE_ASYNC_DIO` is asked for: `aio` / `io_uring` direct I/O arrives
//! as concurrent requests; up to 64 background requests). Namespace
//! operations (lookup, create, mkdir, rename, ...) are the blocking
//! [`Dfs`] calls, one at a time, while the scheduler keeps the I/O in
//! flight going.
//!
//! ## What the mount promises
//!
//! * A write is answered only once its `dfs_write` task completed, that
//!   is once every replica made it durable: `fsync` / `flush` only wait
//!   for the handle's writes still in flight, and an unmount (`umount`,
//!   or [`Dfuse::unmount`] on `SIGINT` / `SIGTERM`) waits for every reply
//!   in flight, so whatever a program saw acknowledged is on the pool.
//!   On a signal ([`Dfuse::serve_until_signal`], several mounts at once)
//!   the log says how many files are still open and how long the daemon
//!   waits for them; past that bound, or at a second signal, it stops
//!   without them ([`Served::Forced`]).
//!   After a crash of the daemon, the engine's WAL replay shows the same.
//! * Writes up to `max_write` (1 MiB by default) arrive whole.
//! * Inode numbers are the object ids' low words (`fuse/inodes.rs`): stable
//!   across mounts.
//! * File sizes are remembered by the mount (every write passes through
//!   it), so reads need no size query; as the namespace itself, this is
//!   exact for one mount of a container at a time.
//! * Hard links, FIFOs, device nodes, sockets, extended attributes,
//!   POSIX ACLs (`FUSE_POSIX_ACL`, `acl.rs`) and `renameat2`'s
//!   `RENAME_NOREPLACE` / `RENAME_EXCHANGE` are the namespace's (see
//!   [`crate::namespace`]); files are opened with `FOPEN_KEEP_CACHE`.
//! * Ownership is stored per entry: new entries belong to the uid and
//!   gid of the process that made them (FUSE passes them with each
//!   request), and `chown` / `chgrp` / `chmod` change them by POSIX's
//!   rules, the set-id bits cleared on `chown` and on a write by another
//!   user (`fuse/perm.rs`). The kernel checks every access against them
//!   (`default_permissions`); [`DfuseConfig::allow_other`] lets other
//!   users in.
//! * A read, write, `fsync`, `flush` (each `close`) or `release` is
//!   answered within [`DfuseConfig::request_timeout`]: one whose engine
//!   task has not completed by then is answered `EIO` by the dfs thread
//!   itself (logged; [`DfuseStats::timed_out`]), so a wedged engine
//!   cannot hang the programs using the mount. A write answered so may
//!   still land later: its data's state is unknown, as POSIX allows after
//!   `EIO`; the handle's `fsync` and `flush` wait for it as for any
//!   write in flight, within the same bound (then `EIO`), and a released
//!   handle closes once its writes are done (or at unmount). Metadata
//!   requests (lookup, create, open, mkdir, rename, ...) are answered by
//!   the blocking namespace call that runs them, not early: the kernel's
//!   references to entries depend on their answers. The watchdog
//!   reports any request, of any kind, older than the bound.
//! * What the daemon has to say (overdue requests, failed I/O) goes to
//!   its [`log`], at the level `RDAOS_LOG` sets.
//! * `statfs` (`df`) reports the pool's capacity and use when the
//!   namespace knows them ([`crate::StatFs`]), else
//!   [`DfuseConfig::capacity_hint`] with nothing counted as used, else a
//!   size of 0.

mod acl;
mod attr;
mod deadline;
mod entries;
mod fusermount;
mod inbox;
mod inode_ops;
mod inodes;
pub mod log;
mod ops;
mod perm;
mod reply;
mod signal;
mod watch;
mod work;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use fuser::{BackgroundSession, MountOption, Session, SessionACL};
use obj::cli::ObjClient;
use obj::transport::Transport;
use tse::Sched;

pub use ops::DEFAULT_MAX_WRITE;

/// Default [`DfuseConfig::request_timeout`]: 60 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

use crate::errno::DfsError;
use crate::namespace::Dfs;
use ops::{DfuseOps, Inbox, KernelWishes};
use watch::Watch;
use work::{Counters, Worker, WorkerCfg, DRAIN_TIMEOUT};

/// What to mount, where, and how.
#[derive(Clone)]
pub struct DfuseConfig {
    /// The directory to mount on (must exist).
    pub mountpoint: PathBuf,
    /// The POSIX container's label (made by [`Dfs::mkfs`]).
    pub cont: String,
    /// How to reach the pool's engines (in-process or TCP).
    pub transport: Arc<dyn Transport>,
    /// Longest FUSE write asked of the kernel (default
    /// [`DEFAULT_MAX_WRITE`], 1 MiB).
    pub max_write: u32,
    /// Open every file with `FOPEN_DIRECT_IO`: no page cache, every
    /// `read(2)` / `write(2)` goes to the daemon as it is (default off:
    /// cached reads, writes are written through anyway).
    pub direct_io: bool,
    /// How long the kernel may cache entries and attributes (default
    /// 1 s).
    pub attr_ttl: Duration,
    /// What `statfs` reports as the size when the pool cannot say (for
    /// example the pool file's size); `None`: 0.
    pub capacity_hint: Option<u64>,
    /// Let every user in (FUSE's `allow_other`; default: only the user
    /// who mounted).
    pub allow_other: bool,
    /// Threads reading `/dev/fuse` (default 1: a request costs the
    /// session thread only a queue push and, for a write, the copy).
    pub session_threads: usize,
    /// Records a span of every seed step the dfs thread runs
    /// (`dfuse_cb_write` -> `dfs_write` -> `dc_array_write` -> ...),
    /// labelled `dfuse`; give the engine the same tracer to see the whole
    /// chain.
    pub tracer: Option<tse::Tracer>,
    /// How long a request may go unanswered before the watchdog reports
    /// it in the log ([`log`], on standard error: opcode, inode, age,
    /// what the dfs thread has in flight) and, for a read, write,
    /// `fsync`, `flush` or `release`, before the dfs thread answers it
    /// with `EIO` itself; how long an unmount waits
    /// for the session and the dfs thread to finish before it gives up on
    /// them, and how long [`Dfuse::run_until_signal`] waits for files
    /// still open after the signal (default 60 s).
    pub request_timeout: Duration,
}

impl DfuseConfig {
    /// Container `cont` reached through `transport`, mounted on
    /// `mountpoint`, with the defaults above.
    pub fn new(
        mountpoint: impl Into<PathBuf>,
        cont: impl Into<String>,
        transport: Arc<dyn Transport>,
    ) -> DfuseConfig {
        DfuseConfig {
            mountpoint: mountpoint.into(),
            cont: cont.into(),
            transport,
            max_write: DEFAULT_MAX_WRITE,
            direct_io: false,
            attr_ttl: Duration::from_secs(1),
            capacity_hint: None,
            allow_other: false,
            session_threads: 1,
            tracer: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for DfuseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DfuseConfig")
            .field("mountpoint", &self.mountpoint)
            .field("cont", &self.cont)
            .field("max_write", &self.max_write)
            .field("direct_io", &self.direct_io)
            .field("attr_ttl", &self.attr_ttl)
            .field("capacity_hint", &self.capacity_hint)
            .field("allow_other", &self.allow_other)
            .field("session_threads", &self.session_threads)
            .field("tracer", &self.tracer.is_some())
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// Why a mount or an unmount failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DfuseError {
    /// The container could not be mounted, or closing it at the end
    /// failed.
    #[error("dfuse: {0}")]
    Dfs(#[from] DfsError),
    /// The FUSE mount, the session or the unmount failed (no
    /// `/dev/fuse`, not allowed, not a directory, busy, ...).
    #[error("dfuse: {what} {path}: {source}")]
    Fuse {
        /// The step.
        what: &'static str,
        /// The mount point.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// A bad configuration value.
    #[error("dfuse: invalid configuration: {0}")]
    Config(String),
    /// A thread of the daemon could not start or died.
    #[error("dfuse: {0}")]
    Thread(String),
    /// Stopped on a signal with files still open on the mount (see
    /// [`Served::Forced`]): the wait for them ran out, or a second
    /// signal came.
    #[error(
        "dfuse: stopped with {open} {} still open ({}); every write acknowledged is kept",
        files(*open),
        if *second_signal { "a second signal" } else { "the wait for them ran out" }
    )]
    Forced {
        /// Files and directories still open.
        open: u64,
        /// A second signal cut the wait short.
        second_signal: bool,
    },
}

/// "file" or "files", for `n`.
fn files(n: u64) -> &'static str {
    if n == 1 {
        "file"
    } else {
        "files"
    }
}

/// What a mount did so far ([`Dfuse::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DfuseStats {
    /// FUSE requests run by the dfs thread.
    pub requests: u64,
    /// Writes answered successfully.
    pub writes: u64,
    /// Bytes they wrote.
    pub write_bytes: u64,
    /// Reads answered successfully (those past the end of a file, which
    /// need no I/O, not counted).
    pub reads: u64,
    /// Bytes they returned.
    pub read_bytes: u64,
    /// The most reads and writes that were in flight at once.
    pub max_io_inflight: u64,
    /// Reads, writes, `fsync`s, `flush`es and `release`s the daemon
    /// answered with `EIO` itself because they waited longer than
    /// [`DfuseConfig::request_timeout`].
    pub timed_out: u64,
}

/// How [`Dfuse::serve_until_signal`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Every mount ended cleanly: unmounted from outside, or after
    /// `SIGINT` / `SIGTERM` once the last file open on it was closed.
    /// Every reply was sent, every handle closed, every container
    /// unmounted.
    Unmounted,
    /// A signal came while files were open on a mount, and the wait for
    /// them ran out (`second_signal` false) or a second signal came
    /// (true). Every write acknowledged is on the pool, and the dfs
    /// threads closed every handle and unmounted their containers; but
    /// the kernel still holds those files' mount, which ends (the files
    /// then fail with `ENOTCONN`) once the process exits.
    Forced {
        /// Files and directories still open, on all mounts together.
        open: u64,
        /// A second signal cut the wait short.
        second_signal: bool,
    },
}

/// A mounted container. Dropping it unmounts (as
/// [`unmount`](Self::unmount), errors ignored).
pub struct Dfuse {
    mountpoint: PathBuf,
    counters: Arc<Counters>,
    /// The dfs thread's requests (closed to stop it without the session).
    inbox: Arc<Inbox>,
    session: Option<BackgroundSession>,
    worker: Option<JoinHandle<Result<(), DfsError>>>,
    /// The watchdog thread and what stops it.
    watchdog: Option<(JoinHandle<()>, mpsc::Sender<()>)>,
    request_timeout: Duration,
}

impl std::fmt::Debug for Dfuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dfuse")
            .field("mountpoint", &self.mountpoint)
            .field("running", &self.is_running())
            .finish()
    }
}

impl Dfuse {
    /// Mounts container `cfg.cont` on `cfg.mountpoint`: starts the dfs
    /// thread (scheduler, object client, [`Dfs::mount`]), mounts FUSE and
    /// answers the kernel's `INIT`, then starts the session thread.
    /// Returns once the mount is usable.
    pub fn mount(cfg: DfuseConfig) -> Result<Dfuse, DfuseError> {
        if cfg.max_write < 4096 {
            return Err(DfuseError::Config(format!(
                "max_write {} is below 4096",
                cfg.max_write
            )));
        }
        if cfg.session_threads == 0 {
            return Err(DfuseError::Config("0 session threads".into()));
        }
        if cfg.request_timeout.is_zero() {
            return Err(DfuseError::Config("a request timeout of 0".into()));
        }
        let fuse_err = |what, source| DfuseError::Fuse {
            what,
            path: cfg.mountpoint.clone(),
            source,
        };
        let mountpoint = cfg
            .mountpoint
            .canonicalize()
            .map_err(|e| fuse_err("mount point", e))?;
        let inbox = Arc::new(Inbox::default());
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), DfsError>>();
        let wcfg = WorkerCfg {
            ttl: cfg.attr_ttl,
            direct_io: cfg.direct_io,
            capacity_hint: cfg.capacity_hint,
            request_timeout: cfg.request_timeout,
        };
        let transport = cfg.transport.clone();
        let tracer = cfg.tracer.clone();
        let label = cfg.cont.clone();
        let inbox2 = inbox.clone();
        let counters = Arc::new(Counters::default());
        let counters2 = counters.clone();
        let worker = std::thread::Builder::new()
            .name("dfuse".into())
            .spawn(move || {
                let sched = Sched::new();
                if let Some(t) = tracer {
                    sched.set_tracer("dfuse", Some(t));
                }
                let cli = ObjClient::new(&sched.handle(), transport);
                let dfs = match Dfs::mount(&cli, &label) {
                    Ok(d) => d,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Ok(());
                    }
                };
                let _ = ready_tx.send(Ok(()));
                Worker::new(dfs, wcfg, counters2).dfuse_do_work(&inbox2)
            })
            .map_err(|e| DfuseError::Thread(format!("start the dfs thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = worker.join();
                return Err(e.into());
            }
            Err(_) => {
                let _ = worker.join();
                return Err(DfuseError::Thread("the dfs thread died".into()));
            }
        }
        let stop_worker = |worker: JoinHandle<Result<(), DfsError>>| {
            // The session never started or is gone: its ops were
            // dropped, which closed the inbox.
            inbox.close();
            let _ = worker.join();
        };
        let watch = Watch::new(cfg.request_timeout);
        let ops = DfuseOps::new(
            inbox.clone(),
            KernelWishes {
                max_write: cfg.max_write,
            },
            watch.clone(),
        );
        let mut fc = fuser::Config::default();
        fc.mount_options = vec![
            MountOption::FSName("dfuse".into()),
            MountOption::Subtype("daos".into()),
            MountOption::RW,
            MountOption::DefaultPermissions,
        ];
        fc.acl = if cfg.allow_other {
            SessionACL::All
        } else {
            SessionACL::Owner
        };
        fc.n_threads = Some(cfg.session_threads);
        // As root, fuser mounts with mount(2) on /dev/fuse; any other
        // user goes through libfuse's setuid helper, as libfuse does.
        // SAFETY: geteuid cannot fail and touches no memory.
        let session = if unsafe { libc::geteuid() } != 0 {
            let mut opts = vec!["fsname=dfuse", "subtype=daos", "rw", "default_permissions"];
            if cfg.allow_other {
                opts.push("allow_other");
            }
            let acl = fc.acl;
            fusermount::mount(&mountpoint, &opts.join(","))
                .and_then(|fd| Session::from_fd(ops, fd, acl, fc))
        } else {
            Session::new(ops, &mountpoint, &fc)
        };
        let session = match session {
            Ok(s) => s,
            Err(e) => {
                stop_worker(worker);
                return Err(fuse_err("mount", e));
            }
        };
        let session = match session.spawn() {
            Ok(s) => s,
            Err(e) => {
                stop_worker(worker);
                return Err(DfuseError::Thread(format!("start the session thread: {e}")));
            }
        };
        let (stop_tx, stop_rx) = mpsc::channel();
        let (c, w, i) = (counters.clone(), watch.clone(), inbox.clone());
        let context = Box::new(move || {
            let get =
                |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            format!(
                "{} requests queued for the dfs thread, {} reads and writes in flight, \
                 {} requests run so far, {} went unwatched",
                i.queued(),
                get(&c.io_inflight),
                get(&c.requests),
                w.unwatched()
            )
        });
        // Without a watchdog the mount still works; it only cannot say
        // when it stops answering.
        let watchdog = match watch::spawn(watch, context, stop_rx) {
            Ok(h) => Some((h, stop_tx)),
            Err(e) => {
                log::log(log::Level::Error, format_args!("no request watchdog: {e}"));
                None
            }
        };
        Ok(Dfuse {
            mountpoint,
            counters,
            inbox,
            session: Some(session),
            worker: Some(worker),
            watchdog,
            request_timeout: cfg.request_timeout,
        })
    }

    /// The mount point (canonical).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// What the mount did so far.
    pub fn stats(&self) -> DfuseStats {
        let c = &self.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        DfuseStats {
            requests: get(&c.requests),
            writes: get(&c.writes),
            write_bytes: get(&c.write_bytes),
            reads: get(&c.reads),
            read_bytes: get(&c.read_bytes),
            max_io_inflight: get(&c.max_io_inflight),
            timed_out: get(&c.timed_out),
        }
    }

    /// True while the file system is mounted and served (false once it
    /// was unmounted from outside, e.g. `umount DIR`).
    pub fn is_running(&self) -> bool {
        let session = self
            .session
            .as_ref()
            .is_some_and(|s| !s.guard.is_finished());
        let worker = self.worker.as_ref().is_some_and(|w| !w.is_finished());
        session && worker
    }

    /// Unmounts and stops: `umount(2)` (a lazy unmount when the mount is
    /// busy: it then finishes once the last file on it is closed), waits
    /// for the session to end and for the dfs thread to answer everything
    /// in flight, close every handle and unmount the container.
    pub fn unmount(mut self) -> Result<(), DfuseError> {
        self.stop()
    }

    /// Files and directories open on the mount now: handles the kernel
    /// has not released (as of the dfs thread's last batch of requests).
    /// While any is open, an unmount is lazy and the daemon waits.
    pub fn open_files(&self) -> u64 {
        (self.counters.open_handles).load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Serves until `SIGINT` or `SIGTERM` arrives or the file system is
    /// unmounted from outside, then stops as
    /// [`serve_until_signal`](Self::serve_until_signal) does, waiting up
    /// to [`DfuseConfig::request_timeout`] for files still open; stopping
    /// with files still open is an error ([`DfuseError::Forced`]). The
    /// signal handlers are this call's (the previous ones come back when
    /// it returns); one call at a time per process.
    pub fn run_until_signal(self) -> Result<(), DfuseError> {
        let grace = self.request_timeout;
        match Dfuse::serve_until_signal(vec![self], grace)? {
            Served::Unmounted => Ok(()),
            Served::Forced {
                open,
                second_signal,
            } => Err(DfuseError::Forced {
                open,
                second_signal,
            }),
        }
    }

    /// Serves `mounts` (several containers of a pool, one process: what
    /// `rdaos dfuse` with several mounts runs) until `SIGINT` or
    /// `SIGTERM` arrives or every one of them has been unmounted from
    /// outside. On the signal each mount still up is unmounted
    /// (`umount(2)`, lazily when busy), and the log says, per mount, how
    /// many files are still open on it and how long the daemon waits for
    /// them (`grace`). Once they are all closed, every mount stops
    /// cleanly ([`Served::Unmounted`]). If `grace` runs out first, or a
    /// second signal comes, the daemon stops without them
    /// ([`Served::Forced`]): each dfs thread answers what is in flight,
    /// closes every handle and unmounts its container at once, so the
    /// caller can stop the engine (a checkpoint) and exit. The signal
    /// handlers are this call's (the previous ones come back when it
    /// returns); one call at a time per process.
    pub fn serve_until_signal(
        mut mounts: Vec<Dfuse>,
        grace: Duration,
    ) -> Result<Served, DfuseError> {
        use log::Level;
        let where_ = mounts
            .first()
            .map_or_else(PathBuf::new, |m| m.mountpoint.clone());
        let sig = signal::SignalWait::install().map_err(|e| DfuseError::Fuse {
            what: "install signal handlers for",
            path: where_,
            source: e,
        })?;
        let first = loop {
            if mounts.iter().all(|m| !m.is_running()) {
                break None;
            }
            if let Some(s) = sig.wait(Duration::from_millis(100)) {
                break Some(s);
            }
        };
        let mut first_err = Ok(());
        if let Some(signo) = first {
            let name = signal::name(signo);
            for m in &mut mounts {
                if !m.session_running() {
                    continue;
                }
                if let Err(e) = umount(&m.mountpoint) {
                    log::log(
                        Level::Error,
                        format_args!("{name}: unmounting {}: {e}", m.mountpoint.display()),
                    );
                    if first_err.is_ok() {
                        first_err = Err(DfuseError::Fuse {
                            what: "unmount",
                            path: m.mountpoint.clone(),
                            source: e,
                        });
                    }
                    continue;
                }
                match m.open_files() {
                    0 => log::log(
                        Level::Info,
                        format_args!("{name}: unmounting {}", m.mountpoint.display()),
                    ),
                    n => log::log(
                        Level::Warn,
                        format_args!(
                            "{name}: {} unmounted with {n} {} still open on it: waiting up to \
                             {} s for {} to be closed, then stopping without {} (send SIGINT or \
                             SIGTERM again to stop at once)",
                            m.mountpoint.display(),
                            files(n),
                            grace.as_secs_f64(),
                            if n == 1 { "it" } else { "them" },
                            if n == 1 { "it" } else { "them" },
                        ),
                    ),
                }
            }
            let start = std::time::Instant::now();
            let mut second = None;
            while mounts.iter().any(Dfuse::session_running) && start.elapsed() < grace {
                if let Some(s) = sig.wait(Duration::from_millis(50)) {
                    second = Some(s);
                    break;
                }
            }
            let open: u64 = mounts
                .iter()
                .filter(|m| m.session_running())
                .map(Dfuse::open_files)
                .sum();
            if mounts.iter().any(Dfuse::session_running) {
                for m in mounts.iter().filter(|m| m.session_running()) {
                    let n = m.open_files();
                    let them = if n == 1 { "it" } else { "them" };
                    let why = match second {
                        Some(s) => format!(
                            "{} again: stopping at once with {n} {} still open",
                            signal::name(s),
                            files(n)
                        ),
                        None => format!(
                            "{n} {} still open after {} s: stopping without {them}",
                            files(n),
                            grace.as_secs_f64(),
                        ),
                    };
                    log::log(
                        Level::Warn,
                        format_args!(
                            "{}: {why}; every write acknowledged is kept, and reads and writes \
                             on {them} fail (ENOTCONN) once the daemon has exited",
                            m.mountpoint.display(),
                        ),
                    );
                }
                let mut r = first_err;
                for m in mounts {
                    let stopped = if m.session_running() {
                        m.abandon()
                    } else {
                        m.unmount()
                    };
                    if r.is_ok() {
                        r = stopped;
                    }
                }
                drop(sig);
                return r.map(|()| Served::Forced {
                    open,
                    second_signal: second.is_some(),
                });
            }
        }
        drop(sig);
        let mut r = first_err;
        for m in mounts {
            let stopped = m.unmount();
            if r.is_ok() {
                r = stopped;
            }
        }
        r.map(|()| Served::Unmounted)
    }

    /// True while the FUSE session runs (the kernel's mount is there,
    /// attached or lazily detached with files open).
    fn session_running(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| !s.guard.is_finished())
    }

    /// Stops without the session (files still open on a detached
    /// mount): the dfs thread is told no more requests come, answers
    /// what is in flight, closes every handle and unmounts the
    /// container. The session thread is left to the process's exit,
    /// which ends the kernel's side of the mount.
    fn abandon(mut self) -> Result<(), DfuseError> {
        self.inbox.close();
        // Not dropped: fuser would unmount the mount point's path again,
        // which by now may hold another mount.
        if let Some(s) = self.session.take() {
            std::mem::forget(s);
        }
        self.stop()
    }

    fn stop(&mut self) -> Result<(), DfuseError> {
        let mut first = Ok(());
        if let Some(s) = self.session.take() {
            if !s.guard.is_finished() {
                if let Err(e) = umount(&self.mountpoint) {
                    first = Err(DfuseError::Fuse {
                        what: "unmount",
                        path: self.mountpoint.clone(),
                        source: e,
                    });
                }
            }
            if first.is_ok() {
                // A lazy unmount ends the session only once the last file
                // on the mount is closed: wait for that, within the bound.
                if finished_within(&s.guard, self.request_timeout) {
                    if let Err(e) = s.join() {
                        first = Err(DfuseError::Fuse {
                            what: "session of",
                            path: self.mountpoint.clone(),
                            source: e,
                        });
                    }
                } else {
                    first = Err(DfuseError::Thread(format!(
                        "the FUSE session of {} did not end within {:?} of the unmount \
                         (files still open on it); giving up on it",
                        self.mountpoint.display(),
                        self.request_timeout
                    )));
                }
            }
            // On an unmount error the session is left running (dropped,
            // not joined): the mount stays usable.
        }
        if let Some(w) = self.worker.take() {
            let limit = DRAIN_TIMEOUT + self.request_timeout;
            if first.is_ok() || w.is_finished() {
                let r = if finished_within(&w, limit) {
                    match w.join() {
                        Ok(r) => r.map_err(DfuseError::from),
                        Err(_) => Err(DfuseError::Thread("the dfs thread panicked".into())),
                    }
                } else {
                    Err(DfuseError::Thread(format!(
                        "the dfs thread did not finish within {limit:?}; giving up on it"
                    )))
                };
                if first.is_ok() {
                    first = r;
                }
            }
        }
        if let Some((h, stop)) = self.watchdog.take() {
            drop(stop);
            let _ = h.join();
        }
        first
    }
}

/// Waits up to `limit` for thread `h` to finish; true if it did.
fn finished_within<T>(h: &JoinHandle<T>, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while !h.is_finished() {
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

impl Drop for Dfuse {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `umount(2)`, lazily (`MNT_DETACH`) if the mount is busy (not root:
/// `fusermount3 -u`, `-z` if busy); a path that is no longer a mount
/// point (unmounted meanwhile) is not an error.
fn umount(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    for flags in [0, libc::MNT_DETACH] {
        // SAFETY: `c` is a NUL-terminated path alive across the call.
        if unsafe { libc::umount2(c.as_ptr(), flags) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EBUSY) if flags == 0 => continue,
            Some(libc::EINVAL) => return Ok(()),
            // Not root: the helper that mounted it unmounts it.
            // SAFETY: geteuid cannot fail and touches no memory.
            Some(libc::EPERM) if unsafe { libc::geteuid() } != 0 => {
                return fusermount::unmount(path)
            }
            _ => return Err(e),
        }
    }
    Ok(())
}
