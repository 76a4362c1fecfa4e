//! Who the agent is on the hub: a module identity from a connection string or from the Azure Identity Service.
//!
//! Order of the sources ([`resolve`]): `--connection-string`, then the connection file (`--connection-file`, or
//! `<root>/etc/osconfig/osconfig.conn` when it exists), then the environment variable
//! [`CONNECTION_STRING_ENV`], then the Identity Service ([`ais`]): identityd's identity, and for a `sas` identity a
//! token the agent builds and keyd signs (`<root>`-independent sockets, overridable for tests). An AIS token lives
//! [`sas::DEFAULT_TOKEN_LIFETIME`] (or the `--token-lifetime` given) and is renewed after
//! [`sas::RENEW_AT_PERCENT`]% of it by reconnecting with a new one ([`Credentials::renew_after`]).
//!
//! An `x509` identity from the Identity Service: the certificate (chain) comes from certd, and its private key
//! stays in keyd, used through an OpenSSL engine ([`DEFAULT_OPENSSL_ENGINE`], or `--openssl-engine`) that loads it
//! by keyd's key handle ([`PrivateKey::Engine`]); the connection string is `x509=true`. certd may renew the
//! certificate: the identity is read again every [`CERTIFICATE_CHECK_INTERVAL`] (and at every reconnect), and the
//! agent reconnects only when the certificate or key handle changed.
//!
//! A connection string given explicitly (argument, file, environment) that is invalid is a configuration error
//! ([`IdentityError::is_permanent`]); an Identity Service that does not answer is retried by the caller.

pub mod ais;
pub mod connection_string;
pub mod encode;
pub mod sas;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use ais::{AisAuth, AisIdentity, AisSockets};
pub use connection_string::{Auth, ConnectionString, ConnectionStringError, MAX_CONNECTION_STRING_BYTES};

use crate::transport::{ClientCertificate, PrivateKey};

/// The OpenSSL engine that holds an Identity Service X.509 identity's private key: aziot-keys' engine.
pub const DEFAULT_OPENSSL_ENGINE: &str = "aziot_keys";
/// How often an Identity Service X.509 identity is read again to notice a renewed certificate.
pub const CERTIFICATE_CHECK_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// The environment variable that may hold the connection string.
pub const CONNECTION_STRING_ENV: &str = "OSCONFIG_CONNECTION_STRING";

/// Where the identity came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--connection-string`.
    Argument,
    /// A connection file.
    File(PathBuf),
    /// [`CONNECTION_STRING_ENV`].
    Environment,
    /// The Azure Identity Service.
    IdentityService,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Argument => f.write_str("--connection-string"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Environment => f.write_str(CONNECTION_STRING_ENV),
            Source::IdentityService => f.write_str("the Azure Identity Service"),
        }
    }
}

/// What [`resolve`] looks at.
#[derive(Clone, Debug)]
pub struct IdentityOptions {
    /// `--connection-string`.
    pub argument: Option<String>,
    /// The connection file, and whether it was named explicitly (`--connection-file`: must exist).
    pub file: Option<(PathBuf, bool)>,
    /// The value of [`CONNECTION_STRING_ENV`].
    pub environment: Option<String>,
    /// The Identity Service's sockets.
    pub ais: AisSockets,
    /// Lifetime of the tokens built from the Identity Service's key.
    pub token_lifetime: Duration,
    /// Whether a client certificate was given (`--x509-cert` and `--x509-key`): connection strings with
    /// `x509=true` need one.
    pub has_client_certificate: bool,
    /// The OpenSSL engine of an Identity Service X.509 identity's key ([`DEFAULT_OPENSSL_ENGINE`]).
    pub openssl_engine: String,
    /// How often an Identity Service X.509 identity is read again ([`CERTIFICATE_CHECK_INTERVAL`]).
    pub certificate_check_interval: Duration,
}

/// A usable identity.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The connection string the transport uses.
    pub connection: ConnectionString,
    /// Where it came from.
    pub source: Source,
    /// Read the identity again this long after it was obtained: a token about to expire (always reconnects), or a
    /// certificate to check (reconnects when it changed).
    pub renew_after: Option<Duration>,
    /// The client certificate that comes with the identity (an Identity Service X.509 identity); `None`: the
    /// transport's own (`--x509-cert`) if any.
    pub client_certificate: Option<ClientCertificate>,
}

/// Why no identity could be had.
#[derive(Debug)]
pub enum IdentityError {
    /// A connection string from `source` is invalid.
    Invalid(Source, ConnectionStringError),
    /// The connection file cannot be read.
    File(PathBuf, std::io::Error),
    /// No connection string, and the Identity Service did not give a usable identity.
    Ais(ais::AisError),
    /// A kind of identity this agent cannot use yet.
    Unsupported(Source, String),
}

impl IdentityError {
    /// Whether trying again without a configuration change is pointless (the agent stops with an error).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            IdentityError::Invalid(..)
                | IdentityError::File(..)
                | IdentityError::Unsupported(Source::Argument | Source::File(_) | Source::Environment, _)
        )
    }
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::Invalid(source, e) => write!(f, "connection string from {source}: {e}"),
            IdentityError::File(path, e) => write!(f, "cannot read the connection file {}: {e}", path.display()),
            IdentityError::Ais(e) => write!(f, "no connection string given, and {e}"),
            IdentityError::Unsupported(source, what) => write!(f, "identity from {source}: {what}"),
        }
    }
}

impl std::error::Error for IdentityError {}

