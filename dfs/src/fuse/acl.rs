//! POSIX ACLs (POSIX.1e draft 17, as Linux keeps them) on top of the
//! extended attributes.
//!
//! The mount asks the kernel for `FUSE_POSIX_ACL`: the kernel then reads
//! each inode's `system.posix_acl_access` (through `getxattr`), caches
//! it and checks every access against it (`default_permissions` is
//! implied), and hands `setfacl`'s ACLs to the daemon as those
//! attributes, in the kernel's binary form ([`Acl`]). What the daemon
//! keeps in step, as the kernel leaves it to the file system:
//!
//! * the mode and the access ACL: an ACL set changes the permission
//!   bits (owner from `user::`, group from `mask::` or, without one,
//!   `group::`, other from `other::`), and an ACL equivalent to a mode
//!   (only those three entries) is kept as the mode alone; a `chmod`
//!   changes those entries of an existing ACL;
//! * inheritance: an entry made in a directory with a default ACL
//!   (`system.posix_acl_default`, flagged on the directory's record so
//!   other creates cost nothing) gets it as its access ACL, masked by the
//!   mode asked for, and no umask; a new subdirectory also inherits the
//!   default ACL. Elsewhere the umask applies (the mount asks for
//!   `FUSE_DONT_MASK` so the kernel leaves that to the daemon).

/// The access ACL's attribute name.
pub(crate) const ACL_ACCESS: &str = "system.posix_acl_access";
/// The default ACL's attribute name (directories).
pub(crate) const ACL_DEFAULT: &str = "system.posix_acl_default";

/// `POSIX_ACL_XATTR_VERSION`.
const VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
/// The id of entries that name no user or group.
#[cfg(test)]
const NO_ID: u32 = u32::MAX;

/// One ACL entry: tag, permission bits (`rwx`), user or group id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    tag: u16,
    perm: u16,
    id: u32,
}

/// An ACL as the kernel passes it: a little-endian `u32` version (2),
/// then 8 bytes per entry (`u16` tag, `u16` permissions, `u32` id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Acl {
    entries: Vec<Entry>,
}

