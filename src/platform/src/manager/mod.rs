//! # The Modules Manager
//!
//! Finds the OSConfig modules, runs each in its own `osconfig-modulehost` process (or, when configured,
//! in-process), routes every `MmiSet`/`MmiGet` of an MPI client to the module serving the component, and supervises
//! the hosts: crashes, hangs, restarts, quarantine, idle unload. Single-threaded: only the orchestrator's engine
//! calls it, on the MPI loop's thread. A call to a host never blocks there: [`ModulesManager::begin`] writes it to the
//! host's connection (registered in the loop's poll, [`ModulesManager::attach`]) and the loop hands the host's
//! events to [`ModulesManager::ready`] and the call's deadline to [`ModulesManager::expire`]; the call goes through
//! named stages ([`Stage`]: `Starting` a host, `Opening` the client's session, `Calling`) until it finishes. One
//! call runs at a time. [`ModulesManager::get`], [`ModulesManager::set`] and [`ModulesManager::close`] are blocking
//! forms of the same on the manager's own poll (tests, tools). Closing a client's sessions in hosts
//! ([`ModulesManager::close_later`]) queues one `MmiClose` per host, sent between calls ([`ModulesManager::next_close`],
//! at most [`MAX_PENDING_CLOSES`] waiting).
//!
//! Still blocking on the calling thread, and rare: identifying the modules (start, reload), starting a host for a
//! module with a `UserAccount` at load, waiting up to 500 ms for a host asked to stop when its module is needed
//! again at once, and up to 50 ms for a host that broke its connection to show how it ended (for the log).
//!
//! ## Discovery and identification (at [`ModulesManager::start`] and [`ModulesManager::reload`])
//! - Every `*.so` directly in each of [`ManagerSettings::module_dirs`] (each directory sorted by file name, the
//!   directories in order).
//! - Each is identified with `MmiGetInfo` **in a module host**, never in the platform, so a module that crashes or
//!   hangs in `MmiGetInfo` only costs its host: all hosts are started at once, then each is waited for and asked,
//!   all within one `call_timeout`. The answer is validated (`osconfig_mmi::ModuleInfo::from_json`); a module whose
//!   host fails or answers invalid info is skipped with an error log.
//! - When several modules claim a component, the highest version (major, minor, patch, tweak, compared as numbers)
//!   serves it, the first found on a tie; each loser is logged. A module left without a component is stopped.
//! - The identifying host keeps running and serves the calls (so the first request after start needs no new
//!   process). Lifetime 1 (keep loaded): it stays up. Lifetime 0 and 2: it is stopped after
//!   [`ManagerSettings::idle_unload`] without calls, and a new host is started on the next call.
//! - A module whose `UserAccount` is not 0 is identified as the platform's user, then served by a host started with
//!   `--user <UserAccount>` (only when the platform runs as root; otherwise a warning and the platform's uid).
//! - Modules named (`MmiGetInfo` `Name`) in [`ManagerSettings::in_process`] are loaded into the platform after
//!   the host identified them; see "In-process modules".
//!
//! ## Hosts
//! `osconfig-modulehost --module <abs .so> --socket <run_dir>/<file stem>.sock [--user <uid>]` (a second module
//! with the same file stem gets `<stem>.<index>.sock`), environment inherited (so `OSCONFIG_LOG_LEVEL` passes
//! through) plus `OSCONFIG_ROOT` = [`ManagerSettings::root`], stdin `/dev/null`, stdout and stderr inherited, in its
//! own process group (a Ctrl-C in a terminal reaches only the platform, which stops its hosts). `run_dir` is created
//! with mode 0700.
//!
//! ## Errors (the `Err(errno)` of [`ModulesManager::set`] / [`ModulesManager::get`], an `osconfig_mmi::Errno`)
//! | errno | constant | when |
//! |---|---|---|
//! | 22 `EINVAL` | [`ERR_INVALID`] | unknown component; a payload that is not one JSON value; and whatever the module answers |
//! | 5 `EIO` | [`ERR_CRASHED`] | the host died during the call (or during the lazy `MmiOpen`), or a (re)started host did not come up; counted as a crash |
//! | 62 `ETIME` | [`ERR_TIMEOUT`] | the host did not answer within `call_timeout`: it is killed (SIGKILL) and the hang counted as a crash |
//! | 11 `EAGAIN` | [`ERR_BACKOFF`] | the host crashed recently and its restart back-off has not passed: failed at once, nothing sent |
//! | 131 `ENOTRECOVERABLE` | [`ERR_QUARANTINED`] | the module is quarantined: failed at once with a warning naming the reason (repeated at most every 10 s per module, debug in between); this errno means nothing else here |
//! | 71 `EPROTO` | [`ERR_PROTOCOL`] | the host answered something the MMI REST API does not allow |
//! | other | | the module's own errno (e.g. the host's `"7"` for a payload over the session's limit, `"14"` for a Rust module's panic; `"16"` `EBUSY` only if a host's session table were full, which the platform's session bounds rule out) |
//!
//! Quarantine has an errno of its own, 131 `ENOTRECOVERABLE` ("state not recoverable": not until a reload),
//! distinct from every errno above, from the MPI's session-limit errno 24 (`EMFILE`) and from the host's 16
//! (`EBUSY`, which it used to share).
//!
//! A failed request is never retried by the manager.
//!
//! ## Crashes, back-off, quarantine
//! A crash is: the host dying or breaking the connection during a call, missing the call deadline, not coming up
//! when (re)started, or exiting non-zero / by a signal between calls (noticed by [`ModulesManager::tick`], which the
//! owner runs on SIGCHLD: no timer polls for it). After a crash the host is restarted on the **next** call, not
//! before `restart_backoff * 2^(n-1)` (at most 30 s) after it, where n is the number of crashes within
//! `crash_window`; the caller of a call inside the back-off gets [`ERR_BACKOFF`]. When n reaches `crash_limit` the
//! module is quarantined until [`ModulesManager::reload`] (SIGHUP) — which also forgets every crash — or until a
//! platform restart finds fewer than `crash_limit` persisted crashes inside the window.
//!
//! Persistence: `osconfig_storage::Store::open(state_dir)`, one key per module, `crashes-<Name>` (characters
//! outside `[A-Za-z0-9._-]` replaced by `_`), written atomically on every crash:
//! `{"Module":"Fixture","Crashes":[1764284000123,1764284000456]}` — wall-clock milliseconds since the Unix epoch,
//! only those inside the window. At start the records are read back, so a module that crashes the device at boot is
//! quarantined instead of crash-looping across restarts. An unreadable record is ignored with a warning; a state dir
//! that cannot be opened disables persistence with a warning.
//!
//! ## Sessions
//! [`ModulesManager::open`] announces an MPI client (its `ClientName` and `MaxPayloadSizeBytes`); nothing is sent
//! to modules until the client calls one: then one MMI session is opened in that module with the client's name and
//! payload limit, and reused. Session ids die with a host (crash, timeout, idle stop): the next call opens a new
//! session transparently. [`ModulesManager::close`] closes the client's sessions in every module. A client that was
//! never announced is served as `osconfig-platform` without a payload limit.
//!
//! ## In-process modules
//! Loaded with `osconfig_mmi::loader::LoadedModule` and called directly: no socket round trip, but **no crash
//! isolation**: a crash or abort takes the platform down, a hang blocks the MPI loop forever (no deadline applies; the watchdog restarts the platform),
//! and crash counting, back-off, quarantine and idle unload do not apply (the module stays loaded until reload or
//! shutdown). If loading fails, the module is served through its host instead (logged).
//!
//! ## Shutdown
//! [`ModulesManager::shutdown`] (also run on drop): unloads in-process modules (closing their sessions), sends
//! SIGTERM to every host (a host closes all its sessions, unloads its module and removes its socket), SIGKILL to
//! those still running after 500 ms, reaps them and removes leftover sockets. Takes a few ms normally, at most about
//! 500 ms.
//!
//! ## Limits
//! - Use the manager from one thread (the MPI loop's): every host is started with
//!   `PR_SET_PDEATHSIG` = SIGKILL, so it dies when the thread that started it ends — which also means hosts never
//!   outlive a platform killed with SIGKILL. A manager started on one thread and moved to another loses the hosts
//!   started so far when the first thread ends (they count as crashes and are restarted on the next call).
//! - A module is identified once per start/reload: a `.so` replaced on disk is seen only after a SIGHUP. A module
//!   quarantined by persisted crashes still gets its `MmiGetInfo` at start (in a host, which is then stopped).
//! - Calls are serial: one slow module delays every other request (by design of the orchestrator).
//! - A host admits `osconfig_modulehost::sessions::MAX_SESSIONS` (1088) MMI sessions, as many as the platform
//!   has MPI sessions at most (`crate::sessions::MAX_TOTAL_SESSIONS`): one lazily per MPI session and module, so
//!   a host never refuses a session the platform admitted.
//! - A host's socket is replaced only when nothing answers on it (a stale file left by a killed host); a live one
//!   (another platform's host) is never removed: the host is not started and the call fails with [`ERR_CRASHED`]
//!   (logged, not counted as a crash).
//!
//! ## Example
//! ```no_run
//! use osconfig_platform::manager::{ManagerSettings, ModulesManager};
//! use std::path::PathBuf;
//! use std::time::Duration;
//!
//! let root = PathBuf::from("/");
//! let mut manager = ModulesManager::start(ManagerSettings {
//!     module_dirs: vec![root.join("usr/lib/osconfig"), root.join("usr/local/lib/osconfig")],
//!     host_binary: root.join("usr/lib/osconfig/osconfig-modulehost"),
//!     run_dir: root.join("run/osconfig/modules"),
//!     state_dir: root.join("var/lib/osconfig/platform"),
//!     root: root.clone(),
//!     call_timeout: Duration::from_secs(5),
//!     crash_limit: 3,
//!     crash_window: Duration::from_secs(300),
//!     restart_backoff: Duration::from_millis(100),
//!     idle_unload: Duration::from_secs(60),
//!     in_process: Vec::new(),
//! });
//! manager.open(1, "my-client", 0);
//! let name = manager.get(1, "DeviceInfo", "osName");
//! manager.close(1);
//! manager.shutdown();
//! ```

