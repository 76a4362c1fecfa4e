//! An in-process MPI client: the Watcher calls the Orchestrator as a socket client would (its own session, the
//! same serial queue, the same answers), without the socket. Each call blocks until the orchestrator has answered;
//! a stopped orchestrator answers 503 or drops the call, which fails it with `EIO`.

use std::sync::mpsc;

use osconfig_mmi::Errno;
use osconfig_rest::{DesiredObject, MpiGetReportedRequest, MpiOpenRequest, MpiSetDesiredRequest};

use crate::answers::errno_of;
use crate::orchestrator::{Answer, ObjectFailure, Orchestrator, Waiter};
use crate::queue::Call;

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

    /// The answer; `EIO` when the orchestrator dropped the call (it is stopping).
    fn call(&self, route: &'static str, body: Vec<u8>, call: Call) -> Result<Answer, Errno> {
        let (tx, rx) = mpsc::channel();
        self.orchestrator.submit_from(Some(self.source), route, body, call, Waiter::Local(tx));
        rx.recv().map_err(|_| Errno::EIO)
    }

    /// The session, opened if needed.
    fn session(&mut self) -> Result<String, Errno> {
        if let Some(session) = &self.session {
            return Ok(session.clone());
        }
        let request = MpiOpenRequest { client_name: self.client_name.into(), max_payload_size_bytes: 0 };
        let answer = self.call("/MpiOpen", request.to_body(), Call::Open(request, 0))?;
        match errno_of(&answer.response) {
            None => {
                let id: String = serde_json::from_slice(answer.response.body()).map_err(|_| Errno::EIO)?;
                self.session = Some(id.clone());
                Ok(id)
            }
            Some(errno) => Err(errno),
        }
    }

    /// Runs `make(session)`; when the answer says the session is unknown (reclaimed after its idle timeout), opens
    /// a new one and runs it once more.
    fn with_session(&mut self, make: impl Fn(String) -> (&'static str, Vec<u8>, Call)) -> Result<Answer, Errno> {
        for attempt in 0..2 {
            let session = self.session()?;
            let (route, body, call) = make(session);
            let answer = self.call(route, body, call)?;
            let stale = errno_of(&answer.response) == Some(Errno::EINVAL) && answer.failures.is_empty();
            if stale && attempt == 0 {
                log::info!("{}: MPI session no longer known; opening a new one", self.client_name);
                self.session = None;
                continue;
            }
            return Ok(answer);
        }
        Err(Errno::EINVAL)
    }

    /// `MpiSetDesired` of `objects` (in order): the objects that failed; `Err(errno)` when the call itself failed.
    pub fn set_desired(&mut self, objects: &[DesiredObject]) -> Result<Vec<ObjectFailure>, Errno> {
        let answer = self.with_session(|session| {
            let request = MpiSetDesiredRequest { client_session: session, objects: objects.to_vec() };
            ("/MpiSetDesired", request.to_body(), Call::SetDesired(request))
        })?;
        match errno_of(&answer.response) {
            None => Ok(Vec::new()),
            Some(_) if !answer.failures.is_empty() => Ok(answer.failures),
            Some(errno) => Err(errno),
        }
    }

    /// `MpiGetReported`: the reported document (compact JSON).
    pub fn get_reported(&mut self) -> Result<Vec<u8>, Errno> {
        let answer = self.with_session(|session| {
            let request = MpiGetReportedRequest { client_session: session };
            ("/MpiGetReported", request.to_body(), Call::GetReported(request))
        })?;
        match errno_of(&answer.response) {
            None => Ok(answer.response.body().to_vec()),
            Some(errno) => Err(errno),
        }
    }
}
