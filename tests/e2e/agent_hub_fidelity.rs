//! The tests' local IoT Hub (`common/hub.rs`, `tests/hub/`) is faithful: Microsoft's Python device SDK
//! (`azure-iot-device`, `tests/hub/device_sdk_check.py`) gets the twin, patches reported properties and receives a
//! desired patch through it, each round-tripping with the hub's twin; identities are kept apart; the SAS token the
//! SDK sends is checked (and a wrong key is caught).

mod common;
#[path = "common/hub.rs"]
mod hub;

use std::io::{BufRead, BufReader};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use hub::{guard, Hub};
use osconfig_testkit::ChildGuard;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(60);

/// `device_sdk_check.py` running against the hub; its stdout lines as JSON.
struct SdkDevice {
    _process: ChildGuard,
    lines: Receiver<Value>,
}

impl SdkDevice {
    fn start(connection_string: &str, ca: &std::path::Path, reported: &Value) -> SdkDevice {
        SdkDevice::start_with(connection_string, ca, reported, &[])
    }

    fn start_with(connection_string: &str, ca: &std::path::Path, reported: &Value, extra: &[&str]) -> SdkDevice {
        // No bytecode cache: tests write nothing into the source tree.
        let mut child = Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(hub::hub_dir().join("device_sdk_check.py"))
            .arg(connection_string)
            .arg(ca)
            .arg(reported.to_string())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 tests/hub/device_sdk_check.py (run tests/hub/setup)");
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or_else(|_| json!({"error": line}));
                if send.send(value).is_err() {
                    break;
                }
            }
        });
        SdkDevice { _process: guard(child), lines }
    }

    fn next(&self, what: &str) -> Value {
        let line = self.lines.recv_timeout(WAIT).unwrap_or_else(|_| panic!("device SDK: no {what} line"));
        assert!(line.get("error").is_none(), "device SDK failed at {what}: {line}");
        line
    }
}

#[test]
fn test_python_device_sdk_round_trips_twin_reported_and_desired() {
    let hub = Hub::start("fidelity", &[("fidelity-dev", Some("osconfig")), ("other-dev", Some("osconfig"))]);
    let id = "fidelity-dev/osconfig";
    let version = hub.set_desired(id, json!({"HostName": {"desiredName": "device-a"}}));
    hub.set_desired("other-dev/osconfig", json!({"HostName": {"desiredName": "other"}}));

    let reported = json!({"HostName": {"__t": "c", "name": "device-a"}});
    let device = SdkDevice::start(&hub.connection_string(id), &hub.ca_path(), &reported);

    // get_twin: exactly the hub's twin of this identity (not the other's).
    let twin = device.next("twin")["twin"].clone();
    assert_eq!(
        twin,
        json!({"desired": {"HostName": {"desiredName": "device-a"}, "$version": version},
               "reported": {"$version": 1}})
    );
    // (The Python SDK gets the twin itself too once desired patches are enabled: ensure_desired_properties.)
    assert!(hub.state(id)["gets"].as_u64().unwrap() >= 1, "{}", hub.state(id));
    assert_eq!(hub.state("other-dev/osconfig")["gets"], 0, "the other identity's twin service saw nothing");

    // patch_twin_reported_properties: acknowledged (the SDK waits for res/204) and merged into the twin.
    device.next("reported");
    assert_eq!(hub.reported(id), json!({"HostName": {"__t": "c", "name": "device-a"}, "$version": 2}));
    let patches = hub.reported_patches(id);
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0]["patch"], reported);
    assert_eq!(hub.reported("other-dev/osconfig"), json!({"$version": 1}));

    // A desired patch: received with its $version, and the hub's desired twin merged.
    let patched = hub.push_patch(id, json!({"HostName": {"desiredName": "device-b"}}));
    assert_eq!(patched, version + 1);
    let patch = device.next("patch")["patch"].clone();
    assert_eq!(patch, json!({"HostName": {"desiredName": "device-b"}, "$version": patched}));
    assert_eq!(hub.twin(id)["desired"], json!({"HostName": {"desiredName": "device-b"}, "$version": patched}));

    // The CONNECT the hub saw: IoT Hub's client id and username, a valid SAS token for this identity.
    let connections = hub.connections(id);
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0]["client_id"], id);
    let username = connections[0]["username"].as_str().unwrap();
    let expected = format!("{}/{id}/?api-version=", hub.host_name());
    assert!(username.starts_with(&expected), "username {username}, expected {expected}...");
    assert_eq!(connections[0]["sas"], "valid");
}

