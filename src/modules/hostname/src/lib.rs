//! # HostName: the OSConfig module that reports and sets the host name and the hosts file
//!
//! A cdylib exporting the MMI (`libhostname.so`, installed as `/usr/lib/osconfig/hostname.so`).
//! GetInfo: `HostName` 1.0, Lifetime 2 (short-lived), UserAccount 0; one component, `HostName`.
//! The model is `mim/hostname.json` beside this crate.
//!
//! ## Objects
//! | object | kind | what |
//! |---|---|---|
//! | `name` | reported string | the kernel's host name (`gethostname`) when the root is `/`; under any other root the first line of `<root>/etc/hostname` |
//! | `hosts` | reported string | `<root>/etc/hosts` with comments and blank lines dropped, fields joined by one space, lines by `;` ("" when there is no file) |
//! | `desiredName` | desired string | an RFC 1123 host name (labels of 1..=63 letters, digits, `-`, not starting or ending with `-`) of at most 64 characters (the kernel's limit; names in `desiredHosts` may have 253); written to `<root>/etc/hostname`, and when the root is `/` also set with `sethostname(2)` |
//! | `desiredHosts` | desired string | entries `"address name [alias...]"` separated by `;`; every address an IPv4/IPv6 address, every name a host name; at least one entry; written to `<root>/etc/hosts`, one entry per line |
//!
//! Wrong JSON types, invalid names or addresses, and unknown components or objects give `EINVAL` with an error log
//! line. Files are written atomically (temp file + rename, mode 0644) and only when their content changes, so
//! applying the same value twice is a no-op. What `desiredHosts` writes, `hosts` reports back unchanged.
//!
//! ## Bounds of the desired objects
//! | object | bound | beyond it |
//! |---|---|---|
//! | `desiredName` | [`validate::MAX_KERNEL_NAME_LEN`] (64) bytes after trimming white space, labels of [`validate::MAX_LABEL_LEN`] | `EINVAL` |
//! | `desiredHosts` | [`validate::MAX_HOSTS_BYTES`] (32 KiB) and [`validate::MAX_HOSTS_ENTRIES`] (256) non-empty entries; names of [`validate::MAX_NAME_LEN`] | `E2BIG` (7) for the size, `EINVAL` for a name |
//!
//! ## Limits
//! Under a root other than `/` (env `OSCONFIG_ROOT`, as in tests) the kernel host name is never touched.
//! The hosts file is replaced as a whole: entries not in `desiredHosts` (including `localhost`) are dropped.
//!
//! ## Example (the Rust side, as the unit tests use it)
//! ```no_run
//! use hostname::HostName;
//! use osconfig_mmi::Module;
//! let mut session = HostName::open("example", 0).unwrap();
//! session.set("HostName", "desiredHosts", &serde_json::json!("127.0.0.1 localhost;10.0.0.5 dev1")).unwrap();
//! assert_eq!(session.get("HostName", "hosts").unwrap(), serde_json::json!("127.0.0.1 localhost;10.0.0.5 dev1"));
//! ```

#![deny(missing_docs)]

pub mod files;
pub mod hosts;
pub mod system;
pub mod validate;

use std::path::Path;

use osconfig_mmi::{Errno, Lifetime, Module, ModuleInfo};
use serde_json::{json, Value};

use crate::files::{HOSTNAME_FILE, HOSTS_FILE};

/// The one component this module serves.
pub const COMPONENT: &str = "HostName";

/// A client session. The module keeps no state between calls: the files and the kernel are the state.
#[derive(Debug)]
pub struct HostName {
    client: String,
}

impl Module for HostName {
    fn info(_client_name: &str) -> ModuleInfo {
        ModuleInfo {
            name: "HostName".into(),
            description: "Reports and sets the device's host name and hosts file".into(),
            manufacturer: "osconfig-rs".into(),
            version_major: 1,
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
        Ok(HostName { client: client_name.to_string() })
    }

    fn set(&mut self, component: &str, object: &str, payload: &Value) -> Result<(), Errno> {
        osconfig_mmi::validate::component(component, COMPONENT)?;
        let what = format!("{component}.{object}");
        match object {
            "desiredName" => set_name(osconfig_mmi::validate::as_str(payload, &what)?, &what)?,
            "desiredHosts" => set_hosts(osconfig_mmi::validate::as_str(payload, &what)?, &what)?,
            _ => return Err(osconfig_mmi::validate::unknown_object(component, object)),
        }
        Ok(())
    }

    fn get(&mut self, component: &str, object: &str) -> Result<Value, Errno> {
        osconfig_mmi::validate::component(component, COMPONENT)?;
        match object {
            "name" => Ok(json!(current_name()?)),
            "hosts" => {
                let text = read(&osconfig_storage::under_root(HOSTS_FILE))?;
                Ok(json!(hosts::condense(&text)))
            }
            _ => Err(osconfig_mmi::validate::unknown_object(component, object)),
        }
    }

    fn close(self) {
        log::info!("close for '{}'", self.client);
    }
}

/// True when the root is the real `/`: only then is the kernel's host name read and set.
fn is_live_root() -> bool {
    osconfig_storage::root() == Path::new("/")
}

fn current_name() -> Result<String, Errno> {
    if is_live_root() {
        system::hostname().map_err(|e| io_error("gethostname", e))
    } else {
        let text = read(&osconfig_storage::under_root(HOSTNAME_FILE))?;
        Ok(files::stored_name(&text).to_string())
    }
}

fn set_name(value: &str, what: &str) -> Result<(), Errno> {
    let name = validate::desired_name(value).map_err(|reason| invalid(what, &reason))?;
    if is_live_root() && system::hostname().ok().as_deref() != Some(name) {
        system::set_hostname(name).map_err(|e| io_error("sethostname", e))?;
        log::info!("{what}: kernel host name set to '{name}'");
    }
    write(&osconfig_storage::under_root(HOSTNAME_FILE), &format!("{name}\n"), what)
}

fn set_hosts(value: &str, what: &str) -> Result<(), Errno> {
    validate::check_hosts_size(value).map_err(|reason| {
        log::error!("{what}: {reason}");
        Errno::E2BIG
    })?;
    let text = validate::desired_hosts(value).map_err(|reason| invalid(what, &reason))?;
    write(&osconfig_storage::under_root(HOSTS_FILE), &text, what)
}

fn write(path: &Path, text: &str, what: &str) -> Result<(), Errno> {
    match files::write_if_changed(path, text) {
        Ok(true) => log::info!("{what}: wrote {}", path.display()),
        Ok(false) => log::info!("{what}: {} already up to date", path.display()),
        Err(e) => return Err(io_error(&path.display().to_string(), e)),
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, Errno> {
    files::read_text(path).map_err(|e| io_error(&path.display().to_string(), e))
}

fn invalid(what: &str, reason: &str) -> Errno {
    log::error!("{what}: {reason}");
    Errno::EINVAL
}

fn io_error(context: &str, e: std::io::Error) -> Errno {
    log::error!("{context}: {e}");
    Errno::from(e)
}

osconfig_mmi::export_module!(HostName);
