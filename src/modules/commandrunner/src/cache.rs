//! The persisted history: the reference agent's cache file `/etc/osconfig/osconfig_commandrunner.cache`.
//!
//! ## Layout
//! One JSON object for every client of the device, keyed by client name; each value is that client's commands,
//! oldest first, at most [`MAX_HISTORY`]:
//! ```text
//! {
//!     "Azure OSConfig 5;1.0.1": [
//!         { "commandId": "a", "resultCode": 0, "currentState": 2 },
//!         { "commandId": "b", "resultCode": 0, "currentState": 2, "textResult": "b\n",
//!           "arguments": { "commandId": "b", "arguments": "echo b", "timeout": 0, "singleLineTextResult": false,
//!                          "action": 3 },
//!           "reported": true }
//!     ]
//! }
//! ```
//! The reference writes `commandId`, `resultCode` and `currentState` only (the first entry above). We write the
//! same layout and keys, plus three of our own that the reference ignores when it reads the file:
//! `textResult` (cut to [`MAX_SAVED_TEXT_BYTES`] of JSON text), `arguments` (the request that started the
//! command, so a re-applied request is recognised after a restart) and `reported` (on the entry `commandStatus`
//! reports; without it, the last entry is reported, as the reference does). So the file stays readable by the
//! reference agent, and a device upgraded from the reference keeps its history: a reference file is simply a file of
//! ours without the three extra keys. It is not rewritten when read, only when a history changes.
//!
//! ## Reading
//! Every entry must be an object with a string `commandId`; `resultCode` (integer, default 0), `currentState`
//! (integer 0..5, default 0), `textResult` (string, default `""`), `arguments` (a valid `commandArguments` with the
//! same commandId) and `reported` (boolean) are checked when present. Entries with an empty commandId, and repeats
//! of a commandId, are skipped; only the last [`MAX_HISTORY`] entries count. A command recorded as running is
//! reported as failed with resultCode -1 (its process did not survive the restart).
//!
//! A file that is not a regular file, is larger than [`MAX_CACHE_BYTES`], is not JSON, or breaks the layout is set
//! aside (renamed to `<file>`[`SET_ASIDE_SUFFIX`], replacing an earlier one) with an error log line, and the
//! histories start empty. An empty file (only blanks) holds no history.
//!
//! ## Writing
//! The whole object, pretty-printed (the reference indents by four spaces, we by two), replaces the file atomically
//! (`osconfig_storage::write_atomic`: temporary file in the same directory, fsync, rename, fsync of the directory)
//! with mode 0600. Missing directories are created with mode 0700. A document over [`MAX_CACHE_BYTES`] is not
//! written (error log line), so the module never writes a file it would refuse to read.

use std::fs::{self, DirBuilder, File};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use osconfig_mim::kind;
use serde_json::{Map, Value};

use crate::arguments::CommandArguments;
use crate::history::{Entry, History, MAX_HISTORY};
use crate::status::{prefix_within_escaped, CommandStatus, State};

/// The cache file, as a device path (resolved under `OSCONFIG_ROOT`).
pub const CACHE_PATH: &str = "/etc/osconfig/osconfig_commandrunner.cache";

/// Largest cache file read or written, in bytes.
pub const MAX_CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// Longest saved `textResult`, in bytes of JSON string text (the in-memory result stays whole until a restart).
pub const MAX_SAVED_TEXT_BYTES: usize = 16 * 1024;

/// Suffix of a set-aside (unreadable) cache file.
pub const SET_ASIDE_SUFFIX: &str = ".corrupt";

/// Mode of the cache file.
const FILE_MODE: u32 = 0o600;

/// Mode of directories created for the cache file.
const DIR_MODE: u32 = 0o700;

/// The clients' entries as the file holds them (client name to its JSON array).
pub type Document = Map<String, Value>;

