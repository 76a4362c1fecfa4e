//! Why a module host stops with an error, and the exit code of each reason.

use std::fmt;
use std::io;
use std::path::PathBuf;

use osconfig_mmi::loader::LoadError;

use crate::privileges::PrivilegeError;

/// Exit code: stopped by SIGTERM/SIGINT after closing every session and unloading the module.
pub const EXIT_OK: i32 = 0;
/// Exit code: the server loop failed.
pub const EXIT_RUNTIME: i32 = 1;
/// Exit code: the command line is wrong.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the module failed to load, lacks an MMI symbol, or its `MmiGetInfo` is invalid.
pub const EXIT_MODULE: i32 = 3;
/// Exit code: the socket could not be created (or handed to `--user`).
pub const EXIT_SOCKET: i32 = 4;
/// Exit code: dropping privileges to `--user` failed.
pub const EXIT_PRIVILEGES: i32 = 5;
/// Exit code: asked to stop while a module call was still running; sessions were not closed.
pub const EXIT_STOP_TIMEOUT: i32 = 6;

/// Why [`run`](crate::run) failed.
#[derive(Debug)]
pub enum HostError {
    /// Loading the module or checking its `MmiGetInfo` failed (exit 3).
    Module(LoadError),
    /// Creating the socket failed (exit 4).
    Socket {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Dropping privileges failed (exit 5).
    Privileges(PrivilegeError),
    /// The server loop or a thread it needs failed (exit 1).
    Serve(io::Error),
}

impl HostError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            HostError::Module(_) => EXIT_MODULE,
            HostError::Socket { .. } => EXIT_SOCKET,
            HostError::Privileges(_) => EXIT_PRIVILEGES,
            HostError::Serve(_) => EXIT_RUNTIME,
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Module(_) => f.write_str("module failed to load"),
            HostError::Socket { path, .. } => write!(f, "cannot serve on socket {}", path.display()),
            HostError::Privileges(_) => f.write_str("cannot drop privileges"),
            HostError::Serve(_) => f.write_str("server loop failed"),
        }
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HostError::Module(e) => Some(e),
            HostError::Socket { source, .. } => Some(source),
            HostError::Privileges(e) => Some(e),
            HostError::Serve(e) => Some(e),
        }
    }
}

/// The error and its causes on one line: `a: b: c`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_exit_code_per_variant() {
        assert_eq!(HostError::Module(LoadError::EmptyInfo).exit_code(), 3);
        let socket = HostError::Socket { path: "/x".into(), source: io::Error::from(io::ErrorKind::AddrInUse) };
        assert_eq!(socket.exit_code(), 4);
        assert_eq!(HostError::Privileges(PrivilegeError::NotRoot { uid: 1 }).exit_code(), 5);
        assert_eq!(HostError::Serve(io::Error::from(io::ErrorKind::Other)).exit_code(), 1);
    }

    #[test]
    fn test_chain_joins_sources() {
        let e = HostError::Module(LoadError::MissingSymbol {
            path: "/m.so".into(),
            symbol: "MmiFree",
            message: "undefined symbol: MmiFree".into(),
        });
        assert_eq!(chain(&e), "module failed to load: module /m.so does not export MmiFree: undefined symbol: MmiFree");
    }
}
