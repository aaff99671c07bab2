//! The array layer's arithmetic (`dc_array_io`, `compute_dkey`,
//! `create_sgl`): a list of record ranges and a scatter-gather list become
//! one I/O per dkey, each with its record extents and a zero-copy view of
//! the caller's buffers.
//!
//! Array records are numbered from 0; chunk `c` (records
//! `[c * chunk, (c + 1) * chunk)`) lives under dkey `c + 1` (dkey 0 is
//! reserved for array metadata), akey `"0"`.

use std::collections::BTreeMap;

/// A record range of an array I/O: `len` records from `idx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First record.
    pub idx: u64,
    /// Number of records.
    pub len: u64,
}

/// A piece of the caller's sgl: `len` bytes at `off` of iov `iov`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SgPiece {
    /// Index of the iov in the caller's sgl.
    pub iov: usize,
    /// Byte offset in that iov.
    pub off: usize,
    /// Bytes.
    pub len: usize,
}

/// Record extent within a dkey (`idx` relative to the chunk start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRecx {
    /// First record, relative to the chunk.
    pub idx: u64,
    /// Number of records.
    pub nr: u64,
}

/// The I/O for one dkey: what one `OBJ_UPDATE`/`OBJ_FETCH` task carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DkeyIo {
    /// The dkey (chunk number + 1).
    pub dkey: u64,
    /// Extents within the chunk, in the order of the caller's ranges.
    pub recxs: Vec<ChunkRecx>,
    /// The bytes of those extents, in the same order (`create_sgl`).
    pub sgl: Vec<SgPiece>,
}

