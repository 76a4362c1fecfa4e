//! [`Connection`]: the platform at one socket, reached through [`MpiClient`]; sessions that are always closed, and
//! every failure turned into a [`CtlError`] that says what to do.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use osconfig_rest::{CallError, MpiClient};

use crate::client::error::CtlError;
use crate::client::extension::ModuleSummary;

/// The client name of every session `osconfigctl` opens.
pub const CLIENT_NAME: &str = "osconfigctl";
/// How long each call may take unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The platform listening on one socket.
#[derive(Debug)]
pub struct Connection {
    socket: PathBuf,
    client: MpiClient,
}

impl Connection {
    /// A connection to `socket` (nothing is sent yet); each call waits at most `timeout`.
    pub fn new(socket: impl Into<PathBuf>, timeout: Option<Duration>) -> Connection {
        let socket = socket.into();
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        let client = MpiClient::new(&socket).with_timeout(timeout);
        Connection { socket, client }
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Opens a session (`MpiOpen("osconfigctl", 0)`), runs `call` in it and closes it (`MpiClose`) whatever
    /// `call` returned. `label` names the call in messages (`MpiGet HostName.name`). A failed close after a
    /// successful call is only warned about: the platform closes idle sessions itself.
    pub fn in_session<T>(
        &mut self,
        label: &str,
        call: impl FnOnce(&mut MpiClient, &str) -> Result<T, CallError>,
    ) -> Result<T, CtlError> {
        let session = self.client.open(CLIENT_NAME, 0).map_err(|e| self.error("MpiOpen", e))?;
        let result = call(&mut self.client, &session).map_err(|e| self.error(label, e));
        let closed = self.client.close(&session);
        if let (Ok(_), Err(e)) = (&result, closed) {
            eprintln!("osconfigctl: warning: {}", self.error("MpiClose", e));
        }
        result
    }

    /// `GET /PlatformModules`: the raw answer.
    pub fn platform_modules(&mut self) -> Result<Vec<u8>, CtlError> {
        self.client.platform_modules().map_err(|e| self.error("GET /PlatformModules", e))
    }

    /// `GET /PlatformStatus`: the raw answer.
    pub fn platform_status(&mut self) -> Result<Vec<u8>, CtlError> {
        self.client.platform_status().map_err(|e| self.error("GET /PlatformStatus", e))
    }

    /// After a call answered EINVAL: which of `asked` no module serves, with the components the platform does
    /// serve (sorted); `None` when every one is served or `/PlatformModules` cannot tell.
    pub fn unknown_components(&mut self, asked: &[&str]) -> Option<CtlError> {
        let modules = ModuleSummary::parse_list(&self.platform_modules().ok()?).ok()?;
        let mut served: Vec<String> = modules.into_iter().flat_map(|m| m.components).collect();
        served.sort();
        served.dedup();
        let mut unknown: Vec<String> = Vec::new();
        for component in asked {
            if !served.iter().any(|s| s == component) && !unknown.iter().any(|u| u == component) {
                unknown.push(component.to_string());
            }
        }
        (!unknown.is_empty()).then_some(CtlError::UnknownComponents { unknown, served })
    }

    /// The [`CtlError`] for a failed call named `label`.
    pub fn error(&self, label: &str, error: CallError) -> CtlError {
        match error {
            CallError::Platform(errno) | CallError::Module(errno) => {
                CtlError::Errno { call: label.to_string(), errno, hint: None }
            }
            CallError::BadRequest => {
                CtlError::Failed(format!("{label}: the platform refused the request as malformed"))
            }
            CallError::Forbidden => CtlError::PermissionDenied,
            CallError::NotFound => CtlError::Failed(format!("{label}: the platform does not serve this call")),
            CallError::Protocol(what) => {
                CtlError::Failed(format!("{label}: unexpected answer from the platform: {what}"))
            }
            CallError::Transport(e) => {
                let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                while let Some(cause) = source {
                    if let Some(io) = cause.downcast_ref::<io::Error>() {
                        return io_error(&self.socket, io);
                    }
                    source = cause.source();
                }
                CtlError::Unreachable { socket: self.socket.clone(), reason: format!("{label}: {e}") }
            }
        }
    }
}

/// The [`CtlError`] for an i/o error on `socket`: nothing there or nothing listening is "not running", a refused
/// open is a permission error, the rest "cannot talk".
pub fn io_error(socket: &Path, error: &io::Error) -> CtlError {
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => CtlError::NotRunning(socket.to_path_buf()),
        _ if error.raw_os_error() == Some(libc::ENOTDIR) => CtlError::NotRunning(socket.to_path_buf()),
        io::ErrorKind::PermissionDenied => CtlError::PermissionDenied,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => CtlError::Unreachable {
            socket: socket.to_path_buf(),
            reason: "no answer in time (see --timeout)".to_string(),
        },
        _ => CtlError::Unreachable { socket: socket.to_path_buf(), reason: error.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_io_error_kinds() {
        let socket = Path::new("/r/mpid.sock");
        let not_running = |kind: io::ErrorKind| matches!(io_error(socket, &kind.into()), CtlError::NotRunning(_));
        assert!(not_running(io::ErrorKind::NotFound));
        assert!(not_running(io::ErrorKind::ConnectionRefused));
        assert!(matches!(io_error(socket, &io::Error::from_raw_os_error(libc::ENOTDIR)), CtlError::NotRunning(_)));
        assert!(matches!(io_error(socket, &io::ErrorKind::PermissionDenied.into()), CtlError::PermissionDenied));
        assert!(matches!(
            io_error(socket, &io::ErrorKind::WouldBlock.into()),
            CtlError::Unreachable { reason, .. } if reason.contains("--timeout")
        ));
    }

    #[test]
    fn test_error_per_call_error() {
        let c = Connection::new("/nonexistent/osconfigctl-test.sock", None);
        assert!(matches!(c.error("MpiGet C.o", CallError::Forbidden), CtlError::PermissionDenied));
        assert!(matches!(
            c.error("MpiGet C.o", CallError::Platform(22)),
            CtlError::Errno { call, errno: 22, .. } if call == "MpiGet C.o"
        ));
        let refused = c.error("MpiSet C.o", CallError::BadRequest);
        assert!(matches!(&refused, CtlError::Failed(t) if t.starts_with("MpiSet C.o:")), "{refused:?}");
    }

    #[test]
    fn test_in_session_without_platform_is_not_running() {
        let mut c = Connection::new("/nonexistent/osconfigctl-test.sock", Some(Duration::from_secs(1)));
        let result = c.in_session("MpiGet C.o", |client, session| client.get(session, "C", "o"));
        match result {
            Err(CtlError::NotRunning(socket)) => assert_eq!(socket, Path::new("/nonexistent/osconfigctl-test.sock")),
            other => panic!("{other:?}"),
        }
    }
}
