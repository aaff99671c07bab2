//! Byte forms of what the store persists: an [`IndexOp`] (a WAL record's
//! payload) and the whole [`Index`] (a checkpoint's payload).

use std::collections::BTreeMap;

use crate::codec::{Dec, Enc};
use crate::error::VosError;
use crate::extent::ExtentTree;
use crate::ilog::Ilog;
use crate::tree::{Akey, Cont, Dkey, Index, IndexOp, Obj, Value};
use crate::types::{check_label, ChunkCsums, ContId, DataAddr, ObjId, Recx, Version, MAX_CHUNKS};

/// Longest dkey or akey the store accepts.
pub const MAX_KEY_LEN: usize = 4096;

const OP_ARRAY: u8 = 1;
const OP_SINGLE: u8 = 2;
const OP_PUNCH_OBJ: u8 = 3;
const OP_PUNCH_DKEY: u8 = 4;
const OP_PUNCH_AKEY: u8 = 5;
const OP_CONT_CREATE: u8 = 6;
const OP_CONT_DESTROY: u8 = 7;
/// A WAL-only op (checkpoints hold the resulting index), so the format
/// version is unchanged: a build without it refuses to open a target whose
/// WAL still holds one ("unknown op tag") rather than misreading it.
const OP_ABORT: u8 = 8;
/// WAL-only as well, for the same reason.
const OP_ABORT_PUNCH: u8 = 9;
/// [`OP_ARRAY`] followed by the extent's chunk checksums (the WAL form;
/// a checkpoint keeps the checksums in a trailer after the containers,
/// written only when there are any, so a checkpoint without them reads
/// as before).
const OP_ARRAY_CHUNKED: u8 = 10;
/// A container's new label. WAL-only (a checkpoint holds the label the
/// container has), as [`OP_ABORT`] and for the same reason.
const OP_CONT_RELABEL: u8 = 11;

fn put_chunks(e: &mut Enc, c: &ChunkCsums) {
    e.u32(c.chunk);
    e.u32(c.sums.len() as u32);
    for s in c.sums.iter() {
        e.u32(*s);
    }
}

fn get_chunks(d: &mut Dec) -> Result<ChunkCsums, VosError> {
    let chunk = d.u32()?;
    let n = d.u32()? as usize;
    if n > MAX_CHUNKS || n * 4 > d.remaining() {
        return Err(d.corrupt("too many chunk checksums"));
    }
    let sums: Vec<u32> = (0..n).map(|_| d.u32()).collect::<Result<_, _>>()?;
    Ok(ChunkCsums {
        chunk,
        sums: sums.into(),
    })
}

fn put_cont(e: &mut Enc, c: ContId) {
    e.u64((c.0 >> 64) as u64);
    e.u64(c.0 as u64);
}
fn get_cont(d: &mut Dec) -> Result<ContId, VosError> {
    let hi = d.u64()? as u128;
    Ok(ContId(hi << 64 | d.u64()? as u128))
}
fn get_label(d: &mut Dec) -> Result<String, VosError> {
    let b = d.bytes(crate::types::MAX_LABEL_LEN)?;
    let s = std::str::from_utf8(b).map_err(|_| d.corrupt("label is not UTF-8"))?;
    check_label(s).map_err(|_| d.corrupt("bad container label"))?;
    Ok(s.to_string())
}

fn put_oid(e: &mut Enc, o: ObjId) {
    e.u64(o.hi);
    e.u64(o.lo);
}
fn get_oid(d: &mut Dec) -> Result<ObjId, VosError> {
    Ok(ObjId::new(d.u64()?, d.u64()?))
}
fn put_v(e: &mut Enc, v: Version) {
    e.u64(v.epoch);
    e.u64(v.seq);
}
fn get_v(d: &mut Dec) -> Result<Version, VosError> {
    Ok(Version {
        epoch: d.u64()?,
        seq: d.u64()?,
    })
}
fn put_data(e: &mut Enc, a: Option<DataAddr>) {
    match a {
        None => e.u8(0),
        Some(a) => {
            e.u8(1);
            e.u64(a.off);
            e.u64(a.len);
            e.u32(a.csum);
        }
    }
}
fn get_data(d: &mut Dec) -> Result<Option<DataAddr>, VosError> {
    match d.u8()? {
        0 => Ok(None),
        1 => Ok(Some(DataAddr {
            off: d.u64()?,
            len: d.u64()?,
            csum: d.u32()?,
        })),
        _ => Err(d.corrupt("bad data flag")),
    }
}
fn get_key(d: &mut Dec) -> Result<Vec<u8>, VosError> {
    Ok(d.bytes(MAX_KEY_LEN)?.to_vec())
}

