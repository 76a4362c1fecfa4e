//! The Orchestrator: one worker thread that owns the Modules Manager and the MPI sessions. The event loop's thread
//! sends it each parsed request with its `Responder` ([`Orchestrator::submit`]); the worker queues what has arrived
//! ([`crate::queue`]: duplicates merged, priority order), runs one call at a time, and answers. It never retries a
//! failed call. Between requests it runs the manager's `tick` when due and reclaims idle sessions.
//!
//! The idle worker sleeps on its channel until a message or the next real deadline (a host's idle unload or its
//! SIGKILL after a stop, a session's expiry), and never wakes otherwise. A host that ends on its own between calls
//! is noticed by an event, not by polling: the daemon's signal thread takes SIGCHLD
//! ([`osconfig_http::signals::block_with_child_exits`]) and calls [`Orchestrator::children_exited`], which sends
//! the worker a `ChildExited` message (at most one pending, [`MAX_PENDING_CHILD_EXITS`]); the worker then runs
//! the manager's `tick`, which reaps the host and counts its crash. SIGCHLD rather than a pidfd per host: the
//! signal thread exists already and needs no new file descriptors or thread, and the kernel merges the signals of
//! several exits into one wake-up (the tick checks every host anyway).
//!
//! Answers: `MpiOpen` 200 with the session id as a JSON string (500 `"24"` when the caller is at its session bound
//! — [`MAX_SESSIONS`] for everyone, [`ROOT_RESERVE`] more for root, [`MAX_SESSIONS_PER_UID`] per non-root uid —
//! and no session it may displace has been unused for `MpiSessionReclaimIdleSeconds`, see [`crate::sessions`];
//! 500 `"5"` when the random source fails); `MpiClose` 200 (unknown session too); the other calls 500 `"22"` for an unknown
//! session, else the manager's result (200 with the module's value, or 500 with its errno). `MpiSetDesired` applies
//! every object in document order, logs each result, continues after a failure and answers the first failure's
//! errno. `MpiGetReported` gathers the configuration's `Reported` list in order, leaves out entries that fail, and
//! answers `{"<Component>":{"<object>":<value>,...},...}` grouped by component in first-appearance order, compact,
//! each value exactly as the module returned it (the reference pretty-prints; its clients parse the JSON either way).
//!
//! Every desired payload (`MpiSet`, each object of `MpiSetDesired`) is checked against the MIM of its module first
//! ([`osconfig_mim::Catalog`], loaded from `<module dir>/mim/<module file stem>.json` of the modules in use after
//! each (re)load): a payload that breaks it never reaches the module and fails like a module's own rejection,
//! 500 `"22"` (`EINVAL`), with one log line naming component, object, setting and what was expected.
//!
//! Callers: the MPI server's routes ([`Waiter::Mpi`]) and in-process clients such as the Watcher
//! ([`Waiter::Local`], see [`crate::local`]), which also get each failed object of an `MpiSetDesired`. An
//! in-process client may name a *source* in [`Orchestrator::submit_from`]: when `Priorities` lists that name, its
//! calls rank at that place instead of by component.
//!
//! The worker sends systemd's `READY=1` once the modules are identified ([`crate::notify`]), and stamps each job's
//! time budget (its module calls' deadlines plus [`JOB_SLACK`](crate::watchdog::JOB_SLACK)) for the watchdog
//! ([`crate::watchdog`]): a worker stuck past it stops the `WATCHDOG=1` pings and systemd restarts the service.
//!
//! A request that would take the backlog (waiting in the channel or the queue) beyond
//! [`MAX_QUEUED_REQUESTS`] requests or [`MAX_QUEUED_BYTES`] of bodies is answered 503 at once ([`Backlog`]).
//!
//! [`MAX_SESSIONS`]: crate::sessions::MAX_SESSIONS
//! [`MAX_SESSIONS_PER_UID`]: crate::sessions::MAX_SESSIONS_PER_UID
//! [`MAX_QUEUED_REQUESTS`]: crate::queue::MAX_QUEUED_REQUESTS
//! [`MAX_QUEUED_BYTES`]: crate::queue::MAX_QUEUED_BYTES
//! [`ROOT_RESERVE`]: crate::sessions::ROOT_RESERVE

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use osconfig_http::{Responder, Response, StatusCode};
use osconfig_mpi::mpi::reported_body;
use osconfig_mpi::wire::{errno_body, json_string};

