//! `ModuleInfo`: what `MmiGetInfo` reports, its JSON form and its validation.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

/// How long a host should keep a module loaded (`Lifetime` in the `MmiGetInfo` JSON).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lifetime {
    /// 0: the module did not say.
    #[default]
    Undefined = 0,
    /// 1: keep the module loaded for as long as possible (it watches something).
    KeepLoaded = 1,
    /// 2: the module may be unloaded after idle time and loaded again on demand.
    ShortLived = 2,
}

impl Lifetime {
    /// The JSON number of this lifetime.
    pub fn as_i64(self) -> i64 {
        self as i64
    }

    /// The lifetime for a JSON number, `None` outside 0..=2.
    pub fn from_i64(v: i64) -> Option<Lifetime> {
        match v {
            0 => Some(Lifetime::Undefined),
            1 => Some(Lifetime::KeepLoaded),
            2 => Some(Lifetime::ShortLived),
            _ => None,
        }
    }
}

/// What `MmiGetInfo` reports.
///
/// `to_json()` writes the spec's keys in this order: `Name`, `Description`, `Manufacturer`, `VersionMajor`,
/// `VersionMinor`, `VersionPatch`, `VersionTweak`, `VersionInfo`, `Components`, `Lifetime`, `LicenseUri` (if set),
/// `ProjectUri` (if set), `UserAccount`. [`ModuleInfo::from_json`] validates the JSON a module sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleInfo {
    /// `Name`: the module's name, e.g. `"HostName"`.
    pub name: String,
    /// `Description`: one sentence about what the module does.
    pub description: String,
    /// `Manufacturer`.
    pub manufacturer: String,
    /// `VersionMajor`.
    pub version_major: u32,
    /// `VersionMinor`.
    pub version_minor: u32,
    /// `VersionPatch`.
    pub version_patch: u32,
    /// `VersionTweak`.
    pub version_tweak: u32,
    /// `VersionInfo`: a free-form version text, e.g. `"Nickel"`.
    pub version_info: String,
    /// `Components`: the component names the module serves (non-empty, unique).
    pub components: Vec<String>,
    /// `Lifetime`.
    pub lifetime: Lifetime,
    /// `LicenseUri` (optional).
    pub license_uri: Option<String>,
    /// `ProjectUri` (optional).
    pub project_uri: Option<String>,
    /// `UserAccount`: the Linux uid to run the module as (0 = root).
    pub user_account: u32,
}

/// Why an `MmiGetInfo` JSON document was rejected. Every variant that concerns one key names it.
#[derive(Debug)]
pub enum InfoError {
    /// The bytes are not valid JSON (the cause is in `source()`).
    Json(serde_json::Error),
    /// The document is valid JSON but not an object.
    NotObject,
    /// A required key is absent.
    Missing {
        /// The key, e.g. `"Name"`.
        field: &'static str,
    },
    /// A key has the wrong type or a value out of range.
    Invalid {
        /// The key, e.g. `"Lifetime"`.
        field: &'static str,
        /// What was expected, e.g. `"an integer 0..2"`.
        expected: &'static str,
    },
    /// `Components` names one component twice.
    DuplicateComponent {
        /// The repeated component name.
        component: String,
    },
}

impl InfoError {
    /// The JSON key this error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            InfoError::Missing { field } | InfoError::Invalid { field, .. } => Some(field),
            InfoError::DuplicateComponent { .. } => Some("Components"),
            InfoError::Json(_) | InfoError::NotObject => None,
        }
    }
}

impl fmt::Display for InfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InfoError::Json(_) => write!(f, "module info is not valid json"),
            InfoError::NotObject => write!(f, "module info is not a json object"),
            InfoError::Missing { field } => write!(f, "module info lacks required field {field}"),
            InfoError::Invalid { field, expected } => {
                write!(f, "module info field {field}: expected {expected}")
            }
            InfoError::DuplicateComponent { component } => {
                write!(f, "module info field Components: component {component:?} is listed twice")
            }
        }
    }
}

impl std::error::Error for InfoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InfoError::Json(e) => Some(e),
            _ => None,
        }
    }
}

fn required_str(obj: &Map<String, Value>, field: &'static str) -> Result<String, InfoError> {
    match obj.get(field) {
        None => Err(InfoError::Missing { field }),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(InfoError::Invalid { field, expected: "a string" }),
    }
}

fn optional_str(obj: &Map<String, Value>, field: &'static str) -> Result<Option<String>, InfoError> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(InfoError::Invalid { field, expected: "a string" }),
    }
}

