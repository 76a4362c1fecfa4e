//! The raw MMI C ABI: the handle and payload types, `MMI_OK`, and the six function signatures.
//!
//! These mirror `include/Mmi.h` one to one:
//! ```c
//! int        MmiGetInfo(const char* clientName, MMI_JSON_STRING* payload, int* payloadSizeBytes);
//! MMI_HANDLE MmiOpen(const char* clientName, const unsigned int maxPayloadSizeBytes);
//! void       MmiClose(MMI_HANDLE clientSession);
//! int        MmiSet(MMI_HANDLE clientSession, const char* componentName, const char* objectName,
//!                   const MMI_JSON_STRING payload, const int payloadSizeBytes);
//! int        MmiGet(MMI_HANDLE clientSession, const char* componentName, const char* objectName,
//!                   MMI_JSON_STRING* payload, int* payloadSizeBytes);
//! void       MmiFree(MMI_JSON_STRING payload);
//! ```

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uint, c_void};

use crate::Errno;

/// An opaque client session returned by `MmiOpen` (NULL on failure).
pub type MMI_HANDLE = *mut c_void;

/// A JSON payload: a pointer to `payloadSizeBytes` bytes of UTF-8 JSON (not NUL-terminated by contract).
pub type MMI_JSON_STRING = *mut c_char;

/// The status of a successful call; anything else is an errno value.
pub const MMI_OK: c_int = 0;

/// The errno the SDK returns when the module's Rust code panicked inside an MMI call (the panic is caught and
/// logged; the session stays usable).
pub const PANIC_ERRNO: Errno = Errno::EFAULT;

/// `int MmiGetInfo(const char* clientName, MMI_JSON_STRING* payload, int* payloadSizeBytes)`
pub type MmiGetInfoFn = unsafe extern "C" fn(
    client_name: *const c_char,
    payload: *mut MMI_JSON_STRING,
    payload_size_bytes: *mut c_int,
) -> c_int;

/// `MMI_HANDLE MmiOpen(const char* clientName, const unsigned int maxPayloadSizeBytes)`
pub type MmiOpenFn = unsafe extern "C" fn(client_name: *const c_char, max_payload_size_bytes: c_uint) -> MMI_HANDLE;

/// `void MmiClose(MMI_HANDLE clientSession)`
pub type MmiCloseFn = unsafe extern "C" fn(client_session: MMI_HANDLE);

/// `int MmiSet(MMI_HANDLE clientSession, const char* componentName, const char* objectName,
/// const MMI_JSON_STRING payload, const int payloadSizeBytes)`
pub type MmiSetFn = unsafe extern "C" fn(
    client_session: MMI_HANDLE,
    component_name: *const c_char,
    object_name: *const c_char,
    payload: MMI_JSON_STRING,
    payload_size_bytes: c_int,
) -> c_int;

/// `int MmiGet(MMI_HANDLE clientSession, const char* componentName, const char* objectName,
/// MMI_JSON_STRING* payload, int* payloadSizeBytes)`
pub type MmiGetFn = unsafe extern "C" fn(
    client_session: MMI_HANDLE,
    component_name: *const c_char,
    object_name: *const c_char,
    payload: *mut MMI_JSON_STRING,
    payload_size_bytes: *mut c_int,
) -> c_int;

/// `void MmiFree(MMI_JSON_STRING payload)`
pub type MmiFreeFn = unsafe extern "C" fn(payload: MMI_JSON_STRING);

/// The six exported symbol names, in the order of the header.
pub const SYMBOL_NAMES: [&str; 6] = ["MmiGetInfo", "MmiOpen", "MmiClose", "MmiSet", "MmiGet", "MmiFree"];
