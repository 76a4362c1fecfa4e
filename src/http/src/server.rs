//! The server: one `mio` event loop over a `UnixListener`, per-connection state machines, and handlers that may
//! answer later from any thread.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use crate::connection::{Connection, Pause, FIRST_READ_CHUNK};
use crate::limits::Limits;
use crate::peer::PeerCred;
use crate::request::Request;
use crate::response::{overloaded, Response, StatusCode};
use crate::socket::{self, SocketFile, SocketOptions};
use crate::watch::SocketWatch;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const WATCH: Token = Token(2);
const FIRST_CONNECTION: usize = 3;
/// Tokens from here up belong to the handler's own event sources ([`handler_token`]); connections count up from
/// [`FIRST_CONNECTION`] below it.
const HANDLER_TOKENS: usize = 1 << (usize::BITS - 1);

/// The token of the handler's own event source number `n` (see [`Handler::attach`]).
pub fn handler_token(n: usize) -> Token {
    Token(HANDLER_TOKENS + n)
}

/// The number `n` of a token made by [`handler_token`].
pub fn handler_source(token: Token) -> Option<usize> {
    token.0.checked_sub(HANDLER_TOKENS)
}

/// Once connections have given back this many bytes of big buffers, the allocator is asked to return free memory
/// to the system (glibc keeps freed large blocks otherwise: a burst of big requests would stay resident).
const TRIM_AFTER_BYTES: usize = 1024 * 1024;

/// Answers requests. Every method runs on the event loop's thread and must not block: answer at once through the
/// [`Responder`], send the responder to another thread and answer from there, or keep it and answer from a later
/// call of the loop (the loop's own sources and timers: [`Handler::attach`], [`Handler::ready`],
/// [`Handler::turn`], [`Handler::deadline`]). Answers given on the loop's thread cost no wake-up.
pub trait Handler: Send + 'static {
    /// Handles one request.
    fn handle(&mut self, request: Request, responder: Responder);

    /// Called once on the loop's thread before the first poll, with the loop's registry: the handler may keep a
    /// clone ([`Registry::try_clone`]) and register sources of its own with tokens made by [`handler_token`];
    /// their events go to [`Handler::ready`]. An error ends [`Server::run`] before it serves anything.
    fn attach(&mut self, registry: &Registry) -> io::Result<()> {
        let _ = registry;
        Ok(())
    }

    /// An event on one of the handler's own sources.
    fn ready(&mut self, token: Token, event: &Event) {
        let _ = (token, event);
    }

    /// Called after every round of events (requests read, the handler's events, a [`ServerHandle::wake`]) and
    /// when [`Handler::deadline`] has come: run what is due.
    fn turn(&mut self, now: Instant) {
        let _ = now;
    }

    /// When [`Handler::turn`] must run next even without an event; `None`: only after events (no timer).
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// The loop has stopped ([`ServerHandle::shutdown`]): connections are closed and the socket file removed.
    fn stopped(&mut self) {}

    /// Whether a new connection from `peer` may stay: called on the loop's thread at accept, so it must not block.
    /// A refused connection gets a canned 403, takes no slot and is closed (see [`Limits::refused_linger`]).
    fn admits(&mut self, peer: &PeerCred) -> bool {
        let _ = peer;
        true
    }
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
        if let Err(e) = self.try_wake() {
            log::error!("cannot wake the server loop: {e}");
        }
    }

    /// Wakes the loop unless a wake is pending already: an atomic swap and at most one eventfd `write(2)`, both
    /// async-signal-safe.
    fn try_wake(&self) -> io::Result<()> {
        if self.wake_pending.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.waker.wake()
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
    /// Wakes the loop from any thread: [`Handler::turn`] runs soon after (to take what another thread handed
    /// over). Wakes given before the loop took the last one are merged into it.
    pub fn wake(&self) {
        self.shared.wake();
    }

    /// Asks the loop to stop; [`Server::run`] returns soon after, closing every connection.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.wake();
    }

    /// [`ServerHandle::shutdown`] for a signal handler: only atomics and one `write(2)` to the loop's eventfd, all
    /// async-signal-safe; a failed wake is not logged (logging allocates and locks). It cannot fail short of the
    /// eventfd counter overflowing, and the loop still sees the flag at its next wake-up.
    pub fn shutdown_from_signal_handler(&self) {
        self.shared.shutdown.store(true, Ordering::Release);
        let _ = self.shared.try_wake();
    }
}

