//! The MIMs of our modules and of the reference modules parse, payloads our modules accept pass, and typical mistakes
//! fail with the right violation.

use std::path::{Path, PathBuf};

use osconfig_mim::{Catalog, Mim, Violation, ViolationKind};

/// The `*.json` files of `dir`, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// Every `src/modules/*/mim/*.json`.
fn our_mim_files() -> Vec<PathBuf> {
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules");
    let mut files = Vec::new();
    for module in std::fs::read_dir(&modules).unwrap() {
        let mim_dir = module.unwrap().path().join("mim");
        if mim_dir.is_dir() {
            files.extend(json_files(&mim_dir));
        }
    }
    files.sort();
    files
}

/// Every reference MIM, or `None` (with a note) when `../shared/reference/mim` is absent.
fn reference_mim_files() -> Option<Vec<PathBuf>> {
    let dir = osconfig_testkit::shared_dir().join("reference/mim");
    if !dir.is_dir() {
        eprintln!("{} not found: reference MIMs skipped", dir.display());
        return None;
    }
    Some(json_files(&dir))
}

fn catalog_of(files: &[PathBuf]) -> Catalog {
    let mut catalog = Catalog::default();
    for file in files {
        catalog.add(Mim::load(file).unwrap_or_else(|e| panic!("{e}")));
    }
    catalog
}

fn ours() -> Catalog {
    catalog_of(&our_mim_files())
}

fn reference() -> Option<Catalog> {
    reference_mim_files().map(|files| catalog_of(&files))
}

