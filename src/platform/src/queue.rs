//! The orchestrator's queue: skips a request identical to one already queued (same endpoint and body, so same
//! session; the duplicate gets the same answer), orders what is queued by priority, first come first served within a
//! priority.
//!
//! Priorities (lower rank runs first): `MpiOpen` and `MpiClose` rank 0; `MpiSet` / `MpiGet` rank by their component's
//! place in the `Priorities` list (first = highest); `MpiSetDesired` by the highest-priority component it names;
//! components not in the list, and `MpiGetReported`, run last.
//!
//! Duplicates are found by a keyed hash (`RandomState`, so a client cannot aim for collisions) of route and body;
//! bodies are compared only when their hashes match. Jobs are kept ordered by (rank, arrival), so queuing and
//! taking the next one cost O(log n) whatever is queued.
//!
//! The queue is bounded by [`Backlog`]: at most [`MAX_QUEUED_REQUESTS`] requests and [`MAX_QUEUED_BYTES`] of
//! request bodies wait at once (in the orchestrator's channel from other threads or in this queue; the request it
//! runs is not counted). A request beyond either bound is answered 503 at once.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use osconfig_rest::{
    MpiCloseRequest, MpiGetReportedRequest, MpiGetRequest, MpiOpenRequest, MpiSetDesiredRequest, MpiSetRequest,
};

/// Most requests waiting to run at once (merged duplicates count, each waits for an answer); one more is
/// answered 503. The MPI server alone can have 512 connections x 16 pipelined requests in flight.
pub const MAX_QUEUED_REQUESTS: usize = 4096;
/// Most request-body bytes waiting to run at once; a request that would go beyond is answered 503 (a
/// single body is at most 4 MiB, the HTTP layer's `MAX_BODY_BYTES`).
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// A parsed MPI call.
#[derive(Debug)]
pub enum Call {
    /// `MpiOpen`, with the caller's uid (root, 0, may use the sessions reserved for it; other uids have a cap).
    Open(MpiOpenRequest, u32),
    /// `MpiClose`.
    Close(MpiCloseRequest),
    /// `MpiSet`.
    Set(MpiSetRequest),
    /// `MpiGet`.
    Get(MpiGetRequest),
    /// `MpiSetDesired`.
    SetDesired(MpiSetDesiredRequest),
    /// `MpiGetReported`.
    GetReported(MpiGetReportedRequest),
    /// Our extension `/PlatformModules` (no session, no module call).
    Modules,
    /// Our extension `/PlatformStatus` (no session, no module call).
    Status,
}

/// Rank of calls on components not in the priority list.
pub const UNLISTED: usize = usize::MAX;

impl Call {
    /// The call's rank under `priorities` (see the module docs).
    pub fn rank(&self, priorities: &[String]) -> usize {
        let of = |component: &str| priorities.iter().position(|p| p == component).map_or(UNLISTED, |i| i + 1);
        match self {
            Call::Open(..) | Call::Close(_) | Call::Modules | Call::Status => 0,
            Call::Set(r) => of(&r.component_name),
            Call::Get(r) => of(&r.component_name),
            Call::SetDesired(r) => r.objects.iter().map(|o| of(&o.component_name)).min().unwrap_or(UNLISTED),
            Call::GetReported(_) => UNLISTED,
        }
    }

    /// Whether an identical queued call may stand for this one (`MpiOpen` never: each open is a new session).
    fn merges(&self) -> bool {
        !matches!(self, Call::Open(..))
    }
}

/// A call with the request's route and body (its identity) and everyone waiting for its answer (`W`: the
/// daemon's `osconfig_http::Responder`).
#[derive(Debug)]
pub struct Job<W> {
    /// The route, e.g. `/MpiGet`.
    pub route: &'static str,
    /// The request body as received.
    pub body: Vec<u8>,
    /// The parsed call.
    pub call: Call,
    /// The responders of this request and of identical ones queued after it.
    pub waiters: Vec<W>,
    /// The hash of route and body for a call that merges.
    hash: Option<u64>,
}

/// Where a job sits: (rank, arrival).
type Key = (usize, u64);

/// The queue.
#[derive(Debug)]
pub struct Queue<W> {
    jobs: BTreeMap<Key, Job<W>>,
    /// Hash of route and body -> the queued jobs that merge with that hash (usually one).
    index: HashMap<u64, Vec<Key>>,
    hasher: RandomState,
    seq: u64,
    merged: u64,
}

impl<W> Default for Queue<W> {
    fn default() -> Self {
        Queue { jobs: BTreeMap::new(), index: HashMap::new(), hasher: RandomState::new(), seq: 0, merged: 0 }
    }
}

