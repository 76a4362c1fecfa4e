//! The options every MPI subcommand takes, and the split of a command line into options and operands.

use std::path::PathBuf;
use std::time::Duration;

use crate::client::error::CtlError;

/// The MPI socket under the root.
pub const SOCKET_UNDER_ROOT: &str = "run/osconfig/mpid.sock";
/// Where the installed MIMs are under the root (`<module>.json`).
pub const MIM_DIR_UNDER_ROOT: &str = "usr/lib/osconfig/mim";
/// The longest `--timeout` accepted, in seconds (a day).
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// The help text of the common options, appended to each subcommand's usage.
pub const COMMON_USAGE: &str = "\
common options:
  --socket <path>     the platform's MPI socket (default <root>/run/osconfig/mpid.sock)
  --root <dir>        the device root (default /): the default socket and the MIMs in
                      <root>/usr/lib/osconfig/mim/<module>.json are found under it
  --json              machine output on stdout: compact JSON (errors still go to stderr)
  --timeout <secs>    how long to wait for the platform's answer to each call (default 30)
  -h, --help          this text

exit codes: 0 ok; 1 the call failed (the module's errno is named, e.g. 22 EINVAL); 2 usage or invalid input
(bad JSON, MIM violation); 3 the platform is not running or did not answer; 4 permission denied
";

/// The common options of an MPI subcommand, and its operands in order.
#[derive(Clone, Debug, PartialEq)]
pub struct CommonArgs {
    /// `--socket`, if given.
    pub socket: Option<PathBuf>,
    /// `--root` (default `/`).
    pub root: PathBuf,
    /// `--json`.
    pub json: bool,
    /// `--timeout`, if given (the client's default otherwise).
    pub timeout: Option<Duration>,
    /// `-h` / `--help`.
    pub help: bool,
    /// Everything that is not an option, in order (`-` stands for stdin; after `--` everything is an operand).
    pub operands: Vec<String>,
}

impl CommonArgs {
    /// Splits the arguments after the subcommand's name. Options may come anywhere, with their value as the next
    /// argument or after `=`. A lone `-`, an argument starting with `-` and a digit (a negative number) and
    /// everything after `--` are operands.
    pub fn parse(args: &[String]) -> Result<CommonArgs, CtlError> {
        let mut parsed = CommonArgs {
            socket: None,
            root: PathBuf::from("/"),
            json: false,
            timeout: None,
            help: false,
            operands: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            let mut value = |flag: &str| -> Result<String, CtlError> {
                match inline.clone().or_else(|| it.next().cloned()) {
                    Some(v) if !v.is_empty() => Ok(v),
                    _ => Err(CtlError::Usage(format!("{flag} needs a value"))),
                }
            };
            match name {
                "--socket" => parsed.socket = Some(PathBuf::from(value("--socket")?)),
                "--root" => parsed.root = PathBuf::from(value("--root")?),
                "--timeout" => parsed.timeout = Some(seconds(&value("--timeout")?)?),
                "--json" if inline.is_none() => parsed.json = true,
                "-h" | "--help" if inline.is_none() => parsed.help = true,
                "--" => parsed.operands.extend(it.by_ref().cloned()),
                other if is_option(other) => return Err(CtlError::Usage(format!("unknown option '{arg}'"))),
                _ => parsed.operands.push(arg.clone()),
            }
        }
        Ok(parsed)
    }

    /// The MPI socket: `--socket`, or `<root>/run/osconfig/mpid.sock`.
    pub fn socket_path(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| self.root.join(SOCKET_UNDER_ROOT))
    }

    /// The directory of the installed MIMs: `<root>/usr/lib/osconfig/mim`.
    pub fn mim_dir(&self) -> PathBuf {
        self.root.join(MIM_DIR_UNDER_ROOT)
    }

    /// The operands, checked against the count the subcommand takes; `names` name them for the error message.
    pub fn expect_operands(&self, names: &[&str]) -> Result<&[String], CtlError> {
        if self.operands.len() == names.len() {
            return Ok(&self.operands);
        }
        let wanted = if names.is_empty() { "no arguments".to_string() } else { names.join(" ") };
        match self.operands.get(names.len()) {
            Some(extra) => Err(CtlError::Usage(format!("unexpected argument '{extra}' (takes {wanted})"))),
            None => Err(CtlError::Usage(format!("missing {} (takes {wanted})", names[self.operands.len()]))),
        }
    }
}

