//! Incremental request parsing: bytes go in as they arrive, whole requests come out.
//!
//! The parser keeps partial input in its buffer, so a request split at any byte boundary parses the same as one that
//! arrives whole, and several pipelined requests in one read come out one by one, in order.

use crate::error::RequestError;
use crate::limits::Limits;
use crate::peer::PeerCred;
use crate::request::{Header, Method, Request};

/// Headers are parsed into a stack array when the limit allows it.
const STACK_HEADERS: usize = 64;
/// Consumed bytes are dropped from the front of the buffer once there are this many.
const COMPACT_BYTES: usize = 64 * 1024;

/// A request head that has been parsed while its body is still arriving.
#[derive(Debug)]
struct Head {
    method: Method,
    path: String,
    headers: Vec<Header>,
    keep_alive: bool,
    body_len: usize,
    expect_continue: bool,
}

#[derive(Debug)]
enum State {
    /// Waiting for the end of a head; `scanned` bytes after `start` held no blank line.
    ReadingHead { scanned: usize },
    /// The head is parsed; waiting for `head.body_len` bytes.
    ReadingBody { head: Head },
    /// A request was bad; nothing more is parsed from this connection.
    Failed(RequestError),
}

/// Turns a byte stream into requests, within [`Limits`].
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    buf: Vec<u8>,
    start: usize,
    state: State,
    send_continue: bool,
}

