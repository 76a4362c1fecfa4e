//! Shared by the agent's tests: the platform harness of the end-to-end tests (built binaries and modules, a real
//! `osconfig-platform` in a temporary root), and an agent running on a thread with the fake transport.

#![allow(dead_code)]

#[path = "../../../../tests/e2e/common/mod.rs"]
pub mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use osconfig_agent::agent::{Agent, Stop};
use osconfig_agent::config::Config;
use osconfig_agent::identity::{sas, AisSockets, IdentityOptions};
use osconfig_agent::signals::Signal;
use osconfig_agent::transport::fake::FakeTransport;
use osconfig_agent::transport::{TransportEvent, TransportSettings};
use osconfig_agent::twin::MpiPlatform;
use serde_json::Value;

/// A module connection string for the fake transport.
pub const CONNECTION_STRING: &str =
    "HostName=hub.example.net;DeviceId=device-1;ModuleId=osconfig;SharedAccessKey=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// An agent on its own thread.
pub struct RunningAgent {
    /// The fake transport the agent owns (shared state).
    pub hub: FakeTransport,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(Agent<FakeTransport, MpiPlatform>, Stop)>>,
}

/// Identity options with no Identity Service (sockets in a directory that does not exist).
pub fn identity(connection_string: Option<&str>) -> IdentityOptions {
    let none = std::path::PathBuf::from("/nonexistent/osconfig-agent-tests");
    IdentityOptions {
        argument: connection_string.map(str::to_string),
        file: None,
        environment: None,
        ais: AisSockets { identityd: none.join("i.sock"), keyd: none.join("k.sock"), certd: none.join("c.sock") },
        token_lifetime: sas::DEFAULT_TOKEN_LIFETIME,
        has_client_certificate: false,
        openssl_engine: osconfig_agent::identity::DEFAULT_OPENSSL_ENGINE.into(),
        certificate_check_interval: osconfig_agent::identity::CERTIFICATE_CHECK_INTERVAL,
    }
}

impl RunningAgent {
    /// Starts an agent for the platform at `socket`.
    pub fn start(socket: std::path::PathBuf, config: Config, identity: IdentityOptions) -> RunningAgent {
        RunningAgent::start_notifying(socket, config, identity, None)
    }

    /// [`RunningAgent::start`], telling "systemd" at `notify` (a datagram socket path).
    pub fn start_notifying(
        socket: std::path::PathBuf,
        config: Config,
        identity: IdentityOptions,
        notify: Option<std::path::PathBuf>,
    ) -> RunningAgent {
        let hub = FakeTransport::new();
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hub.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let settings = TransportSettings { model_id: config.model_id(), ..TransportSettings::default() };
            let mut agent = Agent::new(h, MpiPlatform::new(socket), config, identity, settings)
                .with_backoff(Duration::from_millis(50), Duration::from_millis(200));
            if let Some(path) = notify {
                agent = agent.with_notifier(osconfig_agent::notify::Notifier::to(path.as_os_str()));
            }
            let stop = agent.run(
                |pause| {
                    std::thread::sleep(pause.max(Duration::from_millis(5)));
                    s.load(Ordering::SeqCst).then_some(Signal::Stop)
                },
                || None,
            );
            (agent, stop)
        });
        RunningAgent { hub, stop, thread: Some(thread) }
    }

    /// Waits until the agent created a client, then reports it connected and delivers `twin` as the full twin.
    pub fn connect_with_twin(&self, twin: &str) {
        wait_for("the agent to connect", || !self.hub.lock().connects.is_empty());
        self.hub.push(TransportEvent::Connection { up: true, reason: "test".into() });
        self.hub.push_twin(twin);
    }

    /// Stops the agent and returns it.
    pub fn stop(mut self) -> (Agent<FakeTransport, MpiPlatform>, Stop) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().expect("agent thread")
    }

    /// Waits until a reported patch satisfies `pred`; returns it.
    pub fn wait_reported(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut found = None;
        wait_for(what, || {
            found = self.hub.reported().into_iter().find(|p| pred(p));
            found.is_some()
        });
        found.unwrap()
    }

    /// Every reported patch merged (later values win).
    pub fn merged(&self) -> Value {
        let mut all = serde_json::Map::new();
        for patch in self.hub.reported() {
            for (component, body) in patch.as_object().unwrap() {
                let entry = all.entry(component.clone()).or_insert_with(|| serde_json::json!({}));
                for (k, v) in body.as_object().unwrap() {
                    entry[k] = v.clone();
                }
            }
        }
        Value::Object(all)
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits (at most 30 s) until `cond` holds.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
