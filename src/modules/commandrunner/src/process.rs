//! Running one command line in its own process group, with timeout and cancellation.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::capture::{Capture, MAX_OUTPUT_BYTES};
use crate::status::{State, RESULT_CANCELED, RESULT_TIMED_OUT};

/// The shell every command runs through (`/bin/sh -c <command line>`).
pub const SHELL: &str = "/bin/sh";

/// Time between SIGTERM and SIGKILL when a command is stopped.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// How long to wait for the output pipes to close after the shell exited (a background child may keep them open).
pub const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// Longest pause between two checks of a running child.
const MAX_POLL: Duration = Duration::from_millis(100);

const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

/// A cancellation flag a worker can sleep on.
#[derive(Debug, Default)]
pub struct Control {
    canceled: Mutex<bool>,
    wake: Condvar,
}

impl Control {
    /// Ask the command to stop; wakes the worker at once.
    pub fn cancel(&self) {
        *self.canceled.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }

    /// Whether [`Control::cancel`] was called.
    pub fn is_canceled(&self) -> bool {
        *self.canceled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleep up to `d` or until cancelled; returns whether cancelled.
    fn sleep(&self, d: Duration) -> bool {
        let guard = self.canceled.lock().unwrap_or_else(|p| p.into_inner());
        if *guard {
            return true;
        }
        match self.wake.wait_timeout(guard, d) {
            Ok((g, _)) => *g,
            Err(p) => *p.into_inner().0,
        }
    }
}

/// How a command ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The shell exited with this code (128 + signal number if a signal we did not send killed it).
    Exited(i64),
    /// Killed after its timeout.
    TimedOut,
    /// Killed on request.
    Canceled,
    /// The shell could not be started: the errno (or 0 if unknown) and the error text.
    NotStarted(i64, String),
}

/// The end of a command and its output.
#[derive(Debug)]
pub struct Outcome {
    /// How it ended.
    pub ending: Ending,
    /// stdout and stderr (interleaved in arrival order), at most [`MAX_OUTPUT_BYTES`], invalid UTF-8 replaced.
    pub output: String,
}

impl Outcome {
    /// `currentState` and `resultCode` for this outcome.
    pub fn state_and_code(&self) -> (State, i64) {
        match &self.ending {
            Ending::Exited(0) => (State::Succeeded, 0),
            Ending::Exited(code) => (State::Failed, *code),
            Ending::TimedOut => (State::TimedOut, RESULT_TIMED_OUT),
            Ending::Canceled => (State::Canceled, RESULT_CANCELED),
            Ending::NotStarted(errno, _) => (State::Failed, *errno),
        }
    }
}

/// Run `command_line` through `/bin/sh -c` in a new process group, stdin from /dev/null, stdout and stderr captured.
/// Blocks until it ends, its `timeout` passes or `control` is cancelled; in the last two cases the whole process
/// group gets SIGTERM, then SIGKILL after [`KILL_GRACE`].
pub fn run(command_line: &str, timeout: Option<Duration>, control: &Control) -> Outcome {
    let mut child = match Command::new(SHELL)
        .arg("-c")
        .arg(command_line)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let errno = e.raw_os_error().map_or(0, i64::from);
            let text = format!("cannot start {SHELL}: {e}");
            log::error!("{text}");
            return Outcome { ending: Ending::NotStarted(errno, text.clone()), output: text };
        }
    };
    let pgid = child.id();
    let capture = Capture::new(MAX_OUTPUT_BYTES);
    if let Some(out) = child.stdout.take() {
        capture.spawn_reader(out);
    }
    if let Some(err) = child.stderr.take() {
        capture.spawn_reader(err);
    }
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let ending = supervise(&mut child, pgid, deadline, control);
    if !capture.wait_closed(OUTPUT_GRACE) && !matches!(ending, Ending::Exited(_)) {
        // Stopped by us but something in the group still holds the pipes: make sure it is gone.
        signal_group(pgid, SIGKILL);
        capture.wait_closed(OUTPUT_GRACE);
    }
    let (output, dropped) = capture.text();
    if dropped > 0 {
        log::info!("command output over {MAX_OUTPUT_BYTES} bytes: {dropped} bytes dropped");
    }
    Outcome { ending, output }
}

