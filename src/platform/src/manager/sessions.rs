//! MPI clients and their MMI sessions: who the manager opens module sessions for, and the session each client has
//! in each module (opened lazily on its first call to that module).

use std::collections::HashMap;

use super::ClientId;

/// What the MPI layer said about a client at `open`: forwarded to every `MmiOpen` made for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientInfo {
    /// `ClientName` of the MPI session.
    pub(crate) name: String,
    /// `MaxPayloadSizeBytes` of the MPI session (0: unlimited).
    pub(crate) max_payload: u32,
}

/// The client name used for a client the MPI layer never announced with `open`.
pub(crate) const UNANNOUNCED_CLIENT: &str = "osconfig-platform";

/// The MPI clients known to the manager.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    map: HashMap<ClientId, ClientInfo>,
}

impl Clients {
    /// Announces (or re-announces) a client.
    pub(crate) fn open(&mut self, client: ClientId, name: &str, max_payload: u32) {
        self.map.insert(client, ClientInfo { name: name.to_string(), max_payload });
    }

    /// Forgets a client; `false` if it was not known.
    pub(crate) fn close(&mut self, client: ClientId) -> bool {
        self.map.remove(&client).is_some()
    }

    /// The client's info; an unannounced client is registered as [`UNANNOUNCED_CLIENT`] without a payload limit
    /// (logged), so a call never fails only because `open` was skipped.
    pub(crate) fn info(&mut self, client: ClientId) -> &ClientInfo {
        self.map.entry(client).or_insert_with(|| {
            log::debug!("client {client} was not opened: using client name {UNANNOUNCED_CLIENT}");
            ClientInfo { name: UNANNOUNCED_CLIENT.to_string(), max_payload: 0 }
        })
    }

    /// Forgets every client.
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
}

/// The MMI sessions of one module, by client. `S` is the module's session handle (a session id string for a
/// host, a `SessionId` for an in-process module).
#[derive(Debug)]
pub(crate) struct ModuleSessions<S> {
    map: HashMap<ClientId, S>,
}

impl<S> Default for ModuleSessions<S> {
    fn default() -> Self {
        ModuleSessions { map: HashMap::new() }
    }
}

impl<S> ModuleSessions<S> {
    /// The session of `client`, if one is open.
    pub(crate) fn get(&self, client: ClientId) -> Option<&S> {
        self.map.get(&client)
    }

    /// Remembers the session opened for `client`.
    pub(crate) fn insert(&mut self, client: ClientId, session: S) {
        self.map.insert(client, session);
    }

    /// Forgets the session of `client` and returns it.
    pub(crate) fn remove(&mut self, client: ClientId) -> Option<S> {
        self.map.remove(&client)
    }

    /// Forgets every session (their host is gone).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    /// Number of open sessions.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_info_announced_and_unannounced() {
        let mut clients = Clients::default();
        clients.open(1, "azure", 4096);
        assert_eq!(clients.info(1), &ClientInfo { name: "azure".into(), max_payload: 4096 });
        assert_eq!(clients.info(2).name, UNANNOUNCED_CLIENT);
        assert!(clients.close(1));
        assert!(!clients.close(1));
    }

    #[test]
    fn test_module_sessions_insert_remove_clear() {
        let mut sessions = ModuleSessions::<String>::default();
        sessions.insert(1, "a".into());
        sessions.insert(2, "b".into());
        assert_eq!(sessions.get(1).map(String::as_str), Some("a"));
        assert_eq!(sessions.remove(1).as_deref(), Some("a"));
        assert_eq!(sessions.len(), 1);
        sessions.clear();
        assert!(sessions.get(2).is_none());
    }
}