impl IndexOp {
    /// Appends the op's byte form to `e`.
    pub fn encode(&self, e: &mut Enc) {
        match self {
            IndexOp::UpdateArray {
                cont,
                oid,
                dkey,
                akey,
                v,
                recx,
                rsize,
                data,
                chunks,
            } => {
                e.u8(if chunks.is_some() {
                    OP_ARRAY_CHUNKED
                } else {
                    OP_ARRAY
                });
                put_cont(e, *cont);
                put_oid(e, *oid);
                put_v(e, *v);
                e.bytes(dkey);
                e.bytes(akey);
                e.u64(recx.idx);
                e.u64(recx.nr);
                e.u64(*rsize);
                put_data(e, *data);
                if let Some(c) = chunks {
                    put_chunks(e, c);
                }
            }
            IndexOp::UpdateSingle {
                cont,
                oid,
                dkey,
                akey,
                v,
                data,
            } => {
                e.u8(OP_SINGLE);
                put_cont(e, *cont);
                put_oid(e, *oid);
                put_v(e, *v);
                e.bytes(dkey);
                e.bytes(akey);
                put_data(e, *data);
            }
            IndexOp::PunchObj { cont, oid, v } => {
                e.u8(OP_PUNCH_OBJ);
                put_cont(e, *cont);
                put_oid(e, *oid);
                put_v(e, *v);
            }
            IndexOp::PunchDkey { cont, oid, dkey, v } => {
                e.u8(OP_PUNCH_DKEY);
                put_cont(e, *cont);
                put_oid(e, *oid);
                put_v(e, *v);
                e.bytes(dkey);
            }
            IndexOp::PunchAkey {
                cont,
                oid,
                dkey,
                akey,
                v,
            } => {
                e.u8(OP_PUNCH_AKEY);
                put_cont(e, *cont);
                put_oid(e, *oid);
                put_v(e, *v);
                e.bytes(dkey);
                e.bytes(akey);
            }
            IndexOp::Abort {
                cont,
                oid,
                dkey,
                akey,
                v,
            } => {
                e.u8(OP_ABORT);
                put_cont(e, *cont);
                put_oid(e, *oid);
                put_v(e, *v);
                e.bytes(dkey);
                e.bytes(akey);
            }
            IndexOp::AbortPunch { cont, oid, dkey, v } => {
                e.u8(OP_ABORT_PUNCH);
                put_cont(e, *cont);
                put_oid(e, *oid);
                put_v(e, *v);
                match dkey {
                    None => e.u8(0),
                    Some(k) => {
                        e.u8(1);
                        e.bytes(k);
                    }
                }
            }
            IndexOp::ContCreate { cont, label } => {
                e.u8(OP_CONT_CREATE);
                put_cont(e, *cont);
                e.bytes(label.as_bytes());
            }
            IndexOp::ContDestroy { cont } => {
                e.u8(OP_CONT_DESTROY);
                put_cont(e, *cont);
            }
            IndexOp::ContRelabel { cont, label } => {
                e.u8(OP_CONT_RELABEL);
                put_cont(e, *cont);
                e.bytes(label.as_bytes());
            }
        }
    }

