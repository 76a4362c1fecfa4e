//! Reading the members of a MIM's JSON objects, with errors that say where.

use serde_json::{Map, Value};

use crate::describe::describe;
use crate::error::MimError;

/// `value` as a JSON object, or an error at `at`.
pub(crate) fn as_object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>, MimError> {
    value.as_object().ok_or_else(|| MimError::invalid(at, format!("expected an object, found {}", describe(value))))
}

/// The member `key`, or an error at `at` saying it is missing.
pub(crate) fn member<'a>(map: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a Value, MimError> {
    map.get(key).ok_or_else(|| MimError::invalid(at, format!("\"{key}\" is missing")))
}

/// The string member `key`.
pub(crate) fn string<'a>(map: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, MimError> {
    let value = member(map, key, at)?;
    value
        .as_str()
        .ok_or_else(|| MimError::invalid(at, format!("\"{key}\" must be a string, found {}", describe(value))))
}

/// The string member `key`, which must not be empty (a name).
pub(crate) fn name<'a>(map: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, MimError> {
    let name = string(map, key, at)?;
    if name.is_empty() {
        return Err(MimError::invalid(at, format!("\"{key}\" is empty")));
    }
    Ok(name)
}

/// The array member `key`.
pub(crate) fn array<'a>(map: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a [Value], MimError> {
    let value = member(map, key, at)?;
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| MimError::invalid(at, format!("\"{key}\" must be an array, found {}", describe(value))))
}

/// Checks that the string member `"type"` is `expected`.
pub(crate) fn expect_type(map: &Map<String, Value>, expected: &str, at: &str) -> Result<(), MimError> {
    let found = string(map, "type", at)?;
    if found != expected {
        let found = Value::from(found);
        return Err(MimError::invalid(at, format!("\"type\" must be \"{expected}\", found {}", describe(&found))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn test_as_object_rejects_array() {
        let e = as_object(&json!([]), "contents[0]").unwrap_err();
        assert_eq!(e.to_string(), "contents[0]: expected an object, found an array");
    }

    #[test]
    fn test_member_missing() {
        let e = member(&map(json!({})), "schema", "A.b").unwrap_err();
        assert_eq!(e.to_string(), "A.b: \"schema\" is missing");
    }

    #[test]
    fn test_string_wrong_kind() {
        let e = string(&map(json!({"name": 1})), "name", "contents[0]").unwrap_err();
        assert_eq!(e.to_string(), "contents[0]: \"name\" must be a string, found the number 1");
    }

    #[test]
    fn test_name_empty() {
        let e = name(&map(json!({"name": ""})), "name", "contents[0]").unwrap_err();
        assert_eq!(e.to_string(), "contents[0]: \"name\" is empty");
        assert_eq!(name(&map(json!({"name": "A"})), "name", "x").unwrap(), "A");
    }

    #[test]
    fn test_array_wrong_kind() {
        let e = array(&map(json!({"contents": {}})), "contents", "the model").unwrap_err();
        assert_eq!(e.to_string(), "the model: \"contents\" must be an array, found an object");
        assert_eq!(array(&map(json!({"contents": [1]})), "contents", "x").unwrap().len(), 1);
    }

    #[test]
    fn test_expect_type_mismatch() {
        let e = expect_type(&map(json!({"type": "mimObject"})), "mimComponent", "A").unwrap_err();
        assert_eq!(e.to_string(), "A: \"type\" must be \"mimComponent\", found the string \"mimObject\"");
        assert!(expect_type(&map(json!({"type": "mimComponent"})), "mimComponent", "A").is_ok());
    }
}
