//! All routing: one `match (method, route)`. Bodies are parsed here (a bad one is answered 400); valid calls run on
//! the module at once (see [`crate::module`] for why on this thread).

use osconfig_http::{Method, Request, Responder};
use osconfig_mpi::{CloseRequest, GetInfoRequest, GetRequest, OpenRequest, SetRequest};

use crate::module::{Call, HostedModule};
use crate::reply;

/// Answers one request.
pub fn route(request: Request, responder: Responder, module: &mut HostedModule) {
    let body = request.body.as_slice();
    let call = match (&request.method, request.route()) {
        (Method::Post, "/MmiGetInfo") => GetInfoRequest::from_body(body).map(Call::GetInfo),
        (Method::Post, "/MmiOpen") => OpenRequest::from_body(body).map(Call::Open),
        (Method::Post, "/MmiClose") => CloseRequest::from_body(body).map(Call::Close),
        (Method::Post, "/MmiSet") => SetRequest::from_body(body).map(Call::Set),
        (Method::Post, "/MmiGet") => GetRequest::from_body(body).map(Call::Get),
        (method, _) => {
            log::debug!("no route for {} {} (pid {})", method.as_str(), request.path, request.peer.pid);
            responder.respond(reply::not_found());
            return;
        }
    };
    match call {
        Ok(call) => responder.respond(reply::outcome(module.call(call))),
        Err(e) => {
            log::warn!("{} from pid {}: {e}", request.route(), request.peer.pid);
            responder.respond(reply::bad_request(&e));
        }
    }
}
