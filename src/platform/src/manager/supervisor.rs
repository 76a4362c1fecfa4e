//! One served module and its supervision: the host (started, restarted after back-off, stopped when idle, killed
//! when it misses the call deadline), its MMI sessions, its crash log; or an in-process module.
//!
//! A call to a hosted module never blocks: [`Supervised::begin`] starts it and it goes through named stages
//! ([`Stage`]) as the host's socket becomes ready ([`Supervised::on_event`]) or a stage's time is up
//! ([`Supervised::on_timer`]), until it is [`Step::Done`]. An in-process module's call is done at once.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::{Registry, Token};
use osconfig_http::ClientError;
use osconfig_mmi::{Errno, Lifetime, ModuleInfo};
use osconfig_rest::mmi::{get_body, set_body, CloseRequest, OpenRequest};
use osconfig_rest::{mmi_result, opened_session, CallError, MmiEndpoint};
use osconfig_storage::Store;

use super::crashes::{now_ms, CrashLog, CrashPolicy, Verdict};
use super::exchange::{Exchange, HostConn};
use super::host::{describe, Dying, Host, Launch};
use super::inprocess::InProcess;
use super::sessions::{ClientInfo, ModuleSessions};
use super::{ClientId, ModuleOp, ERR_BACKOFF, ERR_CRASHED, ERR_INVALID, ERR_PROTOCOL, ERR_QUARANTINED, ERR_TIMEOUT};

/// How long a failed call waits for the host process to end on its own before the manager kills it (to log how
/// it ended).
const EXIT_GRACE: Duration = Duration::from_millis(50);

/// How often a refused call (back-off, quarantine) is logged as a warning.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// What the supervisor needs from the manager for one operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) launch: Launch<'a>,
    pub(crate) store: Option<&'a Store>,
    pub(crate) policy: CrashPolicy,
    pub(crate) idle_unload: Duration,
}

/// How far the first try to reach a new host's socket waits after the spawn, doubled per try up to
/// [`START_POLL_MAX`] (a host usually listens within a few milliseconds).
const START_POLL_FIRST: Duration = Duration::from_micros(100);
/// The longest wait between two tries to reach a starting host's socket.
const START_POLL_MAX: Duration = Duration::from_millis(2);

/// Where a call stands.
#[derive(Debug)]
pub(crate) enum Step {
    /// Waiting for the host: an event of the module's token or its timer ([`Supervised::deadline`]) moves it on.
    Wait,
    /// Finished: the module's answer or the errno (see the manager's docs).
    Done(Result<Vec<u8>, Errno>),
}

/// What the call in flight is for.
#[derive(Debug)]
pub(crate) enum Work {
    /// A client's `MmiSet` or `MmiGet`.
    Call(ModuleOp),
    /// `MmiClose` of a session the manager has already forgotten (nothing waits for it).
    Close(String),
}

/// The named stages of a call to a hosted module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The host was spawned for this call; its socket is tried at `next_try` until it answers or the stage's
    /// deadline (the call timeout) passes.
    Starting {
        /// The next try.
        next_try: Instant,
        /// The wait after a failed try (doubles up to 2 ms).
        pause: Duration,
    },
    /// `MmiOpen` for the client is on its way (the client has no session in this host yet).
    Opening,
    /// The call itself (`MmiSet`, `MmiGet` or `MmiClose`) is on its way.
    Calling,
}

/// Where a module's connection is registered: a poll's registry and the module's token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Io<'a> {
    /// The registry.
    pub(crate) registry: &'a Registry,
    /// The module's token.
    pub(crate) token: Token,
}

/// The call a hosted module is running (at most one in the whole manager: calls are serial).
#[derive(Debug)]
struct Running {
    client: ClientId,
    /// The client's name and payload limit, when its session must be opened first.
    who: Option<ClientInfo>,
    work: Work,
    stage: Stage,
    /// When the stage must be over: each MMI exchange, and a host's start, has the call timeout.
    deadline: Instant,
    /// Whether the request was sent again on a new connection already (at most once).
    resent: bool,
}

