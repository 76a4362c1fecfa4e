//! The process groups of commands through the real C ABI: what happens to a running command when the process that
//! loaded the module exits, or dies.
//!
//! Each test runs this test binary again as a child process (`test_child_phase` with `CR_GROUPS_PHASE` set) whose
//! environment names a temporary root, so the environment of this process is never changed. Commands carry a
//! unique marker; leftover processes are found by scanning `/proc/*/cmdline` for it, and killed at the end.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use osconfig_mmi::loader::{Library, Session};
use serde_json::{json, Value};

const COMPONENT: &str = "CommandRunner";
const DESIRED: &str = "commandArguments";
const REPORTED: &str = "commandStatus";
const CLIENT: &str = "groups-test";

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("osconfig-commandrunner-groups-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("root")).unwrap();
    dir
}

fn marker(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("marker-{tag}-{}-{nanos}", std::process::id())
}

/// Pids of the processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if !zombie && String::from_utf8_lossy(&cmdline).contains(marker) {
            pids.push(pid);
        }
    }
    pids
}

/// Wait until no process carries `marker` (at most `limit`); the pids left.
fn wait_none_with(marker: &str, limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_with(marker);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kill the process groups of the processes carrying `marker` (and so their children without it).
fn kill_all_with(marker: &str) {
    for pid in processes_with(marker) {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let pgrp = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(2)?.parse::<i32>().ok());
        if let Some(pgrp) = pgrp.filter(|&g| g > 1) {
            // SAFETY: kill(2) of a process group started by this test.
            unsafe { libc::kill(-pgrp, libc::SIGKILL) };
        }
    }
}

fn run_child(phase: &str, dir: &Path, marker: &str) {
    run_child_ending(phase, dir, marker, true);
}

fn run_child_ending(phase: &str, dir: &Path, marker: &str, succeeds: bool) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "test_child_phase", "--nocapture", "--test-threads=1"])
        .env("CR_GROUPS_PHASE", phase)
        .env("CR_MARKER", marker)
        .env("OSCONFIG_ROOT", dir.join("root"))
        .env("OSCONFIG_STATE_DIR", dir.join("state"))
        .env_remove("OSCONFIG_LOG_STDERR")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.success(), succeeds, "child phase {phase} ended with {}:\n{text}", out.status);
    assert!(text.contains("1 passed"), "child phase {phase} did not run:\n{text}");
}

fn cache(dir: &Path) -> Value {
    let path = dir.join("root/etc/osconfig/osconfig_commandrunner.cache");
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn status(s: &Session<'_>) -> Value {
    serde_json::from_slice(&s.get(COMPONENT, REPORTED).unwrap()).unwrap()
}

fn start(s: &Session<'_>, id: &str, cmd: &str, timeout: u64) {
    let payload = json!({"commandId": id, "arguments": cmd, "timeout": timeout, "action": 3}).to_string();
    s.set(COMPONENT, DESIRED, payload.as_bytes()).unwrap_or_else(|e| panic!("run {id}: {e}"));
}

fn wait_processes(marker: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with(marker).len() < n {
        assert!(Instant::now() < deadline, "the command's processes never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn test_exit_of_the_process_kills_running_command() {
    let dir = temp_dir("exit");
    let m = marker("exit");
    run_child("run-then-exit", &dir, &m);
    let left = wait_none_with(&m, Duration::from_secs(10));
    kill_all_with(&m);
    assert!(left.is_empty(), "the command outlived the process that ran it: {left:?}");
    let entry = &cache(&dir)[CLIENT][0];
    assert_eq!(
        (entry["commandId"].clone(), entry["resultCode"].clone(), entry["currentState"].clone()),
        (json!("long"), json!(-1), json!(3))
    );
    assert_eq!(fs::read_dir(dir.join("state/commandrunner-groups")).map(|d| d.count()).unwrap_or(0), 0);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn test_next_load_kills_group_left_by_a_crash() {
    let dir = temp_dir("crash");
    let m = marker("crash");
    run_child_ending("run-then-crash", &dir, &m, false);
    // The child died by SIGKILL: nothing stopped its command.
    let left = processes_with(&m);
    assert!(!left.is_empty(), "the command should still run after the crash");
    let records: Vec<_> = fs::read_dir(dir.join("state/commandrunner-groups")).unwrap().flatten().collect();
    assert_eq!(records.len(), 1);
    run_child("open", &dir, &m);
    let left = wait_none_with(&m, Duration::from_secs(10));
    kill_all_with(&m);
    assert!(left.is_empty(), "the next load did not kill the leftover group: {left:?}");
    assert_eq!(fs::read_dir(dir.join("state/commandrunner-groups")).unwrap().count(), 0);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn test_background_child_of_finished_command_is_left_alone() {
    let dir = temp_dir("nohup");
    let m = marker("nohup");
    run_child("nohup", &dir, &m);
    std::thread::sleep(Duration::from_millis(200));
    let left = processes_with(&m);
    kill_all_with(&m);
    assert_eq!(left.len(), 1, "the background child of a finished command was killed");
    fs::remove_dir_all(&dir).unwrap();
}

/// The child-process side; a no-op unless `CR_GROUPS_PHASE` is set.
#[test]
fn test_child_phase() {
    let Ok(phase) = std::env::var("CR_GROUPS_PHASE") else {
        return;
    };
    let m = std::env::var("CR_MARKER").unwrap();
    let lib = Library::load(osconfig_testkit::cdylib("commandrunner")).unwrap();
    let s = lib.open(CLIENT, 0).unwrap();
    match phase.as_str() {
        "run-then-exit" => {
            start(&s, "long", &format!("sleep 45; : {m}"), 5);
            wait_processes(&m, 1);
            assert_eq!(status(&s)["currentState"], 1);
            // Return normally: the process exits with the command still running.
        }
        "run-then-crash" => {
            start(&s, "long", &format!("sleep 45; : {m}"), 0);
            wait_processes(&m, 1);
            println!("test result: 1 passed (child dies)");
            // SAFETY: kill(2) of this very process, as a crash would end it.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
        "open" => {
            // Opening is enough: the leftovers are looked for at the first MmiOpen.
            assert_eq!(status(&s)["currentState"], 3);
        }
        "nohup" => {
            start(&s, "bg", &format!("nohup sh -c 'sleep 30; : {m}' >/dev/null 2>&1 & echo started"), 0);
            let deadline = Instant::now() + Duration::from_secs(10);
            while status(&s)["currentState"] == 1 {
                assert!(Instant::now() < deadline);
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(status(&s)["currentState"], 2);
            wait_processes(&m, 1);
        }
        other => panic!("unknown phase {other}"),
    }
    drop(s);
    lib.unload().unwrap();
}
