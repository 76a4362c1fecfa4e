//! Command line of `osconfig-platform` (its exit codes are in [`crate::error`]).

use std::fmt;
use std::path::PathBuf;

/// The `--help` text.
pub const USAGE: &str = "\
usage: osconfig-platform [options]

The OSConfig platform: serves the MPI on a Unix socket and runs the modules.

options:
  --root <dir>          resolve every device path under <dir> (default /)
  --config <file>       osconfig.json (default <root>/etc/osconfig/osconfig.json)
  --socket <path>       MPI socket (default <root>/run/osconfig/mpid.sock)
  --modulehost <path>   module host executable (default: osconfig-modulehost beside this
                        executable, else <root>/usr/lib/osconfig/osconfig-modulehost)
  --foreground          log to stderr too (the process never forks either way)
  --version             print the version and exit
  --help                print this text and exit

signals: SIGTERM/SIGINT stop (within 1 s), SIGHUP reloads osconfig.json and rediscovers modules.

exit codes:
  0  stopped by SIGTERM/SIGINT, or --help/--version
  2  bad command line
  3  another platform runs on this root, or the MPI socket cannot be created
  4  another start-up failure
";

/// Parsed options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// `--root` (default `/`).
    pub root: PathBuf,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--modulehost`.
    pub modulehost: Option<PathBuf>,
    /// `--foreground`.
    pub foreground: bool,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the daemon.
    Run(Args),
    /// Print the usage.
    Help,
    /// Print the version.
    Version,
}

/// A command-line error (exit code [`EXIT_USAGE`](crate::error::EXIT_USAGE)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgsError {
    /// An option this program does not know.
    Unknown(String),
    /// An option that needs a value came last.
    MissingValue(&'static str),
    /// An option given twice.
    Repeated(&'static str),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Unknown(arg) => write!(f, "unknown argument {arg:?}"),
            ArgsError::MissingValue(option) => write!(f, "{option} needs a value"),
            ArgsError::Repeated(option) => write!(f, "{option} given twice"),
        }
    }
}

impl std::error::Error for ArgsError {}

fn set(slot: &mut Option<PathBuf>, name: &'static str, value: Option<String>) -> Result<(), ArgsError> {
    let value = value.ok_or(ArgsError::MissingValue(name))?;
    if slot.replace(PathBuf::from(value)).is_some() {
        return Err(ArgsError::Repeated(name));
    }
    Ok(())
}

/// Parses the arguments after the program name. `--opt=value` and `--opt value` are both accepted.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, ArgsError> {
    let mut root = None;
    let mut out = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next());
        match name.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" | "-V" => return Ok(Command::Version),
            "--foreground" if inline.is_none() => out.foreground = true,
            "--root" => set(&mut root, "--root", value())?,
            "--config" => set(&mut out.config, "--config", value())?,
            "--socket" => set(&mut out.socket, "--socket", value())?,
            "--modulehost" => set(&mut out.modulehost, "--modulehost", value())?,
            _ => return Err(ArgsError::Unknown(arg)),
        }
    }
    out.root = root.unwrap_or_else(|| PathBuf::from("/"));
    Ok(Command::Run(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, ArgsError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn test_parse_defaults() {
        assert_eq!(run(&[]).unwrap(), Command::Run(Args { root: "/".into(), ..Args::default() }));
    }

    #[test]
    fn test_parse_every_option() {
        let Command::Run(a) =
            run(&["--root", "/r", "--config=/c.json", "--socket", "/s", "--modulehost", "/h", "--foreground"]).unwrap()
        else {
            panic!("not run")
        };
        assert_eq!(a.root, PathBuf::from("/r"));
        assert_eq!(a.config, Some("/c.json".into()));
        assert_eq!(a.socket, Some("/s".into()));
        assert_eq!(a.modulehost, Some("/h".into()));
        assert!(a.foreground);
    }

    #[test]
    fn test_parse_help_version_and_errors() {
        assert_eq!(run(&["--help"]).unwrap(), Command::Help);
        assert_eq!(run(&["--version"]).unwrap(), Command::Version);
        assert_eq!(run(&["--root"]), Err(ArgsError::MissingValue("--root")));
        assert_eq!(run(&["--root", "a", "--root", "b"]), Err(ArgsError::Repeated("--root")));
        assert_eq!(run(&["--bogus"]), Err(ArgsError::Unknown("--bogus".into())));
        assert_eq!(run(&["--foreground=1"]), Err(ArgsError::Unknown("--foreground=1".into())));
    }
}
