//! The `Module` trait: what a Rust module implements; [`crate::export_module!`] turns it into the six C symbols.

use serde_json::Value;

use crate::{Errno, ModuleInfo};

/// One client session of a module.
///
/// [`Module::open`] creates one value per `MmiOpen`; the SDK keeps it behind a `Mutex`, so calls on one session are
/// serialized while several sessions may run at once. Every method runs inside `catch_unwind`: a panic becomes
/// [`crate::abi::PANIC_ERRNO`] for that call and the session stays usable.
pub trait Module: Sized + Send + 'static {
    /// `MmiGetInfo` (may be called before any `open`).
    fn info(client_name: &str) -> ModuleInfo;

    /// `MmiOpen`. `max_payload_size_bytes` 0 = unlimited. An error makes `MmiOpen` return NULL (and is logged).
    fn open(client_name: &str, max_payload_size_bytes: u32) -> Result<Self, Errno>;

    /// `MmiSet`: `payload` is the desired object's JSON value (the SDK already parsed it; invalid JSON never reaches
    /// here, the SDK returns `EINVAL` and logs). Must be idempotent.
    fn set(&mut self, component: &str, object: &str, payload: &Value) -> Result<(), Errno>;

    /// `MmiGet`: the reported object's JSON value. The SDK serializes it compactly and returns `E2BIG` if it is
    /// longer than the session's limit (the module may shorten its own output first, as CommandRunner does).
    fn get(&mut self, component: &str, object: &str) -> Result<Value, Errno>;

    /// `MmiClose`.
    fn close(self) {}
}