use crate::config::Config;
use crate::manager::{ManagerSettings, ModulesManager};
use crate::notify::Notifier;
use crate::queue::{Backlog, Call, Queue, Ticket};
use crate::sessions::{OpenError, Opened, Sessions};
use crate::shared::Shared;
use crate::status;
use crate::watchdog::{self, Health, JOB_SLACK};

/// Errno of an unknown session, component or object.
pub const EINVAL: i32 = 22;

/// One object of an `MpiSetDesired` that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFailure {
    /// The component.
    pub component: String,
    /// The object.
    pub object: String,
    /// The errno it failed with.
    pub errno: i32,
    /// The MIM violation, when the payload was refused before the module saw it.
    pub violation: Option<String>,
}

/// A call's outcome: the MPI answer, and for `MpiSetDesired` each object that failed.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer an MPI client gets.
    pub response: Response,
    /// `MpiSetDesired`: the failed objects, in document order (empty otherwise).
    pub failures: Vec<ObjectFailure>,
}

/// Who waits for a call's answer.
#[derive(Debug)]
pub enum Waiter {
    /// An MPI client on the socket.
    Mpi(Responder),
    /// An in-process client; a dropped receiver is not an error.
    Local(Sender<Answer>),
}

impl Waiter {
    fn answer(self, answer: &Answer) {
        match self {
            Waiter::Mpi(responder) => responder.respond(answer.response.clone()),
            Waiter::Local(tx) => {
                let _ = tx.send(answer.clone());
            }
        }
    }

    fn refuse(self, response: Response) {
        match self {
            Waiter::Mpi(responder) => responder.respond(response),
            Waiter::Local(tx) => {
                let _ = tx.send(Answer { response, failures: Vec::new() });
            }
        }
    }
}

/// What the worker is sent.
#[derive(Debug)]
enum Message {
    Request {
        route: &'static str,
        body: Vec<u8>,
        call: Call,
        waiter: Queued,
        source: Option<&'static str>,
    },
    Reload {
        config: Box<Config>,
        settings: Box<ManagerSettings>,
    },
    /// A child process ended (SIGCHLD): reap hosts that ended.
    ChildExited,
    Stop,
}

/// Bound of `ChildExited` messages waiting in the worker's channel: further SIGCHLDs before the worker
/// has taken it are merged into it (its tick checks every host).
pub const MAX_PENDING_CHILD_EXITS: usize = 1;

/// A waiter and its request's share of the backlog (given back when the job is taken to run).
#[derive(Debug)]
struct Queued {
    waiter: Waiter,
    _ticket: Ticket,
}

