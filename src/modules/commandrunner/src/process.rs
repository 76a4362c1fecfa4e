//! Running one command line in its own process group, with timeout and cancellation.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::capture::{Capture, MAX_OUTPUT_BYTES};
use crate::groups::Group;
use crate::status::{State, RESULT_CANCELED, RESULT_INTERRUPTED, RESULT_TIMED_OUT};

/// The shell every command runs through (`/bin/sh -c <command line>`).
pub const SHELL: &str = "/bin/sh";

/// Time between SIGTERM and SIGKILL when a command is stopped (timeout, cancel).
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Time between SIGTERM and SIGKILL when the module stops (its host has 500 ms before the platform kills it).
pub const EXIT_GRACE: Duration = Duration::from_millis(100);

/// How long to wait for the output pipes to close after the shell exited (a background child may keep them open).
pub const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// Longest pause between two checks of a running child.
const MAX_POLL: Duration = Duration::from_millis(100);

/// Why a running command is asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// `cancelCommand`: stopped with [`KILL_GRACE`], reported canceled.
    Cancel,
    /// The module stops (its process exits): stopped with [`EXIT_GRACE`], reported interrupted.
    Interrupt,
}

/// A stop request a worker can sleep on.
#[derive(Debug, Default)]
pub struct Control {
    stop: Mutex<Option<Stop>>,
    wake: Condvar,
}

impl Control {
    /// Ask the command to stop (cancel); wakes the worker at once.
    pub fn cancel(&self) {
        self.request(Stop::Cancel);
    }

    /// Ask the command to stop because the module stops; wakes the worker at once. Overrides a cancel.
    pub fn interrupt(&self) {
        self.request(Stop::Interrupt);
    }

    fn request(&self, stop: Stop) {
        let mut s = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        if *s != Some(Stop::Interrupt) {
            *s = Some(stop);
        }
        drop(s);
        self.wake.notify_all();
    }

    /// Whether a stop was requested (cancel or interrupt).
    pub fn is_canceled(&self) -> bool {
        self.requested().is_some()
    }

    /// The stop requested, if any.
    pub fn requested(&self) -> Option<Stop> {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sleep up to `d` or until a stop is requested; returns whether one was.
    fn sleep(&self, d: Duration) -> bool {
        let guard = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_some() {
            return true;
        }
        match self.wake.wait_timeout(guard, d) {
            Ok((g, _)) => g.is_some(),
            Err(p) => p.into_inner().0.is_some(),
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
    /// Killed because the module stopped (its process exits).
    Interrupted,
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
            Ending::Interrupted => (State::Failed, RESULT_INTERRUPTED),
            Ending::NotStarted(errno, _) => (State::Failed, *errno),
        }
    }
}

/// Run `command_line` through `/bin/sh -c` in a new process group, stdin from /dev/null, stdout and stderr captured.
/// `started` is told the group as soon as it exists. Blocks until the shell ends, its `timeout` passes or `control`
/// asks to stop; in the last cases the whole process group gets SIGTERM, then SIGKILL after [`KILL_GRACE`]
/// ([`EXIT_GRACE`] for an interrupt). When the shell exits on its own, the group is left alone: background
/// children it started on purpose (`nohup x &`) go on.
pub fn run(command_line: &str, timeout: Option<Duration>, control: &Control, started: impl FnOnce(Group)) -> Outcome {
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
    started(Group::led_by(pgid));
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
        signal_group(pgid, libc::SIGKILL);
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
                stop_group(child, pgid, KILL_GRACE);
                return Ending::Exited(-1);
            }
        }
        match control.requested() {
            Some(Stop::Cancel) => {
                stop_group(child, pgid, KILL_GRACE);
                return Ending::Canceled;
            }
            Some(Stop::Interrupt) => {
                stop_group(child, pgid, EXIT_GRACE);
                return Ending::Interrupted;
            }
            None => {}
        }
        let now = Instant::now();
        if let Some(d) = deadline {
            if now >= d {
                stop_group(child, pgid, KILL_GRACE);
                return Ending::TimedOut;
            }
            pause = pause.min(d - now);
        }
        control.sleep(pause);
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// SIGTERM the group, wait up to `grace` for the shell, then SIGKILL the group; reap the shell.
fn stop_group(child: &mut Child, pgid: u32, grace: Duration) {
    signal_group(pgid, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            // The shell is gone; stragglers in the group that ignored SIGTERM get SIGKILL.
            signal_group(pgid, libc::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    signal_group(pgid, libc::SIGKILL);
    if let Err(e) = child.wait() {
        log::error!("reaping command (pid {pgid}): {e}");
    }
}

/// Send `signal` to process group `pgid` (a group that is already empty is not an error).
fn signal_group(pgid: u32, signal: i32) {
    if let Err(e) = (Group { pgid, start_time: None }).signal(signal) {
        if e.raw_os_error() != Some(libc::ESRCH) {
            log::error!("cannot signal process group {pgid}: {e}");
        }
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
        run(cmd, timeout, &Control::default(), |_| {})
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
        let t = std::thread::spawn(move || run("sleep 30", None, &c2, |_| {}));
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        control.cancel();
        let o = t.join().unwrap();
        assert_eq!(o.ending, Ending::Canceled);
        assert_eq!(o.state_and_code(), (State::Canceled, 125));
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn test_run_interrupt_stops_group_within_exit_grace() {
        let control = Arc::new(Control::default());
        let c2 = Arc::clone(&control);
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || run("(trap '' TERM; sleep 30) & wait", None, &c2, |g| tx.send(g).unwrap()));
        let group = rx.recv().unwrap();
        assert!(group.start_time.is_some() && group.leader_runs());
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        control.cancel();
        control.interrupt();
        let o = t.join().unwrap();
        assert_eq!(o.ending, Ending::Interrupted);
        assert_eq!(o.state_and_code(), (State::Failed, -1));
        assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
        assert!(!group.leader_runs());
        // Orphans killed with the group are reaped by init soon after.
        let deadline = Instant::now() + Duration::from_secs(2);
        while group.signal(0).is_ok() {
            assert!(Instant::now() < deadline, "a process of the group is left");
            std::thread::sleep(Duration::from_millis(10));
        }
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
