//! One served module and its supervision: the host (started, restarted after back-off, stopped when idle, killed
//! when it misses the call deadline), its MMI sessions, its crash log; or an in-process module.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use osconfig_http::ClientError;
use osconfig_mmi::{Lifetime, ModuleInfo};
use osconfig_mpi::MmiCallError;
use osconfig_storage::Store;

use super::crashes::{now_ms, CrashLog, CrashPolicy, Verdict};
use super::host::{describe, Dying, Host, Launch};
use super::inprocess::InProcess;
use super::sessions::{ClientInfo, ModuleSessions};
use super::{ClientId, ERR_BACKOFF, ERR_CRASHED, ERR_INVALID, ERR_PROTOCOL, ERR_QUARANTINED, ERR_TIMEOUT};

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

/// One MMI call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op<'a> {
    /// `MmiSet(component, object, payload)`.
    Set(&'a str, &'a str, &'a [u8]),
    /// `MmiGet(component, object)`.
    Get(&'a str, &'a str),
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

    /// Runs `op` for `client`: opens the client's session first if needed, and starts the host first if it is not
    /// running (unless in back-off or quarantine).
    pub(crate) fn call(
        &mut self,
        ctx: &Ctx<'_>,
        client: ClientId,
        who: &ClientInfo,
        op: Op<'_>,
    ) -> Result<Vec<u8>, i32> {
        let info = &self.info;
        let result = match &mut self.backend {
            Backend::InProcess(module) => match op {
                Op::Set(component, object, payload) => {
                    module.set(client, who, component, object, payload).map(|()| Vec::new())
                }
                Op::Get(component, object) => module.get(client, who, component, object),
            },
            Backend::Hosted(hosted) => hosted.call(ctx, &info.name, info.user_account, client, who, op),
        };
        // Idle time counts from the end of the last call (nothing else runs on this thread meanwhile).
        self.last_used = Instant::now();
        result
    }

    /// Closes the client's session in this module, if it has one.
    pub(crate) fn close(&mut self, ctx: &Ctx<'_>, client: ClientId) {
        match &mut self.backend {
            Backend::InProcess(module) => module.close(client),
            Backend::Hosted(hosted) => hosted.close(ctx, &self.info.name, client),
        }
    }

    /// Reaps a host that ended on its own (a crash unless it exited 0), stops an idle short-lived host, finishes
    /// stopping hosts.
    pub(crate) fn tick(&mut self, ctx: &Ctx<'_>, now: Instant) {
        let idle = self.short_lived() && now.saturating_duration_since(self.last_used) >= ctx.idle_unload;
        let name = &self.info.name;
        let Backend::Hosted(hosted) = &mut self.backend else { return };
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

    fn call(
        &mut self,
        ctx: &Ctx<'_>,
        name: &str,
        user: u32,
        client: ClientId,
        who: &ClientInfo,
        op: Op<'_>,
    ) -> Result<Vec<u8>, i32> {
        if self.crashes.quarantined() {
            log::log!(
                self.refusal_level(),
                "module {name} is quarantined ({} crashes within {} s): call refused with errno {ERR_QUARANTINED} \
                 until a reload (SIGHUP) or a restart after the window",
                self.crashes.count(),
                ctx.policy.window.as_secs()
            );
            return Err(ERR_QUARANTINED);
        }
        if self.host.is_none() {
            self.start(ctx, name, user)?;
        }
        if self.sessions.get(client).is_none() {
            let host = self.host.as_mut().expect("started above");
            match host.client().open(&who.name, who.max_payload) {
                Ok(id) => self.sessions.insert(client, id),
                Err(e) => return Err(self.failed(ctx, name, "MmiOpen", e)),
            }
        }
        let host = self.host.as_mut().expect("started above");
        let session = self.sessions.get(client).expect("opened above");
        let result = match op {
            Op::Set(component, object, payload) => {
                host.client().set(session, component, object, payload).map(|()| Vec::new())
            }
            Op::Get(component, object) => host.client().get(session, component, object),
        };
        result.map_err(|e| self.failed(ctx, name, if matches!(op, Op::Set(..)) { "MmiSet" } else { "MmiGet" }, e))
    }

    /// Starts the host (after the back-off of the last crash), waiting until it listens.
    fn start(&mut self, ctx: &Ctx<'_>, name: &str, user: u32) -> Result<(), i32> {
        let now = Instant::now();
        if let Some(left) = self.crashes.backoff_left(now) {
            log::log!(
                self.refusal_level(),
                "module {name}: host restart in back-off for {} ms more: call refused with errno {ERR_BACKOFF}",
                left.as_millis()
            );
            return Err(ERR_BACKOFF);
        }
        if let Some(dying) = self.dying.take() {
            dying.finish();
        }
        let launch = Launch { user, ..ctx.launch };
        let mut host = match Host::spawn(&launch, &self.module, &self.socket) {
            Ok(host) => host,
            Err(e) => {
                log::error!("module {name}: cannot start {}: {e}", launch.binary.display());
                return Err(ERR_CRASHED);
            }
        };
        if let Err(reason) = host.wait_ready(Instant::now() + ctx.launch.call_timeout) {
            host.kill();
            self.crashed(ctx, name, &format!("host did not start: {reason}"));
            return Err(ERR_CRASHED);
        }
        log::info!("module {name}: host {} started on {}", host.pid(), self.socket.display());
        self.host = Some(host);
        Ok(())
    }

    /// Turns a failed host call into the caller's errno; a dead or late host is killed and counted as a crash.
    fn failed(&mut self, ctx: &Ctx<'_>, name: &str, what: &str, error: MmiCallError) -> i32 {
        match error {
            MmiCallError::Module(errno) => errno,
            MmiCallError::BadRequest => ERR_INVALID,
            MmiCallError::NotFound | MmiCallError::Protocol(_) => {
                log::error!("module {name}: {what}: {error}");
                ERR_PROTOCOL
            }
            MmiCallError::Transport(ClientError::Timeout) => {
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
            MmiCallError::Transport(e) => {
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
                ctx.policy.window.as_secs()
            ),
        }
    }

    fn close(&mut self, ctx: &Ctx<'_>, name: &str, client: ClientId) {
        let Some(session) = self.sessions.remove(client) else { return };
        let Some(host) = self.host.as_mut() else { return };
        if let Err(e) = host.client().close(&session) {
            let errno = self.failed(ctx, name, "MmiClose", e);
            log::warn!("module {name}: MmiClose failed with errno {errno}");
        }
    }
}
