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
    /// The pool is full (`-DER_NOSPACE`, `ENOSPC`), or the target a
    /// write went to is ([`DfsError::explain_nospace`] says which).
    #[error("{ctx}: no space left on the pool{detail}")]
    NoSpace {
        /// The operation.
        ctx: String,
        /// Where the space ran out, from a pool query (`": ..."`), or
        /// empty when not asked.
        detail: String,
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

    /// A [`DfsError::NoSpace`] with where the space ran out, from the
    /// pool's `space` (a pool query made after the failure); any other
    /// error unchanged. When the target with the least free space is
    /// (nearly) full while others still have room, the message names it
    /// and what the others have (DAOS's imbalance: a file's chunks go to
    /// the targets its class and dkeys place them on, so one target can
    /// fill first); otherwise it says the pool is full. Sizes for people.
    pub fn explain_nospace(self, space: &obj::cli::PoolSpace) -> DfsError {
        let DfsError::NoSpace { ctx, .. } = self else {
            return self;
        };
        let Some((t, full)) = space.per_target.iter().min_by_key(|(_, s)| s.free) else {
            return DfsError::NoSpace {
                ctx,
                detail: String::new(),
            };
        };
        let others = space.per_target.len() - 1;
        let others_free = space.free - full.free;
        let roomiest = space
            .per_target
            .iter()
            .map(|(_, s)| s.free)
            .max()
            .unwrap_or(0);
        let detail = if others > 0 && roomiest >= (1 << 20) && roomiest >= 2 * full.free {
            format!(
                ": target {}.{} is full ({} free of {}) while the other {others} target{} \
                 still have {} free (a file's chunks are placed on fixed targets; \
                 a class striped over more targets, such as SX, spreads them)",
                t.engine,
                t.target,
                human(full.free),
                human(full.capacity),
                if others == 1 { "" } else { "s" },
                human(others_free),
            )
        } else {
            format!(
                ": the pool is full ({} free of {} on {} target{})",
                human(space.free),
                human(space.total),
                space.targets,
                if space.targets == 1 { "" } else { "s" },
            )
        };
        DfsError::NoSpace { ctx, detail }
    }

    /// An object-layer error met while doing `ctx`; `-DER_NOSPACE` becomes
    /// [`DfsError::NoSpace`].
    pub fn obj(ctx: impl Into<String>, source: ObjError) -> DfsError {
        let ctx = ctx.into();
        if source.rc() == -der::DER_NOSPACE {
            return DfsError::NoSpace {
                ctx,
                detail: String::new(),
            };
        }
        DfsError::Obj { ctx, source }
    }

    /// An array-layer error met while doing `ctx`; `-DER_NOSPACE` becomes
    /// [`DfsError::NoSpace`].
    pub fn array(ctx: impl Into<String>, source: ArrayError) -> DfsError {
        let ctx = ctx.into();
        if source.rc() == -der::DER_NOSPACE {
            return DfsError::NoSpace {
                ctx,
                detail: String::new(),
            };
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

/// A size for people, as `rdaos::size::format_size` writes it (this
/// crate cannot depend on that one): bytes below 1 KiB, otherwise one
/// decimal of the largest binary unit, rounded down.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let i = ((63 - bytes.leading_zeros()) / 10) as usize;
    let tenths = u128::from(bytes) * 10 / (1u128 << (10 * i));
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[i])
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

    #[test]
    fn nospace_says_which_target_is_full_or_that_the_pool_is() {
        use obj::placement::TargetId;
        use obj::rpc::TargetSpace;
        let mib = 1u64 << 20;
        let space = |frees: &[u64]| obj::cli::PoolSpace {
            total: 64 * mib * frees.len() as u64,
            free: frees.iter().sum(),
            targets: frees.len() as u32,
            per_target: frees
                .iter()
                .enumerate()
                .map(|(i, &free)| {
                    let t = TargetId {
                        engine: 0,
                        target: i as u32,
                    };
                    (
                        t,
                        TargetSpace {
                            capacity: 64 * mib,
                            free,
                        },
                    )
                })
                .collect(),
        };
        let e = || DfsError::task("dfs_write", -der::DER_NOSPACE);
        let msg = e()
            .explain_nospace(&space(&[60 * mib, 4096, 3 * mib / 2, 60 * mib]))
            .to_string();
        assert_eq!(
            msg,
            "dfs_write: no space left on the pool: target 0.1 is full (4.0 KiB free of \
             64.0 MiB) while the other 3 targets still have 121.5 MiB free (a file's chunks \
             are placed on fixed targets; a class striped over more targets, such as SX, \
             spreads them)"
        );
        let full = e().explain_nospace(&space(&[8192, 4096])).to_string();
        assert_eq!(
            full,
            "dfs_write: no space left on the pool: the pool is full (12.0 KiB free of 128.0 MiB on 2 targets)"
        );
        assert_eq!(e().explain_nospace(&space(&[4096])).errno(), libc::ENOSPC);
        let other = DfsError::inval("x");
        assert_eq!(other.clone().explain_nospace(&space(&[0])), other);
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(3 << 29), "1.5 GiB");
    }
}