fn optional_u32(obj: &Map<String, Value>, field: &'static str) -> Result<u32, InfoError> {
    match obj.get(field) {
        None => Ok(0),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(InfoError::Invalid { field, expected: "an integer 0..4294967295" }),
    }
}

impl ModuleInfo {
    /// The compact JSON text `MmiGetInfo` returns (keys in the spec's order; optional URIs only when set).
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    /// The JSON value of [`ModuleInfo::to_json`].
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("Name".into(), self.name.clone().into());
        m.insert("Description".into(), self.description.clone().into());
        m.insert("Manufacturer".into(), self.manufacturer.clone().into());
        m.insert("VersionMajor".into(), self.version_major.into());
        m.insert("VersionMinor".into(), self.version_minor.into());
        m.insert("VersionPatch".into(), self.version_patch.into());
        m.insert("VersionTweak".into(), self.version_tweak.into());
        m.insert("VersionInfo".into(), self.version_info.clone().into());
        m.insert("Components".into(), self.components.clone().into());
        m.insert("Lifetime".into(), self.lifetime.as_i64().into());
        if let Some(uri) = &self.license_uri {
            m.insert("LicenseUri".into(), uri.clone().into());
        }
        if let Some(uri) = &self.project_uri {
            m.insert("ProjectUri".into(), uri.clone().into());
        }
        m.insert("UserAccount".into(), self.user_account.into());
        Value::Object(m)
    }

    /// Parse and validate an `MmiGetInfo` payload (exactly the bytes the module returned, no NUL).
    ///
    /// Required: `Name`, `Description`, `Manufacturer`, `VersionInfo` (strings), `Components` (a non-empty array of
    /// unique strings), `Lifetime` (an integer 0..2). Optional: `VersionMajor`/`Minor`/`Patch`/`Tweak` and
    /// `UserAccount` (non-negative integers that fit 32 bits, default 0), `LicenseUri`, `ProjectUri` (strings).
    /// Other keys are ignored.
    pub fn from_json(bytes: &[u8]) -> Result<ModuleInfo, InfoError> {
        let doc: Value = serde_json::from_slice(bytes).map_err(InfoError::Json)?;
        let obj = doc.as_object().ok_or(InfoError::NotObject)?;
        let components = match obj.get("Components") {
            None => return Err(InfoError::Missing { field: "Components" }),
            Some(Value::Array(items)) if !items.is_empty() => {
                let mut seen = HashSet::new();
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let name = item
                        .as_str()
                        .ok_or(InfoError::Invalid { field: "Components", expected: "an array of strings" })?;
                    if !seen.insert(name) {
                        return Err(InfoError::DuplicateComponent { component: name.to_string() });
                    }
                    out.push(name.to_string());
                }
                out
            }
            Some(_) => {
                return Err(InfoError::Invalid { field: "Components", expected: "a non-empty array of strings" })
            }
        };
        let lifetime = match obj.get("Lifetime") {
            None => return Err(InfoError::Missing { field: "Lifetime" }),
            Some(v) => v
                .as_i64()
                .and_then(Lifetime::from_i64)
                .ok_or(InfoError::Invalid { field: "Lifetime", expected: "an integer 0..2" })?,
        };
        Ok(ModuleInfo {
            name: required_str(obj, "Name")?,
            description: required_str(obj, "Description")?,
            manufacturer: required_str(obj, "Manufacturer")?,
            version_major: optional_u32(obj, "VersionMajor")?,
            version_minor: optional_u32(obj, "VersionMinor")?,
            version_patch: optional_u32(obj, "VersionPatch")?,
            version_tweak: optional_u32(obj, "VersionTweak")?,
            version_info: required_str(obj, "VersionInfo")?,
            components,
            lifetime,
            license_uri: optional_str(obj, "LicenseUri")?,
            project_uri: optional_str(obj, "ProjectUri")?,
            user_account: optional_u32(obj, "UserAccount")?,
        })
    }

    /// The version as a tuple that orders like the spec asks (major, minor, patch, tweak).
    pub fn version(&self) -> (u32, u32, u32, u32) {
        (self.version_major, self.version_minor, self.version_patch, self.version_tweak)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({"Name":"HostName","Description":"Host names","Manufacturer":"Example",
               "VersionMajor":1,"VersionMinor":2,"VersionInfo":"Nickel",
               "Components":["HostName"],"Lifetime":2,"UserAccount":0})
    }

    fn parse(v: &Value) -> Result<ModuleInfo, InfoError> {
        ModuleInfo::from_json(v.to_string().as_bytes())
    }

    fn without(key: &str) -> Value {
        let mut v = good();
        v.as_object_mut().unwrap().remove(key);
        v
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = good();
        v.as_object_mut().unwrap().insert(key.to_string(), value);
        v
    }

    fn field_of(r: Result<ModuleInfo, InfoError>) -> &'static str {
        r.expect_err("must be rejected").field().expect("error names a field")
    }

    #[test]
    fn test_from_json_accepts_reference_example() {
        let info = parse(&good()).unwrap();
        assert_eq!(info.name, "HostName");
        assert_eq!(info.version(), (1, 2, 0, 0));
        assert_eq!(info.components, vec!["HostName".to_string()]);
        assert_eq!(info.lifetime, Lifetime::ShortLived);
        assert_eq!(info.license_uri, None);
    }

    #[test]
    fn test_from_json_missing_each_required_field() {
        for key in ["Name", "Description", "Manufacturer", "VersionInfo", "Components", "Lifetime"] {
            let err = parse(&without(key)).unwrap_err();
            assert!(matches!(err, InfoError::Missing { field } if field == key), "{key}: {err}");
            assert!(err.to_string().contains(key));
        }
    }

    #[test]
    fn test_from_json_wrong_type_of_each_string_field() {
        for key in ["Name", "Description", "Manufacturer", "VersionInfo", "LicenseUri", "ProjectUri"] {
            assert_eq!(field_of(parse(&with(key, json!(5)))), key);
        }
    }

    #[test]
    fn test_from_json_components_rules() {
        assert_eq!(field_of(parse(&with("Components", json!([])))), "Components");
        assert_eq!(field_of(parse(&with("Components", json!("HostName")))), "Components");
        assert_eq!(field_of(parse(&with("Components", json!(["A", 1])))), "Components");
        let err = parse(&with("Components", json!(["A", "B", "A"]))).unwrap_err();
        assert!(matches!(err, InfoError::DuplicateComponent { ref component } if component == "A"));
        let info = parse(&with("Components", json!(["A", "B"]))).unwrap();
        assert_eq!(info.components, vec!["A", "B"]);
    }

    #[test]
    fn test_from_json_lifetime_range() {
        for bad in [json!(3), json!(-1), json!("1"), json!(1.5)] {
            assert_eq!(field_of(parse(&with("Lifetime", bad))), "Lifetime");
        }
        assert_eq!(parse(&with("Lifetime", json!(0))).unwrap().lifetime, Lifetime::Undefined);
        assert_eq!(parse(&with("Lifetime", json!(1))).unwrap().lifetime, Lifetime::KeepLoaded);
    }

    #[test]
    fn test_from_json_optional_ints_default_and_range() {
        let info = parse(&without("VersionMajor")).unwrap();
        assert_eq!(info.version_major, 0);
        let info = parse(&without("UserAccount")).unwrap();
        assert_eq!(info.user_account, 0);
        for key in ["VersionMajor", "VersionMinor", "VersionPatch", "VersionTweak", "UserAccount"] {
            assert_eq!(field_of(parse(&with(key, json!(-1)))), key);
            assert_eq!(field_of(parse(&with(key, json!("1")))), key);
            assert_eq!(field_of(parse(&with(key, json!(4_294_967_296u64)))), key);
        }
        assert_eq!(parse(&with("UserAccount", json!(1000))).unwrap().user_account, 1000);
    }

    #[test]
    fn test_from_json_extra_keys_allowed() {
        assert!(parse(&with("Something", json!({"x": 1}))).is_ok());
    }

    #[test]
    fn test_from_json_not_json_or_not_object() {
        assert!(matches!(ModuleInfo::from_json(b"{\"Name\":"), Err(InfoError::Json(_))));
        assert!(matches!(ModuleInfo::from_json(b"[1]"), Err(InfoError::NotObject)));
        assert!(matches!(ModuleInfo::from_json(b""), Err(InfoError::Json(_))));
    }

    #[test]
    fn test_to_json_round_trips_and_orders_keys() {
        let info = ModuleInfo {
            name: "Sample".into(),
            description: "d".into(),
            manufacturer: "m".into(),
            version_major: 1,
            version_minor: 2,
            version_patch: 3,
            version_tweak: 4,
            version_info: "v".into(),
            components: vec!["C1".into(), "C2".into()],
            lifetime: Lifetime::KeepLoaded,
            license_uri: Some("https://l".into()),
            project_uri: None,
            user_account: 7,
        };
        let text = info.to_json();
        assert!(
            text.starts_with("{\"Name\":\"Sample\",\"Description\":\"d\",\"Manufacturer\":\"m\",\"VersionMajor\":1")
        );
        assert!(!text.contains("ProjectUri"));
        assert_eq!(ModuleInfo::from_json(text.as_bytes()).unwrap(), info);
    }
}
