//! Object ids and object classes.
//!
//! As in DAOS, the upper 32 bits of an object id's `hi` word belong to the
//! system: object type (8 bits, bits 56..64), redundancy (8 bits, 48..56)
//! and number of redundancy groups (16 bits, 32..48; `0xffff` means "as
//! many as the pool allows", the `X` of `SX`). The remaining 96 bits are
//! the caller's.

use vos::ObjId;

use crate::error::ObjError;

const TYPE_SHIFT: u32 = 56;
const REDUN_SHIFT: u32 = 48;
const GRP_SHIFT: u32 = 32;
/// `nr_grps` value meaning "one group per fault domain slot" (`X`).
pub const GRP_MAX: u16 = 0xffff;

/// What an object holds (decides how its dkeys hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ObjType {
    /// A key-value object with hashed string dkeys (directories).
    KvHashed = 1,
    /// A byte array: integer dkeys (chunk numbers), akey "0", cell size 1
    /// (files).
    ArrayByte = 2,
    /// An array with a cell size and chunk size recorded in dkey 0.
    Array = 3,
}

impl ObjType {
    fn from_u8(v: u8) -> Option<ObjType> {
        match v {
            1 => Some(ObjType::KvHashed),
            2 => Some(ObjType::ArrayByte),
            3 => Some(ObjType::Array),
            _ => None,
        }
    }

    /// True if dkeys are big-endian `u64` integers (array types): their
    /// hash is the value itself, as DAOS does for integer dkeys.
    pub fn int_dkeys(self) -> bool {
        matches!(self, ObjType::ArrayByte | ObjType::Array)
    }
}

/// An object class: how many replicas per redundancy group, how many
/// groups. Names and meanings are DAOS's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjClass {
    /// Replicas per group (1 = no redundancy).
    pub grp_size: u8,
    /// Groups (`GRP_MAX`: as many as fit the pool).
    pub nr_grps: u16,
}

impl ObjClass {
    /// One shard, no redundancy.
    pub const S1: ObjClass = ObjClass {
        grp_size: 1,
        nr_grps: 1,
    };
    /// Two shards (dkeys spread over them), no redundancy.
    pub const S2: ObjClass = ObjClass {
        grp_size: 1,
        nr_grps: 2,
    };
    /// One shard per target of the pool, no redundancy.
    pub const SX: ObjClass = ObjClass {
        grp_size: 1,
        nr_grps: GRP_MAX,
    };
    /// One group of two replicas.
    pub const RP_2G1: ObjClass = ObjClass {
        grp_size: 2,
        nr_grps: 1,
    };
    /// One group of three replicas.
    pub const RP_3G1: ObjClass = ObjClass {
        grp_size: 3,
        nr_grps: 1,
    };
    /// Groups of two replicas over the whole pool.
    pub const RP_2GX: ObjClass = ObjClass {
        grp_size: 2,
        nr_grps: GRP_MAX,
    };

    /// The classes rdaos knows by name.
    pub const NAMED: [(&'static str, ObjClass); 6] = [
        ("S1", ObjClass::S1),
        ("S2", ObjClass::S2),
        ("SX", ObjClass::SX),
        ("RP_2G1", ObjClass::RP_2G1),
        ("RP_3G1", ObjClass::RP_3G1),
        ("RP_2GX", ObjClass::RP_2GX),
    ];

    /// A class by its DAOS name (case-insensitive), e.g. `"RP_2G1"`.
    pub fn parse(name: &str) -> Result<ObjClass, ObjError> {
        ObjClass::NAMED
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, c)| *c)
            .ok_or_else(|| ObjError::BadClass(format!("unknown object class {name:?}")))
    }

    /// The class's DAOS name, if it has one.
    pub fn name(&self) -> Option<&'static str> {
        ObjClass::NAMED
            .iter()
            .find(|(_, c)| c == self)
            .map(|(n, _)| *n)
    }

    /// Groups this class has in a pool of `targets` targets.
    pub fn groups(&self, targets: u32) -> Result<u32, ObjError> {
        let size = self.grp_size as u32;
        if size == 0 || size > targets {
            return Err(ObjError::BadClass(format!(
                "{} needs {size} targets per group, the pool has {targets}",
                self.name().unwrap_or("class")
            )));
        }
        Ok(if self.nr_grps == GRP_MAX {
            targets / size
        } else {
            let n = self.nr_grps as u32;
            if n * size > targets {
                return Err(ObjError::BadClass(format!(
                    "{} needs {} targets, the pool has {targets}",
                    self.name().unwrap_or("class"),
                    n * size
                )));
            }
            n
        })
    }
}

impl std::fmt::Display for ObjClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "RP_{}G{}", self.grp_size, self.nr_grps),
        }
    }
}

/// Builds an object id from the caller's 96 bits, a type and a class
/// (`daos_obj_generate_oid`).
pub fn generate_oid(hi32: u32, lo: u64, otype: ObjType, class: ObjClass) -> ObjId {
    let hi = ((otype as u64) << TYPE_SHIFT)
        | ((class.grp_size as u64) << REDUN_SHIFT)
        | ((class.nr_grps as u64) << GRP_SHIFT)
        | hi32 as u64;
    ObjId::new(hi, lo)
}

/// The type and class encoded in `oid`; an error for ids that carry none
/// (not made by [`generate_oid`]).
pub fn oid_class(oid: ObjId) -> Result<(ObjType, ObjClass), ObjError> {
    let t = (oid.hi >> TYPE_SHIFT) as u8;
    let otype = ObjType::from_u8(t)
        .ok_or_else(|| ObjError::BadClass(format!("object id has unknown type {t}")))?;
    let grp_size = (oid.hi >> REDUN_SHIFT) as u8;
    let nr_grps = (oid.hi >> GRP_SHIFT) as u16;
    if grp_size == 0 || nr_grps == 0 {
        return Err(ObjError::BadClass(
            "object id carries no object class".into(),
        ));
    }
    Ok((otype, ObjClass { grp_size, nr_grps }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_round_trips_through_the_oid() {
        for (name, c) in ObjClass::NAMED {
            let oid = generate_oid(0xabcd, 77, ObjType::ArrayByte, c);
            assert_eq!(oid.lo, 77);
            assert_eq!(oid.hi & 0xffff_ffff, 0xabcd);
            assert_eq!(oid_class(oid).unwrap(), (ObjType::ArrayByte, c));
            assert_eq!(ObjClass::parse(&name.to_lowercase()).unwrap(), c);
            assert_eq!(c.to_string(), name);
        }
        assert!(ObjClass::parse("EC_2P1").is_err());
        assert!(oid_class(ObjId::new(5, 5)).is_err());
    }

    #[test]
    fn groups_follow_the_pool_size() {
        assert_eq!(ObjClass::SX.groups(8).unwrap(), 8);
        assert_eq!(ObjClass::RP_2GX.groups(8).unwrap(), 4);
        assert_eq!(ObjClass::RP_3G1.groups(3).unwrap(), 1);
        assert!(ObjClass::RP_3G1.groups(2).is_err());
        assert!(ObjClass::S2.groups(1).is_err());
    }
}
