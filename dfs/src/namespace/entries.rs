//! Making and removing entries: `mkdir`, `open` / `create`, `symlink`,
//! `mknod`, `unlink`, `rmdir`, and what happens to an inode when its last
//! link goes (see the module doc of [`crate::namespace`]).

use obj::oclass::{ObjClass, ObjType};
use obj::vos::ObjId;

use super::attrs::Home;
use super::{check_mode, new_inode, Dfs, Obj};
use crate::dirent;
use crate::errno::DfsError;
use crate::file::{File, OpenFlags};
use crate::inode::{check_name, FileType, Owner, INODE_DKEY, PATH_MAX, S_IFDIR, S_IFLNK, S_IFREG};

impl Dfs {
    /// `dfs_mkdir`: makes directory `name` in `dir` with permission bits
    /// `mode` (type bits: none or `S_IFDIR`). `EEXIST` if the name is
    /// taken.
    pub fn mkdir(&self, dir: &Obj, name: &str, mode: u32) -> Result<Obj, DfsError> {
        self.block(self.mkdir_async(dir, name, mode))
    }

    /// [`mkdir`](Self::mkdir) as a future (on the client's
    /// scheduler).
    pub async fn mkdir_async(&self, dir: &Obj, name: &str, mode: u32) -> Result<Obj, DfsError> {
        self.mkdir_as_async(dir, name, mode, Owner::process()).await
    }

    /// [`mkdir`](Self::mkdir) with the new directory owned by `owner`
    /// (dfuse: the requesting process's uid and gid) instead of this
    /// process's.
    pub fn mkdir_as(
        &self,
        dir: &Obj,
        name: &str,
        mode: u32,
        owner: Owner,
    ) -> Result<Obj, DfsError> {
        self.block(self.mkdir_as_async(dir, name, mode, owner))
    }

    /// [`mkdir_as`](Self::mkdir_as) as a future (on the client's
    /// scheduler).
    pub async fn mkdir_as_async(
        &self,
        dir: &Obj,
        name: &str,
        mode: u32,
        owner: Owner,
    ) -> Result<Obj, DfsError> {
        check_name(name)?;
        let mode = check_mode(mode, S_IFDIR)?;
        let dh = self.dir_oh(dir)?;
        let (existing, prec) = futures::join!(
            dirent::fetch_async(&dh, name.as_bytes()),
            self.dir_record_async(dir)
        );
        if existing?.is_some() {
            return Err(DfsError::Exists(name.to_string()));
        }
        let class = self.inner.attr.dir_oclass;
        let oid = self
            .inner
            .oids
            .alloc_async(ObjType::KvHashed, class)
            .await?;
        // The object first, then the entry: a crash leaves an orphan
        // object, never an entry without its object.
        dirent::set_parent_async(&self.oh(oid)?, dir.oid()).await?;
        let rec = new_inode(mode, owner, oid, class, 0);
        self.with_dir_change_async(dir, prec?, 1, dirent::put_async(&dh, name.as_bytes(), &rec))
            .await?;
        Ok(Obj {
            parent: dir.oid(),
            name: name.as_bytes().to_vec(),
            inode: rec,
        })
    }

    /// `dfs_open`: opens the regular file `name` of `dir` as `flags` say,
    /// creating it (class and chunk size: the container's defaults) with
    /// `flags.mode` when `flags.create` is set and it does not exist.
    /// `EEXIST` with `excl` when it exists, `ENOENT` without `create` when
    /// it does not, `EISDIR` for a directory, `ELOOP` for a symlink (open
    /// does not follow it, as `O_NOFOLLOW`: resolve it with
    /// [`lookup`](Self::lookup) first), `EINVAL` for bad flags or mode.
    pub fn open(&self, dir: &Obj, name: &str, flags: OpenFlags) -> Result<File, DfsError> {
        self.block(self.open_async(dir, name, flags))
    }

    /// [`open`](Self::open) as a future (on the client's
    /// scheduler).
    pub async fn open_async(
        &self,
        dir: &Obj,
        name: &str,
        flags: OpenFlags,
    ) -> Result<File, DfsError> {
        self.open_as_async(dir, name, flags, Owner::process()).await
    }

