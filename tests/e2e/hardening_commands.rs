//! Hardening of CommandRunner's processes and of the modules' input bounds, end to end: the real platform with real
//! module hosts in a temporary root. Every command carries a unique marker; leftovers are found by scanning
//! `/proc/*/cmdline` for it, and every test kills what it finds before it ends.

mod common;

use std::time::{Duration, Instant};

use common::Platform;
use common::{wait_process_with, Options};
use osconfig_rest::{CallError, MpiClient};
use osconfig_testkit::{kill_groups_with, processes_with, unique_marker, wait_no_process_with};
use serde_json::{json, Value};

const CR: &str = "CommandRunner";
const DESIRED: &str = "commandArguments";
const REPORTED: &str = "commandStatus";

fn start(tag: &str, modules: Vec<&'static str>) -> Platform {
    Platform::start(tag, Options { modules, ..Options::default() })
}

fn run(client: &mut MpiClient, session: &str, id: &str, command: &str, timeout: u64) {
    let payload = json!({"commandId": id, "arguments": command, "timeout": timeout, "action": 3}).to_string();
    client.set(session, CR, DESIRED, payload.as_bytes()).unwrap_or_else(|e| panic!("run {id}: {e}"));
}

fn status(client: &mut MpiClient, session: &str) -> Result<Value, CallError> {
    client.get(session, CR, REPORTED).map(|b| serde_json::from_slice(&b).unwrap())
}

