//! The desired object `commandArguments`: parsing and validation.

use serde_json::{Map, Value};

/// What a `commandArguments` payload asks for (`action`, MIM enum 0..5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// 0: accepted, nothing is run or recorded.
    None,
    /// 1: run the reboot command.
    Reboot,
    /// 2: run the shutdown command.
    Shutdown,
    /// 3: run `arguments` through `/bin/sh -c`.
    RunCommand,
    /// 4: make `commandStatus` report the named command.
    RefreshCommandStatus,
    /// 5: cancel the named command.
    CancelCommand,
}

impl Action {
    /// The action with MIM value `v`.
    pub fn from_value(v: i64) -> Option<Action> {
        Some(match v {
            0 => Action::None,
            1 => Action::Reboot,
            2 => Action::Shutdown,
            3 => Action::RunCommand,
            4 => Action::RefreshCommandStatus,
            5 => Action::CancelCommand,
            _ => return None,
        })
    }

    /// The MIM value.
    pub fn value(self) -> i64 {
        match self {
            Action::None => 0,
            Action::Reboot => 1,
            Action::Shutdown => 2,
            Action::RunCommand => 3,
            Action::RefreshCommandStatus => 4,
            Action::CancelCommand => 5,
        }
    }

    /// Whether the action starts a process (and so creates a history entry).
    pub fn starts_process(self) -> bool {
        matches!(self, Action::Reboot | Action::Shutdown | Action::RunCommand)
    }
}

/// A validated `commandArguments` payload. Absent optional fields take their defaults (`""`, 0, false).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandArguments {
    /// `commandId`: names the command; required and non-empty for every action but `none`.
    pub command_id: String,
    /// `arguments`: the shell command line of `runCommand` (required, non-empty there; ignored elsewhere).
    pub arguments: String,
    /// `timeout` in seconds, 0 = none.
    pub timeout_seconds: u64,
    /// `singleLineTextResult`: report the output with newlines replaced by spaces.
    pub single_line_text_result: bool,
    /// `action`.
    pub action: Action,
}

/// Longest accepted `commandId`, in bytes (it is stored in the history and reported in every `commandStatus`).
pub const MAX_COMMAND_ID_BYTES: usize = 256;

/// Longest accepted `arguments`, in bytes (a command line; kept with each of the 10 history entries per client).
pub const MAX_ARGUMENTS_BYTES: usize = 16 * 1024;

/// Largest accepted `timeout`, in seconds (30 days; 0 still means no timeout).
pub const MAX_TIMEOUT_SECONDS: u64 = 30 * 24 * 3600;

/// A `commandArguments` payload over one of the bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitError {
    /// `commandId` or `arguments` is longer than its bound (the MMI answers `E2BIG`).
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// `timeout` is over [`MAX_TIMEOUT_SECONDS`] (the MMI answers `EINVAL`).
    TimeoutTooLarge(u64),
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitError::TooLong { field, len, max } => {
                write!(f, "commandArguments.{field}: {len} bytes, more than the limit of {max}")
            }
            LimitError::TimeoutTooLarge(t) => {
                write!(f, "commandArguments.timeout: {t} s, more than the limit of {MAX_TIMEOUT_SECONDS}")
            }
        }
    }
}

impl std::error::Error for LimitError {}

/// The JSON keys of `commandArguments`.
const KNOWN_KEYS: [&str; 5] = ["commandId", "arguments", "timeout", "singleLineTextResult", "action"];

impl CommandArguments {
    /// Parse and validate a payload. The error text says which field is wrong and why (for the log line).
    pub fn from_json(payload: &Value) -> Result<CommandArguments, String> {
        let obj = payload.as_object().ok_or_else(|| format!("commandArguments: expected an object, got {payload}"))?;
        if let Some(extra) = obj.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
            log::debug!("commandArguments: ignoring unknown field {extra:?}");
        }
        let action_value = match obj.get("action") {
            None => return Err("commandArguments.action: missing".to_string()),
            Some(v) => v.as_i64().ok_or_else(|| format!("commandArguments.action: expected an integer, got {v}"))?,
        };
        let action = Action::from_value(action_value)
            .ok_or_else(|| format!("commandArguments.action: unknown value {action_value} (expected 0..5)"))?;
        let command_id = string_field(obj, "commandId")?;
        if command_id.is_empty() && action != Action::None {
            return Err(format!("commandArguments.commandId: must not be empty for action {action_value}"));
        }
        let arguments = string_field(obj, "arguments")?;
        if action == Action::RunCommand && arguments.is_empty() {
            return Err("commandArguments.arguments: must not be empty for runCommand".to_string());
        }
        let timeout_seconds = match obj.get("timeout") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("commandArguments.timeout: expected a non-negative integer, got {v}"))?,
        };
        let single_line_text_result = match obj.get("singleLineTextResult") {
            None | Some(Value::Null) => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| format!("commandArguments.singleLineTextResult: expected a boolean, got {v}"))?,
        };
        Ok(CommandArguments { command_id, arguments, timeout_seconds, single_line_text_result, action })
    }

    /// Check the bounds of a request ([`MAX_COMMAND_ID_BYTES`], [`MAX_ARGUMENTS_BYTES`], [`MAX_TIMEOUT_SECONDS`]).
    /// Applied to requests only: histories read back from disk are not refused for them.
    pub fn check_limits(&self) -> Result<(), LimitError> {
        for (field, value, max) in
            [("commandId", &self.command_id, MAX_COMMAND_ID_BYTES), ("arguments", &self.arguments, MAX_ARGUMENTS_BYTES)]
        {
            if value.len() > max {
                return Err(LimitError::TooLong { field, len: value.len(), max });
            }
        }
        if self.timeout_seconds > MAX_TIMEOUT_SECONDS {
            return Err(LimitError::TimeoutTooLarge(self.timeout_seconds));
        }
        Ok(())
    }

    /// The JSON form (all five keys), used for persistence.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("commandId".into(), Value::from(self.command_id.as_str()));
        m.insert("arguments".into(), Value::from(self.arguments.as_str()));
        m.insert("timeout".into(), Value::from(self.timeout_seconds));
        m.insert("singleLineTextResult".into(), Value::from(self.single_line_text_result));
        m.insert("action".into(), Value::from(self.action.value()));
        Value::Object(m)
    }
}

