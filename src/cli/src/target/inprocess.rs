//! The in-process backend: `dlopen` the module into this process and call it on a worker thread.
//!
//! osconfig-mmi's [`Session`](osconfig_mmi::loader::Session) borrows its [`Library`], so the pair lives on the
//! stack of one worker thread per loaded module; the runner sends it requests over a channel and waits for each
//! answer at most the call timeout.
//! A module that hangs is reported as [`TargetError::Hung`] and abandoned (its thread stays blocked until the
//! process exits; it is never unloaded). A module that crashes takes this process with it: use the module host
//! backend for modules that may crash.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use osconfig_mmi::loader::Library;
use osconfig_mmi::{Errno, ModuleInfo};

use crate::target::{error_chain, Backend, Target, TargetError, CLIENT_NAME};

/// Loads modules into this process.
#[derive(Debug)]
pub struct InProcess {
    call_timeout: Duration,
}

impl InProcess {
    /// A backend whose calls (load, get, set, unload) wait at most `call_timeout` for the module.
    pub fn new(call_timeout: Duration) -> InProcess {
        InProcess { call_timeout }
    }
}

impl Backend for InProcess {
    fn load(&mut self, path: &Path) -> Result<Box<dyn Target>, TargetError> {
        let (request_tx, request_rx) = channel::<Request>();
        let (reply_tx, reply_rx) = channel::<Reply>();
        let module = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("osconfigctl-module".to_string())
            .spawn(move || serve(&module, &request_rx, &reply_tx))
            .map_err(|e| TargetError::Load(format!("cannot start the module thread: {e}")))?;
        let mut worker = Worker {
            path: path.to_path_buf(),
            requests: request_tx,
            replies: reply_rx,
            thread: Some(thread),
            call_timeout: self.call_timeout,
            hung: false,
        };
        match worker.wait()? {
            Reply::Loaded(Ok(info)) => Ok(Box::new(Loaded { worker, info })),
            Reply::Loaded(Err(why)) => {
                worker.join();
                Err(TargetError::Load(why))
            }
            other => Err(TargetError::Load(format!("unexpected answer from the module thread: {other:?}"))),
        }
    }
}

/// What the runner asks the module thread.
#[derive(Debug)]
enum Request {
    Get { component: String, object: String },
    Set { component: String, object: String, payload: Vec<u8> },
    Unload,
}

/// What the module thread answers.
#[derive(Debug)]
enum Reply {
    /// The load result: the module info, or why loading failed (the thread has ended then).
    Loaded(Result<ModuleInfo, String>),
    Got(Result<Vec<u8>, Errno>),
    Set(Result<(), Errno>),
    /// The unload result; the thread ends after sending it.
    Unloaded(Result<(), String>),
}

/// The module thread: load, identify, open, then serve requests until `Unload` (or until the runner goes away).
fn serve(path: &Path, requests: &Receiver<Request>, replies: &Sender<Reply>) {
    let lib = match Library::load(path) {
        Ok(lib) => lib,
        Err(e) => {
            let _ = replies.send(Reply::Loaded(Err(error_chain(&e))));
            return;
        }
    };
    let info = match lib.get_info(CLIENT_NAME) {
        Ok(info) => info,
        Err(e) => {
            let _ = replies.send(Reply::Loaded(Err(error_chain(&e))));
            return;
        }
    };
    let session = match lib.open(CLIENT_NAME, 0) {
        Ok(session) => session,
        Err(e) => {
            let _ = replies.send(Reply::Loaded(Err(format!("MmiOpen failed: {e}"))));
            return;
        }
    };
    if replies.send(Reply::Loaded(Ok(info))).is_err() {
        return;
    }
    while let Ok(request) = requests.recv() {
        let reply = match request {
            Request::Get { component, object } => Reply::Got(session.get(&component, &object)),
            Request::Set { component, object, payload } => Reply::Set(session.set(&component, &object, &payload)),
            Request::Unload => break,
        };
        if replies.send(reply).is_err() {
            break;
        }
    }
    drop(session);
    let result = lib.unload().map_err(|e| error_chain(&e));
    let _ = replies.send(Reply::Unloaded(result));
}

