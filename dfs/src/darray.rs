//! The array object (DAOS's `daos_array_*` / `dc_array_*`): an object of
//! fixed-size cells, `chunk` cells per dkey, on top of [`obj`].
//!
//! Layout in the object (integer dkeys, big-endian `u64`):
//!
//! * dkey 0, akey [`MD_AKEY`]: the metadata, one single value of
//!   [`MD_LEN`] little-endian bytes: magic [`MD_MAGIC`], version
//!   [`MD_VERSION`] (`u32`), a reserved `u32`, the cell size in bytes
//!   (`u64`) and the chunk size in cells (`u64`);
//! * dkey `c + 1`, akey [`DATA_AKEY`] (`"0"`): chunk `c`, i.e. cells
//!   `[c * chunk, (c + 1) * chunk)`, as an array of `cell`-byte records
//!   indexed **relative to the chunk start** (record `i` of the array is
//!   record `i % chunk` of dkey `i / chunk + 1`). Writes, reads, punches
//!   and [`Array::get_size`] all use this convention.
//!
//! A write is the seed's task graph: the task `dc_array_write` runs
//! `dc_array_io` (a traced step) which splits the I/O (`compute_dkey`,
//! `create_sgl`), makes one `dc_obj_update_task` per dkey, registers them
//! as its own dependencies (`tse_task_register_deps`) and schedules them
//! as a list (`tse_task_list_sched`); `dc_array_write` completes with the
//! last of them, with the first error. A read is the same with one
//! `dc_obj_fetch_task` per dkey, each scattering its data into the
//! caller's result as it completes.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use obj::cli::ObjHandle;
use obj::oclass::{oid_class, ObjType};
use obj::rpc::{IodDesc, PunchKind};
use obj::transport::BulkRef;
use obj::vos::{Epoch, Recx};
use obj::ObjError;
use tse::{der, Task};

use crate::array::{
    clip_to_dkey, dkeys_touched, merge_ranges, split_io, split_records, ArrayError, ChunkRecx,
    DkeyIo, Range, SgPiece,
};

/// The dkey holding the array's metadata (reserved by the array math:
/// chunks start at dkey 1).
pub const MD_DKEY: u64 = 0;
/// The akey of the metadata single value in dkey [`MD_DKEY`].
pub const MD_AKEY: &[u8] = b"daos_array_md";
/// The akey of the cells in every chunk's dkey.
pub const DATA_AKEY: &[u8] = b"0";
/// First 8 bytes of the metadata (`"rdaosarr"` read as a little-endian
/// `u64`).
pub const MD_MAGIC: u64 = u64::from_le_bytes(*b"rdaosarr");
/// Version of the metadata layout this code writes and reads.
pub const MD_VERSION: u32 = 1;
/// Length of the metadata value in bytes.
pub const MD_LEN: usize = 32;
/// A punch touching at most this many dkeys sends one punch per dkey it
/// touches; a wider one enumerates the array's dkeys first and punches
/// only those that exist.
pub const PUNCH_SPLIT_MAX: u64 = 1024;

/// An open array: an object handle and the array's geometry. Cheap to
/// clone; not `Send` (it uses the object client of the calling thread).
#[derive(Clone)]
pub struct Array {
    oh: ObjHandle,
    cell: u64,
    chunk: u64,
}

impl fmt::Debug for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("oid", &self.oh.oid())
            .field("cell", &self.cell)
            .field("chunk", &self.chunk)
            .finish()
    }
}

/// What a read returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadResult {
    /// The cells of the read's ranges, in range order (`len * cell` bytes
    /// per range); cells never written (or punched) read as zeros.
    pub data: Vec<u8>,
    /// The cells among those read that hold no data (never written, or
    /// punched), as absolute cell ranges, sorted and merged.
    pub holes: Vec<Range>,
}

/// Where a read task leaves its result once it succeeded.
pub type ReadOut = Rc<RefCell<Option<ReadResult>>>;

/// Checks an array's geometry: both sizes non-zero, a chunk's bytes
/// addressable in memory.
pub fn check_geometry(cell: u64, chunk: u64) -> Result<(), ArrayError> {
    let bad = |why| Err(ArrayError::BadGeometry { cell, chunk, why });
    if cell == 0 {
        return bad("the cell size must be non-zero");
    }
    if chunk == 0 {
        return bad("the chunk size must be non-zero");
    }
    match chunk.checked_mul(cell) {
        Some(b) if b <= isize::MAX as u64 => Ok(()),
        _ => bad("a chunk (chunk x cell bytes) must fit in memory"),
    }
}

