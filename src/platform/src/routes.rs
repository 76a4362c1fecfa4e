//! The MPI's routing, on the event loop's thread: authorization (403), one `match (method, route)` (404), strict
//! body parsing (400), then the call goes to the [`Orchestrator`]. Nothing here waits on a module.

use std::sync::{Arc, Mutex};

use osconfig_http::{Handler, Method, Request, Responder, Response, StatusCode};
use osconfig_mpi::{
    BodyError, MpiCloseRequest, MpiGetReportedRequest, MpiGetRequest, MpiOpenRequest, MpiSetDesiredRequest,
    MpiSetRequest,
};

use crate::auth::Authorizer;
use crate::orchestrator::Orchestrator;
use crate::queue::Call;

/// The MPI's request handler.
#[derive(Debug)]
pub struct MpiHandler {
    auth: Arc<Mutex<Authorizer>>,
    orchestrator: Orchestrator,
}

impl MpiHandler {
    /// A handler checking callers with `auth` and handing calls to `orchestrator`.
    pub fn new(auth: Arc<Mutex<Authorizer>>, orchestrator: Orchestrator) -> MpiHandler {
        MpiHandler { auth, orchestrator }
    }
}

fn parse<T>(body: &[u8], parse: fn(&[u8]) -> Result<T, BodyError>, wrap: fn(T) -> Call) -> Result<Call, BodyError> {
    parse(body).map(wrap)
}

impl Handler for MpiHandler {
    fn handle(&mut self, request: Request, responder: Responder) {
        let peer = request.peer;
        let allowed = self.auth.lock().unwrap_or_else(|e| e.into_inner()).allows(&peer);
        if !allowed {
            log::warn!("MPI call {} refused: uid {} (pid {}) is not allowed", request.path, peer.uid, peer.pid);
            responder.respond(Response::new(StatusCode::Forbidden));
            return;
        }
        let body = request.body.as_slice();
        let (route, call) = match (&request.method, request.route()) {
            (Method::Post, "/MpiOpen") => ("/MpiOpen", parse(body, MpiOpenRequest::from_body, Call::Open)),
            (Method::Post, "/MpiClose") => ("/MpiClose", parse(body, MpiCloseRequest::from_body, Call::Close)),
            (Method::Post, "/MpiSet") => ("/MpiSet", parse(body, MpiSetRequest::from_body, Call::Set)),
            (Method::Post | Method::Get, "/MpiGet") => ("/MpiGet", parse(body, MpiGetRequest::from_body, Call::Get)),
            (Method::Post, "/MpiSetDesired") => {
                ("/MpiSetDesired", parse(body, MpiSetDesiredRequest::from_body, Call::SetDesired))
            }
            (Method::Post | Method::Get, "/MpiGetReported") => {
                ("/MpiGetReported", parse(body, MpiGetReportedRequest::from_body, Call::GetReported))
            }
            (method, _) => {
                log::debug!("no MPI route for {} {} (pid {})", method.as_str(), request.path, peer.pid);
                responder.respond(Response::new(StatusCode::NotFound));
                return;
            }
        };
        match call {
            Ok(call) => self.orchestrator.submit(route, request.body, call, responder),
            Err(e) => {
                log::warn!("{route} from pid {}: {e}", peer.pid);
                responder.respond(Response::new(StatusCode::BadRequest));
            }
        }
    }
}
