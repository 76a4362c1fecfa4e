//! The commands of one client: the last [`MAX_HISTORY`] entries, which one is reported, and their persisted form.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::arguments::CommandArguments;
use crate::process::Control;
use crate::status::{CommandStatus, State, RESULT_INTERRUPTED};

/// Commands kept per client; the oldest finished one is dropped first.
pub const MAX_HISTORY: usize = 10;

/// Version of the persisted JSON layout.
const FORMAT_VERSION: i64 = 1;

/// Text reported for a command that was running when the module's process ended.
pub const INTERRUPTED_TEXT: &str = "interrupted: the module stopped while the command was running";

/// One command.
#[derive(Debug)]
pub struct Entry {
    /// What was asked.
    pub args: CommandArguments,
    /// What is reported.
    pub status: CommandStatus,
    /// Unique within the process; lets a worker find its own entry even if the id was dropped and reused.
    pub seq: u64,
    /// Cancellation handle while the command runs.
    pub control: Option<Arc<Control>>,
}

/// The history of one client.
#[derive(Debug, Default)]
pub struct History {
    entries: VecDeque<Entry>,
    current: Option<String>,
    /// The last accepted payload: setting it again is a no-op.
    pub last_payload: Option<CommandArguments>,
    /// Bumped on every change; persistence writes only newer generations.
    pub generation: u64,
}

/// Why an entry could not be added.
#[derive(Debug, PartialEq, Eq)]
pub struct HistoryFull;

impl History {
    /// The entry with `command_id`.
    pub fn find(&self, command_id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.args.command_id == command_id)
    }

    /// The entry with `command_id`, mutable.
    pub fn find_mut(&mut self, command_id: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.args.command_id == command_id)
    }

    /// The entry with sequence number `seq`, mutable.
    pub fn find_seq_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.seq == seq)
    }

    /// Add a new entry (its id must not be present), dropping the oldest finished entry when full. Fails when all
    /// [`MAX_HISTORY`] entries are still running.
    pub fn push(&mut self, entry: Entry) -> Result<(), HistoryFull> {
        if self.entries.len() >= MAX_HISTORY {
            let oldest_done = self.entries.iter().position(|e| e.status.current_state != State::Running);
            match oldest_done {
                Some(i) => {
                    self.entries.remove(i);
                }
                None => return Err(HistoryFull),
            }
        }
        self.entries.push_back(entry);
        Ok(())
    }

    /// Make `command_id` the reported command.
    pub fn set_current(&mut self, command_id: &str) {
        self.current = Some(command_id.to_string());
    }

    /// The reported status: the current command, else the default status.
    pub fn current_status(&self) -> CommandStatus {
        self.current.as_deref().and_then(|id| self.find(id)).map(|e| e.status.clone()).unwrap_or_default()
    }

    /// Whether a worker thread still owns one of the entries (its command has not been recorded as ended).
    pub fn has_workers(&self) -> bool {
        self.entries.iter().any(|e| e.control.is_some())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The persisted JSON form.
    pub fn to_json(&self, client: &str) -> Value {
        let commands: Vec<Value> =
            self.entries.iter().map(|e| json!({"arguments": e.args.to_json(), "status": e.status.to_json()})).collect();
        json!({
            "version": FORMAT_VERSION,
            "client": client,
            "current": self.current,
            "lastPayload": self.last_payload.as_ref().map(CommandArguments::to_json),
            "commands": commands,
        })
    }

    /// Rebuild from the persisted form. Commands recorded as running are reported as failed with resultCode -1
    /// ([`RESULT_INTERRUPTED`]): their process did not survive the restart. `next_seq` numbers the entries.
    pub fn from_json(v: &Value, mut next_seq: impl FnMut() -> u64) -> Result<History, String> {
        if v.get("version").and_then(Value::as_i64) != Some(FORMAT_VERSION) {
            return Err(format!("unsupported version {}", v.get("version").unwrap_or(&Value::Null)));
        }
        let mut h =
            History { current: v.get("current").and_then(Value::as_str).map(str::to_string), ..History::default() };
        h.last_payload = match v.get("lastPayload") {
            None | Some(Value::Null) => None,
            Some(p) => Some(CommandArguments::from_json(p).map_err(|e| format!("lastPayload: {e}"))?),
        };
        let commands = v.get("commands").and_then(Value::as_array).ok_or("commands: expected an array")?;
        for c in commands.iter().rev().take(MAX_HISTORY).rev() {
            let args = CommandArguments::from_json(c.get("arguments").unwrap_or(&Value::Null))?;
            let mut status = status_from_json(c.get("status").unwrap_or(&Value::Null))?;
            if status.current_state == State::Running {
                status.current_state = State::Failed;
                status.result_code = RESULT_INTERRUPTED;
                status.text_result = INTERRUPTED_TEXT.to_string();
            }
            if h.find(&args.command_id).is_none() {
                h.entries.push_back(Entry { args, status, seq: next_seq(), control: None });
            }
        }
        Ok(h)
    }
}

