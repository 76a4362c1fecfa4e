//! The Orchestrator: the serial queue of module calls, run by an [`Engine`] on the MPI event loop's own thread.
//! The MPI server's handler gives the engine each parsed request with its `Responder` ([`Engine::submit`]); the
//! engine queues what has arrived ([`crate::queue`]: duplicates merged, priority order), runs one call at a time,
//! and answers. A call to a module host does not block the loop: it is written to the host's connection, and the
//! answer comes as an event of the same poll (see [`engine`] for the states). No thread hand-off lies between the
//! MPI socket and a host: one request costs the client's round trip to the platform and the platform's to the
//! host. It never retries a failed call. Between jobs it runs the manager's `tick` when due and reclaims idle
//! sessions.
//!
//! Other threads reach the engine through the [`Orchestrator`] handle: a channel of messages and a wake of the
//! loop ([`osconfig_http::ServerHandle::wake`]). The Watcher submits its calls this way ([`crate::local`]); the
//! daemon's signal thread sends reloads, stops and children's exits.
//!
//! The idle loop sleeps until an event or the next real deadline (a host's idle unload or its SIGKILL after a
//! stop, a session's expiry), and never wakes otherwise. A host that ends on its own between calls is noticed by
//! an event, not by polling: the daemon's signal thread takes SIGCHLD
//! ([`osconfig_http::signals::block_with_child_exits`]) and calls [`Orchestrator::children_exited`], which sends
//! the engine a `ChildExited` message (at most one pending, [`MAX_PENDING_CHILD_EXITS`]); the engine then runs
//! the manager's `tick`, which reaps the host and counts its crash.
//!
//! Answers: `MpiOpen` 200 with the session id as a JSON string (500 `"24"` when the caller is at its session bound
//! — [`MAX_SESSIONS`] for everyone, [`ROOT_RESERVE`] more for root, [`MAX_SESSIONS_PER_UID`] per non-root uid —
//! and no session it may displace has been unused for `MpiSessionReclaimIdleSeconds`, see [`crate::sessions`];
//! 500 `"5"` when the random source fails); `MpiClose` 200 (unknown session too); the other calls 500 `"22"` for an unknown
//! session, else the manager's result (200 with the module's value, or 500 with its errno). `MpiSetDesired` applies
//! every object in document order, logs each result, continues after a failure and answers the first failure's
//! errno. `MpiGetReported` gathers the configuration's `Reported` list in order, leaves out entries that fail, and
//! answers `{"<Component>":{"<object>":<value>,...},...}` grouped by component in first-appearance order, compact,
//! each value exactly as the module returned it (the reference pretty-prints; its clients parse the JSON either way).
//!
//! Every desired payload (`MpiSet`, each object of `MpiSetDesired`) is checked against the MIM of its module first
//! ([`osconfig_mim::Catalog`], loaded from `<module dir>/mim/<module file stem>.json` of the modules in use after
//! each (re)load): a payload that breaks it never reaches the module and fails like a module's own rejection,
//! 500 `"22"` (`EINVAL`), with one log line naming component, object, setting and what was expected.
//!
//! Callers: the MPI server's routes ([`Waiter::Mpi`]) and in-process clients such as the Watcher
//! ([`Waiter::Local`], see [`crate::local`]), which also get each failed object of an `MpiSetDesired`. An
//! in-process client may name a *source* in [`Orchestrator::submit_from`]: when `Priorities` lists that name, its
//! calls rank at that place instead of by component.
//!
//! The engine sends systemd's `READY=1` once the modules are identified ([`crate::notify`]), and stamps each job's
//! time budget (its module calls' deadlines plus [`JOB_SLACK`](crate::watchdog::JOB_SLACK)) for the watchdog
//! ([`crate::watchdog`]): a loop stuck past it (an in-process module that hangs) stops the `WATCHDOG=1` pings and
//! systemd restarts the service.
//!
//! A request that would take the backlog (waiting in the channel or the queue) beyond
//! [`MAX_QUEUED_REQUESTS`] requests or [`MAX_QUEUED_BYTES`] of bodies is answered 503 at once ([`Backlog`]).
//!
//! [`MAX_SESSIONS`]: crate::sessions::MAX_SESSIONS
//! [`MAX_SESSIONS_PER_UID`]: crate::sessions::MAX_SESSIONS_PER_UID
//! [`MAX_QUEUED_REQUESTS`]: crate::queue::MAX_QUEUED_REQUESTS
//! [`MAX_QUEUED_BYTES`]: crate::queue::MAX_QUEUED_BYTES
//! [`ROOT_RESERVE`]: crate::sessions::ROOT_RESERVE

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;

use osconfig_http::{Responder, Response, ServerHandle};
use osconfig_mmi::Errno;

use crate::answers;
use crate::config::Config;
use crate::manager::ManagerSettings;
use crate::notify::Notifier;
use crate::queue::{Backlog, Call, Ticket};
use crate::shared::Shared;

mod catalog;
pub mod engine;
mod job;

pub use engine::Engine;

/// One object of an `MpiSetDesired` that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFailure {
    /// The component.
    pub component: String,
    /// The object.
    pub object: String,
    /// The errno it failed with.
    pub errno: Errno,
    /// The MIM violation, when the payload was refused before the module saw it.
    pub violation: Option<String>,
}

/// A call's outcome: the MPI answer, and for `MpiSetDesired` each object that failed.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer an MPI client gets.
    pub response: Response,
    /// `MpiSetDesired`: the failed objects, in document order (empty otherwise).
    pub failures: Vec<ObjectFailure>,
}

