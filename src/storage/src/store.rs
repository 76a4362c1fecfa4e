//! A directory of small key/value files.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::atomic::{context, sync_dir, write_atomic};
use crate::paths::state_base_dir;

/// Longest accepted key (and module name) in bytes; leaves room for the temporary-file prefix and suffix within the
/// usual 255-byte file name limit.
pub const MAX_KEY_LEN: usize = 200;

/// Mode of directories the store creates.
const DIR_MODE: u32 = 0o700;

/// Mode of value files.
const FILE_MODE: u32 = 0o600;

/// A directory holding one file per key. Values are written atomically with mode `0600`.
///
/// A `Store` is only a path: it is cheap to clone and any number of them may point at the same directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The state store of `module`: `<state base>/<module>/` where the base is env `OSCONFIG_STATE_DIR` or
    /// `<root>/var/lib/osconfig` (see [`crate::state_base_dir`]). Created (mode `0700`) if missing.
    ///
    /// `module` must be a valid key (see [`validate_key`]).
    pub fn for_module(module: &str) -> io::Result<Store> {
        validate_key(module).map_err(|e| context(e, format_args!("module name {module:?}")))?;
        Store::open(&state_base_dir().join(module))
    }

    /// A store in `dir`, created with its missing parents (mode `0700`) if needed. An existing directory keeps its
    /// mode.
    pub fn open(dir: &Path) -> io::Result<Store> {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|e| context(e, format_args!("creating state directory {}", dir.display())))?;
        Ok(Store { dir: dir.to_path_buf() })
    }

    /// The value of `key`, or `Ok(None)` if it was never written (or was removed).
    pub fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        let path = self.path_of(key)?;
        match fs::read(&path) {
            Ok(data) => Ok(Some(data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(context(e, format_args!("reading {}", path.display()))),
        }
    }

    /// Replace the value of `key` atomically (mode `0600`); see [`write_atomic`].
    pub fn write(&self, key: &str, data: &[u8]) -> io::Result<()> {
        write_atomic(&self.path_of(key)?, data, FILE_MODE)
    }

    /// Delete `key`. Removing a missing key is not an error.
    pub fn remove(&self, key: &str) -> io::Result<()> {
        let path = self.path_of(key)?;
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(context(e, format_args!("removing {}", path.display()))),
        }
    }

    /// The directory of this store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, key: &str) -> io::Result<PathBuf> {
        validate_key(key)?;
        Ok(self.dir.join(key))
    }
}

/// Check that `key` is a plain file name: 1 to [`MAX_KEY_LEN`] bytes, no `/`, no NUL, no `..` and no leading `.`
/// (names starting with `.` are the store's temporary files). Fails with [`io::ErrorKind::InvalidInput`].
pub fn validate_key(key: &str) -> io::Result<()> {
    let problem = if key.is_empty() {
        Some("is empty")
    } else if key.len() > MAX_KEY_LEN {
        Some("is too long")
    } else if key.contains('/') {
        Some("contains '/'")
    } else if key.contains('\0') {
        Some("contains NUL")
    } else if key.contains("..") {
        Some("contains '..'")
    } else if key.starts_with('.') {
        Some("starts with '.'")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(p) => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid key {key:?}: {p}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::temp_dir;
    use crate::paths::{ROOT_ENV, STATE_DIR_ENV};
    use std::os::unix::fs::PermissionsExt;

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn test_open_creates_dir_0700() {
        let base = temp_dir("open");
        let dir = base.join("a/b");
        let store = Store::open(&dir).unwrap();
        assert_eq!(store.dir(), dir.as_path());
        assert!(dir.is_dir());
        assert_eq!(mode_of(&dir), 0o700);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn test_open_existing_dir_keeps_mode() {
        let base = temp_dir("existing");
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755)).unwrap();
        Store::open(&base).unwrap();
        assert_eq!(mode_of(&base), 0o755);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn test_read_missing_key_is_none() {
        let base = temp_dir("missing");
        let store = Store::open(&base).unwrap();
        assert_eq!(store.read("nothing").unwrap(), None);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn test_write_read_roundtrip_mode_0600() {
        let base = temp_dir("roundtrip");
        let store = Store::open(&base).unwrap();
        store.write("k", b"v1").unwrap();
        assert_eq!(store.read("k").unwrap().as_deref(), Some(&b"v1"[..]));
        store.write("k", b"").unwrap();
        assert_eq!(store.read("k").unwrap().as_deref(), Some(&b""[..]));
        assert_eq!(mode_of(&base.join("k")), 0o600);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn test_remove_deletes_and_is_idempotent() {
        let base = temp_dir("remove");
        let store = Store::open(&base).unwrap();
        store.write("k", b"v").unwrap();
        store.remove("k").unwrap();
        assert_eq!(store.read("k").unwrap(), None);
        store.remove("k").unwrap();
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn test_validate_key_bad_keys_rejected() {
        let long = "x".repeat(MAX_KEY_LEN + 1);
        for bad in ["", "a/b", "/abs", "..", "a..b", ".hidden", ".", "nul\0", long.as_str()] {
            let err = validate_key(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        for good in ["a", "client-1", "Azure OSConfig 5;1.0.1", "x.json", &"y".repeat(MAX_KEY_LEN)] {
            validate_key(good).unwrap();
        }
    }

    #[test]
    fn test_store_bad_keys_rejected_everywhere() {
        let base = temp_dir("badkeys");
        let store = Store::open(&base).unwrap();
        assert_eq!(store.write("../escape", b"x").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(store.read("a/b").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(store.remove("").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert!(!base.parent().unwrap().join("escape").exists());
        fs::remove_dir_all(&base).unwrap();
    }

    /// The environment is read by the code under test: each case runs in a child process started with its
    /// variables (`osconfig_testkit::in_child`), never by `set_var` while other test threads run.
    #[test]
    fn test_for_module_state_dir_override() {
        let env = |root: &Path| vec![(STATE_DIR_ENV, root.join("state").into()), (ROOT_ENV, root.join("root").into())];
        let Some(base) = osconfig_testkit::in_child("store::tests::test_for_module_state_dir_override", env) else {
            return;
        };
        let state = base.join("state");
        let s = Store::for_module("mod1").unwrap();
        assert_eq!(s.dir(), state.join("mod1").as_path());
        assert_eq!(mode_of(s.dir()), 0o700);
        s.write("k", b"v").unwrap();
        assert_eq!(fs::read(state.join("mod1/k")).unwrap(), b"v");
        assert_eq!(Store::for_module("../x").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn test_for_module_root_default() {
        let env = |root: &Path| vec![(ROOT_ENV, root.join("root").into())];
        let Some(base) = osconfig_testkit::in_child("store::tests::test_for_module_root_default", env) else {
            return;
        };
        let root = base.join("root");
        let s = Store::for_module("mod1").unwrap();
        assert_eq!(s.dir(), root.join("var/lib/osconfig/mod1").as_path());
        assert_eq!(s.read("k").unwrap(), None);
        assert_eq!(crate::under_root("/etc/hosts"), root.join("etc/hosts"));
    }
}
