//! The in-memory index of a target: object -> dkey -> akey -> value.
//!
//! Every change is an [`IndexOp`] carrying its [`Version`]; the same ops
//! are what the WAL records and what replay re-applies, so the index after
//! a replay is the index before the crash. A read at epoch E sees, per key
//! and per record, the newest version at or below E that no punch at or
//! below E hides.

mod op;
#[cfg(test)]
mod tests;

pub use op::{IndexOp, Value};

use std::collections::{BTreeMap, HashMap};

use crate::error::VosError;
use crate::extent::{ExtentTree, Segment};
use crate::ilog::Ilog;
use crate::types::{
    check_label, ChunkCsums, ContId, DataAddr, Epoch, ObjId, Recx, Version, EPOCH_MAX,
};

#[derive(Debug, Clone)]
pub(crate) struct Akey {
    pub(crate) ilog: Ilog,
    pub(crate) value: Value,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Dkey {
    pub(crate) ilog: Ilog,
    pub(crate) akeys: BTreeMap<Vec<u8>, Akey>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Obj {
    pub(crate) ilog: Ilog,
    pub(crate) dkeys: BTreeMap<Vec<u8>, Dkey>,
}

fn check_keys(keys: &[&Vec<u8>]) -> Result<(), VosError> {
    for k in keys {
        if k.is_empty() {
            return Err(VosError::Inval("empty key"));
        }
        if k.len() > crate::record::MAX_KEY_LEN {
            return Err(VosError::Inval("key longer than MAX_KEY_LEN"));
        }
    }
    Ok(())
}

fn max_floor(a: Option<Version>, b: Option<Version>) -> Option<Version> {
    a.max(b)
}

/// A container: its label and its objects.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cont {
    pub(crate) label: String,
    pub(crate) objs: BTreeMap<ObjId, Obj>,
}

impl Cont {
    fn data_extents(&self, out: &mut Vec<DataAddr>) {
        for o in self.objs.values() {
            for d in o.dkeys.values() {
                for a in d.akeys.values() {
                    match &a.value {
                        Value::Empty => {}
                        Value::Single(m) => out.extend(m.values().filter_map(|d| *d)),
                        Value::Array { tree, .. } => out.extend(tree.iter().filter_map(|x| x.2)),
                    }
                }
            }
        }
    }
}

/// The versioned index of one target: containers -> objects -> dkeys ->
/// akeys -> values.
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub(crate) conts: BTreeMap<ContId, Cont>,
    pub(crate) seq: u64,
    /// The chunk checksums of the live array extents that have them,
    /// dropped when their extent is freed.
    pub(crate) chunks: HashMap<DataAddr, ChunkCsums>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        Index::default()
    }

    /// The version for a new update at `epoch` (the next minor sequence).
    pub fn next_version(&mut self, epoch: Epoch) -> Result<Version, VosError> {
        if epoch == 0 || epoch == EPOCH_MAX {
            return Err(VosError::BadEpoch(epoch));
        }
        self.seq += 1;
        Ok(Version {
            epoch,
            seq: self.seq,
        })
    }

    /// The last sequence handed out (saved in checkpoints).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Checks that `op` can be applied (so it is refused before anything
    /// is logged, and replay never fails on it).
    pub fn check(&self, op: &IndexOp) -> Result<(), VosError> {
        let cont = op.cont();
        match op {
            IndexOp::ContCreate { label, .. } => {
                check_label(label)?;
                if self.conts.contains_key(&cont) {
                    return Err(VosError::ContExists(cont.to_string()));
                }
                if self.cont_by_label(label).is_some() {
                    return Err(VosError::ContExists(label.clone()));
                }
                return Ok(());
            }
            IndexOp::ContDestroy { .. } => {
                return match self.conts.contains_key(&cont) {
                    true => Ok(()),
                    false => Err(VosError::NoCont(cont.to_string())),
                };
            }
            IndexOp::ContRelabel { label, .. } => {
                check_label(label)?;
                if !self.conts.contains_key(&cont) {
                    return Err(VosError::NoCont(cont.to_string()));
                }
                return match self.cont_by_label(label) {
                    Some(other) if other != cont => Err(VosError::ContExists(label.clone())),
                    _ => Ok(()),
                };
            }
            _ => {}
        }
        let Some(c) = self.conts.get(&cont) else {
            return Err(VosError::NoCont(cont.to_string()));
        };
        if let Some(v) = op.version() {
            if v.epoch == 0 || v.epoch == EPOCH_MAX {
                return Err(VosError::BadEpoch(v.epoch));
            }
        }
        let (oid, dkey, akey, want) = match op {
            IndexOp::UpdateArray {
                oid,
                dkey,
                akey,
                recx,
                rsize,
                data,
                ..
            } => {
                if *rsize == 0 || recx.nr == 0 {
                    return Err(VosError::Inval("empty extent or zero record size"));
                }
                if recx.idx.checked_add(recx.nr).is_none() {
                    return Err(VosError::Inval("extent overflows the index space"));
                }
                if let Some(d) = data {
                    if d.len != recx.nr * rsize {
                        return Err(VosError::Inval("data length does not match the extent"));
                    }
                }
                if let IndexOp::UpdateArray {
                    chunks: Some(c), ..
                } = op
                {
                    if !data.is_some_and(|d| c.fits(d.len)) {
                        return Err(VosError::Inval("chunk checksums do not fit the data"));
                    }
                }
                (oid, dkey, akey, Some(*rsize))
            }
            IndexOp::UpdateSingle {
                oid, dkey, akey, ..
            } => (oid, dkey, akey, None),
            IndexOp::PunchDkey { dkey, .. }
            | IndexOp::AbortPunch {
                dkey: Some(dkey), ..
            } => return check_keys(&[dkey]),
            IndexOp::PunchAkey { dkey, akey, .. } | IndexOp::Abort { dkey, akey, .. } => {
                return check_keys(&[dkey, akey])
            }
            _ => return Ok(()),
        };
        check_keys(&[dkey, akey])?;
        let have = c
            .objs
            .get(oid)
            .and_then(|o| o.dkeys.get(dkey))
            .and_then(|d| d.akeys.get(akey))
            .map(|a| &a.value);
        match (have, want) {
            (None | Some(Value::Empty), _) => Ok(()),
            (Some(Value::Single(_)), None) => Ok(()),
            (Some(Value::Array { rsize, .. }), Some(w)) if *rsize == w => Ok(()),
            (Some(h), w) => Err(VosError::TypeMismatch {
                have: h.describe(),
                want: match w {
                    None => "a single value".into(),
                    Some(r) => format!("an array of {r}-byte records"),
                },
            }),
        }
    }

    /// Applies `op` (after [`check`](Self::check)). Returns the data
    /// extents it freed (a container destroy frees all of its own, an
    /// abort those of the version it removed).
    pub fn apply(&mut self, op: &IndexOp) -> Result<Vec<DataAddr>, VosError> {
        let freed = self.apply_op(op)?;
        if let IndexOp::UpdateArray {
            data: Some(a),
            chunks: Some(c),
            ..
        } = op
        {
            self.chunks.insert(*a, c.clone());
        }
        self.forget_chunks(&freed);
        Ok(freed)
    }

    /// Drops the chunk checksums of extents that were freed.
    fn forget_chunks(&mut self, freed: &[DataAddr]) {
        if !self.chunks.is_empty() {
            for a in freed {
                self.chunks.remove(a);
            }
        }
    }

    /// The epoch of the newest write or punch of object `oid` as a whole
    /// (every update with data records a creation on the object, and an
    /// object punch a punch; dkey, akey and record punches are not
    /// counted), `None` for an object never written. What DAOS's
    /// `daos_obj_query_max_epoch` answers, from which dfs derives a file's
    /// modification time.
    pub fn obj_max_epoch(&self, cont: ContId, oid: ObjId) -> Option<Epoch> {
        self.obj(cont, oid)?.ilog.newest().map(|v| v.epoch)
    }

    /// The chunk checksums of extent `a`, if it has them.
    pub fn chunk_csums(&self, a: &DataAddr) -> Option<&ChunkCsums> {
        self.chunks.get(a)
    }

    fn apply_op(&mut self, op: &IndexOp) -> Result<Vec<DataAddr>, VosError> {
        self.check(op)?;
        let cont = op.cont();
        if let Some(v) = op.version() {
            self.seq = self.seq.max(v.seq);
        }
        let c = match op {
            IndexOp::ContCreate { label, .. } => {
                self.conts.insert(
                    cont,
                    Cont {
                        label: label.clone(),
                        objs: BTreeMap::new(),
                    },
                );
                return Ok(Vec::new());
            }
            IndexOp::ContRelabel { label, .. } => {
                if let Some(c) = self.conts.get_mut(&cont) {
                    c.label = label.clone();
                }
                return Ok(Vec::new());
            }
            IndexOp::ContDestroy { .. } => {
                let mut freed = Vec::new();
                if let Some(c) = self.conts.remove(&cont) {
                    c.data_extents(&mut freed);
                }
                return Ok(freed);
            }
            _ => self
                .conts
                .get_mut(&cont)
                .ok_or_else(|| VosError::NoCont(cont.to_string()))?,
        };
        let v = op.version().unwrap_or(Version { epoch: 0, seq: 0 });
        match op {
            IndexOp::UpdateArray {
                oid,
                dkey,
                akey,
                recx,
                rsize,
                data,
                ..
            } => {
                let a = akey_mut(c, *oid, dkey, akey, data.is_some(), v, || Value::Array {
                    rsize: *rsize,
                    tree: ExtentTree::default(),
                })?;
                if let Value::Array { tree, .. } = &mut a.value {
                    tree.insert(*recx, v, *data);
                }
            }
            IndexOp::UpdateSingle {
                oid,
                dkey,
                akey,
                data,
                ..
            } => {
                let a = akey_mut(c, *oid, dkey, akey, data.is_some(), v, || {
                    Value::Single(BTreeMap::new())
                })?;
                if data.is_none() {
                    a.ilog.punch(v);
                }
                if let Value::Single(m) = &mut a.value {
                    m.insert(v, *data);
                }
            }
            IndexOp::PunchObj { oid, .. } => c.objs.entry(*oid).or_default().ilog.punch(v),
            IndexOp::PunchDkey { oid, dkey, .. } => c
                .objs
                .entry(*oid)
                .or_default()
                .dkeys
                .entry(dkey.clone())
                .or_default()
                .ilog
                .punch(v),
            IndexOp::PunchAkey {
                oid, dkey, akey, ..
            } => {
                let d = c
                    .objs
                    .entry(*oid)
                    .or_default()
                    .dkeys
                    .entry(dkey.clone())
                    .or_default();
                match d.akeys.get_mut(akey) {
                    Some(a) => a.ilog.punch(v),
                    None => {
                        // Remember the punch even for an akey not seen yet
                        // (an older update may still be replayed below it).
                        let mut ilog = Ilog::default();
                        ilog.punch(v);
                        d.akeys.insert(
                            akey.clone(),
                            Akey {
                                ilog,
                                value: Value::Empty,
                            },
                        );
                    }
                }
            }
            IndexOp::Abort {
                oid, dkey, akey, ..
            } => return Ok(abort_version(c, *oid, dkey, akey, v)),
            IndexOp::AbortPunch { oid, dkey, .. } => abort_punch(c, *oid, dkey.as_deref(), v),
            IndexOp::ContCreate { .. }
            | IndexOp::ContDestroy { .. }
            | IndexOp::ContRelabel { .. } => {}
        }
        Ok(Vec::new())
    }

    /// The container with this label.
    pub fn cont_by_label(&self, label: &str) -> Option<ContId> {
        self.conts
            .iter()
            .find(|(_, c)| c.label == label)
            .map(|(id, _)| *id)
    }

    /// The label of container `cont`, if it exists.
    pub fn cont_label(&self, cont: ContId) -> Option<&str> {
        self.conts.get(&cont).map(|c| c.label.as_str())
    }

    /// Every container (id, label), in id order.
    pub fn conts(&self) -> Vec<(ContId, String)> {
        self.conts
            .iter()
            .map(|(id, c)| (*id, c.label.clone()))
            .collect()
    }

    fn obj(&self, cont: ContId, oid: ObjId) -> Option<&Obj> {
        self.conts.get(&cont)?.objs.get(&oid)
    }
}

