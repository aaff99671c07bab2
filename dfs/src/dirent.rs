//! Directory objects: entries (dkey = name, akey
//! [`INODE_AKEY`] = the inode record) and the
//! parent link.
//!
//! A directory is a hashed key-value object. Besides its entries it holds
//! one dkey that is never a valid name, [`PARENT_DKEY`] (`"/.."`), whose
//! akey [`PARENT_AKEY`] is the parent directory's object id (16 bytes,
//! `hi` then `lo`, little-endian); the root has none. `rename` follows
//! these links upwards to refuse moving a directory below itself. Listing
//! leaves every dkey holding a `/` out.
//!
//! Each call has an `_async` form (the one implementation, awaiting the
//! object layer's tasks) and a blocking form that runs it with
//! `block_on` on the client's scheduler.

use obj::cli::{FetchOut, ObjHandle};
use obj::rpc::{IodDesc, PunchKind};
use obj::transport::BulkRef;
use obj::vos::ObjId;
use tse::Task;

use crate::errno::{Context, DfsError};
use crate::inode::{Inode, INODE_AKEY};

/// The dkey of a directory's parent link.
pub const PARENT_DKEY: &[u8] = b"/..";
/// The akey of the parent link.
pub const PARENT_AKEY: &[u8] = b"DFS_PARENT";

fn single(akey: &[u8], len: u64) -> IodDesc {
    IodDesc {
        akey: akey.to_vec(),
        single: true,
        rsize: len,
        recxs: Vec::new(),
    }
}

fn decode_entry(r: obj::cli::FetchResult) -> Result<Option<Inode>, DfsError> {
    match r.sizes.first() {
        Some(Some(_)) => Inode::decode(&r.data).map(Some),
        _ => Ok(None),
    }
}

/// Runs `fut` to the end on `oh`'s client scheduler (the blocking forms).
fn block<T>(oh: &ObjHandle, fut: impl std::future::Future<Output = T>) -> T {
    oh.client().sched().block_on(fut)
}

/// The entry `name` of directory `dir`, if any.
pub fn fetch(dir: &ObjHandle, name: &[u8]) -> Result<Option<Inode>, DfsError> {
    block(dir, fetch_async(dir, name))
}

/// [`fetch`] as a future (on the client's scheduler).
pub async fn fetch_async(dir: &ObjHandle, name: &[u8]) -> Result<Option<Inode>, DfsError> {
    let r = dir
        .fetch_async(name, vec![single(INODE_AKEY, 0)], None)
        .await
        .ctx("dfs_lookup: fetch the entry")?;
    decode_entry(r)
}

/// Writes entry `name` of `dir` (creates or replaces it).
pub fn put(dir: &ObjHandle, name: &[u8], inode: &Inode) -> Result<(), DfsError> {
    block(dir, put_async(dir, name, inode))
}

/// [`put`] as a future (on the client's scheduler).
pub async fn put_async(dir: &ObjHandle, name: &[u8], inode: &Inode) -> Result<(), DfsError> {
    let b = inode.encode();
    dir.update_async(
        name,
        vec![single(INODE_AKEY, b.len() as u64)],
        vec![BulkRef::from_vec(b)],
        None,
    )
    .await
    .ctx("insert_entry")
}

/// Removes entry `name` of `dir` (punches its dkey).
pub fn remove(dir: &ObjHandle, name: &[u8]) -> Result<(), DfsError> {
    block(dir, remove_async(dir, name))
}

/// [`remove`] as a future (on the client's scheduler).
pub async fn remove_async(dir: &ObjHandle, name: &[u8]) -> Result<(), DfsError> {
    dir.punch_async(PunchKind::Dkey, name, Vec::new(), None)
        .await
        .ctx("remove_entry")
}

/// The entry names of `dir`, sorted bytewise.
pub fn names(dir: &ObjHandle) -> Result<Vec<Vec<u8>>, DfsError> {
    block(dir, names_async(dir))
}

/// [`names`] as a future (on the client's scheduler).
pub async fn names_async(dir: &ObjHandle) -> Result<Vec<Vec<u8>>, DfsError> {
    Ok(dir
        .list_dkeys_async(None)
        .await
        .ctx("dfs_readdir: enumerate")?
        .into_iter()
        .filter(|k| !k.contains(&b'/'))
        .collect())
}

/// Fetches the entries `names` of `dir` at once: one fetch task per entry,
/// scheduled as a list. `None` for an entry that vanished meanwhile.
pub fn fetch_many(dir: &ObjHandle, names: &[Vec<u8>]) -> Result<Vec<Option<Inode>>, DfsError> {
    block(dir, fetch_many_async(dir, names))
}

