//! HostName through the real C ABI: the built `libhostname.so` is loaded with the osconfig-mmi loader and driven
//! with `OSCONFIG_ROOT` pointing at a temporary root, so the machine's own host name and files are never touched. The
//! test runs in a child process of this test binary with `OSCONFIG_ROOT` set on its command
//! (`osconfig_testkit::in_child`): the module reads it through its own copy of std.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use osconfig_mmi::loader::Library;
use osconfig_mmi::{Errno, Lifetime};
use serde_json::{json, Value};

fn module_path() -> PathBuf {
    osconfig_testkit::artifacts().module("hostname")
}

fn get(session: &osconfig_mmi::loader::Session<'_>, object: &str) -> Value {
    let bytes = session.get("HostName", object).unwrap_or_else(|e| panic!("get {object}: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

fn set(session: &osconfig_mmi::loader::Session<'_>, object: &str, payload: Value) -> Result<(), Errno> {
    session.set("HostName", object, payload.to_string().as_bytes())
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn test_hostname_module_through_c_abi() {
    let Some(root) =
        osconfig_testkit::in_child("test_hostname_module_through_c_abi", |root| vec![("OSCONFIG_ROOT", root.into())])
    else {
        return;
    };
    fs::create_dir_all(root.join("etc")).unwrap();
    let hostname_file = root.join("etc/hostname");
    let hosts_file = root.join("etc/hosts");
    fs::write(&hostname_file, "planted-name\n").unwrap();
    fs::write(
        &hosts_file,
        "# planted\n127.0.0.1\tlocalhost\n127.0.1.1   planted-name  # the box itself\n\n::1 localhost ip6-localhost\n",
    )
    .unwrap();
    let kernel_name_before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();

    let lib = Library::load(module_path()).unwrap();

    // GetInfo
    let info = lib.get_info("abi-test").unwrap();
    assert_eq!(info.name, "HostName");
    assert_eq!((info.version_major, info.version_minor), (1, 0));
    assert_eq!(info.components, vec!["HostName".to_string()]);
    assert_eq!(info.lifetime, Lifetime::ShortLived);
    assert_eq!(info.user_account, 0);

    let session = lib.open("abi-test", 0).unwrap();

    // Reported objects from the planted files.
    assert_eq!(get(&session, "name"), json!("planted-name"));
    assert_eq!(get(&session, "hosts"), json!("127.0.0.1 localhost;127.0.1.1 planted-name;::1 localhost ip6-localhost"));

    // desiredName: written to <root>/etc/hostname, 0644, reported back; idempotent.
    set(&session, "desiredName", json!("new-box.lab")).unwrap();
    assert_eq!(fs::read_to_string(&hostname_file).unwrap(), "new-box.lab\n");
    assert_eq!(mode(&hostname_file), 0o644);
    assert_eq!(get(&session, "name"), json!("new-box.lab"));
    let modified = fs::metadata(&hostname_file).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    set(&session, "desiredName", json!("new-box.lab")).unwrap();
    assert_eq!(fs::metadata(&hostname_file).unwrap().modified().unwrap(), modified, "rewritten on re-apply");

    // desiredHosts: normalized, written one entry per line, reported back exactly; idempotent.
    set(&session, "desiredHosts", json!("127.0.0.1  localhost; 10.0.0.5 new-box.lab new-box ;fe80::1%eth0 link;"))
        .unwrap();
    assert_eq!(
        fs::read_to_string(&hosts_file).unwrap(),
        "127.0.0.1 localhost\n10.0.0.5 new-box.lab new-box\nfe80::1%eth0 link\n"
    );
    assert_eq!(mode(&hosts_file), 0o644);
    assert_eq!(get(&session, "hosts"), json!("127.0.0.1 localhost;10.0.0.5 new-box.lab new-box;fe80::1%eth0 link"));
    set(&session, "desiredHosts", json!("127.0.0.1 localhost;10.0.0.5 new-box.lab new-box;fe80::1%eth0 link")).unwrap();

    // Invalid values: EINVAL and the files stay as they were.
    for name in [
        json!(""),
        json!("-bad"),
        json!("bad_name"),
        json!("a..b"),
        json!("x".repeat(64)),
        json!(format!("{}.{}", "a".repeat(40), "b".repeat(24))),
        json!("semi;colon"),
    ] {
        assert_eq!(set(&session, "desiredName", name.clone()), Err(Errno::EINVAL), "{name}");
    }
    for hosts in [
        json!(""),
        json!(";"),
        json!("localhost 127.0.0.1"),
        json!("999.0.0.1 x"),
        json!("127.0.0.1"),
        json!("127.0.0.1 bad_name"),
        json!("127.0.0.1 ok # comment"),
    ] {
        assert_eq!(set(&session, "desiredHosts", hosts.clone()), Err(Errno::EINVAL), "{hosts}");
    }
    // Wrong JSON types (the MIM says string).
    for payload in [json!(1), json!(true), json!(null), json!(["a"]), json!({"name": "a"})] {
        assert_eq!(set(&session, "desiredName", payload.clone()), Err(Errno::EINVAL), "{payload}");
        assert_eq!(set(&session, "desiredHosts", payload.clone()), Err(Errno::EINVAL), "{payload}");
    }
    // Invalid JSON and an empty payload (rejected by the SDK).
    assert_eq!(session.set("HostName", "desiredName", b"\"unterminated"), Err(Errno::EINVAL));
    assert_eq!(session.set("HostName", "desiredName", b""), Err(Errno::EINVAL));
    assert_eq!(fs::read_to_string(&hostname_file).unwrap(), "new-box.lab\n");
    assert_eq!(get(&session, "hosts"), json!("127.0.0.1 localhost;10.0.0.5 new-box.lab new-box;fe80::1%eth0 link"));

    // Unknown or empty components and objects, and objects of the wrong direction.
    assert_eq!(session.get("Hostname", "name"), Err(Errno::EINVAL));
    assert_eq!(session.get("", "name"), Err(Errno::EINVAL));
    assert_eq!(session.get("HostName", ""), Err(Errno::EINVAL));
    assert_eq!(session.get("HostName", "desiredName"), Err(Errno::EINVAL));
    assert_eq!(session.get("HostName", "unknown"), Err(Errno::EINVAL));
    assert_eq!(set(&session, "name", json!("x")), Err(Errno::EINVAL));
    assert_eq!(session.set("Other", "desiredName", b"\"x\""), Err(Errno::EINVAL));
    assert_eq!(session.set("HostName", "", b"\"x\""), Err(Errno::EINVAL));

    // Missing files: empty values, and a set creates them.
    fs::remove_file(&hostname_file).unwrap();
    fs::remove_file(&hosts_file).unwrap();
    assert_eq!(get(&session, "name"), json!(""));
    assert_eq!(get(&session, "hosts"), json!(""));
    set(&session, "desiredName", json!("fresh")).unwrap();
    assert_eq!(fs::read_to_string(&hostname_file).unwrap(), "fresh\n");

    // A small session limit: a value longer than the limit is E2BIG, not truncated.
    set(&session, "desiredHosts", json!("127.0.0.1 localhost;10.0.0.1 a-rather-long-host-name")).unwrap();
    let small = lib.open("abi-test-small", 16).unwrap();
    assert_eq!(small.get("HostName", "hosts"), Err(Errno::E2BIG));
    assert_eq!(serde_json::from_slice::<Value>(&small.get("HostName", "name").unwrap()).unwrap(), json!("fresh"));
    drop(small);

    // Bounded input: 50,000 entries (or more than 32 KiB) are refused with E2BIG and the file is left alone.
    let before = fs::read_to_string(&hosts_file).unwrap();
    let many: Vec<String> =
        (0..50_000).map(|i| format!("10.{}.{}.{} h{i}", i / 65536, i / 256 % 256, i % 256)).collect();
    assert_eq!(set(&session, "desiredHosts", json!(many.join(";"))), Err(Errno::E2BIG));
    assert_eq!(set(&session, "desiredHosts", json!(many[..257].join(";"))), Err(Errno::E2BIG));
    let padded = format!("10.0.0.1 h{}", " ".repeat(hostname::validate::MAX_HOSTS_BYTES));
    assert_eq!(set(&session, "desiredHosts", json!(padded)), Err(Errno::E2BIG));
    assert_eq!(fs::read_to_string(&hosts_file).unwrap(), before);
    set(&session, "desiredHosts", json!(many[..256].join(";"))).unwrap();
    set(&session, "desiredHosts", json!("127.0.0.1 localhost")).unwrap();

    // Everything happened under the temporary root, never to the kernel's host name.
    assert_eq!(fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), kernel_name_before);

    drop(session);
    lib.unload().unwrap();
}

/// Our MIM names the same component, objects and types as the module serves.
#[test]
fn test_mim_matches_module_objects() {
    let mim: Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/mim/hostname.json"))).unwrap();
    let component = &mim["contents"][0];
    assert_eq!(mim["name"], "HostNameModel");
    assert_eq!(component["name"], "HostName");
    let objects: Vec<(String, bool, Value)> = component["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap().to_string(), o["desired"].as_bool().unwrap(), o["schema"].clone()))
        .collect();
    let expected = [("desiredName", true), ("desiredHosts", true), ("name", false), ("hosts", false)];
    assert_eq!(objects.len(), expected.len());
    for ((name, desired, schema), (want_name, want_desired)) in objects.iter().zip(expected) {
        assert_eq!((name.as_str(), *desired, schema), (want_name, want_desired, &json!("string")));
    }
}

/// Our MIM agrees with the reference module's MIM (`../shared/reference/mim/hostname.json` beside the project, present on
/// developer machines and in CI): same model and component, and every reference object with the same direction and
/// schema. Skipped when the reference data is not there.
#[test]
fn test_mim_agrees_with_reference() {
    osconfig_testkit::assert_mim_agrees_with_reference(
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/mim/hostname.json")),
        "hostname.json",
        &[],
    );
}
