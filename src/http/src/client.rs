//! A blocking client: one request per connection, or many on a kept-alive connection, with limits on what it reads.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::ClientError;
use crate::limits::{Limits, MAX_HEADERS};
use crate::request::Header;

/// How long a client waits for a connection and an answer unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A response as the client received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientResponse {
    /// The status code.
    pub status: u16,
    /// The headers in the order received.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Vec<u8>,
    /// Whether the server keeps the connection open.
    pub keep_alive: bool,
}

impl ClientResponse {
    /// The first header with this name (any case), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| std::str::from_utf8(&h.value).ok())
    }
}

/// A client for one server socket. Keeps its connection open between requests; reconnects when the server closed
/// it. A request is sent again only when a reused connection turned out closed before any byte of the answer came
/// back (the server never saw it).
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    timeout: Duration,
    limits: Limits,
    stream: Option<TimedStream>,
    buf: Vec<u8>,
}

/// A connected stream and the read and write timeouts currently set on it (kept to avoid a system call per read or
/// write).
#[derive(Debug)]
struct TimedStream {
    stream: UnixStream,
    read_timeout: Duration,
    write_timeout: Duration,
}

impl TimedStream {
    fn connect(path: &Path, timeout: Duration, deadline: Instant) -> Result<TimedStream, ClientError> {
        let stream = connect(path, deadline)?;
        let timeout = deadline.saturating_duration_since(Instant::now()).min(timeout);
        if timeout.is_zero() {
            return Err(ClientError::Timeout);
        }
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(TimedStream { stream, read_timeout: timeout, write_timeout: timeout })
    }

    /// Writes all of `bytes` by the deadline (a server that stops reading cannot hold the call past it).
    fn send(&mut self, mut bytes: &[u8], deadline: Instant) -> Result<(), ClientError> {
        while !bytes.is_empty() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ClientError::Timeout);
            }
            if self.write_timeout > remaining || self.write_timeout < remaining.mul_f32(0.9) {
                self.stream.set_write_timeout(Some(remaining))?;
                self.write_timeout = remaining;
            }
            match self.stream.write(bytes) {
                Ok(0) => return Err(ClientError::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ClientError::from(e)),
            }
        }
        Ok(())
    }
}

impl Client {
    /// A client for the server at `path`; connects on the first request.
    pub fn new(path: impl AsRef<Path>) -> Client {
        Client {
            path: path.as_ref().to_path_buf(),
            timeout: DEFAULT_TIMEOUT,
            limits: Limits::default(),
            stream: None,
            buf: Vec::new(),
        }
    }

    /// Sets the time allowed for each whole call: connecting, sending the request and reading the answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// Sets the limits on response heads and bodies.
    pub fn with_limits(mut self, limits: Limits) -> Client {
        self.limits = limits;
        self
    }

    /// Sends a POST with a JSON body and waits for the answer.
    pub fn post(&mut self, path: &str, body: &[u8]) -> Result<ClientResponse, ClientError> {
        self.request("POST", path, body)
    }

    /// Sends a request and waits for the answer.
    pub fn request(&mut self, method: &str, path: &str, body: &[u8]) -> Result<ClientResponse, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let mut wire = Vec::with_capacity(160 + body.len());
        encode_request(method, path, body, false, &mut wire);
        let reused = self.stream.is_some();
        match self.exchange(&wire, deadline) {
            Err(Retry::Yes(_)) if reused => {
                self.stream = None;
                self.exchange(&wire, deadline).map_err(Retry::into_error)
            }
            other => other.map_err(Retry::into_error),
        }
    }

    fn exchange(&mut self, wire: &[u8], deadline: Instant) -> Result<ClientResponse, Retry> {
        if self.stream.is_none() {
            self.stream = Some(TimedStream::connect(&self.path, self.timeout, deadline).map_err(Retry::No)?);
        }
        let stream = self.stream.as_mut().expect("connected above");
        let result = stream
            .send(wire, deadline)
            .map_err(|e| match e {
                // Part of the request may have reached the server: never sent twice.
                ClientError::Timeout => Retry::No(e),
                e => Retry::Yes(e),
            })
            .and_then(|()| read_response(stream, &mut self.buf, &self.limits, deadline));
        match result {
            Ok(response) => {
                if !response.keep_alive {
                    self.stream = None;
                }
                Ok(response)
            }
            Err(e) => {
                self.stream = None;
                self.buf.clear();
                Err(e)
            }
        }
    }
}

/// Whether a failed exchange may be sent again on a fresh connection.
enum Retry {
    Yes(ClientError),
    No(ClientError),
}

impl Retry {
    fn into_error(self) -> ClientError {
        match self {
            Retry::Yes(e) | Retry::No(e) => e,
        }
    }
}

