//! Syslog (and so journald) output through the local Unix socket, facility daemon.
//!
//! The `syslog` crate finds and connects the socket (datagram `/dev/log`, or a stream where syslogd made one); the
//! RFC 3164 line is written by [`Rfc3164`] here, which needs no date-formatting library (keeps module `.so` files
//! small), and the sends are ours: non-blocking, see [`SyslogSink`].

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use log::Level;
use syslog::{Facility, LogFormat, LoggerBackend, Severity};

use crate::format::{cut_line, format_utc, now_unix};

/// `<priority>Mmm dd hh:mm:ss process[pid]: message`, facility daemon, time in UTC.
#[derive(Debug, Clone)]
pub(crate) struct Rfc3164 {
    process: String,
    pid: u32,
}

impl<T: fmt::Display> LogFormat<T> for Rfc3164 {
    fn format<W: Write>(&self, w: &mut W, severity: Severity, message: T) -> syslog::Result<()> {
        let priority = Facility::LOG_DAEMON as u8 | severity as u8;
        write!(w, "<{priority}>{} {}[{}]: {message}", syslog_time(now_unix()), self.process, self.pid)
            .map_err(syslog::Error::Write)
    }
}

/// RFC 3164 timestamp `Mmm dd hh:mm:ss` (day padded with a space) for seconds since the epoch, UTC.
fn syslog_time(unix: u64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    // "YYYY-MM-DD HH:MM:SS+0000"
    let utc = format_utc(unix);
    let month: usize = utc[5..7].parse().unwrap_or(1);
    let day: u32 = utc[8..10].parse().unwrap_or(1);
    format!("{} {day:>2} {}", MONTHS[month.clamp(1, 12) - 1], &utc[11..19])
}

type SyslogLogger = syslog::Logger<LoggerBackend, Rfc3164>;

/// The longest message sent to syslog, in bytes; a longer one is cut with a `... [<n> bytes cut]` marker.
///
/// rsyslog's default `maxMessageSize`; it also keeps every datagram far below the socket's size limit.
pub(crate) const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// Stream sockets only: the bytes of whole messages accepted while the socket was full, sent before the next one.
/// A message that does not fit is dropped (and counted).
const MAX_PENDING_BYTES: usize = 64 * 1024;

/// A connection to the local syslog socket for one process name (`osconfig-<name>`).
///
/// **Never blocks**: the socket is non-blocking. When it is full (syslogd busy or stopped, its queue at
/// `net.unix.max_dgram_qlen`) the message is dropped and counted, and the count is sent ahead of the next message
/// that gets through, at warning: `<n> syslog messages dropped (the syslog socket was full)`. The file and stderr
/// copies of those lines are not affected. (A thread with a queue was the other choice; the logger also runs
/// inside module `.so` files, which must not leave a thread behind when they are unloaded.)
pub(crate) struct SyslogSink {
    formatter: Rfc3164,
    /// `None`: the usual socket paths (`/dev/log`, ...); `Some`: this socket (tests).
    path: Option<std::path::PathBuf>,
    logger: Option<SyslogLogger>,
    /// Stream sockets: whole NUL-terminated frames not yet written (at most [`MAX_PENDING_BYTES`]).
    pending: Vec<u8>,
    /// Messages dropped since the last count was sent.
    dropped: u64,
}

impl fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyslogSink")
            .field("process", &self.formatter.process)
            .field("connected", &self.logger.is_some())
            .field("dropped", &self.dropped)
            .finish()
    }
}

/// What became of one message.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    /// Handed to the socket (or, on a stream, queued whole behind earlier bytes).
    Yes,
    /// The socket is full: dropped.
    Full,
}

impl SyslogSink {
    /// Connect to `/dev/log` (or the other usual socket paths) as `process`, facility daemon.
    pub(crate) fn connect(process: &str) -> Result<SyslogSink, syslog::Error> {
        SyslogSink::new(process, None)
    }

    /// Connect to the syslog socket at `path` (tests).
    #[cfg(test)]
    pub(crate) fn connect_to(process: &str, path: &Path) -> Result<SyslogSink, syslog::Error> {
        SyslogSink::new(process, Some(path))
    }

