//! The desired objects: payload validation and the edit each one makes to `osconfig.json`.

use osconfig_mmi::{validate, Errno};
use serde_json::{json, Map, Value};

use crate::settings::{self, DEBUG_LOGGING_LEVEL, DEFAULT_LOGGING_LEVEL, REPORTING_INTERVAL_RANGE};

/// The desired objects, in MIM order.
pub const DESIRED: [&str; 7] = [
    "desiredRefreshInterval",
    "desiredLocalManagementEnabled",
    "desiredDebugLoggingEnabled",
    "desiredIotHubManagementEnabled",
    "desiredIotHubProtocol",
    "desiredGitManagementEnabled",
    "desiredGitBranch",
];

/// Longest accepted `desiredGitBranch` (git itself has no limit; file names do).
pub const MAX_GIT_BRANCH_LEN: usize = 255;

/// One validated edit of `osconfig.json`.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Set `key` to `value`.
    Set(&'static str, Value),
    /// `desiredDebugLoggingEnabled`: true sets `LoggingLevel` 7; false lowers a level of 7 to the default 6 and
    /// leaves any other valid level alone (an absent or invalid level is written as 6).
    DebugLogging(bool),
}

impl Change {
    /// Validates a desired object's payload against the MIM (logging the reason at error level). `Ok(None)` for a
    /// name that is not a desired object.
    pub fn parse(object: &str, payload: &Value) -> Result<Option<Change>, Errno> {
        let what = format!("Configuration.{object}");
        let what = what.as_str();
        let change = match object {
            "desiredRefreshInterval" => {
                let (min, max) = (*REPORTING_INTERVAL_RANGE.start(), *REPORTING_INTERVAL_RANGE.end());
                Change::Set(settings::REPORTING_INTERVAL, json!(validate::as_i64_in(payload, what, min, max)?))
            }
            "desiredLocalManagementEnabled" => switch(settings::LOCAL_MANAGEMENT, payload, what)?,
            "desiredDebugLoggingEnabled" => Change::DebugLogging(validate::as_bool(payload, what)?),
            "desiredIotHubManagementEnabled" => switch(settings::IOT_HUB_MANAGEMENT, payload, what)?,
            "desiredIotHubProtocol" => {
                let name = validate::as_str_enum(payload, what, &settings::PROTOCOLS)?;
                let number = settings::protocol_number(name).ok_or(Errno::EINVAL)?;
                Change::Set(settings::IOT_HUB_PROTOCOL, json!(number))
            }
            "desiredGitManagementEnabled" => switch(settings::GIT_MANAGEMENT, payload, what)?,
            "desiredGitBranch" => Change::Set(settings::GIT_BRANCH, json!(git_branch(payload, what)?)),
            _ => return Ok(None),
        };
        Ok(Some(change))
    }

    /// Applies the edit to the parsed file; returns whether anything changed (nothing to write otherwise).
    /// An existing key keeps its place; a new key is appended.
    pub fn apply(&self, config: &mut Map<String, Value>) -> bool {
        let (key, value) = match self {
            Change::Set(key, value) => (*key, value.clone()),
            Change::DebugLogging(on) => {
                let level = settings::logging_level(config);
                let new = match (on, level) {
                    (true, _) => DEBUG_LOGGING_LEVEL,
                    (false, DEBUG_LOGGING_LEVEL) => DEFAULT_LOGGING_LEVEL,
                    (false, other) => other,
                };
                (settings::LOGGING_LEVEL, json!(new))
            }
        };
        if config.get(key) == Some(&value) {
            return false;
        }
        config.insert(key.to_string(), value);
        true
    }
}

/// A boolean desired object stored as the file's 0/1 number.
fn switch(key: &'static str, payload: &Value, what: &str) -> Result<Change, Errno> {
    Ok(Change::Set(key, json!(u8::from(validate::as_bool(payload, what)?))))
}

