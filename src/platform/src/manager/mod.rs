//! Modules Manager (stub; helper-h replaces this file with the real implementation).
//!
//! API as agreed in the issue 4 contract. This stub serves no component: every call fails with 22 (EINVAL).

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How the manager finds, runs and supervises modules.
#[derive(Debug, Clone)]
pub struct ManagerSettings {
    /// Directories searched for `*.so` modules.
    pub module_dirs: Vec<PathBuf>,
    /// The `osconfig-modulehost` executable.
    pub host_binary: PathBuf,
    /// Directory of the host sockets.
    pub run_dir: PathBuf,
    /// Directory of the manager's persisted state (crash counts).
    pub state_dir: PathBuf,
    /// Root passed to hosts and in-process modules as `OSCONFIG_ROOT`.
    pub root: PathBuf,
    /// Deadline of one module call.
    pub call_timeout: Duration,
    /// Crashes within `crash_window` that quarantine a module.
    pub crash_limit: u32,
    /// Window of `crash_limit`.
    pub crash_window: Duration,
    /// First restart back-off.
    pub restart_backoff: Duration,
    /// Idle time after which a Lifetime 2 host is stopped.
    pub idle_unload: Duration,
    /// Modules loaded in-process.
    pub in_process: Vec<String>,
}

/// The MPI layer's handle for one MPI session.
pub type ClientId = u64;

/// The Modules Manager (stub).
#[derive(Debug)]
pub struct ModulesManager {
    settings: ManagerSettings,
}

impl ModulesManager {
    /// Discovers and identifies modules.
    pub fn start(settings: ManagerSettings) -> ModulesManager {
        ModulesManager { settings }
    }
    /// Rediscovers modules and clears quarantines.
    pub fn reload(&mut self, settings: ManagerSettings) {
        self.settings = settings;
    }
    /// Registers an MPI client.
    pub fn open(&mut self, _client: ClientId, _client_name: &str, _max_payload_size_bytes: u32) {}
    /// Closes the client's MMI sessions.
    pub fn close(&mut self, _client: ClientId) {}
    /// MmiSet on the module serving `component`.
    pub fn set(&mut self, _client: ClientId, _component: &str, _object: &str, _payload: &[u8]) -> Result<(), i32> {
        Err(22)
    }
    /// MmiGet on the module serving `component`.
    pub fn get(&mut self, _client: ClientId, _component: &str, _object: &str) -> Result<Vec<u8>, i32> {
        Err(22)
    }
    /// Periodic work.
    pub fn tick(&mut self, _now: Instant) {}
    /// When `tick` wants to run next.
    pub fn next_tick(&self) -> Option<Instant> {
        None
    }
    /// Served components.
    pub fn components(&self) -> Vec<String> {
        Vec::new()
    }
    /// Stops every host.
    pub fn shutdown(&mut self) {}
}