/// A connection, whether it is registered for writability, and the buffer bytes last counted for it.
#[derive(Debug)]
struct Entry {
    conn: Connection<UnixStream>,
    write_interest: bool,
    counted: usize,
}

/// The open connections, with their count per uid and the bytes their buffers hold together.
#[derive(Debug, Default)]
struct Table {
    conns: HashMap<Token, Entry>,
    per_uid: HashMap<u32, usize>,
    non_root: usize,
    buffered: usize,
    /// Connections paused on the shared budget, in the order they paused. The first may read past the budget, so
    /// one request always completes (no deadlock of half-received requests); the others read again once the
    /// budget has room or their turn comes.
    budget_queue: VecDeque<Token>,
    /// Bytes of big buffers given back since the allocator was last trimmed.
    released: usize,
}

impl Table {
    fn insert(&mut self, token: Token, entry: Entry) {
        let uid = entry.conn.peer().uid;
        *self.per_uid.entry(uid).or_insert(0) += 1;
        if uid != 0 {
            self.non_root += 1;
        }
        self.buffered += entry.counted;
        self.conns.insert(token, entry);
    }

    fn remove(&mut self, token: Token, limits: &Limits) -> Option<Entry> {
        let entry = self.conns.remove(&token)?;
        let uid = entry.conn.peer().uid;
        if let Some(count) = self.per_uid.get_mut(&uid) {
            *count -= 1;
            if *count == 0 {
                self.per_uid.remove(&uid);
            }
        }
        if uid != 0 {
            self.non_root -= 1;
        }
        self.buffered -= entry.counted;
        if entry.counted > limits.connection_buffer_bytes {
            self.released += entry.counted;
        }
        Some(entry)
    }

    /// Counts the buffer bytes of `token` again.
    fn recount(&mut self, token: Token, limits: &Limits) {
        if let Some(entry) = self.conns.get_mut(&token) {
            let now = entry.conn.buffered_bytes();
            if now < entry.counted && entry.counted > limits.connection_buffer_bytes {
                self.released += entry.counted - now;
            }
            self.buffered = self.buffered - entry.counted + now;
            entry.counted = now;
        }
    }

    fn budget_left(&self, limits: &Limits) -> usize {
        limits.max_buffered_bytes.saturating_sub(self.buffered)
    }

    /// What `token` may add to the buffered bytes: the rest of the budget, or no bound for the first in the queue.
    fn budget_for(&self, token: Token, limits: &Limits) -> usize {
        if self.budget_queue.front() == Some(&token) {
            usize::MAX
        } else {
            self.budget_left(limits)
        }
    }

    /// Queues `token` if it paused on the budget.
    fn note_budget(&mut self, token: Token) {
        let paused = self.conns.get(&token).is_some_and(|e| e.conn.stalled() == Some(Pause::Budget));
        if paused && !self.budget_queue.contains(&token) {
            self.budget_queue.push_back(token);
        }
    }

    /// Drops from the front of the queue connections that are gone or no longer wait on the budget; the new first,
    /// to be read again, when it changed.
    fn advance_budget_queue(&mut self, limits: &Limits) -> Option<Token> {
        let mut changed = false;
        while let Some(front) = self.budget_queue.front() {
            let waits = self.conns.get(front).is_some_and(|e| {
                e.conn.stalled() == Some(Pause::Budget) || e.conn.pending_bytes() >= limits.connection_buffer_bytes
            });
            if waits {
                break;
            }
            self.budget_queue.pop_front();
            changed = true;
        }
        if changed {
            self.budget_queue.front().copied()
        } else {
            None
        }
    }

    /// Whether a connection of `uid` needs another to make room: its uid's share (not root), the non-root share or
    /// the whole table is full. `Some(true)`: only a connection of the same uid may make room.
    fn full_for(&self, uid: u32, limits: &Limits) -> Option<bool> {
        if uid != 0 && self.per_uid.get(&uid).copied().unwrap_or(0) >= limits.max_connections_per_uid {
            Some(true)
        } else if self.conns.len() >= limits.max_connections
            || (uid != 0 && self.non_root >= limits.non_root_connections())
        {
            Some(false)
        } else {
            None
        }
    }

