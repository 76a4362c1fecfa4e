//! The transport over the Azure IoT C SDK's lower-layer module client (`azure-iot-sdk-sys`): MQTT on port 8883,
//! or MQTT over WebSocket on 443. The SDK never reconnects by itself here (retry policy none): a lost connection
//! is an event, and the agent's loop reconnects on its own back-off with a new client. A client certificate's key
//! is PEM text or held by an OpenSSL engine ([`PrivateKey`]); an engine OpenSSL cannot load is refused here with
//! a clear error, before the SDK would only log it at the TLS handshake.

use azure_iot_sdk_sys::{Event, ModuleClient, Protocol};

use super::{PrivateKey, Transport, TransportError, TransportEvent, TransportSettings};
use crate::identity::{Auth, ConnectionString};

/// The SDK transport.
#[derive(Debug, Default)]
pub struct SdkTransport {
    client: Option<ModuleClient>,
    events: Vec<Event>,
}

impl SdkTransport {
    /// Starts the SDK (once per process).
    pub fn new() -> Result<SdkTransport, TransportError> {
        azure_iot_sdk_sys::init().map_err(|e| TransportError(format!("the Azure IoT SDK cannot start: {e}")))?;
        Ok(SdkTransport::default())
    }
}

fn err(e: azure_iot_sdk_sys::SdkError) -> TransportError {
    TransportError(e.to_string())
}

impl Transport for SdkTransport {
    fn connect(&mut self, identity: &ConnectionString, settings: &TransportSettings) -> Result<(), TransportError> {
        self.client = None;
        let protocol = if settings.websocket { Protocol::MqttWebSocket } else { Protocol::Mqtt };
        let mut client = ModuleClient::from_connection_string(&identity.to_sdk_string(), protocol).map_err(err)?;
        client.set_retry_policy_none().map_err(err)?;
        client.set_model_id(&settings.model_id).map_err(err)?;
        if let Some(pem) = &settings.trusted_certs {
            client.set_trusted_certs(pem).map_err(err)?;
        }
        if identity.auth == Auth::X509 {
            let x509 = settings
                .x509
                .as_ref()
                .ok_or_else(|| TransportError("x509=true without a client certificate".into()))?;
            match &x509.key {
                PrivateKey::Pem(key_pem) => client.set_x509(&x509.cert_pem, key_pem).map_err(err)?,
                PrivateKey::Engine { engine, key_id } => {
                    if !azure_iot_sdk_sys::openssl_engine_available(engine) {
                        return Err(TransportError(format!(
                            "the OpenSSL engine {engine:?}, which holds the client certificate's private key, cannot \
                             be loaded (not built in, and no {engine}.so in OpenSSL's engines directory or \
                             OPENSSL_ENGINES; for the Identity Service install aziot-keys' engine, or name another \
                             with --openssl-engine)"
                        )));
                    }
                    client.set_x509_engine(&x509.cert_pem, engine, key_id).map_err(err)?;
                }
            }
        }
        if settings.keep_alive_seconds > 0 {
            client.set_keep_alive(settings.keep_alive_seconds).map_err(err)?;
        }
        client.subscribe_twin().map_err(err)?;
        self.client = Some(client);
        Ok(())
    }

    fn disconnect(&mut self) {
        self.client = None;
    }

    fn do_work(&mut self) {
        if let Some(client) = &mut self.client {
            client.do_work();
        }
    }

    fn drain_events(&mut self, out: &mut Vec<TransportEvent>) {
        let Some(client) = &mut self.client else { return };
        client.drain_events(&mut self.events);
        out.extend(self.events.drain(..).map(|event| match event {
            Event::Connection { up, reason } => TransportEvent::Connection { up, reason },
            Event::Twin { complete, payload } => TransportEvent::Twin { complete, payload },
            Event::ReportedDone { token, status } => TransportEvent::ReportedDone { token, status },
        }));
    }

    fn request_twin(&mut self) -> Result<(), TransportError> {
        self.client.as_mut().ok_or_else(|| TransportError("not connected".into()))?.get_twin().map_err(err)
    }

    fn send_reported(&mut self, patch: &[u8], token: u64) -> Result<(), TransportError> {
        self.client
            .as_mut()
            .ok_or_else(|| TransportError("not connected".into()))?
            .send_reported(patch, token)
            .map_err(err)
    }
}
