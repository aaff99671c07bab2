//! A target's store on its device region: superblock, WAL, two checkpoint
//! slots and the data region (see [`crate::layout`]).
//!
//! * `vos_update_begin`: reserve space for the value in the data region and
//!   build the [`IndexOp`] that points at it (with the bytes' crc32c).
//! * `vos_update_end`: commit the data and the op's bytes through bio's
//!   [`TxLog`] (written together, the record carrying the data's checksum);
//!   once on the device as the pool's durability contract promises, apply
//!   the op to the in-memory index and acknowledge. An update not
//!   acknowledged is wholly absent after a crash or wholly there.
//! * Open: check the superblock, load the newest intact checkpoint, replay
//!   the WAL from its position, then checkpoint at once (replay ends the
//!   log's generation, see `bio::WalPos`).
//! * Checkpoint: the index is written to the older slot with its WAL
//!   position, flushed, and the WAL trimmed to that position; space that
//!   destroys and aborts released before it is reusable from then on.
//! * Abort (`vos_dtx_abort`): an [`IndexOp::Abort`] (or, for an object or
//!   dkey punch, [`IndexOp::AbortPunch`]) logged like any other op (no
//!   data), removing one version once durable.
//!
//! Checkpoints currently block the target's thread while their I/O runs
//! (progressing its scheduler); updates and fetches are tasks (see
//! `crate::fetch`; `Cont::fetch_array` is their blocking form).

use std::cell::RefCell;
use std::rc::Rc;

use bio::{BioCtx, BioError, DataSum, LogCheck, TxData, TxLog, Wal, WalPos};
use tse::Task;

use crate::alloc::ExtentAlloc;
use crate::codec::{Dec, Enc};
use crate::cont::Cont;
use crate::error::VosError;
use crate::layout::{Geometry, Superblock, FORMAT_VERSION};
use crate::tree::{Index, IndexOp};
use crate::types::{ContId, DataAddr, Epoch, Version};

/// "rdaos_ck" little-endian: a version 1 checkpoint header (no flags).
const CKPT_MAGIC_V1: u64 = u64::from_le_bytes(*b"rdaos_ck");
/// "rdaos_c2" little-endian: a version 2 checkpoint header.
const CKPT_MAGIC: u64 = u64::from_le_bytes(*b"rdaos_c2");
/// Version 1 header: magic, gen, WAL seq, vblock, WAL gen, tail, body
/// length, body crc, header crc.
const CKPT_HDR_V1: usize = 8 + 8 + 8 + 8 + 4 + 8 + 8 + 4 + 4;
/// Version 2 adds `flags u32` before the header crc.
const CKPT_HDR: usize = CKPT_HDR_V1 + 4;
/// Checkpoint flag: written by a clean close; nothing was logged after it.
const CKPT_CLEAN: u32 = 1;

pub(crate) fn bio(e: BioError) -> VosError {
    VosError::Io(e)
}

fn wait(ctx: &BioCtx, t: &Task, what: &str) -> Result<(), VosError> {
    match ctx.sched().progress_until(t) {
        0 => Ok(()),
        rc => Err(VosError::IoStatus {
            what: what.to_string(),
            rc,
        }),
    }
}

pub(crate) fn read(ctx: &BioCtx, off: u64, len: u64) -> Result<Vec<u8>, VosError> {
    let (t, iod) = ctx.read(off, len).map_err(bio)?;
    wait(ctx, &t, "read")?;
    iod.to_vec().map_err(bio)
}

fn write_sync(ctx: &BioCtx, off: u64, data: &[u8]) -> Result<(), VosError> {
    let iod = ctx
        .iod(&[(off, data.len() as u64)], Some(data))
        .map_err(bio)?;
    wait(ctx, &iod.prep_post(bio::Flush::After), "write")
}

pub(crate) fn round_up(x: u64, b: u64) -> u64 {
    x.div_ceil(b) * b
}

/// A checkpoint slot's header. Byte map (little-endian), version 2:
///
/// ```text
///  0 magic "rdaos_c2" | 8 gen u64 | 16 wal.seq u64 | 24 wal.vblock u64
/// 32 wal.gen u32 | 36 tail u64 | 44 len u64 | 52 crc u32 (of the body)
/// 56 flags u32 (1: clean close) | 60 hcrc u32 (of bytes 0..60)
/// ```
///
/// Version 1 ("rdaos_ck") has no flags: its `hcrc` is at 56.
#[derive(Debug, Clone, Copy)]
struct CkptHdr {
    gen: u64,
    wal: WalPos,
    tail: u64,
    len: u64,
    crc: u32,
    /// [`CKPT_CLEAN`] or 0.
    flags: u32,
}

impl CkptHdr {
    fn encode(&self, block: usize) -> Vec<u8> {
        let mut e = Enc::new();
        e.u64(CKPT_MAGIC);
        e.u64(self.gen);
        e.u64(self.wal.seq);
        e.u64(self.wal.vblock);
        e.u32(self.wal.gen);
        e.u64(self.tail);
        e.u64(self.len);
        e.u32(self.crc);
        e.u32(self.flags);
        let c = crc32c::crc32c(&e.buf);
        e.u32(c);
        e.buf.resize(block, 0);
        e.buf
    }

    fn decode(b: &[u8]) -> Option<CkptHdr> {
        let magic = u64::from_le_bytes(b.get(0..8)?.try_into().ok()?);
        let size = match magic {
            CKPT_MAGIC => CKPT_HDR,
            CKPT_MAGIC_V1 => CKPT_HDR_V1,
            _ => return None,
        };
        let stored = u32::from_le_bytes(b.get(size - 4..size)?.try_into().ok()?);
        if crc32c::crc32c(&b[..size - 4]) != stored {
            return None;
        }
        let mut d = Dec::new(&b[8..size - 4], "checkpoint header");
        let gen = d.u64().ok()?;
        let wal = WalPos {
            seq: d.u64().ok()?,
            vblock: d.u64().ok()?,
            gen: d.u32().ok()?,
        };
        Some(CkptHdr {
            gen,
            wal,
            tail: d.u64().ok()?,
            len: d.u64().ok()?,
            crc: d.u32().ok()?,
            flags: if size == CKPT_HDR { d.u32().ok()? } else { 0 },
        })
    }
}

