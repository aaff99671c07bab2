//! The dfs thread's handlers of requests that change or list a
//! directory's entries: `mknod` (files, FIFOs, devices, sockets),
//! `mkdir`, `unlink`, `rmdir`, `symlink`, `rename` (with
//! `RENAME_NOREPLACE` / `RENAME_EXCHANGE`), `link`, and the listing of
//! `opendir` / `readdir`.

use std::ffi::{OsStr, OsString};

use fuser::{
    Errno, FileAttr, FileHandle, FileType as FuseType, Generation, INodeNo, RenameFlags,
    ReplyCreate, ReplyDirectory,
};

use super::acl::{Acl, ACL_ACCESS, ACL_DEFAULT};
use super::attr::fuse_type;
use super::inodes::ROOT_INO;
use super::perm::{new_mode, Caller};
use super::work::{access_of, name_str, Fail, Worker, R};
use crate::errno::DfsError;
use crate::file::{Access, OpenFlags};
use crate::inode::{Owner, F_DEFACL, PERM_MASK, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::namespace::{DirCursor, Obj, RenameMode, XattrMode};

/// Entries fetched per `dfs_readdir` call when listing a directory.
const READDIR_BATCH: usize = 256;
/// An open directory: its listing as of `opendir` (or the last rewind).
pub(super) struct DirHandle {
    entries: Vec<(u64, FuseType, OsString)>,
}

impl Worker {
    pub(super) fn dfuse_cb_mknod(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        caller: &Caller,
    ) -> R<FileAttr> {
        let dir = self.obj(parent)?;
        let ty = mode & S_IFMT;
        let (bits, def) = self.create_mode(&dir, mode, umask)?;
        if ty != S_IFREG && ty != 0 {
            // FIFOs, devices and sockets: only an inode.
            let (owner, perm) = new_entry(&dir, caller, ty, bits);
            let o = self
                .dfs
                .mknod_as(&dir, name_str(name)?, ty | perm, u64::from(rdev), owner)?;
            let o = self.inherit_acls(o, mode, def)?;
            return self.entry(o);
        }
        let (owner, perm) = new_entry(&dir, caller, S_IFREG, bits);
        let flags = OpenFlags::write_only().excl().create(perm);
        let f = self.dfs.open_as(&dir, name_str(name)?, flags, owner)?;
        let o = f.obj().clone();
        f.close()?;
        self.live.sizes.borrow_mut().insert(o.oid(), 0);
        let o = self.inherit_acls(o, mode, def)?;
        self.entry(o)
    }

    /// The permission bits of an entry asked for with `mode` (and the
    /// caller's `umask`) in `dir`, and the default ACL it inherits: with
    /// one, the ACL limits the mode and the umask does not apply
    /// (`super::acl`).
    pub(super) fn create_mode(&self, dir: &Obj, mode: u32, umask: u32) -> R<(u32, Option<Acl>)> {
        let masked = mode & !umask & PERM_MASK;
        if dir.inode().flags & F_DEFACL == 0 {
            return Ok((masked, None));
        }
        match self.dfs.getxattr(dir, ACL_DEFAULT) {
            Ok(v) => match Acl::decode(&v) {
                Some(def) => {
                    let (bits, _) = def.inherit(mode & 0o777);
                    Ok(((mode & 0o7000) | bits, Some(def)))
                }
                None => Ok((masked, None)),
            },
            Err(DfsError::NoAttr(_)) => Ok((masked, None)),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives new entry `o` (asked for with `mode`) the ACLs it inherits
    /// from default ACL `def`: its access ACL unless the mode says it
    /// all, and for a directory the default ACL itself.
    pub(super) fn inherit_acls(&mut self, o: Obj, mode: u32, def: Option<Acl>) -> R<Obj> {
        let Some(def) = def else { return Ok(o) };
        let mut o = o;
        if let (_, Some(access)) = def.inherit(mode & 0o777) {
            o = self
                .dfs
                .setxattr(&o, ACL_ACCESS, &access.encode(), XattrMode::Any)?;
        }
        if o.is_dir() {
            o = self
                .dfs
                .setxattr(&o, ACL_DEFAULT, &def.encode(), XattrMode::Any)?;
        }
        Ok(o)
    }

    /// `O_CREAT` open of `name` in `parent` with permission bits `mode`
    /// and the caller's umask (or the directory's default ACL).
    pub(super) fn dfuse_cb_create(
        &mut self,
        parent: u64,
        name: &OsStr,
        (mode, umask): (u32, u32),
        flags: i32,
        caller: &Caller,
        reply: ReplyCreate,
    ) {
        let r = (|| -> R<(FileAttr, u64)> {
            let dir = self.obj(parent)?;
            let (bits, def) = self.create_mode(&dir, mode, umask)?;
            // Inherited ACLs go to a file this call makes, not to one
            // that was there.
            let def = match def {
                Some(d) => match self.dfs.lookup_rel(&dir, name_str(name)?) {
                    Err(DfsError::NotFound(_)) => Some(d),
                    Ok(_) => None,
                    Err(e) => return Err(e.into()),
                },
                None => None,
            };
            let (owner, perm) = new_entry(&dir, caller, S_IFREG, bits);
            let access = access_of(flags);
            let oflags = OpenFlags {
                access,
                create: true,
                excl: flags & libc::O_EXCL != 0,
                trunc: flags & libc::O_TRUNC != 0 && access != Access::ReadOnly,
                mode: perm,
            };
            let file = self.dfs.open_as(&dir, name_str(name)?, oflags, owner)?;
            let o = file.obj().clone();
            if oflags.trunc {
                self.live.sizes.borrow_mut().insert(o.oid(), 0);
            }
            let o = self.inherit_acls(o, mode, def)?;
            let attr = self.entry(o)?;
            Ok((attr, self.add_file(file)))
        })();
        match r {
            Ok((attr, fh)) => reply.created(
                &self.cfg.ttl,
                &attr,
                Generation(0),
                FileHandle(fh),
                self.fopen_flags(),
            ),
            Err(e) => reply.error(e.errno()),
        }
    }

    pub(super) fn dfuse_cb_mkdir(
        &mut self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        caller: &Caller,
    ) -> R<FileAttr> {
        let dir = self.obj(parent)?;
        let (bits, def) = self.create_mode(&dir, mode, umask)?;
        let (owner, perm) = new_entry(&dir, caller, S_IFDIR, bits);
        let o = self.dfs.mkdir_as(&dir, name_str(name)?, perm, owner)?;
        let o = self.inherit_acls(o, mode, def)?;
        self.entry(o)
    }

    pub(super) fn dfuse_cb_unlink(&mut self, parent: u64, name: &OsStr) -> R<()> {
        let dir = self.obj(parent)?;
        Ok(self.dfs.unlink(&dir, name_str(name)?)?)
    }

    pub(super) fn dfuse_cb_rmdir(&mut self, parent: u64, name: &OsStr) -> R<()> {
        let dir = self.obj(parent)?;
        Ok(self.dfs.rmdir(&dir, name_str(name)?)?)
    }

    pub(super) fn dfuse_cb_symlink(
        &mut self,
        parent: u64,
        name: &OsStr,
        target: &OsStr,
        caller: &Caller,
    ) -> R<FileAttr> {
        let dir = self.obj(parent)?;
        let (owner, _) = new_entry(&dir, caller, S_IFLNK, 0o777);
        let o = self
            .dfs
            .symlink_as(&dir, name_str(name)?, name_str(target)?, owner)?;
        self.entry(o)
    }

    pub(super) fn dfuse_cb_rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> R<()> {
        let mode = if flags.is_empty() {
            RenameMode::Replace
        } else if flags == RenameFlags::RENAME_NOREPLACE {
            RenameMode::NoReplace
        } else if flags == RenameFlags::RENAME_EXCHANGE {
            RenameMode::Exchange
        } else {
            // Whiteouts (overlayfs's) are not kept; the two together
            // are contradictory (EINVAL, as renameat2(2)).
            return Err(Fail(libc::EINVAL));
        };
        let src = self.obj(parent)?;
        let dst = self.obj(newparent)?;
        let (name, newname) = (name_str(name)?, name_str(newname)?);
        self.dfs.rename2(&src, name, &dst, newname, mode)?;
        // The moved entries' handles name them by parent and name:
        // refresh those the kernel holds.
        let mut moved = vec![self.dfs.lookup_rel(&dst, newname)?];
        if mode == RenameMode::Exchange {
            moved.push(self.dfs.lookup_rel(&src, name)?);
        }
        for m in moved {
            if let Some(ino) = self.inodes.ino_of(m.oid()) {
                self.inodes.refresh(ino, m);
            }
        }
        Ok(())
    }

    /// `link(2)`: entry `newname` of `newparent` for inode `ino`.
    pub(super) fn dfuse_cb_link(
        &mut self,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
    ) -> R<FileAttr> {
        let o = self.obj(ino)?;
        let dir = self.obj(newparent)?;
        let l = self.dfs.link(&o, &dir, name_str(newname)?)?;
        // The kernel's handle now names the inode's record in its object.
        self.inodes.refresh(ino, l.clone());
        self.entry(l)
    }

    pub(super) fn dfuse_cb_opendir(&mut self, ino: u64) -> R<u64> {
        let entries = self.list(ino)?;
        let fh = self.new_fh();
        self.dirs.insert(fh, DirHandle { entries });
        Ok(fh)
    }

    /// The listing of directory `ino`: `.`, `..`, then its entries.
    fn list(&self, ino: u64) -> R<Vec<(u64, FuseType, OsString)>> {
        let dir = self.obj(ino)?;
        if !dir.is_dir() {
            return Err(Fail(libc::ENOTDIR));
        }
        let up = if ino == ROOT_INO {
            ROOT_INO
        } else {
            self.inodes.ino_of(dir.parent()).unwrap_or(dir.parent().lo)
        };
        let mut v = vec![
            (ino, FuseType::Directory, OsString::from(".")),
            (up, FuseType::Directory, OsString::from("..")),
        ];
        let mut cursor = DirCursor::start();
        loop {
            let (es, next) = self.dfs.readdir(&dir, &cursor, READDIR_BATCH)?;
            v.extend(
                es.into_iter()
                    .map(|e| (e.ino, fuse_type(e.kind), OsString::from(e.name))),
            );
            match next {
                Some(c) => cursor = c,
                None => return Ok(v),
            }
        }
    }

    pub(super) fn dfuse_cb_readdir(
        &mut self,
        ino: u64,
        fh: u64,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if offset == 0 {
            // A rewind: list again.
            match self.list(ino) {
                Ok(entries) => {
                    self.dirs.insert(fh, DirHandle { entries });
                }
                Err(e) => return reply.error(e.errno()),
            }
        }
        let Some(d) = self.dirs.get(&fh) else {
            return reply.error(Errno::EBADF);
        };
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, (ino, kind, name)) in d.entries.iter().enumerate().skip(skip) {
            if reply.add(INodeNo(*ino), i as u64 + 1, *kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

/// The owner and permission bits of an entry of type `ty` that `caller`
/// makes in `dir` with permission bits `perm` (see [`super::perm`]).
pub(super) fn new_entry(dir: &Obj, caller: &Caller, ty: u32, perm: u32) -> (Owner, u32) {
    let d = dir.inode();
    let owner = caller.new_owner(d.mode, d.gid);
    (owner, new_mode(caller, ty, perm, owner, d.mode))
}
