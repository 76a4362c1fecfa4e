//! How to run a module host: [`HostProcess`] is the process side of one `osconfig-modulehost`, as the platform,
//! `osconfigctl` and the bench start it.
//!
//! - [`HostCommand`] builds `osconfig-modulehost --module <so> --socket <path> [--user <uid>]`, and
//!   [`HostCommand::spawn`] starts it hardened: in its own process group (a terminal's Ctrl-C reaches only the
//!   parent, which stops its hosts), with `PR_SET_PDEATHSIG` = SIGKILL (the host dies with the thread that started
//!   it, even when its process is killed with SIGKILL: start hosts from a thread that lives as long as they should),
//!   stdin from `/dev/null`, `OSCONFIG_ROOT` when [`HostCommand::root`] is given, and [`PARENT_ONLY_ENV`] (systemd's
//!   notification socket and watchdog) removed. A stale socket file at the path is removed first; a live one
//!   (something answers on it) is never removed: the spawn fails with `AddrInUse`.
//! - [`HostProcess::wait_ready`] waits until the socket accepts a connection; [`NotReady`] says why not.
//! - [`HostProcess::exited`] and [`HostProcess::exited_within`] give the exit status (and reap the process).
//! - [`HostProcess::terminate`] sends SIGTERM (the host closes its sessions, unloads its module and exits 0);
//!   [`HostProcess::kill`] sends SIGKILL, reaps and removes the socket; [`HostProcess::stop`] and [`stop_all`] do
//!   SIGTERM, then SIGKILL after a grace. [`describe`] words an exit status.
//! - Dropping a `HostProcess` whose process still runs kills and reaps it.
//! - Calls: [`HostProcess::client`] is a blocking [`MmiClient`] on the socket (the platform keeps its own
//!   non-blocking connection).
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use osconfig_modulehost::process::HostCommand;
//!
//! let mut host = HostCommand::new("/usr/lib/osconfig/osconfig-modulehost", "/usr/lib/osconfig/hostname.so", "/run/h.sock")
//!     .root("/")
//!     .spawn()?;
//! host.wait_ready(Instant::now() + Duration::from_secs(10)).map_err(std::io::Error::other)?;
//! let info = host.client().get_info("example").map_err(std::io::Error::other)?;
//! host.stop(Duration::from_millis(500));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use osconfig_rest::MmiClient;

/// Environment variables a host never inherits: systemd's notification socket and watchdog belong to the process
/// systemd started (a host, or a command its module runs, must not answer for it).
pub const PARENT_ONLY_ENV: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// The first pause between two connection attempts in [`HostProcess::wait_ready`]; it doubles up to
/// [`READY_POLL_MAX`].
const READY_POLL_FIRST: Duration = Duration::from_micros(100);
/// The longest pause between two connection attempts in [`HostProcess::wait_ready`].
const READY_POLL_MAX: Duration = Duration::from_millis(2);
/// How often [`HostProcess::exited_within`] and [`stop_all`] look at a process.
const EXIT_POLL: Duration = Duration::from_millis(1);

/// `exited with code 3` / `killed by signal 6`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "ended".to_string(),
    }
}

/// A module host's command line and environment, started with [`HostCommand::spawn`].
#[derive(Debug)]
pub struct HostCommand {
    command: Command,
    socket: PathBuf,
}

