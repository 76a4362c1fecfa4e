//! CommandRunner through the real C ABI: the built `libcommandrunner.so` is loaded with the osconfig-mmi loader,
//! with `OSCONFIG_ROOT` / `OSCONFIG_STATE_DIR` in a temporary directory (the history file is
//! `<root>/etc/osconfig/osconfig_commandrunner.cache`; `tests/cache.rs` tests it in depth) and the reboot and shutdown commands replaced
//! (env `OSCONFIG_REBOOT_COMMAND` / `OSCONFIG_SHUTDOWN_COMMAND`) by commands that write marker files.
//!
//! The module reads those variables through its own copy of std, so the test runs in a child process of this test
//! binary with them set on its command (`osconfig_testkit::in_child`). Restarts are tested twice: unload + reload of
//! the library in that process, and a fresh process (this test binary run again with `CR_CHILD_PHASE` set, see
//! `test_child_phase`).

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use osconfig_mmi::loader::{Library, Session};
use osconfig_mmi::{Errno, Lifetime};
use serde_json::{json, Value};

const COMPONENT: &str = "CommandRunner";
const DESIRED: &str = "commandArguments";
const REPORTED: &str = "commandStatus";
const CLIENT: &str = "Azure OSConfig 5;test/abi";

fn module_path() -> PathBuf {
    osconfig_testkit::artifacts().module("commandrunner")
}

fn set(s: &Session<'_>, payload: Value) -> Result<(), Errno> {
    s.set(COMPONENT, DESIRED, payload.to_string().as_bytes())
}

fn run(s: &Session<'_>, id: &str, cmd: &str) {
    set(s, json!({"commandId": id, "arguments": cmd, "timeout": 0, "singleLineTextResult": false, "action": 3}))
        .unwrap_or_else(|e| panic!("run {id}: {e}"));
}