/// How long an allocation that reclaimed space waits, at most, for the
/// fetches still reading it to end before it answers ENOSPC.
const RECLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A commit held during a checkpoint: its op, its data (copied) and the
/// task its caller holds.
type Held = (IndexOp, Option<(DataAddr, Vec<u8>)>, Task);

pub(crate) struct State {
    pub(crate) index: Index,
    pub(crate) alloc: ExtentAlloc,
    ckpt_gen: u64,
    /// Updates committed and not yet applied (a checkpoint waits for them,
    /// so it never records a WAL position past an unapplied record).
    pending: usize,
    /// A checkpoint is waiting for `pending` to drain: new commits are
    /// held in `deferred` until it is written, so the wait ends.
    checkpointing: bool,
    /// Commits held during a checkpoint: the op, its data (copied) and the
    /// task the caller holds.
    deferred: Vec<Held>,
    /// A `vos_checkpoint` task is scheduled (the WAL passed half full).
    ckpt_scheduled: bool,
    /// Containers whose destroy is logged but not yet applied: they take
    /// no new updates.
    destroying: Vec<ContId>,
    /// Space a destroy or an abort released, held until a checkpoint has
    /// trimmed the WAL records that point into it (replay re-checks small
    /// records' data, so their space must not be rewritten while they can
    /// be replayed; aggregation follows the same rule).
    released: Vec<DataAddr>,
    /// Fetches started so far (each gets the next number), and those
    /// whose reads are still in flight.
    fetch_seq: u64,
    fetching: std::collections::BTreeSet<u64>,
    /// Space a checkpoint released while fetches were in flight, with the
    /// last fetch number then: a fetch that resolved its extents before
    /// the release may still be reading there, so the space goes back to
    /// the allocator only once every fetch up to that number ended (a
    /// reused block would otherwise fail that read's checksum).
    quarantine: Vec<(u64, Vec<DataAddr>)>,
    /// The stable horizon (see [`Target::set_stable_horizon`]): what an
    /// aggregation on demand may pass.
    stable: Option<Rc<dyn Fn() -> Epoch>>,
    /// The highest horizon any aggregation used.
    agg_epoch: Epoch,
    /// Aggregations run on demand because an allocation failed.
    reclaims: u64,
    /// The buffer each commit encodes its op into (kept, reused).
    rec_buf: Vec<u8>,
}

impl State {
    /// Returns `released` to the allocator, or holds it until the fetches
    /// in flight now have ended.
    fn release(&mut self, released: Vec<DataAddr>) -> Result<(), VosError> {
        if self.fetching.is_empty() {
            for a in released {
                self.alloc.free(a.off, a.len)?;
            }
        } else if !released.is_empty() {
            self.quarantine.push((self.fetch_seq, released));
        }
        Ok(())
    }

    /// Frees what no fetch still in flight can be reading.
    fn drain_quarantine(&mut self) {
        let oldest = self.fetching.first().copied().unwrap_or(u64::MAX);
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.quarantine)
            .into_iter()
            .partition(|(last, _)| *last < oldest);
        self.quarantine = wait;
        for a in ready.into_iter().flat_map(|(_, v)| v) {
            let _ = self.alloc.free(a.off, a.len);
        }
    }
}

/// One target's versioned object store, open on its device region.
#[derive(Clone)]
pub struct Target {
    pub(crate) ctx: BioCtx,
    pub(crate) sb: Superblock,
    tx: TxLog,
    pub(crate) st: Rc<RefCell<State>>,
}

impl Target {
    /// Formats a target region at `region_off` of `region_len` bytes and
    /// opens it.
    pub fn create(
        ctx: &BioCtx,
        region_off: u64,
        region_len: u64,
        pool: u128,
        target: u32,
        nr_targets: u32,
    ) -> Result<Target, VosError> {
        let geo = Geometry::plan(region_off, region_len, ctx.device().block_size())?;
        if region_off + geo.region_len > ctx.device().capacity() {
            return Err(VosError::TooSmall {
                what: "device",
                have: ctx.device().capacity(),
                need: region_off + geo.region_len,
            });
        }
        if target >= nr_targets {
            return Err(VosError::Inval("target id out of range"));
        }
        let created_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let sb = Superblock {
            version: FORMAT_VERSION,
            pool,
            target,
            nr_targets,
            geo,
            created_ns,
        };
        // Checkpoint generation 1 (empty) in slot 1, slot 0 invalidated:
        // generation g always lives in slot g % 2, so writing g + 1 never
        // touches g. The WAL starts at a fresh generation (from time and
        // ids, so an older pool's frames in the same place never parse).
        let gen = (created_ns as u32) ^ (pool as u32).rotate_left(7) ^ target.rotate_left(13);
        let bs = geo.block_size as usize;
        write_sync(ctx, geo.ckpt_slot(0), &vec![0u8; bs])?;
        let mut e = Enc::new();
        Index::new().encode(&mut e);
        write_ckpt(ctx, &geo, 1, 1, WalPos::start(gen), 0, &e.buf, CKPT_CLEAN)?;
        write_sync(ctx, geo.region_off, &sb.encode())?;
        Target::open(ctx, region_off)
    }

