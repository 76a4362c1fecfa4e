//! The reported object `commandStatus` and fitting it into a payload limit.

use serde_json::{Map, Value};

/// `currentState` (MIM enum 0..5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// 0: no command yet.
    Unknown,
    /// 1: the command is running.
    Running,
    /// 2: it exited with status 0.
    Succeeded,
    /// 3: it exited with another status, was killed by someone else, or could not be started.
    Failed,
    /// 4: it ran past its timeout and was killed (resultCode 62).
    TimedOut,
    /// 5: it was cancelled (resultCode 125).
    Canceled,
}

impl State {
    /// The MIM value.
    pub fn value(self) -> i64 {
        match self {
            State::Unknown => 0,
            State::Running => 1,
            State::Succeeded => 2,
            State::Failed => 3,
            State::TimedOut => 4,
            State::Canceled => 5,
        }
    }

    /// The state with MIM value `v`.
    pub fn from_value(v: i64) -> Option<State> {
        Some(match v {
            0 => State::Unknown,
            1 => State::Running,
            2 => State::Succeeded,
            3 => State::Failed,
            4 => State::TimedOut,
            5 => State::Canceled,
            _ => return None,
        })
    }
}

/// resultCode of a timed-out command (ETIME).
pub const RESULT_TIMED_OUT: i64 = 62;
/// resultCode of a cancelled command (ECANCELED).
pub const RESULT_CANCELED: i64 = 125;
/// resultCode of a command that was running when the module's process ended (reported after a restart).
pub const RESULT_INTERRUPTED: i64 = -1;

/// textResult of a command that was running when the module's process ended (reported after a restart).
pub const INTERRUPTED_TEXT: &str = "interrupted: the module stopped while the command was running";

/// The `commandStatus` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandStatus {
    /// `commandId`.
    pub command_id: String,
    /// `resultCode`: the exit code, 128+signal, 62 (timeout), 125 (cancel), an errno if the command could not be
    /// started, or -1 (interrupted by a restart).
    pub result_code: i64,
    /// `textResult`: the command's output (stdout and stderr).
    pub text_result: String,
    /// `currentState`.
    pub current_state: State,
}

impl Default for CommandStatus {
    fn default() -> Self {
        CommandStatus {
            command_id: String::new(),
            result_code: 0,
            text_result: String::new(),
            current_state: State::Unknown,
        }
    }
}

impl CommandStatus {
    /// Record that the command's process did not survive a restart: state failed, resultCode
    /// [`RESULT_INTERRUPTED`], textResult [`INTERRUPTED_TEXT`].
    pub fn mark_interrupted(&mut self) {
        self.current_state = State::Failed;
        self.result_code = RESULT_INTERRUPTED;
        self.text_result = INTERRUPTED_TEXT.to_string();
    }

    /// The JSON value, keys in MIM order.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("commandId".into(), Value::from(self.command_id.as_str()));
        m.insert("resultCode".into(), Value::from(self.result_code));
        m.insert("textResult".into(), Value::from(self.text_result.as_str()));
        m.insert("currentState".into(), Value::from(self.current_state.value()));
        Value::Object(m)
    }

    /// The JSON value with `textResult` cut (at a character boundary) so that the compact serialization of the whole
    /// object is at most `max_bytes` long (0 = unlimited). If even an empty `textResult` does not fit, the text is
    /// emptied and the caller's size check reports the overflow.
    pub fn to_json_within(&self, max_bytes: usize) -> Value {
        if max_bytes == 0 {
            return self.to_json();
        }
        let full = self.to_json();
        if compact_len(&full) <= max_bytes {
            return full;
        }
        let mut shorter = self.clone();
        shorter.text_result.clear();
        let base = compact_len(&shorter.to_json());
        let budget = max_bytes.saturating_sub(base);
        shorter.text_result.push_str(prefix_within_escaped(&self.text_result, budget));
        shorter.to_json()
    }
}

/// The longest prefix of `text` (cut at a character boundary) whose JSON-escaped form takes at most `max_bytes`.
pub fn prefix_within_escaped(text: &str, max_bytes: usize) -> &str {
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let n = escaped_len(c);
        if used + n > max_bytes {
            break;
        }
        used += n;
        end = i + c.len_utf8();
    }
    &text[..end]
}

/// Replace line breaks with spaces (`singleLineTextResult`).
pub fn single_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn compact_len(v: &Value) -> usize {
    serde_json::to_string(v).map(|s| s.len()).unwrap_or(usize::MAX)
}

/// Bytes `c` takes inside a JSON string as serde_json writes it.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(text: &str) -> CommandStatus {
        CommandStatus {
            command_id: "id-1".into(),
            result_code: 0,
            text_result: text.into(),
            current_state: State::Succeeded,
        }
    }

    #[test]
    fn test_default_is_reference_initial_status() {
        let s = serde_json::to_string(&CommandStatus::default().to_json()).unwrap();
        assert_eq!(s, r#"{"commandId":"","resultCode":0,"textResult":"","currentState":0}"#);
    }

    #[test]
    fn test_escaped_len_matches_serde_json() {
        let mut chars: Vec<char> = (0u32..0x80).filter_map(char::from_u32).collect();
        chars.extend(['é', '€', '😀', '\u{7f}', '\u{2028}']);
        for c in chars {
            let s = serde_json::to_string(&c.to_string()).unwrap();
            assert_eq!(escaped_len(c), s.len() - 2, "{c:?}");
        }
    }

    #[test]
    fn test_to_json_within_unlimited_and_fitting_keep_text() {
        let s = status("hello\n");
        assert_eq!(s.to_json_within(0), s.to_json());
        assert_eq!(s.to_json_within(1000), s.to_json());
    }

    #[test]
    fn test_to_json_within_respects_limit_and_stays_valid() {
        let text = "line \"one\"\n\ttab\\ é€😀 \u{1} end ".repeat(40);
        let s = status(&text);
        let base = compact_len(&status("").to_json());
        for max in base..base + 300 {
            let v = s.to_json_within(max);
            let out = serde_json::to_string(&v).unwrap();
            assert!(out.len() <= max, "{} > {max}", out.len());
            // The longest prefix that fits: one more character would not fit.
            let got = v["textResult"].as_str().unwrap();
            assert!(text.starts_with(got));
            if let Some(next) = text[got.len()..].chars().next() {
                assert!(out.len() + escaped_len(next) > max);
            }
            let back: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(back["commandId"], "id-1");
        }
    }

    #[test]
    fn test_to_json_within_too_small_empties_text() {
        let v = status("abc").to_json_within(5);
        assert_eq!(v["textResult"], "");
    }

    #[test]
    fn test_single_line_replaces_newlines() {
        assert_eq!(single_line("a\nb\r\nc\n"), "a b  c ");
    }

    #[test]
    fn test_state_value_roundtrip() {
        for v in 0..6 {
            assert_eq!(State::from_value(v).unwrap().value(), v);
        }
        assert!(State::from_value(6).is_none());
    }
}
