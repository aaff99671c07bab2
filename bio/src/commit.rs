//! Transaction commit: an update's data extents and the WAL record that
//! makes them visible go to the device together, and the update is
//! acknowledged, in transaction order, once both are there as the pool's
//! [`Durability`] contract promises:
//!
//! * `Device` (DAOS's): the data writes and the record's frame write
//!   completed. No flush.
//! * `Flush`: the record's frame is flushed, and that flush was issued
//!   only once the frame's write and the data writes of its records
//!   completed ([`Wal::append_awaiting_data`]), so one flush covers the
//!   frame and the data of every update in it (group commit).
//!
//! The record carries a checksum of every data extent, so replay can tell
//! whether an update's data made it. It does not need to for records the
//! log marks as acknowledged (the frames' mark, see [`crate::wal`]): their
//! data was on the device before the acknowledgement. A record past the
//! mark may be a torn, unacknowledged update: replay reads its data back
//! and ends the log at the first one whose data does not check out, so a
//! torn update never hides the acknowledged data it would have replaced.
//! If an update's data write fails, its record is in the log already and
//! replay will end there, so the log is poisoned ([`Wal::poison_at`]) and
//! every later transaction fails too, even one whose own record is
//! durable: nothing acknowledged is lost at the next open.
//!
//! A record is `word u32 | n x extent | payload`, where `word` holds the
//! extent count `n` and flags. With [`SUMS_CHUNKED`] (every record written
//! now) an extent is `off u64 | len u64 | csum u32 | chunk u32`: `len`
//! bytes at `off` checked by `csum`, the crc32c of those bytes when `chunk`
//! is 0, else the crc32c of the little-endian crc32c of each `chunk`-byte
//! piece (the scheme vos keeps for large extents, so the sum it computed
//! anyway is reused). Older records have 20-byte extents (`off | len |
//! csum`, the crc32c of `len` bytes), and [`DATA_FIRST`] ones, written
//! after their data was flushed, carry no sums and are trusted.

use std::cell::RefCell;
use std::rc::Rc;

use tse::Task;

use crate::ctx::BioCtx;
use crate::durability::Durability;
use crate::error::BioError;
use crate::wal::{Wal, WalDamage, WalPos};

/// The high bit of a record's extent count: an older record whose data
/// was durable before the record was written; replay does not check it.
pub const DATA_FIRST: u32 = 1 << 31;

/// A record's extents carry a chunk size (24 bytes each).
pub const SUMS_CHUNKED: u32 = 1 << 30;

const FLAGS: u32 = DATA_FIRST | SUMS_CHUNKED;

/// A data extent of a transaction as its record describes it: where it
/// is and the checksum of its first `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxExtent {
    /// Device offset.
    pub off: u64,
    /// Bytes the checksum covers, from `off` (at most the bytes written).
    pub len: u64,
    /// The checksum (see [`DataSum`]).
    pub csum: u32,
    /// 0 for a crc32c of the bytes, else the chunk size of a sum of
    /// chunk sums.
    pub chunk: u32,
}

/// A caller's checksum of the bytes it writes, so bio does not compute it
/// again: `csum` covers the first `len` bytes, as a plain crc32c when
/// `chunk` is 0, else as the crc32c of the little-endian crc32c of each
/// `chunk`-byte piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSum {
    /// Bytes covered (the rest of the write is padding).
    pub len: u64,
    /// Chunk size, or 0.
    pub chunk: u32,
    /// The checksum.
    pub csum: u32,
}

impl DataSum {
    /// The sum of `bytes` as `chunk` says.
    pub fn of(bytes: &[u8], chunk: u32) -> DataSum {
        let csum = if chunk == 0 {
            crc32c::crc32c(bytes)
        } else {
            bytes.chunks(chunk as usize).fold(0, |c, piece| {
                crc32c::crc32c_append(c, &crc32c::crc32c(piece).to_le_bytes())
            })
        };
        DataSum {
            len: bytes.len() as u64,
            chunk,
            csum,
        }
    }
}

/// One data write of a transaction: device offset, bytes, and the
/// caller's checksum of them (`None`: bio computes a crc32c).
#[derive(Debug, Clone, Copy)]
pub struct TxData<'a> {
    /// Device offset.
    pub off: u64,
    /// The bytes (whole blocks).
    pub bytes: &'a [u8],
    /// Their checksum, if the caller has it.
    pub sum: Option<DataSum>,
}