    /// Opens the target region at `region_off`: superblock, newest intact
    /// checkpoint, WAL replay, then a checkpoint. A region it cannot
    /// understand is refused before anything is written, and so is a WAL
    /// that lost acknowledged records ([`VosError::WalDamaged`]).
    pub fn open(ctx: &BioCtx, region_off: u64) -> Result<Target, VosError> {
        let (sb, h, body) = load(ctx, region_off)?;
        let geo = sb.geo;
        let bs = geo.block_size as u64;
        let mut d = Dec::new(&body, "checkpoint");
        let mut index = Index::decode(&mut d)?;
        d.finish()?;
        let wal = Wal::open(ctx, geo.wal_off, geo.wal_len, h.wal, h.tail).map_err(bio)?;
        let tx = TxLog::new(ctx, &wal);
        // After a clean close nothing follows the checkpoint's position:
        // no need to read the rest of the log's lap for later frames.
        let replayed = if h.flags & CKPT_CLEAN != 0 {
            tx.replay_closed(h.wal)
        } else {
            tx.replay(h.wal)
        };
        let replayed = replayed.map_err(|e| match e {
            BioError::WalDamaged(d) => VosError::WalDamaged {
                target: sb.target,
                source: d,
            },
            e => bio(e),
        })?;
        for (_, rec) in &replayed {
            let mut d = Dec::new(rec, "WAL record");
            let op = IndexOp::decode(&mut d)?;
            // Records are applied in log order both live and here, so an
            // op refused live (e.g. a second create of one container that
            // raced the first) is refused the same way now and skipping it
            // reproduces the live state. Space freed by a replayed destroy
            // needs no bookkeeping: the allocator is rebuilt below.
            let _ = index.apply(&op);
        }
        let mut alloc = ExtentAlloc::new(geo.data_len, bs)?;
        for a in index.data_extents() {
            alloc.reserve(a.off, a.len)?;
        }
        let t = Target {
            ctx: ctx.clone(),
            sb,
            tx,
            st: Rc::new(RefCell::new(State {
                index,
                alloc,
                ckpt_gen: h.gen,
                pending: 0,
                checkpointing: false,
                deferred: Vec::new(),
                ckpt_scheduled: false,
                destroying: Vec::new(),
                released: Vec::new(),
                fetch_seq: 0,
                fetching: Default::default(),
                quarantine: Vec::new(),
                stable: None,
                agg_epoch: 0,
                reclaims: 0,
                rec_buf: Vec::new(),
            })),
        };
        // Replay ended the WAL's generation: record where it continues.
        t.checkpoint()?;
        Ok(t)
    }

    /// The superblock.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// Writes the index to the older checkpoint slot with the WAL's
    /// position, then trims the WAL. Blocks until durable. Space released
    /// by ops applied before it (destroys, aborts, aggregation) returns to
    /// the allocator then: no replayable record points into it any more.
    ///
    /// It first waits for logged updates to be applied; commits made
    /// meanwhile (by tasks its progress runs) are held and issued once the
    /// checkpoint is written. Called while another checkpoint of the
    /// target is under way (from a task that one's progress ran), it
    /// returns at once: that checkpoint covers everything applied so far.
    pub fn checkpoint(&self) -> Result<(), VosError> {
        self.checkpoint_flags(0)
    }

    /// [`checkpoint`](Self::checkpoint), recording `flags` in its header.
    fn checkpoint_flags(&self, flags: u32) -> Result<(), VosError> {
        {
            let mut st = self.st.borrow_mut();
            if st.checkpointing {
                return Ok(());
            }
            st.checkpointing = true;
        }
        let r = self.checkpoint_now(flags);
        let held = {
            let mut st = self.st.borrow_mut();
            st.checkpointing = false;
            std::mem::take(&mut st.deferred)
        };
        for (op, data, done) in held {
            let data = data.as_ref().map(|(a, b)| (*a, &b[..]));
            match self.commit(op, data) {
                Ok(t) => {
                    let d = done.clone();
                    let _ = t.register_comp_cb(move |t| {
                        d.complete(t.result());
                        0
                    });
                }
                Err(e) => done.complete(e.rc()),
            }
        }
        r
    }

    fn checkpoint_now(&self, flags: u32) -> Result<(), VosError> {
        while self.st.borrow().pending > 0 {
            if self.ctx.sched().progress() == 0 {
                std::thread::yield_now();
            }
        }
        let wal = self.tx.wal();
        let pos = wal.head();
        let (buf, gen, released) = {
            let mut st = self.st.borrow_mut();
            let mut e = Enc::new();
            st.index.encode(&mut e);
            // Released by ops whose records lie before `pos`; anything
            // released while the checkpoint is written waits for the next.
            (e.buf, st.ckpt_gen + 1, std::mem::take(&mut st.released))
        };
        let slot = (gen % 2) as usize;
        let r = write_ckpt(
            &self.ctx,
            &self.sb.geo,
            slot,
            gen,
            pos,
            pos.vblock,
            &buf,
            flags,
        )
        .and_then(|_| wal.trim(pos).map_err(bio));
        let mut st = self.st.borrow_mut();
        if let Err(e) = r {
            st.released.extend(released);
            return Err(e);
        }
        st.ckpt_gen = gen;
        st.release(released)
    }

    /// A fetch resolves its extents: its number, for
    /// [`fetch_ended`](Self::fetch_ended).
    pub(crate) fn fetch_started(&self) -> u64 {
        let mut st = self.st.borrow_mut();
        st.fetch_seq += 1;
        let n = st.fetch_seq;
        st.fetching.insert(n);
        n
    }

    /// Fetch `n` read everything it needed: space released meanwhile
    /// that no other fetch may still read goes back to the allocator.
    pub(crate) fn fetch_ended(&self, n: u64) {
        let mut st = self.st.borrow_mut();
        st.fetching.remove(&n);
        if !st.quarantine.is_empty() {
            st.drain_quarantine();
        }
    }

