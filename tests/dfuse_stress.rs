//! dfuse under concurrent load (issue 20 item 1, "a wedge"): for each of
//! several seeds, on one in-process mount at once,
//!
//! * appenders: threads that each open one shared file with `O_APPEND`
//!   and append small lines of seeded lengths, one `write(2)` per line
//!   (the wedge's shape: thousands of tiny extents in one file);
//! * readers: threads that read the appended file whole, again and
//!   again, and `stat` it and list the mount's root;
//! * a writer: seeded `pwrite`s of seeded lengths into a second file,
//!   mirrored in memory;
//! * directory churn: threads that create, read back, list and unlink
//!   files in one directory.
//!
//! At the end of each seed every byte is checked (each appended line
//! exactly once, in each appender's order; the written file against its
//! model; the directory against the files kept), and once more after an
//! unmount and a remount of the same pool (fresh kernel and daemon
//! caches).
//!
//! Every file-system call runs under a watch: a call that takes longer
//! than [`OP_TIMEOUT`] fails the test (naming the call) instead of
//! hanging it. The test asserts no rate or duration. Each seed starts
//! with the appenders' burst, then runs the mixed load for a third of
//! `RDAOS_STRESS_SECS` (default 30): about a minute in all.
//!
//! Needs root and `/dev/fuse` (as in CI); otherwise it prints why and
//! passes without doing anything.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdaos::dfs::errno::libc;
use rdaos::dfs::{Dfs, DfsAttr, Dfuse, DfuseConfig};
use rdaos::obj::cli::ObjClient;
use rdaos::obj::srv::{pool_create, Engine, EngineConfig};
use rdaos::tse::Sched;

const CONT: &str = "posix";
/// Seeds, run one after the other on the same mount.
const SEEDS: [u64; 3] = [0x5eed_0001, 0x5eed_0002, 0x5eed_0003];
/// Longest any one file-system call may take before the test fails.
const OP_TIMEOUT: Duration = Duration::from_secs(30);
const APPENDERS: u64 = 4;
/// Lines each appender appends first, before anyone else starts: the
/// issue's burst, a little smaller (4 x 1,200 appends, then reads: one
/// read of them is still more extents than a target has DMA blocks).
const BURST: u64 = 1200;
const READERS: u64 = 2;
const CHURNERS: u64 = 2;
/// Size of the pwrite file.
const RW_SIZE: u64 = 256 << 10;

// Readers racing the appends see every byte the kernel counts in the
// file: no line may read as zeros (it once could, until the file was
// opened again: an open threw the page cache away under an append in
// flight; the daemon now opens files with FOPEN_KEEP_CACHE).

/// A 1 GiB pool file of 1 engine x 4 targets (every tiny append takes a
/// block), removed when dropped.
struct Pool(PathBuf);

impl Pool {
    fn new() -> Pool {
        let path = std::env::temp_dir().join(format!("rdaos-stress-{}.pool", std::process::id()));
        let _ = std::fs::remove_file(&path);
        pool_create(&path, 1 << 30, 0x57e55, 1, 4).expect("pool_create");
        Pool(path)
    }

    fn start(&self) -> Engine {
        Engine::start(EngineConfig::new(&self.0, 1, 4)).expect("engine start")
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Why the test cannot run here, if it cannot.
fn no_fuse() -> Option<String> {
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    None
}

/// A small deterministic generator (xorshift64*).
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Line `i` of appender `w` under `seed`: the appender, the index and a
/// seeded pad, so any line read back can be checked by itself. Short
/// (about 10 bytes), as the wedge's were: a read of one page-cache window
/// then spans thousands of appends, each its own extent.
fn line(seed: u64, w: u64, i: u64) -> String {
    let mut r = Rng::new(seed ^ (w << 40) ^ i);
    let pad = r.below(6) as usize;
    let c = (b'a' + (r.below(26) as u8)) as char;
    format!("{w}{i:x} {}\n", c.to_string().repeat(pad))
}

/// Parses a line of the appended file: `(appender, index)` if it is one
/// of `seed`'s lines, byte for byte.
fn parse(seed: u64, l: &str) -> Option<(u64, u64)> {
    let head = l.split(' ').next()?;
    let w = head.get(..1)?.parse().ok()?;
    let i = u64::from_str_radix(head.get(1..)?, 16).ok()?;
    (w < APPENDERS && format!("{l}\n") == line(seed, w, i)).then_some((w, i))
}

/// What each worker is doing: the call in progress and since when (ms
/// since `t0`; 0: between calls).
struct Beat {
    name: String,
    since_ms: AtomicU64,
    what: Mutex<String>,
}

/// The workers' beats, checked by the test's thread.
#[derive(Clone)]
struct Watch {
    t0: Instant,
    beats: Arc<Mutex<Vec<Arc<Beat>>>>,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            t0: Instant::now(),
            beats: Arc::default(),
        }
    }