/// Encodes the metadata value.
pub fn encode_md(cell: u64, chunk: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(MD_LEN);
    v.extend_from_slice(&MD_MAGIC.to_le_bytes());
    v.extend_from_slice(&MD_VERSION.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&cell.to_le_bytes());
    v.extend_from_slice(&chunk.to_le_bytes());
    v
}

/// Decodes the metadata value into `(cell, chunk)`, checking its length,
/// magic, version and geometry.
pub fn decode_md(b: &[u8]) -> Result<(u64, u64), ArrayError> {
    if b.len() != MD_LEN {
        return Err(ArrayError::Corrupt(format!(
            "{} bytes of metadata, expected {MD_LEN}",
            b.len()
        )));
    }
    let u64_at = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[o..o + 8]);
        u64::from_le_bytes(a)
    };
    let magic = u64_at(0);
    if magic != MD_MAGIC {
        return Err(ArrayError::Corrupt(format!("bad magic {magic:#018x}")));
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[8..12]);
    let version = u32::from_le_bytes(v);
    if version != MD_VERSION {
        return Err(ArrayError::Corrupt(format!(
            "metadata version {version}, this code reads {MD_VERSION}"
        )));
    }
    let (cell, chunk) = (u64_at(16), u64_at(24));
    check_geometry(cell, chunk).map_err(|e| ArrayError::Corrupt(e.to_string()))?;
    Ok((cell, chunk))
}

fn dkey_bytes(d: u64) -> [u8; 8] {
    d.to_be_bytes()
}

fn recxs(x: &[ChunkRecx]) -> Vec<Recx> {
    x.iter().map(|r| Recx::new(r.idx, r.nr)).collect()
}

/// Bytes `ranges` cover with `cell`-byte cells; an error when a range
/// runs past the index space or the total overflows.
fn io_bytes(ranges: &[Range], cell: u64) -> Result<u64, ArrayError> {
    let mut total = 0u64;
    for r in ranges {
        if r.idx.checked_add(r.len).is_none() {
            return Err(ArrayError::Inval("range past the end of the index space"));
        }
        total = r
            .len
            .checked_mul(cell)
            .and_then(|b| total.checked_add(b))
            .ok_or(ArrayError::Inval("ranges too large"))?;
    }
    Ok(total)
}

/// `create_sgl` for one piece: a view of `len` bytes at `off` of `b`
/// (no copy: the engine pulls from the caller's buffer).
fn sub_view(b: &BulkRef, off: usize, len: usize) -> Result<BulkRef, ArrayError> {
    Ok(b.slice(off, len)?)
}

/// Makes the running task `t` complete with the last of `deps` (which
/// must not have been scheduled yet: none of them is complete) after
/// scheduling them as a list (`tse_task_register_deps` +
/// `tse_task_list_sched`). With no deps, `t` completes now.
fn fan_out(t: &Task, deps: &[Task]) {
    if deps.is_empty() {
        return t.complete(0);
    }
    let sh = t.sched();
    let step = sh.step("tse_task_register_deps");
    let r = t.register_deps(deps);
    step.end(r.as_ref().map_or_else(|e| e.rc(), |_| 0));
    if let Err(e) = r {
        // The deps were never scheduled: dropping them cancels them.
        return t.complete(e.rc());
    }
    let step = sh.step("tse_task_list_sched");
    let r = tse::list_sched(deps, false);
    step.end(r.as_ref().map_or_else(|e| e.rc(), |_| 0));
    if let Err(e) = r {
        t.complete(e.rc());
    }
    // Otherwise `t` completes with the last of its deps.
}

/// What `dc_array_write` writes: one range from one buffer, or several.
enum WriteArgs {
    One(Range, BulkRef),
    Many(Vec<Range>, Vec<BulkRef>),
}

impl Array {
    fn check_type(oh: &ObjHandle, cell: u64, chunk: u64) -> Result<(), ArrayError> {
        let (otype, _) = oid_class(oh.oid())?;
        if !otype.int_dkeys() {
            return Err(ArrayError::NotArray(format!("{:?}", oh.oid())));
        }
        if otype == ObjType::ArrayByte && cell != 1 {
            return Err(ArrayError::BadGeometry {
                cell,
                chunk,
                why: "a byte array (ObjType::ArrayByte) has 1-byte cells",
            });
        }
        Ok(())
    }

