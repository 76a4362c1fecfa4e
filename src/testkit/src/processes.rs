//! Finding the processes a test started indirectly (a module's commands, a platform's hosts) by a unique marker in
//! their command line, and killing what is left of them.

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How often the waits below look at `/proc`.
const SCAN_POLL: Duration = Duration::from_millis(20);

/// A marker unique to this test process and call, to put in a command line (`sleep 45; : <marker>`).
pub fn unique_marker(tag: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("marker-{tag}-{}-{n}-{nanos}", std::process::id())
}

/// Pids of the live (not zombie) processes whose command line contains `needle`, this process excluded.
pub fn processes_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if !zombie && String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// Waits until no process carries `needle` (at most `limit`); the pids still carrying it.
pub fn wait_no_process_with(needle: &str, limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_with(needle);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(SCAN_POLL);
    }
}

/// Waits until at least `count` processes carry `needle` (at most `limit`); panics when they do not appear.
pub fn wait_processes_with(needle: &str, count: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while processes_with(needle).len() < count {
        assert!(Instant::now() < deadline, "fewer than {count} processes with {needle} appeared");
        std::thread::sleep(SCAN_POLL);
    }
}

/// SIGKILLs the process groups of every process carrying `needle` (clean-up; so their children without the
/// marker go too).
pub fn kill_groups_with(needle: &str) {
    for pid in processes_with(needle) {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let pgrp = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(2)?.parse::<i32>().ok());
        if let Some(pgrp) = pgrp.filter(|&g| g > 1 && g != std::process::id() as i32) {
            // SAFETY: kill(2) of a process group a test started (found by its unique marker), never our own.
            unsafe { libc::kill(-pgrp, libc::SIGKILL) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChildGuard;
    use std::process::Command;

    #[test]
    fn test_processes_with_finds_and_kill_groups_with_ends() {
        let marker = unique_marker("unit");
        let mut guard =
            ChildGuard::spawn_group(Command::new("sh").args(["-c", &format!("sleep 30; : {marker}")])).unwrap();
        wait_processes_with(&marker, 1, Duration::from_secs(10));
        assert_eq!(processes_with(&marker), vec![guard.id()]);
        kill_groups_with(&marker);
        assert!(guard.wait_timeout(Duration::from_secs(10)).is_some());
        assert!(wait_no_process_with(&marker, Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn test_unique_marker_differs_per_call() {
        assert_ne!(unique_marker("a"), unique_marker("a"));
    }
}
