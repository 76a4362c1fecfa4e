//! Checking a reported payload against a recipe's expected `Payload`.
//!
//! - Both sides are parsed and compared as JSON values: object key order does not matter, array order does,
//!   numbers compare by value (`1`, `1.0` and `1e0` are equal).
//! - An expected string ending in `*` is a prefix pattern: `"PASS*"` matches any reported string that starts with
//!   `PASS`; with a leading `^`, `"^PASS*"` matches any reported string that does *not* start with `PASS` (the
//!   reference uses these for SecurityBaseline audits). A reported string equal to the pattern text itself also
//!   matches, so an exact value that happens to end in `*` still passes.

use serde_json::Value;

use crate::recipe::step::{kind_of, shorten};

/// How long a value may be in a failure message before it is cut.
pub const MAX_SHOWN_CHARS: usize = 300;

/// `Ok` when the reported bytes match the expected value, else the reason.
pub fn check_payload(expected: &Value, reported: &[u8]) -> Result<(), String> {
    let actual: Value = serde_json::from_slice(reported).map_err(|e| {
        format!(
            "the module reported invalid JSON ({e}): {}",
            shorten(&String::from_utf8_lossy(reported), MAX_SHOWN_CHARS)
        )
    })?;
    if let Value::String(pattern) = expected {
        if let Some(result) = match_pattern(pattern, &actual) {
            return result;
        }
    }
    if json_equal(expected, &actual) {
        Ok(())
    } else {
        Err(format!("expected payload {}, got {}", show(expected), show(&actual)))
    }
}

/// `Some(result)` when `pattern` is a `X*` / `^X*` pattern, `None` for a plain string.
fn match_pattern(pattern: &str, actual: &Value) -> Option<Result<(), String>> {
    let body = pattern.strip_suffix('*')?;
    if actual.as_str() == Some(pattern) {
        return Some(Ok(()));
    }
    let (negated, prefix) = match body.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let Some(text) = actual.as_str() else {
        return Some(Err(format!(
            "expected a string matching \"{pattern}\", got {} {}",
            kind_of(actual),
            show(actual)
        )));
    };
    let ok = text.starts_with(prefix) != negated;
    Some(if ok {
        Ok(())
    } else if negated {
        Err(format!("expected a string not starting with \"{prefix}\", got {}", show(actual)))
    } else {
        Err(format!("expected a string starting with \"{prefix}\", got {}", show(actual)))
    })
}

/// Semantic JSON equality: objects ignore key order, numbers compare by value.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn numbers_equal(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    if let (Some(p), Some(q)) = (x.as_i64(), y.as_i64()) {
        return p == q;
    }
    if let (Some(p), Some(q)) = (x.as_u64(), y.as_u64()) {
        return p == q;
    }
    match (x.as_f64(), y.as_f64()) {
        (Some(p), Some(q)) => p == q,
        _ => false,
    }
}

/// A value as compact JSON, cut for messages.
pub fn show(v: &Value) -> String {
    shorten(&v.to_string(), MAX_SHOWN_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_check_payload_equal_values() {
        assert_eq!(check_payload(&json!({"a": 1, "b": [1, 2]}), br#"{"b":[1,2.0],"a":1.0}"#), Ok(()));
        assert_eq!(check_payload(&json!("x"), br#""x""#), Ok(()));
        assert_eq!(check_payload(&json!(null), b"null"), Ok(()));
        assert_eq!(check_payload(&json!(100), b"1e2"), Ok(()));
    }

    #[test]
    fn test_check_payload_differences() {
        let err = check_payload(&json!({"a": 1}), br#"{"a":2}"#).unwrap_err();
        assert_eq!(err, r#"expected payload {"a":1}, got {"a":2}"#);
        assert!(check_payload(&json!([1, 2]), b"[2,1]").is_err());
        assert!(check_payload(&json!({"a": 1}), br#"{"a":1,"b":2}"#).is_err());
        assert!(check_payload(&json!("1"), b"1").is_err());
        assert!(check_payload(&json!(true), b"1").is_err());
    }

    #[test]
    fn test_check_payload_invalid_reported_json() {
        let err = check_payload(&json!(1), b"{oops").unwrap_err();
        assert!(err.starts_with("the module reported invalid JSON"), "{err}");
    }

    #[test]
    fn test_check_payload_pass_patterns() {
        assert_eq!(check_payload(&json!("PASS*"), br#""PASS""#), Ok(()));
        assert_eq!(check_payload(&json!("PASS*"), br#""PASSED: all good""#), Ok(()));
        assert!(check_payload(&json!("PASS*"), br#""FAIL: x""#).unwrap_err().contains("starting with \"PASS\""));
        assert_eq!(check_payload(&json!("^PASS*"), br#""Account x found""#), Ok(()));
        assert!(check_payload(&json!("^PASS*"), br#""PASS""#).unwrap_err().contains("not starting with"));
        assert!(check_payload(&json!("PASS*"), b"1").unwrap_err().contains("got a number"));
        // The literal text itself matches.
        assert_eq!(check_payload(&json!("glob*"), br#""glob*""#), Ok(()));
    }

    #[test]
    fn test_json_equal_large_and_float_numbers() {
        assert!(json_equal(&json!(u64::MAX), &json!(u64::MAX)));
        assert!(!json_equal(&json!(u64::MAX), &json!(-1)));
        assert!(json_equal(&json!(0.5), &json!(0.5)));
        assert!(!json_equal(&json!(0.5), &json!(1)));
    }

    #[test]
    fn test_show_cuts_long_values() {
        let long = json!("y".repeat(1000));
        assert!(show(&long).len() <= MAX_SHOWN_CHARS);
        assert!(show(&long).ends_with("..."));
    }
}
