//! A target's block I/O context: its device, ring and DMA pool, and the
//! I/O descriptor steps of the seed: `bio_iod_prep` (map an iod onto DMA
//! buffers, copy write data in once), `bio_iod_post` (`dma_rw` ->
//! `nvme_rw`: one SQE per contiguous run, each completing a child task
//! in `rw_completion`; the post task completes when the last one does,
//! `iod_dma_completion`), and the copy-out of reads.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};
use tse::{der, Poller, PollerId, SchedHandle, Task};

use crate::dev::{Backend, DevOpts, Device};
use crate::dma::{DmaPool, DmaSeg};
use crate::durability::Durability;
use crate::error::BioError;
use crate::nvme::{self, NvmeCmd};
use crate::ring::{CmdKind, Done, Op, Ring, RingStats};
use crate::watch::IoWatch;

/// Sizes of a context.
#[derive(Debug, Clone)]
pub struct BioConfig {
    /// DMA chunks (each registered as one fixed buffer).
    pub dma_chunks: usize,
    /// Bytes per DMA chunk (the largest single SQE).
    pub dma_chunk_size: usize,
    /// Ring entries.
    pub ring_entries: u32,
    /// The durability contract ([`Durability::Auto`] is resolved against
    /// the device when the context opens).
    pub durability: Durability,
}

impl Default for BioConfig {
    /// 64 chunks of 1 MiB (64 MiB per target), a 256-entry ring, the
    /// `auto` durability contract.
    fn default() -> Self {
        BioConfig {
            dma_chunks: 64,
            dma_chunk_size: 1 << 20,
            ring_entries: 256,
            durability: Durability::Auto,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) dev: Device,
    /// The contract in force (`Device` or `Flush`).
    durability: Durability,
    // Field order: the ring is dropped before the DMA pool it points into.
    ring: RefCell<Ring>,
    dma: RefCell<DmaPool>,
    fixed: bool,
    waiters: RefCell<VecDeque<Task>>,
    pub(crate) sched: SchedHandle,
    done: RefCell<Vec<Done>>,
    /// Scratch for fast-path DMA allocations.
    scratch: RefCell<Vec<DmaSeg>>,
    /// Who watches the device I/O, and the last id given out.
    watch: RefCell<Option<Rc<dyn IoWatch>>>,
    watch_ids: Cell<u64>,
}

impl Inner {
    /// Tells the watcher, if any, of a write of `len` bytes at `addr` to
    /// `off`; its watch id (0: not watched).
    fn watch_write(&self, off: u64, addr: *const u8, len: usize) -> u64 {
        let w = self.watch.borrow();
        let Some(w) = w.as_ref() else { return 0 };
        let id = self.watch_ids.get() + 1;
        self.watch_ids.set(id);
        // SAFETY: `addr` points at `len` initialised bytes of DMA memory
        // that the write about to be submitted reads.
        let data = unsafe { std::slice::from_raw_parts(addr, len) };
        w.write_submitted(id, off, data);
        id
    }

    /// Tells the watcher, if any, of a flush; its watch id.
    fn watch_flush(&self) -> u64 {
        let w = self.watch.borrow();
        let Some(w) = w.as_ref() else { return 0 };
        let id = self.watch_ids.get() + 1;
        self.watch_ids.set(id);
        w.flush_submitted(id);
        id
    }

    /// Tells the watcher that op `id` completed with `rc`.
    fn watch_done(&self, id: u64, rc: i32) {
        if id != 0 {
            if let Some(w) = self.watch.borrow().as_ref() {
                w.completed(id, rc);
            }
        }
    }

    fn wake_waiters(&self) {
        let waiters: Vec<Task> = self.waiters.borrow_mut().drain(..).collect();
        for w in waiters {
            // The prep body runs again at the next progress and retries.
            let _ = w.reinit();
        }
    }

