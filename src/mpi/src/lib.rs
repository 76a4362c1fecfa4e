//! # osconfig-mpi: wire types and clients of OSConfig's REST APIs
//!
//! It holds the **MMI REST API** that `osconfig-modulehost` serves for one module (see
//! `modulehost/MMI-REST-API.md`) and the **MPI** that `osconfig-platform` serves on `/run/osconfig/mpid.sock`
//! ([`mpi`]: [`MpiEndpoint`], the six request bodies, [`MpiClient`]).
//!
//! - [`mmi`]: the endpoints ([`MmiEndpoint`]) and the request bodies ([`GetInfoRequest`], [`OpenRequest`],
//!   [`CloseRequest`], [`SetRequest`], [`GetRequest`]), each with a strict `from_body` (used by the host; every
//!   error is a [`BodyError`], answered 400) and a `to_body` (used by the client).
//! - [`wire`]: what every JSON body shares: [`wire::Fields`] (a JSON object with its values kept as raw text),
//!   [`BodyError`], and the `"<errno>"` body of a 500 ([`wire::errno_body`], [`wire::parse_errno_body`]).
//! - [`MmiClient`]: a blocking client over one kept-alive connection (`osconfig_http::Client`), with
//!   [`MmiCallError`] telling a module's errno from a refused request, a transport failure and a protocol breach.
//!
//! ## The rules of the bodies
//! Keys are case-sensitive; each key an endpoint lists is required, with its JSON type (strings for names and
//! sessions; `MaxPayloadSizeBytes` an integer `0..=4294967295`); unknown keys are ignored; a repeated key keeps its
//! last value. `Payload` is any JSON value and is kept as the exact bytes received
//! ([`serde_json::value::RawValue`]), never re-serialized.
//!
//! ## Example
//! ```no_run
//! use osconfig_mpi::{MmiCallError, MmiClient};
//! use std::time::Duration;
//!
//! let mut host = MmiClient::new("/run/osconfig/modules/hostname.sock").with_timeout(Duration::from_secs(10));
//! let info = host.get_info("osconfig-platform")?;          // the module's GetInfo JSON
//! let session = host.open("osconfig-platform", 0)?;        // 0 = no payload limit
//! host.set(&session, "HostName", "desiredName", br#""box""#)?;
//! let name = host.get(&session, "HostName", "name")?;      // e.g. b"\"box\""
//! match host.get(&session, "HostName", "nope") {
//!     Err(MmiCallError::Module(22)) => {}                  // EINVAL from the module
//!     other => panic!("{other:?}"),
//! }
//! host.close(&session)?;
//! # let _ = (info, name);
//! # Ok::<(), MmiCallError>(())
//! ```
//!
//! ## Limits
//! The client sends one request at a time on one connection; timeouts and size limits are those of
//! `osconfig_http::Client` (default 30 s per call). It never retries a request the host may have received.

#![deny(missing_docs)]

mod bodies;
mod client;
pub mod mmi;
pub mod mpi;
pub mod session_id;
pub mod wire;

pub use client::{mmi_result, opened_session, MmiCallError, MmiClient};
pub use mmi::{CloseRequest, GetInfoRequest, GetRequest, MmiEndpoint, OpenRequest, SetRequest};
pub use mpi::{
    parse_desired_document, DesiredObject, DocumentError, MpiCallError, MpiClient, MpiCloseRequest, MpiEndpoint,
    MpiGetReportedRequest, MpiGetRequest, MpiOpenRequest, MpiSetDesiredRequest, MpiSetRequest, PLATFORM_MODULES_ROUTE,
    PLATFORM_STATUS_ROUTE,
};
pub use wire::BodyError;
