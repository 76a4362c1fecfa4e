//! Device paths, atomic file writes and small per-module state stores for osconfig-rs.
//!
//! # What it does
//! - [`root`] / [`under_root`]: every absolute device path (`/etc/hosts`, `/var/lib/osconfig`, ...) is resolved under
//!   one root directory taken from the environment variable `OSCONFIG_ROOT` (default `/`). Tests and staged images
//!   point it at a temporary tree; nothing else changes.
//! - [`write_atomic`]: replace a file so that a reader (or a crash) sees either the old or the new content, never a
//!   mix: the data goes to a uniquely named temporary file in the same directory, is flushed with `fsync`, gets its
//!   mode, is renamed over the target and the directory is flushed. The temporary file is removed on any error.
//! - [`Store`]: a directory of small values, one file per key, written atomically with mode `0600`. A module gets
//!   its own directory with [`Store::for_module`].
//!
//! # Paths and environment
//! | env | meaning | default |
//! |---|---|---|
//! | `OSCONFIG_ROOT` | root of every device path | `/` |
//! | `OSCONFIG_STATE_DIR` | base of the per-module state directories (used as is, *not* under the root) | `<root>/var/lib/osconfig` |
//!
//! The state directory of module `m` is `<base>/<m>/`. Directories that [`Store`] creates get mode `0700`; existing
//! directories are left as they are.
//!
//! # Limits
//! - Keys are plain file names: 1 to [`MAX_KEY_LEN`] bytes, no `/`, no NUL, no `..`, and no leading `.` (that
//!   name space is reserved for temporary files). Module names follow the same rule.
//! - Values are read and written whole; the store is meant for small state (kilobytes), not for bulk data.
//! - Writers to the same key must be serialized by the caller (two concurrent writers each leave a complete file,
//!   the last rename wins).
//!
//! # Errors
//! Every function returns [`std::io::Error`]; the error keeps the kind of the underlying failure and its message names
//! the operation and the path, e.g. `renaming /x/.k.tmp.12.0 to /x/k: Permission denied (os error 13)`. Invalid keys
//! give [`std::io::ErrorKind::InvalidInput`].
//!
//! # Example
//! ```
//! use osconfig_storage::Store;
//! # let dir = std::env::temp_dir().join(format!("storage-doc-{}", std::process::id()));
//! let store = Store::open(&dir)?;
//! assert_eq!(store.read("history")?, None);
//! store.write("history", b"[1,2,3]")?;
//! assert_eq!(store.read("history")?.as_deref(), Some(&b"[1,2,3]"[..]));
//! store.remove("history")?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

mod atomic;
mod paths;
mod store;

pub use atomic::write_atomic;
pub use paths::{root, state_base_dir, under_root, ROOT_ENV, STATE_DIR_ENV};
pub use store::{validate_key, Store, MAX_KEY_LEN};
