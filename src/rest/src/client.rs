//! [`RestClient`]: one blocking client over a kept-alive Unix-socket connection for either API, and its two typed
//! faces: [`MmiClient`] (one module host) and [`MpiClient`] (the platform).
//!
//! The calls both APIs have (`open`, `close`, `set`, `get`: the same bodies) are written once over
//! [`Endpoint`]; each face adds its own (`get_info` for the MMI; `set_desired`, `get_reported` and the platform's
//! read-only extensions for the MPI). Every answer goes through [`crate::call_result`].

use std::marker::PhantomData;
use std::path::Path;
use std::time::Duration;

use osconfig_http::Client;
use serde_json::value::RawValue;

use crate::bodies::{set_body, GetRequest, OpenRequest, SessionRequest};
use crate::endpoint::Endpoint;
use crate::error::{call_result, opened_session, route_result, CallError};
use crate::mmi::{GetInfoRequest, MmiEndpoint};
use crate::mpi::{MpiEndpoint, PLATFORM_MODULES_ROUTE, PLATFORM_STATUS_ROUTE};
use crate::wire::json_string;

/// A blocking client of one server of the endpoint set `E` (see the crate docs for an example). Not thread-safe by
/// design: one connection, one request at a time; it never retries a request the server may have received.
#[derive(Debug)]
pub struct RestClient<E> {
    http: Client,
    endpoints: PhantomData<E>,
}

/// A blocking client of one module host's MMI REST API.
pub type MmiClient = RestClient<MmiEndpoint>;

/// A blocking client of the platform's MPI.
///
/// ```no_run
/// use osconfig_rest::{CallError, MpiClient};
///
/// let mut mpi = MpiClient::new("/run/osconfig/mpid.sock");
/// let session = mpi.open("osconfig-agent", 0)?;
/// let name = mpi.get(&session, "DeviceInfo", "osName")?;              // e.g. b"\"Ubuntu\""
/// mpi.set_desired(&session, br#"{"HostName":{"desiredName":"box"}}"#)?;
/// let reported = mpi.get_reported(&session)?;                         // {"DeviceInfo":{...},...}
/// mpi.close(&session)?;
/// # let _ = (name, reported);
/// # Ok::<(), CallError>(())
/// ```
pub type MpiClient = RestClient<MpiEndpoint>;

impl<E: Endpoint> RestClient<E> {
    /// A client for the server listening on `socket`; connects on the first call.
    pub fn new(socket: impl AsRef<Path>) -> RestClient<E> {
        RestClient { http: Client::new(socket), endpoints: PhantomData }
    }

    /// Sets the time allowed to connect and for each whole answer (default [`osconfig_http::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(self, timeout: Duration) -> RestClient<E> {
        RestClient { http: self.http.with_timeout(timeout), endpoints: PhantomData }
    }

    /// `MmiOpen`/`MpiOpen`: a new session id (`max_payload_size_bytes` 0 = unlimited).
    pub fn open(&mut self, client_name: &str, max_payload_size_bytes: u32) -> Result<String, CallError> {
        let body = OpenRequest { client_name: client_name.to_string(), max_payload_size_bytes }.to_body();
        let answer = self.call(E::OPEN, &body)?;
        opened_session(&answer)
    }

    /// `MmiClose`/`MpiClose` (an unknown session is not an error).
    pub fn close(&mut self, session: &str) -> Result<(), CallError> {
        self.call(E::CLOSE, &SessionRequest { client_session: session.to_string() }.to_body()).map(drop)
    }

    /// `MmiSet`/`MpiSet`: `payload` is the desired object's JSON text, sent unchanged after checking it is one
    /// JSON value.
    pub fn set(&mut self, session: &str, component: &str, object: &str, payload: &[u8]) -> Result<(), CallError> {
        check_json(payload)?;
        self.call(E::SET, &set_body(session, component, object, payload)).map(drop)
    }

    /// `MmiGet`/`MpiGet`: the reported object's JSON text.
    pub fn get(&mut self, session: &str, component: &str, object: &str) -> Result<Vec<u8>, CallError> {
        let body = GetRequest {
            client_session: session.to_string(),
            component_name: component.to_string(),
            object_name: object.to_string(),
        }
        .to_body();
        self.call(E::GET, &body)
    }

    /// `POST`s `body` to `endpoint` and maps the answer.
    fn call(&mut self, endpoint: E, body: &[u8]) -> Result<Vec<u8>, CallError> {
        let response = self.http.post(endpoint.path(), body)?;
        call_result(endpoint, response)
    }
}

