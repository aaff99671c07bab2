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
//! The engine runs in this process (1 engine x `--targets` targets on an
//! O_DIRECT pool file); every write it acknowledges is durable (data,
//! then its WAL record, flushed). The host baseline is whatever the host
//! file system acknowledges: on a virtio disk with a write-back cache,
//! that is the cache.
//!
//! `cargo run --release --example dfuse_bench -- [--dir D] [--mib N] [--fio-mib M] [--fio-secs S] [--rounds R] [--targets T] [--ioengine io_uring|libaio] [--max-write B] [--direct-io] [--small]`
//!
//! Each round runs both sides of both cases, alternating which side goes
//! first; the medians are reported (the host side is noisy: its cache).
//! `--small`: 100 MiB of dd and a 64 MiB / 3 s fio job. `--max-write`
//! and `--direct-io` set the [`DfuseConfig`] fields of those names.
//! Needs root, `/dev/fuse` and (for rand4k) `fio`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

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
        fio_secs: 10,
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

/// Lazily unmounts and removes the mount point when dropped (also on a
/// panic), and removes the bench's files.
struct Cleanup {
    mnt: PathBuf,
    files: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(c) = std::ffi::CString::new(self.mnt.as_os_str().as_encoded_bytes()) {
            // SAFETY: a NUL-terminated path alive across the call.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = std::fs::remove_dir(&self.mnt);
        for f in &self.files {
            let _ = std::fs::remove_file(f);
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
    let pool = o.dir.join(format!("rdaos-dfuse-bench-{pid}.pool"));
    let host = o.dir.join(format!("rdaos-dfuse-bench-{pid}.host"));
    let mnt = o.dir.join(format!("rdaos-dfuse-bench-{pid}.mnt"));
    let _clean = Cleanup {
        mnt: mnt.clone(),
        files: vec![pool.clone(), host.clone()],
    };
    std::fs::create_dir_all(&mnt).expect("create the mount point");
    // Room for the dd file and the fio file, their WAL and metadata, and
    // versions not yet aggregated.
    let pool_bytes = ((o.mib + o.fio_mib) * 2 + 1024) << 20;
    println!(
        "dfuse_bench: pool {} ({} MiB, 1 engine x {} targets), mount {}",
        pool.display(),
        pool_bytes >> 20,
        o.targets,
        mnt.display()
    );
    pool_create(&pool, pool_bytes, 0xdf5e, 1, o.targets).expect("pool_create");
    let engine = Engine::start(EngineConfig::new(&pool, 1, o.targets)).expect("engine start");
    {
        let s = Sched::new();
        let cli = ObjClient::new(&s.handle(), engine.transport());
        let attr = DfsAttr {
            chunk_size: o.chunk,
            ..DfsAttr::default()
        };
        Dfs::mkfs(&cli, "bench", attr).expect("mkfs");
    }
    let mut cfg = DfuseConfig::new(&mnt, "bench", engine.transport());
    cfg.capacity_hint = Some(pool_bytes);
    cfg.max_write = o.max_write;
    cfg.direct_io = o.direct_io;
    let fs = Dfuse::mount(cfg).expect("dfuse mount");

    let dd_file = mnt.join("dd.dat");
    let fio_file = mnt.join("fio.dat");
    let (mut dd_ours, mut dd_base) = (Vec::new(), Vec::new());
    let (mut fio_ours, mut fio_base) = (Vec::new(), Vec::new());
    for r in 0..o.rounds {
        // Alternate which side goes first.
        let ours_first = r % 2 == 1;
        println!(
            "dfuse_bench: round {}/{}: dd1m {} MiB bs=1M oflag=direct",
            r + 1,
            o.rounds,
            o.mib
        );
        for side in [ours_first, !ours_first] {
            if side {
                let before = fs.stats();
                let v = dd(&dd_file, o.mib);
                let after = fs.stats();
                let n = after.writes - before.writes;
                println!(
                    "dfuse_bench:   dd1m dfuse {v:.1} MiB/s ({n} FUSE writes of {} KiB average, \
                     at most {} I/Os in flight so far)",
                    (after.write_bytes - before.write_bytes) / n.max(1) / 1024,
                    after.max_io_inflight
                );
                dd_ours.push(v);
            } else {
                let v = dd(&host, o.mib);
                println!("dfuse_bench:   dd1m host  {v:.1} MiB/s");
                dd_base.push(v);
            }
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
        for side in [ours_first, !ours_first] {
            if side {
                let v = fio(&fio_file, &o);
                println!(
                    "dfuse_bench:   rand4k dfuse {v:.0} IOPS (at most {} I/Os in flight so far)",
                    fs.stats().max_io_inflight
                );
                fio_ours.push(v);
            } else {
                let v = fio(&host, &o);
                println!("dfuse_bench:   rand4k host  {v:.0} IOPS");
                fio_base.push(v);
            }
        }
    }
    if !have_fio {
        println!("dfuse_bench: rand4k skipped: fio is not installed (apt-get install -y fio)");
    }

    fs.unmount().expect("unmount");
    engine.stop().expect("engine stop");
    let (ours_dd, base_dd) = (median(&mut dd_ours), median(&mut dd_base));
    println!(
        "dfuse_bench dd1m: ours={ours_dd:.1} baseline={base_dd:.1} ratio={:.2}",
        ours_dd / base_dd
    );
    if have_fio {
        let (ours, base) = (median(&mut fio_ours), median(&mut fio_base));
        println!(
            "dfuse_bench rand4k: ours={ours:.0} baseline={base:.0} ratio={:.2}",
            ours / base
        );
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
