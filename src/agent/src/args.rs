//! Command line of `osconfig` and its exit codes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Exit code: stopped by SIGTERM/SIGINT, `--help`, `--version`, or `IotHubManagement` 0.
pub const EXIT_OK: i32 = 0;
/// Exit code: bad command line, or an invalid identity or configuration (fix it, restarting will not help).
pub const EXIT_CONFIG: i32 = 2;
/// Exit code: another start-up failure (the transport library could not start).
pub const EXIT_STARTUP: i32 = 4;

/// The `--help` text.
pub const USAGE: &str = "\
usage: osconfig [options]

The OSConfig IoT Hub agent: syncs the module twin with the platform (osconfig-platform) over its MPI socket.

options:
  --root <dir>                 resolve device paths under <dir> (default /): the MPI socket
                               <root>/run/osconfig/mpid.sock, <root>/etc/osconfig/osconfig.json,
                               <root>/etc/osconfig/osconfig.conn, the log <root>/var/log/osconfig_pnp_agent.log
  --connection-string <cs>     module connection string (HostName=..;DeviceId=..;ModuleId=..;SharedAccessKey=..)
  --connection-file <path>     file holding it (default <root>/etc/osconfig/osconfig.conn, used when present)
  --ca-file <pem>              trust the CAs in this PEM file in addition to the public roots
  --x509-cert <pem>            client certificate and private key for a connection string with x509=true
  --x509-key <pem>
  --config <file>              osconfig.json (default <root>/etc/osconfig/osconfig.json)
  --socket <path>              the platform's MPI socket (default <root>/run/osconfig/mpid.sock)
  --identityd-socket <path>    Identity Service sockets (defaults /run/aziot/identityd.sock,
  --keyd-socket <path>           /run/aziot/keyd.sock, /run/aziot/certd.sock; not under --root)
  --certd-socket <path>
  --token-lifetime <seconds>   lifetime of Identity Service SAS tokens (default 3600; renewed at 80%)
  --openssl-engine <name>      OpenSSL engine holding the private key of an Identity Service X.509 identity
                               (default aziot_keys; the key is named by keyd's key handle)
  --foreground                 log to stderr too
  --version                    print the version and exit
  --help                       print this text and exit

Without a connection string (argument, file, or OSCONFIG_CONNECTION_STRING) the identity comes from the Azure
Identity Service. IotHubManagement 0 in osconfig.json: the agent logs that remote management is off and exits 0.
signals: SIGTERM/SIGINT stop, SIGHUP reloads osconfig.json and the identity and reconnects.
exit codes: 0 stopped (or --help/--version, or IotHubManagement 0); 2 bad command line, identity or
configuration; 4 the transport library could not start.
";

/// Parsed options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// `--root` (default `/`).
    pub root: PathBuf,
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--socket`.
    pub socket: Option<PathBuf>,
    /// `--connection-string`.
    pub connection_string: Option<String>,
    /// `--connection-file`.
    pub connection_file: Option<PathBuf>,
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--x509-cert`.
    pub x509_cert: Option<PathBuf>,
    /// `--x509-key`.
    pub x509_key: Option<PathBuf>,
    /// `--identityd-socket`.
    pub identityd_socket: Option<PathBuf>,
    /// `--keyd-socket`.
    pub keyd_socket: Option<PathBuf>,
    /// `--certd-socket`.
    pub certd_socket: Option<PathBuf>,
    /// `--token-lifetime`.
    pub token_lifetime: Option<Duration>,
    /// `--openssl-engine`.
    pub openssl_engine: Option<String>,
    /// `--foreground`.
    pub foreground: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            root: PathBuf::from("/"),
            config: None,
            socket: None,
            connection_string: None,
            connection_file: None,
            ca_file: None,
            x509_cert: None,
            x509_key: None,
            identityd_socket: None,
            keyd_socket: None,
            certd_socket: None,
            token_lifetime: None,
            openssl_engine: None,
            foreground: false,
        }
    }
}

/// `abs` (an absolute device path) under `root`.
pub fn under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

impl Args {
    /// `osconfig.json`.
    pub fn config_path(&self) -> PathBuf {
        self.config.clone().unwrap_or_else(|| under(&self.root, "/etc/osconfig/osconfig.json"))
    }
    /// The MPI socket.
    pub fn socket_path(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| under(&self.root, "/run/osconfig/mpid.sock"))
    }
    /// The connection file and whether it was named explicitly.
    pub fn connection_file_path(&self) -> (PathBuf, bool) {
        match &self.connection_file {
            Some(path) => (path.clone(), true),
            None => (under(&self.root, "/etc/osconfig/osconfig.conn"), false),
        }
    }
    /// The log directory.
    pub fn log_dir(&self) -> PathBuf {
        under(&self.root, "/var/log")
    }
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the agent.
    Run(Box<Args>),
    /// Print the usage.
    Help,
    /// Print the version.
    Version,
}

/// A command-line error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgsError {
    /// An option this program does not know.
    Unknown(String),
    /// An option that needs a value came last.
    MissingValue(&'static str),
    /// An option given twice.
    Repeated(&'static str),
    /// A value that is not valid for its option.
    BadValue(&'static str, String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Unknown(arg) => write!(f, "unknown argument {arg:?}"),
            ArgsError::MissingValue(option) => write!(f, "{option} needs a value"),
            ArgsError::Repeated(option) => write!(f, "{option} given twice"),
            ArgsError::BadValue(option, value) => write!(f, "{option}: invalid value {value:?}"),
        }
    }
}

impl std::error::Error for ArgsError {}

