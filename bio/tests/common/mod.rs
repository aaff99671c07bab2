//! Helpers shared by bio's integration tests.

use std::path::PathBuf;

/// A file under the temp dir (ext4 here, so O_DIRECT works), removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A fresh path for `tag`, unique to this process.
    pub fn new(tag: &str) -> TempFile {
        let p = std::env::temp_dir().join(format!("rdaos-bio-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempFile(p)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
