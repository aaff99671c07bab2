//! The inode table: which namespace entry ([`Obj`]) a FUSE inode number
//! names, and how many lookups the kernel holds on it.
//!
//! A FUSE inode number is the object id's low word (what [`Dfs::stat`]
//! reports as `st_ino`, unique in a container: see [`crate::oidalloc`]),
//! so numbers are stable across mounts and `ls -i` agrees with `stat`
//! inside and outside the daemon. The root's object id has low word 1,
//! which is FUSE's root inode. Should a low word ever be taken by another
//! object id (a damaged container), the newcomer gets a number from a
//! private range above `1 << 63` instead: an inode number is never shared.
//!
//! [`Dfs::stat`]: crate::Dfs::stat

use std::collections::HashMap;

use obj::vos::ObjId;

use crate::namespace::Obj;

/// FUSE's root inode number.
pub(crate) const ROOT_INO: u64 = 1;
/// First inode number of the private range used on a collision.
const SYNTH_BASE: u64 = 1 << 63;

/// One inode the kernel knows.
#[derive(Debug)]
struct Node {
    obj: Obj,
    /// Lookups the kernel holds (FUSE's `nlookup`).
    nlookup: u64,
}

/// Inode numbers <-> entries.
#[derive(Debug)]
pub(crate) struct InodeTable {
    nodes: HashMap<u64, Node>,
    by_oid: HashMap<ObjId, u64>,
    next_synth: u64,
}

impl InodeTable {
    /// A table holding the root (never forgotten).
    pub(crate) fn new(root: Obj) -> InodeTable {
        let mut t = InodeTable {
            nodes: HashMap::new(),
            by_oid: HashMap::new(),
            next_synth: SYNTH_BASE,
        };
        t.by_oid.insert(root.oid(), ROOT_INO);
        t.nodes.insert(
            ROOT_INO,
            Node {
                obj: root,
                nlookup: 1,
            },
        );
        t
    }

    /// The entry inode `ino` names.
    pub(crate) fn get(&self, ino: u64) -> Option<&Obj> {
        self.nodes.get(&ino).map(|n| &n.obj)
    }

    /// The inode number of object `oid` if the kernel knows it.
    pub(crate) fn ino_of(&self, oid: ObjId) -> Option<u64> {
        self.by_oid.get(&oid).copied()
    }

    /// Records (or refreshes) `obj` and returns its inode number; with
    /// `lookup` the kernel now holds one more lookup on it (an entry
    /// reply: lookup, create, mkdir, symlink, mknod).
    pub(crate) fn intern(&mut self, obj: Obj, lookup: bool) -> u64 {
        let add = u64::from(lookup);
        if let Some(&ino) = self.by_oid.get(&obj.oid()) {
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.obj = obj;
                n.nlookup += add;
                return ino;
            }
        }
        let lo = obj.oid().lo;
        let ino = if lo != 0 && lo < SYNTH_BASE && !self.nodes.contains_key(&lo) {
            lo
        } else {
            while self.nodes.contains_key(&self.next_synth) {
                self.next_synth = self.next_synth.wrapping_add(1).max(SYNTH_BASE);
            }
            self.next_synth
        };
        self.by_oid.insert(obj.oid(), ino);
        self.nodes.insert(ino, Node { obj, nlookup: add });
        ino
    }

    /// Replaces the entry of an inode already known (after chmod,
    /// utimens, rename); unknown numbers are ignored.
    pub(crate) fn refresh(&mut self, ino: u64, obj: Obj) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            if n.obj.oid() == obj.oid() {
                n.obj = obj;
            }
        }
    }

    /// The kernel dropped `n` lookups on `ino` (FUSE's `forget`): once it
    /// holds none the inode is forgotten (never the root).
    pub(crate) fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        let gone = match self.nodes.get_mut(&ino) {
            Some(node) => {
                node.nlookup = node.nlookup.saturating_sub(n);
                node.nlookup == 0
            }
            None => false,
        };
        if gone {
            if let Some(node) = self.nodes.remove(&ino) {
                self.by_oid.remove(&node.obj.oid());
            }
        }
    }
}
