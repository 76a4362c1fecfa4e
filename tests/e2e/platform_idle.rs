//! End-to-end test of the idle platform (issue 11, "Idle"): once every module has answered a call and the client
//! has gone, neither the platform's threads nor its module hosts wake up (no periodic timer: a timer exists only
//! for a deadline that exists, and none is due within the test), counted with the kernel's per-thread
//! `voluntary_ctxt_switches`. A host killed while idle is still reaped at once (it is an event, SIGCHLD, not a
//! poll), its crash is counted, the platform goes back to sleep, and the next call starts a new host.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{Options, Platform};
use osconfig_rest::MpiClient;
use serde_json::{json, Value};

/// One object of each module: (component, object).
const CALLS: [(&str, &str); 5] = [
    ("DeviceInfo", "osName"),
    ("HostName", "name"),
    ("Configuration", "modelVersion"),
    ("CommandRunner", "commandStatus"),
    ("Fixture", "echo"),
];

/// How long the platform is watched while idle.
const IDLE_WINDOW: Duration = Duration::from_secs(3);

/// Wake-ups tolerated over the window for all threads together (noise such as a page reclaim).
const NOISE: u64 = 1;

/// The parent pid of `pid` (`None` once it is gone).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is a zombie (ended, not reaped by its parent).
fn zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// The platform and its child processes (the module hosts).
fn family(platform: u32) -> Vec<u32> {
    let mut pids = vec![platform];
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if parent_of(pid) == Some(platform) {
            pids.push(pid);
        }
    }
    pids
}

/// `voluntary_ctxt_switches` of every thread of `pids`, as ("pid/tid name", count).
fn wakeups(pids: &[u32]) -> Vec<(String, u64)> {
    let mut counts = Vec::new();
    for pid in pids {
        for task in fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
            let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
            let field = |key: &str| {
                status.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string()).unwrap_or_default()
            };
            let count = field("voluntary_ctxt_switches:").parse().unwrap_or(0);
            counts.push((format!("{pid}/{} {}", task.file_name().to_string_lossy(), field("Name:")), count));
        }
    }
    counts
}

/// Total wake-ups of the platform's and its hosts' threads over [`IDLE_WINDOW`], with the threads that woke.
fn idle_wakeups(platform: &Platform) -> (u64, Vec<String>) {
    let pids = family(platform.pid() as u32);
    let before = wakeups(&pids);
    std::thread::sleep(IDLE_WINDOW);
    let after = wakeups(&pids);
    let mut total = 0;
    let mut woke = Vec::new();
    for (thread, count) in &after {
        let was = before.iter().find(|(t, _)| t == thread).map_or(0, |(_, c)| *c);
        if *count > was {
            total += count - was;
            woke.push(format!("{thread}: +{}", count - was));
        }
    }
    (total, woke)
}

/// `/PlatformModules` entry of module `name`.
fn module(client: &mut MpiClient, name: &str) -> Value {
    let modules: Value = serde_json::from_slice(&client.platform_modules().unwrap()).unwrap();
    modules.as_array().unwrap().iter().find(|m| m["name"] == name).cloned().unwrap_or(Value::Null)
}

/// Opens a session, calls each module once and closes the connection; the host pids by module.
fn call_each(platform: &Platform) -> Vec<(String, u32)> {
    let mut client = platform.client();
    let session = client.open("idle", 0).unwrap();
    for (component, object) in CALLS {
        client.get(&session, component, object).unwrap_or_else(|e| panic!("{component}.{object}: {e:?}"));
    }
    let pids = ["DeviceInfo", "HostName", "Configuration", "CommandRunner", "Fixture"]
        .iter()
        .map(|name| {
            let pid = module(&mut client, name)["hostPid"].as_u64().unwrap_or_else(|| panic!("{name} has a host"));
            (name.to_string(), pid as u32)
        })
        .collect();
    drop(client);
    // Let the platform finish with the closed connection before counting.
    std::thread::sleep(Duration::from_millis(300));
    pids
}

#[test]
fn test_idle_platform_and_hosts_do_not_wake_and_a_host_killed_while_idle_is_reaped() {
    let platform = Platform::start("idle", Options { config: Some(json!({})), ..Options::default() });
    let hosts = call_each(&platform);
    let family = family(platform.pid() as u32);
    for (name, pid) in &hosts {
        assert!(family.contains(pid), "{name}'s host {pid} is a child of the platform: {family:?}");
    }

    let (total, woke) = idle_wakeups(&platform);
    assert!(total <= NOISE, "the idle platform or its hosts woke {total} times in {IDLE_WINDOW:?}: {woke:?}");

    // A host killed while nothing is called: reaped (no zombie), its crash counted, and nothing polls afterwards.
    let (_, victim) = hosts.iter().find(|(name, _)| name == "DeviceInfo").cloned().unwrap();
    // SAFETY: kill(2) of a module host this test's platform started (a child of the platform, checked above).
    assert_eq!(unsafe { libc::kill(victim as i32, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while parent_of(victim) == Some(platform.pid() as u32) {
        assert!(Instant::now() < deadline, "host {victim} not reaped (zombie: {})", zombie(victim));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(platform.wait_log(&format!("host {victim} killed by signal 9 outside a call"), Duration::from_secs(10)));
    let mut client = platform.client();
    let report = module(&mut client, "DeviceInfo");
    assert_eq!((report["crashes"].clone(), report["hostPid"].clone()), (json!(1), Value::Null), "{report}");
    drop(client);
    std::thread::sleep(Duration::from_millis(300));

    let (total, woke) = idle_wakeups(&platform);
    assert!(total <= NOISE, "after the crash the platform woke {total} times in {IDLE_WINDOW:?}: {woke:?}");

    // The next call starts a new host.
    let mut client = platform.client();
    let session = client.open("after-crash", 0).unwrap();
    client.get(&session, "DeviceInfo", "osName").expect("the next call restarts the host");
    let restarted = module(&mut client, "DeviceInfo")["hostPid"].as_u64().expect("a new host") as u32;
    assert_ne!(restarted, victim);
}
