//! DeviceInfo through the real C ABI: the built `libdeviceinfo.so` is loaded with the osconfig-mmi loader.
//! `OSCONFIG_ROOT` points at a temporary root with planted os-release, DMI, device-tree and SMBIOS files; /proc and
//! uname are the live machine's and are checked against /proc/sys/kernel and /proc/meminfo. The test runs in a child
//! process of this test binary with `OSCONFIG_ROOT` set on its command (`osconfig_testkit::in_child`): the module
//! reads it through its own copy of std.

use std::fs;
use std::path::{Path, PathBuf};

use osconfig_mmi::loader::{Library, Session};
use osconfig_mmi::{Errno, Lifetime};
use serde_json::{json, Value};

fn module_path() -> PathBuf {
    osconfig_testkit::artifacts().module("deviceinfo")
}

fn plant(root: &Path, abs: &str, data: &[u8]) {
    let path = root.join(abs.trim_start_matches('/'));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

fn get(session: &Session<'_>, object: &str) -> Value {
    let bytes = session.get("DeviceInfo", object).unwrap_or_else(|e| panic!("get {object}: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

fn proc_text(path: &str) -> String {
    fs::read_to_string(path).unwrap().trim().to_string()
}

fn meminfo_kb(key: &str) -> u64 {
    let text = fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{key}:"))).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn test_deviceinfo_module_through_c_abi() {
    let Some(root) =
        osconfig_testkit::in_child("test_deviceinfo_module_through_c_abi", |root| vec![("OSCONFIG_ROOT", root.into())])
    else {
        return;
    };
    plant(
        &root,
        "/etc/os-release",
        b"PRETTY_NAME=\"Planted OS 9\"\nNAME=\"Planted OS\"\nVERSION=\"9 (test)\"\nVERSION_ID='9.1'\nID=planted\n",
    );
    plant(&root, "/sys/class/dmi/id/sys_vendor", b"Planted Vendor\n");
    plant(&root, "/sys/class/dmi/id/product_name", b"Planted Box\n");
    plant(&root, "/sys/class/dmi/id/product_version", b"rev-3\n");
    plant(&root, "/sys/class/dmi/id/chassis_type", b"17\n");
    plant(&root, "/sys/class/dmi/id/product_family", b"Lab\n");
    plant(&root, "/sys/firmware/dmi/tables/smbios_entry_point", b"_SM3_\x00\x18\x03\x04\x00\x01\x00");

    let lib = Library::load(module_path()).unwrap();
    let info = lib.get_info("abi-test").unwrap();
    assert_eq!(info.name, "DeviceInfo");
    assert_eq!((info.version_major, info.version_minor), (3, 0));
    assert_eq!(info.components, vec!["DeviceInfo".to_string()]);
    assert_eq!(info.lifetime, Lifetime::ShortLived);
    assert_eq!(info.user_account, 0);
    let session = lib.open("abi-test", 0).unwrap();

    // Planted files.
    // osName: the first word of PRETTY_NAME, as the reference reports it.
    assert_eq!(get(&session, "osName"), json!("Planted"));
    assert_eq!(get(&session, "osVersion"), json!("9.1"));
    assert_eq!(get(&session, "productVendor"), json!("Planted Vendor"));
    assert_eq!(get(&session, "productName"), json!("Planted Box"));
    assert_eq!(get(&session, "productVersion"), json!("rev-3"));
    assert_eq!(get(&session, "systemConfiguration"), json!("chassis=server family=Lab"));
    let cpus = fs::read_to_string("/proc/cpuinfo").unwrap().lines().filter(|l| l.starts_with("processor")).count();
    let smp = if cpus > 1 { " smp" } else { "" };
    assert_eq!(get(&session, "systemCapabilities"), json!(format!("smbios-3.4.0 dmi-3.4.0{smp}")));

    // Live kernel and memory facts.
    assert_eq!(get(&session, "kernelName"), json!(proc_text("/proc/sys/kernel/ostype")));
    assert_eq!(get(&session, "kernelRelease"), json!(proc_text("/proc/sys/kernel/osrelease")));
    assert_eq!(get(&session, "kernelVersion"), json!(proc_text("/proc/sys/kernel/version")));
    let machine = get(&session, "cpuType");
    assert!(
        ["x86_64", "aarch64", "armv7l", "armv8l", "i686", "riscv64"].contains(&machine.as_str().unwrap()),
        "{machine}"
    );
    let total = get(&session, "totalMemory");
    assert_eq!(total, json!(meminfo_kb("MemTotal")));
    let free = get(&session, "freeMemory").as_u64().unwrap();
    assert!(free > 0 && free <= total.as_u64().unwrap(), "free {free} of {total}");
    assert!(get(&session, "cpuModel").is_string());
    assert!(get(&session, "cpuVendorId").is_string());
    if machine == "x86_64" {
        assert!(!get(&session, "cpuVendorId").as_str().unwrap().is_empty());
        assert!(!get(&session, "cpuModel").as_str().unwrap().is_empty());
    }
    assert_eq!(get(&session, "osConfigVersion"), json!(env!("CARGO_PKG_VERSION")));

    // Nothing planted: every string is "" (never an error); then the device-tree fallbacks.
    fs::remove_dir_all(root.join("etc")).unwrap();
    fs::remove_dir_all(root.join("sys")).unwrap();
    for object in ["osName", "osVersion", "productVendor", "productName", "productVersion", "systemConfiguration"] {
        assert_eq!(get(&session, object), json!(""), "{object}");
    }
    plant(&root, "/proc/device-tree/model", b"Raspberry Pi 4 Model B Rev 1.4\0");
    plant(&root, "/proc/device-tree/compatible", b"raspberrypi,4-model-b\0brcm,bcm2711\0");
    plant(&root, "/usr/lib/os-release", b"NAME=Fallback\nID=fallback\nVERSION=\"rolling\"\n");
    assert_eq!(get(&session, "productName"), json!("Raspberry Pi 4 Model B Rev 1.4"));
    assert_eq!(get(&session, "productVendor"), json!("raspberrypi"));
    assert_eq!(get(&session, "systemConfiguration"), json!("compatible=raspberrypi,4-model-b"));
    assert_eq!(get(&session, "osName"), json!("fallback"), "no PRETTY_NAME: ID");
    assert_eq!(get(&session, "osVersion"), json!("rolling"));

    // No desired objects: every set is EPERM, whatever the payload.
    assert_eq!(session.set("DeviceInfo", "osName", b"\"x\""), Err(Errno::EPERM));
    assert_eq!(session.set("DeviceInfo", "desiredAnything", b"1"), Err(Errno::EPERM));

    // Unknown or empty components and objects.
    assert_eq!(session.get("Deviceinfo", "osName"), Err(Errno::EINVAL));
    assert_eq!(session.get("", "osName"), Err(Errno::EINVAL));
    assert_eq!(session.get("DeviceInfo", ""), Err(Errno::EINVAL));
    assert_eq!(session.get("DeviceInfo", "osname"), Err(Errno::EINVAL));
    assert_eq!(session.get("DeviceInfo", "cpuCores"), Err(Errno::EINVAL));

    // A session limit smaller than a value: E2BIG, not truncated JSON.
    let small = lib.open("abi-test-small", 4).unwrap();
    assert_eq!(small.get("DeviceInfo", "kernelVersion"), Err(Errno::E2BIG));
    drop(small);

    drop(session);
    lib.unload().unwrap();
}

/// Our MIM lists exactly the 16 reported objects the module serves, with their types; each answers with that type.
#[test]
fn test_mim_matches_module_objects() {
    let mim: Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/mim/deviceinfo.json"))).unwrap();
    assert_eq!(mim["name"], "DeviceInfoModel");
    let component = &mim["contents"][0];
    assert_eq!(component["name"], "DeviceInfo");
    let objects = component["contents"].as_array().unwrap();
    let names: Vec<&str> = objects.iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, deviceinfo::report::OBJECTS);
    let resolve = |p: &str| PathBuf::from(p);
    for object in objects {
        assert_eq!(object["desired"], json!(false));
        let name = object["name"].as_str().unwrap();
        let value = deviceinfo::report::object_value(name, &resolve).unwrap();
        match object["schema"].as_str().unwrap() {
            "string" => assert!(value.is_string(), "{name}"),
            "integer" => assert!(value.is_u64(), "{name}"),
            other => panic!("unexpected schema {other}"),
        }
    }
}

/// Our MIM agrees with the reference module's MIM (`../shared/reference/mim/deviceinfo.json` beside the project, present on
/// developer machines and in CI): same model and component, and every reference object with the same direction and
/// schema. Skipped when the reference data is not there.
#[test]
fn test_mim_agrees_with_reference() {
    osconfig_testkit::assert_mim_agrees_with_reference(
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/mim/deviceinfo.json")),
        "deviceinfo.json",
        &[],
    );
}
