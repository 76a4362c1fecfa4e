//! `LoadedModule`: a loaded module that owns its sessions, for callers that cannot keep a borrow of the `Library`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::abi::MMI_HANDLE;
use crate::loader::{Library, LoadError};
use crate::{Errno, ModuleInfo};

/// A session of a [`LoadedModule`]: a small number, never reused within one `LoadedModule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session {}", self.0)
    }
}

/// A loaded module plus the sessions opened through it. Unknown or closed [`SessionId`]s give `EINVAL` and never
/// reach the module. Dropping it (or [`LoadedModule::unload`]) closes every open session, then unloads the module.
///
/// It is `Send` (not `Sync`): one thread at a time owns the module and all its sessions.
#[derive(Debug)]
pub struct LoadedModule {
    lib: Library,
    sessions: BTreeMap<u64, MMI_HANDLE>,
    next_id: u64,
}

// SAFETY: the session handles are opaque tokens of this module, used only through `&self`/`&mut self` of the
// value that owns them and the Library (which is Send, see there). Moving the whole value to another thread moves
// every use with it; not being Sync keeps calls on one thread at a time.
unsafe impl Send for LoadedModule {}

impl LoadedModule {
    /// Load the module (see [`Library::load`]).
    pub fn load(path: impl AsRef<Path>) -> Result<LoadedModule, LoadError> {
        Ok(LoadedModule::from_library(Library::load(path)?))
    }

    /// Take ownership of an already loaded library.
    pub fn from_library(lib: Library) -> LoadedModule {
        LoadedModule { lib, sessions: BTreeMap::new(), next_id: 1 }
    }

    /// The underlying library (for `path()` and borrowed [`crate::loader::Session`]s).
    pub fn library(&self) -> &Library {
        &self.lib
    }

    /// `MmiGetInfo`, validated (see [`Library::get_info`]).
    pub fn get_info(&self, client: &str) -> Result<ModuleInfo, LoadError> {
        self.lib.get_info(client)
    }

    /// `MmiGetInfo`, the raw bytes (see [`Library::get_info_raw`]).
    pub fn get_info_raw(&self, client: &str) -> Result<Vec<u8>, LoadError> {
        self.lib.get_info_raw(client)
    }

    /// `MmiOpen` (see [`Library::open`]); the new session's id.
    pub fn open(&mut self, client: &str, max_payload_size_bytes: u32) -> Result<SessionId, Errno> {
        let handle = self.lib.raw_open(client, max_payload_size_bytes)?;
        let id = self.next_id;
        self.next_id += 1;
        self.sessions.insert(id, handle);
        Ok(SessionId(id))
    }

    fn handle(&self, id: SessionId) -> Result<MMI_HANDLE, Errno> {
        self.sessions.get(&id.0).copied().ok_or_else(|| {
            log::error!("{} of {} is not open", id, self.lib.path().display());
            Errno::EINVAL
        })
    }

    /// `MmiSet` on an open session (see [`crate::loader::Session::set`]).
    pub fn set(&self, id: SessionId, component: &str, object: &str, payload: &[u8]) -> Result<(), Errno> {
        let handle = self.handle(id)?;
        // SAFETY: the handle came from this library's MmiOpen and is still in the table, so it is not closed.
        unsafe { self.lib.raw_set(handle, component, object, payload) }
    }

    /// `MmiGet` on an open session (see [`crate::loader::Session::get`]).
    pub fn get(&self, id: SessionId, component: &str, object: &str) -> Result<Vec<u8>, Errno> {
        let handle = self.handle(id)?;
        // SAFETY: the handle came from this library's MmiOpen and is still in the table, so it is not closed.
        unsafe { self.lib.raw_get(handle, component, object) }
    }

    /// `MmiClose`; `false` when the session was not open.
    pub fn close(&mut self, id: SessionId) -> bool {
        match self.sessions.remove(&id.0) {
            Some(handle) => {
                // SAFETY: removed from the table, so closed exactly once and never used again.
                unsafe { self.lib.raw_close(handle) };
                true
            }
            None => false,
        }
    }

    /// The ids of the open sessions, oldest first.
    pub fn sessions(&self) -> Vec<SessionId> {
        self.sessions.keys().map(|&id| SessionId(id)).collect()
    }

    fn close_all(&mut self) {
        for (_, handle) in std::mem::take(&mut self.sessions) {
            // SAFETY: taken out of the table, so closed exactly once and never used again.
            unsafe { self.lib.raw_close(handle) };
        }
    }

    /// Close every open session, then `dlclose` the module and report its error.
    pub fn unload(mut self) -> Result<(), LoadError> {
        self.close_all();
        let lib = std::mem::ManuallyDrop::new(self);
        // SAFETY: `lib` is never used or dropped again; the Library is moved out exactly once (its sessions are
        // closed and the map is empty, so nothing else in `lib` needs dropping).
        let library = unsafe { std::ptr::read(&lib.lib) };
        library.unload()
    }
}

impl Drop for LoadedModule {
    fn drop(&mut self) {
        self.close_all();
        // The Library field is dropped next, which unloads the module (and logs a dlclose error).
    }
}
