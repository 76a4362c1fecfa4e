//! Hardening of the platform's log file, end to end: the real platform in a temporary root. A symbolic link planted
//! at `var/log/osconfig_platform.log` is refused (its target never written; the platform says so once and logs to
//! stderr), and a request whose `ObjectName` is 3 MB leaves no log line longer than `MaxLogSize`, the long one cut
//! with a marker saying how many bytes went.

mod common;

use std::fs;
use std::time::Duration;

use common::{Options, Platform};
use serde_json::json;

const LOG: &str = "var/log/osconfig_platform.log";

#[test]
fn test_symlink_at_log_path_is_refused_and_target_untouched() {
    let mut platform = Platform::start("logs-symlink", Options { modules: vec!["fixture"], ..Options::default() });
    platform.signal(libc::SIGTERM);
    assert!(platform.wait_exit(Duration::from_secs(5)).is_some(), "platform did not stop");
    // Plant the link where the next start opens its log.
    let target = platform.root.join("precious");
    fs::write(&target, "precious\n").unwrap();
    let log = platform.root.join(LOG);
    fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(&target, &log).unwrap();
    fs::remove_file(platform.root.join("platform.stderr")).unwrap();

    platform.restart_stopped();
    let mut client = platform.client();
    let session = client.open("hardening_logs", 0).unwrap();
    let _ = client.get(&session, "Nope", "nothing");
    client.close(&session).unwrap();
    platform.signal(libc::SIGTERM);
    assert!(platform.wait_exit(Duration::from_secs(5)).is_some(), "platform did not stop");

    assert_eq!(fs::read_to_string(&target).unwrap(), "precious\n", "the link's target was written");
    assert!(fs::symlink_metadata(&log).unwrap().file_type().is_symlink(), "the link itself is left alone");
    let stderr = platform.stderr_text();
    let refusals: Vec<&str> = stderr.lines().filter(|l| l.contains("osconfig-logging: refusing ")).collect();
    assert_eq!(refusals.len(), 1, "said once: {stderr}");
    assert!(refusals[0].contains("osconfig_platform.log (it is a symbolic link)"), "{}", refusals[0]);
    assert!(stderr.lines().count() > 1, "lines go to stderr instead: {stderr}");
}

#[test]
fn test_huge_object_name_is_cut_to_max_log_size() {
    const MAX_LOG_SIZE: usize = 1024 * 1024;
    let config = json!({"LoggingLevel": 6, "MaxLogSize": MAX_LOG_SIZE});
    let platform =
        Platform::start("logs-cut", Options { modules: vec!["fixture"], config: Some(config), ..Options::default() });
    let mut client = platform.client();
    let session = client.open("hardening_logs", 0).unwrap();
    let name = "n".repeat(3 * 1024 * 1024);
    // Refused (no such component): what matters is that the platform logs the name.
    let _ = client.set(&session, "NoSuchComponent", &name, b"1");
    let _ = client.set(&session, "Fixture", &name, b"1");
    client.close(&session).unwrap();

    let mut text = fs::read_to_string(platform.root.join(format!("{LOG}.bak"))).unwrap_or_default();
    text.push_str(&platform.log_text());
    let long: Vec<&str> = text.lines().filter(|l| l.contains("nnnnnnnn")).collect();
    assert!(!long.is_empty(), "the name was not logged at all");
    for line in text.lines() {
        assert!(line.len() < MAX_LOG_SIZE, "a log line of {} bytes", line.len());
    }
    for line in long {
        let (_, marker) = line.rsplit_once("... [").expect("a cut marker");
        let cut: usize = marker.strip_suffix(" bytes cut]").expect("the marker ends the line").parse().unwrap();
        assert!(cut > 2 * 1024 * 1024 && cut < 3 * 1024 * 1024, "{cut} bytes cut");
    }
}
