//! The Azure Identity Service (AIS, `aziot-*`) over its Unix sockets, api-version 2020-09-01: the module's identity
//! from identityd, an HMAC-SHA256 signature from keyd, a certificate from certd.
//!
//! Every answer is read with a size bound ([`MAX_AIS_RESPONSE_BYTES`]) and a deadline ([`AIS_TIMEOUT`]) and
//! validated before use; each failure is one [`AisError`] that names the socket and what was wrong.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use osconfig_http::{Client, ClientError, Limits};
use serde_json::{json, Value};

use super::connection_string::{Auth, ConnectionString};
use super::encode::{base64_decode, base64_encode};
use super::sas;

/// identityd's socket on a device.
pub const IDENTITYD_SOCKET: &str = "/run/aziot/identityd.sock";
/// keyd's socket on a device.
pub const KEYD_SOCKET: &str = "/run/aziot/keyd.sock";
/// certd's socket on a device.
pub const CERTD_SOCKET: &str = "/run/aziot/certd.sock";
/// The API version of every call.
pub const API_VERSION: &str = "2020-09-01";
/// Largest answer body read from an AIS socket, in bytes.
pub const MAX_AIS_RESPONSE_BYTES: usize = 64 * 1024;
/// Longest a call may take (connect, send, whole answer).
pub const AIS_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest identifier (hub, device, module, key handle, cert id) accepted, in bytes.
pub const MAX_ID_BYTES: usize = 1024;

/// Where the three services listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AisSockets {
    /// identityd.
    pub identityd: PathBuf,
    /// keyd.
    pub keyd: PathBuf,
    /// certd.
    pub certd: PathBuf,
}

impl Default for AisSockets {
    fn default() -> Self {
        AisSockets { identityd: IDENTITYD_SOCKET.into(), keyd: KEYD_SOCKET.into(), certd: CERTD_SOCKET.into() }
    }
}

/// How the identity authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AisAuth {
    /// A shared key kept by keyd.
    Sas {
        /// keyd's handle of the key.
        key_handle: String,
    },
    /// A certificate from certd, its private key kept by keyd.
    X509 {
        /// certd's id of the certificate.
        cert_id: String,
        /// keyd's handle of the private key.
        key_handle: String,
    },
}

/// The identity identityd gives this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AisIdentity {
    /// `hubName`.
    pub hub_name: String,
    /// `gatewayHost` when it differs from the hub.
    pub gateway_host: Option<String>,
    /// `deviceId`.
    pub device_id: String,
    /// `moduleId`.
    pub module_id: String,
    /// `auth`.
    pub auth: AisAuth,
}

/// Why an AIS call failed.
#[derive(Debug)]
pub enum AisError {
    /// The socket did not answer (absent service, refused, timeout, answer too large).
    Unreachable(PathBuf, ClientError),
    /// The service answered a status other than 200.
    Status(PathBuf, u16, String),
    /// The answer is not what the API defines.
    Invalid(PathBuf, String),
}

impl fmt::Display for AisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AisError::Unreachable(p, e) => write!(f, "identity service {}: {}", p.display(), client_error_text(e)),
            AisError::Status(p, s, body) => write!(f, "identity service {} answered {s}: {body}", p.display()),
            AisError::Invalid(p, what) => write!(f, "identity service {}: invalid answer: {what}", p.display()),
        }
    }
}

impl std::error::Error for AisError {}

/// A client error with its cause (`socket i/o failed` alone does not say that the socket does not exist).
pub fn client_error_text(e: &ClientError) -> String {
    match e {
        ClientError::Io(io) => format!("{e}: {io}"),
        e => e.to_string(),
    }
}

/// One request; the JSON object answered with status 200.
fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<serde_json::Map<String, Value>, AisError> {
    let limits = Limits { max_body_bytes: MAX_AIS_RESPONSE_BYTES, ..Limits::default() };
    let mut client = Client::new(socket).with_timeout(AIS_TIMEOUT).with_limits(limits);
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let response = client.request(method, path, &bytes).map_err(|e| AisError::Unreachable(socket.into(), e))?;
    if response.status != 200 {
        let excerpt: String = String::from_utf8_lossy(&response.body).chars().take(200).collect();
        return Err(AisError::Status(socket.into(), response.status, excerpt));
    }
    match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AisError::Invalid(socket.into(), "not a JSON object".into())),
        Err(e) => Err(AisError::Invalid(socket.into(), format!("not JSON: {e}"))),
    }
}

