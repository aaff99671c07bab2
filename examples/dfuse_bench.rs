//! dfuse_bench: ordinary tools writing through a dfuse mount
//! (`rdaos::dfs::fuse`) against the same tools writing a file on the host
//! file system that holds the pool file, in one run.
//!
//! Cases:
//!
//! * `dd1m`: `dd if=/dev/zero bs=1M count=N oflag=direct` (MiB/s, wall
//!   time of the dd process), into a fresh file of the mount and into a
//!   fresh file beside the pool file.
//! * `rand4k`: `fio` 4 KiB random writes, `direct=1`, `iodepth=16`
//!   (`io_uring`, or `libaio` with `--ioengine libaio`), time based, on a
//!   file laid out first (IOPS).
//!
//! Two engines run in this process (each 1 engine x `--targets` targets
//! on an O_DIRECT pool file of its own), one per durability contract,
//! each behind its own mount. What each side promises when the tool's
//! write returns: on the host, `dd oflag=direct` and fio `direct=1`
//! (neither flushes) once the device completed the write, so a volatile
//! device cache may still hold it (on a virtio disk with a write-back
//! cache, it does); through the `device` mount (lines `CASE`) the same,
//! for the data and its WAL record; through the `flush` mount (lines
//! `CASE_flush`) once a flush after them completed too. Both mounts are
//! measured against the same host runs.
//!
//! `cargo run --release --example dfuse_bench -- [--dir D] [--mib N] [--fio-mib M] [--fio-secs S] [--rounds R] [--targets T] [--ioengine io_uring|libaio] [--max-write B] [--direct-io] [--small]`
//!
//! Each round runs the three sides (host, `device` mount, `flush` mount)
//! of both cases, rotating which goes first; the medians are reported
//! (the host side is noisy: its cache). With the third side the default
//! `--fio-secs` went from 10 to 7 to keep the run's length; dd keeps its
//! 1000 MiB, so that part takes half as long again.
//! `--small`: 100 MiB of dd and a 64 MiB / 3 s fio job. `--max-write`
//! and `--direct-io` set the [`DfuseConfig`] fields of those names.
//! Needs root, `/dev/fuse` and (for rand4k) `fio`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rdaos::bio::Durability;
use rdaos::dfs::errno::libc;
use rdaos::dfs::{Dfs, DfsAttr, Dfuse, DfuseConfig};
use rdaos::obj::cli::ObjClient;
use rdaos::obj::srv::{pool_create, Engine, EngineConfig};
use rdaos::tse::Sched;

struct Opts {
    dir: PathBuf,
    mib: u64,
    fio_mib: u64,
    fio_secs: u64,
    targets: u32,
    ioengine: String,
    max_write: u32,
    direct_io: bool,
    rounds: usize,
    chunk: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: dfuse_bench [--dir D] [--mib N] [--fio-mib M] [--fio-secs S] [--rounds R] \
         [--targets T] [--ioengine io_uring|libaio] [--max-write B] [--chunk-kib K] [--direct-io] [--small]"
    );
    std::process::exit(2)
}

fn parse() -> Opts {
    let mut o = Opts {
        dir: std::env::temp_dir(),
        mib: 1000,
        fio_mib: 256,
        fio_secs: 7,
        targets: 4,
        ioengine: "io_uring".into(),
        max_write: rdaos::dfs::fuse::DEFAULT_MAX_WRITE,
        direct_io: false,
        rounds: 3,
        chunk: rdaos::dfs::sb::DEFAULT_CHUNK_SIZE,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--bench" => continue,
            "--direct-io" => {
                o.direct_io = true;
                continue;
            }
            "--small" => {
                o.mib = 100;
                o.fio_mib = 64;
                o.fio_secs = 3;
                continue;
            }
            _ => {}
        }
        let v = it.next().unwrap_or_else(|| usage());
        let num = |v: &str| -> u64 {
            v.parse().ok().filter(|n| *n > 0).unwrap_or_else(|| {
                eprintln!("dfuse_bench: {k} needs a positive number, got {v:?}");
                std::process::exit(2)
            })
        };
        match k.as_str() {
            "--dir" => o.dir = PathBuf::from(&v),
            "--mib" => o.mib = num(&v),
            "--fio-mib" => o.fio_mib = num(&v),
            "--fio-secs" => o.fio_secs = num(&v),
            "--targets" => o.targets = u32::try_from(num(&v)).unwrap_or_else(|_| usage()),
            "--rounds" => o.rounds = usize::try_from(num(&v)).unwrap_or_else(|_| usage()),
            "--chunk-kib" => o.chunk = num(&v) << 10,
            "--max-write" => o.max_write = u32::try_from(num(&v)).unwrap_or_else(|_| usage()),
            "--ioengine" if v == "io_uring" || v == "libaio" => o.ioengine = v,
            _ => usage(),
        }
    }
    o
}

