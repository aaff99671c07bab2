//! The superblock of a POSIX container (DAOS's `DFS_SB_METADATA`).
//!
//! It is the object [`sb_oid`] (hashed KV, class `S1`, id 0.0, fixed so
//! that `mount` finds it without knowing anything else; DAOS derives the
//! class from the container's redundancy factor, which rdaos containers do
//! not have). Dkey [`SB_DKEY`] holds one single value per akey, all
//! little-endian:
//!
//! * `DFS_MAGIC` (8 bytes): [`SB_MAGIC`] (DAOS's);
//! * `DFS_SB_VERSION` (2): [`SB_VERSION`];
//! * `DFS_LAYOUT_VERSION` (2): [`LAYOUT_VERSION`];
//! * `DFS_CHUNK_SIZE` (8): the default chunk size of files;
//! * `DFS_OBJ_CLASS` (4) and `DFS_DIR_OBJ_CLASS` (4): default classes of
//!   files and directories (replicas per group `u8`, a zero byte, groups
//!   `u16`);
//! * `DFS_OID_NEXT` (8): the object-id counter (see [`crate::oidalloc`]).
//!
//! Dkey [`ROOT_DKEY`] (`"/"`, never a valid entry name) holds the root
//! directory's inode record, as DAOS keeps it in the superblock object.
//! `mkfs` writes the root entry first and the superblock metadata (magic
//! included) last, in one update.

use obj::cli::ObjHandle;
use obj::oclass::{generate_oid, ObjClass, ObjType};
use obj::rpc::IodDesc;
use obj::transport::BulkRef;
use obj::vos::ObjId;

use crate::errno::{Context, DfsError};

/// The superblock's dkey.
pub const SB_DKEY: &[u8] = b"DFS_SB_METADATA";
/// The dkey of the root directory's entry in the superblock object.
pub const ROOT_DKEY: &[u8] = b"/";
/// DAOS's superblock magic.
pub const SB_MAGIC: u64 = 0xda05_df50_da05_df50;
/// Superblock version this code writes (and the newest it reads).
pub const SB_VERSION: u16 = 1;
/// Namespace layout version this code writes (and the newest it reads).
pub const LAYOUT_VERSION: u16 = 1;
/// DAOS's default file chunk size (`DFS_DEFAULT_CHUNK_SIZE`).
pub const DEFAULT_CHUNK_SIZE: u64 = 1 << 20;

const AK_MAGIC: &[u8] = b"DFS_MAGIC";
const AK_SB_VERSION: &[u8] = b"DFS_SB_VERSION";
const AK_LAYOUT: &[u8] = b"DFS_LAYOUT_VERSION";
const AK_CHUNK: &[u8] = b"DFS_CHUNK_SIZE";
const AK_OCLASS: &[u8] = b"DFS_OBJ_CLASS";
const AK_DIR_OCLASS: &[u8] = b"DFS_DIR_OBJ_CLASS";
/// The akey of the object-id counter in [`SB_DKEY`].
pub const AK_OID_NEXT: &[u8] = b"DFS_OID_NEXT";

/// The superblock object's id (0.0, hashed KV, `S1`).
pub fn sb_oid() -> ObjId {
    generate_oid(0, 0, ObjType::KvHashed, ObjClass::S1)
}

/// The root directory's id (0.1, hashed KV, of the directory class).
pub fn root_oid(dir_oclass: ObjClass) -> ObjId {
    generate_oid(0, 1, ObjType::KvHashed, dir_oclass)
}

/// A POSIX container's properties (DAOS's `dfs_attr_t`, the part rdaos
/// has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DfsAttr {
    /// Default chunk size of files in bytes (default
    /// [`DEFAULT_CHUNK_SIZE`], 1 MiB).
    pub chunk_size: u64,
    /// Default class of files (default `SX`, DAOS's "max sharding" with
    /// no redundancy).
    pub oclass: ObjClass,
    /// Class of directories (default `S1`, DAOS's one-shard directories
    /// with no redundancy).
    pub dir_oclass: ObjClass,
}

impl Default for DfsAttr {
    fn default() -> DfsAttr {
        DfsAttr {
            chunk_size: DEFAULT_CHUNK_SIZE,
            oclass: ObjClass::SX,
            dir_oclass: ObjClass::S1,
        }
    }
}

fn single(akey: &[u8], len: usize) -> IodDesc {
    IodDesc {
        akey: akey.to_vec(),
        single: true,
        rsize: len as u64,
        recxs: Vec::new(),
    }
}

fn class_bytes(c: ObjClass) -> [u8; 4] {
    let g = c.nr_grps.to_le_bytes();
    [c.grp_size, 0, g[0], g[1]]
}

fn class_from(b: &[u8]) -> Option<ObjClass> {
    let c = ObjClass {
        grp_size: b[0],
        nr_grps: u16::from_le_bytes([b[2], b[3]]),
    };
    (c.grp_size != 0 && c.nr_grps != 0).then_some(c)
}

/// Writes the superblock metadata (magic last written of all: one update)
/// with the counter at `oid_next`.
pub fn write(sb: &ObjHandle, attr: &DfsAttr, oid_next: u64) -> Result<(), DfsError> {
    sb.client()
        .sched()
        .block_on(write_async(sb, attr, oid_next))
}

