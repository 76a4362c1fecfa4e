//! The agent (twin logic and loop) with the fake transport against the real platform and real modules in a
//! temporary root: acknowledgements, patch order, failures, reported values, platform restarts, bad input.

mod support;

use std::time::Duration;

use osconfig_agent::config::Config;
use osconfig_agent::twin::{Platform, ReportedEntry};
use serde_json::{json, Value};
use support::common::{Options, Platform as TestPlatform};
use support::{identity, RunningAgent, CONNECTION_STRING};

fn ack(value: Value, ac: i64, av: i64) -> Value {
    json!({"value": value, "ac": ac, "ad": "-", "av": av})
}

fn config(reported: &[(&str, &str)]) -> Config {
    Config {
        iot_hub_management: true,
        reporting_interval_seconds: 1,
        model_version: 20,
        reported: reported
            .iter()
            .map(|(c, o)| ReportedEntry { component: c.to_string(), object: o.to_string() })
            .collect(),
        ..Config::default()
    }
}

fn platform(tag: &str, modules: Vec<&'static str>) -> TestPlatform {
    TestPlatform::start(tag, Options { modules, ..Options::default() })
}

#[test]
fn test_full_twin_and_queued_patches_applied_in_order_with_acks() {
    let platform = platform("agent-twin", vec!["fixture"]);
    let agent =
        RunningAgent::start(platform.socket.clone(), config(&[("Fixture", "echo")]), identity(Some(CONNECTION_STRING)));
    agent.connect_with_twin(
        r#"{"desired":{"Fixture":{"__t":"c","echo":{"n":1}},"SampleComponent":{"desiredStringObject":"s","desiredIntegerObject":7},"$version":3},"reported":{}}"#,
    );
    agent.wait_reported("the full twin's acks", |p| p["SampleComponent"]["desiredIntegerObject"].is_object());
    let merged = agent.merged();
    assert_eq!(merged["Fixture"]["echo"], ack(json!({"n":1}), 200, 3));
    assert_eq!(merged["Fixture"]["__t"], json!("c"));
    assert_eq!(merged["SampleComponent"]["desiredStringObject"], ack(json!("s"), 200, 3));
    assert_eq!(merged["SampleComponent"]["desiredIntegerObject"], ack(json!(7), 200, 3));
    let connect = agent.hub.lock().connects[0].clone();
    assert_eq!(connect.0, CONNECTION_STRING);
    assert_eq!(connect.1.model_id, "dtmi:osconfig:deviceosconfiguration;20");
    // The reported object reflects the desired one, sent once.
    agent.wait_reported("reported echo", |p| p["Fixture"]["echo"] == json!({"n":1}));
    // Three patches arrive at once, out of order: applied in $version order, the last value wins.
    agent.hub.push_patch(r#"{"Fixture":{"echo":"six"},"$version":6}"#);
    agent.hub.push_patch(r#"{"Fixture":{"echo":"four"},"$version":4}"#);
    agent.hub.push_patch(r#"{"Fixture":{"echo":"five"},"$version":5}"#);
    agent.wait_reported("the ack of $version 6", |p| p["Fixture"]["echo"] == ack(json!("six"), 200, 6));
    agent.wait_reported("reported echo six", |p| p["Fixture"]["echo"] == json!("six"));
    let order: Vec<i64> = agent.hub.reported().iter().filter_map(|p| p["Fixture"]["echo"]["av"].as_i64()).collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "acks in version order: {order:?}");
    let (mut agent, _) = agent.stop();
    assert_eq!(agent.platform().get("Fixture", "echo").unwrap(), br#""six""#.to_vec());
}

#[test]
fn test_failures_unknown_component_oversized_and_malformed_input() {
    let platform = platform("agent-bad", vec!["fixture"]);
    let agent = RunningAgent::start(platform.socket.clone(), config(&[]), identity(Some(CONNECTION_STRING)));
    let big = "x".repeat(5000);
    agent.connect_with_twin(&format!(
        r#"{{"desired":{{"Fixture":{{"fail":1,"echo":"ok","big":"{big}"}},"Nobody":{{"thing":1}},"Bad":42,"SampleComponent":{{"desiredIntegerObject":"not an integer"}},"$version":2}}}}"#
    ));
    agent.wait_reported("every ack", |p| p["SampleComponent"]["desiredIntegerObject"].is_object());
    let merged = agent.merged();
    assert_eq!(merged["Fixture"]["fail"], ack(json!(1), 400, 2), "the module refuses: 400");
    assert_eq!(merged["Fixture"]["echo"], ack(json!("ok"), 200, 2), "the rest of the component still applies");
    assert_eq!(merged["Nobody"]["thing"], ack(json!(1), 400, 2), "unknown component: 400");
    assert_eq!(merged["SampleComponent"]["desiredIntegerObject"], ack(json!("not an integer"), 400, 2));
    assert_eq!(merged["Fixture"]["big"]["ac"], json!(400), "oversized: 400");
    assert_eq!(merged["Fixture"]["big"]["value"], Value::Null);
    assert!(merged.get("Bad").is_none(), "a non-object component has no property to acknowledge");
    // A malformed patch makes the agent ask for the full twin; it keeps running.
    let before = agent.hub.lock().twin_requests;
    agent.hub.push_patch("{not json");
    support::wait_for("a full twin request", || agent.hub.lock().twin_requests > before);
    agent.hub.push_patch(r#"{"Fixture":{"echo":"after"},"$version":3}"#);
    agent.wait_reported("the next patch's ack", |p| p["Fixture"]["echo"] == ack(json!("after"), 200, 3));
}

#[test]
fn test_reported_only_on_change() {
    let platform = platform("agent-reported", vec!["fixture"]);
    let agent = RunningAgent::start(
        platform.socket.clone(),
        config(&[("Fixture", "echo"), ("Fixture", "fail"), ("Fixture", "bigSize")]),
        identity(Some(CONNECTION_STRING)),
    );
    agent.connect_with_twin(r#"{"desired":{"Fixture":{"echo":"a"},"$version":1}}"#);
    agent.wait_reported("reported echo", |p| p["Fixture"]["echo"] == json!("a"));
    std::thread::sleep(Duration::from_millis(3500)); // three more reporting intervals
    let patches = agent.hub.reported();
    let sent = |object: &str| -> Vec<Value> {
        patches.iter().filter_map(|p| p["Fixture"].get(object)).filter(|v| v.get("ac").is_none()).cloned().collect()
    };
    assert_eq!(sent("echo"), [json!("a")], "unchanged values are not sent again: {patches:?}");
    assert_eq!(sent("bigSize"), [json!(0)], "{patches:?}");
    assert!(sent("fail").is_empty(), "a failing entry is left out");
    agent.hub.push_patch(r#"{"Fixture":{"bigSize":3},"$version":2}"#);
    agent.wait_reported("the changed value", |p| {
        p["Fixture"].get("bigSize") == Some(&json!(3)) && p["Fixture"].get("echo").is_none()
    });
}

#[test]
fn test_platform_killed_and_restarted_gets_the_desired_state_again() {
    let mut platform = platform("agent-restart", vec!["fixture"]);
    let agent =
        RunningAgent::start(platform.socket.clone(), config(&[("Fixture", "echo")]), identity(Some(CONNECTION_STRING)));
    agent.connect_with_twin(r#"{"desired":{"Fixture":{"echo":"kept"},"$version":1}}"#);
    agent.wait_reported("reported echo", |p| p["Fixture"]["echo"] == json!("kept"));
    platform.signal(libc::SIGKILL);
    assert!(platform.wait_exit(Duration::from_secs(10)).is_some());
    std::thread::sleep(Duration::from_millis(1500)); // the agent notices at its next interval
    platform.restart_stopped();
    std::thread::sleep(Duration::from_millis(3000));
    // The new platform's module session holds the desired value again: the reported value never became "".
    assert!(!agent.hub.reported().iter().any(|p| p["Fixture"]["echo"] == json!("")), "{:?}", agent.hub.reported());
    let (mut agent, _) = agent.stop();
    assert!(agent.platform().generation() >= 2, "a new MPI session was opened");
    assert_eq!(agent.platform().get("Fixture", "echo").unwrap(), br#""kept""#.to_vec());
}

#[test]
fn test_failed_property_applied_again_once_its_module_appears() {
    let platform = platform("agent-retry", vec!["deviceinfo"]);
    let agent = RunningAgent::start(platform.socket.clone(), config(&[]), identity(Some(CONNECTION_STRING)));
    agent.connect_with_twin(r#"{"desired":{"Fixture":{"echo":"late"},"$version":5}}"#);
    agent.wait_reported("the 400 ack", |p| p["Fixture"]["echo"] == ack(json!("late"), 400, 5));
    let module = support::common::artifacts().module("fixture");
    std::fs::copy(module, platform.root.join("usr/lib/osconfig/fixture.so")).unwrap();
    platform.signal(libc::SIGHUP); // the platform rediscovers its modules
    agent.wait_reported("the 200 ack after a retry", |p| p["Fixture"]["echo"] == ack(json!("late"), 200, 5));
}

#[test]
fn test_systemd_hears_ready_once_connected_and_stopping_at_the_end() {
    let platform = platform("agent-notify", vec!["fixture"]);
    let path = platform.root.join("notify.sock");
    let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let agent = RunningAgent::start_notifying(
        platform.socket.clone(),
        config(&[]),
        identity(Some(CONNECTION_STRING)),
        Some(path.clone()),
    );
    support::wait_for("the agent to connect", || !agent.hub.lock().connects.is_empty());
    listener.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 512];
    assert!(listener.recv(&mut buf).is_err(), "not ready before the hub connection is up");
    agent.connect_with_twin(r#"{"desired":{"$version":1}}"#);
    listener.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let n = listener.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1\nSTATUS=connected to the hub");
    drop(agent.stop());
    let n = listener.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
}
