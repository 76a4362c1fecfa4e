//! Checking a JSON value against a schema.

use serde_json::Value;

use crate::describe::{describe, quote, render};
use crate::schema::{EnumValues, Primitive, Schema};
use crate::violation::ViolationKind;
use crate::MAX_DEPTH;

/// Checks `value` against `schema`, `depth` levels deep (the payload of a MIM object is at depth 1).
///
/// `path` is the setting path so far; on a violation it is left naming the place of the fault, on success it is as
/// it was.
pub(crate) fn check(value: &Value, schema: &Schema, path: &mut String, depth: usize) -> Result<(), ViolationKind> {
    if depth > MAX_DEPTH {
        return Err(ViolationKind::TooDeep { limit: MAX_DEPTH });
    }
    match schema {
        Schema::Primitive(primitive) => check_primitive(value, primitive),
        Schema::Enum(values) => check_enum(value, values),
        Schema::Object(fields) => {
            let map = value.as_object().ok_or_else(|| wrong_type("an object", value))?;
            for (key, item) in map {
                let Some(field) = fields.iter().find(|f| f.name == *key) else {
                    let known = fields.iter().map(|f| f.name.clone()).collect();
                    return Err(ViolationKind::UnknownSetting { setting: key.clone(), known });
                };
                // A null setting counts as absent (modules such as CommandRunner treat it so, and twin patches
                // carry null); a null object value itself is still a wrong type.
                if item.is_null() {
                    continue;
                }
                let len = path.len();
                push_key(path, key);
                check(item, &field.schema, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        Schema::Map(value_schema) => {
            let map = value.as_object().ok_or_else(|| wrong_type("an object (map)", value))?;
            // null removes an entry (mim.object.schema.json: map values are "type": [<type>, "null"]).
            for (key, item) in map.iter().filter(|(_, item)| !item.is_null()) {
                let len = path.len();
                push_key(path, key);
                check(item, value_schema, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        Schema::Array(element) => {
            let items = value.as_array().ok_or_else(|| wrong_type("an array", value))?;
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check(item, element, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
    }
}

fn check_primitive(value: &Value, primitive: &Primitive) -> Result<(), ViolationKind> {
    let (ok, expected) = match primitive {
        Primitive::String => (value.is_string(), "a string"),
        Primitive::Integer => (is_integer(value), "an integer"),
        Primitive::Boolean => (value.is_boolean(), "a boolean"),
        Primitive::Number => (value.is_number(), "a number"),
        Primitive::Other(_) => (true, ""),
    };
    if ok {
        Ok(())
    } else {
        Err(wrong_type(expected, value))
    }
}

fn check_enum(value: &Value, values: &EnumValues) -> Result<(), ViolationKind> {
    let known = match values {
        EnumValues::Integer(values) => {
            if !is_integer(value) {
                return Err(wrong_type("an integer", value));
            }
            values.iter().any(|(_, v)| value.as_i64() == Some(*v))
        }
        EnumValues::String(values) => {
            let Some(s) = value.as_str() else { return Err(wrong_type("a string", value)) };
            values.iter().any(|(_, v)| v == s)
        }
    };
    if known {
        Ok(())
    } else {
        Err(ViolationKind::EnumValue { value: render(value), allowed: values.shown() })
    }
}

/// A JSON integer: a number written without fraction or exponent (serde_json keeps those as i64 or u64).
fn is_integer(value: &Value) -> bool {
    value.is_i64() || value.is_u64()
}

fn wrong_type(expected: &str, found: &Value) -> ViolationKind {
    ViolationKind::WrongType { expected: expected.to_string(), found: describe(found) }
}

/// Appends a setting name or map key to `path`: `.key`, or `["key"]` when the key is not a plain name.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&quote(key));
        path.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{self, Field};
    use serde_json::json;

    fn schema(value: Value) -> Schema {
        schema::parse(&value, "C.o", 1).unwrap()
    }

    /// The fault as (path, message), or None.
    fn fault(schema: &Schema, value: Value) -> Option<(String, String)> {
        let mut path = String::new();
        match check(&value, schema, &mut path, 1) {
            Ok(()) => {
                assert_eq!(path, "", "path restored on success");
                None
            }
            Err(kind) => Some((path, kind.to_string())),
        }
    }

    fn passes(schema: &Schema, value: Value) {
        assert_eq!(fault(schema, value.clone()), None, "{value}");
    }

    fn sample_object() -> Schema {
        schema(json!({"type":"object","fields":[
            {"name":"s","schema":"string"},
            {"name":"i","schema":"integer"},
            {"name":"b","schema":"boolean"},
            {"name":"e","schema":{"type":"enum","valueSchema":"integer","enumValues":[
                {"name":"none","enumValue":0},{"name":"one","enumValue":1}]}},
            {"name":"list","schema":{"type":"array","elementSchema":"integer"}},
            {"name":"m","schema":{"type":"map","mapKey":{"name":"k","schema":"string"},
                "mapValue":{"name":"v","schema":{"type":"object","fields":[{"name":"n","schema":"integer"}]}}}}]}))
    }

    #[test]
    fn test_check_string() {
        let s = schema(json!("string"));
        passes(&s, json!("box"));
        passes(&s, json!(""));
        let f = fault(&s, json!(42)).unwrap();
        assert_eq!(f, ("".into(), "expected a string, found the number 42".into()));
    }

    #[test]
    fn test_check_integer() {
        let s = schema(json!("integer"));
        passes(&s, json!(-3));
        passes(&s, json!(u64::MAX));
        assert_eq!(fault(&s, json!(1.5)).unwrap().1, "expected an integer, found the number 1.5");
        assert_eq!(fault(&s, json!(1.0)).unwrap().1, "expected an integer, found the number 1.0");
        assert_eq!(fault(&s, json!("1")).unwrap().1, "expected an integer, found the string \"1\"");
        assert_eq!(fault(&s, json!(true)).unwrap().1, "expected an integer, found the boolean true");
    }

    #[test]
    fn test_check_integer_exponent_is_not_integer() {
        let value: Value = serde_json::from_str("1e3").unwrap();
        assert!(fault(&schema(json!("integer")), value).is_some());
    }

    #[test]
    fn test_check_boolean() {
        let s = schema(json!("boolean"));
        passes(&s, json!(false));
        assert_eq!(fault(&s, json!(0)).unwrap().1, "expected a boolean, found the number 0");
        assert_eq!(fault(&s, json!("true")).unwrap().1, "expected a boolean, found the string \"true\"");
    }

    #[test]
    fn test_check_number() {
        let s = schema(json!("double"));
        passes(&s, json!(1.5));
        passes(&s, json!(7));
        assert_eq!(fault(&s, json!("1.5")).unwrap().1, "expected a number, found the string \"1.5\"");
    }

    #[test]
    fn test_check_unknown_primitive_accepts_anything() {
        let s = schema(json!("dateTime"));
        for value in [json!(null), json!(1), json!("x"), json!([1]), json!({"a": {}})] {
            passes(&s, value);
        }
    }

    #[test]
    fn test_check_null_is_wrong_type() {
        assert_eq!(fault(&schema(json!("string")), json!(null)).unwrap().1, "expected a string, found null");
        assert_eq!(fault(&sample_object(), json!({"s": null})), None, "a null setting counts as absent");
        assert_eq!(fault(&sample_object(), json!(null)).unwrap().1, "expected an object, found null");
    }

    #[test]
    fn test_check_integer_enum() {
        let s = schema(json!({"type":"enum","valueSchema":"integer","enumValues":[
            {"name":"none","enumValue":0},{"name":"reboot","enumValue":1}]}));
        passes(&s, json!(1));
        assert_eq!(fault(&s, json!(9)).unwrap().1, "9 is not one of the MIM's values 0 (none), 1 (reboot)");
        assert_eq!(fault(&s, json!(-1)).unwrap().1, "-1 is not one of the MIM's values 0 (none), 1 (reboot)");
        assert_eq!(fault(&s, json!("reboot")).unwrap().1, "expected an integer, found the string \"reboot\"");
        assert_eq!(fault(&s, json!(1.0)).unwrap().1, "expected an integer, found the number 1.0");
        assert!(fault(&s, json!(u64::MAX)).unwrap().1.starts_with("18446744073709551615 is not one of"));
    }

    #[test]
    fn test_check_string_enum() {
        let s = schema(json!({"type":"enum","valueSchema":"string","enumValues":[
            {"name":"auto","enumValue":"auto"},{"name":"mqtt","enumValue":"mqtt"}]}));
        passes(&s, json!("mqtt"));
        let f = fault(&s, json!("MQTT")).unwrap().1;
        assert_eq!(f, "\"MQTT\" is not one of the MIM's values \"auto\", \"mqtt\"");
        assert_eq!(fault(&s, json!(1)).unwrap().1, "expected a string, found the number 1");
    }

    #[test]
    fn test_check_enum_value_kind() {
        let s = schema(json!({"type":"enum","valueSchema":"integer","enumValues":[{"name":"a","enumValue":0}]}));
        let mut path = String::new();
        let kind = check(&json!(3), &s, &mut path, 1).unwrap_err();
        assert_eq!(kind, ViolationKind::EnumValue { value: "3".into(), allowed: vec!["0 (a)".into()] });
    }

    #[test]
    fn test_check_object_partial_and_full() {
        let s = sample_object();
        passes(&s, json!({}));
        passes(&s, json!({"e": 0}));
        passes(&s, json!({"s":"a","i":1,"b":true,"e":1,"list":[1,2],"m":{"x":{"n":1},"y":{}}}));
    }

    #[test]
    fn test_check_object_unknown_setting() {
        let s = sample_object();
        let mut path = String::new();
        let kind = check(&json!({"s":"a","foo":1}), &s, &mut path, 1).unwrap_err();
        let known = ["s", "i", "b", "e", "list", "m"].map(String::from).to_vec();
        assert_eq!(kind, ViolationKind::UnknownSetting { setting: "foo".into(), known });
        assert_eq!(path, "");
        assert_eq!(kind.to_string(), "unknown setting \"foo\" (settings: s, i, b, e, list, m)");
    }

    #[test]
    fn test_check_object_wrong_type() {
        let f = fault(&sample_object(), json!([{"s":"a"}])).unwrap();
        assert_eq!(f, ("".into(), "expected an object, found an array".into()));
    }

    #[test]
    fn test_check_nested_paths() {
        let s = sample_object();
        assert_eq!(fault(&s, json!({"e": 7})).unwrap().0, "e");
        let f = fault(&s, json!({"list":[1,2,3,"a"]})).unwrap();
        assert_eq!(f, ("list[3]".into(), "expected an integer, found the string \"a\"".into()));
        let f = fault(&s, json!({"m":{"x":{"n":1},"y":{"n":"2"}}})).unwrap();
        assert_eq!(f, ("m.y.n".into(), "expected an integer, found the string \"2\"".into()));
        let f = fault(&s, json!({"m":{"a b":{"z":1}}})).unwrap();
        assert_eq!(f, ("m[\"a b\"]".into(), "unknown setting \"z\" (settings: n)".into()));
    }

    #[test]
    fn test_check_array_of_objects_paths() {
        let s = schema(json!({"type":"array","elementSchema":{"type":"object","fields":[
            {"name":"action","schema":{"type":"enum","valueSchema":"string","enumValues":[
                {"name":"accept","enumValue":"accept"},{"name":"drop","enumValue":"drop"}]}}]}}));
        passes(&s, json!([]));
        passes(&s, json!([{"action":"drop"},{}]));
        let f = fault(&s, json!([{"action":"drop"},{"action":"reject"}])).unwrap();
        assert_eq!(f, ("[1].action".into(), "\"reject\" is not one of the MIM's values \"accept\", \"drop\"".into()));
        let f = fault(&s, json!({"action":"drop"})).unwrap();
        assert_eq!(f, ("".into(), "expected an array, found an object".into()));
    }

    #[test]
    fn test_check_map() {
        let s = schema(
            json!({"type":"map","mapKey":{"name":"id","schema":"string"},"mapValue":{"name":"v","schema":"string"}}),
        );
        passes(&s, json!({}));
        passes(&s, json!({"a":"x","b":"y"}));
        let f = fault(&s, json!({"a":"x","b":2})).unwrap();
        assert_eq!(f, ("b".into(), "expected a string, found the number 2".into()));
        assert_eq!(fault(&s, json!(["x"])).unwrap().1, "expected an object (map), found an array");
    }

    #[test]
    fn test_check_map_null_value_removes_entry() {
        let s = schema(
            json!({"type":"map","mapKey":{"name":"id","schema":"string"},"mapValue":{"name":"v","schema":"integer"}}),
        );
        passes(&s, json!({"a": null, "b": 1}));
    }

    /// `levels` object schemas nested through the field "a" around a string, and a payload that fills them.
    fn nested(levels: usize) -> (Schema, Value) {
        let mut schema = Schema::Primitive(Primitive::String);
        let mut value = json!("leaf");
        for _ in 0..levels {
            schema = Schema::Object(vec![Field { name: "a".into(), schema }]);
            value = json!({ "a": value });
        }
        (schema, value)
    }

    #[test]
    fn test_check_depth_bound() {
        // Parsing never builds a schema deeper than MAX_DEPTH; build them by hand to test the check's own bound.
        let (schema, value) = nested(MAX_DEPTH - 1);
        passes(&schema, value);
        let (schema, value) = nested(MAX_DEPTH);
        let (path, message) = fault(&schema, value).unwrap();
        assert_eq!(message, format!("nested deeper than {MAX_DEPTH} levels"));
        assert_eq!(path, vec!["a"; MAX_DEPTH].join("."));
    }

    #[test]
    fn test_push_key_plain_and_quoted() {
        let mut path = String::new();
        push_key(&mut path, "a");
        push_key(&mut path, "b-c_1");
        push_key(&mut path, "d.e");
        push_key(&mut path, "");
        assert_eq!(path, "a.b-c_1[\"d.e\"][\"\"]");
    }
}
