//! The `osconfig.json` keys this module reads and writes, their defaults, and the reported objects.

use serde_json::{json, Map, Value};

/// `ModelVersion`: the device model version.
pub const MODEL_VERSION: &str = "ModelVersion";
/// `ReportingIntervalSeconds`: seconds between reports, 1..=86400.
pub const REPORTING_INTERVAL: &str = "ReportingIntervalSeconds";
/// `LocalManagement`: 0/1, the DC/RC files are used.
pub const LOCAL_MANAGEMENT: &str = "LocalManagement";
/// `LoggingLevel`: syslog-style 0..=7, 7 is debug.
pub const LOGGING_LEVEL: &str = "LoggingLevel";
/// `IotHubManagement`: 0/1, the IoT Hub agent is used.
pub const IOT_HUB_MANAGEMENT: &str = "IotHubManagement";
/// `IotHubProtocol`: 0 auto, 1 MQTT, 2 MQTT over WebSocket.
pub const IOT_HUB_PROTOCOL: &str = "IotHubProtocol";
/// `GitManagement`: 0/1.
pub const GIT_MANAGEMENT: &str = "GitManagement";
/// `GitBranch`: the branch the Git authority follows.
pub const GIT_BRANCH: &str = "GitBranch";

/// Default `ModelVersion` (the shipped file's value).
pub const DEFAULT_MODEL_VERSION: i64 = 20;
/// Default `ReportingIntervalSeconds`.
pub const DEFAULT_REPORTING_INTERVAL: i64 = 30;
/// Smallest and largest `ReportingIntervalSeconds`.
pub const REPORTING_INTERVAL_RANGE: std::ops::RangeInclusive<i64> = 1..=86400;
/// Default `LoggingLevel` (informational).
pub const DEFAULT_LOGGING_LEVEL: i64 = 6;
/// The `LoggingLevel` that means debug logging.
pub const DEBUG_LOGGING_LEVEL: i64 = 7;

/// The `iotHubProtocol` enum values of the MIM, indexed by the `IotHubProtocol` number.
pub const PROTOCOLS: [&str; 3] = ["auto", "mqtt", "mqttWebSocket"];

/// The reported objects, in MIM order. `iotHubManagamentEnabled` (sic) is the spelling of the reference MIM file;
/// the reference code and the shipped `Reported` list use `iotHubManagementEnabled`: both are answered.
pub const REPORTED: [&str; 9] = [
    "modelVersion",
    "refreshInterval",
    "localManagementEnabled",
    "debugLoggingEnabled",
    "iotHubManagementEnabled",
    "iotHubManagamentEnabled",
    "iotHubProtocol",
    "gitManagementEnabled",
    "gitBranch",
];

/// The value of a reported object computed from the parsed `osconfig.json` object (empty when the file is
/// missing), or `None` for a name that is not a reported object. Absent or wrong-typed keys give the defaults:
/// ModelVersion 20, ReportingIntervalSeconds 30 (clamped into 1..=86400), LocalManagement/IotHubManagement/
/// GitManagement off, LoggingLevel 6, IotHubProtocol 0 ("auto"; out of range too), GitBranch "".
pub fn reported(config: &Map<String, Value>, object: &str) -> Option<Value> {
    let value = match object {
        "modelVersion" => json!(integer(config, MODEL_VERSION).unwrap_or(DEFAULT_MODEL_VERSION)),
        "refreshInterval" => json!(refresh_interval(config)),
        "localManagementEnabled" => json!(flag(config, LOCAL_MANAGEMENT)),
        "debugLoggingEnabled" => json!(logging_level(config) == DEBUG_LOGGING_LEVEL),
        "iotHubManagementEnabled" | "iotHubManagamentEnabled" => json!(flag(config, IOT_HUB_MANAGEMENT)),
        "iotHubProtocol" => json!(protocol_name(integer(config, IOT_HUB_PROTOCOL).unwrap_or(0))),
        "gitManagementEnabled" => json!(flag(config, GIT_MANAGEMENT)),
        "gitBranch" => json!(config.get(GIT_BRANCH).and_then(Value::as_str).unwrap_or_default()),
        _ => return None,
    };
    Some(value)
}

/// `ReportingIntervalSeconds` clamped into its range, or the default.
pub fn refresh_interval(config: &Map<String, Value>) -> i64 {
    integer(config, REPORTING_INTERVAL)
        .map(|v| v.clamp(*REPORTING_INTERVAL_RANGE.start(), *REPORTING_INTERVAL_RANGE.end()))
        .unwrap_or(DEFAULT_REPORTING_INTERVAL)
}

