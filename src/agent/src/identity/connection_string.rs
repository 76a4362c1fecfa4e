//! IoT Hub connection strings: `HostName=..;DeviceId=..;ModuleId=..;SharedAccessKey=..` (or
//! `SharedAccessSignature=..`, or `x509=true`), optionally `GatewayHostName=..`. Parsed, validated, and written
//! back in the form the SDK takes.

use std::fmt;

use super::encode::base64_decode;

/// The longest connection string accepted, in bytes.
pub const MAX_CONNECTION_STRING_BYTES: usize = 4096;

/// How the module authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `SharedAccessKey=<base64>`: the SDK makes and renews its SAS tokens itself.
    Key(String),
    /// `SharedAccessSignature=<token>`: a ready token (the Identity Service path renews it by reconnecting).
    Signature(String),
    /// `x509=true`: a client certificate given separately.
    X509,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets never reach a log line.
        match self {
            Auth::Key(_) => f.write_str("Key(<redacted>)"),
            Auth::Signature(_) => f.write_str("Signature(<redacted>)"),
            Auth::X509 => f.write_str("X509"),
        }
    }
}

/// A validated module identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionString {
    /// `HostName`: the hub's host name (dotted).
    pub host_name: String,
    /// `DeviceId`.
    pub device_id: String,
    /// `ModuleId`.
    pub module_id: String,
    /// `GatewayHostName`: where to connect instead of `HostName` (an edge gateway, a test hub).
    pub gateway_host_name: Option<String>,
    /// The credential.
    pub auth: Auth,
}

/// Why a connection string is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionStringError {
    /// Empty (after trimming white space).
    Empty,
    /// Longer than [`MAX_CONNECTION_STRING_BYTES`].
    TooLong(usize),
    /// A part without `=`.
    NotKeyValue(String),
    /// A key this agent does not know (the SDK would refuse it too).
    UnknownKey(String),
    /// A key given twice.
    Repeated(String),
    /// A required key is missing or empty.
    Missing(&'static str),
    /// No `ModuleId`: a device identity; the agent connects as a module.
    DeviceIdentity,
    /// `SharedAccessKeyName`: a hub-level policy, not a device's credential.
    ServicePolicy,
    /// None, or more than one, of `SharedAccessKey`, `SharedAccessSignature`, `x509=true`.
    Credential,
    /// `SharedAccessKey` is not base64.
    KeyNotBase64,
    /// A value with a character that cannot be in it (white space, control characters).
    BadValue(&'static str),
    /// `HostName` is not a fully qualified name (the SDK refuses names without a dot).
    HostName(String),
}

impl fmt::Display for ConnectionStringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the connection string is empty"),
            Self::TooLong(n) => write!(f, "the connection string is {n} bytes, over {MAX_CONNECTION_STRING_BYTES}"),
            Self::NotKeyValue(p) => write!(f, "part {p:?} of the connection string is not Key=Value"),
            Self::UnknownKey(k) => write!(f, "unknown connection string key {k:?}"),
            Self::Repeated(k) => write!(f, "connection string key {k} given twice"),
            Self::Missing(k) => write!(f, "the connection string lacks {k}"),
            Self::DeviceIdentity => f.write_str(
                "the connection string is a device identity (no ModuleId); osconfig connects as a module identity: \
                 create a module (e.g. 'osconfig') on the device and use its connection string",
            ),
            Self::ServicePolicy => {
                f.write_str("the connection string is a hub access policy (SharedAccessKeyName), not a module identity")
            }
            Self::Credential => f.write_str(
                "the connection string needs exactly one of SharedAccessKey, SharedAccessSignature, x509=true",
            ),
            Self::KeyNotBase64 => f.write_str("SharedAccessKey is not valid base64"),
            Self::BadValue(k) => write!(f, "connection string value of {k} has white space or control characters"),
            Self::HostName(h) => write!(
                f,
                "HostName {h:?} is not a fully qualified host name (the hub's name, with a dot; a local gateway goes in \
                 GatewayHostName)"
            ),
        }
    }
}

impl std::error::Error for ConnectionStringError {}

