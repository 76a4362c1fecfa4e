//! The IoT Hub agent (`osconfig`, over the Azure IoT C SDK) against the tests' local IoT Hub (`common/hub.rs`), with
//! the real platform and modules in a temporary root: the full twin applied and acknowledged, desired patches, a
//! failing property acked 400, reported values sent only on change, the broker restarted (reconnect and reconcile),
//! the platform killed and restarted (re-open and re-apply), and bad input (a malformed document, an unknown
//! component, an oversized payload) logged and acknowledged without a crash.

mod common;
#[path = "common/hub.rs"]
mod hub;

use std::fs;
use std::time::Duration;

use common::{Options, Platform};
use hub::{Agent, Hub};
use serde_json::{json, Value};

/// Generous deadline for anything the agent does (never a speed assertion).
const WAIT: Duration = Duration::from_secs(60);
const MODULE: &str = "osconfig";

/// A platform (HostName, CommandRunner and the fixture module (`Fixture`, `SampleComponent`), MIMs installed, local management off, reporting every
/// second), a hub with one module identity, and the agent connected to both. Fields drop in reverse order: the
/// agent first, then the hub, then the platform (which removes the root).
struct Rig {
    platform: Platform,
    hub: Hub,
    id: String,
    agent: Agent,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.agent.stop();
        if std::thread::panicking() {
            eprintln!("--- agent log ---\n{}", self.agent.log_text());
            eprintln!("--- hub state ---\n{}", self.hub.state(&self.id));
            eprintln!("--- broker log ---\n{}", self.hub.broker_log(&self.id));
            eprintln!("--- platform log ---\n{}", self.platform.stderr_text());
        }
    }
}

fn rig(tag: &str, desired: Value) -> Rig {
    rig_with(tag, desired, false)
}

/// [`rig`], over MQTT over WebSocket (`IotHubProtocol` 2, port 443) when `websocket`.
fn rig_with(tag: &str, desired: Value, websocket: bool) -> Rig {
    let config = json!({
        "IotHubProtocol": if websocket { 2 } else { 1 },
        "LocalManagement": 0,
        "IotHubManagement": 1,
        "ReportingIntervalSeconds": 1,
        "Reported": [
            {"ComponentName": "HostName", "ObjectName": "name"},
            {"ComponentName": "SampleComponent", "ObjectName": "reportedStringObject"}
        ]
    });
    let platform = Platform::start(
        tag,
        Options {
            modules: vec!["hostname", "commandrunner", "fixture"],
            config: Some(config),
            mims: true,
            ..Options::default()
        },
    );
    let device = format!("{}-device", tag.replace('_', "-"));
    let hub = Hub::start(tag, &[(&device, Some(MODULE))]);
    let id = format!("{device}/{MODULE}");
    hub.set_desired(&id, desired);
    let agent = Agent::start(&platform.root, &hub, &id);
    Rig { platform, hub, id, agent }
}

/// The ack of `component.property` in a reported section: `(ac, av, value)`.
fn ack(reported: &Value, component: &str, property: &str) -> Option<(i64, i64, Value)> {
    let ack = &reported[component][property];
    Some((ack["ac"].as_i64()?, ack["av"].as_i64()?, ack["value"].clone()))
}

impl Rig {
    /// Waits until `component.property` is acked with `ac` for desired `$version` `av`; the reported section.
    fn wait_ack(&self, component: &str, property: &str, ac: i64, av: u64) -> Value {
        let result = self.hub.wait_for_reported(&self.id, WAIT, |r| {
            assert!(self.agent.running(), "the agent exited:\n{}", self.agent.log_text());
            ack(r, component, property).is_some_and(|(c, v, _)| c == ac && v == av as i64)
        });
        result.unwrap_or_else(|r| panic!("no ack {ac} of {component}.{property} for $version {av}: {r}"))
    }

    fn hostname_file(&self) -> String {
        fs::read_to_string(self.platform.root.join("etc/hostname")).unwrap_or_default().trim().to_string()
    }

    /// `MpiGet(component, object)` through the platform in a session of the test's own.
    fn mpi_get(&self, component: &str, object: &str) -> Value {
        let mut client = self.platform.client();
        let session = client.open("agent-test", 0).expect("MpiOpen");
        let value = client.get(&session, component, object).expect("MpiGet");
        client.close(&session).expect("MpiClose");
        serde_json::from_slice(&value).expect("MpiGet JSON")
    }