/// A module served through a module host.
#[derive(Debug)]
pub(crate) struct Hosted {
    /// The running host, if any.
    host: Option<Host>,
    /// A host asked to stop whose exit is not seen yet.
    dying: Option<Dying>,
    /// The module file.
    module: PathBuf,
    /// The socket of this module's hosts.
    socket: PathBuf,
    /// Session ids by client, valid for the running host only.
    sessions: ModuleSessions<String>,
    /// Crashes, back-off and quarantine.
    crashes: CrashLog,
    /// When a refused call was last logged at warning level.
    refusal_logged: Option<Instant>,
    /// The call in flight.
    running: Option<Running>,
}

/// How a module is run.
#[derive(Debug)]
pub(crate) enum Backend {
    /// In its own `osconfig-modulehost`.
    Hosted(Box<Hosted>),
    /// In the platform process.
    InProcess(InProcess),
}

/// A module that serves at least one component.
#[derive(Debug)]
pub(crate) struct Supervised {
    /// Its `MmiGetInfo`.
    pub(crate) info: ModuleInfo,
    /// How it runs.
    pub(crate) backend: Backend,
    /// End of the last call.
    last_used: Instant,
}

impl Supervised {
    /// A hosted module; `host` is its running host (or `None`: started on first use), `crashes` its history.
    pub(crate) fn hosted(
        path: PathBuf,
        info: ModuleInfo,
        socket: PathBuf,
        host: Option<Host>,
        dying: Option<Dying>,
        crashes: CrashLog,
    ) -> Supervised {
        let hosted = Hosted {
            host,
            dying,
            module: path,
            socket,
            sessions: ModuleSessions::default(),
            crashes,
            refusal_logged: None,
            running: None,
        };
        Supervised { info, backend: Backend::Hosted(Box::new(hosted)), last_used: Instant::now() }
    }

    /// An in-process module.
    pub(crate) fn in_process(info: ModuleInfo, module: InProcess) -> Supervised {
        Supervised { info, backend: Backend::InProcess(module), last_used: Instant::now() }
    }

    /// Whether the module is quarantined.
    pub(crate) fn quarantined(&self) -> bool {
        matches!(&self.backend, Backend::Hosted(h) if h.crashes.quarantined())
    }

    /// The running host's pid.
    pub(crate) fn host_pid(&self) -> Option<u32> {
        match &self.backend {
            Backend::Hosted(h) => h.host.as_ref().map(Host::pid),
            Backend::InProcess(_) => None,
        }
    }

    fn short_lived(&self) -> bool {
        self.info.lifetime != Lifetime::KeepLoaded
    }

    /// Starts `work` for `client` (`who`: its name and payload limit): an in-process module answers at once; a
    /// hosted one opens the client's session first if needed, and starts the host first if it is not running
    /// (unless in back-off or quarantine). [`Step::Wait`]: see [`Supervised::on_event`] and
    /// [`Supervised::on_timer`]. A `Close` for a module without a running host is done at once.
    pub(crate) fn begin(&mut self, io: &Io<'_>, ctx: &Ctx<'_>, client: ClientId, who: &ClientInfo, work: Work) -> Step {
        let info = &self.info;
        let step = match &mut self.backend {
            Backend::InProcess(module) => Step::Done(match work {
                Work::Call(ModuleOp::Set { component, object, payload }) => {
                    module.set(client, who, &component, &object, &payload).map(|()| Vec::new())
                }
                Work::Call(ModuleOp::Get { component, object }) => module.get(client, who, &component, &object),
                Work::Close(_) => Ok(Vec::new()),
            }),
            Backend::Hosted(hosted) => hosted.begin(io, ctx, &info.name, info.user_account, client, who, work),
        };
        if matches!(step, Step::Done(_)) {
            // Idle time counts from the end of the last call.
            self.last_used = Instant::now();
        }
        step
    }

    /// An event on the module's connection: moves the call in flight on. Without one, the host closed its idle
    /// connection (or wrote out of turn): it is dropped and the next call connects again.
    pub(crate) fn on_event(&mut self, io: &Io<'_>, ctx: &Ctx<'_>) -> Step {
        let step = match &mut self.backend {
            Backend::Hosted(hosted) => hosted.on_event(io, ctx, &self.info.name),
            Backend::InProcess(_) => Step::Wait,
        };
        if matches!(step, Step::Done(_)) {
            self.last_used = Instant::now();
        }
        step
    }

