//! Twin documents as the hub sends them: the full twin `{"desired":{..,"$version":n},"reported":{..}}` and
//! desired patches `{"<Component>":{"__t":"c","<property>":<value>},..,"$version":n}`.

use osconfig_mim::kind;
use serde_json::{Map, Value};

/// Largest twin document parsed, in bytes: IoT Hub's messages are at most 256 KiB (desired and reported at 32 KiB
/// each), so every real document fits, and an oversized property inside one still gets its acknowledgement 400.
pub const MAX_TWIN_BYTES: usize = 1024 * 1024;

/// One desired property.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    /// The component (a child object of `desired`).
    pub component: String,
    /// The property (a child of the component, not `__t`).
    pub name: String,
    /// The value; `Null` removes the property from the desired state (nothing to apply or acknowledge).
    pub value: Value,
}

/// The desired part of a twin document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Desired {
    /// `$version` (`None` when absent or not an integer).
    pub version: Option<i64>,
    /// Properties in document order.
    pub properties: Vec<Property>,
    /// Components set to `null` (removed from the desired state).
    pub removed_components: Vec<String>,
    /// One line per part that was skipped (logged by the caller).
    pub problems: Vec<String>,
}

/// A full twin.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FullTwin {
    /// Its desired section.
    pub desired: Desired,
    /// Its reported section (empty when absent).
    pub reported: Map<String, Value>,
}

/// Parses JSON text into an object, with the reason when it is not one.
fn object(payload: &[u8], what: &str) -> Result<Map<String, Value>, String> {
    if payload.len() > MAX_TWIN_BYTES {
        return Err(format!("{what} of {} bytes is over the {MAX_TWIN_BYTES}-byte limit; ignored", payload.len()));
    }
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("{what} is not a JSON object; ignored")),
        Err(e) => Err(format!("{what} is not valid JSON ({e}); ignored")),
    }
}

/// The desired section of a full twin, and its reported section.
pub fn parse_full(payload: &[u8]) -> Result<FullTwin, String> {
    let mut map = object(payload, "full twin")?;
    let desired = match map.remove("desired") {
        Some(Value::Object(desired)) => parse_desired(desired),
        Some(_) => return Err("full twin: desired is not an object; ignored".into()),
        None => return Err("full twin has no desired section; ignored".into()),
    };
    let reported = match map.remove("reported") {
        Some(Value::Object(reported)) => reported,
        _ => Map::new(),
    };
    Ok(FullTwin { desired, reported })
}

/// A desired patch.
pub fn parse_patch(payload: &[u8]) -> Result<Desired, String> {
    object(payload, "desired patch").map(parse_desired)
}

fn parse_desired(map: Map<String, Value>) -> Desired {
    let mut out = Desired { version: map.get("$version").and_then(Value::as_i64), ..Desired::default() };
    for (component, value) in map {
        if component.starts_with('$') {
            continue;
        }
        match value {
            Value::Object(properties) => {
                for (name, value) in properties {
                    if name == "__t" || name.starts_with('$') {
                        continue;
                    }
                    out.properties.push(Property { component: component.clone(), name, value });
                }
            }
            Value::Null => out.removed_components.push(component),
            other => out
                .problems
                .push(format!("desired component {component:?} is {} instead of an object; skipped", kind(&other))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_parse_full_keeps_document_order_and_skips_markers() {
        let twin = parse_full(
            br#"{"desired":{"B":{"__t":"c","y":1,"x":{"k":2}},"$version":7,"A":{"z":"s"},"$metadata":{}},"reported":{"B":{"y":1}}}"#,
        )
        .unwrap();
        assert_eq!(twin.desired.version, Some(7));
        let flat: Vec<(&str, &str, &Value)> =
            twin.desired.properties.iter().map(|p| (p.component.as_str(), p.name.as_str(), &p.value)).collect();
        assert_eq!(flat, [("B", "y", &json!(1)), ("B", "x", &json!({"k":2})), ("A", "z", &json!("s"))]);
        assert_eq!(twin.reported["B"], json!({"y":1}));
        assert!(twin.desired.problems.is_empty());
    }

    #[test]
    fn test_parse_patch_problems_and_removals() {
        let patch = parse_patch(br#"{"A":5,"B":null,"C":{"p":null},"$version":3}"#).unwrap();
        assert_eq!(patch.version, Some(3));
        assert_eq!(patch.removed_components, ["B"]);
        assert_eq!(patch.properties, [Property { component: "C".into(), name: "p".into(), value: Value::Null }]);
        assert_eq!(patch.problems.len(), 1);
        assert!(patch.problems[0].contains("\"A\" is a number"), "{}", patch.problems[0]);
        assert_eq!(parse_patch(br#"{"A":{"p":1}}"#).unwrap().version, None);
    }

    #[test]
    fn test_parse_refuses_malformed_documents() {
        assert!(parse_patch(b"{not json").unwrap_err().contains("not valid JSON"));
        assert!(parse_patch(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(parse_full(br#"{"reported":{}}"#).unwrap_err().contains("no desired"));
        assert!(parse_full(br#"{"desired":3}"#).unwrap_err().contains("not an object"));
        let big = format!("{{\"A\":{{\"p\":\"{}\"}}}}", "x".repeat(MAX_TWIN_BYTES));
        assert!(parse_patch(big.as_bytes()).unwrap_err().contains("over the"));
    }
}