    fn assert_running(&self) {
        assert!(self.agent.running(), "the agent exited:\n{}", self.agent.log_text());
    }
}

#[test]
fn test_full_twin_applied_and_acknowledged_with_the_iot_hub_identity() {
    let rig = rig(
        "agent_full",
        json!({"HostName": {"__t": "c", "desiredName": "agent-full"}, "SampleComponent": {"__t": "c", "desiredObject": {"stringSetting": "a"}}}),
    );
    let version = rig.hub.twin(&rig.id)["desired"]["$version"].as_u64().unwrap();
    let reported = rig.wait_ack("HostName", "desiredName", 200, version);
    assert_eq!(
        reported["HostName"]["desiredName"],
        json!({"value": "agent-full", "ac": 200, "ad": "-", "av": version})
    );
    assert_eq!(reported["HostName"]["__t"], "c");
    let reported = rig.wait_ack("SampleComponent", "desiredObject", 200, version);
    assert_eq!(reported["SampleComponent"]["desiredObject"]["value"], json!({"stringSetting": "a"}));

    // The module's effect under the root, and through the platform.
    assert_eq!(rig.hostname_file(), "agent-full");
    assert_eq!(rig.mpi_get("HostName", "name"), json!("agent-full"));

    // Reported values (MpiGet of the Reported entries) reach the twin too.
    rig.hub
        .wait_for_reported(&rig.id, WAIT, |r| r["HostName"]["name"] == "agent-full")
        .unwrap_or_else(|r| panic!("HostName.name never reported: {r}"));

    // The CONNECT as IoT Hub expects it: client id, username with the model id, a valid SAS token.
    let connections = rig.hub.connections(&rig.id);
    let first = &connections[0];
    assert_eq!(first["client_id"], rig.id.as_str());
    let username = first["username"].as_str().unwrap();
    assert!(username.starts_with(&format!("{}/{}/?api-version=", rig.hub.host_name(), rig.id)), "{username}");
    // The model id, percent-encoded (hex digits in either case): dtmi:osconfig:deviceosconfiguration;<ModelVersion>.
    let model = username.to_lowercase().split("model-id=").nth(1).map(|m| m.split('&').next().unwrap().to_string());
    let model = model.unwrap_or_else(|| panic!("no model-id in {username}"));
    let version = model.strip_prefix("dtmi%3aosconfig%3adeviceosconfiguration%3b").unwrap_or_else(|| panic!("{model}"));
    assert!(!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()), "model version in {model}");
    assert_eq!(first["sas"], "valid");
}

#[test]
fn test_desired_patch_applied_acked_and_a_failing_property_acked_400() {
    let rig = rig("agent_patch", json!({"HostName": {"desiredName": "before-patch"}}));
    let first = rig.hub.twin(&rig.id)["desired"]["$version"].as_u64().unwrap();
    rig.wait_ack("HostName", "desiredName", 200, first);

    let version =
        rig.hub.push_patch(&rig.id, json!({"HostName": {"desiredName": "after-patch"}, "Fixture": {"fail": 1}}));
    let reported = rig.wait_ack("HostName", "desiredName", 200, version);
    assert_eq!(reported["HostName"]["desiredName"]["value"], "after-patch");
    let reported = rig.wait_ack("Fixture", "fail", 400, version);
    assert_eq!(reported["Fixture"]["fail"], json!({"value": 1, "ac": 400, "ad": "-", "av": version}));
    assert_eq!(rig.hostname_file(), "after-patch");

    // A value the MIM refuses is a failure too (400), and the next good patch applies.
    let version = rig.hub.push_patch(&rig.id, json!({"HostName": {"desiredName": 42}}));
    rig.wait_ack("HostName", "desiredName", 400, version);
    assert_eq!(rig.hostname_file(), "after-patch");
    let version = rig.hub.push_patch(&rig.id, json!({"HostName": {"desiredName": "third"}}));
    rig.wait_ack("HostName", "desiredName", 200, version);
    assert_eq!(rig.hostname_file(), "third");
    rig.assert_running();
}

