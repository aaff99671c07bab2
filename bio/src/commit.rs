//! Transaction commit in DAOS's order: an update's data extents reach the
//! device (`data_completion`) and the WAL record that makes them visible is
//! durable (`wal_completion`) before the update is acknowledged, and
//! acknowledgements come in transaction order.
//!
//! * Large updates (more than [`ASYNC_DATA_MAX`] bytes of data, as DAOS's
//!   `bio_max_async_sz`): the WAL record is appended only once the data
//!   writes completed, so the flush that makes the record durable also
//!   covers the data.
//! * Small updates: the data writes and the WAL record go out together;
//!   the record carries each data extent's crc32c, and replay re-reads and
//!   checks the extents of every record, ending the log at the first one
//!   whose data did not make it (a torn data write is never replayed).
//!   The record's own flush may run before the data write finished, so
//!   the transaction also waits for a [`Wal::barrier`] taken when its data
//!   completed (usually the next group-commit frame): an acknowledged
//!   small update is durable even on a device with a volatile write
//!   cache, not merely written. (DAOS skips this: it expects SSDs with
//!   power-loss protection.) If the data write fails, its record is in
//!   the log already and replay will end there, so the log is poisoned
//!   ([`Wal::poison_at`]) and every later transaction fails too, even one
//!   whose own record is durable: nothing acknowledged is lost at the
//!   next open.
//!
//! The record on the WAL is `n u32 | n x (off u64, len u64, crc u32) |
//! payload`; [`TxLog::replay`] returns the payloads of the records whose
//! data checks out. A large update's record has [`DATA_FIRST`] set in `n`
//! and no checksums (zeros): it was appended only after its data was
//! written, and the flush that made it durable covered that data, so
//! replay neither computes nor reads anything for it. (Without the flag,
//! replay read back every large extent still in the log at each open, and
//! bit rot in one of them, long after it was acknowledged, would have
//! ended the log there and dropped every later acknowledged update.)

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use tse::Task;

use crate::ctx::{BioCtx, Iod};
use crate::error::BioError;
use crate::wal::{Wal, WalPos};

/// Largest amount of data written together with its WAL record.
pub const ASYNC_DATA_MAX: u64 = 32 << 10;

/// The high bit of a record's extent count: the data was durable before
/// the record was written, and replay does not check it.
pub const DATA_FIRST: u32 = 1 << 31;

/// A data extent of a transaction: where it goes and its bytes' checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxExtent {
    /// Device offset.
    pub off: u64,
    /// Length in bytes.
    pub len: u64,
    /// crc32c of the bytes.
    pub csum: u32,
}

fn encode(extents: &[TxExtent], data_first: bool, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(4 + extents.len() * 20 + payload.len());
    let flag = if data_first { DATA_FIRST } else { 0 };
    r.extend_from_slice(&(extents.len() as u32 | flag).to_le_bytes());
    for e in extents {
        r.extend_from_slice(&e.off.to_le_bytes());
        r.extend_from_slice(&e.len.to_le_bytes());
        r.extend_from_slice(&e.csum.to_le_bytes());
    }
    r.extend_from_slice(payload);
    r
}

/// The record's extents, whether its data was written first, and its
/// payload.
fn decode(rec: &[u8]) -> Option<(Vec<TxExtent>, bool, &[u8])> {
    let word = u32::from_le_bytes(rec.get(0..4)?.try_into().ok()?);
    let n = (word & !DATA_FIRST) as usize;
    let body = rec.get(4..4usize.checked_add(n.checked_mul(20)?)?)?;
    let extents = body
        .chunks_exact(20)
        .map(|c| TxExtent {
            off: u64::from_le_bytes(c[0..8].try_into().unwrap_or([0; 8])),
            len: u64::from_le_bytes(c[8..16].try_into().unwrap_or([0; 8])),
            csum: u32::from_le_bytes(c[16..20].try_into().unwrap_or([0; 4])),
        })
        .collect();
    Some((extents, word & DATA_FIRST != 0, &rec[4 + n * 20..]))
}