    /// Aggregation (`vos_aggregate`): drops the versions no reader at or
    /// above `horizon` can see, makes that durable (a checkpoint, so
    /// replay can never bring them back), then returns their space to the
    /// allocator (held while fetches that resolved it are in flight).
    /// Returns the bytes freed.
    ///
    /// Why reuse is then safe. Every version dropped is covered, for
    /// every reader at or above `horizon`, by a newer version or punch at
    /// or below it, and that newer op was applied to the index, which
    /// happens only once its record is durable under the pool's contract
    /// (see the completion of `Target::commit`). The space goes back to the
    /// allocator only after the checkpoint that records the aggregated
    /// index is written, flushed and the WAL trimmed past both records: a
    /// crash after a reuse restarts from that checkpoint (or a later one),
    /// so no replay ever re-applies the dropped version's record over
    /// blocks that now hold other data, nor checks its data there (which
    /// would end the log early), and the covering op is in the checkpoint
    /// itself. A crash before that checkpoint is intact leaves the older
    /// checkpoint and a WAL that still points at the old blocks, which
    /// were not reused yet.
    ///
    /// The caller guarantees nothing older than `horizon` is still needed:
    /// no reader reads below it (the engine raises late readers' epochs to
    /// [`aggregated_epoch`](Self::aggregated_epoch)), no update below it is
    /// still to come (the engine restarts them) and no transaction at or
    /// below it may still be aborted.
    pub fn aggregate(&self, horizon: Epoch) -> Result<u64, VosError> {
        let freed = {
            let mut st = self.st.borrow_mut();
            st.agg_epoch = st.agg_epoch.max(horizon);
            st.index.aggregate(horizon)
        };
        if freed.is_empty() {
            return Ok(0);
        }
        // Freed by the checkpoint that records the aggregated index (this
        // one, or the one under way if this runs inside it).
        let bytes = freed.iter().map(|a| a.len).sum();
        self.st.borrow_mut().released.extend(freed);
        self.checkpoint()?;
        Ok(bytes)
    }

    /// Sets the stable horizon: a function returning the newest epoch that
    /// nothing in flight still needs below (no reader, no update still to
    /// arrive, no transaction that may abort). With it, an allocation
    /// that finds no free extent aggregates at that horizon and tries
    /// once more before it fails ([`VosError::NoSpace`]); without it, it
    /// fails at once. The engine sets it from the epochs in flight on the
    /// target.
    pub fn set_stable_horizon(&self, horizon: impl Fn() -> Epoch + 'static) {
        self.st.borrow_mut().stable = Some(Rc::new(horizon));
    }

    /// The highest horizon any aggregation used so far: versions at or
    /// below it may have been folded, so an update at or below it must
    /// not be applied (it could land under a punch whose subtree is gone)
    /// and a read below it sees what a read at it sees.
    pub fn aggregated_epoch(&self) -> Epoch {
        self.st.borrow().agg_epoch
    }

    /// True while a checkpoint of the target is under way (its I/O
    /// progresses the target's scheduler, so tasks run inside it). A
    /// blocking call that logs an op ([`cont_create`](Self::cont_create),
    /// [`cont_destroy`](Self::cont_destroy)) must not run then: its
    /// commit is held until the checkpoint ends, which cannot happen while
    /// it waits under it. The engine postpones such requests.
    pub fn checkpointing(&self) -> bool {
        self.st.borrow().checkpointing
    }

    /// Aggregations run on demand so far (an allocation found no room).
    pub fn reclaims(&self) -> u64 {
        self.st.borrow().reclaims
    }

    /// `vos_update_begin`'s space check: Ok if `len` bytes can be
    /// allocated now. If not, reclaims on demand (an aggregation at the
    /// stable horizon, its checkpoint, and the wait for fetches still
    /// reading what it freed), then checks once more; only then
    /// [`VosError::NoSpace`]. Inside a checkpoint already under way on
    /// this thread (a task its progress ran) nothing can be reclaimed
    /// now: [`VosError::Reclaiming`], which the client retries.
    pub(crate) fn reserve_space(&self, len: u64) -> Result<(), VosError> {
        let (stable, nested) = {
            let st = self.st.borrow();
            if st.alloc.fits(len) {
                return Ok(());
            }
            (st.stable.clone(), st.checkpointing)
        };
        if let Some(h) = stable {
            if nested {
                return Err(VosError::Reclaiming);
            }
            let horizon = h();
            self.st.borrow_mut().reclaims += 1;
            let freed = {
                let mut st = self.st.borrow_mut();
                st.agg_epoch = st.agg_epoch.max(horizon);
                st.index.aggregate(horizon)
            };
            // Space aborts and destroys released waits for a checkpoint
            // too: one checkpoint returns both.
            let waiting = {
                let mut st = self.st.borrow_mut();
                st.released.extend(freed);
                !st.released.is_empty()
            };
            if waiting {
                self.checkpoint()?;
            }
            // What fetches in flight still read comes back as they end;
            // they wait only for their device reads.
            let deadline = std::time::Instant::now() + RECLAIM_WAIT;
            loop {
                {
                    let st = self.st.borrow();
                    if st.alloc.fits(len) {
                        return Ok(());
                    }
                    if st.quarantine.is_empty() || std::time::Instant::now() > deadline {
                        break;
                    }
                }
                if self.ctx.sched().progress() == 0 {
                    std::thread::yield_now();
                }
            }
        }
        let st = self.st.borrow();
        Err(VosError::NoSpace {
            need: st.alloc.round(len),
            free: st.alloc.free_bytes(),
        })
    }