    fn free(&self, segs: &[DmaSeg]) {
        if segs.is_empty() {
            return;
        }
        self.dma.borrow_mut().free(segs);
        if !self.waiters.borrow().is_empty() {
            self.wake_waiters();
        }
    }

    /// Builds the SQE moving `len` bytes between DMA segment memory at
    /// `addr` (registered buffer `chunk`) and device offset `off`.
    fn rw_sqe(
        &self,
        dir: IodType,
        off: u64,
        addr: *mut u8,
        len: u32,
        chunk: u16,
        fua: bool,
    ) -> (squeue::Entry128, CmdKind) {
        let fd = types::Fd(self.dev.fd());
        match self.dev.backend() {
            Backend::File => {
                let e: squeue::Entry = match (dir, self.fixed) {
                    (IodType::Update, true) => opcode::WriteFixed::new(fd, addr, len, chunk)
                        .offset(off)
                        .build(),
                    (IodType::Update, false) => {
                        opcode::Write::new(fd, addr, len).offset(off).build()
                    }
                    (IodType::Fetch, true) => opcode::ReadFixed::new(fd, addr, len, chunk)
                        .offset(off)
                        .build(),
                    (IodType::Fetch, false) => opcode::Read::new(fd, addr, len).offset(off).build(),
                };
                (e.into(), CmdKind::File)
            }
            Backend::Nvme { nsid, lba_shift } => {
                let op = match dir {
                    IodType::Update => nvme::OP_WRITE,
                    IodType::Fetch => nvme::OP_READ,
                };
                let cmd = NvmeCmd::rw(
                    op,
                    *nsid,
                    off >> lba_shift,
                    len >> lba_shift,
                    addr as u64,
                    len,
                    fua,
                );
                let mut b =
                    opcode::UringCmd80::new(fd, nvme::NVME_URING_CMD_IO).cmd(cmd.to_sqe_cmd());
                if self.fixed {
                    b = b.buf_index(Some(chunk));
                }
                (b.build(), CmdKind::Nvme)
            }
        }
    }

    fn sync_sqe(&self) -> (squeue::Entry128, CmdKind) {
        let fd = types::Fd(self.dev.fd());
        match self.dev.backend() {
            Backend::File => (
                opcode::Fsync::new(fd)
                    .flags(types::FsyncFlags::DATASYNC)
                    .build()
                    .into(),
                CmdKind::File,
            ),
            Backend::Nvme { nsid, .. } => {
                let cmd = NvmeCmd::flush(*nsid);
                (
                    opcode::UringCmd80::new(fd, nvme::NVME_URING_CMD_IO)
                        .cmd(cmd.to_sqe_cmd())
                        .build(),
                    CmdKind::Nvme,
                )
            }
        }
    }
}

struct RingPoller(Rc<Inner>);

impl Poller for RingPoller {
    fn poll(&mut self) -> usize {
        // Reaped into the kept vector (nothing completes inside the ring
        // call); most polls, while I/O is in flight, find nothing.
        let n = self.0.ring.borrow_mut().poll(&mut self.0.done.borrow_mut());
        if self.0.done.borrow().is_empty() {
            return n;
        }
        let mut done = std::mem::take(&mut *self.0.done.borrow_mut());
        // Complete outside the ring borrow: callbacks submit more I/O.
        for (t, rc, dma, watch, completes_iod) in done.drain(..) {
            self.0.watch_done(watch, rc);
            if let Some(seg) = dma {
                self.0.free(&[seg]);
            }
            if completes_iod && self.0.sched.tracing() {
                // The seed's rw_completion, for an iod of one SQE whose
                // CQE completes it directly (no child task to name it).
                let step = self.0.sched.step_under(t.id(), "rw_completion");
                t.complete(rc);
                step.end(rc);
            } else {
                t.complete(rc);
            }
        }
        *self.0.done.borrow_mut() = done;
        n
    }

    fn busy(&self) -> bool {
        self.0.ring.borrow().inflight() > 0
    }