    fn read_md(oh: &ObjHandle) -> Result<Option<Vec<u8>>, ArrayError> {
        let iod = IodDesc {
            akey: MD_AKEY.to_vec(),
            single: true,
            rsize: 0,
            recxs: Vec::new(),
        };
        let r = oh.fetch(&dkey_bytes(MD_DKEY), vec![iod], None)?;
        Ok(match r.sizes.first() {
            Some(Some(_)) => Some(r.data),
            _ => None,
        })
    }

    /// `daos_array_create`: makes `oh` an array of `cell_size`-byte cells,
    /// `chunk_size` cells per dkey, by writing its metadata to dkey 0.
    /// The object must be of an array type (`ObjType::Array`, or
    /// `ObjType::ArrayByte` with 1-byte cells) and hold no array yet
    /// ([`ArrayError::Exists`]; the check and the write are two steps,
    /// not one conditional update).
    pub fn create(oh: &ObjHandle, cell_size: u64, chunk_size: u64) -> Result<Array, ArrayError> {
        check_geometry(cell_size, chunk_size)?;
        Array::check_type(oh, cell_size, chunk_size)?;
        if Array::read_md(oh)?.is_some() {
            return Err(ArrayError::Exists);
        }
        let md = encode_md(cell_size, chunk_size);
        let iod = IodDesc {
            akey: MD_AKEY.to_vec(),
            single: true,
            rsize: md.len() as u64,
            recxs: Vec::new(),
        };
        oh.update(
            &dkey_bytes(MD_DKEY),
            vec![iod],
            vec![BulkRef::from_vec(md)],
            None,
        )?;
        Ok(Array {
            oh: oh.clone(),
            cell: cell_size,
            chunk: chunk_size,
        })
    }

    /// `daos_array_open`: reads the geometry back from the metadata
    /// ([`ArrayError::NotFound`] when there is none, e.g. after
    /// [`destroy`](Self::destroy); [`ArrayError::Corrupt`] when it does
    /// not decode).
    pub fn open(oh: &ObjHandle) -> Result<Array, ArrayError> {
        let md = Array::read_md(oh)?.ok_or(ArrayError::NotFound)?;
        let (cell, chunk) = decode_md(&md)?;
        Array::check_type(oh, cell, chunk)?;
        Ok(Array {
            oh: oh.clone(),
            cell,
            chunk,
        })
    }

    /// `daos_array_open_with_attr`: an array of the given geometry without
    /// metadata I/O (as DFS opens its files), checked but not recorded.
    pub fn open_with_attr(
        oh: &ObjHandle,
        cell_size: u64,
        chunk_size: u64,
    ) -> Result<Array, ArrayError> {
        check_geometry(cell_size, chunk_size)?;
        Array::check_type(oh, cell_size, chunk_size)?;
        Ok(Array {
            oh: oh.clone(),
            cell: cell_size,
            chunk: chunk_size,
        })
    }

    /// The object handle.
    pub fn obj(&self) -> &ObjHandle {
        &self.oh
    }

    /// Cell size in bytes.
    pub fn cell_size(&self) -> u64 {
        self.cell
    }

    /// Chunk size in cells (cells per dkey).
    pub fn chunk_size(&self) -> u64 {
        self.chunk
    }

    fn wait(&self, t: &Task, op: &'static str) -> Result<(), ArrayError> {
        t.schedule(true)
            .map_err(|_| ObjError::Inval("scheduler closed"))?;
        Ok(self.oh.client().wait(t, op)?)
    }