    /// The longest free extent in the data region: the largest value an
    /// update can store now.
    pub fn largest_free(&self) -> u64 {
        self.st.borrow().alloc.largest_free()
    }

    /// Starts aggregation as a background task on the target's scheduler:
    /// every `interval` it aggregates below `horizon()` (the oldest epoch
    /// any reader may still use). Complete the returned task to stop it.
    pub fn start_aggregation(
        &self,
        interval: std::time::Duration,
        horizon: impl Fn() -> Epoch + 'static,
    ) -> Task {
        let t = self.clone();
        let task = self.ctx.sched().create_named("vos_aggregate", move |task| {
            // An error (a checkpoint that could not be written) stops it:
            // the task completes with that status.
            match t.aggregate(horizon()) {
                Ok(_) => {
                    let _ = task.reinit_delayed(interval);
                }
                Err(e) => task.complete(e.rc()),
            }
        });
        let _ = task.schedule_delayed(interval);
        task
    }

    /// `vos_cont_create`: creates container `id` labelled `label` (unique
    /// on the target; DAOS's label rules) and opens it. Blocks, progressing
    /// the target's scheduler, until the creation is durable.
    pub fn cont_create(&self, id: ContId, label: &str) -> Result<Cont, VosError> {
        let op = IndexOp::ContCreate {
            cont: id,
            label: label.to_string(),
        };
        self.st.borrow().index.check(&op)?;
        let t = self.commit(op, None)?;
        match self.ctx.sched().progress_until(&t) {
            0 => self.cont_open(id),
            rc => Err(VosError::IoStatus {
                what: "container create".into(),
                rc,
            }),
        }
    }

    /// `vos_cont_open`: opens container `id`.
    pub fn cont_open(&self, id: ContId) -> Result<Cont, VosError> {
        match self.st.borrow().index.cont_label(id) {
            Some(_) => Ok(Cont {
                t: self.clone(),
                id,
            }),
            None => Err(VosError::NoCont(id.to_string())),
        }
    }

    /// Opens the container labelled `label`.
    pub fn cont_open_label(&self, label: &str) -> Result<Cont, VosError> {
        let id = self.st.borrow().index.cont_by_label(label);
        match id {
            Some(id) => self.cont_open(id),
            None => Err(VosError::NoCont(label.to_string())),
        }
    }

    /// Every container on the target: (id, label), in id order.
    pub fn cont_list(&self) -> Vec<(ContId, String)> {
        self.st.borrow().index.conts()
    }

    /// Gives container `id` the label `label` (unique on the target;
    /// DAOS's label rules): one log record, so a crash leaves the old
    /// label or the new one. Relabelling it as the label it has is a
    /// success that writes nothing. Blocks until the change is durable.
    pub fn cont_relabel(&self, id: ContId, label: &str) -> Result<(), VosError> {
        let op = IndexOp::ContRelabel {
            cont: id,
            label: label.to_string(),
        };
        {
            let st = self.st.borrow();
            st.index.check(&op)?;
            if st.index.cont_label(id) == Some(label) {
                return Ok(());
            }
        }
        let t = self.commit(op, None)?;
        match self.ctx.sched().progress_until(&t) {
            0 => Ok(()),
            rc => Err(VosError::IoStatus {
                what: "container relabel".into(),
                rc,
            }),
        }
    }

    /// `vos_cont_destroy`: destroys container `id` and everything in it,
    /// and frees its space. Updates already submitted complete first;
    /// new ones are refused with [`VosError::ContBusy`] at once. Blocks
    /// until the destroy is durable and checkpointed (the space is reused
    /// only then).
    pub fn cont_destroy(&self, id: ContId) -> Result<(), VosError> {
        let op = IndexOp::ContDestroy { cont: id };
        {
            let mut st = self.st.borrow_mut();
            st.index.check(&op)?;
            if st.destroying.contains(&id) {
                return Err(VosError::ContBusy(id));
            }
            st.destroying.push(id);
        }
        let r = self
            .commit(op, None)
            .and_then(|t| match self.ctx.sched().progress_until(&t) {
                0 => Ok(()),
                rc => Err(VosError::IoStatus {
                    what: "container destroy".into(),
                    rc,
                }),
            })
            // Its space is reusable once no replayable record points there:
            // the checkpoint frees it.
            .and_then(|_| self.checkpoint());
        self.st.borrow_mut().destroying.retain(|c| *c != id);
        r
    }

    /// The next version at `epoch` for an update of container `cont`
    /// (refused while the container is being destroyed).
    pub(crate) fn next_version_in(
        &self,
        st: &mut State,
        cont: ContId,
        epoch: Epoch,
    ) -> Result<Version, VosError> {
        Target::check_not_destroying(st, cont)?;
        st.index.next_version(epoch)
    }

    /// Refuses ops on container `cont` while its destroy is in flight.
    pub(crate) fn check_not_destroying(st: &State, cont: ContId) -> Result<(), VosError> {
        match st.destroying.contains(&cont) {
            true => Err(VosError::ContBusy(cont)),
            false => Ok(()),
        }
    }

    /// Checkpoints and closes the target. The checkpoint says the close
    /// was clean, so the next open need not look past it for frames
    /// written after damage.
    pub fn close(self) -> Result<(), VosError> {
        self.checkpoint_flags(CKPT_CLEAN)
    }

