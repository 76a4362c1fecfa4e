//! # osconfig-rest: wire types and clients of OSConfig's REST APIs
//!
//! It holds both of OSConfig's REST APIs over Unix sockets: the **MMI** that `osconfig-modulehost` serves for one
//! module (see `modulehost/MMI-REST-API.md`) and the **MPI** that `osconfig-platform` serves on
//! `/run/osconfig/mpid.sock`. The two are one shape (`POST /<Endpoint>/` with a JSON body; `200`, `400`, `404`,
//! `500 "<errno>"`), so one client and one error type serve both.
//!
//! - [`mmi`]: the MMI endpoints ([`MmiEndpoint`]) and request bodies ([`GetInfoRequest`], [`OpenRequest`],
//!   [`CloseRequest`], [`SetRequest`], [`GetRequest`]), each with a strict `from_body` (used by the host; every
//!   error is a [`BodyError`], answered 400) and a `to_body` (used by the clients).
//! - [`mpi`]: the MPI endpoints ([`MpiEndpoint`]), its six request bodies, the desired and reported documents.
//! - [`Endpoint`]: what both endpoint sets share: `path()`, `route()`, `from_route()` (servers route through it,
//!   never through string literals), `ALL`, and who answers an errno.
//! - [`RestClient`]: one blocking client over one kept-alive connection (`osconfig_http::Client`), with two typed
//!   faces, [`MmiClient`] (a module host) and [`MpiClient`] (the platform).
//! - [`CallError`]: why a call failed: an errno from a module ([`CallError::Module`]) or the platform
//!   ([`CallError::Platform`]), a refused request, a transport failure, a protocol breach. [`call_result`] (and
//!   [`mmi_result`], [`opened_session`]) map an answer to it, for callers with their own non-blocking connection.
//! - [`wire`]: what every JSON body shares: [`wire::Fields`] (a JSON object with its values kept as raw text),
//!   [`BodyError`], and the `"<errno>"` body of a 500 ([`wire::errno_body`], [`wire::parse_errno_body`]).
//!
//! ## The rules of the bodies
//! Keys are case-sensitive; each key an endpoint lists is required, with its JSON type (strings for names and
//! sessions; `MaxPayloadSizeBytes` an integer `0..=4294967295`); unknown keys are ignored; a repeated key keeps its
//! last value. `Payload` is any JSON value and is kept as the exact bytes received
//! ([`serde_json::value::RawValue`]), never re-serialized.
//!
//! ## Example
//! ```no_run
//! use osconfig_rest::{CallError, MmiClient};
//! use std::time::Duration;
//!
//! let mut host = MmiClient::new("/run/osconfig/modules/hostname.sock").with_timeout(Duration::from_secs(10));
//! let info = host.get_info("osconfig-platform")?;          // the module's GetInfo JSON
//! let session = host.open("osconfig-platform", 0)?;        // 0 = no payload limit
//! host.set(&session, "HostName", "desiredName", br#""box""#)?;
//! let name = host.get(&session, "HostName", "name")?;      // e.g. b"\"box\""
//! match host.get(&session, "HostName", "nope") {
//!     Err(CallError::Module(22)) => {}                     // EINVAL from the module
//!     other => panic!("{other:?}"),
//! }
//! host.close(&session)?;
//! # let _ = (info, name);
//! # Ok::<(), CallError>(())
//! ```
//!
//! ## Limits
//! A client sends one request at a time on one connection; timeouts and size limits are those of
//! `osconfig_http::Client` (default 30 s per call). It never retries a request the host may have received.

#![deny(missing_docs)]

mod bodies;
mod client;
mod endpoint;
mod error;
pub mod mmi;
pub mod mpi;
pub mod session_id;
pub mod wire;

pub use client::{MmiClient, MpiClient, RestClient};
pub use endpoint::Endpoint;
pub use error::{call_result, mmi_result, opened_session, CallError};
pub use mmi::{CloseRequest, GetInfoRequest, GetRequest, MmiEndpoint, OpenRequest, SetRequest};
pub use mpi::{
    parse_desired_document, DesiredObject, DocumentError, MpiCloseRequest, MpiEndpoint, MpiGetReportedRequest,
    MpiGetRequest, MpiOpenRequest, MpiSetDesiredRequest, MpiSetRequest, PLATFORM_MODULES_ROUTE, PLATFORM_STATUS_ROUTE,
};
pub use wire::BodyError;
