//! The `log::Log` backend: level filter, file, syslog and stderr outputs behind one mutex.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use log::{LevelFilter, Log, Metadata, Record};

use crate::file::{is_refused, LineError, RollingFile};
use crate::format::{cut_line, format_line, now_unix};
use crate::syslog_sink::SyslogSink;
use crate::{LogConfig, SyslogMode};

/// A `log` backend writing the reference line format to a rolled file, syslog and stderr.
///
/// [`crate::init`] installs one as the process's global logger; a `Logger` can also be used directly
/// (tests, or wrapped by another backend). Each record is formatted once and written to every output
/// while one mutex is held, so lines of concurrent threads never interleave and the file sees them
/// in the same order as stderr and syslog.
pub struct Logger {
    shared: Arc<Shared>,
}

/// What the logger and its handles share.
pub(crate) struct Shared {
    /// The level filter as `LevelFilter as usize`.
    level: AtomicUsize,
    /// Roll-over size of the file in bytes (0: never roll).
    max_size: AtomicU64,
    outputs: Mutex<Outputs>,
}

/// The outputs; only touched with the mutex held.
struct Outputs {
    file: Option<RollingFile>,
    syslog: Option<SyslogSink>,
    /// Copy every line to `err` (asked for, or the file failed).
    copy_to_err: bool,
    /// Where stderr lines and this crate's own warnings go (the process's stderr outside tests).
    err: Box<dyn Write + Send>,
    /// A roll-over failure was reported already.
    roll_warned: bool,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("level", &self.shared.level())
            .field("max_size", &self.shared.max_size.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Logger {
    /// Open the outputs `config` asks for.
    ///
    /// Never fails: a file that cannot be opened is reported once on stderr and replaced by a stderr
    /// copy of every line; a syslog socket that cannot be reached is reported once on stderr when
    /// syslog was asked for with [`SyslogMode::Always`] and silently skipped with [`SyslogMode::Auto`].
    pub fn new(config: &LogConfig) -> Logger {
        Logger::with_err(config, Box::new(io::stderr()))
    }

    /// [`Logger::new`] with stderr replaced by `err` (tests).
    pub(crate) fn with_err(config: &LogConfig, err: Box<dyn Write + Send>) -> Logger {
        let logger = Logger::unopened(config);
        logger.open(config, err);
        logger
    }

    /// A logger with the level and size of `config` but no outputs yet: it drops every record until [`Logger::open`].
    pub(crate) fn unopened(config: &LogConfig) -> Logger {
        let outputs =
            Outputs { file: None, syslog: None, copy_to_err: false, err: Box::new(io::sink()), roll_warned: false };
        let shared = Shared {
            level: AtomicUsize::new(config.level as usize),
            max_size: AtomicU64::new(config.max_size),
            outputs: Mutex::new(outputs),
        };
        Logger { shared: Arc::new(shared) }
    }

    /// Open the outputs `config` asks for (replacing any), `err` standing for stderr.
    ///
    /// A log path that is refused (a symbolic link, a FIFO: see [`RollingFile::open`]) or cannot be opened is said
    /// once, on stderr and syslog, and lines then go to stderr (and syslog) only.
    pub(crate) fn open(&self, config: &LogConfig, mut err: Box<dyn Write + Send>) {
        let process = format!("osconfig-{}", config.name);
        let mut syslog = match config.syslog {
            SyslogMode::Never => None,
            SyslogMode::Auto if stderr_is_terminal() => None,
            SyslogMode::Auto => SyslogSink::connect(&process).ok(),
            SyslogMode::Always => match SyslogSink::connect(&process) {
                Ok(sink) => Some(sink),
                Err(e) => {
                    warn(&mut err, &format!("cannot connect to syslog ({e}); not logging to syslog"));
                    None
                }
            },
        };
        let mut copy_to_err = config.stderr;
        let path = config.file_path();
        let file = match RollingFile::open(&path) {
            Ok(file) => Some(file),
            Err(e) => {
                let only = if syslog.is_some() { "stderr and syslog" } else { "stderr" };
                let what = if is_refused(&e) { "refusing" } else { "cannot open" };
                let message = format!("{what} {} ({e}); logging to {only} only", path.display());
                warn(&mut err, &message);
                if let Some(sink) = syslog.as_mut() {
                    let _ = sink.send(log::Level::Warn, &format!("osconfig-logging: {message}"));
                }
                copy_to_err = true;
                None
            }
        };
        *self.shared.lock() = Outputs { file, syslog, copy_to_err, err, roll_warned: false };
    }

    /// A handle that changes this logger's level and roll-over size while it runs.
    ///
    /// The handle does not touch `log`'s global maximum level: [`crate::init`] returns a handle that does.
    pub fn handle(&self) -> crate::LogHandle {
        crate::LogHandle { shared: Arc::clone(&self.shared), global: false }
    }

    /// The path of the log file, `None` when it could not be opened.
    pub fn file_path(&self) -> Option<std::path::PathBuf> {
        self.shared.lock().file.as_ref().map(|f| f.path().to_path_buf())
    }

    /// Whether lines go to syslog.
    pub fn has_syslog(&self) -> bool {
        self.shared.lock().syslog.is_some()
    }
}

impl Shared {
    fn level(&self) -> LevelFilter {
        level_from_usize(self.level.load(Ordering::Relaxed))
    }

    fn lock(&self) -> MutexGuard<'_, Outputs> {
        // A panic while holding the lock (in a `Display` impl of a logged value, say) leaves the outputs
        // usable: keep logging.
        self.outputs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl crate::LogHandle {
    /// Change the level filter of the live logger (and `log`'s global maximum for the installed one).
    pub fn set_level(&self, level: LevelFilter) {
        self.shared.level.store(level as usize, Ordering::Relaxed);
        if self.global {
            log::set_max_level(level);
        }
    }

    /// Change the roll-over size of the live logger's file (bytes; 0: never roll). Applies from the next line.
    pub fn set_max_size(&self, max_size: u64) {
        self.shared.max_size.store(max_size, Ordering::Relaxed);
    }

    /// The current level filter.
    pub fn level(&self) -> LevelFilter {
        self.shared.level()
    }

    /// Open the outputs of `config` for the logger of this handle (see [`Logger::open`]).
    pub(crate) fn open(&self, config: &LogConfig, err: Box<dyn Write + Send>) {
        Logger { shared: Arc::clone(&self.shared) }.open(config, err);
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.shared.level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = format_line(now_unix(), record);
        let max_size = self.shared.max_size.load(Ordering::Relaxed);
        if max_size > 0 {
            // One line never takes more than the whole file (`MaxLogSize`): a 3 MB value logged is cut here.
            cut_line(&mut line, usize::try_from(max_size).unwrap_or(usize::MAX));
        }
        let mut out = self.shared.lock();
        let out = &mut *out;
        if let Some(file) = out.file.as_mut() {
            match file.write_line(line.as_bytes(), max_size) {
                Ok(()) => {}
                Err(LineError::Roll(e)) => {
                    if !out.roll_warned {
                        out.roll_warned = true;
                        let msg = format!("cannot roll {} over ({e}); it keeps growing", file.path().display());
                        warn(&mut out.err, &msg);
                    }
                }
                Err(LineError::Write(e)) => {
                    let msg = format!("cannot write to {} ({e}); logging to stderr instead", file.path().display());
                    warn(&mut out.err, &msg);
                    out.file = None;
                    out.copy_to_err = true;
                }
            }
        }
        if let Some(sink) = out.syslog.as_mut() {
            if let Err(e) = sink.send(record.level(), syslog_message(&line)) {
                warn(&mut out.err, &format!("syslog failed ({e}); not logging to syslog any more"));
                out.syslog = None;
            }
        }
        if out.copy_to_err {
            // Nowhere left to report a failing stderr.
            let _ = out.err.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        // Files are unbuffered (one write per line); only the stderr writer may hold bytes.
        let _ = self.shared.lock().err.flush();
    }
}

/// The `[file.rs:line] message` part of a formatted line (syslog adds its own time and severity).
///
/// Taken from the line rather than formatted again: formatting runs the record's `Display` impls, which must not
/// happen with the outputs locked (one that logs would deadlock).
fn syslog_message(line: &str) -> &str {
    // "[YYYY-MM-DD HH:MM:SS+0000][LEVEL]" then the rest.
    let rest = line.get(26..).unwrap_or(line);
    let rest = rest.split_once(']').map_or(rest, |(_, tail)| tail);
    rest.strip_suffix('\n').unwrap_or(rest)
}

/// One warning of this crate about itself, on stderr.
fn warn(err: &mut Box<dyn Write + Send>, message: &str) {
    let _ = err.write_all(format!("osconfig-logging: {message}\n").as_bytes());
}

fn stderr_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor number; an invalid one gives 0 and EBADF.
    unsafe { libc::isatty(libc::STDERR_FILENO) == 1 }
}

fn level_from_usize(n: usize) -> LevelFilter {
    match n {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::bak_path;
    use crate::file::tests::temp_dir;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// A stderr stand-in the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn config(dir: &Path, level: LevelFilter, max_size: u64, stderr: bool) -> LogConfig {
        LogConfig { name: "test".into(), dir: dir.to_path_buf(), level, max_size, syslog: SyslogMode::Never, stderr }
    }

    fn emit(logger: &Logger, level: log::Level, line: u32, message: &str) {
        logger.log(
            &Record::builder()
                .args(format_args!("{message}"))
                .level(level)
                .file(Some("src/some/dir/caller.rs"))
                .line(Some(line))
                .build(),
        );
    }

    /// Checks `line` is `[YYYY-MM-DD HH:MM:SS+0000][rest` and returns `rest`.
    fn strip_time(line: &str) -> &str {
        let b = line.as_bytes();
        assert!(line.len() > 27 && b[0] == b'[' && &line[20..26] == "+0000]", "bad line {line:?}");
        assert!(b[5] == b'-' && b[8] == b'-' && b[11] == b' ' && b[14] == b':' && b[17] == b':', "bad line {line:?}");
        &line[26..]
    }

    #[test]
    fn test_log_writes_reference_line_to_file() {
        let dir = temp_dir("line");
        let err = Captured::default();
        let logger =
            Logger::with_err(&config(&dir.join("var/log"), LevelFilter::Info, 0, false), Box::new(err.clone()));
        let path = dir.join("var/log/osconfig_test.log");
        assert_eq!(logger.file_path().as_deref(), Some(path.as_path()));
        assert!(!logger.has_syslog());
        emit(&logger, log::Level::Info, 42, "hello world");
        emit(&logger, log::Level::Error, 7, "bad");
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(strip_time(lines[0]), "[INFO][caller.rs:42] hello world");
        assert_eq!(strip_time(lines[1]), "[ERROR][caller.rs:7] bad");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(err.text(), "", "nothing on stderr without stderr: true");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_log_filters_by_level_and_set_level_changes_it() {
        let dir = temp_dir("level");
        let logger = Logger::with_err(&config(&dir, LevelFilter::Warn, 0, false), Box::new(Captured::default()));
        emit(&logger, log::Level::Error, 1, "e");
        emit(&logger, log::Level::Warn, 2, "w");
        emit(&logger, log::Level::Info, 3, "i");
        emit(&logger, log::Level::Debug, 4, "d");
        let handle = logger.handle();
        handle.set_level(LevelFilter::Debug);
        assert_eq!(handle.level(), LevelFilter::Debug);
        emit(&logger, log::Level::Debug, 5, "d2");
        emit(&logger, log::Level::Trace, 6, "t");
        handle.set_level(LevelFilter::Off);
        emit(&logger, log::Level::Error, 7, "e2");
        let text = fs::read_to_string(dir.join("osconfig_test.log")).unwrap();
        let got: Vec<&str> = text.lines().map(strip_time).collect();
        assert_eq!(got, ["[ERROR][caller.rs:1] e", "[WARN][caller.rs:2] w", "[DEBUG][caller.rs:5] d2"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_log_rolls_over_at_max_size() {
        let dir = temp_dir("logroll");
        let logger = Logger::with_err(&config(&dir, LevelFilter::Info, 1000, false), Box::new(Captured::default()));
        let path = dir.join("osconfig_test.log");
        let mut n = 0;
        while !bak_path(&path).exists() {
            emit(&logger, log::Level::Info, 1, &format!("message number {n:04}"));
            n += 1;
            assert!(n < 100, "no roll-over after {n} lines");
        }
        let bak = fs::read_to_string(bak_path(&path)).unwrap();
        assert!(bak.len() <= 1000 && bak.len() > 900, "bak has {} bytes", bak.len());
        let bak_lines: Vec<&str> = bak.lines().collect();
        assert_eq!(bak_lines.len(), n - 1);
        assert_eq!(strip_time(bak_lines[0]), "[INFO][caller.rs:1] message number 0000");
        let new = fs::read_to_string(&path).unwrap();
        assert_eq!(new.lines().count(), 1, "the new file starts with the line that did not fit: {new}");
        assert_eq!(strip_time(new.trim_end()), format!("[INFO][caller.rs:1] message number {:04}", n - 1));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        // A larger limit set live stops the next roll-over.
        logger.handle().set_max_size(1 << 20);
        for _ in 0..50 {
            emit(&logger, log::Level::Info, 1, "more");
        }
        assert_eq!(fs::read_to_string(bak_path(&path)).unwrap(), bak);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_log_copies_to_stderr_when_asked() {
        let dir = temp_dir("stderr");
        let err = Captured::default();
        let logger = Logger::with_err(&config(&dir, LevelFilter::Info, 0, true), Box::new(err.clone()));
        emit(&logger, log::Level::Warn, 9, "both");
        let file = fs::read_to_string(dir.join("osconfig_test.log")).unwrap();
        assert_eq!(err.text(), file);
        assert_eq!(strip_time(file.trim_end()), "[WARN][caller.rs:9] both");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_new_falls_back_to_stderr_when_file_cannot_open() {
        let dir = temp_dir("fallback");
        fs::write(dir.join("plain"), "not a directory").unwrap();
        let err = Captured::default();
        let logger =
            Logger::with_err(&config(&dir.join("plain/log"), LevelFilter::Info, 0, false), Box::new(err.clone()));
        assert_eq!(logger.file_path(), None);
        emit(&logger, log::Level::Info, 1, "first");
        emit(&logger, log::Level::Info, 2, "second");
        let text = err.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("osconfig-logging: cannot open ") && lines[0].contains("osconfig_test.log"));
        assert_eq!(strip_time(lines[1]), "[INFO][caller.rs:1] first");
        assert_eq!(strip_time(lines[2]), "[INFO][caller.rs:2] second");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_log_concurrent_writers_never_interleave() {
        let dir = temp_dir("threads");
        let err = Captured::default();
        let logger = Arc::new(Logger::with_err(&config(&dir, LevelFilter::Info, 0, true), Box::new(err.clone())));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let logger = Arc::clone(&logger);
                std::thread::spawn(move || {
                    let filler = "x".repeat(100 + t * 37);
                    for i in 0..500 {
                        emit(&logger, log::Level::Info, t as u32, &format!("t{t} i{i} {filler} end"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let file = fs::read_to_string(dir.join("osconfig_test.log")).unwrap();
        let mut next = [0usize; 8];
        for line in file.lines() {
            let rest = strip_time(line);
            let (head, message) = rest.split_once("] ").unwrap();
            let t: usize = head.rsplit(':').next().unwrap().parse().unwrap();
            assert_eq!(message, format!("t{t} i{} {} end", next[t], "x".repeat(100 + t * 37)));
            next[t] += 1;
        }
        assert_eq!(next, [500; 8]);
        assert_eq!(err.text(), file, "stderr sees the same lines in the same order");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_syslog_message_drops_time_and_level() {
        let record = Record::builder()
            .args(format_args!("a ] b"))
            .level(log::Level::Warn)
            .file(Some("x/y.rs"))
            .line(Some(5))
            .build();
        assert_eq!(syslog_message(&format_line(1_795_788_185, &record)), "[y.rs:5] a ] b");
    }

    #[test]
    fn test_log_value_that_logs_while_displayed_does_not_deadlock() {
        struct Noisy<'a>(&'a Logger);
        impl fmt::Display for Noisy<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                emit(self.0, log::Level::Info, 1, "inner");
                f.write_str("outer")
            }
        }
        let dir = temp_dir("reentrant");
        let logger = Logger::with_err(&config(&dir, LevelFilter::Info, 0, true), Box::new(Captured::default()));
        logger.log(&Record::builder().args(format_args!("{}", Noisy(&logger))).level(log::Level::Info).build());
        let text = fs::read_to_string(dir.join("osconfig_test.log")).unwrap();
        assert!(text.contains("] inner\n") && text.contains("] outer\n"), "{text}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_level_from_usize_round_trips() {
        for level in LevelFilter::iter() {
            assert_eq!(level_from_usize(level as usize), level);
        }
    }

    #[test]
    fn test_new_refuses_symlinked_file_and_says_so_once() {
        let dir = temp_dir("symlinked");
        let target = dir.join("target");
        fs::write(&target, "precious\n").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("osconfig_test.log")).unwrap();
        let err = Captured::default();
        let logger = Logger::with_err(&config(&dir, LevelFilter::Info, 0, false), Box::new(err.clone()));
        assert_eq!(logger.file_path(), None);
        emit(&logger, log::Level::Info, 1, "first");
        emit(&logger, log::Level::Info, 2, "second");
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious\n", "the link's target is untouched");
        let text = err.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("osconfig-logging: refusing ") && lines[0].contains("symbolic link"), "{text}");
        assert!(lines[0].ends_with("; logging to stderr only"), "{text}");
        assert_eq!(strip_time(lines[1]), "[INFO][caller.rs:1] first");
        assert_eq!(strip_time(lines[2]), "[INFO][caller.rs:2] second");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_log_cuts_a_line_longer_than_max_size_and_says_how_much() {
        let dir = temp_dir("longline");
        let err = Captured::default();
        let logger = Logger::with_err(&config(&dir, LevelFilter::Info, 1024, true), Box::new(err.clone()));
        let message = "é".repeat(1_500_000); // 3 MB of two-byte characters: cuts must keep UTF-8 whole
        emit(&logger, log::Level::Info, 7, &message);
        emit(&logger, log::Level::Info, 8, "short");
        let path = dir.join("osconfig_test.log");
        let mut text = fs::read_to_string(bak_path(&path)).unwrap_or_default();
        text.push_str(&fs::read_to_string(&path).unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{}", text.len());
        for line in &lines {
            assert!(line.len() < 1024, "a line of {} bytes", line.len());
        }
        let full = format!("[INFO][caller.rs:7] {message}");
        let rest = strip_time(lines[0]);
        let (kept, marker) = rest.rsplit_once(" [").unwrap();
        let cut: usize = marker.strip_suffix(" bytes cut]").unwrap().parse().unwrap();
        assert!(full.starts_with(kept.strip_suffix("...").unwrap()), "{rest}");
        assert_eq!(kept.len() - 3 + cut, full.len(), "the marker counts the bytes cut");
        assert_eq!(strip_time(lines[1]), "[INFO][caller.rs:8] short");
        assert_eq!(err.text(), text, "stderr gets the same cut line");
        fs::remove_dir_all(&dir).unwrap();
    }
}
