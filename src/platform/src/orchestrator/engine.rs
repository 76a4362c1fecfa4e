//! The Orchestrator's engine: the serial queue as a state machine on the MPI event loop's thread.
//!
//! The engine owns the Modules Manager, the MPI sessions and the queue. The MPI server's handler hands it each
//! request on the loop's thread ([`Engine::submit`]); other threads (the Watcher, the signal thread) send
//! messages through the [`Orchestrator`](super::Orchestrator) handle, which wakes the loop. At the end of every
//! round of the loop ([`Engine::turn`]) the engine takes those in, runs what is due, and starts the next job when
//! none runs. A job that calls a module host writes the call to the host's connection and waits: the engine's
//! states are
//!
//! - **idle**: no job runs; nothing is queued (no timer unless one is due: an idle unload, a stopping host's
//!   SIGKILL, a session's expiry);
//! - **running a job** (a job is running): the job waits for its module call, whose host's answer
//!   comes as an event of the host's token ([`Engine::ready`]) or whose stage deadline is the loop's timer
//!   ([`Engine::deadline`]); meanwhile the loop goes on reading, queueing (merging duplicates, ordering by
//!   priority) and refusing with 503 past the backlog bound;
//! - **closing a session** in a host: an `MmiClose` queued by a closed or reclaimed session is sent between jobs,
//!   one at a time like any module call.
//!
//! Control messages are applied between jobs: a reload (SIGHUP) waits for the running job; a child's exit
//! (SIGCHLD) is taken at once (the manager's tick leaves the module of the running call alone: that call sees its
//! host's end as a hang-up or at its deadline). In-process modules answer within [`Engine::turn`] itself (no
//! thread, no isolation: see the manager's docs).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Registry, Token};

use super::job::{Outcome, Pending};
use super::{catalog, Answer, Inbox, Message, Queued, Waiter};
use crate::config::Config;
use crate::manager::{Finished, ManagerSettings, ModulesManager, Progress};
use crate::notify::Notifier;
use crate::queue::{Call, Queue};
use crate::sessions::Sessions;
use crate::shared::Shared;
use crate::watchdog::{self, Health, JOB_SLACK};

/// The first of the module hosts' tokens in the MPI loop's poll ([`osconfig_http::handler_token`]); module `i`
/// has `handler_token(FIRST_HOST_TOKEN + i)`.
const FIRST_HOST_TOKEN: usize = 0;

/// A job that waits for a module call, and who waits for its answer.
#[derive(Debug)]
pub(super) struct Running {
    waiters: Vec<Waiter>,
    pending: Pending,
}

/// The engine (see the module docs).
#[derive(Debug)]
pub struct Engine {
    pub(super) manager: ModulesManager,
    pub(super) config: Config,
    pub(super) sessions: crate::sessions::Sessions,
    queue: Queue<Queued>,
    /// No session expires before this (a lower bound: using a session only moves its expiry later).
    pub(super) reap_at: Option<Instant>,
    inbox: Arc<Inbox>,
    messages: Receiver<Message>,
    pub(super) shared: Arc<Shared>,
    /// The MIM catalog in force (also published in `shared` for the Watcher).
    pub(super) catalog: Arc<osconfig_mim::Catalog>,
    /// The job's time budget, for systemd's watchdog.
    health: Health,
    /// The job waiting for a module call.
    running: Option<Running>,
    /// A reload that waits for the running job.
    reload: Option<(Box<Config>, Box<ManagerSettings>)>,
    /// Stopping: nothing more runs.
    stopping: bool,
}

impl Engine {
    /// Starts the Modules Manager with `settings` (identifying the modules: this blocks until they answered or
    /// their call timeout passed), publishes the MIM catalog, tells systemd `READY=1` and starts the watchdog.
    pub(super) fn start(
        config: Config,
        settings: ManagerSettings,
        shared: Arc<Shared>,
        notifier: &Notifier,
        inbox: Arc<Inbox>,
        messages: Receiver<Message>,
    ) -> Engine {
        let started = Instant::now();
        let module_dirs = settings.module_dirs.clone();
        let manager = ModulesManager::start(settings);
        log::info!(
            "modules manager started in {} ms; components: {:?}",
            started.elapsed().as_millis(),
            manager.components()
        );
        let catalog = shared.set_catalog(catalog::load(&manager, &module_dirs));
        notifier.ready();
        let health = Health::default();
        watchdog::start(notifier, &health);
        Engine {
            manager,
            config,
            sessions: Sessions::default(),
            queue: Queue::default(),
            reap_at: None,
            inbox,
            messages,
            shared,
            catalog,
            health,
            running: None,
            reload: None,
            stopping: false,
        }
    }

    /// Queues a request of an MPI client (on the loop's thread); past the backlog bound it is answered 503.
    pub fn submit(&mut self, route: &'static str, body: Vec<u8>, call: Call, waiter: Waiter) {
        if let Some(queued) = self.inbox.admit(route, body.len(), waiter) {
            self.queue.push_from(None, route, body, call, queued, &self.config.priorities);
        }
    }

    /// Registers the hosts' connections with the MPI loop's poll.
    pub fn attach(&mut self, registry: &Registry) -> std::io::Result<()> {
        self.manager.attach(registry, osconfig_http::handler_token(FIRST_HOST_TOKEN).0)
    }

    /// An event of a host's connection.
    pub fn ready(&mut self, token: Token, _event: &Event) {
        if let Some(finished) = self.manager.ready(token) {
            self.finished(finished);
        }
    }

