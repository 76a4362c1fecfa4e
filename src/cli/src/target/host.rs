//! The module host backend: each `LoadModule` starts `osconfig-modulehost --module <so> --socket <dir>/m.sock` and
//! talks to it with [`osconfig_rest::MmiClient`] (MMI REST over the Unix socket).
//!
//! - The socket lives in a fresh private directory under the system temp dir (mode 0700), removed at unload.
//! - Loading waits up to [`STARTUP_TIMEOUT`] for the socket to appear; a host that exits first is reported with
//!   its exit status. Then `MmiGetInfo` (validated like the in-process loader does) and `MmiOpen(client, 0)`.
//! - Unloading sends `MmiClose`, then SIGTERM, and waits up to [`STOP_TIMEOUT`] for the host to exit (exit code 0
//!   or death by SIGTERM count as a clean stop); after that it is killed (SIGKILL) and the unload fails.
//! - Hosts are started as [`osconfig_modulehost::process::HostCommand`] starts them: in their own process group and
//!   with `PR_SET_PDEATHSIG` = SIGKILL, so a host never outlives osconfigctl, even when osconfigctl is killed.
//!   Modules are loaded on osconfigctl's main thread (the death signal follows the thread that started the host).
//! - A payload that is not JSON cannot travel through the REST API (the request body is JSON): such a `Desired`
//!   step gets `EINVAL` (22) without a request, which is what a module built on the SDK answers in-process.
//! - A crash of the module ends its host: the failing call is reported with the host's exit status (for example
//!   "killed by signal 6"). After a call that got no whole answer (crash, or no answer within the call timeout
//!   because the module hangs), later calls fail at once without a request, and unloading only stops the host.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use osconfig_mmi::{Errno, ModuleInfo};
use osconfig_modulehost::process::{describe, HostCommand, HostProcess, NotReady, Stopped};
use osconfig_rest::{CallError, MmiClient};

use crate::target::{error_chain, Backend, Target, TargetError, CLIENT_NAME};

/// How long a new host may take to create its socket.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a host may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The socket file name inside the host's private directory.
pub const SOCKET_NAME: &str = "m.sock";
/// How long a host whose connection broke may take to be seen as ended (a crashing module closes the socket a
/// moment before its process is gone).
const EXIT_GRACE: Duration = Duration::from_millis(100);

/// Starts one module host per loaded module.
#[derive(Debug)]
pub struct Host {
    program: PathBuf,
    call_timeout: Duration,
}

impl Host {
    /// A backend running `program` (the `osconfig-modulehost` executable); each call waits at most `call_timeout`.
    pub fn new(program: impl Into<PathBuf>, call_timeout: Duration) -> Host {
        Host { program: program.into(), call_timeout }
    }
}

impl Backend for Host {
    fn load(&mut self, path: &Path) -> Result<Box<dyn Target>, TargetError> {
        let dir = private_dir().map_err(|e| TargetError::Load(format!("cannot create a socket directory: {e}")))?;
        let socket = dir.join(SOCKET_NAME);
        let process = match HostCommand::new(&self.program, path, &socket).spawn() {
            Ok(process) => process,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(TargetError::Load(format!("cannot start {}: {e}", self.program.display())));
            }
        };
        let mut process = Running { process: Some(process), dir };
        process.wait_ready()?;
        let mut client = MmiClient::new(&socket).with_timeout(self.call_timeout);
        let info = client.get_info(CLIENT_NAME).map_err(|e| process.failure("MmiGetInfo", &e))?;
        let info = ModuleInfo::from_json(&info)
            .map_err(|e| TargetError::Load(format!("MmiGetInfo returned invalid module info: {}", error_chain(&e))))?;
        let session = client.open(CLIENT_NAME, 0).map_err(|e| match e {
            CallError::Module(errno) => TargetError::Load(format!("MmiOpen failed: {}", Errno(errno))),
            other => process.failure("MmiOpen", &other),
        })?;
        Ok(Box::new(HostTarget { process, client, session, info, broken: None }))
    }
}

