//! The host as a process: command line, exit codes, start-up checks, signals, crashes, hangs, privilege drop.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use common::{Host, HostOptions};
use osconfig_rest::CallError;
use osconfig_testkit::ChildGuard;

const START_TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn test_cli_help_version_and_usage_errors() {
    let (status, stdout, _) = common::run_host(&[OsStr::new("--help")], START_TIMEOUT);
    assert_eq!(status.code(), Some(0));
    assert!(stdout.starts_with("usage: osconfig-modulehost --module"), "{stdout}");
    assert!(stdout.contains("exit codes:"), "{stdout}");

    let (status, stdout, _) = common::run_host(&[OsStr::new("--version")], START_TIMEOUT);
    assert_eq!(status.code(), Some(0));
    assert_eq!(stdout, format!("osconfig-modulehost {}\n", env!("CARGO_PKG_VERSION")));

    for (list, reason) in [
        (&["--socket", "/tmp/x.sock"][..], "option --module is required"),
        (&["--module", "relative.so", "--socket", "/tmp/x.sock"], "must be absolute"),
        (&["--module", "/m.so", "--socket", "/tmp/x.sock", "--user", "nobody"], "numeric uid"),
        (&["--module", "/m.so", "--socket"], "needs a value"),
        (&["--bogus"], "unknown option"),
    ] {
        let list: Vec<&OsStr> = list.iter().map(OsStr::new).collect();
        let (status, _, stderr) = common::run_host(&list, START_TIMEOUT);
        assert_eq!(status.code(), Some(2), "{list:?}: {stderr}");
        assert!(stderr.contains(reason), "{list:?}: {stderr}");
    }
}

fn expect_exit(module: &Path, socket: &Path, code: i32, reason: &str) {
    let list = [OsStr::new("--module"), module.as_os_str(), OsStr::new("--socket"), socket.as_os_str()];
    let (status, _, stderr) = common::run_host(&list, START_TIMEOUT);
    assert_eq!(status.code(), Some(code), "{}: {stderr}", module.display());
    assert!(stderr.contains(reason), "expected {reason:?} in:\n{stderr}");
}

#[test]
fn test_bad_modules_exit_3_with_reason() {
    let dir = common::temp_dir("bad-modules");
    let socket = dir.join("run/m.sock");
    expect_exit(&dir.join("missing.so"), &socket, 3, "missing.so");
    let no_free = common::broken_module("OMIT_FREE", &dir, "no_free.so");
    expect_exit(&no_free, &socket, 3, "does not export MmiFree");
    let info_errno = common::broken_module("INFO_ERRNO", &dir, "info_errno.so");
    expect_exit(&info_errno, &socket, 3, "MmiGetInfo failed");
    let info_bad = common::broken_module("INFO_BAD", &dir, "info_bad.so");
    expect_exit(&info_bad, &socket, 3, "Components");
    let not_a_library = dir.join("text.so");
    fs::write(&not_a_library, "not an ELF file").unwrap();
    expect_exit(&not_a_library, &socket, 3, "cannot load module");
    assert!(!socket.exists(), "the socket is removed after a failed start");
}

#[test]
fn test_socket_errors_exit_4() {
    let dir = common::temp_dir("bad-socket");
    let module = common::module_so("fixture");
    let file = dir.join("regular-file");
    fs::write(&file, "keep").unwrap();
    expect_exit(&module, &file, 4, "is not a socket");
    assert_eq!(fs::read_to_string(&file).unwrap(), "keep");
    expect_exit(&module, &file.join("under-a-file.sock"), 4, "cannot serve on socket");

    // A live host's socket is not taken over.
    let host = Host::start("fixture");
    let list = [OsStr::new("--module"), module.as_os_str(), OsStr::new("--socket"), host.socket.as_os_str()];
    let (status, _, stderr) = common::run_host(&list, START_TIMEOUT);
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(host.socket.exists(), "the live socket stays");
}

#[test]
fn test_socket_modes() {
    let host = Host::start("fixture");
    let dir_mode = fs::metadata(host.socket.parent().unwrap()).unwrap().permissions().mode() & 0o777;
    let socket_mode = fs::symlink_metadata(&host.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!((dir_mode, socket_mode), (0o700, 0o660));
}

#[test]
fn test_sigterm_closes_sessions_and_exits_0_within_a_second() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut host = Host::start("fixture");
        let mut client = host.client();
        let a = client.open("stop-test", 0).unwrap();
        client.open("stop-test", 0).unwrap();
        client.set(&a, "Fixture", "echo", b"1").unwrap();
        let (status, took) = host.stop(signal, Duration::from_secs(5));
        assert_eq!(status.code(), Some(0), "signal {signal}:\n{}", host.stderr());
        assert!(took < Duration::from_secs(1), "took {took:?}");
        assert!(!host.socket.exists(), "socket removed");
        let log = host.stderr();
        assert_eq!(log.matches("MmiClose(").count(), 2, "{log}");
        assert!(log.contains("closed 2 session(s)"), "{log}");
        assert!(log.contains("] stopped"), "{log}");
    }
}