    /// Takes in what other threads sent, runs what is due and starts the next job when none runs.
    pub fn turn(&mut self, now: Instant) {
        self.take_messages();
        if self.stopping {
            return;
        }
        if let Some(finished) = self.manager.expire(now) {
            self.finished(finished);
        }
        self.housekeeping(now);
        self.run_queue();
    }

    /// When [`Engine::turn`] must run without an event: now when a job can start, else the earliest of the call
    /// in flight's deadline, the manager's next tick and the next session expiry (`None`: nothing is due).
    pub fn deadline(&self) -> Option<Instant> {
        if self.stopping {
            return None;
        }
        let idle = self.running.is_none() && !self.manager.busy();
        if idle && (!self.queue.is_empty() || self.manager.closes_pending() || self.reload.is_some()) {
            return Some(Instant::now());
        }
        [self.manager.deadline(), self.manager.next_tick(), self.reap_at].into_iter().flatten().min()
    }

    /// The loop has stopped: queued and running requests are dropped (answered 500 where a connection is left),
    /// sessions closed, hosts stopped.
    pub fn stopped(&mut self) {
        self.stop_queue();
        self.running = None;
        for client in self.sessions.drain() {
            self.manager.close_later(client);
        }
        self.manager.shutdown();
        log::info!("orchestrator stopped");
    }

    fn take_messages(&mut self) {
        loop {
            match self.messages.try_recv() {
                Ok(Message::Request { route, body, call, waiter, source }) => {
                    self.queue.push_from(source, route, body, call, waiter, &self.config.priorities);
                }
                Ok(Message::Reload { config, settings }) => self.reload = Some((config, settings)),
                Ok(Message::ChildExited) => {
                    // Cleared before the tick: an exit after this point sends a new notice.
                    self.inbox.child_exit_pending.store(false, Ordering::Release);
                    self.manager.tick(Instant::now());
                }
                Ok(Message::Stop) => {
                    self.stop_queue();
                    self.stopping = true;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    fn stop_queue(&mut self) {
        if !self.queue.is_empty() {
            log::info!("stopping with {} queued requests unanswered", self.queue.len());
        }
        self.queue.clear();
    }

    /// Starts jobs (and queued `MmiClose`s) until one waits for a host or the queue is empty.
    fn run_queue(&mut self) {
        while self.running.is_none() && !self.manager.busy() {
            if let Some((config, settings)) = self.reload.take() {
                self.apply_reload(*config, *settings);
            }
            match self.manager.next_close() {
                Some(Progress::Waiting) => return,
                Some(Progress::Done(_)) => continue,
                None => {}
            }
            let Some(job) = self.queue.pop() else { return };
            // Taken to run: the waiters no longer count in the backlog.
            let waiters: Vec<Waiter> = job.waiters.into_iter().map(|q| q.waiter).collect();
            self.health.busy(self.budget(&job.call));
            match self.start_job(job.call) {
                Outcome::Done(answer) => self.answer(waiters, &answer),
                Outcome::Wait(pending) => self.running = Some(Running { waiters, pending }),
            }
        }
    }

    /// A module call (or an `MmiClose`) finished: the waiting job goes on.
    fn finished(&mut self, finished: Finished) {
        let Finished::Call(result) = finished else { return };
        let Some(Running { waiters, pending }) = self.running.take() else {
            log::error!("a module call finished with no job waiting for it");
            return;
        };
        match self.resume_job(pending, result) {
            Outcome::Done(answer) => self.answer(waiters, &answer),
            Outcome::Wait(pending) => self.running = Some(Running { waiters, pending }),
        }
    }

    fn answer(&mut self, waiters: Vec<Waiter>, answer: &Answer) {
        self.health.idle();
        for waiter in waiters {
            waiter.answer(answer);
        }
    }

    fn apply_reload(&mut self, config: Config, settings: ManagerSettings) {
        self.config = config;
        self.reap_at = self.sessions.next_expiry(self.config.mpi_session_idle_timeout);
        let module_dirs = settings.module_dirs.clone();
        // Stopping hosts and identifying every module again: a call's deadline per module, and then some.
        let modules = self.manager.reports().len() as u32 + 1;
        self.health.busy(settings.call_timeout.saturating_mul(modules) + JOB_SLACK);
        self.manager.reload(settings);
        self.health.idle();
        self.catalog = self.shared.set_catalog(catalog::load(&self.manager, &module_dirs));
        log::info!("configuration reloaded; components: {:?}", self.manager.components());
    }

    /// How long `call` may take: each module call's deadline, plus [`JOB_SLACK`].
    fn budget(&self, call: &Call) -> Duration {
        let calls = match call {
            Call::Set(_) | Call::Get(_) => 1,
            Call::SetDesired(r) => r.objects.len(),
            Call::GetReported(_) => self.config.reported.len(),
            Call::Open(..) | Call::Close(_) | Call::Modules | Call::Status => 1,
        };
        self.config.module_call_timeout.saturating_mul(calls as u32) + JOB_SLACK
    }

    fn housekeeping(&mut self, now: Instant) {
        if self.manager.next_tick().is_some_and(|at| at <= now) {
            self.manager.tick(now);
        }
        if !self.reap_at.is_some_and(|at| at <= now) {
            return;
        }
        let idle = self.config.mpi_session_idle_timeout;
        let reaped = self.sessions.reap(now, idle);
        self.reap_at = self.sessions.next_expiry(idle);
        for client in reaped {
            log::info!("MPI session of client {client} unused for {} s; closed", idle.as_secs());
            self.manager.close_later(client);
        }
    }
}
