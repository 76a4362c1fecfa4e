//! Helpers shared by the tests of osconfig-rs crates (a dev-dependency only; never shipped).
//!
//! - [`cdylib`]: the path of a module library cargo built for this test run.
//! - [`reference_mim`] and [`assert_mim_agrees_with_reference`]: compare one of our MIMs with the reference module's
//!   MIM in `../shared/reference/mim/` (present on developer machines and in CI; checks are skipped when absent).
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `lib<name>.so` as cargo built it for this test run: beside the test executable (`target/<profile>/deps/`, where
/// cargo puts the libraries of dependencies) or one folder up (`target/<profile>/`, the workspace's own builds).
/// Panics with a clear message when it is not built.
pub fn cdylib(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps folder");
    let file = format!("lib{name}.so");
    let found = [Some(deps), deps.parent()].into_iter().flatten().map(|dir| dir.join(&file)).find(|p| p.is_file());
    found.unwrap_or_else(|| panic!("{file} is not built next to {} (run cargo test --workspace)", exe.display()))
}

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

    #[test]
    #[should_panic(expected = "is not built")]
    fn test_cdylib_missing_panics_clearly() {
        cdylib("no-such-module");
    }
}