mod crashes;
mod discovery;
mod exchange;
mod host;
mod identity;
mod inprocess;
mod sessions;
mod supervisor;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Registry, Token};
use osconfig_mmi::{Errno, Lifetime};
use osconfig_storage::Store;

use crashes::{CrashLog, CrashPolicy};
use host::{Dying, Host, Launch};
use sessions::Clients;
pub use supervisor::Stage;
use supervisor::{Ctx, Io, Step, Supervised, Work};

/// errno 22 (`EINVAL`): unknown component, or a payload that is not one JSON value.
pub const ERR_INVALID: Errno = Errno::EINVAL;
/// errno 5 (`EIO`): the module's host died during the call or could not be (re)started (counted as a crash).
pub const ERR_CRASHED: Errno = Errno::EIO;
/// errno 62 (`ETIME`): the host missed the call deadline and was killed (counted as a crash).
pub const ERR_TIMEOUT: Errno = Errno::ETIME;
/// errno 11 (`EAGAIN`): the module's host is in its restart back-off after a crash; nothing was sent.
pub const ERR_BACKOFF: Errno = Errno(libc::EAGAIN);
/// errno 131 (`ENOTRECOVERABLE`): the module is quarantined after too many crashes (until a reload); nothing was
/// sent. Its own errno: not the MPI's session limit (24) nor a host's full session table (16).
pub const ERR_QUARANTINED: Errno = Errno(libc::ENOTRECOVERABLE);
/// errno 71 (`EPROTO`): the host answered outside the MMI REST API.
pub const ERR_PROTOCOL: Errno = Errno::EPROTO;

