//! The platform's two read-only extension endpoints, `GET /PlatformModules` and `GET /PlatformStatus` (no body,
//! no session, sent through [`osconfig_rest::MpiClient`]), and the module list's shape.

use serde_json::Value;

/// One element of the `/PlatformModules` answer; fields the platform leaves out are `None`/empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModuleSummary {
    /// `name`.
    pub name: String,
    /// `path`.
    pub path: String,
    /// `version`, e.g. `3.0.0.0`.
    pub version: String,
    /// `components`.
    pub components: Vec<String>,
    /// `lifetime`: 0 undefined, 1 keep loaded, 2 short-lived.
    pub lifetime: Option<i64>,
    /// `inProcess`.
    pub in_process: bool,
    /// `hostPid` (`null` when no host runs).
    pub host_pid: Option<i64>,
    /// `state`: `running`, `idle`, `restarting` or `quarantined`.
    pub state: String,
    /// `crashes`.
    pub crashes: Option<i64>,
    /// `mim`: whether the module's MIM is installed.
    pub mim: bool,
}

impl ModuleSummary {
    /// Parses the `/PlatformModules` answer: a JSON array of module objects.
    pub fn parse_list(body: &[u8]) -> Result<Vec<ModuleSummary>, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Array(items) = value else {
            return Err("not a JSON array".to_string());
        };
        Ok(items.iter().map(ModuleSummary::from_value).collect())
    }

    fn from_value(v: &Value) -> ModuleSummary {
        let text = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        ModuleSummary {
            name: text("name"),
            path: text("path"),
            version: text("version"),
            components: v
                .get("components")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            lifetime: v.get("lifetime").and_then(Value::as_i64),
            in_process: v.get("inProcess").and_then(Value::as_bool).unwrap_or(false),
            host_pid: v.get("hostPid").and_then(Value::as_i64),
            state: text("state"),
            crashes: v.get("crashes").and_then(Value::as_i64),
            mim: v.get("mim").and_then(Value::as_bool).unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_list_fields_and_missing_fields() {
        let body = br#"[{"name":"DeviceInfo","path":"/usr/lib/osconfig/deviceinfo.so","version":"3.0.0.0",
            "components":["DeviceInfo"],"lifetime":2,"inProcess":false,"hostPid":1234,"state":"running",
            "crashes":0,"mim":true},{"name":"X"}]"#;
        let list = ModuleSummary::parse_list(body).unwrap();
        assert_eq!(list[0].components, ["DeviceInfo"]);
        assert_eq!((list[0].lifetime, list[0].host_pid, list[0].crashes), (Some(2), Some(1234), Some(0)));
        assert!(list[0].mim && !list[0].in_process);
        assert_eq!(list[1], ModuleSummary { name: "X".into(), ..ModuleSummary::default() });
        assert!(ModuleSummary::parse_list(b"{}").is_err());
        assert!(ModuleSummary::parse_list(b"[").is_err());
    }
}
