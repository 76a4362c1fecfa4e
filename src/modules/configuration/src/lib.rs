//! # Configuration: the OSConfig module that reports and edits `osconfig.json`
//!
//! A cdylib exporting the MMI (`libconfiguration.so`, installed as `/usr/lib/osconfig/configuration.so`).
//! GetInfo: `Configuration` 1.4, Lifetime 2 (short-lived), UserAccount 0; one component, `Configuration`.
//! The model is `mim/configuration.json` beside this crate.
//!
//! ## Reported objects (read from `<root>/etc/osconfig/osconfig.json` at every `MmiGet`)
//! | object | from | default |
//! |---|---|---|
//! | `modelVersion` (integer) | `ModelVersion` | 20 |
//! | `refreshInterval` (integer) | `ReportingIntervalSeconds`, clamped into 1..=86400 | 30 |
//! | `localManagementEnabled` (boolean) | `LocalManagement` != 0 | false |
//! | `debugLoggingEnabled` (boolean) | `LoggingLevel` == 7 | false (level 6) |
//! | `iotHubManagementEnabled` (boolean) | `IotHubManagement` != 0 | false |
//! | `iotHubProtocol` ("auto", "mqtt", "mqttWebSocket") | `IotHubProtocol` 0, 1, 2 | "auto" |
//! | `gitManagementEnabled` (boolean) | `GitManagement` != 0 | false |
//! | `gitBranch` (string) | `GitBranch` | "" |
//!
//! `iotHubManagamentEnabled` (the reference MIM file's misspelling) is answered like `iotHubManagementEnabled`.
//! A missing file gives the defaults; a file that is not a JSON object gives `EINVAL` (and an error log line).
//!
//! ## Desired objects
//! `desiredRefreshInterval` (integer 1..=86400), `desiredLocalManagementEnabled`, `desiredDebugLoggingEnabled`,
//! `desiredIotHubManagementEnabled`, `desiredGitManagementEnabled` (booleans, written as 0/1; debug logging sets
//! `LoggingLevel` 7, turning it off lowers 7 to 6), `desiredIotHubProtocol` ("auto", "mqtt", "mqttWebSocket" ->
//! 0, 1, 2), `desiredGitBranch` (string, at most 255 bytes, no control characters).
//! Every desired input is bounded by a named constant: `desiredRefreshInterval` by
//! [`settings::REPORTING_INTERVAL_RANGE`], `desiredGitBranch` by [`desired::MAX_GIT_BRANCH_LEN`] (bytes); the
//! others are booleans or one of three names. A payload of the wrong type or out of range gives `EINVAL` with a log
//! line. The file is rewritten atomically
//! (temp file + rename) only when the value changes, keeping every other key and the key order, and the file's
//! mode (0644 when the file is created). A file we cannot parse is never overwritten (`EINVAL`).
//!
//! ## Limits
//! The platform reads `osconfig.json` at start: a change here takes effect when the daemon re-reads it.
//! The root comes from `OSCONFIG_ROOT` (default `/`), so tests run against a temporary directory.
//!
//! ## Example (the Rust side, as the unit tests use it)
//! ```no_run
//! use configuration::Configuration;
//! use osconfig_mmi::Module;
//! let mut session = Configuration::open("example", 0).unwrap();
//! session.set("Configuration", "desiredRefreshInterval", &serde_json::json!(60)).unwrap();
//! assert_eq!(session.get("Configuration", "refreshInterval").unwrap(), serde_json::json!(60));
//! ```

#![deny(missing_docs)]

pub mod desired;
pub mod file;
pub mod settings;

use std::sync::{Mutex, PoisonError};

use osconfig_mmi::{validate, Errno, Lifetime, Module, ModuleInfo};
use serde_json::Value;

use crate::desired::Change;
use crate::file::CONFIG_FILE;

/// The one component this module serves.
pub const COMPONENT: &str = "Configuration";

/// Held while a session reads, edits and writes the file.
static FILE_LOCK: Mutex<()> = Mutex::new(());

/// A client session. The module keeps no state between calls: the file is the state.
#[derive(Debug)]
pub struct Configuration {
    client: String,
}

impl Module for Configuration {
    fn info(_client_name: &str) -> ModuleInfo {
        ModuleInfo {
            name: "Configuration".into(),
            description: "Reports and changes the OSConfig agent settings kept in osconfig.json".into(),
            manufacturer: "osconfig-rs".into(),
            version_major: 1,
            version_minor: 4,
            version_info: concat!("osconfig-rs ", env!("CARGO_PKG_VERSION")).into(),
            components: vec![COMPONENT.into()],
            lifetime: Lifetime::ShortLived,
            user_account: 0,
            ..ModuleInfo::default()
        }
    }

    fn open(client_name: &str, max_payload_size_bytes: u32) -> Result<Self, Errno> {
        log::info!("open for '{client_name}' (max payload {max_payload_size_bytes} bytes)");
        Ok(Configuration { client: client_name.to_string() })
    }

    fn set(&mut self, component: &str, object: &str, payload: &Value) -> Result<(), Errno> {
        osconfig_mmi::validate::component(component, COMPONENT)?;
        let change = Change::parse(object, payload)?.ok_or_else(|| validate::unknown_object(component, object))?;
        let path = osconfig_storage::under_root(CONFIG_FILE);
        // Sessions run concurrently: serialize the read-modify-write so no session's edit is lost.
        let _guard = FILE_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let mut config = file::load(&path).map_err(|e| fail(e, &path))?.unwrap_or_default();
        if !change.apply(&mut config) {
            log::info!("{component}.{object}: {} already has this value", path.display());
            return Ok(());
        }
        file::store(&path, &config).map_err(|e| fail(e, &path))?;
        log::info!("{component}.{object} applied to {} for '{}'", path.display(), self.client);
        Ok(())
    }

    fn get(&mut self, component: &str, object: &str) -> Result<Value, Errno> {
        osconfig_mmi::validate::component(component, COMPONENT)?;
        let path = osconfig_storage::under_root(CONFIG_FILE);
        let config = file::load(&path).map_err(|e| fail(e, &path))?.unwrap_or_default();
        settings::reported(&config, object).ok_or_else(|| validate::unknown_object(component, object))
    }

    fn close(self) {
        log::info!("close for '{}'", self.client);
    }
}

/// Logs the error with its cause and the file, and turns it into the MMI status.
fn fail(err: file::ConfigError, path: &std::path::Path) -> Errno {
    match std::error::Error::source(&err) {
        Some(cause) => log::error!("{}: {err}: {cause}", path.display()),
        None => log::error!("{}: {err}", path.display()),
    }
    err.into_errno()
}

osconfig_mmi::export_module!(Configuration);
