//! Session ids of the MPI and of module hosts' MMI: 128 bits from `getrandom(2)`, written as upper-case hex in the UUID layout
//! (`F835511C-92A1-B162-49D1-3E550BDF3159`, the shape the reference shows). An id is a capability, so it is never
//! derived from a counter, a time or an address.

use std::io;

/// A new random session id.
pub fn new_session_id() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        let rest = &mut bytes[filled..];
        // SAFETY: `rest` is writable for `rest.len()` bytes; flags 0 asks for the urandom pool.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        } else {
            filled += n as usize;
        }
    }
    Ok(layout(&bytes))
}

fn layout(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut id = String::with_capacity(36);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push(HEX[usize::from(b >> 4)] as char);
        id.push(HEX[usize::from(b & 15)] as char);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_layout_shape() {
        let bytes = [0xF8, 0x35, 0x51, 0x1C, 0x92, 0xA1, 0xB1, 0x62, 0x49, 0xD1, 0x3E, 0x55, 0x0B, 0xDF, 0x31, 0x59];
        assert_eq!(layout(&bytes), "F835511C-92A1-B162-49D1-3E550BDF3159");
    }

    #[test]
    fn test_new_session_id_random() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_session_id().unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 36));
    }
}