/// What identifies one version of the file: a rename or an in-place rewrite changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    /// A version no file on disk has (device and inode 0): what was written and then removed at once.
    const GONE: FileId = FileId { dev: 0, ino: 0, len: 0, mtime: (0, 0), ctime: (0, 0) };

    fn of(m: &fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The identity of the file at `path` now (`None`: there is none). Does not follow a symlink.
pub fn current_id(path: &Path) -> io::Result<Option<FileId>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(FileId::of(&m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Read and check the file. `Ok(None)`: there is no file. `Err`: it is unusable (the reason, for the log; the
/// caller sets it aside).
pub fn load(path: &Path) -> Result<Option<(Document, FileId)>, String> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    if meta.len() > MAX_CACHE_BYTES {
        return Err(format!("{} bytes, more than the limit of {MAX_CACHE_BYTES}", meta.len()));
    }
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let id = FileId::of(&file.metadata().map_err(|e| e.to_string())?);
    let mut bytes = Vec::new();
    // The file may grow after the check: never read more than the limit.
    file.take(MAX_CACHE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_CACHE_BYTES {
        return Err(format!("more than the limit of {MAX_CACHE_BYTES} bytes"));
    }
    parse(&bytes).map(|doc| Some((doc, id)))
}

/// Parse and check the text of a cache file (see the module docs for the rules).
pub fn parse(bytes: &[u8]) -> Result<Document, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Document::new());
    }
    let doc = match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => m,
        Ok(other) => return Err(format!("expected a JSON object, got {}", kind(&other))),
        Err(e) => return Err(format!("not JSON: {e}")),
    };
    for (client, entries) in &doc {
        client_history(entries, || 0).map_err(|e| format!("client {client:?}: {e}"))?;
    }
    Ok(doc)
}

/// Rename an unusable file out of the way: `<file>.corrupt`, replacing an earlier one.
pub fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(SET_ASIDE_SUFFIX);
    let aside = PathBuf::from(aside);
    fs::rename(path, &aside)?;
    Ok(aside)
}

/// Write `doc` to `path` atomically, mode 0600, and return the identity of the new file.
pub fn write(path: &Path, doc: &Document) -> io::Result<Option<FileId>> {
    let text = serde_json::to_vec_pretty(doc).map_err(io::Error::other)?;
    if text.len() as u64 > MAX_CACHE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the histories take {} bytes, more than the limit of {MAX_CACHE_BYTES}", text.len()),
        ));
    }
    if let Some(dir) = path.parent() {
        DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
    }
    osconfig_storage::write_atomic(path, &text, FILE_MODE)?;
    // Removed (a reset) between the rename and this look: remember a version no file has, so the next look sees
    // the absence as a change and resets, instead of taking "no file" for what was written.
    Ok(Some(current_id(path)?.unwrap_or(FileId::GONE)))
}

/// A client's history from its JSON array. Running commands are marked interrupted; `next_seq` numbers the
/// entries.
pub fn client_history(entries: &Value, mut next_seq: impl FnMut() -> u64) -> Result<History, String> {
    let entries = entries.as_array().ok_or_else(|| format!("expected an array, got {}", kind(entries)))?;
    let mut parsed = Vec::new();
    let mut reported = None;
    for (i, e) in entries.iter().enumerate() {
        let (args, mut status, is_reported) = entry(e).map_err(|m| format!("entry {i}: {m}"))?;
        if status.command_id.is_empty()
            || parsed.iter().any(|(_, s): &(_, CommandStatus)| s.command_id == status.command_id)
        {
            continue;
        }
        if status.current_state == State::Running {
            status.mark_interrupted();
        }
        if is_reported {
            reported = Some(status.command_id.clone());
        }
        parsed.push((args, status));
    }
    let skip = parsed.len().saturating_sub(MAX_HISTORY);
    let mut h = History::default();
    for (args, status) in parsed.into_iter().skip(skip) {
        h.current = Some(status.command_id.clone());
        // Never full: nothing loaded is running.
        let _ = h.push(Entry { args, status, seq: next_seq(), control: None });
    }
    if let Some(id) = reported.filter(|id| h.find(id).is_some()) {
        h.current = Some(id);
    }
    Ok(h)
}

