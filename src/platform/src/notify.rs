//! systemd's service notification protocol (`sd_notify(3)`), without libsystemd.
//!
//! Under `Type=notify` systemd passes a datagram socket in `$NOTIFY_SOCKET` (a file system path, or `@name` for the
//! Linux abstract namespace) and, with `WatchdogSec=`, the watchdog period in `$WATCHDOG_USEC` (and the pid it is
//! meant for in `$WATCHDOG_PID`). A [`Notifier`] sends newline-separated `KEY=value` assignments there:
//!
//! | call | message |
//! |---|---|
//! | [`Notifier::ready`] | `READY=1` (start-up finished; again after a reload) |
//! | [`Notifier::reloading`] | `RELOADING=1` and `MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>` |
//! | [`Notifier::stopping`] | `STOPPING=1` |
//! | [`Notifier::watchdog`] | `WATCHDOG=1` (every [`Notifier::watchdog_interval`]) |
//! | [`Notifier::status`] | `STATUS=<text>` (newlines replaced by spaces) |
//!
//! Without `$NOTIFY_SOCKET` (started from a shell, a test, a non-systemd init) every call does nothing. Sending never
//! blocks (the socket is non-blocking: a full queue drops the message) and never fails the caller: an error is logged
//! at debug. The socket is opened close-on-exec, so module hosts and their commands do not inherit it (they do
//! inherit the environment: a caller that spawns children may remove [`NOTIFY_SOCKET_ENV`] and the watchdog variables
//! from theirs; the unit's `NotifyAccess=main` ignores what they send anyway).
//!
//! ## Limits
//! No file descriptor passing (`FDSTORE=1`), no `vsock:` addresses (logged at debug, treated as absent), no
//! credentials beyond what the kernel attaches to every datagram.
//!
//! ## Example
//! ```no_run
//! let notifier = osconfig_platform::notify::Notifier::from_env();
//! // ... bind the socket, start the modules ...
//! notifier.ready();
//! if let Some(every) = notifier.watchdog_interval() {
//!     // call notifier.watchdog() at least this often from the loop that must stay alive
//!     # let _ = every;
//! }
//! notifier.stopping();
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable naming the notification socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";
/// The environment variable with the watchdog period in microseconds (0 or absent: no watchdog).
pub const WATCHDOG_USEC_ENV: &str = "WATCHDOG_USEC";
/// The environment variable with the pid the watchdog period is meant for (absent: this process).
pub const WATCHDOG_PID_ENV: &str = "WATCHDOG_PID";

/// Where the messages go: an unbound datagram socket of our own and the address of systemd's.
struct Target {
    socket: UnixDatagram,
    addr: SocketAddr,
    /// The address as given, for logs.
    name: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target").field("addr", &self.name).finish_non_exhaustive()
    }
}

/// systemd's notification socket (`$NOTIFY_SOCKET`, a datagram socket; a path or `@` for the abstract namespace).
///
/// Cheap to clone (the socket is shared); `Send` and `Sync`.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    target: Option<Arc<Target>>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// The notifier systemd asked for: `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` (only when `$WATCHDOG_PID` is absent or
    /// names this process). Without `$NOTIFY_SOCKET` a notifier that does nothing.
    pub fn from_env() -> Notifier {
        let var = |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        let socket = std::env::var_os(NOTIFY_SOCKET_ENV).map(PathBuf::from);
        let watchdog =
            watchdog_from(var(WATCHDOG_USEC_ENV).as_deref(), var(WATCHDOG_PID_ENV).as_deref(), std::process::id());
        Notifier::new(socket, watchdog)
    }

    /// A notifier sending to `socket` (a path, or `@name` for the abstract namespace; `None` or an empty path:
    /// a notifier that does nothing), with the watchdog period `watchdog` (`None` or zero: no watchdog).
    pub fn new(socket: Option<PathBuf>, watchdog: Option<Duration>) -> Notifier {
        let target = socket.filter(|s| !s.as_os_str().is_empty()).and_then(|s| match open(s.as_os_str()) {
            Ok(target) => Some(Arc::new(target)),
            Err(e) => {
                log::debug!("notification socket {}: {e}; not notifying systemd", s.display());
                None
            }
        });
        Notifier { target, watchdog: watchdog.filter(|d| !d.is_zero()) }
    }

    /// Whether messages go anywhere (a socket was given and could be opened).
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// `READY=1`: start-up (or a reload) is complete.
    pub fn ready(&self) {
        self.send("READY=1");
    }

    /// `RELOADING=1` with `MONOTONIC_USEC`: a reload has begun; call [`Notifier::ready`] when it is done.
    pub fn reloading(&self) {
        if self.target.is_some() {
            self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
        }
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// `WATCHDOG=1`: the service is alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// `STATUS=<text>`: a one-line status for `systemctl status` (newlines become spaces).
    pub fn status(&self, text: &str) {
        if self.target.is_some() {
            self.send(&format!("STATUS={}", text.replace(['\n', '\r'], " ")));
        }
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, `None` when the watchdog is off (also when there is
    /// no notification socket to send to).
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.target.as_ref()?;
        self.watchdog.map(|d| d / 2)
    }

    fn send(&self, message: &str) {
        let Some(target) = &self.target else { return };
        match target.socket.send_to_addr(message.as_bytes(), &target.addr) {
            Ok(n) if n == message.len() => log::trace!("notified {}: {message:?}", target.name),
            Ok(n) => log::debug!("notification {message:?} to {}: only {n} bytes sent", target.name),
            Err(e) => log::debug!("notification {message:?} to {}: {e}", target.name),
        }
    }
}

/// The watchdog period from `WATCHDOG_USEC` and `WATCHDOG_PID` for the process `own_pid`.
fn watchdog_from(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        match pid.trim().parse::<u32>() {
            Ok(pid) if pid == own_pid => {}
            _ => {
                log::debug!("{WATCHDOG_PID_ENV}={pid:?} is not this process ({own_pid}); watchdog off");
                return None;
            }
        }
    }
    let usec = usec?;
    match usec.trim().parse::<u64>() {
        Ok(0) => None,
        Ok(n) => Some(Duration::from_micros(n)),
        Err(_) => {
            log::debug!("{WATCHDOG_USEC_ENV}={usec:?} is not a number; watchdog off");
            None
        }
    }
}

