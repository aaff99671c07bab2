//! The in-memory index of a target: object -> dkey -> akey -> value.
//!
//! Every change is an [`IndexOp`] carrying its [`Version`]; the same ops
//! are what the WAL records and what replay re-applies, so the index after
//! a replay is the index before the crash. A read at epoch E sees, per key
//! and per record, the newest version at or below E that no punch at or
//! below E hides.

use std::collections::{BTreeMap, HashMap};

use crate::error::VosError;
use crate::extent::{ExtentTree, Segment};
use crate::ilog::Ilog;
use crate::types::{
    check_label, ChunkCsums, ContId, DataAddr, Epoch, ObjId, Recx, Version, EPOCH_MAX,
};

/// One change to the index (and one WAL record's payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexOp {
    /// Records `recx` of an array akey: data at `data`, or a hole (range
    /// punch) when `data` is `None`.
    UpdateArray {
        /// Container.
        cont: ContId,
        /// Object.
        oid: ObjId,
        /// Distribution key.
        dkey: Vec<u8>,
        /// Attribute key.
        akey: Vec<u8>,
        /// Version of the update.
        v: Version,
        /// Records written.
        recx: Recx,
        /// Record size in bytes.
        rsize: u64,
        /// The bytes, or `None` for a hole.
        data: Option<DataAddr>,
        /// Checksums of the data's chunks, for data of more than one
        /// chunk (see [`ChunkCsums`]).
        chunks: Option<ChunkCsums>,
    },
    /// A single value: its bytes, or `None` to punch it.
    UpdateSingle {
        /// Container.
        cont: ContId,
        /// Object.
        oid: ObjId,
        /// Distribution key.
        dkey: Vec<u8>,
        /// Attribute key.
        akey: Vec<u8>,
        /// Version of the update.
        v: Version,
        /// The bytes, or `None` for a punch.
        data: Option<DataAddr>,
    },
    /// Punch a whole object.
    PunchObj {
        /// Container.
        cont: ContId,
        /// Object.
        oid: ObjId,
        /// Version of the punch.
        v: Version,
    },
    /// Punch a dkey and everything below it.
    PunchDkey {
        /// Container.
        cont: ContId,
        /// Object.
        oid: ObjId,
        /// Distribution key.
        dkey: Vec<u8>,
        /// Version of the punch.
        v: Version,
    },
    /// Punch an akey.
    PunchAkey {
        /// Container.
        cont: ContId,
        /// Object.
        oid: ObjId,
        /// Distribution key.
        dkey: Vec<u8>,
        /// Attribute key.
        akey: Vec<u8>,
        /// Version of the punch.
        v: Version,
    },
    /// Create a container (not versioned: it exists from now on at every
    /// epoch, as in DAOS's `vos_cont_create`).
    ContCreate {
        /// Its id.
        cont: ContId,
        /// Its label, unique on the target.
        label: String,
    },
    /// Destroy a container and everything in it, freeing its space.
    ContDestroy {
        /// Its id.
        cont: ContId,
    },
    /// Give a container a new label (DAOS's `daos cont set-prop
    /// label:NEW`), unique on the target. Relabelling a container as the
    /// label it has changes nothing, so a relabel can be redone.
    ContRelabel {
        /// Its id.
        cont: ContId,
        /// Its new label.
        label: String,
    },
    /// Abort (DAOS's `vos_dtx_abort`): remove exactly version `v` of an
    /// akey, as if the update that wrote it had never been applied. Gone
    /// are the array extents or the single-value entry at `v` (older
    /// versions beneath become visible again), the akey's incarnation-log
    /// entries at `v` (its creation, or the punch a single-value or akey
    /// punch at `v` recorded), and the creations at `v` the update left on
    /// the dkey and the object; keys left with nothing are dropped. Object
    /// and dkey punches are undone by [`IndexOp::AbortPunch`]. A version that is not there
    /// (never applied here, or already aborted) makes it a no-op. Versions
    /// at or below an aggregation horizon may already be folded into
    /// others: abort only what aggregation has not passed yet.
    Abort {
        /// Container.
        cont: ContId,
        /// Object.
        oid: ObjId,
        /// Distribution key.
        dkey: Vec<u8>,
        /// Attribute key.
        akey: Vec<u8>,
        /// The version to remove (the one the update was given).
        v: Version,
    },
    /// Abort of an object or dkey punch (the rest of `vos_dtx_abort`):
    /// removes the punch recorded at exactly `v` in the object's (`dkey`
    /// `None`) or the dkey's incarnation log, so what it hid shows again;
    /// a key that only the punch brought into the index is dropped. A
    /// version that is not there makes it a no-op. Akey, record and
    /// single-value punches are taken back by [`IndexOp::Abort`].
    AbortPunch {
        /// Container.
        cont: ContId,
        /// Object.
        oid: ObjId,
        /// The punched dkey, or `None` for an object punch.
        dkey: Option<Vec<u8>>,
        /// The version of the punch to remove.
        v: Version,
    },
}

