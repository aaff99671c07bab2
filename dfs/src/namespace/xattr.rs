//! Extended attributes (`dfs_setxattr`, `dfs_getxattr`, `dfs_listxattr`,
//! `dfs_removexattr`): each is an akey of the inode, [`XATTR_PREFIX`] +
//! its name, in dkey [`INODE_DKEY`] of the inode's own object (beside
//! the inode's record once it has several links). A symlink or special
//! file gets its object with its first attribute ([`F_OBJ`]).
//!
//! Values are stored behind one format byte ([`XATTR_FORMAT`]), so an
//! empty value is a value. Names are 1 to [`XATTR_NAME_MAX`] bytes
//! (`ERANGE` otherwise, as Linux), values at most [`XATTR_SIZE_MAX`]
//! (`E2BIG`). Setting or removing one sets the inode's ctime. Which
//! namespaces (`user.`, `trusted.`, `security.`, `system.`) a caller may
//! touch is the kernel's check, not the namespace's. A directory with
//! [`XATTR_POSIX_ACL_DEFAULT`] is flagged [`F_DEFACL`] in its record, so
//! that making an entry elsewhere needs no look at attributes.

use super::{Dfs, Obj};
use crate::dirent;
use crate::errno::DfsError;
use crate::inode::{
    FileType, F_DEFACL, F_OBJ, INODE_DKEY, XATTR_NAME_MAX, XATTR_POSIX_ACL_DEFAULT, XATTR_PREFIX,
    XATTR_SIZE_MAX,
};

/// The byte each stored value starts with.
pub const XATTR_FORMAT: u8 = 1;

/// What `setxattr` does with an attribute that exists or does not
/// (`setxattr(2)`'s flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum XattrMode {
    /// Create or replace it.
    #[default]
    Any,
    /// Fail with `EEXIST` if it exists (`XATTR_CREATE`).
    Create,
    /// Fail with `ENODATA` if it does not (`XATTR_REPLACE`).
    Replace,
}

fn akey(name: &str) -> Result<Vec<u8>, DfsError> {
    if name.is_empty() || name.len() > XATTR_NAME_MAX || name.contains('\0') {
        return Err(DfsError::AttrName(name.len()));
    }
    let mut k = XATTR_PREFIX.to_vec();
    k.extend_from_slice(name.as_bytes());
    Ok(k)
}

impl Dfs {
    /// Sets attribute `name` of `o`'s inode to `value`, as `mode` says.
    /// `ERANGE` for a bad name, `E2BIG` for a value too big, `EEXIST` /
    /// `ENODATA` as [`XattrMode`] says, `ENOENT` if the inode is gone.
    /// Returns the updated handle.
    pub fn setxattr(
        &self,
        o: &Obj,
        name: &str,
        value: &[u8],
        mode: XattrMode,
    ) -> Result<Obj, DfsError> {
        self.block(self.setxattr_async(o, name, value, mode))
    }

    /// [`setxattr`](Self::setxattr) as a future (on the client's
    /// scheduler).
    pub async fn setxattr_async(
        &self,
        o: &Obj,
        name: &str,
        value: &[u8],
        mode: XattrMode,
    ) -> Result<Obj, DfsError> {
        let key = akey(name)?;
        if value.len() > XATTR_SIZE_MAX {
            return Err(DfsError::AttrTooBig(value.len()));
        }
        let (mut rec, home) = self
            .inode_for_change_async(o)
            .await?
            .ok_or_else(|| DfsError::NotFound(o.name()))?;
        let oh = self.oh(o.oid())?;
        if mode != XattrMode::Any {
            let exists = rec.has_obj()
                && dirent::fetch_value_async(&oh, INODE_DKEY, &key)
                    .await?
                    .is_some();
            match (mode, exists) {
                (XattrMode::Create, true) => return Err(DfsError::Exists(name.to_string())),
                (XattrMode::Replace, false) => return Err(DfsError::NoAttr(name.to_string())),
                _ => {}
            }
        }
        let mut v = Vec::with_capacity(value.len() + 1);
        v.push(XATTR_FORMAT);
        v.extend_from_slice(value);
        if !matches!(rec.kind(), FileType::File | FileType::Dir) {
            rec.flags |= F_OBJ;
        }
        if name == XATTR_POSIX_ACL_DEFAULT {
            rec.flags |= F_DEFACL;
        }
        match home {
            super::attrs::Home::Object(_) => {
                self.put_inode_async(&home, &o.name, &mut rec, vec![(key, v)])
                    .await?
            }
            super::attrs::Home::Entry(_) => {
                // The attribute first: its inode's record names the object
                // only once it exists.
                dirent::put_values_async(&oh, INODE_DKEY, vec![(key, v)], None).await?;
                self.put_inode_async(&home, &o.name, &mut rec, Vec::new())
                    .await?
            }
        }
        Ok(Obj {
            inode: rec,
            ..o.clone()
        })
    }

