//! The module loader: `dlopen` behind a safe wrapper.
//!
//! - [`Library::load`] takes an absolute path, opens it with `RTLD_NOW | RTLD_LOCAL` and resolves all six MMI
//!   symbols up front (an error names the missing one).
//! - [`Library::get_info`] calls `MmiGetInfo`, copies exactly `payloadSizeBytes` bytes, frees them with the module's
//!   `MmiFree` and validates them with [`ModuleInfo::from_json`].
//! - [`Library::open`] gives a [`Session`] that borrows the library, so a session cannot outlive it; dropping the
//!   session calls `MmiClose`.
//! - [`Library::unload`] calls `dlclose` and returns its error; dropping a `Library` unloads it too and logs the error.
//! - [`LoadedModule`] owns a `Library` and its open sessions (addressed by [`SessionId`]), for owners that must be
//!   `'static` (a module-host worker thread, a recipe runner that loads and unloads modules between steps).
//!
//! Loading one path twice in a process gives the same instance (dlopen counts references), so module globals
//! are shared; tests that need a private instance load a copy of the file under another name.
//!
//! The loader trusts the module not to crash or hang: run it in a separate process (the module host) when that
//! matters. It does not trust the module's answers: sizes, NULL payloads and the info JSON are checked.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use crate::abi::{
    MmiCloseFn, MmiFreeFn, MmiGetFn, MmiGetInfoFn, MmiOpenFn, MmiSetFn, MMI_HANDLE, MMI_JSON_STRING, MMI_OK,
};
use crate::{Errno, InfoError, ModuleInfo};

pub use crate::loaded::{LoadedModule, SessionId};

/// Why loading, identifying or unloading a module failed.
#[derive(Debug)]
pub enum LoadError {
    /// The module path is not absolute.
    NotAbsolute(PathBuf),
    /// The path contains a NUL byte.
    BadPath(PathBuf),
    /// `dlopen` failed (the text is `dlerror()`).
    Open {
        /// The module path.
        path: PathBuf,
        /// `dlerror()` text.
        message: String,
    },
    /// The module does not export one of the six MMI functions.
    MissingSymbol {
        /// The module path.
        path: PathBuf,
        /// The missing symbol, e.g. `"MmiFree"`.
        symbol: &'static str,
        /// `dlerror()` text.
        message: String,
    },
    /// A client name contains a NUL byte.
    BadClientName,
    /// `MmiGetInfo` returned an errno.
    GetInfo(Errno),
    /// `MmiGetInfo` returned `MMI_OK` but no usable payload (NULL pointer or size <= 0).
    EmptyInfo,
    /// The `MmiGetInfo` JSON is invalid (the error names the field).
    Info(InfoError),
    /// `dlclose` failed (the text is `dlerror()`).
    Close {
        /// The module path.
        path: PathBuf,
        /// `dlerror()` text.
        message: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotAbsolute(p) => write!(f, "module path {} is not absolute", p.display()),
            LoadError::BadPath(p) => write!(f, "module path {} contains a nul byte", p.display()),
            LoadError::Open { path, message } => write!(f, "cannot load module {}: {message}", path.display()),
            LoadError::MissingSymbol { path, symbol, message } => {
                write!(f, "module {} does not export {symbol}: {message}", path.display())
            }
            LoadError::BadClientName => write!(f, "client name contains a nul byte"),
            LoadError::GetInfo(e) => write!(f, "MmiGetInfo failed with {e}"),
            LoadError::EmptyInfo => write!(f, "MmiGetInfo returned ok with an empty payload"),
            LoadError::Info(_) => write!(f, "MmiGetInfo returned invalid module info"),
            LoadError::Close { path, message } => write!(f, "cannot unload module {}: {message}", path.display()),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::GetInfo(e) => Some(e),
            LoadError::Info(e) => Some(e),
            _ => None,
        }
    }
}

/// The six resolved entry points.
#[derive(Clone, Copy, Debug)]
struct Symbols {
    get_info: MmiGetInfoFn,
    open: MmiOpenFn,
    close: MmiCloseFn,
    set: MmiSetFn,
    get: MmiGetFn,
    free: MmiFreeFn,
}

