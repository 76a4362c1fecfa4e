//! # The Watcher: local management through the desired (DC) and reported (RC) files
//!
//! A thread of the platform that applies `<root>/etc/osconfig/osconfig_desired.json` when it changes and writes
//! `<root>/etc/osconfig/osconfig_reported.json`. It is an MPI client of its own **inside** the platform
//! ([`LocalClient`]): its own session (client name [`CLIENT_NAME`]), the Orchestrator's serial queue like every
//! other client, never the socket. When `Priorities` lists [`PRIORITY_NAME`], its calls rank at that place.
//!
//! ## When it applies
//! - The DC file's directory is watched with inotify ([`dirwatch`]): a write in place, a rename into place, a
//!   removal, a mode change. A file closed after writing or renamed into place is read at once when no burst of
//!   events is pending; otherwise events within [`DEBOUNCE`] of each other apply once (at most [`MAX_DEBOUNCE`]
//!   after the first). At start the file present is applied.
//! - Every `DesiredReapplySeconds` (default `ReportingIntervalSeconds`; 0: never) the last good document is applied
//!   again in full, so a device that drifted (someone edited `/etc/hostname`) is brought back.
//!
//! ## What it applies
//! - The file is read safely and refused as a whole when it is unsafe, too large, not JSON (the log names the byte
//!   offset), not an object of objects (the log names the component) or against a MIM (the log names component,
//!   object and setting) ([`desired`]): nothing is applied and the last good document is kept.
//! - Otherwise, as one `MpiSetDesired`, the objects that are new or changed since they last succeeded and those that
//!   failed last time, in document order. Objects that fail are named in the log and retried on the next change of
//!   the file and at the re-apply interval; the others are applied anyway.
//! - A removed DC file stops local management of the device as it is: nothing is undone, nothing re-applied.
//!
//! ## The reported file
//! After each apply and every `ReportingIntervalSeconds`, `MpiGetReported`, written atomically and only when it
//! changed ([`reported`]).
//!
//! `LocalManagement` 0 turns the Watcher off (no watch, no timers, the RC file left as it is). Its state and last
//! apply are in `/PlatformStatus` ([`crate::shared::WatcherStatus`]). It never writes the DC file (it only tightens
//! a group- or world-readable mode to 0600) and never busy-loops: it sleeps in one `poll` until an inotify event, a
//! control message or its next deadline.

pub mod desired;
pub mod dirwatch;
pub mod reported;

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use osconfig_rest::DesiredObject;

use crate::config::Config;
use crate::local::LocalClient;
use crate::orchestrator::{ObjectFailure, Orchestrator};
use crate::paths::under;
use crate::shared::{ApplyRecord, ApplyResult, Shared};
use dirwatch::DirWatch;
use reported::ReportedFile;

/// The Watcher's MPI client name.
pub const CLIENT_NAME: &str = "osconfig-watcher";
/// The name that ranks the Watcher's calls when `Priorities` lists it.
pub const PRIORITY_NAME: &str = "LocalManagement";
/// The DC file under the root.
pub const DESIRED_FILE: &str = "/etc/osconfig/osconfig_desired.json";
/// The RC file under the root.
pub const REPORTED_FILE: &str = "/etc/osconfig/osconfig_reported.json";
/// Quiet time after the last event before the file is read.
pub const DEBOUNCE: Duration = Duration::from_millis(5);
/// Longest delay from the first event of a burst to the read, however long the burst goes on.
pub const MAX_DEBOUNCE: Duration = Duration::from_millis(500);

const INOTIFY: Token = Token(0);
const CONTROL: Token = Token(1);

/// The Watcher's part of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatcherConfig {
    /// `LocalManagement`.
    pub enabled: bool,
    /// `DesiredReapplySeconds` (`None`: 0, off).
    pub reapply: Option<Duration>,
    /// `ReportingIntervalSeconds`.
    pub report_every: Duration,
}

impl WatcherConfig {
    /// The Watcher's settings in `config`.
    pub fn from_config(config: &Config) -> WatcherConfig {
        WatcherConfig {
            enabled: config.local_management,
            reapply: (config.desired_reapply_seconds > 0).then(|| Duration::from_secs(config.desired_reapply_seconds)),
            report_every: Duration::from_secs(config.reporting_interval_seconds.max(1)),
        }
    }
}

