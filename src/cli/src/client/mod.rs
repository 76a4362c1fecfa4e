//! What the MPI subcommands share: the common options ([`options`]), errors and exit codes ([`error`],
//! [`errno`]), the platform connection with sessions that are always closed ([`connection`]), the extension
//! endpoints ([`extension`]), local MIM checks ([`mim`]) and JSON input and output ([`json`]).

pub mod connection;
pub mod errno;
pub mod error;
pub mod extension;
pub mod json;
pub mod mim;
pub mod options;

use error::CtlError;
use options::{CommonArgs, COMMON_USAGE};

/// Runs one MPI subcommand: parses the common options, answers `--help`, calls `run` and prints what it returns
/// on stdout, or the error on stderr (a usage error with the subcommand's usage). Returns the exit code.
pub fn main(name: &str, usage: &str, args: &[String], run: fn(&CommonArgs) -> Result<String, CtlError>) -> i32 {
    let result = CommonArgs::parse(args).and_then(|parsed| {
        if parsed.help {
            Ok(format!("{usage}\n{COMMON_USAGE}"))
        } else {
            run(&parsed)
        }
    });
    match result {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            error::EXIT_OK
        }
        Err(e @ CtlError::Usage(_)) => {
            eprintln!("osconfigctl {name}: {e}\n\n{usage}\n{COMMON_USAGE}");
            e.exit_code()
        }
        Err(e) => {
            eprintln!("osconfigctl {name}: {e}");
            e.exit_code()
        }
    }
}