/// How the manager finds, runs and supervises modules.
#[derive(Debug, Clone)]
pub struct ManagerSettings {
    /// Directories searched for `*.so` modules (`<root>/usr/lib/osconfig`, `<root>/usr/local/lib/osconfig`).
    pub module_dirs: Vec<PathBuf>,
    /// The `osconfig-modulehost` executable.
    pub host_binary: PathBuf,
    /// Directory of the host sockets (`<root>/run/osconfig/modules`, created with mode 0700).
    pub run_dir: PathBuf,
    /// Directory of the manager's persisted state: crash times (`<root>/var/lib/osconfig/platform`).
    pub state_dir: PathBuf,
    /// Root passed to hosts as `OSCONFIG_ROOT`.
    pub root: PathBuf,
    /// Deadline of one module call through a host (default 5 s); a host that misses it is killed (a crash).
    pub call_timeout: Duration,
    /// Crashes within `crash_window` that quarantine a module (default 3).
    pub crash_limit: u32,
    /// How far back crashes count (default 300 s).
    pub crash_window: Duration,
    /// First restart back-off after a crash (default 100 ms), doubled per further crash, at most 30 s.
    pub restart_backoff: Duration,
    /// Idle time after which the host of a Lifetime 0 or 2 module is stopped (default 60 s).
    pub idle_unload: Duration,
    /// Modules (`MmiGetInfo` `Name`) loaded in-process instead of in a host.
    pub in_process: Vec<String>,
}

/// A module's state as `/PlatformModules` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleState {
    /// Its host runs (or it is loaded in-process).
    Running,
    /// No host runs; one is started on the next call (a short-lived module after its idle time, or after a
    /// clean exit).
    Idle,
    /// It crashed and its restart back-off has not passed: calls fail with [`ERR_BACKOFF`].
    Restarting,
    /// It crashed too often: calls fail with [`ERR_QUARANTINED`] until SIGHUP or a restart of the platform.
    Quarantined,
}

