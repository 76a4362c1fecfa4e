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
    ///
    /// Refuses (see [`is_refused`]) a path that is a symbolic link, a FIFO, a socket or a directory.
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
    ///
    /// rename(2) follows neither name: a link planted at `<file>.bak` is replaced, not written through, and the new
    /// file is opened like the first one (a link planted at `<file>` meanwhile is refused).
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

/// Why a log path was refused: something other than a regular file stands there.
#[derive(Debug)]
pub(crate) struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether `e` is a refusal of the path itself (a link, a FIFO, a directory) rather than an I/O failure.
pub(crate) fn is_refused(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Refused>())
}

fn refused(reason: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, Refused(reason))
}

/// Open `path` for appending; a file created here gets mode 0640 whatever the umask.
///
/// Only a regular file is accepted, and the last component is never followed: `O_NOFOLLOW` refuses a symbolic link
/// (someone's link would make us append to its target, as root), and `O_NONBLOCK` makes a FIFO without a reader
/// fail at once (`ENXIO`) instead of blocking the process; what opens but is not a regular file is refused after
/// `fstat`. The directories above are followed (`/var/log` is a link on some images). `O_NONBLOCK` has no effect
/// on a regular file.
fn open_append(path: &Path) -> io::Result<File> {
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    let created = OpenOptions::new().append(true).create_new(true).mode(FILE_MODE).custom_flags(flags).open(path);
    let file = match created {
        Ok(file) => {
            // The umask may have removed bits of FILE_MODE; set it exactly on the file we created.
            file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
            file
        }
        // Something is there already (O_EXCL also fails on a link, even a dangling one).
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            OpenOptions::new().append(true).custom_flags(flags).open(path).map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => refused("it is a symbolic link"),
                Some(libc::ENXIO) => refused("not a regular file: a FIFO or socket"),
                Some(libc::EISDIR) => refused("not a regular file: a directory"),
                _ => e,
            })?
        }
        Err(e) => return Err(e),
    };
    if !file.metadata()?.file_type().is_file() {
        return Err(refused("not a regular file"));
    }
    Ok(file)
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

    #[test]
    fn test_open_refuses_symlink_and_leaves_target_untouched() {
        let dir = temp_dir("symlink");
        let target = dir.join("target");
        fs::write(&target, "precious\n").unwrap();
        let path = dir.join("osconfig_x.log");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let e = RollingFile::open(&path).unwrap_err();
        assert!(is_refused(&e) && e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_open_refuses_fifo_without_blocking() {
        let dir = temp_dir("fifo");
        let path = dir.join("osconfig_x.log");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads the NUL-terminated path, which outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        // Opening a FIFO for writing blocks until a reader comes: this returns at once or not at all.
        let e = RollingFile::open(&path).unwrap_err();
        assert!(is_refused(&e) && e.to_string().contains("not a regular file"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_open_refuses_directory() {
        let dir = temp_dir("isdir");
        let path = dir.join("osconfig_x.log");
        fs::create_dir(&path).unwrap();
        let e = RollingFile::open(&path).unwrap_err();
        assert!(is_refused(&e), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_open_follows_a_linked_directory() {
        let dir = temp_dir("linkeddir");
        fs::create_dir(dir.join("volatile")).unwrap();
        std::os::unix::fs::symlink(dir.join("volatile"), dir.join("log")).unwrap();
        let mut f = RollingFile::open(&dir.join("log/osconfig_x.log")).unwrap();
        f.write_line(b"kept\n", 0).unwrap();
        assert_eq!(fs::read_to_string(dir.join("volatile/osconfig_x.log")).unwrap(), "kept\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_roll_replaces_symlink_at_bak_without_following_it() {
        let dir = temp_dir("baklink");
        let target = dir.join("target");
        fs::write(&target, "precious\n").unwrap();
        let path = dir.join("osconfig_x.log");
        std::os::unix::fs::symlink(&target, bak_path(&path)).unwrap();
        let mut f = RollingFile::open(&path).unwrap();
        f.write_line(b"line 000\n", 12).unwrap();
        f.write_line(b"line 001\n", 12).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious\n");
        let bak = fs::symlink_metadata(bak_path(&path)).unwrap();
        assert!(bak.file_type().is_file(), "the .bak is now the rolled file, not the link");
        assert_eq!(fs::read_to_string(bak_path(&path)).unwrap(), "line 000\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), "line 001\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_roll_with_symlink_planted_at_path_leaves_target_untouched() {
        let dir = temp_dir("rolllink");
        let target = dir.join("target");
        fs::write(&target, "precious\n").unwrap();
        let path = dir.join("osconfig_x.log");
        let mut f = RollingFile::open(&path).unwrap();
        f.write_line(b"line 000\n", 12).unwrap();
        // Someone renames the file away and plants a link where it was.
        fs::rename(&path, dir.join("moved")).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        // The roll renames the link to .bak (rename never follows), then creates a fresh file.
        f.write_line(b"line 001\n", 12).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious\n");
        assert!(fs::symlink_metadata(&path).unwrap().file_type().is_file());
        assert_eq!(fs::read_to_string(&path).unwrap(), "line 001\n");
        fs::remove_dir_all(&dir).unwrap();
    }
}
