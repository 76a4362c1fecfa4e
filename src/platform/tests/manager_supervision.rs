//! The Modules Manager against real module hosts and real modules: identification, version choice, sessions,
//! crashes (SIGKILL mid-call, abort), back-off, quarantine persisted across a restart and cleared by reload, hangs
//! killed at the call deadline, idle unload and transparent restart, in-process modules, shutdown.
//!
//! Needs `osconfig-modulehost`, `libfixture.so` and `libdeviceinfo.so`, from `osconfig_testkit::artifacts()`. Version
//! tests compile two tiny C modules with `cc`. Each test has its own temporary root (`osconfig_testkit::TempRoot`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use osconfig_mmi::Errno;
use osconfig_testkit::{artifacts, in_child, TempRoot};

use osconfig_platform::manager::{
    ManagerSettings, ModulesManager, ERR_BACKOFF, ERR_CRASHED, ERR_INVALID, ERR_QUARANTINED, ERR_TIMEOUT,
};

/// A temporary root with the module dir; removed on drop (when it made the folder).
struct Root {
    dir: PathBuf,
    _owned: Option<TempRoot>,
}

impl Root {
    fn new(tag: &str) -> Root {
        let owned = TempRoot::new(&format!("mgr-{tag}"));
        let mut root = Root::at(owned.path());
        root._owned = Some(owned);
        root
    }

    /// A root in an existing folder someone else removes.
    fn at(dir: &Path) -> Root {
        std::fs::create_dir_all(dir.join("usr/lib/osconfig")).unwrap();
        Root { dir: dir.to_path_buf(), _owned: None }
    }

    fn modules(&self) -> PathBuf {
        self.dir.join("usr/lib/osconfig")
    }

    fn add(&self, so: &Path, name: &str) {
        std::fs::copy(so, self.modules().join(name)).unwrap();
    }

    fn settings(&self) -> ManagerSettings {
        ManagerSettings {
            module_dirs: vec![self.modules(), self.dir.join("usr/local/lib/osconfig")],
            host_binary: artifacts().modulehost(),
            run_dir: self.dir.join("run/osconfig/modules"),
            state_dir: self.dir.join("var/lib/osconfig/platform"),
            root: self.dir.clone(),
            call_timeout: Duration::from_secs(5),
            crash_limit: 3,
            crash_window: Duration::from_secs(300),
            restart_backoff: Duration::from_millis(100),
            idle_unload: Duration::from_secs(60),
            in_process: Vec::new(),
        }
    }
}

fn pid_of(manager: &ModulesManager, component: &str) -> Option<u32> {
    manager.module_states().into_iter().find(|s| s.0 == component).and_then(|s| s.2)
}

fn quarantined(manager: &ModulesManager, component: &str) -> bool {
    manager.module_states().into_iter().find(|s| s.0 == component).is_some_and(|s| s.3)
}

fn alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

fn sigkill(pid: u32) {
    // SAFETY: kill has no memory-safety preconditions; the pid is a host of this test's manager.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// A C module named `name`, version `major.minor.patch.tweak`, serving component `VersionTest` (object `version`
/// reports the version string) with the given lifetime.
fn c_module(root: &Root, file: &str, name: &str, version: (u32, u32, u32, u32), lifetime: u32) {
    let (a, b, c, d) = version;
    let info = format!(
        "{{\\\"Name\\\":\\\"{name}\\\",\\\"Description\\\":\\\"test\\\",\\\"Manufacturer\\\":\\\"t\\\",\
         \\\"VersionMajor\\\":{a},\\\"VersionMinor\\\":{b},\\\"VersionPatch\\\":{c},\\\"VersionTweak\\\":{d},\
         \\\"VersionInfo\\\":\\\"v\\\",\\\"Components\\\":[\\\"VersionTest\\\"],\\\"Lifetime\\\":{lifetime},\
         \\\"UserAccount\\\":0}}"
    );
    let source = format!(
        r#"#include <stdlib.h>
#include <string.h>
static const char INFO[] = "{info}";
static const char VERSION[] = "\"{a}.{b}.{c}.{d}\"";
static int handle;
static int copy(const char* text, char** payload, int* size) {{
    *size = (int)strlen(text);
    *payload = malloc(*size);
    if (!*payload) return 12;
    memcpy(*payload, text, *size);
    return 0;
}}
int MmiGetInfo(const char* client, char** payload, int* size) {{ (void)client; return copy(INFO, payload, size); }}
void* MmiOpen(const char* client, unsigned int max) {{ (void)client; (void)max; return &handle; }}
void MmiClose(void* session) {{ (void)session; }}
int MmiSet(void* s, const char* c, const char* o, const char* p, int n) {{ (void)s; (void)c; (void)o; (void)p; (void)n; return 22; }}
int MmiGet(void* s, const char* c, const char* o, char** payload, int* size) {{
    (void)s;
    if (strcmp(c, "VersionTest") || strcmp(o, "version")) return 22;
    return copy(VERSION, payload, size);
}}
void MmiFree(char* payload) {{ free(payload); }}
"#
    );
    let src = root.dir.join(format!("{file}.c"));
    std::fs::write(&src, source).unwrap();
    let out = root.modules().join(file);
    let status = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&out).arg(&src).status().expect("run cc");
    assert!(status.success(), "cc failed for {file}");
}