/// An optional string field: absent or null is `""`, another type is an error.
fn string_field(obj: &Map<String, Value>, key: &str) -> Result<String, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(format!("commandArguments.{key}: expected a string, got {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_from_json_full_run_command() {
        let a = CommandArguments::from_json(&json!({"commandId":"1","arguments":"echo hi","timeout":5,
            "singleLineTextResult":true,"action":3}))
        .unwrap();
        assert_eq!(
            a,
            CommandArguments {
                command_id: "1".into(),
                arguments: "echo hi".into(),
                timeout_seconds: 5,
                single_line_text_result: true,
                action: Action::RunCommand
            }
        );
        assert_eq!(CommandArguments::from_json(&a.to_json()).unwrap(), a);
    }

    #[test]
    fn test_from_json_cancel_and_refresh_need_only_id_and_action() {
        let c = CommandArguments::from_json(&json!({"commandId":"x","action":5})).unwrap();
        assert_eq!(c.action, Action::CancelCommand);
        assert_eq!((c.arguments.as_str(), c.timeout_seconds, c.single_line_text_result), ("", 0, false));
        let r = CommandArguments::from_json(&json!({"commandId":"x","action":4})).unwrap();
        assert_eq!(r.action, Action::RefreshCommandStatus);
    }

    #[test]
    fn test_from_json_action_none_allows_empty_id() {
        let a = CommandArguments::from_json(&json!({"commandId":"","action":0})).unwrap();
        assert_eq!(a.action, Action::None);
        assert_eq!(CommandArguments::from_json(&json!({"action":0})).unwrap().command_id, "");
    }

    #[test]
    fn test_from_json_rejects_bad_payloads() {
        let bad = [
            json!([]),
            json!("text"),
            json!({"commandId":"1","arguments":"ls"}),
            json!({"commandId":"1","arguments":"ls","action":6}),
            json!({"commandId":"1","arguments":"ls","action":-1}),
            json!({"commandId":"1","arguments":"ls","action":"3"}),
            json!({"commandId":"1","arguments":"ls","action":3.5}),
            json!({"commandId":1,"arguments":"ls","action":3}),
            json!({"commandId":"","arguments":"ls","action":3}),
            json!({"arguments":"ls","action":3}),
            json!({"commandId":"","action":4}),
            json!({"commandId":"","action":5}),
            json!({"commandId":"","action":1}),
            json!({"commandId":"1","arguments":["ls"],"action":3}),
            json!({"commandId":"1","arguments":"","action":3}),
            json!({"commandId":"1","action":3}),
            json!({"commandId":"1","arguments":"ls","timeout":-1,"action":3}),
            json!({"commandId":"1","arguments":"ls","timeout":"5","action":3}),
            json!({"commandId":"1","arguments":"ls","timeout":1.5,"action":3}),
            json!({"commandId":"1","arguments":"ls","singleLineTextResult":1,"action":3}),
        ];
        for p in bad {
            assert!(CommandArguments::from_json(&p).is_err(), "accepted {p}");
        }
    }

    #[test]
    fn test_from_json_error_names_field() {
        let e = CommandArguments::from_json(&json!({"commandId":"1","arguments":"ls","timeout":"x","action":3}))
            .unwrap_err();
        assert!(e.contains("timeout"), "{e}");
    }

    #[test]
    fn test_check_limits_bounds_each_field() {
        let at = |id: usize, args: usize, timeout: u64| {
            CommandArguments::from_json(&json!({"commandId":"i".repeat(id),"arguments":"a".repeat(args),
                "timeout":timeout,"action":3}))
            .unwrap()
            .check_limits()
        };
        assert_eq!(at(MAX_COMMAND_ID_BYTES, MAX_ARGUMENTS_BYTES, MAX_TIMEOUT_SECONDS), Ok(()));
        assert_eq!(
            at(MAX_COMMAND_ID_BYTES + 1, 1, 0),
            Err(LimitError::TooLong { field: "commandId", len: MAX_COMMAND_ID_BYTES + 1, max: MAX_COMMAND_ID_BYTES })
        );
        assert!(matches!(at(1, MAX_ARGUMENTS_BYTES + 1, 0), Err(LimitError::TooLong { field: "arguments", .. })));
        assert_eq!(at(1, 1, MAX_TIMEOUT_SECONDS + 1), Err(LimitError::TimeoutTooLarge(MAX_TIMEOUT_SECONDS + 1)));
        assert!(at(1, 1, u64::MAX).unwrap_err().to_string().contains("timeout"));
    }

    #[test]
    fn test_action_value_roundtrip() {
        for v in 0..6 {
            assert_eq!(Action::from_value(v).unwrap().value(), v);
        }
        assert!(Action::from_value(6).is_none());
    }
}