    /// Logs `op` (with its data) and applies it once durable. Checkpoints
    /// first when the WAL is more than half full (DAOS's default
    /// threshold), which keeps replay bounded and the log from filling.
    pub(crate) fn commit(
        &self,
        op: IndexOp,
        data: Option<(DataAddr, &[u8])>,
    ) -> Result<Task, VosError> {
        {
            let mut st = self.st.borrow_mut();
            if st.checkpointing {
                // Held until the checkpoint is written (it waits for the
                // updates in flight; this one would keep it waiting).
                let done = self.ctx.sched().create_empty("vos_update_end");
                let _ = done.schedule(true);
                st.deferred
                    .push((op, data.map(|(a, b)| (a, b.to_vec())), done.clone()));
                return Ok(done);
            }
        }
        let (used, total) = self.tx.wal().usage();
        if used * 2 > total {
            self.schedule_checkpoint();
        }
        // The op's bytes, in the target's reused record buffer (bio copies
        // them into the log's queue).
        let mut rec = Enc {
            buf: std::mem::take(&mut self.st.borrow_mut().rec_buf),
        };
        rec.buf.clear();
        op.encode(&mut rec);
        let bs = self.sb.geo.block_size as u64;
        let padded;
        let one;
        let writes: &[TxData] = match data {
            Some((addr, bytes)) => {
                let len = round_up(bytes.len() as u64, bs) as usize;
                padded = if len == bytes.len() {
                    None
                } else {
                    let mut p = bytes.to_vec();
                    p.resize(len, 0);
                    Some(p)
                };
                // The record carries the checksum vos computed for the
                // index (a sum of chunk sums for chunked extents), so replay
                // can check the data of an update the log does not mark
                // acknowledged.
                let chunk = match &op {
                    IndexOp::UpdateArray {
                        chunks: Some(c), ..
                    } => c.chunk,
                    _ => 0,
                };
                one = [TxData {
                    off: self.sb.geo.data_off + addr.off,
                    bytes: padded.as_deref().unwrap_or(bytes),
                    sum: Some(DataSum {
                        len: bytes.len() as u64,
                        chunk,
                        csum: addr.csum,
                    }),
                }];
                &one
            }
            None => &[],
        };
        let freed = data.map(|(a, _)| a);
        let committed = self.tx.commit_summed(writes, &rec.buf);
        self.st.borrow_mut().rec_buf = rec.buf;
        let tx = match committed {
            Ok(t) => t,
            Err(e) => {
                if let Some(a) = freed {
                    let _ = self.st.borrow_mut().alloc.free(a.off, a.len);
                }
                return Err(bio(e));
            }
        };
        self.st.borrow_mut().pending += 1;
        let st = self.st.clone();
        // Completed by the commit's callback once the op is applied.
        let done = self.ctx.sched().create_empty("vos_update_end");
        let d2 = done.clone();
        let _ = tx.register_comp_cb(move |t| {
            let rc = t.result();
            // Decide under the borrow, complete after it: the completion
            // runs the caller's callbacks, which may issue the next update.
            let status = {
                let mut st = st.borrow_mut();
                st.pending -= 1;
                if rc == 0 {
                    // Published: durable, now visible.
                    match st.index.apply(&op) {
                        Ok(released) => {
                            st.released.extend(released);
                            0
                        }
                        Err(e) => {
                            // Refused now although checked before logging
                            // (two creates of one container raced): the op
                            // is not applied, here or on replay.
                            if let Some(a) = freed {
                                let _ = st.alloc.free(a.off, a.len);
                            }
                            e.rc()
                        }
                    }
                } else {
                    if let Some(a) = freed {
                        let _ = st.alloc.free(a.off, a.len);
                    }
                    rc
                }
            };
            d2.complete(status);
            0
        });
        done.schedule(true).ok();
        // `done` stays running until the commit's callback completes it.
        Ok(done)
    }

    /// Schedules a checkpoint as a task of its own (`vos_checkpoint`), so
    /// it never runs inside another task's completion; one at a time.
    fn schedule_checkpoint(&self) {
        {
            let mut st = self.st.borrow_mut();
            if st.ckpt_scheduled {
                return;
            }
            st.ckpt_scheduled = true;
        }
        let me = self.clone();
        let t = self.ctx.sched().create_named("vos_checkpoint", move |t| {
            me.st.borrow_mut().ckpt_scheduled = false;
            let r = me.checkpoint();
            t.complete(r.err().map_or(0, |e| e.rc()));
        });
        if t.schedule(false).is_err() {
            self.st.borrow_mut().ckpt_scheduled = false;
        }
    }

    /// The index (read-only), for enumeration and `query_key_max`.
    pub fn with_index<R>(&self, f: impl FnOnce(&Index) -> R) -> R {
        f(&self.st.borrow().index)
    }

    /// WAL records made durable and frames written since open (records
    /// per frame is the group-commit factor).
    pub fn wal_counters(&self) -> (u64, u64) {
        self.tx.wal().counters()
    }

    /// Bytes free in the data region.
    pub fn free_bytes(&self) -> u64 {
        self.st.borrow().alloc.free_bytes()
    }
}

/// Reads the superblock of the target region at `region_off` and its
/// newest intact checkpoint (header and body). Reads only.
fn load(ctx: &BioCtx, region_off: u64) -> Result<(Superblock, CkptHdr, Vec<u8>), VosError> {
    let bs = ctx.device().block_size() as u64;
    if region_off % bs != 0 || region_off + bs > ctx.device().capacity() {
        return Err(VosError::Inval(
            "region offset not on the device or not block aligned",
        ));
    }
    let sb = Superblock::decode(&read(ctx, region_off, bs)?)?;
    let geo = sb.geo;
    if geo.block_size as u64 != bs {
        return Err(VosError::Corrupt(format!(
            "pool made with {}-byte blocks, device has {bs}",
            geo.block_size
        )));
    }
    if geo.region_off != region_off || geo.region_off + geo.region_len > ctx.device().capacity() {
        return Err(VosError::Corrupt(
            "superblock geometry does not fit the device".into(),
        ));
    }
    // The newest intact checkpoint.
    let mut best: Option<(CkptHdr, Vec<u8>)> = None;
    for slot in 0..2 {
        let off = geo.ckpt_slot(slot);
        let Some(h) = CkptHdr::decode(&read(ctx, off, bs)?) else {
            continue;
        };
        if h.len > geo.ckpt_len - bs || best.as_ref().is_some_and(|b| b.0.gen >= h.gen) {
            continue;
        }
        let body = if h.len == 0 {
            Vec::new()
        } else {
            let mut b = read(ctx, off + bs, round_up(h.len, bs))?;
            b.truncate(h.len as usize);
            b
        };
        if crc32c::crc32c(&body) != h.crc {
            continue;
        }
        best = Some((h, body));
    }
    let Some((h, body)) = best else {
        return Err(VosError::Corrupt(
            "no intact checkpoint in either slot".into(),
        ));
    };
    Ok((sb, h, body))
}