fn akey_mut<'a>(
    c: &'a mut Cont,
    oid: ObjId,
    dkey: &[u8],
    akey: &[u8],
    create: bool,
    v: Version,
    value: impl FnOnce() -> Value,
) -> Result<&'a mut Akey, VosError> {
    let o = c.objs.entry(oid).or_default();
    if create {
        o.ilog.create(v);
    }
    // Keys are copied only when they are new (an entry() would copy them
    // on every update).
    if !o.dkeys.contains_key(dkey) {
        o.dkeys.insert(dkey.to_vec(), Dkey::default());
    }
    let d = o
        .dkeys
        .get_mut(dkey)
        .ok_or(VosError::Inval("dkey vanished"))?;
    if create {
        d.ilog.create(v);
    }
    if !d.akeys.contains_key(akey) {
        d.akeys.insert(
            akey.to_vec(),
            Akey {
                ilog: Ilog::default(),
                value: Value::Empty,
            },
        );
    }
    let a = d
        .akeys
        .get_mut(akey)
        .ok_or(VosError::Inval("akey vanished"))?;
    if matches!(a.value, Value::Empty) {
        a.value = value();
    }
    if create {
        a.ilog.create(v);
    }
    Ok(a)
}

/// Removes what the update at `v` left under `oid`/`dkey`/`akey` (see
/// [`IndexOp::Abort`]) and drops the keys it leaves with nothing. Returns
/// the data extents the removed version held. Changes nothing when the
/// version is not there.
fn abort_version(c: &mut Cont, oid: ObjId, dkey: &[u8], akey: &[u8], v: Version) -> Vec<DataAddr> {
    let Some(o) = c.objs.get_mut(&oid) else {
        return Vec::new();
    };
    let Some(d) = o.dkeys.get_mut(dkey) else {
        return Vec::new();
    };
    let Some(a) = d.akeys.get_mut(akey) else {
        return Vec::new();
    };
    let (found, freed) = a.value.remove_version(v);
    // Versions are unique on a target: whatever sits at exactly `v` on the
    // way down was written by the aborted op.
    let logged = a.ilog.remove_all(v);
    if !(found || logged) {
        return freed;
    }
    if a.ilog.is_empty() && matches!(a.value, Value::Empty) {
        d.akeys.remove(akey);
    }
    d.ilog.remove_create(v);
    if d.ilog.is_empty() && d.akeys.is_empty() {
        o.dkeys.remove(dkey);
    }
    o.ilog.remove_create(v);
    if o.ilog.is_empty() && o.dkeys.is_empty() {
        c.objs.remove(&oid);
    }
    freed
}

