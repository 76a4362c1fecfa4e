//! SIGTERM and SIGINT: blocked in every thread, taken synchronously by one thread that then stops the server.

use std::io;
use std::thread;

/// Blocks SIGINT and SIGTERM in the calling thread; threads started afterwards inherit the mask. Call it first,
/// before any thread exists (the module may start threads of its own when loaded). Returns the set.
pub fn block_termination() -> libc::sigset_t {
    // SAFETY: the set is initialised by sigemptyset before use; pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Starts a thread that waits for a signal of `set` (blocked by [`block_termination`]) and then runs `stop`.
pub fn on_termination(set: libc::sigset_t, stop: impl FnOnce() + Send + 'static) -> io::Result<()> {
    thread::Builder::new().name("signals".into()).spawn(move || {
        let mut signal = 0;
        // SAFETY: `set` is an initialised signal set and `signal` is valid for writes.
        let rc = unsafe { libc::sigwait(&set, &mut signal) };
        if rc == 0 {
            log::info!("signal {signal} received; stopping");
        } else {
            log::error!("sigwait failed ({rc}); stopping");
        }
        stop();
    })?;
    Ok(())
}