    fn new(process: &str, path: Option<&Path>) -> Result<SyslogSink, syslog::Error> {
        let formatter = Rfc3164 { process: process.to_string(), pid: std::process::id() };
        let path = path.map(Path::to_path_buf);
        let logger = open(&formatter, path.as_deref())?;
        Ok(SyslogSink { formatter, path, logger: Some(logger), pending: Vec::new(), dropped: 0 })
    }

    /// Send `message` (`[file.rs:line] text`, already formatted) at the severity of `level`, without blocking.
    ///
    /// A full socket drops the message (counted, see the type's docs): that is not an error. When the socket broke
    /// (syslogd restarted), reconnects once and retries; if that fails too the sink closes itself and the error is
    /// returned (the caller reports it once).
    pub(crate) fn send(&mut self, level: Level, message: &str) -> Result<(), syslog::Error> {
        if self.logger.is_none() {
            return Ok(());
        }
        if self.dropped > 0 {
            let note = format!("{} syslog messages dropped (the syslog socket was full)", self.dropped);
            if self.send_or_reconnect(Level::Warn, &note)? == Sent::Yes {
                self.dropped = 0;
            }
        }
        if self.send_or_reconnect(level, message)? == Sent::Full {
            self.dropped += 1;
        }
        Ok(())
    }

    fn send_or_reconnect(&mut self, level: Level, message: &str) -> Result<Sent, syslog::Error> {
        let mut cut;
        let message = if message.len() > MAX_MESSAGE_BYTES {
            cut = message.to_string();
            cut_line(&mut cut, MAX_MESSAGE_BYTES);
            cut.as_str()
        } else {
            message
        };
        let mut frame = Vec::with_capacity(message.len() + 64);
        self.formatter.format(&mut frame, severity(level), message)?;
        let Some(logger) = self.logger.as_mut() else { return Ok(Sent::Yes) };
        if let Ok(sent) = send_frame(logger, &mut self.pending, &frame) {
            return Ok(sent);
        }
        self.logger = None;
        // A new connection must start on a frame boundary: what the old one had pending is lost.
        self.pending.clear();
        let mut logger = open(&self.formatter, self.path.as_deref())?;
        let sent = send_frame(&mut logger, &mut self.pending, &frame).map_err(syslog::Error::Write)?;
        self.logger = Some(logger);
        Ok(sent)
    }
}

/// Connect and make the socket non-blocking.
fn open(formatter: &Rfc3164, path: Option<&Path>) -> Result<SyslogLogger, syslog::Error> {
    let logger = match path {
        None => syslog::unix(formatter.clone())?,
        Some(path) => syslog::unix_custom(formatter.clone(), path)?,
    };
    match &logger.backend {
        LoggerBackend::Unix(socket) => socket.set_nonblocking(true),
        LoggerBackend::UnixStream(writer) => writer.get_ref().set_nonblocking(true),
        _ => Err(io::Error::new(io::ErrorKind::Unsupported, "not a local syslog socket")),
    }
    .map_err(syslog::Error::Write)?;
    Ok(logger)
}

/// Send one formatted message. Datagram: one `send`. Stream: the frame (message and NUL, the `syslog` crate's
/// framing) is queued whole behind the pending bytes, then as much as the socket takes is written; the stream's own
/// `BufWriter` is never used, so only whole frames are ever queued.
fn send_frame(logger: &mut SyslogLogger, pending: &mut Vec<u8>, frame: &[u8]) -> io::Result<Sent> {
    match &mut logger.backend {
        LoggerBackend::Unix(socket) => match socket.send(frame) {
            Ok(_) => Ok(Sent::Yes),
            Err(e) if is_full(&e) => Ok(Sent::Full),
            Err(e) => Err(e),
        },
        LoggerBackend::UnixStream(writer) => {
            let stream = writer.get_mut();
            write_pending(stream, pending)?;
            if pending.len() + frame.len() + 1 > MAX_PENDING_BYTES {
                return Ok(Sent::Full);
            }
            pending.extend_from_slice(frame);
            pending.push(0);
            write_pending(stream, pending)?;
            Ok(Sent::Yes)
        }
        _ => Err(io::Error::new(io::ErrorKind::Unsupported, "not a local syslog socket")),
    }
}

