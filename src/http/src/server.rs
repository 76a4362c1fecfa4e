//! The server: one `mio` event loop over a `UnixListener`, per-connection state machines, and handlers that may
//! answer later from any thread.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, Write};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mio::net::{UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::connection::{Connection, READ_CHUNK};
use crate::limits::Limits;
use crate::peer::PeerCred;
use crate::request::Request;
use crate::response::{overloaded, Response, StatusCode};
use crate::socket::{self, SocketFile, SocketOptions};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONNECTION: usize = 2;

/// Answers requests. `handle` runs on the event loop's thread and must not block: answer at once through the
/// [`Responder`], or send the responder to another thread and answer from there.
pub trait Handler: Send + 'static {
    /// Handles one request.
    fn handle(&mut self, request: Request, responder: Responder);
}

impl<F: FnMut(Request, Responder) + Send + 'static> Handler for F {
    fn handle(&mut self, request: Request, responder: Responder) {
        self(request, responder)
    }
}

thread_local! {
    /// The address of the [`Shared`] whose loop runs on this thread (0: none), so a responder knows whether it
    /// answers on its loop's own thread. (`try_with`: a responder dropped while thread-locals are torn down just wakes.)
    static CURRENT_LOOP: Cell<usize> = const { Cell::new(0) };
}

/// State shared by the loop, its responders and its handles.
#[derive(Debug)]
struct Shared {
    completions: Mutex<Vec<(Token, u64, Response)>>,
    waker: Waker,
    wake_pending: AtomicBool,
    shutdown: AtomicBool,
}

impl Shared {
    fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                log::error!("cannot wake the server loop: {e}");
            }
        }
    }
}

/// The way to answer one request, once. Send it to another thread to answer later; the loop writes answers in
/// request order. Dropping it unanswered answers 500, so a connection is never left waiting forever.
#[derive(Debug)]
pub struct Responder {
    token: Token,
    seq: u64,
    shared: Option<Arc<Shared>>,
}

impl Responder {
    /// Sends the answer.
    pub fn respond(mut self, response: Response) {
        if let Some(shared) = self.shared.take() {
            Self::deliver(&shared, self.token, self.seq, response);
        }
    }

    fn deliver(shared: &Arc<Shared>, token: Token, seq: u64, response: Response) {
        shared.completions.lock().unwrap_or_else(|e| e.into_inner()).push((token, seq, response));
        // Answers given on the loop's own thread (inside `handle`) are applied before the loop polls again: no wake.
        let on_loop = CURRENT_LOOP.try_with(|current| current.get() == Arc::as_ptr(shared) as usize).unwrap_or(false);
        if !on_loop {
            shared.wake();
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            log::error!("a request was dropped unanswered; answering 500");
            Self::deliver(&shared, self.token, self.seq, Response::new(StatusCode::InternalServerError));
        }
    }
}

/// Stops a running server from any thread (for example a signal-handling thread).
#[derive(Clone, Debug)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl ServerHandle {
    /// Asks the loop to stop; [`Server::run`] returns soon after, closing every connection.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake();
    }
}

/// A connection and whether it is registered for writability.
#[derive(Debug)]
struct Entry {
    conn: Connection<UnixStream>,
    write_interest: bool,
}

/// What the loop works on between polls.
struct Work<'a> {
    conns: &'a mut HashMap<Token, Entry>,
    dirty: &'a mut Vec<Token>,
    requests: &'a mut Vec<(u64, Request)>,
    chunk: &'a mut [u8],
}

/// An HTTP/1.1 server on a Unix socket. See the crate docs for an example.
#[derive(Debug)]
pub struct Server {
    poll: Poll,
    listener: UnixListener,
    shared: Arc<Shared>,
    limits: Limits,
    server_header: Option<&'static str>,
    socket_file: Option<SocketFile>,
}

impl Server {
    /// Binds a socket file (see [`socket::bind`]) and makes a server on it; the file is removed when the server ends.
    pub fn bind(path: &Path, options: SocketOptions) -> io::Result<Server> {
        let (listener, file) = socket::bind(path, options)?;
        let mut server = Server::from_listener(listener)?;
        server.socket_file = Some(file);
        Ok(server)
    }

    /// Makes a server on a listener bound elsewhere (for example handed over by systemd).
    pub fn from_listener(listener: StdUnixListener) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        let poll = Poll::new()?;
        let mut listener = UnixListener::from_std(listener);
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let shared = Arc::new(Shared {
            completions: Mutex::new(Vec::new()),
            waker,
            wake_pending: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
        });
        Ok(Server { poll, listener, shared, limits: Limits::default(), server_header: None, socket_file: None })
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    /// Sends `Server: <name>` on every response (the MPI uses `OSConfig`).
    pub fn with_server_header(mut self, name: &'static str) -> Server {
        self.server_header = Some(name);
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle { shared: Arc::clone(&self.shared) }
    }