/// The reported patches (not rejected) that carry `component.object` as a plain value (not an ack).
fn value_reports(patches: &[Value], component: &str, object: &str) -> Vec<Value> {
    patches.iter().filter_map(|p| p["patch"][component].get(object).cloned()).collect()
}

#[test]
fn test_reported_values_are_sent_only_on_change() {
    let rig = rig("agent_onchange", json!({"SampleComponent": {"desiredStringObject": "one"}}));
    rig.hub
        .wait_for_reported(&rig.id, WAIT, |r| r["SampleComponent"]["reportedStringObject"] == "one")
        .unwrap_or_else(|r| panic!("reportedStringObject never reported: {r}"));
    // Five reporting intervals with nothing changing: no new report of either value.
    let before = rig.hub.reported_patches(&rig.id);
    std::thread::sleep(Duration::from_secs(5));
    let after = rig.hub.reported_patches(&rig.id);
    assert_eq!(
        value_reports(&after, "SampleComponent", "reportedStringObject"),
        value_reports(&before, "SampleComponent", "reportedStringObject")
    );
    assert_eq!(value_reports(&after, "HostName", "name"), value_reports(&before, "HostName", "name"));
    assert_eq!(
        value_reports(&after, "SampleComponent", "reportedStringObject"),
        vec![json!("one")],
        "reported once: {after:?}"
    );

    // A change is reported once.
    rig.hub.push_patch(&rig.id, json!({"SampleComponent": {"desiredStringObject": "two"}}));
    rig.hub
        .wait_for_reported(&rig.id, WAIT, |r| r["SampleComponent"]["reportedStringObject"] == "two")
        .unwrap_or_else(|r| panic!("\"two\" never reported: {r}"));
    std::thread::sleep(Duration::from_secs(3));
    let echoes = value_reports(&rig.hub.reported_patches(&rig.id), "SampleComponent", "reportedStringObject");
    assert_eq!(echoes, vec![json!("one"), json!("two")]);
}

#[test]
fn test_broker_restart_reconnects_and_reconciles_from_the_full_twin() {
    let mut rig = rig("agent_broker", json!({"HostName": {"desiredName": "before-outage"}}));
    let first = rig.hub.twin(&rig.id)["desired"]["$version"].as_u64().unwrap();
    rig.wait_ack("HostName", "desiredName", 200, first);
    let connections = rig.hub.connections(&rig.id).len();

    rig.hub.stop_brokers();
    // Changed while the agent cannot hear it: only the full twin after the reconnect carries it.
    let version = rig.hub.update_desired(&rig.id, json!({"HostName": {"desiredName": "during-outage"}}));
    std::thread::sleep(Duration::from_secs(2));
    rig.assert_running();
    rig.hub.start_brokers();

    let reported = rig.wait_ack("HostName", "desiredName", 200, version);
    assert_eq!(reported["HostName"]["desiredName"]["value"], "during-outage");
    assert_eq!(rig.hostname_file(), "during-outage");
    assert!(rig.hub.connections(&rig.id).len() > connections, "the agent reconnected");

    // Patches flow again on the new connection.
    let version = rig.hub.push_patch(&rig.id, json!({"HostName": {"desiredName": "after-outage"}}));
    rig.wait_ack("HostName", "desiredName", 200, version);
    assert_eq!(rig.hostname_file(), "after-outage");
}

