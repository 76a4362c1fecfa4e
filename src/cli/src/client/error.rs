//! [`CtlError`]: why an MPI subcommand failed, its message (one that says what to do) and its exit code.

use std::fmt;
use std::path::PathBuf;

use crate::client::errno;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the call failed (a module's errno, an unknown component, an unexpected answer).
pub const EXIT_CALL_FAILED: i32 = 1;
/// Exit code: usage error or invalid input (bad JSON, MIM violation, unreadable file).
pub const EXIT_INVALID: i32 = 2;
/// Exit code: the platform is not running, or did not answer.
pub const EXIT_UNREACHABLE: i32 = 3;
/// Exit code: the platform refused the caller (403), or the socket cannot be opened.
pub const EXIT_PERMISSION: i32 = 4;

/// Why an MPI subcommand failed.
#[derive(Debug)]
pub enum CtlError {
    /// The command line is wrong (exit 2); the subcommand's usage follows the message.
    Usage(String),
    /// The input is unusable: not JSON, not a desired document, an unreadable file (exit 2).
    Input(String),
    /// The payload breaks an installed MIM: one line per violation, each naming the object (exit 2). Nothing was
    /// sent.
    Mim(Vec<String>),
    /// Nothing listens on the socket (exit 3).
    NotRunning(PathBuf),
    /// The platform could not be talked to: no answer in time, connection closed, ... (exit 3).
    Unreachable {
        /// The socket.
        socket: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The platform refused the caller (403), or the socket's permissions did (exit 4).
    PermissionDenied,
    /// The call answered an errno (exit 1).
    Errno {
        /// The call and its target, e.g. `MpiGet HostName.name`.
        call: String,
        /// The errno.
        errno: i32,
        /// What the errno most likely means for this call.
        hint: Option<String>,
    },
    /// The call answered EINVAL and the platform serves none of these components (exit 1).
    UnknownComponents {
        /// The components asked for that no module serves.
        unknown: Vec<String>,
        /// The components the platform serves, sorted.
        served: Vec<String>,
    },
    /// Another failure of the call: a refused request, an unexpected answer (exit 1).
    Failed(String),
}

impl CtlError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::Usage(_) | CtlError::Input(_) | CtlError::Mim(_) => EXIT_INVALID,
            CtlError::NotRunning(_) | CtlError::Unreachable { .. } => EXIT_UNREACHABLE,
            CtlError::PermissionDenied => EXIT_PERMISSION,
            CtlError::Errno { .. } | CtlError::UnknownComponents { .. } | CtlError::Failed(_) => EXIT_CALL_FAILED,
        }
    }
}

impl fmt::Display for CtlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CtlError::Usage(text) | CtlError::Input(text) | CtlError::Failed(text) => f.write_str(text),
            CtlError::Mim(violations) => {
                let s = if violations.len() == 1 { "" } else { "s" };
                write!(f, "rejected by the installed MIMs, nothing sent ({} violation{s}):", violations.len())?;
                for v in violations {
                    write!(f, "\n  {v}")?;
                }
                Ok(())
            }
            CtlError::NotRunning(socket) => write!(
                f,
                "platform not running at {} (start osconfig-platform, or pass --socket/--root)",
                socket.display()
            ),
            CtlError::Unreachable { socket, reason } => {
                write!(f, "cannot talk to the platform at {}: {reason}", socket.display())
            }
            CtlError::PermissionDenied => {
                f.write_str("permission denied: run as root or join a group listed in MpiAllowedGroups")
            }
            CtlError::Errno { call, errno: e, hint } => {
                write!(f, "{call} failed: errno {}", errno::describe(*e))?;
                match hint {
                    Some(hint) => write!(f, ": {hint}"),
                    None => Ok(()),
                }
            }
            CtlError::UnknownComponents { unknown, served } => {
                let s = if unknown.len() == 1 { "" } else { "s" };
                write!(f, "unknown component{s} {} (the platform serves: {})", unknown.join(", "), served.join(", "))
            }
        }
    }
}

impl std::error::Error for CtlError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_exit_code_per_kind() {
        assert_eq!(CtlError::Usage(String::new()).exit_code(), 2);
        assert_eq!(CtlError::Input(String::new()).exit_code(), 2);
        assert_eq!(CtlError::Mim(vec![]).exit_code(), 2);
        assert_eq!(CtlError::NotRunning(PathBuf::new()).exit_code(), 3);
        assert_eq!(CtlError::Unreachable { socket: PathBuf::new(), reason: String::new() }.exit_code(), 3);
        assert_eq!(CtlError::PermissionDenied.exit_code(), 4);
        assert_eq!(CtlError::Errno { call: String::new(), errno: 22, hint: None }.exit_code(), 1);
        assert_eq!(CtlError::UnknownComponents { unknown: vec![], served: vec![] }.exit_code(), 1);
        assert_eq!(CtlError::Failed(String::new()).exit_code(), 1);
    }

    #[test]
    fn test_display_says_what_to_do() {
        assert_eq!(
            CtlError::NotRunning(PathBuf::from("/r/run/osconfig/mpid.sock")).to_string(),
            "platform not running at /r/run/osconfig/mpid.sock (start osconfig-platform, or pass --socket/--root)"
        );
        assert_eq!(
            CtlError::PermissionDenied.to_string(),
            "permission denied: run as root or join a group listed in MpiAllowedGroups"
        );
        let unknown =
            CtlError::UnknownComponents { unknown: vec!["Nope".into()], served: vec!["A".into(), "B".into()] };
        assert_eq!(unknown.to_string(), "unknown component Nope (the platform serves: A, B)");
        let errno = CtlError::Errno { call: "MpiGet Fixture.fail".into(), errno: 61, hint: None };
        assert_eq!(errno.to_string(), "MpiGet Fixture.fail failed: errno 61 ENODATA (no data available)");
        let mim = CtlError::Mim(vec!["a: x".into(), "b: y".into()]);
        assert_eq!(mim.to_string(), "rejected by the installed MIMs, nothing sent (2 violations):\n  a: x\n  b: y");
    }
}
