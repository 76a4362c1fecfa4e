//! [`ChildGuard`]: a child process a test started, stopped and reaped when the guard drops.

use std::io;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How often [`ChildGuard::wait_timeout`] polls.
const WAIT_POLL: Duration = Duration::from_millis(5);

/// A child process that never outlives its test: on drop (or [`ChildGuard::stop`]) it gets SIGTERM and, if it is
/// still running after the grace period ([`ChildGuard::with_grace`], none by default), SIGKILL; then it is reaped.
///
/// With [`ChildGuard::spawn_group`] the child leads a process group of its own and every signal goes to the whole
/// group, so what it started (a shell's commands) goes with it. A child that was reaped is never signalled again
/// (its pid may belong to another process by then).
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    exited: Option<ExitStatus>,
    grace: Duration,
    group: bool,
}

impl ChildGuard {
    /// Guards a child started elsewhere.
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard { child, exited: None, grace: Duration::ZERO, group: false }
    }

    /// Starts `command` and guards it.
    pub fn spawn(command: &mut Command) -> io::Result<ChildGuard> {
        Ok(ChildGuard::new(command.spawn()?))
    }

    /// Starts `command` as the leader of a new process group and guards the group.
    pub fn spawn_group(command: &mut Command) -> io::Result<ChildGuard> {
        use std::os::unix::process::CommandExt;
        let mut guard = ChildGuard::new(command.process_group(0).spawn()?);
        guard.group = true;
        Ok(guard)
    }

    /// Waits up to `grace` after SIGTERM before SIGKILL when stopping.
    pub fn with_grace(mut self, grace: Duration) -> ChildGuard {
        self.grace = grace;
        self
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child, for its pipes.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends `signal` to the child (or its group); `false` when it has been reaped or kill(2) fails.
    pub fn signal(&self, signal: i32) -> bool {
        if self.exited.is_some() {
            return false;
        }
        let pid = self.child.id() as libc::pid_t;
        let target = if self.group { -pid } else { pid };
        // SAFETY: kill(2) with the pid (or process group) of our own child, not yet reaped, so not reused.
        unsafe { libc::kill(target, signal) == 0 }
    }

    /// The exit status if the child has exited (reaping it), else `None`.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().unwrap_or_else(|e| panic!("waitpid({}): {e}", self.child.id()));
        }
        self.exited
    }

    /// Waits for the exit at most `limit`; the status, or `None` when still running.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(WAIT_POLL);
        }
    }

    /// SIGTERM, the grace period, SIGKILL, reap (see the type's docs); the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        if !self.grace.is_zero() {
            self.signal(libc::SIGTERM);
            if let Some(status) = self.wait_timeout(self.grace) {
                return status;
            }
        }
        self.signal(libc::SIGKILL);
        let status = self.child.wait().unwrap_or_else(|e| panic!("waitpid({}): {e}", self.child.id()));
        self.exited = Some(status);
        status
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.exited.is_none() {
            // No panic in drop: a failed wait leaves a zombie until the test process exits.
            if self.child.try_wait().ok().flatten().is_none() {
                if !self.grace.is_zero() {
                    self.signal(libc::SIGTERM);
                    let _ = self.wait_timeout_quiet(self.grace);
                }
                self.signal(libc::SIGKILL);
                let _ = self.child.wait();
            }
        }
    }
}

impl ChildGuard {
    /// [`ChildGuard::wait_timeout`] without panics (for drop).
    fn wait_timeout_quiet(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                return Some(status);
            }
            std::thread::sleep(WAIT_POLL);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn test_child_guard_drop_kills_and_reaps() {
        let guard = ChildGuard::spawn(Command::new("sleep").arg("30")).unwrap();
        let pid = guard.id();
        drop(guard);
        // Reaped: no such process (not even a zombie).
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn test_child_guard_stop_terms_first_with_grace() {
        let mut guard = ChildGuard::spawn(Command::new("sleep").arg("30")).unwrap().with_grace(Duration::from_secs(5));
        let status = guard.stop();
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert!(!guard.signal(0), "a reaped child is not signalled");
    }

    #[test]
    fn test_child_guard_group_takes_the_grandchildren() {
        let marker = format!("{}", 40_000 + std::process::id() % 10_000);
        let guard =
            ChildGuard::spawn_group(Command::new("sh").args(["-c", &format!("sleep {marker} & wait")])).unwrap();
        let pgid = guard.id();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(live_members(pgid), 2, "the shell and its sleep");
        drop(guard);
        // The sleep's parent is gone: whoever adopts it reaps it later, so count live members, not zombies.
        let deadline = Instant::now() + Duration::from_secs(5);
        while live_members(pgid) > 0 {
            assert!(Instant::now() < deadline, "the group's sleep outlived the guard");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Processes of group `pgid` that are not zombies.
    fn live_members(pgid: u32) -> usize {
        let stats = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok());
        stats
            .filter(|stat| {
                let fields: Vec<&str> = stat.rsplit_once(')').map_or(vec![], |(_, r)| r.split_whitespace().collect());
                fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
            })
            .count()
    }

    #[test]
    fn test_child_guard_wait_timeout_returns_exit() {
        let mut guard = ChildGuard::spawn(&mut Command::new("true")).unwrap();
        assert!(guard.wait_timeout(Duration::from_secs(10)).unwrap().success());
        assert!(guard.stop().success());
    }
}