impl ModuleState {
    /// The state's name on the wire: `running`, `idle`, `restarting`, `quarantined`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleState::Running => "running",
            ModuleState::Idle => "idle",
            ModuleState::Restarting => "restarting",
            ModuleState::Quarantined => "quarantined",
        }
    }
}

/// One module in use (see [`ModulesManager::reports`]).
#[derive(Debug, Clone)]
pub struct ModuleReport {
    /// `MmiGetInfo` `Name`.
    pub name: String,
    /// The module file.
    pub path: PathBuf,
    /// `major.minor.patch.tweak`.
    pub version: String,
    /// The components it serves (a component claimed by a newer module is not listed).
    pub components: Vec<String>,
    /// `Lifetime` (0, 1, 2).
    pub lifetime: u8,
    /// Loaded in the platform process.
    pub in_process: bool,
    /// Its running host's pid.
    pub host_pid: Option<u32>,
    /// See [`ModuleState`].
    pub state: ModuleState,
    /// Crashes within the crash window.
    pub crashes: usize,
}

/// The MPI layer's handle for one MPI session.
pub type ClientId = u64;

/// Most `MmiClose`s waiting to be sent (sessions forgotten by [`ModulesManager::close_later`], sent one at a time
/// between calls by [`ModulesManager::next_close`]). Past it the oldest is dropped with a warning: its host keeps
/// that session until the host stops. Each module holds at most one session per MPI session, so this is only
/// reached by more than 16 modules each with a session for every one of the 1088 MPI sessions.
pub const MAX_PENDING_CLOSES: usize = 16 * 1024;

/// One module call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleOp {
    /// `MmiSet(component, object, payload)`: `payload` is one JSON value.
    Set {
        /// The component.
        component: String,
        /// The object.
        object: String,
        /// The desired value's JSON text, sent unchanged.
        payload: Vec<u8>,
    },
    /// `MmiGet(component, object)`.
    Get {
        /// The component.
        component: String,
        /// The object.
        object: String,
    },
}

impl ModuleOp {
    fn component(&self) -> &str {
        match self {
            ModuleOp::Set { component, .. } | ModuleOp::Get { component, .. } => component,
        }
    }
}

/// What [`ModulesManager::begin`] (and the events after it) came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// The call waits for its host: [`ModulesManager::ready`] on the events of its token, or
    /// [`ModulesManager::expire`] at [`ModulesManager::deadline`], finish it.
    Waiting,
    /// The call finished: the module's answer (an `MmiGet`'s value, empty for `MmiSet`) or the errno.
    Done(Result<Vec<u8>, Errno>),
}

/// What finished after an event or a timer.
#[derive(Debug, PartialEq, Eq)]
pub enum Finished {
    /// The call started by [`ModulesManager::begin`].
    Call(Result<Vec<u8>, Errno>),
    /// An `MmiClose` started by [`ModulesManager::next_close`].
    Close,
}

/// Where the manager registers its hosts' connections.
#[derive(Debug)]
enum Poller {
    /// Its own poll, for the blocking calls ([`ModulesManager::get`], [`ModulesManager::set`],
    /// [`ModulesManager::close`]).
    Own(Poll),
    /// An event loop's ([`ModulesManager::attach`]): module `i`'s connection has token `first_token + i`.
    Loop { registry: Registry, first_token: usize },
}

impl Poller {
    fn registry(&self) -> &Registry {
        match self {
            Poller::Own(poll) => poll.registry(),
            Poller::Loop { registry, .. } => registry,
        }
    }

    fn token(&self, module: usize) -> Token {
        match self {
            Poller::Own(_) => Token(module),
            Poller::Loop { first_token, .. } => Token(first_token + module),
        }
    }

    /// The module of a token.
    fn module(&self, token: Token) -> Option<usize> {
        match self {
            Poller::Own(_) => Some(token.0),
            Poller::Loop { first_token, .. } => token.0.checked_sub(*first_token),
        }
    }
}

/// An `MmiClose` waiting to be sent: to the host with this pid (a session dies with its host).
#[derive(Debug)]
struct PendingClose {
    module: usize,
    host_pid: u32,
    session: String,
}

/// The Modules Manager (see the module docs).
#[derive(Debug)]
pub struct ModulesManager {
    settings: ManagerSettings,
    store: Option<Store>,
    modules: Vec<Supervised>,
    components: BTreeMap<String, usize>,
    clients: Clients,
    /// Identifying hosts not used (losers, in-process modules), asked to stop; reaped by `tick`.
    orphans: Vec<Dying>,
    stopped: bool,
    /// Where hosts' connections are registered.
    poller: Poller,
    /// The module running a call (at most one), and whether that call is an `MmiClose`.
    busy: Option<(usize, bool)>,
    /// `MmiClose`s to send ([`MAX_PENDING_CLOSES`]).
    closes: VecDeque<PendingClose>,
}

