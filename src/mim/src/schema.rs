//! A MIM schema (the type of an object or of a setting) and its parsing from the MIM's JSON.

use serde_json::{Map, Value};

use crate::describe::{describe, quote};
use crate::error::MimError;
use crate::members;
use crate::MAX_DEPTH;

/// The type of a MIM object or setting.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Schema {
    /// A type given by name: `"string"`, `"integer"`, `"boolean"`, ...
    Primitive(Primitive),
    /// `{"type":"enum","valueSchema":..,"enumValues":[..]}`.
    Enum(EnumValues),
    /// `{"type":"object","fields":[{"name":..,"schema":..}]}`: the fields in MIM order.
    Object(Vec<Field>),
    /// `{"type":"map","mapKey":..,"mapValue":..}`: the schema of the values (keys are strings).
    Map(Box<Schema>),
    /// `{"type":"array","elementSchema":..}`: the schema of each item.
    Array(Box<Schema>),
}

/// A type given by name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Primitive {
    /// `"string"`.
    String,
    /// `"integer"`: a JSON number without fraction or exponent.
    Integer,
    /// `"boolean"`.
    Boolean,
    /// `"number"`, `"double"`, `"float"`: any JSON number.
    Number,
    /// A name this crate does not know: any value passes.
    Other(String),
}

impl Primitive {
    fn from_name(name: &str) -> Primitive {
        match name {
            "string" => Primitive::String,
            "integer" => Primitive::Integer,
            "boolean" => Primitive::Boolean,
            "number" | "double" | "float" => Primitive::Number,
            other => Primitive::Other(other.to_string()),
        }
    }
}

/// The values of an enum, each with its name, in MIM order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EnumValues {
    /// `"valueSchema":"integer"`.
    Integer(Vec<(String, i64)>),
    /// `"valueSchema":"string"`.
    String(Vec<(String, String)>),
}

impl EnumValues {
    /// Each value as it reads in a message: `0 (none)`, `"mqtt"` (a string value that is its own name) or
    /// `"on" (enabled)`.
    pub(crate) fn shown(&self) -> Vec<String> {
        match self {
            EnumValues::Integer(values) => values.iter().map(|(name, v)| format!("{v} ({name})")).collect(),
            EnumValues::String(values) => values
                .iter()
                .map(|(name, v)| if name == v { quote(v) } else { format!("{} ({name})", quote(v)) })
                .collect(),
        }
    }
}

/// A setting of an object schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    /// The setting name.
    pub(crate) name: String,
    /// Its type.
    pub(crate) schema: Schema,
}

/// Parses the schema `value` found at `at`, `depth` levels deep (the schema of a MIM object is at depth 1).
pub(crate) fn parse(value: &Value, at: &str, depth: usize) -> Result<Schema, MimError> {
    if depth > MAX_DEPTH {
        return Err(MimError::TooDeep { file: None, at: at.to_string() });
    }
    let map = match value {
        Value::String(name) => return Ok(Schema::Primitive(Primitive::from_name(name))),
        Value::Object(map) => map,
        other => {
            let what = format!("a schema must be a type name or an object, found {}", describe(other));
            return Err(MimError::invalid(at, what));
        }
    };
    match members::string(map, "type", at)? {
        "enum" => parse_enum(map, at),
        "object" => parse_object(map, at, depth),
        "map" => parse_map(map, at, depth),
        "array" => {
            let element = members::member(map, "elementSchema", at)?;
            Ok(Schema::Array(Box::new(parse(element, &format!("{at}.elementSchema"), depth + 1)?)))
        }
        other => {
            let what = format!("schema type {} is not one of enum, object, map, array", quote(other));
            Err(MimError::invalid(at, what))
        }
    }
}