    fn wait_io(&mut self, timeout: std::time::Duration) -> bool {
        self.0.ring.borrow_mut().wait_cqe(timeout)
    }
}

/// Unregisters the ring's poller (after draining it) when the last clone
/// of a context goes.
struct PollerGuard {
    inner: Rc<Inner>,
    id: Cell<Option<PollerId>>,
}

impl Drop for PollerGuard {
    fn drop(&mut self) {
        let done = self.inner.ring.borrow_mut().drain();
        for (t, rc, dma, watch, _) in done {
            self.inner.watch_done(watch, rc);
            if let Some(seg) = dma {
                self.inner.free(&[seg]);
            }
            t.complete(rc);
        }
        if let Some(id) = self.id.take() {
            self.inner.sched.unregister_poller(id);
        }
    }
}

/// A target's block I/O context. Owned by the target's thread; its ring is
/// polled by that thread's scheduler. Clones share it.
#[derive(Clone)]
pub struct BioCtx {
    inner: Rc<Inner>,
    _guard: Rc<PollerGuard>,
}

impl BioCtx {
    /// Opens `path` and sets up a ring and DMA pool polled by `sched`.
    pub fn open(
        sched: &SchedHandle,
        path: impl AsRef<Path>,
        opts: &DevOpts,
        cfg: &BioConfig,
    ) -> Result<BioCtx, BioError> {
        let dev = Device::open(path, opts)?;
        if cfg.dma_chunk_size % dev.block_size() as usize != 0 {
            return Err(BioError::Inval(format!(
                "DMA chunk size {} is not a multiple of the {}-byte block size",
                cfg.dma_chunk_size,
                dev.block_size()
            )));
        }
        let ring = Ring::new(cfg.ring_entries, dev.iopoll())?;
        let dma = DmaPool::new(cfg.dma_chunks, cfg.dma_chunk_size)?;
        // Registered buffers when the kernel lets us (memlock limits may
        // not); plain reads and writes otherwise.
        let fixed = ring.register_buffers(&dma.iovecs()).is_ok();
        let durability = cfg.durability.resolve(dev.write_cache());
        let inner = Rc::new(Inner {
            durability,
            dev,
            ring: RefCell::new(ring),
            dma: RefCell::new(dma),
            fixed,
            waiters: RefCell::new(VecDeque::new()),
            sched: sched.clone(),
            done: RefCell::new(Vec::new()),
            scratch: RefCell::new(Vec::with_capacity(4)),
            watch: RefCell::new(None),
            watch_ids: Cell::new(0),
        });
        let id = sched.register_poller(Box::new(RingPoller(inner.clone())));
        let guard = Rc::new(PollerGuard {
            inner: inner.clone(),
            id: Cell::new(Some(id)),
        });
        Ok(BioCtx {
            inner,
            _guard: guard,
        })
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.inner.dev
    }

    /// The durability contract in force: the configured one, with `Auto`
    /// resolved against the device's write cache.
    pub fn durability(&self) -> Durability {
        self.inner.durability
    }

    /// Sets (or clears) the watcher told about every write and flush from
    /// now on (see [`IoWatch`]).
    pub fn set_watch(&self, watch: Option<Rc<dyn IoWatch>>) {
        *self.inner.watch.borrow_mut() = watch;
    }

    /// True if the DMA pool is registered with the ring (fixed buffers).
    pub fn fixed_buffers(&self) -> bool {
        self.inner.fixed
    }

    /// Ring counters.
    pub fn stats(&self) -> RingStats {
        self.inner.ring.borrow().stats
    }

    /// The scheduler polling this context.
    pub fn sched(&self) -> &SchedHandle {
        &self.inner.sched
    }

    /// DMA bytes free right now.
    pub fn dma_free(&self) -> usize {
        self.inner.dma.borrow().free_bytes()
    }

