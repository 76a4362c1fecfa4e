//! The command engine: per-client histories shared by all sessions, worker threads, persistence.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use osconfig_storage::Store;

use crate::arguments::{Action, CommandArguments};
use crate::history::{client_key, Entry, History, HistoryFull, MAX_HISTORY};
use crate::power;
use crate::process::{self, Control, Ending};
use crate::status::{single_line, CommandStatus, State, RESULT_CANCELED};

/// Name of the module's state store (see [`osconfig_storage::Store::for_module`]).
pub const STORE_NAME: &str = "commandrunner";

/// Stack size of a worker thread.
const WORKER_STACK_BYTES: usize = 256 * 1024;

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

/// The command tables of all clients. Cheap to clone (shared state); one [`Engine::global`] serves the module.
#[derive(Clone, Debug)]
pub struct Engine {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Option<Store>,
    clients: Mutex<HashMap<String, History>>,
    /// Generation last written per client; also serializes the writes.
    written: Mutex<HashMap<String, u64>>,
    next_seq: AtomicU64,
}

/// A persisted snapshot waiting to be written (taken under the clients lock, written after it is released).
struct Snapshot {
    client: String,
    generation: u64,
    json: String,
}

impl Engine {
    /// An engine persisting to `store` (`None`: memory only).
    pub fn new(store: Option<Store>) -> Engine {
        Engine {
            shared: Arc::new(Shared {
                store,
                clients: Mutex::new(HashMap::new()),
                written: Mutex::new(HashMap::new()),
                next_seq: AtomicU64::new(1),
            }),
        }
    }

