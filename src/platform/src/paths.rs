//! Every path the platform uses, resolved under one root directory (`--root`, default `/`).

use std::path::{Path, PathBuf};

/// The platform's paths under a root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The root (`/` on a device, a temporary tree in tests).
    pub root: PathBuf,
    /// `<root>/etc/osconfig/osconfig.json` unless `--config` names another file.
    pub config: PathBuf,
    /// `<root>/run/osconfig/mpid.sock` unless `--socket` names another path.
    pub socket: PathBuf,
    /// `<root>/run/osconfig`: the MPI socket's directory (mode 0700).
    pub run_dir: PathBuf,
    /// `<root>/run/osconfig/modules`: the module hosts' sockets (mode 0700).
    pub modules_run_dir: PathBuf,
    /// `<root>/usr/lib/osconfig` and `<root>/usr/local/lib/osconfig`, searched in this order.
    pub module_dirs: Vec<PathBuf>,
    /// `<root>/var/lib/osconfig/platform`: the Modules Manager's state (crash counts).
    pub state_dir: PathBuf,
    /// `<root>/var/log`: the log file's directory.
    pub log_dir: PathBuf,
}

/// `abs` (an absolute device path such as `/etc/osconfig`) under `root`.
pub fn under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

impl Paths {
    /// The default paths under `root`; `config` and `socket` override the two files when given (used as given,
    /// not under the root).
    pub fn new(root: &Path, config: Option<&Path>, socket: Option<&Path>) -> Paths {
        let run_dir = under(root, "/run/osconfig");
        Paths {
            root: root.to_path_buf(),
            config: config.map_or_else(|| under(root, "/etc/osconfig/osconfig.json"), Path::to_path_buf),
            socket: socket.map_or_else(|| run_dir.join("mpid.sock"), Path::to_path_buf),
            modules_run_dir: run_dir.join("modules"),
            run_dir,
            module_dirs: vec![under(root, "/usr/lib/osconfig"), under(root, "/usr/local/lib/osconfig")],
            state_dir: under(root, "/var/lib/osconfig/platform"),
            log_dir: under(root, "/var/log"),
        }
    }

    /// The module host executable: `explicit` (`--modulehost`) when given; else `osconfig-modulehost` next to the
    /// platform's own executable when it exists there; else `<root>/usr/lib/osconfig/osconfig-modulehost`.
    pub fn host_binary(&self, explicit: Option<&Path>) -> PathBuf {
        if let Some(path) = explicit {
            return path.to_path_buf();
        }
        if let Some(beside) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) {
            let candidate = beside.join("osconfig-modulehost");
            if candidate.is_file() {
                return candidate;
            }
        }
        under(&self.root, "/usr/lib/osconfig/osconfig-modulehost")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_new_defaults_under_root() {
        let p = Paths::new(Path::new("/tmp/r"), None, None);
        assert_eq!(p.config, Path::new("/tmp/r/etc/osconfig/osconfig.json"));
        assert_eq!(p.socket, Path::new("/tmp/r/run/osconfig/mpid.sock"));
        assert_eq!(p.modules_run_dir, Path::new("/tmp/r/run/osconfig/modules"));
        assert_eq!(p.module_dirs, [Path::new("/tmp/r/usr/lib/osconfig"), Path::new("/tmp/r/usr/local/lib/osconfig")]);
        assert_eq!(p.state_dir, Path::new("/tmp/r/var/lib/osconfig/platform"));
        assert_eq!(p.log_dir, Path::new("/tmp/r/var/log"));
        let device = Paths::new(Path::new("/"), None, None);
        assert_eq!(device.socket, Path::new("/run/osconfig/mpid.sock"));
    }

    #[test]
    fn test_new_overrides_used_as_given() {
        let p = Paths::new(Path::new("/r"), Some(Path::new("/c.json")), Some(Path::new("/s.sock")));
        assert_eq!((p.config.as_path(), p.socket.as_path()), (Path::new("/c.json"), Path::new("/s.sock")));
    }

    #[test]
    fn test_host_binary_explicit_and_fallback() {
        let p = Paths::new(Path::new("/nonexistent-root"), None, None);
        assert_eq!(p.host_binary(Some(Path::new("/x/host"))), Path::new("/x/host"));
        let found = p.host_binary(None);
        assert!(found.ends_with("osconfig-modulehost"), "{}", found.display());
    }
}
