//! One platform per root: an exclusive `flock(2)` on `<root>/run/osconfig/platform.lock`, held for the life of the
//! process (the kernel releases it when the process ends, however it ends), with the holder's pid written in the
//! file. A second platform on the same root — with another `--socket`, or after the MPI socket was deleted — finds
//! the lock taken and exits 3 naming the first one's pid, before it touches a socket or starts a host.
//!
//! The file is never removed: removing it would let a third process lock a new file while the second still holds
//! the old one.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file's name in `<root>/run/osconfig`.
pub const LOCK_FILE: &str = "platform.lock";
/// Mode of the lock file.
pub const LOCK_FILE_MODE: u32 = 0o600;
/// How long a refused platform waits for the holder to write its pid (it locks first, then writes).
pub const PID_WAIT: Duration = Duration::from_millis(200);

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RootLock {
    _file: File,
    path: PathBuf,
}

/// Why the root could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds the lock; its pid when the file names one.
    Held {
        /// The lock file.
        path: PathBuf,
        /// The holder's pid as written in the file.
        pid: Option<u32>,
    },
    /// The lock file cannot be opened, locked or written.
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Held { path, pid: Some(pid) } => {
                write!(f, "another platform (pid {pid}) runs on this root: {} is locked", path.display())
            }
            LockError::Held { path, pid: None } => {
                write!(f, "another platform runs on this root: {} is locked", path.display())
            }
            LockError::Io { path, .. } => write!(f, "cannot lock {}", path.display()),
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockError::Held { .. } => None,
            LockError::Io { source, .. } => Some(source),
        }
    }
}

impl RootLock {
    /// Locks `<run_dir>/platform.lock` (created with mode 0600) and writes this process's pid in it.
    pub fn acquire(run_dir: &Path) -> Result<RootLock, LockError> {
        let path = run_dir.join(LOCK_FILE);
        let io_error = |source| LockError::Io { path: path.clone(), source };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(LOCK_FILE_MODE)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io_error)?;
        // SAFETY: flock on a descriptor we own, open for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(LockError::Held { pid: holder_pid(&mut file), path });
            }
            return Err(io_error(error));
        }
        file.set_len(0).map_err(io_error)?;
        file.rewind().map_err(io_error)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(io_error)?;
        Ok(RootLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pid written in the lock file by its holder (waiting up to [`PID_WAIT`] for it to be written).
fn holder_pid(file: &mut File) -> Option<u32> {
    let deadline = Instant::now() + PID_WAIT;
    loop {
        let mut text = String::new();
        let read = file.rewind().and_then(|()| file.read_to_string(&mut text));
        if let Some(pid) = read.ok().and_then(|_| text.trim().parse().ok()) {
            return Some(pid);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_acquire_refuses_a_second_holder_naming_the_first() {
        let dir = std::env::temp_dir().join(format!("osconfig-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = RootLock::acquire(&dir).unwrap();
        let text = std::fs::read_to_string(first.path()).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        // flock locks belong to the open file description: a second open in this process conflicts too.
        match RootLock::acquire(&dir) {
            Err(e @ LockError::Held { pid: Some(pid), .. }) => {
                assert_eq!(pid, std::process::id());
                assert!(e.to_string().contains(&format!("pid {pid}")), "{e}");
            }
            other => panic!("{other:?}"),
        }
        drop(first);
        let again = RootLock::acquire(&dir).unwrap();
        drop(again);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
