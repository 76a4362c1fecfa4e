//! Product facts: vendor, name and version from DMI (`/sys/class/dmi/id`), with the device tree
//! (`/proc/device-tree`) as the fallback on boards that have no DMI (most ARM boards).

use std::fs;
use std::path::PathBuf;

/// The DMI directory (relative to the root).
pub const DMI_DIR: &str = "/sys/class/dmi/id";
/// The device-tree directory (relative to the root).
pub const DEVICE_TREE_DIR: &str = "/proc/device-tree";

/// The product facts DeviceInfo reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Product {
    /// DMI `sys_vendor`, else the vendor prefix of the first device-tree `compatible` entry ("raspberrypi").
    pub vendor: String,
    /// DMI `product_name`, else the device-tree `model` ("Raspberry Pi 4 Model B Rev 1.4").
    pub name: String,
    /// DMI `product_version`, else "".
    pub version: String,
}

/// Reads the product facts; `resolve` maps an absolute device path to the file to open.
pub fn read(resolve: &dyn Fn(&str) -> PathBuf) -> Product {
    let dmi = |file: &str| read_value(resolve, &format!("{DMI_DIR}/{file}"));
    let mut product = Product { vendor: dmi("sys_vendor"), name: dmi("product_name"), version: dmi("product_version") };
    if product.name.is_empty() {
        product.name = read_value(resolve, &format!("{DEVICE_TREE_DIR}/model"));
    }
    if product.vendor.is_empty() {
        product.vendor = compatible(resolve)
            .first()
            .and_then(|c| c.split_once(','))
            .map(|(vendor, _)| vendor.to_string())
            .unwrap_or_default();
    }
    product
}

/// The device tree's `compatible` list (NUL-separated in the file), most specific first; empty if absent.
pub fn compatible(resolve: &dyn Fn(&str) -> PathBuf) -> Vec<String> {
    fs::read(resolve(&format!("{DEVICE_TREE_DIR}/compatible")))
        .map(|bytes| {
            bytes
                .split(|&b| b == 0)
                .map(|s| String::from_utf8_lossy(s).trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// A sysfs/device-tree value: the file's text without trailing NULs and surrounding white space; "" if unreadable.
pub fn read_value(resolve: &dyn Fn(&str) -> PathBuf, abs: &str) -> String {
    fs::read(resolve(abs)).map(|bytes| clean(&bytes)).unwrap_or_default()
}

fn clean(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{plant, resolver, temp_root};

    #[test]
    fn test_read_dmi() {
        let root = temp_root("dmi");
        plant(&root, "/sys/class/dmi/id/sys_vendor", b"QEMU\n");
        plant(&root, "/sys/class/dmi/id/product_name", b"Standard PC (Q35 + ICH9, 2009)\n");
        plant(&root, "/sys/class/dmi/id/product_version", b"pc-q35-8.2\n");
        plant(&root, "/proc/device-tree/model", b"ignored\0");
        let resolve = resolver(&root);
        let product = read(&resolve);
        assert_eq!(
            product,
            Product {
                vendor: "QEMU".into(),
                name: "Standard PC (Q35 + ICH9, 2009)".into(),
                version: "pc-q35-8.2".into()
            }
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn test_read_device_tree_fallback() {
        let root = temp_root("dt");
        plant(&root, "/proc/device-tree/model", b"Raspberry Pi 4 Model B Rev 1.4\0");
        plant(&root, "/proc/device-tree/compatible", b"raspberrypi,4-model-b\0brcm,bcm2711\0");
        let resolve = resolver(&root);
        let product = read(&resolve);
        assert_eq!(product.name, "Raspberry Pi 4 Model B Rev 1.4");
        assert_eq!(product.vendor, "raspberrypi");
        assert_eq!(product.version, "");
        assert_eq!(compatible(&resolve), vec!["raspberrypi,4-model-b", "brcm,bcm2711"]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn test_read_nothing_is_empty() {
        let root = temp_root("none");
        let resolve = resolver(&root);
        assert_eq!(read(&resolve), Product::default());
        assert!(compatible(&resolve).is_empty());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn test_clean_trims_nul_and_space() {
        assert_eq!(clean(b"  model x \0\0"), "model x");
        assert_eq!(clean(b""), "");
    }
}