fn set<T>(
    slot: &mut Option<T>,
    name: &'static str,
    value: Option<String>,
    f: impl Fn(String) -> Option<T>,
) -> Result<(), ArgsError> {
    let value = value.ok_or(ArgsError::MissingValue(name))?;
    let parsed = f(value.clone()).ok_or(ArgsError::BadValue(name, value))?;
    if slot.replace(parsed).is_some() {
        return Err(ArgsError::Repeated(name));
    }
    Ok(())
}

fn path(v: String) -> Option<PathBuf> {
    Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty())
}

/// Parses the arguments after the program name; `--opt=value` and `--opt value` are both accepted.
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
            "--root" => set(&mut root, "--root", value(), path)?,
            "--config" => set(&mut out.config, "--config", value(), path)?,
            "--socket" => set(&mut out.socket, "--socket", value(), path)?,
            "--connection-string" => set(&mut out.connection_string, "--connection-string", value(), Some)?,
            "--connection-file" => set(&mut out.connection_file, "--connection-file", value(), path)?,
            "--ca-file" => set(&mut out.ca_file, "--ca-file", value(), path)?,
            "--x509-cert" => set(&mut out.x509_cert, "--x509-cert", value(), path)?,
            "--x509-key" => set(&mut out.x509_key, "--x509-key", value(), path)?,
            "--identityd-socket" => set(&mut out.identityd_socket, "--identityd-socket", value(), path)?,
            "--keyd-socket" => set(&mut out.keyd_socket, "--keyd-socket", value(), path)?,
            "--certd-socket" => set(&mut out.certd_socket, "--certd-socket", value(), path)?,
            "--openssl-engine" => set(&mut out.openssl_engine, "--openssl-engine", value(), |v| {
                Some(v).filter(|v| !v.is_empty() && !v.contains('\0'))
            })?,
            "--token-lifetime" => set(&mut out.token_lifetime, "--token-lifetime", value(), |v| {
                v.parse::<u64>().ok().filter(|s| (2..=365 * 86_400).contains(s)).map(Duration::from_secs)
            })?,
            _ => return Err(ArgsError::Unknown(arg)),
        }
    }
    out.root = root.unwrap_or_else(|| PathBuf::from("/"));
    match (&out.x509_cert, &out.x509_key) {
        (Some(_), None) => return Err(ArgsError::MissingValue("--x509-key (with --x509-cert)")),
        (None, Some(_)) => return Err(ArgsError::MissingValue("--x509-cert (with --x509-key)")),
        _ => {}
    }
    Ok(Command::Run(Box::new(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, ArgsError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn test_parse_every_option_and_defaults() {
        let Command::Run(a) = run(&[
            "--root",
            "/r",
            "--connection-string=HostName=a;b=c",
            "--ca-file",
            "ca.pem",
            "--identityd-socket",
            "/i",
            "--keyd-socket=/k",
            "--certd-socket",
            "/c",
            "--token-lifetime",
            "10",
            "--openssl-engine",
            "pkcs11",
            "--foreground",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(a.root, Path::new("/r"));
        assert_eq!(a.connection_string.as_deref(), Some("HostName=a;b=c"), "only the first = splits");
        assert_eq!(a.ca_file.as_deref(), Some(Path::new("ca.pem")));
        assert_eq!(a.token_lifetime, Some(Duration::from_secs(10)));
        assert_eq!(a.openssl_engine.as_deref(), Some("pkcs11"));
        assert!(a.foreground);
        assert_eq!(a.socket_path(), Path::new("/r/run/osconfig/mpid.sock"));
        assert_eq!(a.config_path(), Path::new("/r/etc/osconfig/osconfig.json"));
        assert_eq!(a.connection_file_path(), (PathBuf::from("/r/etc/osconfig/osconfig.conn"), false));
        assert_eq!(a.log_dir(), Path::new("/r/var/log"));
        let Command::Run(d) = run(&[]).unwrap() else { panic!() };
        assert_eq!(d.socket_path(), Path::new("/run/osconfig/mpid.sock"));
        assert_eq!(run(&["--help"]).unwrap(), Command::Help);
        assert_eq!(run(&["--version"]).unwrap(), Command::Version);
    }

    #[test]
    fn test_parse_errors() {
        assert_eq!(run(&["--bogus"]), Err(ArgsError::Unknown("--bogus".into())));
        assert_eq!(run(&["--root"]), Err(ArgsError::MissingValue("--root")));
        assert_eq!(run(&["--root", "/a", "--root", "/b"]), Err(ArgsError::Repeated("--root")));
        assert_eq!(run(&["--token-lifetime", "1"]), Err(ArgsError::BadValue("--token-lifetime", "1".into())));
        assert_eq!(run(&["--ca-file="]), Err(ArgsError::BadValue("--ca-file", String::new())));
        assert_eq!(run(&["--openssl-engine="]), Err(ArgsError::BadValue("--openssl-engine", String::new())));
        assert_eq!(run(&["--openssl-engine"]), Err(ArgsError::MissingValue("--openssl-engine")));
        assert!(matches!(run(&["--x509-cert", "c.pem"]), Err(ArgsError::MissingValue(_))));
        assert!(matches!(run(&["--x509-key", "k.pem"]), Err(ArgsError::MissingValue(_))));
        let Command::Run(a) = run(&["--x509-cert", "c.pem", "--x509-key", "k.pem"]).unwrap() else { panic!() };
        assert_eq!((a.x509_cert.unwrap(), a.x509_key.unwrap()), (PathBuf::from("c.pem"), PathBuf::from("k.pem")));
    }
}
