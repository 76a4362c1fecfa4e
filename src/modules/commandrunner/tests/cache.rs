//! The history file `<root>/etc/osconfig/osconfig_commandrunner.cache` through the real C ABI.
//!
//! Each test prepares a temporary root, then runs this test binary again as a child process (`test_child_phase`
//! with `CR_CACHE_PHASE` set) whose environment names the root: the module reads `OSCONFIG_ROOT` once per load and
//! the environment of this process is never changed. The parent checks the files the child left.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use osconfig_mmi::loader::{Library, Session};
use osconfig_testkit::{ChildTest, TempRoot};
use serde_json::{json, Value};

const COMPONENT: &str = "CommandRunner";
const DESIRED: &str = "commandArguments";
const REPORTED: &str = "commandStatus";
const CLIENT: &str = "Azure OSConfig 5;1.0.5.2024";
const CACHE: &str = "etc/osconfig/osconfig_commandrunner.cache";

fn temp_dir(tag: &str) -> TempRoot {
    let dir = TempRoot::new(&format!("commandrunner-cache-{tag}"));
    fs::create_dir_all(dir.join("root/etc/osconfig")).unwrap();
    dir
}

fn cache_path(dir: &Path) -> PathBuf {
    dir.join("root").join(CACHE)
}

fn default_status() -> Value {
    json!({"commandId":"","resultCode":0,"textResult":"","currentState":0})
}

fn status(s: &Session<'_>) -> Value {
    serde_json::from_slice(&s.get(COMPONENT, REPORTED).unwrap()).unwrap()
}

fn run(s: &Session<'_>, id: &str, cmd: &str) {
    let payload = json!({"commandId": id, "arguments": cmd, "action": 3}).to_string();
    s.set(COMPONENT, DESIRED, payload.as_bytes()).unwrap_or_else(|e| panic!("run {id}: {e}"));
}

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

/// Run `phase` in a child process with the module's root (and old state directory) in `dir`.
fn run_child(phase: &str, dir: &Path) {
    ChildTest::new("test_child_phase")
        .env("CR_CACHE_PHASE", phase)
        .env("CR_DIR", dir)
        .env("OSCONFIG_ROOT", dir.join("root"))
        .env("OSCONFIG_STATE_DIR", dir.join("state"))
        .env_remove("OSCONFIG_LOG_STDERR")
        .run()
        .assert_passed();
}

/// Every log line the module wrote under the root.
fn module_log(dir: &Path) -> String {
    let mut text = String::new();
    if let Ok(entries) = fs::read_dir(dir.join("root/var/log")) {
        for e in entries.flatten() {
            text += &fs::read_to_string(e.path()).unwrap_or_default();
        }
    }
    text
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

#[test]
fn test_history_at_reference_path_mode_0600_and_removal_resets() {
    let dir = temp_dir("reset");
    run_child("persist-and-reset", &dir);
    // What the child left: only the command run after the reset, in a 0600 file.
    let cache = cache_path(&dir);
    assert_eq!(fs::metadata(&cache).unwrap().permissions().mode() & 0o7777, 0o600);
    let saved = read_json(&cache);
    assert_eq!(saved[CLIENT].as_array().unwrap().len(), 1, "{saved}");
    assert_eq!(saved[CLIENT][0]["commandId"], "after-reset");
    assert!(!dir.join("state/commandrunner").exists(), "nothing is written at the old location");
    // No command runs any more: no running group is recorded.
    let groups = dir.join("state/commandrunner-groups");
    assert_eq!(fs::read_dir(&groups).map(|d| d.count()).unwrap_or(0), 0, "{}", groups.display());
    // A new process after the file is removed starts from a clean history.
    fs::remove_file(&cache).unwrap();
    run_child("expect-empty", &dir);
}

#[test]
fn test_reference_format_file_is_read() {
    let dir = temp_dir("reference");
    // As the reference agent writes it: no textResult, oldest first, one command left running by a stop.
    let reference = format!(
        "{{\n    \"{CLIENT}\": [\n        {{\n            \"commandId\": \"update-1\",\n            \"currentState\": 2,\n            \"resultCode\": 0\n        }},\n        {{\n            \"commandId\": \"update-2\",\n            \"currentState\": 3,\n            \"resultCode\": 100\n        }}\n    ],\n    \"Another Client\": [\n        {{\n            \"commandId\": \"other\",\n            \"currentState\": 1,\n            \"resultCode\": 0\n        }}\n    ]\n}}"
    );
    fs::write(cache_path(&dir), &reference).unwrap();
    run_child("reference", &dir);
    // Not rewritten when read; rewritten (same layout, our extra keys) when the history changed, keeping the other
    // client's entries as they were.
    let saved = read_json(&cache_path(&dir));
    let ours = saved[CLIENT].as_array().unwrap();
    assert_eq!(ours.len(), 3, "{saved}");
    assert_eq!(
        ours[0],
        json!({"commandId":"update-1","resultCode":0,"currentState":2,"textResult":"","reported":true})
    );
    assert_eq!(ours[1]["arguments"]["action"], 3, "the re-applied request is recorded");
    assert_eq!(ours[2]["commandId"], "new");
    assert_eq!(ours[2]["textResult"], "new\n");
    assert_eq!(saved["Another Client"], json!([{"commandId":"other","currentState":1,"resultCode":0}]));
}

#[test]
fn test_corrupt_or_hostile_file_is_set_aside() {
    let dir = temp_dir("hostile");
    let huge = {
        let mut v = b"{\"c\": [".to_vec();
        v.resize(5 * 1024 * 1024, b' ');
        v.extend_from_slice(b"]}");
        v
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"\x00\x01 this is not JSON {".to_vec()),
        ("huge", huge),
        ("not an object", b"[1, 2, 3]".to_vec()),
        ("wrong types", format!("{{\"{CLIENT}\": [{{\"commandId\": 5, \"resultCode\": \"0\"}}]}}").into_bytes()),
        ("client not an array", format!("{{\"{CLIENT}\": {{\"commandId\": \"x\"}}}}").into_bytes()),
        (
            "state out of range",
            format!("{{\"{CLIENT}\": [{{\"commandId\": \"x\", \"currentState\": 99}}]}}").into_bytes(),
        ),
    ];
    for (what, content) in cases {
        let cache = cache_path(&dir);
        let aside = dir.join("root/etc/osconfig/osconfig_commandrunner.cache.corrupt");
        let _ = fs::remove_file(&aside);
        fs::write(&cache, &content).unwrap();
        run_child("hostile", &dir);
        assert_eq!(fs::read(&aside).unwrap(), content, "{what}: set aside unchanged");
        let saved = read_json(&cache);
        assert_eq!(saved[CLIENT][0]["commandId"], "works", "{what}: {saved}");
        assert!(module_log(&dir).contains("set aside"), "{what}: no log line");
    }
}

