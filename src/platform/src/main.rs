//! `osconfig-platform`: see the library docs (`osconfig_platform`) for options, exit codes and behaviour.

use osconfig_platform::args::{self, Command, EXIT_OK, EXIT_USAGE};

fn main() {
    let code = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            EXIT_OK
        }
        Ok(Command::Version) => {
            println!("osconfig-platform {}", env!("CARGO_PKG_VERSION"));
            EXIT_OK
        }
        Ok(Command::Run(args)) => osconfig_platform::daemon::run(&args),
        Err(e) => {
            eprintln!("osconfig-platform: {e}\n\n{}", args::USAGE);
            EXIT_USAGE
        }
    };
    std::process::exit(code);
}