#[test]
fn test_start_identifies_and_serves_with_client_sessions() {
    let root = Root::new("serve");
    root.add(&artifacts().module("fixture"), "fixture.so");
    root.add(&artifacts().module("deviceinfo"), "deviceinfo.so");
    std::fs::write(root.modules().join("broken.so"), b"not an elf").unwrap();
    let started = Instant::now();
    let mut manager = ModulesManager::start(root.settings());
    let took = started.elapsed();
    assert_eq!(manager.components(), vec!["DeviceInfo", "Fixture", "SampleComponent"]);
    assert!(took < Duration::from_secs(2), "start took {took:?}");
    // The identifying hosts keep serving (DeviceInfo, Lifetime 2, until it is idle).
    assert!(pid_of(&manager, "Fixture").is_some());
    let deviceinfo_pid = pid_of(&manager, "DeviceInfo").unwrap();

    manager.open(7, "client-seven", 4096);
    manager.open(8, "client-eight", 0);
    let session = json(&manager.get(7, "Fixture", "session").unwrap());
    assert_eq!(session, serde_json::json!({"clientName": "client-seven", "maxPayloadSizeBytes": 4096}));
    let session = json(&manager.get(8, "Fixture", "session").unwrap());
    assert_eq!(session, serde_json::json!({"clientName": "client-eight", "maxPayloadSizeBytes": 0}));
    assert_eq!(json(&manager.get(7, "Fixture", "sessions").unwrap()), serde_json::json!(2));

    manager.set(7, "SampleComponent", "desiredStringObject", b"\"hello\"").unwrap();
    assert_eq!(manager.get(7, "SampleComponent", "reportedStringObject").unwrap(), b"\"hello\"");
    assert_eq!(manager.get(8, "SampleComponent", "reportedStringObject").unwrap(), b"\"\"", "sessions are per client");
    assert!(!manager.get(7, "DeviceInfo", "osName").unwrap().is_empty());
    assert_eq!(pid_of(&manager, "DeviceInfo"), Some(deviceinfo_pid), "no second start for the first call");

    assert_eq!(manager.get(7, "Nope", "x"), Err(ERR_INVALID));
    assert_eq!(manager.get(7, "Fixture", "nope"), Err(Errno::EINVAL), "the module's errno comes back");
    assert_eq!(manager.get(7, "Fixture", "fail"), Err(Errno::ENODATA));
    assert_eq!(manager.set(7, "Fixture", "echo", b"{not json"), Err(ERR_INVALID));

    manager.close(8);
    assert_eq!(json(&manager.get(7, "Fixture", "sessions").unwrap()), serde_json::json!(1));

    let fixture_pid = pid_of(&manager, "Fixture").unwrap();
    let environ = std::fs::read(format!("/proc/{fixture_pid}/environ")).unwrap();
    let want = format!("OSCONFIG_ROOT={}", root.dir.display());
    assert!(environ.split(|&b| b == 0).any(|var| var == want.as_bytes()), "hosts get OSCONFIG_ROOT");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root.dir.join("run/osconfig/modules")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);

    // Reload sees a new module and keeps the announced clients (their sessions reopen lazily).
    c_module(&root, "v.so", "V", (1, 0, 0, 0), 2);
    manager.reload(root.settings());
    assert_eq!(manager.components(), vec!["DeviceInfo", "Fixture", "SampleComponent", "VersionTest"]);
    let session = json(&manager.get(7, "Fixture", "session").unwrap());
    assert_eq!(session, serde_json::json!({"clientName": "client-seven", "maxPayloadSizeBytes": 4096}));
    assert_eq!(manager.get(7, "VersionTest", "version").unwrap(), b"\"1.0.0.0\"");
    assert!(!alive(fixture_pid), "reload replaced the host");

    let fixture_pid = pid_of(&manager, "Fixture").unwrap();
    let socket = root.dir.join("run/osconfig/modules/fixture.sock");
    assert!(socket.exists());
    let started = Instant::now();
    manager.shutdown();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!alive(fixture_pid));
    assert!(!socket.exists());
    assert!(manager.components().is_empty());
}