    /// `dc_array_write` as a task (created, not scheduled): writes the
    /// cells of `ranges` (in order) from `sgl` (its buffers concatenated),
    /// one `dc_obj_update_task` per dkey. The task completes once every
    /// update did, with the first error. Refused up front when the ranges
    /// run past the index space or `sgl` does not hold exactly
    /// `sum(len) * cell` bytes. Empty ranges are skipped; a write of
    /// nothing succeeds without I/O.
    pub fn write_task(&self, ranges: &[Range], sgl: &[BulkRef]) -> Result<Task, ArrayError> {
        let total = io_bytes(ranges, self.cell)?;
        let buffers: u64 = sgl.iter().map(|b| b.len() as u64).sum();
        if total != buffers {
            return Err(ArrayError::SizeMismatch {
                ranges: total,
                buffers,
            });
        }
        let arr = self.clone();
        // One range from one buffer (dfs_write's case) is kept as it is,
        // anything else in vectors.
        let mut state = Some(match (ranges, sgl) {
            ([r], [b]) => WriteArgs::One(*r, b.clone()),
            _ => WriteArgs::Many(ranges.to_vec(), sgl.to_vec()),
        });
        Ok(self
            .oh
            .client()
            .sched()
            .create_named("dc_array_write", move |t| match state.take() {
                Some(WriteArgs::One(r, b)) => {
                    arr.dc_array_io_write(t, std::slice::from_ref(&r), std::slice::from_ref(&b))
                }
                Some(WriteArgs::Many(ranges, sgl)) => arr.dc_array_io_write(t, &ranges, &sgl),
                None => {}
            }))
    }

    /// The body of `dc_array_write`: `dc_array_io` for a write.
    fn dc_array_io_write(&self, t: &Task, ranges: &[Range], sgl: &[BulkRef]) {
        let sh = t.sched();
        let io = sh.step("dc_array_io");
        if let ([r], [b]) = (ranges, sgl) {
            // One range from one buffer inside one chunk (a write that does
            // not cross a dkey): the split is the range itself and the sgl
            // the whole buffer (its length was checked against the range).
            let (dkey, rec, room) = crate::array::compute_dkey(r.idx, self.chunk);
            if r.len > 0 && r.len <= room {
                sh.step("compute_dkey").end(0);
                sh.step("create_sgl").end(0);
                let iod = IodDesc::array(DATA_AKEY, self.cell, vec![Recx::new(rec, r.len)]);
                match self
                    .oh
                    .update_task(&dkey_bytes(dkey), vec![iod], vec![b.clone()], None)
                {
                    Ok(u) => fan_out(t, std::slice::from_ref(&u)),
                    Err(e) => {
                        io.end(e.rc());
                        return t.complete(e.rc());
                    }
                }
                return io.end(0);
            }
        }
        let Some(ios) = self.compute_dkey(t, ranges, sgl.iter().map(BulkRef::len).collect()) else {
            return io.end(t.result());
        };
        let step = sh.step("create_sgl");
        let bulks: Result<Vec<Vec<BulkRef>>, ArrayError> = ios
            .iter()
            .map(|dio| {
                dio.sgl
                    .iter()
                    .map(|p| sub_view(&sgl[p.iov], p.off, p.len))
                    .collect()
            })
            .collect();
        let bulks = match bulks {
            Ok(b) => {
                step.end(0);
                b
            }
            Err(e) => {
                step.end(e.rc());
                io.end(e.rc());
                return t.complete(e.rc());
            }
        };
        let mut tasks = Vec::with_capacity(ios.len());
        for (dio, bulk) in ios.iter().zip(bulks) {
            let iod = IodDesc::array(DATA_AKEY, self.cell, recxs(&dio.recxs));
            match self
                .oh
                .update_task(&dkey_bytes(dio.dkey), vec![iod], bulk, None)
            {
                Ok(u) => tasks.push(u),
                Err(e) => {
                    io.end(e.rc());
                    return t.complete(e.rc());
                }
            }
        }
        fan_out(t, &tasks);
        io.end(0);
    }

    /// The `compute_dkey` step: the split, or `None` after completing `t`
    /// with the error.
    fn compute_dkey(&self, t: &Task, ranges: &[Range], lens: Vec<usize>) -> Option<Vec<DkeyIo>> {
        let step = t.sched().step("compute_dkey");
        match split_io(ranges, &lens, self.cell, self.chunk) {
            Ok(ios) => {
                step.end(0);
                Some(ios)
            }
            Err(e) => {
                step.end(e.rc());
                t.complete(e.rc());
                None
            }
        }
    }

    /// Blocking write of `ranges` from `sgl` (see
    /// [`write_task`](Self::write_task)).
    pub fn write_ranges(&self, ranges: &[Range], sgl: &[BulkRef]) -> Result<(), ArrayError> {
        let t = self.write_task(ranges, sgl)?;
        self.wait(&t, "dc_array_write")
    }

    /// Blocking write of `data` at cell `idx` (`daos_array_write` of one
    /// range). `data` must be a whole number of cells.
    pub fn write(&self, idx: u64, data: BulkRef) -> Result<(), ArrayError> {
        self.oh
            .client()
            .sched()
            .block_on(self.write_async(idx, data))
    }

