//! The reported (RC) file: the `MpiGetReported` document pretty-printed for people (4-space indent, as the
//! reference writes it, and a final newline), replaced atomically (temporary file in the same directory, fsync,
//! rename, fsync of the directory: a reader sees the old or the new file, never a part) and only when its content
//! changed. Mode 0600; a loosened mode is logged and fixed; a removed file is written again.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The reported file's mode.
pub const REPORTED_MODE: u32 = 0o600;

/// The file and what was last written to it.
#[derive(Debug)]
pub struct ReportedFile {
    path: PathBuf,
    last: Option<Vec<u8>>,
}

/// `document` (compact JSON) pretty-printed with a 4-space indent and a final newline.
pub fn pretty(document: &[u8]) -> io::Result<Vec<u8>> {
    let value: Value = serde_json::from_slice(document)?;
    let mut out = String::with_capacity(document.len() * 2);
    write_value(&value, 0, &mut out);
    out.push('\n');
    Ok(out.into_bytes())
}

/// Appends `value` at nesting `depth` (scalars and empty containers compact, as serde_json writes them).
fn write_value(value: &Value, depth: usize, out: &mut String) {
    const INDENT: &str = "    ";
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&INDENT.repeat(depth + 1));
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push_str(": ");
                write_value(item, depth + 1, out);
            }
            out.push('\n');
            out.push_str(&INDENT.repeat(depth));
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                out.push_str(&INDENT.repeat(depth + 1));
                write_value(item, depth + 1, out);
            }
            out.push('\n');
            out.push_str(&INDENT.repeat(depth));
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

impl ReportedFile {
    /// The reported file at `path` (nothing written yet).
    pub fn new(path: &Path) -> ReportedFile {
        ReportedFile { path: path.to_path_buf(), last: None }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `document` (compact JSON) unless the file already holds it; whether it was written.
    pub fn update(&mut self, document: &[u8]) -> io::Result<bool> {
        let text = pretty(document)?;
        if self.last.as_deref() == Some(text.as_slice()) {
            match std::fs::symlink_metadata(&self.path) {
                Ok(meta) if meta.file_type().is_file() => {
                    let mode = meta.mode() & 0o7777;
                    if mode != REPORTED_MODE {
                        log::warn!("{}: mode {mode:04o} was loosened; set to {REPORTED_MODE:04o}", self.path.display());
                        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(REPORTED_MODE))?;
                    }
                    return Ok(false);
                }
                Ok(_) => {
                    log::warn!("{}: replaced by something else than a file; writing it again", self.path.display())
                }
                Err(_) => log::warn!("{}: removed; writing it again", self.path.display()),
            }
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        osconfig_storage::write_atomic(&self.path, &text, REPORTED_MODE)?;
        self.last = Some(text);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_pretty_indents_four_spaces() {
        let text = pretty(br#"{"A":{"b":1,"c":[true]}}"#).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "{\n    \"A\": {\n        \"b\": 1,\n        \"c\": [\n            true\n        ]\n    }\n}\n"
        );
    }

    #[test]
    fn test_update_writes_only_changes_and_keeps_mode() {
        let dir = std::env::temp_dir().join(format!("osconfig-reported-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("r.json");
        let mut file = ReportedFile::new(&path);
        assert!(file.update(br#"{"A":{"b":1}}"#).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert!(!file.update(br#"{"A":{"b":1}}"#).unwrap(), "unchanged: not written");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(!file.update(br#"{"A":{"b":1}}"#).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600, "loosened mode fixed");
        std::fs::remove_file(&path).unwrap();
        assert!(file.update(br#"{"A":{"b":1}}"#).unwrap(), "removed: written again");
        assert!(file.update(br#"{"A":{"b":2}}"#).unwrap());
        let back: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back["A"]["b"], 2);
        assert!(file.update(b"not json").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