    fn beat(&self, name: String) -> Arc<Beat> {
        let b = Arc::new(Beat {
            name,
            since_ms: AtomicU64::new(0),
            what: Mutex::new(String::new()),
        });
        self.beats.lock().unwrap().push(b.clone());
        b
    }

    fn now_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64 + 1
    }

    /// Runs file-system call `what` under `b`'s watch.
    fn op<T>(&self, b: &Beat, what: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
        *b.what.lock().unwrap() = what();
        b.since_ms.store(self.now_ms(), Ordering::SeqCst);
        let r = f();
        b.since_ms.store(0, Ordering::SeqCst);
        r
    }

    /// The first call over [`OP_TIMEOUT`], described.
    fn overdue(&self) -> Option<String> {
        let now = self.now_ms();
        self.beats.lock().unwrap().iter().find_map(|b| {
            let since = b.since_ms.load(Ordering::SeqCst);
            let age = Duration::from_millis(now.saturating_sub(since));
            (since != 0 && age > OP_TIMEOUT).then(|| {
                format!(
                    "{}: {} has not returned after {:?}",
                    b.name,
                    b.what.lock().unwrap(),
                    age
                )
            })
        })
    }
}

/// Waits for `threads` while watching every call they make; the first
/// overdue call, or a worker's panic, fails the test.
fn join_watched(watch: &Watch, threads: Vec<std::thread::JoinHandle<()>>) -> Result<(), String> {
    loop {
        if let Some(o) = watch.overdue() {
            return Err(o);
        }
        if threads.iter().all(|t| t.is_finished()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in threads {
        if let Err(p) = t.join() {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Err(format!("a worker failed: {msg}"));
        }
    }
    Ok(())
}

/// What one seed left behind, to check after a remount.
struct Expect {
    app: PathBuf,
    lines: u64,
    rw: PathBuf,
    rw_model: Vec<u8>,
    dir: PathBuf,
    files: BTreeMap<String, Vec<u8>>,
}

fn churn_bytes(seed: u64, name: &str) -> Vec<u8> {
    let mut r = Rng::new(
        seed ^ name
            .bytes()
            .fold(0u64, |a, b| a.wrapping_mul(31) ^ b as u64),
    );
    let n = r.below(9000) as usize;
    (0..n).map(|_| r.next() as u8).collect()
}

/// One seed's run on `mnt` for about `secs`.
fn run_seed(watch: &Watch, mnt: &Path, seed: u64, secs: Duration) -> Result<Expect, String> {
    let app = mnt.join(format!("app-{seed:x}"));
    let rw = mnt.join(format!("rw-{seed:x}"));
    let dir = mnt.join(format!("dir-{seed:x}"));
    std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    File::create(&rw)
        .and_then(|f| f.set_len(RW_SIZE))
        .map_err(|e| format!("create {}: {e}", rw.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    // Appenders done with their burst; the others start at APPENDERS.
    let burst = Arc::new(AtomicU64::new(0));
    let wait_burst = {
        let (burst, stop) = (burst.clone(), stop.clone());
        move || {
            while burst.load(Ordering::SeqCst) < APPENDERS && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };
    let counts: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    let rw_model = Arc::new(Mutex::new(vec![0u8; RW_SIZE as usize]));
    let kept: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
    let mut threads = Vec::new();
    let spawn = |threads: &mut Vec<_>, f: Box<dyn FnOnce() + Send>| {
        threads.push(std::thread::spawn(f));
    };

    for w in 0..APPENDERS {
        let (watch, app, stop, counts) = (watch.clone(), app.clone(), stop.clone(), counts.clone());
        let burst = burst.clone();
        spawn(
            &mut threads,
            Box::new(move || {
                let b = watch.beat(format!("seed {seed:x} appender {w}"));
                let mut f = watch
                    .op(
                        &b,
                        || "open O_APPEND".into(),
                        || OpenOptions::new().append(true).create(true).open(&app),
                    )
                    .expect("open the appended file");
                let mut i = 0;
                while i < BURST || !stop.load(Ordering::Relaxed) {
                    if i == BURST {
                        burst.fetch_add(1, Ordering::SeqCst);
                    }
                    let l = line(seed, w, i);
                    let n = watch
                        .op(&b, || format!("append line {i}"), || f.write(l.as_bytes()))
                        .expect("append");
                    assert_eq!(n, l.len(), "a short append");
                    i += 1;
                }
                if i <= BURST {
                    burst.fetch_add(1, Ordering::SeqCst);
                }
                watch.op(&b, || "close".into(), || drop(f));
                counts.lock().unwrap().insert(w, i);
            }),
        );
    }

    for r in 0..READERS {
        let (watch, app, stop) = (watch.clone(), app.clone(), stop.clone());
        let root = mnt.to_path_buf();
        let wait_burst = wait_burst.clone();
        spawn(
            &mut threads,
            Box::new(move || {
                wait_burst();
                let b = watch.beat(format!("seed {seed:x} reader {r}"));
                let mut last = vec![0u64; APPENDERS as usize];
                while !stop.load(Ordering::Relaxed) {
                    let data = match watch.op(
                        &b,
                        || "read the appended file".into(),
                        || std::fs::read(&app),
                    ) {
                        Ok(d) => d,
                        // Not created yet.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => panic!("read the appended file: {e}"),
                    };
                    // Complete lines only: an append may be under way.
                    let end = data.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
                    let text = std::str::from_utf8(&data[..end]).expect("utf-8 lines");
                    let mut seen = vec![None::<u64>; APPENDERS as usize];
                    for l in text.lines() {
                        // Whole lines only, never zeros where an append
                        // went.
                        assert!(
                            !l.contains('\0'),
                            "seed {seed:x}: a reader saw zeros in line {l:?} of a {} byte read",
                            data.len()
                        );
                        let (w, i) = parse(seed, l).unwrap_or_else(|| panic!("a bad line {l:?}"));
                        let prev = &mut seen[w as usize];
                        assert!(
                            prev.is_none_or(|p| p < i),
                            "appender {w}: line {i} out of order"
                        );
                        *prev = Some(i);
                    }
                    for (w, s) in seen.iter().enumerate() {
                        let n = s.map_or(0, |i| i + 1);
                        assert!(
                            n >= last[w],
                            "appender {w}: lines vanished ({n} < {})",
                            last[w]
                        );
                        last[w] = n;
                    }
                    watch
                        .op(&b, || "stat the appended file".into(), || app.metadata())
                        .expect("stat");
                    let n = watch
                        .op(
                            &b,
                            || "list the mount".into(),
                            || std::fs::read_dir(&root).map(|d| d.count()),
                        )
                        .expect("readdir");
                    assert!(n >= 3);
                }
            }),
        );
    }

    {
        let (watch, rw, stop, model) = (watch.clone(), rw.clone(), stop.clone(), rw_model.clone());
        let wait_burst = wait_burst.clone();
        spawn(
            &mut threads,
            Box::new(move || {
                wait_burst();
                let b = watch.beat(format!("seed {seed:x} writer"));
                let f = watch
                    .op(
                        &b,
                        || "open rw".into(),
                        || OpenOptions::new().read(true).write(true).open(&rw),
                    )
                    .expect("open rw");
                let mut rng = Rng::new(seed ^ 0x77);
                let mut buf = vec![0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    let len = 1 + rng.below(3000) as usize;
                    let off = rng.below(RW_SIZE - len as u64);
                    let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    watch
                        .op(
                            &b,
                            || format!("pwrite {len} at {off}"),
                            || f.write_all_at(&data, off),
                        )
                        .expect("pwrite");
                    model.lock().unwrap()[off as usize..off as usize + len].copy_from_slice(&data);
                    // Read back what this thread alone writes.
                    let n = len.min(buf.len());
                    watch
                        .op(
                            &b,
                            || format!("pread {n} at {off}"),
                            || f.read_exact_at(&mut buf[..n], off),
                        )
                        .expect("pread");
                    assert!(buf[..n] == data[..n], "pread after pwrite at {off}");
                }
                watch
                    .op(&b, || "fsync rw".into(), || f.sync_all())
                    .expect("fsync");
            }),
        );
    }

    for c in 0..CHURNERS {
        let (watch, dir, stop, kept) = (watch.clone(), dir.clone(), stop.clone(), kept.clone());
        let wait_burst = wait_burst.clone();
        spawn(
            &mut threads,
            Box::new(move || {
                wait_burst();
                let b = watch.beat(format!("seed {seed:x} churner {c}"));
                let mut rng = Rng::new(seed ^ (0xc0 + c));
                let mut mine: Vec<String> = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if mine.len() > 8 && rng.below(3) == 0 {
                        let k = rng.below(mine.len() as u64) as usize;
                        let name = mine.swap_remove(k);
                        let p = dir.join(&name);
                        watch
                            .op(&b, || format!("unlink {name}"), || std::fs::remove_file(&p))
                            .expect("unlink");
                        kept.lock().unwrap().remove(&name);
                        continue;
                    }
                    let name = format!("f-{c}-{i}");
                    i += 1;
                    let data = churn_bytes(seed, &name);
                    let p = dir.join(&name);
                    watch
                        .op(
                            &b,
                            || format!("create {name}"),
                            || {
                                OpenOptions::new()
                                    .write(true)
                                    .create_new(true)
                                    .mode(0o644)
                                    .open(&p)
                                    .and_then(|mut f| f.write_all(&data))
                            },
                        )
                        .expect("create");
                    let back = watch
                        .op(&b, || format!("read {name}"), || std::fs::read(&p))
                        .expect("read back");
                    assert!(back == data, "{name} read back differs");
                    let names = watch
                        .op(
                            &b,
                            || "list the directory".into(),
                            || {
                                std::fs::read_dir(&dir).and_then(|d| {
                                    d.map(|e| e.map(|e| e.file_name()))
                                        .collect::<Result<Vec<_>, _>>()
                                })
                            },
                        )
                        .expect("readdir");
                    assert!(
                        names.iter().any(|n| n.to_str() == Some(name.as_str())),
                        "{name} not listed"
                    );
                    kept.lock().unwrap().insert(name.clone(), data);
                    mine.push(name);
                }
            }),
        );
    }

    // The mixed load runs `secs` once the burst is in.
    let mut t0 = Instant::now();
    let mut mixed = false;
    while !mixed || t0.elapsed() < secs {
        if !mixed && burst.load(Ordering::SeqCst) >= APPENDERS {
            (mixed, t0) = (true, Instant::now());
        }
        if let Some(o) = watch.overdue() {
            stop.store(true, Ordering::Relaxed);
            return Err(o);
        }
        if threads.iter().any(|t| t.is_finished()) {
            // A worker failed early: stop the others and report it.
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    join_watched(watch, threads)?;
    let lines: u64 = counts.lock().unwrap().values().sum();
    eprintln!("seed {seed:x}: {lines} lines appended");
    let e = Expect {
        app,
        lines,
        rw,
        rw_model: rw_model.lock().unwrap().clone(),
        dir,
        files: kept.lock().unwrap().clone(),
    };
    let counts = counts.lock().unwrap().clone();
    check(watch, seed, &e, Some(&counts))?;
    Ok(e)
}

/// Every byte `e` says the mount holds, read under the watch.
fn check(
    watch: &Watch,
    seed: u64,
    e: &Expect,
    counts: Option<&HashMap<u64, u64>>,
) -> Result<(), String> {
    let b = watch.beat(format!("seed {seed:x} check"));
    let run = |what: String, f: Box<dyn FnOnce() -> Result<(), String> + Send>| {
        let (watch, b) = (watch.clone(), b.clone());
        let h = std::thread::spawn(move || watch.op(&b, || what, f));
        join_result(watch_join(h))
    };
    let (app, lines) = (e.app.clone(), e.lines);
    let counts = counts.cloned();
    run(
        format!("read and check {}", e.app.display()),
        Box::new(move || {
            let data = std::fs::read(&app).map_err(|e| format!("read: {e}"))?;
            let text = std::str::from_utf8(&data).map_err(|_| "not utf-8".to_string())?;
            if !text.is_empty() && !text.ends_with('\n') {
                return Err("a torn last line".into());
            }
            let mut next = vec![0u64; APPENDERS as usize];
            let mut n = 0u64;
            for l in text.lines() {
                let (w, i) = parse(seed, l).ok_or_else(|| format!("a bad line {l:?}"))?;
                if i != next[w as usize] {
                    return Err(format!(
                        "appender {w}: line {i} where {} was due",
                        next[w as usize]
                    ));
                }
                next[w as usize] += 1;
                n += 1;
            }
            if n != lines {
                return Err(format!("{n} lines, {lines} appended"));
            }
            if let Some(c) = counts {
                for (w, k) in c {
                    if next[w as usize] != k {
                        return Err(format!(
                            "appender {w}: {} lines, {k} appended",
                            next[w as usize]
                        ));
                    }
                }
            }
            Ok(())
        }),
    )
    .map_err(|m| format!("seed {seed:x}, appended file: {m}"))?;
    let (rw, model) = (e.rw.clone(), e.rw_model.clone());
    run(
        format!("read and check {}", e.rw.display()),
        Box::new(move || {
            let data = std::fs::read(&rw).map_err(|e| format!("read: {e}"))?;
            if data != model {
                let at = data.iter().zip(&model).position(|(a, b)| a != b);
                return Err(format!("{} bytes, first difference at {at:?}", data.len()));
            }
            Ok(())
        }),
    )
    .map_err(|m| format!("seed {seed:x}, pwrite file: {m}"))?;
    let (dir, files) = (e.dir.clone(), e.files.clone());
    run(
        format!("list and check {}", e.dir.display()),
        Box::new(move || {
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .map_err(|e| format!("readdir: {e}"))?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("readdir: {e}"))?;
            names.sort();
            let want: Vec<String> = files.keys().cloned().collect();
            if names != want {
                return Err(format!("{} names listed, {} kept", names.len(), want.len()));
            }
            for (name, data) in &files {
                let got = std::fs::read(dir.join(name)).map_err(|e| format!("read {name}: {e}"))?;
                if &got != data {
                    return Err(format!("{name} differs"));
                }
            }
            Ok(())
        }),
    )
    .map_err(|m| format!("seed {seed:x}, directory: {m}"))?;
    Ok(())
}

/// Joins a checking thread under the watch of [`OP_TIMEOUT`].
fn watch_join(
    h: std::thread::JoinHandle<Result<(), String>>,
) -> Result<std::thread::Result<Result<(), String>>, String> {
    let t0 = Instant::now();
    while !h.is_finished() {
        if t0.elapsed() > OP_TIMEOUT {
            return Err(format!("a check has not returned after {OP_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(h.join())
}

fn join_result(r: Result<std::thread::Result<Result<(), String>>, String>) -> Result<(), String> {
    match r {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err("the check panicked".into()),
        Err(e) => Err(e),
    }
}

fn mkfs(engine: &Engine) {
    let s = Sched::new();
    let cli = ObjClient::new(&s.handle(), engine.transport());
    Dfs::mkfs(&cli, CONT, DfsAttr::default()).expect("mkfs");
}

fn mount(engine: &Engine, mnt: &Path) -> Dfuse {
    let mut cfg = DfuseConfig::new(mnt, CONT, engine.transport());
    cfg.capacity_hint = Some(256 << 20);
    cfg.request_timeout = OP_TIMEOUT;
    Dfuse::mount(cfg).expect("dfuse mount")
}

fn lazy_umount(p: &Path) {
    if let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) {
        // SAFETY: a NUL-terminated path alive across the call.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The FUSE connection number of the mount at `mnt` (its device's
/// minor), from `/proc/self/mountinfo`.
fn fuse_conn(mnt: &Path) -> Option<String> {
    let p = mnt.canonicalize().ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(4).copied() == p.to_str())
        .and_then(|f| f.get(2)?.split(':').nth(1).map(str::to_string))
}

/// Aborts FUSE connection `conn` (fusectl, mounted if it is not): every
/// request it holds fails, so threads of this process stuck on the mount
/// return and the process can exit even though its own daemon is wedged.
fn abort_conn(conn: &str) {
    let dir = Path::new("/sys/fs/fuse/connections");
    if !dir.join(conn).exists() {
        let (src, fs) = (c"fusectl", c"fusectl");
        if let Ok(target) = std::ffi::CString::new("/sys/fs/fuse/connections") {
            // SAFETY: NUL-terminated strings alive across the call; no data.
            unsafe {
                libc::mount(
                    src.as_ptr(),
                    target.as_ptr(),
                    fs.as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
        }
    }
    let _ = std::fs::write(dir.join(conn).join("abort"), "1");
}

#[test]
fn concurrent_appends_writes_reads_and_directory_churn_never_wedge() {
    if let Some(why) = no_fuse() {
        eprintln!("SKIP: FUSE test needs root and /dev/fuse: {why}");
        return;
    }
    let secs = std::env::var("RDAOS_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(30)
        .max(3);
    let per_seed = Duration::from_secs(secs) / SEEDS.len() as u32;
    let pool = Pool::new();
    let mnt = std::env::temp_dir().join(format!("rdaos-dfuse-stress-{}", std::process::id()));
    lazy_umount(&mnt);
    let _ = std::fs::remove_dir_all(&mnt);
    std::fs::create_dir_all(&mnt).expect("create the mount point");
    // On a failure the daemon may be wedged: its engine and mount are
    // then left to the process's exit instead of hanging in their drops.
    let engine = ManuallyDrop::new(pool.start());
    mkfs(&engine);
    let fs = ManuallyDrop::new(mount(&engine, &mnt));
    let conn = Mutex::new(fuse_conn(&mnt));
    let watch = Watch::new();
    let fail = |m: String| -> ! {
        if let Some(c) = conn.lock().unwrap().as_deref() {
            abort_conn(c);
        }
        lazy_umount(&mnt);
        panic!("{m}");
    };
    let mut expect = Vec::new();
    for seed in SEEDS {
        match run_seed(&watch, &mnt, seed, per_seed) {
            Ok(e) => expect.push((seed, e)),
            Err(m) => fail(format!("seed {seed:x}: {m}")),
        }
    }
    // Unmount and mount again: the kernel's and the daemon's caches are
    // gone, every byte comes from the pool.
    if let Err(e) = ManuallyDrop::into_inner(fs).unmount() {
        fail(format!("unmount: {e}"));
    }
    let fs = ManuallyDrop::new(mount(&engine, &mnt));
    *conn.lock().unwrap() = fuse_conn(&mnt);
    for (seed, e) in &expect {
        if let Err(m) = check(&watch, *seed, e, None) {
            fail(format!("after the remount: {m}"));
        }
    }
    ManuallyDrop::into_inner(fs).unmount().expect("unmount");
    ManuallyDrop::into_inner(engine)
        .stop()
        .expect("engine stop");
    let _ = std::fs::remove_dir(&mnt);
}