/// `LoggingLevel` when in 0..=7, else the default.
pub fn logging_level(config: &Map<String, Value>) -> i64 {
    integer(config, LOGGING_LEVEL).filter(|l| (0..=DEBUG_LOGGING_LEVEL).contains(l)).unwrap_or(DEFAULT_LOGGING_LEVEL)
}

/// The MIM name of an `IotHubProtocol` number; an unknown number is "auto" (the reference's fallback).
pub fn protocol_name(number: i64) -> &'static str {
    usize::try_from(number).ok().and_then(|i| PROTOCOLS.get(i)).copied().unwrap_or(PROTOCOLS[0])
}

/// The `IotHubProtocol` number of a MIM name.
pub fn protocol_number(name: &str) -> Option<i64> {
    PROTOCOLS.iter().position(|p| *p == name).map(|i| i as i64)
}

/// An integer key: a JSON integer, or a float with no fractional part (some editors write `30.0`).
fn integer(config: &Map<String, Value>, key: &str) -> Option<i64> {
    let value = config.get(key)?;
    value.as_i64().or_else(|| value.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e15).map(|f| f as i64))
}

/// A 0/1 switch: a non-zero number or `true` is on; absent or anything else is off.
fn flag(config: &Map<String, Value>, key: &str) -> bool {
    match config.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(v @ Value::Number(_)) => v.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn test_reported_defaults_when_empty() {
        let c = Map::new();
        let expect = [
            ("modelVersion", json!(20)),
            ("refreshInterval", json!(30)),
            ("localManagementEnabled", json!(false)),
            ("debugLoggingEnabled", json!(false)),
            ("iotHubManagementEnabled", json!(false)),
            ("iotHubManagamentEnabled", json!(false)),
            ("iotHubProtocol", json!("auto")),
            ("gitManagementEnabled", json!(false)),
            ("gitBranch", json!("")),
        ];
        assert_eq!(expect.len(), REPORTED.len());
        for (object, value) in expect {
            assert_eq!(reported(&c, object), Some(value), "{object}");
        }
    }

    #[test]
    fn test_reported_values_from_file() {
        let c = config(json!({
            "ModelVersion": 16, "ReportingIntervalSeconds": 120, "LocalManagement": 1, "LoggingLevel": 7,
            "IotHubManagement": 1, "IotHubProtocol": 2, "GitManagement": true, "GitBranch": "main"
        }));
        assert_eq!(reported(&c, "modelVersion"), Some(json!(16)));
        assert_eq!(reported(&c, "refreshInterval"), Some(json!(120)));
        assert_eq!(reported(&c, "localManagementEnabled"), Some(json!(true)));
        assert_eq!(reported(&c, "debugLoggingEnabled"), Some(json!(true)));
        assert_eq!(reported(&c, "iotHubManagementEnabled"), Some(json!(true)));
        assert_eq!(reported(&c, "iotHubProtocol"), Some(json!("mqttWebSocket")));
        assert_eq!(reported(&c, "gitManagementEnabled"), Some(json!(true)));
        assert_eq!(reported(&c, "gitBranch"), Some(json!("main")));
    }

    #[test]
    fn test_reported_out_of_range_and_wrong_types() {
        let c = config(json!({
            "ModelVersion": "20", "ReportingIntervalSeconds": 0, "LocalManagement": "1", "LoggingLevel": 9,
            "IotHubProtocol": 7, "GitBranch": 5
        }));
        assert_eq!(reported(&c, "modelVersion"), Some(json!(20)));
        assert_eq!(reported(&c, "refreshInterval"), Some(json!(1)));
        assert_eq!(reported(&c, "localManagementEnabled"), Some(json!(false)));
        assert_eq!(reported(&c, "debugLoggingEnabled"), Some(json!(false)));
        assert_eq!(reported(&c, "iotHubProtocol"), Some(json!("auto")));
        assert_eq!(reported(&c, "gitBranch"), Some(json!("")));
        let c = config(json!({"ReportingIntervalSeconds": 100000.0, "IotHubProtocol": -1}));
        assert_eq!(reported(&c, "refreshInterval"), Some(json!(86400)));
        assert_eq!(reported(&c, "iotHubProtocol"), Some(json!("auto")));
    }

    #[test]
    fn test_reported_unknown() {
        let c = Map::new();
        assert_eq!(reported(&c, "desiredRefreshInterval"), None);
        assert_eq!(reported(&c, ""), None);
        assert_eq!(reported(&c, "RefreshInterval"), None);
    }

    #[test]
    fn test_protocol_name_and_number() {
        for (i, name) in PROTOCOLS.iter().enumerate() {
            assert_eq!(protocol_name(i as i64), *name);
            assert_eq!(protocol_number(name), Some(i as i64));
        }
        assert_eq!(protocol_number("MQTT"), None);
        assert_eq!(protocol_name(3), "auto");
    }
}
