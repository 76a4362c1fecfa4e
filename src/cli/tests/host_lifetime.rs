//! A module host never outlives osconfigctl: killed with SIGKILL in the middle of a recipe, osconfigctl leaves no
//! host running (the host has `PR_SET_PDEATHSIG`), and the host ran in its own process group without systemd's
//! notification variables.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{module_dir, modulehost, osconfigctl, write_recipe, TempRoot};
use osconfig_testkit::{kill_groups_with, processes_with, unique_marker, wait_no_process_with, ChildGuard};

/// Field `index` (0 = the state) after the command name of `/proc/<pid>/stat`.
fn stat_field(pid: u32, index: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(index).map(str::to_string)
}

#[test]
fn test_killed_osconfigctl_leaves_no_host_running() {
    let bin = module_dir();
    let dir = TempRoot::new("lifetime");
    let marker = unique_marker("ctl-kill");
    // The host's command line names the module in `bin`, a folder of this test alone.
    let module = bin.path().join("libfixture.so");
    let recipe = write_recipe(
        dir.path(),
        "r.json",
        &format!(
            r#"[
  {{ "Action": "LoadModule", "Module": "fixture.so" }},
  {{ "RunCommand": "sleep 10; : {marker}" }},
  {{ "Action": "UnloadModule" }}
]"#
        ),
    );
    let mut command = Command::new(osconfigctl());
    command
        .arg("test")
        .arg(&recipe)
        .arg("--bin")
        .arg(bin.path())
        .arg("--host")
        .arg(modulehost())
        .env("OSCONFIG_ROOT", dir.path())
        .env("NOTIFY_SOCKET", dir.path().join("notify"))
        .env("WATCHDOG_USEC", "1000000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // In a group of its own, so the SIGKILL below reaches osconfigctl alone (the host and the command lead their own).
    let mut ctl = ChildGuard::spawn_group(&mut command).unwrap();

    // The recipe is in its RunCommand step once the marker's shell runs: the host has started by then.
    let needle = module.to_string_lossy().into_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while processes_with(&marker).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the recipe did not reach its RunCommand step");
        assert!(ctl.try_wait().is_none(), "osconfigctl ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let hosts = processes_with(&needle);
    assert_eq!(hosts.len(), 1, "one host for {needle}: {hosts:?}");
    let host = hosts[0];
    assert_eq!(stat_field(host, 1), Some(ctl.id().to_string()), "the host is osconfigctl's child");
    assert_eq!(stat_field(host, 2), Some(host.to_string()), "the host leads its own process group");
    let environ = std::fs::read(format!("/proc/{host}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(!environ.contains("NOTIFY_SOCKET=") && !environ.contains("WATCHDOG_USEC="), "{environ}");

    assert!(ctl.signal(libc::SIGKILL));
    ctl.wait_timeout(Duration::from_secs(5)).expect("osconfigctl ends on SIGKILL");
    let left = wait_no_process_with(&needle, Duration::from_secs(5));
    kill_groups_with(&needle);
    kill_groups_with(&marker);
    assert!(left.is_empty(), "the host outlived osconfigctl: {left:?}");
}
