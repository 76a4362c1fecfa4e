//! The hosted module: the loaded library, its sessions, and the execution of one MMI call.
//!
//! Calls run on the HTTP loop's own thread, one after another. Why not a thread of their own (as the platform's
//! orchestrator does): a host serves one module whose calls are serialized anyway, so a second thread adds two
//! thread hand-offs to every call and buys nothing but answering 400/404 while a call hangs. A module that hangs
//! blocks only its own host; the platform kills a host that misses its call deadline, and SIGTERM still ends the
//! process within [`crate::STOP_GRACE`] through the stop handlers' timer (exit 6, see [`crate::stop`]). This
//! knowingly departs from the `osconfig_http` rule that a handler must not block: here the handler's work *is* the
//! module call.

use osconfig_mmi::loader::{LoadError, LoadedModule};
use osconfig_mmi::Errno;
use osconfig_rest::wire::json_string;
use osconfig_rest::{CloseRequest, GetInfoRequest, GetRequest, OpenRequest, SetRequest};

use crate::reply::Outcome;
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

/// The module and its sessions, owned by the loop's handler. Dropping it closes every session and unloads the
/// module.
#[derive(Debug)]
pub struct HostedModule {
    sessions: Sessions,
}

impl HostedModule {
    /// Takes the loaded module.
    pub fn new(module: LoadedModule) -> HostedModule {
        HostedModule { sessions: Sessions::new(module) }
    }

    /// Runs one call.
    pub fn call(&mut self, call: Call) -> Outcome {
        match call {
            Call::GetInfo(r) => self.sessions.module().get_info_raw(&r.client_name).map_err(|e| {
                log::error!("MmiGetInfo for {:?}: {e}", r.client_name);
                match e {
                    LoadError::GetInfo(errno) => errno,
                    LoadError::BadClientName => Errno::EINVAL,
                    // MMI_OK without a payload: the module broke the contract.
                    _ => Errno::EPROTO,
                }
            }),
            Call::Open(r) => {
                self.sessions.open(&r.client_name, r.max_payload_size_bytes).map(|id| json_string(&id).into_bytes())
            }
            Call::Close(r) => {
                if !self.sessions.close(&r.client_session) {
                    log::debug!("MmiClose of an unknown session");
                }
                Ok(Vec::new())
            }
            Call::Set(r) => self
                .sessions
                .set(&r.client_session, &r.component_name, &r.object_name, r.payload.get().as_bytes())
                .map(|()| Vec::new()),
            Call::Get(r) => self.sessions.get(&r.client_session, &r.component_name, &r.object_name),
        }
    }
}
