//! seed_write: the seed's note, end to end, on the embedded engine. As
//! the seed's application does with
//! `for i in {0..5}; do dd if=/dev/zero of=$i bs=1M count=100 oflag=direct; done`:
//!
//! 1. creates a 4 GiB pool (4 targets, one engine in this process, its
//!    device a sparse file in a storage directory) and a POSIX container;
//! 2. writes six files of 100 MiB, one 1 MiB `dfs_write` at a time (each
//!    acknowledged once durable, as `oflag=direct` waits for each write),
//!    printing each file's time and MiB/s; the data is a pattern stamped
//!    with its file and block, so a misplaced block would show;
//! 3. lists the files and the pool's space (`ls -l`, `df -h`);
//! 4. stops the engine, starts it again on the same pool (every target
//!    replays its WAL), mounts again and verifies every byte;
//! 5. prints the trace of the first write as a PlantUML sequence diagram
//!    in the seed's shape, from what ran (or writes it to `RDAOS_TRACE`).
//!
//! Ctrl-C (or SIGTERM) stops it between two writes or reads: it removes
//! its pool (and its temporary storage directory) and exits with status
//! 128 + the signal's number. A second Ctrl-C ends it at once.
//!
//! `cargo run --release --example seed_write -- [--mib N] [--files N] [--storage DIR] [--keep]`

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use rdaos::dfs::{Dfs, DfsAttr, DirCursor, OpenFlags};
use rdaos::obj::trace;
use rdaos::obj::transport::BulkRef;
use rdaos::size::{format_size, parse_size};
use rdaos::storage::{PoolCreateOpts, Storage};
use rdaos::tse::{Sched, Tracer};

#[path = "common/signals.rs"]
mod signals;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const MIB: u64 = 1 << 20;

/// The seed's write loop (six files of 100 MiB in 1 MiB direct writes)
/// through dfs on an embedded engine.
#[derive(Parser)]
struct Args {
    /// MiB per file (`dd count=`).
    #[arg(long, default_value_t = 100)]
    mib: u64,
    /// Files (named 0, 1, ...).
    #[arg(long, default_value_t = 6)]
    files: u64,
    /// The pool's size.
    #[arg(long, default_value = "4G", value_parser = parse_size)]
    pool_size: u64,
    /// Engine targets.
    #[arg(long, default_value_t = 4)]
    targets: u32,
    /// Storage directory for the pool (default: a new temporary one,
    /// removed at the end). Needs a file system with O_DIRECT.
    #[arg(long)]
    storage: Option<PathBuf>,
    /// Keep the pool (label `seed`) for `rdaos pool query seed --storage DIR`.
    #[arg(long, requires = "storage")]
    keep: bool,
}

/// Block `j` of file `i`: a byte pattern stamped with both.
fn block(i: u64, j: u64) -> Vec<u8> {
    let mut v: Vec<u8> = (0..MIB)
        .map(|b| (b as u8) ^ (i as u8).wrapping_mul(37) ^ (j as u8))
        .collect();
    v[..8].copy_from_slice(&i.to_le_bytes());
    v[8..16].copy_from_slice(&j.to_le_bytes());
    v
}

fn main() {
    if let Err(e) = signals::install() {
        eprintln!("seed_write: error: installing the SIGINT/SIGTERM handler: {e}");
        std::process::exit(1);
    }
    let r = run();
    // Whatever a signal cut short (an I/O wait it interrupted included),
    // the pool is gone by now: say so and exit as interrupted.
    if let Some(sig) = signals::caught() {
        eprintln!(
            "seed_write: {}: stopped; its pool is removed unless --keep was given",
            signals::Interrupted(sig)
        );
        std::process::exit(128 + sig);
    }
    if let Err(e) = r {
        eprintln!("seed_write: error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let a = Args::parse();
    if a.mib == 0 || a.files == 0 || a.targets == 0 {
        return Err("--mib, --files and --targets must be at least 1".into());
    }
    let temp = a.storage.is_none();
    let dir = a.storage.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("rdaos-seed-write-{}", std::process::id()))
    });
    let storage = Storage::open(&dir)?;
    // Removes the pool (and a temporary storage directory) however seed()
    // ends, a panic included (stdout closed early by `| head`).
    struct Cleanup<'a>(&'a Storage, bool, bool);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            if !self.1 {
                let _ = self.0.pool_destroy("seed");
                if self.2 {
                    let _ = std::fs::remove_dir_all(self.0.dir());
                }
            }
        }
    }
    let _cleanup = Cleanup(&storage, a.keep, temp);
    seed(&a, &storage)
}