/// `(DC file, RC file)` under `root`.
pub fn files(root: &Path) -> (PathBuf, PathBuf) {
    (under(root, DESIRED_FILE), under(root, REPORTED_FILE))
}

enum Control {
    Configure(WatcherConfig),
    Stop,
}

/// The handle of the Watcher's thread.
#[derive(Debug)]
pub struct Watcher {
    control: Sender<Control>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Control::Configure(c) => write!(f, "Configure({c:?})"),
            Control::Stop => f.write_str("Stop"),
        }
    }
}

impl Watcher {
    /// Starts the Watcher's thread for the DC and RC files under `root`.
    pub fn start(
        root: &Path,
        config: WatcherConfig,
        orchestrator: Orchestrator,
        shared: Arc<Shared>,
    ) -> io::Result<Watcher> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), CONTROL)?);
        let (control, rx) = mpsc::channel();
        let (desired, reported) = files(root);
        let client = LocalClient::new(orchestrator, CLIENT_NAME, PRIORITY_NAME);
        let thread = thread::Builder::new().name("watcher".into()).spawn(move || {
            let mut state = State::new(desired, reported, client, shared, poll);
            state.configure(config);
            state.run(&rx);
        })?;
        Ok(Watcher { control, waker, thread: Some(thread) })
    }

    /// Applies a reloaded configuration.
    pub fn configure(&self, config: WatcherConfig) {
        if self.control.send(Control::Configure(config)).is_ok() {
            let _ = self.waker.wake();
        }
    }

    /// Stops the thread (it ends after the call it may be waiting for).
    pub fn stop(&mut self) {
        if self.control.send(Control::Stop).is_ok() {
            let _ = self.waker.wake();
        }
        // Not joined: a call in flight ends when the orchestrator stops, and the process exits anyway.
        drop(self.thread.take());
    }
}

/// The last good document.
#[derive(Debug)]
struct Good {
    bytes: Vec<u8>,
    objects: Vec<DesiredObject>,
}

type ObjectKey = (String, String);

/// The Watcher's thread.
struct State {
    desired: PathBuf,
    reported: ReportedFile,
    client: LocalClient,
    shared: Arc<Shared>,
    poll: Poll,
    config: WatcherConfig,
    /// `None` while off.
    watch: Option<DirWatch>,
    owner: u32,
    good: Option<Good>,
    /// Payload text of each object as it last succeeded.
    applied: HashMap<ObjectKey, String>,
    /// Objects that failed last time.
    failed: BTreeSet<ObjectKey>,
    /// First event of the pending burst, and when to read the file.
    burst: Option<(Instant, Instant)>,
    /// When the file was last read.
    last_check: Option<Instant>,
    reapply_at: Option<Instant>,
    report_at: Option<Instant>,
}

impl State {
    fn new(desired: PathBuf, reported: PathBuf, client: LocalClient, shared: Arc<Shared>, poll: Poll) -> State {
        State {
            desired,
            reported: ReportedFile::new(&reported),
            client,
            shared,
            poll,
            config: WatcherConfig { enabled: false, reapply: None, report_every: Duration::from_secs(30) },
            watch: None,
            // SAFETY: geteuid(2) has no preconditions and cannot fail.
            owner: unsafe { libc::geteuid() },
            good: None,
            applied: HashMap::new(),
            failed: BTreeSet::new(),
            burst: None,
            last_check: None,
            reapply_at: None,
            report_at: None,
        }
    }

