//! The `osconfig` binary: command line, exit codes and log lines of the cases that stop it, and a run with no
//! hub and no identity service that keeps going until SIGTERM. Each run has its own temporary root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use osconfig_testkit::{artifacts, ChildGuard, TempRoot};

/// The agent binary.
fn binary() -> PathBuf {
    artifacts().agent()
}

fn root(tag: &str) -> TempRoot {
    let dir = TempRoot::new(&format!("agent-cli-{tag}"));
    std::fs::create_dir_all(dir.join("etc/osconfig")).unwrap();
    dir
}

fn command(root: &Path) -> Command {
    let mut c = Command::new(binary());
    c.arg("--root").arg(root).arg("--foreground");
    let absent = root.join("no-aziot");
    c.arg("--identityd-socket").arg(absent.join("identityd.sock"));
    c.arg("--keyd-socket").arg(absent.join("keyd.sock"));
    c.env_remove("OSCONFIG_CONNECTION_STRING").env_remove("NOTIFY_SOCKET");
    c.stdin(Stdio::null());
    c
}

fn log(root: &Path) -> String {
    std::fs::read_to_string(root.join("var/log/osconfig_pnp_agent.log")).unwrap_or_default()
}

fn run(root: &Path, args: &[&str]) -> Output {
    command(root).args(args).output().expect("run osconfig")
}

fn management_on(root: &Path, extra: &str) {
    std::fs::write(root.join("etc/osconfig/osconfig.json"), format!("{{\"IotHubManagement\":1{extra}}}")).unwrap();
}

#[test]
fn test_help_version_and_bad_arguments() {
    let out = Command::new(binary()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for option in ["--root", "--connection-string", "--connection-file", "--ca-file", "OSCONFIG_CONNECTION_STRING"] {
        assert!(text.contains(option), "--help names {option}");
    }
    let out = Command::new(binary()).arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("osconfig "));
    let out = Command::new(binary()).arg("--nope").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument \"--nope\""));
}

#[test]
fn test_iot_hub_management_off_exits_0_with_a_log_line() {
    let root = root("off");
    let out = run(&root, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(log(&root).contains("remote management is off"), "{}", log(&root));
    std::fs::write(root.join("etc/osconfig/osconfig.json"), r#"{"IotHubManagement":0}"#).unwrap();
    assert_eq!(run(&root, &[]).status.code(), Some(0));
}

#[test]
fn test_invalid_identity_configuration_and_ca_file_exit_2() {
    let root = root("invalid");
    management_on(&root, "");
    let device = "HostName=hub.example.net;DeviceId=d;SharedAccessKey=AAECAwQ=";
    let out = run(&root, &["--connection-string", device]);
    assert_eq!(out.status.code(), Some(2));
    assert!(log(&root).contains("device identity (no ModuleId)"), "{}", log(&root));
    assert!(!log(&root).contains("AAECAwQ="), "the key never reaches the log");
    std::fs::write(root.join("etc/osconfig/osconfig.conn"), "HostName=hub.example.net;DeviceId=d;ModuleId=m;Bogus=1\n")
        .unwrap();
    assert_eq!(run(&root, &[]).status.code(), Some(2));
    assert!(log(&root).contains("unknown connection string key \"Bogus\""), "{}", log(&root));
    assert!(log(&root).contains("readable by others"), "a connection file open to others is warned about");
    let out = run(&root, &["--connection-file", root.join("absent.conn").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(log(&root).contains("cannot read the connection file"));
    let out = run(&root, &["--ca-file", root.join("absent.pem").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(log(&root).contains("--ca-file"));
    std::fs::write(root.join("etc/osconfig/osconfig.json"), "{not json").unwrap();
    assert_eq!(run(&root, &[]).status.code(), Some(2));
    assert!(log(&root).contains("invalid configuration"));
}

#[test]
fn test_without_hub_or_identity_service_it_keeps_running_until_sigterm() {
    let root = root("local");
    management_on(&root, r#","ReportingIntervalSeconds":1"#);
    let mut child = ChildGuard::spawn(command(&root).stdout(Stdio::null()).stderr(Stdio::null())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log(&root).contains("no connection string given") {
        assert!(Instant::now() < deadline, "no log line about the missing identity: {}", log(&root));
        assert!(child.try_wait().is_none(), "the agent stopped: {}", log(&root));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().is_none(), "still running without a hub");
    assert_eq!(log(&root).matches("no connection string given").count(), 1, "logged once, not at every retry");
    assert!(child.signal(libc::SIGTERM));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    assert!(log(&root).contains("osconfig stopped"));
}

#[test]
fn test_sighup_rereads_the_configuration_and_stops_when_management_is_turned_off() {
    let root = root("reload");
    management_on(&root, "");
    let mut child = ChildGuard::spawn(command(&root).stdout(Stdio::null()).stderr(Stdio::null())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log(&root).contains("no connection string given") {
        assert!(Instant::now() < deadline, "{}", log(&root));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(root.join("etc/osconfig/osconfig.json"), "{broken").unwrap();
    assert!(child.signal(libc::SIGHUP));
    while !log(&root).contains("keeping the previous configuration") {
        assert!(Instant::now() < deadline, "{}", log(&root));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(child.try_wait().is_none(), "an invalid file keeps the agent running");
    std::fs::write(root.join("etc/osconfig/osconfig.json"), r#"{"IotHubManagement":0}"#).unwrap();
    assert!(child.signal(libc::SIGHUP));
    let status = loop {
        if let Some(status) = child.try_wait() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after IotHubManagement 0 and SIGHUP");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    assert!(log(&root).contains("remote management is off"));
}