/// Wait for the child, stopping its group on timeout or cancel.
fn supervise(child: &mut Child, pgid: u32, deadline: Option<Instant>, control: &Control) -> Ending {
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ending::Exited(exit_code(status)),
            Ok(None) => {}
            Err(e) => {
                log::error!("waiting for command (pid {pgid}): {e}");
                stop_group(child, pgid);
                return Ending::Exited(-1);
            }
        }
        if control.is_canceled() {
            stop_group(child, pgid);
            return Ending::Canceled;
        }
        let now = Instant::now();
        if let Some(d) = deadline {
            if now >= d {
                stop_group(child, pgid);
                return Ending::TimedOut;
            }
            pause = pause.min(d - now);
        }
        control.sleep(pause);
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// SIGTERM the group, wait up to [`KILL_GRACE`] for the shell, then SIGKILL the group; reap the shell.
fn stop_group(child: &mut Child, pgid: u32) {
    signal_group(pgid, SIGTERM);
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // The shell is gone; stragglers in the group that ignored SIGTERM get SIGKILL.
            signal_group(pgid, SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    signal_group(pgid, SIGKILL);
    if let Err(e) = child.wait() {
        log::error!("reaping command (pid {pgid}): {e}");
    }
}

/// Send `signal` to process group `pgid` through the shell's `kill` builtin (keeps this crate free of `unsafe`).
fn signal_group(pgid: u32, signal: i32) {
    let result = Command::new(SHELL)
        .args(["-c", "kill -\"$1\" -\"$2\"", "kill", &signal.to_string(), &pgid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = result {
        log::error!("cannot signal process group {pgid}: {e}");
    }
}

/// The exit code, or 128 + signal number like a shell reports it.
fn exit_code(status: ExitStatus) -> i64 {
    match (status.code(), status.signal()) {
        (Some(c), _) => i64::from(c),
        (None, Some(s)) => 128 + i64::from(s),
        (None, None) => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn run_plain(cmd: &str, timeout: Option<Duration>) -> Outcome {
        run(cmd, timeout, &Control::default())
    }

    #[test]
    fn test_run_success_captures_stdout_and_stderr() {
        let o = run_plain("echo out; echo err >&2", None);
        assert_eq!(o.ending, Ending::Exited(0));
        assert!(o.output.contains("out\n") && o.output.contains("err\n"), "{:?}", o.output);
        assert_eq!(o.state_and_code(), (State::Succeeded, 0));
    }

    #[test]
    fn test_run_exit_code_is_failure() {
        let o = run_plain("echo x; exit 3", None);
        assert_eq!(o.ending, Ending::Exited(3));
        assert_eq!(o.state_and_code(), (State::Failed, 3));
    }

    #[test]
    fn test_run_killed_by_foreign_signal_reports_128_plus() {
        let o = run_plain("kill -9 $$", None);
        assert_eq!(o.ending, Ending::Exited(137));
    }

    #[test]
    fn test_run_timeout_kills_whole_group() {
        let dir = std::env::temp_dir().join(format!("cr-proc-timeout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("late");
        // A grandchild that ignores SIGTERM would write the marker after 3 s if it survived.
        let cmd = format!("(trap '' TERM; sleep 3; touch {}) & echo started; wait", marker.display());
        let start = Instant::now();
        let o = run_plain(&cmd, Some(Duration::from_millis(300)));
        assert_eq!(o.ending, Ending::TimedOut);
        assert_eq!(o.state_and_code(), (State::TimedOut, 62));
        assert!(o.output.contains("started"));
        assert!(start.elapsed() < Duration::from_secs(3) + KILL_GRACE);
        std::thread::sleep(Duration::from_millis(3500).saturating_sub(start.elapsed()));
        assert!(!marker.exists(), "grandchild survived the group kill");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_run_cancel_stops_at_once() {
        let control = Arc::new(Control::default());
        let c2 = Arc::clone(&control);
        let t = std::thread::spawn(move || run("sleep 30", None, &c2));
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        control.cancel();
        let o = t.join().unwrap();
        assert_eq!(o.ending, Ending::Canceled);
        assert_eq!(o.state_and_code(), (State::Canceled, 125));
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn test_run_large_output_is_bounded_and_does_not_block() {
        let o = run_plain("head -c 1000000 /dev/zero | tr '\\0' x", Some(Duration::from_secs(20)));
        assert_eq!(o.ending, Ending::Exited(0));
        assert_eq!(o.output.len(), MAX_OUTPUT_BYTES);
    }

    #[test]
    fn test_run_background_child_holding_pipe_does_not_hang() {
        let start = Instant::now();
        let o = run_plain("sleep 5 & echo done", None);
        assert_eq!(o.ending, Ending::Exited(0));
        assert!(o.output.contains("done"));
        assert!(start.elapsed() < Duration::from_secs(3));
    }
}
