//! One module host process: spawn, wait for its socket, its connection, stop or kill it.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::exchange::HostConn;

/// How long a stopped host may take to exit on SIGTERM before it gets SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_millis(500);

/// How a host is started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Launch<'a> {
    /// The `osconfig-modulehost` executable.
    pub(crate) binary: &'a Path,
    /// `OSCONFIG_ROOT` of the host.
    pub(crate) root: &'a Path,
    /// The module's `UserAccount` (0: no `--user`).
    pub(crate) user: u32,
    /// Deadline of every call to a host (and of a host's start).
    pub(crate) call_timeout: Duration,
}

/// A running host process and the manager's kept-alive connection to its socket (made on the first call).
#[derive(Debug)]
pub(crate) struct Host {
    child: Child,
    socket: PathBuf,
    /// The connection; `None` until the first call, or after the host closed it.
    pub(crate) conn: Option<HostConn>,
}

/// `exited with code 3` / `killed by signal 6`.
pub(crate) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "ended".to_string(),
    }
}

/// Removes `path` if it is a socket file that nothing answers on (a stale one left by a killed host); a live
/// socket — another platform's host — is never removed. `Err(AddrInUse)` for a live socket.
fn remove_socket(path: &Path) -> io::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(()) };
    if !meta.file_type().is_socket() {
        return Ok(());
    }
    if UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("something else answers on {}; left in place", path.display()),
        ));
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// [`remove_socket`] after our own host has ended: a socket still answering is logged and kept.
fn remove_own_socket(path: &Path) {
    if let Err(e) = remove_socket(path) {
        log::warn!("host socket {}: {e}", path.display());
    }
}

impl Host {
    /// Starts `osconfig-modulehost --module <module> --socket <socket> [--user <uid>]` with `OSCONFIG_ROOT` set,
    /// in its own process group (terminal signals do not reach it; the manager stops it), with
    /// `PR_SET_PDEATHSIG` = SIGKILL (it dies with the thread that started it). A stale socket file at `socket` is
    /// removed first; a live one (something answers on it) is left alone and the host not started (`AddrInUse`).
    /// Does not wait for the socket: see [`Host::wait_ready`].
    pub(crate) fn spawn(launch: &Launch<'_>, module: &Path, socket: &Path) -> io::Result<Host> {
        remove_socket(socket)?;
        let mut command = Command::new(launch.binary);
        command.arg("--module").arg(module).arg("--socket").arg(socket);
        if launch.user != 0 {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let euid = unsafe { libc::geteuid() };
            if euid == 0 {
                command.arg("--user").arg(launch.user.to_string());
            } else {
                log::warn!(
                    "module {} asks for user account {}, but the platform is not root: it runs as uid {euid}",
                    module.display(),
                    launch.user
                );
            }
        }
        command.env(osconfig_storage::ROOT_ENV, launch.root).stdin(Stdio::null()).process_group(0);
        // systemd's notification socket is the platform's alone (hosts and the commands they run must not
        // answer for it).
        for key in [crate::notify::NOTIFY_SOCKET_ENV, crate::notify::WATCHDOG_USEC_ENV, crate::notify::WATCHDOG_PID_ENV]
        {
            command.env_remove(key);
        }
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which is
        // async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                // The host gets SIGKILL when the thread that started it ends (the platform's MPI loop, or the whole
                // platform killed with SIGKILL), so hosts never outlive their manager.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn()?;
        log::debug!("started host {} for {} on {}", child.id(), module.display(), socket.display());
        Ok(Host { child, socket: socket.to_path_buf(), conn: None })
    }

