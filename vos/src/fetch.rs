//! Fetches as tasks (`vos_fetch_begin` / `vos_fetch_end`): the index is
//! resolved at once (it is in memory), every device read the fetch needs
//! is issued together, and a completion task checks each read against its
//! checksum and assembles the bytes. Nothing waits by running the
//! scheduler underneath a caller, so a target serves many fetches at a
//! time, and updates, checkpoints and aggregation run between them.
//!
//! What is read: an extent with [`ChunkCsums`] only in the chunks a
//! segment lies in (each checked against its own sum), any other extent
//! or single value whole, once per fetch however many segments use it
//! (checked against [`DataAddr::csum`]).

use std::cell::RefCell;
use std::rc::Rc;

use bio::Iod;
use tse::Task;

use crate::cont::Cont;
use crate::error::VosError;
use crate::extent::Segment;
use crate::target::{bio, round_up};
use crate::types::{ChunkCsums, DataAddr, Epoch, ObjId, Recx};

/// Where a fetch task leaves what it read (or why it failed) once it
/// completed; the task's own result is 0 or the error's `-DER_*` code.
pub type FetchSlot<T> = Rc<RefCell<Option<Result<T, VosError>>>>;

/// An array fetch's bytes (holes as zeros) and the segments they came
/// from (which are holes).
pub type ArrayFetch = (Vec<u8>, Vec<Segment>);

/// A single value's bytes, `None` when never set or punched.
pub type SingleFetch = Option<Vec<u8>>;

/// How the bytes of one device read are checked.
enum Check {
    /// The whole extent or single value (`what`), against its checksum.
    Whole { csum: u32, what: &'static str },
    /// Chunks `first..` of an extent, against their sums.
    Chunks { first: usize, sums: ChunkCsums },
}

/// One device read of a fetch and where its bytes go.
struct Piece {
    /// Device offset (block-aligned).
    dev_off: u64,
    /// Bytes of the extent it covers (the read itself is block-rounded).
    len: usize,
    check: Check,
    /// `(offset in this read, offset in the output, bytes)`.
    copies: Vec<(usize, usize, usize)>,
    /// For a whole read: the extent (so later segments reuse it).
    whole: Option<DataAddr>,
}

impl Piece {
    /// Checks `b` (the read's bytes) and copies its parts into `out`.
    fn finish(&self, b: &[u8], out: &mut [u8]) -> Result<(), VosError> {
        let b = &b[..self.len];
        match &self.check {
            Check::Whole { csum, what } => {
                let crc = crc32c::crc32c(b);
                if crc != *csum {
                    return Err(VosError::BadChecksum {
                        what,
                        stored: *csum,
                        computed: crc,
                    });
                }
            }
            Check::Chunks { first, sums } => {
                for (i, piece) in b.chunks(sums.chunk as usize).enumerate() {
                    let (stored, computed) = (sums.sums[first + i], crc32c::crc32c(piece));
                    if stored != computed {
                        return Err(VosError::BadChecksum {
                            what: "data chunk",
                            stored,
                            computed,
                        });
                    }
                }
            }
        }
        for &(from, to, n) in &self.copies {
            out[to..to + n].copy_from_slice(&b[from..from + n]);
        }
        Ok(())
    }
}

impl Cont {
    /// `vos_fetch_begin` for records `recx` of an array akey at `epoch`:
    /// a task that completes once every byte is read and checked (holes
    /// read as zeros); then the slot holds the bytes and the segments, or
    /// the error (a checksum mismatch is an error, never data). Errors
    /// found before any I/O (an unknown container, key or type) are
    /// returned at once.
    pub fn fetch_array_task(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
        recx: Recx,
    ) -> Result<(Task, FetchSlot<ArrayFetch>), VosError> {
        let t = self.target();
        let (segs, rsize, chunked) = t.with_index(|idx| {
            let segs = idx.fetch_array(self.id(), oid, dkey, akey, epoch, recx)?;
            let chunked: Vec<Option<ChunkCsums>> = segs
                .iter()
                .map(|s| s.src.and_then(|(_, a)| idx.chunk_csums(&a).cloned()))
                .collect();
            let rsize = idx.array_rsize(self.id(), oid, dkey, akey).unwrap_or(1);
            Ok::<_, VosError>((segs, rsize, chunked))
        })?;
        let data_off = t.superblock().geo.data_off;
        let mut pieces: Vec<Piece> = Vec::new();
        for (s, chunks) in segs.iter().zip(chunked) {
            let Some((at, addr)) = s.src else { continue };
            let from = (at - addr.off) as usize;
            let n = (s.recx.nr * rsize) as usize;
            let to = ((s.recx.idx - recx.idx) * rsize) as usize;
            match chunks {
                Some(sums) => {
                    // Only the chunks the segment lies in.
                    let chunk = sums.chunk as usize;
                    let first = from / chunk;
                    let start = first * chunk;
                    let end = ((from + n).div_ceil(chunk) * chunk).min(addr.len as usize);
                    pieces.push(Piece {
                        dev_off: data_off + addr.off + start as u64,
                        len: end - start,
                        check: Check::Chunks { first, sums },
                        copies: vec![(from - start, to, n)],
                        whole: None,
                    });
                }
                None => match pieces.iter_mut().find(|p| p.whole == Some(addr)) {
                    Some(p) => p.copies.push((from, to, n)),
                    None => pieces.push(Piece {
                        dev_off: data_off + addr.off,
                        len: addr.len as usize,
                        check: Check::Whole {
                            csum: addr.csum,
                            what: "data extent",
                        },
                        copies: vec![(from, to, n)],
                        whole: Some(addr),
                    }),
                },
            }
        }
        let out_len = (recx.nr * rsize) as usize;
        self.read_pieces(pieces, out_len, move |bytes| (bytes, segs))
    }

