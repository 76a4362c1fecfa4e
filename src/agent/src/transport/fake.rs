//! A transport without a network, for tests: it records what the agent sends and lets the test inject events.
//! Clones share one state, so a test keeps a handle while the agent owns the transport.

use std::sync::{Arc, Mutex};

use super::{Transport, TransportError, TransportEvent, TransportSettings};
use crate::identity::ConnectionString;

/// What the fake recorded and what it will deliver.
#[derive(Debug, Default)]
pub struct FakeState {
    /// Each `connect`'s connection string (SDK form) and settings.
    pub connects: Vec<(String, TransportSettings)>,
    /// `disconnect` calls.
    pub disconnects: usize,
    /// `request_twin` calls.
    pub twin_requests: usize,
    /// Reported patches sent, with their tokens.
    pub reported: Vec<(u64, Vec<u8>)>,
    /// Events delivered at the next `drain_events`.
    pub pending: Vec<TransportEvent>,
    /// Answer every reported patch at once with this status (`None`: the test answers).
    pub auto_ack: Option<i32>,
    /// Make `connect` fail with this message.
    pub fail_connect: Option<String>,
    /// Whether a client exists.
    pub connected: bool,
}

/// The fake transport (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct FakeTransport {
    /// The shared state.
    pub state: Arc<Mutex<FakeState>>,
}

impl FakeTransport {
    /// A fake that answers every reported patch with 204.
    pub fn new() -> FakeTransport {
        let fake = FakeTransport::default();
        fake.lock().auto_ack = Some(204);
        fake
    }

    /// The state, locked.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues an event.
    pub fn push(&self, event: TransportEvent) {
        self.lock().pending.push(event);
    }

    /// Queues a desired patch.
    pub fn push_patch(&self, json: &str) {
        self.push(TransportEvent::Twin { complete: false, payload: json.as_bytes().to_vec() });
    }

    /// Queues a full twin.
    pub fn push_twin(&self, json: &str) {
        self.push(TransportEvent::Twin { complete: true, payload: json.as_bytes().to_vec() });
    }

    /// The reported patches sent so far, parsed.
    pub fn reported(&self) -> Vec<serde_json::Value> {
        self.lock().reported.iter().map(|(_, p)| serde_json::from_slice(p).expect("reported patch is JSON")).collect()
    }
}

impl Transport for FakeTransport {
    fn connect(&mut self, identity: &ConnectionString, settings: &TransportSettings) -> Result<(), TransportError> {
        let mut s = self.lock();
        s.connects.push((identity.to_sdk_string(), settings.clone()));
        if let Some(message) = s.fail_connect.clone() {
            return Err(TransportError(message));
        }
        s.connected = true;
        Ok(())
    }

    fn disconnect(&mut self) {
        let mut s = self.lock();
        s.disconnects += 1;
        s.connected = false;
    }

    fn do_work(&mut self) {}

    fn drain_events(&mut self, out: &mut Vec<TransportEvent>) {
        let mut s = self.lock();
        if s.connected {
            out.append(&mut s.pending);
        }
    }

    fn request_twin(&mut self) -> Result<(), TransportError> {
        self.lock().twin_requests += 1;
        Ok(())
    }

    fn send_reported(&mut self, patch: &[u8], token: u64) -> Result<(), TransportError> {
        let mut s = self.lock();
        if !s.connected {
            return Err(TransportError("not connected".into()));
        }
        s.reported.push((token, patch.to_vec()));
        if let Some(status) = s.auto_ack {
            s.pending.push(TransportEvent::ReportedDone { token, status });
        }
        Ok(())
    }
}
