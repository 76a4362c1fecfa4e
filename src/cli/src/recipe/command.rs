//! `RunCommand` steps: `/bin/sh -c <command>` in its own process group, with a time limit.
//!
//! - stdin is `/dev/null`; stdout and stderr are collected (stdout first, then stderr).
//! - A command still running at the time limit is killed with its whole process group (SIGKILL).
//! - After the shell exits, its output is read for at most [`OUTPUT_GRACE`] more: a background child that keeps
//!   the output open (`daemon &`) is left running and its later output is not collected.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long output is still read after the shell exited.
pub const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandResult {
    /// The exit code; 128 + signal when killed by a signal; `None` when it ran past the time limit (killed).
    pub code: Option<i32>,
    /// stdout followed by stderr (lossy UTF-8).
    pub output: String,
}

/// Runs `command` through `/bin/sh -c`, killing it (and its process group) after `limit`.
pub fn run_shell(command: &str, limit: Duration) -> std::io::Result<CommandResult> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    // Readers send chunks as they come (`None` at end of file), so output written before the shell exited is kept
    // even when a background child holds the pipe open.
    let (tx, rx) = channel::<(usize, Option<Vec<u8>>)>();
    let mut readers = 0;
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
    ];
    for (index, pipe) in pipes.into_iter().enumerate() {
        if let Some(mut pipe) = pipe {
            let tx = tx.clone();
            readers += 1;
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if tx.send((index, Some(buf[..n].to_vec()))).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                let _ = tx.send((index, None));
            });
        }
    }
    drop(tx);
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait()? {
            break status.code().or_else(|| status.signal().map(|s| 128 + s));
        }
        if Instant::now() >= deadline {
            kill_group(child.id());
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut parts = [Vec::new(), Vec::new()];
    let read_until = Instant::now() + OUTPUT_GRACE;
    let mut open = readers;
    while open > 0 {
        match rx.recv_timeout(read_until.saturating_duration_since(Instant::now())) {
            Ok((index, Some(chunk))) => parts[index].extend_from_slice(&chunk),
            Ok((_, None)) => open -= 1,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        }
    }
    let mut output = String::from_utf8_lossy(&parts[0]).into_owned();
    output.push_str(&String::from_utf8_lossy(&parts[1]));
    Ok(CommandResult { code, output })
}

/// SIGKILL to the process group led by `pid`.
fn kill_group(pid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions. The group id is our own child's pid, which leads its
        // own group (process_group(0)) and is not reaped yet, so the id cannot have been reused.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(20);

    #[test]
    fn test_run_shell_exit_code_and_output() {
        let r = run_shell("echo out; echo err >&2; exit 3", LIMIT).unwrap();
        assert_eq!(r, CommandResult { code: Some(3), output: "out\nerr\n".to_string() });
    }

    #[test]
    fn test_run_shell_signal_is_128_plus() {
        assert_eq!(run_shell("kill -9 $$", LIMIT).unwrap().code, Some(137));
    }

    #[test]
    fn test_run_shell_time_limit_kills_group() {
        let dir = std::env::temp_dir().join(format!("osconfigctl-cmd-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("child.pid");
        let start = Instant::now();
        let command = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
        let r = run_shell(&command, Duration::from_millis(500)).unwrap();
        assert_eq!(r.code, None);
        assert!(start.elapsed() < Duration::from_secs(5));
        // The background sleep of the group is gone too (reaped by init once killed; give it a moment).
        let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
        std::thread::sleep(Duration::from_millis(200));
        let alive = std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ");
        assert!(!alive, "background child {pid} survived");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn test_run_shell_background_child_holding_output_does_not_block() {
        let start = Instant::now();
        let r = run_shell("echo first; sleep 5 &", LIMIT).unwrap();
        assert_eq!(r, CommandResult { code: Some(0), output: "first\n".to_string() });
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    }
}
