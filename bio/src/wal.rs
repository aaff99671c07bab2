//! The write-ahead log: an append-only circular region of the device.
//!
//! [`Wal::append`] gives a record the next sequence number and returns a
//! task that completes once the record is on the device as the pool's
//! [`Durability`] contract promises (`wal_completion`): under `Device`
//! once its frame's write completed, under `Flush` once a flush issued
//! after that write completed. Records that arrive while frames are in
//! flight wait and go out together in the next frame (group commit);
//! several frames may be in flight, and each frame's flush is issued as
//! soon as its own write completes. Frames complete strictly in order, so
//! commits complete in transaction order. A failed write or flush poisons
//! the log: every waiting and later commit fails with
//! [`BioError::Poisoned`] instead of guessing what reached the media. So
//! does a record whose data write failed after it was appended
//! ([`Wal::poison_at`]): no record after it can replay.
//!
//! Every frame carries the log's *acknowledged mark* ([`Wal::set_acked`]):
//! the sequence below which every record had been acknowledged when the
//! frame was built. [`Wal::scan`] reads frames from a position and, where
//! the intact chain ends, tells a torn tail (nothing acknowledged is
//! missing) from damage (an intact frame, before the end or found beyond
//! it, says records past the end were acknowledged); [`Wal::replay`]
//! refuses damage with [`BioError::WalDamaged`] instead of dropping
//! acknowledged records (format in [`crate::walfmt`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use tse::Task;

use crate::ctx::BioCtx;
use crate::durability::Durability;
use crate::error::BioError;
use crate::walfmt::{decode_header, decode_records, encode_frame_into, frame_len, FRAME_HDR};

/// A position in the log: the next record's sequence number, the
/// (virtual, ever-increasing) block where its frame starts (physical block
/// = `vblock % region blocks`) and the generation frames from there on
/// carry.
///
/// Every replay ends the log's generation: appends after it use the next
/// one, so frames left behind the end of a replay (a torn or corrupt frame
/// and whatever stale frames follow it) can never be mistaken for new
/// ones. Persist [`Wal::head`] after a replay (a checkpoint) before
/// appending: replay starts from a persisted position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalPos {
    /// Sequence number of the next record.
    pub seq: u64,
    /// Virtual block of the next frame.
    pub vblock: u64,
    /// Generation of the frames from here on.
    pub gen: u32,
}

impl WalPos {
    /// The start of a freshly formatted log of generation `gen` (pick it
    /// at random when the pool is made, so an old pool's frames never
    /// parse).
    pub const fn start(gen: u32) -> WalPos {
        WalPos {
            seq: 1,
            vblock: 0,
            gen,
        }
    }
}

/// A replayed frame: where it starts and its records `(seq, bytes)`.
pub type ReplayedFrame = (WalPos, Vec<(u64, Vec<u8>)>);

/// Acknowledged records that the log can no longer read: the intact chain
/// of frames ends at `seq`, but an intact frame says records up to
/// `acked` were acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalDamage {
    /// Device byte offset of the first block that is not the expected
    /// frame.
    pub off: u64,
    /// The first record that cannot be read.
    pub seq: u64,
    /// Every record below this was acknowledged.
    pub acked: u64,
    /// Intact frames found beyond the damage.
    pub frames_beyond: u64,
}

impl std::fmt::Display for WalDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WAL damaged at device offset {} (record {}): records up to {} were acknowledged and cannot be read ({} intact frames beyond)",
            self.off,
            self.seq,
            self.acked.saturating_sub(1),
            self.frames_beyond
        )
    }
}

impl std::error::Error for WalDamage {}

/// What [`Wal::scan`] found from a position on. Reading only: nothing is
/// written and the head does not move.
#[derive(Debug, Clone)]
pub struct WalScan {
    /// The intact chain of frames, in order.
    pub frames: Vec<ReplayedFrame>,
    /// Records below this sequence were acknowledged: the highest mark of
    /// any intact frame read (in the chain or beyond its end), and at
    /// least the starting sequence. Their data need no check at replay;
    /// records at or above it may be a torn, unacknowledged tail.
    pub acked: u64,
    /// Where the chain ends: the next frame would go here.
    pub end: WalPos,
    /// Set when the chain ends below `acked`.
    pub damage: Option<WalDamage>,
}