impl ModulesManager {
    /// Discovers and identifies the modules now (see the module docs); their hosts keep serving (Lifetime 0/2
    /// ones until they are idle).
    /// Never fails: problems are logged, and a manager without modules answers every call with [`ERR_INVALID`].
    /// Panics only if the system refuses the manager an epoll instance (no file descriptor left at start-up).
    pub fn start(settings: ManagerSettings) -> ModulesManager {
        let poll = Poll::new().expect("an epoll instance for the module hosts' connections");
        let mut manager = ModulesManager {
            store: None,
            settings,
            modules: Vec::new(),
            components: BTreeMap::new(),
            clients: Clients::default(),
            orphans: Vec::new(),
            stopped: false,
            poller: Poller::Own(poll),
            busy: None,
            closes: VecDeque::new(),
        };
        manager.load();
        manager
    }

    /// Registers hosts' connections with an event loop's `registry` from now on, module `i` under token
    /// `first_token + i` (tokens up to `first_token` + the number of modules): the loop hands their events to
    /// [`ModulesManager::ready`]. Call it before the first call; the blocking calls are not available after.
    pub fn attach(&mut self, registry: &Registry, first_token: usize) -> io::Result<()> {
        self.poller = Poller::Loop { registry: registry.try_clone()?, first_token };
        Ok(())
    }

    /// SIGHUP: stops every host (and unloads in-process modules), forgets every crash and quarantine, then
    /// discovers and identifies the modules again with `settings`. Announced clients are kept; their MMI sessions
    /// are reopened on their next calls.
    pub fn reload(&mut self, settings: ManagerSettings) {
        self.stop_modules();
        self.settings = settings;
        self.open_store();
        crashes::forget_all(self.store.as_ref());
        self.load();
    }

    /// Announces an MPI client: its MMI sessions are opened lazily, one per module on the first call to it, with
    /// this client name and payload limit.
    pub fn open(&mut self, client: ClientId, client_name: &str, max_payload_size_bytes: u32) {
        self.clients.open(client, client_name, max_payload_size_bytes);
    }

    /// Forgets the client and its MMI sessions: in-process modules close theirs at once; for hosts an `MmiClose`
    /// per session is queued, sent by [`ModulesManager::next_close`] when no call runs.
    pub fn close_later(&mut self, client: ClientId) {
        for (module, supervised) in self.modules.iter_mut().enumerate() {
            if let Some((host_pid, session)) = supervised.forget(client) {
                if self.closes.len() >= MAX_PENDING_CLOSES {
                    if let Some(dropped) = self.closes.pop_front() {
                        log::warn!(
                            "{MAX_PENDING_CLOSES} MmiClose waiting: session {} of host {} is left open",
                            dropped.session,
                            dropped.host_pid
                        );
                    }
                }
                self.closes.push_back(PendingClose { module, host_pid, session });
            }
        }
        self.clients.close(client);
    }

    /// Closes the client's MMI sessions and forgets it, waiting for every `MmiClose` (blocking; see
    /// [`ModulesManager::attach`]).
    pub fn close(&mut self, client: ClientId) {
        self.close_later(client);
        while let Some(progress) = self.next_close() {
            if progress == Progress::Waiting {
                let _ = self.block();
            }
        }
    }

    /// `MmiSet` of `payload` (one JSON value) on the module serving `component`, waiting for the answer (blocking;
    /// see [`ModulesManager::attach`]); `Err(errno)` as in the module docs.
    pub fn set(&mut self, client: ClientId, component: &str, object: &str, payload: &[u8]) -> Result<(), Errno> {
        if !self.components.contains_key(component) {
            log::debug!("no module serves component {component:?}");
            return Err(ERR_INVALID);
        }
        // The MPI layer's payloads were parsed with their request; raw bytes given here are checked.
        if serde_json::from_slice::<&serde_json::value::RawValue>(payload).is_err() {
            return Err(ERR_INVALID);
        }
        let op = ModuleOp::Set { component: component.into(), object: object.into(), payload: payload.to_vec() };
        self.call(client, op).map(drop)
    }

    /// `MmiGet` on the module serving `component`, waiting for the answer (blocking; see
    /// [`ModulesManager::attach`]): the object's JSON; `Err(errno)` as in the module docs.
    pub fn get(&mut self, client: ClientId, component: &str, object: &str) -> Result<Vec<u8>, Errno> {
        self.call(client, ModuleOp::Get { component: component.into(), object: object.into() })
    }

