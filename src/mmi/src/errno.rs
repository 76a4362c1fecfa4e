//! `Errno`: the status codes the MMI functions return (0 is `MMI_OK`, anything else an errno value).

use std::fmt;

/// An errno value as returned by `MmiGetInfo`, `MmiSet` and `MmiGet` (never 0: success is `Ok(..)`).
///
/// The constants are the Linux values (taken from `libc`), which is what every MMI host and module uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// 1: operation not permitted (`MmiSet` on a module without desired objects).
    pub const EPERM: Errno = Errno(libc::EPERM);
    /// 2: no such file or directory / no such entry.
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    /// 5: input/output error.
    pub const EIO: Errno = Errno(libc::EIO);
    /// 7: argument list too long (a payload over the session's `maxPayloadSizeBytes`).
    pub const E2BIG: Errno = Errno(libc::E2BIG);
    /// 12: out of memory.
    pub const ENOMEM: Errno = Errno(libc::ENOMEM);
    /// 13: permission denied.
    pub const EACCES: Errno = Errno(libc::EACCES);
    /// 14: bad address. The SDK returns it when the module's code panicked (see [`crate::abi::PANIC_ERRNO`]).
    pub const EFAULT: Errno = Errno(libc::EFAULT);
    /// 16: device or resource busy.
    pub const EBUSY: Errno = Errno(libc::EBUSY);
    /// 17: already exists.
    pub const EEXIST: Errno = Errno(libc::EEXIST);
    /// 22: invalid argument: unknown/empty component, object or session, or an invalid payload.
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    /// 28: no space left on device.
    pub const ENOSPC: Errno = Errno(libc::ENOSPC);
    /// 38: function not implemented.
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    /// 61: no data available.
    pub const ENODATA: Errno = Errno(libc::ENODATA);
    /// 62: timer expired (CommandRunner: the command timed out).
    pub const ETIME: Errno = Errno(libc::ETIME);
    /// 71: protocol error. The loader reports it when a module breaks the MMI contract
    /// (for example `MmiGet` returning `MMI_OK` with an empty payload).
    pub const EPROTO: Errno = Errno(libc::EPROTO);
    /// 110: connection timed out.
    pub const ETIMEDOUT: Errno = Errno(libc::ETIMEDOUT);
    /// 125: operation canceled (CommandRunner: the command was canceled).
    pub const ECANCELED: Errno = Errno(libc::ECANCELED);

    /// The raw value.
    pub fn code(self) -> i32 {
        self.0
    }

    /// The symbolic name for the values above, `None` for others.
    pub fn name(self) -> Option<&'static str> {
        let name = match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::EIO => "EIO",
            Errno::E2BIG => "E2BIG",
            Errno::ENOMEM => "ENOMEM",
            Errno::EACCES => "EACCES",
            Errno::EFAULT => "EFAULT",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::EINVAL => "EINVAL",
            Errno::ENOSPC => "ENOSPC",
            Errno::ENOSYS => "ENOSYS",
            Errno::ENODATA => "ENODATA",
            Errno::ETIME => "ETIME",
            Errno::EPROTO => "EPROTO",
            Errno::ETIMEDOUT => "ETIMEDOUT",
            Errno::ECANCELED => "ECANCELED",
            _ => return None,
        };
        Some(name)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "errno {} ({name})", self.0),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl std::error::Error for Errno {}

impl From<std::io::Error> for Errno {
    /// The OS error code of an I/O error, or `EIO` when it has none.
    fn from(err: std::io::Error) -> Errno {
        Errno(err.raw_os_error().filter(|&c| c != 0).unwrap_or(libc::EIO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_errno_values_match_linux() {
        assert_eq!(Errno::EPERM.0, 1);
        assert_eq!(Errno::E2BIG.0, 7);
        assert_eq!(Errno::ENOMEM.0, 12);
        assert_eq!(Errno::EINVAL.0, 22);
        assert_eq!(Errno::ETIME.0, 62);
        assert_eq!(Errno::ECANCELED.0, 125);
    }

    #[test]
    fn test_display_names_known_and_unknown() {
        assert_eq!(Errno::EINVAL.to_string(), "errno 22 (EINVAL)");
        assert_eq!(Errno(4242).to_string(), "errno 4242");
    }

    #[test]
    fn test_from_io_error_keeps_code_or_eio() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(Errno::from(e), Errno::ENOENT);
        let e = std::io::Error::other("no code");
        assert_eq!(Errno::from(e), Errno::EIO);
    }
}
