//! The orchestrator's queue: skips a request identical to one already queued (same endpoint and body, so same
//! session; the duplicate gets the same answer), orders what is queued by priority, first come first served within a
//! priority.
//!
//! Priorities (lower rank runs first): `MpiOpen` and `MpiClose` rank 0; `MpiSet` / `MpiGet` rank by their component's
//! place in the `Priorities` list (first = highest); `MpiSetDesired` by the highest-priority component it names;
//! components not in the list, and `MpiGetReported`, run last.

use osconfig_mpi::{
    MpiCloseRequest, MpiGetReportedRequest, MpiGetRequest, MpiOpenRequest, MpiSetDesiredRequest, MpiSetRequest,
};

/// A parsed MPI call.
#[derive(Debug)]
pub enum Call {
    /// `MpiOpen`, with whether the caller is root (root may use the sessions reserved for it).
    Open(MpiOpenRequest, bool),
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
    rank: usize,
    seq: u64,
}

/// The queue.
#[derive(Debug)]
pub struct Queue<W> {
    jobs: Vec<Job<W>>,
    seq: u64,
    merged: u64,
}

impl<W> Default for Queue<W> {
    fn default() -> Self {
        Queue { jobs: Vec::new(), seq: 0, merged: 0 }
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
        if call.merges() {
            if let Some(twin) = self.jobs.iter_mut().find(|j| j.route == route && j.body == body) {
                twin.waiters.push(waiter);
                self.merged += 1;
                return;
            }
        }
        self.seq += 1;
        let by_source = source.and_then(|name| priorities.iter().position(|p| p == name)).map(|i| i + 1);
        let rank = match (&call, by_source) {
            (Call::Open(..) | Call::Close(_), _) | (_, None) => call.rank(priorities),
            (_, Some(rank)) => rank,
        };
        self.jobs.push(Job { route, body, call, waiters: vec![waiter], rank, seq: self.seq });
    }

    /// The next job: lowest rank, then oldest.
    pub fn pop(&mut self) -> Option<Job<W>> {
        let index = self.jobs.iter().enumerate().min_by_key(|(_, j)| (j.rank, j.seq)).map(|(i, _)| i)?;
        Some(self.jobs.swap_remove(index))
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
            q.push("/MpiOpen", r.to_body(), Call::Open(r, false), waiter, &[]);
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
}
