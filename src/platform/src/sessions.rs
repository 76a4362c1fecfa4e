//! MPI sessions: random ids ([`osconfig_rest::session_id`]) mapped to the Modules Manager's [`ClientId`]s, with the
//! caller's uid and the time of last use, so that the sessions of clients that vanished without `MpiClose` can be
//! reclaimed.
//!
//! Bounds: [`MAX_SESSIONS`] sessions for every caller together, [`ROOT_RESERVE`] more for root, and at most
//! [`MAX_SESSIONS_PER_UID`] for one non-root uid. When a caller is at its bound, the least recently used session it
//! may displace is closed to make room, if it has been unused for at least the reclaim time
//! (`MpiSessionReclaimIdleSeconds`, default [`DEFAULT_RECLAIM_IDLE`]); otherwise `MpiOpen` fails with errno 24
//! (`EMFILE`). A non-root caller displaces only non-root sessions (its own when it is at its per-uid bound); root
//! displaces any. So a client that leaks sessions cannot lock others out for longer than the reclaim time, and a
//! session in use (the agent's, every `ReportingIntervalSeconds`) is never taken.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use crate::manager::ClientId;
use osconfig_rest::session_id::new_session_id;

/// At most this many sessions are open at once for non-root callers together; see the module docs for what
/// happens beyond it.
pub const MAX_SESSIONS: usize = 1024;
/// Sessions beyond [`MAX_SESSIONS`] that only root callers may open, so that other allowed callers cannot lock the
/// agent out.
pub const ROOT_RESERVE: usize = 64;
/// Every session that can be open at once ([`MAX_SESSIONS`] + [`ROOT_RESERVE`]): each may open one MMI session in
/// every module host, so a host admits at least this many (`osconfig_modulehost::sessions::MAX_SESSIONS`).
pub const MAX_TOTAL_SESSIONS: usize = MAX_SESSIONS + ROOT_RESERVE;
/// At most this many sessions are open at once for one non-root uid (root is bounded by the whole table only).
pub const MAX_SESSIONS_PER_UID: usize = 256;
/// Default of `MpiSessionReclaimIdleSeconds`: a session unused this long may be closed to make room for a new one
/// when the caller is at its bound.
pub const DEFAULT_RECLAIM_IDLE: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Session {
    client: ClientId,
    uid: u32,
    last_used: Instant,
}

/// The open sessions. Owned by the orchestrator's engine (on the MPI loop's thread).
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: HashMap<String, Session>,
    /// Open sessions per uid.
    per_uid: HashMap<u32, usize>,
    next_client: ClientId,
}

/// A session opened by [`Sessions::open`].
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    /// The session id (the MPI client's handle).
    pub id: String,
    /// The manager's client id for it.
    pub client: ClientId,
    /// The session closed to make room for this one (the caller must close its MMI sessions).
    pub reclaimed: Option<ClientId>,
}

/// Why a session could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The caller is at its bound and no session it may displace has been idle for the reclaim time.
    TooMany,
    /// The random source failed.
    Random(io::Error),
}

impl Sessions {
    /// A new session for a caller with `uid` (0: root, which may use [`ROOT_RESERVE`]), reclaiming the least
    /// recently used session idle for `reclaim_idle` or longer when the caller is at its bound (module docs).
    pub fn open(&mut self, now: Instant, uid: u32, reclaim_idle: Duration) -> Result<Opened, OpenError> {
        let root = uid == 0;
        let mut reclaimed = None;
        let own = self.per_uid.get(&uid).copied().unwrap_or(0);
        if !root && own >= MAX_SESSIONS_PER_UID {
            reclaimed = Some(self.reclaim(now, reclaim_idle, |s| s.uid == uid).ok_or(OpenError::TooMany)?);
        } else if self.by_id.len() >= if root { MAX_TOTAL_SESSIONS } else { MAX_SESSIONS } {
            reclaimed = Some(self.reclaim(now, reclaim_idle, |s| root || s.uid != 0).ok_or(OpenError::TooMany)?);
        }
        let id = new_session_id().map_err(OpenError::Random)?;
        self.next_client += 1;
        let client = self.next_client;
        self.by_id.insert(id.clone(), Session { client, uid, last_used: now });
        *self.per_uid.entry(uid).or_insert(0) += 1;
        Ok(Opened { id, client, reclaimed })
    }

    /// Closes the least recently used session among those `eligible`, if it has been unused for `idle`; its client.
    fn reclaim(&mut self, now: Instant, idle: Duration, eligible: impl Fn(&Session) -> bool) -> Option<ClientId> {
        let (id, session) = self.by_id.iter().filter(|(_, s)| eligible(s)).min_by_key(|(_, s)| s.last_used)?;
        if now.saturating_duration_since(session.last_used) < idle {
            return None;
        }
        let id = id.clone();
        self.close(&id)
    }

    /// The client id of session `id`, marking it used; `None` for an unknown id.
    pub fn touch(&mut self, id: &str, now: Instant) -> Option<ClientId> {
        let session = self.by_id.get_mut(id)?;
        session.last_used = now;
        Some(session.client)
    }

    /// Removes session `id`; its client id if it existed.
    pub fn close(&mut self, id: &str) -> Option<ClientId> {
        let session = self.by_id.remove(id)?;
        self.forget_uid(session.uid);
        Some(session.client)
    }

