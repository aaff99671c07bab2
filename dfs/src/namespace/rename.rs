//! `rename` (DAOS's `dfs_move`), with `renameat2(2)`'s
//! `RENAME_NOREPLACE` and `RENAME_EXCHANGE` ([`RenameMode`]).
//!
//! A move writes the new entry before removing the old one (a crash in
//! between leaves both names); an exchange writes both entries. A
//! directory moved to another directory gets its parent link changed and
//! both directories' link counts follow.

use obj::vos::ObjId;

use super::{Dfs, Obj, MAX_DEPTH};
use crate::dirent;
use crate::errno::DfsError;
use crate::inode::{check_name, now_ns, Inode};

/// What `rename` does with an existing destination (`renameat2(2)`'s
/// flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RenameMode {
    /// Replace it (`rename(2)`).
    #[default]
    Replace,
    /// Fail with `EEXIST` (`RENAME_NOREPLACE`).
    NoReplace,
    /// Swap the two entries, both of which must exist
    /// (`RENAME_EXCHANGE`).
    Exchange,
}

impl Dfs {
    /// True if directory `oid` is `anc` or below it (parent links).
    async fn is_below_async(&self, oid: ObjId, anc: ObjId) -> Result<bool, DfsError> {
        let root = self.inner.root.oid();
        let mut cur = oid;
        for _ in 0..MAX_DEPTH {
            if cur == anc {
                return Ok(true);
            }
            if cur == root {
                return Ok(false);
            }
            match dirent::parent_async(&self.oh(cur)?).await? {
                Some(p) => cur = p,
                None => return Ok(false),
            }
        }
        Err(DfsError::Corrupt(format!(
            "more than {MAX_DEPTH} directory levels above {oid:?}"
        )))
    }

    /// `dfs_move`: renames entry `src_name` of `src_dir` to `dst_name` of
    /// `dst_dir`, replacing what is there: a non-directory by anything
    /// but a directory, an empty directory by a directory. `ENOTDIR` for a
    /// directory over a non-directory, `EISDIR` for a non-directory over a
    /// directory, `ENOTEMPTY` for a directory over a non-empty one,
    /// `EINVAL` for moving a directory below itself, `ENOENT` when the
    /// source does not exist. A replaced entry is unlinked (see
    /// [`unlink`](Self::unlink)), a replaced directory punched. Two
    /// entries naming the same inode (hard links): nothing is done, as
    /// POSIX says.
    pub fn rename(
        &self,
        src_dir: &Obj,
        src_name: &str,
        dst_dir: &Obj,
        dst_name: &str,
    ) -> Result<(), DfsError> {
        self.block(self.rename_async(src_dir, src_name, dst_dir, dst_name))
    }

    /// [`rename`](Self::rename) as a future (on the client's scheduler).
    pub async fn rename_async(
        &self,
        src_dir: &Obj,
        src_name: &str,
        dst_dir: &Obj,
        dst_name: &str,
    ) -> Result<(), DfsError> {
        self.rename2_async(src_dir, src_name, dst_dir, dst_name, RenameMode::Replace)
            .await
    }

    /// `renameat2(2)`: [`rename`](Self::rename) as `mode` says. With
    /// [`RenameMode::NoReplace`], `EEXIST` if `dst_name` exists; with
    /// [`RenameMode::Exchange`], `ENOENT` unless both exist, and the two
    /// entries swap (any types; `EINVAL` for a directory that would end
    /// up below itself).
    pub fn rename2(
        &self,
        src_dir: &Obj,
        src_name: &str,
        dst_dir: &Obj,
        dst_name: &str,
        mode: RenameMode,
    ) -> Result<(), DfsError> {
        self.block(self.rename2_async(src_dir, src_name, dst_dir, dst_name, mode))
    }

