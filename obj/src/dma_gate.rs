//! Admission of an engine target's fetches against its DMA buffers.
//!
//! A vos fetch issues one device read per piece of data it resolved and
//! keeps every read's DMA buffer until the last read is in (it then
//! checks and assembles them). A read waits for buffers while the pool is
//! exhausted, so fetches whose pieces together need more than the pool
//! wait for each other for ever: the reads that got buffers hold them
//! until reads that wait for those very buffers finish. One fetch can do
//! it alone (a file written by thousands of small appends is thousands of
//! extents, each a block-sized read), several concurrent fetches together.
//!
//! The engine therefore never lets that happen: [`next_unit`] cuts a
//! fetch's record range into pieces whose reads fit a budget (the size of
//! the DMA pool), the fetch runs them one after the other, and
//! [`DmaGate`] admits a piece only while the pieces admitted on the
//! target need no more than the budget together. Then every admitted read
//! can get its buffers once updates (which never wait while holding
//! buffers) give theirs back, so every fetch finishes.

use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::rc::Rc;

use tse::{SchedHandle, Task};
use vos::{Cont, Epoch, ObjId, Recx};

/// The granule the DMA pool hands out (`bio::dma::DMA_PAGE`).
const DMA_PAGE: u64 = 4096;

/// What a target's fetches may hold in DMA buffers at once, and who
/// waits for room.
pub(crate) struct DmaGate {
    budget: u64,
    used: Cell<u64>,
    /// Fetches waiting, oldest first: bytes wanted and the task to
    /// complete once they are granted.
    queue: RefCell<VecDeque<(u64, Task)>>,
}

/// Bytes granted by [`DmaGate::acquire`]; given back when dropped.
pub(crate) struct Grant {
    gate: Rc<DmaGate>,
    bytes: u64,
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.gate.release(self.bytes);
    }
}

impl DmaGate {
    /// A gate letting fetches hold up to `budget` bytes of DMA buffers.
    pub(crate) fn new(budget: u64) -> Rc<DmaGate> {
        Rc::new(DmaGate {
            budget: budget.max(DMA_PAGE),
            used: Cell::new(0),
            queue: RefCell::new(VecDeque::new()),
        })
    }

    /// The budget: the most one admitted piece should need.
    pub(crate) fn budget(&self) -> u64 {
        self.budget
    }

    /// Waits until `bytes` more fit (first come, first served) and takes
    /// them. A need above the budget is admitted alone.
    pub(crate) async fn acquire(self: &Rc<Self>, sh: &SchedHandle, bytes: u64) -> Grant {
        let bytes = bytes.min(self.budget);
        let waiting = !self.queue.borrow().is_empty();
        if !waiting && self.used.get() + bytes <= self.budget {
            self.used.set(self.used.get() + bytes);
        } else {
            let t = sh.create_empty("obj_fetch_admit");
            self.queue.borrow_mut().push_back((bytes, t.clone()));
            // Completed by `release` once granted (counted then), or
            // canceled with the scheduler: either way it is over.
            let _ = t.await;
        }
        Grant {
            gate: self.clone(),
            bytes,
        }
    }

    fn release(&self, bytes: u64) {
        self.used.set(self.used.get().saturating_sub(bytes));
        loop {
            let next = {
                let mut q = self.queue.borrow_mut();
                match q.front() {
                    Some(&(b, _)) if self.used.get() + b <= self.budget => {
                        self.used.set(self.used.get() + b);
                        q.pop_front().map(|(_, t)| t)
                    }
                    _ => None,
                }
            };
            match next {
                Some(t) => t.complete(0),
                None => return,
            }
        }
    }
}

fn round_up(n: u64, to: u64) -> u64 {
    n.div_ceil(to) * to
}

/// The first records of `recx` (at least one segment of it) that one vos
/// fetch of array akey `akey` at `epoch` may read within `budget` bytes
/// of DMA buffers, and the bytes it needs: the pieces
/// `Cont::fetch_array_task` reads (the checksum chunks a segment lies in
/// for a chunked extent, else the whole extent, once per fetch), each
/// rounded to the block size and the DMA page.
pub(crate) fn next_unit(
    c: &Cont,
    oid: ObjId,
    dkey: &[u8],
    akey: &[u8],
    epoch: Epoch,
    recx: Recx,
    budget: u64,
) -> Result<(Recx, u64), i32> {
    let t = c.target();
    let unit = round_up(u64::from(t.superblock().geo.block_size).max(1), DMA_PAGE);
    t.with_index(|idx| {
        let segs = idx
            .fetch_array(c.id(), oid, dkey, akey, epoch, recx)
            .map_err(|e| e.rc())?;
        let rsize = idx.array_rsize(c.id(), oid, dkey, akey).unwrap_or(1);
        let mut whole = HashSet::new();
        let (mut need, mut end) = (0u64, recx.idx);
        for s in &segs {
            let cost = match s.src {
                None => 0,
                Some((at, addr)) => match idx.chunk_csums(&addr) {
                    Some(sums) => {
                        let chunk = u64::from(sums.chunk).max(1);
                        let from = at - addr.off;
                        let start = from / chunk * chunk;
                        let stop = round_up(from + s.recx.nr * rsize, chunk).min(addr.len);
                        round_up(stop.saturating_sub(start), unit)
                    }
                    None if whole.insert(addr.off) => round_up(addr.len, unit),
                    None => 0,
                },
            };
            if end > recx.idx && need + cost > budget {
                break;
            }
            need += cost;
            end = s.recx.idx + s.recx.nr;
        }
        let nr = (end - recx.idx).max(1).min(recx.nr);
        Ok((Recx { idx: recx.idx, nr }, need))
    })
}

/// Bytes of DMA buffers the fetch of a single value at `epoch` reads.
pub(crate) fn single_need(
    c: &Cont,
    oid: ObjId,
    dkey: &[u8],
    akey: &[u8],
    epoch: Epoch,
) -> Result<u64, i32> {
    let t = c.target();
    let unit = round_up(u64::from(t.superblock().geo.block_size).max(1), DMA_PAGE);
    t.with_index(|idx| {
        idx.fetch_single(c.id(), oid, dkey, akey, epoch)
            .map(|a| a.map_or(0, |a| round_up(a.len, unit)))
            .map_err(|e| e.rc())
    })
}
