//! Shared pieces of the JSON wire format: strict request-body parsing, the errno body of a 500, and JSON string
//! encoding. Used by the MMI types ([`crate::mmi`]) and, later, by the MPI types.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::value::RawValue;

/// Why a request body was refused. Every variant is answered with `400 Bad Request`.
#[derive(Debug)]
pub enum BodyError {
    /// The body is not valid JSON (the parser's error is the source).
    NotJson(serde_json::Error),
    /// The body is valid JSON but not an object.
    NotObject,
    /// A required key is absent (keys are case-sensitive).
    Missing {
        /// The key, e.g. `"ClientSession"`.
        key: &'static str,
    },
    /// A key has the wrong type or a value out of range.
    WrongType {
        /// The key, e.g. `"MaxPayloadSizeBytes"`.
        key: &'static str,
        /// What was expected, e.g. `"a string"`.
        expected: &'static str,
    },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::NotJson(_) => f.write_str("request body is not valid json"),
            BodyError::NotObject => f.write_str("request body is not a json object"),
            BodyError::Missing { key } => write!(f, "request body lacks key {key}"),
            BodyError::WrongType { key, expected } => write!(f, "request body key {key}: expected {expected}"),
        }
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BodyError::NotJson(e) => Some(e),
            _ => None,
        }
    }
}

/// The keys of a JSON object body, each value kept as its raw text.
///
/// A duplicated key keeps its last value (what `serde_json` does); unknown keys are ignored.
#[derive(Debug)]
pub struct Fields(BTreeMap<String, Box<RawValue>>);

impl Fields {
    /// Parses a body that must be one JSON object.
    pub fn parse(body: &[u8]) -> Result<Fields, BodyError> {
        let whole: Box<RawValue> = serde_json::from_slice(body).map_err(BodyError::NotJson)?;
        if !whole.get().starts_with('{') {
            return Err(BodyError::NotObject);
        }
        serde_json::from_str(whole.get()).map(Fields).map_err(BodyError::NotJson)
    }

    fn raw(&self, key: &'static str) -> Result<&RawValue, BodyError> {
        self.0.get(key).map(|v| &**v).ok_or(BodyError::Missing { key })
    }

    /// The value of `key`, which must be a JSON string.
    pub fn string(&self, key: &'static str) -> Result<String, BodyError> {
        let raw = self.raw(key)?;
        if !raw.get().starts_with('"') {
            return Err(BodyError::WrongType { key, expected: "a string" });
        }
        serde_json::from_str(raw.get()).map_err(|_| BodyError::WrongType { key, expected: "a string" })
    }

    /// The value of `key`, which must be an integer in `0..=u32::MAX` (no fraction, no exponent).
    pub fn u32(&self, key: &'static str) -> Result<u32, BodyError> {
        const EXPECTED: &str = "an integer 0..4294967295";
        let raw = self.raw(key)?;
        let text = raw.get();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BodyError::WrongType { key, expected: EXPECTED });
        }
        text.parse::<u32>().map_err(|_| BodyError::WrongType { key, expected: EXPECTED })
    }

    /// The value of `key` as its exact raw JSON text (any JSON value).
    pub fn raw_value(&self, key: &'static str) -> Result<Box<RawValue>, BodyError> {
        self.raw(key).map(RawValue::to_owned)
    }
}

/// A JSON string literal for `s` (quotes and escapes included).
pub fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The body of a `400` for a refused request body, in both APIs: `{"error":"<why>"}` (e.g. `request body lacks key
/// ClientSession`), so the caller learns what to fix without reading a log.
pub fn bad_request_body(error: &BodyError) -> Vec<u8> {
    format!("{{\"error\":{}}}", json_string(&error.to_string())).into_bytes()
}

/// The body of a `500` that carries an errno: the number as a JSON string, e.g. `"22"`.
pub fn errno_body(errno: i32) -> Vec<u8> {
    format!("\"{errno}\"").into_bytes()
}

