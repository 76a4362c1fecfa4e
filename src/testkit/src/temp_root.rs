//! [`TempRoot`]: a test's own directory under the system temp dir, removed on drop.

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Set this environment variable (to anything) when running tests to keep every temporary root for inspection
/// (each kept root's path is printed on stderr when it would have been removed).
pub const KEEP_ROOTS_ENV: &str = "OSCONFIG_TEST_KEEP_ROOTS";

/// The longest tag kept in a root's folder name, in characters.
pub const MAX_TAG_CHARS: usize = 20;

/// A fresh, empty directory `<temp>/osconfig-test-<tag>-<pid>-<n>` (unique per process and call), removed with
/// everything in it on drop unless [`TempRoot::keep`] was called or [`KEEP_ROOTS_ENV`] is set. The tag is cut to
/// [`MAX_TAG_CHARS`] so that socket paths under the root stay within the 108 bytes of `sun_path`.
///
/// It dereferences to its [`Path`], so `root.join("etc")` and `&root` as `&Path` work. Files a test has dlopen'ed
/// from it may be removed while loaded: the mapping outlives the file.
#[derive(Debug)]
pub struct TempRoot {
    path: PathBuf,
    keep: bool,
}

impl TempRoot {
    /// Creates the directory; `tag` names the test in the folder name.
    pub fn new(tag: &str) -> TempRoot {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag: String = tag.chars().take(MAX_TAG_CHARS).collect();
        let path = std::env::temp_dir().join(format!("osconfig-test-{tag}-{}-{n}", std::process::id()));
        // A leftover of an earlier process that had the same pid.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempRoot { path, keep: false }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory after the drop (prints its path on stderr then); for debugging a test.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Deref for TempRoot {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempRoot {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for TempRoot {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        if self.keep || std::env::var_os(KEEP_ROOTS_ENV).is_some() {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_temp_root_new_is_unique_empty_and_removed_on_drop() {
        let a = TempRoot::new("unit");
        let b = TempRoot::new("unit");
        assert_ne!(a.path(), b.path());
        assert!(a.starts_with(std::env::temp_dir()));
        assert_eq!(std::fs::read_dir(&a).unwrap().count(), 0);
        let long = TempRoot::new(&"x".repeat(200));
        assert!(long.as_os_str().len() < 80, "{}", long.display());
        std::fs::create_dir_all(a.join("etc/osconfig")).unwrap();
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }

    #[test]
    fn test_temp_root_keep_leaves_the_directory() {
        let mut root = TempRoot::new("unit-keep");
        root.keep();
        let path = root.path().to_path_buf();
        drop(root);
        assert!(path.is_dir());
        std::fs::remove_dir_all(path).unwrap();
    }
}