impl ConnectionString {
    /// Parses and validates `text` (surrounding white space, e.g. a file's final newline, is ignored).
    pub fn parse(text: &str) -> Result<ConnectionString, ConnectionStringError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ConnectionStringError::Empty);
        }
        if text.len() > MAX_CONNECTION_STRING_BYTES {
            return Err(ConnectionStringError::TooLong(text.len()));
        }
        const KEYS: [&str; 9] = [
            "HostName",
            "DeviceId",
            "ModuleId",
            "SharedAccessKey",
            "SharedAccessSignature",
            "GatewayHostName",
            "x509",
            "SharedAccessKeyName",
            "UseProvisioning",
        ];
        let mut values: [Option<&str>; 9] = [None; 9];
        for part in text.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| ConnectionStringError::NotKeyValue(part.into()))?;
            let slot =
                KEYS.iter().position(|k| *k == key).ok_or_else(|| ConnectionStringError::UnknownKey(key.into()))?;
            if values[slot].replace(value).is_some() {
                return Err(ConnectionStringError::Repeated(key.into()));
            }
            if value.chars().any(|c| c.is_whitespace() && !(slot == 4 && c == ' ') || c.is_control()) {
                return Err(ConnectionStringError::BadValue(KEYS[slot]));
            }
        }
        let get = |i: usize| values[i].filter(|v| !v.is_empty()).map(str::to_string);
        if values[7].is_some() {
            return Err(ConnectionStringError::ServicePolicy);
        }
        let host_name = get(0).ok_or(ConnectionStringError::Missing("HostName"))?;
        if !host_name.contains('.') || host_name.starts_with('.') || host_name.ends_with('.') {
            return Err(ConnectionStringError::HostName(host_name));
        }
        let device_id = get(1).ok_or(ConnectionStringError::Missing("DeviceId"))?;
        let module_id = get(2).ok_or(ConnectionStringError::DeviceIdentity)?;
        let x509 = values[6].is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let auth = match (get(3), get(4), x509) {
            (Some(key), None, false) => {
                if base64_decode(&key).map_or(true, |k| k.is_empty()) {
                    return Err(ConnectionStringError::KeyNotBase64);
                }
                Auth::Key(key)
            }
            (None, Some(sig), false) => Auth::Signature(sig),
            (None, None, true) => Auth::X509,
            _ => return Err(ConnectionStringError::Credential),
        };
        Ok(ConnectionString { host_name, device_id, module_id, gateway_host_name: get(5), auth })
    }

    /// The connection string the SDK takes (keys in a fixed order).
    pub fn to_sdk_string(&self) -> String {
        let mut s = format!("HostName={};DeviceId={};ModuleId={}", self.host_name, self.device_id, self.module_id);
        match &self.auth {
            Auth::Key(key) => s.push_str(&format!(";SharedAccessKey={key}")),
            Auth::Signature(sig) => s.push_str(&format!(";SharedAccessSignature={sig}")),
            Auth::X509 => s.push_str(";x509=true"),
        }
        if let Some(gateway) = &self.gateway_host_name {
            s.push_str(&format!(";GatewayHostName={gateway}"));
        }
        s
    }

    /// `<device>/<module>` on `<host>` (for log lines; no secret).
    pub fn describe(&self) -> String {
        let via = self.gateway_host_name.as_ref().map(|g| format!(" via {g}")).unwrap_or_default();
        format!("module {}/{} on {}{via}", self.device_id, self.module_id, self.host_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn test_parse_module_key_string_round_trips() {
        let text = format!("HostName=hub.example.net;DeviceId=dev-1;ModuleId=osconfig;SharedAccessKey={KEY};GatewayHostName=127.0.0.1\n");
        let cs = ConnectionString::parse(&text).unwrap();
        assert_eq!(cs.host_name, "hub.example.net");
        assert_eq!(cs.device_id, "dev-1");
        assert_eq!(cs.module_id, "osconfig");
        assert_eq!(cs.gateway_host_name.as_deref(), Some("127.0.0.1"));
        assert_eq!(cs.auth, Auth::Key(KEY.into()));
        assert_eq!(cs.to_sdk_string(), text.trim());
        assert_eq!(ConnectionString::parse(&cs.to_sdk_string()).unwrap(), cs);
        assert!(!format!("{cs:?}").contains(KEY), "the key never reaches Debug output");
        assert_eq!(cs.describe(), "module dev-1/osconfig on hub.example.net via 127.0.0.1");
    }

    #[test]
    fn test_parse_signature_and_x509() {
        let sig = "SharedAccessSignature sr=hub.example.net%2Fdevices%2Fd%2Fmodules%2Fm&sig=abc%3D&se=100";
        let cs = ConnectionString::parse(&format!(
            "HostName=hub.example.net;DeviceId=d;ModuleId=m;SharedAccessSignature={sig}"
        ))
        .unwrap();
        assert_eq!(cs.auth, Auth::Signature(sig.into()));
        let cs = ConnectionString::parse("HostName=h.example;DeviceId=d;ModuleId=m;x509=true").unwrap();
        assert_eq!(cs.auth, Auth::X509);
    }

    #[test]
    fn test_parse_refuses_each_bad_string() {
        use ConnectionStringError as E;
        let cases: Vec<(String, E)> = vec![
            ("  \n".into(), E::Empty),
            ("x".repeat(5000), E::TooLong(5000)),
            ("HostName".into(), E::NotKeyValue("HostName".into())),
            (
                format!("HostName=localhost;DeviceId=d;ModuleId=m;SharedAccessKey={KEY}"),
                E::HostName("localhost".into()),
            ),
            ("HostName=h.x;Device=d".into(), E::UnknownKey("Device".into())),
            ("HostName=h.x;HostName=h.y".into(), E::Repeated("HostName".into())),
            (format!("DeviceId=d;ModuleId=m;SharedAccessKey={KEY}"), E::Missing("HostName")),
            (format!("HostName=h.x;ModuleId=m;SharedAccessKey={KEY}"), E::Missing("DeviceId")),
            (format!("HostName=h.x;DeviceId=d;SharedAccessKey={KEY}"), E::DeviceIdentity),
            (format!("HostName=h.x;SharedAccessKeyName=iothubowner;SharedAccessKey={KEY}"), E::ServicePolicy),
            ("HostName=h.x;DeviceId=d;ModuleId=m".into(), E::Credential),
            (format!("HostName=h.x;DeviceId=d;ModuleId=m;SharedAccessKey={KEY};x509=true"), E::Credential),
            ("HostName=h.x;DeviceId=d;ModuleId=m;SharedAccessKey=not*base64".into(), E::KeyNotBase64),
            (format!("HostName=h x;DeviceId=d;ModuleId=m;SharedAccessKey={KEY}"), E::BadValue("HostName")),
        ];
        for (text, expected) in cases {
            assert_eq!(ConnectionString::parse(&text), Err(expected.clone()), "{text:.60}");
            assert!(!expected.to_string().is_empty());
        }
        assert!(ConnectionStringError::DeviceIdentity.to_string().contains("module identity"));
    }
}