/// The runner's end of a module thread.
#[derive(Debug)]
struct Worker {
    path: PathBuf,
    requests: Sender<Request>,
    replies: Receiver<Reply>,
    thread: Option<JoinHandle<()>>,
    call_timeout: Duration,
    /// Set when a call timed out: the thread is stuck in the module and gets no more requests.
    hung: bool,
}

impl Worker {
    fn call(&mut self, request: Request) -> Result<Reply, TargetError> {
        if self.hung {
            return Err(TargetError::Hung(self.call_timeout));
        }
        self.requests.send(request).map_err(|_| self.thread_gone())?;
        self.wait()
    }

    fn wait(&mut self) -> Result<Reply, TargetError> {
        match self.replies.recv_timeout(self.call_timeout) {
            Ok(reply) => Ok(reply),
            Err(RecvTimeoutError::Timeout) => {
                self.hung = true;
                Err(TargetError::Hung(self.call_timeout))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.thread_gone()),
        }
    }

    /// The thread ended without answering: it panicked (a panic inside the loader, not in the module, which the
    /// SDK catches).
    fn thread_gone(&mut self) -> TargetError {
        let why = match self.thread.take().map(JoinHandle::join) {
            Some(Err(panic)) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".to_string()),
            _ => "it ended".to_string(),
        };
        TargetError::Load(format!("the thread driving {} stopped: {why}", self.path.display()))
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A module loaded in this process with one open session.
#[derive(Debug)]
struct Loaded {
    worker: Worker,
    info: ModuleInfo,
}

impl Target for Loaded {
    fn info(&self) -> &ModuleInfo {
        &self.info
    }

    fn location(&self) -> String {
        "in-process".to_string()
    }

    fn get(&mut self, component: &str, object: &str) -> Result<Vec<u8>, TargetError> {
        match self.worker.call(Request::Get { component: component.into(), object: object.into() })? {
            Reply::Got(result) => result.map_err(TargetError::Module),
            other => Err(TargetError::Load(format!("unexpected answer from the module thread: {other:?}"))),
        }
    }

    fn set(&mut self, component: &str, object: &str, payload: &[u8]) -> Result<(), TargetError> {
        let request = Request::Set { component: component.into(), object: object.into(), payload: payload.to_vec() };
        match self.worker.call(request)? {
            Reply::Set(result) => result.map_err(TargetError::Module),
            other => Err(TargetError::Load(format!("unexpected answer from the module thread: {other:?}"))),
        }
    }

    fn unload(mut self: Box<Self>) -> Result<(), TargetError> {
        match self.worker.call(Request::Unload)? {
            Reply::Unloaded(result) => {
                self.worker.join();
                result.map_err(TargetError::Load)
            }
            other => Err(TargetError::Load(format!("unexpected answer from the module thread: {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_load_missing_module_reports_dlerror() {
        let mut backend = InProcess::new(Duration::from_secs(10));
        let err = backend.load(Path::new("/nonexistent/osconfigctl-test.so")).err().expect("load must fail");
        let text = err.to_string();
        assert!(text.starts_with("cannot load the module: cannot load module /nonexistent"), "{text}");
    }

    #[test]
    fn test_load_library_without_mmi_names_symbol() {
        // The C library of the target this test runs on (under QEMU user mode the host's x86_64 one is visible too).
        let multiarch = match std::env::consts::ARCH {
            "x86_64" => "x86_64-linux-gnu",
            "aarch64" => "aarch64-linux-gnu",
            "arm" => "arm-linux-gnueabihf",
            _ => return,
        };
        let candidates = [format!("/lib/{multiarch}/libc.so.6"), format!("/usr/lib/{multiarch}/libc.so.6")];
        let Some(libc_path) = candidates.iter().find(|p| Path::new(p).exists()) else { return };
        let err = InProcess::new(Duration::from_secs(10)).load(Path::new(libc_path)).err().expect("load must fail");
        assert!(err.to_string().contains("MmiGetInfo"), "{err}");
    }
}
