//! Our read-only MPI extension endpoints, `/PlatformModules` and `/PlatformStatus` (documented with the routes in
//! `CONFIGURATION.md`). Reference clients never call them; they take no body and no session.
//!
//! `/PlatformModules`: a JSON array, one element per module in use:
//! `{"name":"DeviceInfo","path":"/usr/lib/osconfig/deviceinfo.so","version":"3.0.0.0","components":["DeviceInfo"],
//! "lifetime":2,"inProcess":false,"hostPid":1234,"state":"running","crashes":0,"mim":true}` (`hostPid` null when no
//! host runs; `state` one of `running`, `idle`, `restarting`, `quarantined`; `mim` whether its MIM is installed
//! and checks its payloads).
//!
//! `/PlatformStatus`: `{"version":"0.1.0","uptimeSeconds":12,"sessions":3,"modules":4,"watcher":{"state":"watching",
//! "desiredPath":"...","reportedPath":"...","lastApply":null}}`, `lastApply` being
//! `{"at":"2026-12-02T10:00:00Z","result":"applied"|"partial"|"rejected","detail":"...","failed":["C.o",...]}`.

use std::time::{Instant, UNIX_EPOCH};

use osconfig_mim::Catalog;
use serde_json::{json, Value};

use crate::manager::ModuleReport;
use crate::shared::{Shared, WatcherStatus};

/// The `/PlatformModules` body.
pub fn modules_body(reports: &[ModuleReport], catalog: &Catalog) -> Vec<u8> {
    let modules: Vec<Value> = reports
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "path": m.path.to_string_lossy(),
                "version": m.version,
                "components": m.components,
                "lifetime": m.lifetime,
                "inProcess": m.in_process,
                "hostPid": m.host_pid,
                "state": m.state.as_str(),
                "crashes": m.crashes,
                "mim": !m.components.is_empty() && m.components.iter().all(|c| catalog.knows(c)),
            })
        })
        .collect();
    serde_json::to_vec(&modules).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a time since the Unix epoch.
pub fn iso_utc(at: std::time::SystemTime) -> String {
    let unix = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    osconfig_logging::format_utc(unix).replacen(' ', "T", 1).replace("+0000", "Z")
}

fn watcher_json(w: &WatcherStatus) -> Value {
    json!({
        "state": w.state,
        "desiredPath": w.desired_path.to_string_lossy(),
        "reportedPath": w.reported_path.to_string_lossy(),
        "lastApply": w.last_apply.as_ref().map(|a| json!({
            "at": iso_utc(a.at),
            "result": a.result.as_str(),
            "detail": a.detail,
            "failed": a.failed,
        })),
    })
}

/// The `/PlatformStatus` body.
pub fn status_body(shared: &Shared, sessions: usize, modules: usize) -> Vec<u8> {
    let status = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": Instant::now().saturating_duration_since(shared.started).as_secs(),
        "sessions": sessions,
        "modules": modules,
        "watcher": watcher_json(&shared.watcher()),
    });
    serde_json::to_vec(&status).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::{Duration, SystemTime};

    use crate::manager::ModuleState;
    use crate::shared::{ApplyRecord, ApplyResult};

    #[test]
    fn test_modules_body_fields() {
        let report = ModuleReport {
            name: "HostName".into(),
            path: PathBuf::from("/usr/lib/osconfig/hostname.so"),
            version: "1.0.0.0".into(),
            components: vec!["HostName".into()],
            lifetime: 2,
            in_process: false,
            host_pid: None,
            state: ModuleState::Idle,
            crashes: 1,
        };
        let body: Value = serde_json::from_slice(&modules_body(&[report], &Catalog::default())).unwrap();
        assert_eq!(
            body,
            json!([{"name":"HostName","path":"/usr/lib/osconfig/hostname.so","version":"1.0.0.0",
                "components":["HostName"],"lifetime":2,"inProcess":false,"hostPid":null,"state":"idle","crashes":1,
                "mim":false}])
        );
    }

    #[test]
    fn test_status_body_with_last_apply() {
        let shared = Shared::new("/d.json".into(), "/r.json".into());
        shared.update_watcher(|w| {
            w.state = "watching".into();
            w.last_apply = Some(ApplyRecord {
                at: UNIX_EPOCH + Duration::from_secs(86_400),
                result: ApplyResult::Partial,
                detail: "1 of 2 objects failed".into(),
                failed: vec!["HostName.desiredName".into()],
            });
        });
        let body: Value = serde_json::from_slice(&status_body(&shared, 3, 4)).unwrap();
        assert_eq!(body["sessions"], 3);
        assert_eq!(body["modules"], 4);
        assert_eq!(body["watcher"]["state"], "watching");
        assert_eq!(body["watcher"]["desiredPath"], "/d.json");
        assert_eq!(body["watcher"]["lastApply"]["at"], "1970-01-02T00:00:00Z");
        assert_eq!(body["watcher"]["lastApply"]["result"], "partial");
        assert_eq!(body["watcher"]["lastApply"]["failed"], json!(["HostName.desiredName"]));
        assert!(iso_utc(SystemTime::now()).ends_with('Z'));
    }
}
