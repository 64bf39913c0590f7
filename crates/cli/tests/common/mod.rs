//! What the CLI's test binaries share (`mod common;`). Not every binary uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A directory of this test process's own under the system's temporary directory, removed with what the
/// test wrote in it when dropped, so that test runs leave nothing behind (a failing one included).
pub struct TempDir(PathBuf);

impl TempDir {
    /// `archrace-<name>-<pid>`: `name` tells apart the tests of one process, which run in parallel.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("archrace-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `bytes` to the file `name` in the directory; its path, as a command-line argument.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