/// The sending side, cloned into the event loop's handler and the signal thread.
#[derive(Clone, Debug)]
pub struct Orchestrator {
    tx: Sender<Message>,
    backlog: Arc<Backlog>,
    /// Whether a refusal for a full backlog was logged since the backlog last had room.
    full_logged: Arc<AtomicBool>,
    /// Whether a [`Message::ChildExited`] waits for the worker (see [`MAX_PENDING_CHILD_EXITS`]).
    child_exit_pending: Arc<AtomicBool>,
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
    pub fn start(
        config: Config,
        settings: ManagerSettings,
        shared: Arc<Shared>,
        notifier: Notifier,
    ) -> io::Result<(Orchestrator, Worker)> {
        let (tx, rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let child_exit_pending = Arc::new(AtomicBool::new(false));
        let pending = Arc::clone(&child_exit_pending);
        let thread = thread::Builder::new().name("orchestrator".into()).spawn(move || {
            let started = Instant::now();
            let module_dirs = settings.module_dirs.clone();
            let manager = ModulesManager::start(settings);
            log::info!(
                "modules manager started in {} ms; components: {:?}",
                started.elapsed().as_millis(),
                manager.components()
            );
            let catalog = shared.set_catalog(load_catalog(&manager, &module_dirs));
            notifier.ready();
            let health = Health::default();
            watchdog::start(&notifier, &health);
            let mut state = State {
                manager,
                config,
                sessions: Sessions::default(),
                queue: Queue::default(),
                reap_at: None,
                child_exit_pending: pending,
                shared,
                catalog,
                health,
            };
            state.serve(&rx);
            state.shutdown();
            let _ = done_tx.send(());
        })?;
        let orchestrator = Orchestrator {
            tx,
            backlog: Arc::new(Backlog::default()),
            full_logged: Arc::new(AtomicBool::new(false)),
            child_exit_pending,
        };
        Ok((orchestrator, Worker { thread, done }))
    }

    /// Hands a request of an MPI client to the worker. If the worker has stopped, or the backlog is full
    /// ([`crate::queue::MAX_QUEUED_REQUESTS`], [`crate::queue::MAX_QUEUED_BYTES`]), answers 503.
    pub fn submit(&self, route: &'static str, body: Vec<u8>, call: Call, responder: Responder) {
        self.submit_from(None, route, body, call, Waiter::Mpi(responder));
    }

    /// Hands a request to the worker on behalf of `source` (a name `Priorities` may list; `None`: rank by
    /// component). If the worker has stopped or the backlog is full, the waiter gets 503.
    pub fn submit_from(
        &self,
        source: Option<&'static str>,
        route: &'static str,
        body: Vec<u8>,
        call: Call,
        waiter: Waiter,
    ) {
        let Some(ticket) = self.backlog.admit(body.len()) else {
            // Warn once per episode of a full backlog (a flood of refusals must not flood the log).
            if !self.full_logged.swap(true, Ordering::AcqRel) {
                log::warn!(
                    "{route} refused with 503: {} requests ({} body bytes) wait for the worker already",
                    self.backlog.requests(),
                    self.backlog.bytes()
                );
            }
            waiter.refuse(Response::new(StatusCode::ServiceUnavailable));
            return;
        };
        if self.full_logged.swap(false, Ordering::AcqRel) {
            log::info!("the request backlog has room again");
        }
        let waiter = Queued { waiter, _ticket: ticket };
        if let Err(mpsc::SendError(Message::Request { waiter, .. })) =
            self.tx.send(Message::Request { route, body, call, waiter, source })
        {
            waiter.waiter.refuse(Response::new(StatusCode::ServiceUnavailable));
        }
    }

    /// Applies a new configuration (priorities, `Reported`, session timeout) and reloads the manager.
    pub fn reload(&self, config: Config, settings: ManagerSettings) {
        let _ = self.tx.send(Message::Reload { config: Box::new(config), settings: Box::new(settings) });
    }

    /// A child process ended (the daemon's SIGCHLD): the worker reaps hosts that ended and counts their crashes as
    /// soon as it is between calls. Never blocks; merged with a notice not yet taken ([`MAX_PENDING_CHILD_EXITS`]).
    pub fn children_exited(&self) {
        if !self.child_exit_pending.swap(true, Ordering::AcqRel) {
            let _ = self.tx.send(Message::ChildExited);
        }
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

/// The MIM of each module in use: `<module dir>/mim/<file stem>.json` for a module in one of `module_dirs`.
/// A module without one is served unchecked; an unreadable or invalid MIM is logged and skipped.
fn load_catalog(manager: &ModulesManager, module_dirs: &[PathBuf]) -> osconfig_mim::Catalog {
    let mut catalog = osconfig_mim::Catalog::default();
    for report in manager.reports() {
        let Some(path) = mim_path(&report.path, module_dirs) else { continue };
        if !path.exists() {
            log::info!("module {}: no MIM at {}; its payloads are not checked", report.name, path.display());
            continue;
        }
        match osconfig_mim::Mim::load(&path) {
            Ok(mim) => {
                log::info!("module {}: MIM {} checks components {:?}", report.name, path.display(), mim.components());
                catalog.add(mim);
            }
            Err(e) => log::error!("module {}: {e}; its payloads are not checked", report.name),
        }
    }
    catalog
}

/// `<dir>/mim/<stem>.json` for the module file `<dir>/<stem>.so`.
fn mim_path(module: &Path, module_dirs: &[PathBuf]) -> Option<PathBuf> {
    let dir = module.parent()?;
    if !module_dirs.iter().any(|d| d == dir) {
        return None;
    }
    Some(dir.join("mim").join(format!("{}.json", module.file_stem()?.to_string_lossy())))
}

/// The worker's state.
struct State {
    manager: ModulesManager,
    config: Config,
    sessions: Sessions,
    queue: Queue<Queued>,
    /// No session expires before this (a lower bound: using a session only moves its expiry later).
    reap_at: Option<Instant>,
    /// Cleared when a [`Message::ChildExited`] is taken (shared with [`Orchestrator::children_exited`]).
    child_exit_pending: Arc<AtomicBool>,
    shared: Arc<Shared>,
    /// The MIM catalog in force (also published in `shared` for the Watcher), read without a lock per call.
    catalog: Arc<osconfig_mim::Catalog>,
    /// The job's time budget, for systemd's watchdog.
    health: Health,
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
                // Taken to run: the waiters no longer count in the backlog.
                let waiters: Vec<Waiter> = job.waiters.into_iter().map(|q| q.waiter).collect();
                self.health.busy(self.budget(&job.call));
                let answer = self.run(job.call);
                self.health.idle();
                for waiter in waiters {
                    waiter.answer(&answer);
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
            Message::Request { route, body, call, waiter, source } => {
                self.queue.push_from(source, route, body, call, waiter, &self.config.priorities);
                true
            }
            Message::Reload { config, settings } => {
                self.config = *config;
                self.reap_at = self.sessions.next_expiry(self.config.mpi_session_idle_timeout);
                let module_dirs = settings.module_dirs.clone();
                // Stopping hosts and identifying every module again: a call's deadline per module, and then some.
                let modules = self.manager.reports().len() as u32 + 1;
                self.health.busy(settings.call_timeout.saturating_mul(modules) + JOB_SLACK);
                self.manager.reload(*settings);
                self.health.idle();
                self.catalog = self.shared.set_catalog(load_catalog(&self.manager, &module_dirs));
                log::info!("configuration reloaded; components: {:?}", self.manager.components());
                true
            }
            Message::ChildExited => {
                // Cleared before the tick: an exit after this point sends a new notice.
                self.child_exit_pending.store(false, Ordering::Release);
                self.manager.tick(Instant::now());
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
        [self.manager.next_tick(), self.reap_at].into_iter().flatten().min()
    }

    /// How long `call` may take: each module call's deadline, plus [`JOB_SLACK`].
    fn budget(&self, call: &Call) -> Duration {
        let calls = match call {
            Call::Set(_) | Call::Get(_) => 1,
            Call::SetDesired(r) => r.objects.len(),
            Call::GetReported(_) => self.config.reported.len(),
            Call::Open(..) | Call::Close(_) | Call::Modules | Call::Status => 1,
        };
        self.config.module_call_timeout.saturating_mul(calls as u32) + JOB_SLACK
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
    fn run(&mut self, call: Call) -> Answer {
        let mut failures = Vec::new();
        let response = self.run_call(call, &mut failures);
        Answer { response, failures }
    }

    /// The MIM check of one desired payload: the violation's text, logged.
    fn violation(&self, what: &str, component: &str, object: &str, payload: &[u8]) -> Option<String> {
        let violation = self.catalog.check_desired(component, object, payload).err()?.to_string();
        log::warn!("{what} refused by the MIM: {violation}");
        Some(violation)
    }

    fn run_call(&mut self, call: Call, failures: &mut Vec<ObjectFailure>) -> Response {
        let now = Instant::now();
        match call {
            Call::Open(r, uid) => match self.sessions.open(now, uid, self.config.mpi_session_reclaim_idle) {
                Ok(Opened { id, client, reclaimed }) => {
                    if let Some(old) = reclaimed {
                        log::info!(
                            "MPI session of client {old} closed to make room for {:?} (uid {uid}): unused for {} s \
                             or more",
                            r.client_name,
                            self.config.mpi_session_reclaim_idle.as_secs()
                        );
                        self.manager.close(old);
                    }
                    let expiry = now + self.config.mpi_session_idle_timeout;
                    self.reap_at = Some(self.reap_at.map_or(expiry, |at| at.min(expiry)));
                    self.manager.open(client, &r.client_name, r.max_payload_size_bytes);
                    log::info!("MPI session opened for {:?} (client {client})", r.client_name);
                    Response::ok(json_string(&id))
                }
                Err(OpenError::TooMany) => {
                    log::warn!("MpiOpen from {:?} (uid {uid}) refused: too many sessions", r.client_name);
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
                let payload = r.payload.get().as_bytes();
                if self.violation("MpiSet", &r.component_name, &r.object_name, payload).is_some() {
                    return failure(EINVAL);
                }
                match self.manager.set(client, &r.component_name, &r.object_name, payload) {
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
                    let (component, name) = (&object.component_name, &object.object_name);
                    let payload = object.payload.get().as_bytes();
                    let violation = self.violation("desired object", component, name, payload);
                    let result = match violation {
                        Some(_) => Err(EINVAL),
                        None => self.manager.set(client, component, name, payload),
                    };
                    match result {
                        Ok(()) => log::debug!("desired {component}.{name}: applied"),
                        Err(errno) => {
                            log::warn!("desired {component}.{name}: failed with errno {errno}");
                            first_failure.get_or_insert(errno);
                            failures.push(ObjectFailure {
                                component: component.clone(),
                                object: name.clone(),
                                errno,
                                violation,
                            });
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
            Call::Modules => Response::ok(status::modules_body(&self.manager.reports(), &self.catalog)),
            Call::Status => {
                Response::ok(status::status_body(&self.shared, self.sessions.len(), self.manager.reports().len()))
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
