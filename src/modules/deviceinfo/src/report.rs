//! The reported objects: one function from an object name to its current JSON value.
//!
//! Every value is read from the live system at each call (cheap files; nothing is cached, so `freeMemory` and a
//! changed os-release are always current). A value that cannot be read is `""` (or `0` for the memory sizes),
//! never an error.

use std::fs;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::{cpuinfo, meminfo, os_release, product, system, uname};

/// Where /proc is read (always the live one: the kernel's view of this machine).
const PROC_CPUINFO: &str = "/proc/cpuinfo";
const PROC_MEMINFO: &str = "/proc/meminfo";

/// The names of the 16 reported objects, in MIM order.
pub const OBJECTS: [&str; 16] = [
    "osName",
    "osVersion",
    "cpuType",
    "cpuVendorId",
    "cpuModel",
    "totalMemory",
    "freeMemory",
    "kernelName",
    "kernelRelease",
    "kernelVersion",
    "productVendor",
    "productName",
    "productVersion",
    "systemCapabilities",
    "systemConfiguration",
    "osConfigVersion",
];

/// The version this module reports as `osConfigVersion` (the crate's version).
pub const OSCONFIG_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The current value of a reported object, or `None` for a name that is not one of [`OBJECTS`].
/// `resolve` maps an absolute device path to the file to open (os-release, DMI, device tree, SMBIOS).
pub fn object_value(object: &str, resolve: &dyn Fn(&str) -> PathBuf) -> Option<Value> {
    let cpu = || cpuinfo::parse(&fs::read_to_string(PROC_CPUINFO).unwrap_or_default());
    let mem = || meminfo::parse(&fs::read_to_string(PROC_MEMINFO).unwrap_or_default());
    let value = match object {
        "osName" => json!(os_release::read(resolve).name),
        "osVersion" => json!(os_release::read(resolve).version),
        "cpuType" => json!(uname::uname().machine),
        "cpuVendorId" => json!(cpu().vendor_id),
        "cpuModel" => json!(cpu().model),
        "totalMemory" => json!(mem().total_kb),
        "freeMemory" => json!(mem().free_kb),
        "kernelName" => json!(uname::uname().sysname),
        "kernelRelease" => json!(uname::uname().release),
        "kernelVersion" => json!(uname::uname().version),
        "productVendor" => json!(product::read(resolve).vendor),
        "productName" => json!(product::read(resolve).name),
        "productVersion" => json!(product::read(resolve).version),
        "systemCapabilities" => json!(system::capabilities(resolve, cpu().processors)),
        "systemConfiguration" => json!(system::configuration(resolve)),
        "osConfigVersion" => json!(OSCONFIG_VERSION),
        _ => return None,
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_object_value_every_object_has_the_mim_type() {
        let root = crate::test_support::temp_root("report");
        let resolve = crate::test_support::resolver(&root);
        for object in OBJECTS {
            let value = object_value(object, &resolve).unwrap();
            match object {
                "totalMemory" | "freeMemory" => assert!(value.is_u64(), "{object}: {value}"),
                _ => assert!(value.is_string(), "{object}: {value}"),
            }
            if (object.starts_with("os") && object != "osConfigVersion") || object.starts_with("product") {
                assert_eq!(value, json!(""), "{object} with nothing planted");
            }
        }
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn test_object_value_live_values() {
        let resolve = |p: &str| PathBuf::from(p);
        assert_eq!(object_value("kernelName", &resolve), Some(json!("Linux")));
        assert!(object_value("totalMemory", &resolve).unwrap().as_u64().unwrap() > 0);
        assert_eq!(object_value("osConfigVersion", &resolve), Some(json!(OSCONFIG_VERSION)));
    }

    #[test]
    fn test_object_value_unknown() {
        let resolve = |p: &str| PathBuf::from(p);
        assert_eq!(object_value("nope", &resolve), None);
        assert_eq!(object_value("", &resolve), None);
        assert_eq!(object_value("OsName", &resolve), None);
    }
}
