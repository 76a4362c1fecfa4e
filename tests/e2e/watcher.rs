//! End-to-end tests of local management: the real platform in a temporary root with `LocalManagement` 1, the desired
//! (DC) file written as people and tools write it, the reported (RC) file read back as they read it.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{write_config, Options, Platform};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

fn dc(root: &Path) -> PathBuf {
    root.join("etc/osconfig/osconfig_desired.json")
}

fn rc(root: &Path) -> PathBuf {
    root.join("etc/osconfig/osconfig_reported.json")
}

/// A platform with local management on, HostName and CommandRunner in `Reported`, MIMs installed.
fn start(tag: &str, extra: Value) -> Platform {
    let mut config = json!({
        "LocalManagement": 1,
        "ReportingIntervalSeconds": 1,
        "DesiredReapplySeconds": 0,
        "Reported": [
            {"ComponentName": "HostName", "ObjectName": "name"},
            {"ComponentName": "HostName", "ObjectName": "hosts"},
            {"ComponentName": "CommandRunner", "ObjectName": "commandStatus"}
        ]
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    Platform::start(tag, Options { config: Some(config), mims: true, ..Options::default() })
}

/// Writes the DC file in place (truncate and write, mode 0600).
fn write_in_place(root: &Path, text: &[u8]) {
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(dc(root)).unwrap();
    file.write_all(text).unwrap();
}

/// Writes the DC file as tools do: a new file renamed into place.
fn write_renamed(root: &Path, text: &[u8]) {
    let tmp = root.join("etc/osconfig/.desired.new");
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).unwrap();
    file.write_all(text).unwrap();
    file.sync_all().unwrap();
    fs::rename(&tmp, dc(root)).unwrap();
}

fn desired_name(name: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({"HostName": {"desiredName": name}})).unwrap()
}

fn read_rc(root: &Path) -> Option<Value> {
    let bytes = fs::read(rc(root)).ok()?;
    Some(
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("RC not JSON ({e}): {}", String::from_utf8_lossy(&bytes))),
    )
}

