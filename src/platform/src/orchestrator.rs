//! The Orchestrator: one worker thread that owns the Modules Manager and the MPI sessions. The event loop's thread
//! sends it each parsed request with its `Responder` ([`Orchestrator::submit`]); the worker queues what has arrived
//! ([`crate::queue`]: duplicates merged, priority order), runs one call at a time, and answers. It never retries a
//! failed call. Between requests it runs the manager's `tick` when due and reclaims idle sessions.
//!
//! Answers: `MpiOpen` 200 with the session id as a JSON string (500 `"24"` when [`MAX_SESSIONS`] are open, plus
//! [`ROOT_RESERVE`] more for root callers, 500 `"5"`
//! when the random source fails); `MpiClose` 200 (unknown session too); the other calls 500 `"22"` for an unknown
//! session, else the manager's result (200 with the module's value, or 500 with its errno). `MpiSetDesired` applies
//! every object in document order, logs each result, continues after a failure and answers the first failure's
//! errno. `MpiGetReported` gathers the configuration's `Reported` list in order, leaves out entries that fail, and
//! answers `{"<Component>":{"<object>":<value>,...},...}` grouped by component in first-appearance order, compact,
//! each value exactly as the module returned it (the reference pretty-prints; its clients parse the JSON either way).
//!
//! [`MAX_SESSIONS`]: crate::sessions::MAX_SESSIONS
//! [`ROOT_RESERVE`]: crate::sessions::ROOT_RESERVE

use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use osconfig_http::{Responder, Response, StatusCode};
use osconfig_mpi::mpi::reported_body;
use osconfig_mpi::wire::{errno_body, json_string};

use crate::config::Config;
use crate::manager::{ManagerSettings, ModulesManager};
use crate::queue::{Call, Queue};
use crate::sessions::{OpenError, Sessions};

/// Errno of an unknown session, component or object.
pub const EINVAL: i32 = 22;

