//! The POSIX namespace's error type, [`DfsError`]: what a `dfs_*` call
//! returns, with the `errno` value DAOS's dfs would (`daos_der2errno`).

use obj::ObjError;
use tse::der;

use crate::array::ArrayError;

/// The `libc` crate the `errno` values come from (`libc::ENOENT`, ...),
/// for callers comparing them.
pub use libc;

/// Why a namespace operation failed. [`errno`](DfsError::errno) gives the
/// POSIX error number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DfsError {
    /// No such entry (`ENOENT`).
    #[error("{0}: no such file or directory")]
    NotFound(String),
    /// The entry exists already (`EEXIST`).
    #[error("{0}: file exists")]
    Exists(String),
    /// A directory was expected (`ENOTDIR`).
    #[error("{0}: not a directory")]
    NotDir(String),
    /// A directory where a non-directory was expected (`EISDIR`).
    #[error("{0}: is a directory")]
    IsDir(String),
    /// The directory is not empty (`ENOTEMPTY`).
    #[error("{0}: directory not empty")]
    NotEmpty(String),
    /// A name longer than [`NAME_MAX`](crate::inode::NAME_MAX) bytes, or a
    /// symlink target or path longer than
    /// [`PATH_MAX`](crate::inode::PATH_MAX) (`ENAMETOOLONG`).
    #[error("name of {0} bytes is too long")]
    NameTooLong(usize),
    /// A bad argument: an empty name, a name with `/`, `.` or `..` where an
    /// entry is made or removed, bad flags or mode (`EINVAL`).
    #[error("invalid argument: {0}")]
    Inval(String),
    /// Too many symbolic links met while resolving a path, or `open` of a
    /// symbolic link (`ELOOP`).
    #[error("{0}: too many levels of symbolic links")]
    Loop(String),
    /// The handle does not allow the operation (read through a write-only
    /// handle, write through a read-only one) (`EBADF`).
    #[error("bad file handle: {0}")]
    BadHandle(&'static str),
    /// The pool is full (`-DER_NOSPACE`, `ENOSPC`).
    #[error("{ctx}: no space left on the pool")]
    NoSpace {
        /// The operation.
        ctx: String,
    },
    /// The container is not a POSIX container (no or another superblock)
    /// (`EINVAL`, as DAOS's `dfs_mount`).
    #[error("container {0} is not a POSIX container")]
    NotPosix(String),
    /// The superblock or an inode record was written by a newer layout
    /// version than this code reads (`EINVAL`, as DAOS's `dfs_mount`).
    #[error("{what} has layout version {found}, this code reads up to {max}")]
    NewerLayout {
        /// What carries the version.
        what: &'static str,
        /// The version found.
        found: u32,
        /// The newest version this code reads.
        max: u32,
    },
    /// A superblock, inode record or directory link that does not decode
    /// (`EIO`).
    #[error("corrupt {0}")]
    Corrupt(String),
    /// The object layer failed (`ENOSPC` for `-DER_NOSPACE`, `ENOENT`,
    /// `EEXIST`, `EINVAL`, `ENOMEM` for their `-DER_*`, else `EIO`).
    #[error("{ctx}: {source}")]
    Obj {
        /// The namespace operation.
        ctx: String,
        /// The object layer's error.
        source: ObjError,
    },
    /// The operation is not permitted on this entry: a hard link to a
    /// directory (`EPERM`, as `link(2)`).
    #[error("{0}: operation not permitted")]
    NotPermitted(String),
    /// The entry has no such extended attribute (`ENODATA`).
    #[error("{0}: no such attribute")]
    NoAttr(String),
    /// An extended attribute's name is empty or longer than
    /// [`XATTR_NAME_MAX`](crate::inode::XATTR_NAME_MAX) bytes (`ERANGE`, as
    /// `setxattr(2)`).
    #[error("attribute name of {0} bytes is empty or too long")]
    AttrName(usize),
    /// An extended attribute's value is longer than
    /// [`XATTR_SIZE_MAX`](crate::inode::XATTR_SIZE_MAX) bytes (`E2BIG`).
    #[error("attribute value of {0} bytes is too big")]
    AttrTooBig(usize),
    /// An inode has as many links as its count holds (`EMLINK`).
    #[error("{0}: too many links")]
    TooManyLinks(String),
    /// The array layer failed (mapped as [`DfsError::Obj`]).
    #[error("{ctx}: {source}")]
    Array {
        /// The namespace operation.
        ctx: String,
        /// The array layer's error.
        source: ArrayError,
    },
}