    /// [`open`](Self::open) with a file it creates owned by `owner`
    /// (dfuse: the requesting process's uid and gid) instead of this
    /// process's; an existing file keeps its owner.
    pub fn open_as(
        &self,
        dir: &Obj,
        name: &str,
        flags: OpenFlags,
        owner: Owner,
    ) -> Result<File, DfsError> {
        self.block(self.open_as_async(dir, name, flags, owner))
    }

    /// [`open_as`](Self::open_as) as a future (on the client's
    /// scheduler).
    pub async fn open_as_async(
        &self,
        dir: &Obj,
        name: &str,
        flags: OpenFlags,
        owner: Owner,
    ) -> Result<File, DfsError> {
        check_name(name)?;
        flags.check()?;
        let dh = self.dir_oh(dir)?;
        // A create may change the directory: its record is read at once.
        let (existing, prec) = if flags.create {
            let (e, p) = futures::join!(
                self.child_async(dir, &dh, name.as_bytes()),
                self.dir_record_async(dir)
            );
            (e?, Some(p))
        } else {
            (self.child_async(dir, &dh, name.as_bytes()).await?, None)
        };
        let (obj, created) = match existing {
            None if !flags.create => return Err(DfsError::NotFound(name.to_string())),
            None => {
                let mode = check_mode(flags.mode, S_IFREG)?;
                let a = self.inner.attr;
                let oid = self
                    .inner
                    .oids
                    .alloc_async(ObjType::ArrayByte, a.oclass)
                    .await?;
                let rec = new_inode(mode, owner, oid, a.oclass, a.chunk_size);
                let prec = match prec {
                    Some(p) => p?,
                    None => self.dir_record_async(dir).await?,
                };
                let put = dirent::put_async(&dh, name.as_bytes(), &rec);
                self.with_dir_change_async(dir, prec, 0, put).await?;
                let o = Obj {
                    parent: dir.oid(),
                    name: name.as_bytes().to_vec(),
                    inode: rec,
                };
                (o, true)
            }
            Some(_) if flags.create && flags.excl => {
                return Err(DfsError::Exists(name.to_string()))
            }
            Some(o) => match o.kind() {
                FileType::Dir => return Err(DfsError::IsDir(name.to_string())),
                FileType::Symlink => return Err(DfsError::Loop(name.to_string())),
                FileType::File => (o, false),
                // No data of their own: the kernel opens them itself.
                _ => return Err(DfsError::inval(format!("{name:?} is not a regular file"))),
            },
        };
        let f = File::new(self, obj, flags.access)?;
        if flags.trunc && !created {
            f.truncate_async(0).await?;
        }
        Ok(f)
    }

    /// `dfs_open` with `O_CREAT`: [`open`](Self::open) with
    /// `flags.create` set and `flags.mode = mode`.
    pub fn create(
        &self,
        dir: &Obj,
        name: &str,
        mode: u32,
        flags: OpenFlags,
    ) -> Result<File, DfsError> {
        self.block(self.create_async(dir, name, mode, flags))
    }

    /// [`create`](Self::create) as a future (on the client's scheduler).
    pub async fn create_async(
        &self,
        dir: &Obj,
        name: &str,
        mode: u32,
        flags: OpenFlags,
    ) -> Result<File, DfsError> {
        self.open_async(
            dir,
            name,
            OpenFlags {
                create: true,
                mode,
                ..flags
            },
        )
        .await
    }

    /// Gets rid of a file's object whose entry is gone: now, or when the
    /// last handle of this mount on it closes.
    async fn release_file_async(&self, oid: ObjId) -> Result<(), DfsError> {
        {
            let mut open = self.inner.open.borrow_mut();
            if let Some(s) = open.get_mut(&oid) {
                s.unlinked = true;
                return Ok(());
            }
        }
        dirent::punch_obj_async(&self.oh(oid)?).await
    }

    /// A file handle of this mount opened on `oid`.
    pub(crate) fn opened(&self, oid: ObjId) {
        self.inner.open.borrow_mut().entry(oid).or_default().count += 1;
    }

    /// A file handle of this mount on `oid` closed: punches the object if
    /// it was the last and the file was unlinked.
    pub(crate) fn closed(&self, oid: ObjId) -> Result<(), DfsError> {
        self.block(self.closed_async(oid))
    }

