//! Reading and changing an inode's record: `stat`, `chmod`, `chown`,
//! `utimens`, and what a change of entries does to its directory (link
//! count, mtime and ctime). An inode's record is its entry's, or, for a
//! hard link ([`F_HLINK`]), the one in its own object (see
//! [`crate::inode`]): [`Home`] says which.

use obj::cli::ObjHandle;
use obj::hlc::hlc2ns;

use super::{Dfs, Obj};
use crate::dirent;
use crate::errno::{Context, DfsError};
use crate::inode::{
    now_ns, FileType, Inode, Stat, F_HLINK, INODE_AKEY, INODE_DKEY, PERM_MASK, S_IFMT,
};

/// Where an inode's record is kept.
pub(crate) enum Home {
    /// In its entry: dkey `name` of the directory object.
    Entry(ObjHandle),
    /// In its own object, dkey [`INODE_DKEY`].
    Object(ObjHandle),
}

impl Dfs {
    /// The record of `o`'s inode as stored now and where it is; `None`
    /// when the inode is gone (its entry removed, or naming another
    /// object, and no record in its object).
    pub(crate) async fn inode_of_async(&self, o: &Obj) -> Result<Option<(Inode, Home)>, DfsError> {
        let ph = self.parent_oh(o)?;
        let ent = dirent::fetch_async(&ph, &o.name)
            .await?
            .filter(|r| r.oid == o.oid());
        let stub = match ent {
            Some(r) if !r.is_hlink() => return Ok(Some((r, Home::Entry(ph)))),
            Some(r) => Some(r),
            // The handle's entry is gone; another link may hold the inode.
            None if o.inode.is_hlink() || o.kind() == FileType::File => None,
            None => return Ok(None),
        };
        let oh = self.oh(o.oid())?;
        match dirent::fetch_async(&oh, INODE_DKEY).await? {
            Some(r) => Ok(Some((r, Home::Object(oh)))),
            // A crash while the first link was made: the entry's copy.
            None => Ok(stub.map(|r| (r, Home::Entry(ph)))),
        }
    }

    /// [`inode_of_async`](Self::inode_of_async) for a change of the
    /// record: a file's mtime as `stat` shows it (from its newest data
    /// write, see [`crate::inode::file_times`]) is folded into the
    /// record first, as a change sets ctime past that write.
    pub(crate) async fn inode_for_change_async(
        &self,
        o: &Obj,
    ) -> Result<Option<(Inode, Home)>, DfsError> {
        let Some((mut rec, home)) = self.inode_of_async(o).await? else {
            return Ok(None);
        };
        self.fold_data_times_async(&mut rec).await?;
        Ok(Some((rec, home)))
    }

    /// Folds the time of a file's newest data write into `rec`'s mtime
    /// (and ctime) where it is later than the record's ctime.
    pub(crate) async fn fold_data_times_async(&self, rec: &mut Inode) -> Result<(), DfsError> {
        if rec.kind() == FileType::File {
            let (_, written) = crate::file::array_of(self, rec)?
                .stat_async()
                .await
                .ctx("the file's newest write")?;
            (rec.mtime, rec.ctime) = crate::inode::file_times(rec, written);
        }
        Ok(())
    }

