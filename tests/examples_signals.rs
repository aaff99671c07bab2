//! Ctrl-C (SIGINT) or SIGTERM of `cargo run --example seed_write` while
//! it writes leaves nothing behind: no pool, no temporary storage
//! directory; it exits with status 128 + the signal.
//!
//! Runs the built example: `$SEED_WRITE_BIN` if set (CI sets it to the
//! release build after `cargo build --release --examples`), else
//! `examples/seed_write` of this test's own profile, which `cargo test`
//! builds beside the tests. Without either, it says so and passes.

// Test helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The built example, if there is one.
fn seed_write() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SEED_WRITE_BIN") {
        return Some(PathBuf::from(p));
    }
    // This test runs as target/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().ok()?;
    let profile = exe.parent()?.parent()?;
    let p = profile.join("examples").join("seed_write");
    p.is_file().then_some(p)
}

/// Every entry under `dir`, as paths relative to it.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out
}

#[test]
fn seed_write_removes_its_pool_on_sigint_and_sigterm() {
    let Some(bin) = seed_write() else {
        eprintln!(
            "SKIP: no built seed_write example (cargo build --example seed_write, \
             or set SEED_WRITE_BIN)"
        );
        return;
    };
    assert!(
        bin.is_file(),
        "SEED_WRITE_BIN {} is not a file",
        bin.display()
    );
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        // Its temporary storage directory goes in a TMPDIR of our own.
        let tmp =
            std::env::temp_dir().join(format!("rdaos-seed-signal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let _gone = Gone(tmp.clone());
        let mut child = Command::new(&bin)
            .args(["--pool-size", "1G", "--mib", "100", "--files", "6"])
            .env("TMPDIR", &tmp)
            .env_remove("RDAOS_TRACE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run seed_write");
        // Wait until it writes: the container is made, the pool is there.
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            let n = out.read_line(&mut line).unwrap();
            assert!(n > 0, "seed_write ended before writing: {seen}");
            seen += &line;
            if line.starts_with("container posix:") {
                break;
            }
        }
        let pools: Vec<PathBuf> = entries(&tmp);
        assert!(
            pools.iter().any(|p| p.ends_with("seed/pool.dev")),
            "no pool while writing: {pools:?}"
        );
        // SAFETY: kill sends a signal to our own child; no memory is touched.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        // Drain stdout so the example never blocks on a full pipe.
        std::io::copy(&mut out, &mut std::io::sink()).unwrap();
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(128 + sig), "{name}: {err}");
        assert!(err.contains(&format!("interrupted by {name}")), "{err}");
        let left = entries(&tmp);
        assert!(left.is_empty(), "{name} left {left:?} in {}", tmp.display());
    }
}

/// Removes a directory when dropped (what a failed run left included).
struct Gone(PathBuf);

impl Drop for Gone {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