    /// An I/O descriptor over device extents `(offset, length)`, checked
    /// up front (alignment, range). For writes, `data` holds the bytes of
    /// the extents in order.
    pub fn iod(&self, extents: &[(u64, u64)], data: Option<&[u8]>) -> Result<Iod, BioError> {
        let mut total = 0u64;
        for &(off, len) in extents {
            self.inner.dev.check(off, len)?;
            total += len;
        }
        if extents.is_empty() {
            return Err(BioError::Inval("an iod needs at least one extent".into()));
        }
        if let Some(d) = data {
            if d.len() as u64 != total {
                return Err(BioError::Inval(format!(
                    "write data is {} bytes, the extents cover {total}",
                    d.len()
                )));
            }
        }
        // Map now when the pool has room, copying write data straight into
        // DMA memory; otherwise keep a copy until prep gets buffers.
        // The seed's bio_iod_prep, done here when the pool has room (a
        // step; otherwise the iod's prep task does it later).
        let prep = self.inner.sched.step("bio_iod_prep");
        let mut segs = Vec::new();
        let mapped = self.inner.dma.borrow_mut().alloc(total as usize, &mut segs);
        let src = match (data, mapped) {
            (Some(d), true) => {
                let mut dma = self.inner.dma.borrow_mut();
                let mut at = 0;
                for s in &segs {
                    let n = (s.len as usize).min(d.len() - at);
                    dma.bytes_mut(*s)[..n].copy_from_slice(&d[at..at + n]);
                    at += n;
                }
                None
            }
            (Some(d), false) => Some(d.to_vec()),
            (None, _) => None,
        };
        prep.end(if mapped { 0 } else { -der::DER_AGAIN });
        Ok(Iod {
            inner: Rc::new(IodInner {
                ctx: self.inner.clone(),
                extents: extents.to_vec(),
                total,
                dir: match data {
                    Some(_) => IodType::Update,
                    None => IodType::Fetch,
                },
                src: RefCell::new(src),
                segs: RefCell::new(segs),
                mapped: Cell::new(mapped),
            }),
        })
    }

    /// Writes `data` at `off` (prep + post); the task completes when the
    /// device acknowledged the write (not necessarily durable: see
    /// [`sync`](Self::sync)).
    pub fn write(&self, off: u64, data: &[u8]) -> Result<Task, BioError> {
        self.inner.dev.check(off, data.len() as u64)?;
        if let Some(t) = self.write_fast(off, data) {
            return Ok(t);
        }
        let iod = self.iod(&[(off, data.len() as u64)], Some(data))?;
        Ok(iod.prep_post(Flush::Skip))
    }

    /// Reads `len` bytes at `off`: the task, and the iod to copy the bytes
    /// out of once it completed.
    pub fn read(&self, off: u64, len: u64) -> Result<(Task, Iod), BioError> {
        let iod = self.iod(&[(off, len)], None)?;
        Ok((iod.prep_post(Flush::Skip), iod))
    }

    fn submit_one(
        &self,
        name: &'static str,
        e: squeue::Entry128,
        expect: u32,
        kind: CmdKind,
        dma: Option<DmaSeg>,
        watch: u64,
    ) -> Task {
        let t = self.inner.sched.create_empty(name);
        t.schedule(true).ok();
        let op = Op {
            task: t.clone(),
            expect,
            kind,
            dma,
            watch,
            completes_iod: false,
        };
        self.inner.ring.borrow_mut().push([(e, op, false)]);
        t
    }

    /// The fast path of [`write`](Self::write): one DMA segment, one SQE,
    /// no iod; the CQE returns the segment and completes the task. `None`
    /// when the write needs the general path (larger than one segment or
    /// command, or others are already waiting for buffers).
    fn write_fast(&self, off: u64, data: &[u8]) -> Option<Task> {
        let prep = self.inner.sched.step("bio_iod_prep");
        let Some(seg) = self.fast_seg(data.len()) else {
            prep.end(-der::DER_AGAIN);
            return None;
        };
        self.inner.dma.borrow_mut().bytes_mut(seg)[..data.len()].copy_from_slice(data);
        prep.end(0);
        Some(self.post_seg(off, data.len(), seg))
    }