    /// The kept-alive connection idle longest (at least `limits.evictable_idle`) that a connection of `uid` may
    /// evict: one of the same uid when `same_uid`, else any (a non-root uid only non-root ones).
    fn longest_idle(&self, uid: u32, same_uid: bool, now: Instant, limits: &Limits) -> Option<Token> {
        self.conns
            .iter()
            .filter(|(_, e)| {
                let owner = e.conn.peer().uid;
                let allowed = if same_uid { owner == uid } else { uid == 0 || owner != 0 };
                allowed && e.conn.is_idle() && e.conn.last_activity() + limits.evictable_idle <= now
            })
            .min_by_key(|(_, e)| e.conn.last_activity())
            .map(|(token, _)| *token)
    }

    /// Hands big freed blocks back to the system once enough were given back.
    fn trim(&mut self) {
        if self.released >= TRIM_AFTER_BYTES {
            self.released = 0;
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: malloc_trim has no preconditions; it only returns free memory of the allocator to the system.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    }
}

/// A warning that is logged at most once per period, with the count of occurrences not logged.
#[derive(Debug, Default)]
struct RateLimited {
    last: Option<Instant>,
    unlogged: u64,
}

impl RateLimited {
    /// `Some(n)` when this occurrence is to be logged (`n` more were not since the last), else `None`.
    fn hit(&mut self, now: Instant, period: Duration) -> Option<u64> {
        if self.last.is_some_and(|at| now.duration_since(at) < period) {
            self.unlogged += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

fn unlogged_note(unlogged: u64) -> String {
    if unlogged > 0 {
        format!(" ({unlogged} more not logged)")
    } else {
        String::new()
    }
}

/// What the loop works on between polls.
struct Work<'a> {
    table: &'a mut Table,
    dirty: &'a mut Vec<Token>,
    requests: &'a mut Vec<(u64, Request)>,
    chunk: &'a mut Vec<u8>,
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
    socket_options: SocketOptions,
    watch: Option<SocketWatch>,
    /// Connections refused at accept, their answer sent, held until their deadline (they take no slot).
    refused: VecDeque<(UnixStream, Instant)>,
    limit_log: RateLimited,
}

impl Server {
    /// Binds a socket file (see [`socket::bind`]) and makes a server on it; the file is removed when the server ends.
    /// The socket's directory is watched: when the file is deleted or renamed away, a new one is bound at the same
    /// path with the same modes (existing connections go on).
    pub fn bind(path: &Path, options: SocketOptions) -> io::Result<Server> {
        let (listener, file) = socket::bind(path, options)?;
        let mut server = Server::from_listener(listener)?;
        server.watch = Some(SocketWatch::new(path, server.poll.registry(), WATCH)?);
        server.socket_file = Some(file);
        server.socket_options = options;
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
        Ok(Server {
            poll,
            listener,
            shared,
            limits: Limits::default(),
            server_header: None,
            socket_file: None,
            socket_options: SocketOptions::default(),
            watch: None,
            refused: VecDeque::new(),
            limit_log: RateLimited::default(),
        })
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
        let mut table = Table::default();
        let mut next_token = FIRST_CONNECTION;
        let mut dirty: Vec<Token> = Vec::new();
        let mut requests: Vec<(u64, Request)> = Vec::new();
        let mut next_sweep: Option<Instant> = None;
        let mut chunk = vec![0u8; FIRST_READ_CHUNK];
        handler.attach(self.poll.registry())?;

        while !self.shared.shutdown.load(Ordering::Acquire) {
            let due = [next_sweep, handler.deadline()].into_iter().flatten().min();
            let timeout = due.map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(&mut table, &mut next_token, &mut dirty, &mut handler, now),
                    WAKER => self.shared.wake_pending.store(false, Ordering::Release),
                    WATCH => self.check_socket(&mut table, &mut next_token, &mut dirty, &mut handler, now),
                    token if token.0 >= HANDLER_TOKENS => handler.ready(token, event),
                    token => {
                        let budget_left = table.budget_for(token, &self.limits);
                        match table.conns.get_mut(&token) {
                            Some(entry) => {
                                if entry.conn.stalled().is_some() && event.is_write_closed() {
                                    // A paused connection whose client is gone entirely: nothing it sent can be
                                    // answered, and waiting for its read timeout would hold its buffers.
                                    entry.conn.abandon();
                                } else if event.is_readable() || event.is_read_closed() || event.is_error() {
                                    entry.conn.read(now, &mut chunk, &mut requests, budget_left);
                                    self.dispatch(token, &mut requests, &mut handler);
                                    table.recount(token, &self.limits);
                                    table.note_budget(token);
                                }
                                dirty.push(token);
                            }
                            None => log::debug!("spurious event for {token:?}"),
                        }
                    }
                }
            }
            if next_sweep.is_some_and(|at| at <= now) {
                next_sweep = self.sweep(&mut table, now);
            }
            if let Some((_, deadline)) = self.refused.front() {
                next_sweep = Some(next_sweep.map_or(*deadline, |at| at.min(*deadline)));
            }
            // Everything read in this round is with the handler now: it may order it (priorities) before it runs.
            handler.turn(now);
            let mut work = Work { table: &mut table, dirty: &mut dirty, requests: &mut requests, chunk: &mut chunk };
            self.settle(&mut work, &mut handler, &mut next_sweep, now);
            if table.conns.is_empty() && self.refused.is_empty() {
                // Timers exist only for connections: the last one gone, the idle loop sleeps until an event.
                next_sweep = None;
            }
            table.trim();
        }
        for (_, mut entry) in table.conns.drain() {
            let _ = self.poll.registry().deregister(entry.conn.stream_mut());
        }
        self.refused.clear();
        drop(self.socket_file.take());
        handler.stopped();
        CURRENT_LOOP.with(|current| current.set(0));
        Ok(())
    }

