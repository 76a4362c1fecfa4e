//! `osconfigctl status`: the platform's state, from our extension endpoint `GET /PlatformStatus`.

use serde_json::Value;

use crate::client::connection::Connection;
use crate::client::error::CtlError;
use crate::client::options::CommonArgs;

/// Help text of `osconfigctl status`.
pub const USAGE: &str = "\
usage: osconfigctl status [options]

Shows the platform's state (GET /PlatformStatus, no session): its version and uptime, open sessions, modules,
and the desired-file watcher (off, watching, or waiting for a directory; its files; the last apply's result,
detail and failed objects). With --json, the platform's JSON object as it sent it.
";

/// `osconfigctl status ...`: returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    crate::client::main("status", USAGE, args, run)
}

/// Runs the call; the text for stdout.
pub fn run(args: &CommonArgs) -> Result<String, CtlError> {
    args.expect_operands(&[])?;
    let body = Connection::new(args.socket_path(), args.timeout).platform_status()?;
    let status: Value = serde_json::from_slice(&body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| CtlError::Failed("unexpected /PlatformStatus answer: not a JSON object".to_string()))?;
    Ok(if args.json { String::from_utf8_lossy(&body).into_owned() } else { lines(&status) })
}

/// The human lines.
pub fn lines(status: &Value) -> String {
    let text = |v: &Value, key: &str| match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "?".to_string(),
        Some(other) => other.to_string(),
    };
    let uptime = status.get("uptimeSeconds").and_then(Value::as_u64).map_or_else(|| "?".to_string(), duration);
    let mut out = vec![
        format!("osconfig-platform {}, up {uptime}", text(status, "version")),
        format!("sessions:     {}", text(status, "sessions")),
        format!("modules:      {}", text(status, "modules")),
    ];
    let watcher = status.get("watcher").cloned().unwrap_or(Value::Null);
    out.push(format!("watcher:      {}", text(&watcher, "state")));
    out.push(format!("  desired:    {}", text(&watcher, "desiredPath")));
    out.push(format!("  reported:   {}", text(&watcher, "reportedPath")));
    match watcher.get("lastApply") {
        Some(apply @ Value::Object(_)) => {
            let detail = text(apply, "detail");
            let detail = if detail.is_empty() || detail == "?" { String::new() } else { format!(": {detail}") };
            out.push(format!("  last apply: {} at {}{detail}", text(apply, "result"), text(apply, "at")));
            let failed: Vec<&str> = apply
                .get("failed")
                .and_then(Value::as_array)
                .map_or_else(Vec::new, |f| f.iter().filter_map(Value::as_str).collect());
            if !failed.is_empty() {
                out.push(format!("  failed:     {}", failed.join(", ")));
            }
        }
        _ => out.push("  last apply: none".to_string()),
    }
    out.join("\n")
}

/// Seconds as `3d 4h 5m 6s`, leading zero units left out.
fn duration(seconds: u64) -> String {
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut rest = seconds;
    let mut parts = Vec::new();
    for (size, unit) in units {
        let n = rest / size;
        rest %= size;
        if n > 0 || !parts.is_empty() || size == 1 {
            parts.push(format!("{n}{unit}"));
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_duration() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(3_601), "1h 0m 1s");
        assert_eq!(duration(90_061), "1d 1h 1m 1s");
    }

    #[test]
    fn test_lines_without_and_with_last_apply() {
        let mut status = json!({"version":"0.1.0","uptimeSeconds":12,"sessions":3,"modules":4,
            "watcher":{"state":"watching","desiredPath":"/etc/osconfig/osconfig_desired.json",
                       "reportedPath":"/etc/osconfig/osconfig_reported.json","lastApply":null}});
        assert_eq!(
            lines(&status),
            "\
osconfig-platform 0.1.0, up 12s
sessions:     3
modules:      4
watcher:      watching
  desired:    /etc/osconfig/osconfig_desired.json
  reported:   /etc/osconfig/osconfig_reported.json
  last apply: none"
        );
        status["watcher"]["lastApply"] = json!({"at":"2026-12-02T10:00:00Z","result":"partial",
            "detail":"1 of 2 objects failed","failed":["HostName.desiredName"]});
        let text = lines(&status);
        assert!(text.ends_with(
            "  last apply: partial at 2026-12-02T10:00:00Z: 1 of 2 objects failed\n  failed:     HostName.desiredName"
        ), "{text}");
    }

    #[test]
    fn test_lines_tolerate_missing_fields() {
        let text = lines(&json!({}));
        assert!(text.starts_with("osconfig-platform ?, up ?\n"), "{text}");
        assert!(text.ends_with("  last apply: none"));
    }
}