#[test]
fn test_sigkill_mid_call_answers_eio_backs_off_restarts_and_reopens_sessions() {
    let root = Root::new("sigkill");
    root.add(&artifacts().module("fixture"), "fixture.so");
    let mut settings = root.settings();
    settings.restart_backoff = Duration::from_millis(300);
    let mut manager = ModulesManager::start(settings);
    manager.open(1, "killed-client", 123);
    manager.set(1, "Fixture", "echo", b"1").unwrap();
    let pid = pid_of(&manager, "Fixture").unwrap();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        sigkill(pid);
    });
    let started = Instant::now();
    assert_eq!(manager.set(1, "Fixture", "slow", b"3000"), Err(ERR_CRASHED));
    assert!(started.elapsed() < Duration::from_millis(2000), "answered as soon as the host died");
    killer.join().unwrap();
    assert_eq!(pid_of(&manager, "Fixture"), None);

    // Inside the back-off: fails at once, nothing started.
    assert_eq!(manager.get(1, "Fixture", "echo"), Err(ERR_BACKOFF));
    assert_eq!(pid_of(&manager, "Fixture"), None);
    std::thread::sleep(Duration::from_millis(350));

    // The next request restarts the host; the session is reopened with the same client name and limit.
    let session = json(&manager.get(1, "Fixture", "session").unwrap());
    assert_eq!(session, serde_json::json!({"clientName": "killed-client", "maxPayloadSizeBytes": 123}));
    let new_pid = pid_of(&manager, "Fixture").unwrap();
    assert_ne!(new_pid, pid);
    assert_eq!(manager.get(1, "Fixture", "echo").unwrap(), b"\"\"", "state died with the old host");
    assert!(!quarantined(&manager, "Fixture"));
}

#[test]
fn test_crashes_quarantine_persist_across_restart_and_reload_clears() {
    let root = Root::new("quarantine");
    root.add(&artifacts().module("fixture"), "fixture.so");
    let mut settings = root.settings();
    // Back-offs long enough that a loaded machine's scheduling delays (tens of ms) cannot move a call across one.
    settings.restart_backoff = Duration::from_millis(200);
    let mut manager = ModulesManager::start(settings.clone());
    manager.open(1, "c", 0);
    assert_eq!(manager.set(1, "Fixture", "crash", b"1"), Err(ERR_CRASHED));
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(manager.get(1, "Fixture", "crash"), Err(ERR_CRASHED));
    // The second back-off is doubled: 400 ms.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(manager.get(1, "Fixture", "echo"), Err(ERR_BACKOFF));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(manager.get(1, "Fixture", "crash"), Err(ERR_CRASHED));
    assert!(quarantined(&manager, "Fixture"));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(manager.get(1, "Fixture", "echo"), Err(ERR_QUARANTINED));
    assert!(started.elapsed() < Duration::from_millis(50), "fails fast");
    assert_eq!(pid_of(&manager, "Fixture"), None);

    let record = std::fs::read(root.dir.join("var/lib/osconfig/platform/crashes-Fixture")).unwrap();
    let record = json(&record);
    assert_eq!(record["Module"], "Fixture");
    assert_eq!(record["Crashes"].as_array().unwrap().len(), 3);
    manager.shutdown();
    drop(manager);

    // A platform restart stays quarantined: the host is not kept running and calls fail fast.
    let mut manager = ModulesManager::start(settings.clone());
    assert!(quarantined(&manager, "Fixture"));
    assert_eq!(pid_of(&manager, "Fixture"), None);
    assert_eq!(manager.get(1, "Fixture", "echo"), Err(ERR_QUARANTINED));
    // Other components of other modules are not affected; reload clears the quarantine and the record.
    manager.reload(settings.clone());
    assert!(!quarantined(&manager, "Fixture"));
    assert!(pid_of(&manager, "Fixture").is_some());
    assert_eq!(manager.get(1, "Fixture", "echo").unwrap(), b"\"\"");
    assert!(!root.dir.join("var/lib/osconfig/platform/crashes-Fixture").exists());
    drop(manager);

    // A window that has passed does not quarantine at the next start.
    let mut short = settings;
    short.crash_window = Duration::from_millis(200);
    short.restart_backoff = Duration::from_millis(50);
    let mut manager = ModulesManager::start(short.clone());
    for _ in 0..2 {
        assert_eq!(manager.get(1, "Fixture", "crash"), Err(ERR_CRASHED));
        std::thread::sleep(Duration::from_millis(120));
    }
    drop(manager);
    std::thread::sleep(Duration::from_millis(250));
    let mut manager = ModulesManager::start(short);
    assert!(!quarantined(&manager, "Fixture"));
    assert_eq!(manager.get(1, "Fixture", "echo").unwrap(), b"\"\"");
}

