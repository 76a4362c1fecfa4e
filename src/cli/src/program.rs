//! `osconfigctl` as a program: the command line (common options may come before the subcommand) dispatched to
//! [`crate::commands`], and the exit code. The `osconfigctl` binary's `main` is this [`main`], and so is the
//! platform's multi-call executable when started as `osconfigctl`.

use crate::commands;

/// The common options of the MPI subcommands that take a value; they may also come before the subcommand
/// (`osconfigctl --root /x status`), as people type them.
const VALUE_OPTIONS: [&str; 3] = ["--socket", "--root", "--timeout"];

/// `args` with common options given before the subcommand moved after it.
fn subcommand_first(args: Vec<String>) -> Vec<String> {
    let mut leading = 0;
    while let Some(arg) = args.get(leading) {
        if VALUE_OPTIONS.contains(&arg.as_str()) {
            leading += 2;
        } else if arg == "--json" || VALUE_OPTIONS.iter().any(|o| arg.starts_with(&format!("{o}="))) {
            leading += 1;
        } else {
            break;
        }
    }
    if leading == 0 || leading >= args.len() {
        return args;
    }
    let mut reordered = vec![args[leading].clone()];
    reordered.extend_from_slice(&args[..leading]);
    reordered.extend_from_slice(&args[leading + 1..]);
    reordered
}

/// Runs `osconfigctl` with this process's arguments and exits with the subcommand's code (listed in
/// [`crate::USAGE`]: 0 ok, 2 a bad command line, ...).
pub fn main() -> ! {
    let args = subcommand_first(std::env::args().skip(1).collect());
    osconfig_mmi::logger::init();
    let rest = args.get(1..).unwrap_or_default();
    let code = match args.first().map(String::as_str) {
        Some("test") => commands::test::main(rest),
        Some("get") => commands::get::main(rest),
        Some("set") => commands::set::main(rest),
        Some("desired") => commands::desired::main(rest),
        Some("reported") => commands::reported::main(rest),
        Some("modules") => commands::modules::main(rest),
        Some("status") => commands::status::main(rest),
        Some("-h" | "--help" | "help") => {
            print!("{}", crate::USAGE);
            0
        }
        Some("-V" | "--version") => {
            println!("osconfigctl {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some(other) => {
            eprintln!("osconfigctl: unknown command '{other}'\n\n{}", crate::USAGE);
            2
        }
        None => {
            eprint!("{}", crate::USAGE);
            2
        }
    };
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn test_subcommand_first_moves_leading_options() {
        assert_eq!(
            subcommand_first(args(&["--root", "/r", "--json", "get", "A", "b"])),
            args(&["get", "--root", "/r", "--json", "A", "b"])
        );
        assert_eq!(subcommand_first(args(&["--socket=/s", "status"])), args(&["status", "--socket=/s"]));
        assert_eq!(subcommand_first(args(&["status", "--root", "/r"])), args(&["status", "--root", "/r"]));
        assert_eq!(subcommand_first(args(&["--root", "/r"])), args(&["--root", "/r"]), "no subcommand: unchanged");
        assert_eq!(subcommand_first(args(&["--help"])), args(&["--help"]));
    }
}
