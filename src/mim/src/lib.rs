//! # osconfig-mim: Module Interface Models
//!
//! A module's MIM names its components, each component's objects, whether an object is desired (writable) or reported
//! (read-only), and the schema of each object's value. This crate parses MIM files ([`Mim`]), gathers the MIMs of
//! every module the platform serves ([`Catalog`]) and checks a desired payload against its object's schema before
//! it reaches a module ([`Catalog::check_desired`]), so a client learns precisely what is wrong instead of getting
//! a bare errno.
//!
//! ## The MIM format
//!
//! ```json
//! {"name":"<Model>","type":"mimModel","contents":[
//!   {"name":"<Component>","type":"mimComponent","contents":[
//!     {"name":"<object>","type":"mimObject","desired":true,"schema":<schema>}]}]}
//! ```
//!
//! `name`, `type` and `contents` (and `desired`, `schema` for objects) are required; other members such as
//! `description` are ignored. Names must be non-empty and unique in their component (objects), model (components)
//! or object schema (settings). A `<schema>` is one of:
//!
//! | schema | the payload must be |
//! |---|---|
//! | `"string"` | a JSON string |
//! | `"integer"` | a JSON number written without fraction or exponent (`1.0` and `1e3` are not integers) |
//! | `"boolean"` | `true` or `false` |
//! | `"number"`, `"double"`, `"float"` | any JSON number |
//! | any other name | anything: a type this crate does not know is not checked |
//! | `{"type":"enum","valueSchema":"integer"\|"string","enumValues":[{"name":..,"enumValue":..}]}` | of the value type and one of the values |
//! | `{"type":"object","fields":[{"name":..,"schema":..}]}` | an object whose every key is a field; each field present is checked, absent fields are fine |
//! | `{"type":"map","mapKey":{"schema":"string"},"mapValue":{"schema":..}}` | an object whose every value is `null` (an entry to remove) or matches `mapValue` |
//! | `{"type":"array","elementSchema":..}` | an array whose every item matches `elementSchema` |
//!
//! JSON `null` where a typed value is expected is a wrong type (`found null`), except as a map value (an entry to
//! remove) and as a setting of an object (counted as absent, as modules such as CommandRunner read it, and as twin
//! patches send it).
//!
//! ## What is checked and what is not
//!
//! * Checked: the payload is JSON; the object exists in its component; types, enum values and setting names, at any
//!   depth, reporting the first fault in document order.
//! * Not checked, passed through: payloads for a component no MIM in the catalog defines; payloads for reported
//!   objects (the module answers those with its own errno); the meaning of values (ranges, formats, a `commandId`
//!   that must be non-empty): that is the module's business.
//! * Not required: fields of an object schema may be absent (CommandRunner's cancel carries only `commandId` and
//!   `action`).
//!
//! ## Limits
//!
//! Schemas nest at most [`MAX_DEPTH`] levels (the schema of an object is level 1): a deeper MIM is refused by
//! [`Mim::parse`] and a check never recurses deeper, so neither can overflow the stack. Payloads nested deeper than
//! serde_json's limit of 128 are not JSON; a payload deeper than its schema fails with a wrong type where the schema
//! ends. Messages quote at most 64 characters of a string value (then `...`), JSON-escaped so they stay one line.
//!
//! ## Errors
//!
//! [`MimError`] says what is wrong with a MIM and where (`file: Component.object.setting: what`);
//! [`Violation`] says what is wrong with a payload, on one line:
//!
//! ```text
//! HostName.desiredName: expected a string, found the number 42
//! HostName.desiredNam: unknown object (desired objects: desiredName, desiredHosts)
//! CommandRunner.commandArguments.action: 9 is not one of the MIM's values 0 (none), 1 (reboot), ...
//! CommandRunner.commandArguments: unknown setting "foo" (settings: commandId, arguments, ...)
//! HostName.desiredName: the payload is not JSON (line 1, column 5: expected value)
//! ```
//!
//! ## Example
//!
//! ```
//! use osconfig_mim::{Catalog, Mim, ViolationKind};
//!
//! let mim = Mim::parse(r#"{"name":"HostNameModel","type":"mimModel","contents":[
//!     {"name":"HostName","type":"mimComponent","contents":[
//!       {"name":"desiredName","type":"mimObject","desired":true,"schema":"string"},
//!       {"name":"name","type":"mimObject","desired":false,"schema":"string"}]}]}"#)?;
//! assert_eq!(mim.name(), "HostNameModel");
//!
//! let mut catalog = Catalog::default();
//! catalog.add(mim); // or Mim::load(Path::new("/usr/lib/osconfig/mim/hostname.json"))?
//! assert_eq!(catalog.desired_objects("HostName"), Some(vec!["desiredName"]));
//!
//! assert!(catalog.check_desired("HostName", "desiredName", br#""box""#).is_ok());
//! let violation = catalog.check_desired("HostName", "desiredName", b"42").unwrap_err();
//! assert_eq!(violation.to_string(), "HostName.desiredName: expected a string, found the number 42");
//! assert!(matches!(violation.kind, ViolationKind::WrongType { .. }));
//!
//! // Not checked: a component without a MIM, and reported objects.
//! assert!(catalog.check_desired("Firewall", "desiredRules", b"[]").is_ok());
//! assert!(catalog.check_desired("HostName", "name", b"42").is_ok());
//! # Ok::<(), osconfig_mim::MimError>(())
//! ```
#![deny(missing_docs)]

mod catalog;
mod check;
mod describe;
mod error;
mod members;
mod model;
mod schema;
mod violation;

pub use catalog::Catalog;
pub use describe::kind;
pub use error::MimError;
pub use model::Mim;
pub use violation::{Violation, ViolationKind};

/// How many levels schemas may nest, and so how deep a payload is checked: the schema of a MIM object is level 1,
/// each object field, map value and array element one level more. The reference MIMs use at most 4.
pub const MAX_DEPTH: usize = 32;
