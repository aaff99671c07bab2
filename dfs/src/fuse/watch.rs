//! The request watchdog: every FUSE request the session hands to the dfs
//! thread holds a [`Ticket`] until it is answered, and a watchdog thread
//! reports in the log (`super::log`) every request older than the mount's bound (its
//! opcode, inode, age, and what the dfs thread has in flight), once, and
//! again when it is finally answered. A daemon that stops answering
//! says so instead of wedging silently.
//!
//! The table is a fixed array of atomics: taking a ticket is one
//! compare-and-swap in the slot the request id hashes to (a few probes
//! on a collision) and a few stores, giving it back one store; no lock
//! and no allocation per request. A request that finds no free slot in
//! its probes is counted and goes unwatched.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::log::{self, Level};

/// Slots of the table (a power of two): requests watched at once.
const SLOTS: usize = 4096;
/// Slots tried from the hashed one before a request goes unwatched.
const PROBES: usize = 16;
/// A slot being filled in.
const BUSY: u64 = u64::MAX;
/// Overdue requests reported one by one per scan; the rest are counted.
const REPORT_MAX: usize = 16;

/// What a request asks (the opcodes the dfs thread answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Op {
    Lookup,
    GetAttr,
    SetAttr,
    ReadLink,
    Mknod,
    Mkdir,
    Unlink,
    Rmdir,
    Symlink,
    Rename,
    Open,
    Create,
    Read,
    Write,
    Flush,
    Fsync,
    Release,
    Fallocate,
    OpenDir,
    ReadDir,
    ReleaseDir,
    StatFs,
    Link,
    SetXattr,
    GetXattr,
    ListXattr,
    RemoveXattr,
}

const OPS: [Op; 27] = [
    Op::Lookup,
    Op::GetAttr,
    Op::SetAttr,
    Op::ReadLink,
    Op::Mknod,
    Op::Mkdir,
    Op::Unlink,
    Op::Rmdir,
    Op::Symlink,
    Op::Rename,
    Op::Open,
    Op::Create,
    Op::Read,
    Op::Write,
    Op::Flush,
    Op::Fsync,
    Op::Release,
    Op::Fallocate,
    Op::OpenDir,
    Op::ReadDir,
    Op::ReleaseDir,
    Op::StatFs,
    Op::Link,
    Op::SetXattr,
    Op::GetXattr,
    Op::ListXattr,
    Op::RemoveXattr,
];

impl Op {
    /// The kernel's name of the opcode.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Lookup => "LOOKUP",
            Op::GetAttr => "GETATTR",
            Op::SetAttr => "SETATTR",
            Op::ReadLink => "READLINK",
            Op::Mknod => "MKNOD",
            Op::Mkdir => "MKDIR",
            Op::Unlink => "UNLINK",
            Op::Rmdir => "RMDIR",
            Op::Symlink => "SYMLINK",
            Op::Rename => "RENAME",
            Op::Open => "OPEN",
            Op::Create => "CREATE",
            Op::Read => "READ",
            Op::Write => "WRITE",
            Op::Flush => "FLUSH",
            Op::Fsync => "FSYNC",
            Op::Release => "RELEASE",
            Op::Fallocate => "FALLOCATE",
            Op::OpenDir => "OPENDIR",
            Op::ReadDir => "READDIR",
            Op::ReleaseDir => "RELEASEDIR",
            Op::StatFs => "STATFS",
            Op::Link => "LINK",
            Op::SetXattr => "SETXATTR",
            Op::GetXattr => "GETXATTR",
            Op::ListXattr => "LISTXATTR",
            Op::RemoveXattr => "REMOVEXATTR",
        }
    }

    fn from_u32(v: u32) -> Option<Op> {
        OPS.get(v as usize).copied()
    }
}

/// One watched request.
#[derive(Default)]
struct Entry {
    /// The kernel's request id; 0: free, [`BUSY`]: being filled in.
    unique: AtomicU64,
    op: AtomicU32,
    ino: AtomicU64,
    /// When it arrived (µs since the table was made).
    since_us: AtomicU64,
    /// The id of the request reported overdue from this slot, if any.
    reported: AtomicU64,
}

/// The table of requests not yet answered, and the bound.
pub(crate) struct Watch {
    entries: Box<[Entry]>,
    epoch: Instant,
    bound: Duration,
    /// Requests that found no free slot.
    unwatched: AtomicU64,
}

/// A request not yet answered; dropping it says it was.
pub(crate) struct Ticket {
    watch: Option<Arc<Watch>>,
    slot: u32,
    unique: u64,
}

impl Ticket {
    /// A ticket for a request nobody watches (a `forget`, which has no
    /// reply).
    pub(crate) fn none() -> Ticket {
        Ticket {
            watch: None,
            slot: 0,
            unique: 0,
        }
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("unique", &self.unique)
            .finish_non_exhaustive()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let Some(w) = self.watch.take() else { return };
        let e = &w.entries[self.slot as usize];
        if e.reported.load(Ordering::Relaxed) == self.unique {
            // Rare: only requests reported overdue pay for this.
            let age = w.age(e.since_us.load(Ordering::Relaxed));
            let op = Op::from_u32(e.op.load(Ordering::Relaxed)).map_or("?", Op::name);
            log::log(
                Level::Warn,
                format_args!(
                    "request {} ({op}, inode {}) answered after {:.1} s",
                    self.unique,
                    e.ino.load(Ordering::Relaxed),
                    age.as_secs_f64()
                ),
            );
        }
        e.unique.store(0, Ordering::Release);
    }
}

