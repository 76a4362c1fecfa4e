//! `MmiClient`: a blocking client of one module host's MMI REST API, over a kept-alive Unix-socket connection.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use osconfig_http::{Client, ClientError, ClientResponse};
use serde_json::value::RawValue;

use crate::mmi::{set_body, CloseRequest, GetInfoRequest, GetRequest, MmiEndpoint, OpenRequest};
use crate::wire::parse_errno_body;

/// Why an MMI call failed.
#[derive(Debug)]
pub enum MmiCallError {
    /// The module answered with an errno (`500` with body `"<errno>"`), e.g. 22 for an unknown session or object.
    Module(i32),
    /// The host refused the request body (`400`); also returned, without sending anything, when the payload given
    /// to [`MmiClient::set`] is not valid JSON.
    BadRequest,
    /// The host does not know the endpoint (`404`).
    NotFound,
    /// The request could not be sent or no whole answer came back (the host may have crashed or timed out).
    Transport(ClientError),
    /// The answer was not what the API allows (another status, a 500 without an errno, a bad session id).
    Protocol(String),
}

impl fmt::Display for MmiCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MmiCallError::Module(errno) => write!(f, "module returned errno {errno}"),
            MmiCallError::BadRequest => f.write_str("module host refused the request as malformed"),
            MmiCallError::NotFound => f.write_str("module host does not serve this endpoint"),
            MmiCallError::Transport(_) => f.write_str("cannot reach the module host"),
            MmiCallError::Protocol(what) => write!(f, "unexpected answer from the module host: {what}"),
        }
    }
}

impl std::error::Error for MmiCallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MmiCallError::Transport(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ClientError> for MmiCallError {
    fn from(e: ClientError) -> Self {
        MmiCallError::Transport(e)
    }
}

/// A blocking client of one module host (see the crate docs for an example). Not thread-safe by design: one
/// connection, one request at a time.
#[derive(Debug)]
pub struct MmiClient {
    http: Client,
}

impl MmiClient {
    /// A client for the host listening on `socket`; connects on the first call.
    pub fn new(socket: impl AsRef<Path>) -> MmiClient {
        MmiClient { http: Client::new(socket) }
    }

    /// Sets the time allowed to connect and for each whole answer (default [`osconfig_http::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(self, timeout: Duration) -> MmiClient {
        MmiClient { http: self.http.with_timeout(timeout) }
    }

    /// `MmiGetInfo`: the module's info JSON, as the host sent it.
    pub fn get_info(&mut self, client_name: &str) -> Result<Vec<u8>, MmiCallError> {
        let body = GetInfoRequest { client_name: client_name.to_string() }.to_body();
        self.call(MmiEndpoint::GetInfo, &body)
    }

    /// `MmiOpen`: a new session id (`max_payload_size_bytes` 0 = unlimited).
    pub fn open(&mut self, client_name: &str, max_payload_size_bytes: u32) -> Result<String, MmiCallError> {
        let body = OpenRequest { client_name: client_name.to_string(), max_payload_size_bytes }.to_body();
        let answer = self.call(MmiEndpoint::Open, &body)?;
        opened_session(&answer)
    }

    /// `MmiClose` (an unknown session is not an error).
    pub fn close(&mut self, session: &str) -> Result<(), MmiCallError> {
        let body = CloseRequest { client_session: session.to_string() }.to_body();
        self.call(MmiEndpoint::Close, &body).map(drop)
    }

    /// `MmiSet`: `payload` is the desired object's JSON text, sent unchanged after checking it is one JSON value.
    pub fn set(&mut self, session: &str, component: &str, object: &str, payload: &[u8]) -> Result<(), MmiCallError> {
        if serde_json::from_slice::<Box<RawValue>>(payload).is_err() {
            return Err(MmiCallError::BadRequest);
        }
        let body = set_body(session, component, object, payload);
        self.call(MmiEndpoint::Set, &body).map(drop)
    }

    /// `MmiGet`: the reported object's JSON text.
    pub fn get(&mut self, session: &str, component: &str, object: &str) -> Result<Vec<u8>, MmiCallError> {
        let body = GetRequest {
            client_session: session.to_string(),
            component_name: component.to_string(),
            object_name: object.to_string(),
        }
        .to_body();
        self.call(MmiEndpoint::Get, &body)
    }

    fn call(&mut self, endpoint: MmiEndpoint, body: &[u8]) -> Result<Vec<u8>, MmiCallError> {
        let response = self.http.post(endpoint.path(), body)?;
        mmi_result(endpoint, response)
    }
}