#[test]
fn test_hub_catches_a_sas_token_signed_with_a_wrong_key() {
    let hub = Hub::start("fidelity_bad", &[("bad-dev", Some("osconfig"))]);
    let id = "bad-dev/osconfig";
    let good = hub.connection_string(id);
    let wrong = good.replace(&hub.key(id), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    assert_ne!(good, wrong);
    let device = SdkDevice::start(&wrong, &hub.ca_path(), &json!({"a": 1}));
    device.next("twin");
    device.next("reported");
    let connections = hub.connections(id);
    assert_eq!(connections[0]["sas"], "invalid: wrong signature", "{connections:?}");
    assert_eq!(hub.reported(id), json!({"a": 1, "$version": 2}));
}

#[test]
fn test_patch_waits_for_the_devices_subscription_and_brokers_restart() {
    let mut hub = Hub::start("fidelity_restart", &[("restart-dev", None)]);
    let id = "restart-dev";
    // No device connected: publishing a patch fails clearly after the wait, the twin unchanged.
    let error = hub
        .try_request(json!({"op": "patch", "identity": id, "patch": {"x": 1}, "wait": 1}))
        .expect_err("no subscriber");
    assert!(error.contains("did not subscribe"), "{error}");
    assert_eq!(hub.twin(id)["desired"], json!({"$version": 1}));

    // Offline update, brokers restarted: the twin survives, and a device identity round-trips afterwards.
    let version = hub.update_desired(id, json!({"x": 2}));
    hub.restart_brokers();
    let device = SdkDevice::start_device(&hub.connection_string(id), &hub.ca_path());
    let twin = device.next("twin")["twin"].clone();
    assert_eq!(twin["desired"], json!({"x": 2, "$version": version}));
    device.next("reported");
    let patched = hub.push_patch(id, json!({"x": 3}));
    assert_eq!(device.next("patch")["patch"], json!({"x": 3, "$version": patched}));
    assert_eq!(hub.connections(id)[0]["sas"], "valid");
}

impl SdkDevice {
    /// The same script with a device identity (`IoTHubDeviceClient`).
    fn start_device(connection_string: &str, ca: &std::path::Path) -> SdkDevice {
        SdkDevice::start(connection_string, ca, &json!({"device": true}))
    }
}

#[test]
fn test_python_device_sdk_over_websocket() {
    let hub = Hub::start("fidelity_ws", &[("ws-dev", Some("osconfig"))]);
    let id = "ws-dev/osconfig";
    let version = hub.set_desired(id, json!({"A": {"b": "c"}}));
    let device =
        SdkDevice::start_with(&hub.connection_string(id), &hub.ca_path(), &json!({"A": {"r": 1}}), &["websockets"]);
    assert_eq!(device.next("twin")["twin"]["desired"], json!({"A": {"b": "c"}, "$version": version}));
    device.next("reported");
    assert_eq!(hub.reported(id), json!({"A": {"r": 1}, "$version": 2}));
    let patched = hub.push_patch(id, json!({"A": {"b": "d"}}));
    assert_eq!(device.next("patch")["patch"], json!({"A": {"b": "d"}, "$version": patched}));
    assert_eq!(hub.connections(id)[0]["sas"], "valid");
    // Over WebSocket (hub.py's front on port 443, piped to the plain listener): no connection on port 8883.
    let log = hub.broker_log(id);
    let over_tls = log.lines().any(|l| l.contains("New connection from") && l.contains("on port 8883"));
    assert!(!over_tls, "the SDK used port 8883:\n{log}");
}