fn seed(a: &Args, storage: &Storage) -> Res<()> {
    let t = Instant::now();
    let mut opts = PoolCreateOpts::new(a.pool_size);
    opts.targets_per_engine = a.targets;
    let info = storage.pool_create("seed", &opts)?;
    signals::check()?;
    println!(
        "pool seed: {}, {} targets, {} ({:.0} ms)",
        format_size(info.size),
        info.targets(),
        info.device.display(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let tracer = Tracer::new();
    let pool = storage.start_with(info.clone(), |c| c.tracer = Some(tracer.clone()))?;
    let sched = Sched::new();
    let cli = pool.client(&sched.handle());
    Dfs::mkfs(&cli, "posix", DfsAttr::default())?;
    let dfs = Dfs::mount(&cli, "posix")?;
    let attr = dfs.attr();
    println!(
        "container posix: POSIX, files {} in {} chunks, directories {}",
        attr.oclass,
        format_size(attr.chunk_size),
        attr.dir_oclass
    );

    let mut diagram = None;
    for i in 0..a.files {
        let bufs: Vec<BulkRef> = (0..a.mib).map(|j| BulkRef::from_vec(block(i, j))).collect();
        let flags = OpenFlags::write_only().create(0o644).trunc();
        let f = dfs.open(&dfs.root(), &i.to_string(), flags)?;
        let t = Instant::now();
        for (j, b) in bufs.into_iter().enumerate() {
            signals::check()?;
            if diagram.is_none() {
                tracer.clear();
                sched.handle().set_tracer("client", Some(tracer.clone()));
            }
            f.write(j as u64 * MIB, b)?;
            if diagram.is_none() {
                sched.handle().set_tracer("client", None);
                // The engine threads record their handler spans as those
                // complete, just after the reply: wait (briefly) for them.
                let spans =
                    trace::settled_spans(&tracer, "dfs_write", std::time::Duration::from_secs(2));
                diagram = Some(trace::op_diagram(&spans, "dfs_write")?);
            }
        }
        let s = t.elapsed().as_secs_f64();
        f.close()?;
        tracer.clear();
        println!(
            "{i}: {} MiB in {s:.3} s, {:.1} MiB/s",
            a.mib,
            a.mib as f64 / s
        );
    }

    // ls -l, df -h
    let mut cursor = Some(DirCursor::start());
    let mut names = Vec::new();
    while let Some(c) = cursor {
        let (batch, next) = dfs.readdir(&dfs.root(), &c, 64)?;
        names.extend(batch.into_iter().map(|e| e.name));
        cursor = next;
    }
    names.sort();
    for n in &names {
        let st = dfs.stat(&dfs.lookup_rel(&dfs.root(), n)?)?;
        println!("  -rw {:>12} {n}", st.size);
    }
    let fs = dfs.statfs()?;
    match (fs.capacity, fs.used) {
        (Some(c), Some(u)) => println!(
            "  pool: {} used of {} ({} free)",
            format_size(u),
            format_size(c),
            format_size(c.saturating_sub(u))
        ),
        _ => println!("  pool: {} targets (space not reported)", fs.targets),
    }
    drop(dfs);
    drop(cli);
    pool.stop()?;

    // Restart on the same device, remount, verify.
    let t = Instant::now();
    let pool = storage.start("seed")?;
    let cli = pool.client(&sched.handle());
    let dfs = Dfs::mount(&cli, "posix")?;
    println!(
        "engine restarted (WAL replayed) in {:.0} ms; verifying",
        t.elapsed().as_secs_f64() * 1e3
    );
    for i in 0..a.files {
        let f = dfs.open(&dfs.root(), &i.to_string(), OpenFlags::read_only())?;
        if f.size()? != a.mib * MIB {
            return Err(format!("file {i}: size {} after restart", f.size()?).into());
        }
        let t = Instant::now();
        for j in 0..a.mib {
            signals::check()?;
            if f.read(j * MIB, MIB)? != block(i, j) {
                return Err(format!("file {i}: block {j} differs after restart").into());
            }
        }
        println!(
            "{i}: verified {} MiB ({:.1} MiB/s read)",
            a.mib,
            a.mib as f64 / t.elapsed().as_secs_f64()
        );
        f.close()?;
    }
    drop(dfs);
    drop(cli);
    pool.stop()?;

    let diagram = diagram.ok_or("no write was traced")?;
    match trace::env_path() {
        Some(p) => {
            std::fs::write(&p, &diagram)?;
            println!("trace of the first write written to {}", p.display());
        }
        None => print!(
            "\ntrace of the first write (set {} to write it to a file):\n\n{diagram}",
            trace::TRACE_ENV
        ),
    }
    Ok(())
}