/// [`write()`] as a future (on the client's scheduler).
pub async fn write_async(sb: &ObjHandle, attr: &DfsAttr, oid_next: u64) -> Result<(), DfsError> {
    let fields: [(&[u8], Vec<u8>); 7] = [
        (AK_MAGIC, SB_MAGIC.to_le_bytes().to_vec()),
        (AK_SB_VERSION, SB_VERSION.to_le_bytes().to_vec()),
        (AK_LAYOUT, LAYOUT_VERSION.to_le_bytes().to_vec()),
        (AK_CHUNK, attr.chunk_size.to_le_bytes().to_vec()),
        (AK_OCLASS, class_bytes(attr.oclass).to_vec()),
        (AK_DIR_OCLASS, class_bytes(attr.dir_oclass).to_vec()),
        (AK_OID_NEXT, oid_next.to_le_bytes().to_vec()),
    ];
    let iods = fields.iter().map(|(k, v)| single(k, v.len())).collect();
    let sgl = fields
        .into_iter()
        .map(|(_, v)| BulkRef::from_vec(v))
        .collect();
    sb.update_async(SB_DKEY, iods, sgl, None)
        .await
        .ctx("mkfs: write the superblock")
}

/// Reads and checks the superblock of container `label`.
pub fn read(sb: &ObjHandle, label: &str) -> Result<DfsAttr, DfsError> {
    sb.client().sched().block_on(read_async(sb, label))
}

/// [`read`] as a future (on the client's scheduler).
pub async fn read_async(sb: &ObjHandle, label: &str) -> Result<DfsAttr, DfsError> {
    let akeys: [(&[u8], usize); 6] = [
        (AK_MAGIC, 8),
        (AK_SB_VERSION, 2),
        (AK_LAYOUT, 2),
        (AK_CHUNK, 8),
        (AK_OCLASS, 4),
        (AK_DIR_OCLASS, 4),
    ];
    let iods = akeys.iter().map(|(k, _)| single(k, 0)).collect();
    let r = sb
        .fetch_async(SB_DKEY, iods, None)
        .await
        .ctx("mount: read the superblock")?;
    if r.sizes.len() != akeys.len() {
        return Err(DfsError::Corrupt(format!(
            "superblock: {} values for {} akeys",
            r.sizes.len(),
            akeys.len()
        )));
    }
    let mut vals: Vec<Option<&[u8]>> = Vec::with_capacity(akeys.len());
    let mut at = 0usize;
    for s in &r.sizes {
        match s {
            Some(n) => {
                let n = *n as usize;
                let Some(v) = r.data.get(at..at + n) else {
                    return Err(DfsError::Corrupt("superblock: short fetch".into()));
                };
                vals.push(Some(v));
                at += n;
            }
            None => vals.push(None),
        }
    }
    let magic = match vals[0] {
        None => return Err(DfsError::NotPosix(label.to_string())),
        Some(m) => m,
    };
    if magic != SB_MAGIC.to_le_bytes() {
        return Err(DfsError::NotPosix(label.to_string()));
    }
    let field = |i: usize| -> Result<&[u8], DfsError> {
        match vals[i] {
            Some(v) if v.len() == akeys[i].1 => Ok(v),
            Some(v) => Err(DfsError::Corrupt(format!(
                "superblock: {} is {} bytes, expected {}",
                String::from_utf8_lossy(akeys[i].0),
                v.len(),
                akeys[i].1
            ))),
            None => Err(DfsError::Corrupt(format!(
                "superblock: {} missing",
                String::from_utf8_lossy(akeys[i].0)
            ))),
        }
    };
    let v = field(1)?;
    let sb_version = u16::from_le_bytes([v[0], v[1]]);
    let v = field(2)?;
    let layout = u16::from_le_bytes([v[0], v[1]]);
    for (what, found, max) in [
        ("superblock", sb_version, SB_VERSION),
        ("namespace layout", layout, LAYOUT_VERSION),
    ] {
        if found > max {
            return Err(DfsError::NewerLayout {
                what,
                found: found.into(),
                max: max.into(),
            });
        }
        if found == 0 {
            return Err(DfsError::Corrupt(format!("{what} version 0")));
        }
    }
    let mut c = [0u8; 8];
    c.copy_from_slice(field(3)?);
    let chunk_size = u64::from_le_bytes(c);
    if chunk_size == 0 {
        return Err(DfsError::Corrupt("superblock: chunk size 0".into()));
    }
    let oclass = class_from(field(4)?)
        .ok_or_else(|| DfsError::Corrupt("superblock: no file class".into()))?;
    let dir_oclass = class_from(field(5)?)
        .ok_or_else(|| DfsError::Corrupt("superblock: no directory class".into()))?;
    Ok(DfsAttr {
        chunk_size,
        oclass,
        dir_oclass,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_trip_and_fixed_ids_differ() {
        for (_, c) in ObjClass::NAMED {
            assert_eq!(class_from(&class_bytes(c)), Some(c));
        }
        assert_eq!(class_from(&[0, 0, 1, 0]), None);
        assert_ne!(sb_oid(), root_oid(ObjClass::S1));
        assert_eq!(sb_oid().lo, 0);
        assert_eq!(root_oid(ObjClass::RP_2G1).lo, 1);
        let d = DfsAttr::default();
        assert_eq!(d.chunk_size, 1 << 20);
        assert_eq!(d.oclass, ObjClass::SX);
        assert_eq!(d.dir_oclass, ObjClass::S1);
    }
}
