//! Configuration through the real C ABI: the built `libconfiguration.so` is loaded with the osconfig-mmi loader and
//! driven with `OSCONFIG_ROOT` pointing at a temporary root holding a planted `etc/osconfig/osconfig.json`. The
//! test runs in a child process of this test binary with `OSCONFIG_ROOT` set on its command
//! (`osconfig_testkit::in_child`): the module reads it through its own copy of std.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use osconfig_mmi::loader::{Library, Session};
use osconfig_mmi::{Errno, Lifetime};
use serde_json::{json, Value};

fn module_path() -> PathBuf {
    osconfig_testkit::artifacts().module("configuration")
}

/// A planted file in the shape of the shipped one, with a key this module does not know and keys in their own order.
const PLANTED: &str = r#"{
  "GitManagement": 0,
  "GitRepositoryUrl": " ",
  "GitBranch": " ",
  "LocalManagement": 1,
  "LoggingLevel": 6,
  "MaxLogSize": 1048576,
  "ModelVersion": 20,
  "IotHubManagement": 0,
  "IotHubProtocol": 2,
  "Reported": [{"ComponentName": "DeviceInfo", "ObjectName": "osName"}],
  "ReportingIntervalSeconds": 30
}"#;

fn get(session: &Session<'_>, object: &str) -> Value {
    let bytes = session.get("Configuration", object).unwrap_or_else(|e| panic!("get {object}: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

fn set(session: &Session<'_>, object: &str, payload: Value) -> Result<(), Errno> {
    session.set("Configuration", object, payload.to_string().as_bytes())
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn test_configuration_module_through_c_abi() {
    let Some(root) = osconfig_testkit::in_child("test_configuration_module_through_c_abi", |root| {
        vec![("OSCONFIG_ROOT", root.into())]
    }) else {
        return;
    };
    let dir = root.join("etc/osconfig");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("osconfig.json");
    fs::write(&file, PLANTED).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();

    let lib = Library::load(module_path()).unwrap();
    let info = lib.get_info("abi-test").unwrap();
    assert_eq!(info.name, "Configuration");
    assert_eq!((info.version_major, info.version_minor), (1, 4));
    assert_eq!(info.components, vec!["Configuration".to_string()]);
    assert_eq!(info.lifetime, Lifetime::ShortLived);
    assert_eq!(info.user_account, 0);
    let session = lib.open("abi-test", 0).unwrap();

    // Reported objects from the planted file.
    let planted = [
        ("modelVersion", json!(20)),
        ("refreshInterval", json!(30)),
        ("localManagementEnabled", json!(true)),
        ("debugLoggingEnabled", json!(false)),
        ("iotHubManagementEnabled", json!(false)),
        ("iotHubManagamentEnabled", json!(false)),
        ("iotHubProtocol", json!("mqttWebSocket")),
        ("gitManagementEnabled", json!(false)),
        ("gitBranch", json!(" ")),
    ];
    for (object, value) in &planted {
        assert_eq!(get(&session, object), *value, "{object}");
    }

    // Every desired object, then its reported twin; unknown keys and key order are kept, the mode too.
    let order = keys(&read(&file));
    let changes = [
        ("desiredRefreshInterval", json!(120), "refreshInterval", json!(120), "ReportingIntervalSeconds", json!(120)),
        (
            "desiredLocalManagementEnabled",
            json!(false),
            "localManagementEnabled",
            json!(false),
            "LocalManagement",
            json!(0),
        ),
        ("desiredDebugLoggingEnabled", json!(true), "debugLoggingEnabled", json!(true), "LoggingLevel", json!(7)),
        (
            "desiredIotHubManagementEnabled",
            json!(true),
            "iotHubManagementEnabled",
            json!(true),
            "IotHubManagement",
            json!(1),
        ),
        ("desiredIotHubProtocol", json!("mqtt"), "iotHubProtocol", json!("mqtt"), "IotHubProtocol", json!(1)),
        ("desiredGitManagementEnabled", json!(true), "gitManagementEnabled", json!(true), "GitManagement", json!(1)),
        ("desiredGitBranch", json!("release/2"), "gitBranch", json!("release/2"), "GitBranch", json!("release/2")),
    ];
    for (desired, payload, reported, value, key, stored) in &changes {
        set(&session, desired, payload.clone()).unwrap_or_else(|e| panic!("{desired}: {e}"));
        assert_eq!(get(&session, reported), *value, "{reported}");
        assert_eq!(read(&file)[key], *stored, "{key}");
    }
    let after = read(&file);
    assert_eq!(keys(&after), order, "key order changed");
    assert_eq!(after["MaxLogSize"], json!(1048576));
    assert_eq!(after["GitRepositoryUrl"], json!(" "));
    assert_eq!(after["Reported"], json!([{"ComponentName": "DeviceInfo", "ObjectName": "osName"}]));
    assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o7777, 0o640);
    assert_eq!(get(&session, "iotHubManagamentEnabled"), json!(true));

    // Idempotent: the same values again leave the file untouched.
    let before = fs::read(&file).unwrap();
    let modified = fs::metadata(&file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    for (desired, payload, ..) in &changes {
        set(&session, desired, payload.clone()).unwrap();
    }
    assert_eq!(fs::read(&file).unwrap(), before);
    assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), modified);

    // Debug logging off goes back to level 6.
    set(&session, "desiredDebugLoggingEnabled", json!(false)).unwrap();
    assert_eq!(read(&file)["LoggingLevel"], json!(6));
    assert_eq!(get(&session, "debugLoggingEnabled"), json!(false));

    // Invalid payloads: EINVAL, the file stays as it was.
    let before = fs::read(&file).unwrap();
    let invalid = [
        ("desiredRefreshInterval", json!(0)),
        ("desiredRefreshInterval", json!(86401)),
        ("desiredRefreshInterval", json!(1.5)),
        ("desiredRefreshInterval", json!("60")),
        ("desiredLocalManagementEnabled", json!(1)),
        ("desiredDebugLoggingEnabled", json!("true")),
        ("desiredIotHubManagementEnabled", json!(null)),
        ("desiredIotHubProtocol", json!("amqp")),
        ("desiredIotHubProtocol", json!(2)),
        ("desiredGitManagementEnabled", json!([])),
        ("desiredGitBranch", json!(5)),
        ("desiredGitBranch", json!("a\nb")),
    ];
    for (object, payload) in &invalid {
        assert_eq!(set(&session, object, payload.clone()), Err(Errno::EINVAL), "{object} {payload}");
    }
    assert_eq!(session.set("Configuration", "desiredRefreshInterval", b"{60"), Err(Errno::EINVAL));
    assert_eq!(fs::read(&file).unwrap(), before);

    // Unknown or empty components and objects, and objects of the wrong direction.
    assert_eq!(session.get("configuration", "modelVersion"), Err(Errno::EINVAL));
    assert_eq!(session.get("", "modelVersion"), Err(Errno::EINVAL));
    assert_eq!(session.get("Configuration", ""), Err(Errno::EINVAL));
    assert_eq!(session.get("Configuration", "desiredRefreshInterval"), Err(Errno::EINVAL));
    assert_eq!(session.get("Configuration", "fullLoggingEnabled"), Err(Errno::EINVAL));
    assert_eq!(set(&session, "refreshInterval", json!(10)), Err(Errno::EINVAL));
    assert_eq!(set(&session, "desiredModelVersion", json!(10)), Err(Errno::EINVAL));
    assert_eq!(session.set("Other", "desiredRefreshInterval", b"10"), Err(Errno::EINVAL));

    // A file we cannot parse: never overwritten, sets and gets give EINVAL.
    fs::write(&file, "{\"LoggingLevel\": 7,").unwrap();
    assert_eq!(set(&session, "desiredRefreshInterval", json!(60)), Err(Errno::EINVAL));
    assert_eq!(session.get("Configuration", "refreshInterval"), Err(Errno::EINVAL));
    assert_eq!(fs::read_to_string(&file).unwrap(), "{\"LoggingLevel\": 7,");
    fs::write(&file, "[]").unwrap();
    assert_eq!(set(&session, "desiredRefreshInterval", json!(60)), Err(Errno::EINVAL));
    assert_eq!(fs::read_to_string(&file).unwrap(), "[]");

    // A missing file: defaults are reported, and a set creates the file (0644) with just that key.
    fs::remove_dir_all(&dir).unwrap();
    for (object, value) in [
        ("modelVersion", json!(20)),
        ("refreshInterval", json!(30)),
        ("localManagementEnabled", json!(false)),
        ("debugLoggingEnabled", json!(false)),
        ("iotHubManagementEnabled", json!(false)),
        ("iotHubProtocol", json!("auto")),
        ("gitManagementEnabled", json!(false)),
        ("gitBranch", json!("")),
    ] {
        assert_eq!(get(&session, object), value, "{object}");
    }
    set(&session, "desiredRefreshInterval", json!(86400)).unwrap();
    assert_eq!(read(&file), json!({"ReportingIntervalSeconds": 86400}));
    assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o7777, 0o644);
    assert_eq!(get(&session, "refreshInterval"), json!(86400));

    // A session limit smaller than a value: E2BIG, not truncated JSON.
    set(&session, "desiredGitBranch", json!("feature/a-rather-long-branch-name")).unwrap();
    let small = lib.open("abi-test-small", 8).unwrap();
    assert_eq!(small.get("Configuration", "gitBranch"), Err(Errno::E2BIG));
    assert_eq!(small.get("Configuration", "refreshInterval").unwrap(), b"86400");
    drop(small);

    drop(session);
    lib.unload().unwrap();
}

/// Our MIM has every object the module serves, with the type the module reports or accepts.
#[test]
fn test_mim_matches_module_objects() {
    let mim: Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/mim/configuration.json"))).unwrap();
    assert_eq!(mim["name"], "OsConfigConfigurationModel");
    let component = &mim["contents"][0];
    assert_eq!(component["name"], "Configuration");
    let mut desired = Vec::new();
    let mut reported = Vec::new();
    for object in component["contents"].as_array().unwrap() {
        let name = object["name"].as_str().unwrap();
        if object["desired"].as_bool().unwrap() {
            desired.push(name);
        } else {
            reported.push(name);
        }
    }
    assert_eq!(desired, configuration::desired::DESIRED);
    assert_eq!(reported, configuration::settings::REPORTED);
}

/// Our MIM agrees with the reference module's MIM (`../shared/reference/mim/configuration.json` beside the project, present on
/// developer machines and in CI): same model and component, and every reference object with the same direction and
/// schema.
/// Ours adds `iotHubManagementEnabled`, the spelling the reference code answers to (its MIM says
/// `iotHubManagamentEnabled`). Skipped when the reference data is not there.
#[test]
fn test_mim_agrees_with_reference() {
    osconfig_testkit::assert_mim_agrees_with_reference(
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/mim/configuration.json")),
        "configuration.json",
        &["iotHubManagementEnabled"],
    );
}
