//! [`CallError`], why a call of either API failed, and the one mapping from an answer to a call's result
//! ([`call_result`]), used by [`crate::RestClient`] and by callers with their own non-blocking connection.

use std::fmt;

use osconfig_http::{ClientError, ClientResponse};

use crate::endpoint::Endpoint;
use crate::mmi::MmiEndpoint;
use crate::wire::parse_errno_body;

/// Why an MMI or MPI call failed.
#[derive(Debug)]
pub enum CallError {
    /// A module answered an MMI call with an errno through its host (`500` with body `"<errno>"`), e.g. 22 for an
    /// unknown session or object.
    Module(i32),
    /// The platform answered an MPI call with an errno (`500` with body `"<errno>"`): a module's errno passed on,
    /// or the platform's own (22 for an unknown session, component or object).
    Platform(i32),
    /// The server refused the request body (`400`); also returned, without sending anything, when a payload given
    /// to the client is not valid JSON.
    BadRequest,
    /// The server refused the caller (`403`; only the platform does).
    Forbidden,
    /// The server does not know the endpoint (`404`).
    NotFound,
    /// The request could not be sent or no whole answer came back (the server may have crashed or timed out).
    Transport(ClientError),
    /// The answer was not what the API allows (another status, a 500 without an errno, a bad session id).
    Protocol(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Module(errno) => write!(f, "module returned errno {errno}"),
            CallError::Platform(errno) => write!(f, "platform returned errno {errno}"),
            CallError::BadRequest => f.write_str("the server refused the request as malformed"),
            CallError::Forbidden => f.write_str("the server refused the caller"),
            CallError::NotFound => f.write_str("the server does not serve this endpoint"),
            CallError::Transport(_) => f.write_str("cannot reach the server"),
            CallError::Protocol(what) => write!(f, "unexpected answer: {what}"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Transport(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ClientError> for CallError {
    fn from(e: ClientError) -> Self {
        CallError::Transport(e)
    }
}

/// Maps an answer to `endpoint` to the call's result: the 200 body, or the error the status stands for.
pub fn call_result<E: Endpoint>(endpoint: E, response: ClientResponse) -> Result<Vec<u8>, CallError> {
    route_result(endpoint.route(), E::errno_error, response)
}

/// [`call_result`] for a module host's answer (the name the platform's non-blocking host connection uses).
pub fn mmi_result(endpoint: MmiEndpoint, response: ClientResponse) -> Result<Vec<u8>, CallError> {
    call_result(endpoint, response)
}

/// [`call_result`] for an answer to `route` (which names the call in a [`CallError::Protocol`]), with `errno`
/// making the error of a 500.
pub(crate) fn route_result(
    route: &str,
    errno: fn(i32) -> CallError,
    response: ClientResponse,
) -> Result<Vec<u8>, CallError> {
    match response.status {
        200 => Ok(response.body),
        400 => Err(CallError::BadRequest),
        403 => Err(CallError::Forbidden),
        404 => Err(CallError::NotFound),
        500 => match parse_errno_body(&response.body) {
            Some(n) => Err(errno(n)),
            None => Err(CallError::Protocol(format!(
                "{route} answered 500 without an errno: {:?}",
                String::from_utf8_lossy(&response.body)
            ))),
        },
        other => Err(CallError::Protocol(format!("{route} answered status {other}"))),
    }
}

/// The session id in an `MmiOpen` or `MpiOpen` answer's body (a non-empty JSON string).
pub fn opened_session(answer: &[u8]) -> Result<String, CallError> {
    match serde_json::from_slice::<serde_json::Value>(answer) {
        Ok(serde_json::Value::String(id)) if !id.is_empty() => Ok(id),
        _ => Err(CallError::Protocol(format!(
            "open answered {:?}, not a session id string",
            String::from_utf8_lossy(answer)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mpi::MpiEndpoint;

    fn answer(status: u16, body: &[u8]) -> ClientResponse {
        ClientResponse { status, headers: Vec::new(), body: body.to_vec(), keep_alive: true }
    }

    #[test]
    fn test_call_result_every_status() {
        let get = MmiEndpoint::Get;
        assert_eq!(call_result(get, answer(200, b"\"x\"")).unwrap(), b"\"x\"");
        assert!(matches!(call_result(get, answer(400, b"")), Err(CallError::BadRequest)));
        assert!(matches!(call_result(get, answer(403, b"")), Err(CallError::Forbidden)));
        assert!(matches!(call_result(get, answer(404, b"")), Err(CallError::NotFound)));
        assert!(matches!(call_result(get, answer(500, b"\"22\"")), Err(CallError::Module(22))));
        assert!(matches!(call_result(get, answer(500, b"")), Err(CallError::Protocol(_))));
        match call_result(get, answer(503, b"{}")) {
            Err(CallError::Protocol(what)) => assert_eq!(what, "/MmiGet answered status 503"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_call_result_errno_names_who_answered() {
        assert!(matches!(call_result(MpiEndpoint::Get, answer(500, b"\"22\"")), Err(CallError::Platform(22))));
        assert!(matches!(mmi_result(MmiEndpoint::Set, answer(500, b"\"7\"")), Err(CallError::Module(7))));
        match call_result(MpiEndpoint::SetDesired, answer(500, b"oops")) {
            Err(CallError::Protocol(what)) => assert!(what.starts_with("/MpiSetDesired answered 500"), "{what}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_opened_session_ok_and_errors() {
        assert_eq!(opened_session(br#""S-1""#).unwrap(), "S-1");
        for bad in [&b"\"\""[..], b"1", b"", b"{\"S\":1}"] {
            match opened_session(bad) {
                Err(CallError::Protocol(what)) => assert!(what.contains("not a session id"), "{what}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn test_call_error_display_is_lowercase_and_keeps_the_cause() {
        assert_eq!(CallError::Module(22).to_string(), "module returned errno 22");
        assert_eq!(CallError::Platform(22).to_string(), "platform returned errno 22");
        let gone = CallError::from(ClientError::Closed);
        assert_eq!(gone.to_string(), "cannot reach the server");
        assert!(std::error::Error::source(&gone).is_some());
        assert!(std::error::Error::source(&CallError::NotFound).is_none());
    }
}
