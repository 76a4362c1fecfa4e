//! Checks of our MIMs against the reference module's MIMs in `../shared/reference/mim/` (present on developer
//! machines and in CI; the checks are skipped, with a note, when absent).

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The shared folder beside the project (`<workspace>/../shared`).
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The reference module's MIM `../shared/reference/mim/<file>`, or `None` (with a note on stderr) when absent.
pub fn reference_mim(file: &str) -> Option<Value> {
    let path = shared_dir().join("reference/mim").join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))),
        Err(_) => {
            eprintln!("{} not found: reference check skipped", path.display());
            None
        }
    }
}

/// Every object of a MIM's first component as `(name, desired, schema)`.
pub fn mim_objects(mim: &Value) -> Vec<(String, Value, Value)> {
    mim["contents"][0]["contents"]
        .as_array()
        .expect("component contents")
        .iter()
        .map(|o| (o["name"].as_str().expect("object name").to_string(), o["desired"].clone(), o["schema"].clone()))
        .collect()
}

/// Asserts that our MIM (JSON text) has the reference MIM's model and component names and every reference object
/// with the same direction and schema, and that the objects it adds are exactly `extra`. Skipped when the reference
/// data is absent.
pub fn assert_mim_agrees_with_reference(ours: &str, reference_file: &str, extra: &[&str]) {
    let Some(reference) = reference_mim(reference_file) else { return };
    let ours: Value = serde_json::from_str(ours).expect("our MIM is JSON");
    assert_eq!(ours["name"], reference["name"], "model name");
    assert_eq!(ours["contents"][0]["name"], reference["contents"][0]["name"], "component name");
    let ours = mim_objects(&ours);
    let reference = mim_objects(&reference);
    for object in &reference {
        assert!(ours.contains(object), "reference object {object:?} missing or different");
    }
    let added: Vec<&str> = ours.iter().filter(|o| !reference.contains(o)).map(|o| o.0.as_str()).collect();
    assert_eq!(added, extra, "objects our MIM adds");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_mim_objects_lists_name_direction_schema() {
        let mim = json!({"contents":[{"contents":[{"name":"a","desired":true,"schema":"string"}]}]});
        assert_eq!(mim_objects(&mim), vec![("a".to_string(), json!(true), json!("string"))]);
    }
}
