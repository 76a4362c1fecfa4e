//! Running the module as its own user: hand the socket to the account, then drop root for good.
//!
//! Order (in [`crate::run`]): bind the socket as root, [`hand_over`] it (chown to the account, so the host still
//! owns what it serves while the platform, root, can still connect), [`drop_to`] the account, and only then load
//! the module, so no module code ever runs as root unless asked to.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A Linux account: the uid and the primary gid the host switches to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// The user id.
    pub uid: u32,
    /// The primary group id (from the password database, or the uid's number when the uid has no entry).
    pub gid: u32,
}

/// Why handing over the socket or dropping privileges failed.
#[derive(Debug)]
pub enum PrivilegeError {
    /// Asked to switch to another user while not running as root.
    NotRoot {
        /// The uid the host runs as.
        uid: u32,
    },
    /// A system call failed.
    Syscall {
        /// Which call, e.g. `"setuid"`.
        call: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// `chown` of the socket (or its directory) failed.
    Chown {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// After the switch the process could still act as root (or does not have the requested ids).
    NotDropped(&'static str),
}

impl fmt::Display for PrivilegeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivilegeError::NotRoot { uid } => write!(f, "running as uid {uid}, not root: cannot switch user"),
            PrivilegeError::Syscall { call, .. } => write!(f, "{call} failed"),
            PrivilegeError::Chown { path, .. } => write!(f, "cannot chown {}", path.display()),
            PrivilegeError::NotDropped(what) => write!(f, "privileges not dropped: {what}"),
        }
    }
}

impl std::error::Error for PrivilegeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PrivilegeError::Syscall { source, .. } | PrivilegeError::Chown { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn check(call: &'static str, rc: libc::c_int) -> Result<(), PrivilegeError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(PrivilegeError::Syscall { call, source: io::Error::last_os_error() })
    }
}

/// The effective uid of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The account of `uid`: its primary group from `getpwuid_r`, or `gid = uid` when the password database has no
/// entry for it (containers often run numeric ids without one).
pub fn account(uid: u32) -> Account {
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0u8; size];
        // SAFETY: passwd is plain data; zeroed is a valid (unused) value that getpwuid_r overwrites.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: pwd and result are locals, buf is writable for its length.
        let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 2;
            continue;
        }
        if rc == 0 && !result.is_null() {
            if !pwd.pw_name.is_null() {
                // SAFETY: pw_name points into buf, NUL-terminated by getpwuid_r, and buf is alive here.
                let name = unsafe { CStr::from_ptr(pwd.pw_name) };
                log::debug!("uid {uid} is {} with primary gid {}", name.to_string_lossy(), pwd.pw_gid);
            }
            return Account { uid, gid: pwd.pw_gid };
        }
        log::info!("uid {uid} has no password entry; using gid {uid}");
        return Account { uid, gid: uid };
    }
}

/// A socket file chown-ed to the module's account; removed on drop if it is still that file.
///
/// `chown` changes the file's ctime, so `osconfig_http`'s own clean-up (which identifies its file by device,
/// inode and ctime) no longer recognises it: this guard takes over, with the identity taken after the `chown`.
#[derive(Debug)]
pub struct HandedOverSocket {
    path: PathBuf,
    identity: (u64, u64, i64, i64),
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
}

impl HandedOverSocket {
    /// Chowns the socket at `path` to `account` and guards it.
    pub fn new(path: &Path, account: Account) -> Result<HandedOverSocket, PrivilegeError> {
        hand_over(path, account)?;
        let meta = std::fs::symlink_metadata(path)
            .map_err(|source| PrivilegeError::Chown { path: path.to_path_buf(), source })?;
        Ok(HandedOverSocket { path: path.to_path_buf(), identity: identity(&meta) })
    }
}

impl Drop for HandedOverSocket {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path) {
            if identity(&meta) == self.identity {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    log::warn!("cannot remove socket {}: {e}", self.path.display());
                }
            }
        }
    }
}

/// `chown` a path to the account (without following a symlink).
pub fn hand_over(path: &Path, account: Account) -> Result<(), PrivilegeError> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| PrivilegeError::Chown {
        path: path.to_path_buf(),
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    // SAFETY: c_path is a valid NUL-terminated path for the call.
    if unsafe { libc::lchown(c_path.as_ptr(), account.uid, account.gid) } != 0 {
        return Err(PrivilegeError::Chown { path: path.to_path_buf(), source: io::Error::last_os_error() });
    }
    Ok(())
}

/// Becomes `account` for good: no supplementary groups, then the gid, then the uid; then checks that root cannot
/// be regained. Call it before any thread is started (glibc applies the ids to every thread, but the fewer the
/// better) and before any module code runs.
pub fn drop_to(account: Account) -> Result<(), PrivilegeError> {
    // SAFETY: an empty group list (size 0, NULL pointer) is valid for setgroups.
    check("setgroups", unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: setgid/setuid take plain ids and have no memory preconditions.
    check("setgid", unsafe { libc::setgid(account.gid) })?;
    // SAFETY: as above.
    check("setuid", unsafe { libc::setuid(account.uid) })?;
    verify(account)
}

fn verify(account: Account) -> Result<(), PrivilegeError> {
    // SAFETY: the get*id calls have no preconditions and cannot fail.
    let (uid, euid, gid, egid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getgid(), libc::getegid()) };
    if (uid, euid) != (account.uid, account.uid) {
        return Err(PrivilegeError::NotDropped("uid is not the requested one"));
    }
    if (gid, egid) != (account.gid, account.gid) {
        return Err(PrivilegeError::NotDropped("gid is not the requested one"));
    }
    // SAFETY: getgroups with size 0 only returns the count.
    if unsafe { libc::getgroups(0, std::ptr::null_mut()) } != 0 {
        return Err(PrivilegeError::NotDropped("supplementary groups remain"));
    }
    if account.uid != 0 {
        // SAFETY: as in drop_to; this must fail now.
        if unsafe { libc::setuid(0) } == 0 || unsafe { libc::seteuid(0) } == 0 {
            return Err(PrivilegeError::NotDropped("setuid(0) succeeded"));
        }
    }
    if account.gid != 0 {
        // SAFETY: as above; this must fail now.
        if unsafe { libc::setgid(0) } == 0 {
            return Err(PrivilegeError::NotDropped("setgid(0) succeeded"));
        }
    }
    log::info!("running as uid {} gid {}", account.uid, account.gid);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_account_root_has_gid_zero() {
        assert_eq!(account(0), Account { uid: 0, gid: 0 });
    }

    #[test]
    fn test_account_without_entry_uses_uid_as_gid() {
        assert_eq!(account(3_999_999_999), Account { uid: 3_999_999_999, gid: 3_999_999_999 });
    }

    #[test]
    fn test_hand_over_missing_path_is_chown_error() {
        let err = hand_over(Path::new("/nonexistent/osconfig-modulehost.sock"), Account { uid: 0, gid: 0 });
        assert!(matches!(err, Err(PrivilegeError::Chown { .. })));
    }
}