/// Frames in flight at once, by contract. Each is a write (and, under
/// `Flush`, a flush issued when that write completes); they complete in
/// log order whatever order the device finishes them in. While they are
/// out, records that arrive wait and ride the next frame together.
fn max_inflight(d: Durability) -> usize {
    match d {
        Durability::Flush => 2,
        _ => 4,
    }
}

/// A frame written and not yet completed in order.
struct Flight {
    /// Position after the frame.
    end: WalPos,
    /// Sequence of its first record (its records are `first..end.seq`;
    /// their tasks are the next `end.seq - first` of
    /// [`State::flight_tasks`]).
    first: u64,
    /// Its write completed (under `Flush` its flush is then issued).
    written: bool,
    /// Records of the frame whose data writes are still out: its flush
    /// waits for them, so it covers their data too.
    awaiting: u32,
    /// Its flush went out.
    flush_issued: bool,
    /// Its I/O's status once it finished.
    rc: Option<i32>,
}

/// Largest frame one commit writes (records beyond wait for the next).
const MAX_FRAME: usize = 1 << 20;

/// Blocks read per I/O when looking past the end of the chain.
const SCAN_RUN: u64 = 256;

struct State {
    gen: u32,
    region_off: u64,
    blocks: u64,
    bs: usize,
    durability: Durability,
    /// Next record's sequence and next frame's virtual block.
    head: WalPos,
    /// Oldest virtual block still needed (start of the last checkpoint).
    tail: u64,
    /// Sequence for the next append.
    next_seq: u64,
    /// Every record below this was acknowledged (the mark frames carry).
    acked: u64,
    /// Records waiting for a frame, in order: sequence, bytes in
    /// `pending_buf` (length word included) and the task their frame
    /// completes.
    pending: VecDeque<Pending>,
    /// The waiting records, back to back as a frame holds them (`len u32
    /// | record`): a frame's body is a prefix of it. Kept and reused, so
    /// appending allocates nothing once it has grown.
    pending_buf: Vec<u8>,
    /// The tasks of the records of the frames in flight, in log order.
    flight_tasks: VecDeque<Task>,
    /// Scratch for the tasks a completing frame releases (kept, reused).
    ready: Vec<Task>,
    /// Records (by sequence) whose data writes are still out (see
    /// [`Wal::append_awaiting_data`]).
    awaiting: Vec<u64>,
    /// Frames written and not yet completed in order, oldest first.
    inflight: VecDeque<Flight>,
    /// Where the next frame goes, and the sequence after the last frame
    /// submitted (the durable head trails them while frames are in flight).
    next_v: u64,
    submitted_seq: u64,
    poisoned: Option<i32>,
    /// The first record that can never replay, when [`Wal::poison_at`]
    /// named one: replay ends there, so no record after it may be
    /// acknowledged.
    broken_seq: Option<u64>,
    /// Records committed (durable) so far, frames written and flushes
    /// issued.
    committed: u64,
    frames: u64,
    flushes: u64,
}

/// A record waiting for a frame.
struct Pending {
    seq: u64,
    /// Its bytes in the frame: 4 + its length.
    bytes: usize,
    task: Task,
}

/// The log of one target.
#[derive(Clone)]
pub struct Wal {
    ctx: BioCtx,
    st: Rc<RefCell<State>>,
}

/// Where a frame of `blocks` blocks starting at or after `v` goes: `v`,
/// or the start of the next lap if it would run past the region's end.
fn place(v: u64, blocks: u64, total: u64) -> u64 {
    if v % total + blocks > total {
        v + (total - v % total)
    } else {
        v
    }
}

