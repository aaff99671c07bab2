//! Ownership and POSIX's rules for changing it, applied by the dfs
//! thread with the ids of the process that sent each request.
//!
//! The mount asks the kernel for `default_permissions`: it checks every
//! access (read, write, search, create and remove in a directory, the
//! sticky bit) against the mode, uid and gid the daemon reports, and
//! refuses a `chown` / `chmod` that POSIX forbids before the daemon sees
//! it. The daemon keeps the same rules for what it stores (a request that
//! breaks them is refused with `EPERM` here too, so the namespace stays
//! right whatever the mount options):
//!
//! * `chown(2)` (POSIX.1-2017): "Changing the user ID is restricted to
//!   processes with appropriate privileges"; the owner may change the
//!   group to its effective gid or one of its supplementary groups;
//!   otherwise `EPERM`. "If the specified file is a regular file, one or
//!   more of the S_IXUSR, S_IXGRP, or S_IXOTH bits of the file mode are
//!   set, and the process does not have appropriate privileges, the
//!   set-user-ID (S_ISUID) and set-group-ID (S_ISGID) bits of the file
//!   mode shall be cleared". For root this is implementation-defined;
//!   here as Linux: set-user-ID cleared, set-group-ID cleared when
//!   group-execute is set.
//! * `chmod(2)`: only the owner or root (`EPERM`); a caller not in the
//!   file's group and not root cannot set `S_ISGID` on a regular file
//!   (cleared).
//! * A mode change from anyone else that only clears set-user-ID /
//!   set-group-ID is the kernel's own: after a write or truncate by a
//!   process without `CAP_FSETID`, Linux drops those bits through a
//!   forced `setattr` carrying the writer's ids (FUSE has no
//!   `handle_killpriv` here), so it is let through.
//! * New entries belong to the requester's uid and gid, except that in a
//!   set-group-ID directory they take the directory's gid and new
//!   subdirectories keep its set-group-ID bit (as Linux and BSD).

use crate::inode::{Owner, S_IFDIR, S_IFMT, S_IFREG, S_ISGID, S_ISUID};

/// Who sent a request: the ids FUSE passes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The process's fsuid (its effective uid).
    pub(crate) uid: u32,
    /// Its fsgid.
    pub(crate) gid: u32,
    /// Its thread id (for its supplementary groups), 0 if unknown.
    pub(crate) pid: u32,
}

impl Caller {
    /// The ids of request `req`.
    pub(crate) fn of(req: &fuser::Request) -> Caller {
        Caller {
            uid: req.uid(),
            gid: req.gid(),
            pid: req.pid(),
        }
    }

    /// True for root (appropriate privileges).
    pub(crate) fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// True if `gid` is the caller's gid or one of its supplementary
    /// groups (FUSE does not pass them: read from `/proc/PID/status`, as
    /// libfuse's `fuse_req_getgroups`; none if the process is gone).
    pub(crate) fn in_group(&self, gid: u32) -> bool {
        gid == self.gid || (self.pid != 0 && groups_of(self.pid).contains(&gid))
    }

    /// The owner of an entry this caller makes in a directory of mode
    /// `dir_mode` and group `dir_gid`.
    pub(crate) fn new_owner(&self, dir_mode: u32, dir_gid: u32) -> Owner {
        Owner {
            uid: self.uid,
            gid: if dir_mode & S_ISGID != 0 {
                dir_gid
            } else {
                self.gid
            },
        }
    }
}

/// The mode of a new entry of type `ty` with requested permission bits
/// `perm`, made by `caller` as `owner` in a directory of mode `dir_mode`:
/// a subdirectory of a set-group-ID directory keeps the bit; a regular
/// file cannot get set-group-ID from a caller outside its group.
pub(crate) fn new_mode(caller: &Caller, ty: u32, perm: u32, owner: Owner, dir_mode: u32) -> u32 {
    let mut m = perm;
    if ty == S_IFDIR && dir_mode & S_ISGID != 0 {
        m |= S_ISGID;
    }
    if ty == S_IFREG && m & S_ISGID != 0 && !caller.is_root() && !caller.in_group(owner.gid) {
        m &= !S_ISGID;
    }
    m
}

