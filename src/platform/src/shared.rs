//! What the orchestrator, the Watcher and the MPI routes share: the MIM catalog in force, the Watcher's
//! status and the platform's start time. Each part has its own lock, held only to copy a value in or out.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use osconfig_mim::Catalog;

/// How the Watcher's last look at the desired file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyResult {
    /// Every object that needed it was applied.
    Applied,
    /// Some objects failed (named in [`ApplyRecord::failed`]); the others were applied.
    Partial,
    /// The file was refused as a whole (insecure, too large, not JSON, not an object of objects, or against a
    /// MIM): nothing was applied and the last good document is kept.
    Rejected,
}

impl ApplyResult {
    /// `applied`, `partial` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyResult::Applied => "applied",
            ApplyResult::Partial => "partial",
            ApplyResult::Rejected => "rejected",
        }
    }
}

/// The Watcher's last apply.
#[derive(Debug, Clone)]
pub struct ApplyRecord {
    /// When it ended.
    pub at: SystemTime,
    /// How it ended.
    pub result: ApplyResult,
    /// One line: what was applied, or why the file was refused.
    pub detail: String,
    /// `Component.object` of each object that failed.
    pub failed: Vec<String>,
}

/// What `/PlatformStatus` shows of the Watcher.
#[derive(Debug, Clone)]
pub struct WatcherStatus {
    /// `off` (`LocalManagement` 0), `watching`, or `waiting for <dir>` (the desired file's directory is missing).
    pub state: String,
    /// The desired (DC) file.
    pub desired_path: PathBuf,
    /// The reported (RC) file.
    pub reported_path: PathBuf,
    /// The last apply, if any.
    pub last_apply: Option<ApplyRecord>,
}

/// The shared state.
#[derive(Debug)]
pub struct Shared {
    /// When the platform started.
    pub started: Instant,
    catalog: RwLock<Arc<Catalog>>,
    watcher: Mutex<WatcherStatus>,
}

impl Shared {
    /// Shared state with an empty catalog and the Watcher off.
    pub fn new(desired_path: PathBuf, reported_path: PathBuf) -> Arc<Shared> {
        Arc::new(Shared {
            started: Instant::now(),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            watcher: Mutex::new(WatcherStatus { state: "off".into(), desired_path, reported_path, last_apply: None }),
        })
    }

    /// The MIM catalog in force.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the MIM catalog (after the modules were (re)loaded); the new one, for the caller to keep.
    pub fn set_catalog(&self, catalog: Catalog) -> Arc<Catalog> {
        let catalog = Arc::new(catalog);
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&catalog);
        catalog
    }

    /// A copy of the Watcher's status.
    pub fn watcher(&self) -> WatcherStatus {
        self.watcher.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes the Watcher's status.
    pub fn update_watcher(&self, change: impl FnOnce(&mut WatcherStatus)) {
        change(&mut self.watcher.lock().unwrap_or_else(|e| e.into_inner()));
    }
}
