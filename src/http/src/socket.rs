//! Socket files: a private parent directory, stale-socket clean-up, permissions, and removal on shutdown.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Mode of a socket's parent directory when this crate creates it.
pub const DEFAULT_DIR_MODE: u32 = 0o700;
/// Mode of the socket file itself.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;

/// How to create a listening socket file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketOptions {
    /// Mode for parent directories this crate creates (existing ones are left as they are).
    pub dir_mode: u32,
    /// Mode set on the socket file after binding.
    pub socket_mode: u32,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions { dir_mode: DEFAULT_DIR_MODE, socket_mode: DEFAULT_SOCKET_MODE }
    }
}

/// A bound socket file, removed when dropped if it is still the one this process created.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    identity: (u64, u64, i64, i64),
}

/// What tells one socket file from a later one at the same path (inode numbers are reused, so the change time too).
fn identity(meta: &fs::Metadata) -> (u64, u64, i64, i64) {
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
}

impl SocketFile {
    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file at the path is still the socket this process bound (not deleted, renamed away or replaced).
    pub fn is_in_place(&self) -> bool {
        fs::symlink_metadata(&self.path).is_ok_and(|meta| identity(&meta) == self.identity)
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        // Only remove the file we bound: a successor may already have replaced it.
        if let Ok(meta) = fs::symlink_metadata(&self.path) {
            if identity(&meta) == self.identity {
                if let Err(e) = fs::remove_file(&self.path) {
                    log::warn!("cannot remove socket {}: {e}", self.path.display());
                }
            }
        }
    }
}

/// Binds a listening socket at `path`: creates missing parent directories with `dir_mode`, removes a stale socket
/// file that no server answers on (a live one gives `AddrInUse`, a non-socket file `AlreadyExists`), binds, and sets
/// `socket_mode`. The returned [`SocketFile`] removes the file when dropped.
pub fn bind(path: &Path, options: SocketOptions) -> io::Result<(UnixListener, SocketFile)> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            fs::DirBuilder::new().recursive(true).mode(options.dir_mode).create(parent)?;
            // The mode given to mkdir is filtered by the umask: set it exactly.
            fs::set_permissions(parent, fs::Permissions::from_mode(options.dir_mode))?;
        }
    }
    remove_stale(path)?;
    let listener = UnixListener::bind(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(options.socket_mode))?;
    let meta = fs::symlink_metadata(path)?;
    Ok((listener, SocketFile { path: path.to_path_buf(), identity: identity(&meta) }))
}

fn remove_stale(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(io::ErrorKind::AddrInUse, format!("another server answers on {}", path.display()))),
        Err(_) => {
            log::info!("removing stale socket {}", path.display());
            fs::remove_file(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("osconfig-http-socket-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn test_bind_creates_private_dir_and_socket_mode() {
        let dir = temp_dir("modes");
        let path = dir.join("run/osconfig/mpid.sock");
        let (_listener, file) = bind(&path, SocketOptions::default()).unwrap();
        let dir_mode = fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777;
        let sock_mode = fs::symlink_metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(sock_mode, 0o660);
        drop(file);
        assert!(!path.exists(), "socket removed on drop");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_bind_replaces_stale_socket() {
        let dir = temp_dir("stale");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists(), "a dead server leaves its socket file");
        let (_listener, _file) = bind(&path, SocketOptions::default()).unwrap();
        assert!(UnixStream::connect(&path).is_ok());
        drop(_file);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_bind_refuses_live_socket_and_regular_file() {
        let dir = temp_dir("live");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let (_listener, _file) = bind(&path, SocketOptions::default()).unwrap();
        assert_eq!(bind(&path, SocketOptions::default()).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        let regular = dir.join("file");
        fs::write(&regular, b"keep me").unwrap();
        assert_eq!(bind(&regular, SocketOptions::default()).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&regular).unwrap(), b"keep me");
        drop(_file);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_drop_leaves_a_successors_socket() {
        let dir = temp_dir("successor");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let (listener, file) = bind(&path, SocketOptions::default()).unwrap();
        drop(listener);
        fs::remove_file(&path).unwrap();
        let _successor = UnixListener::bind(&path).unwrap();
        drop(file);
        assert!(path.exists(), "the successor's socket stays");
        fs::remove_dir_all(&dir).unwrap();
    }
}