/// Removes the object or dkey punch at `v` (see [`IndexOp::AbortPunch`])
/// and drops the keys it leaves with nothing.
fn abort_punch(c: &mut Cont, oid: ObjId, dkey: Option<&[u8]>, v: Version) {
    let Some(o) = c.objs.get_mut(&oid) else {
        return;
    };
    match dkey {
        None => {
            o.ilog.remove_punch(v);
        }
        Some(dkey) => {
            let Some(d) = o.dkeys.get_mut(dkey) else {
                return;
            };
            if d.ilog.remove_punch(v) && d.ilog.is_empty() && d.akeys.is_empty() {
                o.dkeys.remove(dkey);
            }
        }
    }
    if o.ilog.is_empty() && o.dkeys.is_empty() {
        c.objs.remove(&oid);
    }
}

impl Index {
    fn floors(
        &self,
        cont: ContId,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
    ) -> Option<Version> {
        let o = self.obj(cont, oid)?;
        let mut f = o.ilog.punch_floor(epoch);
        if let Some(d) = o.dkeys.get(dkey) {
            f = max_floor(f, d.ilog.punch_floor(epoch));
            if let Some(a) = d.akeys.get(akey) {
                f = max_floor(f, a.ilog.punch_floor(epoch));
            }
        }
        f
    }

