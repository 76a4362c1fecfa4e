//! The real modules behind a host process: DeviceInfo, HostName and CommandRunner, each under a temporary
//! `OSCONFIG_ROOT` so the machine itself is never changed.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{Host, HostOptions};
use osconfig_rest::CallError;
use serde_json::{json, Value};

fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(bytes)))
}

fn with_root(name: &str, root: &std::path::Path) -> Host {
    let options = HostOptions { env: vec![("OSCONFIG_ROOT".into(), root.to_path_buf())], ..Default::default() };
    Host::start_with(&common::module_so(name), options)
}

#[test]
fn test_deviceinfo_reports_planted_os_name() {
    let root = common::temp_dir("deviceinfo-root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(
        root.join("etc/os-release"),
        "NAME=\"Host Test OS\"\nPRETTY_NAME=\"Hosttest OS 9.1\"\nID=hosttest\nVERSION_ID=\"9.1\"\n",
    )
    .unwrap();
    let host = with_root("deviceinfo", &root);
    let mut client = host.client();
    let info = value(&client.get_info("modules-test").unwrap());
    assert_eq!(info["Name"], "DeviceInfo");
    let session = client.open("modules-test", 0).unwrap();
    assert_eq!(
        client.get(&session, "DeviceInfo", "osName").unwrap(),
        br#""Hosttest""#,
        "the first word of PRETTY_NAME"
    );
    assert_eq!(client.get(&session, "DeviceInfo", "osVersion").unwrap(), br#""9.1""#);
    assert!(value(&client.get(&session, "DeviceInfo", "totalMemory").unwrap()).as_u64().unwrap() > 0);
    // DeviceInfo has no desired objects.
    assert!(matches!(client.set(&session, "DeviceInfo", "osName", b"\"x\""), Err(CallError::Module(1))));
    drop(host);
}

#[test]
fn test_hostname_set_and_get_under_temp_root() {
    let root = common::temp_dir("hostname-root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/hostname"), "before\n").unwrap();
    fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    let kernel_before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = with_root("hostname", &root);
    let mut client = host.client();
    let session = client.open("modules-test", 0).unwrap();
    assert_eq!(client.get(&session, "HostName", "name").unwrap(), br#""before""#);
    client.set(&session, "HostName", "desiredName", br#""mh-test-box""#).unwrap();
    assert_eq!(fs::read_to_string(root.join("etc/hostname")).unwrap(), "mh-test-box\n");
    assert_eq!(client.get(&session, "HostName", "name").unwrap(), br#""mh-test-box""#);
    assert!(matches!(
        client.set(&session, "HostName", "desiredName", br#""not a host name!""#),
        Err(CallError::Module(22))
    ));
    assert_eq!(fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), kernel_before);
    drop(host);
}

#[test]
fn test_commandrunner_runs_a_command_and_reports_it() {
    let root = common::temp_dir("commandrunner-root");
    let host = with_root("commandrunner", &root);
    let mut client = host.client();
    let session = client.open("modules-test", 0).unwrap();
    let before = value(&client.get(&session, "CommandRunner", "commandStatus").unwrap());
    assert_eq!(before, json!({"commandId": "", "resultCode": 0, "textResult": "", "currentState": 0}));
    let args = json!({
        "commandId": "mh-1",
        "arguments": "echo hello from the host; exit 3",
        "timeout": 30,
        "singleLineTextResult": true,
        "action": 3
    });
    client.set(&session, "CommandRunner", "commandArguments", args.to_string().as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let status = value(&client.get(&session, "CommandRunner", "commandStatus").unwrap());
        if status["currentState"] != 1 && status["commandId"] == "mh-1" {
            break status;
        }
        assert!(Instant::now() < deadline, "command still running: {status}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["currentState"], 3, "{status}");
    assert_eq!(status["resultCode"], 3, "{status}");
    assert_eq!(status["textResult"].as_str().unwrap().trim_end(), "hello from the host", "{status}");
    drop(host);
}
