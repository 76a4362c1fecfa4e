//! The SDK's logging: modules log through the `log` facade; the SDK installs a logger on the first exported MMI call.
//!
//! - **Modules** ([`init_module`], installed by the SDK on the first exported call when the module's copy of `log`
//!   has no logger yet): `osconfig-logging` writes `<OSCONFIG_ROOT>/var/log/osconfig_<module>.log` (`<module>` is
//!   the lowercased `Name` of the module's `MmiGetInfo`; `OSCONFIG_ROOT` defaults to `/`), rolled to `.bak` at
//!   [`MODULE_MAX_LOG_SIZE`], mode 0640; syslog as `osconfig-<module>` when stderr is not a terminal; a stderr copy
//!   when `OSCONFIG_LOG_STDERR=1` or when the file cannot be opened.
//! - **Tools** ([`init`]): lines on stderr only.
//!
//! Line format: `[YYYY-MM-DD HH:MM:SS+0000][LEVEL][file.rs:line] message` (UTC). The level comes from the
//! environment variable `OSCONFIG_LOG_LEVEL`: `off`, `error`, `warn`, `info`, `debug`, `trace` (any case), or a
//! syslog number 0..7 (0-3 error, 4 warn, 5-6 info, 7 debug). Default: `info`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Once;

use log::{LevelFilter, Log, Metadata, Record};
use osconfig_logging::{format_line, LogConfig, SyslogMode};

/// The environment variable that sets the level of the SDK's loggers.
pub const LOG_LEVEL_ENV: &str = "OSCONFIG_LOG_LEVEL";

/// The environment variable that, set to `1`, copies a module's log lines to stderr.
pub const LOG_STDERR_ENV: &str = "OSCONFIG_LOG_STDERR";

/// The environment variable naming the root the module's paths (its log file among them) are resolved under.
pub const ROOT_ENV: &str = "OSCONFIG_ROOT";

/// Roll-over size of a module's log file in bytes (the reference `MaxLogSize` default).
pub const MODULE_MAX_LOG_SIZE: u64 = 1_048_576;

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
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs());
        let line = format_line(now.unwrap_or(0), record);
        // One write per line so lines from several threads do not interleave; errors are ignored
        // (there is nowhere left to report them).
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
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

/// The level `OSCONFIG_LOG_LEVEL` asks for (`info` when unset or unknown).
fn level_from_env() -> LevelFilter {
    std::env::var(LOG_LEVEL_ENV).ok().and_then(|v| parse_level(&v)).unwrap_or(LevelFilter::Info)
}

/// Install a stderr-only logger (for tools such as `osconfigctl`) if the process has no logger yet (level from
/// `OSCONFIG_LOG_LEVEL`).
///
/// Returns `true` when this call installed it. Safe to call many times and from several threads.
pub fn init() -> bool {
    let level = level_from_env();
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
        true
    } else {
        false
    }
}

/// The logger settings of module `module_name` for the environment `var` reads (see the module docs).
fn module_config(module_name: &str, var: impl Fn(&str) -> Option<OsString>) -> LogConfig {
    let root = var(ROOT_ENV).filter(|r| !r.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
    let level = var(LOG_LEVEL_ENV).and_then(|v| v.to_str().and_then(parse_level)).unwrap_or(LevelFilter::Info);
    LogConfig {
        name: log_name(module_name),
        dir: root.join("var/log"),
        level,
        max_size: MODULE_MAX_LOG_SIZE,
        syslog: SyslogMode::Auto,
        stderr: var(LOG_STDERR_ENV).is_some_and(|v| v == "1"),
    }
}

/// A module name as a file-name part: lowercase ASCII letters, digits, `-`, `_`, `.`; anything else becomes `_`.
fn log_name(module_name: &str) -> String {
    let name: String = module_name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '_' | '.') => c,
            _ => '_',
        })
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        "module".to_string()
    } else {
        name
    }
}

/// Install the module logger of `module_name` if this copy of `log` has no logger yet (see the module docs).
///
/// Returns `true` when this call installed it.
pub fn init_module(module_name: &str) -> bool {
    osconfig_logging::init(&module_config(module_name, |k| std::env::var_os(k))).is_ok()
}

/// Install the module logger once per process image (called on every exported MMI call; cheap after the first).
///
/// `module_name` is only called the first time; a panic in it is caught and the logger is named `module`.
pub(crate) fn ensure_installed(module_name: impl FnOnce() -> String) {
    INSTALL.call_once(|| {
        let name = std::panic::catch_unwind(std::panic::AssertUnwindSafe(module_name))
            .unwrap_or_else(|_| "module".to_string());
        init_module(&name);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn test_log_name_lowercases_and_cleans() {
        assert_eq!(log_name("DeviceInfo"), "deviceinfo");
        assert_eq!(log_name("Command Runner/2"), "command_runner_2");
        assert_eq!(log_name(""), "module");
        assert_eq!(log_name(".."), "module");
        assert_eq!(log_name("Ünï"), "_n_");
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn test_module_config_defaults() {
        let config = module_config("DeviceInfo", env(&[]));
        assert_eq!(config.file_path(), PathBuf::from("/var/log/osconfig_deviceinfo.log"));
        assert_eq!(config.level, LevelFilter::Info);
        assert_eq!(config.max_size, MODULE_MAX_LOG_SIZE);
        assert_eq!(config.syslog, SyslogMode::Auto);
        assert!(!config.stderr);
    }

    #[test]
    fn test_module_config_from_environment() {
        let vars = [(ROOT_ENV, "/tmp/r"), (LOG_LEVEL_ENV, "7"), (LOG_STDERR_ENV, "1")];
        let config = module_config("HostName", env(&vars));
        assert_eq!(config.file_path(), PathBuf::from("/tmp/r/var/log/osconfig_hostname.log"));
        assert_eq!(config.level, LevelFilter::Debug);
        assert!(config.stderr);
        let vars = [(ROOT_ENV, ""), (LOG_LEVEL_ENV, "loud"), (LOG_STDERR_ENV, "yes")];
        let config = module_config("x", env(&vars));
        assert_eq!(config.dir, PathBuf::from("/var/log"));
        assert_eq!(config.level, LevelFilter::Info);
        assert!(!config.stderr);
    }
}
