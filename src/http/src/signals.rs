//! Signals for daemons built on this crate: SIGTERM, SIGINT and SIGHUP are blocked in every thread and taken
//! synchronously by one thread (`sigwait`), which turns them into [`Signal`] events, typically to call
//! [`ServerHandle::shutdown`](crate::ServerHandle::shutdown) or reload a configuration. A daemon that supervises
//! child processes may take SIGCHLD the same way ([`block_with_child_exits`], [`Signal::ChildExited`]): it learns
//! that a child ended when it does, with no timer to poll for it.
//!
//! ```no_run
//! use osconfig_http::signals::{self, Signal};
//! let mask = signals::block(); // first, before any thread starts
//! # let handle: osconfig_http::ServerHandle = unimplemented!();
//! signals::spawn(mask, move |signal| if signal == Signal::Stop { handle.shutdown() })?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::thread;

/// A signal the daemon acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop.
    Stop,
    /// SIGHUP: reload the configuration and rediscover modules.
    Reload,
    /// SIGCHLD (only with [`block_with_child_exits`]): at least one child process ended or stopped since the last
    /// one (the kernel merges pending SIGCHLDs: check every child, e.g. with `try_wait`).
    ChildExited,
}

/// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread; threads started afterwards inherit the mask, so call it
/// before starting any thread. SIGPIPE is ignored as well (a vanished client must not kill the daemon).
pub fn block() -> libc::sigset_t {
    // SAFETY: the set is initialised by sigemptyset before use; pthread_sigmask only reads it; setting SIGPIPE to
    // SIG_IGN installs no handler code.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        set
    }
}

/// [`block`], and SIGCHLD as well, so that [`spawn`]'s thread reports child exits as [`Signal::ChildExited`].
/// Children started with `std::process::Command` begin with an empty signal mask (the standard library resets
/// it), so they are not affected.
pub fn block_with_child_exits() -> libc::sigset_t {
    let mut set = block();
    // SAFETY: `set` was initialised by `block`; pthread_sigmask only reads it.
    unsafe {
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    set
}

/// Starts the thread that waits for the signals of `set` and calls `on_signal` for each; the thread ends after
/// the first [`Signal::Stop`].
pub fn spawn(set: libc::sigset_t, mut on_signal: impl FnMut(Signal) + Send + 'static) -> io::Result<()> {
    thread::Builder::new().name("signals".into()).spawn(move || loop {
        let mut number = 0;
        // SAFETY: `set` is an initialised signal set and `number` is valid for writes.
        let rc = unsafe { libc::sigwait(&set, &mut number) };
        let signal = match (rc, number) {
            (0, libc::SIGHUP) => Signal::Reload,
            (0, libc::SIGCHLD) => Signal::ChildExited,
            (0, _) => Signal::Stop,
            (rc, _) => {
                log::error!("sigwait failed ({rc}); stopping");
                Signal::Stop
            }
        };
        if signal == Signal::ChildExited {
            log::debug!("signal {number} received: {signal:?}");
        } else {
            log::info!("signal {number} received: {signal:?}");
        }
        on_signal(signal);
        if signal == Signal::Stop {
            return;
        }
    })?;
    Ok(())
}
