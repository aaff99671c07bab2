//! What the dfs examples share: an embedded engine on a pool file of their
//! own with a POSIX container mounted on the caller's thread, latency
//! percentiles, and fio as the baseline the benchmarks run beside ours.
//!
//! What each side of a write benchmark promises when it counts a write as
//! done: fio with `direct=1` (and `dd oflag=direct`) once the device
//! completed the write, with no flush, so a volatile device cache may
//! still hold it; that is what our `device` contract promises. Our
//! `flush` contract promises more: a flush issued after the write (shared
//! by every update of a group commit) completed. fio with `--fdatasync=1`
//! is the like-for-like baseline of that, one flush per write.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdaos::bio::{DevOpts, Device, Durability, WriteCache};
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
    /// The contract the engine keeps (`Auto` resolved).
    pub durability: Durability,
    /// What the pool's device says of its write cache.
    pub cache: WriteCache,
    sched: Sched,
    path: PathBuf,
}

impl Embedded {
    /// Formats `path` as a pool of `size` bytes and `targets` targets on
    /// one engine, starts the engine and mounts a new POSIX container
    /// `label` with `attr`; the engine keeps the durability contract
    /// `durability`.
    pub fn start(
        path: &Path,
        size: u64,
        targets: u32,
        label: &str,
        attr: DfsAttr,
        durability: Durability,
    ) -> Res<Self> {
        let _ = std::fs::remove_file(path);
        pool_create(path, size, 0xe4a3_91d2, 1, targets)?;
        let (in_force, cache) = in_force(path, durability)?;
        let mut cfg = EngineConfig::new(path, 1, targets);
        cfg.bio.durability = durability;
        let engine = Engine::start(cfg)?;
        let sched = Sched::new();
        let cli = ObjClient::new(&sched.handle(), engine.transport());
        Dfs::mkfs(&cli, label, attr)?;
        let dfs = Dfs::mount(&cli, label)?;
        Ok(Embedded {
            engine: Some(engine),
            dfs,
            cli,
            durability: in_force,
            cache,
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

/// The contract `d` comes to on the device at `path` (`Auto` resolved
/// against its write cache), and what the device says of that cache.
pub fn in_force(path: &Path, d: Durability) -> Res<(Durability, WriteCache)> {
    let cache = Device::open(path, &DevOpts::default())?.write_cache();
    Ok((d.resolve(cache.clone()), cache))
}

/// The contracts a write benchmark measures, each against the same
/// baseline (fio or dd with O_DIRECT and no flush): `device` promises
/// what that baseline promises, `flush` more.
pub const CONTRACTS: [Durability; 2] = [Durability::Device, Durability::Flush];

/// The suffix of a result line's case name for contract `d`: none for
/// `device`, `_flush` for `flush`.
pub fn case_suffix(d: Durability) -> &'static str {
    match d {
        Durability::Flush => "_flush",
        _ => "",
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

/// The median of `v` (the upper one of an even count); `v` not empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Installs fio with apt-get if it is missing (as root); `who` names the
/// program in the message.
pub fn ensure_fio(who: &str) -> Res<()> {
    if Command::new("fio").arg("--version").output().is_ok() {
        return Ok(());
    }
    println!("{who}: fio not found; installing it with apt-get");
    let ok = Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fio >/dev/null"])
        .status()?
        .success();
    if !ok {
        return Err("fio is needed for the baseline: apt-get install fio".into());
    }
    Ok(())
}

/// One fio job with io_uring and O_DIRECT on a fresh `file` of
/// `size_mib` MiB, removed afterwards.
pub struct FioJob<'a> {
    /// The file fio makes and uses.
    pub file: &'a Path,
    /// Its size in MiB.
    pub size_mib: u64,
    /// Block size in bytes.
    pub bs: u64,
    /// Queue depth.
    pub qd: usize,
    /// fio's `--rw`: `write`, `randwrite`, `read`, `randread`.
    pub rw: &'a str,
    /// Seconds for a time-based run, `None` for one pass over the file.
    pub secs: Option<f64>,
    /// More options.
    pub extra: &'a [&'a str],
}

impl FioJob<'_> {
    /// Runs the job: the MiB/s and operations per second of its reads
    /// (for a read job; fio lays the file out first, untimed) or writes.
    pub fn run(&self) -> Res<(f64, f64)> {
        let _ = std::fs::remove_file(self.file);
        let mut cmd = Command::new("fio");
        cmd.args([
            "--name=rdaos_bench",
            "--direct=1",
            "--ioengine=io_uring",
            "--minimal",
        ])
        .arg(format!("--filename={}", self.file.display()))
        .arg(format!("--size={}M", self.size_mib))
        .arg(format!("--bs={}", self.bs))
        .arg(format!("--iodepth={}", self.qd))
        .arg(format!("--rw={}", self.rw))
        .args(self.extra);
        if let Some(s) = self.secs {
            cmd.arg("--time_based").arg(format!("--runtime={s}"));
        }
        let out = cmd.output()?;
        let _ = std::fs::remove_file(self.file);
        if !out.status.success() {
            return Err(format!("fio failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        // Terse output, version 3: fields 6 and 7 are the read bandwidth
        // (KiB/s) and IOPS, 47 and 48 the write ones.
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = text.trim().split(';').collect();
        let field = |i: usize| -> Res<f64> {
            Ok(f.get(i).ok_or("fio: short terse output")?.parse::<f64>()?)
        };
        let at = if self.rw.contains("read") { 6 } else { 47 };
        Ok((field(at)? / 1024.0, field(at + 1)?))
    }
}

/// Fails unless `dir` exists and takes O_DIRECT files (tmpfs may not).
pub fn check_dir(dir: &Path) -> Res<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let probe = dir.join(format!(".rdaos-bench-{}", std::process::id()));
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .custom_flags(rdaos::dfs::errno::libc::O_DIRECT)
        .open(&probe);
    let _ = std::fs::remove_file(&probe);
    r.map(|_| ()).map_err(|e| {
        format!(
            "{}: cannot open files with O_DIRECT there: {e}",
            dir.display()
        )
        .into()
    })
}