#[test]
fn test_restart_after_kill_replaces_stale_socket() {
    let mut first = Host::start("fixture");
    first.signal(libc::SIGKILL);
    first.wait_exit(Duration::from_secs(5));
    assert!(first.socket.exists(), "a killed host leaves its socket file");
    let module = common::module_so("fixture");
    let mut second = ChildGuard::spawn(
        std::process::Command::new(common::host_bin())
            .arg("--module")
            .arg(&module)
            .arg("--socket")
            .arg(&first.socket)
            .env("OSCONFIG_ROOT", &first.dir)
            .stderr(std::process::Stdio::null()),
    )
    .unwrap();
    let mut client = first.client();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let info = loop {
        match client.get_info("restart") {
            Ok(info) => break info,
            Err(e) => assert!(std::time::Instant::now() < deadline, "second host never answered: {e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(String::from_utf8_lossy(&info).contains("\"Fixture\""));
    assert!(second.signal(libc::SIGTERM));
    assert_eq!(second.wait_timeout(Duration::from_secs(5)).unwrap().code(), Some(0));
}

#[test]
fn test_crash_kills_only_the_host() {
    let mut host = Host::start("fixture");
    let mut client = host.client();
    let session = client.open("crash-test", 0).unwrap();
    let err = client.get(&session, "Fixture", "crash").unwrap_err();
    assert!(matches!(err, CallError::Transport(_)), "{err:?}");
    let status = host.wait_exit(Duration::from_secs(5));
    assert_eq!(common::signal_of(status), Some(libc::SIGABRT), "{status}");
}

#[test]
fn test_hung_module_call_stop_exits_6_within_a_second() {
    let mut host = Host::start("fixture");
    let mut client = host.client();
    let session = client.open("hang-test", 0).unwrap();
    let socket = host.socket.clone();
    let hung = std::thread::spawn(move || {
        let mut client = osconfig_rest::MmiClient::new(socket).with_timeout(Duration::from_secs(3));
        client.set(&session, "Fixture", "hang", b"1")
    });
    std::thread::sleep(Duration::from_millis(200));
    // Module calls run on the loop's thread: the host is stuck in the module, and only the signal thread can end it.
    let (status, took) = host.stop(libc::SIGTERM, Duration::from_secs(5));
    assert_eq!(status.code(), Some(6), "{}", host.stderr());
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(!host.socket.exists());
    assert!(host.stderr().contains("still running"), "{}", host.stderr());
    assert!(hung.join().unwrap().is_err());
}

#[test]
fn test_module_hanging_at_start_still_stops_on_sigterm() {
    let dir = common::temp_dir("hang-at-start");
    let module = common::broken_module("INFO_HANG", &dir, "info_hang.so");
    // The socket is bound before the module loads, so the host looks ready while MmiGetInfo hangs.
    let mut host = Host::start_with(&module, HostOptions::default());
    std::thread::sleep(Duration::from_millis(100));
    let (status, took) = host.stop(libc::SIGTERM, Duration::from_secs(5));
    assert_eq!(status.code(), Some(6), "{}", host.stderr());
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(host.stderr().contains("after the stop signal"), "{}", host.stderr());
}

/// A copy of the fixture that any user can read, in a directory any user can enter.
fn world_readable_fixture(dir: &Path) -> std::path::PathBuf {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.join("fixture.so");
    fs::copy(common::module_so("fixture"), &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o644)).unwrap();
    copy
}

fn status_ids(pid: i32, key: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix(key)).unwrap().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn test_user_drop_runs_host_as_nobody() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = common::temp_dir("user-drop");
    let module = world_readable_fixture(&dir);
    let mut host =
        Host::start_with(&module, HostOptions { args: vec!["--user".into(), "65534".into()], ..Default::default() });
    assert_eq!(status_ids(host.pid(), "Uid:"), "65534 65534 65534 65534");
    let gid = common_gid(65534);
    assert_eq!(status_ids(host.pid(), "Gid:"), format!("{gid} {gid} {gid} {gid}"));
    assert_eq!(status_ids(host.pid(), "Groups:"), "");
    let meta = fs::symlink_metadata(&host.socket).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, gid));
    let parent = fs::metadata(host.socket.parent().unwrap()).unwrap();
    assert_eq!(parent.uid(), 65534, "the directory the host created is handed over too");

    // Root (the platform) still connects and the module works as nobody.
    let mut client = host.client();
    let session = client.open("user-test", 0).unwrap();
    client.set(&session, "Fixture", "echo", b"\"as nobody\"").unwrap();
    assert_eq!(client.get(&session, "Fixture", "echo").unwrap(), b"\"as nobody\"");

    let (status, _) = host.stop(libc::SIGTERM, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{}", host.stderr());
    assert!(!host.socket.exists(), "nobody could remove its socket");
}

/// The primary gid of `uid` as the host computes it.
fn common_gid(uid: u32) -> u32 {
    osconfig_modulehost::privileges::account(uid).gid
}

#[test]
fn test_user_switch_without_root_exits_5() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to start the host as another user");
        return;
    }
    let dir = common::temp_dir("user-fail");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let module = world_readable_fixture(&dir);
    let socket = dir.join("sock/m.sock");
    let mut child = ChildGuard::spawn(
        std::process::Command::new(common::host_bin())
            .arg("--module")
            .arg(&module)
            .arg("--socket")
            .arg(&socket)
            .args(["--user", "1234"])
            .env("OSCONFIG_ROOT", &dir)
            .stderr(std::process::Stdio::piped())
            .uid(65534)
            .gid(65534),
    )
    .unwrap();
    let status = child.wait_timeout(START_TIMEOUT).expect("host did not exit");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.child_mut().stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("cannot drop privileges: running as uid 65534, not root"), "{stderr}");
}