/// One entry: the request (if recorded), the status, whether it is the reported one.
fn entry(v: &Value) -> Result<(Option<CommandArguments>, CommandStatus, bool), String> {
    let obj = v.as_object().ok_or_else(|| format!("expected an object, got {}", kind(v)))?;
    let command_id = match obj.get("commandId") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("commandId: expected a string, got {}", kind(other))),
        None => return Err("commandId: missing".to_string()),
    };
    let result_code = match obj.get("resultCode") {
        None => 0,
        Some(v) => v.as_i64().ok_or_else(|| format!("resultCode: expected an integer, got {}", kind(v)))?,
    };
    let current_state = match obj.get("currentState") {
        None => State::Unknown,
        Some(v) => v
            .as_i64()
            .and_then(State::from_value)
            .ok_or_else(|| format!("currentState: expected an integer 0..5, got {v}"))?,
    };
    let text_result = match obj.get("textResult") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("textResult: expected a string, got {}", kind(other))),
    };
    let args = match obj.get("arguments") {
        None | Some(Value::Null) => None,
        Some(a) => {
            let args = CommandArguments::from_json(a).map_err(|e| format!("arguments: {e}"))?;
            if args.command_id != command_id || !args.action.starts_process() {
                return Err(format!("arguments: not the request of command {command_id:?}"));
            }
            Some(args)
        }
    };
    let reported = match obj.get("reported") {
        None => false,
        Some(v) => v.as_bool().ok_or_else(|| format!("reported: expected a boolean, got {}", kind(v)))?,
    };
    Ok((args, CommandStatus { command_id, result_code, text_result, current_state }, reported))
}

