//! The command line: `osconfig-modulehost --module <abs path.so> --socket <path> [--user <uid>] [--client-name <s>]`.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

/// The client name used for the start-up `MmiGetInfo` check when `--client-name` is not given.
pub const DEFAULT_CLIENT_NAME: &str = "osconfig-modulehost";

/// The help text (`--help`).
pub const USAGE: &str = "\
usage: osconfig-modulehost --module <path.so> --socket <path> [--user <uid>] [--client-name <name>]
       osconfig-modulehost --help | --version

Loads one OSConfig module (a shared library exporting the MMI) and serves it over HTTP/1.1 on a Unix socket:
POST /MmiGetInfo/, /MmiOpen/, /MmiClose/, /MmiSet/, /MmiGet/ (see MMI-REST-API.md).

options:
  --module <path.so>     absolute path of the module to load
  --socket <path>        socket to listen on (a missing parent directory is created with mode 0700; socket 0660)
  --user <uid>           when started as root: after binding the socket (chown-ed to the uid), drop to this uid
                         (its primary group, no supplementary groups) before loading the module; 0 keeps root
  --client-name <name>   client name of the start-up MmiGetInfo check (default osconfig-modulehost)
  --help                 print this text and exit
  --version              print the version and exit

environment:
  OSCONFIG_LOG_LEVEL     off, error, warn, info (default), debug, trace, or a syslog number 0..7

exit codes:
  0  stopped by SIGTERM or SIGINT after closing every session and unloading the module
  1  the server loop failed
  2  usage error
  3  the module failed to load or its MmiGetInfo is invalid
  4  the socket could not be created
  5  the privilege drop (--user) failed
  6  stopped while a module call (or the module's loading) was still running; sessions not closed
";

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Serve a module.
    Run(Options),
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
}

/// The options of a module host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `--module`: absolute path of the module's shared library.
    pub module: PathBuf,
    /// `--socket`: the socket to serve on.
    pub socket: PathBuf,
    /// `--user`: the uid to run the module as (`None` or `Some(0)`: stay as started).
    pub user: Option<u32>,
    /// `--client-name`: the client name of the start-up `MmiGetInfo` check.
    pub client_name: String,
}

/// A command line that cannot be used (exit code 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageError {
    /// An option that does not exist.
    UnknownOption(String),
    /// An option without its value.
    MissingValue(&'static str),
    /// An option given twice.
    Repeated(&'static str),
    /// A required option is absent.
    Required(&'static str),
    /// A value that cannot be used; the text says why.
    BadValue {
        /// The option.
        option: &'static str,
        /// Why.
        reason: &'static str,
    },
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::UnknownOption(o) => write!(f, "unknown option {o:?}"),
            UsageError::MissingValue(o) => write!(f, "option {o} needs a value"),
            UsageError::Repeated(o) => write!(f, "option {o} is given twice"),
            UsageError::Required(o) => write!(f, "option {o} is required"),
            UsageError::BadValue { option, reason } => write!(f, "option {option}: {reason}"),
        }
    }
}

impl std::error::Error for UsageError {}

fn set_once<T>(slot: &mut Option<T>, value: T, option: &'static str) -> Result<(), UsageError> {
    if slot.replace(value).is_some() {
        return Err(UsageError::Repeated(option));
    }
    Ok(())
}

/// Parses the arguments after the program name. `--help` and `--version` win over anything else.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let args: Vec<OsString> = args.into_iter().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Command::Help);
    }
    if args.iter().any(|a| a == "--version" || a == "-V") {
        return Ok(Command::Version);
    }
    let (mut module, mut socket, mut user, mut client_name) = (None, None, None, None);
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        let option: &'static str = match arg.to_str() {
            Some("--module") => "--module",
            Some("--socket") => "--socket",
            Some("--user") => "--user",
            Some("--client-name") => "--client-name",
            _ => return Err(UsageError::UnknownOption(arg.to_string_lossy().into_owned())),
        };
        let value = iter.next().ok_or(UsageError::MissingValue(option))?;
        match option {
            "--module" => {
                let path = PathBuf::from(value);
                if !path.is_absolute() {
                    return Err(UsageError::BadValue { option, reason: "the module path must be absolute" });
                }
                set_once(&mut module, path, option)?;
            }
            "--socket" => {
                if value.is_empty() {
                    return Err(UsageError::BadValue { option, reason: "the socket path is empty" });
                }
                set_once(&mut socket, PathBuf::from(value), option)?;
            }
            "--user" => {
                let uid = value
                    .to_str()
                    .and_then(|v| v.parse::<u32>().ok())
                    .filter(|&uid| uid != u32::MAX)
                    .ok_or(UsageError::BadValue { option, reason: "expected a numeric uid" })?;
                set_once(&mut user, uid, option)?;
            }
            _ => {
                let name = value
                    .into_string()
                    .map_err(|_| UsageError::BadValue { option, reason: "the client name is not UTF-8" })?;
                set_once(&mut client_name, name, option)?;
            }
        }
    }
    Ok(Command::Run(Options {
        module: module.ok_or(UsageError::Required("--module"))?,
        socket: socket.ok_or(UsageError::Required("--socket"))?,
        user,
        client_name: client_name.unwrap_or_else(|| DEFAULT_CLIENT_NAME.to_string()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn test_parse_full_and_defaults() {
        let cmd = parse_strs(&["--module", "/m.so", "--socket", "s.sock", "--user", "65534", "--client-name", "c"]);
        assert_eq!(
            cmd.unwrap(),
            Command::Run(Options {
                module: "/m.so".into(),
                socket: "s.sock".into(),
                user: Some(65534),
                client_name: "c".into()
            })
        );
        let Command::Run(o) = parse_strs(&["--socket", "/s", "--module", "/m.so"]).unwrap() else { panic!() };
        assert_eq!((o.user, o.client_name.as_str()), (None, DEFAULT_CLIENT_NAME));
    }

    #[test]
    fn test_parse_help_and_version() {
        assert_eq!(parse_strs(&["--help"]).unwrap(), Command::Help);
        assert_eq!(parse_strs(&["--bogus", "--help"]).unwrap(), Command::Help);
        assert_eq!(parse_strs(&["--version"]).unwrap(), Command::Version);
    }

    #[test]
    fn test_parse_errors() {
        assert_eq!(parse_strs(&[]), Err(UsageError::Required("--module")));
        assert_eq!(parse_strs(&["--module", "/m.so"]), Err(UsageError::Required("--socket")));
        assert_eq!(parse_strs(&["--module"]), Err(UsageError::MissingValue("--module")));
        assert_eq!(parse_strs(&["-x"]), Err(UsageError::UnknownOption("-x".into())));
        assert_eq!(parse_strs(&["--module", "/a.so", "--module", "/b.so"]), Err(UsageError::Repeated("--module")));
        assert!(matches!(
            parse_strs(&["--module", "m.so", "--socket", "/s"]),
            Err(UsageError::BadValue { option: "--module", .. })
        ));
        for bad in ["nobody", "-1", "4294967295", ""] {
            assert!(
                matches!(
                    parse_strs(&["--module", "/m.so", "--socket", "/s", "--user", bad]),
                    Err(UsageError::BadValue { option: "--user", .. })
                ),
                "{bad}"
            );
        }
    }
}