/// What the watchdog reports besides the requests.
pub(crate) type Context = Box<dyn Fn() -> String + Send>;

impl Watch {
    /// A table whose requests are overdue after `bound`.
    pub(crate) fn new(bound: Duration) -> Arc<Watch> {
        Arc::new(Watch {
            entries: (0..SLOTS).map(|_| Entry::default()).collect(),
            epoch: Instant::now(),
            bound,
            unwatched: AtomicU64::new(0),
        })
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn age(&self, since_us: u64) -> Duration {
        Duration::from_micros(self.now_us().saturating_sub(since_us))
    }

    /// Request `unique` (`op` on inode `ino`) arrived: its ticket.
    pub(crate) fn enter(self: &Arc<Self>, unique: u64, op: Op, ino: u64) -> Ticket {
        if unique == 0 || unique == BUSY {
            return Ticket::none();
        }
        // The kernel's ids step by 2 (bit 0 marks interrupts).
        let start = (unique >> 1) as usize;
        for i in 0..PROBES {
            let slot = (start + i) & (SLOTS - 1);
            let e = &self.entries[slot];
            if e.unique
                .compare_exchange(0, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                e.op.store(op as u32, Ordering::Relaxed);
                e.ino.store(ino, Ordering::Relaxed);
                e.since_us.store(self.now_us(), Ordering::Relaxed);
                e.unique.store(unique, Ordering::Release);
                return Ticket {
                    watch: Some(self.clone()),
                    slot: slot as u32,
                    unique,
                };
            }
        }
        self.unwatched.fetch_add(1, Ordering::Relaxed);
        Ticket::none()
    }

    /// Reports (once each) the requests older than the bound; how many
    /// are overdue now.
    fn scan(&self, context: &Context) -> usize {
        let (mut overdue, mut reported) = (0usize, 0usize);
        for e in self.entries.iter() {
            let u = e.unique.load(Ordering::Acquire);
            if u == 0 || u == BUSY {
                continue;
            }
            let since = e.since_us.load(Ordering::Relaxed);
            let op = e.op.load(Ordering::Relaxed);
            let ino = e.ino.load(Ordering::Relaxed);
            let age = self.age(since);
            // Still the same request, so the fields read are its own.
            if age < self.bound || e.unique.load(Ordering::Acquire) != u {
                continue;
            }
            overdue += 1;
            if e.reported.load(Ordering::Relaxed) == u {
                continue;
            }
            e.reported.store(u, Ordering::Relaxed);
            if reported < REPORT_MAX {
                if reported == 0 {
                    log::log(
                        Level::Warn,
                        format_args!(
                            "requests unanswered for over {:?}; {}",
                            self.bound,
                            context()
                        ),
                    );
                }
                let op = Op::from_u32(op).map_or("?", Op::name);
                log::log(
                    Level::Warn,
                    format_args!(
                        "  request {u} ({op}, inode {ino}) waiting for {:.1} s",
                        age.as_secs_f64()
                    ),
                );
            }
            reported += 1;
        }
        if reported > REPORT_MAX {
            log::log(
                Level::Warn,
                format_args!("  and {} more", reported - REPORT_MAX),
            );
        }
        overdue
    }

    /// Requests that went unwatched (no free slot).
    pub(crate) fn unwatched(&self) -> u64 {
        self.unwatched.load(Ordering::Relaxed)
    }
}

/// The watchdog thread: scans `watch` a few times per bound until `stop`
/// is dropped or sent to.
pub(crate) fn spawn(
    watch: Arc<Watch>,
    context: Context,
    stop: mpsc::Receiver<()>,
) -> std::io::Result<JoinHandle<()>> {
    let period = (watch.bound / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    std::thread::Builder::new()
        .name("dfuse-watchdog".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(period) {
                watch.scan(&context);
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_take_and_give_back_slots_and_old_ones_are_overdue() {
        let w = Watch::new(Duration::from_millis(20));
        let ctx: Context = Box::new(String::new);
        let a = w.enter(2, Op::Read, 7);
        // Same hash: the next slot.
        let b = w.enter(2 + 2 * SLOTS as u64, Op::Write, 8);
        assert_ne!(a.slot, b.slot);
        assert_eq!(w.scan(&ctx), 0);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(w.scan(&ctx), 2);
        // Reported once, still counted while unanswered.
        assert_eq!(w.scan(&ctx), 2);
        drop(a);
        assert_eq!(w.scan(&ctx), 1);
        drop(b);
        assert_eq!(w.scan(&ctx), 0);
        assert!(w
            .entries
            .iter()
            .all(|e| e.unique.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn a_full_neighbourhood_leaves_the_request_unwatched() {
        let w = Watch::new(Duration::from_secs(60));
        let held: Vec<Ticket> = (0..PROBES as u64)
            .map(|i| w.enter(2 + 2 * SLOTS as u64 * i, Op::GetAttr, 1))
            .collect();
        let t = w.enter(2 + 2 * SLOTS as u64 * PROBES as u64, Op::GetAttr, 1);
        assert!(t.watch.is_none());
        assert_eq!(w.unwatched(), 1);
        drop(held);
        assert!(w.enter(2, Op::GetAttr, 1).watch.is_some());
    }
}