impl HostCommand {
    /// `program --module <module> --socket <socket>` (`program` is the `osconfig-modulehost` executable, or a link
    /// of that name to the platform's multi-call executable).
    pub fn new(program: impl AsRef<OsStr>, module: impl AsRef<OsStr>, socket: impl Into<PathBuf>) -> HostCommand {
        let socket = socket.into();
        let mut command = Command::new(program);
        command.arg("--module").arg(module).arg("--socket").arg(&socket).stdin(Stdio::null()).process_group(0);
        for key in PARENT_ONLY_ENV {
            command.env_remove(key);
        }
        let parent = std::process::id();
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2) and getppid(2), which are
        // async-signal-safe, and builds an io::Error from an errno (no allocation); it touches no memory of the
        // parent.
        unsafe {
            command.pre_exec(move || {
                // SIGKILL when the thread that started the host ends, so hosts never outlive their parent.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl: then no signal comes, and the host must not start.
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        HostCommand { command, socket }
    }

    /// `--user <uid>`: the host drops to that account (it must be started as root, or already run as `uid`).
    pub fn user(&mut self, uid: u32) -> &mut HostCommand {
        self.command.arg("--user").arg(uid.to_string());
        self
    }

    /// `OSCONFIG_ROOT` of the host (its module's paths and log files are under it).
    pub fn root(&mut self, root: impl AsRef<OsStr>) -> &mut HostCommand {
        self.command.env(osconfig_mmi::logger::ROOT_ENV, root);
        self
    }

    /// Another environment variable for the host (for example `OSCONFIG_LOG_LEVEL`).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut HostCommand {
        self.command.env(key, value);
        self
    }

    /// Where the host's stderr goes (inherited by default).
    pub fn stderr(&mut self, stderr: Stdio) -> &mut HostCommand {
        self.command.stderr(stderr);
        self
    }

    /// Removes a stale socket file, then starts the host; does not wait for its socket (see
    /// [`HostProcess::wait_ready`]). `AddrInUse` when something answers on the socket already (it is left alone).
    pub fn spawn(&mut self) -> io::Result<HostProcess> {
        remove_socket(&self.socket)?;
        let child = self.command.spawn()?;
        Ok(HostProcess { child, socket: self.socket.clone() })
    }
}

/// Why a host is not ready ([`HostProcess::wait_ready`]).
#[derive(Debug)]
pub enum NotReady {
    /// The process ended first.
    Exited {
        /// The host's process id.
        pid: u32,
        /// How it ended.
        status: ExitStatus,
    },
    /// The deadline passed before the socket accepted a connection.
    Timeout {
        /// The host's process id.
        pid: u32,
        /// The socket it did not open.
        socket: PathBuf,
    },
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReady::Exited { pid, status } => write!(f, "host {pid} {}", describe(*status)),
            NotReady::Timeout { pid, socket } => write!(f, "host {pid} did not open {} in time", socket.display()),
        }
    }
}

impl std::error::Error for NotReady {}

/// How a host ended when asked to stop ([`HostProcess::stop`], [`stop_all`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It had ended before it was asked.
    Already(ExitStatus),
    /// It ended after SIGTERM, within the grace.
    Exited(ExitStatus),
    /// It still ran when the grace was over: killed with SIGKILL.
    Killed,
}

impl Stopped {
    /// `true` when it stopped as asked: exit code 0, or death by SIGTERM, within the grace.
    pub fn is_clean(&self) -> bool {
        matches!(self, Stopped::Exited(status) if status.success() || status.signal() == Some(libc::SIGTERM))
    }
}

/// A running module host (see the module docs); killed and reaped on drop if it still runs.
#[derive(Debug)]
pub struct HostProcess {
    child: Child,
    socket: PathBuf,
}

impl HostProcess {
    /// The host's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The host's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A blocking MMI client on the host's socket (one connection, kept alive between calls).
    pub fn client(&self) -> MmiClient {
        MmiClient::new(&self.socket)
    }

    /// Waits until the host accepts connections on its socket, or it exits, or `deadline` passes.
    pub fn wait_ready(&mut self, deadline: Instant) -> Result<(), NotReady> {
        let mut pause = READY_POLL_FIRST;
        loop {
            if let Some(status) = self.exited() {
                return Err(NotReady::Exited { pid: self.id(), status });
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(NotReady::Timeout { pid: self.id(), socket: self.socket.clone() });
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(READY_POLL_MAX);
        }
    }

    /// The exit status if the process has ended (reaps it).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `grace` for the process to end on its own (a crashing module closes the socket a moment before
    /// the process is gone): its exit status, or `None` if it still runs.
    pub fn exited_within(&mut self, grace: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(EXIT_POLL);
        }
    }

    /// Sends SIGTERM if the process still runs.
    pub fn terminate(&mut self) {
        if self.exited().is_none() {
            self.signal(libc::SIGTERM);
        }
    }

    /// Sends `signal`; only called while the process is known not to be reaped.
    fn signal(&self, signal: libc::c_int) {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else { return };
        // SAFETY: kill(2) has no memory-safety preconditions; the child is not reaped yet (the callers saw
        // try_wait return None), so the pid still names our child.
        unsafe { libc::kill(pid, signal) };
    }

