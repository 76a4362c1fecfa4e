//! Migration from the history location of earlier osconfig-rs releases.
//!
//! Before the history moved to the reference's cache file ([`crate::cache`]), each client's history was a file
//! `<state base>/commandrunner/<key>` written through `osconfig_storage` (the state base is env `OSCONFIG_STATE_DIR`,
//! else `<root>/var/lib/osconfig`; the key is [`client_key`]), holding
//! `{"version":1,"client":<name>,"current":<id|null>,"lastPayload":<commandArguments|null>,"commands":[{"arguments":..,"status":..},..]}`.
//!
//! The engine reads that file once: when a client's history is not in the cache file, an old file of the same client
//! is adopted, written to the cache file and then deleted. An old file of a client the cache file already holds is
//! stale and is deleted unread, so that removing the cache file (a reset) can never bring an old history back.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::arguments::CommandArguments;
use crate::history::{Entry, History, MAX_HISTORY};
use crate::status::{CommandStatus, State};

/// The directory name of the old store under the state base.
pub const LEGACY_STORE_NAME: &str = "commandrunner";

/// Largest old file read (anything bigger is not one this crate wrote).
const MAX_LEGACY_BYTES: u64 = 4 * 1024 * 1024;

/// The only layout version the old store wrote.
const LEGACY_VERSION: i64 = 1;

/// The old store directory: `<state base>/commandrunner` (env `OSCONFIG_STATE_DIR` or `<root>/var/lib/osconfig`).
pub fn default_dir() -> PathBuf {
    osconfig_storage::state_base_dir().join(LEGACY_STORE_NAME)
}

/// The old file of `client` in `dir`.
pub fn file_of(dir: &Path, client: &str) -> PathBuf {
    dir.join(client_key(client))
}

/// Read and parse the old file of `client`, if there is one. `Ok(None)`: no old file. An unreadable or invalid
/// file is an error (the caller logs it and deletes the file). `next_seq` numbers the entries.
pub fn read(dir: &Path, client: &str, next_seq: impl FnMut() -> u64) -> Result<Option<History>, String> {
    let path = file_of(dir, client);
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > MAX_LEGACY_BYTES {
        return Err(format!("{}: {} bytes, more than {MAX_LEGACY_BYTES}", path.display(), meta.len()));
    }
    let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    // Long client names share a key prefix (see client_key): only the file of this very client counts.
    match v.get("client").and_then(Value::as_str) {
        Some(name) if name == client => {}
        other => return Err(format!("{}: it belongs to client {other:?}", path.display())),
    }
    parse(&v, next_seq).map(Some).map_err(|e| format!("{}: {e}", path.display()))
}

/// Delete the old file of `client` (a missing file is fine), then the old directory if it is left empty.
pub fn remove(dir: &Path, client: &str) -> io::Result<()> {
    match fs::remove_file(file_of(dir, client)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    // Best effort: fails (and stays) while other clients' old files are in it.
    let _ = fs::remove_dir(dir);
    Ok(())
}

/// The history in an old file's JSON. Commands recorded as running are reported interrupted.
fn parse(v: &Value, mut next_seq: impl FnMut() -> u64) -> Result<History, String> {
    if v.get("version").and_then(Value::as_i64) != Some(LEGACY_VERSION) {
        return Err(format!("unsupported version {}", v.get("version").unwrap_or(&Value::Null)));
    }
    let mut h = History::default();
    h.last_payload = match v.get("lastPayload") {
        None | Some(Value::Null) => None,
        Some(p) => Some(CommandArguments::from_json(p).map_err(|e| format!("lastPayload: {e}"))?),
    };
    let commands = v.get("commands").and_then(Value::as_array).ok_or("commands: expected an array")?;
    let skip = commands.len().saturating_sub(MAX_HISTORY);
    for c in commands.iter().skip(skip) {
        let args = CommandArguments::from_json(c.get("arguments").unwrap_or(&Value::Null))?;
        let mut status = status_from_json(c.get("status").unwrap_or(&Value::Null))?;
        if status.command_id != args.command_id {
            return Err(format!("status.commandId {:?} is not arguments.commandId", status.command_id));
        }
        if status.current_state == State::Running {
            status.mark_interrupted();
        }
        if h.find(&args.command_id).is_none() {
            // Never full: nothing loaded is running.
            let _ = h.push(Entry { args: Some(args), status, seq: next_seq(), control: None });
        }
    }
    if let Some(id) = v.get("current").and_then(Value::as_str) {
        h.set_current(id);
    }
    Ok(h)
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

/// The old store key of a client: `client-` and the name with every byte outside `[A-Za-z0-9_-]` written as `%XX`;
/// long names were cut and end in a hash of the whole name.
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
    use crate::status::RESULT_INTERRUPTED;
    use serde_json::json;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cr-legacy-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn old_file(client: &str) -> Value {
        json!({
            "version": 1, "client": client, "current": "a",
            "lastPayload": {"commandId":"b","arguments":"sleep 9","timeout":0,"singleLineTextResult":false,"action":3},
            "commands": [
                {"arguments": {"commandId":"a","arguments":"echo a","timeout":0,"singleLineTextResult":false,"action":3},
                 "status": {"commandId":"a","resultCode":0,"textResult":"a\n","currentState":2}},
                {"arguments": {"commandId":"b","arguments":"sleep 9","timeout":0,"singleLineTextResult":false,"action":3},
                 "status": {"commandId":"b","resultCode":0,"textResult":"","currentState":1}}
            ]
        })
    }

    #[test]
    fn test_read_old_file_marks_running_interrupted() {
        let dir = temp_dir("read");
        fs::write(file_of(&dir, "c 1"), old_file("c 1").to_string()).unwrap();
        let mut n = 0;
        let h = read(&dir, "c 1", || {
            n += 1;
            n
        })
        .unwrap()
        .unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h.current_status().text_result, "a\n");
        let b = &h.find("b").unwrap().status;
        assert_eq!((b.current_state, b.result_code), (State::Failed, RESULT_INTERRUPTED));
        assert_eq!(h.last_payload.as_ref().unwrap().command_id, "b");
        remove(&dir, "c 1").unwrap();
        assert!(!dir.exists(), "the emptied old directory is removed");
    }

    #[test]
    fn test_read_missing_garbage_and_other_client() {
        let dir = temp_dir("garbage");
        assert!(read(&dir, "c", || 0).unwrap().is_none());
        fs::write(file_of(&dir, "c"), b"{not json").unwrap();
        assert!(read(&dir, "c", || 0).is_err());
        fs::write(file_of(&dir, "c"), old_file("someone else").to_string()).unwrap();
        assert!(read(&dir, "c", || 0).unwrap_err().contains("belongs to"));
        fs::write(file_of(&dir, "c"), json!({"version":2,"client":"c","commands":[]}).to_string()).unwrap();
        assert!(read(&dir, "c", || 0).is_err());
        fs::remove_dir_all(&dir).unwrap();
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
