//! The errors of this crate, and the one place a request error becomes an HTTP answer.

use std::fmt;
use std::io;

use crate::response::{Response, StatusCode};

/// Why a request could not be read. Every variant maps to one status code in [`RequestError::status`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The head is not valid HTTP/1.x (400); the text says what is wrong.
    Malformed(&'static str),
    /// `Content-Length` is not a single decimal number (400).
    BadContentLength,
    /// The head is longer than the limit (431).
    HeadTooLarge,
    /// More headers than the limit (431).
    TooManyHeaders,
    /// A POST or PUT without `Content-Length` (411).
    LengthRequired,
    /// The body is longer than the limit (413).
    BodyTooLarge,
    /// `Transfer-Encoding` is not supported (501).
    TransferEncoding,
    /// The client took longer than the read timeout to send its request (408).
    Timeout,
}

impl RequestError {
    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::Malformed(_) | RequestError::BadContentLength => StatusCode::BadRequest,
            RequestError::HeadTooLarge | RequestError::TooManyHeaders => StatusCode::HeaderFieldsTooLarge,
            RequestError::LengthRequired => StatusCode::LengthRequired,
            RequestError::BodyTooLarge => StatusCode::PayloadTooLarge,
            RequestError::TransferEncoding => StatusCode::NotImplemented,
            RequestError::Timeout => StatusCode::RequestTimeout,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Malformed(what) => write!(f, "malformed request: {what}"),
            RequestError::BadContentLength => f.write_str("invalid content-length"),
            RequestError::HeadTooLarge => f.write_str("request head too large"),
            RequestError::TooManyHeaders => f.write_str("too many headers"),
            RequestError::LengthRequired => f.write_str("content-length required"),
            RequestError::BodyTooLarge => f.write_str("request body too large"),
            RequestError::TransferEncoding => f.write_str("transfer-encoding not supported"),
            RequestError::Timeout => f.write_str("request timed out"),
        }
    }
}

impl std::error::Error for RequestError {}

impl From<&RequestError> for Response {
    /// The answer to a request that could not be read: its status, a small JSON body naming the error, and the
    /// connection closes after it.
    fn from(error: &RequestError) -> Response {
        let body = format!("{{\"error\":\"{error}\"}}");
        Response::new(error.status()).with_body(body.into_bytes()).closing()
    }
}

/// Why a client call failed.
#[derive(Debug)]
pub enum ClientError {
    /// Connecting, sending or receiving failed (the cause is the source).
    Io(io::Error),
    /// The server did not answer within the timeout.
    Timeout,
    /// The server closed the connection before a whole response arrived.
    Closed,
    /// The response is not valid HTTP/1.x; the text says what is wrong.
    Malformed(&'static str),
    /// The response head or body is larger than the client's limits.
    TooLarge,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(_) => f.write_str("socket i/o failed"),
            ClientError::Timeout => f.write_str("server did not answer in time"),
            ClientError::Closed => f.write_str("server closed the connection before answering"),
            ClientError::Malformed(what) => write!(f, "malformed response: {what}"),
            ClientError::TooLarge => f.write_str("response larger than the client's limits"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout,
            _ => ClientError::Io(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_status_maps_every_error() {
        assert_eq!(RequestError::Malformed("x").status().code(), 400);
        assert_eq!(RequestError::BadContentLength.status().code(), 400);
        assert_eq!(RequestError::HeadTooLarge.status().code(), 431);
        assert_eq!(RequestError::TooManyHeaders.status().code(), 431);
        assert_eq!(RequestError::LengthRequired.status().code(), 411);
        assert_eq!(RequestError::BodyTooLarge.status().code(), 413);
        assert_eq!(RequestError::TransferEncoding.status().code(), 501);
        assert_eq!(RequestError::Timeout.status().code(), 408);
    }

    #[test]
    fn test_response_from_error_is_small_json_and_closes() {
        let response = Response::from(&RequestError::BodyTooLarge);
        assert_eq!(response.status(), StatusCode::PayloadTooLarge);
        assert_eq!(response.body(), br#"{"error":"request body too large"}"#);
        assert!(response.closes());
    }

    #[test]
    fn test_client_error_from_timeout() {
        let e = ClientError::from(io::Error::from(io::ErrorKind::WouldBlock));
        assert!(matches!(e, ClientError::Timeout));
    }
}
