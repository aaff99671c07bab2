//! Status codes and the crate's error type.
//!
//! A task's result is an `i32` status as in DAOS: `0` is success and a
//! negative value is `-DER_*`. The [`der`] module holds the codes rdaos uses
//! (same numbers as DAOS's `daos_errno.h`), and [`Error`] is the typed form
//! that the Rust API returns.

/// DAOS error numbers (`DER_*`), positive. A task fails with `-der::DER_X`.
pub mod der {
    /// No permission / operation not allowed in this state.
    pub const DER_NO_PERM: i32 = 1001;
    /// Invalid parameters.
    pub const DER_INVAL: i32 = 1003;
    /// Entity already exists.
    pub const DER_EXIST: i32 = 1004;
    /// Nonexistent entity.
    pub const DER_NONEXIST: i32 = 1005;
    /// No space left on storage target.
    pub const DER_NOSPACE: i32 = 1007;
    /// Out of memory (or a bounded resource, such as the task stack, is full).
    pub const DER_NOMEM: i32 = 1009;
    /// Function not implemented / not supported.
    pub const DER_NOSYS: i32 = 1010;
    /// Time out.
    pub const DER_TIMEDOUT: i32 = 1011;
    /// Device or resource busy.
    pub const DER_BUSY: i32 = 1012;
    /// Try again.
    pub const DER_AGAIN: i32 = 1013;
    /// Incompatible protocol.
    pub const DER_PROTO: i32 = 1014;
    /// Data too long for the buffer or type.
    pub const DER_OVERFLOW: i32 = 1017;
    /// Operation canceled.
    pub const DER_CANCELED: i32 = 1018;
    /// Generic I/O error.
    pub const DER_IO: i32 = 2001;
    /// The pool map or layout is stale.
    pub const DER_STALE: i32 = 2007;
    /// Operation now in progress (retry later).
    pub const DER_INPROGRESS: i32 = 2018;
    /// Checksum error: data read back does not match its checksum.
    pub const DER_CSUM: i32 = 2021;
    /// The transaction (epoch) must restart, e.g. an epoch outside the
    /// engine's uncertainty window.
    pub const DER_TX_RESTART: i32 = 2025;
    /// NVMe I/O error.
    pub const DER_NVME_IO: i32 = 2033;
}

/// The `DER_*` name of a status (`rc` negative or positive), e.g.
/// `"DER_TX_RESTART"`; `"DER_UNKNOWN"` for a code rdaos does not define.
pub fn der_name(rc: i32) -> &'static str {
    use der::*;
    match rc.unsigned_abs() as i32 {
        0 => "success",
        DER_NO_PERM => "DER_NO_PERM",
        DER_INVAL => "DER_INVAL",
        DER_EXIST => "DER_EXIST",
        DER_NONEXIST => "DER_NONEXIST",
        DER_NOSPACE => "DER_NOSPACE",
        DER_NOMEM => "DER_NOMEM",
        DER_NOSYS => "DER_NOSYS",
        DER_TIMEDOUT => "DER_TIMEDOUT",
        DER_BUSY => "DER_BUSY",
        DER_AGAIN => "DER_AGAIN",
        DER_PROTO => "DER_PROTO",
        DER_OVERFLOW => "DER_OVERFLOW",
        DER_CANCELED => "DER_CANCELED",
        DER_IO => "DER_IO",
        DER_STALE => "DER_STALE",
        DER_INPROGRESS => "DER_INPROGRESS",
        DER_CSUM => "DER_CSUM",
        DER_TX_RESTART => "DER_TX_RESTART",
        DER_NVME_IO => "DER_NVME_IO",
        _ => "DER_UNKNOWN",
    }
}

/// What can go wrong when driving tasks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The task completed with a non-zero status (`-DER_*`).
    #[error("task failed with status {0}")]
    Failed(i32),
    /// The task was canceled (its scheduler was torn down, or it was aborted
    /// with `-DER_CANCELED`).
    #[error("task canceled")]
    Canceled,
    /// The operation is not allowed in the task's or scheduler's current state.
    #[error("not permitted: {0}")]
    NoPerm(&'static str),
    /// A bad argument.
    #[error("invalid argument: {0}")]
    Inval(&'static str),
    /// `stack_push` would exceed the task's argument-stack budget.
    #[error("task stack full: {need} bytes needed, {free} of {cap} free")]
    StackFull {
        /// Bytes the pushed value needs (rounded up to 8).
        need: usize,
        /// Bytes still free.
        free: usize,
        /// Capacity of the stack in bytes.
        cap: usize,
    },
    /// `stack_pop` on an empty stack.
    #[error("task stack empty")]
    StackEmpty,
    /// `stack_pop::<T>` found a value of another type on top (it is left there).
    #[error("task stack holds another type on top")]
    StackType,
}

impl Error {
    /// The DAOS-style status for this error (always negative).
    pub fn rc(&self) -> i32 {
        match self {
            Error::Failed(rc) => *rc,
            Error::Canceled => -der::DER_CANCELED,
            Error::NoPerm(_) => -der::DER_NO_PERM,
            Error::Inval(_) | Error::StackEmpty | Error::StackType => -der::DER_INVAL,
            Error::StackFull { .. } => -der::DER_NOMEM,
        }
    }

    /// The typed error for a task status; `None` for success (`0`).
    pub fn from_rc(rc: i32) -> Option<Error> {
        match rc {
            0 => None,
            rc if rc == -der::DER_CANCELED => Some(Error::Canceled),
            rc => Some(Error::Failed(rc)),
        }
    }
}

/// `Ok(())` for status `0`, the typed error otherwise.
pub fn rc_to_result(rc: i32) -> Result<(), Error> {
    match Error::from_rc(rc) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc_round_trips_through_error() {
        assert_eq!(rc_to_result(0), Ok(()));
        assert_eq!(rc_to_result(-der::DER_CANCELED), Err(Error::Canceled));
        assert_eq!(Error::Canceled.rc(), -der::DER_CANCELED);
        assert_eq!(rc_to_result(-der::DER_IO).unwrap_err().rc(), -der::DER_IO);
        let full = Error::StackFull {
            need: 16,
            free: 8,
            cap: 880,
        };
        assert_eq!(full.rc(), -der::DER_NOMEM);
        assert!(full.to_string().contains("16 bytes needed"));
        assert_eq!(der_name(-der::DER_CSUM), "DER_CSUM");
        assert_eq!(der::DER_CSUM, 2021);
    }
}