impl<W> Queue<W> {
    /// Queues a call, or adds `waiter` to an identical queued one.
    pub fn push(&mut self, route: &'static str, body: Vec<u8>, call: Call, waiter: W, priorities: &[String]) {
        self.push_from(None, route, body, call, waiter, priorities);
    }

    /// [`Queue::push`] for a call made on behalf of `source`: when `priorities` lists that name, the call ranks
    /// at its place (sessions' `MpiOpen`/`MpiClose` keep rank 0).
    pub fn push_from(
        &mut self,
        source: Option<&str>,
        route: &'static str,
        body: Vec<u8>,
        call: Call,
        waiter: W,
        priorities: &[String],
    ) {
        let hash = call.merges().then(|| self.hasher.hash_one((route, body.as_slice())));
        if let Some(keys) = hash.and_then(|h| self.index.get(&h)) {
            let twin = keys.iter().find(|key| self.jobs.get(key).is_some_and(|j| j.route == route && j.body == body));
            if let Some(key) = twin.copied() {
                if let Some(job) = self.jobs.get_mut(&key) {
                    job.waiters.push(waiter);
                    self.merged += 1;
                    return;
                }
            }
        }
        self.seq += 1;
        let by_source = source.and_then(|name| priorities.iter().position(|p| p == name)).map(|i| i + 1);
        let rank = match (&call, by_source) {
            (Call::Open(..) | Call::Close(_), _) | (_, None) => call.rank(priorities),
            (_, Some(rank)) => rank,
        };
        let key = (rank, self.seq);
        if let Some(h) = hash {
            self.index.entry(h).or_default().push(key);
        }
        self.jobs.insert(key, Job { route, body, call, waiters: vec![waiter], hash });
    }

    /// The next job: lowest rank, then oldest.
    pub fn pop(&mut self) -> Option<Job<W>> {
        let (key, job) = self.jobs.pop_first()?;
        if let Some(h) = job.hash {
            if let Some(keys) = self.index.get_mut(&h) {
                keys.retain(|k| *k != key);
                if keys.is_empty() {
                    self.index.remove(&h);
                }
            }
        }
        Some(job)
    }

    /// How many requests were answered by an identical queued one so far.
    pub fn merged(&self) -> u64 {
        self.merged
    }

    /// Queued jobs.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Drops every queued job (dropped responders answer 500).
    pub fn clear(&mut self) {
        self.jobs.clear();
        self.index.clear();
    }
}

/// The count of requests and body bytes waiting to run, shared by everyone who submits and the orchestrator.
#[derive(Debug, Default)]
pub struct Backlog {
    requests: AtomicUsize,
    bytes: AtomicUsize,
}

/// One admitted request's share of the [`Backlog`], given back when dropped (the request is taken to run, or
/// dropped at shutdown).
#[derive(Debug)]
pub struct Ticket {
    backlog: Arc<Backlog>,
    bytes: usize,
}

impl Backlog {
    /// Admits a request with a body of `bytes`, unless that would exceed [`MAX_QUEUED_REQUESTS`] or
    /// [`MAX_QUEUED_BYTES`].
    pub fn admit(self: &Arc<Self>, bytes: usize) -> Option<Ticket> {
        self.admit_within(bytes, MAX_QUEUED_REQUESTS, MAX_QUEUED_BYTES)
    }

    fn admit_within(self: &Arc<Self>, bytes: usize, max_requests: usize, max_bytes: usize) -> Option<Ticket> {
        let requests = self.requests.fetch_add(1, Ordering::AcqRel);
        let queued = self.bytes.fetch_add(bytes, Ordering::AcqRel);
        let ticket = Ticket { backlog: Arc::clone(self), bytes };
        if requests >= max_requests || queued.saturating_add(bytes) > max_bytes {
            return None; // the ticket's drop gives both back
        }
        Some(ticket)
    }