    fn call(&mut self, client: ClientId, op: ModuleOp) -> Result<Vec<u8>, Errno> {
        match self.begin(client, op) {
            Progress::Done(result) => result,
            Progress::Waiting => self.block(),
        }
    }

    /// Waits on the manager's own poll until the call in flight finishes.
    fn block(&mut self) -> Result<Vec<u8>, Errno> {
        let mut events = Events::with_capacity(8);
        loop {
            let timeout = self.deadline().map(|at| at.saturating_duration_since(Instant::now()));
            let Poller::Own(poll) = &mut self.poller else {
                log::error!("a blocking module call on a manager attached to an event loop");
                self.abandon();
                return Err(ERR_CRASHED);
            };
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("waiting for a module host: {e}");
                    self.abandon();
                    return Err(ERR_CRASHED);
                }
            }
            let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
            for token in tokens {
                match self.ready(token) {
                    Some(Finished::Call(result)) => return result,
                    Some(Finished::Close) => return Ok(Vec::new()),
                    None => {}
                }
            }
            match self.expire(Instant::now()) {
                Some(Finished::Call(result)) => return result,
                Some(Finished::Close) => return Ok(Vec::new()),
                None => {}
            }
        }
    }

    /// Starts a call on the module serving its component (one at a time: the previous one must have finished).
    /// The payload of a `Set` is one JSON value (the MPI layer parsed it; [`ModulesManager::set`] checks raw bytes).
    /// An in-process module, an unknown component, a quarantined module or
    /// one in its back-off are [`Progress::Done`] at once; a call to a host is [`Progress::Waiting`] until its
    /// answer (or failure) comes as [`Finished::Call`] from [`ModulesManager::ready`] or
    /// [`ModulesManager::expire`].
    pub fn begin(&mut self, client: ClientId, op: ModuleOp) -> Progress {
        if let Some((module, _)) = self.busy {
            log::error!("module call started while module {module} runs one: refused");
            return Progress::Done(Err(ERR_CRASHED));
        }
        let Some(&index) = self.components.get(op.component()) else {
            log::debug!("no module serves component {:?}", op.component());
            return Progress::Done(Err(ERR_INVALID));
        };
        let who = self.clients.info(client);
        let ctx = ctx(&self.settings, self.store.as_ref());
        let io = Io { registry: self.poller.registry(), token: self.poller.token(index) };
        match self.modules[index].begin(&io, &ctx, client, who, Work::Call(op)) {
            Step::Done(result) => Progress::Done(result),
            Step::Wait => {
                self.busy = Some((index, false));
                Progress::Waiting
            }
        }
    }

    /// Sends the next queued `MmiClose` (see [`ModulesManager::close_later`]) when no call runs: `None` when
    /// there is none (or a call runs), else whether it finished at once or waits like a call (its end comes as
    /// [`Finished::Close`]).
    pub fn next_close(&mut self) -> Option<Progress> {
        if self.busy.is_some() {
            return None;
        }
        while let Some(close) = self.closes.pop_front() {
            let Some(module) = self.modules.get_mut(close.module) else { continue };
            if module.host_pid() != Some(close.host_pid) {
                // The session died with the host it was opened in.
                continue;
            }
            let ctx = ctx(&self.settings, self.store.as_ref());
            let io = Io { registry: self.poller.registry(), token: self.poller.token(close.module) };
            let who = sessions::ClientInfo { name: String::new(), max_payload: 0 };
            match module.begin(&io, &ctx, 0, &who, Work::Close(close.session)) {
                Step::Done(_) => return Some(Progress::Done(Ok(Vec::new()))),
                Step::Wait => {
                    self.busy = Some((close.module, true));
                    return Some(Progress::Waiting);
                }
            }
        }
        None
    }

    /// Whether `MmiClose`s wait to be sent.
    pub fn closes_pending(&self) -> bool {
        !self.closes.is_empty()
    }

    /// Whether a call (or an `MmiClose`) runs.
    pub fn busy(&self) -> bool {
        self.busy.is_some()
    }

    /// An event on `token` (a host's connection): moves the call in flight on. `Some` when it finished.
    pub fn ready(&mut self, token: Token) -> Option<Finished> {
        let module = self.poller.module(token)?;
        if module >= self.modules.len() {
            return None;
        }
        let ctx = ctx(&self.settings, self.store.as_ref());
        let io = Io { registry: self.poller.registry(), token };
        let step = self.modules[module].on_event(&io, &ctx);
        self.settle(module, step)
    }

    /// The call in flight at its [`ModulesManager::deadline`] (a late host is killed, a starting one tried again).
    /// `Some` when it finished.
    pub fn expire(&mut self, now: Instant) -> Option<Finished> {
        let (module, _) = self.busy?;
        if self.modules[module].deadline().is_some_and(|at| at > now) {
            return None;
        }
        let ctx = ctx(&self.settings, self.store.as_ref());
        let io = Io { registry: self.poller.registry(), token: self.poller.token(module) };
        let step = self.modules[module].on_timer(&io, &ctx, now);
        self.settle(module, step)
    }

    /// When the call in flight needs [`ModulesManager::expire`] even without an event (its stage's deadline, or a
    /// starting host's next try).
    pub fn deadline(&self) -> Option<Instant> {
        let (module, _) = self.busy?;
        self.modules[module].deadline()
    }

    /// The stage of the call in flight, if one runs.
    pub fn stage(&self) -> Option<Stage> {
        let (module, _) = self.busy?;
        self.modules[module].stage()
    }

    fn settle(&mut self, module: usize, step: Step) -> Option<Finished> {
        let Step::Done(result) = step else { return None };
        match self.busy {
            Some((busy, close)) if busy == module => {
                self.busy = None;
                Some(if close { Finished::Close } else { Finished::Call(result) })
            }
            _ => None,
        }
    }

    /// Drops the call in flight (nothing answers it).
    fn abandon(&mut self) {
        if let Some((module, _)) = self.busy.take() {
            self.modules[module].abandon();
        }
    }

    /// Housekeeping: reaps hosts that ended (a crash unless they exited 0), stops idle Lifetime 0/2 hosts,
    /// finishes stopping hosts (SIGKILL after 500 ms). Call it at [`ModulesManager::next_tick`] and whenever a child
    /// process ended (SIGCHLD): the manager sets no timer to look for hosts that died between calls.
    pub fn tick(&mut self, now: Instant) {
        let ctx = ctx(&self.settings, self.store.as_ref());
        for module in self.modules.iter_mut() {
            module.tick(&ctx, now);
        }
        self.orphans.retain_mut(|orphan| !orphan.poll(now));
    }

    /// When [`ModulesManager::tick`] has work next that no child's exit announces: the earliest idle deadline of a
    /// running short-lived host, or the SIGKILL deadline of a host asked to stop; `None` when there is none (no
    /// wake-up while idle). A host that ends before its deadline is reaped at the tick its SIGCHLD asks for.
    pub fn next_tick(&self) -> Option<Instant> {
        let orphans = self.orphans.iter().map(Dying::deadline);
        self.modules.iter().filter_map(|m| m.next_tick(self.settings.idle_unload)).chain(orphans).min()
    }

    /// The served components, sorted.
    pub fn components(&self) -> Vec<String> {
        self.components.keys().cloned().collect()
    }

    /// Closes every session, stops every host (SIGTERM, SIGKILL after 500 ms), removes their sockets; forgets
    /// every client. The manager then serves nothing until [`ModulesManager::reload`]. Idempotent.
    pub fn shutdown(&mut self) {
        self.stop_modules();
        self.clients.clear();
        self.stopped = true;
    }

    fn stop_modules(&mut self) {
        self.abandon();
        // A host closes every session when it stops.
        self.closes.clear();
        let mut hosts = Vec::new();
        let mut dying = Vec::new();
        for module in self.modules.drain(..) {
            let (host, stopping) = module.take_hosts();
            hosts.extend(host);
            dying.extend(stopping);
        }
        self.components.clear();
        host::stop_all(hosts);
        for d in dying.into_iter().chain(self.orphans.drain(..)) {
            d.finish();
        }
    }

    fn open_store(&mut self) {
        self.store = match Store::open(&self.settings.state_dir) {
            Ok(store) => Some(store),
            Err(e) => {
                log::warn!("crash counts will not persist: {e}");
                None
            }
        };
    }

    /// Discovery, identification, version choice, backends.
    fn load(&mut self) {
        let started = Instant::now();
        self.stopped = false;
        if self.store.is_none() {
            self.open_store();
        }
        let run_dir = &self.settings.run_dir;
        if let Err(e) = std::fs::create_dir_all(run_dir)
            .and_then(|()| std::fs::set_permissions(run_dir, std::fs::Permissions::from_mode(0o700)))
        {
            log::error!("cannot prepare the host socket directory {}: {e}", run_dir.display());
        }
        let paths = discovery::find_modules(&self.settings.module_dirs);
        let with_sockets: Vec<(PathBuf, PathBuf)> =
            (0..paths.len()).map(|i| (paths[i].clone(), discovery::socket_for(run_dir, &paths, i))).collect();
        let ctx = ctx(&self.settings, self.store.as_ref());
        let identified = identity::identify(&with_sockets, &ctx.launch);
        let refs: Vec<_> = identified.iter().map(|m| (m.path.as_path(), &m.info)).collect();
        let winners = identity::pick_winners(&refs);
        let mut new_index = vec![usize::MAX; identified.len()];
        for (old, found) in identified.into_iter().enumerate() {
            if !winners.values().any(|&w| w == old) {
                log::warn!("module {} ({}) serves no component: not used", found.info.name, found.path.display());
                self.orphans.push(Dying::begin(found.host));
                continue;
            }
            new_index[old] = self.modules.len();
            let module = supervise(&ctx, &self.settings.in_process, found, &mut self.orphans);
            self.modules.push(module);
        }
        self.components = winners.into_iter().map(|(component, old)| (component, new_index[old])).collect();
        log::info!(
            "modules manager: {} module(s), components {:?}, ready in {} ms",
            self.modules.len(),
            self.components.keys().collect::<Vec<_>>(),
            started.elapsed().as_millis()
        );
    }

    /// Every module in use, in discovery order, with the components it serves (for `/PlatformModules`).
    pub fn reports(&self) -> Vec<ModuleReport> {
        let now = Instant::now();
        self.modules
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let served = self.components.iter().filter(|(_, &at)| at == i).map(|(c, _)| c.clone()).collect();
                m.report(served, now)
            })
            .collect()
    }

    /// Test and diagnostics view: (component, module name, host pid if running, quarantined, open sessions).
    #[doc(hidden)]
    pub fn module_states(&self) -> Vec<(String, String, Option<u32>, bool, usize)> {
        self.components
            .iter()
            .map(|(component, &i)| {
                let m = &self.modules[i];
                (component.clone(), m.info.name.clone(), m.host_pid(), m.quarantined(), m.session_count())
            })
            .collect()
    }
}