/// A new private directory for one host's socket.
fn private_dir() -> std::io::Result<PathBuf> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("osconfigctl-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// The host process and its socket directory; the host is killed (dropping [`HostProcess`]) and the directory
/// removed on drop if not stopped before.
#[derive(Debug)]
struct Running {
    /// `None` once stopped.
    process: Option<HostProcess>,
    dir: PathBuf,
}

impl Running {
    /// Waits up to [`STARTUP_TIMEOUT`] until the host listens.
    fn wait_ready(&mut self) -> Result<(), TargetError> {
        let Some(process) = self.process.as_mut() else { return Ok(()) };
        process.wait_ready(Instant::now() + STARTUP_TIMEOUT).map_err(|e| match e {
            NotReady::Exited { status, .. } => {
                TargetError::Load(format!("the module host ended ({}) before listening", describe(status)))
            }
            NotReady::Timeout { socket, .. } => TargetError::Load(format!(
                "the module host did not create {} within {} s",
                socket.display(),
                STARTUP_TIMEOUT.as_secs()
            )),
        })
    }

    /// A failed call as a target error, naming the host's exit status when it has ended.
    fn failure(&mut self, call: &str, e: &CallError) -> TargetError {
        TargetError::Host(self.failure_text(call, e))
    }

    /// The text of [`Running::failure`].
    fn failure_text(&mut self, call: &str, e: &CallError) -> String {
        let status = self.process.as_mut().and_then(|process| match e {
            CallError::Transport(_) => process.exited_within(EXIT_GRACE),
            _ => process.exited(),
        });
        match status {
            Some(status) => format!("{call}: {}; the module host ended ({})", error_chain(e), describe(status)),
            None => format!("{call}: {}", error_chain(e)),
        }
    }

    /// SIGTERM, wait, SIGKILL after [`STOP_TIMEOUT`]; removes the socket directory.
    fn stop(&mut self) -> Result<(), TargetError> {
        let result = match self.process.take() {
            None => Ok(()),
            Some(process) => stop_result(process.stop(STOP_TIMEOUT)),
        };
        let _ = std::fs::remove_dir_all(&self.dir);
        result
    }
}

/// How a stopped host ended, as the unload's result.
fn stop_result(stopped: Stopped) -> Result<(), TargetError> {
    match stopped {
        stopped if stopped.is_clean() => Ok(()),
        Stopped::Already(status) => {
            Err(TargetError::Host(format!("the module host had already ended ({})", describe(status))))
        }
        Stopped::Exited(status) => {
            Err(TargetError::Host(format!("the module host ended ({}) after SIGTERM", describe(status))))
        }
        Stopped::Killed => Err(TargetError::Host(format!(
            "the module host did not stop within {} s of SIGTERM (killed)",
            STOP_TIMEOUT.as_secs()
        ))),
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.process.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A module running in its own host, with one open session.
#[derive(Debug)]
struct HostTarget {
    process: Running,
    client: MmiClient,
    session: String,
    info: ModuleInfo,
    /// Set when a call got no whole answer (the host died, or the module hangs): later calls fail at once.
    broken: Option<String>,
}

impl HostTarget {
    fn map(&mut self, call: &str, e: CallError) -> TargetError {
        match e {
            CallError::Module(errno) => TargetError::Module(Errno(errno)),
            other => {
                let why = self.process.failure_text(call, &other);
                if matches!(other, CallError::Transport(_)) {
                    self.broken = Some(why.clone());
                }
                TargetError::Host(why)
            }
        }
    }

    /// Fails at once when an earlier call left the host unusable.
    fn check_usable(&self) -> Result<(), TargetError> {
        match &self.broken {
            Some(why) => Err(TargetError::Host(format!("not called: an earlier call failed ({why})"))),
            None => Ok(()),
        }
    }
}

impl Target for HostTarget {
    fn info(&self) -> &ModuleInfo {
        &self.info
    }

    fn location(&self) -> String {
        match &self.process.process {
            Some(process) => format!("module host pid {}", process.id()),
            None => "module host (stopped)".to_string(),
        }
    }

    fn get(&mut self, component: &str, object: &str) -> Result<Vec<u8>, TargetError> {
        self.check_usable()?;
        let session = self.session.clone();
        self.client.get(&session, component, object).map_err(|e| self.map("MmiGet", e))
    }

    fn set(&mut self, component: &str, object: &str, payload: &[u8]) -> Result<(), TargetError> {
        self.check_usable()?;
        if serde_json::from_slice::<serde_json::Value>(payload).is_err() {
            return Err(TargetError::Module(Errno::EINVAL));
        }
        let session = self.session.clone();
        self.client.set(&session, component, object, payload).map_err(|e| self.map("MmiSet", e))
    }

    fn unload(mut self: Box<Self>) -> Result<(), TargetError> {
        // With a broken host there is nobody to send MmiClose to (that failure was reported already): just stop it.
        let closed = match self.broken {
            None => {
                let session = self.session.clone();
                self.client.close(&session).map_err(|e| self.map("MmiClose", e))
            }
            Some(_) => Ok(()),
        };
        let stopped = self.process.stop();
        match (closed, stopped) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
            (Err(closing), Err(stopping)) => Err(TargetError::Host(format!("{closing}; then {stopping}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_load_with_missing_program_fails_cleanly() {
        let mut host = Host::new("/nonexistent/osconfig-modulehost", Duration::from_secs(5));
        let err = host.load(Path::new("/nonexistent/x.so")).err().expect("must fail");
        assert!(err.to_string().contains("cannot start /nonexistent/osconfig-modulehost"), "{err}");
    }

    #[test]
    fn test_load_with_host_that_exits_reports_status() {
        // `false` ignores its arguments and exits 1 without creating the socket.
        let Some(false_bin) = ["/bin/false", "/usr/bin/false"].into_iter().find(|p| Path::new(p).exists()) else {
            return;
        };
        let mut host = Host::new(false_bin, Duration::from_secs(5));
        let err = host.load(Path::new("/nonexistent/x.so")).err().expect("must fail");
        assert!(err.to_string().contains("ended (exited with code 1) before listening"), "{err}");
    }

    #[test]
    fn test_stop_result_clean_and_not() {
        use std::os::unix::process::ExitStatusExt;
        use std::process::ExitStatus;
        assert!(stop_result(Stopped::Exited(ExitStatus::from_raw(0))).is_ok());
        assert!(stop_result(Stopped::Exited(ExitStatus::from_raw(libc::SIGTERM))).is_ok());
        let err = stop_result(Stopped::Exited(ExitStatus::from_raw(3 << 8))).unwrap_err();
        assert!(err.to_string().contains("ended (exited with code 3) after SIGTERM"), "{err}");
        let err = stop_result(Stopped::Already(ExitStatus::from_raw(6))).unwrap_err();
        assert!(err.to_string().contains("had already ended (killed by signal 6)"), "{err}");
        let err = stop_result(Stopped::Killed).unwrap_err();
        assert!(err.to_string().contains("did not stop within 5 s of SIGTERM (killed)"), "{err}");
    }
}