    /// Reads one op.
    pub fn decode(d: &mut Dec) -> Result<IndexOp, VosError> {
        let tag = d.u8()?;
        let cont = get_cont(d)?;
        match tag {
            OP_CONT_CREATE => {
                let label = get_label(d)?;
                return Ok(IndexOp::ContCreate { cont, label });
            }
            OP_CONT_DESTROY => return Ok(IndexOp::ContDestroy { cont }),
            OP_CONT_RELABEL => {
                let label = get_label(d)?;
                return Ok(IndexOp::ContRelabel { cont, label });
            }
            _ => {}
        }
        let oid = get_oid(d)?;
        let v = get_v(d)?;
        Ok(match tag {
            OP_ARRAY | OP_ARRAY_CHUNKED => {
                let (dkey, akey) = (get_key(d)?, get_key(d)?);
                let recx = Recx::new(d.u64()?, d.u64()?);
                let rsize = d.u64()?;
                let data = get_data(d)?;
                let chunks = match tag {
                    OP_ARRAY_CHUNKED => Some(get_chunks(d)?),
                    _ => None,
                };
                IndexOp::UpdateArray {
                    cont,
                    oid,
                    dkey,
                    akey,
                    v,
                    recx,
                    rsize,
                    data,
                    chunks,
                }
            }
            OP_SINGLE => {
                let (dkey, akey) = (get_key(d)?, get_key(d)?);
                IndexOp::UpdateSingle {
                    cont,
                    oid,
                    dkey,
                    akey,
                    v,
                    data: get_data(d)?,
                }
            }
            OP_PUNCH_OBJ => IndexOp::PunchObj { cont, oid, v },
            OP_PUNCH_DKEY => IndexOp::PunchDkey {
                cont,
                oid,
                dkey: get_key(d)?,
                v,
            },
            OP_PUNCH_AKEY => {
                let (dkey, akey) = (get_key(d)?, get_key(d)?);
                IndexOp::PunchAkey {
                    cont,
                    oid,
                    dkey,
                    akey,
                    v,
                }
            }
            OP_ABORT => {
                let (dkey, akey) = (get_key(d)?, get_key(d)?);
                IndexOp::Abort {
                    cont,
                    oid,
                    dkey,
                    akey,
                    v,
                }
            }
            OP_ABORT_PUNCH => {
                let dkey = match d.u8()? {
                    0 => None,
                    1 => Some(get_key(d)?),
                    _ => return Err(d.corrupt("bad punch scope")),
                };
                IndexOp::AbortPunch { cont, oid, dkey, v }
            }
            _ => return Err(d.corrupt("unknown op tag")),
        })
    }
}

fn put_ilog(e: &mut Enc, l: &Ilog) {
    let entries: Vec<(Version, bool)> = l.entries().collect();
    e.u64(entries.len() as u64);
    for (v, punch) in entries {
        put_v(e, v);
        e.u8(punch as u8);
    }
}

fn get_ilog(d: &mut Dec) -> Result<Ilog, VosError> {
    let n = d.u64()?;
    let mut list = Vec::new();
    for _ in 0..n {
        let v = get_v(d)?;
        let p = match d.u8()? {
            0 => false,
            1 => true,
            _ => return Err(d.corrupt("bad ilog entry kind")),
        };
        list.push((v, p));
    }
    Ilog::from_entries(list).ok_or_else(|| d.corrupt("ilog out of order"))
}

const VAL_EMPTY: u8 = 0;
const VAL_SINGLE: u8 = 1;
const VAL_ARRAY: u8 = 2;

impl Index {
    /// Appends the whole index (a checkpoint's payload) to `e`.
    pub fn encode(&self, e: &mut Enc) {
        e.u64(self.seq);
        e.u64(self.conts.len() as u64);
        for (id, c) in &self.conts {
            put_cont(e, *id);
            e.bytes(c.label.as_bytes());
            encode_objs(e, &c.objs);
        }
        // The chunk checksums, in extent order (so equal indexes encode
        // equally), only when there are any.
        if !self.chunks.is_empty() {
            let mut all: Vec<(&DataAddr, &ChunkCsums)> = self.chunks.iter().collect();
            all.sort_by_key(|(a, _)| (a.off, a.len, a.csum));
            e.u64(all.len() as u64);
            for (a, c) in all {
                put_data(e, Some(*a));
                put_chunks(e, c);
            }
        }
    }

    /// Reads an index written by [`encode`](Self::encode).
    pub fn decode(d: &mut Dec) -> Result<Index, VosError> {
        let seq = d.u64()?;
        let mut conts = BTreeMap::new();
        for _ in 0..d.u64()? {
            let id = get_cont(d)?;
            let label = get_label(d)?;
            let objs = decode_objs(d)?;
            if conts.insert(id, Cont { label, objs }).is_some() {
                return Err(d.corrupt("container listed twice"));
            }
        }
        let mut idx = Index {
            conts,
            seq,
            chunks: Default::default(),
        };
        if d.remaining() > 0 {
            let live: std::collections::HashSet<DataAddr> =
                idx.data_extents().into_iter().collect();
            for _ in 0..d.u64()? {
                let Some(a) = get_data(d)? else {
                    return Err(d.corrupt("chunk checksums without an extent"));
                };
                let c = get_chunks(d)?;
                if !live.contains(&a) || !c.fits(a.len) {
                    return Err(d.corrupt("chunk checksums of no live extent"));
                }
                idx.chunks.insert(a, c);
            }
        }
        Ok(idx)
    }
}

