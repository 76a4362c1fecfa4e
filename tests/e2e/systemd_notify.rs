//! systemd's notify protocol end to end: the real `osconfig-platform`, started as systemd starts a `Type=notify`
//! service with `WatchdogSec=` (`$NOTIFY_SOCKET` naming a datagram socket of the test, `$WATCHDOG_USEC`), must send
//! `READY=1` only once its MPI socket accepts connections and module calls work, `WATCHDOG=1` at least every
//! `WATCHDOG_USEC / 2` (checked against the deadline systemd enforces, `WATCHDOG_USEC`) both while idle and while a
//! slow module call runs, `RELOADING=1` then `READY=1` around a SIGHUP reload, and `STOPPING=1` on SIGTERM. A
//! `$WATCHDOG_PID` naming another process turns the watchdog off.

mod common;

use std::fs;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{artifacts, temp_dir, write_config, STOP_GRACE};
use osconfig_testkit::{ChildGuard, TempRoot};
use serde_json::json;

/// `$WATCHDOG_USEC` given to the platform: it should ping every 300 ms; systemd would kill it after 600 ms without.
const WATCHDOG: Duration = Duration::from_millis(600);
/// How long to wait for a notification that must come.
const NOTIFY_LIMIT: Duration = Duration::from_secs(10);
/// How long the fixture module's slow call sleeps.
const SLOW_CALL: Duration = Duration::from_millis(2000);
/// The OS of the test root's os-release: DeviceInfo reports the first word of `PRETTY_NAME` (or `ID`) as `osName`.
const OS_NAME: &str = "Notifyos";

/// One assignment the platform sent (a datagram may carry several, one per line), and when it arrived.
#[derive(Debug, Clone)]
struct Note {
    at: Instant,
    text: String,
}

/// The platform started as systemd would start it, and the notification socket it sends to.
struct Service {
    root: TempRoot,
    socket: PathBuf,
    child: Option<ChildGuard>,
    notes: Receiver<Note>,
    seen: Vec<Note>,
    stop: Arc<AtomicBool>,
    listener: Option<JoinHandle<()>>,
}

impl Service {
    /// Builds a root with DeviceInfo and the fixture module, binds `<root>/notify.sock`, and starts the platform with
    /// `NOTIFY_SOCKET` and `WATCHDOG_USEC` (plus `extra_env`). Does not wait for anything.
    fn start(tag: &str, extra_env: &[(&str, &str)]) -> Service {
        Service::start_with(tag, extra_env, json!({ "ModuleCallTimeoutSeconds": 10 }))
    }

    /// [`Service::start`] with `config` as `osconfig.json`.
    fn start_with(tag: &str, extra_env: &[(&str, &str)], config: serde_json::Value) -> Service {
        let built = artifacts();
        let root = temp_dir(tag);
        let module_dir = root.join("usr/lib/osconfig");
        fs::create_dir_all(&module_dir).unwrap();
        for name in ["deviceinfo", "fixture"] {
            fs::copy(built.module(name), module_dir.join(format!("{name}.so"))).unwrap();
        }
        write_config(&root, &config);
        fs::write(
            root.join("etc/os-release"),
            format!("NAME={OS_NAME}\nPRETTY_NAME=\"{OS_NAME} 1 (test)\"\nID={OS_NAME}\nVERSION_ID=1\n"),
        )
        .unwrap();

        let notify_path = root.join("notify.sock");
        let listener = UnixDatagram::bind(&notify_path).unwrap();
        listener.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let socket = root.join("run/osconfig/mpid.sock");
        let (tx, notes) = mpsc::channel();
        let mpi_socket = socket.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_listener = Arc::clone(&stop);
        let listener = std::thread::spawn(move || receive(&listener, &mpi_socket, &tx, &stop_listener));

        let stderr = fs::File::create(root.join("platform.stderr")).unwrap();
        let mut command = Command::new(built.platform());
        command
            .arg("--root")
            .arg(&root)
            .arg("--foreground")
            .arg("--modulehost")
            .arg(built.modulehost())
            .env_remove("WATCHDOG_PID")
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let child = ChildGuard::spawn(&mut command).expect("start osconfig-platform").with_grace(STOP_GRACE);
        Service { root, socket, child: Some(child), notes, seen: Vec::new(), stop, listener: Some(listener) }
    }

    fn stderr_text(&self) -> String {
        fs::read_to_string(self.root.join("platform.stderr")).unwrap_or_default()
    }

    /// Takes every notification that has arrived, waiting at most `limit` for the first one.
    fn drain(&mut self, limit: Duration) {
        match self.notes.recv_timeout(limit) {
            Ok(note) => self.seen.push(note),
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => panic!("the notification listener stopped"),
        }
        while let Ok(note) = self.notes.try_recv() {
            self.seen.push(note);
        }
    }