#[test]
fn test_platform_killed_and_restarted_agent_reopens_and_reapplies() {
    let mut rig = rig(
        "agent_platform",
        json!({"HostName": {"desiredName": "held-name"}, "SampleComponent": {"desiredStringObject": "held"}}),
    );
    let version = rig.hub.twin(&rig.id)["desired"]["$version"].as_u64().unwrap();
    rig.wait_ack("HostName", "desiredName", 200, version);
    assert_eq!(rig.hostname_file(), "held-name");

    rig.platform.signal(libc::SIGKILL);
    assert!(rig.platform.wait_exit(Duration::from_secs(10)).is_some(), "platform did not die");
    // Drift while the platform is down: only the agent's re-apply (local management is off) brings it back.
    fs::write(rig.platform.root.join("etc/hostname"), "drifted\n").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    rig.assert_running();
    rig.platform.restart_stopped();

    let deadline = std::time::Instant::now() + WAIT;
    while rig.hostname_file() != "held-name" {
        assert!(std::time::Instant::now() < deadline, "the agent did not re-apply: {}", rig.hostname_file());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(rig.agent.wait_log(&["new MPI session"], WAIT).is_some(), "no log line about the new MPI session");
    // The in-memory module state (the fixture's per-session object, lost with the platform) came back too.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rig.hub.reported(&rig.id)["SampleComponent"]["reportedStringObject"], "held");
    rig.assert_running();
}

#[test]
fn test_malformed_unknown_and_oversized_input_is_logged_acked_and_survived() {
    let rig = rig("agent_badinput", json!({"HostName": {"desiredName": "good-start"}}));
    let first = rig.hub.twin(&rig.id)["desired"]["$version"].as_u64().unwrap();
    rig.wait_ack("HostName", "desiredName", 200, first);

    // A malformed document: logged; the agent fetches the full twin instead and keeps running.
    let gets = rig.hub.state(&rig.id)["gets"].as_u64().unwrap();
    rig.hub.push_raw_patch(&rig.id, "{\"HostName\": {\"desiredName\": ");
    rig.hub
        .wait_for_state(&rig.id, WAIT, |s| s["gets"].as_u64().unwrap() > gets)
        .unwrap_or_else(|s| panic!("no full twin fetched after a malformed patch: {s}"));
    let line = rig.agent.wait_log(&["desired patch", "not valid JSON"], WAIT);
    assert!(line.is_some(), "no clear log line for the malformed patch:\n{}", rig.agent.log_text());
    rig.assert_running();

    // A property of a component no module serves: acked 400, logged.
    let version = rig.hub.push_patch(&rig.id, json!({"NoSuchComponent": {"anything": 1}}));
    rig.wait_ack("NoSuchComponent", "anything", 400, version);
    assert!(rig.agent.wait_log(&["NoSuchComponent"], WAIT).is_some(), "no log line naming the unknown component");
    rig.assert_running();

    // An oversized payload (300 KiB, over IoT Hub's 256 KiB message limit): a log line and an ack, no crash.
    let big = "x".repeat(300 * 1024);
    // (The ack must itself fit in the hub's 32 KiB reported limit: echoing the value would be refused.)
    let version = rig.hub.push_patch(&rig.id, json!({"HostName": {"desiredName": big}}));
    let reported = rig.wait_ack("HostName", "desiredName", 400, version);
    let ad = reported["HostName"]["desiredName"]["ad"].as_str().unwrap_or_default().to_string();
    let line = rig.agent.wait_log(&["HostName.desiredName", "byte limit"], WAIT);
    assert!(line.is_some(), "no clear log line for the oversized value (ad {ad}):\n{}", rig.agent.log_text());
    assert_eq!(rig.hostname_file(), "good-start");
    assert!(
        rig.hub.reported_patches(&rig.id).iter().all(|p| p.get("rejected").is_none()),
        "the agent sent a reported patch the hub refused (over 32 KiB?)"
    );
    rig.assert_running();

    // Later patches still apply.
    let version = rig.hub.push_patch(&rig.id, json!({"HostName": {"desiredName": "after-bad-input"}}));
    rig.wait_ack("HostName", "desiredName", 200, version);
    assert_eq!(rig.hostname_file(), "after-bad-input");
    rig.assert_running();
}

#[test]
fn test_mqtt_over_websocket_full_twin_and_patch() {
    let rig = rig_with("agent_websocket", json!({"HostName": {"desiredName": "over-websocket"}}), true);
    let first = rig.hub.twin(&rig.id)["desired"]["$version"].as_u64().unwrap();
    rig.wait_ack("HostName", "desiredName", 200, first);
    assert_eq!(rig.hostname_file(), "over-websocket");
    let version = rig.hub.push_patch(&rig.id, json!({"HostName": {"desiredName": "patched-over-websocket"}}));
    rig.wait_ack("HostName", "desiredName", 200, version);
    assert_eq!(rig.hostname_file(), "patched-over-websocket");
    assert_eq!(rig.hub.connections(&rig.id)[0]["sas"], "valid");
    // Over WebSocket (hub.py's front on port 443, piped to the plain listener): no connection on port 8883.
    let log = rig.hub.broker_log(&rig.id);
    let over_tls = log.lines().any(|l| l.contains("New connection from") && l.contains("on port 8883"));
    assert!(!over_tls, "the agent used port 8883:\n{log}");
}
