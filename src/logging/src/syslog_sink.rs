//! Syslog (and so journald) output through the local Unix socket, facility daemon.

use std::fmt;

use log::{Level, Record};
use syslog::{Facility, Formatter3164, LoggerBackend};

use crate::format::short_file;

/// A connection to the local syslog socket for one process name (`osconfig-<name>`).
pub(crate) struct SyslogSink {
    formatter: Formatter3164,
    logger: Option<syslog::Logger<LoggerBackend, Formatter3164>>,
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
        let formatter = Formatter3164 {
            facility: Facility::LOG_DAEMON,
            hostname: None,
            process: process.to_string(),
            pid: std::process::id(),
        };
        let logger = syslog::unix(formatter.clone())?;
        Ok(SyslogSink { formatter, logger: Some(logger) })
    }

    /// Send one record as `[file.rs:line] message` at the matching severity.
    ///
    /// When the socket broke (syslogd restarted), reconnects once and retries; if that fails too the
    /// sink closes itself and the error is returned (the caller reports it once).
    pub(crate) fn send(&mut self, record: &Record<'_>) -> Result<(), syslog::Error> {
        let Some(logger) = self.logger.as_mut() else { return Ok(()) };
        let message = format!("[{}:{}] {}", short_file(record), record.line().unwrap_or(0), record.args());
        if send_one(logger, record.level(), &message).is_ok() {
            return Ok(());
        }
        self.logger = None;
        let mut logger = syslog::unix(self.formatter.clone())?;
        send_one(&mut logger, record.level(), &message)?;
        self.logger = Some(logger);
        Ok(())
    }
}

fn send_one(
    logger: &mut syslog::Logger<LoggerBackend, Formatter3164>,
    level: Level,
    message: &str,
) -> syslog::Result<()> {
    match level {
        Level::Error => logger.err(message),
        Level::Warn => logger.warning(message),
        Level::Info => logger.info(message),
        Level::Debug | Level::Trace => logger.debug(message),
    }
}
