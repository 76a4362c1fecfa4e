//! The global logger, in its own test binary (`log` allows one logger per process).

use std::fs;

use log::LevelFilter;
use osconfig_logging::{init, LogConfig, SyslogMode};
use osconfig_testkit::TempRoot;

#[test]
fn test_init_installs_global_logger_once() {
    let dir = TempRoot::new("logging-global");
    let config = LogConfig {
        name: "global".into(),
        dir: dir.join("var/log"),
        level: LevelFilter::Info,
        max_size: 0,
        syslog: SyslogMode::Never,
        stderr: false,
    };
    let handle = init(&config).unwrap();
    assert_eq!(log::max_level(), LevelFilter::Info);
    log::info!("through the facade");
    log::debug!("dropped at info");
    handle.set_level(LevelFilter::Debug);
    assert_eq!(log::max_level(), LevelFilter::Debug);
    log::debug!("kept at debug");

    let again = init(&LogConfig { name: "other".into(), ..config.clone() }).unwrap_err();
    assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    assert!(!dir.join("var/log/osconfig_other.log").exists(), "a failed init creates no file");

    let text = fs::read_to_string(dir.join("var/log/osconfig_global.log")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("][INFO][global.rs:") && lines[0].ends_with("] through the facade"), "{}", lines[0]);
    assert!(lines[1].contains("][DEBUG][global.rs:") && lines[1].ends_with("] kept at debug"), "{}", lines[1]);
}