fn status(s: &Session<'_>) -> Value {
    let bytes = s.get(COMPONENT, REPORTED).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Poll `commandStatus` until it reports `id` in a state other than running.
fn wait_done(s: &Session<'_>, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = status(s);
        if v["commandId"] == id && v["currentState"] != 1 {
            return v;
        }
        assert!(Instant::now() < deadline, "{id} did not finish: {v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_file(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Run this test binary again as a separate process in `phase` (see `test_child_phase`).
fn run_child(phase: &str, dir: &Path) {
    let mut child =
        osconfig_testkit::ChildTest::new("test_child_phase").env("CR_CHILD_PHASE", phase).env("CR_DIR", dir);
    for (key, value) in module_env(dir) {
        child = child.env(key, value);
    }
    child.run().assert_passed();
}

/// The module's environment for the test directory `dir`: root, state and the power commands all in `dir`.
fn module_env(dir: &Path) -> Vec<(&'static str, OsString)> {
    vec![
        ("OSCONFIG_ROOT", dir.join("root").into()),
        ("OSCONFIG_STATE_DIR", dir.join("state").into()),
        ("OSCONFIG_REBOOT_COMMAND", format!("echo rebooting; touch {}", dir.join("rebooted").display()).into()),
        ("OSCONFIG_SHUTDOWN_COMMAND", format!("touch {}", dir.join("shut-down").display()).into()),
    ]
}

#[test]
fn test_commandrunner_through_c_abi() {
    let Some(dir) = osconfig_testkit::in_child("test_commandrunner_through_c_abi", module_env) else {
        return;
    };
    fs::create_dir_all(dir.join("root")).unwrap();
    let lib = Library::load(module_path()).unwrap();

    let info = lib.get_info(CLIENT).unwrap();
    assert_eq!(info.name, "CommandRunner");
    assert_eq!((info.version_major, info.version_minor), (2, 0));
    assert_eq!(info.lifetime, Lifetime::KeepLoaded);
    assert_eq!(info.components, vec![COMPONENT.to_string()]);

    let s = lib.open(CLIENT, 0).unwrap();
    assert_eq!(status(&s), json!({"commandId":"","resultCode":0,"textResult":"","currentState":0}));

    // runCommand: success, failure with the exit code, stderr captured.
    run(&s, "ok", "echo hello; echo problem >&2");
    let v = wait_done(&s, "ok");
    assert_eq!((v["resultCode"].clone(), v["currentState"].clone()), (json!(0), json!(2)));
    let text = v["textResult"].as_str().unwrap();
    assert!(text.contains("hello\n") && text.contains("problem\n"), "{text}");
    run(&s, "fail", "exit 3");
    let v = wait_done(&s, "fail");
    assert_eq!((v["resultCode"].clone(), v["currentState"].clone()), (json!(3), json!(3)));

    // MmiSet returns at once and the command is reported running.
    let start = Instant::now();
    run(&s, "slow", "sleep 1; echo late");
    assert!(start.elapsed() < Duration::from_millis(500));
    assert_eq!(status(&s)["currentState"], 1);
    assert_eq!(wait_done(&s, "slow")["textResult"], "late\n");

    // Timeout: 62 / timedOut.
    set(&s, json!({"commandId":"to","arguments":"sleep 30","timeout":1,"action":3})).unwrap();
    let v = wait_done(&s, "to");
    assert_eq!((v["resultCode"].clone(), v["currentState"].clone()), (json!(62), json!(4)));

    // Cancel: 125 / canceled; payload carries only commandId and action.
    let survived = dir.join("survived");
    run(&s, "long", &format!("sleep 1; touch {}", survived.display()));
    set(&s, json!({"commandId":"long","action":5})).unwrap();
    let cancelled_at = Instant::now();
    let v = status(&s);
    assert_eq!(
        (v["commandId"].clone(), v["resultCode"].clone(), v["currentState"].clone()),
        (json!("long"), json!(125), json!(5))
    );
    // Cancelling a finished command is accepted and changes nothing; an unknown one is refused.
    set(&s, json!({"commandId":"ok","action":5})).unwrap();
    assert_eq!(status(&s)["currentState"], 2);
    assert_eq!(set(&s, json!({"commandId":"ghost","action":5})), Err(Errno::EINVAL));

    // Refresh selects an older command; unknown ids are refused.
    set(&s, json!({"commandId":"fail","action":4})).unwrap();
    assert_eq!(status(&s)["commandId"], "fail");
    assert_eq!(set(&s, json!({"commandId":"ghost","action":4})), Err(Errno::EINVAL));

    // Validation through the ABI.
    for bad in [
        json!({"commandId":"b1","arguments":"true","action":6}),
        json!({"commandId":"b1","arguments":"true","action":"3"}),
        json!({"commandId":"b1","arguments":7,"action":3}),
        json!({"commandId":"b1","arguments":"true","timeout":"1","action":3}),
        json!({"commandId":"b1","arguments":"true","singleLineTextResult":"yes","action":3}),
        json!({"commandId":"","arguments":"true","action":3}),
        json!({"arguments":"true","action":3}),
        json!("runCommand"),
    ] {
        assert_eq!(set(&s, bad.clone()), Err(Errno::EINVAL), "{bad}");
    }
    assert_eq!(s.set(COMPONENT, DESIRED, b"{\"commandId\": \"x\", "), Err(Errno::EINVAL));
    assert_eq!(s.set("Nope", DESIRED, b"{}"), Err(Errno::EINVAL));
    assert_eq!(s.set(COMPONENT, REPORTED, b"{}"), Err(Errno::EINVAL));
    assert_eq!(s.get(COMPONENT, DESIRED), Err(Errno::EINVAL));
    assert_eq!(s.get("Nope", REPORTED), Err(Errno::EINVAL));
    set(&s, json!({"commandId":"","action":0})).unwrap();
    assert_eq!(status(&s)["commandId"], "fail");

    // An identical payload set twice runs once; the same id with other arguments is refused.
    let counter = dir.join("counter");
    let once = json!({"commandId":"once","arguments":format!("echo x >> {}", counter.display()),"action":3});
    set(&s, once.clone()).unwrap();
    set(&s, once.clone()).unwrap();
    wait_done(&s, "once");
    set(&s, once.clone()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(fs::read_to_string(&counter).unwrap(), "x\n");
    assert_eq!(set(&s, json!({"commandId":"once","arguments":"true","action":3})), Err(Errno::EINVAL));

    // Reboot and shutdown run the configured commands, as commands of their own.
    set(&s, json!({"commandId":"r1","action":1})).unwrap();
    wait_for_file(&dir.join("rebooted"));
    let v = wait_done(&s, "r1");
    assert_eq!((v["textResult"].clone(), v["currentState"].clone()), (json!("rebooting\n"), json!(2)));
    set(&s, json!({"commandId":"s1","action":2})).unwrap();
    wait_for_file(&dir.join("shut-down"));
    assert_eq!(wait_done(&s, "s1")["currentState"], 2);
    // Re-applying the reboot request (as after a restart) does not reboot again.
    fs::remove_file(dir.join("rebooted")).unwrap();
    set(&s, json!({"commandId":"r1","action":1})).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!dir.join("rebooted").exists());

    // singleLineTextResult and textResult shortened to a small session's limit; sessions of one client share.
    set(&s, json!({"commandId":"lines","arguments":"seq 1 300","singleLineTextResult":true,"action":3})).unwrap();
    let v = wait_done(&s, "lines");
    assert!(v["textResult"].as_str().unwrap().starts_with("1 2 3 4 "), "{v}");
    assert!(!v["textResult"].as_str().unwrap().contains('\n'));
    let small = lib.open(CLIENT, 100).unwrap();
    let bytes = small.get(COMPONENT, REPORTED).unwrap();
    assert!(bytes.len() <= 100, "{} bytes", bytes.len());
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["commandId"], "lines");
    assert!(v["textResult"].as_str().unwrap().starts_with("1 2 3"));
    let tiny = lib.open(CLIENT, 30).unwrap();
    assert_eq!(tiny.get(COMPONENT, REPORTED), Err(Errno::E2BIG));
    let other = lib.open("another client", 0).unwrap();
    assert_eq!(status(&other)["commandId"], "");
    drop((small, tiny, other));

    // History: 10 per client, the oldest finished ones dropped.
    for i in 0..10 {
        run(&s, &format!("h{i}"), "true");
        wait_done(&s, &format!("h{i}"));
    }
    assert_eq!(set(&s, json!({"commandId":"ok","action":4})), Err(Errno::EINVAL));
    set(&s, json!({"commandId":"h0","action":4})).unwrap();
    // The last command is a reboot: after a restart, re-applying it must not reboot again.
    set(&s, json!({"commandId":"last","action":1})).unwrap();
    let before_unload = wait_done(&s, "last");
    assert_eq!(before_unload["textResult"], "rebooting\n");
    fs::remove_file(dir.join("rebooted")).unwrap();

    // Persisted where the reference keeps it: <root>/etc/osconfig/osconfig_commandrunner.cache, mode 0600; nothing
    // in the old state directory.
    let cache = dir.join("root/etc/osconfig/osconfig_commandrunner.cache");
    assert_eq!(mode(&cache), 0o600);
    let saved: Value = serde_json::from_slice(&fs::read(&cache).unwrap()).unwrap();
    let entries = saved[CLIENT].as_array().unwrap();
    assert_eq!(entries.len(), 10);
    assert_eq!(entries[9]["commandId"], "last");
    assert!(!dir.join("state/commandrunner").exists());
    assert!(!dir.join("rebooted").exists());

    // MmiClose does not wait for a running command; its result is still recorded for the client.
    run(&s, "after-close", "sleep 0.3; echo done");
    let start = Instant::now();
    drop(s);
    assert!(start.elapsed() < Duration::from_millis(200));
    let s = lib.open(CLIENT, 0).unwrap();
    let v = wait_done(&s, "after-close");
    assert_eq!(v["textResult"], "done\n");
    set(&s, json!({"commandId":"last","action":4})).unwrap();
    drop(s);

    // Unload + reload: the history comes back.
    lib.unload().unwrap();
    let lib = Library::load(module_path()).unwrap();
    let s = lib.open(CLIENT, 0).unwrap();
    assert_eq!(status(&s), before_unload);
    set(&s, json!({"commandId":"h5","action":4})).unwrap();
    assert_eq!(status(&s)["currentState"], 2);
    set(&s, json!({"commandId":"last","action":4})).unwrap();
    drop(s);
    lib.unload().unwrap();

    // A new process sees the same history, and a command running when its process died is reported failed, -1.
    run_child("verify", &dir);
    run_child("die-while-running", &dir);
    let lib = Library::load(module_path()).unwrap();
    let s = lib.open("dying client", 0).unwrap();
    let v = status(&s);
    assert_eq!(
        (v["commandId"].clone(), v["resultCode"].clone(), v["currentState"].clone()),
        (json!("orphan"), json!(-1), json!(3))
    );
    drop(s);
    lib.unload().unwrap();
    if let Ok(pid) = fs::read_to_string(dir.join("orphan.pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }

    std::thread::sleep(Duration::from_millis(1500).saturating_sub(cancelled_at.elapsed()));
    assert!(!survived.exists(), "the cancelled command went on running");
}

/// The child-process side of the restart tests; a no-op unless `CR_CHILD_PHASE` is set.
#[test]
fn test_child_phase() {
    let Ok(phase) = std::env::var("CR_CHILD_PHASE") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("CR_DIR").unwrap());
    let lib = Library::load(module_path()).unwrap();
    match phase.as_str() {
        "verify" => {
            let s = lib.open(CLIENT, 0).unwrap();
            let v = status(&s);
            assert_eq!(v, json!({"commandId":"last","resultCode":0,"textResult":"rebooting\n","currentState":2}));
            set(&s, json!({"commandId":"last","action":1})).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            assert!(!dir.join("rebooted").exists(), "a recorded reboot ran again after a restart");
        }
        "die-while-running" => {
            let s = lib.open("dying client", 0).unwrap();
            let pidfile = dir.join("orphan.pid");
            run(&s, "orphan", &format!("echo $$ > {}; exec sleep 60", pidfile.display()));
            wait_for_file(&pidfile);
            assert_eq!(status(&s)["currentState"], 1);
            // Die without closing anything, as a crash would.
            println!("test result: 1 passed (child exits early)");
            std::process::exit(0);
        }
        other => panic!("unknown phase {other}"),
    }
}
