//! `osconfig-modulehost`: parses the command line, starts logging, runs the host, exits with its code.

use std::path::{Path, PathBuf};
use std::process::exit;

use osconfig_modulehost::args::{self, Command, USAGE};
use osconfig_modulehost::error::{chain, EXIT_USAGE};

// A path relative to this file, so the platform's multi-call executable (which compiles this file in) finds it too.
#[path = "malloc.rs"]
pub(crate) mod malloc;

pub(crate) fn main() {
    malloc::configure();
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
    if let Err(e) = osconfig_modulehost::run(&options) {
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
