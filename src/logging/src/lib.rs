//! `osconfig-logging`: the one `log` backend of the OSConfig processes (platform, module hosts, agent, modules).
//!
//! # What it writes
//! - **Lines in the reference format**, UTC: `[2026-11-27 14:03:05+0000][INFO][main.rs:42] message`. The level is
//!   `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`; the file is the source file name without its directories.
//! - **A file per process**, `<dir>/osconfig_<name>.log`, appended to, created with mode 0640 (its directory with
//!   0755 when missing). Every line is one unbuffered `write`, so a crash loses nothing that was logged. When the
//!   next line would take the file past `max_size` bytes the file is renamed to `<file>.bak` (replacing the previous
//!   one) and a new file starts: at most about `2 * max_size` bytes on disk per process. `max_size` 0 never rolls.
//!   A line longer than `max_size` (at least 128) is cut to it and ends with `... [<n> bytes cut]`, `<n>` the bytes
//!   dropped, so one huge value logged cannot fill the file by itself.
//! - **Only a regular file**: the log path is opened with `O_NOFOLLOW` and checked with `fstat`, so a symbolic link,
//!   FIFO, socket or directory planted at `osconfig_<name>.log` is refused (its target is never written). The roll
//!   to `.bak` is a rename, which follows no link either: a link at `<file>.bak` is replaced. Directories above
//!   the file may be links (`/var/log` is one on some images).
//! - **Syslog** (journald reads it too) through the local Unix socket, facility daemon, process name
//!   `osconfig-<name>`, message `[file.rs:42] message` (cut at 8 KiB like a file line): with
//!   [`SyslogMode::Always`], or with [`SyslogMode::Auto`] when stderr is not a terminal (a service rather than a
//!   shell). Sends **never block**: the socket is non-blocking, a message that finds it full is dropped and
//!   counted, and the next message that gets through is preceded by `<n> syslog messages dropped (the syslog
//!   socket was full)` at warning. The file and stderr keep every line.
//! - **A stderr copy** of every line when [`LogConfig::stderr`] is set (foreground mode).
//!
//! # Failures
//! Logging never stops the process. A file that cannot be opened (read-only file system, a path under a regular
//! file) or is refused (a link, a FIFO) gives one warning on stderr and syslog (`refusing <path> (it is a symbolic
//! link); logging to stderr and syslog only`), and every line then goes to stderr as well as to syslog; the same
//! happens when a write fails later (disk full). A failed roll-over gives one warning and the file keeps growing. Syslog that
//! cannot be reached is skipped (with one warning for [`SyslogMode::Always`]).
//!
//! # Levels
//! [`level_from_osconfig`] maps `LoggingLevel` of `osconfig.json` (syslog severities 0..7) to a `log` filter.
//! [`LogHandle::set_level`] and [`LogHandle::set_max_size`] change the live logger (configuration reload on
//! `SIGHUP`). Payloads are logged at debug by the callers, never above.
//!
//! # Limits
//! One global logger per process (the `log` crate's rule): a second [`init`] returns an error. Lines are
//! serialized by one mutex; no output blocks while it is held (the file is local, syslog sends are non-blocking;
//! only a stderr pipe that nobody reads could). A file removed or renamed by someone
//! else keeps being written through the open descriptor until the next roll-over.
//!
//! # Example
//! ```no_run
//! use osconfig_logging::{init, level_from_osconfig, LogConfig, SyslogMode};
//!
//! let handle = init(&LogConfig {
//!     name: "platform".to_string(),
//!     dir: "/var/log".into(),
//!     level: level_from_osconfig(6),
//!     max_size: 1_048_576,
//!     syslog: SyslogMode::Auto,
//!     stderr: false,
//! })
//! .expect("the first logger of the process");
//! log::info!("started"); // [2026-11-27 14:03:05+0000][INFO][main.rs:12] started
//! handle.set_level(level_from_osconfig(7)); // after SIGHUP with LoggingLevel 7
//! ```
#![deny(missing_docs)]

mod file;
mod format;
mod logger;
mod syslog_sink;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use log::LevelFilter;

pub use file::FILE_MODE;
pub use format::{format_line, format_utc};
pub use logger::Logger;