fn encode_objs(e: &mut Enc, objs: &BTreeMap<ObjId, Obj>) {
    e.u64(objs.len() as u64);
    for (oid, o) in objs {
        put_oid(e, *oid);
        put_ilog(e, &o.ilog);
        e.u64(o.dkeys.len() as u64);
        for (dk, dd) in &o.dkeys {
            e.bytes(dk);
            put_ilog(e, &dd.ilog);
            e.u64(dd.akeys.len() as u64);
            for (ak, a) in &dd.akeys {
                e.bytes(ak);
                put_ilog(e, &a.ilog);
                match &a.value {
                    Value::Empty => e.u8(VAL_EMPTY),
                    Value::Single(m) => {
                        e.u8(VAL_SINGLE);
                        e.u64(m.len() as u64);
                        for (v, data) in m {
                            put_v(e, *v);
                            put_data(e, *data);
                        }
                    }
                    Value::Array { rsize, tree } => {
                        e.u8(VAL_ARRAY);
                        e.u64(*rsize);
                        e.u64(tree.len() as u64);
                        for (recx, v, data) in tree.iter() {
                            e.u64(recx.idx);
                            e.u64(recx.nr);
                            put_v(e, v);
                            put_data(e, data);
                        }
                    }
                }
            }
        }
    }
}

