//! MPI sessions: random ids ([`crate::session_id`]) mapped to the Modules Manager's [`ClientId`]s, with the time of
//! last use so that the sessions of clients that vanished without `MpiClose` can be reclaimed.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use crate::manager::ClientId;
use osconfig_mpi::session_id::new_session_id;

/// At most this many sessions are open at once for non-root callers; `MpiOpen` beyond it fails with errno 24
/// (EMFILE).
pub const MAX_SESSIONS: usize = 1024;
/// Sessions beyond [`MAX_SESSIONS`] that only root callers may open, so that other allowed callers cannot lock the
/// agent out.
pub const ROOT_RESERVE: usize = 64;

#[derive(Debug)]
struct Session {
    client: ClientId,
    last_used: Instant,
}

/// The open sessions. Owned by the orchestrator's worker thread.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: HashMap<String, Session>,
    next_client: ClientId,
}

/// Why a session could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// [`MAX_SESSIONS`] are open.
    TooMany,
    /// The random source failed.
    Random(io::Error),
}

impl Sessions {
    /// A new session: its id and the manager's client id for it. `root`: the caller may use [`ROOT_RESERVE`].
    pub fn open(&mut self, now: Instant, root: bool) -> Result<(String, ClientId), OpenError> {
        let limit = if root { MAX_SESSIONS + ROOT_RESERVE } else { MAX_SESSIONS };
        if self.by_id.len() >= limit {
            return Err(OpenError::TooMany);
        }
        let id = new_session_id().map_err(OpenError::Random)?;
        self.next_client += 1;
        let client = self.next_client;
        self.by_id.insert(id.clone(), Session { client, last_used: now });
        Ok((id, client))
    }

    /// The client id of session `id`, marking it used; `None` for an unknown id.
    pub fn touch(&mut self, id: &str, now: Instant) -> Option<ClientId> {
        let session = self.by_id.get_mut(id)?;
        session.last_used = now;
        Some(session.client)
    }

    /// Removes session `id`; its client id if it existed.
    pub fn close(&mut self, id: &str) -> Option<ClientId> {
        self.by_id.remove(id).map(|s| s.client)
    }

    /// Removes the sessions unused for `idle` or longer; their client ids.
    pub fn reap(&mut self, now: Instant, idle: Duration) -> Vec<ClientId> {
        let mut gone = Vec::new();
        self.by_id.retain(|_, s| {
            let keep = now.saturating_duration_since(s.last_used) < idle;
            if !keep {
                gone.push(s.client);
            }
            keep
        });
        gone
    }

    /// When the least recently used session becomes idle for `idle`; `None` without sessions.
    pub fn next_expiry(&self, idle: Duration) -> Option<Instant> {
        self.by_id.values().map(|s| s.last_used + idle).min()
    }

    /// Removes every session; their client ids.
    pub fn drain(&mut self) -> Vec<ClientId> {
        self.by_id.drain().map(|(_, s)| s.client).collect()
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_open_touch_close() {
        let mut s = Sessions::default();
        let now = Instant::now();
        let (a, ca) = s.open(now, false).unwrap();
        let (b, cb) = s.open(now, false).unwrap();
        assert_ne!(a, b);
        assert_ne!(ca, cb);
        assert_eq!(s.touch(&a, now), Some(ca));
        assert_eq!(s.touch("nope", now), None);
        assert_eq!(s.close(&a), Some(ca));
        assert_eq!(s.close(&a), None);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn test_reap_idle_only() {
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let (a, ca) = s.open(t0, false).unwrap();
        let (b, _) = s.open(t0, false).unwrap();
        let idle = Duration::from_secs(10);
        assert_eq!(s.next_expiry(idle), Some(t0 + idle));
        s.touch(&b, t0 + Duration::from_secs(8));
        assert_eq!(s.reap(t0 + Duration::from_secs(10), idle), [ca]);
        assert_eq!(s.touch(&a, t0), None);
        assert!(s.touch(&b, t0 + Duration::from_secs(11)).is_some());
        assert_eq!(s.drain().len(), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn test_open_refuses_over_limit_with_a_root_reserve() {
        let mut s = Sessions::default();
        let now = Instant::now();
        for _ in 0..MAX_SESSIONS {
            s.open(now, false).unwrap();
        }
        assert!(matches!(s.open(now, false), Err(OpenError::TooMany)));
        for _ in 0..ROOT_RESERVE {
            s.open(now, true).unwrap();
        }
        assert!(matches!(s.open(now, true), Err(OpenError::TooMany)));
    }
}