/// When lines also go to syslog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogMode {
    /// When stderr is not a terminal (started by a service manager or another process, not from a shell).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// What [`init`] (or [`Logger::new`]) sets up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Process name: `platform` logs to `<dir>/osconfig_platform.log` and to syslog as `osconfig-platform`.
    pub name: String,
    /// Directory of the log file (`<root>/var/log`), created when missing.
    pub dir: PathBuf,
    /// Records above this level are dropped.
    pub level: LevelFilter,
    /// Roll-over size of the file in bytes (`MaxLogSize`); 0 never rolls.
    pub max_size: u64,
    /// When lines also go to syslog.
    pub syslog: SyslogMode,
    /// Also write every line to stderr (foreground mode).
    pub stderr: bool,
}

impl LogConfig {
    /// `<dir>/osconfig_<name>.log`.
    pub fn file_path(&self) -> PathBuf {
        self.dir.join(format!("osconfig_{}.log", self.name))
    }
}

/// Changes a live logger: its level and roll-over size (configuration reload). Cheap to clone.
#[derive(Clone)]
pub struct LogHandle {
    shared: Arc<logger::Shared>,
    /// The handle of the installed global logger also sets `log`'s global maximum level.
    global: bool,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle").field("level", &self.level()).field("global", &self.global).finish()
    }
}

/// Open the outputs of `config` and install them as the process's global `log` logger.
///
/// Returns the handle that changes the level and roll-over size later. Outputs that cannot be opened do not make
/// it fail (see the crate docs); it fails with [`io::ErrorKind::AlreadyExists`] when this process already has a
/// global logger (a second call, or another backend installed first), and then opens no file.
pub fn init(config: &LogConfig) -> io::Result<LogHandle> {
    let logger = Logger::unopened(config);
    let mut handle = logger.handle();
    handle.global = true;
    log::set_boxed_logger(Box::new(logger))
        .map_err(|e| io::Error::new(io::ErrorKind::AlreadyExists, format!("a logger is already installed: {e}")))?;
    // Installed: now open the files. `log`'s maximum level is still Off, so nothing is lost in between.
    handle.open(config, Box::new(io::stderr()));
    log::set_max_level(config.level);
    Ok(handle)
}

/// The `log` filter for an `osconfig.json` `LoggingLevel` (syslog severities: 0 emergency .. 7 debug).
///
/// 0-3 (emergency, alert, critical, error) give `Error`, 4 (warning) `Warn`, 5-6 (notice, informational) `Info`,
/// 7 (debug) `Debug`. Values below 0 count as 0, above 7 as 7.
pub fn level_from_osconfig(logging_level: i64) -> LevelFilter {
    match logging_level.clamp(0, 7) {
        0..=3 => LevelFilter::Error,
        4 => LevelFilter::Warn,
        5 | 6 => LevelFilter::Info,
        _ => LevelFilter::Debug,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_level_from_osconfig_each_severity() {
        let expected = [
            LevelFilter::Error,
            LevelFilter::Error,
            LevelFilter::Error,
            LevelFilter::Error,
            LevelFilter::Warn,
            LevelFilter::Info,
            LevelFilter::Info,
            LevelFilter::Debug,
        ];
        for (n, level) in expected.iter().enumerate() {
            assert_eq!(level_from_osconfig(n as i64), *level, "LoggingLevel {n}");
        }
    }

    #[test]
    fn test_level_from_osconfig_clamps_out_of_range() {
        assert_eq!(level_from_osconfig(-1), LevelFilter::Error);
        assert_eq!(level_from_osconfig(i64::MIN), LevelFilter::Error);
        assert_eq!(level_from_osconfig(8), LevelFilter::Debug);
        assert_eq!(level_from_osconfig(i64::MAX), LevelFilter::Debug);
    }

    #[test]
    fn test_file_path_names_the_process() {
        let config = LogConfig {
            name: "platform".into(),
            dir: "/r/var/log".into(),
            level: LevelFilter::Info,
            max_size: 0,
            syslog: SyslogMode::Never,
            stderr: false,
        };
        assert_eq!(config.file_path(), PathBuf::from("/r/var/log/osconfig_platform.log"));
    }
}
