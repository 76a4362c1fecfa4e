//! The open sessions of the module: random id -> the loaded module's session.

use std::collections::HashMap;

use osconfig_mmi::loader::{LoadedModule, SessionId};
use osconfig_mmi::Errno;
use osconfig_rest::session_id::new_session_id;

/// The most sessions open at once; `MmiOpen` beyond it answers `EBUSY` (16) without calling the module.
///
/// The platform opens one session per MPI session in every module that session calls, lazily, and has at most
/// 1088 MPI sessions open (`osconfig_platform::sessions::MAX_TOTAL_SESSIONS`: 1024 plus 64 kept for root), so
/// this is 1088 too: a host never refuses a session the platform admitted. (It was 256, and the 257th MPI client
/// of one module got the 16 that also meant "quarantined".)
pub const MAX_SESSIONS: usize = 1088;

/// The sessions of one loaded module, by id. Dropping the table closes every session (`MmiClose`) and unloads the
/// module.
#[derive(Debug)]
pub struct Sessions {
    module: LoadedModule,
    open: HashMap<String, SessionId>,
}

impl Sessions {
    /// An empty table for `module`.
    pub fn new(module: LoadedModule) -> Sessions {
        Sessions { module, open: HashMap::new() }
    }

    /// The module.
    pub fn module(&self) -> &LoadedModule {
        &self.module
    }

    /// `MmiOpen`: a new session under a fresh random id.
    pub fn open(&mut self, client_name: &str, max_payload_size_bytes: u32) -> Result<String, Errno> {
        if self.open.len() >= MAX_SESSIONS {
            log::warn!("MmiOpen for {client_name:?} refused: {MAX_SESSIONS} sessions are open");
            return Err(Errno::EBUSY);
        }
        let id = new_session_id().map_err(|e| {
            log::error!("cannot make a session id: {e}");
            Errno::EIO
        })?;
        let session = self.module.open(client_name, max_payload_size_bytes)?;
        log::info!("opened session for {client_name:?} (max payload {max_payload_size_bytes} bytes)");
        self.open.insert(id.clone(), session);
        Ok(id)
    }

    /// `MmiClose`: closes the session; `false` when the id is unknown.
    pub fn close(&mut self, id: &str) -> bool {
        match self.open.remove(id) {
            Some(session) => {
                self.module.close(session);
                log::info!("closed a session ({} left)", self.open.len());
                true
            }
            None => false,
        }
    }

    /// `MmiSet` on the session with this id (`EINVAL` for an unknown id).
    pub fn set(&self, id: &str, component: &str, object: &str, payload: &[u8]) -> Result<(), Errno> {
        self.module.set(self.session(id)?, component, object, payload)
    }

    /// `MmiGet` on the session with this id (`EINVAL` for an unknown id).
    pub fn get(&self, id: &str, component: &str, object: &str) -> Result<Vec<u8>, Errno> {
        self.module.get(self.session(id)?, component, object)
    }

    fn session(&self, id: &str) -> Result<SessionId, Errno> {
        self.open.get(id).copied().ok_or_else(|| {
            log::debug!("call on an unknown session");
            Errno::EINVAL
        })
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        let n = self.open.len();
        for (_, session) in self.open.drain() {
            self.module.close(session);
        }
        if n > 0 {
            log::info!("closed {n} session(s)");
        }
    }
}
