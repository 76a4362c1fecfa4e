//! `osconfig-platform`: see the library docs (`osconfig_platform`) for options, exit codes and behaviour.
//!
//! A multi-call executable: started under the name `osconfig-modulehost` or `osconfigctl` (the file name in
//! `argv[0]`, as through the links `cross/install.sh` installs) it is that program, with the same command line,
//! output and exit codes: it runs `osconfig_modulehost::program::main` or `osconfig_cli::program::main`, the
//! functions their own binaries' `main` call. One copy of the Rust standard library, the HTTP stack and serde_json
//! on the device instead of three (BENCHMARKS.md, "Flash footprint"). The standalone `osconfig-modulehost` and
//! `osconfigctl` binaries are still built (tests run them by name, and the static `osconfigctl`).

use std::process::exit;

use osconfig_platform::args::Command;
use osconfig_platform::error::{chain, EXIT_USAGE};

/// The program this process is, from the file name it was started under.
fn invoked_as() -> Option<fn()> {
    let arg0 = std::env::args_os().next()?;
    match std::path::Path::new(&arg0).file_name().and_then(std::ffi::OsStr::to_str) {
        Some("osconfig-modulehost") => Some(osconfig_modulehost::program::main),
        Some("osconfigctl") => Some(|| osconfig_cli::program::main()),
        _ => None,
    }
}

fn main() {
    osconfig_modulehost::malloc::configure();
    if let Some(program) = invoked_as() {
        program();
        return;
    }
    let args = match osconfig_platform::args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{}", osconfig_platform::args::USAGE);
            return;
        }
        Ok(Command::Version) => {
            println!("osconfig-platform {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Err(e) => {
            eprintln!("osconfig-platform: {e}\n\n{}", osconfig_platform::args::USAGE);
            exit(EXIT_USAGE);
        }
    };
    if let Err(e) = osconfig_platform::daemon::run(&args) {
        // Once: in the log (its file, syslog, and stderr with --foreground) when logging had started.
        if e.logged() {
            log::error!("{}; exiting", chain(&e));
        } else {
            eprintln!("osconfig-platform: {}", chain(&e));
        }
        exit(e.exit_code());
    }
}