    fn accept<H: Handler>(
        &mut self,
        table: &mut Table,
        next_token: &mut usize,
        dirty: &mut Vec<Token>,
        handler: &mut H,
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
            let peer = match PeerCred::of(&stream) {
                Ok(peer) => peer,
                Err(e) => {
                    log::warn!("cannot read peer credentials, dropping connection: {e}");
                    continue;
                }
            };
            if !handler.admits(&peer) {
                let mut answer = Vec::new();
                // The same bytes as a 403 answered to a request (clients compare them); the close follows.
                Response::new(StatusCode::Forbidden).encode(self.server_header, false, &mut answer);
                self.refuse(stream, &answer, now);
                continue;
            }
            if let Some(same_uid) = table.full_for(peer.uid, &self.limits) {
                match table.longest_idle(peer.uid, same_uid, now, &self.limits) {
                    Some(victim) => {
                        log::debug!("connection {victim:?} idle longest: closed to make room for pid {}", peer.pid);
                        drop(table.remove(victim, &self.limits));
                    }
                    None => {
                        if let Some(unlogged) = self.limit_log.hit(now, self.limits.refusal_log_period) {
                            let what = if same_uid {
                                format!("{} connections of uid {}", self.limits.max_connections_per_uid, peer.uid)
                            } else {
                                format!("{} connections", table.conns.len())
                            };
                            log::warn!("connection limit reached ({what}); answering 503{}", unlogged_note(unlogged));
                        }
                        self.refuse(stream, &overloaded(self.server_header), now);
                        continue;
                    }
                }
            }
            let token = Token(*next_token);
            *next_token += 1;
            if let Err(e) = self.poll.registry().register(&mut stream, token, Interest::READABLE) {
                log::warn!("cannot register connection: {e}");
                continue;
            }
            let conn = Connection::new(stream, peer, self.limits, self.server_header, now);
            let counted = conn.buffered_bytes();
            table.insert(token, Entry { conn, write_interest: false, counted });
            dirty.push(token);
        }
    }

    /// Sends a canned answer to a connection that gets no slot, ends its writing side and holds it (unread, not
    /// polled) until its linger deadline, so a client that writes its request after connecting gets no `EPIPE`.
    fn refuse(&mut self, mut stream: UnixStream, answer: &[u8], now: Instant) {
        let _ = stream.write(answer);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        if self.limits.max_refused_lingering == 0 || self.limits.refused_linger.is_zero() {
            return;
        }
        while self.refused.len() >= self.limits.max_refused_lingering {
            self.refused.pop_front();
        }
        self.refused.push_back((stream, now + self.limits.refused_linger));
    }