/// Orders `tx` after the transaction whose record was appended before its
/// own, and makes it the last.
fn chain_after_last(last: &RefCell<Option<Task>>, tx: &Task) {
    if let Some(prev) = last.borrow_mut().replace(tx.clone()) {
        if !prev.is_completed() && !prev.same(tx) {
            let _ = tx.register_dep(&prev);
        }
    }
}

/// Commits transactions (data + WAL record) on one target.
#[derive(Clone)]
pub struct TxLog {
    ctx: BioCtx,
    wal: Wal,
    /// The transaction whose record was appended last: the next one to
    /// append completes after it.
    last: Rc<RefCell<Option<Task>>>,
}

impl TxLog {
    /// Commits through `wal` on `ctx`'s device.
    pub fn new(ctx: &BioCtx, wal: &Wal) -> TxLog {
        TxLog {
            ctx: ctx.clone(),
            wal: wal.clone(),
            last: Rc::default(),
        }
    }

    /// The WAL underneath.
    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// Commits one transaction: writes `data` (each `(offset, bytes)`)
    /// and logs `payload` with the data's checksums. The returned task
    /// completes once data and record are durable and every earlier
    /// transaction has completed; its result is the first error.
    pub fn commit(&self, data: &[(u64, &[u8])], payload: &[u8]) -> Result<Task, BioError> {
        let total: u64 = data.iter().map(|(_, b)| b.len() as u64).sum();
        let data_first = total > ASYNC_DATA_MAX;
        let mut extents = Vec::with_capacity(data.len());
        let mut iods: Vec<Iod> = Vec::with_capacity(data.len());
        for (off, bytes) in data {
            iods.push(self.ctx.iod(&[(*off, bytes.len() as u64)], Some(bytes))?);
            extents.push(TxExtent {
                off: *off,
                len: bytes.len() as u64,
                // Only what replay checks.
                csum: if data_first { 0 } else { crc32c::crc32c(bytes) },
            });
        }
        if let Some(rc) = self.wal.poisoned() {
            return Err(BioError::Poisoned(rc));
        }
        let record = encode(&extents, data_first, payload);
        let sched = self.ctx.sched().clone();
        let tx = sched.create_named("vos_tx_commit", |t| t.complete(0));
        let data_done = sched.create_named("data_completion", |t| t.complete(0));
        let posts: Vec<Task> = iods.iter().map(|i| i.prep_post(false)).collect();
        data_done
            .register_deps(&posts)
            .map_err(|_| BioError::Inval("data task".into()))?;
        data_done
            .schedule(false)
            .map_err(|_| BioError::Inval("scheduler closed".into()))?;
        // Transactions are acknowledged in WAL order (DAOS's transaction
        // id order): each waits for the one whose record precedes its own,
        // so a record that replay must drop (its data torn) is never
        // followed by an acknowledged one.
        let mut deps = vec![data_done.clone()];
        // The record's sequence once appended (u64::MAX until then).
        let my_seq = Rc::new(Cell::new(u64::MAX));
        let wal_done = if !data_first {
            // Together: the record's checksums let replay spot torn data.
            let (seq, w) = self.wal.append(record)?;
            my_seq.set(seq);
            chain_after_last(&self.last, &tx);
            if total > 0 {
                // And a flush issued after the data completed.
                let gate = sched.create_empty("");
                let g = gate.clone();
                let wal = self.wal.clone();
                data_done
                    .register_comp_cb(move |d| {
                        if d.result() != 0 {
                            // The record is in the log and its data will
                            // never check out: replay ends there, so no
                            // later transaction may be acknowledged.
                            wal.poison_at(seq, d.result());
                            g.complete(d.result());
                            return 0;
                        }
                        match wal.barrier() {
                            Ok(b) => {
                                let g2 = g.clone();
                                let _ = b.register_comp_cb(move |b| {
                                    g2.complete(b.result());
                                    0
                                });
                            }
                            Err(e) => g.complete(e.rc()),
                        }
                        0
                    })
                    .map_err(|_| BioError::Inval("data task".into()))?;
                deps.push(gate);
            }
            w
        } else {
            // Data first: append once the data writes completed.
            let wal = self.wal.clone();
            let gate = sched.create_empty("");
            let g = gate.clone();
            let rec = RefCell::new(Some(record));
            let last = self.last.clone();
            let me = tx.clone();
            let seq_slot = my_seq.clone();
            data_done
                .register_comp_cb(move |d| {
                    let record = rec.borrow_mut().take().unwrap_or_default();
                    if d.result() != 0 {
                        g.complete(d.result());
                        return 0;
                    }
                    match wal.append(record) {
                        Ok((seq, w)) => {
                            seq_slot.set(seq);
                            chain_after_last(&last, &me);
                            let g2 = g.clone();
                            let _ = w.register_comp_cb(move |w| {
                                g2.complete(w.result());
                                0
                            });
                        }
                        Err(e) => g.complete(e.rc()),
                    }
                    0
                })
                .map_err(|_| BioError::Inval("data task".into()))?;
            gate
        };
        // Not inheriting the previous transaction's result: propagation is
        // off and a prep callback takes this one's own data and WAL results.
        deps.push(wal_done.clone());
        tx.disable_propagate();
        tx.register_deps(&deps)
            .map_err(|_| BioError::Inval("commit task".into()))?;
        let results = deps.clone();
        let wal = self.wal.clone();
        tx.register_prep_cb(move |t| {
            let rc = results.iter().map(|d| d.result()).find(|&r| r != 0);
            // Durable, but behind a record that replay cannot pass: lost
            // at the next open, so not acknowledged.
            let lost = wal
                .broken_at()
                .filter(|(bad, _)| my_seq.get() > *bad)
                .map(|(_, rc)| rc);
            if let Some(rc) = rc.or(lost) {
                t.complete(rc);
            }
            0
        })
        .map_err(|_| BioError::Inval("commit task".into()))?;
        tx.schedule(false)
            .map_err(|_| BioError::Inval("scheduler closed".into()))?;
        Ok(tx)
    }

