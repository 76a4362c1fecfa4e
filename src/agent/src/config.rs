//! The keys of `osconfig.json` the agent reads, with the platform's rules: a missing file or key takes the
//! default, a value of the wrong type is ignored with a warning, a number out of range is clamped with a warning,
//! and a file that is not a JSON object is an error.
//!
//! A reader of its own rather than `osconfig_platform::config`: that one is public, but depending on the
//! platform crate would link the whole daemon (manager, watcher, MIM catalog) into the agent.

use std::path::Path;

use serde_json::{Map, Value};

use crate::twin::ReportedEntry;

/// Most `Reported` entries read (more are ignored with a warning).
pub const MAX_REPORTED_ENTRIES: usize = 1024;

/// What the agent uses of `osconfig.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `LoggingLevel` 0..=7 (default 6).
    pub logging_level: i64,
    /// `MaxLogSize` bytes (default 1048576), times `MaxLogSizeDebugMultiplier` (5) at level 7.
    pub max_log_size: u64,
    /// `ModelVersion` (default 16): the model id is `dtmi:osconfig:deviceosconfiguration;<ModelVersion>`.
    pub model_version: i64,
    /// `ReportingIntervalSeconds` 1..=86400 (default 30).
    pub reporting_interval_seconds: u64,
    /// `IotHubManagement` 0/1 (default 0).
    pub iot_hub_management: bool,
    /// `IotHubProtocol` 0 auto, 1 MQTT, 2 MQTT over WebSocket (default 0).
    pub iot_hub_protocol: i64,
    /// `Reported`, in order.
    pub reported: Vec<ReportedEntry>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            logging_level: 6,
            max_log_size: 1_048_576,
            model_version: 16,
            reporting_interval_seconds: 30,
            iot_hub_management: false,
            iot_hub_protocol: 0,
            reported: Vec::new(),
        }
    }
}

impl Config {
    /// The model id the agent announces.
    pub fn model_id(&self) -> String {
        format!("dtmi:osconfig:deviceosconfiguration;{}", self.model_version)
    }
}

/// Reads `path`: the configuration and one line per ignored or clamped value; a missing file gives the defaults.
pub fn load(path: &Path) -> Result<(Config, Vec<String>), String> {
    match std::fs::read(path) {
        Ok(bytes) => parse(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok((Config::default(), vec![format!("{} does not exist; using the defaults", path.display())]))
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Parses the text of `osconfig.json`.
pub fn parse(bytes: &[u8]) -> Result<(Config, Vec<String>), String> {
    let map = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err("not a JSON object".into()),
        Err(e) => return Err(format!("not valid JSON: {e}")),
    };
    let mut r = Reader { map: &map, warnings: Vec::new() };
    let d = Config::default();
    let logging_level = r.int("LoggingLevel", 0, 7, d.logging_level);
    let mut max_log_size = r.int("MaxLogSize", 1024, 1 << 30, d.max_log_size as i64) as u64;
    let multiplier = r.int("MaxLogSizeDebugMultiplier", 1, 100, 5) as u64;
    if logging_level == 7 {
        max_log_size = max_log_size.saturating_mul(multiplier);
    }
    let config = Config {
        logging_level,
        max_log_size,
        model_version: r.int("ModelVersion", 1, i64::from(u32::MAX), d.model_version),
        reporting_interval_seconds: r.int("ReportingIntervalSeconds", 1, 86_400, 30) as u64,
        iot_hub_management: r.int("IotHubManagement", 0, 1, 0) == 1,
        iot_hub_protocol: r.int("IotHubProtocol", 0, 2, 0),
        reported: r.reported(),
    };
    Ok((config, r.warnings))
}

struct Reader<'a> {
    map: &'a Map<String, Value>,
    warnings: Vec<String>,
}

impl Reader<'_> {
    fn int(&mut self, key: &str, min: i64, max: i64, default: i64) -> i64 {
        let n = match self.map.get(key) {
            None => return default,
            Some(Value::Bool(b)) => i64::from(*b),
            Some(Value::Number(n)) if n.is_i64() => n.as_i64().unwrap_or(default),
            Some(Value::Number(n)) if n.is_u64() => i64::MAX,
            Some(other) => {
                self.warnings.push(format!("{key}: {other} is not an integer; using the default {default}"));
                return default;
            }
        };
        let clamped = n.clamp(min, max);
        if clamped != n {
            self.warnings.push(format!("{key}: {n} is out of range {min}..{max}; using {clamped}"));
        }
        clamped
    }

    fn reported(&mut self) -> Vec<ReportedEntry> {
        let items = match self.map.get("Reported") {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.warnings.push(format!("Reported: {other} is not an array; ignored"));
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            let component = item.get("ComponentName").and_then(Value::as_str).filter(|s| !s.is_empty());
            let object = item.get("ObjectName").and_then(Value::as_str).filter(|s| !s.is_empty());
            match (component, object) {
                (Some(c), Some(o)) if out.len() < MAX_REPORTED_ENTRIES => {
                    out.push(ReportedEntry { component: c.to_string(), object: o.to_string() })
                }
                (Some(_), Some(_)) => {
                    self.warnings.push(format!("Reported: more than {MAX_REPORTED_ENTRIES} entries; the rest ignored"));
                    break;
                }
                _ => self.warnings.push(format!("Reported: {item} lacks ComponentName or ObjectName; entry ignored")),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_reference_keys() {
        let (c, w) = parse(
            br#"{"LoggingLevel":7,"MaxLogSize":2048,"ModelVersion":20,"ReportingIntervalSeconds":5,"IotHubManagement":1,
                "IotHubProtocol":2,"Reported":[{"ComponentName":"DeviceInfo","ObjectName":"osName"},{"ComponentName":"X"}]}"#,
        )
        .unwrap();
        assert_eq!(c.logging_level, 7);
        assert_eq!(c.max_log_size, 2048 * 5);
        assert_eq!(c.model_id(), "dtmi:osconfig:deviceosconfiguration;20");
        assert_eq!(c.reporting_interval_seconds, 5);
        assert!(c.iot_hub_management);
        assert_eq!(c.iot_hub_protocol, 2);
        assert_eq!(c.reported, [ReportedEntry { component: "DeviceInfo".into(), object: "osName".into() }]);
        assert_eq!(w.len(), 1, "{w:?}");
    }

    #[test]
    fn test_parse_defaults_clamps_and_errors() {
        let (c, w) =
            parse(br#"{"ReportingIntervalSeconds":0,"IotHubProtocol":"mqtt","IotHubManagement":true}"#).unwrap();
        assert_eq!(c.reporting_interval_seconds, 1);
        assert_eq!(c.iot_hub_protocol, 0);
        assert!(c.iot_hub_management);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(parse(b"{}").unwrap().0, Config::default());
        assert!(parse(b"[]").unwrap_err().contains("not a JSON object"));
        assert!(parse(b"{").unwrap_err().contains("not valid JSON"));
        let (c, w) = load(Path::new("/nonexistent/osconfig.json")).unwrap();
        assert_eq!((c, w.len()), (Config::default(), 1));
    }
}
