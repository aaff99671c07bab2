//! How the dfs thread answers: a failed request's `errno` ([`Fail`],
//! logged as it is made), and the replies shared by the handlers.

use std::ffi::OsStr;
use std::time::Duration;

use fuser::{Errno, FileAttr, Generation, ReplyEmpty, ReplyEntry};
use obj::vos::ObjId;

use super::log::{self, Level};
use crate::errno::{der_to_errno, DfsError};

/// A failed request: the `errno` to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fail(pub(super) i32);

impl From<DfsError> for Fail {
    /// The error's `errno`; the error itself goes to the log (an `EIO`
    /// as an error, anything else at debug level).
    fn from(e: DfsError) -> Fail {
        let errno = e.errno();
        let level = if errno == libc::EIO {
            Level::Error
        } else {
            Level::Debug
        };
        log::log(level, format_args!("request failed: {e}"));
        Fail(errno)
    }
}

/// Logs a read or write of file `oid` that the engine failed with `rc`.
pub(super) fn log_io_failure(what: &str, oid: ObjId, offset: u64, len: u64, rc: i32) {
    let errno = der_to_errno(rc);
    let level = if errno == libc::EIO {
        Level::Error
    } else {
        Level::Debug
    };
    log::log(
        level,
        format_args!(
            "{what} of {len} bytes at {offset} of object {:#x}.{:#x} failed: {} (rc {rc})",
            oid.hi,
            oid.lo,
            std::io::Error::from_raw_os_error(errno)
        ),
    );
}

impl Fail {
    pub(super) fn errno(self) -> Errno {
        Errno::from_i32(self.0)
    }
}

pub(super) type R<T> = Result<T, Fail>;

pub(super) fn name_str(name: &OsStr) -> R<&str> {
    name.to_str().ok_or(Fail(libc::EINVAL))
}

pub(super) fn reply_entry(reply: ReplyEntry, ttl: Duration, r: R<FileAttr>) {
    match r {
        Ok(a) => reply.entry(&ttl, &a, Generation(0)),
        Err(e) => reply.error(e.errno()),
    }
}

pub(super) fn reply_empty(reply: ReplyEmpty, r: R<()>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e.errno()),
    }
}