impl Wal {
    /// A log over `[off, off + len)` of `ctx`'s device whose next record
    /// goes at `head` (with its generation) and whose oldest needed frame
    /// starts at `tail` (both from the last checkpoint). It keeps the
    /// contract of `ctx` ([`BioCtx::durability`]).
    pub fn open(
        ctx: &BioCtx,
        off: u64,
        len: u64,
        head: WalPos,
        tail: u64,
    ) -> Result<Wal, BioError> {
        let bs = ctx.device().block_size() as u64;
        ctx.device().check(off, len)?;
        let blocks = len / bs;
        if blocks < 2 || (MAX_FRAME as u64) / bs > blocks / 2 {
            return Err(BioError::Inval(format!(
                "WAL region of {len} bytes is too small (needs at least {} bytes)",
                2 * MAX_FRAME
            )));
        }
        if tail > head.vblock {
            return Err(BioError::Inval("WAL tail is past its head".into()));
        }
        Ok(Wal {
            ctx: ctx.clone(),
            st: Rc::new(RefCell::new(State {
                gen: head.gen,
                region_off: off,
                blocks,
                bs: bs as usize,
                durability: ctx.durability(),
                head,
                tail,
                next_seq: head.seq,
                acked: head.seq,
                next_v: head.vblock,
                submitted_seq: head.seq,
                pending: VecDeque::new(),
                pending_buf: Vec::new(),
                flight_tasks: VecDeque::new(),
                ready: Vec::new(),
                awaiting: Vec::new(),
                inflight: VecDeque::new(),
                poisoned: None,
                broken_seq: None,
                committed: 0,
                frames: 0,
                flushes: 0,
            })),
        })
    }

    /// The contract this log keeps.
    pub fn durability(&self) -> Durability {
        self.st.borrow().durability
    }

    /// Appends a record; returns its sequence number and a task that
    /// completes when it is on the device as the contract promises (or
    /// fails with the log's error).
    pub fn append(&self, record: Vec<u8>) -> Result<(u64, Task), BioError> {
        self.append_record(record.len(), false, |out| out.extend_from_slice(&record))
    }