/// Write pending bytes until the socket is full or they are all gone.
fn write_pending(stream: &mut impl io::Write, pending: &mut Vec<u8>) -> io::Result<()> {
    while !pending.is_empty() {
        match stream.write(pending) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                pending.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_full(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The socket has no room now (`EAGAIN`; `ENOBUFS` on some kernels; `EMSGSIZE` for a datagram above a small
/// `wmem_max`): drop the message rather than reconnect.
fn is_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::EMSGSIZE))
}

fn severity(level: Level) -> Severity {
    match level {
        Level::Error => Severity::LOG_ERR,
        Level::Warn => Severity::LOG_WARNING,
        Level::Info => Severity::LOG_INFO,
        Level::Debug | Level::Trace => Severity::LOG_DEBUG,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::tests::temp_dir;
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;

    #[test]
    fn test_syslog_time_pads_day_with_space() {
        assert_eq!(syslog_time(1_795_788_185), "Nov 27 14:03:05");
        assert_eq!(syslog_time(0), "Jan  1 00:00:00");
    }

    #[test]
    fn test_send_writes_rfc3164_datagrams_and_reconnects() {
        let dir = temp_dir("syslog");
        let path = dir.join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut sink = SyslogSink::connect_to("osconfig-test", &path).unwrap();
        let send =
            |sink: &mut SyslogSink, level: Level, message: &str| sink.send(level, &format!("[b.rs:3] {message}"));
        let recv = || {
            let mut buf = [0u8; 512];
            let n = server.recv(&mut buf).unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        let pid = std::process::id();
        for (level, priority) in [(Level::Error, 27), (Level::Warn, 28), (Level::Info, 30), (Level::Debug, 31)] {
            send(&mut sink, level, "hi").unwrap();
            let got = recv();
            let (head, tail) = got.split_at(got.find('>').unwrap() + 1);
            assert_eq!(head, format!("<{priority}>"), "{got}");
            // "Mmm dd hh:mm:ss " then the tag.
            assert_eq!(&tail[15..], format!(" osconfig-test[{pid}]: [b.rs:3] hi"), "{got}");
        }
        // syslogd restarts: a new socket at the same path.
        drop(server);
        fs_remove(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        send(&mut sink, Level::Info, "again").unwrap();
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("]: [b.rs:3] again"));
        // syslogd gone: an error, then the sink is closed.
        drop(server);
        fs_remove(&path);
        assert!(send(&mut sink, Level::Info, "lost").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn fs_remove(path: &Path) {
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn test_send_never_blocks_when_nobody_reads() {
        const SENT: usize = 5000;
        let dir = temp_dir("syslogfull");
        let path = dir.join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut sink = SyslogSink::connect_to("osconfig-test", &path).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        let sender = std::thread::spawn(move || {
            for i in 0..SENT {
                let _ = sink.send(Level::Info, &format!("[b.rs:1] message {i}"));
            }
            done.send(()).unwrap();
            sink
        });
        // Before the fix this thread blocked in send(2) once the socket's queue was full.
        finished.recv_timeout(Duration::from_secs(20)).expect("send blocked on a full syslog socket");
        let mut sink = sender.join().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut received = 0;
        while server.recv(&mut buf).is_ok() {
            received += 1;
        }
        assert!(received > 0 && received < SENT, "received {received}");
        // Room again: the next line is preceded by the count of the lines dropped.
        sink.send(Level::Info, "[b.rs:2] after").unwrap();
        server.set_nonblocking(false).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = server.recv(&mut buf).unwrap();
        let note = String::from_utf8_lossy(&buf[..n]).to_string();
        let dropped = SENT - received;
        assert!(note.starts_with("<28>"), "{note}");
        assert!(
            note.ends_with(&format!("]: {dropped} syslog messages dropped (the syslog socket was full)")),
            "{note}"
        );
        let n = server.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("]: [b.rs:2] after"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