    /// SIGKILL if it still runs, reap, and remove the socket (unless something else answers on it: logged, kept).
    /// The status the process had before the kill if it had already ended. Calling it again does no harm.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        let before = self.exited();
        if before.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        remove_own_socket(&self.socket);
        before
    }

    /// SIGTERM, then SIGKILL if it still runs after `grace`; reaps it and removes its socket.
    pub fn stop(self, grace: Duration) -> Stopped {
        stop_all(vec![self], grace).pop().map_or(Stopped::Killed, |(_, stopped)| stopped)
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if self.exited().is_none() {
            self.kill();
        }
    }
}

/// Stops `hosts` together: SIGTERM to all, then SIGKILL to those still running after `grace` (logged as a warning);
/// reaps all and removes their sockets. Each host's pid and how it stopped, in no particular order.
pub fn stop_all(hosts: Vec<HostProcess>, grace: Duration) -> Vec<(u32, Stopped)> {
    let mut stopped = Vec::with_capacity(hosts.len());
    let mut running = Vec::with_capacity(hosts.len());
    for mut host in hosts {
        match host.exited() {
            Some(status) => {
                log_unclean(host.id(), status);
                host.kill();
                stopped.push((host.id(), Stopped::Already(status)));
            }
            None => {
                host.signal(libc::SIGTERM);
                running.push(host);
            }
        }
    }
    let deadline = Instant::now() + grace;
    while !running.is_empty() {
        running.retain_mut(|host| match host.exited() {
            Some(status) => {
                log_unclean(host.id(), status);
                host.kill();
                stopped.push((host.id(), Stopped::Exited(status)));
                false
            }
            None => true,
        });
        if running.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(EXIT_POLL);
    }
    for mut host in running {
        log::warn!("host {} did not stop within {} ms: killing it", host.id(), grace.as_millis());
        host.kill();
        stopped.push((host.id(), Stopped::Killed));
    }
    stopped
}

/// A stopped host that did not exit 0, at debug level.
fn log_unclean(pid: u32, status: ExitStatus) {
    if !status.success() {
        log::debug!("host {pid} {}", describe(status));
    }
}

