//! Space comes back as soon as nothing needs it (issue 19 item 5): a
//! rewrite right after an `rm` in a nearly full pool, an overwrite loop
//! of many times a small pool's size, `statfs` (`df`) used that drops
//! after a delete, and an ENOSPC from a striped pool that names the full
//! target. Through dfs on an in-process engine, and through a dfuse mount
//! (as root with `/dev/fuse`; skipped with a message otherwise).
//!
//! Nothing here is timed: where space comes back in the background, the
//! test waits for it (a bounded number of polls, only to turn a hang into
//! a failure) and counts what it sees.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rdaos::dfs::errno::libc;
use rdaos::dfs::{Dfs, DfsAttr, DfsError, Dfuse, DfuseConfig, OpenFlags};
use rdaos::obj::cli::ObjClient;
use rdaos::obj::oclass::ObjClass;
use rdaos::obj::srv::{pool_create, Engine, EngineConfig};
use rdaos::obj::transport::BulkRef;
use rdaos::tse::Sched;

const MIB: u64 = 1 << 20;

static POOLS: AtomicU32 = AtomicU32::new(0);

/// A small pool file, removed when dropped, with its engine.
struct Small {
    path: PathBuf,
    engine: Option<Engine>,
}

impl Small {
    fn new(tag: &str, size: u64, targets: u32) -> Small {
        let n = POOLS.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("rdaos-space-{tag}-{}-{n}.pool", std::process::id()));
        let _ = std::fs::remove_file(&path);
        pool_create(&path, size, 0x5ace + n as u128, 1, targets).expect("pool_create");
        // An epoch window far longer than any wait here: space that came
        // back only once a time-based horizon passed would never be seen.
        let mut cfg = EngineConfig::new(&path, 1, targets);
        cfg.window_ns = 300_000_000_000;
        let engine = Engine::start(cfg).expect("engine start");
        Small {
            path,
            engine: Some(engine),
        }
    }

    fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("running")
    }
}

