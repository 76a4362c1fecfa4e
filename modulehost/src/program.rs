//! `osconfig-modulehost` as a program: parses the command line, starts logging, runs the host ([`crate::run`]),
//! prints the cause chain and exits with the error's code. The `osconfig-modulehost` binary's `main` is this
//! [`main`], and so is the platform's multi-call executable when started as `osconfig-modulehost`.

use std::path::{Path, PathBuf};
use std::process::exit;

use crate::args::{self, Command, USAGE};
use crate::error::{chain, EXIT_USAGE};

/// Runs the module host with this process's arguments: `--help`/`--version` print and return; otherwise it
/// returns only when the host stopped normally (exit 0), and exits with [`EXIT_USAGE`] or the error's
/// [`exit_code`](crate::error::HostError::exit_code) after printing the cause chain on stderr. The caller sets up
/// the allocator first ([`crate::malloc::configure`]).
pub fn main() {
    let options = match args::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return;
        }
        Ok(Command::Version) => {
            println!("osconfig-modulehost {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Err(e) => {
            eprintln!("osconfig-modulehost: {e} (try --help)");
            exit(EXIT_USAGE);
        }
    };
    start_logging(&options.module);
    if let Err(e) = crate::run(&options) {
        eprintln!("osconfig-modulehost: {}", chain(&e));
        exit(e.exit_code());
    }
}

/// `osconfig-logging` as `modulehost_<module file stem>`: `<OSCONFIG_ROOT>/var/log/osconfig_modulehost_<stem>.log`,
/// level from `OSCONFIG_LOG_LEVEL` (default info), syslog when stderr is not a terminal, and a stderr copy.
fn start_logging(module: &Path) {
    let stem = module.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let root = std::env::var_os(osconfig_mmi::logger::ROOT_ENV).filter(|r| !r.is_empty()).map(PathBuf::from);
    let level =
        std::env::var(osconfig_mmi::logger::LOG_LEVEL_ENV).ok().and_then(|v| osconfig_mmi::logger::parse_level(&v));
    let config = osconfig_logging::LogConfig {
        name: format!("modulehost_{stem}"),
        dir: root.unwrap_or_else(|| PathBuf::from("/")).join("var/log"),
        level: level.unwrap_or(log::LevelFilter::Info),
        max_size: osconfig_mmi::logger::MODULE_MAX_LOG_SIZE,
        syslog: osconfig_logging::SyslogMode::Auto,
        stderr: true,
    };
    if let Err(e) = osconfig_logging::init(&config) {
        eprintln!("osconfig-modulehost: logging not started: {e}");
    }
}
