//! The MPI's routing, on the event loop's thread: authorization (403), one `match (method, route)` (404), strict
//! body parsing (400 with `{"error":"<why>"}`), then the call goes to the Orchestrator's [`Engine`], which runs on
//! the same thread (the loop's events of module hosts and its timers go to the engine too). Nothing here waits on
//! a module.
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
use osconfig_mpi::{
    BodyError, MpiCloseRequest, MpiGetReportedRequest, MpiGetRequest, MpiOpenRequest, MpiSetDesiredRequest,
    MpiSetRequest,
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

fn parse<T>(body: &[u8], parse: fn(&[u8]) -> Result<T, BodyError>, wrap: fn(T) -> Call) -> Result<Call, BodyError> {
    parse(body).map(wrap)
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
        let (route, call) = match (&request.method, request.route()) {
            (Method::Post, "/MpiOpen") => {
                ("/MpiOpen", MpiOpenRequest::from_body(body).map(|r| Call::Open(r, peer.uid)))
            }
            (Method::Post, "/MpiClose") => ("/MpiClose", parse(body, MpiCloseRequest::from_body, Call::Close)),
            (Method::Post, "/MpiSet") => ("/MpiSet", parse(body, MpiSetRequest::from_body, Call::Set)),
            (Method::Post | Method::Get, "/MpiGet") => ("/MpiGet", parse(body, MpiGetRequest::from_body, Call::Get)),
            (Method::Post, "/MpiSetDesired") => {
                ("/MpiSetDesired", parse(body, MpiSetDesiredRequest::from_body, Call::SetDesired))
            }
            (Method::Post | Method::Get, "/MpiGetReported") => {
                ("/MpiGetReported", parse(body, MpiGetReportedRequest::from_body, Call::GetReported))
            }
            (Method::Post | Method::Get, "/PlatformModules") => ("/PlatformModules", Ok(Call::Modules)),
            (Method::Post | Method::Get, "/PlatformStatus") => ("/PlatformStatus", Ok(Call::Status)),
            (method, _) => {
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
