//! Where recipe steps go: a loaded module behind one small trait, with two implementations.
//!
//! - [`inprocess::InProcess`]: the module is `dlopen`ed into this process (osconfig-mmi's loader) and driven on a
//!   worker thread, so a call that never returns is reported after the call timeout instead of hanging the run.
//! - [`host::Host`]: the module runs in its own `osconfig-modulehost` process, reached over the MMI REST API on a
//!   Unix socket (see `notes/mmi-rest.md`), exactly as the platform will reach it.

pub mod host;
pub mod inprocess;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use osconfig_mmi::{Errno, ModuleInfo};

/// The client name the runner opens its sessions with (`MmiGetInfo` and `MmiOpen`).
pub const CLIENT_NAME: &str = "osconfigctl";

/// Loads modules.
pub trait Backend {
    /// Load the module at `path` (absolute), check its `MmiGetInfo` and open one session (`MmiOpen(client, 0)`).
    fn load(&mut self, path: &Path) -> Result<Box<dyn Target>, TargetError>;
}

/// One loaded module with one open session.
pub trait Target {
    /// What the module said in `MmiGetInfo`.
    fn info(&self) -> &ModuleInfo;
    /// Where the module runs, for messages: `in-process`, `module host pid 1234`.
    fn location(&self) -> String;
    /// `MmiGet`: the reported object's JSON bytes.
    fn get(&mut self, component: &str, object: &str) -> Result<Vec<u8>, TargetError>;
    /// `MmiSet` with exactly these payload bytes.
    fn set(&mut self, component: &str, object: &str, payload: &[u8]) -> Result<(), TargetError>;
    /// `MmiClose`, then unload the module (or stop its host).
    fn unload(self: Box<Self>) -> Result<(), TargetError>;
}

/// Why a module could not be loaded or called.
#[derive(Debug)]
pub enum TargetError {
    /// The module answered the call with this errno (a result a recipe can expect).
    Module(Errno),
    /// The module could not be loaded, identified or opened; the text says why.
    Load(String),
    /// The module did not answer within the call timeout (it is left hung; later calls fail at once).
    Hung(Duration),
    /// The module host process or the connection to it failed; the text says why.
    Host(String),
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Module(_) => write!(f, "the module returned an error"),
            TargetError::Load(why) => write!(f, "cannot load the module: {why}"),
            TargetError::Hung(t) => write!(f, "the module did not answer within {} s", t.as_secs_f64()),
            TargetError::Host(why) => write!(f, "module host failure: {why}"),
        }
    }
}

impl std::error::Error for TargetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TargetError::Module(e) => Some(e),
            _ => None,
        }
    }
}

/// An error and its `source()` chain on one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// `Name major.minor.patch` for messages.
pub fn describe_info(info: &ModuleInfo) -> String {
    let (major, minor, patch, _) = info.version();
    format!("{} {major}.{minor}.{patch}", info.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_error_chain_joins_sources() {
        let e = TargetError::Module(Errno::EINVAL);
        assert_eq!(error_chain(&e), "the module returned an error: errno 22 (EINVAL)");
        assert_eq!(error_chain(&TargetError::Load("x".into())), "cannot load the module: x");
    }
}