/// Bytes of a record of `n` extents and `payload`.
fn record_len(n: usize, payload: &[u8]) -> usize {
    4 + n * 24 + payload.len()
}

/// Appends the record of `data` (their checksums: the callers', else a
/// crc32c computed here) and `payload` to `out`.
fn encode_into(out: &mut Vec<u8>, data: &[TxData], payload: &[u8]) {
    out.extend_from_slice(&(data.len() as u32 | SUMS_CHUNKED).to_le_bytes());
    for d in data {
        let sum = d.sum.unwrap_or_else(|| DataSum::of(d.bytes, 0));
        out.extend_from_slice(&d.off.to_le_bytes());
        out.extend_from_slice(&sum.len.to_le_bytes());
        out.extend_from_slice(&sum.csum.to_le_bytes());
        out.extend_from_slice(&sum.chunk.to_le_bytes());
    }
    out.extend_from_slice(payload);
}

/// A decoded record: its extents, whether its data was written first
/// (an older record, nothing to check), and its payload.
type Decoded<'a> = (Vec<TxExtent>, bool, &'a [u8]);

/// Decodes a record of either extent layout.
fn decode(rec: &[u8]) -> Option<Decoded<'_>> {
    let word = u32::from_le_bytes(rec.get(0..4)?.try_into().ok()?);
    let n = (word & !FLAGS) as usize;
    let size = if word & SUMS_CHUNKED != 0 { 24 } else { 20 };
    let end = 4usize.checked_add(n.checked_mul(size)?)?;
    let body = rec.get(4..end)?;
    let u64_at = |c: &[u8], i: usize| u64::from_le_bytes(c[i..i + 8].try_into().unwrap_or([0; 8]));
    let u32_at = |c: &[u8], i: usize| u32::from_le_bytes(c[i..i + 4].try_into().unwrap_or([0; 4]));
    let extents = body
        .chunks_exact(size)
        .map(|c| TxExtent {
            off: u64_at(c, 0),
            len: u64_at(c, 8),
            csum: u32_at(c, 16),
            chunk: if size == 24 { u32_at(c, 20) } else { 0 },
        })
        .collect();
    Some((extents, word & DATA_FIRST != 0, &rec[end..]))
}

/// What [`TxLog::check`] found in a log: reading only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCheck {
    /// Where the replay starts.
    pub from: WalPos,
    /// Records a replay would apply now.
    pub replayable: u64,
    /// Records below this sequence are marked acknowledged.
    pub acked: u64,
    /// The first record whose data does not check out, past the mark: a
    /// torn, unacknowledged update where the log ends (with the records
    /// of intact frames after it that a replay drops).
    pub torn: Option<(u64, u64)>,
    /// Acknowledged records the log cannot read: a replay refuses to
    /// open; a salvage would keep the `replayable` records and lose the
    /// rest.
    pub damage: Option<WalDamage>,
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

