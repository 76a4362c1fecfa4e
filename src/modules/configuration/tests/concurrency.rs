//! Several sessions editing `osconfig.json` at once (as when the platform and a CLI both hold sessions in one
//! module host) must not lose each other's edits: each set is a read-modify-write of the whole file. The module
//! reads `OSCONFIG_ROOT`, so the test runs in a child process with it set on its command
//! (`osconfig_testkit::in_child`).

use std::fs;

use configuration::Configuration;
use osconfig_mmi::Module;
use serde_json::{json, Value};

#[test]
fn test_concurrent_sessions_keep_every_edit() {
    let Some(root) = osconfig_testkit::in_child("test_concurrent_sessions_keep_every_edit", |root| {
        vec![("OSCONFIG_ROOT", root.into())]
    }) else {
        return;
    };
    fs::create_dir_all(root.join("etc/osconfig")).unwrap();
    let file = root.join("etc/osconfig/osconfig.json");
    fs::write(&file, "{\"Keep\": true}").unwrap();

    const ROUNDS: i64 = 50;
    let threads: Vec<_> = (0..2)
        .map(|t| {
            std::thread::spawn(move || {
                let mut session = Configuration::open(&format!("client-{t}"), 0).unwrap();
                for i in 1..=ROUNDS {
                    if t == 0 {
                        session.set("Configuration", "desiredRefreshInterval", &json!(i)).unwrap();
                    } else {
                        session.set("Configuration", "desiredGitBranch", &json!(format!("b{i}"))).unwrap();
                    }
                }
                session.close();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let config: Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    assert_eq!(config, json!({"Keep": true, "ReportingIntervalSeconds": ROUNDS, "GitBranch": format!("b{ROUNDS}")}));
}