    /// One DMA segment of `len` bytes for a single-SQE write, when the
    /// pool has one now and nobody waits for buffers (who would otherwise
    /// be overtaken); `None` sends the write down the general path.
    fn fast_seg(&self, len: usize) -> Option<DmaSeg> {
        let inner = &self.inner;
        if len == 0 || len as u64 > inner.dev.max_io() as u64 || !inner.waiters.borrow().is_empty()
        {
            return None;
        }
        let mut dma = inner.dma.borrow_mut();
        if len > dma.chunk_size() {
            return None;
        }
        let mut scratch = inner.scratch.borrow_mut();
        scratch.clear();
        if !dma.alloc(len, &mut scratch) {
            return None;
        }
        if scratch.len() != 1 {
            dma.free(&scratch);
            return None;
        }
        Some(scratch[0])
    }

    /// `bio_iod_post` of a write of `len` bytes at `off` from DMA segment
    /// `seg` (filled): one SQE (`dma_rw` -> `nvme_rw`) whose CQE returns
    /// the segment and completes the task (`rw_completion`,
    /// `iod_dma_completion`: traced like an iod's).
    fn post_seg(&self, off: u64, len: usize, seg: DmaSeg) -> Task {
        let inner = &self.inner;
        let t = inner.sched.create_empty("bio_iod_post");
        t.schedule(true).ok();
        let dma_rw = inner.sched.step_under(t.id(), "dma_rw");
        let nvme_rw = inner.sched.step("nvme_rw");
        let addr = inner.dma.borrow().addr(seg);
        let (e, kind) = inner.rw_sqe(IodType::Update, off, addr, len as u32, seg.chunk, false);
        let watch = inner.watch_write(off, addr, len);
        let op = Op {
            task: t.clone(),
            expect: len as u32,
            kind,
            dma: Some(seg),
            watch,
            completes_iod: true,
        };
        inner.ring.borrow_mut().push([(e, op, false)]);
        nvme_rw.end(0);
        dma_rw.end(0);
        if inner.sched.tracing() {
            let sh = inner.sched.clone();
            let _ = t.register_comp_cb(move |t| {
                sh.step_under(t.id(), "iod_dma_completion").end(t.result());
                0
            });
        }
        t
    }