    /// Appends a record of `len` bytes that `write` appends to the vector
    /// it is given (the log's queue of waiting records: nothing is
    /// allocated for it). With `awaiting` under `Flush`, the record's data
    /// writes are still out (see
    /// [`append_awaiting_data`](Self::append_awaiting_data)).
    pub(crate) fn append_record(
        &self,
        len: usize,
        awaiting: bool,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(u64, Task), BioError> {
        let (seq, task) = {
            let mut st = self.st.borrow_mut();
            if let Some(rc) = st.poisoned {
                return Err(BioError::Poisoned(rc));
            }
            if FRAME_HDR + 4 + len > MAX_FRAME {
                return Err(BioError::Inval(format!(
                    "WAL record of {len} bytes exceeds the {MAX_FRAME}-byte frame"
                )));
            }
            let at = st.pending_buf.len();
            st.pending_buf
                .extend_from_slice(&(len as u32).to_le_bytes());
            write(&mut st.pending_buf);
            let wrote = st.pending_buf.len() - at - 4;
            if wrote != len {
                st.pending_buf.truncate(at);
                return Err(BioError::Inval(format!(
                    "WAL record announced as {len} bytes came as {wrote}"
                )));
            }
            let seq = st.next_seq;
            st.next_seq += 1;
            if awaiting && st.durability == Durability::Flush {
                // Counted before the kick below may form (and count) its
                // frame.
                st.awaiting.push(seq);
            }
            let task = self.ctx.sched().create_named("wal_completion", |_| {});
            st.pending.push_back(Pending {
                seq,
                bytes: 4 + len,
                task: task.clone(),
            });
            (seq, task)
        };
        self.kick();
        Ok((seq, task))
    }

    /// Says that every record below `seq` has been acknowledged: frames
    /// built from now on carry it as their mark, and replay will refuse
    /// to open a log that lost one of them. A commit layer calls it as it
    /// acknowledges in order; the mark never goes back.
    pub fn set_acked(&self, seq: u64) {
        let mut st = self.st.borrow_mut();
        st.acked = st.acked.max(seq);
    }

    /// Starts group commits while fewer than the contract's limit are in
    /// flight.
    fn kick(&self) {
        while self.kick_one() {}
    }

    /// Writes one frame of waiting records; false if it did not.
    fn kick_one(&self) -> bool {
        let (off, len, end, first, nrec, body, gen, acked) = {
            let mut st = self.st.borrow_mut();
            // (A poisoned log holds no waiting records past the broken
            // one: those before it still go out.)
            if st.inflight.len() >= max_inflight(st.durability) || st.pending.is_empty() {
                return false;
            }
            // Take as many waiting records as fit one frame.
            let mut body = 0;
            let mut n = 0;
            for p in &st.pending {
                if FRAME_HDR + body + p.bytes > MAX_FRAME {
                    break;
                }
                body += p.bytes;
                n += 1;
            }
            let len = frame_len(body, st.bs);
            let blocks = (len / st.bs) as u64;
            let v = place(st.next_v, blocks, st.blocks);
            if v + blocks - st.tail > st.blocks {
                // No room until a checkpoint trims the log: fail this batch
                // (nothing was written) and let the caller checkpoint.
                // Everything waiting fails too, and sequence numbers restart
                // after the last frame written, so the log never has a gap.
                let free = st.blocks.saturating_sub(st.next_v - st.tail);
                let failed: Vec<Task> = st.pending.drain(..).map(|p| p.task).collect();
                st.pending_buf.clear();
                st.next_seq = st.submitted_seq;
                drop(st);
                let rc = BioError::WalFull { need: blocks, free }.rc();
                for t in failed {
                    t.complete(rc);
                }
                return false;
            }
            let first = st.pending[0].seq;
            let end = WalPos {
                seq: first + n as u64,
                vblock: v + blocks,
                gen: st.gen,
            };
            st.next_v = end.vblock;
            st.submitted_seq = end.seq;
            let awaiting = st
                .awaiting
                .iter()
                .filter(|&&s| s >= first && s < end.seq)
                .count() as u32;
            for _ in 0..n {
                if let Some(p) = st.pending.pop_front() {
                    st.flight_tasks.push_back(p.task);
                }
            }
            st.inflight.push_back(Flight {
                end,
                first,
                written: false,
                awaiting,
                flush_issued: false,
                rc: None,
            });
            let off = st.region_off + (v % st.blocks) * st.bs as u64;
            // The records leave the queue below, once copied out.
            let gen = st.gen;
            let acked = st.acked;
            (off, len, end, first, n as u32, body, gen, acked)
        };
        // Built straight in the frame's DMA buffer, out of the queue (taken
        // while the ring is called, and given back with what is left).
        let queue = std::mem::take(&mut self.st.borrow_mut().pending_buf);
        let io = self.ctx.write_with(off, len, |out| {
            encode_frame_into(out, gen, first, acked, nrec, &queue[..body])
        });
        {
            let mut queue = queue;
            queue.drain(..body);
            let mut st = self.st.borrow_mut();
            // (Records appended meanwhile, if any, come after the rest.)
            let newer = std::mem::replace(&mut st.pending_buf, queue);
            st.pending_buf.extend_from_slice(&newer);
        }
        let io = match io {
            Ok(io) => io,
            Err(e) => {
                self.frame_done(end, e.rc());
                return false;
            }
        };
        let wal = self.clone();
        if let Some(rc) = io.try_result() {
            self.frame_written(end, rc);
        } else {
            let _ = io.register_comp_cb(move |t| {
                wal.frame_written(end, t.result());
                0
            });
        }
        true
    }

    /// A frame's write finished: under `Flush` its flush goes out now,
    /// covering every write completed so far; otherwise the frame is done.
    fn frame_written(&self, end: WalPos, rc: i32) {
        let flush = {
            let mut st = self.st.borrow_mut();
            if let Some(f) = st.inflight.iter_mut().find(|f| f.end == end) {
                f.written = true;
            }
            rc == 0 && st.durability == Durability::Flush
        };
        if !flush {
            self.frame_done(end, rc);
            return;
        }
        self.flush_frame(end);
    }

    /// Issues the flush of the frame ending at `end` once it is written
    /// and the data of its records is (not before: the flush must cover
    /// that data too).
    fn flush_frame(&self, end: WalPos) {
        {
            let mut st = self.st.borrow_mut();
            let Some(f) = st.inflight.iter_mut().find(|f| f.end == end) else {
                return;
            };
            if !f.written || f.awaiting > 0 || f.flush_issued {
                return;
            }
            f.flush_issued = true;
        }
        self.st.borrow_mut().flushes += 1;
        let wal = self.clone();
        let _ = self.ctx.sync().register_comp_cb(move |f| {
            wal.frame_done(end, f.result());
            0
        });
    }

    /// Appends a record whose data writes are still out (under `Flush`):
    /// its frame's flush is issued only once [`data_written`] says they
    /// completed, so the record's `wal_completion` also means its data is
    /// durable too. Under `Device` it is
    /// [`append`](Self::append).
    ///
    /// [`data_written`]: Self::data_written
    pub fn append_awaiting_data(&self, record: Vec<u8>) -> Result<(u64, Task), BioError> {
        self.append_record(record.len(), true, |out| out.extend_from_slice(&record))
    }

    /// The data writes of record `seq` (appended with
    /// [`append_awaiting_data`](Self::append_awaiting_data)) completed,
    /// successfully or not: its frame's flush may go.
    pub fn data_written(&self, seq: u64) {
        let end = {
            let mut st = self.st.borrow_mut();
            let Some(i) = st.awaiting.iter().position(|&s| s == seq) else {
                return;
            };
            st.awaiting.swap_remove(i);
            let Some(f) = st
                .inflight
                .iter_mut()
                .find(|f| f.first <= seq && seq < f.end.seq)
            else {
                return;
            };
            f.awaiting = f.awaiting.saturating_sub(1);
            f.end
        };
        self.flush_frame(end);
    }

    /// A frame is done with `rc` (written, and flushed under `Flush`):
    /// completes, in log order, every frame whose predecessors are all
    /// done (`wal_completion`).
    fn frame_done(&self, end: WalPos, rc: i32) {
        let mut failed: Option<i32> = None;
        let mut ready = {
            let mut st = self.st.borrow_mut();
            let mut ready = std::mem::take(&mut st.ready);
            if let Some(f) = st.inflight.iter_mut().find(|f| f.end == end) {
                f.rc = Some(rc);
            }
            while st.inflight.front().is_some_and(|f| f.rc.is_some()) {
                let Some(f) = st.inflight.pop_front() else {
                    break;
                };
                match f.rc {
                    Some(0) if failed.is_none() => {
                        let n = f.end.seq - f.first;
                        st.head = f.end;
                        st.committed += n;
                        st.frames += 1;
                        for _ in 0..n {
                            if let Some(t) = st.flight_tasks.pop_front() {
                                ready.push(t);
                            }
                        }
                    }
                    other => {
                        failed = failed.or(other).or(Some(rc));
                        st.inflight.push_front(f);
                        break;
                    }
                }
            }
            ready
        };
        for t in ready.drain(..) {
            t.complete(0);
        }
        {
            let mut st = self.st.borrow_mut();
            if st.ready.capacity() < ready.capacity() {
                st.ready = ready;
            }
        }
        if let Some(rc) = failed {
            self.fail(rc);
            return;
        }
        self.kick();
    }

    /// Poisons the log: fails every frame in flight and everything waiting.
    fn fail(&self, rc: i32) {
        let tasks: Vec<Task> = {
            let mut st = self.st.borrow_mut();
            st.poisoned = Some(rc);
            st.inflight.clear();
            let mut tasks: Vec<Task> = st.flight_tasks.drain(..).collect();
            tasks.extend(st.pending.drain(..).map(|p| p.task));
            st.pending_buf.clear();
            tasks
        };
        for t in tasks {
            t.complete(rc);
        }
    }

    /// Poisons the log because record `seq`, already appended, can never
    /// replay: the data write it vouches for failed with `rc`, and replay
    /// ends at the first record whose data does not check out. New
    /// appends are refused and every record waiting after `seq` fails with
    /// `rc`; waiting records before it and frames already in flight go
    /// out and finish, and their records before `seq`
    /// are durable as usual, but a record after it is lost at the next
    /// replay, so its owner must not acknowledge it (see
    /// [`Wal::broken_at`]). DAOS likewise fails every later pending
    /// transaction.
    pub fn poison_at(&self, seq: u64, rc: i32) {
        let waiting: Vec<Task> = {
            let mut st = self.st.borrow_mut();
            st.poisoned.get_or_insert(rc);
            let broken = st.broken_seq.map_or(seq, |b| b.min(seq));
            st.broken_seq = Some(broken);
            // Records before the broken one still go out: they replay.
            // The queue is in sequence order: the rest is its tail.
            let keep = st.pending.iter().take_while(|p| p.seq < broken).count();
            let bytes: usize = st.pending.iter().take(keep).map(|p| p.bytes).sum();
            st.pending_buf.truncate(bytes);
            st.pending.drain(keep..).map(|p| p.task).collect()
        };
        for t in waiting {
            t.complete(rc);
        }
    }

    /// The record that [`Wal::poison_at`] named and the status it gave:
    /// records with a higher sequence will not replay.
    pub fn broken_at(&self) -> Option<(u64, i32)> {
        let st = self.st.borrow();
        st.broken_seq
            .map(|s| (s, st.poisoned.unwrap_or(-tse::der::DER_IO)))
    }

    /// The position after the last durable record.
    pub fn head(&self) -> WalPos {
        self.st.borrow().head
    }

    /// Frees the log up to `pos` (everything before it is checkpointed).
    pub fn trim(&self, pos: WalPos) -> Result<(), BioError> {
        let mut st = self.st.borrow_mut();
        if pos.vblock > st.head.vblock || pos.vblock < st.tail {
            return Err(BioError::Inval(format!(
                "trim to block {} outside the live log [{}, {}]",
                pos.vblock, st.tail, st.head.vblock
            )));
        }
        st.tail = pos.vblock;
        Ok(())
    }

    /// Blocks in use (head - tail) and the region's blocks.
    pub fn usage(&self) -> (u64, u64) {
        let st = self.st.borrow();
        (st.head.vblock - st.tail, st.blocks)
    }

    /// Records committed and frames written by this handle.
    pub fn counters(&self) -> (u64, u64) {
        let st = self.st.borrow();
        (st.committed, st.frames)
    }

    /// Flushes this handle issued (one per frame under `Flush`).
    pub fn flushes(&self) -> u64 {
        self.st.borrow().flushes
    }

    /// The error that poisoned the log, if any.
    pub fn poisoned(&self) -> Option<i32> {
        self.st.borrow().poisoned
    }

    /// Device byte offset of virtual block `vblock`.
    fn dev_off(&self, vblock: u64) -> u64 {
        let st = self.st.borrow();
        st.region_off + (vblock % st.blocks) * st.bs as u64
    }

    fn read_blocks(&self, vblock: u64, n: u64) -> Result<Vec<u8>, BioError> {
        let mut buf = Vec::new();
        self.read_blocks_into(vblock, n, &mut buf)?;
        Ok(buf)
    }

    /// Reads `n` blocks at `vblock` into `buf` (resized to fit; reused by
    /// a caller that reads many runs).
    fn read_blocks_into(&self, vblock: u64, n: u64, buf: &mut Vec<u8>) -> Result<(), BioError> {
        let off = self.dev_off(vblock);
        let len = n * self.st.borrow().bs as u64;
        let (t, iod) = self.ctx.read(off, len)?;
        let rc = self.ctx.sched().progress_until(&t);
        if rc != 0 {
            return Err(BioError::os(format!("reading the WAL at {off}"), libc::EIO));
        }
        buf.resize(len as usize, 0);
        iod.copy_out(buf)
    }

    /// Reads every intact record from `from` on, in order, and moves the
    /// head to the end of them (the next append goes there). Stops at the
    /// first frame that is torn, corrupt or from an earlier lap, unless
    /// the log says records past it were acknowledged: then it refuses
    /// with [`BioError::WalDamaged`] and moves nothing. Blocks the calling
    /// thread (run it at open, before serving I/O).
    pub fn replay(&self, from: WalPos) -> Result<Vec<(u64, Vec<u8>)>, BioError> {
        Ok(self
            .replay_frames(from)?
            .into_iter()
            .flat_map(|(_, recs)| recs)
            .collect())
    }

    /// [`replay`](Self::replay), grouped by frame: each frame's start
    /// position and its records.
    pub fn replay_frames(&self, from: WalPos) -> Result<Vec<ReplayedFrame>, BioError> {
        let scan = self.scan(from)?;
        if let Some(d) = scan.damage {
            return Err(BioError::WalDamaged(d));
        }
        self.restart_at(scan.end)?;
        Ok(scan.frames)
    }

    /// Reads the log from `from` without changing anything: the intact
    /// chain of frames, the acknowledged mark, where the chain ends and
    /// whether that end lost acknowledged records. To tell, it looks at
    /// the rest of the lap past the end for intact frames of this
    /// generation whose mark is past it (frames written after a frame
    /// that was damaged later). Blocks the calling thread.
    pub fn scan(&self, from: WalPos) -> Result<WalScan, BioError> {
        self.scan_with(from, true)
    }

    /// [`scan`](Self::scan), looking past the end of the chain only with
    /// `look_ahead`. Without it, damage is found only through the marks of
    /// the chain's own frames: for a log known to have been closed cleanly
    /// at `from` (nothing was appended after it), where reading the rest of
    /// the lap would find nothing.
    pub fn scan_with(&self, from: WalPos, look_ahead: bool) -> Result<WalScan, BioError> {
        let (total, bs) = {
            let st = self.st.borrow();
            (st.blocks, st.bs)
        };
        let gen = from.gen;
        let mut frames = Vec::new();
        let mut acked = from.seq;
        let mut pos = from;
        loop {
            // The frame is at pos, or at the next lap if the writer wrapped.
            let mut found = None;
            for v in [pos.vblock, pos.vblock + (total - pos.vblock % total)] {
                if v != pos.vblock && pos.vblock % total == 0 {
                    break;
                }
                let b0 = self.read_blocks(v, 1)?;
                if let Some(h) = decode_header(&b0, gen) {
                    let blocks = h.blocks(bs);
                    if h.first_seq == pos.seq && h.nrec > 0 && v % total + blocks <= total {
                        found = Some((v, h, b0));
                        break;
                    }
                }
            }
            let Some((v, h, b0)) = found else { break };
            let blocks = h.blocks(bs);
            let frame = if blocks > 1 {
                let mut f = b0;
                f.extend(self.read_blocks(v + 1, blocks - 1)?);
                f
            } else {
                b0
            };
            let Some(recs) = decode_records(&frame, &h) else {
                break;
            };
            acked = acked.max(h.acked);
            let recs = recs
                .into_iter()
                .enumerate()
                .map(|(i, r)| (h.first_seq + i as u64, r))
                .collect();
            frames.push((
                WalPos {
                    seq: h.first_seq,
                    vblock: v,
                    gen,
                },
                recs,
            ));
            pos = WalPos {
                seq: h.first_seq + h.nrec as u64,
                vblock: v + blocks,
                gen,
            };
        }
        let (beyond, n) = if look_ahead {
            self.marks_beyond(pos)?
        } else {
            (0, 0)
        };
        acked = acked.max(beyond);
        let damage = (acked > pos.seq).then(|| WalDamage {
            off: self.dev_off(pos.vblock),
            seq: pos.seq,
            acked,
            frames_beyond: n,
        });
        Ok(WalScan {
            frames,
            acked,
            end: pos,
            damage,
        })
    }

    /// The highest mark past `end.seq` among intact frames of `end`'s
    /// generation in the rest of the lap after `end` (and how many such
    /// frames there are): frames written after one that was later lost.
    fn marks_beyond(&self, end: WalPos) -> Result<(u64, u64), BioError> {
        let (total, bs, tail) = {
            let st = self.st.borrow();
            (st.blocks, st.bs, st.tail)
        };
        let stop = tail.min(end.vblock) + total;
        let (mut best, mut n) = (0u64, 0u64);
        let mut v = end.vblock;
        let mut buf = Vec::new();
        while v < stop {
            let phys = v % total;
            let run = (total - phys).min(stop - v).min(SCAN_RUN);
            self.read_blocks_into(v, run, &mut buf)?;
            for i in 0..run {
                let at = i as usize * bs;
                let Some(h) = decode_header(&buf[at..at + bs], end.gen) else {
                    continue;
                };
                let blocks = h.blocks(bs);
                if h.first_seq < end.seq || h.acked <= end.seq || phys + i + blocks > total {
                    continue;
                }
                let frame = if i + blocks <= run {
                    buf[at..at + blocks as usize * bs].to_vec()
                } else {
                    self.read_blocks(v + i, blocks)?
                };
                if decode_records(&frame, &h).is_some() {
                    best = best.max(h.acked);
                    n += 1;
                }
            }
            v += run;
        }
        Ok((best, n))
    }

    /// Moves the head to `pos` (a frame start returned by replay, or the
    /// end of one) with the next generation, so the next append overwrites
    /// from there and nothing left behind can be replayed. Only while idle.
    pub fn restart_at(&self, pos: WalPos) -> Result<(), BioError> {
        let mut st = self.st.borrow_mut();
        if !st.inflight.is_empty() || !st.pending.is_empty() {
            return Err(BioError::Inval(
                "cannot move the WAL head with commits in flight".into(),
            ));
        }
        if pos.vblock < st.tail {
            return Err(BioError::Inval(
                "WAL restart position is behind its tail".into(),
            ));
        }
        let gen = pos.gen.wrapping_add(1);
        st.head = WalPos { gen, ..pos };
        st.gen = gen;
        st.next_seq = pos.seq;
        st.next_v = pos.vblock;
        st.submitted_seq = pos.seq;
        st.acked = pos.seq;
        Ok(())
    }
}
