//! Responses: built as values, written with their `Content-Length` set by the writer.

use std::io::{self, Write};

/// The status codes this crate sends, each with its reason phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusCode {
    /// 100 Continue (interim answer to `Expect: 100-continue`).
    Continue,
    /// 200 OK
    Ok,
    /// 400 Bad Request
    BadRequest,
    /// 403 Forbidden
    Forbidden,
    /// 404 Not Found
    NotFound,
    /// 405 Method Not Allowed
    MethodNotAllowed,
    /// 408 Request Timeout
    RequestTimeout,
    /// 411 Length Required
    LengthRequired,
    /// 413 Payload Too Large
    PayloadTooLarge,
    /// 431 Request Header Fields Too Large
    HeaderFieldsTooLarge,
    /// 500 Internal Server Error
    InternalServerError,
    /// 501 Not Implemented
    NotImplemented,
    /// 503 Service Unavailable
    ServiceUnavailable,
}

impl StatusCode {
    /// The three-digit code.
    pub fn code(self) -> u16 {
        match self {
            StatusCode::Continue => 100,
            StatusCode::Ok => 200,
            StatusCode::BadRequest => 400,
            StatusCode::Forbidden => 403,
            StatusCode::NotFound => 404,
            StatusCode::MethodNotAllowed => 405,
            StatusCode::RequestTimeout => 408,
            StatusCode::LengthRequired => 411,
            StatusCode::PayloadTooLarge => 413,
            StatusCode::HeaderFieldsTooLarge => 431,
            StatusCode::InternalServerError => 500,
            StatusCode::NotImplemented => 501,
            StatusCode::ServiceUnavailable => 503,
        }
    }

    /// The reason phrase (the reference client's spelling for 200, 400, 404 and 500).
    pub fn reason(self) -> &'static str {
        match self {
            StatusCode::Continue => "Continue",
            StatusCode::Ok => "OK",
            StatusCode::BadRequest => "Bad Request",
            StatusCode::Forbidden => "Forbidden",
            StatusCode::NotFound => "Not Found",
            StatusCode::MethodNotAllowed => "Method Not Allowed",
            StatusCode::RequestTimeout => "Request Timeout",
            StatusCode::LengthRequired => "Length Required",
            StatusCode::PayloadTooLarge => "Payload Too Large",
            StatusCode::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            StatusCode::InternalServerError => "Internal Server Error",
            StatusCode::NotImplemented => "Not Implemented",
            StatusCode::ServiceUnavailable => "Service Unavailable",
        }
    }
}

/// A response: status, JSON body, and whether the connection closes after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: StatusCode,
    body: Vec<u8>,
    close: bool,
}

impl Response {
    /// An empty response with this status.
    pub fn new(status: StatusCode) -> Response {
        Response { status, body: Vec::new(), close: false }
    }

    /// 200 with this JSON body.
    pub fn ok(body: impl Into<Vec<u8>>) -> Response {
        Response::new(StatusCode::Ok).with_body(body)
    }

    /// Replaces the body (JSON text).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// Marks the connection to close once this response is written.
    pub fn closing(mut self) -> Response {
        self.close = true;
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Whether the connection closes after this response.
    pub fn closes(&self) -> bool {
        self.close
    }

    /// Appends the wire form to `out`: status line, `Server` (when given), `Content-Type: application/json`,
    /// `Content-Length` (always, spelled exactly so), `Connection: close` when `close`, a blank line, the body.
    pub fn encode(&self, server: Option<&str>, close: bool, out: &mut Vec<u8>) {
        out.reserve(96 + self.body.len());
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(self.status.code()));
        out.push(b' ');
        out.extend_from_slice(self.status.reason().as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(server) = server {
            out.extend_from_slice(b"Server: ");
            out.extend_from_slice(server.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
        push_decimal(out, self.body.len() as u64);
        out.extend_from_slice(b"\r\n");
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
    }

    /// Writes the wire form to `writer` (see [`Response::encode`]).
    pub fn write_to<W: Write>(&self, server: Option<&str>, writer: &mut W) -> io::Result<()> {
        let mut out = Vec::new();
        self.encode(server, self.close, &mut out);
        writer.write_all(&out)
    }
}

/// The interim `100 Continue` line sent when a client waits for it before its body.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The canned answer to a connection over the limit, written without any per-connection state.
pub(crate) fn overloaded(server: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    Response::new(StatusCode::ServiceUnavailable)
        .with_body(&b"{\"error\":\"too many connections\"}"[..])
        .encode(server, true, &mut out);
    out
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_encode_mpi_success_bytes() {
        let mut out = Vec::new();
        Response::ok(&b"\"F835511C-92A1-B162-49D1-3E550BDF3159\""[..]).encode(Some("OSConfig"), false, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nServer: OSConfig\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n\"F835511C-92A1-B162-49D1-3E550BDF3159\""
        );
    }

    #[test]
    fn test_encode_empty_body_has_zero_length() {
        let mut out = Vec::new();
        Response::new(StatusCode::NotFound).encode(None, false, &mut out);
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n");
    }

    #[test]
    fn test_encode_close_adds_connection_header() {
        let mut out = Vec::new();
        Response::new(StatusCode::InternalServerError).with_body(&b"\"22\""[..]).encode(
            Some("OSConfig"),
            true,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
        assert!(text.contains("Content-Length: 4\r\nConnection: close\r\n\r\n\"22\""));
    }

    #[test]
    fn test_push_decimal_edges() {
        for n in [0u64, 7, 10, 4_194_304, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn test_overloaded_is_503_and_closes() {
        let text = String::from_utf8(overloaded(Some("OSConfig"))).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\nServer: OSConfig\r\n"));
        assert!(text.contains("Connection: close"));
    }
}