    /// Replays from `from`: the payloads (with their sequence numbers) of
    /// the records whose data extents read back with matching checksums,
    /// in order, up to the first that does not (the end of the log). The
    /// WAL's head is left at the start of the frame holding that record,
    /// so new commits overwrite it; records of that frame before it were
    /// returned, so checkpoint what replay returned before committing more.
    pub fn replay(&self, from: WalPos) -> Result<Vec<(u64, Vec<u8>)>, BioError> {
        let mut out = Vec::new();
        for (frame_pos, recs) in self.wal.replay_frames(from)? {
            for (seq, rec) in recs {
                if !self.intact(&rec)? {
                    self.wal.restart_at(frame_pos)?;
                    return Ok(out);
                }
                let (_, _, payload) = decode(&rec).unwrap_or_default();
                out.push((seq, payload.to_vec()));
            }
        }
        Ok(out)
    }

    /// True if the record parses and its data extents match their sums
    /// (a record of data written first has nothing to check).
    fn intact(&self, rec: &[u8]) -> Result<bool, BioError> {
        let Some((extents, data_first, _)) = decode(rec) else {
            return Ok(false);
        };
        if data_first {
            return Ok(true);
        }
        for e in &extents {
            let (t, iod) = self.ctx.read(e.off, e.len)?;
            if self.ctx.sched().progress_until(&t) != 0 {
                return Err(BioError::os(
                    format!("reading data at {}", e.off),
                    libc::EIO,
                ));
            }
            if crc32c::crc32c(&iod.to_vec()?) != e.csum {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
