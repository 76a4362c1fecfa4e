//! Fixtures for the unit tests: a fresh temporary root and files planted in it.

use std::fs;
use std::path::{Path, PathBuf};

/// A fresh, empty directory unique to this process and `tag`.
pub fn temp_root(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("osconfig-deviceinfo-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `data` at the device path `abs` under `root`, creating directories.
pub fn plant(root: &Path, abs: &str, data: &[u8]) {
    let path = resolver(root)(abs);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

/// What the module's `under_root` does, for a given root.
pub fn resolver(root: &Path) -> impl Fn(&str) -> PathBuf + '_ {
    move |abs| root.join(abs.trim_start_matches('/'))
}