/// What the worker is sent.
#[derive(Debug)]
enum Message {
    Request { route: &'static str, body: Vec<u8>, call: Call, responder: Responder },
    Reload { config: Box<Config>, settings: Box<ManagerSettings> },
    Stop,
}

/// The sending side, cloned into the event loop's handler and the signal thread.
#[derive(Clone, Debug)]
pub struct Orchestrator {
    tx: Sender<Message>,
}

/// The worker thread; [`Worker::join_within`] waits for it to finish shutting down.
#[derive(Debug)]
pub struct Worker {
    thread: JoinHandle<()>,
    done: Receiver<()>,
}

impl Orchestrator {
    /// Starts the worker: it starts the Modules Manager with `settings` (on its own thread, so the socket can
    /// accept requests meanwhile; they wait in the channel) and then serves requests.
    pub fn start(config: Config, settings: ManagerSettings) -> io::Result<(Orchestrator, Worker)> {
        let (tx, rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let thread = thread::Builder::new().name("orchestrator".into()).spawn(move || {
            let started = Instant::now();
            let manager = ModulesManager::start(settings);
            log::info!(
                "modules manager started in {} ms; components: {:?}",
                started.elapsed().as_millis(),
                manager.components()
            );
            let mut state =
                State { manager, config, sessions: Sessions::default(), queue: Queue::default(), reap_at: None };
            state.serve(&rx);
            state.shutdown();
            let _ = done_tx.send(());
        })?;
        Ok((Orchestrator { tx }, Worker { thread, done }))
    }

    /// Hands a request to the worker. If the worker has stopped, answers 503.
    pub fn submit(&self, route: &'static str, body: Vec<u8>, call: Call, responder: Responder) {
        if let Err(mpsc::SendError(Message::Request { responder, .. })) =
            self.tx.send(Message::Request { route, body, call, responder })
        {
            responder.respond(Response::new(StatusCode::ServiceUnavailable));
        }
    }

    /// Applies a new configuration (priorities, `Reported`, session timeout) and reloads the manager.
    pub fn reload(&self, config: Config, settings: ManagerSettings) {
        let _ = self.tx.send(Message::Reload { config: Box::new(config), settings: Box::new(settings) });
    }

    /// Asks the worker to stop: queued requests are dropped (answered 500), sessions closed, the manager shut down.
    pub fn stop(&self) {
        let _ = self.tx.send(Message::Stop);
    }
}

impl Worker {
    /// Waits until the worker has shut down, at most `limit`; whether it did.
    pub fn join_within(self, limit: Duration) -> bool {
        match self.done.recv_timeout(limit) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                let _ = self.thread.join();
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
        }
    }
}

/// How long the idle worker looks for the next request before it sleeps.
const SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// `try_recv` in a loop for at most `limit`.
fn spin_recv(rx: &Receiver<Message>, limit: std::time::Duration) -> Option<Message> {
    let start = Instant::now();
    loop {
        if let Ok(message) = rx.try_recv() {
            return Some(message);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::hint::spin_loop();
    }
}

/// The worker's state.
struct State {
    manager: ModulesManager,
    config: Config,
    sessions: Sessions,
    queue: Queue<Responder>,
    /// No session expires before this (a lower bound: using a session only moves its expiry later).
    reap_at: Option<Instant>,
}

impl State {
    /// Serves until [`Message::Stop`] or until every sender is gone.
    fn serve(&mut self, rx: &Receiver<Message>) {
        loop {
            let wait = self.next_deadline().map(|at| at.saturating_duration_since(Instant::now()));
            // A request usually follows the last answer within microseconds (a client's next call): look for it
            // briefly before sleeping, so the I/O thread can hand it over without waking this thread from sleep.
            let spun = spin_recv(rx, SPIN);
            let first = match (spun, wait) {
                (Some(message), _) => Ok(message),
                (None, wait) => match wait {
                    Some(wait) => rx.recv_timeout(wait),
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                },
            };
            match first {
                Ok(message) => {
                    if !self.accept(message) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            loop {
                // Take in everything that has arrived, so that priorities order simultaneous requests.
                while let Ok(message) = rx.try_recv() {
                    if !self.accept(message) {
                        return;
                    }
                }
                let Some(job) = self.queue.pop() else { break };
                let response = self.run(job.call);
                let mut waiters = job.waiters.into_iter();
                let last = waiters.next_back();
                for waiter in waiters {
                    waiter.respond(response.clone());
                }
                if let Some(last) = last {
                    last.respond(response);
                }
                // Under a steady stream of requests the queue may never run dry: keep ticking anyway.
                self.housekeeping();
            }
            self.housekeeping();
        }
    }

    /// Queues a request or applies a control message; `false` on Stop.
    fn accept(&mut self, message: Message) -> bool {
        match message {
            Message::Request { route, body, call, responder } => {
                self.queue.push(route, body, call, responder, &self.config.priorities);
                true
            }
            Message::Reload { config, settings } => {
                self.config = *config;
                self.reap_at = self.sessions.next_expiry(self.config.mpi_session_idle_timeout);
                self.manager.reload(*settings);
                log::info!("configuration reloaded; components: {:?}", self.manager.components());
                true
            }
            Message::Stop => {
                if !self.queue.is_empty() {
                    log::info!("stopping with {} queued requests unanswered", self.queue.len());
                }
                self.queue.clear();
                false
            }
        }
    }

    /// When the worker must wake up without a request: the manager's next tick or the next session expiry.
    fn next_deadline(&self) -> Option<Instant> {
        match (self.manager.next_tick(), self.reap_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn housekeeping(&mut self) {
        let now = Instant::now();
        if self.manager.next_tick().is_some_and(|at| at <= now) {
            self.manager.tick(now);
        }
        if !self.reap_at.is_some_and(|at| at <= now) {
            return;
        }
        let idle = self.config.mpi_session_idle_timeout;
        let reaped = self.sessions.reap(now, idle);
        self.reap_at = self.sessions.next_expiry(idle);
        for client in reaped {
            log::info!(
                "MPI session of client {client} unused for {} s; closed",
                self.config.mpi_session_idle_timeout.as_secs()
            );
            self.manager.close(client);
        }
    }

    fn shutdown(&mut self) {
        for client in self.sessions.drain() {
            self.manager.close(client);
        }
        self.manager.shutdown();
        log::info!("orchestrator stopped");
    }

    /// Runs one call.
    fn run(&mut self, call: Call) -> Response {
        let now = Instant::now();
        match call {
            Call::Open(r, root) => match self.sessions.open(now, root) {
                Ok((id, client)) => {
                    let expiry = now + self.config.mpi_session_idle_timeout;
                    self.reap_at = Some(self.reap_at.map_or(expiry, |at| at.min(expiry)));
                    self.manager.open(client, &r.client_name, r.max_payload_size_bytes);
                    log::info!("MPI session opened for {:?} (client {client})", r.client_name);
                    Response::ok(json_string(&id))
                }
                Err(OpenError::TooMany) => {
                    log::warn!("MpiOpen from {:?} refused: too many sessions", r.client_name);
                    failure(24)
                }
                Err(OpenError::Random(e)) => {
                    log::error!("MpiOpen: no random session id: {e}");
                    failure(5)
                }
            },
            Call::Close(r) => {
                if let Some(client) = self.sessions.close(&r.client_session) {
                    self.manager.close(client);
                    log::info!("MPI session of client {client} closed");
                }
                Response::ok(Vec::new())
            }
            Call::Set(r) => {
                let Some(client) = self.sessions.touch(&r.client_session, now) else { return unknown_session() };
                match self.manager.set(client, &r.component_name, &r.object_name, r.payload.get().as_bytes()) {
                    Ok(()) => Response::ok(Vec::new()),
                    Err(errno) => {
                        log::info!("MpiSet {}.{} failed: errno {errno}", r.component_name, r.object_name);
                        failure(errno)
                    }
                }
            }
            Call::Get(r) => {
                let Some(client) = self.sessions.touch(&r.client_session, now) else { return unknown_session() };
                match self.manager.get(client, &r.component_name, &r.object_name) {
                    Ok(value) => Response::ok(value),
                    Err(errno) => {
                        log::debug!("MpiGet {}.{} failed: errno {errno}", r.component_name, r.object_name);
                        failure(errno)
                    }
                }
            }
            Call::SetDesired(r) => {
                let Some(client) = self.sessions.touch(&r.client_session, now) else { return unknown_session() };
                let mut first_failure = None;
                for object in &r.objects {
                    let result = self.manager.set(
                        client,
                        &object.component_name,
                        &object.object_name,
                        object.payload.get().as_bytes(),
                    );
                    match result {
                        Ok(()) => log::info!("desired {}.{}: applied", object.component_name, object.object_name),
                        Err(errno) => {
                            log::warn!(
                                "desired {}.{}: failed with errno {errno}",
                                object.component_name,
                                object.object_name
                            );
                            first_failure.get_or_insert(errno);
                        }
                    }
                }
                first_failure.map_or_else(|| Response::ok(Vec::new()), failure)
            }
            Call::GetReported(r) => {
                let Some(client) = self.sessions.touch(&r.client_session, now) else { return unknown_session() };
                let mut values = Vec::with_capacity(self.config.reported.len());
                for entry in &self.config.reported {
                    match self.manager.get(client, &entry.component, &entry.object) {
                        Ok(value) => values.push((entry, value)),
                        Err(errno) => {
                            log::debug!("reported {}.{} left out: errno {errno}", entry.component, entry.object)
                        }
                    }
                }
                let entries: Vec<(&str, &str, &[u8])> =
                    values.iter().map(|(e, v)| (e.component.as_str(), e.object.as_str(), v.as_slice())).collect();
                Response::ok(reported_body(&entries))
            }
        }
    }
}

/// 500 with `"<errno>"` (an errno of 0 or below, which no failure should carry, is answered as 5, EIO).
fn failure(errno: i32) -> Response {
    let errno = if errno > 0 { errno } else { 5 };
    Response::new(StatusCode::InternalServerError).with_body(errno_body(errno))
}

fn unknown_session() -> Response {
    failure(EINVAL)
}
