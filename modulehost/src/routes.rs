//! All routing: one `match (method, endpoint)` over [`MmiEndpoint`] (no path is spelled here). Bodies are parsed
//! here (a bad one is answered 400); valid calls run on the module at once (see [`crate::module`] for why on this
//! thread).

use osconfig_http::{Method, Request, Responder};
use osconfig_rest::{CloseRequest, Endpoint, GetInfoRequest, GetRequest, MmiEndpoint, OpenRequest, SetRequest};

use crate::module::{Call, HostedModule};
use crate::reply;

/// Answers one request.
pub fn route(request: Request, responder: Responder, module: &mut HostedModule) {
    let body = request.body.as_slice();
    let call = match (&request.method, MmiEndpoint::from_route(request.route())) {
        (Method::Post, Some(MmiEndpoint::GetInfo)) => GetInfoRequest::from_body(body).map(Call::GetInfo),
        (Method::Post, Some(MmiEndpoint::Open)) => OpenRequest::from_body(body).map(Call::Open),
        (Method::Post, Some(MmiEndpoint::Close)) => CloseRequest::from_body(body).map(Call::Close),
        (Method::Post, Some(MmiEndpoint::Set)) => SetRequest::from_body(body).map(Call::Set),
        (Method::Post, Some(MmiEndpoint::Get)) => GetRequest::from_body(body).map(Call::Get),
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
