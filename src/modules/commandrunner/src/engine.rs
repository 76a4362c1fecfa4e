//! The command engine: per-client histories shared by all sessions, worker threads, persistence.
//!
//! Persistence goes to the cache file ([`crate::cache`]), shared by every client and every process that loads the
//! module. This process writes only its own clients' entries and keeps the others as it read them. Before each
//! request (`open_client` at MmiOpen, `apply` at MmiSet) and before each write the engine looks at the file: when it
//! changed since this process last read or wrote it, it is read again, and every client this process holds whose
//! entries the file no longer has is reset (its history, running commands included, and its last payload are
//! forgotten: a running command's process goes on, its end is no longer recorded). Removing the file is therefore a
//! reset, seen by a running module at the next MmiOpen or MmiSet of any client; MmiGet alone does not look at the
//! file (it is polled).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

use crate::arguments::{Action, CommandArguments};
use crate::cache::{self, Document, FileId};
use crate::groups::{self, Registry};
use crate::history::{Entry, History, HistoryFull, MAX_HISTORY};
use crate::legacy;
use crate::power;
use crate::process::{self, Control, Ending};
use crate::status::{single_line, CommandStatus, State, INTERRUPTED_TEXT, RESULT_CANCELED};

/// Stack size of a worker thread.
const WORKER_STACK_BYTES: usize = 256 * 1024;

/// Longest [`Engine::stop_all`] waits for the workers to stop their commands before it kills what is left.
pub const STOP_WAIT: Duration = Duration::from_millis(300);

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// refreshCommandStatus or cancelCommand named a commandId that is not in the client's history.
    UnknownCommand(String),
    /// A reboot, shutdown or runCommand reused the commandId of a different command still in the history.
    CommandIdInUse(String),
    /// Every one of the client's history slots holds a running command.
    TooManyRunning,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::UnknownCommand(id) => write!(f, "unknown commandId {id:?}"),
            CommandError::CommandIdInUse(id) => {
                write!(f, "commandId {id:?} is already used by a different command")
            }
            CommandError::TooManyRunning => write!(f, "{MAX_HISTORY} commands are already running"),
        }
    }
}

impl std::error::Error for CommandError {}

/// Where an engine keeps its histories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The cache file.
    pub cache: PathBuf,
    /// The per-client store of earlier releases, read once for migration (`None`: no migration).
    pub legacy_dir: Option<PathBuf>,
    /// Where running process groups are recorded ([`groups`]; `None`: not recorded, no leftovers killed).
    pub groups_dir: Option<PathBuf>,
}

impl Paths {
    /// The device paths: `<root>/etc/osconfig/osconfig_commandrunner.cache` (root from env `OSCONFIG_ROOT`),
    /// the old store `<state base>/commandrunner` (see [`legacy`]) and the group records
    /// `<state base>/commandrunner-groups` (see [`groups`]).
    pub fn from_env() -> Paths {
        Paths {
            cache: osconfig_storage::under_root(cache::CACHE_PATH),
            legacy_dir: Some(legacy::default_dir()),
            groups_dir: Some(groups::default_dir()),
        }
    }
}

/// The command tables of all clients. Cheap to clone (shared state); one [`Engine::global`] serves the module.
#[derive(Clone, Debug)]
pub struct Engine {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    paths: Option<Paths>,
    clients: Mutex<HashMap<String, History>>,
    /// The file as last seen; also serializes reading and writing it. Lock order: `disk`, then `clients`.
    disk: Mutex<Disk>,
    next_seq: AtomicU64,
    /// The process groups of running commands (recorded in `paths.groups_dir`).
    registry: Mutex<Registry>,
    /// Signalled when a command leaves the registry.
    registry_shrunk: Condvar,
    /// Leftovers of a crashed predecessor are looked for once, at the first `open_client`.
    leftovers_checked: Once,
}

/// What this process knows of the cache file.
#[derive(Debug, Default)]
struct Disk {
    /// Identity of the file as this process last read or wrote it (`None`: there was none).
    seen: Option<FileId>,
    /// Its content: every client's entries (other processes' clients are written back as read).
    doc: Document,
    /// Generation of each of our clients' histories last written.
    written: HashMap<String, u64>,
}

