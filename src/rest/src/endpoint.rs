//! [`Endpoint`]: what the MMI's and the MPI's endpoint sets share, so that one client ([`crate::RestClient`]), one
//! answer mapping ([`crate::call_result`]) and both servers' routing work over either set.
//!
//! Both APIs are `POST <path>` with a JSON body, and both have `Open`, `Close`, `Set` and `Get` with the same
//! bodies; they differ in their other endpoints and in who answers an errno (a module through its host, or the
//! platform).

use crate::error::CallError;

/// One API's set of endpoints ([`crate::MmiEndpoint`], [`crate::MpiEndpoint`]).
pub trait Endpoint: Copy + Eq + std::fmt::Debug + 'static {
    /// Every endpoint of the set.
    const ALL: &'static [Self];
    /// The endpoint that opens a session (`{"ClientName", "MaxPayloadSizeBytes"}`, answered with a session id).
    const OPEN: Self;
    /// The endpoint that closes a session (`{"ClientSession"}`).
    const CLOSE: Self;
    /// The endpoint that sets one object (`{"ClientSession", "ComponentName", "ObjectName", "Payload"}`).
    const SET: Self;
    /// The endpoint that gets one object (`{"ClientSession", "ComponentName", "ObjectName"}`).
    const GET: Self;

    /// The path a client sends, with the trailing slash: `/MmiOpen/`.
    fn path(self) -> &'static str;

    /// The error for a `500` answer carrying `errno` ([`CallError::Module`] or [`CallError::Platform`]: who
    /// answered).
    fn errno_error(errno: i32) -> CallError;

    /// The route a server matches: the path without its trailing slash, `/MmiOpen`.
    fn route(self) -> &'static str {
        let path = self.path();
        path.strip_suffix('/').unwrap_or(path)
    }

    /// The endpoint for a route (trailing slash already stripped, as `osconfig_http::Request::route` does);
    /// case-sensitive.
    fn from_route(route: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.route() == route)
    }
}
