//! One client connection: reads requests, keeps their answers in order, writes them out.
//!
//! Generic over the stream so tests can drive it with a `UnixStream::pair()`. The life of a connection:
//! read and parse (any number of pipelined requests, up to [`Limits::max_pipelined`] awaiting answers), hand each
//! request out with a sequence number, accept answers in any order, write them in request order, and close after an
//! answer that closes (an error, `Connection: close`, HTTP/1.0) or when the client has gone and nothing is owed.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

use crate::error::RequestError;
use crate::limits::Limits;
use crate::parser::RequestParser;
use crate::peer::PeerCred;
use crate::request::Request;
use crate::response::{Response, CONTINUE};

/// Bytes read from the socket in one `read` call at most: the size the scratch buffer a server lends its
/// connections grows to.
pub(crate) const READ_CHUNK: usize = 16 * 1024;
/// The size the shared read chunk starts at: small requests (every MPI and MMI call) never touch more of it, so a
/// server that only ever gets small ones keeps 4 KiB of it resident instead of 16. It grows to [`READ_CHUNK`]
/// the first time a read fills it (a big body is coming) and stays so.
pub(crate) const FIRST_READ_CHUNK: usize = 4 * 1024;

/// Why a connection stopped reading with bytes possibly still waiting; the server reads it again once the reason
/// is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pause {
    /// [`Limits::max_pipelined`] requests await their answers.
    Pipeline,
    /// More than [`Limits::max_output_bytes`] of answers wait for the client to read them.
    Output,
    /// The server's [`Limits::max_buffered_bytes`] are spent and this connection holds
    /// [`Limits::connection_buffer_bytes`] of request or owes output.
    Budget,
}

/// An answer owed to one request, in request order.
#[derive(Debug)]
struct Slot {
    response: Option<Response>,
    keep_alive: bool,
}

/// The state of one connection. See the module docs.
#[derive(Debug)]
pub(crate) struct Connection<S> {
    stream: S,
    parser: RequestParser,
    limits: Limits,
    server: Option<&'static str>,
    peer: PeerCred,
    out: Vec<u8>,
    out_pos: usize,
    slots: VecDeque<Slot>,
    first_seq: u64,
    read_closed: bool,
    closing: bool,
    broken: bool,
    started: Option<Instant>,
    last_activity: Instant,
    stalled: Option<Pause>,
}

impl<S: Read + Write> Connection<S> {
    /// A new connection over `stream`.
    pub(crate) fn new(stream: S, peer: PeerCred, limits: Limits, server: Option<&'static str>, now: Instant) -> Self {
        Connection {
            stream,
            parser: RequestParser::new(limits),
            limits,
            server,
            peer,
            out: Vec::new(),
            out_pos: 0,
            slots: VecDeque::new(),
            first_seq: 0,
            read_closed: false,
            closing: false,
            broken: false,
            started: None,
            last_activity: now,
            stalled: None,
        }
    }

    /// Who is on the other end.
    pub(crate) fn peer(&self) -> PeerCred {
        self.peer
    }

    /// The stream, for registration with the poller.
    pub(crate) fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Reads what the client sent and appends each whole request to `requests` with its sequence number.
    /// Stops early on a [`Pause`]: `budget_left` is what this connection may add to the server's buffered bytes
    /// beyond its own [`Limits::connection_buffer_bytes`]. Call again once [`Connection::stalled`] is lifted.
    /// `chunk` is scratch space shared by all connections of a server (zeroed once, not per read; see
    /// [`FIRST_READ_CHUNK`]).
    pub(crate) fn read(
        &mut self,
        now: Instant,
        chunk: &mut Vec<u8>,
        requests: &mut Vec<(u64, Request)>,
        budget_left: usize,
    ) {
        let before = self.buffered_bytes();
        let left = |conn: &Self| budget_left.saturating_sub(conn.buffered_bytes().saturating_sub(before));
        self.extract(now, requests);
        while !self.read_closed && !self.closing && !self.broken && self.pause(left(self)).is_none() {
            match self.stream.read(chunk) {
                Ok(0) => self.read_closed = true,
                Ok(n) => {
                    self.last_activity = now;
                    self.parser.push(&chunk[..n]);
                    self.extract(now, requests);
                    if n < chunk.len() {
                        // A short read drained the socket: the next arrival raises a new readiness event.
                        break;
                    }
                    if chunk.len() == FIRST_READ_CHUNK {
                        // A big body is coming: read it in bigger steps from now on.
                        chunk.resize(READ_CHUNK, 0);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("connection read failed: {e}");
                    self.broken = true;
                }
            }
        }
        // Paused with bytes possibly left in the socket or requests left in the parser: no readiness event will
        // come for them, so the server reads again when the pause lifts.
        self.stalled = self.pause(left(self));
    }

    /// Why reading would stop now, given `budget_left` bytes of the shared budget.
    pub(crate) fn pause(&self, budget_left: usize) -> Option<Pause> {
        if self.read_closed || self.closing || self.broken {
            None
        } else if self.slots.len() >= self.limits.max_pipelined {
            Some(Pause::Pipeline)
        } else if self.unsent() > self.limits.max_output_bytes {
            Some(Pause::Output)
        } else if budget_left == 0
            && (self.parser.pending_bytes() >= self.limits.connection_buffer_bytes || self.unsent() > 0)
        {
            Some(Pause::Budget)
        } else {
            None
        }
    }

    /// Why the last read stopped with input possibly left unread, if it did.
    pub(crate) fn stalled(&self) -> Option<Pause> {
        if self.read_closed || self.closing || self.broken {
            None
        } else {
            self.stalled
        }
    }

    /// Answer bytes waiting for the client to read them.
    pub(crate) fn unsent(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Request bytes received and not yet parsed into a request.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.parser.pending_bytes()
    }

    /// Bytes of memory this connection's buffers hold.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.parser.buffered_bytes() + self.out.capacity()
    }

