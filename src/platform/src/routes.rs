//! The MPI's routing, on the event loop's thread: authorization (403), the route looked up as an `MpiEndpoint` (or
//! one of our two extensions) with the methods it allows (404 otherwise), strict body parsing (400 with
//! `{"error":"<why>"}`), then the call goes to the Orchestrator's [`Engine`], which runs on the same thread (the
//! loop's events of module hosts and its timers go to the engine too). Nothing here waits on a module.
//!
//! Besides the six MPI calls, two read-only extensions of ours (see [`crate::status`]): `GET`/`POST`
//! `/PlatformModules` and `/PlatformStatus`, which ignore any body and need no session.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Registry, Token};
use osconfig_http::{Handler, Method, PeerCred, Request, Responder};
use osconfig_rest::{
    BodyError, Endpoint, MpiCloseRequest, MpiEndpoint, MpiGetReportedRequest, MpiGetRequest, MpiOpenRequest,
    MpiSetDesiredRequest, MpiSetRequest, PLATFORM_MODULES_ROUTE, PLATFORM_STATUS_ROUTE,
};

use crate::answers;
use crate::auth::Authorizer;
use crate::orchestrator::{Engine, Waiter};
use crate::queue::Call;

/// A refused uid is logged at most once per this period (with the count of refusals in between), so a caller
/// that is not allowed cannot flood the log.
pub const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(10);

/// The MPI's request handler.
#[derive(Debug)]
pub struct MpiHandler {
    auth: Arc<Mutex<Authorizer>>,
    engine: Engine,
    /// Per refused uid: when it was last logged and how many refusals were not logged since.
    refusals: HashMap<u32, (Option<Instant>, u64)>,
}

impl MpiHandler {
    /// A handler checking callers with `auth` and handing calls to `engine`.
    pub fn new(auth: Arc<Mutex<Authorizer>>, engine: Engine) -> MpiHandler {
        MpiHandler { auth, engine, refusals: HashMap::new() }
    }

    fn log_refusal(&mut self, peer: PeerCred, call: &str) {
        let now = Instant::now();
        if self.refusals.len() > 4096 {
            self.refusals.clear();
        }
        let entry = self.refusals.entry(peer.uid).or_insert((None, 0));
        if entry.0.is_some_and(|at| now.duration_since(at) < REFUSAL_LOG_PERIOD) {
            entry.1 += 1;
            return;
        }
        let unlogged = std::mem::take(&mut entry.1);
        entry.0 = Some(now);
        log::warn!(
            "MPI {} refused: uid {} (pid {}) is not allowed{}",
            call,
            peer.uid,
            peer.pid,
            if unlogged > 0 { format!(" ({unlogged} more refusals of this uid not logged)") } else { String::new() }
        );
    }
}

/// The call an MPI endpoint's body asks for (`uid`: the caller's, which `MpiOpen` carries).
fn parse_call(endpoint: MpiEndpoint, body: &[u8], uid: u32) -> Result<Call, BodyError> {
    match endpoint {
        MpiEndpoint::Open => MpiOpenRequest::from_body(body).map(|r| Call::Open(r, uid)),
        MpiEndpoint::Close => MpiCloseRequest::from_body(body).map(Call::Close),
        MpiEndpoint::Set => MpiSetRequest::from_body(body).map(Call::Set),
        MpiEndpoint::Get => MpiGetRequest::from_body(body).map(Call::Get),
        MpiEndpoint::SetDesired => MpiSetDesiredRequest::from_body(body).map(Call::SetDesired),
        MpiEndpoint::GetReported => MpiGetReportedRequest::from_body(body).map(Call::GetReported),
    }
}

impl Handler for MpiHandler {
    fn attach(&mut self, registry: &Registry) -> io::Result<()> {
        self.engine.attach(registry)
    }

    fn ready(&mut self, token: Token, event: &Event) {
        self.engine.ready(token, event);
    }

    fn turn(&mut self, now: Instant) {
        self.engine.turn(now);
    }

    fn deadline(&self) -> Option<Instant> {
        self.engine.deadline()
    }

    fn stopped(&mut self) {
        self.engine.stopped();
    }

    fn admits(&mut self, peer: &PeerCred) -> bool {
        let allowed = self.auth.lock().unwrap_or_else(|e| e.into_inner()).allows(peer);
        if !allowed {
            self.log_refusal(*peer, "connection");
        }
        allowed
    }

    fn handle(&mut self, request: Request, responder: Responder) {
        let peer = request.peer;
        let allowed = self.auth.lock().unwrap_or_else(|e| e.into_inner()).allows(&peer);
        if !allowed {
            self.log_refusal(peer, &format!("call {}", request.path));
            responder.respond(answers::forbidden());
            return;
        }
        let body = request.body.as_slice();
        let method = &request.method;
        let endpoint = MpiEndpoint::from_route(request.route());
        let allowed_method = match endpoint {
            Some(e) => *method == Method::Post || (*method == Method::Get && e.allows_get()),
            None => matches!(method, Method::Post | Method::Get),
        };
        let (route, call) = match (allowed_method, endpoint, request.route()) {
            (true, Some(e), _) => (e.route(), parse_call(e, body, peer.uid)),
            (true, None, PLATFORM_MODULES_ROUTE) => (PLATFORM_MODULES_ROUTE, Ok(Call::Modules)),
            (true, None, PLATFORM_STATUS_ROUTE) => (PLATFORM_STATUS_ROUTE, Ok(Call::Status)),
            _ => {
                log::debug!("no MPI route for {} {} (pid {})", method.as_str(), request.path, peer.pid);
                responder.respond(answers::not_found());
                return;
            }
        };
        match call {
            Ok(call) => self.engine.submit(route, request.body, call, Waiter::Mpi(responder)),
            Err(e) => {
                log::warn!("{route} from pid {}: {e}", peer.pid);
                responder.respond(answers::bad_request(&e));
            }
        }
    }
}