    /// The value of attribute `name` of `o`'s inode. `ENODATA` if it has
    /// none, `ERANGE` for a bad name.
    pub fn getxattr(&self, o: &Obj, name: &str) -> Result<Vec<u8>, DfsError> {
        self.block(self.getxattr_async(o, name))
    }

    /// [`getxattr`](Self::getxattr) as a future (on the client's
    /// scheduler).
    pub async fn getxattr_async(&self, o: &Obj, name: &str) -> Result<Vec<u8>, DfsError> {
        let key = akey(name)?;
        let v = dirent::fetch_value_async(&self.oh(o.oid())?, INODE_DKEY, &key)
            .await?
            .ok_or_else(|| DfsError::NoAttr(name.to_string()))?;
        match v.split_first() {
            Some((&XATTR_FORMAT, rest)) => Ok(rest.to_vec()),
            _ => Err(DfsError::Corrupt(format!("attribute {name:?}: bad format"))),
        }
    }

    /// The names of the attributes of `o`'s inode, sorted bytewise.
    pub fn listxattr(&self, o: &Obj) -> Result<Vec<String>, DfsError> {
        self.block(self.listxattr_async(o))
    }

    /// [`listxattr`](Self::listxattr) as a future (on the client's
    /// scheduler).
    pub async fn listxattr_async(&self, o: &Obj) -> Result<Vec<String>, DfsError> {
        Ok(dirent::akeys_async(&self.oh(o.oid())?, INODE_DKEY)
            .await?
            .into_iter()
            .filter_map(|k| {
                k.strip_prefix(XATTR_PREFIX)
                    .map(|n| String::from_utf8_lossy(n).into_owned())
            })
            .collect())
    }

    /// Removes attribute `name` of `o`'s inode. `ENODATA` if it has none.
    /// Returns the updated handle.
    pub fn removexattr(&self, o: &Obj, name: &str) -> Result<Obj, DfsError> {
        self.block(self.removexattr_async(o, name))
    }

    /// [`removexattr`](Self::removexattr) as a future (on the client's
    /// scheduler).
    pub async fn removexattr_async(&self, o: &Obj, name: &str) -> Result<Obj, DfsError> {
        let key = akey(name)?;
        let (mut rec, home) = self
            .inode_for_change_async(o)
            .await?
            .ok_or_else(|| DfsError::NotFound(o.name()))?;
        let oh = self.oh(o.oid())?;
        if dirent::fetch_value_async(&oh, INODE_DKEY, &key)
            .await?
            .is_none()
        {
            return Err(DfsError::NoAttr(name.to_string()));
        }
        dirent::punch_akey_async(&oh, INODE_DKEY, &key).await?;
        if name == XATTR_POSIX_ACL_DEFAULT {
            rec.flags &= !F_DEFACL;
        }
        self.put_inode_async(&home, &o.name, &mut rec, Vec::new())
            .await?;
        Ok(Obj {
            inode: rec,
            ..o.clone()
        })
    }
}
