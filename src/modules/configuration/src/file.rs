//! Reading and rewriting `osconfig.json`: parsed as a JSON object with its key order kept, written atomically.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use osconfig_mmi::Errno;
use serde_json::{Map, Value};

/// The general configuration file (relative to the root).
pub const CONFIG_FILE: &str = "/etc/osconfig/osconfig.json";
/// Mode of a newly created file (an existing file keeps its mode).
pub const NEW_FILE_MODE: u32 = 0o644;

/// Why `osconfig.json` could not be read or written.
#[derive(Debug)]
pub enum ConfigError {
    /// The file exists but could not be read.
    Read(io::Error),
    /// The file is not valid JSON (never overwritten then).
    Parse(serde_json::Error),
    /// The file is valid JSON but not an object (never overwritten then).
    NotObject,
    /// The new file could not be written.
    Write(io::Error),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read(_) => write!(f, "cannot read the configuration file"),
            ConfigError::Parse(_) => write!(f, "the configuration file is not valid JSON"),
            ConfigError::NotObject => write!(f, "the configuration file is not a JSON object"),
            ConfigError::Write(_) => write!(f, "cannot write the configuration file"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read(e) | ConfigError::Write(e) => Some(e),
            ConfigError::Parse(e) => Some(e),
            ConfigError::NotObject => None,
        }
    }
}

impl ConfigError {
    /// The MMI status for this error: the OS error for I/O, `EINVAL` for a file we cannot parse.
    pub fn into_errno(self) -> Errno {
        match self {
            ConfigError::Read(e) | ConfigError::Write(e) => Errno::from(e),
            ConfigError::Parse(_) | ConfigError::NotObject => Errno::EINVAL,
        }
    }
}

/// Reads and parses the file. `Ok(None)` when it does not exist.
pub fn load(path: &Path) -> Result<Option<Map<String, Value>>, ConfigError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ConfigError::Read(e)),
    };
    match serde_json::from_slice(&bytes).map_err(ConfigError::Parse)? {
        Value::Object(map) => Ok(Some(map)),
        _ => Err(ConfigError::NotObject),
    }
}

/// Writes the object pretty-printed (2-space indent, final newline) atomically, keeping the existing file's mode
/// (0644 for a new file) and creating the parent directory if needed.
pub fn store(path: &Path, config: &Map<String, Value>) -> Result<(), ConfigError> {
    let mode = match fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(_) => NEW_FILE_MODE,
    };
    let mut text = serde_json::to_vec_pretty(config).map_err(|e| ConfigError::Write(e.into()))?;
    text.push(b'\n');
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(ConfigError::Write)?;
    }
    osconfig_storage::write_atomic(path, &text, mode).map_err(ConfigError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("osconfig-cfg-file-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn test_load_missing_is_none() {
        let dir = temp_dir("missing");
        assert!(load(&dir.join("osconfig.json")).unwrap().is_none());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_load_invalid_and_not_object() {
        let dir = temp_dir("invalid");
        let path = dir.join("osconfig.json");
        fs::write(&path, "{\"LoggingLevel\": ").unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Parse(_)));
        assert_eq!(err.into_errno(), Errno::EINVAL);
        fs::write(&path, "[1, 2]").unwrap();
        assert!(matches!(load(&path).unwrap_err(), ConfigError::NotObject));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_load_directory_is_read_error() {
        let dir = temp_dir("isdir");
        let err = load(&dir).unwrap_err();
        assert!(matches!(err, ConfigError::Read(_)));
        assert_eq!(err.into_errno(), Errno(21)); // EISDIR
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_store_keeps_order_and_mode() {
        let dir = temp_dir("store");
        let path = dir.join("osconfig.json");
        fs::write(&path, "{\"Z\": 1, \"A\": {\"b\": 2, \"a\": 1}, \"M\": [3]}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let mut config = load(&path).unwrap().unwrap();
        config.insert("New".into(), json!("x"));
        store(&path, &config).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, "{\n  \"Z\": 1,\n  \"A\": {\n    \"b\": 2,\n    \"a\": 1\n  },\n  \"M\": [\n    3\n  ],\n  \"New\": \"x\"\n}\n");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o7777, 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_store_creates_file_and_parent() {
        let dir = temp_dir("create");
        let path = dir.join("etc/osconfig/osconfig.json");
        let config = json!({"ReportingIntervalSeconds": 60}).as_object().unwrap().clone();
        store(&path, &config).unwrap();
        assert_eq!(load(&path).unwrap().unwrap(), config);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o7777, 0o644);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_config_error_display_and_source() {
        let err = ConfigError::Write(io::Error::from_raw_os_error(28));
        assert_eq!(err.to_string(), "cannot write the configuration file");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(err.into_errno(), Errno(28));
        assert!(std::error::Error::source(&ConfigError::NotObject).is_none());
    }
}
