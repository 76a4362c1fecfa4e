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
/// Most answer bytes one connection may have waiting for its client to read them, in bytes. Above it the server
/// stops reading (and so running) that connection's requests until the client has read enough.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Most bytes all connections of a server may buffer together (requests being received and answers being sent),
/// in bytes. Above it a connection reads on only while it holds less than [`CONNECTION_BUFFER_BYTES`] and owes no
/// output; the others pause until the total falls back under the budget (or their read timeout ends them).
pub const MAX_BUFFERED_BYTES: usize = 16 * 1024 * 1024;
/// Buffer bytes each connection may always hold outside [`MAX_BUFFERED_BYTES`] (so small requests are read
/// however full the budget is), and the most it keeps between requests: bigger buffers are given back once empty.
pub const CONNECTION_BUFFER_BYTES: usize = 16 * 1024;
/// Most connections one non-root uid may hold at once; its next connection evicts its own longest-idle
/// kept-alive connection, or is answered 503. Root is bounded only by [`MAX_CONNECTIONS`].
pub const MAX_CONNECTIONS_PER_UID: usize = 64;
/// Connection slots only root may take: all other uids together hold at most
/// [`MAX_CONNECTIONS`] minus this (and at least 1).
pub const ROOT_RESERVED_CONNECTIONS: usize = 64;
/// How long a kept-alive connection must have been idle before a new connection may evict it when the table (or
/// its uid's share) is full; younger ones are kept and the new connection gets 503.
pub const EVICTABLE_IDLE: Duration = Duration::from_secs(1);
/// How long a connection refused at accept (503, or 403 from [`crate::Handler::admits`]) is held, its answer sent
/// and nothing more read, before it is closed, so a client that writes its request after connecting reads the
/// answer instead of `EPIPE`. Such connections take no slot.
pub const REFUSED_LINGER: Duration = Duration::from_secs(1);
/// Most refused connections held for [`REFUSED_LINGER`] at once; the oldest is closed to make room.
pub const MAX_REFUSED_LINGERING: usize = 64;
/// The "connection limit reached" and "connection refused" warnings are logged at most once per this period,
/// with the count of those not logged.
pub const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(10);

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
    /// See [`MAX_OUTPUT_BYTES`].
    pub max_output_bytes: usize,
    /// See [`MAX_BUFFERED_BYTES`].
    pub max_buffered_bytes: usize,
    /// See [`CONNECTION_BUFFER_BYTES`].
    pub connection_buffer_bytes: usize,
    /// See [`MAX_CONNECTIONS_PER_UID`].
    pub max_connections_per_uid: usize,
    /// See [`ROOT_RESERVED_CONNECTIONS`].
    pub root_reserved_connections: usize,
    /// See [`EVICTABLE_IDLE`].
    pub evictable_idle: Duration,
    /// See [`REFUSED_LINGER`].
    pub refused_linger: Duration,
    /// See [`MAX_REFUSED_LINGERING`].
    pub max_refused_lingering: usize,
    /// See [`REFUSAL_LOG_PERIOD`].
    pub refusal_log_period: Duration,
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
            max_output_bytes: MAX_OUTPUT_BYTES,
            max_buffered_bytes: MAX_BUFFERED_BYTES,
            connection_buffer_bytes: CONNECTION_BUFFER_BYTES,
            max_connections_per_uid: MAX_CONNECTIONS_PER_UID,
            root_reserved_connections: ROOT_RESERVED_CONNECTIONS,
            evictable_idle: EVICTABLE_IDLE,
            refused_linger: REFUSED_LINGER,
            max_refused_lingering: MAX_REFUSED_LINGERING,
            refusal_log_period: REFUSAL_LOG_PERIOD,
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

    /// Sets the most unsent answer bytes of one connection before its reading pauses (at least 1).
    pub fn with_max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes.max(1);
        self
    }

    /// Sets the bytes all connections may buffer together.
    pub fn with_max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes;
        self
    }

    /// Sets the bytes each connection may hold outside the shared budget and keep between requests (at least
    /// [`MAX_HEAD_BYTES`]` / 8`, so a small request is always read).
    pub fn with_connection_buffer_bytes(mut self, bytes: usize) -> Self {
        self.connection_buffer_bytes = bytes.max(MAX_HEAD_BYTES / 8);
        self
    }

    /// Sets the most connections of one non-root uid (at least 1).
    pub fn with_max_connections_per_uid(mut self, count: usize) -> Self {
        self.max_connections_per_uid = count.max(1);
        self
    }

    /// Sets the slots only root may take.
    pub fn with_root_reserved_connections(mut self, count: usize) -> Self {
        self.root_reserved_connections = count;
        self
    }

    /// Sets how long a kept-alive connection must be idle before a new connection may evict it.
    pub fn with_evictable_idle(mut self, idle: Duration) -> Self {
        self.evictable_idle = idle;
        self
    }

    /// Sets how long a refused connection is held before it is closed.
    pub fn with_refused_linger(mut self, linger: Duration) -> Self {
        self.refused_linger = linger;
        self
    }

    /// Sets the most refused connections held at once.
    pub fn with_max_refused_lingering(mut self, count: usize) -> Self {
        self.max_refused_lingering = count;
        self
    }

    /// Sets the period of the rate-limited refusal warnings.
    pub fn with_refusal_log_period(mut self, period: Duration) -> Self {
        self.refusal_log_period = period;
        self
    }

    /// The most connections that uids other than root may hold together.
    pub fn non_root_connections(&self) -> usize {
        self.max_connections.saturating_sub(self.root_reserved_connections).max(1)
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
        assert_eq!(limits.max_output_bytes, MAX_OUTPUT_BYTES);
        assert_eq!(limits.max_buffered_bytes, 16 * 1024 * 1024);
        assert_eq!(limits.connection_buffer_bytes, CONNECTION_BUFFER_BYTES);
        assert_eq!(limits.max_connections_per_uid, MAX_CONNECTIONS_PER_UID);
        assert_eq!(limits.root_reserved_connections, ROOT_RESERVED_CONNECTIONS);
        assert_eq!(limits.evictable_idle, EVICTABLE_IDLE);
        assert_eq!(limits.refused_linger, REFUSED_LINGER);
        assert_eq!(limits.max_refused_lingering, MAX_REFUSED_LINGERING);
        assert_eq!(limits.refusal_log_period, REFUSAL_LOG_PERIOD);
        assert_eq!(limits.non_root_connections(), MAX_CONNECTIONS - ROOT_RESERVED_CONNECTIONS);
    }

    #[test]
    fn test_limits_hardening_setters() {
        let limits = Limits::default()
            .with_max_output_bytes(0)
            .with_max_buffered_bytes(1000)
            .with_connection_buffer_bytes(1)
            .with_max_connections_per_uid(0)
            .with_max_connections(8)
            .with_root_reserved_connections(100)
            .with_evictable_idle(Duration::from_millis(5))
            .with_refused_linger(Duration::from_millis(6))
            .with_max_refused_lingering(3)
            .with_refusal_log_period(Duration::from_millis(7));
        assert_eq!(limits.max_output_bytes, 1);
        assert_eq!(limits.max_buffered_bytes, 1000);
        assert_eq!(limits.connection_buffer_bytes, MAX_HEAD_BYTES / 8);
        assert_eq!(limits.max_connections_per_uid, 1);
        assert_eq!(limits.non_root_connections(), 1, "the reserve never leaves other uids with no slot");
        assert_eq!(limits.evictable_idle, Duration::from_millis(5));
        assert_eq!(limits.refused_linger, Duration::from_millis(6));
        assert_eq!(limits.max_refused_lingering, 3);
        assert_eq!(limits.refusal_log_period, Duration::from_millis(7));
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