/// `dlerror()` as text (it is per-thread, so call it right after the failing call on the same thread).
fn dl_error() -> String {
    // SAFETY: dlerror has no preconditions; it returns NULL or a NUL-terminated thread-local string that stays
    // valid until the next dl* call on this thread, and we copy it at once.
    let p = unsafe { libc::dlerror() };
    if p.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: non-NULL and NUL-terminated (see above).
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// A loaded module (`dlopen` handle plus its six MMI functions).
///
/// `Library` is `Send` so a module-host thread can own it; it is not `Sync` because modules are not required to
/// accept calls from several threads at once. Sessions borrow it, so it cannot be unloaded while one is open.
#[derive(Debug)]
pub struct Library {
    handle: *mut c_void,
    path: PathBuf,
    syms: Symbols,
}

// SAFETY: the dlopen handle is a process-wide token that any thread may use (dlsym/dlclose are thread-safe), and
// the entry points are plain C functions. Moving the Library to another thread moves all use of the module with
// it (Library is not Sync and Sessions borrow it, so calls still come from one thread at a time).
unsafe impl Send for Library {}

impl Library {
    /// `dlopen(path, RTLD_NOW | RTLD_LOCAL)` and resolve `MmiGetInfo`, `MmiOpen`, `MmiClose`, `MmiSet`, `MmiGet`
    /// and `MmiFree`. The path must be absolute (no search path is used).
    ///
    /// Loading runs the library's initializers: only load modules you trust as much as this process.
    pub fn load(path: impl AsRef<Path>) -> Result<Library, LoadError> {
        let path = path.as_ref();
        if !path.is_absolute() {
            return Err(LoadError::NotAbsolute(path.to_path_buf()));
        }
        let c_path =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| LoadError::BadPath(path.to_path_buf()))?;
        // SAFETY: c_path is a valid NUL-terminated string; the flags are valid. Running the library's
        // initializers is the documented risk of `load`.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(LoadError::Open { path: path.to_path_buf(), message: dl_error() });
        }
        match resolve(handle, path) {
            Ok(syms) => {
                log::debug!("loaded module {}", path.display());
                Ok(Library { handle, path: path.to_path_buf(), syms })
            }
            Err(e) => {
                // SAFETY: handle came from dlopen above and is closed once; nothing from it is kept.
                if unsafe { libc::dlclose(handle) } != 0 {
                    log::error!("dlclose({}) after a failed load: {}", path.display(), dl_error());
                }
                Err(e)
            }
        }
    }

    /// The path the module was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Call `MmiGetInfo(client)` and validate the answer with [`ModuleInfo::from_json`].
    pub fn get_info(&self, client: &str) -> Result<ModuleInfo, LoadError> {
        let bytes = self.get_info_raw(client)?;
        ModuleInfo::from_json(&bytes).map_err(LoadError::Info)
    }

    /// Call `MmiGetInfo(client)` and return the module's JSON bytes exactly as sent (copied out, released with its
    /// `MmiFree`), without validating them: for hosts that pass the document on unchanged (the module host's
    /// `/MmiGetInfo/` endpoint). Errors: an errno from the module, or `MMI_OK` with no payload.
    pub fn get_info_raw(&self, client: &str) -> Result<Vec<u8>, LoadError> {
        let client = CString::new(client).map_err(|_| LoadError::BadClientName)?;
        let mut payload: MMI_JSON_STRING = std::ptr::null_mut();
        let mut size: c_int = 0;
        // SAFETY: get_info is the module's MmiGetInfo with the ABI's signature; the arguments are a valid C string
        // and two writable out-pointers that live across the call.
        let rc = unsafe { (self.syms.get_info)(client.as_ptr(), &mut payload, &mut size) };
        if rc != MMI_OK {
            // As in Session::get: a payload left behind on failure is not touched.
            return Err(LoadError::GetInfo(Errno(rc)));
        }
        // SAFETY: payload/size are what the module just returned; take_payload frees via MmiFree.
        unsafe { self.take_payload(payload, size) }.ok_or(LoadError::EmptyInfo)
    }

    /// Call `MmiOpen(client, max_payload_size_bytes)` (0 = unlimited). `MmiOpen` has no error code: a NULL handle
    /// is reported as `Errno::EIO`, a client name with a NUL byte as `Errno::EINVAL`.
    pub fn open(&self, client: &str, max_payload_size_bytes: u32) -> Result<Session<'_>, Errno> {
        let handle = self.raw_open(client, max_payload_size_bytes)?;
        Ok(Session { lib: self, handle, _not_send: PhantomData })
    }

    /// `dlclose` the module and report its error.
    pub fn unload(self) -> Result<(), LoadError> {
        let mut this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the handle came from dlopen and is closed exactly once (Drop will not run); no Session can be
        // alive because sessions borrow the Library, which `unload` consumes.
        let rc = unsafe { libc::dlclose(this.handle) };
        // Leaves an empty PathBuf (no allocation) in the never-dropped shell.
        let path = std::mem::take(&mut this.path);
        if rc != 0 {
            return Err(LoadError::Close { path, message: dl_error() });
        }
        log::debug!("unloaded module {}", path.display());
        Ok(())
    }

    /// Copy a module payload out and release it with the module's `MmiFree`.
    /// `None` when the pointer is NULL or the size is not positive.
    ///
    /// # Safety
    /// `payload` is NULL or was returned by this module together with `size`, and is not used afterwards.
    unsafe fn take_payload(&self, payload: MMI_JSON_STRING, size: c_int) -> Option<Vec<u8>> {
        if payload.is_null() {
            return None;
        }
        let bytes = if size > 0 {
            // SAFETY: the module promised `size` readable bytes at `payload`.
            Some(unsafe { std::slice::from_raw_parts(payload.cast::<u8>(), size as usize) }.to_vec())
        } else {
            None
        };
        // SAFETY: payload came from this module and is freed once with its own MmiFree.
        unsafe { (self.syms.free)(payload) };
        bytes
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        // SAFETY: the handle came from dlopen and is closed exactly once; sessions borrow the library, so none is
        // alive now.
        if unsafe { libc::dlclose(self.handle) } != 0 {
            log::error!("dlclose({}): {}", self.path.display(), dl_error());
        }
    }
}