fn from_text(text: &str, source: Source, has_client_certificate: bool) -> Result<Credentials, IdentityError> {
    let connection = ConnectionString::parse(text).map_err(|e| IdentityError::Invalid(source.clone(), e))?;
    if connection.auth == Auth::X509 && !has_client_certificate {
        return Err(IdentityError::Unsupported(source, "x509=true needs --x509-cert and --x509-key".into()));
    }
    Ok(Credentials { connection, source, renew_after: None, client_certificate: None })
}

/// The identity to connect with, from the first source that has one (see the module docs).
pub fn resolve(options: &IdentityOptions) -> Result<Credentials, IdentityError> {
    if let Some(text) = &options.argument {
        return from_text(text, Source::Argument, options.has_client_certificate);
    }
    if let Some((path, explicit)) = &options.file {
        match read_bounded(path) {
            Ok(text) => return from_text(&text, Source::File(path.clone()), options.has_client_certificate),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
            Err(e) => return Err(IdentityError::File(path.clone(), e)),
        }
    }
    if let Some(text) = options.environment.as_deref().filter(|t| !t.trim().is_empty()) {
        return from_text(text, Source::Environment, options.has_client_certificate);
    }
    let identity = ais::get_identity(&options.ais.identityd).map_err(IdentityError::Ais)?;
    match &identity.auth {
        AisAuth::Sas { .. } => {
            let lifetime = options.token_lifetime.max(sas::MIN_TOKEN_LIFETIME);
            let expiry = ais::unix_now() + lifetime.as_secs();
            let connection = ais::sas_connection(&options.ais, &identity, expiry).map_err(IdentityError::Ais)?;
            Ok(Credentials {
                connection,
                source: Source::IdentityService,
                renew_after: Some(sas::renew_after(lifetime)),
                client_certificate: None,
            })
        }
        AisAuth::X509 { cert_id, key_handle } => {
            let cert_pem = ais::get_certificate(&options.ais.certd, cert_id).map_err(IdentityError::Ais)?;
            let connection = ConnectionString {
                host_name: identity.hub_name.clone(),
                device_id: identity.device_id.clone(),
                module_id: identity.module_id.clone(),
                gateway_host_name: identity.gateway_host.clone(),
                auth: Auth::X509,
            };
            let key = PrivateKey::Engine { engine: options.openssl_engine.clone(), key_id: key_handle.clone() };
            Ok(Credentials {
                connection,
                source: Source::IdentityService,
                renew_after: Some(options.certificate_check_interval),
                client_certificate: Some(ClientCertificate { cert_pem, key }),
            })
        }
    }
}

/// The file's text, refusing files over [`MAX_CONNECTION_STRING_BYTES`] (plus room for white space).
fn read_bounded(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let file = std::fs::File::open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        log::warn!(
            "{} holds a secret but is readable by others (mode {:o}); make it 0600 (chmod 600)",
            path.display(),
            mode & 0o777
        );
    }
    let mut text = String::new();
    file.take((MAX_CONNECTION_STRING_BYTES + 1024) as u64).read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CS: &str = "HostName=h.example;DeviceId=d;ModuleId=m;SharedAccessKey=AAECAwQ=";

    fn options() -> IdentityOptions {
        let none = PathBuf::from("/nonexistent/osconfig-agent-test");
        IdentityOptions {
            argument: None,
            file: None,
            environment: None,
            ais: AisSockets { identityd: none.join("i.sock"), keyd: none.join("k.sock"), certd: none.join("c.sock") },
            token_lifetime: sas::DEFAULT_TOKEN_LIFETIME,
            has_client_certificate: false,
            openssl_engine: DEFAULT_OPENSSL_ENGINE.into(),
            certificate_check_interval: CERTIFICATE_CHECK_INTERVAL,
        }
    }

    #[test]
    fn test_resolve_order_argument_file_environment() {
        let dir = std::env::temp_dir().join(format!("osconfig-agent-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("osconfig.conn");
        std::fs::write(&file, format!("{}\n", CS.replace("DeviceId=d", "DeviceId=file"))).unwrap();
        let mut o = options();
        o.environment = Some(CS.replace("DeviceId=d", "DeviceId=env"));
        o.file = Some((file.clone(), false));
        o.argument = Some(CS.into());
        assert_eq!(resolve(&o).unwrap().source, Source::Argument);
        o.argument = None;
        let c = resolve(&o).unwrap();
        assert_eq!((c.source, c.connection.device_id.as_str()), (Source::File(file.clone()), "file"));
        o.file = Some((dir.join("absent.conn"), false));
        let c = resolve(&o).unwrap();
        assert_eq!((c.source, c.connection.device_id.as_str()), (Source::Environment, "env"));
        o.file = Some((dir.join("absent.conn"), true));
        let e = resolve(&o).unwrap_err();
        assert!(matches!(e, IdentityError::File(..)) && e.is_permanent(), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_resolve_errors() {
        let mut o = options();
        o.argument = Some("HostName=h.example;DeviceId=d;SharedAccessKey=AAECAwQ=".into());
        let e = resolve(&o).unwrap_err();
        assert!(e.is_permanent() && e.to_string().contains("module identity"), "{e}");
        o.argument = Some("HostName=h.example;DeviceId=d;ModuleId=m;x509=true".into());
        let e = resolve(&o).unwrap_err();
        assert!(matches!(e, IdentityError::Unsupported(Source::Argument, _)) && e.is_permanent(), "{e}");
        assert!(e.to_string().contains("--x509-cert"), "{e}");
        o.has_client_certificate = true;
        assert_eq!(resolve(&o).unwrap().connection.auth, Auth::X509);
        o.argument = None;
        let e = resolve(&o).unwrap_err();
        assert!(matches!(e, IdentityError::Ais(ais::AisError::Unreachable(..))) && !e.is_permanent(), "{e}");
        assert!(e.to_string().contains("i.sock"), "{e}");
    }
}