impl RestClient<MmiEndpoint> {
    /// `MmiGetInfo`: the module's info JSON, as the host sent it.
    pub fn get_info(&mut self, client_name: &str) -> Result<Vec<u8>, CallError> {
        let body = GetInfoRequest { client_name: client_name.to_string() }.to_body();
        self.call(MmiEndpoint::GetInfo, &body)
    }
}

impl RestClient<MpiEndpoint> {
    /// `MpiSetDesired`: `payload` is the desired document's JSON text (an object of objects), sent unchanged after
    /// checking it is one JSON value.
    pub fn set_desired(&mut self, session: &str, payload: &[u8]) -> Result<(), CallError> {
        check_json(payload)?;
        let mut body = format!("{{\"ClientSession\":{},\"Payload\":", json_string(session)).into_bytes();
        body.extend_from_slice(payload);
        body.push(b'}');
        self.call(MpiEndpoint::SetDesired, &body).map(drop)
    }

    /// `MpiGetReported`: the reported document's JSON text.
    pub fn get_reported(&mut self, session: &str) -> Result<Vec<u8>, CallError> {
        self.call(MpiEndpoint::GetReported, &SessionRequest { client_session: session.to_string() }.to_body())
    }

    /// `GET /PlatformModules`, our read-only extension (no session): the module list as JSON.
    pub fn platform_modules(&mut self) -> Result<Vec<u8>, CallError> {
        self.extension(PLATFORM_MODULES_ROUTE)
    }

    /// `GET /PlatformStatus`, our read-only extension (no session): the platform's status as JSON.
    pub fn platform_status(&mut self) -> Result<Vec<u8>, CallError> {
        self.extension(PLATFORM_STATUS_ROUTE)
    }

    fn extension(&mut self, route: &'static str) -> Result<Vec<u8>, CallError> {
        let response = self.http.request("GET", route, b"")?;
        route_result(route, MpiEndpoint::errno_error, response)
    }
}

/// A payload the client sends unchanged must be one JSON value; [`CallError::BadRequest`] (nothing sent) if not.
fn check_json(payload: &[u8]) -> Result<(), CallError> {
    match serde_json::from_slice::<Box<RawValue>>(payload) {
        Ok(_) => Ok(()),
        Err(_) => Err(CallError::BadRequest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_set_refuses_invalid_payload_without_sending() {
        let mut client = MmiClient::new("/nonexistent/osconfig-rest-test.sock");
        assert!(matches!(client.set("s", "C", "o", b"{not json"), Err(CallError::BadRequest)));
        assert!(matches!(client.set("s", "C", "o", b""), Err(CallError::BadRequest)));
        assert!(matches!(client.set("s", "C", "o", b"1"), Err(CallError::Transport(_))));
    }

    #[test]
    fn test_set_desired_refuses_invalid_payload_without_sending() {
        let mut client = MpiClient::new("/nonexistent/osconfig-rest-test.sock");
        assert!(matches!(client.set_desired("s", b"{\"C\":"), Err(CallError::BadRequest)));
        assert!(matches!(client.set_desired("s", b"{}"), Err(CallError::Transport(_))));
        assert!(matches!(client.platform_status(), Err(CallError::Transport(_))));
    }
}