#[test]
fn test_hang_is_killed_at_the_call_deadline_and_counted() {
    let root = Root::new("hang");
    root.add(&artifacts().module("fixture"), "fixture.so");
    let mut settings = root.settings();
    settings.call_timeout = Duration::from_millis(400);
    settings.restart_backoff = Duration::from_millis(50);
    settings.crash_limit = 2;
    let mut manager = ModulesManager::start(settings);
    let pid = pid_of(&manager, "Fixture").unwrap();
    let started = Instant::now();
    assert_eq!(manager.get(1, "Fixture", "hang"), Err(ERR_TIMEOUT));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(350) && took < Duration::from_millis(1500), "{took:?}");
    assert!(!alive(pid), "the hung host was killed");
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(manager.get(1, "Fixture", "echo").unwrap(), b"\"\"");
    std::thread::sleep(Duration::from_millis(10));
    // The second hang reaches the limit of 2: the hang was counted.
    assert_eq!(manager.set(1, "Fixture", "hang", b"1"), Err(ERR_TIMEOUT));
    assert!(quarantined(&manager, "Fixture"));
}

#[test]
fn test_idle_short_lived_host_is_stopped_and_restarted_on_demand() {
    let root = Root::new("idle");
    root.add(&artifacts().module("deviceinfo"), "deviceinfo.so");
    root.add(&artifacts().module("fixture"), "fixture.so");
    let mut settings = root.settings();
    settings.idle_unload = Duration::from_millis(200);
    let mut manager = ModulesManager::start(settings);
    manager.open(3, "idle-client", 0);
    let first = manager.get(3, "DeviceInfo", "osName").unwrap();
    let pid = pid_of(&manager, "DeviceInfo").unwrap();
    let next = manager.next_tick().unwrap();
    assert!(next <= Instant::now() + Duration::from_millis(250), "next tick at the idle deadline");
    manager.tick(Instant::now());
    assert_eq!(pid_of(&manager, "DeviceInfo"), Some(pid), "not idle yet");
    std::thread::sleep(Duration::from_millis(250));
    manager.tick(Instant::now());
    assert_eq!(pid_of(&manager, "DeviceInfo"), None);
    let fixture_pid = pid_of(&manager, "Fixture");
    assert!(fixture_pid.is_some(), "Lifetime 1 stays up");
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        manager.tick(Instant::now());
    }
    assert!(!alive(pid), "the idle host exited and was reaped");
    assert_eq!(manager.get(3, "DeviceInfo", "osName").unwrap(), first, "restarted transparently");
    assert_ne!(pid_of(&manager, "DeviceInfo"), Some(pid));
    assert_eq!(pid_of(&manager, "Fixture"), fixture_pid);
    assert!(!quarantined(&manager, "DeviceInfo"));
}