    /// Waits (at most `limit`) for `text` to arrive after the first `from` notes seen; its index in `seen`.
    fn wait_for(&mut self, text: &str, from: usize, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(i) = self.seen.iter().skip(from).position(|n| n.text == text) {
                return from + i;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "no {text} within {limit:?}; received {:?}; platform stderr:\n{}",
                self.texts(),
                self.stderr_text()
            );
            self.drain(deadline - now);
        }
    }

    /// Collects notifications for `span`.
    fn collect_for(&mut self, span: Duration) {
        let deadline = Instant::now() + span;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.drain(left);
        }
    }

    fn texts(&self) -> Vec<&str> {
        self.seen.iter().map(|n| n.text.as_str()).collect()
    }

    /// The longest time without `WATCHDOG=1` between `from` and `to`.
    fn longest_watchdog_gap(&self, from: Instant, to: Instant) -> Duration {
        let mut last = from;
        let mut longest = Duration::ZERO;
        for note in self.seen.iter().filter(|n| n.text == "WATCHDOG=1" && n.at > from && n.at <= to) {
            longest = longest.max(note.at - last);
            last = note.at;
        }
        longest.max(to.saturating_duration_since(last))
    }

    fn watchdogs_between(&self, from: Instant, to: Instant) -> usize {
        self.seen.iter().filter(|n| n.text == "WATCHDOG=1" && n.at > from && n.at <= to).count()
    }

    fn signal(&self, signal: i32) {
        let child = self.child.as_ref().expect("running");
        assert!(child.signal(signal), "kill({}, {signal})", child.id());
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.wait_timeout(limit)?;
        self.child = None;
        Some(status)
    }

    fn client(&self) -> osconfig_rest::MpiClient {
        osconfig_rest::MpiClient::new(&self.socket).with_timeout(Duration::from_secs(30))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // The platform stops (SIGTERM, SIGKILL after STOP_GRACE) before the listener and the root go.
        self.child.take();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
        }
    }
}