    /// The call in flight at or past its [`Supervised::deadline`]: a starting host is tried again, a late host
    /// killed.
    pub(crate) fn on_timer(&mut self, io: &Io<'_>, ctx: &Ctx<'_>, now: Instant) -> Step {
        let step = match &mut self.backend {
            Backend::Hosted(hosted) => hosted.on_timer(io, ctx, &self.info.name, now),
            Backend::InProcess(_) => Step::Wait,
        };
        if matches!(step, Step::Done(_)) {
            self.last_used = Instant::now();
        }
        step
    }

    /// When the call in flight needs [`Supervised::on_timer`] even without an event.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let Backend::Hosted(hosted) = &self.backend else { return None };
        let running = hosted.running.as_ref()?;
        match running.stage {
            Stage::Starting { next_try, .. } => Some(next_try.min(running.deadline)),
            Stage::Opening | Stage::Calling => Some(running.deadline),
        }
    }

    /// The stage of the call in flight (for tests and diagnostics).
    pub(crate) fn stage(&self) -> Option<Stage> {
        match &self.backend {
            Backend::Hosted(hosted) => hosted.running.as_ref().map(|r| r.stage),
            Backend::InProcess(_) => None,
        }
    }

    /// Forgets the client's session in this module: an in-process module closes it at once; a running host's
    /// session id is returned, for an `MmiClose` the caller sends when the module is free ([`Work::Close`]).
    pub(crate) fn forget(&mut self, client: ClientId) -> Option<(u32, String)> {
        match &mut self.backend {
            Backend::InProcess(module) => {
                module.close(client);
                None
            }
            Backend::Hosted(hosted) => {
                let session = hosted.sessions.remove(client)?;
                hosted.host.as_ref().map(|host| (host.pid(), session))
            }
        }
    }

    /// Drops the call in flight, if any (a shutdown or reload while it runs): nothing answers it.
    pub(crate) fn abandon(&mut self) {
        if let Backend::Hosted(hosted) = &mut self.backend {
            hosted.running = None;
        }
    }

    /// Reaps a host that ended on its own (a crash unless it exited 0), stops an idle short-lived host, finishes
    /// stopping hosts.
    pub(crate) fn tick(&mut self, ctx: &Ctx<'_>, now: Instant) {
        let idle = self.short_lived() && now.saturating_duration_since(self.last_used) >= ctx.idle_unload;
        let name = &self.info.name;
        let Backend::Hosted(hosted) = &mut self.backend else { return };
        if hosted.running.is_some() {
            // The call in flight sees its host end itself (a hang-up or its deadline).
            return;
        }
        if let Some(dying) = hosted.dying.as_mut() {
            if dying.poll(now) {
                hosted.dying = None;
            }
        }
        let Some(host) = hosted.host.as_mut() else { return };
        if let Some(status) = host.exited() {
            let pid = host.pid();
            hosted.sessions.clear();
            if let Some(host) = hosted.host.take() {
                host.kill();
            }
            if status.success() {
                log::warn!("module {name}: host {pid} exited on its own; restarted on the next call");
            } else {
                hosted.crashed(ctx, name, &format!("host {pid} {} outside a call", describe(status)));
            }
        } else if idle {
            log::info!(
                "module {name}: idle for {} ms, stopping host {} (restarted on demand)",
                ctx.idle_unload.as_millis(),
                host.pid()
            );
            hosted.sessions.clear();
            if let Some(host) = hosted.host.take() {
                hosted.dying = Some(Dying::begin(host));
            }
        }
    }

    /// When [`Supervised::tick`] has work next that no SIGCHLD announces: the idle deadline of a running
    /// short-lived host, or the SIGKILL deadline of a stopping one. A host that dies on its own, or a stopping one
    /// that exits in time, is reaped at the tick its SIGCHLD asks for (see [`super::ModulesManager::tick`]).
    pub(crate) fn next_tick(&self, idle_unload: Duration) -> Option<Instant> {
        let Backend::Hosted(hosted) = &self.backend else { return None };
        if hosted.running.is_some() {
            // Nothing to tick while a call runs (see `tick`); the call's own deadline is `deadline`.
            return None;
        }
        let stop = hosted.dying.as_ref().map(Dying::deadline);
        let idle = (hosted.host.is_some() && self.short_lived()).then(|| self.last_used + idle_unload);
        [stop, idle].into_iter().flatten().min()
    }

    /// Takes the running and the stopping host out (for a shutdown), forgetting the sessions; unloads an
    /// in-process module.
    pub(crate) fn take_hosts(self) -> (Option<Host>, Option<Dying>) {
        match self.backend {
            Backend::Hosted(hosted) => {
                let hosted = *hosted;
                (hosted.host, hosted.dying)
            }
            Backend::InProcess(module) => {
                module.unload();
                (None, None)
            }
        }
    }

    /// What `/PlatformModules` shows of this module, serving `components`.
    pub(crate) fn report(&self, components: Vec<String>, now: Instant) -> super::ModuleReport {
        let info = &self.info;
        let (path, in_process, state, crashes) = match &self.backend {
            Backend::InProcess(m) => (m.path().to_path_buf(), true, super::ModuleState::Running, 0),
            Backend::Hosted(h) => {
                let state = if h.crashes.quarantined() {
                    super::ModuleState::Quarantined
                } else if h.crashes.backoff_left(now).is_some() {
                    super::ModuleState::Restarting
                } else if h.host.is_some() {
                    super::ModuleState::Running
                } else {
                    super::ModuleState::Idle
                };
                (h.module.clone(), false, state, h.crashes.count())
            }
        };
        super::ModuleReport {
            name: info.name.clone(),
            path,
            version: format!(
                "{}.{}.{}.{}",
                info.version_major, info.version_minor, info.version_patch, info.version_tweak
            ),
            components,
            lifetime: info.lifetime as u8,
            in_process,
            host_pid: self.host_pid(),
            state,
            crashes,
        }
    }

    /// Open MMI sessions of this module.
    pub(crate) fn session_count(&self) -> usize {
        match &self.backend {
            Backend::Hosted(h) => h.sessions.len(),
            Backend::InProcess(m) => m.session_count(),
        }
    }
}