    /// [`write`](Self::write) as a future: the `dc_array_write` task,
    /// scheduled and awaited on the client's scheduler.
    pub async fn write_async(&self, idx: u64, data: BulkRef) -> Result<(), ArrayError> {
        let len = data.len() as u64;
        if len % self.cell != 0 {
            return Err(ArrayError::NotCellMultiple {
                len,
                cell: self.cell,
            });
        }
        let t = self.write_task(
            &[Range {
                idx,
                len: len / self.cell,
            }],
            &[data],
        )?;
        Ok(self.oh.client().run_task(t, "dc_array_write").await?)
    }

    /// `dc_array_read` as a task (created, not scheduled): reads the cells
    /// of `ranges`, one `dc_obj_fetch_task` per dkey. Once it succeeded the
    /// returned cell holds the [`ReadResult`] (the data in range order,
    /// holes as zeros, and where the holes are). The output buffer is
    /// allocated here: a read larger than what can be allocated is refused
    /// with [`ArrayError::TooLarge`].
    pub fn read_task(&self, ranges: &[Range]) -> Result<(Task, ReadOut), ArrayError> {
        let total = io_bytes(ranges, self.cell)?;
        let n = usize::try_from(total)
            .ok()
            .filter(|n| *n <= isize::MAX as usize)
            .ok_or(ArrayError::TooLarge(total))?;
        let mut data = Vec::new();
        data.try_reserve_exact(n)
            .map_err(|_| ArrayError::TooLarge(total))?;
        data.resize(n, 0);
        let acc = Rc::new(RefCell::new(ReadResult {
            data,
            holes: Vec::new(),
        }));
        let out: ReadOut = Rc::new(RefCell::new(None));
        let arr = self.clone();
        let ranges = ranges.to_vec();
        let acc2 = acc.clone();
        let mut started = false;
        let t = self
            .oh
            .client()
            .sched()
            .create_named("dc_array_read", move |t| {
                if !std::mem::replace(&mut started, true) {
                    arr.dc_array_io_read(t, &ranges, n, &acc2);
                }
            });
        let out2 = out.clone();
        t.register_comp_cb(move |t| {
            if t.result() == 0 {
                let mut r = std::mem::take(&mut *acc.borrow_mut());
                r.holes = merge_ranges(&r.holes);
                *out2.borrow_mut() = Some(r);
            }
            0
        })
        .map_err(|_| ObjError::Inval("task already completed"))?;
        Ok((t, out))
    }

    /// The body of `dc_array_read`: `dc_array_io` for a read.
    fn dc_array_io_read(
        &self,
        t: &Task,
        ranges: &[Range],
        n: usize,
        acc: &Rc<RefCell<ReadResult>>,
    ) {
        let sh = t.sched();
        let io = sh.step("dc_array_io");
        // The output is one buffer: the split's pieces are where each
        // dkey's bytes go in it.
        let Some(ios) = self.compute_dkey(t, ranges, vec![n]) else {
            return io.end(t.result());
        };
        let mut tasks = Vec::with_capacity(ios.len());
        for dio in ios {
            let iod = IodDesc::array(DATA_AKEY, self.cell, recxs(&dio.recxs));
            let (f, fout) = match self.oh.fetch_task(&dkey_bytes(dio.dkey), vec![iod], None) {
                Ok(x) => x,
                Err(e) => {
                    io.end(e.rc());
                    return t.complete(e.rc());
                }
            };
            let acc = acc.clone();
            let base = (dio.dkey - 1) * self.chunk;
            let pieces = dio.sgl;
            let r = f.register_comp_cb(move |f| {
                if f.result() != 0 {
                    return 0;
                }
                let step = f.sched().step("array_fetch_scatter");
                let res = fout.borrow_mut().take();
                let rc = match res {
                    Some(r) => scatter(&mut acc.borrow_mut(), r, &pieces, base),
                    None => -der::DER_PROTO,
                };
                step.end(rc);
                rc
            });
            if let Err(e) = r {
                io.end(e.rc());
                return t.complete(e.rc());
            }
            tasks.push(f);
        }
        fan_out(t, &tasks);
        io.end(0);
    }

