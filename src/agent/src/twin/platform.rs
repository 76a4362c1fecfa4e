//! The platform as the twin logic sees it: set and get objects over one MPI session, and notice when that session
//! is new (the platform restarted, or the session was lost), so that the held desired state is applied again.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use osconfig_rest::{CallError, MpiClient};

/// The client name the agent opens its MPI session with.
pub const CLIENT_NAME: &str = "osconfig-agent";
/// `MaxPayloadSizeBytes` of the session: the reference agent's bound on what goes through the twin.
pub const MAX_PAYLOAD_BYTES: usize = 4096;
/// Longest an MPI call may take (a module call has its own, shorter deadline in the platform).
pub const MPI_TIMEOUT: Duration = Duration::from_secs(60);
/// errno the platform answers for an unknown session (and for an unknown component or object).
const EINVAL: i32 = 22;

/// Why a call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// The platform (or the module) refused: the property failed (ack 400).
    Refused(String),
    /// The platform cannot be reached or the session was lost: the call is applied again once a session is open.
    Unavailable(String),
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlatformError::Refused(why) | PlatformError::Unavailable(why) => f.write_str(why),
        }
    }
}

/// What the twin logic needs from the platform.
pub trait Platform {
    /// `MpiSet`.
    fn set(&mut self, component: &str, object: &str, payload: &[u8]) -> Result<(), PlatformError>;
    /// `MpiGet`: the object's JSON text.
    fn get(&mut self, component: &str, object: &str) -> Result<Vec<u8>, PlatformError>;
    /// Opens a session when there is none; whether one is open now.
    fn ensure_session(&mut self) -> bool;
    /// Counts the sessions opened so far: a change means the platform lost what it was given before.
    fn generation(&self) -> u64;
    /// Checks that the session is still known (the platform may have restarted while nothing was asked of it),
    /// opening a new one when it is not or when there is none.
    fn check_session(&mut self);
}

/// The real platform over its MPI socket.
#[derive(Debug)]
pub struct MpiPlatform {
    socket: PathBuf,
    client: MpiClient,
    session: Option<String>,
    generation: u64,
    /// The last reason the platform was unavailable (logged once per change).
    down: Option<String>,
}

impl MpiPlatform {
    /// A platform at `socket`; no session until the first call.
    pub fn new(socket: impl Into<PathBuf>) -> MpiPlatform {
        let socket = socket.into();
        MpiPlatform {
            client: MpiClient::new(&socket).with_timeout(MPI_TIMEOUT),
            socket,
            session: None,
            generation: 0,
            down: None,
        }
    }

    /// Closes the session (at exit).
    pub fn close(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = self.client.close(&session);
        }
    }

    fn unavailable(&mut self, why: String) -> PlatformError {
        self.session = None;
        if self.down.as_deref() != Some(why.as_str()) {
            log::warn!("platform at {}: {why}; desired state is applied again once it answers", self.socket.display());
            self.down = Some(why.clone());
        }
        PlatformError::Unavailable(why)
    }

    fn session(&mut self) -> Result<String, PlatformError> {
        if let Some(session) = &self.session {
            return Ok(session.clone());
        }
        match self.client.open(CLIENT_NAME, MAX_PAYLOAD_BYTES as u32) {
            Ok(session) => {
                self.generation += 1;
                if self.generation > 1 {
                    log::info!("opened a new MPI session with the platform (it restarted or lost the previous one)");
                } else {
                    log::info!("opened an MPI session with the platform at {}", self.socket.display());
                }
                self.down = None;
                self.session = Some(session.clone());
                Ok(session)
            }
            Err(e) => Err(self.unavailable(format!("MpiOpen failed: {}", describe(&e)))),
        }
    }

    /// After an errno 22: whether the session itself is unknown (an empty `MpiSetDesired` costs no module call).
    fn session_lost(&mut self, session: &str) -> bool {
        matches!(self.client.set_desired(session, b"{}"), Err(CallError::Platform(EINVAL) | CallError::Transport(_)))
    }

    fn failed(&mut self, session: &str, e: CallError) -> PlatformError {
        match e {
            CallError::Transport(_) => self.unavailable(describe(&e)),
            CallError::Platform(EINVAL) if self.session_lost(session) => {
                let error = self.unavailable("the platform no longer knows the agent's MPI session".into());
                // Open the next one now: the new generation makes the twin logic apply its state again.
                let _ = self.session();
                error
            }
            e => PlatformError::Refused(describe(&e)),
        }
    }
}

fn describe(e: &CallError) -> String {
    match e {
        CallError::Transport(t) => format!("{e} ({})", crate::identity::ais::client_error_text(t)),
        e => e.to_string(),
    }
}

impl Platform for MpiPlatform {
    fn set(&mut self, component: &str, object: &str, payload: &[u8]) -> Result<(), PlatformError> {
        let session = self.session()?;
        self.client.set(&session, component, object, payload).map_err(|e| self.failed(&session, e))
    }

    fn get(&mut self, component: &str, object: &str) -> Result<Vec<u8>, PlatformError> {
        let session = self.session()?;
        self.client.get(&session, component, object).map_err(|e| self.failed(&session, e))
    }

    fn ensure_session(&mut self) -> bool {
        self.session().is_ok()
    }

    fn generation(&self) -> u64 {
        self.generation
    }

    fn check_session(&mut self) {
        if let Some(session) = self.session.clone() {
            if !self.session_lost(&session) {
                return;
            }
            let _ = self.unavailable("the platform no longer knows the agent's MPI session".into());
        }
        let _ = self.session();
    }
}