/// Who waits for a call's answer.
#[derive(Debug)]
pub enum Waiter {
    /// An MPI client on the socket.
    Mpi(Responder),
    /// An in-process client; a dropped receiver is not an error.
    Local(Sender<Answer>),
}

impl Waiter {
    fn answer(self, answer: &Answer) {
        match self {
            Waiter::Mpi(responder) => responder.respond(answer.response.clone()),
            Waiter::Local(tx) => {
                let _ = tx.send(answer.clone());
            }
        }
    }

    fn refuse(self, response: Response) {
        match self {
            Waiter::Mpi(responder) => responder.respond(response),
            Waiter::Local(tx) => {
                let _ = tx.send(Answer { response, failures: Vec::new() });
            }
        }
    }
}

/// What other threads send the engine.
#[derive(Debug)]
enum Message {
    Request {
        route: &'static str,
        body: Vec<u8>,
        call: Call,
        waiter: Queued,
        source: Option<&'static str>,
    },
    Reload {
        config: Box<Config>,
        settings: Box<ManagerSettings>,
    },
    /// A child process ended (SIGCHLD): reap hosts that ended.
    ChildExited,
    Stop,
}

/// Bound of `ChildExited` messages waiting in the engine's channel: further SIGCHLDs before the engine has taken
/// it are merged into it (its tick checks every host).
pub const MAX_PENDING_CHILD_EXITS: usize = 1;

/// A waiter and its request's share of the backlog (given back when the job is taken to run).
#[derive(Debug)]
struct Queued {
    waiter: Waiter,
    _ticket: Ticket,
}

/// What the engine and its handles share: the backlog's admission.
#[derive(Debug)]
struct Inbox {
    backlog: Arc<Backlog>,
    /// Whether a refusal for a full backlog was logged since the backlog last had room.
    full_logged: AtomicBool,
    /// Whether a [`Message::ChildExited`] waits for the engine (see [`MAX_PENDING_CHILD_EXITS`]).
    child_exit_pending: AtomicBool,
}

impl Inbox {
    /// A share of the backlog for a request with a body of `bytes`, or the waiter answered 503 (the backlog is
    /// full: warned once per episode, so a flood of refusals does not flood the log).
    fn admit(&self, route: &str, bytes: usize, waiter: Waiter) -> Option<Queued> {
        let Some(ticket) = self.backlog.admit(bytes) else {
            if !self.full_logged.swap(true, Ordering::AcqRel) {
                log::warn!(
                    "{route} refused with 503: {} requests ({} body bytes) wait for the worker already",
                    self.backlog.requests(),
                    self.backlog.bytes()
                );
            }
            waiter.refuse(answers::overloaded());
            return None;
        };
        if self.full_logged.swap(false, Ordering::AcqRel) {
            log::info!("the request backlog has room again");
        }
        Some(Queued { waiter, _ticket: ticket })
    }
}

/// The handle other threads use: cloned into the Watcher and the signal thread. Each message wakes the MPI loop.
#[derive(Clone, Debug)]
pub struct Orchestrator {
    tx: Sender<Message>,
    inbox: Arc<Inbox>,
    wake: ServerHandle,
}

impl Orchestrator {
    /// Starts the engine that `server`'s loop will run (see `Engine::start`: the modules are identified now, on
    /// this thread, which must be the thread that then runs the loop: module hosts get SIGKILL when the thread that
    /// started them ends) and the handle for other threads.
    pub fn start(
        config: Config,
        settings: ManagerSettings,
        shared: Arc<Shared>,
        notifier: &Notifier,
        server: ServerHandle,
    ) -> (Orchestrator, Engine) {
        let (tx, rx) = mpsc::channel();
        let inbox = Arc::new(Inbox {
            backlog: Arc::new(Backlog::default()),
            full_logged: AtomicBool::new(false),
            child_exit_pending: AtomicBool::new(false),
        });
        let engine = Engine::start(config, settings, shared, notifier, Arc::clone(&inbox), rx);
        (Orchestrator { tx, inbox, wake: server }, engine)
    }

    /// Hands a request to the engine on behalf of `source` (a name `Priorities` may list; `None`: rank by
    /// component). If the engine has stopped or the backlog is full, the waiter gets 503.
    pub fn submit_from(
        &self,
        source: Option<&'static str>,
        route: &'static str,
        body: Vec<u8>,
        call: Call,
        waiter: Waiter,
    ) {
        let Some(waiter) = self.inbox.admit(route, body.len(), waiter) else { return };
        if let Err(mpsc::SendError(Message::Request { waiter, .. })) =
            self.tx.send(Message::Request { route, body, call, waiter, source })
        {
            waiter.waiter.refuse(answers::overloaded());
            return;
        }
        self.wake.wake();
    }

    /// Applies a new configuration (priorities, `Reported`, session timeout) and reloads the manager, once the
    /// running job is done.
    pub fn reload(&self, config: Config, settings: ManagerSettings) {
        let _ = self.tx.send(Message::Reload { config: Box::new(config), settings: Box::new(settings) });
        self.wake.wake();
    }

    /// A child process ended (the daemon's SIGCHLD): the engine reaps hosts that ended and counts their crashes.
    /// Never blocks; merged with a notice not yet taken ([`MAX_PENDING_CHILD_EXITS`]).
    pub fn children_exited(&self) {
        if !self.inbox.child_exit_pending.swap(true, Ordering::AcqRel) {
            let _ = self.tx.send(Message::ChildExited);
            self.wake.wake();
        }
    }

    /// Asks the engine to stop: queued requests are dropped (answered 500); the sessions are closed and the hosts
    /// stopped when the loop ends ([`Engine::stopped`]).
    pub fn stop(&self) {
        let _ = self.tx.send(Message::Stop);
        self.wake.wake();
    }
}
