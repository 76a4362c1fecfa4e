//! Crash accounting of one module: recent crash times, restart back-off, quarantine, and their persistence.
//!
//! Crash times are wall-clock milliseconds since the Unix epoch, so they survive a platform restart. They are kept
//! in the manager's state directory (an `osconfig_storage::Store`) under the key `crashes-<module name>` as JSON:
//! `{"Module":"Fixture","Crashes":[1764284000123,1764284000456]}` (only crashes inside the window are kept).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use osconfig_storage::Store;
use serde_json::{json, Value};

/// The longest restart back-off.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Prefix of the state keys holding crash times.
pub(crate) const KEY_PREFIX: &str = "crashes-";

/// Limits that turn crashes into back-off and quarantine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CrashPolicy {
    /// Crashes within `window` that quarantine the module.
    pub(crate) limit: u32,
    /// How far back crashes count.
    pub(crate) window: Duration,
    /// First back-off, doubled for every further crash in the window, at most [`MAX_BACKOFF`].
    pub(crate) backoff: Duration,
}

/// What recording a crash decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The module may be restarted after this back-off.
    Restart(Duration),
    /// The module reached the limit: quarantined.
    Quarantine,
}

/// Crash history of one module.
#[derive(Debug, Default)]
pub(crate) struct CrashLog {
    /// Crash times (ms since the epoch), oldest first, all inside the window as of the last update.
    times: Vec<u64>,
    /// Set when the limit was reached; cleared only by a new `CrashLog` (reload or restart).
    quarantined: bool,
    /// No restart before this instant.
    not_before: Option<Instant>,
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The back-off after the `n`-th crash in the window (`n` >= 1): `first * 2^(n-1)`, at most [`MAX_BACKOFF`].
pub(crate) fn backoff_for(first: Duration, n: usize) -> Duration {
    let shift = n.saturating_sub(1).min(31) as u32;
    first.checked_mul(1u32 << shift).unwrap_or(MAX_BACKOFF).min(MAX_BACKOFF)
}

/// The state key of a module's crash times: `crashes-<name>`, characters outside `[A-Za-z0-9._-]` replaced by `_`.
pub(crate) fn key_for(module: &str) -> String {
    let clean: String = module
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(200)
        .collect();
    format!("{KEY_PREFIX}{clean}")
}

impl CrashLog {
    /// The history persisted for `module`, pruned to the window; quarantined when the kept crashes reach the limit.
    /// A missing or unreadable record gives an empty history (logged).
    pub(crate) fn load(store: Option<&Store>, module: &str, policy: &CrashPolicy) -> CrashLog {
        let mut log = CrashLog::default();
        let Some(store) = store else { return log };
        let key = key_for(module);
        match store.read(&key) {
            Ok(Some(bytes)) => match parse_times(&bytes) {
                Some(times) => log.times = times,
                None => log::warn!("ignoring unreadable crash record {key} in {}", store.dir().display()),
            },
            Ok(None) => {}
            Err(e) => log::warn!("cannot read crash record {key}: {e}"),
        }
        log.prune(now_ms(), policy.window);
        if !log.times.is_empty() && log.times.len() >= policy.limit as usize {
            log.quarantined = true;
            log::error!(
                "module {module}: quarantined, {} crashes within {} s (persisted in {})",
                log.times.len(),
                policy.window.as_secs(),
                store.dir().display()
            );
        } else if !log.times.is_empty() {
            log::warn!("module {module}: {} recent crash(es) remembered from an earlier run", log.times.len());
        }
        log
    }

    fn prune(&mut self, now: u64, window: Duration) {
        let horizon = now.saturating_sub(window.as_millis() as u64);
        self.times.retain(|&t| t > horizon && t <= now.saturating_add(60_000));
    }

    /// Records a crash at `now_ms` (wall clock) / `now` (monotonic), persists the history and says what follows.
    pub(crate) fn record(
        &mut self,
        store: Option<&Store>,
        module: &str,
        policy: &CrashPolicy,
        now_ms: u64,
        now: Instant,
    ) -> Verdict {
        self.times.push(now_ms);
        self.prune(now_ms, policy.window);
        if let Some(store) = store {
            let record = json!({"Module": module, "Crashes": self.times});
            if let Err(e) = store.write(&key_for(module), record.to_string().as_bytes()) {
                log::warn!("cannot persist the crashes of module {module}: {e}");
            }
        }
        if self.times.len() >= policy.limit as usize {
            self.quarantined = true;
            Verdict::Quarantine
        } else {
            let delay = backoff_for(policy.backoff, self.times.len());
            self.not_before = Some(now + delay);
            Verdict::Restart(delay)
        }
    }