    /// [`closed`](Self::closed) as a future.
    pub(crate) async fn closed_async(&self, oid: ObjId) -> Result<(), DfsError> {
        let punch = {
            let mut open = self.inner.open.borrow_mut();
            match open.get_mut(&oid) {
                Some(s) if s.count > 1 => {
                    s.count -= 1;
                    false
                }
                Some(_) => open.remove(&oid).is_some_and(|s| s.unlinked),
                None => false,
            }
        };
        if punch {
            dirent::punch_obj_async(&self.oh(oid)?).await?;
        }
        Ok(())
    }

    /// `dfs_remove` of a non-directory: removes entry `name` of `dir`; a
    /// file's object is punched (when its last handle closes if it is open,
    /// see the module doc). `EISDIR` for a directory, `ENOENT`.
    pub fn unlink(&self, dir: &Obj, name: &str) -> Result<(), DfsError> {
        self.block(self.unlink_async(dir, name))
    }

    /// [`unlink`](Self::unlink) as a future (on the client's
    /// scheduler).
    pub async fn unlink_async(&self, dir: &Obj, name: &str) -> Result<(), DfsError> {
        check_name(name)?;
        let dh = self.dir_oh(dir)?;
        let (o, prec) = futures::join!(
            self.existing_child_async(dir, &dh, name),
            self.dir_record_async(dir)
        );
        let o = o?;
        if o.is_dir() {
            return Err(DfsError::IsDir(name.to_string()));
        }
        let change = async {
            dirent::remove_async(&dh, name.as_bytes()).await?;
            self.drop_link_async(&o).await
        };
        self.with_dir_change_async(dir, prec?, 0, change).await
    }

    /// An entry naming `o`'s inode is gone: a hard link's count drops
    /// (its ctime set), and with the last link the inode goes: a file's
    /// object once the last handle of this mount on it closes, a
    /// directory's or another inode's object (if it has one) now.
    pub(crate) async fn drop_link_async(&self, o: &Obj) -> Result<(), DfsError> {
        if o.inode.is_hlink() {
            let oh = self.oh(o.oid())?;
            if let Some(mut rec) = dirent::fetch_async(&oh, INODE_DKEY).await? {
                self.fold_data_times_async(&mut rec).await?;
                rec.nlink = rec.nlink.saturating_sub(1);
                self.put_inode_async(&Home::Object(oh), &[], &mut rec, Vec::new())
                    .await?;
                if rec.nlink > 0 {
                    return Ok(());
                }
            }
        }
        match o.kind() {
            FileType::File => self.release_file_async(o.oid()).await,
            _ if o.inode.has_obj() => dirent::punch_obj_async(&self.oh(o.oid())?).await,
            _ => Ok(()),
        }
    }

    /// `dfs_remove` of a directory: removes the empty directory `name` of
    /// `dir` and punches its object. `ENOTDIR` if it is not a directory,
    /// `ENOTEMPTY`, `ENOENT`.
    pub fn rmdir(&self, dir: &Obj, name: &str) -> Result<(), DfsError> {
        self.block(self.rmdir_async(dir, name))
    }

    /// [`rmdir`](Self::rmdir) as a future (on the client's
    /// scheduler).
    pub async fn rmdir_async(&self, dir: &Obj, name: &str) -> Result<(), DfsError> {
        check_name(name)?;
        let dh = self.dir_oh(dir)?;
        let o = self.existing_child_async(dir, &dh, name).await?;
        if !o.is_dir() {
            return Err(DfsError::NotDir(name.to_string()));
        }
        let oh = self.oh(o.oid())?;
        if !dirent::names_async(&oh).await?.is_empty() {
            return Err(DfsError::NotEmpty(name.to_string()));
        }
        dirent::remove_async(&dh, name.as_bytes()).await?;
        dirent::punch_obj_async(&oh).await?;
        self.dir_changed_async(dir, -1).await
    }

    /// `dfs_open` with `S_IFLNK`: makes symlink `name` in `dir` pointing to
    /// `target` (stored as is, not resolved). `EEXIST`, `EINVAL` for an
    /// empty target or one with NUL, `ENAMETOOLONG` for one longer than
    /// `PATH_MAX`.
    pub fn symlink(&self, dir: &Obj, name: &str, target: &str) -> Result<Obj, DfsError> {
        self.block(self.symlink_async(dir, name, target))
    }

    /// [`symlink`](Self::symlink) as a future (on the client's
    /// scheduler).
    pub async fn symlink_async(
        &self,
        dir: &Obj,
        name: &str,
        target: &str,
    ) -> Result<Obj, DfsError> {
        self.symlink_as_async(dir, name, target, Owner::process())
            .await
    }

