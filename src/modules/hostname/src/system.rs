//! The kernel's host name: `gethostname(2)` and `sethostname(2)`.

use std::ffi::CStr;
use std::io;

/// The kernel's current host name (`gethostname(2)`).
pub fn hostname() -> io::Result<String> {
    // HOST_NAME_MAX is 64 on Linux; leave room for the terminating NUL.
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is a writable buffer of `buf.len()` bytes that outlives the call; gethostname writes at most
    // that many bytes into it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let name = CStr::from_bytes_until_nul(&buf).map_err(|_| io::Error::other("host name is not NUL-terminated"))?;
    Ok(name.to_string_lossy().into_owned())
}

/// Sets the kernel's host name (`sethostname(2)`; needs CAP_SYS_ADMIN). `name` must already be validated.
pub fn set_hostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe the bytes of `name`, valid for the duration of the call;
    // sethostname only reads them (no NUL terminator is needed).
    let rc = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_hostname_matches_proc() {
        let proc = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(hostname().unwrap(), proc.trim());
    }
}
