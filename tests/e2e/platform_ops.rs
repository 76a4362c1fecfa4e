//! End-to-end tests of the platform as a process: authorization of callers by uid and group (a forked client that
//! drops to another uid), SIGTERM/SIGINT (exit within one second, socket removed, hosts stopped), SIGHUP
//! (configuration reload; an invalid file keeps the previous one), the command line and its exit codes.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{artifacts, body_of, expected_response, reference_request, status_of, write_config, Options, Platform};
use osconfig_rest::CallError;
use osconfig_testkit::ChildGuard;
use serde_json::{json, Value};

/// Sends `wire` on a new connection from a forked child running as `uid`/`gid` (no supplementary groups); the raw
/// answer (empty if the child could not connect). The child uses only async-signal-safe calls.
fn request_as(uid: u32, gid: u32, socket: &Path, wire: &[u8]) -> Vec<u8> {
    let path = CString::new(socket.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: sockaddr_un is plain data; all-zero is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_bytes_with_nul();
    assert!(bytes.len() <= addr.sun_path.len());
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let mut pipe = [0i32; 2];
    // SAFETY: `pipe` has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    let mut buffer = vec![0u8; 4096];
    // SAFETY: after fork the child only calls async-signal-safe functions on memory prepared before the fork,
    // then _exit; the parent only waits and reads.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: child side, as above.
        unsafe {
            libc::alarm(10);
            libc::close(pipe[0]);
            if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                libc::_exit(10);
            }
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            if libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
                libc::_exit(11);
            }
            if libc::write(fd, wire.as_ptr().cast(), wire.len()) != wire.len() as isize {
                libc::_exit(12);
            }
            let n = libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len());
            if n > 0 {
                libc::write(pipe[1], buffer.as_ptr().cast(), n as usize);
            }
            libc::_exit(0);
        }
    }
    // SAFETY: parent side: close our copy of the write end, read the child's answer, reap the child.
    unsafe {
        libc::close(pipe[1]);
        let mut answer = Vec::new();
        loop {
            let n = libc::read(pipe[0], buffer.as_mut_ptr().cast(), buffer.len());
            if n <= 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n as usize]);
        }
        libc::close(pipe[0]);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        assert!(libc::WIFEXITED(status), "child died: {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "child failed (10 setuid, 11 connect, 12 write)");
        answer
    }
}