    /// [`symlink`](Self::symlink) with the link owned by `owner` (dfuse:
    /// the requesting process's uid and gid) instead of this process's.
    pub fn symlink_as(
        &self,
        dir: &Obj,
        name: &str,
        target: &str,
        owner: Owner,
    ) -> Result<Obj, DfsError> {
        self.block(self.symlink_as_async(dir, name, target, owner))
    }

    /// [`symlink_as`](Self::symlink_as) as a future (on the client's
    /// scheduler).
    pub async fn symlink_as_async(
        &self,
        dir: &Obj,
        name: &str,
        target: &str,
        owner: Owner,
    ) -> Result<Obj, DfsError> {
        check_name(name)?;
        if target.is_empty() || target.contains('\0') {
            return Err(DfsError::inval("symlink target empty or with NUL"));
        }
        if target.len() > PATH_MAX {
            return Err(DfsError::NameTooLong(target.len()));
        }
        let dh = self.dir_oh(dir)?;
        let (existing, prec) = futures::join!(
            dirent::fetch_async(&dh, name.as_bytes()),
            self.dir_record_async(dir)
        );
        if existing?.is_some() {
            return Err(DfsError::Exists(name.to_string()));
        }
        let oid = self.inode_only_oid_async().await?;
        let mut rec = new_inode(S_IFLNK | 0o777, owner, oid, ObjClass::S1, 0);
        rec.target = target.as_bytes().to_vec();
        rec.size = rec.target.len() as u64;
        self.with_dir_change_async(dir, prec?, 0, dirent::put_async(&dh, name.as_bytes(), &rec))
            .await?;
        Ok(Obj {
            parent: dir.oid(),
            name: name.as_bytes().to_vec(),
            inode: rec,
        })
    }

    /// An object id for an inode that is only its entry (a symlink or a
    /// special file): its inode number; its object is made only if the
    /// inode gets a second link or an extended attribute.
    async fn inode_only_oid_async(&self) -> Result<ObjId, DfsError> {
        self.inner
            .oids
            .alloc_async(ObjType::KvHashed, ObjClass::S1)
            .await
    }

    /// `mknod(2)` of a FIFO (`S_IFIFO`), character or block device
    /// (`S_IFCHR`, `S_IFBLK`, with device number `rdev`) or socket
    /// (`S_IFSOCK`): makes entry `name` in `dir` with `mode` (type and
    /// permission bits), owned by `owner`. `EEXIST`; `EINVAL` for another
    /// type (regular files: [`open`](Self::open) with `create`;
    /// directories: [`mkdir`](Self::mkdir)) or bits.
    pub fn mknod_as(
        &self,
        dir: &Obj,
        name: &str,
        mode: u32,
        rdev: u64,
        owner: Owner,
    ) -> Result<Obj, DfsError> {
        self.block(self.mknod_as_async(dir, name, mode, rdev, owner))
    }

    /// [`mknod_as`](Self::mknod_as) as a future (on the client's
    /// scheduler).
    pub async fn mknod_as_async(
        &self,
        dir: &Obj,
        name: &str,
        mode: u32,
        rdev: u64,
        owner: Owner,
    ) -> Result<Obj, DfsError> {
        check_name(name)?;
        let kind = FileType::from_mode(mode)
            .filter(|k| k.is_special())
            .ok_or_else(|| DfsError::inval(format!("mknod of mode {mode:#o}")))?;
        let mode = check_mode(mode, kind.bits())?;
        let dh = self.dir_oh(dir)?;
        let (existing, prec) = futures::join!(
            dirent::fetch_async(&dh, name.as_bytes()),
            self.dir_record_async(dir)
        );
        if existing?.is_some() {
            return Err(DfsError::Exists(name.to_string()));
        }
        let oid = self.inode_only_oid_async().await?;
        let mut rec = new_inode(mode, owner, oid, ObjClass::S1, 0);
        if matches!(kind, FileType::CharDev | FileType::BlockDev) {
            rec.rdev = rdev;
        }
        self.with_dir_change_async(dir, prec?, 0, dirent::put_async(&dh, name.as_bytes(), &rec))
            .await?;
        Ok(Obj {
            parent: dir.oid(),
            name: name.as_bytes().to_vec(),
            inode: rec,
        })
    }
}