/// An entry's owner and mode as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attrs {
    /// Type and permission bits.
    pub(crate) mode: u32,
    /// Owner.
    pub(crate) uid: u32,
    /// Group.
    pub(crate) gid: u32,
}

/// What a `setattr` asks of the owner and mode (`None`: unchanged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OwnerChange {
    pub(crate) mode: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
}

/// Applies `want` to `cur` for `caller` under the rules above: the new
/// attributes, or the `errno` (`EPERM`) to refuse with. `in_group` tells
/// whether the caller is in a group (its gid or a supplementary one).
pub(crate) fn change_owner_mode(
    caller: &Caller,
    cur: Attrs,
    want: OwnerChange,
    in_group: impl Fn(u32) -> bool,
) -> Result<Attrs, i32> {
    let root = caller.is_root();
    let owner = caller.uid == cur.uid;
    let mut new = cur;
    if let Some(uid) = want.uid {
        // Only root gives a file away; the owner may "change" it to
        // itself.
        let allowed = root || (owner && uid == cur.uid);
        if !allowed {
            return Err(libc::EPERM);
        }
        new.uid = uid;
    }
    if let Some(gid) = want.gid {
        let allowed = root || (owner && (gid == cur.gid || in_group(gid)));
        if !allowed {
            return Err(libc::EPERM);
        }
        new.gid = gid;
    }
    if let Some(mode) = want.mode {
        let perm = mode & 0o7777;
        let old = cur.mode & 0o7777;
        let only_drops_setid = perm == old & !(S_ISUID | S_ISGID);
        if !root && !owner && !only_drops_setid {
            return Err(libc::EPERM);
        }
        let mut perm = perm;
        if cur.mode & S_IFMT == S_IFREG && perm & S_ISGID != 0 && !root && !in_group(new.gid) {
            perm &= !S_ISGID;
        }
        new.mode = (cur.mode & S_IFMT) | perm;
    }
    let chowned = (want.uid.is_some() || want.gid.is_some()) && new.mode & S_IFMT == S_IFREG;
    if chowned && new.mode & 0o111 != 0 {
        if root {
            new.mode &= !S_ISUID;
            if new.mode & 0o010 != 0 {
                new.mode &= !S_ISGID;
            }
        } else {
            new.mode &= !(S_ISUID | S_ISGID);
        }
    }
    Ok(new)
}