    /// The process-wide engine, persisting to `Store::for_module("commandrunner")`; if that store cannot be
    /// opened the error is logged and the engine keeps its history in memory only.
    pub fn global() -> &'static Engine {
        static GLOBAL: OnceLock<Engine> = OnceLock::new();
        GLOBAL.get_or_init(|| match Store::for_module(STORE_NAME) {
            Ok(store) => Engine::new(Some(store)),
            Err(e) => {
                log::error!("CommandRunner history will not survive a restart: {e}");
                Engine::new(None)
            }
        })
    }

    /// Load `client`'s persisted history if it is not loaded yet (done at MmiOpen so status is there at once).
    pub fn open_client(&self, client: &str) {
        let mut clients = self.lock();
        self.history(&mut clients, client);
    }

    /// The reported `commandStatus` of `client`.
    pub fn status(&self, client: &str) -> CommandStatus {
        let mut clients = self.lock();
        self.history(&mut clients, client).current_status()
    }

    /// The status of one command of `client`, if it is in the history.
    pub fn command_status(&self, client: &str, command_id: &str) -> Option<CommandStatus> {
        let mut clients = self.lock();
        self.history(&mut clients, client).find(command_id).map(|e| e.status.clone())
    }

    /// Apply a validated `commandArguments` payload for `client`. Returns at once; commands run on worker threads.
    pub fn apply(&self, client: &str, args: &CommandArguments) -> Result<(), CommandError> {
        let mut clients = self.lock();
        let h = self.history(&mut clients, client);
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
                if let Some(e) = h.find(&args.command_id) {
                    if e.args == *args {
                        log::info!("CommandRunner: {:?} already ran, not running it again", args.command_id);
                        return Ok(());
                    }
                    return Err(CommandError::CommandIdInUse(args.command_id.clone()));
                }
                let command_line = power::command_line(args.action, &args.arguments).unwrap_or_default();
                let control = Arc::new(Control::default());
                let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
                let status = CommandStatus {
                    command_id: args.command_id.clone(),
                    result_code: 0,
                    text_result: String::new(),
                    current_state: State::Running,
                };
                let entry = Entry { args: args.clone(), status, seq, control: Some(Arc::clone(&control)) };
                h.push(entry).map_err(|HistoryFull| CommandError::TooManyRunning)?;
                h.set_current(&args.command_id);
                log::info!("CommandRunner: starting {:?} ({:?}): {command_line}", args.command_id, args.action);
                start = Some((command_line, seq, control));
            }
        }
        h.last_payload = Some(args.clone());
        let snapshot = snapshot(h, client);
        drop(clients);
        // Persist before starting anything, so a reboot is recorded (and not repeated) when the device comes back.
        self.persist(snapshot);
        if let Some((command_line, seq, control)) = start {
            self.start_worker(client, args, command_line, seq, control);
        }
        Ok(())
    }

    fn start_worker(&self, client: &str, args: &CommandArguments, line: String, seq: u64, control: Arc<Control>) {
        let engine = self.clone();
        let client_name = client.to_string();
        let timeout = (args.timeout_seconds > 0).then(|| Duration::from_secs(args.timeout_seconds));
        let single = args.single_line_text_result;
        let spawned =
            std::thread::Builder::new().name("cmdrunner-run".into()).stack_size(WORKER_STACK_BYTES).spawn(move || {
                let outcome = process::run(&line, timeout, &control);
                engine.finish(&client_name, seq, outcome.state_and_code(), &outcome.output, single);
            });
        if let Err(e) = spawned {
            log::error!("CommandRunner: cannot start a worker thread for {:?}: {e}", args.command_id);
            let errno = e.raw_os_error().map_or(-1, i64::from);
            let outcome = process::Outcome { ending: Ending::NotStarted(errno, e.to_string()), output: e.to_string() };
            self.finish(client, seq, outcome.state_and_code(), &outcome.output, single);
        }
    }

    /// Record the end of command `seq` (unless it was dropped from the history meanwhile) and persist.
    fn finish(&self, client: &str, seq: u64, (state, code): (State, i64), output: &str, single: bool) {
        let mut clients = self.lock();
        let h = self.history(&mut clients, client);
        let Some(e) = h.find_seq_mut(seq) else {
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
            e.args.command_id,
            e.status.current_state.value(),
            e.status.result_code
        );
        let snapshot = snapshot(h, client);
        drop(clients);
        self.persist(snapshot);
    }

    /// The client's history, loaded from the store on first use.
    fn history<'a>(&self, clients: &'a mut HashMap<String, History>, client: &str) -> &'a mut History {
        clients.entry(client.to_string()).or_insert_with(|| self.load(client))
    }

    fn load(&self, client: &str) -> History {
        let Some(store) = &self.shared.store else {
            return History::default();
        };
        let key = client_key(client);
        let bytes = match store.read(&key) {
            Ok(Some(b)) => b,
            Ok(None) => return History::default(),
            Err(e) => {
                log::error!("CommandRunner: cannot read the history of {client:?}: {e}");
                return History::default();
            }
        };
        let parsed = serde_json::from_slice(&bytes).map_err(|e| e.to_string()).and_then(|v: serde_json::Value| {
            // Long client names share a key prefix (see client_key): only the file of this very client counts.
            match v.get("client").and_then(serde_json::Value::as_str) {
                Some(name) if name == client => {}
                other => return Err(format!("it belongs to client {other:?}")),
            }
            History::from_json(&v, || self.shared.next_seq.fetch_add(1, Ordering::Relaxed))
        });
        match parsed {
            Ok(h) => {
                log::info!("CommandRunner: loaded {} commands of {client:?}", h.len());
                h
            }
            Err(e) => {
                log::error!("CommandRunner: ignoring the unreadable history {}/{key}: {e}", store.dir().display());
                History::default()
            }
        }
    }

    fn persist(&self, snapshot: Snapshot) {
        let Some(store) = &self.shared.store else {
            return;
        };
        let mut written = self.shared.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.get(&snapshot.client).is_some_and(|&g| g >= snapshot.generation) {
            return;
        }
        match store.write(&client_key(&snapshot.client), snapshot.json.as_bytes()) {
            Ok(()) => {
                written.insert(snapshot.client, snapshot.generation);
            }
            Err(e) => log::error!("CommandRunner: cannot save the history of {:?}: {e}", snapshot.client),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, History>> {
        self.shared.clients.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Bump the generation and serialize the history.
fn snapshot(h: &mut History, client: &str) -> Snapshot {
    h.generation += 1;
    Snapshot { client: client.to_string(), generation: h.generation, json: h.to_json(client).to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;
    use std::time::Instant;

    fn temp_store(tag: &str) -> (PathBuf, Store) {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cr-engine-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir.join("state")).unwrap();
        (dir, store)
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
            let written = e.shared.written.lock().unwrap().get(client).copied().unwrap_or(0);
            if !busy && (written >= generation || e.shared.store.is_none()) {
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
        let (dir, _store) = temp_store("cancel");
        std::fs::create_dir_all(&dir).unwrap();
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
        let (dir, store) = temp_store("dup");
        let e = Engine::new(Some(store));
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
        let (dir, store) = temp_store("persist");
        let e = Engine::new(Some(store.clone()));
        run(&e, "client/one", "p1", "echo persisted", 0);
        wait_done(&e, "client/one", "p1");
        run(&e, "client/one", "p2", "exit 4", 0);
        wait_done(&e, "client/one", "p2");
        e.apply("client/one", &args(json!({"commandId":"p1","action":4}))).unwrap();

        let again = Engine::new(Some(store.clone()));
        let s = again.status("client/one");
        assert_eq!((s.command_id.as_str(), s.text_result.as_str()), ("p1", "persisted\n"));
        assert_eq!(again.command_status("client/one", "p2").unwrap().result_code, 4);
        // The reloaded history still deduplicates.
        again.apply("client/one", &args(json!({"commandId":"p2","arguments":"exit 4","action":3}))).unwrap();
        assert_eq!(again.command_status("client/one", "p2").unwrap().current_state, State::Failed);
        wait_idle(&e, "client/one");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_load_running_command_reported_interrupted() {
        let (dir, store) = temp_store("interrupted");
        let e = Engine::new(Some(store.clone()));
        run(&e, "c", "r", "sleep 30", 0);
        // A second engine reading the file sees the command recorded as running: as after a crash.
        let after = Engine::new(Some(store.clone()));
        let s = after.status("c");
        assert_eq!((s.command_id.as_str(), s.current_state, s.result_code), ("r", State::Failed, -1));
        e.apply("c", &args(json!({"commandId":"r","action":5}))).unwrap();
        wait_idle(&e, "c");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_load_history_of_other_client_ignored() {
        let (dir, store) = temp_store("otherclient");
        let e = Engine::new(Some(store.clone()));
        run(&e, "a", "x", "true", 0);
        wait_done(&e, "a", "x");
        wait_idle(&e, "a");
        let file = store.read(&client_key("a")).unwrap().unwrap();
        store.write(&client_key("b"), &file).unwrap();
        assert_eq!(Engine::new(Some(store.clone())).status("b"), CommandStatus::default());
        assert_eq!(Engine::new(Some(store)).status("a").command_id, "x");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_load_corrupt_history_starts_empty() {
        let (dir, store) = temp_store("corrupt");
        store.write(&client_key("c"), b"{not json").unwrap();
        let e = Engine::new(Some(store));
        assert_eq!(e.status("c"), CommandStatus::default());
        run(&e, "c", "x", "true", 0);
        wait_done(&e, "c", "x");
        wait_idle(&e, "c");
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
