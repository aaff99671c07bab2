//! A hybrid logical clock (DAOS's `d_hlc`): 64-bit timestamps whose high
//! bits are physical nanoseconds and whose low 18 bits are a logical
//! counter, so every reading is unique and increasing, and a node that
//! hears a timestamp from the future moves its clock past it.
//!
//! Epochs are HLC timestamps. The engine accepts an epoch only within its
//! uncertainty window around its own clock; outside it the update is
//! refused with a retryable error and the client retries (tse reinit) with
//! a fresh epoch, as DAOS does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use vos::Epoch;

/// Bits of the logical counter.
pub const LOGICAL_BITS: u32 = 18;
const LOGICAL_MASK: u64 = (1 << LOGICAL_BITS) - 1;

/// Default tolerated clock difference between nodes (DAOS: 1 s).
pub const DEFAULT_EPSILON_NS: u64 = 1_000_000_000;

fn physical_now() -> u64 {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    ns & !LOGICAL_MASK
}

/// Converts an HLC timestamp to nanoseconds since the Unix epoch.
pub fn hlc2ns(hlc: Epoch) -> u64 {
    hlc & !LOGICAL_MASK
}

/// A node's hybrid logical clock. Shared by the threads of a process.
#[derive(Debug, Default)]
pub struct Hlc {
    last: AtomicU64,
}

/// Why an epoch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EpochError {
    /// The epoch is ahead of this node's clock by more than epsilon.
    #[error("epoch {epoch} is {ahead_ns} ns ahead of the engine's clock (epsilon {epsilon_ns})")]
    Future {
        /// The epoch.
        epoch: Epoch,
        /// By how much it is ahead.
        ahead_ns: u64,
        /// The tolerated difference.
        epsilon_ns: u64,
    },
    /// The epoch is older than the engine's acceptance window.
    #[error("epoch {epoch} is {behind_ns} ns behind the engine's clock (window {window_ns})")]
    Stale {
        /// The epoch.
        epoch: Epoch,
        /// By how much it is behind.
        behind_ns: u64,
        /// The window.
        window_ns: u64,
    },
}

impl Hlc {
    /// A clock starting now.
    pub fn new() -> Hlc {
        Hlc {
            last: AtomicU64::new(physical_now()),
        }
    }

    /// A new timestamp, greater than every one this clock returned or saw.
    pub fn now(&self) -> Epoch {
        let phys = physical_now();
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = if phys > last { phys } else { last + 1 };
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(x) => last = x,
            }
        }
    }

    /// Merges a timestamp received from another node: the clock moves past
    /// it (unless it is further ahead than `epsilon_ns`, which is refused).
    pub fn update(&self, remote: Epoch, epsilon_ns: u64) -> Result<Epoch, EpochError> {
        let phys = physical_now();
        if hlc2ns(remote) > phys + epsilon_ns {
            return Err(EpochError::Future {
                epoch: remote,
                ahead_ns: hlc2ns(remote) - phys,
                epsilon_ns,
            });
        }
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let next = last.max(remote).max(phys);
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(next),
                Err(x) => last = x,
            }
        }
    }

    /// The engine's `process_epoch` check: `epoch` must be no more than
    /// `epsilon_ns` ahead of this clock and no more than `window_ns`
    /// behind it.
    pub fn check_epoch(
        &self,
        epoch: Epoch,
        epsilon_ns: u64,
        window_ns: u64,
    ) -> Result<(), EpochError> {
        self.update(epoch, epsilon_ns)?;
        let now = hlc2ns(self.now());
        let e = hlc2ns(epoch);
        if now > e + window_ns {
            return Err(EpochError::Stale {
                epoch,
                behind_ns: now - e,
                window_ns,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_unique_and_increasing_across_threads() {
        let h = std::sync::Arc::new(Hlc::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || (0..10_000).map(|_| h.now()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = Vec::new();
        for t in threads {
            let v = t.join().unwrap();
            assert!(v.windows(2).all(|w| w[0] < w[1]));
            all.extend(v);
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn future_and_stale_epochs_are_refused() {
        let h = Hlc::new();
        let now = h.now();
        assert!(h
            .check_epoch(now, DEFAULT_EPSILON_NS, 10_000_000_000)
            .is_ok());
        let ahead = now + 5_000_000_000;
        assert!(matches!(
            h.check_epoch(ahead, DEFAULT_EPSILON_NS, u64::MAX / 2),
            Err(EpochError::Future { .. })
        ));
        // A small lead is accepted and the clock moves past it.
        let lead = now + (100_000_000u64 & !LOGICAL_MASK);
        h.check_epoch(lead, DEFAULT_EPSILON_NS, u64::MAX / 2)
            .unwrap();
        assert!(h.now() > lead);
        let old = now.saturating_sub(60_000_000_000);
        assert!(matches!(
            h.check_epoch(old, DEFAULT_EPSILON_NS, 1_000_000_000),
            Err(EpochError::Stale { .. })
        ));
    }
}