    /// Writes `len` bytes at `off` that `fill` puts in place: straight
    /// into DMA memory when one segment and one command hold them (the
    /// common case: nothing allocated, one copy), through an iod
    /// otherwise. The task completes when the device acknowledged the
    /// write, as [`write`](Self::write)'s does. `fill` gets exactly `len`
    /// bytes, whatever they held, and must write every one of them.
    pub(crate) fn write_with(
        &self,
        off: u64,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<Task, BioError> {
        self.inner.dev.check(off, len as u64)?;
        let prep = self.inner.sched.step("bio_iod_prep");
        if let Some(seg) = self.fast_seg(len) {
            fill(&mut self.inner.dma.borrow_mut().bytes_mut(seg)[..len]);
            prep.end(0);
            return Ok(self.post_seg(off, len, seg));
        }
        prep.end(-der::DER_AGAIN);
        let mut bytes = vec![0u8; len];
        fill(&mut bytes);
        let iod = self.iod(&[(off, len as u64)], Some(&bytes))?;
        Ok(iod.prep_post(Flush::Skip))
    }

    /// Zeroes `[off, off + len)` on the device without sending zeros:
    /// NVMe Write Zeroes, or `fallocate(FALLOC_FL_ZERO_RANGE)` on a file.
    pub fn write_zeroes(&self, off: u64, len: u64) -> Result<Task, BioError> {
        self.inner.dev.check(off, len)?;
        let fd = types::Fd(self.inner.dev.fd());
        Ok(match self.inner.dev.backend() {
            Backend::File => {
                let e = opcode::Fallocate::new(fd, len)
                    .offset(off)
                    .mode(libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE)
                    .build();
                let watch = if self.inner.watch.borrow().is_some() {
                    let zeros = vec![0u8; len as usize];
                    self.inner.watch_write(off, zeros.as_ptr(), zeros.len())
                } else {
                    0
                };
                self.submit_one("bio_write_zeroes", e.into(), 0, CmdKind::File, None, watch)
            }
            Backend::Nvme { nsid, lba_shift } => {
                let max = (self.inner.dev.max_io() as u64).max(1 << lba_shift);
                // One command per controller-sized piece, joined.
                let join = self
                    .inner
                    .sched
                    .create_named("bio_write_zeroes", |t| t.complete(0));
                let mut at = off;
                while at < off + len {
                    let n = (off + len - at).min(max);
                    let cmd =
                        NvmeCmd::write_zeroes(*nsid, at >> lba_shift, (n >> lba_shift) as u32);
                    let _ = join.register_dep(&self.nvme_raw(cmd)?);
                    at += n;
                }
                join.schedule(false).ok();
                join
            }
        })
    }

    /// Submits a data-less NVMe I/O command as is (no range check: the
    /// device judges it). Its task fails with `-DER_NVME_IO` if the device
    /// returns a status; [`stats`](Self::stats) keeps the status.
    pub fn nvme_raw(&self, cmd: NvmeCmd) -> Result<Task, BioError> {
        if !self.inner.dev.is_nvme() {
            return Err(BioError::Unsupported(format!(
                "{} is not an NVMe namespace",
                self.inner.dev.path().display()
            )));
        }
        let e = opcode::UringCmd80::new(types::Fd(self.inner.dev.fd()), nvme::NVME_URING_CMD_IO)
            .cmd(cmd.to_sqe_cmd())
            .build();
        Ok(self.submit_one("nvme_rw", e, 0, CmdKind::Nvme, None, 0))
    }

    /// Makes every write completed so far durable (fdatasync, or an NVMe
    /// flush).
    pub fn sync(&self) -> Task {
        let (e, kind) = self.inner.sync_sqe();
        let watch = self.inner.watch_flush();
        self.submit_one("bio_flush", e, 0, kind, None, watch)
    }
}

/// Which way an iod moves its bytes (DAOS's `enum bio_iod_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IodType {
    /// Device to memory (`BIO_IOD_TYPE_FETCH`).
    Fetch,
    /// Memory to device (`BIO_IOD_TYPE_UPDATE`).
    Update,
}

/// Whether [`Iod::post`] links a flush after its writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// No flush: the task completes when the device acknowledged every
    /// command (durable only on a device without a volatile write cache).
    Skip,
    /// A flush linked after the last command: the task completes once
    /// the data is durable.
    After,
}

struct IodInner {
    ctx: Rc<Inner>,
    extents: Vec<(u64, u64)>,
    total: u64,
    dir: IodType,
    /// Write data until it is copied into DMA buffers.
    src: RefCell<Option<Vec<u8>>>,
    segs: RefCell<Vec<DmaSeg>>,
    mapped: Cell<bool>,
}

impl Drop for IodInner {
    fn drop(&mut self) {
        let segs = std::mem::take(&mut *self.segs.borrow_mut());
        self.ctx.free(&segs);
    }
}

/// An I/O descriptor: device extents and their DMA buffers.
#[derive(Clone)]
pub struct Iod {
    inner: Rc<IodInner>,
}

impl Iod {
    /// Bytes the iod covers.
    pub fn len(&self) -> u64 {
        self.inner.total
    }

    /// True for an empty iod (never: an iod has at least one block).
    pub fn is_empty(&self) -> bool {
        self.inner.total == 0
    }

