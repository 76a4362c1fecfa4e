//! The two files this module owns, read and written under a root directory.

use std::fs;
use std::io;
use std::path::Path;

/// The host name file (relative to the root).
pub const HOSTNAME_FILE: &str = "/etc/hostname";
/// The hosts file (relative to the root).
pub const HOSTS_FILE: &str = "/etc/hosts";
/// Mode both files are written with.
pub const FILE_MODE: u32 = 0o644;

/// The file's text; a missing file is "".
pub fn read_text(path: &Path) -> io::Result<String> {
    match fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// The host name stored in a hostname file: its first non-blank, non-comment line, trimmed ("" if none).
pub fn stored_name(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or_default()
}

/// Writes `data` atomically with mode 0644 unless the file already holds exactly these bytes (so re-applying
/// a value does not touch the file). Creates the parent directory if needed. Returns whether it wrote.
pub fn write_if_changed(path: &Path, data: &str) -> io::Result<bool> {
    if fs::read(path).is_ok_and(|old| old == data.as_bytes()) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    osconfig_storage::write_atomic(path, data.as_bytes(), FILE_MODE)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("osconfig-hn-files-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn test_stored_name_cases() {
        assert_eq!(stored_name("dev1\n"), "dev1");
        assert_eq!(stored_name("# set by image\n\n  dev2  \nother\n"), "dev2");
        assert_eq!(stored_name(""), "");
    }

    #[test]
    fn test_read_text_missing_is_empty() {
        let dir = temp_dir("read");
        assert_eq!(read_text(&dir.join("none")).unwrap(), "");
        assert!(read_text(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_if_changed_writes_once_with_mode() {
        let dir = temp_dir("write");
        let path = dir.join("etc/hostname");
        assert!(write_if_changed(&path, "dev1\n").unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "dev1\n");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o7777, 0o644);
        assert!(!write_if_changed(&path, "dev1\n").unwrap());
        assert!(write_if_changed(&path, "dev2\n").unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "dev2\n");
        fs::remove_dir_all(&dir).unwrap();
    }
}
