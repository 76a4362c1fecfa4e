//! A module host's kept-alive connection, non-blocking: one MMI request at a time is written to it and its answer
//! read as the socket becomes readable. The socket is registered in a `mio` poll (the MPI loop's, or the
//! manager's own for its blocking calls) under the module's token for as long as the connection lives; closing it
//! (dropping the [`HostConn`]) takes it out.

use std::io::{self, Read, Write};
use std::path::Path;

use mio::net::UnixStream;
use mio::{Interest, Registry, Token};
use osconfig_http::{ClientError, ClientResponse, Limits};
use osconfig_rest::{Endpoint, MmiEndpoint};

/// Bytes a read asks for at once, into a buffer on the stack (answers are usually far smaller; a bigger one takes
/// several reads). Nothing is kept per connection between answers but what was read past one.
const READ_CHUNK: usize = 4096;

/// Where an exchange stands after some progress.
#[derive(Debug)]
pub(crate) enum Exchange {
    /// The answer is not all there yet.
    Pending,
    /// The whole answer.
    Answer(ClientResponse),
    /// The exchange failed. `resend`: the connection had served an earlier exchange and closed before a byte of
    /// this answer came (the host closed it while idle, never having seen this request): the request may be sent
    /// again on a new connection.
    Failed { error: ClientError, resend: bool },
}

/// The connection.
#[derive(Debug)]
pub(crate) struct HostConn {
    stream: UnixStream,
    token: Token,
    /// The request, kept until its answer came (to send it again, see [`Exchange::Failed`]).
    request: Vec<u8>,
    /// Bytes of `request` written so far.
    written: usize,
    /// Bytes read and not yet taken as an answer.
    input: Vec<u8>,
    /// Whether the socket is registered for writability too (a request only partly written).
    wants_write: bool,
    /// Whether an earlier exchange completed on this connection.
    reused: bool,
}

impl HostConn {
    /// Connects to `socket` without blocking and registers the connection for readability under `token`. A host
    /// that is not listening yet fails with `ConnectionRefused` or `NotFound`; a full backlog with `WouldBlock`.
    pub(crate) fn connect(socket: &Path, registry: &Registry, token: Token) -> io::Result<HostConn> {
        let mut stream = UnixStream::connect(socket)?;
        registry.register(&mut stream, token, Interest::READABLE)?;
        Ok(HostConn {
            stream,
            token,
            request: Vec::new(),
            written: 0,
            input: Vec::new(),
            wants_write: false,
            reused: false,
        })
    }

    /// Starts an exchange: `POST <endpoint>` with `body`, written as far as the socket takes it now.
    pub(crate) fn send(&mut self, registry: &Registry, endpoint: MmiEndpoint, body: &[u8]) -> Exchange {
        self.request.clear();
        osconfig_http::encode_request("POST", endpoint.path(), body, false, &mut self.request);
        self.written = 0;
        self.start(registry)
    }

