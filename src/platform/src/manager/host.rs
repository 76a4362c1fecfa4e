//! One module host process and the manager's connection to it: the process side is
//! [`osconfig_modulehost::process::HostProcess`] (spawn hardened, wait for the socket, stop or kill), shared with
//! `osconfigctl` and the bench; this file adds the platform's launch settings, the kept-alive connection and the
//! hosts that are stopping ([`Dying`]).

use std::io;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use osconfig_modulehost::process::{HostCommand, HostProcess};

pub(crate) use osconfig_modulehost::process::describe;

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
    process: HostProcess,
    /// The connection; `None` until the first call, or after the host closed it.
    pub(crate) conn: Option<HostConn>,
}

impl Host {
    /// Starts `osconfig-modulehost --module <module> --socket <socket> [--user <uid>]` with `OSCONFIG_ROOT` set and
    /// the hardening of [`HostCommand::spawn`]: its own process group (terminal signals do not reach it; the manager
    /// stops it), `PR_SET_PDEATHSIG` = SIGKILL (it dies with the thread that started it: the MPI loop's), no
    /// systemd notification variables. A stale socket file at `socket` is removed first; a live one (something
    /// answers on it) is left alone and the host not started (`AddrInUse`). Does not wait for the socket: see
    /// [`Host::wait_ready`].
    pub(crate) fn spawn(launch: &Launch<'_>, module: &Path, socket: &Path) -> io::Result<Host> {
        let mut command = HostCommand::new(launch.binary, module, socket);
        command.root(launch.root);
        if launch.user != 0 {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let euid = unsafe { libc::geteuid() };
            if euid == 0 {
                command.user(launch.user);
            } else {
                log::warn!(
                    "module {} asks for user account {}, but the platform is not root: it runs as uid {euid}",
                    module.display(),
                    launch.user
                );
            }
        }
        let process = command.spawn()?;
        log::debug!("started host {} for {} on {}", process.id(), module.display(), socket.display());
        Ok(Host { process, conn: None })
    }

    /// The host's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Waits until the host accepts connections on its socket; an error says why not (it exited, or the deadline
    /// passed).
    pub(crate) fn wait_ready(&mut self, deadline: Instant) -> Result<(), String> {
        self.process.wait_ready(deadline).map_err(|e| e.to_string())
    }

    /// The host's socket.
    pub(crate) fn socket(&self) -> &Path {
        self.process.socket()
    }

    /// The exit status if the process has ended (reaps it).
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.process.exited()
    }

    /// The exit status after a failed call: waits up to `grace` for the process to end on its own (a crashing
    /// module closes the socket a moment before the process is gone), `None` if it is still running.
    pub(crate) fn exited_within(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.process.exited_within(grace)
    }

    /// Sends SIGTERM (the host closes its sessions, unloads the module and exits 0).
    pub(crate) fn terminate(&mut self) {
        self.process.terminate();
    }

    /// SIGKILL, reap and remove the socket; the status the process had before the kill if it had already ended.
    pub(crate) fn kill(mut self) -> Option<ExitStatus> {
        self.process.kill()
    }
}

/// Stops `hosts` together: SIGTERM to all, then SIGKILL to those still running after [`STOP_GRACE`]; reaps all
/// and removes their sockets ([`osconfig_modulehost::process::stop_all`]). Their connections close afterwards.
pub(crate) fn stop_all(hosts: Vec<Host>) {
    if hosts.is_empty() {
        return;
    }
    let (processes, conns): (Vec<HostProcess>, Vec<Option<HostConn>>) =
        hosts.into_iter().map(|host| (host.process, host.conn)).unzip();
    osconfig_modulehost::process::stop_all(processes, STOP_GRACE);
    drop(conns);
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

    /// `true` once the host is gone (reaped, or killed after [`STOP_GRACE`]); its socket is removed then.
    pub(crate) fn poll(&mut self, now: Instant) -> bool {
        if self.host.exited().is_some() {
            self.host.process.kill();
            return true;
        }
        if now.duration_since(self.since) >= STOP_GRACE {
            log::warn!("host {} did not stop within {} ms: killing it", self.host.pid(), STOP_GRACE.as_millis());
            self.host.process.kill();
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

    use std::os::unix::net::UnixListener;

    // Hardening, stale sockets and stop outcomes are tested with `HostProcess` in osconfig-modulehost; these check
    // what the platform relies on: its messages, the grace of `stop_all`, the sockets `Dying` removes.

    fn launch(binary: &Path) -> Launch<'_> {
        Launch { binary, root: Path::new("/"), user: 0, call_timeout: Duration::from_secs(1) }
    }

    #[test]
    fn test_wait_ready_reports_exit() {
        let dir = std::env::temp_dir().join(format!("osconfig-host-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut host = Host::spawn(&launch(Path::new("/bin/false")), Path::new("/x.so"), &dir.join("x.sock")).unwrap();
        let err = host.wait_ready(Instant::now() + Duration::from_secs(5)).unwrap_err();
        assert_eq!(err, format!("host {} exited with code 1", host.pid()));
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
        let host = Host::spawn(&launch(&script), Path::new("/x.so"), &dir.join("s.sock")).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        stop_all(vec![host]);
        let took = start.elapsed();
        assert!(took >= STOP_GRACE && took < STOP_GRACE * 3, "{took:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_dying_poll_removes_the_socket_of_an_exited_host() {
        let dir = std::env::temp_dir().join(format!("osconfig-host-dying-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("d.sock");
        let host = Host::spawn(&launch(Path::new("/bin/true")), Path::new("/x.so"), &socket).unwrap();
        // A socket file the "host" left behind.
        drop(UnixListener::bind(&socket).unwrap());
        let mut dying = Dying::begin(host);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !dying.poll(Instant::now()) {
            assert!(Instant::now() < deadline + STOP_GRACE, "the host neither exited nor was killed");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!socket.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