/// The `errno` for a `-DER_*` status (`daos_der2errno` for the statuses
/// rdaos produces): `ENOSPC`, `ENOENT`, `EEXIST`, `EINVAL`, `ENOMEM`,
/// `EIO` for a checksum failure (`-DER_CSUM`) and everything else (0
/// for 0).
pub fn der_to_errno(rc: i32) -> i32 {
    match -rc {
        0 => 0,
        der::DER_NOSPACE => libc::ENOSPC,
        der::DER_NONEXIST => libc::ENOENT,
        der::DER_EXIST => libc::EEXIST,
        der::DER_INVAL => libc::EINVAL,
        der::DER_NOMEM => libc::ENOMEM,
        // Data that fails its checksum is an I/O error to readers.
        der::DER_CSUM => libc::EIO,
        _ => libc::EIO,
    }
}

impl DfsError {
    /// The POSIX error number (`libc::E*`).
    pub fn errno(&self) -> i32 {
        match self {
            DfsError::NotFound(_) => libc::ENOENT,
            DfsError::Exists(_) => libc::EEXIST,
            DfsError::NotDir(_) => libc::ENOTDIR,
            DfsError::IsDir(_) => libc::EISDIR,
            DfsError::NotEmpty(_) => libc::ENOTEMPTY,
            DfsError::NameTooLong(_) => libc::ENAMETOOLONG,
            DfsError::Inval(_) | DfsError::NotPosix(_) | DfsError::NewerLayout { .. } => {
                libc::EINVAL
            }
            DfsError::Loop(_) => libc::ELOOP,
            DfsError::BadHandle(_) => libc::EBADF,
            DfsError::NoSpace { .. } => libc::ENOSPC,
            DfsError::Corrupt(_) => libc::EIO,
            DfsError::NotPermitted(_) => libc::EPERM,
            DfsError::NoAttr(_) => libc::ENODATA,
            DfsError::AttrName(_) => libc::ERANGE,
            DfsError::AttrTooBig(_) => libc::E2BIG,
            DfsError::TooManyLinks(_) => libc::EMLINK,
            DfsError::Obj { source, .. } => der_to_errno(source.rc()),
            DfsError::Array { source, .. } => der_to_errno(source.rc()),
        }
    }

    /// The `-DER_*` status a task failing with this error completes with
    /// (the status of an event on a [`tse::Eq`]): the object or array
    /// layer's own status, `-DER_NONEXIST`, `-DER_EXIST`, `-DER_INVAL`,
    /// `-DER_NOSPACE`, `-DER_OVERFLOW` for a name too long, `-DER_NO_PERM`
    /// for a bad handle, else (`ENOTDIR`, `EISDIR`, `ENOTEMPTY`, `ELOOP`,
    /// corruption) `-DER_IO`: [`errno`](Self::errno) of the error itself
    /// is exact.
    pub fn der(&self) -> i32 {
        let d = match self {
            DfsError::NotFound(_) => der::DER_NONEXIST,
            DfsError::Exists(_) => der::DER_EXIST,
            DfsError::Inval(_) | DfsError::NotPosix(_) | DfsError::NewerLayout { .. } => {
                der::DER_INVAL
            }
            DfsError::NameTooLong(_) => der::DER_OVERFLOW,
            DfsError::BadHandle(_) | DfsError::NotPermitted(_) => der::DER_NO_PERM,
            DfsError::NoAttr(_) => der::DER_NONEXIST,
            DfsError::AttrName(_) | DfsError::AttrTooBig(_) => der::DER_OVERFLOW,
            DfsError::NoSpace { .. } => der::DER_NOSPACE,
            DfsError::Obj { source, .. } if source.rc() != 0 => return source.rc(),
            DfsError::Array { source, .. } if source.rc() != 0 => return source.rc(),
            _ => der::DER_IO,
        };
        -d
    }