fn decode_objs(d: &mut Dec) -> Result<BTreeMap<ObjId, Obj>, VosError> {
    let mut objs = BTreeMap::new();
    for _ in 0..d.u64()? {
        let oid = get_oid(d)?;
        let ilog = get_ilog(d)?;
        let mut dkeys = BTreeMap::new();
        for _ in 0..d.u64()? {
            let dk = get_key(d)?;
            let dilog = get_ilog(d)?;
            let mut akeys = BTreeMap::new();
            for _ in 0..d.u64()? {
                let ak = get_key(d)?;
                let ailog = get_ilog(d)?;
                let value = match d.u8()? {
                    VAL_EMPTY => Value::Empty,
                    VAL_SINGLE => {
                        let mut m = BTreeMap::new();
                        for _ in 0..d.u64()? {
                            let v = get_v(d)?;
                            m.insert(v, get_data(d)?);
                        }
                        Value::Single(m)
                    }
                    VAL_ARRAY => {
                        let rsize = d.u64()?;
                        let mut tree = ExtentTree::default();
                        for _ in 0..d.u64()? {
                            let recx = Recx::new(d.u64()?, d.u64()?);
                            if recx.nr == 0 || recx.idx.checked_add(recx.nr).is_none() {
                                return Err(d.corrupt("bad extent"));
                            }
                            let v = get_v(d)?;
                            tree.insert(recx, v, get_data(d)?);
                        }
                        Value::Array { rsize, tree }
                    }
                    _ => return Err(d.corrupt("bad value kind")),
                };
                akeys.insert(ak, Akey { ilog: ailog, value });
            }
            dkeys.insert(dk, Dkey { ilog: dilog, akeys });
        }
        objs.insert(oid, Obj { ilog, dkeys });
    }
    Ok(objs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops() -> Vec<IndexOp> {
        let oid = ObjId::new(1, 2);
        let cont = ContId(0xabc);
        let v = |e, s| Version { epoch: e, seq: s };
        vec![
            IndexOp::ContCreate {
                cont,
                label: "scratch".into(),
            },
            IndexOp::ContCreate {
                cont: ContId(7),
                label: "doomed".into(),
            },
            IndexOp::UpdateArray {
                cont,
                oid,
                dkey: 1u64.to_be_bytes().to_vec(),
                akey: b"0".to_vec(),
                v: v(5, 1),
                recx: Recx::new(0, 4096),
                rsize: 1,
                data: Some(DataAddr {
                    off: 8192,
                    len: 4096,
                    csum: 77,
                }),
                chunks: None,
            },
            // An extent of three checksum chunks (WAL tag 10, and the
            // checkpoint's trailer).
            IndexOp::UpdateArray {
                cont,
                oid,
                dkey: 2u64.to_be_bytes().to_vec(),
                akey: b"big".to_vec(),
                v: v(5, 7),
                recx: Recx::new(0, 3 << 15),
                rsize: 1,
                data: Some(DataAddr {
                    off: 1 << 20,
                    len: 3 << 15,
                    csum: 5,
                }),
                chunks: Some(ChunkCsums {
                    chunk: 1 << 15,
                    sums: vec![1, 2, 3].into(),
                }),
            },
            IndexOp::UpdateArray {
                cont,
                oid,
                dkey: 1u64.to_be_bytes().to_vec(),
                akey: b"0".to_vec(),
                v: v(6, 2),
                recx: Recx::new(100, 10),
                rsize: 1,
                data: None,
                chunks: None,
            },
            IndexOp::UpdateSingle {
                cont,
                oid,
                dkey: b"meta".to_vec(),
                akey: b"size".to_vec(),
                v: v(7, 3),
                data: Some(DataAddr {
                    off: 0,
                    len: 8,
                    csum: 1,
                }),
            },
            IndexOp::PunchAkey {
                cont,
                oid,
                dkey: b"meta".to_vec(),
                akey: b"x".to_vec(),
                v: v(8, 4),
            },
            IndexOp::PunchDkey {
                cont,
                oid,
                dkey: b"gone".to_vec(),
                v: v(9, 5),
            },
            IndexOp::PunchObj {
                cont,
                oid: ObjId::new(3, 3),
                v: v(10, 6),
            },
            IndexOp::ContDestroy { cont: ContId(7) },
            IndexOp::ContRelabel {
                cont,
                label: "renamed".into(),
            },
            // Aborts of a version that is there and of one that is not.
            IndexOp::Abort {
                cont,
                oid,
                dkey: 1u64.to_be_bytes().to_vec(),
                akey: b"0".to_vec(),
                v: v(6, 2),
            },
            IndexOp::Abort {
                cont,
                oid,
                dkey: b"meta".to_vec(),
                akey: b"size".to_vec(),
                v: v(7, 99),
            },
            // Punch aborts: the dkey punch above, and an object punch that
            // is not there.
            IndexOp::AbortPunch {
                cont,
                oid,
                dkey: Some(b"gone".to_vec()),
                v: v(9, 5),
            },
            IndexOp::AbortPunch {
                cont,
                oid,
                dkey: None,
                v: v(10, 77),
            },
        ]
    }

    #[test]
    fn ops_round_trip_and_garbage_is_refused() {
        let mut e = Enc::new();
        for op in ops() {
            op.encode(&mut e);
        }
        let mut d = Dec::new(&e.buf, "wal record");
        for op in ops() {
            assert_eq!(IndexOp::decode(&mut d).unwrap(), op);
        }
        d.finish().unwrap();
        let mut bad = e.buf.clone();
        bad[0] = 99;
        assert!(matches!(
            IndexOp::decode(&mut Dec::new(&bad, "x")),
            Err(VosError::Corrupt(_))
        ));
    }

    #[test]
    fn index_checkpoint_round_trips() {
        let mut idx = Index::new();
        for op in ops() {
            idx.apply(&op).unwrap();
        }
        let mut e = Enc::new();
        idx.encode(&mut e);
        let mut d = Dec::new(&e.buf, "checkpoint");
        let back = Index::decode(&mut d).unwrap();
        d.finish().unwrap();
        let mut e2 = Enc::new();
        back.encode(&mut e2);
        assert_eq!(e.buf, e2.buf);
        // The abort naming a version never handed out moves the sequence
        // past it.
        assert_eq!(back.seq(), 99);
        assert_eq!(back.conts(), vec![(ContId(0xabc), "renamed".to_string())]);
        let oid = ObjId::new(1, 2);
        assert_eq!(
            back.query_key_max(ContId(0xabc), oid, b"0", 100),
            Some((1u64.to_be_bytes().to_vec(), 4096))
        );
        // Every truncation is a clean error.
        for cut in (0..e.buf.len()).step_by(7) {
            assert!(Index::decode(&mut Dec::new(&e.buf[..cut], "checkpoint")).is_err());
        }
    }
}