/// A branch name: a string of at most 255 characters with no control characters (it ends up in a JSON file and
/// in git command lines). Empty is allowed (no branch).
fn git_branch<'a>(payload: &'a Value, what: &str) -> Result<&'a str, Errno> {
    let branch = validate::as_str(payload, what)?;
    if branch.len() > MAX_GIT_BRANCH_LEN || branch.chars().any(char::is_control) {
        log::error!("{what}: expected a branch name of at most {MAX_GIT_BRANCH_LEN} printable characters");
        return Err(Errno::EINVAL);
    }
    Ok(branch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(object: &str, payload: Value) -> Result<Option<Change>, Errno> {
        Change::parse(object, &payload)
    }

    #[test]
    fn test_parse_valid_payloads() {
        assert_eq!(
            parse("desiredRefreshInterval", json!(1)),
            Ok(Some(Change::Set("ReportingIntervalSeconds", json!(1))))
        );
        assert_eq!(
            parse("desiredRefreshInterval", json!(86400)),
            Ok(Some(Change::Set("ReportingIntervalSeconds", json!(86400))))
        );
        assert_eq!(
            parse("desiredLocalManagementEnabled", json!(true)),
            Ok(Some(Change::Set("LocalManagement", json!(1))))
        );
        assert_eq!(parse("desiredDebugLoggingEnabled", json!(false)), Ok(Some(Change::DebugLogging(false))));
        assert_eq!(
            parse("desiredIotHubManagementEnabled", json!(false)),
            Ok(Some(Change::Set("IotHubManagement", json!(0))))
        );
        assert_eq!(parse("desiredIotHubProtocol", json!("mqtt")), Ok(Some(Change::Set("IotHubProtocol", json!(1)))));
        assert_eq!(
            parse("desiredIotHubProtocol", json!("mqttWebSocket")),
            Ok(Some(Change::Set("IotHubProtocol", json!(2))))
        );
        assert_eq!(parse("desiredGitManagementEnabled", json!(true)), Ok(Some(Change::Set("GitManagement", json!(1)))));
        assert_eq!(
            parse("desiredGitBranch", json!("release/1.0")),
            Ok(Some(Change::Set("GitBranch", json!("release/1.0"))))
        );
        assert_eq!(parse("desiredGitBranch", json!("")), Ok(Some(Change::Set("GitBranch", json!("")))));
    }

    #[test]
    fn test_parse_invalid_payloads() {
        let bad = [
            ("desiredRefreshInterval", json!(0)),
            ("desiredRefreshInterval", json!(86401)),
            ("desiredRefreshInterval", json!(-5)),
            ("desiredRefreshInterval", json!(30.5)),
            ("desiredRefreshInterval", json!("30")),
            ("desiredLocalManagementEnabled", json!(1)),
            ("desiredLocalManagementEnabled", json!("true")),
            ("desiredDebugLoggingEnabled", json!(null)),
            ("desiredIotHubManagementEnabled", json!([true])),
            ("desiredIotHubProtocol", json!("amqp")),
            ("desiredIotHubProtocol", json!("MQTT")),
            ("desiredIotHubProtocol", json!(1)),
            ("desiredGitManagementEnabled", json!({})),
            ("desiredGitBranch", json!(7)),
            ("desiredGitBranch", json!("main\nrm -rf")),
            ("desiredGitBranch", json!("b".repeat(256))),
        ];
        for (object, payload) in bad {
            assert_eq!(parse(object, payload.clone()), Err(Errno::EINVAL), "{object} {payload}");
        }
    }

    #[test]
    fn test_parse_unknown_objects() {
        assert_eq!(parse("refreshInterval", json!(5)), Ok(None));
        assert_eq!(parse("", json!(5)), Ok(None));
        assert_eq!(parse("desiredFullLoggingEnabled", json!(true)), Ok(None));
    }

    #[test]
    fn test_apply_set_keeps_order_and_is_idempotent() {
        let mut config = json!({"A": 1, "ReportingIntervalSeconds": 30, "Z": 2}).as_object().unwrap().clone();
        let change = Change::Set("ReportingIntervalSeconds", json!(60));
        assert!(change.apply(&mut config));
        assert!(!change.apply(&mut config));
        let keys: Vec<&String> = config.keys().collect();
        assert_eq!(keys, ["A", "ReportingIntervalSeconds", "Z"]);
        assert!(Change::Set("GitBranch", json!("x")).apply(&mut config));
        assert_eq!(config.keys().next_back().unwrap(), "GitBranch");
    }

    #[test]
    fn test_apply_debug_logging() {
        let mut config = Map::new();
        assert!(Change::DebugLogging(false).apply(&mut config));
        assert_eq!(config["LoggingLevel"], json!(6));
        assert!(!Change::DebugLogging(false).apply(&mut config));
        assert!(Change::DebugLogging(true).apply(&mut config));
        assert_eq!(config["LoggingLevel"], json!(7));
        assert!(!Change::DebugLogging(true).apply(&mut config));
        assert!(Change::DebugLogging(false).apply(&mut config));
        assert_eq!(config["LoggingLevel"], json!(6));
        config.insert("LoggingLevel".into(), json!(3));
        assert!(!Change::DebugLogging(false).apply(&mut config));
        assert_eq!(config["LoggingLevel"], json!(3));
    }
}
