//! A small stderr logger for modules, installed on the first exported MMI call when the process has none.
//!
//! Line format: `[YYYY-MM-DD HH:MM:SS+0000][LEVEL][file.rs:line] message` (UTC). The level comes from the
//! environment variable `OSCONFIG_LOG_LEVEL`: `off`, `error`, `warn`, `info`, `debug`, `trace` (any case), or a
//! syslog number 0..7 (0-3 error, 4 warn, 5-6 info, 7 debug). Default: `info`.

use std::io::Write;
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

use log::{LevelFilter, Log, Metadata, Record};

/// The environment variable that sets the level of the SDK's stderr logger.
pub const LOG_LEVEL_ENV: &str = "OSCONFIG_LOG_LEVEL";

struct StderrLogger;

static LOGGER: StderrLogger = StderrLogger;
static INSTALL: Once = Once::new();

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(now_unix(), record);
        // One write per line so lines from several threads do not interleave; errors are ignored
        // (there is nowhere left to report them).
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `[YYYY-MM-DD HH:MM:SS+0000][LEVEL][file.rs:line] message\n`.
fn format_line(unix: u64, record: &Record<'_>) -> String {
    let file = record.file().unwrap_or("?");
    let file = file.rsplit('/').next().unwrap_or(file);
    format!("[{}][{}][{}:{}] {}\n", format_utc(unix), record.level(), file, record.line().unwrap_or(0), record.args())
}

/// `YYYY-MM-DD HH:MM:SS+0000` for seconds since the Unix epoch (proleptic Gregorian, UTC).
pub(crate) fn format_utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Days to civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}+0000", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The level named by an `OSCONFIG_LOG_LEVEL` value; `None` for an unknown value.
pub fn parse_level(text: &str) -> Option<LevelFilter> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u8>() {
        return match n {
            0..=3 => Some(LevelFilter::Error),
            4 => Some(LevelFilter::Warn),
            5 | 6 => Some(LevelFilter::Info),
            7 => Some(LevelFilter::Debug),
            _ => None,
        };
    }
    text.parse::<LevelFilter>().ok()
}

/// Install the SDK's stderr logger if the process has no logger yet (level from `OSCONFIG_LOG_LEVEL`).
///
/// Returns `true` when this call installed it. Safe to call many times and from several threads.
pub fn init() -> bool {
    let level = std::env::var(LOG_LEVEL_ENV).ok().and_then(|v| parse_level(&v)).unwrap_or(LevelFilter::Info);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
        true
    } else {
        false
    }
}

/// Install the logger once per process image (called on every exported MMI call; cheap after the first).
pub(crate) fn ensure_installed() {
    INSTALL.call_once(|| {
        init();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_format_utc_known_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00+0000");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00+0000");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20+0000");
        assert_eq!(format_utc(4_102_444_799), "2099-12-31 23:59:59+0000");
    }

    #[test]
    fn test_parse_level_names_and_numbers() {
        assert_eq!(parse_level("debug"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("WARN"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("off"), Some(LevelFilter::Off));
        assert_eq!(parse_level("6"), Some(LevelFilter::Info));
        assert_eq!(parse_level("7"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("3"), Some(LevelFilter::Error));
        assert_eq!(parse_level("8"), None);
        assert_eq!(parse_level("loud"), None);
    }

    #[test]
    fn test_format_line_shape() {
        let line = format_line(
            0,
            &Record::builder()
                .args(format_args!("hello"))
                .level(log::Level::Error)
                .file(Some("src/modules/x/src/lib.rs"))
                .line(Some(12))
                .build(),
        );
        assert_eq!(line, "[1970-01-01 00:00:00+0000][ERROR][lib.rs:12] hello\n");
    }
}