    /// `bio_iod_prep`: a task that maps the iod onto DMA buffers (waiting
    /// in line while the pool is exhausted) and copies write data in.
    pub fn prep(&self) -> Task {
        let iod = self.inner.clone();
        self.inner.ctx.sched.create_named("bio_iod_prep", move |t| {
            if iod.mapped.get() {
                t.complete(0);
                return;
            }
            let ok = {
                let mut segs = iod.segs.borrow_mut();
                iod.ctx
                    .dma
                    .borrow_mut()
                    .alloc(iod.total as usize, &mut segs)
            };
            if !ok {
                // Wait for buffers: woken (re-run) when some come back.
                let pool = iod.ctx.dma.borrow().size();
                if iod.total as usize > pool {
                    t.complete(-der::DER_OVERFLOW);
                    return;
                }
                iod.ctx.waiters.borrow_mut().push_back(t.clone());
                return;
            }
            if let Some(src) = iod.src.borrow_mut().take() {
                let mut dma = iod.ctx.dma.borrow_mut();
                let mut at = 0;
                for s in iod.segs.borrow().iter() {
                    let n = (s.len as usize).min(src.len() - at);
                    dma.bytes_mut(*s)[..n].copy_from_slice(&src[at..at + n]);
                    at += n;
                }
            }
            iod.mapped.set(true);
            t.complete(0);
        })
    }

    /// `bio_iod_post`: a task that submits one SQE per contiguous run
    /// (`dma_rw` -> `nvme_rw`) and completes when every CQE is in. With
    /// [`Flush::After`], a flush is linked after the last write, so the
    /// task completes only once the data is durable.
    pub fn post(&self, flush: Flush) -> Task {
        let iod = self.inner.clone();
        self.inner.ctx.sched.create_named("bio_iod_post", move |t| {
            if !iod.mapped.get() {
                t.complete(-der::DER_INVAL);
                return;
            }
            let segs = iod.segs.borrow();
            let ctx = &iod.ctx;
            let mut chain: Vec<(squeue::Entry128, Op, bool)> = Vec::with_capacity(segs.len() + 1);
            let mut kids: Vec<Task> = Vec::with_capacity(segs.len() + 1);
            // One SQE and no flush: its CQE completes this task directly,
            // without a child task (the common small I/O).
            let single = flush == Flush::Skip
                && iod.extents.len() == 1
                && segs.len() == 1
                && iod.total <= ctx.dev.max_io() as u64;
            let (mut si, mut soff) = (0usize, 0u64);
            // The seed's dma_rw (map the iod's DMA buffers onto device
            // commands) and one nvme_rw per command: steps, free when the
            // scheduler is not tracing.
            let dma_rw = ctx.sched.step("dma_rw");
            let dma = ctx.dma.borrow();
            for &(off, len) in &iod.extents {
                let mut done = 0u64;
                while done < len {
                    let s = segs[si];
                    let n = (len - done)
                        .min(s.len as u64 - soff)
                        .min(ctx.dev.max_io() as u64);
                    let nvme_rw = ctx.sched.step("nvme_rw");
                    // SAFETY: soff + n stays within the segment.
                    let addr = unsafe { dma.addr(s).add(soff as usize) };
                    let (mut e, kind) =
                        ctx.rw_sqe(iod.dir, off + done, addr, n as u32, s.chunk, false);
                    if flush == Flush::After {
                        e = e.flags(squeue::Flags::IO_LINK);
                    }
                    let k = if single {
                        t.clone()
                    } else {
                        ctx.sched.create_named("rw_completion", |_| {})
                    };
                    let watch = if iod.dir == IodType::Update {
                        ctx.watch_write(off + done, addr, n as usize)
                    } else {
                        0
                    };
                    chain.push((
                        e,
                        Op {
                            task: k.clone(),
                            expect: n as u32,
                            kind,
                            dma: None,
                            watch,
                            completes_iod: single,
                        },
                        flush == Flush::After,
                    ));
                    kids.push(k);
                    nvme_rw.end(0);
                    done += n;
                    soff += n;
                    if soff == s.len as u64 {
                        si += 1;
                        soff = 0;
                    }
                }
            }
            drop(dma);
            dma_rw.end(0);
            if flush == Flush::After {
                let (e, kind) = ctx.sync_sqe();
                let k = ctx.sched.create_named("bio_flush", |_| {});
                chain.push((
                    e,
                    Op {
                        task: k.clone(),
                        expect: 0,
                        kind,
                        dma: None,
                        watch: ctx.watch_flush(),
                        completes_iod: false,
                    },
                    false,
                ));
                kids.push(k);
            }
            // A write's buffers go back to the pool as soon as the device
            // has the data; a read's stay until the caller copied them out.
            if iod.dir == IodType::Update {
                let iod2 = iod.clone();
                let _ = t.register_comp_cb(move |_| {
                    let segs = std::mem::take(&mut *iod2.segs.borrow_mut());
                    iod2.mapped.set(false);
                    iod2.ctx.free(&segs);
                    0
                });
            }
            if ctx.sched.tracing() {
                let sh = ctx.sched.clone();
                let _ = t.register_comp_cb(move |t| {
                    sh.step_under(t.id(), "iod_dma_completion").end(t.result());
                    0
                });
            }
            // iod_dma_completion: this task completes with its last child.
            if !single && t.register_deps(&kids).is_err() {
                t.complete(-der::DER_CANCELED);
                return;
            }
            ctx.ring.borrow_mut().push(chain);
        })
    }