impl Drop for Small {
    fn drop(&mut self) {
        if let Some(e) = self.engine.take() {
            let _ = e.stop();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A POSIX container `fs` of class `oclass` on the pool, mounted.
fn posix(cli: &ObjClient, oclass: ObjClass) -> Dfs {
    let attr = DfsAttr {
        oclass,
        ..DfsAttr::default()
    };
    Dfs::mkfs(cli, "fs", attr).expect("mkfs");
    Dfs::mount(cli, "fs").expect("mount")
}

/// Writes `len` bytes of `byte` to `name` in `dfs`'s root, 1 MiB at a
/// time.
fn write_file(dfs: &Dfs, name: &str, len: u64, byte: u8) -> Result<(), DfsError> {
    let f = dfs.create(&dfs.root(), name, 0o644, OpenFlags::read_write())?;
    let buf = BulkRef::from_vec(vec![byte; MIB as usize]);
    for off in (0..len).step_by(MIB as usize) {
        f.write(off, buf.clone())?;
    }
    f.close()
}

#[test]
fn a_rewrite_right_after_rm_in_a_nearly_full_pool_succeeds() {
    // One target of a 64 MiB pool: about 56 MiB of data space.
    let p = Small::new("rewrite", 64 * MIB, 1);
    let s = Sched::new();
    let cli = ObjClient::new(&s.handle(), p.engine().transport());
    let dfs = posix(&cli, ObjClass::SX);
    let total = cli.pool_query().unwrap().total;
    let len = total / MIB * MIB - 6 * MIB;
    assert!(len >= 40 * MIB, "data space {total}");
    for round in 0..3u8 {
        // Fill most of the pool, delete, and write as much again at once:
        // the space the delete freed is reclaimed by the write that needs
        // it, not 10-20 s later.
        write_file(&dfs, "big", len, round).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let f = dfs
            .open(&dfs.root(), "big", OpenFlags::read_only())
            .unwrap();
        let tail = f.read(len - MIB, MIB).unwrap();
        assert!(tail.iter().all(|&b| b == round), "round {round}");
        f.close().unwrap();
        dfs.unlink(&dfs.root(), "big").unwrap();
    }
    // Really full: ENOSPC, and the message says the pool is full.
    let err = write_file(&dfs, "huge", total + MIB, 9).unwrap_err();
    assert_eq!(err.errno(), libc::ENOSPC, "{err}");
    assert!(err.to_string().contains("the pool is full"), "{err}");
    drop(dfs);
}

#[test]
fn an_overwrite_loop_of_many_times_the_pool_size_succeeds() {
    let p = Small::new("overwrite", 64 * MIB, 1);
    let s = Sched::new();
    let cli = ObjClient::new(&s.handle(), p.engine().transport());
    let dfs = posix(&cli, ObjClass::SX);
    let total = cli.pool_query().unwrap().total;
    // A short-lived writer rewriting one 8 MiB file: ten times the data
    // space in all, far faster than any time-based horizon would free it.
    let f = dfs
        .create(&dfs.root(), "log", 0o644, OpenFlags::read_write())
        .unwrap();
    let rounds = 10 * total / (8 * MIB);
    for r in 0..rounds {
        let buf = BulkRef::from_vec(vec![r as u8; MIB as usize]);
        for off in (0..8 * MIB).step_by(MIB as usize) {
            f.write(off, buf.clone())
                .unwrap_or_else(|e| panic!("round {r} of {rounds}, offset {off}: {e}"));
        }
    }
    let last = (rounds - 1) as u8;
    assert!(f.read(0, 8 * MIB).unwrap().iter().all(|&b| b == last));
    f.close().unwrap();
    // Old versions do not pile up: at most the file and what the last
    // rounds left before the next reclaim.
    let used = cli.pool_query().unwrap().used();
    assert!(used < total, "used {used} of {total}");
    drop(dfs);
}

/// Polls `used` until it is below `limit`; the values seen. Bounded, only
/// so that a regression fails instead of hanging.
fn wait_used_below(mut used: impl FnMut() -> u64, limit: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    for _ in 0..600 {
        let u = used();
        seen.push(u);
        if u < limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    seen
}

#[test]
fn statfs_used_drops_after_a_delete() {
    let p = Small::new("statfs", 64 * MIB, 2);
    let s = Sched::new();
    let cli = ObjClient::new(&s.handle(), p.engine().transport());
    let dfs = posix(&cli, ObjClass::SX);
    let before = dfs.statfs().unwrap().used.unwrap();
    write_file(&dfs, "f", 16 * MIB, 1).unwrap();
    let full = dfs.statfs().unwrap().used.unwrap();
    assert!(full >= before + 16 * MIB, "{before} -> {full}");
    dfs.unlink(&dfs.root(), "f").unwrap();
    // Nothing else runs: the delete's space comes back on its own.
    let seen = wait_used_below(|| dfs.statfs().unwrap().used.unwrap(), before + MIB);
    let last = *seen.last().unwrap();
    assert!(
        last < before + MIB,
        "used after the delete, polled {} times: first {}, last {last} (before the write {before})",
        seen.len(),
        seen[0]
    );
    drop(dfs);
}

#[test]
fn a_striped_pool_says_which_target_is_full() {
    // Files of class S1 live on one target: that target fills while the
    // three others stay empty; the error says so.
    let p = Small::new("imbalance", 128 * MIB, 4);
    let s = Sched::new();
    let cli = ObjClient::new(&s.handle(), p.engine().transport());
    let dfs = posix(&cli, ObjClass::S1);
    let space = cli.pool_query().unwrap();
    let err = write_file(&dfs, "one", space.total, 3).unwrap_err();
    assert_eq!(err.errno(), libc::ENOSPC, "{err}");
    let msg = err.to_string();
    let full = cli
        .pool_query()
        .unwrap()
        .per_target
        .iter()
        .min_by_key(|(_, s)| s.free)
        .map(|(t, _)| format!("target {}.{} is full", t.engine, t.target))
        .unwrap();
    assert!(msg.contains(&full), "{msg}");
    assert!(
        msg.contains("while the other 3 targets still have"),
        "{msg}"
    );
    assert!(msg.contains(" MiB free"), "human sizes: {msg}");
    drop(dfs);
}

// ---- through a dfuse mount -------------------------------------------------

/// Why FUSE tests cannot run here, if they cannot.
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

/// A fresh mount point, lazily unmounted and removed when dropped.
struct MountDir(PathBuf);

impl MountDir {
    fn new(tag: &str) -> MountDir {
        let n = POOLS.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("rdaos-space-mnt-{tag}-{}-{n}", std::process::id()));
        lazy_umount(&path);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the mount point");
        MountDir(path)
    }
}

impl Drop for MountDir {
    fn drop(&mut self) {
        lazy_umount(&self.0);
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn lazy_umount(p: &Path) {
    if let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) {
        // SAFETY: a NUL-terminated path alive across the call.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Runs `script` with bash in `dir`: (success, stdout + stderr).
fn sh(dir: &Path, script: &str) -> (bool, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(dir)
        .output()
        .expect("run bash");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `df` used, in 1 KiB blocks, of the mount at `dir`.
fn df_used_kib(dir: &Path) -> u64 {
    let (ok, out) = sh(dir, "df --output=used -k . | tail -1");
    assert!(ok, "df: {out}");
    out.trim()
        .parse()
        .unwrap_or_else(|e| panic!("df said {out:?}: {e}"))
}

#[test]
fn in_a_mount_rm_then_rewrite_succeeds_and_df_used_drops() {
    if let Some(why) = no_fuse() {
        eprintln!("SKIP: FUSE test needs root and /dev/fuse: {why}");
        return;
    }
    let p = Small::new("mount", 64 * MIB, 1);
    {
        let s = Sched::new();
        let cli = ObjClient::new(&s.handle(), p.engine().transport());
        Dfs::mkfs(&cli, "fs", DfsAttr::default()).expect("mkfs");
    }
    let total = {
        let s = Sched::new();
        ObjClient::new(&s.handle(), p.engine().transport())
            .pool_query()
            .unwrap()
            .total
    };
    let mib = total / MIB - 6;
    let dir = MountDir::new("rm");
    let mut cfg = DfuseConfig::new(&dir.0, "fs", p.engine().transport());
    cfg.capacity_hint = Some(64 * MIB);
    let mount = Dfuse::mount(cfg).expect("dfuse mount");
    let empty = df_used_kib(&dir.0);
    // Nearly full, rm, and the same again at once, twice.
    for round in 0..2 {
        let (ok, out) = sh(
            &dir.0,
            &format!("dd if=/dev/zero of=big bs=1M count={mib} oflag=direct status=none"),
        );
        assert!(ok, "round {round}: write of {mib} MiB: {out}");
        let (ok, out) = sh(&dir.0, "rm big");
        assert!(ok, "round {round}: rm: {out}");
    }
    // Written once more and deleted: df's used comes back down to where
    // it started (within 1 MiB) once the delete's space is reclaimed.
    let (ok, out) = sh(
        &dir.0,
        "dd if=/dev/zero of=f bs=1M count=16 oflag=direct status=none",
    );
    assert!(ok, "{out}");
    let written = df_used_kib(&dir.0);
    assert!(written >= empty + 16 * 1024, "{empty} -> {written} KiB");
    let (ok, out) = sh(&dir.0, "rm f");
    assert!(ok, "{out}");
    let seen = wait_used_below(|| df_used_kib(&dir.0), empty + 1024);
    assert!(
        *seen.last().unwrap() < empty + 1024,
        "df used (KiB) after the delete, polled {} times: first {}, last {}; before the write {empty}",
        seen.len(),
        seen[0],
        seen.last().unwrap()
    );
    mount.unmount().expect("unmount");
}