    fn akey(&self, cont: ContId, oid: ObjId, dkey: &[u8], akey: &[u8]) -> Option<&Akey> {
        self.obj(cont, oid)?.dkeys.get(dkey)?.akeys.get(akey)
    }

    /// Reads records `recx` of an array akey at `epoch`: segments in record
    /// order covering `recx` exactly, each data or hole.
    pub fn fetch_array(
        &self,
        cont: ContId,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
        recx: Recx,
    ) -> Result<Vec<Segment>, VosError> {
        let hole = vec![Segment { recx, src: None }];
        let Some(a) = self.akey(cont, oid, dkey, akey) else {
            return Ok(hole);
        };
        match &a.value {
            Value::Array { rsize, tree } => {
                let floor = self.floors(cont, oid, dkey, akey, epoch);
                Ok(tree.fetch(recx, floor, Version::read_bound(epoch), *rsize))
            }
            Value::Empty => Ok(hole),
            v => Err(VosError::TypeMismatch {
                have: v.describe(),
                want: "an array".into(),
            }),
        }
    }

    /// The record size of an array akey, if it is one.
    pub fn array_rsize(&self, cont: ContId, oid: ObjId, dkey: &[u8], akey: &[u8]) -> Option<u64> {
        match self.akey(cont, oid, dkey, akey)?.value {
            Value::Array { rsize, .. } => Some(rsize),
            Value::Single(_) | Value::Empty => None,
        }
    }