    /// Blocking read of `ranges` (see [`read_task`](Self::read_task)).
    pub fn read_ranges(&self, ranges: &[Range]) -> Result<ReadResult, ArrayError> {
        let (t, out) = self.read_task(ranges)?;
        self.wait(&t, "dc_array_read")?;
        let r = out.borrow_mut().take();
        r.ok_or_else(|| ObjError::Proto("read completed without data".into()).into())
    }

    /// Blocking read of `nr` cells from cell `idx`.
    pub fn read(&self, idx: u64, nr: u64) -> Result<ReadResult, ArrayError> {
        self.read_ranges(&[Range { idx, len: nr }])
    }

    /// `daos_array_get_size`: one past the highest cell holding data (0 for
    /// an empty array), from the highest dkey with data and the end of its
    /// last record (`query_key_max`).
    pub fn get_size(&self) -> Result<u64, ArrayError> {
        self.oh.client().sched().block_on(self.get_size_async())
    }

    /// [`get_size`](Self::get_size) as a future, to await on the client's
    /// scheduler.
    pub async fn get_size_async(&self) -> Result<u64, ArrayError> {
        Ok(self.stat_async().await?.0)
    }

    /// Blocking [`stat_async`](Self::stat_async).
    pub fn stat(&self) -> Result<(u64, Epoch), ArrayError> {
        self.oh.client().sched().block_on(self.stat_async())
    }

    /// `daos_array_stat`: the size in cells and the epoch of the newest
    /// write to the array (0 if none), in one query of every group.
    pub async fn stat_async(&self) -> Result<(u64, Epoch), ArrayError> {
        let (max, newest) = self.oh.query_key_async(DATA_AKEY, None).await?;
        Ok((self.size_from(max)?, newest))
    }

    /// Blocking [`stat_alloc_async`](Self::stat_alloc_async).
    pub fn stat_alloc(&self) -> Result<(u64, Epoch, u64), ArrayError> {
        self.oh.client().sched().block_on(self.stat_alloc_async())
    }

    /// [`stat_async`](Self::stat_async) and, in the same query, the bytes
    /// of cells the array holds (written, not punched: a sparse array's
    /// allocated size).
    pub async fn stat_alloc_async(&self) -> Result<(u64, Epoch, u64), ArrayError> {
        let (max, newest, records) = self.oh.query_key_records_async(DATA_AKEY, None).await?;
        Ok((
            self.size_from(max)?,
            newest,
            records.saturating_mul(self.cell),
        ))
    }

    /// The size in cells from the highest dkey with data and one past its
    /// last record there.
    fn size_from(&self, max: Option<(u64, u64)>) -> Result<u64, ArrayError> {
        let Some((dkey, end)) = max else {
            return Ok(0);
        };
        if dkey == MD_DKEY {
            return Err(ArrayError::Corrupt("cells in the metadata dkey".into()));
        }
        if end > self.chunk {
            return Err(ArrayError::Corrupt(format!(
                "dkey {dkey} holds records up to {end}, past its chunk of {}",
                self.chunk
            )));
        }
        (dkey - 1)
            .checked_mul(self.chunk)
            .and_then(|b| b.checked_add(end))
            .ok_or_else(|| ArrayError::Corrupt(format!("dkey {dkey} past the index space")))
    }

    /// The array's chunk dkeys (the metadata dkey and foreign keys left
    /// out).
    async fn chunk_dkeys(&self) -> Result<Vec<u64>, ArrayError> {
        Ok(self
            .oh
            .list_dkeys_async(None)
            .await?
            .into_iter()
            .filter_map(|k| <[u8; 8]>::try_from(k.as_slice()).ok())
            .map(u64::from_be_bytes)
            .filter(|d| *d != MD_DKEY)
            .collect())
    }

    /// Awaits every task of `tasks` (already scheduled); the first error.
    async fn wait_all(&self, tasks: &[Task], op: &'static str) -> Result<(), ArrayError> {
        let mut first = Ok(());
        for t in tasks {
            let r = t
                .clone()
                .await
                .map_err(|e| ObjError::Failed { op, rc: e.rc() });
            if first.is_ok() {
                first = r;
            }
        }
        Ok(first?)
    }

