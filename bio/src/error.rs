//! The block layer's error type.

use tse::der;

/// What can go wrong in bio.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BioError {
    /// A system call failed.
    #[error("{what}: {source}")]
    Os {
        /// What was being done.
        what: String,
        /// The OS error, as errno.
        source: Errno,
    },
    /// io_uring could not be set up: disabled (`kernel.io_uring_disabled`),
    /// blocked by a seccomp profile, missing or too old in the kernel, or
    /// the locked-memory limit too low. Its own variant so that callers
    /// can explain it from the errno without reading the message.
    #[error("setting up io_uring: {0}")]
    RingSetup(#[source] Errno),
    /// An offset or length is not a multiple of the device's block size.
    #[error("{what} {value} is not a multiple of the {align}-byte block size")]
    Align {
        /// Which argument.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The alignment required.
        align: u64,
    },
    /// An I/O reaches past the end of the device or region.
    #[error("I/O [{off}, {end}) is past the end of the {cap}-byte device")]
    OutOfRange {
        /// Start.
        off: u64,
        /// End.
        end: u64,
        /// Capacity.
        cap: u64,
    },
    /// A bad argument.
    #[error("invalid argument: {0}")]
    Inval(String),
    /// The device is not what was asked for (e.g. not an NVMe namespace).
    #[error("unsupported device: {0}")]
    Unsupported(String),
    /// A write or flush of the WAL, or the data write of a record already
    /// logged, failed earlier: the log refuses further commits instead of
    /// guessing what reached the media.
    #[error("WAL poisoned by an earlier I/O failure (status {0})")]
    Poisoned(i32),
    /// The WAL lost records that it had acknowledged: its intact frames
    /// end before its acknowledged mark (damage, not a torn tail).
    #[error("{0}")]
    WalDamaged(crate::wal::WalDamage),
    /// The WAL has no room until a checkpoint trims it.
    #[error("WAL full: {need} blocks needed, {free} free (checkpoint to trim it)")]
    WalFull {
        /// Blocks the commit needs.
        need: u64,
        /// Blocks free.
        free: u64,
    },
}

impl BioError {
    pub(crate) fn os(what: impl Into<String>, errno: i32) -> BioError {
        BioError::Os {
            what: what.into(),
            source: Errno(errno),
        }
    }

    pub(crate) fn last_os(what: impl Into<String>) -> BioError {
        let e = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        BioError::os(what, e)
    }

    /// The DAOS-style status (`-DER_*`).
    pub fn rc(&self) -> i32 {
        match self {
            BioError::Os { .. } | BioError::RingSetup(_) => -der::DER_IO,
            BioError::WalFull { .. } => -der::DER_NOSPACE,
            BioError::Poisoned(_) => -der::DER_IO,
            BioError::WalDamaged(_) => -der::DER_IO,
            BioError::Unsupported(_) => -der::DER_NOSYS,
            _ => -der::DER_INVAL,
        }
    }
}

/// An errno value that prints as the system's message, number once:
/// `Operation not permitted (os error 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // std's message already ends with "(os error N)".
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_names_its_errno_once() {
        let m = BioError::os("setting up io_uring", libc::EPERM).to_string();
        assert_eq!(
            m,
            format!(
                "setting up io_uring: {}",
                std::io::Error::from_raw_os_error(libc::EPERM)
            )
        );
        assert_eq!(m.matches("os error 1").count(), 1, "{m}");
        assert!(!m.contains("errno"), "{m}");
    }

    #[test]
    fn a_ring_setup_failure_reads_as_before_and_keeps_its_errno() {
        use std::error::Error as _;
        let e = BioError::RingSetup(Errno(libc::EPERM));
        assert_eq!(
            e.to_string(),
            BioError::os("setting up io_uring", libc::EPERM).to_string()
        );
        let src = e.source().and_then(|s| s.downcast_ref::<Errno>());
        assert_eq!(src, Some(&Errno(libc::EPERM)));
        assert_eq!(e.rc(), -der::DER_IO);
    }
}