    /// Writes what is left of the request, reads what has come, and says where the exchange stands. Call it on
    /// every event of the connection's token.
    pub(crate) fn progress(&mut self, registry: &Registry) -> Exchange {
        if let Err(error) = self.flush(registry) {
            return self.fail(error);
        }
        let mut closed = false;
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            // An answer that is all there is taken without another read: the usual answer costs one read.
            match osconfig_http::parse_response(&self.input, &Limits::default()) {
                Ok(Some((response, used))) => {
                    self.input.drain(..used);
                    self.reused = true;
                    return Exchange::Answer(response);
                }
                Ok(None) if closed => return self.fail(ClientError::Closed),
                Ok(None) => {}
                Err(error) => return Exchange::Failed { error, resend: false },
            }
            // Not all there: read until the socket is empty, so that an end of stream that came with the last
            // bytes is seen now (no further event would announce it).
            match self.stream.read(&mut chunk) {
                Ok(0) => closed = true,
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return Exchange::Pending,
                    io::ErrorKind::Interrupted => {}
                    _ => return self.fail(ClientError::Io(e)),
                },
            }
        }
    }

    /// The request sent again on this (new) connection after [`Exchange::Failed`] with `resend`.
    pub(crate) fn resend_from(&mut self, registry: &Registry, failed: &HostConn) -> Exchange {
        self.request.clear();
        self.request.extend_from_slice(&failed.request);
        self.written = 0;
        self.start(registry)
    }

    /// Writes the new request as far as the socket takes it; the answer comes with a later event (reading now
    /// would only cost a system call that finds nothing).
    fn start(&mut self, registry: &Registry) -> Exchange {
        match self.flush(registry) {
            Ok(()) => Exchange::Pending,
            Err(error) => self.fail(error),
        }
    }

    fn fail(&self, error: ClientError) -> Exchange {
        let broken = matches!(&error, ClientError::Closed)
            || matches!(&error, ClientError::Io(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe));
        Exchange::Failed { error, resend: broken && self.reused && self.input.is_empty() }
    }

    fn flush(&mut self, registry: &Registry) -> Result<(), ClientError> {
        while self.written < self.request.len() {
            match self.stream.write(&self.request[self.written..]) {
                Ok(0) => return Err(ClientError::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(ClientError::Io(e)),
            }
        }
        let wants_write = self.written < self.request.len();
        if wants_write != self.wants_write {
            let interest = if wants_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            registry.reregister(&mut self.stream, self.token, interest).map_err(ClientError::Io)?;
            self.wants_write = wants_write;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::os::unix::net::UnixListener;
    use std::time::{Duration, Instant};

    const TOKEN: Token = Token(7);

    fn socket_path(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("osconfig-exchange-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("h.sock")
    }

    /// Drives the exchange with the poll's events until it is no longer pending (at most 5 s).
    fn drive(poll: &mut Poll, conn: &mut HostConn, mut state: Exchange) -> Exchange {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut events = Events::with_capacity(4);
        while matches!(state, Exchange::Pending) {
            assert!(Instant::now() < deadline, "the exchange never finished");
            poll.poll(&mut events, Some(Duration::from_millis(100))).unwrap();
            if events.iter().any(|e| e.token() == TOKEN) {
                state = conn.progress(poll.registry());
            }
        }
        state
    }

    #[test]
    fn test_answer_split_over_reads_and_a_big_request_written_on_writability() {
        let path = socket_path("split");
        let listener = UnixListener::bind(&path).unwrap();
        let body = vec![b'x'; 1024 * 1024];
        let expected = body.len();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut stream, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut chunk = [0u8; 65536];
            while !got.ends_with(b"xxxx") || got.len() < expected {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&chunk[..n]);
            }
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Len").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            stream.write_all(b"gth: 3\r\n\r\n\"a\"").unwrap();
            got.len()
        });
        let mut poll = Poll::new().unwrap();
        let mut conn = HostConn::connect(&path, poll.registry(), TOKEN).unwrap();
        let first = conn.send(poll.registry(), MmiEndpoint::Set, &body);
        match drive(&mut poll, &mut conn, first) {
            Exchange::Answer(answer) => assert_eq!((answer.status, answer.body.as_slice()), (200, &b"\"a\""[..])),
            other => panic!("{other:?}"),
        }
        assert!(server.join().unwrap() > expected, "the whole request reached the host");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn test_a_reused_connection_closed_before_the_answer_may_be_sent_again_a_fresh_one_not() {
        let path = socket_path("resend");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            // First connection: answers one request, then closes without saying so (an idle close).
            let (mut stream, _) = listener.accept().unwrap();
            let mut chunk = [0u8; 4096];
            let _ = stream.read(&mut chunk).unwrap();
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n\"\"").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            drop(stream);
            // Second connection: closes at once, before any answer.
            let (stream, _) = listener.accept().unwrap();
            drop(stream);
        });
        let mut poll = Poll::new().unwrap();
        let mut conn = HostConn::connect(&path, poll.registry(), TOKEN).unwrap();
        let first = conn.send(poll.registry(), MmiEndpoint::Get, b"{}");
        assert!(matches!(drive(&mut poll, &mut conn, first), Exchange::Answer(_)));
        std::thread::sleep(Duration::from_millis(200));
        let second = conn.send(poll.registry(), MmiEndpoint::Get, b"{}");
        match drive(&mut poll, &mut conn, second) {
            Exchange::Failed { resend: true, .. } => {}
            other => panic!("a reused connection closed before the answer: {other:?}"),
        }
        let mut fresh = HostConn::connect(&path, poll.registry(), TOKEN).unwrap();
        let third = fresh.resend_from(poll.registry(), &conn);
        match drive(&mut poll, &mut fresh, third) {
            Exchange::Failed { resend: false, .. } => {}
            other => panic!("a fresh connection is never resent: {other:?}"),
        }
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn test_an_answer_that_is_not_http_fails_without_resend() {
        let path = socket_path("garbage");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut stream, _) = listener.accept().unwrap();
            let mut chunk = [0u8; 4096];
            let _ = stream.read(&mut chunk).unwrap();
            stream.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(100));
        });
        let mut poll = Poll::new().unwrap();
        let mut conn = HostConn::connect(&path, poll.registry(), TOKEN).unwrap();
        let first = conn.send(poll.registry(), MmiEndpoint::Get, b"{}");
        match drive(&mut poll, &mut conn, first) {
            Exchange::Failed { error: ClientError::Malformed(_), resend: false } => {}
            other => panic!("{other:?}"),
        }
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn test_connect_to_a_socket_nobody_listens_on_fails_at_once() {
        let path = socket_path("none");
        let poll = Poll::new().unwrap();
        let err = HostConn::connect(&path, poll.registry(), TOKEN).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        drop(UnixListener::bind(&path).unwrap());
        let err = HostConn::connect(&path, poll.registry(), TOKEN).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