/// Whether an argument is meant as an option: starts with `-`, is not `-` alone, not a negative number.
fn is_option(arg: &str) -> bool {
    arg.starts_with('-') && arg != "-" && !arg[1..].starts_with(|c: char| c.is_ascii_digit())
}

/// A positive number of seconds, at most [`MAX_TIMEOUT_SECS`].
fn seconds(text: &str) -> Result<Duration, CtlError> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_TIMEOUT_SECS)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| CtlError::Usage(format!("--timeout: '{text}' is not a number of seconds")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(list: &[&str]) -> Result<CommonArgs, CtlError> {
        CommonArgs::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn usage(result: Result<CommonArgs, CtlError>) -> String {
        match result {
            Err(CtlError::Usage(text)) => text,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn test_parse_defaults() {
        let a = parse(&["HostName", "name"]).unwrap();
        assert_eq!(a.operands, ["HostName", "name"]);
        assert_eq!(a.socket_path(), Path::new("/run/osconfig/mpid.sock"));
        assert_eq!(a.mim_dir(), Path::new("/usr/lib/osconfig/mim"));
        assert_eq!((a.json, a.timeout, a.help), (false, None, false));
    }

    #[test]
    fn test_parse_options_anywhere_both_forms() {
        let a = parse(&["--json", "C", "--root", "/r", "o", "--timeout=2.5", "-"]).unwrap();
        assert_eq!(a.operands, ["C", "o", "-"]);
        assert_eq!(a.root, Path::new("/r"));
        assert_eq!(a.socket_path(), Path::new("/r/run/osconfig/mpid.sock"));
        assert_eq!(a.mim_dir(), Path::new("/r/usr/lib/osconfig/mim"));
        assert_eq!(a.timeout, Some(Duration::from_millis(2500)));
        assert!(a.json);
        let a = parse(&["--socket=/s.sock", "--root", "/r"]).unwrap();
        assert_eq!(a.socket_path(), Path::new("/s.sock"));
    }

    #[test]
    fn test_parse_negative_numbers_and_double_dash_are_operands() {
        assert_eq!(parse(&["C", "o", "-5"]).unwrap().operands, ["C", "o", "-5"]);
        assert_eq!(parse(&["C", "--", "--json", "-x"]).unwrap().operands, ["C", "--json", "-x"]);
    }

    #[test]
    fn test_parse_errors() {
        assert_eq!(usage(parse(&["--socket"])), "--socket needs a value");
        assert_eq!(usage(parse(&["--root="])), "--root needs a value");
        assert_eq!(usage(parse(&["--frob"])), "unknown option '--frob'");
        assert_eq!(usage(parse(&["--json=1"])), "unknown option '--json=1'");
        assert_eq!(usage(parse(&["-x"])), "unknown option '-x'");
        for bad in ["0", "-1", "x", "inf", "86401"] {
            assert!(usage(parse(&["--timeout", bad])).starts_with("--timeout:"), "{bad}");
        }
        assert!(parse(&["-h"]).unwrap().help);
    }

    #[test]
    fn test_expect_operands_names_what_is_missing_or_extra() {
        let a = parse(&["C"]).unwrap();
        assert!(matches!(a.expect_operands(&["<Component>", "<object>"]),
            Err(CtlError::Usage(t)) if t == "missing <object> (takes <Component> <object>)"));
        let a = parse(&["C", "o", "x"]).unwrap();
        assert!(matches!(a.expect_operands(&["<Component>", "<object>"]),
            Err(CtlError::Usage(t)) if t == "unexpected argument 'x' (takes <Component> <object>)"));
        assert!(matches!(a.expect_operands(&[]), Err(CtlError::Usage(t)) if t.ends_with("(takes no arguments)")));
        assert_eq!(parse(&["C", "o"]).unwrap().expect_operands(&["a", "b"]).unwrap().len(), 2);
    }
}
