//! Watching a context's device I/O: what was submitted and when each write
//! and flush completed. Crash models use it to rebuild what a device may
//! hold after a process kill or a power cut at any instant (see
//! `bio/tests/power_cut.rs`); nothing in the I/O path depends on it, and
//! an unwatched context pays one check per SQE.

/// Told about every write and flush a [`crate::BioCtx`] submits, and
/// about their completions, on the context's thread.
pub trait IoWatch {
    /// A write of `data` to device offset `off` was submitted; `id` names
    /// it in [`completed`](Self::completed).
    fn write_submitted(&self, id: u64, off: u64, data: &[u8]);
    /// A flush (fdatasync or NVMe Flush) was submitted.
    fn flush_submitted(&self, id: u64);
    /// The write or flush `id` completed with `rc` (0 or a `-DER_*`).
    fn completed(&self, id: u64, rc: i32);
}