fn parse_enum(map: &Map<String, Value>, at: &str) -> Result<Schema, MimError> {
    let integer = match members::string(map, "valueSchema", at)? {
        "integer" => true,
        "string" => false,
        other => {
            let what = format!("\"valueSchema\" must be \"integer\" or \"string\", found {}", quote(other));
            return Err(MimError::invalid(at, what));
        }
    };
    let entries = members::array(map, "enumValues", at)?;
    if entries.is_empty() {
        return Err(MimError::invalid(at, "\"enumValues\" is empty"));
    }
    let mut integers = Vec::new();
    let mut strings = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("{at}.enumValues[{i}]");
        let entry = members::as_object(entry, &at)?;
        let name = members::name(entry, "name", &at)?.to_string();
        let value = members::member(entry, "enumValue", &at)?;
        match (integer, value.as_i64(), value.as_str()) {
            (true, Some(v), _) => integers.push((name, v)),
            (false, _, Some(s)) => strings.push((name, s.to_string())),
            _ => {
                let expected = if integer { "an integer" } else { "a string" };
                let what = format!("\"enumValue\" must be {expected}, found {}", describe(value));
                return Err(MimError::invalid(&at, what));
            }
        }
    }
    Ok(Schema::Enum(if integer { EnumValues::Integer(integers) } else { EnumValues::String(strings) }))
}

fn parse_object(map: &Map<String, Value>, at: &str, depth: usize) -> Result<Schema, MimError> {
    let entries = members::array(map, "fields", at)?;
    let mut fields: Vec<Field> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let entry = members::as_object(entry, &format!("{at}.fields[{i}]"))?;
        let name = members::name(entry, "name", &format!("{at}.fields[{i}]"))?;
        let field_at = format!("{at}.{name}");
        if fields.iter().any(|f| f.name == name) {
            return Err(MimError::invalid(&field_at, "the setting is defined twice"));
        }
        let schema = parse(members::member(entry, "schema", &field_at)?, &field_at, depth + 1)?;
        fields.push(Field { name: name.to_string(), schema });
    }
    Ok(Schema::Object(fields))
}

