//! End-to-end tests of the Modules Manager through the real `osconfig-platform` and real module hosts, over the MPI
//! socket: a host killed with SIGKILL in the middle of a call (500 with errno 5, back-off errno 11, restart on the
//! next request), quarantine after the crash limit (errno 131), kept across a platform restart and cleared by SIGHUP;
//! a hanging module killed at `ModuleCallTimeoutSeconds` (errno 62) and counted; a Lifetime 2 host stopped after
//! `ModuleIdleUnloadSeconds` and restarted on demand; two modules claiming one component (the higher version wins,
//! two small C modules compiled with `cc`).
//!
//! Uses the shared helpers of `common` (build, temp dirs, `osconfig.json`), plus a small `Daemon` of its own: these
//! tests restart the platform in the same root, which `common::Platform` does not do.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use osconfig_rest::{CallError, MpiClient};
use osconfig_testkit::{ChildGuard, TempRoot};
use serde_json::{json, Value};

/// The manager's errnos (see `osconfig_platform::manager`).
const EIO: i32 = 5;
const EAGAIN: i32 = 11;
const ENOTRECOVERABLE: i32 = 131;
const ETIME: i32 = 62;

/// A platform running in a root the test prepared; stopped (SIGTERM, then SIGKILL after `STOP_GRACE`) on drop. The
/// root stays.
struct Daemon {
    root: PathBuf,
    child: ChildGuard,
}

impl Daemon {
    fn start(root: &Path) -> Daemon {
        let built = common::artifacts();
        let stderr = fs::OpenOptions::new().create(true).append(true).open(root.join("platform.stderr")).unwrap();
        let child = ChildGuard::spawn(
            Command::new(built.platform())
                .arg("--root")
                .arg(root)
                .arg("--foreground")
                .arg("--modulehost")
                .arg(built.modulehost())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr),
        )
        .expect("start osconfig-platform")
        .with_grace(common::STOP_GRACE);
        let mut daemon = Daemon { root: root.to_path_buf(), child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(daemon.socket()).is_err() {
            if let Some(status) = daemon.child.try_wait() {
                panic!("platform exited at start ({status}): {}", daemon.stderr());
            }
            assert!(Instant::now() < deadline, "platform socket did not appear: {}", daemon.stderr());
            std::thread::sleep(Duration::from_millis(5));
        }
        daemon
    }

    fn socket(&self) -> PathBuf {
        self.root.join("run/osconfig/mpid.sock")
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.root.join("platform.stderr")).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, signal: i32) {
        assert!(self.child.signal(signal), "kill({}, {signal})", self.pid());
    }

    /// An MPI client with an open session.
    fn session(&self, name: &str) -> (MpiClient, String) {
        let mut client = MpiClient::new(self.socket()).with_timeout(Duration::from_secs(30));
        let session = client.open(name, 0).expect("MpiOpen");
        (client, session)
    }

    /// The running (not zombie) module host of the platform serving `<module file>`.
    fn host_pid(&self, module_file: &str) -> Option<i32> {
        for entry in fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            // Fields after the parenthesized command: state, ppid, ...
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.len() < 2 || fields[0] == "Z" || fields[1].parse::<i32>() != Ok(self.pid()) {
                continue;
            }
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(module_file) {
                return Some(pid);
            }
        }
        None
    }

    /// Waits up to `limit` for `check` to hold.
    fn wait_for(&self, limit: Duration, mut check: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if check() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        check()
    }

    fn stop(mut self) {
        self.signal(libc::SIGTERM);
        assert!(self.child.wait_timeout(Duration::from_secs(3)).is_some(), "platform did not stop on SIGTERM");
    }
}

/// A temporary root with `modules` (library names) installed as `<name>.so` and `config` as `osconfig.json`.
fn root_with(tag: &str, modules: &[&str], config: Value) -> TempRoot {
    let root = common::temp_dir(tag);
    let dir = root.join("usr/lib/osconfig");
    fs::create_dir_all(&dir).unwrap();
    for name in modules {
        fs::copy(common::artifacts().module(name), dir.join(format!("{name}.so"))).unwrap();
    }
    common::write_config(&root, &config);
    root
}

