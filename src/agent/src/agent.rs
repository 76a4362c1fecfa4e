//! The agent's loop: one thread, one blocking turn every [`TURN`] (sooner while twin work waits).
//!
//! Each turn: keep the hub link ([`Link`]: resolve the identity, connect, reconnect after a loss with
//! exponential back-off and jitter ([`Backoff`]), reconnect with a fresh token before an Identity Service token
//! expires, or with the new certificate once certd renewed an Identity Service X.509 identity's), let the transport work, feed its events to the [`Twin`], apply waiting twin work, and every
//! `ReportingIntervalSeconds` check the platform session, retry failed properties and (when connected) collect
//! reported values; then hand the outbox's patches to the transport. systemd hears `READY=1` once connected, or
//! after [`READY_TIMEOUT`] without a connection (the agent then keeps trying while the local side runs).

use std::time::{Duration, Instant};

use crate::backoff::{Backoff, MAX_BACKOFF, MIN_BACKOFF};
use crate::config::Config;
use crate::identity::{self, ConnectionString, Credentials, IdentityError, IdentityOptions};
use crate::notify::Notifier;
use crate::signals::Signal;
use crate::transport::{ClientCertificate, Transport, TransportEvent, TransportSettings};
use crate::twin::{Platform, Twin};

/// Pause between loop turns when nothing waits (the SDK's `DoWork` cadence).
pub const TURN: Duration = Duration::from_millis(100);
/// Longest a turn spends applying twin work before the transport gets its turn again.
pub const TWIN_WORK_BUDGET: Duration = Duration::from_millis(200);
/// After this long without a connection systemd is told the agent is ready (running local-only).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection attempt that brings no "connected" event in this time is dropped and retried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// The state of the hub link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// No client; the next attempt at the instant given.
    Idle(Instant),
    /// A client exists, not connected yet (since the instant given).
    Connecting(Instant),
    /// Connected.
    Up,
}

/// Why the loop stopped.
#[derive(Debug)]
pub enum Stop {
    /// A stop signal.
    Signal,
    /// `IotHubManagement` turned 0 (at a reload).
    ManagementOff,
    /// The identity is invalid: a configuration error.
    Identity(IdentityError),
}

/// The agent.
pub struct Agent<T: Transport, P: Platform> {
    transport: T,
    platform: P,
    /// The twin state.
    pub twin: Twin,
    config: Config,
    identity: IdentityOptions,
    settings: TransportSettings,
    link: Link,
    backoff: Backoff,
    renew_at: Option<Instant>,
    /// The identity of the current (or last) client, and the certificate that came with it.
    current_connection: Option<ConnectionString>,
    current_certificate: Option<ClientCertificate>,
    next_report: Instant,
    started: Instant,
    ready: bool,
    notifier: Notifier,
    /// The last identity problem logged (logged again only when it changes).
    identity_problem: Option<String>,
    /// "connected" events of the current client.
    ups: u32,
    events: Vec<TransportEvent>,
}

impl<T: Transport, P: Platform> std::fmt::Debug for Agent<T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("link", &self.link).field("config", &self.config).finish_non_exhaustive()
    }
}

impl<T: Transport, P: Platform> Agent<T, P> {
    /// An agent that has not connected yet.
    pub fn new(
        transport: T,
        platform: P,
        config: Config,
        identity: IdentityOptions,
        settings: TransportSettings,
    ) -> Self {
        let now = Instant::now();
        Agent {
            transport,
            platform,
            twin: Twin::new(),
            next_report: now + Duration::from_secs(config.reporting_interval_seconds),
            config,
            identity,
            settings,
            link: Link::Idle(now),
            backoff: Backoff::new(MIN_BACKOFF, MAX_BACKOFF),
            renew_at: None,
            current_connection: None,
            current_certificate: None,
            started: now,
            ready: false,
            notifier: Notifier::from_env(),
            identity_problem: None,
            ups: 0,
            events: Vec::new(),
        }
    }

