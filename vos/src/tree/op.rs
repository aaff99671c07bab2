//! The index's vocabulary: [`IndexOp`], one change to the index and one
//! WAL record's payload, and [`Value`], what an akey holds.

use std::collections::BTreeMap;

use crate::extent::ExtentTree;
use crate::types::{ChunkCsums, ContId, DataAddr, ObjId, Recx, Version};

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
    /// [`Index::check`](super::Index::check) refuse the reserved epochs for it as for any
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
    pub(crate) fn describe(&self) -> String {
        match self {
            Value::Empty => "nothing".into(),
            Value::Single(_) => "a single value".into(),
            Value::Array { rsize, .. } => format!("an array of {rsize}-byte records"),
        }
    }

    /// The newest version stored (data, hole or punch).
    pub(crate) fn newest(&self) -> Option<Version> {
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
    pub(crate) fn remove_version(&mut self, v: Version) -> (bool, Vec<DataAddr>) {
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

    pub(crate) fn clear(&mut self) -> Vec<DataAddr> {
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