#[test]
fn test_host_dying_between_calls_is_reaped_and_counted() {
    let root = Root::new("reap");
    root.add(&artifacts().module("fixture"), "fixture.so");
    let mut settings = root.settings();
    settings.crash_limit = 1;
    let mut manager = ModulesManager::start(settings);
    let pid = pid_of(&manager, "Fixture").unwrap();
    sigkill(pid);
    std::thread::sleep(Duration::from_millis(50));
    manager.tick(Instant::now());
    assert_eq!(pid_of(&manager, "Fixture"), None);
    assert!(quarantined(&manager, "Fixture"), "a kill between calls counts as a crash");
}

#[test]
fn test_no_tick_is_due_while_only_kept_hosts_run() {
    // Nothing polls for hosts that die between calls (the owner ticks on SIGCHLD): with only a Lifetime 1 host
    // running, served and idle, no tick is due at all.
    let root = Root::new("notick");
    root.add(&artifacts().module("fixture"), "fixture.so");
    let mut manager = ModulesManager::start(root.settings());
    manager.open(5, "notick-client", 0);
    assert_eq!(manager.get(5, "Fixture", "echo").unwrap(), b"\"\"");
    assert!(pid_of(&manager, "Fixture").is_some());
    assert_eq!(manager.next_tick(), None, "no timer while nothing is due");
    // A host that dies meanwhile is reaped by the tick its SIGCHLD triggers.
    let pid = pid_of(&manager, "Fixture").unwrap();
    sigkill(pid);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_of(&manager, "Fixture").is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        manager.tick(Instant::now());
    }
    assert_eq!(pid_of(&manager, "Fixture"), None, "reaped");
    assert_eq!(manager.next_tick(), None, "back-off is checked at the next call, not by a timer");
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(manager.get(5, "Fixture", "echo").unwrap(), b"\"\"", "restarted on the next call");
}

#[test]
fn test_two_modules_one_component_highest_version_wins() {
    let root = Root::new("versions");
    c_module(&root, "a_old.so", "OldVersion", (1, 9, 9, 9), 2);
    c_module(&root, "b_new.so", "NewVersion", (2, 0, 0, 0), 1);
    c_module(&root, "c_mid.so", "MidVersion", (1, 10, 0, 0), 2);
    let mut manager = ModulesManager::start(root.settings());
    assert_eq!(manager.components(), vec!["VersionTest"]);
    assert_eq!(manager.get(1, "VersionTest", "version").unwrap(), b"\"2.0.0.0\"");
    let states = manager.module_states();
    assert_eq!(states[0].1, "NewVersion");
    // Losers' identifying hosts are stopped (SIGTERM, reaped later): their sockets go once they have exited.
    let gone = |name: &str| {
        let path = root.dir.join("run/osconfig/modules").join(name);
        let deadline = Instant::now() + Duration::from_secs(5);
        while path.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        !path.exists()
    };
    assert!(gone("a_old.sock"));
    assert!(gone("c_mid.sock"));
    drop(manager);

    // The same module in both directories: the first found wins a tie; the other's socket gets its index.
    let root2 = Root::new("versions-tie");
    c_module(&root2, "m.so", "First", (1, 0, 0, 0), 1);
    std::fs::create_dir_all(root2.dir.join("usr/local/lib/osconfig")).unwrap();
    std::fs::copy(root2.modules().join("m.so"), root2.dir.join("usr/local/lib/osconfig/m.so")).unwrap();
    let mut manager = ModulesManager::start(root2.settings());
    assert_eq!(manager.get(1, "VersionTest", "version").unwrap(), b"\"1.0.0.0\"");
    assert_eq!(manager.module_states().len(), 1);
}