impl Engine {
    /// An engine persisting to `paths` (`None`: memory only).
    pub fn new(paths: Option<Paths>) -> Engine {
        Engine {
            shared: Arc::new(Shared {
                clients: Mutex::new(HashMap::new()),
                disk: Mutex::new(Disk::default()),
                next_seq: AtomicU64::new(1),
                registry: Mutex::new(Registry::new(paths.as_ref().and_then(|p| p.groups_dir.clone()))),
                registry_shrunk: Condvar::new(),
                leftovers_checked: Once::new(),
                paths,
            }),
        }
    }

    /// The process-wide engine, persisting to [`Paths::from_env`] (read once per load of the library).
    pub fn global() -> &'static Engine {
        GLOBAL.get_or_init(|| Engine::new(Some(Paths::from_env())))
    }

    /// Stop every running command of this engine because the module stops: each group gets SIGTERM, then SIGKILL
    /// after [`process::EXIT_GRACE`]; the workers record the commands as interrupted (failed, resultCode -1).
    /// Waits at most [`STOP_WAIT`] for that, then kills with SIGKILL the groups whose shell still runs.
    pub fn stop_all(&self) {
        let controls = self.registry().controls();
        if controls.is_empty() {
            return;
        }
        log::info!("CommandRunner: the module stops: stopping {} running command(s)", controls.len());
        for c in &controls {
            c.interrupt();
        }
        let deadline = Instant::now() + STOP_WAIT;
        let mut registry = self.registry();
        while !registry.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            registry = match self.shared.registry_shrunk.wait_timeout(registry, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        for g in registry.groups() {
            if g.leader_runs() {
                log::warn!("CommandRunner: process group {} still runs: SIGKILL", g.pgid);
                let _ = g.signal(libc::SIGKILL);
            }
        }
    }

    /// Look at the cache file (see the module docs) and load `client`'s history if it is not loaded yet (done at
    /// MmiOpen so status is there at once, and again before each request).
    pub fn open_client(&self, client: &str) {
        let Some(paths) = &self.shared.paths else {
            self.lock().entry(client.to_string()).or_default();
            return;
        };
        if let Some(dir) = &paths.groups_dir {
            self.shared.leftovers_checked.call_once(|| {
                let mine = self.registry().file().map(Path::to_path_buf);
                let killed = groups::kill_leftovers(dir, mine.as_deref());
                if killed > 0 {
                    log::warn!("CommandRunner: killed {killed} process group(s) left by an earlier module instance");
                }
            });
        }
        let mut disk = self.disk();
        self.sync(paths, &mut disk);
        let mut clients = self.lock();
        if clients.contains_key(client) {
            return;
        }
        let next_seq = || self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut migrated = false;
        let h = if let Some(entries) = disk.doc.get(client) {
            if let Some(dir) = &paths.legacy_dir {
                // Stale once the cache file holds the client: it must never come back after a reset.
                if let Err(e) = legacy::remove(dir, client) {
                    log::error!("CommandRunner: cannot remove the old history of {client:?} in {}: {e}", dir.display());
                }
            }
            // The document was checked when read; this cannot fail.
            cache::client_history(entries, next_seq).unwrap_or_default()
        } else if let Some(dir) = &paths.legacy_dir {
            match legacy::read(dir, client, next_seq) {
                Ok(Some(h)) => {
                    log::info!("CommandRunner: migrating {} commands of {client:?} from {}", h.len(), dir.display());
                    migrated = true;
                    h
                }
                Ok(None) => History::default(),
                Err(e) => {
                    log::error!("CommandRunner: ignoring and removing the unreadable old history {e}");
                    if let Err(e) = legacy::remove(dir, client) {
                        log::error!("CommandRunner: cannot remove it: {e}");
                    }
                    History::default()
                }
            }
        } else {
            History::default()
        };
        if !h.is_empty() {
            log::info!("CommandRunner: loaded {} commands of {client:?}", h.len());
        }
        let mut h = h;
        // A migrated history is written to the cache file at once.
        h.generation = u64::from(migrated);
        clients.insert(client.to_string(), h);
        drop(clients);
        if migrated {
            self.write_client(paths, &mut disk, client);
            if let (Some(dir), true) = (&paths.legacy_dir, disk.written.contains_key(client)) {
                if let Err(e) = legacy::remove(dir, client) {
                    log::error!("CommandRunner: cannot remove the migrated old history of {client:?}: {e}");
                }
            }
        }
    }

    /// The reported `commandStatus` of `client`.
    pub fn status(&self, client: &str) -> CommandStatus {
        self.lock().get(client).map(History::current_status).unwrap_or_default()
    }

    /// The status of one command of `client`, if it is in the history.
    pub fn command_status(&self, client: &str, command_id: &str) -> Option<CommandStatus> {
        self.lock().get(client)?.find(command_id).map(|e| e.status.clone())
    }

    /// Apply a validated `commandArguments` payload for `client`. Returns at once; commands run on worker threads.
    pub fn apply(&self, client: &str, args: &CommandArguments) -> Result<(), CommandError> {
        self.open_client(client);
        let mut clients = self.lock();
        let h = history(&mut clients, client);
        if h.last_payload.as_ref() == Some(args) {
            log::debug!("CommandRunner: same commandArguments as last time, nothing to do");
            return Ok(());
        }
        let mut start = None;
        match args.action {
            Action::None => log::info!("CommandRunner: action none for {:?}, nothing to do", args.command_id),
            Action::RefreshCommandStatus => {
                if h.find(&args.command_id).is_none() {
                    return Err(CommandError::UnknownCommand(args.command_id.clone()));
                }
                h.set_current(&args.command_id);
            }
            Action::CancelCommand => {
                let e = h
                    .find_mut(&args.command_id)
                    .ok_or_else(|| CommandError::UnknownCommand(args.command_id.clone()))?;
                if e.status.current_state == State::Running {
                    log::info!("CommandRunner: cancelling {:?}", args.command_id);
                    e.status.current_state = State::Canceled;
                    e.status.result_code = RESULT_CANCELED;
                    if let Some(c) = &e.control {
                        c.cancel();
                    }
                } else {
                    log::info!("CommandRunner: {:?} is not running, nothing to cancel", args.command_id);
                }
                h.set_current(&args.command_id);
            }
            Action::Reboot | Action::Shutdown | Action::RunCommand => {
                if let Some(e) = h.find_mut(&args.command_id) {
                    match &e.args {
                        Some(known) if known == args => {
                            log::info!("CommandRunner: {:?} already ran, not running it again", args.command_id);
                            return Ok(());
                        }
                        Some(_) => return Err(CommandError::CommandIdInUse(args.command_id.clone())),
                        None => {
                            // Loaded from a reference cache entry, which does not record the request: as the
                            // reference does, take this request as that command's and do not run it again.
                            log::info!(
                                "CommandRunner: {:?} already ran (recorded without its request)",
                                e.status.command_id
                            );
                            e.args = Some(args.clone());
                        }
                    }
                } else {
                    let command_line = power::command_line(args.action, &args.arguments).unwrap_or_default();
                    let control = Arc::new(Control::default());
                    let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
                    let status = CommandStatus {
                        command_id: args.command_id.clone(),
                        result_code: 0,
                        text_result: String::new(),
                        current_state: State::Running,
                    };
                    let entry = Entry { args: Some(args.clone()), status, seq, control: Some(Arc::clone(&control)) };
                    h.push(entry).map_err(|HistoryFull| CommandError::TooManyRunning)?;
                    h.set_current(&args.command_id);
                    log::info!("CommandRunner: starting {:?} ({:?}): {command_line}", args.command_id, args.action);
                    start = Some((command_line, seq, control));
                }
            }
        }
        h.last_payload = Some(args.clone());
        h.generation += 1;
        drop(clients);
        // Persist before starting anything, so a reboot is recorded (and not repeated) when the device comes back.
        self.save(client);
        if let Some((command_line, seq, control)) = start {
            self.start_worker(client, args, command_line, seq, control);
        }
        Ok(())
    }

    fn start_worker(&self, client: &str, args: &CommandArguments, line: String, seq: u64, control: Arc<Control>) {
        pin_library();
        let engine = self.clone();
        let client_name = client.to_string();
        let command_id = args.command_id.clone();
        let timeout = (args.timeout_seconds > 0).then(|| Duration::from_secs(args.timeout_seconds));
        let single = args.single_line_text_result;
        let spawned =
            std::thread::Builder::new().name("cmdrunner-run".into()).stack_size(WORKER_STACK_BYTES).spawn(move || {
                let mut group = None;
                let outcome = process::run(&line, timeout, &control, |g| {
                    group = Some(g.pgid);
                    engine.registry().add(g, &command_id, &client_name, Arc::clone(&control));
                });
                engine.finish(&client_name, seq, &outcome, single);
                if let Some(pgid) = group {
                    engine.registry().remove(pgid);
                    engine.shared.registry_shrunk.notify_all();
                }
            });
        if let Err(e) = spawned {
            log::error!("CommandRunner: cannot start a worker thread for {:?}: {e}", args.command_id);
            let errno = e.raw_os_error().map_or(-1, i64::from);
            let outcome = process::Outcome { ending: Ending::NotStarted(errno, e.to_string()), output: e.to_string() };
            self.finish(client, seq, &outcome, single);
        }
    }

    /// Record the end of command `seq` (unless it was dropped from the history meanwhile) and persist.
    fn finish(&self, client: &str, seq: u64, outcome: &process::Outcome, single: bool) {
        let (state, code) = outcome.state_and_code();
        let output = if outcome.ending == Ending::Interrupted { INTERRUPTED_TEXT } else { outcome.output.as_str() };
        let mut clients = self.lock();
        let Some(e) = clients.get_mut(client).and_then(|h| h.find_seq_mut(seq)) else {
            log::info!("CommandRunner: a finished command was already dropped from the history");
            return;
        };
        if e.status.current_state != State::Canceled {
            e.status.current_state = state;
            e.status.result_code = code;
        }
        e.status.text_result = if single { single_line(output) } else { output.to_string() };
        e.control = None;
        log::info!(
            "CommandRunner: {:?} ended, state {}, resultCode {}",
            e.status.command_id,
            e.status.current_state.value(),
            e.status.result_code
        );
        if let Some(h) = clients.get_mut(client) {
            h.generation += 1;
        }
        drop(clients);
        self.save(client);
    }

    /// Look at the cache file, then write `client`'s history if it changed since it was last written.
    fn save(&self, client: &str) {
        let Some(paths) = &self.shared.paths else {
            return;
        };
        let mut disk = self.disk();
        self.sync(paths, &mut disk);
        self.write_client(paths, &mut disk, client);
    }

    /// Re-read the cache file if it changed since this process last read or wrote it; reset the clients it no
    /// longer holds; set an unusable file aside.
    fn sync(&self, paths: &Paths, disk: &mut Disk) {
        let now = match cache::current_id(&paths.cache) {
            Ok(id) => id,
            Err(e) => {
                log::error!("CommandRunner: cannot look at {}: {e}", paths.cache.display());
                return;
            }
        };
        if now == disk.seen {
            return;
        }
        let doc = match cache::load(&paths.cache) {
            Ok(Some((doc, id))) => {
                disk.seen = Some(id);
                doc
            }
            Ok(None) => {
                disk.seen = None;
                Document::new()
            }
            Err(reason) => {
                let file = paths.cache.display();
                match cache::set_aside(&paths.cache) {
                    Ok(aside) => {
                        log::error!(
                            "CommandRunner: unusable history file {file} ({reason}): set aside as {}, the histories \
                             start empty",
                            aside.display()
                        );
                        disk.seen = None;
                    }
                    Err(e) => {
                        log::error!(
                            "CommandRunner: unusable history file {file} ({reason}), cannot set it aside ({e}): the \
                             histories start empty and the next save replaces it"
                        );
                        disk.seen = now;
                    }
                }
                Document::new()
            }
        };
        let mut clients = self.lock();
        for (name, h) in clients.iter_mut() {
            if !doc.contains_key(name) && (!h.is_empty() || h.last_payload.is_some()) {
                log::info!("CommandRunner: {} no longer holds the history of {name:?}: reset", paths.cache.display());
                *h = History::default();
                disk.written.remove(name);
            }
        }
        disk.doc = doc;
    }

    /// Write `client`'s entries into the cache file if they changed since they were last written.
    fn write_client(&self, paths: &Paths, disk: &mut Disk, client: &str) {
        let (entries, generation) = {
            let clients = self.lock();
            let Some(h) = clients.get(client) else {
                return;
            };
            if h.generation <= disk.written.get(client).copied().unwrap_or(0)
                || (h.is_empty() && !disk.doc.contains_key(client))
            {
                return;
            }
            (cache::client_json(h), h.generation)
        };
        let previous = disk.doc.insert(client.to_string(), entries);
        match cache::write(&paths.cache, &disk.doc) {
            Ok(id) => {
                disk.seen = id;
                disk.written.insert(client.to_string(), generation);
            }
            Err(e) => {
                log::error!("CommandRunner: cannot save the history of {client:?} to {}: {e}", paths.cache.display());
                match previous {
                    Some(p) => disk.doc.insert(client.to_string(), p),
                    None => disk.doc.remove(client),
                };
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, History>> {
        self.shared.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn disk(&self) -> MutexGuard<'_, Disk> {
        self.shared.disk.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.shared.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The engine of [`Engine::global`], once made.
static GLOBAL: OnceLock<Engine> = OnceLock::new();

/// [`Engine::stop_all`] on the global engine, if there is one (run when the process exits: see the crate docs).
pub fn stop_global() {
    if let Some(e) = GLOBAL.get() {
        e.stop_all();
    }
}

/// Keep this library mapped until the process exits (`RTLD_NODELETE`), once a command was started: its worker and
/// reader threads run the library's code, so an unload (`dlclose`) must never unmap it. A later `dlopen` of the
/// same path gets this same copy back, with its commands and histories.
fn pin_library() {
    static PINNED: Once = Once::new();
    PINNED.call_once(|| {
        // SAFETY: an all-zero Dl_info is a valid value (null pointers); dladdr only writes into it.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = pin_library as fn() as *const libc::c_void;
        // SAFETY: `addr` is a code address of this library; `info` is writable.
        if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
            log::warn!("CommandRunner: cannot find this library's path: it is not pinned");
            return;
        }
        // SAFETY: dli_fname is a NUL-terminated path owned by the loader; RTLD_NOLOAD only adds a reference to the
        // already loaded object (it is never released: the pin lasts until the process exits).
        let handle = unsafe { libc::dlopen(info.dli_fname, libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE) };
        if handle.is_null() {
            log::debug!("CommandRunner: not pinned (not loaded as a shared library)");
        }
    });
}

/// The client's history (empty if it was never loaded).
fn history<'a>(clients: &'a mut HashMap<String, History>, client: &str) -> &'a mut History {
    clients.entry(client.to_string()).or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;
    use std::time::Instant;

    /// A fresh temporary root and the engine paths in it.
    fn temp_paths(tag: &str) -> (PathBuf, Paths) {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cr-engine-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let paths = Paths {
            cache: dir.join("etc/osconfig/osconfig_commandrunner.cache"),
            legacy_dir: Some(dir.join("var/lib/osconfig/commandrunner")),
            groups_dir: Some(dir.join("var/lib/osconfig/commandrunner-groups")),
        };
        (dir, paths)
    }

    fn cache_json(paths: &Paths) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&paths.cache).unwrap()).unwrap()
    }

    fn args(v: serde_json::Value) -> CommandArguments {
        CommandArguments::from_json(&v).unwrap()
    }

    fn run(e: &Engine, client: &str, id: &str, cmd: &str, timeout: u64) {
        e.apply(client, &args(json!({"commandId":id,"arguments":cmd,"timeout":timeout,"action":3}))).unwrap();
    }

    /// Wait until command `id` is no longer running.
    fn wait_done(e: &Engine, client: &str, id: &str) -> CommandStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = e.command_status(client, id).expect("command in history");
            if s.current_state != State::Running {
                return s;
            }
            assert!(Instant::now() < deadline, "{id} still running");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until no worker of `client` is left and its latest state is on disk.
    fn wait_idle(e: &Engine, client: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (busy, generation) = e.lock().get(client).map_or((false, 0), |h| (h.has_workers(), h.generation));
            let written = e.disk().written.get(client).copied().unwrap_or(0);
            if !busy && (written >= generation || e.shared.paths.is_none()) {
                return;
            }
            assert!(Instant::now() < deadline, "workers of {client} still busy");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn test_status_default_before_any_command() {
        let e = Engine::new(None);
        assert_eq!(e.status("c"), CommandStatus::default());
    }

    #[test]
    fn test_apply_run_success_and_failure_codes() {
        let e = Engine::new(None);
        run(&e, "c", "ok", "echo hello", 0);
        let s = wait_done(&e, "c", "ok");
        assert_eq!((s.current_state, s.result_code, s.text_result.as_str()), (State::Succeeded, 0, "hello\n"));
        run(&e, "c", "bad", "echo no >&2; exit 7", 0);
        let s = wait_done(&e, "c", "bad");
        assert_eq!((s.current_state, s.result_code, s.text_result.as_str()), (State::Failed, 7, "no\n"));
        assert_eq!(e.status("c").command_id, "bad");
    }

    #[test]
    fn test_apply_returns_at_once_and_reports_running() {
        let e = Engine::new(None);
        let start = Instant::now();
        run(&e, "c", "slow", "sleep 1", 0);
        assert!(start.elapsed() < Duration::from_millis(900));
        assert_eq!(e.status("c").current_state, State::Running);
        assert_eq!(wait_done(&e, "c", "slow").current_state, State::Succeeded);
    }

    #[test]
    fn test_apply_timeout_gives_62_timed_out() {
        let e = Engine::new(None);
        run(&e, "c", "t", "echo begin; sleep 30", 1);
        let s = wait_done(&e, "c", "t");
        assert_eq!((s.current_state, s.result_code), (State::TimedOut, 62));
        assert_eq!(s.text_result, "begin\n");
    }

    #[test]
    fn test_apply_cancel_gives_125_canceled() {
        let (dir, _paths) = temp_paths("cancel");
        let marker = dir.join("survived");
        let e = Engine::new(None);
        run(&e, "c", "long", &format!("echo begin; sleep 3; touch {}", marker.display()), 0);
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        e.apply("c", &args(json!({"commandId":"long","action":5}))).unwrap();
        assert_eq!(e.status("c").current_state, State::Canceled);
        assert_eq!(e.status("c").result_code, 125);
        // The worker fills in the output once the process group is gone, well before the sleep would end.
        while e.status("c").text_result.is_empty() {
            assert!(start.elapsed() < Duration::from_millis(2500), "cancel did not stop the command");
            std::thread::sleep(Duration::from_millis(10));
        }
        let s = e.status("c");
        assert_eq!((s.current_state, s.result_code, s.text_result.as_str()), (State::Canceled, 125, "begin\n"));
        std::thread::sleep(Duration::from_millis(3500).saturating_sub(start.elapsed()));
        assert!(!marker.exists());
        wait_idle(&e, "c");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_apply_cancel_unknown_is_error_and_finished_is_noop() {
        let e = Engine::new(None);
        let err = e.apply("c", &args(json!({"commandId":"nope","action":5}))).unwrap_err();
        assert_eq!(err, CommandError::UnknownCommand("nope".into()));
        run(&e, "c", "done", "true", 0);
        wait_done(&e, "c", "done");
        e.apply("c", &args(json!({"commandId":"done","action":5}))).unwrap();
        assert_eq!(e.command_status("c", "done").unwrap().current_state, State::Succeeded);
    }

    #[test]
    fn test_apply_refresh_selects_command_and_unknown_fails() {
        let e = Engine::new(None);
        run(&e, "c", "a", "echo a", 0);
        wait_done(&e, "c", "a");
        run(&e, "c", "b", "echo b", 0);
        wait_done(&e, "c", "b");
        assert_eq!(e.status("c").command_id, "b");
        e.apply("c", &args(json!({"commandId":"a","action":4}))).unwrap();
        assert_eq!(e.status("c").text_result, "a\n");
        let err = e.apply("c", &args(json!({"commandId":"zz","action":4}))).unwrap_err();
        assert_eq!(err, CommandError::UnknownCommand("zz".into()));
    }

    #[test]
    fn test_apply_duplicate_payload_is_noop() {
        let (dir, paths) = temp_paths("dup");
        let e = Engine::new(Some(paths));
        let counter = dir.join("count");
        let cmd = format!("echo x >> {}", counter.display());
        run(&e, "c", "once", &cmd, 0);
        wait_done(&e, "c", "once");
        run(&e, "c", "once", &cmd, 0);
        // Same id and payload after another request: still not run again.
        e.apply("c", &args(json!({"commandId":"once","action":4}))).unwrap();
        run(&e, "c", "once", &cmd, 0);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(std::fs::read_to_string(&counter).unwrap(), "x\n");
        // The same id with a different command is refused.
        let err = e.apply("c", &args(json!({"commandId":"once","arguments":"true","action":3}))).unwrap_err();
        assert_eq!(err, CommandError::CommandIdInUse("once".into()));
        wait_idle(&e, "c");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_apply_action_none_changes_nothing() {
        let e = Engine::new(None);
        e.apply("c", &args(json!({"commandId":"","action":0}))).unwrap();
        e.apply("c", &args(json!({"commandId":"n","arguments":"touch /x","action":0}))).unwrap();
        assert_eq!(e.status("c"), CommandStatus::default());
        assert!(e.command_status("c", "n").is_none());
    }

    #[test]
    fn test_apply_history_keeps_last_ten_per_client() {
        let e = Engine::new(None);
        for i in 0..12 {
            let id = format!("h{i}");
            run(&e, "c", &id, "true", 0);
            wait_done(&e, "c", &id);
        }
        assert!(e.command_status("c", "h0").is_none());
        assert!(e.command_status("c", "h1").is_none());
        for i in 2..12 {
            assert!(e.command_status("c", &format!("h{i}")).is_some());
        }
        assert_eq!(e.status("other"), CommandStatus::default());
        assert!(e.command_status("other", "h5").is_none());
    }

    #[test]
    fn test_apply_persists_across_new_engine() {
        let (dir, paths) = temp_paths("persist");
        let e = Engine::new(Some(paths.clone()));
        run(&e, "client/one", "p1", "echo persisted", 0);
        wait_done(&e, "client/one", "p1");
        run(&e, "client/one", "p2", "exit 4", 0);
        wait_done(&e, "client/one", "p2");
        e.apply("client/one", &args(json!({"commandId":"p1","action":4}))).unwrap();
        wait_idle(&e, "client/one");
        let file = cache_json(&paths);
        assert_eq!(file["client/one"][0]["reported"], true);
        assert_eq!(file["client/one"][1]["arguments"]["arguments"], "exit 4");

        let again = Engine::new(Some(paths.clone()));
        again.open_client("client/one");
        let s = again.status("client/one");
        assert_eq!((s.command_id.as_str(), s.text_result.as_str()), ("p1", "persisted\n"));
        assert_eq!(again.command_status("client/one", "p2").unwrap().result_code, 4);
        // The reloaded history still deduplicates.
        again.apply("client/one", &args(json!({"commandId":"p2","arguments":"exit 4","action":3}))).unwrap();
        assert_eq!(again.command_status("client/one", "p2").unwrap().current_state, State::Failed);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_load_running_command_reported_interrupted() {
        let (dir, paths) = temp_paths("interrupted");
        let e = Engine::new(Some(paths.clone()));
        run(&e, "c", "r", "sleep 30", 0);
        // A second engine reading the file sees the command recorded as running: as after a crash.
        let after = Engine::new(Some(paths.clone()));
        after.open_client("c");
        let s = after.status("c");
        assert_eq!((s.command_id.as_str(), s.current_state, s.result_code), ("r", State::Failed, -1));
        e.apply("c", &args(json!({"commandId":"r","action":5}))).unwrap();
        wait_idle(&e, "c");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_engines_sharing_the_file_keep_each_others_clients() {
        let (dir, paths) = temp_paths("shared");
        let a = Engine::new(Some(paths.clone()));
        let b = Engine::new(Some(paths.clone()));
        run(&a, "a", "x", "true", 0);
        wait_done(&a, "a", "x");
        wait_idle(&a, "a");
        run(&b, "b", "y", "true", 0);
        wait_done(&b, "b", "y");
        wait_idle(&b, "b");
        run(&a, "a", "x2", "true", 0);
        wait_done(&a, "a", "x2");
        wait_idle(&a, "a");
        let file = cache_json(&paths);
        assert_eq!(file["a"].as_array().unwrap().len(), 2);
        assert_eq!(file["b"][0]["commandId"], "y");
        // Another process's write is not a reset of this one's clients.
        assert_eq!(a.status("a").command_id, "x2");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_removed_file_resets_at_next_open_or_set() {
        let (dir, paths) = temp_paths("reset");
        let e = Engine::new(Some(paths.clone()));
        run(&e, "c", "x", "true", 0);
        wait_done(&e, "c", "x");
        wait_idle(&e, "c");
        std::fs::remove_file(&paths.cache).unwrap();
        // MmiGet alone does not look at the file.
        assert_eq!(e.status("c").command_id, "x");
        e.open_client("c");
        assert_eq!(e.status("c"), CommandStatus::default());
        // The same request runs again after a reset, and only the new history is written.
        run(&e, "c", "x", "true", 0);
        wait_done(&e, "c", "x");
        wait_idle(&e, "c");
        assert_eq!(cache_json(&paths)["c"].as_array().unwrap().len(), 1);

        // A Set sees a removal too; a command running at the reset is no longer tracked.
        run(&e, "c", "slow", "sleep 0.3", 0);
        std::fs::remove_file(&paths.cache).unwrap();
        run(&e, "c", "next", "true", 0);
        assert!(e.command_status("c", "slow").is_none());
        wait_done(&e, "c", "next");
        std::thread::sleep(Duration::from_millis(500));
        wait_idle(&e, "c");
        let file = cache_json(&paths);
        assert_eq!(file["c"].as_array().unwrap().len(), 1, "{file}");
        assert_eq!(file["c"][0]["commandId"], "next");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_corrupt_file_set_aside_and_history_starts_empty() {
        let (dir, paths) = temp_paths("corrupt");
        std::fs::create_dir_all(paths.cache.parent().unwrap()).unwrap();
        std::fs::write(&paths.cache, b"{\"c\": [{\"commandId\": \"x\", \"resultCode\": \"zero\"}]}").unwrap();
        let e = Engine::new(Some(paths.clone()));
        e.open_client("c");
        assert_eq!(e.status("c"), CommandStatus::default());
        let aside = dir.join("etc/osconfig/osconfig_commandrunner.cache.corrupt");
        assert!(std::fs::read_to_string(aside).unwrap().contains("zero"));
        assert!(!paths.cache.exists());
        run(&e, "c", "x", "true", 0);
        wait_done(&e, "c", "x");
        wait_idle(&e, "c");
        assert_eq!(cache_json(&paths)["c"][0]["commandId"], "x");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_reference_entry_without_request_is_not_run_again() {
        let (dir, paths) = temp_paths("reference");
        std::fs::create_dir_all(paths.cache.parent().unwrap()).unwrap();
        let reference = "{\n    \"c\": [\n        {\n            \"commandId\": \"boot\",\n            \"currentState\": 2,\n            \"resultCode\": 0\n        }\n    ]\n}";
        std::fs::write(&paths.cache, reference).unwrap();
        let marker = dir.join("ran");
        let e = Engine::new(Some(paths.clone()));
        e.open_client("c");
        assert_eq!(e.status("c").command_id, "boot");
        let request = json!({"commandId":"boot","arguments":format!("touch {}", marker.display()),"action":3});
        e.apply("c", &args(request.clone())).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert!(!marker.exists());
        // The request is recorded now: a different one with the same id is refused.
        let err = e.apply("c", &args(json!({"commandId":"boot","arguments":"true","action":3}))).unwrap_err();
        assert_eq!(err, CommandError::CommandIdInUse("boot".into()));
        assert_eq!(
            cache_json(&paths)["c"][0]["arguments"],
            request.as_object().map(|_| args(request.clone()).to_json()).unwrap()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_old_location_migrated_once() {
        let (dir, paths) = temp_paths("migrate");
        let old_dir = paths.legacy_dir.clone().unwrap();
        std::fs::create_dir_all(&old_dir).unwrap();
        let old = json!({"version":1,"client":"c","current":"m","lastPayload":null,"commands":[
            {"arguments":{"commandId":"m","arguments":"echo m","timeout":0,"singleLineTextResult":false,"action":3},
             "status":{"commandId":"m","resultCode":0,"textResult":"m\n","currentState":2}}]});
        std::fs::write(legacy::file_of(&old_dir, "c"), old.to_string()).unwrap();
        let e = Engine::new(Some(paths.clone()));
        e.open_client("c");
        assert_eq!(e.status("c").text_result, "m\n");
        assert_eq!(cache_json(&paths)["c"][0]["textResult"], "m\n");
        assert!(!legacy::file_of(&old_dir, "c").exists(), "the old file is read once");
        // A reset does not bring the old history back.
        std::fs::remove_file(&paths.cache).unwrap();
        let fresh = Engine::new(Some(paths.clone()));
        fresh.open_client("c");
        assert_eq!(fresh.status("c"), CommandStatus::default());
        // An old file of a client the cache file already holds is stale: removed unread.
        run(&fresh, "stale", "s", "true", 0);
        wait_done(&fresh, "stale", "s");
        wait_idle(&fresh, "stale");
        let mut stale = old.clone();
        stale["client"] = json!("stale");
        assert!(!old_dir.exists(), "the emptied old directory is removed");
        std::fs::create_dir_all(&old_dir).unwrap();
        std::fs::write(legacy::file_of(&old_dir, "stale"), stale.to_string()).unwrap();
        let third = Engine::new(Some(paths.clone()));
        third.open_client("stale");
        assert_eq!(third.status("stale").command_id, "s");
        assert!(!old_dir.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_apply_single_line_text_result() {
        let e = Engine::new(None);
        e.apply(
            "c",
            &args(json!({"commandId":"s","arguments":"printf 'a\\nb\\n'","singleLineTextResult":true,"action":3})),
        )
        .unwrap();
        assert_eq!(wait_done(&e, "c", "s").text_result, "a b ");
    }

    #[test]
    fn test_command_error_display_is_lowercase_and_names_id() {
        let e = Engine::new(None);
        let err = e.apply("c", &args(json!({"commandId":"r","action":4}))).unwrap_err();
        assert_eq!(err.to_string(), "unknown commandId \"r\"");
        assert_eq!(CommandError::TooManyRunning.to_string(), "10 commands are already running");
    }
}
