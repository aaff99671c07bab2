//! What the cross-crate tests share: a pool file in the temp directory,
//! formatted for an engine, removed when dropped.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use rdaos::obj::srv::{pool_create, Engine, EngineConfig};

static POOLS: AtomicU32 = AtomicU32::new(0);

/// A 256 MiB pool of `engines x targets_per_engine` targets.
pub struct Pool {
    /// The pool file.
    pub path: PathBuf,
    /// Engines.
    pub engines: u32,
    /// Targets per engine.
    pub targets_per_engine: u32,
}

impl Pool {
    /// A fresh pool file named after `tag` (unique per process and call).
    pub fn new(tag: &str, engines: u32, targets_per_engine: u32) -> Pool {
        let n = POOLS.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("rdaos-{tag}-{}-{n}.pool", std::process::id()));
        let _ = std::fs::remove_file(&path);
        pool_create(
            &path,
            256 << 20,
            0xfeed + n as u128,
            engines,
            targets_per_engine,
        )
        .expect("pool_create");
        Pool {
            path,
            engines,
            targets_per_engine,
        }
    }

    /// The engine's configuration for this pool.
    pub fn config(&self) -> EngineConfig {
        EngineConfig::new(&self.path, self.engines, self.targets_per_engine)
    }

    /// Starts an engine on the pool.
    pub fn start(&self) -> Engine {
        Engine::start(self.config()).expect("engine start")
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Flips one byte in the middle of the first copy of `needle` found in
/// the file at `path` (read as the device holds it: no engine may run on
/// it), and returns the byte's offset. Panics if `needle` is not there.
pub fn corrupt_first(path: &std::path::Path, needle: &[u8]) -> u64 {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the device");
    let mut buf = vec![0u8; 8 << 20];
    let mut base = 0u64;
    let keep = needle.len() - 1;
    let mut have = 0;
    loop {
        let n = f.read(&mut buf[have..]).expect("read the device");
        if n == 0 {
            panic!("{} does not hold the pattern", path.display());
        }
        have += n;
        if let Some(i) = buf[..have].windows(needle.len()).position(|w| w == needle) {
            let off = base + (i + needle.len() / 2) as u64;
            let b = buf[i + needle.len() / 2] ^ 0xff;
            f.seek(SeekFrom::Start(off)).unwrap();
            f.write_all(&[b]).unwrap();
            f.sync_all().unwrap();
            return off;
        }
        // Keep the tail: the pattern may straddle two reads.
        if have > keep {
            buf.copy_within(have - keep..have, 0);
            base += (have - keep) as u64;
            have = keep;
        }
    }
}