impl Hosted {
    /// Warning for the first refused call and then at most every [`REFUSAL_LOG_EVERY`], debug in between (a busy
    /// client must not flood the log with the same reason).
    fn refusal_level(&mut self) -> log::Level {
        let now = Instant::now();
        if self.refusal_logged.is_some_and(|at| now.duration_since(at) < REFUSAL_LOG_EVERY) {
            return log::Level::Debug;
        }
        self.refusal_logged = Some(now);
        log::Level::Warn
    }

    #[allow(clippy::too_many_arguments)]
    fn begin(
        &mut self,
        io: &Io<'_>,
        ctx: &Ctx<'_>,
        name: &str,
        user: u32,
        client: ClientId,
        who: &ClientInfo,
        work: Work,
    ) -> Step {
        debug_assert!(self.running.is_none(), "one call at a time");
        if let Work::Close(session) = &work {
            if self.host.is_none() {
                return Step::Done(Ok(Vec::new()));
            }
            log::debug!("module {name}: closing session {session}");
        } else if self.crashes.quarantined() {
            log::log!(
                self.refusal_level(),
                "module {name} is quarantined ({} crashes within {} s): call refused with errno {ERR_QUARANTINED} \
                 until a reload (SIGHUP) or a restart after the window",
                self.crashes.count(),
                ctx.policy.window.as_secs(),
                ERR_QUARANTINED = ERR_QUARANTINED.code()
            );
            return Step::Done(Err(ERR_QUARANTINED));
        }
        let now = Instant::now();
        let needs_session = matches!(work, Work::Call(_)) && self.sessions.get(client).is_none();
        let who = needs_session.then(|| who.clone());
        if self.host.is_none() {
            if let Err(errno) = self.spawn(ctx, name, user) {
                return Step::Done(Err(errno));
            }
            let stage = Stage::Starting { next_try: now + START_POLL_FIRST, pause: START_POLL_FIRST };
            let deadline = now + ctx.launch.call_timeout;
            self.running = Some(Running { client, who, work, stage, deadline, resent: false });
            return Step::Wait;
        }
        let host = self.host.as_mut().expect("running");
        if host.conn.is_none() {
            match HostConn::connect(host.socket(), io.registry, io.token) {
                Ok(conn) => host.conn = Some(conn),
                Err(e) => {
                    let what = if needs_session { "MmiOpen" } else { work_name(&work) };
                    return self.finish(ctx, name, what, Err(CallError::Transport(ClientError::Io(e))));
                }
            }
        }
        let stage = if needs_session { Stage::Opening } else { Stage::Calling };
        self.running = Some(Running { client, who, work, stage, deadline: now, resent: false });
        self.send(io, ctx, name, now)
    }