impl RequestParser {
    /// A parser with these limits.
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser {
            limits,
            buf: Vec::new(),
            start: 0,
            state: State::ReadingHead { scanned: 0 },
            send_continue: false,
        }
    }

    /// Adds bytes read from the client. While a body arrives the buffer grows by doubling but never past the end
    /// of that request, so a large body costs its own size, not up to twice that.
    pub fn push(&mut self, bytes: &[u8]) {
        let needed = self.buf.len() + bytes.len();
        if needed > self.buf.capacity() {
            let mut target = needed.max(self.buf.capacity() * 2);
            if let State::ReadingBody { head } = &self.state {
                target = target.min((self.start + head.body_len).max(needed));
            }
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received and not yet parsed into a request.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Bytes of memory the buffer holds (its capacity).
    pub fn buffered_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Gives the buffer back to the allocator when nothing is pending and it holds more than `keep` bytes.
    pub fn release(&mut self, keep: usize) {
        if self.start == self.buf.len() && self.buf.capacity() > keep {
            self.buf = Vec::new();
            self.start = 0;
        }
    }

    /// Whether part of a request is buffered (the read timeout runs while this is true).
    pub fn in_request(&self) -> bool {
        self.start < self.buf.len() || matches!(self.state, State::ReadingBody { .. })
    }

    /// True once after a head that asked for `100 Continue` while its body is still missing.
    pub fn take_continue(&mut self) -> bool {
        std::mem::take(&mut self.send_continue)
    }

    /// The next whole request, `Ok(None)` when more bytes are needed, or the error that ends the connection
    /// (returned again on every later call).
    pub fn next_request(&mut self) -> Result<Option<Request>, RequestError> {
        loop {
            match &mut self.state {
                State::Failed(error) => return Err(error.clone()),
                State::ReadingHead { scanned } => {
                    let available = &self.buf[self.start..];
                    let from = scanned.saturating_sub(3);
                    if !has_blank_line(&available[from..]) {
                        *scanned = available.len();
                        if available.len() > self.limits.max_head_bytes {
                            return Err(self.fail(RequestError::HeadTooLarge));
                        }
                        return Ok(None);
                    }
                    match parse_head(available, &self.limits) {
                        Ok(Some((head, head_len))) => {
                            self.start += head_len;
                            self.send_continue = head.expect_continue && self.buf.len() - self.start < head.body_len;
                            self.state = State::ReadingBody { head };
                        }
                        Ok(None) => {
                            // A blank line was seen but httparse wants more: only possible with stray bytes;
                            // keep waiting within the head limit.
                            *scanned = available.len();
                            if available.len() > self.limits.max_head_bytes {
                                return Err(self.fail(RequestError::HeadTooLarge));
                            }
                            return Ok(None);
                        }
                        Err(error) => return Err(self.fail(error)),
                    }
                }
                State::ReadingBody { head } => {
                    if self.buf.len() - self.start < head.body_len {
                        return Ok(None);
                    }
                    let body = self.buf[self.start..self.start + head.body_len].to_vec();
                    self.start += head.body_len;
                    let State::ReadingBody { head } =
                        std::mem::replace(&mut self.state, State::ReadingHead { scanned: 0 })
                    else {
                        unreachable!("state checked above");
                    };
                    self.compact();
                    return Ok(Some(Request {
                        method: head.method,
                        path: head.path,
                        headers: head.headers,
                        body,
                        peer: PeerCred::default(),
                        keep_alive: head.keep_alive,
                    }));
                }
            }
        }
    }

    fn fail(&mut self, error: RequestError) -> RequestError {
        self.state = State::Failed(error.clone());
        self.buf = Vec::new();
        self.start = 0;
        error
    }

    fn compact(&mut self) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= COMPACT_BYTES {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

fn has_blank_line(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w == b"\n\n") || bytes.windows(3).any(|w| w == b"\n\r\n")
}

/// Parses one head from the front of `bytes`: the head and its length, or `None` when incomplete.
fn parse_head(bytes: &[u8], limits: &Limits) -> Result<Option<(Head, usize)>, RequestError> {
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap;
    let slots: &mut [httparse::Header<'_>] = if limits.max_headers <= STACK_HEADERS {
        &mut stack[..limits.max_headers]
    } else {
        heap = vec![httparse::EMPTY_HEADER; limits.max_headers];
        &mut heap
    };
    let mut parsed = httparse::Request::new(slots);
    let head_len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::TooManyHeaders),
        Err(error) => return Err(RequestError::Malformed(describe(error))),
    };
    if head_len > limits.max_head_bytes {
        return Err(RequestError::HeadTooLarge);
    }
    let method = Method::from_token(parsed.method.unwrap_or_default());
    let path = parsed.path.unwrap_or_default().to_string();
    let http11 = parsed.version == Some(1);

    let mut content_length: Option<usize> = None;
    let mut connection_close = !http11;
    let mut expect_continue = false;
    let mut headers = Vec::with_capacity(parsed.headers.len());
    for header in parsed.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(RequestError::TransferEncoding);
        } else if name.eq_ignore_ascii_case("content-length") {
            let length = parse_content_length(header.value)?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(RequestError::BadContentLength);
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = trim_ascii(token);
                if token.eq_ignore_ascii_case(b"close") {
                    connection_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    connection_close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") && trim_ascii(header.value).eq_ignore_ascii_case(b"100-continue")
        {
            expect_continue = true;
        }
        headers.push(Header { name: name.to_string(), value: header.value.to_vec() });
    }
    let body_len = match content_length {
        Some(length) => length,
        None if method.needs_length() => return Err(RequestError::LengthRequired),
        None => 0,
    };
    if body_len > limits.max_body_bytes {
        return Err(RequestError::BodyTooLarge);
    }
    let head = Head { method, path, headers, keep_alive: !connection_close, body_len, expect_continue };
    Ok(Some((head, head_len)))
}

/// `bytes` without leading and trailing ASCII white space (`<[u8]>::trim_ascii` is Rust 1.80; we build with 1.75).
fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn parse_content_length(value: &[u8]) -> Result<usize, RequestError> {
    let digits = trim_ascii(value);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(RequestError::BadContentLength);
    }
    // 18 digits always fit in a u64; on a 32-bit target a length beyond usize saturates, so the body limit
    // refuses it (413) instead of a wrapped length being believed.
    let n = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

