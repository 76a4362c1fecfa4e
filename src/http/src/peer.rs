//! Peer credentials of a Unix-socket client (`SO_PEERCRED`).

use std::io;
use std::os::unix::io::AsRawFd;

/// Who is on the other end of a Unix socket, as the kernel recorded it at connect time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerCred {
    /// The client's process id.
    pub pid: i32,
    /// The client's effective user id.
    pub uid: u32,
    /// The client's effective group id.
    pub gid: u32,
}

impl PeerCred {
    /// Reads the credentials of the peer of a connected Unix socket.
    pub fn of<S: AsRawFd>(socket: &S) -> io::Result<PeerCred> {
        let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: `cred` and `len` are valid for writes and `len` holds the size of `cred`, as getsockopt requires;
        // the descriptor is borrowed from a live socket.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&mut cred as *mut libc::ucred).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PeerCred { pid: cred.pid, uid: cred.uid, gid: cred.gid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn test_of_reports_this_process() {
        let (a, _b) = UnixStream::pair().unwrap();
        let cred = PeerCred::of(&a).unwrap();
        assert_eq!(cred.pid as u32, std::process::id());
        // SAFETY: getuid and getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!((cred.uid, cred.gid), (uid, gid));
    }
}
