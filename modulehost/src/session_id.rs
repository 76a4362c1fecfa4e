//! Session ids: 128 random bits from `getrandom(2)`, written like a UUID (`F835511C-92A1-B162-49D1-3E550BDF3159`).
//!
//! An id is a capability (whoever knows it can use the session), so it must be unguessable: never a counter,
//! never a pointer.

use std::io;

/// Fills `buf` from the kernel's random source (blocks only until the pool is initialised, at boot).
fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: rest is writable for rest.len() bytes; flags 0 is valid.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(())
}

/// Formats 16 bytes as `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` (upper-case hex).
fn format_id(bytes: &[u8; 16]) -> String {
    let mut id = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push_str(&format!("{b:02X}"));
    }
    id
}

/// A new random session id.
pub fn new_session_id() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes)?;
    Ok(format_id(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_format_id_layout() {
        let bytes = [0xF8, 0x35, 0x51, 0x1C, 0x92, 0xA1, 0xB1, 0x62, 0x49, 0xD1, 0x3E, 0x55, 0x0B, 0xDF, 0x31, 0x59];
        assert_eq!(format_id(&bytes), "F835511C-92A1-B162-49D1-3E550BDF3159");
    }

    #[test]
    fn test_new_session_id_unique_and_shaped() {
        let a = new_session_id().unwrap();
        let b = new_session_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
    }
}