/// `data_completion`: a transaction's data writes finished with `rc`. A
/// failure poisons the log at its record `seq` (replay would end there,
/// so nothing after it may be acknowledged); then, for a record appended
/// awaiting its data, its frame's flush may go.
fn data_completion(wal: &Wal, seq: u64, rc: i32, awaiting: bool) {
    if rc != 0 {
        wal.poison_at(seq, rc);
    }
    if awaiting {
        wal.data_written(seq);
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
    /// Commits through `wal` on `ctx`'s device, under the log's contract.
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
    /// and logs `payload` with the data's checksums (computed here). See
    /// [`commit_summed`](Self::commit_summed).
    pub fn commit(&self, data: &[(u64, &[u8])], payload: &[u8]) -> Result<Task, BioError> {
        let data: Vec<TxData> = data
            .iter()
            .map(|&(off, bytes)| TxData {
                off,
                bytes,
                sum: None,
            })
            .collect();
        self.commit_summed(&data, payload)
    }

    /// Commits one transaction: writes `data` and logs `payload` with the
    /// data's checksums (the callers', where given). The returned task
    /// (`vos_tx_commit`) completes once data and record are on the device
    /// as the contract promises and every earlier transaction has
    /// completed; its result is the first error.
    pub fn commit_summed(&self, data: &[TxData], payload: &[u8]) -> Result<Task, BioError> {
        // Everything is checked before anything is logged or written.
        for d in data {
            if let Some(sum) = d.sum.filter(|s| s.len > d.bytes.len() as u64) {
                return Err(BioError::Inval(format!(
                    "checksum covers {} bytes of a {}-byte write",
                    sum.len,
                    d.bytes.len()
                )));
            }
            self.ctx.device().check(d.off, d.bytes.len() as u64)?;
        }
        if data.len() as u32 & (DATA_FIRST | SUMS_CHUNKED) != 0 {
            return Err(BioError::Inval(format!(
                "{} data writes in one transaction",
                data.len()
            )));
        }
        if let Some(rc) = self.wal.poisoned() {
            return Err(BioError::Poisoned(rc));
        }
        let sched = self.ctx.sched().clone();
        // Under `flush`, the record's frame is flushed only once this data
        // is written, so the frame's one flush covers data and record.
        let awaiting = !data.is_empty() && self.wal.durability() == Durability::Flush;
        // The record goes straight into the log's queue (no buffer of its
        // own); the data writes go out right after it, before this returns.
        let (seq, wal_done) =
            self.wal
                .append_record(record_len(data.len(), payload), awaiting, |out| {
                    encode_into(out, data, payload)
                })?;
        let tx = sched.create_named("vos_tx_commit", |t| t.complete(0));
        // Transactions are acknowledged in WAL order (DAOS's transaction
        // id order): each waits for the one whose record precedes its own,
        // so a record that replay must drop (its data torn) is never
        // followed by an acknowledged one.
        chain_after_last(&self.last, &tx);
        let data_done = match self.write_data(data) {
            Ok(d) => d,
            Err(e) => {
                // Nothing of it went out, but its record did: replay would
                // end there, so nothing after it may be acknowledged.
                data_completion(&self.wal, seq, e.rc(), awaiting);
                tx.complete(e.rc());
                return Err(e);
            }
        };
        // `data_completion` runs as the data completes where it must: under
        // `flush` (the frame's flush waits for it) and when traced. Under
        // `device` all it has to do is poison the log if the data write
        // failed, and this transaction's prep callback below does that
        // before any later transaction (each waits for this one) can be
        // acknowledged: no callback per write.
        let traced = data.len() == 1 && sched.tracing();
        let on_completion = awaiting || traced;
        if let Some(data_done) = data_done.as_ref().filter(|_| on_completion) {
            // Under `flush`, completed once a flush issued after the data
            // completed is done; under `device`, the data's own completion
            // is enough.
            let wal = self.wal.clone();
            if data_done.is_completed() {
                data_completion(&wal, seq, data_done.result(), awaiting);
            } else {
                data_done
                    .register_comp_cb(move |d| {
                        let step = traced.then(|| d.sched().step_under(d.id(), "data_completion"));
                        data_completion(&wal, seq, d.result(), awaiting);
                        if let Some(s) = step {
                            s.end(d.result());
                        }
                        0
                    })
                    .map_err(|_| BioError::Inval("data task".into()))?;
            }
        }
        // Not inheriting the previous transaction's result: propagation is
        // off and a prep callback takes this one's own data and WAL results.
        tx.disable_propagate();
        tx.register_dep(&wal_done)
            .map_err(|_| BioError::Inval("commit task".into()))?;
        if let Some(d) = &data_done {
            tx.register_dep(d)
                .map_err(|_| BioError::Inval("commit task".into()))?;
        }
        let wal = self.wal.clone();
        tx.register_prep_cb(move |t| {
            let data_rc = data_done.as_ref().map_or(0, |d| d.result());
            if !on_completion && data_rc != 0 {
                data_completion(&wal, seq, data_rc, false);
            }
            let rc = [wal_done.result(), data_rc].into_iter().find(|&r| r != 0);
            // Durable, but behind a record that replay cannot pass: lost
            // at the next open, so not acknowledged.
            let lost = wal
                .broken_at()
                .filter(|(bad, _)| seq > *bad)
                .map(|(_, rc)| rc);
            match rc.or(lost) {
                Some(rc) => t.complete(rc),
                // Acknowledged, and so is everything before it: frames
                // built from now on say so.
                None => wal.set_acked(seq + 1),
            }
            0
        })
        .map_err(|_| BioError::Inval("commit task".into()))?;
        tx.schedule(false)
            .map_err(|_| BioError::Inval("scheduler closed".into()))?;
        Ok(tx)
    }

    /// Writes a transaction's data (checked already): the task that
    /// completes once every piece is written (`None` without data). One
    /// write, the common case, is its own completion; several are joined
    /// by a `data_completion` task.
    fn write_data(&self, data: &[TxData]) -> Result<Option<Task>, BioError> {
        let write = |d: &TxData| {
            self.ctx
                .write_with(d.off, d.bytes.len(), |b| b.copy_from_slice(d.bytes))
        };
        match data {
            [] => Ok(None),
            [d] => write(d).map(Some),
            many => {
                let join = self
                    .ctx
                    .sched()
                    .create_named("data_completion", |t| t.complete(0));
                for d in many {
                    join.register_dep(&write(d)?)
                        .map_err(|_| BioError::Inval("data task".into()))?;
                }
                join.schedule(false)
                    .map_err(|_| BioError::Inval("scheduler closed".into()))?;
                Ok(Some(join))
            }
        }
    }

    /// Replays from `from`: the payloads (with their sequence numbers) of
    /// the records of the log, in order. Records the log marks as
    /// acknowledged are returned as they are; past the mark, a record is
    /// returned only if its data extents read back with matching
    /// checksums, and the first that does not ends the log (a torn,
    /// unacknowledged update). The WAL's head is left at the start of the
    /// frame holding that record, so new commits overwrite it; records of
    /// that frame before it were returned, so checkpoint what replay
    /// returned before committing more. A log that lost acknowledged
    /// records is refused with [`BioError::WalDamaged`], and nothing moves.
    pub fn replay(&self, from: WalPos) -> Result<Vec<(u64, Vec<u8>)>, BioError> {
        self.replay_with(from, true)
    }

    /// [`replay`](Self::replay) of a log closed cleanly at `from`: nothing
    /// was appended after it, so the rest of the lap is not read for
    /// frames written after damage (see [`Wal::scan_with`]).
    pub fn replay_closed(&self, from: WalPos) -> Result<Vec<(u64, Vec<u8>)>, BioError> {
        self.replay_with(from, false)
    }

    fn replay_with(&self, from: WalPos, look_ahead: bool) -> Result<Vec<(u64, Vec<u8>)>, BioError> {
        let scan = self.wal.scan_with(from, look_ahead)?;
        if let Some(d) = scan.damage {
            return Err(BioError::WalDamaged(d));
        }
        let mut out = Vec::new();
        for (frame_pos, recs) in scan.frames {
            for (seq, rec) in recs {
                if seq >= scan.acked && !self.intact(&rec)? {
                    self.wal.restart_at(frame_pos)?;
                    return Ok(out);
                }
                let (_, _, payload) = decode(&rec).unwrap_or_default();
                out.push((seq, payload.to_vec()));
            }
        }
        self.wal.restart_at(scan.end)?;
        Ok(out)
    }

    /// What a replay from `from` would do, without doing it: how many
    /// records it applies, where a torn tail ends the log, and whether
    /// acknowledged records are lost (see [`LogCheck`]). Reads only.
    pub fn check(&self, from: WalPos) -> Result<LogCheck, BioError> {
        let scan = self.wal.scan(from)?;
        let mut replayable = 0u64;
        let mut torn = None;
        let mut recs = scan.frames.iter().flat_map(|(_, r)| r.iter());
        for (seq, rec) in recs.by_ref() {
            if *seq >= scan.acked && !self.intact(rec)? {
                torn = Some((*seq, 0));
                break;
            }
            replayable += 1;
        }
        if let Some((seq, _)) = torn {
            torn = Some((seq, recs.count() as u64));
        }
        Ok(LogCheck {
            from,
            replayable,
            acked: scan.acked,
            torn,
            damage: scan.damage,
        })
    }

    /// True if the record parses and its data extents match their sums
    /// (an older record of data written first has nothing to check).
    fn intact(&self, rec: &[u8]) -> Result<bool, BioError> {
        let Some((extents, data_first, _)) = decode(rec) else {
            return Ok(false);
        };
        if data_first {
            return Ok(true);
        }
        let bs = self.ctx.device().block_size() as u64;
        for e in &extents {
            if e.len == 0 {
                continue;
            }
            let read_len = e.len.div_ceil(bs) * bs;
            let (t, iod) = match self.ctx.read(e.off, read_len) {
                Ok(r) => r,
                // An extent that is not even on the device never made it.
                Err(BioError::OutOfRange { .. } | BioError::Align { .. }) => return Ok(false),
                Err(e) => return Err(e),
            };
            if self.ctx.sched().progress_until(&t) != 0 {
                return Err(BioError::os(
                    format!("reading data at {}", e.off),
                    libc::EIO,
                ));
            }
            let bytes = iod.to_vec()?;
            if DataSum::of(&bytes[..e.len as usize], e.chunk).csum != e.csum {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