    /// `vos_fetch_begin` for a single value at `epoch`: the slot holds its
    /// bytes once the task completed (`None`: never set, or punched), its
    /// checksum verified.
    pub fn fetch_single_task(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
    ) -> Result<(Task, FetchSlot<SingleFetch>), VosError> {
        let t = self.target();
        let addr = t.with_index(|idx| idx.fetch_single(self.id(), oid, dkey, akey, epoch))?;
        let (pieces, len) = match addr {
            None => (Vec::new(), 0),
            Some(a) => (
                vec![Piece {
                    dev_off: t.superblock().geo.data_off + a.off,
                    len: a.len as usize,
                    check: Check::Whole {
                        csum: a.csum,
                        what: "single value",
                    },
                    copies: vec![(0, 0, a.len as usize)],
                    whole: Some(a),
                }],
                a.len as usize,
            ),
        };
        let found = addr.is_some();
        self.read_pieces(pieces, len, move |bytes| found.then_some(bytes))
    }

    /// Issues the reads of `pieces`; as each completes, its bytes are
    /// checked and copied into the output and its DMA buffer goes back to
    /// the pool (so a fetch of more pieces than the pool holds never
    /// waits on itself: its later reads get the buffers its earlier ones
    /// return); a `vos_fetch_end` task depending on all of them leaves
    /// `finish(bytes)` (`out_len` bytes) or the first error in the slot.
    fn read_pieces<T: 'static>(
        &self,
        pieces: Vec<Piece>,
        out_len: usize,
        finish: impl FnOnce(Vec<u8>) -> T + 'static,
    ) -> Result<(Task, FetchSlot<T>), VosError> {
        let t = self.target();
        let ctx = &t.ctx;
        let bs = t.superblock().geo.block_size as u64;
        // From here until its reads are done, space freed under the
        // extents it resolved is not handed out again.
        let n = t.fetch_started();
        // The output (holes read as zeros) and the first error.
        let acc: Rc<RefCell<(Vec<u8>, Option<VosError>)>> =
            Rc::new(RefCell::new((vec![0u8; out_len], None)));
        let mut deps: Vec<Task> = Vec::with_capacity(pieces.len());
        for p in pieces {
            let (task, iod) = match ctx.read(p.dev_off, round_up(p.len as u64, bs)) {
                Ok(r) => r,
                Err(e) => {
                    // Those issued finish on their own; their bytes are
                    // not looked at.
                    t.fetch_ended(n);
                    return Err(bio(e));
                }
            };
            let acc = acc.clone();
            let cb = move |r: &Task| {
                let mut acc = acc.borrow_mut();
                let (out, err) = &mut *acc;
                if err.is_none() {
                    if let Err(e) = finish_read(&p, r.result(), &iod, out) {
                        *err = Some(e);
                    }
                }
                // The read's buffer goes back now, not at the fetch's end.
                iod.release();
                0
            };
            if task.is_completed() {
                cb(&task);
            } else if task.register_comp_cb(cb).is_err() {
                t.fetch_ended(n);
                return Err(VosError::Inval("fetch task"));
            }
            deps.push(task);
        }
        let slot: FetchSlot<T> = Rc::new(RefCell::new(None));
        let out_slot = slot.clone();
        let mut state = Some((finish, t.clone()));
        let done = ctx.sched().create_named("vos_fetch_end", move |task| {
            let Some((finish, target)) = state.take() else {
                return;
            };
            let (out, err) = std::mem::take(&mut *acc.borrow_mut());
            target.fetch_ended(n);
            let r = match err {
                Some(e) => Err(e),
                None => Ok(finish(out)),
            };
            let rc = r.as_ref().err().map_or(0, VosError::rc);
            *out_slot.borrow_mut() = Some(r);
            task.complete(rc);
        });
        // Each read's status is looked at in its callback.
        done.disable_propagate();
        let queued = done
            .register_deps(&deps)
            .map_err(|_| VosError::Inval("fetch task"))
            .and_then(|_| {
                done.schedule(false).map_err(|e| VosError::IoStatus {
                    what: "scheduling the fetch".into(),
                    rc: e.rc(),
                })
            });
        if let Err(e) = queued {
            t.fetch_ended(n);
            return Err(e);
        }
        Ok((done, slot))
    }
}

/// One finished read of a fetch (status `rc`): checks its bytes and copies
/// them into `out`, from DMA memory where the read lies in one buffer.
fn finish_read(p: &Piece, rc: i32, iod: &Iod, out: &mut [u8]) -> Result<(), VosError> {
    if rc != 0 {
        return Err(VosError::IoStatus {
            what: format!("reading {} bytes at {}", p.len, p.dev_off),
            rc,
        });
    }
    if let Some(r) = iod.with_bytes(|b| p.finish(b, out)) {
        return r;
    }
    p.finish(&iod.to_vec().map_err(bio)?, out)
}
