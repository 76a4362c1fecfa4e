//! `osconfig-modulehost`: parses the command line, starts logging, runs the host, exits with its code.

use std::process::exit;

use osconfig_modulehost::args::{self, Command, USAGE};
use osconfig_modulehost::error::{chain, EXIT_USAGE};

fn main() {
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
    osconfig_mmi::logger::init();
    if let Err(e) = osconfig_modulehost::run(&options) {
        eprintln!("osconfig-modulehost: {}", chain(&e));
        exit(e.exit_code());
    }
}
