//! Whether OpenSSL can load an engine by its id, asked of the libcrypto the SDK links (`ENGINE_by_id`, then
//! `ENGINE_free`): the SDK itself only finds out when it opens a connection, and says so in its own log only.

use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};

extern "C" {
    fn ENGINE_by_id(id: *const c_char) -> *mut c_void;
    fn ENGINE_free(engine: *mut c_void) -> c_int;
    fn ERR_clear_error();
}

/// Whether OpenSSL finds the engine `id`: a built-in one, or `<id>.so` in its engines directory (`OPENSSL_ENGINES`
/// or the one it was built with), loaded through its `dynamic` engine. Only a structural reference is taken and
/// released (the engine is not initialised). An id with a NUL byte is never available.
pub fn openssl_engine_available(id: &str) -> bool {
    let Ok(id) = CString::new(id) else { return false };
    // SAFETY: a NUL-terminated string valid for the call; ENGINE_by_id returns a new structural reference or NULL.
    let engine = unsafe { ENGINE_by_id(id.as_ptr()) };
    if engine.is_null() {
        // SAFETY: clears this thread's OpenSSL error queue (the failed lookup left entries the SDK would log later).
        unsafe { ERR_clear_error() };
        return false;
    }
    // SAFETY: the reference ENGINE_by_id returned, released once.
    unsafe { ENGINE_free(engine) };
    true
}