/// The child-process side; a no-op unless `CR_CACHE_PHASE` is set.
#[test]
fn test_child_phase() {
    let Ok(phase) = std::env::var("CR_CACHE_PHASE") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("CR_DIR").unwrap());
    let cache = cache_path(&dir);
    let lib = Library::load(osconfig_testkit::artifacts().module("commandrunner")).unwrap();
    match phase.as_str() {
        "persist-and-reset" => {
            let s = lib.open(CLIENT, 0).unwrap();
            assert_eq!(status(&s), default_status());
            run(&s, "first", "echo first");
            assert_eq!(wait_done(&s, "first")["textResult"], "first\n");
            // The command's end reaches the file just after its status does: wait for it, so the removal below
            // is not followed by that write.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while read_json(&cache)[CLIENT][0]["currentState"] != 2 {
                assert!(std::time::Instant::now() < deadline, "the command's end never reached {}", cache.display());
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let saved = read_json(&cache);
            assert_eq!(saved[CLIENT][0]["commandId"], "first");
            assert_eq!(fs::metadata(&cache).unwrap().permissions().mode() & 0o7777, 0o600);
            drop(s);

            // Removed while the module is loaded: the next MmiOpen starts from a clean history.
            fs::remove_file(&cache).unwrap();
            let s = lib.open(CLIENT, 0).unwrap();
            assert_eq!(status(&s), default_status());
            // The same request runs again after a reset.
            run(&s, "after-reset", "true");
            wait_done(&s, "after-reset");
            drop(s);
            lib.unload().unwrap();
        }
        "expect-empty" => {
            let s = lib.open(CLIENT, 0).unwrap();
            assert_eq!(status(&s), default_status());
            drop(s);
            lib.unload().unwrap();
            assert!(!cache.exists(), "opening alone writes nothing");
        }
        "reference" => {
            let before = fs::read(&cache).unwrap();
            let s = lib.open(CLIENT, 0).unwrap();
            // The reference reports the last entry; its text is not in its file.
            assert_eq!(status(&s), json!({"commandId":"update-2","resultCode":100,"textResult":"","currentState":3}));
            assert_eq!(fs::read(&cache).unwrap(), before, "reading rewrites nothing");
            // A command the reference recorded is not run again when its request is re-applied.
            let marker = dir.join("ran-again");
            run(&s, "update-2", &format!("touch {}", marker.display()));
            std::thread::sleep(Duration::from_millis(200));
            assert!(!marker.exists());
            run(&s, "new", "echo new");
            wait_done(&s, "new");
            let refresh = json!({"commandId": "update-1", "action": 4}).to_string();
            s.set(COMPONENT, DESIRED, refresh.as_bytes()).unwrap();
            assert_eq!(status(&s)["commandId"], "update-1");
            // The other client's command, recorded running, is reported interrupted.
            let other = lib.open("Another Client", 0).unwrap();
            let v = status(&other);
            assert_eq!(
                (v["commandId"].clone(), v["resultCode"].clone(), v["currentState"].clone()),
                (json!("other"), json!(-1), json!(3))
            );
            drop((s, other));
            lib.unload().unwrap();
        }
        "hostile" => {
            let s = lib.open(CLIENT, 0).unwrap();
            assert_eq!(status(&s), default_status());
            run(&s, "works", "echo works");
            assert_eq!(wait_done(&s, "works")["textResult"], "works\n");
            drop(s);
            lib.unload().unwrap();
        }
        other => panic!("unknown phase {other}"),
    }
}