    /// After a change in the socket's directory: when the socket file is gone, binds a new one at the same path
    /// (the old listener's backlog is served first); existing connections go on.
    fn check_socket<H: Handler>(
        &mut self,
        table: &mut Table,
        next_token: &mut usize,
        dirty: &mut Vec<Token>,
        handler: &mut H,
        now: Instant,
    ) {
        let Some(watch) = self.watch.as_mut() else { return };
        if !watch.socket_maybe_gone() {
            return;
        }
        let Some(file) = self.socket_file.as_ref() else { return };
        if file.is_in_place() {
            return;
        }
        let path = file.path().to_path_buf();
        log::warn!("socket {} was deleted or moved away; binding it again", path.display());
        // Connections already queued on the old socket are still served.
        self.accept(table, next_token, dirty, handler, now);
        match socket::bind(&path, self.socket_options) {
            Ok((listener, file)) => {
                if let Err(e) = listener.set_nonblocking(true) {
                    log::error!("cannot re-create socket {}: {e}", path.display());
                    return;
                }
                let mut listener = UnixListener::from_std(listener);
                if let Err(e) = self.poll.registry().register(&mut listener, LISTENER, Interest::READABLE) {
                    log::error!("cannot re-create socket {}: {e}", path.display());
                    return;
                }
                let mut old = std::mem::replace(&mut self.listener, listener);
                let _ = self.poll.registry().deregister(&mut old);
                // The old file is gone: dropping its guard removes nothing.
                self.socket_file = Some(file);
                if let Some(watch) = self.watch.as_ref() {
                    if let Err(e) = watch.rewatch() {
                        log::warn!("cannot watch the directory of {} again: {e}", path.display());
                    }
                }
                log::info!("socket {} re-created", path.display());
            }
            Err(e) => log::error!("cannot re-create socket {}: {e}; serving existing connections only", path.display()),
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
        let (table, dirty, requests, chunk) =
            (&mut *work.table, &mut *work.dirty, &mut *work.requests, &mut *work.chunk);
        let limits = &self.limits;
        loop {
            let completions = std::mem::take(&mut *self.shared.completions.lock().unwrap_or_else(|e| e.into_inner()));
            for (token, seq, response) in completions {
                if let Some(entry) = table.conns.get_mut(&token) {
                    entry.conn.complete(seq, response);
                    dirty.push(token);
                }
            }
            if dirty.is_empty() {
                // Connections paused on the budget read again when their turn comes or once it has room (a read
                // with room either spends it or ends the pause, so this ends).
                if let Some(front) = table.advance_budget_queue(limits) {
                    dirty.push(front);
                }
                if table.budget_left(limits) > 0 {
                    let conns = &table.conns;
                    dirty.extend(
                        table
                            .budget_queue
                            .iter()
                            .filter(|t| conns.get(t).is_some_and(|e| e.conn.stalled() == Some(Pause::Budget))),
                    );
                }
                if dirty.is_empty() {
                    return;
                }
            }
            dirty.sort_unstable();
            dirty.dedup();
            for token in std::mem::take(dirty) {
                let Some(entry) = table.conns.get_mut(&token) else { continue };
                entry.conn.flush(now);
                table.recount(token, limits);
                let budget_left = table.budget_for(token, limits);
                let Some(entry) = table.conns.get_mut(&token) else { continue };
                if entry.conn.stalled().is_some()
                    && entry.conn.pause(budget_left).is_none()
                    && !entry.conn.is_finished()
                {
                    entry.conn.read(now, chunk, requests, budget_left);
                    if !requests.is_empty() {
                        self.dispatch(token, requests, handler);
                        dirty.push(token);
                    }
                    table.recount(token, limits);
                }
                table.note_budget(token);
                let Some(entry) = table.conns.get_mut(&token) else { continue };
                if entry.conn.is_finished() {
                    // Closing the socket takes it out of the poll: no `epoll_ctl` of its own.
                    drop(table.remove(token, limits));
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

    /// Times out connections past their deadline and closes refused ones past theirs; returns the next deadline.
    fn sweep(&mut self, table: &mut Table, now: Instant) -> Option<Instant> {
        while self.refused.front().is_some_and(|(_, deadline)| *deadline <= now) {
            self.refused.pop_front();
        }
        let mut next: Option<Instant> = self.refused.front().map(|(_, deadline)| *deadline);
        let mut expired = Vec::new();
        for (token, entry) in &table.conns {
            match entry.conn.deadline() {
                Some(deadline) if deadline <= now => expired.push(*token),
                Some(deadline) => next = Some(next.map_or(deadline, |at| at.min(deadline))),
                None => {}
            }
        }
        for token in expired {
            if let Some(mut entry) = table.remove(token, &self.limits) {
                log::debug!("connection {token:?} timed out");
                entry.conn.time_out(now);
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_rate_limited_logs_once_per_period_with_the_count() {
        let mut log = RateLimited::default();
        let t0 = Instant::now();
        let period = Duration::from_secs(10);
        assert_eq!(log.hit(t0, period), Some(0));
        for i in 1..=5 {
            assert_eq!(log.hit(t0 + Duration::from_secs(i), period), None);
        }
        assert_eq!(log.hit(t0 + period, period), Some(5));
    }
}