    /// Sends the request of the running call's stage (`MmiOpen`, or the call) on the host's connection.
    fn send(&mut self, io: &Io<'_>, ctx: &Ctx<'_>, name: &str, now: Instant) -> Step {
        let running = self.running.as_mut().expect("a call runs");
        running.deadline = now + ctx.launch.call_timeout;
        running.resent = false;
        let (endpoint, body) = match (&running.stage, &running.work) {
            (Stage::Opening, _) => {
                let who = running.who.as_ref().expect("a session to open");
                let request = OpenRequest { client_name: who.name.clone(), max_payload_size_bytes: who.max_payload };
                (MmiEndpoint::Open, request.to_body())
            }
            (_, Work::Call(op)) => {
                let session = self.sessions.get(running.client).expect("session opened");
                match op {
                    ModuleOp::Set { component, object, payload } => {
                        (MmiEndpoint::Set, set_body(session, component, object, payload))
                    }
                    ModuleOp::Get { component, object } => (MmiEndpoint::Get, get_body(session, component, object)),
                }
            }
            (_, Work::Close(session)) => {
                (MmiEndpoint::Close, CloseRequest { client_session: session.clone() }.to_body())
            }
        };
        let conn = self.host.as_mut().and_then(|h| h.conn.as_mut()).expect("connected");
        let exchange = conn.send(io.registry, endpoint, &body);
        self.advance(io, ctx, name, exchange)
    }

    /// The running call after progress on its exchange.
    fn advance(&mut self, io: &Io<'_>, ctx: &Ctx<'_>, name: &str, exchange: Exchange) -> Step {
        let running = self.running.as_mut().expect("a call runs");
        let what = stage_name(running);
        match exchange {
            Exchange::Pending => Step::Wait,
            Exchange::Failed { resend: true, .. } if !running.resent => {
                // The host had closed the idle connection: the request never reached it. Once more, anew.
                running.resent = true;
                let host = self.host.as_mut().expect("running");
                let old = host.conn.take().expect("connected");
                match HostConn::connect(host.socket(), io.registry, io.token) {
                    Ok(mut conn) => {
                        log::debug!("module {name}: host closed its idle connection; {what} sent again");
                        let exchange = conn.resend_from(io.registry, &old);
                        host.conn = Some(conn);
                        self.advance(io, ctx, name, exchange)
                    }
                    Err(e) => self.finish(ctx, name, what, Err(CallError::Transport(ClientError::Io(e)))),
                }
            }
            Exchange::Failed { error, .. } => self.finish(ctx, name, what, Err(CallError::Transport(error))),
            Exchange::Answer(response) => {
                if !response.keep_alive {
                    if let Some(host) = self.host.as_mut() {
                        host.conn = None;
                    }
                }
                if running.stage == Stage::Opening {
                    match mmi_result(MmiEndpoint::Open, response).and_then(|body| opened_session(&body)) {
                        Ok(id) => {
                            self.sessions.insert(running.client, id);
                            running.stage = Stage::Calling;
                            if self.host.as_ref().is_some_and(|h| h.conn.is_none()) {
                                return self.reconnect_and_send(io, ctx, name);
                            }
                            self.send(io, ctx, name, Instant::now())
                        }
                        Err(e) => self.finish(ctx, name, "MmiOpen", Err(e)),
                    }
                } else {
                    let endpoint = endpoint_of(&running.work);
                    self.finish(ctx, name, what, mmi_result(endpoint, response))
                }
            }
        }
    }

