//! A log file that rolls over to `<file>.bak` when it reaches its size limit.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of a log file this crate creates (owner read/write, group read).
pub const FILE_MODE: u32 = 0o640;

/// Mode of a log directory this crate creates when it is missing.
const DIR_MODE: u32 = 0o755;

/// An open, append-only log file and its current size.
///
/// Not synchronized: the logger keeps it behind its mutex. Every line is one `write` on an unbuffered
/// `O_APPEND` descriptor, so nothing is held back in user space when the process dies.
#[derive(Debug)]
pub(crate) struct RollingFile {
    path: PathBuf,
    file: File,
    size: u64,
}

impl RollingFile {
    /// Open (or create, mode 0640) `path` for appending, creating its parent directory if missing.
    pub(crate) fn open(path: &Path) -> io::Result<RollingFile> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.is_dir() {
                DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
            }
        }
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RollingFile { path: path.to_path_buf(), file, size })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes written to the current file (including what was there when it was opened).
    #[cfg(test)]
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Append one line, rolling over first when it would take the file past `max_size` (0: never roll).
    ///
    /// A file never grows past `max_size` unless a single line is longer than that. A failed roll-over
    /// keeps writing to the current file: the line is written and [`LineError::Roll`] returned.
    pub(crate) fn write_line(&mut self, line: &[u8], max_size: u64) -> Result<(), LineError> {
        let len = line.len() as u64;
        let mut roll_error = None;
        if max_size > 0 && self.size > 0 && self.size.saturating_add(len) > max_size {
            if let Err(e) = self.roll() {
                roll_error = Some(e);
            }
        }
        self.file.write_all(line).map_err(LineError::Write)?;
        self.size = self.size.saturating_add(len);
        match roll_error {
            Some(e) => Err(LineError::Roll(e)),
            None => Ok(()),
        }
    }

    /// Rename the file to `<file>.bak` (replacing an older one) and start a new, empty file.
    fn roll(&mut self) -> io::Result<()> {
        fs::rename(&self.path, bak_path(&self.path))?;
        // The old descriptor keeps pointing at the .bak file until the new one is open: if opening fails,
        // lines keep going somewhere instead of being lost.
        self.file = open_append(&self.path)?;
        self.size = self.file.metadata()?.len();
        Ok(())
    }
}

/// Why a line could not be written as asked.
#[derive(Debug)]
pub(crate) enum LineError {
    /// The line was lost: writing it failed (disk full, I/O error).
    Write(io::Error),
    /// The line was written, but to the old file: renaming it to `.bak` or opening a new one failed.
    Roll(io::Error),
}

/// `<path>.bak`.
pub(crate) fn bak_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".bak");
    PathBuf::from(name)
}

/// Open `path` for appending; a file created here gets mode 0640 whatever the umask.
fn open_append(path: &Path) -> io::Result<File> {
    match OpenOptions::new().append(true).create_new(true).mode(FILE_MODE).open(path) {
        Ok(file) => {
            // The umask may have removed bits of FILE_MODE; set it exactly on the file we created.
            file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new().append(true).open(path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh, empty directory under the system temp dir, unique per call.
    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("osconfig-logging-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn test_open_creates_dir_and_file_with_mode_0640() {
        let dir = temp_dir("mode");
        let path = dir.join("a/b/osconfig_x.log");
        let f = RollingFile::open(&path).unwrap();
        assert_eq!(f.size(), 0);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "mode {mode:o}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_open_appends_to_existing_file() {
        let dir = temp_dir("append");
        let path = dir.join("osconfig_x.log");
        fs::write(&path, "old\n").unwrap();
        let mut f = RollingFile::open(&path).unwrap();
        assert_eq!(f.size(), 4);
        f.write_line(b"new\n", 0).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "old\nnew\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_line_rolls_over_at_max_size() {
        let dir = temp_dir("roll");
        let path = dir.join("osconfig_x.log");
        let mut f = RollingFile::open(&path).unwrap();
        // 10-byte lines, limit 35: lines 0..=2 fit (30 bytes), line 3 rolls.
        for i in 0..3 {
            f.write_line(format!("line {i:03}\n").as_bytes(), 35).unwrap();
        }
        assert!(!bak_path(&path).exists());
        f.write_line(b"line 003\n", 35).unwrap();
        assert_eq!(fs::read_to_string(bak_path(&path)).unwrap(), "line 000\nline 001\nline 002\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "line 003\n");
        assert_eq!(f.size(), 9);
        // A second roll replaces the old .bak.
        for i in 4..8 {
            f.write_line(format!("line {i:03}\n").as_bytes(), 35).unwrap();
        }
        assert_eq!(fs::read_to_string(bak_path(&path)).unwrap(), "line 003\nline 004\nline 005\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "line 006\nline 007\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_line_zero_max_size_never_rolls() {
        let dir = temp_dir("noroll");
        let path = dir.join("osconfig_x.log");
        let mut f = RollingFile::open(&path).unwrap();
        for _ in 0..100 {
            f.write_line(b"0123456789\n", 0).unwrap();
        }
        assert!(!bak_path(&path).exists());
        assert_eq!(f.size(), 1100);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_write_line_longer_than_max_size_still_written() {
        let dir = temp_dir("long");
        let path = dir.join("osconfig_x.log");
        let mut f = RollingFile::open(&path).unwrap();
        f.write_line(&[b'x'; 50], 10).unwrap();
        f.write_line(b"y\n", 10).unwrap();
        assert_eq!(fs::read(bak_path(&path)).unwrap().len(), 50);
        assert_eq!(fs::read_to_string(&path).unwrap(), "y\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_open_under_regular_file_fails() {
        let dir = temp_dir("notdir");
        fs::write(dir.join("plain"), "").unwrap();
        assert!(RollingFile::open(&dir.join("plain/sub/osconfig_x.log")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