/// Resolve the six MMI symbols.
fn resolve(handle: *mut c_void, path: &Path) -> Result<Symbols, LoadError> {
    let lookup = |symbol: &'static str| -> Result<*mut c_void, LoadError> {
        let name = CString::new(symbol).expect("symbol names have no NUL");
        // SAFETY: clear any stale error first so a NULL result can be told apart; dlerror has no preconditions.
        unsafe { libc::dlerror() };
        // SAFETY: handle is a live dlopen handle, name a valid C string.
        let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
        if p.is_null() {
            return Err(LoadError::MissingSymbol { path: path.to_path_buf(), symbol, message: dl_error() });
        }
        Ok(p)
    };
    let get_info = lookup("MmiGetInfo")?;
    let open = lookup("MmiOpen")?;
    let close = lookup("MmiClose")?;
    let set = lookup("MmiSet")?;
    let get = lookup("MmiGet")?;
    let free = lookup("MmiFree")?;
    // SAFETY: each pointer is the non-NULL address of the exported function of that name; the MMI contract fixes
    // its C signature, which the fn-pointer types mirror. Function and data pointers have the same size on every
    // Linux target.
    unsafe {
        Ok(Symbols {
            get_info: std::mem::transmute::<*mut c_void, MmiGetInfoFn>(get_info),
            open: std::mem::transmute::<*mut c_void, MmiOpenFn>(open),
            close: std::mem::transmute::<*mut c_void, MmiCloseFn>(close),
            set: std::mem::transmute::<*mut c_void, MmiSetFn>(set),
            get: std::mem::transmute::<*mut c_void, MmiGetFn>(get),
            free: std::mem::transmute::<*mut c_void, MmiFreeFn>(free),
        })
    }
}

/// An open client session of a loaded module (`MmiOpen` .. `MmiClose`). Closed on drop.
#[derive(Debug)]
pub struct Session<'lib> {
    lib: &'lib Library,
    handle: MMI_HANDLE,
    _not_send: PhantomData<*mut c_void>,
}

impl Session<'_> {
    /// The raw handle (for logging).
    pub fn handle(&self) -> MMI_HANDLE {
        self.handle
    }

    /// `MmiSet(component, object, payload)`: `payload` is the desired object's JSON bytes, passed by length
    /// (not NUL-terminated). Names with NUL bytes and payloads over `i32::MAX` bytes are refused locally
    /// (`EINVAL` / `E2BIG`).
    pub fn set(&self, component: &str, object: &str, payload: &[u8]) -> Result<(), Errno> {
        // SAFETY: the handle is a live session of this library (it is closed only on drop).
        unsafe { self.lib.raw_set(self.handle, component, object, payload) }
    }

    /// `MmiGet(component, object)`: the reported object's JSON bytes, copied out (the module's buffer is released
    /// with its `MmiFree`). A module that answers `MMI_OK` with a NULL or empty payload is reported as
    /// `Errno::EPROTO`, not trusted.
    pub fn get(&self, component: &str, object: &str) -> Result<Vec<u8>, Errno> {
        // SAFETY: the handle is a live session of this library (it is closed only on drop).
        unsafe { self.lib.raw_get(self.handle, component, object) }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from this library's MmiOpen and is closed exactly once, here.
        unsafe { self.lib.raw_close(self.handle) };
    }
}

impl Library {
    /// `MmiOpen`: a non-NULL handle or `EIO` (`EINVAL` for a client name with a NUL byte).
    pub(crate) fn raw_open(&self, client: &str, max_payload_size_bytes: u32) -> Result<MMI_HANDLE, Errno> {
        let client = CString::new(client).map_err(|_| Errno::EINVAL)?;
        // SAFETY: open is the module's MmiOpen; the client name is a valid C string for the call.
        let handle = unsafe { (self.syms.open)(client.as_ptr(), max_payload_size_bytes as c_uint) };
        if handle.is_null() {
            log::error!("MmiOpen of {} returned NULL", self.path.display());
            return Err(Errno::EIO);
        }
        Ok(handle)
    }

