//! The agent's link to the hub, behind a small trait so that the twin logic and the agent's loop are tested
//! without a hub ([`fake::FakeTransport`]) and run over the Azure IoT C SDK in the product (`sdk`).
//!
//! The loop drives a transport from its own thread: [`Transport::connect`] once per identity (it creates the
//! client, subscribes to the twin; the full twin arrives as an event once connected), then [`Transport::do_work`]
//! every turn and [`Transport::drain_events`] to collect what happened. Nothing blocks for long and nothing runs
//! on another thread.

pub mod fake;
pub mod sdk;

use std::fmt;

use crate::identity::ConnectionString;

/// What a transport needs to connect (besides the identity).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportSettings {
    /// MQTT over WebSocket on port 443 (`IotHubProtocol` 2) instead of MQTT on 8883.
    pub websocket: bool,
    /// `dtmi:osconfig:deviceosconfiguration;<ModelVersion>`.
    pub model_id: String,
    /// PEM text of CAs trusted in addition to the public roots (`--ca-file`).
    pub trusted_certs: Option<String>,
    /// MQTT keep-alive in seconds.
    pub keep_alive_seconds: u32,
    /// The client certificate for a connection string with `x509=true` (`--x509-cert`, `--x509-key`).
    pub x509: Option<ClientCertificate>,
}

/// A client certificate and its private key (the key never reaches a log line).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The certificate (chain), leaf first, PEM text.
    pub cert_pem: String,
    /// The private key.
    pub key: PrivateKey,
}

/// Where the client certificate's private key is.
#[derive(Clone, PartialEq, Eq)]
pub enum PrivateKey {
    /// PEM text (`--x509-key`).
    Pem(String),
    /// Held by an OpenSSL engine, which loads it by its id and signs with it (the Identity Service's keyd through
    /// the `aziot_keys` engine, the key id being keyd's key handle).
    Engine {
        /// The engine id (`aziot_keys`, `pkcs11`, ..).
        engine: String,
        /// What the engine's `ENGINE_load_private_key` takes.
        key_id: String,
    },
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("cert_pem_bytes", &self.cert_pem.len())
            .field("key", &self.key)
            .finish()
    }
}

/// Neither the PEM key nor the key id (a key handle or URI may authorise its use) reaches a log line.
impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivateKey::Pem(_) => f.write_str("Pem(..)"),
            PrivateKey::Engine { engine, .. } => {
                f.debug_struct("Engine").field("engine", engine).finish_non_exhaustive()
            }
        }
    }
}

/// Something the transport reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportEvent {
    /// The connection came up (`up`) or went down, with the SDK's reason.
    Connection {
        /// Up or down.
        up: bool,
        /// Why (for the log).
        reason: String,
    },
    /// A twin document: the full twin (`complete`) or a desired patch.
    Twin {
        /// `{"desired":{..},"reported":{..}}` when true, a desired patch otherwise.
        complete: bool,
        /// The JSON text as received.
        payload: Vec<u8>,
    },
    /// The hub answered a reported patch sent with `token`.
    ReportedDone {
        /// The token given to [`Transport::send_reported`].
        token: u64,
        /// The HTTP-like status (2xx: stored).
        status: i32,
    },
}

/// Why a transport call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportError(pub String);

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TransportError {}

/// The hub link.
pub trait Transport {
    /// Creates the client for `identity` (dropping any previous one) and subscribes to the twin.
    fn connect(&mut self, identity: &ConnectionString, settings: &TransportSettings) -> Result<(), TransportError>;
    /// Drops the client (no more events until the next `connect`).
    fn disconnect(&mut self);
    /// Lets the client do its network work (call every loop turn).
    fn do_work(&mut self);
    /// Moves what happened since the last call to `out`.
    fn drain_events(&mut self, out: &mut Vec<TransportEvent>);
    /// Asks for the full twin again (answered by a `Twin { complete: true }` event).
    fn request_twin(&mut self) -> Result<(), TransportError>;
    /// Sends a reported patch; answered by `ReportedDone { token }`.
    fn send_reported(&mut self, patch: &[u8], token: u64) -> Result<(), TransportError>;
}