/// The listener thread: stamps every assignment on arrival. At the first `READY=1` it tries the MPI socket at once
/// and reports the outcome as a note of its own (`connect=ok` or `connect=<error>`), before the test thread can
/// even see the `READY=1`. Ends when `stop` is set.
fn receive(listener: &UnixDatagram, mpi_socket: &Path, tx: &mpsc::Sender<Note>, stop: &AtomicBool) {
    let mut buf = [0u8; 4096];
    let mut ready_seen = false;
    while !stop.load(Ordering::Relaxed) {
        match listener.recv(&mut buf) {
            Ok(n) => {
                let at = Instant::now();
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                for line in text.split('\n').filter(|l| !l.is_empty()) {
                    let mut notes = vec![Note { at, text: line.to_string() }];
                    if line == "READY=1" && !ready_seen {
                        ready_seen = true;
                        let outcome = match UnixStream::connect(mpi_socket) {
                            Ok(_) => "connect=ok".to_string(),
                            Err(e) => format!("connect={e}"),
                        };
                        notes.push(Note { at: Instant::now(), text: outcome });
                    }
                    for note in notes {
                        if tx.send(note).is_err() {
                            return;
                        }
                    }
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("notification socket: {e}"),
        }
    }
}

#[test]
fn test_notify_ready_watchdog_and_stopping() {
    let mut service = Service::start("notify", &[]);

    // READY=1, and at that moment the socket already accepts connections and a module call answers.
    let ready = service.wait_for("READY=1", 0, NOTIFY_LIMIT);
    service.collect_for(Duration::from_millis(20));
    let connect = service.seen.iter().skip(ready).find(|n| n.text.starts_with("connect=")).expect("connect note");
    assert_eq!(connect.text, "connect=ok", "the MPI socket at the moment READY=1 arrived");
    let mut mpi = service.client();
    let session = mpi.open("notify-test", 0).expect("MpiOpen right after READY=1");
    let os_name = mpi.get(&session, "DeviceInfo", "osName").expect("MpiGet DeviceInfo osName right after READY=1");
    assert_eq!(os_name, json!(OS_NAME).to_string().into_bytes(), "osName");

    // Idle: WATCHDOG=1 keeps coming, never WATCHDOG_USEC apart.
    let idle_from = Instant::now();
    service.collect_for(Duration::from_millis(1500));
    let idle_to = Instant::now();
    let gap = service.longest_watchdog_gap(idle_from, idle_to);
    let count = service.watchdogs_between(idle_from, idle_to);
    assert!(count >= 3, "idle for 1.5 s with a {WATCHDOG:?} watchdog: only {count} WATCHDOG=1: {:?}", service.texts());
    assert!(gap < WATCHDOG, "idle: {gap:?} without WATCHDOG=1 (systemd kills after {WATCHDOG:?})");

    // A slow module call (the fixture sleeps SLOW_CALL in MmiSet): the pings go on while it runs.
    let socket = service.socket.clone();
    let slow = std::thread::spawn(move || {
        let mut mpi = osconfig_rest::MpiClient::new(&socket).with_timeout(Duration::from_secs(30));
        let session = mpi.open("notify-slow", 0).expect("MpiOpen");
        let started = Instant::now();
        let result = mpi.set(&session, "Fixture", "slow", SLOW_CALL.as_millis().to_string().as_bytes());
        (started, Instant::now(), result)
    });
    let busy_from = Instant::now();
    service.collect_for(SLOW_CALL);
    let (call_started, call_ended, result) = slow.join().unwrap();
    service.collect_for(Duration::from_millis(100));
    result.expect("the slow call succeeds");
    assert!(call_ended - call_started >= SLOW_CALL, "the fixture slept {SLOW_CALL:?}");
    let busy_to = call_ended.min(Instant::now());
    let gap = service.longest_watchdog_gap(busy_from.max(call_started), busy_to);
    assert!(
        gap < WATCHDOG,
        "during a {SLOW_CALL:?} module call: {gap:?} without WATCHDOG=1 (systemd kills after {WATCHDOG:?}): {:?}",
        service.texts()
    );

    let readies = service.texts().iter().filter(|t| **t == "READY=1").count();
    assert_eq!(readies, 1, "one READY=1 from start to stop: {:?}", service.texts());

    // SIGTERM: STOPPING=1, then a clean exit.
    let from = service.seen.len();
    service.signal(libc::SIGTERM);
    service.wait_for("STOPPING=1", from, Duration::from_secs(2));
    let status = service.wait_exit(Duration::from_secs(3)).expect("the platform exits after SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}; stderr:\n{}", service.stderr_text());
    service.collect_for(Duration::from_millis(100));
    assert!(!service.texts().iter().skip(from).any(|t| *t == "READY=1"), "no READY=1 while stopping");
}

#[test]
fn test_notify_reload_sends_reloading_then_ready() {
    let mut service = Service::start("notify-reload", &[]);
    service.wait_for("READY=1", 0, NOTIFY_LIMIT);
    let from = service.seen.len();
    service.signal(libc::SIGHUP);
    let reloading = service.wait_for("RELOADING=1", from, Duration::from_secs(5));
    let ready = service.wait_for("READY=1", reloading, Duration::from_secs(5));
    assert!(ready > reloading);
    let mut mpi = service.client();
    let session = mpi.open("notify-reload", 0).expect("MpiOpen after the reload");
    mpi.get(&session, "DeviceInfo", "osName").expect("MpiGet after the reload");
}

#[test]
fn test_notify_watchdog_off_for_another_pid() {
    // WATCHDOG_PID names another process (pid 1): the period is not meant for the platform, so it never pings.
    let mut service = Service::start("notify-pid", &[("WATCHDOG_PID", "1")]);
    service.wait_for("READY=1", 0, NOTIFY_LIMIT);
    service.collect_for(WATCHDOG * 2);
    assert!(!service.texts().contains(&"WATCHDOG=1"), "WATCHDOG=1 sent for another pid: {:?}", service.texts());
}

#[test]
fn test_notify_watchdog_stops_when_the_orchestrator_is_stuck() {
    // An in-process module that hangs has no deadline: once the call overruns its budget (1 s call timeout plus
    // 1 s slack), the pings stop, so systemd would restart the platform.
    let config = json!({ "ModuleCallTimeoutSeconds": 1, "InProcessModules": ["Fixture"] });
    let mut service = Service::start_with("notify-stuck", &[], config);
    service.wait_for("READY=1", 0, NOTIFY_LIMIT);
    let socket = service.socket.clone();
    let started = Instant::now();
    std::thread::spawn(move || {
        let mut mpi = osconfig_rest::MpiClient::new(&socket).with_timeout(Duration::from_secs(30));
        let session = mpi.open("notify-hang", 0).expect("MpiOpen");
        let _ = mpi.get(&session, "Fixture", "hang");
    });
    service.collect_for(Duration::from_millis(3500));
    let quiet_from = started + Duration::from_millis(2500);
    assert_eq!(
        service.watchdogs_between(quiet_from, started + Duration::from_millis(3500)),
        0,
        "WATCHDOG=1 while the orchestrator is stuck: {:?}",
        service.texts()
    );
    assert!(service.watchdogs_between(started, started + Duration::from_millis(1000)) > 0, "pings before the overrun");
    let log = service.stderr_text();
    assert!(log.contains("overran its job's time budget"), "{log}");
    service.signal(libc::SIGTERM);
    assert!(service.wait_exit(Duration::from_secs(3)).is_some(), "a stuck platform still exits on SIGTERM");
}