    /// The host's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the host accepts connections on its socket; an error says why not (it exited, or the deadline
    /// passed).
    pub(crate) fn wait_ready(&mut self, deadline: Instant) -> Result<(), String> {
        let mut pause = Duration::from_micros(100);
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("host {} {}", self.pid(), describe(status)));
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("host {} did not open {} in time", self.pid(), self.socket.display()));
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }

    /// The host's socket.
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// The exit status if the process has ended (reaps it).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The exit status after a failed call: waits up to `grace` for the process to end on its own (a crashing
    /// module closes the socket a moment before the process is gone), `None` if it is still running.
    pub(crate) fn exited_within(&mut self, grace: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends SIGTERM (the host closes its sessions, unloads the module and exits 0).
    pub(crate) fn terminate(&mut self) {
        if self.exited().is_none() {
            self.signal(libc::SIGTERM);
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory-safety preconditions; the child is not reaped yet (try_wait returned None or
        // was not called since), so the pid still names our child.
        unsafe { libc::kill(pid, signal) };
    }

    /// SIGKILL, reap and remove the socket; the status the process had before the kill if it had already ended.
    pub(crate) fn kill(mut self) -> Option<ExitStatus> {
        let before = self.exited();
        if before.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        remove_own_socket(&self.socket);
        before
    }
}

/// Stops `hosts` together: SIGTERM to all, then SIGKILL to those still running after [`STOP_GRACE`]; reaps all
/// and removes their sockets.
pub(crate) fn stop_all(hosts: Vec<Host>) {
    if hosts.is_empty() {
        return;
    }
    let mut running = hosts;
    for host in running.iter_mut() {
        host.terminate();
    }
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        running.retain_mut(|host| match host.exited() {
            Some(status) => {
                if !status.success() {
                    log::debug!("host {} {}", host.pid(), describe(status));
                }
                remove_own_socket(&host.socket);
                false
            }
            None => true,
        });
        if running.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    for host in running {
        log::warn!("host {} did not stop within {} ms: killing it", host.pid(), STOP_GRACE.as_millis());
        host.kill();
    }
}

/// A host asked to stop (SIGTERM) whose exit has not been seen yet.
#[derive(Debug)]
pub(crate) struct Dying {
    /// The host.
    pub(crate) host: Host,
    /// When SIGTERM was sent.
    pub(crate) since: Instant,
}

impl Dying {
    /// Sends SIGTERM and remembers when.
    pub(crate) fn begin(mut host: Host) -> Dying {
        host.terminate();
        Dying { host, since: Instant::now() }
    }

    /// When it gets SIGKILL unless it exited: [`STOP_GRACE`] after SIGTERM.
    pub(crate) fn deadline(&self) -> Instant {
        self.since + STOP_GRACE
    }

    /// `true` once the host is gone (reaped, or killed after [`STOP_GRACE`]).
    pub(crate) fn poll(&mut self, now: Instant) -> bool {
        if self.host.exited().is_some() {
            remove_own_socket(&self.host.socket);
            return true;
        }
        if now.duration_since(self.since) >= STOP_GRACE {
            log::warn!("host {} did not stop within {} ms: killing it", self.host.pid(), STOP_GRACE.as_millis());
            self.host.signal(libc::SIGKILL);
            let _ = self.host.child.wait();
            remove_own_socket(&self.host.socket);
            return true;
        }
        false
    }

    /// Waits until the host is gone.
    pub(crate) fn finish(mut self) {
        while !self.poll(Instant::now()) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_describe_code_and_signal() {
        assert_eq!(describe(ExitStatus::from_raw(3 << 8)), "exited with code 3");
        assert_eq!(describe(ExitStatus::from_raw(6)), "killed by signal 6");
    }

    #[test]
    fn test_wait_ready_reports_exit() {
        let dir = std::env::temp_dir().join(format!("osconfig-host-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let launch = Launch {
            binary: Path::new("/bin/false"),
            root: Path::new("/"),
            user: 0,
            call_timeout: Duration::from_secs(1),
        };
        let mut host = Host::spawn(&launch, Path::new("/x.so"), &dir.join("x.sock")).unwrap();
        let err = host.wait_ready(Instant::now() + Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("exited with code 1"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_stop_all_kills_a_process_ignoring_sigterm() {
        let dir = std::env::temp_dir().join(format!("osconfig-host-stop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("stubborn.sh");
        std::fs::write(&script, "#!/bin/sh\ntrap '' TERM\nsleep 5 & wait\nsleep 5\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let launch = Launch { binary: &script, root: Path::new("/"), user: 0, call_timeout: Duration::from_secs(1) };
        let host = Host::spawn(&launch, Path::new("/x.so"), &dir.join("s.sock")).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        stop_all(vec![host]);
        let took = start.elapsed();
        assert!(took >= STOP_GRACE && took < STOP_GRACE * 3, "{took:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_spawn_replaces_a_stale_socket_and_never_a_live_one() {
        let dir = std::env::temp_dir().join(format!("osconfig-host-live-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let launch = Launch {
            binary: Path::new("/bin/true"),
            root: Path::new("/"),
            user: 0,
            call_timeout: Duration::from_secs(1),
        };
        let socket = dir.join("m.sock");
        drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
        let host = Host::spawn(&launch, Path::new("/x.so"), &socket).expect("a stale socket is replaced");
        assert!(!socket.exists());
        host.kill();
        let live = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let err = Host::spawn(&launch, Path::new("/x.so"), &socket).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(UnixStream::connect(&socket).is_ok(), "the live socket is still there");
        live.set_nonblocking(true).unwrap();
        assert!(live.accept().is_ok(), "and still ours");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
