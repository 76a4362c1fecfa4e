//! `osconfigctl test`: run module test recipes.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::recipe::parse::parse_file;
use crate::recipe::report::{Outcome, Reporter, Tally};
use crate::recipe::run::{Runner, DEFAULT_COMMAND_TIMEOUT, DEFAULT_MODULE_DIR};
use crate::recipe::step::StepKind;
use crate::target::host::Host;
use crate::target::inprocess::InProcess;
use crate::target::Backend;

/// Default `--call-timeout`: how long one module call may take.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variable the runner sets from `--root` (read by the modules through osconfig-storage).
pub const ROOT_ENV: &str = "OSCONFIG_ROOT";
/// Environment variable the runner sets to `<root>/var/lib/osconfig` with `--root`.
pub const STATE_DIR_ENV: &str = "OSCONFIG_STATE_DIR";

/// Help text of `osconfigctl test`.
pub const USAGE: &str = "\
usage: osconfigctl test <recipe.json>... [options]

Runs module test recipes (JSON arrays of steps; // and /* */ comments allowed) and prints one line per step,
then `N passed, N failed, N skipped, N total`. Exit code 0 when no step failed, 1 when one did, 2 on usage errors.

options:
  --bin <dir>             where modules are found (default /usr/lib/osconfig); `x.so` also matches `libx.so`
  --host <path>           run each module in its own osconfig-modulehost at <path> (MMI REST over a Unix socket)
                          instead of loading it into this process
  --root <dir>            device root for the modules: exported as OSCONFIG_ROOT=<dir> and
                          OSCONFIG_STATE_DIR=<dir>/var/lib/osconfig (created if missing); recipes use
                          $OSCONFIG_ROOT in RunCommand steps
  --call-timeout <secs>   how long one module call may take (default 60)
  --command-timeout <secs>
                          how long one RunCommand step may take (default 600; then its process group is killed)
  --check                 only parse the recipes and list their steps
  -v, --verbose           print payloads, command output and waits
  -h, --help              this text

Other environment variables pass through to modules, module hosts and RunCommand steps unchanged (e.g.
OSCONFIG_REBOOT_COMMAND, OSCONFIG_SHUTDOWN_COMMAND, OSCONFIG_LOG_LEVEL).
";

/// The parsed command line of `osconfigctl test`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestArgs {
    /// Recipe files, in order.
    pub recipes: Vec<PathBuf>,
    /// `--bin`.
    pub module_dir: PathBuf,
    /// `--host`.
    pub host: Option<PathBuf>,
    /// `--root`.
    pub root: Option<PathBuf>,
    /// `--call-timeout`.
    pub call_timeout: Duration,
    /// `--command-timeout`.
    pub command_timeout: Duration,
    /// `--check`.
    pub check: bool,
    /// `--verbose`.
    pub verbose: bool,
    /// `--help`.
    pub help: bool,
}

/// A command-line mistake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl TestArgs {
    /// Parses the arguments after `test`. Options take their value as the next argument or after `=`.
    pub fn parse(args: &[String]) -> Result<TestArgs, UsageError> {
        let mut parsed = TestArgs {
            recipes: Vec::new(),
            module_dir: PathBuf::from(DEFAULT_MODULE_DIR),
            host: None,
            root: None,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            check: false,
            verbose: false,
            help: false,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            let mut value = |flag: &str| -> Result<String, UsageError> {
                match inline.clone().or_else(|| it.next().cloned()) {
                    Some(v) if !v.is_empty() => Ok(v),
                    _ => Err(UsageError(format!("{flag} needs a value"))),
                }
            };
            match name {
                "--bin" => parsed.module_dir = PathBuf::from(value("--bin")?),
                "--host" => parsed.host = Some(PathBuf::from(value("--host")?)),
                "--root" => parsed.root = Some(PathBuf::from(value("--root")?)),
                "--call-timeout" => parsed.call_timeout = seconds("--call-timeout", &value("--call-timeout")?)?,
                "--command-timeout" => {
                    parsed.command_timeout = seconds("--command-timeout", &value("--command-timeout")?)?;
                }
                "--check" if inline.is_none() => parsed.check = true,
                "-v" | "--verbose" if inline.is_none() => parsed.verbose = true,
                "-h" | "--help" if inline.is_none() => parsed.help = true,
                "--" => parsed.recipes.extend(it.by_ref().map(PathBuf::from)),
                other if other.starts_with('-') && other != "-" => {
                    return Err(UsageError(format!("unknown option '{arg}'")));
                }
                _ => parsed.recipes.push(PathBuf::from(arg)),
            }
        }
        if parsed.recipes.is_empty() && !parsed.help {
            return Err(UsageError("no recipe files given".to_string()));
        }
        Ok(parsed)
    }
}

/// A positive number of seconds, at most a day.
fn seconds(flag: &str, text: &str) -> Result<Duration, UsageError> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| UsageError(format!("{flag}: '{text}' is not a number of seconds")))
}

/// `osconfigctl test ...`: returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    let parsed = match TestArgs::parse(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("osconfigctl test: {e}\n\n{USAGE}");
            return 2;
        }
    };
    if parsed.help {
        print!("{USAGE}");
        return 0;
    }
    let stdout = std::io::stdout();
    let mut report = Reporter::new(stdout.lock(), parsed.verbose);
    if parsed.check {
        let tally = check(&parsed.recipes, &mut report);
        return exit_code(tally);
    }
    match run(&parsed, &mut report) {
        Ok(tally) => exit_code(tally),
        Err(e) => {
            eprintln!("osconfigctl test: {e}");
            2
        }
    }
}