/// Why an array I/O is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArrayError {
    /// Ranges and buffers disagree on the size (`io_extent_same`).
    #[error("ranges cover {ranges} bytes but the buffers hold {buffers}")]
    SizeMismatch {
        /// Bytes the ranges describe.
        ranges: u64,
        /// Bytes the sgl holds.
        buffers: u64,
    },
    /// A zero chunk or cell size, or a range past the index space.
    #[error("invalid array I/O: {0}")]
    Inval(&'static str),
    /// A buffer whose length is not a whole number of cells.
    #[error("a buffer of {len} bytes is not a whole number of {cell}-byte cells")]
    NotCellMultiple {
        /// The buffer's length in bytes.
        len: u64,
        /// The array's cell size in bytes.
        cell: u64,
    },
    /// Cell and chunk sizes an array cannot have.
    #[error("bad array geometry (cell {cell} bytes, chunk {chunk} cells): {why}")]
    BadGeometry {
        /// Cell size in bytes.
        cell: u64,
        /// Chunk size in cells.
        chunk: u64,
        /// What is wrong with them.
        why: &'static str,
    },
    /// The object is not of an array type (its dkeys are not integers).
    #[error("object {0} is not an array object")]
    NotArray(String),
    /// `Array::create` on an object that already holds array metadata.
    #[error("the object already holds an array")]
    Exists,
    /// `Array::open` on an object without array metadata.
    #[error("no array metadata in the object (not created, or destroyed)")]
    NotFound,
    /// Array metadata that cannot be decoded.
    #[error("corrupt array metadata: {0}")]
    Corrupt(String),
    /// A read larger than the memory that can be allocated for it.
    #[error("cannot allocate {0} bytes for the read")]
    TooLarge(u64),
    /// The object layer failed (refused the request, or a task or RPC
    /// failed with a `-DER_*` status).
    #[error(transparent)]
    Obj(#[from] obj::ObjError),
}

impl ArrayError {
    /// The DAOS-style status (`-DER_*`) of the error.
    pub fn rc(&self) -> i32 {
        use tse::der::*;
        match self {
            ArrayError::Obj(e) => e.rc(),
            ArrayError::Exists => -DER_EXIST,
            ArrayError::NotFound => -DER_NONEXIST,
            ArrayError::Corrupt(_) => -DER_PROTO,
            ArrayError::TooLarge(_) => -DER_NOMEM,
            _ => -DER_INVAL,
        }
    }
}

/// `compute_dkey`: for record `idx`, its dkey, its offset in the chunk and
/// how many records are left in the chunk from there.
pub fn compute_dkey(idx: u64, chunk: u64) -> (u64, u64, u64) {
    let c = idx / chunk;
    let rec = idx - c * chunk;
    (c + 1, rec, chunk - rec)
}

/// `dc_array_io`'s split: one [`DkeyIo`] per dkey touched, in dkey order.
/// `cell` is the record size in bytes, `chunk` the records per dkey, and
/// `iov_lens` the caller's buffer lengths. Empty ranges are skipped.
pub fn split_io(
    ranges: &[Range],
    iov_lens: &[usize],
    cell: u64,
    chunk: u64,
) -> Result<Vec<DkeyIo>, ArrayError> {
    if cell == 0 || chunk == 0 {
        return Err(ArrayError::Inval("cell and chunk sizes must be non-zero"));
    }
    let mut total: u64 = 0;
    for r in ranges {
        if r.idx.checked_add(r.len).is_none() {
            return Err(ArrayError::Inval("range past the end of the index space"));
        }
        let bytes = r
            .len
            .checked_mul(cell)
            .ok_or(ArrayError::Inval("range too large"))?;
        total = total
            .checked_add(bytes)
            .ok_or(ArrayError::Inval("ranges too large"))?;
    }
    let buffers: u64 = iov_lens.iter().map(|l| *l as u64).sum();
    if total != buffers {
        return Err(ArrayError::SizeMismatch {
            ranges: total,
            buffers,
        });
    }
    let mut out: BTreeMap<u64, DkeyIo> = BTreeMap::new();
    // The sgl cursor: (iov index, offset in it).
    let (mut iov, mut off) = (0usize, 0usize);
    for r in ranges {
        let (mut idx, mut left) = (r.idx, r.len);
        while left > 0 {
            let (dkey, rec, room) = compute_dkey(idx, chunk);
            let nr = room.min(left);
            let io = out.entry(dkey).or_insert_with(|| DkeyIo {
                dkey,
                ..DkeyIo::default()
            });
            match io.recxs.last_mut() {
                Some(last) if last.idx + last.nr == rec => last.nr += nr,
                _ => io.recxs.push(ChunkRecx { idx: rec, nr }),
            }
            // create_sgl: views of the caller's iovs for nr * cell bytes.
            let mut bytes = (nr * cell) as usize;
            while bytes > 0 {
                while iov_lens[iov] == off {
                    iov += 1;
                    off = 0;
                }
                let take = bytes.min(iov_lens[iov] - off);
                match io.sgl.last_mut() {
                    Some(p) if p.iov == iov && p.off + p.len == off => p.len += take,
                    _ => io.sgl.push(SgPiece {
                        iov,
                        off,
                        len: take,
                    }),
                }
                off += take;
                bytes -= take;
            }
            idx += nr;
            left -= nr;
        }
    }
    Ok(out.into_values().collect())
}

/// `ranges` sorted by index with overlapping and adjacent ones merged and
/// empty ones dropped (the records a punch or a hole list covers).
/// Ranges running past `u64::MAX` are clipped there.
pub fn merge_ranges(ranges: &[Range]) -> Vec<Range> {
    let mut v: Vec<Range> = ranges.iter().copied().filter(|r| r.len > 0).collect();
    v.sort_by_key(|r| r.idx);
    let mut out: Vec<Range> = Vec::with_capacity(v.len());
    for r in v {
        let end = r.idx.saturating_add(r.len);
        match out.last_mut() {
            Some(last) if last.idx + last.len >= r.idx => {
                last.len = last.len.max(end - last.idx);
            }
            _ => out.push(Range {
                idx: r.idx,
                len: end - r.idx,
            }),
        }
    }
    out
}

/// How many dkeys `ranges` touch, counting a dkey once per range that
/// touches it (saturating; 0 for a zero chunk).
pub fn dkeys_touched(ranges: &[Range], chunk: u64) -> u64 {
    if chunk == 0 {
        return 0;
    }
    ranges
        .iter()
        .filter(|r| r.len > 0)
        .map(|r| {
            let last = r.idx.saturating_add(r.len - 1);
            last / chunk - r.idx / chunk + 1
        })
        .fold(0u64, u64::saturating_add)
}

/// The records of `ranges` that fall in dkey `dkey`'s chunk, relative to
/// the chunk start, in the order of `ranges`. Dkey 0 (the metadata) holds
/// no records.
pub fn clip_to_dkey(ranges: &[Range], chunk: u64, dkey: u64) -> Vec<ChunkRecx> {
    if chunk == 0 || dkey == 0 {
        return Vec::new();
    }
    let Some(lo) = (dkey - 1).checked_mul(chunk) else {
        return Vec::new();
    };
    let hi = lo.saturating_add(chunk);
    let mut out: Vec<ChunkRecx> = Vec::new();
    for r in ranges {
        let (s, e) = (r.idx.max(lo), r.idx.saturating_add(r.len).min(hi));
        if s < e {
            match out.last_mut() {
                Some(last) if last.idx + last.nr == s - lo => last.nr += e - s,
                _ => out.push(ChunkRecx {
                    idx: s - lo,
                    nr: e - s,
                }),
            }
        }
    }
    out
}

/// The records of `ranges` per dkey, without data (what a punch or a
/// fetch describes): one entry per dkey touched, in dkey order, with its
/// chunk-relative extents in the order of `ranges`. Empty ranges are
/// skipped; a range past the index space is refused.
pub fn split_records(
    ranges: &[Range],
    chunk: u64,
) -> Result<Vec<(u64, Vec<ChunkRecx>)>, ArrayError> {
    if chunk == 0 {
        return Err(ArrayError::Inval("cell and chunk sizes must be non-zero"));
    }
    if ranges.iter().any(|r| r.idx.checked_add(r.len).is_none()) {
        return Err(ArrayError::Inval("range past the end of the index space"));
    }
    let mut out: BTreeMap<u64, Vec<ChunkRecx>> = BTreeMap::new();
    for r in ranges {
        let (mut idx, mut left) = (r.idx, r.len);
        while left > 0 {
            let (dkey, rec, room) = compute_dkey(idx, chunk);
            let nr = room.min(left);
            let recxs = out.entry(dkey).or_default();
            match recxs.last_mut() {
                Some(last) if last.idx + last.nr == rec => last.nr += nr,
                _ => recxs.push(ChunkRecx { idx: rec, nr }),
            }
            idx += nr;
            left -= nr;
        }
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn compute_dkey_matches_daos() {
        let mib = 1 << 20;
        assert_eq!(compute_dkey(0, mib), (1, 0, mib));
        assert_eq!(compute_dkey(mib - 1, mib), (1, mib - 1, 1));
        assert_eq!(compute_dkey(mib, mib), (2, 0, mib));
        assert_eq!(compute_dkey(5 * mib + 10, mib), (6, 10, mib - 10));
    }

    #[test]
    fn a_write_straddling_a_chunk_boundary_is_two_updates() {
        let mib = 1u64 << 20;
        let ios = split_io(
            &[Range {
                idx: mib - 100,
                len: 300,
            }],
            &[300],
            1,
            mib,
        )
        .unwrap();
        assert_eq!(ios.len(), 2);
        assert_eq!(ios[0].dkey, 1);
        assert_eq!(
            ios[0].recxs,
            [ChunkRecx {
                idx: mib - 100,
                nr: 100
            }]
        );
        assert_eq!(ios[1].recxs, [ChunkRecx { idx: 0, nr: 200 }]);
        assert_eq!(
            ios[1].sgl,
            [SgPiece {
                iov: 0,
                off: 100,
                len: 200
            }]
        );
        assert!(matches!(
            split_io(&[Range { idx: 0, len: 10 }], &[9], 1, mib),
            Err(ArrayError::SizeMismatch {
                ranges: 10,
                buffers: 9
            })
        ));
        assert!(split_io(
            &[Range {
                idx: u64::MAX,
                len: 2
            }],
            &[2],
            1,
            mib
        )
        .is_err());
        assert!(split_io(&[], &[], 0, mib).is_err());
    }

    proptest! {
        /// The split covers exactly the caller's bytes, in range order per
        /// dkey, with every extent inside its chunk.
        #[test]
        fn split_reassembles_the_callers_bytes(
            ranges in prop::collection::vec((0u64..5000, 0u64..700), 1..6),
            cuts in prop::collection::vec(1usize..900, 0..8),
            cell in 1u64..5,
            chunk in 1u64..1200,
        ) {
            let ranges: Vec<Range> = ranges.into_iter().map(|(idx, len)| Range { idx, len }).collect();
            let total: usize = ranges.iter().map(|r| (r.len * cell) as usize).sum();
            // Cut the caller's buffer into iovs (zero-length ones included).
            let mut lens = Vec::new();
            let mut left = total;
            for c in cuts {
                let l = c.min(left);
                lens.push(l);
                left -= l;
            }
            lens.push(left);
            let data: Vec<u8> = (0..total).map(|i| (i * 7 + i / 251) as u8).collect();
            let mut iovs = Vec::new();
            let mut at = 0;
            for l in &lens {
                iovs.push(&data[at..at + l]);
                at += l;
            }
            let ios = split_io(&ranges, &lens, cell, chunk).unwrap();
            // Expected per-dkey byte streams, built record by record.
            let mut want: BTreeMap<u64, (Vec<u64>, Vec<u8>)> = BTreeMap::new();
            let mut pos = 0usize;
            for r in &ranges {
                for i in r.idx..r.idx + r.len {
                    let e = want.entry(i / chunk + 1).or_default();
                    e.0.push(i % chunk);
                    e.1.extend_from_slice(&data[pos..pos + cell as usize]);
                    pos += cell as usize;
                }
            }
            prop_assert_eq!(ios.len(), want.len());
            for io in &ios {
                let (recs, bytes) = &want[&io.dkey];
                let got_recs: Vec<u64> = io.recxs.iter().flat_map(|x| x.idx..x.idx + x.nr).collect();
                prop_assert_eq!(&got_recs, recs);
                prop_assert!(io.recxs.iter().all(|x| x.idx + x.nr <= chunk));
                let got: Vec<u8> = io.sgl.iter().flat_map(|p| iovs[p.iov][p.off..p.off + p.len].to_vec()).collect();
                prop_assert_eq!(&got, bytes);
            }
        }
    }

    #[test]
    fn record_helpers_agree_with_the_split() {
        let ranges = [
            Range { idx: 5, len: 10 },
            Range { idx: 0, len: 0 },
            Range { idx: 12, len: 30 },
            Range { idx: 100, len: 1 },
        ];
        assert_eq!(
            merge_ranges(&ranges),
            [Range { idx: 5, len: 37 }, Range { idx: 100, len: 1 }]
        );
        assert_eq!(dkeys_touched(&ranges, 16), 1 + 3 + 1);
        let split = split_records(&ranges, 16).unwrap();
        let dkeys: Vec<u64> = split.iter().map(|x| x.0).collect();
        assert_eq!(dkeys, [1, 2, 3, 7]);
        for (dkey, recxs) in &split {
            assert_eq!(&clip_to_dkey(&ranges, 16, *dkey), recxs);
        }
        assert!(clip_to_dkey(&ranges, 16, 0).is_empty());
        let huge = [Range {
            idx: 0,
            len: u64::MAX,
        }];
        assert_eq!(dkeys_touched(&huge, 1), u64::MAX);
        assert_eq!(
            clip_to_dkey(&huge, 1 << 20, 3),
            [ChunkRecx {
                idx: 0,
                nr: 1 << 20
            }]
        );
        assert!(split_records(
            &[Range {
                idx: u64::MAX,
                len: 1
            }],
            4
        )
        .is_err());
        assert!(split_records(&[], 0).is_err());
    }
}