/// The session id in an `MmiOpen` answer's body (a non-empty JSON string).
pub fn opened_session(answer: &[u8]) -> Result<String, MmiCallError> {
    match serde_json::from_slice::<serde_json::Value>(answer) {
        Ok(serde_json::Value::String(id)) if !id.is_empty() => Ok(id),
        _ => Err(MmiCallError::Protocol(format!(
            "MmiOpen answered {:?}, not a session id string",
            String::from_utf8_lossy(answer)
        ))),
    }
}

/// Maps a host's answer to `endpoint` to the call's result: the 200 body, or the error the status stands for
/// (what [`MmiClient`] does with every answer; public for callers with their own non-blocking connection).
pub fn mmi_result(endpoint: MmiEndpoint, response: ClientResponse) -> Result<Vec<u8>, MmiCallError> {
    match response.status {
        200 => Ok(response.body),
        400 => Err(MmiCallError::BadRequest),
        404 => Err(MmiCallError::NotFound),
        500 => parse_errno_body(&response.body).map(MmiCallError::Module).map_or_else(
            || {
                Err(MmiCallError::Protocol(format!(
                    "{} answered 500 without an errno: {:?}",
                    endpoint.route(),
                    String::from_utf8_lossy(&response.body)
                )))
            },
            Err,
        ),
        other => Err(MmiCallError::Protocol(format!("{} answered status {other}", endpoint.route()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &[u8]) -> ClientResponse {
        ClientResponse { status, headers: Vec::new(), body: body.to_vec(), keep_alive: true }
    }

    #[test]
    fn test_interpret_every_status() {
        assert_eq!(mmi_result(MmiEndpoint::Get, answer(200, b"\"x\"")).unwrap(), b"\"x\"");
        assert!(matches!(mmi_result(MmiEndpoint::Get, answer(400, b"")), Err(MmiCallError::BadRequest)));
        assert!(matches!(mmi_result(MmiEndpoint::Get, answer(404, b"")), Err(MmiCallError::NotFound)));
        assert!(matches!(mmi_result(MmiEndpoint::Get, answer(500, b"\"22\"")), Err(MmiCallError::Module(22))));
        assert!(matches!(mmi_result(MmiEndpoint::Get, answer(500, b"")), Err(MmiCallError::Protocol(_))));
        assert!(matches!(mmi_result(MmiEndpoint::Get, answer(503, b"{}")), Err(MmiCallError::Protocol(_))));
    }

    #[test]
    fn test_set_refuses_invalid_payload_without_sending() {
        let mut client = MmiClient::new("/nonexistent/osconfig-mpi-test.sock");
        assert!(matches!(client.set("s", "C", "o", b"{not json"), Err(MmiCallError::BadRequest)));
        assert!(matches!(client.set("s", "C", "o", b""), Err(MmiCallError::BadRequest)));
        assert!(matches!(client.set("s", "C", "o", b"1"), Err(MmiCallError::Transport(_))));
    }

    #[test]
    fn test_call_error_display_is_lowercase() {
        assert_eq!(MmiCallError::Module(22).to_string(), "module returned errno 22");
        assert!(MmiCallError::NotFound.to_string().starts_with("module host"));
    }
}
