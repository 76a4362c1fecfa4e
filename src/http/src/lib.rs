//! HTTP/1.1 over Unix sockets for the OSConfig platform, module hosts and their clients.
//!
//! What is here:
//! - [`Server`]: a blocking `mio` event loop over a `UnixListener` with one state machine per connection
//!   (`connection.rs`): requests parsed with `httparse` (`parser.rs`), bodies framed by `Content-Length`, keep-alive
//!   by default, `Connection: close` honoured, pipelined requests answered in order. A [`Handler`] gets each request
//!   with a [`Responder`] it may send to another thread to answer later; the loop never waits on a handler.
//! - [`Limits`] with named constants ([`MAX_HEAD_BYTES`], [`MAX_HEADERS`], [`MAX_BODY_BYTES`], [`MAX_CONNECTIONS`],
//!   [`READ_TIMEOUT`], [`IDLE_TIMEOUT`], [`MAX_PIPELINED`]). Bad requests get 400, 411, 413, 431 or 501 with a small
//!   JSON body and the connection closes; a client that stalls mid-request gets 408 after the read timeout; a
//!   connection over the limit gets a canned 503.
//! - [`Response`]: built as a value; the writer adds `Content-Type: application/json` and `Content-Length` (always,
//!   spelled exactly so: the reference client searches for that text), and `Server: <name>` when configured.
//! - [`PeerCred`]: the client's pid, uid and gid from `SO_PEERCRED`, on every [`Request`].
//! - [`socket::bind`]: a private parent directory (0700), stale-socket removal (only when nobody answers), socket
//!   mode (0660), removal on shutdown.
//! - [`signals`]: SIGTERM/SIGINT/SIGHUP taken by one thread, for stopping a server cleanly.
//! - [`Client`] and [`oneshot`]: blocking clients with a timeout, keep-alive or one connection per request, and
//!   the same limits on what the server sends back.
//!
//! Not supported: `Transfer-Encoding` (501), HTTP/2, TLS (Unix sockets only).
//!
//! ```no_run
//! use osconfig_http::{Response, Server, SocketOptions, StatusCode};
//!
//! let server = Server::bind("/run/example/api.sock".as_ref(), SocketOptions::default())?
//!     .with_server_header("OSConfig");
//! let handle = server.handle(); // handle.shutdown() from another thread stops the loop
//! server.run(|request: osconfig_http::Request, responder: osconfig_http::Responder| {
//!     let response = match request.route() {
//!         "/echo" => Response::ok(request.body),
//!         _ => Response::new(StatusCode::NotFound),
//!     };
//!     responder.respond(response);
//! })?;
//! # drop(handle);
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

mod client;
mod connection;
mod error;
mod limits;
mod parser;
mod peer;
mod request;
mod response;
mod server;
pub mod signals;
pub mod socket;

pub use client::{oneshot, Client, ClientResponse, DEFAULT_TIMEOUT};
pub use error::{ClientError, RequestError};
pub use limits::{
    Limits, IDLE_TIMEOUT, MAX_BODY_BYTES, MAX_CONNECTIONS, MAX_HEADERS, MAX_HEAD_BYTES, MAX_PIPELINED, READ_TIMEOUT,
};
pub use parser::RequestParser;
pub use peer::PeerCred;
pub use request::{Header, Method, Request};
pub use response::{Response, StatusCode};
pub use server::{Handler, Responder, Server, ServerHandle};
pub use socket::{SocketFile, SocketOptions};
