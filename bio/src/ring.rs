//! The per-target ring: SQE128/CQE32 (so NVMe passthrough and plain
//! reads/writes share it), the in-flight table that maps each CQE's
//! `user_data` to the task it completes (`rw_completion`), and the
//! poller that `progress()` calls.

use std::collections::VecDeque;

use io_uring::{cqueue, squeue, IoUring};
use tse::{der, OpTable, Task};

use crate::dma::DmaSeg;
use crate::error::{BioError, Errno};

/// One in-flight SQE: the task its CQE completes and what success means.
/// How a command's CQE reports success: what kind of command it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmdKind {
    /// An NVMe passthrough command: 0 is success, a positive result an
    /// NVMe status.
    Nvme,
    /// A read, write, fsync or fallocate on a file or block device: the
    /// bytes moved (`Op::expect`), or `-errno`.
    File,
}

pub(crate) struct Op {
    pub(crate) task: Task,
    /// Bytes a read/write must transfer (0 for flush/fsync/NVMe commands,
    /// whose success is a zero result).
    pub(crate) expect: u32,
    /// How its CQE reports success.
    pub(crate) kind: CmdKind,
    /// A DMA segment the op owns, returned to the pool at its CQE.
    pub(crate) dma: Option<DmaSeg>,
    /// Its id for the context's [`crate::IoWatch`] (0: not watched).
    pub(crate) watch: u64,
    /// Its CQE completes an iod's post task directly (one SQE, no child
    /// task): traced as that task's `rw_completion`.
    pub(crate) completes_iod: bool,
}

/// A reaped op: its task, its status, the DMA segment it returns, its
/// watch id, and whether it completes an iod directly.
pub(crate) type Done = (Task, i32, Option<DmaSeg>, u64, bool);

/// Counters for the curious.
#[derive(Debug, Default, Clone, Copy)]
pub struct RingStats {
    /// SQEs submitted.
    pub submitted: u64,
    /// CQEs reaped.
    pub completed: u64,
    /// CQEs with an error (negative errno, NVMe status, short transfer).
    pub errors: u64,
    /// The last error seen: `-errno`, or the NVMe status as a positive value.
    pub last_error: i32,
    /// CQEs whose user_data matched no in-flight op.
    pub stale: u64,
}

pub(crate) struct Ring {
    uring: IoUring<squeue::Entry128, cqueue::Entry32>,
    ops: OpTable<Op>,
    /// SQEs not yet in the SQ, with whether each links to the next.
    backlog: VecDeque<(squeue::Entry128, bool)>,
    queued: u32,
    iopoll: bool,
    pub(crate) stats: RingStats,
}

impl Ring {
    pub(crate) fn new(entries: u32, iopoll: bool) -> Result<Ring, BioError> {
        let mut b = IoUring::<squeue::Entry128, cqueue::Entry32>::builder();
        if iopoll {
            b.setup_iopoll();
        } else {
            // No IPI to run completion work while we spin in user space: the
            // kernel raises IORING_SQ_TASKRUN and poll() enters to run it.
            b.setup_coop_taskrun().setup_taskrun_flag();
        }
        let uring = b
            .build(entries)
            .map_err(|e| BioError::RingSetup(Errno(e.raw_os_error().unwrap_or(libc::EIO))))?;
        Ok(Ring {
            uring,
            ops: OpTable::with_capacity(entries as usize * 2),
            backlog: VecDeque::new(),
            queued: 0,
            iopoll,
            stats: RingStats::default(),
        })
    }

    /// Registers the DMA pool's chunks as fixed buffers.
    pub(crate) fn register_buffers(&self, iovecs: &[libc::iovec]) -> Result<(), BioError> {
        // SAFETY: the iovecs describe the DMA pool, which outlives the
        // ring (the context drops the ring first).
        unsafe { self.uring.submitter().register_buffers(iovecs) }.map_err(|e| {
            BioError::os(
                "registering DMA buffers",
                e.raw_os_error().unwrap_or(libc::EIO),
            )
        })
    }

    /// Queues SQEs that must reach the kernel together (an IO_LINK chain,
    /// or just one), each completing its op's task.
    /// Entries flagged `IO_LINK` must say so in `linked`.
    pub(crate) fn push(&mut self, chain: impl IntoIterator<Item = (squeue::Entry128, Op, bool)>) {
        for (e, op, linked) in chain {
            let ud = self.ops.insert(op);
            self.backlog.push_back((e.user_data(ud), linked));
        }
        self.fill_sq();
    }

