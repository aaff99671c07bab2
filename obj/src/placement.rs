//! Placement: where an object's shards live and which redundancy group a
//! dkey goes to, by jump consistent hashing (Lamping and Veach, 2014), the
//! method DAOS's `d_hash_jump` and jump-map placement use. Adding engines
//! moves only the shards that must move.

use vos::ObjId;

use crate::error::ObjError;
use crate::oclass::{oid_class, ObjClass};

/// Jump consistent hash: a bucket in `0..buckets` for `key`; when buckets
/// grow from n to n+1, a key moves with probability 1/(n+1), and only to
/// the new bucket.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    if buckets == 0 {
        return 0;
    }
    let mut b: i64 = -1;
    let mut j: i64 = 0;
    while j < buckets as i64 {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// 64-bit FNV-1a, for string dkeys.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A 64-bit mix (splitmix64's finaliser), to derive independent keys.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A target of the pool: engine (fault domain) and target index in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId {
    /// Engine (rank).
    pub engine: u32,
    /// Target index within the engine.
    pub target: u32,
}

/// The pool map: engines x targets per engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolMap {
    /// Number of engines.
    pub engines: u32,
    /// Targets per engine.
    pub targets_per_engine: u32,
}

impl PoolMap {
    /// A map of `engines` engines with `targets_per_engine` targets each.
    pub fn new(engines: u32, targets_per_engine: u32) -> Result<PoolMap, ObjError> {
        if engines == 0 || targets_per_engine == 0 {
            return Err(ObjError::Inval(
                "a pool needs at least one engine and one target",
            ));
        }
        Ok(PoolMap {
            engines,
            targets_per_engine,
        })
    }

    /// Total targets.
    pub fn targets(&self) -> u32 {
        self.engines * self.targets_per_engine
    }
}

/// Where an object's shards are: `groups[g][r]` is replica `r` of group `g`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The object's class.
    pub class: ObjClass,
    /// Targets per group, per replica.
    pub groups: Vec<Vec<TargetId>>,
}

