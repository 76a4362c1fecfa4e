//! The open sessions of the module: random id -> loader session. Lives on the module thread only.

use std::collections::HashMap;

use osconfig_mmi::loader::{Library, Session};
use osconfig_mmi::Errno;

use osconfig_mpi::session_id::new_session_id;

/// The most sessions open at once; `MmiOpen` beyond it answers `EBUSY` (16) without calling the module.
pub const MAX_SESSIONS: usize = 256;

/// The sessions of one loaded module, by id. Dropping the table closes every session (`MmiClose`).
#[derive(Debug)]
pub struct Sessions<'lib> {
    library: &'lib Library,
    open: HashMap<String, Session<'lib>>,
}

impl<'lib> Sessions<'lib> {
    /// An empty table for `library`.
    pub fn new(library: &'lib Library) -> Sessions<'lib> {
        Sessions { library, open: HashMap::new() }
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
        let session = self.library.open(client_name, max_payload_size_bytes)?;
        log::info!("opened session for {client_name:?} (max payload {max_payload_size_bytes} bytes)");
        self.open.insert(id.clone(), session);
        Ok(id)
    }

    /// `MmiClose`: closes the session; `false` when the id is unknown.
    pub fn close(&mut self, id: &str) -> bool {
        match self.open.remove(id) {
            Some(session) => {
                drop(session);
                log::info!("closed a session ({} left)", self.open.len());
                true
            }
            None => false,
        }
    }

    /// The session with this id.
    pub fn get(&self, id: &str) -> Option<&Session<'lib>> {
        self.open.get(id)
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Closes every session.
    pub fn close_all(&mut self) {
        let n = self.open.len();
        self.open.clear();
        if n > 0 {
            log::info!("closed {n} session(s)");
        }
    }
}