/// The supplementary groups of process (or thread) `pid`, from the
/// `Groups:` line of `/proc/PID/status`; empty if it cannot be read.
fn groups_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| {
                g.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: Caller = Caller {
        uid: 1000,
        gid: 1000,
        pid: 0,
    };
    const OTHER: Caller = Caller {
        uid: 2000,
        gid: 2000,
        pid: 0,
    };
    const ROOT: Caller = Caller {
        uid: 0,
        gid: 0,
        pid: 0,
    };

    fn file(perm: u32) -> Attrs {
        Attrs {
            mode: S_IFREG | perm,
            uid: 1000,
            gid: 1000,
        }
    }

    fn groups(g: u32) -> bool {
        g == 1000 || g == 1001
    }

    fn chown(uid: Option<u32>, gid: Option<u32>) -> OwnerChange {
        OwnerChange {
            uid,
            gid,
            mode: None,
        }
    }

    fn chmod(mode: u32) -> OwnerChange {
        OwnerChange {
            mode: Some(mode),
            ..OwnerChange::default()
        }
    }

    #[test]
    fn only_root_changes_the_owner() {
        let f = file(0o644);
        assert_eq!(
            change_owner_mode(&USER, f, chown(Some(2000), None), groups),
            Err(libc::EPERM)
        );
        assert_eq!(
            change_owner_mode(&OTHER, f, chown(Some(2000), None), groups),
            Err(libc::EPERM)
        );
        let r = change_owner_mode(&ROOT, f, chown(Some(2000), Some(3000)), groups).unwrap();
        assert_eq!((r.uid, r.gid), (2000, 3000));
        // To itself: allowed for the owner, a no-op.
        assert_eq!(
            change_owner_mode(&USER, f, chown(Some(1000), None), groups),
            Ok(f)
        );
    }

    #[test]
    fn the_owner_changes_the_group_to_its_groups_only() {
        let f = file(0o644);
        let r = change_owner_mode(&USER, f, chown(None, Some(1001)), groups).unwrap();
        assert_eq!(r.gid, 1001);
        assert_eq!(
            change_owner_mode(&USER, f, chown(None, Some(1002)), groups),
            Err(libc::EPERM)
        );
        assert_eq!(
            change_owner_mode(&OTHER, f, chown(None, Some(2000)), |_| true),
            Err(libc::EPERM)
        );
    }

    #[test]
    fn chmod_is_for_the_owner_or_root_but_anyone_may_drop_setid() {
        let f = file(0o6755);
        assert_eq!(
            change_owner_mode(&OTHER, f, chmod(0o777), groups),
            Err(libc::EPERM)
        );
        let r = change_owner_mode(&USER, f, chmod(0o700), groups).unwrap();
        assert_eq!(r.mode, S_IFREG | 0o700);
        let r = change_owner_mode(&ROOT, f, chmod(0o711), groups).unwrap();
        assert_eq!(r.mode, S_IFREG | 0o711);
        // The kernel's kill of set-id bits after a write by another user.
        let r = change_owner_mode(&OTHER, f, chmod(0o755), groups).unwrap();
        assert_eq!(r.mode, S_IFREG | 0o755);
        // Set-group-ID on a file of a group the caller is not in.
        let g = Attrs { gid: 5000, ..f };
        let r = change_owner_mode(&USER, g, chmod(0o2755), groups).unwrap();
        assert_eq!(r.mode, S_IFREG | 0o755);
    }

    #[test]
    fn chown_clears_setid_on_executables() {
        let f = file(0o6755);
        let r = change_owner_mode(&USER, f, chown(None, Some(1001)), groups).unwrap();
        assert_eq!(r.mode, S_IFREG | 0o755);
        let r = change_owner_mode(&ROOT, f, chown(Some(7), None), groups).unwrap();
        assert_eq!(r.mode, S_IFREG | 0o755);
        // Not executable: kept.
        let f = file(0o6644);
        let r = change_owner_mode(&USER, f, chown(None, Some(1001)), groups).unwrap();
        assert_eq!(r.mode, S_IFREG | 0o6644);
        // Directories keep theirs.
        let d = Attrs {
            mode: S_IFDIR | 0o2775,
            ..f
        };
        let r = change_owner_mode(&USER, d, chown(None, Some(1001)), groups).unwrap();
        assert_eq!(r.mode, S_IFDIR | 0o2775);
    }

    #[test]
    fn new_entries_follow_setgid_directories() {
        let o = USER.new_owner(S_IFDIR | 0o2775, 4000);
        assert_eq!(
            o,
            Owner {
                uid: 1000,
                gid: 4000
            }
        );
        assert_eq!(USER.new_owner(S_IFDIR | 0o775, 4000).gid, 1000);
        assert_eq!(new_mode(&USER, S_IFDIR, 0o755, o, S_IFDIR | 0o2775), 0o2755);
        assert_eq!(new_mode(&USER, S_IFREG, 0o2755, o, S_IFDIR | 0o2775), 0o755);
        assert_eq!(
            new_mode(&ROOT, S_IFREG, 0o2755, o, S_IFDIR | 0o2775),
            0o2755
        );
    }
}
