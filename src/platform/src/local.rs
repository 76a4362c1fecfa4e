//! An in-process MPI client: the Watcher calls the Orchestrator as a socket client would (its own session, the
//! same serial queue, the same answers), without the socket. Each call blocks until the orchestrator has answered;
//! a stopped orchestrator answers 503 or drops the call, which fails it with `EIO`.

use std::sync::mpsc;

use osconfig_http::StatusCode;
use osconfig_mpi::wire::parse_errno_body;
use osconfig_mpi::{DesiredObject, MpiGetReportedRequest, MpiOpenRequest, MpiSetDesiredRequest};

use crate::orchestrator::{Answer, ObjectFailure, Orchestrator, Waiter, EINVAL};
use crate::queue::Call;

/// Errno of a call the orchestrator dropped or refused (it is stopping).
pub const EIO: i32 = 5;

/// The client.
#[derive(Debug)]
pub struct LocalClient {
    orchestrator: Orchestrator,
    client_name: &'static str,
    source: &'static str,
    session: Option<String>,
}

impl LocalClient {
    /// A client that opens its sessions as `client_name` and whose calls rank as `source` when `Priorities` lists
    /// that name.
    pub fn new(orchestrator: Orchestrator, client_name: &'static str, source: &'static str) -> LocalClient {
        LocalClient { orchestrator, client_name, source, session: None }
    }

    fn call(&self, route: &'static str, body: Vec<u8>, call: Call) -> Result<Answer, i32> {
        let (tx, rx) = mpsc::channel();
        self.orchestrator.submit_from(Some(self.source), route, body, call, Waiter::Local(tx));
        rx.recv().map_err(|_| EIO)
    }

    fn errno(answer: &Answer) -> i32 {
        match answer.response.status() {
            StatusCode::Ok => 0,
            StatusCode::InternalServerError => parse_errno_body(answer.response.body()).unwrap_or(EIO),
            _ => EIO,
        }
    }

    /// The session, opened if needed.
    fn session(&mut self) -> Result<String, i32> {
        if let Some(session) = &self.session {
            return Ok(session.clone());
        }
        let request = MpiOpenRequest { client_name: self.client_name.into(), max_payload_size_bytes: 0 };
        let answer = self.call("/MpiOpen", request.to_body(), Call::Open(request, 0))?;
        match Self::errno(&answer) {
            0 => {
                let id: String = serde_json::from_slice(answer.response.body()).map_err(|_| EIO)?;
                self.session = Some(id.clone());
                Ok(id)
            }
            errno => Err(errno),
        }
    }

    /// Runs `make(session)`; when the answer says the session is unknown (reclaimed after its idle timeout), opens
    /// a new one and runs it once more.
    fn with_session(&mut self, make: impl Fn(String) -> (&'static str, Vec<u8>, Call)) -> Result<Answer, i32> {
        for attempt in 0..2 {
            let session = self.session()?;
            let (route, body, call) = make(session);
            let answer = self.call(route, body, call)?;
            let stale = Self::errno(&answer) == EINVAL && answer.failures.is_empty();
            if stale && attempt == 0 {
                log::info!("{}: MPI session no longer known; opening a new one", self.client_name);
                self.session = None;
                continue;
            }
            return Ok(answer);
        }
        Err(EINVAL)
    }

    /// `MpiSetDesired` of `objects` (in order): the objects that failed; `Err(errno)` when the call itself failed.
    pub fn set_desired(&mut self, objects: &[DesiredObject]) -> Result<Vec<ObjectFailure>, i32> {
        let answer = self.with_session(|session| {
            let request = MpiSetDesiredRequest { client_session: session, objects: objects.to_vec() };
            ("/MpiSetDesired", request.to_body(), Call::SetDesired(request))
        })?;
        match Self::errno(&answer) {
            0 => Ok(Vec::new()),
            _ if !answer.failures.is_empty() => Ok(answer.failures),
            errno => Err(errno),
        }
    }

    /// `MpiGetReported`: the reported document (compact JSON).
    pub fn get_reported(&mut self) -> Result<Vec<u8>, i32> {
        let answer = self.with_session(|session| {
            let request = MpiGetReportedRequest { client_session: session };
            ("/MpiGetReported", request.to_body(), Call::GetReported(request))
        })?;
        match Self::errno(&answer) {
            0 => Ok(answer.response.body().to_vec()),
            errno => Err(errno),
        }
    }
}
