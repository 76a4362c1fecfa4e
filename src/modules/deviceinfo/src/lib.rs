//! # DeviceInfo: the OSConfig module that reports what the device is
//!
//! A cdylib exporting the MMI (`libdeviceinfo.so`, installed as `/usr/lib/osconfig/deviceinfo.so`).
//! GetInfo: `DeviceInfo` 3.0, Lifetime 2 (short-lived), UserAccount 0; one component, `DeviceInfo`, with 16
//! reported objects and no desired ones (`MmiSet` answers `EPERM`). The model is `mim/deviceinfo.json`.
//!
//! ## Reported objects and their sources
//! | object | source | example |
//! |---|---|---|
//! | `osName` | first word of `PRETTY_NAME` in `<root>/etc/os-release` (else `<root>/usr/lib/os-release`), else of `ID` | "Debian", "Ubuntu", "Poky" |
//! | `osVersion` | `VERSION_ID`, else `VERSION`, same file | "12" |
//! | `cpuType` | `uname(2)` machine | "aarch64" |
//! | `cpuVendorId` | `/proc/cpuinfo` `vendor_id`; on ARM the `CPU implementer` name | "GenuineIntel", "ARM" |
//! | `cpuModel` | `/proc/cpuinfo` `model name`; on ARM `model name`, `Processor`, the `CPU part` core name, `Hardware` | "Cortex-A57" |
//! | `totalMemory` | `/proc/meminfo` `MemTotal`, integer kB | 2009436 |
//! | `freeMemory` | `/proc/meminfo` `MemFree`, integer kB | 1523340 |
//! | `kernelName` / `kernelRelease` / `kernelVersion` | `uname(2)` sysname / release / version | "Linux" |
//! | `productVendor` | `<root>/sys/class/dmi/id/sys_vendor`, else the vendor of the first device-tree `compatible` | "QEMU", "raspberrypi" |
//! | `productName` | `<root>/sys/class/dmi/id/product_name`, else `<root>/proc/device-tree/model` | "Raspberry Pi 4 Model B Rev 1.4" |
//! | `productVersion` | `<root>/sys/class/dmi/id/product_version` | "pc-q35-8.2" |
//! | `systemCapabilities` | SMBIOS version and CPU count (see [`system`]) | "smbios-3.0.0 dmi-3.0.0 smp" |
//! | `systemConfiguration` | DMI chassis, family, SKU, UUID; device-tree `compatible` (see [`system`]) | "chassis=desktop family=Virtual Machine" |
//! | `osConfigVersion` | this crate's version | "0.1.0" |
//!
//! `osName` follows the reference (see [`os_release`]); `osVersion` does not copy its bug: the reference reports `""`
//! on Debian 12 (its `VERSION=` parsing trips on the `VERSION_ID=` line), we report `VERSION_ID` ("12").
//!
//! Values are read at every `MmiGet`. Anything missing is `""` (`0` for the memory sizes), never an error.
//! `/proc` and `uname` are always the live system; the other files are read under the root (env
//! `OSCONFIG_ROOT`, default `/`), so tests can plant them.
//!
//! ## Errors
//! An unknown component or object gives `EINVAL` with an error log line; `MmiSet` gives `EPERM`.
//!
//! ## Example (the Rust side, as the unit tests use it)
//! ```
//! use deviceinfo::DeviceInfo;
//! use osconfig_mmi::Module;
//! let mut session = DeviceInfo::open("example", 0).unwrap();
//! assert_eq!(session.get("DeviceInfo", "kernelName").unwrap(), serde_json::json!("Linux"));
//! ```

#![deny(missing_docs)]

pub mod cpuinfo;
pub mod meminfo;
pub mod os_release;
pub mod product;
pub mod report;
pub mod system;
#[cfg(test)]
mod test_support;
pub mod uname;

use osconfig_mmi::{validate, Errno, Lifetime, Module, ModuleInfo};
use serde_json::Value;

/// The one component this module serves.
pub const COMPONENT: &str = "DeviceInfo";

/// A client session (the module keeps no state: every value is read when asked for).
#[derive(Debug)]
pub struct DeviceInfo {
    client: String,
}

impl Module for DeviceInfo {
    fn info(_client_name: &str) -> ModuleInfo {
        ModuleInfo {
            name: "DeviceInfo".into(),
            description: "Reports the device's OS, CPU, memory, kernel and product facts".into(),
            manufacturer: "osconfig-rs".into(),
            version_major: 3,
            version_minor: 0,
            version_info: concat!("osconfig-rs ", env!("CARGO_PKG_VERSION")).into(),
            components: vec![COMPONENT.into()],
            lifetime: Lifetime::ShortLived,
            user_account: 0,
            ..ModuleInfo::default()
        }
    }

    fn open(client_name: &str, max_payload_size_bytes: u32) -> Result<Self, Errno> {
        log::info!("open for '{client_name}' (max payload {max_payload_size_bytes} bytes)");
        Ok(DeviceInfo { client: client_name.to_string() })
    }

    fn set(&mut self, component: &str, object: &str, _payload: &Value) -> Result<(), Errno> {
        log::error!("{component}.{object}: DeviceInfo has no desired objects, nothing can be set");
        Err(Errno::EPERM)
    }

    fn get(&mut self, component: &str, object: &str) -> Result<Value, Errno> {
        validate::component(component, COMPONENT)?;
        report::object_value(object, &osconfig_storage::under_root)
            .ok_or_else(|| validate::unknown_object(component, object))
    }

    fn close(self) {
        log::info!("close for '{}'", self.client);
    }
}

osconfig_mmi::export_module!(DeviceInfo);
