//! Signals without a signal thread: SIGTERM, SIGINT and SIGHUP are blocked and taken synchronously by the agent's
//! loop, whose pause between turns is a `sigtimedwait` (a signal ends the pause at once). SIGPIPE is ignored.

use std::time::Duration;

/// What a signal asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP: read `osconfig.json` again and reconnect.
    Reload,
}

/// The blocked signals.
#[derive(Debug)]
pub struct Signals {
    set: libc::sigset_t,
}

impl Signals {
    /// Blocks the signals in the calling thread (call before starting any thread; SIGPIPE is ignored too).
    pub fn block() -> Signals {
        Signals { set: osconfig_http::signals::block() }
    }

    /// Waits up to `timeout` for a signal.
    pub fn wait(&self, timeout: Duration) -> Option<Signal> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `set` is an initialised signal set, `ts` a valid timespec; a null siginfo pointer is allowed.
        let n = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &ts) };
        match n {
            libc::SIGTERM | libc::SIGINT => Some(Signal::Stop),
            libc::SIGHUP => Some(Signal::Reload),
            _ => None,
        }
    }
}
