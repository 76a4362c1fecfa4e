//! Resolving device paths under `OSCONFIG_ROOT`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Environment variable naming the root every device path is resolved under (default `/`).
pub const ROOT_ENV: &str = "OSCONFIG_ROOT";

/// Environment variable overriding the base of the per-module state directories
/// (default `<root>/var/lib/osconfig`).
pub const STATE_DIR_ENV: &str = "OSCONFIG_STATE_DIR";

/// Default state base, relative to the root.
const DEFAULT_STATE_BASE: &str = "/var/lib/osconfig";

/// The root every device path is resolved under: env `OSCONFIG_ROOT`, default `/`. An empty value counts as unset.
pub fn root() -> PathBuf {
    root_from(std::env::var_os(ROOT_ENV))
}

/// `under_root("/etc/hosts")` is the root joined with the path without its leading `/`
/// (`/etc/hosts` itself when the root is `/`). A relative `abs` is joined as is.
pub fn under_root(abs: &str) -> PathBuf {
    join_under(&root(), abs)
}

/// The base directory of the per-module state directories: env `OSCONFIG_STATE_DIR` if set and not empty (used as
/// given, not under the root), else `<root>/var/lib/osconfig`.
pub fn state_base_dir() -> PathBuf {
    state_base_from(std::env::var_os(ROOT_ENV), std::env::var_os(STATE_DIR_ENV))
}

fn root_from(value: Option<OsString>) -> PathBuf {
    match value {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("/"),
    }
}

fn join_under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

pub(crate) fn state_base_from(root: Option<OsString>, state: Option<OsString>) -> PathBuf {
    match state {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => join_under(&root_from(root), DEFAULT_STATE_BASE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_root_from_default_is_slash() {
        assert_eq!(root_from(None), PathBuf::from("/"));
        assert_eq!(root_from(Some(OsString::new())), PathBuf::from("/"));
    }

    #[test]
    fn test_root_from_env_value() {
        assert_eq!(root_from(Some("/tmp/r".into())), PathBuf::from("/tmp/r"));
    }

    #[test]
    fn test_join_under_strips_leading_slashes() {
        assert_eq!(join_under(Path::new("/tmp/r"), "/etc/hosts"), PathBuf::from("/tmp/r/etc/hosts"));
        assert_eq!(join_under(Path::new("/tmp/r"), "//etc/hosts"), PathBuf::from("/tmp/r/etc/hosts"));
        assert_eq!(join_under(Path::new("/"), "/etc/hosts"), PathBuf::from("/etc/hosts"));
        assert_eq!(join_under(Path::new("/tmp/r"), "etc"), PathBuf::from("/tmp/r/etc"));
    }

    #[test]
    fn test_state_base_from_default_under_root() {
        assert_eq!(state_base_from(Some("/tmp/r".into()), None), PathBuf::from("/tmp/r/var/lib/osconfig"));
        assert_eq!(state_base_from(None, None), PathBuf::from("/var/lib/osconfig"));
    }

    #[test]
    fn test_state_base_from_override_wins() {
        assert_eq!(state_base_from(Some("/tmp/r".into()), Some("/s".into())), PathBuf::from("/s"));
        assert_eq!(
            state_base_from(Some("/tmp/r".into()), Some(OsString::new())),
            PathBuf::from("/tmp/r/var/lib/osconfig")
        );
    }
}