    /// Prep then post as one task (what a caller usually wants).
    pub fn prep_post(&self, flush: Flush) -> Task {
        let post = self.post(flush);
        if self.inner.mapped.get() {
            // Mapped when the iod was made: nothing to prepare.
            let _ = post.schedule(true);
            return post;
        }
        let prep = self.prep();
        let _ = post.register_dep(&prep);
        let _ = prep.schedule(true);
        let _ = post.schedule(true);
        post
    }

    /// Copies the iod's bytes (after a completed read) into `out`.
    pub fn copy_out(&self, out: &mut [u8]) -> Result<(), BioError> {
        if out.len() as u64 != self.inner.total {
            return Err(BioError::Inval(format!(
                "copy-out buffer is {} bytes, the iod covers {}",
                out.len(),
                self.inner.total
            )));
        }
        if !self.inner.mapped.get() {
            return Err(BioError::Inval(
                "the iod holds no data (not prepared)".into(),
            ));
        }
        let dma = self.inner.ctx.dma.borrow();
        let mut at = 0;
        for s in self.inner.segs.borrow().iter() {
            let n = (s.len as usize).min(out.len() - at);
            out[at..at + n].copy_from_slice(&dma.bytes(*s)[..n]);
            at += n;
        }
        Ok(())
    }

    /// Runs `f` on the iod's bytes (after a completed read) in place, in
    /// DMA memory, when they lie in one DMA segment (the common case up
    /// to a chunk's size): no copy. `None` when they do not (use
    /// [`copy_out`](Self::copy_out)) or the iod holds no data.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if !self.inner.mapped.get() {
            return None;
        }
        let segs = self.inner.segs.borrow();
        let [seg] = segs.as_slice() else {
            return None;
        };
        let total = self.inner.total as usize;
        if (seg.len as usize) < total {
            return None;
        }
        let dma = self.inner.ctx.dma.borrow();
        Some(f(&dma.bytes(*seg)[..total]))
    }

    /// Gives the iod's DMA buffers back to the pool now (after a read's
    /// bytes were copied out), rather than when the last handle to the iod
    /// goes; its bytes are gone.
    pub fn release(&self) {
        let segs = std::mem::take(&mut *self.inner.segs.borrow_mut());
        self.inner.mapped.set(false);
        self.inner.ctx.free(&segs);
    }

    /// The iod's bytes as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, BioError> {
        let mut v = vec![0u8; self.inner.total as usize];
        self.copy_out(&mut v)?;
        Ok(v)
    }
}