    /// Moves backlog into the SQ, never splitting a link chain across
    /// submissions.
    fn fill_sq(&mut self) {
        let mut sq = self.uring.submission();
        while !self.backlog.is_empty() {
            // Length of the chain at the head of the backlog.
            let chain = self
                .backlog
                .iter()
                .position(|(_, linked)| !linked)
                .map_or(self.backlog.len(), |i| i + 1);
            if sq.capacity() - sq.len() < chain {
                break;
            }
            for _ in 0..chain {
                let Some((e, linked)) = self.backlog.pop_front() else {
                    break;
                };
                // SAFETY: every entry's buffers belong to an op in the
                // table (DMA pool memory) until its CQE is reaped.
                if unsafe { sq.push(&e) }.is_err() {
                    self.backlog.push_front((e, linked));
                    break;
                }
                self.queued += 1;
            }
        }
        sq.sync();
    }

    /// In flight (submitted or queued).
    pub(crate) fn inflight(&self) -> usize {
        self.ops.len()
    }

    /// Submits what is queued, reaps what completed, and returns the tasks
    /// to complete with their status (in `done`).
    pub(crate) fn poll(&mut self, done: &mut Vec<Done>) -> usize {
        let taskrun = !self.iopoll && !self.ops.is_empty() && self.uring.submission().taskrun();
        if self.queued > 0 || taskrun || (self.iopoll && !self.ops.is_empty()) {
            match self.uring.submitter().submit_and_wait(0) {
                Ok(n) => {
                    self.stats.submitted += n as u64;
                    self.queued = self.queued.saturating_sub(n as u32);
                }
                Err(e)
                    if e.raw_os_error() == Some(libc::EBUSY)
                        || e.raw_os_error() == Some(libc::EAGAIN) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => {
                    // The kernel refused the batch: fail what is queued.
                    self.stats.errors += 1;
                    self.stats.last_error = -e.raw_os_error().unwrap_or(libc::EIO);
                }
            }
        }
        let mut n = 0;
        for cqe in self.uring.completion() {
            n += 1;
            let Some(op) = self.ops.remove(cqe.user_data()) else {
                self.stats.stale += 1;
                continue;
            };
            let res = cqe.result();
            let ok = if op.kind == CmdKind::Nvme {
                res == 0
            } else {
                res >= 0 && res as u32 == op.expect
            };
            let rc = if ok {
                0
            } else {
                self.stats.errors += 1;
                self.stats.last_error = res;
                if op.kind == CmdKind::Nvme && res > 0 {
                    -der::DER_NVME_IO
                } else {
                    -der::DER_IO
                }
            };
            done.push((op.task, rc, op.dma, op.watch, op.completes_iod));
        }
        self.stats.completed += n as u64;
        if !self.backlog.is_empty() {
            self.fill_sq();
        }
        n
    }

    /// Blocks until at least one CQE is there or `timeout` passes
    /// (submitting what is queued on the way). False on an IOPOLL ring,
    /// whose completions are only found by polling.
    pub(crate) fn wait_cqe(&mut self, timeout: std::time::Duration) -> bool {
        if self.iopoll {
            return false;
        }
        if !self.uring.completion().is_empty() {
            return true;
        }
        let ts = io_uring::types::Timespec::from(timeout);
        let args = io_uring::types::SubmitArgs::new().timespec(&ts);
        // An error here is ETIME (timed out), EINTR or EBUSY: poll() sorts
        // out whatever is left.
        if let Ok(n) = self.uring.submitter().submit_with_args(1, &args) {
            self.stats.submitted += n as u64;
            self.queued = self.queued.saturating_sub(n as u32);
        }
        true
    }

    /// Waits for every in-flight op (at teardown); returns their tasks and
    /// statuses for the caller to complete outside the ring borrow.
    pub(crate) fn drain(&mut self) -> Vec<Done> {
        let mut done = Vec::new();
        let mut waits = 0u32;
        while !self.ops.is_empty() && waits < 100_000 {
            if self.poll(&mut done) == 0 {
                let _ = self.uring.submitter().submit_and_wait(1);
                waits += 1;
            }
        }
        done
    }
}