fn kill(pid: i32) {
    // SAFETY: kill(2) on a module host of the test's platform.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

fn errno_of<T: std::fmt::Debug>(result: Result<T, CallError>) -> i32 {
    match result {
        Err(CallError::Platform(errno)) => errno,
        other => panic!("expected a 500 with an errno, got {other:?}"),
    }
}

#[test]
fn test_sigkill_mid_call_restart_quarantine_persisted_and_cleared_by_sighup() {
    let root = root_with("mgr-crash", &["fixture"], json!({"ModuleCrashLimit": 3, "ModuleCrashWindowSeconds": 300}));
    let daemon = Daemon::start(&root);
    let (mut client, session) = daemon.session("crash-test");
    client.set(&session, "Fixture", "echo", b"\"before\"").unwrap();
    let pid = daemon.host_pid("fixture.so").expect("the Lifetime 1 host runs");

    // SIGKILL during a 3 s call: the caller gets 500 "5" right away.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        kill(pid);
    });
    let started = Instant::now();
    assert_eq!(errno_of(client.set(&session, "Fixture", "slow", b"3000")), EIO);
    let answered = Instant::now();
    assert!(answered - started < Duration::from_millis(2500), "answered when the host died");
    killer.join().unwrap();

    // Within the first back-off (100 ms) a request fails fast with 11 and nothing is restarted.
    let early = client.get(&session, "Fixture", "echo");
    if answered.elapsed() < Duration::from_millis(80) {
        assert_eq!(errno_of(early), EAGAIN);
    }
    std::thread::sleep(Duration::from_millis(150));
    // The next request restarts the host and reopens the MMI session transparently (module state is gone).
    assert_eq!(client.get(&session, "Fixture", "echo").unwrap(), b"\"\"");
    let new_pid = daemon.host_pid("fixture.so").expect("restarted host");
    assert_ne!(new_pid, pid);
    let info: Value = serde_json::from_slice(&client.get(&session, "Fixture", "session").unwrap()).unwrap();
    assert_eq!(info["clientName"], "crash-test", "the client name is forwarded to the new session");

    // Two more crashes (abort) reach the limit of 3: quarantined.
    assert_eq!(errno_of(client.get(&session, "Fixture", "crash")), EIO);
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(errno_of(client.get(&session, "Fixture", "crash")), EIO);
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    assert_eq!(errno_of(client.get(&session, "Fixture", "echo")), ENOTRECOVERABLE);
    assert!(started.elapsed() < Duration::from_millis(200), "a quarantined module fails fast");
    assert_eq!(daemon.host_pid("fixture.so"), None);
    assert!(daemon.stderr().contains("quarantined"), "the reason is logged");
    daemon.stop();

    // A platform restart keeps the quarantine (crash times persisted under var/lib/osconfig/platform).
    assert!(root.join("var/lib/osconfig/platform/crashes-Fixture").is_file());
    let daemon = Daemon::start(&root);
    let (mut client, session) = daemon.session("after-restart");
    assert_eq!(errno_of(client.get(&session, "Fixture", "echo")), ENOTRECOVERABLE);
    // Its identifying host (MmiGetInfo at start) is stopped instead of kept.
    assert!(
        daemon.wait_for(Duration::from_secs(2), || daemon.host_pid("fixture.so").is_none()),
        "a quarantined Lifetime 1 module is not kept running"
    );

    // SIGHUP clears it.
    daemon.signal(libc::SIGHUP);
    assert!(
        daemon.wait_for(Duration::from_secs(5), || daemon.host_pid("fixture.so").is_some()),
        "host restarted after SIGHUP: {}",
        daemon.stderr()
    );
    let (mut client, session) = daemon.session("after-sighup");
    assert_eq!(client.get(&session, "Fixture", "echo").unwrap(), b"\"\"");
    daemon.stop();
}