impl Drop for ModulesManager {
    fn drop(&mut self) {
        if !self.stopped || !self.modules.is_empty() {
            self.shutdown();
        }
    }
}

/// The backend of an identified module: in-process, a kept host, or a host started on demand. Identifying hosts
/// not kept go to `orphans` (stopping) or the module's own stopping slot.
fn supervise(
    ctx: &Ctx<'_>,
    in_process: &[String],
    found: identity::Identified,
    orphans: &mut Vec<Dying>,
) -> Supervised {
    let identity::Identified { path, socket, info, host } = found;
    if in_process.contains(&info.name) {
        orphans.push(Dying::begin(host));
        match inprocess::InProcess::load(&path, &info.name) {
            Ok(module) => {
                log::info!("module {} runs in-process (no crash isolation)", info.name);
                return Supervised::in_process(info, module);
            }
            Err(e) => {
                log::error!("module {}: in-process load failed ({e}): serving it through a host", info.name);
                let crashes = CrashLog::load(ctx.store, &info.name, &ctx.policy);
                return Supervised::hosted(path, info, socket, None, None, crashes);
            }
        }
    }
    let crashes = CrashLog::load(ctx.store, &info.name, &ctx.policy);
    if crashes.quarantined() {
        return Supervised::hosted(path, info, socket, None, Some(Dying::begin(host)), crashes);
    }
    if info.user_account == 0 {
        // Any lifetime: a short-lived module's host is stopped by the idle timer like after any call.
        return Supervised::hosted(path, info, socket, Some(host), None, crashes);
    }
    // The identifying host ran as the platform's user, not as the module's UserAccount.
    let dying = Dying::begin(host);
    if info.lifetime != Lifetime::KeepLoaded {
        return Supervised::hosted(path, info, socket, None, Some(dying), crashes);
    }
    // Lifetime 1 with a user account: start the real host now.
    dying.finish();
    let launch = Launch { user: info.user_account, ..ctx.launch };
    let host = match Host::spawn(&launch, &path, &socket) {
        Ok(mut host) => match host.wait_ready(Instant::now() + ctx.launch.call_timeout) {
            Ok(()) => Some(host),
            Err(reason) => {
                log::error!("module {}: host as user {} did not start: {reason}", info.name, info.user_account);
                host.kill();
                None
            }
        },
        Err(e) => {
            log::error!("module {}: cannot start {}: {e}", info.name, launch.binary.display());
            None
        }
    };
    Supervised::hosted(path, info, socket, host, None, crashes)
}

fn ctx<'a>(settings: &'a ManagerSettings, store: Option<&'a Store>) -> Ctx<'a> {
    Ctx {
        launch: Launch {
            binary: &settings.host_binary,
            root: &settings.root,
            user: 0,
            call_timeout: settings.call_timeout,
        },
        store,
        policy: CrashPolicy {
            limit: settings.crash_limit.max(1),
            window: settings.crash_window,
            backoff: settings.restart_backoff,
        },
        idle_unload: settings.idle_unload,
    }
}
