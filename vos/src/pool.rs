//! A pool on one device: `nr_targets` equal target regions, each formatted
//! as a [`Target`] (its own superblock, WAL, checkpoints and data). Every
//! target is opened by the thread that serves it, on its own bio context.

use bio::BioCtx;

use crate::error::VosError;
use crate::layout::{Superblock, MIN_REGION};
use crate::target::{CheckpointSpace, Target, TargetCheck};

/// Where the targets of a pool are on its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolMapInfo {
    /// Pool uuid.
    pub pool: u128,
    /// Number of targets.
    pub nr_targets: u32,
    /// Bytes per target region (target `i` starts at `i * region_len`).
    pub region_len: u64,
}

impl PoolMapInfo {
    /// Offset of target `i`'s region.
    pub fn region_off(&self, i: u32) -> u64 {
        i as u64 * self.region_len
    }
}

/// Formats the device behind `ctx` as a pool of `nr_targets` targets
/// sharing its capacity equally.
pub fn pool_create(ctx: &BioCtx, pool: u128, nr_targets: u32) -> Result<PoolMapInfo, VosError> {
    if nr_targets == 0 {
        return Err(VosError::Inval("a pool needs at least one target"));
    }
    let bs = ctx.device().block_size() as u64;
    let region_len = ctx.device().capacity() / nr_targets as u64 / bs * bs;
    if region_len < MIN_REGION {
        return Err(VosError::TooSmall {
            what: "device for this many targets",
            have: ctx.device().capacity(),
            need: MIN_REGION * nr_targets as u64,
        });
    }
    let info = PoolMapInfo {
        pool,
        nr_targets,
        region_len,
    };
    // Target 0 last: its superblock is what marks the device as a pool.
    for i in (0..nr_targets).rev() {
        Target::create(ctx, info.region_off(i), region_len, pool, i, nr_targets)?.close()?;
    }
    Ok(info)
}

/// Reads the pool's layout from target 0's superblock.
pub fn pool_query(ctx: &BioCtx) -> Result<PoolMapInfo, VosError> {
    let bs = ctx.device().block_size() as u64;
    let (t, iod) = ctx.read(0, bs)?;
    match ctx.sched().progress_until(&t) {
        0 => {}
        rc => {
            return Err(VosError::IoStatus {
                what: "reading the pool superblock".into(),
                rc,
            })
        }
    }
    let sb = Superblock::decode(&iod.to_vec()?)?;
    if sb.target != 0 {
        return Err(VosError::Corrupt(
            "the superblock at offset 0 is not target 0's".into(),
        ));
    }
    Ok(PoolMapInfo {
        pool: sb.pool,
        nr_targets: sb.nr_targets,
        region_len: sb.geo.region_len,
    })
}

/// Opens target `i` of the pool on `ctx` (each target's thread opens its
/// own, on its own context) and checks it belongs to this pool.
pub fn pool_open_target(ctx: &BioCtx, info: &PoolMapInfo, i: u32) -> Result<Target, VosError> {
    if i >= info.nr_targets {
        return Err(VosError::Inval("target index out of range"));
    }
    let t = Target::open(ctx, info.region_off(i))?;
    let sb = t.superblock();
    if sb.pool != info.pool || sb.target != i || sb.nr_targets != info.nr_targets {
        return Err(VosError::Corrupt(format!(
            "region {i} holds target {} of pool {:#x}, expected target {i} of {:#x}",
            sb.target, sb.pool, info.pool
        )));
    }
    Ok(t)
}

/// Checks every target of the pool on `ctx` without opening any or
/// writing anything (see [`Target::check`]).
pub fn pool_check(ctx: &BioCtx) -> Result<Vec<TargetCheck>, VosError> {
    let info = pool_query(ctx)?;
    (0..info.nr_targets)
        .map(|i| Target::check(ctx, info.region_off(i)))
        .collect()
}

/// Every target's data space as its newest checkpoint records it, read
/// without opening any target or writing anything (see
/// [`Target::space_at_checkpoint`]).
pub fn pool_space(ctx: &BioCtx) -> Result<Vec<CheckpointSpace>, VosError> {
    let info = pool_query(ctx)?;
    (0..info.nr_targets)
        .map(|i| Target::space_at_checkpoint(ctx, info.region_off(i)))
        .collect()
}