    /// [`rename2`](Self::rename2) as a future (on the client's scheduler).
    pub async fn rename2_async(
        &self,
        src_dir: &Obj,
        src_name: &str,
        dst_dir: &Obj,
        dst_name: &str,
        mode: RenameMode,
    ) -> Result<(), DfsError> {
        check_name(src_name)?;
        check_name(dst_name)?;
        let sh = self.dir_oh(src_dir)?;
        let dh = self.dir_oh(dst_dir)?;
        let src = self.existing_child_async(src_dir, &sh, src_name).await?;
        if src_dir.oid() == dst_dir.oid() && src_name == dst_name {
            return Ok(());
        }
        let dst = self.child_async(dst_dir, &dh, dst_name.as_bytes()).await?;
        match (mode, &dst) {
            (RenameMode::NoReplace, Some(_)) => return Err(DfsError::Exists(dst_name.into())),
            (RenameMode::Exchange, None) => return Err(DfsError::NotFound(dst_name.into())),
            _ => {}
        }
        if dst.as_ref().is_some_and(|d| d.oid() == src.oid()) {
            return Ok(());
        }
        if src.is_dir() && self.is_below_async(dst_dir.oid(), src.oid()).await? {
            return Err(DfsError::inval(format!(
                "cannot move {src_name:?} below itself"
            )));
        }
        if let (RenameMode::Exchange, Some(d)) = (mode, &dst) {
            return self
                .exchange_async(src_dir, src_name, &src, dst_dir, dst_name, d)
                .await;
        }
        if let Some(d) = &dst {
            match (src.is_dir(), d.is_dir()) {
                (true, false) => return Err(DfsError::NotDir(dst_name.to_string())),
                (false, true) => return Err(DfsError::IsDir(dst_name.to_string())),
                (true, true) if !dirent::names_async(&self.oh(d.oid())?).await?.is_empty() => {
                    return Err(DfsError::NotEmpty(dst_name.to_string()))
                }
                _ => {}
            }
        }
        let rec = self.moved_record_async(&src).await?;
        dirent::put_async(&dh, dst_name.as_bytes(), &rec).await?;
        dirent::remove_async(&sh, src_name.as_bytes()).await?;
        let across = src_dir.oid() != dst_dir.oid();
        if src.is_dir() && across {
            dirent::set_parent_async(&self.oh(src.oid())?, dst_dir.oid()).await?;
        }
        let replaced_dir = dst.as_ref().is_some_and(Obj::is_dir);
        if let Some(d) = &dst {
            if d.is_dir() {
                dirent::punch_obj_async(&self.oh(d.oid())?).await?;
            } else {
                self.drop_link_async(d).await?;
            }
        }
        let (moved, replaced) = (i64::from(src.is_dir()), i64::from(replaced_dir));
        if across {
            self.dir_changed_async(src_dir, -moved).await?;
            self.dir_changed_async(dst_dir, moved - replaced).await
        } else {
            self.dir_changed_async(src_dir, -replaced).await
        }
    }

    /// The record a moved entry `o` is written with: its own with ctime
    /// now, or for a hard link the stub of its inode, whose record's
    /// ctime is set (a rename changes the inode's ctime).
    async fn moved_record_async(&self, o: &Obj) -> Result<Inode, DfsError> {
        if o.inode.is_hlink() {
            let (mut rec, _) = self
                .inode_for_change_async(o)
                .await?
                .ok_or_else(|| DfsError::NotFound(o.name()))?;
            self.put_obj_inode_async(&mut rec).await?;
            Ok(rec)
        } else {
            let mut rec = o.inode.clone();
            self.fold_data_times_async(&mut rec).await?;
            rec.ctime = now_ns();
            Ok(rec)
        }
    }

    /// `RENAME_EXCHANGE` of entries `a` (`a_name` of `a_dir`) and `b`.
    async fn exchange_async(
        &self,
        a_dir: &Obj,
        a_name: &str,
        a: &Obj,
        b_dir: &Obj,
        b_name: &str,
        b: &Obj,
    ) -> Result<(), DfsError> {
        if b.is_dir() && self.is_below_async(a_dir.oid(), b.oid()).await? {
            return Err(DfsError::inval(format!(
                "cannot move {b_name:?} below itself"
            )));
        }
        let ra = self.moved_record_async(a).await?;
        let rb = self.moved_record_async(b).await?;
        dirent::put_async(&self.oh(b_dir.oid())?, b_name.as_bytes(), &ra).await?;
        dirent::put_async(&self.oh(a_dir.oid())?, a_name.as_bytes(), &rb).await?;
        if a_dir.oid() == b_dir.oid() {
            return self.dir_changed_async(a_dir, 0).await;
        }
        if a.is_dir() {
            dirent::set_parent_async(&self.oh(a.oid())?, b_dir.oid()).await?;
        }
        if b.is_dir() {
            dirent::set_parent_async(&self.oh(b.oid())?, a_dir.oid()).await?;
        }
        let d = i64::from(b.is_dir()) - i64::from(a.is_dir());
        self.dir_changed_async(a_dir, d).await?;
        self.dir_changed_async(b_dir, -d).await
    }
}