/// [`fetch_many`] as a future (on the client's scheduler).
pub async fn fetch_many_async(
    dir: &ObjHandle,
    names: &[Vec<u8>],
) -> Result<Vec<Option<Inode>>, DfsError> {
    let mut parts: Vec<(Task, FetchOut)> = Vec::with_capacity(names.len());
    for n in names {
        let (t, o) = dir
            .fetch_task(n, vec![single(INODE_AKEY, 0)], None)
            .ctx("dfs_readdir: fetch the entries")?;
        dir.client().adopt(&t);
        parts.push((t, o));
    }
    let tasks: Vec<Task> = parts.iter().map(|p| p.0.clone()).collect();
    tse::list_sched(&tasks, true).map_err(|e| DfsError::task("dfs_readdir", e.rc()))?;
    let mut out = Vec::with_capacity(parts.len());
    for (t, o) in parts {
        t.await
            .map_err(|e| DfsError::task("dfs_readdir: fetch the entries", e.rc()))?;
        let r = o.borrow_mut().take();
        let r = r.ok_or_else(|| DfsError::Corrupt("fetch completed without data".into()))?;
        out.push(decode_entry(r)?);
    }
    Ok(out)
}

/// Sets the parent link of directory `dir` to `parent`.
pub fn set_parent(dir: &ObjHandle, parent: ObjId) -> Result<(), DfsError> {
    block(dir, set_parent_async(dir, parent))
}

/// [`set_parent`] as a future (on the client's scheduler).
pub async fn set_parent_async(dir: &ObjHandle, parent: ObjId) -> Result<(), DfsError> {
    let mut v = parent.hi.to_le_bytes().to_vec();
    v.extend_from_slice(&parent.lo.to_le_bytes());
    dir.update_async(
        PARENT_DKEY,
        vec![single(PARENT_AKEY, 16)],
        vec![BulkRef::from_vec(v)],
        None,
    )
    .await
    .ctx("set the parent link")
}

/// The parent link of directory `dir` (`None`: the root, or a directory
/// without one).
pub fn parent(dir: &ObjHandle) -> Result<Option<ObjId>, DfsError> {
    block(dir, parent_async(dir))
}

/// [`parent`] as a future (on the client's scheduler).
pub async fn parent_async(dir: &ObjHandle) -> Result<Option<ObjId>, DfsError> {
    let r = dir
        .fetch_async(PARENT_DKEY, vec![single(PARENT_AKEY, 0)], None)
        .await
        .ctx("read the parent link")?;
    match r.sizes.first() {
        Some(Some(16)) if r.data.len() == 16 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&r.data[..8]);
            let hi = u64::from_le_bytes(a);
            a.copy_from_slice(&r.data[8..]);
            Ok(Some(ObjId::new(hi, u64::from_le_bytes(a))))
        }
        Some(Some(n)) => Err(DfsError::Corrupt(format!("parent link of {n} bytes"))),
        _ => Ok(None),
    }
}

/// Punches a whole object (a removed directory, or a file's array).
pub fn punch_obj(oh: &ObjHandle) -> Result<(), DfsError> {
    block(oh, punch_obj_async(oh))
}

/// [`punch_obj`] as a future (on the client's scheduler).
pub async fn punch_obj_async(oh: &ObjHandle) -> Result<(), DfsError> {
    oh.punch_async(PunchKind::Obj, &[], Vec::new(), None)
        .await
        .ctx("punch the object")
}

/// Writes the single values `vals` (akey, bytes; none empty) under `dkey`
/// of `oh` in one update at `epoch` (`None`: a fresh one): an inode's
/// record and its extended attributes go together this way.
pub async fn put_values_async(
    oh: &ObjHandle,
    dkey: &[u8],
    vals: Vec<(Vec<u8>, Vec<u8>)>,
    epoch: Option<obj::vos::Epoch>,
) -> Result<(), DfsError> {
    let mut iods = Vec::with_capacity(vals.len());
    let mut sgl = Vec::with_capacity(vals.len());
    for (akey, v) in vals {
        iods.push(single(&akey, v.len() as u64));
        sgl.push(BulkRef::from_vec(v));
    }
    oh.update_async(dkey, iods, sgl, epoch)
        .await
        .ctx("update the inode")
}

/// The single value `akey` of `dkey` of `oh`, if any.
pub async fn fetch_value_async(
    oh: &ObjHandle,
    dkey: &[u8],
    akey: &[u8],
) -> Result<Option<Vec<u8>>, DfsError> {
    let r = oh
        .fetch_async(dkey, vec![single(akey, 0)], None)
        .await
        .ctx("fetch an attribute")?;
    Ok(match r.sizes.first() {
        Some(Some(_)) => Some(r.data),
        _ => None,
    })
}

/// Punches the akey `akey` of `dkey` of `oh`.
pub async fn punch_akey_async(oh: &ObjHandle, dkey: &[u8], akey: &[u8]) -> Result<(), DfsError> {
    oh.punch_async(PunchKind::Akeys, dkey, vec![single(akey, 0)], None)
        .await
        .ctx("remove an attribute")
}

/// The akeys of `dkey` of `oh`, sorted.
pub async fn akeys_async(oh: &ObjHandle, dkey: &[u8]) -> Result<Vec<Vec<u8>>, DfsError> {
    oh.list_akeys_async(dkey, None)
        .await
        .ctx("list the attributes")
}