/// Lazily unmounts and removes the mount points when dropped (also on a
/// panic), and removes the bench's files.
struct Cleanup {
    mnts: Vec<PathBuf>,
    files: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for mnt in &self.mnts {
            if let Ok(c) = std::ffi::CString::new(mnt.as_os_str().as_encoded_bytes()) {
                // SAFETY: a NUL-terminated path alive across the call.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
            let _ = std::fs::remove_dir(mnt);
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// One contract's side: its engine on its own pool file, mounted.
struct Mounted {
    durability: Durability,
    engine: Engine,
    fs: Dfuse,
    mnt: PathBuf,
}

impl Mounted {
    /// Makes the pool `pool` of `bytes` bytes, starts an engine on it
    /// under contract `d`, makes the container and mounts it on `mnt`.
    fn start(o: &Opts, d: Durability, pool: &Path, bytes: u64, mnt: &Path) -> Mounted {
        std::fs::create_dir_all(mnt).expect("create the mount point");
        pool_create(pool, bytes, 0xdf5e, 1, o.targets).expect("pool_create");
        let mut ecfg = EngineConfig::new(pool, 1, o.targets);
        ecfg.bio.durability = d;
        let engine = Engine::start(ecfg).expect("engine start");
        {
            let s = Sched::new();
            let cli = ObjClient::new(&s.handle(), engine.transport());
            let attr = DfsAttr {
                chunk_size: o.chunk,
                ..DfsAttr::default()
            };
            Dfs::mkfs(&cli, "bench", attr).expect("mkfs");
        }
        let mut cfg = DfuseConfig::new(mnt, "bench", engine.transport());
        cfg.capacity_hint = Some(bytes);
        cfg.max_write = o.max_write;
        cfg.direct_io = o.direct_io;
        let fs = Dfuse::mount(cfg).expect("dfuse mount");
        Mounted {
            durability: d,
            engine,
            fs,
            mnt: mnt.to_path_buf(),
        }
    }

    /// The suffix of its result lines' case names.
    fn suffix(&self) -> &'static str {
        match self.durability {
            Durability::Flush => "_flush",
            _ => "",
        }
    }
}

/// Runs `cmd`; its stdout, or exits with its stderr.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        eprintln!("dfuse_bench: {cmd:?}: {e}");
        std::process::exit(1)
    });
    if !out.status.success() {
        eprintln!(
            "dfuse_bench: {cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dd ... oflag=direct` of `mib` MiB into `file`: MiB/s.
fn dd(file: &Path, mib: u64) -> f64 {
    let _ = std::fs::remove_file(file);
    let t0 = Instant::now();
    run(Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", file.display()))
        .args([
            "bs=1M",
            &format!("count={mib}"),
            "oflag=direct",
            "status=none",
        ]));
    let secs = t0.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(file);
    mib as f64 / secs
}

/// fio 4 KiB random writes, direct, iodepth 16, on `file`: write IOPS.
fn fio(file: &Path, o: &Opts) -> f64 {
    let _ = std::fs::remove_file(file);
    let out = run(Command::new("fio").args([
        "--name=rand4k",
        &format!("--filename={}", file.display()),
        &format!("--size={}M", o.fio_mib),
        "--bs=4k",
        "--rw=randwrite",
        &format!("--ioengine={}", o.ioengine),
        "--iodepth=16",
        "--direct=1",
        "--fallocate=none",
        "--time_based",
        &format!("--runtime={}", o.fio_secs),
        "--output-format=terse",
        "--terse-version=3",
    ]));
    let _ = std::fs::remove_file(file);
    // Terse v3: field 5 is the error, field 49 the write IOPS.
    let f: Vec<&str> = out.trim().split(';').collect();
    let iops = f.get(48).and_then(|s| s.parse::<f64>().ok());
    match (f.get(4), iops) {
        (Some(&"0"), Some(iops)) => iops,
        _ => {
            eprintln!("dfuse_bench: unexpected fio output: {out}");
            std::process::exit(1)
        }
    }
}

fn main() {
    let o = parse();
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/dev/fuse").exists() {
        eprintln!("dfuse_bench: needs root and /dev/fuse");
        std::process::exit(1);
    }
    let have_fio = Command::new("fio").arg("--version").output().is_ok();
    let pid = std::process::id();
    let contracts = [Durability::Device, Durability::Flush];
    let pool = |d: Durability| o.dir.join(format!("rdaos-dfuse-bench-{pid}-{d}.pool"));
    let mnt = |d: Durability| o.dir.join(format!("rdaos-dfuse-bench-{pid}-{d}.mnt"));
    let host = o.dir.join(format!("rdaos-dfuse-bench-{pid}.host"));
    let mut files: Vec<PathBuf> = contracts.iter().map(|&d| pool(d)).collect();
    files.push(host.clone());
    let _clean = Cleanup {
        mnts: contracts.iter().map(|&d| mnt(d)).collect(),
        files,
    };
    // Room for the dd file and the fio file, their WAL and metadata, and
    // versions not yet aggregated.
    let pool_bytes = ((o.mib + o.fio_mib) * 2 + 1024) << 20;
    let sides: Vec<Mounted> = contracts
        .iter()
        .map(|&d| {
            println!(
                "dfuse_bench: {d} pool {} ({} MiB, 1 engine x {} targets), mount {}",
                pool(d).display(),
                pool_bytes >> 20,
                o.targets,
                mnt(d).display()
            );
            Mounted::start(&o, d, &pool(d), pool_bytes, &mnt(d))
        })
        .collect();
    println!(
        "dfuse_bench: a write counts as done on the host (dd oflag=direct, fio direct=1, no \
         flush) once the device completed it; through the device mount the same; through \
         the flush mount once a flush after it completed"
    );

    let (mut dd_ours, mut dd_base) = (vec![Vec::new(); sides.len()], Vec::new());
    let (mut fio_ours, mut fio_base) = (vec![Vec::new(); sides.len()], Vec::new());
    // Side k of a round: 0 the host, i the mount sides[i - 1]; the first
    // one moves along each round.
    let n = sides.len() + 1;
    let order = |r: usize| (0..n).map(move |k| (r + k) % n);
    for r in 0..o.rounds {
        println!(
            "dfuse_bench: round {}/{}: dd1m {} MiB bs=1M oflag=direct",
            r + 1,
            o.rounds,
            o.mib
        );
        for side in order(r) {
            if side == 0 {
                let v = dd(&host, o.mib);
                println!("dfuse_bench:   dd1m host   {v:.1} MiB/s");
                dd_base.push(v);
                continue;
            }
            let m = &sides[side - 1];
            let before = m.fs.stats();
            let v = dd(&m.mnt.join("dd.dat"), o.mib);
            let after = m.fs.stats();
            let n = after.writes - before.writes;
            println!(
                "dfuse_bench:   dd1m {:<6} {v:.1} MiB/s ({n} FUSE writes of {} KiB average, \
                 at most {} I/Os in flight so far)",
                m.durability.name(),
                (after.write_bytes - before.write_bytes) / n.max(1) / 1024,
                after.max_io_inflight
            );
            dd_ours[side - 1].push(v);
        }
        if !have_fio {
            continue;
        }
        println!(
            "dfuse_bench: round {}/{}: rand4k fio {} MiB file, {} s, bs=4k randwrite \
             iodepth=16 direct=1 ioengine={}",
            r + 1,
            o.rounds,
            o.fio_mib,
            o.fio_secs,
            o.ioengine
        );
        for side in order(r) {
            if side == 0 {
                let v = fio(&host, &o);
                println!("dfuse_bench:   rand4k host   {v:.0} IOPS");
                fio_base.push(v);
                continue;
            }
            let m = &sides[side - 1];
            let v = fio(&m.mnt.join("fio.dat"), &o);
            println!(
                "dfuse_bench:   rand4k {:<6} {v:.0} IOPS (at most {} I/Os in flight so far)",
                m.durability.name(),
                m.fs.stats().max_io_inflight
            );
            fio_ours[side - 1].push(v);
        }
    }
    if !have_fio {
        println!("dfuse_bench: rand4k skipped: fio is not installed (apt-get install -y fio)");
    }

    let suffixes: Vec<&str> = sides.iter().map(Mounted::suffix).collect();
    for m in sides {
        m.fs.unmount().expect("unmount");
        m.engine.stop().expect("engine stop");
    }
    let base_dd = median(&mut dd_base);
    for (v, suffix) in dd_ours.iter_mut().zip(&suffixes) {
        let ours = median(v);
        println!(
            "dfuse_bench dd1m{suffix}: ours={ours:.1} baseline={base_dd:.1} ratio={:.2}",
            ours / base_dd
        );
    }
    if have_fio {
        let base = median(&mut fio_base);
        for (v, suffix) in fio_ours.iter_mut().zip(&suffixes) {
            let ours = median(v);
            println!(
                "dfuse_bench rand4k{suffix}: ours={ours:.0} baseline={base:.0} ratio={:.2}",
                ours / base
            );
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