    /// Reads a single value at `epoch`: where its bytes are, or `None`.
    pub fn fetch_single(
        &self,
        cont: ContId,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
    ) -> Result<Option<DataAddr>, VosError> {
        let Some(a) = self.akey(cont, oid, dkey, akey) else {
            return Ok(None);
        };
        match &a.value {
            Value::Single(m) => {
                let floor = self.floors(cont, oid, dkey, akey, epoch);
                Ok(m.range(..=Version::read_bound(epoch))
                    .next_back()
                    .filter(|(v, _)| floor.is_none_or(|f| **v > f))
                    .and_then(|(_, d)| *d))
            }
            Value::Empty => Ok(None),
            v => Err(VosError::TypeMismatch {
                have: v.describe(),
                want: "a single value".into(),
            }),
        }
    }

    /// The dkeys of `oid` that exist at `epoch`, in key order.
    pub fn list_dkeys(&self, cont: ContId, oid: ObjId, epoch: Epoch) -> Vec<Vec<u8>> {
        let Some(o) = self.obj(cont, oid) else {
            return vec![];
        };
        let of = o.ilog.punch_floor(epoch);
        o.dkeys
            .iter()
            .filter(|(_, d)| d.ilog.visible(epoch, of).is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The akeys of `dkey` that exist at `epoch`, in key order.
    pub fn list_akeys(&self, cont: ContId, oid: ObjId, dkey: &[u8], epoch: Epoch) -> Vec<Vec<u8>> {
        let Some(o) = self.obj(cont, oid) else {
            return vec![];
        };
        let Some(d) = o.dkeys.get(dkey) else {
            return vec![];
        };
        let f = max_floor(o.ilog.punch_floor(epoch), d.ilog.punch_floor(epoch));
        if d.ilog.visible(epoch, o.ilog.punch_floor(epoch)).is_none() {
            return vec![];
        }
        d.akeys
            .iter()
            .filter(|(_, a)| a.ilog.visible(epoch, f).is_some())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// `query_key_max`: the highest dkey (in key order; array dkeys are
    /// big-endian integers, so this is the highest index) whose array akey
    /// `akey` holds data at `epoch`, with one past its highest data record.
    pub fn query_key_max(
        &self,
        cont: ContId,
        oid: ObjId,
        akey: &[u8],
        epoch: Epoch,
    ) -> Option<(Vec<u8>, u64)> {
        let o = self.obj(cont, oid)?;
        let of = o.ilog.punch_floor(epoch);
        for (dk, d) in o.dkeys.iter().rev() {
            let df = max_floor(of, d.ilog.punch_floor(epoch));
            let Some(a) = d.akeys.get(akey) else { continue };
            let f = max_floor(df, a.ilog.punch_floor(epoch));
            if let Value::Array { tree, .. } = &a.value {
                if let Some(end) = tree.max_end(f, Version::read_bound(epoch)) {
                    return Some((dk.clone(), end));
                }
            }
        }
        None
    }

    /// The records holding data at `epoch` in the array akey `akey` of
    /// every dkey of `oid` (a sparse file's allocated records).
    pub fn data_records(&self, cont: ContId, oid: ObjId, akey: &[u8], epoch: Epoch) -> u64 {
        let Some(o) = self.obj(cont, oid) else {
            return 0;
        };
        let of = o.ilog.punch_floor(epoch);
        o.dkeys
            .values()
            .map(|d| {
                let df = max_floor(of, d.ilog.punch_floor(epoch));
                match d.akeys.get(akey) {
                    Some(a) => match &a.value {
                        Value::Array { tree, .. } => {
                            let f = max_floor(df, a.ilog.punch_floor(epoch));
                            tree.data_records(f, Version::read_bound(epoch))
                        }
                        _ => 0,
                    },
                    None => 0,
                }
            })
            .sum()
    }

    /// Aggregation: drops what no reader at or above `horizon` can see and
    /// returns the data extents that became free.
    pub fn aggregate(&mut self, horizon: Epoch) -> Vec<DataAddr> {
        let bound = Version::read_bound(horizon);
        let mut freed = Vec::new();
        for c in self.conts.values_mut() {
            c.objs.retain(|_, o| {
                let of = o.ilog.punch_floor(horizon);
                o.dkeys.retain(|_, d| {
                    let df = max_floor(of, d.ilog.punch_floor(horizon));
                    d.akeys.retain(|_, a| {
                        let f = max_floor(df, a.ilog.punch_floor(horizon));
                        match &mut a.value {
                            Value::Empty => {}
                            Value::Array { tree, .. } => freed.extend(tree.aggregate(f, bound)),
                            Value::Single(m) => {
                                let newest = m.range(..=bound).next_back().map(|(v, _)| *v);
                                let dead: Vec<Version> = m
                                    .range(..=bound)
                                    .map(|(v, _)| *v)
                                    .filter(|v| Some(*v) != newest || f.is_some_and(|f| *v <= f))
                                    .collect();
                                for v in dead {
                                    freed.extend(m.remove(&v).flatten());
                                }
                            }
                        }
                        a.ilog.aggregate(horizon);
                        // Gone for every reader at or above the horizon, and
                        // nothing (not even a hole) recorded above it.
                        let dead = a.ilog.dead_at(horizon)
                            && a.value.newest().is_none_or(|v| v.epoch <= horizon);
                        if dead {
                            freed.extend(a.value.clear());
                        }
                        !dead
                    });
                    d.ilog.aggregate(horizon);
                    let dead = d.ilog.dead_at(horizon) && d.akeys.is_empty();
                    !dead
                });
                o.ilog.aggregate(horizon);
                !(o.ilog.dead_at(horizon) && o.dkeys.is_empty())
            });
        }
        self.forget_chunks(&freed);
        freed
    }

    /// Every data extent the index points at (to rebuild the allocator).
    pub fn data_extents(&self) -> Vec<DataAddr> {
        let mut out = Vec::new();
        for c in self.conts.values() {
            c.data_extents(&mut out);
        }
        out
    }
}
