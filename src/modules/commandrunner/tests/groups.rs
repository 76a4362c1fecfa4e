//! The process groups of commands through the real C ABI: what happens to a running command when the process that
//! loaded the module exits, or dies.
//!
//! Each test runs this test binary again as a child process (`test_child_phase` with `CR_GROUPS_PHASE` set) whose
//! environment names a temporary root, so the environment of this process is never changed. Commands carry a
//! unique marker; leftover processes are found by scanning `/proc/*/cmdline` for it, and killed at the end.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use osconfig_mmi::loader::{Library, Session};
use osconfig_testkit::{
    kill_groups_with, processes_with, unique_marker, wait_no_process_with, wait_processes_with, ChildTest, TempRoot,
};
use serde_json::{json, Value};

const COMPONENT: &str = "CommandRunner";
const DESIRED: &str = "commandArguments";
const REPORTED: &str = "commandStatus";
const CLIENT: &str = "groups-test";

fn temp_dir(tag: &str) -> TempRoot {
    let dir = TempRoot::new(&format!("commandrunner-groups-{tag}"));
    fs::create_dir_all(dir.join("root")).unwrap();
    dir
}

fn run_child(phase: &str, dir: &Path, marker: &str) {
    run_child_ending(phase, dir, marker, true);
}

fn run_child_ending(phase: &str, dir: &Path, marker: &str, succeeds: bool) {
    let run = ChildTest::new("test_child_phase")
        .env("CR_GROUPS_PHASE", phase)
        .env("CR_MARKER", marker)
        .env("OSCONFIG_ROOT", dir.join("root"))
        .env("OSCONFIG_STATE_DIR", dir.join("state"))
        .env_remove("OSCONFIG_LOG_STDERR")
        .run();
    if succeeds {
        run.assert_passed();
    } else {
        assert!(!run.status.success(), "child phase {phase} should have died:\n{}", run.output);
        assert!(run.output.contains("1 passed (child dies)"), "child phase {phase} did not get far:\n{}", run.output);
    }
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

#[test]
fn test_exit_of_the_process_kills_running_command() {
    let dir = temp_dir("exit");
    let m = unique_marker("exit");
    run_child("run-then-exit", &dir, &m);
    let left = wait_no_process_with(&m, Duration::from_secs(10));
    kill_groups_with(&m);
    assert!(left.is_empty(), "the command outlived the process that ran it: {left:?}");
    let entry = &cache(&dir)[CLIENT][0];
    assert_eq!(
        (entry["commandId"].clone(), entry["resultCode"].clone(), entry["currentState"].clone()),
        (json!("long"), json!(-1), json!(3))
    );
    assert_eq!(fs::read_dir(dir.join("state/commandrunner-groups")).map(|d| d.count()).unwrap_or(0), 0);
}

#[test]
fn test_next_load_kills_group_left_by_a_crash() {
    let dir = temp_dir("crash");
    let m = unique_marker("crash");
    run_child_ending("run-then-crash", &dir, &m, false);
    // The child died by SIGKILL: nothing stopped its command.
    let left = processes_with(&m);
    assert!(!left.is_empty(), "the command should still run after the crash");
    let records: Vec<_> = fs::read_dir(dir.join("state/commandrunner-groups")).unwrap().flatten().collect();
    assert_eq!(records.len(), 1);
    run_child("open", &dir, &m);
    let left = wait_no_process_with(&m, Duration::from_secs(10));
    kill_groups_with(&m);
    assert!(left.is_empty(), "the next load did not kill the leftover group: {left:?}");
    assert_eq!(fs::read_dir(dir.join("state/commandrunner-groups")).unwrap().count(), 0);
}

#[test]
fn test_background_child_of_finished_command_is_left_alone() {
    let dir = temp_dir("nohup");
    let m = unique_marker("nohup");
    run_child("nohup", &dir, &m);
    std::thread::sleep(Duration::from_millis(200));
    let left = processes_with(&m);
    kill_groups_with(&m);
    assert_eq!(left.len(), 1, "the background child of a finished command was killed");
}

/// The child-process side; a no-op unless `CR_GROUPS_PHASE` is set.
#[test]
fn test_child_phase() {
    let Ok(phase) = std::env::var("CR_GROUPS_PHASE") else {
        return;
    };
    let m = std::env::var("CR_MARKER").unwrap();
    let lib = Library::load(osconfig_testkit::artifacts().module("commandrunner")).unwrap();
    let s = lib.open(CLIENT, 0).unwrap();
    match phase.as_str() {
        "run-then-exit" => {
            start(&s, "long", &format!("sleep 45; : {m}"), 5);
            wait_processes_with(&m, 1, Duration::from_secs(10));
            assert_eq!(status(&s)["currentState"], 1);
            // Return normally: the process exits with the command still running.
        }
        "run-then-crash" => {
            start(&s, "long", &format!("sleep 45; : {m}"), 0);
            wait_processes_with(&m, 1, Duration::from_secs(10));
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
            wait_processes_with(&m, 1, Duration::from_secs(10));
        }
        other => panic!("unknown phase {other}"),
    }
    drop(s);
    lib.unload().unwrap();
}