    /// Runs the loop until [`ServerHandle::shutdown`]; returns an error only if polling itself fails.
    pub fn run<H: Handler>(mut self, mut handler: H) -> io::Result<()> {
        CURRENT_LOOP.with(|current| current.set(Arc::as_ptr(&self.shared) as usize));
        let mut events = Events::with_capacity(256);
        let mut conns: HashMap<Token, Entry> = HashMap::new();
        let mut next_token = FIRST_CONNECTION;
        let mut dirty: Vec<Token> = Vec::new();
        let mut requests: Vec<(u64, Request)> = Vec::new();
        let mut next_sweep: Option<Instant> = None;
        let mut chunk = vec![0u8; READ_CHUNK];

        while !self.shared.shutdown.load(Ordering::Acquire) {
            let timeout = next_sweep.map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(&mut conns, &mut next_token, &mut dirty, now),
                    WAKER => self.shared.wake_pending.store(false, Ordering::Release),
                    token => match conns.get_mut(&token) {
                        Some(entry) => {
                            if event.is_readable() || event.is_read_closed() || event.is_error() {
                                entry.conn.read(now, &mut chunk, &mut requests);
                                self.dispatch(token, &mut requests, &mut handler);
                            }
                            dirty.push(token);
                        }
                        None => log::debug!("spurious event for {token:?}"),
                    },
                }
            }
            let mut work = Work { conns: &mut conns, dirty: &mut dirty, requests: &mut requests, chunk: &mut chunk };
            self.settle(&mut work, &mut handler, &mut next_sweep, now);
            if next_sweep.is_some_and(|at| at <= now) {
                next_sweep = self.sweep(&mut conns, now);
            }
        }
        for (_, mut entry) in conns.drain() {
            let _ = self.poll.registry().deregister(entry.conn.stream_mut());
        }
        drop(self.socket_file.take());
        CURRENT_LOOP.with(|current| current.set(0));
        Ok(())
    }

    fn accept(
        &mut self,
        conns: &mut HashMap<Token, Entry>,
        next_token: &mut usize,
        dirty: &mut Vec<Token>,
        now: Instant,
    ) {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    return;
                }
            };
            if conns.len() >= self.limits.max_connections {
                log::warn!("connection limit of {} reached; answering 503", self.limits.max_connections);
                let _ = stream.write(&overloaded(self.server_header));
                continue;
            }
            let peer = match PeerCred::of(&stream) {
                Ok(peer) => peer,
                Err(e) => {
                    log::warn!("cannot read peer credentials, dropping connection: {e}");
                    continue;
                }
            };
            let token = Token(*next_token);
            *next_token += 1;
            if let Err(e) = self.poll.registry().register(&mut stream, token, Interest::READABLE) {
                log::warn!("cannot register connection: {e}");
                continue;
            }
            let conn = Connection::new(stream, peer, self.limits, self.server_header, now);
            conns.insert(token, Entry { conn, write_interest: false });
            dirty.push(token);
        }
    }

    fn dispatch<H: Handler>(&self, token: Token, requests: &mut Vec<(u64, Request)>, handler: &mut H) {
        for (seq, request) in requests.drain(..) {
            let responder = Responder { token, seq, shared: Some(Arc::clone(&self.shared)) };
            handler.handle(request, responder);
        }
    }

    /// Applies answers, writes, resumes paused reads and retires finished connections until nothing changes.
    fn settle<H: Handler>(&self, work: &mut Work<'_>, handler: &mut H, next_sweep: &mut Option<Instant>, now: Instant) {
        let (conns, dirty, requests, chunk) =
            (&mut *work.conns, &mut *work.dirty, &mut *work.requests, &mut *work.chunk);
        loop {
            let completions = std::mem::take(&mut *self.shared.completions.lock().unwrap_or_else(|e| e.into_inner()));
            for (token, seq, response) in completions {
                if let Some(entry) = conns.get_mut(&token) {
                    entry.conn.complete(seq, response);
                    dirty.push(token);
                }
            }
            if dirty.is_empty() {
                return;
            }
            dirty.sort_unstable();
            dirty.dedup();
            for token in std::mem::take(dirty) {
                let Some(entry) = conns.get_mut(&token) else { continue };
                let was_paused = entry.conn.read_paused();
                entry.conn.flush(now);
                if was_paused && !entry.conn.read_paused() && !entry.conn.is_finished() {
                    entry.conn.read(now, chunk, requests);
                    if !requests.is_empty() {
                        self.dispatch(token, requests, handler);
                        dirty.push(token);
                    }
                }
                if entry.conn.is_finished() {
                    if let Some(mut entry) = conns.remove(&token) {
                        let _ = self.poll.registry().deregister(entry.conn.stream_mut());
                    }
                    continue;
                }
                self.update_interest(token, entry);
                if let Some(deadline) = entry.conn.deadline() {
                    *next_sweep = Some(next_sweep.map_or(deadline, |at| at.min(deadline)));
                }
            }
        }
    }

    fn update_interest(&self, token: Token, entry: &mut Entry) {
        let wants_write = entry.conn.wants_write();
        if wants_write != entry.write_interest {
            let interest = if wants_write { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            match self.poll.registry().reregister(entry.conn.stream_mut(), token, interest) {
                Ok(()) => entry.write_interest = wants_write,
                Err(e) => log::warn!("cannot change interest of {token:?}: {e}"),
            }
        }
    }

    /// Times out connections past their deadline; returns the next deadline.
    fn sweep(&self, conns: &mut HashMap<Token, Entry>, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        conns.retain(|token, entry| match entry.conn.deadline() {
            Some(deadline) if deadline <= now => {
                log::debug!("connection {token:?} timed out");
                entry.conn.time_out(now);
                let _ = self.poll.registry().deregister(entry.conn.stream_mut());
                false
            }
            Some(deadline) => {
                next = Some(next.map_or(deadline, |at| at.min(deadline)));
                true
            }
            None => true,
        });
        next
    }
}