fn parse_map(map: &Map<String, Value>, at: &str, depth: usize) -> Result<Schema, MimError> {
    let key_at = format!("{at}.mapKey");
    let key = members::as_object(members::member(map, "mapKey", at)?, &key_at)?;
    let key_schema = members::member(key, "schema", &key_at)?;
    if key_schema != "string" {
        let what =
            format!("map keys are JSON object keys: the schema must be \"string\", found {}", describe(key_schema));
        return Err(MimError::invalid(&key_at, what));
    }
    let value_at = format!("{at}.mapValue");
    let value = members::as_object(members::member(map, "mapValue", at)?, &value_at)?;
    let schema = parse(members::member(value, "schema", &value_at)?, &value_at, depth + 1)?;
    Ok(Schema::Map(Box::new(schema)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(value: Value) -> Schema {
        parse(&value, "C.o", 1).unwrap()
    }

    fn failed(value: Value) -> String {
        parse(&value, "C.o", 1).unwrap_err().to_string()
    }

    #[test]
    fn test_parse_primitives() {
        assert_eq!(parsed(json!("string")), Schema::Primitive(Primitive::String));
        assert_eq!(parsed(json!("integer")), Schema::Primitive(Primitive::Integer));
        assert_eq!(parsed(json!("boolean")), Schema::Primitive(Primitive::Boolean));
        assert_eq!(parsed(json!("double")), Schema::Primitive(Primitive::Number));
        assert_eq!(parsed(json!("float")), Schema::Primitive(Primitive::Number));
        assert_eq!(parsed(json!("number")), Schema::Primitive(Primitive::Number));
        assert_eq!(parsed(json!("uuid")), Schema::Primitive(Primitive::Other("uuid".into())));
    }

    #[test]
    fn test_parse_integer_enum() {
        let s = parsed(json!({"type":"enum","valueSchema":"integer","enumValues":[
            {"name":"none","enumValue":0},{"name":"reboot","enumValue":1}]}));
        assert_eq!(s, Schema::Enum(EnumValues::Integer(vec![("none".into(), 0), ("reboot".into(), 1)])));
    }

    #[test]
    fn test_parse_string_enum() {
        let s = parsed(json!({"type":"enum","valueSchema":"string","enumValues":[
            {"name":"auto","enumValue":"auto"},{"name":"on","enumValue":"1"}]}));
        let Schema::Enum(values) = s else { panic!("{s:?}") };
        assert_eq!(values.shown(), vec![r#""auto""#, r#""1" (on)"#]);
    }

    #[test]
    fn test_parse_enum_value_of_wrong_kind() {
        let e = failed(json!({"type":"enum","valueSchema":"integer","enumValues":[
            {"name":"none","enumValue":0},{"name":"half","enumValue":0.5}]}));
        assert_eq!(e, "C.o.enumValues[1]: \"enumValue\" must be an integer, found the number 0.5");
        let e = failed(json!({"type":"enum","valueSchema":"string","enumValues":[{"name":"a","enumValue":1}]}));
        assert_eq!(e, "C.o.enumValues[0]: \"enumValue\" must be a string, found the number 1");
    }

    #[test]
    fn test_parse_enum_unknown_value_schema() {
        let e = failed(json!({"type":"enum","valueSchema":"boolean","enumValues":[{"name":"a","enumValue":true}]}));
        assert_eq!(e, "C.o: \"valueSchema\" must be \"integer\" or \"string\", found \"boolean\"");
    }

    #[test]
    fn test_parse_enum_empty() {
        let e = failed(json!({"type":"enum","valueSchema":"integer","enumValues":[]}));
        assert_eq!(e, "C.o: \"enumValues\" is empty");
    }

    #[test]
    fn test_parse_object_fields_in_order() {
        let s =
            parsed(json!({"type":"object","fields":[{"name":"b","schema":"string"},{"name":"a","schema":"integer"}]}));
        let Schema::Object(fields) = s else { panic!("{s:?}") };
        let names: Vec<_> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(fields[1].schema, Schema::Primitive(Primitive::Integer));
    }

    #[test]
    fn test_parse_object_duplicate_field() {
        let e =
            failed(json!({"type":"object","fields":[{"name":"a","schema":"string"},{"name":"a","schema":"string"}]}));
        assert_eq!(e, "C.o.a: the setting is defined twice");
    }

    #[test]
    fn test_parse_object_field_errors_name_the_field() {
        let e = failed(json!({"type":"object","fields":[{"name":"a","schema":{"type":"set"}}]}));
        assert_eq!(e, "C.o.a: schema type \"set\" is not one of enum, object, map, array");
        let e = failed(json!({"type":"object","fields":[{"name":"a"}]}));
        assert_eq!(e, "C.o.a: \"schema\" is missing");
        let e = failed(json!({"type":"object","fields":[{"schema":"string"}]}));
        assert_eq!(e, "C.o.fields[0]: \"name\" is missing");
    }

    #[test]
    fn test_parse_map() {
        let s = parsed(
            json!({"type":"map","mapKey":{"name":"id","schema":"string"},"mapValue":{"name":"v","schema":"integer"}}),
        );
        assert_eq!(s, Schema::Map(Box::new(Schema::Primitive(Primitive::Integer))));
    }

    #[test]
    fn test_parse_map_key_not_string() {
        let e = failed(
            json!({"type":"map","mapKey":{"name":"id","schema":"integer"},"mapValue":{"name":"v","schema":"string"}}),
        );
        assert!(e.starts_with("C.o.mapKey: map keys are JSON object keys"), "{e}");
        let e = failed(json!({"type":"map","mapKey":{"name":"id","schema":"string"}}));
        assert_eq!(e, "C.o: \"mapValue\" is missing");
    }

    #[test]
    fn test_parse_array_of_objects() {
        let s =
            parsed(json!({"type":"array","elementSchema":{"type":"object","fields":[{"name":"a","schema":"string"}]}}));
        let field = Field { name: "a".into(), schema: Schema::Primitive(Primitive::String) };
        assert_eq!(s, Schema::Array(Box::new(Schema::Object(vec![field]))));
        let e = failed(json!({"type":"array","elementSchema":7}));
        assert_eq!(e, "C.o.elementSchema: a schema must be a type name or an object, found the number 7");
    }

    #[test]
    fn test_parse_depth_bound() {
        let mut deepest_ok = json!("string");
        for _ in 1..MAX_DEPTH {
            deepest_ok = json!({"type":"array","elementSchema":deepest_ok});
        }
        assert!(parse(&deepest_ok, "C.o", 1).is_ok());
        let too_deep = json!({"type":"array","elementSchema":deepest_ok});
        let e = parse(&too_deep, "C.o", 1).unwrap_err();
        assert!(matches!(e, MimError::TooDeep { .. }), "{e:?}");
        assert!(e.to_string().starts_with("C.o.elementSchema.elementSchema."), "{e}");
        assert!(e.to_string().ends_with(&format!(": schemas nest deeper than {MAX_DEPTH} levels")), "{e}");
    }
}