    /// `daos_array_set_size`: afterwards [`get_size`](Self::get_size) is
    /// `n`.
    ///
    /// * Shrink: every dkey wholly at or beyond cell `n` is punched
    ///   (`PunchKind::Dkey`, the dkeys found by enumeration) and the cells
    ///   `[n, end of chunk)` of the boundary dkey are punched
    ///   (`PunchKind::Recx`). If cell `n - 1` then holds no data (a hole
    ///   below the old end), one zero cell is written there.
    /// * Grow: one zero cell is written at `n - 1` (DAOS's extension: the
    ///   cells between the old and the new size are holes, which read as
    ///   zeros).
    pub fn set_size(&self, n: u64) -> Result<(), ArrayError> {
        self.oh.client().sched().block_on(self.set_size_async(n))
    }

    /// [`set_size`](Self::set_size) as a future (on the client's
    /// scheduler).
    pub async fn set_size_async(&self, n: u64) -> Result<(), ArrayError> {
        let cur = self.get_size_async().await?;
        if n == cur {
            return Ok(());
        }
        if n < cur {
            let rem = n % self.chunk;
            let boundary = n / self.chunk + 1;
            // Dkeys from `first_dead` up hold only cells >= n.
            let first_dead = if rem == 0 {
                boundary
            } else {
                boundary.saturating_add(1)
            };
            let mut dead = Vec::new();
            let mut cut = Vec::new();
            for d in self.chunk_dkeys().await? {
                if d >= first_dead {
                    dead.push(d);
                } else if rem != 0 && d == boundary {
                    cut.push((
                        d,
                        vec![ChunkRecx {
                            idx: rem,
                            nr: self.chunk - rem,
                        }],
                    ));
                }
            }
            self.punch_in_dkeys(&dead, cut, "dc_array_set_size").await?;
            if n == 0 || self.get_size_async().await? == n {
                return Ok(());
            }
        }
        self.write_async(n - 1, BulkRef::from_vec(vec![0; self.cell as usize]))
            .await
    }

    /// `daos_array_punch`: the cells of `ranges` become holes (they read as
    /// zeros and do not count in [`get_size`](Self::get_size)): one record
    /// punch (`PunchKind::Recx`) per dkey touched, or, for a punch over
    /// more than [`PUNCH_SPLIT_MAX`] dkeys, per existing dkey it covers.
    pub fn punch(&self, ranges: &[Range]) -> Result<(), ArrayError> {
        self.oh.client().sched().block_on(self.punch_async(ranges))
    }

    /// [`punch`](Self::punch) as a future (on the client's scheduler).
    pub async fn punch_async(&self, ranges: &[Range]) -> Result<(), ArrayError> {
        if ranges.iter().any(|r| r.idx.checked_add(r.len).is_none()) {
            return Err(ArrayError::Inval("range past the end of the index space"));
        }
        let merged = merge_ranges(ranges);
        if merged.is_empty() {
            return Ok(());
        }
        let per_dkey: Vec<(u64, Vec<ChunkRecx>)> =
            if dkeys_touched(&merged, self.chunk) <= PUNCH_SPLIT_MAX {
                split_records(&merged, self.chunk)?
            } else {
                self.chunk_dkeys()
                    .await?
                    .into_iter()
                    .map(|d| (d, clip_to_dkey(&merged, self.chunk, d)))
                    .filter(|(_, x)| !x.is_empty())
                    .collect()
            };
        self.punch_in_dkeys(&[], per_dkey, "dc_array_punch").await
    }

    /// Punches the dkeys `dead` whole (`PunchKind::Dkey`) and the cells
    /// `cut` (chunk-relative, per dkey) as records (`PunchKind::Recx`), all
    /// at once; the first error.
    async fn punch_in_dkeys(
        &self,
        dead: &[u64],
        cut: Vec<(u64, Vec<ChunkRecx>)>,
        op: &'static str,
    ) -> Result<(), ArrayError> {
        let mut tasks = Vec::with_capacity(dead.len());
        for d in dead {
            tasks.push(
                self.oh
                    .punch_task(PunchKind::Dkey, &dkey_bytes(*d), Vec::new(), None)?,
            );
        }
        let mut cuts = Vec::with_capacity(cut.len());
        for (d, x) in cut {
            let iod = IodDesc::array(DATA_AKEY, self.cell, recxs(&x));
            let t = self
                .oh
                .punch_task(PunchKind::Recx, &dkey_bytes(d), vec![iod], None)?;
            cuts.push(t);
        }
        tasks.extend(cuts);
        for t in &tasks {
            self.oh.client().adopt(t);
        }
        self.wait_all(&tasks, op).await
    }