    /// A new connection for the next request after the host closed the last one with its answer.
    fn reconnect_and_send(&mut self, io: &Io<'_>, ctx: &Ctx<'_>, name: &str) -> Step {
        let host = self.host.as_mut().expect("running");
        match HostConn::connect(host.socket(), io.registry, io.token) {
            Ok(conn) => {
                host.conn = Some(conn);
                self.send(io, ctx, name, Instant::now())
            }
            Err(e) => {
                let what = stage_name(self.running.as_ref().expect("a call runs"));
                self.finish(ctx, name, what, Err(CallError::Transport(ClientError::Io(e))))
            }
        }
    }

    /// Ends the running call with `result`: a failure becomes the caller's errno (a dead or late host is killed
    /// and counted as a crash, see [`Hosted::failed`]); a failed `MmiClose` is only logged.
    fn finish(&mut self, ctx: &Ctx<'_>, name: &str, what: &str, result: Result<Vec<u8>, CallError>) -> Step {
        let running = self.running.take();
        let closing = matches!(running.as_ref().map(|r| &r.work), Some(Work::Close(_)));
        let result = match result {
            Ok(body) if matches!(running.as_ref().map(|r| &r.work), Some(Work::Call(ModuleOp::Set { .. }))) => {
                drop(body);
                Ok(Vec::new())
            }
            Ok(body) => Ok(body),
            Err(e) => Err(self.failed(ctx, name, what, e)),
        };
        if closing {
            if let Err(errno) = result {
                log::warn!("module {name}: MmiClose failed with errno {}", errno.code());
            }
            return Step::Done(Ok(Vec::new()));
        }
        Step::Done(result)
    }

    fn on_event(&mut self, io: &Io<'_>, ctx: &Ctx<'_>, name: &str) -> Step {
        let Some(running) = self.running.as_ref() else {
            if let Some(host) = self.host.as_mut() {
                if host.conn.take().is_some() {
                    log::debug!("module {name}: host {} closed its idle connection", host.pid());
                }
            }
            return Step::Wait;
        };
        if matches!(running.stage, Stage::Starting { .. }) {
            return Step::Wait;
        }
        let Some(conn) = self.host.as_mut().and_then(|h| h.conn.as_mut()) else { return Step::Wait };
        let exchange = conn.progress(io.registry);
        self.advance(io, ctx, name, exchange)
    }

    fn on_timer(&mut self, io: &Io<'_>, ctx: &Ctx<'_>, name: &str, now: Instant) -> Step {
        let Some(running) = self.running.as_mut() else { return Step::Wait };
        match running.stage {
            Stage::Starting { next_try, pause } => {
                if now < next_try && now < running.deadline {
                    return Step::Wait;
                }
                let host = self.host.as_mut().expect("spawned");
                if let Some(status) = host.exited() {
                    let reason = format!("host did not start: host {} {}", host.pid(), describe(status));
                    return self.start_failed(ctx, name, &reason);
                }
                match HostConn::connect(host.socket(), io.registry, io.token) {
                    Ok(conn) => {
                        log::info!("module {name}: host {} started on {}", host.pid(), host.socket().display());
                        host.conn = Some(conn);
                        running.stage =
                            if matches!(running.work, Work::Call(_)) { Stage::Opening } else { Stage::Calling };
                        self.send(io, ctx, name, now)
                    }
                    Err(_) if now >= running.deadline => {
                        let reason = format!(
                            "host did not start: host {} did not open {} in time",
                            host.pid(),
                            host.socket().display()
                        );
                        self.start_failed(ctx, name, &reason)
                    }
                    Err(_) => {
                        running.stage =
                            Stage::Starting { next_try: now + pause, pause: (pause * 2).min(START_POLL_MAX) };
                        Step::Wait
                    }
                }
            }
            Stage::Opening | Stage::Calling if now >= running.deadline => {
                let what = stage_name(running);
                self.finish(ctx, name, what, Err(CallError::Transport(ClientError::Timeout)))
            }
            Stage::Opening | Stage::Calling => Step::Wait,
        }
    }

    /// A spawned host that did not come up: killed, counted as a crash, the call failed with [`ERR_CRASHED`].
    fn start_failed(&mut self, ctx: &Ctx<'_>, name: &str, reason: &str) -> Step {
        self.running = None;
        if let Some(host) = self.host.take() {
            host.kill();
        }
        self.crashed(ctx, name, reason);
        Step::Done(Err(ERR_CRASHED))
    }