    /// An object-layer error met while doing `ctx`; `-DER_NOSPACE` becomes
    /// [`DfsError::NoSpace`].
    pub fn obj(ctx: impl Into<String>, source: ObjError) -> DfsError {
        let ctx = ctx.into();
        if source.rc() == -der::DER_NOSPACE {
            return DfsError::NoSpace { ctx };
        }
        DfsError::Obj { ctx, source }
    }

    /// An array-layer error met while doing `ctx`; `-DER_NOSPACE` becomes
    /// [`DfsError::NoSpace`].
    pub fn array(ctx: impl Into<String>, source: ArrayError) -> DfsError {
        let ctx = ctx.into();
        if source.rc() == -der::DER_NOSPACE {
            return DfsError::NoSpace { ctx };
        }
        DfsError::Array { ctx, source }
    }

    /// The error for a task that completed with status `rc` while doing
    /// `ctx`.
    pub fn task(ctx: &'static str, rc: i32) -> DfsError {
        DfsError::obj(ctx, ObjError::Failed { op: ctx, rc })
    }

    /// An [`DfsError::Inval`] with `why`.
    pub fn inval(why: impl Into<String>) -> DfsError {
        DfsError::Inval(why.into())
    }
}

/// Adds context to object- and array-layer results.
pub trait Context<T> {
    /// Wraps the error with the operation `ctx`.
    fn ctx(self, ctx: &str) -> Result<T, DfsError>;
}

impl<T> Context<T> for Result<T, ObjError> {
    fn ctx(self, ctx: &str) -> Result<T, DfsError> {
        self.map_err(|e| DfsError::obj(ctx, e))
    }
}

impl<T> Context<T> for Result<T, ArrayError> {
    fn ctx(self, ctx: &str) -> Result<T, DfsError> {
        self.map_err(|e| DfsError::array(ctx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_statuses_are_der_codes() {
        assert_eq!(DfsError::NotFound("x".into()).der(), -der::DER_NONEXIST);
        assert_eq!(DfsError::Exists("x".into()).der(), -der::DER_EXIST);
        assert_eq!(DfsError::inval("x").der(), -der::DER_INVAL);
        assert_eq!(DfsError::NotEmpty("x".into()).der(), -der::DER_IO);
        let busy = ObjError::Failed {
            op: "x",
            rc: -der::DER_BUSY,
        };
        assert_eq!(DfsError::obj("w", busy).der(), -der::DER_BUSY);
        assert_eq!(
            DfsError::task("t", -der::DER_CANCELED).der(),
            -der::DER_CANCELED
        );
    }

    #[test]
    fn storage_statuses_map_to_errno() {
        let nospace = ObjError::Failed {
            op: "x",
            rc: -der::DER_NOSPACE,
        };
        let e = DfsError::obj("write", nospace.clone());
        assert!(matches!(e, DfsError::NoSpace { .. }));
        assert_eq!(e.errno(), libc::ENOSPC);
        let e = DfsError::array("write", ArrayError::Obj(nospace));
        assert_eq!(e.errno(), libc::ENOSPC);
        let io = ObjError::Failed {
            op: "x",
            rc: -der::DER_IO,
        };
        assert_eq!(DfsError::obj("x", io).errno(), libc::EIO);
        assert_eq!(
            DfsError::obj("x", ObjError::Storage("disk".into())).errno(),
            libc::EIO
        );
        assert_eq!(der_to_errno(-der::DER_NONEXIST), libc::ENOENT);
        assert_eq!(der_to_errno(0), 0);
        assert_eq!(der_to_errno(-der::DER_CSUM), libc::EIO);
        assert_eq!(DfsError::Corrupt("sb".into()).errno(), libc::EIO);
        assert_eq!(DfsError::NotPosix("c".into()).errno(), libc::EINVAL);
        assert_eq!(DfsError::NoAttr("a".into()).errno(), libc::ENODATA);
        assert_eq!(DfsError::AttrName(300).errno(), libc::ERANGE);
        assert_eq!(DfsError::AttrTooBig(1 << 20).errno(), libc::E2BIG);
        assert_eq!(DfsError::NotPermitted("d".into()).errno(), libc::EPERM);
    }
}
