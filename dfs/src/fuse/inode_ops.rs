//! The dfs thread's handlers of requests about one inode's attributes:
//! `getattr`, `setattr` (with POSIX's ownership rules, `super::perm`),
//! `readlink`, and the extended attributes (`setxattr`, `getxattr`,
//! `listxattr`, `removexattr`).

use std::ffi::OsStr;

use fuser::{Errno, FileAttr, ReplyData, ReplyXattr, TimeOrNow};

use super::acl::{Acl, ACL_ACCESS};
use super::attr::{attr_of_stat, ns_of};
use super::inbox::SetAttr;
use super::perm::{change_owner_mode, Attrs, Caller, OwnerChange};
use super::work::{Fail, Worker, R};
use crate::errno::DfsError;
use crate::file::{Access, File};
use crate::inode::{now_ns, FileType, PERM_MASK};
use crate::namespace::{Obj, XattrMode};

/// `setxattr(2)`'s `XATTR_CREATE`.
const XATTR_CREATE: i32 = 1;
/// `setxattr(2)`'s `XATTR_REPLACE`.
const XATTR_REPLACE: i32 = 2;

/// An attribute name as the namespace takes it (`EINVAL` if not UTF-8:
/// none such can have been set here).
fn xattr_name(name: &OsStr) -> R<&str> {
    name.to_str().ok_or(Fail(libc::ENODATA))
}

/// Answers a `getxattr` / `listxattr` whose value is `v`: its size when
/// asked with a size of 0, `ERANGE` when it does not fit `size`.
fn reply_sized(reply: ReplyXattr, size: u32, v: &[u8]) {
    match u32::try_from(v.len()) {
        Err(_) => reply.error(Errno::E2BIG),
        Ok(n) if size == 0 => reply.size(n),
        Ok(n) if n > size => reply.error(Errno::ERANGE),
        Ok(_) => reply.data(v),
    }
}

impl Worker {
    pub(super) fn dfuse_cb_getattr(&mut self, ino: u64) -> R<FileAttr> {
        let o = self.obj(ino)?;
        let st = self.dfs.stat(&o)?;
        Ok(attr_of_stat(ino, &st))
    }

    pub(super) fn dfuse_cb_setattr(
        &mut self,
        ino: u64,
        fh: Option<u64>,
        set: SetAttr,
        caller: &Caller,
    ) -> R<FileAttr> {
        let mut o = self.obj(ino)?;
        // Owner and mode: checked against the record as stored now (the
        // kernel's copy may be older), before anything changes.
        let owner_change = if set.mode.is_some() || set.uid.is_some() || set.gid.is_some() {
            let st = self.dfs.stat(&o)?;
            let cur = Attrs {
                mode: st.mode,
                uid: st.uid,
                gid: st.gid,
            };
            let want = OwnerChange {
                mode: set.mode,
                uid: set.uid,
                gid: set.gid,
            };
            let new = change_owner_mode(caller, cur, want, |g| caller.in_group(g)).map_err(Fail)?;
            Some((cur, new))
        } else {
            None
        };
        if let Some(size) = set.size {
            match o.kind() {
                FileType::File => {}
                FileType::Dir => return Err(Fail(libc::EISDIR)),
                _ => return Err(Fail(libc::EINVAL)),
            }
            let open = fh.and_then(|fh| self.live.files.borrow().get(&fh).map(|f| f.file.clone()));
            match open {
                Some(f) if f.obj().oid() == o.oid() => f.truncate(size)?,
                _ => {
                    let f = File::new(&self.dfs, o.clone(), Access::WriteOnly)?;
                    let r = f.truncate(size);
                    f.close()?;
                    r?;
                }
            }
            self.live.sizes.borrow_mut().insert(o.oid(), size);
        }
        if let Some((cur, new)) = owner_change {
            if (new.uid, new.gid) != (cur.uid, cur.gid) {
                let uid = (new.uid != cur.uid).then_some(new.uid);
                let gid = (new.gid != cur.gid).then_some(new.gid);
                o = self.dfs.chown(&o, uid, gid)?;
            }
            if new.mode != cur.mode || set.mode.is_some() {
                o = self.dfs.chmod(&o, new.mode & PERM_MASK)?;
                o = self.acl_chmod(o, new.mode)?;
            }
        }
        if set.atime.is_some() || set.mtime.is_some() {
            let t = |x: Option<TimeOrNow>| {
                x.map(|x| match x {
                    TimeOrNow::Now => now_ns(),
                    TimeOrNow::SpecificTime(t) => ns_of(t),
                })
            };
            o = self.dfs.utimens(&o, t(set.atime), t(set.mtime))?;
        }
        self.inodes.refresh(ino, o.clone());
        let st = self.dfs.stat(&o)?;
        Ok(attr_of_stat(ino, &st))
    }

