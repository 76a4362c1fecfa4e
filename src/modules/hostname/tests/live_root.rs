//! HostName with the real root `/`: `desiredName` must also set the kernel's host name (`sethostname(2)`) and
//! `name` must read it back (`gethostname(2)`).
//!
//! To do that without touching this machine, the test re-runs itself inside new UTS and mount namespaces
//! (`unshare --uts --mount`, private mount propagation) where `/etc` is a bind-mounted copy. The parent then checks
//! that the copy was written and that the machine's own host name and `/etc` are unchanged. Needs root (or
//! CAP_SYS_ADMIN) and util-linux `unshare`; skipped with a message when they are not available.

use std::fs;
use std::process::Command;

use osconfig_mmi::loader::Library;
use osconfig_testkit::TempRoot;
use serde_json::{json, Value};

/// Set in the child: the path of the module to load (the parent asks `osconfig_testkit::artifacts()`).
const CHILD_ENV: &str = "OSCONFIG_HOSTNAME_LIVE_CHILD";
const TEST_NAME: &str = "test_live_root_sets_kernel_hostname";
const NEW_NAME: &str = "ns-live-test";

fn kernel_hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string()
}

#[test]
fn test_live_root_sets_kernel_hostname() {
    if let Some(module) = std::env::var_os(CHILD_ENV) {
        in_namespaces(&module);
    } else {
        run_child();
    }
}

/// Parent: run this test again inside the namespaces and check what it did from outside.
fn run_child() {
    let probe = Command::new("unshare").args(["--uts", "--mount", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: cannot create UTS and mount namespaces here (needs root and util-linux unshare)");
        return;
    }
    let dir = TempRoot::new("hostname-live");
    let name_before = kernel_hostname();
    let etc_hostname_before = fs::read("/etc/hostname").ok();
    let etc_hosts_before = fs::read("/etc/hosts").ok();

    // The mount commands run in the child's own mount namespace; `&&` makes sure the test binary only runs once
    // /etc is the copy. /var/log is a scratch folder too, so the module's log file stays out of the machine's.
    let script = "cp -a /etc \"$1/etc\" && mount --bind \"$1/etc\" /etc && mkdir -p \"$1/log\" \
                  && mount --bind \"$1/log\" /var/log && exec \"$2\" --exact \"$3\" --nocapture";
    let status = Command::new("unshare")
        .args(["--uts", "--mount", "sh", "-c", script, "sh"])
        .arg(&dir)
        .arg(std::env::current_exe().unwrap())
        .arg(TEST_NAME)
        .env(CHILD_ENV, osconfig_testkit::artifacts().module("hostname"))
        .env_remove("OSCONFIG_ROOT")
        .status()
        .unwrap();
    assert!(status.success(), "the test inside the namespaces failed: {status}");

    // The module wrote the copy of /etc ...
    assert_eq!(fs::read_to_string(dir.join("etc/hostname")).unwrap(), format!("{NEW_NAME}\n"));
    assert_eq!(
        fs::read_to_string(dir.join("etc/hosts")).unwrap(),
        format!("127.0.0.1 localhost\n10.1.2.3 {NEW_NAME}\n")
    );
    // ... and nothing of this machine's.
    assert_eq!(kernel_hostname(), name_before);
    assert_eq!(fs::read("/etc/hostname").ok(), etc_hostname_before);
    assert_eq!(fs::read("/etc/hosts").ok(), etc_hosts_before);
}

/// Child: root is `/`, the kernel host name and /etc are private to this process.
fn in_namespaces(module: &std::ffi::OsStr) {
    assert!(std::env::var_os("OSCONFIG_ROOT").is_none());
    let lib = Library::load(module).unwrap();
    let session = lib.open("live-root-test", 0).unwrap();
    let get = |object: &str| -> Value { serde_json::from_slice(&session.get("HostName", object).unwrap()).unwrap() };

    assert_eq!(get("name"), json!(kernel_hostname()));
    session.set("HostName", "desiredName", json!(NEW_NAME).to_string().as_bytes()).unwrap();
    assert_eq!(kernel_hostname(), NEW_NAME);
    assert_eq!(get("name"), json!(NEW_NAME));
    assert_eq!(fs::read_to_string("/etc/hostname").unwrap(), format!("{NEW_NAME}\n"));
    // Idempotent with the kernel already set.
    session.set("HostName", "desiredName", json!(NEW_NAME).to_string().as_bytes()).unwrap();

    let hosts = format!("127.0.0.1 localhost;10.1.2.3 {NEW_NAME}");
    session.set("HostName", "desiredHosts", json!(hosts).to_string().as_bytes()).unwrap();
    assert_eq!(get("hosts"), json!(hosts));
    drop(session);
    lib.unload().unwrap();
}