/// A client's history as its JSON array (see the module docs).
pub fn client_json(h: &History) -> Value {
    let entries = h
        .entries()
        .map(|e| {
            let mut m = Map::new();
            m.insert("commandId".into(), Value::from(e.status.command_id.as_str()));
            m.insert("resultCode".into(), Value::from(e.status.result_code));
            m.insert("currentState".into(), Value::from(e.status.current_state.value()));
            m.insert(
                "textResult".into(),
                Value::from(prefix_within_escaped(&e.status.text_result, MAX_SAVED_TEXT_BYTES)),
            );
            if let Some(args) = &e.args {
                m.insert("arguments".into(), args.to_json());
            }
            if h.current.as_deref() == Some(e.status.command_id.as_str()) {
                m.insert("reported".into(), Value::Bool(true));
            }
            Value::Object(m)
        })
        .collect();
    Value::Array(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arguments::Action;
    use crate::status::RESULT_INTERRUPTED;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cr-cache-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A file as the reference agent writes it: status without textResult, four-space indent, oldest first.
    const REFERENCE_FILE: &str = r#"{
    "Azure OSConfig 5;1.0.5.2024": [
        {
            "commandId": "first",
            "currentState": 2,
            "resultCode": 0
        },
        {
            "commandId": "second",
            "currentState": 3,
            "resultCode": 127
        }
    ],
    "other client": [
        {
            "commandId": "reboot-1",
            "currentState": 1,
            "resultCode": 0
        }
    ]
}"#;

    #[test]
    fn test_parse_reference_file() {
        let doc = parse(REFERENCE_FILE.as_bytes()).unwrap();
        let h = client_history(&doc["Azure OSConfig 5;1.0.5.2024"], || 1).unwrap();
        assert_eq!(h.len(), 2);
        let s = h.current_status();
        assert_eq!((s.command_id.as_str(), s.result_code, s.current_state), ("second", 127, State::Failed));
        assert_eq!(s.text_result, "");
        assert!(h.find("first").unwrap().args.is_none());
        let other = client_history(&doc["other client"], || 1).unwrap();
        let r = other.current_status();
        assert_eq!((r.current_state, r.result_code), (State::Failed, RESULT_INTERRUPTED));
    }

    #[test]
    fn test_client_json_roundtrip_keeps_reported_arguments_text() {
        let args = CommandArguments {
            command_id: "b".into(),
            arguments: "echo b".into(),
            timeout_seconds: 5,
            single_line_text_result: true,
            action: Action::RunCommand,
        };
        let mut h = History::default();
        for (id, a) in [("a", None), ("b", Some(args.clone()))] {
            let status = CommandStatus {
                command_id: id.into(),
                result_code: 3,
                text_result: format!("{id}\n"),
                current_state: State::Failed,
            };
            h.push(Entry { args: a, status, seq: 0, control: None }).unwrap();
        }
        h.set_current("a");
        let v = client_json(&h);
        assert_eq!(v[0], json!({"commandId":"a","resultCode":3,"currentState":3,"textResult":"a\n","reported":true}));
        let back = client_history(&v, || 0).unwrap();
        assert_eq!(back.current_status(), h.current_status());
        assert_eq!(back.find("b").unwrap().args, Some(args));
        assert_eq!(back.find("b").unwrap().status, h.find("b").unwrap().status);
    }

    #[test]
    fn test_client_json_cuts_saved_text() {
        let mut h = History::default();
        let status = CommandStatus {
            command_id: "big".into(),
            result_code: 0,
            text_result: "\u{1}".repeat(MAX_SAVED_TEXT_BYTES),
            current_state: State::Succeeded,
        };
        h.push(Entry { args: None, status, seq: 0, control: None }).unwrap();
        let text = client_json(&h)[0]["textResult"].as_str().unwrap().to_string();
        assert_eq!(text.len(), MAX_SAVED_TEXT_BYTES / 6);
    }

    #[test]
    fn test_client_history_skips_empty_and_repeated_ids_keeps_last_ten() {
        let mut entries = vec![json!({"commandId":""}), json!({"commandId":"x","resultCode":1})];
        entries.push(json!({"commandId":"x","resultCode":2}));
        for i in 0..12 {
            entries.push(json!({"commandId":format!("c{i}"),"currentState":2}));
        }
        let h = client_history(&Value::Array(entries), || 0).unwrap();
        assert_eq!(h.len(), MAX_HISTORY);
        assert!(h.find("x").is_none() && h.find("c1").is_none() && h.find("c2").is_some());
        assert_eq!(h.current_status().command_id, "c11");
    }

    #[test]
    fn test_parse_rejects_wrong_types() {
        for bad in [
            "[1,2]",
            "\"text\"",
            "{\"c\": {}}",
            "{\"c\": [1]}",
            "{\"c\": [{\"resultCode\": 1}]}",
            "{\"c\": [{\"commandId\": 7}]}",
            "{\"c\": [{\"commandId\": \"a\", \"resultCode\": \"0\"}]}",
            "{\"c\": [{\"commandId\": \"a\", \"resultCode\": 1.5}]}",
            "{\"c\": [{\"commandId\": \"a\", \"currentState\": 9}]}",
            "{\"c\": [{\"commandId\": \"a\", \"textResult\": []}]}",
            "{\"c\": [{\"commandId\": \"a\", \"reported\": 1}]}",
            "{\"c\": [{\"commandId\": \"a\", \"arguments\": {\"commandId\": \"b\", \"arguments\": \"x\", \"action\": 3}}]}",
            "{\"c\": [{\"commandId\": \"a\", \"arguments\": {\"commandId\": \"a\", \"action\": 4}}]}",
            "{not json",
            "\u{0}\u{1}binary",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(parse(b"").unwrap(), Document::new());
        assert_eq!(parse(b" \n").unwrap(), Document::new());
        assert_eq!(parse(b"{}").unwrap(), Document::new());
        let deep = "[".repeat(10_000);
        assert!(parse(format!("{{\"c\": {deep}").as_bytes()).is_err());
    }

    #[test]
    fn test_load_missing_huge_and_not_regular() {
        let dir = temp_dir("load");
        let path = dir.join("etc/osconfig/osconfig_commandrunner.cache");
        assert_eq!(load(&path), Ok(None));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, vec![b' '; MAX_CACHE_BYTES as usize + 1]).unwrap();
        assert!(load(&path).unwrap_err().contains("limit"));
        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
        assert_eq!(load(&path).unwrap_err(), "not a regular file");
        let aside = set_aside(&path).unwrap();
        assert!(aside.to_string_lossy().ends_with(".cache.corrupt"));
        assert!(fs::symlink_metadata(&aside).unwrap().file_type().is_symlink());
        assert_eq!(load(&path), Ok(None));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_creates_dirs_mode_0600_and_reads_back() {
        let dir = temp_dir("write");
        let path = dir.join("etc/osconfig/osconfig_commandrunner.cache");
        let doc = parse(REFERENCE_FILE.as_bytes()).unwrap();
        let id = write(&path, &doc).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o7777, 0o600);
        assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o7777, 0o700);
        let (back, read_id) = load(&path).unwrap().unwrap();
        assert_eq!((back, Some(read_id)), (doc, id));
        let id2 = write(&path, &Document::new()).unwrap();
        assert_ne!(id, id2);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_refuses_over_limit() {
        let dir = temp_dir("overlimit");
        let path = dir.join("c.cache");
        let mut doc = Document::new();
        doc.insert("c".into(), Value::from("x".repeat(MAX_CACHE_BYTES as usize)));
        assert_eq!(write(&path, &doc).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