fn status_from_json(v: &Value) -> Result<CommandStatus, String> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string).ok_or(format!("status.{k}: missing"));
    let state = v.get("currentState").and_then(Value::as_i64).and_then(State::from_value);
    Ok(CommandStatus {
        command_id: text("commandId")?,
        result_code: v.get("resultCode").and_then(Value::as_i64).ok_or("status.resultCode: missing")?,
        text_result: text("textResult")?,
        current_state: state.ok_or("status.currentState: missing or out of range")?,
    })
}

/// The store key of a client: `client-` and the name with every byte outside `[A-Za-z0-9_-]` written as `%XX`;
/// long names are cut and end in a hash of the whole name so the key stays a valid, unique-enough file name.
pub fn client_key(client: &str) -> String {
    const MAX_ENCODED: usize = 150;
    let mut key = String::from("client-");
    for b in client.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            key.push(char::from(b));
        } else {
            key.push_str(&format!("%{b:02X}"));
        }
    }
    if key.len() > MAX_ENCODED {
        let mut cut = MAX_ENCODED - 17;
        while !key.is_char_boundary(cut) {
            cut -= 1;
        }
        key.truncate(cut);
        key.push_str(&format!("~{:016x}", fnv1a(client.as_bytes())));
    }
    key
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arguments::Action;

    fn entry(id: &str, state: State, seq: u64) -> Entry {
        Entry {
            args: CommandArguments {
                command_id: id.into(),
                arguments: format!("echo {id}"),
                timeout_seconds: 0,
                single_line_text_result: false,
                action: Action::RunCommand,
            },
            status: CommandStatus {
                command_id: id.into(),
                result_code: 0,
                text_result: "t\n".into(),
                current_state: state,
            },
            seq,
            control: None,
        }
    }

    #[test]
    fn test_push_drops_oldest_finished_beyond_ten() {
        let mut h = History::default();
        h.push(entry("run0", State::Running, 0)).unwrap();
        for i in 1..=10 {
            h.push(entry(&format!("c{i}"), State::Succeeded, i)).unwrap();
        }
        assert_eq!(h.len(), MAX_HISTORY);
        assert!(h.find("run0").is_some(), "a running command is kept");
        assert!(h.find("c1").is_none());
        assert!(h.find("c10").is_some());
    }

    #[test]
    fn test_push_all_running_is_full() {
        let mut h = History::default();
        for i in 0..10 {
            h.push(entry(&format!("r{i}"), State::Running, i)).unwrap();
        }
        assert_eq!(h.push(entry("x", State::Running, 11)), Err(HistoryFull));
    }

    #[test]
    fn test_current_status_default_and_selected() {
        let mut h = History::default();
        assert_eq!(h.current_status(), CommandStatus::default());
        h.push(entry("a", State::Succeeded, 0)).unwrap();
        h.set_current("a");
        assert_eq!(h.current_status().command_id, "a");
    }

    #[test]
    fn test_from_json_roundtrip_marks_running_interrupted() {
        let mut h = History::default();
        h.push(entry("a", State::Succeeded, 0)).unwrap();
        h.push(entry("b", State::Running, 1)).unwrap();
        h.set_current("b");
        h.last_payload = Some(entry("b", State::Running, 1).args);
        let v = h.to_json("client 1");
        let mut n = 100;
        let back = History::from_json(&v, || {
            n += 1;
            n
        })
        .unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.find("a").unwrap().status, h.find("a").unwrap().status);
        let b = back.current_status();
        assert_eq!((b.command_id.as_str(), b.current_state, b.result_code), ("b", State::Failed, RESULT_INTERRUPTED));
        assert_eq!(back.last_payload, h.last_payload);
        assert_eq!(back.find("b").unwrap().seq, 102);
    }

    #[test]
    fn test_from_json_rejects_garbage() {
        assert!(History::from_json(&json!({}), || 0).is_err());
        assert!(History::from_json(&json!({"version":1,"commands":[{"status":{}}]}), || 0).is_err());
        assert!(History::from_json(&json!({"version":2,"commands":[]}), || 0).is_err());
    }

    #[test]
    fn test_client_key_is_valid_store_key() {
        for name in ["", "Azure OSConfig 5;1.0.1.2021", "../../etc", ".hidden", "a/b", "é", &"x/".repeat(300)] {
            let k = client_key(name);
            osconfig_storage::validate_key(&k).unwrap_or_else(|e| panic!("{name:?}: {e}"));
        }
        assert_eq!(client_key("ab-c_1"), "client-ab-c_1");
        assert_eq!(client_key("a b"), "client-a%20b");
        assert_ne!(client_key(&"y".repeat(300)), client_key(&"y".repeat(301)));
    }
}