#[test]
fn test_in_process_module_is_called_directly() {
    // An in-process module reads OSCONFIG_ROOT through its own copy of std (the platform sets it from --root before
    // any thread starts): the test runs in a child process with OSCONFIG_ROOT, the test's root, set on its command,
    // so the module's log file lands under that root, not in the machine's /var/log.
    let Some(dir) = in_child("test_in_process_module_is_called_directly", |root| vec![("OSCONFIG_ROOT", root.into())])
    else {
        return;
    };
    let root = Root::at(&dir);
    root.add(&artifacts().module("fixture"), "fixture-inproc.so");
    root.add(&artifacts().module("deviceinfo"), "deviceinfo.so");
    let mut settings = root.settings();
    settings.in_process = vec!["Fixture".into()];
    let mut manager = ModulesManager::start(settings);
    assert_eq!(pid_of(&manager, "Fixture"), None, "no host for an in-process module");
    manager.open(5, "inproc-client", 99);
    let session = json(&manager.get(5, "Fixture", "session").unwrap());
    assert_eq!(session, serde_json::json!({"clientName": "inproc-client", "maxPayloadSizeBytes": 99}));
    manager.set(5, "Fixture", "echo", b"[1,2]").unwrap();
    assert_eq!(manager.get(5, "Fixture", "echo").unwrap(), b"[1,2]");
    assert_eq!(manager.get(5, "Fixture", "panic"), Err(Errno::EFAULT), "a panic is caught by the SDK");
    assert!(!manager.get(5, "DeviceInfo", "osName").unwrap().is_empty());
    manager.close(5);
    manager.shutdown();
}

#[test]
fn test_start_with_four_modules_is_fast() {
    let root = Root::new("fast");
    root.add(&artifacts().module("fixture"), "fixture.so");
    root.add(&artifacts().module("deviceinfo"), "deviceinfo.so");
    c_module(&root, "v1.so", "V1", (1, 0, 0, 0), 2);
    c_module(&root, "v2.so", "V2", (1, 0, 0, 1), 1);
    let started = Instant::now();
    let mut manager = ModulesManager::start(root.settings());
    manager.open(1, "c", 0);
    assert!(!manager.get(1, "Fixture", "echo").unwrap().is_empty());
    let took = started.elapsed();
    eprintln!("start with four modules to the first answer: {took:?}");
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[test]
fn test_hosts_die_with_the_thread_that_started_them() {
    let root = Root::new("pdeathsig");
    root.add(&artifacts().module("fixture"), "fixture.so");
    let settings = root.settings();
    // The manager is leaked without shutdown, as if the platform were killed: its host must not outlive it.
    let pid = std::thread::spawn(move || {
        let manager = ModulesManager::start(settings);
        let pid = pid_of(&manager, "Fixture").unwrap();
        std::mem::forget(manager);
        pid
    })
    .join()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child (the host), non-blocking.
        let reaped = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
        if reaped == pid as libc::pid_t {
            break;
        }
        assert!(Instant::now() < deadline, "the host outlived its manager's thread");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
}

/// A C module whose `MmiGetInfo` runs `behaviour` (e.g. `abort();`) instead of answering.
fn c_bad_info_module(root: &Root, file: &str, behaviour: &str) {
    let source = format!(
        r#"#include <stdlib.h>
#include <unistd.h>
int MmiGetInfo(const char* c, char** p, int* s) {{ (void)c; (void)p; (void)s; {behaviour} return 22; }}
void* MmiOpen(const char* c, unsigned int m) {{ (void)c; (void)m; return 0; }}
void MmiClose(void* h) {{ (void)h; }}
int MmiSet(void* h, const char* c, const char* o, const char* p, int n) {{ (void)h; (void)c; (void)o; (void)p; (void)n; return 22; }}
int MmiGet(void* h, const char* c, const char* o, char** p, int* n) {{ (void)h; (void)c; (void)o; (void)p; (void)n; return 22; }}
void MmiFree(char* p) {{ free(p); }}
"#
    );
    let src = root.dir.join(format!("{file}.c"));
    std::fs::write(&src, source).unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(root.modules().join(file))
        .arg(&src)
        .status()
        .expect("run cc");
    assert!(status.success(), "cc failed for {file}");
}

#[test]
fn test_modules_crashing_or_hanging_in_getinfo_are_skipped() {
    let root = Root::new("badinfo");
    root.add(&artifacts().module("fixture"), "fixture.so");
    c_bad_info_module(&root, "aborts.so", "abort();");
    c_bad_info_module(&root, "hangs.so", "for (;;) sleep(1);");
    let mut settings = root.settings();
    settings.call_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let mut manager = ModulesManager::start(settings);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "one shared deadline for all: {took:?}");
    assert_eq!(manager.components(), vec!["Fixture", "SampleComponent"]);
    assert_eq!(manager.get(1, "Fixture", "echo").unwrap(), b"\"\"");
    assert!(!root.dir.join("run/osconfig/modules/hangs.sock").exists(), "the hanging host was killed");
}