/// Payloads our modules accept: (component, object, payload).
const ACCEPTED: &[(&str, &str, &str)] = &[
    (
        "CommandRunner",
        "commandArguments",
        r#"{"commandId":"1","arguments":"echo hi","timeout":10,"singleLineTextResult":true,"action":3}"#,
    ),
    ("CommandRunner", "commandArguments", r#"{"commandId":"1","action":5}"#),
    ("CommandRunner", "commandArguments", r#"{"commandId":"1","action":4}"#),
    ("CommandRunner", "commandArguments", r#"{"commandId":"r","arguments":"","timeout":0,"action":1}"#),
    ("CommandRunner", "commandArguments", "{\n  \"commandId\": \"2\",\n  \"action\": 0\n}\n"),
    ("HostName", "desiredName", r#""box""#),
    ("HostName", "desiredHosts", r#""127.0.0.1 localhost;::1 ip6-localhost ip6-loopback""#),
    ("Configuration", "desiredRefreshInterval", "30"),
    ("Configuration", "desiredLocalManagementEnabled", "true"),
    ("Configuration", "desiredDebugLoggingEnabled", "false"),
    ("Configuration", "desiredIotHubManagementEnabled", "true"),
    ("Configuration", "desiredIotHubProtocol", r#""mqttWebSocket""#),
    ("Configuration", "desiredGitManagementEnabled", "false"),
    ("Configuration", "desiredGitBranch", r#""main""#),
];

/// Typical mistakes: (component, object, payload, the violation's path, its message).
const REFUSED: &[(&str, &str, &str, &str, &str)] = &[
    ("HostName", "desiredName", "42", "", "HostName.desiredName: expected a string, found the number 42"),
    (
        "HostName",
        "desiredNam",
        r#""box""#,
        "",
        "HostName.desiredNam: unknown object (desired objects: desiredName, desiredHosts)",
    ),
    ("HostName", "desiredName", "box", "", "HostName.desiredName: the payload is not JSON (line 1, column 1: expected value)"),
    (
        "CommandRunner",
        "commandArguments",
        r#"{"commandId":"1","action":9}"#,
        "action",
        "CommandRunner.commandArguments.action: 9 is not one of the MIM's values 0 (none), 1 (reboot), 2 (shutdown), \
         3 (runCommand), 4 (refreshCommandStatus), 5 (cancelCommand)",
    ),
    (
        "CommandRunner",
        "commandArguments",
        r#"{"commandId":"1","action":3,"foo":1}"#,
        "",
        "CommandRunner.commandArguments: unknown setting \"foo\" (settings: commandId, arguments, timeout, \
         singleLineTextResult, action)",
    ),
    (
        "CommandRunner",
        "commandArguments",
        r#"{"commandId":"1","arguments":"ls","timeout":"10","action":3}"#,
        "timeout",
        "CommandRunner.commandArguments.timeout: expected an integer, found the string \"10\"",
    ),
    (
        "CommandRunner",
        "commandArguments",
        r#"{"commandId":"1","arguments":"ls","timeout":2.5,"action":3}"#,
        "timeout",
        "CommandRunner.commandArguments.timeout: expected an integer, found the number 2.5",
    ),
    (
        "CommandRunner",
        "commandArguments",
        r#"{"commandId":"1","action":"runCommand"}"#,
        "action",
        "CommandRunner.commandArguments.action: expected an integer, found the string \"runCommand\"",
    ),
    (
        "CommandRunner",
        "commandArguments",
        r#"{"commandId":1,"action":3}"#,
        "commandId",
        "CommandRunner.commandArguments.commandId: expected a string, found the number 1",
    ),
    (
        "CommandRunner",
        "commandArguments",
        r#"{"commandId":"1","singleLineTextResult":"true","action":3}"#,
        "singleLineTextResult",
        "CommandRunner.commandArguments.singleLineTextResult: expected a boolean, found the string \"true\"",
    ),
    (
        "CommandRunner",
        "commandArguments",
        r#""{\"commandId\":\"1\",\"action\":4}""#,
        "",
        "CommandRunner.commandArguments: expected an object, found the string \"{\\\"commandId\\\":\\\"1\\\",\\\"action\\\":4}\"",
    ),
    (
        "CommandRunner",
        "commandStatus2",
        "{}",
        "",
        "CommandRunner.commandStatus2: unknown object (desired objects: commandArguments)",
    ),
    (
        "Configuration",
        "desiredIotHubProtocol",
        r#""amqp""#,
        "",
        "Configuration.desiredIotHubProtocol: \"amqp\" is not one of the MIM's values \"auto\", \"mqtt\", \"mqttWebSocket\"",
    ),
    (
        "Configuration",
        "desiredIotHubProtocol",
        "1",
        "",
        "Configuration.desiredIotHubProtocol: expected a string, found the number 1",
    ),
    (
        "Configuration",
        "desiredRefreshInterval",
        r#""30""#,
        "",
        "Configuration.desiredRefreshInterval: expected an integer, found the string \"30\"",
    ),
    ("Configuration", "desiredLocalManagementEnabled", "1", "", "Configuration.desiredLocalManagementEnabled: expected a boolean, found the number 1"),
    ("Configuration", "desiredGitBranch", "null", "", "Configuration.desiredGitBranch: expected a string, found null"),
    ("DeviceInfo", "osName2", r#""x""#, "", "DeviceInfo.osName2: unknown object (the component has no desired objects)"),
];

#[test]
fn test_our_mims_parse() {
    let files = our_mim_files();
    assert!(files.len() >= 4, "expected the MIMs of deviceinfo, hostname, commandrunner, configuration: {files:?}");
    let mut components = Vec::new();
    for file in &files {
        let mim = Mim::load(file).unwrap_or_else(|e| panic!("{e}"));
        assert!(!mim.name().is_empty(), "{}", file.display());
        assert!(!mim.components().is_empty(), "{}: no component", file.display());
        components.extend(mim.components().into_iter().map(String::from));
    }
    for expected in ["CommandRunner", "Configuration", "DeviceInfo", "HostName"] {
        assert!(components.iter().any(|c| c == expected), "no MIM defines {expected}: {components:?}");
    }
    let catalog = ours();
    assert_eq!(catalog.len(), components.len(), "a component is defined by two MIMs: {components:?}");
    assert_eq!(catalog.desired_objects("DeviceInfo"), Some(vec![]));
    assert_eq!(catalog.desired_objects("HostName"), Some(vec!["desiredName", "desiredHosts"]));
    assert_eq!(catalog.desired_objects("CommandRunner"), Some(vec!["commandArguments"]));
}

#[test]
fn test_reference_mims_parse() {
    let Some(files) = reference_mim_files() else { return };
    assert!(!files.is_empty());
    for file in &files {
        let mim = Mim::load(file).unwrap_or_else(|e| panic!("{e}"));
        assert!(!mim.components().is_empty(), "{}: no component", file.display());
    }
    let catalog = reference().unwrap();
    for component in ["CommandRunner", "Configuration", "DeviceInfo", "HostName", "Firewall", "PackageManager"] {
        assert!(catalog.knows(component), "the reference MIMs do not define {component}");
    }
}

#[test]
fn test_accepted_payloads_pass() {
    let (ours, reference) = (ours(), reference());
    for (component, object, payload) in ACCEPTED {
        assert!(ours.knows(component), "{component}");
        if let Err(v) = ours.check_desired(component, object, payload.as_bytes()) {
            panic!("our MIM refuses {payload}: {v}");
        }
        if let Some(reference) = &reference {
            if let Err(v) = reference.check_desired(component, object, payload.as_bytes()) {
                panic!("the reference MIM refuses {payload}: {v}");
            }
        }
    }
}

#[test]
fn test_typical_mistakes_fail() {
    let (ours, reference) = (ours(), reference());
    for (component, object, payload, path, message) in REFUSED {
        let violation: Violation = match ours.check_desired(component, object, payload.as_bytes()) {
            Ok(()) => panic!("{component}.{object}: {payload} passes"),
            Err(v) => v,
        };
        assert_eq!((violation.component.as_str(), violation.object.as_str()), (*component, *object));
        assert_eq!(violation.path, *path, "{violation}");
        assert_eq!(violation.to_string(), *message);
        if let Some(reference) = &reference {
            let theirs = reference.check_desired(component, object, payload.as_bytes());
            assert!(theirs.is_err(), "the reference MIM accepts {component}.{object}: {payload}");
        }
    }
}

#[test]
fn test_violation_kinds_of_mistakes() {
    let ours = ours();
    let kind = |component: &str, object: &str, payload: &str| {
        ours.check_desired(component, object, payload.as_bytes()).unwrap_err().kind
    };
    let unknown = kind("CommandRunner", "commandArguments", r#"{"commandId":"1","action":3,"foo":1}"#);
    let ViolationKind::UnknownSetting { setting, known } = unknown else { panic!("{unknown:?}") };
    assert_eq!(setting, "foo");
    assert_eq!(known, ["commandId", "arguments", "timeout", "singleLineTextResult", "action"]);

    let value = kind("CommandRunner", "commandArguments", r#"{"commandId":"1","action":9}"#);
    let ViolationKind::EnumValue { value, allowed } = value else { panic!("{value:?}") };
    assert_eq!((value.as_str(), allowed.len()), ("9", 6));
    assert_eq!(allowed[3], "3 (runCommand)");

    let expected = ViolationKind::WrongType { expected: "a string".into(), found: "the number 42".into() };
    assert_eq!(kind("HostName", "desiredName", "42"), expected);
    assert!(matches!(kind("HostName", "desiredName", "{"), ViolationKind::NotJson(_)));
    let expected = ViolationKind::UnknownObject { desired: vec!["desiredName".into(), "desiredHosts".into()] };
    assert_eq!(kind("HostName", "hostname", r#""box""#), expected);
}

#[test]
fn test_reported_objects_and_unknown_components_pass() {
    let ours = ours();
    // Reported objects are left to the module (DeviceInfo answers EPERM, CommandRunner EINVAL).
    assert!(ours.check_desired("DeviceInfo", "osName", b"42").is_ok());
    assert!(ours.check_desired("CommandRunner", "commandStatus", b"not json").is_ok());
    assert!(ours.check_desired("HostName", "name", br#""box""#).is_ok());
    // No MIM: passed through unchecked.
    assert!(ours.check_desired("Tpm", "desiredAnything", b"[1,").is_ok());
}

#[test]
fn test_reference_only_payloads() {
    let Some(reference) = reference() else { return };
    let rules = r#"[{"desiredState":"present","action":"accept","direction":"in","protocol":"tcp",
        "sourceAddress":"10.0.0.1","sourcePort":22,"destinationAddress":"","destinationPort":22}]"#;
    assert!(reference.check_desired("Firewall", "desiredRules", rules.as_bytes()).is_ok());
    let bad = r#"[{"action":"accept"},{"action":"accept","protocol":"sctp"}]"#;
    let v = reference.check_desired("Firewall", "desiredRules", bad.as_bytes()).unwrap_err();
    assert_eq!(v.path, "[1].protocol");
    assert_eq!(
        v.to_string(),
        "Firewall.desiredRules[1].protocol: \"sctp\" is not one of the MIM's values \"any\", \"tcp\", \"udp\", \"icmp\""
    );

    // PackageManager: a null map value removes a source.
    let state = r#"{"packages":["curl=7.68.0"],"sources":{"main":"deb http://x focal main","old":null},
        "gpgKeys":{"k":"https://x/key.gpg"}}"#;
    assert!(reference.check_desired("PackageManager", "desiredState", state.as_bytes()).is_ok());
    let bad = r#"{"sources":{"main":1}}"#;
    let v = reference.check_desired("PackageManager", "desiredState", bad.as_bytes()).unwrap_err();
    assert_eq!(v.to_string(), "PackageManager.desiredState.sources.main: expected a string, found the number 1");
    let bad = r#"{"packages":["a",2]}"#;
    let v = reference.check_desired("PackageManager", "desiredState", bad.as_bytes()).unwrap_err();
    assert_eq!(v.to_string(), "PackageManager.desiredState.packages[1]: expected a string, found the number 2");

    let sample = r#"[{"stringSetting":"a","integerMapSetting":{"k":1},"stringsArraySetting":["x"]},
        {"integerEnumerationSetting":2,"integerArraySetting":[1,"2"]}]"#;
    let v = reference.check_desired("SampleComponent", "desiredArrayObject", sample.as_bytes()).unwrap_err();
    assert_eq!(
        v.to_string(),
        "SampleComponent.desiredArrayObject[1].integerArraySetting[1]: expected an integer, found the string \"2\""
    );
}