impl IndexOp {
    /// The op's version (`None` for the unversioned container ops).
    ///
    /// For [`IndexOp::Abort`] it is the version the op *removes*: an abort
    /// writes no version of its own, but naming `v` here makes
    /// [`Index::check`] refuse the reserved epochs for it as for any
    /// update, and keeps the index's sequence at or above every version it
    /// has been told of (so a version named by a late abort is never
    /// handed out again).
    pub fn version(&self) -> Option<Version> {
        match self {
            IndexOp::UpdateArray { v, .. }
            | IndexOp::UpdateSingle { v, .. }
            | IndexOp::PunchObj { v, .. }
            | IndexOp::PunchDkey { v, .. }
            | IndexOp::PunchAkey { v, .. }
            | IndexOp::Abort { v, .. }
            | IndexOp::AbortPunch { v, .. } => Some(*v),
            IndexOp::ContCreate { .. }
            | IndexOp::ContDestroy { .. }
            | IndexOp::ContRelabel { .. } => None,
        }
    }

    /// The container the op is about.
    pub fn cont(&self) -> ContId {
        match self {
            IndexOp::UpdateArray { cont, .. }
            | IndexOp::UpdateSingle { cont, .. }
            | IndexOp::PunchObj { cont, .. }
            | IndexOp::PunchDkey { cont, .. }
            | IndexOp::PunchAkey { cont, .. }
            | IndexOp::Abort { cont, .. }
            | IndexOp::AbortPunch { cont, .. }
            | IndexOp::ContCreate { cont, .. }
            | IndexOp::ContDestroy { cont }
            | IndexOp::ContRelabel { cont, .. } => *cont,
        }
    }
}

/// The value an akey holds.
#[derive(Debug, Clone)]
pub enum Value {
    /// Nothing written yet (an akey known only from a punch).
    Empty,
    /// A single value's versions (`None`: punched).
    Single(BTreeMap<Version, Option<DataAddr>>),
    /// An array of fixed-size records.
    Array {
        /// Record size in bytes.
        rsize: u64,
        /// The extents.
        tree: ExtentTree,
    },
}

impl Value {
    fn describe(&self) -> String {
        match self {
            Value::Empty => "nothing".into(),
            Value::Single(_) => "a single value".into(),
            Value::Array { rsize, .. } => format!("an array of {rsize}-byte records"),
        }
    }

    /// The newest version stored (data, hole or punch).
    fn newest(&self) -> Option<Version> {
        match self {
            Value::Empty => None,
            Value::Single(m) => m.keys().next_back().copied(),
            Value::Array { tree, .. } => tree.iter().map(|x| x.1).max(),
        }
    }

    /// Removes every version stored at exactly `v` (an aborted update's):
    /// whether there was any, and the data it held. A value left with no
    /// version becomes [`Value::Empty`] again, so the akey takes any kind
    /// of value next, as on a replica that never saw the update.
    fn remove_version(&mut self, v: Version) -> (bool, Vec<DataAddr>) {
        let (found, freed) = match self {
            Value::Empty => (false, Vec::new()),
            Value::Single(m) => match m.remove(&v) {
                Some(data) => (true, data.into_iter().collect()),
                None => (false, Vec::new()),
            },
            Value::Array { tree, .. } => {
                let gone = tree.remove_version(v);
                let freed = gone.iter().filter_map(|x| x.1).collect();
                (!gone.is_empty(), freed)
            }
        };
        if found && self.newest().is_none() {
            *self = Value::Empty;
        }
        (found, freed)
    }