fn exit_code(tally: Tally) -> i32 {
    i32::from(tally.failed > 0)
}

/// Sets up the environment and backend, runs every recipe and prints the summary.
pub fn run<W: Write>(args: &TestArgs, report: &mut Reporter<W>) -> Result<Tally, UsageError> {
    if let Some(root) = &args.root {
        let root = prepare_root(root)?;
        std::env::set_var(ROOT_ENV, &root);
        std::env::set_var(STATE_DIR_ENV, root.join("var/lib/osconfig"));
        report.detail(&format!("{ROOT_ENV}={}", root.display()));
    }
    let module_dir = absolute(&args.module_dir)?;
    let mut backend: Box<dyn Backend> = match &args.host {
        Some(program) => {
            let program = absolute(program)?;
            if !program.is_file() {
                return Err(UsageError(format!("--host: {} is not a file", program.display())));
            }
            Box::new(Host::new(program, args.call_timeout))
        }
        None => Box::new(InProcess::new(args.call_timeout)),
    };
    let mut total = Tally::default();
    for path in &args.recipes {
        let name = path.display().to_string();
        let tally = match parse_file(path) {
            Ok(recipe) => {
                report.recipe_start(&name, recipe.steps.len());
                Runner::new(backend.as_mut(), &module_dir)
                    .with_command_timeout(args.command_timeout)
                    .run(&recipe, report)
            }
            Err(e) => {
                report.recipe_start(&name, 0);
                report.recipe_error(&e.to_string());
                Tally { failed: 1, ..Tally::default() }
            }
        };
        report.recipe_end(&name, tally);
        total.merge(tally);
    }
    report.summary(total);
    Ok(total)
}

/// `--check`: parse every recipe and list its steps; invalid steps and unreadable recipes count as failures.
pub fn check<W: Write>(recipes: &[PathBuf], report: &mut Reporter<W>) -> Tally {
    let mut total = Tally::default();
    for path in recipes {
        let name = path.display().to_string();
        let mut tally = Tally::default();
        match parse_file(path) {
            Ok(recipe) => {
                report.recipe_start(&name, recipe.steps.len());
                for step in &recipe.steps {
                    let outcome = match &step.kind {
                        StepKind::Invalid { reason } => Outcome::Failed(format!("invalid step: {reason}")),
                        _ => Outcome::Passed("parsed".to_string()),
                    };
                    report.step(step, &outcome);
                    tally.add(&outcome);
                }
            }
            Err(e) => {
                report.recipe_start(&name, 0);
                report.recipe_error(&e.to_string());
                tally.failed += 1;
            }
        }
        report.recipe_end(&name, tally);
        total.merge(tally);
    }
    report.summary(total);
    total
}

/// Creates the root if needed and returns its canonical path.
fn prepare_root(root: &Path) -> Result<PathBuf, UsageError> {
    std::fs::create_dir_all(root)
        .and_then(|()| root.canonicalize())
        .map_err(|e| UsageError(format!("--root {}: {e}", root.display())))
}

/// The path made absolute against the current directory (modules are loaded by absolute path).
fn absolute(path: &Path) -> Result<PathBuf, UsageError> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| UsageError(format!("cannot read the current directory: {e}")))?;
    Ok(cwd.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<TestArgs, UsageError> {
        TestArgs::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn test_parse_defaults() {
        let a = args(&["r.json"]).unwrap();
        assert_eq!(a.recipes, vec![PathBuf::from("r.json")]);
        assert_eq!(a.module_dir, PathBuf::from("/usr/lib/osconfig"));
        assert_eq!((a.host, a.root, a.check, a.verbose), (None, None, false, false));
        assert_eq!(a.call_timeout, DEFAULT_CALL_TIMEOUT);
    }

    #[test]
    fn test_parse_all_options_both_forms() {
        let a = args(&[
            "a.json",
            "--bin",
            "/m",
            "--host=/h",
            "--root",
            "/r",
            "--call-timeout=2.5",
            "--command-timeout",
            "7",
            "-v",
            "--check",
            "b.json",
        ])
        .unwrap();
        assert_eq!(a.recipes, vec![PathBuf::from("a.json"), PathBuf::from("b.json")]);
        assert_eq!(a.module_dir, PathBuf::from("/m"));
        assert_eq!(a.host, Some(PathBuf::from("/h")));
        assert_eq!(a.root, Some(PathBuf::from("/r")));
        assert_eq!(a.call_timeout, Duration::from_millis(2500));
        assert_eq!(a.command_timeout, Duration::from_secs(7));
        assert!(a.verbose && a.check);
    }

    #[test]
    fn test_parse_errors() {
        assert_eq!(args(&[]).unwrap_err().0, "no recipe files given");
        assert_eq!(args(&["r.json", "--bin"]).unwrap_err().0, "--bin needs a value");
        assert_eq!(args(&["r.json", "--bin="]).unwrap_err().0, "--bin needs a value");
        assert_eq!(args(&["r.json", "--frob"]).unwrap_err().0, "unknown option '--frob'");
        assert_eq!(args(&["r.json", "--verbose=1"]).unwrap_err().0, "unknown option '--verbose=1'");
        assert!(args(&["r.json", "--call-timeout", "0"]).unwrap_err().0.starts_with("--call-timeout"));
        assert!(args(&["--help"]).unwrap().help);
        assert_eq!(args(&["--", "--odd.json"]).unwrap().recipes, vec![PathBuf::from("--odd.json")]);
    }
}
