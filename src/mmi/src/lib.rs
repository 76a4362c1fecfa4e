//! # osconfig-mmi: the MMI C ABI, the Rust module SDK and the module loader
//!
//! OSConfig modules are shared libraries exporting six C functions (`MmiGetInfo`, `MmiOpen`, `MmiClose`, `MmiSet`,
//! `MmiGet`, `MmiFree`; see `include/Mmi.h` and [`abi`]). This crate has three parts:
//!
//! - **The ABI** ([`abi`]): the C types and function-pointer types, [`MMI_OK`], and [`Errno`].
//! - **The SDK**: implement [`Module`] for a session type and call [`export_module!`]; the macro exports the six
//!   symbols and all C-boundary rules (panics caught, pointers checked, payloads read by length, `malloc`'d results,
//!   `E2BIG` instead of truncation, a registry of live session handles) are handled by the SDK (see [`export`]).
//!   [`validate`] has small helpers for checking desired payloads; [`logger`] is the logger the SDK installs on the
//!   first call if the module has none: `osconfig-logging` to `<OSCONFIG_ROOT>/var/log/osconfig_<module>.log` and
//!   syslog (format `[YYYY-MM-DD HH:MM:SS+0000][LEVEL][file.rs:line] msg`, level from `OSCONFIG_LOG_LEVEL`, default
//!   info; stderr copy with `OSCONFIG_LOG_STDERR=1`).
//! - **The loader** ([`loader`]): `dlopen` behind a safe wrapper, used by the module host and the recipe runner.
//!
//! ## Writing a module
//! A module crate is a `cdylib` (plus `rlib` for its own tests) depending on this crate and `serde_json`, with no
//! `unsafe` of its own:
//! ```
//! use osconfig_mmi::{validate, Errno, Lifetime, Module, ModuleInfo};
//! use serde_json::{json, Value};
//!
//! pub struct Greeter { name: String }
//!
//! impl Module for Greeter {
//!     fn info(_client: &str) -> ModuleInfo {
//!         ModuleInfo {
//!             name: "Greeter".into(),
//!             description: "Says hello".into(),
//!             manufacturer: "Example".into(),
//!             version_major: 1,
//!             version_info: "1.0".into(),
//!             components: vec!["Greeter".into()],
//!             lifetime: Lifetime::ShortLived,
//!             ..ModuleInfo::default()
//!         }
//!     }
//!     fn open(_client: &str, _max: u32) -> Result<Self, Errno> {
//!         Ok(Greeter { name: "world".into() })
//!     }
//!     fn set(&mut self, component: &str, object: &str, payload: &Value) -> Result<(), Errno> {
//!         match (component, object) {
//!             ("Greeter", "desiredName") => {
//!                 self.name = validate::as_str(payload, "desiredName")?.to_string();
//!                 Ok(())
//!             }
//!             _ => Err(validate::unknown_object(component, object)),
//!         }
//!     }
//!     fn get(&mut self, component: &str, object: &str) -> Result<Value, Errno> {
//!         match (component, object) {
//!             ("Greeter", "greeting") => Ok(json!(format!("hello {}", self.name))),
//!             _ => Err(validate::unknown_object(component, object)),
//!         }
//!     }
//! }
//!
//! osconfig_mmi::export_module!(Greeter);
//! # fn main() {}
//! ```
//!
//! ## Loading a module
//! ```no_run
//! use osconfig_mmi::loader::Library;
//! let lib = Library::load("/usr/lib/osconfig/hostname.so")?;
//! let info = lib.get_info("example")?;
//! let session = lib.open("example", 0)?;
//! let name = session.get("HostName", "name")?;   // the JSON bytes
//! session.set("HostName", "desiredName", br#""box""#)?;
//! drop(session);                                 // MmiClose
//! lib.unload()?;                                 // dlclose
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Notes for module crates: use `export_module!` once, at the crate root; do not `forbid(unsafe_code)` or
//! `deny(unsafe_code)` in the crate (the macro's expansion needs `#[no_mangle]` and one `unsafe` block per symbol);
//! build with `crate-type = ["cdylib", "rlib"]`.
//!
//! ## Limits
//! - Payloads are at most `i32::MAX` bytes (the ABI's `int` sizes); the session's `maxPayloadSizeBytes` applies to
//!   both directions (`MmiSet` input over it gives `E2BIG` too).
//! - A module panic is caught and returned as [`abi::PANIC_ERRNO`] (`EFAULT`); a module that aborts or hangs takes
//!   its process with it: run untrusted modules in a module host.
//! - Linux only (`dlopen`, errno values).
//!
//! ## Tests
//! `cargo test -p osconfig-mmi` needs a C compiler (`cc`). The integration tests compile C modules and a C host
//! from `tests/c/` against `include/Mmi.h`, and get the fixture module (`src/modules/fixture`) from
//! `osconfig_testkit::artifacts` (built once into the workspace's target directory when missing).

#![deny(missing_docs)]

pub mod abi;
mod errno;
pub mod export;
mod info;
mod loaded;
pub mod loader;
pub mod logger;
mod module;
pub mod validate;

pub use abi::MMI_OK;
pub use errno::Errno;
pub use info::{InfoError, Lifetime, ModuleInfo};
pub use module::Module;