#[test]
fn test_hanging_module_is_killed_at_the_call_timeout_and_counted() {
    let root = root_with("mgr-hang", &["fixture"], json!({"ModuleCallTimeoutSeconds": 1, "ModuleCrashLimit": 2}));
    let daemon = Daemon::start(&root);
    let (mut client, session) = daemon.session("hang-test");
    let pid = daemon.host_pid("fixture.so").unwrap();
    let started = Instant::now();
    assert_eq!(errno_of(client.get(&session, "Fixture", "hang")), ETIME);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "{took:?}");
    assert!(daemon.wait_for(Duration::from_secs(1), || daemon.host_pid("fixture.so") != Some(pid)));
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(client.get(&session, "Fixture", "echo").unwrap(), b"\"\"", "restarted on the next request");
    // The hang was counted: one more reaches ModuleCrashLimit 2.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(errno_of(client.set(&session, "Fixture", "hang", b"1")), ETIME);
    assert_eq!(errno_of(client.get(&session, "Fixture", "echo")), ENOTRECOVERABLE);
    daemon.stop();
}

/// The MPI loop itself waits for module hosts (no worker thread): while a host hangs, the loop still answers what
/// needs no module at once, accepts new connections and queues their calls; the queued call to another module runs
/// only after the hung one is killed (one module call at a time), and then at once.
#[test]
fn test_the_loop_serves_while_a_host_hangs_and_a_queued_call_runs_right_after_the_kill() {
    let platform = common::Platform::start(
        "mgr-hang-serve",
        common::Options {
            modules: vec!["fixture", "deviceinfo"],
            config: Some(json!({"ModuleCallTimeoutSeconds": 2})),
            ..common::Options::default()
        },
    );
    let mut client = platform.client();
    let session = client.open("hang-serve", 0).unwrap();
    client.get(&session, "DeviceInfo", "osName").unwrap();
    client.get(&session, "Fixture", "echo").unwrap();
    let started = Instant::now();
    let (socket, hung_session) = (platform.socket.clone(), session.clone());
    let hung = std::thread::spawn(move || {
        let result =
            MpiClient::new(&socket).with_timeout(Duration::from_secs(10)).get(&hung_session, "Fixture", "hang");
        (errno_of(result), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));

    let asked = Instant::now();
    let answer = common::exchange(&platform.socket, &common::reference_request("MpiGet", b"{not json"));
    assert_eq!(common::status_of(&answer), 400, "{}", String::from_utf8_lossy(&answer));
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "a bad request waited {:?} for the hung host",
        asked.elapsed()
    );

    let (socket, queued_session) = (platform.socket.clone(), session.clone());
    let queued = std::thread::spawn(move || {
        let value =
            MpiClient::new(&socket).with_timeout(Duration::from_secs(10)).get(&queued_session, "DeviceInfo", "osName");
        (value, started.elapsed())
    });
    let (errno, hung_took) = hung.join().unwrap();
    assert_eq!(errno, ETIME);
    assert!(hung_took >= Duration::from_millis(1900) && hung_took < Duration::from_secs(4), "{hung_took:?}");
    let (value, queued_took) = queued.join().unwrap();
    assert!(value.is_ok(), "{value:?}");
    assert!(queued_took >= hung_took - Duration::from_millis(100), "the queued call ran during the hung one");
    assert!(queued_took < hung_took + Duration::from_millis(500), "the queued call waited {queued_took:?}");
}