    fn forget_uid(&mut self, uid: u32) {
        if let Some(count) = self.per_uid.get_mut(&uid) {
            *count -= 1;
            if *count == 0 {
                self.per_uid.remove(&uid);
            }
        }
    }

    /// Removes the sessions unused for `idle` or longer; their client ids.
    pub fn reap(&mut self, now: Instant, idle: Duration) -> Vec<ClientId> {
        let mut gone = Vec::new();
        self.by_id.retain(|_, s| {
            let keep = now.saturating_duration_since(s.last_used) < idle;
            if !keep {
                gone.push((s.client, s.uid));
            }
            keep
        });
        gone.into_iter()
            .map(|(client, uid)| {
                self.forget_uid(uid);
                client
            })
            .collect()
    }

    /// When the least recently used session becomes idle for `idle`; `None` without sessions.
    pub fn next_expiry(&self, idle: Duration) -> Option<Instant> {
        self.by_id.values().map(|s| s.last_used + idle).min()
    }

    /// Removes every session; their client ids.
    pub fn drain(&mut self) -> Vec<ClientId> {
        self.per_uid.clear();
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

    const NEVER: Duration = Duration::from_secs(1_000_000);

    #[test]
    fn test_open_touch_close() {
        let mut s = Sessions::default();
        let now = Instant::now();
        let a = s.open(now, 1000, NEVER).unwrap();
        let b = s.open(now, 1000, NEVER).unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(a.client, b.client);
        assert_eq!(s.touch(&a.id, now), Some(a.client));
        assert_eq!(s.touch("nope", now), None);
        assert_eq!(s.close(&a.id), Some(a.client));
        assert_eq!(s.close(&a.id), None);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn test_reap_idle_only() {
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let a = s.open(t0, 0, NEVER).unwrap();
        let b = s.open(t0, 0, NEVER).unwrap();
        let idle = Duration::from_secs(10);
        assert_eq!(s.next_expiry(idle), Some(t0 + idle));
        s.touch(&b.id, t0 + Duration::from_secs(8));
        assert_eq!(s.reap(t0 + Duration::from_secs(10), idle), [a.client]);
        assert_eq!(s.touch(&a.id, t0), None);
        assert!(s.touch(&b.id, t0 + Duration::from_secs(11)).is_some());
        assert_eq!(s.drain().len(), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn test_open_refuses_over_limit_with_a_root_reserve() {
        let mut s = Sessions::default();
        let now = Instant::now();
        for uid in 0..MAX_SESSIONS {
            s.open(now, 1000 + (uid % 8) as u32, NEVER).unwrap();
        }
        assert!(matches!(s.open(now, 2000, NEVER), Err(OpenError::TooMany)));
        for _ in 0..ROOT_RESERVE {
            s.open(now, 0, NEVER).unwrap();
        }
        assert!(matches!(s.open(now, 0, NEVER), Err(OpenError::TooMany)));
    }

    #[test]
    fn test_open_full_table_reclaims_the_least_recently_used_idle_session() {
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let reclaim = Duration::from_secs(60);
        let first = s.open(t0, 0, reclaim).unwrap();
        for _ in 1..MAX_TOTAL_SESSIONS {
            s.open(t0 + Duration::from_secs(1), 0, reclaim).unwrap();
        }
        // Nothing has been idle for the reclaim time yet.
        assert!(matches!(s.open(t0 + Duration::from_secs(30), 0, reclaim), Err(OpenError::TooMany)));
        let later = t0 + Duration::from_secs(60);
        let opened = s.open(later, 0, reclaim).unwrap();
        assert_eq!(opened.reclaimed, Some(first.client));
        assert_eq!(s.touch(&first.id, later), None);
        assert_eq!(s.len(), MAX_TOTAL_SESSIONS);
    }

    #[test]
    fn test_open_per_uid_cap_reclaims_only_the_uids_own_sessions() {
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let reclaim = Duration::from_secs(60);
        let root = s.open(t0, 0, reclaim).unwrap();
        let other = s.open(t0, 2000, reclaim).unwrap();
        let mut own = Vec::new();
        for _ in 0..MAX_SESSIONS_PER_UID {
            own.push(s.open(t0 + Duration::from_secs(1), 1000, reclaim).unwrap());
        }
        assert!(matches!(s.open(t0 + Duration::from_secs(2), 1000, reclaim), Err(OpenError::TooMany)));
        // Another uid is not affected by the first one's cap.
        assert!(s.open(t0 + Duration::from_secs(2), 2000, reclaim).is_ok());
        let later = t0 + Duration::from_secs(120);
        let opened = s.open(later, 1000, reclaim).unwrap();
        assert!(own.iter().any(|o| Some(o.client) == opened.reclaimed), "{opened:?}");
        assert!(s.touch(&root.id, later).is_some() && s.touch(&other.id, later).is_some());
    }

    #[test]
    fn test_open_non_root_never_displaces_root_sessions() {
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let reclaim = Duration::from_secs(1);
        for _ in 0..MAX_SESSIONS {
            s.open(t0, 0, reclaim).unwrap();
        }
        let later = t0 + Duration::from_secs(10);
        assert!(matches!(s.open(later, 1000, reclaim), Err(OpenError::TooMany)));
        assert_eq!(s.open(later, 0, reclaim).unwrap().reclaimed, None, "root still has its reserve");
    }
}
