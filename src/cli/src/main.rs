//! `osconfigctl`: a small dispatcher; each subcommand lives in `osconfig_cli::commands`.

use osconfig_cli::commands;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
            print!("{}", osconfig_cli::USAGE);
            0
        }
        Some("-V" | "--version") => {
            println!("osconfigctl {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some(other) => {
            eprintln!("osconfigctl: unknown command '{other}'\n\n{}", osconfig_cli::USAGE);
            2
        }
        None => {
            eprint!("{}", osconfig_cli::USAGE);
            2
        }
    };
    std::process::exit(code);
}