/// Removes `path` if it is a socket file that nothing answers on (a stale one left by a killed host); a live
/// socket (another host's) is never removed: `Err(AddrInUse)`.
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

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;

    /// A fresh scratch directory for one test, removed by the test.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("osconfig-process-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// An executable shell script in `dir`.
    fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn running(pid: u32) -> bool {
        // A zombie still has a /proc entry: look at its state.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
            .unwrap_or(false)
    }

    #[test]
    fn test_describe_code_and_signal() {
        assert_eq!(describe(ExitStatus::from_raw(3 << 8)), "exited with code 3");
        assert_eq!(describe(ExitStatus::from_raw(6)), "killed by signal 6");
    }

    #[test]
    fn test_wait_ready_reports_exit() {
        let dir = scratch("exit");
        let mut host = HostCommand::new("/bin/false", "/x.so", dir.join("x.sock")).spawn().unwrap();
        let err = host.wait_ready(Instant::now() + Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, NotReady::Exited { .. }), "{err:?}");
        assert!(err.to_string().ends_with("exited with code 1"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_wait_ready_times_out_and_drop_kills() {
        let dir = scratch("timeout");
        let sleeper = script(&dir, "sleeper.sh", "#!/bin/sh\nexec sleep 30\n");
        let mut host = HostCommand::new(&sleeper, "/x.so", dir.join("x.sock")).spawn().unwrap();
        let err = host.wait_ready(Instant::now() + Duration::from_millis(50)).unwrap_err();
        assert!(err.to_string().contains("did not open"), "{err}");
        let pid = host.id();
        drop(host);
        assert!(!running(pid), "dropping the handle kills the host");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_spawn_host_dies_with_the_thread_that_started_it() {
        let dir = scratch("pdeath");
        let sleeper = script(&dir, "sleeper.sh", "#!/bin/sh\nexec sleep 30\n");
        let socket = dir.join("x.sock");
        let mut host =
            std::thread::spawn(move || HostCommand::new(&sleeper, "/x.so", socket).spawn().unwrap()).join().unwrap();
        let status = host.exited_within(Duration::from_secs(5)).expect("PR_SET_PDEATHSIG ends the host");
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_wait_ready_sees_a_listening_socket() {
        let dir = scratch("ready");
        let socket = dir.join("x.sock");
        // The test itself listens on the socket the "host" was given.
        let sleeper = script(&dir, "sleeper.sh", "#!/bin/sh\nexec sleep 30\n");
        let mut host = HostCommand::new(&sleeper, "/x.so", &socket).spawn().unwrap();
        let _listener = UnixListener::bind(&socket).unwrap();
        host.wait_ready(Instant::now() + Duration::from_secs(5)).unwrap();
        let _client = host.client();
        assert!(host.stop(Duration::from_secs(5)).is_clean());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_stop_kills_a_process_ignoring_sigterm() {
        let dir = scratch("stop");
        let stubborn = script(&dir, "stubborn.sh", "#!/bin/sh\ntrap '' TERM\nsleep 5 & wait\nsleep 5\n");
        let host = HostCommand::new(&stubborn, "/x.so", dir.join("s.sock")).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let grace = Duration::from_millis(200);
        let start = Instant::now();
        assert_eq!(host.stop(grace), Stopped::Killed);
        let took = start.elapsed();
        assert!(took >= grace && took < grace * 5, "{took:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_stop_all_reports_each_host() {
        let dir = scratch("stopall");
        let mut done = HostCommand::new("/bin/true", "/x.so", dir.join("a.sock")).spawn().unwrap();
        done.exited_within(Duration::from_secs(5)).expect("true exits");
        let sleeper = script(&dir, "sleeper.sh", "#!/bin/sh\nexec sleep 30\n");
        let asleep = HostCommand::new(&sleeper, "/x.so", dir.join("b.sock")).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let (done_pid, asleep_pid) = (done.id(), asleep.id());
        let mut stopped = stop_all(vec![done, asleep], Duration::from_secs(5));
        stopped.sort_by_key(|(pid, _)| *pid);
        let mut expected = vec![
            (done_pid, Stopped::Already(ExitStatus::from_raw(0))),
            (asleep_pid, Stopped::Exited(ExitStatus::from_raw(libc::SIGTERM))),
        ];
        expected.sort_by_key(|(pid, _)| *pid);
        assert_eq!(stopped, expected);
        assert!(stopped.iter().any(|(_, s)| s.is_clean()) && !Stopped::Already(ExitStatus::from_raw(0)).is_clean());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_spawn_replaces_a_stale_socket_and_never_a_live_one() {
        let dir = scratch("live");
        let socket = dir.join("m.sock");
        drop(UnixListener::bind(&socket).unwrap());
        let mut host = HostCommand::new("/bin/true", "/x.so", &socket).spawn().expect("a stale socket is replaced");
        assert!(!socket.exists());
        host.kill();
        let live = UnixListener::bind(&socket).unwrap();
        let err = HostCommand::new("/bin/true", "/x.so", &socket).spawn().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(UnixStream::connect(&socket).is_ok(), "the live socket is still there");
        live.set_nonblocking(true).unwrap();
        assert!(live.accept().is_ok(), "and still ours");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_spawn_hardening_group_env_and_arguments() {
        let dir = scratch("env");
        let out = dir.join("out");
        // Prints its arguments, its process group, stdin's target and the environment it got.
        let probe = script(
            &dir,
            "probe.sh",
            &format!(
                "#!/bin/sh\nread -r pid comm state ppid pgrp rest < /proc/$$/stat\n\
                 {{ echo \"args $*\"; echo \"pgid $pgrp pid $pid\"; echo \"stdin $(readlink /proc/$$/fd/0)\"; env; }} > {}\n",
                out.display()
            ),
        );
        let mut host = HostCommand::new(&probe, "/m.so", dir.join("s.sock"))
            .user(1234)
            .root("/some/root")
            .env("OSCONFIG_LOG_LEVEL", "error")
            .spawn()
            .unwrap();
        let status = host.exited_within(Duration::from_secs(10)).expect("the probe exits");
        assert!(status.success(), "{status:?}");
        let text = std::fs::read_to_string(&out).unwrap();
        let socket = dir.join("s.sock");
        assert!(text.contains(&format!("args --module /m.so --socket {} --user 1234\n", socket.display())), "{text}");
        let pgid_line = text.lines().find(|l| l.starts_with("pgid ")).unwrap();
        let fields: Vec<&str> = pgid_line.split(' ').collect();
        assert_eq!(fields[1], fields[3], "its own process group: {pgid_line}");
        assert!(text.contains("stdin /dev/null\n"), "{text}");
        assert!(text.contains("OSCONFIG_ROOT=/some/root\n") && text.contains("OSCONFIG_LOG_LEVEL=error\n"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
