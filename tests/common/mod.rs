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