    /// Writes `rec` where it lives (`name`: its entry's name), with the
    /// single values `extra` beside it in its object. In the object, the
    /// update's epoch is its ctime: a change of the record is not taken
    /// for a write of the file's data (see [`crate::inode::file_times`]).
    pub(crate) async fn put_inode_async(
        &self,
        home: &Home,
        name: &[u8],
        rec: &mut Inode,
        extra: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<(), DfsError> {
        match home {
            Home::Entry(ph) => {
                // Past every epoch this client gave out (its clock may run
                // ahead of the system's): past the writes of the change.
                rec.ctime = now_ns().max(hlc2ns(self.inner.cli.epoch_now()));
                dirent::put_async(ph, name, rec).await
            }
            Home::Object(oh) => {
                let e = self.inner.cli.epoch_now();
                rec.ctime = hlc2ns(e);
                let mut vals = vec![(INODE_AKEY.to_vec(), rec.encode())];
                vals.extend(extra);
                dirent::put_values_async(oh, INODE_DKEY, vals, Some(e)).await
            }
        }
    }

    /// Writes `rec` as the record in the inode's own object (`F_HLINK`
    /// set), ctime now.
    pub(crate) async fn put_obj_inode_async(&self, rec: &mut Inode) -> Result<(), DfsError> {
        rec.flags |= F_HLINK;
        let home = Home::Object(self.oh(rec.oid)?);
        self.put_inode_async(&home, &[], rec, Vec::new()).await
    }

    /// `dfs_ostat`: the inode's attributes, its record read again (see the
    /// module doc for a handle whose entry is gone), a file's size from
    /// its array.
    pub fn stat(&self, o: &Obj) -> Result<Stat, DfsError> {
        self.block(self.stat_async(o))
    }

    /// [`stat`](Self::stat) as a future (on the client's
    /// scheduler).
    pub async fn stat_async(&self, o: &Obj) -> Result<Stat, DfsError> {
        let (rec, nlink) = match self.inode_of_async(o).await? {
            Some((r, _)) => {
                let n = self.nlink_async(o, &r).await?;
                (r, n)
            }
            None => (o.inode.clone(), 0),
        };
        let (size, written, alloc) = match rec.kind() {
            FileType::File => crate::file::array_of(self, &rec)?
                .stat_alloc_async()
                .await
                .ctx("dfs_ostat: file size")?,
            FileType::Symlink => (rec.target.len() as u64, 0, 0),
            _ => (0, 0, 0),
        };
        let (mtime, ctime) = crate::inode::file_times(&rec, written);
        Ok(Stat {
            ino: rec.oid.lo,
            mode: rec.mode,
            nlink,
            uid: rec.uid,
            gid: rec.gid,
            size,
            rdev: rec.rdev,
            blocks: alloc.div_ceil(512),
            blksize: if rec.chunk_size > 0 {
                rec.chunk_size
            } else {
                self.inner.attr.chunk_size
            },
            atime: rec.atime,
            mtime,
            ctime,
        })
    }

    /// The link count of inode `rec` (of `o`): a directory's stored count
    /// (counted if a version 1 record has none), a hard link's stored
    /// count, else 1.
    pub(crate) async fn nlink_async(&self, o: &Obj, rec: &Inode) -> Result<u32, DfsError> {
        Ok(match rec.kind() {
            FileType::Dir if rec.nlink == 0 => 2 + self.count_subdirs_async(o).await?,
            FileType::Dir => rec.nlink,
            _ if rec.is_hlink() => rec.nlink,
            _ => 1,
        })
    }

    /// The subdirectories of directory `dir`, counted.
    async fn count_subdirs_async(&self, dir: &Obj) -> Result<u32, DfsError> {
        let dh = self.oh(dir.oid())?;
        let names = dirent::names_async(&dh).await?;
        let recs = dirent::fetch_many_async(&dh, &names).await?;
        let n = recs
            .iter()
            .flatten()
            .filter(|r| r.kind() == FileType::Dir)
            .count();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Records a change of `dir`'s entries made just now: its mtime and
    /// ctime become now, its link count moves by `subdirs` (a directory
    /// made, removed or moved in or out). A directory removed meanwhile
    /// is left alone.
    pub(crate) async fn dir_changed_async(&self, dir: &Obj, subdirs: i64) -> Result<(), DfsError> {
        let rec = self.dir_record_async(dir).await?;
        self.dir_put_async(dir, rec, subdirs).await
    }

    /// `dir`'s record as stored (`None`: the directory was removed
    /// meanwhile), for [`dir_put_async`](Self::dir_put_async).
    pub(crate) async fn dir_record_async(&self, dir: &Obj) -> Result<Option<Inode>, DfsError> {
        Ok(dirent::fetch_async(&self.parent_oh(dir)?, &dir.name)
            .await?
            .filter(|r| r.oid == dir.oid()))
    }

    /// The second half of [`dir_changed_async`](Self::dir_changed_async):
    /// writes `rec` (read by [`dir_record_async`](Self::dir_record_async))
    /// with the change.
    async fn dir_put_async(
        &self,
        dir: &Obj,
        rec: Option<Inode>,
        subdirs: i64,
    ) -> Result<(), DfsError> {
        let Some(mut rec) = rec else {
            return Ok(());
        };
        rec.nlink = if rec.nlink == 0 {
            // A version 1 record: counted now, the change included.
            2 + self.count_subdirs_async(dir).await?
        } else {
            let n = i64::from(rec.nlink) + subdirs;
            u32::try_from(n.max(2)).unwrap_or(u32::MAX)
        };
        let now = now_ns();
        rec.mtime = now;
        rec.ctime = now;
        dirent::put_async(&self.parent_oh(dir)?, &dir.name, &rec).await
    }

    /// Runs `change` (the writes of a change of `dir`'s entries) and the
    /// update of `dir`'s record (as [`dir_changed_async`](Self::dir_changed_async),
    /// from `rec`, read beforehand) at once: a create costs the round
    /// trips of one update, not two. A directory of a version 1 container
    /// (no link count yet) is counted after the change instead. A crash
    /// between the two writes leaves the directory's times or link count
    /// a change behind or ahead.
    pub(crate) async fn with_dir_change_async(
        &self,
        dir: &Obj,
        rec: Option<Inode>,
        subdirs: i64,
        change: impl std::future::Future<Output = Result<(), DfsError>>,
    ) -> Result<(), DfsError> {
        if rec.as_ref().is_some_and(|r| r.nlink == 0) {
            change.await?;
            return self.dir_put_async(dir, rec, subdirs).await;
        }
        let (a, b) = futures::join!(change, self.dir_put_async(dir, rec, subdirs));
        a.and(b)
    }

    /// Changes `o`'s inode record with `f` (ctime set to now) and writes
    /// it back where it lives; the new handle.
    pub(crate) async fn update_entry_async(
        &self,
        o: &Obj,
        f: impl FnOnce(&mut Inode),
    ) -> Result<Obj, DfsError> {
        let (mut rec, home) = self
            .inode_for_change_async(o)
            .await?
            .ok_or_else(|| DfsError::NotFound(o.name()))?;
        f(&mut rec);
        self.put_inode_async(&home, &o.name, &mut rec, Vec::new())
            .await?;
        Ok(Obj {
            inode: rec,
            ..o.clone()
        })
    }

    /// `dfs_chmod`: sets the permission bits (`mode & 0o7777`; other bits
    /// are `EINVAL`). Returns the updated handle.
    pub fn chmod(&self, o: &Obj, mode: u32) -> Result<Obj, DfsError> {
        self.block(self.chmod_async(o, mode))
    }

    /// [`chmod`](Self::chmod) as a future (on the client's
    /// scheduler).
    pub async fn chmod_async(&self, o: &Obj, mode: u32) -> Result<Obj, DfsError> {
        if mode & !PERM_MASK != 0 {
            return Err(DfsError::inval(format!("mode {mode:#o}")));
        }
        self.update_entry_async(o, |r| r.mode = (r.mode & S_IFMT) | mode)
            .await
    }

    /// `dfs_chown`: sets the owner (`uid`) and/or group (`gid`) in the
    /// entry's record (`None` leaves one as it is; ctime is set). No
    /// permission check: the namespace does not know who calls (dfuse
    /// checks POSIX's rules with the requester's ids first). The mode is
    /// left alone: clearing set-id bits is the caller's rule to apply.
    /// Returns the updated handle.
    pub fn chown(&self, o: &Obj, uid: Option<u32>, gid: Option<u32>) -> Result<Obj, DfsError> {
        self.block(self.chown_async(o, uid, gid))
    }

    /// [`chown`](Self::chown) as a future (on the client's scheduler).
    pub async fn chown_async(
        &self,
        o: &Obj,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<Obj, DfsError> {
        self.update_entry_async(o, |r| {
            if let Some(u) = uid {
                r.uid = u;
            }
            if let Some(g) = gid {
                r.gid = g;
            }
        })
        .await
    }

    /// `dfs_osetattr` of times (`utimensat`): sets atime and/or mtime (ns
    /// since the Unix epoch; `None` leaves one as it is). Returns the
    /// updated handle.
    pub fn utimens(
        &self,
        o: &Obj,
        atime: Option<u64>,
        mtime: Option<u64>,
    ) -> Result<Obj, DfsError> {
        self.block(self.utimens_async(o, atime, mtime))
    }

    /// [`utimens`](Self::utimens) as a future (on the client's scheduler).
    pub async fn utimens_async(
        &self,
        o: &Obj,
        atime: Option<u64>,
        mtime: Option<u64>,
    ) -> Result<Obj, DfsError> {
        self.update_entry_async(o, |r| {
            if let Some(a) = atime {
                r.atime = a;
            }
            if let Some(m) = mtime {
                r.mtime = m;
            }
        })
        .await
    }
}
