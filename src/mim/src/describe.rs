//! Words for JSON values and JSON errors in messages: one line each, long strings cut.

use serde_json::Value;

/// Characters of a string value shown in a message; longer strings end in `...`.
pub(crate) const MAX_QUOTED_CHARS: usize = 64;

/// `s` as a JSON string literal (so it stays on one line), cut after [`MAX_QUOTED_CHARS`] characters.
pub(crate) fn quote(s: &str) -> String {
    let shown: String = s.chars().take(MAX_QUOTED_CHARS).collect();
    let mut quoted = Value::String(shown).to_string();
    if s.chars().nth(MAX_QUOTED_CHARS).is_some() {
        quoted.insert_str(quoted.len() - 1, "...");
    }
    quoted
}

/// The JSON type of a value, for messages: `null`, `a boolean`, `a number`, `a string`, `an array`, `an object`.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What a value is, for "found ...": `null`, `the boolean true`, `the number 42`, `the string "a"`, `an array`,
/// `an object`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {}", quote(s)),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// A value as it is written in JSON, strings cut as by [`quote`]; for values that are scalars.
pub(crate) fn render(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Array(_) | Value::Object(_) => describe(value),
        other => other.to_string(),
    }
}

/// A JSON syntax error as `line 1, column 5: expected value`.
pub(crate) fn json_error(error: &serde_json::Error) -> String {
    let (line, column) = (error.line(), error.column());
    let text = error.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    format!("line {line}, column {column}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_quote_escapes_to_one_line() {
        assert_eq!(quote("a\nb\"c"), r#""a\nb\"c""#);
    }

    #[test]
    fn test_quote_cuts_long_strings() {
        let long = "x".repeat(MAX_QUOTED_CHARS + 1);
        assert_eq!(quote(&long), format!("\"{}...\"", "x".repeat(MAX_QUOTED_CHARS)));
        let exact = "é".repeat(MAX_QUOTED_CHARS);
        assert_eq!(quote(&exact), format!("\"{exact}\""));
    }

    #[test]
    fn test_describe_each_kind() {
        assert_eq!(describe(&json!(null)), "null");
        assert_eq!(describe(&json!(true)), "the boolean true");
        assert_eq!(describe(&json!(42)), "the number 42");
        assert_eq!(describe(&json!(1.5)), "the number 1.5");
        assert_eq!(describe(&json!("a")), r#"the string "a""#);
        assert_eq!(describe(&json!([1])), "an array");
        assert_eq!(describe(&json!({"a": 1})), "an object");
    }

    #[test]
    fn test_render_scalars_as_json() {
        assert_eq!(render(&json!(9)), "9");
        assert_eq!(render(&json!("foo")), r#""foo""#);
        assert_eq!(render(&json!(false)), "false");
        assert_eq!(render(&json!([])), "an array");
    }

    #[test]
    fn test_json_error_line_and_column() {
        let e = serde_json::from_str::<Value>("{\"a\" 1}").unwrap_err();
        assert_eq!(json_error(&e), "line 1, column 6: expected `:`");
    }
}