impl Acl {
    /// Decodes an ACL attribute; `None` if it is not one (bad version,
    /// length or tag, or one of the three required entries missing).
    pub(crate) fn decode(b: &[u8]) -> Option<Acl> {
        if b.len() < 4 || (b.len() - 4) % 8 != 0 {
            return None;
        }
        if u32::from_le_bytes([b[0], b[1], b[2], b[3]]) != VERSION {
            return None;
        }
        let entries: Vec<Entry> = b[4..]
            .chunks_exact(8)
            .map(|c| Entry {
                tag: u16::from_le_bytes([c[0], c[1]]),
                perm: u16::from_le_bytes([c[2], c[3]]),
                id: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        let known = [USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER];
        if entries
            .iter()
            .any(|e| !known.contains(&e.tag) || e.perm & !7 != 0)
        {
            return None;
        }
        let acl = Acl { entries };
        for t in [USER_OBJ, GROUP_OBJ, OTHER] {
            acl.find(t)?;
        }
        Some(acl)
    }

    /// The attribute's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + 8 * self.entries.len());
        v.extend_from_slice(&VERSION.to_le_bytes());
        for e in &self.entries {
            v.extend_from_slice(&e.tag.to_le_bytes());
            v.extend_from_slice(&e.perm.to_le_bytes());
            v.extend_from_slice(&e.id.to_le_bytes());
        }
        v
    }

    fn find(&self, tag: u16) -> Option<usize> {
        self.entries.iter().position(|e| e.tag == tag)
    }

    fn perm(&self, tag: u16) -> u32 {
        self.find(tag)
            .map_or(0, |i| u32::from(self.entries[i].perm))
    }

    /// The entry standing for the group class: the mask if there is one,
    /// else the owning group's.
    fn group_class(&self) -> u16 {
        if self.find(MASK).is_some() {
            MASK
        } else {
            GROUP_OBJ
        }
    }

    /// The permission bits (`0o777`) the ACL gives the mode, and whether
    /// the mode says all of it (no named users or groups, no mask).
    pub(crate) fn mode_bits(&self) -> (u32, bool) {
        let bits = self.perm(USER_OBJ) << 6 | self.perm(self.group_class()) << 3 | self.perm(OTHER);
        let equiv = self
            .entries
            .iter()
            .all(|e| matches!(e.tag, USER_OBJ | GROUP_OBJ | OTHER));
        (bits, equiv)
    }

    /// After a `chmod` to `mode`: the owner's, group class's and others'
    /// entries take its bits.
    pub(crate) fn chmod(&mut self, mode: u32) {
        let gc = self.group_class();
        for e in &mut self.entries {
            let shift = match e.tag {
                USER_OBJ => 6,
                OTHER => 0,
                t if t == gc => 3,
                _ => continue,
            };
            e.perm = ((mode >> shift) & 7) as u16;
        }
    }

    /// A new entry's access ACL from this default ACL and the mode asked
    /// for (`posix_acl_create`): each class limited by the mode's bits.
    /// The new permission bits, and the ACL unless the mode says all of
    /// it.
    pub(crate) fn inherit(&self, mode: u32) -> (u32, Option<Acl>) {
        let mut acl = self.clone();
        let gc = acl.group_class();
        for e in &mut acl.entries {
            let shift = match e.tag {
                USER_OBJ => 6,
                OTHER => 0,
                t if t == gc => 3,
                _ => continue,
            };
            e.perm &= ((mode >> shift) & 7) as u16;
        }
        let (bits, equiv) = acl.mode_bits();
        (bits, (!equiv).then_some(acl))
    }

    /// This ACL with one more entry (for tests).
    #[cfg(test)]
    fn with(mut self, tag: u16, perm: u16, id: u32) -> Acl {
        self.entries.push(Entry { tag, perm, id });
        self
    }

    /// The minimal ACL of mode bits `mode` (for tests).
    #[cfg(test)]
    fn of_mode(mode: u32) -> Acl {
        Acl {
            entries: vec![
                Entry {
                    tag: USER_OBJ,
                    perm: ((mode >> 6) & 7) as u16,
                    id: NO_ID,
                },
                Entry {
                    tag: GROUP_OBJ,
                    perm: ((mode >> 3) & 7) as u16,
                    id: NO_ID,
                },
                Entry {
                    tag: OTHER,
                    perm: (mode & 7) as u16,
                    id: NO_ID,
                },
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acls_round_trip_and_bad_ones_are_refused() {
        let a = Acl::of_mode(0o750).with(USER, 6, 1000).with(MASK, 7, NO_ID);
        let b = a.encode();
        assert_eq!(b.len(), 4 + 5 * 8);
        assert_eq!(Acl::decode(&b), Some(a.clone()));
        assert_eq!(Acl::decode(&b[..b.len() - 1]), None);
        let mut v1 = b.clone();
        v1[0] = 1;
        assert_eq!(Acl::decode(&v1), None);
        let mut bad_tag = b.clone();
        bad_tag[4] = 0x40;
        assert_eq!(Acl::decode(&bad_tag), None);
        // Without other::
        let no_other = Acl {
            entries: a.entries[..2].to_vec(),
        };
        assert_eq!(Acl::decode(&no_other.encode()), None);
    }

    #[test]
    fn the_mode_follows_the_mask_and_chmod_follows_the_mode() {
        let plain = Acl::of_mode(0o640);
        assert_eq!(plain.mode_bits(), (0o640, true));
        let mut a = Acl::of_mode(0o600).with(USER, 4, 1000).with(MASK, 4, NO_ID);
        assert_eq!(a.mode_bits(), (0o640, false));
        a.chmod(0o705);
        assert_eq!(a.mode_bits(), (0o705, false));
        // The owning group's entry is left alone when there is a mask.
        assert_eq!(a.perm(GROUP_OBJ), 0);
        assert_eq!(a.perm(USER), 4);
    }

    #[test]
    fn inheritance_masks_the_default_acl_with_the_mode() {
        let def = Acl::of_mode(0o750).with(USER, 7, 1000).with(MASK, 7, NO_ID);
        let (bits, acl) = def.inherit(0o666);
        assert_eq!(bits, 0o660);
        let acl = acl.expect("named entries stay");
        assert_eq!(acl.perm(USER), 7);
        assert_eq!(acl.perm(MASK), 6);
        // A default ACL that is only a mode: no access ACL, its bits.
        assert_eq!(Acl::of_mode(0o755).inherit(0o777), (0o755, None));
    }
}