/// Waits until the RC file's `HostName.name` is `name`.
fn wait_rc_name(platform: &Platform, name: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let rc = read_rc(&platform.root);
        if rc.as_ref().is_some_and(|rc| rc["HostName"]["name"] == name) {
            return;
        }
        assert!(Instant::now() < deadline, "RC never said {name:?}: {rc:?}\n{}", platform.stderr_text());
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn hostname_file(root: &Path) -> String {
    fs::read_to_string(root.join("etc/hostname")).unwrap_or_default().trim().to_string()
}

fn status(platform: &Platform) -> Value {
    let mut client = osconfig_http::Client::new(&platform.socket);
    let response = client.request("GET", "/PlatformStatus", b"").expect("PlatformStatus");
    assert_eq!(response.status, 200);
    serde_json::from_slice(&response.body).unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn test_dc_written_in_place_by_rename_and_in_two_writes_reaches_rc() {
    let platform = start("watch-write", json!({}));
    let root = platform.root.clone();
    write_in_place(&root, &desired_name("alpha"));
    wait_rc_name(&platform, "alpha");
    assert_eq!(hostname_file(&root), "alpha");

    write_renamed(&root, &desired_name("beta"));
    wait_rc_name(&platform, "beta");

    // Two partial writes: the first half alone is not JSON (refused, nothing changes), the whole then applies.
    let text = desired_name("gamma");
    let (first, second) = text.split_at(text.len() / 2);
    write_in_place(&root, first);
    std::thread::sleep(Duration::from_millis(50));
    let mut file = fs::OpenOptions::new().append(true).open(dc(&root)).unwrap();
    file.write_all(second).unwrap();
    drop(file);
    wait_rc_name(&platform, "gamma");

    assert_eq!(mode(&rc(&root)), 0o600, "RC mode");
    let text = fs::read_to_string(rc(&root)).unwrap();
    assert!(text.contains("\n    \"HostName\": {\n        \"name\": \"gamma\""), "pretty-printed: {text}");
    let st = status(&platform);
    assert_eq!(st["watcher"]["state"], "watching");
    assert_eq!(st["watcher"]["lastApply"]["result"], "applied");
}

/// The log lines that refuse a DC file.
fn refusals(platform: &Platform) -> Vec<String> {
    platform.stderr_text().lines().filter(|l| l.contains("refused, nothing applied")).map(str::to_string).collect()
}

#[test]
fn test_refused_dc_files_change_nothing_and_say_why() {
    let platform = start("watch-refuse", json!({}));
    let root = platform.root.clone();
    write_renamed(&root, &desired_name("alpha"));
    wait_rc_name(&platform, "alpha");

    type Make = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Make)> = vec![
        ("not valid json at byte", Box::new(|root| write_renamed(root, b"{\"HostName\": {\"desiredName\": \"zeta\""))),
        (
            "against the MIM: HostName.desiredName: expected a string, found",
            Box::new(|root| write_renamed(root, br#"{"HostName":{"desiredName":42}}"#)),
        ),
        (
            "against the MIM: HostName.desiredNam: unknown object",
            Box::new(|root| write_renamed(root, br#"{"HostName":{"desiredNam":"zeta"}}"#)),
        ),
        ("not an object of objects", Box::new(|root| write_renamed(root, br#"{"HostName":"zeta"}"#))),
        (
            "symbolic link",
            Box::new(|root| {
                let target = root.join("zeta.json");
                fs::write(&target, desired_name("zeta")).unwrap();
                fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
                let _ = fs::remove_file(dc(root));
                std::os::unix::fs::symlink(&target, dc(root)).unwrap();
            }),
        ),
        (
            "writable by group or others",
            Box::new(|root| {
                let _ = fs::remove_file(dc(root));
                write_in_place(root, &desired_name("zeta"));
                fs::set_permissions(dc(root), fs::Permissions::from_mode(0o664)).unwrap();
            }),
        ),
        (
            "over the limit",
            Box::new(|root| {
                let mut text = desired_name("zeta");
                text.resize(5 * 1024 * 1024, b' ');
                let _ = fs::remove_file(dc(root));
                write_renamed(root, &text);
            }),
        ),
    ];
    for (reason, make) in cases {
        let before = refusals(&platform).len();
        make(&root);
        let deadline = Instant::now() + WAIT;
        while refusals(&platform).len() == before {
            assert!(Instant::now() < deadline, "{reason}: no refusal logged: {}", platform.stderr_text());
            std::thread::sleep(Duration::from_millis(10));
        }
        let line = refusals(&platform).pop().unwrap();
        assert!(line.contains(reason), "{reason:?} not in {line:?}");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(hostname_file(&root), "alpha", "{reason}: the device changed");
        let st = status(&platform);
        assert_eq!(st["watcher"]["lastApply"]["result"], "rejected", "{reason}: {st}");
    }
    // The symlinked and group-writable files were left as they were (never written by the platform).
    assert_eq!(read_rc(&root).unwrap()["HostName"]["name"], "alpha");
    // A good file applies again.
    let _ = fs::remove_file(dc(&root));
    write_renamed(&root, &desired_name("omega"));
    wait_rc_name(&platform, "omega");
}

#[test]
fn test_one_failing_object_applies_the_others_and_is_retried() {
    let platform = start("watch-partial", json!({}));
    let root = platform.root.clone();
    let doc = json!({"HostName": {"desiredHosts": "not-an-address host", "desiredName": "partial"}});
    write_renamed(&root, &serde_json::to_vec(&doc).unwrap());
    wait_rc_name(&platform, "partial");
    assert!(platform.wait_log("HostName.desiredHosts (errno 22)", WAIT), "{}", platform.stderr_text());
    let st = status(&platform);
    assert_eq!(st["watcher"]["lastApply"]["result"], "partial", "{st}");
    assert_eq!(st["watcher"]["lastApply"]["failed"], json!(["HostName.desiredHosts"]));

    // Fixed: only the failed object is sent again (the name did not change).
    let doc = json!({"HostName": {"desiredHosts": "127.0.0.1 localhost", "desiredName": "partial"}});
    write_renamed(&root, &serde_json::to_vec(&doc).unwrap());
    assert!(platform.wait_log("applied 1 of 2 object(s)", WAIT), "{}", platform.stderr_text());
    let deadline = Instant::now() + WAIT;
    while read_rc(&root).unwrap()["HostName"]["hosts"] != "127.0.0.1 localhost" {
        assert!(Instant::now() < deadline, "hosts never reported");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(status(&platform)["watcher"]["lastApply"]["result"], "applied");
}

#[test]
fn test_drift_is_reapplied() {
    let platform = start("watch-drift", json!({"DesiredReapplySeconds": 1}));
    let root = platform.root.clone();
    write_renamed(&root, &desired_name("steady"));
    wait_rc_name(&platform, "steady");
    fs::write(root.join("etc/hostname"), "drifted\n").unwrap();
    let deadline = Instant::now() + WAIT;
    while hostname_file(&root) != "steady" {
        assert!(Instant::now() < deadline, "drift not corrected: {}", platform.stderr_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_rc_name(&platform, "steady");
}

#[test]
fn test_rc_is_never_seen_partial() {
    let platform = start("watch-atomic", json!({}));
    let root = platform.root.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, path) = (Arc::clone(&stop), rc(&root));
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if let Ok(bytes) = fs::read(&path) {
                    let parsed: Result<Value, _> = serde_json::from_slice(&bytes);
                    assert!(parsed.is_ok(), "partial RC seen: {}", String::from_utf8_lossy(&bytes));
                    reads += 1;
                }
            }
            reads
        })
    };
    for i in 0..1000 {
        let name = format!("n{i}");
        write_renamed(&root, &desired_name(&name));
        wait_rc_name(&platform, &name);
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("reader saw a partial RC file");
    assert!(reads > 1000, "the reader ran ({reads} reads)");
}

#[test]
fn test_directory_removed_and_recreated() {
    let platform = start("watch-dir", json!({}));
    let root = platform.root.clone();
    write_renamed(&root, &desired_name("before"));
    wait_rc_name(&platform, "before");
    let config = fs::read(root.join("etc/osconfig/osconfig.json")).unwrap();
    fs::remove_dir_all(root.join("etc/osconfig")).unwrap();
    let deadline = Instant::now() + WAIT;
    while !status(&platform)["watcher"]["state"].as_str().unwrap().starts_with("waiting for") {
        assert!(Instant::now() < deadline, "watcher did not notice: {}", status(&platform));
        std::thread::sleep(Duration::from_millis(10));
    }
    fs::create_dir_all(root.join("etc/osconfig")).unwrap();
    fs::write(root.join("etc/osconfig/osconfig.json"), config).unwrap();
    write_renamed(&root, &desired_name("after"));
    wait_rc_name(&platform, "after");
    assert_eq!(status(&platform)["watcher"]["state"], "watching");
}

#[test]
fn test_modes_are_kept_root_only() {
    let platform = start("watch-modes", json!({}));
    let root = platform.root.clone();
    write_in_place(&root, &desired_name("modes"));
    fs::set_permissions(dc(&root), fs::Permissions::from_mode(0o644)).unwrap();
    wait_rc_name(&platform, "modes");
    let deadline = Instant::now() + WAIT;
    while mode(&dc(&root)) != 0o600 {
        assert!(Instant::now() < deadline, "DC mode not tightened: {:o}", mode(&dc(&root)));
        std::thread::sleep(Duration::from_millis(10));
    }
    fs::set_permissions(rc(&root), fs::Permissions::from_mode(0o644)).unwrap();
    let deadline = Instant::now() + WAIT;
    while mode(&rc(&root)) != 0o600 {
        assert!(Instant::now() < deadline, "RC mode not fixed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(platform.wait_log("was loosened", WAIT));
}

#[test]
fn test_local_management_off_until_reload() {
    let platform = start("watch-off", json!({"LocalManagement": 0}));
    let root = platform.root.clone();
    write_renamed(&root, &desired_name("ignored"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hostname_file(&root), "");
    assert!(!rc(&root).exists());
    assert_eq!(status(&platform)["watcher"]["state"], "off");
    let mut config: Value =
        serde_json::from_slice(&fs::read(root.join("etc/osconfig/osconfig.json")).unwrap()).unwrap();
    config["LocalManagement"] = json!(1);
    write_config(&root, &config);
    platform.signal(libc::SIGHUP);
    wait_rc_name(&platform, "ignored");
}

#[test]
fn test_command_through_dc_reports_its_result() {
    let platform = start("watch-command", json!({}));
    let root = platform.root.clone();
    let doc = json!({"CommandRunner": {"commandArguments": {
        "commandId": "dc-1", "arguments": "echo hello from dc", "timeout": 10, "singleLineTextResult": true, "action": 3}}});
    write_renamed(&root, &serde_json::to_vec(&doc).unwrap());
    let deadline = Instant::now() + WAIT;
    loop {
        let status = read_rc(&root).map(|rc| rc["CommandRunner"]["commandStatus"].clone());
        if status.as_ref().is_some_and(|s| s["commandId"] == "dc-1" && s["currentState"] == 2) {
            assert_eq!(status.unwrap()["textResult"], "hello from dc ");
            break;
        }
        assert!(Instant::now() < deadline, "command status never reported: {status:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lines of `<root>/runs.log` (one per run of the test's command).
fn runs(root: &Path) -> usize {
    fs::read_to_string(root.join("runs.log")).map_or(0, |t| t.lines().count())
}

#[test]
fn test_commandrunner_history_reset_by_removing_the_cache_file() {
    let mut platform = start("watch-cache", json!({}));
    let root = platform.root.clone();
    let doc = json!({"CommandRunner": {"commandArguments": {
        "commandId": "once", "arguments": "echo run >> \"$OSCONFIG_ROOT/runs.log\"", "timeout": 10, "action": 3}}});
    write_renamed(&root, &serde_json::to_vec(&doc).unwrap());
    let deadline = Instant::now() + WAIT;
    while runs(&root) < 1 {
        assert!(Instant::now() < deadline, "the command never ran: {}", platform.stderr_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    let cache = root.join("etc/osconfig/osconfig_commandrunner.cache");
    let deadline = Instant::now() + WAIT;
    while !fs::read_to_string(&cache).unwrap_or_default().contains("\"once\"") {
        assert!(Instant::now() < deadline, "the command's end was never recorded in {}", cache.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(mode(&cache), 0o600);

    // A restart applies the desired file again: the history knows the command, it does not run twice.
    platform.restart();
    assert!(platform.wait_log("applied 1 of 1 object(s)", WAIT), "{}", platform.stderr_text());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs(&root), 1, "a known command ran again");

    // Removing the cache file resets the history: the same request runs again.
    platform.signal(libc::SIGTERM);
    assert!(platform.wait_exit(Duration::from_secs(5)).is_some());
    fs::remove_file(&cache).unwrap();
    platform.restart_stopped();
    let deadline = Instant::now() + WAIT;
    while runs(&root) < 2 {
        assert!(Instant::now() < deadline, "the command did not run after the reset: {}", platform.stderr_text());
        std::thread::sleep(Duration::from_millis(20));
    }
}