/// Computes an object's layout on `map` (the jump-map idea: per shard, an
/// engine by jump hash, avoiding engines its group already uses, then a
/// target in it, avoiding targets other shards already use while any are
/// left).
pub fn obj_layout(map: &PoolMap, oid: ObjId) -> Result<Layout, ObjError> {
    let (_otype, class) = oid_class(oid)?;
    let nr_grps = class.groups(map.targets())?;
    let size = class.grp_size as u32;
    let shards = nr_grps * size;
    let base = mix(oid.hi ^ mix(oid.lo));
    let mut used = std::collections::HashSet::new();
    let mut groups = Vec::with_capacity(nr_grps as usize);
    for g in 0..nr_grps {
        let mut grp: Vec<TargetId> = Vec::with_capacity(size as usize);
        for r in 0..size {
            let shard = (g * size + r) as u64;
            let key = mix(base ^ shard.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut pick = None;
            for attempt in 0u64..4096 {
                let k = mix(key ^ attempt);
                let engine = jump_hash(k, map.engines);
                let target = jump_hash(mix(k), map.targets_per_engine);
                let t = TargetId { engine, target };
                let engine_ok = grp.iter().all(|x| x.engine != engine) || size > map.engines;
                let target_ok = !used.contains(&t) || shards > map.targets();
                if engine_ok && target_ok && !grp.contains(&t) {
                    pick = Some(t);
                    break;
                }
            }
            // 4096 attempts cover every case a real pool meets; fall back to
            // a scan so placement is total.
            let t = match pick {
                Some(t) => t,
                None => (0..map.targets())
                    .map(|i| TargetId {
                        engine: i / map.targets_per_engine,
                        target: i % map.targets_per_engine,
                    })
                    .find(|t| !grp.contains(t) && !used.contains(t))
                    .ok_or(ObjError::BadClass(
                        "not enough targets for the layout".into(),
                    ))?,
            };
            used.insert(t);
            grp.push(t);
        }
        groups.push(grp);
    }
    Ok(Layout { class, groups })
}

/// The hash of a dkey: the value itself for integer dkeys (big-endian
/// `u64`), FNV-1a otherwise.
pub fn dkey_hash(dkey: &[u8], int_dkeys: bool) -> u64 {
    match (int_dkeys, <[u8; 8]>::try_from(dkey)) {
        (true, Ok(b)) => u64::from_be_bytes(b),
        _ => fnv1a64(dkey),
    }
}

impl Layout {
    /// The redundancy group of a dkey (`obj_dkey2grpidx`).
    pub fn dkey_group(&self, hash: u64) -> usize {
        jump_hash(hash, self.groups.len() as u32) as usize
    }

    /// The group's leader replica for a dkey: start at
    /// `(hash + group) % size` and take the first replica not in `failed`.
    pub fn leader(&self, hash: u64, group: usize, failed: &[TargetId]) -> Option<usize> {
        let size = self.groups[group].len();
        let start = (hash.wrapping_add(group as u64) % size as u64) as usize;
        (0..size)
            .map(|i| (start + i) % size)
            .find(|&r| !failed.contains(&self.groups[group][r]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oclass::{generate_oid, ObjType};

    #[test]
    fn jump_hash_is_consistent() {
        // Growing from 10 to 11 buckets moves about 1/11 of the keys, all
        // of them to the new bucket.
        let n = 20_000u64;
        let mut moved = 0;
        for k in 0..n {
            let key = mix(k);
            let (a, b) = (jump_hash(key, 10), jump_hash(key, 11));
            assert!(a < 10 && b < 11);
            if a != b {
                assert_eq!(b, 10);
                moved += 1;
            }
        }
        let frac = moved as f64 / n as f64;
        assert!((0.07..0.11).contains(&frac), "moved {frac}");
    }

    #[test]
    fn layouts_use_distinct_targets_and_engines() {
        let map = PoolMap::new(4, 2).unwrap();
        for i in 0..200u64 {
            let sx =
                obj_layout(&map, generate_oid(0, i, ObjType::ArrayByte, ObjClass::SX)).unwrap();
            let mut all: Vec<TargetId> = sx.groups.iter().flatten().copied().collect();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 8, "SX covers every target once");
            let rp = obj_layout(
                &map,
                generate_oid(0, i, ObjType::ArrayByte, ObjClass::RP_3G1),
            )
            .unwrap();
            let mut engines: Vec<u32> = rp.groups[0].iter().map(|t| t.engine).collect();
            engines.sort();
            engines.dedup();
            assert_eq!(engines.len(), 3, "replicas on distinct engines");
        }
        let bad = generate_oid(0, 1, ObjType::ArrayByte, ObjClass::RP_3G1);
        assert!(obj_layout(&PoolMap::new(1, 2).unwrap(), bad).is_err());
    }

    #[test]
    fn adding_an_engine_moves_few_s1_objects() {
        let (a, b) = (PoolMap::new(8, 4).unwrap(), PoolMap::new(9, 4).unwrap());
        let n = 2000;
        let moved = (0..n)
            .filter(|&i| {
                let oid = generate_oid(0, i, ObjType::ArrayByte, ObjClass::S1);
                obj_layout(&a, oid).unwrap() != obj_layout(&b, oid).unwrap()
            })
            .count();
        // Ideal is 1/9 (the new engine's share).
        assert!(moved < n as usize / 6, "{moved} of {n} moved");
    }

    #[test]
    fn dkeys_spread_over_groups_and_leaders_skip_failed() {
        let map = PoolMap::new(4, 4).unwrap();
        let l = obj_layout(&map, generate_oid(0, 9, ObjType::ArrayByte, ObjClass::SX)).unwrap();
        let mut hits = vec![0; l.groups.len()];
        for d in 1..=1600u64 {
            hits[l.dkey_group(dkey_hash(&d.to_be_bytes(), true))] += 1;
        }
        assert!(hits.iter().all(|&h| h > 50), "{hits:?}");
        let rp = obj_layout(
            &map,
            generate_oid(0, 9, ObjType::KvHashed, ObjClass::RP_2G1),
        )
        .unwrap();
        let h = dkey_hash(b"name", false);
        let lead = rp.leader(h, 0, &[]).unwrap();
        let other = rp.leader(h, 0, &[rp.groups[0][lead]]).unwrap();
        assert_ne!(lead, other);
        assert_eq!(rp.leader(h, 0, &rp.groups[0].clone()), None);
    }
}