    /// Whether the connection waits for its client's next request with nothing received, owed or unsent.
    pub(crate) fn is_idle(&self) -> bool {
        !self.broken && !self.closing && self.started.is_none() && self.slots.is_empty() && !self.wants_write()
    }

    /// When the client last sent or took bytes.
    pub(crate) fn last_activity(&self) -> Instant {
        self.last_activity
    }

    fn extract(&mut self, now: Instant, requests: &mut Vec<(u64, Request)>) {
        while !self.closing
            && self.slots.len() < self.limits.max_pipelined
            && self.unsent() <= self.limits.max_output_bytes
        {
            match self.parser.next_request() {
                Ok(Some(mut request)) => {
                    request.peer = self.peer;
                    let keep_alive = request.keep_alive;
                    let seq = self.first_seq + self.slots.len() as u64;
                    self.slots.push_back(Slot { response: None, keep_alive });
                    requests.push((seq, request));
                    if !keep_alive {
                        self.closing = true;
                    }
                }
                Ok(None) => {
                    if self.parser.take_continue() && self.slots.is_empty() {
                        self.out.extend_from_slice(CONTINUE);
                    }
                    break;
                }
                Err(error) => {
                    log::debug!("bad request from pid {}: {error}", self.peer.pid);
                    self.slots.push_back(Slot { response: Some(Response::from(&error)), keep_alive: false });
                    self.closing = true;
                }
            }
        }
        self.parser.release(self.limits.connection_buffer_bytes);
        self.started = match (self.parser.in_request(), self.started) {
            (true, None) => Some(now),
            (true, started) => started,
            (false, _) => None,
        };
    }

    /// Stores the answer to request `seq`. Answers to requests this connection no longer owes are dropped.
    pub(crate) fn complete(&mut self, seq: u64, response: Response) {
        let Some(index) = seq.checked_sub(self.first_seq) else { return };
        if let Some(slot) = self.slots.get_mut(index as usize) {
            if slot.response.is_none() {
                slot.response = Some(response);
            }
        }
    }

