//! Object-id allocation for a mounted POSIX container (DAOS's `oid_gen`).
//!
//! DAOS takes `lo` from `daos_cont_alloc_oids` (a container-wide counter
//! kept by the pool service) and steps a per-mount 32-bit `hi`. rdaos has
//! no container service, so:
//!
//! * `lo` comes from a counter persisted in the superblock
//!   (`DFS_OID_NEXT`), reserved [`OID_BATCH`] at a time: the mount reads
//!   the counter, writes it advanced by a batch, and only then hands out
//!   the ids of the batch. Ids of a batch that a mount did not use are
//!   skipped, never handed out again: an id is never reused, across
//!   unmounts and engine restarts. The counter starts at [`FIRST_LO`]
//!   (ids 0.0 and 0.1 are the superblock and the root).
//! * the caller's 32 bits of `hi` are a random non-zero value per mount.
//!   The read-then-write reservation is not atomic (there is no
//!   conditional update in the object layer), so two mounts racing on it
//!   could reserve the same batch; their ids still differ by `hi` unless
//!   the two random values also collide (2^-32).
//!
//! The inode number is `lo` (unique in the container except in that
//! race).

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

use obj::cli::ObjHandle;
use obj::oclass::{generate_oid, ObjClass, ObjType};
use obj::rpc::IodDesc;
use obj::transport::BulkRef;
use obj::vos::ObjId;

use crate::errno::{Context, DfsError};
use crate::sb::{AK_OID_NEXT, SB_DKEY};

/// Ids reserved per superblock update.
pub const OID_BATCH: u64 = 1024;
/// The first `lo` handed out.
pub const FIRST_LO: u64 = 16;

/// A mount's id allocator.
pub struct OidAlloc {
    sb: ObjHandle,
    hi32: u32,
    next: Cell<u64>,
    end: Cell<u64>,
    /// Held while a batch is being reserved: concurrent allocations (many
    /// `mkdir` tasks in flight) wait for that batch instead of reserving
    /// one each from the same counter value.
    reserving: futures::lock::Mutex<()>,
}

fn random_hi32() -> u32 {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::inode::now_ns());
    h.write_u32(std::process::id());
    h.write_u64(SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let v = h.finish();
    match (v ^ (v >> 32)) as u32 {
        0 => 1,
        x => x,
    }
}

impl OidAlloc {
    /// An allocator over the superblock object `sb`, with nothing reserved
    /// yet.
    pub fn new(sb: ObjHandle) -> OidAlloc {
        OidAlloc {
            sb,
            hi32: random_hi32(),
            next: Cell::new(0),
            end: Cell::new(0),
            reserving: futures::lock::Mutex::new(()),
        }
    }

    /// A new object id of type `otype` and class `class`.
    pub fn alloc(&self, otype: ObjType, class: ObjClass) -> Result<ObjId, DfsError> {
        self.sb
            .client()
            .sched()
            .block_on(self.alloc_async(otype, class))
    }

    /// [`alloc`](Self::alloc) as a future (on the client's scheduler). Any
    /// number may be in flight: one reserves a batch, the others wait
    /// for it.
    pub async fn alloc_async(&self, otype: ObjType, class: ObjClass) -> Result<ObjId, DfsError> {
        loop {
            let lo = self.next.get();
            if lo < self.end.get() {
                self.next.set(lo + 1);
                return Ok(generate_oid(self.hi32, lo, otype, class));
            }
            let _held = self.reserving.lock().await;
            if self.next.get() >= self.end.get() {
                self.reserve().await?;
            }
        }
    }

    /// Object ids handed out in the container so far: the superblock's
    /// counter past [`FIRST_LO`], less what this mount reserved and has
    /// not used. Ids are never reused, so this bounds the inodes in use
    /// from above: removed inodes' ids count, and so do those left unused
    /// in the batches of earlier mounts.
    pub async fn handed_out_async(&self) -> Result<u64, DfsError> {
        let cur = self.read_counter_async().await?;
        let unused = self.end.get().saturating_sub(self.next.get());
        Ok(cur.saturating_sub(FIRST_LO).saturating_sub(unused))
    }

    /// The superblock's id counter (`DFS_OID_NEXT`).
    async fn read_counter_async(&self) -> Result<u64, DfsError> {
        let iod = IodDesc {
            akey: AK_OID_NEXT.to_vec(),
            single: true,
            rsize: 0,
            recxs: Vec::new(),
        };
        let r = self
            .sb
            .fetch_async(SB_DKEY, vec![iod], None)
            .await
            .ctx("oid_gen: read the counter")?;
        let cur = match (r.sizes.first(), r.data.len()) {
            (Some(Some(8)), 8) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&r.data);
                u64::from_le_bytes(a)
            }
            _ => return Err(DfsError::Corrupt("superblock: bad DFS_OID_NEXT".into())),
        };
        if cur < FIRST_LO {
            return Err(DfsError::Corrupt(format!(
                "superblock: DFS_OID_NEXT {cur} below {FIRST_LO}"
            )));
        }
        Ok(cur)
    }

    async fn reserve(&self) -> Result<(), DfsError> {
        let cur = self.read_counter_async().await?;
        let end = cur
            .checked_add(OID_BATCH)
            .ok_or_else(|| DfsError::NoSpace {
                ctx: "oid_gen: object ids exhausted".into(),
                detail: String::new(),
            })?;
        let iod = IodDesc {
            akey: AK_OID_NEXT.to_vec(),
            single: true,
            rsize: 8,
            recxs: Vec::new(),
        };
        self.sb
            .update_async(
                SB_DKEY,
                vec![iod],
                vec![BulkRef::from_vec(end.to_le_bytes().to_vec())],
                None,
            )
            .await
            .ctx("oid_gen: advance the counter")?;
        self.next.set(cur);
        self.end.set(end);
        Ok(())
    }
}