    fn clear(&mut self) -> Vec<DataAddr> {
        match self {
            Value::Empty => vec![],
            Value::Single(m) => {
                let freed = m.values().filter_map(|d| *d).collect();
                m.clear();
                freed
            }
            Value::Array { tree, .. } => tree.clear(),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Enc;

    const C: ContId = ContId(1);

    fn with_cont() -> Index {
        let mut i = Index::new();
        let create = IndexOp::ContCreate {
            cont: C,
            label: "c".into(),
        };
        i.apply(&create).unwrap();
        i
    }

    fn array(dkey: &[u8], v: Version, idx: u64, off: u64) -> IndexOp {
        IndexOp::UpdateArray {
            cont: C,
            oid: ObjId::new(1, 1),
            dkey: dkey.to_vec(),
            akey: b"a".to_vec(),
            v,
            recx: Recx::new(idx, 4),
            rsize: 1,
            data: Some(DataAddr {
                off,
                len: 4,
                csum: 0,
            }),
            chunks: None,
        }
    }

    fn single(dkey: &[u8], v: Version, data: Option<DataAddr>) -> IndexOp {
        IndexOp::UpdateSingle {
            cont: C,
            oid: ObjId::new(1, 1),
            dkey: dkey.to_vec(),
            akey: b"s".to_vec(),
            v,
            data,
        }
    }

    fn abort(dkey: &[u8], akey: &[u8], v: Version) -> IndexOp {
        IndexOp::Abort {
            cont: C,
            oid: ObjId::new(1, 1),
            dkey: dkey.to_vec(),
            akey: akey.to_vec(),
            v,
        }
    }

    /// The checkpoint form without the sequence (its first 8 bytes).
    fn form(i: &Index) -> Vec<u8> {
        let mut e = Enc::new();
        i.encode(&mut e);
        e.buf.split_off(8)
    }

    fn v(epoch: Epoch, seq: u64) -> Version {
        Version { epoch, seq }
    }

    #[test]
    fn abort_leaves_the_index_as_if_the_update_never_happened() {
        let d = |off| {
            Some(DataAddr {
                off,
                len: 3,
                csum: 0,
            })
        };
        let base = [array(b"k", v(1, 1), 0, 0), single(b"k", v(2, 2), d(100))];
        let aborted = [
            array(b"k", v(3, 3), 2, 200),     // over older data
            single(b"k", v(4, 4), d(300)),    // a newer single value
            single(b"k", v(5, 5), None),      // a single-value punch
            array(b"new", v(6, 6), 0, 400),   // a new dkey
            single(b"new2", v(7, 7), d(500)), // another new dkey
        ];
        let mut want = with_cont();
        for op in &base {
            want.apply(op).unwrap();
        }
        let mut got = with_cont();
        for op in base.iter().chain(&aborted) {
            got.apply(op).unwrap();
        }
        let mut freed = Vec::new();
        for op in &aborted {
            let (dkey, akey) = match op {
                IndexOp::UpdateArray { dkey, .. } => (dkey, b"a"),
                IndexOp::UpdateSingle { dkey, .. } => (dkey, b"s"),
                _ => unreachable!(),
            };
            let v = op.version().unwrap();
            freed.extend(got.apply(&abort(dkey, akey, v)).unwrap());
            // Again, and on a key that does not hold it: nothing changes.
            let before = form(&got);
            assert!(got.apply(&abort(dkey, akey, v)).unwrap().is_empty());
            assert!(got.apply(&abort(b"k", b"zz", v)).unwrap().is_empty());
            assert_eq!(form(&got), before);
        }
        assert_eq!(form(&got), form(&want));
        let offs: Vec<u64> = freed.iter().map(|a| a.off).collect();
        assert_eq!(offs, [200, 300, 400, 500]);
        // The akey a removed single value created takes an array now.
        let o = ObjId::new(1, 1);
        let mut onto_single = array(b"new2", v(8, 8), 0, 600);
        if let IndexOp::UpdateArray { akey, .. } = &mut onto_single {
            *akey = b"s".to_vec();
        }
        assert!(got.check(&onto_single).is_ok());
        assert!(want.check(&onto_single).is_ok());
        assert!(got.check(&single(b"k", v(8, 8), None)).is_ok());
        assert!(got.list_dkeys(C, o, 9) == [b"k".to_vec()]);
        // A version that never was: no change, but it is never handed out.
        got.apply(&abort(b"k", b"a", v(9, 50))).unwrap();
        assert_eq!(form(&got), form(&want));
        assert_eq!(got.next_version(9).unwrap(), v(9, 51));
        // Bad input is refused before anything changes.
        assert!(got.check(&abort(b"", b"a", v(9, 1))).is_err());
        assert!(got.check(&abort(b"k", b"a", v(0, 1))).is_err());
        let stranger = IndexOp::Abort {
            cont: ContId(9),
            oid: o,
            dkey: b"k".to_vec(),
            akey: b"a".to_vec(),
            v: v(1, 1),
        };
        assert!(matches!(got.check(&stranger), Err(VosError::NoCont(_))));
    }

    #[test]
    fn chunk_checksums_live_exactly_as_long_as_their_extent() {
        let big = |v: Version, off: u64| {
            let mut op = array(b"k", v, 0, off);
            if let IndexOp::UpdateArray {
                recx, data, chunks, ..
            } = &mut op
            {
                *recx = Recx::new(0, 1 << 16);
                *data = Some(DataAddr {
                    off,
                    len: 1 << 16,
                    csum: off as u32,
                });
                *chunks = Some(ChunkCsums {
                    chunk: 1 << 15,
                    sums: vec![1, 2].into(),
                });
            }
            op
        };
        let addr = |off| DataAddr {
            off,
            len: 1 << 16,
            csum: off as u32,
        };
        let mut i = with_cont();
        // Sums that do not fit the data are refused.
        let mut bad = big(v(1, 1), 0);
        if let IndexOp::UpdateArray { chunks, .. } = &mut bad {
            *chunks = Some(ChunkCsums {
                chunk: 1 << 15,
                sums: vec![1].into(),
            });
        }
        assert!(i.check(&bad).is_err());
        i.apply(&big(v(1, 1), 0)).unwrap();
        assert!(i.chunk_csums(&addr(0)).is_some());
        // An abort frees the extent, and its sums go with it.
        i.apply(&abort(b"k", b"a", v(1, 1))).unwrap();
        assert!(i.chunks.is_empty());
        // Aggregation of an extent overwritten whole.
        i.apply(&big(v(2, 2), 1 << 20)).unwrap();
        i.apply(&big(v(3, 3), 2 << 20)).unwrap();
        assert_eq!(i.aggregate(5), vec![addr(1 << 20)]);
        assert!(i.chunk_csums(&addr(1 << 20)).is_none());
        assert!(i.chunk_csums(&addr(2 << 20)).is_some());
        // A container destroy.
        i.apply(&IndexOp::ContDestroy { cont: C }).unwrap();
        assert!(i.chunks.is_empty());
    }

    fn abort_punch(dkey: Option<&[u8]>, v: Version) -> IndexOp {
        IndexOp::AbortPunch {
            cont: C,
            oid: ObjId::new(1, 1),
            dkey: dkey.map(<[u8]>::to_vec),
            v,
        }
    }

    #[test]
    fn abort_punch_shows_what_an_object_or_dkey_punch_hid() {
        let o = ObjId::new(1, 1);
        let base = [array(b"k", v(1, 1), 0, 0), single(b"j", v(2, 2), None)];
        let mut want = with_cont();
        for op in &base {
            want.apply(op).unwrap();
        }
        let punches = [
            IndexOp::PunchDkey {
                cont: C,
                oid: o,
                dkey: b"k".to_vec(),
                v: v(3, 3),
            },
            // A dkey that exists only through its punch.
            IndexOp::PunchDkey {
                cont: C,
                oid: o,
                dkey: b"never".to_vec(),
                v: v(4, 4),
            },
            IndexOp::PunchObj {
                cont: C,
                oid: o,
                v: v(5, 5),
            },
            // An object that exists only through its punch.
            IndexOp::PunchObj {
                cont: C,
                oid: ObjId::new(2, 2),
                v: v(6, 6),
            },
        ];
        let mut got = with_cont();
        for op in base.iter().chain(&punches) {
            got.apply(op).unwrap();
        }
        assert!(got.list_dkeys(C, o, 9).is_empty(), "punched");
        // Each abort takes back its own punch only: naming the object
        // punch's version at the dkey level (or the other way) changes
        // nothing.
        let before = form(&got);
        assert!(got
            .apply(&abort_punch(Some(b"k"), v(5, 5)))
            .unwrap()
            .is_empty());
        got.apply(&abort_punch(None, v(3, 3))).unwrap();
        // Nor does naming the version of an update that created the key.
        got.apply(&abort_punch(Some(b"k"), v(1, 1))).unwrap();
        got.apply(&abort_punch(None, v(1, 1))).unwrap();
        assert_eq!(form(&got), before);
        got.apply(&abort_punch(None, v(5, 5))).unwrap();
        assert!(
            got.list_dkeys(C, o, 9).is_empty(),
            "the dkey punch still hides k"
        );
        got.apply(&abort_punch(Some(b"k"), v(3, 3))).unwrap();
        assert_eq!(got.list_dkeys(C, o, 9), [b"k".to_vec()]);
        got.apply(&abort_punch(Some(b"never"), v(4, 4))).unwrap();
        let stray = IndexOp::AbortPunch {
            cont: C,
            oid: ObjId::new(2, 2),
            dkey: None,
            v: v(6, 6),
        };
        got.apply(&stray).unwrap();
        assert_eq!(form(&got), form(&want));
        // Again: nothing changes. A bad dkey is refused.
        got.apply(&stray).unwrap();
        assert_eq!(form(&got), form(&want));
        assert!(got.check(&abort_punch(Some(b""), v(7, 7))).is_err());
    }
}