/// A non-empty string field of at most [`MAX_ID_BYTES`], without control characters or `;`.
fn id_field(map: &serde_json::Map<String, Value>, key: &str, socket: &Path) -> Result<String, AisError> {
    match map.get(key) {
        Some(Value::String(s))
            if !s.is_empty() && s.len() <= MAX_ID_BYTES && !s.chars().any(|c| c.is_control() || c == ';') =>
        {
            Ok(s.clone())
        }
        Some(_) => Err(AisError::Invalid(socket.into(), format!("{key} is not a valid identifier"))),
        None => Err(AisError::Invalid(socket.into(), format!("{key} is missing"))),
    }
}

/// `GET /identities/identity`: the module identity of this process.
pub fn get_identity(socket: &Path) -> Result<AisIdentity, AisError> {
    let answer = call(socket, "GET", &format!("/identities/identity?api-version={API_VERSION}"), None)?;
    // The answer is {"type":"aziot","spec":{...}}; an answer with the fields at the top level is taken too.
    let spec = match answer.get("spec") {
        Some(Value::Object(spec)) => spec.clone(),
        Some(_) => return Err(AisError::Invalid(socket.into(), "spec is not an object".into())),
        None => answer,
    };
    let hub_name = id_field(&spec, "hubName", socket)?;
    let device_id = id_field(&spec, "deviceId", socket)?;
    let module_id = match spec.get("moduleId") {
        None => {
            return Err(AisError::Invalid(
                socket.into(),
                "a device identity (no moduleId): configure osconfig as a module principal (idtype = [\"module\"]) in identityd".into(),
            ))
        }
        Some(_) => id_field(&spec, "moduleId", socket)?,
    };
    let gateway_host = match spec.get("gatewayHost") {
        None | Some(Value::Null) => None,
        Some(_) => Some(id_field(&spec, "gatewayHost", socket)?).filter(|g| *g != hub_name),
    };
    let Some(Value::Object(auth)) = spec.get("auth") else {
        return Err(AisError::Invalid(socket.into(), "auth is missing or not an object".into()));
    };
    let auth = match auth.get("type").and_then(Value::as_str) {
        Some("sas") => AisAuth::Sas { key_handle: id_field(auth, "keyHandle", socket)? },
        Some("x509") => AisAuth::X509 {
            cert_id: id_field(auth, "certId", socket)?,
            key_handle: id_field(auth, "keyHandle", socket)?,
        },
        other => return Err(AisError::Invalid(socket.into(), format!("auth type {other:?} is neither sas nor x509"))),
    };
    Ok(AisIdentity { hub_name, gateway_host, device_id, module_id, auth })
}

/// `POST /sign`: the HMAC-SHA256 of `message` with the key `key_handle`, as base64 (validated).
pub fn sign(socket: &Path, key_handle: &str, message: &[u8]) -> Result<String, AisError> {
    let body =
        json!({"keyHandle": key_handle, "algorithm": "HMAC-SHA256", "parameters": {"message": base64_encode(message)}});
    let answer = call(socket, "POST", &format!("/sign?api-version={API_VERSION}"), Some(&body))?;
    match answer.get("signature") {
        Some(Value::String(s)) if base64_decode(s).is_some_and(|d| d.len() == 32) => Ok(s.clone()),
        Some(_) => Err(AisError::Invalid(socket.into(), "signature is not the base64 of a 32-byte HMAC-SHA256".into())),
        None => Err(AisError::Invalid(socket.into(), "signature is missing".into())),
    }
}

/// `GET /certificates/<id>`: the certificate (chain) PEM text.
pub fn get_certificate(socket: &Path, cert_id: &str) -> Result<String, AisError> {
    let path = format!("/certificates/{}?api-version={API_VERSION}", super::encode::url_encode(cert_id));
    let answer = call(socket, "GET", &path, None)?;
    match answer.get("pem") {
        Some(Value::String(pem)) if pem.contains("-----BEGIN CERTIFICATE-----") => Ok(pem.clone()),
        _ => Err(AisError::Invalid(socket.into(), "pem is missing or holds no certificate".into())),
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A SAS connection string for `identity` (its `auth` must be [`AisAuth::Sas`]) valid until `expiry` (Unix s):
/// the token is signed by keyd.
pub fn sas_connection(sockets: &AisSockets, identity: &AisIdentity, expiry: u64) -> Result<ConnectionString, AisError> {
    let AisAuth::Sas { key_handle } = &identity.auth else {
        return Err(AisError::Invalid(sockets.identityd.clone(), "not a sas identity".into()));
    };
    let sr = sas::resource_uri(&identity.hub_name, &identity.device_id, &identity.module_id);
    let signature = sign(&sockets.keyd, key_handle, sas::string_to_sign(&sr, expiry).as_bytes())?;
    Ok(ConnectionString {
        host_name: identity.hub_name.clone(),
        device_id: identity.device_id.clone(),
        module_id: identity.module_id.clone(),
        gateway_host_name: identity.gateway_host.clone(),
        auth: Auth::Signature(sas::token(&sr, &signature, expiry)),
    })
}