    fn run(&mut self, rx: &Receiver<Control>) {
        let mut events = Events::with_capacity(8);
        loop {
            let now = Instant::now();
            let next = [self.burst.map(|b| b.1), self.reapply_at, self.report_at].into_iter().flatten().min();
            let timeout = next.map(|at| at.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("watcher: poll failed: {e}; stopping local management");
                    return;
                }
            }
            while let Ok(message) = rx.try_recv() {
                match message {
                    Control::Configure(config) => self.configure(config),
                    Control::Stop => return,
                }
            }
            let inotify_ready = events.iter().any(|e| e.token() == INOTIFY);
            if inotify_ready && self.watch.as_mut().is_some_and(DirWatch::read) {
                let complete = self.watch.as_ref().is_some_and(DirWatch::saw_complete);
                self.note_event(complete);
            }
            if self.watch.is_some() {
                self.publish_state();
            }
            self.run_due(Instant::now());
        }
    }

    /// A change was seen; `complete`: the file was closed after writing or renamed into place.
    fn note_event(&mut self, complete: bool) {
        let now = Instant::now();
        let quiet = self.last_check.map_or(true, |at| now.duration_since(at) >= DEBOUNCE);
        if complete && self.burst.is_none() && quiet {
            // A whole new file and nothing pending: read it now (a burst that follows still coalesces).
            self.burst = Some((now, now));
            return;
        }
        let first = self.burst.map_or(now, |b| b.0);
        self.burst = Some((first, (now + DEBOUNCE).min(first + MAX_DEBOUNCE)));
    }

    fn run_due(&mut self, now: Instant) {
        if self.burst.is_some_and(|b| b.1 <= now) {
            self.burst = None;
            self.check();
        }
        if self.reapply_at.is_some_and(|at| at <= now) {
            self.reapply_at = self.config.reapply.map(|every| now + every);
            if self.good.is_some() {
                log::debug!("watcher: re-applying the desired document (DesiredReapplySeconds)");
                self.apply(true, "re-applied");
            }
        }
        if self.report_at.is_some_and(|at| at <= now) {
            self.report();
        }
    }

    fn configure(&mut self, config: WatcherConfig) {
        let was = self.config;
        self.config = config;
        if !config.enabled {
            if let Some(watch) = self.watch.take() {
                let fd: RawFd = watch.fd();
                let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
                log::info!("local management off (LocalManagement 0): {} is not watched", self.desired.display());
            }
            self.burst = None;
            self.reapply_at = None;
            self.report_at = None;
            self.shared.update_watcher(|w| w.state = "off".into());
            return;
        }
        let now = Instant::now();
        if self.watch.is_none() {
            match self.start_watch() {
                Ok(()) => {}
                Err(e) => {
                    log::error!("local management: cannot watch {}: {e}", self.desired.display());
                    self.shared.update_watcher(|w| w.state = format!("failed: {e}"));
                    return;
                }
            }
            log::info!(
                "local management on: watching {}, reporting to {} every {} s, re-applying {}",
                self.desired.display(),
                self.reported.path().display(),
                config.report_every.as_secs(),
                config.reapply.map_or("never".to_string(), |d| format!("every {} s", d.as_secs()))
            );
            // Apply what is there now.
            self.burst = Some((now, now));
        }
        if !was.enabled || was.reapply != config.reapply {
            self.reapply_at = config.reapply.map(|every| now + every);
        }
        if !was.enabled || was.report_every != config.report_every {
            self.report_at = Some(now + config.report_every);
        }
        self.publish_state();
    }

    fn start_watch(&mut self) -> io::Result<()> {
        let mut watch = DirWatch::new(&self.desired)?;
        watch.arm();
        let fd: RawFd = watch.fd();
        self.poll.registry().register(&mut SourceFd(&fd), INOTIFY, Interest::READABLE)?;
        self.watch = Some(watch);
        Ok(())
    }

    fn publish_state(&self) {
        let state = match &self.watch {
            Some(w) if w.watching_dir() => "watching".to_string(),
            Some(w) => format!("waiting for {}", w.dir().display()),
            None => "off".to_string(),
        };
        self.shared.update_watcher(|w| {
            if w.state != state {
                w.state = state;
            }
        });
    }

    fn record(&self, result: ApplyResult, detail: String, failed: Vec<String>) {
        self.shared.update_watcher(|w| {
            w.last_apply = Some(ApplyRecord { at: SystemTime::now(), result, detail, failed });
        });
    }

    /// Reads the DC file after a change (or at start) and applies what changed.
    fn check(&mut self) {
        self.last_check = Some(Instant::now());
        let path = self.desired.display().to_string();
        let bytes = match desired::read(&self.desired, self.owner) {
            desired::Loaded::Absent => {
                if self.good.take().is_some() {
                    log::info!("{path} removed: the device stays as it is; nothing is re-applied");
                    self.applied.clear();
                    self.failed.clear();
                    self.record(ApplyResult::Applied, "desired file removed".into(), Vec::new());
                }
                return;
            }
            desired::Loaded::Refused(why) => {
                log::error!("{path} refused, nothing applied: {why}");
                self.record(ApplyResult::Rejected, why, Vec::new());
                return;
            }
            desired::Loaded::Bytes(bytes) => bytes,
        };
        if self.good.as_ref().is_some_and(|g| g.bytes == bytes) && self.failed.is_empty() {
            log::debug!("{path}: content unchanged");
            return;
        }
        match desired::parse(&bytes, &self.shared.catalog()) {
            Ok(objects) => {
                self.good = Some(Good { bytes, objects });
                self.apply(false, "applied");
            }
            Err(why) => {
                log::error!("{path} refused, nothing applied (the last good document is kept): {why}");
                self.record(ApplyResult::Rejected, why, Vec::new());
            }
        }
    }

    /// Applies the last good document: every object when `full`, else those that changed or failed last time.
    fn apply(&mut self, full: bool, verb: &str) {
        let Some(good) = &self.good else { return };
        let pending: Vec<DesiredObject> = good
            .objects
            .iter()
            .filter(|o| {
                let key = (o.component_name.clone(), o.object_name.clone());
                full || self.failed.contains(&key)
                    || self.applied.get(&key).map(String::as_str) != Some(o.payload.get())
            })
            .cloned()
            .collect();
        let total = good.objects.len();
        if pending.is_empty() {
            log::info!("{}: no object changed ({total} in the document)", self.desired.display());
            self.record(ApplyResult::Applied, format!("no object changed ({total} in the document)"), Vec::new());
            self.report();
            return;
        }
        let started = Instant::now();
        let failures: Vec<ObjectFailure> = match self.client.set_desired(&pending) {
            Ok(failures) => failures,
            Err(errno) => {
                log::error!(
                    "{}: MpiSetDesired failed as a whole (errno {}); retried later",
                    self.desired.display(),
                    errno.code()
                );
                pending
                    .iter()
                    .map(|o| ObjectFailure {
                        component: o.component_name.clone(),
                        object: o.object_name.clone(),
                        errno,
                        violation: None,
                    })
                    .collect()
            }
        };
        self.failed.clear();
        for object in &pending {
            let key = (object.component_name.clone(), object.object_name.clone());
            if failures.iter().any(|f| f.component == key.0 && f.object == key.1) {
                self.applied.remove(&key);
                self.failed.insert(key);
            } else {
                self.applied.insert(key, object.payload.get().to_string());
            }
        }
        let failed: Vec<String> = failures.iter().map(|f| format!("{}.{}", f.component, f.object)).collect();
        if failures.is_empty() {
            // Drift correction runs every DesiredReapplySeconds: only a change of the file is worth an info line.
            let level = if full { log::Level::Debug } else { log::Level::Info };
            log::log!(
                level,
                "{}: {verb} {} of {total} object(s) in {} ms",
                self.desired.display(),
                pending.len(),
                started.elapsed().as_millis()
            );
            self.record(ApplyResult::Applied, format!("{verb} {} of {total} object(s)", pending.len()), failed);
        } else {
            let named: Vec<String> = failures
                .iter()
                .map(|f| match &f.violation {
                    Some(v) => format!("{}.{} (errno {}: {v})", f.component, f.object, f.errno.code()),
                    None => format!("{}.{} (errno {})", f.component, f.object, f.errno.code()),
                })
                .collect();
            log::warn!(
                "{}: {verb} {} of {total} object(s); {} failed and will be retried: {}",
                self.desired.display(),
                pending.len() - failures.len(),
                failures.len(),
                named.join(", ")
            );
            let detail = format!("{} of {} object(s) failed: {}", failures.len(), pending.len(), named.join(", "));
            self.record(ApplyResult::Partial, detail, failed);
        }
        self.report();
    }

    /// `MpiGetReported` into the RC file.
    fn report(&mut self) {
        self.report_at = Some(Instant::now() + self.config.report_every);
        match self.client.get_reported() {
            Ok(document) => match self.reported.update(&document) {
                Ok(true) => log::debug!("{} updated", self.reported.path().display()),
                Ok(false) => {}
                Err(e) => log::error!("cannot write {}: {e}", self.reported.path().display()),
            },
            Err(errno) => {
                log::warn!("MpiGetReported for {} failed: errno {}", self.reported.path().display(), errno.code())
            }
        }
    }
}
