//! `systemCapabilities` and `systemConfiguration`: the same kind of facts `lshw -class system` prints on its
//! `capabilities:` and `configuration:` lines (what the reference module reports), read directly from sysfs.
//!
//! - capabilities: space-separated words: `smbios-<version>` and `dmi-<version>` from the SMBIOS entry point
//!   (`/sys/firmware/dmi/tables/smbios_entry_point`, readable by root only), and `smp` when there is more than one
//!   logical CPU. Example: `"smbios-3.2.0 dmi-3.2.0 smp"`.
//! - configuration: space-separated `key=value` pairs: `chassis` (DMI `chassis_type` as a name), `family`
//!   (`product_family`), `sku` (`product_sku`), `uuid` (`product_uuid`, root only), and on device-tree boards
//!   `compatible` (the most specific `compatible` entry). Example: `"chassis=desktop family=Virtual Machine"`.
//!
//! Each word or pair whose source is missing is left out; with nothing at all the value is "".

use std::fs;
use std::path::PathBuf;

use crate::product::{self, DMI_DIR};

/// The SMBIOS entry point (relative to the root).
pub const SMBIOS_ENTRY_POINT: &str = "/sys/firmware/dmi/tables/smbios_entry_point";

/// Builds the `systemCapabilities` string; `processors` is the number of logical CPUs.
pub fn capabilities(resolve: &dyn Fn(&str) -> PathBuf, processors: usize) -> String {
    let mut words = Vec::new();
    if let Some(version) = fs::read(resolve(SMBIOS_ENTRY_POINT)).ok().and_then(|b| smbios_version(&b)) {
        words.push(format!("smbios-{version}"));
        words.push(format!("dmi-{version}"));
    }
    if processors > 1 {
        words.push("smp".to_string());
    }
    words.join(" ")
}

/// Builds the `systemConfiguration` string.
pub fn configuration(resolve: &dyn Fn(&str) -> PathBuf) -> String {
    let dmi = |file: &str| product::read_value(resolve, &format!("{DMI_DIR}/{file}"));
    let mut pairs = Vec::new();
    if let Some(chassis) = dmi("chassis_type").parse().ok().and_then(chassis_name) {
        pairs.push(format!("chassis={chassis}"));
    }
    for (key, file) in [("family", "product_family"), ("sku", "product_sku"), ("uuid", "product_uuid")] {
        let value = dmi(file);
        if !value.is_empty() {
            pairs.push(format!("{key}={value}"));
        }
    }
    if let Some(first) = product::compatible(resolve).first() {
        pairs.push(format!("compatible={first}"));
    }
    pairs.join(" ")
}

/// The SMBIOS version from the entry point structure: `_SM3_` (64-bit, "major.minor.docrev") or `_SM_`
/// (32-bit, "major.minor").
fn smbios_version(entry: &[u8]) -> Option<String> {
    if entry.starts_with(b"_SM3_") && entry.len() >= 10 {
        Some(format!("{}.{}.{}", entry[7], entry[8], entry[9]))
    } else if entry.starts_with(b"_SM_") && entry.len() >= 8 {
        Some(format!("{}.{}", entry[6], entry[7]))
    } else {
        None
    }
}

/// The SMBIOS chassis type (DMI type 3) as the word `lshw` uses; `None` for "unknown" and undefined codes.
fn chassis_name(code: u32) -> Option<&'static str> {
    Some(match code {
        1 => "other",
        3 => "desktop",
        4 => "low-profile",
        5 => "pizzabox",
        6 => "mini-tower",
        7 => "tower",
        8 => "portable",
        9 => "laptop",
        10 => "notebook",
        11 => "handheld",
        12 => "docking",
        13 => "all-in-one",
        14 => "sub-notebook",
        15 => "space-saving",
        16 => "lunchbox",
        17 => "server",
        18 => "expansion",
        19 => "sub",
        20 => "bus-expansion",
        21 => "peripheral",
        22 => "raid",
        23 => "rack",
        24 => "sealed",
        25 => "multi-system",
        26 => "pci",
        27 => "atca",
        28 => "blade",
        29 => "enclosure",
        30 => "tablet",
        31 => "convertible",
        32 => "detachable",
        33 => "iot-gateway",
        34 => "embedded",
        35 => "mini",
        36 => "stick",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{plant, resolver, temp_root};

    #[test]
    fn test_capabilities_smbios3_smp() {
        let root = temp_root("cap3");
        plant(&root, SMBIOS_ENTRY_POINT, b"_SM3_\x00\x18\x03\x02\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00");
        let resolve = resolver(&root);
        assert_eq!(capabilities(&resolve, 4), "smbios-3.2.0 dmi-3.2.0 smp");
        assert_eq!(capabilities(&resolve, 1), "smbios-3.2.0 dmi-3.2.0");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn test_capabilities_smbios2_and_nothing() {
        let root = temp_root("cap2");
        let resolve = resolver(&root);
        assert_eq!(capabilities(&resolve, 1), "");
        assert_eq!(capabilities(&resolve, 2), "smp");
        plant(&root, SMBIOS_ENTRY_POINT, b"_SM_\x00\x1f\x02\x08\x00\x00");
        assert_eq!(capabilities(&resolve, 1), "smbios-2.8 dmi-2.8");
        plant(&root, SMBIOS_ENTRY_POINT, b"garbage");
        assert_eq!(capabilities(&resolve, 1), "");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn test_configuration_dmi() {
        let root = temp_root("cfg");
        plant(&root, "/sys/class/dmi/id/chassis_type", b"3\n");
        plant(&root, "/sys/class/dmi/id/product_family", b"Virtual Machine\n");
        plant(&root, "/sys/class/dmi/id/product_uuid", b"0d7a5b26-1b9e-4a4c-9d0e-000000000001\n");
        let resolve = resolver(&root);
        assert_eq!(
            configuration(&resolve),
            "chassis=desktop family=Virtual Machine uuid=0d7a5b26-1b9e-4a4c-9d0e-000000000001"
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn test_configuration_device_tree_and_empty() {
        let root = temp_root("cfgdt");
        let resolve = resolver(&root);
        assert_eq!(configuration(&resolve), "");
        plant(&root, "/proc/device-tree/compatible", b"linux,dummy-virt\0");
        plant(&root, "/sys/class/dmi/id/chassis_type", b"2\n");
        assert_eq!(configuration(&resolve), "compatible=linux,dummy-virt");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn test_chassis_name_known_and_unknown() {
        assert_eq!(chassis_name(17), Some("server"));
        assert_eq!(chassis_name(2), None);
        assert_eq!(chassis_name(99), None);
    }
}