/// The errno in a `500` body (`"22"`; a bare number `22` is accepted too); `None` for anything else.
pub fn parse_errno_body(body: &[u8]) -> Option<i32> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let inner = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_not_json() {
        assert!(matches!(Fields::parse(b"not json"), Err(BodyError::NotJson(_))));
        assert!(matches!(Fields::parse(b""), Err(BodyError::NotJson(_))));
        assert!(matches!(Fields::parse(b"{\"a\":1} x"), Err(BodyError::NotJson(_))));
        assert!(matches!(Fields::parse(b"{\"a\":"), Err(BodyError::NotJson(_))));
    }

    #[test]
    fn test_parse_not_object() {
        for body in [&b"[]"[..], b"\"x\"", b"12", b"null", b" true "] {
            assert!(matches!(Fields::parse(body), Err(BodyError::NotObject)), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn test_string_missing_wrong_type_and_case() {
        let f = Fields::parse(br#"{"Name":"a\"b","Num":1,"Null":null,"clientname":"x"}"#).unwrap();
        assert_eq!(f.string("Name").unwrap(), "a\"b");
        assert!(matches!(f.string("Num"), Err(BodyError::WrongType { key: "Num", .. })));
        assert!(matches!(f.string("Null"), Err(BodyError::WrongType { key: "Null", .. })));
        assert!(matches!(f.string("ClientName"), Err(BodyError::Missing { key: "ClientName" })));
    }

    #[test]
    fn test_u32_range_and_forms() {
        let f =
            Fields::parse(br#"{"a":0,"b":4294967295,"c":4294967296,"d":-1,"e":1.0,"f":"5","g":1e3,"h":null,"i":true}"#)
                .unwrap();
        assert_eq!(f.u32("a").unwrap(), 0);
        assert_eq!(f.u32("b").unwrap(), u32::MAX);
        for key in ["c", "d", "e", "f", "g", "h", "i"] {
            assert!(matches!(f.u32(key), Err(BodyError::WrongType { .. })), "{key}");
        }
        assert!(matches!(f.u32("z"), Err(BodyError::Missing { key: "z" })));
    }

    #[test]
    fn test_parse_repeated_key_keeps_last_and_ignores_unknown() {
        let f = Fields::parse(br#"{"a":"first","a":"second","unknown":[1]}"#).unwrap();
        assert_eq!(f.string("a").unwrap(), "second");
    }

    #[test]
    fn test_raw_value_keeps_exact_bytes() {
        let f = Fields::parse(br#"{"Payload": {"b" : 1.50, "a":[ ]} }"#).unwrap();
        assert_eq!(f.raw_value("Payload").unwrap().get(), r#"{"b" : 1.50, "a":[ ]}"#);
    }

    #[test]
    fn test_errno_body_round_trip() {
        assert_eq!(errno_body(22), b"\"22\"");
        assert_eq!(parse_errno_body(b"\"22\""), Some(22));
        assert_eq!(parse_errno_body(b"7"), Some(7));
        assert_eq!(parse_errno_body(b""), None);
        assert_eq!(parse_errno_body(b"\"x\""), None);
        assert_eq!(parse_errno_body(b"{\"error\":1}"), None);
    }

    #[test]
    fn test_json_string_escapes() {
        assert_eq!(json_string("a\"b\n"), r#""a\"b\n""#);
    }
}

/// Assertions the body tests of both APIs share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::BodyError;

    /// The key a parse reported missing (panics on any other outcome).
    pub(crate) fn missing(e: Result<impl std::fmt::Debug, BodyError>) -> &'static str {
        match e {
            Err(BodyError::Missing { key }) => key,
            other => panic!("expected Missing, got {other:?}"),
        }
    }

    /// The key a parse reported with the wrong type (panics on any other outcome).
    pub(crate) fn wrong(e: Result<impl std::fmt::Debug, BodyError>) -> &'static str {
        match e {
            Err(BodyError::WrongType { key, .. }) => key,
            other => panic!("expected WrongType, got {other:?}"),
        }
    }
}