/// Sends one request on a new connection (`Connection: close`) and returns the answer: what the reference client does.
pub fn oneshot(
    socket: impl AsRef<Path>,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<ClientResponse, ClientError> {
    let deadline = Instant::now() + timeout;
    let mut stream = TimedStream::connect(socket.as_ref(), timeout, deadline)?;
    let mut wire = Vec::with_capacity(160 + body.len());
    encode_request(method, path, body, true, &mut wire);
    stream.send(&wire, deadline)?;
    let mut buf = Vec::new();
    read_response(&mut stream, &mut buf, &Limits::default(), deadline).map_err(Retry::into_error)
}

/// Appends a request's bytes to `out`: the reference client's framing, plus `Connection: close` when `close`
/// (what [`Client`] and [`oneshot`] send; for callers that write to their own non-blocking sockets).
pub fn encode_request(method: &str, path: &str, body: &[u8], close: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: OSConfig\r\nUser-Agent: OSConfig\r\nAccept: */*\r\n");
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// Connects within the deadline. A Unix socket whose backlog is full refuses with `EAGAIN` on a non-blocking
/// connect, so connecting is retried until the deadline.
fn connect(path: &Path, deadline: Instant) -> Result<UnixStream, ClientError> {
    let mut pause = Duration::from_micros(200);
    loop {
        match mio::net::UnixStream::connect(path) {
            Ok(stream) => {
                let stream = UnixStream::from(std::os::fd::OwnedFd::from(stream));
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(ClientError::Timeout),
            Err(e) => return Err(ClientError::Io(e)),
        }
    }
}

/// Reads one response (skipping `1xx` interim answers) within the limits and the deadline. `buf` carries bytes
/// read past one response into the next call.
fn read_response(
    stream: &mut TimedStream,
    buf: &mut Vec<u8>,
    limits: &Limits,
    deadline: Instant,
) -> Result<ClientResponse, Retry> {
    let mut received_any = !buf.is_empty();
    loop {
        let parsed = parse_response_head(buf, limits).map_err(Retry::No)?;
        if let Some((status, headers, head_len, content_length, keep_alive)) = parsed {
            if (100..200).contains(&status) {
                buf.drain(..head_len);
                continue;
            }
            let body = match content_length {
                Some(len) => {
                    while buf.len() < head_len + len {
                        fill(stream, buf, deadline).map_err(Retry::No)?.ok_or(Retry::No(ClientError::Closed))?;
                    }
                    let body = buf[head_len..head_len + len].to_vec();
                    buf.drain(..head_len + len);
                    body
                }
                None => {
                    while fill(stream, buf, deadline).map_err(Retry::No)?.is_some() {
                        if buf.len() - head_len > limits.max_body_bytes {
                            return Err(Retry::No(ClientError::TooLarge));
                        }
                    }
                    let body = buf[head_len..].to_vec();
                    buf.clear();
                    return Ok(ClientResponse { status, headers, body, keep_alive: false });
                }
            };
            return Ok(ClientResponse { status, headers, body, keep_alive });
        }
        match fill(stream, buf, deadline) {
            Ok(Some(_)) => received_any = true,
            Ok(None) if received_any => return Err(Retry::No(ClientError::Closed)),
            Ok(None) => return Err(Retry::Yes(ClientError::Closed)),
            Err(ClientError::Io(e)) if !received_any && e.kind() == io::ErrorKind::ConnectionReset => {
                return Err(Retry::Yes(ClientError::Io(e)))
            }
            Err(e) => return Err(Retry::No(e)),
        }
    }
}

type Head = (u16, Vec<Header>, usize, Option<usize>, bool);

/// One whole response at the start of `buf`, for callers that read from their own non-blocking sockets:
/// `Ok(Some((response, consumed)))` when it is all there (`1xx` interim answers before it are skipped and counted in
/// `consumed`), `Ok(None)` when more bytes are needed, an error when what is there breaks `limits` or is not an
/// HTTP response. A response without `Content-Length` (its body ends with the connection) is an error here:
/// the servers of this crate always send it.
pub fn parse_response(buf: &[u8], limits: &Limits) -> Result<Option<(ClientResponse, usize)>, ClientError> {
    let mut at = 0;
    loop {
        let Some((status, headers, head_len, content_length, keep_alive)) = parse_response_head(&buf[at..], limits)?
        else {
            return Ok(None);
        };
        if (100..200).contains(&status) {
            at += head_len;
            continue;
        }
        let len = content_length.ok_or(ClientError::Malformed("no content-length"))?;
        let end = at + head_len + len;
        if buf.len() < end {
            return Ok(None);
        }
        let body = buf[at + head_len..end].to_vec();
        return Ok(Some((ClientResponse { status, headers, body, keep_alive }, end)));
    }
}

fn parse_response_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, ClientError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut slots);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_head_bytes {
                return Err(ClientError::TooLarge);
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => return Err(ClientError::TooLarge),
        Err(_) => return Err(ClientError::Malformed("invalid response head")),
    };
    if head_len > limits.max_head_bytes {
        return Err(ClientError::TooLarge);
    }
    let status = parsed.code.ok_or(ClientError::Malformed("no status code"))?;
    let mut keep_alive = parsed.version == Some(1);
    let mut content_length = None;
    let mut headers = Vec::with_capacity(parsed.headers.len());
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).map_err(|_| ClientError::Malformed("content-length"))?;
            // Parsed as u64 so that a length beyond a 32-bit usize is "too large", not "malformed".
            let len: u64 = text.trim().parse().map_err(|_| ClientError::Malformed("content-length"))?;
            match usize::try_from(len) {
                Ok(len) if len <= limits.max_body_bytes => content_length = Some(len),
                _ => return Err(ClientError::TooLarge),
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ClientError::Malformed("transfer-encoding is not supported"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            keep_alive = !header.value.eq_ignore_ascii_case(b"close");
        }
        headers.push(Header { name: header.name.to_string(), value: header.value.to_vec() });
    }
    if (100..200).contains(&status) || status == 204 || status == 304 {
        content_length = Some(0);
    }
    Ok(Some((status, headers, head_len, content_length, keep_alive)))
}

/// Reads more bytes into `buf`: `Some(n)`, or `None` at end of stream.
/// The socket's read timeout is changed only when it is longer than the time left or shorter than 90% of it, so the
/// usual answer costs no extra system call and a deadline is overshot by at most a tenth.
fn fill(stream: &mut TimedStream, buf: &mut Vec<u8>, deadline: Instant) -> Result<Option<usize>, ClientError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(ClientError::Timeout);
    }
    if stream.read_timeout > remaining || stream.read_timeout < remaining.mul_f32(0.9) {
        stream.stream.set_read_timeout(Some(remaining))?;
        stream.read_timeout = remaining;
    }
    let mut chunk = [0u8; 4096];
    loop {
        match stream.stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(Some(n));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ClientError::from(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_encode_request_matches_reference_framing() {
        let mut out = Vec::new();
        encode_request("POST", "/MpiOpen/", b"{}", false, &mut out);
        assert_eq!(
            out,
            b"POST /MpiOpen/ HTTP/1.1\r\nHost: OSConfig\r\nUser-Agent: OSConfig\r\nAccept: */*\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn test_parse_response_whole_partial_interim_and_without_length() {
        let limits = Limits::default();
        let two = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\"a\"HTTP/1.1 500 X\r\n";
        let (first, used) = parse_response(two, &limits).unwrap().unwrap();
        assert_eq!((first.status, first.body.as_slice(), first.keep_alive), (200, &b"\"a\""[..], true));
        assert_eq!(&two[used..], b"HTTP/1.1 500 X\r\n");
        assert!(parse_response(&two[used..], &limits).unwrap().is_none(), "a head still coming");
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\"a";
        assert!(parse_response(short, &limits).unwrap().is_none(), "a body still coming");
        let endless = b"HTTP/1.1 200 OK\r\n\r\nabc";
        assert!(matches!(parse_response(endless, &limits), Err(ClientError::Malformed(_))));
        let closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse_response(closing, &limits).unwrap().unwrap().0.keep_alive);
    }

    #[test]
    fn test_parse_response_head_limits() {
        let limits = Limits::default().with_max_body_bytes(10);
        let big = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";
        assert!(matches!(parse_response_head(big, &limits), Err(ClientError::TooLarge)));
        let endless = vec![b'a'; limits.max_head_bytes + 1];
        assert!(matches!(
            parse_response_head(&endless, &limits),
            Err(ClientError::TooLarge) | Err(ClientError::Malformed(_))
        ));
        let garbage = b"NOT HTTP\r\n\r\n";
        assert!(matches!(parse_response_head(garbage, &limits), Err(ClientError::Malformed(_))));
    }

    #[test]
    fn test_read_response_split_and_pipelined() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut a =
            TimedStream { stream: a, read_timeout: Duration::from_secs(2), write_timeout: Duration::from_secs(2) };
        let deadline = Instant::now() + Duration::from_secs(2);
        b.write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\"a\"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\n\"22\"").unwrap();
        let mut buf = Vec::new();
        let first = read_response(&mut a, &mut buf, &Limits::default(), deadline).map_err(Retry::into_error).unwrap();
        assert_eq!((first.status, first.body.as_slice()), (200, &b"\"a\""[..]));
        let second = read_response(&mut a, &mut buf, &Limits::default(), deadline).map_err(Retry::into_error).unwrap();
        assert_eq!((second.status, second.body.as_slice()), (500, &b"\"22\""[..]));
    }

    #[test]
    fn test_read_response_timeout() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut a =
            TimedStream { stream: a, read_timeout: Duration::from_secs(30), write_timeout: Duration::from_secs(30) };
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut buf = Vec::new();
        let err = read_response(&mut a, &mut buf, &Limits::default(), deadline).map_err(Retry::into_error).unwrap_err();
        assert!(matches!(err, ClientError::Timeout), "{err:?}");
    }

    #[test]
    fn test_send_times_out_when_the_peer_never_reads() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut a =
            TimedStream { stream: a, read_timeout: Duration::from_secs(30), write_timeout: Duration::from_secs(30) };
        let started = Instant::now();
        let err = a.send(&vec![b'x'; 8 * 1024 * 1024], started + Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, ClientError::Timeout), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[test]
    fn test_connect_missing_socket_is_io_error() {
        let err =
            connect(Path::new("/nonexistent/osconfig.sock"), Instant::now() + Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, ClientError::Io(_)));
    }
}