    /// Encodes the answers that are ready, in order, and writes as much as the socket takes.
    pub(crate) fn flush(&mut self, now: Instant) {
        while self.slots.front().is_some_and(|slot| slot.response.is_some()) {
            let slot = self.slots.pop_front().expect("front checked");
            self.first_seq += 1;
            let response = slot.response.expect("response checked");
            let close = !slot.keep_alive || response.closes();
            response.encode(self.server, close, &mut self.out);
            if close {
                self.closing = true;
                self.first_seq += self.slots.len() as u64;
                self.slots.clear();
                break;
            }
        }
        while self.out_pos < self.out.len() && !self.broken {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => self.broken = true,
                Ok(n) => {
                    self.out_pos += n;
                    self.last_activity = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("connection write failed: {e}");
                    self.broken = true;
                }
            }
        }
        if self.out_pos == self.out.len() {
            if self.out.capacity() > self.limits.connection_buffer_bytes {
                self.out = Vec::new();
            } else {
                self.out.clear();
            }
            self.out_pos = 0;
        }
    }

    /// Whether bytes wait for the socket to take them.
    pub(crate) fn wants_write(&self) -> bool {
        self.out_pos < self.out.len()
    }

    /// Whether the connection is over: broken, or closing or closed by the client with nothing left to write or owe.
    pub(crate) fn is_finished(&self) -> bool {
        self.broken || ((self.closing || self.read_closed) && self.slots.is_empty() && !self.wants_write())
    }

    /// When this connection times out, if it can: a partial request or a blocked write runs against the read
    /// timeout, an idle kept-alive connection against the idle timeout; one waiting for its handler never does.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.wants_write() {
            Some(self.last_activity + self.limits.read_timeout)
        } else if let Some(started) = self.started {
            Some(started + self.limits.read_timeout)
        } else if !self.slots.is_empty() {
            None
        } else {
            Some(self.last_activity + self.limits.idle_timeout)
        }
    }

    /// Ends a connection whose client went away entirely while it was paused.
    pub(crate) fn abandon(&mut self) {
        self.broken = true;
    }

    /// Ends a connection whose deadline passed: a client stalled mid-request gets a best-effort 408.
    pub(crate) fn time_out(&mut self, now: Instant) {
        if self.started.is_some() && self.slots.is_empty() && !self.wants_write() {
            let response = Response::from(&RequestError::Timeout);
            response.encode(self.server, true, &mut self.out);
            self.flush(now);
        }
        self.broken = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::thread;
    use std::time::Duration;

    fn pair(limits: Limits) -> (Connection<UnixStream>, UnixStream) {
        let (server, client) = UnixStream::pair().unwrap();
        server.set_nonblocking(true).unwrap();
        let conn = Connection::new(server, PeerCred::default(), limits, Some("OSConfig"), Instant::now());
        (conn, client)
    }

    fn read_answer(client: &mut UnixStream) -> String {
        client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = client.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn test_read_answers_pipelined_in_order_even_when_completed_out_of_order() {
        let (mut conn, mut client) = pair(Limits::default());
        client.write_all(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n").unwrap();
        let mut requests = Vec::new();
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        assert_eq!(requests.len(), 2);
        conn.complete(requests[1].0, Response::ok(&b"\"b\""[..]));
        conn.flush(Instant::now());
        assert!(!conn.wants_write(), "b must wait for a");
        conn.complete(requests[0].0, Response::ok(&b"\"a\""[..]));
        conn.flush(Instant::now());
        let text = read_answer(&mut client);
        let a = text.find("\"a\"").unwrap();
        let b = text.find("\"b\"").unwrap();
        assert!(a < b, "{text}");
        assert!(!conn.is_finished());
    }

    #[test]
    fn test_read_bad_request_answers_and_finishes() {
        let (mut conn, mut client) = pair(Limits::default());
        client.write_all(b"POST /x HTTP/1.1\r\n\r\n").unwrap();
        let mut requests = Vec::new();
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        assert!(requests.is_empty());
        conn.flush(Instant::now());
        assert!(read_answer(&mut client).starts_with("HTTP/1.1 411 Length Required\r\n"));
        assert!(conn.is_finished());
    }

    #[test]
    fn test_read_pauses_at_pipeline_limit() {
        let (mut conn, client) = pair(Limits::default().with_max_pipelined(2));
        let mut c = &client;
        for _ in 0..3 {
            c.write_all(b"GET /a HTTP/1.1\r\n\r\n").unwrap();
        }
        let mut requests = Vec::new();
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        assert_eq!(requests.len(), 2);
        assert_eq!(conn.stalled(), Some(Pause::Pipeline));
        conn.complete(requests[0].0, Response::ok(&b"1"[..]));
        conn.flush(Instant::now());
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[2].0, 2);
    }

    #[test]
    fn test_read_pauses_while_output_is_over_the_bound_and_resumes_when_drained() {
        let (mut conn, mut client) = pair(Limits::default().with_max_output_bytes(1000));
        let mut c = &client;
        c.write_all(b"GET /a HTTP/1.1\r\n\r\n").unwrap();
        let mut requests = Vec::new();
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        assert_eq!(requests.len(), 1);
        // An answer bigger than the socket takes at once stays unsent.
        conn.complete(requests[0].0, Response::ok(vec![b'x'; 4 * 1024 * 1024]));
        conn.flush(Instant::now());
        assert!(conn.unsent() > 1000);
        c.write_all(b"GET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n").unwrap();
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        assert_eq!(requests.len(), 1, "no request runs while the client does not read");
        assert_eq!(conn.stalled(), Some(Pause::Output));
        let reader = thread::spawn(move || {
            let mut sink = vec![0u8; 64 * 1024];
            let mut total = 0;
            while total < 4 * 1024 * 1024 {
                total += client.read(&mut sink).unwrap();
            }
            client
        });
        while conn.wants_write() {
            conn.flush(Instant::now());
        }
        let _client = reader.join().unwrap();
        assert_eq!(conn.pause(usize::MAX), None);
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        assert_eq!(requests.len(), 3, "reading resumed once drained");
        assert_eq!(conn.buffered_bytes(), conn.parser.buffered_bytes(), "the big output buffer was given back");
    }

    #[test]
    fn test_read_pauses_over_budget_but_small_requests_still_read() {
        let (mut conn, client) = pair(Limits::default().with_connection_buffer_bytes(1024));
        let mut c = &client;
        c.write_all(b"GET /a HTTP/1.1\r\n\r\n").unwrap();
        let mut requests = Vec::new();
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, 0);
        assert_eq!(requests.len(), 1, "a small request is read with no budget left");
        conn.complete(0, Response::ok(&b"1"[..]));
        conn.flush(Instant::now());
        c.write_all(format!("POST /a HTTP/1.1\r\nContent-Length: 4096\r\n\r\n{}", "x".repeat(4000)).as_bytes())
            .unwrap();
        conn.read(Instant::now(), &mut vec![0u8; 512], &mut requests, 0);
        assert_eq!(conn.stalled(), Some(Pause::Budget));
        assert!(conn.parser.pending_bytes() < 2048, "stopped near its own allowance");
        conn.read(Instant::now(), &mut vec![0u8; 512], &mut requests, usize::MAX);
        assert_eq!(conn.stalled(), None);
        assert_eq!(conn.parser.pending_bytes(), 4000, "the whole body read once the budget has room");
    }

    #[test]
    fn test_read_chunk_stays_small_for_small_requests_and_grows_for_a_big_body() {
        let (mut conn, client) = pair(Limits::default());
        let mut c = &client;
        let mut chunk = vec![0u8; FIRST_READ_CHUNK];
        let mut requests = Vec::new();
        c.write_all(b"GET /a HTTP/1.1\r\n\r\n").unwrap();
        conn.read(Instant::now(), &mut chunk, &mut requests, usize::MAX);
        assert_eq!((requests.len(), chunk.len()), (1, FIRST_READ_CHUNK));
        c.write_all(format!("POST /a HTTP/1.1\r\nContent-Length: 10000\r\n\r\n{}", "x".repeat(10000)).as_bytes())
            .unwrap();
        conn.read(Instant::now(), &mut chunk, &mut requests, usize::MAX);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[1].1.body.len(), 10000);
        assert_eq!(chunk.len(), READ_CHUNK);
    }

    #[test]
    fn test_complete_drops_unknown_sequence_numbers() {
        let (mut conn, _client) = pair(Limits::default());
        conn.complete(7, Response::ok(&b"1"[..]));
        conn.flush(Instant::now());
        assert!(!conn.wants_write());
    }

    #[test]
    fn test_deadline_rules() {
        let limits =
            Limits::default().with_read_timeout(Duration::from_secs(1)).with_idle_timeout(Duration::from_secs(100));
        let (mut conn, mut client) = pair(limits);
        let t0 = Instant::now();
        assert_eq!(conn.deadline(), Some(conn.last_activity + Duration::from_secs(100)));
        client.write_all(b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\n{").unwrap();
        let mut requests = Vec::new();
        conn.read(t0, &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        assert_eq!(conn.deadline(), Some(t0 + Duration::from_secs(1)));
        client.write_all(b"}   ").unwrap();
        conn.read(t0, &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        assert_eq!(requests.len(), 1);
        assert_eq!(conn.deadline(), None, "waiting for the handler never times out");
        conn.time_out(t0);
        assert!(conn.is_finished());
    }

    #[test]
    fn test_time_out_mid_request_sends_408() {
        let (mut conn, mut client) = pair(Limits::default());
        client.write_all(b"POST /a HTTP/1.1\r\nContent-Len").unwrap();
        let mut requests = Vec::new();
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        conn.time_out(Instant::now());
        assert!(read_answer(&mut client).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
        assert!(conn.is_finished());
    }

    #[test]
    fn test_read_client_half_close_still_answered() {
        let (mut conn, mut client) = pair(Limits::default());
        client.write_all(b"GET /a HTTP/1.1\r\n\r\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut requests = Vec::new();
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        assert_eq!(requests.len(), 1);
        assert!(!conn.is_finished(), "an answer is still owed");
        conn.complete(0, Response::ok(&b"1"[..]));
        conn.flush(Instant::now());
        assert!(read_answer(&mut client).starts_with("HTTP/1.1 200 OK"));
        assert!(conn.is_finished());
    }

    #[test]
    fn test_extract_sends_continue() {
        let (mut conn, mut client) = pair(Limits::default());
        client.write_all(b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").unwrap();
        let mut requests = Vec::new();
        conn.read(Instant::now(), &mut vec![0u8; READ_CHUNK], &mut requests, usize::MAX);
        conn.flush(Instant::now());
        assert_eq!(read_answer(&mut client), "HTTP/1.1 100 Continue\r\n\r\n");
    }
}