fn describe(error: httparse::Error) -> &'static str {
    match error {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "unsupported http version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact bytes the reference client sends (spec section 3).
    const REFERENCE_OPEN: &[u8] = b"POST /MpiOpen/ HTTP/1.1\r\nHost: OSConfig\r\nUser-Agent: OSConfig\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: 55\r\n\r\n{\"ClientName\":\"Azure OSConfig\",\"MaxPayloadSizeBytes\":0}";

    fn parse_all(bytes: &[u8], limits: Limits) -> Result<Vec<Request>, RequestError> {
        let mut parser = RequestParser::new(limits);
        parser.push(bytes);
        let mut out = Vec::new();
        while let Some(request) = parser.next_request()? {
            out.push(request);
        }
        Ok(out)
    }

    #[test]
    fn test_release_gives_back_a_big_buffer_once_the_request_is_out() {
        let mut parser = RequestParser::new(Limits::default());
        let body = vec![b'x'; 1024 * 1024];
        parser.push(format!("POST /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
        assert!(parser.next_request().unwrap().is_none());
        for piece in body.chunks(16 * 1024) {
            parser.push(piece);
        }
        assert!(
            parser.buffered_bytes() < body.len() + 1024,
            "grown to the request, not double: {}",
            parser.buffered_bytes()
        );
        assert_eq!(parser.next_request().unwrap().unwrap().body.len(), body.len());
        parser.release(16 * 1024);
        assert_eq!(parser.buffered_bytes(), 0, "the big buffer is given back");
        assert_eq!(parser.pending_bytes(), 0);
    }

    #[test]
    fn test_next_request_reference_client_bytes() {
        let requests = parse_all(REFERENCE_OPEN, Limits::default()).unwrap();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.path, "/MpiOpen/");
        assert_eq!(request.route(), "/MpiOpen");
        assert_eq!(request.body, br#"{"ClientName":"Azure OSConfig","MaxPayloadSizeBytes":0}"#.to_vec());
        assert_eq!(request.header("host"), Some("OSConfig"));
        assert!(request.keep_alive);
    }

    #[test]
    fn test_next_request_every_byte_boundary() {
        for split in 0..=REFERENCE_OPEN.len() {
            let mut parser = RequestParser::new(Limits::default());
            parser.push(&REFERENCE_OPEN[..split]);
            let first = parser.next_request().unwrap();
            parser.push(&REFERENCE_OPEN[split..]);
            let request = match first {
                Some(request) => {
                    assert_eq!(split, REFERENCE_OPEN.len(), "complete before all bytes at {split}");
                    request
                }
                None => parser.next_request().unwrap().expect("complete after all bytes"),
            };
            assert_eq!(request.body.len(), 55, "split at {split}");
            assert!(parser.next_request().unwrap().is_none());
        }
    }

    #[test]
    fn test_next_request_byte_by_byte() {
        let mut parser = RequestParser::new(Limits::default());
        let mut got = Vec::new();
        for byte in REFERENCE_OPEN.iter().chain(REFERENCE_OPEN.iter()) {
            parser.push(std::slice::from_ref(byte));
            while let Some(request) = parser.next_request().unwrap() {
                got.push(request);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], got[1]);
    }

    #[test]
    fn test_next_request_pipelined_in_order() {
        let mut bytes = Vec::new();
        for name in ["MpiOpen", "MpiGet", "MpiClose"] {
            bytes.extend_from_slice(format!("POST /{name}/ HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}").as_bytes());
        }
        bytes.extend_from_slice(b"GET /MpiGetReported HTTP/1.1\r\n\r\n");
        let requests = parse_all(&bytes, Limits::default()).unwrap();
        let paths: Vec<_> = requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/MpiOpen/", "/MpiGet/", "/MpiClose/", "/MpiGetReported"]);
    }

    #[test]
    fn test_next_request_head_too_large() {
        let limits = Limits::default().with_max_head_bytes(128);
        let mut bytes = b"POST / HTTP/1.1\r\nX-Pad: ".to_vec();
        bytes.extend(std::iter::repeat_n(b'a', 200));
        assert_eq!(parse_all(&bytes, limits).unwrap_err(), RequestError::HeadTooLarge);
        bytes.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(parse_all(&bytes, limits).unwrap_err(), RequestError::HeadTooLarge);
    }

    #[test]
    fn test_next_request_too_many_headers() {
        let limits = Limits::default().with_max_headers(4);
        let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..5 {
            bytes.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&bytes, limits).unwrap_err(), RequestError::TooManyHeaders);
        let within = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        assert_eq!(parse_all(within, limits).unwrap().len(), 1);
    }

    #[test]
    fn test_next_request_many_headers_beyond_stack() {
        let limits = Limits::default().with_max_headers(100);
        let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..80 {
            bytes.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&bytes, limits).unwrap()[0].headers.len(), 80);
    }

    #[test]
    fn test_next_request_bad_content_length() {
        for value in ["abc", "-1", "", "1 2", "99999999999999999999", "+5", "0x10"] {
            let bytes = format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n");
            assert_eq!(
                parse_all(bytes.as_bytes(), Limits::default()).unwrap_err(),
                RequestError::BadContentLength,
                "{value:?}"
            );
        }
        let twice = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
        assert_eq!(parse_all(twice, Limits::default()).unwrap_err(), RequestError::BadContentLength);
        // Beyond 32 bits (the body limit refuses it on every target; on armv7 it once wrapped to 10).
        let huge = b"POST / HTTP/1.1\r\nContent-Length: 4294967306\r\n\r\n0123456789";
        assert!(matches!(parse_all(huge, Limits::default()).unwrap_err(), RequestError::BodyTooLarge));
        let same_twice = b"POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab";
        assert_eq!(parse_all(same_twice, Limits::default()).unwrap()[0].body, b"ab");
    }

    #[test]
    fn test_next_request_length_required_for_post() {
        let bytes = b"POST /MpiOpen/ HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(parse_all(bytes, Limits::default()).unwrap_err(), RequestError::LengthRequired);
        let get = b"GET /MpiGetReported/ HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(parse_all(get, Limits::default()).unwrap()[0].body, b"");
    }

    #[test]
    fn test_next_request_body_too_large() {
        let limits = Limits::default().with_max_body_bytes(10);
        let bytes = b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
        assert_eq!(parse_all(bytes, limits).unwrap_err(), RequestError::BodyTooLarge);
        let fits = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
        assert_eq!(parse_all(fits, limits).unwrap().len(), 1);
    }

    #[test]
    fn test_next_request_transfer_encoding_not_implemented() {
        let bytes = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert_eq!(parse_all(bytes, Limits::default()).unwrap_err(), RequestError::TransferEncoding);
    }

    #[test]
    fn test_next_request_malformed() {
        for bytes in
            [&b"\x00\x01\x02 garbage\r\n\r\n"[..], b"GET / HTTP/2.0\r\n\r\n", b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"]
        {
            assert!(
                matches!(parse_all(bytes, Limits::default()), Err(RequestError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn test_next_request_error_is_sticky() {
        let mut parser = RequestParser::new(Limits::default());
        parser.push(b"POST / HTTP/1.1\r\n\r\n");
        assert_eq!(parser.next_request().unwrap_err(), RequestError::LengthRequired);
        parser.push(REFERENCE_OPEN);
        assert_eq!(parser.next_request().unwrap_err(), RequestError::LengthRequired);
    }

    #[test]
    fn test_next_request_keep_alive_rules() {
        let close = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
        assert!(!parse_all(close, Limits::default()).unwrap()[0].keep_alive);
        let http10 = b"GET / HTTP/1.0\r\n\r\n";
        assert!(!parse_all(http10, Limits::default()).unwrap()[0].keep_alive);
        let http10_keep = b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
        assert!(parse_all(http10_keep, Limits::default()).unwrap()[0].keep_alive);
    }

    #[test]
    fn test_take_continue_once_when_body_missing() {
        let mut parser = RequestParser::new(Limits::default());
        parser.push(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
        assert!(parser.next_request().unwrap().is_none());
        assert!(parser.take_continue());
        assert!(!parser.take_continue());
        parser.push(b"{}");
        assert_eq!(parser.next_request().unwrap().unwrap().body, b"{}");
    }

    #[test]
    fn test_in_request_tracks_partial_input() {
        let mut parser = RequestParser::new(Limits::default());
        assert!(!parser.in_request());
        parser.push(&REFERENCE_OPEN[..10]);
        assert!(parser.next_request().unwrap().is_none());
        assert!(parser.in_request());
        parser.push(&REFERENCE_OPEN[10..]);
        assert!(parser.next_request().unwrap().is_some());
        assert!(!parser.in_request());
    }
}