    pub(super) fn dfuse_cb_readlink(&mut self, ino: u64, reply: ReplyData) {
        match self
            .obj(ino)
            .and_then(|o| self.dfs.readlink(&o).map_err(Fail::from))
        {
            Ok(t) => reply.data(t.as_bytes()),
            Err(e) => reply.error(e.errno()),
        }
    }

    pub(super) fn dfuse_cb_setxattr(
        &mut self,
        ino: u64,
        name: &OsStr,
        value: &[u8],
        flags: i32,
    ) -> R<()> {
        let mode = match flags {
            0 => XattrMode::Any,
            XATTR_CREATE => XattrMode::Create,
            XATTR_REPLACE => XattrMode::Replace,
            _ => return Err(Fail(libc::EINVAL)),
        };
        let o = self.obj(ino)?;
        let name = name.to_str().ok_or(Fail(libc::EINVAL))?;
        let o = if name == ACL_ACCESS {
            // The mode follows the ACL; an ACL the mode says all of is
            // kept as the mode alone.
            let acl = Acl::decode(value).ok_or(Fail(libc::EINVAL))?;
            let (bits, equiv) = acl.mode_bits();
            let cur = self.dfs.stat(&o)?.mode;
            let o = self.dfs.chmod(&o, (cur & 0o7000) | bits)?;
            if equiv {
                match self.dfs.removexattr(&o, ACL_ACCESS) {
                    Ok(o) => o,
                    Err(DfsError::NoAttr(_)) => o,
                    Err(e) => return Err(e.into()),
                }
            } else {
                self.dfs.setxattr(&o, name, value, mode)?
            }
        } else {
            self.dfs.setxattr(&o, name, value, mode)?
        };
        self.inodes.refresh(ino, o);
        Ok(())
    }

    /// After a `chmod` of `o` to `mode`: its access ACL, if any, follows.
    fn acl_chmod(&mut self, o: Obj, mode: u32) -> R<Obj> {
        match self.dfs.getxattr(&o, ACL_ACCESS) {
            Ok(v) => match Acl::decode(&v) {
                Some(mut acl) => {
                    acl.chmod(mode);
                    Ok(self
                        .dfs
                        .setxattr(&o, ACL_ACCESS, &acl.encode(), XattrMode::Any)?)
                }
                None => Ok(o),
            },
            Err(DfsError::NoAttr(_)) => Ok(o),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn dfuse_cb_getxattr(
        &mut self,
        ino: u64,
        name: &OsStr,
        size: u32,
        reply: ReplyXattr,
    ) {
        let r = self
            .obj(ino)
            .and_then(|o| Ok(self.dfs.getxattr(&o, xattr_name(name)?)?));
        match r {
            Ok(v) => reply_sized(reply, size, &v),
            Err(e) => reply.error(e.errno()),
        }
    }

    pub(super) fn dfuse_cb_listxattr(&mut self, ino: u64, size: u32, reply: ReplyXattr) {
        let r = self.obj(ino).and_then(|o| Ok(self.dfs.listxattr(&o)?));
        match r {
            Ok(names) => {
                let mut v = Vec::new();
                for n in names {
                    v.extend_from_slice(n.as_bytes());
                    v.push(0);
                }
                reply_sized(reply, size, &v)
            }
            Err(e) => reply.error(e.errno()),
        }
    }

    pub(super) fn dfuse_cb_removexattr(&mut self, ino: u64, name: &OsStr) -> R<()> {
        let o = self.obj(ino)?;
        let o = self.dfs.removexattr(&o, xattr_name(name)?)?;
        self.inodes.refresh(ino, o);
        Ok(())
    }
}