    /// Spawns the host (after the back-off of the last crash); it is reached by the call's `Starting` stage.
    fn spawn(&mut self, ctx: &Ctx<'_>, name: &str, user: u32) -> Result<(), Errno> {
        let now = Instant::now();
        if let Some(left) = self.crashes.backoff_left(now) {
            log::log!(
                self.refusal_level(),
                "module {name}: host restart in back-off for {} ms more: call refused with errno {ERR_BACKOFF}",
                left.as_millis(),
                ERR_BACKOFF = ERR_BACKOFF.code()
            );
            return Err(ERR_BACKOFF);
        }
        if let Some(dying) = self.dying.take() {
            dying.finish();
        }
        let launch = Launch { user, ..ctx.launch };
        match Host::spawn(&launch, &self.module, &self.socket) {
            Ok(host) => {
                self.host = Some(host);
                Ok(())
            }
            Err(e) => {
                log::error!("module {name}: cannot start {}: {e}", launch.binary.display());
                Err(ERR_CRASHED)
            }
        }
    }

    /// Turns a failed host call into the caller's errno; a dead or late host is killed and counted as a crash.
    fn failed(&mut self, ctx: &Ctx<'_>, name: &str, what: &str, error: CallError) -> Errno {
        match error {
            CallError::Module(errno) => Errno(errno),
            CallError::BadRequest => ERR_INVALID,
            CallError::NotFound | CallError::Protocol(_) | CallError::Forbidden | CallError::Platform(_) => {
                log::error!("module {name}: {what}: {error}");
                ERR_PROTOCOL
            }
            CallError::Transport(ClientError::Timeout) => {
                let pid = self.host.as_ref().map_or(0, Host::pid);
                if let Some(host) = self.host.take() {
                    host.kill();
                }
                self.sessions.clear();
                self.crashed(
                    ctx,
                    name,
                    &format!(
                        "{what} missed the {} ms deadline: host {pid} killed",
                        ctx.launch.call_timeout.as_millis()
                    ),
                );
                ERR_TIMEOUT
            }
            CallError::Transport(e) => {
                let (pid, how) = match self.host.take() {
                    Some(mut host) => {
                        let pid = host.pid();
                        let status = host.exited_within(EXIT_GRACE);
                        host.kill();
                        (pid, status.map_or_else(|| "broke the connection (killed)".to_string(), describe))
                    }
                    None => (0, "is gone".to_string()),
                };
                self.sessions.clear();
                self.crashed(ctx, name, &format!("host {pid} {how} during {what} ({e})"));
                ERR_CRASHED
            }
        }
    }

    /// Counts a crash and logs what follows (back-off or quarantine).
    fn crashed(&mut self, ctx: &Ctx<'_>, name: &str, reason: &str) {
        match self.crashes.record(ctx.store, name, &ctx.policy, now_ms(), Instant::now()) {
            Verdict::Restart(delay) => log::error!(
                "module {name}: crash {} of {} within {} s: {reason}; restart on the next call after {} ms",
                self.crashes.count(),
                ctx.policy.limit,
                ctx.policy.window.as_secs(),
                delay.as_millis()
            ),
            Verdict::Quarantine => log::error!(
                "module {name}: quarantined after {} crashes within {} s: {reason}; its calls fail with errno \
                 {ERR_QUARANTINED} until a reload (SIGHUP)",
                self.crashes.count(),
                ctx.policy.window.as_secs(),
                ERR_QUARANTINED = ERR_QUARANTINED.code()
            ),
        }
    }
}

/// The MMI name of what the running call sends now.
fn stage_name(running: &Running) -> &'static str {
    if running.stage == Stage::Opening {
        "MmiOpen"
    } else {
        work_name(&running.work)
    }
}

fn work_name(work: &Work) -> &'static str {
    match work {
        Work::Call(ModuleOp::Set { .. }) => "MmiSet",
        Work::Call(ModuleOp::Get { .. }) => "MmiGet",
        Work::Close(_) => "MmiClose",
    }
}

fn endpoint_of(work: &Work) -> MmiEndpoint {
    match work {
        Work::Call(ModuleOp::Set { .. }) => MmiEndpoint::Set,
        Work::Call(ModuleOp::Get { .. }) => MmiEndpoint::Get,
        Work::Close(_) => MmiEndpoint::Close,
    }
}
