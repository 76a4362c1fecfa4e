//! JSON in and out: reading an operand or stdin, validating it with a position, pretty-printing for people.

use std::io::Read;
use std::path::Path;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::client::error::CtlError;

/// The largest input read from a file or stdin (a desired document or a payload).
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// The text of `operand`: stdin for `-`, else the operand itself.
pub fn payload_operand(operand: &str) -> Result<Vec<u8>, CtlError> {
    if operand == "-" {
        read_limited(std::io::stdin().lock(), "stdin")
    } else {
        Ok(operand.as_bytes().to_vec())
    }
}

/// The content of the file `operand`, or stdin for `-`.
pub fn file_operand(operand: &str) -> Result<Vec<u8>, CtlError> {
    if operand == "-" {
        return read_limited(std::io::stdin().lock(), "stdin");
    }
    let file =
        std::fs::File::open(Path::new(operand)).map_err(|e| CtlError::Input(format!("cannot read {operand}: {e}")))?;
    read_limited(file, operand)
}

fn read_limited(reader: impl Read, name: &str) -> Result<Vec<u8>, CtlError> {
    let mut text = Vec::new();
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| CtlError::Input(format!("cannot read {name}: {e}")))?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(CtlError::Input(format!("{name} is larger than {MAX_INPUT_BYTES} bytes")));
    }
    Ok(text)
}

/// Checks that `text` is exactly one JSON value; the error names `what` and the line and column.
pub fn validate(text: &[u8], what: &str) -> Result<(), CtlError> {
    serde_json::from_slice::<Box<RawValue>>(text).map(drop).map_err(|e| {
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        CtlError::Input(format!("{what} is not valid JSON: line {}, column {}: {message}", e.line(), e.column()))
    })
}

/// `text` pretty-printed (two-space indent, keys in their order), or as it came when it is not JSON.
pub fn pretty(text: &[u8]) -> String {
    match serde_json::from_slice::<Value>(text) {
        Ok(value) => {
            serde_json::to_string_pretty(&value).unwrap_or_else(|_| String::from_utf8_lossy(text).into_owned())
        }
        Err(_) => String::from_utf8_lossy(text).into_owned(),
    }
}

/// `bytes` without leading and trailing ASCII white space (`<[u8]>::trim_ascii` is Rust 1.80; we build with 1.75).
pub fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_validate_ok_and_positions() {
        assert!(validate(br#" {"a": [1, "x"]} "#, "the payload").is_ok());
        assert!(validate(b"\"box\"", "the payload").is_ok());
        match validate(b"{\"a\":\n tru}", "the payload") {
            Err(CtlError::Input(text)) => {
                assert!(text.starts_with("the payload is not valid JSON: line 2, column"), "{text}");
                assert!(!text.contains(" at line "), "{text}");
            }
            other => panic!("{other:?}"),
        }
        assert!(validate(b"", "x").is_err());
        assert!(validate(b"1 2", "x").is_err());
        assert!(validate(b"box", "x").is_err());
    }

    #[test]
    fn test_pretty_keeps_key_order_and_passes_non_json_through() {
        assert_eq!(pretty(br#"{"b":1,"a":[true]}"#), "{\n  \"b\": 1,\n  \"a\": [\n    true\n  ]\n}");
        assert_eq!(pretty(b"\"x\""), "\"x\"");
        assert_eq!(pretty(b"not json"), "not json");
    }

    #[test]
    fn test_payload_operand_is_the_text() {
        assert_eq!(payload_operand("\"box\"").unwrap(), b"\"box\"");
    }

    #[test]
    fn test_file_operand_missing_file_names_it() {
        match file_operand("/nonexistent/dc.json") {
            Err(CtlError::Input(text)) => assert!(text.starts_with("cannot read /nonexistent/dc.json: "), "{text}"),
            other => panic!("{other:?}"),
        }
    }
}