    /// `MmiSet` on a raw handle (see [`Session::set`]).
    ///
    /// # Safety
    /// `handle` was returned by this library's `MmiOpen` and is not closed yet.
    pub(crate) unsafe fn raw_set(
        &self,
        handle: MMI_HANDLE,
        component: &str,
        object: &str,
        payload: &[u8],
    ) -> Result<(), Errno> {
        let component = CString::new(component).map_err(|_| Errno::EINVAL)?;
        let object = CString::new(object).map_err(|_| Errno::EINVAL)?;
        let size = c_int::try_from(payload.len()).map_err(|_| Errno::E2BIG)?;
        // The ABI type is `char*` but modules only read it; never hand out a dangling pointer for an empty slice.
        let ptr = if payload.is_empty() { b"\0".as_ptr().cast::<c_char>() } else { payload.as_ptr().cast::<c_char>() };
        // SAFETY: set is the module's MmiSet; the handle is live (caller's contract); the names are valid C
        // strings; ptr is readable for `size` bytes for the call.
        let rc = unsafe { (self.syms.set)(handle, component.as_ptr(), object.as_ptr(), ptr.cast_mut(), size) };
        if rc == MMI_OK {
            Ok(())
        } else {
            Err(Errno(rc))
        }
    }

    /// `MmiGet` on a raw handle (see [`Session::get`]).
    ///
    /// # Safety
    /// `handle` was returned by this library's `MmiOpen` and is not closed yet.
    pub(crate) unsafe fn raw_get(&self, handle: MMI_HANDLE, component: &str, object: &str) -> Result<Vec<u8>, Errno> {
        let component = CString::new(component).map_err(|_| Errno::EINVAL)?;
        let object = CString::new(object).map_err(|_| Errno::EINVAL)?;
        let mut payload: MMI_JSON_STRING = std::ptr::null_mut();
        let mut size: c_int = 0;
        // SAFETY: get is the module's MmiGet; the handle is live (caller's contract); names are valid C strings;
        // the out-pointers are writable locals.
        let rc = unsafe { (self.syms.get)(handle, component.as_ptr(), object.as_ptr(), &mut payload, &mut size) };
        if rc != MMI_OK {
            // The contract says payload is NULL on failure. If a module left one anyway we do not touch it:
            // it may be garbage, and leaking beats crashing.
            return Err(Errno(rc));
        }
        // SAFETY: payload/size are this module's answer; take_payload frees via MmiFree.
        match unsafe { self.take_payload(payload, size) } {
            Some(bytes) => Ok(bytes),
            None => {
                log::error!(
                    "MmiGet({}, {}) of {} returned ok with an empty payload",
                    component.to_string_lossy(),
                    object.to_string_lossy(),
                    self.path.display()
                );
                Err(Errno::EPROTO)
            }
        }
    }

    /// `MmiClose` on a raw handle.
    ///
    /// # Safety
    /// `handle` was returned by this library's `MmiOpen`, is not closed yet, and is not used afterwards.
    pub(crate) unsafe fn raw_close(&self, handle: MMI_HANDLE) {
        // SAFETY: close is the module's MmiClose, called once for a live handle (caller's contract).
        unsafe { (self.syms.close)(handle) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_load_relative_path_refused() {
        let err = Library::load("fixture.so").unwrap_err();
        assert!(matches!(err, LoadError::NotAbsolute(_)), "{err}");
    }

    #[test]
    fn test_load_missing_file_reports_dlerror() {
        let err = Library::load("/nonexistent/osconfig-mmi-test.so").unwrap_err();
        match err {
            LoadError::Open { message, .. } => assert!(message.contains("nonexistent"), "{message}"),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn test_load_library_without_mmi_names_first_symbol() {
        // libc is loaded in every process and exports none of the MMI functions.
        // The C library of the target this test runs on (under QEMU user mode the host's x86_64 one is visible too).
        let multiarch = match std::env::consts::ARCH {
            "x86_64" => "x86_64-linux-gnu",
            "aarch64" => "aarch64-linux-gnu",
            "arm" => "arm-linux-gnueabihf",
            _ => return,
        };
        let candidates = [format!("/lib/{multiarch}/libc.so.6"), format!("/usr/lib/{multiarch}/libc.so.6")];
        let Some(libc_path) = candidates.iter().find(|p| Path::new(p).exists()) else { return };
        let err = Library::load(libc_path).unwrap_err();
        assert!(matches!(err, LoadError::MissingSymbol { symbol: "MmiGetInfo", .. }), "{err}");
    }
}