/// What [`Target::check`] found: what opening the target would replay,
/// and whether its log lost acknowledged records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetCheck {
    /// The target.
    pub target: u32,
    /// Generation of the checkpoint the replay starts from.
    pub checkpoint: u64,
    /// What the log holds past it (see [`bio::LogCheck`]).
    pub log: LogCheck,
}

impl Target {
    /// Checks the target region at `region_off` without opening it or
    /// writing anything: the checkpoint an open would start from and what
    /// its WAL replay would find (how many records it applies, a torn
    /// tail it drops, or damage that makes the open refuse, with what a
    /// salvage up to the damage would keep).
    pub fn check(ctx: &BioCtx, region_off: u64) -> Result<TargetCheck, VosError> {
        let (sb, h, _) = load(ctx, region_off)?;
        let geo = sb.geo;
        let wal = Wal::open(ctx, geo.wal_off, geo.wal_len, h.wal, h.tail).map_err(bio)?;
        let log = TxLog::new(ctx, &wal).check(h.wal).map_err(bio)?;
        Ok(TargetCheck {
            target: sb.target,
            checkpoint: h.gen,
            log,
        })
    }
}

/// A target's data space as its newest intact checkpoint records it
/// (what [`Target::space_at_checkpoint`] reads without opening it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointSpace {
    /// The target.
    pub target: u32,
    /// Bytes of its data region.
    pub data_space: u64,
    /// Bytes the checkpointed index points at (each extent rounded up to
    /// whole blocks, as allocated).
    pub used: u64,
    /// The checkpoint was written by a clean close: nothing was logged
    /// after it, so `used` is exact. Otherwise updates, punches and
    /// aggregations since it are not counted.
    pub clean: bool,
}

