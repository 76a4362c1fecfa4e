//! systemd's watchdog, fed by the orchestrator's health: `WATCHDOG=1` is sent every half `WATCHDOG_USEC` while the
//! orchestrator is idle or inside a job that is within its time budget, and no longer once a job overruns it, so
//! systemd restarts a platform whose MPI loop is stuck (an in-process module that hangs, a deadlock) but not
//! one that runs a long, legitimate call (a module call may take up to `ModuleCallTimeoutSeconds`, an
//! `MpiSetDesired` that long per object).
//!
//! The orchestrator stamps each job's budget in a [`Health`] (two atomic stores per job, no lock, no wake-up); a thread
//! of its own, which exists only when systemd's watchdog is on, checks the stamp and pings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::notify::Notifier;

/// Time a job may take beyond its module calls' deadlines (queue handling, answers, a host restart).
pub const JOB_SLACK: Duration = Duration::from_secs(1);

/// The orchestrator's health stamp, shared with the pinger.
#[derive(Debug, Clone)]
pub struct Health {
    base: Instant,
    /// Milliseconds since `base` by which the current job must end; 0 while idle.
    busy_until_ms: Arc<AtomicU64>,
}

impl Default for Health {
    fn default() -> Self {
        Health { base: Instant::now(), busy_until_ms: Arc::new(AtomicU64::new(0)) }
    }
}

impl Health {
    /// A job starts that may take `budget`.
    pub fn busy(&self, budget: Duration) {
        let until = (Instant::now() + budget).saturating_duration_since(self.base).as_millis() as u64;
        self.busy_until_ms.store(until.max(1), Ordering::Relaxed);
    }

    /// The job ended.
    pub fn idle(&self) {
        self.busy_until_ms.store(0, Ordering::Relaxed);
    }

    /// Whether the orchestrator is idle or within its job's budget at `now`.
    pub fn healthy(&self, now: Instant) -> bool {
        let until = self.busy_until_ms.load(Ordering::Relaxed);
        until == 0 || now.saturating_duration_since(self.base).as_millis() as u64 <= until
    }
}

/// Starts the pinger when systemd's watchdog is on (`WATCHDOG_USEC` for this process); otherwise nothing.
pub fn start(notifier: &Notifier, health: &Health) {
    let Some(every) = notifier.watchdog_interval() else { return };
    let (notifier, health) = (notifier.clone(), health.clone());
    let spawned = thread::Builder::new().name("watchdog".into()).spawn(move || {
        let mut stuck_logged = false;
        loop {
            if health.healthy(Instant::now()) {
                notifier.watchdog();
                stuck_logged = false;
            } else if !stuck_logged {
                log::error!("the orchestrator overran its job's time budget: no more WATCHDOG=1 (systemd restarts us)");
                stuck_logged = true;
            }
            thread::sleep(every);
        }
    });
    if let Err(e) = spawned {
        log::error!("cannot start the watchdog thread: {e}; systemd's watchdog will restart the platform");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_healthy_idle_within_and_past_budget() {
        let health = Health::default();
        assert!(health.healthy(Instant::now()));
        health.busy(Duration::from_millis(200));
        assert!(health.healthy(Instant::now()));
        assert!(!health.healthy(Instant::now() + Duration::from_secs(1)));
        health.idle();
        assert!(health.healthy(Instant::now() + Duration::from_secs(1)));
    }
}