#[test]
fn test_short_lived_host_is_unloaded_when_idle_and_restarted_on_demand() {
    let root = root_with("mgr-idle", &["deviceinfo", "fixture"], json!({"ModuleIdleUnloadSeconds": 1}));
    let daemon = Daemon::start(&root);
    let (mut client, session) = daemon.session("idle-test");
    let fixture = daemon.host_pid("fixture.so").expect("Lifetime 1 host");
    // The identifying host serves the first call, then stops when idle.
    let identifying = daemon.host_pid("deviceinfo.so").expect("identifying host");
    let first = client.get(&session, "DeviceInfo", "osName").unwrap();
    let pid = daemon.host_pid("deviceinfo.so").expect("host of the first call");
    assert_eq!(pid, identifying);
    assert!(
        daemon.wait_for(Duration::from_secs(4), || daemon.host_pid("deviceinfo.so").is_none()),
        "idle host stopped: {}",
        daemon.stderr()
    );
    assert_eq!(client.get(&session, "DeviceInfo", "osName").unwrap(), first, "transparent restart");
    assert_ne!(daemon.host_pid("deviceinfo.so"), Some(pid));
    assert_eq!(daemon.host_pid("fixture.so"), Some(fixture), "Lifetime 1 stays up");
    daemon.stop();
}

/// Compiles a module named `name` at `version` serving component `VersionTest` (object `version`).
fn c_module(out: &Path, name: &str, version: (u32, u32, u32, u32)) {
    let (a, b, c, d) = version;
    let info = format!(
        r#"{{\"Name\":\"{name}\",\"Description\":\"t\",\"Manufacturer\":\"t\",\"VersionMajor\":{a},\"VersionMinor\":{b},\"VersionPatch\":{c},\"VersionTweak\":{d},\"VersionInfo\":\"v\",\"Components\":[\"VersionTest\"],\"Lifetime\":2,\"UserAccount\":0}}"#
    );
    let source = format!(
        r#"#include <stdlib.h>
#include <string.h>
static int handle;
static int copy(const char* text, char** payload, int* size) {{
    *size = (int)strlen(text);
    *payload = malloc(*size);
    if (!*payload) return 12;
    memcpy(*payload, text, *size);
    return 0;
}}
int MmiGetInfo(const char* client, char** payload, int* size) {{ (void)client; return copy("{info}", payload, size); }}
void* MmiOpen(const char* client, unsigned int max) {{ (void)client; (void)max; return &handle; }}
void MmiClose(void* session) {{ (void)session; }}
int MmiSet(void* s, const char* c, const char* o, const char* p, int n) {{ (void)s; (void)c; (void)o; (void)p; (void)n; return 22; }}
int MmiGet(void* s, const char* c, const char* o, char** payload, int* size) {{
    (void)s;
    if (strcmp(c, "VersionTest") || strcmp(o, "version")) return 22;
    return copy("\"{a}.{b}.{c}.{d}\"", payload, size);
}}
void MmiFree(char* payload) {{ free(payload); }}
"#
    );
    let src = out.with_extension("c");
    fs::write(&src, source).unwrap();
    let status = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(out).arg(&src).status().expect("run cc");
    assert!(status.success(), "cc {}", src.display());
    fs::remove_file(src).unwrap();
}

#[test]
fn test_two_modules_claiming_a_component_the_higher_version_wins() {
    let root = root_with("mgr-version", &["fixture"], json!({}));
    let local = root.join("usr/local/lib/osconfig");
    fs::create_dir_all(&local).unwrap();
    c_module(&root.join("usr/lib/osconfig/versiontest.so"), "VersionOld", (1, 9, 0, 0));
    c_module(&local.join("versiontest.so"), "VersionNew", (1, 10, 0, 0));
    let daemon = Daemon::start(&root);
    let (mut client, session) = daemon.session("version-test");
    assert_eq!(client.get(&session, "VersionTest", "version").unwrap(), b"\"1.10.0.0\"");
    assert!(daemon.stderr().contains("component VersionTest: VersionNew 1.10.0.0"), "the loser is logged");
    // Other modules are unaffected.
    assert_eq!(client.get(&session, "Fixture", "echo").unwrap(), b"\"\"");
    daemon.stop();
}