impl Target {
    /// The space of the target region at `region_off` as of its newest
    /// intact checkpoint, read without opening it or writing anything
    /// (safe beside an engine that has it open: a slot being rewritten
    /// fails its checksum and the other slot is read).
    pub fn space_at_checkpoint(ctx: &BioCtx, region_off: u64) -> Result<CheckpointSpace, VosError> {
        let (sb, h, body) = load(ctx, region_off)?;
        let mut d = Dec::new(&body, "checkpoint");
        let index = Index::decode(&mut d)?;
        d.finish()?;
        let bs = sb.geo.block_size as u64;
        let used = index
            .data_extents()
            .iter()
            .map(|a| round_up(a.len, bs))
            .sum::<u64>()
            .min(sb.geo.data_len);
        Ok(CheckpointSpace {
            target: sb.target,
            data_space: sb.geo.data_len / bs * bs,
            used,
            clean: h.flags & CKPT_CLEAN != 0,
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn write_ckpt(
    ctx: &BioCtx,
    geo: &Geometry,
    slot: usize,
    gen: u64,
    wal: WalPos,
    tail: u64,
    body: &[u8],
    flags: u32,
) -> Result<(), VosError> {
    let bs = geo.block_size as u64;
    if body.len() as u64 > geo.ckpt_len - bs {
        return Err(VosError::TooSmall {
            what: "checkpoint slot",
            have: geo.ckpt_len - bs,
            need: body.len() as u64,
        });
    }
    let hdr = CkptHdr {
        gen,
        wal,
        tail,
        len: body.len() as u64,
        crc: crc32c::crc32c(body),
        flags,
    };
    let mut buf = hdr.encode(bs as usize);
    buf.extend_from_slice(body);
    buf.resize(round_up(buf.len() as u64, bs) as usize, 0);
    write_sync(ctx, geo.ckpt_slot(slot), &buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ContId, ObjId, Recx};
    use bio::{BioConfig, DevKind, DevOpts};
    use tse::Sched;

    #[test]
    fn checkpoint_headers_of_both_versions_decode() {
        // Version 1, byte for byte as the first format wrote it.
        let mut e = Enc::new();
        e.u64(CKPT_MAGIC_V1);
        for v in [7u64, 12, 3] {
            e.u64(v);
        }
        e.u32(0xabc);
        e.u64(3);
        e.u64(4096);
        e.u32(0x1234_5678);
        let c = crc32c::crc32c(&e.buf);
        e.u32(c);
        assert_eq!(e.buf.len(), CKPT_HDR_V1);
        e.buf.resize(4096, 0);
        let h = CkptHdr::decode(&e.buf).unwrap();
        assert_eq!(
            (h.gen, h.wal.seq, h.wal.vblock, h.wal.gen),
            (7, 12, 3, 0xabc)
        );
        assert_eq!((h.tail, h.len, h.crc, h.flags), (3, 4096, 0x1234_5678, 0));
        // Version 2 round-trips its flags; a flipped flag bit is refused.
        let v2 = CkptHdr {
            flags: CKPT_CLEAN,
            ..h
        }
        .encode(4096);
        assert_eq!(CkptHdr::decode(&v2).unwrap().flags, CKPT_CLEAN);
        let mut bad = v2.clone();
        bad[56] ^= 2;
        assert!(CkptHdr::decode(&bad).is_none());
    }

    #[test]
    fn space_freed_under_a_fetch_in_flight_waits_for_it() {
        let path =
            std::env::temp_dir().join(format!("rdaos-vos-quarantine-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let s = Sched::new();
        let opts = DevOpts {
            kind: DevKind::File,
            create_size: Some(64 << 20),
            iopoll: None,
        };
        let ctx = BioCtx::open(&s.handle(), &path, &opts, &BioConfig::default()).unwrap();
        let t = Target::create(&ctx, 0, 64 << 20, 0x9a, 0, 1).unwrap();
        let c = t.cont_create(ContId(1), "q").unwrap();
        let oid = ObjId::new(1, 1);
        let (task, v) = c
            .update_array_tx(oid, b"d", b"a", 1, Recx::new(0, 1 << 20), 1, &[5; 1 << 20])
            .unwrap();
        assert_eq!(s.progress_until(&task), 0);
        // A fetch that resolved the extent is still reading it when an
        // abort frees the extent and a checkpoint releases the space.
        let reader = t.fetch_started();
        assert_eq!(s.progress_until(&c.abort(oid, b"d", b"a", v).unwrap()), 0);
        let before = t.free_bytes();
        t.checkpoint().unwrap();
        assert_eq!(t.free_bytes(), before, "held while the fetch reads");
        // A fetch started after the release never saw the extent: it
        // does not hold the space.
        let later = t.fetch_started();
        t.fetch_ended(reader);
        assert_eq!(t.free_bytes(), before + (1 << 20));
        t.fetch_ended(later);
        // With no fetch in flight, released space is free at once.
        let (task, v) = c
            .update_array_tx(oid, b"d", b"a", 2, Recx::new(0, 1 << 20), 1, &[6; 1 << 20])
            .unwrap();
        assert_eq!(s.progress_until(&task), 0);
        let used = t.free_bytes();
        assert_eq!(s.progress_until(&c.abort(oid, b"d", b"a", v).unwrap()), 0);
        t.checkpoint().unwrap();
        assert_eq!(t.free_bytes(), used + (1 << 20));
        drop(t);
        let _ = std::fs::remove_file(&path);
    }

    fn small_target(name: &str) -> (Sched, BioCtx, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("rdaos-vos-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let s = Sched::new();
        let opts = DevOpts {
            kind: DevKind::File,
            create_size: Some(16 << 20),
            iopoll: None,
        };
        let ctx = BioCtx::open(&s.handle(), &path, &opts, &BioConfig::default()).unwrap();
        (s, ctx, path)
    }

    #[test]
    fn a_full_region_reclaims_on_demand_below_the_stable_horizon() {
        let (s, ctx, path) = small_target("reclaim");
        let t = Target::create(&ctx, 0, 16 << 20, 0x9b, 0, 1).unwrap();
        let c = t.cont_create(ContId(1), "r").unwrap();
        let oid = ObjId::new(1, 1);
        let mib = 1u64 << 20;
        let data_len = t.superblock().geo.data_len;
        let put = |e: Epoch, b: u8| {
            c.update_array(
                oid,
                b"d",
                b"a",
                e,
                Recx::new(0, mib),
                1,
                &vec![b; mib as usize],
            )
            .and_then(|task| match s.progress_until(&task) {
                0 => Ok(()),
                rc => Err(VosError::IoStatus {
                    what: "update".into(),
                    rc,
                }),
            })
        };
        // Without a stable horizon, overwrites fill the region: ENOSPC.
        let mut e = 1;
        let err = loop {
            match put(e, e as u8) {
                Ok(()) => e += 1,
                Err(err) => break err,
            }
        };
        assert!(matches!(err, VosError::NoSpace { .. }), "{err}");
        assert!(e * mib <= data_len + mib && t.reclaims() == 0);
        // With one, the allocation that finds no room aggregates what the
        // newest durable version covers, checkpoints, and goes on: an
        // overwrite loop of many times the region's size succeeds.
        let horizon = Rc::new(std::cell::Cell::new(0));
        let h = horizon.clone();
        t.set_stable_horizon(move || h.get());
        let first = e;
        for _ in 0..(4 * data_len / mib) {
            horizon.set(e - 1);
            put(e, e as u8).unwrap();
            e += 1;
        }
        assert!(t.reclaims() >= 3, "{} reclaims", t.reclaims());
        assert!(t.aggregated_epoch() >= first);
        let (got, _) = c
            .fetch_array(oid, b"d", b"a", e, Recx::new(0, mib))
            .unwrap();
        assert!(got.iter().all(|&b| b == (e - 1) as u8));
        // A punch (an rm) frees the whole value once the horizon passes
        // it: a value as large as the region then fits at once.
        let p = e;
        assert_eq!(s.progress_until(&c.punch(oid, None, None, p).unwrap()), 0);
        horizon.set(p);
        assert!(t.free_bytes() < data_len);
        let big = data_len - 4096;
        let task = c
            .update_array(
                oid,
                b"x",
                b"a",
                p + 1,
                Recx::new(0, big),
                1,
                &vec![7; big as usize],
            )
            .unwrap();
        assert_eq!(s.progress_until(&task), 0);
        // Truly full: ENOSPC with the sizes.
        let err = put(p + 2, 1).unwrap_err();
        assert!(
            matches!(err, VosError::NoSpace { need, .. } if need == mib),
            "{err}"
        );
        t.close().unwrap();
        let sp = Target::space_at_checkpoint(&ctx, 0).unwrap();
        assert!(sp.clean && sp.target == 0);
        assert_eq!(sp.used, big);
        assert_eq!(sp.data_space, data_len);
        drop(ctx);
        let _ = std::fs::remove_file(&path);
    }
}
