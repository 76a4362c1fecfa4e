//! The module thread: the one thread that calls into the module.
//!
//! Why a thread of its own rather than calling the module inside the HTTP handler:
//! - the HTTP loop's handler must not block (osconfig-http's contract): with the module on its own thread the loop
//!   keeps accepting connections and answers 400/404 while a module call runs;
//! - loader sessions borrow the `Library` and are not `Send`, so the library and its sessions must live together
//!   on one thread; this thread owns both, and calls reach the module one at a time, in arrival order (modules
//!   are not required to be thread-safe);
//! - at shutdown the host can stop waiting for a module that hangs (exit code 6) instead of hanging with it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use osconfig_http::Responder;
use osconfig_mmi::loader::{Library, LoadError};
use osconfig_mmi::Errno;
use osconfig_mpi::wire::json_string;
use osconfig_mpi::{CloseRequest, GetInfoRequest, GetRequest, OpenRequest, SetRequest};

use crate::reply::{self, Outcome};
use crate::sessions::Sessions;

/// One MMI call, its body already parsed.
#[derive(Debug)]
pub enum Call {
    /// `MmiGetInfo`.
    GetInfo(GetInfoRequest),
    /// `MmiOpen`.
    Open(OpenRequest),
    /// `MmiClose`.
    Close(CloseRequest),
    /// `MmiSet`.
    Set(SetRequest),
    /// `MmiGet`.
    Get(GetRequest),
}

#[derive(Debug)]
struct Job {
    call: Call,
    responder: Responder,
}

/// The sending side, cloned into the HTTP handler.
#[derive(Clone, Debug)]
pub struct ModuleLink {
    jobs: Sender<Job>,
}

impl ModuleLink {
    /// Queues a call; the module thread answers through `responder`.
    pub fn submit(&self, call: Call, responder: Responder) {
        if let Err(mpsc::SendError(job)) = self.jobs.send(Job { call, responder }) {
            log::error!("the module thread is gone; answering EIO");
            job.responder.respond(reply::outcome(Err(Errno::EIO)));
        }
    }
}

/// The running module thread.
#[derive(Debug)]
pub struct ModuleThread {
    link: ModuleLink,
    stopping: Arc<AtomicBool>,
    done: Receiver<()>,
}

impl ModuleThread {
    /// Starts the thread; it owns `library` from now on and unloads it when it stops.
    pub fn start(library: Library) -> std::io::Result<ModuleThread> {
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopping);
        thread::Builder::new().name("module".into()).spawn(move || {
            serve(&library, &jobs_rx, &flag);
            if let Err(e) = library.unload() {
                log::error!("{e}");
            }
            let _ = done_tx.send(());
        })?;
        Ok(ModuleThread { link: ModuleLink { jobs: jobs_tx }, stopping, done: done_rx })
    }

    /// A sender for the HTTP handler.
    pub fn link(&self) -> ModuleLink {
        self.link.clone()
    }

    /// Stops the thread once every [`ModuleLink`] is dropped: calls still queued are dropped unanswered, the
    /// current one finishes, every session is closed and the module unloaded. `false` if that did not happen
    /// within `timeout` (a module call hangs).
    pub fn stop(self, timeout: Duration) -> bool {
        self.stopping.store(true, Ordering::Release);
        drop(self.link);
        match self.done.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => false,
        }
    }
}

fn serve(library: &Library, jobs: &Receiver<Job>, stopping: &AtomicBool) {
    let mut sessions = Sessions::new(library);
    for Job { call, responder } in jobs.iter() {
        if stopping.load(Ordering::Acquire) {
            continue;
        }
        responder.respond(reply::outcome(execute(library, &mut sessions, call)));
    }
    sessions.close_all();
}

fn execute(library: &Library, sessions: &mut Sessions<'_>, call: Call) -> Outcome {
    match call {
        Call::GetInfo(r) => match library.get_info_raw(&r.client_name) {
            Ok(raw) => Ok(raw),
            Err(e) => {
                log::error!("MmiGetInfo for {:?}: {e}", r.client_name);
                Err(match e {
                    LoadError::GetInfo(errno) => errno,
                    LoadError::BadClientName => Errno::EINVAL,
                    // MMI_OK without a payload: the module broke the contract.
                    _ => Errno::EPROTO,
                })
            }
        },
        Call::Open(r) => {
            sessions.open(&r.client_name, r.max_payload_size_bytes).map(|id| json_string(&id).into_bytes())
        }
        Call::Close(r) => {
            if !sessions.close(&r.client_session) {
                log::debug!("MmiClose of an unknown session");
            }
            Ok(Vec::new())
        }
        Call::Set(r) => {
            let session = sessions.get(&r.client_session).ok_or_else(unknown_session)?;
            session.set(&r.component_name, &r.object_name, r.payload.get().as_bytes()).map(|()| Vec::new())
        }
        Call::Get(r) => {
            let session = sessions.get(&r.client_session).ok_or_else(unknown_session)?;
            session.get(&r.component_name, &r.object_name)
        }
    }
}

fn unknown_session() -> Errno {
    log::debug!("call on an unknown session");
    Errno::EINVAL
}
