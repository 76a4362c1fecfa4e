//! `uname(2)`: kernel name, release, version and machine.

use std::ffi::CStr;

/// The `uname(2)` fields DeviceInfo reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uname {
    /// `sysname`, e.g. "Linux".
    pub sysname: String,
    /// `release`, e.g. "6.1.0-18-arm64".
    pub release: String,
    /// `version`, e.g. "#1 SMP Debian 6.1.76-1 (2024-02-01)".
    pub version: String,
    /// `machine`, e.g. "x86_64", "aarch64", "armv7l".
    pub machine: String,
}

/// Calls `uname(2)`; on the (practically impossible) failure every field is "".
pub fn uname() -> Uname {
    // SAFETY: `utsname` is a plain C struct of byte arrays, for which all-zero bytes are a valid value.
    let mut buf: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `buf` is a valid, writable `utsname` that lives across the call; uname only writes into it.
    if unsafe { libc::uname(&mut buf) } != 0 {
        return Uname::default();
    }
    Uname {
        sysname: field(&buf.sysname),
        release: field(&buf.release),
        version: field(&buf.version),
        machine: field(&buf.machine),
    }
}

/// A NUL-terminated `utsname` field as a String (lossy UTF-8); a field without NUL gives "".
fn field(raw: &[libc::c_char]) -> String {
    // c_char is i8 or u8 depending on the target: take each one's byte.
    let bytes: Vec<u8> = raw.iter().map(|c| c.to_ne_bytes()[0]).collect();
    CStr::from_bytes_until_nul(&bytes).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_uname_matches_proc() {
        let u = uname();
        assert_eq!(u.sysname, "Linux");
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(u.release, release.trim());
        let version = std::fs::read_to_string("/proc/sys/kernel/version").unwrap();
        assert_eq!(u.version, version.trim());
        assert!(!u.machine.is_empty());
    }

    #[test]
    fn test_field_without_nul_is_empty() {
        let c = |b: u8| libc::c_char::from_ne_bytes([b]);
        let raw = [c(b'a'); 4];
        assert_eq!(field(&raw), "");
        let raw = [c(b'o'), c(b'k'), 0, c(b'x')];
        assert_eq!(field(&raw), "ok");
    }
}