    /// Whether the module is quarantined.
    pub(crate) fn quarantined(&self) -> bool {
        self.quarantined
    }

    /// Crashes inside the window as of the last update.
    pub(crate) fn count(&self) -> usize {
        self.times.len()
    }

    /// Time left before a restart is allowed, if any.
    pub(crate) fn backoff_left(&self, now: Instant) -> Option<Duration> {
        self.not_before.filter(|&t| t > now).map(|t| t - now)
    }
}

/// The crash times of a persisted record, `None` when it is not one.
fn parse_times(bytes: &[u8]) -> Option<Vec<u64>> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let list = value.get("Crashes")?.as_array()?;
    let mut times: Vec<u64> = list.iter().map(Value::as_u64).collect::<Option<_>>()?;
    times.sort_unstable();
    Some(times)
}

/// Removes every persisted crash record (reload clears quarantines).
pub(crate) fn forget_all(store: Option<&Store>) {
    let Some(store) = store else { return };
    let Ok(entries) = std::fs::read_dir(store.dir()) else { return };
    for entry in entries.flatten() {
        if let Some(name) = entry.file_name().to_str() {
            if name.starts_with(KEY_PREFIX) {
                if let Err(e) = store.remove(name) {
                    log::warn!("cannot remove crash record {name}: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CrashPolicy {
        CrashPolicy { limit: 3, window: Duration::from_secs(300), backoff: Duration::from_millis(100) }
    }

    fn temp_store(tag: &str) -> (std::path::PathBuf, Store) {
        let dir = std::env::temp_dir().join(format!("osconfig-crashes-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        (dir, store)
    }

    #[test]
    fn test_backoff_for_doubles_and_caps() {
        let first = Duration::from_millis(100);
        assert_eq!(backoff_for(first, 1), Duration::from_millis(100));
        assert_eq!(backoff_for(first, 2), Duration::from_millis(200));
        assert_eq!(backoff_for(first, 4), Duration::from_millis(800));
        assert_eq!(backoff_for(first, 20), MAX_BACKOFF);
        assert_eq!(backoff_for(first, 1000), MAX_BACKOFF);
    }

    #[test]
    fn test_key_for_sanitizes() {
        assert_eq!(key_for("Fixture"), "crashes-Fixture");
        assert_eq!(key_for("a/b c"), "crashes-a_b_c");
    }

    #[test]
    fn test_record_backoff_then_quarantine() {
        let mut log = CrashLog::default();
        let now = Instant::now();
        let t = now_ms();
        assert_eq!(log.record(None, "M", &policy(), t, now), Verdict::Restart(Duration::from_millis(100)));
        assert!(log.backoff_left(now).is_some());
        assert!(log.backoff_left(now + Duration::from_millis(101)).is_none());
        assert_eq!(log.record(None, "M", &policy(), t + 1, now), Verdict::Restart(Duration::from_millis(200)));
        assert!(!log.quarantined());
        assert_eq!(log.record(None, "M", &policy(), t + 2, now), Verdict::Quarantine);
        assert!(log.quarantined());
    }

    #[test]
    fn test_record_old_crashes_leave_the_window() {
        let mut log = CrashLog::default();
        let now = Instant::now();
        let t = now_ms();
        log.record(None, "M", &policy(), t - 400_000, now);
        log.record(None, "M", &policy(), t - 350_000, now);
        assert_eq!(log.record(None, "M", &policy(), t, now), Verdict::Restart(Duration::from_millis(100)));
        assert_eq!(log.count(), 1);
    }

    #[test]
    fn test_load_persisted_quarantine_and_forget() {
        let (dir, store) = temp_store("load");
        let now = Instant::now();
        let t = now_ms();
        let mut log = CrashLog::default();
        for i in 0..3 {
            log.record(Some(&store), "Fixture", &policy(), t + i, now);
        }
        let again = CrashLog::load(Some(&store), "Fixture", &policy());
        assert!(again.quarantined());
        assert_eq!(again.count(), 3);
        let other = CrashLog::load(Some(&store), "Other", &policy());
        assert!(!other.quarantined());
        forget_all(Some(&store));
        assert!(!CrashLog::load(Some(&store), "Fixture", &policy()).quarantined());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn test_load_expired_and_garbage_records() {
        let (dir, store) = temp_store("garbage");
        let old = now_ms() - 1_000_000;
        store.write(&key_for("Old"), format!("{{\"Crashes\":[{old},{old},{old}]}}").as_bytes()).unwrap();
        store.write(&key_for("Bad"), b"not json").unwrap();
        assert!(!CrashLog::load(Some(&store), "Old", &policy()).quarantined());
        assert_eq!(CrashLog::load(Some(&store), "Bad", &policy()).count(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