    /// Requests waiting now.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Acquire)
    }

    /// Body bytes waiting now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.backlog.requests.fetch_sub(1, Ordering::AcqRel);
        self.backlog.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(session: &str, component: &str) -> (Vec<u8>, Call) {
        let r =
            MpiGetRequest { client_session: session.into(), component_name: component.into(), object_name: "o".into() };
        (r.to_body(), Call::Get(r))
    }

    fn order(q: &mut Queue<u32>) -> Vec<Vec<u32>> {
        std::iter::from_fn(|| q.pop().map(|j| j.waiters)).collect()
    }

    #[test]
    fn test_push_merges_identical_requests() {
        let mut q = Queue::default();
        let (body, call) = get("s", "A");
        q.push("/MpiGet", body.clone(), call, 1, &[]);
        let (body2, call2) = get("s", "A");
        q.push("/MpiGet", body2, call2, 2, &[]);
        let (other, call3) = get("t", "A");
        q.push("/MpiGet", other, call3, 3, &[]);
        assert_eq!(q.merged(), 1);
        assert_eq!(order(&mut q), [vec![1, 2], vec![3]]);
    }

    #[test]
    fn test_push_never_merges_opens() {
        let mut q = Queue::default();
        for waiter in [1, 2] {
            let r = MpiOpenRequest { client_name: "c".into(), max_payload_size_bytes: 0 };
            q.push("/MpiOpen", r.to_body(), Call::Open(r, 0), waiter, &[]);
        }
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn test_pop_orders_by_priority_then_arrival() {
        let priorities = vec!["High".to_string(), "Mid".to_string()];
        let mut q = Queue::default();
        for (waiter, component) in [(1, "Unknown"), (2, "Mid"), (3, "High"), (4, "Mid")] {
            let (body, call) = get(&waiter.to_string(), component);
            q.push("/MpiGet", body, call, waiter, &priorities);
        }
        let close = MpiCloseRequest { client_session: "x".into() };
        q.push("/MpiClose", close.to_body(), Call::Close(close), 5, &priorities);
        let reported = MpiGetReportedRequest { client_session: "x".into() };
        q.push("/MpiGetReported", reported.to_body(), Call::GetReported(reported), 6, &priorities);
        let desired =
            MpiSetDesiredRequest::from_body(br#"{"ClientSession":"x","Payload":{"Zed":{"a":1},"Mid":{"b":2}}}"#)
                .unwrap();
        q.push("/MpiSetDesired", Vec::new(), Call::SetDesired(desired), 7, &priorities);
        assert_eq!(order(&mut q), [vec![5], vec![3], vec![2], vec![4], vec![7], vec![1], vec![6]]);
        assert!(q.is_empty());
    }

    #[test]
    fn test_push_from_listed_source_ranks_by_source() {
        let priorities = vec!["High".to_string(), "LocalManagement".to_string()];
        let mut q = Queue::default();
        let (body, call) = get("a", "High");
        q.push("/MpiGet", body, call, 1, &priorities);
        let (body, call) = get("b", "Unlisted");
        q.push_from(Some("LocalManagement"), "/MpiGet", body, call, 2, &priorities);
        let (body, call) = get("c", "Other");
        q.push("/MpiGet", body, call, 3, &priorities);
        let (body, call) = get("d", "High");
        q.push_from(Some("NotListed"), "/MpiGet", body, call, 4, &priorities);
        assert_eq!(order(&mut q), [vec![1], vec![4], vec![2], vec![3]]);
    }

    #[test]
    fn test_push_finds_duplicates_by_hash_in_a_long_queue() {
        // 4096 distinct bodies of equal length that differ only at the end: comparing each new one with every
        // queued body byte by byte took seconds. Each distinct body has its own hash bucket, so a new request is
        // compared with at most the bodies of equal hash (how long that takes is the benchmark's business).
        let filler = "x".repeat(1024);
        let bodies: Vec<Vec<u8>> = (0..4096).map(|i| format!("{filler}{i:06}").into_bytes()).collect();
        let mut q = Queue::default();
        for (i, body) in bodies.iter().enumerate() {
            let (_, call) = get("s", "A");
            q.push("/MpiGet", body.clone(), call, i, &[]);
        }
        assert_eq!(q.index.len(), 4096, "one hash bucket per distinct body");
        assert!(q.index.values().all(|keys| keys.len() == 1));
        let (_, call) = get("s", "A");
        q.push("/MpiGet", bodies[7].clone(), call, 9999, &[]);
        assert_eq!((q.len(), q.merged()), (4096, 1));
        let drained: Vec<Vec<usize>> = std::iter::from_fn(|| q.pop().map(|j| j.waiters)).collect();
        assert_eq!(drained[7], [7, 9999]);
        assert_eq!(drained.len(), 4096);
        assert!(q.index.is_empty());
    }

    #[test]
    fn test_backlog_admits_within_bounds_and_gives_back_on_drop() {
        let backlog = Arc::new(Backlog::default());
        let a = backlog.admit_within(10, 2, 25).unwrap();
        let b = backlog.admit_within(10, 2, 25).unwrap();
        assert!(backlog.admit_within(1, 2, 25).is_none(), "third request");
        drop(b);
        assert!(backlog.admit_within(16, 2, 25).is_none(), "26 bytes");
        let c = backlog.admit_within(15, 2, 25).unwrap();
        assert_eq!((backlog.requests(), backlog.bytes()), (2, 25));
        drop((a, c));
        assert_eq!((backlog.requests(), backlog.bytes()), (0, 0));
        assert!(backlog.admit(MAX_QUEUED_BYTES + 1).is_none());
        assert!(backlog.admit(MAX_QUEUED_BYTES).is_some());
    }
}
