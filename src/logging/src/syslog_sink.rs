//! Syslog (and so journald) output through the local Unix socket, facility daemon.
//!
//! The `syslog` crate does the socket work (datagram or stream `/dev/log`, framing); the RFC 3164 line is written
//! by [`Rfc3164`] here, which needs no date-formatting library (keeps module `.so` files small).

use std::fmt;
use std::io::Write;
use std::path::Path;

use log::Level;
use syslog::{Facility, LogFormat, LoggerBackend, Severity};

use crate::format::{format_utc, now_unix};

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

/// A connection to the local syslog socket for one process name (`osconfig-<name>`).
pub(crate) struct SyslogSink {
    formatter: Rfc3164,
    /// `None`: the usual socket paths (`/dev/log`, ...); `Some`: this socket (tests).
    path: Option<std::path::PathBuf>,
    logger: Option<SyslogLogger>,
}

impl fmt::Debug for SyslogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyslogSink")
            .field("process", &self.formatter.process)
            .field("connected", &self.logger.is_some())
            .finish()
    }
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
        Ok(SyslogSink { formatter, path, logger: Some(logger) })
    }

    /// Send `message` (`[file.rs:line] text`, already formatted) at the severity of `level`.
    ///
    /// When the socket broke (syslogd restarted), reconnects once and retries; if that fails too the
    /// sink closes itself and the error is returned (the caller reports it once).
    pub(crate) fn send(&mut self, level: Level, message: &str) -> Result<(), syslog::Error> {
        let Some(logger) = self.logger.as_mut() else { return Ok(()) };
        if send_one(logger, level, message).is_ok() {
            return Ok(());
        }
        self.logger = None;
        let mut logger = open(&self.formatter, self.path.as_deref())?;
        send_one(&mut logger, level, message)?;
        self.logger = Some(logger);
        Ok(())
    }
}

fn open(formatter: &Rfc3164, path: Option<&Path>) -> Result<SyslogLogger, syslog::Error> {
    match path {
        None => syslog::unix(formatter.clone()),
        Some(path) => syslog::unix_custom(formatter.clone(), path),
    }
}

fn send_one(logger: &mut SyslogLogger, level: Level, message: &str) -> syslog::Result<()> {
    match level {
        Level::Error => logger.err(message),
        Level::Warn => logger.warning(message),
        Level::Info => logger.info(message),
        Level::Debug | Level::Trace => logger.debug(message),
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
}