    /// `daos_array_destroy`: punches the whole object, metadata included
    /// ([`open`](Self::open) then finds nothing).
    pub fn destroy(self) -> Result<(), ArrayError> {
        Ok(self.oh.punch(PunchKind::Obj, &[], Vec::new(), None)?)
    }
}

/// Copies one dkey's fetched bytes into the read's output at its pieces
/// and records its holes as absolute cell ranges (`base`: the chunk's
/// first cell). A status for the fetch task.
fn scatter(acc: &mut ReadResult, r: obj::cli::FetchResult, pieces: &[SgPiece], base: u64) -> i32 {
    let want: usize = pieces.iter().map(|p| p.len).sum();
    if r.data.len() != want {
        return -der::DER_PROTO;
    }
    match pieces {
        // The whole output from one dkey: take the fetched buffer.
        [p] if p.off == 0 && p.len == acc.data.len() => acc.data = r.data,
        _ => {
            let mut at = 0;
            for p in pieces {
                acc.data[p.off..p.off + p.len].copy_from_slice(&r.data[at..at + p.len]);
                at += p.len;
            }
        }
    }
    if let Some(holes) = r.holes.first() {
        acc.holes.extend(holes.iter().map(|h| Range {
            idx: base + h.idx,
            len: h.nr,
        }));
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_bad_metadata_is_refused() {
        let md = encode_md(3, 1000);
        assert_eq!(md.len(), MD_LEN);
        assert_eq!(decode_md(&md).unwrap(), (3, 1000));
        assert!(matches!(decode_md(&md[..31]), Err(ArrayError::Corrupt(_))));
        let mut bad = md.clone();
        bad[0] ^= 1;
        assert!(matches!(decode_md(&bad), Err(ArrayError::Corrupt(_))));
        let mut bad = md.clone();
        bad[8] = 2;
        assert!(matches!(decode_md(&bad), Err(ArrayError::Corrupt(_))));
        assert!(matches!(
            decode_md(&encode_md(0, 10)),
            Err(ArrayError::Corrupt(_))
        ));
        assert!(matches!(
            decode_md(&encode_md(1 << 40, 1 << 40)),
            Err(ArrayError::Corrupt(_))
        ));
    }

    #[test]
    fn geometry_is_checked() {
        assert!(check_geometry(1, 1).is_ok());
        assert!(check_geometry(8, 1 << 20).is_ok());
        for (cell, chunk) in [(0, 1), (1, 0), (u64::MAX, 2), (1 << 32, 1 << 32)] {
            let e = check_geometry(cell, chunk).unwrap_err();
            assert!(matches!(e, ArrayError::BadGeometry { .. }), "{e}");
            assert_eq!(e.rc(), -der::DER_INVAL);
        }
    }

    #[test]
    fn io_sizes_are_checked_without_overflow() {
        assert_eq!(
            io_bytes(&[Range { idx: 0, len: 3 }, Range { idx: 9, len: 2 }], 4).unwrap(),
            20
        );
        assert!(io_bytes(
            &[Range {
                idx: u64::MAX,
                len: 1
            }],
            1
        )
        .is_err());
        assert!(io_bytes(
            &[Range {
                idx: 0,
                len: u64::MAX
            }],
            2
        )
        .is_err());
        assert!(io_bytes(
            &[
                Range {
                    idx: 0,
                    len: u64::MAX / 2
                },
                Range {
                    idx: 0,
                    len: u64::MAX / 2 + 2
                }
            ],
            1
        )
        .is_err());
    }

    #[test]
    fn scatter_places_pieces_and_holes() {
        let mut acc = ReadResult {
            data: vec![0; 6],
            holes: vec![],
        };
        let r = obj::cli::FetchResult {
            data: vec![1, 2, 3, 4],
            holes: vec![vec![Recx::new(1, 1)]],
            sizes: vec![],
        };
        let pieces = [
            SgPiece {
                iov: 0,
                off: 4,
                len: 2,
            },
            SgPiece {
                iov: 0,
                off: 0,
                len: 2,
            },
        ];
        assert_eq!(scatter(&mut acc, r.clone(), &pieces, 100), 0);
        assert_eq!(acc.data, [3, 4, 0, 0, 1, 2]);
        assert_eq!(acc.holes, [Range { idx: 101, len: 1 }]);
        assert_eq!(scatter(&mut acc, r, &pieces[..1], 0), -der::DER_PROTO);
    }
}