    /// Replaces the back-off bounds (tests use short ones).
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = Backoff::new(min, max);
        self
    }

    /// Replaces the systemd notifier (tests give one with a socket of their own).
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// The hub link's state.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// The platform.
    pub fn platform(&mut self) -> &mut P {
        &mut self.platform
    }

    /// Runs turns until `wait` (the pause between turns) returns [`Signal::Stop`]; `reload` gives the new
    /// configuration at [`Signal::Reload`] (`None`: keep the current one).
    pub fn run(
        &mut self,
        mut wait: impl FnMut(Duration) -> Option<Signal>,
        mut reload: impl FnMut() -> Option<Config>,
    ) -> Stop {
        let _ = self.platform.ensure_session();
        let stop = loop {
            if let Err(stop) = self.turn(Instant::now()) {
                break stop;
            }
            let pause = if self.twin.busy() { Duration::ZERO } else { TURN };
            match wait(pause) {
                Some(Signal::Stop) => break Stop::Signal,
                Some(Signal::Reload) => {
                    if let Some(config) = reload() {
                        if !config.iot_hub_management {
                            log::info!("IotHubManagement is 0 in the reloaded configuration: remote management is off");
                            break Stop::ManagementOff;
                        }
                        log::info!("configuration reloaded; reconnecting with the identity read again");
                        self.next_report = Instant::now() + Duration::from_secs(config.reporting_interval_seconds);
                        self.settings.model_id = config.model_id();
                        self.config = config;
                    }
                    self.drop_client();
                    self.link = Link::Idle(Instant::now());
                }
                None => {}
            }
        };
        self.notifier.stopping();
        self.drop_client();
        stop
    }

    fn drop_client(&mut self) {
        if self.has_client() {
            self.transport.disconnect();
        }
        self.twin.on_disconnected();
        self.ups = 0;
    }

    fn has_client(&self) -> bool {
        matches!(self.link, Link::Up | Link::Connecting(_))
    }

    fn retry_later(&mut self, now: Instant) {
        let delay = self.backoff.next_delay();
        log::debug!("next connection attempt in {} ms", delay.as_millis());
        self.link = Link::Idle(now + delay);
    }

    /// One loop turn at `now`.
    pub fn turn(&mut self, now: Instant) -> Result<(), Stop> {
        self.keep_link(now)?;
        if self.has_client() {
            self.transport.do_work();
        }
        self.handle_events(now);
        if self.twin.wants_full_twin() && self.link == Link::Up {
            if let Err(e) = self.transport.request_twin() {
                log::warn!("cannot ask for the full twin: {e}");
            }
        }
        let budget = Instant::now() + TWIN_WORK_BUDGET;
        while self.twin.step(&mut self.platform) && Instant::now() < budget {}
        if now >= self.next_report {
            self.next_report = now + Duration::from_secs(self.config.reporting_interval_seconds);
            self.platform.check_session();
            self.twin.step(&mut self.platform);
            self.twin.retry_failed(&mut self.platform);
            if self.link == Link::Up {
                self.twin.collect_reported(&self.config.reported, &mut self.platform);
                if self.twin.wants_full_twin_again() {
                    if let Err(e) = self.transport.request_twin() {
                        log::warn!("cannot ask for the full twin: {e}");
                    }
                }
            }
        }
        if self.link == Link::Up {
            while let Some((token, patch)) = self.twin.outbox.next_patch() {
                log::debug!("sending reported patch {token}: {}", String::from_utf8_lossy(&patch));
                if let Err(e) = self.transport.send_reported(&patch, token) {
                    log::warn!("cannot send reported patch {token}: {e}");
                    self.twin.outbox.unsent(token);
                    break;
                }
            }
        }
        if !self.ready && now.duration_since(self.started) >= READY_TIMEOUT {
            log::warn!(
                "not connected to the hub after {} s; running local-only while retrying",
                READY_TIMEOUT.as_secs()
            );
            self.notifier.ready("running local-only; connecting to the hub");
            self.ready = true;
        }
        Ok(())
    }

    fn keep_link(&mut self, now: Instant) -> Result<(), Stop> {
        match self.link.clone() {
            Link::Idle(at) if now >= at => self.connect(now),
            Link::Connecting(since) if now.duration_since(since) >= CONNECT_TIMEOUT => {
                log::warn!("no connection to the hub after {} s; trying again", CONNECT_TIMEOUT.as_secs());
                self.drop_client();
                self.retry_later(now);
                Ok(())
            }
            Link::Up | Link::Connecting(_) if self.renew_at.is_some_and(|at| now >= at) => {
                // The current connection stays until new credentials are in hand, or when they did not change.
                let what = if self.current_certificate.is_some() { "certificate" } else { "SAS token" };
                match identity::resolve(&self.identity) {
                    Ok(credentials) if self.is_current(&credentials) => {
                        log::debug!("the {what} from the Identity Service is unchanged");
                        self.renew_at = credentials.renew_after.map(|d| now + d);
                    }
                    Ok(credentials) => {
                        if credentials.client_certificate.is_some() {
                            log::info!("the identity's certificate changed; reconnecting with the new one");
                        } else {
                            log::info!("the SAS token is about to expire; reconnecting with a new one");
                        }
                        self.drop_client();
                        self.connect_with(credentials, now);
                    }
                    Err(e) => {
                        let delay = self.backoff.next_delay();
                        log::warn!("cannot renew the {what} ({e}); trying again in {} ms", delay.as_millis());
                        self.renew_at = Some(now + delay);
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn connect(&mut self, now: Instant) -> Result<(), Stop> {
        let credentials: Credentials = match identity::resolve(&self.identity) {
            Ok(c) => c,
            Err(e) if e.is_permanent() => {
                log::error!("{e}");
                return Err(Stop::Identity(e));
            }
            Err(e) => {
                let text = e.to_string();
                if self.identity_problem.as_deref() != Some(text.as_str()) {
                    log::warn!("{text}; retrying");
                    self.identity_problem = Some(text);
                }
                self.retry_later(now);
                return Ok(());
            }
        };
        self.identity_problem = None;
        self.connect_with(credentials, now);
        Ok(())
    }

    /// Whether `credentials` are those of the current client (a certificate check that found nothing new).
    fn is_current(&self, credentials: &Credentials) -> bool {
        credentials.client_certificate.is_some()
            && credentials.client_certificate == self.current_certificate
            && Some(&credentials.connection) == self.current_connection.as_ref()
    }

    fn connect_with(&mut self, credentials: Credentials, now: Instant) {
        log::info!("connecting as {} (identity from {})", credentials.connection.describe(), credentials.source);
        self.renew_at = credentials.renew_after.map(|d| now + d);
        let connected = match &credentials.client_certificate {
            Some(certificate) => {
                let settings = TransportSettings { x509: Some(certificate.clone()), ..self.settings.clone() };
                self.transport.connect(&credentials.connection, &settings)
            }
            None => self.transport.connect(&credentials.connection, &self.settings),
        };
        self.current_certificate = credentials.client_certificate;
        self.current_connection = Some(credentials.connection);
        match connected {
            Ok(()) => {
                self.ups = 0;
                self.link = Link::Connecting(now);
            }
            Err(e) => {
                log::warn!("cannot create the hub client: {e}");
                self.retry_later(now);
            }
        }
    }

    fn handle_events(&mut self, now: Instant) {
        self.events.clear();
        self.transport.drain_events(&mut self.events);
        // Bounded by the transport (the SDK's event queue).
        let mut events = std::mem::take(&mut self.events);
        for event in events.drain(..) {
            match event {
                TransportEvent::Connection { up: true, reason } => {
                    log::info!("connected to the hub ({reason})");
                    self.link = Link::Up;
                    self.backoff.reset();
                    self.ups += 1;
                    if self.ups > 1 {
                        // The client reconnected by itself: the twin may have changed meanwhile.
                        self.twin.on_disconnected();
                        let _ = self.transport.request_twin();
                    }
                    if !self.ready {
                        self.notifier.ready("connected to the hub");
                        self.ready = true;
                    } else {
                        self.notifier.status("connected to the hub");
                    }
                }
                TransportEvent::Connection { up: false, reason } => {
                    if self.link == Link::Up || matches!(self.link, Link::Connecting(_)) {
                        log::warn!("disconnected from the hub ({reason})");
                        self.notifier.status("disconnected from the hub; reconnecting");
                        self.drop_client();
                        self.retry_later(now);
                    }
                }
                TransportEvent::Twin { complete, payload } => {
                    if complete {
                        // Report once the full twin is applied (this turn), not an interval later.
                        self.next_report = now;
                    }
                    self.twin.on_twin(complete, &payload);
                }
                TransportEvent::ReportedDone { token, status } => self.twin.on_reported_done(token, status),
            }
        }
        self.events = events;
    }
}
