//! What the dfs examples share: an embedded engine on a pool file of their
//! own with a POSIX container mounted on the caller's thread, and latency
//! percentiles.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdaos::dfs::{Dfs, DfsAttr, File};
use rdaos::obj::cli::ObjClient;
use rdaos::obj::srv::{pool_create, Engine, EngineConfig};
use rdaos::obj::transport::BulkRef;
use rdaos::tse::{Eq, Sched, SchedHandle};

/// Any error, with its message, for `main`'s `?`.
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// An engine on a fresh pool file, and a client with a mounted POSIX
/// container on this thread. Stopping (or dropping) removes the pool file.
pub struct Embedded {
    engine: Option<Engine>,
    /// The mounted container.
    pub dfs: Dfs,
    /// The client (on this thread's scheduler).
    pub cli: ObjClient,
    sched: Sched,
    path: PathBuf,
}

impl Embedded {
    /// Formats `path` as a pool of `size` bytes and `targets` targets on
    /// one engine, starts the engine and mounts a new POSIX container
    /// `label` with `attr`.
    pub fn start(path: &Path, size: u64, targets: u32, label: &str, attr: DfsAttr) -> Res<Self> {
        let _ = std::fs::remove_file(path);
        pool_create(path, size, 0xe4a3_91d2, 1, targets)?;
        let engine = Engine::start(EngineConfig::new(path, 1, targets))?;
        let sched = Sched::new();
        let cli = ObjClient::new(&sched.handle(), engine.transport());
        Dfs::mkfs(&cli, label, attr)?;
        let dfs = Dfs::mount(&cli, label)?;
        Ok(Embedded {
            engine: Some(engine),
            dfs,
            cli,
            sched,
            path: path.to_path_buf(),
        })
    }

    /// This thread's scheduler (run futures with `block_on`).
    pub fn sched(&self) -> SchedHandle {
        self.sched.handle()
    }

    /// Unmounts, stops the engine (every target drains and closes) and
    /// removes the pool file.
    pub fn stop(mut self) -> Res<()> {
        if let Some(e) = self.engine.take() {
            e.stop()?;
        }
        Ok(())
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(e) = self.engine.take() {
            let _ = e.stop();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The `p`-th percentile (0..=100) of `sorted` (nearest rank); 0 if empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A small deterministic generator (xorshift64*), for random offsets
/// without a dependency.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next value below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Keeps up to `qd` writes of `bs` bytes in flight on `f` through the
/// event queue `eq` (each finished write launches the next in its slot):
/// `next()` gives each write's offset, `None` or the `deadline` ends the
/// run; `on_done` gets each write's latency in ns. Returns the number of
/// writes and the seconds they took. Fails on the first failed write.
pub fn drive(
    f: &File,
    eq: &Eq,
    qd: usize,
    bs: usize,
    mut next: impl FnMut() -> Option<u64>,
    deadline: Option<Instant>,
    mut on_done: impl FnMut(u64),
) -> Res<(u64, f64)> {
    // One buffer, a slice of it per slot: no allocation per write.
    let buf = BulkRef::from_vec((0..bs * qd).map(|i| (i * 7 + 1) as u8).collect());
    let mut started = vec![Instant::now(); qd];
    let launch = |slot: usize, off: u64, started: &mut [Instant]| -> Res<()> {
        started[slot] = Instant::now();
        f.write_ev(eq, slot as u64, off, buf.slice(slot * bs, bs)?)?;
        Ok(())
    };
    let t0 = Instant::now();
    for slot in 0..qd {
        match next() {
            Some(off) => launch(slot, off, &mut started)?,
            None => break,
        }
    }
    let mut done = 0u64;
    while eq.inflight() > 0 {
        for ev in eq.poll(qd, Some(Duration::from_secs(30))) {
            if ev.rc != 0 {
                return Err(format!("a write failed with {}", ev.rc).into());
            }
            let slot = ev.user_data as usize;
            on_done(started[slot].elapsed().as_nanos() as u64);
            done += 1;
            if deadline.is_none_or(|d| Instant::now() < d) {
                if let Some(off) = next() {
                    launch(slot, off, &mut started)?;
                }
            }
        }
    }
    Ok((done, t0.elapsed().as_secs_f64()))
}
