//! Limits every server and client enforces, as named constants with units, gathered in [`Limits`].

use std::time::Duration;

/// Largest request or response head (request line, status line and headers), in bytes.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most headers in one request or response.
pub const MAX_HEADERS: usize = 32;
/// Largest body, in bytes: room for a whole desired document.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Most connections a server keeps open at once; one more gets a canned 503 and is closed.
pub const MAX_CONNECTIONS: usize = 512;
/// Longest time a client may take to send one whole request once its first byte arrived.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time a kept-alive connection may sit idle between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Most requests of one connection that may wait for their answers at once (pipelining);
/// the server stops reading that connection until the oldest is answered.
pub const MAX_PIPELINED: usize = 16;

/// The limits of one server or client. `Limits::default()` uses the constants of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// See [`MAX_HEAD_BYTES`].
    pub max_head_bytes: usize,
    /// See [`MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`READ_TIMEOUT`].
    pub read_timeout: Duration,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`MAX_PIPELINED`].
    pub max_pipelined: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: MAX_HEAD_BYTES,
            max_headers: MAX_HEADERS,
            max_body_bytes: MAX_BODY_BYTES,
            max_connections: MAX_CONNECTIONS,
            read_timeout: READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_pipelined: MAX_PIPELINED,
        }
    }
}

impl Limits {
    /// Sets the largest head, in bytes (at least 64).
    pub fn with_max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes.max(64);
        self
    }

    /// Sets the most headers (at least 1).
    pub fn with_max_headers(mut self, count: usize) -> Self {
        self.max_headers = count.max(1);
        self
    }

    /// Sets the largest body, in bytes.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the most concurrent connections (at least 1).
    pub fn with_max_connections(mut self, count: usize) -> Self {
        self.max_connections = count.max(1);
        self
    }

    /// Sets the time allowed to send one whole request.
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets the time a kept-alive connection may stay idle.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets the most requests of one connection waiting for answers (at least 1).
    pub fn with_max_pipelined(mut self, count: usize) -> Self {
        self.max_pipelined = count.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_limits_default_uses_constants() {
        let limits = Limits::default();
        assert_eq!(limits.max_head_bytes, MAX_HEAD_BYTES);
        assert_eq!(limits.max_body_bytes, 4 * 1024 * 1024);
        assert_eq!(limits.max_connections, MAX_CONNECTIONS);
    }

    #[test]
    fn test_limits_setters_clamp_to_sane_minimums() {
        let limits =
            Limits::default().with_max_head_bytes(1).with_max_headers(0).with_max_connections(0).with_max_pipelined(0);
        assert_eq!(limits.max_head_bytes, 64);
        assert_eq!(limits.max_headers, 1);
        assert_eq!(limits.max_connections, 1);
        assert_eq!(limits.max_pipelined, 1);
    }
}