/// Polls `commandStatus` (retrying while a restarted host comes up) until `ready` says yes (at most 15 s).
fn wait_status(client: &mut MpiClient, session: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let last = status(client, session);
        if let Ok(v) = &last {
            if ready(v) {
                return v.clone();
            }
        }
        assert!(Instant::now() < deadline, "status never ready: {last:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills what the test left, then fails with `message` if `left` is not empty.
fn assert_none_left(marker: &str, left: Vec<u32>, message: &str) {
    kill_groups_with(marker);
    assert!(left.is_empty(), "{message}: {left:?}");
}

fn command_outliving_platform_signal_is_killed(tag: &str, signal: i32) {
    let mut platform = start(tag, vec!["commandrunner"]);
    let mut client = platform.client();
    let session = client.open(tag, 0).unwrap();
    let marker = unique_marker(tag);
    run(&mut client, &session, "long", &format!("sleep 45; : {marker}"), 5);
    wait_process_with(&marker);
    platform.signal(signal);
    if signal == libc::SIGTERM {
        assert!(platform.wait_exit(Duration::from_secs(5)).is_some(), "platform did not stop");
    }
    let left = wait_no_process_with(&marker, Duration::from_secs(3));
    if signal == libc::SIGHUP && left.is_empty() {
        // The reloaded platform serves the client again: the command is reported interrupted.
        let v = wait_status(&mut client, &session, |v| v["commandId"] == "long");
        assert_eq!((v["resultCode"].clone(), v["currentState"].clone()), (json!(-1), json!(3)), "{v}");
    }
    assert_none_left(&marker, left, "the command outlived its host");
}

#[test]
fn test_platform_sigterm_kills_running_command() {
    command_outliving_platform_signal_is_killed("cr-sigterm", libc::SIGTERM);
}

#[test]
fn test_platform_sighup_kills_running_command() {
    command_outliving_platform_signal_is_killed("cr-sighup", libc::SIGHUP);
}

#[test]
fn test_timeout_kills_the_whole_group() {
    let platform = start("cr-timeout", vec!["commandrunner"]);
    let mut client = platform.client();
    let session = client.open("timeout", 0).unwrap();
    let marker = unique_marker("timeout");
    // The grandchild carries the marker too: `sh -c '…'` forks a subshell for `( … ) &`.
    run(&mut client, &session, "t", &format!("sh -c '(sleep 45; : {marker}) & wait'; : {marker}"), 1);
    wait_process_with(&marker);
    let v = wait_status(&mut client, &session, |v| v["commandId"] == "t" && v["currentState"] != 1);
    assert_eq!((v["resultCode"].clone(), v["currentState"].clone()), (json!(62), json!(4)), "{v}");
    let left = wait_no_process_with(&marker, Duration::from_secs(2));
    assert_none_left(&marker, left, "a child of a timed-out command survived");
}

#[test]
fn test_restarted_module_kills_group_left_by_a_killed_host() {
    let platform = start("cr-crash", vec!["commandrunner"]);
    let mut client = platform.client();
    let session = client.open("crash", 0).unwrap();
    let marker = unique_marker("crash");
    run(&mut client, &session, "orphan", &format!("sleep 45; : {marker}"), 0);
    wait_process_with(&marker);
    // The host records the running group just after starting it: a crash before that record leaves nothing for
    // the next load to find (a window of microseconds on a quiet machine, wider under load). Wait for the record
    // itself, not only the temporary file of its atomic write (a crash between the two is the unit tests' case).
    let records = platform.root.join("var/lib/osconfig/commandrunner-groups");
    let recorded = || {
        std::fs::read_dir(&records).is_ok_and(|d| {
            d.filter_map(Result::ok).any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                !name.starts_with('.') && name.ends_with(".json")
            })
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !recorded() {
        assert!(Instant::now() < deadline, "no running group recorded in {}", records.display());
        std::thread::sleep(Duration::from_millis(10));
    }
    let module = platform.root.join("usr/lib/osconfig/commandrunner.so");
    let hosts = processes_with(&module.display().to_string());
    assert_eq!(hosts.len(), 1, "one commandrunner host: {hosts:?}");
    // SAFETY: kill(2) of the module host this test's platform started.
    assert_eq!(unsafe { libc::kill(hosts[0] as i32, libc::SIGKILL) }, 0);
    std::thread::sleep(Duration::from_millis(300));
    let survivors = processes_with(&marker);
    if survivors.is_empty() {
        panic!("the command died with its host: nothing left for the restarted module to kill");
    }
    // The next call restarts the host; its module finds the group its predecessor recorded and kills it.
    let v = wait_status(&mut client, &session, |v| v["commandId"] == "orphan");
    let left = wait_no_process_with(&marker, Duration::from_secs(10));
    assert_none_left(&marker, left, "the restarted module did not kill the leftover group");
    assert_eq!((v["resultCode"].clone(), v["currentState"].clone()), (json!(-1), json!(3)), "{v}");
}

#[test]
fn test_background_child_of_finished_command_is_left_alone() {
    let mut platform = start("cr-nohup", vec!["commandrunner"]);
    let mut client = platform.client();
    let session = client.open("nohup", 0).unwrap();
    let marker = unique_marker("nohup");
    run(&mut client, &session, "bg", &format!("nohup sh -c 'sleep 30; : {marker}' >/dev/null 2>&1 &"), 0);
    let v = wait_status(&mut client, &session, |v| v["commandId"] == "bg" && v["currentState"] != 1);
    assert_eq!(v["currentState"], 2, "{v}");
    wait_process_with(&marker);
    platform.signal(libc::SIGTERM);
    assert!(platform.wait_exit(Duration::from_secs(5)).is_some(), "platform did not stop");
    std::thread::sleep(Duration::from_millis(300));
    let left = processes_with(&marker);
    kill_groups_with(&marker);
    assert_eq!(left.len(), 1, "the background child of a finished command was killed");
}

#[test]
fn test_oversize_inputs_refused_with_e2big() {
    let platform = start("bounds", vec!["commandrunner", "hostname"]);
    let mut client = platform.client();
    let session = client.open("bounds", 0).unwrap();
    // HostName: 50,000 entries (about 900 KB) and 257 entries are refused; the hosts file is not written.
    let entries: Vec<String> =
        (0..50_000).map(|i| format!("10.{}.{}.{} host{i}", i / 65536, i / 256 % 256, i % 256)).collect();
    for n in [50_000, 257] {
        let payload = json!(entries[..n].join(";")).to_string();
        let r = client.set(&session, "HostName", "desiredHosts", payload.as_bytes());
        assert!(matches!(r, Err(CallError::Platform(7))), "{n} entries: {r:?}");
    }
    assert!(!platform.root.join("etc/hosts").exists());
    let payload = json!(entries[..256].join(";")).to_string();
    client.set(&session, "HostName", "desiredHosts", payload.as_bytes()).unwrap();
    // CommandRunner: a 100 KB commandId and 17 KiB of arguments are refused; nothing is recorded.
    let long_id = "i".repeat(100 * 1024);
    let payload = json!({"commandId": long_id, "arguments": "true", "action": 3}).to_string();
    let r = client.set(&session, CR, DESIRED, payload.as_bytes());
    assert!(matches!(r, Err(CallError::Platform(7))), "{r:?}");
    let payload = json!({"commandId": "a", "arguments": "#".repeat(17 * 1024), "action": 3}).to_string();
    let r = client.set(&session, CR, DESIRED, payload.as_bytes());
    assert!(matches!(r, Err(CallError::Platform(7))), "{r:?}");
    let payload = json!({"commandId": "a", "arguments": "true", "timeout": 4_000_000_000u64, "action": 3}).to_string();
    let r = client.set(&session, CR, DESIRED, payload.as_bytes());
    assert!(matches!(r, Err(CallError::Platform(22))), "{r:?}");
    assert_eq!(status(&mut client, &session).unwrap()["commandId"], "");
}
