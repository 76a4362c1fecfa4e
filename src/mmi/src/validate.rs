//! Small MIM-validation helpers for `Module::set`: each checks one JSON value's type, logs
//! `"<what>: expected <type>, got <json>"` at error level when it does not match, and returns `Errno::EINVAL`.
//!
//! ```
//! use osconfig_mmi::{validate, Errno};
//! let payload = serde_json::json!({"name": "box", "count": 3});
//! let obj = validate::as_object(&payload, "desiredThing")?;
//! let name = validate::as_str(validate::field(obj, "name", "desiredThing")?, "desiredThing.name")?;
//! let count = validate::as_i64_in(validate::field(obj, "count", "desiredThing")?, "desiredThing.count", 0, 10)?;
//! assert_eq!((name, count), ("box", 3));
//! assert_eq!(validate::as_bool(&payload, "x"), Err(Errno::EINVAL));
//! # Ok::<(), Errno>(())
//! ```

use serde_json::{Map, Value};

use crate::Errno;

/// The most characters of an offending value a log line shows.
const MAX_LOGGED_VALUE_CHARS: usize = 200;

fn mismatch(what: &str, expected: &str, got: &Value) -> Errno {
    let mut text = got.to_string();
    if text.len() > MAX_LOGGED_VALUE_CHARS {
        let mut cut = MAX_LOGGED_VALUE_CHARS;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    log::error!("{what}: expected {expected}, got {text}");
    Errno::EINVAL
}

/// A JSON string.
pub fn as_str<'a>(v: &'a Value, what: &str) -> Result<&'a str, Errno> {
    v.as_str().ok_or_else(|| mismatch(what, "a string", v))
}

/// A JSON boolean.
pub fn as_bool(v: &Value, what: &str) -> Result<bool, Errno> {
    v.as_bool().ok_or_else(|| mismatch(what, "a boolean", v))
}

/// A JSON integer that fits `i64` (`1.0` is not an integer).
pub fn as_i64(v: &Value, what: &str) -> Result<i64, Errno> {
    v.as_i64().ok_or_else(|| mismatch(what, "an integer", v))
}

/// A JSON integer `>= 0` that fits `u64`.
pub fn as_u64(v: &Value, what: &str) -> Result<u64, Errno> {
    v.as_u64().ok_or_else(|| mismatch(what, "a non-negative integer", v))
}

/// A JSON integer in `min..=max` (for MIM enums and bounded settings).
pub fn as_i64_in(v: &Value, what: &str, min: i64, max: i64) -> Result<i64, Errno> {
    match v.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(mismatch(what, &format!("an integer {min}..{max}"), v)),
    }
}

/// A JSON string that is one of `allowed` (for MIM string enums).
pub fn as_str_enum<'a>(v: &'a Value, what: &str, allowed: &[&str]) -> Result<&'a str, Errno> {
    match v.as_str() {
        Some(s) if allowed.contains(&s) => Ok(s),
        _ => Err(mismatch(what, &format!("one of {allowed:?}"), v)),
    }
}

/// A JSON object.
pub fn as_object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, Errno> {
    v.as_object().ok_or_else(|| mismatch(what, "an object", v))
}

/// A JSON array.
pub fn as_array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, Errno> {
    v.as_array().ok_or_else(|| mismatch(what, "an array", v))
}

/// The value of a required key of an object; a missing key logs `"<what>: missing field <key>"`.
pub fn field<'a>(obj: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a Value, Errno> {
    obj.get(key).ok_or_else(|| {
        log::error!("{what}: missing field {key}");
        Errno::EINVAL
    })
}

/// `Ok` when `component` is the one this module serves; otherwise logs the unknown component and returns `EINVAL`.
pub fn component(component: &str, served: &str) -> Result<(), Errno> {
    if component == served {
        Ok(())
    } else {
        log::error!("unknown component '{component}' (this module serves '{served}')");
        Err(Errno::EINVAL)
    }
}

/// Log `"unknown object <component>.<object>"` and return `EINVAL`: the usual answer for a name the module does
/// not serve.
pub fn unknown_object(component: &str, object: &str) -> Errno {
    log::error!("unknown object {component}.{object}");
    Errno::EINVAL
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_component_accepts_only_the_served_one() {
        assert_eq!(component("HostName", "HostName"), Ok(()));
        assert_eq!(component("hostname", "HostName"), Err(Errno::EINVAL));
        assert_eq!(component("", "HostName"), Err(Errno::EINVAL));
    }

    #[test]
    fn test_as_str_accepts_and_rejects() {
        assert_eq!(as_str(&json!("a"), "x"), Ok("a"));
        assert_eq!(as_str(&json!(1), "x"), Err(Errno::EINVAL));
    }

    #[test]
    fn test_as_bool_accepts_and_rejects() {
        assert_eq!(as_bool(&json!(true), "x"), Ok(true));
        assert_eq!(as_bool(&json!("true"), "x"), Err(Errno::EINVAL));
    }

    #[test]
    fn test_as_i64_rejects_floats_and_strings() {
        assert_eq!(as_i64(&json!(-5), "x"), Ok(-5));
        assert_eq!(as_i64(&json!(1.5), "x"), Err(Errno::EINVAL));
        assert_eq!(as_i64(&json!("1"), "x"), Err(Errno::EINVAL));
        assert_eq!(as_u64(&json!(-1), "x"), Err(Errno::EINVAL));
        assert_eq!(as_u64(&json!(7), "x"), Ok(7));
    }

    #[test]
    fn test_as_i64_in_bounds() {
        assert_eq!(as_i64_in(&json!(2), "x", 0, 2), Ok(2));
        assert_eq!(as_i64_in(&json!(3), "x", 0, 2), Err(Errno::EINVAL));
        assert_eq!(as_i64_in(&json!(-1), "x", 0, 2), Err(Errno::EINVAL));
    }

    #[test]
    fn test_as_str_enum_members() {
        assert_eq!(as_str_enum(&json!("mqtt"), "x", &["auto", "mqtt"]), Ok("mqtt"));
        assert_eq!(as_str_enum(&json!("amqp"), "x", &["auto", "mqtt"]), Err(Errno::EINVAL));
    }

    #[test]
    fn test_as_object_array_and_field() {
        let v = json!({"a": [1]});
        let obj = as_object(&v, "x").unwrap();
        assert_eq!(as_array(field(obj, "a", "x").unwrap(), "x.a").unwrap().len(), 1);
        assert_eq!(field(obj, "b", "x"), Err(Errno::EINVAL));
        assert_eq!(as_object(&json!([]), "x"), Err(Errno::EINVAL));
        assert_eq!(as_array(&json!({}), "x"), Err(Errno::EINVAL));
    }

    #[test]
    fn test_mismatch_truncates_long_values() {
        let long = Value::String("é".repeat(500));
        assert_eq!(as_i64(&long, "x"), Err(Errno::EINVAL));
    }
}
