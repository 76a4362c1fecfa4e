//! systemd's service notification (`sd_notify(3)`) without libsystemd: `READY=1`, `STATUS=..`, `STOPPING=1` to
//! `$NOTIFY_SOCKET` (a path or `@abstract`). Without the variable every call does nothing; sending never blocks
//! and never fails the caller.
//!
//! A small duplicate of the platform's `notify` module (which is private to the platform crate); to be
//! consolidated into a shared crate.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable naming the notification socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// The notification socket, if systemd gave one.
#[derive(Debug, Default)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`.
    pub fn from_env() -> Notifier {
        std::env::var_os(NOTIFY_SOCKET_ENV).map_or_else(Notifier::default, |name| Notifier::to(name.as_ref()))
    }

    /// To the socket `name` (an absolute path, or `@name` in the abstract namespace); does nothing for others.
    pub fn to(name: &std::ffi::OsStr) -> Notifier {
        let bytes = name.as_bytes();
        let addr = match bytes.first() {
            Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
            Some(b'/') => SocketAddr::from_pathname(name),
            _ => return Notifier::default(),
        };
        let target = addr.ok().and_then(|addr| {
            let socket = UnixDatagram::unbound().ok()?;
            socket.set_nonblocking(true).ok()?;
            Some((socket, addr))
        });
        Notifier { target }
    }

    /// Sends `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", status.replace('\n', " ")));
    }

    /// Sends a status line.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", status.replace('\n', " ")));
    }

    /// Sends `STOPPING=1`.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    fn send(&self, message: &str) {
        if let Some((socket, addr)) = &self.target {
            if let Err(e) = socket.send_to_addr(message.as_bytes(), addr) {
                log::debug!("systemd notification {message:?}: {e}");
            }
        }
    }
}
