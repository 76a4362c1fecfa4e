//! Why the platform stops with an error, and the exit code of each reason (the module host's
//! `osconfig_modulehost::error` is the model: one enum, [`StartError::exit_code`], the cause in `source()`, and
//! `main` prints the whole chain once, [`chain`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::lock::LockError;

/// Exit code: stopped normally (SIGTERM/SIGINT) or `--help` / `--version`.
pub const EXIT_OK: i32 = 0;
/// Exit code: the command line is wrong.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: another platform runs on the same root (its lock is held), or the MPI socket cannot be created
/// (path in use by a live platform, no permission, ...).
pub const EXIT_SOCKET: i32 = 3;
/// Exit code: another start-up failure (threads, logging, signal handling, the server loop failed).
pub const EXIT_STARTUP: i32 = 4;

/// Why [`daemon::run`](crate::daemon::run) failed.
#[derive(Debug)]
pub enum StartError {
    /// The log file (or syslog) could not be opened (exit 4). Nothing is logged yet: `main` prints it on stderr.
    Logging(io::Error),
    /// `<root>/run/osconfig` or the module hosts' socket directory could not be created (exit 3).
    RunDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The root's lock is held by another platform, or cannot be taken (exit 3).
    Lock(LockError),
    /// The MPI socket could not be created (exit 3).
    Socket {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The Watcher's thread could not start (exit 4).
    Watcher(io::Error),
    /// The signal thread could not start (exit 4).
    Signals(io::Error),
    /// The MPI server loop failed (exit 4).
    Serve(io::Error),
}

impl StartError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::RunDir { .. } | StartError::Lock(_) | StartError::Socket { .. } => EXIT_SOCKET,
            StartError::Logging(_) | StartError::Watcher(_) | StartError::Signals(_) | StartError::Serve(_) => {
                EXIT_STARTUP
            }
        }
    }

    /// Whether logging had started when this happened (every error but [`StartError::Logging`]): `main` logs it
    /// then (the log file, syslog, and stderr with `--foreground`), and prints it on stderr otherwise.
    pub fn logged(&self) -> bool {
        !matches!(self, StartError::Logging(_))
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Logging(_) => f.write_str("cannot start logging"),
            StartError::RunDir { path, .. } => write!(f, "cannot create {}", path.display()),
            StartError::Lock(_) => f.write_str("cannot lock the root"),
            StartError::Socket { path, .. } => write!(f, "cannot listen on {}", path.display()),
            StartError::Watcher(_) => f.write_str("cannot start the watcher"),
            StartError::Signals(_) => f.write_str("cannot start the signal thread"),
            StartError::Serve(_) => f.write_str("MPI server failed"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Lock(e) => Some(e),
            StartError::RunDir { source, .. } | StartError::Socket { source, .. } => Some(source),
            StartError::Logging(e) | StartError::Watcher(e) | StartError::Signals(e) | StartError::Serve(e) => Some(e),
        }
    }
}

/// The error and its causes on one line: `a: b: c` (the module host's, which prints its own errors the same way).
pub use osconfig_modulehost::error::chain;

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: io::ErrorKind) -> io::Error {
        io::Error::from(kind)
    }

    #[test]
    fn test_exit_code_per_variant() {
        let path = PathBuf::from("/x");
        assert_eq!(StartError::Logging(io(io::ErrorKind::PermissionDenied)).exit_code(), 4);
        assert_eq!(StartError::RunDir { path: path.clone(), source: io(io::ErrorKind::Other) }.exit_code(), 3);
        assert_eq!(StartError::Lock(LockError::Held { path: path.clone(), pid: Some(7) }).exit_code(), 3);
        assert_eq!(StartError::Socket { path, source: io(io::ErrorKind::AddrInUse) }.exit_code(), 3);
        assert_eq!(StartError::Watcher(io(io::ErrorKind::Other)).exit_code(), 4);
        assert_eq!(StartError::Signals(io(io::ErrorKind::Other)).exit_code(), 4);
        assert_eq!(StartError::Serve(io(io::ErrorKind::Other)).exit_code(), 4);
    }

    #[test]
    fn test_chain_names_the_lock_holder() {
        let e = StartError::Lock(LockError::Held { path: "/r/run/osconfig/platform.lock".into(), pid: Some(42) });
        assert_eq!(
            chain(&e),
            "cannot lock the root: another platform (pid 42) runs on this root: /r/run/osconfig/platform.lock is locked"
        );
        assert!(e.logged());
        assert!(!StartError::Logging(io(io::ErrorKind::Other)).logged());
    }

    #[test]
    fn test_chain_joins_io_cause() {
        let e = StartError::Socket {
            path: "/r/mpid.sock".into(),
            source: io::Error::new(io::ErrorKind::AddrInUse, "a platform answers on this socket"),
        };
        assert_eq!(chain(&e), "cannot listen on /r/mpid.sock: a platform answers on this socket");
    }
}
