//! `osconfig-bench`: the project's benchmark. Every figure is measured in the same run as the baseline it is
//! divided by (the raw Unix-socket round trip), so results compare across machines.
//!
//! Usage: `cargo run --release -p osconfig-bench -- [--json <file>] [--quick] [--list] [scenario...]`.
//! With no scenario every one runs; a named scenario brings its baseline along.
#![deny(missing_docs)]

mod child;
mod machine;
mod memory;
mod mmi;
mod platform;
mod reference;
mod report;
mod scenarios;
mod stats;
mod watcher;

use std::path::PathBuf;
use std::process::ExitCode;

use child::Role;
use report::Row;
use scenarios::{Context, Effort, SCENARIOS};

const USAGE: &str =
    "usage: osconfig-bench [--json <file>] [--quick] [--busy] [--bin <dir>] [--reference <dir>] [--list]\n\
  [scenario...]\n\
  --bin: where osconfig-modulehost and the module libraries are (default: this program's folder)\n\
  --reference: a CMake build folder of the reference (Azure OSConfig): platform_pss measures it too (needs root)\n\
  --busy: keep every core busy at the lowest priority while measuring (no idle-core wake-up latency)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let (Some(role), Some(socket)) = (args.first().and_then(|a| Role::from_flag(a)), args.get(1)) {
        return match role.serve(socket.as_ref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("osconfig-bench server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut json_out: Option<PathBuf> = None;
    let mut effort = Effort::FULL;
    let mut busy = false;
    let mut bin_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from)).unwrap_or_default();
    let mut reference: Option<PathBuf> = None;
    let mut chosen: Vec<&str> = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--json" => match iter.next() {
                Some(path) => json_out = Some(path.into()),
                None => return usage_error("--json needs a file"),
            },
            "--quick" => effort = Effort::QUICK,
            "--busy" => busy = true,
            "--bin" => match iter.next() {
                Some(dir) => bin_dir = dir.into(),
                None => return usage_error("--bin needs a folder"),
            },
            "--reference" => match iter.next() {
                Some(dir) => reference = Some(dir.into()),
                None => return usage_error("--reference needs a folder"),
            },
            "--list" => {
                for s in SCENARIOS {
                    println!("{:<20} {}", s.name, s.what);
                }
                return ExitCode::SUCCESS;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            name => match SCENARIOS.iter().find(|s| s.name == name) {
                Some(s) => chosen.push(s.name),
                None => return usage_error(&format!("unknown scenario {name:?} (see --list)")),
            },
        }
    }
    // A chosen scenario brings its baseline along; run in the order of SCENARIOS (baselines first).
    let wanted = |name: &str| {
        chosen.is_empty()
            || chosen.contains(&name)
            || SCENARIOS.iter().any(|s| chosen.contains(&s.name) && s.baseline == Some(name))
    };
    let ctx = Context { effort, bin_dir, reference };
    let _spinner = match busy.then(|| child::ChildServer::start(Role::Spin)).transpose() {
        Ok(spinner) => spinner,
        Err(e) => {
            eprintln!("osconfig-bench: cannot start the spinner: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut rows: Vec<Row<'_>> = Vec::new();
    for scenario in SCENARIOS.iter().filter(|s| wanted(s.name)) {
        eprintln!("running {} ...", scenario.name);
        let figure = match (scenario.run)(&ctx) {
            Ok(figure) => figure,
            Err(e) => {
                eprintln!("osconfig-bench: {} failed: {e}", scenario.name);
                return ExitCode::FAILURE;
            }
        };
        let base = scenario.baseline.and_then(|base| rows.iter().find(|r| r.scenario.name == base));
        let ratio = match (figure.latency(), base.and_then(|b| b.figure.latency())) {
            (Some(this), Some(base)) => Some(this.median_us / base.median_us),
            _ => None,
        };
        let base = base.and_then(|b| b.figure.latency());
        rows.push(Row { scenario, figure, ratio, base });
    }
    let machine = machine::describe() + if busy { " (--busy: cores kept awake)" } else { " (idle cores)" };
    let date = machine::now_utc();
    println!("machine: {machine}\ndate: {date}\n{}", report::table(&rows));
    if let Some(path) = json_out {
        let text = serde_json::to_string_pretty(&report::json(&machine, &date, &rows)).expect("json of numbers");
        if let Err(e) = std::fs::write(&path, text + "\n") {
            eprintln!("osconfig-bench: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("osconfig-bench: {message}\n{USAGE}");
    ExitCode::from(2)
}
