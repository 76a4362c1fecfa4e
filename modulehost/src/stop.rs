//! SIGTERM and SIGINT without a thread: the host is one thread (its loop) plus whatever its module starts.
//!
//! A signal-handling thread costs every host a stack and a malloc arena (about 12 KiB resident each, BENCHMARKS.md
//! "Memory"); module hosts are one per module, so the host takes its stop signals with handlers instead:
//! - SIGTERM/SIGINT: the handler asks the loop to stop ([`ServerHandle::shutdown_from_signal_handler`]: atomics and
//!   a write to the loop's eventfd, all safe in a handler, nothing logged) and arms a one-shot timer of [`STOP_GRACE`] (`setitimer`).
//! - SIGALRM (the timer fired: the loop did not stop in time, because the module hangs in a call, while loading or
//!   in its first `MmiGetInfo`): the handler writes the reason to stderr, removes the socket file and ends the process
//!   with `_exit(6)` ([`EXIT_STOP_TIMEOUT`]). `_exit`, not `exit`: module code may still be running; `exit` would run
//!   the module's exit hooks and Rust's at-exit work against it. Only async-signal-safe calls (`write`, `unlink`,
//!   `_exit`), on data prepared before the handlers were installed.
//!
//! SIGHUP stays blocked (a module host has nothing to reload) and SIGPIPE ignored, as [`signals::block`] leaves
//! them. Handlers use `SA_RESTART`, so a module's blocking calls are not cut short by the stop signal; the loop retries
//! an interrupted wait. Programs a module starts get default dispositions back at `exec`.
//!
//! [`signals::block`]: osconfig_http::signals::block

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use osconfig_http::ServerHandle;

use super::error::EXIT_STOP_TIMEOUT;

/// How long after SIGTERM/SIGINT the host may take to stop on its own before the timer ends the process (code 6):
/// covers a module stuck in a call, while loading, or in its first `MmiGetInfo`.
pub const STOP_GRACE: Duration = Duration::from_millis(900);

/// What the handlers need, prepared before they are installed (a handler must not allocate).
struct Stopping {
    handle: ServerHandle,
    socket: CString,
}

static STOPPING: OnceLock<Stopping> = OnceLock::new();

/// The line written to stderr when the grace ran out (the tests and the journal look for it).
const HUNG_MESSAGE: &[u8] =
    b"osconfig-modulehost: still running 900 ms after the stop signal (the module hangs); exiting\n";

/// Installs the handlers for SIGTERM and SIGINT and unblocks them in the calling thread (threads started later
/// inherit that mask); call it once, after [`osconfig_http::signals::block`] and before any module code runs.
/// A stop signal that was pending while blocked is taken at once.
pub fn install(handle: ServerHandle, socket: &Path) -> io::Result<()> {
    let socket = CString::new(socket.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "socket path holds a NUL byte"))?;
    if STOPPING.set(Stopping { handle, socket }).is_err() {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, "stop handlers installed twice"));
    }
    // SAFETY: the sigaction structures are zeroed then filled; the handlers are `extern "C"` functions that only
    // call async-signal-safe functions and read STOPPING, which is set above and never changes again.
    unsafe {
        for (signal, handler) in [
            (libc::SIGALRM, on_timer as extern "C" fn(libc::c_int)),
            (libc::SIGTERM, on_stop as extern "C" fn(libc::c_int)),
            (libc::SIGINT, on_stop as extern "C" fn(libc::c_int)),
        ] {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGALRM);
        let rc = libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
    }
    Ok(())
}

/// SIGTERM/SIGINT: stop the loop, and end the process if it has not stopped [`STOP_GRACE`] later.
extern "C" fn on_stop(_signal: libc::c_int) {
    // No panic can start here: no allocation, no formatting, no unwrap.
    if let Some(stopping) = STOPPING.get() {
        stopping.handle.shutdown_from_signal_handler();
    }
    let grace = libc::itimerval {
        it_interval: libc::timeval { tv_sec: 0, tv_usec: 0 },
        it_value: libc::timeval { tv_sec: 0, tv_usec: STOP_GRACE.as_micros() as libc::suseconds_t },
    };
    // SAFETY: setitimer reads the struct above; a second stop signal re-arms the same timer (still a stop within
    // about STOP_GRACE of the last signal).
    unsafe { libc::setitimer(libc::ITIMER_REAL, &grace, std::ptr::null_mut()) };
}

/// SIGALRM: the grace ran out; say so, remove the socket file (so the next host starts cleanly), `_exit(6)`.
extern "C" fn on_timer(_signal: libc::c_int) {
    // SAFETY: write, unlink and _exit are async-signal-safe; the buffers are static or set before installing.
    unsafe {
        libc::write(2, HUNG_MESSAGE.as_ptr().cast(), HUNG_MESSAGE.len());
        if let Some(stopping) = STOPPING.get() {
            libc::unlink(stopping.socket.as_ptr());
        }
        libc::_exit(EXIT_STOP_TIMEOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_hung_message_names_the_grace_and_the_words_the_tests_look_for() {
        let text = std::str::from_utf8(HUNG_MESSAGE).unwrap();
        assert!(text.contains(&format!("{} ms", STOP_GRACE.as_millis())), "{text}");
        assert!(text.contains("still running") && text.contains("after the stop signal"), "{text}");
        assert!(STOP_GRACE < Duration::from_secs(1), "tv_usec must stay below one second");
    }
}
