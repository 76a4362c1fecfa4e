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
//! - Hardening bounds (all in [`Limits`], each a named constant with a setter):
//!   - [`MAX_OUTPUT_BYTES`] (1 MiB): a connection whose client does not read its answers stops being read (its
//!     requests stop running) while more than this waits unsent; reading resumes when it drains.
//!   - [`MAX_BUFFERED_BYTES`] (16 MiB): the bytes all connections buffer together. Past it a connection reads on
//!     only while it holds under [`CONNECTION_BUFFER_BYTES`] (16 KiB; small requests are always read) and owes no
//!     output; the first connection to pause may read past the budget so one request always completes; the
//!     others resume when the budget has room. Buffers over [`CONNECTION_BUFFER_BYTES`] are given back once
//!     empty, and the allocator is trimmed after big ones are freed. A paused connection whose client has gone
//!     is closed at once.
//!   - [`MAX_CONNECTIONS_PER_UID`] (64, not root) and [`ROOT_RESERVED_CONNECTIONS`] (64 of [`MAX_CONNECTIONS`]
//!     only root may take). When a uid's share or the table is full, the kept-alive connection idle longest (at
//!     least [`EVICTABLE_IDLE`], 1 s) is closed to make room; only when none is, the new one gets 503.
//!   - [`Handler::admits`] sees each connection's [`PeerCred`] at accept; a refused one gets a canned 403 and
//!     takes no slot. Refused connections (403 or 503) are held unread for [`REFUSED_LINGER`] (1 s, at most
//!     [`MAX_REFUSED_LINGERING`] = 64, oldest closed first) so a client writing after connect reads the answer.
//!   - The "connection limit reached" warning is logged at most once per [`REFUSAL_LOG_PERIOD`] (10 s) with
//!     the count not logged.
//! - A server made by [`Server::bind`] watches its socket's directory with inotify in the same poll: when the
//!   socket file is deleted or renamed away, it binds a new one at the same path with the same modes (logged);
//!   existing connections go on.
//! - [`Response`]: built as a value; the writer adds `Content-Type: application/json` and `Content-Length` (always,
//!   spelled exactly so: the reference client searches for that text), and `Server: <name>` when configured.
//! - [`PeerCred`]: the client's pid, uid and gid from `SO_PEERCRED`, on every [`Request`].
//! - [`socket::bind`]: a private parent directory (0700), stale-socket removal (only when nobody answers), socket
//!   mode (0660), removal on shutdown.
//! - [`signals`]: SIGTERM/SIGINT/SIGHUP taken by one thread, for stopping a server cleanly.
//! - [`Client`] and [`oneshot`]: blocking clients with a timeout that bounds the whole call (connect, write,
//!   read), keep-alive or one connection per request, and the same limits on what the server sends back.
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
mod watch;

pub use client::{encode_request, oneshot, parse_response, Client, ClientResponse, DEFAULT_TIMEOUT};
pub use error::{ClientError, RequestError};
pub use limits::{
    Limits, CONNECTION_BUFFER_BYTES, EVICTABLE_IDLE, IDLE_TIMEOUT, MAX_BODY_BYTES, MAX_BUFFERED_BYTES, MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_UID, MAX_HEADERS, MAX_HEAD_BYTES, MAX_OUTPUT_BYTES, MAX_PIPELINED, MAX_REFUSED_LINGERING,
    READ_TIMEOUT, REFUSAL_LOG_PERIOD, REFUSED_LINGER, ROOT_RESERVED_CONNECTIONS,
};
pub use parser::RequestParser;
pub use peer::PeerCred;
pub use request::{Header, Method, Request};
pub use response::{Response, StatusCode};
pub use server::{handler_source, handler_token, Handler, Responder, Server, ServerHandle};
pub use socket::{SocketFile, SocketOptions};
