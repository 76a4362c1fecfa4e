//! Local management: the platform's Watcher applying the desired (DC) file and writing the reported (RC) file.
//!
//! The platform runs with the `HostName` module in its host and `LocalManagement` 1 on a staged root. Each change
//! writes `{"HostName":{"desiredName":"bench-<i>"}}` to a temporary file next to the DC file (mode 0600) and renames
//! it into place, as a management tool would. Two times are taken from the rename, both seen with inotify as a local
//! agent would see them:
//! - `to_module`: the module's `MmiSet` has taken effect: `<root>/etc/hostname` (which `HostName` replaces with a
//!   temporary file and a rename under a root other than `/`) holds the new name;
//! - `to_reported`: the RC file, replaced atomically by the Watcher after the apply, reports `HostName.name` as the
//!   new name.
//!
//! Each change waits for both, then for [`SETTLE`], so that every change meets an idle Watcher as a real edit would
//! (not the end of the previous apply's fsyncs). A tenth as many changes as measured are made first, unmeasured.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use serde_json::json;

use crate::platform::Platform;
use crate::scenarios::{Context, Figure};
use crate::stats::Latency;

/// Longest wait for one change to reach both the module and the RC file.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a change has reached the RC file, before the next one.
const SETTLE: Duration = Duration::from_millis(20);
/// Size of the buffer inotify events are read into.
const EVENT_BUFFER_BYTES: usize = 4096;
/// The DC file's name in `<root>/etc/osconfig`.
const DESIRED: &str = "osconfig_desired.json";
/// The RC file's name in `<root>/etc/osconfig`.
const REPORTED: &str = "osconfig_reported.json";
/// The file `HostName.desiredName` writes, in `<root>/etc`.
const HOSTNAME: &str = "hostname";

/// Watches `<root>/etc` for the host name file and `<root>/etc/osconfig` for the RC file.
struct Observer {
    inotify: Inotify,
    etc: WatchDescriptor,
    osconfig: WatchDescriptor,
    hostname: PathBuf,
    reported: PathBuf,
    buffer: Vec<u8>,
}

/// Which files an inotify read said may have changed.
#[derive(Default)]
struct Seen {
    hostname: bool,
    reported: bool,
}

impl Observer {
    fn new(root: &Path) -> io::Result<Observer> {
        let inotify = Inotify::init()?;
        let mask = WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE | WatchMask::ONLYDIR;
        let etc = inotify.watches().add(root.join("etc"), mask)?;
        let osconfig = inotify.watches().add(root.join("etc/osconfig"), mask)?;
        Ok(Observer {
            inotify,
            etc,
            osconfig,
            hostname: root.join("etc").join(HOSTNAME),
            reported: root.join("etc/osconfig").join(REPORTED),
            buffer: vec![0; EVENT_BUFFER_BYTES],
        })
    }

    /// Reads the pending events, waiting until `deadline` for the first.
    fn next(&mut self, deadline: Instant) -> io::Result<Seen> {
        loop {
            match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => {
                    let mut seen = Seen::default();
                    for event in events {
                        let overflow = event.mask.contains(EventMask::Q_OVERFLOW);
                        let named =
                            |wd: &WatchDescriptor, name: &str| event.wd == *wd && event.name == Some(name.as_ref());
                        seen.hostname |= overflow || named(&self.etc, HOSTNAME);
                        seen.reported |= overflow || named(&self.osconfig, REPORTED);
                    }
                    return Ok(seen);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Seen::default());
            }
            let mut fd = libc::pollfd { fd: self.inotify.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            let timeout_ms = left.as_millis().saturating_add(1).min(i32::MAX as u128) as libc::c_int;
            // SAFETY: `fd` is one valid pollfd that outlives the call, and its count is 1.
            if unsafe { libc::poll(&mut fd, 1, timeout_ms) } < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }

    fn hostname_is(&self, name: &str) -> bool {
        std::fs::read_to_string(&self.hostname).is_ok_and(|text| text.trim() == name)
    }

    fn reported_is(&self, name: &str) -> bool {
        let Ok(bytes) = std::fs::read(&self.reported) else { return false };
        serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|doc| doc["HostName"]["name"] == name)
    }

    /// Times from `start` until the host name file and then the RC file hold `name`.
    fn wait_for(&mut self, name: &str, start: Instant) -> io::Result<(Duration, Duration)> {
        let deadline = start + CHANGE_TIMEOUT;
        let (mut to_module, mut to_reported) = (None, None);
        loop {
            let seen = self.next(deadline)?;
            let at = start.elapsed();
            if to_module.is_none() && seen.hostname && self.hostname_is(name) {
                to_module = Some(at);
            }
            if to_reported.is_none() && seen.reported && self.reported_is(name) {
                to_reported = Some(at);
            }
            match (to_module, to_reported) {
                (Some(module), Some(reported)) => return Ok((module, reported)),
                _ if Instant::now() >= deadline => {
                    let missing = if to_module.is_none() { self.hostname.clone() } else { self.reported.clone() };
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{} did not show {name:?} within {CHANGE_TIMEOUT:?}", missing.display()),
                    ));
                }
                _ => {}
            }
        }
    }
}

/// Writes the desired document for `name` next to the DC file, mode 0600, and renames it into place; returns the
/// time of the rename.
fn change(osconfig_dir: &Path, name: &str) -> io::Result<Instant> {
    let temp = osconfig_dir.join(".osconfig_desired.json.bench");
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temp)?;
    file.write_all(json!({"HostName": {"desiredName": name}}).to_string().as_bytes())?;
    drop(file);
    let start = Instant::now();
    std::fs::rename(&temp, osconfig_dir.join(DESIRED))?;
    Ok(start)
}

/// Time from renaming a new DC file into place to the module having applied it and to the RC file reporting it,
/// `HostName` in a module host; compared with the raw floor.
pub fn desired_to_reported(ctx: &Context) -> io::Result<Figure> {
    let config = json!({
        "LoggingLevel": 3,
        "LocalManagement": 1,
        "ReportingIntervalSeconds": 3600,
        "DesiredReapplySeconds": 0,
        "Reported": [{"ComponentName": "HostName", "ObjectName": "name"}],
    });
    let platform = Platform::start_with(ctx, &["hostname"], &config, "watcher")?;
    let osconfig_dir = platform.root().join("etc/osconfig");
    let mut observer = Observer::new(platform.root())?;
    let count = ctx.effort.changes;
    let (mut to_module, mut to_reported) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for i in 0..count / 10 + count {
        let name = format!("bench-{i}");
        let start = change(&osconfig_dir, &name)?;
        let (module, reported) = observer.wait_for(&name, start)?;
        if i >= count / 10 {
            to_module.push(module);
            to_reported.push(reported);
        }
        std::thread::sleep(SETTLE);
    }
    Ok(Figure::Latencies(vec![
        ("to_module", Latency::of(&mut to_module)),
        ("to_reported", Latency::of(&mut to_reported)),
    ]))
}