/// Opens an unbound, non-blocking, close-on-exec datagram socket and resolves `name` (`/path` or `@abstract`).
fn open(name: &OsStr) -> io::Result<Target> {
    let bytes = name.as_bytes();
    let addr = match bytes.first() {
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..])?,
        Some(b'/') => SocketAddr::from_pathname(name)?,
        _ => {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "neither an absolute path nor @abstract"));
        }
    };
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    Ok(Target { socket, addr, name: name.to_string_lossy().into_owned() })
}

/// `CLOCK_MONOTONIC` in microseconds (what systemd compares `MONOTONIC_USEC` against).
fn monotonic_usec() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC is always supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    if rc != 0 {
        return 0;
    }
    (now.tv_sec as u64).saturating_mul(1_000_000).saturating_add(now.tv_nsec as u64 / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn temp_dir() -> PathBuf {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("osconfig-notify-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn receive(listener: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = listener.recv(&mut buf).expect("a notification");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn listener_at(path: &std::path::Path) -> UnixDatagram {
        let listener = UnixDatagram::bind(path).unwrap();
        listener.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        listener
    }

    #[test]
    fn test_send_every_message_to_a_path() {
        let dir = temp_dir();
        let path = dir.join("notify.sock");
        let listener = listener_at(&path);
        let notifier = Notifier::new(Some(path), Some(Duration::from_millis(400)));
        assert!(notifier.is_enabled());
        notifier.ready();
        assert_eq!(receive(&listener), "READY=1");
        notifier.watchdog();
        assert_eq!(receive(&listener), "WATCHDOG=1");
        notifier.reloading();
        let reloading = receive(&listener);
        let (first, second) = reloading.split_once('\n').unwrap();
        assert_eq!(first, "RELOADING=1");
        let usec: u64 = second.strip_prefix("MONOTONIC_USEC=").unwrap().parse().unwrap();
        assert!(usec > 0);
        notifier.status("loading\nmodules");
        assert_eq!(receive(&listener), "STATUS=loading modules");
        notifier.clone().stopping();
        assert_eq!(receive(&listener), "STOPPING=1");
        assert_eq!(notifier.watchdog_interval(), Some(Duration::from_millis(200)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_send_to_an_abstract_socket() {
        let name = format!("osconfig-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        listener.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let notifier = Notifier::new(Some(PathBuf::from(format!("@{name}"))), None);
        notifier.ready();
        assert_eq!(receive(&listener), "READY=1");
        assert_eq!(notifier.watchdog_interval(), None);
    }

    #[test]
    fn test_send_without_socket_is_a_no_op() {
        let notifier = Notifier::new(None, Some(Duration::from_secs(30)));
        assert!(!notifier.is_enabled());
        notifier.ready();
        notifier.watchdog();
        notifier.status("x");
        assert_eq!(notifier.watchdog_interval(), None, "no socket: nobody to ping");
        assert!(!Notifier::new(Some(PathBuf::new()), None).is_enabled());
        assert!(!Notifier::new(Some(PathBuf::from("relative.sock")), None).is_enabled());
        assert!(!Notifier::default().is_enabled());
    }

    #[test]
    fn test_send_errors_are_not_fatal() {
        // The listener is gone (ECONNREFUSED / ENOENT), then its queue is full (EAGAIN): nothing panics or blocks.
        let dir = temp_dir();
        let path = dir.join("gone.sock");
        let notifier = Notifier::new(Some(path.clone()), None);
        notifier.ready();
        let listener = listener_at(&path);
        for _ in 0..10_000 {
            notifier.watchdog();
        }
        assert_eq!(receive(&listener), "WATCHDOG=1");
        drop(listener);
        notifier.stopping();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_watchdog_from_env_values() {
        assert_eq!(watchdog_from(Some("30000000"), None, 7), Some(Duration::from_secs(30)));
        assert_eq!(watchdog_from(Some("400000"), Some("7"), 7), Some(Duration::from_millis(400)));
        assert_eq!(watchdog_from(Some("400000"), Some("8"), 7), None, "meant for another process");
        assert_eq!(watchdog_from(Some("400000"), Some("x"), 7), None);
        assert_eq!(watchdog_from(Some("0"), None, 7), None);
        assert_eq!(watchdog_from(Some("soon"), None, 7), None);
        assert_eq!(watchdog_from(None, Some("7"), 7), None);
        let notifier = Notifier::new(Some(PathBuf::from("@x")), Some(Duration::ZERO));
        assert_eq!(notifier.watchdog_interval(), None);
    }
}