/// Lets every user reach the socket (the directory is 0700 root by default), so the platform's own check decides.
fn open_socket_to_everyone(platform: &Platform) {
    fs::set_permissions(platform.root.join("run/osconfig"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&platform.socket, fs::Permissions::from_mode(0o666)).unwrap();
}

fn open_wire() -> Vec<u8> {
    reference_request("MpiOpen", br#"{ "ClientName": "outsider", "MaxPayloadSizeBytes": 0 }"#)
}

#[test]
fn test_authorization_by_uid_and_group() {
    let platform = Platform::start(
        "auth",
        Options {
            modules: vec!["fixture"],
            config: Some(json!({"MpiAllowedUids": [65533], "MpiAllowedGroups": [65530, "no-such-group-e2e"]})),
            ..Options::default()
        },
    );
    open_socket_to_everyone(&platform);
    // nobody: refused with 403 and an empty body, and a log line naming uid and pid.
    let refused = request_as(65534, 65534, &platform.socket, &open_wire());
    assert_eq!(refused, expected_response("403 Forbidden", b""));
    assert!(platform.wait_log("uid 65534 (pid ", Duration::from_secs(2)), "{}", platform.stderr_text());
    // Every endpoint is refused, known or not.
    let refused_get = request_as(65534, 65534, &platform.socket, &reference_request("MpiNope", b"{}"));
    assert_eq!(status_of(&refused_get), 403);
    // A listed uid.
    let allowed = request_as(65533, 65533, &platform.socket, &open_wire());
    assert_eq!(status_of(&allowed), 200, "{}", String::from_utf8_lossy(&allowed));
    assert_eq!(body_of(&allowed).len(), 38);
    // A listed group (the connection's gid).
    let by_group = request_as(65531, 65530, &platform.socket, &open_wire());
    assert_eq!(status_of(&by_group), 200, "{}", String::from_utf8_lossy(&by_group));
    // root is always allowed.
    assert!(platform.client().open("root", 0).is_ok());
    assert!(platform.stderr_text().contains("no-such-group-e2e"), "unknown group name logged");
}

#[test]
fn test_only_root_by_default() {
    let platform = Platform::start("auth-default", Options { modules: vec!["fixture"], ..Options::default() });
    open_socket_to_everyone(&platform);
    assert_eq!(status_of(&request_as(65534, 65534, &platform.socket, &open_wire())), 403);
    assert_eq!(status_of(&request_as(1, 1, &platform.socket, &open_wire())), 403);
}

#[test]
fn test_socket_modes() {
    let platform = Platform::start("modes", Options { modules: vec![], ..Options::default() });
    let dir_mode = fs::metadata(platform.root.join("run/osconfig")).unwrap().permissions().mode() & 0o777;
    let socket_mode = fs::metadata(&platform.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!((dir_mode, socket_mode), (0o700, 0o660));
}

/// Pids of processes whose command line mentions `path` (module hosts get their socket under the root).
fn processes_mentioning(path: &Path) -> Vec<u32> {
    let needle = path.as_os_str().as_encoded_bytes();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| cmd.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

fn stops_within_one_second(signal: i32) {
    let mut platform = Platform::start("stop", Options::default());
    let mut client = platform.client();
    let s = client.open("stop", 0).unwrap();
    for (component, object) in [("Fixture", "echo"), ("DeviceInfo", "osName"), ("HostName", "name")] {
        client.get(&s, component, object).unwrap();
    }
    let hosts_dir = platform.root.join("run/osconfig/modules");
    assert!(fs::read_dir(&hosts_dir).unwrap().count() > 0, "hosts are running");
    assert!(processes_mentioning(&platform.root).len() >= 3, "the platform and its hosts are seen");
    let sent = Instant::now();
    platform.signal(signal);
    let status = platform.wait_exit(Duration::from_secs(3)).expect("platform exited");
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    assert_eq!(status.code(), Some(0), "{}", platform.stderr_text());
    assert!(!platform.socket.exists(), "MPI socket removed");
    let left: Vec<_> = fs::read_dir(&hosts_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "host sockets left: {left:?}");
    assert!(processes_mentioning(&platform.root).is_empty(), "module hosts stopped");
}

#[test]
fn test_sigterm_stops_within_one_second() {
    stops_within_one_second(libc::SIGTERM);
}

#[test]
fn test_sigint_stops_within_one_second() {
    stops_within_one_second(libc::SIGINT);
}

fn reported(platform: &Platform) -> Value {
    let mut client = platform.client();
    let s = client.open("reload", 0).unwrap();
    let document = serde_json::from_slice(&client.get_reported(&s).unwrap()).unwrap();
    client.close(&s).unwrap();
    document
}

#[test]
fn test_sighup_reloads_and_invalid_config_keeps_previous() {
    let entries = |object: &str| json!({"Reported": [{"ComponentName": "Fixture", "ObjectName": object}]});
    let platform = Platform::start(
        "reload",
        Options { modules: vec!["fixture"], config: Some(entries("echo")), ..Options::default() },
    );
    assert_eq!(reported(&platform), json!({"Fixture": {"echo": ""}}));

    write_config(&platform.root, &entries("bigSize"));
    platform.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while reported(&platform) != json!({"Fixture": {"bigSize": 0}}) {
        assert!(Instant::now() < deadline, "reload not applied: {}", platform.stderr_text());
        std::thread::sleep(Duration::from_millis(20));
    }

    fs::write(platform.root.join("etc/osconfig/osconfig.json"), b"{\"Reported\": [").unwrap();
    platform.signal(libc::SIGHUP);
    assert!(
        platform.wait_log("keeping the previous configuration", Duration::from_secs(5)),
        "{}",
        platform.stderr_text()
    );
    assert_eq!(reported(&platform), json!({"Fixture": {"bigSize": 0}}));

    // Clamped values are logged and the file still applies.
    write_config(
        &platform.root,
        &json!({"LoggingLevel": 42, "Reported": [{"ComponentName": "Fixture", "ObjectName": "echo"}]}),
    );
    platform.signal(libc::SIGHUP);
    assert!(
        platform.wait_log("LoggingLevel: 42 is out of range", Duration::from_secs(5)),
        "{}",
        platform.stderr_text()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while reported(&platform) != json!({"Fixture": {"echo": ""}}) {
        assert!(Instant::now() < deadline, "reload not applied");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn test_invalid_config_at_start_runs_with_defaults() {
    let platform = Platform::start(
        "badstart",
        Options { modules: vec!["fixture"], raw_config: Some(b"{\"Reported\": [ not json"), ..Options::default() },
    );
    assert!(platform.wait_log("using the defaults", Duration::from_secs(5)), "{}", platform.stderr_text());
    let mut client = platform.client();
    let s = client.open("x", 0).unwrap();
    assert_eq!(client.get_reported(&s).unwrap(), b"{}");
    assert_eq!(client.get(&s, "Fixture", "echo").unwrap(), b"\"\"");
    assert!(matches!(client.get(&s, "Nope", "x"), Err(CallError::Platform(22))));
}

#[test]
fn test_command_line_and_exit_codes() {
    let exe = artifacts().platform();
    let help = Command::new(&exe).arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for option in ["--root", "--config", "--socket", "--modulehost", "--foreground", "--version", "exit codes"] {
        assert!(text.contains(option), "{option} in --help");
    }
    let version = Command::new(&exe).arg("--version").output().unwrap();
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("osconfig-platform "));
    assert_eq!(Command::new(&exe).arg("--bogus").output().unwrap().status.code(), Some(2));
    assert_eq!(Command::new(&exe).arg("--root").output().unwrap().status.code(), Some(2));

    // A second platform on a live socket exits 3 and leaves the first one working.
    let platform = Platform::start("twice", Options { modules: vec!["fixture"], ..Options::default() });
    let second = Command::new(&exe).args(["--foreground", "--root"]).arg(&platform.root).output().unwrap();
    assert_eq!(second.status.code(), Some(3), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(platform.client().open("still there", 0).is_ok());

    // --socket and --config put the two files elsewhere.
    let root = common::temp_dir("paths");
    let socket = root.join("elsewhere/api.sock");
    let config = root.join("conf.json");
    fs::write(&config, br#"{"Reported":[{"ComponentName":"Nope","ObjectName":"x"}]}"#).unwrap();
    let mut child = ChildGuard::spawn(
        Command::new(&exe)
            .arg("--root")
            .arg(&root)
            .arg("--socket")
            .arg(&socket)
            .arg("--config")
            .arg(&config)
            .arg("--modulehost")
            .arg(artifacts().modulehost())
            .stderr(std::process::Stdio::null()),
    )
    .unwrap()
    .with_grace(Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "socket at --socket");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut client = osconfig_rest::MpiClient::new(&socket);
    let s = client.open("paths", 0).unwrap();
    assert_eq!(client.get_reported(&s).unwrap(), b"{}");
    assert!(root.join("var/log/osconfig_platform.log").is_file(), "log under the root");
    // SIGTERM, then its exit status.
    assert_eq!(child.stop().code(), Some(0));
    assert!(!socket.exists());
}

#[test]
fn test_sigterm_during_a_hung_module_call_still_stops_within_one_second() {
    let mut platform = Platform::start(
        "stop-hung",
        Options {
            modules: vec!["fixture"],
            config: Some(json!({"ModuleCallTimeoutSeconds": 60})),
            ..Options::default()
        },
    );
    let mut client = platform.client();
    let s = client.open("hang", 0).unwrap();
    client.get(&s, "Fixture", "echo").unwrap();
    let socket = platform.socket.clone();
    let session = s.clone();
    let hung = std::thread::spawn(move || {
        osconfig_rest::MpiClient::new(&socket)
            .with_timeout(Duration::from_secs(10))
            .set(&session, "Fixture", "hang", b"1")
    });
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    platform.signal(libc::SIGTERM);
    let status = platform.wait_exit(Duration::from_secs(3)).expect("platform exited");
    assert!(sent.elapsed() < Duration::from_secs(1), "exit took {:?}", sent.elapsed());
    assert_eq!(status.code(), Some(0));
    assert!(hung.join().unwrap().is_err(), "the hung call gets no success");
    assert!(!platform.socket.exists());
    // The host dies with the platform (parent-death signal).
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if processes_mentioning(&platform.root).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "a module host outlived the platform");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A user that is a supplementary (not primary) member of some group, from `/etc/group` and `/etc/passwd`:
/// `(uid, primary gid, supplementary gid)`.
fn supplementary_member() -> Option<(u32, u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    let groups = fs::read_to_string("/etc/group").ok()?;
    for group in groups.lines() {
        let fields: Vec<&str> = group.split(':').collect();
        let (Some(gid), Some(members)) = (fields.get(2).and_then(|g| g.parse::<u32>().ok()), fields.get(3)) else {
            continue;
        };
        for member in members.split(',').filter(|m| !m.is_empty()) {
            let user = passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|u| u[0] == member);
            if let Some(user) = user {
                let (uid, primary) = (user[2].parse::<u32>().ok()?, user[3].parse::<u32>().ok()?);
                if uid != 0 && primary != gid {
                    return Some((uid, primary, gid));
                }
            }
        }
    }
    None
}

#[test]
fn test_authorization_by_supplementary_group() {
    let Some((uid, primary, supplementary)) = supplementary_member() else {
        eprintln!("no user with a supplementary group in /etc/group: skipped");
        return;
    };
    let platform = Platform::start(
        "auth-supp",
        Options {
            modules: vec!["fixture"],
            config: Some(json!({"MpiAllowedGroups": [supplementary]})),
            ..Options::default()
        },
    );
    open_socket_to_everyone(&platform);
    let allowed = request_as(uid, primary, &platform.socket, &open_wire());
    assert_eq!(status_of(&allowed), 200, "uid {uid} in group {supplementary}: {}", String::from_utf8_lossy(&allowed));
    // The same uid is refused once its group is no longer listed (SIGHUP).
    write_config(&platform.root, &json!({"MpiAllowedGroups": [supplementary + 1_000_000]}));
    platform.signal(libc::SIGHUP);
    assert!(platform.wait_log("configuration", Duration::from_secs(5)));
    let deadline = Instant::now() + Duration::from_secs(5);
    while status_of(&request_as(uid, primary, &platform.socket, &open_wire())) != 403 {
        assert!(Instant::now() < deadline, "group removal not applied");
        std::thread::sleep(Duration::from_millis(50));
    }
}
