//! In-process modules (`InProcessModules` in `osconfig.json`): loaded into the platform with
//! `osconfig_mmi::loader::LoadedModule` and called directly.
//!
//! There is no crash isolation: a module that aborts or segfaults takes the platform down, one that hangs blocks the
//! MPI loop's thread for good (the call timeout cannot apply; systemd's watchdog, when on, restarts the platform), and crash counting, back-off and quarantine do not
//! apply. A Rust module's panic is still caught by the module SDK and comes back as errno 14. Only trusted,
//! well-tested modules should run this way; the gain is a cheaper call (no socket round trip).

use std::path::Path;

use osconfig_mmi::loader::{LoadedModule, SessionId};
use osconfig_mmi::Errno;

use super::sessions::{ClientInfo, ModuleSessions};
use super::ClientId;

/// One in-process module and its sessions by client.
#[derive(Debug)]
pub(crate) struct InProcess {
    module: LoadedModule,
    sessions: ModuleSessions<SessionId>,
}

impl InProcess {
    /// Loads `path` and checks that its `MmiGetInfo` still names `expected` (the name its host reported).
    pub(crate) fn load(path: &Path, expected: &str) -> Result<InProcess, String> {
        let module = LoadedModule::load(path).map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        let info = module.get_info(super::identity::CLIENT_NAME).map_err(|e| format!("MmiGetInfo failed: {e}"))?;
        if info.name != expected {
            return Err(format!("in-process MmiGetInfo names {:?}, the host reported {expected:?}", info.name));
        }
        Ok(InProcess { module, sessions: ModuleSessions::default() })
    }

    fn session(&mut self, client: ClientId, who: &ClientInfo) -> Result<SessionId, Errno> {
        if let Some(&id) = self.sessions.get(client) {
            return Ok(id);
        }
        let id = self.module.open(&who.name, who.max_payload)?;
        self.sessions.insert(client, id);
        Ok(id)
    }

    /// `MmiSet` in the client's session (opened first if needed).
    pub(crate) fn set(
        &mut self,
        client: ClientId,
        who: &ClientInfo,
        component: &str,
        object: &str,
        payload: &[u8],
    ) -> Result<(), Errno> {
        let id = self.session(client, who)?;
        self.module.set(id, component, object, payload)
    }

    /// `MmiGet` in the client's session (opened first if needed).
    pub(crate) fn get(
        &mut self,
        client: ClientId,
        who: &ClientInfo,
        component: &str,
        object: &str,
    ) -> Result<Vec<u8>, Errno> {
        let id = self.session(client, who)?;
        self.module.get(id, component, object)
    }

    /// `MmiClose` of the client's session, if it has one.
    pub(crate) fn close(&mut self, client: ClientId) {
        if let Some(id) = self.sessions.remove(client) {
            self.module.close(id);
        }
    }

    /// Closes every session and unloads the module.
    pub(crate) fn unload(mut self) {
        self.sessions.clear();
        let path = self.module.library().path().to_path_buf();
        if let Err(e) = self.module.unload() {
            log::warn!("unloading {}: {e}", path.display());
        }
    }

    /// The module file.
    pub(crate) fn path(&self) -> &Path {
        self.module.library().path()
    }

    /// Open MMI sessions.
    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }
}
