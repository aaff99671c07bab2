//! Hard links (`link(2)`): several entries naming one inode.
//!
//! The first `link` of an inode moves its record into the inode's own
//! object (dkey [`INODE_DKEY`](crate::inode::INODE_DKEY)) with a link
//! count of 2 and flags every entry naming it [`F_HLINK`]; later links
//! count up there. The inode's object is written first, then its first
//! entry is flagged, then the new entry made: a crash between leaves the
//! old entry as it was, or an inode whose count is one above its entries
//! (the inode then outlives its last `unlink`, an orphan, never a link
//! to a missing inode).

use super::{Dfs, Obj};
use crate::dirent;
use crate::errno::DfsError;
use crate::inode::{check_name, FileType, F_HLINK};

impl Dfs {
    /// `link(2)`: makes entry `name` of `dir` name the inode of `o` (any
    /// type but a directory); returns the new entry's handle. `EPERM` for
    /// a directory, `EEXIST` if the name is taken, `ENOENT` if `o`'s
    /// inode has no link left, `EMLINK` past `u32::MAX` links.
    pub fn link(&self, o: &Obj, dir: &Obj, name: &str) -> Result<Obj, DfsError> {
        self.block(self.link_async(o, dir, name))
    }

    /// [`link`](Self::link) as a future (on the client's scheduler).
    pub async fn link_async(&self, o: &Obj, dir: &Obj, name: &str) -> Result<Obj, DfsError> {
        check_name(name)?;
        if o.kind() == FileType::Dir {
            return Err(DfsError::NotPermitted(format!(
                "hard link to directory {}",
                o.name()
            )));
        }
        let dh = self.dir_oh(dir)?;
        if dirent::fetch_async(&dh, name.as_bytes()).await?.is_some() {
            return Err(DfsError::Exists(name.to_string()));
        }
        let (mut rec, _) = self
            .inode_for_change_async(o)
            .await?
            .ok_or_else(|| DfsError::NotFound(o.name()))?;
        let first = !rec.is_hlink();
        rec.nlink = if first {
            2
        } else {
            rec.nlink
                .checked_add(1)
                .ok_or_else(|| DfsError::TooManyLinks(o.name()))?
        };
        rec.flags |= F_HLINK;
        self.put_obj_inode_async(&mut rec).await?;
        if first {
            dirent::put_async(&self.parent_oh(o)?, &o.name, &rec).await?;
        }
        dirent::put_async(&dh, name.as_bytes(), &rec).await?;
        self.dir_changed_async(dir, 0).await?;
        Ok(Obj {
            parent: dir.oid(),
            name: name.as_bytes().to_vec(),
            inode: rec,
        })
    }
}
